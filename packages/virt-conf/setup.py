"""Build virt-conf's two optional C accelerators of the XML engine (CPython extensions).

``virt.conf._cparse`` reads libvirt documents straight from the libxml2 tree under lxml's elements
(with lxml's bundled headers and its public C-API capsule); ``virt.conf._cwrite`` runs the writers'
plans. Both are optional: when a compiler or the headers are missing the build goes on without them,
and VIRT_NO_NATIVE=1 skips them. The engine's generated Python functions are their pure-Python twin
and do the same, step for step (virt.conf.xmlmodel).
"""
import os

from setuptools import Extension, setup


def _extensions() -> list[Extension]:
    if os.environ.get("VIRT_NO_NATIVE") == "1":
        return []
    try:
        import lxml
    except ImportError:
        return []
    flags = ["-O2", "-Wall", "-Wno-unused-function"]
    return [
        Extension("virt.conf._cparse", ["csrc/cparse.c"], include_dirs=[*lxml.get_include(), "/usr/include/libxml2"],
                  extra_compile_args=flags, optional=True),
        Extension("virt.conf._cwrite", ["csrc/cwrite.c"], extra_compile_args=flags, optional=True),
    ]


setup(ext_modules=_extensions())
