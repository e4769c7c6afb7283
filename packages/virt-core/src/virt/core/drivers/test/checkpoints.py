"""Domain checkpoints of the mock host: a tree per domain, only of running domains without snapshots."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from virt.core.drivers.test import domdef
from virt.core.drivers.test.base import Calls, xml_root
from virt.core.drivers.test.domains import ref
from virt.core.drivers.test.errors import DOMAIN, error, not_running
from virt.core.drivers.test.snapshots import children, delete_moment, descendants
from virt.core.drivers.test.state import DomainObj, Snapshot
from virt.core.enums import DomainCheckpointCreateFlags as CF
from virt.core.enums import DomainCheckpointListFlags as LF
from virt.core.types import DomainCheckpointRef, DomainRef
from virt.util.errors import ErrorDomain, VirtError, not_found
from virt.util.errors import ErrorNumber as E

CHECKPOINT = ErrorDomain.DOMAIN_CHECKPOINT
# virDomainCheckpointXMLFlags and virDomainCheckpointDeleteFlags
XML_SECURE, XML_NO_DOMAIN, XML_SIZE = 1, 2, 4
DELETE_CHILDREN, DELETE_METADATA_ONLY, DELETE_CHILDREN_ONLY = 1, 2, 4
#: The size a bitmap reports with VIR_DOMAIN_CHECKPOINT_XML_SIZE ("any number will do").
BITMAP_SIZE = 1024
_LIST = LF.ROOTS | LF.TOPOLOGICAL | LF.LEAVES | LF.NO_LEAVES


def _parse(xml: str, redefine: bool, creation_time: int) -> Any:
    from virt.conf.checkpoint import DomainCheckpoint
    from virt.conf.xmlmodel import ParseContext

    root = xml_root(xml, "domaincheckpoint", CHECKPOINT)
    options = {"flags": "REDEFINE" if redefine else "", "creation_time": creation_time}
    try:
        return DomainCheckpoint.from_element(root, ParseContext(hooks=domdef.parse_hooks(), options=options))
    except VirtError as exc:
        if not exc.domain:
            exc.domain = CHECKPOINT
        raise


def _align(obj: DomainObj, defn: Any) -> None:
    """Every disk of the domain gets a bitmap named after the checkpoint unless the XML says no."""
    from virt.conf.checkpoint import CheckpointDisk, CheckpointDisks
    from virt.conf.snapshot import EmbeddedDomain

    given = {d.name: d for d in (defn.disks.disks if defn.disks is not None else [])}
    disks = []
    for target, source in domdef.disk_names(obj.defn):
        disk = given.pop(target, None) or (given.pop(source, None) if source else None)
        if disk is None:
            disk = CheckpointDisk(name=target, checkpoint="bitmap")
        disk.name = target
        if disk.checkpoint is None:
            disk.checkpoint = "bitmap"
        if disk.checkpoint == "bitmap" and disk.bitmap is None:
            disk.bitmap = defn.name
        disks.append(disk)
    if given:
        raise error(E.CONFIG_UNSUPPORTED, f"no disk named '{next(iter(given))}'", CHECKPOINT)
    defn.disks = CheckpointDisks(disks=disks) if disks else None
    defn.domain = EmbeddedDomain(model=domdef.copy_inactive(obj.defn))


class CheckpointCalls(Calls):
    FLAGS: ClassVar[dict[str, int]] = {
        "domain_checkpoint_create_xml": CF.REDEFINE | CF.QUIESCE, "domain_list_all_checkpoints": _LIST,
        "domain_checkpoint_list_all_children": _LIST, "domain_checkpoint_lookup_by_name": 0,
        "domain_checkpoint_get_parent": 0, "domain_checkpoint_get_xml_desc": XML_SECURE | XML_NO_DOMAIN | XML_SIZE,
        "domain_checkpoint_delete": DELETE_CHILDREN | DELETE_METADATA_ONLY | DELETE_CHILDREN_ONLY,
    }

    _dom: Any

    def _chk(self, obj: DomainObj, name: str) -> Snapshot:
        chk = obj.checkpoints.get(name)
        if chk is None:
            raise not_found(E.NO_DOMAIN_CHECKPOINT, f"no domain checkpoint with matching name '{name}'",
                            ErrorDomain.TEST)
        return chk

    def _chk_of(self, checkpoint: DomainCheckpointRef) -> tuple[DomainObj, Snapshot]:
        obj = self._dom(checkpoint.dom)
        return obj, self._chk(obj, checkpoint.name)

    def _cref(self, obj: DomainObj, chk: Snapshot) -> DomainCheckpointRef:
        return DomainCheckpointRef(chk.name, ref(obj))

    def _list(self, obj: DomainObj, root: str | None, flags: int) -> list[DomainCheckpointRef]:
        moments = obj.checkpoints
        if root is None:
            chks = list(descendants(moments, None)) if flags & LF.TOPOLOGICAL else list(moments.values())
            if flags & LF.ROOTS:
                chks = [c for c in chks if c.parent is None]
        else:
            chks = list(descendants(moments, root)) if flags & LF.DESCENDANTS else children(moments, root)
        leaves = flags & (LF.LEAVES | LF.NO_LEAVES)
        if leaves and leaves != LF.LEAVES | LF.NO_LEAVES:
            chks = [c for c in chks if (not children(moments, c.name)) == bool(leaves & LF.LEAVES)]
        return [self._cref(obj, c) for c in chks]

    def domain_list_all_checkpoints(self, dom: DomainRef, flags: int = 0) -> list[DomainCheckpointRef]:
        obj = self._dom(dom)
        return self._list(obj, None, flags)

    def domain_checkpoint_list_all_children(self, checkpoint: DomainCheckpointRef,
                                            flags: int = 0) -> list[DomainCheckpointRef]:
        obj, chk = self._chk_of(checkpoint)
        return self._list(obj, chk.name, flags)

    def domain_checkpoint_lookup_by_name(self, dom: DomainRef, name: str, flags: int = 0) -> DomainCheckpointRef:
        obj = self._dom(dom)
        return self._cref(obj, self._chk(obj, name))

    def domain_checkpoint_get_parent(self, checkpoint: DomainCheckpointRef, flags: int = 0) -> DomainCheckpointRef:
        obj, chk = self._chk_of(checkpoint)
        if chk.parent is None:
            raise not_found(E.NO_DOMAIN_CHECKPOINT, f"checkpoint '{chk.name}' does not have a parent",
                            ErrorDomain.TEST)
        return self._cref(obj, obj.checkpoints[chk.parent])

    def domain_checkpoint_get_xml_desc(self, checkpoint: DomainCheckpointRef, flags: int = 0) -> str:
        from virt.conf.snapshot import ParentRef

        obj, chk = self._chk_of(checkpoint)
        if flags & XML_SIZE and not obj.active:
            raise not_running()
        defn = chk.defn
        defn.parent = ParentRef(name=chk.parent) if chk.parent else None
        domain = defn.domain
        if flags & XML_NO_DOMAIN:
            defn.domain = None
        try:
            return str(defn.format())
        finally:
            defn.domain = domain

    def domain_checkpoint_create_xml(self, dom: DomainRef, xml: str, flags: int = 0) -> DomainCheckpointRef:
        redefine = bool(flags & CF.REDEFINE)
        obj = self._dom(dom)
        if obj.snapshots:
            raise error(E.OPERATION_UNSUPPORTED, "cannot create checkpoint while snapshot exists")
        if not obj.active:
            raise error(E.OPERATION_UNSUPPORTED, "cannot create checkpoint for inactive domain")
        defn = _parse(xml, redefine, int(time.time()))
        if redefine:
            parent = defn.parent_name
            if parent is not None and parent not in obj.checkpoints:
                raise error(E.INVALID_ARG, f"parent {parent} for checkpoint {defn.name} not found", CHECKPOINT)
        elif defn.name in obj.checkpoints:
            raise error(E.OPERATION_FAILED, f"domain moment {defn.name} already exists", DOMAIN)
        else:
            _align(obj, defn)
            parent = obj.current_checkpoint
        chk = Snapshot(defn.name, defn, parent, int(defn.creation_time or 0))
        obj.checkpoints[chk.name] = chk
        if not redefine:
            obj.current_checkpoint = chk.name
        return self._cref(obj, chk)

    def domain_checkpoint_delete(self, checkpoint: DomainCheckpointRef, flags: int = 0) -> None:
        obj, chk = self._chk_of(checkpoint)
        obj.current_checkpoint = delete_moment(obj.checkpoints, obj.current_checkpoint, chk,
                                               bool(flags & DELETE_CHILDREN), bool(flags & DELETE_CHILDREN_ONLY))
