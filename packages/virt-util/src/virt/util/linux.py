"""Linux namespaces, mounts, hostname and capabilities for containers: native (cffi) with a ctypes twin.

The calls are the ones a container's setup needs: :func:`unshare`, :func:`setns`, :func:`clone_fork`
(fork straight into new namespaces, the child being pid 1 of a new pid namespace), :func:`mount`,
:func:`umount2`, :func:`pivot_root`, :func:`sethostname` and the capability sets (:func:`drop_capabilities`).

Two implementations with the same behaviour sit behind them: the C module ``virt.util._linux`` built by
cffi, and a pure-Python twin calling the C library through ctypes. Both return ``-errno`` on failure and
the functions here turn that into the same :class:`~virt.util.errors.SystemError_`, so messages do not
depend on which one ran. The native one is used when it is built, unless ``VIRT_NO_NATIVE=1``.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import platform
from collections.abc import Iterable
from types import ModuleType
from typing import NamedTuple, Protocol

from virt.util.errors import SystemError_

__all__ = [
    "CAPABILITIES",
    "CLONE_NEWCGROUP",
    "CLONE_NEWIPC",
    "CLONE_NEWNET",
    "CLONE_NEWNS",
    "CLONE_NEWPID",
    "CLONE_NEWUSER",
    "CLONE_NEWUTS",
    "NAMESPACES",
    "NATIVE",
    "CapSets",
    "backend",
    "cap_bound_drop",
    "cap_bound_read",
    "capability_number",
    "capget",
    "capset",
    "clone_fork",
    "drop_capabilities",
    "mount",
    "pivot_root",
    "set_pdeathsig",
    "sethostname",
    "setns",
    "umount2",
    "unshare",
]

# -------------------------------------------------------------------------------------------- constants
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

#: Namespace names as /proc/PID/ns/ spells them, with their clone flags.
NAMESPACES: dict[str, int] = {
    "mnt": CLONE_NEWNS, "cgroup": CLONE_NEWCGROUP, "uts": CLONE_NEWUTS, "ipc": CLONE_NEWIPC,
    "user": CLONE_NEWUSER, "pid": CLONE_NEWPID, "net": CLONE_NEWNET,
}

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24

MNT_FORCE = 1
MNT_DETACH = 2
MNT_EXPIRE = 4
UMOUNT_NOFOLLOW = 8

#: Capability names in libvirt's vocabulary (<features><capabilities>), indexed by their Linux number.
CAPABILITIES: tuple[str, ...] = (
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
    "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
    "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
    "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write", "audit_control", "setfcap",
    "mac_override", "mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf",
    "checkpoint_restore",
)  # fmt: skip

_PR_CAPBSET_READ = 23
_PR_CAPBSET_DROP = 24
_PR_SET_PDEATHSIG = 1
_CAP_VERSION_3 = 0x20080522

# Syscalls glibc has no wrapper for (or that must bypass its wrapper), by machine.
_SYSCALLS: dict[str, dict[str, int]] = {
    "x86_64": {"clone": 56, "pivot_root": 155, "capget": 125, "capset": 126},
    "aarch64": {"clone": 220, "pivot_root": 41, "capget": 90, "capset": 91},
    "ppc64le": {"clone": 120, "pivot_root": 203, "capget": 183, "capset": 184},
    "s390x": {"clone": 120, "pivot_root": 217, "capget": 184, "capset": 185},
    "riscv64": {"clone": 220, "pivot_root": 41, "capget": 90, "capset": 91},
}


class CapSets(NamedTuple):
    """A process's capability sets as bit masks (bit N is capability number N)."""

    effective: int
    permitted: int
    inheritable: int


# -------------------------------------------------------------------------------------------- backends
class Backend(Protocol):
    """What an implementation provides: raw calls returning a result >= 0 or -errno."""

    name: str

    def unshare(self, flags: int) -> int: ...
    def setns(self, fd: int, nstype: int) -> int: ...
    def clone_fork(self, flags: int) -> int: ...
    def mount(self, source: bytes | None, target: bytes, fstype: bytes | None, flags: int, data: bytes | None) -> int: ...
    def umount2(self, target: bytes, flags: int) -> int: ...
    def pivot_root(self, new_root: bytes, put_old: bytes) -> int: ...
    def sethostname(self, name: bytes) -> int: ...
    def cap_bound_read(self, cap: int) -> int: ...
    def cap_bound_drop(self, cap: int) -> int: ...
    def capget(self) -> tuple[int, tuple[int, ...]]: ...
    def capset(self, words: tuple[int, ...]) -> int: ...
    def set_pdeathsig(self, sig: int) -> int: ...


class _Native:
    """The cffi module ``virt.util._linux``."""

    name = "native"

    def __init__(self, module: ModuleType) -> None:
        self.ffi, self.lib = module.ffi, module.lib

    def _str(self, value: bytes | None) -> object:
        return self.ffi.NULL if value is None else value

    def unshare(self, flags: int) -> int:
        return int(self.lib.virt_linux_unshare(flags))

    def setns(self, fd: int, nstype: int) -> int:
        return int(self.lib.virt_linux_setns(fd, nstype))

    def clone_fork(self, flags: int) -> int:
        return int(self.lib.virt_linux_clone_fork(flags))

    def mount(self, source: bytes | None, target: bytes, fstype: bytes | None, flags: int, data: bytes | None) -> int:
        return int(self.lib.virt_linux_mount(self._str(source), target, self._str(fstype), flags, self._str(data)))

    def umount2(self, target: bytes, flags: int) -> int:
        return int(self.lib.virt_linux_umount2(target, flags))

    def pivot_root(self, new_root: bytes, put_old: bytes) -> int:
        return int(self.lib.virt_linux_pivot_root(new_root, put_old))

    def sethostname(self, name: bytes) -> int:
        return int(self.lib.virt_linux_sethostname(name, len(name)))

    def cap_bound_read(self, cap: int) -> int:
        return int(self.lib.virt_linux_cap_bound_read(cap))

    def cap_bound_drop(self, cap: int) -> int:
        return int(self.lib.virt_linux_cap_bound_drop(cap))

    def capget(self) -> tuple[int, tuple[int, ...]]:
        out = self.ffi.new("uint32_t[6]")
        rc = int(self.lib.virt_linux_capget(out))
        return rc, tuple(int(v) for v in out)

    def capset(self, words: tuple[int, ...]) -> int:
        return int(self.lib.virt_linux_capset(self.ffi.new("uint32_t[6]", list(words))))

    def set_pdeathsig(self, sig: int) -> int:
        return int(self.lib.virt_linux_set_pdeathsig(sig))


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


class _Python:
    """The pure-Python twin: the C library through ctypes, syscalls by number where glibc has no wrapper."""

    name = "python"

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        # PyDLL keeps the GIL across the call: clone must not let another thread take it mid-fork.
        self.libc_gil = ctypes.PyDLL(None, use_errno=True)
        self.nr = _SYSCALLS.get(platform.machine(), {})
        for fn in (self.libc.syscall, self.libc_gil.syscall):
            fn.restype = ctypes.c_long
        self.libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
        self.libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        self.libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        self.libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        self.libc.unshare.argtypes = [ctypes.c_int]
        self.libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]

    @staticmethod
    def _result(rc: int) -> int:
        return -ctypes.get_errno() if rc < 0 else rc

    def _syscall(self, name: str, *args: object) -> int:
        number = self.nr.get(name)
        if number is None:
            return -_errno.ENOSYS
        return self._result(self.libc.syscall(ctypes.c_long(number), *args))

    def unshare(self, flags: int) -> int:
        return self._result(self.libc.unshare(flags))

    def setns(self, fd: int, nstype: int) -> int:
        return self._result(self.libc.setns(fd, nstype))

    def clone_fork(self, flags: int) -> int:
        number = self.nr.get("clone")
        if number is None:
            return -_errno.ENOSYS
        api = ctypes.pythonapi
        api.PyOS_BeforeFork()
        zero = ctypes.c_long(0)
        pid = int(self.libc_gil.syscall(ctypes.c_long(number), ctypes.c_ulong(flags | 17), zero, zero, zero, zero))
        saved = ctypes.get_errno()
        if pid == 0:
            api.PyOS_AfterFork_Child()
        else:
            api.PyOS_AfterFork_Parent()
        return -saved if pid < 0 else pid

    def mount(self, source: bytes | None, target: bytes, fstype: bytes | None, flags: int, data: bytes | None) -> int:
        return self._result(self.libc.mount(source, target, fstype, flags, data))

    def umount2(self, target: bytes, flags: int) -> int:
        return self._result(self.libc.umount2(target, flags))

    def pivot_root(self, new_root: bytes, put_old: bytes) -> int:
        return self._syscall("pivot_root", ctypes.c_char_p(new_root), ctypes.c_char_p(put_old))

    def sethostname(self, name: bytes) -> int:
        return self._result(self.libc.sethostname(name, len(name)))

    def cap_bound_read(self, cap: int) -> int:
        return self._result(self.libc.prctl(_PR_CAPBSET_READ, cap & 0xFFFFFFFFFFFFFFFF, 0, 0, 0))

    def cap_bound_drop(self, cap: int) -> int:
        return self._result(self.libc.prctl(_PR_CAPBSET_DROP, cap & 0xFFFFFFFFFFFFFFFF, 0, 0, 0))

    def capget(self) -> tuple[int, tuple[int, ...]]:
        header = _CapHeader(_CAP_VERSION_3, 0)
        data = (_CapData * 2)()
        rc = self._syscall("capget", ctypes.byref(header), data)
        if rc < 0:
            return rc, (0,) * 6
        return 0, (data[0].effective, data[1].effective, data[0].permitted, data[1].permitted,
                   data[0].inheritable, data[1].inheritable)

    def capset(self, words: tuple[int, ...]) -> int:
        header = _CapHeader(_CAP_VERSION_3, 0)
        data = (_CapData * 2)()
        for i in range(2):
            data[i].effective, data[i].permitted, data[i].inheritable = words[i], words[2 + i], words[4 + i]
        return self._syscall("capset", ctypes.byref(header), data)

    def set_pdeathsig(self, sig: int) -> int:
        return self._result(self.libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0))


def _load_native() -> Backend | None:
    try:
        from virt.util import _linux  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _Native(_linux)


_native: Backend | None = _load_native()
_python: Backend = _Python()
_impl: Backend = _native if _native is not None and os.environ.get("VIRT_NO_NATIVE") != "1" else _python
#: True when the C module is in use.
NATIVE = _impl is _native


def backend(name: str | None = None) -> Backend:
    """The implementation in use, or the one named "native" or "python" (tests compare them).

    Asking for "native" when it is not built raises SystemError_ (ENOSYS).
    """
    if name is None:
        return _impl
    if name == "python":
        return _python
    if name == "native" and _native is not None:
        return _native
    raise SystemError_.from_errno(_errno.ENOSYS, f"no '{name}' implementation of virt.util.linux")


# -------------------------------------------------------------------------------------------- the calls
def _check(rc: int, detail: str) -> int:
    if rc < 0:
        raise SystemError_.from_errno(-rc, detail)
    return rc


def _path(value: str | bytes | os.PathLike[str] | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def _c_int(value: int, what: str) -> int:
    """``value`` as a C int: bit masks up to 2**32-1 wrap to negative as C would; more is refused."""
    if not -(1 << 31) <= value < (1 << 32):
        raise SystemError_.from_errno(_errno.EINVAL, f"{what} {value:#x} does not fit a C int")
    return value - (1 << 32) if value >= 1 << 31 else value


def _flag_names(flags: int) -> str:
    names = [name for name, bit in NAMESPACES.items() if flags & bit]
    rest = flags & ~sum(NAMESPACES.values())
    return ",".join(names + ([f"{rest:#x}"] if rest else [])) or "none"


def unshare(flags: int, impl: Backend | None = None) -> None:
    """Move this process into new namespaces (``CLONE_NEW*`` flags); NEWPID affects later children only."""
    _check((impl or _impl).unshare(_c_int(flags, "flags")), f"Unable to unshare namespaces ({_flag_names(flags)})")


def setns(fd: int, nstype: int = 0, impl: Backend | None = None) -> None:
    """Join the namespace open on ``fd`` (/proc/PID/ns/NAME); ``nstype`` 0 accepts any kind."""
    _check((impl or _impl).setns(_c_int(fd, "fd"), _c_int(nstype, "nstype")), f"Unable to join namespace ({_flag_names(nstype)})")


def clone_fork(flags: int, impl: Backend | None = None) -> int:
    """Fork into new namespaces: returns the child's pid in the parent and 0 in the child.

    With CLONE_NEWPID the child is pid 1 of its namespace; with CLONE_NEWUSER the other namespaces are
    owned by the new user namespace. Python's fork hooks run as for :func:`os.fork`; glibc's at-fork
    handlers do not, so call it from a single-threaded process (the LXC controller does).
    """
    return _check((impl or _impl).clone_fork(flags), f"Failed to run clone container ({_flag_names(flags)})")


def mount(source: str | None, target: str, fstype: str | None = None, flags: int = 0, data: str | None = None,
          impl: Backend | None = None) -> None:
    """mount(2); errors name the source, target, type, flags and options as libvirt reports them."""
    _check((impl or _impl).mount(_path(source), os.fsencode(target), _path(fstype), flags, _path(data)),
           f"Failed to mount {source} on {target} type {fstype} flags={flags:#x} opts={data}")


def umount2(target: str, flags: int = 0, impl: Backend | None = None) -> None:
    """umount2(2) (``MNT_DETACH`` for a lazy unmount)."""
    _check((impl or _impl).umount2(os.fsencode(target), _c_int(flags, "flags")), f"Failed to unmount '{target}'")


def pivot_root(new_root: str, put_old: str, impl: Backend | None = None) -> None:
    """Make ``new_root`` this mount namespace's root, the old root moving to ``put_old`` (under it)."""
    _check((impl or _impl).pivot_root(os.fsencode(new_root), os.fsencode(put_old)),
           f"Failed to pivot root {new_root} to {put_old}")


def sethostname(name: str, impl: Backend | None = None) -> None:
    """Set the UTS namespace's host name (at most 64 bytes)."""
    _check((impl or _impl).sethostname(name.encode()), f"Failed to set hostname to '{name}'")


def capability_number(name: str) -> int:
    """Linux number of a capability named as libvirt does ("sys_admin"); unknown names raise SystemError_."""
    try:
        return CAPABILITIES.index(name.lower())
    except ValueError:
        raise SystemError_.from_errno(_errno.EINVAL, f"unknown capability '{name}'") from None


def cap_bound_read(cap: int, impl: Backend | None = None) -> bool:
    """Whether capability ``cap`` is in this process's bounding set."""
    return bool(_check((impl or _impl).cap_bound_read(_c_int(cap, "capability")), f"Unable to read capability {cap} of the bounding set"))


def cap_bound_drop(cap: int, impl: Backend | None = None) -> None:
    """Remove capability ``cap`` from the bounding set (no exec'd program can gain it back)."""
    _check((impl or _impl).cap_bound_drop(_c_int(cap, "capability")), f"Failed to drop capability {cap} from the bounding set")


def capget(impl: Backend | None = None) -> CapSets:
    """This process's effective, permitted and inheritable sets."""
    rc, w = (impl or _impl).capget()
    _check(rc, "Unable to read the process capabilities")
    return CapSets(w[0] | w[1] << 32, w[2] | w[3] << 32, w[4] | w[5] << 32)


def capset(sets: CapSets, impl: Backend | None = None) -> None:
    """Set this process's effective, permitted and inheritable sets."""
    words = tuple(part for mask in (sets.effective, sets.permitted, sets.inheritable)
                  for part in (mask & 0xFFFFFFFF, (mask >> 32) & 0xFFFFFFFF))
    _check((impl or _impl).capset(words), "Unable to set the process capabilities")


def drop_capabilities(caps: Iterable[int | str], impl: Backend | None = None) -> None:
    """Drop capabilities (numbers or libvirt names) from the bounding, effective, permitted and inheritable sets.

    Capabilities this kernel does not know are skipped, as libvirt skips them.
    """
    numbers = {c if isinstance(c, int) else capability_number(c) for c in caps}
    mask = 0
    for cap in sorted(numbers):
        rc = (impl or _impl).cap_bound_read(_c_int(cap, "capability"))
        if rc == -_errno.EINVAL:
            continue  # newer than this kernel
        _check(rc, f"Unable to read capability {cap} of the bounding set")
        if rc:
            cap_bound_drop(cap, impl)
        mask |= 1 << cap
    current = capget(impl)
    capset(CapSets(current.effective & ~mask, current.permitted & ~mask, current.inheritable & ~mask), impl)


def set_pdeathsig(sig: int, impl: Backend | None = None) -> None:
    """Have the kernel send ``sig`` to this process when its parent dies."""
    _check((impl or _impl).set_pdeathsig(_c_int(sig, "signal")), f"Unable to set the parent-death signal to {sig}")
