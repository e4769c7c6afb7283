"""Volume upload and download through streams, and the progress of long operations, in a dir pool."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from virt.core.connection import Connection, StoragePool, VolumeJobInfo
from virt.core.enums import StorageVolDownloadFlags as DF
from virt.core.enums import StorageVolUploadFlags as UF
from virt.util.errors import ErrorNumber, VirtError

MiB = 1 << 20


def dir_pool(conn: Connection, root: Path, name: str = "images") -> StoragePool:
    pool = conn.define_storage_pool(f"<pool type='dir'><name>{name}</name><target><path>{root / name}</path>"
                                    "</target></pool>")
    pool.build(0)
    pool.create(0)
    return pool


def vol_xml(name: str, capacity_mib: int) -> str:
    """A sparse raw volume."""
    return (f"<volume><name>{name}</name><capacity unit='MiB'>{capacity_mib}</capacity><allocation>0</allocation>"
            "<target><format type='raw'/></target></volume>")


def pattern(n: int) -> bytes:
    return bytes((i * 7 + i // 251) % 256 for i in range(n))


def test_upload_then_download_round_trip(conn: Connection, root: Path) -> None:
    pool = dir_pool(conn, root)
    vol = pool.create_volume(vol_xml("disk.raw", 4))
    data = pattern(3 * MiB + 123)
    st = conn.new_stream()
    vol.upload(st, 0, 0, 0)
    seen: list[int] = []
    assert st.send_all(iter_reader(data), progress=seen.append) == len(data)
    st.finish()
    assert seen[-1] == len(data) and seen == sorted(seen)
    on_disk = Path(vol.path()).read_bytes()
    assert on_disk[:len(data)] == data and len(on_disk) == 4 * MiB  # written in place, not truncated
    assert vol.job_info() is None

    st = conn.new_stream()
    vol.download(st, MiB, MiB + 5, 0)
    out = bytearray()
    assert st.recv_all(out.extend) == MiB + 5
    st.finish()
    assert bytes(out) == data[MiB:2 * MiB + 5]

    st = conn.new_stream()
    vol.download(st)
    whole = bytearray()
    while chunk := st.recv(100000):
        assert len(chunk) <= 100000
        whole += chunk
    st.finish()
    assert bytes(whole) == on_disk


def iter_reader(data: bytes) -> Callable[[int], bytes]:
    view = memoryview(data)
    pos = 0

    def read(n: int) -> bytes:
        nonlocal pos
        piece = bytes(view[pos:pos + n])
        pos += len(piece)
        return piece

    return read


def test_upload_window_and_growth(conn: Connection, root: Path) -> None:
    pool = dir_pool(conn, root)
    vol = pool.create_volume(vol_xml("small.raw", 1))
    st = conn.new_stream()
    vol.upload(st, MiB - 4, 0, 0)
    st.send(b"12345678")
    st.finish()
    assert vol.info().capacity == MiB + 4  # the file grew and the pool saw it
    assert Path(vol.path()).read_bytes()[-8:] == b"12345678"

    st = conn.new_stream()
    vol.upload(st, 0, 4, 0)
    # while the upload runs, the volume cannot be changed otherwise
    for change in (lambda: vol.delete(0), lambda: vol.wipe(0), lambda: vol.resize(2 * MiB, 0),
                   lambda: vol.upload(conn.new_stream())):
        with pytest.raises(VirtError, match="volume 'small.raw' is still in use.") as err:
            change()
        assert err.value.code == ErrorNumber.OPERATION_INVALID
    with pytest.raises(VirtError, match="exceed"):
        st.send(b"too long")
    st.abort()
    vol.resize(2 * MiB, 0)  # free again


def test_sparse_flags_keep_content_and_holes(conn: Connection, root: Path) -> None:
    pool = dir_pool(conn, root)
    vol = pool.create_volume(vol_xml("empty.raw", 0))
    data = b"head" + bytes(8 * MiB) + b"tail"
    st = conn.new_stream()
    vol.upload(st, 0, 0, UF.SPARSE_STREAM)
    st.send_all(iter_reader(data))
    st.finish()
    path = vol.path()
    assert Path(path).read_bytes() == data
    assert os.stat(path).st_blocks * 512 < 4 * MiB  # the zeros became a hole
    st = conn.new_stream()
    vol.download(st, 0, 0, DF.SPARSE_STREAM)
    out = bytearray()
    st.recv_all(out.extend)
    st.finish()
    assert bytes(out) == data


def test_stream_errors(conn: Connection, root: Path) -> None:
    pool = dir_pool(conn, root)
    vol = pool.create_volume(vol_xml("v.raw", 1))
    other = pool.create_volume(vol_xml("w.raw", 1))
    st = conn.new_stream()
    with pytest.raises(VirtError) as err:
        st.send(b"x")  # not bound to a call yet
    assert err.value.code == ErrorNumber.INVALID_STREAM
    with pytest.raises(VirtError, match="unsupported flags"):
        vol.upload(st, 0, 0, 4)
    vol.download(st)
    with pytest.raises(VirtError) as err:
        other.upload(st)  # one call per stream
    assert err.value.code == ErrorNumber.INVALID_STREAM

    def failing_sink(data: bytes) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError):
        st.recv_all(failing_sink)
    assert vol.job_info() is None and other.job_info() is None  # the abort ended the download
    other.delete(0)  # nothing left holding it


def test_wipe_and_clone_report_progress(conn: Connection, root: Path) -> None:
    pool = dir_pool(conn, root)
    vol = pool.create_volume(vol_xml("big.raw", 64))
    with open(vol.path(), "r+b") as f:
        f.write(pattern(MiB))
    pool.refresh()
    for operation, run in (("wipe", lambda: vol.wipe(0)),
                           ("clone", lambda: pool.clone_volume("<volume><name>c.raw</name><capacity>0</capacity>"
                                                               "</volume>", vol))):
        seen: list[VolumeJobInfo] = []
        done = threading.Event()
        worker = threading.Thread(target=lambda: (run(), done.set()))  # noqa: B023
        worker.start()
        while not done.is_set():
            info = vol.job_info()
            if info is not None:
                seen.append(info)
        worker.join()
        assert seen, f"no progress seen during {operation}"
        assert {i.operation for i in seen} == {operation}
        assert all(i.total == 64 * MiB and 0 <= i.processed <= i.total for i in seen)
        processed = [i.processed for i in seen]
        assert processed == sorted(processed)
        assert vol.job_info() is None
    assert Path(root / "images" / "c.raw").read_bytes() == bytes(64 * MiB)
