"""The ESX driver: VMware ESX/vSphere hosts over the vSphere API (esx://host/, gsx://host/, vpx://vcenter/dc).

URIs: ``esx://[user@]host[:port]/[?transport=https|http&no_verify=0|1&authfile=PATH]``. The user
defaults to ``root``; the password comes from libvirt's auth.conf (``auth-esx-HOST`` ->
``credentials-NAME``). Guests are the host's VirtualMachine objects: listed through a container
view, powered on and off through tasks, and described by their .vmx file, downloaded from the
datastore and converted with ``virt.driver.esx.vmx`` as libvirt's driver does.
"""

from __future__ import annotations

import re
import uuid as uuidlib
from typing import ClassVar

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
    DomainXMLFlags,
)
from virt.core.events import EventBus
from virt.core.types import DomainInfo, DomainRef, NodeInfo
from virt.core.uri import URI
from virt.driver.esx.datastores import Datastore, HostFileNames
from virt.driver.esx.vi.client import ObjectContent, VIClient
from virt.driver.esx.vi.soap import MOR, DataObject
from virt.driver.esx.vmx import (
    VMXContext,
    format_config,
    format_domain,
    parse_config,
    parse_domain,
)
from virt.driver.esx.vmx.context import split_datastore_path
from virt.util.errors import (
    AuthFailedError,
    ErrorDomain,
    ErrorNumber,
    InvalidArgError,
    OperationInvalidError,
    VirtError,
    not_found,
)

#: VirtualMachine properties every lookup reads.
_VM_PROPS = ("name", "config.uuid", "runtime.powerState")
#: runtime.powerState -> libvirt state.
_POWER_STATES = {"poweredOn": DomainState.RUNNING, "poweredOff": DomainState.SHUTOFF,
                 "suspended": DomainState.PAUSED}
#: The product lines each URI scheme expects (about.productLineId) and what it calls them.
_PRODUCTS = {"esx": (("esx", "embeddedEsx"), "an ESX(i) host"), "gsx": (("gsx",), "a GSX server"),
             "vpx": (("vpx",), "a vCenter")}
#: Default virtualHW.version by product version (libvirt's ESX compatibility matrix).
_VIRTUAL_HW = ((3, 5, 4), (4, 0, 7), (5, 0, 8), (5, 1, 9), (5, 5, 10), (6, 0, 11), (6, 5, 13), (6, 7, 14),
               (7, 0, 17), (8, 0, 20))


#: The libvirt version whose behaviour this driver reproduces.
LIB_VERSION = 9_000_000


def _product_version(about: DataObject) -> tuple[int, int, int]:
    parts = [int(p) for p in re.findall(r"\d+", str(about.get("version", "")))[:3]]
    return (parts + [0, 0, 0])[0], (parts + [0, 0, 0])[1], (parts + [0, 0, 0])[2]


def _vm_id(obj: MOR) -> int:
    """A VM's id: its managed object number (ESX: "42", vCenter: "vm-42")."""
    m = re.search(r"(\d+)$", obj.value)
    return int(m.group(1)) if m else -1


class ESXDriver(ListingFromListAll, AlwaysDefined, Driver):
    name = "esx"
    uri_schemes = ("esx", "gsx", "vpx")
    #: VIClient class, replaceable by tests.
    client_class: ClassVar[type[VIClient]] = VIClient

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
        port = uri.port or (443 if secure else 80)
        self.client = self.client_class(uri.server, port, secure=secure, verify=no_verify == "0",
                                        cafile=params.get("cacert"))
        product_lines, product_name = _PRODUCTS[uri.driver]
        about = self.client.about
        if about.get("productLineId") not in product_lines:
            self.client.close_connection()
            raise VirtError(f"{uri.server} is not {product_name} but {about.get('fullName')}",
                            code=ErrorNumber.INTERNAL_ERROR, domain=ErrorDomain.ESX)
        authfile = auth.auth_file(params)
        username = uri.user or auth.lookup(authfile, "esx", uri.server, "username") or "root"
        password = auth.lookup(authfile, "esx", uri.server, "password")
        if password is None:
            self.client.close_connection()
            raise AuthFailedError("Password request failed", code=ErrorNumber.AUTH_FAILED, domain=ErrorDomain.ESX)
        self.client.login(username, password)
        self._datacenter_path: str | None = None
        if uri.driver == "vpx":
            # vpx://vcenter/DATACENTER[/...]: the datacenter holds the guests this connection sees.
            self._datacenter_path = uri.path.strip("/").split("/")[0] or None
            if self._datacenter_path is None:
                raise InvalidArgError("Path has to specify the datacenter and compute resource")

    @classmethod
    def claims(cls, uri: URI) -> bool:
        """ESX URIs name a host but use no transport: this driver talks to the host itself."""
        return uri.driver in cls.uri_schemes and uri.transport is None and bool(uri.server)

    def close(self) -> None:
        self.client.logout()

    # -- host ----------------------------------------------------------------------------------------
    def connect_get_type(self) -> str:
        return "ESX"

    def connect_get_version(self) -> int:
        major, minor, micro = _product_version(self.client.about)
        return major * 1_000_000 + minor * 1000 + micro

    def connect_get_lib_version(self) -> int:
        return LIB_VERSION

    def connect_get_uri(self) -> str:
        return str(self.uri)

    def connect_get_hostname(self) -> str:
        host = self._host(["config.network.dnsConfig.hostName", "config.network.dnsConfig.domainName"])
        name = str(host.props.get("config.network.dnsConfig.hostName") or "")
        domain = str(host.props.get("config.network.dnsConfig.domainName") or "")
        if not name:
            raise VirtError("Missing or empty 'hostName' property", domain=ErrorDomain.ESX)
        return f"{name}.{domain}" if domain else name

    def connect_is_secure(self) -> int:
        return 1 if self.client.secure else 0

    def connect_is_encrypted(self) -> int:
        return 1 if self.client.secure else 0

    def connect_is_alive(self) -> int:
        return 1 if self.client.session is not None else 0

    def node_get_info(self) -> NodeInfo:
        props = self._host(["summary.hardware", "hardware.cpuInfo", "hardware.memorySize",
                            "hardware.numaInfo.numNodes"]).props
        summary = props.get("summary.hardware") or DataObject()
        cpu = props.get("hardware.cpuInfo") or DataObject()
        cores, packages, threads = (int(cpu.get(k, 0)) for k in ("numCpuCores", "numCpuPackages", "numCpuThreads"))
        # Fit the relevant part in libvirt's 32-byte model field: no repeated spaces, no (R)/(C)/(TM).
        model = re.sub(r"\((?:R|C|TM)\)", "", re.sub(r" {2,}", " ", str(summary.get("cpuModel", ""))))[:31]
        return NodeInfo(model, int(props.get("hardware.memorySize") or 0) // 1024, cores,
                        int(cpu.get("hz", 0)) // 1_000_000, int(props.get("hardware.numaInfo.numNodes") or 1),
                        packages, cores // packages if packages else 0, threads // cores if cores else 0)

    def _host(self, paths: list[str]) -> ObjectContent:
        hosts = self.client.retrieve_all("HostSystem", paths, self._container())
        if not hosts:
            raise VirtError("Could not find a host system", domain=ErrorDomain.ESX)
        return hosts[0]

    def _container(self) -> MOR | None:
        """Where this connection's guests live: the whole inventory, or a vCenter datacenter."""
        if self._datacenter_path is None:
            return None
        for dc in self.client.retrieve_all("Datacenter", ["name"]):
            if dc.props.get("name") == self._datacenter_path:
                return dc.obj
        raise VirtError(f"Could not find datacenter specified in '{self._datacenter_path}'",
                        domain=ErrorDomain.ESX)

    def _datacenter(self) -> str:
        """The datacenter path of the /folder file service (``ha-datacenter`` on an ESX host)."""
        if self._datacenter_path is not None:
            return self._datacenter_path
        dcs = self.client.retrieve_all("Datacenter", ["name"])
        return str(dcs[0].props.get("name")) if dcs else "ha-datacenter"

    # -- domains -------------------------------------------------------------------------------------
    def _vms(self, extra: tuple[str, ...] = ()) -> list[ObjectContent]:
        return self.client.retrieve_all("VirtualMachine", [*_VM_PROPS, *extra], self._container())

    @staticmethod
    def _ref(vm: ObjectContent) -> DomainRef:
        try:
            uuid = str(uuidlib.UUID(str(vm.props.get("config.uuid") or "")))
        except ValueError:
            uuid = str(uuidlib.UUID(int=0))
        running = vm.props.get("runtime.powerState") != "poweredOff"
        return DomainRef(str(vm.props.get("name", "")), uuid, _vm_id(vm.obj) if running else -1)

    def _find(self, dom: DomainRef, extra: tuple[str, ...] = ()) -> ObjectContent:
        for vm in self._vms(extra):
            if self._ref(vm).uuid == dom.uuid:
                return vm
        raise not_found(ErrorNumber.NO_DOMAIN, f"Could not find domain with UUID '{dom.uuid}'")

    def connect_list_all_domains(self, flags: int = 0) -> list[DomainRef]:
        refs = []
        F = ConnectListAllDomainsFlags
        for vm in self._vms():
            ref = self._ref(vm)
            state = _POWER_STATES.get(str(vm.props.get("runtime.powerState")), DomainState.NOSTATE)
            active = state != DomainState.SHUTOFF
            if flags & (F.ACTIVE | F.INACTIVE) and not (flags & (F.ACTIVE if active else F.INACTIVE)):
                continue
            if flags & F.TRANSIENT and not flags & F.PERSISTENT:
                continue  # every VM on a host is persistent
            states = flags & (F.RUNNING | F.PAUSED | F.SHUTOFF | F.OTHER)
            wanted = {DomainState.RUNNING: F.RUNNING, DomainState.PAUSED: F.PAUSED, DomainState.SHUTOFF: F.SHUTOFF}
            if states and not states & wanted.get(state, F.OTHER):
                continue
            if flags & F.MANAGEDSAVE and not flags & F.NO_MANAGEDSAVE:
                continue  # ESX has no managed save
            refs.append(ref)
        return refs

    def domain_lookup_by_name(self, name: str) -> DomainRef:
        for vm in self._vms():
            if vm.props.get("name") == name:
                return self._ref(vm)
        raise not_found(ErrorNumber.NO_DOMAIN, f"Could not find domain with name '{name}'")

    def domain_lookup_by_uuid(self, uuid: str) -> DomainRef:
        for vm in self._vms():
            if self._ref(vm).uuid == uuid:
                return self._ref(vm)
        raise not_found(ErrorNumber.NO_DOMAIN, f"Could not find domain with UUID '{uuid}'")

    def domain_lookup_by_id(self, id: int) -> DomainRef:
        for vm in self._vms():
            ref = self._ref(vm)
            if ref.id == id and id >= 0:
                return ref
        raise not_found(ErrorNumber.NO_DOMAIN, f"No domain with ID {id}")

    def domain_get_info(self, dom: DomainRef) -> DomainInfo:
        vm = self._find(dom, ("config.hardware.memoryMB", "config.hardware.numCPU", "config.memoryAllocation.limit"))
        state = _POWER_STATES.get(str(vm.props.get("runtime.powerState")), DomainState.NOSTATE)
        max_mem = int(vm.props.get("config.hardware.memoryMB") or 0) * 1024
        limit = int(vm.props.get("config.memoryAllocation.limit") or -1)
        return DomainInfo(int(state), max_mem, max_mem if limit < 0 else limit * 1024,
                          int(vm.props.get("config.hardware.numCPU") or 0), 0)

    def domain_get_state(self, dom: DomainRef, flags: int = 0) -> tuple[int, int]:
        vm = self._find(dom)
        return int(_POWER_STATES.get(str(vm.props.get("runtime.powerState")), DomainState.NOSTATE)), 0

    def domain_get_id(self, dom: DomainRef) -> int:
        return self._ref(self._find(dom)).id

    def domain_is_active(self, dom: DomainRef) -> int:
        return 1 if self._find(dom).props.get("runtime.powerState") != "poweredOff" else 0

    def domain_get_xml_desc(self, dom: DomainRef, flags: int = 0) -> str:
        vm = self._find(dom, ("config.files.vmPathName",))
        vmx_path = str(vm.props.get("config.files.vmPathName") or "")
        datastore, file_path = split_datastore_path(vmx_path)
        directory = file_path.rpartition("/")[0]
        datacenter = self._datacenter()
        vmx = self.client.download(self.client.datastore_file_url(datastore, file_path, datacenter))
        names = HostFileNames(self._datastores(), f"[{datastore}] {directory}" if directory else f"[{datastore}]")
        ctx = VMXContext(names.parse_file_name, None, None, datacenter)
        definition = parse_config(ctx, vmx.decode("utf-8", "surrogateescape"))
        ref = self._ref(vm)
        definition.id = ref.id
        return format_domain(definition, secure=bool(flags & DomainXMLFlags.SECURE))

    def _datastores(self) -> list[Datastore]:
        stores = []
        for ds in self.client.retrieve_all("Datastore", ["summary.name", "summary.url"], self._container()):
            url = str(ds.props.get("summary.url") or "")
            mount = url.removeprefix("ds://")
            stores.append(Datastore(str(ds.props.get("summary.name")), mount.rstrip("/")))
        return stores

    def _default_virtual_hw_version(self) -> int:
        major, minor, _ = _product_version(self.client.about)
        version = 4
        for ma, mi, hw in _VIRTUAL_HW:
            if (major, minor) >= (ma, mi):
                version = hw
        return version

    def connect_domain_xml_from_native(self, native_format: str, native_config: str, flags: int = 0) -> str:
        if native_format != "vmware-vmx":
            raise InvalidArgError(f"Unsupported config format '{native_format}'")
        names = HostFileNames(self._datastores())
        ctx = VMXContext(names.parse_file_name, None, None, self._datacenter())
        return format_domain(parse_config(ctx, native_config))

    def connect_domain_xml_to_native(self, native_format: str, domain_xml: str, flags: int = 0) -> str:
        if native_format != "vmware-vmx":
            raise InvalidArgError(f"Unsupported config format '{native_format}'")
        names = HostFileNames(self._datastores())
        ctx = VMXContext(None, names.format_file_name, None, self._datacenter())
        return format_config(ctx, parse_domain(domain_xml), self._default_virtual_hw_version())

    # -- power ---------------------------------------------------------------------------------------
    def _power(self, dom: DomainRef, method: str, allowed: tuple[str, ...], message: str) -> ObjectContent:
        self.check_writable(method)
        vm = self._find(dom)
        if vm.props.get("runtime.powerState") not in allowed:
            raise OperationInvalidError(message)
        task = self.client.call(method, vm.obj)
        if isinstance(task, MOR) and task.type == "Task":
            self.client.wait_for_task(task)
        return vm

    def _emit(self, vm: ObjectContent, event: DomainEventType, detail: int) -> DomainRef:
        ref = self._ref(self.client.retrieve([vm.obj], "VirtualMachine", _VM_PROPS)[0])
        self.events.emit("domain", DomainEventID.LIFECYCLE, ref, int(event), int(detail))
        return ref

    def domain_create(self, dom: DomainRef) -> DomainRef:
        return self.domain_create_with_flags(dom, 0)

    def domain_create_with_flags(self, dom: DomainRef, flags: int = 0) -> DomainRef:
        if flags:
            raise InvalidArgError(f"unsupported flags (0x{flags:x}) in function esxDomainCreateWithFlags")
        vm = self._power(dom, "PowerOnVM_Task", ("poweredOff",), "Domain is not powered off")
        return self._emit(vm, DomainEventType.STARTED, DomainEventStartedDetail.BOOTED)

    def domain_destroy(self, dom: DomainRef) -> None:
        self.domain_destroy_flags(dom, 0)

    def domain_destroy_flags(self, dom: DomainRef, flags: int = 0) -> None:
        if flags:
            raise InvalidArgError(f"unsupported flags (0x{flags:x}) in function esxDomainDestroyFlags")
        vm = self._power(dom, "PowerOffVM_Task", ("poweredOn", "suspended"), "Domain is not powered on")
        self._emit(vm, DomainEventType.STOPPED, DomainEventStoppedDetail.DESTROYED)

    def domain_suspend(self, dom: DomainRef) -> None:
        vm = self._power(dom, "SuspendVM_Task", ("poweredOn",), "Domain is not powered on")
        self._emit(vm, DomainEventType.SUSPENDED, DomainEventSuspendedDetail.PAUSED)

    def domain_resume(self, dom: DomainRef) -> None:
        vm = self._power(dom, "PowerOnVM_Task", ("suspended",), "Domain is not suspended")
        self._emit(vm, DomainEventType.RESUMED, DomainEventResumedDetail.UNPAUSED)

    def domain_shutdown(self, dom: DomainRef) -> None:
        self.domain_shutdown_flags(dom, 0)

    def domain_shutdown_flags(self, dom: DomainRef, flags: int = 0) -> None:
        if flags:
            raise InvalidArgError(f"unsupported flags (0x{flags:x}) in function esxDomainShutdownFlags")
        self._power(dom, "ShutdownGuest", ("poweredOn",), "Domain is not powered on")

    def domain_reboot(self, dom: DomainRef, flags: int = 0) -> None:
        if flags:
            raise InvalidArgError(f"unsupported flags (0x{flags:x}) in function esxDomainReboot")
        self._power(dom, "RebootGuest", ("poweredOn",), "Domain is not powered on")
