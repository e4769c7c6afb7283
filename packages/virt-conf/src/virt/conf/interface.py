"""Host interface XML (<interface> of virInterfaceDefineXML): ethernet, bridge, bond and vlan devices."""

from __future__ import annotations

from lxml import etree
from virt.conf.network import CNumber
from virt.conf.xmlmodel import (
    Attr,
    Child,
    Children,
    Enum,
    Flag,
    Model,
    ParseContext,
    String,
    YesNo,
    keep_first_children,
    unset_empty_attrs,
    without,
)
from virt.util.errors import XMLError

INTERFACE_TYPES = ("ethernet", "bridge", "bond", "vlan")
#: Which device types a bridge or bond may enslave.
ALLOWED_CHILDREN = {"bridge": ("ethernet", "bond", "vlan"), "bond": ("ethernet",)}

LINK_STATES = ("unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up")


def _int(text: str | None, what: str, *, required: bool = False, unsigned: bool = False) -> int | None:
    """virXPathInt/UInt: absent is None (or an error when required), garbage is always an error."""
    if text is None:
        if required:
            raise XMLError(f"{what} missing or invalid")
        return None
    try:
        value = int(text, 10)
    except ValueError:
        raise XMLError(f"{what} {'missing or ' if required else ''}invalid") from None
    if unsigned and value < 0:
        raise XMLError(f"{what} invalid")
    return value


class Start(Model):
    TAG = "start"
    mode = Attr(String)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.mode is not None and self.mode not in ("onboot", "hotplug", "none"):
            raise XMLError(f"unknown interface startmode {self.mode}")


class Mtu(Model):
    TAG = "mtu"
    size = Attr(String)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.size is None:
            return
        size = _int(self.size, "value of the 'size' attribute of 'mtu' element is", unsigned=True)
        if size is not None and size > 100000:
            raise XMLError("value of the 'size' attribute of 'mtu' element must be at most 100000")
        self.size = str(size) if size else None


class Link(Model):
    """<link speed= state=/>: the link's speed (Mbit/s) and operational state."""

    TAG = "link"
    speed = Attr(String)
    state = Attr(String)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.speed is not None:
            try:
                speed = int(self.speed, 10)
                if not 0 <= speed < 2**32:
                    raise ValueError
            except ValueError:
                raise XMLError(f"Unable to parse link speed: {self.speed}") from None
            self.speed = str(speed) if speed else None
        if self.state is not None and self.state not in LINK_STATES:
            raise XMLError(f"unknown link state: {self.state}")

    def write(self, w, tag=None):  # type: ignore[no-untyped-def]
        if self.speed or self.state:
            super().write(w, tag)


class ProtocolDHCP(Model):
    TAG = "dhcp"
    peerdns = Attr(YesNo)


class ProtocolIP(Model):
    TAG = "ip"
    address = Attr(String)
    prefix = Attr(CNumber(min=-(2**31), max=2**31 - 1))  # a C int read with base 0


class ProtocolRoute(Model):
    TAG = "route"
    gateway = Attr(String)


class Protocol(Model):
    """<protocol family='ipv4|ipv6'>: how the interface gets its addresses."""

    TAG = "protocol"
    family = Attr(String)
    autoconf = Flag()
    dhcp = Child(ProtocolDHCP)
    ips = Children(ProtocolIP)
    routes = Children(ProtocolRoute)

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        # libvirt reads the first <dhcp> and the first <route>'s gateway only
        first = el.find("dhcp")
        self._first_dhcp = ProtocolDHCP.from_element(first, ctx) if first is not None else None
        return set()

    def post_parse(self, ctx: ParseContext) -> None:
        if self.family is None:
            raise XMLError("protocol misses the family attribute")
        if self.family not in ("ipv4", "ipv6"):
            raise XMLError(f"unsupported protocol family '{self.family}'")
        self.dhcp = getattr(self, "_first_dhcp", self.dhcp)
        if self.family == "ipv4":
            self.autoconf = False
        self.ips = [ip for ip in self.ips if ip.address is not None]
        for ip in self.ips:
            if ip.prefix == 0:
                ip.prefix = None
        gateway = self.routes[0].gateway if self.routes else None
        self.routes = [ProtocolRoute(gateway=gateway)] if gateway else []

    @property
    def gateway(self) -> str | None:
        return self.routes[0].gateway if self.routes else None


class MacAddress(Model):
    TAG = "mac"
    address = Attr(String)


class Miimon(Model):
    TAG = "miimon"
    freq = Attr(String)
    downdelay = Attr(String)
    updelay = Attr(String)
    carrier = Attr(String)

    def post_parse(self, ctx: ParseContext) -> None:
        self.freq = str(_int(self.freq, "bond interface miimon freq", required=True))
        for name in ("downdelay", "updelay"):
            value = _int(getattr(self, name), f"bond interface miimon {name}")
            setattr(self, name, str(value) if value is not None and value > 0 else None)
        if self.carrier is not None and self.carrier not in ("ioctl", "netif"):
            raise XMLError(f"unknown mii bonding carrier {self.carrier}")


class Arpmon(Model):
    TAG = "arpmon"
    interval = Attr(String)
    target = Attr(String)
    validate_ = Attr(String, xml="validate")

    def post_parse(self, ctx: ParseContext) -> None:
        self.interval = str(_int(self.interval, "bond interface arpmon interval", required=True))
        if self.target is None:
            raise XMLError("bond interface arpmon target missing")
        if self.validate_ is not None and self.validate_ not in ("active", "backup", "all"):
            raise XMLError(f"unknown arp bonding validate {self.validate_}")


BOND_MODES = ("balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb")


class Bond(Model):
    TAG = "bond"
    mode = Attr(String)
    miimon = Child(Miimon)
    arpmon = Child(Arpmon)
    interfaces = Children(lambda: Interface)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.mode is not None and self.mode not in BOND_MODES:
            raise XMLError(f"unknown bonding mode {self.mode}")
        if self.miimon is not None:
            self.arpmon = None  # libvirt uses one monitor, miimon first


class IfBridge(Model):
    TAG = "bridge"
    stp = Attr(String)
    delay = Attr(String)
    interfaces = Children(lambda: Interface)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.stp is not None and self.stp not in ("on", "off"):
            # libvirt reports this, stops reading the bridge (its delay and members are lost) and
            # yet returns success
            self.stp = None
            self.delay = None
            self.interfaces = []


class VlanDevice(Model):
    TAG = "interface"
    name = Attr(String)


class IfVlan(Model):
    TAG = "vlan"
    tag = Attr(String)
    interface = Child(VlanDevice)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.tag is None:
            raise XMLError("vlan interface misses the tag attribute")
        if self.interface is None or not self.interface.name:  # (read as an XPath string: '' is none)
            raise XMLError("vlan interface misses name attribute")

    @property
    def dev_name(self) -> str:
        assert self.interface is not None and self.interface.name is not None
        return self.interface.name


def _unread(root: etree._Element) -> list[tuple[etree._Element, etree._Element]]:
    """(interface, child) pairs libvirt never reads, so that nothing in them can be an error.

    Each interface reads the <bridge>, <bond> or <vlan> of its own type only, a bridge no <link>, a
    bridge or bond member no start mode, mtu or addressing, and an <ip> without address is skipped.
    """
    unread = []
    for iface in root.iter("interface"):
        kind = iface.get("type")
        parent = iface.getparent()
        member = parent is not None and parent.tag in ALLOWED_CHILDREN
        for child in iface:
            if ((child.tag in ("bridge", "bond", "vlan") and child.tag != kind)
                    or (child.tag == "link" and kind == "bridge")
                    or (member and child.tag in ("start", "mtu", "protocol"))):
                unread.append((iface, child))
    for proto in root.iter("protocol"):
        unread.extend((proto, ip) for ip in proto.iterfind("ip") if ip.get("address") is None)  # skipped
    return unread


#: Interface children libvirt reads once (the first).
FIRST_ONLY = frozenset({("interface", tag) for tag in ("start", "mtu", "link", "mac", "bridge", "bond")})

#: Interface attributes where libvirt takes '' for unset (read as XPath strings).
EMPTY_IS_UNSET = frozenset({
    ("arpmon", "target"), ("arpmon", "validate"), ("bond", "mode"), ("link", "state"), ("mac", "address"),
    ("miimon", "carrier"), ("miimon", "updelay"), ("mtu", "size"), ("start", "mode"), ("vlan", "tag"),
})


class Interface(Model):
    """A host network interface definition; bridges and bonds nest their member interfaces."""

    TAG = "interface"
    type = Attr(Enum(*INTERFACE_TYPES, name="interface type"), required=True)
    name = Attr(String)
    start = Child(Start)
    mtu = Child(Mtu)
    protocols = Children(Protocol)
    link = Child(Link)
    mac = Child(MacAddress)
    bridge = Child(IfBridge)
    bond = Child(Bond)
    vlan = Child(IfVlan)

    #: The device type of the enclosing bridge/bond, None for the top-level interface.
    parent_type: str | None

    @classmethod
    def from_element(cls, el: etree._Element, ctx: ParseContext | None = None) -> Interface:
        if el.getparent() is None:  # the whole document, members included, once
            el = keep_first_children(unset_empty_attrs(el, EMPTY_IS_UNSET), FIRST_ONLY)
            el = without(el, lambda root: [child for _, child in _unread(root)])
        iface: Interface = super().from_element(el, ctx)
        return iface

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        parent = el.getparent()
        self.parent_type = None
        if parent is not None and parent.tag in ALLOWED_CHILDREN:
            self.parent_type = parent.tag
            t = el.get("type")
            if t in INTERFACE_TYPES and t not in ALLOWED_CHILDREN[parent.tag]:
                raise XMLError(f"interface has unsupported type '{t}'")
        return set()

    def post_parse(self, ctx: ParseContext) -> None:
        if self.name is None:
            raise XMLError("interface has no name")
        if not hasattr(self, "parent_type"):
            self.parent_type = None
        if self.parent_type is not None:
            # start mode, mtu and addressing belong to the top-level interface only
            self.start = self.mtu = None
            self.protocols = []
        else:
            if self.start is not None and self.start.mode is None:
                self.start = None
            if self.mtu is not None and self.mtu.size is None:
                self.mtu = None
        if self.type == "bridge":
            self.link = None
            if self.bridge is None:
                raise XMLError("bridge interface misses the bridge element")
        if self.type == "bond" and self.bond is None:
            raise XMLError("bond interface misses the bond element")
        if self.type == "vlan" and self.vlan is None:
            raise XMLError("vlan interface misses the vlan element")
        if self.type != "ethernet" or (self.mac is not None and self.mac.address is None):
            self.mac = None
        if self.type != "bridge":
            self.bridge = None
        if self.type != "bond":
            self.bond = None
        if self.type != "vlan":
            self.vlan = None

    # -- typed views -----------------------------------------------------------------------
    @property
    def start_mode(self) -> str | None:
        return self.start.mode if self.start is not None else None

    @property
    def mtu_size(self) -> int | None:
        return int(self.mtu.size) if self.mtu is not None and self.mtu.size else None

    @property
    def mac_address(self) -> str | None:
        return self.mac.address if self.mac is not None else None

    @property
    def members(self) -> list[Interface]:
        """The enslaved interfaces of a bridge or bond."""
        if self.bridge is not None:
            return list(self.bridge.interfaces)
        if self.bond is not None:
            return list(self.bond.interfaces)
        return []

    def protocol(self, family: str) -> Protocol | None:
        return next((p for p in self.protocols if p.family == family), None)
