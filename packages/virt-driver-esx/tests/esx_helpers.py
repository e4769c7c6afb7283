"""Helpers shared by the ESX driver's tests: the corpus and libvirt's comparison rules for XML and VMX."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lxml import etree

CORPUS = Path(os.environ.get("VIRT_CORPUS", "/work/shared/corpus"))


def corpus_cases(suite: str) -> list[dict[str, Any]]:
    """The cases of a corpus suite (none when the corpus is absent: the tests then skip)."""
    manifest = CORPUS / suite / "manifest.json"
    if not manifest.exists():
        return []
    cases: list[dict[str, Any]] = json.loads(manifest.read_text())
    for case in cases:
        case["dir"] = CORPUS / suite
    return cases


def read_text(path: Path) -> str:
    return path.read_bytes().decode("utf-8", "surrogateescape")


def canonical_xml(text: str | bytes) -> Any:
    """An element as (tag, attributes, stripped text, children): what the corpus compares."""
    def walk(el: etree._Element) -> Any:
        return (el.tag, dict(el.attrib), (el.text or "").strip(), [walk(c) for c in el
                                                                   if isinstance(c.tag, str)])
    return walk(etree.fromstring(text.encode() if isinstance(text, str) else text))


def vmx_pairs(text: str) -> list[tuple[str, str]]:
    """A .vmx file as ordered (lowercased key, value) pairs, blank and comment lines dropped."""
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs.append((key.strip().lower(), value.strip()))
    return pairs
