"""Entry point of the node device driver: registers it for the node device calls of local connections."""

from __future__ import annotations

from virt.core.plugin import hookimpl
from virt.core.registry import DriverRegistry


@hookimpl
def virt_register_drivers(register: DriverRegistry) -> None:
    register.secondary("virt.secondary.nodedev.driver:NodeDeviceDriver", name="nodedev", objects=("nodedev",),
                       description="host devices from sysfs; PCI detach/reattach to vfio-pci")
