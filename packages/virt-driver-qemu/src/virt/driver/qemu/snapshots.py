"""Internal snapshots: the guest's disks (and memory, while it runs) saved inside its qcow2 images.

A running guest is snapshotted by QEMU itself (the ``snapshot-save``/``snapshot-load``/
``snapshot-delete`` jobs, memory included, stored in the first writable qcow2 disk); a shut-off
guest's disks by ``qemu-img snapshot``. The snapshot tree (names, parents, the domain definition at
the time, which one is current) is the driver's metadata, one ``<domainsnapshot>`` file per snapshot
in ``<lib_dir>/snapshot/<domain>/``, as libvirt keeps it. External snapshots are not offered.
"""

from __future__ import annotations

import itertools
import os
import time
from copy import deepcopy
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree
from virt.core.enums import DomainEventID, DomainPausedReason, DomainRunningReason, DomainShutoffReason
from virt.core.enums import DomainEventStartedDetail as Started
from virt.core.enums import DomainEventStoppedDetail as Stopped
from virt.core.enums import DomainEventType as Ev
from virt.core.enums import DomainSnapshotCreateFlags as CF
from virt.core.enums import DomainSnapshotDeleteFlags as DF
from virt.core.enums import DomainSnapshotListFlags as LF
from virt.core.enums import DomainSnapshotRevertFlags as RF
from virt.core.enums import DomainState as S
from virt.core.types import DomainRef, DomainSnapshotRef
from virt.driver.qemu import definition as D
from virt.driver.qemu import lifecycle as L
from virt.driver.qemu import snapshot_external as XS
from virt.driver.qemu import xmlutil as X
from virt.driver.qemu.state import DomainObj, state_name
from virt.util.errors import (
    ConfigUnsupportedError,
    ErrorDomain,
    ErrorNumber,
    InvalidArgError,
    OperationFailedError,
    OperationInvalidError,
    OperationUnsupportedError,
    VirtError,
    XMLError,
    not_found,
)
from virt.util.fileutil import atomic_write, make_dirs, unlink_if_exists

if TYPE_CHECKING:
    from virt.driver.qemu.host import QemuHost

QEMU = ErrorDomain.QEMU
E = etree._Element
#: How long a snapshot job may run.
JOB_TIMEOUT = 600.0
_job_ids = itertools.count(1)


# ----------------------------------------------------------------------------------------- metadata
def _dir(host: QemuHost, obj: DomainObj) -> Path:
    return host.settings.snapshot_dir / obj.name


def _load(host: QemuHost, obj: DomainObj) -> dict[str, E]:
    out: dict[str, E] = {}
    d = _dir(host, obj)
    if not d.is_dir():
        return out
    parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
    for path in sorted(d.glob("*.xml")):
        try:
            el = etree.fromstring(path.read_bytes(), parser)
        except (OSError, etree.XMLSyntaxError):
            continue
        out[el.findtext("name") or path.stem] = el
    return out


def _current(host: QemuHost, obj: DomainObj) -> str | None:
    try:
        name = (_dir(host, obj) / "current").read_text().strip()
    except OSError:
        return None
    return name or None


def _set_current(host: QemuHost, obj: DomainObj, name: str | None) -> None:
    path = _dir(host, obj) / "current"
    if name is None:
        unlink_if_exists(path)
    else:
        make_dirs(path.parent, 0o700)
        atomic_write(path, name, mode=0o600)


def _save(host: QemuHost, obj: DomainObj, el: E) -> None:
    d = _dir(host, obj)
    make_dirs(d, 0o700)
    atomic_write(d / f"{el.findtext('name')}.xml", etree.tostring(el, encoding="unicode", pretty_print=True),
                 mode=0o600)


def count(host: QemuHost, obj: DomainObj) -> int:
    d = _dir(host, obj)
    return len(list(d.glob("*.xml"))) if d.is_dir() else 0


def drop_metadata(host: QemuHost, obj: DomainObj) -> None:
    import shutil

    shutil.rmtree(_dir(host, obj), ignore_errors=True)


def _parent(el: E) -> str | None:
    return el.findtext("parent/name")


def _children(snaps: dict[str, E], name: str | None) -> list[str]:
    return sorted(n for n, el in snaps.items() if _parent(el) == name)


def _descendants(snaps: dict[str, E], name: str) -> list[str]:
    out: list[str] = []
    todo = _children(snaps, name)
    while todo:
        n = todo.pop(0)
        out.append(n)
        todo.extend(_children(snaps, n))
    return out


# ----------------------------------------------------------------------------------------- disks
def _qcow2_disks(tree: E) -> list[E]:
    """The writable disks of ``tree``; every one must be qcow2 for an internal snapshot."""
    out = []
    for disk in tree.findall("devices/disk"):
        if disk.get("device", "disk") not in ("disk", "lun") or disk.find("readonly") is not None:
            continue
        if disk.find("source") is None:
            continue
        fmt = X.get(disk, "driver", "type") or "raw"
        if fmt != "qcow2":
            raise OperationUnsupportedError(f"internal snapshot for disk {X.get(disk, 'target', 'dev')} "
                                            f"unsupported for storage type {fmt}", domain=QEMU)
        out.append(disk)
    return out


def _qemu_img(*args: str) -> None:
    from virt.util.process import find_binary, run

    run([find_binary("qemu-img", "qemu-utils"), *args], timeout=JOB_TIMEOUT)


def _run_job(obj: DomainObj, command: str, arguments: dict[str, Any]) -> None:
    """Run a QMP job (snapshot-save/-load/-delete) to its end; its error becomes ours."""
    mon = L.monitor(obj)
    job_id = f"virt-{command}-{next(_job_ids)}"

    def finished(name: str, data: dict[str, Any]) -> bool:
        return name == "JOB_STATUS_CHANGE" and data.get("id") == job_id and data.get("status") == "concluded"

    done = obj.expect(finished)
    try:
        mon.execute(command, {"job-id": job_id, **arguments})
        timer = L.Timer(JOB_TIMEOUT)
        while True:
            done.wait(min(1.0, timer.left()))
            job = next((j for j in mon.execute("query-jobs") if j.get("id") == job_id), None)
            if job is None or job.get("status") == "concluded":
                break
            if not timer.left():
                raise VirtError(f"snapshot job '{command}' timed out", code=ErrorNumber.OPERATION_TIMEOUT,
                                domain=QEMU)
            done.clear()
    finally:
        obj.forget(done)
    if job is not None:
        mon.execute("job-dismiss", {"id": job_id})
        if job.get("error"):
            raise OperationFailedError(f"{command}: {job['error']}", domain=QEMU)


def _nodes(disks: list[E]) -> list[str]:
    return [(X.priv(d, "nodes") or "").split()[0] for d in disks if X.priv(d, "nodes")]


# ----------------------------------------------------------------------------------------- the calls
def _ref(name: str, obj: DomainObj) -> DomainSnapshotRef:
    return DomainSnapshotRef(name, obj.ref())


class SnapshotCalls:
    """The snapshot calls of ``QemuDriver`` (a mixin of it)."""

    if TYPE_CHECKING:
        host: QemuHost

        def _obj(self, dom: DomainRef) -> DomainObj: ...
        def _replace_config(self, obj: DomainObj, tree: Any) -> None: ...
        def check_writable(self, call: str) -> None: ...

    def _snaps(self, dom: DomainRef) -> tuple[DomainObj, dict[str, E]]:
        obj = self._obj(dom)
        return obj, _load(self.host, obj)

    def _snap(self, snapshot: DomainSnapshotRef) -> tuple[DomainObj, dict[str, E], E]:
        obj, snaps = self._snaps(snapshot.dom)
        el = snaps.get(snapshot.name)
        if el is None:
            raise not_found(ErrorNumber.NO_DOMAIN_SNAPSHOT,
                            f"no domain snapshot with matching name '{snapshot.name}'", QEMU)
        return obj, snaps, el

    # -- create --------------------------------------------------------------------------------
    def domain_snapshot_create_xml(self, dom: DomainRef, xml: str, flags: int = 0) -> DomainSnapshotRef:
        self.check_writable("domain_snapshot_create_xml")
        obj = self._obj(dom)
        parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
        try:
            req = etree.fromstring(xml.encode(), parser)
        except etree.XMLSyntaxError as exc:
            raise XMLError(f"(domain_snapshot):{exc.lineno}: {exc.msg}", code=ErrorNumber.XML_DETAIL) from None
        if req.tag != "domainsnapshot":
            raise XMLError(f"unexpected root element <{req.tag}>, expecting <domainsnapshot>")
        external = XS.wants_external(req, flags)
        if flags & CF.LIVE and not XS.memory_external(req):
            raise OperationUnsupportedError("live snapshot creation is supported only during full system "
                                            "snapshots", domain=QEMU)
        if flags & CF.QUIESCE and not external:
            raise OperationUnsupportedError("quiesce requires disk-only", domain=QEMU)
        if flags & CF.REUSE_EXT and not external:
            raise InvalidArgError("flag 'reuse-external' needs external snapshots", domain=QEMU)
        with obj.job:
            snaps = _load(self.host, obj)
            if flags & CF.REDEFINE:
                name = req.findtext("name") or ""
                if not name:
                    raise XMLError("a redefined snapshot must have a name")
                _save(self.host, obj, req)
                if flags & CF.CURRENT:
                    _set_current(self.host, obj, name)
                return _ref(name, obj)
            if external:
                return self._create_external(obj, snaps, req, flags)
            now = int(time.time())
            name = (req.findtext("name") or "").strip() or str(now)
            if name in snaps:
                raise OperationInvalidError(f"domain snapshot '{name}' already exists", domain=QEMU)
            tree = obj.defn
            disks = _qcow2_disks(tree)
            if not disks:
                raise OperationUnsupportedError("internal snapshots need at least one writable qcow2 disk",
                                                domain=QEMU)
            state = obj.state
            if obj.active:
                nodes = _nodes(disks)
                paused_here = False
                if state == S.RUNNING:
                    obj.set_state(S.PAUSED, DomainPausedReason.SNAPSHOT)
                    L.monitor(obj).execute("stop")
                    paused_here = True
                try:
                    _run_job(obj, "snapshot-save", {"tag": name, "vmstate": nodes[0], "devices": nodes})
                finally:
                    if paused_here and not flags & CF.HALT and obj.mon is not None:
                        obj.set_state(S.RUNNING, DomainRunningReason.UNPAUSED)
                        obj.mon.execute("cont")
            else:
                for disk in disks:
                    _qemu_img("snapshot", "-c", name, X.get(disk, "source", "file") or "")
            el = etree.Element("domainsnapshot")
            etree.SubElement(el, "name").text = name
            if req.findtext("description"):
                etree.SubElement(el, "description").text = req.findtext("description")
            etree.SubElement(el, "state").text = state_name(state) if obj.active else "shutoff"
            parent = _current(self.host, obj)
            if parent and parent in snaps:
                etree.SubElement(etree.SubElement(el, "parent"), "name").text = parent
            etree.SubElement(el, "creationTime").text = str(now)
            etree.SubElement(el, "memory", snapshot="internal" if obj.active else "no")
            dl = etree.SubElement(el, "disks")
            for disk in tree.findall("devices/disk"):
                etree.SubElement(dl, "disk", name=X.get(disk, "target", "dev") or "",
                                 snapshot="internal" if disk in disks else "no")
            saved = deepcopy(tree)
            X.strip_private(saved)
            el.append(X.parse(D.format_definition(saved, secure=True, inactive=True)))
            if not flags & CF.NO_METADATA:
                _save(self.host, obj, el)
                _set_current(self.host, obj, name)
            if flags & CF.HALT and obj.active:
                ref = obj.ref()
                L.kill_and_cleanup(self.host, obj, DomainShutoffReason.FROM_SNAPSHOT)
                self.host.emit("domain", DomainEventID.LIFECYCLE, ref, int(Ev.STOPPED), int(Stopped.FROM_SNAPSHOT))
        return _ref(name, obj)

    def _create_external(self, obj: DomainObj, snaps: dict[str, E], req: E, flags: int) -> DomainSnapshotRef:
        """An external snapshot (caller holds the job): overlays for the disks, the memory to a file."""
        host = self.host
        now = int(time.time())
        name = (req.findtext("name") or "").strip() or str(now)
        if name in snaps:
            raise OperationInvalidError(f"domain snapshot '{name}' already exists", domain=QEMU)
        mem = req.find("memory")
        mem_mode = mem.get("snapshot") if mem is not None else None
        mem_file = mem.get("file") if mem is not None else None
        if mem_file and not mem_mode:
            mem_mode = "external"
        if flags & CF.DISK_ONLY:
            if mem_mode not in (None, "no"):
                raise ConfigUnsupportedError("disk-only snapshots do not support memory state", domain=QEMU)
            mem_mode = "no"
        if flags & CF.QUIESCE and not obj.active:
            raise OperationInvalidError("domain is not running", domain=QEMU)
        if mem_mode == "external" and not obj.active:
            raise ConfigUnsupportedError("memory state cannot be saved with offline or disk-only snapshot",
                                         domain=QEMU)
        if mem_mode == "external" and not mem_file:
            raise ConfigUnsupportedError("memory state must be saved to an absolute file path", domain=QEMU)
        if mem_mode is None and obj.active:
            mem_mode = "internal"  # libvirt's default for a running guest without --disk-only
        if mem_mode == "internal":
            raise ConfigUnsupportedError("mixing internal and external targets for a snapshot is not yet "
                                         "supported", domain=QEMU)
        if mem_file and os.path.exists(mem_file):
            raise OperationInvalidError(f"memory state file '{mem_file}' already exists", domain=QEMU)
        if not obj.active and mem_mode is None:
            mem_mode = "no"
        tree = obj.defn
        # Disks the request does not name follow the memory (libvirt's alignment).
        plans = XS.plan(req, tree, name, flags, "external" if flags & CF.DISK_ONLY or mem_mode == "external"
                        else "internal")
        state = obj.state
        saved = deepcopy(tree)
        X.strip_private(saved)
        if obj.active:
            paused_here = XS.create_active(host, obj, plans, mem_file if mem_mode == "external" else None, flags)
            if obj.config is not None:
                self._replace_config(obj, XS.update_config(obj.config, plans))
        else:
            self._replace_config(obj, XS.create_inactive(obj, plans, flags))
            paused_here = False
        el = etree.Element("domainsnapshot")
        etree.SubElement(el, "name").text = name
        if req.findtext("description"):
            etree.SubElement(el, "description").text = req.findtext("description")
        if obj.active and flags & CF.DISK_ONLY:
            state_text = "disk-snapshot"
        else:
            state_text = state_name(state) if obj.active else "shutoff"
        etree.SubElement(el, "state").text = state_text
        parent = _current(host, obj)
        if parent and parent in snaps:
            etree.SubElement(etree.SubElement(el, "parent"), "name").text = parent
        etree.SubElement(el, "creationTime").text = str(now)
        if mem_mode == "external":
            etree.SubElement(el, "memory", snapshot="external", file=mem_file or "")
        else:
            etree.SubElement(el, "memory", snapshot="no")
        XS.snapshot_disks_xml(el, plans)
        el.append(X.parse(D.format_definition(saved, secure=True, inactive=True)))
        if not flags & CF.NO_METADATA:
            _save(host, obj, el)
            _set_current(host, obj, name)
        if obj.active:
            if flags & CF.HALT:
                ref = obj.ref()
                L.kill_and_cleanup(host, obj, DomainShutoffReason.FROM_SNAPSHOT)
                host.emit("domain", DomainEventID.LIFECYCLE, ref, int(Ev.STOPPED), int(Stopped.FROM_SNAPSHOT))
            elif paused_here and obj.mon is not None:
                obj.set_state(S.RUNNING, DomainRunningReason.UNPAUSED)
                obj.mon.execute("cont")
                L.save_status(host, obj)
        return _ref(name, obj)

    # -- lookups and listing ----------------------------------------------------------------------
    def domain_snapshot_lookup_by_name(self, dom: DomainRef, name: str,
                                       flags: int = 0) -> DomainSnapshotRef:
        obj, _, _ = self._snap(DomainSnapshotRef(name, dom))
        return _ref(name, obj)

    def domain_has_current_snapshot(self, dom: DomainRef, flags: int = 0) -> int:
        obj, snaps = self._snaps(dom)
        return int(_current(self.host, obj) in snaps)

    def domain_snapshot_current(self, dom: DomainRef, flags: int = 0) -> DomainSnapshotRef:
        obj, snaps = self._snaps(dom)
        name = _current(self.host, obj)
        if name not in snaps:
            raise not_found(ErrorNumber.NO_DOMAIN_SNAPSHOT, "the domain does not have a current snapshot", QEMU)
        assert name is not None
        return _ref(name, obj)

    def domain_snapshot_get_xml_desc(self, snapshot: DomainSnapshotRef, flags: int = 0) -> str:
        _, _, el = self._snap(snapshot)
        from virt.conf import parse

        model = parse(etree.tostring(el), "domainsnapshot", flags="REDEFINE")
        return str(model.format())

    def domain_snapshot_get_parent(self, snapshot: DomainSnapshotRef,
                                   flags: int = 0) -> DomainSnapshotRef:
        obj, _, el = self._snap(snapshot)
        parent = _parent(el)
        if not parent:
            raise not_found(ErrorNumber.NO_DOMAIN_SNAPSHOT,
                            f"snapshot '{snapshot.name}' does not have a parent", QEMU)
        return _ref(parent, obj)

    def domain_snapshot_is_current(self, snapshot: DomainSnapshotRef, flags: int = 0) -> int:
        obj, _, _ = self._snap(snapshot)
        return int(_current(self.host, obj) == snapshot.name)

    def domain_snapshot_has_metadata(self, snapshot: DomainSnapshotRef, flags: int = 0) -> int:
        self._snap(snapshot)
        return 1

    def _filter(self, snaps: dict[str, E], names: list[str], flags: int) -> list[str]:
        def keep(n: str) -> bool:
            el = snaps[n]
            leaf = not _children(snaps, n)
            state = el.findtext("state")
            if flags & (LF.LEAVES | LF.NO_LEAVES) and not ((flags & LF.LEAVES and leaf) or
                                                           (flags & LF.NO_LEAVES and not leaf)):
                return False
            if flags & LF.NO_METADATA and not flags & LF.METADATA:
                return False
            kinds = flags & (LF.INACTIVE | LF.ACTIVE | LF.DISK_ONLY)
            if kinds:
                kind = LF.INACTIVE if state == "shutoff" else LF.DISK_ONLY if state == "disk-snapshot" else LF.ACTIVE
                if not kinds & kind:
                    return False
            if flags & (LF.INTERNAL | LF.EXTERNAL):
                return bool(flags & (LF.EXTERNAL if XS.is_external(el) else LF.INTERNAL))
            return True

        return [n for n in names if keep(n)]

    def domain_list_all_snapshots(self, dom: DomainRef, flags: int = 0) -> list[DomainSnapshotRef]:
        obj, snaps = self._snaps(dom)
        names = _children(snaps, None) if flags & LF.ROOTS else sorted(snaps)
        return [_ref(n, obj) for n in self._filter(snaps, names, flags)]

    def domain_snapshot_num(self, dom: DomainRef, flags: int = 0) -> int:
        return len(self.domain_list_all_snapshots(dom, flags))

    def domain_snapshot_list_names(self, dom: DomainRef, maxnames: int = -1,
                                   flags: int = 0) -> list[str]:
        names = [r.name for r in self.domain_list_all_snapshots(dom, flags)]
        return names if maxnames < 0 else names[:maxnames]

    def domain_snapshot_list_all_children(self, snapshot: DomainSnapshotRef,
                                          flags: int = 0) -> list[DomainSnapshotRef]:
        obj, snaps, _ = self._snap(snapshot)
        names = _descendants(snaps, snapshot.name) if flags & LF.DESCENDANTS else _children(snaps, snapshot.name)
        return [_ref(n, obj) for n in self._filter(snaps, names, flags)]

    def domain_snapshot_num_children(self, snapshot: DomainSnapshotRef, flags: int = 0) -> int:
        return len(self.domain_snapshot_list_all_children(snapshot, flags))

    def domain_snapshot_list_children_names(self, snapshot: DomainSnapshotRef, maxnames: int = -1,
                                            flags: int = 0) -> list[str]:
        names = [r.name for r in self.domain_snapshot_list_all_children(snapshot, flags)]
        return names if maxnames < 0 else names[:maxnames]

    # -- revert and delete ------------------------------------------------------------------------
    def domain_revert_to_snapshot(self, snapshot: DomainSnapshotRef, flags: int = 0) -> None:
        self.check_writable("domain_revert_to_snapshot")
        obj, _, el = self._snap(snapshot)
        if flags & RF.RUNNING and flags & RF.PAUSED:
            raise InvalidArgError("flags 'running' and 'paused' are mutually exclusive", domain=QEMU)
        if XS.is_external(el):
            raise ConfigUnsupportedError("revert to external snapshot not supported yet", domain=QEMU)
        host = self.host
        state = el.findtext("state") or "shutoff"
        saved = el.find("domain")
        with obj.job:
            if saved is not None and obj.persistent:
                self._replace_config(obj, deepcopy(saved))
            if state in ("running", "paused"):
                run = state == "running" if not flags & (RF.RUNNING | RF.PAUSED) else bool(flags & RF.RUNNING)
                if obj.active:
                    mon = L.monitor(obj)
                    if obj.state == S.RUNNING:
                        obj.set_state(S.PAUSED, DomainPausedReason.FROM_SNAPSHOT)
                        mon.execute("stop")
                    nodes = _nodes(_qcow2_disks(obj.defn))
                    _run_job(obj, "snapshot-load", {"tag": snapshot.name, "vmstate": nodes[0], "devices": nodes})
                    if run:
                        obj.set_state(S.RUNNING, DomainRunningReason.FROM_SNAPSHOT)
                        mon.execute("cont")
                    else:
                        obj.set_state(S.PAUSED, DomainPausedReason.FROM_SNAPSHOT)
                    L.save_status(host, obj)
                else:
                    source = obj.config if obj.config is not None else saved

                    def load(mon: Any) -> None:
                        nodes = _nodes(_qcow2_disks(obj.defn))
                        _run_job(obj, "snapshot-load", {"tag": snapshot.name, "vmstate": nodes[0], "devices": nodes})

                    L.start(host, obj, source, paused=not run, reason=DomainRunningReason.FROM_SNAPSHOT,
                            detail=Started.FROM_SNAPSHOT, incoming=None, emit=True, before_cont=load)
                    if not run:
                        obj.set_state(S.PAUSED, DomainPausedReason.FROM_SNAPSHOT)
            else:
                if obj.active:
                    ref = obj.ref()
                    L.kill_and_cleanup(host, obj, DomainShutoffReason.FROM_SNAPSHOT)
                    host.emit("domain", DomainEventID.LIFECYCLE, ref, int(Ev.STOPPED), int(Stopped.FROM_SNAPSHOT))
                tree = obj.config if obj.config is not None else saved
                assert tree is not None
                for disk in _qcow2_disks(tree):
                    _qemu_img("snapshot", "-a", snapshot.name, X.get(disk, "source", "file") or "")
                if flags & (RF.RUNNING | RF.PAUSED):
                    L.start(host, obj, tree, paused=bool(flags & RF.PAUSED),
                            reason=DomainRunningReason.FROM_SNAPSHOT, detail=Started.FROM_SNAPSHOT)
            _set_current(host, obj, snapshot.name)

    def domain_snapshot_delete(self, snapshot: DomainSnapshotRef, flags: int = 0) -> None:
        self.check_writable("domain_snapshot_delete")
        obj, snaps, el = self._snap(snapshot)
        host = self.host
        with obj.job:
            victims = [snapshot.name]
            if flags & (DF.CHILDREN | DF.CHILDREN_ONLY):
                victims += _descendants(snaps, snapshot.name)
                if flags & DF.CHILDREN_ONLY:
                    victims.remove(snapshot.name)
            external = [n for n in victims if XS.is_external(snaps[n])]
            if external and not flags & DF.METADATA_ONLY:
                raise ConfigUnsupportedError(f"deletion of {len(external)} external disk snapshots not "
                                             "supported yet", domain=QEMU)
            current = _current(host, obj)
            for name in reversed(victims):
                if not flags & DF.METADATA_ONLY:
                    _delete_data(obj, name, snaps[name])
                parent = _parent(snaps[name])
                for child in _children(snaps, name):
                    if child in victims:
                        continue
                    child_el = snaps[child]
                    p = child_el.find("parent")
                    if p is not None:
                        child_el.remove(p)
                    if parent:
                        etree.SubElement(etree.SubElement(child_el, "parent"), "name").text = parent
                    _save(host, obj, child_el)
                unlink_if_exists(_dir(host, obj) / f"{name}.xml")
                if current == name:
                    current = parent
                    _set_current(host, obj, parent)
                del snaps[name]


def _delete_data(obj: DomainObj, name: str, el: E) -> None:
    if obj.active:
        assert obj.live is not None
        disks = _qcow2_disks(obj.defn)
        _run_job(obj, "snapshot-delete", {"tag": name, "devices": _nodes(disks)})
    else:
        assert obj.config is not None
        for disk in _qcow2_disks(obj.config):
            try:
                _qemu_img("snapshot", "-d", name, X.get(disk, "source", "file") or "")
            except VirtError as err:
                raise OperationFailedError(f"cannot delete snapshot '{name}': {err.detail or err}",
                                           domain=QEMU) from None
