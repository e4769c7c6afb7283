"""The dnsmasq configuration generator: libvirt's expected files (corpus network_dnsmasq) and the options they miss."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from virt.conf import parse
from virt.secondary.network.dnsmasq import (
    DnsmasqCaps,
    DnsmasqFiles,
    build_config,
    escape,
    needs_dnsmasq,
    ptr_domain,
    read_leases,
)
from virt.util.errors import ConfigUnsupportedError, InternalError

CORPUS = Path(os.environ.get("VIRT_CORPUS", "/work/shared/corpus")) / "network_dnsmasq"
CASES = json.loads((CORPUS / "manifest.json").read_text()) if (CORPUS / "manifest.json").is_file() else []


def meaningful(text: str) -> list[str]:
    """Lines as the corpus scorer compares them: blank and comment lines dropped."""
    return [s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith("#")]


@pytest.mark.skipif(not CASES, reason="corpus not found (set VIRT_CORPUS)")
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_corpus_conf_and_hostsfile(case: dict) -> None:
    net = parse((CORPUS / case["input"]).read_text(), "network")
    caps = DnsmasqCaps.parse(case.get("params", {}).get("dnsmasq_caps", "full"))
    config = build_config(net, caps)
    expected = (CORPUS / case["expected"]).read_text()
    assert config.conf == expected  # byte-exact, comments included
    hostsfile = case.get("extra", {}).get("hostsfile")
    if hostsfile:
        assert config.hostsfile() == (CORPUS / hostsfile).read_text()
    else:
        assert config.dhcp_hosts == []


def net(body: str, name: str = "n1", extra: str = "") -> object:
    return parse(f"<network{extra}><name>{name}</name><uuid>81ff0d90-c91e-6742-64da-4a736edb9a9b</uuid>"
                 f"<bridge name='virbr9'/>{body}</network>", "network")


def test_forwarders_domain_ptr_and_plain_names() -> None:
    n = net("<forward mode='nat'/><domain name='example.com' localOnly='yes'/>"
            "<dns forwardPlainNames='no'><forwarder domain='corp' addr='10.0.0.53'/><forwarder addr='192.0.2.1'/>"
            "<forwarder domain='blocked'/><txt name='t1' value='hello world'/>"
            "<host ip='192.168.9.20'><hostname>a</hostname><hostname>b</hostname></host>"
            "<host ip='192.168.9.20'><hostname>c</hostname></host></dns>"
            "<ip address='192.168.9.1' prefix='24' localPtr='yes'/>"
            "<ip family='ipv6' address='fd00:1:2:3::1' prefix='64' localPtr='yes'/>")
    cfg = build_config(n, files=DnsmasqFiles.in_dir("/st", "n1", pidfile="/run/n1.pid", leasefile="/st/n1.leases"))
    assert meaningful(cfg.conf) == [
        "strict-order",
        "server=/corp/10.0.0.53", "server=192.0.2.1", "server=/blocked/#", "no-resolv",
        "local=/example.com/", "domain=example.com", "expand-hosts",
        "local=/9.168.192.in-addr.arpa/", "local=/3.0.0.0.2.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa/",
        "domain-needed", "local=//",
        "pid-file=/run/n1.pid",
        "except-interface=lo", "bind-dynamic", "interface=virbr9",
        "txt-record=t1,hello world",
        "addn-hosts=/st/n1.addnhosts",
        "dhcp-range=fd00:1:2:3::1,ra-only",
    ]
    assert cfg.addnhosts() == "192.168.9.20\ta\tb\tc\t\n"


def test_dhcp_with_leasefile_tftp_bootp_and_passthrough() -> None:
    n = net("<ip address='10.1.0.1' netmask='255.255.0.0'><tftp root='/srv/tftp'/>"
            "<dhcp><range start='10.1.1.2' end='10.1.1.9'><lease expiry='0'/></range>"
            "<host mac='52:54:00:00:00:01' ip='10.1.1.20'/><host name='only-name' ip='10.1.1.21'/>"
            "<bootp file='pxelinux.0' server='10.1.0.5'/></dhcp></ip>"
            "<dnsmasq:options><dnsmasq:option value='log-dhcp'/></dnsmasq:options>",
            extra=" xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'")
    cfg = build_config(n, files=DnsmasqFiles.in_dir("/st", "n1", leasefile="/st/n1.leases"))
    lines = meaningful(cfg.conf)
    assert lines[lines.index("dhcp-option=3"):] == [
        "dhcp-option=3", "no-resolv", "ra-param=*,0,0", "enable-tftp", "tftp-root=/srv/tftp",
        "dhcp-range=10.1.1.2,10.1.1.9,255.255.0.0,infinite",
        "dhcp-no-override", "dhcp-authoritative",
        "dhcp-boot=pxelinux.0,,10.1.0.5", "dhcp-lease-max=8",
        "dhcp-hostsfile=/st/n1.hostsfile", "addn-hosts=/st/n1.addnhosts",
        "dhcp-leasefile=/st/n1.leases", "log-dhcp",
    ]
    assert cfg.dhcp_hosts == ["52:54:00:00:00:01,10.1.1.20", "only-name,10.1.1.21"]


def test_tftp_roots_without_dhcp_are_served() -> None:
    """Every IPv4 address's TFTP root is served (enable-tftp once, before the DHCP ranges), DHCP or not;
    one with no DHCP gets neither DHCP options nor a hosts file."""
    n = net("<forward mode='nat'/><ip address='10.3.0.1' prefix='24'><tftp root='/srv/a'/></ip>"
            "<ip address='10.4.0.1' prefix='24'><tftp root='/srv/b'/>"
            "<dhcp><range start='10.4.0.10' end='10.4.0.19'/></dhcp></ip>")
    assert meaningful(build_config(n).conf)[4:] == [
        "enable-tftp", "tftp-root=/srv/a", "tftp-root=/srv/b",
        "dhcp-range=10.4.0.10,10.4.0.19,255.255.255.0", "dhcp-no-override", "dhcp-authoritative",
        "dhcp-lease-max=10", "dhcp-hostsfile=/var/lib/libvirt/dnsmasq/n1.hostsfile",
        "addn-hosts=/var/lib/libvirt/dnsmasq/n1.addnhosts",
    ]
    only = net("<forward mode='nat'/><ip address='10.3.0.1' prefix='24'><tftp root='/srv/a'/></ip><dns enable='no'/>")
    lines = meaningful(build_config(only).conf)
    assert lines[-2:] == ["enable-tftp", "tftp-root=/srv/a"]
    assert not any(line.startswith(("dhcp-", "addn-hosts")) for line in lines)
    assert needs_dnsmasq(only)  # TFTP alone keeps dnsmasq running with DNS disabled


def test_mtu_is_announced_by_dhcp() -> None:
    """The network's <mtu> becomes DHCP option 26, after the hosts files and before the IPv6 RA lines."""
    n = net("<forward mode='nat'/><mtu size='9000'/><ip address='10.5.0.1' prefix='24'>"
            "<dhcp><range start='10.5.0.2' end='10.5.0.3'/></dhcp></ip>"
            "<ip family='ipv6' address='fd00:5::1' prefix='64'/>")
    assert meaningful(build_config(n).conf)[-3:] == [
        "addn-hosts=/var/lib/libvirt/dnsmasq/n1.addnhosts", "dhcp-option=option:mtu,9000",
        "dhcp-range=fd00:5::1,ra-only",
    ]
    without = net("<forward mode='nat'/><ip address='10.5.0.1' prefix='24'/>")
    assert not any("option:mtu" in line for line in meaningful(build_config(without).conf))


def test_old_dnsmasq_binds_addresses_and_refuses_public_ones() -> None:
    private = net("<forward mode='nat'/><ip address='192.168.5.1' prefix='24'/>")
    lines = meaningful(build_config(private, DnsmasqCaps.parse("2.48")).conf)
    assert "bind-interfaces" in lines and "listen-address=192.168.5.1" in lines and "bind-dynamic" not in lines
    public = net("<forward mode='route'/><ip address='8.8.4.1' prefix='24'/>")
    with pytest.raises(InternalError, match="Publicly routable address 8.8.4.1 is prohibited.*2.48"):
        build_config(public, DnsmasqCaps.parse("2.48"))
    v6 = net("<ip family='ipv6' address='fd00::1' prefix='64'><dhcp><range start='fd00::10' end='fd00::20'/></dhcp></ip>")
    with pytest.raises(ConfigUnsupportedError, match=r"\(2.48\) doesn't adequately support IPv6"):
        build_config(v6, DnsmasqCaps.parse("2.48"))


def test_ptr_domain_needs_whole_labels() -> None:
    n = net("<forward mode='nat'/><ip address='10.2.3.1' prefix='20' localPtr='yes'/>")
    with pytest.raises(ConfigUnsupportedError, match="PTR domain for IPv4 network with prefix 20"):
        build_config(n)
    assert ptr_domain(net("<ip address='10.2.3.1' prefix='16'/>").ips[0]) == "2.10.in-addr.arpa"
    assert ptr_domain(net("<ip family='ipv6' address='2001:db8::1' prefix='36'/>").ips[0]) == \
        "0.8.b.d.0.1.0.0.2.ip6.arpa"


def test_needs_dnsmasq() -> None:
    assert not needs_dnsmasq(net("<forward mode='nat'/><ip address='10.9.0.1' prefix='24'/><dns enable='no'/>",))
    assert needs_dnsmasq(net("<forward mode='nat'/><ip address='10.9.0.1' prefix='24'/>"))
    assert not needs_dnsmasq(net(""))


def test_escape_and_caps_probe_parsing() -> None:
    assert escape("a\"b'<c>&\x01d") == "a&quot;b&apos;&lt;c&gt;&amp;d"
    caps = DnsmasqCaps.from_output("Dnsmasq version 2.90  Copyright\nCompile time options: IPv6 GNU-getopt",
                                   "  -z, --bind-interfaces ...\n      --bind-dynamic ...\n      --ra-param=...")
    assert caps.version == (2, 90) and caps.bind_dynamic and caps.ra_param and not caps.bindtodevice
    with pytest.raises(ConfigUnsupportedError):
        DnsmasqCaps.parse("new")


def test_read_leases() -> None:
    text = ("1700000000 52:54:00:AA:bb:01 192.168.122.50 guest1 01:52:54:00:aa:bb:01\n"
            "1700000100 52:54:00:aa:bb:02 192.168.122.51 * *\n"
            "duid 00:01:00:01:2c:00:00:00:52:54:00:00:00:09\n"
            "1700000200 1234 fd00::50 guest6 00:04:aa:bb\n")
    leases = list(read_leases(text))
    assert [(lease.mac, lease.ipaddr, lease.hostname, lease.clientid, lease.iaid) for lease in leases] == [
        ("52:54:00:aa:bb:01", "192.168.122.50", "guest1", "01:52:54:00:aa:bb:01", None),
        ("52:54:00:aa:bb:02", "192.168.122.51", None, None, None),
        (None, "fd00::50", "guest6", "00:04:aa:bb", "1234"),
    ]


@pytest.mark.skipif(not CASES, reason="corpus not found (set VIRT_CORPUS)")
def test_cli_command_prints_the_conf(tmp_path: Path) -> None:
    case = CASES[0]
    exe = Path(sys.executable).with_name("virt")
    out = subprocess.run([str(exe), "net-dumpdnsmasq", str(CORPUS / case["input"])], capture_output=True,
                         text=True, check=True).stdout
    assert meaningful(out) == meaningful((CORPUS / case["expected"]).read_text())
    bad = tmp_path / "bad.xml"
    bad.write_text("<network><name>x</name><ip address='10.0.0.1' prefix='20' localPtr='yes'/></network>")
    res = subprocess.run([str(exe), "net-dumpdnsmasq", str(bad)], capture_output=True, text=True, check=False)
    assert res.returncode == 1 and "PTR domain for IPv4 network with prefix 20" in res.stderr
    assert "Traceback" not in res.stderr
