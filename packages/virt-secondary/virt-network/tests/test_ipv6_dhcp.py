"""DHCPv6 and router advertisements from a network's dnsmasq: a namespace guest running ISC dhclient
gets an IPv6 lease, net-dhcp-leases lists it with libvirt's fields, the guest pings the gateway."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from virt.core.uri import URI
from virt.secondary.network.dnsmasq import read_leases
from virt.secondary.network.driver import NetworkDriver, lease_mac

if TYPE_CHECKING:
    from conftest import Namespaces

V6_XML = """<network>
  <name>v6net</name>
  <bridge name='vtbr0' stp='off'/>
  <ip address='192.168.77.1' netmask='255.255.255.0'/>
  <ip family='ipv6' address='fd00:77::1' prefix='64'>
    <dhcp><range start='fd00:77::10' end='fd00:77::20'/></dhcp>
  </ip>
</network>"""


def test_ipv6_lease_lines_carry_iaid_and_duid() -> None:
    text = ("1700000000 52:54:00:aa:bb:cc 192.168.77.12 g4 01:52:54:00:aa:bb:cc\n"
            "duid 00:01:00:01:2c:aa:bb:cc:52:54:00:11:22:33\n"
            "1700000500 1404 fd00:77::12 g6 00:01:00:01:2c:aa:bb:cc:52:54:00:0a:0b:01\n")
    v4, v6 = read_leases(text)
    assert (v4.mac, v4.iaid, v4.ipv6) == ("52:54:00:aa:bb:cc", None, False)
    assert (v6.mac, v6.iaid, v6.ipaddr, v6.clientid, v6.ipv6) == (
        None, "1404", "fd00:77::12", "00:01:00:01:2c:aa:bb:cc:52:54:00:0a:0b:01", True)
    # the MAC of a DHCPv6 client, from its DUID when that is link-layer based (DUID-LLT, DUID-LL)
    assert lease_mac(v6) == "52:54:00:0a:0b:01"
    assert lease_mac(v4) == "52:54:00:aa:bb:cc"
    assert lease_mac(v6.__class__(0, None, "fd00::1", None, "00:03:00:01:52:54:00:00:00:07")) == "52:54:00:00:00:07"
    assert lease_mac(v6.__class__(0, None, "fd00::1", None, "00:02:00:00:ab:11:aa")) is None  # DUID-EN


@pytest.mark.root
def test_guest_gets_an_ipv6_lease_and_pings_the_gateway(netns: Namespaces, tmp_path: Path) -> None:
    dhclient = shutil.which("dhclient", path="/usr/sbin:/sbin:/usr/bin")
    if dhclient is None:
        pytest.skip("needs ISC dhclient (Debian package isc-dhcp-client)")
    for ns in (netns.host, netns.guest):  # duplicate address detection would only make the test wait
        for scope in ("all", "default"):
            netns.exec(ns, "sysctl", "-q", "-w", f"net.ipv6.conf.{scope}.accept_dad=0")
    netns.exec(netns.guest, "sysctl", "-q", "-w", "net.ipv6.conf.vg0.accept_dad=0")
    drv = NetworkDriver(URI.parse("qemu:///system"))
    ref = drv.network_create_xml(V6_XML)
    conf = (netns.root / "lib" / "network" / "v6net.conf").read_text()
    assert "dhcp-range=fd00:77::10,fd00:77::20,64\n" in conf and "enable-ra\n" in conf

    netns.exec(netns.host, "ip", "link", "set", "vgh", "master", "vtbr0")
    netns.exec(netns.host, "ip", "link", "set", "vgh", "up")
    netns.exec(netns.guest, "ip", "link", "set", "vg0", "address", "52:54:00:0a:0b:01")
    netns.exec(netns.guest, "ip", "link", "set", "vg0", "up")
    # dhclient's hook: only the address (never resolv.conf or anything else of the host's)
    script = tmp_path / "dhclient6.sh"
    script.write_text("#!/bin/sh\n"
                      "case \"$reason\" in\n"
                      "  BOUND6|RENEW6|REBIND6|REBOOT6)\n"
                      "    ip -6 addr replace \"$new_ip6_address/64\" dev \"$interface\" nodad\n"
                      "    echo \"$new_ip6_address\" > \"$0.lease\" ;;\n"
                      "esac\n")
    script.chmod(0o755)
    # under the fixture's root: its clean-up stops every process whose command line names that root, so
    # dhclient is stopped even when it had not written its pid file yet
    pidfile, leasefile = netns.root / "dhclient6.pid", netns.root / "dhclient6.leases"
    # the link-local address must exist before dhclient can send from it
    deadline = time.monotonic() + 10
    while "fe80" not in netns.exec(netns.guest, "ip", "-6", "addr", "show", "dev", "vg0").stdout:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    try:
        netns.exec(netns.guest, dhclient, "-6", "-1", "-v", "-pf", str(pidfile), "-lf", str(leasefile),
                   "-sf", str(script), "vg0")
    finally:
        if pidfile.exists():  # it went to the background with its lease: stop it by its pid
            netns.pids.append(int(pidfile.read_text().split()[0]))
    address = Path(f"{script}.lease").read_text().strip()
    assert address.startswith("fd00:77::")
    assert 0x10 <= int(address.rsplit(":", 1)[1], 16) <= 0x20

    deadline = time.monotonic() + 10
    while not (leases := [x for x in drv.network_get_dhcp_leases(ref, None, 0) if x.type == 1]):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    (lease,) = leases
    assert (lease.iface, lease.ipaddr, lease.prefix, lease.type) == ("vtbr0", address, 64, 1)
    assert lease.iaid and int(lease.iaid) >= 0
    assert lease.clientid and lease.clientid.count(":") >= 9  # the client's DUID
    assert lease.mac == "52:54:00:0a:0b:01"  # from its link-layer DUID
    assert drv.network_get_dhcp_leases(ref, "52:54:00:0a:0b:01", 0) == [lease]

    netns.exec(netns.guest, "busybox", "ping", "-6", "-c", "1", "-W", "3", "fd00:77::1")
    drv.network_destroy(ref)
    links = {link["ifname"] for link in json.loads(netns.exec(netns.host, "ip", "-j", "link").stdout)}
    assert "vtbr0" not in links
