"""Daemons for the remote tests: our virtd, and the real libvirtd (session mode, as ``nobody``) to compare with."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

LIBVIRTD = "/usr/sbin/libvirtd"


@dataclass
class Daemon:
    """A running daemon: its read-write and read-only sockets and how to reach test:///default on it."""

    sock: Path
    sock_ro: Path | None
    proc: subprocess.Popen[bytes]
    pid: int

    def uri(self, readonly: bool = False) -> str:
        path = self.sock_ro if readonly and self.sock_ro else self.sock
        return f"test+unix:///default?socket={path}"


def _wait_for(path: Path, proc: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            log = path.parent / "virtd.log"
            raise RuntimeError(f"{what} did not start: {log.read_text() if log.exists() else proc.args}")
        time.sleep(0.05)


def _stop(pid: int, proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=5)


def start_virtd(directory: Path, *extra: str) -> Daemon:
    """virtd on sockets in ``directory``; its log goes to ``directory/virtd.log`` (a pipe nobody reads
    would block the daemon once full)."""
    sock, sock_ro = directory / "virtd-sock", directory / "virtd-sock-ro"
    with open(directory / "virtd.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "virt.core.remote.daemon", "--socket", str(sock), "--socket-ro", str(sock_ro),
             *extra],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    _wait_for(sock_ro, proc, "virtd")
    return Daemon(sock, sock_ro, proc, proc.pid)


@pytest.fixture(scope="module")
def virtd() -> Iterator[Daemon]:
    with tempfile.TemporaryDirectory(prefix="virtd-") as tmp:
        daemon = start_virtd(Path(tmp))
        yield daemon
        _stop(daemon.pid, daemon.proc)


@pytest.fixture(scope="module")
def libvirtd() -> Iterator[Daemon]:
    """libvirt's own daemon in session mode as ``nobody``, in a private directory (its test driver)."""
    if not os.path.exists(LIBVIRTD) or os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("needs root and libvirt-daemon")
    tmp = Path(tempfile.mkdtemp(prefix="libvirtd-"))
    try:
        home = tmp / "home"
        home.mkdir()
        conf = tmp / "libvirtd.conf"
        conf.write_text(f'unix_sock_dir = "{tmp}"\nauth_unix_rw = "none"\nauth_unix_ro = "none"\n'
                        'unix_sock_rw_perms = "0777"\nunix_sock_ro_perms = "0777"\n')  # fmt: skip
        shutil.chown(tmp, "nobody")
        shutil.chown(home, "nobody")
        tmp.chmod(0o755)
        env = {"HOME": str(home), "XDG_RUNTIME_DIR": str(home), "XDG_CONFIG_HOME": str(home),
               "XDG_CACHE_HOME": str(home), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}  # fmt: skip
        pidfile = tmp / "libvirtd.pid"
        proc = subprocess.Popen(
            ["runuser", "-u", "nobody", "--", "env", *(f"{k}={v}" for k, v in env.items()),
             LIBVIRTD, "-f", str(conf), "-p", str(pidfile)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        sock = tmp / "libvirt-sock"
        _wait_for(sock, proc, "libvirtd")
        _wait_for(pidfile, proc, "libvirtd")
        pid = int(pidfile.read_text().strip())
        yield Daemon(sock, None, proc, pid)
        _stop(pid, proc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def serve_in_thread(config: Any, sock: Path, mode: int | None = None) -> Iterator[Any]:
    """virtd's Server with ``config`` on unix socket ``sock``, run by an event loop in a thread of this
    process (its connections can be stand-ins); closed and joined on exit."""
    from virt.core.remote.server import Server

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    server = Server(config)

    async def main() -> None:
        await server.listen_unix(sock, mode=mode)
        ready.set()
        await server.serve_forever()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        assert ready.wait(10)
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        thread.join(10)
        loop.close()


@pytest.fixture(scope="session")
def in_process_virtd() -> Callable[..., contextlib.AbstractContextManager[Any]]:
    """``serve_in_thread`` for fixtures of any scope."""
    return serve_in_thread
