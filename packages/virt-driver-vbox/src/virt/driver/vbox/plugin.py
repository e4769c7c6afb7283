"""Registers the VirtualBox driver."""

from __future__ import annotations

from virt.core.plugin import hookimpl
from virt.core.registry import DriverRegistry


@hookimpl
def virt_register_drivers(register: DriverRegistry) -> None:
    register.hypervisor("virt.driver.vbox.driver:VBoxDriver", name="vbox", uri_schemes=("vbox",),
                        description="VirtualBox through its SOAP web service (vboxwebsrv)")
