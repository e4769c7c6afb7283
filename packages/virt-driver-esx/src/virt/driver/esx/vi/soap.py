"""The vSphere API's SOAP encoding: requests written from Python values, responses read back without a schema.

Requests are ``<soapenv:Envelope>`` bodies holding one method element in the ``urn:vim25``
namespace whose first child is ``_this`` (the managed object called). Values map as:

- ``MOR(type, value)``  <->  ``<name type="Type">value</name>`` (a ManagedObjectReference)
- ``DataObject(_type, ...)``  <->  nested elements, with ``xsi:type`` when the type is written out
- lists  <->  the element repeated; str, int, bool  <->  text (booleans as true/false)

Responses carry ``xsi:type`` on polymorphic values (property values, array items), which is
enough to read them without the WSDL; what a property is made of is known to the caller, who
asks for a list (``as_list``) where the API says there may be several.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
VIM = "urn:vim25"

_ENVELOPE_OPEN = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    f'<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="{SOAPENV}" '
    f'xmlns:xsd="{XSD}" xmlns:xsi="{XSI}"><soapenv:Body>'
)
_ENVELOPE_CLOSE = "</soapenv:Body></soapenv:Envelope>"


@dataclass(frozen=True)
class MOR:
    """A ManagedObjectReference: which server-side object (``VirtualMachine`` ``vm-42``)."""

    type: str
    value: str


class DataObject(dict[str, Any]):
    """A vSphere data object: its properties by name, its type in ``type_`` (xsi:type)."""

    def __init__(self, type_: str | None = None, /, **props: Any) -> None:
        super().__init__(props)
        self.type_ = type_

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def path(self, dotted: str, default: Any = None) -> Any:
        """The value at ``a.b.c`` (a property path as the PropertyCollector names them)."""
        value: Any = self
        for part in dotted.split("."):
            if not isinstance(value, dict) or part not in value:
                return default
            value = value[part]
        return value


class Fault(Exception):
    """A SOAP fault: ``faultstring`` and the vSphere fault type of the detail (``InvalidLogin``)."""

    def __init__(self, message: str, fault_type: str | None, detail: DataObject | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fault_type = fault_type
        self.detail = detail or DataObject(fault_type)


def as_list(value: Any) -> list[Any]:
    """A property that may hold several values, as a list (one value read back is not a list)."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# ---------------------------------------------------------------------------------------------- writing

def request(method: str, this: MOR, args: Iterable[tuple[str, Any]] = ()) -> bytes:
    """The envelope calling ``method`` on ``this`` with ``args`` in the WSDL's parameter order."""
    parts = [_ENVELOPE_OPEN, f'<{method} xmlns="{VIM}">', _element("_this", this)]
    for name, value in args:
        if value is not None:
            parts.append(_element(name, value))
    parts += [f"</{method}>", _ENVELOPE_CLOSE]
    return "".join(parts).encode("utf-8")


def _element(name: str, value: Any) -> str:
    if isinstance(value, list):
        return "".join(_element(name, item) for item in value)
    if isinstance(value, MOR):
        return f"<{name} type={quoteattr(value.type)}>{escape(value.value)}</{name}>"
    if isinstance(value, DataObject):
        typed = f' xsi:type="{value.type_}"' if value.type_ else ""
        inner = "".join(_element(k, v) for k, v in value.items() if v is not None)
        return f"<{name}{typed}>{inner}</{name}>"
    if isinstance(value, bool):
        return f"<{name}>{'true' if value else 'false'}</{name}>"
    return f"<{name}>{escape(str(value))}</{name}>"


# ---------------------------------------------------------------------------------------------- reading

_XSD_TYPES: dict[str, Callable[[str], Any]] = {"xsd:string": str, "xsd:int": int, "xsd:long": int, "xsd:short": int, "xsd:byte": int,
              "xsd:boolean": lambda t: t == "true", "xsd:dateTime": str, "xsd:float": float,
              "xsd:double": float, "xsd:base64Binary": str, "xsd:anyURI": str}


def parse_response(body: bytes) -> list[Any]:
    """The ``returnval`` values of a response body; a SOAP fault raises ``Fault``."""
    try:
        root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    except etree.XMLSyntaxError as exc:
        raise Fault(f"malformed SOAP response: {exc}", None) from None
    fault = root.find(f"{{{SOAPENV}}}Body/{{{SOAPENV}}}Fault")
    if fault is not None:
        raise _fault(fault)
    body_el = root.find(f"{{{SOAPENV}}}Body")
    if body_el is None or len(body_el) == 0:
        raise Fault("SOAP response without a body", None)
    return [decode(el) for el in body_el[0] if isinstance(el.tag, str) and _local(el.tag) == "returnval"]


def _fault(el: etree._Element) -> Fault:
    message = (el.findtext("faultstring") or "").strip()
    detail = el.find("detail")
    fault_type = None
    data = None
    if detail is not None and len(detail):
        first = detail[0]
        fault_type = first.get(f"{{{XSI}}}type") or _local(first.tag).removesuffix("Fault")
        decoded = decode(first)
        data = decoded if isinstance(decoded, DataObject) else DataObject(fault_type)
    return Fault(message or (fault_type or "unknown SOAP fault"), fault_type, data)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def decode(el: etree._Element) -> Any:
    """A response element as Python: typed by ``xsi:type`` where present, by its shape otherwise."""
    xsi_type = el.get(f"{{{XSI}}}type")
    if xsi_type is not None and ":" in xsi_type and not xsi_type.startswith("xsd:"):
        xsi_type = xsi_type.partition(":")[2]  # a namespace prefix on a vim type
    if el.get("type") is not None and len(el) == 0 and xsi_type in (None, "ManagedObjectReference"):
        return MOR(el.get("type", ""), (el.text or "").strip())
    if xsi_type in _XSD_TYPES:
        return _XSD_TYPES[xsi_type]((el.text or "").strip())
    if xsi_type is not None and xsi_type.startswith("ArrayOf"):
        return [decode(child) for child in el if isinstance(child.tag, str)]
    children = [c for c in el if isinstance(c.tag, str)]
    if not children:
        return el.text or ""
    obj = DataObject(xsi_type)
    for child in children:
        name = _local(child.tag)
        value = decode(child)
        if name in obj:
            existing = obj[name]
            obj[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            obj[name] = value
    return obj
