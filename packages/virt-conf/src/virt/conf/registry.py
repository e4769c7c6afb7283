"""Which model class reads which root element, and the top-level parse/normalize/validate calls."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib import import_module
from typing import Any

from lxml import etree
from virt.conf.xmlmodel import Model, ParseContext, local_name, parse_xml
from virt.util.errors import XMLError

#: Root element -> "module:Class", imported on first use so that start-up stays fast.
FORMATS: dict[str, str] = {
    "domain": "virt.conf.domain:Domain",
    "network": "virt.conf.network:Network",
    "networkport": "virt.conf.networkport:NetworkPort",
    "pool": "virt.conf.storage:Pool",
    "volume": "virt.conf.storage:Volume",
    "secret": "virt.conf.secret:Secret",
    "filter": "virt.conf.nwfilter:NWFilter",
    "filterbinding": "virt.conf.nwfilter:NWFilterBinding",
    "device": "virt.conf.nodedev:NodeDevice",
    "interface": "virt.conf.interface:Interface",
    "domainsnapshot": "virt.conf.snapshot:DomainSnapshot",
    "domaincheckpoint": "virt.conf.checkpoint:DomainCheckpoint",
    "domainbackup": "virt.conf.backup:DomainBackup",
    "capabilities": "virt.conf.capabilities:Capabilities",
    "domainCapabilities": "virt.conf.domcaps:DomainCapabilities",
}


def model_for(root_tag: str) -> type[Model]:
    """The model class for a root element name; unknown roots are an XMLError listing the known ones."""
    target = FORMATS.get(root_tag)
    cached = _CLASSES.get(root_tag)
    if cached is not None and cached[0] == target:  # (FORMATS may be changed: an extension's format)
        return cached[1]
    if target is None:
        known = ", ".join(sorted(FORMATS))
        raise XMLError(f"unknown document type <{root_tag}>: expected one of {known}")
    module, _, name = target.partition(":")
    try:
        cls: type[Model] = getattr(import_module(module), name)
    except (ImportError, AttributeError):
        raise XMLError(f"the <{root_tag}> format is not implemented yet", code=3) from None
    _CLASSES[root_tag] = (target, cls)
    return cls


#: Root element -> (its FORMATS entry, the class imported for it).
_CLASSES: dict[str, tuple[str, type[Model]]] = {}


def parse(
    xml: str | bytes | etree._Element,
    kind: str | None = None,
    *,
    strict: bool = False,
    inactive: bool = True,
    hooks: Iterable[Callable[[Model, ParseContext], None]] = (),
    **options: Any,
) -> Model:
    """Parse any libvirt document; ``kind`` (a root element name) is checked when given."""
    root = parse_xml(xml)
    tag = local_name(root.tag)
    if kind is not None and tag != kind:
        raise XMLError(f"unexpected root element <{tag}>, expecting <{kind}>")
    ctx = ParseContext(strict=strict, inactive=inactive, hooks=list(hooks), options=dict(options))
    return model_for(tag).from_element(root, ctx)


def normalize(xml: str | bytes, kind: str | None = None, **kw: Any) -> str:
    """What define followed by dumpxml --inactive prints, with the generic defaults only."""
    return parse(xml, kind, **kw).format()


def validate(xml: str | bytes, kind: str | None = None, **options: Any) -> Model:
    """Strict parse: unknown elements and attributes are errors too. Returns the model."""
    return parse(xml, kind, strict=True, **options)
