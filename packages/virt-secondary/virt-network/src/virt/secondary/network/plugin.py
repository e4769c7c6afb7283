"""Entry point of the network driver: registers the driver and its ``net-dumpdnsmasq`` command."""

from __future__ import annotations

from virt.core.plugin import hookimpl
from virt.core.registry import DriverRegistry


@hookimpl
def virt_register_drivers(register: DriverRegistry) -> None:
    register.secondary("virt.secondary.network.driver:NetworkDriver", name="network", objects=("network",),
                       description="virtual networks: Linux bridges, dnsmasq, nftables")
    register.command("net-dumpdnsmasq", "virt.secondary.network.cli:DUMPDNSMASQ")
