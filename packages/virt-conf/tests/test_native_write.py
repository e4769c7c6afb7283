"""The C writer (virt.conf._cwrite) against its pure-Python twin (xmlmodel.generate_writer): the same parts."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from lxml import etree
from virt.conf import parse
from virt.conf import xmlmodel as xm
from virt.conf._writeplan import native_writer
from virt.conf.xmlmodel import (
    Attr,
    Child,
    Children,
    Flag,
    Hex,
    Int,
    Mixed,
    Model,
    Raw,
    String,
    Text,
    TextChild,
    UInt,
    ValueType,
    Writer,
    YesNo,
    generate_writer,
)
from virt.util.errors import VirtError

sys.path.insert(0, str(Path(__file__).parent))  # the shared corpus helpers beside this file
from corpus_cases import CORPUS, corpus_documents, mutated

#: The extension is expected: a missing one is a failure, not a fallback. VIRT_NO_NATIVE=1 at run time only
#: keeps the engine from using it (these tests call it directly, and compare it with the twin).
NATIVE = os.environ.get("VIRT_NO_NATIVE") != "1"


# ----------------------------------------------------------------------------- made-up models


class Upper(ValueType[str]):
    def format(self, value: str) -> str:
        return value.upper()


class Boom(ValueType[Any]):
    def format(self, value: Any) -> str:
        raise ValueError(f"cannot format {value!r}")


class NotText(ValueType[Any]):
    """A broken formatter: returns a number (the twin's escape function fails on it)."""

    def format(self, value: Any) -> Any:
        return 42


class Leaf(Model):
    TAG = "leaf"
    name = Attr(String)
    count = Attr(UInt)
    slot = Attr(Hex(2))
    shout = Attr(Upper())
    on = Attr(YesNo)
    value = Text(String)


class Number(Model):
    TAG = "number"
    value = Text(Int())


class Shouted(Model):
    TAG = "shouted"
    value = Text(Upper())


class Bad(Model):
    TAG = "bad"
    first = Attr(String)
    value = Attr(Boom())


class Broken(Model):
    TAG = "broken"
    value = Attr(NotText())


class Item(Model):
    TAG = "item"
    id = Attr(String)


class Other(Model):
    TAG = "other"
    text = Text(String)


class Handwritten(Model):
    """A class with its own write, reading the depth the caller left: called through the dispatch."""

    TAG = "hand"

    def write(self, w: Writer, tag: str | None = None) -> None:
        w.parts.append(f"{'  ' * w.depth}<{tag or self.TAG} depth='{w.depth}'/>\n")


class Failing(Model):
    TAG = "failing"

    def write(self, w: Writer, tag: str | None = None) -> None:
        raise RuntimeError("child writer failed")


class Tree(Model):
    TAG = "tree"
    NSMAP = {"q": "urn:q&'x"}
    kind = Attr(String)
    title = TextChild(String)
    loud = TextChild(Upper(), tag="loud-name")
    acpi = Flag()
    first = Child(Item, tag="first")
    only = Child(Item)
    items = Children(Item, tag="entry")
    mixed = Mixed(Item, Other)
    hand = Child(Handwritten)
    meta = Raw(tag="metadata")
    text = Text(String)


class Open(Model):
    TAG = "open"
    NEVER_SELF_CLOSE = True
    name = Attr(String)
    text = Text(String)


class Hooked(Model):
    TAG = "hooked"
    item = Child(Item)

    def format_extra(self, w: Writer) -> None:
        if getattr(self, "extra", False):
            w.leaf("extra", [("depth", str(w.depth))], None)


class Pool(Model):
    """No class NSMAP: an instance may set its own (as a storage pool does)."""

    TAG = "pool"
    name = TextChild(String)


def both(obj: Model, tag: str | None = None, depth: int = 1) -> tuple[Any, Any]:
    """(parts, depth after) or the exception, from the native writer and from the twin."""
    results = []
    for make in (native_writer, generate_writer):
        write = make(type(obj))
        assert write is not None
        w = Writer(depth)
        w.parts.append("before\n")
        try:
            write(obj, w, tag)
        except Exception as exc:
            results.append((type(exc), str(exc), w.parts, w.depth))
        else:
            results.append((w.parts, w.depth))
    return results[0], results[1]


def same(obj: Model, tag: str | None = None, depth: int = 1) -> Any:
    native, twin = both(obj, tag, depth)
    assert native == twin
    return native


# ----------------------------------------------------------------------------- the extension is there


def test_native_engine_built_unless_disabled() -> None:
    if NATIVE:
        write = native_writer(Leaf)
        assert write is not None and type(write).__name__ == "PlanWriter"
        assert "Leaf" in repr(write)
        assert xm.native_writer is native_writer
    else:
        assert xm.native_writer is None


# ----------------------------------------------------------------------------- focused cases

SPECIAL = ["plain", "", "a&b<c>d\"e'f", "&&", "<>", "é&ü", "€<'", "😀\"&", "x" * 300 + "&"]


@pytest.mark.parametrize("value", SPECIAL)
def test_escaping_of_attributes_and_text(value: str) -> None:
    parts, _ = same(Leaf(name=value, shout=value, value=value))
    line = parts[1]
    assert xm.escape_attr(value) in line and f">{xm.escape_text(value)}</leaf>" in line
    parts, _ = same(Tree(title=value, loud=value, text=value, kind=value))


def test_escape_matches_the_python_functions() -> None:
    from virt.conf import _cwrite  # type: ignore[attr-defined]

    for s in [*SPECIAL, "\x00&\U0010ffff", "'" * 5, "ā" * 3 + ">"]:
        assert _cwrite.escape(s) == xm.escape_attr(s)
        assert _cwrite.escape(s, True) == xm.escape_text(s)


class Sub(str):
    pass


@pytest.mark.parametrize("values", [
    {"name": 5, "count": 7, "slot": 3, "on": True},
    {"name": Sub("s&'"), "count": True, "slot": True, "on": 0},
    {"count": 2**70, "slot": 4096, "on": "", "shout": "quiet"},
    {"count": "12<", "slot": 255, "value": 3},
    {"count": -1, "slot": -1},
    {"count": 0}, {"count": 1023}, {"count": 1024},
])
def test_non_string_values_as_the_twin(values: dict[str, Any]) -> None:
    same(Leaf(**values))


def test_text_through_formatters() -> None:
    assert same(Number(value=12))[0][1] == "  <number>12</number>\n"
    assert same(Shouted(value="a<b"))[0][1] == "  <shouted>A&lt;B</shouted>\n"


def test_empty_and_tag_argument() -> None:
    assert same(Leaf())[0] == ["before\n", "  <leaf/>\n"]
    assert same(Leaf(), tag="")[0][1] == "  <leaf/>\n"
    assert same(Leaf(), tag="other")[0][1] == "  <other/>\n"
    assert same(Tree(), tag="t2", depth=0)[0][1] == "<t2 xmlns:q='urn:q&amp;&apos;x'/>\n"


def test_children_flags_raw_and_text() -> None:
    raw = etree.fromstring("<metadata><a:x xmlns:a='urn:a'>t</a:x></metadata>")
    tree = Tree(kind="k", title="t", loud="l", acpi=True, first=Item(id="1"), only=Item(id="2"),
                items=[Item(id="3"), Item(id="4")], mixed=[Other(text="o"), Item(id="5")], hand=Handwritten(),
                meta=raw)
    parts, depth = same(tree, depth=2)
    assert depth == 2
    text = "".join(parts)
    assert "      <entry id='3'/>\n" in text and "<acpi/>" in text and "<loud-name>L</loud-name>" in text
    assert "<hand depth='3'/>" in text and "<first id='1'/>" in text and "<a:x" in text
    # the element's own text when no child wrote anything; a False flag writes nothing
    assert same(Tree(text="x<", acpi=False), depth=0)[0][1] == "<tree xmlns:q='urn:q&amp;&apos;x'>x&lt;</tree>\n"


def test_deep_indentation() -> None:
    for depth in (0, 63, 64, 65, 200):
        parts, after = same(Tree(items=[Item(id="x")]), depth=depth)
        assert parts[1].startswith("  " * depth + "<tree") and after == depth


def test_never_self_close() -> None:
    assert same(Open(name="n"))[0][1] == "  <open name='n'>\n  </open>\n"
    assert same(Open(text="t"))[0][1] == "  <open>t</open>\n"


def test_format_extra_hook() -> None:
    h = Hooked()
    assert same(h)[0][1] == "  <hooked/>\n"
    h.extra = True  # type: ignore[attr-defined]
    parts, _ = same(h)
    assert parts[1:] == ["  <hooked>\n", "    <extra depth='2'/>\n", "  </hooked>\n"]


def test_instance_nsmap() -> None:
    p = Pool(name="p")
    assert "xmlns" not in same(p)[0][1]
    p.NSMAP = {"a": "urn:a", "b": "u<'"}  # type: ignore[misc]
    assert same(p)[0][1] == "  <pool xmlns:a='urn:a' xmlns:b='u&lt;&apos;'>\n"
    p.NSMAP = {}  # type: ignore[misc]
    assert same(p)[0][1] == "  <pool>\n"


def test_errors_propagate_as_in_the_twin() -> None:
    native = same(Bad(first="a", value=1))
    assert native[0] is ValueError and "cannot format 1" in native[1] and native[2] == ["before\n"]
    native = same(Broken(value=1))
    assert native[0] is TypeError
    # a child's failure leaves the parts and the depth where the twin leaves them
    native = same(Tree(first=Item(id="1"), hand=Failing()))  # type: ignore[arg-type]
    assert native[0] is RuntimeError and native[3] == 2


def test_called_with_keywords_and_bad_arguments() -> None:
    write = native_writer(Leaf)
    w = Writer()
    write(Leaf(name="k"), w=w, tag=None)
    write(self=Leaf(name="j"), w=w, tag="x")
    assert w.parts == ["<leaf name='k'/>\n", "<x name='j'/>\n"]
    with pytest.raises(TypeError):
        write(Leaf(), w)
    with pytest.raises(TypeError):
        write(Leaf(), w, None, None)
    with pytest.raises(TypeError):
        write(Leaf(), w, None, bogus=1)
    with pytest.raises(TypeError):
        write(Leaf(), w, tag=None, w=w)


# ----------------------------------------------------------------------------- the corpus


@contextlib.contextmanager
def engine_writers(native: bool) -> Iterator[None]:
    """Every class written by the C writer or by its generated twin while inside, whatever VIRT_NO_NATIVE
    says (the engine's tables restored after)."""
    saved = dict(xm._WRITERS), dict(xm._WRITE_DISPATCH), xm.native_writer
    xm._WRITERS.clear()
    xm._WRITE_DISPATCH.clear()
    xm.native_writer = native_writer if native else None
    try:
        yield
    finally:
        xm._WRITERS.clear()
        xm._WRITE_DISPATCH.clear()
        xm._WRITERS.update(saved[0])
        xm._WRITE_DISPATCH.update(saved[1])
        xm.native_writer = saved[2]


def pure_writers() -> contextlib.AbstractContextManager[None]:
    return engine_writers(False)


def native_writers() -> contextlib.AbstractContextManager[None]:
    return engine_writers(True)


def _suites() -> list[str]:
    return sorted(p.parent.name for p in CORPUS.glob("*/manifest.json"))


def _documents(suite: str) -> list[Path]:
    files: set[Path] = set()
    for case in json.loads((CORPUS / suite / "manifest.json").read_text()):
        for key in ("input", "expected"):
            if case.get(key):
                files.add(CORPUS / suite / case[key])
    return sorted(f for f in files if f.suffix == ".xml" and f.is_file())


def _models(suite: str) -> list[Model]:
    models = []
    for path in _documents(suite):
        try:
            models.append(parse(path.read_bytes()))
        except (VirtError, etree.XMLSyntaxError):
            continue
    return models


SUITES = _suites()


def test_corpus_suites_found() -> None:
    assert {"generic_domain", "qemu_xml", "network", "storage_pool", "nodedev"} <= set(SUITES)


@pytest.mark.parametrize("suite", SUITES)
def test_corpus_output_identical(suite: str) -> None:
    models = _models(suite)
    if suite not in ("vmx2xml", "xml2vmx", "lxc_native"):  # (their inputs are mostly not XML)
        assert models, f"no document of {suite} parsed"
    with native_writers():
        native = [m.format() for m in models]
        # every class met was written natively: the plan covers every kind of field the formats use
        fallbacks = [cls.__name__ for cls, write in xm._WRITERS.items() if type(write).__name__ != "PlanWriter"]
    assert not fallbacks
    with pure_writers():
        twin = [m.format() for m in models]
    for model, a, b in zip(models, native, twin, strict=True):
        assert a == b, type(model).__name__


_MUTATION_SUITES = ("generic_domain", "network", "storage_pool", "nodedev", "nwfilter", "interface", "secret")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(corpus_documents(_MUTATION_SUITES)))
def test_mutated_documents_format_as_the_twin(doc: bytes) -> None:
    try:
        model = parse(doc)
    except VirtError:
        return
    with native_writers():
        try:
            native: Any = model.format()
        except VirtError as exc:
            native = (type(exc), str(exc))
    with pure_writers():
        try:
            twin: Any = model.format()
        except VirtError as exc:
            twin = (type(exc), str(exc))
    assert native == twin


def test_no_leak() -> None:
    models = _models("qemu_xml")[:20]
    with native_writers():
        for m in models:
            m.format()
        tracemalloc.start()
        try:
            for m in models:
                m.format()
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(50):
                for m in models:
                    m.format()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    assert grown < 20_000, grown


def test_write_models_in_c_as_in_python() -> None:
    from virt.conf._writeplan import write_models

    assert write_models is not xm.python_write_models
    models = [Item(id="1"), Handwritten(), Other(text="t&"), Tree(items=[Item(id="2")])]
    for tag in (None, "x"):
        for make in (list, iter, tuple):
            outs = []
            for fn in (write_models, xm.python_write_models):
                w = Writer(1)
                fn(make(models), w, tag) if tag else fn(make(models), w)
                outs.append((w.parts, w.depth))
            assert outs[0] == outs[1]
    w = Writer()
    with pytest.raises(RuntimeError, match="child writer failed"):
        write_models([Item(id="1"), Failing(), Item(id="2")], w)
    assert w.parts == ["<item id='1'/>\n"]
    with pytest.raises(TypeError):
        write_models([], w, None, None)
    with pytest.raises(TypeError):
        write_models(5, w)


def test_fields_found_whatever_the_dict_order() -> None:
    tree = Tree(kind="k", title="t", items=[Item(id="1")], text="x")
    expected = same(tree)[0]
    tree.__dict__ = {"extra": 1, **dict(reversed(list(tree.__dict__.items())))}
    assert same(tree)[0] == expected
    del tree.__dict__["kind"]
    native = same(tree)
    assert native[0] is AttributeError
