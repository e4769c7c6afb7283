"""Storage sources: a disk's <source> (every type), <backingStore> chains, auth, encryption, slices."""

from __future__ import annotations

from lxml import etree
from virt.conf.domain.address import PCIAddress
from virt.conf.domain.types import DecInt, UInt10, ULong10, YesNo
from virt.conf.xmlmodel import (
    UUID,
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
    where,
)
from virt.util.errors import ConfigUnsupportedError, XMLError

STORAGE_TYPES = ("file", "block", "dir", "network", "volume", "nvme", "vhostuser")
NET_PROTOCOLS = ("nbd", "rbd", "sheepdog", "gluster", "iscsi", "http", "https", "ftp", "ftps", "tftp", "ssh",
                 "vxhs", "nfs")
FILE_FORMATS = ("none", "raw", "dir", "bochs", "cloop", "dmg", "iso", "vpc", "vdi", "fat", "vhd", "ploop",
                "cow", "qcow", "qcow2", "qed", "vmdk")
DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ftps": 990, "tftp": 69, "sheepdog": 7000, "nbd": 10809,
                 "ssh": 22, "iscsi": 3260, "gluster": 24007, "vxhs": 9999}


class SecretRef(Model):
    """``<secret type=... uuid=... | usage=...>``: a reference to a secret object."""

    TAG = "secret"
    type = Attr(String)
    uuid = Attr(UUID)
    usage = Attr(String)

    def validate(self, ctx: ParseContext) -> None:
        if self.uuid is not None and self.usage is not None:
            raise XMLError("either secret uuid or usage expected")
        if self.uuid is None and self.usage is None:
            raise XMLError("either secret uuid or usage expected")

    def write(self, w: Writer, tag: str | None = None) -> None:
        attrs = []
        if self.type is not None:
            attrs.append(("type", self.type))
        if self.uuid is not None:
            attrs.append(("uuid", self.uuid))
        elif self.usage is not None:
            attrs.append(("usage", self.usage))
        w.leaf(tag or "secret", attrs, None)


class Auth(Model):
    TAG = "auth"
    type = Attr(Enum("chap", name="auth type"))
    username = Attr(String)
    secret = Child(SecretRef)

    def validate(self, ctx: ParseContext) -> None:
        if not self.username:
            raise XMLError("missing username for auth")
        if self.secret is None:
            raise XMLError("Missing <secret> element in auth")


class Cipher(Model):
    TAG = "cipher"
    name = Attr(String)
    size = Attr(UInt10)
    mode = Attr(String)
    hash = Attr(String)


class IVGen(Model):
    TAG = "ivgen"
    name = Attr(String)
    hash = Attr(String)


class Encryption(Model):
    TAG = "encryption"
    format = Attr(Enum("default", "qcow", "luks", "luks2", "luks-any", name="encryption format"))
    engine = Attr(Enum("qemu", "librbd", name="encryption engine"))
    secrets = Children(SecretRef)
    cipher = Child(Cipher)
    ivgen = Child(IVGen)

    def validate(self, ctx: ParseContext) -> None:
        if self.format is None:
            raise XMLError("unknown volume encryption format")
        for s in self.secrets:
            if s.type != "passphrase":
                raise XMLError(f"unknown volume encryption secret type {s.type}")
        if self.cipher is not None:
            if self.cipher.name is None:
                raise XMLError("cipher element missing name attribute")
            if self.cipher.size is None:
                raise XMLError("cipher element missing size attribute")
        if self.ivgen is not None and self.ivgen.name is None:
            raise XMLError("ivgen element missing name attribute")


class Host(Model):
    """``<host>`` of a network source; ``transport`` unix uses ``socket`` instead of name/port."""

    TAG = "host"
    name = Attr(String)
    port = Attr(DecInt(0, 65535))
    transport = Attr(Enum("tcp", "unix", "rdma", name="transport"))
    socket = Attr(String)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.transport == "tcp":
            self.transport = None
        if self.port == 0:
            self.port = None

    def validate(self, ctx: ParseContext) -> None:
        if self.transport == "unix":
            if not self.socket:
                raise XMLError("missing socket for unix transport")
        else:
            if self.socket is not None:
                raise XMLError(f"transport '{self.transport or 'tcp'}' does not support socket attribute")
            if not self.name:
                raise XMLError("missing hostname for tcp transport")


class Cookie(Model):
    TAG = "cookie"
    name = Attr(String)
    value = Text(String)


class Cookies(Model):
    TAG = "cookies"
    cookies = Children(Cookie)


class IQN(Model):
    TAG = "iqn"
    name = Attr(String)


class Initiator(Model):
    TAG = "initiator"
    iqn = Child(IQN)


class SSL(Model):
    TAG = "ssl"
    verify = Attr(YesNo)


class Readahead(Model):
    TAG = "readahead"
    size = Attr(ULong10)


class Timeout(Model):
    TAG = "timeout"
    seconds = Attr(ULong10)


class Identity(Model):
    TAG = "identity"
    user = Attr(String)
    group = Attr(String)


class KnownHosts(Model):
    TAG = "knownHosts"
    path = Attr(String)


class Reconnect(Model):
    """``<reconnect>``: chardev/vhost-user style (enabled + timeout) or nbd style (delay)."""

    TAG = "reconnect"
    enabled = Attr(YesNo)
    timeout = Attr(UInt10)
    delay = Attr(UInt10)

    def validate(self, ctx: ParseContext) -> None:
        if self.enabled is True and self.timeout is None and self.delay is None:
            raise XMLError("missing timeout for chardev with reconnect enabled")
        if self.enabled is False and self.timeout is not None:
            raise XMLError("reconnect attribute 'timeout' is only valid if reconnect is enabled")


class SnapshotName(Model):
    TAG = "snapshot"
    name = Attr(String)


class ConfigFile(Model):
    TAG = "config"
    file = Attr(String)


class Slice(Model):
    TAG = "slice"
    type = Attr(Enum("storage", name="slice type"))
    offset = Attr(ULong10)
    size = Attr(ULong10)

    def validate(self, ctx: ParseContext) -> None:
        if self.offset is None or self.size is None:
            raise XMLError("missing offset or size attribute of slice")


class Slices(Model):
    TAG = "slices"
    slices = Children(Slice)


class DeviceSeclabelLabel(Model):
    TAG = "label"


class DeviceSeclabel(Model):
    """Per-device ``<seclabel>`` (virSecurityDeviceLabelDef)."""

    TAG = "seclabel"
    model = Attr(String)
    labelskip = Attr(YesNo)
    relabel = Attr(YesNo)
    label = TextChild(String)

    def post_parse(self, ctx: ParseContext) -> None:
        if ctx.inactive:
            self.labelskip = None
        if self.labelskip:
            self.relabel = None
        elif self.relabel is None:
            self.relabel = True
        if self.label is not None and not self.relabel:
            raise XMLError("Cannot specify a label if relabelling is turned off. model=" + str(self.model))


class PRSource(Model):
    TAG = "source"
    type = Attr(String)
    path = Attr(String)
    mode = Attr(String)


class Reservations(Model):
    TAG = "reservations"
    enabled = Attr(YesNo)
    managed = Attr(YesNo)
    source = Child(PRSource)


class NVMeAddress(PCIAddress):
    """The PCI address of an NVMe disk: no ``type`` attribute is printed."""

    KIND = ""

    def write(self, w: Writer, tag: str | None = None) -> None:
        w.leaf("address", [("domain", f"0x{self.domain or 0:04x}"), ("bus", f"0x{self.bus or 0:02x}"),
                           ("slot", f"0x{self.slot or 0:02x}"), ("function", f"0x{self.function or 0:x}")], None)


class StorageSource(Model):
    """``<source>`` of a disk or backing store. Which attributes count depends on the storage ``type``,
    which the parent element carries; ``finish(type)`` drops the rest as libvirt never reads them."""

    TAG = "source"
    file = Attr(String)
    fdgroup = Attr(String)
    dev = Attr(String)
    dir = Attr(String)
    protocol = Attr(Enum(*NET_PROTOCOLS, name="network source protocol type"))
    name = Attr(String)
    query = Attr(String)
    tls = Attr(YesNo)
    tlsHostname = Attr(String)
    pool = Attr(String)
    volume = Attr(String)
    mode = Attr(Enum("host", "direct", name="source mode"))
    type = Attr(String)
    managed = Attr(YesNo)
    namespace = Attr(ULong10)
    path = Attr(String)
    startupPolicy = Attr(Enum("mandatory", "requisite", "optional", name="startupPolicy"))
    index = Attr(UInt10)
    hosts = Children(Host)
    snapshot = Child(SnapshotName)
    config = Child(ConfigFile)
    initiator = Child(Initiator)
    ssl = Child(SSL)
    cookies = Child(Cookies)
    readahead = Child(Readahead)
    timeout = Child(Timeout)
    identity = Child(Identity)
    knownHosts = Child(KnownHosts)
    reconnect = Child(Reconnect)
    nvme_address = Child(NVMeAddress, tag="address")
    slices = Child(Slices)
    seclabels = Children(DeviceSeclabel)
    auth = Child(Auth)
    encryption = Child(Encryption)
    reservations = Child(Reservations)

    def post_parse(self, ctx: ParseContext) -> None:
        if ctx.inactive:
            self.index = None

    def finish(self, stype: str | None, el: etree._Element | None = None) -> None:
        """Keep what a source of storage type ``stype`` has (libvirt reads nothing else)."""
        d = self.__dict__
        _DROPPERS.get(stype or "file", _DROP_ALL_SINGLE).drop(d)
        if d["hosts"] and stype != "network":
            d["hosts"] = []
        if stype == "network":
            if self.protocol is None:
                raise XMLError(f"missing network source protocol type{where(el)}")
            if self.name is None and self.protocol != "nbd":
                raise XMLError(f"missing name for disk source{where(el)}")
            if self.protocol in ("gluster", "rbd") and self.name is not None:
                head, sep, _ = self.name.partition("/")
                if not sep or not head:
                    raise XMLError(f"can't split path '{self.name}' into pool name and image name")
            if self.protocol == "rbd" and self.name and "@" in self.name and self.snapshot is None:
                self.name, _, snap = self.name.partition("@")
                self.snapshot = SnapshotName(name=snap)
            if self.protocol not in ("http", "https"):
                self.query = self.cookies = None
            if self.protocol not in ("https", "ftps"):
                self.ssl = None
            if self.protocol not in ("http", "https", "ftp", "ftps"):
                self.readahead = self.timeout = None
            if self.protocol != "nfs":
                self.identity = None
            if self.protocol != "iscsi":
                self.initiator = None
            port = DEFAULT_PORTS.get(self.protocol or "")
            for h in self.hosts:
                if h.port is None and h.transport is None and port:
                    h.port = port
        elif stype == "volume":
            if (self.pool is None) != (self.volume is None):
                raise XMLError("'pool' and 'volume' must be specified together for 'pool' type source")
        elif stype == "nvme":
            if self.type != "pci":
                raise XMLError(f"unsupported source type '{self.type}'" if self.type else
                               "missing 'type' attribute to disk source")
            if self.namespace is None:
                raise XMLError("missing 'namespace' attribute to disk source")
            if self.namespace == 0:
                raise XMLError("invalid value '0' for 'namespace' attribute")
            if self.nvme_address is None:
                raise XMLError("NVMe disk source is missing address")
            if self.managed is None:
                self.managed = True
        elif stype == "vhostuser":
            if self.type != "unix":
                raise XMLError(f"invalid source type '{self.type}' for vhostuser disk" if self.type else
                               "missing 'type' attribute for vhostuser disk source")
            if not self.path:
                raise XMLError("missing 'path' attribute for vhostuser disk source")

    @property
    def path_or_name(self) -> str | None:
        """The host path of a local source, or the name of a network one."""
        return self.file or self.dev or self.dir or self.name or self.path

    def is_empty(self) -> bool:
        # (most sources name a file: not empty, known without a look at every other field)
        return self.file is None and self.no_values()


_TYPED_ATTRS = {
    "file": ("file", "fdgroup"), "block": ("dev",), "dir": ("dir",),
    "network": ("protocol", "name", "query", "tls", "tlsHostname", "hosts", "snapshot", "config", "initiator",
                "ssl", "cookies", "readahead", "timeout", "identity", "knownHosts", "reconnect"),
    "volume": ("pool", "volume", "mode"),
    "nvme": ("type", "managed", "namespace", "nvme_address"),
    "vhostuser": ("type", "path", "reconnect"),
}
_ALL_TYPED = sorted({n for names in _TYPED_ATTRS.values() for n in names})
_SOURCE_ATTRS = _TYPED_ATTRS
_ALL_SINGLE = tuple(n for n in _ALL_TYPED if n != "hosts")
#: Source type -> what unsets the single-valued typed fields it does not read (StorageSource.finish).
_DROPPERS = {stype: FieldDropper(n for n in _ALL_SINGLE if n not in keep) for stype, keep in _TYPED_ATTRS.items()}
_DROP_ALL_SINGLE = FieldDropper(_ALL_SINGLE)


class BackingFormat(Model):
    TAG = "format"
    type = Attr(String)


class BackingStore(Model):
    """``<backingStore>``: one layer of a backing chain; an empty element ends the chain."""

    TAG = "backingStore"
    type = Attr(Enum(*STORAGE_TYPES, name="disk backing store type"))
    index = Attr(UInt10)
    format = Child(BackingFormat)
    source = Child(StorageSource)
    backingStore = Child(lambda: BackingStore)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.type is None:
            # the chain terminator: nothing else counts
            self.index = self.format = self.source = self.backingStore = None
            return
        if ctx.inactive:
            self.index = None
        if self.format is None or self.format.type is None:
            raise XMLError("missing disk backing store format")
        if self.format.type not in FILE_FORMATS or self.format.type == "none":
            raise XMLError(f"unknown disk backing store format '{self.format.type}'")
        if self.source is None:
            raise XMLError("missing disk backing store source")
        self.source.finish(self.type)
        self.source.startupPolicy = None
        self.source.index = None

    @property
    def is_terminator(self) -> bool:
        return self.type is None


def validate_source_chain(src: StorageSource | None, stype: str | None, auth: Auth | None = None) -> None:
    """libvirt's per-layer checks of a disk's source chain (domain_validate.c)."""
    if src is None:
        return
    auth = auth or src.auth
    if stype == "network" and auth is not None and auth.secret is not None:
        usage = auth.secret.type
        if usage not in ("none", "volume", "ceph", "iscsi", "tls", "vtpm"):
            raise ConfigUnsupportedError(f"unknown secret type '{usage if usage is not None else '<null>'}'")
        if usage is not None and ((src.protocol == "iscsi" and usage != "iscsi") or
                                  (src.protocol == "rbd" and usage != "ceph")):
            raise ConfigUnsupportedError(f"invalid secret type '{usage}'")
    if src.encryption is not None and src.encryption.format == "luks" and src.encryption.cipher is not None:
        pass
    if not (stype == "network" and src.protocol == "rbd"):
        if src.snapshot is not None:
            raise XMLError("<snapshot> element is currently supported only with 'rbd' disks")
        if src.config is not None:
            raise XMLError("<config> element is currently supported only with 'rbd' disks")
