"""libvirt's RPC framing: length word, message header, message types and status, errors, limits, programs.

Every packet on a libvirt connection is a 4-byte big-endian total length (counting itself), a
24-byte header {program, version, procedure, type, serial, status} and a body whose XDR layout
the (program, procedure, type, status) tuple decides: the procedure's arguments for a CALL, its
return value or a ``remote_error`` for a REPLY, an event for a MESSAGE, raw bytes for STREAM data.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import Any, NamedTuple

from virt.util import xdr
from virt.util.errors import ErrorDomain, ErrorLevel, ErrorNumber, RPCError, VirtError

# ---- limits (virnetprotocol.x) ---------------------------------------------------------------------

#: Largest message, length word excluded.
MESSAGE_MAX = 33554432
MESSAGE_HEADER_MAX = 24
MESSAGE_PAYLOAD_MAX = MESSAGE_MAX - MESSAGE_HEADER_MAX
#: Size of the length word in front of every message.
MESSAGE_LEN_MAX = 4
#: Initial receive buffer of libvirt's peers; payloads bigger than the legacy limit need a new peer.
MESSAGE_INITIAL = 65536
MESSAGE_LEGACY_PAYLOAD_MAX = 262120
#: Longest string in any message.
MESSAGE_STRING_MAX = 4194304
MESSAGE_NUM_FDS_MAX = 32


class MessageType(IntEnum):
    """virNetMessageType."""

    CALL = 0  #: client -> server: a procedure's arguments
    REPLY = 1  #: server -> client: its return value or an error
    MESSAGE = 2  #: either way, asynchronous: events
    STREAM = 3  #: either way: stream data
    CALL_WITH_FDS = 4  #: CALL followed by passed file descriptors
    REPLY_WITH_FDS = 5
    STREAM_HOLE = 6  #: a hole in a sparse stream


class MessageStatus(IntEnum):
    """virNetMessageStatus."""

    OK = 0
    ERROR = 1  #: the body is a remote_error
    CONTINUE = 2  #: stream data follows


# ---- programs ---------------------------------------------------------------------------------------

REMOTE_PROGRAM = 0x20008086
REMOTE_PROTOCOL_VERSION = 1
QEMU_PROGRAM = 0x20008087
QEMU_PROTOCOL_VERSION = 1
LXC_PROGRAM = 0x00068000
LXC_PROTOCOL_VERSION = 1
KEEPALIVE_PROGRAM = 0x6B656570  # "keep"
KEEPALIVE_PROTOCOL_VERSION = 1


class KeepaliveProcedure(IntEnum):
    """The keepalive program's procedures; both are MESSAGEs with an empty body."""

    PING = 1
    PONG = 2


# ---- wire structs -----------------------------------------------------------------------------------

Header = xdr.struct(
    "virNetMessageHeader",
    [
        ("prog", xdr.uint),
        ("vers", xdr.uint),
        ("proc", xdr.int_),
        ("type", xdr.enum("virNetMessageType", MessageType)),
        ("serial", xdr.uint),
        ("status", xdr.enum("virNetMessageStatus", MessageStatus)),
    ],
)
# Headers are built for every packet: a fixed layout packs faster than any general encoder.
_HEADER = struct.Struct(">IIiiIi")
#: The length word and the header together, as the quick paths of client and daemon read a whole packet.
LEN_HEADER = struct.Struct(">IIIiiIi")
#: Where a whole packet's body starts (after the length word and the header).
BODY_START = MESSAGE_LEN_MAX + MESSAGE_HEADER_MAX

NonnullString = xdr.string(MESSAGE_STRING_MAX)
String = xdr.optional(NonnullString)
UUID = xdr.opaque(16)
NonnullDomain = xdr.struct("remote_nonnull_domain", [("name", NonnullString), ("uuid", UUID), ("id", xdr.int_)])
NonnullNetwork = xdr.struct("remote_nonnull_network", [("name", NonnullString), ("uuid", UUID)])

#: remote_error (virNetMessageError): how a failed call's VirtError travels.
Error = xdr.struct(
    "remote_error",
    [
        ("code", xdr.int_),
        ("domain", xdr.int_),
        ("message", String),
        ("level", xdr.int_),
        ("dom", xdr.optional(NonnullDomain)),
        ("str1", String),
        ("str2", String),
        ("str3", String),
        ("int1", xdr.int_),
        ("int2", xdr.int_),
        ("net", xdr.optional(NonnullNetwork)),
    ],
)

StreamHole = xdr.struct("virNetStreamHole", [("length", xdr.hyper), ("flags", xdr.uint)])


class Message(NamedTuple):
    """A received packet: its header fields and the undecoded body (a view into the packet)."""

    prog: int
    vers: int
    proc: int
    type: int
    serial: int
    status: int
    body: memoryview


def pack_header(prog: int, vers: int, proc: int, type: int, serial: int, status: int) -> bytes:
    """The 24 header bytes."""
    return _HEADER.pack(prog, vers, proc, type, serial, status)


def encode_message(
    body_type: xdr.XdrType, body: Any, prog: int, vers: int, proc: int, type: int, serial: int, status: int = 0
) -> bytes:
    """A complete packet (length word, header, body) ready to write."""
    data = body_type.encode_framed(_HEADER.pack(prog, vers, proc, type, serial, status), body)
    if len(data) > MESSAGE_MAX + MESSAGE_LEN_MAX:
        raise RPCError(f"packet {len(data)} bytes long exceeds maximum {MESSAGE_MAX + MESSAGE_LEN_MAX}")
    return data


def encode_raw(data: bytes, prog: int, vers: int, proc: int, type: int, serial: int, status: int) -> bytes:
    """A packet whose body is raw bytes (stream data)."""
    total = MESSAGE_LEN_MAX + MESSAGE_HEADER_MAX + len(data)
    if total > MESSAGE_MAX + MESSAGE_LEN_MAX:
        raise RPCError(f"packet {total} bytes long exceeds maximum {MESSAGE_MAX + MESSAGE_LEN_MAX}")
    return total.to_bytes(4, "big") + _HEADER.pack(prog, vers, proc, type, serial, status) + data


def packet_length(word: bytes | bytearray) -> int:
    """The length of the packet from its length word, length word excluded; bad lengths raise."""
    total = int.from_bytes(word, "big")
    if total < MESSAGE_LEN_MAX + MESSAGE_HEADER_MAX:
        raise RPCError(f"packet {total} bytes received from server too small, want at least 28")
    if total > MESSAGE_MAX + MESSAGE_LEN_MAX:
        raise RPCError(f"packet {total} bytes received from server too large, want at most {MESSAGE_MAX + 4}")
    return total - MESSAGE_LEN_MAX


def decode_message(packet: bytes | bytearray | memoryview) -> Message:
    """Split a packet (without its length word) into header fields and body; a bad header raises.

    Header.decode_from would do, but this runs for every packet: a fixed layout unpacks faster.
    """
    if len(packet) < MESSAGE_HEADER_MAX:
        raise RPCError("XDR decode: truncated data")
    prog, vers, proc, type_, serial, status = _HEADER.unpack_from(packet)
    if not 0 <= type_ <= 6:
        raise RPCError(f"XDR decode: invalid enum value {type_}")
    if not 0 <= status <= 2:
        raise RPCError(f"XDR decode: invalid enum value {status}")
    return Message(prog, vers, proc, type_, serial, status, memoryview(packet)[MESSAGE_HEADER_MAX:])


# ---- errors -----------------------------------------------------------------------------------------


def error_to_wire(err: BaseException) -> Any:
    """The remote_error for an exception: VirtErrors keep their code, domain, level and extra fields."""
    if isinstance(err, VirtError):
        extra = err.extra
        return Error.Value(
            int(err.code),
            int(err.domain),
            err.message,
            int(err.level),
            None,
            extra.get("str1"),
            extra.get("str2"),
            extra.get("str3"),
            int(extra.get("int1", 0)),
            int(extra.get("int2", 0)),
            None,
        )
    message = f"internal error: {type(err).__name__}: {err}"
    return Error.Value(ErrorNumber.INTERNAL_ERROR, ErrorDomain.RPC, message, ErrorLevel.ERROR,
                       None, None, None, None, 0, 0, None)  # fmt: skip


def error_from_wire(wire: Any) -> VirtError:
    """The VirtError a remote_error describes, with the exact message the peer sent."""
    extra = {k: v for k, v in (("str1", wire.str1), ("str2", wire.str2), ("str3", wire.str3)) if v is not None}
    if wire.int1:
        extra["int1"] = wire.int1
    if wire.int2:
        extra["int2"] = wire.int2
    message = wire.message if wire.message is not None else "unknown error"
    return VirtError.from_code(wire.code, message, domain=wire.domain, level=wire.level, **extra)
