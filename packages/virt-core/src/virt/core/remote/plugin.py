"""Entry point of the remote driver (imports nothing heavy: the client loads on first open)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from virt.core.driver import KINDS
from virt.core.plugin import hookimpl

if TYPE_CHECKING:
    from virt.core.registry import DriverRegistry


@hookimpl
def virt_register_drivers(register: DriverRegistry) -> None:
    register.hypervisor("virt.core.remote.client:RemoteDriver", name="remote", uri_schemes=(), objects=KINDS,
                        description="libvirt's remote protocol: DRIVER+unix/tcp/tls/ssh URIs, hosts, local daemons")
