"""Storage pools and volumes of the mock host: every pool holds 100 GiB, volumes only account for space."""

from __future__ import annotations

from typing import Any, ClassVar

from virt.core.drivers.test.base import (
    Calls,
    check_unique,
    filter_objects,
    pair,
    parse_doc,
)
from virt.core.drivers.test.errors import (
    error,
    internal,
    invalid_arg,
    operation_invalid,
)
from virt.core.drivers.test.state import PoolObj, VolumeObj
from virt.core.enums import ConnectListAllStoragePoolsFlags as LF
from virt.core.enums import StoragePoolEventID, StorageVolType
from virt.core.enums import StorageVolResizeFlags as RF
from virt.core.types import (
    StoragePoolInfo,
    StoragePoolRef,
    StorageVolInfo,
    StorageVolRef,
)
from virt.util.errors import ErrorDomain, not_found
from virt.util.errors import ErrorNumber as E

STORAGE = ErrorDomain.STORAGE
#: Capacity libvirt's test driver gives every pool.
POOL_CAPACITY = 100 * 1024**3

# virStoragePoolEventLifecycleType
DEFINED, UNDEFINED, STARTED, STOPPED, CREATED, DELETED = range(6)

#: Pool type -> its list-all filter flag.
_TYPE_FLAGS = {"dir": LF.DIR, "fs": LF.FS, "netfs": LF.NETFS, "logical": LF.LOGICAL, "disk": LF.DISK,
               "iscsi": LF.ISCSI, "scsi": LF.SCSI, "mpath": LF.MPATH, "rbd": LF.RBD, "sheepdog": LF.SHEEPDOG,
               "gluster": LF.GLUSTER, "zfs": LF.ZFS, "vstorage": LF.VSTORAGE, "iscsi-direct": LF.ISCSI_DIRECT}
_TYPE_MASK = sum(_TYPE_FLAGS.values())

_FILTERS = (
    pair(LF.ACTIVE, LF.INACTIVE, lambda p: p.active),
    pair(LF.PERSISTENT, LF.TRANSIENT, lambda p: p.persistent),
    pair(LF.AUTOSTART, LF.NO_AUTOSTART, lambda p: p.autostart),
    (_TYPE_MASK, lambda p: _TYPE_FLAGS.get(p.defn.type, 0)),
)

#: Pool type -> the type of its volumes (virStorageVolType).
_VOL_TYPES = {"dir": StorageVolType.FILE, "fs": StorageVolType.FILE, "netfs": StorageVolType.FILE,
              "vstorage": StorageVolType.FILE, "sheepdog": StorageVolType.NETWORK,
              "iscsi-direct": StorageVolType.NETWORK, "gluster": StorageVolType.NETWORK,
              "rbd": StorageVolType.NETWORK}

SOURCES_LOGICAL = """<sources>
  <source>
    <device path='/dev/sda20'/>
    <name>testvg1</name>
    <format type='lvm2'/>
  </source>
  <source>
    <device path='/dev/sda21'/>
    <name>testvg2</name>
    <format type='lvm2'/>
  </source>
</sources>
"""

SOURCES_NETFS = """<sources>
  <source>
    <host name='{host}'/>
    <dir path='/testshare'/>
    <format type='nfs'/>
  </source>
</sources>
"""


def _ref(obj: PoolObj) -> StoragePoolRef:
    return StoragePoolRef(obj.name, obj.uuid)


def _vref(pool: PoolObj, vol: VolumeObj) -> StorageVolRef:
    return StorageVolRef(pool.name, vol.name, vol.key)


def _size(defn: Any, attr: str) -> int:
    s = getattr(defn, attr)
    return int(s.value) if s is not None and s.value is not None else 0


def set_pool_sizes(defn: Any, capacity: int, allocation: int) -> None:
    from virt.conf.storage import ScaledSize

    defn.capacity = ScaledSize.of(capacity)
    defn.allocation = ScaledSize.of(allocation)
    defn.available = ScaledSize.of(capacity - allocation)


def _source_key(defn: Any) -> tuple[Any, ...] | None:
    """What two pools may not share (libvirt's source conflict check), by pool type."""
    src = defn.source
    if defn.type in ("dir",):
        return ("path", defn.target.path if defn.target else None)
    if src is None:
        return None
    if defn.type in ("netfs", "gluster"):
        return ("net", tuple(h.name for h in src.hosts), src.dir.path if src.dir else None)
    if defn.type in ("fs", "disk", "logical", "zfs"):
        devices = tuple(d.path for d in src.devices)
        return ("dev", devices or src.name) if devices or src.name else None
    return None


def new_volume(pool: PoolObj, xml_or_el: Any) -> VolumeObj:
    """Parse a volume of ``pool``; its path (pool target + name) and key (the path) filled in."""
    from virt.conf.storage import Volume
    from virt.conf.xmlmodel import ParseContext
    from virt.core.drivers.test.base import xml_root

    root = xml_root(xml_or_el, "volume", STORAGE)
    try:
        defn: Any = Volume.from_element(root, ParseContext(options={"pool": pool.defn}))
    except Exception as exc:
        if getattr(exc, "domain", None) == 0:
            exc.domain = STORAGE  # type: ignore[attr-defined]
        raise
    if defn.target.path is None:
        defn.target.path = f"{pool.defn.target.path}/{defn.name}"
    if defn.key is None:
        defn.key = defn.target.path
    return VolumeObj(defn, defn.name, defn.key, defn.target.path)


class StorageCalls(Calls):
    FLAGS: ClassVar[dict[str, int]] = {"connect_list_all_storage_pools": sum(LF), "connect_find_storage_pool_sources": 0,
             "storage_pool_create_xml": 0, "storage_pool_define_xml": 1, "storage_pool_build": 0,
             "storage_pool_create": 0, "storage_pool_delete": 0, "storage_pool_refresh": 0,
             "storage_pool_get_xml_desc": 0, "storage_pool_list_all_volumes": 0, "storage_vol_create_xml": 0,
             "storage_vol_create_xml_from": 0, "storage_vol_delete": 0, "storage_vol_get_xml_desc": 0,
             "storage_vol_wipe": 0, "storage_vol_wipe_pattern": 0, "storage_vol_get_info_flags": 1,
             "storage_vol_resize": RF.ALLOCATE | RF.DELTA | RF.SHRINK}

    # -- pool lookups ------------------------------------------------------------------------
    def _pool(self, name: str) -> PoolObj:
        for obj in self.state.pools.values():
            if obj.name == name:
                return obj
        raise not_found(E.NO_STORAGE_POOL, f"no storage pool with matching name '{name}'", ErrorDomain.TEST)

    def _pool_by_uuid(self, uuid: str) -> PoolObj:
        obj = self.state.pools.get(uuid)
        if obj is None:
            raise not_found(E.NO_STORAGE_POOL, f"no storage pool with matching uuid '{uuid}'", ErrorDomain.TEST)
        return obj

    def _active_pool(self, name: str) -> PoolObj:
        obj = self._pool(name)
        if not obj.active:
            raise operation_invalid(f"storage pool '{name}' is not active")
        return obj

    def _inactive_pool(self, name: str) -> PoolObj:
        obj = self._pool(name)
        if obj.active:
            raise operation_invalid(f"storage pool '{name}' is active")
        return obj

    def storage_pool_lookup_by_name(self, name: str) -> StoragePoolRef:
        return _ref(self._pool(name))

    def storage_pool_lookup_by_uuid(self, uuid: str) -> StoragePoolRef:
        return _ref(self._pool_by_uuid(uuid))

    def storage_pool_lookup_by_volume(self, vol: StorageVolRef) -> StoragePoolRef:
        return _ref(self._pool(vol.pool))

    # -- pool lists --------------------------------------------------------------------------
    def connect_num_of_storage_pools(self) -> int:
        return sum(1 for p in self.state.pools.values() if p.active)

    def connect_list_storage_pools(self, maxnames: int = -1) -> list[str]:
        names = [p.name for p in self.state.pools.values() if p.active]
        return names if maxnames < 0 else names[:maxnames]

    def connect_num_of_defined_storage_pools(self) -> int:
        return sum(1 for p in self.state.pools.values() if not p.active)

    def connect_list_defined_storage_pools(self, maxnames: int = -1) -> list[str]:
        names = [p.name for p in self.state.pools.values() if not p.active]
        return names if maxnames < 0 else names[:maxnames]

    def connect_list_all_storage_pools(self, flags: int = 0) -> list[StoragePoolRef]:
        return [_ref(p) for p in filter_objects(self.state.pools.values(), flags, _FILTERS)]

    def connect_find_storage_pool_sources(self, type: str, src_spec: str | None = None, flags: int = 0) -> str:
        if type == "logical":
            return SOURCES_LOGICAL
        if type == "netfs":
            host = None
            if src_spec:
                from virt.conf.storage import PoolSource
                from virt.conf.xmlmodel import parse_xml

                source: Any = PoolSource.from_element(parse_xml(src_spec))
                host = source.hosts[0].name if source.hosts else None
            if not host:
                raise invalid_arg("hostname must be specified for netfs sources")
            return SOURCES_NETFS.format(host=host)
        if type in _TYPE_FLAGS:
            raise internal(f"unknown storage pool type {type}")
        raise error(E.NO_SUPPORT, f"pool type '{type}' does not support source discovery")

    # -- pool life cycle ---------------------------------------------------------------------
    def _emit_pool(self, obj: PoolObj, event: int) -> None:
        self.state.emit("storage_pool", StoragePoolEventID.LIFECYCLE, _ref(obj), event, 0)

    def _add_pool(self, xml: str, live: bool) -> PoolObj:
        defn = parse_doc(xml, "pool", STORAGE)
        set_pool_sizes(defn, POOL_CAPACITY, 0)
        obj = check_unique(self.state.pools.values(), defn.name, defn.uuid, "pool", STORAGE)
        if obj is not None:
            if live and obj.active:
                raise operation_invalid(f"pool is already active as '{obj.name}'", STORAGE)
            if not obj.active:
                obj.defn = defn  # an active pool keeps its definition: libvirt stores the new one aside
            return obj
        key = _source_key(defn)
        if key is not None:
            for other in self.state.pools.values():
                if _source_key(other.defn) == key:
                    raise error(E.OPERATION_FAILED, f"Storage source conflict with pool: '{other.name}'", STORAGE)
        obj = PoolObj(defn, defn.uuid, defn.name, persistent=not live)
        self.state.pools[obj.uuid] = obj
        return obj

    def storage_pool_create_xml(self, xml: str, flags: int = 0) -> StoragePoolRef:
        obj = self._add_pool(xml, live=True)
        adapter = obj.defn.source.adapter if obj.defn.source is not None else None
        if adapter is not None and adapter.type == "fc_host":
            self.create_vport(adapter.wwnn, adapter.wwpn)  # type: ignore[attr-defined]
        obj.persistent = False
        obj.active = True
        self._emit_pool(obj, STARTED)
        return _ref(obj)

    def storage_pool_define_xml(self, xml: str, flags: int = 0) -> StoragePoolRef:
        obj = self._add_pool(xml, live=False)
        obj.persistent = True
        self._emit_pool(obj, DEFINED)
        return _ref(obj)

    def storage_pool_undefine(self, pool: StoragePoolRef) -> None:
        obj = self._inactive_pool(pool.name)
        self._emit_pool(obj, UNDEFINED)
        del self.state.pools[obj.uuid]

    def storage_pool_build(self, pool: StoragePoolRef, flags: int = 0) -> None:
        self._emit_pool(self._inactive_pool(pool.name), CREATED)

    def storage_pool_create(self, pool: StoragePoolRef, flags: int = 0) -> None:
        obj = self._inactive_pool(pool.name)
        obj.active = True
        self._emit_pool(obj, STARTED)

    def storage_pool_destroy(self, pool: StoragePoolRef) -> None:
        obj = self._active_pool(pool.name)
        obj.active = False
        adapter = obj.defn.source.adapter if obj.defn.source is not None else None
        if adapter is not None and adapter.type == "fc_host":
            self.destroy_vport()  # type: ignore[attr-defined]
        self._emit_pool(obj, STOPPED)
        if not obj.persistent:
            del self.state.pools[obj.uuid]

    def storage_pool_delete(self, pool: StoragePoolRef, flags: int = 0) -> None:
        self._emit_pool(self._inactive_pool(pool.name), DELETED)

    def storage_pool_refresh(self, pool: StoragePoolRef, flags: int = 0) -> None:
        obj = self._active_pool(pool.name)
        self.state.emit("storage_pool", StoragePoolEventID.REFRESH, _ref(obj))

    # -- pool properties ---------------------------------------------------------------------
    def storage_pool_get_info(self, pool: StoragePoolRef) -> StoragePoolInfo:
        obj = self._pool(pool.name)
        d = obj.defn
        return StoragePoolInfo(2 if obj.active else 0, _size(d, "capacity"), _size(d, "allocation"),
                               _size(d, "available"))

    def storage_pool_get_xml_desc(self, pool: StoragePoolRef, flags: int = 0) -> str:
        return str(self._pool(pool.name).defn.format())

    def storage_pool_get_autostart(self, pool: StoragePoolRef) -> int:
        obj = self._pool(pool.name)
        return int(obj.persistent and obj.autostart)

    def storage_pool_set_autostart(self, pool: StoragePoolRef, autostart: int) -> None:
        obj = self._pool(pool.name)
        if not obj.persistent:
            raise invalid_arg("pool has no config file")
        obj.autostart = bool(autostart)

    def storage_pool_is_active(self, pool: StoragePoolRef) -> int:
        return int(self._pool_by_uuid(pool.uuid).active)

    def storage_pool_is_persistent(self, pool: StoragePoolRef) -> int:
        return int(self._pool_by_uuid(pool.uuid).persistent)

    def storage_pool_num_of_volumes(self, pool: StoragePoolRef) -> int:
        return len(self._active_pool(pool.name).volumes)

    def storage_pool_list_volumes(self, pool: StoragePoolRef, maxnames: int = -1) -> list[str]:
        names = list(self._active_pool(pool.name).volumes)
        return names if maxnames < 0 else names[:maxnames]

    def storage_pool_list_all_volumes(self, pool: StoragePoolRef, flags: int = 0) -> list[StorageVolRef]:
        obj = self._pool_by_uuid(pool.uuid)
        if not obj.active:
            raise operation_invalid("storage pool is not active")
        return [_vref(obj, v) for v in obj.volumes.values()]

    # -- volumes -----------------------------------------------------------------------------
    def _vol(self, pool: PoolObj, name: str) -> VolumeObj:
        vol = pool.volumes.get(name)
        if vol is None:
            raise not_found(E.NO_STORAGE_VOL, f"no storage vol with matching name '{name}'", ErrorDomain.TEST)
        return vol

    def _vol_of(self, ref: StorageVolRef) -> tuple[PoolObj, VolumeObj]:
        pool = self._active_pool(ref.pool)
        return pool, self._vol(pool, ref.name)

    def _account(self, pool: PoolObj, delta: int) -> None:
        set_pool_sizes(pool.defn, _size(pool.defn, "capacity"), _size(pool.defn, "allocation") + delta)

    def storage_vol_lookup_by_name(self, pool: StoragePoolRef, name: str) -> StorageVolRef:
        obj = self._active_pool(pool.name)
        return _vref(obj, self._vol(obj, name))

    def _vol_search(self, attr: str, value: str) -> StorageVolRef:
        for pool in self.state.pools.values():
            if pool.active:
                for vol in pool.volumes.values():
                    if getattr(vol, attr) == value:
                        return _vref(pool, vol)
        raise not_found(E.NO_STORAGE_VOL, f"no storage vol with matching {attr} '{value}'", ErrorDomain.TEST)

    def storage_vol_lookup_by_key(self, key: str) -> StorageVolRef:
        return self._vol_search("key", key)

    def storage_vol_lookup_by_path(self, path: str) -> StorageVolRef:
        return self._vol_search("path", path)

    def _add_volume(self, pool: PoolObj, vol: VolumeObj) -> VolumeObj:
        if vol.name in pool.volumes:
            raise error(E.OPERATION_FAILED, "storage vol already exists")
        if _size(pool.defn, "allocation") + vol.defn.allocation_bytes > _size(pool.defn, "capacity"):
            raise internal(f"Not enough free space in pool for volume '{vol.name}'")
        vol.path = vol.key = vol.defn.target.path = vol.defn.key = f"{pool.defn.target.path}/{vol.name}"
        pool.volumes[vol.name] = vol
        self._account(pool, vol.defn.allocation_bytes)
        return vol

    def storage_vol_create_xml(self, pool: StoragePoolRef, xml: str, flags: int = 0) -> StorageVolRef:
        obj = self._active_pool(pool.name)
        return _vref(obj, self._add_volume(obj, new_volume(obj, xml)))

    def storage_vol_create_xml_from(self, pool: StoragePoolRef, xml: str, clonevol: StorageVolRef,
                                    flags: int = 0) -> StorageVolRef:
        obj = self._active_pool(pool.name)
        vol = new_volume(obj, xml)
        if vol.name in obj.volumes:
            raise error(E.OPERATION_FAILED, "storage vol already exists")
        self._vol(obj, clonevol.name)  # libvirt looks the source up in the target pool
        return _vref(obj, self._add_volume(obj, vol))

    def storage_vol_delete(self, vol: StorageVolRef, flags: int = 0) -> None:
        pool, obj = self._vol_of(vol)
        self._account(pool, -obj.defn.allocation_bytes)
        del pool.volumes[obj.name]

    def storage_vol_get_info(self, vol: StorageVolRef) -> StorageVolInfo:
        pool, obj = self._vol_of(vol)
        vtype = _VOL_TYPES.get(pool.defn.type, StorageVolType.BLOCK)
        return StorageVolInfo(int(vtype), obj.defn.capacity_bytes, obj.defn.allocation_bytes)

    def storage_vol_get_info_flags(self, vol: StorageVolRef, flags: int = 0) -> StorageVolInfo:
        return self.storage_vol_get_info(vol)

    def storage_vol_get_xml_desc(self, vol: StorageVolRef, flags: int = 0) -> str:
        return str(self._vol_of(vol)[1].defn.format())

    def storage_vol_get_path(self, vol: StorageVolRef) -> str:
        return self._vol_of(vol)[1].path

    def storage_vol_wipe(self, vol: StorageVolRef, flags: int = 0) -> None:
        """Nothing to overwrite in a mock volume (libvirt's test driver lacks this call)."""
        self._vol_of(vol)

    def storage_vol_wipe_pattern(self, vol: StorageVolRef, algorithm: int, flags: int = 0) -> None:
        if not 0 <= algorithm <= 9:
            raise invalid_arg(f"wiping algorithm {algorithm} not supported", STORAGE)
        self._vol_of(vol)

    def storage_vol_resize(self, vol: StorageVolRef, capacity: int, flags: int = 0) -> None:
        """libvirt's storage driver rules for virStorageVolResize (not in libvirt's test driver)."""
        from virt.conf.storage import ScaledSize

        pool, obj = self._vol_of(vol)
        cap, alloc = obj.defn.capacity_bytes, obj.defn.allocation_bytes
        if flags & RF.DELTA:
            if flags & RF.SHRINK:
                if capacity > cap:
                    raise invalid_arg("can't shrink capacity below zero", STORAGE)
                target = cap - capacity
            else:
                target = cap + capacity
        else:
            target = capacity
        if target < alloc:
            raise invalid_arg("can't shrink capacity below existing allocation", STORAGE)
        if target < cap and not flags & RF.SHRINK:
            raise invalid_arg("Can't shrink capacity below current capacity unless shrink flag explicitly "
                              "specified", STORAGE)
        delta = target - alloc if flags & RF.ALLOCATE else 0
        if delta > _size(pool.defn, "available"):
            raise error(E.OPERATION_FAILED, "Not enough space left in storage pool", STORAGE)
        obj.defn.capacity = ScaledSize.of(target)
        if flags & RF.ALLOCATE:
            obj.defn.allocation = ScaledSize.of(target)
            self._account(pool, delta)
