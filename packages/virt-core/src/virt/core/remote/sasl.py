"""SASL for libvirt's remote protocol: SCRAM (RFC 5802/7677), virtd's user database, both ends of AUTH_SASL_*.

The server offers SCRAM-SHA-256 and SCRAM-SHA-1, which cyrus-sasl's scram plugin (the one virsh and
libvirt-python use) speaks. SCRAM gives authentication only, no security layer (SSF 0): libvirt's
client accepts that on unix sockets and over TLS, and asks for SSF >= 56 on plain TCP, which SCRAM
cannot give; so a SASL'd plain TCP listener serves virt's own client but not libvirt's.

Users live in a file of ours, one line per user and mechanism::

    name:SCRAM-SHA-256:iterations:salt:StoredKey:ServerKey      (the last three in base64)

It holds SCRAM's verifiers, never the password; ``virtd sasl-user add|delete|list`` manages it.
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import getpass
import hashlib
import hmac
import logging
import os
import secrets
import stringprep
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from virt.util.errors import AuthFailedError, ErrorDomain, ErrorNumber, RPCError, VirtError

log = logging.getLogger("virt.remote.sasl")

#: The mechanisms virtd offers, best first, with their hash.
MECHANISMS: dict[str, str] = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-1": "sha1"}
DEFAULT_ITERATIONS = 4096
#: The service name libvirt registers with SASL and looks credentials up under in auth.conf.
SERVICE = "libvirt"


def default_users_file() -> Path:
    """Where virtd keeps its SASL users: /etc/libvirt as root, else the user's config directory."""
    if os.geteuid() == 0:
        return Path("/etc/libvirt/virtd-sasl-users")
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "libvirt" / "virtd-sasl-users"


def _auth_failed(detail: str = "authentication failed") -> AuthFailedError:
    return AuthFailedError(detail, code=ErrorNumber.AUTH_FAILED, domain=ErrorDomain.RPC)


# ---- SCRAM primitives --------------------------------------------------------------------------------


def saslprep(text: str) -> str:
    """RFC 4013 SASLprep: spaces mapped, soft hyphens dropped, NFKC; prohibited characters refused."""
    mapped = "".join(" " if stringprep.in_table_c12(c) else c for c in text if not stringprep.in_table_b1(c))
    out = unicodedata.normalize("NFKC", mapped)
    for c in out:
        if (stringprep.in_table_c12(c) or stringprep.in_table_c21_c22(c) or stringprep.in_table_c3(c)
                or stringprep.in_table_c4(c) or stringprep.in_table_c5(c) or stringprep.in_table_c6(c)
                or stringprep.in_table_c7(c) or stringprep.in_table_c8(c) or stringprep.in_table_c9(c)):  # fmt: skip
            raise ValueError("prohibited character in SASL string")
    return out


class Verifier(NamedTuple):
    """What a server stores for one user and mechanism (RFC 5802 section 3)."""

    iterations: int
    salt: bytes
    stored_key: bytes
    server_key: bytes


def salted_password(hash_name: str, password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac(hash_name, saslprep(password).encode(), salt, iterations)


def _hmac(hash_name: str, key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hash_name).digest()


def make_verifier(hash_name: str, password: str, salt: bytes | None = None,
                  iterations: int = DEFAULT_ITERATIONS) -> Verifier:  # fmt: skip
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = salted_password(hash_name, password, salt, iterations)
    client_key = _hmac(hash_name, salted, b"Client Key")
    stored_key = hashlib.new(hash_name, client_key).digest()
    return Verifier(iterations, salt, stored_key, _hmac(hash_name, salted, b"Server Key"))


def _escape_name(name: str) -> str:
    return name.replace("=", "=3D").replace(",", "=2C")


def _unescape_name(name: str) -> str:
    if "=" in name.replace("=3D", "").replace("=2C", ""):
        raise _auth_failed("invalid SCRAM user name encoding")
    return name.replace("=2C", ",").replace("=3D", "=")


def _attributes(message: str) -> list[tuple[str, str]]:
    """``a=1,b=2`` -> [("a", "1"), ("b", "2")]; malformed messages fail authentication."""
    pairs = []
    for part in message.split(","):
        if len(part) < 2 or part[1] != "=":
            raise _auth_failed("malformed SCRAM message")
        pairs.append((part[0], part[2:]))
    return pairs


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise _auth_failed("malformed base64 in SCRAM message") from None


# ---- the user database -----------------------------------------------------------------------------------


class UserDatabase:
    """virtd's SASL users file: SCRAM verifiers by (user, mechanism); reread when it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._users: dict[tuple[str, str], Verifier] = {}

    def _load(self) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._users, self._stamp = {}, None
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        users: dict[tuple[str, str], Verifier] = {}
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = line.rsplit(":", 5)
            if len(fields) != 6 or fields[1] not in MECHANISMS:
                raise VirtError(f"{self.path}:{number}: malformed SASL user entry", code=ErrorNumber.CONF_SYNTAX)
            name, mech, iterations, salt, stored, server = fields
            users[(name, mech)] = Verifier(int(iterations), base64.b64decode(salt), base64.b64decode(stored),
                                           base64.b64decode(server))  # fmt: skip
        self._users, self._stamp = users, stamp

    def lookup(self, name: str, mech: str) -> Verifier | None:
        self._load()
        return self._users.get((name, mech))

    def names(self) -> list[str]:
        self._load()
        return sorted({name for name, _ in self._users})

    def set_password(self, name: str, password: str, iterations: int = DEFAULT_ITERATIONS) -> None:
        """Add the user, or change their password: verifiers for every mechanism, a fresh salt each."""
        if not name or ":" in name or "\n" in name:
            raise VirtError(f"invalid SASL user name '{name}'", code=ErrorNumber.INVALID_ARG)
        self._load()
        for mech, hash_name in MECHANISMS.items():
            self._users[(name, mech)] = make_verifier(hash_name, password, iterations=iterations)
        self._save()

    def delete(self, name: str) -> bool:
        self._load()
        keys = [key for key in self._users if key[0] == name]
        for key in keys:
            del self._users[key]
        self._save()
        return bool(keys)

    def _save(self) -> None:
        lines = ["# virtd SASL users: name:mechanism:iterations:salt:StoredKey:ServerKey (SCRAM, RFC 5802)"]
        for (name, mech), v in sorted(self._users.items()):
            lines.append(f"{name}:{mech}:{v.iterations}:{_b64(v.salt)}:{_b64(v.stored_key)}:{_b64(v.server_key)}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, self.path)
        self._stamp = None


# ---- server side -----------------------------------------------------------------------------------------


class ScramServer:
    """One SCRAM exchange on the server: client-first -> server-first, client-final -> server-final."""

    def __init__(self, mech: str, users: UserDatabase, nonce: str | None = None) -> None:
        self.mech = mech
        self._own_nonce = nonce  # tests pin it to check RFC 5802/7677's examples
        self.hash = MECHANISMS[mech]
        self.users = users
        self.username: str | None = None
        self._state = "start"
        self._verifier: Verifier | None = None

    def step(self, data: bytes | None) -> tuple[bool, bytes | None]:
        """Consume the client's message; returns (complete, server message)."""
        try:
            text = (data or b"").decode("utf-8")
        except UnicodeDecodeError:
            raise _auth_failed("SCRAM message is not UTF-8") from None
        if self._state == "start":
            return False, self._client_first(text)
        if self._state == "final":
            return True, self._client_final(text)
        raise _auth_failed("SASL exchange already finished")

    def _client_first(self, text: str) -> bytes:
        self._state = "failed"
        if not text:
            raise _auth_failed("SCRAM needs the client's first message")
        cbind, sep, rest = text.partition(",")
        authzid, sep2, bare = rest.partition(",")
        # "n": no channel binding; "y": the client could bind but we offer no -PLUS mechanism.
        if not sep or not sep2 or cbind not in ("n", "y"):
            raise _auth_failed("unsupported SCRAM channel binding")
        self._gs2_header = f"{cbind},{authzid},"
        attrs = _attributes(bare)
        if len(attrs) < 2 or attrs[0][0] != "n" or attrs[1][0] != "r" or not attrs[1][1]:
            raise _auth_failed("malformed SCRAM client-first message")
        if any(key == "m" for key, _ in attrs):
            raise _auth_failed("unsupported SCRAM extension")
        name = _unescape_name(attrs[0][1])
        if authzid and _unescape_name(authzid.removeprefix("a=")) != name:
            raise _auth_failed("SCRAM authorization identity differs from the user")
        self.username = name
        self._client_first_bare = bare
        verifier = self.users.lookup(name, self.mech)
        if verifier is None:
            # Carry on with a made-up verifier so that an unknown user looks like a wrong password.
            size = hashlib.new(self.hash).digest_size
            verifier = Verifier(DEFAULT_ITERATIONS, secrets.token_bytes(16), secrets.token_bytes(size),
                                secrets.token_bytes(size))  # fmt: skip
            self.username = None
        self._verifier = verifier
        self._nonce = attrs[1][1] + (self._own_nonce or _b64(secrets.token_bytes(18)))
        self._server_first = f"r={self._nonce},s={_b64(verifier.salt)},i={verifier.iterations}"
        self._state = "final"
        return self._server_first.encode()

    def _client_final(self, text: str) -> bytes:
        self._state = "failed"
        attrs = _attributes(text)
        if len(attrs) < 3 or attrs[0][0] != "c" or attrs[1][0] != "r" or attrs[-1][0] != "p":
            raise _auth_failed("malformed SCRAM client-final message")
        if _unb64(attrs[0][1]) != self._gs2_header.encode() or attrs[1][1] != self._nonce:
            raise _auth_failed("SCRAM channel binding or nonce mismatch")
        without_proof = text[: text.rindex(",p=")]
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        assert self._verifier is not None
        signature = _hmac(self.hash, self._verifier.stored_key, auth_message)
        proof = _unb64(attrs[-1][1])
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=False))
        if (len(proof) != len(signature) or self.username is None
                or not hmac.compare_digest(hashlib.new(self.hash, client_key).digest(), self._verifier.stored_key)):  # fmt: skip
            raise _auth_failed()
        self._state = "done"
        return f"v={_b64(_hmac(self.hash, self._verifier.server_key, auth_message))}".encode()


@dataclass
class SaslSettings:
    """virtd's SASL configuration (libvirtd.conf's sasl_allowed_username_list, and our users file)."""

    users_file: Path | None = None
    allowed_usernames: list[str] | None = None
    _db: UserDatabase | None = field(default=None, init=False, repr=False, compare=False)

    def database(self) -> UserDatabase:
        """The users file, read once and reread when it changes (``virtd sasl-user`` while running)."""
        path = self.users_file or default_users_file()
        if self._db is None or self._db.path != path:
            self._db = UserDatabase(path)
        return self._db


class ServerSession:
    """A client's SASL state on virtd: its chosen mechanism's exchange, then who it is."""

    def __init__(self, settings: SaslSettings) -> None:
        self.settings = settings
        self.exchange: ScramServer | None = None
        self.username: str | None = None
        #: AUTH_SASL_INIT was called since the last failure (libvirtd drops the session on failure).
        self.ready = False

    def init(self) -> str:
        self.exchange = None
        self.ready = True
        return ",".join(MECHANISMS)

    def start(self, mech: str, data: bytes | None) -> tuple[bool, bytes | None]:
        if not self.ready:
            log.info("SASL start without SASL init")
            raise _auth_failed()
        if mech not in MECHANISMS:
            log.info("SASL mechanism %r is not offered", mech)
            self.ready = False
            raise _auth_failed()
        self.exchange = ScramServer(mech, self.settings.database())
        return self._step(data)

    def step(self, data: bytes | None) -> tuple[bool, bytes | None]:
        if self.exchange is None:
            log.info("SASL step before SASL start")
            raise _auth_failed()
        return self._step(data)

    def _step(self, data: bytes | None) -> tuple[bool, bytes | None]:
        assert self.exchange is not None
        try:
            complete, out = self.exchange.step(data)
        except AuthFailedError as err:
            # The client learns only that it failed, as from libvirtd; the reason goes to the log.
            log.info("SASL authentication failed: %s", err)
            self.exchange, self.ready = None, False
            raise _auth_failed() from None
        if complete:
            name = self.exchange.username
            allowed = self.settings.allowed_usernames
            self.exchange, self.ready = None, False
            if name is None or (allowed is not None and not any(fnmatch.fnmatchcase(name, p) for p in allowed)):
                log.info("SASL user %s is not allowed (sasl_allowed_username_list)", name)
                raise _auth_failed()
            self.username = name
        return complete, out


def wire_data(data: bytes | None) -> tuple[int, list[int]]:
    """(nil, chars) of a SASL payload: libvirt sends SASL data as an XDR char array, NULL as nil=1."""
    if data is None:
        return 1, []
    return 0, [b - 256 if b > 127 else b for b in data]


def data_from_wire(nil: int, chars: list[int]) -> bytes | None:
    return None if nil else bytes(c & 0xFF for c in chars)


# ---- virtd's AUTH_* procedures (registered by the server; ``client`` is its ClientConnection) --------------

#: Calls a client may make before it has authenticated (libvirt's procedures without needAuth).
PRE_AUTH_PROCEDURES = frozenset({"AUTH_LIST", "AUTH_SASL_INIT", "AUTH_SASL_START", "AUTH_SASL_STEP", "AUTH_POLKIT"})
AUTH_TYPES = {"none": 0, "sasl": 1, "polkit": 2}


def auth_required() -> RPCError:
    """What a call made before logging in gets: libvirtd's VIR_ERR_RPC, its text without a prefix."""
    return RPCError("authentication required", domain=ErrorDomain.RPC, message="authentication required")


def _session(client: Any) -> ServerSession:
    if client.auth != "sasl":
        raise _auth_failed()
    if client.sasl is None:
        client.sasl = ServerSession(client.server.config.sasl or SaslSettings())
    return client.sasl  # type: ignore[no-any-return]


def auth_list(client: Any, args: Any) -> Any:
    return ([AUTH_TYPES[client.auth]],)


def auth_sasl_init(client: Any, args: Any) -> Any:
    return (_session(client).init(),)


def _finish(client: Any, result: tuple[bool, bytes | None]) -> Any:
    complete, out = result
    if complete:
        client.authenticated = True
    return (int(complete), *wire_data(out))


def auth_sasl_start(client: Any, args: Any) -> Any:
    return _finish(client, _session(client).start(args.mech, data_from_wire(args.nil, args.data)))


def auth_sasl_step(client: Any, args: Any) -> Any:
    return _finish(client, _session(client).step(data_from_wire(args.nil, args.data)))


def auth_polkit(client: Any, args: Any) -> Any:
    raise _auth_failed()


#: Procedure name -> handler. The server keeps verifiers, not passwords: no PBKDF2 runs here, so
#: every step is cheap enough for the event loop.
SERVER_HANDLERS: dict[str, Callable[[Any, Any], Any]] = {
    "AUTH_LIST": auth_list,
    "AUTH_SASL_INIT": auth_sasl_init,
    "AUTH_SASL_START": auth_sasl_start,
    "AUTH_SASL_STEP": auth_sasl_step,
    "AUTH_POLKIT": auth_polkit,
}


# ---- client side -------------------------------------------------------------------------------------------


class ScramClient:
    """Our end of one SCRAM exchange (no channel binding, no authorization identity)."""

    def __init__(self, mech: str, username: str, password: str, nonce: str | None = None) -> None:
        self.hash = MECHANISMS[mech]
        self.username = username
        self.password = password
        self._nonce = nonce or _b64(secrets.token_bytes(18))
        self._bare = f"n={_escape_name(saslprep(username))},r={self._nonce}"
        self._server_signature: bytes | None = None

    def first(self) -> bytes:
        return f"n,,{self._bare}".encode()

    def final(self, server_first: bytes) -> bytes:
        attrs = dict(_attributes(server_first.decode("utf-8")))
        nonce, salt, iterations = attrs.get("r", ""), _unb64(attrs.get("s", "")), int(attrs.get("i", "0") or 0)
        if not nonce.startswith(self._nonce) or iterations < 1:
            raise _auth_failed("the server's SCRAM reply does not match our request")
        without_proof = f"c={_b64(b'n,,')},r={nonce}"
        auth_message = f"{self._bare},{server_first.decode()},{without_proof}".encode()
        salted = salted_password(self.hash, self.password, salt, iterations)
        client_key = _hmac(self.hash, salted, b"Client Key")
        signature = _hmac(self.hash, hashlib.new(self.hash, client_key).digest(), auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self._server_signature = _hmac(self.hash, _hmac(self.hash, salted, b"Server Key"), auth_message)
        return f"{without_proof},p={_b64(proof)}".encode()

    def verify(self, server_final: bytes | None) -> None:
        attrs = dict(_attributes((server_final or b"").decode("utf-8")))
        if "v" not in attrs or not hmac.compare_digest(_unb64(attrs["v"]), self._server_signature or b""):
            raise _auth_failed("the server did not prove that it knows our password")


class CredentialType:
    """virConnectCredentialType: what an auth callback is asked for."""

    USERNAME = 1
    AUTHNAME = 2
    LANGUAGE = 3
    CNONCE = 4
    PASSPHRASE = 5
    ECHOPROMPT = 6
    NOECHOPROMPT = 7
    REALM = 8
    EXTERNAL = 9


#: An auth callback, as libvirt-python's openAuth takes: called with a list of credentials, each a
#: list ``[type, prompt, challenge, defresult, result]``; it fills ``result`` (index 4) of each.
AuthCallback = Callable[[list[list[Any]]], Any]


def _credentials(uri_params: dict[str, str], host: str, callback: AuthCallback | None) -> tuple[str, str]:
    """(user, password): from libvirt's auth.conf (service "libvirt", this host) first, as libvirt's
    client fills them, then whatever is still missing from the connection's auth callback."""
    from virt.core import auth as auth_conf

    path = auth_conf.auth_file(uri_params)
    # libvirt's client fills SASL's authentication name from "authname", as virsh does; "username" too.
    user = auth_conf.lookup(path, SERVICE, host, "authname") or auth_conf.lookup(path, SERVICE, host, "username")
    password = auth_conf.lookup(path, SERVICE, host, "password")
    if (user is None or password is None) and callback is not None:
        wanted = []
        if user is None:
            wanted.append([CredentialType.AUTHNAME, "Please enter your authentication name", "", "", None])
        if password is None:
            wanted.append([CredentialType.PASSPHRASE, "Please enter your password", "", "", None])
        if callback(wanted) == -1:
            raise AuthFailedError("Failed to collect auth credentials", code=ErrorNumber.AUTH_CANCELLED,
                                  domain=ErrorDomain.AUTH)  # fmt: skip
        for cred in wanted:
            if cred[0] == CredentialType.AUTHNAME and cred[4] is not None:
                user = str(cred[4])
            elif cred[0] == CredentialType.PASSPHRASE and cred[4] is not None:
                password = str(cred[4])
    if user is None or password is None:
        raise AuthFailedError("Failed to collect auth credentials", code=ErrorNumber.AUTH_FAILED,
                              domain=ErrorDomain.AUTH)  # fmt: skip
    return user, password


def console_auth(creds: list[list[Any]]) -> int:
    """An auth callback that asks on the terminal, as virsh's default one does (passwords unechoed)."""
    try:
        for cred in creds:
            prompt = f"{cred[1]}: "
            if cred[0] in (CredentialType.PASSPHRASE, CredentialType.NOECHOPROMPT) and sys.stdin.isatty():
                cred[4] = getpass.getpass(prompt)
            else:  # not a terminal (a pipe): nothing to hide, read a line
                print(prompt, end="", flush=True)
                line = sys.stdin.readline()
                if not line:
                    raise EOFError
                cred[4] = line.rstrip("\n")
    except (EOFError, KeyboardInterrupt):
        return -1
    return 0


def client_authenticate(call: Callable[..., Any], uri_params: dict[str, str], host: str,
                        auth: AuthCallback | None = None) -> str:  # fmt: skip
    """Run AUTH_SASL_INIT/START/STEP with ``call(name, *args)``; returns the user name we logged in as.

    Credentials come from libvirt's auth.conf, then from the ``auth`` callback (see AuthCallback).
    """

    offered = [m for m in call("AUTH_SASL_INIT")[0].replace(",", " ").split() if m]
    wanted = uri_params.get("auth", "")
    choices = [m for m in MECHANISMS if m in offered]
    if wanted.startswith("sasl."):
        choices = [m for m in choices if m == wanted[5:].upper()]
    if not choices:
        raise AuthFailedError("no mechanism offered by the server is supported", code=ErrorNumber.AUTH_FAILED,
                              domain=ErrorDomain.AUTH)  # fmt: skip
    mech = choices[0]
    username, password = _credentials(uri_params, host, auth)
    exchange = ScramClient(mech, username, password)
    complete, nil, data = call("AUTH_SASL_START", mech, *wire_data(exchange.first()))
    if complete:
        raise _auth_failed("the server ended the SCRAM exchange early")
    complete, nil, data = call("AUTH_SASL_STEP", *wire_data(exchange.final(data_from_wire(nil, data) or b"")))
    if not complete:
        raise _auth_failed("the server did not finish the SCRAM exchange")
    exchange.verify(data_from_wire(nil, data))
    return username


# ---- `virtd sasl-user`: manage the users file -----------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="virtd sasl-user", description="Manage virtd's SASL (SCRAM) users.")
    p.add_argument("-f", "--file", type=Path, metavar="FILE", help=f"users file (default: {default_users_file()})")
    sub = p.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="add a user or change their password (read from stdin if not a terminal)")
    add.add_argument("name")
    add.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS)
    delete = sub.add_parser("delete", help="remove a user")
    delete.add_argument("name")
    sub.add_parser("list", help="list the users")
    args = p.parse_args(argv)
    db = UserDatabase(args.file or default_users_file())
    try:
        if args.action == "add":
            if sys.stdin.isatty():
                password = getpass.getpass(f"Password for {args.name}: ")
                if getpass.getpass("Again: ") != password:
                    print("virtd sasl-user: passwords differ", file=sys.stderr)
                    return 1
            else:
                password = sys.stdin.readline().rstrip("\n")
            if not password:
                print("virtd sasl-user: empty password", file=sys.stderr)
                return 1
            db.set_password(args.name, password, args.iterations)
        elif args.action == "delete":
            if not db.delete(args.name):
                print(f"virtd sasl-user: no user '{args.name}'", file=sys.stderr)
                return 1
        else:
            for name in db.names():
                print(name)
    except (VirtError, OSError, ValueError) as err:
        print(f"virtd sasl-user: error: {err}", file=sys.stderr)
        return 1
    return 0
