"""Tests for virt.util.errors: libvirt's numbers, message prefixes and the class each code maps to."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

import pytest
from virt.util import errors
from virt.util.errors import (
    ConfSyntaxError,
    ErrorDomain,
    ErrorLevel,
    ErrorNumber,
    ExistsError,
    InternalError,
    InvalidArgError,
    NotFoundError,
    SystemError_,
    VirtError,
    XMLError,
    format_message,
    not_found,
)

if TYPE_CHECKING:
    from conftest import LibvirtPython


def test_str_is_prefix_and_detail() -> None:
    assert str(InvalidArgError("bad flag")) == "invalid argument: bad flag"
    assert str(InternalError("oops")) == "internal error: oops"
    assert str(NotFoundError("no domain with matching name 'x'")) == "Domain not found: no domain with matching name 'x'"
    assert str(ConfSyntaxError("f.conf:2: expecting a value")) == (
        "configuration file syntax error: f.conf:2: expecting a value"
    )


def test_message_without_detail_drops_the_placeholder() -> None:
    assert format_message(ErrorNumber.INTERNAL_ERROR, None) == "internal error"
    assert format_message(ErrorNumber.NO_DOMAIN, "") == "Domain not found"
    assert format_message(ErrorNumber.NO_MEMORY, "ignored") == "out of memory"
    assert format_message(ErrorNumber.SYSTEM_ERROR, "Failed to open file 'x': No such file") == (
        "Failed to open file 'x': No such file"
    )


def test_code_overrides_class_default() -> None:
    err = NotFoundError("no network with matching name 'n'", code=ErrorNumber.NO_NETWORK, domain=ErrorDomain.NETWORK)
    assert err.code is ErrorNumber.NO_NETWORK
    assert err.domain is ErrorDomain.NETWORK
    assert str(err) == "Network not found: no network with matching name 'n'"
    assert not_found(ErrorNumber.NO_STORAGE_POOL, "p").message == "Storage pool not found: p"


@pytest.mark.parametrize(
    ("code", "klass"),
    [
        (ErrorNumber.INTERNAL_ERROR, InternalError),
        (ErrorNumber.INVALID_ARG, InvalidArgError),
        (ErrorNumber.XML_DETAIL, XMLError),
        (ErrorNumber.XML_INVALID_SCHEMA, XMLError),
        (ErrorNumber.NO_STORAGE_VOL, NotFoundError),
        (ErrorNumber.DEVICE_MISSING, NotFoundError),
        (ErrorNumber.NETWORK_EXIST, ExistsError),
        (ErrorNumber.CONF_SYNTAX, ConfSyntaxError),
        (ErrorNumber.SYSTEM_ERROR, SystemError_),
        (ErrorNumber.GET_FAILED, VirtError),  # no dedicated class: the base
    ],
)
def test_from_code_picks_the_subclass(code: ErrorNumber, klass: type[VirtError]) -> None:
    err = VirtError.from_code(int(code), "the exact text", domain=int(ErrorDomain.QEMU), level=1, str1="s")
    assert type(err) is klass
    assert err.code is code
    assert err.domain is ErrorDomain.QEMU
    assert err.level is ErrorLevel.WARNING
    assert err.message == str(err) == "the exact text"
    assert err.extra == {"str1": "s"}


def test_from_code_round_trips_every_number() -> None:
    for code in ErrorNumber:
        original = VirtError(f"detail {code.name}", code=code, domain=ErrorDomain.RPC)
        copy = VirtError.from_code(int(original.code), original.message, int(original.domain), int(original.level))
        assert (copy.code, copy.domain, copy.level, copy.message) == (
            original.code, original.domain, original.level, original.message
        )
        assert isinstance(copy, VirtError._by_code.get(code, VirtError))


def test_unknown_numbers_survive_as_ints() -> None:
    err = VirtError.from_code(9999, "from a newer server", domain=999)
    assert err.code == 9999 and not isinstance(err.code, ErrorNumber)
    assert type(err) is VirtError
    assert err.domain == 999
    assert str(err) == "from a newer server"


def test_system_error_from_errno() -> None:
    err = SystemError_.from_errno(errno.ENOENT, "Failed to open file '/nope'")
    assert str(err) == "Failed to open file '/nope': No such file or directory"
    assert err.code is ErrorNumber.SYSTEM_ERROR
    assert err.extra == {"int1": errno.ENOENT}
    from_oserror = SystemError_.from_errno(PermissionError(errno.EACCES, "x"), "cannot write")
    assert str(from_oserror) == "cannot write: Permission denied"


def test_every_prefix_has_one_placeholder_at_most() -> None:
    for code, prefix in errors._PREFIX.items():
        assert prefix.count("{}") <= 1, code


def test_numbers_match_libvirt_constants(libvirt_python: LibvirtPython) -> None:
    constants = libvirt_python(
        """
        result = {name: getattr(libvirt, name) for name in dir(libvirt)
                  if name.startswith(("VIR_ERR_", "VIR_FROM_", "VIR_WAR_"))}
        """
    )
    levels = {"VIR_ERR_NONE", "VIR_ERR_WARNING", "VIR_ERR_ERROR"}
    # virErrorNumber names its warnings VIR_WAR_*; the bindings may export them either way.
    for number in ErrorNumber:
        names = [f"VIR_ERR_{number.name}", f"VIR_{number.name}"]
        present = [constants[n] for n in names if n in constants]
        assert present, f"libvirt has no constant for {number.name}"
        assert present[0] == number.value, number.name
    for domain in ErrorDomain:
        assert constants[f"VIR_FROM_{domain.name}"] == domain.value, domain.name
    for level in ErrorLevel:
        assert constants[f"VIR_ERR_{level.name}"] == level.value, level.name
    # And nothing libvirt defines is missing here.
    ours = {f"VIR_ERR_{n.name}" for n in ErrorNumber} | {f"VIR_{n.name}" for n in ErrorNumber} | levels
    assert {n for n in constants if n.startswith(("VIR_ERR_", "VIR_WAR_"))} - ours == set()
    assert {n for n in constants if n.startswith("VIR_FROM_")} - {f"VIR_FROM_{d.name}" for d in ErrorDomain} == set()


def test_messages_match_libvirt(libvirt_python: LibvirtPython) -> None:
    """Real errors from libvirt's test driver carry exactly the prefix we put in front of the detail."""
    observed = libvirt_python(
        """
        conn = libvirt.open("test:///default")
        dom = conn.lookupByName("test")
        result = [
            error_of(conn.lookupByName, "nope"),
            error_of(conn.networkLookupByName, "nope"),
            error_of(conn.storagePoolLookupByName, "nope"),
            error_of(conn.secretLookupByUUIDString, "0c2a8c8c-3bd7-4a5b-9a8e-4a4f16d3d0aa"),
            error_of(conn.nwfilterLookupByName, "nope"),
            error_of(conn.interfaceLookupByName, "nope"),
            error_of(conn.nodeDeviceLookupByName, "nope"),
            error_of(dom.create),
            error_of(dom.snapshotLookupByName, "nope"),
            error_of(conn.defineXML, "<domain type='test'><name>x</name><memory>1</memory><os><type>hvm</type></os>"
                                     "<devices><interface type='network'><mac address='zz'/>"
                                     "<source network='default'/></interface></devices></domain>"),
        ]
        """
    )
    assert all(observed), observed
    assert len({code for code, _, _ in observed}) >= 8
    for code, domain, message in observed:
        number = ErrorNumber(code)
        ErrorDomain(domain)  # a known domain
        if message == format_message(number, None):  # raised without a detail
            continue
        prefix = errors._PREFIX[number]
        head, _, tail = prefix.partition("{}")
        assert message.startswith(head) and message.endswith(tail), (number.name, message)
        detail = message[len(head) : len(message) - len(tail)]
        assert format_message(number, detail) == message
