"""The host <interface> format on libvirt's corpus."""

from __future__ import annotations

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
from virt.conf.interface import Interface
from virt.util.errors import XMLError

SUITE = "interface"
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


def test_vlan_and_typed_views():
    iface = parse("<interface type='vlan' name='eth0.42'><start mode='onboot'/><mtu size='1500'/>"
                  "<protocol family='ipv4'><dhcp peerdns='no'/></protocol>"
                  "<vlan tag='42'><interface name='eth0'/></vlan></interface>")
    assert isinstance(iface, Interface)
    assert iface.start_mode == "onboot" and iface.mtu_size == 1500
    assert iface.vlan is not None and iface.vlan.dev_name == "eth0"
    proto = iface.protocol("ipv4")
    assert proto is not None and proto.dhcp is not None and proto.dhcp.peerdns is False


def test_members_drop_top_level_only_settings():
    out = normalize("<interface type='bridge' name='br0'><bridge>"
                    "<interface type='ethernet' name='eth0'><start mode='onboot'/><mtu size='9000'/>"
                    "<mac address='aa:bb:cc:dd:ee:ff'/></interface></bridge></interface>")
    assert "<start" not in out and "<mtu" not in out and "<mac address='aa:bb:cc:dd:ee:ff'/>" in out


@pytest.mark.parametrize("xml, match", [
    (("<interface type='bond' name='b'><bond><interface type='bridge' name='x'><bridge/></interface></bond>"
     "</interface>"), "unsupported type 'bridge'"),
    ("<interface type='bridge' name='br0'/>", "misses the bridge element"),
    ("<interface type='ethernet'/>", "has no name"),
    ("<interface type='ethernet' name='e'><mtu size='100001'/></interface>", "at most 100000"),
    ("<interface type='bond' name='b'><bond mode='fast'/></interface>", "unknown bonding mode fast"),
    ("<interface type='bond' name='b'><bond><arpmon interval='1'/></bond></interface>", "arpmon target missing"),
])
def test_rejections(xml, match):
    with pytest.raises(XMLError, match=match):
        normalize(xml)
