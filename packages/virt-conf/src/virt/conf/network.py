"""Virtual network XML (<network>) and the network pieces other formats share: IP addresses, vlan, virtualport, bandwidth."""

from __future__ import annotations

import ipaddress
import re
import socket
import uuid as _uuid
from typing import Any, ClassVar

from lxml import etree
from virt.conf.xmlmodel import (
    MAC,
    UUID,
    Attr,
    Child,
    Children,
    Enum,
    Hex,
    Int,
    Model,
    ParseContext,
    Raw,
    String,
    Text,
    TextChild,
    ValueType,
    Writer,
    YesNo,
    keep_first_children,
    unset_empty_attrs,
    without,
)
from virt.util.errors import ConfigUnsupportedError, InternalError, XMLError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DNSMASQ_NS = "http://libvirt.org/schemas/network/dnsmasq/1.0"


# ----------------------------------------------------------------------------- IP addresses

#: Network children libvirt reads once (the first).
FIRST_ONLY = frozenset({
    ("network", "name"), ("network", "uuid"), ("network", "forward"), ("network", "bridge"), ("network", "mac"),
    ("network", "mtu"), ("network", "domain"), ("network", "dns"), ("network", "port"), ("network", "vlan"),
    ("network", "virtualport"), ("portgroup", "vlan"), ("portgroup", "virtualport"), ("virtualport", "parameters"),
    ("ip", "dhcp"),
})

#: Network attributes where libvirt takes '' for unset.
EMPTY_IS_UNSET = frozenset({
    ("network", "ipv6"), ("forward", "dev"), ("forward", "mode"), ("driver", "name"), ("bridge", "name"),
    ("bridge", "delay"), ("bridge", "macTableManager"), ("mac", "address"), ("mtu", "size"), ("ip", "family"),
    ("ip", "netmask"), ("srv", "port"), ("srv", "priority"), ("srv", "weight"), ("vlan", "trunk"),
    ("portgroup", "name"),
})


def parse_ip(text: str, family: int | None = None) -> IPAddress:
    """An IPv4/IPv6 address as getaddrinfo(AI_NUMERICHOST) reads it (IPv4 also in inet_aton forms)."""
    s = text
    if not s or any(c.isspace() for c in s):
        raise ValueError(text)
    if ":" in s:
        if family == socket.AF_INET:
            raise ValueError(text)
        host = s.split("%", 1)[0]
        try:
            return ipaddress.IPv6Address(socket.inet_pton(socket.AF_INET6, host))
        except (OSError, ValueError):
            raise ValueError(text) from None
    if family == socket.AF_INET6:
        raise ValueError(text)
    try:
        return ipaddress.IPv4Address(socket.inet_aton(s))
    except (OSError, ValueError):
        raise ValueError(text) from None


def format_ip(addr: IPAddress) -> str:
    """inet_ntop's spelling: IPv4-mapped and IPv4-compatible IPv6 addresses keep their dotted tail."""
    if isinstance(addr, ipaddress.IPv6Address):
        packed = addr.packed
        words = [int.from_bytes(packed[i:i + 2], "big") for i in range(0, 16, 2)]
        if words[:5] == [0] * 5 and (words[5] == 0xFFFF or (words[5] == 0 and words[6] != 0)):
            tail = ".".join(str(b) for b in packed[12:])
            return ("::ffff:" if words[5] == 0xFFFF else "::") + tail
        return addr.compressed
    return str(addr)


class IPAddrType(ValueType[IPAddress]):
    """An IP address attribute, printed the way libvirt prints it back."""

    def __init__(self, family: int | None = None) -> None:
        self.family = family
        names = {int(socket.AF_INET): "IPv4 address", int(socket.AF_INET6): "IPv6 address"}
        self.name = names.get(family or 0, "IP address")

    def parse(self, text: str) -> IPAddress:
        return parse_ip(text, self.family)

    def format(self, value: IPAddress) -> str:
        return format_ip(value)


IPAddr = IPAddrType()
IPv4Addr = IPAddrType(socket.AF_INET)


def netmask_prefix(netmask: IPAddress) -> int:
    """Number of leading one bits of a netmask, -1 when the mask is not contiguous."""
    bits = netmask.max_prefixlen
    value = int(netmask)
    ones = value.bit_count()
    return ones if value == ((1 << bits) - 1) ^ ((1 << (bits - ones)) - 1) else -1


def ip_prefix(address: IPAddress | None, netmask: IPAddress | None, prefix: int | None) -> int:
    """libvirt's prefix of an address: explicit prefix, else netmask bits, else the classful default."""
    if prefix:
        return prefix
    if netmask is not None:
        return netmask_prefix(netmask)
    if isinstance(address, ipaddress.IPv4Address):
        if int(address) == 0:
            return 0
        octet = int(address) >> 24
        if octet & 0x80 == 0:
            return 8
        if octet & 0xC0 == 0x80:
            return 16
        if octet & 0xE0 == 0xC0:
            return 24
        return -1
    if isinstance(address, ipaddress.IPv6Address):
        return 0 if int(address) == 0 else 64
    return 0


def same_network(a: IPAddress, b: IPAddress, prefix: int) -> bool:
    if a.version != b.version or prefix < 0 or prefix > a.max_prefixlen:
        return False
    shift = a.max_prefixlen - prefix
    return (int(a) >> shift) == (int(b) >> shift)


def check_range(start: IPAddress, end: IPAddress, network: IPAddress | None = None, prefix: int = 0) -> int:
    """Size of a start-end address range, checked the way libvirt checks dhcp and nat ranges."""
    s, e = format_ip(start), format_ip(end)
    if start.version != end.version:
        raise InternalError(f"mismatch of address family in range {s} - {e}")
    if network is not None:
        n = format_ip(network)
        if start.version != network.version:
            raise InternalError(f"mismatch of address family in range {s} - {e} for network {n}")
        if prefix < 0 or prefix > network.max_prefixlen:
            raise InternalError(f"bad prefix {prefix} for network {n} when checking range {s} - {e}")
        if not (same_network(start, network, prefix) and same_network(end, network, prefix)):
            raise InternalError(f"range {s} - {e} is not entirely within network {n}/{prefix}")
        if start.version == 4:
            host_bits = 32 - prefix
            netaddr = (int(network) >> host_bits) << host_bits
            broadcast = netaddr | ((1 << host_bits) - 1)
            if int(start) == netaddr:
                raise InternalError(f"start of range {s} - {e} in network {n}/{prefix} is the network address")
            if int(end) == broadcast:
                raise InternalError(f"end of range {s} - {e} in network {n}/{prefix} is the broadcast address")
    if start.version == 4:
        a, b = start.packed, end.packed
        if a[:2] != b[:2]:
            raise InternalError(f"range {s} - {e} is too large (> 65535)")
        size = (b[2] - a[2]) * 256 + (b[3] - a[3])
        if size < 0:
            raise InternalError(f"range {s} - {e} is reversed ")
        return size + 1
    a, b = start.packed, end.packed
    if a[:14] != b[:14]:
        raise InternalError(f"range {s} - {e} is too large (> 65535)")
    size = int.from_bytes(b[14:], "big") - int.from_bytes(a[14:], "big")
    if size < 0:
        raise InternalError(f"range {s} - {e} start larger than end")
    return size + 1


def is_multicast_mac(mac: str) -> bool:
    return bool(int(mac.split(":")[0], 16) & 1)


# ----------------------------------------------------------------------------- shared pieces

class VlanTag(Model):
    TAG = "tag"
    id = Attr(Int(min=0, hex_ok=False), required=True)
    nativeMode = Attr(Enum("default", "tagged", "untagged"))

    def validate(self, ctx: ParseContext) -> None:
        if self.id > 4095:
            raise XMLError(f"vlan tag id {self.id} too large (maximum 4095)")


class Vlan(Model):
    """<vlan>: one tag, or a trunk of several; one of them may be the native vlan."""

    TAG = "vlan"
    trunk = Attr(String)
    tags = Children(VlanTag)

    def post_parse(self, ctx: ParseContext) -> None:
        if not self.tags:
            raise XMLError("missing tag id - each <vlan> must have at least one <tag id='n'/> subelement")
        native: tuple[str, int] | None = None
        for tag in self.tags:
            if tag.nativeMode is not None:
                if native is not None:
                    raise XMLError("duplicate native vlan setting")
                if tag.nativeMode == "default":
                    raise ConfigUnsupportedError(
                        f"Invalid \"nativeMode='{tag.nativeMode}'\" in vlan <tag> element")
                native = (tag.nativeMode, tag.id)
        trunk = len(self.tags) > 1
        if self.trunk is not None:
            trunk = self.trunk.lower() == "yes"
            if not trunk:
                if len(self.tags) > 1:
                    raise XMLError(f"invalid \"trunk='{self.trunk}'\" in <vlan> - trunk='yes' is required "
                                   "for more than one vlan tag")
                if native is not None:
                    raise XMLError("invalid configuration in <vlan> - \"trunk='no'\" is not allowed with a "
                                   "native vlan id")
                if self.trunk.lower() != "no":
                    raise XMLError(f"invalid \"trunk='{self.trunk}'\" in <vlan> - must be yes or no")
        self.trunk = "yes" if trunk else None
        # libvirt keeps one native (mode, id) pair and prints it on every tag with that id
        for tag in self.tags:
            tag.nativeMode = native[0] if native and tag.id == native[1] else None

    @property
    def is_trunk(self) -> bool:
        return self.trunk == "yes"

    @property
    def native(self) -> tuple[str, int] | None:
        return next(((t.nativeMode, t.id) for t in self.tags if t.nativeMode), None)


class CNumber(Int):
    """A number read as C's strtol with base 0 reads it: 0x-prefixed hexadecimal, a leading 0 octal."""

    def parse(self, text: str) -> int:
        s = text.strip()
        sign = -1 if s[:1] == "-" else 1
        digits = s[1:] if s[:1] in ("+", "-") else s
        if digits[:1] in ("+", "-", "_") or "_" in digits:
            raise ValueError(text)
        base = 16 if digits[:2].lower() == "0x" else 8 if len(digits) > 1 and digits[0] == "0" else 10
        value = sign * int(digits, base)
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise ValueError(text)
        return value


class VirtualPortParameters(Model):
    TAG = "parameters"
    managerid = Attr(CNumber(min=0, max=0xFF))  # virtualport numbers: C strtoul base 0
    typeid = Attr(CNumber(min=0, max=0xFFFFFF))
    typeidversion = Attr(CNumber(min=0, max=0xFF))
    instanceid = Attr(UUID)
    interfaceid = Attr(UUID)
    profileid = Attr(String)

    def validate(self, ctx: ParseContext) -> None:
        if self.profileid is not None and len(self.profileid.encode()) >= 40:
            raise XMLError("profileid parameter too long")
        if self.profileid == "":
            self.profileid = None


#: Which <parameters> attributes each virtualport type may carry (None: no type given yet).
VIRTUALPORT_PARAMS: dict[str | None, tuple[str, ...]] = {
    None: ("managerid", "typeid", "typeidversion", "instanceid", "interfaceid", "profileid"),
    "802.1Qbg": ("managerid", "typeid", "typeidversion", "instanceid"),
    "802.1Qbh": ("profileid",),
    "openvswitch": ("interfaceid", "profileid"),
    "midonet": ("interfaceid",),
}


class VirtualPort(Model):
    """<virtualport>: 802.1Qbg/802.1Qbh/openvswitch/midonet port profile."""

    TAG = "virtualport"
    #: Whether the context requires type= (network level does, portgroups and ports don't).
    REQUIRE_TYPE: ClassVar[bool] = False
    type = Attr(Enum("802.1Qbg", "802.1Qbh", "openvswitch", "midonet", name="virtualport type"))
    parameters = Child(VirtualPortParameters)

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        t = el.get("type")
        if t is not None and t not in VIRTUALPORT_PARAMS:
            raise ConfigUnsupportedError(f"unknown virtualport type {t}")
        return set()

    def post_parse(self, ctx: ParseContext) -> None:
        if self.type is None and self.REQUIRE_TYPE:
            raise XMLError("missing required virtualport type")
        p = self.parameters
        if p is not None:
            allowed = VIRTUALPORT_PARAMS[self.type]
            for name in VIRTUALPORT_PARAMS[None]:
                if getattr(p, name) is not None and name not in allowed:
                    raise XMLError(f"attribute {name} not allowed for <virtualport type='{self.type}'>")
            if all(getattr(p, n) is None for n in VIRTUALPORT_PARAMS[None]):
                self.parameters = None

    def write(self, w: Writer, tag: str | None = None) -> None:
        if self.type is None and self.parameters is None:
            return  # nothing to say: libvirt prints no element at all
        super().write(w, tag)


class NetworkVirtualPort(VirtualPort):
    REQUIRE_TYPE = True


class _Rate(Model):
    average = Attr(Int(min=0, max=2**64 - 1, hex_ok=False))
    peak = Attr(Int(min=0, max=2**64 - 1, hex_ok=False))
    floor = Attr(Int(min=0, max=2**64 - 1, hex_ok=False))
    burst = Attr(Int(min=0, max=2**64 - 1, hex_ok=False))

    def post_parse(self, ctx: ParseContext) -> None:
        if self.average is None and self.floor is None:
            raise XMLError("Missing mandatory average or floor attributes", code=35)
        if (self.peak is not None or self.burst is not None) and self.average is None:
            raise ConfigUnsupportedError("'peak' and 'burst' require 'average' attribute")
        for name in ("average", "peak", "floor", "burst"):
            if getattr(self, name) == 0:
                setattr(self, name, None)

    def write(self, w: Writer, tag: str | None = None) -> None:
        if self.average or self.floor:
            super().write(w, tag)


class Inbound(_Rate):
    TAG = "inbound"


class Outbound(_Rate):
    TAG = "outbound"


class Bandwidth(Model):
    """<bandwidth>: inbound/outbound average, peak, burst (kbytes/s, kbytes) and inbound floor."""

    TAG = "bandwidth"
    #: Whether inbound floor= is accepted here (only on ports of networks that support it).
    ALLOW_FLOOR: ClassVar[bool] = False
    classID = Attr(Int(min=0, max=2**32 - 1, hex_ok=False))
    inbound = Child(Inbound)
    outbound = Child(Outbound)

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        for tag in ("inbound", "outbound"):
            if len(el.findall(tag)) > 1:
                raise XMLError(f"Only one child <{tag}> element allowed", code=35)
        if el.get("classID") is not None and not self.ALLOW_FLOOR:
            raise XMLError("classID attribute not supported on <bandwidth> in this usage context", code=35)
        return set()

    def post_parse(self, ctx: ParseContext) -> None:
        if self.inbound is not None and self.inbound.floor and not self.ALLOW_FLOOR:
            raise ConfigUnsupportedError("floor attribute is not supported for this config")
        if self.outbound is not None and self.outbound.floor:
            raise ConfigUnsupportedError("'floor' attribute allowed only in <inbound> element")
        if self.classID == 0:
            self.classID = None


class PCIAddress(Model):
    """<address type='pci' domain= bus= slot= function=/> in a hostdev network's device pool."""

    TAG = "address"
    type = Attr(String)
    domain = Attr(Hex(4, max=0xFFFFFFFF), default=0)  # 32 bits: VMD domains go past 0xffff
    bus = Attr(Hex(2, max=0xFF), default=0)
    slot = Attr(Hex(2, max=0x1F), default=0)
    function = Attr(Hex(1, max=7), default=0)

    def post_parse(self, ctx: ParseContext) -> None:
        for name in ("domain", "bus", "slot", "function"):
            if getattr(self, name) is None:
                setattr(self, name, 0)

    def __str__(self) -> str:
        return f"{self.domain:04x}:{self.bus:02x}:{self.slot:02x}.{self.function:x}"

    def key(self) -> tuple[int, int, int, int]:
        return (self.domain, self.bus, self.slot, self.function)


# ----------------------------------------------------------------------------- <forward>

FORWARD_MODES = ("none", "nat", "route", "open", "bridge", "private", "vepa", "passthrough", "hostdev")
#: Modes where libvirt itself creates and configures the bridge (and runs dnsmasq).
L3_MODES = frozenset({"none", "nat", "route", "open"})


class ForwardInterface(Model):
    TAG = "interface"
    dev = Attr(String)
    connections = Attr(String)  # live-only usage count, dropped on parse

    def post_parse(self, ctx: ParseContext) -> None:
        self.connections = None


class ForwardPF(Model):
    TAG = "pf"
    dev = Attr(String)


class ForwardDriver(Model):
    TAG = "driver"
    name = Attr(String)


class NatAddress(Model):
    TAG = "address"
    start = Attr(String)
    end = Attr(String)


class NatPort(Model):
    TAG = "port"
    start = Attr(String)
    end = Attr(String)


class Nat(Model):
    """<nat>: the SNAT address range and port range, and whether IPv6 is NATed too."""

    TAG = "nat"
    ipv6 = Attr(YesNo)
    addresses = Children(NatAddress)
    ports = Children(NatPort)

    def validate(self, ctx: ParseContext) -> None:
        if len(self.addresses) > 1:
            raise XMLError("Only one <address> element is allowed in <nat> in <forward> in network {net}")
        if len(self.ports) > 1:
            raise XMLError("Only one <port> element is allowed in <nat> in <forward> in network {net}")
        for a in self.addresses:
            if a.start is None:
                raise XMLError("missing 'start' attribute in <address> element in <nat> in <forward> in network {net}")
            if a.end is None:
                raise XMLError("missing 'end' attribute in <address> element in <nat> in <forward> in network {net}")
            try:
                start = parse_ip(a.start, socket.AF_INET)
            except ValueError:
                raise XMLError(f"Bad ipv4 start address '{a.start}' in <nat> in <forward> in network '{{net}}'") from None
            try:
                end = parse_ip(a.end, socket.AF_INET)
            except ValueError:
                raise XMLError(f"Bad ipv4 end address '{a.end}' in <nat> in <forward> in network '{{net}}'") from None
            check_range(start, end)
            a.start, a.end = format_ip(start), format_ip(end)
        for p in self.ports:
            port_start = c_unsigned(p.start)
            if port_start is None or port_start > 65535:
                raise XMLError("Missing or invalid 'start' attribute in <port> in <nat> in <forward> in network {net}",
                               code=35)
            port_end = c_unsigned(p.end)
            if port_end is None or port_end > 65535 or port_end < port_start:
                raise XMLError("Missing or invalid 'end' attribute in <port> in <nat> in <forward> in network {net}",
                               code=35)
            p.start, p.end = str(port_start), (str(port_end) if port_end else None)
        self.ports = [p for p in self.ports if p.start != "0" or p.end]

    @property
    def address_range(self) -> tuple[IPAddress, IPAddress] | None:
        if not self.addresses:
            return None
        return parse_ip(self.addresses[0].start), parse_ip(self.addresses[0].end)

    @property
    def port_range(self) -> tuple[int, int] | None:
        if not self.ports:
            return None
        return int(self.ports[0].start), int(self.ports[0].end or 0)

    def write(self, w: Writer, tag: str | None = None) -> None:
        if self.ipv6 is None and not self.addresses and not self.ports:
            return
        super().write(w, tag)


#: C's strtoul as libvirt's virStrToLong_* read it, by base: white space, a sign, (0x), digits.
_C_UNSIGNED = {10: re.compile(r"[ \t\n\v\f\r]*([+-]?)([0-9]+)"),
               16: re.compile(r"[ \t\n\v\f\r]*([+-]?)(?:0[xX])?([0-9a-fA-F]+)")}


def c_unsigned(text: str | None, bits: int = 32, base: int = 10) -> int | None:
    """``text`` as libvirt reads an unsigned number (base 10, or 16 with an optional 0x), None when invalid.

    32 bits (virStrToLong_ui): as C's strtoul, leading white space and a sign are read and "-N" wraps
    around (-1 is the maximum); 64 bits (the bridge delay, virStrToLong_ulp): no negative number.
    """
    m = _C_UNSIGNED[base].fullmatch(text) if text is not None else None
    if m is None:
        return None
    value = int(m.group(2), base)
    if value >= 2**bits or (m.group(1) == "-" and bits > 32):
        return None
    return (-value) % 2**bits if m.group(1) == "-" else value


class Forward(Model):
    """<forward>: how traffic leaves the network, and the pool of host devices it may use."""

    TAG = "forward"
    dev = Attr(String)
    # "" is accepted and means the default (nat): libvirt reads mode with an XPath string, empty = unset
    mode = Attr(Enum(*FORWARD_MODES, "", name="forward mode"))
    managed = Attr(String)
    driver = Child(ForwardDriver)
    nat = Child(Nat)
    pfs = Children(ForwardPF)
    interfaces = Children(ForwardInterface)
    addresses = Children(PCIAddress)

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        mode = el.get("mode") or None
        if mode is not None and mode not in FORWARD_MODES:
            raise ConfigUnsupportedError(f"unknown forwarding type '{mode}'")
        # libvirt reads string(./driver/@name): the first <driver> that has a name
        named = [d for d in el.iterfind("driver") if d.get("name") is not None]
        self._driver_name = named[0].get("name") if named else None
        if len(el.findall("nat")) > 1:
            raise XMLError("Only one <nat> element is allowed in <forward> of network {net}")
        nat = el.find("nat")
        if nat is not None and (mode or "nat") != "nat":
            raise XMLError("The <nat> element can only be used when <forward> 'mode' is 'nat' in network {net}")
        return set()

    def post_parse(self, ctx: ParseContext) -> None:
        if not self.mode:
            self.mode = "nat"
        managed = self.managed is not None and self.managed.lower() == "yes"
        self.managed = ("yes" if managed else "no") if self.mode == "hostdev" else None
        name = self.__dict__.pop("_driver_name", None)
        self.driver = ForwardDriver(name=name) if name is not None else None
        # (only name= is read: a <driver> without one is the default, and not printed)
        if self.driver is not None and self.driver.name not in ("kvm", "vfio"):
            raise ConfigUnsupportedError(f"Unknown forward <driver name='{self.driver.name}'/> in network {{net}}")
        if self.dev is not None and (self.addresses or self.pfs):
            raise XMLError("the <forward> 'dev' attribute cannot be used when <address> or <pf> sub-elements "
                           "are present in network {net}")
        if self.interfaces or self.dev is not None:
            # the device pool is <interface> names; a dev= attribute is its first member
            devs: list[str] = [self.dev] if self.dev is not None else []
            for i, iface in enumerate(self.interfaces):
                if iface.dev is None:
                    raise XMLError("Missing required dev attribute in <forward> <interface> element of network {net}")
                if i == 0 and self.dev is not None:
                    if iface.dev != self.dev:
                        raise XMLError(f"<forward dev='{self.dev}'> must match first <interface dev='{iface.dev}'/> "
                                       "in network {net}")
                    continue
                if iface.dev in devs:
                    raise XMLError(f"interface '{iface.dev}' can only be listed once in network {{net}}")
                devs.append(iface.dev)
            self.interfaces = [ForwardInterface(dev=d) for d in devs]
            # libvirt reads the first kind of pool present: interfaces, else PCI addresses, else the <pf>
            self.addresses = []
            self.pfs = []
        elif self.addresses:
            seen: set[tuple[int, int, int, int]] = set()
            for addr in self.addresses:
                if addr.type is None:
                    raise XMLError("missing address type in network {net}")
                if addr.type not in ("pci", "netdev", "none"):
                    raise ConfigUnsupportedError(f"unknown address type '{addr.type}' in network {{net}}")
                if addr.type != "pci":
                    raise XMLError(f"unsupported address type '{addr.type}' in network {{net}}")
                if addr.key() in seen:
                    raise XMLError(f"PCI device '{addr}' can only be listed once in network {{net}}")
                seen.add(addr.key())
            self.pfs = []
        elif self.pfs:
            if len(self.pfs) > 1:
                raise XMLError("Only one <pf> element is allowed in <forward> of network {net}")
            if self.pfs[0].dev is None:
                raise XMLError("Missing required dev attribute in <pf> element of network '{net}'")
        self.dev = self.interfaces[0].dev if self.interfaces and not self.pfs else None

    # -- typed views for drivers -----------------------------------------------------------
    @property
    def is_managed(self) -> bool:
        return self.managed == "yes"

    @property
    def devices(self) -> list[str]:
        """The netdev names of the device pool, in order."""
        return [i.dev for i in self.interfaces if i.dev]

    @property
    def pf(self) -> str | None:
        return self.pfs[0].dev if self.pfs else None

    def write(self, w: Writer, tag: str | None = None) -> None:
        if self.mode == "none":
            return
        if self.pfs and self.interfaces:
            # the inactive definition of a PF-backed pool is the PF alone; its VFs are found at start
            shown = Forward(**{f.name: getattr(self, f.name) for f in self._fields})
            shown.interfaces = []
            shown.write(w, tag)
            return
        super().write(w, tag)


# ----------------------------------------------------------------------------- bridge, dns, domain

class Bridge(Model):
    TAG = "bridge"
    name = Attr(String)
    zone = Attr(String)
    stp = Attr(String)
    delay = Attr(String)
    macTableManager = Attr(String)


class Mtu(Model):
    TAG = "mtu"
    size = Attr(String)


class NetworkMAC(Model):
    TAG = "mac"
    address = Attr(String)


class NetworkDomain(Model):
    TAG = "domain"
    name = Attr(String)
    localOnly = Attr(YesNo)


class DNSForwarder(Model):
    TAG = "forwarder"
    domain = Attr(String)
    addr = Attr(IPAddr)


class DNSTxt(Model):
    TAG = "txt"
    name = Attr(String)
    value = Attr(String)


class DNSSrv(Model):
    TAG = "srv"
    service = Attr(String)
    protocol = Attr(String)
    domain = Attr(String)
    target = Attr(String)
    port = Attr(String)
    priority = Attr(String)
    weight = Attr(String)


class Hostname(Model):
    TAG = "hostname"
    value = Text(String)


class DNSHost(Model):
    TAG = "host"
    ip = Attr(String)
    hostnames = Children(Hostname)

    @property
    def names(self) -> list[str]:
        return [h.value for h in self.hostnames if h.value]


class DNS(Model):
    """<dns>: dnsmasq's DNS service: forwarders, TXT, SRV and host records."""

    TAG = "dns"
    enable = Attr(YesNo)
    forwardPlainNames = Attr(YesNo)
    forwarders = Children(DNSForwarder)
    txts = Children(DNSTxt)
    srvs = Children(DNSSrv)
    hosts = Children(DNSHost)

    def write(self, w: Writer, tag: str | None = None) -> None:
        if (self.enable is None and self.forwardPlainNames is None and not self.forwarders and not self.txts
                and not self.srvs and not self.hosts):
            return
        super().write(w, tag)


# ----------------------------------------------------------------------------- <ip>

class Lease(Model):
    TAG = "lease"
    expiry = Attr(CNumber(min=0, max=2**64 - 1))
    unit = Attr(Enum("seconds", "minutes", "hours", name="lease unit"))

    @property
    def seconds(self) -> int:
        """Lease time in seconds; 0 means infinite."""
        return (self.expiry or 0) * {"seconds": 1, "minutes": 60, "hours": 3600}[self.unit or "minutes"]


def _check_earlier_leases(el: etree._Element, ctx: ParseContext) -> None:
    """libvirt reads every <lease> of a range or host (the last one stays): each must be valid."""
    for lease_el in el.findall("lease")[:-1]:
        owner = DHCPRange(lease=Lease.from_element(lease_el, ctx))
        _check_lease(owner)


class DHCPRange(Model):
    TAG = "range"
    start = Attr(String)
    end = Attr(String)
    lease = Child(Lease)

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        _check_earlier_leases(el, ctx)
        return set()

    @property
    def start_addr(self) -> IPAddress:
        return parse_ip(self.start)

    @property
    def end_addr(self) -> IPAddress:
        return parse_ip(self.end)


class DHCPHost(Model):
    TAG = "host"
    mac = Attr(String)
    id = Attr(String)
    name = Attr(String)
    ip = Attr(String)
    lease = Child(Lease)

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        _check_earlier_leases(el, ctx)
        return set()

    @property
    def ip_addr(self) -> IPAddress | None:
        return parse_ip(self.ip) if self.ip else None


class Bootp(Model):
    TAG = "bootp"
    file = Attr(String)
    server = Attr(String)


class DHCP(Model):
    TAG = "dhcp"
    ranges = Children(DHCPRange)
    hosts = Children(DHCPHost)
    bootp = Child(Bootp)

    def write(self, w: Writer, tag: str | None = None) -> None:
        if self.ranges or self.hosts:  # libvirt drops a <dhcp> that only has <bootp>
            super().write(w, tag)


class TFTP(Model):
    TAG = "tftp"
    root = Attr(String)


class IP(Model):
    """<ip>: an address of the network's bridge, with its DHCP and TFTP service."""
    NEVER_SELF_CLOSE = True  # libvirt always writes <ip ...></ip> and <portgroup ...></portgroup>

    TAG = "ip"
    family = Attr(String)
    address = Attr(String)
    netmask = Attr(String)
    prefix = Attr(Int(min=0, max=2**32 - 1, hex_ok=False))
    localPtr = Attr(YesNo)
    tftp = Child(TFTP)
    dhcp = Child(DHCP)

    # -- typed views for drivers (dnsmasq configuration) -----------------------------------
    @property
    def addr(self) -> IPAddress:
        return parse_ip(self.address)

    @property
    def is_ipv4(self) -> bool:
        return ":" not in (self.address or "")

    @property
    def is_ipv6(self) -> bool:
        return not self.is_ipv4

    def prefix_len(self) -> int:
        """virNetworkIPDefPrefix: the explicit prefix, the netmask's bits or the classful default."""
        return ip_prefix(self.addr, parse_ip(self.netmask) if self.netmask else None, self.prefix)

    def netmask_addr(self) -> IPAddress:
        """The netmask, from netmask= or from the prefix."""
        if self.netmask:
            return parse_ip(self.netmask)
        net = ipaddress.ip_network(f"{format_ip(self.addr)}/{max(self.prefix_len(), 0)}", strict=False)
        return net.netmask

    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(f"{format_ip(self.addr)}/{max(self.prefix_len(), 0)}", strict=False)

    @property
    def ranges(self) -> list[DHCPRange]:
        return self.dhcp.ranges if self.dhcp else []

    @property
    def hosts(self) -> list[DHCPHost]:
        return self.dhcp.hosts if self.dhcp else []

    @property
    def bootp(self) -> Bootp | None:
        return self.dhcp.bootp if self.dhcp else None

    @property
    def has_dhcp(self) -> bool:
        return bool(self.ranges or self.hosts)


class Route(Model):
    TAG = "route"
    family = Attr(String)
    address = Attr(String)
    netmask = Attr(String)
    prefix = Attr(Int(min=0, max=2**32 - 1, hex_ok=False))
    gateway = Attr(String)
    metric = Attr(Int(min=1, max=2**32 - 1, hex_ok=False))

    def validate(self, ctx: ParseContext) -> None:
        check_route(self, "{net}")

    @property
    def gateway_addr(self) -> IPAddress:
        return parse_ip(self.gateway)


def check_route(r: Any, detail: str) -> None:
    """virNetDevIPRouteCreate's checks; canonicalizes the addresses in place."""
    if r.address is None:
        raise XMLError(f"{detail}: Missing required address attribute in route definition")
    if r.gateway is None:
        raise XMLError(f"{detail}: Missing required gateway attribute in route definition")
    try:
        address = parse_ip(r.address)
    except ValueError:
        raise XMLError(f"{detail}: Bad network address '{r.address}' in route definition") from None
    try:
        gateway = parse_ip(r.gateway)
    except ValueError:
        raise XMLError(f"{detail}: Bad gateway address '{r.gateway}' in route definition") from None
    netmask = None
    prefix = r.prefix or 0
    if r.family is None or r.family == "ipv4":
        what = "No family" if r.family is None else "IPv4 family"
        if address.version != 4:
            raise XMLError(f"{detail}: {what} specified for non-IPv4 address '{r.address}' in route definition")
        if gateway.version != 4:
            raise XMLError(f"{detail}: {what} specified for non-IPv4 gateway '{r.address}' in route definition")
        if r.netmask is not None:
            try:
                netmask = parse_ip(r.netmask)
            except ValueError:
                raise XMLError(f"{detail}: Bad netmask address '{r.netmask}' in route definition") from None
            if netmask.version != 4:
                raise XMLError(f"{detail}: Invalid netmask '{r.netmask}' for address '{r.address}' (both must be IPv4)")
            if r.prefix is not None:
                raise XMLError(f"{detail}: Route definition cannot have both a prefix and a netmask")
        if prefix > 32:
            raise XMLError(f"{detail}: Invalid prefix {prefix} specified in route definition, must be 0 - 32")
    elif r.family == "ipv6":
        if address.version != 6:
            raise XMLError(f"{detail}: ipv6 family specified for non-IPv6 address '{r.address}' in route definition")
        if r.netmask is not None:
            raise XMLError(f"{detail}: Specifying netmask invalid for IPv6 address '{r.address}' in route definition")
        if gateway.version != 6:
            raise XMLError(f"{detail}: ipv6 specified for non-IPv6 gateway address '{r.gateway}' in route definition")
        if prefix > 128:
            raise XMLError(f"{detail}: Invalid prefix {prefix} specified in route definition, must be 0 - 128")
    else:
        raise XMLError(f"{detail}: Unrecognized family '{r.family}' in route definition")
    bits = netmask_prefix(netmask) if netmask is not None else prefix
    if bits < 0 or not same_network(address, address, bits) or \
            (int(address) & ((1 << (address.max_prefixlen - bits)) - 1)):
        raise XMLError(f"{detail}: Address '{r.address}' in route definition is not a network address")
    r.address, r.gateway = format_ip(address), format_ip(gateway)
    if netmask is not None:
        r.netmask = format_ip(netmask)


# ----------------------------------------------------------------------------- portgroups, ports

class PortGroup(Model):
    """<portgroup>: a named set of vlan/virtualport/bandwidth settings a domain interface can pick."""
    NEVER_SELF_CLOSE = True  # libvirt always writes <ip ...></ip> and <portgroup ...></portgroup>

    TAG = "portgroup"
    name = Attr(String)
    default = Attr(String)
    trustGuestRxFilters = Attr(YesNo)
    vlan = Child(Vlan)
    virtualport = Child(VirtualPort)
    bandwidth = Child(Bandwidth)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.name is None:
            raise XMLError("Missing required name attribute in portgroup")
        self.default = "yes" if self.default is not None and self.default.lower() == "yes" else None

    @property
    def is_default(self) -> bool:
        return self.default == "yes"


class PortOptions(Model):
    TAG = "port"
    isolated = Attr(YesNo)


class DnsmasqOption(Model):
    TAG = f"{{{DNSMASQ_NS}}}option"
    value = Attr(String)


# ----------------------------------------------------------------------------- <network>

class Network(Model):
    """A libvirt virtual network definition."""

    TAG = "network"
    connections = Attr(String)  # live-only; libvirt never reads it back
    ipv6 = Attr(String)
    trustGuestRxFilters = Attr(YesNo)
    name = TextChild(String)
    uuid = TextChild(UUID)
    title = TextChild(String)
    description = TextChild(String)
    metadata = Raw()
    forward = Child(Forward)
    bridge = Child(Bridge)
    mtu = Child(Mtu)
    mac = Child(NetworkMAC)
    domain = Child(NetworkDomain)
    dns = Child(DNS)
    vlan = Child(Vlan)
    bandwidth = Child(Bandwidth)
    port = Child(PortOptions)
    ips = Children(IP)
    routes = Children(Route)
    virtualport = Child(NetworkVirtualPort)
    portgroups = Children(PortGroup)

    #: dnsmasq:options/dnsmasq:option values, passed verbatim to dnsmasq.
    dnsmasq_options: list[str]

    # -- parsing -------------------------------------------------------------------------------
    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        self.dnsmasq_options = []
        consumed = set()
        for child in el:
            if isinstance(child.tag, str) and child.tag.startswith("{" + DNSMASQ_NS + "}"):
                consumed.add(child.tag)
                if child.tag == f"{{{DNSMASQ_NS}}}options":
                    for opt in child.iterfind(f"{{{DNSMASQ_NS}}}option"):
                        value = opt.get("value")
                        if value is None:
                            raise InternalError("No dnsmasq options value specified")
                        self.dnsmasq_options.append(value)
        return consumed

    @classmethod
    def from_element(cls, el: etree._Element, ctx: ParseContext | None = None) -> Network:
        ctx = ctx or ParseContext()
        name = el.findtext("name")
        el = keep_first_children(unset_empty_attrs(el, EMPTY_IS_UNSET), FIRST_ONLY)
        el = without(el, _unread_pool_entries)
        try:
            net: Network = super().from_element(el, ctx)
        except XMLError as exc:
            # messages of nested elements name their network the way libvirt's do
            if "{net}" in exc.message:
                raise type(exc)(exc.detail.replace("{net}", name or "") if exc.detail else None,
                                code=exc.code) from None
            raise
        except (ConfigUnsupportedError, InternalError) as exc:
            if "{net}" in exc.message:
                raise type(exc)(exc.detail.replace("{net}", name or "") if exc.detail else None) from None
            raise
        return net

    def post_parse(self, ctx: ParseContext) -> None:
        if not self.name:
            raise XMLError("missing name information in network")
        if "/" in self.name:
            raise XMLError("invalid char in name: /")
        if self.uuid is None:
            self.uuid = str(_uuid.uuid4())
        if self.title is not None and "\n" in self.title:
            raise XMLError("Network title can't contain newlines")
        if self.ipv6 is not None:
            if self.ipv6 not in ("yes", "no"):
                raise XMLError(f"Invalid ipv6 setting '{self.ipv6}' in network '{self.name}'")
            self.ipv6 = "yes" if self.ipv6 == "yes" else None
        if self.metadata is not None:
            self.metadata = _sanitize_metadata(self.metadata)
        self.NSMAP = {"dnsmasq": DNSMASQ_NS} if getattr(self, "dnsmasq_options", None) else {}  # type: ignore[misc]
        if not hasattr(self, "dnsmasq_options"):
            self.dnsmasq_options = []
        if self.port is not None and self.port.isolated is None:
            self.port = None
        self.connections = None  # live-only counter, never read back from a definition
        self._check_domain_dns()
        self._check_bridge_mtu_mac()
        for ip in self.ips:
            self._check_ip(ip)
        self._check_routes()
        self._check_forward_mode()
        # libvirt's define (and its xml2xml test) runs the network driver's validation right after the parse
        self.validate_for_define()

    def _err(self, msg: str, cls: type[Exception] = XMLError, **kw: Any) -> Exception:
        return cls(msg, **kw)

    def _check_bridge_mtu_mac(self) -> None:
        b = self.bridge
        if b is not None:
            if b.delay is not None:
                d = c_unsigned(b.delay, 64)
                if d is None:
                    raise XMLError(f"Invalid delay value in network '{self.name}'")
            if b.macTableManager is not None and b.macTableManager not in ("kernel", "libvirt"):
                raise XMLError(f"Invalid macTableManager setting '{b.macTableManager}' in network '{self.name}'")
            if b.name == "":
                b.name = None
            if b.zone == "":
                b.zone = None
        if self.mtu is not None:
            size = c_unsigned(self.mtu.size) if self.mtu.size is not None else None
            if self.mtu.size is not None and size is None:
                raise XMLError(f"Invalid mtu size '{self.mtu.size}' in network '{self.name}'")
            self.mtu = Mtu(size=str(size)) if size else None
        if self.mac is not None:
            if self.mac.address is None:
                self.mac = None
            else:
                try:
                    mac = MAC.parse(self.mac.address)
                except ValueError:
                    raise XMLError(f"Invalid bridge mac address '{self.mac.address}' in network '{self.name}'") from None
                if is_multicast_mac(mac):
                    raise XMLError(
                        f"Invalid multicast bridge mac address '{self.mac.address}' in network '{self.name}'")
                self.mac.address = mac
        if self.domain is not None and self.domain.name is None:
            self.domain = None  # (name='' is kept: libvirt reads it as a plain attribute)

    def _check_domain_dns(self) -> None:
        dns = self.dns
        if dns is None:
            return
        net = self.name
        for fwd in dns.forwarders:
            if fwd.addr is None and fwd.domain is None:
                raise XMLError("Invalid forwarder element, must contain at least one of addr or domain")
        for host in dns.hosts:
            if not host.hostnames or any(not h.value for h in host.hostnames):
                raise XMLError(f"Missing hostname in network '{net}' DNS HOST record", code=35)
            if host.ip is None:
                raise XMLError(f"Missing IP address in network '{net}' DNS HOST record", code=35)
            try:
                host.ip = format_ip(parse_ip(host.ip))
            except ValueError:
                raise XMLError(f"Invalid IP address in network '{net}' DNS HOST record", code=35) from None
        for srv in dns.srvs:
            _check_srv(srv, net)
        for txt in dns.txts:
            if txt.name is None:
                raise XMLError(f"missing required name attribute in DNS TXT record of network {net}", code=35)
            if " " in txt.name or "," in txt.name:
                raise XMLError(f"prohibited character in DNS TXT record name '{txt.name}' of network {net}", code=35)
            if txt.value is None:
                raise XMLError(f"missing required value attribute in DNS TXT record named '{txt.name}' of network "
                               f"{net}", code=35)
        if dns.enable is False and (dns.forwarders or dns.hosts or dns.srvs or dns.txts):
            raise XMLError(f"Extra data in disabled network '{net}'")

    def _check_ip(self, ip: IP) -> None:
        net = self.name
        if ip.address is None:
            raise XMLError(f"Missing required address attribute in network '{net}'")
        try:
            address = parse_ip(ip.address)
        except ValueError:
            raise XMLError(f"Invalid address '{ip.address}' in network '{net}'") from None
        netmask = None
        if ip.netmask is not None:
            try:
                netmask = parse_ip(ip.netmask)
            except ValueError:
                raise XMLError(f"Invalid netmask '{ip.netmask}' in network '{net}'") from None
        prefix = ip.prefix or 0
        if ip.family is None or ip.family == "ipv4":
            if address.version != 4:
                raise ConfigUnsupportedError(f"{'no' if ip.family is None else 'ipv4'} family specified for "
                                             f"non-IPv4 address '{ip.address}' in network '{net}'")
            if netmask is not None:
                if netmask.version != 4:
                    raise ConfigUnsupportedError(f"Invalid netmask '{ip.netmask}' for address '{ip.address}' in "
                                                 f"network '{net}' (both must be IPv4)")
                if prefix > 0:
                    raise ConfigUnsupportedError(
                        f"Network '{net}' IP address cannot have both a prefix and a netmask")
            elif prefix > 32:
                raise ConfigUnsupportedError(f"Invalid IPv4 prefix '{prefix}' in network '{net}'")
        elif ip.family == "ipv6":
            if address.version != 6:
                raise ConfigUnsupportedError(
                    f"Family 'ipv6' specified for non-IPv6 address '{ip.address}' in network '{net}'")
            if netmask is not None:
                raise ConfigUnsupportedError(
                    f"netmask not allowed for IPv6 address '{ip.address}' in network '{net}'")
            if prefix > 128:
                raise ConfigUnsupportedError(f"Invalid IPv6 prefix '{prefix}' in network '{net}'")
        else:
            raise XMLError(f"Unrecognized family '{ip.family}' in network '{net}'")
        ip.address = format_ip(address)
        if netmask is not None:
            ip.netmask = format_ip(netmask)
        if ip.prefix == 0:
            ip.prefix = None
        if ip.tftp is not None:
            if address.version != 4:
                raise ConfigUnsupportedError(f"Unsupported <tftp> element in an IPv6 element in network '{net}'")
            if not ip.tftp.root:
                ip.tftp = None
        if ip.dhcp is not None:
            self._check_dhcp(ip, address, ip_prefix(address, netmask, prefix))

    def _check_dhcp(self, ip: IP, address: IPAddress, prefix: int) -> None:
        net = self.name
        dhcp = ip.dhcp
        assert dhcp is not None
        for r in dhcp.ranges:
            if r.start is None:
                raise XMLError(f"Missing 'start' attribute in dhcp range for network '{net}'")
            start = _socket_addr(r.start)
            if r.end is None:
                raise XMLError(f"Missing 'end' attribute in dhcp range for network '{net}'")
            end = _socket_addr(r.end)
            check_range(start, end, address, prefix)
            r.start, r.end = format_ip(start), format_ip(end)
            _check_lease(r)
        for h in dhcp.hosts:
            if h.mac is not None:
                if address.version == 6:
                    raise XMLError(f"Invalid to specify MAC address '{h.mac}' in network '{net}' IPv6 static host "
                                   "definition")
                try:
                    mac = MAC.parse(h.mac)
                except ValueError:
                    raise XMLError(f"Cannot parse MAC address '{h.mac}' in network '{net}'") from None
                if is_multicast_mac(mac):
                    raise XMLError(f"expected unicast mac address, found multicast '{h.mac}' in network '{net}'")
            if h.id is not None:
                bad = next((c for c in h.id if c not in "0123456789abcdefABCDEF:"), None)
                if bad is not None:
                    raise XMLError(f"Invalid character '{bad}' in id '{h.id}' of network '{net}'")
            if h.name is not None and not (h.name[:1].isascii() and h.name[:1].isalnum()):
                raise XMLError(f"Cannot use host name '{h.name}' in network '{net}'")
            if h.ip is not None:
                try:
                    h.ip = format_ip(parse_ip(h.ip))
                except ValueError:
                    raise XMLError(f"Invalid IP address in static host definition for network '{net}'") from None
            if address.version == 6:
                if h.id is None and h.name is None:
                    raise XMLError(f"Static host definition in IPv6 network '{net}' must have id or name attribute")
            elif h.mac is None and h.name is None:
                raise XMLError(f"Static host definition in IPv4 network '{net}' must have mac or name attribute")
            if h.ip is None:
                raise XMLError(f"Missing IP address in static host definition for network '{net}'")
            _check_lease(h)
        if dhcp.bootp is not None:
            if address.version != 4:
                dhcp.bootp = None  # libvirt only reads <bootp> of IPv4 addresses
            else:
                if dhcp.bootp.file is None:
                    dhcp.bootp = None  # libvirt skips a <bootp> without file
                elif dhcp.bootp.server is not None:
                    dhcp.bootp.server = format_ip(_socket_addr(dhcp.bootp.server))

    def _check_routes(self) -> None:
        for r in self.routes:
            gateway = parse_ip(r.gateway)
            for ip in self.ips:
                addr = parse_ip(ip.address)
                if addr.version != gateway.version:
                    continue
                if same_network(addr, gateway, ip_prefix(addr, parse_ip(ip.netmask) if ip.netmask else None,
                                                         ip.prefix)):
                    break
            else:
                raise ConfigUnsupportedError(
                    f"unreachable static route gateway '{r.gateway}' specified for network '{self.name}'")

    def _check_forward_mode(self) -> None:
        mode = self.forward_mode
        net = self.name
        fwd = self.forward
        nifs = len(fwd.interfaces) + len(fwd.addresses) if fwd else 0
        npfs = len(fwd.pfs) if fwd else 0
        b = self.bridge or Bridge()
        if mode in ("route", "nat", "open"):
            if not self.ips:
                raise XMLError(f"{mode} forwarding requested, but no IP address provided for network '{net}'")
            if nifs > 1:
                raise XMLError(f"multiple forwarding interfaces specified for network '{net}', only one is supported")
            if mode == "open" and nifs:
                raise XMLError(f"forward dev not allowed for network '{net}' with forward mode='{mode}'")
        elif mode != "none":
            if mode != "bridge":
                if b.name:
                    raise XMLError(f"bridge name not allowed in {mode} mode (network '{net}')")
                if b.zone:
                    raise XMLError(f"bridge zone not allowed in {mode} mode (network '{net}')")
                if b.macTableManager:
                    raise XMLError(f"bridge macTableManager setting not allowed in {mode} mode (network '{net}')")
            if c_unsigned(b.delay, 64) or b.stp is not None or b.zone:
                raise XMLError(f"bridge delay/stp/zone options only allowed in route, nat, and isolated mode, not in "
                               f"{mode} (network '{net}')")
            if b.name and (nifs or npfs):
                raise XMLError(f"A network with forward mode='{mode}' can specify a bridge name or a forward dev, "
                               f"but not both (network '{net}')")
        if self.mtu is not None and mode not in L3_MODES:
            raise XMLError(f"mtu size only allowed in open, route, nat, and isolated mode, not in {mode} "
                           f"(network '{net}')")
        # what libvirt prints back: stp/delay only where libvirt runs the bridge
        if mode in L3_MODES:
            stp = b.stp is None or b.stp != "off"
            self.bridge = Bridge(name=b.name, zone=b.zone, stp="on" if stp else "off",
                                 delay=str(c_unsigned(b.delay, 64) or 0), macTableManager=b.macTableManager)
        elif b.name or b.macTableManager:
            self.bridge = Bridge(name=b.name, zone=b.zone, macTableManager=b.macTableManager)
        else:
            self.bridge = None

    # -- formatting ----------------------------------------------------------------------------
    def format_extra(self, w: Writer) -> None:
        if self.dnsmasq_options:
            mark_tag = "dnsmasq:options"
            w.start(mark_tag, [])
            mark = w.mark()
            for value in self.dnsmasq_options:
                w.leaf("dnsmasq:option", [("value", value)], None)
            w.end(mark_tag, None, mark)

    def write(self, w: Writer, tag: str | None = None) -> None:
        self.NSMAP = {"dnsmasq": DNSMASQ_NS} if self.dnsmasq_options else {}  # type: ignore[misc]
        super().write(w, tag)

    # -- typed views for drivers ---------------------------------------------------------------
    @property
    def forward_mode(self) -> str:
        """The forward mode; 'none' for an isolated network."""
        return self.forward.mode if self.forward is not None and self.forward.mode else "none"

    def bridge_name(self) -> str | None:
        """The bridge device name as configured (may be a 'virbr%d' template, or None: pick one)."""
        return self.bridge.name if self.bridge is not None else None

    @property
    def stp(self) -> bool:
        return self.bridge is None or self.bridge.stp != "off"

    @property
    def stp_delay(self) -> int:
        return int(self.bridge.delay) if self.bridge is not None and self.bridge.delay else 0

    @property
    def mtu_size(self) -> int | None:
        return int(self.mtu.size) if self.mtu is not None and self.mtu.size else None

    @property
    def mac_address(self) -> str | None:
        return self.mac.address if self.mac is not None else None

    @property
    def domain_name(self) -> str | None:
        return self.domain.name if self.domain is not None else None

    @property
    def ipv6_nogw(self) -> bool:
        """<network ipv6='yes'>: guest-to-guest IPv6 without a host IPv6 address."""
        return self.ipv6 == "yes"

    def ips_by_family(self, version: int) -> list[IP]:
        """The <ip> elements of one address family (4 or 6), in document order."""
        return [ip for ip in self.ips if parse_ip(ip.address).version == version]

    @property
    def ipv4(self) -> list[IP]:
        return self.ips_by_family(4)

    @property
    def ipv6_ips(self) -> list[IP]:
        return self.ips_by_family(6)

    def dhcp_ip(self, version: int) -> IP | None:
        """The one <ip> of a family that carries DHCP ranges or hosts (libvirt allows one a family)."""
        return next((ip for ip in self.ips_by_family(version) if ip.has_dhcp), None)

    def portgroup(self, name: str | None = None) -> PortGroup | None:
        """The portgroup of that name, or the default one when name is None."""
        for pg in self.portgroups:
            if (pg.name == name) if name is not None else pg.is_default:
                return pg
        return None

    def validate_for_define(self) -> None:
        """The network driver's extra define-time rules (libvirt's networkValidate), without host probing."""
        mode = self.forward_mode
        net = self.name
        if "\n" in self.name:
            raise XMLError("invalid char in name: \\n")
        bandwidth_allowed = mode in L3_MODES or (mode == "bridge" and bool(self.bridge_name()))
        if mode not in L3_MODES:
            for what, present in (("<mac>", self.mac is not None), ("<ip>", bool(self.ips)),
                                  ("<dns>", bool(self.dns and (self.dns.txts or self.dns.hosts or self.dns.srvs))),
                                  ("<domain>", self.domain is not None)):
                if present:
                    raise ConfigUnsupportedError(
                        f"Unsupported {what} element in network {net} with forward mode='{mode}'")
        if self.bandwidth is not None and not bandwidth_allowed:
            raise ConfigUnsupportedError(
                f"Unsupported network-wide <bandwidth> element in network {net} with forward mode='{mode}'")
        fwd = self.forward
        if fwd is not None:
            if mode == "hostdev" and fwd.interfaces:
                raise ConfigUnsupportedError(
                    f"hostdev network '{net}' lists '{fwd.interfaces[0].dev}' in the device pool, but hostdev "
                    "networks require all devices to be listed by PCI address, not network device name")
            if fwd.addresses and mode != "hostdev":
                raise ConfigUnsupportedError(
                    f"network '{net}' has forward mode '{mode}' but lists a device by PCI address in the device "
                    "pool. This is only supported for networks with forward mode 'hostdev'")
        for version in (4, 6):
            if sum(1 for ip in self.ips_by_family(version) if ip.has_dhcp) > 1:
                name = "IPv4" if version == 4 else "IPv6"
                raise ConfigUnsupportedError(f"Multiple {name} dhcp sections found -- dhcp is supported only for a "
                                             f"single {name} address on each network")
        default = None
        seen: set[str] = set()
        for pg in self.portgroups:
            if pg.is_default:
                if default is not None:
                    raise ConfigUnsupportedError(
                        f"network '{net}' has multiple default <portgroup> elements ({default} and {pg.name}), but "
                        "only one default is allowed")
                default = pg.name
            if pg.name in seen:
                raise ConfigUnsupportedError(
                    f"multiple <portgroup> elements with the same name ({pg.name}) in network '{net}'")
            seen.add(pg.name)
            if pg.bandwidth is not None and not bandwidth_allowed:
                raise ConfigUnsupportedError(
                    f"Unsupported <bandwidth> element in network '{net}' in portgroup '{pg.name}' with forward "
                    f"mode='{mode}'")


def _unread_pool_entries(el: etree._Element) -> list[etree._Element]:
    """The <forward> children libvirt never reads (so nothing in them can be an error).

    A device pool is the <interface> list, else the PCI <address> list, else the <pf> (with dev=,
    libvirt first refuses any <address> or <pf>: those are kept for that check).
    """
    unread: list[etree._Element] = []
    for fwd in ([el] if el.tag == "forward" else list(el.iterfind("forward"))):
        if fwd.get("dev"):
            continue
        if fwd.find("interface") is not None:
            unread += fwd.findall("address") + fwd.findall("pf")
        elif fwd.find("address") is not None:
            unread += fwd.findall("pf")
    return unread


def _socket_addr(text: str) -> IPAddress:
    try:
        return parse_ip(text)
    except ValueError:
        raise XMLError(f"Cannot parse socket address '{text}'") from None


def _check_lease(owner: DHCPRange | DHCPHost) -> None:
    lease = owner.lease
    if lease is None:
        return
    if lease.expiry is None:
        owner.lease = None
        return
    unit = lease.unit or "minutes"
    if lease.expiry > 0 and ((unit == "seconds" and lease.expiry < 120) or (unit == "minutes" and lease.expiry < 2)):
        raise ConfigUnsupportedError("The minimum lease time should be greater than 2 minutes")
    lease.unit = unit if lease.expiry else None


_SERVICE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+/*")
_PROTOCOL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-+/")


def _check_srv(srv: DNSSrv, net: str) -> None:
    if srv.service is None:
        raise XMLError(f"missing required service attribute in DNS SRV record of network '{net}'", code=35)
    if len(srv.service) > 15:
        raise XMLError(f"service attribute '{srv.service}' in network '{net}' is too long, limit is 15 bytes",
                       code=35)
    if not set(srv.service) <= _SERVICE_CHARS:
        raise XMLError(f"invalid character in service attribute '{srv.service}' in DNS SRV record of network "
                       f"'{net}'", code=35)
    if srv.protocol is None:
        raise XMLError(f"missing required protocol attribute in DNS SRV record '{srv.service}' of network '{net}'",
                       code=35)
    if not set(srv.protocol) <= _PROTOCOL_CHARS:
        raise XMLError(f"invalid character in protocol attribute '{srv.protocol}' in DNS SRV record of network "
                       f"'{net}'", code=35)
    for attr, limit, word in (("port", 65535, "invalid DNS SRV port"), ("priority", 65535, "Invalid DNS SRV priority"),
                              ("weight", 65535, "invalid DNS SRV weight")):
        text = getattr(srv, attr)
        if text is None:
            continue
        if srv.target is None:
            raise XMLError(f"DNS SRV {attr} attribute not permitted without target for service '{srv.service}' in "
                           f"network '{net}'", code=35)
        value = c_unsigned(text)
        if value is None or value > limit or (attr == "port" and value < 1):
            raise XMLError(f"{word} attribute for service '{srv.service}' in network '{net}'", code=35)
        setattr(srv, attr, str(value) if value else None)


def _sanitize_metadata(md: etree._Element) -> etree._Element:
    """Keep only namespaced children of <metadata>, the first one of each namespace (as libvirt does)."""
    copy = etree.fromstring(etree.tostring(md))
    seen: set[str] = set()
    for child in list(copy):
        if not isinstance(child.tag, str):
            continue
        ns = etree.QName(child).namespace
        if ns is None or ns in seen:
            copy.remove(child)
            continue
        seen.add(ns)
    return copy
