"""Real networks inside namespaces the tests create: a bridge, dnsmasq handing a lease to a veth
"guest", NAT towards an "outside" namespace, cleanup on destroy and after a crash."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from virt.core.enums import NetworkUpdateCommand as Cmd
from virt.core.enums import NetworkUpdateFlags as UF
from virt.core.enums import NetworkUpdateSection as Sec
from virt.core.uri import URI
from virt.secondary.network.driver import NetworkDriver
from virt.util.errors import VirtError
from virt.util.process import is_alive

if TYPE_CHECKING:
    from conftest import Namespaces

pytestmark = pytest.mark.root

NAT_XML = """<network>
  <name>{name}</name>
  <forward mode='nat'/>
  <bridge name='vtbr0' stp='off'/>
  <dns><host ip='192.168.77.5'><hostname>printer</hostname></host></dns>
  <ip address='192.168.77.1' netmask='255.255.255.0'>
    <dhcp><range start='192.168.77.10' end='192.168.77.20'/></dhcp>
  </ip>
</network>"""


def driver() -> NetworkDriver:
    return NetworkDriver(URI.parse("qemu:///system"))


def table_names(ns: Namespaces) -> list[str]:
    out = ns.exec(ns.host, "nft", "-j", "list", "tables").stdout
    return [t["table"]["name"] for t in json.loads(out)["nftables"] if "table" in t]


def links(ns: Namespaces, where: str) -> set[str]:
    return {link["ifname"] for link in json.loads(ns.exec(where, "ip", "-j", "link", "show").stdout)}


def dnsmasq_pid(ns: Namespaces, name: str) -> int:
    return int((ns.root / "run" / "network" / f"{name}.pid").read_text())


def guest_dhcp(ns: Namespaces, script: Path) -> str:
    """Plug the guest into the bridge and run a DHCP client there; the address it got."""
    ns.exec(ns.host, "ip", "link", "set", "vgh", "master", "vtbr0")
    ns.exec(ns.host, "ip", "link", "set", "vgh", "up")
    ns.exec(ns.guest, "ip", "link", "set", "vg0", "up")
    ns.exec(ns.guest, "busybox", "udhcpc", "-i", "vg0", "-f", "-q", "-n", "-t", "10", "-T", "1",
            "-x", "hostname:guest1", "-s", str(script))
    return Path(f"{script}.lease").read_text().strip()


def assert_nat(ns: Namespaces) -> None:
    """A connection from the guest reaches the outside namespace from the host's address."""
    server = subprocess.Popen(
        ["ip", "netns", "exec", ns.outside, sys.executable, "-c",
         ("import socket\ns=socket.create_server(('198.51.100.1',7777))\nprint('ready',flush=True)\n"
          "c,a=s.accept()\nprint(a[0],flush=True)")], stdout=subprocess.PIPE, text=True)
    ns.pids.append(server.pid)
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    ns.exec(ns.guest, sys.executable, "-c",
            "import socket\nsocket.create_connection(('198.51.100.1',7777),timeout=5).close()")
    assert server.stdout.readline().strip() == "198.51.100.2"
    server.wait(timeout=10)


def test_nat_network_gives_a_lease_and_nats_to_the_outside(netns: Namespaces, udhcpc_script: Path) -> None:
    drv = driver()
    ref = drv.network_define_xml(NAT_XML.format(name="natnet"))
    drv.network_create(ref)
    assert drv.network_is_active(ref) == 1
    assert drv.network_get_bridge_name(ref) == "vtbr0"
    assert "vtbr0" in links(netns, netns.host)
    assert "virt_net_vtbr0" in table_names(netns)
    assert netns.exec(netns.host, "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"
    pid = dnsmasq_pid(netns, "natnet")
    assert is_alive(pid)

    # DHCP: the guest gets an address from the range, and the lease is listed
    address = guest_dhcp(netns, udhcpc_script)
    assert address.startswith("192.168.77.") and 10 <= int(address.rsplit(".", 1)[1]) <= 20
    guest_mac = json.loads(netns.exec(netns.guest, "ip", "-j", "link", "show", "vg0").stdout)[0]["address"]
    deadline = time.monotonic() + 10
    while not (leases := drv.network_get_dhcp_leases(ref, None, 0)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [(lease.iface, lease.mac, lease.ipaddr, lease.prefix, lease.type, lease.hostname) for lease in leases] == \
        [("vtbr0", guest_mac, address, 24, 0, "guest1")]
    assert drv.network_get_dhcp_leases(ref, guest_mac.upper(), 0) == leases
    assert drv.network_get_dhcp_leases(ref, "52:54:00:00:00:00", 0) == []

    # the gateway answers pings and DNS (the <dns><host> record)
    netns.exec(netns.guest, "busybox", "ping", "-c", "1", "-W", "3", "192.168.77.1")
    answer = netns.exec(netns.guest, "busybox", "nslookup", "printer", "192.168.77.1").stdout
    assert "192.168.77.5" in answer

    assert_nat(netns)

    # a hypervisor driver asks for a port: it is told to plug into the bridge
    port = drv.network_port_create_xml(ref, "<networkport><uuid>aaaaaaaa-0000-0000-0000-000000000001</uuid><owner>"
                                       "<name>g</name><uuid>11111111-2222-3333-4444-555555555555</uuid></owner>"
                                       "<mac address='52:54:00:0a:0b:01'/></networkport>", 0)
    assert "<plug type='network' bridge='vtbr0'/>" in drv.network_port_get_xml_desc(port, 0)

    # destroy removes everything the start made
    drv.network_destroy(ref)
    assert drv.network_is_active(ref) == 0
    assert "vtbr0" not in links(netns, netns.host)
    assert "virt_net_vtbr0" not in table_names(netns)
    assert not is_alive(pid)
    assert drv.network_get_dhcp_leases(ref, None, 0) == []


def test_isolated_network_reaches_nothing_outside(netns: Namespaces, udhcpc_script: Path) -> None:
    drv = driver()
    xml = NAT_XML.format(name="isolated").replace("<forward mode='nat'/>", "")
    ref = drv.network_create_xml(xml)
    address = guest_dhcp(netns, udhcpc_script)
    assert address.startswith("192.168.77.")
    netns.exec(netns.guest, "busybox", "ping", "-c", "1", "-W", "3", "192.168.77.1")
    # no default route was offered (dhcp-option=3 is empty) and forwarding is rejected anyway
    netns.exec(netns.guest, "ip", "route", "replace", "default", "via", "192.168.77.1")
    res = netns.exec(netns.guest, "busybox", "ping", "-c", "1", "-W", "2", "198.51.100.1", check=False)
    assert res.returncode != 0
    drv.network_destroy(ref)
    with pytest.raises(VirtError, match="no network with matching uuid"):
        drv.network_is_active(ref)  # transient: gone with its destroy


def test_live_update_of_dhcp_hosts_reaches_dnsmasq(netns: Namespaces, udhcpc_script: Path) -> None:
    drv = driver()
    ref = drv.network_define_xml(NAT_XML.format(name="upd"))
    drv.network_create(ref)
    pid = dnsmasq_pid(netns, "upd")
    guest_mac = json.loads(netns.exec(netns.guest, "ip", "-j", "link", "show", "vg0").stdout)[0]["address"]
    drv.network_update(ref, Cmd.ADD_LAST, Sec.IP_DHCP_HOST, -1,
                       f"<host mac='{guest_mac}' name='fixed' ip='192.168.77.50'/>", UF.LIVE | UF.CONFIG)
    hosts = (netns.root / "lib" / "network" / "upd.hostsfile").read_text()
    assert hosts == f"{guest_mac},192.168.77.50,fixed\n"
    assert dnsmasq_pid(netns, "upd") == pid  # SIGHUP, not a restart
    assert guest_dhcp(netns, udhcpc_script) == "192.168.77.50"
    assert "192.168.77.50" in drv.network_get_xml_desc(ref, 1)  # the persistent config too
    drv.network_destroy(ref)


def test_recovery_after_a_crash_mid_start(netns: Namespaces) -> None:
    drv = driver()
    ref = drv.network_define_xml(NAT_XML.format(name="crashy"))
    drv.network_create(ref)
    pid = dnsmasq_pid(netns, "crashy")
    # what a process killed before finishing its start leaves: everything up, the record unfinished
    status_file = netns.root / "run" / "network" / "crashy.json"
    status = json.loads(status_file.read_text())
    status_file.write_text(json.dumps({**status, "phase": "starting"}))
    res = netns.driver_subprocess("print(drv.network_is_active(drv.network_lookup_by_name('crashy')))")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "0"
    assert not is_alive(pid)
    assert "vtbr0" not in links(netns, netns.host)
    assert "virt_net_vtbr0" not in table_names(netns)
    # the persistent definition survives and starts again
    res = netns.driver_subprocess("r = drv.network_lookup_by_name('crashy'); drv.network_create(r); "
                                  "print(drv.network_is_active(r))")
    assert res.stdout.strip() == "1", res.stderr


def test_recovery_when_the_bridge_vanished_or_dnsmasq_died(netns: Namespaces) -> None:
    drv = driver()
    ref = drv.network_define_xml(NAT_XML.format(name="lost"))
    drv.network_create(ref)
    old = dnsmasq_pid(netns, "lost")
    netns.exec(netns.host, "kill", "-9", str(old))
    while is_alive(old):
        time.sleep(0.05)
    res = netns.driver_subprocess("print(drv.network_is_active(drv.network_lookup_by_name('lost')))")
    assert res.stdout.strip() == "1", res.stderr
    new = dnsmasq_pid(netns, "lost")
    assert new != old and is_alive(new)  # restarted by the new process
    netns.exec(netns.host, "ip", "link", "del", "vtbr0")
    res = netns.driver_subprocess("print(drv.network_is_active(drv.network_lookup_by_name('lost')))")
    assert res.stdout.strip() == "0", res.stderr
    assert not is_alive(new)
    assert "virt_net_vtbr0" not in table_names(netns)


def test_autostart_once_per_boot(netns: Namespaces) -> None:
    drv = driver()
    ref = drv.network_define_xml(NAT_XML.format(name="auto"))
    drv.network_set_autostart(ref, 1)
    assert (netns.root / "etc" / "network" / "autostart" / "auto.xml").is_symlink()
    # the run dir already saw its boot-time autostart (this driver's first open did it)
    res = netns.driver_subprocess("print(drv.network_is_active(drv.network_lookup_by_name('auto')))")
    assert res.stdout.strip() == "0", res.stderr
    (netns.root / "run" / "network" / ".autostarted").unlink()  # a reboot empties /run
    res = netns.driver_subprocess("print(drv.network_is_active(drv.network_lookup_by_name('auto')))")
    assert res.stdout.strip() == "1", res.stderr
    drv.network_destroy(ref)


def test_start_refuses_a_bridge_that_exists(netns: Namespaces) -> None:
    drv = driver()
    netns.exec(netns.host, "ip", "link", "add", "vtbr0", "type", "bridge")
    ref = drv.network_define_xml(NAT_XML.format(name="clash"))
    with pytest.raises(VirtError, match="Network is already in use by interface vtbr0"):
        drv.network_create(ref)
    assert drv.network_is_active(ref) == 0
    assert "virt_net_vtbr0" not in table_names(netns)
    assert "vtbr0" in links(netns, netns.host)  # not ours: left alone


def test_dnsmasq_failure_undoes_the_start(netns: Namespaces) -> None:
    drv = driver()
    # port 53 on the bridge address is taken: dnsmasq cannot start, everything is rolled back
    blocker = subprocess.Popen(["ip", "netns", "exec", netns.host, sys.executable, "-c",
                                ("import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                                 "s.bind(('0.0.0.0',53))\nprint('ready',flush=True)\ntime.sleep(60)")],
                               stdout=subprocess.PIPE, text=True)
    netns.pids.append(blocker.pid)
    assert blocker.stdout is not None and blocker.stdout.readline().strip() == "ready"
    ref = drv.network_define_xml(NAT_XML.format(name="nodns"))
    with pytest.raises(VirtError, match="dnsmasq"):
        drv.network_create(ref)
    blocker.kill()
    blocker.wait()
    assert drv.network_is_active(ref) == 0
    assert "vtbr0" not in links(netns, netns.host)
    assert "virt_net_vtbr0" not in table_names(netns)
    assert not (netns.root / "run" / "network" / "nodns.json").exists()



def test_iptables_fallback(netns: Namespaces, udhcpc_script: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    if shutil.which("iptables", path="/usr/sbin:/sbin:/usr/bin") is None:
        pytest.skip("iptables is not installed (Debian package iptables)")
    monkeypatch.setenv("VIRT_NETWORK_FIREWALL", "iptables")
    drv = driver()
    ref = drv.network_create_xml(NAT_XML.format(name="ipt"))
    chains = netns.exec(netns.host, "iptables", "-S").stdout + netns.exec(netns.host, "iptables", "-t", "nat", "-S").stdout
    for chain in ("VNINP-vtbr0", "VNOUT-vtbr0", "VNFWD-vtbr0", "VNNAT-vtbr0"):
        assert f"-N {chain}" in chains and f"-j {chain}" in chains
    assert "virt_net_vtbr0" not in table_names(netns)
    assert guest_dhcp(netns, udhcpc_script).startswith("192.168.77.")
    assert_nat(netns)
    drv.network_destroy(ref)
    chains = netns.exec(netns.host, "iptables", "-S").stdout + netns.exec(netns.host, "iptables", "-t", "nat", "-S").stdout
    assert "vtbr0" not in chains
