"""``<disk>``: driver, source chain, target, iotune, geometry, blockio and the rest, with libvirt's checks."""

from __future__ import annotations

import functools
import re
from typing import Any

from virt.conf.domain.devices.base import Device
from virt.conf.domain.devices.storage import (
    FILE_FORMATS,
    STORAGE_TYPES,
    Auth,
    BackingStore,
    Encryption,
    StorageSource,
    validate_source_chain,
)
from virt.conf.domain.types import OnOff, UInt10, ULong10, YesNo
from virt.conf.xmlmodel import (
    Attr,
    Child,
    Enum,
    Flag,
    Model,
    ParseContext,
    String,
    Text,
    TextChild,
    Writer,
)
from virt.util.errors import (
    ConfigUnsupportedError,
    ErrorNumber,
    InternalError,
    VirtError,
    XMLError,
)

DISK_BUSES = ("ide", "fdc", "scsi", "virtio", "xen", "usb", "uml", "sata", "sd")


class MetadataCacheMaxSize(Model):
    TAG = "max_size"
    unit = Attr(String)
    value = Text(ULong10)

    def post_parse(self, ctx: ParseContext) -> None:
        from virt.conf.domain.types import scale_value
        if self.value is not None:
            self.value = scale_value(self.value, self.unit, 1)
            self.unit = "bytes"


class MetadataCache(Model):
    TAG = "metadata_cache"
    max_size = Child(MetadataCacheMaxSize)


class DiskDriver(Model):
    TAG = "driver"
    name = Attr(String)
    type = Attr(String)
    cache = Attr(Enum("default", "none", "writethrough", "writeback", "directsync", "unsafe", name="cache"))
    error_policy = Attr(Enum("stop", "report", "ignore", "enospace", name="error_policy"))
    rerror_policy = Attr(Enum("stop", "report", "ignore", name="rerror_policy"))
    io = Attr(Enum("native", "threads", "io_uring", name="io"))
    ioeventfd = Attr(OnOff)
    event_idx = Attr(OnOff)
    copy_on_read = Attr(OnOff)
    discard = Attr(Enum("unmap", "ignore", name="discard"))
    iothread = Attr(UInt10)
    detect_zeroes = Attr(Enum("off", "on", "unmap", name="detect_zeroes"))
    queues = Attr(UInt10)
    queue_size = Attr(UInt10)
    iommu = Attr(OnOff)
    ats = Attr(OnOff)
    packed = Attr(OnOff)
    page_per_vq = Attr(OnOff)
    metadata_cache = Child(MetadataCache)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.type is not None:
            if self.type == "aio":  # libvirt's historical alias for raw
                self.type = "raw"
            if self.type not in FILE_FORMATS or self.type == "none":
                raise XMLError(f"unknown driver format value '{self.type}'")
        if self.cache == "default":
            self.cache = None
        if self.iothread == 0:
            raise XMLError("Invalid iothread attribute in disk driver element: 0")
        if self.queues == 0:
            raise XMLError("'queues' attribute must be positive number: 0")
        if self.queue_size == 0:
            raise XMLError("'queue_size' attribute must be positive number: 0")


class Geometry(Model):
    TAG = "geometry"
    cyls = Attr(UInt10)
    heads = Attr(UInt10)
    secs = Attr(UInt10)
    trans = Attr(Enum("none", "auto", "lba", name="geometry trans"))

    def validate(self, ctx: ParseContext) -> None:
        if self.cyls is None:
            raise XMLError("Missing 'cyls' attribute in 'geometry' element")
        if self.heads is None:
            raise XMLError("Missing 'heads' attribute in 'geometry' element")
        if self.secs is None:
            raise XMLError("Missing 'secs' attribute in 'geometry' element")


class BlockIO(Model):
    TAG = "blockio"
    logical_block_size = Attr(UInt10)
    physical_block_size = Attr(UInt10)
    discard_granularity = Attr(UInt10)


class DiskTarget(Model):
    TAG = "target"
    dev = Attr(String)
    bus = Attr(Enum(*DISK_BUSES, name="disk bus"))
    tray = Attr(Enum("closed", "open", name="tray"))
    removable = Attr(OnOff)
    rotation_rate = Attr(UInt10)


_IOTUNE_FIELDS = ("total_bytes_sec", "read_bytes_sec", "write_bytes_sec", "total_iops_sec", "read_iops_sec",
                  "write_iops_sec", "total_bytes_sec_max", "read_bytes_sec_max", "write_bytes_sec_max",
                  "total_iops_sec_max", "read_iops_sec_max", "write_iops_sec_max", "size_iops_sec", "group_name",
                  "total_bytes_sec_max_length", "read_bytes_sec_max_length", "write_bytes_sec_max_length",
                  "total_iops_sec_max_length", "read_iops_sec_max_length", "write_iops_sec_max_length")


class IOTune(Model):
    """``<iotune>``: zero values are not printed, as libvirt keeps 0 for "unset"."""

    TAG = "iotune"
    total_bytes_sec = TextChild(ULong10)
    read_bytes_sec = TextChild(ULong10)
    write_bytes_sec = TextChild(ULong10)
    total_iops_sec = TextChild(ULong10)
    read_iops_sec = TextChild(ULong10)
    write_iops_sec = TextChild(ULong10)
    total_bytes_sec_max = TextChild(ULong10)
    read_bytes_sec_max = TextChild(ULong10)
    write_bytes_sec_max = TextChild(ULong10)
    total_iops_sec_max = TextChild(ULong10)
    read_iops_sec_max = TextChild(ULong10)
    write_iops_sec_max = TextChild(ULong10)
    size_iops_sec = TextChild(ULong10)
    group_name = TextChild(String)
    total_bytes_sec_max_length = TextChild(ULong10)
    read_bytes_sec_max_length = TextChild(ULong10)
    write_bytes_sec_max_length = TextChild(ULong10)
    total_iops_sec_max_length = TextChild(ULong10)
    read_iops_sec_max_length = TextChild(ULong10)
    write_iops_sec_max_length = TextChild(ULong10)

    def post_parse(self, ctx: ParseContext) -> None:
        for name in _IOTUNE_FIELDS:
            if getattr(self, name) == 0:
                setattr(self, name, None)

    def validate(self, ctx: ParseContext) -> None:
        for kind in ("bytes", "iops"):
            if getattr(self, f"total_{kind}_sec") and (getattr(self, f"read_{kind}_sec") or
                                                       getattr(self, f"write_{kind}_sec")):
                raise XMLError(f"total and read/write {'bytes' if kind == 'bytes' else 'iops'} cannot be set at "
                               "the same time")
            if getattr(self, f"total_{kind}_sec_max") and (getattr(self, f"read_{kind}_sec_max") or
                                                           getattr(self, f"write_{kind}_sec_max")):
                raise XMLError(f"total and read/write {kind} max cannot be set at the same time")
        for name in _IOTUNE_FIELDS:
            if name.endswith("_max_length") and getattr(self, name):
                base = name[:-len("_length")]
                if not getattr(self, base):
                    raise XMLError(f"{base}_length cannot be set without {base}")

    def is_empty(self) -> bool:
        return all(getattr(self, n) is None for n in _IOTUNE_FIELDS)

    def write(self, w: Writer, tag: str | None = None) -> None:
        if not self.is_empty():
            super().write(w, tag)


class Transient(Model):
    TAG = "transient"
    shareBacking = Attr(YesNo)


class MirrorFormat(Model):
    TAG = "format"
    type = Attr(String)


class Mirror(Model):
    """``<mirror>`` of a block job: live-only output, read back on live parses."""

    TAG = "mirror"
    type = Attr(Enum(*STORAGE_TYPES, name="mirror type"))
    file = Attr(String)
    format = Attr(String)
    job = Attr(Enum("copy", "active-commit", name="mirror job"))
    ready = Attr(String)
    shallow = Attr(YesNo)
    format_el = Child(MirrorFormat, tag="format")
    source = Child(StorageSource)
    backingStore = Child(BackingStore)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.source is not None:
            self.source.finish(self.type or "file")


_DISK_NAME = re.compile(r"(?:fd|hd|vd|sd|xvd|ubd)([a-z]+)(\d*)")


def disk_name_to_index(name: str) -> int:
    """libvirt's virDiskNameToIndex: ``sda`` -> 0, ``sdz`` -> 25, ``sdaa`` -> 26; -1 when not a disk name."""
    m = _DISK_NAME.fullmatch(name)
    if not m:
        return -1
    idx = 0
    for i, ch in enumerate(m.group(1)):
        idx = (idx + (1 if i else 0)) * 26 + ord(ch) - 97
    return idx


class Disk(Device):
    """A ``<disk>``. ``source`` is a StorageSource whose relevant attributes depend on ``type``."""

    TAG = "disk"
    KIND = "disks"
    ALLOW_BOOT = True
    type = Attr(Enum(*STORAGE_TYPES, name="disk type"))
    device = Attr(Enum("disk", "cdrom", "floppy", "lun", name="disk device"))
    model = Attr(Enum("virtio", "virtio-transitional", "virtio-non-transitional", name="disk model"))
    rawio = Attr(YesNo)
    sgio = Attr(Enum("filtered", "unfiltered", name="sgio"))
    snapshot = Attr(Enum("no", "internal", "external", "manual", name="snapshot"))
    driver = Child(DiskDriver)
    auth = Child(Auth)
    source = Child(StorageSource)
    backingStore = Child(BackingStore)
    backenddomain = Child(lambda: BackendDomain)
    geometry = Child(Geometry)
    blockio = Child(BlockIO)
    mirror = Child(Mirror)
    target = Child(DiskTarget)
    iotune = Child(IOTune)
    readonly = Flag()
    shareable = Flag()
    transient = Child(Transient)
    serial = TextChild(String)
    wwn = TextChild(String)
    vendor = TextChild(String)
    product = TextChild(String)
    encryption = Child(Encryption)

    def post_parse(self, ctx: ParseContext) -> None:
        # (the type, device and target are read into locals once: this runs for every disk)
        dtype = self.type
        if dtype is None:
            dtype = self.type = "file"
        device = self.device
        if device is None:
            device = self.device = "disk"
        if ctx.inactive:
            self.mirror = None
        src = self.source
        if src is not None:
            src.finish(dtype)
            if dtype != "network" and src.is_empty():
                self.source = src = None
        if dtype == "network":
            if src is None:
                raise XMLError("missing network source protocol type")
            if src.protocol == "iscsi" and src.name and "/" not in src.name:
                # virDomainPostParseCheckISCSIPath: the LUN defaults to 0
                src.name += "/0"
            src.startupPolicy = None
        # auth/encryption given directly under <disk> are kept there (libvirt remembers where they were)
        if src is not None:
            if self.auth is not None and src.auth is not None:
                raise ConfigUnsupportedError("an <auth> definition already found for disk source")
            if self.encryption is not None and src.encryption is not None:
                raise ConfigUnsupportedError("an <encryption> definition already found for disk source")
        tgt = self.target
        if tgt is None or tgt.dev is None:
            raise VirtError(f"device {self.source_path}" if self.source_path else None, code=ErrorNumber.NO_TARGET)
        bus = tgt.bus
        if bus is None:
            dev = tgt.dev
            if device == "floppy":
                bus = "fdc"
            elif dev.startswith("hd"):
                bus = "ide"
            elif dev.startswith("sd"):
                bus = "scsi"
            elif dev.startswith("vd"):
                bus = "virtio"
            elif dev.startswith("xvd"):
                bus = "xen"
            elif dev.startswith("ubd"):
                bus = "uml"
            else:
                bus = "ide"
            tgt.bus = bus
        if (device == "floppy") != (bus == "fdc"):
            raise InternalError(f"Invalid bus type '{bus}' for floppy disk" if device == "floppy" else
                                f"Invalid bus type '{bus}' for disk")
        if tgt.tray is not None and device not in ("cdrom", "floppy"):
            raise ConfigUnsupportedError("tray is only valid for cdrom and floppy")
        if tgt.removable is not None and not (bus == "usb" or (bus == "scsi" and device == "disk")):
            raise XMLError("removable is only valid for usb or scsi disks")
        if dtype == "vhostuser" and self.snapshot is None:
            self.snapshot = "no"
        if self.wwn is not None and not _WWN.fullmatch(self.wwn):
            raise XMLError("Malformed wwn: " + self.wwn)
        if self.vendor is not None:
            _check_inquiry_string("vendor", self.vendor, 8)
        if self.product is not None:
            _check_inquiry_string("product", self.product, 16)

    def validate(self, ctx: ParseContext) -> None:
        chain: Any = self
        stype = self.type
        src = self.source
        auth = self.auth
        while True:
            validate_source_chain(src, stype, auth)
            auth = None
            bs = chain.backingStore
            if bs is None or bs.is_terminator:
                break
            chain, stype, src = bs, bs.type, bs.source
        tgt = self.target
        dev = tgt.dev if tgt is not None else ""
        if _has_partition(dev):
            raise ConfigUnsupportedError(f"invalid disk target '{dev}', partitions can't appear in disk targets")
        device = self.device
        if device != "lun":
            if self.rawio is not None:
                raise ConfigUnsupportedError("rawio can be used only with device='lun'")
            if self.sgio is not None:
                raise ConfigUnsupportedError("sgio can be used only with device='lun'")
            if self.source is not None and self.source.reservations is not None:
                raise ConfigUnsupportedError("<reservations/> allowed only for lun devices")
        bus = tgt.bus if tgt is not None else None
        if bus != "virtio":
            if self.driver is not None and self.driver.queues:
                raise ConfigUnsupportedError("queues attribute in disk driver element is only supported for "
                                             "virtio bus")
            if self.model is not None:
                raise ConfigUnsupportedError(f"disk model '{self.model}' not supported for bus '{bus}'")
        address = self.address
        if address is not None and not _address_fits_bus(bus, address.type):
            raise ConfigUnsupportedError(f"Invalid address type '{address.type}' for the disk '{dev}' "
                                         f"with the bus type '{bus}'")

    # -- helpers -------------------------------------------------------------------------------
    @property
    def dev(self) -> str:
        return self.target.dev if self.target is not None else ""

    @property
    def bus(self) -> str | None:
        return self.target.bus if self.target is not None else None

    @property
    def source_path(self) -> str | None:
        return self.source.path_or_name if self.source is not None else None

    @property
    def image_format(self) -> str | None:
        """The image format of the top layer (driver type), e.g. 'qcow2'."""
        return self.driver.type if self.driver is not None else None


class BackendDomain(Model):
    TAG = "backenddomain"
    name = Attr(String)


@functools.lru_cache(maxsize=1024)
def _has_partition(dev: str) -> bool:
    """Whether a disk target name has a partition number (vda1): the same few names in every document."""
    m = _DISK_NAME.fullmatch(dev)
    return bool(m and m.group(2))


_WWN = re.compile(r"(0x)?[0-9a-fA-F]{16}")


def _check_inquiry_string(name: str, value: str, limit: int) -> None:
    """The SCSI inquiry strings (vendor, product): printable and short."""
    if not value.isprintable():
        raise XMLError(f"disk {name} is not printable string")
    if len(value) > limit:
        raise ConfigUnsupportedError(f"disk {name} is more than {limit} characters")


def _address_fits_bus(bus: str | None, atype: str | None) -> bool:
    """libvirt's virDomainDiskAddressDiskBusCompatibility for the buses common code knows."""
    if atype in (None, "none"):
        return True
    if bus in ("ide", "fdc", "scsi", "sata"):
        return atype == "drive"
    return True
