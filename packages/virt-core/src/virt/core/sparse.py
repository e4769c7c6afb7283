"""Sparse files for streams: where data and holes are (SEEK_DATA/SEEK_HOLE), as virStreamInData asks."""

from __future__ import annotations

import errno
import os
import stat

#: virStreamRecvFlagsValues: stop at a hole instead of returning its zeros.
STREAM_RECV_STOP_AT_HOLE = 1
#: What a receive returns when ``STREAM_RECV_STOP_AT_HOLE`` stopped it at a hole (libvirt's -3).
HOLE = -3


def in_data(fd: int, pos: int, end: int | None = None) -> tuple[bool, int]:
    """(whether ``pos`` is in data, bytes until that changes), bounded by ``end`` (default: the file's size).

    ``(False, 0)`` at the end. It moves the file offset (read with ``os.pread``). Files without hole information (pipes, block devices, file systems
    without SEEK_DATA) are data all the way.
    """
    st = os.fstat(fd)
    size = st.st_size if stat.S_ISREG(st.st_mode) else None
    limit = end if end is not None else size
    if limit is not None and pos >= limit:
        return False, 0
    if size is None:
        return True, (limit - pos) if limit is not None else 1 << 62
    if pos >= size:  # a window past the end of the file: zeros, that is a hole
        return False, (limit if limit is not None else size) - pos
    stop = limit if limit is not None else size
    try:
        data = os.lseek(fd, pos, os.SEEK_DATA)
    except OSError as err:
        if err.errno == errno.ENXIO:  # no data after pos: a hole to the end
            return False, stop - pos
        if err.errno in (errno.EINVAL, errno.EOPNOTSUPP):
            return True, min(size, stop) - pos
        raise
    if data > pos:
        return False, min(data, stop) - pos
    return True, min(os.lseek(fd, pos, os.SEEK_HOLE), stop) - pos


class FileSource:
    """A file as a sparse stream source (``read``, ``in_data``, ``skip``) from ``pos`` to ``end``."""

    def __init__(self, fd: int, pos: int = 0, end: int | None = None) -> None:
        self.fd, self.pos, self.end = fd, pos, end

    def in_data(self) -> tuple[bool, int]:
        return in_data(self.fd, self.pos, self.end)

    def read(self, nbytes: int) -> bytes:
        if self.end is not None:
            nbytes = min(nbytes, self.end - self.pos)
        data = os.pread(self.fd, nbytes, self.pos) if nbytes > 0 else b""
        self.pos += len(data)
        return data

    def skip(self, length: int) -> None:
        self.pos += length
