"""Internal snapshots (placeholder, filled below)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from virt.driver.qemu.state import DomainObj

if TYPE_CHECKING:
    from virt.driver.qemu.host import QemuHost


def count(host: QemuHost, obj: DomainObj) -> int:
    return 0


def drop_metadata(host: QemuHost, obj: DomainObj) -> None:
    return None


class SnapshotCalls:
    pass


__all__ = ["Any"]
