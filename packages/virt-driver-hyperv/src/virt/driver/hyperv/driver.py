"""The Hyper-V driver: Microsoft Hyper-V hosts over WS-Management (hyperv://host/).

URIs: ``hyperv://[user@]host[:port]/[?transport=https|http&no_verify=0|1&authfile=PATH]``
(default https on 5986, http on 5985). The user defaults to ``administrator``; the password
comes from libvirt's auth.conf (``auth-hyperv-HOST`` -> ``credentials-NAME``). Guests are the
host's ``Msvm_ComputerSystem`` instances (root/virtualization/v2) described as virtual machines;
their UUID is the instance's Name, their id the worker process's id while active; power changes
go through RequestStateChange, waiting for the Msvm_ConcreteJob it may start.
"""

from __future__ import annotations

import re
import time
import uuid as uuidlib
from collections.abc import Callable
from enum import IntEnum
from typing import Any, ClassVar

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
from virt.driver.hyperv.devices import Devices, as_list, format_mac, serials, storage
from virt.driver.hyperv.devices import xml_escape as escape
from virt.driver.hyperv.wsman import (
    CIMV2,
    RETURN_COMPLETED,
    RETURN_JOB_STARTED,
    VIRTUALIZATION,
    WSManClient,
    hyperv_error,
)
from virt.util.errors import (
    AuthFailedError,
    ErrorDomain,
    ErrorNumber,
    InvalidArgError,
    OperationInvalidError,
    VirtError,
    not_found,
)

#: The libvirt version whose behaviour this driver reproduces.
LIB_VERSION = 9_000_000


class EnabledState(IntEnum):
    """Msvm_ComputerSystem.EnabledState (and RequestedState) values of the v2 provider."""

    UNKNOWN = 0
    ENABLED = 2
    DISABLED = 3
    #: A paused guest of the v2 provider (and what a pause requests).
    QUIESCE = 9
    PAUSED = 32768
    SUSPENDED = 32769
    STARTING = 32770
    SNAPSHOTTING = 32771
    SAVING = 32773
    STOPPING = 32774
    PAUSING = 32776
    RESUMING = 32777
    #: Requested only (RequestStateChange), never reported.
    REBOOT = 10
    RESET = 11


#: EnabledState -> libvirt state, as libvirt's driver maps it (a saved guest is shut off).
_DOMAIN_STATES = {
    EnabledState.ENABLED: DomainState.RUNNING, EnabledState.DISABLED: DomainState.SHUTOFF,
    EnabledState.QUIESCE: DomainState.PAUSED, EnabledState.PAUSED: DomainState.PAUSED,
    EnabledState.SUSPENDED: DomainState.SHUTOFF,
    EnabledState.STARTING: DomainState.RUNNING, EnabledState.SNAPSHOTTING: DomainState.RUNNING,
    EnabledState.SAVING: DomainState.RUNNING, EnabledState.STOPPING: DomainState.SHUTDOWN,
    EnabledState.PAUSING: DomainState.RUNNING, EnabledState.RESUMING: DomainState.RUNNING,
}
#: States without a running worker process (libvirt's WQL for inactive guests); every other is active.
_INACTIVE = frozenset({EnabledState.UNKNOWN, EnabledState.DISABLED, EnabledState.SUSPENDED})
#: States a paused guest reports (v2: Quiesce; Paused as the v1 provider did).
_PAUSED = frozenset({EnabledState.QUIESCE, EnabledState.PAUSED})
#: Msvm_ConcreteJob.JobState: finished well, and finished badly.
_JOB_COMPLETED = 7
_JOB_FAILED = frozenset({8, 9, 10})

#: Several Notes entries are separated by an empty line, as libvirt joins them.
_NOTES_SEPARATOR = "\n\n"
_VM_WQL = "SELECT * FROM Msvm_ComputerSystem WHERE Description = \"Microsoft Virtual Machine\""


def _wql_path(path: str) -> str:
    """An object path for ``WHERE __PATH = '...'``: backslashes doubled, its quotes kept, as libvirt writes it."""
    return path.replace('\\"', '"').replace("\\", "\\\\")


def _wql_string(value: str) -> str:
    """A value escaped for a quoted WQL literal (backslash before quotes and backslashes, as libvirt does)."""
    return value.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"')


def _state(cs: dict[str, Any]) -> DomainState:
    try:
        return _DOMAIN_STATES.get(EnabledState(int(cs.get("EnabledState") or 0)), DomainState.NOSTATE)
    except ValueError:
        return DomainState.NOSTATE


def _active(cs: dict[str, Any]) -> bool:
    return int(cs.get("EnabledState") or 0) not in _INACTIVE


def pack_version(text: str) -> int:
    """Windows' version (10.0.17763) packed keeping every digit of the build number, as libvirt does."""
    parts = [int(p) for p in re.findall(r"\d+", text)[:3]]
    if len(parts) < 2:
        raise hyperv_error(f"Could not parse version from '{text}'")
    major, minor, micro = (parts + [0])[:3]
    if major > 99 or minor > 99 or micro > 999999:
        raise hyperv_error(f"Could not produce packed version number from '{text}'")
    return major * 100_000_000 + minor * 1_000_000 + micro


def cpu_model(name: str) -> str:
    """A processor name stripped as libvirt strips it for its 32-byte model field: no (R)/(C)/(TM),
    no repeated spaces, and nothing from " @ " (the clock speed) on."""
    name = re.sub(r"\((?:R|TM|C)\)", "", name)
    name = re.sub(r" {2,}", " ", name).partition(" @ ")[0]
    if len(name) > 31:
        raise hyperv_error(f"CPU model {name} too long for destination")
    return name


def domain_xml(cs: dict[str, Any], vssd: dict[str, Any], memory: dict[str, Any], processor: dict[str, Any],
               devices: Devices | None = None) -> str:
    """The domain XML libvirt's Hyper-V driver writes for a guest from its WMI settings objects."""
    domid = f" id='{cs.get('ProcessID')}'" if _active(cs) and cs.get("ProcessID") is not None else ""
    notes = vssd.get("Notes")
    notes = [n for n in (notes if isinstance(notes, list) else [notes]) if n]
    lines = [f"<domain type='hyperv'{domid}>", f"  <name>{escape(str(cs.get('ElementName', '')))}</name>",
             f"  <uuid>{uuidlib.UUID(str(cs.get('Name')))}</uuid>"]
    if notes:
        lines.append(f"  <description>{escape(_NOTES_SEPARATOR.join(notes))}</description>")
    limit, quantity = int(memory.get("Limit") or 0) * 1024, int(memory.get("VirtualQuantity") or 0) * 1024
    if limit:
        lines.append(f"  <maxMemory slots='0' unit='KiB'>{limit}</maxMemory>")
    vcpus = int(processor.get("VirtualQuantity") or 0)
    lines += [f"  <memory unit='KiB'>{quantity}</memory>", f"  <currentMemory unit='KiB'>{quantity}</currentMemory>",
              f"  <vcpu placement='static'>{vcpus}</vcpu>", "  <os>", "    <type>hvm</type>", "  </os>",
              "  <clock offset='utc'/>", "  <on_poweroff>destroy</on_poweroff>",
              "  <on_reboot>destroy</on_reboot>", "  <on_crash>destroy</on_crash>", "  <devices>",
              *(devices.xml() if devices is not None else []), "  </devices>", "</domain>"]
    return "\n".join(lines) + "\n"


class HyperVDriver(ListingFromListAll, AlwaysDefined, Driver):
    name = "hyperv"
    uri_schemes = ("hyperv",)
    #: Client class, replaceable by tests.
    client_class: ClassVar[Callable[..., WSManClient]] = WSManClient
    #: How long a state change may take (its job polled) before the call fails.
    job_timeout: ClassVar[float] = 300.0

    def __init__(self, uri: URI, *, readonly: bool = False, events: EventBus | None = None) -> None:
        super().__init__(uri, readonly=readonly, events=events)
        params = uri.params
        transport = params.get("transport", "https")
        if transport not in ("http", "https"):
            raise InvalidArgError(f"Query parameter 'transport' has unexpected value '{transport}' "
                                  "(should be http|https)")
        no_verify = params.get("no_verify", "0")
        if no_verify not in ("0", "1"):
            raise InvalidArgError(f"Query parameter 'no_verify' has unexpected value '{no_verify}' "
                                  "(should be 0 or 1)")
        if not uri.server:
            raise InvalidArgError("URI is missing the server part")
        secure = transport == "https"
        authfile = auth.auth_file(params)
        username = uri.user or auth.lookup(authfile, "hyperv", uri.server, "username") or "administrator"
        password = auth.lookup(authfile, "hyperv", uri.server, "password")
        if password is None:
            raise AuthFailedError("Password request failed", code=ErrorNumber.AUTH_FAILED, domain=ErrorDomain.HYPERV)
        self.client = self.client_class(uri.server, uri.port or (5986 if secure else 5985), username, password,
                                        secure=secure, verify=no_verify == "0", cafile=params.get("cacert"))
        # As libvirt does on open: the host's OS answers (credentials and reachability checked now).
        self._os_version = str(self._one(CIMV2, "SELECT * FROM Win32_OperatingSystem",
                                         f"Could not get version information for host {uri.server}")
                               .get("Version", ""))

    @classmethod
    def claims(cls, uri: URI) -> bool:
        """Hyper-V URIs name a host but no transport: this driver talks to the host itself."""
        return uri.driver in cls.uri_schemes and uri.transport is None and bool(uri.server)

    def close(self) -> None:
        self.client.close()

    def _one(self, namespace: str, wql: str, missing: str) -> dict[str, Any]:
        found = self.client.query(namespace, wql)
        if not found:
            raise hyperv_error(missing)
        return found[0]

    # -- host ----------------------------------------------------------------------------------------
    def connect_get_type(self) -> str:
        return "Hyper-V"

    def connect_get_version(self) -> int:
        return pack_version(self._os_version)

    def connect_get_lib_version(self) -> int:
        return LIB_VERSION

    def connect_get_uri(self) -> str:
        return str(self.uri)

    def connect_get_hostname(self) -> str:
        host = self._one(CIMV2, "SELECT * FROM Win32_ComputerSystem", "Could not lookup Win32_ComputerSystem")
        name = str(host.get("DNSHostName") or "")
        if not name:
            raise hyperv_error("Could not lookup hostname")
        return name

    def connect_is_secure(self) -> int:
        return 1 if self.client.secure else 0

    def connect_is_encrypted(self) -> int:
        return 1 if self.client.secure else 0

    def connect_is_alive(self) -> int:
        return 1

    def node_get_info(self) -> NodeInfo:
        host = self._one(CIMV2, "SELECT * FROM Win32_ComputerSystem", "Could not lookup Win32_ComputerSystem")
        processors = self.client.query(CIMV2, "SELECT * FROM Win32_Processor")
        if not processors:
            raise hyperv_error("Could not lookup Win32_Processor")
        first = processors[0]
        cores = int(first.get("NumberOfCores") or 1)
        threads = int(first.get("NumberOfLogicalProcessors") or cores) // cores
        sockets = len(processors)
        # cpus counts cores, not threads, as libvirt's driver counts them.
        return NodeInfo(cpu_model(str(first.get("Name") or "")), int(host.get("TotalPhysicalMemory") or 0) // 1024,
                        sockets * cores, int(first.get("MaxClockSpeed") or 0), 1, sockets, cores, threads)

    # -- domains -------------------------------------------------------------------------------------
    def _vms(self, where: str = "") -> list[dict[str, Any]]:
        return self.client.query(VIRTUALIZATION, _VM_WQL + (f" AND {where}" if where else ""))

    @staticmethod
    def _ref(cs: dict[str, Any]) -> DomainRef:
        try:
            uuid = str(uuidlib.UUID(str(cs.get("Name"))))
        except ValueError:
            raise hyperv_error(f"Could not parse UUID from string '{cs.get('Name')}'") from None
        return DomainRef(str(cs.get("ElementName", "")), uuid, int(cs.get("ProcessID") or -1) if _active(cs) else -1)

    def _find(self, dom: DomainRef) -> dict[str, Any]:
        found = self._vms(f"Name = '{_wql_string(dom.uuid.upper())}'")
        if not found:
            raise not_found(ErrorNumber.NO_DOMAIN, f"No domain with UUID {dom.uuid}")
        return found[0]

    def connect_list_all_domains(self, flags: int = 0) -> list[DomainRef]:
        F = ConnectListAllDomainsFlags
        wanted = {DomainState.RUNNING: F.RUNNING, DomainState.PAUSED: F.PAUSED, DomainState.SHUTOFF: F.SHUTOFF}
        refs = []
        for cs in self._vms():
            active, state = _active(cs), _state(cs)
            if flags & (F.ACTIVE | F.INACTIVE) and not flags & (F.ACTIVE if active else F.INACTIVE):
                continue
            if flags & F.TRANSIENT and not flags & F.PERSISTENT:
                continue  # every Hyper-V guest is persistent
            states = flags & (F.RUNNING | F.PAUSED | F.SHUTOFF | F.OTHER)
            if states and not states & wanted.get(state, F.OTHER):
                continue
            saved = int(cs.get("EnabledState") or 0) == EnabledState.SUSPENDED
            if flags & (F.MANAGEDSAVE | F.NO_MANAGEDSAVE) and not flags & (F.MANAGEDSAVE if saved else F.NO_MANAGEDSAVE):
                continue
            refs.append(self._ref(cs))
        return refs

    def domain_lookup_by_id(self, id: int) -> DomainRef:
        found = self._vms(f"ProcessID = {int(id)}") if id >= 0 else []
        found = [cs for cs in found if _active(cs)]
        if not found:
            raise not_found(ErrorNumber.NO_DOMAIN, f"No domain with ID {id}")
        return self._ref(found[0])

    def domain_lookup_by_uuid(self, uuid: str) -> DomainRef:
        found = self._vms(f"Name = '{_wql_string(uuid.upper())}'")
        if not found:
            raise not_found(ErrorNumber.NO_DOMAIN, f"No domain with UUID {uuid}")
        return self._ref(found[0])

    def domain_lookup_by_name(self, name: str) -> DomainRef:
        found = self._vms(f"ElementName = '{_wql_string(name)}'")
        if not found:
            raise not_found(ErrorNumber.NO_DOMAIN, f"No domain with name {name}")
        if len(found) > 1:  # Hyper-V names need not be unique
            raise VirtError(f"Multiple domains exist with the name '{name}': repeat the request using a UUID",
                            code=ErrorNumber.MULTIPLE_DOMAINS, domain=ErrorDomain.HYPERV)
        return self._ref(found[0])

    def _settings(self, dom: DomainRef) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
        """The guest and its current settings: system, memory and processor setting data."""
        cs = self._find(dom)
        name = _wql_string(str(cs.get("Name")))
        vssd = self._one(VIRTUALIZATION, "ASSOCIATORS OF {Msvm_ComputerSystem.CreationClassName="
                         f'"Msvm_ComputerSystem",Name="{name}"}} WHERE AssocClass = Msvm_SettingsDefineState '
                         "ResultClass = Msvm_VirtualSystemSettingData",
                         f"Could not lookup Msvm_VirtualSystemSettingData for domain {dom.name}")
        instance = _wql_string(str(vssd.get("InstanceID")))
        component = (f'ASSOCIATORS OF {{Msvm_VirtualSystemSettingData.InstanceID="{instance}"}} '
                     "WHERE AssocClass = Msvm_VirtualSystemSettingDataComponent ResultClass = ")
        memory = self._one(VIRTUALIZATION, component + "Msvm_MemorySettingData",
                           f"Could not lookup Msvm_MemorySettingData for domain {dom.name}")
        processor = self._one(VIRTUALIZATION, component + "Msvm_ProcessorSettingData",
                              f"Could not lookup Msvm_ProcessorSettingData for domain {dom.name}")
        return cs, vssd, memory, processor

    def domain_get_info(self, dom: DomainRef) -> DomainInfo:
        cs, _, memory, processor = self._settings(dom)
        return DomainInfo(int(_state(cs)), int(memory.get("Limit") or 0) * 1024,
                          int(memory.get("VirtualQuantity") or 0) * 1024, int(processor.get("VirtualQuantity") or 0), 0)

    def domain_get_state(self, dom: DomainRef, flags: int = 0) -> tuple[int, int]:
        return int(_state(self._find(dom))), 0

    def domain_get_id(self, dom: DomainRef) -> int:
        return self._ref(self._find(dom)).id

    def domain_is_active(self, dom: DomainRef) -> int:
        return 1 if _active(self._find(dom)) else 0

    def domain_get_xml_desc(self, dom: DomainRef, flags: int = 0) -> str:
        cs, vssd, memory, processor = self._settings(dom)
        return domain_xml(cs, vssd, memory, processor, self._devices(vssd))

    def _devices(self, vssd: dict[str, Any]) -> Devices:
        instance = _wql_string(str(vssd.get("InstanceID")))

        def component(result_class: str) -> list[dict[str, Any]]:
            return self.client.query(VIRTUALIZATION, f'ASSOCIATORS OF {{Msvm_VirtualSystemSettingData.InstanceID='
                                     f'"{instance}"}} WHERE AssocClass = Msvm_VirtualSystemSettingDataComponent '
                                     f"ResultClass = {result_class}")

        rasd = component("Msvm_ResourceAllocationSettingData")
        devices = Devices()
        storage(devices, rasd, component("Msvm_StorageAllocationSettingData"), self._drive_number)
        # Windows Server 2012 R2 (6.3) keeps serial ports among the resource settings, later hosts apart.
        serials(devices, rasd if self._os_version.startswith("6.") else component("Msvm_SerialPortSettingData"))
        for port in component("Msvm_EthernetPortAllocationSettingData"):
            switches = [h for h in as_list(port.get("HostResource")) if h]
            if not switches or int(port.get("EnabledState") or 0) == 3:
                continue  # not connected to a switch
            nic = self._one(VIRTUALIZATION, "SELECT * FROM Msvm_SyntheticEthernetPortSettingData WHERE __PATH = "
                            f"'{_wql_path(str(port.get('Parent') or ''))}'", "Could not retrieve NIC settings")
            switch = self._one(VIRTUALIZATION, "SELECT * FROM Msvm_VirtualEthernetSwitch WHERE __PATH = "
                               f"'{_wql_path(str(switches[0]))}'", "Could not retrieve virtual switch")
            devices.nets.append((format_mac(str(nic.get("Address") or "")), str(switch.get("Name") or "")))
        return devices

    def _drive_number(self, host_resource: str) -> str:
        """The host disk number a passthrough drive uses (its source in the XML)."""
        drive = self._one(VIRTUALIZATION, f"SELECT * FROM Msvm_DiskDrive WHERE __PATH='{_wql_path(host_resource)}'",
                          "Could not find Msvm_DiskDrive object")
        return str(drive.get("DriveNumber"))

    # -- power ---------------------------------------------------------------------------------------
    def _checked(self, call: str, dom: DomainRef, allowed: Callable[[dict[str, Any]], bool],
                 message: str) -> dict[str, Any]:
        """The guest, once the call is allowed on this connection and in the guest's state."""
        self.check_writable(call)
        cs = self._find(dom)
        if not allowed(cs):
            raise OperationInvalidError(message, code=ErrorNumber.OPERATION_INVALID, domain=ErrorDomain.HYPERV)
        return cs

    def _finish(self, method: str, out: dict[str, Any]) -> None:
        """A method's outcome: done, a job to wait for, or an error code."""
        if out["ReturnValue"] == RETURN_JOB_STARTED:
            self._wait_for_job(out.get("Job"), method)
        elif out["ReturnValue"] != RETURN_COMPLETED:
            raise hyperv_error(f"Invocation of {method} returned an error: {out['ReturnValue']}")

    def _request_state(self, dom: DomainRef, call: str, allowed: Callable[[dict[str, Any]], bool], message: str,
                       requested: EnabledState, event: DomainEventType | None = None, detail: int = 0) -> DomainRef:
        cs = self._checked(call, dom, allowed, message)
        out = self.client.invoke(VIRTUALIZATION, "Msvm_ComputerSystem",
                                 {"CreationClassName": "Msvm_ComputerSystem", "Name": str(cs.get("Name"))},
                                 "RequestStateChange", {"RequestedState": int(requested)})
        self._finish("RequestStateChange", out)
        ref = self._ref(self._find(dom))
        if event is not None:
            self.events.emit("domain", DomainEventID.LIFECYCLE, ref, int(event), int(detail))
        return ref

    def _wait_for_job(self, job: Any, method: str) -> None:
        instance = job.get("InstanceID") if isinstance(job, dict) else None
        if not instance:
            raise hyperv_error(f"{method} started a job without naming it")
        deadline = time.monotonic() + self.job_timeout
        while True:
            state = self._one(VIRTUALIZATION, f'SELECT * FROM Msvm_ConcreteJob WHERE InstanceID = "{_wql_string(instance)}"',
                              f"Could not lookup Msvm_ConcreteJob {instance}")
            if int(state.get("JobState") or 0) == _JOB_COMPLETED:
                return
            if int(state.get("JobState") or 0) in _JOB_FAILED:
                raise hyperv_error(f"Concrete job for {method} invocation failed: "
                                   f"{state.get('ErrorDescription') or state.get('ErrorCode')}")
            if time.monotonic() > deadline:
                raise hyperv_error(f"Timeout waiting for {method} job to complete",
                                   code=ErrorNumber.OPERATION_TIMEOUT)
            time.sleep(0.05)

    def domain_create(self, dom: DomainRef) -> DomainRef:
        return self.domain_create_with_flags(dom, 0)

    def domain_create_with_flags(self, dom: DomainRef, flags: int = 0) -> DomainRef:
        if flags:
            raise InvalidArgError(f"unsupported flags (0x{flags:x}) in function hypervDomainCreateWithFlags")
        return self._request_state(dom, "domain_create", lambda cs: not _active(cs),
                                   "Domain is already active or is in state transition", EnabledState.ENABLED,
                                   DomainEventType.STARTED, DomainEventStartedDetail.BOOTED)

    def domain_destroy(self, dom: DomainRef) -> None:
        self.domain_destroy_flags(dom, 0)

    def domain_destroy_flags(self, dom: DomainRef, flags: int = 0) -> None:
        if flags:
            raise InvalidArgError(f"unsupported flags (0x{flags:x}) in function hypervDomainDestroyFlags")
        self._request_state(dom, "domain_destroy", _active, "Domain is not active or is in state transition",
                            EnabledState.DISABLED, DomainEventType.STOPPED, DomainEventStoppedDetail.DESTROYED)

    def domain_suspend(self, dom: DomainRef) -> None:
        self._request_state(dom, "domain_suspend", lambda cs: int(cs.get("EnabledState") or 0) == EnabledState.ENABLED,
                            "Domain is not active", EnabledState.QUIESCE, DomainEventType.SUSPENDED,
                            DomainEventSuspendedDetail.PAUSED)

    def domain_resume(self, dom: DomainRef) -> None:
        self._request_state(dom, "domain_resume", lambda cs: int(cs.get("EnabledState") or 0) in _PAUSED,
                            "Domain is not paused", EnabledState.ENABLED, DomainEventType.RESUMED,
                            DomainEventResumedDetail.UNPAUSED)

    def domain_managed_save(self, dom: DomainRef, flags: int = 0) -> None:
        if flags:
            raise InvalidArgError(f"unsupported flags (0x{flags:x}) in function hypervDomainManagedSave")
        self._request_state(dom, "domain_managed_save",
                            lambda cs: int(cs.get("EnabledState") or 0) in {EnabledState.ENABLED, *_PAUSED},
                            "Domain is not active or is in state transition", EnabledState.SUSPENDED,
                            DomainEventType.STOPPED, DomainEventStoppedDetail.SAVED)

    def domain_has_managed_save_image(self, dom: DomainRef, flags: int = 0) -> int:
        if flags:
            raise InvalidArgError(f"unsupported flags (0x{flags:x}) in function hypervDomainHasManagedSaveImage")
        return 1 if int(self._find(dom).get("EnabledState") or 0) == EnabledState.SUSPENDED else 0

    def domain_managed_save_remove(self, dom: DomainRef, flags: int = 0) -> None:
        if flags:
            raise InvalidArgError(f"unsupported flags (0x{flags:x}) in function hypervDomainManagedSaveRemove")
        self._request_state(dom, "domain_managed_save_remove",
                            lambda cs: int(cs.get("EnabledState") or 0) == EnabledState.SUSPENDED,
                            "Domain has no managed save image", EnabledState.DISABLED)

    def domain_reboot(self, dom: DomainRef, flags: int = 0) -> None:
        if flags:
            raise InvalidArgError(f"unsupported flags (0x{flags:x}) in function hypervDomainReboot")
        self._request_state(dom, "domain_reboot", lambda cs: int(cs.get("EnabledState") or 0) == EnabledState.ENABLED,
                            "Domain is not active", EnabledState.REBOOT)

    def domain_reset(self, dom: DomainRef, flags: int = 0) -> None:
        if flags:
            raise InvalidArgError(f"unsupported flags (0x{flags:x}) in function hypervDomainReset")
        self._request_state(dom, "domain_reset", lambda cs: int(cs.get("EnabledState") or 0) == EnabledState.ENABLED,
                            "Domain is not active", EnabledState.RESET)

    def domain_shutdown(self, dom: DomainRef) -> None:
        self.domain_shutdown_flags(dom, 0)

    def domain_shutdown_flags(self, dom: DomainRef, flags: int = 0) -> None:
        """A clean shutdown through the guest's integration services (Msvm_ShutdownComponent)."""
        if flags:
            raise InvalidArgError(f"unsupported flags (0x{flags:x}) in function hypervDomainShutdownFlags")
        cs = self._checked("domain_shutdown_flags", dom,
                           lambda cs: int(cs.get("EnabledState") or 0) == EnabledState.ENABLED,
                           "Domain is not active or in state transition")
        name = _wql_string(str(cs.get("Name")))
        component = self._one(VIRTUALIZATION, "ASSOCIATORS OF {Msvm_ComputerSystem.CreationClassName="
                              f'"Msvm_ComputerSystem",Name="{name}"}} WHERE ResultClass = Msvm_ShutdownComponent',
                              f"Could not get Msvm_ShutdownComponent for domain with UUID '{dom.uuid}'")
        keys = ("CreationClassName", "DeviceID", "SystemCreationClassName", "SystemName")
        out = self.client.invoke(VIRTUALIZATION, "Msvm_ShutdownComponent", {k: str(component.get(k)) for k in keys},
                                 "InitiateShutdown", {"Force": "false", "Reason": "Planned shutdown via libvirt"})
        self._finish("InitiateShutdown", out)
