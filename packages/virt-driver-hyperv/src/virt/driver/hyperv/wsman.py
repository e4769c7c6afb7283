"""A WS-Management (WinRM) client for the WMI provider: WQL enumerations and method invocations.

Messages are SOAP 1.2 envelopes (MS-WSMV, DMTF DSP0226) posted to ``/wsman`` with HTTP Basic
authentication. A WQL query is an ``Enumerate`` with a ``wsman:Filter`` in Microsoft's WQL dialect
(``OptimizeEnumeration`` asks for the first items in the response) followed by ``Pull`` requests
until ``EndOfSequence``; a method call is a POST whose Action is the class's resource URI plus the
method name, with the instance's key properties as the ``SelectorSet`` and ``METHOD_INPUT`` as body.
WMI instances come back as one element per object (the class name) holding one element per
property; ``WMI_CLASSES`` says once how each property used is typed.
"""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import threading
import uuid
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from lxml import etree
from virt.util.errors import AuthFailedError, ErrorDomain, ErrorNumber, VirtError

SOAP = "http://www.w3.org/2003/05/soap-envelope"
ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
ENUMERATION = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
WSMAN_FAULT = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
WQL = "http://schemas.microsoft.com/wbem/wsman/1/WQL"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
#: WMI classes are addressed as this prefix + namespace + "/" + class.
WMI_BASE = "http://schemas.microsoft.com/wbem/wsman/1/wmi/"

#: Namespaces the driver reads: Hyper-V's v2 provider and the host's own classes.
VIRTUALIZATION = "root/virtualization/v2"
CIMV2 = "root/cimv2"

_INT = int
_BOOL: Callable[[str], bool] = lambda t: t.strip().lower() == "true"  # noqa: E731 (a converter table entry)

#: Properties read, per WMI class, and how each is typed (anything else is kept as text).
WMI_CLASSES: dict[str, dict[str, Callable[[str], Any]]] = {
    "Msvm_ComputerSystem": {"EnabledState": _INT, "ProcessID": _INT, "RequestedState": _INT,
                            "OnTimeInMilliseconds": _INT, "NumberOfNumaNodes": _INT},
    "Msvm_VirtualSystemSettingData": {},
    "Msvm_MemorySettingData": {"VirtualQuantity": _INT, "Limit": _INT, "Reservation": _INT,
                               "DynamicMemoryEnabled": _BOOL},
    "Msvm_ProcessorSettingData": {"VirtualQuantity": _INT, "Limit": _INT, "Reservation": _INT},
    "Msvm_ShutdownComponent": {"EnabledState": _INT},
    "Msvm_ResourceAllocationSettingData": {"ResourceType": _INT},
    "Msvm_StorageAllocationSettingData": {"ResourceType": _INT},
    "Msvm_SerialPortSettingData": {"ResourceType": _INT},
    "Msvm_EthernetPortAllocationSettingData": {"EnabledState": _INT, "ResourceType": _INT},
    "Msvm_DiskDrive": {"DriveNumber": _INT},
    "Msvm_ConcreteJob": {"JobState": _INT, "ErrorCode": _INT, "PercentComplete": _INT},
    "Win32_ComputerSystem": {"TotalPhysicalMemory": _INT, "NumberOfProcessors": _INT,
                             "NumberOfLogicalProcessors": _INT},
    "Win32_Processor": {"MaxClockSpeed": _INT, "NumberOfCores": _INT, "NumberOfLogicalProcessors": _INT},
    "Win32_OperatingSystem": {},
}

#: Method return values: done, or a job was started (poll its Msvm_ConcreteJob).
RETURN_COMPLETED = 0
RETURN_JOB_STARTED = 4096


def resource_uri(namespace: str, class_name: str = "*") -> str:
    return f"{WMI_BASE}{namespace}/{class_name}"


def hyperv_error(message: str, code: ErrorNumber = ErrorNumber.INTERNAL_ERROR) -> VirtError:
    return VirtError(message, code=code, domain=ErrorDomain.HYPERV)


class WSManFault(Exception):
    """A SOAP fault: its subcode (``w:InvalidSelectors``), reason text and WMI/WinRM error code."""

    def __init__(self, subcode: str, reason: str, code: str = "") -> None:
        super().__init__(reason)
        self.subcode, self.reason, self.code = subcode, reason, code


# ---------------------------------------------------------------------------------------------- messages

def envelope(to: str, resource: str, action: str, body: str, selectors: dict[str, str] | None = None,
             message_id: str | None = None) -> bytes:
    """One request envelope: addressing headers, the resource, optional selectors, and ``body``."""
    selector_set = ""
    if selectors:
        selector_set = "<w:SelectorSet>" + "".join(
            f"<w:Selector Name={quoteattr(k)}>{escape(v)}</w:Selector>" for k, v in selectors.items()) + "</w:SelectorSet>"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<s:Envelope xmlns:s="{SOAP}" xmlns:a="{ADDRESSING}" '
        f'xmlns:n="{ENUMERATION}" xmlns:w="{WSMAN}"><s:Header><a:To>{escape(to)}</a:To>'
        f'<w:ResourceURI s:mustUnderstand="true">{escape(resource)}</w:ResourceURI>'
        f'<a:ReplyTo><a:Address s:mustUnderstand="true">{ANONYMOUS}</a:Address></a:ReplyTo>'
        f'<a:Action s:mustUnderstand="true">{escape(action)}</a:Action>'
        f'<w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize>'
        f'<a:MessageID>uuid:{message_id or uuid.uuid4()}</a:MessageID>'
        f'<w:Locale xml:lang="en-US" s:mustUnderstand="false"/><w:OperationTimeout>PT60.000S</w:OperationTimeout>'
        f'{selector_set}</s:Header><s:Body>{body}</s:Body></s:Envelope>'
    ).encode()


def parse_envelope(data: bytes) -> etree._Element:
    """The Body of a response; a SOAP fault raises WSManFault."""
    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    except etree.XMLSyntaxError as exc:
        raise WSManFault("", f"malformed WS-Management response: {exc}") from None
    body = root.find(f"{{{SOAP}}}Body")
    if body is None:
        raise WSManFault("", "WS-Management response without a body")
    fault = body.find(f"{{{SOAP}}}Fault")
    if fault is not None:
        subcode = (fault.findtext(f"{{{SOAP}}}Code/{{{SOAP}}}Subcode/{{{SOAP}}}Value") or "").strip()
        reason = (fault.findtext(f"{{{SOAP}}}Reason/{{{SOAP}}}Text") or "").strip()
        detail = fault.find(f"{{{SOAP}}}Detail/{{{WSMAN_FAULT}}}WSManFault")
        code = detail.get("Code", "") if detail is not None else ""
        # A provider's fault nests its own WSManFault in the Message: the innermost text says most.
        texts = [" ".join((m.text or "").split()) for m in detail.iter(f"{{{WSMAN_FAULT}}}Message")] \
            if detail is not None else []
        message = next((t for t in reversed(texts) if t), "")
        reason = " ".join(reason.split())
        raise WSManFault(subcode, message or reason or "unknown WS-Management fault", code)
    return body


def _local(tag: Any) -> str:
    return str(tag).rpartition("}")[2]


def decode_instance(el: etree._Element) -> dict[str, Any]:
    """A WMI instance element as {property: value}: nil -> None, repeated -> list, EPR -> selectors."""
    types = WMI_CLASSES.get(_local(el.tag), {})
    obj: dict[str, Any] = {"__class__": _local(el.tag)}
    for child in el:
        if not isinstance(child.tag, str):
            continue
        name = _local(child.tag)
        value: Any
        if child.get(f"{{{XSI}}}nil") == "true":
            value = None
        elif child.find(f"{{{ADDRESSING}}}ReferenceParameters") is not None:
            value = {s.get("Name", ""): (s.text or "") for s in child.iter(f"{{{WSMAN}}}Selector")}
        else:
            text = child.text or ""
            value = types[name](text) if name in types and text.strip() else text
        if name in obj:
            existing = obj[name]
            obj[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            obj[name] = value
    return obj


# ---------------------------------------------------------------------------------------------- client

class WSManClient:
    """One WinRM endpoint (``http(s)://host:port/wsman``) with Basic credentials."""

    def __init__(self, host: str, port: int, username: str, password: str, *, secure: bool = True,
                 verify: bool = True, cafile: str | None = None, timeout: float = 60.0,
                 max_elements: int = 100) -> None:
        self.host, self.port, self.secure = host, port, secure
        self.timeout, self.max_elements = timeout, max_elements
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self._auth = f"Basic {token}"
        self._ssl: ssl.SSLContext | None = None
        if secure:
            self._ssl = ssl.create_default_context(cafile=cafile)
            if not verify:
                self._ssl.check_hostname = False
                self._ssl.verify_mode = ssl.CERT_NONE
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.secure else 'http'}://{host}:{self.port}/wsman"

    # -- transport -----------------------------------------------------------------------------------
    def _post(self, data: bytes) -> etree._Element:
        headers = {"Content-Type": "application/soap+xml;charset=UTF-8", "Authorization": self._auth,
                   "User-Agent": "virt hyperv driver"}
        with self._lock:
            for attempt in (1, 2):  # a kept-alive connection the server closed is reopened once
                if self._conn is None:
                    cls = http.client.HTTPSConnection if self.secure else http.client.HTTPConnection
                    kw: dict[str, Any] = {"context": self._ssl} if self.secure else {}
                    self._conn = cls(self.host, self.port, timeout=self.timeout, **kw)
                try:
                    if self._conn.sock is None:
                        self._conn.connect()
                        # Small request/response pairs: don't let Nagle wait for the delayed ACK.
                        self._conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[attr-defined]
                    self._conn.request("POST", "/wsman", body=data, headers=headers)
                    resp = self._conn.getresponse()
                    body = resp.read()
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                    self.close()
                    if attempt == 2:
                        raise self._transport_error(exc) from None
                    continue
                except (OSError, http.client.HTTPException) as exc:
                    self.close()
                    raise self._transport_error(exc) from None
                break
        if resp.status == 401:
            raise AuthFailedError(f"WS-Management service at {self.url} rejected the credentials",
                                  code=ErrorNumber.AUTH_FAILED, domain=ErrorDomain.HYPERV)
        if resp.status not in (200, 400, 500):
            raise hyperv_error(f"Unexpected HTTP status {resp.status} {resp.reason} from {self.url}")
        try:
            return parse_envelope(body)
        except WSManFault as fault:
            if fault.subcode.endswith("AccessDenied"):
                raise AuthFailedError(fault.reason, code=ErrorNumber.AUTH_FAILED, domain=ErrorDomain.HYPERV) from None
            raise hyperv_error(f"WS-Management request failed: {fault.reason}"
                               + (f" (code {fault.code})" if fault.code else "")) from None

    def _transport_error(self, exc: BaseException) -> VirtError:
        reason: Any = exc
        if isinstance(exc, ssl.SSLError) and exc.reason:
            reason = exc.reason
        elif isinstance(exc, socket.timeout):
            reason = "timed out"
        elif isinstance(exc, OSError) and exc.strerror:
            reason = exc.strerror
        return hyperv_error(f"Could not connect to Hyper-V host '{self.host}' ({self.url}): {reason}")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- operations ----------------------------------------------------------------------------------
    def query(self, namespace: str, wql: str) -> list[dict[str, Any]]:
        """Every instance a WQL query selects (Enumerate, then Pull until the end of the sequence)."""
        resource = resource_uri(namespace)
        body = (f"<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>{self.max_elements}</w:MaxElements>"
                f'<w:Filter Dialect="{WQL}">{escape(wql)}</w:Filter></n:Enumerate>')
        reply = self._post(envelope(self.url, resource, f"{ENUMERATION}/Enumerate", body))
        response = reply.find(f"{{{ENUMERATION}}}EnumerateResponse")
        if response is None:
            raise hyperv_error("WS-Management response is not an EnumerateResponse")
        items = [decode_instance(el) for el in response.iterfind(f"{{{WSMAN}}}Items/*")]
        done = response.find(f"{{{WSMAN}}}EndOfSequence") is not None
        context = response.findtext(f"{{{ENUMERATION}}}EnumerationContext")
        while not done and context:
            body = (f"<n:Pull><n:EnumerationContext>{escape(context)}</n:EnumerationContext>"
                    f"<n:MaxElements>{self.max_elements}</n:MaxElements></n:Pull>")
            reply = self._post(envelope(self.url, resource, f"{ENUMERATION}/Pull", body))
            response = reply.find(f"{{{ENUMERATION}}}PullResponse")
            if response is None:
                raise hyperv_error("WS-Management response is not a PullResponse")
            items += [decode_instance(el) for el in response.iterfind(f"{{{ENUMERATION}}}Items/*")]
            done = response.find(f"{{{ENUMERATION}}}EndOfSequence") is not None
            context = response.findtext(f"{{{ENUMERATION}}}EnumerationContext") or context
        return items

    def invoke(self, namespace: str, class_name: str, selectors: dict[str, str], method: str,
               params: dict[str, Any]) -> dict[str, Any]:
        """Call ``method`` on the instance ``selectors`` name; the output parameters by name."""
        resource = resource_uri(namespace, class_name)
        args = "".join(f"<p:{k}>{escape(str(v))}</p:{k}>" for k, v in params.items())
        body = f"<p:{method}_INPUT xmlns:p={quoteattr(resource)}>{args}</p:{method}_INPUT>"
        reply = self._post(envelope(self.url, resource, f"{resource}/{method}", body, selectors))
        output = reply.find(f"{{{resource}}}{method}_OUTPUT")
        if output is None:
            raise hyperv_error(f"WS-Management response has no {method}_OUTPUT")
        result = decode_instance(output)
        result["ReturnValue"] = int(result.get("ReturnValue") or 0)
        return result
