"""The VirtualBox driver: VirtualBox guests (vbox:///session) through the VirtualBox web service.

libvirt's driver talks to VBoxSVC in-process (XPCOM); this one talks to ``vboxwebsrv``, the SOAP
front end VirtualBox ships, which exposes the same Main API. The endpoint is the URI's ``websrv``
parameter, else ``$VBOX_WEBSRV_URL``, else ``http://localhost:18083/`` (vboxwebsrv's default).
The web service authenticates through its auth library (VBoxAuthSimple, the host's users, or
"null"): the user is the URI's or the current one, the password comes from libvirt's auth.conf
(``[auth-vbox-HOST]``), empty when there is none. Guests are IVirtualBox.machines; a running
guest's id is its position in that list plus one, as libvirt numbers them.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
import uuid as uuidlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from xml.sax.saxutils import escape as _escape

from virt.core import auth
from virt.core.driver import AlwaysDefined, Driver, ListingFromListAll
from virt.core.enums import (
    ConnectListAllDomainsFlags,
    DomainEventID,
    DomainEventResumedDetail,
    DomainEventStartedDetail,
    DomainEventStoppedDetail,
    DomainEventSuspendedDetail,
    DomainEventType,
    DomainState,
)
from virt.core.events import EventBus
from virt.core.types import DomainInfo, DomainRef, NodeInfo
from virt.core.uri import URI
from virt.driver.vbox.websrv import VBoxFault, WebServiceClient, vbox_error
from virt.util.errors import ErrorDomain, ErrorNumber, InvalidArgError, OperationFailedError, not_found

#: The libvirt version whose behaviour this driver reproduces.
LIB_VERSION = 9_000_000
DEFAULT_WEBSRV = "http://localhost:18083/"

#: MachineState -> libvirt state, as libvirt's driver maps them.
_DOMAIN_STATES = {"Running": DomainState.RUNNING, "Stuck": DomainState.BLOCKED, "Paused": DomainState.PAUSED,
                  "Stopping": DomainState.SHUTDOWN, "PoweredOff": DomainState.SHUTOFF, "Saved": DomainState.SHUTOFF,
                  "Aborted": DomainState.CRASHED}
#: MachineStates between FirstOnline and LastOnline: the guest has a VM process.
_ONLINE = frozenset({"Running", "Paused", "Stuck", "Teleporting", "LiveSnapshotting", "Starting", "Stopping",
                     "Saving", "Restoring", "TeleportingPausedVM", "TeleportingIn", "DeletingSnapshotOnline",
                     "DeletingSnapshotPaused", "OnlineSnapshotting"})
#: States a guest can be started from.
_STARTABLE = frozenset({"PoweredOff", "Saved", "Aborted"})
#: DeviceType in the boot order -> <boot dev>; libvirt's list of boot devices has 4 entries.
_BOOT_DEVICES = {"Floppy": "fd", "DVD": "cdrom", "HardDisk": "hd", "Network": "network"}
_MAX_BOOT_DEVICES = 4


#: NetworkAttachmentType -> (<interface type>, getter of its source, <source> attribute); others are NAT (user).
_ATTACHMENTS: dict[str, tuple[str, str, str]] = {
    "NAT": ("user", "", ""),
    "Bridged": ("bridge", "INetworkAdapter_getBridgedInterface", "bridge"),
    "Internal": ("internal", "INetworkAdapter_getInternalNetwork", "name"),
    "HostOnly": ("network", "INetworkAdapter_getHostOnlyInterface", "network"),
}
#: StorageBus -> libvirt's controller type and disk bus.
_STORAGE_BUSES = {"IDE": ("ide", "ide"), "SATA": ("sata", "sata"), "SCSI": ("scsi", "scsi"), "SAS": ("scsi", "scsi"),
                  "Floppy": ("fdc", "fdc")}
#: StorageControllerType -> controller model.
_CONTROLLER_MODELS = {"PIIX3": "piix3", "PIIX4": "piix4", "ICH6": "ich6", "BusLogic": "buslogic",
                      "LsiLogic": "lsilogic", "LsiLogicSas": "lsisas1068"}
#: DeviceType of a medium attachment -> <disk device>.
_DISK_DEVICES = {"HardDisk": "disk", "Floppy": "floppy", "DVD": "cdrom"}


@dataclass
class VBoxDisk:
    device: str
    source: str | None
    bus: str
    target: str
    address: tuple[int, int, int]  # controller, bus, unit
    readonly: bool


#: NetworkAdapterType -> <model type>.
_NIC_MODELS = {"Am79C970A": "am79c970a", "Am79C973": "am79c973", "I82540EM": "82540EM", "I82545EM": "82545EM",
               "I82543GC": "82543GC", "Virtio": "virtio"}


@dataclass
class NIC:
    """An enabled network adapter as libvirt describes it."""

    type: str
    mac: str
    source: tuple[str, str] | None = None  # (<source> attribute, value)
    model: str | None = None


def escape(text: str) -> str:
    """Text or an attribute value escaped as libvirt escapes it (all five XML specials)."""
    return _escape(text, {"'": "&apos;", '"': "&quot;"})


def _bool(text: str) -> bool:
    return text.strip().lower() == "true"


#: Machine attributes read, described once: our name -> (getter, converter).
MACHINE_ATTRS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "name": ("IMachine_getName", str), "uuid": ("IMachine_getId", str), "state": ("IMachine_getState", str),
    "accessible": ("IMachine_getAccessible", _bool),
    "memory": ("IMachine_getMemorySize", int), "cpus": ("IMachine_getCPUCount", int),
}
_LIST_ATTRS = ("accessible", "name", "uuid", "state")


@dataclass
class Machine:
    """One IMachine: its reference, position in IVirtualBox.machines and the attributes read."""

    ref: str
    index: int
    attrs: dict[str, Any]

    @property
    def state(self) -> str:
        return str(self.attrs.get("state", ""))

    @property
    def active(self) -> bool:
        return self.state in _ONLINE

    @property
    def domain(self) -> DomainRef:
        return DomainRef(str(self.attrs["name"]), str(uuidlib.UUID(str(self.attrs["uuid"]))),
                         self.index + 1 if self.active else -1)


def parse_version(text: str) -> int:
    """VirtualBox's version (7.0.12, 6.1.50_Ubuntu) as libvirt packs it: major * 10^6 + minor * 10^3 + micro."""
    parts = [int(p) for p in re.findall(r"\d+", text.partition("_")[0])[:3]]
    if not parts:
        raise vbox_error(f"Could not parse VirtualBox version '{text}'")
    major, minor, micro = (parts + [0, 0])[:3]
    return major * 1_000_000 + minor * 1000 + micro


class VBoxDriver(ListingFromListAll, AlwaysDefined, Driver):
    name = "vbox"
    uri_schemes = ("vbox",)
    #: Client class, replaceable by tests.
    client_class: ClassVar[Callable[..., WebServiceClient]] = WebServiceClient

    def __init__(self, uri: URI, *, readonly: bool = False, events: EventBus | None = None) -> None:
        super().__init__(uri, readonly=readonly, events=events)
        if uri.path not in ("/session", "/session/"):
            raise InvalidArgError(f"unknown driver path '{uri.path}' specified (try vbox:///session)",
                                  domain=ErrorDomain.VBOX)
        url = uri.params.get("websrv") or os.environ.get("VBOX_WEBSRV_URL") or DEFAULT_WEBSRV
        self.client = self.client_class(url)
        authfile = auth.auth_file(uri.params)
        host = self.client.host
        username = uri.user or auth.lookup(authfile, "vbox", host, "username") or getpass.getuser()
        password = auth.lookup(authfile, "vbox", host, "password") or ""
        self.client.logon(username, password)
        self._vbox = str(self.client.vbox)
        self._version = self._call("IVirtualBox_getVersion", _this=self._vbox)[0]

    def close(self) -> None:
        self.client.logoff()

    def _call(self, method: str, **args: Any) -> list[Any]:
        """A call whose fault becomes libvirt's error (VirtualBox's own message kept)."""
        try:
            return self.client.call(method, **args)
        except VBoxFault as fault:
            code = f" (0x{fault.result_code:08x})" if fault.result_code is not None else ""
            raise vbox_error(f"{method} failed: {fault.message}{code}") from None

    def _one(self, method: str, **args: Any) -> str:
        values = self._call(method, **args)
        return str(values[0]) if values else ""

    # -- host ----------------------------------------------------------------------------------------
    def connect_get_type(self) -> str:
        return "VBOX"

    def connect_get_version(self) -> int:
        return parse_version(self._version)

    def connect_get_lib_version(self) -> int:
        return LIB_VERSION

    def connect_get_uri(self) -> str:
        return str(self.uri)

    def connect_get_hostname(self) -> str:
        # vbox:///session is a local connection: libvirt answers with this machine's name.
        return socket.getfqdn(socket.gethostname())

    def connect_is_secure(self) -> int:
        # Local as libvirt's driver is, or HTTPS; plain HTTP to another host is not.
        local = self.client.host in ("localhost", "127.0.0.1", "::1")
        return 1 if local or self.client.secure else 0

    def connect_is_encrypted(self) -> int:
        return 1 if self.client.secure else 0

    def connect_is_alive(self) -> int:
        return 1 if self.client.vbox is not None else 0

    def node_get_info(self) -> NodeInfo:
        host = self._one("IVirtualBox_getHost", _this=self._vbox)
        cpus = int(self._one("IHost_getProcessorCount", _this=host) or 0)
        cores = int(self._one("IHost_getProcessorCoreCount", _this=host) or cpus) or 1
        model = re.sub(r"\s{2,}", " ", re.sub(r"\((?:R|TM|C)\)", "",
                                              self._one("IHost_getProcessorDescription", _this=host, cpuId=0)))
        return NodeInfo(model.strip()[:31], int(self._one("IHost_getMemorySize", _this=host) or 0) * 1024, cpus,
                        int(self._one("IHost_getProcessorSpeed", _this=host, cpuId=0) or 0), 1, 1, cores,
                        max(cpus // cores, 1))

    # -- domains -------------------------------------------------------------------------------------
    def _read(self, ref: str, names: tuple[str, ...]) -> dict[str, Any]:
        attrs = {}
        for name in names:
            getter, convert = MACHINE_ATTRS[name]
            attrs[name] = convert(self._one(getter, _this=ref))
            if name == "accessible" and not attrs[name]:
                break  # an inaccessible machine (its settings file missing) has nothing else to read
        return attrs

    def _machines(self) -> list[Machine]:
        machines = []
        for index, ref in enumerate(self._call("IVirtualBox_getMachines", _this=self._vbox)):
            attrs = self._read(ref, _LIST_ATTRS)
            if attrs["accessible"]:
                machines.append(Machine(ref, index, attrs))
        return machines

    def _find(self, dom: DomainRef) -> Machine:
        for m in self._machines():
            if m.domain.uuid == dom.uuid:
                return m
        raise not_found(ErrorNumber.NO_DOMAIN, f"no domain with matching uuid '{dom.uuid}'", ErrorDomain.VBOX)

    def connect_list_all_domains(self, flags: int = 0) -> list[DomainRef]:
        F = ConnectListAllDomainsFlags
        wanted = {DomainState.RUNNING: F.RUNNING, DomainState.PAUSED: F.PAUSED, DomainState.SHUTOFF: F.SHUTOFF}
        refs = []
        for m in self._machines():
            if flags & (F.ACTIVE | F.INACTIVE) and not flags & (F.ACTIVE if m.active else F.INACTIVE):
                continue
            if flags & F.TRANSIENT and not flags & F.PERSISTENT:
                continue  # every VirtualBox machine is persistent
            state = _DOMAIN_STATES.get(m.state, DomainState.NOSTATE)
            states = flags & (F.RUNNING | F.PAUSED | F.SHUTOFF | F.OTHER)
            if states and not states & wanted.get(state, F.OTHER):
                continue
            saved = m.state == "Saved"
            if flags & (F.MANAGEDSAVE | F.NO_MANAGEDSAVE) and not flags & (F.MANAGEDSAVE if saved else F.NO_MANAGEDSAVE):
                continue
            refs.append(m.domain)
        return refs

    def domain_lookup_by_id(self, id: int) -> DomainRef:
        for m in self._machines():
            if m.active and m.index + 1 == id:
                return m.domain
        raise not_found(ErrorNumber.NO_DOMAIN, f"no domain with matching id {id}", ErrorDomain.VBOX)

    def domain_lookup_by_uuid(self, uuid: str) -> DomainRef:
        return self._find(DomainRef("", uuid, -1)).domain

    def domain_lookup_by_name(self, name: str) -> DomainRef:
        for m in self._machines():
            if m.attrs["name"] == name:
                return m.domain
        raise not_found(ErrorNumber.NO_DOMAIN, f"no domain with matching name '{name}'", ErrorDomain.VBOX)

    def domain_get_info(self, dom: DomainRef) -> DomainInfo:
        m = self._find(dom)
        attrs = self._read(m.ref, ("memory", "cpus"))
        # The maximum is what VirtualBox allows any guest (ISystemProperties.maxGuestRAM), as libvirt reports.
        properties = self._one("IVirtualBox_getSystemProperties", _this=self._vbox)
        max_mem = int(self._one("ISystemProperties_getMaxGuestRAM", _this=properties) or 4096) * 1024
        return DomainInfo(int(_DOMAIN_STATES.get(m.state, DomainState.NOSTATE)), max_mem, int(attrs["memory"]) * 1024,
                          int(attrs["cpus"]), 0)

    def domain_get_state(self, dom: DomainRef, flags: int = 0) -> tuple[int, int]:
        return int(_DOMAIN_STATES.get(self._find(dom).state, DomainState.NOSTATE)), 0

    def domain_get_id(self, dom: DomainRef) -> int:
        return self._find(dom).domain.id

    def domain_is_active(self, dom: DomainRef) -> int:
        return 1 if self._find(dom).active else 0

    def domain_get_xml_desc(self, dom: DomainRef, flags: int = 0) -> str:
        m = self._find(dom)
        attrs = {**m.attrs, **self._read(m.ref, ("memory", "cpus"))}
        properties = self._one("IVirtualBox_getSystemProperties", _this=self._vbox)
        positions = min(int(self._one("ISystemProperties_getMaxBootPosition", _this=properties) or 0),
                        _MAX_BOOT_DEVICES)
        # libvirt files each device at its position's index but counts only the devices found, so a
        # gap (a Null position before a device) shows as the first entries' default, fd: kept as it is.
        slots = ["fd"] * _MAX_BOOT_DEVICES
        count = 0
        for position in range(1, positions + 1):
            device = self._one("IMachine_getBootOrder", _this=m.ref, position=position)
            if device in _BOOT_DEVICES:
                slots[position - 1] = _BOOT_DEVICES[device]
                count += 1
        boot = slots[:count]
        bios = self._one("IMachine_getBIOSSettings", _this=m.ref)
        features = [name for name, on in (
            ("acpi", _bool(self._one("IBIOSSettings_getACPIEnabled", _this=bios))),
            ("apic", _bool(self._one("IBIOSSettings_getIOAPICEnabled", _this=bios))),
            ("pae", _bool(self._one("IMachine_getCPUProperty", _this=m.ref, property="PAE")))) if on]
        adapter = self._one("IMachine_getGraphicsAdapter", _this=m.ref)
        video = {k: self._one(f"IGraphicsAdapter_get{k}", _this=adapter)
                 for k in ("VRAMSize", "MonitorCount", "Accelerate3DEnabled", "Accelerate2DVideoEnabled")}
        chipset = self._one("IMachine_getChipsetType", _this=m.ref)
        slots = int(self._one("ISystemProperties_getMaxNetworkAdapters", _this=properties, chipset=chipset) or 0)
        controllers = self._controllers(m.ref)
        return domain_xml(m.domain, attrs, boot, features, video, self._nics(m.ref, slots), controllers,
                          self._disks(m.ref, controllers))

    def _controllers(self, machine: str) -> list[tuple[str, int, str | None, str]]:
        """(type, index, model, VirtualBox bus) of each storage controller; each type numbered on its own."""
        out: list[tuple[str, int, str | None, str]] = []
        for ref in self._call("IMachine_getStorageControllers", _this=machine):
            bus = self._one("IStorageController_getBus", _this=ref)
            if bus not in _STORAGE_BUSES:
                continue  # a bus libvirt's driver does not know (USB, PCIe, virtio-scsi)
            kind = _STORAGE_BUSES[bus][0]
            model = _CONTROLLER_MODELS.get(self._one("IStorageController_getControllerType", _this=ref))
            out.append((kind, sum(1 for c in out if c[0] == kind), model, bus))
        return out

    def _disks(self, machine: str, controllers: list[tuple[str, int, str | None, str]]) -> list[VBoxDisk]:
        disks = []
        sd_count = 0
        for attachment in self._call("IMachine_getMediumAttachments", _this=machine):
            if not isinstance(attachment, dict):
                raise vbox_error("IMachine_getMediumAttachments returned no attachment structure")
            controller = self._one("IMachine_getStorageControllerByName", _this=machine,
                                   name=attachment.get("controller", ""))
            bus = self._one("IStorageController_getBus", _this=controller)
            port, slot = int(attachment.get("port") or 0), int(attachment.get("device") or 0)
            medium = attachment.get("medium") or ""
            source = self._one("IMedium_getLocation", _this=medium) if medium else None
            readonly = _bool(self._one("IMedium_getReadOnly", _this=medium)) if medium else False
            device = _DISK_DEVICES.get(attachment.get("type", ""))
            if device is None:
                raise vbox_error(f"Unsupported vbox device type: {attachment.get('type')}")
            ctrl_index = 0
            if bus == "IDE":
                target, address = disk_name(port * 2 + slot, "hd"), (0, port, slot)
            elif bus in ("SATA", "SCSI", "SAS"):
                target = disk_name(sd_count, "sd")
                sd_count += 1
                if bus != "SATA":
                    # A disk on a SAS controller sits on the lsisas1068 one, on SCSI on any other.
                    ctrl_index = next((i for kind, i, model, _ in controllers if kind == "scsi"
                                       and (model == "lsisas1068") == (bus == "SAS")), 0)
                address = (ctrl_index, 0, port)
            elif bus == "Floppy":
                target, address = disk_name(slot, "fd"), (0, 0, port)
            else:
                raise vbox_error(f"Could not generate medium name for the disk at: port:{port}, slot:{slot}")
            disks.append(VBoxDisk(device, source, _STORAGE_BUSES[bus][1], target, address, readonly))
        return disks

    def _nics(self, machine: str, slots: int) -> list[NIC]:
        nics = []
        for slot in range(slots):
            adapter = self._one("IMachine_getNetworkAdapter", _this=machine, slot=slot)
            if not adapter or not _bool(self._one("INetworkAdapter_getEnabled", _this=adapter)):
                continue
            kind, getter, attr = _ATTACHMENTS.get(self._one("INetworkAdapter_getAttachmentType", _this=adapter),
                                                  _ATTACHMENTS["NAT"])
            source = (attr, self._one(getter, _this=adapter)) if getter else None
            mac = self._one("INetworkAdapter_getMACAddress", _this=adapter)
            if not re.fullmatch(r"[0-9A-Fa-f]{12}", mac):
                raise vbox_error(f"Could not parse MAC address '{mac}'")
            nics.append(NIC(kind, ":".join(mac[i:i + 2] for i in range(0, 12, 2)).lower(), source,
                            _NIC_MODELS.get(self._one("INetworkAdapter_getAdapterType", _this=adapter))))
        return nics

    # -- power ---------------------------------------------------------------------------------------
    def _wait(self, progress: str, what: str) -> None:
        self._call("IProgress_waitForCompletion", _this=progress, timeout=-1)
        result = int(self._one("IProgress_getResultCode", _this=progress) or 0)
        if result != 0:
            info = self._one("IProgress_getErrorInfo", _this=progress)
            text = self._one("IVirtualBoxErrorInfo_getText", _this=info) if info else ""
            raise OperationFailedError(f"{what} failed: {text or f'error 0x{result & 0xFFFFFFFF:08x}'}",
                                       code=ErrorNumber.OPERATION_FAILED, domain=ErrorDomain.VBOX)

    def _console(self, m: Machine, action: Callable[[str], None], of: str = "ISession_getConsole") -> None:
        """Run ``action(obj)`` with a shared lock on the machine's session; ``obj`` is the session's
        console, or (``of="ISession_getMachine"``) its mutable machine."""
        session = self._one("IWebsessionManager_getSessionObject", refIVirtualBox=self._vbox)
        self._call("IMachine_lockMachine", _this=m.ref, session=session, lockType="Shared")
        try:
            action(self._one(of, _this=session))
        finally:
            self._call("ISession_unlockMachine", _this=session)

    def _console_call(self, method: str, console: str) -> None:
        self._call(method, _this=console)

    def _emit(self, dom: DomainRef, event: DomainEventType, detail: int) -> DomainRef:
        ref = self._find(dom).domain
        self.events.emit("domain", DomainEventID.LIFECYCLE, ref, int(event), int(detail))
        return ref

    @staticmethod
    def _check(ok: bool, message: str) -> None:
        if not ok:
            raise OperationFailedError(message, code=ErrorNumber.OPERATION_FAILED, domain=ErrorDomain.VBOX)

    def domain_create(self, dom: DomainRef) -> DomainRef:
        return self.domain_create_with_flags(dom, 0)

    def domain_create_with_flags(self, dom: DomainRef, flags: int = 0) -> DomainRef:
        if flags:
            raise InvalidArgError(f"unsupported flags (0x{flags:x}) in function vboxDomainCreateWithFlags")
        self.check_writable("domain_create_with_flags")
        m = self._find(dom)
        self._check(m.state in _STARTABLE,
                    "machine is not in poweroff|saved|aborted state, so couldn't start it")
        session = self._one("IWebsessionManager_getSessionObject", refIVirtualBox=self._vbox)
        progress = self._one("IMachine_launchVMProcess", _this=m.ref, session=session, name="headless",
                             environmentChanges=[])
        try:
            self._wait(progress, "Starting the machine")
        finally:
            self._call("ISession_unlockMachine", _this=session)
        detail = DomainEventStartedDetail.RESTORED if m.state == "Saved" else DomainEventStartedDetail.BOOTED
        return self._emit(dom, DomainEventType.STARTED, detail)

    def domain_destroy(self, dom: DomainRef) -> None:
        self.domain_destroy_flags(dom, 0)

    def domain_destroy_flags(self, dom: DomainRef, flags: int = 0) -> None:
        if flags:
            raise InvalidArgError(f"unsupported flags (0x{flags:x}) in function vboxDomainDestroyFlags")
        self.check_writable("domain_destroy_flags")
        m = self._find(dom)
        self._check(m.active, "machine already powered down")
        self._console(m, lambda console: self._wait(self._one("IConsole_powerDown", _this=console), "Power down"))
        self._emit(dom, DomainEventType.STOPPED, DomainEventStoppedDetail.DESTROYED)

    def domain_suspend(self, dom: DomainRef) -> None:
        self.check_writable("domain_suspend")
        m = self._find(dom)
        self._check(m.state == "Running", "machine not in running state to suspend it")
        self._console(m, lambda console: self._console_call("IConsole_pause", console))
        self._emit(dom, DomainEventType.SUSPENDED, DomainEventSuspendedDetail.PAUSED)

    def domain_resume(self, dom: DomainRef) -> None:
        self.check_writable("domain_resume")
        m = self._find(dom)
        self._check(m.state == "Paused", "machine not paused, so can't resume it")
        self._console(m, lambda console: self._console_call("IConsole_resume", console))
        self._emit(dom, DomainEventType.RESUMED, DomainEventResumedDetail.UNPAUSED)

    def domain_shutdown(self, dom: DomainRef) -> None:
        self.domain_shutdown_flags(dom, 0)

    def domain_shutdown_flags(self, dom: DomainRef, flags: int = 0) -> None:
        """The ACPI power button: the guest decides to shut down (no event until it has)."""
        if flags:
            raise InvalidArgError(f"unsupported flags (0x{flags:x}) in function vboxDomainShutdownFlags")
        self.check_writable("domain_shutdown_flags")
        m = self._find(dom)
        self._check(m.state != "Paused", "machine paused, so can't power it down")
        self._check(m.active, "machine already powered down")
        self._console(m, lambda console: self._console_call("IConsole_powerButton", console))

    def domain_reboot(self, dom: DomainRef, flags: int = 0) -> None:
        if flags:
            raise InvalidArgError(f"unsupported flags (0x{flags:x}) in function vboxDomainReboot")
        self.check_writable("domain_reboot")
        m = self._find(dom)
        self._check(m.state == "Running", "machine not running, so can't reboot it")
        self._console(m, lambda console: self._console_call("IConsole_reset", console))

    def domain_managed_save(self, dom: DomainRef, flags: int = 0) -> None:
        """VirtualBox's saved state is libvirt's managed save: the machine stops, Saved, and starts from it."""
        if flags:
            raise InvalidArgError(f"unsupported flags (0x{flags:x}) in function vboxDomainManagedSave")
        self.check_writable("domain_managed_save")
        m = self._find(dom)
        self._check(m.state in ("Running", "Paused"), "machine not running, so can't save it")
        self._console(m, lambda machine: self._wait(self._one("IMachine_saveState", _this=machine), "Saving the state"),
                      of="ISession_getMachine")
        self._emit(dom, DomainEventType.STOPPED, DomainEventStoppedDetail.SAVED)

    def domain_has_managed_save_image(self, dom: DomainRef, flags: int = 0) -> int:
        if flags:
            raise InvalidArgError(f"unsupported flags (0x{flags:x}) in function vboxDomainHasManagedSaveImage")
        return 1 if self._find(dom).state == "Saved" else 0

    def domain_managed_save_remove(self, dom: DomainRef, flags: int = 0) -> None:
        if flags:
            raise InvalidArgError(f"unsupported flags (0x{flags:x}) in function vboxDomainManagedSaveRemove")
        self.check_writable("domain_managed_save_remove")
        m = self._find(dom)
        self._check(m.state == "Saved", "machine has no saved state")
        session = self._one("IWebsessionManager_getSessionObject", refIVirtualBox=self._vbox)
        # Discarding needs the settings lock a powered-off machine gives (a Write lock).
        self._call("IMachine_lockMachine", _this=m.ref, session=session, lockType="Write")
        try:
            self._call("IMachine_discardSavedState", _this=self._one("ISession_getMachine", _this=session),
                       fRemoveFile=True)
        finally:
            self._call("ISession_unlockMachine", _this=session)


def disk_name(index: int, prefix: str) -> str:
    """libvirt's disk name for an index: 0 -> hda, 25 -> hdz, 26 -> hdaa."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(ord("a") + rest) + name
    return prefix + name


def domain_xml(dom: DomainRef, attrs: dict[str, Any], boot: list[str], features: list[str],
               video: dict[str, str], nics: Sequence[NIC] = (),
               controllers: Sequence[tuple[str, int, str | None, str]] = (), disks: Sequence[VBoxDisk] = ()) -> str:
    """The domain XML libvirt's VirtualBox driver writes, from what the machine's settings say."""
    domid = f" id='{dom.id}'" if dom.id >= 0 else ""
    memory = int(attrs["memory"]) * 1024
    lines = [f"<domain type='vbox'{domid}>", f"  <name>{escape(dom.name)}</name>", f"  <uuid>{dom.uuid}</uuid>"]
    lines += [f"  <memory unit='KiB'>{memory}</memory>", f"  <currentMemory unit='KiB'>{memory}</currentMemory>",
              f"  <vcpu placement='static'>{int(attrs['cpus'])}</vcpu>", "  <os>",
              f"    <type arch='{_host_arch()}'>hvm</type>"]
    lines += [f"    <boot dev='{dev}'/>" for dev in boot]
    lines.append("  </os>")
    if features:
        lines += ["  <features>", *(f"    <{f}/>" for f in features), "  </features>"]
    # libvirt's driver always reports localtime (VirtualBox's RTC setting is not read).
    lines += ["  <clock offset='localtime'/>",
              "  <on_poweroff>destroy</on_poweroff>", "  <on_reboot>destroy</on_reboot>",
              "  <on_crash>destroy</on_crash>", "  <devices>"]
    for disk in disks:
        lines.append(f"    <disk type='file' device='{disk.device}'>")
        if disk.source is not None:
            lines.append(f"      <source file='{escape(disk.source)}'/>")
        lines.append(f"      <target dev='{disk.target}' bus='{disk.bus}'/>")
        if disk.readonly:
            lines.append("      <readonly/>")
        c, b, u = disk.address
        lines += [f"      <address type='drive' controller='{c}' bus='{b}' target='0' unit='{u}'/>", "    </disk>"]
    for kind, index, model, _ in controllers:
        lines.append(f"    <controller type='{kind}' index='{index}'" + (f" model='{model}'" if model else "") + "/>")
    for nic in nics:
        lines += [f"    <interface type='{nic.type}'>", f"      <mac address='{nic.mac}'/>"]
        if nic.source is not None:
            lines.append(f"      <source {nic.source[0]}='{escape(nic.source[1])}'/>")
        if nic.model:
            lines.append(f"      <model type='{nic.model}'/>")
        lines.append("    </interface>")
    accel3d = "yes" if _bool(video.get("Accelerate3DEnabled", "")) else "no"
    accel2d = "yes" if _bool(video.get("Accelerate2DVideoEnabled", "")) else "no"
    lines += ["    <video>",
              f"      <model type='vbox' vram='{int(video.get('VRAMSize') or 0) * 1024}' "
              f"heads='{int(video.get('MonitorCount') or 1)}'>",
              f"        <acceleration accel3d='{accel3d}' accel2d='{accel2d}'/>", "      </model>", "    </video>",
              "  </devices>", "</domain>"]
    return "\n".join(lines) + "\n"


def _host_arch() -> str:
    """The architecture guests get: the host's, as libvirt's driver says (VirtualBox runs x86 guests)."""
    machine = os.uname().machine
    return {"amd64": "x86_64", "i386": "i686", "i586": "i686"}.get(machine, machine)
