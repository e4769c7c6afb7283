"""libvirt's wire protocol declarations: framing, header, errors and the remote program's procedure table."""

from __future__ import annotations

import pytest
from virt.core.remote import procedures as P
from virt.core.remote import protocol as W
from virt.util import xdr
from virt.util.errors import (
    ErrorDomain,
    ErrorNumber,
    NotFoundError,
    RPCError,
    VirtError,
    not_found,
)


def test_program_and_limit_constants() -> None:
    assert (W.REMOTE_PROGRAM, W.REMOTE_PROTOCOL_VERSION) == (0x20008086, 1)
    assert (W.KEEPALIVE_PROGRAM, W.KEEPALIVE_PROTOCOL_VERSION) == (0x6B656570, 1)
    assert W.KEEPALIVE_PROGRAM.to_bytes(4, "big") == b"keep"
    assert (W.KeepaliveProcedure.PING, W.KeepaliveProcedure.PONG) == (1, 2)
    assert (W.MESSAGE_MAX, W.MESSAGE_STRING_MAX, W.MESSAGE_PAYLOAD_MAX) == (32 << 20, 4 << 20, (32 << 20) - 24)
    assert [t.value for t in W.MessageType] == list(range(7))
    assert [s.value for s in W.MessageStatus] == [0, 1, 2]


def test_call_packet_bytes() -> None:
    proc = P.BY_METHOD["domain_lookup_by_name"]
    packet = W.encode_message(proc.args, ("test",), W.REMOTE_PROGRAM, 1, proc.number, W.MessageType.CALL, 7)
    assert packet.hex() == (
        "00000024" "20008086" "00000001" "00000017" "00000000" "00000007" "00000000" "00000004" "74657374"
    )  # fmt: skip
    assert W.packet_length(packet[:4]) == len(packet) - 4
    msg = W.decode_message(packet[4:])
    assert (msg.prog, msg.vers, msg.proc, msg.type, msg.serial, msg.status) == (0x20008086, 1, 23, 0, 7, 0)
    assert proc.args.decode(msg.body) == ("test",)


def test_bad_packets_are_rpc_errors() -> None:
    with pytest.raises(RPCError, match="too small"):
        W.packet_length((27).to_bytes(4, "big"))
    with pytest.raises(RPCError, match="too large"):
        W.packet_length((W.MESSAGE_MAX + 5).to_bytes(4, "big"))
    with pytest.raises(RPCError, match="invalid enum value 9"):  # message type 9 does not exist
        W.decode_message(bytes.fromhex("20008086 00000001 00000001 00000009 00000001 00000000"))
    with pytest.raises(RPCError, match="truncated"):
        W.decode_message(b"\0" * 20)
    with pytest.raises(RPCError, match="exceeds maximum"):
        W.encode_raw(b"x" * W.MESSAGE_MAX, W.REMOTE_PROGRAM, 1, 209, W.MessageType.STREAM, 1, 2)


def test_errors_round_trip_with_exact_message() -> None:
    err = not_found(ErrorNumber.NO_DOMAIN, "no domain with matching name 'x'", ErrorDomain.TEST)
    wire = W.Error.decode(W.Error.encode(W.error_to_wire(err)))
    assert (wire.code, wire.domain, wire.level) == (42, 12, 2)
    assert wire.message == "Domain not found: no domain with matching name 'x'"
    back = W.error_from_wire(wire)
    assert isinstance(back, NotFoundError) and back.code == ErrorNumber.NO_DOMAIN
    assert str(back) == str(err) and back.domain == ErrorDomain.TEST


def test_unexpected_exceptions_become_internal_errors() -> None:
    back = W.error_from_wire(W.Error.decode(W.Error.encode(W.error_to_wire(KeyError("k")))))
    assert type(back) is not NotFoundError and back.code == ErrorNumber.INTERNAL_ERROR
    assert "KeyError" in str(back)


def test_error_extra_fields_travel() -> None:
    err = VirtError("boom", code=ErrorNumber.SYSTEM_ERROR, str1="a", int1=2)
    back = W.error_from_wire(W.Error.decode(W.Error.encode(W.error_to_wire(err))))
    assert back.extra == {"str1": "a", "int1": 2}


# libvirt's numbers for the procedures virsh and libvirt-python use most (remote_protocol.x).
KNOWN = {
    "CONNECT_OPEN": 1, "CONNECT_CLOSE": 2, "CONNECT_GET_TYPE": 3, "CONNECT_GET_VERSION": 4, "NODE_GET_INFO": 6,
    "CONNECT_GET_CAPABILITIES": 7, "DOMAIN_CREATE": 9, "DOMAIN_CREATE_XML": 10, "DOMAIN_DEFINE_XML": 11,
    "DOMAIN_DESTROY": 12, "DOMAIN_GET_XML_DESC": 14, "DOMAIN_GET_INFO": 16, "DOMAIN_LOOKUP_BY_ID": 22,
    "DOMAIN_LOOKUP_BY_NAME": 23, "DOMAIN_LOOKUP_BY_UUID": 24, "DOMAIN_RESUME": 28, "DOMAIN_SUSPEND": 34,
    "DOMAIN_UNDEFINE": 35, "CONNECT_LIST_DOMAINS": 37, "NETWORK_GET_XML_DESC": 43, "NETWORK_LOOKUP_BY_NAME": 46,
    "CONNECT_GET_HOSTNAME": 59, "CONNECT_SUPPORTS_FEATURE": 60, "AUTH_LIST": 66, "STORAGE_POOL_GET_INFO": 87,
    "STORAGE_VOL_GET_INFO": 98, "NODE_GET_FREE_MEMORY": 102, "DOMAIN_EVENT_LIFECYCLE": 107, "CONNECT_GET_URI": 110,
    "CONNECT_IS_SECURE": 149, "CONNECT_GET_LIB_VERSION": 157, "DOMAIN_ATTACH_DEVICE_FLAGS": 160,
    "DOMAIN_SNAPSHOT_CREATE_XML": 185, "DOMAIN_CREATE_WITH_FLAGS": 196, "STORAGE_VOL_UPLOAD": 208,
    "STORAGE_VOL_DOWNLOAD": 209, "DOMAIN_GET_STATE": 212, "DOMAIN_UNDEFINE_FLAGS": 231, "DOMAIN_DESTROY_FLAGS": 234,
    "DOMAIN_RESET": 245, "DOMAIN_SHUTDOWN_FLAGS": 258, "CONNECT_LIST_ALL_DOMAINS": 273,
    "CONNECT_LIST_ALL_STORAGE_POOLS": 281, "STORAGE_POOL_LIST_ALL_VOLUMES": 282, "CONNECT_LIST_ALL_NETWORKS": 283,
    "NETWORK_GET_DHCP_LEASES": 341, "CONNECT_GET_DOMAIN_CAPABILITIES": 342,
    "CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY": 316, "CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY": 317,
    "DOMAIN_EVENT_CALLBACK_LIFECYCLE": 318, "DOMAIN_EVENT_CALLBACK_REBOOT": 319,
    "DOMAIN_EVENT_CALLBACK_DEVICE_REMOVED": 333, "DOMAIN_DEFINE_XML_FLAGS": 350,
    "CONNECT_REGISTER_CLOSE_CALLBACK": 360, "DOMAIN_EVENT_LEASE_CHANGE": 449,
}  # fmt: skip


def test_procedure_numbers() -> None:
    assert {name: P.BY_NAME[name].number for name in KNOWN} == KNOWN


def test_method_names_are_derived_from_procedure_names() -> None:
    assert P.method_name("REMOTE_PROC_DOMAIN_GET_INFO") == "domain_get_info"
    for number, proc in P.REMOTE_PROCEDURES.items():
        assert proc.number == number
        assert P.BY_METHOD[proc.method] is proc and proc.method == proc.name.lower()
    assert len(P.BY_NAME) == len(P.REMOTE_PROCEDURES)


def test_every_declaration_compiles_and_round_trips_its_zero_value() -> None:
    def zero(t: xdr.XdrType) -> object:
        if isinstance(t, xdr.Struct):
            return t.Value(*(zero(f) for _, f in t.fields))
        if isinstance(t, xdr.Array):
            return [zero(t.element)] * (t.size if t.fixed else 0)
        if isinstance(t, xdr.FixedOpaque):
            return bytes(t.size)
        if isinstance(t, xdr.VarBytes):
            return "" if t.text else b""
        if isinstance(t, xdr.Union):
            return (1, 0)
        if isinstance(t, (xdr.Optional, xdr.Void)):
            return None
        return 0

    for proc in P.REMOTE_PROCEDURES.values():
        for body in (proc.args, proc.ret):
            for native in ([True, False] if xdr.NATIVE else [False]):
                codec = body.codec(native)
                value = zero(body)
                assert codec.decode(codec.encode(value)) == value, (proc.name, body)


def test_events_and_streams() -> None:
    lifecycle = P.BY_NAME["DOMAIN_EVENT_CALLBACK_LIFECYCLE"]
    assert lifecycle.event and lifecycle.ret is xdr.void
    assert [f for f, _ in lifecycle.args.fields] == ["callbackID", "msg"]
    assert P.BY_NAME["DOMAIN_EVENT_LIFECYCLE"].args is P.NAMED["domain_event_lifecycle_msg"]
    assert P.BY_NAME["STORAGE_VOL_UPLOAD"].stream == "in"
    assert P.BY_NAME["STORAGE_VOL_DOWNLOAD"].stream == "out"
    assert P.BY_NAME["DOMAIN_OPEN_CONSOLE"].stream == "out"


def test_read_only_procedures() -> None:
    assert P.BY_NAME["DOMAIN_GET_INFO"].readonly and P.BY_NAME["CONNECT_LIST_ALL_DOMAINS"].readonly
    for name in ("DOMAIN_DEFINE_XML", "DOMAIN_CREATE", "DOMAIN_DESTROY", "NETWORK_SET_AUTOSTART",
                 "SECRET_GET_VALUE", "CONNECT_DOMAIN_XML_FROM_NATIVE", "STORAGE_VOL_DOWNLOAD"):
        assert not P.BY_NAME[name].readonly, name


def test_node_info_model_is_an_array_of_chars() -> None:
    proc = P.BY_NAME["NODE_GET_INFO"]
    ret = proc.ret(P.str_to_char_array("i686", 32), 3145728, 16, 1400, 2, 2, 2, 2)
    data = proc.ret.encode(ret)
    assert len(data) == 32 * 4 + 8 + 6 * 4 and data[:8] == bytes.fromhex("00000069 00000036")
    assert P.char_array_to_str(proc.ret.decode(data).model) == "i686"
    assert P.str_to_char_array("ab") == [97, 98, 0]


def test_typed_params() -> None:
    wire = P.typed_params_to_wire({"a": 1, "b": True, "c": 1.5, "d": "x", "e": 1 << 40, "f": (P.T.UINT, 5)})
    assert wire == [("a", (1, 1)), ("b", (6, 1)), ("c", (5, 1.5)), ("d", (7, "x")), ("e", (4, 1 << 40)),
                    ("f", (2, 5))]  # fmt: skip
    params = P.BY_NAME["DOMAIN_SET_MEMORY_PARAMETERS"].args
    value = params(("vm", bytes(16), 1), wire, 0)
    back = params.decode(params.encode(value))
    assert P.typed_params_from_wire(back.params) == {"a": 1, "b": True, "c": 1.5, "d": "x", "e": 1 << 40, "f": 5}


def test_table_notation_errors() -> None:
    with pytest.raises(ValueError, match="unknown type"):
        P.parse_type("nosuch", {})
    with pytest.raises(ValueError, match="needs a length"):
        P.parse_type("bytes", {})
    with pytest.raises(ValueError, match="declared twice"):
        P.parse_procedures("1 A ro\n1 B ro", {})
    assert isinstance(P.parse_type("str?<4>[2]", {}), xdr.Array)


def test_high_priority_procedures() -> None:
    assert P.BY_NAME["DOMAIN_LOOKUP_BY_NAME"].high_priority and P.BY_NAME["CONNECT_LIST_ALL_DOMAINS"].high_priority
    assert not P.BY_NAME["DOMAIN_GET_INFO"].high_priority and not P.BY_NAME["DOMAIN_CREATE"].high_priority
