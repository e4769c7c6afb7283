"""Host devices read from sysfs and described as libvirt's node devices.

One collector per device class (``COLLECTORS``) turns sysfs entries into ``HostDevice`` records: the
name libvirt gives the device, its sysfs path, its driver and its capability element. Parents are
found by walking up the sysfs tree to the nearest device that has a record ("computer" otherwise),
as libvirt's udev backend does. The sysfs root is a parameter so tests can use a tree of their own.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from lxml import etree

#: Where the PCI and USB name databases live (Debian packages pci.ids and usb.ids).
ID_DATABASES = {"pci": ("/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids"),
                "usb": ("/usr/share/misc/usb.ids", "/usr/share/hwdata/usb.ids")}
PCIE_SPEEDS = {1: "2.5", 2: "5", 3: "8", 4: "16", 5: "32", 6: "64"}
#: Block devices that are disks (whole devices; partitions, loop, zram and dm devices are not listed).
DISK_NAMES = re.compile(r"^(sd[a-z]+|vd[a-z]+|xvd[a-z]+|hd[a-z]+|nvme\d+n\d+|mmcblk\d+)$")
CDROM_NAMES = re.compile(r"^sr\d+$")


@dataclass
class HostDevice:
    """One node device: ``cap`` is its top-level <capability> element."""

    name: str
    sysfs_path: str | None
    cap: etree._Element
    driver: str | None = None
    devnodes: list[str] = field(default_factory=list)
    parent: str | None = None
    #: nested capability types, for virNodeDeviceListCaps
    subcaps: list[str] = field(default_factory=list)
    #: False for a mediated device that is only defined (not started)
    active: bool = True

    @property
    def cap_type(self) -> str:
        return str(self.cap.get("type"))

    def to_xml(self) -> str:
        """The device as libvirt prints it (validated and formatted by virt.conf)."""
        from virt.conf import parse

        root = etree.Element("device")
        etree.SubElement(root, "name").text = self.name
        if self.sysfs_path:
            etree.SubElement(root, "path").text = self.sysfs_path
        for node in self.devnodes:
            dn = etree.SubElement(root, "devnode", type="dev")
            dn.text = node
        if self.parent:
            etree.SubElement(root, "parent").text = self.parent
        root.append(self.cap)
        text = str(parse(root, "device").format())
        if self.driver:
            # reported by the host, never read back, so virt.conf does not print it: it goes
            # right before the first capability, as libvirt prints it
            at = text.index("  <capability")
            text = text[:at] + f"  <driver>\n    <name>{_escape(self.driver)}</name>\n  </driver>\n" + text[at:]
        return text


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _el(tag: str, text: object = None, **attrs: object) -> etree._Element:
    el = etree.Element(tag, {k: str(v) for k, v in attrs.items() if v is not None})
    if text is not None:
        el.text = str(text)
    return el


def _sub(parent: etree._Element, tag: str, text: object = None, **attrs: object) -> etree._Element:
    el = _el(tag, text, **attrs)
    parent.append(el)
    return el


def device_name(subsystem: str, sysname: str, suffix: str | None = None) -> str:
    """libvirt's generated name: subsystem_sysname[_suffix], every non-alphanumeric as '_'."""
    raw = f"{subsystem}_{sysname}" + (f"_{suffix}" if suffix else "")
    return re.sub(r"[^A-Za-z0-9]", "_", raw)


# ----------------------------------------------------------------------------- id databases

@cache
def id_database(kind: str) -> dict[tuple[int, int | None], str]:
    """(vendor, None) -> vendor name, (vendor, device) -> device name, from pci.ids / usb.ids."""
    names: dict[tuple[int, int | None], str] = {}
    path = next((p for p in ID_DATABASES[kind] if os.path.exists(p)), None)
    if path is None:
        return names
    vendor: int | None = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            if line.startswith("C ") or (kind == "usb" and re.match(r"^[A-Z]{1,3} ", line)):
                vendor = None  # the class lists and other tables at the end
                continue
            if not line.startswith("\t"):
                m = re.match(r"^([0-9a-fA-F]{4})\s+(.*)$", line.rstrip("\n"))
                vendor = int(m.group(1), 16) if m else None
                if m:
                    names[(vendor, None)] = m.group(2)  # type: ignore[index]
            elif vendor is not None and not line.startswith("\t\t"):
                m = re.match(r"^\t([0-9a-fA-F]{4})\s+(.*)$", line.rstrip("\n"))
                if m:
                    names[(vendor, int(m.group(1), 16))] = m.group(2)
    return names


# ----------------------------------------------------------------------------- sysfs access

class Sysfs:
    def __init__(self, root: str = "/sys") -> None:
        self.root = Path(root)

    def read(self, path: Path | str, default: str | None = None) -> str | None:
        try:
            return Path(path).read_text(errors="replace").strip()
        except OSError:
            return default

    def read_int(self, path: Path | str, base: int = 10) -> int | None:
        text = self.read(path)
        try:
            return int(text, base) if text is not None else None
        except ValueError:
            return None

    def link_name(self, path: Path | str) -> str | None:
        try:
            return os.path.basename(os.readlink(path))
        except OSError:
            return None

    def real(self, path: Path | str) -> str:
        """The device's canonical path, spelled under /sys even when the tree lives elsewhere."""
        real = os.path.realpath(path)
        root = os.path.realpath(self.root)
        if root != "/sys" and (real == root or real.startswith(root + "/")):
            return "/sys" + real[len(root):]
        return real

    def entries(self, *parts: str) -> list[Path]:
        d = self.root.joinpath(*parts)
        try:
            return sorted(d.iterdir())
        except OSError:
            return []


# ----------------------------------------------------------------------------- collectors

def collect_system(fs: Sysfs) -> Iterator[HostDevice]:
    dmi = fs.root / "class" / "dmi" / "id"
    cap = _el("capability", type="system")
    product = fs.read(dmi / "product_name")
    if product:
        _sub(cap, "product", product)
    # libvirt always prints both blocks; an unknown system UUID prints as all zeros
    hardware = _sub(cap, "hardware")
    for tag, attr in (("vendor", "sys_vendor"), ("version", "product_version"), ("serial", "product_serial")):
        value = fs.read(dmi / attr)
        if value:
            _sub(hardware, tag, value)
    _sub(hardware, "uuid", fs.read(dmi / "product_uuid") or "00000000-0000-0000-0000-000000000000")
    firmware = _sub(cap, "firmware")
    for tag, attr in (("vendor", "bios_vendor"), ("version", "bios_version"), ("release_date", "bios_date")):
        value = fs.read(dmi / attr)
        if value:
            _sub(firmware, tag, value)
    yield HostDevice("computer", None, cap)


def _pci_address(text: str) -> dict[str, str] | None:
    m = re.fullmatch(r"([0-9a-fA-F]{4}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])", text)
    if m is None:
        return None
    return {"domain": f"0x{m.group(1).lower()}", "bus": f"0x{m.group(2).lower()}",
            "slot": f"0x{m.group(3).lower()}", "function": f"0x{m.group(4)}"}


def _pcie_links(config: bytes) -> list[etree._Element]:
    """<link> elements from the PCI Express capability in config space (empty when not PCIe)."""
    if len(config) < 64 or not config[6] & 0x10:  # status register: capability list present
        return []
    pos = config[0x34] & 0xFC
    seen = set()
    while pos and pos not in seen and pos + 0x14 <= len(config):
        seen.add(pos)
        cap_id, nxt = config[pos], config[pos + 1]
        if cap_id == 0x10:
            port_type = (struct.unpack_from("<H", config, pos + 2)[0] >> 4) & 0xF
            if port_type in (9, 10):  # root-complex integrated endpoint / event collector: no link
                return [_el("pci-express")]
            (lnkcap,) = struct.unpack_from("<I", config, pos + 0x0C)
            (lnksta,) = struct.unpack_from("<H", config, pos + 0x12)
            express = _el("pci-express")
            _sub(express, "link", validity="cap", port=lnkcap >> 24, speed=PCIE_SPEEDS.get(lnkcap & 0xF),
                 width=(lnkcap >> 4) & 0x3F)
            if lnksta & 0xF:
                _sub(express, "link", validity="sta", speed=PCIE_SPEEDS.get(lnksta & 0xF), width=(lnksta >> 4) & 0x3F)
            return [express]
        pos = nxt & 0xFC
    return []


def collect_pci(fs: Sysfs) -> Iterator[HostDevice]:
    pci_ids = id_database("pci")
    for dev in fs.entries("bus", "pci", "devices"):
        addr = _pci_address(dev.name)
        if addr is None:
            continue
        vendor = fs.read_int(dev / "vendor", 16)
        product = fs.read_int(dev / "device", 16)
        klass = fs.read_int(dev / "class", 16)
        if vendor is None or product is None:
            continue
        dom, bus, slot, fn = (int(addr[k], 16) for k in ("domain", "bus", "slot", "function"))
        cap = _el("capability", type="pci")
        _sub(cap, "class", f"0x{(klass or 0):06x}")
        for tag, value in (("domain", dom), ("bus", bus), ("slot", slot), ("function", fn)):
            _sub(cap, tag, value)
        _sub(cap, "product", pci_ids.get((vendor, product)), id=f"0x{product:04x}")
        _sub(cap, "vendor", pci_ids.get((vendor, None)), id=f"0x{vendor:04x}")
        subcaps = []
        physfn = fs.link_name(dev / "physfn")
        if physfn and (a := _pci_address(physfn)):
            sub = _sub(cap, "capability", type="phys_function")
            _sub(sub, "address", **a)
            subcaps.append("phys_function")
        total_vfs = fs.read_int(dev / "sriov_totalvfs")
        if total_vfs:
            sub = _sub(cap, "capability", type="virt_functions", maxCount=total_vfs)
            vfs = sorted((p for p in dev.glob("virtfn*")), key=lambda p: int(p.name[6:] or 0))
            for vf in vfs:
                if (vf_name := fs.link_name(vf)) and (va := _pci_address(vf_name)):
                    _sub(sub, "address", **va)
            subcaps.append("virt_functions")
        mdev_types = _mdev_types(fs, dev)
        if mdev_types is not None:
            cap.append(mdev_types)
            subcaps.append("mdev_types")
        try:
            config = (dev / "config").read_bytes()[:256]
        except OSError:
            config = b""
        if len(config) > 0x0E:
            header = config[0x0E] & 0x7F
            if header in (1, 2):
                _sub(cap, "capability", type="pci-bridge" if header == 1 else "cardbus-bridge")
        group = fs.link_name(dev / "iommu_group")
        if group is not None:
            iommu = _sub(cap, "iommuGroup", number=group)
            members = fs.entries("kernel", "iommu_groups", group, "devices")
            for member in members:
                if (ma := _pci_address(member.name)):
                    _sub(iommu, "address", **ma)
        numa = fs.read_int(dev / "numa_node")
        if numa is not None and numa >= 0:
            _sub(cap, "numa", node=numa)
        for express in _pcie_links(config):
            cap.append(express)
        yield HostDevice(device_name("pci", dev.name), fs.real(dev), cap, driver=fs.link_name(dev / "driver"),
                         subcaps=subcaps)


def _mdev_types(fs: Sysfs, dev: Path) -> etree._Element | None:
    """<capability type='mdev_types'>: the mediated device types a parent offers (its
    mdev_supported_types directory), or None when it offers none."""
    try:
        types = sorted(t for t in (dev / "mdev_supported_types").iterdir() if t.is_dir())
    except OSError:
        return None
    if not types:
        return None
    cap = _el("capability", type="mdev_types")
    for t in types:
        el = _sub(cap, "type", id=t.name)
        name = fs.read(t / "name")
        if name:
            _sub(el, "name", name)
        _sub(el, "deviceAPI", fs.read(t / "device_api") or "")
        _sub(el, "availableInstances", fs.read_int(t / "available_instances") or 0)
    return cap


def collect_mdev(fs: Sysfs) -> Iterator[HostDevice]:
    """Mediated devices (/sys/bus/mdev/devices/UUID): named after their UUID and their parent's
    address, as libvirt has named them since 7.7 (one UUID may be defined under several parents)."""
    for dev in fs.entries("bus", "mdev", "devices"):
        mdev_type = fs.link_name(dev / "mdev_type")
        if mdev_type is None:
            continue
        parent_addr = os.path.basename(os.path.dirname(fs.real(dev)))
        cap = _el("capability", type="mdev")
        _sub(cap, "type", id=mdev_type)
        _sub(cap, "uuid", dev.name)
        group = fs.link_name(dev / "iommu_group")
        _sub(cap, "iommuGroup", number=group if group is not None and group.isdigit() else 0)
        yield HostDevice(device_name("mdev", dev.name, parent_addr), fs.real(dev), cap,
                         driver=fs.link_name(dev / "driver"))


def collect_usb(fs: Sysfs) -> Iterator[HostDevice]:
    usb_ids = id_database("usb")
    for dev in fs.entries("bus", "usb", "devices"):
        if ":" in dev.name:  # an interface: "1-1:1.0"
            cap = _el("capability", type="usb")
            _sub(cap, "number", fs.read_int(dev / "bInterfaceNumber", 16) or 0)
            _sub(cap, "class", fs.read_int(dev / "bInterfaceClass", 16) or 0)
            _sub(cap, "subclass", fs.read_int(dev / "bInterfaceSubClass", 16) or 0)
            _sub(cap, "protocol", fs.read_int(dev / "bInterfaceProtocol", 16) or 0)
            desc = fs.read(dev / "interface")
            if desc:
                _sub(cap, "description", desc)
        else:
            vendor = fs.read_int(dev / "idVendor", 16)
            product = fs.read_int(dev / "idProduct", 16)
            if vendor is None or product is None:
                continue
            cap = _el("capability", type="usb_device")
            _sub(cap, "bus", fs.read_int(dev / "busnum") or 0)
            _sub(cap, "device", fs.read_int(dev / "devnum") or 0)
            _sub(cap, "product", usb_ids.get((vendor, product)) or fs.read(dev / "product"), id=f"0x{product:04x}")
            _sub(cap, "vendor", usb_ids.get((vendor, None)) or fs.read(dev / "manufacturer"), id=f"0x{vendor:04x}")
        yield HostDevice(device_name("usb", dev.name), fs.real(dev), cap, driver=fs.link_name(dev / "driver"))


def collect_net(fs: Sysfs) -> Iterator[HostDevice]:
    for dev in fs.entries("class", "net"):
        mac = fs.read(dev / "address") or ""
        cap = _el("capability", type="net")
        _sub(cap, "interface", dev.name)
        if mac:
            _sub(cap, "address", mac)
        speed = fs.read_int(dev / "speed")
        state = fs.read(dev / "operstate")
        link = _el("link", speed=speed if speed is not None and speed > 0 else None,
                   state=state if state in ("unknown", "notpresent", "down", "lowerlayerdown", "testing",
                                            "dormant", "up") else None)
        cap.append(link)
        if (dev / "wireless").exists() or (dev / "phy80211").exists():
            _sub(cap, "capability", type="80211")
        elif fs.read_int(dev / "type") == 1:
            _sub(cap, "capability", type="80203")
        yield HostDevice(device_name("net", dev.name, mac or None), fs.real(dev), cap,
                         driver=fs.link_name(dev / "device" / "driver"))


def collect_storage(fs: Sysfs) -> Iterator[HostDevice]:
    for dev in fs.entries("class", "block") or fs.entries("block"):
        name = dev.name
        cdrom = bool(CDROM_NAMES.match(name))
        if not (DISK_NAMES.match(name) or cdrom):
            continue
        cap = _el("capability", type="storage")
        _sub(cap, "block", f"/dev/{name}")
        bus = _bus_of(fs.real(dev))
        if bus:
            _sub(cap, "bus", bus)
        _sub(cap, "drive_type", "cdrom" if cdrom else "disk")
        # SCSI/ATA disks name their model and vendor; a virtio disk's "vendor" is a PCI-style id
        model = fs.read(dev / "device" / "model")
        vendor = fs.read(dev / "device" / "vendor") if model is not None else None
        serial = fs.read(dev / "serial") or fs.read(dev / "device" / "serial")
        for tag, value in (("model", model), ("vendor", vendor), ("serial", serial)):
            if value:
                _sub(cap, tag, value)
        sectors = fs.read_int(dev / "size") or 0
        block_size = fs.read_int(dev / "queue" / "logical_block_size") or 512
        if fs.read_int(dev / "removable") == 1 or cdrom:
            rem = _sub(cap, "capability", type="removable")
            _sub(rem, "media_available", 1 if sectors else 0)
            _sub(rem, "media_size", sectors * 512)
            if sectors:
                _sub(rem, "logical_block_size", block_size)
                _sub(rem, "num_blocks", sectors * 512 // block_size)
        else:
            _sub(cap, "size", sectors * 512)
            _sub(cap, "logical_block_size", block_size)
            _sub(cap, "num_blocks", sectors * 512 // block_size)
        yield HostDevice(device_name("block", name, serial or None), fs.real(dev), cap, devnodes=[f"/dev/{name}"])


def _bus_of(path: str) -> str | None:
    for word, bus in (("/virtio", "virtio"), ("/usb", "usb"), ("/ata", "ata"), ("/nvme", "nvme"),
                      ("/host", "scsi"), ("/mmc", "mmc")):
        if word in path:
            return bus
    return None


def collect_scsi_host(fs: Sysfs) -> Iterator[HostDevice]:
    for dev in fs.entries("class", "scsi_host"):
        m = re.fullmatch(r"host(\d+)", dev.name)
        if m is None:
            continue
        cap = _el("capability", type="scsi_host")
        _sub(cap, "host", m.group(1))
        unique = fs.read_int(dev / "unique_id")
        if unique is not None:
            _sub(cap, "unique_id", unique)
        # the class entry's real path ends in .../hostN/scsi_host/hostN: the device is two up
        path = os.path.dirname(os.path.dirname(fs.real(dev)))
        yield HostDevice(f"scsi_{dev.name}", path, cap)


#: Device classes in libvirt's listing order; each yields the devices of its class.
COLLECTORS: tuple[Callable[[Sysfs], Iterator[HostDevice]], ...] = (
    collect_system, collect_pci, collect_usb, collect_net, collect_scsi_host, collect_storage, collect_mdev,
)


def enumerate_devices(root: str = "/sys") -> list[HostDevice]:
    """Every device with its parent set."""
    fs = Sysfs(root)
    devices = [dev for collector in COLLECTORS for dev in collector(fs)]
    by_path = {d.sysfs_path: d.name for d in devices if d.sysfs_path}
    for dev in devices:
        if dev.name == "computer":
            continue
        parent = None
        path = dev.sysfs_path
        while path and path not in ("/", "/sys"):
            path = os.path.dirname(path)
            if path in by_path:
                parent = by_path[path]
                break
        dev.parent = parent or "computer"
    return devices
