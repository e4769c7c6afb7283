"""File helpers that fail with libvirt's system errors: atomic writes, bounded reads, directory creation."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from virt.util.errors import SystemError_

StrPath = str | os.PathLike[str]


def atomic_write(path: StrPath, data: bytes | str, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new content, never a mix.

    Writes a temporary file in the same directory, fsyncs it, renames it over ``path`` and fsyncs
    the directory so the rename survives a crash. ``mode`` is the new file's permission bits.
    """
    target = Path(path)
    directory = target.parent
    payload = data.encode() if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".new", dir=directory)
    except OSError as err:
        raise SystemError_.from_errno(err, f"cannot create file '{target}'") from None
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError as err:
            raise SystemError_.from_errno(err, f"cannot write data to file '{target}'") from None
        finally:
            os.close(fd)
        try:
            os.rename(tmp, target)
        except OSError as err:
            raise SystemError_.from_errno(err, f"cannot rename file '{tmp}' as '{target}'") from None
    except BaseException:
        _unlink_quietly(tmp)
        raise
    _fsync_dir(directory)


def _unlink_quietly(path: StrPath) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as err:
        raise SystemError_.from_errno(err, f"cannot open directory '{directory}'") from None
    try:
        os.fsync(fd)
    except OSError as err:
        # Some filesystems cannot fsync a directory; the data itself is already synced.
        if err.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise SystemError_.from_errno(err, f"cannot sync directory '{directory}'") from None
    finally:
        os.close(fd)


def read_bytes(path: StrPath, max_len: int | None = None) -> bytes:
    """The content of ``path``; more than ``max_len`` bytes fails as libvirt's virFileReadAll does.

    Errors: SystemError_ "Failed to open file '<path>': <strerror>" or "Failed to read file ...".
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise SystemError_.from_errno(err, f"Failed to open file '{path}'") from None
    chunks: list[bytes] = []
    wanted = -1 if max_len is None else max_len + 1
    try:
        while wanted != 0:
            chunk = os.read(fd, 1 << 20 if wanted < 0 else min(wanted, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            wanted = wanted if wanted < 0 else wanted - len(chunk)
    except OSError as err:  # EISDIR for a directory, EIO...
        raise SystemError_.from_errno(err, f"Failed to read file '{path}'") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if max_len is not None and len(data) > max_len:
        raise SystemError_.from_errno(errno.EINVAL, f"Failed to read file '{path}'")
    return data


def read_text(path: StrPath, max_len: int | None = None, encoding: str = "utf-8") -> str:
    """The content of ``path`` as text (undecodable bytes kept as surrogates); errors as read_bytes."""
    return read_bytes(path, max_len).decode(encoding, errors="surrogateescape")


def read_text_if_exists(path: StrPath, max_len: int | None = None) -> str | None:
    """As read_text, but None when the file does not exist."""
    try:
        return read_text(path, max_len)
    except SystemError_ as err:
        if err.extra.get("int1") == errno.ENOENT:
            return None
        raise


def make_dirs(path: StrPath, mode: int = 0o755) -> None:
    """Create ``path`` and missing parents with ``mode`` (not masked by the umask); existing is fine."""
    target = Path(path)
    missing: list[Path] = []
    current = target
    while not current.is_dir():
        if current.exists() or current.is_symlink():
            raise SystemError_.from_errno(errno.ENOTDIR, f"cannot create directory '{target}'")
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, mode)
            os.chmod(directory, mode)  # mkdir's mode is filtered by the umask
        except FileExistsError:
            if not directory.is_dir():
                raise SystemError_.from_errno(errno.ENOTDIR, f"cannot create directory '{target}'") from None
        except OSError as err:
            raise SystemError_.from_errno(err, f"cannot create directory '{directory}'") from None


def unlink_if_exists(path: StrPath) -> bool:
    """Remove a file; False when it was not there. Other errors raise SystemError_."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as err:
        raise SystemError_.from_errno(err, f"Unable to remove '{path}'") from None
    return True
