"""Mediated devices and their parents' mdev types, from tests/data/sysfs-mdev: a GVT-g host's tree
built by data/make-sysfs-mdev.sh after the kernel's documented mdev sysfs layout (this host has no
mdev-capable device)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from virt.core.connection import Connection
from virt.core.driver import Driver
from virt.core.enums import ConnectListAllNodeDeviceFlags as LF
from virt.core.plugin import get_plugin_manager, hookimpl
from virt.core.registry import DriverRegistry, build_registry
from virt.secondary.nodedev import plugin

TREE = Path(__file__).parent / "data" / "sysfs-mdev"
UUID = "4b20d080-1b54-4048-85b3-a6a62d165c01"
MDEV = f"mdev_{UUID.replace('-', '_')}_0000_00_02_0"


class StubHypervisor(Driver):
    name = "stubhv"
    uri_schemes = ("stubhv",)


class StubPlugin:
    @hookimpl
    def virt_register_drivers(self, register: DriverRegistry) -> None:
        register.hypervisor(StubHypervisor, name="stubhv", uri_schemes=("stubhv",))


@pytest.fixture
def conn(monkeypatch: pytest.MonkeyPatch) -> Iterator[Connection]:
    monkeypatch.setenv("VIRT_NODEDEV_SYSFS", str(TREE))
    c = Connection("stubhv:///system", registry=build_registry(get_plugin_manager(False, (StubPlugin(), plugin))))
    yield c
    c.close()


def test_mdev_xml(conn: Connection) -> None:
    ref = conn.call("node_device_lookup_by_name", MDEV)
    assert conn.call("node_device_get_xml_desc", ref, 0) == f"""<device>
  <name>{MDEV}</name>
  <path>/sys/devices/pci0000:00/0000:00:02.0/{UUID}</path>
  <parent>pci_0000_00_02_0</parent>
  <driver>
    <name>vfio_mdev</name>
  </driver>
  <capability type='mdev'>
    <type id='i915-GVTg_V5_8'/>
    <uuid>{UUID}</uuid>
    <iommuGroup number='12'/>
  </capability>
</device>
"""
    assert conn.call("node_device_list_caps", ref) == ["mdev"]
    assert conn.call("node_device_get_parent", ref) == "pci_0000_00_02_0"


def test_parent_lists_its_mdev_types(conn: Connection) -> None:
    xml = conn.call("node_device_get_xml_desc", conn.call("node_device_lookup_by_name", "pci_0000_00_02_0"), 0)
    types = xml[xml.index("    <capability type='mdev_types'>"):xml.index("    <iommuGroup")]
    assert types == "    <capability type='mdev_types'>\n" + "".join(
        f"      <type id='i915-GVTg_V5_{n}'>\n"
        f"        <name>GVTg_V5_{n}</name>\n"
        "        <deviceAPI>vfio-pci</deviceAPI>\n"
        f"        <availableInstances>{avail}</availableInstances>\n"
        "      </type>\n" for n, avail in ((1, 1), (2, 1), (4, 2), (8, 3))) + "    </capability>\n"
    assert "<numa" not in xml  # numa_node -1: no node
    assert conn.call("node_device_list_caps", conn.call("node_device_lookup_by_name", "pci_0000_00_02_0")) == \
        ["pci", "mdev_types"]


def test_lists_by_capability(conn: Connection) -> None:
    names = lambda flags: [r.name for r in conn.call("connect_list_all_node_devices", flags)]  # noqa: E731
    assert names(LF.CAP_MDEV) == [MDEV]
    assert names(LF.CAP_MDEV_TYPES) == ["pci_0000_00_02_0"]
    assert conn.call("node_list_devices", "mdev", -1, 0) == [MDEV]
    assert conn.call("node_list_devices", "mdev_types", -1, 0) == ["pci_0000_00_02_0"]
