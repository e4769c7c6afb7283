"""virDomainOpenGraphicsFD against real QEMU: in process, and from libvirt-python through virtd (the
descriptor comes back with the reply, REPLY_WITH_FDS)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from virt.core.connection import Connection
from virt.core.remote.server import Server, ServerConfig
from virt.util.errors import VirtError

QEMU = "/usr/bin/qemu-system-x86_64"
pytestmark = pytest.mark.skipif(not os.access(QEMU, os.X_OK), reason="qemu-system-x86_64 is not installed")

VNC = "<graphics type='vnc' autoport='yes'/><video><model type='vga'/></video>"


def domain_xml(name: str) -> str:
    return (f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
            "<os><type arch='x86_64' machine='pc'>hvm</type></os>"
            f"<devices><emulator>{QEMU}</emulator>{VNC}</devices></domain>")  # fmt: skip


class Env:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.conn = Connection(f"qemu:///embed?root={root}")


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    """A private ``qemu:///embed`` root; whatever QEMU a test leaves is destroyed, then killed by pid."""
    from virt.driver.qemu.host import shutdown_hosts

    e = Env(tmp_path / "root")
    try:
        yield e
    finally:
        with contextlib.suppress(VirtError):
            for dom in e.conn.list_all_domains(1):
                dom.destroy()
        e.conn.close()
        shutdown_hosts(e.root)
        left = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _mentions(p, e.root)]
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while any(Path(f"/proc/{pid}").exists() for pid in left) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert not left, f"QEMU processes left running: {left}"


def _mentions(proc: Path, root: Path) -> bool:
    try:
        cmdline = (proc / "cmdline").read_bytes()
    except OSError:
        return False
    return b"qemu-system" in cmdline and str(root).encode() in cmdline


def test_open_graphics_fd(env: Env) -> None:
    dom = env.conn.create_domain(domain_xml("gfx"), 1)
    fd = dom.open_graphics_fd(0)
    try:
        assert os.read(fd, 12).startswith(b"RFB 003.")  # the VNC server greets a client on the socket
    finally:
        os.close(fd)
    with pytest.raises(VirtError, match="No graphics backend with index 1"):
        env.conn.call("domain_open_graphics_fd", dom.ref, 1, 0)
    with pytest.raises(VirtError, match=r"unsupported flags \(0x2\)"):
        env.conn.call("domain_open_graphics_fd", dom.ref, 0, 2)
    dom.destroy()


LIBVIRT_GRAPHICS = """
import os, sys, libvirt
conn = libvirt.open(sys.argv[1])
fd = conn.lookupByName("gfx2").openGraphicsFD(0, libvirt.VIR_DOMAIN_OPEN_GRAPHICS_SKIPAUTH)
print(os.read(fd, 12).decode().strip())
"""


def test_open_graphics_fd_from_libvirt_python_through_virtd(env: Env, tmp_path: Path) -> None:
    dom = env.conn.create_domain(domain_xml("gfx2"), 1)
    sock = tmp_path / "virtd-sock"
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Server] = {}

    async def main() -> None:
        holder["server"] = Server(ServerConfig(open_connection=lambda uri, ro: _Shared(env)))
        await holder["server"].listen_unix(sock, mode=0o777)
        ready.set()
        await holder["server"].serve_forever()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        assert ready.wait(10)
        out = subprocess.run(["/usr/bin/python3", "-c", LIBVIRT_GRAPHICS, f"qemu+unix:///system?socket={sock}"],
                             capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        if "No module named 'libvirt'" in out.stderr:
            pytest.skip("python3-libvirt is not installed")
        assert (out.returncode, out.stdout) == (0, "RFB 003.008\n"), out.stderr
    finally:
        asyncio.run_coroutine_threadsafe(holder["server"].close(), loop).result(10)
        thread.join(10)
        loop.close()
    dom.destroy()


class _Shared:
    """The test's connection as virtd's: closing a client leaves it open for the test."""

    def __init__(self, env: Env) -> None:
        self._conn = env.conn
        self._drivers = env.conn._drivers
        self.events = env.conn.events
        self.driver_name = "qemu"

    def call(self, name: str, *args: object) -> object:
        return self._conn.call(name, *args)

    def close(self) -> None:
        pass
