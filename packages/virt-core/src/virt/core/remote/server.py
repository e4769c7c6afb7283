"""virtd's server: libvirt's RPC protocol over asyncio; each client connection opens one driver connection.

Packets are parsed in ``data_received``. Calls libvirt marks high priority (never waiting on a
hypervisor), and every call of a driver that declares ``nonblocking = True``, run inline on the
event loop; the others run on a worker pool so that a slow call never holds up other clients. A
client may have ``max_client_requests`` calls in flight; past that the server stops reading from it,
as libvirtd does. Events reach clients as MESSAGE packets; keepalive pings flow both ways.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import ssl as _ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import IntEnum
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple

from virt.core.driver import c_name
from virt.core.events import Event
from virt.core.remote import fdpass
from virt.core.remote import marshal as M
from virt.core.remote import procedures as P
from virt.core.remote import protocol as W
from virt.core.remote import sasl as _sasl
from virt.core.remote.stream import SPARSE_FLAGS, ServerStream
from virt.util import xdr
from virt.util.errors import (
    ErrorDomain,
    ErrorNumber,
    InternalError,
    InvalidArgError,
    NoSupportError,
    OperationDeniedError,
    RPCError,
    VirtError,
)

log = logging.getLogger("virt.remote.server")


class Feature(IntEnum):
    """virDrvFeature: what virConnectSupportsFeature asks about (numbers are part of the protocol)."""

    MIGRATION_V1 = 1
    REMOTE = 2
    MIGRATION_V2 = 3
    MIGRATION_P2P = 4
    MIGRATION_DIRECT = 5
    MIGRATION_V3 = 6
    MIGRATE_CHANGE_PROTECTION = 7
    FD_PASSING = 8
    TYPED_PARAM_STRING = 9
    PROGRAM_KEEPALIVE = 10
    XML_MIGRATABLE = 11
    MIGRATION_OFFLINE = 12
    MIGRATION_PARAMS = 13
    REMOTE_EVENT_CALLBACK = 14
    REMOTE_CLOSE_CALLBACK = 15
    NETWORK_UPDATE_HAS_CORRECT_ORDER = 16


#: libvirt's default number of calls a client may have in flight, keepalive interval and count.
DEFAULT_MAX_CLIENT_REQUESTS = 5
DEFAULT_KEEPALIVE_INTERVAL = 5
DEFAULT_KEEPALIVE_COUNT = 5

_CALL = W.MessageType.CALL
_REPLY = W.MessageType.REPLY
_MESSAGE = W.MessageType.MESSAGE
_OK = W.MessageStatus.OK
_ERROR = W.MessageStatus.ERROR
_PROG = W.REMOTE_PROGRAM
_VERS = W.REMOTE_PROTOCOL_VERSION

# Legacy (callback-less) domain event MESSAGEs, by event id: their body is the callback message's "msg".
_LEGACY_EVENTS = {
    0: "DOMAIN_EVENT_LIFECYCLE", 1: "DOMAIN_EVENT_REBOOT", 2: "DOMAIN_EVENT_RTC_CHANGE", 3: "DOMAIN_EVENT_WATCHDOG",
    4: "DOMAIN_EVENT_IO_ERROR", 5: "DOMAIN_EVENT_GRAPHICS", 6: "DOMAIN_EVENT_IO_ERROR_REASON",
    7: "DOMAIN_EVENT_CONTROL_ERROR", 8: "DOMAIN_EVENT_BLOCK_JOB", 9: "DOMAIN_EVENT_DISK_CHANGE",
    10: "DOMAIN_EVENT_TRAY_CHANGE", 11: "DOMAIN_EVENT_PMWAKEUP", 12: "DOMAIN_EVENT_PMSUSPEND",
    13: "DOMAIN_EVENT_BALLOON_CHANGE", 14: "DOMAIN_EVENT_PMSUSPEND_DISK", 15: "DOMAIN_EVENT_DEVICE_REMOVED",
}  # fmt: skip

# The XML-getting calls that a read-only connection may not make with their "secure" flag (value 1).
_SECURE_FLAG_CALLS = {"DOMAIN_GET_XML_DESC", "DOMAIN_SNAPSHOT_GET_XML_DESC", "DOMAIN_CHECKPOINT_GET_XML_DESC",
                      "DOMAIN_MANAGED_SAVE_GET_XML_DESC", "DOMAIN_SAVE_IMAGE_GET_XML_DESC"}  # fmt: skip


@dataclass
class ServerConfig:
    """Tunables, named as in libvirtd.conf."""

    max_clients: int = 5000
    max_client_requests: int = DEFAULT_MAX_CLIENT_REQUESTS
    max_workers: int = 20
    keepalive_interval: int = DEFAULT_KEEPALIVE_INTERVAL
    keepalive_count: int = DEFAULT_KEEPALIVE_COUNT
    #: How the daemon opens driver connections: ``open_connection(uri, readonly) -> Connection``.
    open_connection: Callable[[str | None, bool], Any] | None = None
    #: SASL users and allowed names, for listeners with ``auth="sasl"``.
    sasl: _sasl.SaslSettings | None = None
    #: libvirtd.conf's max_anonymous_clients: clients connected but not yet authenticated.
    max_anonymous_clients: int = 20
    #: Exit after this many seconds without clients (0: never), as libvirtd --timeout; virt-admin
    #: daemon-timeout changes it (the daemon's idle watcher reads it).
    idle_timeout: float = 0
    #: Reload the TLS listener's certificate files (virt-admin server-update-tls); None without TLS.
    update_tls_files: Callable[[], None] | None = None


def _default_open(uri: str | None, readonly: bool) -> Any:
    from virt.core.connection import Connection

    return Connection(uri, readonly=readonly)


class Server:
    """Listens on unix and TCP sockets and serves libvirt's remote program to every client."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self.clients: set[ClientConnection] = set()
        self.pool = ThreadPoolExecutor(self.config.max_workers, thread_name_prefix="virtd-worker")
        self._listeners: list[asyncio.AbstractServer] = []
        self._paths: list[Path] = []
        self._closed = asyncio.Event()
        self._open = self.config.open_connection or _default_open
        self.client_ids = itertools.count(1)

    async def listen_unix(self, path: str | Path, *, readonly: bool = False, mode: int | None = None,
                          auth: str = "none", admin: bool = False) -> None:
        """Serve on a unix socket (``readonly``: every connection is read-only, as libvirt-sock-ro;
        ``auth``: "none" or "sasl"; ``admin``: the admin program only, as libvirt-admin-sock)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_socket():
            path.unlink()  # a stale socket of a previous run; libvirtd removes it the same way
        loop = asyncio.get_running_loop()
        listener = await loop.create_unix_server(
            partial(ClientConnection, self, readonly=readonly, transport_kind="unix", auth=auth, admin=admin),
            sock=fdpass.listening_socket(str(path)),
        )
        # libvirtd's defaults: unix_sock_rw_perms "0700", unix_sock_ro_perms "0777".
        os.chmod(path, mode if mode is not None else (0o777 if readonly else 0o700))
        self._listeners.append(listener)
        self._paths.append(path)
        log.info("listening on %s%s", path, " (read-only)" if readonly else "")

    async def listen_tcp(self, host: str | None, port: int, *, ssl: _ssl.SSLContext | None = None,
                         auth: str = "none") -> int:
        """Serve on TCP (``ssl``: TLS, as libvirtd's port 16514); returns the bound port."""
        loop = asyncio.get_running_loop()
        listener = await loop.create_server(
            partial(ClientConnection, self, readonly=False, transport_kind="tls" if ssl else "tcp", auth=auth),
            host=host, port=port, ssl=ssl, reuse_address=True,
        )  # fmt: skip
        self._listeners.append(listener)
        bound = listener.sockets[0].getsockname()[1]
        log.info("listening on %s:%s%s", host or "*", bound, " (TLS)" if ssl else "")
        return int(bound)

    async def serve_forever(self) -> None:
        await self._closed.wait()

    async def close(self) -> None:
        """Stop listening, disconnect every client and close their driver connections."""
        for listener in self._listeners:
            listener.close()
        for client in list(self.clients):
            client.abort("daemon is shutting down")
        for listener in self._listeners:
            await listener.wait_closed()
        for path in self._paths:
            path.unlink(missing_ok=True)
        self._listeners.clear()
        # Driver connections close on the workers (closing may block); wait for them.
        await asyncio.get_running_loop().run_in_executor(None, self.pool.shutdown, True)
        self._closed.set()


class ClientConnection(asyncio.Protocol):
    """One client: its socket, its driver connection, its event callbacks, its keepalive."""

    def __init__(self, server: Server, *, readonly: bool, transport_kind: str, auth: str = "none",
                 admin: bool = False) -> None:  # fmt: skip
        self.server = server
        self.readonly = readonly
        self.transport_kind = transport_kind
        #: "none" or "sasl"; calls other than AUTH_* wait until ``authenticated``.
        self.auth = auth
        self.authenticated = auth == "none"
        self.sasl: _sasl.ServerSession | None = None
        #: A client of the admin socket: it speaks the admin program, not the remote one.
        self.admin = admin
        self.id = next(server.client_ids)
        self.timestamp = int(time.time())
        self.programs: dict[str, Any] = {}  # per-program state (qemu monitor event callbacks...)
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.conn: Any = None
        self.nonblocking = False
        self._buf = bytearray()
        self._inflight = 0
        self._paused = False
        self._closing = False
        self._callbacks: dict[int, int] = {}  # callback id -> event bus subscription
        self._legacy: dict[int, int] = {}  # legacy domain event id -> subscription
        self._callback_ids = itertools.count(1)
        self.streams: dict[tuple[int, int], ServerStream] = {}
        #: A unix client's socket: it passes file descriptors (None on TCP/TLS).
        self.fdsock: fdpass.FdSocket | None = None
        self._fd_call: tuple[W.Message, int] | None = None  # a CALL_WITH_FDS waiting for its descriptors
        self._call_fds: dict[int, list[int]] = {}  # serial -> descriptors that came with the call
        #: Cleared while the transport's buffer is full: stream pumps wait on it.
        self.writable = threading.Event()
        self.writable.set()
        self._keepalive: asyncio.TimerHandle | None = None
        self._keepalive_missed = 0

    # -- transport events ----------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        config = self.server.config
        # The admin socket is another server in libvirt's terms: its clients count apart.
        peers = [c for c in self.server.clients if c.admin == self.admin]
        if len(peers) >= config.max_clients and not self.admin:
            log.warning("refusing client: max_clients (%d) reached", config.max_clients)
            transport.close()
            return
        if not self.authenticated and sum(not c.authenticated for c in peers) >= config.max_anonymous_clients:
            log.warning("refusing client: max_anonymous_clients (%d) reached", config.max_anonymous_clients)
            transport.close()
            return
        self.server.clients.add(self)
        if self.transport_kind == "unix":
            self.fdsock = fdpass.socket_of(transport)
        if self.transport_kind == "tls":
            # libvirt's clients wait for this byte: the server accepted their certificate.
            transport.write(b"\x01")

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self.writable.set()
        for stream in list(self.streams.values()):
            stream.close()
        self.streams.clear()
        self.server.clients.discard(self)
        if self._keepalive is not None:
            self._keepalive.cancel()
        self._release()

    def data_received(self, data: bytes) -> None:
        self._keepalive_missed = 0
        buf = self._buf
        if not buf and not self._paused and len(data) >= 4 and int.from_bytes(data[:4], "big") == len(data) \
                and self._fd_call is None:
            self._whole_packet(data)  # the usual case: exactly one whole packet
            return
        buf += data
        self._drain_buffer()

    def _drain_buffer(self) -> None:
        buf = self._buf
        while not self._paused and not self._closing:
            if self._fd_call is not None:
                if not self._take_fds():
                    break
                continue
            if len(buf) < 4:
                break
            try:
                length = W.packet_length(bytes(buf[:4])) + 4
            except RPCError as err:
                self.abort(str(err))
                return
            if len(buf) < length:
                break
            packet = bytes(buf[:length])
            del buf[:length]
            self._whole_packet(packet)

    # -- packets -------------------------------------------------------------------------------------
    def _whole_packet(self, packet: bytes) -> None:
        """One packet, length word included: the usual call takes the quick path, the rest _packet."""
        if len(packet) >= W.BODY_START and self.authenticated and self.conn is not None and not self.admin:
            length, prog, vers, number, type_, serial, status = W.LEN_HEADER.unpack_from(packet)
            if type_ == _CALL and prog == _PROG and vers == _VERS and status == _OK:
                quick = _QUICK.get(number, _UNKNOWN)
                if quick is _UNKNOWN:
                    quick = _QUICK[number] = _quick_procedure(number)
                if quick is not None and (self.nonblocking or quick.proc.high_priority) \
                        and (quick.readonly or not self.readonly) and self._run_quick(packet, number, serial, quick):
                    return
        self._packet(packet, 4)

    def _run_quick(self, packet: bytes, number: int, serial: int, quick: _Quick) -> bool:
        """A call that the daemon answers inline with nothing around the driver call (see _Quick);
        False, having done nothing, when its body does not decode (_packet then replies as usual)."""
        proc = quick.proc
        try:
            args, end = proc.args.decode_from(packet, W.BODY_START)
        except RPCError:
            return False
        if end != len(packet):
            return False
        call = quick.call
        try:
            result = self.conn.call(quick.method, *(args if quick.args_as_is else call.args_from_wire(args)))
            data = W.encode_message(proc.ret, call.ret_to_wire(result, args), _PROG, _VERS, number, _REPLY, serial, _OK)
        except Exception as err:  # every failure becomes an error reply, never a dead daemon
            msg = W.Message(_PROG, _VERS, number, _CALL, serial, _OK, memoryview(packet)[W.BODY_START:])
            data = self._failure_packet(msg, proc, err)
        transport = self.transport
        if transport is not None and not self._closing and not transport.is_closing():
            transport.write(data)
        return True

    def _packet(self, packet: bytes, start: int) -> None:
        if len(packet) - start > W.MESSAGE_MAX or len(packet) - start < W.MESSAGE_HEADER_MAX:
            self.abort(f"packet of {len(packet)} bytes refused")
            return
        try:
            msg = W.decode_message(memoryview(packet)[start:])
        except RPCError as err:
            self.abort(f"malformed packet header: {err}")
            return
        self._message(msg)

    def _message(self, msg: W.Message) -> None:
        if msg.prog == W.KEEPALIVE_PROGRAM:
            if msg.type == _MESSAGE and msg.proc == W.KeepaliveProcedure.PING:
                self._send(W.encode_message(xdr.void, None, W.KEEPALIVE_PROGRAM, W.KEEPALIVE_PROTOCOL_VERSION,
                                            W.KeepaliveProcedure.PONG, _MESSAGE, 0))  # fmt: skip
            return
        if msg.type == W.MessageType.STREAM or msg.type == W.MessageType.STREAM_HOLE:
            stream = self.streams.get((msg.proc, msg.serial))
            if stream is not None:
                stream.incoming(msg)
            return
        if msg.type != _CALL:
            if msg.type == W.MessageType.CALL_WITH_FDS:
                self._call_with_fds(msg)
            # Stream packets and stray replies/messages: nothing here consumes them.
            return
        if msg.prog != _PROG or msg.vers != _VERS or self.admin:
            from virt.core.remote import programs  # the qemu, lxc and admin programs

            programs.dispatch(self, msg)
            return
        proc = P.REMOTE_PROCEDURES.get(msg.proc)
        if proc is None or proc.event:
            self._reply_error(msg, NoSupportError(f"unknown procedure: {msg.proc}"))
            return
        if not self.authenticated and proc.name not in _sasl.PRE_AUTH_PROCEDURES:
            self._reply_error(msg, _sasl.auth_required())
            return
        try:
            args = proc.args.decode(msg.body)
        except RPCError:
            self._reply_error(msg, RPCError("Unable to decode message payload"))
            return
        handler = _SPECIAL.get(proc.name)
        if handler is None and self.conn is None:
            self._reply_error(msg, InternalError("connection not open"))
            return
        if handler is None and self.readonly and (
            not proc.readonly or (proc.name in _SECURE_FLAG_CALLS and args.flags & 1)
        ):
            what = c_name(proc.method)
            reason = f"{what} with secure flag" if proc.readonly else f"read only access prevents {what}"
            self._reply_error(msg, OperationDeniedError(reason))
            return
        if (handler is None and proc.stream is None and (proc.high_priority or self.nonblocking)) or (
            handler is not None and handler.inline
        ):
            self._run(msg, proc, args, handler)
            return
        self._inflight += 1
        if self._inflight >= self.server.config.max_client_requests and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self.loop.run_in_executor(self.server.pool, self._run_in_worker, msg, proc, args, handler)

    def _call_with_fds(self, msg: W.Message) -> None:
        """A CALL_WITH_FDS: its descriptors follow it, one marker byte each (see fdpass)."""
        if self.fdsock is None:
            self._reply_error(msg, RPCError("file descriptor passing is not supported"))
            return
        try:
            nfds, body = fdpass.decode_nfds(msg.body)
        except ValueError:
            self.abort("malformed CALL_WITH_FDS")
            return
        if nfds > W.MESSAGE_NUM_FDS_MAX:
            self.abort(f"too many file descriptors received: {nfds} (at most {W.MESSAGE_NUM_FDS_MAX})")
            return
        self._fd_call = (msg._replace(type=_CALL, body=body), nfds)
        self._drain_buffer()

    def _take_fds(self) -> bool:
        """Complete the pending CALL_WITH_FDS once its marker bytes (and so its descriptors) are in."""
        assert self._fd_call is not None and self.fdsock is not None
        msg, nfds = self._fd_call
        if len(self._buf) < nfds:
            return False
        del self._buf[:nfds]
        received = self.fdsock.received
        if len(received) < nfds:
            fdpass.close_all(received)
            received.clear()
            self.abort("a file descriptor marker came without its descriptor")
            return False
        self._fd_call = None
        self._call_fds[msg.serial] = [received.popleft() for _ in range(nfds)]
        self._message(msg)
        return True

    def _run_in_worker(self, msg: W.Message, proc: P.Procedure, args: Any, handler: Any) -> None:
        try:
            self._run(msg, proc, args, handler, threaded=True)
        finally:
            self.loop.call_soon_threadsafe(self._worker_done)

    def _worker_done(self) -> None:
        self._inflight -= 1
        if self._paused and self._inflight < self.server.config.max_client_requests and not self._closing:
            self._paused = False
            if self.transport is not None:
                self.transport.resume_reading()
            self._drain_buffer()

    def _run(self, msg: W.Message, proc: P.Procedure, args: Any, handler: Any, threaded: bool = False) -> None:
        stream = None
        fds = self._call_fds.pop(msg.serial, None) if self._call_fds else None
        out_fds: list[int] | None = None
        try:
            if handler is not None:
                ret = handler(self, args)
            else:
                call = M.call_for(proc.number)
                driver_args = call.args_from_wire(args)
                if proc.fds_arg >= 0:
                    driver_args = (*driver_args[: proc.fds_arg], list(fds or ()), *driver_args[proc.fds_arg :])
                if proc.stream is not None:
                    sparse = SPARSE_FLAGS.get(proc.name, 0) & getattr(args, "flags", 0)
                    stream = ServerStream(self, msg.proc, msg.serial, allow_skip=bool(sparse))
                    driver_args = (*driver_args[: proc.stream_arg], stream, *driver_args[proc.stream_arg :])
                result = self.conn.call(proc.method, *driver_args)
                if proc.fds_out:  # the driver's descriptors travel after the reply
                    out_fds, result = [result] if isinstance(result, int) else list(result), None
                ret = call.ret_to_wire(result, args)
            if out_fds is not None:
                data = proc.ret.encode_framed(W.pack_header(_PROG, _VERS, msg.proc, W.MessageType.REPLY_WITH_FDS,
                                                            msg.serial, _OK) + fdpass.encode_nfds(len(out_fds)), ret)
            else:
                data = W.encode_message(proc.ret, ret, _PROG, _VERS, msg.proc, _REPLY, msg.serial, _OK)
            if stream is not None:
                self.streams[(msg.proc, msg.serial)] = stream
        except Exception as err:  # every failure becomes an error reply, never a dead daemon
            data = self._failure_packet(msg, proc, err)
            if out_fds:
                fdpass.close_all(out_fds)
                out_fds = None
        finally:
            if fds:  # the daemon's copies: a driver keeps what it needs with os.dup, as libvirt's do
                fdpass.close_all(fds)
        if out_fds is not None:
            if threaded:
                self.loop.call_soon_threadsafe(self._send_with_fds, data, out_fds)
            else:
                self._send_with_fds(data, out_fds)
        elif threaded:
            self.loop.call_soon_threadsafe(self._send, data)
            if stream is not None and (msg.proc, msg.serial) in self.streams:
                self.loop.call_soon_threadsafe(stream.start)  # after the reply: data follows it
        else:
            self._send(data)

    def _failure_packet(self, msg: W.Message, proc: P.Procedure, err: Exception) -> bytes:
        """The error reply of a failed call (called while handling the failure: it logs the traceback
        of an unexpected one)."""
        if isinstance(err, UnicodeError):
            # A string that was not UTF-8 on the wire reached a driver that needed it encoded.
            return self._error_packet(msg, InvalidArgError("string is not valid UTF-8"))
        if not isinstance(err, VirtError):
            log.exception("procedure %s failed", proc.name)
        return self._error_packet(msg, err)

    def _error_packet(self, msg: W.Message, err: BaseException) -> bytes:
        return W.encode_message(W.Error, W.error_to_wire(err), msg.prog, msg.vers, msg.proc, _REPLY, msg.serial,
                                _ERROR)  # fmt: skip

    def _reply_error(self, msg: W.Message, err: BaseException) -> None:
        self._send(self._error_packet(msg, err))

    def _send(self, data: bytes) -> None:
        if self.transport is not None and not self._closing and not self.transport.is_closing():
            self.transport.write(data)

    def _send_with_fds(self, data: bytes, fds: list[int]) -> None:
        """A REPLY_WITH_FDS and its descriptors (given to the socket, which closes them once sent)."""
        transport = self.transport
        if transport is None or self._closing or transport.is_closing() or self.fdsock is None:
            fdpass.close_all(fds)
            return
        transport.write(data)
        transport.write(self.fdsock.queue_fds(fds, transport.get_write_buffer_size()))

    def abort(self, reason: str) -> None:
        """Drop the client (bad packets, shutdown); its driver connection is closed."""
        if not self._closing:
            log.info("closing client: %s", reason)
            self._closing = True
            if self.transport is not None:
                self.transport.close()

    def _release(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        for sub in [*self._callbacks.values(), *self._legacy.values()]:
            conn.events.unsubscribe(sub)
        self._callbacks.clear()
        self._legacy.clear()
        try:
            self.loop.run_in_executor(self.server.pool, conn.close)
        except RuntimeError:  # the pool is already shut down
            conn.close()

    # -- keepalive -----------------------------------------------------------------------------------
    def start_keepalive(self) -> None:
        interval = self.server.config.keepalive_interval
        if interval > 0 and self._keepalive is None:
            self._keepalive = self.loop.call_later(interval, self._keepalive_tick)

    def _keepalive_tick(self) -> None:
        if self._closing:
            return
        self._keepalive_missed += 1
        if self._keepalive_missed > self.server.config.keepalive_count:
            self.abort("no keepalive response from client")
            return
        self._send(W.encode_message(xdr.void, None, W.KEEPALIVE_PROGRAM, W.KEEPALIVE_PROTOCOL_VERSION,
                                    W.KeepaliveProcedure.PING, _MESSAGE, 0))  # fmt: skip
        self._keepalive = self.loop.call_later(self.server.config.keepalive_interval, self._keepalive_tick)

    # -- events --------------------------------------------------------------------------------------
    def subscribe(self, kind: str, event_id: int, obj: Any) -> int:
        spec = M.EVENTS.get((kind, event_id))
        if spec is None:
            raise InternalError(f"unsupported {kind} event ID {event_id}", code=ErrorNumber.INVALID_ARG)
        callback_id = next(self._callback_ids)

        def deliver(ev: Event) -> None:
            body = M.event_to_wire(spec, callback_id, ev.obj, ev.payload)
            self._queue_event(spec.proc, body)

        self._callbacks[callback_id] = self.conn.events.subscribe(kind, event_id, deliver, obj)
        return callback_id

    def subscribe_legacy(self, event_id: int) -> None:
        spec = M.EVENTS.get(("domain", event_id))
        legacy = _LEGACY_EVENTS.get(event_id)
        if spec is None or legacy is None:
            raise VirtError(f"unsupported event ID {event_id}", code=ErrorNumber.INVALID_ARG)
        if event_id in self._legacy:
            raise VirtError("domain event already registered", code=ErrorNumber.INTERNAL_ERROR)
        proc = P.BY_NAME[legacy]
        msg_index = [name for name, _ in proc_fields(spec.proc)].index("msg")

        def deliver(ev: Event) -> None:
            body = M.event_to_wire(spec, 0, ev.obj, ev.payload)
            self._queue_event(proc, body[msg_index])

        self._legacy[event_id] = self.conn.events.subscribe("domain", event_id, deliver, None)

    def _queue_event(self, proc: P.Procedure, body: Any) -> None:
        try:
            data = W.encode_message(proc.args, body, _PROG, _VERS, proc.number, _MESSAGE, 0, _OK)
        except VirtError:
            log.exception("cannot encode event %s", proc.name)
            return
        with contextlib.suppress(RuntimeError):  # the loop is gone: the daemon is stopping
            self.loop.call_soon_threadsafe(self._send, data)


class _Quick(NamedTuple):
    """A remote procedure the quick path serves (ClientConnection._whole_packet): no handler of the
    daemon's own, no stream, no descriptors. It still runs inline only when the client's driver is
    nonblocking or the call high priority, and on a read-only connection only if ``readonly``."""

    proc: P.Procedure
    call: M.Call
    method: str
    #: A read-only connection may make it (read-only, and no "secure" flag to check).
    readonly: bool
    #: The decoded arguments are the driver's, in order, nothing to convert (args_from_wire's result).
    args_as_is: bool


_QUICK: dict[int, _Quick | None] = {}
_UNKNOWN: Any = object()


def _quick_procedure(number: int) -> _Quick | None:
    proc = P.REMOTE_PROCEDURES.get(number)
    if proc is None or proc.event or proc.name in _SPECIAL or proc.stream is not None or proc.fds_arg >= 0 \
            or proc.fds_out:
        return None
    call = M.call_for(number)
    as_is = type(call) is M.Call and isinstance(proc.args, xdr.Struct) and not call.wire_only and all(
        frm is None and index == pos for pos, (_n, index, _to, frm, _z) in enumerate(call.params))
    return _Quick(proc, call, proc.method, proc.readonly and proc.name not in _SECURE_FLAG_CALLS, as_is)


def proc_fields(proc: P.Procedure) -> list[tuple[str, xdr.XdrType]]:
    return proc.args.fields if isinstance(proc.args, xdr.Struct) else []


# ---- procedures the server answers itself -------------------------------------------------------------


def _special(name: str, inline: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.inline = inline  # type: ignore[attr-defined]
        _SPECIAL[name] = fn
        return fn

    return register


_SPECIAL: dict[str, Any] = {}


@_special("CONNECT_OPEN", inline=False)
def _connect_open(client: ClientConnection, args: Any) -> None:
    if client.conn is not None:
        raise VirtError("connection already open", code=ErrorNumber.INTERNAL_ERROR)
    readonly = client.readonly or bool(args.flags & 1)
    conn = client.server._open(args.name or None, readonly)
    if getattr(conn, "driver_name", None) == "remote":
        conn.close()
        raise VirtError(f"{args.name}", code=ErrorNumber.NO_CONNECT, domain=ErrorDomain.NONE,
                        message=f"no connection driver available for {args.name}")  # fmt: skip
    client.readonly = readonly
    drivers = getattr(conn, "_drivers", {}) or {}
    client.nonblocking = bool(drivers) and all(getattr(d, "nonblocking", False) for d in drivers.values())
    client.conn = conn


@_special("CONNECT_CLOSE")
def _connect_close(client: ClientConnection, args: Any) -> None:
    client._release()


for _name, _handler in _sasl.SERVER_HANDLERS.items():
    _special(_name)(_handler)


@_special("CONNECT_SUPPORTS_FEATURE")
def _supports_feature(client: ClientConnection, args: Any) -> Any:
    feature = args.feature
    if feature == Feature.PROGRAM_KEEPALIVE:  # asked before the connection opens
        client.start_keepalive()
        return (1,)
    if client.conn is None:
        raise InternalError("connection not open")
    if feature in (Feature.REMOTE_EVENT_CALLBACK, Feature.REMOTE_CLOSE_CALLBACK):
        return (1,)
    if feature == Feature.FD_PASSING:
        if client.fdsock is not None:
            client.fdsock.enable()  # libvirt's clients ask before their first descriptor
        return (int(client.fdsock is not None),)
    return (int(client.conn.call("connect_supports_feature", feature)),)


@_special("CONNECT_REGISTER_CLOSE_CALLBACK")
def _register_close(client: ClientConnection, args: Any) -> None:
    if client.conn is None:
        raise InternalError("connection not open")


_special("CONNECT_UNREGISTER_CLOSE_CALLBACK")(_register_close)


def _register_event(kind: str) -> Callable[[ClientConnection, Any], Any]:
    def handler(client: ClientConnection, args: Any) -> Any:
        if client.conn is None:
            raise InternalError("connection not open")
        obj_field = [name for name, _ in proc_fields(P.BY_NAME[M.EVENT_REGISTRATION[kind][0]])][1]
        decl = dict(proc_fields(P.BY_NAME[M.EVENT_REGISTRATION[kind][0]]))[obj_field]
        frm = M.converters(decl)[1]
        obj = getattr(args, obj_field)
        obj = frm(obj) if frm and obj is not None else obj
        _tell_driver(client, kind, args.eventID)
        return (client.subscribe(kind, args.eventID, obj),)

    return handler


def _tell_driver(client: ClientConnection, kind: str, event_id: int) -> None:
    """Drivers that only produce events on demand learn that someone listens."""
    method = {"domain": "connect_domain_event_register_any"}.get(kind, f"connect_{kind}_event_register_any")
    with contextlib.suppress(NoSupportError):
        client.conn.call(method, event_id)


def _deregister_event(client: ClientConnection, args: Any) -> None:
    sub = client._callbacks.pop(args.callbackID, None)
    if sub is None or client.conn is None:
        raise VirtError(f"callback {args.callbackID} not registered", code=ErrorNumber.INVALID_ARG,
                        message=f"invalid argument: callback {args.callbackID} not registered")  # fmt: skip
    client.conn.events.unsubscribe(sub)


for _kind, (_reg, _dereg) in M.EVENT_REGISTRATION.items():
    _special(_reg)(_register_event(_kind))
    _special(_dereg)(_deregister_event)


@_special("CONNECT_DOMAIN_EVENT_REGISTER_ANY")
def _legacy_register_any(client: ClientConnection, args: Any) -> None:
    if client.conn is None:
        raise InternalError("connection not open")
    _tell_driver(client, "domain", args.eventID)
    client.subscribe_legacy(args.eventID)


@_special("CONNECT_DOMAIN_EVENT_DEREGISTER_ANY")
def _legacy_deregister_any(client: ClientConnection, args: Any) -> None:
    sub = client._legacy.pop(args.eventID, None)
    if sub is None or client.conn is None:
        raise VirtError("domain event is not registered", code=ErrorNumber.INTERNAL_ERROR)
    client.conn.events.unsubscribe(sub)


@_special("CONNECT_DOMAIN_EVENT_REGISTER")
def _legacy_register(client: ClientConnection, args: Any) -> Any:
    _legacy_register_any(client, SimpleNamespace(eventID=0))  # lifecycle events: the legacy API's only kind
    return (1,)


@_special("CONNECT_DOMAIN_EVENT_DEREGISTER")
def _legacy_deregister(client: ClientConnection, args: Any) -> Any:
    _legacy_deregister_any(client, SimpleNamespace(eventID=0))
    return (0,)

