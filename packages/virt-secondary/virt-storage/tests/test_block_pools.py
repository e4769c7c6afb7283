"""fs and logical pools on a loop device (root only): build, mount, volumes, unmount."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from virt.core.connection import Connection
from virt.core.enums import StoragePoolBuildFlags as BF
from virt.core.enums import StoragePoolCreateFlags as PCF
from virt.util.errors import ErrorNumber, VirtError

pytestmark = pytest.mark.root
MiB = 1 << 20


def mounted_at(path: Path) -> str | None:
    for line in Path("/proc/self/mounts").read_text().splitlines():
        parts = line.split()
        if parts[1] == str(path):
            return parts[0]
    return None


def test_fs_pool_on_a_loop_device(conn: Connection, root: Path, loop_device: str) -> None:
    if shutil.which("mkfs.ext4") is None:
        pytest.skip("mkfs.ext4 is not installed (Debian package e2fsprogs)")
    target = root / "mnt"
    xml = (f"<pool type='fs'><name>fspool</name><source><device path='{loop_device}'/><format type='ext4'/></source>"
           f"<target><path>{target}</path></target></pool>")
    pool = conn.define_storage_pool(xml)
    pool.create(PCF.WITH_BUILD)  # mkfs, then mount
    assert mounted_at(target) == loop_device
    info = pool.info()
    assert 40 * MiB < info.capacity <= 64 * MiB and info.available < info.capacity
    vol = pool.create_volume("<volume><name>disk.qcow2</name><capacity unit='MiB'>100</capacity>"
                             "<target><format type='qcow2'/></target></volume>")
    assert vol.path() == str(target / "disk.qcow2") and vol.info().capacity == 100 * MiB
    pool.destroy()
    assert mounted_at(target) is None
    # the filesystem keeps the volume; building again without overwrite refuses to erase it
    with pytest.raises(VirtError) as err:
        pool.build(BF.NO_OVERWRITE)
    assert err.value.code == ErrorNumber.STORAGE_POOL_BUILT
    pool.create(0)
    # ext4's lost+found is a directory volume, as libvirt lists it too
    assert [v.name() for v in pool.list_all_volumes()] == ["disk.qcow2", "lost+found"]
    pool.destroy()
    pool.undefine()


def test_logical_pool_on_a_loop_device(conn: Connection, loop_device: str) -> None:
    if shutil.which("vgcreate") is None:
        pytest.skip("LVM is not installed (Debian package lvm2)")
    vg = f"vtvg{Path(loop_device).name}"
    pool = conn.define_storage_pool(f"<pool type='logical'><name>{vg}</name><source><device path='{loop_device}'/>"
                                    "</source></pool>")
    try:
        pool.build(0)
        pool.create(0)
        info = pool.info()
        assert 56 * MiB <= info.capacity <= 64 * MiB and info.allocation == 0
        assert "<path>/dev/" + vg + "</path>" in pool.xml_desc()
        dm = Path("/dev/mapper/control").exists() and subprocess.run(
            ["dmsetup", "version"], capture_output=True, check=False).returncode == 0
        if dm:
            vol = pool.create_volume("<volume><name>lv1</name><capacity unit='MiB'>8</capacity></volume>")
            assert vol.path() == f"/dev/{vg}/lv1" and vol.info().capacity == 8 * MiB and vol.info().type == 1
            vol.delete(0)
        else:
            # no device-mapper in this kernel: the volume cannot exist, and the error says why
            with pytest.raises(VirtError, match="lvcreate"):
                pool.create_volume("<volume><name>lv1</name><capacity unit='MiB'>8</capacity></volume>")
        pool.destroy()
        pool.delete(0)
        assert subprocess.run(["vgs", vg], capture_output=True, check=False).returncode != 0
    finally:
        subprocess.run(["vgremove", "-f", vg], capture_output=True, check=False)
        subprocess.run(["pvremove", "-ff", "-y", loop_device], capture_output=True, check=False)
