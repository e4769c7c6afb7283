"""Node devices from a sysfs tree: names, parents and XML as libvirt prints them; lists by
capability; PCI detach to vfio-pci and back; and a look at this machine's real /sys."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from virt.core.connection import Connection
from virt.core.enums import ConnectListAllNodeDeviceFlags as LF
from virt.secondary.nodedev.driver import NodeDeviceDriver
from virt.secondary.nodedev.sysfs import device_name, enumerate_devices
from virt.util.errors import ErrorDomain, ErrorNumber, NotFoundError, VirtError

NIC = """<device>
  <name>pci_0000_01_00_0</name>
  <path>/sys/devices/pci0000:00/0000:00:1c.0/0000:01:00.0</path>
  <parent>pci_0000_00_1c_0</parent>
  <driver>
    <name>e1000e</name>
  </driver>
  <capability type='pci'>
    <class>0x020000</class>
    <domain>0</domain>
    <bus>1</bus>
    <slot>0</slot>
    <function>0</function>
    <product id='0x10d3'>82574L Gigabit Network Connection</product>
    <vendor id='0x8086'>Intel Corporation</vendor>
    <iommuGroup number='7'>
      <address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </iommuGroup>
    <numa node='0'/>
    <pci-express>
      <link validity='cap' port='0' speed='2.5' width='1'/>
      <link validity='sta' speed='2.5' width='1'/>
    </pci-express>
  </capability>
</device>
"""

NET = """<device>
  <name>net_eth1_52_54_00_12_34_56</name>
  <path>/sys/devices/pci0000:00/0000:00:1c.0/0000:01:00.0/net/eth1</path>
  <parent>pci_0000_01_00_0</parent>
  <driver>
    <name>e1000e</name>
  </driver>
  <capability type='net'>
    <interface>eth1</interface>
    <address>52:54:00:12:34:56</address>
    <link speed='1000' state='up'/>
    <capability type='80203'/>
  </capability>
</device>
"""

DISK = """<device>
  <name>block_sda</name>
  <path>/sys/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda</path>
  <devnode type='dev'>/dev/sda</devnode>
  <parent>scsi_host0</parent>
  <capability type='storage'>
    <block>/dev/sda</block>
    <bus>ata</bus>
    <drive_type>disk</drive_type>
    <model>QEMU HARDDISK</model>
    <vendor>ATA</vendor>
    <size>1073741824</size>
    <logical_block_size>512</logical_block_size>
    <num_blocks>2097152</num_blocks>
  </capability>
</device>
"""

COMPUTER = """<device>
  <name>computer</name>
  <capability type='system'>
    <product>Standard PC (Q35 + ICH9, 2009)</product>
    <hardware>
      <vendor>QEMU</vendor>
      <version>pc-q35-7.2</version>
      <uuid>8d1b1e2a-8a3c-4b5f-9e6d-0c1b2a3d4e5f</uuid>
    </hardware>
    <firmware>
      <vendor>SeaBIOS</vendor>
      <version>1.16.2</version>
      <release_date>04/01/2014</release_date>
    </firmware>
  </capability>
</device>
"""

names_db = pytest.mark.skipif(not os.path.exists("/usr/share/misc/pci.ids"),
                              reason="PCI names need /usr/share/misc/pci.ids (Debian package pci.ids)")


def test_names_and_parents(sysfs: Path) -> None:
    devices = {d.name: d.parent for d in enumerate_devices(str(sysfs))}
    assert devices == {
        "computer": None,
        "pci_0000_00_00_0": "computer", "pci_0000_00_1c_0": "computer", "pci_0000_01_00_0": "pci_0000_00_1c_0",
        "pci_0000_00_1f_2": "computer", "pci_0000_00_14_0": "computer",
        "usb_usb1": "pci_0000_00_14_0", "usb_1_1": "usb_usb1", "usb_1_1_1_0": "usb_1_1",
        "net_eth1_52_54_00_12_34_56": "pci_0000_01_00_0", "net_lo_00_00_00_00_00_00": "computer",
        "scsi_host0": "pci_0000_00_1f_2", "block_sda": "scsi_host0",
    }
    assert device_name("pci", "0000:00:1f.2") == "pci_0000_00_1f_2"


@names_db
def test_xml_as_libvirt_prints_it(conn: Connection) -> None:
    assert conn.lookup_node_device("pci_0000_01_00_0").xml_desc() == NIC
    assert conn.lookup_node_device("net_eth1_52_54_00_12_34_56").xml_desc() == NET
    assert conn.lookup_node_device("block_sda").xml_desc() == DISK
    assert conn.lookup_node_device("computer").xml_desc() == COMPUTER
    bridge = conn.lookup_node_device("pci_0000_00_1c_0").xml_desc()
    assert "<capability type='pci-bridge'/>" in bridge and "<link validity='cap' port='1'" in bridge
    usb = conn.lookup_node_device("usb_1_1").xml_desc()
    assert "<product id='0x0001'>QEMU Tablet</product>" in usb and "<bus>1</bus>" in usb
    intf = conn.lookup_node_device("usb_1_1_1_0").xml_desc()
    assert "<class>3</class>" in intf and "<protocol>2</protocol>" in intf
    host = conn.lookup_node_device("scsi_host0").xml_desc()
    assert "<host>0</host>" in host and "<unique_id>1</unique_id>" in host


def test_lists_lookups_and_caps(conn: Connection) -> None:
    names = [d.name() for d in conn.list_all_node_devices(LF.CAP_NET)]
    assert names == ["net_eth1_52_54_00_12_34_56", "net_lo_00_00_00_00_00_00"]
    assert [d.name() for d in conn.list_all_node_devices(LF.CAP_STORAGE | LF.CAP_SCSI_HOST)] == \
        ["scsi_host0", "block_sda"]
    assert len(conn.list_all_node_devices(0)) == 13
    assert conn.list_all_node_devices(LF.INACTIVE) == []
    assert conn.call("node_list_devices", "usb_device", -1, 0) == ["usb_1_1", "usb_usb1"]
    assert conn.call("node_num_of_devices", "pci", 0) == 5
    dev = conn.lookup_node_device("usb_1_1_1_0")
    assert dev.parent() == "usb_1_1" and dev.list_caps() == ["usb"]
    with pytest.raises(VirtError, match="no parent for this device"):
        conn.lookup_node_device("computer").parent()
    with pytest.raises(VirtError) as err:
        conn.lookup_node_device("pci_0000_09_00_0")
    assert err.value.code == ErrorNumber.NO_NODE_DEVICE and err.value.domain == ErrorDomain.NODEDEV
    assert err.value.message == "Node device not found: no node device with matching name 'pci_0000_09_00_0'"


def test_detach_to_vfio_and_reattach(conn: Connection, sysfs: Path, kernel: None) -> None:
    nic = conn.lookup_node_device("pci_0000_01_00_0")
    nic.detach(None, 0)
    dev = sysfs / "bus" / "pci" / "devices" / "0000:01:00.0"
    assert (dev / "driver_override").read_text() == "vfio-pci"
    assert (sysfs / "bus" / "pci" / "drivers" / "e1000e" / "unbind").read_text() == "0000:01:00.0"
    assert "<name>vfio-pci</name>" in nic.xml_desc()
    nic.detach(None, 0)  # already there: nothing to do
    nic.reattach()
    assert (dev / "driver_override").read_text() == "\n"
    assert "<name>e1000e</name>" in nic.xml_desc()
    with pytest.raises(VirtError, match="is not bound to vfio-pci"):
        nic.reattach()


def test_detach_refusals(conn: Connection, sysfs: Path) -> None:
    with pytest.raises(VirtError, match="device 'usb_1_1' is not a PCI device"):
        conn.lookup_node_device("usb_1_1").detach(None, 0)
    with pytest.raises(VirtError, match="KVM device assignment is no longer supported"):
        conn.lookup_node_device("pci_0000_01_00_0").detach("kvm", 0)
    (sysfs / "bus" / "pci" / "drivers" / "vfio-pci" / "bind").unlink()
    for f in (sysfs / "bus" / "pci" / "drivers" / "vfio-pci").iterdir():
        f.unlink()
    (sysfs / "bus" / "pci" / "drivers" / "vfio-pci").rmdir()
    with pytest.raises(VirtError, match="VFIO device assignment is currently not supported on this system") as err:
        conn.lookup_node_device("pci_0000_01_00_0").detach(None, 0)
    assert err.value.code == ErrorNumber.CONFIG_UNSUPPORTED
    assert (sysfs / "bus" / "pci" / "devices" / "0000:01:00.0" / "driver_override").read_text() == "(null)\n"
    with pytest.raises(VirtError, match="Not resetting active device 0000:01:00.0"):
        conn.lookup_node_device("pci_0000_01_00_0").reset()


def test_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real /sys: every device formats, parents exist, names are unique."""
    from virt.core.uri import URI

    monkeypatch.delenv("VIRT_NODEDEV_SYSFS", raising=False)
    drv = NodeDeviceDriver(URI.parse("stubhv:///system"))
    # other tests running meanwhile add and remove network devices: only those present throughout count
    ifaces_before = set(os.listdir("/sys/class/net"))
    refs = drv.connect_list_all_node_devices(0)
    names = [r.name for r in refs]
    assert "computer" in names and len(names) == len(set(names))
    for ref in refs:
        try:
            xml = drv.node_device_get_xml_desc(ref, 0)
            parent = drv.node_device_get_parent(ref) if ref.name != "computer" else None
        except NotFoundError:
            assert ref.name.startswith("net_") and ref.name not in {r.name for r in drv.connect_list_all_node_devices(0)}
            continue
        assert xml.startswith(f"<device>\n  <name>{ref.name}</name>\n")
        if ref.name != "computer":
            assert parent in names
    for iface in ifaces_before & set(os.listdir("/sys/class/net")):
        assert any(n.startswith(f"net_{iface.replace('-', '_').replace('.', '_')}_") for n in names)
