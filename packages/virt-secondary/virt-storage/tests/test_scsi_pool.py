"""scsi pools: LUNs of a SCSI host adapter read from sysfs.

The kernel these tests run on has no SCSI subsystem (no /sys/class/scsi_host), so the pools are
tested against the sysfs tree of tests/data/sysfs-scsi.txt (a server's SATA, SAS and FC adapters,
written after the kernel's sysfs layout, not captured from a machine), built in a temporary
directory; on this host's real sysfs a pool start must fail, naming the missing adapter.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lxml import etree
from virt.core.connection import Connection
from virt.util.errors import ErrorNumber, VirtError

DATA = Path(__file__).parent / "data" / "sysfs-scsi.txt"
SECTOR = 512


def build_sysfs(root: Path) -> Path:
    """The tree of the manifest under ``root``: "L path -> target", "F path = content", "D path"."""
    for line in DATA.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        kind, rest = line.split(" ", 1)
        if kind == "L":
            path, target = rest.split(" -> ")
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(target, root / path)
        elif kind == "F":
            path, _, content = rest.partition(" =")
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(content.strip() + "\n")
        else:
            (root / rest).mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture
def sysfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = build_sysfs(tmp_path / "sys")
    monkeypatch.setenv("VIRT_STORAGE_SYSFS", str(root))
    return root


def scsi_pool(conn: Connection, name: str, adapter: str) -> object:
    return conn.define_storage_pool(f"<pool type='scsi'><name>{name}</name><source>{adapter}</source>"
                                    "<target><path>/dev/disk/by-path</path></target></pool>")


def volumes(pool: object) -> dict[str, tuple[str, str, int]]:
    out = {}
    for vol in pool.list_all_volumes():  # type: ignore[attr-defined]
        out[vol.name()] = (vol.key(), vol.path(), vol.info().capacity)
    return out


def test_scsi_host_by_name_lists_its_disks(conn: Connection, sysfs: Path) -> None:
    pool = scsi_pool(conn, "sas", "<adapter type='scsi_host' name='host2'/>")
    pool.create(0)  # type: ignore[attr-defined]
    # the enclosure (2:0:2:0, type 13) is not a volume; the disks are named unit:bus:target:lun
    assert volumes(pool) == {
        "unit:0:0:0": ("35000c500a3f81e2b", "/dev/sdb", 2344225968 * SECTOR),
        "unit:0:1:0": ("35000c500a3f8f1d7", "/dev/sdc", 2344225968 * SECTOR),
    }
    info = pool.info()  # type: ignore[attr-defined]
    assert (info.capacity, info.allocation, info.available) == (2 * 2344225968 * SECTOR,) * 2 + (0,)
    # the host was asked to rescan, as libvirt asks it
    scan = os.path.realpath(sysfs / "class" / "scsi_host" / "host2") + "/scan"
    assert Path(scan).read_text() == "- - -"
    xml = etree.fromstring(pool.lookup_volume("unit:0:0:0").xml_desc().encode())  # type: ignore[attr-defined]
    assert xml.get("type") == "block" and xml.findtext("target/path") == "/dev/sdb"
    with pytest.raises(VirtError) as err:
        pool.create_volume("<volume><name>x</name><capacity>1</capacity></volume>")  # type: ignore[attr-defined]
    assert err.value.code == ErrorNumber.NO_SUPPORT
    pool.destroy()  # type: ignore[attr-defined]


def test_scsi_host_by_parent_pci_address_and_cdrom(conn: Connection, sysfs: Path) -> None:
    by_pci = scsi_pool(conn, "bypci", "<adapter type='scsi_host'><parentaddr unique_id='3'>"
                                      "<address domain='0x0000' bus='0x3b' slot='0x00' function='0x0'/>"
                                      "</parentaddr></adapter>")
    by_pci.create(0)  # type: ignore[attr-defined]
    assert sorted(volumes(by_pci)) == ["unit:0:0:0", "unit:0:1:0"]
    by_pci.destroy()  # type: ignore[attr-defined]
    # the same PCI function holds two ahci hosts: the unique_id tells them apart; a CD drive is a volume
    cd = scsi_pool(conn, "cd", "<adapter type='scsi_host'><parentaddr unique_id='2'>"
                               "<address domain='0x0000' bus='0x00' slot='0x17' function='0x0'/>"
                               "</parentaddr></adapter>")
    cd.create(0)  # type: ignore[attr-defined]
    assert volumes(cd) == {"unit:0:0:0": ("/dev/sr0", "/dev/sr0", 0)}  # no wwid: the path is the key
    cd.destroy()  # type: ignore[attr-defined]
    missing = scsi_pool(conn, "nopci", "<adapter type='scsi_host'><parentaddr unique_id='9'>"
                                       "<address domain='0x0000' bus='0x3b' slot='0x00' function='0x0'/>"
                                       "</parentaddr></adapter>")
    with pytest.raises(VirtError, match="Failed to find scsi_host using PCI '0000:3b:00.0' and unique_id='9'"):
        missing.create(0)  # type: ignore[attr-defined]


def test_fc_host_by_wwnn_and_wwpn(conn: Connection, sysfs: Path) -> None:
    pool = scsi_pool(conn, "fc", "<adapter type='fc_host' wwnn='20000024ff3dd1a2' wwpn='21000024ff3dd1a2'/>")
    pool.create(0)  # type: ignore[attr-defined]
    assert volumes(pool) == {
        "unit:0:0:0": ("360002ac0000000000000000a0001a4c1", "/dev/sdd", 100 << 30),
        "unit:0:0:1": ("360002ac0000000000000000b0001a4c1", "/dev/sde", 50 << 30),
    }
    pool.destroy()  # type: ignore[attr-defined]


def vport_request(sysfs: Path, op: str) -> str:
    return (Path(os.path.realpath(sysfs / "class" / "fc_host" / "host5")) / op).read_text().strip()


def test_fc_host_vhba_is_made_on_its_parent_and_removed_at_stop(conn: Connection, sysfs: Path) -> None:
    # an existing vHBA the pool manages: found by its WWNs, removed through its parent at destroy
    vhba = scsi_pool(conn, "vhba", "<adapter type='fc_host' managed='yes' wwnn='5001a4aa3c4d5e01' "
                                   "wwpn='5001a4ab3c4d5e01'/>")
    vhba.create(0)  # type: ignore[attr-defined]
    assert volumes(vhba) == {}  # nothing zoned to it yet
    assert vport_request(sysfs, "vport_delete") == ""
    vhba.destroy()  # type: ignore[attr-defined]
    assert vport_request(sysfs, "vport_delete") == "5001a4ab3c4d5e01:5001a4aa3c4d5e01"

    # a new one is asked of the parent HBA (wwpn:wwnn written to its vport_create); this tree has no
    # kernel behind it, so no host appears and the start fails as libvirt's does
    new = scsi_pool(conn, "newvhba", "<adapter type='fc_host' parent='host5' wwnn='2000000000000001' "
                                     "wwpn='2100000000000001'/>")
    with pytest.raises(VirtError) as err:
        new.create(0)  # type: ignore[attr-defined]
    assert "Failed to find SCSI host with wwnn='2000000000000001', wwpn='2100000000000001'" in err.value.message
    assert vport_request(sysfs, "vport_create") == "2100000000000001:2000000000000001"
    # without a parent, the first HBA that can take another NPIV port is used
    (Path(os.path.realpath(sysfs / "class" / "fc_host" / "host5")) / "vport_create").write_text("")
    anywhere = scsi_pool(conn, "anyvhba", "<adapter type='fc_host' wwnn='2000000000000002' "
                                          "wwpn='2100000000000002'/>")
    with pytest.raises(VirtError):
        anywhere.create(0)  # type: ignore[attr-defined]
    assert vport_request(sysfs, "vport_create") == "2100000000000002:2000000000000002"
    # a SAS HBA takes no vHBA
    sas = scsi_pool(conn, "sasvhba", "<adapter type='fc_host' parent='host2' wwnn='2000000000000003' "
                                     "wwpn='2100000000000003'/>")
    with pytest.raises(VirtError, match="parent 'host2' specified for vHBA is not vport capable"):
        sas.create(0)  # type: ignore[attr-defined]


@pytest.mark.skipif(Path("/sys/class/scsi_host").exists(), reason="this host has SCSI hosts")
def test_on_this_host_the_adapter_is_missing(conn: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIRT_STORAGE_SYSFS", raising=False)
    pool = scsi_pool(conn, "host0", "<adapter type='scsi_host' name='host0'/>")
    with pytest.raises(VirtError) as err:
        pool.create(0)  # type: ignore[attr-defined]
    assert err.value.code == ErrorNumber.SYSTEM_ERROR
    assert err.value.message == ("Could not open '/sys/class/scsi_host/host0/scan' to trigger host scan: "
                                 "No such file or directory")
    assert not pool.is_active()  # type: ignore[attr-defined]
