"""XDR engine: wire format, limits and rejection of bad values and data, on both engines."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from array import array
from pathlib import Path

import pytest
from virt.util import xdr
from virt.util.errors import RPCError, VirtError

ENGINES = [pytest.param(True, id="native"), pytest.param(False, id="pure")]


@pytest.fixture(params=ENGINES)
def native(request: pytest.FixtureRequest) -> bool:
    if request.param and not xdr.NATIVE:
        pytest.skip("native engine not built")
    return bool(request.param)


Domain = xdr.struct(
    "remote_nonnull_domain", [("name", xdr.string(64)), ("uuid", xdr.opaque(16)), ("id", xdr.int_)]
)
Info = xdr.struct(
    "remote_domain_get_info_ret",
    [("state", xdr.uchar), ("maxMem", xdr.uhyper), ("memory", xdr.uhyper), ("nrVirtCpu", xdr.ushort),
     ("cpuTime", xdr.uhyper)],
)  # fmt: skip
Param = xdr.union(
    "remote_typed_param_value",
    xdr.int_,
    {1: ("i", xdr.int_), 2: ("ui", xdr.uint), 3: ("l", xdr.hyper), 6: ("b", xdr.bool_), 7: ("s", xdr.string(8))},
)
State = xdr.enum("state", {"NOSTATE": 0, "RUNNING": 1, "BLOCKED": 2, "PAUSED": 3, "NEG": -7})


def enc(t: xdr.XdrType, value: object, native: bool) -> bytes:
    return t.codec(native).encode(value)


def dec(t: xdr.XdrType, data: object, native: bool) -> object:
    return t.codec(native).decode(data)


def rejects(message: str, fn, *args) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RPCError, match=re.escape(message)):
        fn(*args)


def test_opcodes_match_the_c_header() -> None:
    header = (Path(__file__).parents[1] / "src" / "_cffi_src" / "xdr.h").read_text()
    defined = {m[1]: int(m[2]) for m in re.finditer(r"#define XDR_OP_(\w+) (\d+)", header)}
    defined.pop("COUNT")
    assert defined == {name[3:]: getattr(xdr, name) for name in dir(xdr) if name.startswith("OP_")}


@pytest.mark.parametrize(
    ("t", "value", "wire"),
    [
        (xdr.int_, -2, "fffffffe"),
        (xdr.uint, 0xFFFFFFFF, "ffffffff"),
        (xdr.hyper, -(1 << 63), "8000000000000000"),
        (xdr.uhyper, (1 << 64) - 1, "ffffffffffffffff"),
        (xdr.uchar, 255, "000000ff"),
        (xdr.char, -1, "ffffffff"),
        (xdr.bool_, True, "00000001"),
        (xdr.float_, 1.5, "3fc00000"),
        (xdr.double, -2.0, "c000000000000000"),
        (State, -7, "fffffff9"),
        (xdr.opaque(3), b"abc", "61626300"),
        (xdr.var_opaque(), b"abcde", "000000056162636465000000"),
        (xdr.string(), "", "00000000"),
        (xdr.string(10), "héé", "0000000568c3a9c3a9000000"),
        (xdr.optional(xdr.int_), None, "00000000"),
        (xdr.optional(xdr.int_), 5, "0000000100000005"),
        (xdr.var_array(xdr.int_, 4), [1, 2], "000000020000000100000002"),
        (xdr.array_(xdr.short, 2), [1, -1], "00000001ffffffff"),
        (Param, (7, "ab"), "00000007000000026162" + "0000"),
        (Param, (6, False), "0000000600000000"),
        (xdr.void, None, ""),
        (Info, (1, 2, 3, 4, 5), ("00000001" "0000000000000002" "0000000000000003" "00000004" "0000000000000005")),
    ],
)
def test_wire_format(native: bool, t: xdr.XdrType, value: object, wire: str) -> None:
    data = enc(t, value, native)
    assert data.hex() == wire
    assert dec(t, data, native) == (list(value) if isinstance(value, tuple) and not isinstance(t, (xdr.Struct, xdr.Union)) else value)


def test_struct_values_are_namedtuples(native: bool) -> None:
    value = Domain(name="vm1", uuid=bytes(range(16)), id=-1)
    back = dec(Domain, enc(Domain, value, native), native)
    assert type(back) is Domain.Value and back.name == "vm1" and back.id == -1 and back == value
    assert repr(back) == "remote_nonnull_domain(name='vm1', uuid=" + repr(bytes(range(16))) + ", id=-1)"
    assert enc(Domain, ["vm1", bytes(16), 3], native) == enc(Domain, Domain("vm1", bytes(16), 3), native)


def test_keyword_field_names_get_an_underscore() -> None:
    t = xdr.struct("args", [("from", xdr.int_), ("type", xdr.int_)])
    assert t(from_=1, type=2) == (1, 2)


def test_bool_decodes_to_bool(native: bool) -> None:
    assert dec(xdr.bool_, b"\0\0\0\1", native) is True
    assert dec(xdr.bool_, b"\0\0\0\0", native) is False


def test_decode_accepts_buffers(native: bool) -> None:
    data = enc(Domain, ("x", bytes(16), 1), native)
    for buf in (bytearray(data), memoryview(data), memoryview(bytearray(data)), array("B", data)):
        assert dec(Domain, buf, native) == ("x", bytes(16), 1)
    rejects("expected bytes-like data", dec, Domain, "text", native)
    rejects("expected bytes-like data", dec, Domain, memoryview(data * 2)[::2], native)


def test_encode_accepts_byte_buffers(native: bool) -> None:
    for value in (bytearray(b"abc"), memoryview(b"abc")):
        assert enc(xdr.var_opaque(), value, native) == b"\0\0\0\3abc\0"
    rejects("expected bytes, got memoryview", enc, xdr.var_opaque(), memoryview(b"abcdef")[::2], native)
    rejects("expected bytes, got str", enc, xdr.var_opaque(), "abc", native)


def test_undecodable_string_bytes_survive_a_round_trip(native: bool) -> None:
    data = b"\0\0\0\2\xff\xfe\0\0"
    text = dec(xdr.string(), data, native)
    assert text == "\udcff\udcfe"
    assert enc(xdr.string(), text, native) == data
    rejects("string is not encodable as UTF-8", enc, xdr.string(), "\ud800", native)


def test_decode_from_and_framing(native: bool) -> None:
    codec = Info.codec(native)
    body = codec.encode((1, 2, 3, 4, 5))
    head = b"H" * 24
    framed = codec.encode_framed(head, (1, 2, 3, 4, 5))
    assert framed == (28 + len(body)).to_bytes(4, "big") + head + body
    assert codec.decode_from(framed, 28) == ((1, 2, 3, 4, 5), len(framed))
    assert codec.decode_from(framed + b"more", 28)[1] == len(framed)
    rejects("offset out of range", codec.decode_from, framed, len(framed) + 1)
    rejects("offset out of range", codec.decode_from, framed, -1)
    rejects("offset out of range", codec.decode_from, framed, 1 << 80)


@pytest.mark.parametrize(
    ("t", "value", "message"),
    [
        (xdr.int_, 1 << 31, "value out of range"),
        (xdr.int_, 1 << 100, "value out of range"),
        (xdr.uint, -1, "value out of range"),
        (xdr.uchar, 256, "value out of range"),
        (xdr.uhyper, 1 << 64, "value out of range"),
        (xdr.hyper, -(1 << 63) - 1, "value out of range"),
        (xdr.int_, "1", "expected int, got str"),
        (xdr.int_, 1.0, "expected int, got float"),
        (xdr.bool_, 2, "value out of range"),
        (xdr.bool_, None, "expected bool, got NoneType"),
        (xdr.float_, 1e300, "value out of range"),
        (xdr.double, 1 << 2000, "value out of range"),
        (xdr.double, "1", "expected float, got str"),
        (State, 4, "invalid enum value 4"),
        (State, 1 << 70, "value out of range"),
        (xdr.opaque(2), b"abc", "length 3 differs from fixed length 2"),
        (xdr.var_opaque(2), b"abc", "length 3 exceeds maximum 2"),
        (xdr.string(2), "héé", "length 5 exceeds maximum 2"),
        (xdr.string(2), b"ab", "expected str, got bytes"),
        (xdr.var_array(xdr.int_, 1), [1, 2], "length 2 exceeds maximum 1"),
        (xdr.array_(xdr.int_, 1), [], "length 0 differs from fixed length 1"),
        (xdr.var_array(xdr.int_), {1}, "expected list, got set"),
        (Info, (1, 2, 3), "remote_domain_get_info_ret needs 5 fields, got 3"),
        (Info, {"state": 1}, "expected tuple, got dict"),
        (Param, (9, 1), "invalid discriminant 9 for remote_typed_param_value"),
        (Param, (1,), "remote_typed_param_value value must be (discriminant, value)"),
        (Param, (1, "x"), "expected int, got str"),
        (xdr.void, 0, "expected None, got int"),
    ],
)
def test_encode_rejects(native: bool, t: xdr.XdrType, value: object, message: str) -> None:
    rejects("XDR encode: " + message, enc, t, value, native)


@pytest.mark.parametrize(
    ("t", "wire", "message"),
    [
        (xdr.int_, "000000", "truncated data"),
        (xdr.hyper, "00000000000000", "truncated data"),
        (xdr.int_, "0000000000", "1 trailing bytes"),
        (xdr.uchar, "00000100", "value 256 out of range"),
        (xdr.char, "ffffff00", "value -256 out of range"),
        (xdr.bool_, "00000002", "invalid bool value 2"),
        (State, "00000004", "invalid enum value 4"),
        (xdr.optional(xdr.int_), "00000002", "invalid optional flag 2"),
        (xdr.opaque(3), "616263", "truncated data"),
        (xdr.opaque(3), "61626301", "non-zero padding"),
        (xdr.var_opaque(), "000000016100000000", "1 trailing bytes"),
        (xdr.var_opaque(), "0000000161", "truncated data"),
        (xdr.var_opaque(), "0000000161000100", "non-zero padding"),
        (xdr.string(2), "0000000361626300", "length 3 exceeds maximum 2"),
        (xdr.string(), "ffffffff", "truncated data"),
        (xdr.var_array(xdr.int_, 2), "00000003", "length 3 exceeds maximum 2"),
        # A huge element count is refused before any allocation.
        (xdr.var_array(xdr.int_), "7fffffff00000000", "truncated data"),
        (xdr.var_array(xdr.string()), "0000000200000000", "truncated data"),
        (Param, "0000000900000000", "invalid discriminant 9 for remote_typed_param_value"),
        (Param, "00000006", "truncated data"),
        (Param, "000000", "truncated data"),
    ],
)
def test_decode_rejects(native: bool, t: xdr.XdrType, wire: str, message: str) -> None:
    rejects("XDR decode: " + message, dec, t, bytes.fromhex(wire), native)


def test_errors_are_rpc_errors(native: bool) -> None:
    with pytest.raises(VirtError) as info:
        dec(xdr.int_, b"", native)
    assert info.value.code == 39 and str(info.value) == "RPC failure: XDR decode: truncated data"


def test_union_default_arm(native: bool) -> None:
    t = xdr.union("u", xdr.uint, {0: xdr.void}, default=xdr.string())
    assert enc(t, (0, None), native) == b"\0\0\0\0"
    assert enc(t, (0xFFFFFFFF, "a"), native) == bytes.fromhex("ffffffff0000000161000000")
    assert dec(t, bytes.fromhex("ffffffff0000000161000000"), native) == (0xFFFFFFFF, "a")


def test_union_on_enum_and_bool(native: bool) -> None:
    t = xdr.union("u", State, {-7: xdr.int_, 1: xdr.void})
    assert dec(t, enc(t, (-7, 3), native), native) == (-7, 3)
    rejects("XDR decode: invalid enum value 5", dec, t, bytes.fromhex("0000000500000000"), native)
    rejects("XDR decode: invalid discriminant 0 for u", dec, t, bytes.fromhex("00000000"), native)
    b = xdr.union("b", xdr.bool_, {True: xdr.int_, False: xdr.void})
    assert dec(b, enc(b, (True, 4), native), native) == (True, 4)


def test_declarations_are_checked() -> None:
    with pytest.raises(ValueError):
        xdr.var_array(xdr.void)
    with pytest.raises(TypeError):
        xdr.union("u", xdr.string(), {1: xdr.void})
    with pytest.raises(ValueError):
        xdr.enum("e", {"A": 1 << 40})
    with pytest.raises(ValueError):
        xdr.opaque(-1)


@pytest.mark.skipif(not xdr.NATIVE, reason="native engine not built")
def test_native_checks_programs() -> None:
    from virt.util import _xdr  # type: ignore[attr-defined]

    prog, consts = Info.program()
    assert _xdr.check_program(prog, consts) is True

    def words(*w: int) -> bytes:
        return array("i", w).tobytes()

    assert _xdr.check_program(words(1, xdr.OP_OPTIONAL, 1), ()) is False  # refers to itself
    assert _xdr.check_program(words(1, xdr.OP_VARRAY, 0, 3, 4), ()) is False  # forward reference
    assert _xdr.check_program(words(1, 99), ()) is False  # unknown opcode
    assert _xdr.check_program(words(1, xdr.OP_STRUCT, 0, 0), ()) is False  # no class constant
    assert _xdr.check_program(words(1, xdr.OP_STRUCT, 0, 0), (int,)) is False  # not a tuple class
    assert _xdr.check_program(words(1, xdr.OP_ENUM, 5, 1), ()) is False  # runs past the end
    assert _xdr.check_program(words(2, xdr.OP_INT, 0, 1), ()) is False  # root not at a node start
    with pytest.raises(ValueError, match="malformed program"):
        _xdr.Program(words(1, xdr.OP_OPTIONAL, 1), ())


def test_no_native_at_run_time() -> None:
    code = "from virt.util import xdr; print(xdr.NATIVE, xdr.int_.decode(b'\\0\\0\\0\\7'))"
    env = {**os.environ, "VIRT_NO_NATIVE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "7"]
