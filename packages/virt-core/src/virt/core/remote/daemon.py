"""The ``virtd`` command: serve every installed driver over libvirt's remote protocol.

``virtd --socket PATH [--socket-ro PATH]`` runs in the foreground on those unix sockets (what tests
and scripts use). Without ``--socket`` it listens where libvirtd would, so unmodified libvirt clients
on the host find it: /run/libvirt/libvirt-sock and libvirt-sock-ro as root, else
$XDG_RUNTIME_DIR/libvirt/libvirt-sock, with the admin socket (libvirt-admin-sock) beside them.
``--listen`` adds TLS on TCP port 16514 (``--no-tls``: plain TCP on 16509, SASL-authenticated as
libvirtd's auth_tcp default). Settings come from a libvirtd.conf-style file (``--config``); options
win. ``virtd sasl-user add|delete|list NAME`` manages the SASL users (see virt.core.remote.sasl).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import ssl
import sys
from dataclasses import dataclass, field
from pathlib import Path

from virt.core.remote.sasl import SaslSettings
from virt.core.remote.server import Server, ServerConfig
from virt.util.errors import ErrorNumber, VirtError

log = logging.getLogger("virt.remote.daemon")

TLS_PORT = 16514
TCP_PORT = 16509
#: libvirt's PKI locations for the server side of TLS.
CA_FILE = "/etc/pki/CA/cacert.pem"
CERT_FILE = "/etc/pki/libvirt/servercert.pem"
KEY_FILE = "/etc/pki/libvirt/private/serverkey.pem"


def default_socket_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/run/libvirt")
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.geteuid()}"
    return Path(runtime) / "libvirt"


@dataclass
class DaemonSettings:
    """What the daemon listens on and how; libvirtd.conf names where libvirt has one."""

    sockets: list[Path] = field(default_factory=list)
    sockets_ro: list[Path] = field(default_factory=list)
    #: The admin program's socket (virt-admin), libvirt-admin-sock.
    admin_sockets: list[Path] = field(default_factory=list)
    unix_sock_admin_perms: int | None = None
    #: "none" or "sasl" per kind of listener, as libvirtd.conf's auth_* (libvirtd's defaults).
    auth_unix_rw: str = "none"
    auth_unix_ro: str = "none"
    auth_tcp: str = "sasl"
    auth_tls: str = "none"
    unix_sock_rw_perms: int | None = None
    unix_sock_ro_perms: int | None = None
    listen_tcp: bool = False
    listen_tls: bool = False
    listen_addr: str | None = None
    tcp_port: int = TCP_PORT
    tls_port: int = TLS_PORT
    ca_file: str = CA_FILE
    cert_file: str = CERT_FILE
    key_file: str = KEY_FILE
    tls_no_verify_certificate: bool = False
    timeout: float = 0
    server: ServerConfig = field(default_factory=ServerConfig)


def read_config(path: Path, settings: DaemonSettings) -> None:
    """Apply a libvirtd.conf-style file."""
    from virt.util.config import read

    conf = read(path)
    sock_dir = conf.get("unix_sock_dir", str)
    if sock_dir:
        settings.sockets = [Path(sock_dir) / "libvirt-sock"]
        settings.sockets_ro = [Path(sock_dir) / "libvirt-sock-ro"]
        settings.admin_sockets = [Path(sock_dir) / "libvirt-admin-sock"]
    for name in ("unix_sock_rw_perms", "unix_sock_ro_perms", "unix_sock_admin_perms"):
        perms = conf.get(name, str)
        if perms:
            setattr(settings, name, int(perms, 8))
    for name in ("listen_tcp", "listen_tls", "tls_no_verify_certificate"):
        if name in conf:
            setattr(settings, name, conf.get(name, bool))
    for name in ("listen_addr", "ca_file", "cert_file", "key_file"):
        if name in conf:
            setattr(settings, name, conf.get(name, str))
    for name in ("tcp_port", "tls_port"):
        if name in conf:
            setattr(settings, name, int(conf.get(name, str) or 0))
    for name in ("auth_unix_rw", "auth_unix_ro", "auth_tcp", "auth_tls"):
        if name in conf:
            setattr(settings, name, _auth_type(conf.get(name, str) or "", f"{path}: {name}"))
    allowed = conf.get_string_list("sasl_allowed_username_list")
    users_file = conf.get("sasl_users_file", str)
    if allowed is not None or users_file:
        sasl = settings.server.sasl = settings.server.sasl or SaslSettings()
        sasl.allowed_usernames = allowed if allowed is not None else sasl.allowed_usernames
        sasl.users_file = Path(users_file) if users_file else sasl.users_file
    for name in ("max_clients", "max_anonymous_clients", "max_client_requests", "max_workers", "keepalive_interval",
                 "keepalive_count"):  # fmt: skip
        value = conf.get_int(name, min=-1)
        if value is not None:
            setattr(settings.server, name, value)


def _auth_type(value: str, what: str) -> str:
    if value not in ("none", "sasl"):
        raise VirtError(f"{what}: unsupported authentication type '{value}' (virtd knows none and sasl)",
                        code=ErrorNumber.CONF_SYNTAX)  # fmt: skip
    return value


def tls_context(settings: DaemonSettings) -> ssl.SSLContext:
    """Server TLS with x509 certificates; clients must present a certificate signed by the CA."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=settings.ca_file)
    ctx.load_cert_chain(settings.cert_file, settings.key_file)
    ctx.verify_mode = ssl.CERT_NONE if settings.tls_no_verify_certificate else ssl.CERT_REQUIRED
    # No TLS 1.3 session tickets: libvirt's client expects the first record after the handshake to
    # carry its confirmation byte, and a ticket there fails it with "Unable to read TLS confirmation".
    ctx.num_tickets = 0
    return ctx


async def run(settings: DaemonSettings) -> None:
    server = Server(settings.server)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(server.close()))
    for path in settings.sockets:
        await server.listen_unix(path, mode=settings.unix_sock_rw_perms, auth=settings.auth_unix_rw)
    for path in settings.sockets_ro:
        await server.listen_unix(path, readonly=True, mode=settings.unix_sock_ro_perms, auth=settings.auth_unix_ro)
    for path in settings.admin_sockets:
        await server.listen_unix(path, mode=settings.unix_sock_admin_perms, admin=True)
    if settings.listen_tls:
        ctx = tls_context(settings)
        await server.listen_tcp(settings.listen_addr, settings.tls_port, ssl=ctx, auth=settings.auth_tls)

        def update_tls_files() -> None:
            # New connections use the files as they are now; established ones keep their session.
            ctx.load_verify_locations(cafile=settings.ca_file)
            ctx.load_cert_chain(settings.cert_file, settings.key_file)

        server.config.update_tls_files = update_tls_files
    if settings.listen_tcp:
        await server.listen_tcp(settings.listen_addr, settings.tcp_port, auth=settings.auth_tcp)
    server.config.idle_timeout = settings.timeout
    uses_sasl = "sasl" in {settings.auth_unix_rw if settings.sockets else "", settings.auth_unix_ro
                           if settings.sockets_ro else "", settings.auth_tcp if settings.listen_tcp else "",
                           settings.auth_tls if settings.listen_tls else ""}  # fmt: skip
    users = (settings.server.sasl or SaslSettings()).database().path
    if uses_sasl and not users.exists():
        log.warning("SASL is on but %s does not exist: nobody can log in (virtd sasl-user add NAME)", users)
    watcher = loop.create_task(_exit_when_idle(server))
    await server.serve_forever()
    watcher.cancel()


async def _exit_when_idle(server: Server) -> None:
    """libvirtd's --timeout, which virt-admin daemon-timeout may change while the daemon runs."""
    idle = 0.0
    while True:
        await asyncio.sleep(1)
        timeout = server.config.idle_timeout
        idle = 0.0 if server.clients or timeout <= 0 else idle + 1
        if timeout > 0 and idle >= timeout:
            log.info("no clients for %s seconds, exiting", timeout)
            await server.close()
            return


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="virtd",
        description="Serve the installed virt drivers over libvirt's remote protocol (what libvirtd does).",
        epilog="virtd sasl-user {add,delete,list} [NAME]: manage the SASL users (virtd sasl-user --help).",
    )
    p.add_argument("--socket", action="append", type=Path, metavar="PATH",
                   help="listen on this read-write unix socket (repeatable); default: libvirt's path")
    p.add_argument("--socket-ro", action="append", type=Path, metavar="PATH",
                   help="listen on this read-only unix socket (repeatable)")
    p.add_argument("--admin-socket", action="append", type=Path, metavar="PATH",
                   help="serve the admin program (virt-admin) on this unix socket (repeatable); "
                        "default: libvirt-admin-sock beside the default sockets")
    p.add_argument("--auth", choices=("none", "sasl"), metavar="TYPE",
                   help="authentication on the unix sockets: none or sasl (auth_unix_rw/auth_unix_ro)")
    p.add_argument("--auth-tcp", choices=("none", "sasl"), metavar="TYPE",
                   help="authentication on plain TCP (auth_tcp; default sasl)")
    p.add_argument("--auth-tls", choices=("none", "sasl"), metavar="TYPE",
                   help="authentication on TLS (auth_tls; default none: the client certificate)")
    p.add_argument("--sasl-users", type=Path, metavar="FILE",
                   help="SASL users file (default /etc/libvirt/virtd-sasl-users as root)")
    p.add_argument("-f", "--config", type=Path, metavar="FILE", help="libvirtd.conf-style configuration file")
    p.add_argument("-l", "--listen", action="store_true", help="also listen on TCP (TLS, port 16514)")
    p.add_argument("--no-tls", action="store_true", help="with --listen: plain TCP on port 16509 instead of TLS")
    p.add_argument("--listen-addr", metavar="ADDR", help="address for --listen (default: all)")
    p.add_argument("--port", type=int, metavar="N", help="port for --listen")
    p.add_argument("-t", "--timeout", type=float, default=0, metavar="SECS",
                   help="exit after SECS seconds without clients")
    p.add_argument("--pid-file", type=Path, metavar="FILE", help="write the daemon's pid to FILE")
    p.add_argument("-v", "--verbose", action="count", default=0, help="log more (repeat for debug)")
    return p  # fmt: skip


def settings_from_args(args: argparse.Namespace) -> DaemonSettings:
    settings = DaemonSettings()
    base = default_socket_dir()
    settings.sockets = [base / "libvirt-sock"]
    settings.sockets_ro = [base / "libvirt-sock-ro"] if os.geteuid() == 0 else []
    settings.admin_sockets = [base / "libvirt-admin-sock"]
    if args.config:
        read_config(args.config, settings)
    if args.socket or args.socket_ro:
        settings.sockets = list(args.socket or [])
        settings.sockets_ro = list(args.socket_ro or [])
        settings.admin_sockets = []
    if args.admin_socket:
        settings.admin_sockets = list(args.admin_socket)
    if args.auth:
        settings.auth_unix_rw = settings.auth_unix_ro = args.auth
    if args.auth_tcp:
        settings.auth_tcp = args.auth_tcp
    if args.auth_tls:
        settings.auth_tls = args.auth_tls
    if args.sasl_users:
        settings.server.sasl = settings.server.sasl or SaslSettings()
        settings.server.sasl.users_file = args.sasl_users
    if args.listen:
        settings.listen_tls = not args.no_tls
        settings.listen_tcp = args.no_tls
    if args.listen_addr:
        settings.listen_addr = args.listen_addr
    if args.port:
        settings.tls_port = settings.tcp_port = args.port
    settings.timeout = args.timeout
    return settings


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["sasl-user"]:
        from virt.core.remote import sasl

        return sasl.main(argv[1:])
    args = parser().parse_args(argv)
    from virt.util.log import setup_logging

    # -v: info, -vv: debug (libvirt's priorities 2 and 1); otherwise VIRT_DEBUG/LIBVIRT_DEBUG or warnings.
    setup_logging(level=None if not args.verbose else 2 if args.verbose == 1 else 1)
    try:
        settings = settings_from_args(args)
        if args.pid_file:
            args.pid_file.write_text(f"{os.getpid()}\n")
        asyncio.run(run(settings))
    except VirtError as err:
        print(f"virtd: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"virtd: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        if args.pid_file:
            args.pid_file.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
