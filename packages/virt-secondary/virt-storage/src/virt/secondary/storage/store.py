"""Where the storage driver keeps its pools, shared by every connection and process through files.

- ``config_dir/NAME.xml``: persistent pool definitions; ``config_dir/autostart/NAME.xml``: links
- ``run_dir/NAME.xml``: the live definition of an active pool; ``run_dir/NAME.json``: what its last
  refresh found (sizes and volumes), so lists and lookups never touch the pool's storage
- ``run_dir/locks/NAME.lock``: one lock per pool, so a pool whose storage hangs holds only itself

Definitions change under a short store-wide lock; work on a pool's storage takes that pool's lock.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from virt.conf.storage import Pool
from virt.core.store import DefinitionStore, StoredObject
from virt.util.errors import ErrorDomain, OperationTimeoutError
from virt.util.fileutil import make_dirs

#: Seconds a call waits for a pool's storage before giving up on it (not for wipe, clone, build).
DEFAULT_TIMEOUT = 120.0


@dataclass(frozen=True)
class StorageSettings:
    """Directories and limits (``?root=DIR`` or $VIRT_STORAGE_ROOT moves the directories under DIR;
    $VIRT_STORAGE_TIMEOUT bounds how long a call waits for an unresponsive pool)."""

    config_dir: Path
    run_dir: Path
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def for_uri(cls, params: dict[str, str] | None = None, environ: dict[str, str] | None = None) -> StorageSettings:
        env = os.environ if environ is None else environ
        root = (params or {}).get("root") or env.get("VIRT_STORAGE_ROOT")
        if root:
            dirs = (Path(root) / "etc" / "storage", Path(root) / "run" / "storage")
        elif os.geteuid() == 0:
            dirs = (Path("/etc/virt/storage"), Path("/run/virt/storage"))
        else:
            home = Path.home()
            config = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
            runtime = Path(env.get("XDG_RUNTIME_DIR") or home / ".cache")
            dirs = (config / "virt" / "storage", runtime / "virt" / "storage")
        try:
            timeout = float(env.get("VIRT_STORAGE_TIMEOUT") or DEFAULT_TIMEOUT)
        except ValueError:
            timeout = DEFAULT_TIMEOUT
        return cls(*dirs, timeout=timeout)


@dataclass
class PoolObj(StoredObject[Pool]):
    """A pool: its persistent and live definitions and what its last refresh found."""

    state: dict[str, Any] = field(default_factory=dict)

    @property
    def volumes(self) -> list[dict[str, Any]]:
        return list(self.state.get("volumes", []))


class PoolStore(DefinitionStore):
    KIND = "pool"
    ERROR_DOMAIN = ErrorDomain.STORAGE

    def __init__(self, settings: StorageSettings) -> None:
        super().__init__(settings.config_dir, settings.run_dir)
        self.settings = settings
        self._pool_locks: dict[str, threading.Lock] = {}
        self._pool_locks_guard = threading.Lock()

    def state_path(self, name: str) -> Path:
        return self.record_path(name)

    # -- locks (the store-wide one, ``locked()``, is held only while definitions and state files are
    # read or replaced) --------------------------------------------------------------------------------
    @contextmanager
    def pool_locked(self, name: str, timeout: float | None) -> Iterator[None]:
        """One pool's lock, across threads and processes; gives up after ``timeout`` seconds."""
        with self._pool_locks_guard:
            tlock = self._pool_locks.setdefault(name, threading.Lock())
        deadline = None if timeout is None else time.monotonic() + timeout
        if not tlock.acquire(timeout=-1 if timeout is None else timeout):
            raise _busy(name)
        try:
            make_dirs(self.run_dir / "locks", 0o755)
            fd = os.open(self.run_dir / "locks" / f"{name}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if deadline is not None and time.monotonic() >= deadline:
                            raise _busy(name) from None
                        time.sleep(0.05)
                yield
            finally:
                os.close(fd)
        finally:
            tlock.release()

    # -- reading ------------------------------------------------------------------------------------
    def load_all(self) -> dict[str, PoolObj]:
        objs: dict[str, PoolObj] = {}
        for defn in self.definitions(self.config_dir):
            objs[defn.name] = PoolObj(defn.name, str(defn.uuid), config=defn,
                                      autostart=self.autostart_path(defn.name).exists())
        for defn in self.definitions(self.run_dir):
            obj = objs.setdefault(defn.name, PoolObj(defn.name, str(defn.uuid)))
            obj.live = defn
            obj.state = self.read_state(defn.name)
        return objs

    def read_state(self, name: str) -> dict[str, Any]:
        return self.read_record(name)

    # -- writing ------------------------------------------------------------------------------------
    def save_live(self, defn: Pool, state: dict[str, Any]) -> None:
        self.save_record(defn.name, state)
        self.save_live_definition(defn)

    def save_state(self, name: str, state: dict[str, Any]) -> None:
        self.save_record(name, state)


def _busy(name: str) -> OperationTimeoutError:
    return OperationTimeoutError(f"storage pool '{name}' is not responding: another operation on it has not "
                                 "finished", domain=ErrorDomain.STORAGE)


def parse_pool(xml: str) -> Pool:
    return PoolStore.parse_definition(xml)  # type: ignore[no-any-return]
