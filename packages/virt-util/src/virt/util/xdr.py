"""XDR (RFC 4506) codec driven by declarations: describe a type once as data, encode and decode with it.

A declaration is a tree of :class:`XdrType` objects built with the helpers below::

    DomainInfo = xdr.struct("remote_domain_get_info_ret", [
        ("state", xdr.uchar), ("maxMem", xdr.uhyper), ("memory", xdr.uhyper),
        ("nrVirtCpu", xdr.ushort), ("cpuTime", xdr.uhyper),
    ])
    data = DomainInfo.encode((1, 1024, 512, 1, 0))
    info = DomainInfo.decode(data)          # a namedtuple: info.memory == 512

Values: integers are ``int`` (``bool`` for XDR bool), floats ``float``, opaque data ``bytes`` (bytes,
bytearray or memoryview accepted), strings ``str`` (UTF-8; undecodable bytes survive as lone
surrogates), arrays ``list`` (list or tuple accepted), optional data ``None`` or the value, structs a
namedtuple of the struct's class (any tuple or list of the right length accepted), unions a
``(discriminant, value)`` pair and void ``None``.

Each declaration compiles once into a compact program of int32 words that the native engine
(``virt.util._xdr``, C built by cffi) runs for encode and decode. The pure-Python twin in this module
has the same behaviour, check for check and message for message; it is used when the native module
is missing or when ``VIRT_NO_NATIVE=1`` is set at run time. Malformed data and values that do not fit
the declaration raise :class:`~virt.util.errors.RPCError`.
"""

from __future__ import annotations

import keyword
import os
import struct as _struct
from array import array
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import IntEnum
from functools import partial
from types import ModuleType
from typing import Any, NamedTuple

from virt.util.errors import RPCError

__all__ = [
    "NATIVE",
    "Codec",
    "XdrType",
    "array_",
    "bool_",
    "char",
    "double",
    "enum",
    "float_",
    "hyper",
    "int_",
    "opaque",
    "optional",
    "short",
    "string",
    "struct",
    "uchar",
    "uhyper",
    "uint",
    "union",
    "ushort",
    "var_array",
    "var_opaque",
    "void",
]  # fmt: skip

# Opcodes of the compiled program; the same numbers are #defined in _cffi_src/xdr.h.
OP_VOID = 0
OP_INT = 1
OP_UINT = 2
OP_HYPER = 3
OP_UHYPER = 4
OP_BOOL = 5
OP_FLOAT = 6
OP_DOUBLE = 7
OP_ENUM = 8
OP_FOPAQUE = 9
OP_VOPAQUE = 10
OP_STRING = 11
OP_FARRAY = 12
OP_VARRAY = 13
OP_OPTIONAL = 14
OP_STRUCT = 15
OP_UNION = 16

#: Length limit used when a variable-length item declares none (XDR's own limit).
UNLIMITED = 0xFFFFFFFF

_I32 = _struct.Struct(">i")
_U32 = _struct.Struct(">I")
_I64 = _struct.Struct(">q")
_U64 = _struct.Struct(">Q")
_F32 = _struct.Struct(">f")
_F64 = _struct.Struct(">d")
_ZERO_PAD = (b"", b"\0\0\0", b"\0\0", b"\0")


def _load_native() -> ModuleType | None:
    if os.environ.get("VIRT_NO_NATIVE") == "1":
        return None
    try:
        from virt.util import _xdr  # type: ignore[attr-defined]
    except ImportError:
        return None
    if not hasattr(_xdr, "Program") and _xdr.lib.xdr_install(b"virt.util._xdr") != 0:
        return None
    _xdr.set_error_class(RPCError)
    return _xdr


_native = _load_native()
#: True when the C engine is in use.
NATIVE = _native is not None


# ---- errors shared by both engines (same text as xdr.c) ------------------------------------------


def _fail(message: str) -> RPCError:
    return RPCError(message)


def _type_error(expected: str, value: object) -> RPCError:
    return RPCError(f"XDR encode: expected {expected}, got {type(value).__name__}")


def _range_error() -> RPCError:
    return RPCError("XDR encode: value out of range")


def _truncated() -> RPCError:
    return RPCError("XDR decode: truncated data")


def _as_input(data: Any) -> bytes | memoryview:
    if isinstance(data, bytes):
        return data
    try:
        view = memoryview(data)
        if view.c_contiguous:
            return view.cast("B")
    except (TypeError, ValueError):
        pass
    raise _fail("XDR decode: expected bytes-like data")


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        try:
            view = memoryview(value)
            if view.c_contiguous:
                return view.tobytes()
        except ValueError:
            pass
    raise _type_error("bytes", value)


class Codec(NamedTuple):
    """The four operations of one declaration, bound to one engine."""

    encode: Callable[[Any], bytes]
    decode: Callable[[Any], Any]
    decode_from: Callable[[Any, int], tuple[Any, int]]
    encode_framed: Callable[[bytes, Any], bytes]


class XdrType:
    """A declaration: encodes values to XDR bytes and decodes them back.

    ``encode``, ``decode``, ``decode_from`` and ``encode_framed`` are bound on first use to the
    native engine when it is available, else to the pure-Python one; :meth:`codec` picks one
    explicitly.
    """

    op: int = -1
    #: Fewest bytes an encoded value takes (an array's elements must take at least one).
    min_size: int = 0
    _program: tuple[bytes, tuple[Any, ...]] | None = None
    _compiled: Any = None  # the native engine's Program

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<xdr {self.name}>"

    # -- public operations (rebound per instance on first use) --

    def encode(self, value: Any) -> bytes:
        """The XDR bytes of *value*."""
        self._bind()
        return self.encode(value)

    def decode(self, data: Any) -> Any:
        """The value encoded in *data*, which must hold exactly one value."""
        self._bind()
        return self.decode(data)

    def decode_from(self, data: Any, offset: int) -> tuple[Any, int]:
        """The value encoded at *offset* in *data* and the offset just past it."""
        self._bind()
        return self.decode_from(data, offset)

    def encode_framed(self, head: bytes, value: Any) -> bytes:
        """A framed message: 4-byte big-endian total length, *head*, then the encoded *value*."""
        self._bind()
        return self.encode_framed(head, value)

    def _bind(self) -> None:
        # Instance attributes win over the methods from now on: later calls go straight to the engine.
        vars(self).update(self.codec()._asdict())

    def codec(self, native: bool | None = None) -> Codec:
        """The operations on the native engine (``native=True``), the pure one (False) or the default."""
        if native is None:
            native = _native is not None
        if native:
            if _native is None:
                raise RuntimeError("the native XDR engine (virt.util._xdr) is not available")
            if self._compiled is None:
                self._compiled = _native.Program(*self.program())
            run = self._compiled
            return Codec(run.encode, run.decode, run.decode_from, run.encode_framed)
        return Codec(self._py_encode, self._py_decode, self._py_decode_from, self._py_encode_framed)

    # -- program compilation --

    def program(self) -> tuple[bytes, tuple[Any, ...]]:
        """The compiled program (int32 words, native order) and its constants (struct classes, names)."""
        if self._program is None:
            words: list[int] = [0]
            consts: list[Any] = []
            placed: dict[int, int] = {}

            def place(t: XdrType) -> int:
                at = placed.get(id(t))
                if at is None:
                    operands = t._operands(place, consts)  # children first: references point backwards
                    at = len(words)
                    words.append(t.op)
                    words.extend(operands)
                    placed[id(t)] = at
                return at

            words[0] = place(self)
            prog = array("i", [w - (1 << 32) if w > 0x7FFFFFFF else w for w in words]).tobytes()
            self._program = (prog, tuple(consts))
        return self._program

    def _operands(self, place: Callable[[XdrType], int], consts: list[Any]) -> list[int]:
        return []

    # -- pure-Python engine --

    def _enc(self, value: Any, out: bytearray) -> None:
        raise NotImplementedError

    def _dec(self, buf: bytes | memoryview, pos: int) -> tuple[Any, int]:
        raise NotImplementedError

    def _py_encode(self, value: Any) -> bytes:
        out = bytearray()
        self._enc(value, out)
        return bytes(out)

    def _py_encode_framed(self, head: bytes, value: Any) -> bytes:
        if not isinstance(head, bytes):
            raise TypeError("XDR: header must be bytes")
        out = bytearray(4)
        out += head
        self._enc(value, out)
        if len(out) > 0xFFFFFFFF:
            raise _fail("XDR encode: message too large")
        _U32.pack_into(out, 0, len(out))
        return bytes(out)

    def _py_decode(self, data: Any) -> Any:
        buf = _as_input(data)
        value, pos = self._dec(buf, 0)
        if pos != len(buf):
            raise _fail(f"XDR decode: {len(buf) - pos} trailing bytes")
        return value

    def _py_decode_from(self, data: Any, offset: int) -> tuple[Any, int]:
        if not isinstance(offset, int):
            raise TypeError("decode_from(program, consts, data, offset: int)")
        buf = _as_input(data)
        if not 0 <= offset <= len(buf):
            raise _fail("XDR decode: offset out of range")
        return self._dec(buf, offset)


class Void(XdrType):
    op = OP_VOID

    def _enc(self, value: Any, out: bytearray) -> None:
        if value is not None:
            raise _type_error("None", value)

    def _dec(self, buf: bytes | memoryview, pos: int) -> tuple[Any, int]:
        return None, pos


class Int(XdrType):
    """A 32-bit integer, signed or not, optionally narrowed (char, short and their unsigned kin)."""

    min_size = 4

    def __init__(self, name: str, lo: int, hi: int, signed: bool) -> None:
        super().__init__(name)
        self.lo, self.hi, self.signed = lo, hi, signed
        self.op = OP_INT if signed else OP_UINT
        self._s = _I32 if signed else _U32

    def _operands(self, place: Callable[[XdrType], int], consts: list[Any]) -> list[int]:
        return [self.lo, self.hi]

    def _enc(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, int):
            raise _type_error("int", value)
        if not self.lo <= value <= self.hi:
            raise _range_error()
        out += self._s.pack(value)

    def _dec(self, buf: bytes | memoryview, pos: int) -> tuple[Any, int]:
        if len(buf) - pos < 4:
            raise _truncated()
        value = self._s.unpack_from(buf, pos)[0]
        if not self.lo <= value <= self.hi:
            raise _fail(f"XDR decode: value {value} out of range")
        return value, pos + 4


class Hyper(XdrType):
    """A 64-bit integer, signed or not."""

    min_size = 8

    def __init__(self, name: str, signed: bool) -> None:
        super().__init__(name)
        self.op = OP_HYPER if signed else OP_UHYPER
        self._s = _I64 if signed else _U64
        self.lo, self.hi = (-(1 << 63), (1 << 63) - 1) if signed else (0, (1 << 64) - 1)

    def _enc(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, int):
            raise _type_error("int", value)
        if not self.lo <= value <= self.hi:
            raise _range_error()
        out += self._s.pack(value)

    def _dec(self, buf: bytes | memoryview, pos: int) -> tuple[Any, int]:
        if len(buf) - pos < 8:
            raise _truncated()
        return self._s.unpack_from(buf, pos)[0], pos + 8


class Bool(XdrType):
    op = OP_BOOL
    min_size = 4

    def _enc(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, int):
            raise _type_error("bool", value)
        if value != 0 and value != 1:
            raise _range_error()
        out += _U32.pack(value)

    def _dec(self, buf: bytes | memoryview, pos: int) -> tuple[Any, int]:
        if len(buf) - pos < 4:
            raise _truncated()
        value = _U32.unpack_from(buf, pos)[0]
        if value > 1:
            raise _fail(f"XDR decode: invalid bool value {value}")
        return value == 1, pos + 4


class Float(XdrType):
    """IEEE single (``float``) or double precision."""

    def __init__(self, name: str, double: bool) -> None:
        super().__init__(name)
        self.op = OP_DOUBLE if double else OP_FLOAT
        self.min_size = 8 if double else 4
        self._s = _F64 if double else _F32

    def _enc(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, (int, float)):
            raise _type_error("float", value)
        try:
            out += self._s.pack(float(value))
        except OverflowError:
            raise _range_error() from None

    def _dec(self, buf: bytes | memoryview, pos: int) -> tuple[Any, int]:
        if len(buf) - pos < self.min_size:
            raise _truncated()
        return self._s.unpack_from(buf, pos)[0], pos + self.min_size


class Enum(XdrType):
    """An enum: a signed 32-bit integer restricted to the declared values (decoded as ``int``)."""

    op = OP_ENUM
    min_size = 4

    def __init__(self, name: str, members: Mapping[str, int]) -> None:
        super().__init__(name)
        self.members = dict(members)
        values = sorted(set(self.members.values()))
        if not values or values[0] < -(1 << 31) or values[-1] >= 1 << 31:
            raise ValueError(f"XDR enum {name}: values must be 32-bit signed integers")
        self.values = frozenset(values)
        self._sorted = values

    def _operands(self, place: Callable[[XdrType], int], consts: list[Any]) -> list[int]:
        return [len(self._sorted), *self._sorted]

    def _enc(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, int):
            raise _type_error("int", value)
        if not -(1 << 63) <= value < 1 << 63:
            raise _range_error()
        if value not in self.values:
            raise _fail(f"XDR encode: invalid enum value {int(value)}")
        out += _I32.pack(value)

    def _dec(self, buf: bytes | memoryview, pos: int) -> tuple[Any, int]:
        if len(buf) - pos < 4:
            raise _truncated()
        value = _I32.unpack_from(buf, pos)[0]
        if value not in self.values:
            raise _fail(f"XDR decode: invalid enum value {value}")
        return value, pos + 4


def _check_padding(buf: bytes | memoryview, start: int, end: int) -> None:
    if any(buf[start:end]):
        raise _fail("XDR decode: non-zero padding")


class FixedOpaque(XdrType):
    op = OP_FOPAQUE

    def __init__(self, name: str, size: int) -> None:
        super().__init__(name)
        if not 0 <= size < 1 << 31:
            raise ValueError(f"XDR opaque[{size}]: bad size")
        self.size = size
        self.min_size = (size + 3) & ~3

    def _operands(self, place: Callable[[XdrType], int], consts: list[Any]) -> list[int]:
        return [self.size]

    def _enc(self, value: Any, out: bytearray) -> None:
        data = _as_bytes(value)
        if len(data) != self.size:
            raise _fail(f"XDR encode: length {len(data)} differs from fixed length {self.size}")
        out += data
        out += _ZERO_PAD[self.size & 3]

    def _dec(self, buf: bytes | memoryview, pos: int) -> tuple[Any, int]:
        end = pos + self.min_size
        if end > len(buf):
            raise _truncated()
        _check_padding(buf, pos + self.size, end)
        return bytes(buf[pos : pos + self.size]), end


class VarBytes(XdrType):
    """Variable-length opaque data (``bytes``) or a string (``str``), with a maximum length in bytes."""

    min_size = 4

    def __init__(self, name: str, maximum: int | None, text: bool) -> None:
        super().__init__(name)
        self.max = UNLIMITED if maximum is None else maximum
        if not 0 <= self.max <= UNLIMITED:
            raise ValueError(f"XDR {name}: bad maximum {maximum}")
        self.text = text
        self.op = OP_STRING if text else OP_VOPAQUE

    def _operands(self, place: Callable[[XdrType], int], consts: list[Any]) -> list[int]:
        return [self.max]

    def _enc(self, value: Any, out: bytearray) -> None:
        if self.text:
            if not isinstance(value, str):
                raise _type_error("str", value)
            try:
                data = str.encode(value, "utf-8", "surrogateescape")
            except UnicodeEncodeError:
                raise _fail("XDR encode: string is not encodable as UTF-8") from None
        else:
            data = _as_bytes(value)
        if len(data) > self.max:
            raise _fail(f"XDR encode: length {len(data)} exceeds maximum {self.max}")
        out += _U32.pack(len(data))
        out += data
        out += _ZERO_PAD[len(data) & 3]

    def _dec(self, buf: bytes | memoryview, pos: int) -> tuple[Any, int]:
        if len(buf) - pos < 4:
            raise _truncated()
        size = _U32.unpack_from(buf, pos)[0]
        if size > self.max:
            raise _fail(f"XDR decode: length {size} exceeds maximum {self.max}")
        start = pos + 4
        end = start + ((size + 3) & ~3)
        if end > len(buf):
            raise _truncated()
        _check_padding(buf, start + size, end)
        if self.text:
            # Decode large strings straight from a view: slicing bytes would copy them once more.
            chunk = memoryview(buf)[start : start + size] if size > 4096 else buf[start : start + size]
            return str(chunk, "utf-8", "surrogateescape"), end
        return bytes(buf[start : start + size]), end


class Array(XdrType):
    """A fixed-size (``size``) or variable-size (``max``) array of one element type, as a list."""

    def __init__(self, name: str, element: XdrType, size: int | None, maximum: int | None) -> None:
        super().__init__(name)
        if element.min_size < 1:
            raise ValueError(f"XDR {name}: array elements must take at least one byte")
        self.element = element
        self.fixed = size is not None
        if size is not None:
            if not 0 <= size < 1 << 31:
                raise ValueError(f"XDR {name}: bad size {size}")
            self.size = size
            self.op = OP_FARRAY
            self.min_size = size * element.min_size
        else:
            self.max = UNLIMITED if maximum is None else maximum
            if not 0 <= self.max <= UNLIMITED:
                raise ValueError(f"XDR {name}: bad maximum {maximum}")
            self.op = OP_VARRAY
            self.min_size = 4

    def _operands(self, place: Callable[[XdrType], int], consts: list[Any]) -> list[int]:
        return [self.size if self.fixed else self.max, place(self.element), self.element.min_size]

    def _enc(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, (list, tuple)):
            raise _type_error("list", value)
        if self.fixed:
            if len(value) != self.size:
                raise _fail(f"XDR encode: length {len(value)} differs from fixed length {self.size}")
        else:
            if len(value) > self.max:
                raise _fail(f"XDR encode: length {len(value)} exceeds maximum {self.max}")
            out += _U32.pack(len(value))
        enc = self.element._enc
        for item in value:
            enc(item, out)

    def _dec(self, buf: bytes | memoryview, pos: int) -> tuple[Any, int]:
        if self.fixed:
            count = self.size
        else:
            if len(buf) - pos < 4:
                raise _truncated()
            count = _U32.unpack_from(buf, pos)[0]
            pos += 4
            if count > self.max:
                raise _fail(f"XDR decode: length {count} exceeds maximum {self.max}")
            # Refuse before allocating: every element needs at least min_size bytes.
            if count * self.element.min_size > len(buf) - pos:
                raise _truncated()
        dec = self.element._dec
        items = []
        for _ in range(count):
            item, pos = dec(buf, pos)
            items.append(item)
        return items, pos


class Optional(XdrType):
    """XDR optional data (``*``): ``None`` or the value."""

    op = OP_OPTIONAL
    min_size = 4

    def __init__(self, name: str, element: XdrType) -> None:
        super().__init__(name)
        self.element = element

    def _operands(self, place: Callable[[XdrType], int], consts: list[Any]) -> list[int]:
        return [place(self.element)]

    def _enc(self, value: Any, out: bytearray) -> None:
        if value is None:
            out += b"\0\0\0\0"
        else:
            out += b"\0\0\0\1"
            self.element._enc(value, out)

    def _dec(self, buf: bytes | memoryview, pos: int) -> tuple[Any, int]:
        if len(buf) - pos < 4:
            raise _truncated()
        flag = _U32.unpack_from(buf, pos)[0]
        if flag == 0:
            return None, pos + 4
        if flag != 1:
            raise _fail(f"XDR decode: invalid optional flag {flag}")
        return self.element._dec(buf, pos + 4)


def _field_name(name: str) -> str:
    return name + "_" if keyword.iskeyword(name) else name


class Struct(XdrType):
    """A struct; values are instances of :attr:`Value`, a namedtuple (``T(field=...)`` builds one)."""

    op = OP_STRUCT

    def __init__(self, name: str, fields: Sequence[tuple[str, XdrType]]) -> None:
        super().__init__(name)
        self.fields = list(fields)
        self.min_size = sum(t.min_size for _, t in self.fields)
        self._types = [t for _, t in self.fields]
        self._value: type[Any] | None = None

    @property
    def Value(self) -> type[Any]:
        """The namedtuple class of this struct's values (made on first use: protocols declare hundreds)."""
        if self._value is None:
            self._value = namedtuple(self.name, [_field_name(f) for f, _ in self.fields])  # type: ignore[misc]
            self._new = partial(tuple.__new__, self._value)
        return self._value

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """A value of this struct."""
        return self.Value(*args, **kwargs)

    def _operands(self, place: Callable[[XdrType], int], consts: list[Any]) -> list[int]:
        refs = [place(t) for t in self._types]
        consts.append(self.Value)
        return [len(refs), len(consts) - 1, *refs]

    def _enc(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, (tuple, list)):
            raise _type_error("tuple", value)
        if len(value) != len(self._types):
            raise _fail(f"XDR encode: {self.name} needs {len(self._types)} fields, got {len(value)}")
        for t, item in zip(self._types, value, strict=False):
            t._enc(item, out)

    def _dec(self, buf: bytes | memoryview, pos: int) -> tuple[Any, int]:
        items = []
        for t in self._types:
            item, pos = t._dec(buf, pos)
            items.append(item)
        if self._value is None:
            self.Value  # noqa: B018 - creates the class and self._new
        return self._new(items), pos


class Union(XdrType):
    """A discriminated union; values are ``(discriminant, value)`` pairs."""

    op = OP_UNION

    def __init__(
        self, name: str, discriminant: XdrType, arms: Mapping[int, XdrType], default: XdrType | None
    ) -> None:
        super().__init__(name)
        if not isinstance(discriminant, (Int, Enum, Bool)):
            raise TypeError(f"XDR union {name}: the discriminant must be an int, unsigned int, enum or bool")
        self.discriminant = discriminant
        self.arms = dict(arms)
        self.default = default
        # Arms are found by the discriminant's 32-bit wire word, the same way in C and here.
        self._by_word = {_U32.unpack(discriminant._py_encode(case))[0]: arm for case, arm in self.arms.items()}
        candidates = [*self.arms.values(), *([default] if default is not None else [])]
        self.min_size = 4 + min((t.min_size for t in candidates), default=0)

    def _operands(self, place: Callable[[XdrType], int], consts: list[Any]) -> list[int]:
        disc = place(self.discriminant)
        default = place(self.default) if self.default is not None else -1
        pairs = [(word, place(arm)) for word, arm in sorted(self._by_word.items())]
        consts.append(self.name)
        return [len(consts) - 1, disc, default, len(pairs), *(x for pair in pairs for x in pair)]

    def _enc(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, (tuple, list)):
            raise _type_error("tuple", value)
        if len(value) != 2:
            raise _fail(f"XDR encode: {self.name} value must be (discriminant, value)")
        start = len(out)
        self.discriminant._enc(value[0], out)
        arm = self._by_word.get(_U32.unpack_from(out, start)[0], self.default)
        if arm is None:
            raise _fail(f"XDR encode: invalid discriminant {value[0]} for {self.name}")
        arm._enc(value[1], out)

    def _dec(self, buf: bytes | memoryview, pos: int) -> tuple[Any, int]:
        if len(buf) - pos < 4:
            raise _truncated()
        word = _U32.unpack_from(buf, pos)[0]
        disc, pos = self.discriminant._dec(buf, pos)
        arm = self._by_word.get(word, self.default)
        if arm is None:
            raise _fail(f"XDR decode: invalid discriminant {disc} for {self.name}")
        value, pos = arm._dec(buf, pos)
        return (disc, value), pos


# ---- the declaration vocabulary -------------------------------------------------------------------

void = Void("void")
int_ = Int("int", -(1 << 31), (1 << 31) - 1, True)
uint = Int("unsigned int", 0, 0xFFFFFFFF, False)
# rpcgen sends char/short as a full 32-bit word; the declared range is enforced both ways.
char = Int("char", -128, 127, True)
uchar = Int("unsigned char", 0, 255, False)
short = Int("short", -(1 << 15), (1 << 15) - 1, True)
ushort = Int("unsigned short", 0, 0xFFFF, False)
hyper = Hyper("hyper", True)
uhyper = Hyper("unsigned hyper", False)
bool_ = Bool("bool")
float_ = Float("float", False)
double = Float("double", True)


def enum(name: str, members: Mapping[str, int] | type[IntEnum] | Iterable[tuple[str, int]]) -> Enum:
    """An enum with the given members (a mapping, pairs, or an IntEnum class)."""
    if isinstance(members, type) and issubclass(members, IntEnum):
        return Enum(name, {m.name: int(m) for m in members})
    return Enum(name, dict(members))


def opaque(size: int) -> FixedOpaque:
    """Fixed-length opaque data: ``opaque name[size]``."""
    return FixedOpaque(f"opaque[{size}]", size)


def var_opaque(maximum: int | None = None) -> VarBytes:
    """Variable-length opaque data: ``opaque name<maximum>``."""
    return VarBytes(f"opaque<{'' if maximum is None else maximum}>", maximum, text=False)


def string(maximum: int | None = None) -> VarBytes:
    """A string: ``string name<maximum>`` (maximum in bytes of UTF-8)."""
    return VarBytes(f"string<{'' if maximum is None else maximum}>", maximum, text=True)


def array_(element: XdrType, size: int) -> Array:
    """A fixed-length array: ``type name[size]``."""
    return Array(f"{element.name}[{size}]", element, size, None)


def var_array(element: XdrType, maximum: int | None = None) -> Array:
    """A variable-length array: ``type name<maximum>``."""
    return Array(f"{element.name}<{'' if maximum is None else maximum}>", element, None, maximum)


def optional(element: XdrType) -> Optional:
    """Optional data: ``type *name``."""
    return Optional(f"{element.name} *", element)


def struct(name: str, fields: Sequence[tuple[str, XdrType]]) -> Struct:
    """A struct with the given ``(field name, type)`` pairs, in wire order."""
    return Struct(name, fields)


def union(
    name: str,
    discriminant: XdrType,
    arms: Mapping[int, XdrType | tuple[str, XdrType]],
    default: XdrType | tuple[str, XdrType] | None = None,
) -> Union:
    """A discriminated union: ``{case value: arm type}`` (an arm may be ``(name, type)``; void arms use ``void``)."""

    def arm_type(arm: XdrType | tuple[str, XdrType]) -> XdrType:
        return arm[1] if isinstance(arm, tuple) else arm

    return Union(
        name,
        discriminant,
        {case: arm_type(arm) for case, arm in arms.items()},
        arm_type(default) if default is not None else None,
    )
