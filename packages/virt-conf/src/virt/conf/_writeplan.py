"""The C engine's write plans (virt.conf._cwrite): what a model class's generated write function does, as data."""

from __future__ import annotations

from typing import Any, cast

from virt.conf import xmlmodel as _m

try:
    from virt.conf import _cwrite  # type: ignore[attr-defined]
except ImportError:  # (built without a compiler, or with VIRT_NO_NATIVE=1)
    _cwrite = None

# Op kinds, as csrc/cwrite.c numbers them. An op is (kind, field name, s1, s2, formatter, memo, index): index is
# the field's place among the class's fields, where an instance's dict has it (filled in that order).
#: Attributes: plain text escaped; an int's digits (else escaped text); a two-word boolean (s1/s2 are the
#: whole " key='word'" pieces); an int through the type's remembered formats; any other formatter.
A_STR, A_INT, A_BOOL, A_MEMO, A_FMT = range(5)
#: Children: a list written through the dispatch (s1 = the tag or None); a text child plain or through a
#: formatter (s1 = "<tag>", s2 = "</tag>\n"); a flag (s1 = "<tag/>\n"); a raw lxml element; one child.
C_LIST, C_TEXT_STR, C_TEXT_FMT, C_FLAG, C_RAW, C_CHILD = range(6)

Op = tuple[int, str, Any, Any, Any, Any, int]


def _ns_attrs(nsmap: dict[str, str]) -> str:
    """The namespace declarations of an element, as the generated writer builds them."""
    return "".join([f" xmlns:{p}='{_m.escape_attr(uri)}'" for p, uri in nsmap.items()])


def _str_format(vtype: _m.ValueType[Any]) -> bool:
    """The type formats as ``str(value)``: ValueType.format, not overridden by the class or the instance."""
    return type(vtype).format is _m.ValueType.format and "format" not in getattr(vtype, "__dict__", {})


def _attr_op(key: str, attr: _m.Attr) -> tuple[int, str, Any, Any, Any, Any] | None:
    vtype = attr.vtype
    if type(vtype).format is _m.Bool.format:
        b = cast("_m.Bool", vtype)
        return (A_BOOL, attr.name, f" {key}='{b.true}'", f" {key}='{b.false}'", None, None)
    prefix = f" {key}='"
    fmt = _m._formatter(vtype)
    if fmt is str:
        return (A_INT if isinstance(vtype, _m.Int | _m.Hex) else A_STR, attr.name, prefix, None, None, None)
    if isinstance(vtype, _m.Int | _m.Hex) and vtype.pure:
        return (A_MEMO, attr.name, prefix, None, fmt, _m.Memo(fmt))
    return (A_FMT, attr.name, prefix, None, fmt, None)


def _child_op(f: _m.Field) -> tuple[int, str, Any, Any, Any, Any] | None:
    if isinstance(f, _m.Children | _m.Mixed):
        return (C_LIST, f.name, f._tag if isinstance(f, _m.Children) else None, None, None, None)
    if isinstance(f, _m.TextChild):
        fmt = _m._formatter(f.vtype)
        if fmt is str:
            return (C_TEXT_STR, f.name, f"<{f.tag}>", f"</{f.tag}>\n", None, None)
        return (C_TEXT_FMT, f.name, f"<{f.tag}>", f"</{f.tag}>\n", fmt, None)
    if isinstance(f, _m.Flag):
        return (C_FLAG, f.name, f"<{f.tag}/>\n", None, None, None)
    if isinstance(f, _m.Raw):
        return (C_RAW, f.name, None, None, None, None)
    if isinstance(f, _m.Child):
        return (C_CHILD, f.name, f._tag, None, None, None)
    return None


def native_writer(cls: type) -> Any:
    """The native write function of a model class, or None (no extension: the generated one is used)."""
    if _cwrite is None or not isinstance(cls, type) or not issubclass(cls, _m.Model):
        return None
    # the plan reads fields from the instance dict: a class with its own attribute lookup keeps the twin
    if cls.__getattribute__ is not object.__getattribute__ or hasattr(cls, "__getattr__"):
        return None
    if not isinstance(cls.TAG, str):
        return None
    index = {f.name: i for i, f in enumerate(cls._fields)}
    attrs: list[Op] = []
    for key, attr in cls._attrs.items():
        op = _attr_op(key, attr)
        if op is None:
            return None
        attrs.append((*op, index[attr.name]))
    leaf = (all(isinstance(f, _m.Attr | _m.Text) for f in cls._fields)
            and cls.format_extra is _m.Model.format_extra and not cls.NEVER_SELF_CLOSE)
    children: list[Op] = []
    if not leaf:
        for f in cls._fields:
            if isinstance(f, _m.Attr | _m.Text):
                continue
            op = _child_op(f)
            if op is None:
                return None
            children.append((*op, index[f.name]))
    text = cls._text
    text_fmt = None
    if text is not None and not _str_format(text.vtype):
        text_fmt = text.vtype.format
    hook = cls.format_extra if cls.format_extra is not _m.Model.format_extra else None
    return _cwrite.make(cls.TAG, f"{cls.__module__}.{cls.__qualname__}", tuple(attrs), not cls.NSMAP, _ns_attrs,
                        leaf, text.name if text is not None else None, index[text.name] if text is not None else 0,
                        text_fmt, tuple(children), hook,
                        bool(cls.NEVER_SELF_CLOSE), _m._WRITE_DISPATCH, _m.escape_attr, _m.escape_text)


#: ``xmlmodel.write_models`` run in C (the same dispatch, the same calls), or the Python one without the extension.
write_models: Any = _cwrite.models_writer(_m._WRITE_DISPATCH) if _cwrite is not None else _m.write_models
