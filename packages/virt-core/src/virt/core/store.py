"""Definitions kept on disk for drivers without a daemon: persistent and live XML, autostart, a JSON record.

Layout under the driver's directories:
- ``config_dir/NAME.xml``: the persistent definition; ``config_dir/autostart/NAME.xml``: its autostart link
- ``run_dir/NAME.xml``: the live definition of an active object; ``run_dir/NAME.json``: the driver's record
  of it (what start-up set up, what the last refresh found)

Every connection and every process shares them through the file system; ``locked()`` serializes changes
across processes (a file lock) and threads (re-entrant within one thread).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from virt.conf import parse
from virt.conf.xmlmodel import Model
from virt.util.errors import ErrorDomain, VirtError
from virt.util.fileutil import atomic_write, make_dirs, unlink_if_exists

#: The type of a stored object's definitions (a virt.conf model, or an XML tree).
D = TypeVar("D")


@dataclass(eq=False)
class StoredObject(Generic[D]):
    """A driver's object (a guest, a network, a pool): its persistent definition (None when transient)
    and its live one (None when inactive). Drivers subclass it with what else they keep."""

    name: str
    uuid: str
    config: D | None = None
    live: D | None = None
    autostart: bool = False

    @property
    def active(self) -> bool:
        return self.live is not None

    @property
    def persistent(self) -> bool:
        return self.config is not None

    @property
    def defn(self) -> D:
        """The definition in effect: the live one while active, else the persistent one."""
        d = self.live if self.live is not None else self.config
        assert d is not None
        return d


class DefinitionStore:
    """The objects of one kind (``KIND``: their root element) under a config and a run directory."""

    KIND: ClassVar[str] = ""
    #: The error domain a user's malformed definition is reported in.
    ERROR_DOMAIN: ClassVar[ErrorDomain] = ErrorDomain.NONE

    def __init__(self, config_dir: Path, run_dir: Path, *more_dirs: Path) -> None:
        self.config_dir = config_dir
        self.run_dir = run_dir
        self._dirs = (config_dir, *more_dirs, run_dir)
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._lock_fd: int | None = None

    # -- paths --------------------------------------------------------------------------------------
    def config_path(self, name: str) -> Path:
        return self.config_dir / f"{name}.xml"

    def autostart_path(self, name: str) -> Path:
        return self.config_dir / "autostart" / f"{name}.xml"

    def live_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.xml"

    def record_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.json"

    # -- locking ------------------------------------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive access to the store, across threads and processes (re-entrant in one thread)."""
        with self._thread_lock:
            if self._depth == 0:
                for d in self._dirs:
                    make_dirs(d, 0o755)
                fd = os.open(self.run_dir / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._lock_fd = fd
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._lock_fd is not None:
                    os.close(self._lock_fd)  # closing drops the flock
                    self._lock_fd = None

    # -- reading ------------------------------------------------------------------------------------
    def definitions(self, directory: Path) -> Iterator[Any]:
        """The readable definitions in ``directory``, by file name; a damaged file is skipped so that it
        cannot hide the others."""
        for path in sorted(directory.glob("*.xml")) if directory.is_dir() else []:
            defn = self.read_definition(path)
            if defn is not None:
                yield defn

    def read_definition(self, path: Path) -> Any:
        try:
            return parse(path.read_text(), self.KIND)
        except (OSError, VirtError):
            return None

    def read_record(self, name: str) -> dict[str, Any]:
        try:
            data = json.loads(self.record_path(name).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    @classmethod
    def parse_definition(cls, xml: str) -> Any:
        """A definition from the user; its errors belong to the driver's error domain."""
        try:
            return parse(xml, cls.KIND)
        except VirtError as exc:
            if not exc.domain:
                exc.domain = cls.ERROR_DOMAIN
            raise

    # -- writing ------------------------------------------------------------------------------------
    def save_config(self, defn: Model) -> None:
        atomic_write(self.config_path(defn.name), defn.format(), mode=0o600)  # type: ignore[attr-defined]

    def delete_config(self, name: str) -> None:
        unlink_if_exists(self.autostart_path(name))
        unlink_if_exists(self.config_path(name))

    def set_autostart(self, name: str, on: bool) -> None:
        link = self.autostart_path(name)
        if on:
            make_dirs(link.parent, 0o755)
            if not link.is_symlink():
                os.symlink(Path("..") / f"{name}.xml", link)
        else:
            unlink_if_exists(link)

    def save_live_definition(self, defn: Model) -> None:
        atomic_write(self.live_path(defn.name), defn.format(), mode=0o644)  # type: ignore[attr-defined]

    def save_record(self, name: str, record: dict[str, Any]) -> None:
        atomic_write(self.record_path(name), json.dumps(record, indent=1, sort_keys=True), mode=0o644)

    def clear_live(self, name: str) -> None:
        unlink_if_exists(self.live_path(name))
        unlink_if_exists(self.record_path(name))
