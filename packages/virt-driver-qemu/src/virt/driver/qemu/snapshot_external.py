"""External snapshots: each disk continues in a new qcow2 overlay whose backing file is its old image.

A running guest's overlays are made by QEMU (``blockdev-add`` of the new file, ``blockdev-create``
of the qcow2 image on it, ``blockdev-add`` of its format node, then one ``transaction`` of
``blockdev-snapshot`` actions, so every disk switches at the same instant); with
``<memory snapshot='external' file=.../>`` the guest's memory is first written to that file in the
save-image format, as ``virsh save`` writes it. A shut-off guest's overlays are made by
``qemu-img create -b``. Afterwards the guest's definitions name the overlay as each disk's source,
with the old image as its ``<backingStore>``.
"""

from __future__ import annotations

import itertools
import logging
import os
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree
from virt.core.enums import DomainPausedReason, DomainRunningReason
from virt.core.enums import DomainSnapshotCreateFlags as CF
from virt.core.enums import DomainState as S
from virt.driver.qemu import agent, devacl
from virt.driver.qemu import lifecycle as L
from virt.driver.qemu import xmlutil as X
from virt.driver.qemu.state import DomainObj
from virt.util.errors import (
    ConfigUnsupportedError,
    ErrorDomain,
    OperationFailedError,
    OperationInvalidError,
    OperationUnsupportedError,
    SystemError_,
    VirtError,
)

if TYPE_CHECKING:
    from virt.driver.qemu.host import QemuHost

QEMU = ErrorDomain.QEMU
E = etree._Element
log = logging.getLogger(__name__)
#: How long creating one overlay image may take.
JOB_TIMEOUT = 120.0
_job_ids = itertools.count(1)


@dataclass
class DiskPlan:
    """What a snapshot does to one disk of the guest."""

    disk: E  # the guest's <disk> (live definition while running, else the persistent one)
    target: str
    mode: str  # internal, external or no
    file: str | None = None  # the new overlay (external)
    fmt: str = "qcow2"


def is_external(el: E) -> bool:
    """Whether a stored snapshot kept any state outside the guest's images."""
    return el.find("memory[@snapshot='external']") is not None or \
        el.find("disks/disk[@snapshot='external']") is not None


def memory_external(req: E) -> bool:
    mem = req.find("memory")
    return mem is not None and (mem.get("snapshot") == "external" or (mem.get("snapshot") is None and
                                                                       bool(mem.get("file"))))


def wants_external(req: E, flags: int) -> bool:
    """Whether a snapshot request asks for external snapshots (libvirt's default location rule)."""
    return bool(flags & CF.DISK_ONLY) or memory_external(req) or \
        any(d.get("snapshot") == "external" or (d.get("snapshot") is None and d.find("source") is not None)
            for d in req.findall("disks/disk"))


def _source_path(disk: E) -> str | None:
    src = disk.find("source")
    return None if src is None else (src.get("file") or src.get("dev"))


def _default_name(path: str, snapshot: str, target: str, disk_type: str) -> str:
    """libvirt's overlay name: the image's suffix replaced by the snapshot's name, else appended."""
    if disk_type not in ("file", "block"):
        raise ConfigUnsupportedError(f"cannot generate external snapshot name for disk '{target}' on a "
                                     f"'{disk_type}' device", domain=QEMU)
    base, dot, suffix = path.rpartition(".")
    new = f"{base}.{snapshot}" if dot and "/" not in suffix else f"{path}.{snapshot}"
    if new == path:
        raise ConfigUnsupportedError(f"cannot generate external snapshot name for disk '{target}' without "
                                     "collisions", domain=QEMU)
    return new


def plan(req: E, tree: E, name: str, flags: int, default: str) -> list[DiskPlan]:
    """Each disk's part in the snapshot (virDomainSnapshotAlignDisks): the request's <disk> entries,
    the rest with ``default`` (read-only and empty disks are left out)."""
    by_target = {X.get(d, "target", "dev") or "": d for d in tree.findall("devices/disk")}
    asked: dict[str, E] = {}
    for d in req.findall("disks/disk"):
        target = d.get("name") or ""
        if target not in by_target:
            match = next((t for t, disk in by_target.items() if _source_path(disk) == target), None)
            if match is None:
                raise ConfigUnsupportedError(f"no disk named '{target}'", domain=QEMU)
            target = match
        if target in asked:
            raise ConfigUnsupportedError(f"disk '{target}' specified twice", domain=QEMU)
        asked[target] = d
    out = []
    for target, disk in by_target.items():
        want = asked.get(target)
        empty = _source_path(disk) is None
        readonly = disk.find("readonly") is not None or disk.get("device") in ("cdrom", "floppy")
        mode = want.get("snapshot") if want is not None else None
        if mode is None:
            if want is not None and want.find("source") is not None:
                mode = "external"
            else:
                mode = "no" if empty or readonly else default
        if mode == "manual":
            raise ConfigUnsupportedError("'manual' disk snapshot mode not supported", domain=QEMU)
        p = DiskPlan(disk, target, mode)
        if mode == "external":
            if empty:
                raise ConfigUnsupportedError(f"cannot create external snapshot of empty disk '{target}'",
                                             domain=QEMU)
            path = X.get(want, "source", "file") if want is not None else None
            path = path or (X.get(want, "source", "dev") if want is not None else None)
            p.file = path or _default_name(_source_path(disk) or "", name, target, disk.get("type", "file"))
            p.fmt = (X.get(want, "driver", "type") if want is not None else None) or "qcow2"
            if p.fmt != "qcow2":
                raise ConfigUnsupportedError(f"external snapshot format for disk {target} is unsupported: "
                                             f"{p.fmt}", domain=QEMU)
            if os.path.exists(p.file) and not flags & CF.REUSE_EXT and not Path(p.file).is_block_device():
                raise OperationInvalidError(f"external snapshot file for disk {target} already exists and "
                                            f"is not a block device: {p.file}", domain=QEMU)
            if flags & CF.REUSE_EXT and not os.path.exists(p.file):
                raise OperationInvalidError(f"missing existing file for disk {target}: {p.file}", domain=QEMU)
        out.append(p)
    modes = {p.mode for p in out} - {"no"}
    if modes == {"internal", "external"}:
        raise ConfigUnsupportedError("mixing internal and external targets for a snapshot is not yet "
                                     "supported", domain=QEMU)
    if "external" not in modes and flags & CF.DISK_ONLY:
        raise ConfigUnsupportedError("disk-only snapshots require at least one disk to be selected for "
                                     "snapshot", domain=QEMU)
    return out


def snapshot_disks_xml(parent: E, plans: list[DiskPlan]) -> None:
    """The <disks> of the stored snapshot: each disk's mode, and the overlay of external ones."""
    dl = etree.SubElement(parent, "disks")
    for p in plans:
        el = etree.SubElement(dl, "disk", name=p.target, snapshot=p.mode)
        if p.mode == "external":
            el.set("type", "block" if Path(p.file or "").is_block_device() else "file")
            etree.SubElement(el, "driver", type=p.fmt)
            etree.SubElement(el, "source", {"dev" if el.get("type") == "block" else "file": p.file or ""})


# ----------------------------------------------------------------------------------------- definitions
def layer(disk: E, new: str, fmt: str) -> None:
    """Make ``new`` (format ``fmt``) the source of ``disk``, its old source the backing store."""
    backing = etree.Element("backingStore", type=disk.get("type", "file"))
    etree.SubElement(backing, "format", type=X.get(disk, "driver", "type") or "raw")
    old = disk.find("source")
    if old is not None:
        src = deepcopy(old)
        for key in [k for k in src.attrib if str(k).startswith("{")]:
            del src.attrib[key]
        backing.append(src)
    old_bs = disk.find("backingStore")
    if old_bs is not None:
        disk.remove(old_bs)
        backing.append(old_bs)
    disk.set("type", "block" if Path(new).is_block_device() else "file")
    driver = disk.find("driver")
    if driver is None:
        driver = etree.SubElement(disk, "driver", name="qemu")
    driver.set("type", fmt)
    new_src = etree.Element("source", {"dev" if disk.get("type") == "block" else "file": new})
    if old is not None:
        old.addnext(new_src)
        disk.remove(old)
    else:
        disk.append(new_src)
    new_src.addnext(backing)


def _same_disk(tree: E, disk: E) -> E | None:
    target = X.get(disk, "target", "dev")
    for d in tree.findall("devices/disk"):
        if X.get(d, "target", "dev") == target and _source_path(d) == _source_path(disk):
            return d
    return None


# ----------------------------------------------------------------------------------------- shut-off guests
def create_inactive(obj: DomainObj, plans: list[DiskPlan], flags: int) -> E:
    """Overlays for a shut-off guest's disks; returns its updated persistent definition."""
    from virt.util.process import find_binary, run

    assert obj.config is not None
    tree = deepcopy(obj.config)
    made: list[str] = []
    try:
        for p in plans:
            if p.mode != "external" or flags & CF.REUSE_EXT:
                continue
            base = _source_path(p.disk) or ""
            run([find_binary("qemu-img", "qemu-utils"), "create", "-f", p.fmt, "-F",
                 X.get(p.disk, "driver", "type") or "raw", "-b", base, p.file or ""], timeout=JOB_TIMEOUT)
            made.append(p.file or "")
    except VirtError:
        for path in made:
            _unlink(path)
        raise
    for p in plans:
        if p.mode == "external":
            disk = _same_disk(tree, p.disk)
            assert disk is not None
            layer(disk, p.file or "", p.fmt)
    return tree


def _unlink(path: str) -> None:
    try:
        if not Path(path).is_block_device():
            os.unlink(path)
    except OSError:
        pass


# ----------------------------------------------------------------------------------------- running guests
def _wait_job(obj: DomainObj, mon: Any, job_id: str) -> None:
    def finished(name: str, data: dict[str, Any]) -> bool:
        return name == "JOB_STATUS_CHANGE" and data.get("id") == job_id and data.get("status") == "concluded"

    done = obj.expect(finished)
    try:
        timer = L.Timer(JOB_TIMEOUT)
        while True:
            job = next((j for j in mon.execute("query-jobs") if j.get("id") == job_id), None)
            if job is None or job.get("status") == "concluded":
                break
            if not timer.left():
                raise OperationFailedError(f"creating the snapshot image timed out ({job_id})", domain=QEMU)
            done.wait(min(1.0, timer.left()))
            done.clear()
    finally:
        obj.forget(done)
    if job is not None:
        mon.execute("job-dismiss", {"id": job_id})
        if job.get("error"):
            raise OperationFailedError(f"blockdev-create: {job['error']}", domain=QEMU)


def _top_node(disk: E) -> str:
    nodes = (X.priv(disk, "nodes") or "").split()
    if not nodes:
        raise OperationUnsupportedError(f"disk '{X.get(disk, 'target', 'dev')}' has no block node to snapshot",
                                        domain=QEMU)
    return nodes[0]


def _virtual_size(mon: Any, node: str) -> int:
    for n in mon.execute("query-named-block-nodes", {"flat": True}):
        if n.get("node-name") == node:
            return int(n["image"]["virtual-size"])
    raise OperationFailedError(f"block node '{node}' not found", domain=QEMU)


def _prepare_overlay(obj: DomainObj, mon: Any, p: DiskPlan, flags: int, n: int,
                     added: list[str], made: list[str], group: Any, host_cfg: Any) -> tuple[str, str]:
    """The overlay's storage and format nodes, opened in QEMU (the image created first unless it
    is reused); returns (format node, storage node)."""
    storage, fmt = f"libvirt-{n}-storage", f"libvirt-{n}-format"
    path = p.file or ""
    block = Path(path).is_block_device()
    if not flags & CF.REUSE_EXT and not block:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except OSError as err:
            raise SystemError_.from_errno(err, f"failed to create image file '{path}'", domain=QEMU) from None
        os.close(fd)
        made.append(path)
        # QEMU may run as another user: the overlay belongs to whoever owns the image it covers.
        base = _source_path(p.disk)
        if base and os.geteuid() == 0:
            st = os.stat(base)
            if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                os.chown(path, st.st_uid, st.st_gid)
                # given back when the guest stops, as the images labelled at start are (dac)
                obj.runtime.setdefault("dac", {})[path] = [os.geteuid(), os.getegid()]
    if block:
        devacl.allow_path(group, path, live=obj.live, cfg=host_cfg)  # the devices cgroup must let QEMU open it
    mon.execute("blockdev-add", {"driver": "host_device" if block else "file", "filename": path,
                                 "node-name": storage, "auto-read-only": True, "discard": "unmap"})
    added.append(storage)
    if not flags & CF.REUSE_EXT:
        job_id = f"create-{storage}-{next(_job_ids)}"
        mon.execute("blockdev-create", {"job-id": job_id, "options": {
            "driver": p.fmt, "file": storage, "size": _virtual_size(mon, _top_node(p.disk)),
            "backing-file": _source_path(p.disk), "backing-fmt": X.get(p.disk, "driver", "type") or "raw"}})
        _wait_job(obj, mon, job_id)
    mon.execute("blockdev-add", {"driver": p.fmt, "node-name": fmt, "file": storage, "backing": None})
    added.append(fmt)
    return fmt, storage


def create_active(host: QemuHost, obj: DomainObj, plans: list[DiskPlan], memory_file: str | None,
                  flags: int) -> bool:
    """External snapshot of a running guest: memory (if asked) then every disk in one transaction.
    Returns whether the guest was paused here (the caller resumes it, or halts it)."""
    from virt.driver.qemu import saveimage

    mon = L.monitor(obj)
    assert obj.live is not None
    paused_here = False
    added: list[str] = []
    made: list[str] = []
    overlays: list[tuple[DiskPlan, str, str]] = []
    frozen = False
    group = L.cgroup_of(host, obj)
    try:
        if flags & CF.QUIESCE:
            # The guest's file systems are consistent on the overlays' backing images.
            agent.command(obj, "guest-fsfreeze-freeze", timeout=agent.FREEZE_TIMEOUT)
            frozen = True
        n = int(obj.runtime.get("next_node", 1))
        for p in plans:
            if p.mode == "external":
                overlays.append((p, *_prepare_overlay(obj, mon, p, flags, n, added, made, group, host.cfg)))
                n += 1
        obj.runtime["next_node"] = n
        if memory_file is not None:
            tree = deepcopy(obj.live)
            X.strip_private(tree)
            paused_here = saveimage.write_memory(host, obj, Path(memory_file), tree, obj.state == S.RUNNING,
                                                 resume=False, reason=DomainPausedReason.SNAPSHOT,
                                                 pause=not flags & CF.LIVE)
        elif obj.state == S.RUNNING and flags & CF.HALT:
            # The disks must not change between the snapshot and the halt.
            obj.set_state(S.PAUSED, DomainPausedReason.SNAPSHOT)
            mon.execute("stop")
            paused_here = True
        actions = [{"type": "blockdev-snapshot", "data": {"node": _top_node(p.disk), "overlay": fmt}}
                   for p, fmt, _ in overlays]
        if actions:  # a memory-only snapshot switches no disk
            mon.execute("transaction", {"actions": actions})
    except BaseException:
        if frozen:
            _thaw(obj)
        for node in reversed(added):
            try:
                mon.execute("blockdev-del", {"node-name": node})
            except VirtError:
                pass
        for path in made:
            _unlink(path)
        if memory_file is not None:
            _unlink(memory_file)
        if paused_here and obj.mon is mon and not flags & CF.HALT:
            obj.set_state(S.RUNNING, DomainRunningReason.UNPAUSED)
            mon.execute("cont")
        raise
    if frozen:
        _thaw(obj)
    for p, fmt, storage in overlays:
        old_nodes = X.priv(p.disk, "nodes") or ""
        layer(p.disk, p.file or "", p.fmt)
        X.set_priv(p.disk, "nodes", f"{fmt} {storage} {old_nodes}".strip())
    L.save_status(host, obj)
    return paused_here


def _thaw(obj: DomainObj) -> None:
    try:
        agent.command(obj, "guest-fsfreeze-thaw", timeout=agent.FREEZE_TIMEOUT)
    except VirtError as err:
        log.warning("cannot thaw the file systems of '%s': %s", obj.name, err)


def update_config(config: E, plans: list[DiskPlan]) -> E:
    """The persistent definition after a live external snapshot: the same disks layered (libvirt
    updates the persistent definition of a disk with the same target and source)."""
    tree = deepcopy(config)
    for p in plans:
        if p.mode != "external":
            continue
        # The live disk already shows the overlay: match the persistent one on its backing image.
        target = p.target
        bs = p.disk.find("backingStore")
        base = _source_path(bs) if bs is not None else None
        for d in tree.findall("devices/disk"):
            if X.get(d, "target", "dev") == target and _source_path(d) == base:
                layer(d, p.file or "", p.fmt)
    return tree
