"""The declarative XML binding engine: describe an element's fields once, parse, validate and format them.

A format is a set of ``Model`` subclasses. Each declares its XML tag and its fields, in the order
libvirt prints them::

    class Bridge(Model):
        TAG = "bridge"
        name = Attr(String)
        stp = Attr(OnOff)
        delay = Attr(UInt)

    class Network(Model):
        TAG = "network"
        name = TextChild(String, required=True)
        uuid = TextChild(UUIDType)
        bridge = Child(Bridge)
        ips = Children(IP)

One engine (``Model.parse`` / ``Model.format``) handles them all. What the fields cannot say
(defaults that depend on other fields, cross-field rules) goes in the ``post_parse`` and
``validate`` hooks of the class, which the engine calls after the fields are read. The engine
generates each class's parse and write functions from its fields on first use (see
"generated parse and write" below).
"""

from __future__ import annotations

import copy
import inspect
import linecache
import os
import re
import uuid as _uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import repeat
from operator import is_not, itemgetter
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast, overload

from lxml import etree
from virt.util.errors import XMLError

T = TypeVar("T")
M = TypeVar("M", bound="Model")
F = TypeVar("F", bound="Field")


# ----------------------------------------------------------------------------- parse context

@dataclass
class ParseContext:
    """Options and findings of one parse.

    ``strict`` turns unknown elements and attributes into errors (``virt xml-validate``); otherwise
    they are dropped, as libvirt drops them, and listed in ``unknown``. ``inactive`` is libvirt's
    VIR_DOMAIN_DEF_PARSE_INACTIVE: live-only data (ids, runtime state) is not read.
    ``hooks`` are driver post-parse callbacks: ``hook(model, ctx)`` for every model parsed.
    """

    strict: bool = False
    inactive: bool = True
    unknown: list[str] = field(default_factory=list)
    hooks: list[Callable[[Model, ParseContext], None]] = field(default_factory=list)
    #: Free-form values drivers and formats pass down (capabilities, the pool of a volume, ...).
    options: dict[str, Any] = field(default_factory=dict)

    def note_unknown(self, what: str, el: etree._Element) -> None:
        msg = f"{what} (line {el.sourceline})" if el.sourceline else what
        if self.strict:
            raise XMLError(f"unexpected {msg}")
        self.unknown.append(msg)


def where(el: etree._Element | None) -> str:
    """' (line N)' for messages, when lxml knows the line."""
    line = getattr(el, "sourceline", None)
    return f" (line {line})" if line else ""


def local_name(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) and tag.startswith("{") else str(tag)


# ----------------------------------------------------------------------------- value types

class ValueType(Generic[T]):
    """How one attribute value or element text is read and written back."""

    name = "value"
    #: parse depends on the text alone and returns an immutable value: the engine may remember results.
    pure: ClassVar[bool] = False

    def parse(self, text: str) -> T:
        raise NotImplementedError

    def format(self, value: T) -> str:
        return str(value)

    def error(self, text: str) -> str:
        return f"invalid {self.name} '{text}'"


class _String(ValueType[str]):
    name = "string"

    def __init__(self, strip: bool = False, pattern: str | None = None, empty_ok: bool = True) -> None:
        self.strip = strip
        self.pattern = re.compile(pattern) if pattern else None
        self.empty_ok = empty_ok

    def parse(self, text: str) -> str:
        value = text.strip() if self.strip else text
        if (self.pattern and not self.pattern.fullmatch(value)) or (not value and not self.empty_ok):
            raise ValueError(text)
        return value

    def __call__(self, *, strip: bool = False, pattern: str | None = None, empty_ok: bool = True) -> _String:
        return _String(strip, pattern, empty_ok)


String = _String()


class Int(ValueType[int]):
    """A decimal (or 0x-prefixed hexadecimal, when ``hex_ok``) integer within bounds."""

    name = "integer"
    pure = True

    def __init__(self, min: int | None = None, max: int | None = None, hex_ok: bool = True) -> None:
        self.min, self.max, self.hex_ok = min, max, hex_ok

    def parse(self, text: str) -> int:
        s = text.strip()
        value = int(s, 16) if self.hex_ok and s[:2].lower() == "0x" else int(s, 10)
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise ValueError(text)
        return value


UInt = Int(min=0)
ULong = Int(min=0, max=2**64 - 1)


class Hex(ValueType[int]):
    """An integer printed as 0x with a fixed number of digits (PCI addresses: bus='0x00')."""

    name = "hex number"
    pure = True

    def __init__(self, width: int, max: int | None = None) -> None:
        self.width, self.max = width, max

    def parse(self, text: str) -> int:
        s = text.strip()
        value = int(s, 16) if s[:2].lower() == "0x" else int(s, 10)
        if value < 0 or (self.max is not None and value > self.max):
            raise ValueError(text)
        return value

    def format(self, value: int) -> str:
        return f"0x{value:0{self.width}x}"


class Enum(ValueType[str]):
    """One of a fixed set of words, kept as the word."""

    name = "value"

    def __init__(self, *values: str, name: str = "value") -> None:
        self.values = frozenset(values)
        self.ordered = values
        self.name = name

    def parse(self, text: str) -> str:
        if text not in self.values:
            raise ValueError(text)
        return text

    def extend(self, *values: str) -> None:
        """Accept more words (extension points: a third-party driver's domain type)."""
        new = tuple(v for v in values if v not in self.values)
        self.values = self.values | frozenset(new)
        self.ordered = self.ordered + new


class Bool(ValueType[bool]):
    """A two-word boolean: yes/no, on/off."""

    def __init__(self, true: str, false: str) -> None:
        self.true, self.false = true, false
        self.name = f"{true}/{false} value"

    def parse(self, text: str) -> bool:
        if text == self.true:
            return True
        if text == self.false:
            return False
        raise ValueError(text)

    def format(self, value: bool) -> str:
        return self.true if value else self.false


YesNo = Bool("yes", "no")
OnOff = Bool("on", "off")


class UUIDType(ValueType[str]):
    """A UUID in any form libvirt accepts, kept in canonical lowercase 8-4-4-4-12 form."""

    name = "uuid"
    pure = True

    _canonical = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

    def parse(self, text: str) -> str:
        if self._canonical.fullmatch(text):
            return text
        hexdigits = re.sub(r"[\s-]", "", text)
        if len(hexdigits) != 32 or not re.fullmatch(r"[0-9a-fA-F]{32}", hexdigits):
            raise ValueError(text)
        return str(_uuid.UUID(hexdigits))


UUID = UUIDType()


class MACType(ValueType[str]):
    name = "MAC address"
    pure = True
    _re = re.compile(r"[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2}){5}")

    def parse(self, text: str) -> str:
        if not self._re.fullmatch(text):
            raise ValueError(text)
        return ":".join(f"{int(p, 16):02x}" for p in text.split(":"))


MAC = MACType()


# ----------------------------------------------------------------------------- fields

class Field:
    """One piece of an element: an attribute, a child element or a list of them."""

    #: Set by Model.__init_subclass__: the Python attribute name.
    name: str = ""
    default: Any = None

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def empty(self) -> Any:
        return self.default

    if TYPE_CHECKING:
        # For type checkers only: on an instance a field reads as its value (the engine keeps values
        # in the instance's __dict__; at run time a Field is not a descriptor, so this costs nothing).
        @overload
        def __get__(self: F, obj: None, owner: type) -> F: ...
        @overload
        def __get__(self, obj: object, owner: type) -> Any: ...
        def __get__(self, obj: object, owner: type) -> Any: ...
        def __set__(self, obj: object, value: Any) -> None: ...


class Attr(Field):
    """An attribute; ``xml`` names it when the Python name differs (``trustGuestRxFilters``)."""

    def __init__(self, vtype: ValueType[Any] = String, *, xml: str | None = None, required: bool = False,
                 default: Any = None) -> None:
        self.vtype, self.xml, self.required, self.default = vtype, xml, required, default

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.xml = self.xml or name


class TextChild(Field):
    """A child element holding only text: ``<name>vm1</name>``."""

    def __init__(self, vtype: ValueType[Any] = String, *, tag: str | None = None, required: bool = False,
                 default: Any = None) -> None:
        self.vtype, self.tag, self.required, self.default = vtype, tag, required, default

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.tag = self.tag or name


class Text(Field):
    """The element's own text: ``<memory unit='KiB'>524288</memory>``."""

    def __init__(self, vtype: ValueType[Any] = String, *, required: bool = False, default: Any = None) -> None:
        self.vtype, self.required, self.default = vtype, required, default


class Flag(Field):
    """An empty child element whose presence is the value: ``<acpi/>``."""

    def __init__(self, *, tag: str | None = None) -> None:
        self.tag = tag
        self.default = False

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.tag = self.tag or name


class Child(Field):
    """A child element described by another Model; ``tag`` overrides the model's own TAG."""

    def __init__(self, model: type[Model] | Callable[[], type[Model]], *, tag: str | None = None,
                 required: bool = False) -> None:
        self._model, self._tag, self.required = model, tag, required

    @property
    def model(self) -> type[Model]:
        m = self._model
        return m if isinstance(m, type) else m()

    @property
    def tag(self) -> str:
        return self._tag or self.model.TAG


class Children(Child):
    """Repeated child elements of one model, in document order."""

    def empty(self) -> Any:
        return []


class Mixed(Field):
    """Repeated children of several models interleaved, in document order (nwfilter rules and filterrefs)."""

    def __init__(self, *models: type[Model]) -> None:
        self.models = models

    @property
    def by_tag(self) -> dict[str, type[Model]]:
        return {m.TAG: m for m in self.models}

    def empty(self) -> Any:
        return []


class Raw(Field):
    """A child element kept verbatim as an lxml element (``<metadata>`` with foreign namespaces)."""

    def __init__(self, *, tag: str | None = None) -> None:
        self.tag = tag

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.tag = self.tag or name


# ----------------------------------------------------------------------------- models

class Model:
    """Base of every XML element model. Subclasses declare TAG and fields; instances hold values."""

    TAG: ClassVar[str] = ""
    #: Namespace prefixes to declare on this element when formatting (root elements with extensions).
    NSMAP: ClassVar[dict[str, str]] = {}
    #: libvirt prints some elements with an open and a close tag even when empty (a network's <ip>).
    NEVER_SELF_CLOSE: ClassVar[bool] = False
    _fields: ClassVar[tuple[Field, ...]] = ()
    _attrs: ClassVar[dict[str, Attr]]
    _children: ClassVar[dict[str, Field]]
    _text: ClassVar[Text | None]

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        fields: dict[str, Field] = {}
        for base in reversed(cls.__mro__[1:]):
            for f in getattr(base, "_fields", ()):
                fields[f.name] = f
        declared = [name for name, value in cls.__dict__.items() if isinstance(value, Field)]
        for name in declared:
            fields.pop(name, None)
            fields[name] = cls.__dict__[name]
            # the Field leaves the class namespace (it stays in _fields): CPython 3.11 specializes
            # ``model.name`` reads and writes only when the class attribute of that name, if any, is of an
            # immutable type; with a Field there every field access took the slow generic path
            delattr(cls, name)
        cls._fields = tuple(fields.values())
        cls._attrs = {}
        cls._text = None
        for f in cls._fields:
            if isinstance(f, Attr):
                cls._attrs[f.xml or f.name] = f
            elif isinstance(f, Text):
                cls._text = f
        cls._children = {}  # built lazily: Child models may be declared later in the module

    @classmethod
    def field(cls, name: str) -> Field:
        """The declared field of that Python name (fields are not class attributes: see __init_subclass__)."""
        for f in cls._fields:
            if f.name == name:
                return f
        raise KeyError(f"{cls.__name__} has no field {name!r}")

    @classmethod
    def _child_index(cls) -> dict[str, Field]:
        index = cls.__dict__.get("_children_built")
        if index is None:
            index = {}
            for f in cls._fields:
                if isinstance(f, Mixed):
                    for tag in f.by_tag:
                        index[tag] = f
                elif isinstance(f, (TextChild, Flag, Raw)):
                    index[f.tag] = f  # type: ignore[index]
                elif isinstance(f, Child):
                    index[f.tag] = f
            cls._children_built = index  # type: ignore[attr-defined]
        return index

    def __init__(self, **values: Any) -> None:
        defaults, lists, others = _INIT_PLANS.get(type(self)) or _init_plan(type(self))
        d = self.__dict__
        d.update(defaults)  # (every field, in order, as the generated parsers do; fresh empties after)
        for name in lists:
            d[name] = []
        for f in others:
            d[f.name] = f.empty()
        if values:
            names = _FIELD_NAMES.get(type(self))
            if names is None:
                names = _FIELD_NAMES[type(self)] = frozenset(f.name for f in self._fields)
            for key, value in values.items():
                if key not in names:
                    raise TypeError(f"{type(self).__name__} has no field {key!r}")
                setattr(self, key, value)

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in self._fields
                          if getattr(self, f.name) not in (None, [], False))
        return f"{type(self).__name__}({shown})"

    def no_values(self, skip: tuple[str, ...] = ()) -> bool:
        """True when no field (but those in ``skip``) has a value: each is None or an empty list."""
        key = (type(self), skip)
        names = _VALUE_FIELDS.get(key)
        if names is None:
            fields = [f for f in self._fields if f.name not in skip]
            names = _VALUE_FIELDS[key] = (
                tuple(f.name for f in fields if not isinstance(f, Children | Mixed)),
                tuple(f.name for f in fields if isinstance(f, Children | Mixed)))
        get = self.__dict__.get
        # (C-level loops: asked of every disk source and interface source, twice a parse)
        return not any(map(is_not, map(get, names[0]), repeat(None))) and not any(map(get, names[1]))

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(_same(getattr(self, f.name), getattr(other, f.name)) for f in self._fields)

    # -- hooks ---------------------------------------------------------------------------------
    def post_parse(self, ctx: ParseContext) -> None:
        """Fill in defaults that depend on other fields. Called bottom-up after parsing."""

    def validate(self, ctx: ParseContext) -> None:
        """Reject what libvirt's post-parse checks reject. Raise XMLError/ConfigUnsupportedError."""

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        """Read what the fields cannot describe; return the child tags (and '@attr' names) consumed."""
        return set()

    def format_extra(self, w: Writer) -> None:
        """Write extra children after the declared ones (pair of ``parse_extra``)."""

    # -- engine --------------------------------------------------------------------------------
    @classmethod
    def from_element(cls: type[M], el: etree._Element, ctx: ParseContext | None = None) -> M:
        # The engine's parse function for this class is generated from its fields on first use
        # (see _compile_parser); subclasses overriding from_element end up here through super().
        parse = _PARSERS.get(cls) or _compile_parser(cls)
        return cast("M", parse(el, ctx if ctx is not None else ParseContext()))

    @classmethod
    def parse(cls: type[M], xml: str | bytes, ctx: ParseContext | None = None) -> M:
        root = parse_xml(xml)
        if root.tag != cls.TAG:
            raise XMLError(f"unexpected root element <{local_name(root.tag)}>, expecting <{cls.TAG}>")
        return cls.from_element(root, ctx)

    def format(self, indent: int = 0) -> str:
        """The element as libvirt prints it: 2-space indent, single-quoted attributes."""
        w = Writer(indent)
        self.write(w)
        return w.getvalue()

    def write(self, w: Writer, tag: str | None = None) -> None:
        """Write the declared fields (and ``format_extra``) with the class's generated writer."""
        cls = type(self)
        (_WRITERS.get(cls) or _compile_writer(cls))(self, w, tag)

    def copy(self: M) -> M:
        return type(self).from_element(parse_xml(self.format()), ParseContext())


# ----------------------------------------------------------------------------- generated parse and write

# The declarations above are the description; these functions turn one class's fields into the
# Python source of its parse and write functions, compiled once on first use (as dataclasses and attrs
# generate __init__). The generated code does what a generic loop over the fields would do, without
# the per-field dispatch: on large documents that loop was most of the time spent in the engine.

#: (Model class, fields skipped) -> names of its single-valued fields and of its list fields, for no_values().
_VALUE_FIELDS: dict[tuple[type[Model], tuple[str, ...]], tuple[tuple[str, ...], tuple[str, ...]]] = {}
#: Model class -> the names of its fields (for keyword arguments of Model()).
_FIELD_NAMES: dict[type[Model], frozenset[str]] = {}
#: Model class -> what Model() fills an instance with: the fields' defaults (all fields, in order), the
#: list fields that get a fresh list, the fields whose empty() is their own.
_INIT_PLANS: dict[type[Model], tuple[dict[str, Any], tuple[str, ...], tuple[Field, ...]]] = {}


def _init_plan(cls: type[Model]) -> tuple[dict[str, Any], tuple[str, ...], tuple[Field, ...]]:
    defaults: dict[str, Any] = {}
    lists: list[str] = []
    others: list[Field] = []
    for f in cls._fields:
        empty = type(f).empty
        defaults[f.name] = f.default if empty is Field.empty else None
        if empty is Children.empty or empty is Mixed.empty:
            lists.append(f.name)
        elif empty is not Field.empty:
            others.append(f)
    plan = _INIT_PLANS[cls] = (defaults, tuple(lists), tuple(others))
    return plan
#: Model class -> its generated ``parse(el, ctx)``.
_PARSERS: dict[type[Model], Callable[[etree._Element, ParseContext], Any]] = {}
#: Model class -> its generated ``write(model, w, tag)`` (what ``Model.write`` does for that class).
_WRITERS: dict[type[Model], Callable[[Any, Writer, str | None], None]] = {}
_NOTHING: frozenset[str] = frozenset()
_PARSE_ERRORS = (ValueError, OverflowError)
#: More attributes or child tags than this are dispatched through a dict rather than an if chain.
_CHAIN_MAX = 8


class _Source:
    """Lines of generated Python plus the namespace its names refer to."""

    def __init__(self, cls: type[Model]) -> None:
        self.lines: list[str] = []
        self.ns: dict[str, Any] = {"C": cls, "XMLError": XMLError, "PARSE_ERRORS": _PARSE_ERRORS}
        #: How a generated parser names the tags and '@attributes' parse_extra consumed.
        self.consumed = "consumed"

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def const(self, value: Any, prefix: str = "K") -> str:
        """A name in the generated code's namespace bound to ``value``."""
        name = f"{prefix}{len(self.ns)}"
        self.ns[name] = value
        return name

    def build(self, fname: str, cls: type[Model]) -> Any:
        text = "\n".join(self.lines) + "\n"
        filename = f"<virt.conf {fname} of {cls.__module__}.{cls.__qualname__}>"
        # tracebacks through generated code show its lines, as for attrs' and dataclasses' methods
        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
        exec(compile(text, filename, "exec"), self.ns)
        return self.ns[fname]


def _check_fields(cls: type[Model]) -> None:
    for f in cls._fields:
        # values live in the instance dict: a property or slot of a field's name would be bypassed
        if hasattr(inspect.getattr_static(cls, f.name, None), "__set__"):
            raise TypeError(f"{cls.__name__}.{f.name} hides the field of that name")


def _plain_string(vtype: ValueType[Any]) -> bool:
    """A String accepting any text as is: the value is the text itself, no parse call."""
    return type(vtype) is _String and not vtype.strip and vtype.pattern is None and vtype.empty_ok


def _emit_value(src: _Source, depth: int, vtype: ValueType[Any], target: str, text: str, on_error: str) -> None:
    """``target = vtype.parse(text)``, with the common types' checks inlined; ``on_error`` raises."""
    if _plain_string(vtype):
        src.emit(depth, f"{target} = {text}")
    elif type(vtype) is Enum:
        src.emit(depth, f"if {text} in {src.const(vtype, 'E')}.values:")  # read live: Enum.extend adds words
        src.emit(depth + 1, f"{target} = {text}")
        src.emit(depth, "else:")
        src.emit(depth + 1, on_error)
    elif type(vtype).parse is Bool.parse:
        b = cast("Bool", vtype)
        src.emit(depth, f"if {text} == {b.true!r}:")
        src.emit(depth + 1, f"{target} = True")
        src.emit(depth, f"elif {text} == {b.false!r}:")
        src.emit(depth + 1, f"{target} = False")
        src.emit(depth, "else:")
        src.emit(depth + 1, on_error)
    elif vtype.pure:
        # the same few numbers come back in every document: results are remembered, up to _MEMO_MAX of them
        src.emit(depth, "try:")
        src.emit(depth + 1, f"{target} = {src.const(_memo(vtype), 'MEMO')}[{text}]")
        src.emit(depth, "except PARSE_ERRORS:")  # (rejected texts are not remembered)
        src.emit(depth + 1, on_error)
    else:
        src.emit(depth, "try:")
        src.emit(depth + 1, f"{target} = {src.const(vtype.parse, 'P')}({text})")
        src.emit(depth, "except PARSE_ERRORS:")
        src.emit(depth + 1, on_error)


_MEMO_MAX = 1024


class Memo(dict[Any, Any]):
    """``fn(key)`` for keys seen before, looked up rather than computed (up to _MEMO_MAX of them).

    For pure functions on the hot path, formatting above all: ``memo[value]`` is one C-level lookup.
    """

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        super().__init__()
        self.fn = fn

    def __missing__(self, key: Any) -> Any:
        value = self.fn(key)
        if len(self) < _MEMO_MAX:
            self[key] = value
        return value

#: Indentation strings by depth (the writer's hot path looks them up instead of multiplying).
_INDENT = Memo(lambda depth: "  " * depth)

#: id of a pure value type -> (the type, its remembered parse results by text).
_MEMOS: dict[int, tuple[ValueType[Any], Memo]] = {}


def _memo(vtype: ValueType[Any]) -> Memo:
    """The remembered results of one pure value type (shared by every field using it)."""
    entry = _MEMOS.get(id(vtype))
    if entry is None or entry[0] is not vtype:
        entry = _MEMOS[id(vtype)] = (vtype, Memo(vtype.parse))
    return entry[1]


def _format_expr(src: _Source, vtype: ValueType[Any]) -> str:
    """An expression for the escaped text of value ``v`` (escaping skipped where it cannot be needed)."""
    fmt = _formatter(vtype)
    if type(vtype).format is Bool.format:
        b = cast("Bool", vtype)
        return f"({b.true!r} if v else {b.false!r})"
    if fmt is str:
        if isinstance(vtype, Int | Hex):
            return "(str(v) if v.__class__ is int else ESC_A(str(v)))"
        # most values need no escaping: one C-level regex search finds out, no Python call
        return "(v if v.__class__ is str and not SPECIAL_A(v) else ESC_A(str(v)))"
    name = src.const(fmt, "FMT")
    if isinstance(vtype, Int | Hex) and vtype.pure:  # numbers formatted by the type: digits, 0x, signs
        return f"({src.const(Memo(fmt), 'FMEMO')}[v] if v.__class__ is int else ESC_A({name}(v)))"
    return f"ESC_A({name}(v))"


def _bad_value(vtype: ValueType[Any], text: str, what: str, el: etree._Element) -> None:
    """Raise the XMLError for a value ``vtype`` rejects."""
    _convert(vtype, text, what, el)
    raise XMLError(f"invalid value '{text}' for {what}{where(el)}")  # (a parse that fails only once)


def _bad_attr(vtype: ValueType[Any], key: str, text: str, el: etree._Element) -> None:
    _bad_value(vtype, text, f"attribute '{key}' of element '{local_name(el.tag)}'", el)


def _unknown_attr(ctx: ParseContext, key: str, el: etree._Element, consumed: Any) -> None:
    if "@" + key not in consumed:
        ctx.note_unknown(f"attribute '{key}' in element '{local_name(el.tag)}'", el)


def _unknown_child(ctx: ParseContext, child: etree._Element, el: etree._Element, consumed: Any) -> None:
    tag = child.tag
    if isinstance(tag, str) and tag not in consumed:  # not comments, processing instructions
        ctx.note_unknown(f"element '{local_name(tag)}' in '{local_name(el.tag)}'", child)


def _missing(f: Field, el: etree._Element) -> None:
    raise XMLError(f"missing {_describe(f)} in element '{local_name(el.tag)}'{where(el)}")


def parser_for(model: type[Model]) -> Callable[[etree._Element, ParseContext], Any]:
    """The engine's generated parse function of a model class: ``parse(el, ctx)`` reads the class's
    own fields and runs its hooks (what ``Model.from_element`` does, for overrides that pick a class)."""
    return _PARSERS.get(model) or _compile_parser(model)


def _parser_of(model: type[Model]) -> Callable[[etree._Element, ParseContext], Any]:
    """What parses a child element of this model: its generated parser, or its own from_element."""
    if model.from_element.__func__ is Model.from_element.__func__:  # type: ignore[attr-defined]
        return _PARSERS.get(model) or _compile_parser(model)
    return model.from_element


def _lazy_parser(src: _Source, model: type[Model]) -> str:
    """A namespace name for the child model's parser, resolved on first call (models refer to each other)."""
    name = f"PC{len(src.ns)}"
    ns = src.ns

    def resolve(el: etree._Element, ctx: ParseContext) -> Any:
        ns[name] = parse = _parser_of(model)
        return parse(el, ctx)

    ns[name] = resolve
    return name


def _compile_parser(cls: type[Model]) -> Callable[[etree._Element, ParseContext], Any]:
    """The class's parse function, made once: the native engine's plan when it is there, else generated."""
    _check_fields(cls)
    parse = (native_parser(cls) if native_parser is not None else None) or generate_parser(cls)
    _PARSERS[cls] = parse
    return parse


def generate_parser(cls: type[Model]) -> Callable[[etree._Element, ParseContext], Any]:
    """The pure-Python parse function of a class, generated from its fields (the native engine's twin)."""
    src = _Source(cls)
    e = src.emit
    e(0, "def parse(el, ctx):")
    e(1, f"self = {src.const(cls.__new__, 'NEW')}(C)")
    e(1, "d = self.__dict__")
    # every field in one update of the empty dict first (CPython then copies the defaults' table whole),
    # fresh lists and other per-instance empties after it (replacing values, no insertion)
    defaults, lists, others = _INIT_PLANS.get(cls) or _init_plan(cls)  # what Model() fills in, too
    if defaults:
        e(1, f"d.update({src.const(defaults, 'DEFAULTS')})")
    for name in lists:
        e(1, f"self.{name} = []")
    for f in others:
        e(1, f"self.{f.name} = {src.const(f, 'F')}.empty()")
    # the class's own hooks are called as plain functions: ``self`` is exactly ``cls`` here, and a method
    # lookup on an instance whose __dict__ is materialized is not specialized by CPython 3.11
    if cls.parse_extra is not Model.parse_extra:
        e(1, f"consumed = {src.const(cls.parse_extra, 'HOOK')}(self, el, ctx)")
    else:
        src.consumed = src.const(_NOTHING)  # (a constant, passed to the rare unknown-name calls directly)
    _emit_parse_attrs(src, cls)
    text = cls._text
    if text is not None:
        e(1, "own = el.text")
        e(1, "if own and (own := own.strip()):")
        what = src.const(text.vtype)
        _emit_value(src, 2, text.vtype, f"self.{text.name}", "own",
                    f"BAD({what}, own, \"element '\" + LOCAL(el.tag) + \"'\", el)")
        src.ns.update(BAD=_bad_value, LOCAL=local_name)
    _emit_parse_children(src, cls)
    for f in cls._fields:
        if getattr(f, "required", False):
            e(1, f"v = d[{f.name!r}]")
            e(1, "if v is None or v == []:")
            e(2, f"MISSING({src.const(f)}, el)")
            src.ns["MISSING"] = _missing
    if cls.post_parse is not Model.post_parse:  # Model's no-op hooks are not called at all
        e(1, f"{src.const(cls.post_parse, 'HOOK')}(self, ctx)")
    e(1, "hooks = ctx.hooks")
    e(1, "if hooks:")
    e(2, "for hook in hooks:")
    e(3, "hook(self, ctx)")
    if cls.validate is not Model.validate:
        e(1, f"{src.const(cls.validate, 'HOOK')}(self, ctx)")
    e(1, "return self")
    parse: Callable[[etree._Element, ParseContext], Any] = src.build("parse", cls)
    return parse


def _emit_parse_attrs(src: _Source, cls: type[Model]) -> None:
    e = src.emit
    src.ns.update(BAD_ATTR=_bad_attr, UNKNOWN_ATTR=_unknown_attr)
    e(1, "for key, text in el.items():")
    if len(cls._attrs) <= _CHAIN_MAX:
        keyword = "if"
        for key, f in cls._attrs.items():
            e(2, f"{keyword} key == {key!r}:")
            _emit_value(src, 3, f.vtype, f"self.{f.name}", "text", f"BAD_ATTR({src.const(f.vtype)}, key, text, el)")
            keyword = "elif"
        if keyword == "elif":
            e(2, "else:")
            e(3, f"UNKNOWN_ATTR(ctx, key, el, {src.consumed})")
        else:
            e(2, f"UNKNOWN_ATTR(ctx, key, el, {src.consumed})")
        return
    table = {key: (f.name, None if _plain_string(f.vtype) else f.vtype.parse, f.vtype) for key, f in cls._attrs.items()}
    e(2, f"entry = {src.const(table, 'ATTRS')}.get(key)")
    e(2, "if entry is None:")
    e(3, f"UNKNOWN_ATTR(ctx, key, el, {src.consumed})")
    e(2, "else:")
    e(3, "name, parse, vtype = entry")
    e(3, "if parse is None:")
    e(4, "d[name] = text")
    e(3, "else:")
    e(4, "try:")
    e(5, "d[name] = parse(text)")
    e(4, "except PARSE_ERRORS:")
    e(5, "BAD_ATTR(vtype, key, text, el)")


def _emit_parse_children(src: _Source, cls: type[Model]) -> None:
    e = src.emit
    src.ns.update(UNKNOWN_CHILD=_unknown_child, BAD=_bad_value, STRING=String)
    index = cls._child_index()
    if not index:
        e(1, "if len(el):")
        e(2, "for child in el:")
        e(3, f"UNKNOWN_CHILD(ctx, child, el, {src.consumed})")
        return
    e(1, "for child in el:")
    e(2, "tag = child.tag")
    if len(index) > _CHAIN_MAX:
        # many kinds of children (<devices>, <domain>): model children through one dict, the rest chained
        models: dict[str, tuple[str, bool, str]] = {}
        for tag, f in index.items():
            if isinstance(f, Mixed):
                models[tag] = (f.name, True, _lazy_parser(src, f.by_tag[tag]))
            elif isinstance(f, Child) and not isinstance(f, (TextChild, Flag, Raw)):
                models[tag] = (f.name, isinstance(f, Children), _lazy_parser(src, f.model))
        if models:
            # (the parser names are looked up by name at call time: they replace themselves once resolved)
            e(2, f"found = {src.const({t: (n, many, p) for t, (n, many, p) in models.items()}, 'KIDS')}.get(tag)")
            e(2, "if found is not None:")
            e(3, "name, many, parser = found")
            e(3, "parse = NS[parser]")
            e(3, "if many:")
            e(4, "d[name].append(parse(child, ctx))")
            e(3, "else:")
            e(4, "d[name] = parse(child, ctx)")
            e(3, "continue")
            src.ns["NS"] = src.ns
        index = {t: f for t, f in index.items() if t not in models}
    keyword = "if"
    for tag, f in index.items():
        e(2, f"{keyword} tag == {tag!r}:")
        keyword = "elif"
        if isinstance(f, Mixed):
            e(3, f"self.{f.name}.append({_lazy_parser(src, f.by_tag[tag])}(child, ctx))")
        elif isinstance(f, TextChild):
            if f.vtype is String:
                e(3, f"self.{f.name} = child.text or ''")
            else:
                e(3, "inner = child.text")
                e(3, "if inner and (inner := inner.strip()):")
                _emit_value(src, 4, f.vtype, f"self.{f.name}", "inner",
                            f"BAD({src.const(f.vtype)}, inner, {f'element {tag!r}'!r}, child)")
                e(3, "else:")
                e(4, f"self.{f.name} = None")
        elif isinstance(f, Flag):
            e(3, f"self.{f.name} = True")
        elif isinstance(f, Raw):
            e(3, f"self.{f.name} = child")
        elif isinstance(f, Children):
            e(3, f"self.{f.name}.append({_lazy_parser(src, f.model)}(child, ctx))")
        elif isinstance(f, Child):
            e(3, f"self.{f.name} = {_lazy_parser(src, f.model)}(child, ctx)")
    if keyword == "elif":
        e(2, "else:")
        e(3, f"UNKNOWN_CHILD(ctx, child, el, {src.consumed})")
    else:
        e(2, f"UNKNOWN_CHILD(ctx, child, el, {src.consumed})")


class _WriteDispatch(dict[type, Callable[..., None]]):
    """Model class -> the function writing one of its instances: its own write if it has one, else the
    generated one (filled on first use: ``_WRITE_DISPATCH[cls]`` is one lookup on the hot path)."""

    def __missing__(self, cls: type[Model]) -> Callable[[Any, Writer, str | None], None]:
        own = cls.write
        fn = self[cls] = own if own is not Model.write else (_WRITERS.get(cls) or _compile_writer(cls))
        return fn


_WRITE_DISPATCH = _WriteDispatch()
#: Model class -> ``write(model, w, tag)`` for its instances (hand-written writes call children through it).
write_dispatch: dict[type, Callable[..., None]] = _WRITE_DISPATCH


def write_models(models: Iterable[Model], w: Writer, tag: str | None = None) -> None:
    """``model.write(w, tag)`` for each model, with the engine's per-class dispatch (hand-written writes use it)."""
    dispatch = _WRITE_DISPATCH
    for model in models:
        dispatch[model.__class__](model, w, tag)


#: The pure-Python write_models (where the C engine is used, ``write_models`` is its C twin).
python_write_models = write_models


def _compile_writer(cls: type[Model]) -> Callable[[Any, Writer, str | None], None]:
    """The class's write function, made once: the native engine's plan when it is there, else generated."""
    _check_fields(cls)
    write = (native_writer(cls) if native_writer is not None else None) or generate_writer(cls)
    _WRITERS[cls] = write
    return write


def generate_writer(cls: type[Model]) -> Callable[[Any, Writer, str | None], None]:
    """The pure-Python write function of a class, generated from its fields (the native engine's twin)."""
    src = _Source(cls)
    src.ns.update(ESC_A=escape_attr, ESC_T=escape_text, IND=_INDENT, WD=_WRITE_DISPATCH,
                  SPECIAL_A=_SPECIAL_ATTR, SPECIAL_T=_SPECIAL_TEXT)
    e = src.emit
    e(0, "def write(self, w, tag):")
    e(1, f"tag = tag or {cls.TAG!r}")
    e(1, "d = self.__dict__")
    e(1, "parts = w.parts")
    e(1, "depth = w.depth")
    e(1, "a = ''")
    # (strings built with f-strings: one allocation each, where chained + makes one per operand)
    # (absent fields are the common case: tested with one attribute read, the value fetched again if present)
    for key, attr in cls._attrs.items():
        e(1, f"if self.{attr.name} is not None:")
        e(2, f"v = self.{attr.name}")
        if type(attr.vtype).format is Bool.format:
            b = cast("Bool", attr.vtype)
            e(2, f"a += {f' {key}={chr(39)}{b.true}{chr(39)}'!r} if v else {f' {key}={chr(39)}{b.false}{chr(39)}'!r}")
        else:
            e(2, 'a += f"' + f" {key}='{{{_format_expr(src, attr.vtype)}}}'" + '"')
    # read from the instance: a storage pool sets its own (a dict test where the class declares none)
    e(1, "if self.NSMAP:" if cls.NSMAP else "if 'NSMAP' in d and self.NSMAP:")
    e(2, "a += ''.join([f\" xmlns:{p}='{ESC_A(uri)}'\" for p, uri in self.NSMAP.items()])")
    text = cls._text
    if (all(isinstance(f, Attr | Text) for f in cls._fields) and cls.format_extra is Model.format_extra
            and not cls.NEVER_SELF_CLOSE):
        # no children possible (most elements): the whole line at once
        if text is not None:
            e(1, f"v = self.{text.name}")
            e(1, "if v is not None:")
            e(2, f'parts.append(f"{{IND[depth]}}<{{tag}}{{a}}>{{ESC_T({src.const(text.vtype.format, "FMT")}(v))}}'
                 '</{tag}>\\n")')
            e(2, "return")
        e(1, 'parts.append(f"{IND[depth]}<{tag}{a}/>\\n")')
        return _built_writer(src, cls)
    e(1, 'parts.append(f"{IND[depth]}<{tag}{a}")')
    e(1, "w.depth = depth + 1")
    e(1, "mark = len(parts)")
    e(1, "inner = IND[depth + 1]")
    for f in cls._fields:
        if isinstance(f, Attr | Text):
            continue
        if isinstance(f, Children | Mixed):
            ftag = f._tag if isinstance(f, Children) else None
            e(1, f"if self.{f.name}:")
            e(2, f"for item in self.{f.name}:")
            e(3, "WD[item.__class__](item, w, " + repr(ftag) + ")")
            continue
        e(1, f"if self.{f.name} is not None:")
        e(2, f"v = self.{f.name}")
        e(2, "if v is not False:")
        if isinstance(f, TextChild):
            fmt = _formatter(f.vtype)
            if fmt is str:
                value = "(v if v.__class__ is str and not SPECIAL_T(v) else ESC_T(str(v)))"
            else:
                value = f"ESC_T({src.const(fmt, 'FMT')}(v))"
            e(3, 'parts.append(f"{inner}' + f"<{f.tag}>{{{value}}}</{f.tag}>" + '\\n")')
        elif isinstance(f, Flag):
            e(3, f"parts.append(inner + {f'<{f.tag}/>{chr(10)}'!r})")
        elif isinstance(f, Raw):
            e(3, "w.raw(v)")
        elif isinstance(f, Child):
            e(3, "WD[v.__class__](v, w, " + repr(f._tag) + ")")
    if cls.format_extra is not Model.format_extra:
        e(1, f"{src.const(cls.format_extra, 'HOOK')}(self, w)")
    e(1, "w.depth = depth")
    e(1, "if len(parts) == mark:")
    if text is not None:
        e(2, f"v = self.{text.name}")
        e(2, "if v is not None:")
        e(3, f'parts[-1] += f">{{ESC_T({src.const(text.vtype.format, "FMT")}(v))}}</{{tag}}>\\n"')
        e(3, "return")
    if cls.NEVER_SELF_CLOSE:
        e(2, 'parts[-1] += f">\\n{IND[depth]}</{tag}>\\n"')
    else:
        e(2, "parts[-1] += '/>\\n'")
    e(1, "else:")
    e(2, "parts[mark - 1] += '>\\n'")
    e(2, 'parts.append(f"{IND[depth]}</{tag}>\\n")')
    return _built_writer(src, cls)


def _built_writer(src: _Source, cls: type[Model]) -> Callable[[Any, Writer, str | None], None]:
    write: Callable[[Any, Writer, str | None], None] = src.build("write", cls)
    return write


def _formatter(vtype: ValueType[Any]) -> Callable[[Any], str]:
    """``vtype.format``, or plain ``str`` when the type does not override it (saves a Python call a value)."""
    return str if type(vtype).format is ValueType.format else vtype.format


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, etree._Element) and isinstance(b, etree._Element):
        return _canonical(a) == _canonical(b)
    return bool(a == b)


def _canonical(el: etree._Element) -> bytes:
    """Bytes of an element with whitespace-only text dropped: equal for differently indented copies."""
    copy = etree.fromstring(etree.tostring(el))
    copy.tail = None
    for node in copy.iter():
        if node.text is not None and not node.text.strip():
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
    return bytes(etree.tostring(copy, method="c14n"))


def _describe(f: Field) -> str:
    if isinstance(f, Attr):
        return f"attribute '{f.xml}'"
    if isinstance(f, Text):
        return "text"
    return f"element '{getattr(f, 'tag', f.name)}'"


def _convert(vtype: ValueType[Any], text: str, what: str, el: etree._Element) -> Any:
    try:
        return vtype.parse(text)
    except (ValueError, OverflowError):
        expected = ""
        if isinstance(vtype, Enum):
            expected = ", expected one of: " + ", ".join(vtype.ordered)
        raise XMLError(f"invalid value '{text}' for {what}{where(el)}{expected}") from None


# ----------------------------------------------------------------------------- reading and writing

# (collect_ids=False: no xml:id table, nothing here looks elements up by id)
_parser = etree.XMLParser(remove_blank_text=False, resolve_entities=False, no_network=True,
                          huge_tree=False, remove_comments=False, collect_ids=False)


class FieldDropper:
    """Unsets the fields a model does not read in its type (libvirt reads nothing else): ``drop(d)`` on the
    instance dict sets each of ``names`` that has a value back to None, or to a fresh [] for ``lists``.

    One C-level read of all the names finds the common case, where none has a value, without a Python
    loop over them (post-parse of every source and graphics device passes here).
    """

    def __init__(self, names: Iterable[str], lists: Iterable[str] = ()) -> None:
        self.names = tuple(names)
        self.lists = frozenset(lists) & frozenset(self.names)
        # (itemgetter of one name returns the value itself, not a 1-tuple)
        getter = itemgetter(*self.names) if len(self.names) > 1 else None
        self._get: Callable[[dict[str, Any]], tuple[Any, ...]] = (
            getter if getter is not None else lambda d: tuple(d[n] for n in self.names))

    def drop(self, d: dict[str, Any]) -> None:
        values = self._get(d)
        unset = values.count(None) + (values.count([]) if self.lists else 0)
        if unset == len(self.names):
            return
        for name in self.names:
            if name in self.lists:
                if d[name] != []:
                    d[name] = []
            elif d[name] is not None:
                d[name] = None


def without(el: etree._Element, select: Callable[[etree._Element], Iterable[etree._Element]]) -> etree._Element:
    """``el`` itself when ``select(el)`` finds nothing, else a copy without the elements it finds in the copy.

    For parts of a document libvirt never reads (or reads once): dropped before the parse, so nothing in
    them can fail it, while the caller's tree stays as it was.
    """
    if not any(True for _ in select(el)):
        return el
    el = copy.deepcopy(el)
    for child in list(select(el)):
        parent = child.getparent()
        if parent is not None:
            parent.remove(child)
    return el


def unset_empty_attrs(el: etree._Element, pairs: frozenset[tuple[str, str]]) -> etree._Element:
    """``el``, or a copy of it without the (element, attribute) pairs in ``pairs`` whose value is ''.

    libvirt reads many attributes as an XPath string, where an empty value is no value at all; the
    formats list theirs (found by comparing libvirt's answers for '' and for a missing attribute).
    """

    def hits(root: etree._Element) -> list[tuple[etree._Element, str]]:
        return [(e, str(a)) for e in root.iter() if isinstance(e.tag, str)
                for a, v in e.attrib.items() if v == "" and (e.tag, a) in pairs]

    if not hits(el):
        return el
    el = copy.deepcopy(el)
    for e, a in hits(el):
        del e.attrib[a]
    return el


def keep_first_children(el: etree._Element, pairs: frozenset[tuple[str, str]]) -> etree._Element:
    """``el``, or a copy of it where each (parent, child) pair in ``pairs`` keeps its first child only.

    libvirt reads those single children with an XPath on the first match: a repeated one is ignored
    (found by comparing libvirt's answers for a document with a doubled child and for each half).
    """

    def extra(root: etree._Element) -> list[etree._Element]:
        out: list[etree._Element] = []
        for parent in root.iter():
            seen: set[str] = set()
            for child in parent:
                if isinstance(child.tag, str) and (parent.tag, child.tag) in pairs:
                    if child.tag in seen:
                        out.append(child)
                    seen.add(child.tag)
        return out

    return without(el, extra)


def drop_empty_text(el: etree._Element, pairs: frozenset[tuple[str, str]]) -> etree._Element:
    """``el``, or a copy without the (parent, child) leaf elements of ``pairs`` whose text is empty.

    libvirt reads those texts as XPath strings, where '' is no value at all.
    """

    def empty(root: etree._Element) -> list[etree._Element]:
        return [c for p in root.iter() for c in p
                if isinstance(c.tag, str) and (p.tag, c.tag) in pairs and not c.text and len(c) == 0]

    return without(el, empty)


def merge_repeated(el: etree._Element, tags: tuple[str, ...]) -> etree._Element:
    """``el``, or a copy where each repeated child in ``tags`` is merged into its first occurrence.

    libvirt reads their parts as ./target/path, ./target/permissions...: the first of each across all
    of them, which is what the merged element read with the first-only rule gives.
    """
    if all(len(el.findall(t)) < 2 for t in tags):
        return el
    el = copy.deepcopy(el)
    for t in tags:
        found = el.findall(t)
        for extra in found[1:]:
            found[0].extend(list(extra))
            el.remove(extra)
    return el


def parse_xml(xml: str | bytes | etree._Element) -> etree._Element:
    """Parse a document; malformed XML is an XMLError naming the line, never an lxml exception."""
    if isinstance(xml, etree._Element):
        return xml
    data = xml.encode() if isinstance(xml, str) else xml
    try:
        root = etree.fromstring(data, _parser)
    except etree.XMLSyntaxError as exc:
        line = f" at line {exc.lineno}" if getattr(exc, "lineno", None) else ""
        raise XMLError(f"malformed XML document{line}: {exc.msg}", code=35) from None
    if root is None:
        raise XMLError("empty XML document")
    return root


#: Whether a value needs escaping, as an attribute value or as text (what escape_attr/escape_text replace).
_SPECIAL_ATTR = re.compile("[&<>\"']").search
_SPECIAL_TEXT = re.compile("[&<>]").search


def escape_attr(s: str) -> str:
    if "&" not in s and "<" not in s and ">" not in s and '"' not in s and "'" not in s:
        return s
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&apos;"))


def escape_text(s: str) -> str:
    if "&" not in s and "<" not in s and ">" not in s:
        return s
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Writer:
    """Builds libvirt-style XML text: one element a line, two spaces an indent level.

    ``inactive`` and ``secure`` are what a domain's format was asked for (live-only data and
    passwords left out); formats read them with ``getattr(w, name, default)``.
    """

    inactive = False
    secure = True

    def __init__(self, indent: int = 0) -> None:
        self.parts: list[str] = []
        self.depth = indent

    def _open(self, tag: str, attrs: Iterable[tuple[str, str]]) -> str:
        a = "".join([f" {k}='{escape_attr(v)}'" for k, v in attrs])
        return f"{'  ' * self.depth}<{tag}{a}"

    def start(self, tag: str, attrs: Iterable[tuple[str, str]]) -> None:
        self.parts.append(self._open(tag, attrs))
        self.depth += 1

    def mark(self) -> int:
        return len(self.parts)

    def end(self, tag: str, text: str | None, mark: int) -> None:
        """Close an element started with ``start``: empty (``/>``), text-only, or with children."""
        self.depth -= 1
        if len(self.parts) == mark:
            self.parts[-1] += f">{escape_text(text)}</{tag}>\n" if text is not None else "/>\n"
        else:
            self.parts[mark - 1] += ">\n"
            self.parts.append(f"{'  ' * self.depth}</{tag}>\n")

    def leaf(self, tag: str, attrs: Iterable[tuple[str, str]], text: str | None) -> None:
        """An element without children: ``start`` + ``end`` in one step (drivers' formats call it a lot)."""
        a = "".join([f" {k}='{escape_attr(v)}'" for k, v in attrs]) if attrs else ""
        if text is None:
            self.parts.append(f"{'  ' * self.depth}<{tag}{a}/>\n")
        else:
            self.parts.append(f"{'  ' * self.depth}<{tag}{a}>{escape_text(text)}</{tag}>\n")

    def raw(self, el: etree._Element) -> None:
        """An lxml element re-indented to our depth, namespaces kept."""
        copy = etree.fromstring(etree.tostring(el))
        copy.tail = None
        etree.indent(copy, space="  ", level=self.depth)
        text = etree.tostring(copy, encoding="unicode").rstrip("\n")
        self.parts.append("  " * self.depth + text + "\n")

    def getvalue(self) -> str:
        return "".join(self.parts)


def iter_models(model: Model) -> Iterator[Model]:
    """Every model in a tree, depth first (drivers walk devices this way)."""
    yield model
    for f in model._fields:
        value = getattr(model, f.name)
        if isinstance(value, Model):
            yield from iter_models(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, Model):
                    yield from iter_models(item)


# ----------------------------------------------------------------------------- native engine

#: ``native_parser(cls)`` / ``native_writer(cls)``: the C engine's parse or write function for a class, or
#: None where it does not apply; both are None without the C extensions or with VIRT_NO_NATIVE=1.
native_parser: Callable[[type[Model]], Any] | None = None
native_writer: Callable[[type[Model]], Any] | None = None
if os.environ.get("VIRT_NO_NATIVE") != "1":
    # (imported last: the plan builders need the engine above)
    from virt.conf import _writeplan
    from virt.conf._parseplan import native_parser

    native_writer = _writeplan.native_writer
    # (hand-written writes, the domain's devices above all, write their lists of models through it)
    write_models = _writeplan.write_models
