"""The C engine's write plans (virt.conf._cwrite): what a model class's generated write function does, as data."""

from __future__ import annotations

from typing import Any


def native_writer(cls: type) -> Any:
    """The native write function of a model class, or None (no extension: the generated one is used)."""
    return None
