"""Tests for virt.util.fileutil: atomic writes, reads that fail with libvirt's system errors, directories."""

from __future__ import annotations

import errno
import os
import stat
import threading
from pathlib import Path

import pytest
from virt.util.errors import ErrorNumber, SystemError_
from virt.util.fileutil import (
    atomic_write,
    make_dirs,
    read_bytes,
    read_text,
    read_text_if_exists,
    unlink_if_exists,
)


def test_atomic_write_creates_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "domain.xml"
    atomic_write(path, "<domain/>")
    assert path.read_text() == "<domain/>"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    atomic_write(path, b"\x00binary", mode=0o644)
    assert path.read_bytes() == b"\x00binary"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["domain.xml"]  # no temporary left behind


def test_atomic_write_never_shows_a_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "state"
    old, new = b"a" * 1_000_000, b"b" * 1_000_000
    atomic_write(path, old)
    seen: set[bytes] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            data = path.read_bytes()
            seen.add(data[:1] + data[-1:] + str(len(data)).encode())

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(20):
            atomic_write(path, new)
            atomic_write(path, old)
    finally:
        stop.set()
        thread.join()
    assert seen and seen <= {b"aa1000000", b"bb1000000"}


def test_atomic_write_errors(tmp_path: Path) -> None:
    with pytest.raises(SystemError_) as info:
        atomic_write(tmp_path / "missing-dir" / "f", "x")
    assert info.value.code is ErrorNumber.SYSTEM_ERROR
    assert str(info.value) == f"cannot create file '{tmp_path / 'missing-dir' / 'f'}': No such file or directory"
    (tmp_path / "dir").mkdir()
    with pytest.raises(SystemError_, match="cannot rename file .*: Is a directory"):
        atomic_write(tmp_path / "dir", "x")
    assert sorted(os.listdir(tmp_path)) == ["dir"]  # the temporary was removed


def test_read(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes("héllo \xff".encode("latin-1"))
    assert read_bytes(path) == "héllo \xff".encode("latin-1")
    assert read_text(path, encoding="latin-1") == "héllo \xff"
    assert read_text(path).encode("utf-8", errors="surrogateescape") == path.read_bytes()
    assert read_bytes(path, max_len=7) == path.read_bytes()
    big = tmp_path / "big"
    big.write_bytes(bytes(range(256)) * 20000)  # several read chunks
    assert read_bytes(big) == big.read_bytes()
    assert read_bytes(big, max_len=5_120_000) == big.read_bytes()
    with pytest.raises(SystemError_) as info:
        read_bytes(path, max_len=6)
    assert str(info.value) == f"Failed to read file '{path}': Invalid argument"


def test_read_errors_are_system_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(SystemError_) as info:
        read_text(missing)
    assert str(info.value) == f"Failed to open file '{missing}': No such file or directory"
    assert info.value.extra["int1"] == errno.ENOENT
    assert read_text_if_exists(missing) is None
    with pytest.raises(SystemError_) as info:
        read_text_if_exists(tmp_path)
    assert str(info.value) == f"Failed to read file '{tmp_path}': Is a directory"
    (tmp_path / "f").write_text("x")
    assert read_text_if_exists(tmp_path / "f") == "x"


def test_make_dirs(tmp_path: Path) -> None:
    old_umask = os.umask(0o077)
    try:
        target = tmp_path / "a" / "b" / "c"
        make_dirs(target, 0o751)
    finally:
        os.umask(old_umask)
    for directory in (tmp_path / "a", tmp_path / "a" / "b", target):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o751
    make_dirs(target)  # existing is fine
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemError_, match="cannot create directory .*: Not a directory"):
        make_dirs(tmp_path / "file" / "sub")


def test_unlink_if_exists(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("x")
    assert unlink_if_exists(path) is True
    assert unlink_if_exists(path) is False
    with pytest.raises(SystemError_, match="Unable to remove"):
        unlink_if_exists(tmp_path)
