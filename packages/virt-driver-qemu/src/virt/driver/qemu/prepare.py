"""What the qemu driver adds to a domain before it runs: defaults, implicit devices, addresses, aliases.

``prepare(xml, caps, cfg)`` parses the domain XML and applies, in libvirt's order, the qemu driver's
post-parse defaults (machine type, emulator, CPU model, controller and device models, implicit
controllers, inputs, audio, memballoon), assigns drive, virtio-serial, PCI and USB addresses and
the device aliases QEMU sees. The result is a ``Domain``: the completed XML tree plus typed
accessors that the command-line builder and the normalizer use.
"""

from __future__ import annotations

import re
import uuid as uuidlib
from collections.abc import Callable, Iterator
from typing import Any

from lxml import etree
from virt.driver.qemu import xmlutil as X
from virt.driver.qemu.caps import QemuCaps
from virt.driver.qemu.pciaddr import CONTROLLER_CONNECT, AddressSet, Conn, PCIAddr
from virt.driver.qemu.qemuconf import QemuConfig
from virt.util.errors import ConfigUnsupportedError, InternalError, XMLError

E = etree._Element

#: Device models that are virtio and get a -pci/-ccw suffix: which element attribute names it.
VIRTIO_TRANSITIONAL = ("virtio-transitional", "virtio-non-transitional")


def disk_name_to_index(name: str) -> int:
    """virDiskNameToIndex: hda -> 0, sdb -> 1, vdaa -> 26."""
    m = re.match(r"^(fd|hd|vd|sd|xvd|ubd)([a-z]+)(\d*)$", name)
    if not m:
        raise XMLError(f"Unknown disk name '{name}' and no address specified")
    idx = 0
    for ch in m.group(2):
        idx = idx * 26 + (ord(ch) - ord("a") + 1)
    return idx - 1


class Domain:
    """A domain being prepared: the XML tree and what the driver computed about it."""

    def __init__(self, root: E, caps: QemuCaps, cfg: QemuConfig) -> None:
        self.root = root
        self.caps = caps
        self.cfg = cfg
        self.id = -1

    # -- basic facts --------------------------------------------------------------------------
    @property
    def devices(self) -> E:
        dev = self.root.find("devices")
        if dev is None:
            dev = X.sub(self.root, "devices", order=_DOMAIN_ORDER)
        return dev

    @property
    def name(self) -> str:
        return X.text(self.root, "name") or ""

    @property
    def virt_type(self) -> str:
        return self.root.get("type", "")

    @property
    def arch(self) -> str:
        return X.get(self.root, "os/type", "arch") or "x86_64"

    @property
    def machine(self) -> str:
        return X.get(self.root, "os/type", "machine") or ""

    def is_q35(self) -> bool:
        m = self.machine
        return m == "q35" or m.startswith("pc-q35")

    def is_i440fx(self) -> bool:
        m = self.machine
        return m == "pc" or m.startswith(("pc-i440fx", "pc-0.", "pc-1."))

    def is_x86(self) -> bool:
        return self.arch in ("x86_64", "i686")

    def has_builtin_ide(self) -> bool:
        return self.is_x86() and (self.is_i440fx() or self.machine == "isapc")

    def has_pcie_root(self) -> bool:
        return any(c.get("model") == "pcie-root" for c in self.controllers("pci"))

    def has_pci_root(self) -> bool:
        return any(c.get("model") == "pci-root" for c in self.controllers("pci"))

    def all(self, *tags: str) -> list[E]:
        return X.elements(self.devices, tags)

    def controllers(self, ctype: str | None = None) -> list[E]:
        return [c for c in self.all("controller") if ctype is None or c.get("type") == ctype]

    def controller(self, ctype: str, index: int) -> E | None:
        return next((c for c in self.controllers(ctype) if int(c.get("index", "0")) == index), None)

    def feature(self, name: str) -> E | None:
        return self.root.find(f"features/{name}")

    def feature_state(self, name: str) -> bool | None:
        """<features><name state='on|off'/></features> (or presence for on/off-less features)."""
        el = self.feature(name)
        if el is None:
            return None
        state = el.get("state")
        if state is None:
            return True
        return X.yes(state)

    @property
    def short_name(self) -> str:
        """``<id>-<name, at most 20 characters>``: how paths name the domain (virDomainDefGetShortName)."""
        return f"{self.id}-{self.name[:20]}"

    @property
    def memory_kib(self) -> int:
        return X.parse_size_kib(self.root.find("memory"), 0) or 0

    def vcpus(self) -> tuple[int, int]:
        """(current, maximum) vCPUs."""
        v = self.root.find("vcpu")
        maxv = int((v.text or "1").strip()) if v is not None else 1
        cur = int(v.get("current")) if v is not None and v.get("current") else maxv
        return cur, maxv

    def numa_cells(self) -> list[E]:
        return self.root.findall("cpu/numa/cell")

    def has_memory_hotplug(self) -> bool:
        mm = self.root.find("maxMemory")
        return mm is not None


_DOMAIN_ORDER = ("name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory",
                 "currentMemory", "blkiotune", "memtune", "memoryBacking", "vcpu", "vcpus", "iothreads",
                 "iothreadids", "defaultiothread", "cputune", "numatune", "resource", "sysinfo", "bootloader",
                 "bootloader_args", "os", "idmap", "features", "cpu", "clock", "on_poweroff", "on_reboot",
                 "on_crash", "on_lockfailure", "pm", "perf", "devices", "seclabel", "keywrap", "launchSecurity")


# ----------------------------------------------------------------------------- the pipeline

def prepare(xml: str | bytes | E, caps: QemuCaps, cfg: QemuConfig, *, for_start: bool = True,
            abi_update: bool | None = None, **context: Any) -> Domain:
    """Parse ``xml`` and complete it as the qemu driver does (define + start preparation).

    ``context`` sets what only the running driver knows on the Domain: ``id``, ``volume_resolver``,
    ``secret_lookup``, ``port_allocator``, ``master_key``. ``abi_update`` (a new definition or a
    start; default: ``for_start``) also gives USB devices addresses."""
    root = xml if isinstance(xml, etree._Element) else X.parse(xml)
    dom = Domain(root, caps, cfg)
    for k, v in context.items():
        setattr(dom, k, v)
    _post_parse_domain(dom)
    _post_parse_devices(dom)
    _add_implicit(dom)
    _validate(dom)
    assign_addresses(dom, new_domain=for_start if abi_update is None else abi_update)
    if for_start:
        _start_disk_defaults(dom)
        from virt.driver.qemu import firmware, volumes

        firmware.select(dom)

        for disk in dom.all("disk"):
            volumes.translate(dom, disk)
        _start_channel_paths(dom)
        align_memory(dom)
        assign_aliases(dom)
        assign_boot_order(dom)
    return dom


def _start_channel_paths(dom: Domain) -> None:
    """Guest agent style channels without a socket path get one under channelTargetDir."""
    for ch in dom.all("channel"):
        src = ch.find("source")
        if ch.get("type") == "unix" and X.get(ch, "target", "type") == "virtio" and src is not None \
                and not src.get("path"):
            name = X.get(ch, "target", "name")
            if name:
                src.set("path", f"{dom.cfg.channelTargetDir}/domain-{dom.short_name}/{name}")


def _start_disk_defaults(dom: Domain) -> None:
    """A shared writable disk runs without host cache (cache='none') unless a mode is set."""
    for disk in dom.all("disk"):
        if disk.find("shareable") is not None and disk.find("readonly") is None:
            drv = disk.find("driver")
            if drv is None:
                drv = X.sub(disk, "driver")
            if not drv.get("cache"):
                drv.set("cache", "none")


def _round_up(v: int, align: int) -> int:
    return (v + align - 1) // align * align


def _set_kib(el: E, value: int) -> None:
    el.text = str(value)
    el.set("unit", "KiB")


def align_memory(dom: Domain) -> None:
    """Memory sizes as QEMU takes them (qemuDomainAlignMemorySizes): NUMA cells and the initial
    memory to 1 MiB, the maximum down to 1 MiB, memory modules to 2 MiB."""
    root = dom.root
    align = 1024
    initial = 0
    for cell in dom.numa_cells():
        size = _round_up(X.scale_to_kib(int(cell.get("memory", "0")), cell.get("unit", "KiB")), align)
        cell.set("memory", str(size))
        cell.set("unit", "KiB")
        initial += size
    mods = dom.all("memory")
    if not initial:
        total = dom.memory_kib
        for m in mods:
            total -= X.parse_size_kib(m.find("target/size"), 0) or 0
        initial = _round_up(total, align)
    mm = root.find("maxMemory")
    if mm is not None and mm.text:
        _set_kib(mm, (X.parse_size_kib(mm, 0) or 0) // align * align)
    hotplug = 0
    for m in mods:
        size_el = m.find("target/size")
        if size_el is None:
            continue
        size = _round_up(X.parse_size_kib(size_el, 0) or 0, 2048)
        _set_kib(size_el, size)
        hotplug += size
    mem = root.find("memory")
    if mem is not None:
        _set_kib(mem, initial + hotplug)


def assign_boot_order(dom: Domain) -> None:
    """Each device's effective bootindex: its own <boot order>, else from <os><boot dev>."""
    for el in dom.devices:
        if isinstance(el.tag, str):
            order = X.get(el, "boot", "order")
            if order:
                X.set_priv(el, "bootindex", order)
    devs = [b.get("dev") for b in dom.root.findall("os/boot")]
    if not devs:
        return
    pos = {d: i + 1 for i, d in enumerate(devs)}
    boot = {"cdrom": pos.get("cdrom", 0), "disk": pos.get("hd", 0), "floppy": pos.get("fd", 0)}
    for disk in dom.all("disk"):
        kind = {"cdrom": "cdrom", "floppy": "floppy"}.get(disk.get("device", "disk"), "disk")
        if boot[kind]:
            X.set_priv(disk, "bootindex", boot[kind])
            boot[kind] = 0
    net_boot = pos.get("network", 0)
    nets = dom.all("interface")
    if nets and net_boot:
        if nets[0].get("type") == "hostdev":
            X.set_priv(nets[0], "bootindex", net_boot)
        else:
            X.set_priv(nets[0], "bootindex", net_boot)


def _post_parse_domain(dom: Domain) -> None:
    root, caps = dom.root, dom.caps
    vt = root.get("type")
    if vt not in ("qemu", "kvm", "hvf"):
        raise XMLError(f"invalid domain type '{vt}'" if vt else "missing domain type attribute")
    if vt == "kvm" and not caps.has("kvm"):
        raise ConfigUnsupportedError("the 'kvm' virt type is not supported by the QEMU binary "
                                     f"'{caps.binary}' on this host (is /dev/kvm usable?)")
    if vt == "hvf":
        raise ConfigUnsupportedError(f"Emulator '{caps.binary}' does not support virt type 'hvf'")
    if not dom.name:
        raise XMLError("missing name from domain configuration")
    if root.find("uuid") is None:
        X.sub(root, "uuid", order=_DOMAIN_ORDER, text_=str(uuidlib.uuid4()))
    os_ = root.find("os")
    if os_ is None:
        os_ = X.sub(root, "os", order=_DOMAIN_ORDER)
    otype = os_.find("type")
    if otype is None:
        otype = etree.SubElement(os_, "type")
        otype.text = "hvm"
        os_.insert(0, otype)
    if (otype.text or "").strip() != "hvm":
        raise ConfigUnsupportedError(f"emulator '{caps.binary}' does not support os type "
                                     f"'{(otype.text or '').strip()}'")
    if not otype.get("arch"):
        otype.set("arch", caps.arch)
    arch = otype.get("arch")
    if arch != caps.arch and not (caps.arch == "x86_64" and arch == "i686"):
        raise ConfigUnsupportedError(f"Emulator '{caps.binary}' does not support arch '{arch}'")
    if not otype.get("machine"):
        m = caps.machine(vt, None)
        if m is None:
            raise ConfigUnsupportedError(f"no machine types known for emulator '{caps.binary}'")
        otype.set("machine", m.name)
    else:
        machine = otype.get("machine", "")
        canon = caps.canonical_machine(vt, machine)
        if not any(m.name == canon for m in caps.accel(vt).machines):
            raise ConfigUnsupportedError(f"Emulator '{caps.binary}' does not support machine type '{machine}'")
        otype.set("machine", canon)
    emu = dom.devices.find("emulator")
    if emu is None:
        emu = etree.Element("emulator")
        emu.text = caps.binary
        dom.devices.insert(0, emu)
    # memory defaults
    mem = root.find("memory")
    if mem is None:
        raise XMLError("missing element 'memory' in domain")
    if root.find("currentMemory") is None:
        cur = X.sub(root, "currentMemory", {"unit": mem.get("unit")}, order=_DOMAIN_ORDER, text_=mem.text)
        del cur
    if root.find("vcpu") is None:
        X.sub(root, "vcpu", {"placement": "static"}, order=_DOMAIN_ORDER, text_="1")
    for tag, value in (("on_poweroff", "destroy"), ("on_reboot", "restart"), ("on_crash", "destroy")):
        if root.find(tag) is None:
            X.sub(root, tag, order=_DOMAIN_ORDER, text_=value)
    if root.find("clock") is None:
        X.sub(root, "clock", {"offset": "utc"}, order=_DOMAIN_ORDER)
    genid = root.find("genid")
    if genid is not None and not (genid.text or "").strip():
        genid.text = str(uuidlib.UUID(bytes=bytes(range(16)), version=4) if dom.cfg.harness else uuidlib.uuid4())
    fw_feats = {f.get("name"): f for f in root.findall("os/firmware/feature")}
    if fw_feats.get("enrolled-keys") is not None and fw_feats["enrolled-keys"].get("enabled") == "yes" \
            and "secure-boot" not in fw_feats:
        etree.SubElement(root.find("os/firmware"), "feature", enabled="yes", name="secure-boot")
    if root.find("os/boot") is None and not any(
            el.find("boot") is not None for el in dom.devices if isinstance(el.tag, str)):
        os_el = root.find("os")
        boot = etree.Element("boot", dev="hd")
        pos = max((os_el.index(c) + 1 for c in os_el
                   if c.tag in ("type", "firmware", "loader", "nvram", "kernel", "initrd", "cmdline", "dtb",
                                "acpi")), default=0)
        os_el.insert(pos, boot)
    _default_cpu(dom)


def _default_cpu(dom: Domain) -> None:
    """A domain without a CPU model gets the machine type's default one (qemuDomainDefSetDefaultCPU)."""
    root, caps = dom.root, dom.caps
    cpu = root.find("cpu")
    if cpu is not None and (cpu.get("mode", "custom") != "custom" or cpu.find("model") is not None):
        return
    if not dom.is_x86():
        return
    model = caps.default_cpu_model(dom.virt_type, dom.machine)
    if model is None:
        return
    if model == "host":
        return
    if cpu is None:
        cpu = X.sub(root, "cpu", order=_DOMAIN_ORDER)
    cpu.set("mode", "custom")
    if not cpu.get("match"):
        cpu.set("match", "exact")
    if not cpu.get("check"):
        cpu.set("check", "none")
    m = etree.Element("model", fallback="forbid")
    m.text = model
    cpu.insert(0, m)


# ----------------------------------------------------------------------------- devices

def _post_parse_devices(dom: Domain) -> None:
    used: dict[str, set[int]] = {}
    for c in dom.controllers():
        if c.get("index") is not None:
            used.setdefault(c.get("type", ""), set()).add(int(c.get("index", "0")))
    for c in dom.controllers():
        if c.get("index") is None:
            taken = used.setdefault(c.get("type", ""), set())
            idx = 0
            while idx in taken:
                idx += 1
            taken.add(idx)
            c.set("index", str(idx))
    _sort_controllers(dom)
    for disk in dom.all("disk"):
        _disk_defaults(dom, disk)
        for enc in disk.iter("encryption"):
            if not enc.get("engine"):
                enc.set("engine", "qemu")
    _sort_disks(dom)
    for vs in dom.all("vsock"):
        if not vs.get("model"):
            vs.set("model", "virtio")
    _numa_cpus_rectify(dom)
    for net in dom.all("interface"):
        _net_defaults(dom, net)
    for video in dom.all("video"):
        _video_defaults(dom, video)
    for rng in dom.all("rng"):
        backend = rng.find("backend")
        if backend is not None and backend.get("model") == "random" and not (backend.text or "").strip():
            backend.text = "/dev/urandom"
    _chardev_defaults(dom)
    for shmem in dom.all("shmem"):
        _shmem_defaults(shmem)


def _shmem_defaults(shmem: E) -> None:
    """qemuDomainShmemDefPostParse: 4 MiB unless sized (but a doorbell's memory is its server's);
    a doorbell (a server) always has MSI, with ioeventfd on unless set."""
    model = X.get(shmem, "model", "type") or "ivshmem"
    server = shmem.find("server") is not None
    if model == "ivshmem-plain" and server:
        raise ConfigUnsupportedError("shmem model 'ivshmem-plain' is supported only with server option disabled")
    if model == "ivshmem-doorbell" and not server:
        raise ConfigUnsupportedError("shmem model 'ivshmem-doorbell' is supported only with server option enabled")
    if model == "ivshmem-doorbell" and shmem.find("size") is not None:
        raise ConfigUnsupportedError("shmem model 'ivshmem-doorbell' does not support size setting")
    if model != "ivshmem-doorbell" and shmem.find("size") is None:
        X.sub(shmem, "size", {"unit": "M"}, order=_SHMEM_ORDER, text_="4")
    if model == "ivshmem" or shmem.find("server") is None:
        return
    msi = shmem.find("msi")
    if msi is None:
        msi = X.sub(shmem, "msi", order=_SHMEM_ORDER)
    if not msi.get("ioeventfd"):
        msi.set("ioeventfd", "on")


_SHMEM_ORDER = ("model", "size", "server", "msi", "alias", "address")


def _sort_disks(dom: Domain) -> None:
    """Disks in libvirt's order (virDomainDiskInsert): grouped by bus in order of first appearance,
    by target name within a bus."""
    def key(d: E) -> tuple[str | None, int]:
        return X.get(d, "target", "bus"), disk_name_to_index(X.get(d, "target", "dev") or "")

    _insert_sorted(dom.all("disk"), lambda d, o: key(d)[0] == key(o)[0], lambda d, o: key(o)[1] > key(d)[1])


def _insert_sorted(items: list[E], same_group: Callable[[E, E], bool], goes_before: Callable[[E, E], bool]) -> None:
    """libvirt's insertion order: each item, taken in turn, goes before the first item of its group it
    ``goes_before`` (after the group's last one otherwise; at the end for a new group); then ``_reorder``."""
    if len(items) < 2:
        return
    ordered: list[E] = []
    for item in items:
        at = -1
        for i in range(len(ordered) - 1, -1, -1):
            o = ordered[i]
            if not same_group(item, o):
                continue
            if goes_before(item, o):
                at = i
            elif at == -1:
                at = i + 1
        if at == -1:
            ordered.append(item)
        else:
            ordered.insert(at, item)
    _reorder(items, ordered)


def _reorder(current: list[E], ordered: list[E]) -> None:
    """Put the elements ``current`` (siblings) in the slots they hold, in the order ``ordered``."""
    if ordered == current:
        return
    parent = current[0].getparent()
    slots = [parent.index(d) for d in current]
    tails = [d.tail for d in current]
    for d in current:
        parent.remove(d)
    for pos, d, tail in zip(slots, ordered, tails):
        d.tail = tail
        parent.insert(pos, d)


def _sort_controllers(dom: Domain) -> None:
    """Controllers in libvirt's order (virDomainControllerInsert): by index within a type, a USB
    master before the companions of its index."""
    def goes_before(c: E, o: E) -> bool:
        idx, o_idx = int(c.get("index", "0")), int(o.get("index", "0"))
        return o_idx > idx or (o_idx == idx and c.find("master") is None and o.find("master") is not None)

    _insert_sorted(dom.controllers(), lambda c, o: c.get("type") == o.get("type"), goes_before)


def _numa_cpus_rectify(dom: Domain) -> None:
    """vCPUs no NUMA cell names join cell 0 (qemuDomainDefNumaCPUsRectify)."""
    cells = dom.numa_cells()
    if not cells:
        return
    _, maxv = dom.vcpus()
    have: set[int] = set()
    for c in cells:
        have.update(_parse_cpuset(c.get("cpus", "")))
    missing = [i for i in range(maxv) if i not in have]
    if not missing:
        return
    first = cells[0]
    cpus = sorted(set(_parse_cpuset(first.get("cpus", ""))) | set(missing))
    first.set("cpus", _format_cpuset(cpus))


def _format_cpuset(cpus: list[int]) -> str:
    parts = []
    i = 0
    while i < len(cpus):
        j = i
        while j + 1 < len(cpus) and cpus[j + 1] == cpus[j] + 1:
            j += 1
        parts.append(str(cpus[i]) if i == j else f"{cpus[i]}-{cpus[j]}")
        i = j + 1
    return ",".join(parts)


def _disk_defaults(dom: Domain, disk: E) -> None:
    target = disk.find("target")
    if target is None or not target.get("dev"):
        raise XMLError("missing target information for device " + (X.get(disk, "source", "file") or ""))
    dev = target.get("dev", "")
    if not target.get("bus"):
        if dev.startswith("hd"):
            bus = "ide"
        elif dev.startswith("sd"):
            bus = "scsi"
        elif dev.startswith("vd"):
            bus = "virtio"
        elif dev.startswith("fd"):
            bus = "fdc"
        elif dev.startswith("ubd"):
            bus = "uml"
        else:
            bus = "ide"
        if disk.get("device") == "floppy":
            bus = "fdc"
        target.set("bus", bus)
    if not disk.get("device"):
        disk.set("device", "disk")
    if not disk.get("type"):
        disk.set("type", "file")
    drv = disk.find("driver")
    if drv is None:
        drv = etree.Element("driver")
        idx = next((i for i, c in enumerate(disk) if c.tag not in ("driver",)), 0)
        disk.insert(idx, drv)
    if not drv.get("name"):
        drv.set("name", "qemu")
    if not drv.get("type") and disk.get("type") != "volume":
        drv.set("type", "raw")
    _drive_address(dom, disk)


def _drive_address(dom: Domain, disk: E) -> None:
    bus = X.get(disk, "target", "bus")
    addr = disk.find("address")
    if addr is not None:
        return
    if bus not in ("ide", "scsi", "fdc", "sata"):
        return
    idx = disk_name_to_index(X.get(disk, "target", "dev") or "")
    if bus == "ide":
        a = {"controller": idx // 4, "bus": (idx % 4) // 2, "target": 0, "unit": idx % 2}
    elif bus == "scsi":
        a = {"controller": idx // 7, "bus": 0, "target": 0, "unit": idx % 7}
    elif bus == "fdc":
        a = {"controller": 0, "bus": 0, "target": 0, "unit": idx}
    else:
        a = {"controller": idx // 6, "bus": 0, "target": 0, "unit": idx % 6}
    el = etree.SubElement(disk, "address", type="drive")
    for k, v in a.items():
        el.set(k, str(v))
    _order_disk_children(disk)


_DISK_ORDER = ("driver", "source", "backingStore", "backenddomain", "geometry", "blockio", "target", "iotune",
               "boot", "readonly", "shareable", "transient", "serial", "wwn", "vendor", "product",
               "encryption", "alias", "address")


def _order_disk_children(disk: E) -> None:
    kids = list(disk)
    kids.sort(key=lambda c: _DISK_ORDER.index(c.tag) if c.tag in _DISK_ORDER else 50)
    for c in kids:
        disk.append(c)


def _net_defaults(dom: Domain, net: E) -> None:
    if net.get("type") == "hostdev":
        return
    model = net.find("model")
    if model is None or not model.get("type"):
        if net.get("type") == "vdpa":
            # a vDPA device is a virtio one whatever the machine's default NIC
            default = "virtio"
        elif dom.caps.has("rtl8139"):
            default = "rtl8139"
        elif dom.caps.has("e1000"):
            default = "e1000"
        else:
            default = "virtio"
        if model is None:
            model = etree.Element("model")
            pos = next((i for i, c in enumerate(net) if c.tag in ("driver", "address", "rom", "alias")),
                       len(net))
            net.insert(pos, model)
        model.set("type", default)


def _video_defaults(dom: Domain, video: E) -> None:
    model = video.find("model")
    if model is None:
        model = etree.SubElement(video, "model")
        video.insert(0, model)
    vtype = model.get("type")
    if not vtype:
        vtype = "cirrus" if dom.is_i440fx() and dom.caps.has("cirrus-vga") else "vga"
        if dom.is_q35() or not dom.caps.has("cirrus-vga"):
            vtype = "vga"
        model.set("type", vtype)
    defaults = {"qxl": (("ram", 65536), ("vram", 65536), ("vgamem", 16384)),
                "vga": (("vram", 16384),), "cirrus": (("vram", 16384),), "vmvga": (("vram", 16384),),
                "bochs": (("vram", 16384),)}
    for attr, value in defaults.get(vtype, ()):
        if not model.get(attr):
            model.set(attr, str(value))
    if vtype not in ("none",) and not model.get("heads"):
        model.set("heads", "1")


def _chardev_defaults(dom: Domain) -> None:
    """Console/serial compatibility and chardev target defaults (x86: isa-serial)."""
    devices = dom.devices
    consoles = dom.all("console")
    serials = dom.all("serial")
    if consoles:
        first = consoles[0]
        target = first.find("target")
        ttype = target.get("type") if target is not None else None
        if ttype in (None, "serial") and dom.is_x86():
            if target is None:
                target = etree.SubElement(first, "target")
            target.set("type", "serial")
            if not serials:
                serial = etree.Element("serial", type=first.get("type", "pty"))
                for c in first:
                    if c.tag != "target":
                        serial.append(_copy(c))
                st = etree.SubElement(serial, "target", port=target.get("port", "0"))
                del st
                X.add_device(devices, serial)
                serials = [serial]
            if not target.get("port"):
                target.set("port", X.get(serials[0], "target", "port") or "0")
    for i, serial in enumerate(serials):
        target = serial.find("target")
        if target is None:
            target = etree.SubElement(serial, "target")
        if not target.get("port"):
            target.set("port", str(i))
        if dom.is_x86():
            ttype = target.get("type")
            if ttype is None:
                ttype = "isa-serial"
                target.set("type", ttype)
            model = target.find("model")
            if model is None:
                name = {"isa-serial": "isa-serial", "usb-serial": "usb-serial", "pci-serial": "pci-serial",
                        "isa-debug": "isa-debugcon"}.get(ttype)
                if name:
                    etree.SubElement(target, "model", name=name)
    for ch in dom.all("channel"):
        if ch.get("type") == "unix" and X.get(ch, "target", "type") == "virtio" and not X.get(ch, "source", "path"):
            src = ch.find("source")
            if src is None:
                src = etree.Element("source")
                ch.insert(0, src)
            src.set("mode", "bind")
    for i, par in enumerate(dom.all("parallel")):
        target = par.find("target")
        if target is None:
            target = etree.SubElement(par, "target")
        if not target.get("port"):
            target.set("port", str(i))
    for con in consoles[1:]:
        target = con.find("target")
        if target is None:
            target = etree.SubElement(con, "target", type="virtio")
        if not target.get("type"):
            target.set("type", "virtio")
    for i, con in enumerate(dom.all("console")):
        target = con.find("target")
        if target is not None and not target.get("port"):
            target.set("port", str(i if target.get("type") != "virtio" else i - 1 if i else 0))


def _copy(el: E) -> E:
    return etree.fromstring(etree.tostring(el))


# ----------------------------------------------------------------------------- implicit devices

def _add_controller(dom: Domain, ctype: str, index: int, model: str | None = None) -> E:
    """virDomainDefAddController: appended after the last controller."""
    el = etree.Element("controller", type=ctype, index=str(index))
    if model:
        el.set("model", model)
    conts = dom.controllers()
    if conts:
        conts[-1].addnext(el)
    else:
        X.add_device(dom.devices, el)
    return el


def _maybe_add_controller(dom: Domain, ctype: str, index: int, model: str | None = None) -> E | None:
    if dom.controller(ctype, index) is not None:
        return None
    return _add_controller(dom, ctype, index, model)


def _add_implicit(dom: Domain) -> None:
    caps = dom.caps
    # qemu driver defaults (qemuDomainDefAddDefaultDevices)
    add_usb, usb_model, add_sata = True, None, False
    add_pci_root = add_pcie_root = False
    if dom.is_x86():
        if dom.machine == "isapc":
            add_usb = False
        elif dom.is_q35():
            add_pcie_root = add_sata = True
            if caps.has("qemu-xhci"):
                usb_model = "qemu-xhci"
            elif caps.has("nec-usb-xhci"):
                usb_model = "nec-xhci"
            elif caps.has("ich9-usb-ehci1"):
                usb_model = "ich9-ehci1"
            else:
                add_usb = False
        elif dom.is_i440fx():
            add_pci_root = True
    if add_usb and dom.controller("usb", 0) is None:
        _add_controller(dom, "usb", 0, usb_model)
    if add_sata:
        _maybe_add_controller(dom, "sata", 0)
    root = dom.controller("pci", 0)
    if add_pci_root:
        if root is None:
            _add_controller(dom, "pci", 0, "pci-root")
        elif root.get("model") != "pci-root":
            raise XMLError("The PCI controller with index='0' must be model='pci-root' for this machine "
                           f"type, but model='{root.get('model')}' was found instead")
    if add_pcie_root:
        if root is None:
            _add_controller(dom, "pci", 0, "pcie-root")
        elif root.get("model") != "pcie-root":
            raise XMLError("The PCI controller with index='0' must be model='pcie-root' for this machine "
                           f"type, but model='{root.get('model')}' was found instead")
    if dom.devices.find("memballoon") is None:
        X.add_device(dom.devices, etree.Element("memballoon", model="virtio"))
    _controller_models(dom)
    # generic implicit devices (virDomainDefAddImplicitDevices)
    for ctype, bus in (("scsi", "scsi"), ("fdc", "fdc"), ("ide", "ide"), ("sata", "sata")):
        maxidx = -1
        for disk in dom.all("disk"):
            if X.get(disk, "target", "bus") != bus:
                continue
            addr = disk.find("address")
            if addr is not None and addr.get("type") == "drive":
                maxidx = max(maxidx, int(addr.get("controller", "0")))
        for i in range(maxidx + 1):
            c = _maybe_add_controller(dom, ctype, i)
            if c is not None and ctype == "scsi":
                _scsi_model(dom, c)
    for c in dom.all("channel", "console"):
        if X.get(c, "target", "type") == "virtio":
            a = c.find("address")
            idx = int(a.get("controller", "0")) if a is not None and a.get("type") == "virtio-serial" else 0
            _maybe_add_controller(dom, "virtio-serial", idx)
    if dom.all("smartcard"):
        _maybe_add_controller(dom, "ccid", 0)
    for hd in dom.all("hostdev"):
        if X.get(hd, "source/address", "type") is None and hd.get("type") == "scsi":
            addr = hd.find("address")
            idx = int(addr.get("controller", "0")) if addr is not None else 0
            c = _maybe_add_controller(dom, "scsi", idx)
            if c is not None:
                _scsi_model(dom, c)
    # inputs: x86 machines have PS/2 mouse and keyboard built in
    if dom.is_x86() and dom.machine != "isapc":
        for itype in ("mouse", "keyboard"):
            if not any(i.get("type") == itype and i.get("bus") == "ps2" for i in dom.all("input")):
                X.add_device(dom.devices, etree.Element("input", type=itype, bus="ps2"))
    for inp in dom.all("input"):
        if not inp.get("bus"):
            inp.set("bus", "ps2" if dom.is_x86() and inp.get("type") in ("mouse", "keyboard") else "usb")
    _default_video(dom)
    _default_audio(dom)


def _controller_models(dom: Domain) -> None:
    caps = dom.caps
    for c in dom.controllers():
        ctype = c.get("type")
        if ctype == "usb" and not c.get("model"):
            if dom.is_q35():
                for cap, model in (("qemu-xhci", "qemu-xhci"), ("nec-usb-xhci", "nec-xhci"),
                                   ("ich9-usb-ehci1", "ich9-ehci1")):
                    if caps.has(cap):
                        c.set("model", model)
                        break
            elif caps.has("piix3-usb-uhci"):
                c.set("model", "piix3-uhci")
            elif caps.has("pci-ohci"):
                c.set("model", "pci-ohci")
        elif ctype == "scsi":
            _scsi_model(dom, c)


def _scsi_model(dom: Domain, c: E) -> None:
    if c.get("model"):
        return
    if dom.caps.has("lsi"):
        c.set("model", "lsilogic")
    elif dom.caps.has("virtio-scsi-pci"):
        c.set("model", "virtio-scsi")


def _default_video(dom: Domain) -> None:
    graphics = dom.all("graphics")
    if graphics and not dom.all("video"):
        needs = any(g.get("type") in ("vnc", "spice", "sdl", "egl-headless", "dbus") for g in graphics)
        if needs:
            video = etree.Element("video")
            etree.SubElement(video, "model")
            X.add_device(dom.devices, video)
            _video_defaults(dom, video)
            model = video.find("model")
            if model is not None:
                model.set("primary", "yes")


def _default_audio(dom: Domain) -> None:
    if dom.all("audio"):
        return
    cfg = dom.cfg
    graphics = dom.all("graphics")
    backend = "none"
    passthrough = False
    add = False
    for g in graphics:
        gt = g.get("type")
        if gt == "vnc":
            passthrough = cfg.vncAllowHostAudio
            backend = "none"
            add = True
        elif gt == "spice":
            passthrough = False
            backend = "spice"
            add = True
        elif gt == "sdl":
            passthrough = True
            add = True
    if not graphics:
        passthrough = cfg.nogfxAllowHostAudio
        add = True
    sdl_driver = None
    if add and passthrough:
        env = cfg.env.get("QEMU_AUDIO_DRV")
        if env is None:
            backend = "none" if not any(g.get("type") == "sdl" for g in graphics) else "sdl"
        else:
            backend = {"pa": "pulseaudio", "wav": "file"}.get(env, env)
        if backend == "sdl":
            sdl_driver = cfg.env.get("SDL_AUDIODRIVER")
    if add:
        audio = etree.Element("audio", id="1", type=backend)
        if sdl_driver:
            audio.set("driver", sdl_driver)
        X.add_device(dom.devices, audio)


# ----------------------------------------------------------------------------- validation

def _validate(dom: Domain) -> None:
    seen: set[str] = set()
    for disk in dom.all("disk"):
        dev = X.get(disk, "target", "dev") or ""
        if dev in seen:
            raise XMLError(f"target '{dev}' duplicated for disk sources")
        seen.add(dev)
        bus = X.get(disk, "target", "bus")
        if bus == "ide" and not dom.has_builtin_ide() and not dom.is_q35():
            pass
        if bus == "ide" and dom.is_q35():
            raise ConfigUnsupportedError("IDE controllers are unsupported for this QEMU binary or machine type")
    drive_addrs: set[tuple[str, ...]] = set()
    for disk in dom.all("disk"):
        a = disk.find("address")
        if a is not None and a.get("type") == "drive":
            key = (X.get(disk, "target", "bus") or "", a.get("controller", "0"), a.get("bus", "0"),
                   a.get("target", "0"), a.get("unit", "0"))
            if key in drive_addrs:
                raise XMLError(f"Found duplicate drive address for disk with target name "
                               f"'{X.get(disk, 'target', 'dev')}' controller='{key[1]}' bus='{key[2]}' "
                               f"target='{key[3]}' unit='{key[4]}'")
            drive_addrs.add(key)
    _validate_boot(dom)
    _validate_memory(dom)
    _validate_disks(dom)
    _validate_graphics(dom)
    _validate_devices(dom)
    _validate_reconnect(dom)
    _validate_cpus(dom)


def _iothread_ids(dom: Domain) -> set[int]:
    """The domain's IOThread ids (X.iothread_ids), none of the explicit ones given twice."""
    seen: set[int] = set()
    for t in dom.root.findall("iothreadids/iothread"):
        tid = int(t.get("id", "0"))
        if tid in seen:
            raise XMLError(f"duplicate iothread id '{tid}' found")
        seen.add(tid)
    return set(X.iothread_ids(dom.root))


def _validate_cpus(dom: Domain) -> None:
    """vCPU counts and topology, and the IOThreads devices name."""
    cur, maxv = dom.vcpus()
    if cur > maxv:
        raise XMLError("current vcpu count must not be larger than maximum vcpu count")
    topo = dom.root.find("cpu/topology")
    if topo is not None and topo.get("sockets"):
        total = 1
        for attr in ("sockets", "dies", "cores", "threads"):
            total *= int(topo.get(attr) or "1")
        if total != maxv:
            raise ConfigUnsupportedError("CPU topology doesn't match maximum vcpu count")
    ids = _iothread_ids(dom)
    for disk in dom.all("disk"):
        iothread = X.get(disk, "driver", "iothread")
        bus = X.get(disk, "target", "bus")
        if iothread:
            if bus != "virtio":
                raise ConfigUnsupportedError("IOThreads only available for virtio pci and virtio ccw disk")
            if int(iothread) not in ids:
                raise ConfigUnsupportedError(f"Disk iothread '{iothread}' not defined in iothreadid")
        if X.get(disk, "driver", "queues") and bus != "virtio":
            raise ConfigUnsupportedError("queues attribute in disk driver element is only supported by virtio-blk")
    for c in dom.controllers("scsi"):
        iothread = X.get(c, "driver", "iothread")
        if iothread and int(iothread) not in ids:
            raise ConfigUnsupportedError(f"controller iothread '{iothread}' not defined in iothreadid")


def _validate_boot(dom: Domain) -> None:
    root = dom.root
    bm = root.find("os/bootmenu")
    if bm is not None and bm.get("timeout") is not None:
        t = X.parse_int(bm.get("timeout"))
        if t is None or not 0 <= t <= 65535:
            raise ConfigUnsupportedError("invalid value for boot menu timeout, must be in range [0,65535]")
    if root.find("os/boot") is not None and any(
            el.find("boot") is not None for el in dom.devices if isinstance(el.tag, str)):
        raise ConfigUnsupportedError("per-device boot elements cannot be used together with os/boot elements")
    orders: set[str] = set()
    for el in dom.devices.iter("boot"):
        order = el.get("order")
        if order in orders:
            raise XMLError(f"boot order {order} used for more than one device")
        orders.add(order or "")
    _validate_loader(root)
    if root.find("os").get("firmware"):  # type: ignore[union-attr]
        loader = root.find("os/loader")
        if loader is not None:
            for attr in ("readonly", "type", "secure"):
                present = loader.get(attr) is not None or (attr == "type" and (loader.text or "").strip())
                if present:
                    raise ConfigUnsupportedError(f"loader attribute '{attr}' cannot be specified when firmware "
                                                 "autoselection is enabled")


def _validate_loader(root: E) -> None:
    """virDomainDefOSValidate: what a stateless or stateful loader allows."""
    os_el = root.find("os")
    firmware = os_el.get("firmware") if os_el is not None else None
    if not firmware and root.find("os/firmware/feature") is not None:
        raise XMLError("firmware attribute must be set when firmware features are specified")
    loader = root.find("os/loader")
    if loader is None:
        return
    nvram = root.find("os/nvram")
    if loader.get("stateless") == "yes":
        if nvram is not None and nvram.get("template"):
            raise ConfigUnsupportedError("NVRAM template is not permitted when loader is stateless")
        if nvram is not None:
            raise ConfigUnsupportedError("NVRAM is not permitted when loader is stateless")
    elif loader.get("stateless") == "no":
        if not firmware:
            if loader.get("type") != "pflash":
                raise ConfigUnsupportedError("Only pflash loader type permits NVRAM")
        elif firmware != "efi":
            raise ConfigUnsupportedError("Only EFI firmware permits NVRAM")


def _host_numa_nodes(dom: Domain) -> set[int]:
    if dom.cfg.harness:
        return set(range(8))
    import glob
    import re as _re

    nodes = {int(m.group(1)) for p in glob.glob("/sys/devices/system/node/node*")
             if (m := _re.search(r"node(\d+)$", p))}
    return nodes or {0}


def _validate_memory(dom: Domain) -> None:
    root = dom.root
    cells = dom.numa_cells()
    seen_cpus: dict[int, int] = {}
    for i, cell in enumerate(cells):
        for cpu in _parse_cpuset(cell.get("cpus") or ""):
            if cpu in seen_cpus:
                raise XMLError(f"NUMA cells {seen_cpus[cpu]} and {i} have overlapping vCPU ids")
            seen_cpus[cpu] = i
    if dom.has_memory_hotplug() and dom.is_x86() and not cells:
        raise ConfigUnsupportedError("At least one numa node has to be configured when enabling memory hotplug")
    _validate_memory_devices(dom, cells)
    for mem in dom.all("memory"):
        node = X.text(mem, "target/node")
        if node is not None and cells and int(node) >= len(cells):
            raise ConfigUnsupportedError(f"can't add memory backend for guest node '{node}' as the guest has only "
                                         f"'{len(cells)}' NUMA nodes configured")
    ncells = max(1, len(cells))
    for page in root.findall("memoryBacking/hugepages/page"):
        ns = page.get("nodeset")
        if ns:
            for n in _parse_cpuset(ns):
                if n >= ncells:
                    raise ConfigUnsupportedError(f"hugepages: node {n} not found")
    mem = root.find("numatune/memory")
    if mem is not None and mem.get("nodeset") and mem.get("mode") != "preferred":
        host = _host_numa_nodes(dom)
        for n in _parse_cpuset(mem.get("nodeset", "")):
            if n not in host:
                if dom.cfg.harness:
                    raise InternalError(f"Mock: no numa node set is available at bit {n}")
                raise ConfigUnsupportedError(f"NUMA node {n} is unavailable")
    tseg = root.find("features/smm/tseg")
    if tseg is not None:
        if not dom.is_q35():
            raise ConfigUnsupportedError("SMM TSEG is only supported with q35 machine type")
        size = X.scale_bytes(int((tseg.text or "0").strip()), tseg.get("unit", "MiB"), "b")
        if size % (1024 * 1024):
            raise ConfigUnsupportedError("SMM TSEG size must be divisible by 1 MiB")


def _validate_memory_devices(dom: Domain, cells: list[E]) -> None:
    """qemuDomainDefValidateMemoryHotplug: memory devices need <maxMemory>, a slot each (DIMMs) and
    room between the initial memory and the maximum."""
    # an SGX EPC section is no hotplugged memory
    mems = [m for m in dom.all("memory") if m.get("model") != "sgx-epc"]
    maxmem = dom.root.find("maxMemory")
    if maxmem is None:
        if mems:
            raise ConfigUnsupportedError("cannot use/hotplug a memory device when domain 'maxMemory' is not defined")
        return
    slots = int(maxmem.get("slots", "0"))
    needing = sum(1 for m in mems if m.get("model") in ("dimm", "nvdimm"))
    if needing > slots:
        raise ConfigUnsupportedError(f"count of memory devices requiring memory slots '{needing}' exceeds slots "
                                     f"count '{slots}'")
    sizes = sum(X.parse_size_kib(m.find("target/size"), 0) or 0 for m in mems)
    if cells:
        initial = sum(X.scale_to_kib(int(c.get("memory", "0")), c.get("unit", "KiB")) for c in cells)
    else:
        initial = (X.parse_size_kib(dom.root.find("memory"), 0) or 0) - sizes
    if sizes > (X.parse_size_kib(maxmem, 0) or 0) - initial:
        raise ConfigUnsupportedError("memory device total size exceeds hotplug space")


def _parse_cpuset(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part or part.startswith("^"):
            continue
        a, _, b = part.partition("-")
        out.extend(range(int(a), int(b or a) + 1))
    return out


def _validate_disks(dom: Domain) -> None:
    import re as _re

    for disk in dom.all("disk"):
        dev = X.get(disk, "target", "dev") or ""
        if _re.match(r"^[a-z]+\d+$", dev):
            raise ConfigUnsupportedError(f"invalid disk target '{dev}', partitions can't appear in disk targets")
        src = disk.find("source")
        if disk.find("auth") is not None and src is not None and src.find("auth") is not None:
            raise ConfigUnsupportedError("an <auth> definition already found for disk source")
        for auth in [a for a in (disk.find("auth"), src.find("auth") if src is not None else None) if a is not None]:
            sec = auth.find("secret")
            if sec is not None and sec.get("type") not in ("iscsi", "ceph"):
                raise ConfigUnsupportedError(f"unknown secret type '{sec.get('type') or '<null>'}'")
        enc = disk.find("encryption") if disk.find("encryption") is not None else \
            (src.find("encryption") if src is not None else None)
        if enc is not None and enc.get("format") == "luks":
            fmt = X.get(disk, "driver", "type") or "raw"
            if fmt not in ("raw", "qcow2"):
                raise ConfigUnsupportedError("encryption is supported only with 'raw' and 'qcow2' image format")
        a = disk.find("address")
        if X.get(disk, "target", "bus") == "usb" and a is not None and a.get("type") not in ("usb", None):
            raise InternalError("unexpected address type for usb disk")
        if disk.get("device") == "lun" and not (
                disk.get("type") in ("block", "volume")
                or (disk.get("type") == "network" and X.get(disk, "source", "protocol") == "iscsi")):
            raise ConfigUnsupportedError("disk device='lun' is only valid for block type disk source")
        _validate_disk_bus(disk, dev)
        for tag, limit in (("vendor", 8), ("product", 16)):
            text = X.text(disk, tag)
            if text is not None and X.get(disk, "target", "bus") != "scsi":
                raise ConfigUnsupportedError("Only scsi disk supports vendor and product")
            if text is not None:
                if len(text) > limit:
                    raise XMLError(f"disk {tag} is more than {limit} characters")
                if not text.isprintable():
                    raise XMLError(f"disk {tag} is not printable string")
        if a is not None and a.get("type") == "drive":
            _validate_drive_address(X.get(disk, "target", "bus") or "", a)
    _validate_scsi_hostdev_addresses(dom)


def _validate_disk_bus(disk: E, dev: str) -> None:
    """The buses a device kind can sit on (virDomainDiskDefValidate, qemuValidateDomainDeviceDefDisk)."""
    bus = X.get(disk, "target", "bus")
    if bus is None:
        return
    device = disk.get("device", "disk")
    if device == "lun" and bus not in ("scsi", "virtio"):
        raise ConfigUnsupportedError(f"disk device='lun' is not supported for bus='{bus}'")
    if device == "floppy" and bus != "fdc":
        raise ConfigUnsupportedError(f"Invalid bus type '{bus}' for floppy disk")
    if device != "floppy" and bus == "fdc":
        raise ConfigUnsupportedError(f"Invalid bus type '{bus}' for disk")
    if device == "cdrom" and bus == "virtio":
        raise ConfigUnsupportedError(f"disk type of '{dev}' does not support ejectable media")


#: qemuValidateDomainDeviceDefDiskFrontend: drive address fields that must be 0 on each bus, in libvirt's order.
_DRIVE_ADDRESS_ZEROS: dict[str, tuple[tuple[str, str], ...]] = {
    "scsi": (("bus", "SCSI controller only supports 1 bus"),),
    "ide": (("controller", "Only 1 ide controller is supported"), ("target", "target must be 0 for ide controller")),
    "fdc": (("controller", "Only 1 fdc controller is supported"), ("bus", "Only 1 fdc bus is supported"),
            ("target", "target must be 0 for controller fdc")),
    "sata": (("bus", "bus must be 0 for controller sata"), ("target", "target must be 0 for controller sata")),
}


def _validate_drive_address(bus: str, a: E) -> None:
    """What a drive address can name on each bus."""
    for field, message in _DRIVE_ADDRESS_ZEROS.get(bus, ()):
        if int(a.get(field, "0")) != 0:
            raise ConfigUnsupportedError(message)

def _validate_scsi_hostdev_addresses(dom: Domain) -> None:
    """A SCSI hostdev cannot take the drive address of a SCSI disk or of another hostdev."""
    disks = {tuple(a.get(k, "0") for k in ("controller", "bus", "target", "unit"))
             for d in dom.all("disk") if X.get(d, "target", "bus") == "scsi"
             for a in [d.find("address")] if a is not None and a.get("type") == "drive"}
    hostdevs: set[tuple[str, ...]] = set()
    for h in dom.all("hostdev"):
        a = h.find("address")
        if h.get("type") != "scsi" or a is None or a.get("type") != "drive":
            continue
        key = tuple(a.get(k, "0") for k in ("controller", "bus", "target", "unit"))
        if key in disks:
            raise XMLError("SCSI host address controller='{}' bus='{}' target='{}' unit='{}' in use by a "
                           "SCSI disk".format(*key))
        if key in hostdevs:
            raise XMLError("SCSI host address controller='{}' bus='{}' target='{}' unit='{}' in use by another "
                           "SCSI host device".format(*key))
        hostdevs.add(key)


def _validate_reconnect(dom: Domain) -> None:
    """A character device reconnects only as a client, and then after a timeout."""
    for r in dom.devices.iter("reconnect"):
        if r.get("enabled") != "yes":
            continue
        if not r.get("timeout"):
            raise XMLError("missing timeout for chardev with reconnect enabled")
        src = r.getparent()
        if src is not None and src.get("mode") == "bind":
            raise InternalError("chardev reconnect is possible only for connect mode")


def _validate_graphics(dom: Domain) -> None:
    graphics = dom.all("graphics")
    types = [g.get("type") for g in graphics]
    if "egl-headless" in types and any(t not in ("vnc", "spice", "egl-headless") for t in types):
        raise ConfigUnsupportedError("graphics type 'egl-headless' is only supported with one of: 'vnc', "
                                     "'spice' graphics types")
    gl = sum(1 for g in graphics if g.get("type") == "egl-headless" or X.get(g, "gl", "enable") == "yes")
    if gl > 1:
        raise ConfigUnsupportedError("multiple OpenGL displays are not supported by QEMU")


def _validate_pci_controllers(dom: Domain) -> None:
    """qemuValidateDomainDeviceDefController's PCI part."""
    cells = len(dom.numa_cells())
    pseries = dom.machine.startswith("pseries")
    for c in dom.controllers("pci"):
        model = c.get("model")
        if model in ("pci-root", "pcie-root") and not pseries and c.get("index", "0") != "0":
            raise XMLError("pci-root and pcie-root controllers should have index 0")
        if model == "pci-expander-bus" and not dom.is_i440fx():
            raise ConfigUnsupportedError(
                "pci-expander-bus controllers are only supported on 440fx-based machinetypes")
        if model == "pcie-expander-bus" and not (dom.is_q35() or (dom.arch in ("aarch64", "armv7l")
                                                                  and dom.machine.startswith("virt"))):
            raise ConfigUnsupportedError("pcie-expander-bus controllers are not supported with this machine type")
        node = X.text(c, "target/node")
        if node is not None and node.isdigit() and int(node) >= cells:
            raise XMLError(f"{model} with index {c.get('index')} is configured for a NUMA node ({node}) "
                           f"not present in the domain's <cpu><numa> array ({cells})")


def _validate_devices(dom: Domain) -> None:
    usb = dom.controllers("usb")
    if any(c.get("model") == "none" for c in usb) and len(usb) > 1:
        raise ConfigUnsupportedError("Can't add another USB controller: USB is disabled for this domain")
    for c in usb:
        ports = c.get("ports")
        if c.get("model") in ("qemu-xhci", "nec-xhci") and ports and int(ports) > 15:
            raise ConfigUnsupportedError(f"'{c.get('model')}' controller only supports up to '15' ports")
    _validate_pci_controllers(dom)
    if sum(1 for v in dom.all("video") if X.get(v, "model", "primary") == "yes") > 1:
        raise XMLError("Only one primary video device is supported")
    if len(dom.all("watchdog")) > 1:
        raise XMLError("only a single watchdog device is supported")
    for net in dom.all("interface"):
        mac = X.get(net, "mac", "address")
        if mac and int(mac.split(":")[0], 16) & 1:
            raise XMLError(f"expected unicast mac address, found multicast '{mac}'")
        for attr in ("rx_queue_size", "tx_queue_size"):
            size = X.parse_int(X.get(net, "driver", attr) or "0") or 0
            if size & (size - 1):
                raise ConfigUnsupportedError(f"{attr} has to be a power of two")
    for tpm in dom.all("tpm"):
        if tpm.get("model") == "tpm-crb" and X.get(tpm, "backend", "version") == "1.2":
            raise ConfigUnsupportedError("Unsupported interface 'tpm-crb' for TPM 1.2")
    ramfb = [h for h in dom.all("hostdev") if h.get("type") == "mdev" and h.get("ramfb") == "on"]
    if len(ramfb) > 1:
        raise ConfigUnsupportedError("Only one vgpu device can have 'ramfb' enabled")
    for v in dom.all("video"):
        if X.get(v, "model", "type") == "ramfb" and v.find("address") is not None:
            raise ConfigUnsupportedError("address not supported for video type ramfb")
    for io in dom.all("iommu"):
        if io.get("model") == "intel" and not dom.is_q35():
            raise ConfigUnsupportedError("IOMMU device: 'intel' is only supported with Q35 machines")
        if io.get("model") == "virtio" and dom.feature("acpi") is None and dom.is_x86():
            raise ConfigUnsupportedError("IOMMU device: 'virtio' requires ACPI")
    for fs in dom.all("filesystem"):
        if X.get(fs, "driver", "type") == "virtiofs" and fs.find("readonly") is not None:
            raise ConfigUnsupportedError("virtiofs does not yet support read-only mode")
    for i in dom.all("input"):
        if i.get("model") in ("virtio-transitional", "virtio-non-transitional") and i.get("bus") == "virtio" \
                and i.get("type") not in ("passthrough",):
            raise ConfigUnsupportedError(f"virtio (non-)transitional models are not supported for input "
                                         f"type={i.get('type')}")


# ----------------------------------------------------------------------------- addresses

def _pci_addr_of(el: E) -> PCIAddr | None:
    a = el.find("address")
    if a is None or a.get("type") != "pci":
        return None
    return PCIAddr(bus=X.parse_int(a.get("bus", "0")) or 0, slot=X.parse_int(a.get("slot", "0")) or 0,
                   function=X.parse_int(a.get("function", "0")) or 0, domain=X.parse_int(a.get("domain", "0")) or 0,
                   multi=X.yes(a.get("multifunction")))


def set_pci_addr(el: E, addr: PCIAddr) -> None:
    a = el.find("address")
    if a is None:
        a = etree.SubElement(el, "address")
    a.attrib.clear()
    a.set("type", "pci")
    a.set("domain", f"0x{addr.domain:04x}")
    a.set("bus", f"0x{addr.bus:02x}")
    a.set("slot", f"0x{addr.slot:02x}")
    a.set("function", f"0x{addr.function:x}")
    if addr.multi is not None:
        a.set("multifunction", "on" if addr.multi else "off")


def _pci_wanted(el: E) -> bool:
    a = el.find("address")
    return a is None or a.get("type") == "pci" and _pci_addr_of(el) is None


def _pci_present(el: E) -> bool:
    return _pci_addr_of(el) is not None


class _Flags:
    """PCI connect flags of devices in this domain (qemuDomainDeviceCalculatePCIConnectFlags)."""

    def __init__(self, dom: Domain) -> None:
        pci = Conn.PCI_DEVICE | Conn.AUTOASSIGN
        self.pci = pci
        self.pcie = (Conn.PCIE_DEVICE | Conn.AUTOASSIGN) if dom.has_pcie_root() else pci
        self.virtio = self.pcie if dom.caps.has("virtio-pci-non-transitional") else pci
        self.dom = dom

    def of(self, el: E) -> Conn:
        tag = el.tag
        pci, pcie, virtio = self.pci, self.pcie, self.virtio
        if tag == "controller":
            ctype, model = el.get("type"), el.get("model")
            if ctype == "pci":
                return CONTROLLER_CONNECT.get(model or "", Conn(0))
            if ctype in ("sata", "ide"):
                return pci
            if ctype == "usb":
                if model in ("nec-xhci", "qemu-xhci"):
                    return pcie
                if model in ("none", "qusb1", "qusb2"):
                    return Conn(0)
                return pci
            if ctype == "scsi":
                if model in (None, "ncr53c90"):
                    return Conn(0)
                if model in ("virtio-scsi", "virtio-non-transitional"):
                    return virtio
                return pci
            if ctype == "virtio-serial":
                return pci if model == "virtio-transitional" else virtio
            return Conn(0)
        if tag == "filesystem":
            drv = X.get(el, "driver", "type")
            if drv in (None, "path", "handle"):
                return pci if el.get("model") == "virtio-transitional" else virtio
            if drv == "virtiofs":
                return virtio
            return Conn(0)
        if tag == "interface":
            model = X.get(el, "model", "type")
            if el.get("type") == "hostdev":
                # connected as the PCI hostdev it is
                return pcie if X.get(el, "source/address", "type") in (None, "pci") else Conn(0)
            if model == "usb-net":
                return Conn(0)
            if model in ("virtio", "virtio-non-transitional"):
                return virtio
            if model == "virtio-transitional":
                return pci
            if model in ("e1000e", "igb"):
                return pcie
            if model is None:
                return pcie
            return pci
        if tag == "sound":
            return pci if el.get("model") in ("es1370", "ac97", "ich6", "ich9") else Conn(0)
        if tag == "disk":
            if X.get(el, "target", "bus") != "virtio":
                return Conn(0)
            return pci if el.get("model") == "virtio-transitional" else virtio
        if tag == "hostdev":
            if el.get("mode", "subsystem") != "subsystem":
                return Conn(0)
            stype = el.get("type")
            if stype == "mdev":
                return pcie
            if stype == "scsi_host":
                return pci if el.get("model") == "virtio-transitional" else virtio
            if stype != "pci":
                return Conn(0)
            if pci == pcie:
                return pci
            return pcie
        if tag == "memballoon":
            model = el.get("model")
            if model == "virtio-transitional":
                return pci
            if model in ("virtio", "virtio-non-transitional"):
                return virtio
            return Conn(0)
        if tag == "rng":
            return pci if el.get("model") == "virtio-transitional" else virtio
        if tag == "watchdog":
            return pci if el.get("model") == "i6300esb" else Conn(0)
        if tag == "video":
            vt = X.get(el, "model", "type")
            if vt == "virtio":
                return virtio
            if vt in ("vga", "cirrus", "vmvga", "xen", "vbox", "qxl", "parallels"):
                return pci
            if vt == "bochs":
                return pcie
            return Conn(0)
        if tag == "shmem":
            return pci
        if tag == "input":
            if el.get("bus") != "virtio":
                return Conn(0)
            return pci if el.get("model") == "virtio-transitional" else virtio
        if tag in ("serial",):
            return pci if X.get(el, "target", "type") == "pci-serial" else Conn(0)
        if tag == "iommu":
            return virtio | Conn.INTEGRATED if el.get("model") == "virtio" else Conn(0)
        if tag == "vsock":
            model = el.get("model")
            return pci if model == "virtio-transitional" else virtio if model in ("virtio", "virtio-non-transitional") \
                else Conn(0)
        if tag == "memory":
            return virtio if el.get("model") in ("virtio-pmem", "virtio-mem") else Conn(0)
        if tag == "crypto":
            return pci
        if tag == "panic":
            return pci | Conn.INTEGRATED if el.get("model") == "pvpanic" else Conn(0)
        return Conn(0)


def _pci_devices(dom: Domain) -> Iterator[E]:
    """Every device that may carry an address, in libvirt's device iteration order."""
    order = ("disk", "interface", "sound", "hostdev", "video", "controller", "filesystem", "input",
             "serial", "parallel", "channel", "console", "watchdog", "memballoon", "rng", "smartcard",
             "hub", "redirdev", "shmem", "tpm", "panic", "memory", "iommu", "vsock", "crypto", "nvram")
    for tag in order:
        yield from dom.all(tag)


def _new_address_set(dom: Domain, flags: _Flags, nbuses: int, dry_run: bool) -> AddressSet:
    addrs = AddressSet(nbuses, dry_run=dry_run, pcie_to_pci_bridge=dom.caps.has("pcie-pci-bridge"))
    for c in dom.controllers("pci"):
        idx = int(c.get("index", "0"))
        if idx >= nbuses:
            raise InternalError(f"Inappropriate new pci controller index {idx} exceeds addrs array length")
        hotplug = X.get(c, "target", "hotplug") != "off"
        addrs.buses[idx].set_model(c.get("model") or "pci-bridge", hotplug)
    if nbuses > 0 and not addrs.buses[0].model:
        addrs.buses[0].set_model("pci-root", True)
    default = "pcie-root-port" if dom.has_pcie_root() else "pci-bridge"
    for b in addrs.buses[1:]:
        if not b.model:
            b.set_model(default, True)
    for el in _pci_devices(dom):
        addr = _pci_addr_of(el)
        if addr is None:
            continue
        fl = flags.of(el) or Conn.PCI_DEVICE
        if el.tag == "controller" and addr.domain == 0 and addr.bus == 0 and addr.slot == 1:
            ctype, idx, model = el.get("type"), int(el.get("index", "0")), el.get("model")
            if (ctype == "ide" and idx == 0 and addr.function == 1) or \
               (ctype == "usb" and idx == 0 and model in (None, "piix3-uhci") and addr.function == 2):
                continue
        addrs.reserve(addr, fl, from_config=True)
    return addrs


def _validate_chipset(dom: Domain, addrs: AddressSet, flags: _Flags) -> None:
    if dom.is_i440fx():
        pflags = Conn.AUTOASSIGN | Conn.PCI_DEVICE
        for c in dom.controllers():
            ctype, idx, model = c.get("type"), int(c.get("index", "0")), c.get("model")
            if ctype == "ide" and idx == 0:
                want = PCIAddr(slot=1, function=1)
                what = "Primary IDE controller must have PCI address 0:0:1.1"
            elif ctype == "usb" and idx == 0 and model in (None, "piix3-uhci"):
                want = PCIAddr(slot=1, function=2)
                what = "PIIX3 USB controller at index 0 must have PCI address 0:0:1.2"
            else:
                continue
            have = _pci_addr_of(c)
            if have is not None:
                if (have.bus, have.slot, have.function) != (0, 1, want.function):
                    raise InternalError(what)
            else:
                set_pci_addr(c, want)
            if addrs.buses:
                addrs.reserve(want, pflags, from_config=True)
        if addrs.buses:
            addrs.reserve(PCIAddr(slot=1, function=0), pflags)
            addrs.reserve(PCIAddr(slot=1, function=3), pflags)
        videos = dom.all("video")
        if videos and X.get(videos[0], "model", "type") not in ("none", "ramfb"):
            primary = videos[0]
            if _pci_wanted(primary):
                tmp = PCIAddr(slot=2)
                addrs.validate(tmp, pflags, True)
                if addrs.slot_in_use(tmp):
                    set_pci_addr(primary, addrs.reserve_next(flags.of(primary)))
                else:
                    addrs.reserve(tmp, pflags)
                    set_pci_addr(primary, tmp)
    elif dom.is_q35():
        qflags = Conn.PCIE_DEVICE
        for c in dom.controllers():
            ctype, idx, model = c.get("type"), int(c.get("index", "0")), c.get("model")
            if ctype == "sata" and idx == 0:
                want = PCIAddr(slot=0x1F, function=2)
                have = _pci_addr_of(c)
                if have is not None:
                    if (have.bus, have.slot, have.function) != (0, 0x1F, 2):
                        raise InternalError("Primary SATA controller must have PCI address 0:0:1f.2")
                else:
                    set_pci_addr(c, want)
            elif ctype == "usb" and model == "ich9-uhci1" and c.find("address") is None:
                for slot in (0x1D, 0x1A):
                    tmp = PCIAddr(slot=slot)
                    if not addrs.slot_in_use(tmp):
                        addrs.reserve(tmp, qflags)
                        set_pci_addr(c, PCIAddr(slot=slot, multi=True))
                        break
            elif ctype == "pci" and model == "dmi-to-pci-bridge" and c.find("address") is None:
                tmp = PCIAddr(slot=0x1E)
                if not addrs.slot_in_use(tmp):
                    addrs.reserve(tmp, qflags)
                    set_pci_addr(c, tmp)
        if addrs.buses:
            addrs.reserve(PCIAddr(slot=0x1F, function=0, multi=True), qflags)
            addrs.reserve(PCIAddr(slot=0x1F, function=3), qflags)
        videos = dom.all("video")
        if videos and X.get(videos[0], "model", "type") not in ("none", "ramfb"):
            primary = videos[0]
            if _pci_wanted(primary):
                tmp = PCIAddr(slot=1)
                addrs.validate(tmp, qflags, True)
                if addrs.slot_in_use(tmp):
                    set_pci_addr(primary, addrs.reserve_next(flags.of(primary)))
                else:
                    addrs.reserve(tmp, qflags)
                    set_pci_addr(primary, tmp)
        tmp = PCIAddr(slot=0x1B)
        if not addrs.slot_in_use(tmp):
            for s in dom.all("sound"):
                if s.get("model") != "ich9" or not _pci_wanted(s):
                    continue
                addrs.reserve(tmp, qflags)
                set_pci_addr(s, tmp)
                break


_USB2 = ("ich9-ehci1", "ich9-uhci1", "ich9-uhci2", "ich9-uhci3")


def _assign_pci_slots(dom: Domain, addrs: AddressSet, flags: _Flags) -> None:
    def take(el: E) -> None:
        addr = addrs.reserve_next(flags.of(el))
        if not addrs.dry_run:
            set_pci_addr(el, addr)

    for c in dom.controllers("pci"):
        if c.get("model") in ("pci-root", "pcie-root") or not _pci_wanted(c):
            continue
        take(c)
    for fs in dom.all("filesystem"):
        if _pci_wanted(fs) and flags.of(fs):
            take(fs)
    for net in dom.all("interface"):
        if net.get("type") == "hostdev" or not _pci_wanted(net) or not flags.of(net):
            continue
        take(net)
    for s in dom.all("sound"):
        if not _pci_wanted(s) or s.get("model") in ("sb16", "pcspk", "usb"):
            continue
        take(s)
    for c in dom.controllers():
        ctype, model = c.get("type"), c.get("model")
        if ctype == "pci" or (ctype == "usb" and model == "none") or ctype in ("fdc", "ccid"):
            continue
        if ctype == "ide" and int(c.get("index", "0")) == 0:
            continue
        if ctype == "scsi" and model == "ncr53c90":
            continue
        if not _pci_wanted(c) or not flags.of(c):
            continue
        if ctype == "usb" and model in _USB2:
            func, multi = {"ich9-ehci1": (7, None), "ich9-uhci1": (0, True), "ich9-uhci2": (1, None),
                           "ich9-uhci3": (2, None)}[model]
            found = None
            for o in dom.controllers("usb"):
                if o.get("model") in _USB2 and o.get("index") == c.get("index") and _pci_present(o):
                    found = _pci_addr_of(o)
                    break
            if found is not None:
                addr = PCIAddr(bus=found.bus, slot=found.slot, function=func, multi=multi)
                addrs.reserve(addr, flags.of(c), from_config=True)
                if not addrs.dry_run:
                    set_pci_addr(c, addr)
            else:
                addr = addrs.reserve_next(flags.of(c), func)
                addr.multi = multi
                if not addrs.dry_run:
                    set_pci_addr(c, addr)
            continue
        take(c)
    for d in dom.all("disk"):
        if X.get(d, "target", "bus") != "virtio" or _pci_present(d):
            continue
        a = d.find("address")
        if a is not None and a.get("type") in ("ccw", "virtio-mmio"):
            continue
        if not _pci_wanted(d):
            raise ConfigUnsupportedError(f"virtio disk cannot have an address of type '{a.get('type')}'")
        take(d)
    # an <interface type='hostdev'> is a hostdev too, listed before the <hostdev> elements
    for n in dom.all("interface"):
        if n.get("type") == "hostdev" and _pci_wanted(n) and \
                X.get(n, "source/address", "type") in (None, "pci"):
            take(n)
    for h in dom.all("hostdev"):
        if not _pci_wanted(h) or h.get("mode", "subsystem") != "subsystem":
            continue
        stype = h.get("type")
        if stype not in ("pci", "scsi_host") and not (stype == "mdev" and h.get("model") == "vfio-pci"):
            continue
        a = h.find("address")
        if a is not None and a.get("type") == "unassigned":
            continue
        take(h)
    for mb in dom.all("memballoon"):
        if mb.get("model") not in (None, "none") and _pci_wanted(mb) and flags.of(mb):
            take(mb)
    for r in dom.all("rng"):
        if _pci_wanted(r):
            take(r)
    for w in dom.all("watchdog"):
        if w.get("model") == "i6300esb" and _pci_wanted(w):
            take(w)
    for v in dom.all("video"):
        if X.get(v, "model", "type") in ("none", "ramfb") or not _pci_wanted(v):
            continue
        take(v)
    for s in dom.all("shmem"):
        if _pci_wanted(s):
            take(s)
    for i in dom.all("input"):
        if i.get("bus") == "virtio" and _pci_wanted(i):
            take(i)
    for s in dom.all("serial"):
        if X.get(s, "target", "type") == "pci-serial" and _pci_wanted(s):
            take(s)
    for io in dom.all("iommu"):
        if io.get("model") == "virtio" and _pci_wanted(io):
            take(io)
    for v in dom.all("vsock"):
        if _pci_wanted(v) and flags.of(v):
            take(v)
    for m in dom.all("memory"):
        if m.get("model") in ("virtio-pmem", "virtio-mem") and _pci_wanted(m):
            take(m)
    for c in dom.all("crypto"):
        if _pci_wanted(c):
            take(c)
    for p in dom.all("panic"):
        if p.get("model") == "pvpanic" and _pci_wanted(p):
            take(p)


def _assign_pci(dom: Domain) -> None:
    flags = _Flags(dom)
    max_idx = max((int(c.get("index", "0")) for c in dom.controllers("pci")), default=-1)
    nbuses = max_idx + 1
    if nbuses > 0:
        addrs = _new_address_set(dom, flags, nbuses, True)
        _validate_chipset(dom, addrs, flags)
        if dom.has_pci_root() and not all(b.full() for b in addrs.buses):
            addrs.reserve_next(Conn.AUTOASSIGN | Conn.PCI_DEVICE)
        _assign_pci_slots(dom, addrs, flags)
        if max_idx <= 0 and len(addrs.buses) > max_idx + 1 and dom.has_pcie_root():
            addrs.reserve_next(Conn.AUTOASSIGN | Conn.PCIE_DEVICE)
        for i in range(1, len(addrs.buses)):
            bus = addrs.buses[i]
            if dom.controller("pci", i) is not None:
                continue
            c = _add_controller(dom, "pci", i, bus.model)
            if bus.model not in ("pci-root", "pcie-root"):
                addrs.reserve_next(flags.of(c))
        nbuses = len(addrs.buses)
    addrs = _new_address_set(dom, flags, nbuses, False)
    if nbuses == 0:
        return
    _validate_chipset(dom, addrs, flags)
    _assign_pci_slots(dom, addrs, flags)
    _set_all_multi(dom)
    for c in dom.controllers("pci"):
        model = c.get("model")
        addr = _pci_addr_of(c)
        m = c.find("model")
        target = c.find("target")
        name = {"pci-bridge": "pci-bridge", "dmi-to-pci-bridge": "i82801b11-bridge",
                "pcie-to-pci-bridge": "pcie-pci-bridge",
                "pcie-root-port": "pcie-root-port" if dom.caps.has("pcie-root-port") else "ioh3420",
                "pcie-switch-upstream-port": "x3130-upstream",
                "pcie-switch-downstream-port": "xio3130-downstream", "pci-expander-bus": "pxb",
                "pcie-expander-bus": "pxb-pcie"}.get(model or "")
        if name and m is None:
            m = etree.Element("model", name=name)
            c.insert(0, m)
        if model == "pci-bridge":
            if target is None:
                target = etree.SubElement(c, "target")
            if not target.get("chassisNr"):
                target.set("chassisNr", c.get("index", "0"))
        elif model in ("pci-expander-bus", "pcie-expander-bus") and (target is None or not target.get("busNr")):
            if target is None:
                target = etree.SubElement(c, "target")
            target.set("busNr", str(_new_expander_bus_nr(dom, c)))
        elif model in ("pcie-root-port", "pcie-switch-downstream-port") and addr is not None:
            if target is None:
                target = etree.SubElement(c, "target")
            if not target.get("chassis"):
                target.set("chassis", c.get("index", "0"))
            if not target.get("port"):
                port = (addr.slot << 3) + addr.function if model == "pcie-root-port" else addr.slot
                target.set("port", f"0x{port:x}")
        if model == "pci-bridge" and addr is not None and int(c.get("index", "0")) <= addr.bus:
            raise ConfigUnsupportedError(
                f"PCI controller at index {c.get('index')} (0x{int(c.get('index', '0')):02x}) has "
                f"bus='0x{addr.bus:02x}', but index must be larger than bus")
        _order_controller_children(c)


def _new_expander_bus_nr(dom: Domain, ctrl: E) -> int:
    """qemuDomainAddressFindNewBusNr: two below the lowest bus number in use (counting down from
    254), leaving room for the expander's own hidden bridge."""
    numbers = [X.parse_int(b) for b in (X.get(c, "target", "busNr") for c in dom.controllers("pci")) if b]
    lowest = min([n for n in numbers if n is not None and n >= 0] + [256])
    if lowest <= 2:
        raise ConfigUnsupportedError(
            "No free busNr lower than current lowest busNr is available to auto-assign to bus "
            f"{ctrl.get('index')}. Must be manually assigned")
    return lowest - 2


def _order_controller_children(c: E) -> None:
    order = ("model", "driver", "target", "alias", "address")
    kids = sorted(c, key=lambda k: order.index(k.tag) if k.tag in order else 10)
    for k in kids:
        c.append(k)


def _set_all_multi(dom: Domain) -> None:
    devs = [el for el in _pci_devices(dom) if _pci_addr_of(el) is not None]
    for el in devs:
        a = _pci_addr_of(el)
        assert a is not None
        if a.function == 0:
            continue
        for other in devs:
            b = _pci_addr_of(other)
            assert b is not None
            if (b.domain, b.bus, b.slot, b.function) == (a.domain, a.bus, a.slot, 0):
                if b.multi is None:
                    addr = other.find("address")
                    assert addr is not None
                    addr.set("multifunction", "on")
                break


def _assign_virtio_serial(dom: Domain) -> None:
    ports: dict[int, set[int]] = {}
    sizes: dict[int, int] = {}
    for c in dom.controllers("virtio-serial"):
        idx = int(c.get("index", "0"))
        ports[idx] = set()
        sizes[idx] = int(c.get("ports", "31"))
    chans = [c for c in dom.all("console") if X.get(c, "target", "type") == "virtio"] + \
            [c for c in dom.all("channel") if X.get(c, "target", "type") == "virtio"]
    for ch in chans:
        a = ch.find("address")
        if a is not None and a.get("type") == "virtio-serial" and int(a.get("port", "0")):
            ctrl, port = int(a.get("controller", "0")), int(a.get("port", "0"))
            if port in ports.setdefault(ctrl, set()):
                raise XMLError(f"virtio serial port {port} on controller {ctrl} is already occupied")
            ports[ctrl].add(port)
    for ch in chans:
        is_console = ch.tag == "console"
        a = ch.find("address")
        if a is not None and a.get("type") == "virtio-serial" and int(a.get("port", "0")):
            continue
        if a is not None and a.get("type") == "virtio-serial":
            ctrl = int(a.get("controller", "0"))
            used = ports.setdefault(ctrl, set())
            port = next(p for p in range(1, 1 + sizes.get(ctrl, 31)) if p not in used)
        else:
            ctrl = port = -1
            start = 0 if is_console else 1
            for idx in sorted(ports):
                used = ports[idx]
                free = [p for p in range(start, sizes.get(idx, 31)) if p not in used]
                if free:
                    ctrl, port = idx, free[0]
                    break
            if ctrl < 0:
                ctrl = max(ports, default=-1) + 1
                _add_controller(dom, "virtio-serial", ctrl)
                ports[ctrl] = set()
                sizes[ctrl] = 31
                port = start
        ports.setdefault(ctrl, set()).add(port)
        if is_console:
            continue  # consoles keep no address in the XML (port 0 is theirs by design)
        if a is None:
            a = etree.SubElement(ch, "address")
        a.attrib.clear()
        a.set("type", "virtio-serial")
        a.set("controller", str(ctrl))
        a.set("bus", "0")
        a.set("port", str(port))


def _usb_ports_of(c: E) -> int:
    model = c.get("model")
    if model in (None, "piix3-uhci", "piix4-uhci", "vt82c686b-uhci"):
        return 2
    if model in ("ehci", "ich9-ehci1"):
        return 6
    if model in ("ich9-uhci1", "ich9-uhci2", "ich9-uhci3"):
        return 0
    if model == "pci-ohci":
        return 3
    if model in ("nec-xhci", "qemu-xhci"):
        return int(c.get("ports", "4"))
    if model in ("qusb1", "qusb2"):
        return int(c.get("ports", "8"))
    return 0


def _usb_devices(dom: Domain) -> list[E]:
    """USB devices in libvirt's order (virDomainUSBDeviceDefForeach, hubs aside)."""
    out: list[E] = []
    out += [h for h in dom.all("hostdev") if h.get("type") == "usb"]
    out += [d for d in dom.all("disk") if X.get(d, "target", "bus") == "usb"]
    out += dom.controllers("ccid")
    out += [i for i in dom.all("input") if i.get("bus") == "usb"]
    out += [s for s in dom.all("serial") if X.get(s, "target", "type") == "usb-serial"]
    out += [s for s in dom.all("sound") if s.get("model") == "usb"]
    out += [r for r in dom.all("redirdev") if r.get("bus") == "usb"]
    return out


class _USBHub:
    def __init__(self, nports: int) -> None:
        self.used = [False] * nports
        self.hubs: dict[int, _USBHub] = {}


def _assign_usb(dom: Domain) -> None:
    usb_devs = _usb_devices(dom)
    hubs = [h for h in dom.all("hub") if h.get("type") == "usb"]
    if not usb_devs and not hubs:
        return
    controllers = [c for c in dom.controllers("usb") if c.get("model") != "none"]
    if not controllers:
        if usb_devs or hubs:
            raise ConfigUnsupportedError(
                "USB is disabled for this domain, but USB devices are present in the domain XML")
        return
    buses: dict[int, _USBHub] = {}
    for c in controllers:
        idx = int(c.get("index", "0"))
        n = _usb_ports_of(c)
        if n:
            buses.setdefault(idx, _USBHub(n))
    available = sum(len(b.used) for b in buses.values()) + 8 * len(hubs)
    count = len(usb_devs)
    if count > available:
        need = -(-(count - available + 1) // 7)
        for _ in range(need):
            X.add_device(dom.devices, etree.Element("hub", type="usb"))
        hubs = [h for h in dom.all("hub") if h.get("type") == "usb"]

    def parse_port(el: E) -> tuple[int, list[int]] | None:
        a = el.find("address")
        if a is None or a.get("type") != "usb" or not a.get("port"):
            return None
        return int(a.get("bus", "0")), [int(p) for p in a.get("port", "").split(".")]

    def hub_at(bus: int, path: list[int]) -> _USBHub | None:
        h = buses.get(bus)
        for p in path:
            if h is None:
                return None
            h = h.hubs.get(p)
        return h

    def reserve(bus: int, port: list[int]) -> None:
        h = hub_at(bus, port[:-1])
        if h is None or port[-1] < 1 or port[-1] > len(h.used):
            raise XMLError(f"Cannot reserve USB port {'.'.join(map(str, port))} on bus {bus}")
        if h.used[port[-1] - 1]:
            raise XMLError(f"Attempted double use of USB port {'.'.join(map(str, port))}")
        h.used[port[-1] - 1] = True

    for el in hubs + usb_devs:
        p = parse_port(el)
        if p is not None:
            reserve(*p)
            if el.tag == "hub":
                h = hub_at(p[0], p[1][:-1])
                if h is not None:
                    h.hubs[p[1][-1]] = _USBHub(8)

    def find_free() -> tuple[int, list[int]]:
        def walk(h: _USBHub, path: list[int]) -> list[int] | None:
            for i, used in enumerate(h.used):
                if not used:
                    return path + [i + 1]
            for port in sorted(h.hubs):
                r = walk(h.hubs[port], path + [port])
                if r is not None:
                    return r
            return None
        for bus in sorted(buses):
            r = walk(buses[bus], [])
            if r is not None:
                return bus, r
        raise InternalError("No free USB ports")

    def assign(el: E) -> None:
        bus, port = find_free()
        reserve(bus, port)
        a = el.find("address")
        if a is None:
            a = etree.SubElement(el, "address")
        a.attrib.clear()
        a.set("type", "usb")
        a.set("bus", str(bus))
        a.set("port", ".".join(map(str, port)))
        if el.tag == "hub":
            h = hub_at(bus, port[:-1])
            if h is not None:
                h.hubs[port[-1]] = _USBHub(8)

    for h in hubs:
        if parse_port(h) is None:
            assign(h)
    for el in usb_devs:
        a = el.find("address")
        if a is not None and a.get("type") not in ("usb",):
            continue
        if parse_port(el) is None:
            assign(el)


def assign_addresses(dom: Domain, *, new_domain: bool = True) -> None:
    _assign_virtio_serial(dom)
    _assign_pci(dom)
    if new_domain:
        _assign_usb(dom)
    _assign_memory_slots(dom)


def _assign_memory_slots(dom: Domain) -> None:
    if not dom.has_memory_hotplug():
        return
    used = set()
    mems = dom.all("memory")
    for m in mems:
        a = m.find("address")
        if a is not None and a.get("type") == "dimm":
            used.add(int(a.get("slot", "0")))
    for m in mems:
        if m.get("model") not in ("dimm", "nvdimm"):
            continue
        a = m.find("address")
        if a is not None and a.get("type") == "dimm":
            continue
        slot = next(i for i in range(1 << 16) if i not in used)
        used.add(slot)
        a = etree.SubElement(m, "address", type="dimm", slot=str(slot))


# ----------------------------------------------------------------------------- aliases

def _user_alias(el: E) -> str | None:
    a = el.find("alias")
    name = a.get("name") if a is not None else None
    if name and name.startswith("ua-"):
        return name
    return None


def _alias_index(el: E, prefix: str) -> int:
    a = X.alias(el)
    if not a or not a.startswith(prefix):
        return -1
    rest = a[len(prefix):]
    return int(rest) if rest.isdigit() else -1


def _next_index(els: list[E], prefix: str) -> int:
    idx = 0
    for e in els:
        n = _alias_index(e, prefix)
        if n >= idx:
            idx = n + 1
    return idx


def assign_aliases(dom: Domain) -> None:
    """The names QEMU knows devices by (as libvirt's qemuAssignDeviceAliases)."""
    for el in dom.devices:
        if isinstance(el.tag, str):
            ua = _user_alias(el)
            if ua:
                X.set_alias(el, ua)

    def setting(el: E, value: str) -> None:
        if not X.alias(el):
            X.set_alias(el, value)

    for disk in dom.all("disk"):
        bus = X.get(disk, "target", "bus") or ""
        a = disk.find("address")
        if a is not None and a.get("type") == "drive":
            c, b, t, u = (a.get("controller", "0"), a.get("bus", "0"), a.get("target", "0"), a.get("unit", "0"))
            model = None
            if bus == "scsi":
                ctl = dom.controller("scsi", int(c))
                model = ctl.get("model") if ctl is not None else None
            if bus != "scsi" or model == "lsilogic":
                value = f"{bus}{c}-{b}-{u}"
            else:
                value = f"{bus}{c}-{b}-{t}-{u}"
        else:
            value = f"{bus}-disk{disk_name_to_index(X.get(disk, 'target', 'dev') or '')}"
        setting(disk, value)
    nets = dom.all("interface")
    hostdevs = dom.all("hostdev")
    for net in nets:
        if X.alias(net):
            continue
        if net.get("type") == "hostdev":
            setting(net, f"hostdev{max(_next_index(hostdevs, 'hostdev'), _next_index(nets, 'hostdev'))}")
        else:
            setting(net, f"net{_next_index(nets, 'net')}")
    fss = dom.all("filesystem")
    for fs in fss:
        setting(fs, f"fs{_next_index(fss, 'fs')}")
    for i, s in enumerate(dom.all("sound")):
        setting(s, f"sound{i}")
    for h in hostdevs:
        setting(h, f"hostdev{max(_next_index(hostdevs, 'hostdev'), _next_index(nets, 'hostdev'))}")
    for i, r in enumerate(dom.all("redirdev")):
        setting(r, f"redir{i}")
    for i, v in enumerate(dom.all("video")):
        setting(v, f"video{i}")
    for c in dom.controllers():
        ctype, idx, model = c.get("type"), int(c.get("index", "0")), c.get("model")
        if ctype == "pci":
            value = f"pcie.{idx}" if model == "pcie-root" else f"pci.{idx}"
        elif ctype == "ide" and dom.has_builtin_ide() and idx == 0 or ctype == "sata" and dom.is_q35() and idx == 0:
            value = "ide"
        elif ctype == "usb" and idx == 0:
            value = "usb"
        elif ctype == "scsi" and model == "ncr53c90" and idx == 0:
            value = "scsi"
        else:
            value = f"{ctype}{idx}"
        setting(c, value)
    for i, el in enumerate(dom.all("input")):
        setting(el, f"input{i}")
    for tag in ("parallel", "serial", "channel", "console"):
        for i, el in enumerate(dom.all(tag)):
            if tag == "console" and i == 0 and X.get(el, "target", "type") == "serial" and dom.all("serial") \
                    and not X.alias(el):
                X.set_alias(el, X.alias(dom.all("serial")[0]) or "serial0")
            setting(el, f"{tag}{i}")
    for i, h in enumerate(dom.all("hub")):
        setting(h, f"hub{i}")
    for i, s in enumerate(dom.all("shmem")):
        setting(s, f"shmem{i}")
    for i, s in enumerate(dom.all("smartcard")):
        setting(s, f"smartcard{i}")
    for w in dom.all("watchdog"):
        setting(w, "watchdog0")
    for mb in dom.all("memballoon"):
        if mb.get("model") != "none":
            setting(mb, "balloon0")
    rngs = dom.all("rng")
    for r in rngs:
        setting(r, f"rng{_next_index(rngs, 'rng')}")
    for i, t in enumerate(dom.all("tpm")):
        setting(t, f"tpm{i}")
    mems = dom.all("memory")
    for m in mems:
        model = m.get("model") or "dimm"
        prefix = {"dimm": "dimm", "nvdimm": "nvdimm", "virtio-pmem": "virtiopmem", "virtio-mem": "virtiomem",
                  "sgx-epc": "epc"}.get(model, "dimm")
        if model in ("dimm", "nvdimm"):
            setting(m, f"{prefix}{X.get(m, 'address', 'slot') or '0'}")
        else:
            setting(m, f"{prefix}{_next_index(mems, prefix)}")
    for v in dom.all("vsock"):
        setting(v, "vsock0")
    for io in dom.all("iommu"):
        setting(io, "iommu0")
    for i, c in enumerate(dom.all("crypto")):
        setting(c, f"crypto{i}")
    for i, p in enumerate(dom.all("panic")):
        setting(p, f"panic{i}")
