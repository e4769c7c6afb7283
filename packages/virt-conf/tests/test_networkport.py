"""The <networkport> format (no corpus suite: libvirt's own port tests are driver-side)."""

from __future__ import annotations

import pytest
from virt.conf import normalize, parse
from virt.conf.networkport import NetworkPort
from virt.util.errors import InternalError, XMLError

PORT = """<networkport>
  <uuid>5d744f21-ba4a-4d6e-bdb2-30a35ff3207d</uuid>
  <owner>
    <name>myguest</name>
    <uuid>70a32124-d8e8-4ebd-b5f2-cbf2f1b5e6f8</uuid>
  </owner>
  <group>web</group>
  <mac address='52:54:00:7b:35:93'/>
  <virtualport type='openvswitch'>
    <parameters interfaceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'/>
  </virtualport>
  <bandwidth classID='3'>
    <inbound average='1000' peak='5000' floor='2000' burst='1024'/>
    <outbound average='128' peak='256' burst='256'/>
  </bandwidth>
  <vlan trunk='yes'>
    <tag id='42' nativeMode='untagged'/>
    <tag id='43'/>
  </vlan>
  <port isolated='yes'/>
  <rxfilters trustGuest='yes'/>
  <plug type='hostdev-pci' managed='yes'>
    <driver name='vfio'/>
    <address domain='0x0001' bus='0x02' slot='0x03' function='0x4'/>
  </plug>
</networkport>
"""


def test_round_trip_is_exact():
    assert normalize(PORT) == PORT
    port = parse(PORT)
    assert isinstance(port, NetworkPort)
    assert port.plug_type == "hostdev-pci" and port.mac_address == "52:54:00:7b:35:93"
    assert port.vlan is not None and port.vlan.native == ("untagged", 42) and port.vlan.is_trunk


@pytest.mark.parametrize("plug, expected", [
    ("<plug type='direct' dev='eth0'/>", "<plug type='direct' dev='eth0' mode='vepa'/>"),
    ("<plug type='bridge' bridge='virbr0' macTableManager='libvirt' dev='x'/>",
     "<plug type='bridge' bridge='virbr0' macTableManager='libvirt'/>"),
    ("<plug type='network' bridge='virbr1'/>", "<plug type='network' bridge='virbr1'/>"),
])
def test_plug_types(plug, expected):
    xml = PORT[:PORT.index("<plug")] + plug + "\n</networkport>\n"
    assert expected in normalize(xml)


@pytest.mark.parametrize("edit, error, match", [
    (("<uuid>5d744f21-ba4a-4d6e-bdb2-30a35ff3207d</uuid>", ""), InternalError, "network port has no uuid"),
    (("<mac address='52:54:00:7b:35:93'/>", ""), InternalError, "network port has no mac"),
    (("<address domain='0x0001' bus='0x02' slot='0x03' function='0x4'/>", ""), XMLError, "PCI address"),
    (("managed='yes'>", "managed='maybe'>"), XMLError, "managed"),
])
def test_rejections(edit, error, match):
    with pytest.raises(error, match=match):
        normalize(PORT.replace(*edit))
