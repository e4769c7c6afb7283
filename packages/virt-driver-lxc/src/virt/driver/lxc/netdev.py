"""Network devices of containers with iproute2: veth pairs into bridges, macvlans, moves into a namespace, addresses,
and <bandwidth> on a veth's host end (tc, through virt.util.tc)."""

from __future__ import annotations

import ipaddress
from typing import Any

from virt.util.errors import ErrorDomain
from virt.util.process import find_binary, run
from virt.util.tc import Limits, Rate, Tc, ifb_name

_IP_TIMEOUT = 30.0


def ip(*args: str) -> None:
    """Run ``ip ARGS`` (iproute2); failures raise InternalError with ip's message."""
    run([find_binary("ip", "iproute2"), *args], timeout=_IP_TIMEOUT)


def exists(dev: str) -> bool:
    return run([find_binary("ip", "iproute2"), "link", "show", "dev", dev], timeout=_IP_TIMEOUT,
               check=False).returncode == 0


def host_mac(mac: str) -> str:
    """The host end's MAC: the guest's with 0xfe first, so the bridge never takes the guest's address."""
    return "fe" + mac[2:]


def create_veth(host_dev: str, peer_dev: str, mac: str, bridge: str | None, mtu: int | None = None) -> None:
    """A veth pair: ``host_dev`` stays on the host (in ``bridge`` if given, up), ``peer_dev`` goes to the container."""
    ip("link", "add", host_dev, "address", host_mac(mac), "type", "veth", "peer", "name", peer_dev, "address", mac)
    try:
        if mtu:
            ip("link", "set", "dev", host_dev, "mtu", str(mtu))
        if bridge:
            ip("link", "set", "dev", host_dev, "master", bridge)
        ip("link", "set", "dev", host_dev, "up")
    except Exception:
        delete(host_dev)
        raise


def create_macvlan(dev: str, link_dev: str, mac: str, mode: str) -> None:
    ip("link", "add", "link", link_dev, "name", dev, "address", mac, "type", "macvlan", "mode", mode)


def delete(dev: str) -> None:
    """Remove a device if it is still there (a veth vanishes with its peer's namespace), and the ifb
    device that may stand in for its ingress policing (it outlives the veth)."""
    for name in (dev, ifb_name(dev)):
        run([find_binary("ip", "iproute2"), "link", "del", "dev", name], timeout=_IP_TIMEOUT, check=False)


def set_bandwidth(dev: str, bandwidth: dict[str, dict[str, Any]], *, swapped: bool = True) -> None:
    """Shape the host end ``dev`` of a container's interface: ``bandwidth`` maps "inbound"/"outbound"
    to average/peak/burst/floor (KiB/s, KiB). Inbound (to the container) leaves the host through the
    veth's egress (``swapped``)."""
    limits = Limits(*(Rate(**bandwidth[d]) if d in bandwidth else None for d in ("inbound", "outbound")))
    tc = Tc(domain=ErrorDomain.LXC)
    try:
        tc.set(dev, limits, swapped=swapped)
    except BaseException:
        tc.clear(dev)
        raise


def move_to_netns(dev: str, pid: int) -> None:
    ip("link", "set", "dev", dev, "netns", str(pid))


def configure(dev: str, name: str | None, ips: list[tuple[str, int]], routes: list[tuple[str, int, str]],
              up: bool, mtu: int | None = None) -> str:
    """Inside the container's network namespace: rename, address, bring up, route. Returns the final name."""
    if name and name != dev:
        ip("link", "set", "dev", dev, "name", name)
        dev = name
    if mtu:
        ip("link", "set", "dev", dev, "mtu", str(mtu))
    for address, prefix in ips:
        ip("addr", "add", f"{address}/{prefix}", "dev", dev)
    if up:
        ip("link", "set", "dev", dev, "up")
    for address, prefix, gateway in routes:
        net = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
        target = "default" if net.prefixlen == 0 else str(net)
        ip("-6" if net.version == 6 else "-4", "route", "add", target, "via", gateway, "dev", dev)
    return dev


def loopback_up() -> None:
    ip("link", "set", "dev", "lo", "up")
