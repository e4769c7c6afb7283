"""Tests for virt.util.units: libvirt's scaled integers and virsh's human-readable sizes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st
from virt.util.errors import ErrorNumber, InternalError, InvalidArgError, VirtError
from virt.util.units import (
    LLONG_MAX,
    ULLONG_MAX,
    format_capacity,
    format_int_pretty,
    parse_memory_kib,
    parse_scaled,
    parse_size,
    pretty_capacity,
    scale_integer,
    to_kib,
    unit_scale,
)

if TYPE_CHECKING:
    from conftest import LibvirtPython

KiB, MiB, GiB, TiB, PiB, EiB = (1024**n for n in range(1, 7))


@pytest.mark.parametrize(
    ("unit", "scale"),
    [
        ("b", 1), ("B", 1), ("byte", 1), ("Bytes", 1),
        ("k", KiB), ("K", KiB), ("KiB", KiB), ("kib", KiB), ("KIB", KiB),
        ("KB", 1000), ("kB", 1000), ("kb", 1000), ("Kb", 1000),
        ("m", MiB), ("MiB", MiB), ("MB", 1000**2),
        ("g", GiB), ("GiB", GiB), ("GB", 1000**3),
        ("t", TiB), ("TiB", TiB), ("TB", 1000**4),
        ("p", PiB), ("PiB", PiB), ("PB", 1000**5),
        ("e", EiB), ("EiB", EiB), ("EB", 1000**6),
    ],
)
def test_unit_scale(unit: str, scale: int) -> None:
    assert unit_scale(unit) == scale


@pytest.mark.parametrize("unit", ["x", "KiBB", "Ki", "KBB", "z", "ZiB", "kbytes", "iB", " k", "k "])
def test_unknown_unit(unit: str) -> None:
    with pytest.raises(InvalidArgError) as info:
        unit_scale(unit)
    assert str(info.value) == f"invalid argument: unknown suffix '{unit}'"


def test_scale_integer() -> None:
    assert scale_integer(3, None, 1024) == 3 * KiB
    assert scale_integer(3, "", 1) == 3
    assert scale_integer(3, "MiB", 1024) == 3 * MiB  # an explicit unit beats the default scale
    assert scale_integer(0, "EiB", 1, 1) == 0  # zero never overflows
    assert scale_integer(15, "EiB") == 15 * EiB  # the largest whole EiB count below 2^64
    with pytest.raises(InternalError):
        scale_integer(1, None, 0)


def test_overflow_is_numerical_overflow() -> None:
    with pytest.raises(VirtError) as info:
        scale_integer(16, "EiB")
    assert info.value.code is ErrorNumber.OVERFLOW
    assert str(info.value) == "numerical overflow: value too large: 16EiB"
    with pytest.raises(VirtError) as info:
        scale_integer(5, None, 1024, limit=4 * KiB)
    assert str(info.value) == "numerical overflow: value too large: 5"
    assert scale_integer(4, None, 1024, limit=4 * KiB) == 4 * KiB


def test_parse_scaled_values() -> None:
    assert parse_scaled("1", "GiB") == GiB
    assert parse_scaled(" +5", "KiB") == 5 * KiB
    assert parse_scaled("512", None, 1024) == 512 * KiB
    for bad in ["", "-1", "5 ", "0x10", "1.5", "abc", "١"]:
        with pytest.raises(InvalidArgError):
            parse_scaled(bad, "KiB")
    with pytest.raises(VirtError) as info:
        parse_scaled(str(2**64), "b")
    assert info.value.code is ErrorNumber.OVERFLOW


def test_parse_size_glued_suffix() -> None:
    assert parse_size("10G") == 10 * GiB
    assert parse_size("512MiB") == 512 * MiB
    assert parse_size("100", 1024) == 100 * KiB
    assert parse_size("1KB") == 1000
    with pytest.raises(InvalidArgError, match="unknown suffix ' MiB'"):
        parse_size("512 MiB")
    with pytest.raises(InvalidArgError):
        parse_size("G")


@given(st.integers(min_value=0, max_value=2**40), st.sampled_from(["b", "k", "KiB", "MB", "g", "TiB", "pb", None]))
def test_parse_scaled_is_multiplication(value: int, unit: str | None) -> None:
    expected = value * (unit_scale(unit) if unit else 1)
    if expected <= ULLONG_MAX:
        assert parse_scaled(str(value), unit) == expected
    else:
        with pytest.raises(VirtError):
            parse_scaled(str(value), unit)


@given(st.integers(min_value=0, max_value=ULLONG_MAX))
def test_to_kib_rounds_up(nbytes: int) -> None:
    kib = to_kib(nbytes)
    assert kib * 1024 >= nbytes > (kib - 1) * 1024 or nbytes == kib == 0


def test_memory_kib() -> None:
    assert parse_memory_kib("1", "GiB") == 1048576
    assert parse_memory_kib("1000", "b") == 1  # rounded up
    assert parse_memory_kib("1025", "b") == 2
    assert parse_memory_kib("524288") == 524288  # KiB by default
    assert parse_memory_kib(str(2**53 - 1)) == 2**53 - 1
    with pytest.raises(VirtError, match="size value too large"):
        parse_memory_kib(str(LLONG_MAX), "b")
    with pytest.raises(VirtError, match="value too large: 9007199254740992KiB"):
        parse_memory_kib(str(2**53), "KiB")


@pytest.mark.parametrize(
    ("nbytes", "text"),
    [(0, "0.00 B"), (512, "512.00 B"), (1023, "1023.00 B"), (1024, "1.00 KiB"), (1536, "1.50 KiB"),
     (GiB, "1.00 GiB"), (10 * GiB + GiB // 4, "10.25 GiB"), (TiB, "1.00 TiB"), (PiB * 3, "3.00 PiB"),
     (EiB, "1.00 EiB"), (ULLONG_MAX, "16.00 EiB")],
)
def test_format_capacity(nbytes: int, text: str) -> None:
    assert format_capacity(nbytes) == text


def test_pretty_values() -> None:
    assert pretty_capacity(3 * MiB) == (3.0, "MiB")
    assert format_int_pretty(0) == (0, "B")
    assert format_int_pretty(1536) == (1536, "B")
    assert format_int_pretty(2048) == (2, "KiB")
    assert format_int_pretty(3 * GiB) == (3, "GiB")
    assert format_int_pretty(1024 * PiB) == (1024, "PiB")


def test_memory_agrees_with_libvirt(libvirt_python: LibvirtPython) -> None:
    """libvirt's test driver parses <memory unit='...'> and reports KiB: we must agree, errors included."""
    cases = [
        ("1", "GiB"), ("1", "kb"), ("1", "KB"), ("1", "Kb"), ("1", "kib"), ("1000", "b"), ("1025", "b"),
        ("1", "bytes"), ("1", "byte"), ("1", "x"), ("1", ""), ("1", "KiBB"), ("1", "E"), ("1", "EB"),
        ("1", "p"), ("7", "TB"), ("3", "m"), ("12345", "MB"), ("18014398509481984", "KiB"),
        ("9007199254740991", "KiB"), ("9007199254740992", "KiB"), ("8796093022207", "MiB"),
        (str(LLONG_MAX), "b"), (str(LLONG_MAX - 1023), "b"), ("-1", "KiB"), ("+5", "KiB"), (" 5", "KiB"),
        ("5 ", "KiB"), ("0x10", "KiB"), ("1", "ZiB"), ("8", "EiB"), ("7", "EiB"),
    ]
    observed = libvirt_python(
        """
        import re
        conn = libvirt.open("test:///default")
        result = []
        for value, unit in data:
            xml = ("<domain type='test'><name>units</name><memory unit='%s'>%s</memory>"
                   "<os><type>hvm</type></os></domain>" % (unit, value))
            try:
                dom = conn.defineXML(xml)
            except libvirt.libvirtError as err:
                result.append(["error", err.get_error_code(), err.get_error_message()])
                continue
            result.append(["ok", int(re.search(r"<memory unit='KiB'>(\\d+)<", dom.XMLDesc()).group(1)), None])
            dom.undefine()
        """,
        cases,
    )
    for (value, unit), (status, got, message) in zip(cases, observed, strict=True):
        try:
            ours = parse_memory_kib(value, unit)
        except VirtError as err:
            assert status == "error", (value, unit, got)
            if got == ErrorNumber.XML_ERROR:  # the XML layer words a malformed number itself
                assert err.code is ErrorNumber.INVALID_ARG, (value, unit)
            else:
                assert (err.code, str(err)) == (got, message), (value, unit)
            continue
        assert [status, got] == ["ok", ours], (value, unit)
