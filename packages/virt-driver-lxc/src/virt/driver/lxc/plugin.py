"""Registers the LXC driver, its native format (lxc-tools) and the CLI option that format takes."""

from __future__ import annotations

from virt.core.plugin import hookimpl
from virt.core.registry import DriverRegistry


@hookimpl
def virt_register_drivers(register: DriverRegistry) -> None:
    register.hypervisor("virt.driver.lxc.driver:LxcDriver", name="lxc", uri_schemes=("lxc",),
                        description="Linux containers: lxc:/// (namespaces, cgroups, a controller per container)")
    register.native_format("lxc-tools", driver="lxc", from_native="virt.driver.lxc.native:from_native")
    register.cli_option("domxml-from-native", "--uuid", dest="uuid",
                        help="UUID of the converted domain instead of a random one (lxc-tools)")
