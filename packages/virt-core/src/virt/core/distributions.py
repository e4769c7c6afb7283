"""Installed distributions' entry points and versions, read straight from their metadata directories.

``importlib.metadata`` costs ~40 ms to import (it pulls in the email package) before it reads a
file; the CLI needs only one entry-point group and one version at start-up. This module finds the
same distributions in the same order (every ``sys.path`` directory, ``*.dist-info``/``*.egg-info``
grouped by normalized name in listing order, the first of a name winning), parses
``entry_points.txt`` and the ``Name``/``Version`` headers by the same rules, and hands anything it
does not model (zip files and eggs on the path, meta path finders with their own distributions) to
``importlib.metadata``. A test checks both agree.
"""

from __future__ import annotations

import os
import re
import sys
from importlib import import_module
from typing import Any, NamedTuple

_ENTRY_POINT = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")


class EntryPoint(NamedTuple):
    """One entry point: ``value`` is "module" or "module:attr"; ``dist`` its distribution's (name, version)."""

    name: str
    value: str
    group: str
    dist: tuple[str, str] | None

    def load(self) -> Any:
        match = _ENTRY_POINT.match(self.value)
        if match is None:
            raise ValueError(f"invalid entry point value {self.value!r}")
        obj: Any = import_module(match.group("module"))
        for attr in filter(None, (match.group("attr") or "").split(".")):
            obj = getattr(obj, attr)
        return obj


class _Unsupported(Exception):
    """The path holds something only importlib.metadata reads (zip archives, eggs)."""


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower().replace("-", "_")


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        return None


def _distribution_dirs() -> list[str]:
    """Metadata directories of the installed distributions, first of each normalized name only."""
    if any(hasattr(f, "find_distributions") and f.__module__ != "_frozen_importlib_external" for f in sys.meta_path):
        raise _Unsupported
    seen: set[str] = set()
    found: list[str] = []
    for entry in sys.path:
        root = entry or os.getcwd()
        if os.path.basename(root).lower().endswith(".egg"):
            raise _Unsupported
        try:
            children = os.listdir(root)
        except OSError:
            if os.path.isfile(root):
                raise _Unsupported from None
            continue
        groups: dict[str, list[str]] = {}
        for child in children:
            low = child.lower()
            if low.endswith((".dist-info", ".egg-info")):
                groups.setdefault(_normalize(low.rpartition(".")[0].partition("-")[0]), []).append(child)
        for children_of_name in groups.values():
            for child in children_of_name:
                # unique by the name in the directory's own stem, as importlib.metadata's _unique does
                stem = os.path.splitext(child)[0].partition("-")[0]
                key = _normalize(stem)
                if key in seen:
                    continue
                seen.add(key)
                found.append(os.path.join(root, child))
    return found


def _headers(path: str) -> tuple[str, str]:
    """(Name, Version) from METADATA or PKG-INFO: RFC 822 headers up to the first blank line."""
    text = _read(os.path.join(path, "METADATA")) or _read(os.path.join(path, "PKG-INFO")) or ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break
        key, sep, value = line.partition(":")
        if sep and not line[:1].isspace():
            fields.setdefault(key.strip().lower(), value.strip())
    return fields.get("name", ""), fields.get("version", "")


def _parse_entry_points(text: str, group: str) -> list[tuple[str, str]]:
    out = []
    section = None
    for line in map(str.strip, text.splitlines()):
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
            continue
        if section == group:
            name, _, value = line.partition("=")
            out.append((name.strip(), value.strip()))
    return out


def entry_points(group: str) -> list[EntryPoint]:
    """The entry points of ``group`` of every installed distribution, in importlib.metadata's order."""
    try:
        dirs = _distribution_dirs()
    except _Unsupported:
        return _entry_points_slow(group)
    found: list[EntryPoint] = []
    for path in dirs:
        text = _read(os.path.join(path, "entry_points.txt"))
        if not text or f"[{group}]" not in text:
            continue
        dist = _headers(path)
        found.extend(EntryPoint(name, value, group, dist) for name, value in _parse_entry_points(text, group))
    return found


def version(distribution: str) -> str | None:
    """The installed version of a distribution, None when it is not installed."""
    try:
        dirs = _distribution_dirs()
    except _Unsupported:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as dist_version

        try:
            return dist_version(distribution)
        except PackageNotFoundError:
            return None
    wanted = _normalize(distribution)
    for path in dirs:
        if _normalize(os.path.basename(path).rpartition(".")[0].partition("-")[0]) == wanted:
            return _headers(path)[1] or None
    return None


def _entry_points_slow(group: str) -> list[EntryPoint]:
    from importlib.metadata import entry_points as md_entry_points

    found: list[EntryPoint] = []
    for ep in md_entry_points(group=group):
        dist = getattr(ep, "dist", None)
        found.append(EntryPoint(ep.name, ep.value, group,
                                (dist.metadata["Name"], dist.version) if dist is not None else None))
    return found
