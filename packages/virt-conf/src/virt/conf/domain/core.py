"""The ``<domain>`` root: its fields in libvirt's order, generic post-parse defaults and checks."""

from __future__ import annotations

import uuid as _uuid
from collections.abc import Iterator
from operator import attrgetter
from typing import Any

from lxml import etree
from virt.conf.domain.address import DriveAddress, VirtioSerialAddress
from virt.conf.domain.cpu import (
    CPU,
    CPUTune,
    DefaultIOThread,
    IOThread,
    IOThreadIDs,
    Vcpu,
    Vcpus,
    VcpuState,
)
from virt.conf.domain.devices import Devices
from virt.conf.domain.devices.base import Device
from virt.conf.domain.devices.chardev import ChrTarget, Console, Serial
from virt.conf.domain.devices.disk import Disk, disk_name_to_index
from virt.conf.domain.devices.misc import Input, Video, VideoModel
from virt.conf.domain.features import Features
from virt.conf.domain.memory import (
    BlkioTune,
    CurrentMemory,
    MaxMemory,
    Memory,
    MemoryBacking,
    MemTune,
    NumaMemory,
    NumaTune,
    Resource,
    xml_detail,
)
from virt.conf.domain.namespaces import (
    PREFIXES,
    Namespaces,
    format_namespaces,
    parse_namespaces,
)
from virt.conf.domain.os import OS, IdMap, OSType, Sysinfo, host_arch
from virt.conf.domain.os import Boot as OSBoot
from virt.conf.domain.platform import CRASH, LOCKFAILURE, PM, Clock, Perf
from virt.conf.domain.security import Keywrap, LaunchSecurity, Seclabel
from virt.conf.domain.types import UInt10
from virt.conf.domain.validate import validate_domain
from virt.conf.xmlmodel import (
    UUID,
    Attr,
    Child,
    Children,
    Enum,
    Model,
    ParseContext,
    Raw,
    String,
    TextChild,
    Writer,
    write_dispatch,
    write_models,
)
from virt.util.errors import ConfigUnsupportedError, XMLError

VIRT_TYPES = ("none", "qemu", "kqemu", "kvm", "xen", "lxc", "uml", "openvz", "test", "vmware", "hyperv", "vbox",
              "phyp", "parallels", "bhyve", "vz", "hvf", "ch")


_BOOT = attrgetter("boot")
_ORDER = attrgetter("order")
_VIRT_TYPE = Enum(*VIRT_TYPES, name="domain type")


class Genid(Model):
    """``<genid>``: empty means "generate one"."""

    TAG = "genid"
    value = __import__("virt.conf.xmlmodel", fromlist=["Text"]).Text(String)

    def post_parse(self, ctx: ParseContext) -> None:
        if not self.value or not self.value.strip():
            self.value = str(_uuid.uuid4())
            self.generated = True
        else:
            try:
                self.value = UUID.parse(self.value)
            except ValueError:
                raise XMLError("malformed genid element") from None


class Domain(Model):
    """A libvirt domain definition.

    Parse with ``Domain.parse(xml, ParseContext(inactive=...))`` (or ``virt.conf.parse``); print with
    ``format(inactive=..., secure=...)``. Devices are in ``domain.devices.<kind>`` lists.
    """

    TAG = "domain"
    type = Attr(_VIRT_TYPE)
    id = Attr(String)
    name = TextChild(String)
    uuid = TextChild(String)
    genid = Child(Genid)
    title = TextChild(String)
    description = TextChild(String)
    metadata = Raw()
    maxMemory = Child(MaxMemory)
    memory = Child(Memory)
    currentMemory = Child(CurrentMemory)
    blkiotune = Child(BlkioTune)
    memtune = Child(MemTune)
    memoryBacking = Child(MemoryBacking)
    vcpu = Child(Vcpu)
    vcpus = Child(Vcpus)
    iothreads = TextChild(UInt10)
    iothreadids = Child(IOThreadIDs)
    defaultiothread = Child(DefaultIOThread)
    cputune = Child(CPUTune)
    numatune = Child(NumaTune)
    resource = Child(Resource)
    sysinfos = Children(Sysinfo)
    bootloader = TextChild(String)
    bootloader_args = TextChild(String)
    os = Child(OS)
    idmap = Child(IdMap)
    features = Child(Features)
    cpu = Child(CPU)
    clock = Child(Clock)
    on_poweroff = TextChild(String)
    on_reboot = TextChild(String)
    on_crash = TextChild(String)
    on_lockfailure = TextChild(String)
    pm = Child(PM)
    perf = Child(Perf)
    devices = Child(Devices)
    seclabels = Children(Seclabel)
    keywrap = Child(Keywrap)
    launchSecurity = Child(LaunchSecurity)

    namespaces: Namespaces

    # -- parsing -------------------------------------------------------------------------------
    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        self.namespaces = Namespaces()
        consumed = parse_namespaces(el, self.namespaces)
        # live-only: the id of a running domain
        return consumed | {"@id"}

    def post_parse(self, ctx: ParseContext) -> None:
        self._parsed_inactive = ctx.inactive
        if ctx.inactive:
            self.id = None
        elif self.id is not None:
            try:
                if int(self.id) < -1:
                    raise ValueError
            except ValueError:
                raise XMLError(f"invalid domain id '{self.id}'") from None
            if self.id == "-1":
                self.id = None
        if self.type is None:
            raise XMLError("missing domain type attribute")
        self._post_parse_identity()
        if self.metadata is not None:
            self.metadata = sanitize_metadata(self.metadata)
        self._post_parse_os(ctx)
        if self.devices is None:
            self.devices = Devices()
        # (from here on the os has a type: its name and arch are read directly, not through OS properties)
        self.devices.hvm = self.os.type.name == "hvm"
        self._post_parse_vcpus()
        self._post_parse_placement()
        self._post_parse_iothreads()
        if self.cputune is not None:
            self.cputune.limit_to(self.vcpu.count, [t.id for t in self._iothread_list])
        self._post_parse_memory(ctx)
        self._post_parse_lifecycle()
        if self.clock is None:
            self.clock = Clock(offset="utc")
        self._post_parse_devices(ctx)
        self._post_parse_common(ctx)

    def _post_parse_identity(self) -> None:
        if self.name is None or not self.name:
            raise XMLError("missing name information in domain", code=21, message="missing name information")
        if "\n" in self.name:
            raise XMLError("invalid name: name contains illegal character")
        if self.uuid is None:
            self.uuid = str(_uuid.uuid4())
            self._uuid_generated = True
        else:
            try:
                self.uuid = UUID.parse(self.uuid)
            except ValueError:
                raise XMLError("malformed uuid element") from None
        if self.title is not None and "\n" in self.title:
            raise XMLError("Domain title can't contain newlines")
        for s in self.sysinfos:
            sys_uuid = s.system_uuid()
            if sys_uuid is not None:
                try:
                    parsed = UUID.parse(sys_uuid)
                except ValueError:
                    raise XMLError("malformed <sysinfo> uuid element") from None
                if getattr(self, "_uuid_generated", False):
                    self.uuid = parsed
                    self._uuid_generated = False
                elif parsed != self.uuid:
                    raise ConfigUnsupportedError("UUID mismatch between <uuid> and <sysinfo>")

    def _post_parse_os(self, ctx: ParseContext) -> None:
        if self.os is None:
            self.os = OS()
        os_ = self.os
        if os_.type is None or not os_.type.name:
            if self.bootloader is not None or self.type in ("xen",):
                if os_.type is None:
                    os_.type = OSType()
                os_.type.name = "xen"
            else:
                raise XMLError("an os <type> must be specified")
        if os_.type.arch is None:
            os_.type.arch = ctx.options["default_arch"] if "default_arch" in ctx.options else host_arch()
        # (boot order, bootmenu, loader and friends are read for HVM guests only)
        if os_.type.name == "exe" and not os_.init:
            raise XMLError("init binary must be specified")

    def _post_parse_vcpus(self) -> None:
        if self.vcpu is None:
            self.vcpu = Vcpu(placement="static", count=1)
        vc = self.vcpu
        if self.vcpus is not None and self.vcpus.vcpus:
            states: list[VcpuState | None] = [None] * vc.count
            for v in self.vcpus.vcpus:
                if v.id is None:
                    raise XMLError("missing vcpu id")
                if v.id >= vc.count:
                    raise XMLError("vcpu id must be lower than what <vcpu> element permits")
                if states[v.id] is not None:
                    raise XMLError(f"duplicate vcpu id '{v.id}'")
                if v.enabled is None:
                    raise XMLError("missing vcpu enabled state")
                states[v.id] = v
            filled = [s or VcpuState(id=i, enabled=False) for i, s in enumerate(states)]
            orders = [s.order for s in filled if s.order]
            if len(set(orders)) != len(orders):
                raise XMLError("duplicate vcpu order")
            self.vcpus.vcpus = filled
            # the online vCPUs count wins over the current attribute
            vc.current = sum(1 for s in filled if s.enabled)
        else:
            self.vcpus = None
        if vc.current == vc.count:
            vc.current = None

    def _post_parse_placement(self) -> None:
        """vCPU and NUMA memory placement default to each other (auto begets auto)."""
        vc = self.vcpu
        nt = self.numatune
        if not getattr(vc, "placement_given", True) and nt is not None and nt.memory is not None and nt.memory.placement == "auto":
            vc.placement = "auto"
            vc.cpuset = None
        if vc.placement == "auto" and (nt is None or nt.memory is None):
            if nt is None:
                nt = self.numatune = NumaTune()
            nt.memory = NumaMemory(mode="strict", placement="auto")
        if nt is not None:
            nt.settle_placement(vc.placement == "auto")

    def _post_parse_iothreads(self) -> None:
        ids = self.iothreadids.iothreads if self.iothreadids is not None else []
        seen: set[int] = set()
        for t in ids:
            if t.id in seen:
                raise XMLError(f"duplicate iothread id '{t.id}' found")
            seen.add(t.id)
        count = self.iothreads or 0
        explicit = bool(ids)
        need = max(count, len(ids))
        nxt = 1
        autofilled: list[Any] = []
        while len(ids) + len(autofilled) < need:
            while nxt in seen:
                nxt += 1
            autofilled.append(IOThread(id=nxt))
            seen.add(nxt)
        if ids or autofilled:
            self.iothreads = len(ids) + len(autofilled)
            all_ids = ids + autofilled
            self._iothreads_explicit = explicit
            self.iothreadids = IOThreadIDs(iothreads=all_ids) if explicit else None
            self._iothread_list = all_ids
        else:
            self.iothreads = None
            self.iothreadids = None
            self._iothread_list = []

    def _post_parse_memory(self, ctx: ParseContext) -> None:
        numa_kib = self.cpu.numa.memory_kib if self.cpu is not None and self.cpu.numa is not None else 0
        hotplug = sum(m.size_kib for m in self.devices.memories)
        if self.memory is None:
            self.memory = Memory()
        total = self.memory.value or 0
        if total and not ctx.options.get("abi_update"):
            numa_kib = 0
        if numa_kib:
            total = numa_kib + hotplug
            self.memory.value = total
            self.memory.unit = "KiB"
        elif hotplug > total:
            raise XMLError("Total size of memory devices exceeds the total memory size")
        if total - hotplug == 0 or not total:
            raise XMLError("Memory size must be specified via <memory> or in the <numa> configuration")
        cur = self.currentMemory.value if self.currentMemory is not None else 0
        if not cur or cur > total:
            self.currentMemory = CurrentMemory(value=total, unit="KiB")
        mm = self.maxMemory
        if mm is not None:
            if (mm.value or 0) == 0 and not mm.slots:
                self.maxMemory = None
            elif not (mm.value and mm.slots):
                raise XMLError("both maximum memory size and memory slot count must be specified")
            elif mm.value < total:
                raise XMLError("maximum memory size must be equal or greater than the actual memory size")

    def _post_parse_lifecycle(self) -> None:
        for name, allowed, default in (("on_poweroff", CRASH, "destroy"), ("on_reboot", CRASH, "restart"),
                                       ("on_crash", CRASH, "destroy")):
            v = getattr(self, name)
            if v is None:
                setattr(self, name, default)
            elif v not in allowed:
                raise XMLError(f"unknown {name} action: {v}")
        if self.on_lockfailure is not None and self.on_lockfailure not in LOCKFAILURE:
            raise XMLError(f"unknown lock failure action: {self.on_lockfailure}")

    def _post_parse_devices(self, ctx: ParseContext) -> None:
        devs = self.devices
        os_type = self.os.type.name
        arch = self.os.type.arch
        wide_scsi = "wide_scsi" in ctx.options.get("features", ())
        for d in devs.disks:
            if d.address is None or d.address.type == "none":
                assign_disk_address(d, wide_scsi)
        for i in devs.inputs:
            i.set_default_bus(os_type, arch, self.type)
        for c in devs.controllers:
            if c.index is None:
                used = {x.index for x in devs.controllers if x.type == c.type and x.index is not None}
                idx = 0
                while idx in used:
                    idx += 1
                c.index = idx
        # chardev port numbers
        for kind in ("serials", "parallels", "consoles"):
            maxport = -1
            for ch in getattr(devs, kind):
                if ch.target is None:
                    ch.target = ChrTarget()
                port = ch.target_port
                if port is None:
                    port = maxport + 1
                    ch.target.port = str(port)
                maxport = max(maxport, port)
        for ch in devs.channels:
            a = ch.address
            if ch.target.type == "virtio" and isinstance(a, VirtioSerialAddress) and not a.port:
                top = 0
                for other in devs.channels:
                    oa = other.address
                    if (other is not ch and isinstance(oa, VirtioSerialAddress) and oa.controller == a.controller
                            and oa.bus == a.bus and (oa.port or 0) > top):
                        top = oa.port or 0
                a.port = top + 1
        # implicit inputs for graphics (virDomainDefParseXML)
        if devs.graphics and (arch in ("i686", "x86_64") or arch is None):
            bus = "ps2" if os_type == "hvm" else "xen"
            if self.type in ("vz", "parallels"):
                bus = "parallels"
            for itype in ("mouse", "keyboard"):
                if not any(i.type == itype and i.bus == bus for i in devs.inputs):
                    devs.inputs.append(Input(type=itype, bus=bus))
        for hd in devs.hostdevs:
            if hd.mode == "subsystem" and hd.type == "scsi" and (hd.address is None or hd.address.type == "none"):
                assign_hostdev_scsi_address(self, hd, wide_scsi)

    def _post_parse_common(self, ctx: ParseContext) -> None:
        devs = self.devices
        if self.memtune is not None and self.memtune.is_empty():
            self.memtune = None
        self._reject_duplicate_controllers()
        panics = [p.model for p in devs.panics]
        if len(set(panics)) != len(panics):
            raise XMLError(f"Multiple panic devices with model '{panics[0]}' are not supported")
        if self.os.type.name == "hvm" and "no_boot_order" not in ctx.options.get("features", ()):
            self._boot_order()
        self.add_console_compat()
        self.add_implicit_controllers()
        self.add_implicit_video()
        for v in devs.videos:
            v.fill_defaults(self.type)
        if devs.videos and devs.videos[0].model.type != "none":
            devs.videos[0].model.primary = True
        for g in devs.graphics:
            if g.type == "spice" and g.listens:
                ls = g.listens[0]
                if ls.type == "address" and not g.port and not g.tlsPort and not g.autoport:
                    ls.address = None
                    ls.type = "none"
        cpu = self.cpu
        if cpu is not None and cpu.mode == "custom" and (cpu.model is None or not cpu.model.name) and \
                cpu.check is not None:
            raise ConfigUnsupportedError("check attribute specified for CPU with no model")

    def _reject_duplicate_controllers(self) -> None:
        seen: set[tuple[str, int]] = set()
        for c in self.devices.controllers:
            if c.master is not None:  # (a field of every device)
                continue
            key = (c.type, c.index)
            if key in seen:
                raise XMLError(f"Multiple '{c.type}' controllers with index '{c.index}'")
            seen.add(key)

    def _boot_order(self) -> None:
        # (C-level loops over every device: kinds without <boot> read the class attribute None)
        orders = list(filter(None, map(_ORDER, filter(None, map(_BOOT, self.devices.all_now())))))
        device_boot = bool(orders)
        if len(set(orders)) != len(orders):
            seen: set[int] = set()
            for order in orders:
                if order in seen:
                    raise XMLError(f"boot order '{order}' used for more than one device")
                seen.add(order)
        if self.os.boots and device_boot:
            raise ConfigUnsupportedError("per-device boot elements cannot be used together with os/boot elements")
        if not self.os.boots and not device_boot and self.bootloader is None:
            self.os.boots = [OSBoot(dev="hd")]

    def add_console_compat(self) -> None:
        """libvirt's console/serial back-compat: an HVM console of target type serial aliases serials[0]."""
        devs = self.devices
        for c in devs.consoles[1:]:
            if c.target is not None and c.target.type == "serial":
                raise ConfigUnsupportedError("Only the first console can be a serial port")
        if devs.consoles and self.os.os_type == "hvm" and devs.consoles[0].target.type in ("serial", "none"):
            con = devs.consoles[0]
            if not devs.serials:
                serial = Serial(type=con.type, tty=con.tty, sources=con.sources, protocol=con.protocol,
                                log=con.log, target=ChrTarget(port="0"), alias=con.alias, address=con.address)
                devs.serials.append(serial)
                stub = Console(type=con.type, sources=con.sources, protocol=con.protocol, log=con.log,
                               target=ChrTarget(type="serial", port="0"), alias=con.alias)
                devs.consoles[0] = stub
            else:
                if not devs.serials[0].sources_equal(con):
                    devs.consoles[0] = Console(type="pty", target=ChrTarget(type="serial", port="0"))
                else:
                    con.target.type = "serial"
                    con.target.port = "0"
        elif (self.os.os_type == "hvm" and devs.serials and
              (not devs.consoles or devs.consoles[0].target.type not in ("serial", "none"))):
            # the first serial port doubles as the first console
            devs.consoles.insert(0, Console(type="pty", target=ChrTarget(type="serial", port="0")))

    def add_implicit_controllers(self) -> None:
        """Controllers that devices' addresses imply (virDomainDefAddImplicitControllers)."""
        devs = self.devices
        tops: dict[str | None, int] = {}  # drive bus -> highest controller its disks' addresses name
        for d in devs.disks:
            a = d.address
            if isinstance(a, DriveAddress):
                bus = d.bus
                tops[bus] = max(tops.get(bus, -1), a.controller or 0)
        if tops:
            for ctype in ("scsi", "fdc", "ide", "sata"):  # (each bus's controller type has its name)
                for i in range(tops.get(ctype, -1) + 1):
                    devs.add_controller(ctype, i)
        for ch in list(devs.channels) + list(devs.consoles):
            if ch.target is not None and ch.target.type == "virtio":
                idx = ch.address.controller if isinstance(ch.address, VirtioSerialAddress) else 0
                if ch.TAG == "console" and not isinstance(ch.address, VirtioSerialAddress):
                    idx = 0
                devs.add_controller("virtio-serial", idx or 0)
        for sc in devs.smartcards:
            a = sc.address
            idx = 0
            if a is not None and a.type == "ccid":
                idx = a.controller or 0
            elif a is None or a.type == "none":
                top = -1
                for other in devs.smartcards:
                    oa = other.address
                    if oa is not None and oa.type == "ccid" and (oa.controller or 0) == 0:
                        top = max(top, oa.slot or 0)
                from virt.conf.domain.address import CCIDAddress
                sc.address = CCIDAddress(controller=0, slot=top + 1)
            devs.add_controller("ccid", idx)
        top = -1
        for hd in devs.hostdevs:
            if hd.mode == "subsystem" and hd.type == "scsi" and isinstance(hd.address, DriveAddress):
                top = max(top, hd.address.controller or 0)
        for i in range(top + 1):
            devs.add_controller("scsi", i)

    def add_implicit_video(self) -> None:
        devs = self.devices
        if not devs.graphics or devs.videos:
            return
        vtype = default_video_type(self.type, self.os.os_type, self.os.arch)
        v = Video(model=VideoModel(type=vtype, heads=1))
        devs.videos.append(v)

    def validate(self, ctx: ParseContext) -> None:
        if "/" in (self.name or ""):
            raise XMLError(f"name {self.name} cannot contain '/'")
        devs = self.devices
        targets: dict[str, Disk] = {}
        addrs: dict[tuple[str, int, int, int, int], Disk] = {}
        for d in devs.disks:
            tgt = d.target  # (read once for Disk.dev and Disk.bus)
            dev = tgt.dev if tgt is not None else ""
            prev = targets.get(dev)
            if prev is not None:
                raise XMLError(f"target '{dev}' duplicated for disk sources '{prev.source_path or ''}' and "
                               f"'{d.source_path or ''}'")
            targets[dev] = d
            a = d.address
            if isinstance(a, DriveAddress):
                key = ((tgt.bus if tgt is not None else None) or "", a.controller or 0, a.bus or 0,
                       a.target or 0, a.unit or 0)
                if key in addrs:
                    raise ConfigUnsupportedError(f"Found duplicate drive address for disk with target name "
                                                 f"'{addrs[key].dev}' "
                                   f"controller='{key[1]}' bus='{key[2]}' target='{key[3]}' unit='{key[4]}'")
                addrs[key] = d
        vc = self.vcpu
        if self.cputune is not None:
            for pin in self.cputune.vcpupins:
                if pin.vcpu >= vc.count:
                    raise XMLError(f"vcpupin for vcpu '{pin.vcpu}' is out of range of maximum vcpus")
            ids = {t.id for t in self._iothread_list}
            for pin in self.cputune.iothreadpins:
                if pin.iothread not in ids:
                    raise XMLError(f"Cannot find 'iothread' : {pin.iothread}")
        if self.memoryBacking is not None and self.memoryBacking.hugepages is not None:
            ncells = len(self.cpu.numa.cells) if self.cpu is not None and self.cpu.numa is not None else 0
            for page in self.memoryBacking.hugepages.pages:
                if page.nodeset:
                    for node in page.nodeset:
                        if node >= ncells:
                            raise xml_detail(f"hugepages: node {node} not found")
        if self.numatune is not None:
            ncells = len(self.cpu.numa.cells) if self.cpu is not None and self.cpu.numa is not None else 0
            for mn in self.numatune.memnodes:
                if mn.cellid >= ncells:
                    raise XMLError("Argument 'cellid' in memnode element must correspond to existing guest's "
                                   "NUMA cell")
        if self.cpu is not None and self.cpu.numa is not None:
            for cell in self.cpu.numa.cells:
                for c in cell.cpus or ():
                    if c >= vc.count:
                        raise XMLError("Number of CPUs in <numa> exceeds the <vcpu> count")
        validate_domain(self)

    # -- formatting ----------------------------------------------------------------------------
    def format(self, indent: int = 0, *, inactive: bool | None = None,  # type: ignore[override]
               secure: bool = True) -> str:
        """The domain as libvirt prints it; ``inactive`` drops live-only data as ``dumpxml --inactive``
        (default: as it was parsed). ``secure=False`` hides passwords as dumpxml without --security-info."""
        if inactive is None:
            inactive = getattr(self, "_parsed_inactive", True)
        w = Writer(indent)
        w.inactive = inactive
        w.secure = secure
        self.write(w)
        return w.getvalue()

    def write(self, w: Writer, tag: str | None = None) -> None:
        attrs = [("type", self.type or "none")]
        if self.id is not None and not getattr(w, "inactive", False):
            attrs.append(("id", self.id))
        ns = getattr(self, "namespaces", None)
        if ns is not None:
            attrs.extend((f"xmlns:{PREFIXES[uri]}", uri) for uri in ns.used())
        w.start("domain", attrs)
        mark = w.mark()
        d = self.__dict__
        dispatch = write_dispatch
        for name, ftag, how in _WRITTEN.get(type(self)) or _written_fields(type(self)):
            value = d[name]
            if value is None or value is False:
                continue
            if how is _LIST:
                if value:
                    write_models(value, w, ftag)
            elif how is _CHILD:
                dispatch[value.__class__](value, w, ftag)
            elif how is _CHILD_UNLESS_EMPTY:
                is_empty = getattr(value, "is_empty", None)
                if is_empty is None or not is_empty():
                    dispatch[value.__class__](value, w, ftag)
            elif how is _RAW:
                w.raw(value)
            else:
                w.leaf(ftag or name, (), how(value))
                if name == "iothreads" and d.get("_iothread_list") and self._iothreadids_shown():
                    IOThreadIDs(iothreads=self._iothread_list).write(w)
        if ns is not None:
            format_namespaces(ns, w)
        w.end("domain", None, mark)

    def _iothreadids_shown(self) -> bool:
        lst = getattr(self, "_iothread_list", [])
        return bool(getattr(self, "_iothreads_explicit", False)) or any(
            t.thread_pool_min is not None or t.thread_pool_max is not None or t.poll is not None for t in lst)

    def copy(self) -> Domain:  # type: ignore[override]
        """A deep copy, live data kept if the domain was parsed live."""
        inactive = getattr(self, "_parsed_inactive", True)
        return Domain.from_element(etree.fromstring(self.format(inactive=inactive).encode()),
                                   ParseContext(inactive=inactive, options={"default_arch": self.os.arch}))

    # -- convenience ---------------------------------------------------------------------------
    @property
    def iothread_ids(self) -> list[IOThread]:
        """Every iothread (explicit and autofilled), in order."""
        return list(getattr(self, "_iothread_list", []))

    @property
    def max_vcpus(self) -> int:
        return self.vcpu.count if self.vcpu is not None else 1

    @property
    def current_vcpus(self) -> int:
        vc = self.vcpu
        return vc.current if vc is not None and vc.current is not None else self.max_vcpus

    @property
    def memory_kib(self) -> int:
        return self.memory.kib if self.memory is not None else 0

    @property
    def current_memory_kib(self) -> int:
        return self.currentMemory.kib if self.currentMemory is not None else self.memory_kib

    def iter_devices(self) -> Iterator[Device]:
        return iter(self.devices)

    def find_device(self, alias: str | None = None, target: str | None = None) -> Device | None:
        return self.devices.find(alias=alias, target=target)

    @property
    def has_numa(self) -> bool:
        return self.cpu is not None and self.cpu.numa is not None and bool(self.cpu.numa.cells)


_LIST, _CHILD, _CHILD_UNLESS_EMPTY, _RAW = (object() for _ in range(4))
#: Domain class -> its written fields: (name, tag, how), how being one of the markers above or a
#: TextChild's formatter (Domain.write's plan, made once).
_WRITTEN: dict[type[Domain], list[tuple[str, str | None, Any]]] = {}


def _written_fields(cls: type[Domain]) -> list[tuple[str, str | None, Any]]:
    written = _WRITTEN[cls] = []
    for f in cls._fields:
        if isinstance(f, Attr) or f.name == "iothreadids":  # (iothreadids follows iothreads)
            continue
        if isinstance(f, TextChild):
            written.append((f.name, f.tag, f.vtype.format))
        elif isinstance(f, Raw):
            written.append((f.name, None, _RAW))
        elif isinstance(f, Children):
            written.append((f.name, f._tag, _LIST))
        elif isinstance(f, Child):
            # empty optional elements are not printed; these three always are
            how = _CHILD if f.name in ("devices", "clock", "os") else _CHILD_UNLESS_EMPTY
            written.append((f.name, f._tag, how))
    return written


def sanitize_metadata(el: etree._Element) -> etree._Element:
    """libvirt's virXMLNodeSanitizeNamespaces: one element per namespace (the first), none without one."""
    seen: set[str] = set()
    copy = etree.fromstring(etree.tostring(el))
    for child in list(copy):
        tag = child.tag
        uri = etree.QName(tag).namespace if isinstance(tag, str) else None
        if uri is None or uri in seen:
            copy.remove(child)
        else:
            seen.add(uri)
    return copy


def default_video_type(virt_type: str | None, os_type: str | None, arch: str | None) -> str:
    """libvirt's virDomainVideoDefaultType."""
    if virt_type in ("test", "xen"):
        if os_type in ("xen", "linux", "xenpvh"):
            return "xen"
        if arch in ("ppc64", "ppc64le"):
            return "vga"
        return "cirrus"
    if virt_type == "vbox":
        return "vbox"
    if virt_type == "phyp":
        return "vga"
    if virt_type == "vmware":
        return "vmvga"
    if virt_type in ("vz", "parallels"):
        return "vga" if os_type == "hvm" else "parallels"
    if virt_type == "bhyve":
        return "gop"
    return "default"


def assign_disk_address(disk: Disk, wide_scsi: bool = False) -> None:
    """libvirt's virDomainDiskDefAssignAddress: a drive address from the target name."""
    idx = disk_name_to_index(disk.dev)
    bus = disk.bus
    if bus not in ("scsi", "ide", "sata", "fdc"):
        return
    if idx < 0:
        raise XMLError(f"Unknown disk name '{disk.dev}' and no address specified")
    if bus == "scsi":
        if wide_scsi:
            controller, unit = divmod(idx, 15)
            if unit >= 7:
                unit += 1
        else:
            controller, unit = divmod(idx, 7)
        disk.address = DriveAddress(controller=controller, bus=0, target=0, unit=unit)
    elif bus == "ide":
        disk.address = DriveAddress(controller=idx // 4, bus=(idx % 4) // 2, target=0, unit=idx % 2)
    elif bus == "sata":
        disk.address = DriveAddress(controller=idx // 6, bus=0, target=0, unit=idx % 6)
    elif bus == "fdc":
        disk.address = DriveAddress(controller=idx // 2, bus=0, target=0, unit=idx % 2)


def assign_hostdev_scsi_address(dom: Domain, hostdev: Any, wide_scsi: bool) -> None:
    max_unit = 64 if wide_scsi else 8
    used = set()
    for d in dom.devices.disks:
        if d.bus == "scsi" and isinstance(d.address, DriveAddress):
            a = d.address
            used.add((a.controller, a.bus, a.target, a.unit))
    for h in dom.devices.hostdevs:
        if h is not hostdev and h.type == "scsi" and isinstance(h.address, DriveAddress):
            a = h.address
            used.add((a.controller, a.bus, a.target, a.unit))
    controller = 0
    while True:
        for unit in range(max_unit):
            if unit == 7 and not wide_scsi:
                pass
            if (controller, 0, 0, unit) not in used:
                hostdev.address = DriveAddress(controller=controller, bus=0, target=0, unit=unit)
                return
        controller += 1


def register_virt_type(name: str) -> None:
    """Let ``<domain type='NAME'>`` parse: for hypervisor drivers that libvirt does not know."""
    field = Domain._attrs["type"]
    assert isinstance(field.vtype, Enum)
    field.vtype.extend(name)
