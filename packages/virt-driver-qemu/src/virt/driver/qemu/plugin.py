"""Registers the QEMU driver, its native format (qemu-argv), its normalizer and CLI options."""

from __future__ import annotations

from virt.core.plugin import hookimpl
from virt.core.registry import DriverRegistry

_CAPS_HELP = "QEMU capabilities: a recorded probe (.replies) or a <qemuCaps> document"


@hookimpl
def virt_register_drivers(register: DriverRegistry) -> None:
    register.hypervisor("virt.driver.qemu.driver:QemuDriver", name="qemu", uri_schemes=("qemu",),
                        description="QEMU/KVM guests")
    register.command("qemu-caps", "virt.driver.qemu.cli:QEMU_CAPS")
    register.cli_option("domcapabilities", "--qemu-caps", dest="qemu_caps", help=_CAPS_HELP)
