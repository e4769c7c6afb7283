"""Domain XML <-> the converter's domain records, for the elements VMX can express.

Formatting follows libvirt's virDomainDefFormat for these elements (order, defaults, quoting);
parsing follows virDomainDefParseXML's reading of them, including the defaults the VMX writer
depends on (disk addresses, the video device graphics imply, the SCSI controller of a legacy
``<driver name='lsilogic'/>``).
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterator

from lxml import etree
from virt.driver.esx.vmx.domain import (
    ChrDef,
    ControllerDef,
    CPUTopology,
    DiskDef,
    DomainDef,
    DriveAddress,
    FilesystemDef,
    GraphicsDef,
    NetDef,
    VideoDef,
    add_implicit_controllers,
    default_drive_address,
)
from virt.util.bitmap import format_cpuset, parse_cpuset
from virt.util.errors import VirtError, XMLError
from virt.util.ident import format_mac, generate_mac, parse_mac, parse_uuid
from virt.util.units import parse_memory_kib

VMWARE_NS = "http://libvirt.org/schemas/domain/vmware/1.0"
#: The OUI of MAC addresses generated for interfaces without one (VMware's "generated" range).
VMWARE_MAC_PREFIX = "00:0c:29"


# ---------------------------------------------------------------------------------------------- writer

def _escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("'", "&apos;").replace('"', "&quot;"))


class _Writer:
    """Indented XML in libvirt's style: single-quoted attributes, two spaces a level."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 0

    def _open(self, tag: str, attrs: dict[str, object | None]) -> str:
        parts = [tag] + [f"{k}='{_escape(str(v))}'" for k, v in attrs.items() if v is not None]
        return "  " * self.depth + "<" + " ".join(parts)

    def empty(self, tag: str, **attrs: object | None) -> None:
        self.lines.append(self._open(tag, _attrs(attrs)) + "/>")

    def text(self, tag: str, text: object | None, **attrs: object | None) -> None:
        if text is not None:
            self.lines.append(self._open(tag, _attrs(attrs)) + f">{_escape(str(text))}</{tag}>")

    def start(self, tag: str, **attrs: object | None) -> _Element:
        return _Element(self, tag, _attrs(attrs))


def _attrs(attrs: dict[str, object | None]) -> dict[str, object | None]:
    # Python names for XML attributes: a trailing "_" avoids keywords, "__" stands for ":".
    return {k.rstrip("_").replace("__", ":"): v for k, v in attrs.items()}


class _Element:
    def __init__(self, w: _Writer, tag: str, attrs: dict[str, object | None]) -> None:
        self.w, self.tag, self.attrs = w, tag, attrs

    def __enter__(self) -> _Writer:
        self.w.lines.append(self.w._open(self.tag, self.attrs) + ">")
        self.mark = len(self.w.lines)
        self.w.depth += 1
        return self.w

    def __exit__(self, *exc: object) -> None:
        self.w.depth -= 1
        if len(self.w.lines) == self.mark:  # no children: <tag/>
            self.w.lines[-1] = self.w.lines[-1][:-1] + "/>"
        else:
            self.w.lines.append("  " * self.w.depth + f"</{self.tag}>")


# ---------------------------------------------------------------------------------------------- format

def format_domain(dom: DomainDef, *, secure: bool = True) -> str:
    """Domain XML for ``dom``; without ``secure`` passwords are left out (dumpxml without --security-info)."""
    w = _Writer()
    ns = dom.datacenter_path is not None or dom.moref is not None
    with w.start("domain", type=dom.virt_type, id=dom.id if dom.id >= 0 else None,
                 xmlns__vmware=VMWARE_NS if ns else None):
        w.text("name", dom.name)
        w.text("uuid", dom.uuid)
        if dom.genid is not None:
            w.text("genid", dom.genid)
        w.text("description", dom.description)
        w.text("memory", dom.memory, unit="KiB")
        w.text("currentMemory", dom.current_memory, unit="KiB")
        if dom.min_guarantee:
            with w.start("memtune"):
                w.text("min_guarantee", dom.min_guarantee, unit="KiB")
        w.text("vcpu", dom.vcpus, placement="static",
               cpuset=format_cpuset(dom.cpuset) if dom.cpuset else None,
               current=dom.current_vcpus if dom.current_vcpus not in (None, dom.vcpus) else None)
        if dom.shares is not None:
            with w.start("cputune"):
                w.text("shares", dom.shares)
        with w.start("os", firmware=dom.firmware):
            w.text("type", dom.os_type, arch=dom.arch)
            if dom.smbios_mode:
                w.empty("smbios", mode=dom.smbios_mode)
        if dom.has_cpu:
            with w.start("cpu", mode=dom.cpu_mode if dom.cpu_mode not in (None, "custom") else None):
                if dom.topology is not None:
                    t = dom.topology
                    w.empty("topology", sockets=t.sockets, dies=t.dies, cores=t.cores, threads=t.threads)
        w.empty("clock", offset="utc")
        w.text("on_poweroff", "destroy")
        w.text("on_reboot", "restart")
        w.text("on_crash", "destroy")
        with w.start("devices"):
            for disk in dom.disks:
                _format_disk(w, disk)
            for ctrl in dom.controllers:
                w.empty("controller", type=ctrl.type, index=ctrl.index, model=ctrl.model)
            for fs in dom.filesystems:
                with w.start("filesystem", type=fs.type, accessmode=fs.accessmode):
                    w.empty("source", dir=fs.src)
                    w.empty("target", dir=fs.dst)
                    if fs.readonly:
                        w.empty("readonly")
            for net in dom.nets:
                _format_net(w, net)
            for chr_ in (*dom.serials, *dom.parallels, *dom.consoles):
                _format_chr(w, chr_)
            for gr in dom.graphics:
                _format_graphics(w, gr, secure)
            for video in dom.videos:
                with w.start("video"):
                    w.empty("model", type=video.type, vram=video.vram, heads=video.heads or None,
                            primary="yes" if video.primary else None)
        if dom.datacenter_path is not None:
            w.text("vmware:datacenterpath", dom.datacenter_path)
        if dom.moref is not None:
            w.text("vmware:moref", dom.moref)
    return "\n".join(w.lines) + "\n"


def _format_disk(w: _Writer, disk: DiskDef) -> None:
    with w.start("disk", type=disk.type or "file", device=disk.device):
        if disk.cache or disk.driver_name:
            w.empty("driver", name=disk.driver_name, cache=disk.cache)
        if disk.src is not None or disk.startup_policy:
            attr = "dev" if disk.type == "block" else "file"
            w.empty("source", **{attr: disk.src, "startupPolicy": disk.startup_policy})
        w.empty("target", dev=disk.dst, bus=disk.bus)
        if disk.readonly:
            w.empty("readonly")
        if disk.transient:
            w.empty("transient")
        if disk.address is not None:
            a = disk.address
            w.empty("address", type="drive", controller=a.controller, bus=a.bus, target=a.target, unit=a.unit)


def _format_net(w: _Writer, net: NetDef) -> None:
    with w.start("interface", type=net.type):
        check = None if net.mac_check is None else "yes" if net.mac_check else "no"
        w.empty("mac", address=net.mac or "00:00:00:00:00:00", type=net.mac_type, check=check)
        if net.type == "bridge":
            w.empty("source", bridge=net.bridge)
        elif net.type == "vds":
            w.empty("source", switchid=net.switch_id, portid=net.port_id or None, portgroupid=net.portgroup_id,
                    connectionid=net.connection_id or None)
        if net.ifname is not None:
            w.empty("target", dev=net.ifname)
        if net.model is not None:
            w.empty("model", type=net.model)


def _format_chr(w: _Writer, chr_: ChrDef) -> None:
    with w.start(chr_.kind, type=chr_.type):
        if chr_.type in ("dev", "file", "pipe"):
            if chr_.path is not None:
                w.empty("source", path=chr_.path)
        elif chr_.type == "tcp":
            w.empty("source", mode="bind" if chr_.listen else "connect", host=chr_.host, service=chr_.service)
            w.empty("protocol", type=chr_.protocol)
        w.empty("target", type=chr_.target_type, port=chr_.port)


def _format_graphics(w: _Writer, gr: GraphicsDef, secure: bool) -> None:
    port = gr.port if gr.port else (-1 if gr.autoport else None)
    with w.start("graphics", type=gr.type, port=port, autoport="yes" if gr.autoport else "no", listen=gr.listen,
                 keymap=gr.keymap, passwd=gr.passwd if secure else None):
        if gr.has_listen:
            w.empty("listen", type="address", address=gr.listen)


# ---------------------------------------------------------------------------------------------- parse

def parse_domain(xml: str | bytes) -> DomainDef:
    """The records of a domain XML document, with libvirt's parse-time defaults."""
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True)
        root = etree.fromstring(xml.encode() if isinstance(xml, str) else xml, parser)
    except etree.XMLSyntaxError as exc:
        raise XMLError(f"(domain_definition):{exc.lineno}: {exc.msg}") from None
    if root.tag != "domain":
        raise XMLError(f"unexpected root element <{root.tag}>, expecting <domain>")
    try:
        return _DomainReader(root).read()
    except (ValueError, VirtError) as exc:
        if isinstance(exc, VirtError):
            raise
        raise XMLError(str(exc)) from None


def _int(el: etree._Element | None, attr: str | None = None, default: int | None = None) -> int | None:
    if el is None:
        return default
    text = el.get(attr) if attr else el.text
    if text is None:
        return default
    try:
        return int(text.strip())
    except ValueError:
        where = f"attribute '{attr}' of <{el.tag}>" if attr else f"<{el.tag}>"
        raise XMLError(f"invalid value '{text}' for {where}") from None


def _kib(el: etree._Element | None) -> int:
    if el is None or el.text is None:
        return 0
    return parse_memory_kib(el.text.strip(), el.get("unit"))


class _DomainReader:
    def __init__(self, root: etree._Element) -> None:
        self.root = root

    def children(self, path: str) -> Iterator[etree._Element]:
        yield from self.root.iterfind(path)

    def read(self) -> DomainDef:
        r = self.root
        dom = DomainDef(virt_type=r.get("type") or "")
        if not dom.virt_type:
            raise XMLError("missing domain type attribute")
        dom.name = r.findtext("name")
        if dom.name is None:
            raise XMLError("missing name information")
        uuid_text = r.findtext("uuid")
        dom.uuid = parse_uuid(uuid_text) if uuid_text else uuidlib.UUID(int=0)
        dom.description = r.findtext("description")
        dom.memory = _kib(r.find("memory"))
        current = r.find("currentMemory")
        dom.current_memory = _kib(current) if current is not None else dom.memory
        dom.current_memory = min(dom.current_memory, dom.memory)
        dom.min_guarantee = _kib(r.find("memtune/min_guarantee"))
        vcpu = r.find("vcpu")
        dom.vcpus = _int(vcpu, default=1) or 1
        if vcpu is not None:
            dom.current_vcpus = _int(vcpu, "current")
            if vcpu.get("cpuset"):
                dom.cpuset = parse_cpuset(vcpu.get("cpuset", ""))
        shares = r.find("cputune/shares")
        dom.shares = _int(shares)
        os_type = r.find("os/type")
        dom.os_type = os_type.text.strip() if os_type is not None and os_type.text else "hvm"
        dom.arch = os_type.get("arch") if os_type is not None else None
        smbios = r.find("os/smbios")
        dom.smbios_mode = smbios.get("mode") if smbios is not None else None
        os_el = r.find("os")
        dom.firmware = os_el.get("firmware") if os_el is not None else None
        cpu = r.find("cpu")
        if cpu is not None:
            dom.has_cpu = True
            dom.cpu_mode = cpu.get("mode", "custom")
            topo = cpu.find("topology")
            if topo is not None:
                dom.topology = CPUTopology(_int(topo, "sockets", 1) or 0, _int(topo, "dies", 1) or 0,
                                           _int(topo, "cores", 1) or 0, _int(topo, "threads", 1) or 0)
        for el in r.iterfind("devices/*"):
            self.device(dom, el)
        self.post_parse(dom)
        return dom

    def device(self, dom: DomainDef, el: etree._Element) -> None:
        tag = el.tag
        if tag == "disk":
            dom.disks.append(self.disk(el))
        elif tag == "controller":
            ctrl = ControllerDef(el.get("type") or "", _int(el, "index", -1) or 0, el.get("model"))
            dom.controllers.append(ctrl)
        elif tag == "filesystem":
            src = el.find("source")
            dst = el.find("target")
            dom.filesystems.append(FilesystemDef(
                el.get("type") or "mount",
                (src.get("dir") or src.get("name") or src.get("file")) if src is not None else None,
                dst.get("dir") if dst is not None else None,
                el.find("readonly") is not None, el.get("accessmode") or "passthrough"))
        elif tag == "interface":
            dom.nets.append(self.net(el))
        elif tag in ("serial", "parallel", "console"):
            getattr(dom, tag + "s").append(self.chr(el))
        elif tag == "graphics":
            dom.graphics.append(self.graphics(el))
        elif tag == "video":
            model = el.find("model")
            dom.videos.append(VideoDef(model.get("type", "default") if model is not None else "default",
                                       _int(model, "vram"), _int(model, "heads", 1) or 0,
                                       model is not None and model.get("primary") == "yes"))

    def disk(self, el: etree._Element) -> DiskDef:
        target = el.find("target")
        if target is None or not target.get("dev"):
            raise XMLError("missing target information for device")
        dst = target.get("dev", "")
        device = el.get("device") or "disk"
        bus = target.get("bus") or _default_bus(dst, device)
        disk = DiskDef(device, bus, dst, el.get("type") or "file")
        src = el.find("source")
        if src is not None:
            disk.src = src.get("file") if disk.type == "file" else src.get("dev") if disk.type == "block" else None
            disk.startup_policy = src.get("startupPolicy")
        driver = el.find("driver")
        if driver is not None:
            disk.driver_name = driver.get("name")
            disk.cache = driver.get("cache")
        disk.readonly = el.find("readonly") is not None
        disk.transient = el.find("transient") is not None
        addr = el.find("address")
        if addr is not None:
            disk.address_type = addr.get("type")
            if disk.address_type == "drive":
                disk.address = DriveAddress(_int(addr, "controller", 0) or 0, _int(addr, "bus", 0) or 0,
                                            _int(addr, "target", 0) or 0, _int(addr, "unit", 0) or 0)
        return disk

    def net(self, el: etree._Element) -> NetDef:
        net = NetDef(el.get("type") or "")
        mac = el.find("mac")
        if mac is not None and mac.get("address"):
            net.mac = format_mac(parse_mac(mac.get("address", "")))
        else:
            net.mac = generate_mac(VMWARE_MAC_PREFIX)  # as libvirt does, with the VMX driver's prefix
        if mac is not None:
            net.mac_type = mac.get("type")
            check = mac.get("check")
            net.mac_check = None if check is None else check == "yes"
        src = el.find("source")
        if src is not None:
            net.bridge = src.get("bridge")
            if net.type == "vds":
                net.switch_id = src.get("switchid")
                net.port_id = _int(src, "portid", 0) or 0
                net.portgroup_id = src.get("portgroupid")
                net.connection_id = _int(src, "connectionid", 0) or 0
        target = el.find("target")
        if target is not None:
            net.ifname = target.get("dev")
        model = el.find("model")
        if model is not None:
            net.model = model.get("type")
        return net

    def chr(self, el: etree._Element) -> ChrDef:
        chr_ = ChrDef(el.tag, el.get("type") or "pty")
        src = el.find("source")
        if src is not None:
            chr_.path = src.get("path")
            chr_.host = src.get("host")
            chr_.service = src.get("service")
            chr_.listen = src.get("mode") == "bind"
        proto = el.find("protocol")
        if proto is not None:
            chr_.protocol = proto.get("type") or "raw"
        target = el.find("target")
        chr_.port = _int(target, "port", -1) if target is not None else -1  # type: ignore[assignment]
        chr_.target_type = target.get("type") if target is not None else None
        return chr_

    def graphics(self, el: etree._Element) -> GraphicsDef:
        gr = GraphicsDef(el.get("type") or "")
        port = _int(el, "port", 0) or 0
        autoport = el.get("autoport")
        gr.autoport = autoport == "yes" or (autoport is None and port in (0, -1))
        gr.port = 0 if port == -1 or gr.autoport else port
        listen = el.find("listen")
        gr.listen = el.get("listen") or (listen.get("address") if listen is not None else None)
        gr.keymap = el.get("keymap")
        gr.passwd = el.get("passwd")
        return gr

    def post_parse(self, dom: DomainDef) -> None:
        for disk in dom.disks:
            if disk.address is None and disk.address_type is None:
                disk.address = default_drive_address(dom, disk)
        # Ports of serial/parallel devices without one are numbered in order.
        for devices in (dom.serials, dom.parallels):
            for pos, chr_ in enumerate(devices):
                if chr_.port < 0:
                    chr_.port = max((c.port for c in devices[:pos]), default=-1) + 1
        add_implicit_controllers(dom)
        if dom.graphics and not dom.videos:
            dom.videos.append(VideoDef("default"))
        for video in dom.videos:
            if video.type == "default":
                video.type = "vmvga"  # the vmware driver's default model
            if video.vram is None and video.type == "vmvga":
                video.vram = 4 * 1024
        if dom.videos:
            dom.videos[0].primary = True


def _default_bus(dst: str, device: str) -> str:
    if device == "floppy" or dst.startswith("fd"):
        return "fdc"
    if dst.startswith("hd"):
        return "ide"
    if dst.startswith("sd"):
        return "scsi"
    if dst.startswith("vd"):
        return "virtio"
    if dst.startswith("xvd"):
        return "xen"
    return "ide"
