"""A dir pool through the public API: pools on disk, volumes made by qemu-img and checked by it."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import pytest
from virt.core.connection import Connection, StoragePool
from virt.core.enums import ConnectListAllStoragePoolsFlags as LF
from virt.core.enums import StoragePoolEventID
from virt.core.enums import StorageVolResizeFlags as RF
from virt.secondary.storage.driver import PoolEvent
from virt.util.errors import ErrorDomain, ErrorNumber, VirtError

MiB = 1 << 20


def img_info(path: str | Path) -> dict:
    return json.loads(subprocess.run(["qemu-img", "info", "-U", "--output=json", str(path)], capture_output=True,
                                     text=True, check=True).stdout)


def dir_pool(conn: Connection, root: Path, name: str = "images") -> StoragePool:
    pool = conn.define_storage_pool(f"<pool type='dir'><name>{name}</name><target><path>{root / name}</path>"
                                    "</target></pool>")
    pool.build(0)
    pool.create(0)
    return pool


def vol_xml(name: str, capacity_mib: int, fmt: str = "raw", extra: str = "", allocation: str = "0") -> str:
    """A volume definition; sparse unless ``allocation`` says otherwise ("": libvirt's default, all of it)."""
    alloc = f"<allocation>{allocation}</allocation>" if allocation else ""
    return (f"<volume><name>{name}</name><capacity unit='MiB'>{capacity_mib}</capacity>{alloc}"
            f"<target><format type='{fmt}'/></target>{extra}</volume>")


def test_pool_life_cycle_and_files(conn: Connection, root: Path) -> None:
    pool = conn.define_storage_pool(f"<pool type='dir'><name>p1</name><target><path>{root / 'p1'}</path>"
                                    "<permissions><mode>0711</mode></permissions></target></pool>")
    assert (root / "etc" / "storage" / "p1.xml").is_file()
    assert pool.info().state == 0 and not pool.is_active()
    with pytest.raises(VirtError, match="cannot open directory .*p1': No such file or directory"):
        pool.create(0)
    pool.build(0)
    assert (root / "p1").is_dir() and oct((root / "p1").stat().st_mode & 0o777) == "0o711"
    pool.create(0)
    info = pool.info()
    st = os.statvfs(root / "p1")
    assert info.state == 2 and info.capacity == st.f_blocks * st.f_frsize
    assert info.available > 0 and info.allocation > 0
    xml = pool.xml_desc()
    assert f"<capacity unit='bytes'>{info.capacity}</capacity>" in xml and "<mode>0711</mode>" in xml
    assert "<capacity unit='bytes'>0</capacity>" in pool.xml_desc(1)  # the inactive definition
    with pytest.raises(VirtError, match="storage pool 'p1' is still active"):
        pool.undefine()
    pool.destroy()
    pool.delete(0)
    assert not (root / "p1").exists()
    pool.undefine()
    with pytest.raises(VirtError) as err:
        conn.lookup_storage_pool("p1")
    assert err.value.code == ErrorNumber.NO_STORAGE_POOL and err.value.domain == ErrorDomain.STORAGE
    assert err.value.message == "Storage pool not found: no storage pool with matching name 'p1'"


def test_raw_and_qcow2_with_backing_store(conn: Connection, root: Path) -> None:
    pool = dir_pool(conn, root)
    base = pool.create_volume(vol_xml("base.raw", 16))
    base_path = root / "images" / "base.raw"
    assert base.path() == str(base_path) and base.key() == str(base_path)
    assert base_path.stat().st_size == 16 * MiB and oct(base_path.stat().st_mode & 0o777) == "0o600"
    assert base.info().capacity == 16 * MiB and base.info().allocation == 0  # sparse
    full = pool.create_volume(vol_xml("full.raw", 2, allocation=""))
    assert full.info().allocation == 2 * MiB  # allocation defaults to the capacity: preallocated
    full.delete(0)
    top = pool.create_volume(vol_xml("top.qcow2", 32, "qcow2",
                                     f"<backingStore><path>{base_path}</path></backingStore>"))
    real = img_info(root / "images" / "top.qcow2")
    assert real["format"] == "qcow2" and real["virtual-size"] == 32 * MiB
    assert real["backing-filename"] == str(base_path) and real["backing-filename-format"] == "raw"
    xml = top.xml_desc()
    assert "<format type='qcow2'/>" in xml and f"<capacity unit='bytes'>{32 * MiB}</capacity>" in xml
    assert f"<backingStore>\n    <path>{base_path}</path>\n    <format type='raw'/>" in xml
    assert "<compat>1.1</compat>" in xml and "<clusterSize unit='B'>65536</clusterSize>" in xml
    assert [v.name() for v in pool.list_all_volumes()] == ["base.raw", "top.qcow2"]
    assert conn.lookup_storage_vol_by_path(str(base_path)) == base
    assert conn.lookup_storage_vol_by_key(str(root / "images" / "top.qcow2")).name() == "top.qcow2"
    with pytest.raises(VirtError) as err:
        pool.create_volume(vol_xml("base.raw", 1))
    assert err.value.code == ErrorNumber.STORAGE_VOL_EXIST
    # preallocated metadata, compat and features as asked
    lazy = pool.create_volume(vol_xml("lazy.qcow2", 8, "qcow2", "").replace(
        "<format type='qcow2'/>", "<format type='qcow2'/><compat>1.1</compat><features><lazy_refcounts/></features>"),
        1)
    assert img_info(lazy.path())["format-specific"]["data"]["lazy-refcounts"] is True
    assert "<lazy_refcounts/>" in lazy.xml_desc()


def test_clone_wipe_resize_delete(conn: Connection, root: Path) -> None:
    pool = dir_pool(conn, root)
    src = pool.create_volume(vol_xml("src.raw", 4))
    with open(src.path(), "r+b") as f:
        f.seek(MiB)
        f.write(b"guest data" * 100)
    pool.refresh()
    copy = pool.clone_volume("<volume><name>copy.raw</name><capacity>0</capacity></volume>", src)
    data = Path(copy.path()).read_bytes()
    assert data == Path(src.path()).read_bytes() and len(data) == 4 * MiB
    assert copy.info().allocation < 4 * MiB  # the zeros stayed holes
    converted = pool.clone_volume(vol_xml("copy.qcow2", 8, "qcow2"), src)
    assert img_info(converted.path())["virtual-size"] == 8 * MiB
    out = subprocess.run(["qemu-img", "compare", "-U", src.path(), converted.path()], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stdout + out.stderr  # same content (the extra space reads as zeros)

    copy.wipe(0)
    assert Path(copy.path()).read_bytes() == bytes(4 * MiB)

    with pytest.raises(VirtError, match="Can't shrink capacity below current capacity unless shrink flag"):
        copy.resize(MiB, 0)
    copy.resize(6 * MiB, 0)
    assert copy.info().capacity == 6 * MiB and os.path.getsize(copy.path()) == 6 * MiB
    copy.resize(2 * MiB, RF.DELTA)
    assert copy.info().capacity == 8 * MiB
    copy.resize(MiB, RF.SHRINK)
    assert copy.info().capacity == MiB
    converted.resize(16 * MiB, 0)
    assert img_info(converted.path())["virtual-size"] == 16 * MiB and converted.info().capacity == 16 * MiB

    copy.delete(0)
    assert not os.path.exists(root / "images" / "copy.raw")
    with pytest.raises(VirtError) as err:
        pool.lookup_volume("copy.raw")
    assert err.value.code == ErrorNumber.NO_STORAGE_VOL


def test_refresh_finds_outside_files_and_never_blocks_on_a_fifo(conn: Connection, root: Path) -> None:
    pool = dir_pool(conn, root)
    images = root / "images"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(images / "made-outside.qcow2"), "5M"], check=True)
    os.mkfifo(images / "a-fifo")
    (images / ".hidden").write_text("x")
    (images / "subdir").mkdir()
    assert [v.name() for v in pool.list_all_volumes()] == []  # until the next refresh
    pool.refresh()
    vols = {v.name(): v for v in pool.list_all_volumes()}
    assert sorted(vols) == ["made-outside.qcow2", "subdir"]
    assert vols["made-outside.qcow2"].info().capacity == 5 * MiB
    assert vols["subdir"].info().type == 2  # VIR_STORAGE_VOL_DIR


def test_lists_filters_autostart_and_events(conn: Connection, root: Path) -> None:
    from virt.core.types import StoragePoolRef

    seen: list[tuple[str, int, tuple]] = []
    done = threading.Event()
    conn.storage_pool_event_register(StoragePoolEventID.LIFECYCLE,
                                     lambda ev: (seen.append((ev.obj.name, ev.event_id, ev.payload)),
                                                 len(seen) == 4 and done.set()))
    a = dir_pool(conn, root, "a")
    b = conn.define_storage_pool(f"<pool type='dir'><name>b</name><target><path>{root / 'b'}</path></target></pool>")
    assert [p.name() for p in conn.list_all_storage_pools(LF.ACTIVE)] == ["a"]
    assert [p.name() for p in conn.list_all_storage_pools(LF.INACTIVE | LF.DIR)] == ["b"]
    assert conn.list_all_storage_pools(LF.LOGICAL) == []
    b.set_autostart(1)
    assert [p.name() for p in conn.list_all_storage_pools(LF.AUTOSTART)] == ["b"]
    assert done.wait(5)
    assert seen == [("a", 0, (PoolEvent.DEFINED, 0)), ("a", 0, (PoolEvent.CREATED, 0)),
                    ("a", 0, (PoolEvent.STARTED, 0)), ("b", 0, (PoolEvent.DEFINED, 0))]
    with pytest.raises(VirtError, match="Storage source conflict with pool: 'a'"):
        conn.define_storage_pool(f"<pool type='dir'><name>c</name><target><path>{root / 'a'}</path></target></pool>")
    assert isinstance(a.ref, StoragePoolRef)


def test_autostart_once_per_boot(conn: Connection, root: Path, connect) -> None:
    from virt.secondary.storage import driver as drv_mod

    pool = conn.define_storage_pool(f"<pool type='dir'><name>auto</name><target><path>{root / 'auto'}</path>"
                                    "</target></pool>")
    pool.build(0)
    pool.set_autostart(1)
    drv_mod._shared.clear()  # as in a new process
    assert not connect().lookup_storage_pool("auto").is_active()  # this boot's autostart already ran
    (root / "run" / "storage" / ".autostarted").unlink()  # a reboot empties /run
    drv_mod._shared.clear()
    assert connect().lookup_storage_pool("auto").is_active()


def test_errors(conn: Connection, root: Path) -> None:
    pool = conn.define_storage_pool(f"<pool type='dir'><name>e</name><target><path>{root / 'e'}</path></target></pool>")
    with pytest.raises(VirtError, match="storage pool 'e' is not active") as err:
        pool.create_volume(vol_xml("x", 1))
    assert err.value.code == ErrorNumber.OPERATION_INVALID
    with pytest.raises(VirtError, match="unsupported flags"):
        conn.list_all_storage_pools(1 << 25)
    pool.build(0)
    pool.create(0)
    with pytest.raises(VirtError, match="storage pool 'e' is already active"):
        pool.create(0)
    with pytest.raises(VirtError, match="unknown volume format type vmdk2"):
        pool.create_volume(vol_xml("bad", 1, "vmdk2"))
    with pytest.raises(VirtError, match="missing capacity element"):
        pool.create_volume("<volume><name>nocap</name></volume>")
