"""QEMU processes: spawning one for a guest (no shell), its monitor socket, its cgroup, stopping it by pid.

The monitor is a listening unix socket the driver creates and hands to QEMU as a file descriptor
(``-chardev socket,fd=N,server=on``), as libvirt does: the driver connects before QEMU even runs (the
connection waits in the socket's backlog), so no polling for a socket file, and a driver that
restarts later reconnects to the same socket, which QEMU keeps listening on.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import select
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from virt.util.errors import ErrorDomain, InternalError, SystemError_, VirtError
from virt.util.process import is_alive

QEMU = ErrorDomain.QEMU
#: The placeholder the command-line builder writes for a passed file descriptor.
FD_PLACEHOLDER = "1729"
#: Longest path a sockaddr_un holds (with its NUL).
_SUN_PATH_MAX = 107


# ----------------------------------------------------------------------------------------- sockets
def _short_path(path: Path) -> tuple[str, int | None]:
    """A path short enough for a unix socket address: itself, or its name below /proc/self/fd/DIRFD."""
    text = str(path)
    if len(text.encode()) <= _SUN_PATH_MAX:
        return text, None
    dirfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    return f"/proc/self/fd/{dirfd}/{path.name}", dirfd


def unix_listen(path: Path) -> socket.socket:
    """A listening unix socket at ``path`` (replacing a stale one), mode 0600."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    address, dirfd = _short_path(path)
    try:
        sock.bind(address)
        os.chmod(path, 0o600)
        sock.listen(1)
    except OSError as err:
        sock.close()
        raise SystemError_.from_errno(err, f"Failed to bind socket to '{path}'", domain=QEMU) from None
    finally:
        if dirfd is not None:
            os.close(dirfd)
    return sock


def unix_connect(path: Path | str, timeout: float | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    address, dirfd = _short_path(Path(path))
    try:
        sock.settimeout(timeout)
        sock.connect(address)
        sock.settimeout(None)
    except OSError as err:
        sock.close()
        raise SystemError_.from_errno(err, f"Failed to connect socket to '{path}'", domain=QEMU) from None
    finally:
        if dirfd is not None:
            os.close(dirfd)
    return sock


# ----------------------------------------------------------------------------------------- command line
def with_fds(argv: Sequence[str], fds: dict[str, list[int]]) -> list[str]:
    """The builder's argv with the placeholder fd numbers replaced by real ones.

    ``fds`` maps what an fd is for to the descriptors, in the order the builder writes them:
    "monitor" (the charmonitor chardev), and per network device alias its tap (``fd``/``fds``) and
    vhost (``vhostfd``/``vhostfds``) descriptors as "<alias>" and "<alias>.vhost".
    """
    out = list(argv)
    for i, arg in enumerate(out):
        if arg.startswith("socket,id=charmonitor,") and "monitor" in fds:
            out[i] = arg.replace(f"fd={FD_PLACEHOLDER}", f"fd={fds['monitor'][0]}", 1)
        elif i > 0 and out[i - 1] == "-netdev" and arg.startswith("{"):
            props = json.loads(arg)
            alias = str(props.get("id", ""))[4:]  # "host<alias>"
            for key, name in (("fd", alias), ("fds", alias), ("vhostfd", f"{alias}.vhost"),
                              ("vhostfds", f"{alias}.vhost")):
                if key in props and name in fds:
                    props[key] = ":".join(str(fd) for fd in fds[name])
                elif key.startswith("vhost") and key in props:
                    del props[key]  # no vhost-net on this host: QEMU does the work itself
                    props.pop("vhost", None)
            out[i] = json.dumps(props, separators=(",", ":"))
    return out


def timestamp() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%d %H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


def spawn(argv: list[str], env: dict[str, str], pass_fds: Sequence[int], log_path: Path,
          user: tuple[int, int] | None = None) -> tuple[subprocess.Popen[bytes], int]:
    """Start QEMU with its output going to the guest's log; returns the process and where its output
    starts in the log (to quote QEMU's own error if it fails to start)."""
    from virt.util.process import command_string

    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        header = f"{timestamp()}: starting up\n{command_string(argv, env)}\n"
        os.write(log_fd, header.encode())
        offset = os.lseek(log_fd, 0, os.SEEK_END)
        kw: dict[str, Any] = {}
        if user is not None and user != (os.geteuid(), os.getegid()):
            kw.update(user=user[0], group=user[1], extra_groups=[])
        try:
            proc = subprocess.Popen(argv, env=env, pass_fds=tuple(pass_fds), stdin=subprocess.DEVNULL,
                                    stdout=log_fd, stderr=log_fd, cwd="/", start_new_session=True, **kw)
        except OSError as err:
            raise SystemError_.from_errno(err, f"Cannot execute QEMU binary {argv[0]}", domain=QEMU) from None
    finally:
        os.close(log_fd)
    return proc, offset


def log_tail(log_path: Path, offset: int, limit: int = 4096) -> str:
    """What QEMU wrote to its log since ``offset`` (its error message when it failed to start)."""
    try:
        with open(log_path, "rb") as f:
            f.seek(offset)
            data = f.read(limit)
    except OSError:
        return ""
    return data.decode(errors="replace").strip()


def log_line(log_path: Path, text: str) -> None:
    try:
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        os.write(fd, f"{timestamp()}: {text}\n".encode())
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------------------- stopping
def wait_exit(pid: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
    """Wait up to ``timeout`` seconds for ``pid`` to exit (reaping it if it is our child).

    A pidfd says when the process ends without polling (Popen.wait with a timeout sleeps in steps).
    """
    if proc is not None and proc.poll() is not None:
        return True
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    except OSError:
        pidfd = -1
    try:
        if pidfd >= 0:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            if not poller.poll(max(0, int(timeout * 1000))):
                return False
        else:
            deadline = time.monotonic() + timeout
            while is_alive(pid):
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.005)
    finally:
        if pidfd >= 0:
            os.close(pidfd)
    if proc is not None:
        proc.wait()  # it has exited: this only reaps it
        return True
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return True


def signal_process(pid: int, sig: int) -> bool:
    """Send ``sig``; False when the process is already gone."""
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False
    except OSError as err:
        raise SystemError_.from_errno(err, f"Failed to kill process {pid}", domain=QEMU) from None


def kill(pid: int, *, graceful: bool, proc: subprocess.Popen[bytes] | None = None,
         term_timeout: float = 10.0, kill_timeout: float = 5.0) -> bool:
    """SIGTERM, then (unless ``graceful``) SIGKILL after ``term_timeout``: libvirt's qemuProcessKill.
    Returns whether the process is gone."""
    if not signal_process(pid, signal.SIGTERM):
        wait_exit(pid, 0, proc)
        return True
    if wait_exit(pid, term_timeout, proc):
        return True
    if graceful:
        return False
    if not signal_process(pid, signal.SIGKILL):
        wait_exit(pid, 0, proc)
        return True
    return wait_exit(pid, kill_timeout, proc)


def same_process(pid: int, start_time: int | None) -> bool:
    """Whether ``pid`` is still the process that started at ``start_time`` (not a later one with its pid)."""
    from virt.driver.qemu.state import process_start_time

    return pid > 0 and is_alive(pid) and (start_time is None or process_start_time(pid) == start_time)


def startup_error(log_path: Path, offset: int, what: str = "process exited while connecting to monitor") -> VirtError:
    detail = log_tail(log_path, offset)
    # QEMU prefixes its messages with a timestamp and the binary name; libvirt quotes them as they are.
    return InternalError(f"{what}: {detail}" if detail else what, domain=QEMU)


def remove_tree(path: Path) -> None:
    import shutil

    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError as err:
        if err.errno != errno.ENOENT:
            raise SystemError_.from_errno(err, f"Unable to remove '{path}'", domain=QEMU) from None
