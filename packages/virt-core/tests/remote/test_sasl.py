"""SASL on virtd: SCRAM against RFC examples, the users file, and real virsh, libvirt-python and our client logging in."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import virt.core as v
from hypothesis import given, settings
from hypothesis import strategies as st
from virt.core.remote import procedures as P
from virt.core.remote import sasl
from virt.core.remote.client import RemoteClient, connect_unix
from virt.util.errors import AuthFailedError, ErrorNumber, VirtError

from .conftest import Daemon, _stop, start_virtd

VIRSH = "/usr/bin/virsh"
SYSTEM_PYTHON = "/usr/bin/python3"


# ---- SCRAM against the RFCs' example exchanges -----------------------------------------------------------


@pytest.mark.parametrize(
    ("mech", "salt", "cnonce", "snonce", "client_final", "server_final"),
    [
        # RFC 5802 section 5
        ("SCRAM-SHA-1", "QSXCR+Q6sek8bf92", "fyko+d2lbbFgONRv9qkxdawL", "3rfcNHYJY1ZVvWVs7j",
         "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
         "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="),
        # RFC 7677 section 3
        ("SCRAM-SHA-256", "W22ZaJ0SNY7soEsUEjb6gQ==", "rOprNGfwEbeRWgbNEkqO", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
         "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
         "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
    ],
)  # fmt: skip
def test_scram_matches_the_rfc_examples(tmp_path: Path, mech: str, salt: str, cnonce: str, snonce: str,
                                        client_final: str, server_final: str) -> None:  # fmt: skip
    db = sasl.UserDatabase(tmp_path / "users")
    db.set_password("user", "pencil")
    # Pin the salt of the RFC's example (set_password draws a fresh one).
    db._users[("user", mech)] = sasl.make_verifier(sasl.MECHANISMS[mech], "pencil", base64.b64decode(salt))
    db._save()
    server = sasl.ScramServer(mech, sasl.UserDatabase(tmp_path / "users"), nonce=snonce)
    client = sasl.ScramClient(mech, "user", "pencil", nonce=cnonce)
    assert client.first() == f"n,,n=user,r={cnonce}".encode()
    complete, server_first = server.step(client.first())
    assert not complete
    assert server_first == f"r={cnonce}{snonce},s={salt},i=4096".encode()
    final = client.final(server_first or b"")
    assert final.decode() == client_final
    complete, out = server.step(final)
    assert complete and out is not None and out.decode() == server_final
    client.verify(out)
    assert server.username == "user"


def test_scram_refuses_a_wrong_password_and_an_unknown_user(tmp_path: Path) -> None:
    db = sasl.UserDatabase(tmp_path / "users")
    db.set_password("alice", "secret")
    for user, password in (("alice", "wrong"), ("mallory", "secret")):
        server = sasl.ScramServer("SCRAM-SHA-256", db)
        client = sasl.ScramClient("SCRAM-SHA-256", user, password)
        _, first = server.step(client.first())
        with pytest.raises(AuthFailedError, match="^authentication failed: authentication failed$"):
            server.step(client.final(first or b""))


def test_scram_client_refuses_a_server_that_does_not_know_the_password(tmp_path: Path) -> None:
    db = sasl.UserDatabase(tmp_path / "users")
    db.set_password("alice", "secret")
    server = sasl.ScramServer("SCRAM-SHA-256", db)
    client = sasl.ScramClient("SCRAM-SHA-256", "alice", "secret")
    _, first = server.step(client.first())
    server.step(client.final(first or b""))
    with pytest.raises(AuthFailedError, match="did not prove"):
        client.verify(b"v=" + base64.b64encode(b"\0" * 32))


def test_saslprep() -> None:
    assert sasl.saslprep("I\u00adX") == "IX"
    assert sasl.saslprep("\u2168") == "IX"
    assert sasl.saslprep("a\u00a0b") == "a b"
    with pytest.raises(ValueError):
        sasl.saslprep("a\u0007")


def test_sasl_user_command_keeps_verifiers_not_passwords(tmp_path: Path) -> None:
    users = tmp_path / "users"
    run = [sys.executable, "-m", "virt.core.remote.daemon", "sasl-user", "-f", str(users)]
    subprocess.run([*run, "add", "alice"], input="s3cret-pw\n", text=True, check=True)
    subprocess.run([*run, "add", "bob"], input="other\n", text=True, check=True)
    text = users.read_text()
    assert "s3cret-pw" not in text and "other" not in text
    assert os.stat(users).st_mode & 0o777 == 0o600
    assert {line.split(":")[1] for line in text.splitlines() if not line.startswith("#")} == set(sasl.MECHANISMS)
    listed = subprocess.run([*run, "list"], capture_output=True, text=True, check=True).stdout
    assert listed.split() == ["alice", "bob"]
    subprocess.run([*run, "delete", "bob"], check=True)
    missing = subprocess.run([*run, "delete", "bob"], capture_output=True, text=True)
    assert missing.returncode == 1 and "no user 'bob'" in missing.stderr
    assert subprocess.run([*run, "list"], capture_output=True, text=True, check=True).stdout.split() == ["alice"]


class _MemoryDatabase(sasl.UserDatabase):
    """The users, without a file (hypothesis runs many examples per test function)."""

    def _load(self) -> None:
        pass


_FUZZ_DB = _MemoryDatabase(Path("/nonexistent"))
_FUZZ_DB._users[("user", "SCRAM-SHA-256")] = sasl.make_verifier("sha256", "pencil", b"salt", 16)


# ---- virtd with SASL on its unix sockets -----------------------------------------------------------------


@pytest.fixture(scope="module")
def sasl_virtd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    tmp = tmp_path_factory.mktemp("virtd-sasl")
    users = sasl.UserDatabase(tmp / "users")
    users.set_password("alice", "secret")
    users.set_password("bob", "hunter2")
    conf = tmp / "virtd.conf"
    conf.write_text('auth_unix_rw = "sasl"\nauth_unix_ro = "sasl"\nsasl_allowed_username_list = ["alice", "carol*"]\n'
                    f'sasl_users_file = "{tmp / "users"}"\n')  # fmt: skip
    daemon = start_virtd(tmp, "--config", str(conf), "--admin-socket", str(tmp / "admin-sock"))
    yield daemon
    _stop(daemon.pid, daemon.proc)


def auth_file(tmp: Path, user: str, password: str) -> Path:
    """libvirt's auth.conf: "authname" is what libvirt's client gives SASL as the user name."""
    path = tmp / f"auth-{user}-{password}.conf"
    path.write_text(f"[credentials-t]\nauthname={user}\npassword={password}\n\n[auth-libvirt-localhost]\ncredentials=t\n")
    return path


def virsh(daemon: Daemon, authfile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIBVIRT_AUTH_FILE": str(authfile)}
    return subprocess.run([VIRSH, "-c", daemon.uri(), *args], capture_output=True, text=True, timeout=60, env=env,
                          stdin=subprocess.DEVNULL)  # fmt: skip


@pytest.mark.skipif(not os.path.exists(VIRSH), reason="virsh (libvirt-clients) is not installed")
def test_virsh_logs_in_with_the_right_password(sasl_virtd: Daemon, tmp_path: Path) -> None:
    result = virsh(sasl_virtd, auth_file(tmp_path, "alice", "secret"), "list", "--all")
    assert result.returncode == 0, result.stderr
    assert " test " in result.stdout and "running" in result.stdout


@pytest.mark.skipif(not os.path.exists(VIRSH), reason="virsh (libvirt-clients) is not installed")
@pytest.mark.parametrize(("user", "password"), [("alice", "wrong"), ("nobody", "secret"), ("bob", "hunter2")])
def test_virsh_is_refused_with_libvirts_auth_error(sasl_virtd: Daemon, tmp_path: Path, user: str,
                                                   password: str) -> None:  # fmt: skip
    """A wrong password, an unknown user, a user not in sasl_allowed_username_list: the same error."""
    result = virsh(sasl_virtd, auth_file(tmp_path, user, password), "list", "--all")
    assert result.returncode == 1
    assert "error: authentication failed: authentication failed" in result.stderr


LIBVIRT_PYTHON = """
import libvirt, sys
def cb(creds, opaque):
    for cred in creds:
        cred[4] = {libvirt.VIR_CRED_AUTHNAME: sys.argv[2], libvirt.VIR_CRED_PASSPHRASE: sys.argv[3]}.get(cred[0])
    return 0
try:
    conn = libvirt.openAuth(sys.argv[1], [[libvirt.VIR_CRED_AUTHNAME, libvirt.VIR_CRED_PASSPHRASE], cb, None], 0)
    print(sorted(d.name() for d in conn.listAllDomains()))
except libvirt.libvirtError as e:
    print(e.get_error_code(), e.get_error_message())
"""


@pytest.mark.skipif(not os.path.exists(SYSTEM_PYTHON), reason="no system python")
def test_libvirt_python_logs_in_through_its_auth_callback(sasl_virtd: Daemon) -> None:
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import libvirt"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("python3-libvirt is not installed")
    env = {k: val for k, val in os.environ.items() if k != "PYTHONPATH"}

    def run(user: str, password: str) -> str:
        return subprocess.run([SYSTEM_PYTHON, "-c", LIBVIRT_PYTHON, sasl_virtd.uri(), user, password],
                              capture_output=True, text=True, timeout=60, env=env).stdout.strip()  # fmt: skip

    assert run("alice", "secret") == "['test']"
    assert run("alice", "wrong") == f"{int(ErrorNumber.AUTH_FAILED)} authentication failed: authentication failed"


@pytest.mark.skipif(not os.path.exists(VIRSH), reason="virsh (libvirt-clients) is not installed")
def test_virsh_logs_in_on_the_read_only_socket(sasl_virtd: Daemon, tmp_path: Path) -> None:
    env = {**os.environ, "LIBVIRT_AUTH_FILE": str(auth_file(tmp_path, "alice", "secret"))}
    result = subprocess.run([VIRSH, "-r", "-c", sasl_virtd.uri(readonly=True), "domstate", "test"],
                            capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "running"


@pytest.mark.skipif(not os.path.exists("/usr/bin/virt-admin"), reason="virt-admin is not installed")
def test_virt_admin_shows_the_sasl_user(sasl_virtd: Daemon, tmp_path: Path) -> None:
    good = auth_file(tmp_path, "alice", "secret")
    admin_uri = f"libvirtd:///system?socket={sasl_virtd.sock.parent / 'admin-sock'}"
    with v.open(f"{sasl_virtd.uri()}&authfile={good}"):
        listing = subprocess.run(["/usr/bin/virt-admin", "-c", admin_uri, "srv-clients-list", "libvirtd"],
                                 capture_output=True, text=True, timeout=60, check=True).stdout  # fmt: skip
        ids = [line.split()[0] for line in listing.splitlines()[2:] if line.strip()]
        assert len(ids) == 1
        info = subprocess.run(["/usr/bin/virt-admin", "-c", admin_uri, "client-info", "libvirtd", ids[0]],
                              capture_output=True, text=True, timeout=60, check=True).stdout  # fmt: skip
        assert any(line.split(":") == ["sasl_user_name ", " alice"] for line in info.splitlines()), info


@settings(max_examples=300, deadline=None)
@given(first=st.one_of(st.binary(max_size=200), st.just(b"n,,n=user,r=abc"), st.just(b"y,a=user,n=user,r=x")),
       final=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(lambda t: ("c=biws,r=abc," + t).encode())))
def test_scram_server_survives_any_client_message(first: bytes, final: bytes) -> None:
    """Whatever a client sends, the exchange either goes on or fails authentication; nothing else."""
    server = sasl.ScramServer("SCRAM-SHA-256", _FUZZ_DB)
    for message in (first, final):
        try:
            complete, _ = server.step(message)
        except AuthFailedError:
            return
        assert not complete  # random bytes never carry a valid proof


def test_our_client_logs_in_from_auth_conf(sasl_virtd: Daemon, tmp_path: Path) -> None:
    good = auth_file(tmp_path, "alice", "secret")
    with v.open(f"{sasl_virtd.uri()}&authfile={good}") as conn:
        assert [d.name() for d in conn.list_all_domains()] == ["test"]
    bad = auth_file(tmp_path, "alice", "wrong")
    with pytest.raises(AuthFailedError, match="^authentication failed: authentication failed$"):
        v.open(f"{sasl_virtd.uri()}&authfile={bad}")


@pytest.mark.skipif(not os.path.exists(VIRSH), reason="virsh (libvirt-clients) is not installed")
def test_a_uri_picks_the_mechanism(sasl_virtd: Daemon, tmp_path: Path) -> None:
    """``?auth=sasl.MECH`` (libvirt's URI parameter): SCRAM-SHA-1 with cyrus's client and with ours."""
    good = auth_file(tmp_path, "alice", "secret")
    result = virsh(sasl_virtd, good, "-c", f"{sasl_virtd.uri()}&auth=sasl.SCRAM-SHA-1", "domstate", "test")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "running"
    with v.open(f"{sasl_virtd.uri()}&authfile={good}&auth=sasl.scram-sha-1") as conn:
        assert conn.get_type() == "TEST"
    with pytest.raises(AuthFailedError, match="no mechanism offered by the server is supported"):
        v.open(f"{sasl_virtd.uri()}&authfile={good}&auth=sasl.digest-md5")


def test_our_client_without_credentials_fails_cleanly(sasl_virtd: Daemon, tmp_path: Path) -> None:
    empty = tmp_path / "empty.conf"
    empty.write_text("")
    with pytest.raises(AuthFailedError, match="Failed to collect auth credentials"):
        v.open(f"{sasl_virtd.uri()}&authfile={empty}")


def test_our_client_asks_the_auth_callback(sasl_virtd: Daemon, tmp_path: Path) -> None:
    """What auth.conf does not give, the connection's callback (virConnectOpenAuth's) is asked for."""
    partial = tmp_path / "user-only.conf"
    partial.write_text("[credentials-t]\nauthname=alice\n\n[auth-libvirt-localhost]\ncredentials=t\n")
    asked: list[list[int]] = []

    def callback(creds: list[list[object]]) -> int:
        asked.append([int(c[0]) for c in creds])  # type: ignore[call-overload]
        for cred in creds:
            cred[4] = {sasl.CredentialType.AUTHNAME: "alice", sasl.CredentialType.PASSPHRASE: "secret"}[cred[0]]  # type: ignore[index]
        return 0

    empty = tmp_path / "empty.conf"
    empty.write_text("")
    with v.open(f"{sasl_virtd.uri()}&authfile={empty}", auth=callback) as conn:
        assert conn.get_type() == "TEST"
    with v.open(f"{sasl_virtd.uri()}&authfile={partial}", auth=callback) as conn:
        assert conn.get_type() == "TEST"
    assert asked == [[sasl.CredentialType.AUTHNAME, sasl.CredentialType.PASSPHRASE], [sasl.CredentialType.PASSPHRASE]]
    with pytest.raises(AuthFailedError) as err:
        v.open(f"{sasl_virtd.uri()}&authfile={empty}", auth=lambda creds: -1)
    assert err.value.code == ErrorNumber.AUTH_CANCELLED


def test_virt_cli_asks_on_the_terminal_as_virsh_does(sasl_virtd: Daemon, tmp_path: Path) -> None:
    empty = tmp_path / "empty.conf"
    empty.write_text("")
    run = [sys.executable, "-c", "import sys; from virt.core.cli.main import main; sys.exit(main())",
           "-c", sasl_virtd.uri(), "list"]  # fmt: skip
    env = {**os.environ, "LIBVIRT_AUTH_FILE": str(empty)}
    result = subprocess.run(run, input="alice\nsecret\n", capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Please enter your authentication name: Please enter your password: ")
    assert " 1    test   running" in result.stdout
    result = subprocess.run(run, input="alice\n", capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 1
    assert "error: authentication cancelled: Failed to collect auth credentials" in result.stderr


def test_calls_before_authentication_are_refused(sasl_virtd: Daemon) -> None:
    client = RemoteClient(connect_unix(sasl_virtd.sock))
    try:

        def call(name: str, *args: object) -> object:
            proc = P.BY_NAME[name]
            body = proc.args.Value(*args) if args else None
            return client.call(proc.number, proc.args, body, proc.ret)

        assert call("AUTH_LIST") == ([P.AuthType.SASL],)
        for name, args in (("CONNECT_OPEN", ("test:///default", 0)), ("CONNECT_LIST_ALL_DOMAINS", (1, 0))):
            with pytest.raises(VirtError) as err:
                call(name, *args)
            assert err.value.code == ErrorNumber.RPC and str(err.value) == "authentication required"
        assert "SCRAM-SHA-256" in str(call("AUTH_SASL_INIT")[0])  # type: ignore[index]
        with pytest.raises(AuthFailedError):
            call("AUTH_SASL_STEP", 1, [])  # a step before any start
        # Logging in opens the door on the same connection.
        db = sasl.SaslSettings(users_file=sasl_virtd.sock.parent / "users")
        assert db.database().lookup("alice", "SCRAM-SHA-256") is not None
        exchange = sasl.ScramClient("SCRAM-SHA-256", "alice", "secret")
        _, nil, data = call("AUTH_SASL_START", "SCRAM-SHA-256", *sasl.wire_data(exchange.first()))  # type: ignore[misc]
        complete, nil, data = call("AUTH_SASL_STEP", *sasl.wire_data(exchange.final(sasl.data_from_wire(nil, data) or b"")))  # type: ignore[misc]
        assert complete == 1
        exchange.verify(sasl.data_from_wire(nil, data))
        call("CONNECT_OPEN", "test:///default", 0)
        assert call("CONNECT_NUM_OF_DOMAINS") == (1,)
    finally:
        client.close()


def test_unsupported_auth_type_in_the_config_is_an_error(tmp_path: Path) -> None:
    conf = tmp_path / "virtd.conf"
    conf.write_text('auth_unix_rw = "polkit"\n')
    result = subprocess.run([sys.executable, "-m", "virt.core.remote.daemon", "--config", str(conf),
                             "--socket", str(tmp_path / "s")], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 1
    assert "unsupported authentication type 'polkit'" in result.stderr


# ---- SASL on TCP: over TLS for everyone, over plain TCP for our client only ------------------------------------


@pytest.fixture(scope="module")
def tcp_sasl_virtd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int, int, Path]]:
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl to make certificates")
    from .test_tls import free_port, make_pki, wait_for_port

    tmp = tmp_path_factory.mktemp("virtd-sasl-tcp")
    tmp.chmod(0o755)
    pki = make_pki(tmp / "pki")
    sasl.UserDatabase(tmp / "users").set_password("alice", "secret")
    tls_port, tcp_port = free_port(), free_port()
    conf = tmp / "virtd.conf"
    conf.write_text(f'listen_tls = 1\nlisten_tcp = 1\nlisten_addr = "127.0.0.1"\ntls_port = "{tls_port}"\n'
                    f'tcp_port = "{tcp_port}"\nauth_tls = "sasl"\nsasl_users_file = "{tmp / "users"}"\n'
                    f'ca_file = "{pki}/cacert.pem"\ncert_file = "{pki}/servercert.pem"\n'
                    f'key_file = "{pki}/serverkey.pem"\n')  # fmt: skip
    daemon = start_virtd(tmp, "--config", str(conf))
    try:
        wait_for_port(tls_port)
        wait_for_port(tcp_port)
        authfile = tmp / "auth.conf"
        authfile.write_text("[credentials-t]\nauthname=alice\npassword=secret\n\n[auth-libvirt-localhost]\n"
                            "credentials=t\n\n[auth-libvirt-127.0.0.1]\ncredentials=t\n")  # fmt: skip
        yield pki, tls_port, tcp_port, authfile
    finally:
        _stop(daemon.pid, daemon.proc)


@pytest.mark.skipif(not os.path.exists(VIRSH), reason="virsh (libvirt-clients) is not installed")
def test_virsh_over_tls_with_sasl(tcp_sasl_virtd: tuple[Path, int, int, Path]) -> None:
    pki, tls_port, _, authfile = tcp_sasl_virtd
    env = {**os.environ, "LIBVIRT_AUTH_FILE": str(authfile)}
    result = subprocess.run([VIRSH, "-c", f"test+tls://localhost:{tls_port}/default?pkipath={pki}", "list"],
                            capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert " 1    test   running" in result.stdout


@pytest.mark.skipif(not os.path.exists(VIRSH), reason="virsh (libvirt-clients) is not installed")
def test_virsh_over_plain_tcp_wants_a_security_layer(tcp_sasl_virtd: tuple[Path, int, int, Path]) -> None:
    """libvirt's client asks SASL for SSF >= 56 on plain TCP; SCRAM has none, so it finds no mechanism."""
    _, _, tcp_port, authfile = tcp_sasl_virtd
    env = {**os.environ, "LIBVIRT_AUTH_FILE": str(authfile)}
    result = subprocess.run([VIRSH, "-c", f"test+tcp://127.0.0.1:{tcp_port}/default", "list"],
                            capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)  # fmt: skip
    assert result.returncode == 1
    assert "No worthy mechs found" in result.stderr


def test_our_client_over_tls_and_tcp_with_sasl(tcp_sasl_virtd: tuple[Path, int, int, Path]) -> None:
    pki, tls_port, tcp_port, authfile = tcp_sasl_virtd
    for uri in (f"test+tls://localhost:{tls_port}/default?pkipath={pki}&authfile={authfile}",
                f"test+tcp://127.0.0.1:{tcp_port}/default?authfile={authfile}"):  # fmt: skip
        with v.open(uri) as conn:
            assert [d.name() for d in conn.list_all_domains()] == ["test"]


def test_clients_waiting_to_log_in_are_limited(tmp_path: Path) -> None:
    """max_anonymous_clients: clients not yet authenticated beyond it are turned away; logged-in ones are not."""
    sasl.UserDatabase(tmp_path / "users").set_password("alice", "secret")
    conf = tmp_path / "virtd.conf"
    conf.write_text(f'auth_unix_rw = "sasl"\nmax_anonymous_clients = 2\nsasl_users_file = "{tmp_path / "users"}"\n')
    daemon = start_virtd(tmp_path, "--config", str(conf))
    waiting = [RemoteClient(connect_unix(daemon.sock)) for _ in range(2)]
    try:
        proc = P.BY_NAME["AUTH_LIST"]
        for client in waiting:
            assert client.call(proc.number, proc.args, None, proc.ret) == ([P.AuthType.SASL],)
        refused = RemoteClient(connect_unix(daemon.sock))
        with pytest.raises(VirtError):
            refused.call(proc.number, proc.args, None, proc.ret)
        refused.close()
        waiting.pop().close()
        good = auth_file(tmp_path, "alice", "secret")
        deadline = time.monotonic() + 10
        while True:  # the daemon notices the closed client at once, but give it a moment
            try:
                with v.open(f"{daemon.uri()}&authfile={good}") as conn:
                    assert conn.get_type() == "TEST"
                break
            except VirtError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
    finally:
        for client in waiting:
            client.close()
        _stop(daemon.pid, daemon.proc)


# ---- our client against libvirtd with SASL (cyrus-sasl's SCRAM server, users in a sasldb) --------------------


@pytest.fixture(scope="module")
def sasl_libvirtd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """libvirt's daemon in session mode as ``nobody``, SASL on its sockets, SCRAM users in its own sasldb."""
    from .conftest import LIBVIRTD, _wait_for

    saslpasswd2 = shutil.which("saslpasswd2") or "/usr/sbin/saslpasswd2"
    if not os.path.exists(LIBVIRTD) or os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("needs root and libvirt-daemon")
    if not os.path.exists(saslpasswd2):
        pytest.skip("needs saslpasswd2 (Debian package sasl2-bin)")
    tmp = Path(tempfile.mkdtemp(prefix="libvirtd-sasl-"))  # pytest's own tmp is closed to nobody
    home, conf_dir = tmp / "home", tmp / "sasl"
    home.mkdir()
    conf_dir.mkdir()
    # cyrus-sasl reads <service>.conf from $SASL_CONF_PATH: only SCRAM, users in this sasldb.
    (conf_dir / "libvirt.conf").write_text(f"mech_list: scram-sha-256 scram-sha-1\nsasldb_path: {conf_dir}/passwd.db\n")
    subprocess.run([saslpasswd2, "-p", "-c", "-f", str(conf_dir / "passwd.db"), "-a", "libvirt", "alice"],
                   input="secret", text=True, check=True)  # fmt: skip
    conf = tmp / "libvirtd.conf"
    conf.write_text(f'unix_sock_dir = "{tmp}"\nauth_unix_rw = "sasl"\nauth_unix_ro = "sasl"\n'
                    'unix_sock_rw_perms = "0777"\nunix_sock_ro_perms = "0777"\n')  # fmt: skip
    for path in (tmp, home, conf_dir, *conf_dir.iterdir()):
        shutil.chown(path, "nobody")
    tmp.chmod(0o755)
    env = {"HOME": str(home), "XDG_RUNTIME_DIR": str(home), "XDG_CONFIG_HOME": str(home),
           "XDG_CACHE_HOME": str(home), "SASL_CONF_PATH": str(conf_dir), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}  # fmt: skip
    pidfile = tmp / "libvirtd.pid"
    proc = subprocess.Popen(["runuser", "-u", "nobody", "--", "env", *(f"{k}={val}" for k, val in env.items()),
                             LIBVIRTD, "-f", str(conf), "-p", str(pidfile)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    sock = tmp / "libvirt-sock"
    try:
        _wait_for(sock, proc, "libvirtd")
        _wait_for(pidfile, proc, "libvirtd")
    except RuntimeError:
        proc.kill()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    pid = int(pidfile.read_text().strip())
    try:
        yield Daemon(sock, None, proc, pid)
    finally:
        _stop(pid, proc)
        shutil.rmtree(tmp, ignore_errors=True)


def test_our_client_logs_in_to_libvirtd(sasl_libvirtd: Daemon, tmp_path: Path) -> None:
    good = auth_file(tmp_path, "alice", "secret")
    with v.open(f"{sasl_libvirtd.uri()}&authfile={good}") as conn:
        assert [d.name() for d in conn.list_all_domains()] == ["test"]
    bad = auth_file(tmp_path, "alice", "wrong")
    with pytest.raises(AuthFailedError, match="^authentication failed: authentication failed$"):
        v.open(f"{sasl_libvirtd.uri()}&authfile={bad}")


@pytest.mark.parametrize("which", ["libvirtd", "virtd"])
def test_refusals_match_libvirtd(which: str, sasl_libvirtd: Daemon, sasl_virtd: Daemon) -> None:
    """The same calls before and during a login get the same answers from virtd as from libvirtd."""
    daemon = sasl_libvirtd if which == "libvirtd" else sasl_virtd
    client = RemoteClient(connect_unix(daemon.sock))

    def call(name: str, *args: object) -> object:
        proc = P.BY_NAME[name]
        return client.call(proc.number, proc.args, proc.args.Value(*args) if args else None, proc.ret)

    def error_of(name: str, *args: object) -> tuple[int, str]:
        with pytest.raises(VirtError) as err:
            call(name, *args)
        return int(err.value.code), str(err.value)

    try:
        assert call("AUTH_LIST") == ([P.AuthType.SASL],)
        for name, args in (("CONNECT_OPEN", ("test:///default", 0)), ("CONNECT_SUPPORTS_FEATURE", (10,)),
                           ("CONNECT_GET_TYPE", ())):  # fmt: skip
            assert error_of(name, *args) == (ErrorNumber.RPC, "authentication required")
        assert call("AUTH_SASL_INIT") == ("SCRAM-SHA-256,SCRAM-SHA-1",)
        assert error_of("AUTH_SASL_START", "NOPE", 1, []) == (ErrorNumber.AUTH_FAILED, "authentication failed: authentication failed")
        exchange = sasl.ScramClient("SCRAM-SHA-256", "alice", "wrong")
        # A failure ends the SASL session: starting again without a new INIT fails too.
        assert error_of("AUTH_SASL_START", "SCRAM-SHA-256", *sasl.wire_data(exchange.first()))[0] == ErrorNumber.AUTH_FAILED
        call("AUTH_SASL_INIT")
        complete, nil, data = call("AUTH_SASL_START", "SCRAM-SHA-256", *sasl.wire_data(exchange.first()))  # type: ignore[misc]
        assert complete == 0
        final = exchange.final(sasl.data_from_wire(nil, data) or b"")
        assert error_of("AUTH_SASL_STEP", *sasl.wire_data(final)) == (ErrorNumber.AUTH_FAILED, "authentication failed: authentication failed")
        assert call("AUTH_LIST") == ([P.AuthType.SASL],)  # still connected: the client may try again
    finally:
        client.close()



LIBVIRT_PYTHON_OPEN = """
import libvirt, sys
libvirt.registerErrorHandler(lambda *a: None, None)
try:
    conn = libvirt.open(sys.argv[1])
    print(sorted(d.name() for d in conn.listAllDomains()))
except libvirt.libvirtError as e:
    print(e.get_error_code(), e.get_error_message())
"""


@pytest.mark.skipif(not os.path.exists(SYSTEM_PYTHON), reason="no system python")
def test_libvirt_python_open_answers_as_with_libvirtd(sasl_libvirtd: Daemon, sasl_virtd: Daemon,
                                                      tmp_path: Path) -> None:  # fmt: skip
    """libvirt.open (no auth callback) with auth.conf credentials: whatever libvirtd's SASL gives, virtd's gives."""
    if subprocess.run([SYSTEM_PYTHON, "-c", "import libvirt"], capture_output=True).returncode != 0:
        pytest.skip("python3-libvirt is not installed")
    env = {k: val for k, val in os.environ.items() if k != "PYTHONPATH"}
    env["LIBVIRT_AUTH_FILE"] = str(auth_file(tmp_path, "alice", "secret"))
    answers = [subprocess.run([SYSTEM_PYTHON, "-c", LIBVIRT_PYTHON_OPEN, d.uri()], capture_output=True, text=True,
                              timeout=60, env=env).stdout.strip() for d in (sasl_libvirtd, sasl_virtd)]  # fmt: skip
    assert answers[0] == answers[1], answers
    assert answers[0] in ("['test']", f"{int(ErrorNumber.AUTH_FAILED)} authentication failed: Failed to start SASL negotiation: -4 (SASL(-4): no mechanism available: No worthy mechs found)"), answers
