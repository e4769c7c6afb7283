"""What every group of test-driver calls shares: the lock-and-flags engine, list filters, events.

Each group (domains, networks, storage, ...) is a mixin declaring its calls as methods named after
libvirt's API and, once as data, the flags each call accepts (``FLAGS``). ``api()`` wraps every call
so that it checks its flags as libvirt's virCheckFlags does and runs under the state's lock.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, TypeVar

from virt.core.drivers.test.errors import test_function, unsupported_flags
from virt.core.drivers.test.state import NodeState

T = TypeVar("T")

#: Prefixes of the methods that are driver calls.
CALL_PREFIXES = ("connect_", "domain_", "network_", "storage_", "node_", "interface_", "secret_",
                 "nwfilter_", "find_storage_pool_sources")


class Calls:
    """Base of the call groups: the shared state and the allowed flags of each call."""

    state: NodeState
    #: call name -> the flags it accepts (calls with a ``flags`` argument not listed accept none).
    FLAGS: ClassVar[dict[str, int]] = {}
    #: call name -> the C function name libvirt reports in "unsupported flags" errors, when it differs.
    FUNCTION_NAMES: ClassVar[dict[str, str]] = {}


def api(cls: type[T]) -> type[T]:
    """Wrap every driver call of ``cls`` (and its bases) with the flags check and the state lock."""
    allowed: dict[str, int] = {}
    names: dict[str, str] = {}
    for base in reversed(cls.__mro__):
        allowed.update(base.__dict__.get("FLAGS", {}))
        names.update(base.__dict__.get("FUNCTION_NAMES", {}))
    seen: set[str] = set()
    for base in cls.__mro__:
        for name, fn in base.__dict__.items():
            if name in seen or not name.startswith(CALL_PREFIXES) or not inspect.isfunction(fn):
                continue
            seen.add(name)
            setattr(cls, name, _wrap(fn, allowed.get(name, 0), names.get(name) or test_function(name)))
    return cls


def _wrap(fn: Callable[..., Any], allowed: int, function: str) -> Callable[..., Any]:
    params = list(inspect.signature(fn).parameters)[1:]
    index = params.index("flags") if "flags" in params else None

    if index is None:
        @functools.wraps(fn)
        def call(self: Calls, *args: Any) -> Any:
            with self.state.lock:
                return fn(self, *args)
        return call

    @functools.wraps(fn)
    def call_with_flags(self: Calls, *args: Any) -> Any:
        flags = args[index] if len(args) > index else 0
        if flags and int(flags) & ~allowed:
            raise unsupported_flags(int(flags) & ~allowed, function)
        with self.state.lock:
            return fn(self, *args)
    return call_with_flags


def filter_objects(objs: Iterable[T], flags: int, groups: Iterable[tuple[int, Callable[[Any], Any]]]) -> list[T]:
    """libvirt's list-all filters: each group is (mask of its flags, obj -> the flag it matches).

    A group whose flags are all clear filters nothing; otherwise an object stays when the flag it
    matches is one of those set (``ACTIVE|INACTIVE`` together keep everything).
    """
    active = [(mask & flags, match) for mask, match in groups if mask & flags]
    return [o for o in objs if all(match(o) & sel for sel, match in active)]


def pair(yes: int, no: int, pred: Callable[[Any], Any]) -> tuple[int, Callable[[Any], int]]:
    """A two-flag filter group: ``yes`` when pred(obj) holds, ``no`` otherwise."""
    return yes | no, lambda o: yes if pred(o) else no


#: Root element -> the document name libvirt's XML errors start with.
DOCUMENT_NAMES = {"domain": "(domain_definition)", "network": "(network_definition)",
                  "pool": "(storage_pool_definition)", "volume": "(storage_volume_definition)",
                  "device": "(node_device_definition)", "interface": "(interface_definition)",
                  "secret": "(definition_of_secret)", "filter": "(nwfilter_definition)",
                  "domainsnapshot": "(domain_snapshot)"}


_parsers = threading.local()


def _parser() -> Any:
    """One lxml parser per thread: building one costs more than parsing a small document."""
    parser = getattr(_parsers, "parser", None)
    if parser is None:
        from lxml import etree

        parser = _parsers.parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return parser


def xml_root(xml: Any, kind: str, domain: Any) -> Any:
    """Parse a document of root ``kind`` as libvirt's virXMLParse does, with its error texts: the
    first syntax error as "(document):LINE: message", the line, and a caret under the column."""
    from lxml import etree
    from virt.core.drivers.test.errors import error
    from virt.util.errors import ErrorDomain, ErrorNumber, VirtError

    if isinstance(xml, etree._Element):
        root = xml
    else:
        data = xml.encode() if isinstance(xml, str) else bytes(xml)
        where = DOCUMENT_NAMES.get(kind, f"({kind})")
        if not data.strip():
            raise VirtError(None, code=ErrorNumber.XML_DETAIL, domain=domain,
                            message=f"{where}:1: Document is empty\n(null)\n^")
        parser = _parser()
        try:
            root = etree.fromstring(data, parser)
        except etree.XMLSyntaxError as exc:
            first = parser.error_log[0] if len(parser.error_log) else None
            line, column = (first.line, first.column) if first else (exc.lineno or 1, 1)
            message = first.message if first else str(exc.msg)
            lines = data.decode(errors="replace").split("\n")
            text = lines[line - 1] if 0 < line <= len(lines) else ""
            raise VirtError(None, code=ErrorNumber.XML_DETAIL, domain=domain,
                            message=f"{where}:{line}: {message}\n{text}\n{'-' * max(column - 1, 0)}^") from None
    if root.tag != kind:
        raise error(ErrorNumber.XML_ERROR, f"expecting root element of '{kind}', not '{root.tag}'", ErrorDomain.XML)
    return root


def parse_doc(xml: Any, kind: str, domain: Any) -> Any:
    """Parse a document of root ``kind`` with virt.conf; its errors carry ``domain`` as libvirt's do."""
    from virt.conf import parse
    from virt.util.errors import VirtError

    root = xml_root(xml, kind, domain)
    try:
        return parse(root, kind)
    except VirtError as exc:
        if not exc.domain:
            exc.domain = domain
        raise


class Keyed:
    """What the name/UUID uniqueness checks need of an object."""

    name: str
    uuid: str


def check_unique(objs: Iterable[Any], name: str, uuid: str, what: str, domain: Any) -> Any:
    """libvirt's object-list add checks: the object with this UUID (same name required), or None.

    Raises OPERATION_FAILED when the UUID belongs to an object of another name, or the name to an
    object of another UUID, with libvirt's messages (``what`` is "domain", "network", "pool").
    """
    from virt.core.drivers.test.errors import error
    from virt.util.errors import ErrorNumber

    by_name = None
    for obj in objs:
        if obj.uuid == uuid:
            if obj.name != name:
                raise error(ErrorNumber.OPERATION_FAILED,
                            f"{what} '{obj.name}' is already defined with uuid {uuid}", domain)
            return obj
        if obj.name == name:
            by_name = obj
    if by_name is not None:
        raise error(ErrorNumber.OPERATION_FAILED,
                    f"{what} '{name}' already exists with uuid {by_name.uuid}", domain)
    return None
