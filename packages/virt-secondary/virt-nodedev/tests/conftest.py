"""A sysfs tree of a small machine (a PCIe NIC behind a root port, a SATA disk, a USB hub and
mouse, a loopback), built fresh for each test; and a stand-in for the kernel's driver binding."""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from virt.core.connection import Connection
from virt.core.driver import Driver
from virt.core.plugin import get_plugin_manager, hookimpl
from virt.core.registry import DriverRegistry, build_registry
from virt.secondary.nodedev import plugin


class StubHypervisor(Driver):
    name = "stubhv"
    uri_schemes = ("stubhv",)


class StubPlugin:
    @hookimpl
    def virt_register_drivers(self, register: DriverRegistry) -> None:
        register.hypervisor(StubHypervisor, name="stubhv", uri_schemes=("stubhv",))


def write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text + "\n")


def link(path: Path, target: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)


def pci_config(header: int = 0, pcie: tuple[int, int, int, int, int, int] | None = None) -> bytes:
    """256 bytes of config space; ``pcie`` = (port type, port, cap speed, cap width, sta speed, sta width)."""
    cfg = bytearray(256)
    cfg[0x0E] = header
    if pcie is not None:
        port_type, port, cspeed, cwidth, sspeed, swidth = pcie
        cfg[6] = 0x10  # capability list present
        cfg[0x34] = 0x40
        cfg[0x40], cfg[0x41] = 0x10, 0  # PCI Express capability, last in the list
        struct.pack_into("<H", cfg, 0x42, port_type << 4)
        struct.pack_into("<I", cfg, 0x40 + 0x0C, (port << 24) | (cwidth << 4) | cspeed)
        struct.pack_into("<H", cfg, 0x40 + 0x12, (swidth << 4) | sspeed)
    return bytes(cfg)


def build_sysfs(root: Path) -> Path:
    sysfs = root / "sys"
    devices = sysfs / "devices"
    pci_root = devices / "pci0000:00"
    drivers = sysfs / "bus" / "pci" / "drivers"
    for drv in ("e1000e", "ahci", "pcieport", "xhci_hcd", "vfio-pci"):
        for f in ("bind", "unbind", "new_id"):
            write(drivers / drv / f, "")
    write(sysfs / "bus" / "pci" / "drivers_probe", "")

    def pci(addr: str, parent: Path, vendor: int, device: int, klass: int, driver: str | None,
            config: bytes = pci_config(), **extra: str) -> Path:
        d = parent / addr
        write(d / "vendor", f"0x{vendor:04x}")
        write(d / "device", f"0x{device:04x}")
        write(d / "class", f"0x{klass:06x}")
        write(d / "config", config)
        write(d / "driver_override", "(null)")
        for name, value in extra.items():
            write(d / name, value)
        if driver:
            link(d / "driver", drivers / driver)
        link(sysfs / "bus" / "pci" / "devices" / addr, d)
        return d

    pci("0000:00:00.0", pci_root, 0x8086, 0x29C0, 0x060000, None, numa_node="-1")
    port = pci("0000:00:1c.0", pci_root, 0x8086, 0x2940, 0x060400, "pcieport",
               pci_config(header=1, pcie=(4, 1, 1, 1, 1, 1)))
    nic = pci("0000:01:00.0", port, 0x8086, 0x10D3, 0x020000, "e1000e",
              pci_config(pcie=(0, 0, 1, 1, 1, 1)), numa_node="0")
    link(nic / "iommu_group", sysfs / "kernel" / "iommu_groups" / "7")
    link(sysfs / "kernel" / "iommu_groups" / "7" / "devices" / "0000:01:00.0", nic)
    net = nic / "net" / "eth1"
    for name, value in (("address", "52:54:00:12:34:56"), ("operstate", "up"), ("speed", "1000"), ("type", "1")):
        write(net / name, value)
    link(net / "device", nic)
    link(sysfs / "class" / "net" / "eth1", net)
    lo = devices / "virtual" / "net" / "lo"
    for name, value in (("address", "00:00:00:00:00:00"), ("operstate", "unknown"), ("type", "772")):
        write(lo / name, value)
    link(sysfs / "class" / "net" / "lo", lo)

    sata = pci("0000:00:1f.2", pci_root, 0x8086, 0x2922, 0x010601, "ahci")
    host = sata / "ata1" / "host0"
    write(host / "scsi_host" / "host0" / "unique_id", "1")
    link(sysfs / "class" / "scsi_host" / "host0", host / "scsi_host" / "host0")
    sda = host / "target0:0:0" / "0:0:0:0" / "block" / "sda"
    write(sda / "size", "2097152")
    write(sda / "removable", "0")
    write(sda / "queue" / "logical_block_size", "512")
    write(sda / "device" / "model", "QEMU HARDDISK")
    write(sda / "device" / "vendor", "ATA")
    link(sysfs / "class" / "block" / "sda", sda)
    write(sda / "sda1" / "size", "2000")
    link(sysfs / "class" / "block" / "sda1", sda / "sda1")  # a partition: not a node device

    usb = pci("0000:00:14.0", pci_root, 0x8086, 0x1E31, 0x0C0330, "xhci_hcd")
    hub = usb / "usb1"
    for name, value in (("idVendor", "1d6b"), ("idProduct", "0002"), ("busnum", "1"), ("devnum", "1"),
                        ("product", "xHCI Host Controller")):
        write(hub / name, value)
    mouse = hub / "1-1"
    for name, value in (("idVendor", "0627"), ("idProduct", "0001"), ("busnum", "1"), ("devnum", "2")):
        write(mouse / name, value)
    intf = mouse / "1-1:1.0"
    for name, value in (("bInterfaceNumber", "00"), ("bInterfaceClass", "03"), ("bInterfaceSubClass", "00"),
                        ("bInterfaceProtocol", "02")):
        write(intf / name, value)
    for d in (hub, mouse, intf):
        link(sysfs / "bus" / "usb" / "devices" / d.name, d)

    dmi = sysfs / "class" / "dmi" / "id"
    for name, value in (("product_name", "Standard PC (Q35 + ICH9, 2009)"), ("sys_vendor", "QEMU"),
                        ("product_version", "pc-q35-7.2"), ("product_uuid", "8d1b1e2a-8a3c-4b5f-9e6d-0c1b2a3d4e5f"),
                        ("bios_vendor", "SeaBIOS"), ("bios_version", "1.16.2"), ("bios_date", "04/01/2014")):
        write(dmi / name, value)
    return sysfs


@pytest.fixture
def sysfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = build_sysfs(tmp_path)
    monkeypatch.setenv("VIRT_NODEDEV_SYSFS", str(root))
    return root


@pytest.fixture
def conn(sysfs: Path) -> Iterator[Connection]:
    reg = build_registry(get_plugin_manager(False, (StubPlugin(), plugin)))
    c = Connection("stubhv:///system", registry=reg)
    yield c
    c.close()


@pytest.fixture
def kernel(sysfs: Path) -> Iterator[None]:
    """Does what the kernel does on a write to drivers_probe: bind the device to its driver_override,
    or (none set) back to its own driver."""
    stop = threading.Event()
    probe = sysfs / "bus" / "pci" / "drivers_probe"
    original = {"0000:01:00.0": "e1000e"}

    def run() -> None:
        while not stop.is_set():
            addr = probe.read_text().strip()
            if addr:
                probe.write_text("")  # consumed before the binding shows, as the kernel's write returns
                dev = sysfs / "bus" / "pci" / "devices" / addr
                override = (dev / "driver_override").read_text().strip()
                target = override if override not in ("", "(null)") else original.get(addr)
                drv = dev.resolve() / "driver"
                if drv.is_symlink():
                    drv.unlink()
                if target:
                    os.symlink(sysfs / "bus" / "pci" / "drivers" / target, drv)
            stop.wait(0.01)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    yield
    stop.set()
    t.join()
