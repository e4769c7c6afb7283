"""The programs virtd serves besides the remote one: qemu (0x20008087), lxc (0x00068000) and admin (0x06900690).

Each program is a table in the notation of ``procedures`` (number, name, flags, fields), the driver
method each procedure calls (libvirt's C API in snake case: virDomainQemuMonitorCommand ->
``domain_qemu_monitor_command``), and the few procedures answered by virtd itself. One engine
decodes, dispatches and replies for all of them; the admin program lives in ``admin``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from virt.core.remote import fdpass
from virt.core.remote import marshal as M
from virt.core.remote import procedures as P
from virt.core.remote import protocol as W
from virt.core.remote.sasl import PRE_AUTH_PROCEDURES, auth_required
from virt.util import xdr
from virt.util.errors import (
    ErrorNumber,
    InternalError,
    InvalidArgError,
    NoSupportError,
    RPCError,
    VirtError,
)

log = logging.getLogger("virt.remote.programs")

Handler = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class ProgramProcedure(P.Procedure):
    """A procedure of another program: its driver method is named explicitly."""

    driver_method: str = ""

    @property
    def method(self) -> str:
        return self.driver_method


@dataclass
class Program:
    """One RPC program: its number, version, procedures and how virtd answers each."""

    name: str
    number: int
    version: int
    procedures: dict[int, ProgramProcedure]
    #: Procedures virtd answers itself (name -> handler(client, args) -> reply fields).
    handlers: dict[str, Handler] = field(default_factory=dict)
    #: Served on the admin socket (and only there).
    admin: bool = False
    #: Handlers that never block and run on the event loop.
    inline: frozenset[str] = frozenset()

    def by_name(self, name: str) -> ProgramProcedure:
        return next(p for p in self.procedures.values() if p.name == name)


def parse_program(table: str, methods: dict[str, str], prefix: str) -> dict[int, ProgramProcedure]:
    """A program's procedures from the table notation, each bound to its driver method."""
    procedures = {}
    for number, proc in P.parse_procedures(table, P.NAMED).items():
        values = {f.name: getattr(proc, f.name) for f in dataclasses.fields(proc)}
        values.update(args=_rename(proc.args, prefix), ret=_rename(proc.ret, prefix))
        procedures[number] = ProgramProcedure(**values, driver_method=methods.get(proc.name, ""))
    return procedures


def _rename(decl: xdr.XdrType, prefix: str) -> xdr.XdrType:
    """remote_x_args -> qemu_x_args: the struct names libvirt gives them (only messages show them)."""
    if isinstance(decl, xdr.Struct) and decl.name.startswith("remote_"):
        return xdr.struct(prefix + decl.name[len("remote_") :], decl.fields)
    return decl


# ---- dispatch ------------------------------------------------------------------------------------------

PROGRAMS: dict[tuple[int, int], Program] = {}


def register(program: Program) -> Program:
    PROGRAMS[(program.number, program.version)] = program
    return program


def dispatch(client: Any, msg: W.Message) -> None:
    """Answer a CALL of a program other than the remote one (the server hands these over; a
    CALL_WITH_FDS arrives as a CALL whose descriptors wait in the client's ``_call_fds``)."""
    program = PROGRAMS.get((msg.prog, msg.vers))
    if msg.type != W.MessageType.CALL:
        if msg.type == W.MessageType.CALL_WITH_FDS:
            client._reply_error(msg, RPCError("file descriptor passing is not supported"))
        return
    call_fds = getattr(client, "_call_fds", None)
    fds = call_fds.pop(msg.serial, None) if call_fds else None
    try:
        _dispatch(client, msg, program, fds)
    except BaseException:
        fdpass.close_all(fds or ())
        raise


def _dispatch(client: Any, msg: W.Message, program: Program | None, fds: list[int] | None) -> None:
    error: VirtError | None = None
    proc = program.procedures.get(msg.proc) if program is not None and program.admin == client.admin else None
    if program is None or program.admin != client.admin:
        error = RPCError(f"Cannot find program {msg.prog} version {msg.vers}")
    elif proc is None or proc.event:
        error = NoSupportError(f"unknown procedure: {msg.proc}")
    elif not client.authenticated and proc.name not in PRE_AUTH_PROCEDURES:
        error = auth_required()
    if error is not None or proc is None or program is None:
        fdpass.close_all(fds or ())
        client._reply_error(msg, error or RPCError("unknown procedure"))
        return
    try:
        args = proc.args.decode(msg.body)
    except RPCError:
        fdpass.close_all(fds or ())
        client._reply_error(msg, RPCError("Unable to decode message payload"))
        return
    if proc.name in program.inline:
        data, out_fds = _answer(client, program, proc, msg, args, fds)
        _reply(client, data, out_fds)
        return

    def work() -> None:
        data, out_fds = _answer(client, program, proc, msg, args, fds)
        with contextlib.suppress(RuntimeError):  # the loop is gone: the daemon is stopping
            client.loop.call_soon_threadsafe(_reply, client, data, out_fds)

    client.loop.run_in_executor(client.server.pool, work)


def _reply(client: Any, data: bytes, out_fds: list[int] | None) -> None:
    if out_fds is None:
        client._send(data)
    else:
        client._send_with_fds(data, out_fds)


def _answer(client: Any, program: Program, proc: ProgramProcedure, msg: W.Message, args: Any,
            fds: list[int] | None) -> tuple[bytes, list[int] | None]:  # fmt: skip
    """The reply packet, and the descriptors that go with it (REPLY_WITH_FDS) or None."""
    out_fds: list[int] | None = None
    try:
        handler = program.handlers.get(proc.name)
        if handler is not None:
            ret = handler(client, args)
        else:
            if client.conn is None:
                raise InternalError("connection not open")
            call = M.Call.build(proc)
            driver_args = call.args_from_wire(args)
            if proc.fds_arg >= 0:
                driver_args = (*driver_args[: proc.fds_arg], list(fds or ()), *driver_args[proc.fds_arg :])
            result = client.conn.call(proc.method, *driver_args)
            if proc.fds_out:  # the driver's descriptors travel after the reply
                out_fds, result = [result] if isinstance(result, int) else list(result), None
            ret = call.ret_to_wire(result, args)
        if out_fds is not None:
            header = W.pack_header(msg.prog, msg.vers, msg.proc, W.MessageType.REPLY_WITH_FDS, msg.serial,
                                   W.MessageStatus.OK)  # fmt: skip
            return proc.ret.encode_framed(header + fdpass.encode_nfds(len(out_fds)), ret), out_fds
        return W.encode_message(proc.ret, ret, msg.prog, msg.vers, msg.proc, W.MessageType.REPLY, msg.serial,
                                W.MessageStatus.OK), None  # fmt: skip
    except Exception as err:  # every failure becomes an error reply
        if not isinstance(err, (VirtError, UnicodeError)):
            log.exception("procedure %s of the %s program failed", proc.name, program.name)
        fdpass.close_all(out_fds or ())
        if isinstance(err, UnicodeError):
            err = InvalidArgError("string is not valid UTF-8")
        return client._error_packet(msg, err), None
    finally:
        fdpass.close_all(fds or ())  # the daemon's copies: a driver keeps what it needs with os.dup


# ---- the qemu program (qemu_protocol.x) ----------------------------------------------------------------

QEMU_PROCEDURES = """
1  DOMAIN_MONITOR_COMMAND                       dom: domain, cmd: str, flags: uint -> result: str
2  DOMAIN_ATTACH                                pid_value: uint, flags: uint -> dom: domain
3  DOMAIN_AGENT_COMMAND                         dom: domain, cmd: str, timeout: int, flags: uint -> result: str?
4  CONNECT_DOMAIN_MONITOR_EVENT_REGISTER     hi dom: domain?, event: str?, flags: uint -> callbackID: int
5  CONNECT_DOMAIN_MONITOR_EVENT_DEREGISTER   hi callbackID: int
6  DOMAIN_MONITOR_EVENT                      event callbackID: int, dom: domain, event: str, seconds: hyper, micros: uint, details: str?
7  DOMAIN_MONITOR_COMMAND_WITH_FILES   fds-in:2 dom: domain, cmd: str, flags: uint -> result: str
"""

QEMU_METHODS = {
    "DOMAIN_MONITOR_COMMAND": "domain_qemu_monitor_command",
    "DOMAIN_ATTACH": "domain_qemu_attach",
    "DOMAIN_AGENT_COMMAND": "domain_qemu_agent_command",
    "CONNECT_DOMAIN_MONITOR_EVENT_REGISTER": "connect_domain_qemu_monitor_event_register",
    "CONNECT_DOMAIN_MONITOR_EVENT_DEREGISTER": "connect_domain_qemu_monitor_event_deregister",
    # virDomainQemuMonitorCommandWithFiles(dom, cmd, infiles, flags) -> result (no files come back).
    "DOMAIN_MONITOR_COMMAND_WITH_FILES": "domain_qemu_monitor_command_with_files",
}

#: virConnectDomainQemuMonitorEventRegisterFlags.
MONITOR_EVENT_REGEX = 1
MONITOR_EVENT_NOCASE = 2
#: The event bus kind a driver emits QMP events on: ``emit("qemu_monitor", 0, dom, event, seconds,
#: micros, details)``, details being the event's JSON "data" (or None).
QEMU_MONITOR_EVENT_KIND = "qemu_monitor"


def _monitor_event_register(client: Any, args: Any) -> Any:
    if client.conn is None:
        raise InternalError("connection not open")
    dom = M.converters(P.NonnullDomain)[1](args.dom) if args.dom is not None else None  # type: ignore[misc]
    pattern = args.event
    if pattern is not None and args.flags & MONITOR_EVENT_REGEX:
        try:
            regex: re.Pattern[str] | None = re.compile(
                pattern, re.IGNORECASE if args.flags & MONITOR_EVENT_NOCASE else 0
            )
        except re.error as err:
            raise InvalidArgError(f"failed to compile regex '{pattern}': {err}") from None
    else:
        regex = None
    # The driver says whether it has QMP events at all (libvirt's test driver: not supported).
    client.conn.call("connect_domain_qemu_monitor_event_register", dom, args.event, args.flags)
    state = client.programs.setdefault("qemu_monitor_events", {})
    callback_id = client.programs["qemu_monitor_next_id"] = client.programs.get("qemu_monitor_next_id", 0) + 1
    msg_proc = QEMU.by_name("DOMAIN_MONITOR_EVENT")
    dom_to_wire = M.converters(P.NonnullDomain)[0]
    assert dom_to_wire is not None

    def deliver(ev: Any) -> None:
        name, seconds, micros, details = (*ev.payload, None, None, None, None)[:4]
        if pattern is not None:
            if regex is not None:
                if not regex.search(name):
                    return
            elif (name.lower() != pattern.lower()) if args.flags & MONITOR_EVENT_NOCASE else name != pattern:
                return
        if seconds is None:
            now = time.time()
            seconds, micros = int(now), int(now % 1 * 1e6)
        body = (callback_id, dom_to_wire(ev.obj), name, int(seconds), int(micros or 0), details)
        try:
            data = W.encode_message(msg_proc.args, body, QEMU.number, QEMU.version, msg_proc.number,
                                    W.MessageType.MESSAGE, 0, W.MessageStatus.OK)  # fmt: skip
        except VirtError:
            return
        with contextlib.suppress(RuntimeError):
            client.loop.call_soon_threadsafe(client._send, data)

    state[callback_id] = client.conn.events.subscribe(QEMU_MONITOR_EVENT_KIND, 0, deliver, dom)
    return (callback_id,)


def _monitor_event_deregister(client: Any, args: Any) -> None:
    sub = client.programs.get("qemu_monitor_events", {}).pop(args.callbackID, None)
    if sub is None or client.conn is None:
        raise VirtError(f"callback {args.callbackID} not registered", code=ErrorNumber.INVALID_ARG,
                        message=f"invalid argument: callback {args.callbackID} not registered")  # fmt: skip
    client.conn.events.unsubscribe(sub)


QEMU = register(Program(
    "qemu", W.QEMU_PROGRAM, W.QEMU_PROTOCOL_VERSION, parse_program(QEMU_PROCEDURES, QEMU_METHODS, "qemu_"),
    handlers={"CONNECT_DOMAIN_MONITOR_EVENT_REGISTER": _monitor_event_register,
              "CONNECT_DOMAIN_MONITOR_EVENT_DEREGISTER": _monitor_event_deregister},
    inline=frozenset({"CONNECT_DOMAIN_MONITOR_EVENT_DEREGISTER"}),
))  # fmt: skip


# ---- the lxc program (lxc_protocol.x) ------------------------------------------------------------------

LXC_PROCEDURES = """
1  DOMAIN_OPEN_NAMESPACE              fds-out  dom: domain, flags: uint
"""


LXC = register(Program(
    "lxc", W.LXC_PROGRAM, W.LXC_PROTOCOL_VERSION,
    parse_program(LXC_PROCEDURES, {"DOMAIN_OPEN_NAMESPACE": "domain_lxc_open_namespace"}, "lxc_"),
))  # fmt: skip


# ---- the client side: the same tables for the remote driver ----------------------------------------------

#: Driver method -> (program, procedure), for the remote driver's calls outside the remote program.
BY_METHOD: dict[str, tuple[Program, ProgramProcedure]] = {
    proc.method: (program, proc)
    for program in (QEMU, LXC)
    for proc in program.procedures.values()
    if proc.method and not proc.event
}


def client_event(events: Any, msg: W.Message) -> None:
    """A QMP event MESSAGE on the client side: onto the connection's event bus, as a driver emits it."""
    proc = QEMU.procedures.get(msg.proc)
    if proc is None or not proc.event:
        return
    try:
        _callback_id, dom, name, seconds, micros, details = proc.args.decode(msg.body)
    except VirtError:
        return
    dom_from_wire = M.converters(P.NonnullDomain)[1]
    assert dom_from_wire is not None
    events.emit(QEMU_MONITOR_EVENT_KIND, 0, dom_from_wire(dom), name, seconds, micros, details)


def client_method(client: Any, method: str, negotiate_fds: Callable[[], None]) -> Callable[..., Any] | None:
    """A remote driver method making the call of another program on ``client`` (a RemoteClient);
    ``negotiate_fds`` runs before a call that passes descriptors (the FD_PASSING question)."""
    found = BY_METHOD.get(method)
    if found is None:
        return None
    program, proc = found
    call = M.Call.build(proc)

    at = proc.fds_arg

    def remote_call(*args: Any) -> Any:
        fds = None
        if at >= 0 or proc.fds_out:
            negotiate_fds()
        if at >= 0:
            fds, args = [int(fd) for fd in args[at]], args[:at] + args[at + 1 :]
        got: list[int] = []
        wire = client.call(proc.number, proc.args, call.args_to_wire(args), proc.ret, prog=program.number,
                           vers=program.version, fds=fds, reply_fds=got)  # fmt: skip
        if proc.fds_out:
            return got
        return call.ret_from_wire(wire)

    remote_call.__name__ = method
    return remote_call


from virt.core.remote import admin as _admin  # noqa: E402, F401  (registers the admin program)
