"""Network ports of containers' <interface type='network'>, asked of the network driver on the same URI.

As libvirt does, each such interface gets a port of its network (virNetworkPortCreateXML) carrying
its <bandwidth>: the network guarantees an inbound floor with a class on its bridge, and hands back
its port group's bandwidth for an interface that has none. The port's UUID and bridge go on the live
<source portid bridge>, so the port is found and deleted when the container stops.
"""

from __future__ import annotations

import logging
import uuid as uuidlib
import xml.etree.ElementTree as ET
from dataclasses import asdict
from typing import Any

from virt.util.errors import ErrorDomain, OperationInvalidError, VirtError
from virt.util.tc import Limits, Rate

log = logging.getLogger(__name__)


def _on_network(iface: Any) -> bool:
    return iface.type == "network" and iface.source is not None and bool(iface.source.network)


def port_xml(iface: Any, owner_name: str, owner_uuid: str) -> str:
    """The <networkport> asked for interface ``iface`` of domain ``owner_name``."""
    port = ET.Element("networkport")
    ET.SubElement(port, "uuid").text = str(uuidlib.uuid4())
    owner = ET.SubElement(port, "owner")
    ET.SubElement(owner, "name").text = owner_name
    ET.SubElement(owner, "uuid").text = owner_uuid
    if iface.source.portgroup:
        ET.SubElement(port, "group").text = iface.source.portgroup
    ET.SubElement(port, "mac", {"address": iface.mac.address})
    limits = Limits.of(iface.bandwidth)
    if limits is not None:
        bw = ET.SubElement(port, "bandwidth")
        for direction in ("inbound", "outbound"):
            rate = getattr(limits, direction)
            if rate is not None:
                ET.SubElement(bw, direction, rate.attrs())
    return ET.tostring(port, encoding="unicode")


def _bandwidth(port: ET.Element) -> dict[str, dict[str, int]] | None:
    bw = port.find("bandwidth")
    if bw is None:
        return None
    out = {}
    for direction in ("inbound", "outbound"):
        el = bw.find(direction)
        rate = Rate.from_attrs(dict(el.attrib)) if el is not None else None
        if rate is not None:
            out[direction] = asdict(rate)
    return out or None


def acquire(conn: Any, defn: Any) -> dict[str, dict[str, dict[str, int]]]:
    """A port for every interface of ``defn`` on a virtual network; the bandwidth each port settled
    on, by MAC address. On failure the ports already made are deleted."""
    settled: dict[str, dict[str, dict[str, int]]] = {}
    try:
        for iface in defn.devices.interfaces:
            if not _on_network(iface) or iface.source.portid:
                continue
            net = conn.lookup_network(iface.source.network)
            if not net.is_active():
                raise OperationInvalidError(f"network '{iface.source.network}' is not active",
                                            domain=ErrorDomain.LXC)
            ref = conn.call("network_port_create_xml", net.ref, port_xml(iface, defn.name, str(defn.uuid)), 0)
            iface.source.portid = str(ref.uuid)
            port = ET.fromstring(conn.call("network_port_get_xml_desc", ref, 0))
            plug = port.find("plug")
            if plug is not None and plug.get("bridge"):
                iface.source.bridge = plug.get("bridge")
            bandwidth = _bandwidth(port)
            if bandwidth is not None:
                settled[iface.mac.address.lower()] = bandwidth
    except BaseException:
        release(conn, defn)
        raise
    return settled


def release(conn: Any, defn: Any) -> None:
    """Delete the ports of ``defn``'s interfaces (virNetworkPortDelete); a network gone meanwhile is logged."""
    for iface in defn.devices.interfaces:
        if not _on_network(iface) or not iface.source.portid:
            continue
        try:
            net = conn.lookup_network(iface.source.network)
            conn.call("network_port_delete", conn.call("network_port_lookup_by_uuid", net.ref,
                                                       str(iface.source.portid)), 0)
        except VirtError as err:
            log.warning("cannot delete network port %s: %s", iface.source.portid, err)
        iface.source.portid = None
        iface.source.bridge = None
