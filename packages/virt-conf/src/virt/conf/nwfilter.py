"""Network filter XML (<filter>) and filter bindings (<filterbinding>).

The protocol elements of a rule (<tcp>, <mac>, <stp>, ...) have dozens of attributes, each accepting
one or more value kinds (decimal, hex, MAC, IP mask, a $variable, ...). They are described once, as
data, in ``PROTOCOLS``; ``MatchElement`` parses and prints any of them from that description.
"""

from __future__ import annotations

import re
import uuid as _uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lxml import etree
from virt.conf.network import c_unsigned, format_ip, netmask_prefix, parse_ip
from virt.conf.xmlmodel import (
    MAC,
    UUID,
    Attr,
    Child,
    Children,
    Mixed,
    Model,
    ParseContext,
    String,
    TextChild,
    Writer,
    keep_first_children,
)
from virt.util.errors import (
    ConfigUnsupportedError,
    InternalError,
    InvalidArgError,
    XMLError,
)

# ----------------------------------------------------------------------------- value kinds

# The kinds an attribute may hold, tried in this order (libvirt's attrDatatype bit order).
U16, U8, U16X, U8X, MACADDR, MACMASK, IPADDR, IPMASK, STRING, IP6ADDR, IP6MASK, STRINGCOPY, BOOLEAN, U32, U32X, \
    IPSETNAME, IPSETFLAGS = range(17)

MAX_COMMENT_LENGTH = 256
VALID_VARNAME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
VALID_VARVALUE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:")
VALID_IPSETNAME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-+ ")
VALID_CHAINNAME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-")
MAX_CHAIN_SUFFIX_SIZE = 20
MAX_ITERID = 1000

CHAIN_SUFFIXES = ("root", "mac", "vlan", "stp", "arp", "rarp", "ipv4", "ipv6")
#: Default priorities of the chains libvirt knows; other chains get 0.
CHAIN_PRIORITIES = {"root": 0, "mac": -800, "vlan": -750, "ipv4": -700, "ipv6": -600, "arp": -500, "rarp": -400}
MIN_PRIORITY, MAX_PRIORITY = -1000, 1000

RULE_ACTIONS = ("drop", "accept", "reject", "return", "continue")
RULE_DIRECTIONS = ("in", "out", "inout")

MAC_PROTOCOLS = {0x0806: "arp", 0x8035: "rarp", 0x0800: "ipv4", 0x86DD: "ipv6", 0x8100: "vlan"}
IP_PROTOCOLS = {6: "tcp", 17: "udp", 136: "udplite", 50: "esp", 51: "ah", 1: "icmp", 2: "igmp", 132: "sctp",
                58: "icmpv6"}
ARP_OPCODES = {1: "Request", 2: "Reply", 3: "Request_Reverse", 4: "Reply_Reverse", 5: "DRARP_Request",
               6: "DRARP_Reply", 7: "DRARP_Error", 8: "InARP_Request", 9: "ARP_NAK"}
STATE_FLAGS = ("NEW", "ESTABLISHED", "RELATED", "INVALID", "NONE")
TCP_FLAGS = {"FIN": 0x1, "SYN": 0x2, "RST": 0x4, "PSH": 0x8, "ACK": 0x10, "URG": 0x20, "ALL": 0x3F, "NONE": 0x0}


@dataclass
class Value:
    """One parsed attribute of a protocol element."""

    kind: int
    value: Any
    negated: bool = False
    var: str | None = None  # "$NAME[...]" access text (without '$') when the value is a variable


def _int_parser(kind: int, limit: int) -> Callable[[str], Any]:
    base = 16 if kind in (U8X, U16X, U32X) else 10

    def parse(text: str) -> Any:
        value = c_unsigned(text, base=base)
        if value is None or value > limit:
            raise ValueError
        return value
    return parse


def _mac(text: str) -> str:
    return MAC.parse(text)


def _valid_mask(packed: bytes) -> bool:
    bits = "".join(f"{b:08b}" for b in packed)
    return "01" not in bits


def _macmask(text: str) -> str:
    mac = MAC.parse(text)
    if not _valid_mask(bytes(int(p, 16) for p in mac.split(":"))):
        raise ValueError
    return mac


def _ip(version: int) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        addr = parse_ip(text)
        if addr.version != version:
            raise ValueError
        return addr
    return parse


def _ipmask(version: int) -> Callable[[str], int]:
    limit = 32 if version == 4 else 128

    def parse(text: str) -> int:
        n = c_unsigned(text)
        if n is not None:
            if n > limit:
                raise ValueError
            return n
        addr = parse_ip(text)
        if addr.version != version:
            raise ValueError
        bits = netmask_prefix(addr)
        if bits < 0:
            raise ValueError
        return bits
    return parse


def _boolean(text: str) -> bool:
    return text in ("true", "1", "yes")


def _copy(text: str) -> str:
    return text[:MAX_COMMENT_LENGTH]


def _reject(text: str) -> Any:
    raise ValueError  # a STRING kind without a validator is not supported


KIND_PARSERS: dict[int, Callable[[str], Any]] = {
    U8: _int_parser(U8, 0xFF), U8X: _int_parser(U8X, 0xFF),
    U16: _int_parser(U16, 0xFFFF), U16X: _int_parser(U16X, 0xFFFF),
    U32: _int_parser(U32, 2**32 - 1), U32X: _int_parser(U32X, 2**32 - 1),
    MACADDR: _mac, MACMASK: _macmask, IPADDR: _ip(4), IPMASK: _ipmask(4), IP6ADDR: _ip(6), IP6MASK: _ipmask(6),
    STRING: lambda t: t, IPSETNAME: lambda t: t, IPSETFLAGS: lambda t: t, STRINGCOPY: _copy, BOOLEAN: _boolean,
}


# -- validators: (kind, value) -> (kind, value) or raise ValueError -------------------------------

def _named_number(names: dict[int, str], minimum: int, string_kind: int) -> Callable[[int, Any], tuple[int, Any]]:
    by_name = {v.lower(): k for k, v in names.items()}

    def check(kind: int, value: Any) -> tuple[int, Any]:
        if kind == STRING:
            number = by_name.get(value.lower())
            if number is None:
                raise ValueError
            return string_kind, number
        if value < minimum:
            raise ValueError
        return kind, value
    return check


def _check_vlanid(kind: int, value: Any) -> tuple[int, Any]:
    if value > 4095:
        raise ValueError
    return kind, value


def _check_dscp(kind: int, value: Any) -> tuple[int, Any]:
    if value > 63:
        raise ValueError
    return kind, value


def _parse_items(names: tuple[str, ...] | list[str], text: str, sep: str) -> list[str] | None:
    """parseStringItems: case-insensitive prefix matches separated by sep or blanks."""
    found: list[str] = []
    i = 0
    while i < len(text):
        while i < len(text) and (text[i].isspace() or text[i] == sep):
            i += 1
        if i >= len(text):
            break
        for name in names:
            if text[i:i + len(name)].lower() == name.lower():
                found.append(name)
                i += len(name)
                break
        else:
            return None
    return found


def _check_state(kind: int, value: Any) -> tuple[int, Any]:
    items = _parse_items(STATE_FLAGS, value, ",")
    if items is None:
        raise ValueError
    flags = {STATE_FLAGS.index(i) for i in items}
    if STATE_FLAGS.index("NONE") in flags:
        flags = {STATE_FLAGS.index("NONE")}
    return kind, frozenset(flags)


def _check_tcpflags(kind: int, value: Any) -> tuple[int, Any]:
    if "/" not in value:
        raise ValueError
    s_mask, s_flags = value.split("/", 1)
    masks = []
    for part in (s_mask, s_flags):
        items = _parse_items(list(TCP_FLAGS), part, ",")
        if items is None:
            raise ValueError
        bits = 0
        for item in items:
            bits |= TCP_FLAGS[item]
        masks.append(bits & 0x3F)
    return kind, (masks[0], masks[1])


def _check_ipset(kind: int, value: Any) -> tuple[int, Any]:
    if len(value.encode()) >= 32:
        raise InvalidArgError("ipset name is too long")
    if not set(value) <= VALID_IPSETNAME:
        raise InvalidArgError("ipset name contains invalid characters")
    return kind, value


def _check_ipsetflags(kind: int, value: Any) -> tuple[int, Any]:
    flags: list[str] = []
    idx = 0
    while len(flags) < 6:
        word = value[idx:idx + 3].lower()
        if word not in ("src", "dst"):
            raise InvalidArgError("malformed ipset flags")
        flags.append(word)
        idx += 3
        if value[idx:idx + 1] != ",":
            break
        idx += 1
    if idx != len(value):
        raise InvalidArgError("malformed ipset flags")
    return kind, tuple(flags)


# -- formatters for the validated kinds ----------------------------------------------------------

def _fmt_named(names: dict[int, str], hex_kinds: tuple[int, ...]) -> Callable[[Value], str]:
    def fmt(v: Value) -> str:
        if v.value in names:
            return names[v.value]
        return f"0x{v.value:x}" if v.kind in hex_kinds else str(v.value)
    return fmt


def _fmt_state(v: Value) -> str:
    return ",".join(STATE_FLAGS[i] for i in sorted(v.value))


def _fmt_tcpflags(v: Value) -> str:
    def one(bits: int) -> str:
        if bits == 0:
            return "NONE"
        if bits == 0x3F:
            return "ALL"
        return ",".join(n for n, b in TCP_FLAGS.items() if b and b != 0x3F and bits & b)
    return f"{one(v.value[0])}/{one(v.value[1])}"


def _fmt_plain(v: Value) -> str:
    if v.kind in (U8X, U16X, U32X):
        return f"0x{v.value:x}"
    if v.kind in (IPADDR, IP6ADDR):
        return format_ip(v.value)
    if v.kind == BOOLEAN:
        return "true" if v.value else "false"
    if v.kind == IPSETFLAGS:
        return ",".join(v.value)
    return str(v.value)


@dataclass(frozen=True)
class AttrSpec:
    """One attribute of a protocol element: its name, accepted kinds and optional checks."""

    name: str
    kinds: tuple[int, ...]
    validator: Callable[[int, Any], tuple[int, Any]] | None = None
    formatter: Callable[[Value], str] | None = None


def A(name: str, *kinds: int, validator: Any = None, formatter: Any = None) -> AttrSpec:
    return AttrSpec(name, tuple(sorted(kinds)), validator, formatter)


COMMENT = A("comment", STRINGCOPY)
MAC_PROPS = (A("srcmacaddr", MACADDR), A("srcmacmask", MACMASK), A("dstmacaddr", MACADDR), A("dstmacmask", MACMASK))
PORT_PROPS = tuple(A(n, U16, U16X) for n in ("srcportstart", "srcportend", "dstportstart", "dstportend"))
DSCP = A("dscp", U8, U8X, validator=_check_dscp)


def ip_props(addr: int, mask: int) -> tuple[AttrSpec, ...]:
    return (
        A("srcmacaddr", MACADDR),
        A("srcipaddr", addr), A("srcipmask", mask), A("dstipaddr", addr), A("dstipmask", mask),
        A("srcipfrom", addr), A("srcipto", addr), A("dstipfrom", addr),
        A("dstipto", IPADDR),  # libvirt reads dstipto as IPv4 for every protocol
        DSCP,
        A("connlimit-above", U16),
        A("state", STRING, validator=_check_state, formatter=_fmt_state),
        A("ipset", IPSETNAME, validator=_check_ipset),
        A("ipsetflags", IPSETFLAGS, validator=_check_ipsetflags),
    )


IP4, IP6 = ip_props(IPADDR, IPMASK), ip_props(IP6ADDR, IP6MASK)
IP_PROTOCOL_ID = A("protocol", STRING, U8, U8X, validator=_named_number(IP_PROTOCOLS, 0, U8X),
                   formatter=_fmt_named(IP_PROTOCOLS, (U8X,)))
ARP = (*MAC_PROPS, A("hwtype", U16, U16X), A("protocoltype", U16, U16X),
       A("opcode", U16, U16X, STRING, validator=_named_number(ARP_OPCODES, 0, U16),
         formatter=lambda v: ARP_OPCODES.get(v.value, str(v.value))),
       A("arpsrcmacaddr", MACADDR), A("arpdstmacaddr", MACADDR), A("arpsrcipaddr", IPADDR),
       A("arpsrcipmask", IPMASK), A("arpdstipaddr", IPADDR), A("arpdstipmask", IPMASK),
       A("gratuitous", BOOLEAN), COMMENT)
STP_U16 = ("root-priority", "root-priority-hi")


def _stp() -> tuple[AttrSpec, ...]:
    def u16(n: str) -> AttrSpec:
        return A(n, U16, U16X)

    return (A("srcmacaddr", MACADDR), A("srcmacmask", MACMASK), A("type", U8, U8X), A("flags", U8, U8X),
            u16("root-priority"), u16("root-priority-hi"), A("root-address", MACADDR),
            A("root-address-mask", MACMASK), A("root-cost", U32, U32X), A("root-cost-hi", U32, U32X),
            u16("sender-priority"), u16("sender-priority-hi"), A("sender-address", MACADDR),
            A("sender-address-mask", MACMASK), u16("port"), u16("port-hi"), u16("age"), u16("age-hi"),
            u16("max-age"), u16("max-age-hi"), u16("hello-time"), u16("hello-time-hi"), u16("forward-delay"),
            u16("forward-delay-hi"), COMMENT)


ICMP_TYPE_CODE = (A("type", U8, U8X), A("code", U8, U8X))

#: Every protocol element a rule may hold, with its attributes in libvirt's output order.
PROTOCOLS: dict[str, tuple[AttrSpec, ...]] = {
    "arp": ARP,
    "rarp": ARP,
    "mac": (*MAC_PROPS, A("protocolid", U16, U16X, STRING, validator=_named_number(MAC_PROTOCOLS, 0x600, U16),
                          formatter=_fmt_named(MAC_PROTOCOLS, (U16X,))), COMMENT),
    "vlan": (*MAC_PROPS, A("vlanid", U16, U16X, validator=_check_vlanid),
             A("encap-protocol", U16, U16X, STRING, validator=_named_number(MAC_PROTOCOLS, 0x3C, U16),
               formatter=_fmt_named(MAC_PROTOCOLS, (U16X,))), COMMENT),
    "stp": _stp(),
    "ip": (*MAC_PROPS, A("srcipaddr", IPADDR), A("srcipmask", IPMASK), A("dstipaddr", IPADDR),
           A("dstipmask", IPMASK), IP_PROTOCOL_ID, *PORT_PROPS, DSCP, COMMENT),
    "ipv6": (*MAC_PROPS, A("srcipaddr", IP6ADDR), A("srcipmask", IP6MASK), A("dstipaddr", IP6ADDR),
             A("dstipmask", IP6MASK), IP_PROTOCOL_ID, *PORT_PROPS, A("type", U8, U8X), A("typeend", U8, U8X),
             A("code", U8, U8X), A("codeend", U8, U8X), COMMENT),
    "tcp": (*IP4, *PORT_PROPS, A("option", U8, U8X),
            A("flags", STRING, validator=_check_tcpflags, formatter=_fmt_tcpflags), COMMENT),
    "udp": (*IP4, *PORT_PROPS, COMMENT),
    "udplite": (*IP4, COMMENT),
    "esp": (*IP4, COMMENT),
    "ah": (*IP4, COMMENT),
    "sctp": (*IP4, *PORT_PROPS, COMMENT),
    "icmp": (*IP4, *ICMP_TYPE_CODE, COMMENT),
    "all": (*IP4, COMMENT),
    "igmp": (*IP4, COMMENT),
    "tcp-ipv6": (*IP6, *PORT_PROPS, A("option", U8, U8X), COMMENT),
    "udp-ipv6": (*IP6, *PORT_PROPS, COMMENT),
    "udplite-ipv6": (*IP6, COMMENT),
    "esp-ipv6": (*IP6, COMMENT),
    "ah-ipv6": (*IP6, COMMENT),
    "sctp-ipv6": (*IP6, *PORT_PROPS, COMMENT),
    "icmpv6": (*IP6, *ICMP_TYPE_CODE, COMMENT),
    "all-ipv6": (*IP6, COMMENT),
}

#: Attributes whose match='no' follows another attribute's (libvirt's fix-up after parsing).
_NEG_FOLLOWS_IP = (("srcipmask", "srcipaddr"), ("dstipmask", "dstipaddr"), ("srcipto", "srcipfrom"),
                   ("dstipto", "dstipfrom"))
_NEG_FOLLOWS_PORTS = (("srcportend", "srcportstart"), ("dstportstart", "srcportstart"),
                      ("dstportend", "srcportstart"))
NEG_FOLLOWS: dict[str, tuple[tuple[str, str], ...]] = {
    "mac": (("srcmacmask", "srcmacaddr"), ("dstmacmask", "dstmacaddr")),
    "vlan": (("srcmacmask", "srcmacaddr"), ("dstmacmask", "dstmacaddr")),
    "stp": (("srcmacmask", "srcmacaddr"), ("root-priority-hi", "root-priority"),
            ("root-address-mask", "root-address"), ("root-cost-hi", "root-cost"),
            ("sender-priority-hi", "sender-priority"), ("sender-address-mask", "sender-address"),
            ("port-hi", "port"), ("age-hi", "age"), ("max-age-hi", "max-age"), ("hello-time-hi", "hello-time"),
            ("forward-delay-hi", "forward-delay")),
    "ip": _NEG_FOLLOWS_IP[:2],
    "ipv6": (*_NEG_FOLLOWS_IP[:2], ("typeend", "type"), ("code", "type"), ("codeend", "type")),
    "icmp": (*_NEG_FOLLOWS_IP, ("code", "type")),
    "icmpv6": (*_NEG_FOLLOWS_IP, ("code", "type")),
}
for _p in ("tcp", "tcp-ipv6", "udp", "udp-ipv6", "sctp", "sctp-ipv6"):
    NEG_FOLLOWS[_p] = (*_NEG_FOLLOWS_IP, *_NEG_FOLLOWS_PORTS)
for _p in ("udplite", "udplite-ipv6", "esp", "esp-ipv6", "ah", "ah-ipv6", "all", "all-ipv6", "igmp"):
    NEG_FOLLOWS[_p] = _NEG_FOLLOWS_IP
#: Protocols whose ipset attributes libvirt normalizes after parsing (not 'all', 'all-ipv6', arp, ...).
IPSET_FIXUP = frozenset({"ip", "ipv6", "tcp", "tcp-ipv6", "udp", "udp-ipv6", "udplite", "udplite-ipv6", "esp",
                         "esp-ipv6", "ah", "ah-ipv6", "sctp", "sctp-ipv6", "icmp", "icmpv6", "igmp"})


_VAR_RE = re.compile(r"([A-Za-z0-9_]+)(?:\[(@?)([0-9]+)\])?")


def parse_var_access(text: str) -> str:
    """A '$NAME', '$NAME[index]' or '$NAME[@iterator]' reference, printed back the way libvirt does."""
    m = _VAR_RE.fullmatch(text)
    if not m:
        raise InvalidArgError(f"Malformatted variable '{text}'")
    name, at, number = m.groups()
    if number is None:
        return name
    n = int(number)
    if at:
        if n > MAX_ITERID:
            raise InvalidArgError(f"Iterator ID exceeds maximum ID of {MAX_ITERID}")
        return f"{name}[@{n}]" if n else name
    return f"{name}[{n}]"


# ----------------------------------------------------------------------------- rule elements

class MatchElement:
    """The protocol element of a rule (<tcp srcipaddr=... />), driven by its PROTOCOLS entry."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        self.values: dict[str, Value] = {}

    @property
    def specs(self) -> tuple[AttrSpec, ...]:
        return PROTOCOLS[self.protocol]

    def get(self, name: str) -> Any:
        v = self.values.get(name)
        return None if v is None else (f"${v.var}" if v.var is not None else v.value)

    def parse(self, el: etree._Element, ctx: ParseContext | None = None) -> None:
        negated = el.get("match") == "no"
        if ctx is not None:
            known = {spec.name for spec in self.specs} | {"match"}
            for key in map(str, el.attrib):
                if key not in known:
                    ctx.note_unknown(f"attribute '{key}' in element '{self.protocol}'", el)
        for spec in self.specs:
            text = el.get(spec.name)
            if text is None:
                continue
            self.values[spec.name] = self._parse_one(spec, text, negated)

    @staticmethod
    def _parse_one(spec: AttrSpec, text: str, negated: bool) -> Value:
        if text.startswith("$"):
            return Value(kind=-1, value=None, negated=negated, var=parse_var_access(text[1:]))
        for kind in spec.kinds:
            try:
                value = KIND_PARSERS[kind](text)
            except ValueError:
                continue
            if kind == STRING and spec.validator is None:
                break
            if spec.validator is not None:
                try:
                    kind, value = spec.validator(kind, value)
                except ValueError:
                    break
            return Value(kind=kind, value=value, negated=negated)
        raise InternalError(f"{spec.name} has illegal value {text}")

    def fixup(self) -> None:
        """libvirt's post-parse fix-ups: masks follow their address's match='no'; ipset flags default."""
        for follower, leader in NEG_FOLLOWS.get(self.protocol, ()):
            if follower in self.values and leader in self.values:
                self.values[follower].negated = self.values[leader].negated
            elif follower in self.values:
                self.values[follower].negated = False
        if self.protocol in IPSET_FIXUP:
            if "ipset" in self.values and "ipsetflags" not in self.values:
                self.values["ipsetflags"] = Value(kind=IPSETFLAGS, value=("src",))
            else:
                self.values.pop("ipset", None)
                self.values.pop("ipsetflags", None)

    def validate(self) -> None:
        if self.protocol not in ("ip", "ipv6"):
            return
        if any(n in self.values for n in ("srcportstart", "dstportstart", "srcportend", "dstportend")):
            proto = self.values.get("protocol")
            if proto is None or proto.var is not None or proto.value not in (6, 17, 33, 132):
                name = "IP" if self.protocol == "ip" else "IPv6"
                raise InternalError(f"{name} rule with port specification requires protocol specification with "
                                    "protocol to be either one of tcp(6), udp(17), dccp(33), or sctp(132)")

    def format_value(self, spec: AttrSpec, v: Value) -> str:
        if v.var is not None:
            return "$" + v.var
        if spec.formatter is not None:
            return spec.formatter(v)
        return _fmt_plain(v)

    def write(self, w: Writer) -> None:
        # one element per run of equally negated attributes, as libvirt prints them
        groups: list[tuple[bool, list[tuple[str, str]]]] = []
        for spec in self.specs:
            v = self.values.get(spec.name)
            if v is None:
                continue
            if not groups or groups[-1][0] != v.negated:
                groups.append((v.negated, []))
            groups[-1][1].append((spec.name, self.format_value(spec, v)))
        if not groups:
            w.leaf(self.protocol, [], None)
        for negated, attrs in groups:
            w.leaf(self.protocol, ([("match", "no")] if negated else []) + attrs, None)


class Rule(Model):
    """<rule action direction priority>: one firewall rule with its protocol element."""

    TAG = "rule"
    action = Attr(String)
    direction = Attr(String)
    priority = Attr(String)
    statematch = Attr(String)

    match: MatchElement | None

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        self.match = None
        for child in el:
            if not isinstance(child.tag, str) or child.tag not in PROTOCOLS:
                continue
            if self.match is None:
                self.match = MatchElement(child.tag)
            elif child.tag != self.match.protocol:
                continue  # libvirt only reads further elements of the first protocol
            self.match.parse(child, ctx)
            self.match.validate()
        if self.match is not None:
            self.match.fixup()
        return set(PROTOCOLS)

    def post_parse(self, ctx: ParseContext) -> None:
        if not hasattr(self, "match"):
            self.match = None
        if self.action is None:
            raise InternalError("rule node requires action attribute")
        if self.action not in RULE_ACTIONS:
            raise ConfigUnsupportedError("unknown rule action attribute value")
        if self.direction is None:
            raise InternalError("rule node requires direction attribute")
        if self.direction not in RULE_DIRECTIONS:
            raise ConfigUnsupportedError("unknown rule direction attribute value")
        priority = 500
        if self.priority is not None:
            try:
                p = int(self.priority, 10)
                if MIN_PRIORITY <= p <= MAX_PRIORITY:
                    priority = p
            except ValueError:
                pass
        self.priority = str(priority)
        s = self.statematch
        self.statematch = "false" if s is not None and (s == "0" or s.lower() == "false") else None

    def format_extra(self, w: Writer) -> None:
        if self.match is not None:
            self.match.write(w)

    @property
    def protocol(self) -> str | None:
        return self.match.protocol if self.match is not None else None


class Parameter(Model):
    TAG = "parameter"
    name = Attr(String)
    value = Attr(String)


class FilterRef(Model):
    """<filterref filter=...>: include another filter, with variable values passed to it."""

    TAG = "filterref"
    filter = Attr(String)
    parameters = Children(Parameter)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.filter is None:
            raise InternalError("rule node requires action attribute")
        # libvirt keeps parameters in a table by name (printed sorted), each with its list of values
        table: dict[str, list[str]] = {}
        for p in self.parameters:
            if p.name is None or not p.value:  # (a name may be '', a value may not)
                continue
            if not set(p.name) <= VALID_VARNAME or not set(p.value) <= VALID_VARVALUE:
                continue
            table.setdefault(p.name, []).append(p.value)
        self.parameters = [Parameter(name=n, value=v) for n in sorted(table) for v in table[n]]

    @property
    def params(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for p in self.parameters:
            out.setdefault(p.name, []).append(p.value)
        return out


#: Filter children libvirt reads once (the first).
FIRST_ONLY = frozenset({("filter", "uuid")})


class NWFilter(Model):
    """A network filter: a named chain of rules and references to other filters."""

    TAG = "filter"
    name = Attr(String)
    chain = Attr(String)
    priority = Attr(String)
    uuid = TextChild(UUID)
    entries = Mixed(Rule, FilterRef)

    @classmethod
    def from_element(cls, el: etree._Element, ctx: ParseContext | None = None) -> NWFilter:
        nwfilter: NWFilter = super().from_element(keep_first_children(el, FIRST_ONLY), ctx)
        return nwfilter

    def post_parse(self, ctx: ParseContext) -> None:
        # name, chain and priority are read as XPath strings: '' is no value
        if not self.name:
            raise InternalError("filter has no name")
        chain_priority = None
        if self.priority == "":
            self.priority = None
        if self.chain == "":
            self.chain = None
        if self.priority is not None:
            try:
                chain_priority = int(self.priority, 10)
            except ValueError:
                raise InvalidArgError(f"Could not parse chain priority '{self.priority}'") from None
            if not MIN_PRIORITY <= chain_priority <= MAX_PRIORITY:
                raise InvalidArgError(f"Priority '{chain_priority}' is outside valid range of "
                                      f"[{MIN_PRIORITY},{MAX_PRIORITY}]")
        priority = 0
        if self.chain is not None:
            prefix = allowed_chain(self.chain)
            priority = chain_priority if chain_priority is not None else CHAIN_PRIORITIES.get(prefix, 0)
        else:
            self.chain = "root"
        self.priority = str(priority) if priority else None
        if self.uuid is None:
            self.uuid = str(_uuid.uuid4())

    @property
    def rules(self) -> list[Rule]:
        return [e for e in self.entries if isinstance(e, Rule)]

    @property
    def filterrefs(self) -> list[FilterRef]:
        return [e for e in self.entries if isinstance(e, FilterRef)]

    @property
    def chain_priority(self) -> int:
        return int(self.priority) if self.priority else 0


def allowed_chain(chain: str) -> str:
    """The chain suffix a chain name starts with; 'root' only as the whole name."""
    if len(chain) > MAX_CHAIN_SUFFIX_SIZE:
        raise InvalidArgError(f"Name of chain is longer than {MAX_CHAIN_SUFFIX_SIZE} characters")
    if not set(chain) <= VALID_CHAINNAME:
        raise InvalidArgError("Chain name contains invalid characters")
    if chain == "root":
        return "root"
    if not chain.startswith("root"):
        for suffix in CHAIN_SUFFIXES[1:]:
            if chain.startswith(suffix):
                return suffix
    raise InvalidArgError(f"Invalid chain name '{chain}'. Please use a chain name called 'root' or any of the "
                          f"following prefixes: {', '.join(CHAIN_SUFFIXES[1:])}")


# ----------------------------------------------------------------------------- <filterbinding>

class BindingOwner(Model):
    TAG = "owner"
    name = TextChild(String)
    uuid = TextChild(UUID)


class BindingPortDev(Model):
    TAG = "portdev"
    name = Attr(String)


class BindingLinkDev(Model):
    TAG = "linkdev"
    name = Attr(String)


class BindingMAC(Model):
    TAG = "mac"
    address = Attr(String)


class BindingFilterRef(FilterRef):
    TAG = "filterref"


class NWFilterBinding(Model):
    """<filterbinding>: a filter instantiated on one domain interface."""

    TAG = "filterbinding"
    owner = Child(BindingOwner)
    portdev = Child(BindingPortDev)
    linkdev = Child(BindingLinkDev)
    mac = Child(BindingMAC)
    filterref = Child(BindingFilterRef)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.owner is None or not self.owner.name:
            raise XMLError("owner name must be specified")
        if self.owner.uuid is None:
            raise XMLError("owner UUID must be specified")
        if self.portdev is None or not self.portdev.name:
            raise XMLError("filter binding has no port dev name")
        if self.linkdev is not None and not self.linkdev.name:
            self.linkdev = None
        if self.mac is None or not self.mac.address:
            raise XMLError("filter binding has no MAC address")
        try:
            self.mac.address = MAC.parse(self.mac.address)
        except ValueError:
            raise XMLError(f"unable to parse MAC '{self.mac.address}'") from None
        if self.filterref is None:
            raise XMLError("filter binding has no filter reference")
