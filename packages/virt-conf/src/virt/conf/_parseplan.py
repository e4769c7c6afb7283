"""The C engine's parse plans (virt.conf._cparse): what a model class's generated parse function does, as data.

A plan is a C callable ``plan(el, ctx)`` that does exactly what ``xmlmodel.generate_parser`` writes in
Python for the same class, in the same order: a new instance filled with the defaults, ``parse_extra``,
the attributes in document order, the element's own text, the children in document order, the required
fields, ``post_parse``, the context's hooks, ``validate``. It reads names and values straight from the
libxml2 nodes under the lxml element and makes lxml elements only where Python code needs one (a
hook's or an error's ``el``, a custom ``from_element``, a ``Raw`` field). Children whose class has a plan
are read by the plan directly. Every error goes through the same Python helpers as the generated code,
so messages are identical.
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from virt.conf import xmlmodel as xm

try:
    from virt.conf import _cparse  # type: ignore[attr-defined]
except ImportError:  # (not built: no compiler or VIRT_NO_NATIVE=1 at install)
    _cparse = None

# How a value is read (the cases of xmlmodel._emit_value, in its order).
STR, ENUM, BOOL, MEMO, CALL = range(5)
# What a child element is (the cases of xmlmodel._emit_parse_children).
MODEL, LIST, TEXT_STR, TEXT_CONV, FLAG, RAW = range(6)


def _value(vtype: xm.ValueType[Any]) -> tuple[int, Any, Any]:
    """(kind, data, vtype) of a value type: what the C engine does with a text."""
    if xm._plain_string(vtype):
        return STR, None, vtype
    if type(vtype) is xm.Enum:
        return ENUM, vtype, vtype  # (its ``values`` are read at each use: Enum.extend replaces them)
    if type(vtype).parse is xm.Bool.parse:
        return BOOL, (vtype.true, vtype.false), vtype  # type: ignore[attr-defined]
    if vtype.pure:
        return MEMO, xm._memo(vtype), vtype
    return CALL, vtype.parse, vtype


def _bad_text(vtype: xm.ValueType[Any], text: str, el: etree._Element) -> None:
    """The error for an element's own text that its value type rejects (as the generated code raises it)."""
    xm._bad_value(vtype, text, f"element '{xm.local_name(el.tag)}'", el)


def _child_entry(tag: str, f: xm.Field) -> list[Any]:
    if isinstance(f, xm.Mixed):
        return [LIST, f.name, f.by_tag[tag]]
    if isinstance(f, xm.TextChild):
        if f.vtype is xm.String:
            return [TEXT_STR, f.name, None]
        return [TEXT_CONV, f.name, None, *_value(f.vtype), f"element {tag!r}"]
    if isinstance(f, xm.Flag):
        return [FLAG, f.name, None]
    if isinstance(f, xm.Raw):
        return [RAW, f.name, None]
    if isinstance(f, xm.Children):
        return [LIST, f.name, f.model]
    assert isinstance(f, xm.Child)
    return [MODEL, f.name, f.model]


def native_parser(cls: type[xm.Model]) -> Any:
    """The native parse function of a model class, or None (no extension: the generated one is used)."""
    if _cparse is None:
        return None
    defaults, lists, others = xm._INIT_PLANS.get(cls) or xm._init_plan(cls)
    model = xm.Model

    def hook(name: str) -> Any:
        own = getattr(cls, name)
        return own if own is not getattr(model, name) else None

    spec = (
        cls,
        defaults or None,
        tuple(lists),
        tuple((f.name, f) for f in others),
        hook("parse_extra"),
        xm._NOTHING,
        {key: (f.name, *_value(f.vtype)) for key, f in cls._attrs.items()},
        (cls._text.name, *_value(cls._text.vtype)) if cls._text is not None else None,
        {tag: _child_entry(tag, f) for tag, f in cls._child_index().items()},
        tuple((f.name, f) for f in cls._fields if getattr(f, "required", False)),
        hook("post_parse"),
        hook("validate"),
    )
    return _cparse.Plan(spec)


def _resolve(model: type[xm.Model]) -> Any:
    """What parses a child element of this model (the generated code's ``_parser_of``); a class that picks
    its subclass by an attribute (``PARSE_BY_ATTR``: the attribute and the table its from_element fills)
    gets a native choice, which goes to from_element itself for what the table does not have yet."""
    choice = model.__dict__.get("PARSE_BY_ATTR")
    if choice is not None:
        return _cparse.Choice(choice[0], choice[1], model.from_element)
    return xm._parser_of(model)


if _cparse is not None:
    _cparse.configure(xm._bad_attr, xm._unknown_attr, _bad_text, xm._bad_value, xm._unknown_child, xm._missing,
                      _resolve, etree._Element, etree)
