"""Build the cffi extension modules (API mode); every src/_cffi_src/build_*.py script defines one.

VIRT_NO_NATIVE=1 skips them: every native module has a pure-Python twin that is used instead.
"""
import os
from pathlib import Path

from setuptools import setup

here = Path(__file__).parent
scripts = sorted(p.relative_to(here).as_posix() for p in (here / "src" / "_cffi_src").glob("build_*.py"))
native = [f"{s}:ffi" for s in scripts] if os.environ.get("VIRT_NO_NATIVE") != "1" else []
setup(cffi_modules=native)
