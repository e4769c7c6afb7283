"""Persistent mediated device definitions, kept where and as mdevctl keeps them.

mdevctl stores one JSON file per defined device, ``/etc/mdevctl.d/PARENT/UUID`` (PARENT: the parent's
sysfs name, e.g. ``0000:00:02.0``), holding ``mdev_type``, ``start`` ("auto" or "manual") and
``attrs`` (a list of one-key objects, written to the device in order once it exists). libvirt reads
and writes them through the mdevctl tool; this driver reads and writes the files themselves, so a
host's mdevctl sees the same definitions. ``$VIRT_NODEDEV_MDEVCTL_DIR`` moves the directory.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from virt.secondary.nodedev.sysfs import device_name
from virt.util.fileutil import atomic_write, make_dirs, unlink_if_exists

DEFAULT_DIR = "/etc/mdevctl.d"


@dataclass
class MdevDefinition:
    """One defined mediated device."""

    parent_addr: str
    uuid: str
    mdev_type: str
    autostart: bool = False
    attrs: list[tuple[str, str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return device_name("mdev", self.uuid, self.parent_addr)

    def to_json(self) -> str:
        return json.dumps({"mdev_type": self.mdev_type, "start": "auto" if self.autostart else "manual",
                           "attrs": [{k: v} for k, v in self.attrs]}, indent=2) + "\n"


@dataclass(frozen=True)
class MdevStore:
    root: Path

    @classmethod
    def from_env(cls) -> MdevStore:
        return cls(Path(os.environ.get("VIRT_NODEDEV_MDEVCTL_DIR") or DEFAULT_DIR))

    def all(self) -> list[MdevDefinition]:
        found = []
        for parent in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            for path in sorted(parent.iterdir()) if parent.is_dir() else []:
                try:
                    data = json.loads(path.read_text())
                    attrs = [(str(k), str(v)) for item in data.get("attrs") or [] for k, v in item.items()]
                    found.append(MdevDefinition(parent.name, path.name, str(data["mdev_type"]),
                                                data.get("start") == "auto", attrs))
                except (OSError, ValueError, KeyError, AttributeError):
                    continue  # not a definition of mdevctl's: left alone
        return found

    def find(self, name: str) -> MdevDefinition | None:
        return next((d for d in self.all() if d.name == name), None)

    def save(self, defn: MdevDefinition) -> None:
        make_dirs(self.root / defn.parent_addr, 0o755)
        atomic_write(self.root / defn.parent_addr / defn.uuid, defn.to_json(), mode=0o644)

    def delete(self, defn: MdevDefinition) -> None:
        unlink_if_exists(self.root / defn.parent_addr / defn.uuid)
