"""-vnc, -spice and -display options of <graphics> devices."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree
from virt.driver.qemu import xmlutil as X
from virt.driver.qemu.props import Props, escape_comma
from virt.util.errors import ConfigUnsupportedError, InternalError

if TYPE_CHECKING:
    from virt.driver.qemu.command import Builder

E = etree._Element

SPICE_CHANNELS = ("main", "display", "inputs", "cursor", "playback", "record", "smartcard", "usbredir")


def listen_of(b: Builder, g: E) -> tuple[str, str | None, str | None]:
    """(type, address, socket) of a VNC/SPICE display's first listen: what the XML says, with the
    defaults libvirt applies (SPICE without ports listens nowhere; an address-less listen becomes
    a socket in the private directory when qemu.conf asks for auto unix sockets)."""
    gtype = g.get("type")
    el = g.find("listen")
    if el is not None:
        ltype = el.get("type", "address")
        addr = el.get("address") or (g.get("listen") if ltype == "address" else None)
        sock = el.get("socket")
    elif g.get("socket"):
        ltype, addr, sock = "socket", None, g.get("socket")
    elif g.get("listen"):
        ltype, addr, sock = "address", g.get("listen"), None
    else:
        addr = sock = None
        if gtype == "spice":
            ports = [int(g.get(k, "0")) for k in ("port", "tlsPort")]
            ltype = "address" if g.get("autoport") == "yes" or any(p != 0 for p in ports) else "none"
        else:
            ltype = "address"
    if ltype == "address" and not addr:
        auto = b.cfg.vncAutoUnixSocket if gtype == "vnc" else b.cfg.spiceAutoUnixSocket
        if auto and autoport(g):
            return "socket", None, f"{b.private_dir}/{gtype}.sock"
        addr = b.cfg.vnc_listen if gtype == "vnc" else b.cfg.spice_listen
    if ltype == "socket" and not sock:
        sock = f"{b.private_dir}/{gtype}.sock"
    return ltype, addr, sock


def autoport(g: E) -> bool:
    """VNC without a port (or port -1) and SPICE with autoport='yes' or port -1 pick free ports."""
    if g.get("autoport") == "yes":
        return True
    if g.get("type") == "vnc":
        return g.get("port") in (None, "-1") and g.get("autoport") != "no"
    return g.get("port") == "-1" and g.get("tlsPort") in (None, "-1")


def render_node(b: Builder) -> str:
    """The DRM render node for GL displays without one given (the first /dev/dri/renderD*)."""
    if b.harness:
        return "/dev/dri/foo"
    import glob

    nodes = sorted(glob.glob("/dev/dri/renderD*"))
    if not nodes:
        raise ConfigUnsupportedError("no DRM render node found for OpenGL display")
    return nodes[0]


def _audio_of(b: Builder, g: E) -> str:
    want = g.find("audio")
    return b.audio_id(g) if want is not None or b.dom.all("audio") else "audio1"


def build(b: Builder, g: E) -> None:
    gtype = g.get("type")
    if gtype == "sdl":
        if g.get("xauth"):
            b.cmd.env["XAUTHORITY"] = g.get("xauth", "")
        if g.get("display"):
            b.cmd.env["DISPLAY"] = g.get("display", "")
        if g.get("fullscreen") == "yes":
            b.cmd.add("-full-screen")
        opt = "sdl"
        gl = X.get(g, "gl", "enable")
        if gl:
            opt += f",gl={'on' if gl == 'yes' else 'off'}"
        b.cmd.add("-display", opt)
    elif gtype == "vnc":
        vnc(b, g)
    elif gtype == "spice":
        spice(b, g)
    elif gtype == "egl-headless":
        opt = "egl-headless"
        rn = X.get(g, "gl", "rendernode") or render_node(b)
        if rn:
            opt += f",rendernode={escape_comma(rn)}"
        b.cmd.add("-display", opt)
    elif gtype == "dbus":
        opt = "dbus"
        if g.get("p2p") == "yes":
            opt += ",p2p=on"
        else:
            opt += f",addr={escape_comma(g.get('address', ''))}"
        gl = X.get(g, "gl", "enable")
        if gl:
            opt += f",gl={'on' if gl == 'yes' else 'off'}"
        rn = X.get(g, "gl", "rendernode")
        if rn:
            opt += f",rendernode={escape_comma(rn)}"
        if g.find("audio") is not None:
            opt += f",audiodev={b.audio_id(g)}"
        b.cmd.add("-display", opt)
    else:
        raise ConfigUnsupportedError(f"unsupported graphics type '{gtype}'")


def vnc(b: Builder, g: E) -> None:
    cfg = b.cfg
    ltype, addr, sock = listen_of(b, g)
    if ltype == "socket":
        opt = "vnc=unix:" + escape_comma(sock or "")
    elif ltype in ("address", "network"):
        auto = autoport(g)
        port = int(g.get("port", "-1"))
        if auto:
            port = b.vnc_port()
        if not auto and (port < 5900 or port > 65535):
            raise ConfigUnsupportedError("vnc port must be in range [5900,65535]")
        opt = ""
        if addr:
            opt = f"[{addr}]" if ":" in addr else addr
        opt += f":{port - 5900}"
        ws = g.get("websocket")
        if ws and ws != "-1":
            opt += f",websocket={ws}"
    else:
        opt = "none"
    share = g.get("sharePolicy")
    if share:
        opt += f",share={share}"
    if g.get("passwd") or cfg.vncPassword:
        opt += ",password=on"
    if cfg.vncTLS:
        alias = "vnc-tls-creds0"
        props = Props().s("qom-type", "tls-creds-x509").s("id", alias).s("dir", cfg.vncTLSx509certdir) \
            .s("endpoint", "server").b("verify-peer", cfg.vncTLSx509verify)
        b.object(props)
        opt += f",tls-creds={alias}"
    if cfg.vncSASL:
        opt += ",sasl=on"
        if cfg.vncSASLdir:
            b.cmd.env["SASL_CONF_PATH"] = cfg.vncSASLdir
    pc = g.get("powerControl")
    if pc:
        opt += f",power-control={'on' if pc == 'yes' else 'off'}"
    opt += f",audiodev={_audio_of(b, g)}"
    b.cmd.add("-vnc", opt)
    if g.get("keymap"):
        b.cmd.add("-k", g.get("keymap", ""))


def spice(b: Builder, g: E) -> None:
    cfg = b.cfg
    ltype, addr, sock = listen_of(b, g)
    opt = ""
    has_secure = has_insecure = False
    port = int(g.get("port", "0"))
    tls_port = int(g.get("tlsPort", "0"))
    if ltype in ("address", "network") and autoport(g):
        port, tls_port = spice_ports(b, g)
    if ltype == "socket":
        opt += f"unix,addr={escape_comma(sock or '')},"
        has_insecure = True
    elif ltype in ("address", "network"):
        if port > 0:
            opt += f"port={port},"
            has_insecure = True
        if tls_port > 0:
            if not cfg.spiceTLS:
                raise ConfigUnsupportedError("spice TLS port set in XML configuration, but TLS is disabled in "
                                             "qemu.conf")
            opt += f"tls-port={tls_port},"
            has_secure = True
        if port > 0 or tls_port > 0:
            if addr:
                opt += f"addr={addr},"
    else:
        opt += "port=0,"
        has_insecure = True
    if cfg.spiceSASL:
        opt += "sasl=on,"
        if cfg.spiceSASLdir:
            b.cmd.env["SASL_CONF_PATH"] = cfg.spiceSASLdir
    mouse = X.get(g, "mouse", "mode")
    if mouse == "server":
        opt += "agent-mouse=off,"
    elif mouse == "client":
        opt += "agent-mouse=on,"
    if not g.get("passwd") and not cfg.spicePassword:
        opt += "disable-ticketing=on,"
    if has_secure:
        opt += f"x509-dir={escape_comma(cfg.spiceTLSx509certdir)},"
    default_mode = g.get("defaultMode", "any")
    if default_mode == "secure":
        if not has_secure:
            raise ConfigUnsupportedError("spice defaultMode secure requested in XML configuration, but TLS "
                                         "connection is not available")
        opt += "tls-channel=default,"
    elif default_mode == "insecure":
        if not has_insecure:
            raise ConfigUnsupportedError("spice defaultMode insecure requested in XML configuration, but "
                                         "plaintext connection is not available")
        opt += "plaintext-channel=default,"
    chans = {c.get("name"): c.get("mode") for c in g.findall("channel")}
    for name in SPICE_CHANNELS:
        mode = chans.get(name)
        if mode == "secure":
            if not has_secure:
                raise ConfigUnsupportedError("spice secure channels set in XML configuration, but TLS connection "
                                             "is not available")
            opt += f"tls-channel={name},"
        elif mode == "insecure":
            if not has_insecure:
                raise ConfigUnsupportedError("spice insecure channels set in XML configuration, but plaintext "
                                             "connection is not available")
            opt += f"plaintext-channel={name},"
    for tag, key in (("image", "image-compression"), ("jpeg", "jpeg-wan-compression"),
                     ("zlib", "zlib-glz-wan-compression"), ("playback", "playback-compression"),
                     ("streaming", "streaming-video")):
        el = g.find(tag)
        if el is not None:
            val = el.get("compression") if tag not in ("streaming",) else el.get("mode")
            if val:
                opt += f"{key}={val},"
    if X.get(g, "clipboard", "copypaste") == "no":
        opt += "disable-copy-paste=on,"
    if X.get(g, "filetransfer", "enable") == "no":
        opt += "disable-agent-file-xfer=on,"
    if X.get(g, "gl", "enable") == "yes":
        opt += "gl=on,"
        rn = X.get(g, "gl", "rendernode") or render_node(b)
        if rn:
            opt += f"rendernode={escape_comma(rn)},"
    opt += "seamless-migration=on,"
    b.cmd.add("-spice", opt.rstrip(","))
    if g.get("keymap"):
        b.cmd.add("-k", g.get("keymap", ""))


def spice_ports(b: Builder, g: E) -> tuple[int, int]:
    """(port, TLS port) for an autoport SPICE display (qemuProcessSPICEAllocatePorts)."""
    need_port = need_tls = False
    modes = [c.get("mode", "any") for c in g.findall("channel")] + [g.get("defaultMode", "any")]
    for mode in modes:
        if mode == "secure":
            need_tls = True
        elif mode == "insecure":
            need_port = True
        else:
            need_port = True
            if b.cfg.spiceTLS:
                need_tls = True
    port = b.allocate_port() if need_port else 0
    tls = 0
    if need_tls:
        if not b.cfg.spiceTLS:
            raise ConfigUnsupportedError("Auto allocation of spice TLS port requested but spice TLS is "
                                         "disabled in qemu.conf")
        tls = b.allocate_port()
    return port, tls


__all__ = ["build", "InternalError"]
