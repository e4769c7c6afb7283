"""Character devices (serial, parallel, console, channel) and the chardev source shared with smartcard,
redirdev and rng backends."""

from __future__ import annotations

from typing import ClassVar

from virt.conf.domain.devices.base import Device
from virt.conf.domain.devices.storage import DeviceSeclabel, Reconnect
from virt.conf.domain.types import DecInt, OnOff, YesNo
from virt.conf.xmlmodel import (
    Attr,
    Child,
    Children,
    Enum,
    FieldDropper,
    Model,
    ParseContext,
    String,
    Text,
    TextChild,
    Writer,
)
from virt.util.errors import ConfigUnsupportedError, InternalError, XMLError

CHR_TYPES = ("null", "vc", "pty", "dev", "file", "pipe", "stdio", "udp", "tcp", "unix", "spicevmc", "spiceport",
             "nmdm", "qemu-vdagent", "dbus")
SERIAL_TARGET_TYPES = ("isa-serial", "usb-serial", "pci-serial", "spapr-vio-serial", "system-serial",
                       "sclp-serial", "isa-debug")
SERIAL_TARGET_MODELS = ("isa-serial", "usb-serial", "pci-serial", "spapr-vty", "pl011", "sclpconsole",
                        "sclplmconsole", "16550a", "isa-debugcon")
CONSOLE_TARGET_TYPES = ("none", "serial", "xen", "uml", "virtio", "lxc", "openvz", "sclp", "sclplm")
CHANNEL_TARGET_TYPES = ("guestfwd", "virtio", "xen")


class Clipboard(Model):
    TAG = "clipboard"
    copypaste = Attr(YesNo)


class Mouse(Model):
    TAG = "mouse"
    mode = Attr(Enum("server", "client", name="mouse mode"))


class ChrSourceEl(Model):
    """One ``<source>`` of a character device; which attributes count depends on the chardev type."""

    TAG = "source"
    mode = Attr(Enum("bind", "connect", name="source mode"))
    host = Attr(String)
    service = Attr(String)
    tls = Attr(YesNo)
    path = Attr(String)
    append = Attr(OnOff)
    channel = Attr(String)
    master = Attr(String)
    slave = Attr(String)
    seclabels = Children(DeviceSeclabel)
    reconnect = Child(Reconnect)
    clipboard = Child(Clipboard)
    mouse = Child(Mouse)

    def write(self, w: Writer, tag: str | None = None) -> None:
        if self.path is not None and getattr(w, "inactive", False) and getattr(self, "_pty", False):
            return
        super().write(w, tag)


class ChrProtocol(Model):
    TAG = "protocol"
    type = Attr(Enum("raw", "telnet", "telnets", "tls", name="protocol"))


class ChrLog(Model):
    TAG = "log"
    file = Attr(String)
    append = Attr(OnOff)


_KEEP = {
    "pty": ("path",), "dev": ("path",), "pipe": ("path",), "file": ("path", "append"),
    "tcp": ("mode", "host", "service", "tls", "reconnect"),
    "udp": ("mode", "host", "service"),
    "unix": ("mode", "path", "reconnect"),
    "spiceport": ("channel",), "dbus": ("channel",),
    "nmdm": ("master", "slave"),
    "qemu-vdagent": ("clipboard", "mouse"),
}
_SECLABEL_TYPES = ("pty", "dev", "file", "pipe", "unix")
_ALL = ("mode", "host", "service", "tls", "path", "append", "channel", "master", "slave", "reconnect",
        "clipboard", "mouse")
#: Source type -> what unsets the fields of _ALL it does not keep (finish_chr_source).
_DROPPERS = {t: FieldDropper(n for n in _ALL if n not in keep) for t, keep in _KEEP.items()}
_DROP_ALL = FieldDropper(_ALL)


class ChrSourceMixin(Model):
    """Fields and normalization of a chardev source: ``<source>`` element(s), ``<protocol>``, ``<log>``.

    After parsing, ``sources`` holds what libvirt prints: none, one, or (udp) bind then connect.
    """

    sources = Children(ChrSourceEl)
    protocol = Child(ChrProtocol)
    log = Child(ChrLog)

    #: Name of the attribute holding the chardev type (``type`` on most elements).
    CHR_TYPE_ATTR: ClassVar[str] = "type"
    #: Whether a unix source without path is fine (virtio channels: the path is generated).
    def _unix_path_optional(self) -> bool:
        return False

    @property
    def chr_type(self) -> str | None:
        return getattr(self, self.CHR_TYPE_ATTR)

    def finish_chr_source(self, ctx: ParseContext, what: str = "character device") -> None:
        t = self.chr_type
        srcs = self.sources
        if len(srcs) > 1 and t != "udp":
            raise XMLError(f"only one source element is allowed for {what}")
        if len(srcs) > 2:
            raise XMLError(f"only two source elements are allowed for {what}")
        dropper = _DROPPERS.get(t or "", _DROP_ALL)
        out: list[ChrSourceEl] = []
        for s in srcs:
            dropper.drop(s.__dict__)
            if t not in _SECLABEL_TYPES:
                s.seclabels = []
        if t == "udp":
            bind = connect = None
            for s in srcs:
                mode = s.mode or "connect"
                if mode == "connect" and connect is None:
                    connect = s
                elif mode == "bind" and bind is None:
                    bind = s
            if bind is not None and (bind.host or bind.service):
                out.append(bind)
            if connect is not None:
                connect.mode = "connect"
                if connect.host or connect.service:
                    out.append(connect)
            if connect is None or not connect.service:
                raise InternalError("Missing source service attribute for char device")
        elif t == "tcp":
            s = srcs[0] if srcs else ChrSourceEl()
            if s.mode is None:
                s.mode = "connect"
            if not s.host:
                raise InternalError("Missing source host attribute for char device")
            if not s.service:
                raise InternalError("Missing source service attribute for char device")
            if s.reconnect is not None and s.mode == "bind" and s.reconnect.enabled:
                raise InternalError("chardev reconnect is possible only for connect mode")
            out.append(s)
            if self.protocol is None or self.protocol.type is None:
                self.protocol = ChrProtocol(type="raw")
        elif t == "unix":
            s = srcs[0] if srcs else None
            if s is not None:
                if s.mode is None:
                    s.mode = "connect"
                if s.reconnect is not None and s.mode == "bind" and s.reconnect.enabled:
                    raise InternalError("chardev reconnect is possible only for connect mode")
            if s is None or not s.path:
                if not self._unix_path_optional():
                    raise InternalError("Missing source path attribute for char device")
            else:
                out.append(s)
        elif t in ("pty", "dev", "file", "pipe"):
            s = srcs[0] if srcs else None
            if s is not None and t == "pty" and ctx.inactive:
                s.path = None
            if s is not None and (s.path is not None or s.seclabels):
                if t == "pty":
                    s._pty = True  # type: ignore[attr-defined]
                out.append(s)
            elif t != "pty":
                raise InternalError("Missing source path attribute for char device")
        elif t == "nmdm":
            s = srcs[0] if srcs else ChrSourceEl()
            if not s.master:
                raise InternalError("Should define both master and slave path attributes for nmdm device")
            if not s.slave:
                raise InternalError("Should define both master and slave path attributes for nmdm device")
            out.append(s)
        elif t in ("spiceport", "dbus"):
            s = srcs[0] if srcs else None
            if s is None or not s.channel:
                if t == "spiceport":
                    raise ConfigUnsupportedError("Missing source channel attribute for char device")
            else:
                out.append(s)
        elif t == "qemu-vdagent":
            s = srcs[0] if srcs else None
            if s is not None and (s.clipboard is not None or s.mouse is not None):
                s.mode = None
                out.append(s)
        self.sources = out
        if t != "tcp":
            self.protocol = None

    @property
    def source(self) -> ChrSourceEl | None:
        """The (connect) source: the only one, or the last for udp."""
        return self.sources[-1] if self.sources else None


class SerialTargetModel(Model):
    TAG = "model"
    name = Attr(Enum(*SERIAL_TARGET_MODELS, name="target model"))


class ChrTarget(Model):
    TAG = "target"
    type = Attr(String)
    address = Attr(String)
    port = Attr(String)
    name = Attr(String)
    state = Attr(Enum("connected", "disconnected", name="channel state"))
    model = Child(SerialTargetModel)


class ChrDevice(ChrSourceMixin, Device):
    """Base of serial, parallel, console and channel."""

    type = Attr(Enum(*CHR_TYPES, name="character device type"))
    tty = Attr(String)
    target = Child(ChrTarget)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.type is None:
            self.type = "pty"
        self.finish_chr_source(ctx)
        if self.tty is not None and (ctx.inactive or self.type != "pty"):
            self.tty = None

    def sources_equal(self, other: ChrDevice) -> bool:
        if self.type != other.type:
            return False
        a = [s.format() for s in self.sources]
        b = [s.format() for s in other.sources]
        if self.type == "pty":
            return True
        return a == b

    @property
    def target_port(self) -> int | None:
        if self.target is None or self.target.port is None:
            return None
        try:
            return int(self.target.port)
        except ValueError:
            return None

    @property
    def target_type(self) -> str | None:
        return self.target.type if self.target is not None else None


def _port(text: str | None, what: str = "port") -> int | None:
    if text is None:
        return None
    try:
        value = DecInt(0, 2**31 - 1).parse(text)
    except ValueError:
        raise XMLError(f"Invalid port number: {text}") from None
    return value


class Serial(ChrDevice):
    TAG = "serial"
    KIND = "serials"

    def post_parse(self, ctx: ParseContext) -> None:
        super().post_parse(ctx)
        t = self.target
        if t is not None:
            if t.type is not None and t.type not in SERIAL_TARGET_TYPES:
                raise XMLError(f"unknown target type '{t.type}' specified for character device")
            _port(t.port)
            t.address = t.name = t.state = None


class Parallel(ChrDevice):
    TAG = "parallel"
    KIND = "parallels"

    def post_parse(self, ctx: ParseContext) -> None:
        super().post_parse(ctx)
        t = self.target
        if t is not None:
            _port(t.port)
            t.type = t.address = t.name = t.state = None
            t.model = None


class Console(ChrDevice):
    TAG = "console"
    KIND = "consoles"

    def post_parse(self, ctx: ParseContext) -> None:
        super().post_parse(ctx)
        t = self.target
        if t is None:
            self.target = t = ChrTarget()
        if t.type is not None and t.type not in CONSOLE_TARGET_TYPES:
            raise XMLError(f"unknown target type '{t.type}' specified for character device")
        if t.type is None:
            t.type = "none"
        t.address = t.name = t.state = None
        t.model = None


class Channel(ChrDevice):
    TAG = "channel"
    KIND = "channels"

    def _unix_path_optional(self) -> bool:
        return self.target is not None and self.target.type == "virtio"

    def post_parse(self, ctx: ParseContext) -> None:
        t = self.target
        if t is None or t.type is None:
            raise XMLError("target type must be specified for channel device")
        if t.type not in CHANNEL_TARGET_TYPES:
            raise XMLError(f"unknown target type '{t.type}' specified for character device")
        super().post_parse(ctx)
        t.model = None
        if t.type == "guestfwd":
            if not t.address:
                raise XMLError("guestfwd channel does not define a target address")
            if t.port is None:
                raise XMLError("guestfwd channel does not define a target port")
            _port(t.port)
            t.name = t.state = None
        else:
            t.address = t.port = None
            if ctx.inactive or t.type != "virtio":
                t.state = None

    def write(self, w: Writer, tag: str | None = None) -> None:
        t = self.target
        if t is not None and t.state is not None and getattr(w, "inactive", False):
            state, t.state = t.state, None
            try:
                super().write(w, tag)
            finally:
                t.state = state
        else:
            super().write(w, tag)


class Smartcard(ChrSourceMixin, Device):
    TAG = "smartcard"
    KIND = "smartcards"
    mode = Attr(Enum("host", "host-certificates", "passthrough", name="smartcard mode"))
    type = Attr(Enum(*CHR_TYPES, name="character device type"))
    certificates = Children(lambda: _Cert)
    database = TextChild(String)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.mode is None:
            raise XMLError("missing smartcard device mode")
        if self.mode == "passthrough":
            if self.type is None:
                raise XMLError("passthrough mode requires a character device type attribute")
            self.finish_chr_source(ctx)
        else:
            self.type = None
            self.sources = []
            self.protocol = None
        if self.mode == "host-certificates":
            if len(self.certificates) != 3:
                raise XMLError("host-certificates mode needs exactly three certificates")
            for c in self.certificates:
                if not c.value:
                    raise XMLError("host-certificates mode needs exactly three certificates")
            if self.database is not None and not self.database.startswith("/"):
                raise XMLError(f"expecting absolute path: {self.database}")
        else:
            self.certificates = []
            self.database = None
        if self.address is not None and self.address.type not in ("ccid", "none"):
            raise XMLError("Controllers must use the 'ccid' address type")


class _Cert(Model):
    TAG = "certificate"
    value = Text(String)


class Redirdev(ChrSourceMixin, Device):
    TAG = "redirdev"
    KIND = "redirdevs"
    ALLOW_BOOT = True
    bus = Attr(Enum("usb", name="redirdev bus"))
    type = Attr(Enum(*CHR_TYPES, name="character device type"))

    def post_parse(self, ctx: ParseContext) -> None:
        if self.bus is None:
            self.bus = "usb"
        if self.type is None:
            raise XMLError("missing type in redirdev")
        self.finish_chr_source(ctx)
