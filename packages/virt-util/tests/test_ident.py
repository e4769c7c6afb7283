"""Tests for virt.util.ident: UUID and MAC address parsing, formatting and generation, checked against libvirt."""

from __future__ import annotations

import random
import uuid
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st
from virt.util.errors import ErrorNumber, InvalidArgError, XMLError
from virt.util.ident import (
    MAC_PREFIXES,
    format_mac,
    format_uuid,
    generate_mac,
    generate_uuid,
    is_broadcast,
    is_multicast,
    is_valid_uuid,
    parse_mac,
    parse_uuid,
    validate_mac,
)

if TYPE_CHECKING:
    from conftest import LibvirtPython

TEST_UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"  # the domain "test" of libvirt's test:///default


@pytest.mark.parametrize(
    "text",
    [
        TEST_UUID,
        TEST_UUID.replace("-", ""),
        TEST_UUID.upper(),
        f" {TEST_UUID} ",
        f"\t{TEST_UUID}\n",
        f"-{TEST_UUID}",
        "66 95 eb 01 f6 a4 83 04 79 aa 97 f2 50 2e 19 3f",
        "6695-eb01--f6a48304-79aa97f2502e193f",
    ],
)
def test_parse_uuid_liberal_forms(text: str) -> None:
    assert parse_uuid(text) == uuid.UUID(TEST_UUID)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        TEST_UUID[:-1],
        TEST_UUID + "0",
        TEST_UUID + "-",  # separators only between pairs, not after the last
        "6-695eb01f6a4830479aa97f2502e193f",  # not inside a pair
        TEST_UUID + " x",
        TEST_UUID.replace("6", "g", 1),
        "{" + TEST_UUID + "}",
        TEST_UUID.replace("-", ":"),
    ],
)
def test_parse_uuid_rejects(text: str) -> None:
    with pytest.raises(InvalidArgError) as info:
        parse_uuid(text)
    assert str(info.value) == f"invalid argument: malformed uuid '{text}'"


@given(st.uuids())
def test_uuid_round_trip(value: uuid.UUID) -> None:
    text = format_uuid(value)
    assert text == str(value) and text == text.lower()
    assert parse_uuid(text) == value
    assert parse_uuid(value.hex.upper()) == value
    assert format_uuid(value.bytes) == text
    assert format_uuid(" ".join(f"{b:02X}" for b in value.bytes)) == text


def test_generate_and_validate_uuid() -> None:
    first, second = generate_uuid(), generate_uuid()
    assert first != second
    assert first.version == 4 and first.variant == uuid.RFC_4122
    assert is_valid_uuid(first)
    assert not is_valid_uuid(b"\xff" * 16)
    assert not is_valid_uuid(uuid.UUID(int=0))
    with pytest.raises(InvalidArgError):
        format_uuid(b"short")


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("52:54:00:AB:cd:0e", "52:54:00:ab:cd:0e"),
        ("52-54-00-ab-cd-0e", "52:54:00:ab:cd:0e"),
        ("52:54:0:a:b:c", "52:54:00:0a:0b:0c"),
        ("52:54-00:ab-cd:0e", "52:54:00:ab:cd:0e"),
        ("52:54:00:ab:cd:0e trailing words", "52:54:00:ab:cd:0e"),  # parsing stops at the first blank
        ("52:54:00:ab:cd:0e\n", "52:54:00:ab:cd:0e"),
    ],
)
def test_parse_mac(text: str, canonical: str) -> None:
    assert format_mac(parse_mac(text)) == canonical
    assert format_mac(text) == canonical


@pytest.mark.parametrize(
    "text",
    ["", "52:54:00:ab:cd", "52:54:00:ab:cd:0e:ff", "52:54:00:ab:cd:0ex", "525:4:00:ab:cd:0e", " 52:54:00:ab:cd:0e",
     "+2:54:00:ab:cd:0e", "52::00:ab:cd:0e", "52.54.00.ab.cd.0e", "0x52:54:00:ab:cd:0e", "52:54:00:ab:cd:"],
)
def test_parse_mac_rejects(text: str) -> None:
    with pytest.raises(InvalidArgError) as info:
        parse_mac(text)
    assert str(info.value) == f"invalid argument: unable to parse mac address '{text}'"


@given(st.binary(min_size=6, max_size=6))
def test_mac_round_trip(raw: bytes) -> None:
    text = format_mac(raw)
    assert parse_mac(text) == raw
    assert parse_mac(text.upper().replace(":", "-")) == raw
    assert is_multicast(text) == bool(raw[0] & 1)


def test_validate_mac_refuses_multicast() -> None:
    assert validate_mac("52:54:00:AA:BB:CC") == "52:54:00:aa:bb:cc"
    with pytest.raises(XMLError, match="^XML error: unable to parse mac address 'zz'$"):
        validate_mac("zz")
    with pytest.raises(XMLError) as info:
        validate_mac("01:00:5e:00:00:01")
    assert str(info.value) == "XML error: expected unicast mac address, found multicast '01:00:5e:00:00:01'"
    assert is_broadcast("ff:ff:ff:ff:ff:ff") and is_multicast("ff:ff:ff:ff:ff:ff")
    assert not is_broadcast("52:54:00:aa:bb:cc")


def test_generate_mac() -> None:
    macs = {generate_mac() for _ in range(20)}
    assert len(macs) > 1
    assert all(m.startswith("52:54:00:") and format_mac(m) == m for m in macs)
    assert generate_mac("lxc").startswith("00:16:3e:")
    assert generate_mac("vmware").startswith("00:50:56:")
    assert generate_mac("00:0C:29").startswith("00:0c:29:")
    assert MAC_PREFIXES["kvm"] == MAC_PREFIXES["qemu"] == "52:54:00"
    with pytest.raises(InvalidArgError):
        generate_mac("zz:zz:zz")


def _mutations(seed_text: str, alphabet: str, count: int) -> list[str]:
    rng = random.Random(seed_text)
    out = []
    for _ in range(count):
        chars = list(seed_text)
        for _ in range(rng.randint(1, 3)):
            op = rng.randrange(3)
            at = rng.randrange(len(chars) + 1)
            if op == 0:
                chars.insert(at, rng.choice(alphabet))
            elif op == 1 and at < len(chars):
                del chars[at]
            elif at < len(chars):
                chars[at] = rng.choice(alphabet)
        out.append("".join(chars))
    return out


def test_uuid_agrees_with_libvirt(libvirt_python: LibvirtPython) -> None:
    """virDomainLookupByUUIDString parses with virUUIDParse: "Invalid UUID" exactly when we refuse."""
    cases = sorted(set(_mutations(TEST_UUID, "0123456789abcdefABCDEF- \tx", 300)) | {TEST_UUID, f" {TEST_UUID}-"})
    observed = libvirt_python(
        """
        conn = libvirt.open("test:///default")
        result = [error_of(conn.lookupByUUIDString, text) for text in data]
        """,
        cases,
    )
    for text, error in zip(cases, observed, strict=True):
        try:
            parsed = parse_uuid(text)
        except InvalidArgError:
            assert error is not None and error[0] == ErrorNumber.INVALID_ARG, text
            continue
        expected_code = None if parsed == uuid.UUID(TEST_UUID) else ErrorNumber.NO_DOMAIN
        assert (error[0] if error else None) == expected_code, text


def test_mac_agrees_with_libvirt(libvirt_python: LibvirtPython) -> None:
    """A domain's <mac address='...'> goes through virMacAddrParse and comes back canonical."""
    cases = sorted(set(_mutations("52:54:00:ab:cd:0e", "0123456789abcdefABCDEF:- x", 300)) | {"01:00:5e:00:00:01"})
    observed = libvirt_python(
        """
        import re
        conn = libvirt.open("test:///default")
        result = []
        for mac in data:
            xml = ("<domain type='test'><name>mac</name><memory>1024</memory><os><type>hvm</type></os>"
                   "<devices><interface type='network'><mac address='%s'/><source network='default'/>"
                   "</interface></devices></domain>" % mac)
            try:
                dom = conn.defineXML(xml)
            except libvirt.libvirtError as err:
                result.append(["error", err.get_error_code(), err.get_error_message()])
                continue
            result.append(["ok", re.search(r"<mac address='([^']*)'", dom.XMLDesc()).group(1), None])
            dom.undefine()
        """,
        cases,
    )
    for text, (status, value, message) in zip(cases, observed, strict=True):
        try:
            ours = validate_mac(text)
        except XMLError as err:
            assert [status, value, message] == ["error", err.code, str(err)], text
            continue
        assert [status, value] == ["ok", ours], text


def test_host_id_reads_numbers_and_names() -> None:
    import os
    import pwd

    from virt.util.ident import host_id

    assert host_id("+107", "user") == 107 and host_id("42", "group") == 42
    me = pwd.getpwuid(os.getuid())
    assert host_id(me.pw_name, "user") == me.pw_uid
    assert host_id("root", "group") == 0
    with pytest.raises(KeyError):
        host_id("no-such-user-virt", "user")
    with pytest.raises(ValueError):
        host_id("+x", "group")
