"""File descriptors passed over unix sockets (CALL_WITH_FDS/REPLY_WITH_FDS), as libvirt passes them.

A WITH_FDS message carries, right after its header, the number of descriptors that follow it; once
the whole message is written, each descriptor goes in its own one-byte write with SCM_RIGHTS
ancillary data. Readers here read greedily (many packets per syscall), so once descriptors may come
they read with room for ancillary data: descriptors are queued as they arrive, and the one-byte
markers are consumed from the byte stream right after the message that announced them. The client
reads that way on every unix socket; the daemon from the moment a client asks for FD_PASSING
(libvirt's clients ask before their first descriptor), so ordinary calls keep plain reads.
"""

from __future__ import annotations

import array
import collections
import os
import socket
import struct
import weakref
from typing import Any

#: Ancillary space for the descriptors one read may bring (libvirt sends one per byte; a read
#: stops after the first byte that carries any).
ANC = socket.CMSG_SPACE(32 * array.array("i").itemsize)
_MARKER = b"\0"
CLOEXEC = int(socket.MSG_CMSG_CLOEXEC)  # an int: IntFlag arithmetic costs a microsecond per read
_NFDS = struct.Struct(">I")


def take_fds(ancdata: list[tuple[int, int, bytes]], into: collections.deque[int]) -> None:
    """Queue the descriptors of a recvmsg's ancillary data."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
            into.extend(fds)


def send_fds(sock: socket.socket, fds: list[int]) -> None:
    """Each descriptor with its own marker byte (blocking socket)."""
    for fd in fds:
        sock.sendmsg([_MARKER], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])


def close_all(fds: Any) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


class FdSocket(socket.socket):
    """A unix socket for asyncio's transports that receives and sends descriptors in band.

    asyncio's transports call ``recv`` and ``send``. Once :meth:`enable` ran (the client asked
    whether the server passes descriptors, as libvirt's clients do before their first one),
    ``recv`` keeps the descriptors that come with the data (in :attr:`received`); while
    descriptors are queued (:meth:`queue_fds`), ``send`` sends each marker byte with its
    descriptor, so a reply's descriptors follow it in the byte stream. Until then both are the
    plain socket methods: the usual call costs nothing more.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: collections.deque[int] = collections.deque()
        self._sent = 0  # bytes sent so far
        self._marks: collections.deque[tuple[int, int]] = collections.deque()  # (stream position, fd)

    def accept(self) -> tuple[FdSocket, Any]:  # type: ignore[override]
        fd, addr = self._accept()  # type: ignore[attr-defined]
        sock = FdSocket(self.family, self.type, self.proto, fileno=fd)
        _BY_FILENO[fd] = sock
        if socket.getdefaulttimeout() is None and self.gettimeout():
            sock.setblocking(True)
        return sock, addr

    def enable(self) -> None:
        """Receive descriptors from now on (instance attributes win over the socket's methods)."""
        self.recv = self._recv_fds  # type: ignore[method-assign]
        self.recv_into = self._recv_into_fds  # type: ignore[method-assign]

    def _recv_fds(self, bufsize: int, flags: int = 0) -> bytes:
        data, ancdata, _, _ = self.recvmsg(bufsize, ANC, flags | CLOEXEC)
        if ancdata:
            take_fds(ancdata, self.received)
        return data

    def _recv_into_fds(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        view = memoryview(buffer)
        n, ancdata, _, _ = self.recvmsg_into([view[:nbytes] if nbytes else view], ANC,
                                             flags | CLOEXEC)  # fmt: skip
        if ancdata:
            take_fds(ancdata, self.received)
        return n

    def queue_fds(self, fds: list[int], buffered: int) -> bytes:
        """Descriptors to send after what was written so far (``buffered`` bytes of it still in the
        transport's buffer): write the returned markers next.

        The socket owns the descriptors from now on (closed once sent, or with the socket).
        """
        if not self._marks:
            self._sent = 0  # positions count from the first byte sent with descriptors pending
            self.send = self._send_marked  # type: ignore[method-assign]
            start = buffered
        else:
            start = self._sent + buffered
        self._marks.extend((start + i, fd) for i, fd in enumerate(fds))
        return _MARKER * len(fds)

    def _send_marked(self, data: Any, flags: int = 0) -> int:
        if not self._marks:
            del self.send  # back to the socket's own method
            return self.send(data, flags)
        at, fd = self._marks[0]
        view = memoryview(data)
        if at > self._sent:  # the bytes before the next marker
            n = super().send(view[: at - self._sent], flags)
        else:
            n = self.sendmsg([view[:1]], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))], flags)
            if n:
                self._marks.popleft()
                close_all([fd])
        self._sent += n
        return n

    def close(self) -> None:
        close_all(fd for _, fd in self._marks)
        self._marks.clear()
        close_all(self.received)
        self.received.clear()
        super().close()


#: Accepted sockets by descriptor: a protocol finds its socket's queue from the transport's fileno.
_BY_FILENO: weakref.WeakValueDictionary[int, FdSocket] = weakref.WeakValueDictionary()


def socket_of(transport: Any) -> FdSocket | None:
    """The FdSocket under an asyncio transport (None for TCP, TLS and other sockets)."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return None
    found = _BY_FILENO.get(sock.fileno())
    return found if found is not None and found.fileno() == sock.fileno() else None


def listening_socket(path: str) -> FdSocket:
    """A bound, listening unix socket whose accepted connections are FdSockets."""
    sock = FdSocket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def encode_nfds(nfds: int) -> bytes:
    return _NFDS.pack(nfds)


def decode_nfds(body: memoryview) -> tuple[int, memoryview]:
    """The descriptor count at the start of a WITH_FDS body, and the rest of the body."""
    if len(body) < 4:
        raise ValueError("truncated descriptor count")
    return _NFDS.unpack_from(body)[0], body[4:]
