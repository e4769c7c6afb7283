"""Fixtures of the ESX driver's tests; helpers live in esx_helpers (tests import files by path)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def esx_registry() -> Iterator[Any]:
    """The process-wide registry replaced by one holding only this distribution's plugin."""
    from virt.core.plugin import get_plugin_manager
    from virt.core.registry import build_registry, get_registry, set_registry
    from virt.driver.esx import plugin

    old = get_registry()
    set_registry(build_registry(get_plugin_manager(False, (plugin,))))
    yield
    set_registry(old)
