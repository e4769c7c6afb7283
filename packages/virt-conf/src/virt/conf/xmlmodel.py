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
``validate`` hooks of the class, which the engine calls after the fields are read.
"""

from __future__ import annotations

import inspect
import re
import uuid as _uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
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

    def parse(self, text: str) -> str:
        hexdigits = re.sub(r"[\s-]", "", text)
        if len(hexdigits) != 32 or not re.fullmatch(r"[0-9a-fA-F]{32}", hexdigits):
            raise ValueError(text)
        return str(_uuid.UUID(hexdigits))


UUID = UUIDType()


class MACType(ValueType[str]):
    name = "MAC address"
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
        for name, value in cls.__dict__.items():
            if isinstance(value, Field):
                fields.pop(name, None)
                fields[name] = value
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
        for f in self._fields:
            setattr(self, f.name, f.empty())
        for key, value in values.items():
            if not any(f.name == key for f in self._fields):
                raise TypeError(f"{type(self).__name__} has no field {key!r}")
            setattr(self, key, value)

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in self._fields
                          if getattr(self, f.name) not in (None, [], False))
        return f"{type(self).__name__}({shown})"

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
    def _plan(cls) -> _Plan:
        """What from_element and write need of this class's fields, computed once per class."""
        plan = _PLANS.get(cls)
        if plan is None:
            plan = _PLANS[cls] = _Plan(cls)
        return plan

    @classmethod
    def from_element(cls: type[M], el: etree._Element, ctx: ParseContext | None = None) -> M:
        # The hot path of every parse: field values go straight into the instance dict (no field is
        # a data descriptor, _Plan checks), and the per-class decisions are all precomputed in _Plan.
        if ctx is None:
            ctx = ParseContext()
        plan = _PLANS.get(cls) or cls._plan()
        self = cls.__new__(cls)
        d = self.__dict__
        d.update(plan.defaults)
        for name in plan.lists:
            d[name] = []
        for f in plan.custom_empty:
            d[f.name] = f.empty()
        consumed = self.parse_extra(el, ctx) if plan.has_parse_extra else _NOTHING
        attrs = plan.attr_parsers
        # lxml gives str keys and values for documents parsed from text (its stubs allow bytes too).
        for key, text in cast("list[tuple[str, str]]", el.items()):
            entry = attrs.get(key)
            if entry is None:
                if "@" + key not in consumed:
                    ctx.note_unknown(f"attribute '{key}' in element '{local_name(el.tag)}'", el)
                continue
            name, parse = entry
            try:
                d[name] = parse(text)
            except (ValueError, OverflowError):
                _convert(cls._attrs[key].vtype, text, f"attribute '{key}' of element '{local_name(el.tag)}'", el)
                raise
        if plan.text is not None:
            own = el.text
            if own and (own := own.strip()):
                d[plan.text.name] = _convert(plan.text.vtype, own, f"element '{local_name(el.tag)}'", el)
        if plan.has_children:
            index = plan.children
            for child in el:
                tag = child.tag
                found = index.get(tag)
                if found is None:
                    if isinstance(tag, str) and tag not in consumed:  # not comments, processing instructions
                        ctx.note_unknown(f"element '{local_name(tag)}' in '{local_name(el.tag)}'", child)
                    continue
                code, name, payload = found
                if code == _CHILD:
                    d[name] = payload.from_element(child, ctx)
                elif code in (_CHILDREN, _MIXED):
                    d[name].append(payload.from_element(child, ctx))
                elif code == _TEXT_CHILD:
                    if payload is String:
                        d[name] = child.text or ""
                    else:
                        inner = child.text
                        inner = inner.strip() if inner else ""
                        d[name] = _convert(payload, inner, f"element '{tag}'", child) if inner else None
                elif code == _FLAG:
                    d[name] = True
                else:  # _RAW
                    d[name] = child
        elif len(el):
            for child in el:
                tag = child.tag
                if isinstance(tag, str) and tag not in consumed:
                    ctx.note_unknown(f"element '{local_name(tag)}' in '{local_name(el.tag)}'", child)
        for f in plan.required:
            value = d[f.name]
            if value is None or value == []:
                raise XMLError(f"missing {_describe(f)} in element '{local_name(el.tag)}'{where(el)}")
        if plan.has_post_parse:
            self.post_parse(ctx)
        if ctx.hooks:
            for hook in ctx.hooks:
                hook(self, ctx)
        if plan.has_validate:
            self.validate(ctx)
        return self

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
        # The hot path of every format: Writer.start/leaf/end inlined, values read from the instance dict.
        tag = tag or self.TAG
        plan = _PLANS.get(type(self)) or self._plan()
        d = self.__dict__
        attrs = "".join([f" {xml}='{escape_attr(fmt(v))}'" for name, xml, fmt in plan.attr_formats
                         if (v := d[name]) is not None])
        if self.NSMAP:
            attrs += "".join(f" xmlns:{p}='{escape_attr(uri)}'" for p, uri in self.NSMAP.items())
        text = None
        if plan.text is not None and (v := d[plan.text.name]) is not None:
            text = plan.text.vtype.format(v)
        parts = w.parts
        depth = w.depth
        parts.append(f"{'  ' * depth}<{tag}{attrs}")
        w.depth = depth + 1
        mark = len(parts)
        inner = "  " * (depth + 1)
        for code, name, ftag, payload in plan.writes:
            value = d[name]
            if value is None or value is False:
                continue
            if code == _CHILD:
                value.write(w, ftag)
            elif code == _CHILDREN:
                for item in value:
                    item.write(w, ftag)
            elif code == _TEXT_CHILD:
                parts.append(f"{inner}<{ftag}>{escape_text(payload(value))}</{ftag}>\n")
            elif code == _FLAG:
                parts.append(f"{inner}<{ftag}/>\n")
            elif code == _RAW:
                w.raw(value)
            else:  # Mixed
                for item in value:
                    item.write(w)
        if plan.has_format_extra:
            self.format_extra(w)
        w.depth = depth
        if len(parts) == mark:
            if text is not None:
                parts[-1] += f">{escape_text(text)}</{tag}>\n"
            elif self.NEVER_SELF_CLOSE:
                parts[-1] += f">\n{'  ' * depth}</{tag}>\n"
            else:
                parts[-1] += "/>\n"
        else:
            parts[mark - 1] += ">\n"
            parts.append(f"{'  ' * depth}</{tag}>\n")

    def copy(self: M) -> M:
        return type(self).from_element(parse_xml(self.format()), ParseContext())


_TEXT_CHILD, _FLAG, _RAW, _CHILDREN, _CHILD, _MIXED = range(6)
_NOTHING: frozenset[str] = frozenset()
#: Model class -> its _Plan, built on first use (a dict lookup is cheaper than cls.__dict__ on the hot path).
_PLANS: dict[type[Model], _Plan] = {}


def _value_parser(vtype: ValueType[Any]) -> Callable[[str], Any]:
    """``vtype.parse``, or plain ``str`` for a String that accepts any text as is (most attributes)."""
    if type(vtype) is _String and not vtype.strip and vtype.pattern is None and vtype.empty_ok:
        return str
    return vtype.parse


def _formatter(vtype: ValueType[Any]) -> Callable[[Any], str]:
    """``vtype.format``, or plain ``str`` when the type does not override it (saves a Python call a value)."""
    return str if type(vtype).format is ValueType.format else vtype.format


class _Plan:
    """A model class's fields sorted for the engine: defaults, required fields, child dispatch, output."""

    __slots__ = ("attr_formats", "attr_parsers", "children", "custom_empty", "defaults", "has_children",
                 "has_format_extra", "has_parse_extra", "has_post_parse", "has_validate", "lists", "required",
                 "text", "writes")

    def __init__(self, cls: type[Model]) -> None:
        for f in cls._fields:
            # the engine stores values in the instance dict: a property or slot of a field's name would be bypassed
            if hasattr(inspect.getattr_static(cls, f.name, None), "__set__"):
                raise TypeError(f"{cls.__name__}.{f.name} hides the field of that name")
        self.attr_parsers = {key: (f.name, _value_parser(f.vtype)) for key, f in cls._attrs.items()}
        self.attr_formats = [(f.name, f.xml, _formatter(f.vtype)) for f in cls._attrs.values()]
        self.text = cls._text
        # hooks left as Model's no-ops are not called at all
        self.has_parse_extra = cls.parse_extra is not Model.parse_extra
        self.has_post_parse = cls.post_parse is not Model.post_parse
        self.has_validate = cls.validate is not Model.validate
        self.has_format_extra = cls.format_extra is not Model.format_extra
        self.defaults: dict[str, Any] = {}
        self.lists: list[str] = []
        self.custom_empty: list[Field] = []
        for f in cls._fields:
            empty = type(f).empty
            if empty is Field.empty:
                self.defaults[f.name] = f.default
            elif empty is Children.empty or empty is Mixed.empty:
                self.lists.append(f.name)
            else:
                self.custom_empty.append(f)
        self.required = tuple(f for f in cls._fields if getattr(f, "required", False))
        self.children: dict[str, tuple[int, str, Any]] = {}
        self.writes: list[tuple[int, str, Any, Any]] = []
        for tag, f in cls._child_index().items():
            if isinstance(f, Mixed):
                self.children[tag] = (_MIXED, f.name, f.by_tag[tag])
            elif isinstance(f, TextChild):
                self.children[tag] = (_TEXT_CHILD, f.name, f.vtype)
            elif isinstance(f, Flag):
                self.children[tag] = (_FLAG, f.name, None)
            elif isinstance(f, Raw):
                self.children[tag] = (_RAW, f.name, None)
            elif isinstance(f, Children):
                self.children[tag] = (_CHILDREN, f.name, f.model)
            elif isinstance(f, Child):
                self.children[tag] = (_CHILD, f.name, f.model)
        for f in cls._fields:
            if isinstance(f, TextChild):
                self.writes.append((_TEXT_CHILD, f.name, f.tag, _formatter(f.vtype)))
            elif isinstance(f, Flag):
                self.writes.append((_FLAG, f.name, f.tag, None))
            elif isinstance(f, Raw):
                self.writes.append((_RAW, f.name, f.tag, None))
            elif isinstance(f, Children):
                self.writes.append((_CHILDREN, f.name, f._tag, None))
            elif isinstance(f, Child):
                self.writes.append((_CHILD, f.name, f._tag, None))
            elif isinstance(f, Mixed):
                self.writes.append((_MIXED, f.name, None, None))
        self.has_children = bool(self.children)


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

_parser = etree.XMLParser(remove_blank_text=False, resolve_entities=False, no_network=True,
                          huge_tree=False, remove_comments=False)


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
    """Builds libvirt-style XML text: one element a line, two spaces an indent level."""

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
        a = "".join([f" {k}='{escape_attr(v)}'" for k, v in attrs])
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
