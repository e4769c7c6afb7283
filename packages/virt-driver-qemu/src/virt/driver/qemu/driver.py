"""The QEMU hypervisor driver: qemu:///system, qemu:///session and qemu:///embed?root=DIR.

A connection is a thin adapter: the guests, their files and their QEMU processes belong to the
process-wide ``QemuHost`` of the URI (``virt.driver.qemu.host``); starting and stopping is in
``lifecycle``, QMP events in ``events``, devices in ``hotplug``, save images in ``saveimage``,
snapshots in ``snapshots``, statistics in ``stats`` and raw monitor commands in ``monitor_api``.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
from copy import deepcopy
from pathlib import Path
from typing import Any, ClassVar

from virt.core.driver import Driver, ListingFromListAll
from virt.core.enums import ConnectListAllDomainsFlags as LF
from virt.core.enums import DomainCreateFlags as CF
from virt.core.enums import DomainDestroyFlags as DF
from virt.core.enums import DomainEventDefinedDetail as Defined
from virt.core.enums import (
    DomainEventID,
    DomainPausedReason,
    DomainRunningReason,
    DomainShutoffReason,
)
from virt.core.enums import DomainEventResumedDetail as Resumed
from virt.core.enums import DomainEventStoppedDetail as Stopped
from virt.core.enums import DomainEventSuspendedDetail as Suspended
from virt.core.enums import DomainEventType as Ev
from virt.core.enums import DomainEventUndefinedDetail as Undefined
from virt.core.enums import DomainMemoryModFlags as MF
from virt.core.enums import DomainModificationImpact as MI
from virt.core.enums import DomainRebootFlags as RF
from virt.core.enums import DomainShutdownFlags as SF
from virt.core.enums import DomainState as S
from virt.core.enums import DomainUndefineFlags as UF
from virt.core.enums import DomainVcpuFlags as VF
from virt.core.enums import DomainXMLFlags as XF
from virt.core.events import EventBus
from virt.core.types import DomainInfo, DomainRef, NodeInfo, VcpuInfo
from virt.core.uri import URI
from virt.driver.qemu import definition as D
from virt.driver.qemu import lifecycle as L
from virt.driver.qemu import xmlutil as X
from virt.driver.qemu.agent import AgentCalls
from virt.driver.qemu.caps import QemuCaps, find_emulator, load_caps
from virt.driver.qemu.host import QemuHost, host_for
from virt.driver.qemu.monitor_api import MonitorCalls
from virt.driver.qemu.snapshots import SnapshotCalls
from virt.driver.qemu.state import DomainObj, Settings, process_cpu_time
from virt.util.errors import (
    ErrorDomain,
    ErrorNumber,
    ExistsError,
    InternalError,
    InvalidArgError,
    OperationFailedError,
    OperationInvalidError,
    OperationUnsupportedError,
    SystemError_,
    VirtError,
    not_found,
)
from virt.util.fileutil import atomic_write, unlink_if_exists

QEMU = ErrorDomain.QEMU
#: libvirt reports its own version as the library version.
LIB_VERSION = 9000000
#: How long a graceful stop waits before giving up (libvirt's qemuProcessKill).
GRACEFUL_TIMEOUT = 10.0


def _impact(obj: DomainObj, flags: int) -> tuple[bool, bool]:
    """(live, config) a call with ``flags`` affects (virDomainObjUpdateModificationImpact)."""
    if not flags & (MI.LIVE | MI.CONFIG):
        flags |= MI.LIVE if obj.active else MI.CONFIG
    if flags & MI.LIVE and not obj.active:
        raise OperationInvalidError("domain is not running", domain=QEMU)
    if flags & MI.CONFIG and not obj.persistent:
        raise OperationInvalidError("transient domains do not have any persistent config", domain=QEMU)
    return bool(flags & MI.LIVE), bool(flags & MI.CONFIG)


class QemuDriver(ListingFromListAll, SnapshotCalls, AgentCalls, MonitorCalls, Driver):
    """Runs QEMU guests. Every connection to the same URI in this process shares one ``QemuHost``."""

    name: ClassVar[str] = "qemu"
    uri_schemes: ClassVar[tuple[str, ...]] = ("qemu",)

    def __init__(self, uri: URI, *, readonly: bool = False, events: EventBus | None = None) -> None:
        super().__init__(uri, readonly=readonly, events=events)
        self.settings = Settings.for_uri(uri)
        self.mode = self.settings.mode
        self.host: QemuHost = host_for(self.settings)
        self.host.attach_bus(self.events)
        if not readonly:
            from virt.driver.qemu import autostart

            autostart.run_once(self.host)

    def close(self) -> None:
        self.host.detach_bus(self.events)

    # -- the host ---------------------------------------------------------------------------------
    def _caps(self, emulator: str | None = None) -> QemuCaps:
        binary = emulator or find_emulator("x86_64")
        if binary is None:
            return load_caps(None, None)  # raises the "install qemu-system-x86" error
        return self.host.caps(binary)

    def connect_get_type(self) -> str:
        return "QEMU"

    def connect_get_version(self) -> int:
        return self._caps().version

    def connect_get_lib_version(self) -> int:
        return LIB_VERSION

    def connect_get_hostname(self) -> str:
        return socket.gethostname()

    def connect_get_uri(self) -> str:
        return str(self.uri)

    def connect_is_secure(self) -> int:
        return 1

    def connect_is_encrypted(self) -> int:
        return 0

    def connect_is_alive(self) -> int:
        return 1

    def connect_get_capabilities(self) -> str:
        from virt.driver.qemu.domcaps import host_capabilities

        binaries = [self._caps(b) for b in (find_emulator("x86_64"),) if b]
        return host_capabilities(binaries).format()

    def connect_get_domain_capabilities(self, emulator: str | None, arch: str | None, machine: str | None,
                                        virttype: str | None, flags: int = 0) -> str:
        from virt.driver.qemu.domcaps import domain_capabilities

        binary = emulator or find_emulator(arch or "x86_64")
        if binary is None:
            raise OperationFailedError(f"unable to find any emulator to serve '{arch or 'x86_64'}' architecture",
                                       domain=QEMU)
        if not os.path.exists(binary):
            raise InvalidArgError(f"Cannot check QEMU binary {binary}: No such file or directory")
        return domain_capabilities(self._caps(binary), virt_type=virttype, machine=machine, arch=arch).format()

    def connect_get_max_vcpus(self, type: str | None = None) -> int:
        from virt.driver.qemu.domcaps import kvm_max_vcpus

        if type and type.lower() == "qemu":
            return 1024
        return kvm_max_vcpus() or 255

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

    def node_get_free_memory(self) -> int:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemFree:"):
                return int(line.split()[1]) * 1024
        return 0

    def connect_domain_event_register_any(self, event_id: int, *args: Any) -> int:
        return 0  # every event of the host reaches this connection's bus already

    def connect_domain_event_deregister_any(self, callback_id: int) -> None:
        return None

    def connect_domain_xml_to_native(self, native_format: str, xml: str, flags: int = 0) -> str:
        if native_format != "qemu-argv":
            raise InvalidArgError(f"unsupported config type {native_format}", domain=QEMU)
        from virt.driver.qemu.argv import to_native

        return to_native(xml)

    # -- lookups ------------------------------------------------------------------------------------
    def _obj(self, dom: DomainRef) -> DomainObj:
        with self.host.lock:
            obj = self.host.domains.get(dom.uuid)
        if obj is None:
            raise not_found(ErrorNumber.NO_DOMAIN, f"no domain with matching uuid '{dom.uuid}' ({dom.name})", QEMU)
        return obj

    def _active(self, dom: DomainRef) -> DomainObj:
        obj = self._obj(dom)
        if not obj.active:
            raise OperationInvalidError("domain is not running", domain=QEMU)
        return obj

    def domain_lookup_by_name(self, name: str) -> DomainRef:
        obj = self.host.by_name(name)
        if obj is None:
            raise not_found(ErrorNumber.NO_DOMAIN, f"no domain with matching name '{name}'", QEMU)
        return obj.ref()

    def domain_lookup_by_uuid(self, uuid: str) -> DomainRef:
        with self.host.lock:
            obj = self.host.domains.get(str(uuid).lower())
        if obj is None:
            raise not_found(ErrorNumber.NO_DOMAIN, f"no domain with matching uuid '{uuid}'", QEMU)
        return obj.ref()

    def domain_lookup_by_id(self, id: int) -> DomainRef:
        obj = self.host.find(lambda o: o.active and o.id == id)
        if obj is None:
            raise not_found(ErrorNumber.NO_DOMAIN, f"no domain with matching id {id}", QEMU)
        return obj.ref()

    def _all(self) -> list[DomainObj]:
        with self.host.lock:
            return list(self.host.domains.values())

    def connect_list_all_domains(self, flags: int = 0) -> list[DomainRef]:
        from virt.driver.qemu import snapshots

        groups = (
            (LF.ACTIVE | LF.INACTIVE, lambda o: LF.ACTIVE if o.active else LF.INACTIVE),
            (LF.PERSISTENT | LF.TRANSIENT, lambda o: LF.PERSISTENT if o.persistent else LF.TRANSIENT),
            (LF.RUNNING | LF.PAUSED | LF.SHUTOFF | LF.OTHER,
             lambda o: {S.RUNNING: LF.RUNNING, S.PAUSED: LF.PAUSED, S.SHUTOFF: LF.SHUTOFF}.get(S(o.state), LF.OTHER)),
            (LF.MANAGEDSAVE | LF.NO_MANAGEDSAVE,
             lambda o: LF.MANAGEDSAVE if self._has_managed_save(o) else LF.NO_MANAGEDSAVE),
            (LF.AUTOSTART | LF.NO_AUTOSTART, lambda o: LF.AUTOSTART if o.autostart else LF.NO_AUTOSTART),
            (LF.HAS_SNAPSHOT | LF.NO_SNAPSHOT,
             lambda o: LF.HAS_SNAPSHOT if snapshots.count(self.host, o) else LF.NO_SNAPSHOT),
            (LF.HAS_CHECKPOINT | LF.NO_CHECKPOINT, lambda o: LF.NO_CHECKPOINT),
        )
        selected = [(mask & flags, match) for mask, match in groups if mask & flags]
        out = [o.ref() for o in self._all() if all(match(o) & sel for sel, match in selected)]
        return sorted(out, key=lambda r: r.name)

    # -- definitions --------------------------------------------------------------------------------
    def _parse(self, xml: str, validate: bool = False, defaults: bool = True) -> Any:
        return D.parse_definition(xml, self.host.caps, self.host.cfg, validate=validate, defaults=defaults)

    def _check_unique(self, name: str, uuid: str, live: bool = False) -> DomainObj | None:
        """virDomainObjListAdd's checks: the same UUID must have the same name and vice versa."""
        with self.host.lock:
            same_uuid = self.host.domains.get(uuid)
            same_name = self.host.by_name(name)
        if same_uuid is not None:
            if same_uuid.name != name:
                if same_uuid.active:
                    raise ExistsError(f"domain '{same_uuid.name}' is already active",
                                      code=ErrorNumber.OPERATION_INVALID, domain=QEMU)
                raise ExistsError(f"domain '{same_uuid.name}' is already defined with uuid {uuid}",
                                  code=ErrorNumber.OPERATION_FAILED, domain=QEMU)
            if live and same_uuid.active:
                raise ExistsError(f"domain '{name}' is already active", code=ErrorNumber.OPERATION_INVALID,
                                  domain=QEMU)
        elif same_name is not None:
            raise ExistsError(f"domain '{name}' already exists with uuid {same_name.uuid}",
                              code=ErrorNumber.OPERATION_FAILED, domain=QEMU)
        return same_uuid

    def _save_config(self, obj: DomainObj) -> None:
        assert obj.config is not None
        atomic_write(self.settings.config_file(obj.name),
                     D.format_definition(obj.config, secure=True, inactive=True), mode=0o600)

    def domain_define_xml(self, xml: str) -> DomainRef:
        return self.domain_define_xml_flags(xml, 0)

    def domain_define_xml_flags(self, xml: str, flags: int = 0) -> DomainRef:
        self.check_writable("domain_define_xml_flags")
        tree = self._parse(xml, validate=bool(flags & 1))
        name, uuid = D.name_of(tree), D.uuid_of(tree)
        with self.host.lock:
            obj = self._check_unique(name, uuid)
            updated = obj is not None and obj.config is not None
            if obj is None:
                obj = DomainObj(name, uuid)
                self.host.domains[uuid] = obj
            old = obj.config
            obj.config = tree
            try:
                self._save_config(obj)
            except BaseException:
                obj.config = old
                if old is None and not obj.active:
                    self.host.domains.pop(uuid, None)
                raise
        L.emit_lifecycle(self.host, obj, Ev.DEFINED, Defined.UPDATED if updated else Defined.ADDED)
        return obj.ref()

    def domain_undefine(self, dom: DomainRef) -> None:
        self.domain_undefine_flags(dom, 0)

    def domain_undefine_flags(self, dom: DomainRef, flags: int = 0) -> None:
        from virt.driver.qemu import snapshots

        self.check_writable("domain_undefine_flags")
        obj = self._obj(dom)
        with obj.job:
            if obj.config is None:
                raise OperationInvalidError("cannot undefine transient domain", domain=QEMU)
            save = self.settings.managed_save_file(obj.name)
            if save.exists():
                if not flags & UF.MANAGED_SAVE:
                    raise OperationInvalidError("Refusing to undefine while domain managed save image exists",
                                                domain=QEMU)
                unlink_if_exists(save)
            nsnap = snapshots.count(self.host, obj)
            if nsnap and not obj.active and not flags & (UF.SNAPSHOTS_METADATA):
                raise OperationInvalidError(f"cannot delete inactive domain with {nsnap} snapshots",
                                            domain=QEMU)
            if nsnap and flags & UF.SNAPSHOTS_METADATA:
                snapshots.drop_metadata(self.host, obj)
            with self.host.lock:
                unlink_if_exists(self.settings.config_file(obj.name))
                unlink_if_exists(self.settings.autostart_link(obj.name))
                unlink_if_exists(self.settings.stopped_file(obj.name))
                obj.config, obj.autostart = None, False
                if not obj.active:
                    self.host.domains.pop(obj.uuid, None)
        L.emit_lifecycle(self.host, obj, Ev.UNDEFINED, Undefined.REMOVED)

    def domain_get_xml_desc(self, dom: DomainRef, flags: int = 0) -> str:
        obj = self._obj(dom)
        secure = bool(flags & XF.SECURE)
        with self.host.lock:
            if obj.active and not flags & XF.INACTIVE:
                tree, inactive, dom_id = deepcopy(obj.live), False, obj.id
            else:
                tree, inactive, dom_id = deepcopy(obj.config if obj.config is not None else obj.live), True, -1
        if tree is None:
            raise OperationInvalidError("domain has no definition", domain=QEMU)
        if inactive:
            X.strip_private(tree)  # a transient guest's only definition is its live one
        return D.format_definition(tree, secure=secure, inactive=inactive, dom_id=dom_id)

    def domain_get_autostart(self, dom: DomainRef) -> int:
        return int(self._obj(dom).autostart)

    def domain_set_autostart(self, dom: DomainRef, autostart: int) -> None:
        self.check_writable("domain_set_autostart")
        obj = self._obj(dom)
        if obj.config is None:
            raise OperationInvalidError("cannot set autostart for transient domain", domain=QEMU)
        link = self.settings.autostart_link(obj.name)
        if autostart:
            if not link.is_symlink():
                try:
                    os.symlink(self.settings.config_file(obj.name), link)
                except OSError as err:
                    raise SystemError_.from_errno(err, f"Failed to create symlink '{link}' to "
                                                  f"'{self.settings.config_file(obj.name)}'", domain=QEMU) from None
        else:
            unlink_if_exists(link)
        obj.autostart = bool(autostart)

    def domain_is_active(self, dom: DomainRef) -> int:
        return int(self._obj(dom).active)

    def domain_is_persistent(self, dom: DomainRef) -> int:
        return int(self._obj(dom).persistent)

    def domain_is_updated(self, dom: DomainRef) -> int:
        return 0

    def domain_get_os_type(self, dom: DomainRef) -> str:
        return X.text(self._obj(dom).defn, "os/type") or "hvm"

    def domain_get_id(self, dom: DomainRef) -> int:
        return self._obj(dom).ref().id

    # -- life cycle ---------------------------------------------------------------------------------
    def domain_create(self, dom: DomainRef) -> DomainRef:
        return self.domain_create_with_flags(dom, 0)

    def domain_create_with_flags(self, dom: DomainRef, flags: int = 0) -> DomainRef:
        from virt.driver.qemu import saveimage

        self.check_writable("domain_create_with_flags")
        obj = self._obj(dom)
        with obj.job:
            if obj.active:
                raise OperationInvalidError("domain is already running", domain=QEMU)
            assert obj.config is not None
            image = self.settings.managed_save_file(obj.name)
            if image.exists() and not flags & CF.FORCE_BOOT:
                saveimage.restore(self.host, obj, image, paused=True if flags & CF.PAUSED else None, managed=True)
            else:
                if flags & CF.FORCE_BOOT:
                    unlink_if_exists(image)
                L.start(self.host, obj, obj.config, paused=bool(flags & CF.PAUSED))
        return obj.ref()

    def domain_create_xml(self, xml: str, flags: int = 0) -> DomainRef:
        self.check_writable("domain_create_xml")
        tree = self._parse(xml, validate=bool(flags & CF.VALIDATE), defaults=False)
        name, uuid = D.name_of(tree), D.uuid_of(tree)
        with self.host.lock:
            obj = self._check_unique(name, uuid, live=True)
            new = obj is None
            if obj is None:
                obj = DomainObj(name, uuid)
                self.host.domains[uuid] = obj
        try:
            with obj.job:
                if obj.active:
                    raise OperationInvalidError(f"domain '{name}' is already active", domain=QEMU)
                L.start(self.host, obj, tree, paused=bool(flags & CF.PAUSED))
        except BaseException:
            if new:
                with self.host.lock:
                    if not obj.active:
                        self.host.domains.pop(uuid, None)
            raise
        return obj.ref()

    def domain_destroy(self, dom: DomainRef) -> None:
        self.domain_destroy_flags(dom, 0)

    def domain_destroy_flags(self, dom: DomainRef, flags: int = 0) -> None:
        self.check_writable("domain_destroy_flags")
        obj = self._active(dom)
        obj.being_destroyed = True  # before the job: the EOF of a dying QEMU must not race us
        with obj.job:
            if not obj.active:
                obj.being_destroyed = False
                raise OperationInvalidError("domain is not running", domain=QEMU)
            ref = obj.ref()
            if not L.kill_and_cleanup(self.host, obj, DomainShutoffReason.DESTROYED,
                                      graceful=bool(flags & DF.GRACEFUL)):
                raise SystemError_(f"Failed to terminate process {obj.pid} with SIGTERM: "
                                   "Device or resource busy", domain=QEMU)
        self.host.emit("domain", DomainEventID.LIFECYCLE, ref, int(Ev.STOPPED), int(Stopped.DESTROYED))

    def _agent_or_acpi(self, obj: DomainObj, flags: int, what: str) -> str:
        """The method a shutdown or reboot uses: the guest agent when asked for (and present), else ACPI."""
        from virt.driver.qemu import agent

        allowed = SF.ACPI_POWER_BTN | SF.GUEST_AGENT
        if flags & ~allowed:
            raise OperationUnsupportedError(f"{what} mode is not supported by the QEMU driver", domain=QEMU)
        if flags & SF.GUEST_AGENT:
            if agent.channel_path(obj) is not None:
                return "agent"
            if not flags & SF.ACPI_POWER_BTN:
                raise OperationUnsupportedError("QEMU guest agent is not configured", domain=QEMU)
        if not flags and agent.connected(obj):
            return "agent"  # libvirt prefers a connected agent unless told otherwise
        return "acpi"

    def _by_agent(self, obj: DomainObj, flags: int, mode: str) -> bool:
        """Shut down or reboot through the agent; False when it failed and ACPI may be tried instead
        (the agent was not the only method asked for)."""
        from virt.driver.qemu import agent

        try:
            agent.command(obj, "guest-shutdown", {"mode": mode}, expect_reply=False)
        except VirtError:
            if flags & SF.GUEST_AGENT and not flags & SF.ACPI_POWER_BTN:
                raise
            return False
        return True

    def domain_shutdown(self, dom: DomainRef) -> None:
        self.domain_shutdown_flags(dom, 0)

    def domain_shutdown_flags(self, dom: DomainRef, flags: int = 0) -> None:

        self.check_writable("domain_shutdown_flags")
        obj = self._active(dom)
        with obj.job:
            mon = L.monitor(obj)
            if self._agent_or_acpi(obj, flags, "shutdown") == "agent" and self._by_agent(obj, flags, "powerdown"):
                return
            obj.fake_reboot = False
            mon.execute("system_powerdown")

    def domain_reboot(self, dom: DomainRef, flags: int = 0) -> None:

        self.check_writable("domain_reboot")
        obj = self._active(dom)
        with obj.job:
            mon = L.monitor(obj)
            if self._agent_or_acpi(obj, flags & ~RF.DEFAULT, "reboot") == "agent" and \
                    self._by_agent(obj, flags & ~RF.DEFAULT, "reboot"):
                return
            # ACPI: the guest powers off; the SHUTDOWN event then resets and resumes it (fake reboot).
            obj.fake_reboot = True
            try:
                mon.execute("system_powerdown")
            except VirtError:
                obj.fake_reboot = False
                raise

    def domain_reset(self, dom: DomainRef, flags: int = 0) -> None:
        self.check_writable("domain_reset")
        obj = self._active(dom)
        with obj.job:
            L.monitor(obj).execute("system_reset")
            with self.host.lock:
                if obj.state == S.CRASHED:
                    obj.set_state(S.PAUSED, DomainPausedReason.CRASHED)
            L.save_status(self.host, obj)

    def domain_suspend(self, dom: DomainRef) -> None:
        self.check_writable("domain_suspend")
        obj = self._active(dom)
        with obj.job:
            mon = L.monitor(obj)
            if obj.state == S.PMSUSPENDED:
                raise OperationInvalidError("domain is pmsuspended", domain=QEMU)
            if obj.state == S.PAUSED:
                return
            old = (obj.state, obj.reason)
            obj.set_state(S.PAUSED, DomainPausedReason.USER)
            try:
                mon.execute("stop")
            except VirtError:
                obj.set_state(*old)
                raise
            L.save_status(self.host, obj)
        L.emit_lifecycle(self.host, obj, Ev.SUSPENDED, Suspended.PAUSED)

    def domain_resume(self, dom: DomainRef) -> None:
        self.check_writable("domain_resume")
        obj = self._active(dom)
        with obj.job:
            mon = L.monitor(obj)
            if obj.state == S.PMSUSPENDED:
                raise OperationInvalidError("domain is pmsuspended", domain=QEMU)
            if obj.state not in (S.PAUSED, S.CRASHED):
                return
            old = (obj.state, obj.reason)
            obj.set_state(S.RUNNING, DomainRunningReason.UNPAUSED)
            try:
                mon.execute("cont")
            except VirtError:
                obj.set_state(*old)
                raise
            L.save_status(self.host, obj)
        L.emit_lifecycle(self.host, obj, Ev.RESUMED, Resumed.UNPAUSED)

    # -- state and info -----------------------------------------------------------------------------
    def domain_get_state(self, dom: DomainRef, flags: int = 0) -> tuple[int, int]:
        obj = self._obj(dom)
        return int(obj.state), int(obj.reason)

    def domain_get_control_info(self, dom: DomainRef, flags: int = 0) -> tuple[int, int, int]:
        obj = self._obj(dom)
        if not obj.active:
            raise OperationInvalidError("domain is not running", domain=QEMU)
        return (1 if obj.job._is_owned() else 0, 0, 0)  # type: ignore[attr-defined]

    def _cpu_time(self, obj: DomainObj) -> int:
        group = L.cgroup_of(self.host, obj)
        if group is not None:
            try:
                return group.cpu_time()
            except VirtError:
                pass
        return process_cpu_time(obj.pid)

    def domain_get_info(self, dom: DomainRef) -> DomainInfo:
        obj = self._obj(dom)
        with self.host.lock:
            tree = obj.defn
            active = obj.active
            state = obj.state
            cur, _ = D.vcpus(tree)
            max_mem, memory = D.memory_kib(tree), D.current_memory_kib(tree)
        cpu_time = self._cpu_time(obj) if active else 0
        return DomainInfo(int(state), max_mem, memory, cur, cpu_time)

    def domain_get_max_memory(self, dom: DomainRef) -> int:
        return D.memory_kib(self._obj(dom).defn)

    def domain_get_vcpus_flags(self, dom: DomainRef, flags: int = 0) -> int:
        obj = self._obj(dom)
        if flags & VF.GUEST:
            return self._guest_vcpus(obj, flags)
        live, config = _impact(obj, flags & (VF.LIVE | VF.CONFIG))
        tree = obj.live if live else obj.config
        assert tree is not None
        cur, maximum = D.vcpus(tree)
        return maximum if flags & VF.MAXIMUM else cur

    def _guest_vcpus(self, obj: DomainObj, flags: int, nvcpus: int | None = None) -> int:
        """vCPU counts as the guest agent sees and changes them (VIR_DOMAIN_VCPU_GUEST)."""
        from virt.driver.qemu import agent

        if flags & VF.CONFIG:
            raise InvalidArgError("invalid flag combination: 'config' and 'guest'", domain=QEMU)
        if not obj.active:
            raise OperationInvalidError("domain is not running", domain=QEMU)
        with obj.job:
            if nvcpus is None:
                return agent.guest_vcpu_count(obj, bool(flags & VF.MAXIMUM))
            if flags & VF.MAXIMUM:
                raise InvalidArgError("the maximum vcpu count cannot be set through the guest agent", domain=QEMU)
            agent.set_guest_vcpu_count(obj, nvcpus)
            return nvcpus

    def domain_get_max_vcpus(self, dom: DomainRef) -> int:
        return self.domain_get_vcpus_flags(dom, VF.LIVE | VF.MAXIMUM if self._obj(dom).active else VF.MAXIMUM)

    def domain_get_vcpus(self, dom: DomainRef, maxinfo: int = -1) -> list[VcpuInfo]:
        from virt.driver.qemu import stats

        obj = self._active(dom)
        infos = stats.vcpu_infos(obj)
        return infos if maxinfo < 0 else infos[:maxinfo]

    # -- memory and vcpus -----------------------------------------------------------------------------
    def domain_set_max_memory(self, dom: DomainRef, memory: int) -> None:
        self.domain_set_memory_flags(dom, memory, MF.MAXIMUM)

    def domain_set_memory(self, dom: DomainRef, memory: int) -> None:
        self.domain_set_memory_flags(dom, memory, MF.LIVE)

    def domain_set_memory_flags(self, dom: DomainRef, memory: int, flags: int = 0) -> None:
        self.check_writable("domain_set_memory_flags")
        obj = self._obj(dom)
        with obj.job:
            live, config = _impact(obj, flags & (MF.LIVE | MF.CONFIG))
            if flags & MF.MAXIMUM:
                if live:
                    raise OperationInvalidError("cannot resize the maximum memory on an active domain",
                                                domain=QEMU)
                assert obj.config is not None
                tree = deepcopy(obj.config)
                D.set_kib(tree, "memory", memory)
                if D.current_memory_kib(tree) > memory:
                    D.set_kib(tree, "currentMemory", memory)
                self._replace_config(obj, tree)
                return
            if live:
                assert obj.live is not None
                if memory > D.memory_kib(obj.live):
                    raise InvalidArgError("cannot set memory higher than max memory", domain=QEMU)
                if not D.has_balloon(obj.live):
                    raise OperationInvalidError("Unable to change memory of active domain without the balloon "
                                                "device", domain=QEMU)
                L.monitor(obj).execute("balloon", {"value": memory * 1024})
            if config:
                assert obj.config is not None
                if memory > D.memory_kib(obj.config):
                    raise InvalidArgError("cannot set memory higher than max memory", domain=QEMU)
                tree = deepcopy(obj.config)
                D.set_kib(tree, "currentMemory", memory)
                self._replace_config(obj, tree)

    def _replace_config(self, obj: DomainObj, tree: Any) -> None:
        caps = self.host.caps(D.emulator_for(tree))
        tree = D.complete(tree, caps, self.host.cfg)
        with self.host.lock:
            old, obj.config = obj.config, tree
            try:
                self._save_config(obj)
            except BaseException:
                obj.config = old
                raise

    def domain_set_vcpus(self, dom: DomainRef, nvcpus: int) -> None:
        self.domain_set_vcpus_flags(dom, nvcpus, VF.LIVE)

    def domain_set_vcpus_flags(self, dom: DomainRef, nvcpus: int, flags: int = 0) -> None:
        from virt.driver.qemu import hotplug

        self.check_writable("domain_set_vcpus_flags")
        if nvcpus < 1:
            raise InvalidArgError("argument unsupported: requested vcpus is greater than max allowable vcpus"
                                  if nvcpus > 0 else "Requested vcpus must be greater than zero", domain=QEMU)
        obj = self._obj(dom)
        if flags & VF.GUEST:
            self._guest_vcpus(obj, flags, nvcpus)
            return
        with obj.job:
            live, config = _impact(obj, flags & (VF.LIVE | VF.CONFIG))
            if flags & VF.MAXIMUM:
                if live:
                    raise InvalidArgError("maximum vcpu count of a live domain can't be modified", domain=QEMU)
                assert obj.config is not None
                tree = deepcopy(obj.config)
                D.set_vcpus(tree, maximum=nvcpus)
                self._replace_config(obj, tree)
                return
            for which, defn in (("live", obj.live if live else None), ("persistent", obj.config if config else None)):
                if defn is not None and nvcpus > D.vcpus(defn)[1]:
                    raise InvalidArgError(f"requested vcpus is greater than max allowable vcpus for the {which} "
                                          f"domain: {nvcpus} > {D.vcpus(defn)[1]}", domain=QEMU)
            if live:
                hotplug.set_vcpus(self.host, obj, nvcpus)
            if config:
                assert obj.config is not None
                tree = deepcopy(obj.config)
                D.set_vcpus(tree, current=nvcpus)
                self._replace_config(obj, tree)

    # -- save, restore, dumps, screenshots -----------------------------------------------------------
    def _has_managed_save(self, obj: DomainObj) -> bool:
        return self.settings.managed_save_file(obj.name).exists()

    def domain_has_managed_save_image(self, dom: DomainRef, flags: int = 0) -> int:
        return int(self._has_managed_save(self._obj(dom)))

    def domain_managed_save_remove(self, dom: DomainRef, flags: int = 0) -> None:
        self.check_writable("domain_managed_save_remove")
        obj = self._obj(dom)
        with obj.job:
            unlink_if_exists(self.settings.managed_save_file(obj.name))

    def domain_managed_save(self, dom: DomainRef, flags: int = 0) -> None:
        from virt.driver.qemu import saveimage

        self.check_writable("domain_managed_save")
        obj = self._active(dom)
        if not obj.persistent:
            raise OperationInvalidError("cannot do managed save for transient domain", domain=QEMU)
        with obj.job:
            saveimage.save(self.host, obj, self.settings.managed_save_file(obj.name), None, flags)

    def domain_save(self, dom: DomainRef, to: str) -> None:
        self.domain_save_flags(dom, to, None, 0)

    def domain_save_flags(self, dom: DomainRef, to: str, dxml: str | None = None, flags: int = 0) -> None:
        from virt.driver.qemu import saveimage

        self.check_writable("domain_save_flags")
        obj = self._active(dom)
        with obj.job:
            saveimage.save(self.host, obj, Path(to), dxml, flags)

    def domain_restore(self, frm: str) -> None:
        self.domain_restore_flags(frm, None, 0)

    def domain_restore_flags(self, frm: str, dxml: str | None = None, flags: int = 0) -> None:
        from virt.driver.qemu import saveimage

        self.check_writable("domain_restore_flags")
        saveimage.restore_file(self.host, Path(frm), dxml, flags, self._parse, self._check_unique)

    def domain_save_image_get_xml_desc(self, file: str, flags: int = 0) -> str:
        from virt.driver.qemu import saveimage

        tree = saveimage.read_header(Path(file))[1]
        return D.format_definition(tree, secure=bool(flags & XF.SECURE), inactive=True)

    def domain_save_image_define_xml(self, file: str, dxml: str, flags: int = 0) -> None:
        from virt.driver.qemu import saveimage

        self.check_writable("domain_save_image_define_xml")
        saveimage.redefine(Path(file), self._parse(dxml), flags)

    def domain_core_dump(self, dom: DomainRef, to: str, flags: int = 0) -> None:
        self.domain_core_dump_with_format(dom, to, 0, flags)

    def domain_core_dump_with_format(self, dom: DomainRef, to: str, dumpformat: int, flags: int = 0) -> None:
        from virt.driver.qemu import saveimage

        self.check_writable("domain_core_dump_with_format")
        obj = self._active(dom)
        with obj.job:
            saveimage.core_dump(self.host, obj, Path(to), dumpformat, flags)

    def domain_screenshot(self, dom: DomainRef, stream: Any, screen: int = 0, flags: int = 0) -> str:
        from virt.driver.qemu import saveimage

        obj = self._active(dom)
        with obj.job:
            return saveimage.screenshot(self.host, obj, stream, screen)

    def domain_open_graphics_fd(self, dom: DomainRef, idx: int, flags: int = 0) -> int:
        """virDomainOpenGraphicsFD: a socket already connected to the guest's VNC or SPICE server (one
        end of a socket pair, the other handed to QEMU with getfd + add_client); flag 1 skips its auth."""
        self.check_writable("domain_open_graphics_fd")
        if flags & ~1:  # VIR_DOMAIN_OPEN_GRAPHICS_SKIPAUTH
            raise InvalidArgError(f"unsupported flags (0x{flags & ~1:x}) in function qemuDomainOpenGraphicsFD",
                                  domain=QEMU)  # fmt: skip
        obj = self._active(dom)
        assert obj.live is not None
        graphics = obj.live.findall("devices/graphics")
        if not 0 <= idx < len(graphics):
            raise InternalError(f"No graphics backend with index {idx}", domain=QEMU)
        protocol = graphics[idx].get("type") or ""
        if protocol not in ("vnc", "spice"):
            raise InternalError(f"Can only open VNC or SPICE graphics backends, not {protocol}", domain=QEMU)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with obj.job:
                mon = L.monitor(obj)
                mon.execute("getfd", {"fdname": "graphicsfd"}, fds=[theirs.fileno()])
                mon.execute("add_client", {"protocol": protocol, "fdname": "graphicsfd", "skipauth": bool(flags & 1)})
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # QEMU holds its own copy now
        return ours.detach()

    def domain_open_console(self, dom: DomainRef, dev_name: str | None, stream: Any, flags: int = 0) -> None:
        """Connect ``stream`` to a serial console's pseudo-terminal (virDomainOpenConsole)."""
        self.check_writable("domain_open_console")
        obj = self._active(dom)
        assert obj.live is not None
        devices = [el for tag in ("console", "serial", "parallel", "channel")
                   for el in obj.live.findall(f"devices/{tag}")]
        if dev_name:
            el = next((d for d in devices if X.alias(d) == dev_name or
                       (d.tag == "console" and f"console{devices.index(d)}" == dev_name)), None)
        else:
            el = next((d for d in devices if d.tag in ("console", "serial")), None)
        if el is None:
            raise InternalError(f"cannot find character device {dev_name or ''}".rstrip(), domain=QEMU)
        if el.get("type") != "pty":
            raise OperationUnsupportedError(f"character device {X.alias(el)} is not using a PTY", domain=QEMU)
        path = X.get(el, "source", "path")
        if not path:
            raise OperationUnsupportedError(f"character device {X.alias(el)} has no pty yet", domain=QEMU)
        with self.host.lock:
            old = self.host.consoles.get(obj.uuid)
            if old is not None and not old.closed:
                if not flags & 1:  # VIR_DOMAIN_CONSOLE_FORCE
                    raise OperationFailedError("Active console session exists for this domain", domain=QEMU)
                old.close()
            try:
                fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
            except OSError as err:
                raise SystemError_.from_errno(err, f"Unable to open console {path}", domain=QEMU) from None
            import termios
            import tty

            with contextlib.suppress(termios.error):
                tty.setraw(fd)
            f = open(fd, "r+b", buffering=0)  # noqa: SIM115 - the stream owns it
            self.host.consoles[obj.uuid] = f
        target = getattr(stream, "impl", stream)
        target.attach(source=f, sink=f)

    # -- devices ------------------------------------------------------------------------------------
    def domain_attach_device(self, dom: DomainRef, xml: str) -> None:
        self.domain_attach_device_flags(dom, xml, MI.LIVE)

    def domain_attach_device_flags(self, dom: DomainRef, xml: str, flags: int = 0) -> None:
        from virt.driver.qemu import hotplug

        self.check_writable("domain_attach_device_flags")
        obj = self._obj(dom)
        with obj.job:
            live, config = _impact(obj, flags & (MI.LIVE | MI.CONFIG))
            if config:
                assert obj.config is not None
                tree = hotplug.config_attach(obj.config, xml)
                self._replace_config(obj, tree)
            if live:
                hotplug.attach(self.host, obj, xml)

    def domain_detach_device(self, dom: DomainRef, xml: str) -> None:
        self.domain_detach_device_flags(dom, xml, MI.LIVE)

    def domain_detach_device_flags(self, dom: DomainRef, xml: str, flags: int = 0) -> None:
        from virt.driver.qemu import hotplug

        self.check_writable("domain_detach_device_flags")
        obj = self._obj(dom)
        with obj.job:
            live, config = _impact(obj, flags & (MI.LIVE | MI.CONFIG))
            device = hotplug.parse_device(xml)
            if config:
                assert obj.config is not None
                tree = deepcopy(obj.config)
                hotplug.devices_of(tree).remove(hotplug.find_device(tree, device))
                self._replace_config(obj, tree)
            if live:
                assert obj.live is not None
                hotplug.detach(self.host, obj, X.alias(hotplug.find_device(obj.live, device)) or "")

    def domain_detach_device_alias(self, dom: DomainRef, alias: str, flags: int = 0) -> None:
        from virt.driver.qemu import hotplug

        self.check_writable("domain_detach_device_alias")
        obj = self._obj(dom)
        with obj.job:
            live, config = _impact(obj, flags & (MI.LIVE | MI.CONFIG))
            if config:
                assert obj.config is not None
                tree = deepcopy(obj.config)
                el = hotplug.find_alias(tree, alias)
                parent = el.getparent()
                if parent is not None:
                    parent.remove(el)
                self._replace_config(obj, tree)
            if live:
                assert obj.live is not None
                hotplug.find_alias(obj.live, alias)
                hotplug.detach(self.host, obj, alias)

    # -- tunables -----------------------------------------------------------------------------------
    def domain_get_scheduler_type(self, dom: DomainRef) -> tuple[str, int]:
        self._obj(dom)
        if self.host.cgroup_layout is None:
            raise OperationInvalidError("cgroup CPU controller is not mounted", domain=QEMU)
        return "posix", 3

    def domain_get_scheduler_parameters(self, dom: DomainRef, nparams: int = 3) -> dict[str, int]:
        return self.domain_get_scheduler_parameters_flags(dom, nparams, 0)

    def domain_get_scheduler_parameters_flags(self, dom: DomainRef, nparams: int = 3,
                                              flags: int = 0) -> dict[str, int]:
        from virt.driver.qemu import tuning

        obj = self._obj(dom)
        live, _ = _impact(obj, flags)
        return tuning.get_scheduler(self.host, obj, live)

    def domain_set_scheduler_parameters(self, dom: DomainRef, params: dict[str, Any]) -> None:
        self.domain_set_scheduler_parameters_flags(dom, params, 0)

    def domain_set_scheduler_parameters_flags(self, dom: DomainRef, params: dict[str, Any],
                                              flags: int = 0) -> None:
        from virt.driver.qemu import tuning

        self.check_writable("domain_set_scheduler_parameters_flags")
        obj = self._obj(dom)
        with obj.job:
            live, config = _impact(obj, flags)
            tuning.set_params(self, obj, "scheduler", params, live, config)

    def domain_get_memory_parameters(self, dom: DomainRef, nparams: int = 3, flags: int = 0) -> dict[str, int]:
        from virt.driver.qemu import tuning

        obj = self._obj(dom)
        live, _ = _impact(obj, flags)
        return tuning.get_memory(self.host, obj, live)

    def domain_set_memory_parameters(self, dom: DomainRef, params: dict[str, Any], flags: int = 0) -> None:
        from virt.driver.qemu import tuning

        self.check_writable("domain_set_memory_parameters")
        obj = self._obj(dom)
        with obj.job:
            live, config = _impact(obj, flags)
            tuning.set_params(self, obj, "memory", params, live, config)

    def domain_get_blkio_parameters(self, dom: DomainRef, nparams: int = 1, flags: int = 0) -> dict[str, Any]:
        from virt.driver.qemu import tuning

        obj = self._obj(dom)
        live, _ = _impact(obj, flags)
        return tuning.get_blkio(self.host, obj, live)

    def domain_set_blkio_parameters(self, dom: DomainRef, params: dict[str, Any], flags: int = 0) -> None:
        from virt.driver.qemu import tuning

        self.check_writable("domain_set_blkio_parameters")
        obj = self._obj(dom)
        with obj.job:
            live, config = _impact(obj, flags)
            tuning.set_params(self, obj, "blkio", params, live, config)

    def domain_get_interface_parameters(self, dom: DomainRef, device: str, nparams: int = 7,
                                        flags: int = 0) -> tuple[dict[str, int], int]:
        """The <bandwidth> of interface ``device`` (MAC or tap name); with ``nparams`` 0 only their count."""
        from virt.driver.qemu import bandwidth

        obj = self._obj(dom)
        live, _ = _impact(obj, flags & (MI.LIVE | MI.CONFIG))
        tree = obj.live if live else obj.config
        params = bandwidth.get_params(tree, device)
        if nparams == 0:
            return {}, len(params)
        items = dict(list(params.items())[:nparams])
        return items, len(items)

    def domain_set_interface_parameters(self, dom: DomainRef, device: str, params: dict[str, Any],
                                        flags: int = 0) -> None:
        """New <bandwidth> for interface ``device``, applied on its tap when live."""
        from virt.driver.qemu import bandwidth

        self.check_writable("domain_set_interface_parameters")
        obj = self._obj(dom)
        with obj.job:
            live, config = _impact(obj, flags)
            bandwidth.set_params(self, obj, device, params, live, config)

    # -- statistics ---------------------------------------------------------------------------------
    def domain_block_stats(self, dom: DomainRef, path: str) -> Any:
        from virt.driver.qemu import stats

        obj = self._active(dom)
        return stats.block_stats(obj, path)

    def domain_block_stats_flags(self, dom: DomainRef, path: str, nparams: int = 0, flags: int = 0) -> dict[str, int]:
        from virt.driver.qemu import stats

        s = stats.block_stats(self._active(dom), path)
        return {"rd_operations": s.rd_req, "rd_bytes": s.rd_bytes, "wr_operations": s.wr_req,
                "wr_bytes": s.wr_bytes, "errs": s.errs}

    def domain_interface_stats(self, dom: DomainRef, device: str) -> Any:
        from virt.driver.qemu import stats

        return stats.interface_stats(self._active(dom), device)

    def domain_memory_stats(self, dom: DomainRef, nr_stats: int = 13, flags: int = 0) -> dict[int, int]:
        from virt.driver.qemu import stats

        return stats.memory_stats(self, self._active(dom), nr_stats)

    def connect_get_all_domain_stats(self, stats: int = 0, flags: int = 0) -> list[Any]:
        from virt.driver.qemu import stats as st

        return st.all_domain_stats(self, self._all(), stats, flags)

    def domain_list_get_stats(self, doms: list[DomainRef], stats: int = 0, flags: int = 0) -> list[Any]:
        from virt.driver.qemu import stats as st

        return st.all_domain_stats(self, [self._obj(d) for d in doms], stats, flags, listed=True)
