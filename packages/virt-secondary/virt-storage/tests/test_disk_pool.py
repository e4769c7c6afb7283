"""disk pools on a loop device (root only): partition table, partitions as volumes, removal."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

import pytest
from virt.core.connection import Connection
from virt.core.enums import StoragePoolBuildFlags as BF
from virt.util.errors import ErrorNumber, VirtError

pytestmark = pytest.mark.root
MiB = 1 << 20


def parted_table(dev: str) -> list[str]:
    """The partition lines of ``parted print`` for ``dev`` (number, start, end, size, type...)."""
    out = subprocess.run(["parted", "-s", dev, "unit", "B", "print"], capture_output=True, text=True,
                         check=True).stdout
    return [line for line in out.splitlines() if line.split() and line.split()[0].isdigit()]


def test_disk_pool_on_a_loop_device(conn: Connection, partscan_loop_device: str) -> None:
    if shutil.which("parted") is None:
        pytest.skip("parted is not installed (Debian package parted)")
    dev = partscan_loop_device
    base = os.path.basename(dev)
    pool = conn.define_storage_pool(f"<pool type='disk'><name>dpool</name><source><device path='{dev}'/>"
                                    "<format type='dos'/></source><target><path>/dev</path></target></pool>")
    # no partition table yet: the pool cannot start
    with pytest.raises(VirtError):
        pool.create(0)
    pool.build(0)
    assert subprocess.run(["blkid", "-p", "-o", "value", "-s", "PTTYPE", dev], capture_output=True,
                          text=True).stdout.strip() == "dos"
    # a label is there now: building again without overwrite refuses
    with pytest.raises(VirtError) as err:
        pool.build(BF.NO_OVERWRITE)
    assert err.value.code == ErrorNumber.STORAGE_POOL_BUILT
    pool.create(0)
    info = pool.info()
    assert info.capacity == 64 * MiB and info.allocation == 0 and 62 * MiB < info.available < 64 * MiB
    assert pool.list_all_volumes() == []

    names = []
    for i in range(3):
        vol = pool.create_volume(f"<volume><name>p{i}</name><capacity unit='MiB'>8</capacity></volume>")
        names.append(vol.name())
        assert vol.path() == f"{dev}p{i + 1}" and os.path.exists(vol.path())
        assert vol.info().capacity == 8 * MiB and vol.info().type == 1  # block
    assert names == [f"{base}p1", f"{base}p2", f"{base}p3"]
    ext = pool.create_volume("<volume><name>e</name><capacity unit='MiB'>24</capacity>"
                             "<target><format type='extended'/></target></volume>")
    assert ext.name() == f"{base}p4" and "<format type='extended'/>" in ext.xml_desc()
    # four primary/extended partitions: the next one is logical, inside the extended one
    logical = pool.create_volume("<volume><name>l</name><capacity unit='MiB'>4</capacity></volume>")
    assert logical.name() == f"{base}p5" and logical.info().capacity == 4 * MiB
    kinds = {line.split()[0]: line.split()[4] for line in parted_table(dev)}
    assert kinds == {"1": "primary", "2": "primary", "3": "primary", "4": "extended", "5": "logical"}

    xml = pool.lookup_volume(f"{base}p1").xml_desc()
    assert f"<device path='{dev}'>" in xml and f"<extent start='{MiB}' end='{9 * MiB}'/>" in xml
    assert "<format type='none'/>" in xml and f"<path>{dev}p1</path>" in xml
    assert pool.info().allocation == 28 * MiB

    # refresh finds the same partitions (read back from the disk, not remembered)
    pool.refresh(0)
    assert sorted(v.name() for v in pool.list_all_volumes()) == [f"{base}p{n}" for n in range(1, 6)]

    logical.delete(0)
    pool.lookup_volume(f"{base}p2").delete(0)
    assert [line.split()[0] for line in parted_table(dev)] == ["1", "3", "4"]
    assert not os.path.exists(f"{dev}p2") and not os.path.exists(f"{dev}p5")
    assert sorted(v.name() for v in pool.list_all_volumes()) == [f"{base}p1", f"{base}p3", f"{base}p4"]
    # a second extended partition is refused
    with pytest.raises(VirtError, match="extended"):
        pool.create_volume("<volume><name>e2</name><capacity unit='MiB'>1</capacity>"
                           "<target><format type='extended'/></target></volume>")
    # more than the disk holds
    with pytest.raises(VirtError, match="free extent"):
        pool.create_volume("<volume><name>big</name><capacity unit='MiB'>100</capacity></volume>")
    for vol in pool.list_all_volumes():
        vol.delete(0)
    assert parted_table(dev) == [] and glob.glob(f"{dev}p*") == []
    pool.destroy()
    pool.undefine()


def test_gpt_disk_pool_overwrites_an_old_table(conn: Connection, partscan_loop_device: str) -> None:
    if shutil.which("parted") is None:
        pytest.skip("parted is not installed (Debian package parted)")
    dev = partscan_loop_device
    subprocess.run(["parted", "-s", dev, "mklabel", "msdos"], check=True, capture_output=True)
    pool = conn.define_storage_pool(f"<pool type='disk'><name>gpool</name><source><device path='{dev}'/>"
                                    "<format type='gpt'/></source><target><path>/dev</path></target></pool>")
    with pytest.raises(VirtError) as err:
        pool.build(0)
    assert err.value.code == ErrorNumber.STORAGE_POOL_BUILT
    pool.build(BF.OVERWRITE)
    assert subprocess.run(["blkid", "-p", "-o", "value", "-s", "PTTYPE", dev], capture_output=True,
                          text=True).stdout.strip() == "gpt"
    pool.create(0)
    # gpt has no extended partitions, and no limit of four
    with pytest.raises(VirtError, match="dos"):
        pool.create_volume("<volume><name>e</name><capacity unit='MiB'>8</capacity>"
                           "<target><format type='extended'/></target></volume>")
    vols = [pool.create_volume(f"<volume><name>v{i}</name><capacity unit='MiB'>4</capacity></volume>")
            for i in range(5)]
    assert [v.path() for v in vols] == [f"{dev}p{n}" for n in range(1, 6)]
    assert all(v.info().capacity == 4 * MiB and os.path.exists(v.path()) for v in vols)
    for vol in vols:
        vol.delete(0)
    assert parted_table(dev) == [] and glob.glob(f"{dev}p*") == []
    pool.destroy()
    pool.undefine()
