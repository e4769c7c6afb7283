"""The admin program on virtd's admin socket, driven by the real virt-admin (libvirt-clients)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import virt.core as v
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from virt.core.remote import admin
from virt.core.remote import procedures as P
from virt.core.remote import protocol as W
from virt.core.remote.client import RemoteClient, connect_unix
from virt.util import xdr
from virt.util.errors import ErrorNumber, VirtError

from .conftest import Daemon, _stop, start_virtd

VIRT_ADMIN = "/usr/bin/virt-admin"
pytestmark = pytest.mark.skipif(not os.path.exists(VIRT_ADMIN), reason="virt-admin (libvirt-clients) is not installed")


@pytest.fixture(scope="module")
def daemon() -> Iterator[tuple[Daemon, Path]]:
    with tempfile.TemporaryDirectory(prefix="virtd-admin-") as tmp:
        admin_sock = Path(tmp) / "admin-sock"
        d = start_virtd(Path(tmp), "--admin-socket", str(admin_sock))
        deadline = time.monotonic() + 10
        while not admin_sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        yield d, admin_sock
        _stop(d.pid, d.proc)


def virt_admin(admin_sock: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VIRT_ADMIN, "-c", f"libvirtd:///system?socket={admin_sock}", *args],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def ok(admin_sock: Path, *args: str) -> str:
    result = virt_admin(admin_sock, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def fields(text: str) -> dict[str, str]:
    """``name : value`` lines of virt-admin's info commands."""
    return {k.strip(): val.strip() for k, _, val in (line.partition(":") for line in text.splitlines()) if val}


def test_version_and_servers(daemon: tuple[Daemon, Path]) -> None:
    _, sock = daemon
    assert "Running against daemon: 9.0.0" in ok(sock, "version")
    rows = [line.split() for line in ok(sock, "srv-list").splitlines()[2:] if line.strip()]
    assert rows == [["0", "libvirtd"], ["1", "admin"]]


def test_clients_list_and_info(daemon: tuple[Daemon, Path]) -> None:
    d, sock = daemon
    with v.open(d.uri()) as conn, v.open(d.uri(readonly=True)):
        assert conn.get_type() == "TEST"
        rows = [line.split() for line in ok(sock, "srv-clients-list", "libvirtd").splitlines()[2:] if line.strip()]
        assert len(rows) == 2 and {r[1] for r in rows} == {"unix"}
        assert all(re.match(r"\d{4}-\d\d-\d\d", r[2]) for r in rows)
        infos = [fields(ok(sock, "client-info", "libvirtd", r[0])) for r in rows]
        assert sorted(i["readonly"] for i in infos) == ["no", "yes"]
        for info in infos:
            assert info["transport"] == "unix"
            assert info["unix_process_id"] == str(os.getpid())
            assert info["unix_user_id"] == str(os.getuid())
        assert fields(ok(sock, "srv-clients-info", "libvirtd"))["nclients"] == "2"
    # The admin server lists the admin clients: virt-admin itself, now.
    rows = [line.split() for line in ok(sock, "srv-clients-list", "admin").splitlines()[2:] if line.strip()]
    assert len(rows) == 1


def test_client_limits_and_threadpool(daemon: tuple[Daemon, Path]) -> None:
    _, sock = daemon
    info = fields(ok(sock, "srv-clients-info", "libvirtd"))
    assert info["nclients_max"] == "5000" and info["nclients_unauth_max"] == "20"
    ok(sock, "srv-clients-set", "libvirtd", "--max-clients", "100", "--max-unauth-clients", "10")
    info = fields(ok(sock, "srv-clients-info", "libvirtd"))
    assert info["nclients_max"] == "100" and info["nclients_unauth_max"] == "10"
    bad = virt_admin(sock, "srv-clients-set", "libvirtd", "--max-clients", "5")  # below the unauthenticated limit
    assert bad.returncode == 1 and "must be greater than" in bad.stderr
    pool = fields(ok(sock, "srv-threadpool-info", "libvirtd"))
    assert set(pool) == {"minWorkers", "maxWorkers", "prioWorkers", "freeWorkers", "nWorkers", "jobQueueDepth"}
    assert pool["maxWorkers"] == "20"
    ok(sock, "srv-threadpool-set", "libvirtd", "--max-workers", "30")
    assert fields(ok(sock, "srv-threadpool-info", "libvirtd"))["maxWorkers"] == "30"


def test_logging_outputs_and_filters(daemon: tuple[Daemon, Path]) -> None:
    _, sock = daemon
    assert "Logging outputs: 3:stderr" in ok(sock, "daemon-log-outputs")
    ok(sock, "daemon-log-filters", "1:remote 4:util")
    assert "Logging filters: 1:remote 4:util" in ok(sock, "daemon-log-filters")
    bad = virt_admin(sock, "daemon-log-outputs", "9:nowhere")
    assert bad.returncode == 1
    assert "Logging outputs: 3:stderr" in ok(sock, "daemon-log-outputs")
    ok(sock, "daemon-log-filters", "")
    assert "Logging filters: \n" in ok(sock, "daemon-log-filters") + "\n"


def test_unknown_server_and_client(daemon: tuple[Daemon, Path]) -> None:
    _, sock = daemon
    result = virt_admin(sock, "srv-clients-list", "nope")
    assert result.returncode == 1
    assert "error: Server not found: no server with matching name 'nope'" in result.stderr
    result = virt_admin(sock, "client-info", "libvirtd", "999999")
    assert "error: Client not found: no client with matching id '999999'" in result.stderr


def test_client_disconnect(daemon: tuple[Daemon, Path]) -> None:
    d, sock = daemon
    conn = v.open(d.uri())
    try:
        rows = [line.split() for line in ok(sock, "srv-clients-list", "libvirtd").splitlines()[2:] if line.strip()]
        assert len(rows) == 1
        assert f"Client '{rows[0][0]}' disconnected" in ok(sock, "client-disconnect", "libvirtd", rows[0][0])
        with pytest.raises(VirtError, match="End of file|closed"):
            conn.get_type()
    finally:
        conn.close()


def test_programs_stay_on_their_sockets(daemon: tuple[Daemon, Path]) -> None:
    """The admin socket speaks only the admin program; the others do not speak it."""
    d, sock = daemon
    admin_open = admin.ADMIN.by_name("CONNECT_OPEN")
    remote_open = P.BY_NAME["CONNECT_OPEN"]
    calls = ((sock, W.REMOTE_PROGRAM, remote_open.args, ("test:///default", 0)),
             (d.sock, admin.ADMIN.number, admin_open.args, (0,)))  # fmt: skip
    for path, prog, args_type, args in calls:
        client = RemoteClient(connect_unix(path))
        try:
            with pytest.raises(VirtError) as err:
                client.call(1, args_type, args, xdr.void, prog=prog, vers=1)
            assert err.value.code == ErrorNumber.RPC
            assert f"Cannot find program {prog} version 1" in str(err.value)
        finally:
            client.close()


def test_daemon_timeout(tmp_path: Path) -> None:
    """virt-admin daemon-timeout: the daemon exits once it has had no client for that long."""
    d = start_virtd(tmp_path, "--admin-socket", str(tmp_path / "admin-sock"))
    try:
        deadline = time.monotonic() + 10
        while not (tmp_path / "admin-sock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        ok(tmp_path / "admin-sock", "daemon-timeout", "--timeout", "1")
        assert d.proc.wait(timeout=15) == 0
    finally:
        if d.proc.poll() is None:
            _stop(d.pid, d.proc)


def test_server_update_tls(daemon: tuple[Daemon, Path], tmp_path: Path) -> None:
    _, sock = daemon
    result = virt_admin(sock, "server-update-tls", "libvirtd")
    assert result.returncode == 1 and "no tls service found" in result.stderr
    if shutil.which("openssl") is None:
        return
    from .test_tls import free_port, make_pki, wait_for_port

    tmp_path.chmod(0o755)
    pki = make_pki(tmp_path / "pki")
    port = free_port()
    conf = tmp_path / "virtd.conf"
    conf.write_text(f'ca_file = "{pki}/cacert.pem"\ncert_file = "{pki}/servercert.pem"\n'
                    f'key_file = "{pki}/serverkey.pem"\n')  # fmt: skip
    run = tmp_path / "run"
    run.mkdir()
    d = start_virtd(run, "--config", str(conf), "--listen", "--listen-addr", "127.0.0.1", "--port", str(port),
                    "--admin-socket", str(run / "admin-sock"))  # fmt: skip
    try:
        wait_for_port(port)
        result = virt_admin(run / "admin-sock", "server-update-tls", "libvirtd")
        assert result.returncode == 0, result.stderr
        with v.open(f"test+tls://localhost:{port}/default?pkipath={pki}") as conn:
            assert conn.get_type() == "TEST"
            listing = ok(run / "admin-sock", "srv-clients-list", "libvirtd")
            rows = [line.split() for line in listing.splitlines()[2:] if line.strip()]
            assert [r[1] for r in rows] == ["tls"]
            info = fields(ok(run / "admin-sock", "client-info", "libvirtd", rows[0][0]))
            assert info["x509_dname"] == "CN=virt test client"
            assert re.fullmatch(r"127\.0\.0\.1;\d+", info["sock_addr"])
    finally:
        _stop(d.pid, d.proc)


def _admin_packets() -> list[bytes]:
    """One valid CALL of every admin procedure, with plausible arguments, to mutate."""
    values = {"flags": 0, "need_results": 1, "name": "libvirtd", "srv": ("libvirtd",), "id": 1,
              "clnt": (("libvirtd",), 1, 0, 0), "params": [], "outputs": "3:stderr", "filters": None,
              "timeout": 0}  # fmt: skip
    packets = []
    for number, proc in sorted(admin.ADMIN.procedures.items()):
        if number in (2, 11, 19):  # close, client-disconnect, daemon-timeout: would end the test itself
            continue
        fields = proc.args.fields if isinstance(proc.args, xdr.Struct) else []
        body = proc.args.Value(*[values[name] for name, _ in fields]) if fields else None
        packets.append(W.encode_message(proc.args, body, admin.ADMIN.number, 1, number, W.MessageType.CALL, number))
    return packets


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_admin_packets_never_break_the_daemon(daemon: tuple[Daemon, Path], data: st.DataObject) -> None:
    d, sock_path = daemon
    raw = bytearray(data.draw(st.sampled_from(_ADMIN_PACKETS)))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(4, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        del raw[data.draw(st.integers(28, len(raw))) :]
        raw[0:4] = len(raw).to_bytes(4, "big")
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(sock_path))
        s.sendall(bytes(raw))
        s.settimeout(0.2)
        with contextlib.suppress(TimeoutError, ConnectionResetError, BrokenPipeError):
            while s.recv(65536):
                pass
    assert "libvirtd" in ok(sock_path, "srv-list")
    ok(sock_path, "daemon-timeout", "--timeout", "0")  # a mutation may have turned a call into this one
    assert "Traceback" not in (d.sock.parent / "virtd.log").read_text()


_ADMIN_PACKETS = _admin_packets()
