"""virt's public API: ``virt.core.open(uri)`` returns a Connection; errors are VirtError subclasses."""

from __future__ import annotations

from typing import Any

# Imported lazily so that `virt --help` and plugin discovery stay fast.
_EXPORTS = {
    "open": "virt.core.connection",
    "open_read_only": "virt.core.connection",
    "Connection": "virt.core.connection",
    "Domain": "virt.core.connection",
    "Network": "virt.core.connection",
    "StoragePool": "virt.core.connection",
    "StorageVolume": "virt.core.connection",
    "NodeDevice": "virt.core.connection",
    "Interface": "virt.core.connection",
    "Secret": "virt.core.connection",
    "NWFilter": "virt.core.connection",
    "DomainSnapshot": "virt.core.connection",
    "VirtError": "virt.util.errors",
    "ErrorNumber": "virt.util.errors",
    "ErrorDomain": "virt.util.errors",
    "URI": "virt.core.uri",
    "Driver": "virt.core.driver",
    "hookimpl": "virt.core.plugin",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'virt.core' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module), name)
