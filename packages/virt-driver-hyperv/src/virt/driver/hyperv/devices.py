"""A guest's devices in domain XML, from its WMI resource settings, as libvirt's Hyper-V driver reads them.

Storage is three layers linked by ``Parent`` object paths: controllers (Msvm_ResourceAllocationSettingData
of ResourceType 5, an IDE channel, or 6, a SCSI adapter), drives on them (17 disk, 16 DVD, 14 floppy;
``AddressOnParent`` is the unit) and the images in the drives (Msvm_StorageAllocationSettingData,
``HostResource`` the file). A drive whose own HostResource names a host disk is a passthrough disk.
NICs are Msvm_EthernetPortAllocationSettingData connected (HostResource) to a virtual switch, their
MAC on the synthetic port (Parent); serial ports are Msvm_SerialPortSettingData named "COM n".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from virt.driver.hyperv.wsman import hyperv_error

#: Msvm_ResourceAllocationSettingData.ResourceType values read.
RESOURCE_OTHER = 1
RESOURCE_IDE_CONTROLLER = 5
RESOURCE_SCSI_HBA = 6
RESOURCE_DISKETTE_DRIVE = 14
RESOURCE_DVD_DRIVE = 16
RESOURCE_DISK_DRIVE = 17
RESOURCE_SERIAL_PORT = 21
#: How many drives a controller of each bus holds, which places a disk in the hdX/sdX name space.
_DRIVES_PER_CONTROLLER = {"ide": 2, "scsi": 64}
#: Msvm_EthernetPortAllocationSettingData.EnabledState of a disconnected adapter.
_PORT_DISABLED = 3


def xml_escape(text: str) -> str:
    """Text or an attribute value escaped as libvirt escapes it (all five XML specials)."""
    return escape(text, {"'": "&apos;", '"': "&quot;"})


def _attr(value: str) -> str:
    return f"'{xml_escape(value)}'"


def as_list(value: Any) -> list[Any]:
    """A WMI array property (one element comes back as a plain value, none as None)."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def disk_name(index: int, prefix: str) -> str:
    """libvirt's disk name for an index: 0 -> hda, 25 -> hdz, 26 -> hdaa."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(ord("a") + rest) + name
    return prefix + name


def _parent(path: str, entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The entry a ``Parent`` object path names (its InstanceID key, backslashes doubled in the path)."""
    for entry in entries:
        escaped = str(entry.get("InstanceID", "")).replace("\\", "\\\\")
        if path.endswith(f'InstanceID="{escaped}"') or path.endswith(escaped):
            return entry
    return None


@dataclass
class Disk:
    device: str  # disk, cdrom, floppy
    type: str  # file, block
    source: str
    bus: str
    target: str
    address: tuple[int, int, int] | None  # controller, bus, unit


@dataclass
class Devices:
    """What dumpxml shows under <devices>, in the order libvirt writes it."""

    disks: list[Disk] = field(default_factory=list)
    controllers: list[tuple[str, int]] = field(default_factory=list)
    nets: list[tuple[str, str]] = field(default_factory=list)  # (mac, bridge)
    serials: list[tuple[int, str]] = field(default_factory=list)  # (port, pipe path)

    def xml(self) -> list[str]:
        lines = []
        for d in self.disks:
            attr = "file" if d.type == "file" else "dev"
            lines += [f"    <disk type='{d.type}' device='{d.device}'>", f"      <source {attr}={_attr(d.source)}/>",
                      f"      <target dev='{d.target}' bus='{d.bus}'/>"]
            if d.address is not None:
                c, b, u = d.address
                lines.append(f"      <address type='drive' controller='{c}' bus='{b}' target='0' unit='{u}'/>")
            lines.append("    </disk>")
        lines += [f"    <controller type='{kind}' index='{index}'/>" for kind, index in self.controllers]
        for mac, bridge in self.nets:
            lines += ["    <interface type='bridge'>", f"      <mac address='{mac}'/>",
                      f"      <source bridge={_attr(bridge)}/>", "    </interface>"]
        for port, path in self.serials:
            lines += ["    <serial type='pipe'>", f"      <source path={_attr(path)}/>",
                      f"      <target port='{port}'/>", "    </serial>"]
        return lines


def storage(devices: Devices, rasd: list[dict[str, Any]], sasd: list[dict[str, Any]],
            drive_number: Callable[[str], str]) -> None:
    """Controllers, passthrough disks and image-backed drives, in libvirt's three passes."""
    ide: dict[int, dict[str, Any]] = {}
    scsi: list[dict[str, Any]] = []
    for entry in rasd:
        kind = int(entry.get("ResourceType") or 0)
        if kind == RESOURCE_IDE_CONTROLLER:
            if not ide:
                # Hyper-V shows its PIIX4's two channels as two objects: one IDE controller for libvirt.
                devices.controllers.append(("ide", 0))
            ide[int(str(entry.get("Address") or "0")[:1] or 0)] = entry
        elif kind == RESOURCE_SCSI_HBA:
            devices.controllers.append(("scsi", len(scsi)))
            scsi.append(entry)

    def place(controller: dict[str, Any], unit: int) -> tuple[str, str, tuple[int, int, int]]:
        kind = int(controller.get("ResourceType") or 0)
        if kind == RESOURCE_SCSI_HBA:
            index = next(i for i, c in enumerate(scsi) if c is controller)
            return "scsi", disk_name(index * _DRIVES_PER_CONTROLLER["scsi"] + unit, "sd"), (index, 0, unit)
        channel = next(i for i, c in ide.items() if c is controller)
        return "ide", disk_name(channel * _DRIVES_PER_CONTROLLER["ide"] + unit, "hd"), (0, channel, unit)

    for entry in rasd:  # passthrough disks: a disk drive whose host resource is a host disk
        hosts = as_list(entry.get("HostResource"))
        if int(entry.get("ResourceType") or 0) != RESOURCE_DISK_DRIVE or not hosts or "NODRIVE" in str(hosts[0]):
            continue
        controller = _parent(str(entry.get("Parent") or ""), rasd)
        if controller is None or int(controller.get("ResourceType") or 0) not in (RESOURCE_IDE_CONTROLLER,
                                                                                 RESOURCE_SCSI_HBA):
            raise hyperv_error("Invalid controller type for LUN")
        bus, target, address = place(controller, int(entry.get("AddressOnParent") or 0))
        devices.disks.append(Disk("disk", "block", drive_number(str(hosts[0])), bus, target, address))

    for image in sasd:  # image files in drives
        hosts = as_list(image.get("HostResource"))
        if not hosts:
            continue
        drive = _parent(str(image.get("Parent") or ""), rasd)
        controller = _parent(str(drive.get("Parent") or ""), rasd) if drive is not None else None
        if drive is None or controller is None:
            raise hyperv_error("Could not find the drive and controller of a storage extent")
        device = "cdrom" if image.get("ResourceSubType") == "Microsoft:Hyper-V:Virtual CD/DVD Disk" else "disk"
        kind = int(controller.get("ResourceType") or 0)
        if kind in (RESOURCE_IDE_CONTROLLER, RESOURCE_SCSI_HBA):
            bus, target, address = place(controller, int(drive.get("AddressOnParent") or 0))
            devices.disks.append(Disk(device, "file", str(hosts[0]), bus, target, address))
        elif kind == RESOURCE_OTHER and int(drive.get("ResourceType") or 0) == RESOURCE_DISKETTE_DRIVE:
            devices.disks.append(Disk("floppy", "file", str(hosts[0]), "fdc", "fda", (0, 0, 0)))
        else:
            raise hyperv_error(f"Unrecognized controller type {kind}")


def serials(devices: Devices, ports: list[dict[str, Any]]) -> None:
    for port in ports:
        if int(port.get("ResourceType") or 0) != RESOURCE_SERIAL_PORT:
            continue
        name = str(port.get("ElementName") or "")
        number = int(name[4]) if len(name) > 4 and name[4].isdigit() else 0
        if number < 1:
            continue
        # No connection at all reads "-1", as libvirt writes it; an empty one stays empty.
        connection = as_list(port.get("Connection"))
        devices.serials.append((number, str(connection[0]) if connection and connection[0] is not None else "-1"))


def format_mac(hex_address: str) -> str:
    if len(hex_address) != 12 or any(c not in "0123456789abcdefABCDEF" for c in hex_address):
        raise hyperv_error(f"Could not parse MAC address '{hex_address}'")
    return ":".join(hex_address[i:i + 2] for i in range(0, 12, 2)).lower()
