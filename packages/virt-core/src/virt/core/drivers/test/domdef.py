"""The test driver's view of a domain definition (virt.conf's Domain): what it reads, changes and prints."""

from __future__ import annotations

import copy as _copy
from typing import Any

from lxml import etree
from virt.core.drivers.test.errors import DOMAIN, bare, error, invalid_arg
from virt.core.enums import DomainXMLFlags as XF
from virt.util.errors import ErrorDomain, VirtError
from virt.util.errors import ErrorNumber as E

#: The architecture libvirt's test driver gives a guest that names none.
DEFAULT_ARCH = "i686"
#: Interface names the test driver gives guest NICs that have none (libvirt's "testnet%d").
IFNAME_PREFIX = "testnet"
METADATA_DESCRIPTION, METADATA_TITLE, METADATA_ELEMENT = 0, 1, 2


def parse_hooks() -> list[Any]:
    """Post-parse callbacks the test driver adds to every domain it reads (none: the generic
    defaults, with ``default_arch``, already match libvirt's test driver)."""
    return []


def parse(xml: str | bytes | etree._Element, validate: bool = False) -> Any:
    """A domain definition as libvirt's test driver reads one (VIR_DOMAIN_DEF_PARSE_INACTIVE)."""
    from virt.conf.domain import Domain
    from virt.conf.xmlmodel import ParseContext
    from virt.core.drivers.test.base import xml_root

    root = xml_root(xml, "domain", ErrorDomain.DOMAIN)
    explicit_inputs = {(i.get("type"), i.get("bus")) for i in root.iterfind("devices/input")}
    try:
        ctx = ParseContext(strict=validate, inactive=True, hooks=parse_hooks(),
                           options={"default_arch": DEFAULT_ARCH})
        defn: Any = Domain.from_element(root, ctx)
    except VirtError as exc:
        if not exc.domain:
            exc.domain = ErrorDomain.DOMAIN
        raise
    # Implicit mouse and keyboard for graphics are a hypervisor driver's default (qemu, xen add
    # them); libvirt's test driver adds none.
    defn.devices.inputs = [i for i in defn.devices.inputs
                           if not (i.type in ("mouse", "keyboard") and i.bus in ("ps2", "xen"))
                           or (i.type, i.bus) in explicit_inputs or (i.type, None) in explicit_inputs]
    return defn


def copy(defn: Any) -> Any:
    return _copy.deepcopy(defn)


def copy_inactive(defn: Any) -> Any:
    """A copy without live-only data (the domain saved in a snapshot)."""
    dup = copy(defn)
    dup.id = None
    return dup


def format(defn: Any, flags: int, dom_id: int) -> str:
    """virDomainDefFormat: the id of a running domain unless INACTIVE; secrets only with SECURE."""
    defn.id = str(dom_id) if dom_id >= 0 else None
    try:
        return str(defn.format(inactive=bool(flags & XF.INACTIVE), secure=bool(flags & XF.SECURE)))
    finally:
        defn.id = None


def generate_ifnames(defn: Any) -> None:
    """testDomainGenerateIfnames: every NIC without a target device gets the first free testnetN."""
    from virt.conf.domain.devices.net import NetTarget

    used = {n.ifname for n in defn.devices.interfaces if n.ifname}
    for net in defn.devices.interfaces:
        if net.ifname:
            continue
        for i in range(1024):
            name = f"{IFNAME_PREFIX}{i}"
            if name not in used:
                break
        else:
            raise error(E.INTERNAL_ERROR, "Exceeded max iface limit 1024")
        used.add(name)
        if net.target is None:
            net.target = NetTarget(dev=name)
        else:
            net.target.dev = name


def lifecycle_action(defn: Any, event: str) -> str:
    """The on_poweroff / on_reboot / on_crash action."""
    return str(getattr(defn, f"on_{event}") or "destroy")


# ----------------------------------------------------------------------------- memory and vcpus

def max_memory(defn: Any) -> int:
    """virDomainDefGetMemoryTotal (KiB)."""
    return int(defn.memory_kib)


def current_memory(defn: Any) -> int:
    return int(defn.current_memory_kib)


def set_max_memory(defn: Any, kib: int) -> None:
    from virt.conf.domain.memory import Memory

    defn.memory = Memory(value=kib, unit="KiB")


def set_current_memory(defn: Any, kib: int) -> None:
    from virt.conf.domain.memory import CurrentMemory

    defn.currentMemory = CurrentMemory(value=kib, unit="KiB")


def vcpus(defn: Any) -> int:
    return int(defn.current_vcpus)


def max_vcpus(defn: Any) -> int:
    return int(defn.max_vcpus)


def set_vcpus(defn: Any, count: int) -> None:
    """virDomainDefSetVcpus: ``count`` online of the maximum."""
    defn.vcpu.current = None if count == defn.vcpu.count else count
    if defn.vcpus is not None:
        for i, v in enumerate(defn.vcpus.vcpus):
            v.enabled = i < count


def set_max_vcpus(defn: Any, count: int) -> None:
    """virDomainDefSetVcpusMax: the online count shrinks with the maximum."""
    current = min(vcpus(defn), count)
    defn.vcpu.count = count
    defn.vcpus = None
    defn.vcpu.current = None if current == count else current


# ----------------------------------------------------------------------------- metadata

def _check_metadata_args(call: str, type: int, uri: str | None, key: str | None, setting: bool,
                         metadata: str | None) -> None:
    """virDomainGetMetadata / virDomainSetMetadata's own argument checks."""
    if type == METADATA_ELEMENT:
        if uri is None:
            raise bare(E.INVALID_ARG, f"uri in {call} must not be NULL", DOMAIN)
        if setting and metadata and key is None:
            raise bare(E.INVALID_ARG, f"key in {call} must not be NULL", DOMAIN)
    elif type in (METADATA_TITLE, METADATA_DESCRIPTION):
        if uri is not None:
            raise bare(E.INVALID_ARG, f"uri in {call} must be NULL", DOMAIN)
        if setting and key is not None:
            raise bare(E.INVALID_ARG, f"key in {call} must be NULL", DOMAIN)
    else:
        raise bare(E.INVALID_ARG, f"unknown metadata type '{type}'", DOMAIN)


def get_metadata(defn: Any, type: int, uri: str | None) -> str | None:
    _check_metadata_args("virDomainGetMetadata", type, uri, None, False, None)
    if type == METADATA_TITLE:
        return defn.title  # type: ignore[no-any-return]
    if type == METADATA_DESCRIPTION:
        return defn.description  # type: ignore[no-any-return]
    node = _metadata_node(defn, uri)
    if node is None:
        return None
    out = etree.fromstring(etree.tostring(node))
    out.tail = None
    for el in out.iter():
        if isinstance(el.tag, str) and el.tag.startswith(f"{{{uri}}}"):
            el.tag = etree.QName(el).localname
    etree.cleanup_namespaces(out)
    return etree.tostring(out, encoding="unicode")


def _metadata_node(defn: Any, uri: str | None) -> etree._Element | None:
    if defn.metadata is None:
        return None
    for child in defn.metadata:
        if isinstance(child.tag, str) and etree.QName(child).namespace == uri:
            return child  # type: ignore[no-any-return]
    return None


def set_metadata(defn: Any, type: int, metadata: str | None, key: str | None, uri: str | None) -> None:
    """virDomainDefSetMetadata: a title, a description, or one namespaced element of <metadata>."""
    _check_metadata_args("virDomainSetMetadata", type, uri, key, True, metadata)
    if type == METADATA_TITLE:
        if metadata and "\n" in metadata:
            raise error(E.XML_ERROR, "Domain title can't contain newlines", DOMAIN)
        defn.title = metadata or None
        return
    if type == METADATA_DESCRIPTION:
        defn.description = metadata or None
        return
    old = _metadata_node(defn, uri)
    if old is not None:
        defn.metadata.remove(old)
    if metadata:
        try:
            new = etree.fromstring(metadata)
        except etree.XMLSyntaxError as exc:
            raise error(E.XML_ERROR, f"(metadata_xml):1: {exc.msg}", ErrorDomain.XML) from None
        for el in new.iter():
            if isinstance(el.tag, str) and etree.QName(el).namespace is None:
                el.tag = f"{{{uri}}}{el.tag}"
        wrapper = etree.Element("wrapper", nsmap={key or "": uri or ""})
        wrapper.append(new)
        new = etree.fromstring(etree.tostring(wrapper))[0]
        if defn.metadata is None:
            defn.metadata = etree.Element("metadata")
        defn.metadata.append(new)
    if defn.metadata is not None and len(defn.metadata) == 0:
        defn.metadata = None


# ----------------------------------------------------------------------------- devices

def disk_names(defn: Any) -> list[tuple[str, str | None]]:
    """(target, source path) of every disk, in order."""
    return [(d.dev, d.source_path) for d in defn.devices.disks]


def find_disk(defn: Any, path: str) -> Any:
    """virDomainDiskByName: by target name, else by source path."""
    for d in defn.devices.disks:
        if d.dev == path:
            return d
    for d in defn.devices.disks:
        if d.source_path and d.source_path == path:
            return d
    return None


def disk_has_source(disk: Any) -> bool:
    return bool(disk.source_path)


def find_net(defn: Any, device: str) -> Any:
    """virDomainNetFind: by MAC address when it looks like one, else by interface name."""
    from virt.conf.domain.devices.net import MAC

    try:
        mac = MAC().parse(device)
    except ValueError:
        mac = None
    for n in defn.devices.interfaces:
        if (mac is not None and n.mac_address == mac) or (mac is None and n.ifname == device):
            return n
    raise invalid_arg(f"'{device}' is not a known interface", DOMAIN)


def interfaces(defn: Any) -> list[tuple[str | None, str | None, str | None]]:
    """(interface name, MAC, network name for type='network') of every NIC."""
    return [(n.ifname, n.mac_address, n.source.network if n.type == "network" and n.source else None)
            for n in defn.devices.interfaces]


def has_memballoon(defn: Any) -> bool:
    mb = defn.devices.memballoon
    return mb is not None and getattr(mb, "model", None) != "none"


def _parse_device(defn: Any, xml: str) -> tuple[str, Any]:
    """A device element read as libvirt's virDomainDeviceDefParse does: (its list, the device)."""
    from virt.conf.domain import DEVICE_KINDS
    from virt.conf.xmlmodel import ParseContext, local_name, parse_xml

    el = parse_xml(xml)
    tag = local_name(el.tag)
    found = next(((k, m) for k, m in DEVICE_KINDS if tag == m.TAG), None)
    if found is None:
        raise error(E.XML_ERROR, f"unknown device type '{tag}'", DOMAIN)
    kind, model = found
    try:
        dev = model.from_element(el, ParseContext(inactive=True, options={"default_arch": DEFAULT_ARCH}))
    except VirtError as exc:
        if not exc.domain:
            exc.domain = ErrorDomain.DOMAIN
        raise
    return kind, dev


def _key(kind: str, dev: Any) -> Any:
    """What identifies a device of a kind for detach and update (libvirt matches disks by target,
    NICs by MAC, the rest by their whole definition)."""
    if kind == "disks":
        return dev.dev
    if kind == "interfaces":
        return dev.mac_address
    alias = getattr(dev, "alias_name", None)
    return alias or dev.format()


def _event_name(kind: str, dev: Any) -> str:
    """The name a device added/removed event reports: its alias, else its target, else its kind."""
    alias = getattr(dev, "alias_name", None)
    if alias:
        return str(alias)
    if kind == "disks":
        return str(dev.dev)
    if kind == "interfaces":
        return str(dev.ifname or dev.mac_address)
    return kind.rstrip("s")


def attach_device(defn: Any, xml: str, live: bool) -> str:
    """Add a device; returns the name its DEVICE_ADDED event carries."""
    from virt.conf.domain.devices import SINGLE

    kind, dev = _parse_device(defn, xml)
    items = getattr(defn.devices, kind)
    if kind == "disks" and any(d.dev == dev.dev for d in items):
        raise error(E.OPERATION_INVALID, f"target {dev.dev} already exists", DOMAIN)
    if kind == "interfaces" and any(n.mac_address == dev.mac_address for n in items):
        raise error(E.OPERATION_INVALID, f"mac {dev.mac_address} already exists", DOMAIN)
    if kind in SINGLE and items:
        raise error(E.OPERATION_INVALID, SINGLE[kind], DOMAIN)
    items.append(dev)
    if kind == "interfaces":
        generate_ifnames(defn)
    return _event_name(kind, dev)


def _find_device(defn: Any, kind: str, dev: Any) -> int:
    items = getattr(defn.devices, kind)
    key = _key(kind, dev)
    for i, old in enumerate(items):
        if _key(kind, old) == key:
            return i
    if kind == "disks":
        raise error(E.DEVICE_MISSING, f"no target device {dev.dev}", DOMAIN)
    if kind == "interfaces":
        raise error(E.DEVICE_MISSING, f"no device matching MAC address {dev.mac_address} found", DOMAIN)
    raise error(E.DEVICE_MISSING, "matching device not found", DOMAIN)


def detach_device(defn: Any, xml: str) -> str:
    """Remove the device ``xml`` describes; returns the name its DEVICE_REMOVED event carries."""
    kind, dev = _parse_device(defn, xml)
    items = getattr(defn.devices, kind)
    old = items.pop(_find_device(defn, kind, dev))
    return _event_name(kind, old)


def detach_device_alias(defn: Any, alias: str) -> None:
    for dev in defn.devices:
        if getattr(dev, "alias_name", None) == alias:
            getattr(defn.devices, dev.KIND).remove(dev)
            return
    raise error(E.DEVICE_MISSING, f"no device found with alias {alias}", DOMAIN)


def update_device(defn: Any, xml: str) -> None:
    """Replace a device by a new definition of it, keeping its address."""
    kind, dev = _parse_device(defn, xml)
    items = getattr(defn.devices, kind)
    i = _find_device(defn, kind, dev)
    if getattr(dev, "address", None) is None:
        dev.address = items[i].address
    if kind == "interfaces" and not dev.ifname:
        dev.target = items[i].target
    items[i] = dev
