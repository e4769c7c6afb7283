"""What commands return, and how it is printed: virsh's text layouts, or JSON with ``--json``.

A handler returns a ``Table`` (virsh's column tables), ``Fields`` (``Label:   value`` blocks such as
dominfo), ``Text`` (printed as is: XML, messages) or a list of them; the engine renders each.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO


def display_width(text: str) -> int:
    """Columns a string takes on a terminal: wide East Asian characters count 2, combining marks 0."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def safe_cell(text: str) -> str:
    """Non-printable characters as ``\\xNN``, so one cell never breaks the table's layout."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)


def json_key(label: str) -> str:
    """A column or field label as a JSON key: "Used memory:" -> "used_memory"."""
    out = []
    for ch in label.strip().rstrip(":").lower():
        out.append(ch if ch.isalnum() else "_")
    return "".join(out).strip("_").replace("__", "_")


@dataclass
class Table:
    """virsh's table: a header, a dashed rule, one line per row; cells left-aligned, 3 spaces apart.

    ``values`` (optional) holds the typed value of each cell, for JSON.
    """

    columns: Sequence[str]
    rows: list[list[str]] = field(default_factory=list)
    values: list[list[Any]] | None = None

    def add(self, *cells: str, values: Sequence[Any] | None = None) -> None:
        self.rows.append([safe_cell(str(c)) for c in cells])
        if values is not None:
            if self.values is None:
                self.values = []
            self.values.append(list(values))

    def text(self, quiet: bool = False) -> str:
        lines = self.rows if quiet else [list(self.columns), *self.rows]
        widths = [0] * len(self.columns)
        for row in lines:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], display_width(cell))
        out = []
        for n, row in enumerate(lines):
            parts = []
            for i, cell in enumerate(row):
                pad = "" if i == len(row) - 1 else " " * (widths[i] - display_width(cell))
                parts.append(cell + pad)
            out.append(" " + "   ".join(parts))
            if n == 0 and not quiet:
                out.append("-" * (sum(widths) + 3 * len(widths)))
        return "".join(line + "\n" for line in out)

    def data(self) -> list[dict[str, Any]]:
        keys = [json_key(c) for c in self.columns]
        source = self.values if self.values is not None else self.rows
        return [dict(zip(keys, row)) for row in source]


@dataclass
class Fields:
    """``Label:`` and value lines with the labels padded to ``width`` (dominfo: 15, nodeinfo: 20)."""

    items: list[tuple[str, str, Any]] = field(default_factory=list)
    width: int = 15

    def add(self, label: str, text: Any, value: Any = None) -> None:
        self.items.append((label, str(text), text if value is None else value))

    def text(self, quiet: bool = False) -> str:
        return "".join(f"{label:<{self.width}} {text}\n" for label, text, _ in self.items)

    def data(self) -> dict[str, Any]:
        return {json_key(label): value for label, _, value in self.items}


@dataclass
class Text:
    """Text printed as is, a trailing newline added when missing unless ``newline`` is False (virsh
    prints some one-line answers without one); ``value`` is what JSON shows."""

    body: str
    value: Any = None
    newline: bool = True

    def text(self, quiet: bool = False) -> str:
        if not self.newline or not self.body or self.body.endswith("\n"):
            return self.body
        return self.body + "\n"

    def data(self) -> Any:
        return self.body.rstrip("\n") if self.value is None else self.value


@dataclass
class Message(Text):
    """A status line ("Domain 'foo' started"); with ``--json`` it becomes {"message": ...}."""

    def data(self) -> Any:
        return {"message": self.body.strip("\n")} if self.value is None else self.value


@dataclass
class Data:
    """A value printed as JSON in JSON mode and through ``render`` (a callable to text) otherwise."""

    value: Any
    body: str = ""

    def text(self, quiet: bool = False) -> str:
        return self.body

    def data(self) -> Any:
        return self.value


Result = Table | Fields | Text | Data


def render(results: Iterable[Result], out: TextIO, *, quiet: bool = False, as_json: bool = False) -> None:
    items = list(results)
    if as_json:
        if not items:
            return
        payload = items[0].data() if len(items) == 1 else [r.data() for r in items]
        import json  # here: only --json needs it

        out.write(json.dumps(payload, indent=2, default=str) + "\n")
        return
    out.writelines(item.text(quiet) for item in items)


def pretty_capacity(nbytes: int) -> str:
    """"100.00 GiB": virsh's vshPrettyCapacity with two decimals."""
    from virt.util.units import format_capacity

    return format_capacity(nbytes)


def yes_no(value: bool) -> str:
    return "yes" if value else "no"
