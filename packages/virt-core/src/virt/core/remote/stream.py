"""Streams over libvirt's protocol (volume upload/download, consoles, screenshots), on both sides.

After a stream procedure's REPLY, data travels as STREAM packets carrying the call's procedure and
serial: status CONTINUE with raw bytes, an empty CONTINUE for the end of the data. The client ends
with an empty OK (finish) or an empty ERROR (abort) and the daemon confirms with an empty OK, or
reports a failure as an error.

A driver serving a stream procedure gets a :class:`ServerStream` at libvirt's argument position
(``storage_vol_download(vol, stream, offset, length, flags)``). It must return promptly, after
handing the stream its data: ``stream.attach(source=f)`` for data that goes to the client
(``f.read(n)`` returning ``b""`` at the end), ``stream.attach(sink=f)`` for data that comes from it
(``f.write(data)``; ``f.close()`` when the client finishes, ``f.abort()`` if it aborts), or both
(a console). The daemon pumps the data on worker threads, at the pace of the client.

Sparse streams (a volume transfer with its SPARSE_STREAM flag): a STREAM_HOLE packet (status
CONTINUE, body ``virNetStreamHole``) stands for a run of zeros in either direction. The daemon hands
a received hole to ``sink.hole(length)`` (zeros to ``write`` when the sink has no such method), and
asks a source with ``in_data() -> (in data?, bytes until that changes)`` where the holes are,
moving past them with ``skip(length)``, as libvirt's daemon asks virStreamInData.
"""

from __future__ import annotations

import collections
import logging
import queue
from typing import TYPE_CHECKING, Any

from virt.core.remote import protocol as W
from virt.core.sparse import HOLE, STREAM_RECV_STOP_AT_HOLE
from virt.util.errors import ErrorNumber, RPCError, VirtError

if TYPE_CHECKING:
    from virt.core.remote.client import RemoteClient
    from virt.core.remote.server import ClientConnection

log = logging.getLogger("virt.remote.stream")

#: Largest data packet libvirt's peers send (and the oldest ones accept).
CHUNK = W.MESSAGE_LEGACY_PAYLOAD_MAX

_STREAM = W.MessageType.STREAM
_HOLE = W.MessageType.STREAM_HOLE
_OK, _ERROR, _CONTINUE = W.MessageStatus.OK, W.MessageStatus.ERROR, W.MessageStatus.CONTINUE
_FINISH, _ABORT = object(), object()
_ZEROS = bytes(CHUNK)

#: The stream procedures that may carry holes, with the flag of their call that allows them.
SPARSE_FLAGS = {"STORAGE_VOL_UPLOAD": 1, "STORAGE_VOL_DOWNLOAD": 1}  # VIR_STORAGE_VOL_*LOAD_SPARSE_STREAM


def hole_packet(proc: int, serial: int, length: int) -> bytes:
    """A STREAM_HOLE packet: ``length`` bytes of zeros the receiver does not get as data."""
    return W.encode_message(W.StreamHole, W.StreamHole.Value(length, 0), W.REMOTE_PROGRAM, W.REMOTE_PROTOCOL_VERSION,
                            proc, _HOLE, serial, _CONTINUE)  # fmt: skip


def write_zeros(sink: Any, length: int) -> None:
    """A hole for a sink that only knows ``write``: its zeros, a packet's worth at a time."""
    while length > 0:
        n = min(length, CHUNK)
        sink.write(_ZEROS[:n])
        length -= n


class ServerStream:
    """The daemon's end of one stream, bound to a client connection and a call (procedure, serial)."""

    def __init__(self, client: ClientConnection, proc: int, serial: int, allow_skip: bool = False) -> None:
        self.client = client
        self.proc = proc
        self.serial = serial
        #: The call asked for a sparse stream: holes may travel both ways (libvirt's allowSkip).
        self.allow_skip = allow_skip
        self.source: Any = None
        self.sink: Any = None
        self._incoming: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False

    def attach(self, source: Any = None, sink: Any = None) -> None:
        """Give the stream its data: ``source`` for the client to read, ``sink`` for what it writes."""
        self.source, self.sink = source, sink

    # -- driven by the daemon --------------------------------------------------------------------------
    def start(self) -> None:
        pool = self.client.server.pool
        if self.source is not None:
            self.client.loop.run_in_executor(pool, self._pump_source)
        self.client.loop.run_in_executor(pool, self._pump_incoming)

    def incoming(self, msg: W.Message) -> None:
        """A STREAM packet from the client (on the event loop)."""
        if msg.status == _CONTINUE:
            if self.sink is None:
                return  # data for a read-only stream: ignored, as there is nowhere to put it
            if msg.type == _HOLE:
                self._incoming.put(self._hole(msg.body))
            else:
                self._incoming.put(bytes(msg.body))
        elif msg.status == _OK:
            self._incoming.put(_FINISH)
        else:
            self._incoming.put(_ABORT)

    def _hole(self, body: memoryview) -> int | BaseException:
        if not self.allow_skip:
            return VirtError("Unexpected stream hole", code=ErrorNumber.OPERATION_INVALID)
        try:
            hole = W.StreamHole.decode(body)
        except RPCError:
            return RPCError("Unable to decode message payload")
        if hole.length < 0:
            return VirtError("Unexpected stream hole", code=ErrorNumber.OPERATION_INVALID)
        return int(hole.length)

    def close(self) -> None:
        """The client went away: stop pumping and abort the driver's side."""
        if not self._closed:
            self._closed = True
            self._incoming.put(_ABORT)

    def _send(self, data: bytes) -> None:
        try:
            self.client.loop.call_soon_threadsafe(self.client._send, data)
        except RuntimeError:  # the loop is gone
            self._closed = True

    def _packet(self, status: int, data: bytes = b"") -> bytes:
        return W.encode_raw(data, W.REMOTE_PROGRAM, W.REMOTE_PROTOCOL_VERSION, self.proc, _STREAM, self.serial,
                            status)  # fmt: skip

    def _error(self, err: BaseException, type_: int = _STREAM) -> bytes:
        return W.encode_message(W.Error, W.error_to_wire(err), W.REMOTE_PROGRAM, W.REMOTE_PROTOCOL_VERSION,
                                self.proc, type_, self.serial, _ERROR)  # fmt: skip

    def _pump_source(self) -> None:
        in_data = getattr(self.source, "in_data", None) if self.allow_skip else None
        try:
            while not self._closed:
                self.client.writable.wait()
                want = CHUNK
                if in_data is not None:
                    data_here, length = in_data()
                    if not data_here and length > 0:
                        self.source.skip(length)
                        self._send(hole_packet(self.proc, self.serial, length))
                        continue
                    if data_here and length > 0:
                        want = min(want, length)
                data = self.source.read(want)
                if self._closed:
                    return
                self._send(self._packet(_CONTINUE, data))  # empty: the end of the data
                if not data:
                    return
        except Exception as err:  # the driver's source failed: the client sees the error
            if not isinstance(err, VirtError):
                log.exception("stream source failed")
            self._send(self._error(err))

    def _pump_incoming(self) -> None:
        try:
            while True:
                item = self._incoming.get()
                if item is _FINISH:
                    self._closed = True
                    close = getattr(self.sink or self.source, "close", None)
                    if close is not None:
                        close()
                    self._send(self._packet(_OK))  # zero-length confirmation
                    return
                if item is _ABORT:
                    was_closed, self._closed = self._closed, True
                    abort = getattr(self.sink or self.source, "abort", None) or getattr(
                        self.sink or self.source, "close", None
                    )
                    if abort is not None:
                        abort()
                    if not was_closed:
                        self._send(self._packet(_OK))
                    return
                if isinstance(item, bytes):
                    self.sink.write(item)
                elif isinstance(item, int):
                    hole = getattr(self.sink, "hole", None)
                    if hole is not None:
                        hole(item)
                    else:
                        write_zeros(self.sink, item)
                else:
                    raise item
        except Exception as err:  # the driver's sink failed: an error reply ends the stream
            self._closed = True
            if not isinstance(err, VirtError):
                log.exception("stream sink failed")
            self._send(self._error(err, W.MessageType.REPLY))
        finally:
            self.client.streams.pop((self.proc, self.serial), None)


class ClientStream:
    """The client's end of a stream (virStream): ``recv``/``send``, then ``finish`` or ``abort``.

    Create it with ``RemoteDriver.stream_new()`` and pass it to a stream call
    (``storage_vol_download(vol, stream, 0, 0, 0)``); it is then bound to that call.
    """

    def __init__(self, client: RemoteClient) -> None:
        self.client = client
        self.proc = -1
        self.serial = -1
        self._chunks: collections.deque[bytes | int] = collections.deque()  # data, and holes as their lengths
        self._eof = False
        self._done = False
        self._error: VirtError | None = None

    def _bind(self, proc: int, serial: int) -> None:
        if self.serial != -1:
            raise VirtError("the stream is already in use", code=ErrorNumber.INVALID_STREAM)
        self.proc, self.serial = proc, serial

    def _incoming(self, msg: W.Message) -> None:
        """A packet for this stream (from the client's reader, under its state lock)."""
        if msg.type == _STREAM and msg.status == _CONTINUE:
            if len(msg.body):
                self._chunks.append(bytes(msg.body))
            else:
                self._eof = True  # the end of the data
        elif msg.type == _HOLE and msg.status == _CONTINUE:
            try:
                length = int(W.StreamHole.decode(msg.body).length)
            except RPCError:
                self._error = RPCError("Unable to decode message payload")
                self._eof = True
                return
            if length > 0:
                self._chunks.append(length)  # an int in the queue: a hole
        elif msg.status == _OK:
            self._eof = self._done = True  # the confirmation of our finish or abort
        else:
            try:
                self._error = W.error_from_wire(W.Error.decode(msg.body))
            except RPCError:
                self._error = RPCError("stream had I/O failure")
            self._eof = self._done = True

    def recv(self, nbytes: int | None = None) -> bytes:
        """Data from the daemon: up to ``nbytes`` (a whole packet when None); ``b""`` at the end.

        A hole comes as its zeros."""
        data = self.recv_flags(nbytes)
        assert isinstance(data, bytes)
        return data

    def recv_flags(self, nbytes: int | None = None, flags: int = 0) -> bytes | int:
        """virStreamRecvFlags: as :meth:`recv`; with ``STREAM_RECV_STOP_AT_HOLE``, ``HOLE`` (-3) when a
        hole comes next (:meth:`recv_hole` then says how long it is)."""
        self.client.wait_stream(self, lambda: bool(self._chunks) or self._eof or self._error is not None)
        if self._chunks:
            data = self._chunks.popleft()
            if isinstance(data, int):
                if flags & STREAM_RECV_STOP_AT_HOLE:
                    self._chunks.appendleft(data)
                    return HOLE
                zeros = min(data, nbytes or CHUNK, CHUNK)
                if data > zeros:
                    self._chunks.appendleft(data - zeros)
                return _ZEROS[:zeros]
            if nbytes is not None and len(data) > nbytes:
                self._chunks.appendleft(data[nbytes:])
                data = data[:nbytes]
            return data
        if self._error is not None:
            raise self._error
        return b""

    def recv_hole(self, flags: int = 0) -> int:
        """virStreamRecvHole: the length of the hole that comes next (0 when data or the end does)."""
        if self._chunks and isinstance(self._chunks[0], int):
            return int(self._chunks.popleft())
        return 0

    def send_hole(self, length: int, flags: int = 0) -> None:
        """virStreamSendHole: ``length`` bytes of zeros, sent as a hole (the call must allow holes)."""
        if self._error is not None:
            raise self._error
        if length < 0:
            raise VirtError("Invalid hole length", code=ErrorNumber.INVALID_ARG)
        self.client.send(hole_packet(self.proc, self.serial, length))

    def __iter__(self) -> Any:
        while data := self.recv():
            yield data

    def send(self, data: bytes) -> int:
        """Data for the daemon (split into packets libvirt accepts)."""
        if self._error is not None:
            raise self._error
        view = memoryview(data)
        for start in range(0, len(view), CHUNK):
            self.client.send(
                W.encode_raw(
                    bytes(view[start : start + CHUNK]),
                    W.REMOTE_PROGRAM,
                    W.REMOTE_PROTOCOL_VERSION,
                    self.proc,
                    _STREAM,
                    self.serial,
                    _CONTINUE,
                )
            )
        return len(data)

    def _end(self, status: int) -> None:
        self.client.send(W.encode_raw(b"", W.REMOTE_PROGRAM, W.REMOTE_PROTOCOL_VERSION, self.proc, _STREAM,
                                      self.serial, status))  # fmt: skip
        self.client.wait_stream(self, lambda: self._done)
        self.client.release_stream(self)

    def finish(self) -> None:
        """End the transfer; raises the daemon's error if its side failed."""
        if not self._done:
            self._end(_OK)
        else:
            self.client.release_stream(self)
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        if not self._done:
            self._end(_ERROR)
        else:
            self.client.release_stream(self)
