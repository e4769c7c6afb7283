"""The admin program (admin_protocol.x, 0x06900690): what virt-admin asks virtd on its admin socket.

virtd presents two servers, as libvirtd does: "libvirtd" (the clients of the remote program) and
"admin" (the clients of this one), sharing one worker pool. Clients have ids, connection times and
identities (peer credentials on unix sockets, addresses on TCP, SASL user names).
"""

from __future__ import annotations

import contextlib
import grp
import logging
import os
import pwd
import socket
import ssl
import struct
from collections.abc import Callable
from typing import Any

from virt.core.remote import procedures as P
from virt.core.remote import protocol as W
from virt.core.remote.programs import Program, ProgramProcedure, register
from virt.util import log as vlog
from virt.util import xdr
from virt.util.errors import ErrorNumber, InvalidArgError, NoSupportError, OperationInvalidError, VirtError

T = P.TypedParamType
#: The libvirt release whose admin interface this is (virAdmGetLibVersion's answer).
LIB_VERSION = 9_000_000
SERVER_NAMES = ("libvirtd", "admin")

ADMIN_PROCEDURES = """
1  CONNECT_OPEN                                 flags: uint
2  CONNECT_CLOSE
3  CONNECT_GET_LIB_VERSION                      -> libVer: uhyper
4  CONNECT_LIST_SERVERS                         need_results: uint, flags: uint -> servers: admin_server<ADMIN_SERVER_LIST_MAX>, ret: uint
5  CONNECT_LOOKUP_SERVER                        name: str, flags: uint -> srv: admin_server
6  SERVER_GET_THREADPOOL_PARAMETERS             srv: admin_server, flags: uint -> params: typed_param<ADMIN_SERVER_THREADPOOL_PARAMETERS_MAX>
7  SERVER_SET_THREADPOOL_PARAMETERS             srv: admin_server, params: typed_param<ADMIN_SERVER_THREADPOOL_PARAMETERS_MAX>, flags: uint
8  SERVER_LIST_CLIENTS                          srv: admin_server, need_results: uint, flags: uint -> clients: admin_client<ADMIN_CLIENT_LIST_MAX>, ret: uint
9  SERVER_LOOKUP_CLIENT                         srv: admin_server, id: uhyper, flags: uint -> clnt: admin_client
10 CLIENT_GET_INFO                              clnt: admin_client, flags: uint -> params: typed_param<ADMIN_CLIENT_INFO_PARAMETERS_MAX>
11 CLIENT_CLOSE                                 clnt: admin_client, flags: uint
12 SERVER_GET_CLIENT_LIMITS                     srv: admin_server, flags: uint -> params: typed_param<ADMIN_SERVER_CLIENT_LIMITS_MAX>
13 SERVER_SET_CLIENT_LIMITS                     srv: admin_server, params: typed_param<ADMIN_SERVER_CLIENT_LIMITS_MAX>, flags: uint
14 CONNECT_GET_LOGGING_OUTPUTS                  flags: uint -> outputs: str, noutputs: uint
15 CONNECT_GET_LOGGING_FILTERS                  flags: uint -> filters: str?, nfilters: uint
16 CONNECT_SET_LOGGING_OUTPUTS                  outputs: str?, flags: uint
17 CONNECT_SET_LOGGING_FILTERS                  filters: str?, flags: uint
18 SERVER_UPDATE_TLS_FILES                     srv: admin_server, flags: uint
19 CONNECT_SET_DAEMON_TIMEOUT                   timeout: uint, flags: uint
"""

P.CONSTANTS.update({"ADMIN_SERVER_LIST_MAX": 16384, "ADMIN_SERVER_THREADPOOL_PARAMETERS_MAX": 32,
                    "ADMIN_CLIENT_LIST_MAX": 16384, "ADMIN_CLIENT_INFO_PARAMETERS_MAX": 64,
                    "ADMIN_SERVER_CLIENT_LIMITS_MAX": 32})  # fmt: skip
_server_decl = xdr.struct("admin_nonnull_server", [("name", W.NonnullString)])
_NAMED = {
    **P.NAMED,
    "admin_server": _server_decl,
    "admin_client": xdr.struct("admin_nonnull_client", [("srv", _server_decl), ("id", xdr.uhyper),
                                                          ("timestamp", xdr.hyper), ("transport", xdr.uint)]),
}  # fmt: skip

#: virClientTransport.
TRANSPORTS = {"unix": 0, "tcp": 1, "tls": 2}


def _no_server(name: str) -> VirtError:
    return VirtError(f"no server with matching name '{name}'", code=ErrorNumber.NO_SERVER,
                     message=f"Server not found: no server with matching name '{name}'")  # fmt: skip


def _server_name(srv: Any) -> str:
    if srv.name not in SERVER_NAMES:
        raise _no_server(srv.name)
    return str(srv.name)


def _clients(admin: Any, server: str) -> list[Any]:
    wanted = server == "admin"
    return sorted((c for c in admin.server.clients if c.admin == wanted), key=lambda c: c.id)


def _client_wire(client: Any) -> tuple[Any, ...]:
    return (("admin" if client.admin else "libvirtd",), client.id, client.timestamp,
            TRANSPORTS.get(client.transport_kind, 0))  # fmt: skip


def _find_client(admin: Any, srv: Any, client_id: int) -> Any:
    for client in _clients(admin, _server_name(srv)):
        if client.id == client_id:
            return client
    raise VirtError(f"no client with matching id '{client_id}'", code=ErrorNumber.NO_CLIENT,
                    message=f"Client not found: no client with matching id '{client_id}'")  # fmt: skip


def _uint_params(values: dict[str, int]) -> list[Any]:
    return P.typed_params_to_wire([(k, (T.UINT, int(v))) for k, v in values.items()])


def _params_in(wire: list[Any], allowed: set[str]) -> dict[str, int]:
    values = P.typed_params_from_wire(wire)
    for name, value in values.items():
        if name not in allowed:
            raise InvalidArgError(f"parameter '{name}' is not supported", code=ErrorNumber.INVALID_ARG)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 32:
            raise InvalidArgError(f"invalid type for parameter '{name}'", code=ErrorNumber.INVALID_ARG)
    return {k: int(v) for k, v in values.items()}


# ---- handlers ------------------------------------------------------------------------------------------


def connect_open(client: Any, args: Any) -> None:
    client.programs["admin_open"] = True


def connect_close(client: Any, args: Any) -> None:
    client.programs.pop("admin_open", None)


def get_lib_version(client: Any, args: Any) -> Any:
    return (LIB_VERSION,)


def list_servers(client: Any, args: Any) -> Any:
    servers = [(name,) for name in SERVER_NAMES]
    return (servers if args.need_results else [], len(servers))


def lookup_server(client: Any, args: Any) -> Any:
    if args.name not in SERVER_NAMES:
        raise _no_server(args.name)
    return ((args.name,),)


def _threadpool(client: Any) -> dict[str, int]:
    pool = client.server.pool
    config = client.server.config
    workers = len(getattr(pool, "_threads", ()))
    idle = getattr(getattr(pool, "_idle_semaphore", None), "_value", 0)
    queue = getattr(pool, "_work_queue", None)
    # A ThreadPoolExecutor starts threads on demand and has no floor, nor libvirt's priority workers.
    return {"minWorkers": 0, "maxWorkers": getattr(pool, "_max_workers", config.max_workers), "prioWorkers": 0,
            "freeWorkers": min(idle, workers), "nWorkers": workers,
            "jobQueueDepth": queue.qsize() if queue is not None else 0}  # fmt: skip


def get_threadpool_parameters(client: Any, args: Any) -> Any:
    _server_name(args.srv)
    return (_uint_params(_threadpool(client)),)


def set_threadpool_parameters(client: Any, args: Any) -> None:
    _server_name(args.srv)
    values = _params_in(args.params, {"minWorkers", "maxWorkers", "prioWorkers"})
    if "maxWorkers" in values:
        if values["maxWorkers"] < 1:
            raise InvalidArgError("maxWorkers must be at least 1")
        # ThreadPoolExecutor grows up to _max_workers on demand: raising or lowering it takes effect
        # for the threads it starts from now on.
        client.server.pool._max_workers = values["maxWorkers"]
        client.server.config.max_workers = values["maxWorkers"]
    if "prioWorkers" in values and values["prioWorkers"] != 0:
        raise NoSupportError("priority workers")


def list_clients(client: Any, args: Any) -> Any:
    clients = _clients(client, _server_name(args.srv))
    return ([_client_wire(c) for c in clients] if args.need_results else [], len(clients))


def lookup_client(client: Any, args: Any) -> Any:
    found = _find_client(client, args.srv, args.id)
    return (_client_wire(found),)


def _peer(client: Any) -> dict[str, Any]:
    """The identity the client's socket tells: peer credentials on unix, the address on TCP."""
    info: dict[str, Any] = {}
    sock = client.transport.get_extra_info("socket") if client.transport is not None else None
    if sock is None:
        return info
    if sock.family == socket.AF_UNIX:
        with contextlib.suppress(OSError):
            pid, uid, gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
            info["unix_user_id"] = (T.INT, uid)
            with contextlib.suppress(KeyError):
                info["unix_user_name"] = pwd.getpwuid(uid).pw_name
            info["unix_group_id"] = (T.INT, gid)
            with contextlib.suppress(KeyError):
                info["unix_group_name"] = grp.getgrgid(gid).gr_name
            info["unix_process_id"] = (T.INT, pid)
    else:
        peer = client.transport.get_extra_info("peername")
        if peer:
            info["sock_addr"] = f"{peer[0]};{peer[1]}"
    return info


#: Python's names for the attributes of a certificate subject -> their RFC 4514 keys.
_X509_KEYS = {"commonName": "CN", "countryName": "C", "localityName": "L", "stateOrProvinceName": "ST",
              "organizationName": "O", "organizationalUnitName": "OU", "domainComponent": "DC", "userId": "UID",
              "emailAddress": "EMAIL"}  # fmt: skip


def client_get_info(client: Any, args: Any) -> Any:
    target = _find_client(client, args.clnt.srv, args.clnt.id)
    info: dict[str, Any] = {"readonly": bool(target.readonly)}
    if target.sasl is not None and target.sasl.username:
        info["sasl_user_name"] = target.sasl.username
    if target.transport_kind == "tls" and target.transport is not None:
        cert = target.transport.get_extra_info("peercert")
        if cert:
            # RFC 4514's order, as gnutls prints it: the most specific RDN first.
            info["x509_dname"] = ",".join("+".join(f"{_X509_KEYS.get(k, k)}={val}" for k, val in rdn)
                                          for rdn in reversed(cert.get("subject", ())))  # fmt: skip
    info.update(_peer(target))
    return (P.typed_params_to_wire(info),)


def client_close(client: Any, args: Any) -> None:
    _find_client(client, args.clnt.srv, args.clnt.id).abort("closed through the admin interface")


def _client_limits(client: Any) -> dict[str, int]:
    config = client.server.config
    clients = [c for c in client.server.clients if not c.admin]
    return {"nclients_max": config.max_clients, "nclients": len(clients),
            "nclients_unauth_max": config.max_anonymous_clients,
            "nclients_unauth": sum(1 for c in clients if not c.authenticated)}  # fmt: skip


def get_client_limits(client: Any, args: Any) -> Any:
    _server_name(args.srv)
    return (_uint_params(_client_limits(client)),)


def set_client_limits(client: Any, args: Any) -> None:
    _server_name(args.srv)
    values = _params_in(args.params, {"nclients_max", "nclients_unauth_max"})
    config = client.server.config
    new_max = values.get("nclients_max", config.max_clients)
    new_unauth = values.get("nclients_unauth_max", config.max_anonymous_clients)
    if new_unauth > new_max:
        raise InvalidArgError("The overall maximum number of clients must be greater than the maximum "
                              "number of clients waiting for authentication")  # fmt: skip
    config.max_clients, config.max_anonymous_clients = new_max, new_unauth


#: The daemon's logging setup as virt-admin last set it (outputs, filters in libvirt's notation).
_LOGGING: dict[str, list[str]] = {}


def _logger_setup() -> tuple[list[str], list[str]]:
    """The current outputs and filters: as last set, else as the environment and -v made them."""
    if not _LOGGING:
        env = os.environ
        outputs = vlog.parse_outputs(env.get("VIRT_LOG_OUTPUTS") or env.get("LIBVIRT_LOG_OUTPUTS") or "")
        filters = vlog.parse_filters(env.get("VIRT_LOG_FILTERS") or env.get("LIBVIRT_LOG_FILTERS") or "")
        level = logging.getLogger(vlog.ROOT_LOGGER).getEffectiveLevel()
        priority = max((p for p, lvl in vlog.PRIORITY_LEVELS.items() if lvl <= level), default=vlog.DEFAULT_PRIORITY)
        _LOGGING["outputs"] = [str(o) for o in outputs] or [f"{priority}:stderr"]
        _LOGGING["filters"] = [str(f) for f in filters]
    return _LOGGING["outputs"], _LOGGING["filters"]


def get_logging_outputs(client: Any, args: Any) -> Any:
    outputs, _ = _logger_setup()
    return (" ".join(outputs), len(outputs))


def get_logging_filters(client: Any, args: Any) -> Any:
    _, filters = _logger_setup()
    return (" ".join(filters) if filters else None, len(filters))


def _set_logging(outputs: str | None, filters: str | None) -> None:
    from virt.util import log as vlog

    current_outputs, current_filters = _logger_setup()
    new_outputs = [str(o) for o in vlog.parse_outputs(outputs)] if outputs is not None else current_outputs
    new_filters = [str(f) for f in vlog.parse_filters(filters)] if filters is not None else current_filters
    vlog.setup_logging(filters=" ".join(new_filters), outputs=" ".join(new_outputs))
    _LOGGING.update(outputs=new_outputs, filters=new_filters)


def set_logging_outputs(client: Any, args: Any) -> None:
    # libvirt: an empty or NULL outputs string restores the default output.
    _set_logging(args.outputs or "3:stderr", None)


def set_logging_filters(client: Any, args: Any) -> None:
    _set_logging(None, args.filters or "")


def update_tls_files(client: Any, args: Any) -> None:
    _server_name(args.srv)
    reload = client.server.config.update_tls_files
    if reload is None or args.srv.name == "admin":
        raise OperationInvalidError("no tls service found")
    try:
        reload()
    except (OSError, ssl.SSLError) as err:
        raise VirtError(f"failed to reload TLS files: {err}", code=ErrorNumber.SYSTEM_ERROR) from None


def set_daemon_timeout(client: Any, args: Any) -> None:
    client.server.config.idle_timeout = args.timeout


def _build() -> Program:
    handlers: dict[str, Callable[[Any, Any], Any]] = {
        "CONNECT_OPEN": connect_open, "CONNECT_CLOSE": connect_close, "CONNECT_GET_LIB_VERSION": get_lib_version,
        "CONNECT_LIST_SERVERS": list_servers, "CONNECT_LOOKUP_SERVER": lookup_server,
        "SERVER_GET_THREADPOOL_PARAMETERS": get_threadpool_parameters,
        "SERVER_SET_THREADPOOL_PARAMETERS": set_threadpool_parameters,
        "SERVER_LIST_CLIENTS": list_clients, "SERVER_LOOKUP_CLIENT": lookup_client,
        "CLIENT_GET_INFO": client_get_info, "CLIENT_CLOSE": client_close,
        "SERVER_GET_CLIENT_LIMITS": get_client_limits, "SERVER_SET_CLIENT_LIMITS": set_client_limits,
        "CONNECT_GET_LOGGING_OUTPUTS": get_logging_outputs, "CONNECT_GET_LOGGING_FILTERS": get_logging_filters,
        "CONNECT_SET_LOGGING_OUTPUTS": set_logging_outputs, "CONNECT_SET_LOGGING_FILTERS": set_logging_filters,
        "SERVER_UPDATE_TLS_FILES": update_tls_files, "CONNECT_SET_DAEMON_TIMEOUT": set_daemon_timeout,
    }  # fmt: skip
    procedures = {}
    for number, proc in P.parse_procedures(ADMIN_PROCEDURES, _NAMED).items():
        args = (
            xdr.struct(f"admin_{proc.name.lower()}_args", proc.args.fields)
            if isinstance(proc.args, xdr.Struct)
            else proc.args
        )
        ret = (
            xdr.struct(f"admin_{proc.name.lower()}_ret", proc.ret.fields)
            if isinstance(proc.ret, xdr.Struct)
            else proc.ret
        )
        procedures[number] = ProgramProcedure(number, proc.name, args, ret, True, True)
    # Every admin call answers from the daemon's own state at once: all run on the event loop.
    return register(Program("admin", 0x06900690, 1, procedures, handlers, admin=True, inline=frozenset(handlers)))


ADMIN = _build()
