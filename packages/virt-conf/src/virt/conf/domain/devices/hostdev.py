"""``<hostdev>``: host devices passed through (pci, usb, scsi, scsi_host, mdev; capabilities mode)."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from lxml import etree
from virt.conf.domain.address import PCIAddress
from virt.conf.domain.devices.base import Device
from virt.conf.domain.devices.storage import Auth, Host, Initiator
from virt.conf.domain.types import HexOut, UInt10, ULong10, YesNo
from virt.conf.xmlmodel import (
    UUID,
    Attr,
    Child,
    Children,
    Enum,
    Flag,
    Model,
    ParseContext,
    String,
    TextChild,
    Writer,
)
from virt.util.errors import XMLError

HOSTDEV_SUBSYS_TYPES = ("usb", "pci", "scsi", "scsi_host", "mdev")
HOSTDEV_CAPS_TYPES = ("storage", "misc", "net")


class HostPCIAddress(PCIAddress):
    """A host PCI address inside ``<source>``: printed without ``type`` unless the parent asks for it."""

    KIND = ""
    with_type: bool = False

    def write(self, w: Writer, tag: str | None = None) -> None:
        attrs = [("type", "pci")] if self.with_type else []
        attrs += [("domain", f"0x{self.domain or 0:04x}"), ("bus", f"0x{self.bus or 0:02x}"),
                  ("slot", f"0x{self.slot or 0:02x}"), ("function", f"0x{self.function or 0:x}")]
        w.leaf("address", attrs, None)


class USBId(Model):
    id = Attr(HexOut(4, max=0xFFFF))


class USBVendor(USBId):
    TAG = "vendor"


class USBProduct(USBId):
    TAG = "product"


class HostUSBAddress(Model):
    TAG = "address"
    bus = Attr(UInt10)
    device = Attr(UInt10)

    def validate(self, ctx: ParseContext) -> None:
        if self.bus is None:
            raise XMLError("usb address needs bus id")
        if self.device is None:
            raise XMLError("usb address needs device id")


class SCSIAdapter(Model):
    TAG = "adapter"
    name = Attr(String)


class HostSCSIAddress(Model):
    TAG = "address"
    bus = Attr(UInt10)
    target = Attr(UInt10)
    unit = Attr(ULong10)

    def validate(self, ctx: ParseContext) -> None:
        if self.bus is None or self.target is None or self.unit is None:
            raise XMLError("'bus', 'target', and 'unit' must be specified for scsi hostdev source address")


class MdevAddress(Model):
    TAG = "address"
    uuid = Attr(UUID)


class HostdevSource(Model):
    """``<source>`` of a hostdev; parsing it picks the subclass from the parent's ``type``."""

    TAG = "source"
    SUBSYS: ClassVar[str] = ""
    by_type: ClassVar[dict[str, type[HostdevSource]]] = {}

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.SUBSYS:
            HostdevSource.by_type[cls.SUBSYS] = cls

    @classmethod
    def from_element(cls, el: etree._Element, ctx: ParseContext | None = None) -> Any:  # type: ignore[override]
        if cls is HostdevSource:
            parent = el.getparent()
            kind = parent.get("type") if parent is not None else None
            if parent is not None and parent.tag == "interface":
                kind = "pci"
            elif parent is not None and parent.get("mode") == "capabilities":
                kind = "caps-" + (kind or "")
            sub = HostdevSource.by_type.get(kind or "")
            if sub is None:
                return HostdevSource._plain(el, ctx)
            return sub.from_element(el, ctx)
        return super().from_element.__func__(cls, el, ctx)  # type: ignore[attr-defined]

    @staticmethod
    def _plain(el: etree._Element, ctx: ParseContext | None) -> HostdevSource:
        return super(HostdevSource, HostdevSource).from_element.__func__(HostdevSource, el, ctx)  # type: ignore


class PCISource(HostdevSource):
    SUBSYS = "pci"
    writeFiltering = Attr(YesNo)
    address = Child(HostPCIAddress)

    def validate(self, ctx: ParseContext) -> None:
        if self.address is None:
            raise XMLError("PCI host devices must use 'pci' or 'mdev' address type")


class USBSource(HostdevSource):
    SUBSYS = "usb"
    startupPolicy = Attr(Enum("mandatory", "requisite", "optional", name="startupPolicy"))
    guestReset = Attr(Enum("off", "uninitialized", "on", name="guestReset"))
    vendor = Child(USBVendor)
    product = Child(USBProduct)
    address = Child(HostUSBAddress)

    def validate(self, ctx: ParseContext) -> None:
        if self.vendor is not None and self.vendor.id is None:
            raise XMLError("usb vendor needs id")
        if self.product is not None and self.product.id is None:
            raise XMLError("usb product needs id")
        if (self.vendor is None) != (self.product is None):
            raise XMLError("missing vendor" if self.vendor is None else "missing product")
        if self.vendor is None and self.address is None:
            raise XMLError("Missing vendor/product or address for USB host device")


class SCSISource(HostdevSource):
    SUBSYS = "scsi"
    protocol = Attr(Enum("adapter", "iscsi", name="SCSI host device protocol"))
    name = Attr(String)
    adapter = Child(SCSIAdapter)
    address = Child(HostSCSIAddress)
    hosts = Children(Host)
    auth = Child(Auth)
    initiator = Child(Initiator)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.protocol == "adapter":
            self.protocol = None
        if self.protocol == "iscsi":
            if not self.name:
                raise XMLError("missing iSCSI hostdev source path name")
            if "/" not in self.name:
                self.name += "/0"
            for h in self.hosts:
                if h.port is None and h.transport is None:
                    h.port = 3260
        else:
            if self.adapter is None or not self.adapter.name:
                raise XMLError("'adapter' name must be specified for scsi hostdev source")
            if self.address is None:
                raise XMLError("'address' must be specified for scsi hostdev source")


class SCSIHostSource(HostdevSource):
    SUBSYS = "scsi_host"
    protocol = Attr(Enum("vhost", name="scsi_host protocol"))
    wwpn = Attr(String)

    def validate(self, ctx: ParseContext) -> None:
        if self.protocol is None:
            raise XMLError("Missing scsi_host subsystem protocol")
        if not self.wwpn:
            raise XMLError("missing vhost-scsi hostdev source wwpn")
        if not re.fullmatch(r"naa\.(0x)?[0-9a-fA-F]{16}", self.wwpn):
            raise XMLError("malformed 'wwpn' value")


class MdevSource(HostdevSource):
    SUBSYS = "mdev"
    address = Child(MdevAddress)

    def validate(self, ctx: ParseContext) -> None:
        if self.address is None or self.address.uuid is None:
            raise XMLError("Missing 'uuid' attribute for element <address>")


class CapsStorageSource(HostdevSource):
    SUBSYS = "caps-storage"
    block = TextChild(String)


class CapsMiscSource(HostdevSource):
    SUBSYS = "caps-misc"
    char = TextChild(String)


class CapsNetSource(HostdevSource):
    SUBSYS = "caps-net"
    interface = TextChild(String)


class HostdevDriver(Model):
    TAG = "driver"
    name = Attr(Enum("kvm", "vfio", "xen", name="hostdev driver name"))


class IPAddr(Model):
    TAG = "ip"
    address = Attr(String)
    family = Attr(Enum("ipv4", "ipv6", name="family"))
    prefix = Attr(UInt10)
    peer = Attr(String)

    def validate(self, ctx: ParseContext) -> None:
        if not self.address:
            raise XMLError("Missing required address in <ip>")


class Route(Model):
    TAG = "route"
    family = Attr(Enum("ipv4", "ipv6", name="family"))
    address = Attr(String)
    netmask = Attr(String)
    prefix = Attr(UInt10)
    gateway = Attr(String)
    metric = Attr(UInt10)


class Hostdev(Device):
    TAG = "hostdev"
    KIND = "hostdevs"
    ALLOW_BOOT = True
    ALLOW_ROM = True
    mode = Attr(Enum("subsystem", "capabilities", name="hostdev mode"))
    type = Attr(String)
    managed = Attr(YesNo)
    sgio = Attr(Enum("filtered", "unfiltered", name="sgio"))
    rawio = Attr(YesNo)
    model = Attr(Enum("vfio-pci", "vfio-ccw", "vfio-ap", name="mdev model"))
    display = Attr(Enum("on", "off", name="display"))
    ramfb = Attr(Enum("on", "off", name="ramfb"))
    driver = Child(HostdevDriver)
    source = Child(HostdevSource)
    ips = Children(IPAddr)
    routes = Children(Route)
    readonly = Flag()
    shareable = Flag()
    teaming = Child(lambda: _teaming())

    def post_parse(self, ctx: ParseContext) -> None:
        if self.mode is None:
            self.mode = "subsystem"
        if self.mode == "subsystem":
            if self.type not in HOSTDEV_SUBSYS_TYPES:
                raise XMLError(f"unknown host device source address type '{self.type}'" if self.type else
                               "missing type in hostdev")
            if self.managed is None:
                self.managed = False
            if self.type != "pci":
                self.driver = None
            if self.type != "scsi":
                self.sgio = self.rawio = None
            if self.type != "mdev":
                self.model = self.display = self.ramfb = None
            elif self.model is None:
                raise XMLError("Missing 'model' attribute in mediated device's <hostdev> element")
        else:
            if self.type not in HOSTDEV_CAPS_TYPES:
                raise XMLError(f"unknown host device capability type '{self.type}'")
            self.managed = None
        if self.source is None:
            raise XMLError("Missing <source> element in hostdev device")

    @property
    def pci_address(self) -> PCIAddress | None:
        src = self.source
        return getattr(src, "address", None) if isinstance(src, PCISource) else None


def _teaming() -> type[Model]:
    from virt.conf.domain.devices.net import Teaming
    return Teaming
