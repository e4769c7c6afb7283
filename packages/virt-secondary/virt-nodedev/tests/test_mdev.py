"""Mediated devices and their parents' mdev types, from a GVT-g host's sysfs tree that
data/make-sysfs-mdev.sh builds after the kernel's documented mdev sysfs layout (this host has no
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

MAKE_TREE = Path(__file__).parent / "data" / "make-sysfs-mdev.sh"
UUID = "4b20d080-1b54-4048-85b3-a6a62d165c01"
MDEV = f"mdev_{UUID.replace('-', '_')}_0000_00_02_0"


class StubHypervisor(Driver):
    name = "stubhv"
    uri_schemes = ("stubhv",)


class StubPlugin:
    @hookimpl
    def virt_register_drivers(self, register: DriverRegistry) -> None:
        register.hypervisor(StubHypervisor, name="stubhv", uri_schemes=("stubhv",))


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import subprocess

    path = tmp_path_factory.mktemp("mdev") / "sys"
    subprocess.run(["sh", str(MAKE_TREE), str(path)], check=True)
    return path


@pytest.fixture
def conn(tree: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Connection]:
    monkeypatch.setenv("VIRT_NODEDEV_SYSFS", str(tree))
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


# -- creating and removing mediated devices --------------------------------------------------------

PARENT = Path("devices") / "pci0000:00" / "0000:00:02.0"


@pytest.fixture
def writable_tree(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the tree, and a stand-in for the kernel's mdev core: a UUID written to a type's
    "create" makes the device (new IOMMU group, one instance fewer), "1" written to a device's
    "remove" takes it away."""
    import os
    import shutil
    import threading

    original, tree = tree, tmp_path / "sys"
    shutil.copytree(original, tree, symlinks=True)
    monkeypatch.setenv("VIRT_NODEDEV_SYSFS", str(tree))
    stop = threading.Event()
    types = tree / PARENT / "mdev_supported_types"

    def run() -> None:
        group = 40
        while not stop.is_set():
            for create in types.glob("*/create"):
                uuid = create.read_text().strip()
                if not uuid:
                    continue
                create.write_text("")
                dev = tree / PARENT / uuid
                dev.mkdir()
                (dev / "remove").write_text("")
                os.symlink(f"../mdev_supported_types/{create.parent.name}", dev / "mdev_type")
                (tree / "kernel" / "iommu_groups" / str(group) / "devices").mkdir(parents=True)
                os.symlink(f"../../../../kernel/iommu_groups/{group}", dev / "iommu_group")
                os.symlink(f"../../../{PARENT}/{uuid}", tree / "bus" / "mdev" / "devices" / uuid)
                avail = create.parent / "available_instances"
                avail.write_text(f"{int(avail.read_text()) - 1}\n")
                group += 1
            for remove in (tree / PARENT).glob("*/remove"):
                if remove.read_text().strip() == "1":
                    dev = remove.parent
                    avail = dev.resolve() / "mdev_type" / "available_instances"
                    avail.write_text(f"{int(avail.read_text()) + 1}\n")
                    (tree / "bus" / "mdev" / "devices" / dev.name).unlink()
                    shutil.rmtree(dev)
            stop.wait(0.01)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    yield tree
    stop.set()
    t.join()


CREATE_XML = """<device>
  <parent>pci_0000_00_02_0</parent>
  <capability type='mdev'>
    <type id='i915-GVTg_V5_4'/>
    <uuid>{uuid}</uuid>
    <attr name='weight' value='7'/>
  </capability>
</device>"""


def test_create_and_destroy_a_mediated_device(writable_tree: Path) -> None:
    from virt.util.errors import VirtError

    c = Connection("stubhv:///system", registry=build_registry(get_plugin_manager(False, (StubPlugin(), plugin))))
    try:
        uuid = "a6a0c4a3-3d5f-4b8e-9d3e-0d2f6e1c5b77"
        ref = c.call("node_device_create_xml", CREATE_XML.format(uuid=uuid), 0)
        name = f"mdev_{uuid.replace('-', '_')}_0000_00_02_0"
        assert ref.name == name
        xml = c.call("node_device_get_xml_desc", ref, 0)
        assert "<type id='i915-GVTg_V5_4'/>" in xml and f"<uuid>{uuid}</uuid>" in xml
        assert "<iommuGroup number='40'/>" in xml
        assert (writable_tree / PARENT / uuid / "weight").read_text() == "7"  # the <attr>, written in
        parent = c.call("node_device_get_xml_desc", c.call("node_device_lookup_by_name", "pci_0000_00_02_0"), 0)
        assert "<type id='i915-GVTg_V5_4'>\n        <name>GVTg_V5_4</name>\n        <deviceAPI>vfio-pci</deviceAPI>\n" \
            "        <availableInstances>1</availableInstances>" in parent
        assert sorted(r.name for r in c.call("connect_list_all_node_devices", LF.CAP_MDEV)) == sorted([MDEV, name])
        c.call("node_device_destroy", ref)
        assert [r.name for r in c.call("connect_list_all_node_devices", LF.CAP_MDEV)] == [MDEV]
        with pytest.raises(VirtError, match="no node device"):
            c.call("node_device_lookup_by_name", name)
        # refusals: a type the parent does not offer, no parent, not an mdev
        with pytest.raises(VirtError, match="not offered by 'pci_0000_00_02_0'"):
            c.call("node_device_create_xml", CREATE_XML.format(uuid=uuid).replace("V5_4", "V9_9"), 0)
        with pytest.raises(VirtError, match="without a parent"):
            c.call("node_device_create_xml", CREATE_XML.format(uuid=uuid).replace(
                "<parent>pci_0000_00_02_0</parent>", ""), 0)
        with pytest.raises(VirtError, match="not a mediated device"):
            c.call("node_device_destroy", c.call("node_device_lookup_by_name", "pci_0000_00_02_0"))
        # without a UUID the device gets a fresh one
        ref = c.call("node_device_create_xml", CREATE_XML.format(uuid="").replace("<uuid></uuid>", ""), 0)
        assert ref.name.startswith("mdev_") and ref.name.endswith("_0000_00_02_0") and ref.name != name
        c.call("node_device_destroy", ref)
    finally:
        c.close()


def test_defined_mediated_devices(writable_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """nodedev-define / start / autostart / destroy / undefine, with the definitions where mdevctl keeps
    them (one JSON file per device under PARENT/UUID), and the DEFINED / UNDEFINED events."""
    import json
    import queue

    from virt.core.enums import NodeDeviceEventID
    from virt.secondary.nodedev.monitor import DEFINED, UNDEFINED
    from virt.util.errors import VirtError

    mdevctl = tmp_path / "mdevctl.d"
    monkeypatch.setenv("VIRT_NODEDEV_MDEVCTL_DIR", str(mdevctl))
    c = Connection("stubhv:///system", registry=build_registry(get_plugin_manager(False, (StubPlugin(), plugin))))
    events: queue.Queue[tuple[str, tuple[int, ...]]] = queue.Queue()
    c.call("connect_node_device_event_register_any", int(NodeDeviceEventID.LIFECYCLE))
    c.events.subscribe("node_device", NodeDeviceEventID.LIFECYCLE, lambda ev: events.put((ev.obj.name, ev.payload)))
    uuid = "0b6a7d1e-5a5e-4c43-9d43-6b0c2d4b9a10"
    name = f"mdev_{uuid.replace('-', '_')}_0000_00_02_0"
    try:
        ref = c.call("node_device_define_xml", CREATE_XML.format(uuid=uuid), 0)
        assert ref.name == name
        assert events.get(timeout=5) == (name, (DEFINED, 0))
        assert json.loads((mdevctl / "0000:00:02.0" / uuid).read_text()) == {
            "mdev_type": "i915-GVTg_V5_4", "start": "manual", "attrs": [{"weight": "7"}]}
        # defined, not started: listed as inactive and persistent, described from its definition
        assert (c.call("node_device_is_active", ref), c.call("node_device_is_persistent", ref)) == (0, 1)
        assert [r.name for r in c.call("connect_list_all_node_devices", LF.INACTIVE)] == [name]
        assert name not in [r.name for r in c.call("connect_list_all_node_devices", LF.ACTIVE)]
        assert c.call("node_device_get_xml_desc", ref, 0) == f"""<device>
  <name>{name}</name>
  <parent>pci_0000_00_02_0</parent>
  <capability type='mdev'>
    <type id='i915-GVTg_V5_4'/>
    <uuid>{uuid}</uuid>
    <iommuGroup number='0'/>
    <attr name='weight' value='7'/>
  </capability>
</device>
"""
        c.call("node_device_set_autostart", ref, 1)
        assert c.call("node_device_get_autostart", ref) == 1
        assert json.loads((mdevctl / "0000:00:02.0" / uuid).read_text())["start"] == "auto"
        # started: active, with the kernel's IOMMU group and the definition's attributes written in
        c.call("node_device_create", ref, 0)
        assert c.call("node_device_is_active", ref) == 1
        assert "<path>/sys/devices/pci0000:00/0000:00:02.0/" + uuid in c.call("node_device_get_xml_desc", ref, 0)
        assert (writable_tree / PARENT / uuid / "weight").read_text() == "7"
        with pytest.raises(VirtError, match="already active"):
            c.call("node_device_create", ref, 0)
        # stopped: still there, inactive, because it is defined
        c.call("node_device_destroy", ref)
        assert c.call("node_device_is_active", ref) == 0
        c.call("node_device_undefine", ref, 0)
        assert events.get(timeout=5) == (name, (UNDEFINED, 0))
        assert not (mdevctl / "0000:00:02.0" / uuid).exists()
        with pytest.raises(VirtError, match="no node device"):
            c.call("node_device_lookup_by_name", name)
        # a transient device cannot be undefined
        with pytest.raises(VirtError, match="is not defined"):
            c.call("node_device_undefine", c.call("node_device_lookup_by_name", MDEV), 0)
    finally:
        c.close()
