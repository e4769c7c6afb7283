"""The remote driver: the driver interface over libvirt's protocol, to virtd or to libvirt's own daemons.

URIs: ``DRIVER+unix:///path[?socket=PATH]``, ``DRIVER+tcp://host[:port]/path``,
``DRIVER+tls://host[:port]/path[?pkipath=DIR&no_verify=1]``, ``DRIVER+ssh://[user@]host[:port]/path``
(through the system ``ssh``; ``?socket=`` names the daemon's socket there, ``?command=`` another
ssh binary, ``?netcat=`` the relay run remotely, ``?keyfile=`` an identity), any URI with a host
name, and local URIs no installed driver claims (they go to the local daemon).

One reader thread per connection receives replies (handed to the waiting caller), events (emitted
on the connection's event bus, so callbacks and ``async for`` both work) and keepalive pings; calls
are written by the calling thread. Keepalive: when the server supports it, a ping goes out after
``keepalive_interval`` idle seconds and the connection is declared dead after ``keepalive_count``
unanswered ones, as libvirt's client does.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import itertools
import logging
import os
import select
import shlex
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from virt.core.driver import KINDS, Driver
from virt.core.events import EventBus
from virt.core.remote import fdpass
from virt.core.remote import marshal as M
from virt.core.remote import procedures as P
from virt.core.remote import protocol as W
from virt.core.remote.stream import ClientStream
from virt.core.uri import URI
from virt.util import xdr
from virt.util.errors import ErrorDomain, ErrorNumber, SystemError_, VirtError

log = logging.getLogger("virt.remote.client")

#: Seconds without calls after which the background thread receives events itself.
IDLE_TAKEOVER = 0.01
DEFAULT_KEEPALIVE_INTERVAL = 5
DEFAULT_KEEPALIVE_COUNT = 5
TCP_PORT = 16509
TLS_PORT = 16514
FEATURE_FD_PASSING = 8
FEATURE_PROGRAM_KEEPALIVE = 10
FEATURE_REMOTE_EVENT_CALLBACK = 14

_CALL = W.MessageType.CALL
_OK = W.MessageStatus.OK
_U32 = struct.Struct(">I")
_REPLY = W.MessageType.REPLY
_MESSAGE = W.MessageType.MESSAGE


def _closed_error(detail: str = "End of file while reading data: Input/output error") -> VirtError:
    return SystemError_(detail, code=ErrorNumber.SYSTEM_ERROR, domain=ErrorDomain.RPC)


class _Waiter:
    """A caller waiting for the reply with its serial.

    ``lock`` is pre-acquired; it is released once, either because the reply came (``done``) or
    because the reader role passes to this caller.
    """

    __slots__ = ("done", "error", "fds", "lock", "msg", "signalled")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.msg: W.Message | None = None
        self.error: BaseException | None = None
        self.done = False
        self.signalled = False
        self.fds: list[int] | None = None


class RemoteClient:
    """A libvirt-protocol client connection over a connected socket.

    Whoever needs a reply reads the socket itself while no one else does (the "reader role", as
    libvirt's client passes the buck), so a call costs no thread switch; replies for other callers
    are handed to them, events and pings are dispatched on the way. When no call is in progress, a
    background thread takes the role to receive events and keepalive pings.
    """

    def __init__(self, sock: socket.socket, *, on_event: Callable[[W.Message], None] | None = None,
                 helper: subprocess.Popen[bytes] | None = None) -> None:  # fmt: skip
        self.sock = sock
        self.helper = helper
        self.on_event = on_event
        self._tls = isinstance(sock, ssl.SSLSocket)
        #: Unix sockets pass descriptors: once a call may bring some (expect_fds), reads keep them (see fdpass).
        self._unix = sock.family == socket.AF_UNIX
        self._fd_reads = False
        #: Reads are a plain recv_into (not TLS, no descriptors expected): calls take the quick path.
        self._plain = not self._tls
        self._fds: collections.deque[int] = collections.deque()
        self._send_lock = threading.Lock()
        # OpenSSL objects take one operation at a time: TLS reads and writes share this lock.
        self._io_lock = threading.Lock() if self._tls else None
        self._state = threading.Lock()  # guards _reading and _waiters
        self._reading = False
        self._waiters: dict[int, _Waiter] = {}
        self._serials = itertools.count(1)
        self._activity = 0
        self._rbuf = bytearray()
        self._chunk = bytearray(65536)
        self._chunk_view = memoryview(self._chunk)
        self._streams: dict[int, ClientStream] = {}
        self._closed: BaseException | None = None
        self.keepalive_interval = 0.0
        self.keepalive_count = 0
        self._last_rx = time.monotonic()
        self._pings = 0
        if self._tls:
            sock.setblocking(False)
        self._watcher = threading.Thread(target=self._watch, name="virt-remote-reader", daemon=True)
        self._watcher.start()

    # -- calls -----------------------------------------------------------------------------------------
    def call(self, proc: int, args_type: xdr.XdrType, args: Any, ret_type: xdr.XdrType,
             prog: int = W.REMOTE_PROGRAM, vers: int = W.REMOTE_PROTOCOL_VERSION,
             stream: ClientStream | None = None, fds: list[int] | None = None,
             reply_fds: list[int] | None = None) -> Any:  # fmt: skip
        """Make a call and wait for its reply: the decoded return value, or the server's error raised.

        A ``stream`` is bound to the call: the STREAM packets that follow the reply go to it. ``fds``
        go with the call (CALL_WITH_FDS); descriptors that come with the reply are appended to
        ``reply_fds`` (closed when that is None).
        """
        if self._closed is not None:
            raise _closed_error("client socket is closed")
        serial = next(self._serials)
        self._activity = serial
        if fds is None:
            data = W.encode_message(args_type, args, prog, vers, proc, _CALL, serial, _OK)
        if stream is None and fds is None and reply_fds is None:
            with self._state:
                alone = not self._reading and not self._waiters
                if alone:
                    self._reading = True
            if alone:
                return self._call_alone(serial, data, ret_type)
        waiter = _Waiter()
        with self._state:
            self._waiters[serial] = waiter
            if stream is not None:
                stream._bind(proc, serial)
                self._streams[serial] = stream
        try:
            if fds is None:
                self.send(data)
            else:
                self._send_with_fds(args_type.encode_framed(W.pack_header(
                    prog, vers, proc, W.MessageType.CALL_WITH_FDS, serial, W.MessageStatus.OK)
                    + fdpass.encode_nfds(len(fds)), args), fds)  # fmt: skip
        except BaseException:
            with self._state:
                self._waiters.pop(serial, None)
                self._streams.pop(serial, None)
            raise
        self._wait(waiter)
        msg = waiter.msg
        if waiter.fds is not None:
            if reply_fds is None:
                fdpass.close_all(waiter.fds)
            else:
                reply_fds.extend(waiter.fds)
        if msg is None:
            raise waiter.error or _closed_error()
        if msg.status == W.MessageStatus.OK:
            return ret_type.decode(msg.body)
        with self._state:
            self._streams.pop(serial, None)
        raise W.error_from_wire(W.Error.decode(msg.body))

    def _call_alone(self, serial: int, data: bytes, ret_type: xdr.XdrType) -> Any:
        """A call while no other is in progress: this thread holds the reader role from the start and
        reads until its reply, dispatching whatever else comes (events, pings, other callers' replies).

        The usual reply is the next packet, whole in one read: it is checked and decoded in place.
        """
        try:
            with self._send_lock:  # self.send, inline: this is every call's path
                if self._io_lock is None:
                    self.sock.sendall(data)
                else:
                    self._tls_sendall(data)
        except BaseException as err:
            self._release_role()
            if isinstance(err, OSError):
                raise self._write_error(err) from None
            raise
        body: Any = None
        try:
            if self._plain and not self._rbuf:
                view = self._chunk_view
                n = self.sock.recv_into(view)
                if n >= W.BODY_START:
                    length, prog, _vers, _proc, type_, got, status = W.LEN_HEADER.unpack_from(view)
                    if length == n and got == serial and type_ == _REPLY and status == _OK \
                            and prog != W.KEEPALIVE_PROGRAM:
                        self._last_rx = time.monotonic()
                        body = view[W.BODY_START:n]  # decoded below, before the role (and buffer) goes
                if body is None:
                    if n == 0:
                        raise EOFError
                    self._last_rx = time.monotonic()
                    self._rbuf += view[:n]  # anything else: the general path below
            if body is None:
                while True:
                    msg = self._next_message()
                    if msg.serial == serial and msg.type == _REPLY and msg.prog != W.KEEPALIVE_PROGRAM:
                        break
                    self._dispatch(msg)
        except BaseException as err:
            self._shutdown(_as_error(err))
            self._release_role()
            raise self._closed or _as_error(err) from None
        try:
            if body is not None:
                return ret_type.decode(body)
            if msg.status == _OK:
                return ret_type.decode(msg.body)
            raise W.error_from_wire(W.Error.decode(msg.body))
        finally:
            with self._state:  # self._release_role, inline: this is every call's path
                self._reading = False
                if self._waiters:
                    self._pass_role()

    def expect_fds(self) -> None:
        """Read with room for descriptors from now on: called before asking the server for FD_PASSING,
        so that every read still pending then ends (with that reply at the latest) before any
        descriptor can come. Until then unix sockets read plainly, which costs less."""
        if self._unix:
            self._fd_reads = True
            self._plain = False

    def wait_stream(self, stream: ClientStream, ready: Callable[[], bool]) -> None:
        """Wait (reading the socket if no one else does) until ``ready()`` holds for a stream."""
        while True:
            with self._state:
                if ready():
                    return
                if self._closed is not None:
                    raise self._closed
                waiter = _Waiter()
                self._waiters[-stream.serial] = waiter
            self._wait(waiter)

    def release_stream(self, stream: ClientStream) -> None:
        with self._state:
            self._streams.pop(stream.serial, None)
            self._waiters.pop(-stream.serial, None)

    def _wait(self, waiter: _Waiter) -> None:
        while True:
            with self._state:
                if waiter.done:
                    return
                reader = not self._reading
                if reader:
                    self._reading = True
                else:
                    waiter.signalled = False
            if not reader:
                waiter.lock.acquire()  # our reply, or our turn to read
                continue
            try:
                while not waiter.done:
                    self._read_packet()
            except BaseException as err:
                self._shutdown(_as_error(err))
            finally:
                self._release_role()
            return

    def _release_role(self) -> None:
        """Give up reading; a caller still waiting for its reply takes over."""
        with self._state:
            self._reading = False
            self._pass_role()

    def _pass_role(self) -> None:
        """Wake the first caller still waiting for its reply: it reads next (``_state`` held)."""
        for other in self._waiters.values():
            if not other.done and not other.signalled:
                other.signalled = True
                other.lock.release()
                break

    def send(self, data: bytes) -> None:
        with self._send_lock:
            try:
                if self._io_lock is None:
                    self.sock.sendall(data)
                else:
                    self._tls_sendall(data)
            except OSError as err:
                raise self._write_error(err) from None

    def _write_error(self, err: OSError) -> BaseException:
        """What a failed write raises. The server gone (it closed the connection: the write found no
        peer) is the end of file a read would have reported a moment later, whichever thread notices
        first: the connection is shut down with that error. Otherwise libvirt's "Cannot write data"."""
        if err.errno in (errno.EPIPE, errno.ECONNRESET):
            self._shutdown(_closed_error())
            return self._closed or _closed_error()
        return SystemError_.from_errno(err, "Cannot write data")

    def _send_with_fds(self, data: bytes, fds: list[int]) -> None:
        if not self._unix:
            raise VirtError("Sending file descriptors is not supported on this socket", code=ErrorNumber.INTERNAL_ERROR,
                            domain=ErrorDomain.RPC)  # fmt: skip
        with self._send_lock:
            try:
                self.sock.sendall(data)
                fdpass.send_fds(self.sock, fds)
            except OSError as err:
                raise SystemError_.from_errno(err, "Cannot write data") from None

    def _tls_sendall(self, data: bytes) -> None:
        view = memoryview(data)
        assert self._io_lock is not None
        while view:
            with self._io_lock:
                try:
                    sent = self.sock.send(view)
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    sent = 0
            view = view[sent:]
            if view and not sent:
                select.select([], [self.sock], [], 1.0)

    # -- reading ---------------------------------------------------------------------------------------
    def _recv_into(self, view: memoryview) -> int:
        """Read into ``view``; 0 on orderly end of file."""
        while True:
            if self._fd_reads:
                n, ancdata, _, _ = self.sock.recvmsg_into([view], fdpass.ANC, fdpass.CLOEXEC)
                if ancdata:
                    fdpass.take_fds(ancdata, self._fds)
                return n
            if self._io_lock is None:
                return self.sock.recv_into(view)
            assert isinstance(self.sock, ssl.SSLSocket)
            if not self.sock.pending():
                select.select([self.sock], [], [])
            with self._io_lock:
                try:
                    return self.sock.recv_into(view)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    continue

    def _fill(self, size: int) -> None:
        """Read until the buffer holds ``size`` bytes (more if the socket has them: fewer syscalls)."""
        buf = self._rbuf
        while len(buf) < size:
            n = self._recv_into(self._chunk_view)
            if n == 0:
                raise EOFError
            buf += self._chunk_view[:n]
        self._last_rx = time.monotonic()

    def _read_packet(self) -> None:
        self._dispatch(self._next_message())

    def _next_message(self) -> W.Message:
        buf = self._rbuf
        if not buf:
            # The usual case: nothing buffered, and one recv brings exactly one whole packet.
            view = self._chunk_view
            n = self._recv_into(view)
            if n == 0:
                raise EOFError
            self._last_rx = time.monotonic()
            if n >= W.BODY_START and _U32.unpack_from(view)[0] == n:
                return W.decode_message(view[4:n].tobytes())  # a whole packet, of a valid length
            buf += view[:n]
        if len(buf) < 4:
            self._fill(4)
        length = W.packet_length(bytes(buf[:4])) + 4
        if len(buf) < length:
            self._fill(length)
        packet = bytes(buf[4:length])
        del buf[:length]
        return W.decode_message(packet)

    def _dispatch(self, msg: W.Message) -> None:
        if msg.prog == W.KEEPALIVE_PROGRAM:
            if msg.proc == W.KeepaliveProcedure.PING:
                self.send(W.encode_message(xdr.void, None, W.KEEPALIVE_PROGRAM, W.KEEPALIVE_PROTOCOL_VERSION,
                                           W.KeepaliveProcedure.PONG, _MESSAGE, 0))  # fmt: skip
            return
        if msg.type == W.MessageType.REPLY_WITH_FDS:
            nfds, body = fdpass.decode_nfds(msg.body)  # ValueError: a broken connection, as for bad XDR
            fds = self._take_fds(nfds)
            with self._state:
                waiter = self._waiters.get(msg.serial)
                if waiter is not None:
                    waiter.fds = fds
                else:
                    fdpass.close_all(fds)
            msg = msg._replace(type=_REPLY, body=body)
        if msg.type == _REPLY:
            with self._state:
                waiter = self._waiters.pop(msg.serial, None)
                if waiter is None and msg.serial in self._streams:  # a stream's failure
                    self._streams[msg.serial]._incoming(msg)
                    waiter = self._waiters.pop(-msg.serial, None)
                elif waiter is not None:
                    waiter.msg = msg
                if waiter is not None:
                    waiter.done = True
                    if not waiter.signalled and waiter.lock.locked():
                        waiter.signalled = True
                        waiter.lock.release()
            return
        if msg.type == W.MessageType.STREAM or msg.type == W.MessageType.STREAM_HOLE:
            with self._state:
                stream = self._streams.get(msg.serial)
                if stream is None:
                    return
                stream._incoming(msg)
                waiter = self._waiters.pop(-msg.serial, None)
                if waiter is not None:
                    waiter.done = True
                    if not waiter.signalled and waiter.lock.locked():
                        waiter.signalled = True
                        waiter.lock.release()
            return
        if msg.type == _MESSAGE and self.on_event is not None:
            try:
                self.on_event(msg)
            except Exception:  # a bad event must not kill the connection
                log.exception("cannot deliver event %d", msg.proc)

    def _take_fds(self, nfds: int) -> list[int]:
        """The descriptors announced by a REPLY_WITH_FDS: its marker bytes follow it in the stream."""
        if nfds > W.MESSAGE_NUM_FDS_MAX:
            raise VirtError(f"Too many FDs received: {nfds}", code=ErrorNumber.RPC, domain=ErrorDomain.RPC)
        if len(self._rbuf) < nfds:
            self._fill(nfds)
        del self._rbuf[:nfds]
        if len(self._fds) < nfds:
            raise VirtError("file descriptor marker without a descriptor", code=ErrorNumber.RPC, domain=ErrorDomain.RPC)
        return [self._fds.popleft() for _ in range(nfds)]

    def _watch(self) -> None:
        """Receive events and pings while no call reads, and keep the connection alive.

        It stays out of the way while calls follow each other (a thread woken by every reply would
        fight the caller for the GIL) and takes the reader role only after a quiet moment.
        """
        try:
            while self._closed is None:
                self._keepalive_check()
                seen = self._activity
                # A nap rather than an event: being woken at the end of every call costs the caller.
                time.sleep(IDLE_TAKEOVER)
                with self._state:
                    if self._reading or seen != self._activity or self._closed is not None:
                        continue
                    self._reading = True
                try:
                    if self._tls and self.sock.pending():  # type: ignore[attr-defined]
                        ready = True
                    else:
                        ready = bool(select.select([self.sock], [], [], self._keepalive_wait() or 0.5)[0])
                    if ready and self._closed is None:
                        self._read_packet()
                finally:
                    self._release_role()
        except BaseException as err:
            if self._closed is None:
                self._shutdown(_as_error(err))

    def _keepalive_wait(self) -> float:
        """Seconds until the next keepalive decision (a long nap without keepalive)."""
        if not self.keepalive_interval:
            return 0.5
        return max(0.01, self._last_rx + self.keepalive_interval * (self._pings + 1) - time.monotonic())

    def _keepalive_check(self) -> None:
        """Ping after ``keepalive_interval`` seconds of silence; give up after ``keepalive_count`` pings."""
        if not self.keepalive_interval:
            return
        silent = time.monotonic() - self._last_rx
        if silent < self.keepalive_interval * (self._pings + 1):
            if silent < self.keepalive_interval:
                self._pings = 0
            return
        if self._pings >= self.keepalive_count:
            self._shutdown(_closed_error("connection closed due to keepalive timeout"))
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)  # wakes a caller blocked reading
            return
        self._pings += 1
        self.send(W.encode_message(xdr.void, None, W.KEEPALIVE_PROGRAM, W.KEEPALIVE_PROTOCOL_VERSION,
                                   W.KeepaliveProcedure.PING, _MESSAGE, 0))  # fmt: skip

    def start_keepalive(self, interval: float, count: int) -> None:
        self.keepalive_interval = float(interval)
        self.keepalive_count = count

    # -- closing ---------------------------------------------------------------------------------------
    def _shutdown(self, error: BaseException) -> None:
        with self._state:
            if self._closed is None:
                self._closed = error
            waiters, self._waiters = self._waiters, {}
            for waiter in waiters.values():
                waiter.error = error
                waiter.done = True
                if not waiter.signalled and waiter.lock.locked():
                    waiter.signalled = True
                    waiter.lock.release()

    def close(self) -> None:
        if self._closed is None:
            self._shutdown(_closed_error("client socket is closed"))
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        fdpass.close_all(self._fds)
        self._fds.clear()
        if threading.current_thread() is not self._watcher:
            self._watcher.join(timeout=5)
        if self.helper is not None:
            self.helper.terminate()
            try:
                self.helper.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.helper.kill()
                self.helper.wait()

    @property
    def is_alive(self) -> bool:
        return self._closed is None


def _as_error(err: BaseException) -> BaseException:
    """What pending callers get when the connection fails."""
    if isinstance(err, EOFError):
        return _closed_error()
    if isinstance(err, OSError):
        return SystemError_.from_errno(err, "Cannot recv data")
    return err


# ---- transports -----------------------------------------------------------------------------------------


def local_socket_paths(driver: str, readonly: bool) -> list[Path]:
    """Where a local daemon listens: libvirtd's (or virtd's) socket, then the per-driver daemon's."""
    if os.geteuid() == 0:
        base = Path("/run/libvirt")
        suffix = "-sock-ro" if readonly else "-sock"
    else:
        base = Path(os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.geteuid()}") / "libvirt"
        suffix = "-sock"
    names = ["libvirt", f"virt{driver}d"] if driver else ["libvirt"]
    return [base / f"{name}{suffix}" for name in names]


def connect_unix(path: str | Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError as err:
        sock.close()
        raise SystemError_.from_errno(err, f"Failed to connect socket to '{path}'", domain=ErrorDomain.RPC) from None
    return sock


def connect_tcp(host: str, port: int) -> socket.socket:
    try:
        sock = socket.create_connection((host, port))
    except OSError as err:
        raise SystemError_.from_errno(err, f"unable to connect to server at '{host}:{port}'",
                                      domain=ErrorDomain.RPC) from None  # fmt: skip
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def pki_paths(uri: URI) -> tuple[Path, Path, Path]:
    """(CA certificate, client certificate, client key) as libvirt looks for them."""
    params = uri.params
    if "pkipath" in params:
        base = Path(params["pkipath"])
        return base / "cacert.pem", base / "clientcert.pem", base / "clientkey.pem"
    if os.geteuid() != 0:
        user = Path.home() / ".pki" / "libvirt"
        if (user / "clientcert.pem").exists():
            return Path("/etc/pki/CA/cacert.pem"), user / "clientcert.pem", user / "clientkey.pem"
    return (Path("/etc/pki/CA/cacert.pem"), Path("/etc/pki/libvirt/clientcert.pem"),
            Path("/etc/pki/libvirt/private/clientkey.pem"))  # fmt: skip


def connect_tls(uri: URI) -> socket.socket:
    host = uri.server or "localhost"
    ca, cert, key = pki_paths(uri)
    verify = uri.params.get("no_verify", "0") in ("0", "")
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
        ctx.check_hostname = verify
        ctx.verify_mode = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
        ctx.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as err:
        raise VirtError(f"TLS setup failed: {err}", code=ErrorNumber.GNUTLS_ERROR, domain=ErrorDomain.RPC) from None
    raw = connect_tcp(host, uri.port or TLS_PORT)
    try:
        sock = ctx.wrap_socket(raw, server_hostname=host)
    except (OSError, ssl.SSLError) as err:
        raw.close()
        raise VirtError(f"TLS handshake failed: {err}", code=ErrorNumber.GNUTLS_ERROR, domain=ErrorDomain.RPC) from None
    # Once it has checked our certificate the server sends one byte, 1 (libvirt's TLS confirmation).
    try:
        confirmation = sock.recv(1)
    except OSError:
        confirmation = b""
    if confirmation != b"\x01":
        sock.close()
        raise VirtError("server verification (of our certificate or IP address) failed", code=ErrorNumber.RPC,
                        domain=ErrorDomain.RPC)  # fmt: skip
    return sock


def connect_ssh(uri: URI, readonly: bool) -> tuple[socket.socket, subprocess.Popen[bytes]]:
    """Run ssh to the host with a relay to the daemon's socket; our end of a socket pair talks to it."""
    params = uri.params
    argv = [params.get("command", "ssh")]
    if uri.port:
        argv += ["-p", str(uri.port)]
    if uri.user:
        argv += ["-l", uri.user]
    if "keyfile" in params:
        argv += ["-i", params["keyfile"]]
    if params.get("no_tty", "0") not in ("0", ""):
        argv += ["-T", "-o", "BatchMode=yes"]
    argv += ["-e", "none", "--", uri.server or "localhost"]
    remote_socket = params.get("socket") or str(local_socket_paths("", readonly)[0]).replace(
        f"/run/user/{os.geteuid()}", "$XDG_RUNTIME_DIR")
    netcat = params.get("netcat", "nc")
    argv += ["sh", "-c", shlex.quote(f"{shlex.quote(netcat)} -U {shlex.quote(remote_socket)}")]
    ours, theirs = socket.socketpair()
    try:
        helper = subprocess.Popen(argv, stdin=theirs.fileno(), stdout=theirs.fileno(), stderr=subprocess.DEVNULL,
                                  start_new_session=True)  # fmt: skip
    except OSError as err:
        ours.close()
        raise SystemError_.from_errno(err, f"cannot run '{argv[0]}'", domain=ErrorDomain.RPC) from None
    finally:
        theirs.close()
    return ours, helper


def open_transport(uri: URI, readonly: bool) -> tuple[socket.socket, subprocess.Popen[bytes] | None, bool]:
    """A connected socket for ``uri``, the helper process behind it (ssh), and whether it is secure."""
    transport = uri.transport or ("tls" if uri.server else "unix")
    if transport == "unix":
        if "socket" in uri.params:
            return connect_unix(uri.params["socket"]), None, True
        candidates = local_socket_paths(uri.driver, readonly)
        path = next((p for p in candidates if p.exists()), candidates[0])
        return connect_unix(path), None, True
    if transport == "tcp":
        return connect_tcp(uri.server or "localhost", uri.port or TCP_PORT), None, False
    if transport == "tls":
        return connect_tls(uri), None, True
    if transport in ("ssh", "libssh", "libssh2"):
        sock, helper = connect_ssh(uri, readonly)
        return sock, helper, True
    raise VirtError(f"transport '{transport}' is not supported by virt's remote driver",
                    code=ErrorNumber.INVALID_ARG, domain=ErrorDomain.REMOTE)  # fmt: skip


# ---- the driver -----------------------------------------------------------------------------------------


class RemoteDriver(Driver):
    """Every driver call becomes the remote procedure of the same name (``domain_get_info`` -> 16)."""

    name: ClassVar[str] = "remote"
    kinds: ClassVar[tuple[str, ...]] = KINDS
    uri: URI
    events: EventBus
    keepalive_interval: ClassVar[float] = DEFAULT_KEEPALIVE_INTERVAL
    keepalive_count: ClassVar[int] = DEFAULT_KEEPALIVE_COUNT

    def __init__(self, uri: URI, *, readonly: bool = False, events: EventBus | None = None,
                 auth: Callable[[list[list[Any]]], Any] | None = None) -> None:  # fmt: skip
        super().__init__(uri, readonly=readonly, events=events)
        #: The connection's auth callback (virConnectOpenAuth's), asked for what auth.conf does not give.
        self.auth = auth
        sock, helper, self.secure = open_transport(uri, readonly)
        self.client = RemoteClient(sock, on_event=self._on_event, helper=helper)
        self._callbacks: dict[int, tuple[str, int]] = {}
        self._registered: dict[tuple[str, int], int] = {}
        self._fd_passing = False
        self._lock = threading.Lock()
        try:
            self._handshake(uri, readonly)
        except BaseException:
            self.client.close()
            raise

    @classmethod
    def claims(cls, uri: URI) -> bool:
        """The registry asks only about remote URIs and local ones no installed driver opens."""
        return True

    def _handshake(self, uri: URI, readonly: bool) -> None:
        auth = self._raw("AUTH_LIST")[0]
        if auth and P.AuthType.NONE not in auth:
            if P.AuthType.SASL not in auth:
                raise VirtError("the server requires an authentication method this client does not support",
                                code=ErrorNumber.AUTH_FAILED, domain=ErrorDomain.AUTH,
                                message="authentication failed: unsupported authentication type")  # fmt: skip
            from virt.core.remote import sasl

            self.sasl_username = sasl.client_authenticate(self._raw, uri.params, uri.server or "localhost",
                                                          self.auth)  # fmt: skip
        if self.keepalive_interval > 0 and self._raw("CONNECT_SUPPORTS_FEATURE", FEATURE_PROGRAM_KEEPALIVE)[0]:
            self.client.start_keepalive(self.keepalive_interval, self.keepalive_count)
        target = uri.without_transport()
        name = str(target) if target.driver else ""
        self._raw("CONNECT_OPEN", name or None, 1 if readonly else 0)

    def _raw(self, name: str, *args: Any) -> Any:
        proc = P.BY_NAME[name]
        body = proc.args.Value(*args) if isinstance(proc.args, xdr.Struct) else None
        return self.client.call(proc.number, proc.args, body, proc.ret)

    def close(self) -> None:
        if self.client.is_alive:
            with contextlib.suppress(VirtError):
                self._raw("CONNECT_CLOSE")
        self.client.close()

    def __getattr__(self, method: str) -> Callable[..., Any]:
        proc = P.BY_METHOD.get(method)
        if proc is None or proc.event:
            from virt.core.remote import programs  # the qemu and lxc programs' calls

            other = programs.client_method(self.client, method, self._negotiate_fd_passing)
            if other is not None:
                setattr(self, method, other)
                return other
            return super().__getattr__(method)
        call = M.call_for(proc.number)
        client = self.client
        number, args_type, ret_type = proc.number, proc.args, proc.ret
        at = proc.stream_arg
        if proc.fds_arg >= 0 or proc.fds_out:
            return self._fd_call(method, proc, call)

        to_wire, from_wire = call.client_converters()
        if at >= 0:

            def remote_call(*args: Any) -> Any:
                stream, rest = args[at], args[:at] + args[at + 1 :]
                return call.ret_from_wire(client.call(number, args_type, call.args_to_wire(rest), ret_type,
                                                      stream=stream))  # fmt: skip

        else:

            def remote_call(*args: Any) -> Any:
                return from_wire(client.call(number, args_type, to_wire(args), ret_type))

        remote_call.__name__ = method
        setattr(self, method, remote_call)  # found directly next time
        return remote_call

    def _fd_call(self, method: str, proc: P.Procedure, call: Any) -> Callable[..., Any]:
        """A procedure whose call or reply carries file descriptors (the driver method's list argument
        ``fds_arg``; its return value for ``fds_out``: the descriptor, or a list of them)."""
        client, at = self.client, proc.fds_arg

        def remote_call(*args: Any) -> Any:
            self._negotiate_fd_passing()
            fds = None
            if at >= 0:
                fds, args = [int(fd) for fd in args[at]], args[:at] + args[at + 1 :]
            got: list[int] = []
            ret = client.call(proc.number, proc.args, call.args_to_wire(args), proc.ret, fds=fds, reply_fds=got)
            if proc.fds_out:
                return got[0] if len(got) == 1 else got
            return call.ret_from_wire(ret)

        remote_call.__name__ = method
        setattr(self, method, remote_call)
        return remote_call

    def _negotiate_fd_passing(self) -> None:
        """Before the first call that passes descriptors (of any program): ask for FD_PASSING, as
        libvirt's client does; the server reads descriptors only from then on."""
        if self._fd_passing:
            return
        # Only a direct unix socket carries them (not ssh's socket pair, not TCP or TLS).
        direct = self.client._unix and self.client.helper is None
        if direct:
            self.client.expect_fds()
        if not direct or not self._raw("CONNECT_SUPPORTS_FEATURE", FEATURE_FD_PASSING)[0]:
            raise VirtError("fd passing is not supported by this connection",
                            code=ErrorNumber.ARGUMENT_UNSUPPORTED, domain=ErrorDomain.DOMAIN,
                            message="argument unsupported: fd passing is not supported by this connection")  # fmt: skip
        self._fd_passing = True

    # -- calls answered or adapted on this side ----------------------------------------------------------
    def stream_new(self, flags: int = 0) -> ClientStream:
        """virStreamNew: a stream to pass to a stream call (volume upload/download, console)."""
        return ClientStream(self.client)

    def connect_get_uri(self) -> str:
        return str(self.uri)

    def connect_is_secure(self) -> int:
        return int(bool(self._raw("CONNECT_IS_SECURE")[0]) and self.secure)

    def connect_is_encrypted(self) -> int:
        return int(self.uri.transport in ("tls", "ssh", "libssh", "libssh2"))

    def connect_is_alive(self) -> int:
        return int(self.client.is_alive)

    def _register(self, kind: str, event_id: int, obj: Any = None) -> int:
        with self._lock:
            key = (kind, int(event_id))
            if key in self._registered:
                return 0
            register = P.BY_NAME[M.EVENT_REGISTRATION[kind][0]]
            callback_id = self._raw(register.name, int(event_id), None)[0]
            self._registered[key] = callback_id
            self._callbacks[callback_id] = key
            return 0

    def connect_domain_event_register_any(self, event_id: int, *args: Any) -> int:
        return self._register("domain", event_id)

    def connect_network_event_register_any(self, event_id: int, *args: Any) -> int:
        return self._register("network", event_id)

    def connect_storage_pool_event_register_any(self, event_id: int, *args: Any) -> int:
        return self._register("storage_pool", event_id)

    def connect_node_device_event_register_any(self, event_id: int, *args: Any) -> int:
        return self._register("node_device", event_id)

    def connect_secret_event_register_any(self, event_id: int, *args: Any) -> int:
        return self._register("secret", event_id)

    def _on_event(self, msg: W.Message) -> None:
        if msg.prog != W.REMOTE_PROGRAM:
            if msg.prog == W.QEMU_PROGRAM:
                from virt.core.remote import programs  # QMP events: the qemu program's MESSAGEs

                programs.client_event(self.events, msg)
            return
        spec = M.EVENTS_BY_PROC.get(msg.proc)
        if spec is None:
            return
        callback_id, obj, payload = M.event_from_wire(spec, spec.proc.args.decode(msg.body))
        key = self._callbacks.get(callback_id)
        if key is not None:
            self.events.emit(key[0], key[1], obj, *payload)

