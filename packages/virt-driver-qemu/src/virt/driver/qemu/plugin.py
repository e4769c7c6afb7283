"""Registers the QEMU driver, its native format (qemu-argv), its normalizer and CLI options."""

from __future__ import annotations

from virt.core.plugin import hookimpl
from virt.core.registry import DriverRegistry


@hookimpl
def virt_register_drivers(register: DriverRegistry) -> None:
    pass
