"""Entry point of the secret driver: registers it for the secret calls of local connections."""

from __future__ import annotations

from virt.core.plugin import hookimpl
from virt.core.registry import DriverRegistry


@hookimpl
def virt_register_drivers(register: DriverRegistry) -> None:
    register.secondary("virt.secondary.secret.driver:SecretDriver", name="secret", objects=("secret",),
                       description="secrets, encrypted at rest with a host key")
