"""Tests for virt.util.bitmap: libvirt's cpuset notation, checked against libvirt itself where available."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st
from virt.util.bitmap import (
    CPUMASK_LEN,
    Bitmap,
    format_cpuset,
    format_mask,
    parse_cpuset,
    parse_mask,
)
from virt.util.errors import ErrorNumber, InvalidArgError

if TYPE_CHECKING:
    from conftest import LibvirtPython


@pytest.mark.parametrize(
    ("text", "bits"),
    [
        ("0-3,^2,8", {0, 1, 3, 8}),
        ("5", {5}),
        ("0-0", {0}),
        (" 1 - 3 , 5 ", {1, 2, 3, 5}),
        ("0,", {0}),  # a trailing comma is accepted
        ("^1,0-3", {0, 1, 2, 3}),  # '^' only clears what is already set
        ("0-3,^1,1", {0, 1, 2, 3}),
        ("0-+3", {0, 1, 2, 3}),  # the range end goes through strtol
        ("\t0,\n1", {0, 1}),
        ("0,^0", set()),
        ("16383", {16383}),
    ],
)
def test_parse(text: str, bits: set[int]) -> None:
    assert parse_cpuset(text) == bits


@pytest.mark.parametrize(
    "text",
    ["", " ", ",0", "0,,1", "^1-3", "3-1", "a", "0-", "0 1", "1-2-3", "-1", "0-3x", "^ 1", "16384", "0-16384",
     "^16384", "99999999999", "0-99999999999", "1\u00a0,2", "٣"],
)
def test_parse_errors_name_the_string(text: str) -> None:
    with pytest.raises(InvalidArgError) as info:
        parse_cpuset(text)
    assert info.value.code is ErrorNumber.INVALID_ARG
    assert str(info.value) == f"invalid argument: Failed to parse bitmap '{text}'"


def test_limit_is_configurable() -> None:
    assert parse_cpuset("100000", max_bits=None) == {100000}
    assert parse_cpuset("7", max_bits=8) == {7}
    with pytest.raises(InvalidArgError):
        parse_cpuset("8", max_bits=8)
    with pytest.raises(InvalidArgError):
        parse_cpuset("0-8", max_bits=8)


@pytest.mark.parametrize(
    ("bits", "text"),
    [(set(), ""), ({5}, "5"), ({0, 1}, "0-1"), ({0, 1, 3, 8}, "0-1,3,8"), (set(range(64)), "0-63"),
     ({0, 2, 4}, "0,2,4"), ({63, 64, 65, 200}, "63-65,200")],
)
def test_format(bits: set[int], text: str) -> None:
    assert format_cpuset(bits) == text


def test_format_rejects_negative_bits() -> None:
    with pytest.raises(InvalidArgError):
        format_cpuset([-1])


@given(st.sets(st.integers(min_value=0, max_value=CPUMASK_LEN - 1)))
def test_format_parse_round_trip(bits: set[int]) -> None:
    text = format_cpuset(bits)
    if bits:
        assert parse_cpuset(text) == bits
    else:
        assert text == ""


@given(st.integers(min_value=0, max_value=2**300))
def test_mask_round_trip(mask: int) -> None:
    text = format_mask(mask)
    assert mask == 0 or parse_mask(text, None) == mask
    assert Bitmap.from_mask(mask).to_hex() == (f"{mask:x}" if mask else "")


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 300), st.integers(0, 20)), min_size=1, max_size=12))
def test_parse_applies_items_in_order(items: list[tuple[bool, int, int]]) -> None:
    expected: set[int] = set()
    parts = []
    for negate, start, width in items:
        if negate:
            parts.append(f"^{start}")
            expected.discard(start)
        else:
            parts.append(f"{start}-{start + width}" if width else str(start))
            expected.update(range(start, start + width + 1))
    assert parse_cpuset(",".join(parts)) == expected


def test_bitmap_class() -> None:
    bitmap = Bitmap.parse("0-3,^2,8")
    assert list(bitmap) == [0, 1, 3, 8]
    assert len(bitmap) == 4 and 3 in bitmap and 2 not in bitmap and 10**6 not in bitmap
    bitmap.set(9)
    bitmap.clear(0)
    assert str(bitmap) == "1,3,8-9"
    assert bitmap.to_hex() == "30a"
    assert Bitmap.from_hex("0x30a") == bitmap
    assert Bitmap.from_hex("00000000,0000030a") == bitmap
    assert Bitmap.from_hex("") == Bitmap() and not Bitmap()
    assert (Bitmap([1, 2]) | Bitmap([5])).format() == "1-2,5"
    assert (Bitmap([1, 2]) & Bitmap([2, 3])).format() == "2"
    assert (Bitmap([1, 2]) - Bitmap([2])).format() == "1"
    bounded = Bitmap(size=4)
    with pytest.raises(InvalidArgError):
        bounded.set(4)
    with pytest.raises(InvalidArgError):
        Bitmap.from_mask(0x10, size=4)
    with pytest.raises(InvalidArgError):
        Bitmap.from_hex("xyz")


def _random_cpusets(count: int) -> list[str]:
    """Strings near the grammar: valid items, stray separators, blanks, signs, big numbers."""
    rng = random.Random(20230101)
    tokens = ["0", "1", "2", "3", "7", "8", "15", "63", "64", "16383", "16384", "100", "^", "-", ",", " ", "+",
              "0-3", "2-1", "^2", "4-8", "^0"]
    return ["".join(rng.choice(tokens) for _ in range(rng.randint(1, 7))) for _ in range(count)]


def test_agrees_with_libvirt(libvirt_python: LibvirtPython) -> None:
    """libvirt's test driver parses <vcpu cpuset='...'> and formats it back: we must do the same."""
    cases = sorted(set(_random_cpusets(400)) | {"0-3,^2,8", " 1 - 3 , 5 ", "0,", "0,^0", "16383", "16384"})
    observed = libvirt_python(
        """
        import re
        conn = libvirt.open("test:///default")
        result = []
        for cpuset in data:
            xml = ("<domain type='test'><name>bitmap</name><memory unit='MiB'>1</memory>"
                   "<vcpu cpuset='%s'>1</vcpu><os><type>hvm</type></os></domain>" % cpuset)
            try:
                dom = conn.defineXML(xml)
            except libvirt.libvirtError as err:
                result.append(["error", err.get_error_code()])
                continue
            found = re.search(r"cpuset='([^']*)'", dom.XMLDesc())
            result.append(["ok", found.group(1) if found else ""])
            dom.undefine()
        """,
        cases,
    )
    for text, (status, value) in zip(cases, observed, strict=True):
        try:
            ours = format_cpuset(parse_cpuset(text))
        except InvalidArgError:
            assert [status, value] == ["error", ErrorNumber.INVALID_ARG], text
            continue
        if ours == "":  # libvirt refuses an empty cpuset after parsing it
            assert [status, value] == ["error", ErrorNumber.CONFIG_UNSUPPORTED], text
        else:
            assert [status, value] == ["ok", ours], text
