"""Reading a .vmx file: typed entries with libvirt's defaults and errors, and device sections described as data."""

from __future__ import annotations

import codecs
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from virt.util import config as virtconf
from virt.util.errors import InternalError, VirtError
from virt.util.ident import parse_uuid


class VMXConfig:
    """The entries of a .vmx file; names are case-insensitive and the first entry of a name wins."""

    def __init__(self, text: str) -> None:
        self._conf = virtconf.parse(text, "memory conf", virtconf.ConfFlags.VMX_FORMAT)

    @classmethod
    def from_text(cls, text: str) -> VMXConfig:
        """Parse ``text``, re-reading it in the character set its ``.encoding`` entry names."""
        conf = cls(text)
        encoding = conf.string(".encoding")
        if encoding is None or encoding.lower() in ("utf-8", "utf8"):
            return conf
        try:
            codec = codecs.lookup(encoding)
        except LookupError:
            raise InternalError(f"libxml2 doesn't handle {encoding} encoding") from None
        # The caller decoded the bytes as UTF-8 (surrogateescape keeps what was not UTF-8).
        raw = text.encode("utf-8", "surrogateescape")
        try:
            return cls(raw.decode(codec.name))
        except UnicodeDecodeError:
            raise InternalError(f"Could not convert from {encoding} to UTF-8 encoding") from None

    def names(self) -> Iterator[str]:
        return iter(self._conf)

    def __contains__(self, name: str) -> bool:
        return name in self._conf

    # -- typed getters (virVMXGetConfig*) -----------------------------------------------------------
    def string(self, name: str, *, required: bool = False) -> str | None:
        if name in self._conf:
            value = self._conf[name]
            if isinstance(value, str):
                return value
        if required:
            raise InternalError(f"Missing essential config entry '{name}'")
        return None

    def long(self, name: str, default: int, *, required: bool = False) -> int:
        """An integer; "unlimited" (any case) reads as -1."""
        text = self.string(name, required=required)
        if text is None:
            return default
        if text.lower() == "unlimited":
            return -1
        try:
            return _c_long(text)
        except ValueError:
            raise InternalError(f"Config entry '{name}' must represent an integer value") from None

    def boolean(self, name: str, default: bool, *, required: bool = False) -> bool:
        text = self.string(name, required=required)
        if text is None:
            return default
        if text.lower() == "true":
            return True
        if text.lower() == "false":
            return False
        raise InternalError(f"Config entry '{name}' must represent a boolean value (true|false)")

    def uuid(self, name: str) -> uuid.UUID | None:
        text = self.string(name)
        if text is None:
            return None
        try:
            return parse_uuid(text)
        except VirtError:
            raise InternalError(f"Could not parse UUID from string '{text}'") from None


def _c_long(text: str) -> int:
    """strtoll in base 10 with nothing after the number (virStrToLong_ll)."""
    stripped = text.lstrip(" \t\n\v\f\r")
    body = stripped[1:] if stripped[:1] in "+-" else stripped
    if not body.isdigit() or not body.isascii():
        raise ValueError(text)
    value = int(stripped)
    if not -(2**63) <= value < 2**63:
        raise ValueError(text)
    return value


# ---------------------------------------------------------------------------------------------- sections

@dataclass(frozen=True)
class Entry:
    """One entry of a device section: its key after the prefix, how it reads, its default."""

    key: str
    kind: str = "string"  # "string", "bool" or "long"
    default: Any = None


class Section:
    """The entries of one device (``scsi0:1.present``, ``ethernet0.dvs.portId``, ...), described once
    as ``Entry`` rows and read on first use, so a device libvirt skips is never checked further."""

    def __init__(self, conf: VMXConfig, prefix: str, entries: tuple[Entry, ...]) -> None:
        self.conf = conf
        self.prefix = prefix
        self._entries = {e.key: e for e in entries}
        self._values: dict[str, Any] = {}

    def name(self, key: str) -> str:
        """The full VMX name of an entry, for messages."""
        return f"{self.prefix}.{key}"

    def __getitem__(self, key: str) -> Any:
        if key not in self._values:
            entry = self._entries[key]
            name = self.name(key)
            if entry.kind == "bool":
                self._values[key] = self.conf.boolean(name, entry.default)
            elif entry.kind == "long":
                self._values[key] = self.conf.long(name, entry.default)
            else:
                self._values[key] = self.conf.string(name)
        return self._values[key]

    def require(self, key: str) -> Any:
        """An entry that must be present ("Missing essential config entry")."""
        if self.name(key) not in self.conf:
            self.conf.string(self.name(key), required=True)
        return self[key]
