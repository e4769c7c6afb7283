"""The C engine's parse plans (virt.conf._cparse): what a model class's generated parse function does, as data."""

from __future__ import annotations

from typing import Any


def native_parser(cls: type) -> Any:
    """The native parse function of a model class, or None (no extension: the generated one is used)."""
    return None
