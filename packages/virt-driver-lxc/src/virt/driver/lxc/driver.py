"""The LXC hypervisor driver: lxc:/// domains as containers, each run by its own controller process.

State lives on disk so any process opening ``lxc:///`` sees the same containers and a driver restart
loses none: persistent definitions in the config directory (``NAME.xml``, ``autostart/NAME.xml``),
the live definition of a running container in the run directory next to its controller's files (see
:mod:`virt.driver.lxc.controller`). A container runs while its controller lives; the domain id is the
controller's pid, as in libvirt. Directories: /etc/virt/lxc, /run/virt/lxc and /var/log/virt/lxc, or
all below ``?root=DIR`` / $VIRT_LXC_ROOT.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import signal
import socket
import threading
import time
import uuid as uuidlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from virt.core.driver import Driver, ListingFromListAll
from virt.core.enums import ConnectListAllDomainsFlags as LF
from virt.core.enums import DomainEventDefinedDetail as Defined
from virt.core.enums import (
    DomainEventID,
    DomainPausedReason,
    DomainRunningReason,
    DomainShutoffReason,
)
from virt.core.enums import DomainEventResumedDetail as Resumed
from virt.core.enums import DomainEventStartedDetail as Started
from virt.core.enums import DomainEventStoppedDetail as Stopped
from virt.core.enums import DomainEventSuspendedDetail as Suspended
from virt.core.enums import DomainEventType as Ev
from virt.core.enums import DomainEventUndefinedDetail as Undefined
from virt.core.enums import DomainState as S
from virt.core.enums import DomainXMLFlags as XF
from virt.core.store import StoredObject
from virt.core.types import DomainInfo, DomainRef, NodeInfo
from virt.core.uri import URI
from virt.driver.lxc import controller, spec
from virt.driver.lxc.native import EMULATOR
from virt.util.cgroup import Cgroup
from virt.util.errors import (
    ErrorDomain,
    ErrorNumber,
    ExistsError,
    InternalError,
    InvalidArgError,
    NoConnectError,
    OperationFailedError,
    OperationInvalidError,
    OperationTimeoutError,
    OperationUnsupportedError,
    SystemError_,
    VirtError,
    not_found,
)
from virt.util.fileutil import atomic_write, make_dirs, unlink_if_exists
from virt.util.process import is_alive

LXC = ErrorDomain.LXC
#: Lifecycle reasons the controller records, as libvirt's shutoff reasons and stopped-event details.
_STOP_REASONS = {"shutdown": (DomainShutoffReason.SHUTDOWN, Stopped.SHUTDOWN),
                 "destroyed": (DomainShutoffReason.DESTROYED, Stopped.DESTROYED),
                 "crashed": (DomainShutoffReason.CRASHED, Stopped.CRASHED),
                 "failed": (DomainShutoffReason.FAILED, Stopped.FAILED)}
#: How long destroy waits for the controller to take the container down.
DESTROY_TIMEOUT = 30.0
#: How long a graceful destroy gives the container's processes after SIGTERM.
GRACEFUL_TIMEOUT = 10.0


@dataclass(frozen=True)
class Settings:
    """The driver's directories (``?root=DIR`` or $VIRT_LXC_ROOT moves them all under DIR)."""

    config_dir: Path
    run_dir: Path
    log_dir: Path

    @classmethod
    def for_uri(cls, uri: URI) -> Settings:
        root = uri.params.get("root") or os.environ.get("VIRT_LXC_ROOT")
        if root:
            base = Path(root)
            return cls(base / "etc" / "lxc", base / "run" / "lxc", base / "log" / "lxc")
        return cls(Path("/etc/virt/lxc"), Path("/run/virt/lxc"), Path("/var/log/virt/lxc"))


@dataclass
class DomainObj(StoredObject[Any]):
    """A container: its definitions, what its start set up, and why it last stopped."""

    runtime: dict[str, Any] = field(default_factory=dict)
    stop_reason: int = DomainShutoffReason.UNKNOWN

    @property
    def id(self) -> int:
        return int(self.runtime.get("pid", -1)) if self.active else -1

    def ref(self) -> DomainRef:
        return DomainRef(self.name, self.uuid, self.id)


# ----------------------------------------------------------------------------------------- XML
def parse_domain(xml: str | bytes, inactive: bool = True, validate: bool = False) -> Any:
    """A domain definition with the LXC driver's rules and defaults."""
    from virt.conf import parse

    defn: Any = parse(xml, "domain", inactive=inactive, strict=validate)
    arch = defn.os.type.arch if defn.os.type is not None else platform.machine()
    if defn.type != "lxc":
        raise InvalidArgError(f"could not find capabilities for arch={arch} domaintype={defn.type} ", domain=LXC)
    if defn.os.os_type != "exe":
        raise InvalidArgError(f"could not find capabilities for os type '{defn.os.os_type}' arch={arch}", domain=LXC)
    if defn.devices.emulator is None:
        defn.devices.emulator = EMULATOR
    for console in defn.devices.consoles:
        if console.target is not None and console.target.type in (None, "none"):
            console.target.type = "lxc"
        if console.type not in (None, "pty"):
            raise VirtError(f"Only PTY console types are supported (not '{console.type}')",
                            code=ErrorNumber.CONFIG_UNSUPPORTED, domain=LXC)
    return defn


def format_domain(defn: Any, flags: int = 0, dom_id: int = -1, inactive: bool = False) -> str:
    defn.id = str(dom_id) if dom_id >= 0 and not inactive else None
    try:
        return str(defn.format(inactive=inactive, secure=bool(flags & XF.SECURE)))
    finally:
        defn.id = None


def _copy(defn: Any) -> Any:
    return parse_domain(format_domain(defn, XF.SECURE, inactive=True))


# ----------------------------------------------------------------------------------------- the store
class _Store:
    """The containers of one set of directories, shared by every connection of this process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lock = threading.RLock()
        self.domains: dict[str, DomainObj] = {}
        self.loaded = False

    def load(self) -> None:
        s = self.settings
        for d in (s.config_dir, s.config_dir / "autostart", s.run_dir, s.log_dir):
            make_dirs(d, 0o755)
        for path in sorted(s.config_dir.glob("*.xml")):
            try:
                defn = parse_domain(path.read_text())
            except VirtError:
                continue  # a broken file is skipped, as libvirt skips it at start-up
            obj = self.domains.setdefault(defn.uuid, DomainObj(defn.name, defn.uuid))
            obj.config = defn
            obj.autostart = (s.config_dir / "autostart" / f"{defn.name}.xml").exists()
        for path in sorted(s.run_dir.glob("*.xml")):
            try:
                live = parse_domain(path.read_text(), inactive=False)
            except VirtError:
                continue
            obj = self.domains.setdefault(live.uuid, DomainObj(live.name, live.uuid))
            obj.live = live
        for obj in self.domains.values():
            if obj.live is None:
                # Why it last stopped, as a daemon would remember: the controller's parting note.
                try:
                    reason = json.loads((s.run_dir / f"{obj.name}.exit").read_text()).get("reason")
                except (OSError, ValueError):
                    continue
                obj.stop_reason = _STOP_REASONS.get(reason, (DomainShutoffReason.UNKNOWN, 0))[0]
        self.loaded = True

    def find(self, pred: Callable[[DomainObj], bool]) -> DomainObj | None:
        return next((o for o in self.domains.values() if pred(o)), None)


_stores: dict[Settings, _Store] = {}
_stores_lock = threading.Lock()


def _store_for(settings: Settings) -> _Store:
    with _stores_lock:
        store = _stores.get(settings)
        if store is None:
            store = _stores[settings] = _Store(settings)
        return store


def _kernel_version() -> int:
    parts = (platform.release().split("-")[0].split(".") + ["0", "0"])[:3]
    major, minor, micro = (int("".join(ch for ch in p if ch.isdigit()) or 0) for p in parts)
    return major * 1_000_000 + minor * 1_000 + micro


# ----------------------------------------------------------------------------------------- the driver
class LxcDriver(ListingFromListAll, Driver):
    """lxc:/// and lxc:///system: Linux containers on this host (root only)."""

    name = "lxc"
    uri_schemes = ("lxc",)
    _autostarted: ClassVar[set[Settings]] = set()

    @classmethod
    def claims(cls, uri: URI) -> bool:
        return uri.driver == "lxc" and not uri.is_remote

    def __init__(self, uri: URI, *, readonly: bool = False, events: Any = None) -> None:
        super().__init__(uri, readonly=readonly, events=events)
        if uri.path not in ("", "/", "/system"):
            raise NoConnectError(f"Unexpected LXC URI path '{uri.path}', try lxc:///system",
                                 code=ErrorNumber.INTERNAL_ERROR, domain=LXC)
        if os.geteuid() != 0:
            raise NoConnectError("LXC containers need root privileges", code=ErrorNumber.OPERATION_DENIED,
                                 domain=LXC)
        self.settings = Settings.for_uri(uri)
        self.store = _store_for(self.settings)
        with self.store.lock:
            if not self.store.loaded:
                self.store.load()
        self._monitor: _Monitor | None = None
        self._autostart()

    def close(self) -> None:
        if self._monitor is not None:
            self._monitor.stop()
            self._monitor = None

    # -- host ------------------------------------------------------------------------------------
    def connect_get_type(self) -> str:
        return "LXC"

    def connect_get_version(self) -> int:
        return _kernel_version()

    def connect_get_lib_version(self) -> int:
        return 9_000_000

    def connect_get_hostname(self) -> str:
        return socket.gethostname()

    def connect_get_uri(self) -> str:
        return "lxc:///system" if not self.uri.params.get("root") else str(self.uri)

    def connect_is_secure(self) -> int:
        return 1

    def connect_is_encrypted(self) -> int:
        return 0

    def connect_is_alive(self) -> int:
        return 1

    def connect_get_max_vcpus(self, type: str | None = None) -> int:
        return os.cpu_count() or 1

    def connect_get_capabilities(self) -> str:
        arch = platform.machine()
        return (f"<capabilities>\n  <host>\n    <uuid>{_host_uuid()}</uuid>\n    <cpu>\n      <arch>{arch}</arch>\n"
                f"    </cpu>\n  </host>\n\n  <guest>\n    <os_type>exe</os_type>\n    <arch name='{arch}'>\n"
                f"      <wordsize>{64 if arch.endswith('64') else 32}</wordsize>\n      <emulator>{EMULATOR}</emulator>\n"
                "      <domain type='lxc'/>\n    </arch>\n  </guest>\n\n</capabilities>\n")

    def node_get_info(self) -> NodeInfo:
        mem_kib = 0
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
        cpus = os.cpu_count() or 1
        mhz = 0
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.lower().startswith("cpu mhz"):
                    mhz = int(float(line.split(":")[1]))
                    break
        except (OSError, ValueError):
            pass
        return NodeInfo(platform.machine(), mem_kib, cpus, mhz, 1, 1, cpus, 1)

    def connect_domain_event_register_any(self, event_id: int, *args: Any) -> int:
        # Events of containers that stop or reboot on their own come from their controllers.
        if self._monitor is None:
            self._monitor = _Monitor(self)
            self._monitor.start()
        return 0

    def connect_domain_xml_from_native(self, native_format: str, config: str, flags: int = 0) -> str:
        if native_format != "lxc-tools":
            raise InvalidArgError(f"unsupported config type {native_format}", domain=LXC)
        from virt.driver.lxc.native import from_native

        return from_native(config)

    # -- lookups ---------------------------------------------------------------------------------
    def _obj(self, dom: DomainRef) -> DomainObj:
        with self.store.lock:
            obj = self.store.domains.get(dom.uuid) or self.store.find(lambda o: o.name == dom.name)
        if obj is None:
            raise not_found(ErrorNumber.NO_DOMAIN, f"no domain with matching uuid '{dom.uuid}' ({dom.name})", LXC)
        self._refresh(obj)
        return obj

    def _active(self, dom: DomainRef) -> DomainObj:
        obj = self._obj(dom)
        if not obj.active:
            raise OperationInvalidError("domain is not running", domain=LXC)
        return obj

    def domain_lookup_by_name(self, name: str) -> DomainRef:
        with self.store.lock:
            obj = self.store.find(lambda o: o.name == name)
        if obj is None:
            raise not_found(ErrorNumber.NO_DOMAIN, f"no domain with matching name '{name}'", LXC)
        self._refresh(obj)
        return obj.ref()

    def domain_lookup_by_uuid(self, uuid: str) -> DomainRef:
        with self.store.lock:
            obj = self.store.domains.get(uuid)
        if obj is None:
            raise not_found(ErrorNumber.NO_DOMAIN, f"no domain with matching uuid '{uuid}'", LXC)
        self._refresh(obj)
        return obj.ref()

    def domain_lookup_by_id(self, id: int) -> DomainRef:
        for obj in self._all():
            if obj.active and obj.id == id:
                return obj.ref()
        raise not_found(ErrorNumber.NO_DOMAIN, f"no domain with matching id {id}", LXC)

    def _all(self) -> list[DomainObj]:
        with self.store.lock:
            objs = list(self.store.domains.values())
        for obj in objs:
            self._refresh(obj)
        with self.store.lock:
            return list(self.store.domains.values())

    def connect_list_all_domains(self, flags: int = 0) -> list[DomainRef]:
        out = []
        for obj in self._all():
            state = self._state(obj)[0]
            checks = ((LF.ACTIVE | LF.INACTIVE, obj.active, LF.ACTIVE),
                      (LF.PERSISTENT | LF.TRANSIENT, obj.config is not None, LF.PERSISTENT),
                      (LF.AUTOSTART | LF.NO_AUTOSTART, obj.autostart, LF.AUTOSTART))
            if any(flags & group and not flags & (yes if value else group & ~yes) for group, value, yes in checks):
                continue
            states = flags & (LF.RUNNING | LF.PAUSED | LF.SHUTOFF | LF.OTHER)
            if states:
                kind = {S.RUNNING: LF.RUNNING, S.PAUSED: LF.PAUSED, S.SHUTOFF: LF.SHUTOFF}.get(S(state), LF.OTHER)
                if not states & kind:
                    continue
            if flags & (LF.MANAGEDSAVE | LF.HAS_SNAPSHOT | LF.HAS_CHECKPOINT):
                continue  # containers have neither
            out.append(obj.ref())
        return sorted(out, key=lambda r: r.name)

    # -- definitions -----------------------------------------------------------------------------
    def _check_unique(self, defn: Any) -> DomainObj | None:
        with self.store.lock:
            same_uuid = self.store.domains.get(defn.uuid)
            same_name = self.store.find(lambda o: o.name == defn.name)
        if same_uuid is not None and same_uuid.name != defn.name:
            raise ExistsError(f"domain '{same_uuid.name}' is already defined with uuid {defn.uuid}",
                              code=ErrorNumber.OPERATION_FAILED, domain=LXC)
        if same_name is not None and same_name.uuid != defn.uuid:
            raise ExistsError(f"domain '{defn.name}' already exists with uuid {same_name.uuid}",
                              code=ErrorNumber.OPERATION_FAILED, domain=LXC)
        return same_uuid

    def _save_config(self, obj: DomainObj) -> None:
        atomic_write(self.settings.config_dir / f"{obj.name}.xml",
                     format_domain(obj.config, XF.SECURE, inactive=True), mode=0o600)

    def domain_define_xml(self, xml: str) -> DomainRef:
        return self.domain_define_xml_flags(xml, 0)

    def domain_define_xml_flags(self, xml: str, flags: int = 0) -> DomainRef:
        self.check_writable("domain_define_xml_flags")
        defn = parse_domain(xml, validate=bool(flags & 1))
        with self.store.lock:
            obj = self._check_unique(defn)
            updated = obj is not None and obj.config is not None
            if obj is None:
                obj = DomainObj(defn.name, defn.uuid)
                self.store.domains[obj.uuid] = obj
            obj.config = defn
            self._save_config(obj)
        self._emit(obj, Ev.DEFINED, Defined.UPDATED if updated else Defined.ADDED)
        return obj.ref()

    def domain_undefine(self, dom: DomainRef) -> None:
        self.domain_undefine_flags(dom, 0)

    def domain_undefine_flags(self, dom: DomainRef, flags: int = 0) -> None:
        obj = self._obj(dom)
        if obj.config is None:
            raise OperationInvalidError("cannot undefine transient domain", domain=LXC)
        with self.store.lock:
            unlink_if_exists(self.settings.config_dir / f"{obj.name}.xml")
            unlink_if_exists(self.settings.config_dir / "autostart" / f"{obj.name}.xml")
            obj.config, obj.autostart = None, False
            if not obj.active:
                self.store.domains.pop(obj.uuid, None)
        self._emit(obj, Ev.UNDEFINED, Undefined.REMOVED)

    def domain_get_xml_desc(self, dom: DomainRef, flags: int = 0) -> str:
        obj = self._obj(dom)
        inactive = bool(flags & XF.INACTIVE)
        defn = obj.config if inactive and obj.config is not None else obj.defn
        return format_domain(defn, flags, obj.id if defn is obj.live else -1, inactive=defn is not obj.live)

    def domain_get_autostart(self, dom: DomainRef) -> int:
        return int(self._obj(dom).autostart)

    def domain_set_autostart(self, dom: DomainRef, autostart: int) -> None:
        obj = self._obj(dom)
        if obj.config is None:
            raise OperationInvalidError("cannot set autostart for transient domain", domain=LXC)
        link = self.settings.config_dir / "autostart" / f"{obj.name}.xml"
        if autostart:
            if not link.is_symlink():
                try:
                    os.symlink(self.settings.config_dir / f"{obj.name}.xml", link)
                except OSError as err:
                    raise SystemError_.from_errno(err, f"Failed to create symlink '{link}'", domain=LXC) from None
        else:
            unlink_if_exists(link)
        obj.autostart = bool(autostart)

    def domain_is_active(self, dom: DomainRef) -> int:
        return int(self._obj(dom).active)

    def domain_is_persistent(self, dom: DomainRef) -> int:
        return int(self._obj(dom).config is not None)

    def domain_has_managed_save_image(self, dom: DomainRef, flags: int = 0) -> int:
        self._obj(dom)
        return 0  # containers cannot be saved

    def domain_is_updated(self, dom: DomainRef) -> int:
        return 0

    def domain_get_os_type(self, dom: DomainRef) -> str:
        return "exe"

    def domain_get_max_memory(self, dom: DomainRef) -> int:
        return int(self._obj(dom).defn.memory_kib)

    def domain_get_scheduler_type(self, dom: DomainRef) -> tuple[str, int]:
        return "posix", 3

    def domain_get_vcpus_flags(self, dom: DomainRef, flags: int = 0) -> int:
        return int(self._obj(dom).defn.vcpu.count or 1)

    def domain_get_max_vcpus(self, dom: DomainRef) -> int:
        return int(self._obj(dom).defn.vcpu.count or 1)

    # -- state -----------------------------------------------------------------------------------
    def _files(self, obj: DomainObj) -> dict[str, Path]:
        return controller.paths(self.settings.run_dir, obj.name)

    def _controller_alive(self, obj: DomainObj) -> bool:
        """Whether the controller of ``obj`` holds its pid file (a dead one's lock is gone)."""
        path = self._files(obj)["pid"]
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 0)
        except OSError:
            return True
        else:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, 0)
            return False
        finally:
            os.close(fd)

    def _refresh(self, obj: DomainObj) -> None:
        """Bring ``obj`` up to date with its controller: read its state, or finish a stop nobody saw."""
        if not obj.active:
            return
        files = self._files(obj)
        if self._controller_alive(obj):
            try:
                obj.runtime = json.loads(files["state"].read_text())
            except (OSError, ValueError):
                pass  # still starting: keep what we know
            return
        self._finish_stop(obj)

    def _finish_stop(self, obj: DomainObj, event: bool = True) -> None:
        """The controller is gone: record why, remove what it may have left, emit the stopped event once."""
        files = self._files(obj)
        with self.store.lock:
            if obj.live is None:
                return
            try:
                reason = json.loads(files["exit"].read_text()).get("reason", "crashed")
            except (OSError, ValueError):
                reason = "crashed"  # the controller died without a word
            cgroup_dirs = obj.runtime.get("cgroup")
            if cgroup_dirs or obj.runtime == {}:
                try:
                    # Without the controller's state (it died starting), its group has the usual name.
                    leftover = (Cgroup.from_dict(cgroup_dirs) if cgroup_dirs
                                else Cgroup.machine(obj.name, "lxc"))
                    if leftover.exists():
                        _thaw(leftover)
                        leftover.kill_all()
                        leftover.remove()
                except VirtError:
                    pass
            for key in ("state", "sock", "pid"):
                unlink_if_exists(files[key])
            try:
                os.rmdir(files["root"])
            except OSError:
                pass
            unlink_if_exists(self.settings.run_dir / f"{obj.name}.xml")
            try:
                self._network_ports(obj.live, acquire=False)
            except VirtError:
                pass  # the network driver is not there any more: nothing to give back
            obj.live, obj.runtime = None, {}
            obj.stop_reason, detail = _STOP_REASONS.get(reason, _STOP_REASONS["crashed"])
            if obj.config is None:
                self.store.domains.pop(obj.uuid, None)
        if event:
            self._emit(obj, Ev.STOPPED, detail)

    def _cgroup(self, obj: DomainObj) -> Cgroup:
        dirs = obj.runtime.get("cgroup")
        if not dirs:
            raise OperationInvalidError("cgroup of the container is not known yet", domain=LXC)
        return Cgroup.from_dict(dirs)

    def _state(self, obj: DomainObj) -> tuple[int, int]:
        if not obj.active:
            return S.SHUTOFF, obj.stop_reason
        try:
            group = self._cgroup(obj)
            if group.has("freezer") and group.freezer_state() != "THAWED":
                return S.PAUSED, DomainPausedReason.USER
        except VirtError:
            pass
        return S.RUNNING, DomainRunningReason.BOOTED

    def domain_get_state(self, dom: DomainRef, flags: int = 0) -> tuple[int, int]:
        state, reason = self._state(self._obj(dom))
        return int(state), int(reason)

    def domain_get_info(self, dom: DomainRef) -> DomainInfo:
        obj = self._obj(dom)
        defn = obj.defn
        state = self._state(obj)[0]
        memory, cpu_time = int(defn.current_memory_kib), 0
        if obj.active:
            try:
                group = self._cgroup(obj)
                cpu_time = group.cpu_time()
                memory = group.memory_usage() if group.has("memory") else memory
            except VirtError:
                pass
        return DomainInfo(int(state), int(defn.memory_kib), memory, int(defn.vcpu.count or 1), cpu_time)

    def domain_get_id(self, dom: DomainRef) -> int:
        return self._obj(dom).id

    # -- life cycle ------------------------------------------------------------------------------
    @contextmanager
    def _domain_lock(self, obj: DomainObj) -> Iterator[None]:
        """Serialise starts and stops of one container across threads and processes."""
        make_dirs(self.settings.run_dir, 0o755)
        fd = os.open(self.settings.run_dir / f"{obj.name}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            with self.store.lock:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
        finally:
            os.close(fd)

    def _network_bridge(self, name: str) -> str:
        from virt.core.connection import Connection

        conn = Connection(str(self.uri))
        try:
            net = conn.lookup_network(name)
            if not net.is_active():
                raise OperationInvalidError(f"network '{name}' is not active", domain=LXC)
            return str(net.bridge_name())
        finally:
            conn.close()

    def _network_ports(self, defn: Any, *, acquire: bool) -> dict[str, dict[str, dict[str, int]]]:
        """Acquire (or release) the network ports of ``defn``'s interfaces on virtual networks."""
        from virt.driver.lxc import netports

        if not any(iface.type == "network" for iface in defn.devices.interfaces):
            return {}
        from virt.core.connection import Connection

        conn = Connection(str(self.uri))
        try:
            if acquire:
                return netports.acquire(conn, defn)
            netports.release(conn, defn)
            return {}
        finally:
            conn.close()

    def _start(self, obj: DomainObj, defn: Any, paused: bool, fresh: bool = False, files: Sequence[int] = ()) -> None:
        """Run ``defn`` (copied first unless ``fresh``: a definition nobody else holds); ``files``
        become init's descriptors 3, 4... (the controller inherits them while it starts)."""
        live = defn if fresh else _copy(defn)
        settled = self._network_ports(live, acquire=True)
        status = self.settings.run_dir / f"{obj.name}.xml"
        try:
            container = spec.build(live, str(self.settings.run_dir), str(self.settings.log_dir / f"{obj.name}.log"),
                                   self._network_bridge)
            for nic in container.nics:  # what the network settled on: the interface's, or its port group's
                if nic.mac.lower() in settled:
                    nic.bandwidth = settled[nic.mac.lower()]
            container.passfds = [int(fd) for fd in files]
            controller.replace_file(status, format_domain(live, XF.SECURE), mode=0o600)
            report = controller.launch(container)
        except BaseException:
            unlink_if_exists(status)
            self._network_ports(live, acquire=False)
            raise
        _fill_runtime(live, report)
        obj.live, obj.runtime = live, report
        controller.replace_file(status, format_domain(live, XF.SECURE, obj.id), mode=0o600)
        self._emit(obj, Ev.STARTED, Started.BOOTED)
        if paused:
            _thaw_or_freeze(self._cgroup(obj), freeze=True)
            self._emit(obj, Ev.SUSPENDED, Suspended.PAUSED)
        if self._monitor is not None:
            self._monitor.wake()

    def domain_create(self, dom: DomainRef) -> DomainRef:
        return self.domain_create_with_flags(dom, 0)

    def domain_create_with_flags(self, dom: DomainRef, flags: int = 0) -> DomainRef:
        return self._create(dom, flags, (), "domain_create_with_flags")

    def domain_create_with_files(self, dom: DomainRef, files: Sequence[int], flags: int = 0) -> DomainRef:
        """virDomainCreateWithFiles: the files become init's descriptors 3, 4... (LISTEN_FDS set)."""
        return self._create(dom, flags, files, "domain_create_with_files")

    def _create(self, dom: DomainRef, flags: int, files: Sequence[int], call: str) -> DomainRef:
        self.check_writable(call)
        obj = self._obj(dom)
        with self._domain_lock(obj):
            self._refresh(obj)
            if obj.active:
                raise OperationInvalidError("domain is already running", domain=LXC)
            self._start(obj, obj.config, paused=bool(flags & 1), files=files)
        return obj.ref()

    def domain_create_xml(self, xml: str, flags: int = 0) -> DomainRef:
        return self.domain_create_xml_with_files(xml, (), flags, "domain_create_xml")

    def domain_create_xml_with_files(self, xml: str, files: Sequence[int], flags: int = 0,
                                     call: str = "domain_create_xml_with_files") -> DomainRef:
        """virDomainCreateXMLWithFiles: a transient container whose init gets ``files`` as 3, 4..."""
        self.check_writable(call)
        defn = parse_domain(xml, validate=bool(flags & 16))
        with self.store.lock:
            obj = self._check_unique(defn)
            if obj is not None and obj.active:
                raise OperationInvalidError(f"domain '{obj.name}' is already active", domain=LXC)
            new = obj is None
            if obj is None:
                obj = DomainObj(defn.name, defn.uuid)
                self.store.domains[obj.uuid] = obj
        try:
            with self._domain_lock(obj):
                self._start(obj, defn, paused=bool(flags & 1), fresh=True, files=files)
        except BaseException:
            if new:
                with self.store.lock:
                    self.store.domains.pop(obj.uuid, None)
            raise
        return obj.ref()

    def domain_destroy(self, dom: DomainRef) -> None:
        self.domain_destroy_flags(dom, 0)

    def domain_destroy_flags(self, dom: DomainRef, flags: int = 0) -> None:
        self.check_writable("domain_destroy_flags")
        obj = self._active(dom)
        with self._domain_lock(obj):
            self._refresh(obj)
            if not obj.active:
                raise OperationInvalidError("domain is not running", domain=LXC)
            group = self._cgroup(obj)
            if flags & 1:  # graceful: SIGTERM only, and fail rather than kill if they do not go
                _thaw(group)
                group.kill_all(signal.SIGTERM)
                deadline = time.monotonic() + GRACEFUL_TIMEOUT
                while group.pids() and time.monotonic() < deadline:
                    time.sleep(0.05)
                if group.pids():
                    raise OperationTimeoutError(f"Failed to terminate process {obj.runtime.get('init_pid')} with "
                                                "SIGTERM: Device or resource busy", domain=LXC)
            _thaw(group)
            pid = int(obj.runtime.get("pid", 0))
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + DESTROY_TIMEOUT
            # Done when the controller has exited, not merely released its pid file.
            while self._controller_alive(obj) or is_alive(pid):
                if time.monotonic() >= deadline:
                    raise OperationFailedError(f"controller {pid} of '{obj.name}' did not stop", domain=LXC)
                time.sleep(0.002)
            self._finish_stop(obj)

    def _signal_init(self, obj: DomainObj, sig: int, what: str) -> None:
        init = int(obj.runtime.get("init_pid", 0))
        if init <= 0:
            raise OperationInvalidError("Init process ID is not yet known", domain=LXC)
        try:
            os.kill(init, sig)
        except ProcessLookupError:
            pass
        except OSError as err:
            raise SystemError_.from_errno(err, f"Unable to send {what} to init pid {init}", domain=LXC) from None

    def domain_shutdown(self, dom: DomainRef) -> None:
        self.domain_shutdown_flags(dom, 0)

    def domain_shutdown_flags(self, dom: DomainRef, flags: int = 0) -> None:
        """Ask init to stop: SIGTERM (the "signal" method; /dev/initctl is not offered)."""
        self.check_writable("domain_shutdown_flags")
        obj = self._active(dom)
        if flags and not flags & 8:
            raise OperationUnsupportedError("Container does not provide an initctl pipe", domain=LXC)
        self._signal_init(obj, signal.SIGTERM, "SIGTERM")

    def domain_reboot(self, dom: DomainRef, flags: int = 0) -> None:
        """Ask init to reboot (SIGHUP); the controller restarts the container when init dies of it."""
        self.check_writable("domain_reboot")
        obj = self._active(dom)
        if flags and not flags & 8:
            raise OperationUnsupportedError("Container does not provide an initctl pipe", domain=LXC)
        self._signal_init(obj, signal.SIGHUP, "SIGHUP")

    def domain_suspend(self, dom: DomainRef) -> None:
        self.check_writable("domain_suspend")
        obj = self._active(dom)
        group = self._cgroup(obj)
        if self._state(obj)[0] != S.PAUSED:
            _thaw_or_freeze(group, freeze=True)
            self._emit(obj, Ev.SUSPENDED, Suspended.PAUSED)

    def domain_resume(self, dom: DomainRef) -> None:
        self.check_writable("domain_resume")
        obj = self._active(dom)
        if self._state(obj)[0] != S.PAUSED:
            raise OperationInvalidError("domain is not paused", domain=LXC)
        _thaw_or_freeze(self._cgroup(obj), freeze=False)
        self._emit(obj, Ev.RESUMED, Resumed.UNPAUSED)

    def domain_open_console(self, dom: DomainRef, dev_name: str | None = None, flags: int = 0) -> int:
        """An open descriptor on the host side of a console (the caller closes it)."""
        obj = self._active(dom)
        ttys: list[str] = obj.runtime.get("ttys", [])
        index = 0
        if dev_name:
            aliases = [f"console{i}" for i in range(len(ttys))]
            if dev_name not in aliases:
                raise InternalError(f"cannot find console device '{dev_name}'", domain=LXC)
            index = aliases.index(dev_name)
        if not ttys:
            raise OperationUnsupportedError("character device has no pty", domain=LXC)
        try:
            return os.open(ttys[index], os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError as err:
            raise SystemError_.from_errno(err, f"Unable to open console {ttys[index]}", domain=LXC) from None

    # -- events and autostart --------------------------------------------------------------------
    def _emit(self, obj: DomainObj, event: int, detail: int) -> None:
        self.events.emit("domain", DomainEventID.LIFECYCLE, obj.ref(), int(event), int(detail))

    def _autostart(self) -> None:
        """Start autostart domains once per host boot (libvirt does it when its daemon starts)."""
        if self.readonly or self.settings in LxcDriver._autostarted:
            return
        LxcDriver._autostarted.add(self.settings)
        marker = self.settings.run_dir / "autostarted"
        boot_id = _boot_id()
        try:
            if marker.read_text() == boot_id:
                return
        except OSError:
            pass
        atomic_write(marker, boot_id, mode=0o644)
        for obj in self._all():
            if obj.autostart and not obj.active and obj.config is not None:
                try:
                    with self._domain_lock(obj):
                        self._start(obj, obj.config, paused=False)
                except VirtError:
                    pass  # one broken container must not keep the others down


class _Monitor(threading.Thread):
    """Follows the controllers' event sockets for one connection: stops and reboots nobody asked for."""

    def __init__(self, drv: LxcDriver) -> None:
        super().__init__(name="virt-lxc-monitor", daemon=True)
        self.drv = drv
        self.socks: dict[str, tuple[socket.socket, DomainObj]] = {}
        self.stopping = False
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def wake(self) -> None:
        try:
            os.write(self.wake_w, b"x")
        except OSError:
            pass

    def stop(self) -> None:
        self.stopping = True
        self.wake()
        self.join(timeout=5)

    def _connect(self) -> None:
        for obj in self.drv._all():
            if not obj.active or obj.uuid in self.socks:
                continue
            path = self.drv._files(obj)["sock"]
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            try:
                sock.connect(str(path))
            except OSError:
                sock.close()
                continue
            self.socks[obj.uuid] = (sock, obj)

    def run(self) -> None:
        import select

        buffers: dict[str, bytes] = {}
        while not self.stopping:
            self._connect()
            fds: list[Any] = [self.wake_r] + [s for s, _ in self.socks.values()]
            ready, _, _ = select.select(fds, [], [], 0.5)
            if self.wake_r in ready:
                try:
                    os.read(self.wake_r, 512)
                except OSError:
                    pass
            for uuid, (sock, obj) in list(self.socks.items()):
                if sock not in ready:
                    continue
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    sock.close()
                    del self.socks[uuid]
                    # The controller closed its socket: it is exiting; wait for its pid file to go.
                    deadline = time.monotonic() + 5
                    while self.drv._controller_alive(obj) and time.monotonic() < deadline:
                        time.sleep(0.01)
                    self.drv._refresh(obj)
                    continue
                buffers[uuid] = buffers.get(uuid, b"") + data
                *lines, buffers[uuid] = buffers[uuid].split(b"\n")
                for line in lines:
                    try:
                        message = json.loads(line)
                    except ValueError:
                        continue
                    if message.get("event") == "reboot":
                        self.drv.events.emit("domain", DomainEventID.REBOOT, obj.ref())
        for sock, _ in self.socks.values():
            sock.close()
        os.close(self.wake_r)
        os.close(self.wake_w)


# ----------------------------------------------------------------------------------------- helpers
def _fill_runtime(live: Any, report: dict[str, Any]) -> None:
    """Live-only data of a running container in its live XML: console ptys, host veth names."""
    from virt.conf.domain.devices.chardev import ChrSourceEl
    from virt.conf.domain.devices.net import NetTarget

    for console, path in zip(live.devices.consoles, report.get("ttys", []), strict=False):
        console.sources = [ChrSourceEl(path=path)]
    veths = iter(report.get("veths", []))
    for iface in live.devices.interfaces:
        if iface.type in ("bridge", "network", "ethernet"):
            dev = next(veths, None)
            if dev is not None:
                iface.target = NetTarget(dev=dev)


def _thaw(group: Cgroup) -> None:
    try:
        if group.has("freezer") and group.exists() and group.freezer_state() != "THAWED":
            group.thaw()
    except VirtError:
        pass


def _thaw_or_freeze(group: Cgroup, freeze: bool) -> None:
    if not group.has("freezer"):
        raise OperationUnsupportedError("Unable to freeze domain: no freezer cgroup on this host", domain=LXC)
    if freeze:
        group.freeze()
    else:
        group.thaw()


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return str(int(time.time() - time.monotonic()))


def _host_uuid() -> str:
    try:
        return str(uuidlib.UUID(Path("/etc/machine-id").read_text().strip()))
    except (OSError, ValueError):
        return str(uuidlib.uuid5(uuidlib.NAMESPACE_DNS, socket.gethostname()))
