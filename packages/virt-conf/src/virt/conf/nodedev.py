"""Node device XML (<device>): host devices and every capability type libvirt reports for them."""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar

from lxml import etree
from virt.conf.xmlmodel import (
    UUID,
    Attr,
    Child,
    Children,
    Enum,
    Model,
    ParseContext,
    String,
    Text,
    TextChild,
    ValueType,
    Writer,
    where,
)
from virt.util.errors import ConfigUnsupportedError, InternalError, VirtError, XMLError

# ----------------------------------------------------------------------------- value types


class XPathUInt(ValueType[int]):
    """An unsigned integer read as libvirt reads number(./x): decimal only, integral, within range."""

    name = "number"
    _re = re.compile(r"\s*-?(\d+(\.\d*)?|\.\d+)\s*")

    def __init__(self, max: int = 2**64 - 1, signed: bool = False) -> None:
        self.max, self.signed = max, signed

    def parse(self, text: str) -> int:
        if not self._re.fullmatch(text):
            raise ValueError(text)
        value = float(text)
        if value != math.trunc(value):
            raise ValueError(text)
        ivalue = int(value)
        low = -(2**31) if self.signed else 0
        if not low <= ivalue <= self.max:
            raise ValueError(text)
        return ivalue


class BaseInt(ValueType[int]):
    """An unsigned integer in C strtoul style with a base (0: 0x/0 prefixes), printed with a format."""

    name = "integer"

    def __init__(self, base: int = 10, fmt: str = "{}", max: int = 2**32 - 1) -> None:
        self.base, self.fmt, self.max = base, fmt, max

    def parse(self, text: str) -> int:
        s = text.strip()
        if s.startswith("+"):
            s = s[1:]
        if not s or s.startswith("-"):
            raise ValueError(text)
        if self.base == 16 and s[:2].lower() == "0x":
            s = s[2:]
        value = int(s, self.base) if self.base else _c_base0(s)
        if value > self.max:
            raise ValueError(text)
        return value

    def format(self, value: int) -> str:
        return self.fmt.format(value)


def _c_base0(s: str) -> int:
    if s[:2].lower() == "0x":
        return int(s[2:], 16)
    if len(s) > 1 and s[0] == "0":
        return int(s[1:], 8)
    return int(s, 10)


UINT = XPathUInt(2**32 - 1)
ULONG = XPathUInt()
INT = XPathUInt(2**31 - 1, signed=True)
HEX_ID = BaseInt(16, "0x{:04x}")
PCI_CLASS = BaseInt(16, "0x{:06x}", max=0xFFFFFF)

# ----------------------------------------------------------------------------- common pieces


class PCIAddress(Model):
    """<address domain='0x0000' bus='0x00' slot='0x00' function='0x0'/> of a PCI device."""

    TAG = "address"
    domain = Attr(BaseInt(0, "0x{:04x}"))
    bus = Attr(BaseInt(0, "0x{:02x}"))
    slot = Attr(BaseInt(0, "0x{:02x}"))
    function = Attr(BaseInt(0, "0x{:x}"))

    def post_parse(self, ctx: ParseContext) -> None:
        for name, limit in (("domain", 0xFFFF), ("bus", 0xFF), ("slot", 0x1F), ("function", 7)):
            value = getattr(self, name)
            if value is None:
                setattr(self, name, 0)
            elif value > limit:
                raise XMLError(f"Invalid PCI address {name}. Must be <= 0x{limit:x}")

    def __str__(self) -> str:
        return f"{self.domain:04x}:{self.bus:02x}:{self.slot:02x}.{self.function:x}"


class IdName(Model):
    """<vendor id='0x8086'>Intel Corporation</vendor> (and <product>)."""

    id = Attr(HEX_ID)
    name = Text(String)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.id is None:
            raise InternalError(f"no {self._what} ID supplied")

    _what = "vendor/product"


class MdevType(Model):
    """One mediated device type a parent device offers."""

    TAG = "type"
    id = Attr(String)
    name = TextChild(String)
    device_api = TextChild(String, tag="deviceAPI")
    available_instances = TextChild(UINT, tag="availableInstances")

    def post_parse(self, ctx: ParseContext) -> None:
        if not self.id:
            raise XMLError("missing 'id' attribute for mediated device's <type> element")
        if not self.device_api:
            raise XMLError(f"missing device API for mediated device type '{self.id}'")
        if self.available_instances is None:
            raise XMLError(f"missing number of available instances for mediated device type '{self.id}'")
        if self.name == "":
            self.name = None


# ----------------------------------------------------------------------------- capabilities


class Capability(Model):
    """Base of every <capability type=...>; ``from_element`` picks the subclass from ``type``."""

    TAG = "capability"
    #: The capability's type word; subclasses set it and are found by it.
    TYPE: ClassVar[str] = ""
    REGISTRY: ClassVar[dict[str, type[Capability]]]
    type = Attr(String)

    @classmethod
    def from_element(cls, el: etree._Element, ctx: ParseContext | None = None) -> Any:
        if not cls.TYPE:
            kind = el.get("type")
            registry = cls.__dict__.get("REGISTRY") or getattr(cls, "REGISTRY", {})
            target = registry.get(kind or "")
            if target is None:
                return cls.unknown(kind, el)
            return target.from_element(el, ctx)
        return super().from_element(el, ctx)

    @classmethod
    def unknown(cls, kind: str | None, el: etree._Element) -> Any:
        if kind is None:
            raise XMLError(f"Missing capability type{where(el)}")
        raise XMLError(f"Invalid value for attribute 'type' in element 'capability': '{kind}'{where(el)}")

    def post_parse(self, ctx: ParseContext) -> None:
        self.type = self.TYPE
        self.check(ctx)

    def check(self, ctx: ParseContext) -> None:
        """Per-type defaults and rules."""

    def write(self, w: Writer, tag: str | None = None) -> None:
        self.type = self.TYPE
        super().write(w, "capability")


def _registry(*classes: type[Capability]) -> dict[str, type[Capability]]:
    return {c.TYPE: c for c in classes}


def _sub_caps(el: etree._Element, ctx: ParseContext, base: type[Capability]) -> list[Capability]:
    return [base.from_element(child, ctx) for child in el if child.tag == "capability"]


class MdevTypesCap(Capability):
    TYPE = "mdev_types"
    types = Children(MdevType)

    def check(self, ctx: ParseContext) -> None:
        if not self.types:
            raise XMLError("missing <type> element in <capability> element")


# -- pci


class PhysFunctionCap(Capability):
    TYPE = "phys_function"
    address = Child(PCIAddress)

    def check(self, ctx: ParseContext) -> None:
        if self.address is None:
            raise XMLError("Missing address in 'phys_function' capability")


class VirtFunctionsCap(Capability):
    TYPE = "virt_functions"
    max_count = Attr(BaseInt(10), xml="maxCount")
    addresses = Children(PCIAddress)

    def check(self, ctx: ParseContext) -> None:
        if self.max_count == 0:
            self.max_count = None


class HeaderTypeCap(Capability):
    """pci-bridge / cardbus-bridge: the device's PCI header type."""

    TYPE = "pci-bridge"

    def post_parse(self, ctx: ParseContext) -> None:
        pass  # keeps the type word it was read with

    def write(self, w: Writer, tag: str | None = None) -> None:
        Model.write(self, w, "capability")


class VPDField(Model):
    """<vendor_field index='A'>value</vendor_field> (and system_field)."""

    index = Attr(String)
    value = Text(String)


class VPDFields(Model):
    """<fields access='readonly|readwrite'>: the keywords of one VPD section."""

    TAG = "fields"
    access = Attr(Enum("readonly", "readwrite", name="VPD fields access type"))
    change_level = TextChild(String)
    manufacture_id = TextChild(String)
    part_number = TextChild(String)
    serial_number = TextChild(String)
    asset_tag = TextChild(String)
    vendor_fields = Children(VPDField, tag="vendor_field")
    system_fields = Children(VPDField, tag="system_field")

    def post_parse(self, ctx: ParseContext) -> None:
        if self.access is None:
            raise XMLError("VPD fields access type parsing has failed")
        readonly = self.access == "readonly"
        for name in ("change_level", "manufacture_id", "part_number", "serial_number", "asset_tag"):
            if getattr(self, name) == "" or (readonly == (name == "asset_tag")):
                setattr(self, name, None)
        self.vendor_fields = _upsert(self.vendor_fields)
        self.system_fields = [] if readonly else _upsert(self.system_fields)


def _upsert(fields: list[VPDField]) -> list[VPDField]:
    """Custom VPD fields keyed by their one-character index: a later value replaces an earlier one."""
    out: dict[str, VPDField] = {}
    for f in fields:
        if f.index is None or len(f.index) != 1 or not f.value:
            continue
        if f.index in out:
            out[f.index].value = f.value
        else:
            out[f.index] = f
    return list(out.values())


class VPDCap(Capability):
    TYPE = "vpd"
    name = TextChild(String)
    fields = Children(VPDFields)

    def check(self, ctx: ParseContext) -> None:
        if not self.name:
            raise XMLError("Could not read a device name from the <name> element")
        by_access: dict[str, VPDFields] = {}
        for f in self.fields:
            by_access[f.access] = f
        self.fields = [by_access[a] for a in ("readonly", "readwrite") if a in by_access]


PCI_SUBCAPS = _registry(PhysFunctionCap, VirtFunctionsCap, MdevTypesCap, VPDCap)
HEADER_TYPES = ("pci-bridge", "cardbus-bridge")
LINK_SPEEDS = ("2.5", "5", "8", "16", "32", "64")


class PCIELink(Model):
    TAG = "link"
    validity = Attr(Enum("cap", "sta", name="link validity"))
    port = Attr(INT)
    speed = Attr(Enum(*LINK_SPEEDS, name="PCIe link speed"))
    width = Attr(BaseInt(0))

    def post_parse(self, ctx: ParseContext) -> None:
        if self.width is None:
            raise XMLError("Missing required attribute 'width' in element 'link'")
        if self.port is not None and self.port < 0:
            self.port = None


class PCIExpress(Model):
    TAG = "pci-express"
    links = Children(PCIELink)

    def post_parse(self, ctx: ParseContext) -> None:
        by_validity: dict[str, PCIELink] = {}
        for lnk in self.links:
            if lnk.validity is not None and lnk.validity not in by_validity:
                by_validity[lnk.validity] = lnk
        self.links = [by_validity[v] for v in ("cap", "sta") if v in by_validity]


class IommuGroup(Model):
    TAG = "iommuGroup"
    number = Attr(BaseInt(10))
    addresses = Children(PCIAddress)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.number is None:
            raise XMLError("Missing required attribute 'number' in element 'iommuGroup'")


class NumaNode(Model):
    TAG = "numa"
    node = Attr(INT)


class PCICap(Capability):
    """A PCI device: ``cap.domain``/``bus``/``slot``/``function``, vendor/product ids, SR-IOV, IOMMU group."""

    TYPE = "pci"
    klass = TextChild(PCI_CLASS, tag="class")
    domain = TextChild(ULONG)
    bus = TextChild(ULONG)
    slot = TextChild(ULONG)
    function = TextChild(ULONG)
    product = Child(IdName, tag="product")
    vendor = Child(IdName, tag="vendor")
    phys_function = Child(PhysFunctionCap, tag="capability:phys_function")
    virt_functions = Child(VirtFunctionsCap, tag="capability:virt_functions")
    header_type = Child(HeaderTypeCap, tag="capability:header")
    mdev_types = Child(MdevTypesCap, tag="capability:mdev_types")
    vpd = Child(VPDCap, tag="capability:vpd")
    iommu_group = Child(IommuGroup)
    numa = Child(NumaNode)
    pci_express = Child(PCIExpress)

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        for child in el:
            if child.tag != "capability":
                continue
            kind = child.get("type")
            if kind is None:
                raise XMLError(f"Missing capability type{where(child)}")
            sub = PCI_SUBCAPS.get(kind)
            if sub is not None:
                setattr(self, kind, sub.from_element(child, ctx))
            elif kind in HEADER_TYPES and self.header_type is None:
                self.header_type = HeaderTypeCap(type=kind)
        return {"capability"}

    def check(self, ctx: ParseContext) -> None:
        _require(self, ("domain", "bus", "slot", "function"), "PCI")
        _require_id(self, "PCI")
        if self.iommu_group is not None and not self.iommu_group.addresses:
            self.iommu_group = None
        if self.numa is not None and (self.numa.node is None or self.numa.node < 0):
            self.numa = None

    @property
    def address(self) -> PCIAddress:
        return PCIAddress(domain=self.domain, bus=self.bus, slot=self.slot, function=self.function)


def _require(cap: Model, names: tuple[str, ...], what: str) -> None:
    for name in names:
        if getattr(cap, name) is None:
            label = {"function": "function ID", "domain": "domain ID", "bus": "bus ID", "slot": "slot ID"}
            raise InternalError(f"no {what} {label.get(name, name)} supplied")


def _require_id(cap: Any, what: str) -> None:
    for name in ("vendor", "product"):
        if getattr(cap, name) is None:
            raise InternalError(f"no {what} {name} ID supplied")


# -- usb, net, scsi, storage


class USBDeviceCap(Capability):
    TYPE = "usb_device"
    bus = TextChild(ULONG)
    device = TextChild(ULONG)
    product = Child(IdName, tag="product")
    vendor = Child(IdName, tag="vendor")

    def check(self, ctx: ParseContext) -> None:
        if self.bus is None:
            raise InternalError("no USB bus number supplied")
        if self.device is None:
            raise InternalError("no USB device number supplied")
        _require_id(self, "USB")


class USBInterfaceCap(Capability):
    TYPE = "usb"
    number = TextChild(ULONG)
    klass = TextChild(ULONG, tag="class")
    subclass = TextChild(ULONG)
    protocol = TextChild(ULONG)
    description = TextChild(String)

    def check(self, ctx: ParseContext) -> None:
        for name, label in (("number", "number"), ("klass", "class"), ("subclass", "subclass"),
                            ("protocol", "protocol")):
            if getattr(self, name) is None:
                raise InternalError(f"no USB interface {label} supplied")
        if self.description == "":
            self.description = None


NET_FEATURES = ("rx", "tx", "sg", "tso", "gso", "gro", "lro", "rxvlan", "txvlan", "ntuple", "rxhash",
                "rdma", "txudptnl", "switchdev")
LINK_STATES = ("unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up")


class NetLink(Model):
    TAG = "link"
    speed = Attr(BaseInt(10))
    state = Attr(Enum(*LINK_STATES, name="link state"))

    def post_parse(self, ctx: ParseContext) -> None:
        if self.speed == 0:
            self.speed = None


class NetFeature(Model):
    TAG = "feature"
    name = Attr(String)


class NetSubCap(Model):
    TAG = "capability"
    type = Attr(Enum("80203", "80211", name="network type"))


class NetCap(Capability):
    TYPE = "net"
    interface = TextChild(String)
    address = TextChild(String)
    link = Child(NetLink)
    features = Children(NetFeature)
    subtype = Child(NetSubCap)

    def check(self, ctx: ParseContext) -> None:
        if not self.interface:
            raise InternalError("no network interface supplied")
        if self.address == "":
            self.address = None
        names = []
        for f in self.features:
            if f.name is None:
                raise XMLError("missing network device feature name")
            if f.name not in NET_FEATURES:
                raise XMLError(f"unknown network device feature '{f.name}'")
            names.append(f.name)
        self.features = [NetFeature(name=n) for n in NET_FEATURES if n in names]
        if self.link is not None and self.link.speed is None and self.link.state is None:
            self.link = None
        if self.subtype is not None and self.subtype.type is None:
            self.subtype = None


class FCHostCap(Capability):
    TYPE = "fc_host"
    wwnn = TextChild(String)
    wwpn = TextChild(String)
    fabric_wwn = TextChild(String)

    def check(self, ctx: ParseContext) -> None:
        for name in ("wwnn", "wwpn"):
            if not getattr(self, name):
                raise InternalError(f"no {name.upper()} supplied, and auto-generation failed")
        if self.fabric_wwn == "":
            self.fabric_wwn = None


class VportOpsCap(Capability):
    """vport_ops: the counts are runtime values, never read back (0 until the driver fills them)."""

    TYPE = "vport_ops"
    max_vports = TextChild(INT)
    vports = TextChild(INT)

    def check(self, ctx: ParseContext) -> None:
        self.max_vports = 0
        self.vports = 0


SCSI_HOST_SUBCAPS = _registry(FCHostCap, VportOpsCap)


class SCSIHostCap(Capability):
    TYPE = "scsi_host"
    host = TextChild(ULONG)
    unique_id = TextChild(INT)
    fc_host = Child(FCHostCap, tag="capability:fc_host")
    vport_ops = Child(VportOpsCap, tag="capability:vport_ops")

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        for child in el:
            if child.tag != "capability":
                continue
            kind = child.get("type")
            if kind is None:
                raise InternalError("missing SCSI host capability type")
            sub = SCSI_HOST_SUBCAPS.get(kind)
            if sub is None:
                raise InternalError(f"unknown SCSI host capability type '{kind}'")
            setattr(self, kind, sub.from_element(child, ctx))
        return {"capability"}

    def check(self, ctx: ParseContext) -> None:
        if self.host is None:
            raise InternalError("no SCSI host ID supplied")
        if self.unique_id == -1:
            self.unique_id = None


class FCRemotePortCap(Capability):
    TYPE = "fc_remote_port"
    rport = TextChild(String)
    wwpn = TextChild(String)

    def check(self, ctx: ParseContext) -> None:
        if self.rport is None:
            raise InternalError("missing rport name")
        if self.wwpn is None:
            raise InternalError("missing wwpn identifier")


class SCSITargetCap(Capability):
    TYPE = "scsi_target"
    target = TextChild(String)
    fc_remote_port = Child(FCRemotePortCap, tag="capability:fc_remote_port")

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        for child in el:
            if child.tag != "capability":
                continue
            kind = child.get("type")
            if kind is None:
                raise InternalError("missing type for SCSI target capability")
            if kind != "fc_remote_port":
                raise InternalError(f"unknown SCSI target capability type '{kind}'")
            self.fc_remote_port = FCRemotePortCap.from_element(child, ctx)
        return {"capability"}

    def check(self, ctx: ParseContext) -> None:
        if not self.target:
            raise InternalError("no target name supplied")


class SCSICap(Capability):
    TYPE = "scsi"
    host = TextChild(ULONG)
    bus = TextChild(ULONG)
    target = TextChild(ULONG)
    lun = TextChild(ULONG)
    scsi_type = TextChild(String, tag="type")

    def check(self, ctx: ParseContext) -> None:
        for name, label in (("host", "host ID"), ("bus", "bus ID"), ("target", "target ID"), ("lun", "LUN ID")):
            if getattr(self, name) is None:
                raise InternalError(f"no SCSI {label} supplied")
        if self.scsi_type == "":
            self.scsi_type = None


class RemovableCap(Capability):
    TYPE = "removable"
    media_available = TextChild(String)
    media_size = TextChild(ULONG)
    media_label = TextChild(String)
    logical_block_size = TextChild(ULONG)
    num_blocks = TextChild(ULONG)

    def check(self, ctx: ParseContext) -> None:
        # media is available only when the element says exactly '1'
        self.media_available = "1" if self.media_available == "1" else "0"
        if self.media_size is None:
            raise InternalError("no removable media size supplied")
        if self.media_label == "":
            self.media_label = None
        # the host reports the block geometry; without it, assume 2048-byte blocks of the media
        if self.media_available == "1" and self.logical_block_size is None:
            self.logical_block_size = 2048
            self.num_blocks = self.media_size // 2048
        _drop_zero(self)


def _drop_zero(cap: Any) -> None:
    """Block geometry is printed only when known (non-zero)."""
    if not cap.logical_block_size:
        cap.logical_block_size = None
    if not cap.num_blocks:
        cap.num_blocks = None


class HotpluggableCap(Capability):
    TYPE = "hotpluggable"


class StorageCap(Capability):
    TYPE = "storage"
    block = TextChild(String)
    bus = TextChild(String)
    drive_type = TextChild(String)
    model = TextChild(String)
    vendor = TextChild(String)
    serial = TextChild(String)
    removable = Child(RemovableCap, tag="capability:removable")
    size = TextChild(ULONG)
    logical_block_size = TextChild(ULONG)
    num_blocks = TextChild(ULONG)
    hotpluggable = Child(HotpluggableCap, tag="capability:hotpluggable")

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        for child in el:
            if child.tag != "capability":
                continue
            kind = child.get("type")
            if kind is None:
                raise InternalError("missing storage capability type")
            if kind == "removable":
                self.removable = RemovableCap.from_element(child, ctx)
            elif kind == "hotpluggable":
                self.hotpluggable = HotpluggableCap()
            else:
                raise InternalError(f"unknown storage capability type '{kind}'")
        return {"capability"}

    def check(self, ctx: ParseContext) -> None:
        if not self.block:
            raise InternalError("no block device path supplied")
        for name in ("bus", "drive_type", "model", "vendor", "serial"):
            if getattr(self, name) == "":
                setattr(self, name, None)
        if self.removable is not None:
            self.size = self.logical_block_size = self.num_blocks = None
        elif self.size is None:
            raise InternalError("no size supplied")
        elif self.logical_block_size is None:
            # the host reports the block geometry; without it, assume 512-byte sectors
            self.logical_block_size = 512
            self.num_blocks = self.size // 512
        _drop_zero(self)


# -- system, drm, mdev, ccw/css, ap, vdpa


class SystemHardware(Model):
    TAG = "hardware"
    vendor = TextChild(String)
    version = TextChild(String)
    serial = TextChild(String)
    uuid = TextChild(UUID)


class SystemFirmware(Model):
    TAG = "firmware"
    vendor = TextChild(String)
    version = TextChild(String)
    release_date = TextChild(String)


class SystemCap(Capability):
    TYPE = "system"
    product = TextChild(String)
    hardware = Child(SystemHardware)
    firmware = Child(SystemFirmware)

    def check(self, ctx: ParseContext) -> None:
        if self.hardware is None or self.hardware.uuid is None:
            raise InternalError("no system UUID supplied")
        if self.firmware is None:
            self.firmware = SystemFirmware()
        for part in (self, self.hardware, self.firmware):
            for f in part._fields:
                if isinstance(f, TextChild) and getattr(part, f.name) == "":
                    setattr(part, f.name, None)

    def write(self, w: Writer, tag: str | None = None) -> None:
        # <hardware> and <firmware> are printed even when empty
        w.start("capability", [("type", self.TYPE)])
        mark = w.mark()
        if self.product is not None:
            w.leaf("product", [], self.product)
        for part in (self.hardware or SystemHardware(), self.firmware or SystemFirmware()):
            w.start(part.TAG, [])
            inner = w.mark()
            for f in part._fields:
                value = getattr(part, f.name)
                if value is not None:
                    w.leaf(f.tag, [], f.vtype.format(value))  # type: ignore[union-attr]
            if w.mark() == inner:
                w.parts[-1] += ">\n"
                w.depth -= 1
                w.parts.append(f"{'  ' * w.depth}</{part.TAG}>\n")
            else:
                w.end(part.TAG, None, inner)
        w.end("capability", None, mark)


class DRMCap(Capability):
    TYPE = "drm"
    drm_type = TextChild(String, tag="type")

    def check(self, ctx: ParseContext) -> None:
        if self.drm_type not in ("primary", "control", "render"):
            raise ConfigUnsupportedError(f"unknown drm type '{self.drm_type}'")


class MdevTypeRef(Model):
    TAG = "type"
    id = Attr(String)


class MdevAttr(Model):
    TAG = "attr"
    name = Attr(String)
    value = Attr(String)


class MdevIommuGroup(Model):
    TAG = "iommuGroup"
    number = Attr(UINT)


class MdevCap(Capability):
    TYPE = "mdev"
    mdev_type = Child(MdevTypeRef)
    uuid = TextChild(UUID)
    parent_addr = TextChild(String)
    iommu_group = Child(MdevIommuGroup)
    attributes = Children(MdevAttr)

    def check(self, ctx: ParseContext) -> None:
        if self.mdev_type is None or not self.mdev_type.id:
            raise ConfigUnsupportedError("missing type id attribute")
        self.parent_addr = None  # reported by the backend only
        if self.iommu_group is None or self.iommu_group.number is None:
            self.iommu_group = MdevIommuGroup(number=0)
        # an attribute without name or value is dropped, as libvirt drops it
        self.attributes = [a for a in self.attributes if a.name is not None and a.value is not None]


class CCWAddress(Model):
    """cssid/ssid/devno of a channel device."""

    cssid = TextChild(BaseInt(0, "0x{:x}"))
    ssid = TextChild(BaseInt(0, "0x{:x}"))
    devno = TextChild(BaseInt(16, "0x{:04x}"))

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        for name in ("cssid", "ssid", "devno"):
            child = el.find(name)
            text = "".join(str(t) for t in child.itertext()) if child is not None else ""
            if not text:
                raise ConfigUnsupportedError(f"missing {name} value")
            try:
                (BaseInt(16) if name == "devno" else BaseInt(0)).parse(text)
            except ValueError:
                raise ConfigUnsupportedError(f"invalid {name} value '{text}'") from None
        return set()


class ChannelDevAddr(CCWAddress):
    TAG = "channel_dev_addr"


class CCWCap(Capability):
    TYPE = "ccw"
    cssid = TextChild(BaseInt(0, "0x{:x}"))
    ssid = TextChild(BaseInt(0, "0x{:x}"))
    devno = TextChild(BaseInt(16, "0x{:04x}"))

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        CCWAddress.parse_extra(self, el, ctx)  # type: ignore[arg-type]
        return set()


class CSSCap(CCWCap):
    TYPE = "css"
    channel_dev_addr = Child(ChannelDevAddr)
    mdev_types = Child(MdevTypesCap, tag="capability:mdev_types")

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        super().parse_extra(el, ctx)
        _read_mdev_types(self, el, ctx)
        return {"capability"}


def _read_mdev_types(cap: Any, el: etree._Element, ctx: ParseContext) -> None:
    for child in el:
        if child.tag != "capability":
            continue
        kind = child.get("type")
        if kind is None:
            raise XMLError(f"Missing capability type{where(child)}")
        if kind == "mdev_types":
            cap.mdev_types = MdevTypesCap.from_element(child, ctx)


class APCardCap(Capability):
    TYPE = "ap_card"
    ap_adapter = TextChild(BaseInt(0, "0x{:02x}"), tag="ap-adapter")

    def check(self, ctx: ParseContext) -> None:
        if self.ap_adapter is None:
            raise ConfigUnsupportedError("missing ap-adapter value")


class APQueueCap(Capability):
    TYPE = "ap_queue"
    ap_adapter = TextChild(BaseInt(0, "0x{:02x}"), tag="ap-adapter")
    ap_domain = TextChild(BaseInt(0, "0x{:04x}"), tag="ap-domain")

    def check(self, ctx: ParseContext) -> None:
        if self.ap_adapter is None:
            raise ConfigUnsupportedError("missing ap-adapter value")
        if self.ap_domain is None:
            raise ConfigUnsupportedError("missing ap-domain value")
        if self.ap_domain > 255:
            raise ConfigUnsupportedError(f"ap-domain value '{self.ap_domain}' is out of range")


class APMatrixCap(Capability):
    TYPE = "ap_matrix"
    mdev_types = Child(MdevTypesCap, tag="capability:mdev_types")

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        _read_mdev_types(self, el, ctx)
        return {"capability"}

    def write(self, w: Writer, tag: str | None = None) -> None:
        # libvirt always prints an open and a close tag here
        w.start("capability", [("type", self.TYPE)])
        mark = w.mark()
        if self.mdev_types is not None:
            self.mdev_types.write(w)
        if w.mark() == mark:
            w.parts[-1] += ">\n"
            w.depth -= 1
            w.parts.append(f"{'  ' * w.depth}</capability>\n")
        else:
            w.end("capability", None, mark)


class VDPACap(Capability):
    """vdpa: reported by the host only; libvirt does not accept it in a definition."""

    TYPE = "vdpa"
    chardev = TextChild(String)


DEVICE_CAPS = _registry(SystemCap, PCICap, USBDeviceCap, USBInterfaceCap, NetCap, SCSIHostCap, SCSITargetCap,
                        SCSICap, StorageCap, DRMCap, MdevCap, CCWCap, CSSCap, APCardCap, APQueueCap,
                        APMatrixCap)
#: Types libvirt knows but never reads from XML (they are nested or reported-only).
_REPORT_ONLY = ("fc_host", "vports", "scsi_generic", "mdev_types", "vdpa", "vpd")


class DeviceCapability(Capability):
    """Dispatcher for a top-level <capability> of a <device>."""

    REGISTRY = DEVICE_CAPS

    @classmethod
    def unknown(cls, kind: str | None, el: etree._Element) -> Any:
        if kind in _REPORT_ONLY:
            raise InternalError(f"unknown capability type '{kind}'")
        if kind is None:
            raise XMLError(f"Missing required attribute 'type' in element 'capability'{where(el)}")
        raise XMLError(f"Invalid value for attribute 'type' in element 'capability': '{kind}'{where(el)}")


# ----------------------------------------------------------------------------- device


class Devnode(Model):
    TAG = "devnode"
    type = Attr(Enum("dev", "link", name="devnode type"))
    path = Text(String)


class Parent(Model):
    TAG = "parent"
    wwnn = Attr(String)
    wwpn = Attr(String)
    fabric_wwn = Attr(String)
    name = Text(String)


class NodeDevice(Model):
    """A host device: ``dev.name``, ``dev.parent``, ``dev.capabilities`` (typed, by ``cap.TYPE``)."""

    TAG = "device"
    name = TextChild(String)
    path = TextChild(String)
    devnodes = Children(Devnode)
    parent = Child(Parent)
    capabilities = Children(DeviceCapability, tag="capability")

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        # the name is checked before any capability is read, as libvirt does
        if not el.findtext("name"):
            raise VirtError("missing name information", code=29)  # VIR_ERR_NO_NAME
        # <driver><name>..</name></driver> is reported by the host and not read back
        return {"driver"}

    def post_parse(self, ctx: ParseContext) -> None:
        if not self.name:
            raise VirtError("missing name information", code=29)  # VIR_ERR_NO_NAME
        if self.path == "":
            self.path = None
        dev = None
        links = []
        for node in self.devnodes:
            if node.type is None:
                raise XMLError("Missing required attribute 'type' in element 'devnode'")
            if node.type == "dev":
                dev = node
            else:
                links.append(node)
        self.devnodes = ([dev] if dev is not None else []) + links
        if self.parent is not None:
            p = self.parent
            if p.wwnn and not p.wwpn:
                raise XMLError(f"when providing parent wwnn='{p.wwnn}', the wwpn must also be provided")
            if p.wwpn and not p.wwnn:
                raise XMLError(f"when providing parent wwpn='{p.wwpn}', the wwnn must also be provided")
            if not p.name:
                self.parent = None
        if not self.capabilities:
            raise InternalError(f"no device capabilities for '{self.name}'")

    def write(self, w: Writer, tag: str | None = None) -> None:
        parent = self.parent
        if parent is not None:
            # only the parent's name is printed back
            self.parent = Parent(name=parent.name)
        try:
            super().write(w, tag)
        finally:
            self.parent = parent

    @property
    def parent_name(self) -> str | None:
        return self.parent.name if self.parent is not None else None

    def capability(self, kind: str) -> Capability | None:
        """The first capability of a type ('pci', 'net', ...), or None."""
        return next((c for c in self.capabilities if kind == c.TYPE), None)
