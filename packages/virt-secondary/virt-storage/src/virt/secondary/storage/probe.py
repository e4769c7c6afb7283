"""What a volume's file or device holds: its image format, virtual size, backing store and qcow2
features, read from its header (no qemu-img run per file, and never following a backing chain).

Formats are recognised by magic bytes described once in ``MAGICS``; qcow2 and qed headers are
decoded for their size and backing file, as libvirt's probing does.
"""

from __future__ import annotations

import contextlib
import os
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path

#: (format, offset of the magic, magic bytes), checked in order; no match means raw.
MAGICS: tuple[tuple[str, int, bytes], ...] = (
    ("qcow2", 0, b"QFI\xfb"),
    ("qed", 0, b"QED\x00"),
    ("vmdk", 0, b"KDMV"),
    ("vpc", 0, b"conectix"),
    ("vdi", 64, b"\x7f\x10\xda\xbe"),
    ("luks", 0, b"LUKS\xba\xbe"),
    ("bochs", 0, b"Bochs Virtual HD Image"),
    ("cloop", 0, b"#!/bin/sh\n#V2.0 Format\nmodprobe cloop"),
    ("iso", 32769, b"CD001"),
)
HEADER_BYTES = 32769 + 5

QCOW2_BACKING_FORMAT_EXT = 0xE2792ACA
QCOW2_LAZY_REFCOUNTS = 1 << 0  # compatible feature
QCOW2_EXTENDED_L2 = 1 << 4  # incompatible feature


@dataclass
class ImageInfo:
    """One volume as probed: ``format`` is libvirt's name ("raw", "qcow2", "dir", ...)."""

    path: str
    type: str  # file, block, dir
    format: str
    capacity: int
    allocation: int
    physical: int
    mode: int
    uid: int
    gid: int
    atime: float = 0.0
    mtime: float = 0.0
    ctime: float = 0.0
    backing_path: str | None = None
    backing_format: str | None = None
    compat: str | None = None
    cluster_size: int | None = None
    features: list[str] = field(default_factory=list)


def detect_format(header: bytes) -> str:
    for name, offset, magic in MAGICS:
        if header[offset:offset + len(magic)] == magic:
            return name
    return "raw"


def _qcow2(header: bytes, info: ImageInfo) -> None:
    version, backing_off, backing_len, cluster_bits, size = struct.unpack_from(">IQIIQ", header, 4)
    info.capacity = size
    info.cluster_size = 1 << cluster_bits if 9 <= cluster_bits <= 21 else None
    info.compat = "0.10" if version == 2 else "1.1"
    if backing_off and 0 < backing_len < 1024 and backing_off + backing_len <= len(header):
        info.backing_path = header[backing_off:backing_off + backing_len].decode(errors="replace")
    ext_start = 72
    if version >= 3:
        incompatible, compatible = struct.unpack_from(">QQ", header, 72)
        (header_len,) = struct.unpack_from(">I", header, 100)
        ext_start = header_len
        if compatible & QCOW2_LAZY_REFCOUNTS:
            info.features.append("lazy_refcounts")
        if incompatible & QCOW2_EXTENDED_L2:
            info.features.append("extended_l2")
    # header extensions: (type, length, data padded to 8), up to the backing file name or a 0 type
    pos = ext_start
    end = backing_off if backing_off else len(header)
    while pos + 8 <= min(end, len(header)):
        ext_type, ext_len = struct.unpack_from(">II", header, pos)
        if ext_type == 0:
            break
        if ext_type == QCOW2_BACKING_FORMAT_EXT:
            info.backing_format = header[pos + 8:pos + 8 + ext_len].decode(errors="replace")
        pos += 8 + ((ext_len + 7) & ~7)


def _qed(header: bytes, info: ImageInfo) -> None:
    (size,) = struct.unpack_from("<Q", header, 48)
    backing_off, backing_len = struct.unpack_from("<II", header, 56)
    info.capacity = size
    if backing_off and 0 < backing_len < 1024 and backing_off + backing_len <= len(header):
        info.backing_path = header[backing_off:backing_off + backing_len].decode(errors="replace")


def _vmdk(header: bytes, info: ImageInfo) -> None:
    (sectors,) = struct.unpack_from("<Q", header, 12)
    info.capacity = sectors * 512


def _vdi(header: bytes, info: ImageInfo) -> None:
    (info.capacity,) = struct.unpack_from("<Q", header, 368)


def _vpc(header: bytes, info: ImageInfo) -> None:
    (info.capacity,) = struct.unpack_from(">Q", header, 48)


#: Header decoders of the formats whose virtual size differs from the file's size.
DECODERS = {"qcow2": _qcow2, "qed": _qed, "vmdk": _vmdk, "vdi": _vdi, "vpc": _vpc}


def block_device_size(fd: int) -> int:
    return os.lseek(fd, 0, os.SEEK_END)


def probe(path: str | Path, *, format_hint: str | None = None) -> ImageInfo | None:
    """Probe a pool entry; None for what cannot be a volume (sockets, FIFOs, dangling links).

    Opened with O_NONBLOCK so that a FIFO never blocks the scan, and never followed into a
    backing file.
    """
    path = str(path)
    try:
        st = os.stat(path)
    except OSError:
        return None
    if stat.S_ISDIR(st.st_mode):
        return ImageInfo(path, "dir", "dir", st.st_size, st.st_blocks * 512, st.st_size, stat.S_IMODE(st.st_mode),
                         st.st_uid, st.st_gid, st.st_atime, st.st_mtime, st.st_ctime)
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError:
        return None
    try:
        header = os.pread(fd, HEADER_BYTES, 0)
        size = st.st_size if stat.S_ISREG(st.st_mode) else block_device_size(fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    block = stat.S_ISBLK(st.st_mode)
    allocation = size if block else st.st_blocks * 512
    fmt = format_hint or detect_format(header)
    info = ImageInfo(path, "block" if block else "file", fmt, size, allocation, size, stat.S_IMODE(st.st_mode),
                     st.st_uid, st.st_gid, st.st_atime, st.st_mtime, st.st_ctime)
    decoder = DECODERS.get(fmt)
    if decoder is not None:
        with contextlib.suppress(struct.error):  # a truncated header: keep the file's own size
            decoder(header, info)
    return info
