"""Network port XML (<networkport>): one domain interface's connection to a virtual network."""

from __future__ import annotations

from virt.conf.network import Bandwidth, PCIAddress, PortOptions, VirtualPort, Vlan
from virt.conf.xmlmodel import (
    MAC,
    UUID,
    Attr,
    Child,
    Model,
    ParseContext,
    String,
    TextChild,
    Writer,
    YesNo,
)
from virt.util.errors import InternalError, XMLError

PLUG_TYPES = ("network", "bridge", "direct", "hostdev-pci")
MACVLAN_MODES = ("vepa", "private", "bridge", "passthrough")


class PortOwner(Model):
    TAG = "owner"
    name = TextChild(String)
    uuid = TextChild(String)


class PortMAC(Model):
    TAG = "mac"
    address = Attr(String)


class PortBandwidth(Bandwidth):
    """A port's bandwidth may carry the inbound floor and the classID the network gave it."""

    ALLOW_FLOOR = True


class RxFilters(Model):
    TAG = "rxfilters"
    trustGuest = Attr(YesNo)


class PlugDriver(Model):
    TAG = "driver"
    name = Attr(String)


class PlugAddress(PCIAddress):
    """The VF's PCI address, printed without type= in a port."""

    def write(self, w: Writer, tag: str | None = None) -> None:
        w.leaf(tag or self.TAG, [(n, f"0x{v:0{width}x}") for n, v, width in (
            ("domain", self.domain, 4), ("bus", self.bus, 2), ("slot", self.slot, 2),
            ("function", self.function, 1))], None)


class Plug(Model):
    """<plug type=...>: how the port was attached on the host (bridge, macvtap device or VF)."""

    TAG = "plug"
    type = Attr(String)
    bridge = Attr(String)
    macTableManager = Attr(String)
    dev = Attr(String)
    mode = Attr(String)
    managed = Attr(YesNo)
    driver = Child(PlugDriver)
    address = Child(PlugAddress)

    def post_parse(self, ctx: ParseContext) -> None:
        t = self.type
        if t is not None and t != "none" and t not in PLUG_TYPES:
            raise XMLError(f"Invalid value for attribute 'type' in element 'plug': '{t}'.")
        keep: set[str] = {"type"}
        if t in ("network", "bridge"):
            if self.bridge is None:
                raise XMLError("Missing network port bridge name")
            if self.macTableManager is not None and self.macTableManager not in ("kernel", "libvirt"):
                raise XMLError(f"Invalid macTableManager setting '{self.macTableManager}' in network port")
            keep |= {"bridge", "macTableManager"}
        elif t == "direct":
            if self.dev is None:
                raise XMLError("Missing network port link device name")
            if self.mode is None:
                self.mode = "vepa"
            elif self.mode not in MACVLAN_MODES:
                raise XMLError(f"Invalid mode setting '{self.mode}' in network port")
            keep |= {"dev", "mode"}
        elif t == "hostdev-pci":
            if self.driver is not None and self.driver.name is not None:
                if self.driver.name not in ("kvm", "vfio"):
                    raise XMLError("Missing network port driver name")
            else:
                self.driver = None
            if self.address is None:
                raise XMLError("Missing network port PCI address")
            keep |= {"managed", "driver", "address"}
        for f in self._fields:
            if f.name not in keep:
                setattr(self, f.name, f.empty())

    def write(self, w: Writer, tag: str | None = None) -> None:
        if self.type not in (None, "none"):
            super().write(w, tag)


class NetworkPort(Model):
    """A network port: the owner domain, its MAC and the QoS/vlan/virtualport the network applied."""

    TAG = "networkport"
    uuid = TextChild(String)
    owner = Child(PortOwner)
    group = TextChild(String)
    mac = Child(PortMAC)
    virtualport = Child(VirtualPort)
    bandwidth = Child(PortBandwidth)
    vlan = Child(Vlan)
    port = Child(PortOptions)
    rxfilters = Child(RxFilters)
    plug = Child(Plug)

    def post_parse(self, ctx: ParseContext) -> None:
        if not self.uuid:
            raise InternalError("network port has no uuid")
        self.uuid = _uuid(self.uuid)
        if self.owner is None or not self.owner.name:
            raise InternalError("network port has no owner name")
        if not self.owner.uuid:
            raise InternalError("network port has no owner UUID")
        self.owner.uuid = _uuid(self.owner.uuid)
        if self.group == "":
            self.group = None
        if self.mac is None or not self.mac.address:
            raise InternalError("network port has no mac")
        try:
            self.mac.address = MAC.parse(self.mac.address)
        except ValueError:
            raise InternalError(f"Unable to parse MAC '{self.mac.address}'") from None
        if self.port is not None and self.port.isolated is None:
            self.port = None
        if self.rxfilters is not None and self.rxfilters.trustGuest is None:
            self.rxfilters = None

    # -- typed views -----------------------------------------------------------------------
    @property
    def plug_type(self) -> str:
        return self.plug.type if self.plug is not None and self.plug.type else "none"

    @property
    def mac_address(self) -> str:
        assert self.mac is not None and self.mac.address is not None
        return self.mac.address


def _uuid(text: str) -> str:
    try:
        return UUID.parse(text)
    except ValueError:
        raise InternalError(f"Unable to parse UUID '{text}'") from None
