"""The part of a domain definition that VMX can express, and libvirt's generic rules VMX conversion relies on.

These records play the role of libvirt's virDomainDef for the VMX converter: ``parse.py`` fills
them from a .vmx file, ``domxml.py`` reads and writes them as domain XML, ``format.py`` writes
them as .vmx. The helpers at the end are libvirt's generic ones the converter depends on: disk
names to indexes, default drive addresses, implicit controllers and the serial console.
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass, field

from virt.util.errors import InternalError

#: SCSI unit the controller itself occupies; disks skip it.
SCSI_CONTROLLER_UNIT = 7
#: Units of a wide SCSI bus (virtualHW < 13) and of a "super wide" one (virtualHW >= 13).
SCSI_WIDE_BUS_UNITS = 16
SCSI_SUPER_WIDE_BUS_UNITS = 64


@dataclass
class DriveAddress:
    controller: int = 0
    bus: int = 0
    target: int = 0
    unit: int = 0


@dataclass
class DiskDef:
    device: str  # disk, cdrom, lun, floppy
    bus: str  # scsi, sata, ide, fdc
    dst: str = ""
    type: str | None = None  # file, block (None: not set)
    src: str | None = None
    cache: str | None = None
    driver_name: str | None = None
    readonly: bool = False
    transient: bool = False
    startup_policy: str | None = None
    address: DriveAddress | None = None
    #: Whether the XML gave an address (formatting checks it against the target name).
    address_type: str | None = None


@dataclass
class ControllerDef:
    type: str  # scsi, sata, ide, fdc, ...
    index: int
    model: str | None = None


@dataclass
class FilesystemDef:
    type: str = "mount"
    src: str | None = None
    dst: str | None = None
    readonly: bool = False
    accessmode: str = "passthrough"


@dataclass
class NetDef:
    type: str  # bridge, user, null, vds, ...
    mac: str | None = None
    mac_type: str | None = None  # generated, static
    mac_check: bool | None = None
    model: str | None = None
    bridge: str | None = None
    ifname: str | None = None
    switch_id: str | None = None
    port_id: int = 0
    portgroup_id: str | None = None
    connection_id: int = 0


@dataclass
class ChrDef:
    """A serial, parallel or console device and its host side."""

    kind: str  # serial, parallel, console
    type: str  # dev, file, pipe, tcp, ...
    path: str | None = None
    host: str | None = None
    service: str | None = None
    protocol: str = "raw"
    listen: bool = False
    port: int = 0
    target_type: str | None = None


@dataclass
class VideoDef:
    type: str = "vmvga"
    vram: int | None = None
    heads: int = 0
    primary: bool = False


@dataclass
class GraphicsDef:
    type: str  # vnc, ...
    port: int = 0
    autoport: bool = False
    listen: str | None = None
    has_listen: bool = False
    keymap: str | None = None
    passwd: str | None = None


@dataclass
class CPUTopology:
    sockets: int
    dies: int
    cores: int
    threads: int


@dataclass
class DomainDef:
    virt_type: str = "vmware"
    id: int = -1
    name: str | None = None
    uuid: uuidlib.UUID = field(default_factory=lambda: uuidlib.UUID(int=0))
    genid: uuidlib.UUID | None = None
    description: str | None = None
    memory: int = 0  # KiB
    current_memory: int = 0  # KiB
    min_guarantee: int = 0  # KiB
    vcpus: int = 1
    current_vcpus: int | None = None
    cpuset: set[int] | None = None
    shares: int | None = None
    os_type: str = "hvm"
    arch: str | None = None
    smbios_mode: str | None = None
    firmware: str | None = None
    cpu_mode: str | None = None
    topology: CPUTopology | None = None
    has_cpu: bool = False
    disks: list[DiskDef] = field(default_factory=list)
    controllers: list[ControllerDef] = field(default_factory=list)
    filesystems: list[FilesystemDef] = field(default_factory=list)
    nets: list[NetDef] = field(default_factory=list)
    serials: list[ChrDef] = field(default_factory=list)
    parallels: list[ChrDef] = field(default_factory=list)
    consoles: list[ChrDef] = field(default_factory=list)
    graphics: list[GraphicsDef] = field(default_factory=list)
    videos: list[VideoDef] = field(default_factory=list)
    #: Highest SCSI unit number + 1 (SCSI_WIDE_BUS_UNITS or SCSI_SUPER_WIDE_BUS_UNITS).
    scsi_bus_units: int = SCSI_WIDE_BUS_UNITS
    #: The vmware XML namespace's data (<vmware:datacenterpath>, <vmware:moref>).
    datacenter_path: str | None = None
    moref: str | None = None


# ---------------------------------------------------------------------------------------------- disk names

def index_to_disk_name(index: int, prefix: str) -> str:
    """0 -> sda, 25 -> sdz, 26 -> sdaa (virIndexToDiskName)."""
    letters = ""
    index += 1
    while index > 0:
        index -= 1
        letters = chr(ord("a") + index % 26) + letters
        index //= 26
    return prefix + letters


def disk_name_to_index(name: str) -> int:
    """sda -> 0, hdc -> 2, sdaa -> 26 (virDiskNameToIndex); -1 when ``name`` is not a disk name."""
    for prefix in ("fd", "hd", "vd", "sd", "xvd", "ubd"):
        if name.startswith(prefix):
            rest = name[len(prefix):]
            break
    else:
        return -1
    index = 0
    digits = 0
    for ch in rest:
        if not ("a" <= ch <= "z"):
            break
        index = index * 26 + (ord(ch) - ord("a") + 1)
        digits += 1
    tail = rest[digits:]
    if digits == 0 or (tail and not tail.isdigit()):
        return -1
    return index - 1


def scsi_units_per_controller(dom: DomainDef) -> int:
    """Disks one SCSI controller holds: every unit of the bus but the controller's own."""
    return dom.scsi_bus_units - 1


def default_drive_address(dom: DomainDef, disk: DiskDef) -> DriveAddress:
    """The drive address libvirt assigns from the target name (virDomainDiskDefAssignAddress, wide SCSI)."""
    idx = disk_name_to_index(disk.dst)
    if idx < 0:
        raise InternalError(f"Unknown disk name '{disk.dst}' and no address specified")
    if disk.bus == "scsi":
        per = scsi_units_per_controller(dom)
        unit = idx % per
        return DriveAddress(idx // per, 0, 0, unit + 1 if unit >= SCSI_CONTROLLER_UNIT else unit)
    if disk.bus == "ide":
        return DriveAddress(0, idx // 2, 0, idx % 2)
    if disk.bus == "fdc":
        return DriveAddress(0, 0, 0, idx)
    if disk.bus == "sata":
        return DriveAddress(idx // 6, 0, 0, idx % 6)
    raise InternalError(f"no drive address for bus '{disk.bus}'")


# ---------------------------------------------------------------------------------------------- controllers

def add_controller(dom: DomainDef, ctrl: ControllerDef) -> ControllerDef:
    """Insert as libvirt does: before the first same-type controller with a higher index, else after
    the last one of its type, else at the end."""
    insert_at = -1
    last_same = -1
    for pos, cur in enumerate(dom.controllers):
        if cur.type == ctrl.type:
            last_same = pos
            if cur.index > ctrl.index and insert_at < 0:
                insert_at = pos
    if insert_at < 0:
        insert_at = last_same + 1 if last_same >= 0 else len(dom.controllers)
    dom.controllers.insert(insert_at, ctrl)
    return ctrl


def find_controller(dom: DomainDef, type: str, index: int) -> ControllerDef | None:
    return next((c for c in dom.controllers if c.type == type and c.index == index), None)


def add_implicit_controllers(dom: DomainDef) -> None:
    """Every disk's controller exists (virDomainDefAddImplicitControllers), in libvirt's order of buses."""
    for bus in ("scsi", "fdc", "ide", "sata"):
        highest = max((d.address.controller for d in dom.disks if d.bus == bus and d.address is not None),
                      default=-1)
        for index in range(highest + 1):
            if find_controller(dom, bus, index) is None:
                add_controller(dom, ControllerDef(bus, index))


def add_console_compat(dom: DomainDef) -> None:
    """An HVM guest's first serial port doubles as its console (virDomainDefAddConsoleCompat)."""
    if dom.consoles or not dom.serials or dom.os_type != "hvm":
        return
    first = dom.serials[0]
    dom.consoles.append(ChrDef("console", first.type, first.path, first.host, first.service, first.protocol,
                               first.listen, first.port, "serial"))


def post_parse(dom: DomainDef) -> None:
    """The generic post-parse steps a converted definition goes through before it is printed."""
    add_console_compat(dom)
    add_implicit_controllers(dom)
    if dom.videos:
        dom.videos[0].primary = True
