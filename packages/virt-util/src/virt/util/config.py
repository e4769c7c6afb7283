"""libvirt's configuration-file syntax (libvirtd.conf, qemu.conf; also the LXC and VMX variants), as virConf reads it.

Syntax: one ``name = value`` per line (or several separated by ';'), ``#`` comments, and values that
are integers (optionally signed), strings in double or single quotes (no escapes; a string ends at its
closing quote and may not span lines) or python-style triple quotes (may span lines), and lists
``[ value, value, ]`` that may span lines. Booleans are the integers 0 and 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Flag, auto
from pathlib import Path
from typing import Any, TypeVar, overload

from virt.util.errors import ConfSyntaxError, ErrorDomain, InternalError
from virt.util.fileutil import read_bytes

Value = int | str | list["Value"]
T = TypeVar("T")

#: Size past which a configuration file is refused (libvirt reads at most 10 MiB).
MAX_CONFIG_FILE_SIZE = 10 * 1024 * 1024

_BLANKS = " \t"
_EOL = "\r\n"


class ConfFlags(Flag):
    """Dialects of the syntax (virConfFlags)."""

    NONE = 0
    #: LXC's config: names may contain '.', a value runs unquoted to the end of its line.
    LXC_FORMAT = auto()
    #: VMware's .vmx: names may contain ':', '.', '-'; only strings; names compared case-insensitively.
    VMX_FORMAT = auto()


def _is_alpha(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


def _is_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


class _Parser:
    """A cursor over the text that follows virConf's grammar, so errors land on the same lines."""

    def __init__(self, text: str, filename: str, flags: ConfFlags) -> None:
        self.text = text
        self.filename = filename
        self.flags = flags
        self.pos = 0
        self.line = 1

    @property
    def cur(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def error(self, problem: str) -> ConfSyntaxError:
        return ConfSyntaxError(f"{self.filename}:{self.line}: {problem}", domain=ErrorDomain.CONF)

    def skip_blanks(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _BLANKS:
            self.pos += 1

    def skip_blanks_and_eol(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            if self.text[self.pos] == "\n":
                self.line += 1
            self.pos += 1

    def skip_to_eol(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _EOL:
            self.pos += 1
        return self.text[start : self.pos]

    def parse(self) -> list[tuple[str, Value]]:
        entries: list[tuple[str, Value]] = []
        while self.pos < len(self.text):
            entry = self.statement()
            if entry is not None:
                entries.append(entry)
            self.separator()
        return entries

    def statement(self) -> tuple[str, Value] | None:
        self.skip_blanks_and_eol()
        if self.cur == "#":
            self.skip_to_eol()
            return None
        name = self.name()
        self.skip_blanks()
        if self.cur != "=":
            raise self.error("expecting an assignment")
        self.pos += 1
        self.skip_blanks()
        value = self.value()
        self.skip_blanks()
        if self.cur == "#":
            self.skip_to_eol()
        return name, value

    def separator(self) -> None:
        self.skip_blanks()
        if self.pos >= len(self.text):
            return
        if self.cur in _EOL:
            self.skip_blanks_and_eol()
        elif self.cur == ";":
            self.pos += 1
            self.skip_blanks_and_eol()
        else:
            raise self.error("expecting a separator")

    def name(self) -> str:
        self.skip_blanks()
        start = self.pos
        vmx = ConfFlags.VMX_FORMAT in self.flags
        if not (_is_alpha(self.cur) or (vmx and self.cur == ".")):
            raise self.error("expecting a name")
        extra = ":.-" if vmx else "." if ConfFlags.LXC_FORMAT in self.flags else ""
        while self.pos < len(self.text) and (_is_alnum(self.cur) or self.cur == "_" or (self.cur and self.cur in extra)):
            self.pos += 1
        return self.text[start : self.pos]

    def value(self) -> Value:
        self.skip_blanks()
        if self.pos >= len(self.text):
            raise self.error("expecting a value")
        ch = self.cur
        if ch in "\"'" or ConfFlags.LXC_FORMAT in self.flags:
            return self.string()
        if ch == "[":
            if ConfFlags.VMX_FORMAT in self.flags:
                raise self.error("lists not allowed in VMX format")
            return self.list_()
        if ch.isascii() and (ch.isdigit() or ch in "+-"):
            if ConfFlags.VMX_FORMAT in self.flags:
                raise self.error("numbers not allowed in VMX format")
            return self.number()
        raise self.error("expecting a value")

    def list_(self) -> list[Value]:
        self.pos += 1  # '['
        self.skip_blanks_and_eol()
        items: list[Value] = []
        if self.pos < len(self.text) and self.cur != "]":
            items.append(self.value())
            self.skip_blanks_and_eol()
        while self.pos < len(self.text) and self.cur != "]":
            if self.cur != ",":
                raise self.error("expecting a separator in list")
            self.pos += 1
            self.skip_blanks_and_eol()
            if self.cur == "]":
                break
            items.append(self.value())
            self.skip_blanks_and_eol()
        if self.cur != "]":
            raise self.error("list is not closed with ]")
        self.pos += 1
        return items

    def number(self) -> int:
        negative = self.cur == "-"
        if self.cur in "+-":
            self.pos += 1
        start = self.pos
        while self.pos < len(self.text) and self.cur.isascii() and self.cur.isdigit():
            self.pos += 1
        if start == self.pos:
            raise self.error("unterminated number")
        number = int(self.text[start : self.pos])
        return -number if negative else number

    def string(self) -> str:
        text = self.text
        if text.startswith('"""', self.pos) and self.pos + 6 < len(text):
            start = self.pos + 3
            end = text.find('"""', start)
            if end < 0:
                self.line += text.count("\n", start)
                self.pos = len(text)
                raise self.error("unterminated string")
            self.line += text.count("\n", start, end)
            self.pos = end + 3
            return text[start:end]
        quote = self.cur
        if quote in "\"'":
            start = self.pos + 1
            end = start
            while end < len(text) and text[end] != quote and text[end] not in _EOL:
                end += 1
            if end >= len(text) or text[end] != quote:
                self.pos = end
                raise self.error("unterminated string")
            self.pos = end + 1
            return text[start:end]
        # LXC: the rest of the line, verbatim (comments after a value are not recognised there).
        return self.skip_to_eol()


@dataclass
class Config:
    """A parsed configuration file: its entries in order, looked up by name (the first entry of a name wins).

    ``conf[name]``, ``name in conf``, iteration over names and ``as_dict()`` give the raw typed values
    (int, str, list). ``get(name, type, default)`` checks the type as virConfGetValue* do: a value of
    the wrong type raises InternalError "<file>: expected a bool for '<name>' parameter" and the like.
    """

    filename: str
    entries: list[tuple[str, Value]] = field(default_factory=list)
    flags: ConfFlags = ConfFlags.NONE

    def __post_init__(self) -> None:
        self._index: dict[str, Value] = {}
        for name, value in self.entries:
            self._index.setdefault(self._key(name), value)

    def _key(self, name: str) -> str:
        return name.lower() if ConfFlags.VMX_FORMAT in self.flags else name

    def __getitem__(self, name: str) -> Value:
        return self._index[self._key(name)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._key(name) in self._index

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for name, _ in self.entries:
            if self._key(name) not in seen:
                seen.add(self._key(name))
                yield name

    def __len__(self) -> int:
        return len(self._index)

    def as_dict(self) -> dict[str, Value]:
        """Name to value, the first entry of each name winning."""
        return {name: self[name] for name in self}

    def get_all(self, name: str) -> list[Value]:
        """Every value given to ``name``, in file order (LXC configs repeat names)."""
        return [value for key, value in self.entries if self._key(key) == self._key(name)]

    @overload
    def get(self, name: str, type: type[T], default: T) -> T: ...
    @overload
    def get(self, name: str, type: type[T], default: None = None) -> T | None: ...
    @overload
    def get(self, name: str, type: None = None, default: Value | None = None) -> Value | None: ...

    def get(self, name: str, type: Any = None, default: Any = None) -> Any:
        """The value of ``name`` checked against ``type`` (bool, int, str, or list for a list of strings).

        ``type=None`` returns the raw value. A missing name gives ``default``.
        """
        if type is not None and type not in _CHECKS:
            raise InternalError(f"unsupported configuration value type {type!r}")
        if name not in self:
            return default
        value = self[name]
        return value if type is None else _CHECKS[type](self, name, value)

    def get_int(self, name: str, default: int | None = None, *, min: int | None = None, max: int | None = None) -> int | None:
        """An integer within ``[min, max]`` (as virConfGetValueInt/UInt/SizeT check their ranges)."""
        value = self.get(name, int)
        if value is None:
            return default
        if (min is not None and value < min) or (max is not None and value > max):
            raise InternalError(f"{self.filename}: value for '{name}' parameter must be in range {min}:{max}")
        return value

    def get_string_list(self, name: str, default: list[str] | None = None, *, compat_string: bool = False) -> list[str] | None:
        """A list of strings; with ``compat_string`` a lone string counts as a one-item list."""
        value = self.get(name)
        if compat_string and isinstance(value, str):
            return [value]
        if compat_string and value is not None and not isinstance(value, list):
            raise InternalError(f"{self.filename}: expected a string or string list for '{name}' parameter")
        return self.get(name, list, default)

    def format(self) -> str:
        """The entries written back in libvirt's style (virConfWriteMem); comments are not kept."""
        return "".join(f"{name} = {format_value(value)}\n" for name, value in self.entries)


def _check_bool(conf: Config, name: str, value: Value) -> bool:
    if not isinstance(value, int) or value < 0:
        raise InternalError(f"{conf.filename}: expected a bool for '{name}' parameter")
    if value > 1:
        raise InternalError(f"{conf.filename}: value for '{name}' parameter must be 0 or 1")
    return value == 1


def _check_int(conf: Config, name: str, value: Value) -> int:
    if not isinstance(value, int):
        raise InternalError(f"{conf.filename}: expected a signed integer for '{name}' parameter")
    return value


def _check_str(conf: Config, name: str, value: Value) -> str:
    if not isinstance(value, str):
        raise InternalError(f"{conf.filename}: expected a string for '{name}' parameter")
    return value


def _check_list(conf: Config, name: str, value: Value) -> list[str]:
    if not isinstance(value, list):
        raise InternalError(f"{conf.filename}: expected a string list for '{name}' parameter")
    if not all(isinstance(item, str) for item in value):
        raise ConfSyntaxError(f"{conf.filename}: expected a string list for '{name}' parameter", domain=ErrorDomain.CONF)
    return list(value)  # type: ignore[arg-type]


_CHECKS: dict[Any, Any] = {bool: _check_bool, int: _check_int, str: _check_str, list: _check_list}


def format_value(value: Value) -> str:
    """A value in the file syntax, quoting strings the way libvirt writes them back."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[ " + ", ".join(format_value(item) for item in value) + " ]"
    if "\n" in value or ('"' in value and "'" in value):
        return f'"""{value}"""'
    return f"'{value}'" if '"' in value else f'"{value}"'


def parse(text: str, filename: str = "memory conf", flags: ConfFlags = ConfFlags.NONE) -> Config:
    """Parse configuration text; ``filename`` names it in errors ("<file>:<line>: <problem>")."""
    return Config(filename, _Parser(text, filename, flags).parse(), flags)


def read(path: str | Path, flags: ConfFlags = ConfFlags.NONE) -> Config:
    """Read and parse a configuration file (at most 10 MiB); OS errors raise SystemError_."""
    data = read_bytes(path, MAX_CONFIG_FILE_SIZE)
    return parse(data.decode("utf-8", errors="surrogateescape"), str(path), flags)
