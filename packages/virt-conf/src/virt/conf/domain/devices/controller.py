"""``<controller>``: every controller type with its typed options (pci model/target, usb ports, scsi driver)."""

from __future__ import annotations

from virt.conf.domain.devices.base import Device
from virt.conf.domain.types import (
    DecInt,
    HexOut,
    OnOff,
    UInt10,
    ULong10,
    scale_value,
)
from virt.conf.xmlmodel import (
    Attr,
    Child,
    Enum,
    Model,
    ParseContext,
    String,
    Text,
    TextChild,
)
from virt.util.errors import XMLError

CONTROLLER_TYPES = ("ide", "fdc", "scsi", "sata", "virtio-serial", "ccid", "usb", "pci", "xenbus", "isa")
MODELS = {
    "pci": ("pci-root", "pcie-root", "pci-bridge", "dmi-to-pci-bridge", "pcie-to-pci-bridge", "pcie-root-port",
            "pcie-switch-upstream-port", "pcie-switch-downstream-port", "pci-expander-bus", "pcie-expander-bus"),
    "scsi": ("auto", "buslogic", "lsilogic", "lsisas1068", "vmpvscsi", "ibmvscsi", "virtio-scsi", "lsisas1078",
             "virtio-transitional", "virtio-non-transitional", "ncr53c90", "am53c974", "dc390"),
    "usb": ("piix3-uhci", "piix4-uhci", "ehci", "ich9-ehci1", "ich9-uhci1", "ich9-uhci2", "ich9-uhci3",
            "vt82c686b-uhci", "pci-ohci", "nec-xhci", "qusb1", "qusb2", "qemu-xhci", "none"),
    "ide": ("piix3", "piix4", "ich6"),
    "virtio-serial": ("virtio", "virtio-transitional", "virtio-non-transitional"),
    "isa": (),
}
PCI_MODEL_NAMES = ("pci-bridge", "i82801b11-bridge", "ioh3420", "x3130-upstream", "xio3130-downstream", "pxb",
                   "pxb-pcie", "pcie-root-port", "spapr-pci-host-bridge", "pcie-pci-bridge")


class ControllerModelName(Model):
    TAG = "model"
    name = Attr(Enum(*PCI_MODEL_NAMES, name="PCI controller model name"))


class ControllerTarget(Model):
    TAG = "target"
    chassisNr = Attr(DecInt(0, 255))
    chassis = Attr(DecInt(0, 255))
    port = Attr(HexOut(0, max=255))
    busNr = Attr(DecInt(0, 255))
    index = Attr(DecInt(0, 2**31 - 1))
    hotplug = Attr(OnOff)
    memReserve = Attr(ULong10)
    node = TextChild(DecInt(0, 2**31 - 1))


class ControllerDriver(Model):
    TAG = "driver"
    queues = Attr(UInt10)
    cmd_per_lun = Attr(UInt10)
    max_sectors = Attr(UInt10)
    ioeventfd = Attr(OnOff)
    iothread = Attr(UInt10)
    iommu = Attr(OnOff)
    ats = Attr(OnOff)
    packed = Attr(OnOff)
    page_per_vq = Attr(OnOff)


class PCIHole64(Model):
    TAG = "pcihole64"
    unit = Attr(String)
    value = Text(ULong10)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.value is not None:
            self.value = -(-scale_value(self.value, self.unit, 1024) // 1024)
        self.unit = "KiB"


class Controller(Device):
    TAG = "controller"
    KIND = "controllers"
    AFTER_INFO = ("pcihole64",)
    type = Attr(Enum(*CONTROLLER_TYPES, name="controller type"))
    index = Attr(DecInt(0, 2**31 - 1))
    model = Attr(String)
    ports = Attr(DecInt(0, 2**31 - 1))
    vectors = Attr(DecInt(0, 2**31 - 1))
    maxGrantFrames = Attr(DecInt(0, 2**31 - 1))
    maxEventChannels = Attr(DecInt(0, 2**31 - 1))
    model_name = Child(ControllerModelName)
    target = Child(ControllerTarget)
    driver = Child(ControllerDriver)
    pcihole64 = Child(PCIHole64)

    def post_parse(self, ctx: ParseContext) -> None:
        ctype = self.type  # (read once: every controller passes here)
        if ctype is None:
            ctype = self.type = "ide"
        model = self.model
        if model is not None:
            models = MODELS.get(ctype)
            if models is None or model not in models:
                raise XMLError(f"Unknown model type '{model}'")
            if model == "auto" and ctype == "scsi":
                self.model = model = None
        if ctype != "pci":
            # libvirt reads these only for PCI controllers
            self.model_name = self.target = self.pcihole64 = None
        elif self.pcihole64 is not None and model not in ("pci-root", "pcie-root"):
            self.pcihole64 = None
        if ctype != "virtio-serial":
            self.vectors = None
            if ctype != "usb":
                self.ports = None
        if ctype != "xenbus":
            self.maxGrantFrames = self.maxEventChannels = None
        driver = self.driver
        if driver is not None and all(getattr(driver, f.name) is None for f in driver._fields):
            self.driver = None

    def validate(self, ctx: ParseContext) -> None:
        if self.type == "pci":
            if self.model in ("pci-root", "pcie-root"):
                if self.index not in (None, 0):
                    raise XMLError(f"Invalid index {self.index} for '{self.model}' controller. "
                                   f"The index of the PCI root controller must be 0")
                if self.address is not None and self.address.type != "none":
                    raise XMLError("PCI root controllers cannot have an address")
            if self.target is not None:
                t = self.target
                if t.chassisNr is not None and not 1 <= t.chassisNr <= 255:
                    raise XMLError(f"PCI controller chassisNr '{t.chassisNr}' out of range - must be 1-255")
                if t.busNr is not None and not 1 <= t.busNr <= 254:
                    raise XMLError(f"PCI controller busNr '{t.busNr}' out of range - must be 1-254")
        if self.driver is not None and self.driver.iothread is not None and not (
                self.type == "scsi" and self.model in ("virtio-scsi", "virtio-transitional",
                                                       "virtio-non-transitional")):
            raise XMLError("'iothread' attribute only supported for virtio scsi controllers")

    @property
    def pci_model_name(self) -> str | None:
        return self.model_name.name if self.model_name is not None else None


def controller_is_companion(c: Controller) -> bool:
    return getattr(c, "master", None) is not None
