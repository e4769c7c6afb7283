"""The node device driver: libvirt's virNodeDevice* calls on local connections, from sysfs.

Devices are read afresh at every call (sysfs is cheap to read and always current). PCI devices
can be detached to vfio-pci for passthrough and given back to their driver; where vfio-pci is not
available the detach is refused with libvirt's message. $VIRT_NODEDEV_SYSFS points the driver at
another sysfs tree (tests use one of their own).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from lxml import etree
from virt.core.driver import Driver, c_name
from virt.core.enums import ConnectListAllNodeDeviceFlags as LF
from virt.core.enums import NodeDeviceEventID
from virt.core.events import EventBus
from virt.core.types import NodeDeviceRef
from virt.core.uri import URI
from virt.secondary.nodedev.mdevctl import MdevDefinition, MdevStore
from virt.secondary.nodedev.monitor import DEFINED, UNDEFINED, monitor_for
from virt.secondary.nodedev.sysfs import HostDevice, device_name, enumerate_devices
from virt.util.errors import (
    ConfigUnsupportedError,
    ErrorDomain,
    ErrorNumber,
    InvalidArgError,
    OperationFailedError,
    OperationInvalidError,
    SystemError_,
    VirtError,
    not_found,
)

NODEDEV = ErrorDomain.NODEDEV
VFIO = "vfio-pci"

#: list-all capability flags -> the capability types they select (top level or nested).
CAP_FLAGS: dict[int, str] = {
    LF.CAP_SYSTEM: "system", LF.CAP_PCI_DEV: "pci", LF.CAP_USB_DEV: "usb_device", LF.CAP_USB_INTERFACE: "usb",
    LF.CAP_NET: "net", LF.CAP_SCSI_HOST: "scsi_host", LF.CAP_SCSI_TARGET: "scsi_target", LF.CAP_SCSI: "scsi",
    LF.CAP_STORAGE: "storage", LF.CAP_FC_HOST: "fc_host", LF.CAP_VPORTS: "vports",
    LF.CAP_SCSI_GENERIC: "scsi_generic", LF.CAP_DRM: "drm", LF.CAP_MDEV_TYPES: "mdev_types", LF.CAP_MDEV: "mdev",
    LF.CAP_CCW_DEV: "ccw", LF.CAP_CSS_DEV: "css", LF.CAP_VDPA: "vdpa", LF.CAP_AP_CARD: "ap_card",
    LF.CAP_AP_QUEUE: "ap_queue", LF.CAP_AP_MATRIX: "ap_matrix", LF.CAP_VPD: "vpd",
}


def _caps_of(dev: HostDevice) -> list[str]:
    return [dev.cap_type, *dev.subcaps]


class NodeDeviceDriver(Driver):
    """Host devices of this machine."""

    name: ClassVar[str] = "nodedev"
    kinds: ClassVar[tuple[str, ...]] = ("nodedev",)

    def __init__(self, uri: URI, *, readonly: bool = False, events: EventBus | None = None) -> None:
        super().__init__(uri, readonly=readonly, events=events)
        self.sysfs = os.environ.get("VIRT_NODEDEV_SYSFS") or "/sys"
        self.mdevctl = MdevStore.from_env()

    # -- helpers ------------------------------------------------------------------------------------
    def _devices(self) -> list[HostDevice]:
        """The host's devices, and the defined mediated devices that are not started."""
        devices = enumerate_devices(self.sysfs)
        definitions = {d.name: d for d in self.mdevctl.all()}
        if not definitions:
            return devices
        by_addr = {os.path.basename(d.sysfs_path): d.name for d in devices if d.sysfs_path}
        for dev in devices:
            defn = definitions.pop(dev.name, None)
            if defn is not None:  # a started definition: its attributes are part of its description
                _add_attrs(dev.cap, defn.attrs)
        for defn in definitions.values():
            cap = etree.Element("capability", type="mdev")
            etree.SubElement(cap, "type", id=defn.mdev_type)
            etree.SubElement(cap, "uuid").text = defn.uuid
            _add_attrs(cap, defn.attrs)
            devices.append(HostDevice(defn.name, None, cap, active=False,
                                      parent=by_addr.get(defn.parent_addr) or device_name("pci", defn.parent_addr)))
        return devices

    def _emit_lifecycle(self, name: str, event: int) -> None:
        """A definition's event, to this connection and every other watching this host's devices."""
        buses = [self.events, *(b for b in monitor_for(self.sysfs).buses if b is not self.events)]
        for bus in buses:
            bus.emit("node_device", NodeDeviceEventID.LIFECYCLE, NodeDeviceRef(name), event, 0)

    def _get(self, name: str) -> HostDevice:
        for dev in self._devices():
            if dev.name == name:
                return dev
        raise not_found(ErrorNumber.NO_NODE_DEVICE, f"no node device with matching name '{name}'", NODEDEV)

    def _check_flags(self, call: str, flags: int, allowed: int = 0) -> None:
        bad = int(flags) & ~allowed
        if bad:
            raise InvalidArgError(f"{c_name(call)}: unsupported flags (0x{bad:x})", domain=NODEDEV,
                                  message=f"invalid argument: {c_name(call)}: unsupported flags (0x{bad:x})")

    # -- lists and lookups --------------------------------------------------------------------------
    def connect_list_all_node_devices(self, flags: int = 0) -> list[NodeDeviceRef]:
        self._check_flags("connect_list_all_node_devices", flags, sum(LF))
        wanted = {cap for bit, cap in CAP_FLAGS.items() if flags & bit}
        devices = self._devices()
        state = flags & (LF.ACTIVE | LF.INACTIVE)
        return [NodeDeviceRef(d.name) for d in devices if (not wanted or wanted & set(_caps_of(d)))
                and (not state or state & (LF.ACTIVE if d.active else LF.INACTIVE))]

    def node_num_of_devices(self, cap: str | None = None, flags: int = 0) -> int:
        return len(self.node_list_devices(cap, -1, flags))

    def node_list_devices(self, cap: str | None = None, maxnames: int = -1, flags: int = 0) -> list[str]:
        self._check_flags("node_list_devices", flags)
        names = [d.name for d in self._devices() if cap is None or cap in _caps_of(d)]
        return names if maxnames < 0 else names[:maxnames]

    def node_device_lookup_by_name(self, name: str) -> NodeDeviceRef:
        return NodeDeviceRef(self._get(name).name)

    def node_device_get_xml_desc(self, dev: NodeDeviceRef, flags: int = 0) -> str:
        self._check_flags("node_device_get_xml_desc", flags)
        return self._get(dev.name).to_xml()

    def node_device_get_parent(self, dev: NodeDeviceRef) -> str | None:
        found = self._get(dev.name)
        if found.parent is None:
            raise InternalError_("no parent for this device")
        return found.parent

    def node_device_num_of_caps(self, dev: NodeDeviceRef) -> int:
        return len(_caps_of(self._get(dev.name)))

    def node_device_list_caps(self, dev: NodeDeviceRef, maxnames: int = -1) -> list[str]:
        caps = _caps_of(self._get(dev.name))
        return caps if maxnames < 0 else caps[:maxnames]

    def node_device_is_active(self, dev: NodeDeviceRef) -> int:
        return int(self._get(dev.name).active)

    def node_device_is_persistent(self, dev: NodeDeviceRef) -> int:
        self._get(dev.name)
        return int(self.mdevctl.find(dev.name) is not None)

    def connect_node_device_event_register_any(self, event_id: int, dev: NodeDeviceRef | None = None) -> int:
        """Events need a watch on the host's devices: started here, shared by every connection."""
        if int(event_id) not in (NodeDeviceEventID.LIFECYCLE, NodeDeviceEventID.UPDATE):
            raise InvalidArgError(f"unsupported event ID {event_id}")
        monitor_for(self.sysfs).add(self.events)
        return 0

    def connect_node_device_event_deregister_any(self, callback_id: int) -> None:
        return None  # the connection's bus drops the callback; the watch ends with the connection

    def close(self) -> None:
        monitor_for(self.sysfs).remove(self.events)

    # -- mediated devices: transient ones, created and removed through the kernel's sysfs ABI --------
    def _tree_path(self, sysfs_path: str) -> Path:
        """A device's path (spelled under /sys) inside the tree the driver reads."""
        return Path(self.sysfs) / os.path.relpath(sysfs_path, "/sys")

    def _mdev_xml(self, xml: str) -> tuple[HostDevice, str, str, list[tuple[str, str]]]:
        """A mediated device's XML: its parent (a device offering its type), type, UUID (new when
        none is given) and attributes."""
        import uuid as uuidlib

        from virt.conf import parse
        from virt.conf.xmlmodel import parse_xml

        el = parse_xml(xml)
        if el.tag == "device" and not el.findtext("name"):  # named by the host once it exists
            name_el = el.find("name")
            if name_el is None:
                name_el = etree.Element("name")
                el.insert(0, name_el)
            name_el.text = "new device"
        defn: Any = parse(el, "device")
        cap = defn.capability("mdev")
        if cap is None:
            raise ConfigUnsupportedError("Unsupported device type (only mediated devices are created or defined "
                                         "here)", domain=NODEDEV)
        parent_name = defn.parent.name if defn.parent is not None else None
        if not parent_name:
            raise ConfigUnsupportedError("cannot create a mediated device without a parent", domain=NODEDEV)
        parent = self._get(parent_name)
        type_id = str(cap.mdev_type.id)
        offered = parent.cap.find("capability[@type='mdev_types']")
        if offered is None or offered.find(f"type[@id='{type_id}']") is None or not parent.sysfs_path:
            raise ConfigUnsupportedError(f"mediated device type '{type_id}' is not offered by '{parent_name}'",
                                         domain=NODEDEV)
        uuid = str(cap.uuid) if cap.uuid else str(uuidlib.uuid4())
        return parent, type_id, uuid, [(str(a.name), str(a.value)) for a in cap.attributes]

    def _start_mdev(self, parent_addr: str, type_id: str, uuid: str, attrs: list[tuple[str, str]]) -> str:
        """Write the UUID to the parent's type's "create", wait for the device, write its attributes
        (what `mdevctl start` does); the new device's name."""
        parent = next((d for d in self._devices() if d.sysfs_path and os.path.basename(d.sysfs_path) == parent_addr),
                      None)
        if parent is None or parent.sysfs_path is None:
            raise OperationFailedError(f"the parent device '{parent_addr}' of the mediated device is not present",
                                       domain=NODEDEV)
        self._write(self._tree_path(parent.sysfs_path) / "mdev_supported_types" / type_id / "create", uuid)
        devdir = Path(self.sysfs) / "bus" / "mdev" / "devices" / uuid
        deadline = time.monotonic() + 5
        while not (devdir / "mdev_type").exists():  # the kernel finishes the device asynchronously
            if time.monotonic() > deadline:
                raise OperationFailedError(f"mediated device {uuid} did not appear under '{parent.name}'",
                                           domain=NODEDEV)
            time.sleep(0.02)
        for name, value in attrs:
            self._write(devdir / name, value)
        return device_name("mdev", uuid, parent_addr)

    def node_device_create_xml(self, xml: str, flags: int = 0) -> NodeDeviceRef:
        """Start a transient mediated device."""
        self._check_flags("node_device_create_xml", flags, 1)  # VIR_NODE_DEVICE_CREATE_XML_VALIDATE
        parent, type_id, uuid, attrs = self._mdev_xml(xml)
        return NodeDeviceRef(self._start_mdev(os.path.basename(str(parent.sysfs_path)), type_id, uuid, attrs))

    def node_device_define_xml(self, xml: str, flags: int = 0) -> NodeDeviceRef:
        """Define a persistent mediated device (mdevctl's definition files); it is not started."""
        self._check_flags("node_device_define_xml", flags, 1)  # VIR_NODE_DEVICE_DEFINE_XML_VALIDATE
        parent, type_id, uuid, attrs = self._mdev_xml(xml)
        defn = MdevDefinition(os.path.basename(str(parent.sysfs_path)), uuid, type_id, attrs=attrs)
        old = self.mdevctl.find(defn.name)
        if old is not None:
            defn.autostart = old.autostart
        self.mdevctl.save(defn)
        self._emit_lifecycle(defn.name, DEFINED)
        return NodeDeviceRef(defn.name)

    def _definition(self, dev: NodeDeviceRef) -> MdevDefinition:
        self._get(dev.name)
        defn = self.mdevctl.find(dev.name)
        if defn is None:
            raise OperationInvalidError(f"Node device '{dev.name}' is not defined", domain=NODEDEV)
        return defn

    def node_device_undefine(self, dev: NodeDeviceRef, flags: int = 0) -> None:
        self._check_flags("node_device_undefine", flags)
        self.mdevctl.delete(self._definition(dev))
        self._emit_lifecycle(dev.name, UNDEFINED)

    def node_device_create(self, dev: NodeDeviceRef, flags: int = 0) -> None:
        """Start a defined mediated device."""
        self._check_flags("node_device_create", flags)
        defn = self._definition(dev)
        if self._get(dev.name).active:
            raise OperationInvalidError("Device is already active", domain=NODEDEV)
        self._start_mdev(defn.parent_addr, defn.mdev_type, defn.uuid, defn.attrs)

    def node_device_get_autostart(self, dev: NodeDeviceRef) -> int:
        self._get(dev.name)
        defn = self.mdevctl.find(dev.name)
        return int(defn is not None and defn.autostart)

    def node_device_set_autostart(self, dev: NodeDeviceRef, autostart: int) -> None:
        defn = self._definition(dev)
        defn.autostart = bool(autostart)
        self.mdevctl.save(defn)

    def node_device_destroy(self, dev: NodeDeviceRef) -> None:
        """Remove a mediated device (its sysfs "remove" attribute, what `mdevctl stop` does)."""
        found = self._get(dev.name)
        if found.cap_type != "mdev" or not found.sysfs_path:
            raise OperationInvalidError(f"device '{found.name}' is not a mediated device (only those can be "
                                        "destroyed here)", domain=NODEDEV)
        devdir = self._tree_path(found.sysfs_path)
        self._write(devdir / "remove", "1")
        deadline = time.monotonic() + 5
        while devdir.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        if devdir.exists():
            raise OperationFailedError(f"mediated device '{found.name}' was not removed", domain=NODEDEV)

    # -- PCI passthrough ----------------------------------------------------------------------------
    def _pci(self, dev: NodeDeviceRef) -> tuple[HostDevice, Path]:
        found = self._get(dev.name)
        if found.cap_type != "pci" or not found.sysfs_path:
            raise InvalidArgError(f"device '{found.name}' is not a PCI device", domain=NODEDEV)
        return found, Path(self.sysfs) / "bus" / "pci" / "devices" / os.path.basename(found.sysfs_path)

    def _write(self, path: Path, text: str) -> None:
        try:
            with open(path, "w") as f:
                f.write(text)
        except OSError as err:
            raise SystemError_.from_errno(err, f"Failed to write to '{path}'", domain=NODEDEV) from None

    def _vfio_available(self) -> bool:
        drivers = Path(self.sysfs) / "bus" / "pci" / "drivers"
        if (drivers / VFIO).is_dir():
            return True
        if self.sysfs == "/sys":  # the real host: the module may just not be loaded yet
            subprocess.run(["modprobe", VFIO], capture_output=True, check=False)
        return (drivers / VFIO).is_dir()

    def _wait_driver(self, sysdev: Path, done: Callable[[str | None], bool]) -> str | None:
        """The device's driver once ``done(driver)`` holds (binding can finish asynchronously), or
        whatever it is after a few seconds."""
        deadline = time.monotonic() + 5
        while True:
            current = os.path.basename(os.readlink(sysdev / "driver")) if (sysdev / "driver").is_symlink() else None
            if done(current) or time.monotonic() > deadline:
                return current
            time.sleep(0.02)

    def node_device_dettach(self, dev: NodeDeviceRef) -> None:
        self.node_device_detach_flags(dev, None, 0)

    def node_device_detach_flags(self, dev: NodeDeviceRef, driver_name: str | None = None, flags: int = 0) -> None:
        """Bind a PCI device to vfio-pci, so a guest can be given it."""
        self._check_flags("node_device_detach_flags", flags)
        if driver_name not in (None, "", "vfio"):
            if driver_name == "kvm":
                raise ConfigUnsupportedError("KVM device assignment is no longer supported on this system",
                                             domain=NODEDEV)
            raise InvalidArgError(f"unknown driver name '{driver_name}'", domain=NODEDEV)
        found, sysdev = self._pci(dev)
        if not self._vfio_available():
            raise ConfigUnsupportedError("VFIO device assignment is currently not supported on this system",
                                         domain=NODEDEV)
        if found.driver == VFIO:
            return
        addr = sysdev.name
        self._write(sysdev / "driver_override", VFIO)
        if found.driver is not None:
            self._write(sysdev / "driver" / "unbind", addr)
        self._write(Path(self.sysfs) / "bus" / "pci" / "drivers_probe", addr)
        now = self._wait_driver(sysdev, lambda drv: drv == VFIO)
        if now != VFIO:
            raise OperationFailedError(f"Failed to bind PCI device '{addr}' to {VFIO}", domain=NODEDEV)

    def node_device_re_attach(self, dev: NodeDeviceRef) -> None:
        """Give a detached PCI device back to the driver the kernel picks for it."""
        found, sysdev = self._pci(dev)
        if found.driver != VFIO:
            raise OperationInvalidError(f"PCI device '{sysdev.name}' is not bound to {VFIO}", domain=NODEDEV)
        addr = sysdev.name
        self._write(sysdev / "driver_override", "\n")
        self._write(sysdev / "driver" / "unbind", addr)
        self._write(Path(self.sysfs) / "bus" / "pci" / "drivers_probe", addr)
        self._wait_driver(sysdev, lambda drv: drv != VFIO)

    def node_device_reset(self, dev: NodeDeviceRef) -> None:
        """A function-level reset through sysfs (only of a device no host driver uses)."""
        found, sysdev = self._pci(dev)
        if found.driver not in (None, VFIO):
            raise OperationInvalidError(f"Not resetting active device {sysdev.name}", domain=NODEDEV)
        if not (sysdev / "reset").exists():
            raise OperationFailedError(f"Unable to reset PCI device {sysdev.name}: no FLR, PM reset or bus reset "
                                       "available", domain=NODEDEV)
        self._write(sysdev / "reset", "1")


def _add_attrs(cap: etree._Element, attrs: list[tuple[str, str]]) -> None:
    for name, value in attrs:
        etree.SubElement(cap, "attr", name=name, value=value)


def InternalError_(detail: str) -> VirtError:
    return VirtError(detail, code=ErrorNumber.INTERNAL_ERROR, domain=NODEDEV)
