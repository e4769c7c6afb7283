"""Domain snapshots of the mock host: a tree per domain, with libvirt's test-driver revert transitions."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any, ClassVar

from lxml import etree
from virt.core.drivers.test import domdef
from virt.core.drivers.test.base import Calls
from virt.core.drivers.test.domains import ref, start, stop
from virt.core.drivers.test.errors import DOMAIN, error, internal, operation_invalid
from virt.core.drivers.test.state import DomainObj, Snapshot
from virt.core.enums import DomainEventStartedDetail as Started
from virt.core.enums import DomainEventStoppedDetail as Stopped
from virt.core.enums import DomainEventSuspendedDetail as Suspended
from virt.core.enums import DomainEventType as Ev
from virt.core.enums import DomainPausedReason, DomainRunningReason, DomainShutoffReason
from virt.core.enums import DomainSnapshotCreateFlags as CF
from virt.core.enums import DomainSnapshotDeleteFlags as DF
from virt.core.enums import DomainSnapshotListFlags as LF
from virt.core.enums import DomainSnapshotRevertFlags as RF
from virt.core.enums import DomainState as S
from virt.core.types import DomainRef, DomainSnapshotRef
from virt.util.errors import ErrorDomain, not_found
from virt.util.errors import ErrorNumber as E

#: virDomainState -> the <state> word of a snapshot.
STATE_NAMES = {0: "nostate", 1: "running", 2: "blocked", 3: "paused", 4: "shutdown", 5: "shutoff",
               6: "crashed", 7: "pmsuspended"}
_LIVE_STATES = ("running", "paused")
_LIST_FILTERS = LF.LEAVES | LF.NO_LEAVES | LF.METADATA | LF.NO_METADATA | LF.INACTIVE | LF.ACTIVE | \
    LF.DISK_ONLY | LF.INTERNAL | LF.EXTERNAL
_CREATE_FLAGS = CF.REDEFINE | CF.CURRENT | CF.HALT | CF.QUIESCE | CF.ATOMIC | CF.LIVE | CF.VALIDATE


def _parse(xml: Any, flags: str, creation_time: int | None = None, domain_uuid: str | None = None) -> Any:
    from virt.conf.snapshot import DomainSnapshot
    from virt.conf.xmlmodel import ParseContext
    from virt.core.drivers.test.base import xml_root
    from virt.util.errors import VirtError

    options: dict[str, Any] = {"flags": flags}
    if creation_time is not None:
        options["creation_time"] = creation_time
    if domain_uuid is not None:
        options["domain_uuid"] = domain_uuid
    root = xml_root(xml, "domainsnapshot", ErrorDomain.DOMAIN_SNAPSHOT)
    try:
        return DomainSnapshot.from_element(root, ParseContext(hooks=domdef.parse_hooks(), options=options))
    except VirtError as exc:
        if not exc.domain:
            exc.domain = ErrorDomain.DOMAIN_SNAPSHOT
        raise


def load_snapshots(obj: DomainObj, elements: list[etree._Element], path: str | None) -> None:
    """<test:domainsnapshot> children of a node file's domain (libvirt's saved snapshot format)."""
    for el in elements:
        name = el.get("file")
        if name is not None:
            file = name if os.path.isabs(name) or path is None else os.path.join(os.path.dirname(path), name)
            from virt.core.drivers.test.loader import _parse_file

            el = _parse_file(file, "domainsnapshot")
        else:
            el = etree.fromstring(etree.tostring(el))
            el.tag = "domainsnapshot"
            for child in el.iter():
                if isinstance(child.tag, str) and child.tag.startswith("{"):
                    child.tag = etree.QName(child).localname
            etree.cleanup_namespaces(el)
        defn = _parse(el, "REDEFINE|INTERNAL")
        current = defn.is_current
        defn.active = None
        obj.snapshots[defn.name] = Snapshot(defn.name, defn, defn.parent.name if defn.parent else None,
                                            int(defn.creation_time or 0))
        if current:
            if obj.current_snapshot is not None:
                raise internal("more than one snapshot claims to be active")
            obj.current_snapshot = defn.name
    for snap in obj.snapshots.values():
        if snap.parent is not None and snap.parent not in obj.snapshots:
            raise internal(f"Snapshots have inconsistent relations for domain {obj.name}")


def children(moments: dict[str, Snapshot], name: str | None) -> list[Snapshot]:
    """The moments (snapshots or checkpoints) whose parent is ``name`` (None: the roots)."""
    return [s for s in moments.values() if s.parent == name]


def descendants(moments: dict[str, Snapshot], name: str | None) -> Iterator[Snapshot]:
    """Depth first, parents before their children (libvirt's TOPOLOGICAL order)."""
    for child in children(moments, name):
        yield child
        yield from descendants(moments, child.name)


def delete_moment(moments: dict[str, Snapshot], current: str | None, moment: Snapshot, with_children: bool,
                  children_only: bool) -> str | None:
    """Remove a moment (its descendants with ``with_children``, only them with ``children_only``;
    otherwise its children move up to its parent); returns the new current moment."""
    if with_children or children_only:
        for child in list(descendants(moments, moment.name)):
            del moments[child.name]
            if current == child.name:
                current = moment.name
    else:
        for child in children(moments, moment.name):
            child.parent = moment.parent
    if children_only:
        return current
    del moments[moment.name]
    if current == moment.name:
        current = moment.parent if moment.parent in moments else None
    return current


def _children(obj: DomainObj, name: str | None) -> list[Snapshot]:
    return children(obj.snapshots, name)


def _descendants(obj: DomainObj, name: str | None) -> Iterator[Snapshot]:
    return descendants(obj.snapshots, name)


def _matches(obj: DomainObj, snap: Snapshot, flags: int) -> bool:
    """The list filters: leaves, metadata (always present), state and memory location groups."""
    leaves = flags & (LF.LEAVES | LF.NO_LEAVES)
    if leaves and leaves != LF.LEAVES | LF.NO_LEAVES and (not _children(obj, snap.name)) != bool(leaves & LF.LEAVES):
        return False
    if flags & (LF.METADATA | LF.NO_METADATA) and not flags & LF.METADATA:
        return False
    state_mask = flags & (LF.INACTIVE | LF.ACTIVE | LF.DISK_ONLY)
    if state_mask:
        state = snap.defn.state
        kind = LF.INACTIVE if state == "shutoff" else LF.DISK_ONLY if state == "disk-snapshot" else LF.ACTIVE
        if not kind & state_mask:
            return False
    location_mask = flags & (LF.INTERNAL | LF.EXTERNAL)
    if location_mask:
        external = _is_external(snap.defn)
        if not (LF.EXTERNAL if external else LF.INTERNAL) & location_mask:
            return False
    return True


def _is_external(defn: Any) -> bool:
    if defn.memory is not None and defn.memory.snapshot == "external":
        return True
    return any(d.snapshot == "external" for d in (defn.disks.disks if defn.disks is not None else []))


class SnapshotCalls(Calls):
    FLAGS: ClassVar[dict[str, int]] = {
        "domain_snapshot_num": LF.ROOTS | LF.TOPOLOGICAL | _LIST_FILTERS,
        "domain_snapshot_list_names": LF.ROOTS | LF.TOPOLOGICAL | _LIST_FILTERS,
        "domain_list_all_snapshots": LF.ROOTS | LF.TOPOLOGICAL | _LIST_FILTERS,
        "domain_snapshot_num_children": LF.DESCENDANTS | LF.TOPOLOGICAL | _LIST_FILTERS,
        "domain_snapshot_list_children_names": LF.DESCENDANTS | LF.TOPOLOGICAL | _LIST_FILTERS,
        "domain_snapshot_list_all_children": LF.DESCENDANTS | LF.TOPOLOGICAL | _LIST_FILTERS,
        "domain_snapshot_lookup_by_name": 0, "domain_has_current_snapshot": 0, "domain_snapshot_get_parent": 0,
        "domain_snapshot_current": 0, "domain_snapshot_get_xml_desc": 1, "domain_snapshot_is_current": 0,
        "domain_snapshot_has_metadata": 0, "domain_snapshot_create_xml": _CREATE_FLAGS,
        "domain_revert_to_snapshot": RF.RUNNING | RF.PAUSED | RF.FORCE,
        "domain_snapshot_delete": DF.CHILDREN | DF.CHILDREN_ONLY,
    }

    _dom: Any  # from DomainCalls
    _emit: Any

    def _snap(self, obj: DomainObj, name: str) -> Snapshot:
        snap = obj.snapshots.get(name)
        if snap is None:
            raise not_found(E.NO_DOMAIN_SNAPSHOT, f"no domain snapshot with matching name '{name}'",
                            ErrorDomain.TEST)
        return snap

    def _snap_of(self, snapshot: DomainSnapshotRef) -> tuple[DomainObj, Snapshot]:
        obj = self._dom(snapshot.dom)
        return obj, self._snap(obj, snapshot.name)

    def _sref(self, obj: DomainObj, snap: Snapshot) -> DomainSnapshotRef:
        return DomainSnapshotRef(snap.name, ref(obj))

    def _listed(self, obj: DomainObj, root: str | None, flags: int, all_below: bool) -> list[Snapshot]:
        if flags & LF.TOPOLOGICAL or all_below:
            snaps = list(_descendants(obj, root)) if all_below else _children(obj, root)
        else:
            snaps = _children(obj, root)
        return [s for s in snaps if _matches(obj, s, flags)]

    def _top(self, obj: DomainObj, flags: int) -> list[Snapshot]:
        if flags & LF.ROOTS:
            return self._listed(obj, None, flags, all_below=False)
        snaps = list(_descendants(obj, None)) if flags & LF.TOPOLOGICAL else list(obj.snapshots.values())
        return [s for s in snaps if _matches(obj, s, flags)]

    def domain_snapshot_num(self, dom: DomainRef, flags: int = 0) -> int:
        return len(self._top(self._dom(dom), flags))

    def domain_snapshot_list_names(self, dom: DomainRef, maxnames: int = -1, flags: int = 0) -> list[str]:
        names = [s.name for s in self._top(self._dom(dom), flags)]
        return names if maxnames < 0 else names[:maxnames]

    def domain_list_all_snapshots(self, dom: DomainRef, flags: int = 0) -> list[DomainSnapshotRef]:
        obj = self._dom(dom)
        return [self._sref(obj, s) for s in self._top(obj, flags)]

    def _below(self, snapshot: DomainSnapshotRef, flags: int) -> tuple[DomainObj, list[Snapshot]]:
        obj, snap = self._snap_of(snapshot)
        return obj, self._listed(obj, snap.name, flags, all_below=bool(flags & LF.DESCENDANTS))

    def domain_snapshot_num_children(self, snapshot: DomainSnapshotRef, flags: int = 0) -> int:
        return len(self._below(snapshot, flags)[1])

    def domain_snapshot_list_children_names(self, snapshot: DomainSnapshotRef, maxnames: int = -1,
                                            flags: int = 0) -> list[str]:
        names = [s.name for s in self._below(snapshot, flags)[1]]
        return names if maxnames < 0 else names[:maxnames]

    def domain_snapshot_list_all_children(self, snapshot: DomainSnapshotRef, flags: int = 0) -> list[DomainSnapshotRef]:
        obj, snaps = self._below(snapshot, flags)
        return [self._sref(obj, s) for s in snaps]

    def domain_snapshot_lookup_by_name(self, dom: DomainRef, name: str, flags: int = 0) -> DomainSnapshotRef:
        obj = self._dom(dom)
        return self._sref(obj, self._snap(obj, name))

    def domain_has_current_snapshot(self, dom: DomainRef, flags: int = 0) -> int:
        return int(self._dom(dom).current_snapshot is not None)

    def domain_snapshot_get_parent(self, snapshot: DomainSnapshotRef, flags: int = 0) -> DomainSnapshotRef:
        obj, snap = self._snap_of(snapshot)
        if snap.parent is None:
            raise not_found(E.NO_DOMAIN_SNAPSHOT, f"snapshot '{snap.name}' does not have a parent", ErrorDomain.TEST)
        return self._sref(obj, obj.snapshots[snap.parent])

    def domain_snapshot_current(self, dom: DomainRef, flags: int = 0) -> DomainSnapshotRef:
        obj = self._dom(dom)
        if obj.current_snapshot is None:
            raise not_found(E.NO_DOMAIN_SNAPSHOT, "the domain does not have a current snapshot", ErrorDomain.TEST)
        return self._sref(obj, obj.snapshots[obj.current_snapshot])

    def domain_snapshot_get_xml_desc(self, snapshot: DomainSnapshotRef, flags: int = 0) -> str:
        from virt.conf.snapshot import ParentRef

        _, snap = self._snap_of(snapshot)
        defn = snap.defn
        defn.parent = ParentRef(name=snap.parent) if snap.parent else None
        return str(defn.format())

    def domain_snapshot_is_current(self, snapshot: DomainSnapshotRef, flags: int = 0) -> int:
        obj, snap = self._snap_of(snapshot)
        return int(obj.current_snapshot == snap.name)

    def domain_snapshot_has_metadata(self, snapshot: DomainSnapshotRef, flags: int = 0) -> int:
        self._snap_of(snapshot)
        return 1

    # -- create ------------------------------------------------------------------------------
    def domain_snapshot_create_xml(self, dom: DomainRef, xml: str, flags: int = 0) -> DomainSnapshotRef:
        redefine = bool(flags & CF.REDEFINE)
        update_current = not (redefine and not flags & CF.CURRENT)
        obj = self._dom(dom)
        if obj.checkpoints:
            raise error(E.OPERATION_UNSUPPORTED, "cannot create snapshot while checkpoint exists")
        if not obj.persistent and flags & CF.HALT:
            raise operation_invalid("cannot halt after transient domain snapshot")
        if redefine:
            defn = _parse(xml, "REDEFINE", domain_uuid=None)
            if defn.domain is not None and defn.domain.uuid not in (None, obj.uuid):
                raise error(E.INVALID_ARG, f"definition for snapshot {defn.name} must use uuid {obj.uuid}",
                            ErrorDomain.DOMAIN_SNAPSHOT)
            parent = defn.parent.name if defn.parent else None
            if parent is not None and parent not in obj.snapshots:
                raise error(E.INVALID_ARG, f"parent {parent} for snapshot {defn.name} not found",
                            ErrorDomain.DOMAIN_SNAPSHOT)
            snap = Snapshot(defn.name, defn, parent, int(defn.creation_time or 0))
        else:
            now = int(time.time())
            defn = _parse(xml, "", creation_time=now)
            if defn.name in obj.snapshots:
                raise error(E.OPERATION_FAILED, f"domain moment {defn.name} already exists", DOMAIN)
            _align(obj, defn)
            snap = Snapshot(defn.name, defn, obj.current_snapshot, now)
        obj.snapshots[snap.name] = snap
        if not redefine and flags & CF.HALT and obj.active:
            stop(obj, DomainShutoffReason.FROM_SNAPSHOT)
            self._emit(obj, Ev.STOPPED, Stopped.FROM_SNAPSHOT)
        if update_current:
            obj.current_snapshot = snap.name
        return self._sref(obj, snap)

    # -- revert and delete -------------------------------------------------------------------
    def domain_revert_to_snapshot(self, snapshot: DomainSnapshotRef, flags: int = 0) -> None:
        obj, snap = self._snap_of(snapshot)
        state = snap.defn.state
        run_or_pause = flags & (RF.RUNNING | RF.PAUSED)
        if not obj.persistent and state not in _LIVE_STATES and not run_or_pause:
            raise operation_invalid("transient domain needs to request run or pause to revert to inactive snapshot")
        if not flags & RF.FORCE and snap.defn.domain is None:
            raise error(E.SNAPSHOT_REVERT_RISKY, f"snapshot '{snap.name}' lacks domain '{obj.name}' rollback info")
        obj.current_snapshot = None
        config = domdef.copy(snap.defn.domain.model)
        if state in _LIVE_STATES:
            if obj.active:
                stop(obj, DomainShutoffReason.FROM_SNAPSHOT)
                self._emit(obj, Ev.STOPPED, Stopped.FROM_SNAPSHOT)
            obj.defn = config
            start(self.state, obj, DomainRunningReason.FROM_SNAPSHOT)
            self._emit(obj, Ev.STARTED, Started.FROM_SNAPSHOT)
            if not flags & RF.RUNNING and (state == "paused" or flags & RF.PAUSED):
                obj.state, obj.reason = S.PAUSED, DomainPausedReason.FROM_SNAPSHOT
                self._emit(obj, Ev.SUSPENDED, Suspended.FROM_SNAPSHOT)
        else:
            if obj.active:
                obj.new_def = config
                stop(obj, DomainShutoffReason.FROM_SNAPSHOT)
                self._emit(obj, Ev.STOPPED, Stopped.FROM_SNAPSHOT)
            else:
                obj.defn = config
            if run_or_pause:
                # libvirt's test driver announces the start without starting the domain
                self._emit(obj, Ev.STARTED, Started.FROM_SNAPSHOT)
                if flags & RF.PAUSED:
                    self._emit(obj, Ev.SUSPENDED, Suspended.FROM_SNAPSHOT)
        obj.current_snapshot = snap.name

    def domain_snapshot_delete(self, snapshot: DomainSnapshotRef, flags: int = 0) -> None:
        obj, snap = self._snap_of(snapshot)
        obj.current_snapshot = delete_moment(obj.snapshots, obj.current_snapshot, snap,
                                             bool(flags & DF.CHILDREN), bool(flags & DF.CHILDREN_ONLY))


def _align(obj: DomainObj, defn: Any) -> None:
    """A new snapshot records the domain's state and (live) definition; the memory and every disk
    are saved internally unless the XML says otherwise (testDomainSnapshotAlignDisks)."""
    from virt.conf.snapshot import (
        EmbeddedDomain,
        SnapshotDisk,
        SnapshotDisks,
        SnapshotMemory,
    )

    defn.state = STATE_NAMES.get(int(obj.state), "nostate")
    if defn.memory is None or defn.memory.snapshot != "external":
        defn.memory = SnapshotMemory(snapshot="no" if defn.state == "shutoff" else "internal")
    default = "external" if defn.memory.snapshot == "external" else "internal"
    given = {d.name: d for d in (defn.disks.disks if defn.disks is not None else [])}
    disks = []
    for target, source in domdef.disk_names(obj.defn):
        disk = given.pop(target, None) or (given.pop(source, None) if source else None)
        if disk is None:
            disk = SnapshotDisk(name=target, snapshot=default)
        else:
            disk.name = target
            if disk.snapshot is None:
                disk.snapshot = default
        disks.append(disk)
    if given:
        name = next(iter(given))
        raise error(E.CONFIG_UNSUPPORTED, f"no disk named '{name}'", ErrorDomain.DOMAIN_SNAPSHOT)
    defn.disks = SnapshotDisks(disks=disks) if disks else None
    defn.domain = EmbeddedDomain(model=domdef.copy_inactive(obj.defn))

