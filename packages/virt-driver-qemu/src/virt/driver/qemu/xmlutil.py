"""Small helpers for working on a domain's XML tree (lxml) as the qemu driver's model of it.

The driver keeps the domain as libvirt's XML tree and fills in what QEMU needs (defaults,
addresses) as real XML, so the same tree is both the normalized document and the input of the
command-line builder. Facts that are not part of the XML format (device aliases, computed values)
are kept in attributes of a private namespace and never formatted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from lxml import etree
from virt.util.errors import XMLError

PRIV = "urn:x-virt:qemu-private"
E = etree._Element

#: libvirt's order of device kinds inside <devices>.
DEVICE_ORDER: tuple[str, ...] = (
    "emulator", "disk", "controller", "lease", "filesystem", "interface", "smartcard", "serial",
    "parallel", "console", "channel", "input", "tpm", "graphics", "sound", "audio", "video", "hostdev",
    "redirdev", "redirfilter", "hub", "watchdog", "memballoon", "rng", "nvram", "panic", "shmem",
    "memory", "iommu", "vsock", "crypto",
)


def parse(xml: str | bytes) -> E:
    parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(xml.encode() if isinstance(xml, str) else xml, parser)
    except etree.XMLSyntaxError as exc:
        raise XMLError(f"(domain_definition):{exc.lineno}: {exc.msg}", code=27) from None
    if root.tag != "domain":
        raise XMLError(f"unexpected root element <{root.tag}>, expecting <domain>")
    return root


def priv(el: E, name: str, default: str | None = None) -> str | None:
    return el.get(f"{{{PRIV}}}{name}", default)


def set_priv(el: E, name: str, value: str | int | None) -> None:
    key = f"{{{PRIV}}}{name}"
    if value is None:
        el.attrib.pop(key, None)
    else:
        el.set(key, str(value))


def alias(el: E) -> str | None:
    return priv(el, "alias")


def set_alias(el: E, value: str) -> None:
    set_priv(el, "alias", value)


def strip_private(root: E) -> None:
    for el in [e for e in root.iter() if isinstance(e.tag, str) and e.tag.startswith(f"{{{PRIV}}}")]:
        parent = el.getparent()
        if parent is not None:
            parent.remove(el)
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        for key in [k for k in el.attrib if k.startswith(f"{{{PRIV}}}")]:
            del el.attrib[key]
    etree.cleanup_namespaces(root)


def child(el: E | None, path: str) -> E | None:
    if el is None:
        return None
    return el.find(path)


def get(el: E | None, path: str | None, name: str, default: str | None = None) -> str | None:
    node = el if path is None else child(el, path)
    if node is None:
        return default
    return node.get(name, default)


def text(el: E | None, path: str, default: str | None = None) -> str | None:
    node = child(el, path)
    if node is None or node.text is None:
        return default
    return node.text.strip()


def yes(value: str | None) -> bool | None:
    """'yes'/'on' -> True, 'no'/'off' -> False, anything else -> None."""
    if value in ("yes", "on"):
        return True
    if value in ("no", "off"):
        return False
    return None


def onoff(b: bool | None) -> str | None:
    return None if b is None else ("on" if b else "off")


def parse_int(value: str | None, what: str = "value") -> int | None:
    if value is None:
        return None
    s = value.strip()
    try:
        return int(s, 16) if s[:2].lower() == "0x" else int(s, 10)
    except ValueError:
        raise XMLError(f"Cannot parse {what} '{value}'") from None


def sub(parent: E, tag: str, attrs: dict[str, str | None] | None = None, *,
        order: Sequence[str] | None = None, text_: str | None = None) -> E:
    """A new child ``tag``; with ``order``, placed before the first sibling that comes later in it."""
    el = etree.Element(tag)
    for k, v in (attrs or {}).items():
        if v is not None:
            el.set(k, v)
    if text_ is not None:
        el.text = text_
    if order is not None and tag in order:
        rank = order.index(tag)
        for i, sib in enumerate(parent):
            if isinstance(sib.tag, str) and sib.tag in order and order.index(sib.tag) > rank:
                parent.insert(i, el)
                return el
    parent.append(el)
    return el


def add_device(devices: E, el: E) -> E:
    """Append a device after the last one of its kind (libvirt's device order)."""
    order = DEVICE_ORDER
    same = [i for i, sib in enumerate(devices) if sib.tag == el.tag]
    if same:
        devices.insert(same[-1] + 1, el)
        return el
    rank = order.index(el.tag) if el.tag in order else len(order)
    insert_at = len(devices)
    for i, sib in enumerate(devices):
        if isinstance(sib.tag, str) and sib.tag in order and order.index(sib.tag) > rank:
            insert_at = i
            break
    devices.insert(insert_at, el)
    return el


def elements(parent: E | None, tags: Iterable[str]) -> list[E]:
    if parent is None:
        return []
    tagset = set(tags)
    return [c for c in parent if isinstance(c.tag, str) and c.tag in tagset]


def iothread_ids(root: E) -> list[int]:
    """The domain's IOThread ids: the <iothreadids> ones in order, then the lowest free ones up to <iothreads>."""
    ids = [int(t.get("id", "0")) for t in root.findall("iothreadids/iothread")]
    total = int(text(root, "iothreads", "0") or "0")
    nxt = 1
    while len(ids) < total:
        while nxt in ids:
            nxt += 1
        ids.append(nxt)
    return ids


def parse_size_kib(el: E | None, default: int | None = None) -> int | None:
    """A size element (<memory unit='...'>N</memory>) in KiB, as libvirt scales it."""
    if el is None or el.text is None:
        return default
    unit = (el.get("unit") or "KiB")
    value = int(el.text.strip())
    return scale_to_kib(value, unit)


_UNITS = {"b": 1, "bytes": 1, "k": 1024, "kib": 1024, "kb": 1000, "m": 1024**2, "mib": 1024**2,
          "mb": 1000**2, "g": 1024**3, "gib": 1024**3, "gb": 1000**3, "t": 1024**4, "tib": 1024**4,
          "tb": 1000**4, "p": 1024**5, "pib": 1024**5, "pb": 1000**5, "e": 1024**6, "eib": 1024**6,
          "eb": 1000**6}


def scale_bytes(value: int, unit: str | None, default_unit: str = "b") -> int:
    u = (unit or default_unit).lower()
    if u not in _UNITS:
        raise XMLError(f"unknown unit '{unit}'")
    return value * _UNITS[u]


def scale_to_kib(value: int, unit: str | None) -> int:
    b = scale_bytes(value, unit, "kib")
    return (b + 1023) // 1024
