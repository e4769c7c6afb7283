"""virtd under bad input: malformed, truncated, oversized and unknown packets, vanishing clients, fuzzing."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator

import pytest
import virt.core as v
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from virt.core.remote import procedures as P
from virt.core.remote import protocol as W
from virt.util import xdr
from virt.util.errors import ErrorNumber

from .conftest import Daemon, start_virtd

CALL, REPLY = W.MessageType.CALL, W.MessageType.REPLY


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    from .conftest import _stop

    d = start_virtd(tmp_path_factory.mktemp("robust"))
    yield d
    _stop(d.pid, d.proc)


def packet(name: str, *args: object, serial: int = 1, prog: int = W.REMOTE_PROGRAM, proc: int | None = None) -> bytes:
    p = P.BY_NAME[name]
    body = p.args.Value(*args) if isinstance(p.args, xdr.Struct) else None
    return W.encode_message(p.args, body, prog, 1, p.number if proc is None else proc, CALL, serial)


def read_packet(sock: socket.socket, timeout: float = 5) -> W.Message | None:
    """The next packet, or None when the server closed the connection."""
    sock.settimeout(timeout)
    data = b""
    try:
        while len(data) < 4:
            chunk = sock.recv(4 - len(data))
            if not chunk:
                return None
            data += chunk
        length = int.from_bytes(data, "big") - 4
        body = b""
        while len(body) < length:
            chunk = sock.recv(length - len(body))
            if not chunk:
                return None
            body += chunk
    except ConnectionResetError:
        return None
    return W.decode_message(body)


def error_of(msg: W.Message) -> object:
    assert msg.type == REPLY and msg.status == W.MessageStatus.ERROR
    return W.Error.decode(msg.body)


def opened(daemon: Daemon) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(str(daemon.sock))
    sock.sendall(packet("CONNECT_OPEN", "test:///default", 0))
    reply = read_packet(sock)
    assert reply is not None and reply.status == W.MessageStatus.OK
    return sock


def alive(daemon: Daemon) -> bool:
    with v.open(daemon.uri()) as conn:
        return conn.get_type() == "TEST"


def test_unknown_procedure_and_program_get_error_replies(daemon: Daemon) -> None:
    sock = opened(daemon)
    sock.sendall(packet("CONNECT_GET_TYPE", proc=9999, serial=5))
    reply = read_packet(sock)
    assert reply is not None and reply.serial == 5
    err = error_of(reply)
    assert err.code == ErrorNumber.NO_SUPPORT and "unknown procedure: 9999" in err.message
    sock.sendall(packet("CONNECT_GET_TYPE", prog=0x1234, serial=6))
    err = error_of(read_packet(sock))
    assert err.code == ErrorNumber.RPC and "Cannot find program 4660 version 1" in err.message
    # The connection still works after both.
    sock.sendall(packet("CONNECT_GET_TYPE", serial=7))
    reply = read_packet(sock)
    assert reply.status == W.MessageStatus.OK and P.BY_NAME["CONNECT_GET_TYPE"].ret.decode(reply.body) == ("TEST",)
    sock.close()


def test_undecodable_arguments_get_an_error_reply(daemon: Daemon) -> None:
    sock = opened(daemon)
    good = packet("DOMAIN_LOOKUP_BY_NAME", "test", serial=3)
    bad = (len(good) - 2).to_bytes(4, "big") + good[4:-2]  # the name's bytes cut short
    sock.sendall(bad)
    err = error_of(read_packet(sock))
    assert err.code == ErrorNumber.RPC and "Unable to decode message payload" in err.message
    sock.close()


def test_quick_path_answers_as_the_general_one(daemon: Daemon) -> None:
    """A usual call (whole packet, inline) skips the general dispatch: trailing bytes, a driver's
    error and a read-only connection's refusal still come back as they do there."""
    sock = opened(daemon)
    good = packet("DOMAIN_LOOKUP_BY_NAME", "test", serial=3)
    sock.sendall((len(good) + 4).to_bytes(4, "big") + good[4:] + b"\0\0\0\0")  # a body too long
    err = error_of(read_packet(sock))
    assert err.code == ErrorNumber.RPC and "Unable to decode message payload" in err.message
    sock.sendall(packet("DOMAIN_LOOKUP_BY_NAME", "no-such-domain", serial=4))
    reply = read_packet(sock)
    assert reply.serial == 4 and error_of(reply).code == ErrorNumber.NO_DOMAIN
    sock.sendall(good)
    reply = read_packet(sock)
    assert reply.serial == 3 and reply.status == W.MessageStatus.OK
    dom = P.BY_NAME["DOMAIN_LOOKUP_BY_NAME"].ret.decode(reply.body)[0]
    sock.close()
    with socket.socket(socket.AF_UNIX) as ro:
        ro.connect(str(daemon.sock))
        ro.sendall(packet("CONNECT_OPEN", "test:///default", 1))
        assert read_packet(ro).status == W.MessageStatus.OK
        ro.sendall(packet("DOMAIN_SUSPEND", dom, serial=5))
        err = error_of(read_packet(ro))
        assert err.code == ErrorNumber.OPERATION_DENIED and "read only access prevents virDomainSuspend" in err.message
        ro.sendall(packet("DOMAIN_GET_INFO", dom, serial=6))
        assert read_packet(ro).status == W.MessageStatus.OK


def test_calls_before_open_are_refused(daemon: Daemon) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(daemon.sock))
        sock.sendall(packet("CONNECT_LIST_ALL_DOMAINS", 1, 0))
        err = error_of(read_packet(sock))
        assert err.code == ErrorNumber.INTERNAL_ERROR and "connection not open" in err.message


@pytest.mark.parametrize(
    "data",
    [
        struct.pack(">I", 8) + b"\0" * 4,  # shorter than a header
        struct.pack(">I", W.MESSAGE_MAX + 100),  # longer than any message may be
        struct.pack(">I", 28) + bytes.fromhex("20008086 00000001 00000003 00000063 00000001 00000000"),  # type 99
    ],
    ids=["too-short", "too-long", "bad-header"],
)
def test_bad_framing_closes_only_that_client(daemon: Daemon, data: bytes) -> None:
    other = opened(daemon)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(daemon.sock))
        sock.sendall(data)
        assert read_packet(sock) is None  # dropped
    other.sendall(packet("CONNECT_GET_TYPE", serial=2))
    assert read_packet(other).status == W.MessageStatus.OK
    other.close()
    assert alive(daemon)


def test_client_vanishing_mid_packet_and_mid_call(daemon: Daemon) -> None:
    for cut in (2, 10, 30):
        sock = opened(daemon)
        sock.sendall(packet("DOMAIN_LOOKUP_BY_NAME", "test")[:cut])
        sock.close()
    sock = opened(daemon)
    for serial in range(1, 50):  # calls in flight, then gone without reading the replies
        sock.sendall(packet("CONNECT_LIST_ALL_DOMAINS", 1, 0, serial=serial))
    sock.close()
    assert alive(daemon)


def test_many_calls_in_flight_are_all_answered(daemon: Daemon) -> None:
    sock = opened(daemon)
    sock.sendall(b"".join(packet("DOMAIN_LOOKUP_BY_NAME", "test", serial=s) for s in range(1, 201)))
    serials = {read_packet(sock).serial for _ in range(200)}
    assert serials == set(range(1, 201))
    sock.close()


def test_keepalive_drops_a_silent_client(tmp_path_factory: pytest.TempPathFactory) -> None:
    from .conftest import _stop

    directory = tmp_path_factory.mktemp("keepalive")
    conf = directory / "virtd.conf"
    conf.write_text("keepalive_interval = 1\nkeepalive_count = 1\n")
    d = start_virtd(directory, "--config", str(conf))
    try:
        sock = opened(d)
        sock.sendall(packet("CONNECT_SUPPORTS_FEATURE", 10, serial=2))  # VIR_DRV_FEATURE_PROGRAM_KEEPALIVE
        assert read_packet(sock).status == W.MessageStatus.OK
        start = time.monotonic()
        pings = 0
        while (msg := read_packet(sock, timeout=10)) is not None:
            assert msg.prog == W.KEEPALIVE_PROGRAM and msg.proc == W.KeepaliveProcedure.PING
            pings += 1
        assert pings >= 1 and time.monotonic() - start < 8
        sock.close()
        # A client that answers stays connected.
        with v.open(d.uri()) as conn:
            time.sleep(3)
            assert conn.get_type() == "TEST"
    finally:
        _stop(d.pid, d.proc)


def _real_packets() -> list[bytes]:
    return [
        packet("CONNECT_OPEN", "test:///default", 0),
        packet("DOMAIN_LOOKUP_BY_NAME", "test", serial=2),
        packet("CONNECT_LIST_ALL_DOMAINS", 1, 0, serial=3),
        packet("DOMAIN_GET_XML_DESC", ("test", bytes.fromhex("6695eb01f6a4830479aa97f2502e193f"), 1), 0, serial=4),
        packet("DOMAIN_DEFINE_XML_FLAGS", "<domain type='test'><name>x</name></domain>", 0, serial=5),
        packet("CONNECT_SUPPORTS_FEATURE", 14, serial=6),
        packet("CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY", 0, None, serial=7),
    ]


@st.composite
def mutated_packets(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_real_packets())))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["byte", "word", "cut", "grow"]))
        if kind == "byte":
            data[pos] = draw(st.integers(0, 255))
        elif kind == "word":
            at = pos & ~3
            data[at : at + 4] = draw(st.sampled_from([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000])).to_bytes(4, "big")
        elif kind == "cut":
            del data[max(pos, 4) :]
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
    if draw(st.booleans()):  # mostly keep the length word consistent so the body gets parsed
        data[0:4] = len(data).to_bytes(4, "big")
    return bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(mutated_packets(), min_size=1, max_size=3))
def test_fuzzed_packets_never_break_the_daemon(daemon: Daemon, packets: list[bytes]) -> None:
    sock = opened(daemon)
    try:
        for data in packets:
            sock.sendall(data)
        sock.settimeout(0.2)
        try:
            while sock.recv(65536):
                pass
        except (TimeoutError, ConnectionResetError, BrokenPipeError):
            pass
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        sock.close()
    # The daemon answers a well-behaved client after every example, and logged no crash.
    probe = opened(daemon)
    probe.sendall(packet("CONNECT_GET_TYPE", serial=9))
    reply = read_packet(probe)
    probe.close()
    assert reply is not None and reply.status == W.MessageStatus.OK
    assert "Traceback" not in (daemon.sock.parent / "virtd.log").read_text()
