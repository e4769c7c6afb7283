"""A client of VirtualBox's SOAP web service (vboxwebsrv): its calls, managed object references and faults.

vboxwebsrv exposes the Main API as document/literal SOAP 1.1 in the ``http://www.virtualbox.org/``
namespace: every method is an element ``INTERFACE_method`` whose children are its parameters
(``_this`` first, the managed object reference called), answered by ``INTERFACE_methodResponse``
holding ``returnval`` (repeated for arrays). Objects are opaque reference strings valid for the
web session ``IWebsessionManager_logon`` opened. Which parameters each call takes, and in which
order, is described once in ``METHODS``.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from lxml import etree
from virt.util.errors import AuthFailedError, ErrorDomain, ErrorNumber, VirtError

SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
VBOX = "http://www.virtualbox.org/"

#: Calls used and their parameters after ``_this`` (which the session manager's calls have not).
METHODS: dict[str, tuple[str, ...]] = {
    "IWebsessionManager_logon": ("username", "password"),
    "IWebsessionManager_logoff": ("refIVirtualBox",),
    "IWebsessionManager_getSessionObject": ("refIVirtualBox",),
    "IVirtualBox_getVersion": ("_this",),
    "IVirtualBox_getMachines": ("_this",),
    "IVirtualBox_getHost": ("_this",),
    "IVirtualBox_getSystemProperties": ("_this",),
    "ISystemProperties_getMaxGuestRAM": ("_this",),
    "ISystemProperties_getMaxBootPosition": ("_this",),
    "ISystemProperties_getMaxNetworkAdapters": ("_this", "chipset"),
    "IMachine_getStorageControllers": ("_this",),
    "IMachine_getStorageControllerByName": ("_this", "name"),
    "IMachine_getMediumAttachments": ("_this",),
    "IStorageController_getBus": ("_this",),
    "IStorageController_getControllerType": ("_this",),
    "IMedium_getLocation": ("_this",),
    "IMedium_getReadOnly": ("_this",),
    "IMachine_getChipsetType": ("_this",),
    "IMachine_getNetworkAdapter": ("_this", "slot"),
    "INetworkAdapter_getEnabled": ("_this",),
    "INetworkAdapter_getAttachmentType": ("_this",),
    "INetworkAdapter_getAdapterType": ("_this",),
    "INetworkAdapter_getMACAddress": ("_this",),
    "INetworkAdapter_getBridgedInterface": ("_this",),
    "INetworkAdapter_getInternalNetwork": ("_this",),
    "INetworkAdapter_getHostOnlyInterface": ("_this",),
    "IHost_getMemorySize": ("_this",),
    "IHost_getProcessorCount": ("_this",),
    "IHost_getProcessorCoreCount": ("_this",),
    "IHost_getProcessorSpeed": ("_this", "cpuId"),
    "IHost_getProcessorDescription": ("_this", "cpuId"),
    "IMachine_getAccessible": ("_this",),
    "IMachine_getName": ("_this",),
    "IMachine_getId": ("_this",),
    "IMachine_getState": ("_this",),
    "IMachine_getMemorySize": ("_this",),
    "IMachine_getCPUCount": ("_this",),
    "IMachine_getBootOrder": ("_this", "position"),
    "IMachine_getCPUProperty": ("_this", "property"),
    "IMachine_getBIOSSettings": ("_this",),
    "IMachine_getGraphicsAdapter": ("_this",),
    "IMachine_lockMachine": ("_this", "session", "lockType"),
    "IMachine_launchVMProcess": ("_this", "session", "name", "environmentChanges"),
    "IBIOSSettings_getACPIEnabled": ("_this",),
    "IBIOSSettings_getIOAPICEnabled": ("_this",),
    "IGraphicsAdapter_getVRAMSize": ("_this",),
    "IGraphicsAdapter_getMonitorCount": ("_this",),
    "IGraphicsAdapter_getAccelerate3DEnabled": ("_this",),
    "IGraphicsAdapter_getAccelerate2DVideoEnabled": ("_this",),
    "IMachine_saveState": ("_this",),
    "IMachine_discardSavedState": ("_this", "fRemoveFile"),
    "ISession_getConsole": ("_this",),
    "ISession_getMachine": ("_this",),
    "ISession_unlockMachine": ("_this",),
    "IConsole_powerDown": ("_this",),
    "IConsole_pause": ("_this",),
    "IConsole_resume": ("_this",),
    "IConsole_powerButton": ("_this",),
    "IConsole_reset": ("_this",),
    "IProgress_waitForCompletion": ("_this", "timeout"),
    "IProgress_getResultCode": ("_this",),
    "IProgress_getErrorInfo": ("_this",),
    "IVirtualBoxErrorInfo_getText": ("_this",),
    "IManagedObjectRef_release": ("_this",),
}

def vbox_error(message: str, code: ErrorNumber = ErrorNumber.INTERNAL_ERROR) -> VirtError:
    return VirtError(message, code=code, domain=ErrorDomain.VBOX)


class VBoxFault(Exception):
    """A SOAP fault from vboxwebsrv: its text, detail kind (RuntimeFault, InvalidObjectFault) and COM result."""

    def __init__(self, message: str, kind: str, result_code: int | None = None) -> None:
        super().__init__(message)
        self.message, self.kind, self.result_code = message, kind, result_code


def request(method: str, args: dict[str, Any]) -> bytes:
    """The envelope calling ``method``; parameters in the order METHODS gives, lists repeated."""
    params = METHODS[method]
    unknown = set(args) - set(params)
    if unknown:
        raise ValueError(f"{method} takes no {', '.join(sorted(unknown))}")
    parts = []
    for name in params:
        value = args.get(name)
        for item in value if isinstance(value, list) else [] if value is None else [value]:
            text = ("true" if item else "false") if isinstance(item, bool) else str(item)
            parts.append(f"<{name}>{escape(text)}</{name}>")
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAPENV}" '
            f'xmlns:vbox="{VBOX}"><SOAP-ENV:Body><vbox:{method}>{"".join(parts)}</vbox:{method}>'
            "</SOAP-ENV:Body></SOAP-ENV:Envelope>").encode()


def parse_response(method: str, data: bytes) -> list[Any]:
    """The ``returnval`` values of a response (none, one, or an array's items): texts, or for the
    structures the service returns by value (IMediumAttachment) their fields by name; a fault
    raises VBoxFault."""
    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise VBoxFault(f"malformed SOAP response: {exc}", "") from None
    body = root.find(f"{{{SOAPENV}}}Body")
    if body is None:
        raise VBoxFault("SOAP response without a body", "")
    fault = body.find(f"{{{SOAPENV}}}Fault")
    if fault is not None:
        message = (fault.findtext("faultstring") or "").strip()
        detail = fault.find("detail")
        kind, code = "", None
        if detail is not None and len(detail):
            kind = etree.QName(detail[0]).localname
            text = detail[0].findtext("resultCode")
            code = int(text) & 0xFFFFFFFF if text and text.lstrip("-").isdigit() else None
        raise VBoxFault(message or kind or "unknown SOAP fault", kind, code)
    response = body.find(f"{{{VBOX}}}{method}Response")
    if response is None:
        raise VBoxFault(f"SOAP response is not a {method}Response", "")
    return [{etree.QName(f).localname: f.text or "" for f in el if isinstance(f.tag, str)} if len(el) else el.text or ""
            for el in response if etree.QName(el).localname == "returnval"]


class WebServiceClient:
    """One vboxwebsrv endpoint (``http://host:18083/``) and the web session ``logon`` opened."""

    def __init__(self, url: str, *, timeout: float = 60.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise vbox_error(f"Invalid VirtualBox web service URL '{url}'", ErrorNumber.INVALID_ARG)
        self.url = url
        self.secure = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.secure else 18083)
        self.path = parts.path or "/"
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()
        #: The IVirtualBox reference of the logged-in web session.
        self.vbox: str | None = None

    def call(self, method: str, **args: Any) -> list[Any]:
        data = request(method, args)
        with self._lock:
            for attempt in (1, 2):  # a kept-alive connection the server closed is reopened once
                if self._conn is None:
                    cls = http.client.HTTPSConnection if self.secure else http.client.HTTPConnection
                    self._conn = cls(self.host, self.port, timeout=self.timeout)
                try:
                    if self._conn.sock is None:
                        self._conn.connect()
                        # Small request/response pairs: don't let Nagle wait for the delayed ACK.
                        self._conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[attr-defined]
                    self._conn.request("POST", self.path, body=data,
                                       headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})
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
        if resp.status not in (200, 500):
            raise vbox_error(f"Unexpected HTTP status {resp.status} {resp.reason} from {self.url}")
        return parse_response(method, body)

    def one(self, method: str, **args: Any) -> str:
        values = self.call(method, **args)
        return str(values[0]) if values else ""

    def _transport_error(self, exc: BaseException) -> VirtError:
        reason: Any = exc
        if isinstance(exc, socket.timeout):
            reason = "timed out"
        elif isinstance(exc, OSError) and exc.strerror:
            reason = exc.strerror
        return vbox_error(f"Could not connect to the VirtualBox web service at {self.url}: {reason}")

    def logon(self, username: str, password: str) -> None:
        try:
            self.vbox = self.one("IWebsessionManager_logon", username=username, password=password)
        except VBoxFault as fault:
            raise AuthFailedError(f"VirtualBox web service refused the logon of '{username}': {fault.message}",
                                  code=ErrorNumber.AUTH_FAILED, domain=ErrorDomain.VBOX) from None

    def logoff(self) -> None:
        if self.vbox is not None:
            with contextlib.suppress(VBoxFault, VirtError):  # the session is gone either way
                self.call("IWebsessionManager_logoff", refIVirtualBox=self.vbox)
            self.vbox = None
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
