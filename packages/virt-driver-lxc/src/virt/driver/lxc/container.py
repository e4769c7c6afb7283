"""The container's side of a start: runs as pid 1 of the new namespaces, builds the root and execs init.

The controller clones this process into new namespaces and, once it has written the id maps and moved
the network devices in, tells it to go on. It then mounts the container's filesystems under a
staging directory (its root, extra filesystems, /proc and /sys with libvirt's read-only parts, a
minimal /dev with the console), configures the network, pivots into the new root, sets the host
name, drops capabilities and executes the init program. Any failure is written to the error pipe
(closed by a successful exec) for the controller to report.
"""

from __future__ import annotations

import errno
import fcntl
import grp
import json
import os
import pwd
import termios
import traceback
from typing import NoReturn

from virt.driver.lxc import netdev
from virt.driver.lxc.spec import DEV_NODES, ContainerSpec, MountSpec
from virt.util import linux as L
from virt.util.errors import InternalError, SystemError_, VirtError

_NOSUID_NODEV_NOEXEC = L.MS_NOSUID | L.MS_NODEV | L.MS_NOEXEC


def _mkdir(path: str) -> None:
    try:
        os.makedirs(path, 0o755, exist_ok=True)
    except OSError as err:
        raise SystemError_.from_errno(err, f"Failed to create directory {path}") from None


def _touch(path: str) -> None:
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
    except OSError as err:
        raise SystemError_.from_errno(err, f"Failed to create {path}") from None


def _bind(source: str, target: str, readonly: bool = False, recursive: bool = False) -> None:
    flags = L.MS_BIND | (L.MS_REC if recursive else 0)
    L.mount(source, target, None, flags, None)
    if readonly:
        # A bind mount takes MS_RDONLY only on a remount.
        L.mount(source, target, None, flags | L.MS_REMOUNT | L.MS_RDONLY, None)


def _inside(root: str, path: str) -> str:
    return root.rstrip("/") + "/" + path.lstrip("/")


def mount_filesystem(root: str, fs: MountSpec) -> None:
    """One <filesystem> of the domain, mounted at its target below ``root`` (before the pivot)."""
    target = _inside(root, fs.target)
    if fs.kind == "bind":
        assert fs.source is not None
        if os.path.isdir(fs.source):
            _mkdir(target)
        else:
            _mkdir(os.path.dirname(target))
            _touch(target)
        _bind(fs.source, target, fs.readonly, recursive=True)
    elif fs.kind == "ram":
        _mkdir(target)
        L.mount("tmpfs", target, "tmpfs", L.MS_NOSUID | L.MS_NODEV | (L.MS_RDONLY if fs.readonly else 0),
                f"size={fs.usage_kib}k,mode=0755" if fs.usage_kib else "mode=0755")
    elif fs.kind == "file":
        assert fs.source is not None
        _mkdir(target)
        _mount_loop(fs.source, target, fs.readonly, fs.fstype)
    elif fs.kind == "block":
        assert fs.source is not None
        _mkdir(target)
        device = fs.source
        flags = L.MS_RDONLY if fs.readonly else 0
        kinds = [fs.fstype] if fs.fstype and fs.fstype not in ("raw", "auto") else _filesystems()
        last: Exception | None = None
        for fstype in kinds:
            try:
                L.mount(device, target, fstype, flags, None)
                return
            except SystemError_ as err:
                last = err
        raise last or InternalError(f"Failed to mount device {device} at {target}: no filesystem type found")
    else:
        raise InternalError(f"Unexpected filesystem type {fs.kind}")


def _filesystems() -> list[str]:
    """Block-device filesystem types the kernel knows (those not marked "nodev"), to probe in turn."""
    with open("/proc/filesystems") as f:
        return [line.split()[0] for line in f if line.strip() and not line.startswith("nodev")]


def _mount_loop(path: str, target: str, readonly: bool, fstype: str | None) -> None:
    """Mount image ``path`` through a loop device that mount(8) flags autoclear: it is detached by the
    kernel when the container's mount namespace, the last holder of the mount, goes away."""
    from virt.util.process import find_binary, run

    options = "loop,ro" if readonly else "loop"
    kind = ["-t", fstype] if fstype and fstype not in ("raw", "auto") else []
    run([find_binary("mount", "mount"), "-n", "-o", options, *kind, path, target], timeout=30)


def mount_basics(root: str, private_net: bool, userns: bool) -> None:
    """/proc (with /proc/sys read-only but the namespace's own net sysctls writable) and /sys read-only."""
    proc = _inside(root, "/proc")
    _mkdir(proc)
    L.mount("proc", proc, "proc", _NOSUID_NODEV_NOEXEC, None)
    _bind(f"{proc}/sys", f"{proc}/sys", readonly=True)
    if private_net:
        for family in ("ipv4", "ipv6"):
            path = f"{proc}/sys/net/{family}"
            if os.path.isdir(path):
                # The bind starts read-only like /proc/sys it sits in; the namespace's own sysctls stay writable.
                _bind(path, path)
                L.mount(path, path, None, L.MS_BIND | L.MS_REMOUNT, None)
    sys_ = _inside(root, "/sys")
    _mkdir(sys_)
    if private_net or not userns:
        L.mount("sysfs", sys_, "sysfs", _NOSUID_NODEV_NOEXEC | L.MS_RDONLY, None)
    else:
        # sysfs can only be mounted by the owner of the network namespace; show the host's, read-only.
        _bind("/sys", sys_, readonly=True, recursive=True)


def mount_cgroups(root: str, hierarchies: list[tuple[str, str, str]]) -> None:
    """/sys/fs/cgroup as the host lays it out, each hierarchy seen from the container's cgroup namespace.

    ``hierarchies`` are (directory, fs type, options): one "" directory for a pure v2 host. Controller
    hierarchies are read-only, so the container cannot raise its own limits; named ones (systemd's)
    stay writable for an init that keeps its services there.
    """
    if not hierarchies:
        return
    base = _inside(root, "/sys/fs/cgroup")
    if not os.path.isdir(base):
        return
    if hierarchies[0][0]:
        L.mount("cgroup_root", base, "tmpfs", _NOSUID_NODEV_NOEXEC, "mode=755,size=65536")
    for name, fstype, options in hierarchies:
        target = f"{base}/{name}" if name else base
        _mkdir(target)
        writable = options.startswith("name=") or (fstype == "cgroup2" and not name)
        L.mount("cgroup", target, fstype, _NOSUID_NODEV_NOEXEC | (0 if writable else L.MS_RDONLY), options or None)
    if hierarchies[0][0]:
        L.mount(None, base, None, L.MS_REMOUNT | L.MS_RDONLY | _NOSUID_NODEV_NOEXEC, "mode=755,size=65536")


def mount_dev(root: str, consoles: list[str], hostdevs: list[tuple[str, str]]) -> None:
    """A minimal /dev: a tmpfs with the usual nodes, its own devpts, the consoles and host devices."""
    dev = _inside(root, "/dev")
    _mkdir(dev)
    L.mount("devfs", dev, "tmpfs", L.MS_NOSUID, "mode=755,size=65536")
    for node in DEV_NODES:
        # Bind the host's nodes rather than mknod: it works inside a user namespace too.
        _touch(f"{dev}/{node}")
        _bind(f"/dev/{node}", f"{dev}/{node}")
    _mkdir(f"{dev}/pts")
    L.mount("devpts", f"{dev}/pts", "devpts", L.MS_NOSUID | L.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620")
    os.symlink("pts/ptmx", f"{dev}/ptmx")
    _mkdir(f"{dev}/shm")
    L.mount("shm", f"{dev}/shm", "tmpfs", L.MS_NOSUID | L.MS_NODEV, "mode=1777")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")
    for index, slave in enumerate(consoles):
        node = f"{dev}/console" if index == 0 else f"{dev}/tty{index}"
        _touch(node)
        _bind(slave, node)
    for source, path in hostdevs:
        node = _inside(root, path)
        _mkdir(os.path.dirname(node))
        _touch(node)
        _bind(source, node)


def pivot(root: str) -> None:
    """Make ``root`` the root of this mount namespace and drop the old one (no put_old directory needed)."""
    os.chdir(root)
    L.pivot_root(".", ".")
    L.umount2(".", L.MNT_DETACH)
    os.chdir("/")


def _environment(spec: ContainerSpec) -> dict[str, str]:
    env = {"PATH": "/bin:/sbin:/usr/bin:/usr/sbin", "TERM": "linux", "container": "lxc-libvirt", "HOME": "/",
           "container_uuid": spec.uuid, "LIBVIRT_LXC_UUID": spec.uuid, "LIBVIRT_LXC_NAME": spec.name}
    if spec.passfds:  # systemd's socket activation convention, as libvirt sets it
        env.update(LISTEN_PID="1", LISTEN_FDS=str(len(spec.passfds)))
    env.update(spec.initenv)
    return env


def _pass_fds(fds: list[int]) -> None:
    """The passed descriptors as 3, 4...: moved out of the way first, so that none overwrites another."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 1024) for fd in fds]
    for fd in fds:
        os.close(fd)
    for i, fd in enumerate(high):
        os.dup2(fd, 3 + i, inheritable=True)
        os.close(fd)


def _switch_user(spec: ContainerSpec) -> None:
    if spec.initgroup:
        try:
            gid = int(spec.initgroup) if spec.initgroup.isdigit() else grp.getgrnam(spec.initgroup).gr_gid
        except KeyError:
            raise InternalError(f"Failed to find group '{spec.initgroup}'") from None
        os.setgroups([])
        os.setresgid(gid, gid, gid)
    if spec.inituser:
        try:
            entry = pwd.getpwuid(int(spec.inituser)) if spec.inituser.isdigit() else pwd.getpwnam(spec.inituser)
        except KeyError:
            raise InternalError(f"Failed to find user '{spec.inituser}'") from None
        if not spec.initgroup:
            os.setgroups([])
            os.setresgid(entry.pw_gid, entry.pw_gid, entry.pw_gid)
        os.setresuid(entry.pw_uid, entry.pw_uid, entry.pw_uid)


def setup_and_exec(spec: ContainerSpec, staging: str, peers: list[str], consoles: list[str],
                   cgroups: list[tuple[str, str, str]]) -> NoReturn:
    """Everything after the controller's go-ahead, ending in execve of the init program."""
    userns = bool(spec.uidmap)
    if userns:
        os.setresgid(0, 0, 0)
        os.setgroups([])
        os.setresuid(0, 0, 0)
    # Nothing we mount may leak back to the host, nor host mounts appear here later.
    L.mount(None, "/", None, L.MS_REC | L.MS_PRIVATE, None)
    if spec.private_net:
        netdev.loopback_up()
        for nic, peer in zip(spec.nics, peers, strict=True):
            netdev.configure(peer, nic.guest_dev, nic.ips, nic.routes, nic.link_up, nic.mtu)
        for hostdev in spec.hostdevs:
            if hostdev.kind == "net":
                netdev.configure(hostdev.source, None, hostdev.ips, hostdev.routes, True)
    console_fds = [os.open(path, os.O_RDWR | os.O_NOCTTY) for path in consoles]
    root = spec.root
    # Inside a user namespace the host's mounts are locked to what they cover: only a recursive bind
    # of the root is allowed then.
    _bind(root.source if root is not None and root.source else "/", staging, recursive=userns)
    for fs in spec.mounts:
        mount_filesystem(staging, fs)
    mount_basics(staging, spec.private_net, userns)
    mount_cgroups(staging, cgroups)
    mount_dev(staging, consoles, [(h.source, h.source) for h in spec.hostdevs if h.kind in ("storage", "misc")])
    if root is not None and root.readonly:
        L.mount(None, staging, None, L.MS_BIND | L.MS_REMOUNT | L.MS_RDONLY, None)
    pivot(staging)
    L.sethostname(spec.name[:64])
    os.setsid()
    console = console_fds[0]
    fcntl.ioctl(console, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(console, fd)
    for fd in console_fds:
        if fd > 2:
            os.close(fd)
    L.drop_capabilities(spec.drop_caps)
    if spec.initdir:
        try:
            os.chdir(spec.initdir)
        except OSError as err:
            raise SystemError_.from_errno(err, f"Unable to change to {spec.initdir}") from None
    _switch_user(spec)
    _pass_fds(spec.passfds)
    try:
        os.execve(spec.init, [spec.init, *spec.initargs], _environment(spec))
    except OSError as err:
        raise SystemError_.from_errno(err, f"cannot execute binary {spec.init}") from None


def child_main(spec: ContainerSpec, sync_fd: int, err_fd: int, staging: str, peers: list[str],
               consoles: list[str], cgroups: list[tuple[str, str, str]]) -> NoReturn:
    """Entry of the cloned process: wait for the controller, then set up; never returns."""
    try:
        go = os.read(sync_fd, 1)
        os.close(sync_fd)
        if go != b"1":
            os._exit(1)  # the controller gave up
        if spec.passfds:  # the passed descriptors become 3, 4...: keep the error pipe clear of them
            moved = fcntl.fcntl(err_fd, fcntl.F_DUPFD_CLOEXEC, 3 + len(spec.passfds))
            os.close(err_fd)
            err_fd = moved
        setup_and_exec(spec, staging, peers, consoles, cgroups)
    except VirtError as err:
        report = {"code": int(err.code), "domain": int(err.domain), "message": str(err)}
    except OSError as err:
        report = {"code": 38, "domain": 17, "message": f"Failed to set up the container: {err}",
                  "errno": err.errno or errno.EIO}
    except BaseException:
        report = {"code": 1, "domain": 17, "message": "internal error: " + traceback.format_exc(limit=3)}
    try:
        os.write(err_fd, json.dumps(report).encode())
    finally:
        os._exit(1)
