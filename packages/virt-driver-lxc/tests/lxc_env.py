"""Helpers of the container tests: a private driver root, an output directory the containers write to."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from virt.core.connection import Connection
from virt.core.plugin import get_plugin_manager
from virt.core.registry import build_registry
from virt.driver.lxc import plugin
from virt.util.process import is_alive

#: An existing empty directory of the host root where containers without a root filesystem see the
#: test's output directory (a missing mount point would be created on the host's root).
OUT_MOUNT = "/srv"


def wait_for(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class LxcEnv:
    """A driver root and an output directory, both reachable by a container's mapped root user."""

    def __init__(self) -> None:
        # Under /tmp with open permissions: a user-namespaced container's root is an unprivileged host user.
        self.base = Path(tempfile.mkdtemp(prefix="virt-lxc-test-", dir="/tmp"))
        os.chmod(self.base, 0o755)
        self.out = self.base / "out"
        self.out.mkdir()
        os.chmod(self.out, 0o777)
        self.root = self.base / "root"
        self.uri = f"lxc:///?root={self.root}"
        self.registry = build_registry(get_plugin_manager(False, (plugin,)))
        self.conns: list[Connection] = []
        self.names: set[str] = set()

    def connect(self) -> Connection:
        conn = Connection(self.uri, registry=self.registry)
        self.conns.append(conn)
        return conn

    def name(self, prefix: str = "ct") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.names.add(name)
        return name

    def read(self, name: str, timeout: float = 10.0) -> str:
        path = self.out / name
        return str(wait_for(lambda: path.exists() and path.read_text().endswith("\n") and path.read_text(),
                            timeout, f"{path}"))

    def xml(self, name: str, script: str, *, devices: str = "", extra: str = "", memory_mib: int = 256,
            out: bool = True) -> str:
        """A container on the host root whose init is ``/bin/sh -c script``; the output directory at /srv."""
        fs = (f"<filesystem type='mount'><source dir='{self.out}'/><target dir='{OUT_MOUNT}'/></filesystem>"
              if out else "")
        script = script.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return (f"<domain type='lxc'><name>{name}</name><memory unit='MiB'>{memory_mib}</memory>{extra}"
                f"<os><type>exe</type><init>/bin/sh</init><initarg>-c</initarg><initarg>{script}</initarg></os>"
                f"<devices>{fs}{devices}<console type='pty'/></devices></domain>")

    def cleanup(self) -> None:
        for conn in self.conns:
            try:
                for dom in conn.list_all_domains(1):
                    dom.destroy()
            except Exception:
                pass
            conn.close()
        # Controllers started elsewhere (another process, a forked scenario) are stopped by their pid.
        for pidfile in (self.root / "run" / "lxc").glob("*.pid"):
            try:
                pid = int(pidfile.read_text())
                os.kill(pid, signal.SIGTERM)
            except (OSError, ValueError):
                continue
            wait_for(lambda pid=pid: not is_alive(pid), 30, f"controller {pid}")
        shutil.rmtree(self.base, ignore_errors=True)
