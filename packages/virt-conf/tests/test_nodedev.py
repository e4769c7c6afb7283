"""Node devices on libvirt's corpus, plus the typed capability views the node device driver uses."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).parent))  # the shared corpus helpers beside this file
from corpus_cases import check_case, check_fixed_point, check_mutant, corpus_documents, mutated, params
from virt.conf import normalize, parse
from virt.conf.nodedev import NodeDevice, PCICap, StorageCap
from virt.util.errors import VirtError

SUITE = "nodedev"
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


PCI = b"""<device><name>pci_0000_02_10_7</name><parent>pci_0000_00_04_0</parent>
<capability type='pci'><domain>0</domain><bus>2</bus><slot>16</slot><function>7</function>
<product id='0x10ca'/><vendor id='8086'>Intel</vendor>
<capability type='phys_function'><address domain='0' bus='2' slot='0' function='1'/></capability>
<iommuGroup number='31'/><numa node='-1'/></capability></device>"""


def test_pci_typed_view():
    dev = parse(PCI)
    assert isinstance(dev, NodeDevice) and dev.parent_name == "pci_0000_00_04_0"
    pci = dev.capability("pci")
    assert isinstance(pci, PCICap)
    assert str(pci.address) == "0000:02:10.7" and pci.vendor.id == 0x8086 and pci.product.name is None
    assert str(pci.phys_function.address) == "0000:02:00.1"
    out = dev.format()
    # an IOMMU group without devices and a negative NUMA node are not printed
    assert "iommuGroup" not in out and "numa" not in out
    assert "<vendor id='0x8086'>Intel</vendor>" in out and "<product id='0x10ca'/>" in out


def test_storage_block_geometry_is_derived_when_missing():
    dev = parse(b"<device><name>s</name><capability type='storage'><block>/dev/sda</block>"
                b"<size>1048576</size></capability></device>")
    cap = dev.capability("storage")
    assert isinstance(cap, StorageCap)
    assert cap.logical_block_size == 512 and cap.num_blocks == 2048


@pytest.mark.parametrize("xml, error", [
    (b"<device><capability type='system'/></device>", "name"),
    (b"<device><name>x</name></device>", "no device capabilities"),
    (b"<device><name>x</name><capability type='vdpa'/></device>", "unknown capability type"),
    (b"<device><name>x</name><capability type='pci'><domain>0</domain><bus>0</bus><slot>0</slot>"
     b"<function>0</function><product id='0x1'/></capability></device>", "vendor"),
    (b"<device><name>x</name><capability type='ap_queue'><ap-adapter>1</ap-adapter>"
     b"<ap-domain>0x100</ap-domain></capability></device>", "out of range"),
    (b"<device><name>x</name><capability type='drm'><type>bogus</type></capability></device>", "drm type"),
])
def test_errors(xml, error):
    with pytest.raises(VirtError, match=error):
        normalize(xml)
