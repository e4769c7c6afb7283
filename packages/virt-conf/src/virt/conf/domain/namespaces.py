"""Driver XML namespaces inside ``<domain>``: qemu:commandline/capabilities/override/deprecation,
lxc:namespace, bhyve:commandline, xen:commandline, vmware:datacenterpath."""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree
from virt.conf.xmlmodel import Writer
from virt.util.errors import XMLError

QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
LXC_NS = "http://libvirt.org/schemas/domain/lxc/1.0"
BHYVE_NS = "http://libvirt.org/schemas/domain/bhyve/1.0"
XEN_NS = "http://libvirt.org/schemas/domain/xen/1.0"
VMWARE_NS = "http://libvirt.org/schemas/domain/vmware/1.0"

PREFIXES = {QEMU_NS: "qemu", LXC_NS: "lxc", BHYVE_NS: "bhyve", XEN_NS: "xen", VMWARE_NS: "vmware"}


@dataclass
class QemuProperty:
    name: str
    type: str | None
    value: str | None


@dataclass
class QemuDeviceOverride:
    alias: str
    frontend: list[QemuProperty] = field(default_factory=list)


@dataclass
class QemuNamespace:
    """qemu:commandline args/env, qemu:capabilities add/del, qemu:override, qemu:deprecation."""

    args: list[str] = field(default_factory=list)
    env: list[tuple[str, str | None]] = field(default_factory=list)
    caps_add: list[str] = field(default_factory=list)
    caps_del: list[str] = field(default_factory=list)
    overrides: list[QemuDeviceOverride] = field(default_factory=list)
    deprecation: str | None = None

    def empty(self) -> bool:
        return not (self.args or self.env or self.caps_add or self.caps_del or self.overrides or self.deprecation)


@dataclass
class Namespaces:
    """What the domain carries in driver namespaces (all of them are read; each driver uses its own)."""

    qemu: QemuNamespace = field(default_factory=QemuNamespace)
    #: lxc:namespace: share type (sharenet/shareipc/shareuts) -> (type, value)
    lxc: dict[str, tuple[str, str]] = field(default_factory=dict)
    bhyve_args: list[str] = field(default_factory=list)
    bhyve_env: list[tuple[str, str | None]] = field(default_factory=list)
    xen_args: list[str] = field(default_factory=list)
    vmware_datacenterpath: str | None = None

    def used(self) -> list[str]:
        out = []
        if not self.qemu.empty():
            out.append(QEMU_NS)
        if self.lxc:
            out.append(LXC_NS)
        if self.bhyve_args or self.bhyve_env:
            out.append(BHYVE_NS)
        if self.xen_args:
            out.append(XEN_NS)
        if self.vmware_datacenterpath is not None:
            out.append(VMWARE_NS)
        return out


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


#: Every child of <domain> in a namespace of PREFIXES.
_NS_CHILDREN = tuple(f"{{{uri}}}*" for uri in PREFIXES)
_ENV_NAME = __import__("re").compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_namespaces(root: etree._Element, ns: Namespaces) -> set[str]:
    """Read every known namespaced child of ``<domain>``; returns the tags consumed."""
    consumed: set[str] = set()
    q = ns.qemu
    # lxml picks the children in these namespaces, in document order (most domains have none)
    for child in root.iterchildren(*_NS_CHILDREN):
        tag = child.tag
        uri, _, local = tag[1:].partition("}")
        consumed.add(tag)
        if uri == QEMU_NS:
            if local == "commandline":
                for el in child:
                    if el.tag == _q(QEMU_NS, "arg"):
                        value = el.get("value")
                        if value is None:
                            raise XMLError("No qemu command-line argument specified")
                        q.args.append(value)
                    elif el.tag == _q(QEMU_NS, "env"):
                        name = el.get("name")
                        if not name:
                            raise XMLError("No qemu environment name specified")
                        if not _ENV_NAME.fullmatch(name):
                            raise XMLError("Invalid environment name, it must begin with a letter or underscore")
                        q.env.append((name, el.get("value")))
            elif local == "capabilities":
                for el in child:
                    cap = el.get("capability")
                    if el.tag == _q(QEMU_NS, "add") and cap:
                        q.caps_add.append(cap.strip())
                    elif el.tag == _q(QEMU_NS, "del") and cap:
                        q.caps_del.append(cap.strip())
            elif local == "override":
                for dev in child.iterfind(_q(QEMU_NS, "device")):
                    alias = dev.get("alias")
                    if not alias:
                        raise XMLError("missing device alias in qemu:override")
                    ov = QemuDeviceOverride(alias)
                    for prop in dev.iterfind(f"{_q(QEMU_NS, 'frontend')}/{_q(QEMU_NS, 'property')}"):
                        name = prop.get("name")
                        if not name:
                            raise XMLError("missing 'name' attribute for qemu:property")
                        ov.frontend.append(QemuProperty(name, prop.get("type"), prop.get("value")))
                    q.overrides.append(ov)
            elif local == "deprecation":
                q.deprecation = child.get("behavior")
        elif uri == LXC_NS and local == "namespace":
            for el in child:
                if not isinstance(el.tag, str):
                    continue
                share = etree.QName(el).localname
                if share in ("sharenet", "shareipc", "shareuts"):
                    ns.lxc[share] = (el.get("type") or "", el.get("value") or "")
        elif uri == BHYVE_NS and local == "commandline":
            for el in child:
                if el.tag == _q(BHYVE_NS, "arg"):
                    ns.bhyve_args.append(el.get("value") or "")
                elif el.tag == _q(BHYVE_NS, "env"):
                    ns.bhyve_env.append((el.get("name") or "", el.get("value")))
        elif uri == XEN_NS and local == "commandline":
            for el in child:
                if el.tag == _q(XEN_NS, "arg"):
                    ns.xen_args.append(el.get("value") or "")
        elif uri == VMWARE_NS and local == "datacenterpath":
            ns.vmware_datacenterpath = child.text or ""
    return consumed


def format_namespaces(ns: Namespaces, w: Writer) -> None:
    q = ns.qemu
    if q.args or q.env:
        w.start("qemu:commandline", [])
        mark = w.mark()
        for a in q.args:
            w.leaf("qemu:arg", [("value", a)], None)
        for name, value in q.env:
            w.leaf("qemu:env", [("name", name)] + ([("value", value)] if value is not None else []), None)
        w.end("qemu:commandline", None, mark)
    if q.caps_add or q.caps_del:
        w.start("qemu:capabilities", [])
        mark = w.mark()
        for c in q.caps_add:
            w.leaf("qemu:add", [("capability", c)], None)
        for c in q.caps_del:
            w.leaf("qemu:del", [("capability", c)], None)
        w.end("qemu:capabilities", None, mark)
    if q.overrides:
        w.start("qemu:override", [])
        mark = w.mark()
        for ov in q.overrides:
            w.start("qemu:device", [("alias", ov.alias)])
            m2 = w.mark()
            if ov.frontend:
                w.start("qemu:frontend", [])
                m3 = w.mark()
                for p in ov.frontend:
                    attrs = [("name", p.name)]
                    if p.type is not None:
                        attrs.append(("type", p.type))
                    if p.value is not None:
                        attrs.append(("value", p.value))
                    w.leaf("qemu:property", attrs, None)
                w.end("qemu:frontend", None, m3)
            w.end("qemu:device", None, m2)
        w.end("qemu:override", None, mark)
    if q.deprecation is not None:
        w.leaf("qemu:deprecation", [("behavior", q.deprecation)], None)
    if ns.lxc:
        w.start("lxc:namespace", [])
        mark = w.mark()
        for share in ("sharenet", "shareipc", "shareuts"):
            if share in ns.lxc:
                t, v = ns.lxc[share]
                w.leaf(f"lxc:{share}", [("type", t), ("value", v)], None)
        w.end("lxc:namespace", None, mark)
    if ns.bhyve_args or ns.bhyve_env:
        w.start("bhyve:commandline", [])
        mark = w.mark()
        for a in ns.bhyve_args:
            w.leaf("bhyve:arg", [("value", a)], None)
        for name, value in ns.bhyve_env:
            w.leaf("bhyve:env", [("name", name)] + ([("value", value)] if value is not None else []), None)
        w.end("bhyve:commandline", None, mark)
    if ns.xen_args:
        w.start("xen:commandline", [])
        mark = w.mark()
        for a in ns.xen_args:
            w.leaf("xen:arg", [("value", a)], None)
        w.end("xen:commandline", None, mark)
    if ns.vmware_datacenterpath is not None:
        w.leaf("vmware:datacenterpath", [], ns.vmware_datacenterpath)
