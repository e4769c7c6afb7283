"""Secret values at rest: AES-256-GCM under a host key that only root can read.

A value file is ``MAGIC || nonce || ciphertext+tag``; the secret's UUID is authenticated with it, so
a value file copied onto another secret does not decrypt. The key file (32 random bytes, mode 0600)
is made on first use. Values never appear in logs, errors or reprs: ``SecretValue`` hides them.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from virt.util.errors import ErrorDomain, ErrorNumber, SystemError_, VirtError
from virt.util.fileutil import atomic_write, make_dirs

MAGIC = b"VIRTSEC1"
KEY_BYTES = 32
NONCE_BYTES = 12


class SecretValue(bytes):
    """Bytes that never print themselves (logs, tracebacks, reprs)."""

    def __repr__(self) -> str:
        return f"<secret value, {len(self)} bytes>"

    __str__ = __repr__


def load_or_create_key(path: Path) -> bytes:
    """The host key in ``path``, created (mode 0600, directory 0700) when there is none yet."""
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        make_dirs(path.parent, 0o700)
        key = os.urandom(KEY_BYTES)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return load_or_create_key(path)
        try:
            os.write(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        return key
    except OSError as err:
        raise SystemError_.from_errno(err, f"cannot read secret key file '{path}'", domain=ErrorDomain.SECRET) from None
    if len(key) != KEY_BYTES:
        raise VirtError(f"secret key file '{path}' is damaged", code=ErrorNumber.INTERNAL_ERROR,
                        domain=ErrorDomain.SECRET)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise SystemError_.from_errno(errno.EPERM, f"secret key file '{path}' is readable by others (mode {mode:o})",
                                      domain=ErrorDomain.SECRET)
    return key


class Vault:
    """Encrypts and decrypts the values of one set of secrets."""

    def __init__(self, key_path: Path) -> None:
        self.key_path = key_path
        self._aead: AESGCM | None = None

    def _cipher(self) -> AESGCM:
        if self._aead is None:
            self._aead = AESGCM(load_or_create_key(self.key_path))
        return self._aead

    def seal(self, uuid: str, value: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return MAGIC + nonce + self._cipher().encrypt(nonce, bytes(value), uuid.encode())

    def open(self, uuid: str, blob: bytes) -> SecretValue:
        if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + NONCE_BYTES + 16:
            raise VirtError(f"the stored value of secret '{uuid}' is damaged", code=ErrorNumber.INTERNAL_ERROR,
                            domain=ErrorDomain.SECRET)
        nonce = blob[len(MAGIC):len(MAGIC) + NONCE_BYTES]
        try:
            return SecretValue(self._cipher().decrypt(nonce, blob[len(MAGIC) + NONCE_BYTES:], uuid.encode()))
        except InvalidTag:
            raise VirtError(f"the stored value of secret '{uuid}' does not decrypt with this host's key",
                            code=ErrorNumber.INTERNAL_ERROR, domain=ErrorDomain.SECRET) from None

    def write(self, path: Path, uuid: str, value: bytes) -> None:
        atomic_write(path, self.seal(uuid, value), mode=0o600)

    def read(self, path: Path, uuid: str) -> SecretValue | None:
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise SystemError_.from_errno(err, f"cannot read the value of secret '{uuid}'",
                                          domain=ErrorDomain.SECRET) from None
        return self.open(uuid, blob)
