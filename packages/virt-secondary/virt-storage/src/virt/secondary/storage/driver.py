"""The storage driver: libvirt's virStoragePool*/virStorageVol* calls on local connections.

Work on a pool's storage runs in a thread of its own under that pool's lock, and the caller waits
at most the configured timeout: a pool whose storage hangs (an unreachable NFS server) keeps only
itself busy. Lists, lookups and info answer from what the last refresh recorded, without touching
any pool's storage.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar, TypeVar

from virt.conf import parse
from virt.conf.storage import (
    ClusterSize,
    FreeExtent,
    Permissions,
    Pool,
    ScaledSize,
    SecretRef,
    SourceFormat,
    Timestamps,
    VolExtent,
    VolFeatures,
    VolSource,
    VolSourceDevice,
    VolTarget,
    Volume,
)
from virt.core.driver import Driver, c_name
from virt.core.enums import ConnectListAllStoragePoolsFlags as LF
from virt.core.enums import StoragePoolBuildFlags as BF
from virt.core.enums import StoragePoolCreateFlags as PCF
from virt.core.enums import StoragePoolEventID, StorageVolType
from virt.core.enums import StorageVolCreateFlags as CF
from virt.core.enums import StorageVolDownloadFlags as DF
from virt.core.enums import StorageVolResizeFlags as RF
from virt.core.enums import StorageVolUploadFlags as UF
from virt.core.enums import StorageVolWipeAlgorithm as WA
from virt.core.events import EventBus
from virt.core.sparse import in_data
from virt.core.types import (
    StoragePoolInfo,
    StoragePoolRef,
    StorageVolInfo,
    StorageVolRef,
)
from virt.core.uri import URI
from virt.secondary.storage.backends import CHUNK, Backend, Progress, backend_for, storage_error
from virt.secondary.storage.store import PoolObj, PoolStore, StorageSettings, parse_pool
from virt.util.errors import (
    ErrorDomain,
    ErrorNumber,
    InvalidArgError,
    OperationInvalidError,
    OperationTimeoutError,
    VirtError,
    not_found,
)

log = logging.getLogger(__name__)
STORAGE = ErrorDomain.STORAGE
T = TypeVar("T")


class PoolEvent(IntEnum):
    """virStoragePoolEventLifecycleType."""

    DEFINED = 0
    UNDEFINED = 1
    STARTED = 2
    STOPPED = 3
    CREATED = 4
    DELETED = 5


#: list-all filters: (the flags of a group, which of them a pool matches)
_TYPE_FLAGS = {"dir": LF.DIR, "fs": LF.FS, "netfs": LF.NETFS, "logical": LF.LOGICAL, "disk": LF.DISK,
               "iscsi": LF.ISCSI, "scsi": LF.SCSI, "mpath": LF.MPATH, "rbd": LF.RBD, "sheepdog": LF.SHEEPDOG,
               "gluster": LF.GLUSTER, "zfs": LF.ZFS, "vstorage": LF.VSTORAGE, "iscsi-direct": LF.ISCSI_DIRECT}
_FILTERS: tuple[tuple[int, Callable[[PoolObj], int]], ...] = (
    (LF.ACTIVE | LF.INACTIVE, lambda o: LF.ACTIVE if o.active else LF.INACTIVE),
    (LF.PERSISTENT | LF.TRANSIENT, lambda o: LF.PERSISTENT if o.persistent else LF.TRANSIENT),
    (LF.AUTOSTART | LF.NO_AUTOSTART, lambda o: LF.AUTOSTART if o.autostart else LF.NO_AUTOSTART),
    (sum(_TYPE_FLAGS.values()), lambda o: _TYPE_FLAGS.get(str(o.defn.type), 0)),
)

#: Flags each call accepts (virCheckFlags); calls not listed accept none.
_ALLOWED_FLAGS = {
    "connect_list_all_storage_pools": sum(LF), "storage_pool_define_xml": 1,
    "storage_pool_create_xml": sum(PCF), "storage_pool_create": sum(PCF),
    "storage_pool_build": int(BF.OVERWRITE | BF.NO_OVERWRITE), "storage_pool_get_xml_desc": 1,
    "storage_pool_list_all_volumes": 0, "storage_vol_create_xml": int(CF.PREALLOC_METADATA | CF.VALIDATE),
    "storage_vol_create_xml_from": int(CF.PREALLOC_METADATA | CF.VALIDATE | CF.REFLINK),
    "storage_vol_delete": 0, "storage_vol_wipe": 0, "storage_vol_wipe_pattern": 0,
    "storage_vol_resize": sum(RF), "storage_vol_get_info_flags": 1, "storage_vol_get_xml_desc": 0,
    "storage_pool_refresh": 0, "storage_pool_destroy": 0, "storage_pool_delete": 1,
    "storage_vol_upload": int(UF.SPARSE_STREAM), "connect_find_storage_pool_sources": 0, "storage_vol_download": int(DF.SPARSE_STREAM),
}

_VOL_TYPES = {"file": StorageVolType.FILE, "block": StorageVolType.BLOCK, "dir": StorageVolType.DIR,
              "network": StorageVolType.NETWORK}
#: Calls that may legitimately run long (copying or overwriting data): no timeout.
_LONG = None


@dataclass
class _Shared:
    store: PoolStore
    buses: list[EventBus] = field(default_factory=list)
    started: bool = False
    #: Long operations in progress: (pool, volume) -> [operation, processed, total].
    jobs: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    jobs_lock: threading.Lock = field(default_factory=threading.Lock)

    @contextlib.contextmanager
    def job(self, operation: str, *vols: tuple[str, str], total: int = 0) -> Iterator[Progress]:
        """Record a long operation on volumes for ``storage_vol_get_job_info``, for as long as it runs.

        Yields ``progress(processed, total)`` for the work to report through.
        """
        record: list[Any] = [operation, 0, total]
        with self.jobs_lock:
            for key in vols:
                self.jobs[key] = record

        def progress(processed: int, total: int) -> None:
            record[1:] = processed, total  # one assignment: readers see a consistent pair

        try:
            yield progress
        finally:
            with self.jobs_lock:
                for key in vols:
                    if self.jobs.get(key) is record:
                        del self.jobs[key]

    def emit(self, ref: StoragePoolRef, event_id: int, *payload: Any) -> None:
        for bus in list(self.buses):
            bus.emit("storage_pool", event_id, ref, *payload)


_shared_lock = threading.Lock()
_shared: dict[StorageSettings, _Shared] = {}


def _ref(obj: PoolObj) -> StoragePoolRef:
    return StoragePoolRef(obj.name, obj.uuid)


def _vref(pool: str, rec: dict[str, Any]) -> StorageVolRef:
    return StorageVolRef(pool, rec["name"], rec["key"])


class StorageDriver(Driver):
    """Storage pools and volumes on this host."""

    name: ClassVar[str] = "storage"
    kinds: ClassVar[tuple[str, ...]] = ("storage",)

    def __init__(self, uri: URI, *, readonly: bool = False, events: EventBus | None = None) -> None:
        super().__init__(uri, readonly=readonly, events=events)
        self.settings = StorageSettings.for_uri(uri.params)
        with _shared_lock:
            sh = _shared.get(self.settings)
            if sh is None:
                sh = _shared[self.settings] = _Shared(PoolStore(self.settings))
        self._sh = sh
        sh.buses.append(self.events)
        self.store = sh.store
        if not readonly:
            try:
                self._autostart()
            except (VirtError, OSError) as exc:  # a connection must open even if autostart cannot run
                log.warning("storage driver start-up: %s", exc)

    def close(self) -> None:
        if self.events in self._sh.buses:
            self._sh.buses.remove(self.events)

    def _autostart(self) -> None:
        """Once a boot (the run dir is fresh): start the autostart pools."""
        with self.store.locked():
            if self._sh.started:
                return
            self._sh.started = True
            marker = self.store.run_dir / ".autostarted"
            if marker.exists():
                return
            marker.touch()
            pending = [o for o in self.store.load_all().values() if o.autostart and not o.active]
        for obj in pending:
            try:
                self.storage_pool_create(_ref(obj), 0)
            except VirtError as exc:
                log.warning("autostart of storage pool %s failed: %s", obj.name, exc.message)

    # -- helpers ------------------------------------------------------------------------------------
    def _backend(self, pool: Pool) -> Backend:
        return backend_for(pool, self._secret_value)

    def _secret_value(self, ref: SecretRef, usage_type: int) -> bytes:
        """The value of a pool's <auth> secret, from the secret driver of this connection's URI (as
        libvirt's storage driver opens a secret connection); never logged."""
        from virt.core.registry import get_registry

        info = get_registry().secondary_for("secret")
        if info is None:
            raise VirtError("no secret driver is installed to read the pool's authentication secret",
                            code=ErrorNumber.NO_SECRET, domain=STORAGE)
        secrets = info.load()(self.uri, readonly=False)
        try:
            if ref.uuid:
                sref = secrets.secret_lookup_by_uuid(str(ref.uuid))
            else:
                sref = secrets.secret_lookup_by_usage(usage_type, str(ref.usage))
            return bytes(secrets.secret_get_value_internal(sref))
        finally:
            secrets.close()

    def _check_flags(self, call: str, flags: int) -> None:
        bad = int(flags) & ~_ALLOWED_FLAGS.get(call, 0)
        if bad:
            raise InvalidArgError(f"{c_name(call)}: unsupported flags (0x{bad:x})", domain=STORAGE,
                                  message=f"invalid argument: {c_name(call)}: unsupported flags (0x{bad:x})")

    def _all(self) -> dict[str, PoolObj]:
        with self.store.locked():
            return self.store.load_all()

    def _by_name(self, name: str) -> PoolObj:
        obj = self._all().get(name)
        if obj is None:
            raise not_found(ErrorNumber.NO_STORAGE_POOL, f"no storage pool with matching name '{name}'", STORAGE)
        return obj

    def _by_uuid(self, uuid: str, name: str | None = None) -> PoolObj:
        for obj in self._all().values():
            if obj.uuid == uuid.lower():
                return obj
        detail = f"no storage pool with matching uuid '{uuid}'" + (f" ({name})" if name else "")
        raise not_found(ErrorNumber.NO_STORAGE_POOL, detail, STORAGE)

    def _get(self, ref: StoragePoolRef) -> PoolObj:
        return self._by_uuid(ref.uuid, ref.name)

    def _active(self, ref: StoragePoolRef) -> PoolObj:
        obj = self._get(ref)
        if not obj.active:
            raise OperationInvalidError(f"storage pool '{obj.name}' is not active", domain=STORAGE)
        return obj

    def _work(self, pool: str, fn: Callable[[], T], timeout: float | None = 0.0) -> T:
        """Run ``fn`` on a thread of its own under the pool's lock; wait at most ``timeout``
        (0: the configured one, None: as long as it takes)."""
        limit = self.settings.timeout if timeout == 0.0 else timeout
        result: list[Any] = []
        failure: list[BaseException] = []

        def job() -> None:
            try:
                with self.store.pool_locked(pool, limit):
                    result.append(fn())
            except BaseException as exc:
                failure.append(exc)

        worker = threading.Thread(target=job, name=f"virt-storage-{pool}", daemon=True)
        worker.start()
        worker.join(limit)
        if worker.is_alive():
            raise OperationTimeoutError(f"storage pool '{pool}' is not responding (no answer within {limit:g}s)",
                                        domain=STORAGE)
        if failure:
            exc = failure[0]
            if isinstance(exc, OSError):
                from virt.util.errors import SystemError_

                raise SystemError_.from_errno(exc, f"storage pool '{pool}'", domain=STORAGE) from None
            raise exc
        return result[0]  # type: ignore[no-any-return]

    def _refresh_state(self, obj: PoolObj, backend: Backend) -> dict[str, Any]:
        """Scan the pool's storage (in a worker, under the pool lock) into a new state record."""
        sizes = backend.sizes()
        state = {"capacity": sizes.capacity, "allocation": sizes.allocation, "available": sizes.available,
                 "volumes": backend.scan(), "refreshed": time.time(), "free_extents": sizes.free_extents}
        if backend.file_volumes:
            state["target_permissions"] = list(backend.target_permissions())
        return state

    def _save_state(self, name: str, state: dict[str, Any]) -> None:
        with self.store.locked():
            if self.store.live_path(name).exists():
                self.store.save_state(name, state)

    # -- lookups and lists --------------------------------------------------------------------------
    def storage_pool_lookup_by_name(self, name: str) -> StoragePoolRef:
        return _ref(self._by_name(name))

    def storage_pool_lookup_by_uuid(self, uuid: str) -> StoragePoolRef:
        return _ref(self._by_uuid(uuid))

    def storage_pool_lookup_by_volume(self, vol: StorageVolRef) -> StoragePoolRef:
        obj = self._all().get(vol.pool)
        if obj is None:
            raise not_found(ErrorNumber.NO_STORAGE_POOL, f"no storage pool with matching name '{vol.pool}'", STORAGE)
        return _ref(obj)

    def storage_pool_lookup_by_target_path(self, path: str) -> StoragePoolRef:
        for obj in self._all().values():
            if obj.active and obj.defn.target is not None and obj.defn.target.path == path.rstrip("/"):
                return _ref(obj)
        raise not_found(ErrorNumber.NO_STORAGE_POOL, f"no storage pool with matching target path '{path}'", STORAGE)

    def connect_list_all_storage_pools(self, flags: int = 0) -> list[StoragePoolRef]:
        self._check_flags("connect_list_all_storage_pools", flags)
        objs = sorted(self._all().values(), key=lambda o: o.name)
        groups = [(mask & flags, match) for mask, match in _FILTERS if mask & flags]
        return [_ref(o) for o in objs if all(match(o) & sel for sel, match in groups)]

    def connect_num_of_storage_pools(self) -> int:
        return len(self.connect_list_all_storage_pools(LF.ACTIVE))

    def connect_list_storage_pools(self, maxnames: int = -1) -> list[str]:
        names = [r.name for r in self.connect_list_all_storage_pools(LF.ACTIVE)]
        return names if maxnames < 0 else names[:maxnames]

    def connect_num_of_defined_storage_pools(self) -> int:
        return len(self.connect_list_all_storage_pools(LF.INACTIVE))

    def connect_list_defined_storage_pools(self, maxnames: int = -1) -> list[str]:
        names = [r.name for r in self.connect_list_all_storage_pools(LF.INACTIVE)]
        return names if maxnames < 0 else names[:maxnames]

    def connect_find_storage_pool_sources(self, type: str, src_spec: str | None = None, flags: int = 0) -> str:
        """Storage the host can see for a pool type: the targets of an iSCSI portal."""
        from virt.conf.storage import POOL_TYPES
        from virt.secondary.storage.sanpools import find_sources

        self._check_flags("connect_find_storage_pool_sources", flags)
        if type not in POOL_TYPES:
            raise storage_error(f"unknown storage pool type {type}")
        if type not in ("iscsi", "iscsi-direct"):
            raise VirtError(f"pool type '{type}' does not support source discovery", code=ErrorNumber.NO_SUPPORT,
                            domain=STORAGE)
        return self._work(f"find-sources-{type}", lambda: find_sources(type, src_spec))

    def connect_storage_pool_event_register_any(self, event_id: int, pool: StoragePoolRef | None = None) -> int:
        if int(event_id) not in (StoragePoolEventID.LIFECYCLE, StoragePoolEventID.REFRESH):
            raise InvalidArgError(f"unsupported event ID {event_id}")
        return 0

    # -- define, undefine ---------------------------------------------------------------------------
    def _assign(self, xml: str, *, live: bool) -> tuple[PoolObj, Pool]:
        defn = parse_pool(xml)
        self._backend(defn)  # a pool type without a backend is refused at once, as libvirt does
        objs = self.store.load_all()
        by_uuid = next((o for o in objs.values() if o.uuid == str(defn.uuid)), None)
        if by_uuid is not None and by_uuid.name != defn.name:
            raise storage_error(f"pool '{by_uuid.name}' is already defined with uuid {defn.uuid}",
                                ErrorNumber.OPERATION_FAILED)
        by_name = objs.get(defn.name)
        if by_name is not None and by_name.uuid != str(defn.uuid):
            raise storage_error(f"pool '{defn.name}' already exists with uuid {by_name.uuid}",
                                ErrorNumber.OPERATION_FAILED)
        obj = by_name or PoolObj(defn.name, str(defn.uuid))
        if live and obj.active:
            raise OperationInvalidError(f"storage pool '{obj.name}' is already active", domain=STORAGE)
        for other in objs.values():
            if other is obj:
                continue
            o = other.defn
            same_target = o.target is not None and defn.target is not None and o.target.path == defn.target.path \
                and o.type in ("dir", "fs", "netfs") and defn.type in ("dir", "fs", "netfs")
            same_source = (o.type == defn.type and o.source is not None and defn.source is not None
                           and ([d.path for d in o.source.devices] == [d.path for d in defn.source.devices] != []
                                or (o.type == "logical" and o.source.name == defn.source.name)))
            if same_target or same_source:
                raise storage_error(f"Storage source conflict with pool: '{other.name}'", ErrorNumber.OPERATION_FAILED)
        return obj, defn

    def storage_pool_define_xml(self, xml: str, flags: int = 0) -> StoragePoolRef:
        self._check_flags("storage_pool_define_xml", flags)
        with self.store.locked():
            obj, defn = self._assign(xml, live=False)
            self.store.save_config(defn)
        self._sh.emit(_ref(obj), StoragePoolEventID.LIFECYCLE, PoolEvent.DEFINED, 0)
        return _ref(obj)

    def storage_pool_undefine(self, pool: StoragePoolRef) -> None:
        with self.store.locked():
            obj = self._get(pool)
            if obj.active:
                raise OperationInvalidError(f"storage pool '{obj.name}' is still active", domain=STORAGE)
            if not obj.persistent:
                raise OperationInvalidError(f"storage pool '{obj.name}' is transient", domain=STORAGE)
            self.store.delete_config(obj.name)
        self._sh.emit(_ref(obj), StoragePoolEventID.LIFECYCLE, PoolEvent.UNDEFINED, 0)

    # -- build, start, stop, delete -----------------------------------------------------------------
    def _build_flags(self, flags: int) -> int | None:
        """Pool-create flags -> the build flags they ask for (None: no build)."""
        if flags & PCF.WITH_BUILD_OVERWRITE and flags & PCF.WITH_BUILD_NO_OVERWRITE:
            raise InvalidArgError("Mutually exclusive flags 'overwrite' and 'no_overwrite' given", domain=STORAGE)
        if flags & PCF.WITH_BUILD_OVERWRITE:
            return int(BF.OVERWRITE)
        if flags & PCF.WITH_BUILD_NO_OVERWRITE:
            return int(BF.NO_OVERWRITE)
        if flags & PCF.WITH_BUILD:
            return 0
        return None

    def _start(self, obj: PoolObj, defn: Pool, build: int | None) -> None:
        backend = self._backend(defn)

        def start() -> dict[str, Any]:
            if build is not None:
                backend.build(build)
            backend.start()
            try:
                return self._refresh_state(obj, backend)
            except BaseException:
                backend.stop()
                raise

        state = self._work(obj.name, start, None if build is not None else 0.0)
        with self.store.locked():
            self.store.save_live(defn, state)

    def storage_pool_create_xml(self, xml: str, flags: int = 0) -> StoragePoolRef:
        self._check_flags("storage_pool_create_xml", flags)
        build = self._build_flags(flags)
        with self.store.locked():
            obj, defn = self._assign(xml, live=True)
        self._start(obj, defn, build)
        self._sh.emit(_ref(obj), StoragePoolEventID.LIFECYCLE, PoolEvent.STARTED, 0)
        return _ref(obj)

    def storage_pool_create(self, pool: StoragePoolRef, flags: int = 0) -> None:
        self._check_flags("storage_pool_create", flags)
        build = self._build_flags(flags)
        obj = self._get(pool)
        if obj.active:
            raise OperationInvalidError(f"storage pool '{obj.name}' is already active", domain=STORAGE)
        assert obj.config is not None
        self._start(obj, obj.config, build)
        self._sh.emit(_ref(obj), StoragePoolEventID.LIFECYCLE, PoolEvent.STARTED, 0)

    def storage_pool_build(self, pool: StoragePoolRef, flags: int = 0) -> None:
        self._check_flags("storage_pool_build", flags)
        if flags & BF.OVERWRITE and flags & BF.NO_OVERWRITE:
            raise InvalidArgError("Mutually exclusive flags 'overwrite' and 'no_overwrite' given", domain=STORAGE)
        obj = self._get(pool)
        if obj.active:
            raise OperationInvalidError(f"storage pool '{obj.name}' is already active", domain=STORAGE)
        backend = self._backend(obj.defn)
        self._work(obj.name, lambda: backend.build(flags), _LONG)
        self._sh.emit(_ref(obj), StoragePoolEventID.LIFECYCLE, PoolEvent.CREATED, 0)

    def storage_pool_destroy(self, pool: StoragePoolRef) -> None:
        obj = self._active(pool)
        backend = self._backend(obj.defn)
        self._work(obj.name, backend.stop)
        with self.store.locked():
            self.store.clear_live(obj.name)
        self._sh.emit(_ref(obj), StoragePoolEventID.LIFECYCLE, PoolEvent.STOPPED, 0)

    def storage_pool_delete(self, pool: StoragePoolRef, flags: int = 0) -> None:
        self._check_flags("storage_pool_delete", flags)
        obj = self._get(pool)
        if obj.active:
            raise OperationInvalidError(f"storage pool '{obj.name}' is still active", domain=STORAGE)
        backend = self._backend(obj.defn)
        self._work(obj.name, lambda: backend.delete(flags), _LONG)
        self._sh.emit(_ref(obj), StoragePoolEventID.LIFECYCLE, PoolEvent.DELETED, 0)

    def storage_pool_refresh(self, pool: StoragePoolRef, flags: int = 0) -> None:
        self._check_flags("storage_pool_refresh", flags)
        obj = self._active(pool)
        backend = self._backend(obj.defn)
        state = self._work(obj.name, lambda: self._refresh_state(obj, backend))
        self._save_state(obj.name, state)
        self._sh.emit(_ref(obj), StoragePoolEventID.REFRESH)

    # -- properties ---------------------------------------------------------------------------------
    def storage_pool_get_info(self, pool: StoragePoolRef) -> StoragePoolInfo:
        obj = self._get(pool)
        if not obj.active:
            return StoragePoolInfo(0, 0, 0, 0)
        s = obj.state
        return StoragePoolInfo(2, int(s.get("capacity", 0)), int(s.get("allocation", 0)), int(s.get("available", 0)))

    def storage_pool_get_xml_desc(self, pool: StoragePoolRef, flags: int = 0) -> str:
        self._check_flags("storage_pool_get_xml_desc", flags)
        obj = self._get(pool)
        if flags & 1 and obj.config is not None:
            return str(obj.config.format())
        defn = obj.defn.copy()
        if obj.active:
            s = obj.state
            defn.capacity, defn.allocation, defn.available = (ScaledSize.of(int(s.get(k, 0)))
                                                              for k in ("capacity", "allocation", "available"))
            extents = s.get("free_extents")
            if extents is not None and defn.source is not None and defn.source.devices:
                defn.source.devices[0].free_extents = [FreeExtent(start=a, end=b) for a, b in extents]
            perms = s.get("target_permissions")
            if perms and defn.target is not None:
                defn.target.permissions = Permissions(mode=perms[0], owner=perms[1], group=perms[2])
        return str(defn.format())

    def storage_pool_get_autostart(self, pool: StoragePoolRef) -> int:
        return int(self._get(pool).autostart)

    def storage_pool_set_autostart(self, pool: StoragePoolRef, autostart: int) -> None:
        with self.store.locked():
            obj = self._get(pool)
            if not obj.persistent:
                raise OperationInvalidError("cannot set autostart for transient pool", domain=STORAGE)
            self.store.set_autostart(obj.name, bool(autostart))

    def storage_pool_is_active(self, pool: StoragePoolRef) -> int:
        return int(self._get(pool).active)

    def storage_pool_is_persistent(self, pool: StoragePoolRef) -> int:
        return int(self._get(pool).persistent)

    # -- volumes: lookups ---------------------------------------------------------------------------
    def storage_pool_list_all_volumes(self, pool: StoragePoolRef, flags: int = 0) -> list[StorageVolRef]:
        self._check_flags("storage_pool_list_all_volumes", flags)
        obj = self._active(pool)
        return [_vref(obj.name, v) for v in obj.volumes]

    def storage_pool_num_of_volumes(self, pool: StoragePoolRef) -> int:
        return len(self._active(pool).volumes)

    def storage_pool_list_volumes(self, pool: StoragePoolRef, maxnames: int = -1) -> list[str]:
        names = [v["name"] for v in self._active(pool).volumes]
        return names if maxnames < 0 else names[:maxnames]

    def _vol(self, vol: StorageVolRef) -> tuple[PoolObj, dict[str, Any]]:
        obj = self._all().get(vol.pool)
        if obj is None or not obj.active:
            raise not_found(ErrorNumber.NO_STORAGE_POOL, f"no storage pool with matching name '{vol.pool}'", STORAGE)
        for rec in obj.volumes:
            if rec["name"] == vol.name:
                return obj, rec
        raise not_found(ErrorNumber.NO_STORAGE_VOL, f"no storage vol with matching name '{vol.name}'", STORAGE)

    def storage_vol_lookup_by_name(self, pool: StoragePoolRef, name: str) -> StorageVolRef:
        obj = self._active(pool)
        for rec in obj.volumes:
            if rec["name"] == name:
                return _vref(obj.name, rec)
        raise not_found(ErrorNumber.NO_STORAGE_VOL, f"no storage vol with matching name '{name}'", STORAGE)

    def storage_vol_lookup_by_key(self, key: str) -> StorageVolRef:
        for obj in self._all().values():
            for rec in obj.volumes if obj.active else []:
                if rec["key"] == key:
                    return _vref(obj.name, rec)
        raise not_found(ErrorNumber.NO_STORAGE_VOL, f"no storage vol with matching key {key}", STORAGE)

    def storage_vol_lookup_by_path(self, path: str) -> StorageVolRef:
        import os

        wanted = {path, os.path.normpath(path)}
        for obj in self._all().values():
            for rec in obj.volumes if obj.active else []:
                if rec["path"] in wanted:
                    return _vref(obj.name, rec)
        raise not_found(ErrorNumber.NO_STORAGE_VOL, f"no storage vol with matching path '{path}'", STORAGE)

    # -- volumes: create, clone, delete, wipe, resize ----------------------------------------------
    def _parse_vol(self, obj: PoolObj, xml: str) -> Volume:
        try:
            vol: Volume = parse(xml, "volume", pool=obj.defn)  # type: ignore[assignment]
        except VirtError as exc:
            exc.domain = exc.domain or STORAGE
            raise
        if any(rec["name"] == vol.name for rec in obj.volumes):
            raise VirtError(f"'{vol.name}'", code=ErrorNumber.STORAGE_VOL_EXIST, domain=STORAGE)
        if "/" in str(vol.name):
            raise InvalidArgError(f"volume name '{vol.name}' cannot contain '/'", domain=STORAGE)
        return vol

    def _backing(self, vol: Volume) -> tuple[str, str] | None:
        bs = vol.backing_store
        if bs is None or not bs.path:
            return None
        fmt = bs.format_type
        if fmt is None or fmt == "raw":
            from virt.secondary.storage.probe import probe

            info = probe(str(bs.path))
            if info is None:
                raise storage_error(f"cannot access backing file '{bs.path}'")
            fmt = fmt or info.format
        return str(bs.path), str(fmt)

    def _after_change(self, obj: PoolObj, backend: Backend, name: str | None, removed: str | None = None,
                      fmt: str | None = None) -> dict[str, Any] | None:
        """Update the pool's record with one volume re-probed (or removed) and fresh sizes."""
        sizes = backend.sizes()
        rec = backend.probe_vol(name, fmt) if name is not None else None
        # a partition changes its extended partition's allocation too: the disk is read again
        rescanned = backend.scan() if backend.type == "disk" else None
        with self.store.locked():
            state = self.store.read_state(obj.name)
            vols = [v for v in state.get("volumes", []) if v["name"] not in (name, removed)]
            if rec is not None:
                vols.append(rec)
            if rescanned is not None:
                vols = rescanned
            state.update(capacity=sizes.capacity, allocation=sizes.allocation, available=sizes.available,
                         free_extents=sizes.free_extents, volumes=sorted(vols, key=lambda v: v["name"]))
            if self.store.live_path(obj.name).exists():
                self.store.save_state(obj.name, state)
        return rec

    def storage_vol_create_xml(self, pool: StoragePoolRef, xml: str, flags: int = 0) -> StorageVolRef:
        self._check_flags("storage_vol_create_xml", flags)
        obj = self._active(pool)
        vol = self._parse_vol(obj, xml)
        backend = self._backend(obj.defn)
        backing = self._backing(vol)
        fmt = vol.target.format_type if vol.target is not None else None

        if not backend.creates_volumes:
            backend.create_vol(vol, flags, backing)  # refuses, in the backend's words

        def create() -> dict[str, Any]:
            # only a raw file is allocated up front; image formats grow as the guest writes
            if fmt in ("raw", None) and backing is None and obj.state.get("available") is not None \
                    and vol.allocation_bytes > int(obj.state["available"]):
                raise storage_error(f"Not enough free space in pool for volume '{vol.name}'")
            backend.create_vol(vol, flags, backing)
            rec = self._after_change(obj, backend, str(vol.name), fmt=_probe_hint(fmt))
            assert rec is not None
            return rec

        rec = self._work(obj.name, create, _LONG)
        return _vref(obj.name, rec)

    def storage_vol_create_xml_from(self, pool: StoragePoolRef, xml: str, clonevol: StorageVolRef,
                                    flags: int = 0) -> StorageVolRef:
        self._check_flags("storage_vol_create_xml_from", flags)
        obj = self._active(pool)
        _, src = self._vol(clonevol)
        vol = self._parse_vol(obj, xml)
        backend = self._backend(obj.defn)
        fmt = vol.target.format_type if vol.target is not None else None

        def clone() -> dict[str, Any]:
            # reported on the source too: a caller can watch it before the new volume exists
            with self._sh.job("clone", (clonevol.pool, clonevol.name), (obj.name, str(vol.name)),
                              total=int(src["capacity"])) as progress:
                backend.clone_vol(vol, src, flags, progress)
            rec = self._after_change(obj, backend, str(vol.name), fmt=_probe_hint(fmt))
            assert rec is not None
            return rec

        rec = self._work(obj.name, clone, _LONG)
        return _vref(obj.name, rec)

    def storage_vol_delete(self, vol: StorageVolRef, flags: int = 0) -> None:
        self._check_flags("storage_vol_delete", flags)
        obj, rec = self._vol(vol)
        self._check_idle(obj, rec)
        backend = self._backend(obj.defn)

        def delete() -> None:
            backend.delete_vol(rec)
            self._after_change(obj, backend, None, removed=rec["name"])

        self._work(obj.name, delete)

    def storage_vol_wipe(self, vol: StorageVolRef, flags: int = 0) -> None:
        self._check_flags("storage_vol_wipe", flags)
        self.storage_vol_wipe_pattern(vol, int(WA.ZERO), 0)

    def storage_vol_wipe_pattern(self, vol: StorageVolRef, algorithm: int, flags: int = 0) -> None:
        self._check_flags("storage_vol_wipe_pattern", flags)
        if algorithm not in {int(a) for a in WA} or algorithm == WA.TRIM:
            raise InvalidArgError(f"wiping algorithm {algorithm} not supported", domain=STORAGE)
        obj, rec = self._vol(vol)
        self._check_idle(obj, rec)
        backend = self._backend(obj.defn)

        def wipe() -> None:
            with self._sh.job("wipe", (obj.name, rec["name"]), total=int(rec["capacity"])) as progress:
                backend.wipe_vol(rec, algorithm, progress)
            self._after_change(obj, backend, rec["name"], fmt=rec["format"] if rec["format"] == "none" else None)

        self._work(obj.name, wipe, _LONG)

    def storage_vol_resize(self, vol: StorageVolRef, capacity: int, flags: int = 0) -> None:
        self._check_flags("storage_vol_resize", flags)
        obj, rec = self._vol(vol)
        self._check_idle(obj, rec)
        current = int(rec["capacity"])
        if flags & RF.DELTA:
            if flags & RF.SHRINK:
                if capacity > current:
                    raise InvalidArgError("can't shrink capacity below zero", domain=STORAGE)
                capacity = current - capacity
            else:
                capacity = current + capacity
        if capacity < current and not flags & RF.SHRINK:
            raise InvalidArgError("Can't shrink capacity below current capacity unless shrink flag explicitly "
                                  "specified", domain=STORAGE)
        if flags & RF.ALLOCATE and capacity - current > int(obj.state.get("available", 0)):
            raise storage_error("Not enough space left in storage pool", ErrorNumber.OPERATION_FAILED)
        backend = self._backend(obj.defn)

        def resize() -> None:
            backend.resize_vol(rec, capacity, flags)
            self._after_change(obj, backend, rec["name"], fmt=rec["format"] if rec["format"] == "none" else None)

        self._work(obj.name, resize)

    # -- volumes: upload, download, progress ---------------------------------------------------------
    def storage_vol_upload(self, vol: StorageVolRef, stream: Any, offset: int = 0, length: int = 0,
                           flags: int = 0) -> None:
        """Attach a sink writing the volume's bytes from ``offset`` (at most ``length``, 0: no limit).

        The volume's data is written as is, whatever its format (as libvirt does). With the sparse
        flag, zero blocks landing past the end of the file are skipped, leaving holes.
        """
        self._check_flags("storage_vol_upload", flags)
        obj, rec = self._vol(vol)
        self._check_idle(obj, rec)
        self._check_streamable(rec)
        fd = self._open_vol(rec, os.O_WRONLY)
        sink = _VolumeSink(self, obj, rec, fd, offset, length, bool(flags & UF.SPARSE_STREAM))
        _attach(stream, sink, sink=sink)

    def storage_vol_download(self, vol: StorageVolRef, stream: Any, offset: int = 0, length: int = 0,
                             flags: int = 0) -> None:
        """Attach a source reading the volume's bytes from ``offset`` (at most ``length``, 0: to the end)."""
        self._check_flags("storage_vol_download", flags)
        obj, rec = self._vol(vol)
        self._check_streamable(rec)
        fd = self._open_vol(rec, os.O_RDONLY)
        source = _VolumeSource(self, obj, rec, fd, offset, length, bool(flags & DF.SPARSE_STREAM))
        _attach(stream, source, source=source)

    def storage_vol_get_job_info(self, vol: StorageVolRef) -> tuple[str, int, int] | None:
        """(operation, processed bytes, total bytes) of the wipe, clone, upload or download running on
        the volume, or None when none is. Answers at once, even while the operation holds its pool."""
        with self._sh.jobs_lock:
            record = self._sh.jobs.get((vol.pool, vol.name))
            if record is not None:
                return record[0], int(record[1]), int(record[2])
        self._vol(vol)  # no job: the volume must still exist
        return None

    def _check_idle(self, obj: PoolObj, rec: dict[str, Any]) -> None:
        """Refuse to change a volume while a wipe, clone, upload or download works on it (as libvirt)."""
        with self._sh.jobs_lock:
            busy = (obj.name, rec["name"]) in self._sh.jobs
        if busy:
            raise OperationInvalidError(f"volume '{rec['name']}' is still in use.", domain=STORAGE)

    @staticmethod
    def _check_streamable(rec: dict[str, Any]) -> None:
        if rec["type"] not in ("file", "block"):
            raise VirtError(f"volume type '{rec['type']}' cannot be uploaded or downloaded",
                            code=ErrorNumber.NO_SUPPORT, domain=STORAGE)

    @staticmethod
    def _open_vol(rec: dict[str, Any], mode: int) -> int:
        try:
            return os.open(rec["path"], mode | os.O_CLOEXEC)
        except OSError as err:
            from virt.util.errors import SystemError_

            raise SystemError_.from_errno(err, f"Unable to open {rec['path']}", domain=STORAGE) from None

    # -- volumes: properties ------------------------------------------------------------------------
    def storage_vol_get_info(self, vol: StorageVolRef) -> StorageVolInfo:
        return self.storage_vol_get_info_flags(vol, 0)

    def storage_vol_get_info_flags(self, vol: StorageVolRef, flags: int = 0) -> StorageVolInfo:
        self._check_flags("storage_vol_get_info_flags", flags)
        _, rec = self._vol(vol)
        allocation = rec["physical"] if flags & 1 else rec["allocation"]
        return StorageVolInfo(int(_VOL_TYPES.get(rec["type"], StorageVolType.FILE)), int(rec["capacity"]),
                              int(allocation))

    def storage_vol_get_path(self, vol: StorageVolRef) -> str:
        return str(self._vol(vol)[1]["path"])

    def storage_vol_get_xml_desc(self, vol: StorageVolRef, flags: int = 0) -> str:
        self._check_flags("storage_vol_get_xml_desc", flags)
        obj, rec = self._vol(vol)
        return volume_xml(obj, rec)


def _probe_hint(fmt: str | None) -> str | None:
    """Formats the header cannot tell apart from raw are trusted as created."""
    return fmt if fmt in ("none",) else None


def _stamp(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole}.{round((seconds - whole) * 1e9):09d}"


def volume_xml(obj: PoolObj, rec: dict[str, Any]) -> str:
    """A volume as libvirt prints it: sizes, target with format, permissions and timestamps."""
    file_pool = obj.defn.info.vol_formats is not None
    fmt = rec["format"] if file_pool else None
    target = VolTarget(path=rec["path"], format=SourceFormat(type=fmt) if fmt else None)
    if rec.get("mode") is not None:  # a LUN reached over the network has no inode here
        target.permissions = Permissions(mode=rec["mode"], owner=rec["uid"], group=rec["gid"])
        target.timestamps = Timestamps(atime=_stamp(rec["atime"]), mtime=_stamp(rec["mtime"]),
                                       ctime=_stamp(rec["ctime"]))
    if rec.get("compat"):
        target.compat = rec["compat"]
    if rec.get("cluster_size"):
        target.cluster_size = ClusterSize.of(int(rec["cluster_size"]))
    if rec.get("format") == "qcow2":
        target.features = VolFeatures(names=list(rec.get("features") or []))
    vol = Volume(type=rec["type"], name=rec["name"], key=rec["key"], capacity=ScaledSize.of(int(rec["capacity"])),
                 allocation=ScaledSize.of(int(rec["allocation"])), physical=ScaledSize.of(int(rec["physical"])),
                 target=target)
    if rec.get("extents"):
        vol.source = VolSource(devices=[VolSourceDevice(
            path=rec["source_device"], extents=[VolExtent(start=int(a), end=int(b)) for a, b in rec["extents"]])])
    if rec.get("backing_path"):
        vol.backing_store = VolTarget(path=rec["backing_path"],
                                      format=SourceFormat(type=rec.get("backing_format") or "raw"))
    return str(vol.format())


def _attach(stream: Any, transfer: _VolumeTransfer, **end: Any) -> None:
    try:
        stream.attach(**end)
    except BaseException:
        transfer.abort()
        raise


class _VolumeTransfer:
    """One upload or download of a volume: the file, its window, its progress record."""

    operation: ClassVar[str] = ""

    def __init__(self, driver: StorageDriver, obj: PoolObj, rec: dict[str, Any], fd: int, offset: int,
                 length: int) -> None:
        self.driver, self.obj, self.rec, self.fd = driver, obj, rec, fd
        self.pos, self.end = offset, (offset + length if length else None)
        self.done = 0
        self._job = driver._sh.job(self.operation, (obj.name, rec["name"]), total=self.total())
        self.progress = self._job.__enter__()

    def total(self) -> int:
        return self.end - self.pos if self.end is not None else 0

    def _release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            self._job.__exit__(None, None, None)

    def abort(self) -> None:
        self._release()


class _VolumeSink(_VolumeTransfer):
    """Where an upload's data goes (``write``; ``close`` when the client finishes)."""

    operation = "upload"

    def __init__(self, driver: StorageDriver, obj: PoolObj, rec: dict[str, Any], fd: int, offset: int,
                 length: int, sparse: bool) -> None:
        self.sparse = sparse
        self.size = os.fstat(fd).st_size
        super().__init__(driver, obj, rec, fd, offset, length)

    def write(self, data: bytes) -> None:
        if self.end is not None and self.pos + len(data) > self.end:
            raise storage_error("Request would exceed the length of the upload", ErrorNumber.OPERATION_FAILED)
        if not (self.sparse and self.pos >= self.size and data == bytes(len(data))):
            os.pwrite(self.fd, data, self.pos)
        self.pos += len(data)
        self.done += len(data)
        self.progress(self.done, self.total() or self.done)

    def hole(self, length: int) -> None:
        """A run of zeros sent as a hole (sparse streams): skipped past the end of a file, written
        as zeros over what the volume already holds there."""
        if self.end is not None and self.pos + length > self.end:
            raise storage_error("Request would exceed the length of the upload", ErrorNumber.OPERATION_FAILED)
        covered = length if self.rec["type"] != "file" else max(0, min(self.pos + length, self.size) - self.pos)
        zeros = bytes(min(covered, 1 << 20))
        for start in range(self.pos, self.pos + covered, len(zeros) or 1):
            os.pwrite(self.fd, zeros[: self.pos + covered - start], start)
        self.pos += length
        self.done += length
        self.progress(self.done, self.total() or self.done)

    def close(self) -> None:
        if self.fd < 0:
            return
        try:
            if self.sparse and self.pos > os.fstat(self.fd).st_size and self.rec["type"] == "file":
                os.ftruncate(self.fd, self.pos)  # the holes skipped at the end
            os.fsync(self.fd)
        finally:
            self._release()
        backend = self.driver._backend(self.obj.defn)
        fmt = self.rec["format"] if self.rec["format"] == "none" else None
        self.driver._work(self.obj.name, lambda: self.driver._after_change(self.obj, backend, self.rec["name"],
                                                                           fmt=fmt))


class _VolumeSource(_VolumeTransfer):
    """Where a download's data comes from (``read``; ``b""`` at the end)."""

    operation = "download"

    def __init__(self, driver: StorageDriver, obj: PoolObj, rec: dict[str, Any], fd: int, offset: int,
                 length: int, sparse: bool = False) -> None:
        size = os.fstat(fd).st_size if rec["type"] == "file" else int(rec["capacity"])
        self._size = size
        self.sparse = sparse and rec["type"] == "file"
        super().__init__(driver, obj, rec, fd, offset, length)
        if self.end is None or self.end > size:
            self.end = max(size, offset)

    def total(self) -> int:
        end = self.end if self.end is not None else self._size
        return max(min(end, self._size) - self.pos, 0)

    def read(self, nbytes: int = CHUNK) -> bytes:
        if self.fd < 0:
            return b""
        assert self.end is not None
        want = min(nbytes, self.end - self.pos)
        data = os.pread(self.fd, want, self.pos) if want > 0 else b""
        self.pos += len(data)
        self.done += len(data)
        self.progress(self.done, self.total() + self.done)
        if not data:
            self._release()
        return data

    def in_data(self) -> tuple[bool, int]:
        """Whether the next bytes are data and how many until that changes (holes only when sparse)."""
        assert self.end is not None
        if self.fd < 0 or self.pos >= self.end:
            return False, 0
        if not self.sparse:
            return True, self.end - self.pos
        return in_data(self.fd, self.pos, self.end)

    def skip(self, length: int) -> None:
        """Move past a hole."""
        self.pos += length
        self.done += length
        self.progress(self.done, self.total() + self.done)

    def close(self) -> None:
        self._release()
