"""Entry point of the built-in test driver (imports nothing heavy: the driver loads on first open)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from virt.core.driver import KINDS
from virt.core.plugin import hookimpl

if TYPE_CHECKING:
    from virt.core.registry import DriverRegistry


@hookimpl
def virt_register_drivers(register: DriverRegistry) -> None:
    register.hypervisor("virt.core.drivers.test.driver:TestDriver", name="test", uri_schemes=("test",),
                        objects=KINDS,
                        description="in-memory mock hypervisor: test:///default or test:///path/to/node.xml")
