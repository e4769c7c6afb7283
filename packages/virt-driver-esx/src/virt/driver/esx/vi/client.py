"""A vSphere API client: one HTTP(S) session to an ESX host or vCenter (``/sdk``), its calls and its objects.

Only the standard library and lxml: ``http.client`` keeps one connection alive, the session is the
``vmware_soap_session`` cookie Login returns. Calls are described once (``METHODS``: name and
parameter order as the WSDL has them) and made through ``VIClient.call``.
"""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from virt.driver.esx.vi.soap import (
    MOR,
    DataObject,
    Fault,
    as_list,
    parse_response,
    request,
)
from virt.util.errors import (
    AuthFailedError,
    ErrorDomain,
    ErrorNumber,
    OperationInvalidError,
    VirtError,
)

log = logging.getLogger(__name__)

#: The API version asked for in SOAPAction; servers answer older clients in the older dialect.
API_VERSION = "5.5"

#: Methods used, with their parameters in WSDL order (SOAP parameter order matters).
METHODS: dict[str, tuple[str, ...]] = {
    "RetrieveServiceContent": (),
    "Login": ("userName", "password", "locale"),
    "Logout": (),
    "CreateContainerView": ("container", "type", "recursive"),
    "DestroyView": (),
    "RetrievePropertiesEx": ("specSet", "options"),
    "ContinueRetrievePropertiesEx": ("token",),
    "PowerOnVM_Task": ("host",),
    "PowerOffVM_Task": (),
    "SuspendVM_Task": (),
    "ResetVM_Task": (),
    "ShutdownGuest": (),
    "RebootGuest": (),
}

#: vSphere fault types and the libvirt error each becomes.
_FAULT_ERRORS: dict[str, tuple[type[VirtError], ErrorNumber]] = {
    "InvalidLogin": (AuthFailedError, ErrorNumber.AUTH_FAILED),
    "NotAuthenticated": (AuthFailedError, ErrorNumber.AUTH_FAILED),
    "NoPermission": (AuthFailedError, ErrorNumber.ACCESS_DENIED),
    "InvalidPowerState": (OperationInvalidError, ErrorNumber.OPERATION_INVALID),
    "InvalidState": (OperationInvalidError, ErrorNumber.OPERATION_INVALID),
    "ToolsUnavailable": (OperationInvalidError, ErrorNumber.OPERATION_INVALID),
}


def vi_error(fault: Fault) -> VirtError:
    """A vSphere fault as the VirtError libvirt's ESX driver reports."""
    cls, code = _FAULT_ERRORS.get(fault.fault_type or "", (VirtError, ErrorNumber.INTERNAL_ERROR))
    kind = f"{fault.fault_type} - " if fault.fault_type else ""
    return cls(f"{kind}{fault.message}", code=code, domain=ErrorDomain.ESX)


@dataclass(frozen=True)
class ObjectContent:
    """One object a property retrieval returned and its properties by path."""

    obj: MOR
    props: dict[str, Any]


class VIClient:
    """A logged-in (after ``login``) session with a vSphere endpoint."""

    def __init__(self, host: str, port: int, *, secure: bool = True, verify: bool = True,
                 timeout: float = 60.0, cafile: str | None = None) -> None:
        self.host, self.port, self.secure = host, port, secure
        self.timeout = timeout
        self._ssl: ssl.SSLContext | None = None
        if secure:
            self._ssl = ssl.create_default_context(cafile=cafile)
            if not verify:
                self._ssl.check_hostname = False
                self._ssl.verify_mode = ssl.CERT_NONE
        self._conn: http.client.HTTPConnection | None = None
        self._cookie: str | None = None
        self._lock = threading.Lock()
        self.content: DataObject = self.call("RetrieveServiceContent", MOR("ServiceInstance", "ServiceInstance"))
        self.session: DataObject | None = None

    # -- transport ---------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        scheme = "https" if self.secure else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.secure:
                self._conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                                         context=self._ssl)
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def _http(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        if self._cookie:
            headers["Cookie"] = self._cookie
        with self._lock:
            for attempt in (1, 2):  # a kept-alive connection the server closed is reopened once
                conn = self._connection()
                try:
                    if conn.sock is None:
                        conn.connect()
                        # Small request/response pairs: don't let Nagle wait for the delayed ACK.
                        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[attr-defined]
                    conn.request(method, path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                    self.close_connection()
                    if attempt == 2:
                        raise self._transport_error(exc) from None
                    continue
                except (OSError, http.client.HTTPException) as exc:
                    self.close_connection()
                    raise self._transport_error(exc) from None
                cookie = resp.getheader("Set-Cookie")
                if cookie:
                    self._cookie = cookie.split(";", 1)[0].strip()
                return resp.status, data
        raise AssertionError("unreachable")

    def _transport_error(self, exc: BaseException) -> VirtError:
        reason = exc.reason if isinstance(exc, ssl.SSLError) and exc.reason else exc
        if isinstance(exc, socket.timeout):
            reason = "timed out"
        return VirtError(f"Could not connect to '{self.host}' ({self.base_url}/sdk): {reason}",
                         code=ErrorNumber.INTERNAL_ERROR, domain=ErrorDomain.ESX)

    def close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- calls -------------------------------------------------------------------------------------
    def call(self, method: str, this: MOR, **args: Any) -> Any:
        """Call ``method`` on ``this``; the single return value (a list for several, None for none)."""
        params = METHODS[method]
        unknown = set(args) - set(params)
        if unknown:
            raise TypeError(f"{method} has no parameter {', '.join(sorted(unknown))}")
        body = request(method, this, [(p, args.get(p)) for p in params])
        status, data = self._http("POST", "/sdk", body, {
            "Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"urn:vim25/{API_VERSION}"'})
        if status not in (200, 500):
            raise VirtError(f"HTTP response code {status} for call to '{method}'", domain=ErrorDomain.ESX)
        try:
            values = parse_response(data)
        except Fault as fault:
            raise vi_error(fault) from None
        if not values:
            return None
        return values[0] if len(values) == 1 else values

    def download(self, path: str) -> bytes:
        """GET a file the server publishes (``/folder/...`` datastore files)."""
        status, data = self._http("GET", path, None, {})
        if status != 200:
            raise VirtError(f"HTTP response code {status} for download from '{self.base_url}{path}'",
                            domain=ErrorDomain.ESX)
        return data

    # -- session -----------------------------------------------------------------------------------
    @property
    def about(self) -> DataObject:
        return self.content["about"]

    def login(self, username: str, password: str) -> None:
        self.session = self.call("Login", self.content["sessionManager"], userName=username, password=password)

    def logout(self) -> None:
        if self.session is not None:
            try:
                self.call("Logout", self.content["sessionManager"])
            except VirtError as exc:  # the session may have expired already
                log.debug("logout failed: %s", exc)
            self.session = None
        self.close_connection()

    # -- properties --------------------------------------------------------------------------------
    def retrieve(self, objects: Iterable[MOR], type_: str, paths: Iterable[str]) -> list[ObjectContent]:
        """Properties ``paths`` of ``objects`` (all of type ``type_``)."""
        object_set = [DataObject(None, obj=obj, skip=False) for obj in objects]
        if not object_set:
            return []
        spec = DataObject(None, propSet=DataObject(None, type=type_, all=False, pathSet=list(paths)),
                          objectSet=object_set)
        return self._retrieve(spec)

    def retrieve_all(self, type_: str, paths: Iterable[str], container: MOR | None = None) -> list[ObjectContent]:
        """Properties of every object of ``type_`` under ``container`` (default: the root folder)."""
        view = self.call("CreateContainerView", self.content["viewManager"],
                         container=container or self.content["rootFolder"], type=[type_], recursive=True)
        try:
            traverse = DataObject("TraversalSpec", name="traverseView", type="ContainerView", path="view",
                                  skip=False)
            spec = DataObject(None, propSet=DataObject(None, type=type_, all=False, pathSet=list(paths)),
                              objectSet=DataObject(None, obj=view, skip=True, selectSet=traverse))
            return self._retrieve(spec)
        finally:
            try:
                self.call("DestroyView", view)
            except VirtError as exc:
                log.debug("DestroyView failed: %s", exc)

    def _retrieve(self, spec: DataObject) -> list[ObjectContent]:
        collector = self.content["propertyCollector"]
        result = self.call("RetrievePropertiesEx", collector, specSet=spec, options=DataObject(None))
        found: list[ObjectContent] = []
        while result is not None:
            for obj in as_list(result.get("objects")):
                props = {p["name"]: p.get("val") for p in as_list(obj.get("propSet"))}
                found.append(ObjectContent(obj["obj"], props))
            token = result.get("token")
            if not token:
                break
            result = self.call("ContinueRetrievePropertiesEx", collector, token=token)
        return found

    def wait_for_task(self, task: MOR, timeout: float = 600.0) -> DataObject:
        """Poll a task until it ends; a failed task raises its fault as a VirtError."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            found = self.retrieve([task], "Task", ["info"])
            info: DataObject = found[0].props["info"] if found else DataObject("TaskInfo")
            state = info.get("state")
            if state == "success":
                return info
            if state == "error":
                error = info.get("error") or DataObject()
                fault = error.get("fault")
                fault_type = fault.type_ if isinstance(fault, DataObject) else None
                raise vi_error(Fault(str(error.get("localizedMessage") or "task failed"), fault_type))
            if time.monotonic() > deadline:
                raise VirtError(f"task {task.value} did not finish in {timeout:g}s", domain=ErrorDomain.ESX,
                                code=ErrorNumber.OPERATION_TIMEOUT)
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def datastore_file_url(self, datastore: str, path: str, datacenter_path: str) -> str:
        """The path of a datastore file on the server's /folder file service."""
        return (f"/folder/{quote(path)}?dcPath={quote(datacenter_path, safe='')}"
                f"&dsName={quote(datastore, safe='')}")
