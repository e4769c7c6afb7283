"""Registers the Hyper-V driver."""

from __future__ import annotations

from virt.core.plugin import hookimpl
from virt.core.registry import DriverRegistry


@hookimpl
def virt_register_drivers(register: DriverRegistry) -> None:
    register.hypervisor("virt.driver.hyperv.driver:HyperVDriver", name="hyperv", uri_schemes=("hyperv",),
                        description="Microsoft Hyper-V hosts over WS-Management (WMI)")
