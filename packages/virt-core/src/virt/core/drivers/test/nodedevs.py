"""Node devices of the mock host; creating a vHBA clones scsi_host11 as scsi_host12, as libvirt's test driver does."""

from __future__ import annotations

from typing import Any, ClassVar

from virt.core.drivers.test.base import Calls, filter_objects, parse_doc
from virt.core.drivers.test.errors import error, internal
from virt.core.drivers.test.state import NodeDevObj
from virt.core.enums import NodeDeviceEventID
from virt.core.types import NodeDeviceRef
from virt.util.errors import ErrorDomain, VirtError, not_found
from virt.util.errors import ErrorNumber as E

NODEDEV = ErrorDomain.NODEDEV

#: Capability name -> its list-all filter flag (VIR_CONNECT_LIST_NODE_DEVICES_CAP_*).
CAP_FLAGS = {"system": 1 << 0, "pci": 1 << 1, "usb_device": 1 << 2, "usb": 1 << 3, "net": 1 << 4,
             "scsi_host": 1 << 5, "scsi_target": 1 << 6, "scsi": 1 << 7, "storage": 1 << 8,
             "fc_host": 1 << 9, "vports": 1 << 10, "scsi_generic": 1 << 11, "drm": 1 << 12,
             "mdev_types": 1 << 13, "mdev": 1 << 14, "ccw": 1 << 15, "css": 1 << 16, "vdpa": 1 << 17,
             "ap_card": 1 << 18, "ap_queue": 1 << 19, "ap_matrix": 1 << 20, "vpd": 1 << 21}
CAP_MASK = sum(CAP_FLAGS.values())

#: The device libvirt's test driver copies to mock a new vHBA, and the name the copy gets.
VPORT_TEMPLATE, VPORT_NAME = "scsi_host11", "scsi_host12"

# virNodeDeviceEventLifecycleType
CREATED, DELETED = 0, 1


def caps_of(defn: Any) -> list[str]:
    """The capability names a device matches in lookups: its own and the nested HBA ones."""
    names = []
    for cap in defn.capabilities:
        names.append(cap.TYPE)
        if cap.TYPE == "scsi_host":
            if getattr(cap, "fc_host", None) is not None:
                names.append("fc_host")
            if getattr(cap, "vport_ops", None) is not None:
                names.append("vports")
    return names


def _ref(obj: NodeDevObj) -> NodeDeviceRef:
    return NodeDeviceRef(obj.name)


def _unknown_error() -> VirtError:
    """libvirt reports this when a step failed without raising an error of its own."""
    return VirtError(None, code=E.INTERNAL_ERROR, domain=ErrorDomain.NONE,
                     message="An error occurred, but the cause is unknown")


def _fc_host(defn: Any) -> Any:
    scsi = defn.capability("scsi_host")
    return getattr(scsi, "fc_host", None) if scsi is not None else None


def _named(xml: str) -> Any:
    """A device to create has no name yet (libvirt calls it "new device" until the host names it)
    nor a SCSI host number (the host assigns it): fill both in before parsing."""
    from lxml import etree
    from virt.conf.xmlmodel import parse_xml

    el = parse_xml(xml)
    if el.tag == "device" and not el.findtext("name"):
        name = el.find("name")
        if name is None:
            name = etree.Element("name")
            el.insert(0, name)
        name.text = "new device"
    for cap in el.findall("capability[@type='scsi_host']"):
        if cap.find("host") is None:
            etree.SubElement(cap, "host").text = "0"
    return el


class NodeDevCalls(Calls):
    FLAGS: ClassVar[dict[str, int]] = {"node_num_of_devices": 0, "node_list_devices": 0, "connect_list_all_node_devices": CAP_MASK,
             "node_device_get_xml_desc": 0, "node_device_create_xml": 0}

    def _dev(self, name: str) -> NodeDevObj:
        obj = self.state.nodedevs.get(name)
        if obj is None:
            raise not_found(E.NO_NODE_DEVICE, f"no node device with matching name '{name}'", ErrorDomain.TEST)
        return obj

    def _with_cap(self, cap: str | None) -> list[NodeDevObj]:
        return [d for d in self.state.nodedevs.values() if cap is None or cap in caps_of(d.defn)]

    def node_num_of_devices(self, cap: str | None, flags: int = 0) -> int:
        return len(self._with_cap(cap))

    def node_list_devices(self, cap: str | None, maxnames: int = -1, flags: int = 0) -> list[str]:
        names = [d.name for d in self._with_cap(cap)]
        return names if maxnames < 0 else names[:maxnames]

    def connect_list_all_node_devices(self, flags: int = 0) -> list[NodeDeviceRef]:
        groups = [(CAP_MASK, lambda d: sum(CAP_FLAGS.get(c, 0) for c in set(caps_of(d.defn))))]
        return [_ref(d) for d in filter_objects(self.state.nodedevs.values(), flags, groups)]

    def node_device_lookup_by_name(self, name: str) -> NodeDeviceRef:
        return _ref(self._dev(name))

    def node_device_get_xml_desc(self, dev: NodeDeviceRef, flags: int = 0) -> str:
        return str(self._dev(dev.name).defn.format())

    def node_device_get_parent(self, dev: NodeDeviceRef) -> str:
        parent = self._dev(dev.name).defn.parent_name
        if not parent:
            raise internal("no parent for this device")
        return str(parent)

    def node_device_num_of_caps(self, dev: NodeDeviceRef) -> int:
        return len(self._dev(dev.name).defn.capabilities)

    def node_device_list_caps(self, dev: NodeDeviceRef, maxnames: int = -1) -> list[str]:
        names = [c.TYPE for c in self._dev(dev.name).defn.capabilities]
        return names if maxnames < 0 else names[:maxnames]

    # -- vHBA creation -----------------------------------------------------------------------
    def create_vport(self, wwnn: str, wwpn: str) -> NodeDevObj:
        """Mock a new vHBA: a copy of scsi_host11 named scsi_host12 with the given WWNs."""
        template = self.state.nodedevs.get(VPORT_TEMPLATE)
        if template is None:
            raise _unknown_error()
        defn = template.defn.copy()
        defn.name = VPORT_NAME
        fc = _fc_host(defn)
        if fc is not None:
            fc.wwnn, fc.wwpn = wwnn, wwpn
        obj = NodeDevObj(defn, VPORT_NAME)
        self.state.nodedevs[obj.name] = obj
        self.state.emit("node_device", NodeDeviceEventID.LIFECYCLE, _ref(obj), CREATED, 0)
        return obj

    def destroy_vport(self) -> None:
        obj = self.state.nodedevs.get(VPORT_NAME)
        if obj is None:
            raise not_found(E.NO_NODE_DEVICE, f"no node device with matching name '{VPORT_NAME}'", ErrorDomain.TEST)
        self.state.emit("node_device", NodeDeviceEventID.LIFECYCLE, _ref(obj), DELETED, 0)
        del self.state.nodedevs[VPORT_NAME]

    def node_device_create_xml(self, xml: str, flags: int = 0) -> NodeDeviceRef:
        defn = parse_doc(_named(xml), "device", NODEDEV)
        fc = _fc_host(defn)
        if fc is None:
            raise error(E.INTERNAL_ERROR, "Device is not a fibre channel HBA", NODEDEV)
        parent_name = defn.parent_name
        if not parent_name:
            raise _unknown_error()
        parent = self.state.nodedevs.get(parent_name)
        if parent is None:
            raise error(E.INTERNAL_ERROR, "Could not find parent device for 'new device'", NODEDEV)
        if "vports" not in caps_of(parent.defn):
            raise error(E.INTERNAL_ERROR, f"Parent device {parent_name} is not capable of vport operations", NODEDEV)
        return _ref(self.create_vport(fc.wwnn, fc.wwpn))

    def node_device_destroy(self, dev: NodeDeviceRef) -> None:
        obj = self._dev(dev.name)
        if _fc_host(obj.defn) is None:
            return  # libvirt's test driver returns success without doing anything
        parent = obj.defn.parent_name
        if parent not in self.state.nodedevs:
            raise internal(f"cannot find parent '{parent}' definition")
        self.state.emit("node_device", NodeDeviceEventID.LIFECYCLE, _ref(obj), DELETED, 0)
        del self.state.nodedevs[obj.name]
