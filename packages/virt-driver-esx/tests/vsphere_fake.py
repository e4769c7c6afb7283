"""A fake vSphere endpoint at the protocol level: SOAP over HTTP(S) on a local port, answering with
recorded message bodies (``vsphere/``) and property values from a small inventory.

It implements what the ESX driver calls: RetrieveServiceContent, Login/Logout (session cookie),
CreateContainerView/DestroyView, RetrievePropertiesEx over container views and object lists,
power tasks (with the InvalidPowerState errors a host reports) and the /folder file service.
Every request is kept in ``requests`` so tests can check what went over the wire.
"""

from __future__ import annotations

import itertools
import secrets
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

DATA = Path(__file__).parent / "vsphere"
SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
VIM = "urn:vim25"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
_OPEN = ('<?xml version="1.0" encoding="UTF-8"?>\n<soapenv:Envelope xmlns:soapenc='
         '"http://schemas.xmlsoap.org/soap/encoding/"\n xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"\n'
         ' xmlns:xsd="http://www.w3.org/2001/XMLSchema"\n xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
         '<soapenv:Body>\n')
_CLOSE = "\n</soapenv:Body>\n</soapenv:Envelope>"


@dataclass
class FakeVM:
    moid: str
    name: str
    uuid: str
    power_state: str = "poweredOff"
    memory_mb: int = 512
    num_cpu: int = 1
    memory_limit: int = -1
    vmx_path: str = ""
    vmx: str = ""
    tools_running: bool = False


@dataclass
class Inventory:
    """What the fake host holds. ``vcenter`` serves the recorded vCenter content instead of ESXi's."""

    vms: list[FakeVM] = field(default_factory=list)
    datastores: list[tuple[str, str]] = field(default_factory=list)  # (name, summary.url)
    datacenter: str = "ha-datacenter"
    users: dict[str, str] = field(default_factory=lambda: {"root": "secret"})
    vcenter: bool = False
    hostname: str = "esx1"
    domain: str = "example.org"


class FakeVSphere:
    """``with FakeVSphere(inventory, tls=cert_pair) as fake: fake.port``"""

    def __init__(self, inventory: Inventory, tls: tuple[str, str] | None = None) -> None:
        self.inv = inventory
        self.requests: list[tuple[str, str]] = []  # (method or "GET path", body)
        self.sessions: set[str] = set()
        self.views: dict[str, str] = {}  # view moid -> type
        self.tasks: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                status, headers, reply = fake.soap(body, self.headers.get("Cookie"))
                self._send(status, headers, reply.encode())

            def do_GET(self) -> None:
                status, reply = fake.get(self.path, self.headers.get("Cookie"))
                self._send(status, {"Content-Type": "application/octet-stream"}, reply)

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self) -> FakeVSphere:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def methods(self) -> list[str]:
        return [m for m, _ in self.requests]

    # -- SOAP ---------------------------------------------------------------------------------------
    def soap(self, body: bytes, cookie: str | None) -> tuple[int, dict[str, str], str]:
        root = etree.fromstring(body)
        call = root.find(f"{{{SOAPENV}}}Body")[0]  # type: ignore[index]
        method = etree.QName(call).localname
        with self.lock:
            self.requests.append((method, body.decode()))
            headers = {"Content-Type": "text/xml; charset=utf-8"}
            if method == "RetrieveServiceContent":
                name = "vcenter-service-content.xml" if self.inv.vcenter else "esx-service-content.xml"
                return 200, headers, (DATA / name).read_text()
            if method == "Login":
                user, password = call.findtext(f"{{{VIM}}}userName"), call.findtext(f"{{{VIM}}}password")
                if self.inv.users.get(user or "") != password:
                    return 500, headers, (DATA / "invalid-login.xml").read_text()
                token = secrets.token_hex(20)
                self.sessions.add(token)
                headers["Set-Cookie"] = f'vmware_soap_session="{token}"; Path=/; HttpOnly; Secure;'
                return 200, headers, (DATA / "login.xml").read_text().replace("my_user", escape(user or ""))
            if not self._session(cookie):
                return 500, headers, (DATA / "not-authenticated.xml").read_text()
            try:
                result = getattr(self, f"m_{method}")(call)
            except _Fault as fault:
                return 500, headers, _OPEN + fault.xml + _CLOSE
            return 200, headers, f'{_OPEN}<{method}Response xmlns="urn:vim25">{result}</{method}Response>{_CLOSE}'

    def _session(self, cookie: str | None) -> bool:
        if not cookie:
            return False
        value = cookie.split(";")[0].partition("=")[2].strip('"')
        return value in self.sessions

    def m_Logout(self, call: etree._Element) -> str:
        self.sessions.clear()
        return ""

    def m_CreateContainerView(self, call: etree._Element) -> str:
        types = [t.text or "" for t in call.iterfind(f"{{{VIM}}}type")]
        moid = f"session[{secrets.token_hex(4)}]{secrets.token_hex(8)}"
        self.views[moid] = types[0]
        return f'<returnval type="ContainerView">{moid}</returnval>'

    def m_DestroyView(self, call: etree._Element) -> str:
        self.views.pop(call.findtext(f"{{{VIM}}}_this") or "", None)
        return ""

    def m_RetrievePropertiesEx(self, call: etree._Element) -> str:
        spec = call.find(f"{{{VIM}}}specSet")
        assert spec is not None
        prop_type = spec.findtext(f"{{{VIM}}}propSet/{{{VIM}}}type")
        paths = [p.text or "" for p in spec.iterfind(f"{{{VIM}}}propSet/{{{VIM}}}pathSet")]
        objects: list[tuple[str, str]] = []
        for obj_set in spec.iterfind(f"{{{VIM}}}objectSet"):
            obj = obj_set.find(f"{{{VIM}}}obj")
            assert obj is not None
            if obj.get("type") == "ContainerView":
                view_type = self.views.get(obj.text or "")
                if view_type is None:
                    raise _Fault("ManagedObjectNotFound", "The object has already been deleted or has not been "
                                 "completely created")
                if obj_set.find(f"{{{VIM}}}selectSet") is not None and view_type == prop_type:
                    objects += [(prop_type, moid) for moid in self._all(prop_type)]
            else:
                objects.append((obj.get("type") or "", obj.text or ""))
        out = []
        for type_, moid in objects:
            props = "".join(f"<propSet><name>{escape(p)}</name>{self._value(type_, moid, p)}</propSet>"
                            for p in paths if self._value(type_, moid, p))
            out.append(f"<objects><obj type={quoteattr(type_)}>{escape(moid)}</obj>{props}</objects>")
        return f"<returnval>{''.join(out)}</returnval>" if out else ""

    def _all(self, type_: str) -> list[str]:
        if type_ == "VirtualMachine":
            return [vm.moid for vm in self.inv.vms]
        if type_ == "HostSystem":
            return ["ha-host"]
        if type_ == "Datacenter":
            return ["ha-datacenter"]
        if type_ == "Datastore":
            return [url.rstrip("/").rpartition("/")[2] for _, url in self.inv.datastores]
        return []

    def _vm(self, moid: str) -> FakeVM:
        for vm in self.inv.vms:
            if vm.moid == moid:
                return vm
        raise _Fault("ManagedObjectNotFound", "The object has already been deleted or has not been completely "
                     "created", f'<obj type="VirtualMachine">{moid}</obj>')

    def _value(self, type_: str, moid: str, path: str) -> str:
        """The <val> of one property, typed as a host types it."""
        def s(v: str) -> str:
            return f'<val xsi:type="xsd:string">{escape(v)}</val>'

        def i(v: int, t: str = "xsd:int") -> str:
            return f'<val xsi:type="{t}">{v}</val>'

        if type_ == "VirtualMachine":
            vm = self._vm(moid)
            values = {"name": s(vm.name), "config.uuid": s(vm.uuid),
                      "runtime.powerState": f'<val xsi:type="VirtualMachinePowerState">{vm.power_state}</val>',
                      "config.files.vmPathName": s(vm.vmx_path), "config.hardware.memoryMB": i(vm.memory_mb),
                      "config.hardware.numCPU": i(vm.num_cpu),
                      "config.memoryAllocation.limit": i(vm.memory_limit, "xsd:long")}
            return values.get(path, "")
        if type_ == "HostSystem":
            values = {
                "summary.hardware": '<val xsi:type="HostHardwareSummary"><vendor>Dell Inc.</vendor><model>PowerEdge '
                                    'R640</model><uuid>4c4c4544-0043-4410-8035-b2c04f4a5132</uuid><memorySize>'
                                    '274877906944</memorySize><cpuModel>Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz'
                                    '</cpuModel><cpuMhz>2095</cpuMhz><numCpuPkgs>2</numCpuPkgs><numCpuCores>32'
                                    '</numCpuCores><numCpuThreads>64</numCpuThreads><numNics>4</numNics><numHBAs>3'
                                    '</numHBAs></val>',
                "hardware.cpuInfo": '<val xsi:type="HostCpuInfo"><numCpuPackages>2</numCpuPackages><numCpuCores>32'
                                    '</numCpuCores><numCpuThreads>64</numCpuThreads><hz>2095078877</hz></val>',
                "hardware.memorySize": i(274877906944, "xsd:long"),
                "hardware.numaInfo.numNodes": i(2),
                "config.network.dnsConfig.hostName": s(self.inv.hostname),
                "config.network.dnsConfig.domainName": s(self.inv.domain),
            }
            return values.get(path, "")
        if type_ == "Datacenter" and path == "name":
            return s(self.inv.datacenter)
        if type_ == "Datastore":
            for name, url in self.inv.datastores:
                if url.rstrip("/").endswith(moid):
                    return {"summary.name": s(name), "summary.url": s(url)}.get(path, "")
        if type_ == "Task" and path == "info":
            task = self.tasks[moid]
            error = ""
            if task["state"] == "error":
                error = (f'<error><fault xsi:type="{task["fault"]}"><requestedState>{task["requested"]}'
                         f'</requestedState><existingState>{task["existing"]}</existingState></fault>'
                         f'<localizedMessage>{escape(task["message"])}</localizedMessage></error>')
            return (f'<val xsi:type="TaskInfo"><key>{moid}</key><task type="Task">{moid}</task>'
                    f'<descriptionId>{task["description"]}</descriptionId><entity type="VirtualMachine">'
                    f'{task["vm"]}</entity><entityName>{escape(task["name"])}</entityName><state>{task["state"]}'
                    f'</state>{error}<cancelled>false</cancelled><cancelable>false</cancelable></val>')
        return ""

    # -- power ----------------------------------------------------------------------------------------
    _POWER: ClassVar[dict[str, tuple[str, tuple[str, ...], str]]] = {"PowerOnVM_Task": ("powerOn", ("poweredOff", "suspended"), "poweredOn"),
              "PowerOffVM_Task": ("powerOff", ("poweredOn", "suspended"), "poweredOff"),
              "SuspendVM_Task": ("suspend", ("poweredOn",), "suspended"),
              "ResetVM_Task": ("reset", ("poweredOn",), "poweredOn")}

    def _power_task(self, call: etree._Element, method: str) -> str:
        vm = self._vm(call.findtext(f"{{{VIM}}}_this") or "")
        action, allowed, result = self._POWER[method]
        moid = f"haTask-{vm.moid}-vim.VirtualMachine.{action}-{next(self._ids)}"
        task = {"vm": vm.moid, "name": vm.name, "description": f"VirtualMachine.{action}", "state": "success"}
        if vm.power_state in allowed:
            vm.power_state = result
        else:
            task.update(state="error", fault="InvalidPowerState", requested=result, existing=vm.power_state,
                        message="The attempted operation cannot be performed in the current state "
                                f"({_STATE_NAMES[vm.power_state]}).")
        self.tasks[moid] = task
        return f'<returnval type="Task">{moid}</returnval>'

    def m_PowerOnVM_Task(self, call: etree._Element) -> str:
        return self._power_task(call, "PowerOnVM_Task")

    def m_PowerOffVM_Task(self, call: etree._Element) -> str:
        return self._power_task(call, "PowerOffVM_Task")

    def m_SuspendVM_Task(self, call: etree._Element) -> str:
        return self._power_task(call, "SuspendVM_Task")

    def m_ShutdownGuest(self, call: etree._Element) -> str:
        vm = self._vm(call.findtext(f"{{{VIM}}}_this") or "")
        if not vm.tools_running:
            raise _Fault("ToolsUnavailable", "Cannot complete operation because VMware Tools is not running in this "
                         "virtual machine.")
        vm.power_state = "poweredOff"
        return ""

    # -- files ----------------------------------------------------------------------------------------
    def get(self, path: str, cookie: str | None) -> tuple[int, bytes]:
        with self.lock:
            self.requests.append((f"GET {path}", ""))
            if not self._session(cookie):
                return 401, b""
            parts = urlsplit(path)
            query = parse_qs(parts.query)
            if not parts.path.startswith("/folder/") or query.get("dcPath") != [self.inv.datacenter]:
                return 404, b""
            file_path = unquote(parts.path[len("/folder/"):])
            for vm in self.inv.vms:
                datastore, _, rest = vm.vmx_path[1:].partition("] ")
                if query.get("dsName") == [datastore] and rest == file_path:
                    return 200, vm.vmx.encode()
            return 404, b""


_STATE_NAMES = {"poweredOn": "Powered on", "poweredOff": "Powered off", "suspended": "Suspended"}


class _Fault(Exception):
    def __init__(self, type_: str, message: str, inner: str = "") -> None:
        super().__init__(message)
        self.xml = (f"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>{escape(message)}"
                    f'</faultstring><detail><{type_}Fault xmlns="urn:vim25" xsi:type="{type_}">{inner}'
                    f"</{type_}Fault></detail></soapenv:Fault>")
