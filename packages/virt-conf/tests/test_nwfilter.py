"""The <filter> and <filterbinding> formats on libvirt's corpus."""

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
from virt.conf.nwfilter import NWFilter, NWFilterBinding
from virt.util.errors import InvalidArgError, VirtError

SUITE = "nwfilter"
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


def test_values_keep_their_spelling_and_masks_become_prefixes():
    out = normalize("<filter name='f'><rule action='accept' direction='in'>"
                    "<ip protocol='0x11' dscp='0x10' srcipmask='255.255.0.0' srcipaddr='10.0.0.1' dstportstart='0x50'/>"
                    "<ip dstportend='80'/></rule></filter>")
    assert ("<ip srcipaddr='10.0.0.1' srcipmask='16' protocol='udp' dstportstart='0x50' dstportend='80' "
            "dscp='0x10'/>") in out


def test_variables_state_and_tcp_flags():
    f = parse("<filter name='f'><rule action='drop' direction='out' priority='-5000'>"
              "<tcp srcipaddr='$IP[@1]' state='established,NEW' flags='SYN,ACK/all'/></rule></filter>")
    assert isinstance(f, NWFilter)
    rule = f.rules[0]
    assert rule.priority == "500" and rule.protocol == "tcp"
    assert rule.match is not None and rule.match.get("srcipaddr") == "$IP[@1]"
    out = f.format()
    assert "state='NEW,ESTABLISHED'" in out and "flags='SYN,ACK/ALL'" in out


def test_negation_is_printed_per_run_of_attributes():
    out = normalize("<filter name='f'><rule action='drop' direction='in'>"
                    "<mac match='no' srcmacaddr='1:2:3:4:5:6' srcmacmask='ff:ff:ff:ff:ff:0'/></rule></filter>")
    assert "<mac match='no' srcmacaddr='01:02:03:04:05:06' srcmacmask='ff:ff:ff:ff:ff:00'/>" in out


def test_chain_priorities():
    assert "chain='ipv4-x' priority='-700'" in normalize("<filter name='f' chain='ipv4-x'/>")
    assert "priority" not in normalize("<filter name='f' chain='stp-x'/>")
    with pytest.raises(InvalidArgError, match="Invalid chain name"):
        normalize("<filter name='f' chain='rootx'/>")
    with pytest.raises(InvalidArgError, match="outside valid range"):
        normalize("<filter name='f' chain='mac' priority='2000'/>")


@pytest.mark.parametrize("xml, match", [
    ("<filter name='f'><rule action='accept' direction='in'><mac protocolid='0x100'/></rule></filter>",
     "protocolid has illegal value 0x100"),
    ("<filter name='f'><rule action='accept' direction='in'><ip srcportstart='1'/></rule></filter>",
     "port specification requires protocol"),
    ("<filter name='f'><rule direction='in'/></filter>", "requires action attribute"),
    ("<filter><rule action='accept' direction='in'/></filter>", "filter has no name"),
])
def test_rejections(xml, match):
    with pytest.raises(VirtError, match=match):
        normalize(xml)


def test_filterbinding_round_trip():
    xml = ("<filterbinding><owner><name>vm</name><uuid>d54df46f-1ab5-4a22-8618-4560ef5fac2c</uuid></owner>"
           "<portdev name='vnet0'/><mac address='52:54:00:7B:35:93'/>"
           "<filterref filter='clean-traffic'><parameter name='MAC' value='52:54:00:7b:35:93'/></filterref>"
           "</filterbinding>")
    b = parse(xml)
    assert isinstance(b, NWFilterBinding)
    assert b.mac is not None and b.mac.address == "52:54:00:7b:35:93"
    assert b.filterref is not None and b.filterref.params == {"MAC": ["52:54:00:7b:35:93"]}
    assert parse(b.format()) == b
    with pytest.raises(VirtError, match="no port dev"):
        normalize(xml.replace("<portdev name='vnet0'/>", ""))
