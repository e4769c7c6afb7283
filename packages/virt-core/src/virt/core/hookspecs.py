"""Hook specifications: how plugins (drivers shipped as Python packages) extend virt."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from virt.core.registry import DriverRegistry

hookspec = pluggy.HookspecMarker("virt")


@hookspec
def virt_register_drivers(register: DriverRegistry) -> None:
    """Register the plugin's drivers, native formats, normalizers and CLI commands on ``register``.

    Every plugin's implementation is called once, when the registry is built; results are ignored.
    Register classes or "module:attribute" strings; strings are imported only when first used, so
    listing drivers and parsing URIs stays fast.
    """


@hookspec
def virt_connection_opened(uri: str, driver: str, readonly: bool) -> None:
    """Observe each connection opened in this process (auditing, metrics). Results are ignored;
    an implementation must not raise."""
