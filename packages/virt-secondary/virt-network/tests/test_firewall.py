"""The firewall rules of each forward mode, and nft accepting every script we generate (check mode:
nothing is loaded)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from virt.conf import parse
from virt.secondary.network.firewall import NftablesFirewall, ipt_rule, network_rules
from virt.secondary.network.host import Host

NETWORKS = {
    "nat": "<forward mode='nat'/><ip address='192.168.1.1' prefix='24'/>",
    "nat-dev-snat-v6": ("<forward mode='nat' dev='eth9'><nat ipv6='yes'><address start='10.0.0.5' end='10.0.0.9'/>"
                        "<port start='2000' end='3000'/></nat></forward><ip address='192.168.1.1' prefix='24'/>"
                        "<ip family='ipv6' address='fd00:1::1' prefix='64'/>"),
    "route": "<forward mode='route'/><ip address='192.168.2.1' prefix='24'/><ip family='ipv6' address='fd00:2::1' prefix='64'/>",
    "isolated": "<ip address='192.168.3.1' prefix='24'/>",
    "open": "<forward mode='open'/><ip address='192.168.4.1' prefix='24'/>",
}


def rules(kind: str) -> list:
    net = parse(f"<network><name>{kind}</name><bridge name='vb0'/>{NETWORKS[kind]}</network>", "network")
    return network_rules(net, "vb0")


def test_rules_by_mode() -> None:
    assert rules("open") == []
    isolated = rules("isolated")
    assert [r.verdict for r in isolated if r.chain == "forward"] == ["accept", "reject", "reject"]
    assert not any(r.chain == "postrouting" for r in isolated)
    route = [(r.verdict, r.family, r.saddr, r.daddr) for r in rules("route") if r.chain == "forward"]
    assert ("accept", 4, None, "192.168.2.0/24") in route and ("accept", 6, "fd00:2::/64", None) in route
    nat = rules("nat-dev-snat-v6")
    snat = [r for r in nat if r.verdict == "snat"]
    assert [(r.proto, r.to, r.ports, r.oif) for r in snat] == [
        ("tcp", "10.0.0.5-10.0.0.9", "2000-3000", "eth9"), ("udp", "10.0.0.5-10.0.0.9", "2000-3000", "eth9"),
        (None, "10.0.0.5-10.0.0.9", None, "eth9")]  # ports only make sense with a protocol
    assert [r.family for r in nat if r.verdict == "masquerade"] == [6, 6, 6]  # IPv6 NAT asked for
    assert ipt_rule(snat[0]) == ["-o", "eth9", "-s", "192.168.1.0/24", "!", "-d", "192.168.1.0/24", "-p", "tcp",
                                 "-j", "SNAT", "--to-source", "10.0.0.5-10.0.0.9:2000-3000"]


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("nft", path="/usr/sbin:/sbin:/usr/bin") is None,
                    reason="needs root and nft (Debian package nftables)")
@pytest.mark.parametrize("kind", sorted(NETWORKS))
def test_nft_accepts_the_script(kind: str) -> None:
    script = NftablesFirewall(Host()).script("vb0", rules(kind))
    res = subprocess.run(["nft", "-c", "-f", "-"], input=script, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr + script
