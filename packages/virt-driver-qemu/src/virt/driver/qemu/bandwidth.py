"""Guest interfaces' <bandwidth> on their taps (virt.util.tc), and virDomain{Get,Set}InterfaceParameters.

libvirt shapes the host side of an interface: on a tap (bridge, network) the guest's inbound traffic
leaves the host through the tap's egress, so ``in`` is shaped there and ``out`` on its ingress
(``swapped``); an ethernet or direct (macvtap) interface "shares the host's view" and is not swapped. A tap opened by the
driver disappears with QEMU, taking its qdiscs along; what outlives it (the ifb standing in for a
missing police action, a tap the driver did not create) is cleared when the interface goes away.
"""

from __future__ import annotations

from copy import deepcopy
from typing import TYPE_CHECKING, Any

from lxml import etree
from virt.driver.qemu import xmlutil as X
from virt.util.errors import ConfigUnsupportedError, ErrorDomain, InvalidArgError, OperationUnsupportedError
from virt.util.tc import RATE_FIELDS, Limits, Rate, Tc

if TYPE_CHECKING:
    from virt.driver.qemu.driver import QemuDriver
    from virt.driver.qemu.state import DomainObj

QEMU = ErrorDomain.QEMU
#: Interface types whose host side tc can shape (virNetDevSupportsBandwidth, for the taps and macvtaps we open).
SHAPED_TYPES = ("bridge", "network", "ethernet", "direct")
#: virDomainGetInterfaceParameters' typed parameters, in libvirt's order.
PARAMS: dict[str, tuple[str, ...]] = {"inbound": RATE_FIELDS, "outbound": ("average", "peak", "burst")}
PARAM_NAMES = tuple(f"{d}.{f}" for d, fields in PARAMS.items() for f in fields)
#: Children of <interface> that come before <bandwidth> (the rest come after it).
_BEFORE = ("mac", "source", "vlan", "virtualport")


def tc() -> Tc:
    return Tc(domain=QEMU)


def _limits(bw: Any) -> Limits | None:
    if bw is None:
        return None
    directions = [bw.find(d) for d in PARAMS]
    limits = Limits(*(Rate.from_attrs(dict(el.attrib)) if el is not None else None for el in directions))
    return limits if limits.inbound or limits.outbound else None


def limits_of(net: Any) -> Limits | None:
    """The interface's own <bandwidth>, or None when it sets no direction."""
    return _limits(net.find("bandwidth"))


def set_actual(net: Any, bw: Any) -> None:
    """Keep (privately) the <bandwidth> a network port settled on: the interface's own or, when it
    has none, its port group's (None: the interface's own applies)."""
    X.set_priv(net, "actual_bandwidth", etree.tostring(bw, encoding="unicode") if bw is not None else None)


def actual_limits(net: Any) -> Limits | None:
    """What the tap is shaped with: the network port's bandwidth if there is one, else the interface's."""
    actual = X.priv(net, "actual_bandwidth")
    return _limits(etree.fromstring(actual)) if actual else limits_of(net)


def swapped(net: Any) -> bool:
    """Whether tc's egress is the guest's inbound: not where the host sees what the guest sees."""
    return net.get("type") not in ("ethernet", "direct")


def apply(net: Any, dev: str | None = None) -> None:
    """Put the interface's <bandwidth> on its tap (``dev``, else the one in <target dev>), as the
    guest starts or the interface is plugged."""
    limits = actual_limits(net)
    dev = dev or X.get(net, "target", "dev")
    if limits is None or not dev or net.get("type") not in SHAPED_TYPES:
        return
    shaper = tc()
    try:
        shaper.set(dev, limits, swapped=swapped(net))
    except BaseException:
        shaper.clear(dev)
        raise


def clear(net: Any) -> None:
    """Remove what ``apply`` set up, as far as it outlives the tap."""
    dev = X.get(net, "target", "dev")
    if dev and actual_limits(net) is not None and net.get("type") in SHAPED_TYPES:
        tc().clear(dev)


# -- virDomainGetInterfaceParameters / virDomainSetInterfaceParameters -------------------------------
def find_net(tree: Any, device: str) -> Any:
    """virDomainNetFind: by MAC address when ``device`` looks like one, else by its host-side name."""
    mac = device.lower() if device.count(":") == 5 else None
    for net in tree.findall("devices/interface"):
        if mac is not None and (X.get(net, "mac", "address") or "").lower() == mac:
            return net
        if mac is None and X.get(net, "target", "dev") == device:
            return net
    raise InvalidArgError(f"'{device}' is not a known interface", domain=QEMU)


def get_params(tree: Any, device: str) -> dict[str, int]:
    limits = limits_of(find_net(tree, device)) or Limits()
    out: dict[str, int] = {}
    for direction, fields in PARAMS.items():
        rate = getattr(limits, direction) or Rate()
        out.update({f"{direction}.{f}": getattr(rate, f) for f in fields})
    return out


def merged(old: Limits | None, params: dict[str, Any]) -> Limits | None:
    """The new <bandwidth> from ``old`` and the typed parameters: a direction given with its average
    (or inbound floor) replaces the old one whole, one given with them zero is removed, one not
    given (or given without them) is kept."""
    for name in params:
        if name not in PARAM_NAMES:
            raise InvalidArgError(f"argument unsupported: parameter '{name}' not supported", domain=QEMU)
    new: dict[str, Rate | None] = {}
    for direction in PARAMS:
        given = {k.split(".", 1)[1]: int(v) for k, v in params.items() if k.startswith(direction + ".")}
        rate = Rate(**given)
        if rate.average or rate.floor:
            new[direction] = rate
        elif "average" in given or "floor" in given:
            new[direction] = None
        else:
            new[direction] = getattr(old, direction) if old is not None else None
    limits = Limits(new["inbound"], new["outbound"])
    return limits if limits.inbound or limits.outbound else None


def port_params(limits: Limits | None) -> dict[str, int]:
    """virNetworkPortSetParameters' typed parameters for a port's whole new <bandwidth>."""
    return {f"{d}.{f}": getattr(getattr(limits, d, None) or Rate(), f) for d, fields in PARAMS.items()
            for f in fields}


def write(net: Any, limits: Limits | None) -> None:
    """Replace the interface's <bandwidth> element by ``limits`` (none: removed)."""
    old = net.find("bandwidth")
    if old is not None:
        net.remove(old)
    if limits is None:
        return
    bw = X.sub(net, "bandwidth")
    pos = max((i for i, sib in enumerate(net) if sib.tag in _BEFORE), default=-1) + 1
    net.insert(pos, bw)
    for direction in PARAMS:
        rate = getattr(limits, direction)
        if rate is not None:
            X.sub(bw, direction, dict(rate.attrs()))


def _check_floor(net: Any, limits: Limits | None) -> None:
    if limits is not None and limits.inbound is not None and limits.inbound.floor and net.get("type") != "network":
        raise ConfigUnsupportedError(
            f"Invalid use of 'floor' on interface with MAC address {X.get(net, 'mac', 'address')} - 'floor' is "
            "only supported for interface type 'network' with forward type 'nat', 'route', 'open' or none",
            domain=QEMU)


def set_params(driver: QemuDriver, obj: DomainObj, device: str, params: dict[str, Any], live: bool,
               config: bool) -> None:
    host = driver.host
    if live:
        assert obj.live is not None
        net = find_net(obj.live, device)
        if net.get("type") not in SHAPED_TYPES:
            raise OperationUnsupportedError(
                f"bandwidth settings are not supported for {net.get('type')} interface type", domain=QEMU)
        limits = merged(limits_of(net), params)
        _check_floor(net, limits)
        portid = X.get(net, "source", "portid")
        if portid:
            # the network's part first: it refuses a floor it cannot guarantee before the tap changes
            from virt.driver.qemu.secondary import Secondary

            with Secondary(host.settings) as sec:
                sec.port_set_parameters(X.get(net, "source", "network") or "", portid, port_params(limits))
        dev = X.get(net, "target", "dev")
        if dev:
            if limits is None:
                tc().clear(dev)
            else:
                tc().set(dev, limits, swapped=swapped(net))
        with host.lock:
            write(net, limits)
            set_actual(net, None)
        from virt.driver.qemu import lifecycle as L

        L.save_status(host, obj)
    if config:
        assert obj.config is not None
        tree = deepcopy(obj.config)
        net = find_net(tree, device)
        limits = merged(limits_of(net), params)
        _check_floor(net, limits)
        write(net, limits)
        driver._replace_config(obj, tree)
