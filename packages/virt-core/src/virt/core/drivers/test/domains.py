"""Domains of the mock host: libvirt's test-driver state machine, with its states, reasons, ids and events."""

from __future__ import annotations

import os
import struct
import time
from typing import Any, ClassVar

from lxml import etree
from virt.core.drivers.test import domdef
from virt.core.drivers.test.base import Calls, check_unique, filter_objects, pair
from virt.core.drivers.test.errors import (
    DOMAIN,
    TEST,
    bare,
    error,
    internal,
    invalid_arg,
    not_running,
    operation_invalid,
)
from virt.core.drivers.test.host import MAX_VCPUS
from virt.core.drivers.test.state import DomainObj, NodeState
from virt.core.enums import ConnectListAllDomainsFlags as LF
from virt.core.enums import (
    DomainCreateFlags,
    DomainEventID,
    DomainPausedReason,
    DomainRunningReason,
    DomainShutoffReason,
    DomainStatsTypes,
)
from virt.core.enums import DomainEventDefinedDetail as Defined
from virt.core.enums import DomainEventResumedDetail as Resumed
from virt.core.enums import DomainEventStartedDetail as Started
from virt.core.enums import DomainEventStoppedDetail as Stopped
from virt.core.enums import DomainEventSuspendedDetail as Suspended
from virt.core.enums import DomainEventType as Ev
from virt.core.enums import DomainEventUndefinedDetail as Undefined
from virt.core.enums import DomainMemoryModFlags as MF
from virt.core.enums import DomainModificationImpact as MI
from virt.core.enums import DomainState as S
from virt.core.enums import DomainUndefineFlags as UF
from virt.core.enums import DomainVcpuFlags as VF
from virt.core.enums import DomainXMLFlags as XF
from virt.core.types import (
    BlockStats,
    DomainBlockInfo,
    DomainInfo,
    DomainRef,
    InterfaceStats,
    VcpuInfo,
)
from virt.util.errors import ErrorDomain, not_found
from virt.util.errors import ErrorNumber as E

#: Magic at the head of the test driver's save images, NUL included (libvirt's format, so images
#: saved by either implementation restore in the other on the same machine).
SAVE_MAGIC = b"TestGuestMagic\0"
#: virDomainStartFlags accepted by createXML; VALIDATE (schema check) only.
START_VALIDATE = DomainCreateFlags.VALIDATE
METADATA_TYPES = (0, 1, 2)  # description, title, element
LIFECYCLE = DomainEventID.LIFECYCLE

_FILTERS = (
    pair(LF.ACTIVE, LF.INACTIVE, lambda d: d.active),
    pair(LF.PERSISTENT, LF.TRANSIENT, lambda d: d.persistent),
    (LF.RUNNING | LF.PAUSED | LF.SHUTOFF | LF.OTHER,
     lambda d: {S.RUNNING: LF.RUNNING, S.PAUSED: LF.PAUSED, S.SHUTOFF: LF.SHUTOFF}.get(d.state, LF.OTHER)),
    pair(LF.MANAGEDSAVE, LF.NO_MANAGEDSAVE, lambda d: d.managed_save),
    pair(LF.AUTOSTART, LF.NO_AUTOSTART, lambda d: d.autostart),
    pair(LF.HAS_SNAPSHOT, LF.NO_SNAPSHOT, lambda d: d.snapshots),
    pair(LF.HAS_CHECKPOINT, LF.NO_CHECKPOINT, lambda d: d.checkpoints),
)


def ref(obj: DomainObj) -> DomainRef:
    return DomainRef(obj.name, obj.uuid, obj.id)


def now_ns() -> int:
    """g_get_real_time() * 1000: wall-clock nanoseconds at microsecond resolution."""
    return time.time_ns() // 1000 * 1000


# ----------------------------------------------------------------------------- state transitions

def start(state: NodeState, obj: DomainObj, reason: int) -> None:
    """testDomainStartState: running, the next id, and a live copy of the persistent definition."""
    obj.state, obj.reason = S.RUNNING, reason
    obj.id = state.allocate_id()
    if obj.persistent and obj.new_def is None:
        obj.new_def = obj.defn
        obj.defn = domdef.copy(obj.defn)
    obj.managed_save = False


def stop(obj: DomainObj, reason: int) -> None:
    """testDomainShutdownState: back to the persistent definition, shut off for ``reason``."""
    if obj.new_def is not None:
        obj.defn, obj.new_def = obj.new_def, None
    obj.state, obj.reason = S.SHUTOFF, reason
    obj.id = -1


def load_domain(state: NodeState, el: etree._Element, path: str | None) -> None:
    """A <domain> of a node file, with the test namespace's run state, transience and snapshots."""
    ns = {"test": "http://libvirt.org/schemas/domain/test/1.0"}
    el = etree.fromstring(etree.tostring(el))
    runstate_text = el.findtext("test:runstate", namespaces=ns)
    transient = el.find("test:transient", namespaces=ns) is not None
    managed_save = el.find("test:hasmanagedsave", namespaces=ns) is not None
    snapshots = el.findall("test:domainsnapshot", namespaces=ns)
    for child in el.findall("test:*", namespaces=ns):
        el.remove(child)
    runstate = int(S.RUNNING)
    if runstate_text is not None:
        try:
            runstate = int(runstate_text.strip())
        except ValueError:
            raise error(E.XML_ERROR, "invalid runstate") from None
        if not 0 <= runstate <= S.PMSUSPENDED:
            raise error(E.XML_ERROR, f"runstate '{runstate}' out of range'")
    if transient and runstate == S.SHUTOFF:
        raise error(E.XML_ERROR, "transient domain cannot have runstate 'shutoff'")
    if managed_save and runstate != S.SHUTOFF:
        raise error(E.XML_ERROR, "domain with managedsave data can only have runstate 'shutoff'")
    defn = domdef.parse(el)
    domdef.generate_ifnames(defn)
    obj = check_unique(state.domains.values(), defn.name, defn.uuid, "domain", DOMAIN)
    if obj is None:
        obj = DomainObj(defn, defn.uuid, defn.name)
        state.domains[obj.uuid] = obj
    else:
        obj.defn = defn
    obj.persistent = not transient
    obj.managed_save = managed_save
    if snapshots:
        from virt.core.drivers.test.snapshots import load_snapshots

        load_snapshots(obj, snapshots, path)
    if runstate != S.SHUTOFF:
        start(state, obj, DomainRunningReason.BOOTED)
    else:
        stop(obj, 0)
    obj.state, obj.reason = runstate, 0


class DomainCalls(Calls):
    FLAGS: ClassVar[dict[str, int]] = {
        "connect_list_all_domains": sum(LF), "domain_create_xml": START_VALIDATE,
        "domain_define_xml_flags": 1, "domain_undefine_flags": UF.MANAGED_SAVE | UF.SNAPSHOTS_METADATA,
        "domain_create_with_flags": 0, "domain_destroy_flags": 1, "domain_shutdown_flags": 0,
        "domain_reboot": 31, "domain_reset": 0, "domain_get_state": 0, "domain_get_hostname": 0,
        "domain_set_memory_flags": MF.LIVE | MF.CONFIG | MF.MAXIMUM,
        "domain_get_vcpus_flags": VF.LIVE | VF.CONFIG | VF.MAXIMUM,
        "domain_set_vcpus_flags": VF.LIVE | VF.CONFIG | VF.MAXIMUM,
        "domain_get_xml_desc": XF.SECURE | XF.INACTIVE | XF.MIGRATABLE,
        "domain_managed_save": 1 | 2 | 4, "domain_has_managed_save_image": 0, "domain_managed_save_remove": 0,
        "domain_save_flags": 0, "domain_restore_flags": 0, "domain_save_image_get_xml_desc": XF.SECURE,
        "domain_save_image_define_xml": 2 | 4, "domain_core_dump": 1, "domain_core_dump_with_format": 1,
        "domain_get_metadata": MI.LIVE | MI.CONFIG, "domain_set_metadata": MI.LIVE | MI.CONFIG,
        "domain_memory_stats": 0, "domain_get_block_info": 0, "domain_rename": 0,
        "domain_attach_device_flags": MI.LIVE | MI.CONFIG, "domain_detach_device_flags": MI.LIVE | MI.CONFIG,
        "domain_update_device_flags": MI.LIVE | MI.CONFIG | 4,
        "domain_detach_device_alias": MI.LIVE | MI.CONFIG,
        "connect_get_all_domain_stats": 0x80000000 | 0x40000000 | 0x20000000 | 0xFF,
        "domain_interface_addresses": 0,
    }

    # -- lookups -----------------------------------------------------------------------------
    def _dom(self, dom: DomainRef) -> DomainObj:
        obj = self.state.domains.get(dom.uuid)
        if obj is None:
            raise not_found(E.NO_DOMAIN, f"no domain with matching uuid '{dom.uuid}' ({dom.name})",
                            ErrorDomain.TEST)
        return obj

    def _active(self, dom: DomainRef) -> DomainObj:
        obj = self._dom(dom)
        if not obj.active:
            raise not_running()
        return obj

    def _emit(self, obj: DomainObj, event: int, detail: int) -> None:
        self.state.emit("domain", LIFECYCLE, ref(obj), int(event), int(detail))

    def domain_lookup_by_name(self, name: str) -> DomainRef:
        for obj in self.state.domains.values():
            if obj.name == name:
                return ref(obj)
        raise not_found(E.NO_DOMAIN, None, ErrorDomain.TEST)  # type: ignore[arg-type]

    def domain_lookup_by_uuid(self, uuid: str) -> DomainRef:
        obj = self.state.domains.get(uuid)
        if obj is None:
            raise not_found(E.NO_DOMAIN, None, ErrorDomain.TEST)  # type: ignore[arg-type]
        return ref(obj)

    def domain_lookup_by_id(self, id: int) -> DomainRef:
        for obj in self.state.domains.values():
            if obj.id == id and obj.active:
                return ref(obj)
        raise not_found(E.NO_DOMAIN, None, ErrorDomain.TEST)  # type: ignore[arg-type]

    # -- lists -------------------------------------------------------------------------------
    def connect_num_of_domains(self) -> int:
        return sum(1 for d in self.state.domains.values() if d.active)

    def connect_list_domains(self, maxids: int = -1) -> list[int]:
        ids = [d.id for d in self.state.domains.values() if d.active]
        return ids if maxids < 0 else ids[:maxids]

    def connect_num_of_defined_domains(self) -> int:
        return sum(1 for d in self.state.domains.values() if not d.active)

    def connect_list_defined_domains(self, maxnames: int = -1) -> list[str]:
        names = [d.name for d in self.state.domains.values() if not d.active]
        return names if maxnames < 0 else names[:maxnames]

    def connect_list_all_domains(self, flags: int = 0) -> list[DomainRef]:
        return [ref(d) for d in filter_objects(self.state.domains.values(), flags, _FILTERS)]

    # -- define, create, undefine ------------------------------------------------------------
    def _add_live(self, defn: Any) -> DomainObj:
        """virDomainObjListAdd(LIVE | CHECK_LIVE): a new transient domain, or a defined one taking a
        live definition of its own."""
        obj = check_unique(self.state.domains.values(), defn.name, defn.uuid, "domain", DOMAIN)
        if obj is None:
            obj = DomainObj(defn, defn.uuid, defn.name, persistent=False)
            self.state.domains[obj.uuid] = obj
            return obj
        if obj.active:
            raise operation_invalid(f"domain '{obj.name}' is already active", DOMAIN)
        if obj.persistent:
            obj.new_def = obj.defn
        obj.defn = defn
        return obj

    def domain_create_xml(self, xml: str, flags: int = 0) -> DomainRef:
        defn = domdef.parse(xml, validate=bool(flags & START_VALIDATE))
        domdef.generate_ifnames(defn)
        obj = self._add_live(defn)
        start(self.state, obj, DomainRunningReason.BOOTED)
        self._emit(obj, Ev.STARTED, Started.BOOTED)
        return ref(obj)

    def domain_define_xml(self, xml: str) -> DomainRef:
        return self.domain_define_xml_flags(xml, 0)

    def domain_define_xml_flags(self, xml: str, flags: int = 0) -> DomainRef:
        defn = domdef.parse(xml, validate=bool(flags & 1))
        if "\n" in defn.name:
            raise error(E.XML_ERROR, f"name {defn.name} cannot contain '\n'", DOMAIN)
        domdef.generate_ifnames(defn)
        obj = check_unique(self.state.domains.values(), defn.name, defn.uuid, "domain", DOMAIN)
        if obj is None:
            obj = DomainObj(defn, defn.uuid, defn.name)
            self.state.domains[obj.uuid] = obj
            detail = Defined.ADDED
        else:
            if obj.active:
                obj.new_def = defn
            else:
                obj.defn = defn
            detail = Defined.UPDATED
        obj.persistent = True
        self._emit(obj, Ev.DEFINED, detail)
        return ref(obj)

    def domain_undefine(self, dom: DomainRef) -> None:
        self.domain_undefine_flags(dom, 0)

    def domain_undefine_flags(self, dom: DomainRef, flags: int = 0) -> None:
        obj = self._dom(dom)
        if obj.managed_save and not flags & UF.MANAGED_SAVE:
            raise operation_invalid("Refusing to undefine while domain managed save image exists")
        if not obj.active and obj.snapshots and not flags & UF.SNAPSHOTS_METADATA:
            raise operation_invalid(f"cannot delete inactive domain with {len(obj.snapshots)} snapshots")
        self._emit(obj, Ev.UNDEFINED, Undefined.REMOVED)
        obj.managed_save = False
        if obj.active:
            obj.persistent = False
        else:
            del self.state.domains[obj.uuid]

    def _drop_if_transient(self, obj: DomainObj) -> None:
        if not obj.persistent:
            self.state.domains.pop(obj.uuid, None)

    # -- life cycle --------------------------------------------------------------------------
    def domain_create(self, dom: DomainRef) -> DomainRef:
        return self.domain_create_with_flags(dom, 0)

    def domain_create_with_flags(self, dom: DomainRef, flags: int = 0) -> DomainRef:
        obj = self._dom(dom)
        if obj.state != S.SHUTOFF:
            raise internal(f"Domain '{obj.name}' is already running")
        start(self.state, obj, DomainRunningReason.BOOTED)
        self._emit(obj, Ev.STARTED, Started.BOOTED)
        return ref(obj)

    def domain_destroy(self, dom: DomainRef) -> None:
        self.domain_destroy_flags(dom, 0)

    def domain_destroy_flags(self, dom: DomainRef, flags: int = 0) -> None:
        obj = self._active(dom)
        stop(obj, DomainShutoffReason.DESTROYED)
        self._emit(obj, Ev.STOPPED, Stopped.DESTROYED)
        self._drop_if_transient(obj)

    def _lifecycle_action(self, obj: DomainObj, action: str) -> None:
        """testDomainActionSetState: a restart keeps the guest running (booted again, same id),
        every other action shuts it off."""
        if action in ("restart", "rename-restart"):
            obj.state, obj.reason = S.RUNNING, DomainRunningReason.BOOTED
            return
        stop(obj, DomainShutoffReason.SHUTDOWN)
        self._emit(obj, Ev.STOPPED, Stopped.SHUTDOWN)
        self._drop_if_transient(obj)

    def domain_shutdown(self, dom: DomainRef) -> None:
        self.domain_shutdown_flags(dom, 0)

    def domain_shutdown_flags(self, dom: DomainRef, flags: int = 0) -> None:
        obj = self._dom(dom)
        if obj.state == S.SHUTOFF:
            raise internal(f"domain '{obj.name}' not running")
        self._lifecycle_action(obj, domdef.lifecycle_action(obj.defn, "poweroff"))

    def domain_reboot(self, dom: DomainRef, flags: int = 0) -> None:
        obj = self._active(dom)
        self._lifecycle_action(obj, domdef.lifecycle_action(obj.defn, "reboot"))

    def domain_reset(self, dom: DomainRef, flags: int = 0) -> None:
        self._active(dom)

    def domain_suspend(self, dom: DomainRef) -> None:
        obj = self._dom(dom)
        if obj.state in (S.SHUTOFF, S.PAUSED):
            raise internal(f"domain '{obj.name}' not running")
        obj.state, obj.reason = S.PAUSED, DomainPausedReason.USER
        self._emit(obj, Ev.SUSPENDED, Suspended.PAUSED)

    def domain_resume(self, dom: DomainRef) -> None:
        obj = self._dom(dom)
        if obj.state != S.PAUSED:
            raise internal(f"domain '{obj.name}' not paused")
        obj.state, obj.reason = S.RUNNING, DomainRunningReason.UNPAUSED
        self._emit(obj, Ev.RESUMED, Resumed.UNPAUSED)

    # -- state and properties ----------------------------------------------------------------
    def domain_get_info(self, dom: DomainRef) -> DomainInfo:
        obj = self.state.domains.get(dom.uuid) or self._dom(dom)
        d = obj.defn
        return DomainInfo(obj.state, d.memory_kib, d.current_memory_kib, d.current_vcpus,
                          time.time_ns() // 1000 * 1000)

    def domain_get_state(self, dom: DomainRef, flags: int = 0) -> tuple[int, int]:
        obj = self._dom(dom)
        return int(obj.state), int(obj.reason)

    def domain_get_id(self, dom: DomainRef) -> int:
        return self._dom(dom).id

    def domain_is_active(self, dom: DomainRef) -> int:
        return int(self._dom(dom).active)

    def domain_is_persistent(self, dom: DomainRef) -> int:
        return int(self._dom(dom).persistent)

    def domain_is_updated(self, dom: DomainRef) -> int:
        self._dom(dom)
        return 0

    def domain_get_os_type(self, dom: DomainRef) -> str:
        self._dom(dom)
        return "linux"

    def domain_get_max_memory(self, dom: DomainRef) -> int:
        return domdef.max_memory(self._dom(dom).defn)

    def domain_get_autostart(self, dom: DomainRef) -> int:
        return int(self._dom(dom).autostart)

    def domain_set_autostart(self, dom: DomainRef, autostart: int) -> None:
        self._dom(dom).autostart = bool(autostart)

    def domain_get_hostname(self, dom: DomainRef, flags: int = 0) -> str:
        return f"{self._active(dom).name}host"

    def domain_get_security_label(self, dom: DomainRef) -> tuple[str, int]:
        obj = self._dom(dom)
        return ("libvirt-test", 1) if obj.active else ("", 0)

    def domain_get_scheduler_type(self, dom: DomainRef) -> tuple[str, int]:
        return "fair", 1

    def domain_get_xml_desc(self, dom: DomainRef, flags: int = 0) -> str:
        obj = self._dom(dom)
        inactive = bool(flags & XF.INACTIVE)
        defn = obj.new_def if inactive and obj.new_def is not None else obj.defn
        dom_id = obj.id if (obj.active and not inactive and defn is obj.defn) else -1
        return domdef.format(defn, flags, dom_id)

    # -- memory and vcpus --------------------------------------------------------------------
    def _impact(self, obj: DomainObj, flags: int) -> int:
        """virDomainObjUpdateModificationImpact: CURRENT resolved, impossible targets refused."""
        if not flags & (MI.LIVE | MI.CONFIG):
            flags |= MI.LIVE if obj.active else MI.CONFIG
        if not obj.active and flags & MI.LIVE:
            raise not_running()
        if not obj.persistent and flags & MI.CONFIG:
            raise operation_invalid("transient domains do not have any persistent config", DOMAIN)
        return flags

    def _one_def(self, obj: DomainObj, flags: int) -> tuple[Any, bool]:
        """virDomainObjGetOneDefState: the definition ``flags`` select and whether it is the live one."""
        if flags & MI.LIVE and flags & MI.CONFIG:
            raise bare(E.INVALID_ARG, "Flags 'VIR_DOMAIN_AFFECT_LIVE' and 'VIR_DOMAIN_AFFECT_CONFIG' are "
                                      "mutually exclusive", DOMAIN)
        flags = self._impact(obj, flags)
        if obj.active and flags & MI.CONFIG:
            return obj.new_def, False
        return obj.defn, bool(flags & MI.LIVE)

    def _defs(self, obj: DomainObj, flags: int) -> tuple[Any, Any]:
        """virDomainObjGetDefs: (live definition or None, persistent definition or None)."""
        flags = self._impact(obj, flags)
        return (obj.defn if flags & MI.LIVE else None,
                obj.persistent_def if flags & MI.CONFIG else None)

    def domain_set_max_memory(self, dom: DomainRef, memory: int) -> None:
        self.domain_set_memory_flags(dom, memory, MF.MAXIMUM)

    def domain_set_memory(self, dom: DomainRef, memory: int) -> None:
        self.domain_set_memory_flags(dom, memory, MF.LIVE)

    def domain_set_memory_flags(self, dom: DomainRef, memory: int, flags: int = 0) -> None:
        obj = self._dom(dom)
        defn, live = self._one_def(obj, flags & ~MF.MAXIMUM)
        if flags & MF.MAXIMUM:
            if live:
                raise operation_invalid("cannot resize the maximum memory on an active domain")
            domdef.set_max_memory(defn, memory)
            if domdef.current_memory(defn) > memory:
                domdef.set_current_memory(defn, memory)
        else:
            if memory > domdef.max_memory(defn):
                raise invalid_arg("cannot set memory higher than max memory")
            domdef.set_current_memory(defn, memory)

    def domain_get_vcpus_flags(self, dom: DomainRef, flags: int = 0) -> int:
        defn, _ = self._one_def(self._dom(dom), flags & ~VF.MAXIMUM)
        return domdef.max_vcpus(defn) if flags & VF.MAXIMUM else domdef.vcpus(defn)

    def domain_get_max_vcpus(self, dom: DomainRef) -> int:
        return self.domain_get_vcpus_flags(dom, VF.LIVE | VF.MAXIMUM)

    def domain_set_vcpus(self, dom: DomainRef, nvcpus: int) -> None:
        self.domain_set_vcpus_flags(dom, nvcpus, VF.LIVE)

    def domain_set_vcpus_flags(self, dom: DomainRef, nvcpus: int, flags: int = 0) -> None:
        # virDomainSetVcpusFlags' own argument checks come first
        if flags & VF.MAXIMUM and not flags & VF.CONFIG:
            raise bare(E.INVALID_ARG, "Flag 'VIR_DOMAIN_AFFECT_CONFIG' is required by flag "
                                      "'VIR_DOMAIN_VCPU_MAXIMUM'", DOMAIN)
        if nvcpus == 0:
            raise bare(E.INVALID_ARG, "nvcpus in virDomainSetVcpusFlags must not be zero", DOMAIN)
        if nvcpus > MAX_VCPUS:
            raise invalid_arg(f"requested cpu amount exceeds maximum supported amount ({nvcpus} > {MAX_VCPUS})")
        obj = self._dom(dom)
        live, persistent = self._defs(obj, flags & ~VF.MAXIMUM)
        if live is not None and domdef.max_vcpus(live) < nvcpus:
            raise invalid_arg(f"requested cpu amount exceeds maximum ({nvcpus} > {domdef.max_vcpus(live)})")
        if persistent is not None and not flags & VF.MAXIMUM and domdef.max_vcpus(persistent) < nvcpus:
            raise invalid_arg(f"requested cpu amount exceeds maximum ({nvcpus} > {domdef.max_vcpus(persistent)})")
        if live is not None:
            domdef.set_vcpus(live, nvcpus)
        if persistent is not None:
            if flags & VF.MAXIMUM:
                domdef.set_max_vcpus(persistent, nvcpus)
            else:
                domdef.set_vcpus(persistent, nvcpus)

    def domain_get_vcpus(self, dom: DomainRef, maxinfo: int = -1) -> list[VcpuInfo]:
        obj = self._dom(dom)
        if not obj.active:
            raise operation_invalid("cannot list vcpus for an inactive domain")
        count = domdef.vcpus(obj.defn)
        count = count if maxinfo < 0 else min(maxinfo, count)
        cpu_time = time.time_ns() // 1000 // 10
        return [VcpuInfo(i, 1, cpu_time, self.state.host.cpus - 1) for i in range(count)]

    # -- managed save, save and restore ------------------------------------------------------
    def domain_managed_save(self, dom: DomainRef, flags: int = 0) -> None:
        obj = self._active(dom)
        if not obj.persistent:
            raise operation_invalid("cannot do managed save for transient domain")
        stop(obj, DomainShutoffReason.SAVED)
        self._emit(obj, Ev.STOPPED, Stopped.SAVED)
        obj.managed_save = True

    def domain_has_managed_save_image(self, dom: DomainRef, flags: int = 0) -> int:
        return int(self._dom(dom).managed_save)

    def domain_managed_save_remove(self, dom: DomainRef, flags: int = 0) -> None:
        self._dom(dom).managed_save = False

    def domain_save(self, dom: DomainRef, path: str) -> None:
        self.domain_save_flags(dom, path, None, 0)

    def domain_save_flags(self, dom: DomainRef, path: str, dxml: str | None = None, flags: int = 0) -> None:
        if dxml:
            raise error(E.ARGUMENT_UNSUPPORTED, "xml modification unsupported")
        obj = self._active(dom)
        _write_image(path, obj.name, domdef.format(obj.defn, XF.SECURE, -1))
        stop(obj, DomainShutoffReason.SAVED)
        self._emit(obj, Ev.STOPPED, Stopped.SAVED)
        self._drop_if_transient(obj)

    def domain_restore(self, path: str) -> None:
        self.domain_restore_flags(path, None, 0)

    def domain_restore_flags(self, path: str, dxml: str | None = None, flags: int = 0) -> None:
        if dxml:
            raise error(E.ARGUMENT_UNSUPPORTED, "xml modification unsupported")
        defn = domdef.parse(_read_image(path))
        domdef.generate_ifnames(defn)
        obj = self._add_live(defn)
        start(self.state, obj, DomainRunningReason.RESTORED)
        self._emit(obj, Ev.STARTED, Started.RESTORED)

    def domain_save_image_get_xml_desc(self, path: str, flags: int = 0) -> str:
        return domdef.format(domdef.parse(_read_image(path)), XF.SECURE, -1)

    def domain_save_image_define_xml(self, path: str, dxml: str, flags: int = 0) -> None:
        _read_image(path)
        defn = domdef.parse(dxml)
        _write_image(path, defn.name, domdef.format(defn, XF.SECURE, -1))

    def domain_core_dump(self, dom: DomainRef, to: str, flags: int = 0) -> None:
        self.domain_core_dump_with_format(dom, to, 0, flags)

    def domain_core_dump_with_format(self, dom: DomainRef, to: str, dumpformat: int, flags: int = 0) -> None:
        obj = self._active(dom)
        try:
            with open(to, "wb") as f:
                f.write(SAVE_MAGIC)
            os.chmod(to, 0o600)
        except OSError as exc:
            from virt.util.errors import SystemError_

            raise SystemError_.from_errno(exc, f"domain '{obj.name}' coredump: failed to open {to}", domain=TEST) from None
        if dumpformat != 0:
            raise error(E.OPERATION_UNSUPPORTED, "kdump-compressed format is not supported here")
        if flags & 1:  # VIR_DUMP_CRASH
            stop(obj, DomainShutoffReason.CRASHED)
            self._emit(obj, Ev.STOPPED, Stopped.CRASHED)
            self._drop_if_transient(obj)

    # -- metadata ----------------------------------------------------------------------------
    def domain_get_metadata(self, dom: DomainRef, type: int, uri: str | None, flags: int = 0) -> str:
        defn, _ = self._one_def(self._dom(dom), flags)
        value = domdef.get_metadata(defn, type, uri)
        if value is None:
            raise error(E.NO_DOMAIN_METADATA, "Requested metadata element is not present", DOMAIN)
        return value

    def domain_set_metadata(self, dom: DomainRef, type: int, metadata: str | None, key: str | None,
                            uri: str | None, flags: int = 0) -> None:
        obj = self._dom(dom)
        live, persistent = self._defs(obj, flags)
        for defn in (live, persistent):
            if defn is not None:
                domdef.set_metadata(defn, type, metadata, key, uri)
        self.state.emit("domain", DomainEventID.METADATA_CHANGE, ref(obj), type, uri)

    # -- statistics --------------------------------------------------------------------------
    def domain_block_stats(self, dom: DomainRef, path: str) -> BlockStats:
        if not path:
            raise error(E.OPERATION_UNSUPPORTED, "summary statistics are not supported yet")
        obj = self._active(dom)
        if domdef.find_disk(obj.defn, path) is None:
            raise invalid_arg(f"invalid path: {path}")
        base = time.time_ns() // 1000
        return BlockStats(base // 10, base // 20, base // 30, base // 40, base // 2_000_000)

    def domain_interface_stats(self, dom: DomainRef, device: str) -> InterfaceStats:
        obj = self._active(dom)
        domdef.find_net(obj.defn, device)
        base = time.time_ns() // 1000
        return InterfaceStats(base // 10, base // 100, base // 1_000_000, base // 2_000_000,
                              base // 20, base // 110, base // 3_000_000, base // 4_000_000)

    def domain_memory_stats(self, dom: DomainRef, nr_stats: int = 13, flags: int = 0) -> dict[int, int]:
        """Tag (virDomainMemoryStatTags) -> value, the balloon's view of the guest's memory."""
        obj = self._active(dom)
        if not domdef.has_memballoon(obj.defn):
            return {}
        cur = domdef.current_memory(obj.defn)
        stats = [(6, cur), (0, 0), (1, 0), (2, 0), (3, 0), (4, cur // 2), (5, cur), (8, cur // 2),
                 (9, 627319920), (10, cur // 8), (11, 0), (12, 0), (7, cur // 2)]
        return dict(stats[:nr_stats])

    def domain_get_block_info(self, dom: DomainRef, path: str, flags: int = 0) -> DomainBlockInfo:
        obj = self._dom(dom)
        disk = domdef.find_disk(obj.defn, path)
        if disk is None:
            raise invalid_arg(f"invalid path {path} not assigned to domain")
        if not domdef.disk_has_source(disk):
            raise invalid_arg(f"disk '{path}' does not currently have a source assigned")
        return DomainBlockInfo(1099506450432, 1099511627776, 1099511627776)

    def connect_get_all_domain_stats(self, stats: int = 0, flags: int = 0) -> list[Any]:
        """Only the state group: libvirt's test driver has no stats callbacks but the generic one."""
        from virt.core.types import DomainStatsRecord

        doms = filter_objects(self.state.domains.values(), flags & 0xFF, _FILTERS[:3])
        want_state = not stats or stats & DomainStatsTypes.STATE
        return [DomainStatsRecord(ref(d), {"state.state": int(d.state), "state.reason": int(d.reason)}
                                  if want_state else {}) for d in doms]

    def domain_interface_addresses(self, dom: DomainRef, source: int = 0, flags: int = 0) -> list[Any]:
        """(name, hwaddr, [(type, addr, prefix)]) per interface, addresses taken from its network."""
        obj = self._active(dom)
        out = []
        for i, (ifname, mac, network) in enumerate(domdef.interfaces(obj.defn)):
            addr = (0, f"192.168.0.{1 + i}", 24)
            net = next((n for n in self.state.networks.values() if n.name == network), None) if network else None
            if network and net is None:
                raise not_found(E.NO_NETWORK, f"no network with matching name '{network}'", ErrorDomain.TEST)
            if net is not None and net.defn.ips:
                ip = net.defn.ips[0]
                base = ip.ranges[0].start_addr if ip.ranges else ip.addr
                offset = 20 * (obj.id - 1) + i + 1
                addr = (0 if ip.is_ipv4 else 1, str(base + offset), ip.prefix_len())
            out.append((ifname, mac, [addr]))
        return out

    # -- devices -----------------------------------------------------------------------------
    def _device_defs(self, obj: DomainObj, flags: int) -> list[tuple[Any, bool]]:
        live, persistent = self._defs(obj, flags)
        return [(d, d is live) for d in (live, persistent) if d is not None]

    def domain_attach_device(self, dom: DomainRef, xml: str) -> None:
        self.domain_attach_device_flags(dom, xml, MI.LIVE)

    def domain_attach_device_flags(self, dom: DomainRef, xml: str, flags: int = 0) -> None:
        obj = self._dom(dom)
        targets = self._device_defs(obj, flags)
        added = []
        for defn, live in targets:
            added.append((domdef.attach_device(defn, xml, live), live))
        for alias, live in added:
            if live and alias:
                self.state.emit("domain", DomainEventID.DEVICE_ADDED, ref(obj), alias)

    def domain_detach_device(self, dom: DomainRef, xml: str) -> None:
        self.domain_detach_device_flags(dom, xml, MI.LIVE)

    def domain_detach_device_flags(self, dom: DomainRef, xml: str, flags: int = 0) -> None:
        obj = self._dom(dom)
        for defn, live in self._device_defs(obj, flags):
            alias = domdef.detach_device(defn, xml)
            if live and alias:
                self.state.emit("domain", DomainEventID.DEVICE_REMOVED, ref(obj), alias)

    def domain_detach_device_alias(self, dom: DomainRef, alias: str, flags: int = 0) -> None:
        obj = self._dom(dom)
        for defn, live in self._device_defs(obj, flags):
            domdef.detach_device_alias(defn, alias)
            if live:
                self.state.emit("domain", DomainEventID.DEVICE_REMOVED, ref(obj), alias)

    def domain_update_device_flags(self, dom: DomainRef, xml: str, flags: int = 0) -> None:
        obj = self._dom(dom)
        for defn, _live in self._device_defs(obj, flags & ~4):
            domdef.update_device(defn, xml)

    def domain_rename(self, dom: DomainRef, new_name: str, flags: int = 0) -> DomainRef:
        obj = self._dom(dom)
        if obj.active:
            raise operation_invalid("cannot rename active domain")
        if not obj.persistent:
            raise operation_invalid("cannot rename a transient domain")
        if obj.state != S.SHUTOFF:
            raise operation_invalid("domain has to be shutoff before renaming")
        if any(d.name == new_name for d in self.state.domains.values()):
            raise error(E.OPERATION_INVALID, f"domain with name '{new_name}' already exists", DOMAIN)
        if "/" in new_name:
            raise error(E.XML_ERROR, f"name {new_name} cannot contain '/'")
        self._emit(obj, Ev.UNDEFINED, Undefined.RENAMED)
        obj.name = obj.defn.name = new_name
        self._emit(obj, Ev.DEFINED, Defined.RENAMED)
        return ref(obj)


# ----------------------------------------------------------------------------- save images

def _write_image(path: str, name: str, xml: str) -> None:
    """The test driver's image: magic, the XML's length as a native int, the XML."""
    from virt.util.errors import SystemError_

    data = xml.encode()
    try:
        fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    except OSError as exc:
        raise SystemError_.from_errno(exc, f"saving domain '{name}' to '{path}': open failed",
                                      domain=TEST) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(SAVE_MAGIC + struct.pack("=i", len(data)) + data)
    except OSError as exc:
        raise SystemError_.from_errno(exc, f"saving domain '{name}' to '{path}': write failed",
                                      domain=TEST) from None


def _read_image(path: str) -> str:
    from virt.util.errors import SystemError_

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise SystemError_.from_errno(exc, f"cannot read domain image '{path}'", domain=TEST) from None
    if len(data) < len(SAVE_MAGIC):
        raise SystemError_(f"incomplete save header in '{path}'", domain=TEST)
    if data[:len(SAVE_MAGIC)] != SAVE_MAGIC:
        raise internal("mismatched header magic")
    if len(data) < len(SAVE_MAGIC) + 4:
        raise SystemError_(f"failed to read metadata length in '{path}'", domain=TEST)
    (length,) = struct.unpack("=i", data[len(SAVE_MAGIC):len(SAVE_MAGIC) + 4])
    if length < 1 or length > 8192:
        raise internal("length of metadata out of range")
    xml = data[len(SAVE_MAGIC) + 4:len(SAVE_MAGIC) + 4 + length]
    if len(xml) != length:
        raise SystemError_(f"incomplete metadata in '{path}'", domain=TEST)
    return xml.decode()
