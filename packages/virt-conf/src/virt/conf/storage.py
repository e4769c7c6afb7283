"""Storage pool and volume XML (<pool>, <volume>): every pool type, volumes normalized against their pool."""

from __future__ import annotations

import re
import uuid as _uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from lxml import etree
from virt.conf.xmlmodel import (
    UUID,
    Attr,
    Child,
    Children,
    Enum,
    Int,
    Model,
    ParseContext,
    String,
    Text,
    TextChild,
    ULong,
    ValueType,
    Writer,
    YesNo,
    drop_empty_text,
    keep_first_children,
    merge_repeated,
    parse_xml,
    unset_empty_attrs,
    where,
    without,
)
from virt.util.errors import ConfigUnsupportedError, InvalidArgError, NoSupportError, VirtError, XMLError

# ----------------------------------------------------------------------------- shared helpers

POOL_TYPES = ("dir", "fs", "netfs", "logical", "disk", "iscsi", "iscsi-direct", "scsi", "mpath",
              "rbd", "sheepdog", "gluster", "zfs", "vstorage")
VOL_TYPES = ("file", "block", "dir", "network", "netdir", "ploop")

#: virStorageFileFormat, in libvirt's order ("none" is not accepted from XML).
FILE_FORMATS = ("none", "raw", "dir", "bochs", "cloop", "dmg", "iso", "vpc", "vdi", "fat", "vhd",
                "ploop", "cow", "qcow", "qcow2", "qed", "vmdk")
FILE_FEATURES = ("lazy_refcounts", "extended_l2")
POOL_FS_FORMATS = ("auto", "ext2", "ext3", "ext4", "ufs", "iso9660", "udf", "gfs", "gfs2", "vfat",
                   "hfs+", "xfs", "ocfs2", "vmfs")
POOL_NETFS_FORMATS = ("auto", "nfs", "glusterfs", "cifs")
POOL_DISK_FORMATS = ("unknown", "dos", "dvh", "gpt", "mac", "bsd", "pc98", "sun", "lvm2")
POOL_LOGICAL_FORMATS = ("unknown", "lvm2")
VOL_DISK_FORMATS = ("none", "linux", "fat16", "fat32", "linux-swap", "linux-lvm", "linux-raid", "extended")

FS_NS = "http://libvirt.org/schemas/storagepool/fs/1.0"
RBD_NS = "http://libvirt.org/schemas/storagepool/rbd/1.0"


def sanitize_path(path: str) -> str:
    """libvirt's virFileSanitizePath: repeated slashes collapsed, trailing slash dropped, leading '//' kept."""
    prefix = ""
    if path.startswith("//") and not path.startswith("///"):
        prefix, path = "/", path[1:]
    path = re.sub("/+", "/", path)
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return prefix + path


_SCALE_POWER = {"k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}


def scale_integer(value: int, unit: str | None, default_scale: int = 1, limit: int = 2**63 - 1) -> int:
    """virScaleInteger: ``value`` in ``unit`` (b, KB, KiB, k, MB, M, ...) as a number of bytes."""
    if not unit:
        scale = default_scale
    elif unit.lower() in ("b", "byte", "bytes"):
        scale = 1
    else:
        if len(unit) == 1 or unit[1:].lower() == "ib":
            base = 1024
        elif len(unit) == 2 and unit[1].lower() == "b":
            base = 1000
        else:
            raise InvalidArgError(f"unknown suffix '{unit}'")
        power = _SCALE_POWER.get(unit[0].lower())
        if power is None:
            raise InvalidArgError(f"unknown suffix '{unit}'")
        scale = base ** power
    if value and value > limit // scale:
        raise VirtError(f"Value too large: {value}{unit or ''}", code=72)  # VIR_ERR_OVERFLOW
    return value * scale


class OctalMode(ValueType[int]):
    """A file mode written in octal (``<mode>0755</mode>``), printed back with one leading zero."""

    name = "octal mode"

    def parse(self, text: str) -> int:
        # strtol with base 8: leading white space and a sign are read, nothing may follow the digits
        m = re.fullmatch(r"[ \t\n\v\f\r]*([+-]?)([0-7]+)", text)
        if not m:
            raise ValueError(text)
        value = int(m.group(1) + m.group(2), 8)
        if value & ~0o777:
            raise ValueError(text)
        return value

    def format(self, value: int) -> str:
        return f"0{value:o}"


class IdNumber(ValueType[int]):
    """A uid/gid read as a decimal C long (so '0744' is 744); -1 (or 4294967295) means 'not set'.

    Leading white space and a sign are read, nothing may follow the digits; the id is a uid_t,
    printed back as a signed int as libvirt does.
    """

    name = "id"
    _re = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+)")

    def parse(self, text: str) -> int:
        m = self._re.fullmatch(text)
        if not m:
            raise ValueError(text)
        value = int(m.group(1))
        if value != -1 and not 0 <= value <= 0xFFFFFFFF:
            raise ValueError(text)
        return -1 if value == 0xFFFFFFFF else value

    def format(self, value: int) -> str:
        return str(value - 2**32 if value >= 2**31 else value)


OCTAL_MODE = OctalMode()
ID_NUMBER = IdNumber()


class ScaledSize(Model):
    """A size element with a unit (``<capacity unit='G'>5</capacity>``), kept in bytes once parsed."""

    #: The unit printed back; every size is stored in bytes.
    OUT_UNIT: ClassVar[str] = "bytes"
    unit = Attr(String)
    value = Text(String)

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        # strtoull on the text as written: leading white space and '+' are read, nothing may follow
        if el.text and not re.fullmatch(r"[ \t\n\v\f\r]*\+?\d+", el.text):
            raise XMLError(f"malformed {self._tag_name} element")
        return set()

    def post_parse(self, ctx: ParseContext) -> None:
        text = self.value.strip() if isinstance(self.value, str) else ""
        if not re.fullmatch(r"\+?\d+", text):
            raise XMLError(f"malformed {self._tag_name} element")
        self.value = scale_integer(int(text), self.unit)
        self.unit = self.OUT_UNIT

    _tag_name = "capacity"

    @classmethod
    def of(cls, value: int) -> ScaledSize:
        return cls(unit=cls.OUT_UNIT, value=value)


class ClusterSize(ScaledSize):
    OUT_UNIT = "B"
    _tag_name = "clusterSize"


class Permissions(Model):
    """<permissions>: mode, owner, group and security label of a pool target or volume."""

    TAG = "permissions"
    mode = TextChild(OCTAL_MODE)
    owner = TextChild(ID_NUMBER)
    group = TextChild(ID_NUMBER)
    label = TextChild(String)

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        # libvirt's own messages for the three numbers, not the engine's generic one
        for tag, vtype, msg in (("mode", OCTAL_MODE, "malformed octal mode"),
                                ("owner", ID_NUMBER, "malformed owner element"),
                                ("group", ID_NUMBER, "malformed group element")):
            child = el.find(tag)
            if child is not None:
                try:
                    vtype.parse("".join(str(t) for t in child.itertext()))
                except ValueError:
                    raise XMLError(f"{msg}{where(child)}") from None
        return set()

    def post_parse(self, ctx: ParseContext) -> None:
        if self.owner == -1:
            self.owner = None
        if self.group == -1:
            self.group = None

    def is_empty(self) -> bool:
        return self.mode is None and self.owner is None and self.group is None and self.label is None


# ----------------------------------------------------------------------------- pool source

class SourceHost(Model):
    TAG = "host"
    name = Attr(String, required=True)
    port = Attr(Int(min=-(2**31), max=2**31 - 1, hex_ok=False))  # a C int: -1 is read and printed

    def post_parse(self, ctx: ParseContext) -> None:
        if self.port == 0:
            self.port = None


class FreeExtent(Model):
    TAG = "freeExtent"
    start = Attr(ULong)
    end = Attr(ULong)


class SourceDevice(Model):
    TAG = "device"
    path = Attr(String, required=True)
    part_separator = Attr(YesNo)
    free_extents = Children(FreeExtent)

    def post_parse(self, ctx: ParseContext) -> None:
        self.free_extents = []  # reported by the backend, never read back


class SourceDir(Model):
    TAG = "dir"
    path = Attr(String)


class PCIAddressRef(Model):
    """A PCI address as <address domain= bus= slot= function=/> (adapter parentaddr)."""

    TAG = "address"
    domain = Attr(String)
    bus = Attr(String)
    slot = Attr(String)
    function = Attr(String)

    def post_parse(self, ctx: ParseContext) -> None:
        for name, width, limit in (("domain", 4, 0xFFFFFFFF), ("bus", 2, 0xFF), ("slot", 2, 0x1F),
                                   ("function", 1, 7)):
            text = getattr(self, name)
            value = 0
            if text is not None:
                try:
                    value = int(text, 0)
                except ValueError:
                    raise XMLError(f"Cannot parse <address> '{name}' attribute") from None
                if not 0 <= value <= limit:
                    raise XMLError(f"Invalid PCI address {name}='{text}'")
            setattr(self, name, f"0x{value:0{width}x}")


class ParentAddr(Model):
    TAG = "parentaddr"
    unique_id = Attr(String)
    address = Child(PCIAddressRef)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.address is None:
            raise XMLError("Missing scsi_host PCI address element")
        try:
            uid = int(self.unique_id) if self.unique_id is not None else -1
        except ValueError:
            uid = -1
        if uid < 0:
            raise XMLError("Missing or invalid scsi adapter 'unique_id' value")
        self.unique_id = str(uid)


_WWN = re.compile(r"(0x)?[0-9a-fA-F]{16}")


def _check_wwn(value: str) -> None:
    if not _WWN.fullmatch(value):
        raise XMLError(f"Malformed wwn: {value}")


class Adapter(Model):
    """<adapter>: the SCSI host (by name or parent PCI address) or FC vHBA of a scsi pool."""

    TAG = "adapter"
    type = Attr(Enum("default", "scsi_host", "fc_host", name="adapter type"))
    name = Attr(String)
    parent = Attr(String)
    parent_wwnn = Attr(String)
    parent_wwpn = Attr(String)
    parent_fabric_wwn = Attr(String)
    managed = Attr(YesNo)
    wwnn = Attr(String)
    wwpn = Attr(String)
    parentaddr = Child(ParentAddr)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.type == "default":
            raise XMLError("Invalid value for attribute 'type' in element 'adapter': 'default'.")
        if self.type is None:
            # before 'type' existed an adapter was a scsi_host given by name only
            if self.wwnn or self.wwpn or self.parent:
                raise XMLError("Use of 'wwnn', 'wwpn', and 'parent' attributes requires use of the adapter 'type'")
            if self.parentaddr is not None:
                raise XMLError("Use of 'parentaddr' element requires use of the adapter 'type'")
            self.managed = self.parent_wwnn = self.parent_wwpn = self.parent_fabric_wwn = None
            if self.name is not None:
                self.type = "scsi_host"
        elif self.type == "fc_host":
            self.name = None
            self.parentaddr = None
        else:
            self.parent = self.parent_wwnn = self.parent_wwpn = self.parent_fabric_wwn = None
            self.managed = self.wwnn = self.wwpn = None

    def check(self) -> None:
        """virStorageAdapterValidate: called for pool types that use an adapter."""
        if self.type is None:
            raise XMLError("missing storage pool source adapter")
        if self.type == "fc_host":
            if not self.wwnn or not self.wwpn:
                raise XMLError("'wwnn' and 'wwpn' must be specified for adapter type 'fchost'")
            _check_wwn(self.wwnn)
            _check_wwn(self.wwpn)
            if self.parent_wwnn and not self.parent_wwpn:
                raise XMLError(f"when providing parent_wwnn='{self.parent_wwnn}', "
                               "the parent_wwpn must also be provided")
            if self.parent_wwpn and not self.parent_wwnn:
                raise XMLError(f"when providing parent_wwpn='{self.parent_wwpn}', "
                               "the parent_wwnn must also be provided")
            for wwn in (self.parent_wwnn, self.parent_wwpn, self.parent_fabric_wwn):
                if wwn:
                    _check_wwn(wwn)
        elif self.type == "scsi_host":
            if self.name is None and self.parentaddr is None:
                raise XMLError("Either 'name' or 'parent' must be specified for the 'scsi_host' adapter")
            if self.name is not None and self.parentaddr is not None:
                raise XMLError("Both 'name' and 'parent' cannot be specified for the 'scsi_host' adapter")


class SecretRef(Model):
    """<secret type= uuid=|usage=/>: a reference to a libvirt secret."""

    TAG = "secret"
    type = Attr(String)
    uuid = Attr(UUID)
    usage = Attr(String)

    def validate(self, ctx: ParseContext) -> None:
        if self.uuid is None and self.usage is None:
            raise XMLError("missing uuid or usage attribute in secret")
        if self.uuid is not None and self.usage is not None:
            raise XMLError("either uuid or usage attribute must be specified, not both")


class Auth(Model):
    """<auth type='chap|ceph' username=...><secret .../></auth>."""

    TAG = "auth"
    type = Attr(Enum("none", "chap", "ceph", name="auth type"))
    username = Attr(String)
    secret = Child(SecretRef)

    def validate(self, ctx: ParseContext) -> None:
        if self.username is None:
            raise XMLError("missing username for auth")
        if self.secret is None:
            raise XMLError("Missing <secret> element in auth")


class IQN(Model):
    TAG = "iqn"
    name = Attr(String)


class Initiator(Model):
    TAG = "initiator"
    iqn = Child(IQN)

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        # libvirt reads string(./iqn/@name): the first <iqn> that has a name, where '' is no name at
        # all; kept aside so that the generic Child parse (the last one wins) cannot override it
        first = next((e for e in el.iterfind("iqn") if e.get("name") is not None), None)
        self._first_iqn = IQN.from_element(first, ctx) if first is not None and first.get("name") else None
        self._no_iqn = first is None or not first.get("name")
        return {"iqn"}

    def post_parse(self, ctx: ParseContext) -> None:
        first: IQN | None = self.__dict__.pop("_first_iqn", None)
        if self.__dict__.pop("_no_iqn", False):
            self.iqn = None
        elif first is not None:
            self.iqn = first


class SourceFormat(Model):
    TAG = "format"
    type = Attr(String)


class Protocol(Model):
    TAG = "protocol"
    ver = Attr(String)


class NamedRef(Model):
    """<vendor name=.../> and <product name=.../>."""

    name = Attr(String)


class PoolSource(Model):
    """<source> of a pool; which parts are kept depends on the pool type (see PoolTypeInfo)."""

    TAG = "source"
    hosts = Children(SourceHost)
    devices = Children(SourceDevice)
    dir = Child(SourceDir)
    adapter = Child(Adapter)
    name = TextChild(String)
    initiator = Child(Initiator)
    format = Child(SourceFormat)
    auth = Child(Auth)
    protocol = Child(Protocol)
    vendor = Child(NamedRef, tag="vendor")
    product = Child(NamedRef, tag="product")

    @property
    def format_type(self) -> str | None:
        return self.format.type if self.format is not None else None

    def write(self, w: Writer, tag: str | None = None) -> None:
        mark = w.mark()
        super().write(w, tag)
        if w.mark() == mark + 1 and w.parts[-1].endswith("/>\n"):
            # libvirt always prints an open and a close tag, even for an empty source
            line = w.parts[-1][:-3]
            w.parts[-1] = f"{line}>\n{line[:len(line) - len(line.lstrip())]}</{tag or self.TAG}>\n"


class PoolTarget(Model):
    TAG = "target"
    path = TextChild(String)
    permissions = Child(Permissions)


class CowFeature(Model):
    TAG = "cow"
    state = Attr(YesNo)


class PoolFeatures(Model):
    TAG = "features"
    cow = Child(CowFeature)


class RefreshVolume(Model):
    TAG = "volume"
    allocation = Attr(Enum("default", "capacity", name="refresh allocation type"))


class Refresh(Model):
    TAG = "refresh"
    volume = Child(RefreshVolume)


# ----------------------------------------------------------------------------- per pool type options

HOST, DEVICE, DIR, ADAPTER, NAME, INITIATOR_IQN, NETWORK = (1 << i for i in range(7))


@dataclass(frozen=True)
class PoolTypeInfo:
    """What one pool type reads and prints (libvirt's poolTypeInfo table)."""

    flags: int = 0
    #: Source formats accepted (first one listed first); None: the pool has no source format.
    pool_formats: tuple[str, ...] | None = None
    default_pool_format: str | None = None
    #: Target formats of its volumes; None: volumes carry no format.
    vol_formats: tuple[str, ...] | None = None
    default_vol_format: str | None = None
    #: Foreign-namespace extension element this pool type understands.
    namespace: str | None = None


_FILE_VOLS: dict[str, Any] = dict(vol_formats=FILE_FORMATS, default_vol_format="raw")

POOL_TYPE_INFO: dict[str, PoolTypeInfo] = {
    "logical": PoolTypeInfo(NAME | DEVICE, POOL_LOGICAL_FORMATS, "lvm2"),
    "dir": PoolTypeInfo(0, **_FILE_VOLS),
    "fs": PoolTypeInfo(DEVICE, POOL_FS_FORMATS, "auto", namespace=FS_NS, **_FILE_VOLS),
    "netfs": PoolTypeInfo(HOST | DIR, POOL_NETFS_FORMATS, "auto", namespace=FS_NS, **_FILE_VOLS),
    "iscsi": PoolTypeInfo(HOST | DEVICE | INITIATOR_IQN),
    "iscsi-direct": PoolTypeInfo(HOST | DEVICE | NETWORK | INITIATOR_IQN),
    "scsi": PoolTypeInfo(ADAPTER),
    "rbd": PoolTypeInfo(HOST | NETWORK | NAME, namespace=RBD_NS, **_FILE_VOLS),
    "sheepdog": PoolTypeInfo(HOST | NETWORK | NAME),
    "gluster": PoolTypeInfo(HOST | NETWORK | NAME | DIR, **_FILE_VOLS),
    "mpath": PoolTypeInfo(),
    "disk": PoolTypeInfo(DEVICE, POOL_DISK_FORMATS, "unknown", VOL_DISK_FORMATS, "none"),
    "zfs": PoolTypeInfo(NAME | DEVICE),
    "vstorage": PoolTypeInfo(NAME, **_FILE_VOLS),
}


# ----------------------------------------------------------------------------- pool

#: Pool attributes where libvirt takes '' for unset (read as XPath strings).
POOL_EMPTY_IS_UNSET = frozenset({
    ("auth", "username"), ("dir", "path"), ("format", "type"), ("product", "name"), ("vendor", "name"),
    ("protocol", "ver"), ("volume", "allocation"),
})


#: Pool children libvirt reads once (the first).
POOL_FIRST_ONLY = frozenset({
    ("pool", "name"), ("pool", "uuid"), ("pool", "source"), ("source", "name"),
    ("source", "dir"), ("source", "adapter"), ("source", "format"), ("source", "auth"), ("source", "initiator"),
    ("source", "protocol"), ("auth", "secret"), ("target", "path"), ("target", "permissions"),
    ("permissions", "owner"), ("permissions", "group"),
})


class Pool(Model):
    """A storage pool definition: ``pool.type``, ``pool.source``, ``pool.target.path``."""

    TAG = "pool"
    type = Attr(Enum(*POOL_TYPES, name="pool type"), required=True)
    name = TextChild(String)
    uuid = TextChild(UUID)
    capacity = Child(ScaledSize, tag="capacity")
    allocation = Child(ScaledSize, tag="allocation")
    available = Child(ScaledSize, tag="available")
    features = Child(PoolFeatures)
    source = Child(PoolSource)
    target = Child(PoolTarget)
    refresh = Child(Refresh)

    #: <fs:mount_opts> option names (fs, netfs pools).
    mount_opts: list[str]
    #: <rbd:config_opts> name/value pairs (rbd pools).
    config_opts: list[tuple[str, str]]

    def __init__(self, **values: Any) -> None:
        self.mount_opts = []
        self.config_opts = []
        super().__init__(**values)

    @property
    def info(self) -> PoolTypeInfo:
        return POOL_TYPE_INFO[self.type]

    @classmethod
    def from_element(cls, el: etree._Element, ctx: ParseContext | None = None) -> Pool:
        # libvirt reads ./target/path and ./target/permissions: the first of each across all targets
        el = drop_empty_text(unset_empty_attrs(el, POOL_EMPTY_IS_UNSET), EMPTY_TEXT_IS_UNSET)
        el = merge_repeated(el, ("target",))
        el = keep_first_children(el, POOL_FIRST_ONLY)
        # sizes are computed by the backend: libvirt never reads them, whatever they say
        el = without(el, lambda root: [c for c in root if c.tag in ("capacity", "allocation", "available")])
        pool: Pool = super().from_element(el, ctx)
        return pool

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        self.mount_opts = []
        self.config_opts = []
        consumed = {"capacity", "allocation", "available"}  # computed by the backend, never read back
        ptype = el.get("type")
        info = POOL_TYPE_INFO.get(ptype or "")
        for child in el:
            if not isinstance(child.tag, str) or not child.tag.startswith("{"):
                continue
            ns = etree.QName(child).namespace
            local = etree.QName(child).localname
            consumed.add(child.tag)
            if info is None or ns != info.namespace:
                continue  # another backend's namespace: ignored as libvirt ignores it
            if ns == FS_NS and local == "mount_opts":
                for opt in child.iter(f"{{{FS_NS}}}option"):
                    name = opt.get("name")
                    if not name:
                        raise XMLError(f"no fs mount option name specified{where(opt)}")
                    self.mount_opts.append(name)
            elif ns == RBD_NS and local == "config_opts":
                for opt in child.iter(f"{{{RBD_NS}}}option"):
                    name, value = opt.get("name"), opt.get("value")
                    if not name:
                        raise XMLError(f"no rbd option name specified{where(opt)}")
                    if value is None:
                        raise XMLError(f"no rbd option value specified for name '{name}'{where(opt)}")
                    self.config_opts.append((name, value))
        return consumed

    def post_parse(self, ctx: ParseContext) -> None:
        info = self.info
        self.capacity = ScaledSize.of(0)
        self.allocation = ScaledSize.of(0)
        self.available = ScaledSize.of(0)
        src = self.source if self.source is not None else PoolSource()
        self.source = src
        # -- source, as virStoragePoolDefParseSource reads it
        if self.type == "rbd" and src.name is None:
            raise XMLError("element 'name' is mandatory for RBD pool")
        if info.pool_formats is not None:
            fmt = src.format_type
            if fmt is None:
                fmt = info.default_pool_format
            elif fmt not in info.pool_formats:
                raise ConfigUnsupportedError(f"unknown pool format type {fmt}")
            src.format = SourceFormat(type=fmt)
        else:
            src.format = None
        if src.dir is not None and src.dir.path is not None:
            src.dir.path = sanitize_path(src.dir.path)
        elif src.dir is not None:
            src.dir = None
        if src.dir is None and self.type == "gluster":
            src.dir = SourceDir(path="/")
        if src.auth is not None and (src.auth.type in (None, "none")):
            raise ConfigUnsupportedError("storage pool missing auth type")
        if src.protocol is not None:
            ver = src.protocol.ver
            if ver is None:
                src.protocol = None
            else:
                # libvirt compares the source format's number, whatever the pool type, with those of
                # netfs' auto and nfs (0 and 1): any pool type takes a version unless its format is a
                # third or later one of its list
                formats = info.pool_formats or ()
                fmt = src.format_type or info.default_pool_format
                index = formats.index(fmt) if fmt in formats else 0
                if index > 1:
                    shown = POOL_NETFS_FORMATS[index] if index < len(POOL_NETFS_FORMATS) else "(null)"
                    raise ConfigUnsupportedError(f"storage pool protocol ver unsupported for pool type '{shown}'")
                if "," in ver:
                    raise XMLError(f"storage pool protocol ver '{ver}' must not contain ','", code=36)
        if src.initiator is not None and (src.initiator.iqn is None or src.initiator.iqn.name is None):
            src.initiator = None
        for ref in ("vendor", "product"):
            value = getattr(src, ref)
            if value is not None and value.name is None:
                setattr(src, ref, None)
        # -- the pool itself
        if self.name is None and info.flags & NAME:
            self.name = src.name
        if self.name is None:
            raise XMLError("missing pool source name element")
        if "/" in self.name:
            raise XMLError(f"name {self.name} cannot contain '/'")
        if self.uuid is None:
            self.uuid = str(_uuid.uuid4())
        if self.features is not None:
            cow = self.features.cow
            if cow is None or cow.state is None:
                self.features = None
            elif self.type not in ("fs", "dir"):
                raise NoSupportError("cow feature may only be used for 'fs' and 'dir' pools")
        if info.flags & HOST and not src.hosts:
            raise XMLError("missing storage pool source host name")
        if info.flags & DIR and src.dir is None:
            raise XMLError("missing storage pool source path")
        if info.flags & NAME and src.name is None:
            src.name = self.name
        if info.flags & ADAPTER:
            (src.adapter or Adapter()).check()
        if info.flags == DEVICE and not src.devices:
            raise XMLError("missing storage pool source device name")
        if not info.flags & NETWORK:
            target = self.target if self.target is not None else PoolTarget()
            if self.type == "logical":
                path = f"/dev/{src.name}"
            elif self.type == "zfs":
                path = f"/dev/zvol/{src.name}"
            else:
                path = target.path
                if path is None:
                    raise XMLError("missing storage pool target path")
            target.path = sanitize_path(path)
            if target.permissions is not None and target.permissions.is_empty():
                target.permissions = None
            self.target = target
        else:
            self.target = None
        if self.type == "iscsi-direct" and src.initiator is None:
            raise ConfigUnsupportedError("missing initiator IQN")
        if self.refresh is not None and (self.refresh.volume is None or self.refresh.volume.allocation is None):
            self.refresh = None
        # -- what the source prints for this type (libvirt parses more than it keeps)
        if not info.flags & HOST:
            src.hosts = []
        if not info.flags & DEVICE:
            src.devices = []
        if not info.flags & DIR:
            src.dir = None
        if not info.flags & ADAPTER or (src.adapter is not None and src.adapter.type is None):
            src.adapter = None
        if not info.flags & NAME:
            src.name = None
        if not info.flags & INITIATOR_IQN:
            src.initiator = None
        if not self.mount_opts and not self.config_opts:
            self.NSMAP = {}  # type: ignore[misc]
        elif self.mount_opts:
            self.NSMAP = {"fs": FS_NS}  # type: ignore[misc]
        else:
            self.NSMAP = {"rbd": RBD_NS}  # type: ignore[misc]

    def format_extra(self, w: Writer) -> None:
        if self.mount_opts:
            w.start("fs:mount_opts", [])
            mark = w.mark()
            for name in self.mount_opts:
                w.leaf("fs:option", [("name", name)], None)
            w.end("fs:mount_opts", None, mark)
        if self.config_opts:
            w.start("rbd:config_opts", [])
            mark = w.mark()
            for name, value in self.config_opts:
                w.leaf("rbd:option", [("name", name), ("value", value)], None)
            w.end("rbd:config_opts", None, mark)

    def write(self, w: Writer, tag: str | None = None) -> None:
        # the namespace is declared only when its extension element is printed
        if self.mount_opts:
            self.NSMAP = {"fs": FS_NS}  # type: ignore[misc]
        elif self.config_opts:
            self.NSMAP = {"rbd": RBD_NS}  # type: ignore[misc]
        else:
            self.NSMAP = {}  # type: ignore[misc]
        super().write(w, tag)


# ----------------------------------------------------------------------------- volume

class SecretRefEnc(SecretRef):
    """An encryption <secret type='passphrase' .../>."""

    type = Attr(Enum("passphrase", name="volume encryption secret type"))

    def validate(self, ctx: ParseContext) -> None:
        if self.type is None:
            raise XMLError("unknown volume encryption secret type")
        super().validate(ctx)


class Cipher(Model):
    TAG = "cipher"
    name = Attr(String)
    size = Attr(Int(min=0, max=2**32 - 1, hex_ok=False))  # read with base 10
    mode = Attr(String)
    hash = Attr(String)


class IVGen(Model):
    TAG = "ivgen"
    name = Attr(String)
    hash = Attr(String)


class Encryption(Model):
    """<encryption format='luks|qcow' [engine=]>: secrets and, for luks, cipher and ivgen."""

    TAG = "encryption"
    format = Attr(Enum("default", "qcow", "luks", "luks2", name="volume encryption format"))
    engine = Attr(Enum("default", "qemu", "librbd", name="encryption engine"))
    secrets = Children(SecretRefEnc, tag="secret")
    cipher = Child(Cipher)
    ivgen = Child(IVGen)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.format is None:
            raise XMLError("unknown volume encryption format")
        if self.engine == "default":
            raise XMLError("Invalid value for attribute 'engine' in element 'encryption': 'default'.")
        if self.format != "luks":
            self.cipher = self.ivgen = None
            return
        if self.cipher is not None:
            if self.cipher.name is None:
                raise XMLError("cipher info missing 'name' attribute")
            if self.cipher.size is None:
                raise XMLError("Missing required attribute 'size' in element 'cipher'")
        if self.ivgen is not None:
            if self.cipher is None:
                raise XMLError("ivgen element found, but cipher is missing")
            if self.ivgen.name is None:
                raise XMLError("missing ivgen info name string")


class Timestamps(Model):
    TAG = "timestamps"
    atime = TextChild(String)
    mtime = TextChild(String)
    ctime = TextChild(String)
    btime = TextChild(String)


class VolFeatures(Model):
    """<features>: qcow2 feature flags, printed in libvirt's order."""

    TAG = "features"
    names: list[str]

    def __init__(self, **values: Any) -> None:
        self.names = list(values.pop("names", []))
        super().__init__(**values)

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        self.names = []
        for child in el:
            if not isinstance(child.tag, str):
                continue
            if child.tag not in FILE_FEATURES:
                raise ConfigUnsupportedError(f"unsupported feature {etree.QName(child).localname}")
            if child.tag not in self.names:
                self.names.append(child.tag)
        return set(FILE_FEATURES)

    def format_extra(self, w: Writer) -> None:
        for name in FILE_FEATURES:
            if name in self.names:
                w.leaf(name, [], None)


class VolTarget(Model):
    """<target> (and <backingStore>) of a volume."""

    TAG = "target"
    path = TextChild(String)
    format = Child(SourceFormat)
    permissions = Child(Permissions)
    timestamps = Child(Timestamps)
    encryption = Child(Encryption)
    compat = TextChild(String)
    cluster_size = Child(ClusterSize, tag="clusterSize")
    features = Child(VolFeatures)
    #: <nocow/> is read (the backend honours it) but libvirt never prints it back.
    nocow: bool = False

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        self.nocow = el.find("nocow") is not None
        return {"nocow"}

    @property
    def format_type(self) -> str | None:
        return self.format.type if self.format is not None else None


class VolExtent(Model):
    TAG = "extent"
    start = Attr(ULong)
    end = Attr(ULong)


class VolSourceDevice(Model):
    TAG = "device"
    path = Attr(String)
    extents = Children(VolExtent)


class VolSource(Model):
    TAG = "source"
    devices = Children(VolSourceDevice)


def _resolve_format(value: str | None, info: PoolTypeInfo) -> SourceFormat | None:
    if info.vol_formats is None:
        return None
    if value is None:
        value = info.default_vol_format
    elif value not in info.vol_formats or (info.vol_formats is FILE_FORMATS and value == "none"):
        raise ConfigUnsupportedError(f"unknown volume format type {value}")
    return SourceFormat(type=value)


def _pool_of(ctx: ParseContext) -> Pool:
    """The pool a volume belongs to: options 'pool' (a Pool) or 'pool_xml'; a dir pool otherwise."""
    pool = ctx.options.get("pool")
    if isinstance(pool, Pool):
        return pool
    xml = ctx.options.get("pool_xml")
    if xml is not None:
        root = parse_xml(xml)
        if root.tag != "pool":
            raise XMLError(f"unexpected root element <{root.tag}>, expecting <pool>")
        pool = Pool.from_element(root, ParseContext(options={}))
    else:
        pool = Pool(type="dir", name="default")
    ctx.options["pool"] = pool
    return pool


def _flags(ctx: ParseContext) -> set[str]:
    flags = ctx.options.get("flags") or ()
    if isinstance(flags, str):
        flags = flags.split("|")
    return {f.strip().upper().removeprefix("VIR_VOL_XML_PARSE_") for f in flags if f.strip()}


#: Volume attributes where libvirt takes '' for unset (read as XPath strings).
VOLUME_EMPTY_IS_UNSET = frozenset({("format", "type")})
#: Volume children libvirt reads once (the first).
VOLUME_FIRST_ONLY = frozenset({
    ("volume", "name"), ("volume", "capacity"), ("volume", "allocation"), ("target", "path"), ("target", "format"),
    ("target", "permissions"), ("target", "encryption"), ("target", "compat"), ("backingStore", "path"),
    ("backingStore", "format"), ("backingStore", "permissions"), ("permissions", "mode"), ("permissions", "owner"),
    ("permissions", "group"), ("permissions", "label"),
})


#: Text children where libvirt takes '' for unset, in pools and volumes.
EMPTY_TEXT_IS_UNSET = frozenset({
    ("pool", "name"), ("volume", "name"), ("source", "name"), ("target", "path"), ("backingStore", "path"),
    ("permissions", "mode"), ("permissions", "label"), ("volume", "capacity"), ("volume", "allocation"),
    ("target", "compat"), ("target", "clusterSize"),
})


class Volume(Model):
    """A storage volume: ``vol.capacity_bytes``, ``vol.target.path``, ``vol.target.format_type``.

    Parse options: ``pool`` (a Pool) or ``pool_xml`` (its XML) decide the volume formats; ``flags``
    may hold NO_CAPACITY / OPT_CAPACITY (virStorageVolDefParse flags).
    """

    TAG = "volume"
    type = Attr(Enum(*VOL_TYPES, name="volume type"))
    name = TextChild(String)
    key = TextChild(String)
    source = Child(VolSource)
    capacity = Child(ScaledSize, tag="capacity")
    allocation = Child(ScaledSize, tag="allocation")
    physical = Child(ScaledSize, tag="physical")
    target = Child(VolTarget)
    backing_store = Child(VolTarget, tag="backingStore")

    @classmethod
    def from_element(cls, el: etree._Element, ctx: ParseContext | None = None) -> Volume:
        el = drop_empty_text(unset_empty_attrs(el, VOLUME_EMPTY_IS_UNSET), EMPTY_TEXT_IS_UNSET)
        el = merge_repeated(el, ("target", "backingStore"))
        vol: Volume = super().from_element(keep_first_children(el, VOLUME_FIRST_ONLY), ctx)
        return vol

    @property
    def capacity_bytes(self) -> int:
        return self.capacity.value if self.capacity is not None else 0

    @property
    def allocation_bytes(self) -> int:
        return self.allocation.value if self.allocation is not None else self.capacity_bytes

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        if el.get("type") is not None and el.get("type") not in VOL_TYPES:
            raise ConfigUnsupportedError(f"unknown volume type '{el.get('type')}'")
        for tag in ("capacity", "allocation"):
            child = el.find(tag)
            if child is not None:
                text = "".join(str(t) for t in child.itertext())
                if not re.fullmatch(r"\+?\d+", text.strip()):
                    raise XMLError("malformed capacity element")
        return set()

    def post_parse(self, ctx: ParseContext) -> None:
        if self.name is None:
            raise XMLError("missing volume name element")
        pool = _pool_of(ctx)
        info = pool.info
        flags = _flags(ctx)
        if self.type is None:
            self.type = "file"
        self.source = None  # extents are reported by the backend, not read
        self.physical = None
        target = self.target if self.target is not None else VolTarget()
        self.target = target
        bs = self.backing_store
        if bs is not None:
            if bs.path is None:
                self.backing_store = None
            else:
                self.backing_store = VolTarget(path=bs.path, format=_resolve_format(bs.format_type, info),
                                               permissions=bs.permissions)
                if bs.permissions is not None and bs.permissions.is_empty():
                    self.backing_store.permissions = None
        if self.capacity is None:
            optional = "OPT_CAPACITY" in flags and self.backing_store is not None
            if "NO_CAPACITY" not in flags and not optional:
                raise XMLError("missing capacity element")
            self.capacity = ScaledSize.of(0)
        if self.allocation is None:
            self.allocation = ScaledSize.of(self.capacity.value)
        target.format = _resolve_format(target.format_type, info)
        if target.permissions is not None and target.permissions.is_empty():
            target.permissions = None
        target.timestamps = None
        if target.compat is not None:
            parts = target.compat.split(".", 1)
            if len(parts) < 2 or not all(re.fullmatch(r"\s*[+-]?\d+", p) for p in parts):
                raise XMLError("forbidden characters in 'compat' attribute")
        if target.features is not None and target.compat is None:
            target.compat = "1.1"
        if target.cluster_size is not None and target.cluster_size.value == 0:
            target.cluster_size = None
