"""QoS with tc: the commands libvirt runs (as data), and real shaping on a network's bridge and ports
inside namespaces the tests create (rates read back from tc, and timed transfers)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from virt.core.uri import URI
from virt.secondary.network.bandwidth import Limits, NetworkTc, Rate, ifb_name, plug_commands, set_commands
from virt.secondary.network.driver import NetworkDriver
from virt.secondary.network.host import Host
from virt.util.errors import VirtError

if TYPE_CHECKING:
    from conftest import Namespaces


def tc_lines(cmds: list[list[str]]) -> str:
    return "".join("tc " + " ".join(c) + "\n" for c in cmds)


# The expected command lists are libvirt's own test expectations (virnetdevbandwidthtest), facts
# about what a <bandwidth> becomes on a tap (swapped, not hierarchical).
def test_inbound_only_is_an_htb_root_with_sfq() -> None:
    assert tc_lines(set_commands("eth0", Limits(inbound=Rate(average=1024)))) == (
        "tc qdisc del dev eth0 root\n"
        "tc qdisc del dev eth0 ingress\n"
        "tc qdisc add dev eth0 root handle 1: htb default 1\n"
        "tc class add dev eth0 parent 1: classid 1:1 htb rate 1024kbps quantum 87\n"
        "tc qdisc add dev eth0 parent 1:1 handle 2: sfq perturb 10\n"
        "tc filter add dev eth0 parent 1:0 protocol all prio 1 handle 1 fw flowid 1\n")


def test_outbound_only_is_ingress_policing() -> None:
    assert tc_lines(set_commands("eth0", Limits(outbound=Rate(average=1024)))) == (
        "tc qdisc del dev eth0 root\n"
        "tc qdisc del dev eth0 ingress\n"
        "tc qdisc add dev eth0 ingress\n"
        "tc filter add dev eth0 parent ffff: protocol all u32 match u32 0 0 "
        "police rate 1024kbps burst 1024kb mtu 64kb drop flowid :1\n")


def test_both_directions_with_peak_and_burst() -> None:
    limits = Limits(Rate(average=1, peak=2, floor=3, burst=4), Rate(average=5, peak=6, burst=7))
    assert tc_lines(set_commands("eth0", limits)) == (
        "tc qdisc del dev eth0 root\n"
        "tc qdisc del dev eth0 ingress\n"
        "tc qdisc add dev eth0 root handle 1: htb default 1\n"
        "tc class add dev eth0 parent 1: classid 1:1 htb rate 1kbps ceil 2kbps burst 4kb quantum 1\n"
        "tc qdisc add dev eth0 parent 1:1 handle 2: sfq perturb 10\n"
        "tc filter add dev eth0 parent 1:0 protocol all prio 1 handle 1 fw flowid 1\n"
        "tc qdisc add dev eth0 ingress\n"
        "tc filter add dev eth0 parent ffff: protocol all u32 match u32 0 0 "
        "police rate 5kbps burst 7kb mtu 64kb drop flowid :1\n")


def test_huge_rates_cap_the_default_burst() -> None:
    big = 4294967295
    out = tc_lines(set_commands("eth0", Limits(Rate(average=big), Rate(average=big))))
    assert "htb rate 4294967295kbps quantum 366503875\n" in out
    assert "police rate 4294967295kbps burst 4194303kb mtu 64kb drop flowid :1\n" in out


def test_no_bandwidth_runs_nothing() -> None:
    assert set_commands("eth0", None) == []
    assert Limits.of(None) is None


def test_a_network_bridge_is_hierarchical_and_a_floor_gets_its_own_class() -> None:
    out = tc_lines(set_commands("virbr0", Limits(inbound=Rate(average=1000, peak=2000)), hierarchical=True))
    assert "tc qdisc add dev virbr0 root handle 1: htb default 2\n" in out
    assert "tc class add dev virbr0 parent 1: classid 1:1 htb rate 1000kbps ceil 2000kbps quantum 85\n" in out
    assert "tc class add dev virbr0 parent 1:1 classid 1:2 htb rate 1000kbps ceil 2000kbps quantum 85\n" in out
    assert "tc qdisc add dev virbr0 parent 1:2 handle 2: sfq perturb 10\n" in out
    plug = tc_lines(plug_commands("virbr0", Rate(average=1000, peak=2000), "52:54:00:aa:bb:cc",
                                  Rate(floor=300), 11))
    assert plug == (
        "tc class add dev virbr0 parent 1:1 classid 1:b htb rate 300kbps ceil 2000kbps quantum 1\n"
        "tc qdisc add dev virbr0 parent 1:b handle b: sfq perturb 10\n"
        "tc filter add dev virbr0 protocol ip prio 2 handle 800::11 u32 match u16 0x0800 0xffff at -2 "
        "match u32 0x00aabbcc 0xffffffff at -12 match u16 0x5254 0xffff at -14 flowid 1:b\n")


# -- on a real bridge ----------------------------------------------------------------------------

QOS_XML = """<network>
  <name>{name}</name>
  <forward mode='nat'/>
  <bridge name='vtbr0' stp='off'/>
  <bandwidth>
    <inbound average='{avg}' peak='{peak}'/>
    <outbound average='{out}'/>
  </bandwidth>
  <ip address='192.168.77.1' netmask='255.255.255.0'/>
</network>"""

GUEST_MAC = "52:54:00:0a:0b:01"


def driver() -> NetworkDriver:
    return NetworkDriver(URI.parse("qemu:///system"))


_UNITS = {"bit": 1, "Kbit": 1000, "Mbit": 1000**2, "Gbit": 1000**3}


def htb_classes(ns: Namespaces, dev: str) -> dict[str, dict[str, int]]:
    """{classid: {rate, ceil}} in bits/s (iproute2 prints htb classes only as text)."""
    out = ns.exec(ns.host, "tc", "class", "show", "dev", dev).stdout
    classes = {}
    for line in out.splitlines():
        m = re.match(r"class htb (\S+) .*?rate (\d+)(\w*bit) ceil (\d+)(\w*bit)", line)
        if m:
            classes[m.group(1)] = {"rate": int(m.group(2)) * _UNITS[m.group(3)],
                                   "ceil": int(m.group(4)) * _UNITS[m.group(5)]}
    return classes


def qdiscs(ns: Namespaces, dev: str) -> list[dict[str, object]]:
    return list(json.loads(ns.exec(ns.host, "tc", "-j", "qdisc", "show", "dev", dev).stdout))


def plug_guest(ns: Namespaces) -> None:
    """The guest on the bridge with a fixed address (no DHCP needed for QoS)."""
    ns.exec(ns.host, "ip", "link", "set", "vgh", "master", "vtbr0")
    ns.exec(ns.host, "ip", "link", "set", "vgh", "up")
    ns.exec(ns.guest, "ip", "link", "set", "vg0", "address", GUEST_MAC)
    ns.exec(ns.guest, "ip", "addr", "add", "192.168.77.50/24", "dev", "vg0")
    ns.exec(ns.guest, "ip", "link", "set", "vg0", "up")
    ns.exec(ns.guest, "busybox", "ping", "-c", "1", "-W", "3", "192.168.77.1")


def timed_transfer(ns: Namespaces, sender: str, receiver: str, address: str, size: int) -> float:
    """Seconds ``size`` bytes take over TCP from namespace ``sender`` to ``receiver`` (listening on
    ``address``), measured at the receiver."""
    server = subprocess.Popen(
        ["ip", "netns", "exec", receiver, sys.executable, "-c",
         (f"import socket,time\ns=socket.create_server(('{address}',7001))\nprint('ready',flush=True)\n"
          "c,_=s.accept()\nt=time.monotonic()\nn=0\n"
          "while (b:=c.recv(65536)):\n    n+=len(b)\nprint(n,time.monotonic()-t,flush=True)")],
        stdout=subprocess.PIPE, text=True)
    ns.pids.append(server.pid)
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    ns.exec(sender, sys.executable, "-c",
            f"import socket\nc=socket.create_connection(('{address}',7001),timeout=30)\n"
            f"c.sendall(b'x'*{size})\nc.close()")
    got, seconds = server.stdout.readline().split()
    server.wait(timeout=30)
    assert int(got) == size
    return float(seconds)


@pytest.mark.root
def test_network_bandwidth_shapes_the_bridge(netns: Namespaces) -> None:
    drv = driver()
    ref = drv.network_create_xml(QOS_XML.format(name="qos", avg=100, peak=100, out=100))
    root = [q for q in qdiscs(netns, "vtbr0") if q.get("root")]
    assert root and root[0]["kind"] == "htb" and root[0]["handle"] == "1:"
    assert root[0]["options"]["default"] == "0x2"  # type: ignore[index]
    assert any(q["kind"] == "ingress" for q in qdiscs(netns, "vtbr0"))
    classes = htb_classes(netns, "vtbr0")
    assert classes["1:1"] == {"rate": 800_000, "ceil": 800_000}  # 100 kbps = 100 kB/s
    assert classes["1:2"]["rate"] == 800_000
    plug_guest(netns)
    size = 250_000
    # into the guest: shaped on the bridge's egress at 100 kB/s
    assert timed_transfer(netns, netns.host, netns.guest, "192.168.77.50", size) > 1.4
    # out of the guest: policed (or shaped, without a police action) on the bridge's ingress
    assert timed_transfer(netns, netns.guest, netns.host, "192.168.77.1", size) > 1.4
    drv.network_destroy(ref)
    links = {link["ifname"] for link in json.loads(netns.exec(netns.host, "ip", "-j", "link").stdout)}
    assert "vtbr0" not in links and ifb_name("vtbr0") not in links


@pytest.mark.root
def test_unshaped_network_is_fast(netns: Namespaces) -> None:
    """The control for the timings above: the same transfer without <bandwidth> is quick."""
    drv = driver()
    xml = re.sub(r"<bandwidth>.*</bandwidth>", "", QOS_XML.format(name="fast", avg=1, peak=1, out=1),
                 flags=re.S)
    ref = drv.network_create_xml(xml)
    assert not any(q["kind"] in ("htb", "ingress") for q in qdiscs(netns, "vtbr0"))
    plug_guest(netns)
    assert timed_transfer(netns, netns.host, netns.guest, "192.168.77.50", 250_000) < 1.0
    drv.network_destroy(ref)


PORT_XML = """<networkport><uuid>{uuid}</uuid><owner><name>g</name>
<uuid>11111111-2222-3333-4444-555555555555</uuid></owner><mac address='{mac}'/>
<bandwidth><inbound average='{avg}' floor='{floor}'/></bandwidth></networkport>"""


@pytest.mark.root
def test_port_floors_get_classes_on_the_bridge(netns: Namespaces) -> None:
    drv = driver()
    ref = drv.network_create_xml(QOS_XML.format(name="floors", avg=1000, peak=2000, out=1000))
    p1 = drv.network_port_create_xml(ref, PORT_XML.format(uuid="aaaaaaaa-0000-0000-0000-000000000001",
                                                          mac=GUEST_MAC, avg=500, floor=300), 0)
    assert "<bandwidth classID='3'>" in drv.network_port_get_xml_desc(p1, 0)
    classes = htb_classes(netns, "vtbr0")
    assert classes["1:3"] == {"rate": 2_400_000, "ceil": 16_000_000}
    assert classes["1:2"]["rate"] == 5_600_000  # 1000 - 300 left for unclassified traffic
    raw = netns.exec(netns.host, "tc", "-j", "filter", "show", "dev", "vtbr0").stdout
    filters = json.loads(raw)
    port_filter = [f for f in filters if f.get("options", {}).get("flowid") == "1:3"]
    assert port_filter and port_filter[0]["pref"] == 2
    assert port_filter[0]["options"]["fh"] == "800::3"
    # the guest's MAC (tc prints one "match" key per selector: only the raw text has them all)
    assert '"value":"a0b01"' in raw and '"value":"5254"' in raw

    # a second floor that would overcommit the network is refused, nothing changes
    with pytest.raises(VirtError, match="would overcommit 'peak'"):
        drv.network_port_create_xml(ref, PORT_XML.format(uuid="aaaaaaaa-0000-0000-0000-000000000002",
                                                         mac="52:54:00:0a:0b:02", avg=500, floor=1800), 0)
    assert "1:4" not in htb_classes(netns, "vtbr0")

    # virNetworkPortSetParameters: a new floor moves the class and the unclassified share
    drv.network_port_set_parameters(p1, {"inbound.average": 500, "inbound.floor": 400}, 0)
    classes = htb_classes(netns, "vtbr0")
    assert classes["1:3"]["rate"] == 3_200_000 and classes["1:2"]["rate"] == 4_800_000
    assert drv.network_port_get_parameters(p1, 0) == {
        "inbound.average": 500, "inbound.peak": 0, "inbound.floor": 400, "inbound.burst": 0,
        "outbound.average": 0, "outbound.peak": 0, "outbound.burst": 0}
    with pytest.raises(VirtError, match="not supported"):
        drv.network_port_set_parameters(p1, {"inbound.bogus": 1}, 0)
    with pytest.raises(VirtError, match="would overcommit 'peak'"):
        drv.network_port_set_parameters(p1, {"inbound.average": 500, "inbound.floor": 2001}, 0)
    assert drv.network_port_get_parameters(p1, 0)["inbound.floor"] == 400  # unchanged
    # dropping the floor unplugs the class
    drv.network_port_set_parameters(p1, {"inbound.average": 500}, 0)
    assert "1:3" not in htb_classes(netns, "vtbr0")
    assert htb_classes(netns, "vtbr0")["1:2"]["rate"] == 8_000_000
    drv.network_port_set_parameters(p1, {"inbound.floor": 100}, 0)
    assert htb_classes(netns, "vtbr0")["1:3"]["rate"] == 800_000
    # deleting the port gives its floor back
    drv.network_port_delete(p1, 0)
    classes = htb_classes(netns, "vtbr0")
    assert "1:3" not in classes and classes["1:2"]["rate"] == 8_000_000
    drv.network_destroy(ref)


@pytest.mark.root
def test_floor_needs_inbound_qos_on_the_network(netns: Namespaces) -> None:
    drv = driver()
    xml = re.sub(r"<bandwidth>.*</bandwidth>", "", QOS_XML.format(name="noqos", avg=1, peak=1, out=1), flags=re.S)
    ref = drv.network_create_xml(xml)
    with pytest.raises(VirtError, match="has no inbound QoS set"):
        drv.network_port_create_xml(ref, PORT_XML.format(uuid="aaaaaaaa-0000-0000-0000-000000000003",
                                                         mac=GUEST_MAC, avg=100, floor=10), 0)
    drv.network_destroy(ref)


@pytest.mark.root
def test_interface_bandwidth_on_a_tap_like_device(netns: Namespaces) -> None:
    """What a hypervisor driver applies on a guest's tap: here the host end of the guest's veth."""
    tc = NetworkTc.on(Host(netns.host))
    tc.set("vgh", Limits(Rate(average=200, peak=400, burst=64), Rate(average=100)))
    classes = htb_classes(netns, "vgh")
    assert classes["1:1"] == {"rate": 1_600_000, "ceil": 3_200_000}
    assert {q["kind"] for q in qdiscs(netns, "vgh")} >= {"htb", "ingress"}
    tc.clear("vgh")
    assert not any(q["kind"] in ("htb", "ingress") for q in qdiscs(netns, "vgh"))
    links = {link["ifname"] for link in json.loads(netns.exec(netns.host, "ip", "-j", "link").stdout)}
    assert ifb_name("vgh") not in links


@pytest.mark.root
def test_bridge_mode_network_shapes_the_host_bridge_and_clears_it(netns: Namespaces) -> None:
    """A network over an existing host bridge: its QoS goes on that bridge and goes away with the
    network, the bridge stays (it is not ours). A floor needs a bridge the network runs itself."""
    netns.exec(netns.host, "ip", "link", "add", "vthb0", "type", "bridge")
    netns.exec(netns.host, "ip", "link", "set", "vthb0", "up")
    drv = driver()
    ref = drv.network_create_xml("<network><name>hostbr</name><forward mode='bridge'/><bridge name='vthb0'/>"
                                 "<bandwidth><inbound average='300'/><outbound average='200'/></bandwidth>"
                                 "</network>")
    assert htb_classes(netns, "vthb0")["1:1"]["rate"] == 2_400_000
    assert {q["kind"] for q in qdiscs(netns, "vthb0")} >= {"htb", "ingress"}
    with pytest.raises(VirtError, match="'floor' is only supported"):
        drv.network_port_create_xml(ref, PORT_XML.format(uuid="aaaaaaaa-0000-0000-0000-000000000004",
                                                         mac=GUEST_MAC, avg=100, floor=10), 0)
    drv.network_destroy(ref)
    assert not any(q["kind"] in ("htb", "ingress") for q in qdiscs(netns, "vthb0"))
    links = {link["ifname"] for link in json.loads(netns.exec(netns.host, "ip", "-j", "link").stdout)}
    assert "vthb0" in links and ifb_name("vthb0") not in links


@pytest.mark.root
def test_without_peak_floors_must_fit_under_average(netns: Namespaces) -> None:
    drv = driver()
    ref = drv.network_create_xml(QOS_XML.format(name="avgonly", avg=1000, peak=0, out=1000))
    assert htb_classes(netns, "vtbr0")["1:1"] == {"rate": 8_000_000, "ceil": 8_000_000}  # ceil: the average
    with pytest.raises(VirtError, match="would overcommit 'average'"):
        drv.network_port_create_xml(ref, PORT_XML.format(uuid="aaaaaaaa-0000-0000-0000-000000000005",
                                                         mac=GUEST_MAC, avg=100, floor=1001), 0)
    port = drv.network_port_create_xml(ref, PORT_XML.format(uuid="aaaaaaaa-0000-0000-0000-000000000006",
                                                            mac=GUEST_MAC, avg=100, floor=1000), 0)
    assert htb_classes(netns, "vtbr0")["1:3"] == {"rate": 8_000_000, "ceil": 8_000_000}
    drv.network_port_delete(port, 0)
    drv.network_destroy(ref)
