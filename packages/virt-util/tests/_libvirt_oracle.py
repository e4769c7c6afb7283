"""Runs real libvirt (python3-libvirt under /usr/bin/python3, or virsh) so tests compare our behaviour with it."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tempfile
import textwrap
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
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import libvirt"], capture_output=True, timeout=60)
    return probe.returncode == 0


requires_libvirt = pytest.mark.skipif(
    not libvirt_python_available(), reason="python3-libvirt is not importable by /usr/bin/python3"
)
requires_virsh = pytest.mark.skipif(shutil.which("virsh") is None, reason="virsh (libvirt-clients) is not installed")


def libvirt_python(script: str, data: Any = None) -> Any:
    """Run ``script`` with the libvirt bindings; it sees ``data`` (JSON round-tripped) and sets ``result``."""
    code = _PRELUDE + textwrap.dedent(script) + "\nprint(json.dumps(result))\n"
    proc = subprocess.run(
        [SYSTEM_PYTHON, "-c", code], input=json.dumps(data), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def virsh_with_client_conf(conf_text: str, *args: str) -> subprocess.CompletedProcess[str]:
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
            capture_output=True, text=True, env=env, timeout=60,
        )
        proc.stderr = proc.stderr.replace(str(conf_dir / "libvirt.conf"), "libvirt.conf")
        return proc
