"""Entry point of the example driver: registers it with virt's registry."""

from virt.core.plugin import hookimpl
from virt.core.registry import DriverRegistry


@hookimpl
def virt_register_drivers(register: DriverRegistry) -> None:
    register.hypervisor("virt.driver.example.driver:ExampleDriver", name="example", uri_schemes=("example",),
                        description="template driver keeping domains in memory")
