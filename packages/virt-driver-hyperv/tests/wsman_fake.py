"""A fake Hyper-V host at the protocol level: WS-Management over HTTP(S) on a loopback port.

It checks HTTP Basic credentials (401 otherwise, as WinRM does), reads SOAP 1.2 requests and
answers in WinRM's message format: Enumerate with a WQL filter (a small WQL engine: ``SELECT *
FROM C [WHERE P = v AND ...]`` and ``ASSOCIATORS OF {C.K="v"} WHERE AssocClass = A ResultClass = R``),
Pull (at most ``page_size`` items per message, so paging is exercised), RequestStateChange on
Msvm_ComputerSystem (returning 4096 and an Msvm_ConcreteJob that completes when polled, for
starts), and SOAP faults (``w:InvalidSelectors``, ``w:CannotProcessFilter``). Every request body
is kept in ``requests``.
"""

from __future__ import annotations

import base64
import itertools
import re
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

SOAP = "http://www.w3.org/2003/05/soap-envelope"
A = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
N = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
W = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
WMI = "http://schemas.microsoft.com/wbem/wsman/1/wmi/"
V2 = "root/virtualization/v2"
CIMV2 = "root/cimv2"


@dataclass
class FakeDisk:
    """A drive: ``path`` an image file, or ``drive_number`` a host disk passed through."""

    bus: str  # "ide" (controller = channel) or "scsi"
    controller: int
    unit: int
    path: str = ""
    dvd: bool = False
    drive_number: int | None = None


@dataclass
class FakeVM:
    name: str
    guid: str  # upper case, as Hyper-V writes it
    state: int = 3  # EnabledState
    pid: int = 0
    memory_mb: int = 1024
    limit_mb: int = 1048576
    vcpus: int = 1
    notes: list[str] = field(default_factory=list)
    disks: list[FakeDisk] = field(default_factory=list)
    nics: list[tuple[str, str]] = field(default_factory=list)  # (MAC as Hyper-V writes it, switch name)
    serials: dict[int, str] = field(default_factory=dict)  # COM port -> named pipe ("" unconnected)


@dataclass
class Host:
    vms: list[FakeVM] = field(default_factory=list)
    users: dict[str, str] = field(default_factory=lambda: {"administrator": "secret"})
    hostname: str = "HV01"
    dns_hostname: str = "hv01"
    os_version: str = "10.0.17763"
    memory: int = 68_719_476_736
    processors: int = 2


def _instance(namespace: str, cls: str, props: list[tuple[str, Any]]) -> str:
    uri = f"{WMI}{namespace}/{cls}"
    body = []
    for name, value in props:
        for v in value if isinstance(value, list) else [value]:
            if v is None:
                body.append(f'<p:{name} xsi:nil="true"/>')
            else:
                body.append(f"<p:{name}>{escape(str(v).lower() if isinstance(v, bool) else str(v))}</p:{name}>")
    return (f'<p:{cls} xmlns:p="{uri}" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" '
            f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="p:{cls}_Type">{"".join(body)}</p:{cls}>')


class FakeWSMan:
    """``with FakeWSMan(host) as fake: fake.port``"""

    page_size = 2

    def __init__(self, host: Host, tls: tuple[str, str] | None = None) -> None:
        self.host = host
        self.requests: list[str] = []
        self.contexts: dict[str, list[str]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.shutdowns: list[str] = []
        self._ids = itertools.count(1000)
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, reply = fake.handle(self.headers.get("Authorization"), body)
                self.send_response(status)
                self.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
                self.send_header("Server", "Microsoft-HTTPAPI/2.0")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self) -> FakeWSMan:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def vm(self, name: str) -> FakeVM:
        return next(v for v in self.host.vms if v.name == name)

    # -- dispatch -------------------------------------------------------------------------------------
    def handle(self, authorization: str | None, body: bytes) -> tuple[int, bytes]:
        with self.lock:
            if not self._authorized(authorization):
                return 401, b""
            self.requests.append(body.decode())
            root = etree.fromstring(body)
            header = root.find(f"{{{SOAP}}}Header")
            action = header.findtext(f"{{{A}}}Action") or ""  # type: ignore[union-attr]
            message_id = header.findtext(f"{{{A}}}MessageID") or ""  # type: ignore[union-attr]
            resource = header.findtext(f"{{{W}}}ResourceURI") or ""  # type: ignore[union-attr]
            request = root.find(f"{{{SOAP}}}Body")[0]  # type: ignore[index]
            try:
                if action == f"{N}/Enumerate":
                    out_action, reply = f"{N}/EnumerateResponse", self.enumerate(resource, request)
                elif action == f"{N}/Pull":
                    out_action, reply = f"{N}/PullResponse", self.pull(request)
                elif action.endswith("/InitiateShutdown"):
                    out_action = action + "Response"
                    reply = self.initiate_shutdown(resource, header)  # type: ignore[arg-type]
                elif action.endswith("/RequestStateChange"):
                    out_action = action + "Response"
                    reply = self.request_state_change(resource, header, request)  # type: ignore[arg-type]
                else:
                    raise _Fault("a:ActionNotSupported", "The action is not supported by the service.", "2150858762")
            except _Fault as fault:
                enumeration = action.startswith(N)
                return 500, self._envelope(f"{N}/fault" if enumeration else f"{A}/fault", message_id, fault.xml())
            return 200, self._envelope(out_action, message_id, reply)

    def _authorized(self, authorization: str | None) -> bool:
        if not authorization or not authorization.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
        return self.host.users.get(user.lower()) == password

    @staticmethod
    def _envelope(action: str, relates_to: str, body: str) -> bytes:
        return (f'<s:Envelope xml:lang="en-US" xmlns:s="{SOAP}" xmlns:a="{A}" xmlns:n="{N}" xmlns:w="{W}">'
                f"<s:Header><a:Action>{action}</a:Action><a:MessageID>uuid:{str(uuid.uuid4()).upper()}</a:MessageID>"
                f"<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
                f"<a:RelatesTo>{relates_to}</a:RelatesTo></s:Header><s:Body>{body}</s:Body></s:Envelope>").encode()

    # -- enumeration ----------------------------------------------------------------------------------
    def enumerate(self, resource: str, request: etree._Element) -> str:
        wql = request.findtext(f"{{{W}}}Filter") or ""
        namespace = resource.removeprefix(WMI).rpartition("/")[0]
        items = self.wql(namespace, wql)
        optimize = request.find(f"{{{W}}}OptimizeEnumeration") is not None
        context = f"uuid:{str(uuid.uuid4()).upper()}"
        first = items[: self.page_size] if optimize else []
        rest = items[len(first):]
        if rest:
            self.contexts[context] = rest
        end = "" if rest else "<w:EndOfSequence/>"
        return (f"<n:EnumerateResponse><n:EnumerationContext>{context}</n:EnumerationContext>"
                + (f"<w:Items>{''.join(first)}</w:Items>{end}" if optimize else "") + "</n:EnumerateResponse>")

    def pull(self, request: etree._Element) -> str:
        context = request.findtext(f"{{{N}}}EnumerationContext") or ""
        if context not in self.contexts:
            raise _Fault("n:InvalidEnumerationContext", "The enumeration context supplied in the message is not "
                         "valid.", "2150858849", "s:Receiver")
        items = self.contexts.pop(context)
        page, rest = items[: self.page_size], items[self.page_size:]
        if rest:
            self.contexts[context] = rest
            tail = f"<n:EnumerationContext>{context}</n:EnumerationContext>"
        else:
            tail = ""
        return f"<n:PullResponse>{tail}<n:Items>{''.join(page)}</n:Items>{'' if rest else '<n:EndOfSequence/>'}</n:PullResponse>"

    def objects(self, namespace: str) -> list[tuple[str, dict[str, Any], str]]:
        """Every instance of the namespace as (class, properties, XML)."""
        out = []
        h = self.host

        def add(ns: str, cls: str, props: list[tuple[str, Any]], path: str = "") -> None:
            if ns == namespace:
                out.append((cls, {**dict(props), "__PATH": path}, _instance(ns, cls, props)))

        def path(cls: str, keys: str) -> str:
            return f"\\\\{h.hostname}\\root\\virtualization\\v2:{cls}.{keys}"

        def rasd_path(cls: str, instance: str) -> str:
            escaped = instance.replace("\\", "\\\\")
            return path(cls, f'InstanceID="{escaped}"')

        switches = {name: str(uuid.uuid5(uuid.NAMESPACE_DNS, name)).upper()
                    for vm in h.vms for _, name in vm.nics}
        for name, guid in switches.items():
            add(V2, "Msvm_VirtualEthernetSwitch", [("CreationClassName", "Msvm_VirtualEthernetSwitch"),
                                                   ("ElementName", name), ("Name", guid)],
                path("Msvm_VirtualEthernetSwitch", f'CreationClassName="Msvm_VirtualEthernetSwitch",Name="{guid}"'))

        add(V2, "Msvm_ComputerSystem", [("Caption", "Hosting Computer System"), ("CreationClassName", "Msvm_ComputerSystem"),
                                        ("Description", "Microsoft Hosting Computer System"), ("ElementName", h.hostname),
                                        ("EnabledState", 2), ("InstallDate", None), ("Name", h.hostname), ("ProcessID", None)])
        for vm in h.vms:
            vssd = f"Microsoft:{vm.guid}"
            add(V2, "Msvm_ComputerSystem", [
                ("Caption", "Virtual Machine"), ("CreationClassName", "Msvm_ComputerSystem"),
                ("Description", "Microsoft Virtual Machine"), ("ElementName", vm.name), ("EnabledState", vm.state),
                ("HealthState", 5), ("InstallDate", "2020-01-01T00:00:00Z" if vm.guid else None), ("Name", vm.guid),
                ("OnTimeInMilliseconds", 1000 if vm.state != 3 else 0),
                ("ProcessID", vm.pid if vm.state not in (3, 32769) else None), ("RequestedState", 12)])
            add(V2, "Msvm_VirtualSystemSettingData", [
                ("Caption", "Virtual Machine Settings"), ("ElementName", vm.name), ("InstanceID", vssd),
                ("Notes", vm.notes or None), ("VirtualSystemIdentifier", vm.guid), ("VirtualSystemSubType",
                                                                                     "Microsoft:Hyper-V:SubType:2")])
            add(V2, "Msvm_MemorySettingData", [
                ("Caption", "Memory"), ("DynamicMemoryEnabled", False), ("ElementName", "Memory"),
                ("InstanceID", f"{vssd}\\4764334D-E001-4176-82EE-5594EC9B530E"), ("Limit", vm.limit_mb),
                ("Reservation", vm.memory_mb), ("ResourceType", 4), ("VirtualQuantity", vm.memory_mb)])
            add(V2, "Msvm_ProcessorSettingData", [
                ("Caption", "Processor"), ("ElementName", "Processor"),
                ("InstanceID", f"{vssd}\\B637F346-6A0E-4DEC-AF52-BD70CB80A21D\\0"), ("Limit", 100000),
                ("Reservation", 0), ("ResourceType", 3), ("VirtualQuantity", vm.vcpus)])
            self._devices(vm, add, path, rasd_path, switches)
            add(V2, "Msvm_ShutdownComponent", [
                ("CreationClassName", "Msvm_ShutdownComponent"), ("DeviceID",
                                                                  f"Microsoft:{vm.guid}\\9F8233AC-BE49-4C79-8EE3-E7E1985B2077"),
                ("ElementName", "Shutdown"), ("EnabledState", 2 if vm.state == 2 else 3),
                ("SystemCreationClassName", "Msvm_ComputerSystem"), ("SystemName", vm.guid)])
        for instance, job in self.jobs.items():
            state = 7 if job["polls"] else 4  # Running when first seen, Completed afterwards
            add(V2, "Msvm_ConcreteJob", [("Caption", "Changing VM state"), ("ErrorCode", 0), ("ErrorDescription", None),
                                         ("InstanceID", instance), ("JobState", state),
                                         ("PercentComplete", 100 if state == 7 else 0)])
            job["polls"] += 1
        add(CIMV2, "Win32_ComputerSystem", [("DNSHostName", h.dns_hostname), ("Domain", "example.org"),
                                            ("Name", h.hostname), ("NumberOfLogicalProcessors", 16 * h.processors),
                                            ("NumberOfProcessors", h.processors), ("TotalPhysicalMemory", h.memory)])
        for socket_ in range(h.processors):
            add(CIMV2, "Win32_Processor", [("DeviceID", f"CPU{socket_}"), ("MaxClockSpeed", 2594),
                                           ("Name", "Intel(R) Xeon(R) CPU E5-2640 v3 @ 2.60GHz"),
                                           ("NumberOfCores", 8), ("NumberOfLogicalProcessors", 16)])
        add(CIMV2, "Win32_OperatingSystem", [("Caption", "Microsoft Windows Server 2019 Datacenter"),
                                             ("BuildNumber", h.os_version.rpartition(".")[2]), ("Version", h.os_version)])
        return out

    @staticmethod
    def _devices(vm: FakeVM, add: Any, path: Any, rasd_path: Any, switches: dict[str, str]) -> None:
        """The guest's resource settings: IDE channels, a SCSI adapter, drives, images, NICs, COM ports."""
        rasd = "Msvm_ResourceAllocationSettingData"
        base = f"Microsoft:{vm.guid}"
        controllers = {("ide", 0): f"{base}\\83F8638B-8DCA-4152-9EDA-2CA8B33039B4\\0",
                       ("ide", 1): f"{base}\\83F8638B-8DCA-4152-9EDA-2CA8B33039B4\\1"}
        if any(d.bus == "scsi" for d in vm.disks):
            controllers[("scsi", 0)] = f"{base}\\1E4B4DCC-4A3F-4A5D-9E5A-0E0E0E0E0E00"
        for (bus, index), instance in controllers.items():
            add(V2, rasd, [("Address", str(index) if bus == "ide" else None), ("ElementName",
                f"IDE Controller {index}" if bus == "ide" else "SCSI Controller"), ("InstanceID", instance),
                ("ResourceSubType", "Microsoft:Hyper-V:Emulated IDE Controller" if bus == "ide"
                 else "Microsoft:Hyper-V:Synthetic SCSI Controller"), ("ResourceType", 5 if bus == "ide" else 6)],
                rasd_path(rasd, instance))
        for disk in vm.disks:
            drive = f"{controllers[(disk.bus, disk.controller)]}\\{disk.unit}\\D"
            host = []
            if disk.drive_number is not None:
                host = [path("Msvm_DiskDrive", f'CreationClassName="Msvm_DiskDrive",DeviceID="Microsoft:'
                             f'{disk.drive_number:08X}-HOSTDISK",SystemCreationClassName="Msvm_ComputerSystem",'
                             f'SystemName="{vm.guid}"')]
                add(V2, "Msvm_DiskDrive", [("DeviceID", f"Microsoft:{disk.drive_number:08X}-HOSTDISK"),
                                           ("DriveNumber", disk.drive_number)], host[0])
            add(V2, rasd, [("AddressOnParent", disk.unit), ("ElementName", "DVD Drive" if disk.dvd else "Hard Drive"),
                           ("HostResource", host or None), ("InstanceID", drive),
                           ("Parent", rasd_path(rasd, controllers[(disk.bus, disk.controller)])),
                           ("ResourceType", 16 if disk.dvd else 17)], rasd_path(rasd, drive))
            if disk.path:
                image = f"{drive}\\L"
                add(V2, "Msvm_StorageAllocationSettingData", [
                    ("HostResource", [disk.path]), ("InstanceID", image), ("Parent", rasd_path(rasd, drive)),
                    ("ResourceSubType", "Microsoft:Hyper-V:Virtual CD/DVD Disk" if disk.dvd
                     else "Microsoft:Hyper-V:Virtual Hard Disk"), ("ResourceType", 16 if disk.dvd else 31)])
        for i, (mac, switch) in enumerate(vm.nics):
            port = f"{base}\\{i:08X}-NIC"
            add(V2, "Msvm_SyntheticEthernetPortSettingData", [("Address", mac), ("ElementName", "Network Adapter"),
                                                              ("InstanceID", port)],
                rasd_path("Msvm_SyntheticEthernetPortSettingData", port))
            add(V2, "Msvm_EthernetPortAllocationSettingData", [
                ("EnabledState", 2), ("HostResource", [path("Msvm_VirtualEthernetSwitch",
                                                            'CreationClassName="Msvm_VirtualEthernetSwitch",'
                                                            f'Name="{switches[switch]}"')]),
                ("InstanceID", f"{port}\\C"),
                ("Parent", rasd_path("Msvm_SyntheticEthernetPortSettingData", port))])
        for com in (1, 2):
            add(V2, "Msvm_SerialPortSettingData", [("Connection", [vm.serials.get(com, "")]),
                                                   ("ElementName", f"COM {com}"),
                                                   ("InstanceID", f"{base}\\{com}\\SERIAL"), ("ResourceType", 21)])

    def wql(self, namespace: str, query: str) -> list[str]:
        objects = self.objects(namespace)
        m = re.fullmatch(r"\s*SELECT \* FROM (\w+)(?: WHERE (.*))?\s*", query, re.I | re.S)
        if m:
            cls, where = m.group(1), m.group(2)
            if not any(c == cls for c, _, _ in objects) and cls not in _KNOWN_CLASSES:
                raise _Fault("n:CannotProcessFilter", "The data source could not process the filter. The filter "
                             "might be missing or it might be invalid. Change the filter and try the request again.",
                             "2150858778", provider="The specified class does not exist in the given namespace.")
            conds = [self._cond(c) for c in re.split(r"\s+AND\s+", where, flags=re.I)] if where else []
            return [xml for c, props, xml in objects if c == cls and all(
                str(props.get(k)).lower() == v.lower() for k, v in conds)]
        m = re.fullmatch(r'\s*ASSOCIATORS OF \{(\w+)\.(.*)\} WHERE (?:AssocClass = (\w+) )?ResultClass = (\w+)\s*',
                         query, re.S)
        if m:
            keys = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2)))
            keys = {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in keys.items()}
            assoc, result = m.group(3), m.group(4)
            if assoc == "Msvm_SettingsDefineState" and result == "Msvm_VirtualSystemSettingData":
                return [xml for c, props, xml in objects if c == result and props["InstanceID"] == f"Microsoft:{keys.get('Name')}"]
            if assoc is None and result == "Msvm_ShutdownComponent":
                return [xml for c, props, xml in objects if c == result and props["SystemName"] == keys.get("Name")]
            if assoc == "Msvm_VirtualSystemSettingDataComponent":
                prefix = keys.get("InstanceID", "") + "\\"
                return [xml for c, props, xml in objects if c == result and str(props["InstanceID"]).startswith(prefix)]
            return []
        raise _Fault("n:CannotProcessFilter", "The data source could not process the filter. The filter might be "
                     "missing or it might be invalid. Change the filter and try the request again.", "2150858778",
                     provider="The query was not syntactically valid.")

    @staticmethod
    def _cond(text: str) -> tuple[str, str]:
        m = re.fullmatch(r'\s*(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\'|(-?\d+))\s*', text)
        if not m:
            raise _Fault("n:CannotProcessFilter", "The data source could not process the filter.", "2150858778",
                         provider="The query was not syntactically valid.")
        value = m.group(2) if m.group(2) is not None else m.group(3) if m.group(3) is not None else m.group(4)
        return m.group(1), re.sub(r"\\(.)", r"\1", value)

    # -- methods --------------------------------------------------------------------------------------
    def initiate_shutdown(self, resource: str, header: etree._Element) -> str:
        selectors = {s.get("Name"): s.text for s in header.iter(f"{{{W}}}Selector")}
        vm = next((v for v in self.host.vms if v.guid == selectors.get("SystemName")), None)
        if vm is None or not str(selectors.get("DeviceID", "")).startswith(f"Microsoft:{vm.guid}"):
            raise _Fault("w:InvalidSelectors", "The WS-Management service cannot process the request because the "
                         "request contained invalid selectors for the resource.", "2150858843")
        self.shutdowns.append(vm.name)
        code = 32775 if vm.state != 2 else 0  # the integration service answers only while the guest runs
        if not code:
            vm.state, vm.pid = 3, 0
        return (f'<p:InitiateShutdown_OUTPUT xmlns:p="{resource}"><p:ReturnValue>{code}</p:ReturnValue>'
                "</p:InitiateShutdown_OUTPUT>")

    def request_state_change(self, resource: str, header: etree._Element, request: etree._Element) -> str:
        selectors = {s.get("Name"): s.text for s in header.iter(f"{{{W}}}Selector")}
        vm = next((v for v in self.host.vms if v.guid == selectors.get("Name")), None)
        if vm is None or selectors.get("CreationClassName") != "Msvm_ComputerSystem":
            raise _Fault("w:InvalidSelectors", "The WS-Management service cannot process the request because the "
                         "request contained invalid selectors for the resource.", "2150858843")
        requested = int(request.findtext(f"{{{resource}}}RequestedState") or 0)
        # A v2 host pauses on Quiesce (9) and reports the paused guest as 9.
        allowed = {2: (3, 9, 32769), 3: (2, 9, 32769), 9: (2,), 32769: (2, 9), 10: (2,), 11: (2,)}
        job = ""
        if vm.state not in allowed.get(requested, ()):
            code = 32775  # Invalid state for this operation
        elif requested == 2 and vm.state == 3:
            # A start runs as a job: the guest is Starting until the job is polled.
            vm.state, vm.pid = 2, next(self._ids)
            instance = str(uuid.uuid4()).upper()
            self.jobs[instance] = {"polls": 0}
            code = 4096
            job = (f'<p:Job><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address>'
                   f"<a:ReferenceParameters><w:ResourceURI>{WMI}{V2}/Msvm_ConcreteJob</w:ResourceURI><w:SelectorSet>"
                   f'<w:Selector Name="InstanceID">{instance}</w:Selector><w:Selector Name="__cimnamespace">'
                   f"{V2}</w:Selector></w:SelectorSet></a:ReferenceParameters></p:Job>")
        else:
            code = 0
            if requested not in (10, 11):  # a reboot or reset leaves the guest running
                vm.state = requested
            if requested in (3, 32769):
                vm.pid = 0
        return (f'<p:RequestStateChange_OUTPUT xmlns:p="{resource}">{job}<p:ReturnValue>{code}</p:ReturnValue>'
                "</p:RequestStateChange_OUTPUT>")


#: Classes that exist (and may have no instance) in the fake's namespaces.
_KNOWN_CLASSES = frozenset({"Msvm_ComputerSystem", "Msvm_VirtualSystemSettingData", "Msvm_MemorySettingData",
                            "Msvm_ProcessorSettingData", "Msvm_ConcreteJob", "Msvm_ShutdownComponent", "Win32_ComputerSystem",
                            "Win32_Processor", "Win32_OperatingSystem", "Msvm_ResourceAllocationSettingData",
                            "Msvm_StorageAllocationSettingData", "Msvm_SerialPortSettingData",
                            "Msvm_EthernetPortAllocationSettingData", "Msvm_SyntheticEthernetPortSettingData",
                            "Msvm_VirtualEthernetSwitch", "Msvm_DiskDrive"})


class _Fault(Exception):
    """A WinRM fault; ``provider`` nests the WMI plugin's own fault in the Message, as WinRM does."""

    def __init__(self, subcode: str, reason: str, code: str, value: str = "s:Sender", provider: str = "") -> None:
        super().__init__(reason)
        self.subcode, self.reason, self.code, self.value, self.provider = subcode, reason, code, value, provider

    def xml(self) -> str:
        f = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
        if self.provider:
            message = (f"<f:ProviderFault provider='WMIv1 plugin for Windows Remote Management ' "
                       f"path='%systemroot%\\system32\\WsmWmiPl.dll'><f:WSManFault xmlns:f='{f}' Code='{self.code}' "
                       f"Machine='' xml:lang='en-US'><f:Message>{escape(self.provider)} </f:Message></f:WSManFault>"
                       "</f:ProviderFault>")
        else:
            message = f"{escape(self.reason)} "
        return (f"<s:Fault><s:Code><s:Value>{self.value}</s:Value><s:Subcode><s:Value>{self.subcode}</s:Value>"
                f"</s:Subcode></s:Code><s:Reason><s:Text xml:lang='en-US'>{escape(self.reason)} </s:Text></s:Reason>"
                f"<s:Detail><f:WSManFault xmlns:f='{f}' Code='{self.code}' Machine=''><f:Message>{message}"
                "</f:Message></f:WSManFault></s:Detail></s:Fault>")
