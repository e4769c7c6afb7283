"""``<interface>``: every network interface type with source, target, model, driver, bandwidth, vlan, ..."""

from __future__ import annotations

import functools
import random
import re

from virt.conf.domain.devices.base import Device
from virt.conf.domain.devices.hostdev import (
    HostdevDriver,
    HostPCIAddress,
    IPAddr,
    Route,
)
from virt.conf.domain.devices.storage import Reconnect
from virt.conf.domain.types import DecInt, OnOff, UInt10, ULong10, YesNo
from virt.conf.xmlmodel import (
    UUID,
    Attr,
    Child,
    Children,
    Enum,
    FieldDropper,
    MACType,
    Model,
    ParseContext,
    String,
    TextChild,
    Writer,
)
from virt.util.errors import XMLError

NET_TYPES = ("user", "ethernet", "vhostuser", "server", "client", "mcast", "network", "bridge", "internal",
             "direct", "hostdev", "udp", "vdpa", "null", "vds")
VIRTIO_MODELS = ("virtio", "virtio-transitional", "virtio-non-transitional")
#: What a NIC model name may contain.
_MODEL_NAME = re.compile(r"[A-Za-z0-9_-]*")


@functools.lru_cache(maxsize=256)
def _valid_model_name(name: str) -> bool:
    """Whether a NIC model name has only the characters libvirt allows (a handful of names recur)."""
    return _MODEL_NAME.fullmatch(name) is not None


class MAC(MACType):
    def parse(self, text: str) -> str:
        value = super().parse(text)
        return value


class InterfaceMAC(Model):
    TAG = "mac"
    address = Attr(MAC())
    type = Attr(Enum("generated", "static", name="mac address type"))
    check = Attr(YesNo)

    def validate(self, ctx: ParseContext) -> None:
        if self.address is not None and int(self.address[:2], 16) & 1:
            raise XMLError(f"expected unicast mac address, found multicast '{self.address}'")


class NetLocal(Model):
    TAG = "local"
    address = Attr(String)
    port = Attr(DecInt(0, 65535))


class NetSource(Model):
    """``<source>`` of an interface; which attributes count depends on the interface type."""

    TAG = "source"
    network = Attr(String)
    portgroup = Attr(String)
    portid = Attr(UUID)
    bridge = Attr(String)
    dev = Attr(String)
    type = Attr(String)
    path = Attr(String)
    mode = Attr(String)
    address = Attr(String)
    port = Attr(DecInt(0, 65535))
    name = Attr(String)
    switchid = Attr(UUID)
    connectionid = Attr(DecInt(0, 2**31 - 1))
    local = Child(NetLocal)
    reconnect = Child(Reconnect)
    pci_address = Child(HostPCIAddress, tag="address")
    ips = Children(IPAddr)
    routes = Children(Route)

    def finish(self, ntype: str) -> None:
        _NET_SOURCE_DROPPERS.get(ntype, _DROP_ALL_NET_SOURCE).drop(self.__dict__)
        if self.pci_address is not None:
            self.pci_address.with_type = True

    def is_empty(self) -> bool:
        return self.no_values()

    def write(self, w: Writer, tag: str | None = None) -> None:
        # the bridge of a network interface is runtime state, shown in live XML only
        if self.network is not None and self.bridge is not None and getattr(w, "inactive", False):
            bridge, self.bridge = self.bridge, None
            try:
                super().write(w, tag)
            finally:
                self.bridge = bridge
        else:
            super().write(w, tag)


_NET_SOURCE = {
    "network": ("network", "portgroup", "portid", "bridge"),
    "bridge": ("bridge",),
    "direct": ("dev", "mode"),
    "vhostuser": ("type", "path", "mode", "reconnect"),
    "server": ("address", "port"), "client": ("address", "port"), "mcast": ("address", "port"),
    "udp": ("address", "port", "local"),
    "internal": ("name",),
    "vdpa": ("dev",),
    "user": ("dev",),
    "hostdev": ("pci_address",),
    "ethernet": ("ips", "routes"),
    "vds": ("switchid", "portid", "connectionid"),
}
_ALL_NET_SOURCE = sorted({n for v in _NET_SOURCE.values() for n in v})
#: Interface type -> what unsets the source fields it does not keep (NetSource.finish).
_NET_SOURCE_DROPPERS = {t: FieldDropper((n for n in _ALL_NET_SOURCE if n not in keep), lists=("ips", "routes"))
                        for t, keep in _NET_SOURCE.items()}
_DROP_ALL_NET_SOURCE = FieldDropper(_ALL_NET_SOURCE, lists=("ips", "routes"))


class VlanTag(Model):
    TAG = "tag"
    id = Attr(DecInt(0, 4095))
    nativeMode = Attr(Enum("tagged", "untagged", name="nativeMode"))


class Vlan(Model):
    TAG = "vlan"
    trunk = Attr(YesNo)
    tags = Children(VlanTag)

    def validate(self, ctx: ParseContext) -> None:
        if not self.tags:
            raise XMLError("missing tag id - each <vlan> must have at least one <tag id='N'/> subelement")
        for t in self.tags:
            if t.id is None:
                raise XMLError("missing or invalid vlan tag id attribute")
        if self.trunk is False and len(self.tags) > 1:
            raise XMLError("invalid \"trunk='no'\" in <vlan> - trunk='yes' is required for more than one vlan tag")
        if len(self.tags) > 1 and self.trunk is None:
            self.trunk = True
        natives = [t for t in self.tags if t.nativeMode]
        if len(natives) > 1:
            raise XMLError("duplicate native vlan setting")


class VPortParameters(Model):
    TAG = "parameters"
    managerid = Attr(DecInt(0, 255))
    typeid = Attr(DecInt(0, 2**24 - 1))
    typeidversion = Attr(DecInt(0, 255))
    instanceid = Attr(UUID)
    interfaceid = Attr(UUID)
    profileid = Attr(String)


class VirtualPort(Model):
    TAG = "virtualport"
    type = Attr(Enum("802.1Qbg", "802.1Qbh", "openvswitch", "midonet", name="virtualport type"))
    parameters = Child(VPortParameters)


class BandwidthRate(Model):
    average = Attr(ULong10)
    peak = Attr(ULong10)
    floor = Attr(ULong10)
    burst = Attr(ULong10)

    def validate(self, ctx: ParseContext) -> None:
        if self.average is None and self.floor is None:
            raise XMLError("Missing mandatory average or floor attributes")
        if (self.peak is not None or self.burst is not None) and self.average is None:
            raise XMLError("'peak' and 'burst' require 'average' attribute")


class Inbound(BandwidthRate):
    TAG = "inbound"


class Outbound(BandwidthRate):
    TAG = "outbound"

    def validate(self, ctx: ParseContext) -> None:
        super().validate(ctx)
        if self.floor is not None:
            raise XMLError("'floor' attribute allowed only in <inbound> element")


class Bandwidth(Model):
    TAG = "bandwidth"
    inbound = Child(Inbound)
    outbound = Child(Outbound)

    def write(self, w: Writer, tag: str | None = None) -> None:
        if self.inbound is not None or self.outbound is not None:
            super().write(w, tag)


class PortIsolated(Model):
    TAG = "port"
    isolated = Attr(YesNo)


_GENERATED = ("vnet", "macvtap", "macvlan")


class NetTarget(Model):
    TAG = "target"
    dev = Attr(String)
    managed = Attr(YesNo)

    def post_parse(self, ctx: ParseContext) -> None:
        # names libvirt generated for a running guest are not part of its definition
        if ctx.inactive and self.managed is not False and self.dev and self.dev.startswith(_GENERATED):
            self.dev = None

    def write(self, w: Writer, tag: str | None = None) -> None:
        attrs = []
        if self.dev is not None and not (getattr(w, "inactive", False) and self.managed is not False and
                                         self.dev.startswith(_GENERATED)):
            attrs.append(("dev", self.dev))
        if self.managed is not None:
            attrs.append(("managed", "yes" if self.managed else "no"))
        if attrs:
            w.leaf("target", attrs, None)


class NetGuest(Model):
    TAG = "guest"
    dev = Attr(String)
    actual = Attr(String)


class NetModel(Model):
    TAG = "model"
    type = Attr(String)


class DriverHost(Model):
    TAG = "host"
    csum = Attr(OnOff)
    gso = Attr(OnOff)
    tso4 = Attr(OnOff)
    tso6 = Attr(OnOff)
    ecn = Attr(OnOff)
    ufo = Attr(OnOff)
    mrg_rxbuf = Attr(OnOff)


class DriverGuest(Model):
    TAG = "guest"
    csum = Attr(OnOff)
    tso4 = Attr(OnOff)
    tso6 = Attr(OnOff)
    ecn = Attr(OnOff)
    ufo = Attr(OnOff)


class NetDriver(Model):
    TAG = "driver"
    name = Attr(String)
    txmode = Attr(Enum("iothread", "timer", name="txmode"))
    ioeventfd = Attr(OnOff)
    event_idx = Attr(OnOff)
    queues = Attr(UInt10)
    rx_queue_size = Attr(UInt10)
    tx_queue_size = Attr(UInt10)
    rss = Attr(OnOff)
    rss_hash_report = Attr(OnOff)
    iommu = Attr(OnOff)
    ats = Attr(OnOff)
    packed = Attr(OnOff)
    page_per_vq = Attr(OnOff)
    host = Child(DriverHost)
    guest = Child(DriverGuest)


class NetBackend(Model):
    TAG = "backend"
    type = Attr(Enum("default", "passt", name="backend type"))
    tap = Attr(String)
    vhost = Attr(String)
    logFile = Attr(String)


class FilterParam(Model):
    TAG = "parameter"
    name = Attr(String)
    value = Attr(String)


class FilterRef(Model):
    TAG = "filterref"
    filter = Attr(String)
    parameters = Children(FilterParam)


class Tune(Model):
    TAG = "tune"
    sndbuf = TextChild(ULong10)


class Teaming(Model):
    TAG = "teaming"
    type = Attr(Enum("persistent", "transient", name="teaming type"))
    persistent = Attr(String)

    def validate(self, ctx: ParseContext) -> None:
        if self.type is None:
            raise XMLError("missing teaming type (persistent/transient)" if self.persistent is None else
                           "missing teaming type")
        if self.type == "transient" and not self.persistent:
            raise XMLError("teaming persistent attribute must be set if teaming type is 'transient'")
        if self.type == "persistent" and self.persistent:
            raise XMLError("teaming persistent attribute not allowed if teaming type is 'persistent'")


class Link(Model):
    TAG = "link"
    state = Attr(Enum("up", "down", name="link state"))


class MTU(Model):
    TAG = "mtu"
    size = Attr(UInt10)

    def validate(self, ctx: ParseContext) -> None:
        if not self.size:
            raise XMLError("malformed mtu size '0'")


class CoalesceFrames(Model):
    TAG = "frames"
    max = Attr(UInt10)


class CoalesceRx(Model):
    TAG = "rx"
    frames = Child(CoalesceFrames)


class Coalesce(Model):
    TAG = "coalesce"
    rx = Child(CoalesceRx)


class PortForwardRange(Model):
    TAG = "range"
    start = Attr(DecInt(0, 65535))
    end = Attr(DecInt(0, 65535))
    to = Attr(DecInt(0, 65535))
    exclude = Attr(YesNo)


class PortForward(Model):
    TAG = "portForward"
    proto = Attr(Enum("tcp", "udp", name="portForward proto"))
    address = Attr(String)
    dev = Attr(String)
    ranges = Children(PortForwardRange)


class Interface(Device):
    """An ``<interface>``; ``source`` holds the attributes of its type only."""

    TAG = "interface"
    KIND = "interfaces"
    ALLOW_BOOT = True
    ALLOW_ROM = True
    type = Attr(Enum(*NET_TYPES, name="network interface type"))
    managed = Attr(YesNo)
    trustGuestRxFilters = Attr(YesNo)
    mac = Child(InterfaceMAC)
    hostdev_driver = Child(HostdevDriver, tag="driver")  # placeholder, see parse_extra
    source = Child(NetSource)
    vlan = Child(Vlan)
    virtualport = Child(VirtualPort)
    bandwidth = Child(Bandwidth)
    port = Child(PortIsolated)
    ips = Children(IPAddr)
    routes = Children(Route)
    script = Child(lambda: _Path("script"))
    downscript = Child(lambda: _Path("downscript"))
    backenddomain = Child(lambda: _BackendDomain)
    target = Child(NetTarget)
    guest = Child(NetGuest)
    model = Child(NetModel)
    driver = Child(NetDriver)
    backend = Child(NetBackend)
    filterref = Child(FilterRef)
    tune = Child(Tune)
    teaming = Child(Teaming)
    link = Child(Link)
    mtu = Child(MTU)
    coalesce = Child(Coalesce)
    portForwards = Children(PortForward)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.type is None:
            self.type = "user"
        if self.mac is None:
            self.mac = InterfaceMAC(address=generate_mac())
            self._mac_generated = True
        elif self.mac.address is None:
            self.mac.address = generate_mac()
        if self.source is not None:
            self.source.finish(self.type)
            if self.type == "network" and ctx.inactive:
                self.source.bridge = None
            if self.source.is_empty() and self.type not in ("vhostuser",):
                self.source = None
        coalesce = self.coalesce
        if coalesce is not None and not (coalesce.rx and coalesce.rx.frames and coalesce.rx.frames.max):
            self.coalesce = None  # libvirt keeps only a non-zero rx frames maximum
        if self.type != "hostdev":
            self.managed = None
            self.hostdev_driver = None
        elif self.managed is None:
            self.managed = None
        t = self.type
        src = self.source
        if t == "network" and (src is None or not src.network):
            raise XMLError("No <source> 'network' attribute specified with <interface type='network'/>")
        if t == "bridge" and (src is None or not src.bridge):
            raise XMLError("No <source> 'bridge' attribute specified with <interface type='bridge'/>")
        if t == "direct":
            if src is None or not src.dev:
                raise XMLError("No <source> 'dev' attribute specified with <interface type='direct'/>")
            if src.mode is None:
                src.mode = "vepa"
            elif src.mode not in ("vepa", "private", "bridge", "passthrough"):
                raise XMLError(f"Unknown mode '{src.mode}' in interface <source> element")
        if t == "vhostuser":
            if src is None or src.type is None:
                raise XMLError("Missing source type attribute for vhostuser interface")
            if src.type != "unix":
                raise XMLError(f"Type='{src.type}' unsupported for <interface type='vhostuser'>")
            if not src.path:
                raise XMLError("Missing source path attribute for vhostuser interface")
            if src.mode is None:
                raise XMLError("Missing source mode attribute for vhostuser interface")
            if src.mode not in ("server", "client"):
                raise XMLError(f"Invalid mode attribute value '{src.mode}' for vhostuser interface")
        if t in ("server", "client", "mcast", "udp"):
            if src is None or src.port is None:
                raise XMLError("No <source> 'port' attribute specified with socket interface")
            if src.address is None and t != "server":
                raise XMLError("No <source> 'address' attribute specified with socket interface")
            if t == "udp":
                if src.local is None or src.local.address is None:
                    raise XMLError("No <local> 'address' attribute specified with socket interface")
                if src.local.port is None:
                    raise XMLError("No <local> 'port' attribute specified with socket interface")
        if t == "internal" and (src is None or not src.name):
            raise XMLError("No <source> 'name' attribute specified with <interface type='internal'/>")
        if t == "hostdev" and (src is None or src.pci_address is None):
            raise XMLError("No <source> address specified with <interface type='hostdev'/>")
        if t == "vdpa" and (src is None or not src.dev):
            raise XMLError("No <source> 'dev' attribute specified with <interface type='vdpa'/>")
        if self.model is not None:
            mt = self.model.type
            if not mt:
                self.model = None
            elif not _valid_model_name(mt):
                raise XMLError("Model name contains invalid characters")
        if self.tune is not None and self.tune.sndbuf is None:
            self.tune = None
        if self.backend is not None and self.backend.type == "default":
            self.backend.type = None
        if self.type == "hostdev" and self.driver is not None and self.driver.name in ("vfio", "kvm", "xen"):
            # a hostdev interface's <driver name> belongs to the host device, printed before <source>
            self.hostdev_driver = HostdevDriver(name=self.driver.name)
            self.driver.name = None
            if all(getattr(self.driver, f.name) in (None,) for f in self.driver._fields):
                self.driver = None

    def validate(self, ctx: ParseContext) -> None:
        if self.teaming is not None and self.teaming.type == "transient" and self.type != "hostdev":
            raise XMLError("interface type='hostdev' is required for teaming type='transient'")

    # -- helpers -------------------------------------------------------------------------------
    @property
    def mac_address(self) -> str | None:
        return self.mac.address if self.mac is not None else None

    @property
    def model_type(self) -> str | None:
        return self.model.type if self.model is not None else None

    def is_virtio(self) -> bool:
        return self.model_type in VIRTIO_MODELS

    @property
    def ifname(self) -> str | None:
        return self.target.dev if self.target is not None else None


class _PathEl(Model):
    path = Attr(String)


_path_classes: dict[str, type[_PathEl]] = {}


def _Path(tag: str) -> type[_PathEl]:
    cls = _path_classes.get(tag)
    if cls is None:
        cls = type(f"Path_{tag}", (_PathEl,), {"TAG": tag})
        _path_classes[tag] = cls
    return cls


class _BackendDomain(Model):
    TAG = "backenddomain"
    name = Attr(String)


def generate_mac(prefix: tuple[int, int, int] = (0x52, 0x54, 0x00)) -> str:
    """A random MAC address with libvirt's default (QEMU) prefix."""
    tail = [random.randint(0, 255) for _ in range(3)]
    return ":".join(f"{b:02x}" for b in (*prefix, *tail))
