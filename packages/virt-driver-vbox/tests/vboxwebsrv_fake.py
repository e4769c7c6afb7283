"""A fake VirtualBox web service (vboxwebsrv) at the protocol level: SOAP 1.1 over HTTP on loopback.

It answers the Main API calls the driver makes, in vboxwebsrv's message format (document/literal
in the ``http://www.virtualbox.org/`` namespace, ``returnval`` children, managed object references
``SESSIONID-OBJECTID`` in hex, RuntimeFault details carrying the COM result code, and
InvalidObjectFault for references of a closed web session), over a small inventory of machines.
Power changes follow VirtualBox's rules: ``launchVMProcess`` locks the session and returns an
IProgress, console calls need a shared lock on a running machine. Every request is kept.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
VBOX = "http://www.virtualbox.org/"
E_FAIL = 0x80004005
E_INVALIDARG = 0x80070057
VBOX_E_OBJECT_NOT_FOUND = 0x80BB0001
VBOX_E_INVALID_VM_STATE = 0x80BB0002
VBOX_E_INVALID_OBJECT_STATE = 0x80BB0007
VBOX_E_PDM_ERROR = 0x80BB000B


@dataclass
class FakeNIC:
    attachment: str = "NAT"  # NetworkAttachmentType
    adapter: str = "I82540EM"  # NetworkAdapterType
    mac: str = "080027AABBCC"
    bridged: str = ""
    internal: str = "intnet"
    host_only: str = ""
    enabled: bool = True


@dataclass
class FakeAttachment:
    """A medium attachment; ``location`` empty for an empty drive."""

    controller: str
    port: int
    device: int
    type: str = "HardDisk"  # DeviceType
    location: str = ""
    readonly: bool = False


@dataclass
class FakeMachine:
    name: str
    uuid: str
    state: str = "PoweredOff"
    memory: int = 1024
    cpus: int = 1
    description: str = ""
    boot: list[str] = field(default_factory=lambda: ["Floppy", "DVD", "HardDisk", "Null"])
    acpi: bool = True
    ioapic: bool = True
    pae: bool = False
    vram: int = 16
    monitors: int = 1
    accessible: bool = True
    start_error: str = ""  # set: launching fails with this text, as a VM process that cannot start
    nics: list[FakeNIC] = field(default_factory=list)  # the first slots; the others are disabled
    controllers: list[tuple[str, str, str]] = field(default_factory=lambda: [("IDE", "IDE", "PIIX4")])
    attachments: list[FakeAttachment] = field(default_factory=list)


@dataclass
class Inventory:
    machines: list[FakeMachine] = field(default_factory=list)
    version: str = "7.0.12"
    users: dict[str, str] | None = field(default_factory=lambda: {"vbox": "secret"})  # None: the "null" auth library
    host_memory: int = 32768
    max_guest_ram: int = 2097152  # MB: VirtualBox's limit on 64-bit hosts
    host_cpus: int = 8
    host_cores: int = 4
    host_speed: int = 3400
    host_cpu: str = "Intel(R) Core(TM) i7-6700 CPU @ 3.40GHz"


class _Fault(Exception):
    def __init__(self, message: str, result: int = E_FAIL, kind: str = "RuntimeFault", inner: str = "") -> None:
        super().__init__(message)
        self.message, self.result, self.kind, self.inner = message, result, kind, inner

    def xml(self) -> str:
        code = self.result - (1 << 32) if self.result & 0x80000000 else self.result
        detail = self.inner or f"<resultCode>{code}</resultCode><returnval></returnval>"
        return (f"<SOAP-ENV:Fault><faultcode>SOAP-ENV:Client</faultcode><faultstring>{escape(self.message)}"
                f"</faultstring><detail><vbox:{self.kind}>{detail}</vbox:{self.kind}></detail></SOAP-ENV:Fault>")


class FakeWebService:
    """``with FakeWebService(inventory) as fake: fake.url``"""

    def __init__(self, inventory: Inventory) -> None:
        self.inv = inventory
        self.requests: list[str] = []
        self.sessions: set[str] = set()
        self.objects: dict[str, tuple[str, Any]] = {}  # reference -> (interface, payload)
        self.locks: dict[str, FakeMachine] = {}  # ISession reference -> the machine it locks
        self.buttons: list[str] = []  # machines whose ACPI power button was pressed
        self.resets: list[str] = []
        self._ids = itertools.count(1)
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, reply = fake.handle(body)
                self.send_response(status)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self) -> FakeWebService:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def methods(self) -> list[str]:
        return [etree.QName(etree.fromstring(r.encode()).find(f"{{{SOAPENV}}}Body")[0]).localname  # type: ignore[index]
                for r in self.requests]

    def machine(self, name: str) -> FakeMachine:
        return next(m for m in self.inv.machines if m.name == name)

    # -- dispatch -------------------------------------------------------------------------------------
    def handle(self, body: bytes) -> tuple[int, bytes]:
        with self.lock:
            self.requests.append(body.decode())
            call = etree.fromstring(body).find(f"{{{SOAPENV}}}Body")[0]  # type: ignore[index]
            method = etree.QName(call).localname
            args: dict[str, list[str]] = {}
            for child in call:
                args.setdefault(etree.QName(child).localname, []).append(child.text or "")
            try:
                handler = getattr(self, f"m_{method}", None)
                if handler is None:
                    raise _Fault(f"Method {method} is not implemented", E_FAIL)
                result = handler(args)
            except _Fault as fault:
                return 500, self._envelope(fault.xml())
            values = result if isinstance(result, list) else [] if result is None else [result]
            out = "".join(f"<returnval>{self._value(v)}</returnval>" for v in values)
            return 200, self._envelope(f"<vbox:{method}Response>{out}</vbox:{method}Response>")

    def _value(self, value: Any) -> str:
        """A value as vboxwebsrv writes it: text, or a by-value structure's fields as elements."""
        if isinstance(value, dict):
            return "".join(f"<{k}>{escape(self._text(v))}</{k}>" for k, v in value.items())
        return escape(self._text(value))

    @staticmethod
    def _text(value: Any) -> str:
        return ("true" if value else "false") if isinstance(value, bool) else str(value)

    @staticmethod
    def _envelope(body: str) -> bytes:
        return ('<?xml version="1.0" encoding="UTF-8"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/'
                'soap/envelope/" xmlns:SOAP-ENC="http://schemas.xmlsoap.org/soap/encoding/" xmlns:xsi="http://www.w3.'
                'org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:vbox="http://www.'
                f'virtualbox.org/"><SOAP-ENV:Body>{body}</SOAP-ENV:Body></SOAP-ENV:Envelope>').encode()

    def _new(self, session: str, interface: str, payload: Any) -> str:
        ref = f"{session}-{next(self._ids):016x}"
        self.objects[ref] = (interface, payload)
        return ref

    def _obj(self, args: dict[str, list[str]], interface: str, name: str = "_this") -> tuple[str, Any]:
        ref = (args.get(name) or [""])[0]
        session = ref.partition("-")[0]
        if session not in self.sessions or ref not in self.objects:
            raise _Fault(f'Invalid managed object reference "{ref}"', kind="InvalidObjectFault",
                         inner=f"<badObjectID>{escape(ref)}</badObjectID>")
        kind, payload = self.objects[ref]
        if kind != interface:
            raise _Fault(f'Managed object reference "{ref}" is not an {interface}', E_INVALIDARG)
        return session, payload

    # -- session manager ------------------------------------------------------------------------------
    def m_IWebsessionManager_logon(self, args: dict[str, list[str]]) -> str:
        user, password = (args.get("username") or [""])[0], (args.get("password") or [""])[0]
        if self.inv.users is not None and self.inv.users.get(user) != password:
            raise _Fault("VirtualBox error: rc=0x80004005", E_FAIL)
        session = secrets.token_hex(8)
        self.sessions.add(session)
        return self._new(session, "IVirtualBox", None)

    def m_IWebsessionManager_logoff(self, args: dict[str, list[str]]) -> None:
        session, _ = self._obj(args, "IVirtualBox", "refIVirtualBox")
        self.sessions.discard(session)
        for ref in [r for r in self.objects if r.startswith(session)]:
            del self.objects[ref]

    def m_IWebsessionManager_getSessionObject(self, args: dict[str, list[str]]) -> str:
        session, _ = self._obj(args, "IVirtualBox", "refIVirtualBox")
        return self._new(session, "ISession", None)

    # -- IVirtualBox, IHost ---------------------------------------------------------------------------
    def m_IVirtualBox_getVersion(self, args: dict[str, list[str]]) -> str:
        self._obj(args, "IVirtualBox")
        return self.inv.version

    def m_IVirtualBox_getMachines(self, args: dict[str, list[str]]) -> list[str]:
        session, _ = self._obj(args, "IVirtualBox")
        return [self._new(session, "IMachine", m) for m in self.inv.machines]

    def m_IVirtualBox_getHost(self, args: dict[str, list[str]]) -> str:
        session, _ = self._obj(args, "IVirtualBox")
        return self._new(session, "IHost", None)

    def m_IVirtualBox_getSystemProperties(self, args: dict[str, list[str]]) -> str:
        session, _ = self._obj(args, "IVirtualBox")
        return self._new(session, "ISystemProperties", None)

    def m_IMachine_getStorageControllers(self, args: dict[str, list[str]]) -> list[str]:
        session, m = self._obj(args, "IMachine")
        return [self._new(session, "IStorageController", c) for c in m.controllers]

    def m_IMachine_getStorageControllerByName(self, args: dict[str, list[str]]) -> str:
        session, m = self._obj(args, "IMachine")
        name = (args.get("name") or [""])[0]
        for c in m.controllers:
            if c[0] == name:
                return self._new(session, "IStorageController", c)
        raise _Fault(f"VirtualBox error: Could not find a storage controller named '{name}'", VBOX_E_OBJECT_NOT_FOUND)

    def m_IStorageController_getBus(self, args: dict[str, list[str]]) -> str:
        return str(self._obj(args, "IStorageController")[1][1])

    def m_IStorageController_getControllerType(self, args: dict[str, list[str]]) -> str:
        return str(self._obj(args, "IStorageController")[1][2])

    def m_IMachine_getMediumAttachments(self, args: dict[str, list[str]]) -> list[dict[str, Any]]:
        session, m = self._obj(args, "IMachine")
        return [{"machine": args["_this"][0], "medium": self._new(session, "IMedium", a) if a.location else "",
                 "controller": a.controller, "port": a.port, "device": a.device, "type": a.type,
                 "passthrough": False, "temporaryEject": False, "isEjected": False, "nonRotational": False,
                 "discard": False, "hotPluggable": False, "bandwidthGroup": ""} for a in m.attachments]

    def m_IMedium_getLocation(self, args: dict[str, list[str]]) -> str:
        return str(self._obj(args, "IMedium")[1].location)

    def m_IMedium_getReadOnly(self, args: dict[str, list[str]]) -> bool:
        return bool(self._obj(args, "IMedium")[1].readonly)

    def m_ISystemProperties_getMaxNetworkAdapters(self, args: dict[str, list[str]]) -> int:
        self._obj(args, "ISystemProperties")
        chipset = (args.get("chipset") or [""])[0]
        if chipset not in ("PIIX3", "ICH9"):
            raise _Fault(f"VirtualBox error: Invalid chipset type {chipset}", E_INVALIDARG)
        return 8 if chipset == "PIIX3" else 36

    def m_IMachine_getChipsetType(self, args: dict[str, list[str]]) -> str:
        self._machine(args)
        return "PIIX3"

    def m_IMachine_getNetworkAdapter(self, args: dict[str, list[str]]) -> str:
        session, m = self._obj(args, "IMachine")
        slot = int((args.get("slot") or ["-1"])[0])
        if not 0 <= slot < 8:
            raise _Fault(f"VirtualBox error: Invalid slot number: {slot} (must be in range [0, 7])", E_INVALIDARG)
        nic = m.nics[slot] if slot < len(m.nics) else FakeNIC(enabled=False, mac=f"0800270000{slot:02X}")
        return self._new(session, "INetworkAdapter", nic)

    def m_INetworkAdapter_getEnabled(self, args: dict[str, list[str]]) -> bool:
        return bool(self._obj(args, "INetworkAdapter")[1].enabled)

    def m_INetworkAdapter_getAttachmentType(self, args: dict[str, list[str]]) -> str:
        return str(self._obj(args, "INetworkAdapter")[1].attachment)

    def m_INetworkAdapter_getAdapterType(self, args: dict[str, list[str]]) -> str:
        return str(self._obj(args, "INetworkAdapter")[1].adapter)

    def m_INetworkAdapter_getMACAddress(self, args: dict[str, list[str]]) -> str:
        return str(self._obj(args, "INetworkAdapter")[1].mac)

    def m_INetworkAdapter_getBridgedInterface(self, args: dict[str, list[str]]) -> str:
        return str(self._obj(args, "INetworkAdapter")[1].bridged)

    def m_INetworkAdapter_getInternalNetwork(self, args: dict[str, list[str]]) -> str:
        return str(self._obj(args, "INetworkAdapter")[1].internal)

    def m_INetworkAdapter_getHostOnlyInterface(self, args: dict[str, list[str]]) -> str:
        return str(self._obj(args, "INetworkAdapter")[1].host_only)

    def m_ISystemProperties_getMaxBootPosition(self, args: dict[str, list[str]]) -> int:
        self._obj(args, "ISystemProperties")
        return 4

    def m_ISystemProperties_getMaxGuestRAM(self, args: dict[str, list[str]]) -> int:
        self._obj(args, "ISystemProperties")
        return self.inv.max_guest_ram

    def _host(self, args: dict[str, list[str]], value: Any) -> Any:
        self._obj(args, "IHost")
        if "cpuId" in args and int(args["cpuId"][0]) >= self.inv.host_cpus:
            raise _Fault("VirtualBox error: Invalid CPU id", E_INVALIDARG)
        return value

    def m_IHost_getMemorySize(self, args: dict[str, list[str]]) -> int:
        return self._host(args, self.inv.host_memory)

    def m_IHost_getProcessorCount(self, args: dict[str, list[str]]) -> int:
        return self._host(args, self.inv.host_cpus)

    def m_IHost_getProcessorCoreCount(self, args: dict[str, list[str]]) -> int:
        return self._host(args, self.inv.host_cores)

    def m_IHost_getProcessorSpeed(self, args: dict[str, list[str]]) -> int:
        return self._host(args, self.inv.host_speed)

    def m_IHost_getProcessorDescription(self, args: dict[str, list[str]]) -> str:
        return self._host(args, self.inv.host_cpu)

    # -- IMachine and its settings objects ------------------------------------------------------------
    def _machine(self, args: dict[str, list[str]]) -> FakeMachine:
        _, m = self._obj(args, "IMachine")
        if not m.accessible:
            raise _Fault("VirtualBox error: The object is not ready", VBOX_E_INVALID_OBJECT_STATE)
        return m

    def m_IMachine_getAccessible(self, args: dict[str, list[str]]) -> bool:
        _, m = self._obj(args, "IMachine")
        return bool(m.accessible)

    def m_IMachine_getName(self, args: dict[str, list[str]]) -> str:
        return self._machine(args).name

    def m_IMachine_getId(self, args: dict[str, list[str]]) -> str:
        return self._machine(args).uuid

    def m_IMachine_getState(self, args: dict[str, list[str]]) -> str:
        return self._machine(args).state

    def m_IMachine_getMemorySize(self, args: dict[str, list[str]]) -> int:
        return self._machine(args).memory

    def m_IMachine_getCPUCount(self, args: dict[str, list[str]]) -> int:
        return self._machine(args).cpus

    def m_IMachine_getBootOrder(self, args: dict[str, list[str]]) -> str:
        m = self._machine(args)
        position = int((args.get("position") or ["0"])[0])
        if not 1 <= position <= 4:
            raise _Fault(f"VirtualBox error: Invalid boot position: {position} (must be in range [1, 4])", E_INVALIDARG)
        return (m.boot + ["Null"] * 4)[position - 1]

    def m_IMachine_getCPUProperty(self, args: dict[str, list[str]]) -> bool:
        m = self._machine(args)
        prop = (args.get("property") or [""])[0]
        if prop != "PAE":
            raise _Fault(f"VirtualBox error: Invalid CPU property: {prop}", E_INVALIDARG)
        return m.pae

    def m_IMachine_getBIOSSettings(self, args: dict[str, list[str]]) -> str:
        session, m = self._obj(args, "IMachine")
        return self._new(session, "IBIOSSettings", m)

    def m_IMachine_getGraphicsAdapter(self, args: dict[str, list[str]]) -> str:
        session, m = self._obj(args, "IMachine")
        return self._new(session, "IGraphicsAdapter", m)

    def m_IBIOSSettings_getACPIEnabled(self, args: dict[str, list[str]]) -> bool:
        return bool(self._obj(args, "IBIOSSettings")[1].acpi)

    def m_IBIOSSettings_getIOAPICEnabled(self, args: dict[str, list[str]]) -> bool:
        return bool(self._obj(args, "IBIOSSettings")[1].ioapic)

    def m_IGraphicsAdapter_getVRAMSize(self, args: dict[str, list[str]]) -> int:
        return int(self._obj(args, "IGraphicsAdapter")[1].vram)

    def m_IGraphicsAdapter_getMonitorCount(self, args: dict[str, list[str]]) -> int:
        return int(self._obj(args, "IGraphicsAdapter")[1].monitors)

    def m_IGraphicsAdapter_getAccelerate3DEnabled(self, args: dict[str, list[str]]) -> bool:
        self._obj(args, "IGraphicsAdapter")
        return False

    def m_IGraphicsAdapter_getAccelerate2DVideoEnabled(self, args: dict[str, list[str]]) -> bool:
        self._obj(args, "IGraphicsAdapter")
        return False

    # -- sessions, console, progress ------------------------------------------------------------------
    def _session_object(self, args: dict[str, list[str]], name: str = "session") -> str:
        self._obj(args, "ISession", name)
        return args[name][0]

    def m_IMachine_lockMachine(self, args: dict[str, list[str]]) -> None:
        session_ref = self._session_object(args)
        m = self._machine(args)
        if session_ref in self.locks:
            raise _Fault("VirtualBox error: The given session is busy", VBOX_E_INVALID_OBJECT_STATE)
        lock_type = (args.get("lockType") or [""])[0]
        if lock_type == "Shared" and m.state not in ("Running", "Paused", "Stuck"):
            raise _Fault(f"VirtualBox error: The machine '{m.name}' is not running", VBOX_E_INVALID_VM_STATE)
        if lock_type == "Write" and m.state in ("Running", "Paused", "Stuck"):
            raise _Fault(f"VirtualBox error: The machine '{m.name}' is already locked by a session",
                         VBOX_E_INVALID_OBJECT_STATE)
        self.locks[session_ref] = m

    def m_IMachine_launchVMProcess(self, args: dict[str, list[str]]) -> str:
        session_ref = self._session_object(args)
        session, m = self._obj(args, "IMachine")
        if m.state not in ("PoweredOff", "Saved", "Aborted"):
            raise _Fault(f"VirtualBox error: The machine is not mutable or running (state is {m.state})",
                         VBOX_E_INVALID_VM_STATE)
        self.locks[session_ref] = m
        if m.start_error:
            return self._new(session, "IProgress", (E_FAIL, m.start_error))
        m.state = "Running"
        return self._new(session, "IProgress", (0, ""))

    def m_ISession_unlockMachine(self, args: dict[str, list[str]]) -> None:
        session_ref = self._session_object(args, "_this")
        if self.locks.pop(session_ref, None) is None:
            raise _Fault("VirtualBox error: The session is not locked (session state: Unlocked)",
                         VBOX_E_INVALID_OBJECT_STATE)

    def m_ISession_getMachine(self, args: dict[str, list[str]]) -> str:
        session_ref = self._session_object(args, "_this")
        if session_ref not in self.locks:
            raise _Fault("VirtualBox error: The session is not locked", VBOX_E_INVALID_OBJECT_STATE)
        return self._new(session_ref.partition("-")[0], "ISessionMachine", self.locks[session_ref])

    def m_IMachine_saveState(self, args: dict[str, list[str]]) -> str:
        session, m = self._obj(args, "ISessionMachine")
        if m.state not in ("Running", "Paused"):
            raise _Fault(f"VirtualBox error: Machine state must be Running or Paused, not {m.state}",
                         VBOX_E_INVALID_VM_STATE)
        m.state = "Saved"
        return self._new(session, "IProgress", (0, ""))

    def m_IMachine_discardSavedState(self, args: dict[str, list[str]]) -> None:
        _, m = self._obj(args, "ISessionMachine")
        if m.state != "Saved":
            raise _Fault(f"VirtualBox error: Cannot discard the saved state as the machine is not in the saved "
                         f"state (machine state: {m.state})", VBOX_E_INVALID_VM_STATE)
        m.state = "PoweredOff"

    def m_IConsole_powerButton(self, args: dict[str, list[str]]) -> None:
        _, m = self._obj(args, "IConsole")
        if not m.acpi:
            raise _Fault("VirtualBox error: Controlled power off failed (VERR_PDM_NO_ACPI_DEVICE)", VBOX_E_PDM_ERROR)
        self._console(args, ("Running",), "PoweredOff", "power off")
        self.buttons.append(m.name)

    def m_IConsole_reset(self, args: dict[str, list[str]]) -> None:
        m = self._console(args, ("Running",), "Running", "reset")
        self.resets.append(m.name)

    def m_ISession_getConsole(self, args: dict[str, list[str]]) -> str:
        session_ref = self._session_object(args, "_this")
        if session_ref not in self.locks:
            raise _Fault("VirtualBox error: The session is not locked", VBOX_E_INVALID_OBJECT_STATE)
        return self._new(session_ref.partition("-")[0], "IConsole", self.locks[session_ref])

    def _console(self, args: dict[str, list[str]], allowed: tuple[str, ...], new: str, verb: str) -> FakeMachine:
        _, m = self._obj(args, "IConsole")
        if m.state not in allowed:
            raise _Fault(f"VirtualBox error: Cannot {verb} the machine as it is not running (machine state: "
                         f"{m.state})", VBOX_E_INVALID_VM_STATE)
        m.state = new
        return m

    def m_IConsole_pause(self, args: dict[str, list[str]]) -> None:
        self._console(args, ("Running",), "Paused", "pause")

    def m_IConsole_resume(self, args: dict[str, list[str]]) -> None:
        self._console(args, ("Paused",), "Running", "resume")

    def m_IConsole_powerDown(self, args: dict[str, list[str]]) -> str:
        self._console(args, ("Running", "Paused", "Stuck"), "PoweredOff", "power off")
        return self._new(args["_this"][0].partition("-")[0], "IProgress", (0, ""))

    def m_IProgress_waitForCompletion(self, args: dict[str, list[str]]) -> None:
        self._obj(args, "IProgress")

    def m_IProgress_getResultCode(self, args: dict[str, list[str]]) -> int:
        code = self._obj(args, "IProgress")[1][0]
        return code - (1 << 32) if code & 0x80000000 else code

    def m_IProgress_getErrorInfo(self, args: dict[str, list[str]]) -> str:
        session, (code, text) = self._obj(args, "IProgress")
        return self._new(session, "IVirtualBoxErrorInfo", text) if code else ""

    def m_IVirtualBoxErrorInfo_getText(self, args: dict[str, list[str]]) -> str:
        return str(self._obj(args, "IVirtualBoxErrorInfo")[1])
