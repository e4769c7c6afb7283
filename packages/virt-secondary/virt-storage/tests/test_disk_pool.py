"""disk pools on a loop device (root only): partition table, partitions as volumes, removal."""

from __future__ import annotations

import glob
import os
import re
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


PARTHELPER = "/usr/lib/libvirt/libvirt_parthelper"


def free_extents(pool_xml: str) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in re.findall(r"<freeExtent start='(\d+)' end='(\d+)'/>", pool_xml)]


def extent(vol_xml: str) -> tuple[int, int]:
    m = re.search(r"<extent start='(\d+)' end='(\d+)'/>", vol_xml)
    assert m is not None
    return int(m.group(1)), int(m.group(2))


def parthelper_free(dev: str) -> list[tuple[int, int]]:
    """Free extents as libvirt itself reads them (its libparted helper), the first sector excluded
    as libvirt's disk backend excludes it."""
    out = subprocess.run([PARTHELPER, dev], capture_output=True, check=True).stdout.decode().split("\0")
    rows = [out[i:i + 6] for i in range(0, len(out) - 5, 6)]
    return [(max(int(r[3]), 512), int(r[4])) for r in rows if r[2] == "free"]


def geometry_cylinder(dev: str) -> int:
    out = subprocess.run(["parted", "-s", dev, "unit", "chs", "print"], capture_output=True, text=True,
                         check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("BIOS cylinder"))
    _, heads, sectors = (int(v) for v in line.split(":", 1)[1].split(".")[0].strip().split(","))
    return heads * sectors * 512


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
    # capacity ends where the last free extent does: libparted keeps a last incomplete cylinder
    assert 64 * MiB - geometry_cylinder(dev) < info.capacity <= 64 * MiB
    assert info.allocation == 0 and 62 * MiB < info.available < 64 * MiB
    assert pool.list_all_volumes() == []

    # the free extents in the pool XML are the ones libvirt's own helper reports (where installed)
    free = free_extents(pool.xml_desc())
    assert free and sum(b - a for a, b in free) == pool.info().available
    if os.path.exists(PARTHELPER):
        assert free == parthelper_free(dev)
    cylinder = geometry_cylinder(dev)

    names = []
    for i in range(3):
        vol = pool.create_volume(f"<volume><name>p{i}</name><capacity unit='MiB'>8</capacity></volume>")
        names.append(vol.name())
        assert vol.path() == f"{dev}p{i + 1}" and os.path.exists(vol.path())
        # a dos partition ends on a cylinder boundary, rounded up from the size asked for
        start, end = extent(vol.xml_desc())
        assert end % cylinder == 0 and 8 * MiB <= end - start < 8 * MiB + cylinder + start % cylinder
        assert vol.info().capacity == end - start and vol.info().type == 1  # block
    assert names == [f"{base}p1", f"{base}p2", f"{base}p3"]
    # the first one by hand: the free extent after the label's first track starts at sector 2
    # (this loop device has 255 heads and 2 sectors a track: 261120-byte cylinders); 8 MiB is 32
    # cylinders and 32768 bytes, so the partition ends after 33 cylinders
    if cylinder == 261120:
        assert extent(pool.lookup_volume(f"{base}p1").xml_desc()) == (1024, 33 * 261120)
    ext = pool.create_volume("<volume><name>e</name><capacity unit='MiB'>24</capacity>"
                             "<target><format type='extended'/></target></volume>")
    assert ext.name() == f"{base}p4" and "<format type='extended'/>" in ext.xml_desc()
    assert ext.info().allocation == 0  # nothing inside yet
    # four primary/extended partitions: the next one is logical, inside the extended one, one sector
    # after the free extent's start (its boot record)
    logical_free = [f for f in free_extents(pool.xml_desc()) if extent(ext.xml_desc())[0] <= f[0]
                    and f[1] <= extent(ext.xml_desc())[1]]
    logical = pool.create_volume("<volume><name>l</name><capacity unit='MiB'>4</capacity></volume>")
    assert logical.name() == f"{base}p5"
    lstart, lend = extent(logical.xml_desc())
    assert lstart == logical_free[0][0] + 512 and lend % cylinder == 0 and lend - lstart >= 4 * MiB
    kinds = {line.split()[0]: line.split()[4] for line in parted_table(dev)}
    assert kinds == {"1": "primary", "2": "primary", "3": "primary", "4": "extended", "5": "logical"}
    # the extended partition's allocation is what its logical partitions hold
    assert pool.lookup_volume(ext.name()).info().allocation == logical.info().capacity

    xml = pool.lookup_volume(f"{base}p1").xml_desc()
    assert f"<device path='{dev}'>" in xml and "<extent start=" in xml
    assert "<format type='none'/>" in xml and f"<path>{dev}p1</path>" in xml
    data = [v for v in pool.list_all_volumes() if v.name() != ext.name()]
    assert pool.info().allocation == sum(v.info().capacity for v in data)
    free = free_extents(pool.xml_desc())
    assert pool.info().available == sum(b - a for a, b in free)
    if os.path.exists(PARTHELPER):
        assert free == parthelper_free(dev)

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
    # no cylinder rounding outside dos labels: exactly the size asked for, in the smallest free extent
    assert all(v.info().capacity == 4 * MiB and os.path.exists(v.path()) for v in vols)
    assert extent(vols[1].xml_desc())[0] == extent(vols[0].xml_desc())[1]
    free = free_extents(pool.xml_desc())
    assert pool.info().available == sum(b - a for a, b in free)
    # the backup table at the end is not part of the pool's capacity
    assert pool.info().capacity == free[-1][1] < 64 * MiB
    if os.path.exists(PARTHELPER):
        assert free == parthelper_free(dev)
    # best fit, as libvirt: a small partition fills the smallest gap that holds it, a large one goes
    # where there is room
    gap = extent(vols[1].xml_desc())
    vols[1].delete(0)
    small = pool.create_volume("<volume><name>s</name><capacity unit='MiB'>2</capacity></volume>")
    assert extent(small.xml_desc()) == (gap[0], gap[0] + 2 * MiB)
    large = pool.create_volume("<volume><name>l</name><capacity unit='MiB'>6</capacity></volume>")
    assert extent(large.xml_desc())[0] == extent(vols[4].xml_desc())[1]
    vols = [v for i, v in enumerate(vols) if i != 1] + [small, large]
    for vol in vols:
        vol.delete(0)
    assert parted_table(dev) == [] and glob.glob(f"{dev}p*") == []
    pool.destroy()
    pool.undefine()
