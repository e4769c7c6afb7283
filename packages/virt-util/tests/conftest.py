"""Fixtures that run real libvirt (python3-libvirt under /usr/bin/python3, or virsh) so tests compare our behaviour with it.

Each fixture skips its test (a real skip) when that part of libvirt is not installed here.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SYSTEM_PYTHON = "/usr/bin/python3"

_PRELUDE = """
import json, sys
import libvirt
libvirt.registerErrorHandler(lambda ctx, err: None, None)
data = json.load(sys.stdin)
def error_of(call, *args):
    try:
        call(*args)
    except libvirt.libvirtError as err:
        return [err.get_error_code(), err.get_error_domain(), err.get_error_message()]
    return None
"""


@functools.cache
def libvirt_python_available() -> bool:
    """Whether the system Python can import the libvirt bindings."""
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return False
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import libvirt"], capture_output=True, timeout=60, check=False)
    return probe.returncode == 0


def _run_libvirt_python(script: str, data: Any = None) -> Any:
    """Run ``script`` with the libvirt bindings; it sees ``data`` (JSON round-tripped) and sets ``result``."""
    code = _PRELUDE + textwrap.dedent(script) + "\nprint(json.dumps(result))\n"
    proc = subprocess.run(
        [SYSTEM_PYTHON, "-c", code], input=json.dumps(data), capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _run_virsh_with_client_conf(conf_text: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run virsh as user 'nobody' whose client config (libvirt.conf) is ``conf_text``.

    virsh reads that file with libvirt's own config parser on every connection, so its errors are
    libvirt's reference behaviour for the config syntax.
    """
    with tempfile.TemporaryDirectory() as home:
        os.chmod(home, 0o755)
        conf_dir = Path(home, "libvirt")
        conf_dir.mkdir()
        (conf_dir / "libvirt.conf").write_text(conf_text)
        for path in (conf_dir, conf_dir / "libvirt.conf"):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        env = {"HOME": home, "XDG_CONFIG_HOME": home, "XDG_CACHE_HOME": home, "XDG_RUNTIME_DIR": home,
               "PATH": os.defpath, "LC_ALL": "C"}
        proc = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "virsh", *args],
            capture_output=True, text=True, env=env, timeout=60, check=False,
        )
        proc.stderr = proc.stderr.replace(str(conf_dir / "libvirt.conf"), "libvirt.conf")
        return proc


LibvirtPython = Callable[..., Any]
VirshWithClientConf = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def libvirt_python() -> LibvirtPython:
    """``libvirt_python(script, data)``: run ``script`` with the libvirt bindings, return its ``result``."""
    if not libvirt_python_available():
        pytest.skip("python3-libvirt is not importable by /usr/bin/python3")
    return _run_libvirt_python


@pytest.fixture
def virsh() -> str:
    """The path of the real virsh."""
    path = shutil.which("virsh")
    if path is None:
        pytest.skip("virsh (libvirt-clients) is not installed")
    return path


@pytest.fixture
def virsh_with_client_conf(virsh: str) -> VirshWithClientConf:
    """``virsh_with_client_conf(conf_text, *args)``: virsh run as 'nobody' with that libvirt.conf."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("switching to user 'nobody' needs root and setpriv")
    return _run_virsh_with_client_conf
