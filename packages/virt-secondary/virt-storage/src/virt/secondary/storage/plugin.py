"""Entry point of the storage driver: registers it for the storage calls of local connections."""

from __future__ import annotations

from virt.core.plugin import hookimpl
from virt.core.registry import DriverRegistry


@hookimpl
def virt_register_drivers(register: DriverRegistry) -> None:
    register.secondary("virt.secondary.storage.driver:StorageDriver", name="storage", objects=("storage",),
                       description="storage pools (dir, fs, netfs, logical) and volumes through qemu-img")
