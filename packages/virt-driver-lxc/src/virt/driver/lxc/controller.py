"""The controller: one process per running container that owns its namespaces, cgroup, consoles and devices.

As libvirt_lxc does, it creates the cgroup, the consoles and the network devices, clones the container
init into new namespaces, and then stays with it: it relays the consoles, restarts the container when
it reboots, and when the init exits (or on SIGTERM, a destroy) it kills what is left, removes the
cgroup and the devices and records why the container stopped. It is started by :func:`launch`
(a fork of the driver, detached into its own session) and outlives the driver; drivers find it again
through its pid file and talk to it over a unix socket that streams events.

Files in the run directory, per container NAME: NAME.pid (the controller's pid, locked while it
lives), NAME.state (JSON: init pid, consoles, devices, cgroup), NAME.sock (events), NAME.exit (JSON:
why it stopped, left for the driver), NAME.root (the staging directory of the root filesystem).
"""

from __future__ import annotations

import errno
import json
import os
import select
import signal
import socket
import sys
import time
import traceback
import tty
from pathlib import Path
from typing import Any, NoReturn

from virt.driver.lxc import netdev
from virt.driver.lxc.container import child_main
from virt.driver.lxc.spec import ContainerSpec, host_dev_name
from virt.util import linux as L
from virt.util.cgroup import Cgroup
from virt.util.errors import (
    ErrorDomain,
    InternalError,
    OperationTimeoutError,
    VirtError,
)
from virt.util.fileutil import unlink_if_exists
from virt.util.process import PidFile, acquire_pidfile

#: How long a container may take from clone to exec of its init.
START_TIMEOUT = 30.0


def paths(run_dir: str | Path, name: str) -> dict[str, Path]:
    base = Path(run_dir)
    return {k: base / f"{name}.{k}" for k in ("pid", "state", "sock", "exit", "root", "log")}


def replace_file(path: str | Path, data: str, mode: int = 0o644) -> None:
    """Replace a run-time file atomically, without the fsyncs of atomic_write: the run directory does not
    outlive a crash of the host, and a start must not wait for the disk."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.new")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
        try:
            os.write(fd, data.encode())
        finally:
            os.close(fd)
        os.rename(tmp, target)
    except OSError as err:
        unlink_if_exists(tmp)
        from virt.util.errors import SystemError_

        raise SystemError_.from_errno(err, f"cannot write data to file '{target}'") from None


def _log(message: str) -> None:
    sys.stderr.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {os.getpid()}: {message}\n")
    sys.stderr.flush()


# ----------------------------------------------------------------------------------------- launch
def launch(spec: ContainerSpec, timeout: float = START_TIMEOUT + 10) -> dict[str, Any]:
    """Start the controller of ``spec`` and wait until its container runs; returns the controller's report.

    The controller is forked from the caller (no new interpreter to start) and detached: a second fork
    in a new session, stdio to the log file, every other descriptor closed. Failures come back as the
    VirtError the controller met.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the intermediate child and the controller
        try:
            os.close(r)
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            _detach(spec.log_file, keep=[w, *spec.passfds])
            Controller(spec, w).main()
        except BaseException:
            traceback.print_exc()
        os._exit(1)
    os.close(w)
    os.waitpid(pid, 0)
    try:
        data = _read_all(r, timeout)
    finally:
        os.close(r)
    if not data:
        raise InternalError(f"guest failed to start: the controller of '{spec.name}' exited; see {spec.log_file}",
                            domain=ErrorDomain.LXC)
    report = json.loads(data)
    if not report.get("ok"):
        err = report.get("error", {})
        raise VirtError.from_code(err.get("code", 1), err.get("message", "internal error: guest failed to start"),
                                  err.get("domain", ErrorDomain.LXC))
    return report


def _read_all(fd: int, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise OperationTimeoutError("timed out waiting for the container controller", domain=ErrorDomain.LXC)
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _detach(log_file: str, keep: list[int]) -> None:
    """stdin from /dev/null, stdout and stderr to the log, every other descriptor but ``keep`` closed."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    log = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    start = 3
    for fd in sorted(set(keep)):
        os.closerange(start, fd)
        start = fd + 1
    os.closerange(start, 65536)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)


# ----------------------------------------------------------------------------------------- controller
class Controller:
    """The running controller; see the module docstring."""

    def __init__(self, spec: ContainerSpec, handshake: int) -> None:
        self.spec = spec
        self.handshake: int | None = handshake
        self.files = paths(spec.run_dir, spec.name)
        self.pidfile: PidFile | None = None
        self.cgroup: Cgroup | None = None
        self.own_cgroup: Cgroup | None = None
        self.init_pid = 0
        self.host_ttys: list[tuple[int, int, str]] = []  # host side: master, slave kept open, path
        self.guest_ttys: list[tuple[int, str]] = []  # container side: master, slave path
        self.host_devs: list[str] = []
        self.listener: socket.socket | None = None
        self.clients: list[socket.socket] = []
        self.wake_r = self.wake_w = -1
        self.signals: set[int] = set()
        self.dead_ttys: set[int] = set()

    # -- life ------------------------------------------------------------------------------------
    def main(self) -> NoReturn:
        reason = "failed"
        try:
            self.setup()
            self.start_container()
            self.write_state()
            self.reply({"ok": True, **self.state()})
            _log(f"container '{self.spec.name}' started, init pid {self.init_pid}")
            reason = self.loop()
        except VirtError as err:
            _log(f"error: {err}")
            self.reply({"ok": False, "error": {"code": int(err.code), "domain": int(err.domain), "message": str(err)}})
        except BaseException as err:
            _log("error: " + traceback.format_exc())
            self.reply({"ok": False, "error": {"code": 1, "domain": int(ErrorDomain.LXC),
                                               "message": f"internal error: {err}"}})
        self.cleanup(reason)
        os._exit(0)

    def reply(self, message: dict[str, Any]) -> None:
        if self.handshake is None:
            return
        try:
            os.write(self.handshake, json.dumps(message).encode())
        except OSError:
            pass
        os.close(self.handshake)
        self.handshake = None

    def setup(self) -> None:
        spec = self.spec
        os.makedirs(spec.run_dir, mode=0o755, exist_ok=True)
        self.pidfile = acquire_pidfile(self.files["pid"])
        unlink_if_exists(self.files["exit"])
        self.own_cgroup = Cgroup.of_pid("self")
        self.cgroup = Cgroup.machine(spec.name, "lxc", partition=spec.partition)
        self.cgroup.create()
        for name, value in spec.tunables.items():
            if name == "memory.swap_hard_limit" and not self.cgroup.supports(name):
                continue  # no swap accounting on this host: nothing to limit
            if name == "blkio.weight" and not self.cgroup.supports(name):
                raise InternalError("blkio device weight is valid only for bfq or cfq scheduler",
                                    domain=ErrorDomain.LXC)
            self.cgroup.set(name, value)
        if self.cgroup.supports_device_acl():
            _device_acl(self.cgroup, spec)
        for _ in range(spec.consoles):
            master, slave = os.openpty()
            tty.setraw(slave)  # the host side is a transparent pipe to the container's terminal
            os.set_blocking(master, False)
            self.host_ttys.append((master, slave, os.ttyname(slave)))
            guest_master, guest_slave = os.openpty()
            os.set_blocking(guest_master, False)
            if spec.uidmap:
                # The container's root is an unprivileged host user that must open its console.
                os.fchown(guest_slave, _host_id(spec.uidmap), _host_id(spec.gidmap))
            self.guest_ttys.append((guest_master, os.ttyname(guest_slave)))
            os.close(guest_slave)
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        unlink_if_exists(self.files["sock"])
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.listener.bind(str(self.files["sock"]))
        os.chmod(self.files["sock"], 0o600)
        self.listener.listen(8)
        self.listener.setblocking(False)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.signals.add(signum)

    def start_container(self) -> None:
        """Devices, clone, id maps, devices into the namespace, go-ahead, wait for the exec."""
        spec = self.spec
        assert self.cgroup is not None and self.own_cgroup is not None
        peers: list[str] = []
        self.host_devs = []
        taken: set[str] = set()
        for index, nic in enumerate(spec.nics):
            peer = f"vp{os.getpid()}n{index}"
            if nic.kind == "direct":
                assert nic.link_dev is not None
                netdev.create_macvlan(peer, nic.link_dev, nic.mac, nic.macvlan_mode)
            else:
                host = host_dev_name(nic, taken)
                taken.add(host)
                netdev.create_veth(host, peer, nic.mac, nic.bridge, nic.mtu)
                self.host_devs.append(host)
                if nic.bandwidth:
                    netdev.set_bandwidth(host, nic.bandwidth, swapped=nic.bandwidth_swapped)
            peers.append(peer)
        staging = str(self.files["root"])
        os.makedirs(staging, mode=0o755, exist_ok=True)
        sync_r, sync_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        flags = L.CLONE_NEWPID | L.CLONE_NEWNS | L.CLONE_NEWUTS | L.CLONE_NEWIPC
        if spec.private_net:
            flags |= L.CLONE_NEWNET
        if spec.uidmap:
            flags |= L.CLONE_NEWUSER
        if os.path.exists("/proc/self/ns/cgroup"):
            flags |= L.CLONE_NEWCGROUP
        # The cgroup namespace is rooted where the child starts: join the container's group for the clone.
        self.cgroup.add_pid(os.getpid())
        try:
            pid = L.clone_fork(flags)
            if pid == 0:  # pragma: no cover - the container
                os.close(sync_w)
                os.close(err_r)
                child_main(spec, sync_r, err_w, staging, peers, [path for _, path in self.guest_ttys],
                           self.cgroup_mounts(flags))
        finally:
            if os.getpid() != 1:
                self.own_cgroup.add_pid(os.getpid())
        os.close(sync_r)
        os.close(err_w)
        self.init_pid = pid
        try:
            if spec.uidmap:
                _write_map(pid, "uid_map", spec.uidmap)
                _write_map(pid, "gid_map", spec.gidmap)
            for peer in peers:
                netdev.move_to_netns(peer, pid)
            for hostdev in spec.hostdevs:
                if hostdev.kind == "net":
                    netdev.move_to_netns(hostdev.source, pid)
            os.write(sync_w, b"1")
        except BaseException:
            os.close(sync_w)
            self._reap_init(kill=True)
            os.close(err_r)
            raise
        os.close(sync_w)
        try:
            report = _read_all(err_r, START_TIMEOUT)
        finally:
            os.close(err_r)
        if report:
            self._reap_init(kill=True)
            err = json.loads(report)
            raise VirtError.from_code(err.get("code", 1), err.get("message", "guest failed to start"),
                                      err.get("domain", ErrorDomain.LXC))

    def cgroup_mounts(self, flags: int) -> list[tuple[str, str, str]]:
        """The container's /sys/fs/cgroup: only with a cgroup namespace (else it would show the host's tree)."""
        assert self.cgroup is not None
        if not flags & L.CLONE_NEWCGROUP:
            return []
        layout = self.cgroup.layout
        if layout.mode == "v2":
            return [("", "cgroup2", "")]
        out = []
        for h in layout.hierarchies:
            if h.version == 2:
                out.append((h.mount.name, "cgroup2", ""))
            else:
                out.append((h.mount.name, "cgroup", ",".join(sorted(h.controllers))))
        return out

    def state(self) -> dict[str, Any]:
        assert self.cgroup is not None
        return {"pid": os.getpid(), "init_pid": self.init_pid, "ttys": [p for _, _, p in self.host_ttys],
                "veths": self.host_devs, "cgroup": self.cgroup.to_dict(), "started": time.time()}

    def write_state(self) -> None:
        replace_file(self.files["state"], json.dumps(self.state()))

    # -- the loop --------------------------------------------------------------------------------
    def loop(self) -> str:
        """Run until the container stops; returns why ("shutdown", "crashed", "destroyed")."""
        assert self.listener is not None
        while True:
            readers: list[Any] = [self.wake_r, self.listener, *self.clients]
            readers += [m for m, _, _ in self.host_ttys] + [m for m, _ in self.guest_ttys if m not in self.dead_ttys]
            try:
                ready, _, _ = select.select(readers, [], [], 1.0)
            except InterruptedError:
                ready = []
            if self.wake_r in ready:
                try:
                    while os.read(self.wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            reason = self.handle_signals()
            if reason:
                return reason
            for r in ready:
                if r is self.listener:
                    self.accept()
                elif isinstance(r, socket.socket):
                    self.client_input(r)
                elif r != self.wake_r:
                    self.relay(r)

    def handle_signals(self) -> str | None:
        signals, self.signals = self.signals, set()
        if signals & {signal.SIGTERM, signal.SIGINT}:
            return "destroyed"
        if signal.SIGCHLD in signals or signals & {signal.SIGHUP}:
            try:
                pid, status = os.waitpid(self.init_pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = self.init_pid, 0
            if pid == self.init_pid:
                rebooted = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGHUP
                _log(f"init {self.init_pid} ended with status {status:#x}")
                if rebooted and self.spec.on_reboot == "restart":
                    self.broadcast({"event": "reboot"})
                    self.restart()
                    return None
                return "shutdown"
        return None

    def restart(self) -> None:
        assert self.cgroup is not None
        self.cgroup.kill_all()
        for dev in self.host_devs:
            netdev.delete(dev)
        self.dead_ttys.clear()
        self.start_container()
        self.write_state()
        self.broadcast({"event": "init", "init_pid": self.init_pid})

    def accept(self) -> None:
        assert self.listener is not None
        try:
            conn, _ = self.listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        self.clients.append(conn)
        self.send(conn, {"event": "hello", **self.state()})

    def client_input(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.clients.remove(conn)
            conn.close()
            return
        for line in data.splitlines():
            try:
                request = json.loads(line)
            except ValueError:
                continue
            if request.get("cmd") == "ping":
                self.send(conn, {"event": "pong"})

    def send(self, conn: socket.socket, message: dict[str, Any]) -> None:
        try:
            conn.sendall(json.dumps(message).encode() + b"\n")
        except OSError:
            pass

    def broadcast(self, message: dict[str, Any]) -> None:
        for conn in list(self.clients):
            self.send(conn, message)

    def relay(self, fd: int) -> None:
        """Copy console bytes between the host side and the container side of one console."""
        for index, (host_master, _, _) in enumerate(self.host_ttys):
            guest_master = self.guest_ttys[index][0]
            if fd in (host_master, guest_master):
                target = guest_master if fd == host_master else host_master
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    return
                except OSError as err:
                    if err.errno == errno.EIO and fd == guest_master:
                        self.dead_ttys.add(fd)  # no process holds the container side (yet)
                    return
                try:
                    os.write(target, data)
                except OSError:
                    pass  # nobody reads the other side: the bytes are dropped, as a serial line would
                return

    # -- the end ---------------------------------------------------------------------------------
    def _reap_init(self, kill: bool) -> None:
        if self.init_pid <= 0:
            return
        if kill:
            try:
                os.kill(self.init_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.waitpid(self.init_pid, 0)
        except ChildProcessError:
            pass

    def cleanup(self, reason: str) -> None:
        try:
            if self.cgroup is not None:
                if self.cgroup.has("freezer") and self.cgroup.freezer_state() != "THAWED":
                    self.cgroup.thaw()  # frozen processes would not die of SIGKILL (cgroup v1)
                self.cgroup.kill_all()
            self._reap_init(kill=True)
            for dev in self.host_devs:
                netdev.delete(dev)
            if self.cgroup is not None:
                self.cgroup.remove()
        except BaseException:
            _log("cleanup: " + traceback.format_exc())
        try:
            os.rmdir(self.files["root"])
        except OSError:
            pass
        self.broadcast({"event": "exit", "reason": reason})
        for conn in self.clients:
            conn.close()
        if self.listener is not None:
            self.listener.close()
            unlink_if_exists(self.files["sock"])
        try:
            replace_file(self.files["exit"], json.dumps({"reason": reason, "time": time.time()}))
        except VirtError:
            pass
        unlink_if_exists(self.files["state"])
        _log(f"container '{self.spec.name}' stopped: {reason}")
        if self.pidfile is not None:
            self.pidfile.release()


#: Device nodes every container may use, as libvirt allows them: null, zero, full, random, urandom,
#: tty, console, ptmx, the pts of its devpts and the host-side console ptys, fuse.
_DEFAULT_DEVICES = (("c", 1, 3), ("c", 1, 5), ("c", 1, 7), ("c", 1, 8), ("c", 1, 9), ("c", 5, 0), ("c", 5, 1),
                    ("c", 5, 2), ("c", 136, None), ("c", 10, 229))


def _device_acl(group: Cgroup, spec: ContainerSpec) -> None:
    """Deny every device but the usual ones and those the definition gives (hostdevs, block filesystems)."""
    import stat

    group.deny_all_devices()
    for kind, major, minor in _DEFAULT_DEVICES:
        group.allow_device(kind, major, minor)
    paths = [h.source for h in spec.hostdevs if h.kind in ("storage", "misc")]
    paths += [m.source for m in spec.mounts if m.kind == "block" and m.source]
    for path in paths:
        try:
            st = os.stat(path)
        except OSError as err:
            from virt.util.errors import SystemError_

            raise SystemError_.from_errno(err, f"Unable to access device {path}") from None
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            group.allow_device("c" if stat.S_ISCHR(st.st_mode) else "b", os.major(st.st_rdev), os.minor(st.st_rdev))
    if any(m.kind == "file" for m in spec.mounts):
        group.allow_device("b", 7, None)  # loop devices back <filesystem type='file'>
        group.allow_device("c", 10, 237)  # /dev/loop-control, to find a free one (the container has no node)


def _host_id(idmap: list[tuple[int, int, int]], inside: int = 0) -> int:
    """The host id that id ``inside`` of the container maps to (the overflow id 65534 if unmapped)."""
    for start, target, count in idmap:
        if start <= inside < start + count:
            return target + inside - start
    return 65534


def _write_map(pid: int, name: str, entries: list[tuple[int, int, int]]) -> None:
    text = "".join(f"{start} {target} {count}\n" for start, target, count in entries)
    try:
        with open(f"/proc/{pid}/{name}", "w") as f:
            f.write(text)
    except OSError as err:
        from virt.util.errors import SystemError_

        raise SystemError_.from_errno(err, f"unable to write to /proc/{pid}/{name}") from None
