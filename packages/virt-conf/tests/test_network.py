"""The <network> format on libvirt's corpus, plus the typed views the network driver uses."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).parent))  # the shared corpus helpers beside this file
from corpus_cases import (
    check_case,
    check_fixed_point,
    check_mutant,
    corpus_documents,
    mutated,
    params,
)
from virt.conf import normalize, parse
from virt.conf.network import Network, format_ip, parse_ip
from virt.util.errors import ConfigUnsupportedError, VirtError, XMLError

SUITE = "network"
#: Cases not passing yet, with the reason (none today).
XFAIL: dict[str, str] = {}


@pytest.mark.parametrize("case", params(SUITE, XFAIL))
def test_corpus(case):
    check_case(case)


@pytest.mark.parametrize("case", params(SUITE, {}))
def test_fixed_point(case):
    check_fixed_point(case)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(corpus_documents([SUITE])))
def test_mutants_raise_only_virt_errors(doc):
    check_mutant(doc)


NAT = """<network><name>default</name><uuid>81ff0d90-c91e-6742-64da-4a736edb9a9b</uuid>
<forward mode='nat'/><bridge name='virbr0'/>
<ip address='192.168.122.1' netmask='255.255.255.0'><dhcp>
<range start='192.168.122.2' end='192.168.122.254'><lease expiry='1' unit='hours'/></range>
<host mac='52:54:00:00:00:01' name='a' ip='192.168.122.10'/></dhcp></ip>
<ip family='ipv6' address='2001:db8::1' prefix='64'><dhcp><range start='2001:db8::10' end='2001:db8::20'/></dhcp></ip>
</network>"""


def test_typed_views_for_dnsmasq():
    net = parse(NAT)
    assert isinstance(net, Network)
    assert net.forward_mode == "nat" and net.bridge_name() == "virbr0" and net.stp and net.stp_delay == 0
    v4 = net.dhcp_ip(4)
    assert v4 is not None and v4.prefix_len() == 24
    assert v4.network() == ipaddress.ip_network("192.168.122.0/24")
    assert str(v4.netmask_addr()) == "255.255.255.0"
    assert [(str(r.start_addr), str(r.end_addr), r.lease.seconds) for r in v4.ranges] == [
        ("192.168.122.2", "192.168.122.254", 3600)]
    assert [(h.mac, h.name, str(h.ip_addr)) for h in v4.hosts] == [("52:54:00:00:00:01", "a", "192.168.122.10")]
    v6 = net.dhcp_ip(6)
    assert v6 is not None and v6.prefix_len() == 64 and v6.is_ipv6
    assert [ip.address for ip in net.ipv6_ips] == ["2001:db8::1"]


def test_isolated_network_gets_bridge_defaults_and_uuid():
    out = normalize("<network><name>iso</name><ip address='10.0.0.1' prefix='8'/></network>")
    net = parse(out)
    assert net.forward is None and net.uuid
    assert "<bridge stp='on' delay='0'/>" in out


@pytest.mark.parametrize("xml, error, match", [
    ("<network><name>a/b</name></network>", XMLError, "invalid char in name"),
    ("<network><name>n</name><forward mode='route'/></network>", XMLError, "no IP address"),
    ("<network><name>n</name><forward mode='bogus'/></network>", ConfigUnsupportedError, "unknown forwarding type"),
    ("<network><name>n</name><ip address='10.0.0.1' netmask='255.0.0.0' prefix='8'/></network>",
     ConfigUnsupportedError, "both a prefix and a netmask"),
    (("<network><name>n</name><ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.1.2' end='10.0.1.9'/>"
     "</dhcp></ip></network>"), VirtError, "not entirely within network 10.0.0.1/24"),
    (("<network><name>n</name><ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.0.9' end='10.0.0.2'/>"
     "</dhcp></ip></network>"), VirtError, "reversed"),
    ("<network><name>n</name><mac address='01:00:00:00:00:01'/></network>", XMLError, "multicast"),
    ("<network><name>n</name><forward mode='bridge'/><bridge name='br0' stp='on'/></network>", XMLError,
     "only allowed in route, nat, and isolated mode"),
    ("<network><name>n</name><forward mode='bridge'/><mtu size='9000'/></network>", XMLError, "mtu size only"),
    (("<network><name>n</name><ip address='10.0.0.1' prefix='8'/><route address='10.1.0.0' prefix='16' "
     "gateway='192.168.0.1'/></network>"), ConfigUnsupportedError, "unreachable static route gateway"),
    (("<network><name>n</name><ip address='10.0.0.1' prefix='8'/><route address='10.1.0.1' prefix='16' "
     "gateway='10.0.0.2'/></network>"), XMLError, "is not a network address"),
    ("<network><name>n</name><dns enable='no'><txt name='a' value='b'/></dns></network>", XMLError,
     "Extra data in disabled network"),
    ("<network><name>n</name><vlan trunk='no'><tag id='1'/><tag id='2'/></vlan></network>", XMLError,
     "trunk='yes' is required"),
    ("<network><name>n</name><virtualport/></network>", XMLError, "missing required virtualport type"),
    (("<network><name>n</name><forward mode='bridge'><interface dev='a'/><interface dev='a'/></forward>"
     "</network>"), XMLError, "can only be listed once in network n"),
])
def test_libvirt_rejections(xml, error, match):
    with pytest.raises(error, match=match):
        normalize(xml)


def test_inet_ntop_spelling():
    assert format_ip(parse_ip("::ffff:10.1.2.3")) == "::ffff:10.1.2.3"
    assert format_ip(parse_ip("2001:0db8:0:0:0:0:0:1")) == "2001:db8::1"
    assert format_ip(parse_ip("10.1")) == "10.0.0.1"  # inet_aton forms, as getaddrinfo reads them


def test_validate_for_define_rules():
    # libvirt's define runs the network driver's validation right after the parse: so does parse
    with pytest.raises(ConfigUnsupportedError, match="multiple default"):
        parse("<network><name>n</name><forward mode='bridge'/><bridge name='br0'/>"
              "<portgroup name='a' default='yes'/><portgroup name='b' default='yes'/></network>")
