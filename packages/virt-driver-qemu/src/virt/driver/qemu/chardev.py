"""-chardev options for character device sources (serial, channel, console, redirdev, rng egd...)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree
from virt.driver.qemu import xmlutil as X
from virt.driver.qemu.props import Props, escape_comma
from virt.util.errors import ConfigUnsupportedError, InternalError, VirtError

if TYPE_CHECKING:
    from virt.driver.qemu.command import Builder

E = etree._Element


def _sources(el: E) -> tuple[E | None, E | None]:
    """(bind/listen source, connect source) of a chardev element."""
    srcs = el.findall("source")
    bind = next((s for s in srcs if s.get("mode") == "bind"), None)
    conn = next((s for s in srcs if s.get("mode") in (None, "connect")), None)
    return bind, conn


def reconnect_opt(src: E | None) -> str:
    """The ``,reconnect=`` option of a client socket's <reconnect> (empty without one)."""
    r = src.find("reconnect") if src is not None else None
    if r is None:
        return ""
    if r.get("enabled") == "yes":
        return f",reconnect={r.get('timeout', '0')}"
    if r.get("enabled") == "no":
        return ",reconnect=0"
    return ""


def spicevmc_name(el: E) -> str:
    if el.tag == "redirdev":
        return "usbredir"
    if el.tag == "smartcard":
        return "smartcard"
    return "vdagent"


def validate(el: E) -> None:
    """virDomainChrSourceDefValidate: the attributes each backend cannot do without."""
    ctype = el.get("type", "pty")
    src = el.find("source")
    _, conn = _sources(el)

    def missing(what: str) -> VirtError:
        # libvirt reports these as internal errors, but a missing spiceport channel as unsupported
        error = ConfigUnsupportedError if what == "channel" else InternalError
        return error(f"Missing source {what} attribute for char device")

    if ctype in ("file", "dev", "pipe") and not X.get(src, None, "path"):
        raise missing("path")
    if ctype == "udp" and not X.get(conn, None, "service"):
        raise missing("service")
    if ctype == "tcp":
        if not X.get(src, None, "host"):
            raise missing("host")
        if not X.get(src, None, "service"):
            raise missing("service")
    if ctype == "spiceport" and not X.get(src, None, "channel"):
        raise missing("channel")


def build(b: Builder, el: E, alias: str, *, parallel: bool = False) -> None:
    ctype = el.get("type", "pty")
    if el.tag == "backend" and el.get("model") == "egd":
        ctype = el.get("type", "pty")
    bind, conn = _sources(el)
    src = el.find("source")
    validate(el)
    if ctype == "null":
        opt = f"null,id={alias}"
    elif ctype == "vc":
        opt = f"vc,id={alias}"
    elif ctype == "pty":
        opt = f"pty,id={alias}"
    elif ctype == "dev":
        path = X.get(src, None, "path") or ""
        opt = f"{'parallel' if parallel or alias.startswith('charparallel') else 'serial'},id={alias},path={escape_comma(path)}"
    elif ctype == "file":
        path = X.get(src, None, "path") or ""
        if b.harness:
            fs = b.fdset()
            b.cmd.add("-add-fd", f"set={fs},fd={b.fd()},opaque={alias.removeprefix('char')}-source")
            opt = f"file,id={alias},path=/dev/fdset/{fs},append=on"
        else:
            opt = f"file,id={alias},path={escape_comma(path)}"
            app = X.get(src, None, "append")
            if app:
                opt += f",append={app}"
    elif ctype == "pipe":
        opt = f"pipe,id={alias},path={escape_comma(X.get(src, None, 'path') or '')}"
    elif ctype == "stdio":
        opt = f"stdio,id={alias}"
    elif ctype == "udp":
        connect_host = X.get(conn, None, "host") or ""
        connect_port = X.get(conn, None, "service") or ""
        bind_host = X.get(bind, None, "host") or ""
        bind_port = X.get(bind, None, "service") or "0"
        opt = (f"udp,id={alias},host={connect_host},port={connect_port},localaddr={bind_host},"
               f"localport={bind_port}")
    elif ctype == "tcp":
        s = src
        listen = s is not None and s.get("mode") == "bind"
        host = X.get(s, None, "host") or ""
        service = X.get(s, None, "service") or ""
        opt = f"socket,id={alias},host={host},port={service}"
        if X.get(el, "protocol", "type") == "telnet":
            opt += ",telnet=on"
        if listen:
            opt += ",server=on,wait=off"
        opt += reconnect_opt(s)
        tls = X.get(s, None, "tls")
        cfg = b.cfg
        have_tls = (tls == "yes") or (tls is None and cfg.chardevTLS)
        if have_tls:
            objalias = f"obj{alias}_tls0"
            secret = None
            if cfg.chardevTLSx509secretUUID:
                secret = f"{alias}-secret0"
                b.object(b_secret_props(b, secret))
            props = Props().s("qom-type", "tls-creds-x509").s("id", objalias).s("dir", cfg.chardevTLSx509certdir) \
                .s("endpoint", "server" if listen else "client").b("verify-peer", cfg.chardevTLSx509verify if listen else True)
            props.S("passwordid", secret)
            b.object(props)
            opt += f",tls-creds={objalias}"
    elif ctype == "unix":
        s = src
        listen = s is not None and s.get("mode") == "bind"
        path = X.get(s, None, "path")
        if listen and (b.harness or path is None):
            opt = f"socket,id={alias},fd={b.fd()}"
        else:
            if path is None:
                raise InternalError("Missing source path attribute for char device")
            opt = f"socket,id={alias},path={escape_comma(path)}"
        if listen:
            opt += ",server=on,wait=off"
        opt += reconnect_opt(s)
    elif ctype == "spicevmc":
        opt = f"spicevmc,id={alias},name={spicevmc_name(el)}"
    elif ctype == "spiceport":
        opt = f"spiceport,id={alias},name={X.get(src, None, 'channel') or ''}"
    elif ctype == "qemu-vdagent":
        opt = f"qemu-vdagent,id={alias},name=vdagent"
        clip = X.get(src, "clipboard", "copypaste") if src is not None else None
        if clip:
            opt += f",clipboard={'on' if clip == 'yes' else 'off'}"
        mouse = X.get(src, "mouse", "mode") if src is not None else None
        if mouse == "client":
            opt += ",mouse=on"
        elif mouse == "server":
            opt += ",mouse=off"
    elif ctype == "dbus":
        opt = f"dbus,id={alias},name={X.get(src, None, 'channel') or ''}"
    else:
        raise ConfigUnsupportedError(f"unsupported chardev '{ctype}'")
    log = el.find("log")
    if log is not None and log.get("file"):
        if b.harness:
            fs = b.fdset()
            b.cmd.add("-add-fd", f"set={fs},fd={b.fd()},opaque={alias.removeprefix('char')}-log")
            opt += f",logfile=/dev/fdset/{fs},logappend=on"
        else:
            opt += f",logfile={escape_comma(log.get('file', ''))}"
            if log.get("append"):
                opt += f",logappend={log.get('append')}"
    b.cmd.add("-chardev", opt)


def b_secret_props(b: Builder, alias: str) -> Props:
    from virt.driver.qemu import secrets

    return secrets.secret_object(b, alias, "chardev")
