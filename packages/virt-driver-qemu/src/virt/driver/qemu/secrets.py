"""Secrets handed to QEMU: ``secret`` objects encrypted with the domain's master key.

Each domain gets a random 32-byte master key, written to ``master-key.aes`` in its private
directory and passed as the ``masterKey0`` object; every other secret travels on the command line
AES-256-CBC encrypted with it (libvirt's qemuDomainSecretAESSetup). In libvirt's test harness the
key is the bytes 0..31, the IV the bytes 0..15 and every secret lookup returns the same value.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from lxml import etree
from virt.driver.qemu.props import Props
from virt.util.errors import ConfigUnsupportedError, InternalError

if TYPE_CHECKING:
    from virt.driver.qemu.command import Builder

E = etree._Element

HARNESS_KEY = bytes(range(32))
HARNESS_IV = bytes(range(16))
HARNESS_SECRET = b"AQCVn5hO6HzFAhAAq0NCv8jtJcIcE+HOBlMQ1A"

#: (usage type, uuid or None, usage id or None) -> secret value
SecretLookup = Callable[[str, "str | None", "str | None"], bytes]


def new_master_key() -> bytes:
    return os.urandom(32)


_libcrypto: ctypes.CDLL | None = None


def _crypto() -> ctypes.CDLL:
    global _libcrypto
    if _libcrypto is None:
        name = ctypes.util.find_library("crypto")
        if not name:
            raise InternalError("libcrypto is needed to encrypt secrets for QEMU")
        lib = ctypes.CDLL(name)
        lib.EVP_CIPHER_CTX_new.restype = ctypes.c_void_p
        lib.EVP_aes_256_cbc.restype = ctypes.c_void_p
        lib.EVP_EncryptInit_ex.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p,
                                           ctypes.c_char_p]
        lib.EVP_EncryptUpdate.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int),
                                          ctypes.c_char_p, ctypes.c_int]
        lib.EVP_EncryptFinal_ex.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
        lib.EVP_CIPHER_CTX_free.argtypes = [ctypes.c_void_p]
        _libcrypto = lib
    return _libcrypto


def aes256cbc(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-256-CBC with PKCS#7 padding, through the system's libcrypto."""
    lib = _crypto()
    ctx = lib.EVP_CIPHER_CTX_new()
    if not ctx:
        raise InternalError("EVP_CIPHER_CTX_new failed")
    try:
        if lib.EVP_EncryptInit_ex(ctx, lib.EVP_aes_256_cbc(), None, key, iv) != 1:
            raise InternalError("EVP_EncryptInit_ex failed")
        out = ctypes.create_string_buffer(len(data) + 32)
        n = ctypes.c_int(0)
        if lib.EVP_EncryptUpdate(ctx, out, ctypes.byref(n), data, len(data)) != 1:
            raise InternalError("EVP_EncryptUpdate failed")
        total = n.value
        tail = ctypes.create_string_buffer(32)
        if lib.EVP_EncryptFinal_ex(ctx, tail, ctypes.byref(n)) != 1:
            raise InternalError("EVP_EncryptFinal_ex failed")
        return out.raw[:total] + tail.raw[:n.value]
    finally:
        lib.EVP_CIPHER_CTX_free(ctx)


def lookup(b: Builder, usage: str, secret_el: E | None = None, uuid: str | None = None) -> bytes:
    """The value of a secret named by a <secret> element or a UUID (qemu.conf TLS settings)."""
    if b.harness:
        return HARNESS_SECRET
    uid = uuid or (secret_el.get("uuid") if secret_el is not None else None)
    usage_id = secret_el.get("usage") if secret_el is not None else None
    fn = getattr(b.dom, "secret_lookup", None)
    if fn is None:
        raise ConfigUnsupportedError(f"no secret driver to look up secret {uid or usage_id}")
    return fn(usage, uid, usage_id)


def encrypted(b: Builder, alias: str, value: bytes) -> Props:
    key = HARNESS_KEY if b.harness else b.master_key
    iv = HARNESS_IV if b.harness else os.urandom(16)
    data = base64.b64encode(aes256cbc(key, iv, value)).decode()
    return Props().s("qom-type", "secret").s("id", alias).s("data", data).s("keyid", "masterKey0") \
        .s("iv", base64.b64encode(iv).decode()).s("format", "base64")


def secret_object(b: Builder, alias: str, kind: str, *, auth: E | None = None, value: str | None = None,
                  uuid: str | None = None) -> Props:
    """The ``secret`` object for a disk/iscsi auth, a LUKS volume, a TLS key or a literal value."""
    if value is not None:
        return encrypted(b, alias, value.encode())
    secret_el = None
    if auth is not None:
        secret_el = auth if auth.tag == "secret" else auth.find("secret")
    usage = {"disk": "ceph", "iscsi": "iscsi", "volume": "volume", "tls": "tls", "chardev": "tls"}.get(kind, kind)
    if secret_el is not None and secret_el.get("type"):
        usage = secret_el.get("type", usage)
    if kind in ("tls", "chardev") and uuid is None:
        uuid = getattr(b.cfg, f"{'chardev' if kind == 'chardev' else 'nbd'}TLSx509secretUUID", None)
    return encrypted(b, alias, lookup(b, usage, secret_el, uuid))
