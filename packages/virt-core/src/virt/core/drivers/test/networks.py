"""Virtual networks of the mock host: define/create/destroy/undefine, autostart, update, leases."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from virt.core.drivers.test.base import (
    Calls,
    check_unique,
    filter_objects,
    pair,
    parse_doc,
)
from virt.core.drivers.test.errors import error, internal, operation_invalid
from virt.core.drivers.test.state import NetworkObj
from virt.core.enums import ConnectListAllNetworksFlags as LF
from virt.core.enums import NetworkEventID
from virt.core.enums import NetworkEventLifecycleType as Ev
from virt.core.enums import NetworkUpdateCommand as Cmd
from virt.core.enums import NetworkUpdateFlags as UF
from virt.core.enums import NetworkUpdateSection as Sec
from virt.core.types import NetworkDHCPLease, NetworkRef
from virt.util.errors import ErrorDomain, not_found
from virt.util.errors import ErrorNumber as E

NET = ErrorDomain.NETWORK

_FILTERS = (
    pair(LF.ACTIVE, LF.INACTIVE, lambda n: n.active),
    pair(LF.PERSISTENT, LF.TRANSIENT, lambda n: n.persistent),
    pair(LF.AUTOSTART, LF.NO_AUTOSTART, lambda n: n.autostart),
)


def _ref(obj: NetworkObj) -> NetworkRef:
    return NetworkRef(obj.name, obj.uuid)


class NetworkCalls(Calls):
    FLAGS: ClassVar[dict[str, int]] = {"connect_list_all_networks": sum(LF), "network_create_xml_flags": 0,
             "network_define_xml_flags": 1, "network_get_xml_desc": 0,
             "network_update": UF.LIVE | UF.CONFIG, "network_get_dhcp_leases": 0}

    # -- lookups -----------------------------------------------------------------------------
    def _net_by_name(self, name: str) -> NetworkObj:
        for obj in self.state.networks.values():
            if obj.name == name:
                return obj
        raise not_found(E.NO_NETWORK, f"no network with matching name '{name}'", ErrorDomain.TEST)

    def _net_by_uuid(self, uuid: str) -> NetworkObj:
        obj = self.state.networks.get(uuid)
        if obj is None:
            raise not_found(E.NO_NETWORK, f"no network with matching uuid '{uuid}'", ErrorDomain.TEST)
        return obj

    def network_lookup_by_name(self, name: str) -> NetworkRef:
        return _ref(self._net_by_name(name))

    def network_lookup_by_uuid(self, uuid: str) -> NetworkRef:
        return _ref(self._net_by_uuid(uuid))

    # -- lists -------------------------------------------------------------------------------
    def connect_num_of_networks(self) -> int:
        return sum(1 for n in self.state.networks.values() if n.active)

    def connect_list_networks(self, maxnames: int = -1) -> list[str]:
        names = [n.name for n in self.state.networks.values() if n.active]
        return names if maxnames < 0 else names[:maxnames]

    def connect_num_of_defined_networks(self) -> int:
        return sum(1 for n in self.state.networks.values() if not n.active)

    def connect_list_defined_networks(self, maxnames: int = -1) -> list[str]:
        names = [n.name for n in self.state.networks.values() if not n.active]
        return names if maxnames < 0 else names[:maxnames]

    def connect_list_all_networks(self, flags: int = 0) -> list[NetworkRef]:
        return [_ref(n) for n in filter_objects(self.state.networks.values(), flags, _FILTERS)]

    # -- life cycle --------------------------------------------------------------------------
    def _emit_net(self, obj: NetworkObj, event: int) -> None:
        self.state.emit("network", NetworkEventID.LIFECYCLE, _ref(obj), int(event), 0)

    def _assign(self, xml: str, live: bool) -> NetworkObj:
        defn = parse_doc(xml, "network", NET)
        obj = check_unique(self.state.networks.values(), defn.name, defn.uuid, "network", NET)
        if obj is None:
            obj = NetworkObj(defn, defn.uuid, defn.name, persistent=not live)
            self.state.networks[obj.uuid] = obj
        elif live:
            if obj.active:
                raise operation_invalid(f"network is already active as '{obj.name}'", NET)
            obj.defn = defn
        elif obj.active:
            obj.new_def = defn  # kept aside: libvirt's test driver never applies it
            obj.persistent = True
        else:
            obj.defn, obj.persistent = defn, True
        return obj

    def network_create_xml(self, xml: str) -> NetworkRef:
        return self.network_create_xml_flags(xml, 0)

    def network_create_xml_flags(self, xml: str, flags: int = 0) -> NetworkRef:
        obj = self._assign(xml, live=True)
        obj.active = True
        self._emit_net(obj, Ev.STARTED)
        return _ref(obj)

    def network_define_xml(self, xml: str) -> NetworkRef:
        return self.network_define_xml_flags(xml, 0)

    def network_define_xml_flags(self, xml: str, flags: int = 0) -> NetworkRef:
        obj = self._assign(xml, live=False)
        self._emit_net(obj, Ev.DEFINED)
        return _ref(obj)

    def network_undefine(self, net: NetworkRef) -> None:
        obj = self._net_by_name(net.name)
        if obj.active:
            raise operation_invalid(f"Network '{obj.name}' is still running")
        self._emit_net(obj, Ev.UNDEFINED)
        del self.state.networks[obj.uuid]

    def network_create(self, net: NetworkRef) -> None:
        obj = self._net_by_name(net.name)
        if obj.active:
            raise operation_invalid(f"Network '{obj.name}' is already running")
        obj.active = True
        self._emit_net(obj, Ev.STARTED)

    def network_destroy(self, net: NetworkRef) -> None:
        obj = self._net_by_name(net.name)
        obj.active = False
        self._emit_net(obj, Ev.STOPPED)
        if not obj.persistent:
            del self.state.networks[obj.uuid]

    # -- properties --------------------------------------------------------------------------
    def network_get_xml_desc(self, net: NetworkRef, flags: int = 0) -> str:
        return str(self._net_by_name(net.name).defn.format())

    def network_get_bridge_name(self, net: NetworkRef) -> str:
        obj = self._net_by_name(net.name)
        bridge = obj.defn.bridge.name if obj.defn.bridge is not None else None
        if not bridge:
            raise internal(f"network '{obj.name}' does not have a bridge name.")
        return str(bridge)

    def network_get_autostart(self, net: NetworkRef) -> int:
        return int(self._net_by_name(net.name).autostart)

    def network_set_autostart(self, net: NetworkRef, autostart: int) -> None:
        self._net_by_name(net.name).autostart = bool(autostart)

    def network_is_active(self, net: NetworkRef) -> int:
        return int(self._net_by_uuid(net.uuid).active)

    def network_is_persistent(self, net: NetworkRef) -> int:
        return int(self._net_by_uuid(net.uuid).persistent)

    def network_get_dhcp_leases(self, net: NetworkRef, mac: str | None = None,
                                flags: int = 0) -> list[NetworkDHCPLease]:
        """The mock host runs no DHCP server, so no network has leases (libvirt's test driver
        does not implement this call)."""
        self._net_by_name(net.name)
        return []

    # -- virNetworkUpdate --------------------------------------------------------------------
    def network_update(self, net: NetworkRef, command: int, section: int, parent_index: int, xml: str,
                       flags: int = 0) -> None:
        obj = self._net_by_uuid(net.uuid)
        if not flags & (UF.LIVE | UF.CONFIG):
            flags |= UF.LIVE if obj.active else UF.CONFIG
        targets = []
        if flags & UF.CONFIG:
            if not obj.persistent:
                raise operation_invalid("cannot change persistent config of a transient network", NET)
            if obj.active and obj.new_def is None:
                obj.new_def = obj.defn.copy()
            targets.append("new_def" if obj.new_def is not None else "defn")
        if flags & UF.LIVE:
            if not obj.active:
                raise operation_invalid("network is not running", NET)
            targets.append("defn")
        for attr in targets:
            updated = getattr(obj, attr).copy()  # all or nothing: edit a copy
            update_section(updated, command, section, parent_index, xml)
            setattr(obj, attr, updated)


# ----------------------------------------------------------------------------- update sections

def _unsupported(detail: str) -> Exception:
    return error(E.OPERATION_UNSUPPORTED, detail, NET)


def _invalid(detail: str) -> Exception:
    return operation_invalid(detail, NET)


@dataclass(frozen=True)
class Section:
    """How one virNetworkUpdateSection edits a list of the definition.

    ``items(defn, parent_index)`` returns the list to edit (creating parents as needed);
    ``same(a, b)`` decides duplicates on add and the entry a modify replaces; ``matches(pattern,
    entry)`` the entry a delete removes; ``messages`` holds (duplicate, not found, no modify) texts
    formatted with the network name ``{net}`` and the new entry ``{e}``.
    """

    tag: str
    model: str
    items: Callable[[Any, int], list[Any]]
    same: Callable[[Any, Any], bool]
    matches: Callable[[Any, Any], bool]
    duplicate: str
    missing: str
    no_modify: str | None = None
    missing_on_modify: str | None = None


def _ip_for_dhcp(defn: Any, parent_index: int) -> Any:
    ips = list(defn.ips)
    if parent_index >= 0:
        if parent_index >= len(ips):
            raise _invalid(f"couldn't update dhcp host entry - no <ip> element found at index {parent_index} "
                           f"in network '{defn.name}'")
        return ips[parent_index]
    for ip in ips:
        if ip.has_dhcp:
            return ip
    for ip in ips:
        if ip.is_ipv4:
            return ip
    if ips:
        return ips[0]
    raise _invalid(f"couldn't update dhcp host entry - no <ip> element found in network '{defn.name}'")


def _dhcp(defn: Any, parent_index: int, attr: str) -> list[Any]:
    from virt.conf.network import DHCP

    ip = _ip_for_dhcp(defn, parent_index)
    if ip.dhcp is None:
        ip.dhcp = DHCP()
    return getattr(ip.dhcp, attr)  # type: ignore[no-any-return]


def _dns(defn: Any, attr: str) -> list[Any]:
    from virt.conf.network import DNS

    if defn.dns is None:
        defn.dns = DNS()
    return getattr(defn.dns, attr)  # type: ignore[no-any-return]


def _same_host(a: Any, b: Any) -> bool:
    return bool((a.mac and b.mac and a.mac.lower() == b.mac.lower()) or (a.name and a.name == b.name)
                or (a.ip and a.ip == b.ip))


def _host_matches(pattern: Any, h: Any) -> bool:
    return ((not pattern.mac or not h.mac or pattern.mac.lower() == h.mac.lower())
            and (not pattern.name or pattern.name == h.name) and (not pattern.ip or pattern.ip == h.ip))


def _host_text(h: Any) -> str:
    return f"<host mac='{h.mac or 'unknown'}' name='{h.name or '(null)'}' ip='{h.ip or 'unknown'}'/>"


SECTIONS: dict[int, Section] = {
    Sec.IP_DHCP_HOST: Section(
        "host", "DHCPHost", lambda d, i: _dhcp(d, i, "hosts"), _same_host, _host_matches,
        "there is an existing dhcp host entry in network '{net}' that matches \"{host}\"",
        "couldn't locate a matching dhcp host entry in network '{net}'",
        missing_on_modify="couldn't locate an existing dhcp host entry with \"mac='{mac}'\" \"name='{name}'\" "
                          "\"ip='{ip}'\" in network '{net}'"),
    Sec.IP_DHCP_RANGE: Section(
        "range", "DHCPRange", lambda d, i: _dhcp(d, i, "ranges"),
        lambda a, b: a.start == b.start and a.end == b.end, lambda a, b: a.start == b.start and a.end == b.end,
        "there is an existing dhcp range entry in network '{net}' that matches "
        "\"<range start='{start}' end='{end}'/>\"",
        "couldn't locate a matching dhcp range entry in network '{net}'",
        no_modify="dhcp ranges cannot be modified, only added or deleted"),
    Sec.DNS_HOST: Section(
        "host", "DNSHost", lambda d, i: _dns(d, "hosts"),
        lambda a, b: a.ip == b.ip or bool(set(a.names) & set(b.names)),
        lambda a, b: a.ip == b.ip or bool(set(a.names) & set(b.names)),
        "there is already at least one DNS HOST record with a matching field in network {net}",
        "couldn't locate a matching DNS HOST record in network {net}",
        no_modify="DNS HOST records cannot be modified, only added or deleted"),
    Sec.DNS_TXT: Section(
        "txt", "DNSTxt", lambda d, i: _dns(d, "txts"), lambda a, b: a.name == b.name,
        lambda a, b: a.name == b.name,
        "there is already a DNS TXT record with name '{name}' in network {net}",
        "couldn't locate a matching DNS TXT record in network {net}",
        no_modify="DNS TXT records cannot be modified, only added or deleted"),
    Sec.DNS_SRV: Section(
        "srv", "DNSSrv", lambda d, i: _dns(d, "srvs"),
        lambda a, b: (a.service, a.protocol, a.domain, a.target) == (b.service, b.protocol, b.domain, b.target),
        lambda a, b: all(getattr(a, f) is None or getattr(a, f) == getattr(b, f)
                         for f in ("service", "protocol", "domain", "target", "port", "priority", "weight")),
        "there is already at least one DNS SRV record matching all specified fields in network {net}",
        "couldn't locate a matching DNS SRV record in network {net}",
        no_modify="DNS SRV records cannot be modified, only added or deleted"),
    Sec.PORTGROUP: Section(
        "portgroup", "PortGroup", lambda d, i: d.portgroups, lambda a, b: a.name == b.name,
        lambda a, b: a.name == b.name,
        "there is an existing portgroup entry in network '{net}' that matches \"<portgroup name='{name}'>\"",
        "couldn't find a portgroup entry in network '{net}' matching <portgroup name='{name}'>",
        missing_on_modify="couldn't find a portgroup entry in network '{net}' matching "
                          "<portgroup name='{name}'>"),
    Sec.FORWARD_INTERFACE: Section(
        "interface", "ForwardInterface", lambda d, i: _forward_ifs(d), lambda a, b: a.dev == b.dev,
        lambda a, b: a.dev == b.dev,
        "there is an existing interface entry in network '{net}' that matches \"<interface dev='{dev}'>\"",
        "couldn't find an interface entry in network '{net}' matching <interface dev='{dev}'>",
        no_modify="forward interface entries cannot be modified, only added or deleted"),
}

_NO_SUPPORT: dict[int, str] = {Sec.BRIDGE: "bridge", Sec.DOMAIN: "domain", Sec.IP: "ip", Sec.FORWARD: "forward",
               Sec.FORWARD_PF: "forward pf"}


def _forward_ifs(defn: Any) -> list[Any]:
    from virt.conf.network import Forward

    if defn.forward is None:
        defn.forward = Forward()
    return defn.forward.interfaces  # type: ignore[no-any-return]


def update_section(defn: Any, command: int, section: int, parent_index: int, xml: str) -> None:
    """virNetworkDefUpdateSection on ``defn`` (a virt.conf Network), in place."""
    from virt.conf import network as netconf
    from virt.conf.xmlmodel import local_name, parse_xml

    net = defn.name
    if section in _NO_SUPPORT:
        raise _unsupported(f"can't update '{_NO_SUPPORT[section]}' section of network '{net}'")
    spec = SECTIONS.get(section)
    if spec is None:
        raise _unsupported("can't update unrecognized section of network")
    el = parse_xml(xml)
    if local_name(el.tag) != spec.tag:
        raise error(E.XML_ERROR, f"unexpected element <{local_name(el.tag)}>, expecting <{spec.tag}>, "
                                 f"while updating network '{net}'", NET)
    if command not in (Cmd.MODIFY, Cmd.DELETE, Cmd.ADD_FIRST, Cmd.ADD_LAST):
        raise _unsupported(f"unrecognized network update command code {command}")
    items = spec.items(defn, parent_index)
    if command == Cmd.MODIFY and spec.no_modify:
        raise _unsupported(spec.no_modify)
    entry = getattr(netconf, spec.model).from_element(el)
    fields = {k: (v if v is not None else "(null)") for k, v in vars(entry).items() if isinstance(v, (str, type(None)))}
    words = dict(fields, net=net, host=_host_text(entry) if spec.model == "DHCPHost" else "")
    if command == Cmd.MODIFY:
        for i, old in enumerate(items):
            if spec.same(entry, old):
                items[i] = entry
                return
        words.update(mac=entry.mac or "unknown", ip=getattr(entry, "ip", None) or "unknown")
        raise _invalid((spec.missing_on_modify or spec.missing).format(**words))
    if command == Cmd.DELETE:
        for i, old in enumerate(items):
            if spec.matches(entry, old):
                del items[i]
                return
        raise _invalid(spec.missing.format(**words))
    for old in items:
        if spec.same(entry, old):
            raise _invalid(spec.duplicate.format(**words))
    if spec.model == "PortGroup" and entry.is_default and any(pg.is_default for pg in items):
        raise _invalid(f"a different portgroup entry in network '{net}' is already set as the default. "
                       "Only one default is allowed.")
    items.insert(0 if command == Cmd.ADD_FIRST else len(items), entry)
