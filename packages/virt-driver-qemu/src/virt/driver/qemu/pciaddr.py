"""PCI address assignment for QEMU guests: buses made of PCI controllers, slots, connect flags.

Each PCI controller provides a bus whose slots accept some kinds of connections (a conventional
PCI device, a PCI Express device, a root port, a bridge ...). Devices ask for a slot with the
kinds of connection they can use; when the buses run out, the first ("dry run") pass adds
controllers (pci-bridge, pcie-root-port, ...) the way libvirt grows a topology.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntFlag

from virt.util.errors import InternalError, XMLError


class Conn(IntFlag):
    """What a device needs from (or a bus offers to) a PCI connection."""

    HOTPLUGGABLE = 1 << 0
    PCI_DEVICE = 1 << 1
    PCIE_DEVICE = 1 << 2
    PCIE_ROOT_PORT = 1 << 3
    PCIE_SWITCH_UPSTREAM_PORT = 1 << 4
    PCIE_SWITCH_DOWNSTREAM_PORT = 1 << 5
    DMI_TO_PCI_BRIDGE = 1 << 6
    PCI_EXPANDER_BUS = 1 << 7
    PCIE_EXPANDER_BUS = 1 << 8
    PCI_BRIDGE = 1 << 9
    PCIE_TO_PCI_BRIDGE = 1 << 10
    AUTOASSIGN = 1 << 11
    AGGREGATE_SLOT = 1 << 12
    INTEGRATED = 1 << 13


TYPES_MASK = (Conn.PCI_DEVICE | Conn.PCIE_DEVICE | Conn.PCIE_ROOT_PORT | Conn.PCIE_SWITCH_UPSTREAM_PORT
              | Conn.PCIE_SWITCH_DOWNSTREAM_PORT | Conn.DMI_TO_PCI_BRIDGE | Conn.PCI_EXPANDER_BUS
              | Conn.PCIE_EXPANDER_BUS | Conn.PCI_BRIDGE | Conn.PCIE_TO_PCI_BRIDGE)
ENDPOINT = Conn.PCI_DEVICE | Conn.PCIE_DEVICE

#: The connection type each PCI controller model itself needs upstream.
CONTROLLER_CONNECT: dict[str, Conn] = {
    "pci-bridge": Conn.PCI_BRIDGE, "pci-expander-bus": Conn.PCI_EXPANDER_BUS,
    "pcie-expander-bus": Conn.PCIE_EXPANDER_BUS, "dmi-to-pci-bridge": Conn.DMI_TO_PCI_BRIDGE,
    "pcie-to-pci-bridge": Conn.PCIE_TO_PCI_BRIDGE,
    "pcie-root-port": Conn.PCIE_ROOT_PORT | Conn.AGGREGATE_SLOT,
    "pcie-switch-upstream-port": Conn.PCIE_SWITCH_UPSTREAM_PORT,
    "pcie-switch-downstream-port": Conn.PCIE_SWITCH_DOWNSTREAM_PORT,
}


def bus_shape(model: str, hotplug: bool) -> tuple[Conn, int, int]:
    """(accepted connections, first slot, last slot) of the bus a controller model provides."""
    hp = Conn.HOTPLUGGABLE if hotplug else Conn(0)
    if model == "pci-root":
        return Conn.AUTOASSIGN | Conn.PCI_DEVICE | Conn.PCI_BRIDGE | Conn.PCI_EXPANDER_BUS | hp, 1, 31
    if model == "pci-bridge":
        return Conn.AUTOASSIGN | Conn.PCI_DEVICE | Conn.PCI_BRIDGE | hp, 1, 31
    if model == "pci-expander-bus":
        return Conn.AUTOASSIGN | Conn.PCI_DEVICE | Conn.PCI_BRIDGE | hp, 0, 31
    if model == "pcie-root":
        return Conn.PCIE_DEVICE | Conn.PCIE_ROOT_PORT | Conn.DMI_TO_PCI_BRIDGE | Conn.PCIE_EXPANDER_BUS, 1, 31
    if model == "dmi-to-pci-bridge":
        return Conn.PCI_DEVICE | Conn.PCI_BRIDGE, 0, 31
    if model == "pcie-to-pci-bridge":
        return Conn.AUTOASSIGN | Conn.PCI_DEVICE | Conn.PCI_BRIDGE | hp, 1, 31
    if model in ("pcie-root-port", "pcie-switch-downstream-port"):
        return (Conn.AUTOASSIGN | Conn.PCIE_DEVICE | Conn.PCIE_SWITCH_UPSTREAM_PORT | Conn.PCIE_TO_PCI_BRIDGE
                | hp), 0, 0
    if model == "pcie-switch-upstream-port":
        return Conn.PCIE_SWITCH_DOWNSTREAM_PORT, 0, 31
    if model == "pcie-expander-bus":
        return Conn.PCIE_ROOT_PORT | Conn.DMI_TO_PCI_BRIDGE, 0, 31
    raise InternalError("PCI controller model was not set correctly")


@dataclass
class Slot:
    functions: int = 0
    aggregate: bool = False


@dataclass
class Bus:
    model: str = ""
    flags: Conn = Conn(0)
    min_slot: int = 0
    max_slot: int = 31
    slots: list[Slot] = field(default_factory=lambda: [Slot() for _ in range(32)])

    def set_model(self, model: str, hotplug: bool = True) -> None:
        self.model = model
        self.flags, self.min_slot, self.max_slot = bus_shape(model, hotplug)

    def empty(self) -> bool:
        return all(self.slots[i].functions == 0 for i in range(self.min_slot, self.max_slot + 1))

    def full(self) -> bool:
        return all(self.slots[i].functions for i in range(self.min_slot, self.max_slot + 1))


@dataclass
class PCIAddr:
    bus: int = 0
    slot: int = 0
    function: int = 0
    domain: int = 0
    multi: bool | None = None

    def __str__(self) -> str:
        return f"{self.domain:04x}:{self.bus:02x}:{self.slot:02x}.{self.function}"


def _compatible(addr: PCIAddr, bus_flags: Conn, dev_flags: Conn, from_config: bool,
                report: bool) -> bool:
    what = f"The device at PCI address {addr}"
    if dev_flags & Conn.INTEGRATED:
        if addr.bus == 0:
            bus_flags |= Conn.AUTOASSIGN
        else:
            if report:
                raise XMLError(f"{what} needs to be an integrated device (bus=0)")
            return False
    if from_config:
        if bus_flags & ENDPOINT:
            bus_flags |= ENDPOINT
        if dev_flags & Conn.PCI_BRIDGE:
            dev_flags |= Conn.PCI_DEVICE
    elif (dev_flags & Conn.AUTOASSIGN) and not (bus_flags & Conn.AUTOASSIGN):
        if report:
            raise InternalError(f"{what} was auto-assigned this address, but the PCI controller with "
                                f"index='{addr.bus}' doesn't allow auto-assignment")
        return False
    if (dev_flags & Conn.HOTPLUGGABLE) and not (bus_flags & Conn.HOTPLUGGABLE):
        if report:
            raise XMLError(f"{what} requires hotplug capability, but the PCI controller with "
                           f"index='{addr.bus}' doesn't support hotplug")
        return False
    if not (dev_flags & bus_flags & TYPES_MASK):
        if report:
            kinds = [(Conn.PCI_DEVICE, "standard PCI device"), (Conn.PCIE_DEVICE, "PCI Express device"),
                     (Conn.PCIE_ROOT_PORT, "pcie-root-port"),
                     (Conn.PCIE_SWITCH_UPSTREAM_PORT, "pcie-switch-upstream-port"),
                     (Conn.PCIE_SWITCH_DOWNSTREAM_PORT, "pcie-switch-downstream-port"),
                     (Conn.DMI_TO_PCI_BRIDGE, "dmi-to-pci-bridge"), (Conn.PCIE_TO_PCI_BRIDGE, "pcie-to-pci-bridge"),
                     (Conn.PCI_EXPANDER_BUS, "pci-expander-bus"), (Conn.PCIE_EXPANDER_BUS, "pcie-expander-bus"),
                     (Conn.PCI_BRIDGE, "pci-bridge")]
            kind = next((s for f, s in kinds if dev_flags & f), "device")
            raise XMLError(f"{what} cannot be plugged into the PCI controller with index='{addr.bus}'. "
                           f"It requires a controller that accepts a {kind}.")
        return False
    return True


class AddressSet:
    """The PCI buses of a domain and which slot functions are taken."""

    def __init__(self, nbuses: int, *, dry_run: bool, pcie_to_pci_bridge: bool = False,
                 multiple_roots: bool = False) -> None:
        self.buses = [Bus() for _ in range(nbuses)]
        self.dry_run = dry_run
        self.pcie_to_pci_bridge = pcie_to_pci_bridge
        self.multiple_roots = multiple_roots

    # -- growing --------------------------------------------------------------------------------
    def _grow(self, addr: PCIAddr, flags: Conn) -> int:
        add = addr.bus - len(self.buses) + 1
        if add <= 0:
            return 0
        need_dmi = need_pcie_bridge = False
        if flags & Conn.PCI_DEVICE:
            if self.multiple_roots:
                model = "pci-root"
            else:
                model = "pci-bridge"
                if not any(b.flags & Conn.PCI_BRIDGE for b in self.buses):
                    need_dmi = need_pcie_bridge = True
                if self.pcie_to_pci_bridge:
                    need_dmi = False
                else:
                    need_pcie_bridge = False
                if (need_dmi or need_pcie_bridge) and add == 1:
                    add += 1
                    addr.bus += 1
        elif flags & (Conn.PCIE_DEVICE | Conn.PCIE_SWITCH_UPSTREAM_PORT):
            model = "pcie-root-port"
        else:
            raise InternalError("Cannot automatically add a new PCI bus for a device with connect flags "
                                f"{int(flags):02x}")
        start = len(self.buses)
        self.buses.extend(Bus() for _ in range(add))
        i = start
        if need_dmi:
            self.buses[i].set_model("dmi-to-pci-bridge", False)
            i += 1
        if need_pcie_bridge:
            self.buses[i].set_model("pcie-root-port", True)
            self.buses[i].flags = Conn.PCIE_TO_PCI_BRIDGE
            i += 1
            self.buses[i].set_model("pcie-to-pci-bridge", True)
            i += 1
        for j in range(i, len(self.buses)):
            self.buses[j].set_model(model, True)
        return add

    # -- reserving ------------------------------------------------------------------------------
    def validate(self, addr: PCIAddr, flags: Conn, from_config: bool) -> None:
        if not self.buses:
            raise XMLError("No PCI buses available")
        if addr.domain != 0:
            raise XMLError(f"Invalid PCI address {addr}. Only PCI domain 0 is available")
        if addr.bus >= len(self.buses):
            raise XMLError(f"Invalid PCI address {addr}. Only PCI buses up to {len(self.buses) - 1} are available")
        bus = self.buses[addr.bus]
        _compatible(addr, bus.flags, flags, from_config, True)
        if bus.min_slot and addr.slot < bus.min_slot:
            raise XMLError(f"Invalid PCI address {addr}. slot must be >= {bus.min_slot}")
        if addr.slot > bus.max_slot:
            raise XMLError(f"Invalid PCI address {addr}. slot must be <= {bus.max_slot}")
        if addr.function > 7:
            raise XMLError(f"Invalid PCI address {addr}. function must be <= 7")

    def reserve(self, addr: PCIAddr, flags: Conn, from_config: bool = True) -> None:
        if self.dry_run:
            self._grow(addr, flags)
        self.validate(addr, flags, from_config)
        slot = self.buses[addr.bus].slots[addr.slot]
        if slot.functions & (1 << addr.function):
            if from_config:
                raise XMLError(f"Attempted double use of PCI Address {addr}")
            raise InternalError(f"Attempted double use of PCI Address {addr}")
        if not slot.functions and flags & Conn.AGGREGATE_SLOT:
            slot.aggregate = True
        slot.functions |= 1 << addr.function

    def slot_in_use(self, addr: PCIAddr) -> bool:
        return bool(self.buses[addr.bus].slots[addr.slot].functions)

    def _find_on_bus(self, bus: Bus, a: PCIAddr, function: int, flags: Conn) -> bool:
        if not _compatible(a, bus.flags, flags, False, False):
            return False
        while a.slot <= bus.max_slot:
            slot = bus.slots[a.slot]
            if slot.functions == 0:
                return True
            if flags & Conn.AGGREGATE_SLOT and slot.aggregate:
                if not slot.functions & (1 << a.function):
                    return True
                if function == -1:
                    while a.function < 8:
                        if not slot.functions & (1 << a.function):
                            return True
                        a.function += 1
                    a.function = 0
            a.slot += 1
        return False

    def next_addr(self, flags: Conn, function: int = -1) -> PCIAddr:
        if not self.buses:
            raise XMLError("No PCI buses available")
        a = PCIAddr(function=0 if function == -1 else function)
        for a.bus in range(len(self.buses)):
            bus = self.buses[a.bus]
            a.slot = bus.min_slot
            if self._find_on_bus(bus, a, function, flags):
                return a
        if self.dry_run:
            a.bus = len(self.buses)
            self._grow(a, flags)
            a.slot = self.buses[a.bus].min_slot
            return a
        raise InternalError("No more available PCI slots")

    def reserve_next(self, flags: Conn, function: int = -1) -> PCIAddr:
        addr = self.next_addr(flags, function)
        self.reserve(addr, flags, from_config=False)
        return addr
