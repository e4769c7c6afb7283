"""Property tests: the native and pure-Python XDR engines agree on random declarations, values and bytes."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from virt.util import xdr
from virt.util.errors import VirtError

pytestmark = pytest.mark.skipif(not xdr.NATIVE, reason="native engine not built")

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---- random declarations --------------------------------------------------------------------------

small_max = st.one_of(st.none(), st.integers(0, 6))
enums = st.lists(st.integers(-(1 << 31), (1 << 31) - 1), min_size=1, max_size=5, unique=True).map(
    lambda vals: xdr.enum("e", {f"V{i}": v for i, v in enumerate(vals)})
)
leaves = st.one_of(
    st.sampled_from(
        [xdr.int_, xdr.uint, xdr.char, xdr.uchar, xdr.short, xdr.ushort, xdr.hyper, xdr.uhyper, xdr.bool_,
         xdr.float_, xdr.double]
    ),
    enums,
    st.integers(0, 7).map(xdr.opaque),
    small_max.map(xdr.var_opaque),
    small_max.map(xdr.string),
)  # fmt: skip


def _sized(t: xdr.XdrType) -> xdr.XdrType:
    """Arrays need elements that take at least one byte."""
    return t if t.min_size >= 1 else xdr.struct("pad", [("t", t), ("n", xdr.int_)])


def _extend(children: st.SearchStrategy[xdr.XdrType]) -> st.SearchStrategy[xdr.XdrType]:
    discriminants = st.one_of(st.sampled_from([xdr.int_, xdr.uint, xdr.bool_]), enums)

    @st.composite
    def unions(draw: st.DrawFn) -> xdr.XdrType:
        disc = draw(discriminants)
        cases = draw(st.lists(_case_values(disc), min_size=1, max_size=4, unique=True))
        arms = {c: draw(st.one_of(children, st.just(xdr.void))) for c in cases}
        default = draw(st.one_of(st.none(), children, st.just(xdr.void)))
        return xdr.union("u", disc, arms, default)

    return st.one_of(
        st.builds(lambda t, m: xdr.var_array(_sized(t), m), children, small_max),
        st.builds(lambda t, n: xdr.array_(_sized(t), n), children, st.integers(0, 3)),
        children.map(xdr.optional),
        st.lists(children, max_size=4).map(lambda ts: xdr.struct("s", [(f"f{i}", t) for i, t in enumerate(ts)])),
        unions(),
    )


def _word(disc: xdr.XdrType, case: Any) -> int:
    return int.from_bytes(disc.codec(native=False).encode(case), "big")


def _case_values(disc: xdr.XdrType) -> st.SearchStrategy[Any]:
    if isinstance(disc, xdr.Enum):
        return st.sampled_from(sorted(disc.values))
    if isinstance(disc, xdr.Bool):
        return st.booleans()
    assert isinstance(disc, xdr.Int)
    return st.integers(disc.lo, disc.hi)


types = st.recursive(leaves, _extend, max_leaves=12)

# ---- values ---------------------------------------------------------------------------------------

WILD = [None, -1, 0, 1, 2, 1 << 31, 1 << 64, -(1 << 70), 1.5, float("inf"), "", "x", b"", b"xy", [], (), (1,), {}]


def values(t: xdr.XdrType, wild: bool) -> st.SearchStrategy[Any]:
    valid = _valid(t, wild)
    return st.one_of(valid, st.sampled_from(WILD)) if wild else valid


def _valid(t: xdr.XdrType, wild: bool) -> st.SearchStrategy[Any]:
    if isinstance(t, (xdr.Int, xdr.Hyper)):
        return st.integers(t.lo, t.hi)
    if isinstance(t, xdr.Bool):
        return st.booleans()
    if isinstance(t, xdr.Float):
        return st.floats(width=32 if t.min_size == 4 else 64)
    if isinstance(t, xdr.Enum):
        return st.sampled_from(sorted(t.values))
    if isinstance(t, xdr.FixedOpaque):
        return st.binary(min_size=t.size, max_size=t.size)
    if isinstance(t, xdr.VarBytes):
        limit = min(t.max, 8)
        if t.text:
            return st.text(max_size=limit).filter(lambda s: len(s.encode("utf-8", "surrogatepass")) <= t.max)
        return st.binary(max_size=limit)
    if isinstance(t, xdr.Array):
        if t.fixed:
            return st.lists(values(t.element, wild), min_size=t.size, max_size=t.size)
        return st.lists(values(t.element, wild), max_size=min(t.max, 4))
    if isinstance(t, xdr.Optional):
        return st.one_of(st.none(), values(t.element, wild))
    if isinstance(t, xdr.Struct):
        return st.tuples(*(values(f, wild) for _, f in t.fields)).map(lambda v: t.Value(*v))
    if isinstance(t, xdr.Union):
        options = [st.tuples(st.just(case), values(arm, wild)) for case, arm in t.arms.items()]
        if t.default is not None:
            others = _case_values(t.discriminant).filter(lambda c: _word(t.discriminant, c) not in t._by_word)
            options.append(st.tuples(others, values(t.default, wild)))
        return st.one_of(options)
    assert isinstance(t, xdr.Void)
    return st.none()


# ---- comparison -----------------------------------------------------------------------------------


def outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    """What a call did, comparable across engines: its result or its error (class and message)."""
    try:
        return ("ok", _canon(fn(*args)))
    except VirtError as err:
        return ("error", (type(err).__name__, str(err)))


def _canon(v: Any) -> Any:
    """A comparable form: types kept (bool vs int, struct class), floats by their bits (NaN, -0.0)."""
    if isinstance(v, float):
        return ("float", struct.pack(">d", v))
    if isinstance(v, (tuple, list)):
        return (type(v).__name__, tuple(_canon(x) for x in v))
    return (type(v).__name__, v)


def engines(t: xdr.XdrType) -> tuple[xdr.Codec, xdr.Codec]:
    return t.codec(native=True), t.codec(native=False)


@SETTINGS
@given(st.data())
def test_valid_values_round_trip_identically(data: st.DataObject) -> None:
    t = data.draw(types, "type")
    value = data.draw(values(t, wild=False), "value")
    c, p = engines(t)
    encoded = c.encode(value)
    assert encoded == p.encode(value)
    assert len(encoded) >= t.min_size and len(encoded) % 4 == 0
    back = c.decode(encoded)
    assert _canon(back) == _canon(p.decode(encoded))
    # Decoding gives back what was encoded (floats compare by bits, float32 after rounding).
    assert c.encode(back) == encoded
    framed = c.encode_framed(b"head", value)
    assert framed == p.encode_framed(b"head", value)
    assert outcome(c.decode_from, framed, 8) == outcome(p.decode_from, framed, 8)


@SETTINGS
@given(st.data())
def test_engines_reject_the_same_values(data: st.DataObject) -> None:
    t = data.draw(types, "type")
    value = data.draw(values(t, wild=True), "value")
    c, p = engines(t)
    assert outcome(c.encode, value) == outcome(p.encode, value)


@st.composite
def mutated(draw: st.DrawFn, encoded: bytes) -> bytes:
    data = bytearray(encoded)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "truncate", "append", "insert", "word"]))
        pos = draw(st.integers(0, len(data)))
        if kind == "flip" and data:
            data[min(pos, len(data) - 1)] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[pos:]
        elif kind == "append":
            data += draw(st.binary(min_size=1, max_size=8))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "word" and len(data) >= 4:
            at = min(pos, len(data) - 4) & ~3
            data[at : at + 4] = draw(st.sampled_from([0, 1, 2, 3, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF])).to_bytes(
                4, "big"
            )
    return bytes(data)


@SETTINGS
@given(st.data())
def test_engines_agree_on_mutated_bytes(data: st.DataObject) -> None:
    t = data.draw(types, "type")
    value = data.draw(values(t, wild=False), "value")
    c, p = engines(t)
    bad = data.draw(mutated(c.encode(value)), "bytes")
    assert outcome(c.decode, bad) == outcome(p.decode, bad)
    offset = data.draw(st.integers(0, len(bad)), "offset")
    assert outcome(c.decode_from, bad, offset) == outcome(p.decode_from, bad, offset)


@SETTINGS
@given(st.binary(max_size=64), types)
def test_engines_agree_on_random_bytes(blob: bytes, t: xdr.XdrType) -> None:
    c, p = engines(t)
    assert outcome(c.decode, blob) == outcome(p.decode, blob)


def test_float_rounding_matches() -> None:
    c, p = engines(xdr.float_)
    for v in (0.1, 3.4028235677973366e38, 3.4028236e38, -1e-46, math.nan, -math.inf, 1 << 200):
        assert outcome(c.encode, v) == outcome(p.encode, v)
