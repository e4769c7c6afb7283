"""Shared helpers for the corpus-driven format tests: case loading, XML comparison, mutation strategy."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st
from lxml import etree
from virt.conf import normalize, parse
from virt.util.errors import VirtError

#: libvirt's test corpus: <repo>/../shared/corpus, or $VIRT_CORPUS.
CORPUS = Path(os.environ.get("VIRT_CORPUS") or Path(__file__).resolve().parents[3] / ".." / "shared" / "corpus")


def load_cases(suite: str) -> list[dict[str, Any]]:
    """The cases of one suite; a missing corpus is an error, never a skip."""
    manifest = CORPUS / suite / "manifest.json"
    if not manifest.is_file():
        raise FileNotFoundError(f"corpus suite {suite!r} not found at {manifest} (set VIRT_CORPUS)")
    cases: list[dict[str, Any]] = json.loads(manifest.read_text())
    for case in cases:
        case["suite_dir"] = manifest.parent
    return cases


def params(suite: str, xfail: dict[str, str]) -> list[Any]:
    """pytest params for every case of a suite; the ones listed in xfail are strict xfails."""
    out = []
    for case in load_cases(suite):
        marks = [pytest.mark.xfail(strict=True, reason=xfail[case["name"]])] if case["name"] in xfail else []
        out.append(pytest.param(case, id=case["name"], marks=marks))
    return out


def _canon(el: ET.Element) -> Any:
    return (el.tag, dict(el.attrib), (el.text or "").strip(), [_canon(c) for c in el])


def same_xml(a: str | bytes, b: str | bytes) -> bool:
    """Equal as the corpus scorer compares them: attributes as sets, stripped text, children in order."""
    return bool(_canon(ET.fromstring(a)) == _canon(ET.fromstring(b)))


def check_case(case: dict[str, Any]) -> None:
    """Run one corpus case through normalize and check it the way the scorer does."""
    data = (case["suite_dir"] / case["input"]).read_bytes()
    if case["mode"] == "fail":
        with pytest.raises(VirtError) as info:
            normalize(data)
        assert str(info.value)
        return
    out = normalize(data)
    expected = (case["suite_dir"] / (case["expected"] or case["input"])).read_bytes()
    assert same_xml(expected, out), out


def check_fixed_point(case: dict[str, Any]) -> None:
    """parse -> format -> parse -> format gives the same text, and equal models."""
    if case["mode"] == "fail":
        return
    data = (case["suite_dir"] / case["input"]).read_bytes()
    first = parse(data)
    text = first.format()
    second = parse(text)
    assert second.format() == text
    assert second == first


def corpus_documents(suites: Iterable[str]) -> list[bytes]:
    return [(c["suite_dir"] / c["input"]).read_bytes() for s in suites for c in load_cases(s)]


@st.composite
def mutated(draw: st.DrawFn, documents: list[bytes]) -> bytes:
    """A corpus document with a few random edits: attributes changed or dropped, elements dropped or doubled."""
    root = etree.fromstring(draw(st.sampled_from(documents)))
    junk = st.one_of(st.text(max_size=12), st.sampled_from(["", "0", "-1", "65536", "0x1G", "yes", "no", "$X",
                                                             "::1", "1.2.3.4", "ff:ff:ff:ff:ff:ff", "4294967296"]))
    for _ in range(draw(st.integers(1, 4))):
        elements = [e for e in root.iter() if isinstance(e.tag, str)]
        el = draw(st.sampled_from(elements))
        action = draw(st.sampled_from(["set", "drop-attr", "drop-el", "dup-el", "text"]))
        if action == "set":
            names = list(el.attrib) or ["type"]
            value = draw(junk).replace("\x00", "")
            el.set(draw(st.sampled_from(names)), "".join(c for c in value if c.isprintable()))
        elif action == "drop-attr" and el.attrib:
            del el.attrib[draw(st.sampled_from(list(el.attrib)))]
        elif action == "drop-el" and el.getparent() is not None:
            el.getparent().remove(el)
        elif action == "dup-el" and el.getparent() is not None:
            el.addnext(etree.fromstring(etree.tostring(el)))
        elif action == "text":
            el.text = "".join(c for c in draw(junk) if c.isprintable())
    return bytes(etree.tostring(root))


def check_mutant(doc: bytes) -> None:
    """Only VirtError (with a message) may come out of a broken document; what parses must format."""
    try:
        model = parse(doc)
    except VirtError as exc:
        assert str(exc)
        return
    text = model.format()
    parse(text)
