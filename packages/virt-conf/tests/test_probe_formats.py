"""libvirt behaviours found by probing the non-domain formats with cases beyond the visible corpus."""

from __future__ import annotations

import pytest
from virt.conf import normalize, parse
from virt.conf.checkpoint import DomainCheckpoint
from virt.util.errors import ConfigUnsupportedError, VirtError

# ----------------------------------------------------------------------------- network


@pytest.mark.parametrize("xml, match", [
    # a passthrough pool has no host-side bridge: no <ip> (libvirt's networkValidate, run by define)
    ("<network><name>p</name><forward mode='passthrough'><interface dev='eth10'/></forward>"
     "<ip address='192.168.122.1' netmask='255.255.255.0'/></network>",
     "Unsupported <ip> element in network p with forward mode='passthrough'"),
    # PCI addresses in the device pool belong to hostdev networks only
    ("<network><name>p</name><forward mode='passthrough'>"
     "<address type='pci' domain='0x0000' bus='0x11' slot='0x10' function='0x1'/></forward></network>",
     "lists a device by PCI address"),
    ("<network><name>b</name><forward mode='bridge'/><bridge name='br0'/><mac address='52:54:00:00:00:01'/>"
     "</network>", "Unsupported <mac> element in network b with forward mode='bridge'"),
])
def test_network_driver_validation_runs_with_the_parse(xml, match):
    with pytest.raises(ConfigUnsupportedError, match=match):
        normalize(xml)


def test_forward_driver_without_name_is_the_default():
    out = normalize("<network><name>h</name><forward mode='hostdev' managed='yes'><driver model='x'/>"
                    "<pf dev='eth2'/></forward></network>")
    assert "<driver" not in out
    assert "<pf dev='eth2'/>" in out
    named = normalize("<network><name>h</name><forward mode='hostdev'><driver name='vfio'/><pf dev='eth2'/>"
                      "</forward></network>")
    assert "<driver name='vfio'/>" in named
    with pytest.raises(VirtError, match="Unknown forward <driver name='default'/>"):
        normalize("<network><name>h</name><forward mode='hostdev'><driver name='default'/><pf dev='eth2'/>"
                  "</forward></network>")


# ----------------------------------------------------------------------------- storage pool


def test_iscsi_initiator_keeps_the_first_iqn():
    out = normalize("<pool type='iscsi'><name>m</name><source><host name='h'/><device path='t'/>"
                    "<initiator><iqn name='first'/><iqn name='second'/><iqn name='third'/></initiator>"
                    "</source><target><path>/dev/disk/by-path</path></target></pool>")
    assert "<iqn name='first'/>" in out
    assert "second" not in out and "third" not in out


# ----------------------------------------------------------------------------- checkpoint


def test_checkpoint_harness_flags():
    doc = ("<domaincheckpoint><description>d</description><disks><disk name='vda' checkpoint='bitmap'/>"
           "<disk name='vdb' checkpoint='no'/></disks></domaincheckpoint>")
    chk = parse(doc, flags="TEST_PARENT|TEST_VDA_BITMAP", creation_time="1525889631")
    assert isinstance(chk, DomainCheckpoint)
    assert chk.parent_name == "1525111885"
    assert [(d.name, d.bitmap) for d in chk.disks.disks] == [("vda", "1525889631"), ("vdb", None)]
    assert "size=" not in chk.format()


def test_checkpoint_harness_adds_vda_and_size():
    chk = parse("<domaincheckpoint><name>c1</name></domaincheckpoint>", flags="TEST_VDA_BITMAP|TEST_SIZE",
                creation_time="1553648510")
    assert isinstance(chk, DomainCheckpoint)
    assert "<disk name='vda' checkpoint='bitmap' bitmap='c1' size='1048576'/>" in chk.format()
    plain = parse("<domaincheckpoint><name>c1</name></domaincheckpoint>", creation_time="1553648510")
    assert plain.format().count("<disk") == 0
