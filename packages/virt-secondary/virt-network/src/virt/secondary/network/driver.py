"""The network driver: libvirt's virNetwork* calls on local connections, backed by real host plumbing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from virt.conf.network import Network, parse_ip, same_network
from virt.core.driver import Driver
from virt.core.enums import ConnectListAllNetworksFlags as LF
from virt.core.enums import NetworkEventID, NetworkXMLFlags
from virt.core.enums import NetworkEventLifecycleType as Ev
from virt.core.enums import NetworkUpdateFlags as UF
from virt.core.enums import NetworkUpdateSection as Sec
from virt.core.events import EventBus
from virt.core.types import NetworkDHCPLease, NetworkPortRef, NetworkRef
from virt.core.uri import URI
from virt.secondary.network.bandwidth import FIRST_PORT_CLASS, Limits, Rate, floor_class_rate
from virt.secondary.network.dnsmasq import LeaseRecord
from virt.secondary.network.host import Host
from virt.secondary.network.runtime import Plumbing, network_error
from virt.secondary.network.store import (
    NetworkObj,
    NetworkSettings,
    NetworkStore,
    parse_network,
)
from virt.util.errors import (
    ErrorDomain,
    ErrorNumber,
    InvalidArgError,
    OperationInvalidError,
    VirtError,
    not_found,
)

NET = ErrorDomain.NETWORK

#: list-all filters: (the two flags of a group, which of them an object matches)
_FILTERS: tuple[tuple[int, Callable[[NetworkObj], int]], ...] = (
    (LF.ACTIVE | LF.INACTIVE, lambda o: LF.ACTIVE if o.active else LF.INACTIVE),
    (LF.PERSISTENT | LF.TRANSIENT, lambda o: LF.PERSISTENT if o.persistent else LF.TRANSIENT),
    (LF.AUTOSTART | LF.NO_AUTOSTART, lambda o: LF.AUTOSTART if o.autostart else LF.NO_AUTOSTART),
)

#: Flags each call accepts (virCheckFlags); calls not listed accept none.
_ALLOWED_FLAGS = {"connect_list_all_networks": sum(LF), "network_define_xml_flags": 1,
                  "network_create_xml_flags": 1, "network_get_xml_desc": int(NetworkXMLFlags.INACTIVE),
                  "network_update": int(UF.LIVE | UF.CONFIG), "network_get_dhcp_leases": 0,
                  "network_port_create_xml": 0, "network_port_delete": 0, "network_port_get_xml_desc": 0,
                  "network_list_all_ports": 0, "network_port_set_parameters": 0,
                  "network_port_get_parameters": 0}

#: virNetworkPortSetParameters' typed parameters: name -> (direction, field of that direction).
PORT_PARAMETERS: dict[str, tuple[str, str]] = {
    f"{direction}.{name}": (direction, name)
    for direction, names in (("inbound", ("average", "peak", "floor", "burst")),
                             ("outbound", ("average", "peak", "burst")))
    for name in names}
#: Forward modes whose bridge the driver shapes, so a port can be guaranteed an inbound floor.
FLOOR_MODES = ("nat", "route", "open", "none")

#: Update sections whose live change dnsmasq picks up from its hosts files on SIGHUP.
_HUP_SECTIONS = (Sec.IP_DHCP_HOST, Sec.DNS_HOST)
#: Update sections that change nothing dnsmasq or the firewall use.
_NO_RELOAD_SECTIONS = (Sec.PORTGROUP, Sec.FORWARD_INTERFACE)


def lease_mac(rec: LeaseRecord) -> str | None:
    """A lease's MAC; a DHCPv6 lease names only the client's DUID, which holds the MAC when it is
    link-layer based (DUID-LLT: type 1, DUID-LL: type 3, on Ethernet: hardware type 1)."""
    if rec.mac or not rec.clientid:
        return rec.mac
    try:
        duid = bytes(int(b, 16) for b in rec.clientid.split(":"))
    except ValueError:
        return None
    kind, hwtype = int.from_bytes(duid[0:2], "big"), int.from_bytes(duid[2:4], "big")
    start = {1: 8, 3: 4}.get(kind)
    if start is None or hwtype != 1 or len(duid) != start + 6:
        return None
    return ":".join(f"{b:02x}" for b in duid[start:])


def _ref(obj: NetworkObj) -> NetworkRef:
    return NetworkRef(obj.name, obj.uuid)


@dataclass
class _Shared:
    """What every connection of this process to the same directories shares."""

    store: NetworkStore
    plumbing: Plumbing
    buses: list[EventBus] = field(default_factory=list)
    recovered: bool = False

    def emit(self, ref: NetworkRef, event: int) -> None:
        for bus in list(self.buses):
            bus.emit("network", NetworkEventID.LIFECYCLE, ref, int(event), 0)


_shared_lock = threading.Lock()
_shared: dict[NetworkSettings, _Shared] = {}


def _shared_for(settings: NetworkSettings) -> _Shared:
    with _shared_lock:
        sh = _shared.get(settings)
        if sh is None:
            store = NetworkStore(settings)
            sh = _shared[settings] = _Shared(store, Plumbing(store, Host(settings.netns)))
        return sh


class NetworkDriver(Driver):
    """Virtual networks: definitions on disk, bridges, dnsmasq and firewall rules on the host."""

    name: ClassVar[str] = "network"
    kinds: ClassVar[tuple[str, ...]] = ("network",)

    def __init__(self, uri: URI, *, readonly: bool = False, events: EventBus | None = None) -> None:
        super().__init__(uri, readonly=readonly, events=events)
        self.settings = NetworkSettings.for_uri(uri.params)
        self._sh = _shared_for(self.settings)
        self._sh.buses.append(self.events)
        self.store = self._sh.store
        self.plumbing = self._sh.plumbing
        if not readonly:
            try:
                self._startup()
            except (VirtError, OSError) as exc:  # a connection must open even if cleanup cannot run
                import logging

                logging.getLogger(__name__).warning("network driver start-up: %s", exc)

    def close(self) -> None:
        if self.events in self._sh.buses:
            self._sh.buses.remove(self.events)

    def _startup(self) -> None:
        """Once a process: clean up after crashes; once a boot (the run dir is fresh): autostart."""
        with self.store.locked():
            if self._sh.recovered:
                return
            self._sh.recovered = True
            self.plumbing.recover()
            marker = self.store.run_dir / ".autostarted"
            if marker.exists():
                return
            marker.touch()
            for obj in self.store.load_all().values():
                if obj.autostart and not obj.active:
                    try:
                        self._start(obj)
                    except Exception:  # one broken network must not keep the others down
                        import logging

                        logging.getLogger(__name__).exception("autostart of network %s failed", obj.name)

    # -- helpers ------------------------------------------------------------------------------------
    def _check_flags(self, call: str, flags: int) -> None:
        bad = int(flags) & ~_ALLOWED_FLAGS.get(call, 0)
        if bad:
            from virt.core.driver import c_name

            raise InvalidArgError(f"{c_name(call)}: unsupported flags (0x{bad:x})", code=ErrorNumber.INVALID_ARG,
                                  domain=NET, message=f"invalid argument: {c_name(call)}: unsupported flags "
                                                      f"(0x{bad:x})")

    def _by_name(self, name: str) -> NetworkObj:
        obj = self.store.load_all().get(name)
        if obj is None:
            raise not_found(ErrorNumber.NO_NETWORK, f"no network with matching name '{name}'", NET)
        return obj

    def _by_uuid(self, uuid: str) -> NetworkObj:
        for obj in self.store.load_all().values():
            if obj.uuid == uuid.lower():
                return obj
        raise not_found(ErrorNumber.NO_NETWORK, f"no network with matching uuid '{uuid}'", NET)

    def _get(self, ref: NetworkRef) -> NetworkObj:
        """The object of a ref: by UUID (a name may have been reused), as libvirt looks refs up."""
        return self._by_uuid(ref.uuid)

    # -- lookups and lists --------------------------------------------------------------------------
    def network_lookup_by_name(self, name: str) -> NetworkRef:
        with self.store.locked():
            return _ref(self._by_name(name))

    def network_lookup_by_uuid(self, uuid: str) -> NetworkRef:
        with self.store.locked():
            return _ref(self._by_uuid(uuid))

    def connect_list_all_networks(self, flags: int = 0) -> list[NetworkRef]:
        self._check_flags("connect_list_all_networks", flags)
        with self.store.locked():
            objs = sorted(self.store.load_all().values(), key=lambda o: o.name)
        groups = [(mask & flags, match) for mask, match in _FILTERS if mask & flags]
        return [_ref(o) for o in objs if all(match(o) & sel for sel, match in groups)]

    def connect_num_of_networks(self) -> int:
        return len(self.connect_list_all_networks(LF.ACTIVE))

    def connect_list_networks(self, maxnames: int = -1) -> list[str]:
        names = [r.name for r in self.connect_list_all_networks(LF.ACTIVE)]
        return names if maxnames < 0 else names[:maxnames]

    def connect_num_of_defined_networks(self) -> int:
        return len(self.connect_list_all_networks(LF.INACTIVE))

    def connect_list_defined_networks(self, maxnames: int = -1) -> list[str]:
        names = [r.name for r in self.connect_list_all_networks(LF.INACTIVE)]
        return names if maxnames < 0 else names[:maxnames]

    def connect_network_event_register_any(self, event_id: int, net: NetworkRef | None = None) -> int:
        if int(event_id) != NetworkEventID.LIFECYCLE:
            raise InvalidArgError(f"unsupported event ID {event_id}")
        return 0

    def connect_network_event_deregister_any(self, callback_id: int) -> None:
        return None

    # -- define, create, undefine -------------------------------------------------------------------
    def _assign(self, xml: str, *, live: bool) -> tuple[NetworkObj, Network]:
        """Check a new definition against the existing networks; the object it belongs to."""
        defn = parse_network(xml)
        defn.validate_for_define()
        objs = self.store.load_all()
        by_uuid = next((o for o in objs.values() if o.uuid == str(defn.uuid)), None)
        if by_uuid is not None and by_uuid.name != defn.name:
            raise network_error(f"network '{by_uuid.name}' is already defined with uuid {defn.uuid}",
                                ErrorNumber.OPERATION_FAILED)
        by_name = objs.get(defn.name)
        if by_name is not None and by_name.uuid != str(defn.uuid):
            raise network_error(f"network '{defn.name}' already exists with uuid {by_name.uuid}",
                                ErrorNumber.OPERATION_FAILED)
        obj = by_name or NetworkObj(defn.name, str(defn.uuid))
        if live and obj.active:
            raise OperationInvalidError(f"network is already active as '{obj.name}'", domain=NET)
        self.plumbing.fill_defaults(defn, [o.defn for o in objs.values() if o is not obj])
        return obj, defn

    def network_define_xml(self, xml: str) -> NetworkRef:
        return self.network_define_xml_flags(xml, 0)

    def network_define_xml_flags(self, xml: str, flags: int = 0) -> NetworkRef:
        self._check_flags("network_define_xml_flags", flags)
        with self.store.locked():
            obj, defn = self._assign(xml, live=False)
            self.store.save_config(defn)
            obj.config = defn
        self._sh.emit(_ref(obj), Ev.DEFINED)
        return _ref(obj)

    def network_create_xml(self, xml: str) -> NetworkRef:
        return self.network_create_xml_flags(xml, 0)

    def network_create_xml_flags(self, xml: str, flags: int = 0) -> NetworkRef:
        self._check_flags("network_create_xml_flags", flags)
        with self.store.locked():
            obj, defn = self._assign(xml, live=True)
            self._start(obj, defn)
        self._sh.emit(_ref(obj), Ev.STARTED)
        return _ref(obj)

    def network_undefine(self, net: NetworkRef) -> None:
        with self.store.locked():
            obj = self._get(net)
            if not obj.persistent:
                raise OperationInvalidError("cannot undefine transient network", domain=NET)
            self.store.delete_config(obj.name)
        self._sh.emit(_ref(obj), Ev.UNDEFINED)

    # -- start and stop -----------------------------------------------------------------------------
    def _start(self, obj: NetworkObj, defn: Network | None = None) -> None:
        defn = defn if defn is not None else obj.config
        assert defn is not None
        others = [o for o in self.store.load_all().values() if o.name != obj.name]
        obj.status = self.plumbing.start(obj, defn, others)
        obj.live = defn

    def network_create(self, net: NetworkRef) -> None:
        with self.store.locked():
            obj = self._get(net)
            if obj.active:
                raise OperationInvalidError("network is already active", domain=NET)
            self._start(obj)
        self._sh.emit(_ref(obj), Ev.STARTED)

    def network_destroy(self, net: NetworkRef) -> None:
        with self.store.locked():
            obj = self._get(net)
            if not obj.active:
                raise OperationInvalidError(f"network '{obj.name}' is not active", domain=NET)
            try:
                self.plumbing.teardown(obj.name, obj.status)
            finally:
                self.store.clear_live(obj.name)
        self._sh.emit(_ref(obj), Ev.STOPPED)

    # -- properties ---------------------------------------------------------------------------------
    def network_get_xml_desc(self, net: NetworkRef, flags: int = 0) -> str:
        self._check_flags("network_get_xml_desc", flags)
        with self.store.locked():
            obj = self._get(net)
            if flags & NetworkXMLFlags.INACTIVE and obj.config is not None:
                return str(obj.config.format())
            defn = obj.defn
            if obj.active:
                ports = len(self.store.port_paths(obj.name))
                if ports:  # a live-only attribute: how many guest interfaces are connected
                    defn = defn.copy()
                    defn.connections = str(ports)
            return str(defn.format())

    def network_get_bridge_name(self, net: NetworkRef) -> str:
        with self.store.locked():
            obj = self._get(net)
            bridge = obj.defn.bridge_name()
            if not bridge:
                raise network_error(f"network '{obj.name}' does not have a bridge name.")
            return bridge

    def network_get_autostart(self, net: NetworkRef) -> int:
        with self.store.locked():
            return int(self._get(net).autostart)

    def network_set_autostart(self, net: NetworkRef, autostart: int) -> None:
        with self.store.locked():
            obj = self._get(net)
            if not obj.persistent:
                raise OperationInvalidError("cannot set autostart for transient network", domain=NET)
            self.store.set_autostart(obj.name, bool(autostart))

    def network_is_active(self, net: NetworkRef) -> int:
        with self.store.locked():
            return int(self._get(net).active)

    def network_is_persistent(self, net: NetworkRef) -> int:
        with self.store.locked():
            return int(self._get(net).persistent)

    # -- leases -------------------------------------------------------------------------------------
    def network_get_dhcp_leases(self, net: NetworkRef, mac: str | None = None,
                                flags: int = 0) -> list[NetworkDHCPLease]:
        """The leases dnsmasq handed out and that have not expired (0: an infinite lease)."""
        self._check_flags("network_get_dhcp_leases", flags)
        with self.store.locked():
            obj = self._get(net)
            if not obj.active:
                return []
            defn = obj.defn
            records = self.plumbing.leases(obj.name)
        now = int(time.time())
        bridge = defn.bridge_name() or ""
        out = []
        for rec in records:
            if rec.expirytime and rec.expirytime < now:
                continue
            rec_mac = lease_mac(rec)
            if mac is not None and (rec_mac or "").lower() != mac.lower():
                continue
            addr = parse_ip(rec.ipaddr)
            prefix = next((ip.prefix_len() for ip in defn.ips
                           if ip.addr.version == addr.version and same_network(ip.addr, addr, ip.prefix_len())), 0)
            out.append(NetworkDHCPLease(bridge, rec.expirytime, 1 if rec.ipv6 else 0, rec_mac or "", rec.iaid,
                                        rec.ipaddr, prefix, rec.hostname, rec.clientid))
        return out

    # -- virNetworkUpdate ---------------------------------------------------------------------------
    def network_update(self, net: NetworkRef, command: int, section: int, parent_index: int, xml: str,
                       flags: int = 0) -> None:
        from virt.core.drivers.test.networks import update_section

        self._check_flags("network_update", flags)
        with self.store.locked():
            obj = self._get(net)
            if not flags & (UF.LIVE | UF.CONFIG):
                flags |= UF.LIVE if obj.active else UF.CONFIG
            if flags & UF.CONFIG and not obj.persistent:
                raise OperationInvalidError("cannot change persistent config of a transient network", domain=NET)
            if flags & UF.LIVE and not obj.active:
                raise OperationInvalidError("network is not running", domain=NET)
            # all or nothing: edit copies, store them once every edit worked
            new_config = obj.config.copy() if flags & UF.CONFIG and obj.config is not None else None
            new_live = obj.live.copy() if flags & UF.LIVE and obj.live is not None else None
            for defn in (new_config, new_live):
                if defn is not None:
                    update_section(defn, command, section, parent_index, xml)
            if new_config is not None:
                self.store.save_config(new_config)
            if new_live is not None:
                self.store.save_live(new_live)
                if obj.status.get("dnsmasq") and section not in _NO_RELOAD_SECTIONS:
                    self.plumbing.reload_dnsmasq(new_live, restart=section not in _HUP_SECTIONS)

    # -- network ports (virNetworkPort*): what a hypervisor driver asks for a guest interface --------
    def network_port_create_xml(self, net: NetworkRef, xml: str, flags: int = 0) -> NetworkPortRef:
        """Attach a port to a running network: the network fills in how to plug it (its bridge, a
        device of its pool) and the portgroup's vlan/virtualport/bandwidth the port did not set."""
        from virt.conf import parse

        self._check_flags("network_port_create_xml", flags)
        with self.store.locked():
            obj = self._get(net)
            if not obj.active:
                raise OperationInvalidError(f"network '{obj.name}' is not active", domain=NET)
            try:
                port: Any = parse(xml, "networkport")
            except VirtError as exc:
                exc.domain = exc.domain or NET
                raise
            existing = self.store.load_ports(obj.name)
            if any(p.uuid == port.uuid for p in existing):
                raise VirtError(f"network port with UUID {port.uuid} already exists", code=ErrorNumber.NETWORK_PORT_EXIST,
                                domain=NET)
            self._plug(obj.defn, port, existing)
            self._plug_bandwidth(obj.defn, port, existing)
            self.store.save_port(obj.name, port)
            return NetworkPortRef(_ref(obj), str(port.uuid))

    # -- QoS of ports: a guaranteed inbound floor is a class of its own on the network's bridge -------
    @staticmethod
    def _floor(port: Any) -> int:
        bw = port.bandwidth
        return int(bw.inbound.floor or 0) if bw is not None and bw.inbound is not None else 0

    def _floor_sum(self, existing: list[Any], skip: str | None = None) -> int:
        return sum(self._floor(p) for p in existing if str(p.uuid) != skip and p.bandwidth is not None
                   and p.bandwidth.classID)

    def _check_floor(self, defn: Network, port: Any, existing: list[Any], floor: int) -> Rate:
        """The network's inbound rate, once it is clear the port's floor fits under it."""
        mac = port.mac.address if port.mac is not None else ""
        if defn.forward_mode not in FLOOR_MODES:
            raise VirtError("'floor' is only supported for interface type 'network' with forward type 'nat', "
                            "'route', 'open' or none", code=ErrorNumber.CONFIG_UNSUPPORTED, domain=NET)
        limits = Limits.of(defn.bandwidth)
        if limits is None or limits.inbound is None:
            raise VirtError(f"Invalid use of 'floor' on interface with MAC address {mac} - network "
                            f"'{defn.name}' has no inbound QoS set", code=ErrorNumber.OPERATION_UNSUPPORTED,
                            domain=NET)
        net_in = limits.inbound
        total = self._floor_sum(existing, skip=str(port.uuid)) + floor
        # the floors may add up past 'average' only up to a 'peak' the network allows
        limit, which = (net_in.peak, "peak") if net_in.peak else (net_in.average, "average")
        if total > limit:
            raise OperationInvalidError(f"Cannot plug '{mac}' interface into '{defn.bridge_name()}' because "
                                        f"it would overcommit '{which}' on network '{defn.name}'", domain=NET)
        return net_in

    def _plug_bandwidth(self, defn: Network, port: Any, existing: list[Any]) -> None:
        floor = self._floor(port)
        if not floor:
            if port.bandwidth is not None:
                port.bandwidth.classID = None
            return
        net_in = self._check_floor(defn, port, existing, floor)
        used = {int(p.bandwidth.classID) for p in existing if p.bandwidth is not None and p.bandwidth.classID}
        class_id = next(i for i in range(FIRST_PORT_CLASS, FIRST_PORT_CLASS + len(used) + 1) if i not in used)
        bridge = defn.bridge_name() or ""
        tc = self.plumbing.tc()
        tc.plug(bridge, net_in, port.mac.address, Rate.of(port.bandwidth.inbound) or Rate(), class_id)
        port.bandwidth.classID = class_id
        tc.update_rate(bridge, 2, net_in, floor_class_rate(net_in, self._floor_sum([*existing, port])))

    def _unplug_bandwidth(self, defn: Network, port: Any, existing: list[Any]) -> None:
        if port.bandwidth is None or not port.bandwidth.classID:
            return
        limits = Limits.of(defn.bandwidth)
        bridge = defn.bridge_name() or ""
        tc = self.plumbing.tc()
        tc.unplug(bridge, int(port.bandwidth.classID))
        if limits is not None and limits.inbound is not None:
            rest = self._floor_sum(existing, skip=str(port.uuid))
            tc.update_rate(bridge, 2, limits.inbound, floor_class_rate(limits.inbound, rest))

    def network_port_set_parameters(self, port: NetworkPortRef, params: dict[str, Any], flags: int = 0) -> None:
        """New QoS for a port: the parameters given replace its whole <bandwidth>, as in libvirt; a
        changed floor moves its class on the bridge and what is left for unclassified traffic."""
        from virt.conf.network import Inbound, Outbound
        from virt.conf.networkport import PortBandwidth

        self._check_flags("network_port_set_parameters", flags)
        values: dict[str, dict[str, int]] = {"inbound": {}, "outbound": {}}
        for key, value in params.items():
            if key not in PORT_PARAMETERS:
                raise InvalidArgError(f"parameter '{key}' not supported", domain=NET)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**32:
                raise InvalidArgError(f"invalid type for parameter '{key}', expected an unsigned int", domain=NET)
            direction, name = PORT_PARAMETERS[key]
            values[direction][name] = value
        inbound = Inbound(**values["inbound"]) if values["inbound"].get("average") or \
            values["inbound"].get("floor") else None
        outbound = Outbound(**values["outbound"]) if values["outbound"].get("average") else None
        with self.store.locked():
            obj, p = self._port(port)
            new = PortBandwidth(inbound=inbound, outbound=outbound) if inbound or outbound else None
            old_floor, new_floor = self._floor(p), int(inbound.floor or 0) if inbound is not None else 0
            old_class = int(p.bandwidth.classID) if p.bandwidth is not None and p.bandwidth.classID else 0
            if obj.active and (old_class or new_floor):
                defn = obj.defn
                existing = self.store.load_ports(obj.name)
                others = [e for e in existing if str(e.uuid) != str(p.uuid)]
                tc = self.plumbing.tc()
                bridge = defn.bridge_name() or ""
                if new_floor:
                    net_in = self._check_floor(defn, p, existing, new_floor)
                if old_class and new_floor:
                    assert new is not None
                    new.classID = old_class
                    if new_floor != old_floor:
                        tc.change_floor(bridge, net_in, Rate.of(inbound) or Rate(), old_class)
                        tc.update_rate(bridge, 2, net_in, floor_class_rate(net_in, self._floor_sum(others) + new_floor))
                elif old_class:
                    self._unplug_bandwidth(defn, p, existing)
                else:
                    p.bandwidth = new
                    self._plug_bandwidth(defn, p, others)
            p.bandwidth = new
            self.store.save_port(obj.name, p)

    def network_port_get_parameters(self, port: NetworkPortRef, flags: int = 0) -> dict[str, int]:
        self._check_flags("network_port_get_parameters", flags)
        with self.store.locked():
            p = self._port(port)[1]
        out = {}
        for key, (direction, name) in PORT_PARAMETERS.items():
            rate = getattr(p.bandwidth, direction) if p.bandwidth is not None else None
            out[key] = int(getattr(rate, name) or 0) if rate is not None else 0
        return out

    def _plug(self, defn: Network, port: Any, existing: list[Any]) -> None:
        from virt.conf.networkport import Plug, PlugAddress

        pg = defn.portgroup(port.group)
        if pg is not None:
            for attr in ("vlan", "virtualport", "bandwidth"):
                if getattr(port, attr) is None and getattr(pg, attr) is not None:
                    setattr(port, attr, getattr(pg, attr).copy())
        mode = defn.forward_mode
        tables = defn.bridge.macTableManager if defn.bridge is not None else None
        if mode in ("nat", "route", "open", "none"):
            port.plug = Plug(type="network", bridge=defn.bridge_name(), macTableManager=tables)
        elif mode == "bridge" and defn.bridge_name():
            port.plug = Plug(type="bridge", bridge=defn.bridge_name(), macTableManager=tables)
        elif mode in ("bridge", "private", "vepa", "passthrough"):
            devs = defn.forward.devices if defn.forward is not None else []
            used = [p.plug.dev for p in existing if p.plug is not None and p.plug.dev]
            free = [d for d in devs if d not in used] if mode == "passthrough" else devs
            if not free:
                raise network_error(f"network '{defn.name}' requires exclusive access to interfaces, but none "
                                    "are available" if mode == "passthrough" else
                                    f"network '{defn.name}' uses a direct mode, but has no forward dev and no "
                                    "interface pool")
            dev = min(free, key=used.count)  # the least used device of the pool
            port.plug = Plug(type="direct", dev=dev, mode=mode)
        elif mode == "hostdev":
            addrs = defn.forward.addresses if defn.forward is not None else []
            used_addrs = {str(p.plug.address) for p in existing if p.plug is not None and p.plug.address is not None}
            free_addrs = [a for a in addrs if str(a) not in used_addrs]
            if not free_addrs:
                raise network_error(f"network '{defn.name}' requires exclusive access to interfaces, but none are "
                                    "available")
            a = free_addrs[0]
            port.plug = Plug(type="hostdev-pci", managed=defn.forward.is_managed if defn.forward else False,
                             address=PlugAddress(domain=a.domain, bus=a.bus, slot=a.slot, function=a.function))

    def _port(self, port: NetworkPortRef) -> tuple[NetworkObj, Any]:
        obj = self._get(port.net)
        for p in self.store.load_ports(obj.name):
            if p.uuid == port.uuid:
                return obj, p
        raise not_found(ErrorNumber.NO_NETWORK_PORT, f"network port with UUID {port.uuid} not found", NET)

    def network_port_lookup_by_uuid(self, net: NetworkRef, uuid: str) -> NetworkPortRef:
        with self.store.locked():
            self._port(NetworkPortRef(net, uuid.lower()))
            return NetworkPortRef(_ref(self._get(net)), uuid.lower())

    def network_list_all_ports(self, net: NetworkRef, flags: int = 0) -> list[NetworkPortRef]:
        self._check_flags("network_list_all_ports", flags)
        with self.store.locked():
            obj = self._get(net)
            return [NetworkPortRef(_ref(obj), str(p.uuid)) for p in self.store.load_ports(obj.name)]

    def network_port_get_xml_desc(self, port: NetworkPortRef, flags: int = 0) -> str:
        self._check_flags("network_port_get_xml_desc", flags)
        with self.store.locked():
            return str(self._port(port)[1].format())

    def network_port_delete(self, port: NetworkPortRef, flags: int = 0) -> None:
        self._check_flags("network_port_delete", flags)
        with self.store.locked():
            obj, p = self._port(port)
            if obj.active:
                self._unplug_bandwidth(obj.defn, p, self.store.load_ports(obj.name))
            self.store.delete_port(obj.name, str(p.uuid))
