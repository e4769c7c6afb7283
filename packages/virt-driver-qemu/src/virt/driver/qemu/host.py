"""The driver's state for one set of directories: its guests, their files, capabilities, events, a worker.

One ``QemuHost`` exists per process and URI (qemu:///system, qemu:///session, each embed root) and is
shared by every connection to it, as libvirt's driver state is shared by a daemon's clients. It owns
the instance's pid file, so a second process cannot drive the same guests at the same time (libvirt
refuses an embed root in use the same way); guests outlive it: when a process exits, or
``shutdown_hosts()`` detaches, the next one to open the URI reconnects to every running QEMU.

Locking: ``host.lock`` guards the domain table and each domain's state fields and is never held
while talking to QEMU; a domain's ``job`` lock serialises the operations that change it. QMP events
arrive on each monitor's reader thread; anything they trigger that must talk to QEMU again runs on
the host's worker thread, which may wait for a job.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from virt.core.enums import DomainShutoffReason
from virt.core.events import EventBus
from virt.core.types import DomainRef
from virt.driver.qemu import definition as D
from virt.driver.qemu.state import DomainObj, Settings
from virt.util.errors import VirtError
from virt.util.fileutil import atomic_write, make_dirs

if TYPE_CHECKING:
    from virt.driver.qemu.caps import QemuCaps
    from virt.driver.qemu.qemuconf import QemuConfig

log = logging.getLogger(__name__)

#: Capabilities probed in this process, shared by every host: binary -> (ctime, mtime, kvm, caps).
_CAPS_MEMO: dict[str, tuple[int, int, bool, QemuCaps]] = {}
_CAPS_LOCK = threading.Lock()


def _seed_from_default(cache: Any, binary: str) -> None:
    """An instance without a cached probe of ``binary`` starts from the host-wide cache's copy (the
    lookup still checks it is valid), sparing a new embed root a second of probing."""
    from virt.driver.qemu.caps import default_cache

    target = cache.path_for(binary)
    source = default_cache().path_for(binary)
    if target.exists() or source == target or not source.exists():
        return
    try:
        make_dirs(target.parent, 0o700)
        atomic_write(target, source.read_bytes(), mode=0o600)
    except (OSError, VirtError):
        pass


class PortAllocator:
    """Free TCP ports for displays (VNC 5900 and up), as libvirt's port allocator hands them out."""

    def __init__(self, low: int = 5900, high: int = 65535) -> None:
        self.low, self.high = low, high
        self.used: set[int] = set()
        self.lock = threading.Lock()

    def allocate(self) -> int:
        with self.lock:
            for port in range(self.low, self.high + 1):
                if port in self.used:
                    continue
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    try:
                        s.bind(("0.0.0.0", port))
                    except OSError:
                        continue
                self.used.add(port)
                return port
        raise VirtError("Unable to find an unused port in range 'display' (5900-65535)")

    def release(self, ports: Iterable[int]) -> None:
        with self.lock:
            self.used.difference_update(ports)


class QemuHost:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lock = threading.RLock()
        self.domains: dict[str, DomainObj] = {}
        self.next_id = 1
        self.ports = PortAllocator()
        self._buses: weakref.WeakSet[EventBus] = weakref.WeakSet()
        self._work: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._pidfile: Any = None
        self._cfg: QemuConfig | None = None
        self._layout: Any = None
        self.loaded = False
        self.autostarted = False
        #: Open console sessions: domain UUID -> the file handed to the stream.
        self.consoles: dict[str, Any] = {}

    # -- configuration ----------------------------------------------------------------------------
    @property
    def cfg(self) -> QemuConfig:
        if self._cfg is None:
            from virt.driver.qemu import qemuconf

            s = self.settings
            cfg = qemuconf.QemuConfig()
            if s.qemu_conf.is_file():
                cfg = qemuconf.load(s.qemu_conf, cfg)
            cfg.libDir = str(s.lib_dir)
            cfg.stateDir = str(s.state_dir)
            cfg.channelTargetDir = str(s.lib_dir / "channel" / "target")
            cfg.nvramDir = str(s.lib_dir / "nvram")
            cfg.memoryBackingDir = str(s.lib_dir / "ram")
            cfg.privileged = s.privileged
            if not s.privileged:
                import pwd

                cfg.user = cfg.group = pwd.getpwuid(os.geteuid()).pw_name
            self._cfg = cfg
        return self._cfg

    def run_as(self) -> tuple[int, int] | None:
        """(uid, gid) QEMU runs as, from qemu.conf's user and group."""
        from virt.util.ident import host_id

        cfg = self.cfg
        try:
            uid, gid = host_id(cfg.user, "user"), host_id(cfg.group, "group")
        except (KeyError, ValueError) as err:
            raise VirtError(f"Failed to parse user/group '{cfg.user}:{cfg.group}': {err}") from None
        return uid, gid

    @property
    def cgroup_layout(self) -> Any:
        """The host's cgroup hierarchies, or None when guests cannot be put in cgroups here."""
        if self._layout is None:
            from virt.util.cgroup import Layout

            try:
                layout = Layout.detect()
            except OSError:
                layout = Layout()
            self._layout = layout if layout.hierarchies and self.settings.privileged else False
        return self._layout or None

    def caps(self, binary: str) -> QemuCaps:
        """Capabilities of ``binary``: probed once per process, cached on disk in the cache directory."""
        from virt.driver.qemu.caps import CapsCache, kvm_usable

        try:
            st = os.stat(binary)
        except OSError as err:
            from virt.util.errors import SystemError_

            raise SystemError_.from_errno(err, f"Cannot check QEMU binary {binary}") from None
        kvm = kvm_usable()
        with _CAPS_LOCK:
            hit = _CAPS_MEMO.get(binary)
            if hit is not None and hit[:3] == (int(st.st_ctime), int(st.st_mtime), kvm):
                return hit[3]
            cache = CapsCache(self.settings.cache_dir / "capabilities")
            _seed_from_default(cache, binary)
            caps = cache.lookup(binary)
            _CAPS_MEMO[binary] = (int(st.st_ctime), int(st.st_mtime), kvm, caps)
            return caps

    # -- events -------------------------------------------------------------------------------------
    def attach_bus(self, bus: EventBus) -> None:
        with self.lock:
            self._buses.add(bus)

    def detach_bus(self, bus: EventBus) -> None:
        with self.lock:
            self._buses.discard(bus)

    def emit(self, kind: str, event_id: int, ref: DomainRef, *payload: Any) -> None:
        with self.lock:
            buses = list(self._buses)
        for bus in buses:
            bus.emit(kind, int(event_id), ref, *payload)

    # -- the worker -----------------------------------------------------------------------------------
    def defer(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the host's worker thread (work an event triggers that needs the monitor)."""
        with self.lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="virt-qemu-worker", daemon=True)
                self._worker.start()
        self._work.put(fn)

    def _run(self) -> None:
        while (fn := self._work.get()) is not None:
            try:
                fn()
            except Exception:  # one failed task must not stop the others
                log.exception("qemu driver background task failed")

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until the work queued so far has run (tests, orderly shutdown)."""
        done = threading.Event()
        self.defer(done.set)
        done.wait(timeout)

    # -- lookup ---------------------------------------------------------------------------------------
    def find(self, pred: Callable[[DomainObj], bool]) -> DomainObj | None:
        with self.lock:
            return next((o for o in self.domains.values() if pred(o)), None)

    def by_name(self, name: str) -> DomainObj | None:
        return self.find(lambda o: o.name == name)

    def allocate_id(self) -> int:
        with self.lock:
            used = {o.id for o in self.domains.values() if o.active}
            while self.next_id in used:
                self.next_id += 1
            dom_id = self.next_id
            self.next_id += 1
            return dom_id

    # -- loading and detaching ------------------------------------------------------------------------
    def load(self) -> None:
        """Read definitions and statuses, reconnect to running guests (first use in this process)."""
        from virt.util.process import acquire_pidfile

        s = self.settings
        make_dirs(s.lib_dir, 0o711)  # QEMU running as another user reaches its private directory below
        for d in (s.config_dir, s.autostart_dir, s.state_dir, s.save_dir, s.snapshot_dir, s.cache_dir, s.log_dir):
            make_dirs(d, 0o755 if s.mode == "system" else 0o700)
        self._pidfile = acquire_pidfile(s.state_dir / "driver.pid")
        try:
            self._load_configs()
            self._load_statuses()
        except BaseException:
            self._pidfile.release()
            self._pidfile = None
            raise
        self.loaded = True

    def _load_configs(self) -> None:
        s = self.settings
        for path in sorted(s.config_dir.glob("*.xml")):
            try:
                tree = D.X.parse(path.read_bytes())
            except (OSError, VirtError) as err:
                log.warning("skipping domain config %s: %s", path, err)
                continue  # a broken file is skipped, as libvirt skips it at start-up
            name, uuid = D.name_of(tree), D.uuid_of(tree)
            if not name or not uuid or path.stem != name:
                log.warning("skipping domain config %s: name or uuid missing or not matching", path)
                continue
            obj = self.domains.setdefault(uuid, DomainObj(name, uuid))
            obj.config = tree
            obj.autostart = s.autostart_link(name).exists()
            try:
                word = s.stopped_file(name).read_text().strip().upper()
                obj.reason = int(DomainShutoffReason[word])
            except (OSError, KeyError):
                pass

    def _load_statuses(self) -> None:
        from virt.driver.qemu import lifecycle
        from virt.driver.qemu.state import read_status

        s = self.settings
        found = []
        for path in sorted(s.state_dir.glob("*.xml")):
            try:
                live, runtime, pid, dom_id, state, reason = read_status(path)
            except (OSError, ValueError) as err:
                log.warning("skipping domain status %s: %s", path, err)
                continue
            name, uuid = D.name_of(live), D.uuid_of(live)
            obj = self.domains.setdefault(uuid, DomainObj(name, uuid))
            found.append((obj, path, live, runtime, pid, dom_id, state, reason))
            self.next_id = max(self.next_id, dom_id + 1)
        for obj, path, live, runtime, pid, dom_id, state, reason in found:
            lifecycle.reattach(self, obj, path, live, runtime, pid, dom_id, state, reason)

    def shutdown(self) -> None:
        """Let go of every guest without stopping it (a daemon exiting): close monitors, release the
        pid file. The next process to open the URI reconnects."""
        with self.lock:
            objs = list(self.domains.values())
        for obj in objs:
            mon, obj.mon = obj.mon, None
            if mon is not None:
                mon.close()
        if self._worker is not None:
            self._work.put(None)
            self._worker.join(timeout=10)
            self._worker = None
        if self._pidfile is not None:
            self._pidfile.release()
            self._pidfile = None
        self.loaded = False


_hosts: dict[Settings, QemuHost] = {}
_hosts_lock = threading.Lock()


def host_for(settings: Settings) -> QemuHost:
    """The host of ``settings`` in this process, loaded on first use."""
    with _hosts_lock:
        host = _hosts.get(settings)
        if host is None:
            host = QemuHost(settings)
            host.load()
            _hosts[settings] = host
        return host


def shutdown_hosts(root: str | os.PathLike[str] | None = None) -> None:
    """Detach from every guest (of the embed root ``root`` only, if given), as if the driver exited."""
    with _hosts_lock:
        items = [(k, h) for k, h in _hosts.items()
                 if root is None or k.config_dir.is_relative_to(Path(root))]
        for k, _ in items:
            del _hosts[k]
    for _, host in items:
        host.shutdown()
