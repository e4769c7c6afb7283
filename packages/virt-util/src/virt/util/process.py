"""Child processes and pid files the way libvirt runs and tracks them (virCommand, virPidFile, virProcess)."""

from __future__ import annotations

import errno
import fcntl
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from virt.util.errors import InternalError, OperationTimeoutError, SystemError_
from virt.util.fileutil import StrPath, atomic_write

#: Directories searched after $PATH: daemons' helpers (dnsmasq, ip, iptables) live in sbin.
EXTRA_BIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/libexec", "/usr/lib/qemu")


@dataclass(frozen=True)
class CommandResult:
    """What a finished command left: its exit status and captured output."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def command_string(argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """The command line as libvirt prints it in errors and logs: added variables, then quoted arguments."""
    assignments = [f"{key}={shlex.quote(value)}" for key, value in (env or {}).items()]
    return " ".join([*assignments, shlex.join(argv)])


def translate_status(returncode: int) -> str:
    """libvirt's words for a wait status: "exit status 1", "fatal signal 9"."""
    if returncode < 0:
        return f"fatal signal {-returncode}"
    return f"exit status {returncode}"


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    input: str | bytes | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    cwd: StrPath | None = None,
) -> CommandResult:
    """Run ``argv`` (never through a shell), wait at most ``timeout`` seconds, and capture its output.

    ``env`` adds or overrides variables on top of this process's environment. With ``check``, a
    non-zero exit raises InternalError "Child process (<cmd>) unexpected exit status N: <stderr>"
    as libvirt reports it; a command still running after ``timeout`` is killed and raises
    OperationTimeoutError. A missing or non-executable binary raises SystemError_.
    """
    args = [os.fspath(a) for a in argv]
    if not args:
        raise InternalError("cannot run an empty command")
    cmd = command_string(args, env)
    child_env = {**os.environ, **env} if env is not None else None
    data = input.encode() if isinstance(input, str) else input
    try:
        proc = subprocess.run(
            args,
            input=data,
            stdin=subprocess.DEVNULL if data is None else None,
            capture_output=True,
            env=child_env,
            cwd=cwd,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as err:
        if cwd is not None and not os.path.isdir(cwd):
            raise SystemError_.from_errno(err, f"Unable to change to {cwd}") from None
        raise SystemError_.from_errno(errno.ENOENT, f"Cannot find '{args[0]}' in path") from None
    except subprocess.TimeoutExpired as err:
        stderr = _decode(err.stderr).strip()
        raise OperationTimeoutError(
            f"Child process ({cmd}) did not finish within {timeout:g} seconds" + (f": {stderr}" if stderr else "")
        ) from None
    except OSError as err:
        raise SystemError_.from_errno(err, f"cannot execute binary {args[0]}") from None
    result = CommandResult(tuple(args), proc.returncode, _decode(proc.stdout), _decode(proc.stderr))
    if check and result.returncode != 0:
        stderr = result.stderr.strip()
        raise InternalError(
            f"Child process ({cmd}) unexpected {translate_status(result.returncode)}" + (f": {stderr}" if stderr else "")
        )
    return result


def _decode(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", errors="replace")


def find_binary(name: str, package_hint: str | None = None) -> str:
    """The absolute path of executable ``name`` from $PATH (then the sbin directories).

    If missing, SystemError_ "Cannot find '<name>' in path: No such file or directory", followed by
    "; install the Debian package '<package_hint>'" when a hint is given.
    """
    if os.sep in name:
        if os.access(name, os.X_OK) and os.path.isfile(name):
            return os.path.abspath(name)
    else:
        search = os.pathsep.join([os.environ.get("PATH", os.defpath), *EXTRA_BIN_DIRS])
        found = shutil.which(name, path=search)
        if found:
            return os.path.abspath(found)
    detail = f"Cannot find '{name}' in path: {os.strerror(errno.ENOENT)}"
    if package_hint:
        detail += f"; install the Debian package '{package_hint}'"
    raise SystemError_(detail, int1=errno.ENOENT)


# -------------------------------------------------------------------------------------- processes


def is_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (a dead child nobody has reaped yet)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # The state follows the parenthesised command name, which may itself contain ')'.
    return stat[stat.rfind(")") + 2 : stat.rfind(")") + 3] not in ("Z", "X")


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child: its parent reaps it


def _wait_gone(pid: int, deadline: float) -> bool:
    while True:
        if not is_alive(pid):
            _reap(pid)  # a dead child of ours lingers as a zombie until reaped
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def kill_and_wait(pid: int, timeout: float = 10.0, kill_timeout: float = 5.0) -> bool:
    """SIGTERM ``pid``, wait up to ``timeout`` s, then SIGKILL and wait up to ``kill_timeout`` s.

    Returns whether the process is gone (reaping it if it is our child), as virProcessKillPainfully.
    Signalling a process we may not signal raises SystemError_.
    """
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, kill_timeout)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            _reap(pid)
            return True
        except PermissionError as err:
            raise SystemError_.from_errno(err, f"Failed to terminate process {pid} with SIG{sig.name[3:]}") from None
        if _wait_gone(pid, time.monotonic() + wait):
            return True
    return False


# -------------------------------------------------------------------------------------- pid files


def write_pidfile(path: StrPath, pid: int) -> None:
    """Write ``pid`` to ``path`` atomically (decimal, no newline, mode 0644 as libvirt)."""
    atomic_write(path, str(pid), mode=0o644)


def read_pidfile(path: StrPath) -> int | None:
    """The pid stored in ``path``; None when the file does not exist.

    Content that is not a positive decimal number raises InternalError naming the file.
    """
    try:
        text = Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return None
    except OSError as err:
        raise SystemError_.from_errno(err, f"Failed to read pid file '{path}'") from None
    value = text.strip()
    if not value.isascii() or not value.isdigit() or int(value) <= 0:
        raise InternalError(f"Invalid pid '{value}' in pid file '{path}'")
    return int(value)


def read_pidfile_if_alive(path: StrPath) -> int | None:
    """The pid in ``path`` if that process is alive; None if the file is missing, unreadable or stale."""
    try:
        pid = read_pidfile(path)
    except (InternalError, SystemError_):
        return None
    return pid if pid is not None and is_alive(pid) else None


# Locks held by this process, by (device, inode): POSIX locks never conflict within one process, and
# closing any descriptor of the file drops them, so a second acquire here must be refused by hand.
_held: set[tuple[int, int]] = set()
_held_lock = threading.Lock()


class PidFile:
    """An acquired pid file: locked (first byte, fcntl, as libvirt) and holding our pid until released."""

    def __init__(self, path: Path, fd: int, key: tuple[int, int]) -> None:
        self.path = path
        self._fd: int | None = fd
        self._key = key

    def release(self) -> None:
        """Remove the file and drop the lock (unlink first, so no one locks the dying file)."""
        if self._fd is None:
            return
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        os.close(self._fd)
        self._fd = None
        with _held_lock:
            _held.discard(self._key)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def acquire_pidfile(path: StrPath, pid: int | None = None) -> PidFile:
    """Lock ``path`` and write ``pid`` (ours by default) into it, as a daemon claims its pid file.

    Refuses with SystemError_ "Failed to acquire pid file '<path>': Resource temporarily unavailable"
    (plus the holder's pid when known) while another live process holds the lock. A stale file left by
    a dead process is taken over.
    """
    target = Path(path)
    pid = os.getpid() if pid is None else pid
    while True:
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as err:
            raise SystemError_.from_errno(err, f"Failed to open pid file '{target}'") from None
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino)
        with _held_lock:
            busy = key in _held
            if not busy:
                try:
                    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 0)
                except OSError as err:
                    busy = err.errno in (errno.EAGAIN, errno.EACCES)
                    if not busy:
                        os.close(fd)
                        raise SystemError_.from_errno(err, f"Failed to acquire pid file '{target}'") from None
                else:
                    _held.add(key)
        if busy:
            os.close(fd)
            holder = read_pidfile_if_alive(target)
            refusal = SystemError_.from_errno(errno.EAGAIN, f"Failed to acquire pid file '{target}'")
            if holder is not None:
                refusal = SystemError_(f"{refusal.detail} (held by process {holder})", **refusal.extra)
            raise refusal
        # Someone may have released (unlinked) the file between our open and our lock: retry on the new one.
        try:
            same = os.stat(target)
            if (same.st_dev, same.st_ino) != key:
                raise FileNotFoundError
        except FileNotFoundError:
            with _held_lock:
                _held.discard(key)
            os.close(fd)
            continue
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(pid).encode())
            os.fsync(fd)
        except OSError as err:
            with _held_lock:
                _held.discard(key)
            os.close(fd)
            raise SystemError_.from_errno(err, f"Failed to write pid file '{target}'") from None
        return PidFile(target, fd, key)
