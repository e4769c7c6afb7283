"""Saving and restoring guests (save images, managed save), memory dumps and screenshots.

A save image is libvirt's: a header (magic ``LibvirtQemudSave``, version 2, the length of the
definition that follows, whether the guest was running, compression), the domain XML padded to a
page boundary, then QEMU's migration stream. Saving pauses the guest and migrates it into the file
(``getfd`` + ``migrate fd:``); the magic reads ``LibvirtQemudPart`` until the stream is complete,
so a half-written image is never restored. Restoring starts QEMU with ``-incoming defer`` and feeds
it the stream (``migrate-incoming fd:``).
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from virt.core.enums import (
    DomainEventID,
    DomainPausedReason,
    DomainRunningReason,
    DomainShutoffReason,
)
from virt.core.enums import DomainEventStartedDetail as Started
from virt.core.enums import DomainEventStoppedDetail as Stopped
from virt.core.enums import DomainEventSuspendedDetail as Suspended
from virt.core.enums import DomainEventType as Ev
from virt.core.enums import DomainState as S
from virt.driver.qemu import definition as D
from virt.driver.qemu import lifecycle as L
from virt.driver.qemu import xmlutil as X
from virt.driver.qemu.state import DomainObj
from virt.util.errors import (
    ErrorDomain,
    ErrorNumber,
    InvalidArgError,
    OperationFailedError,
    OperationInvalidError,
    OperationUnsupportedError,
    SystemError_,
    VirtError,
)

if TYPE_CHECKING:
    from virt.driver.qemu.host import QemuHost

QEMU = ErrorDomain.QEMU
MAGIC = b"LibvirtQemudSave"
MAGIC_PARTIAL = b"LibvirtQemudPart"
VERSION = 2
#: magic, version, data_len, was_running, compressed, cookieOffset, 14 unused words (native order).
_HEADER = struct.Struct("=16s5I14I")
#: Room left after the XML for a later save-image-define, and the page size the data starts on.
_PAD, _ALIGN = 1024, 4096
#: How long a save or restore may take before it is abandoned.
MIGRATE_TIMEOUT = 600.0
#: virDomainSaveRestoreFlags.
BYPASS_CACHE, SAVE_RUNNING, SAVE_PAUSED = 1, 2, 4
#: dump formats: virDomainCoreDumpFormat -> dump-guest-memory's format.
DUMP_FORMATS = {0: "elf", 1: "kdump-zlib", 2: "kdump-lzo", 3: "kdump-snappy", 4: "win-dmp"}
#: virDomainCoreDumpFlags.
DUMP_CRASH, DUMP_LIVE, DUMP_BYPASS_CACHE, DUMP_RESET, DUMP_MEMORY_ONLY = 1, 2, 4, 8, 16


# ----------------------------------------------------------------------------------------- header
def _header(magic: bytes, xml: bytes, was_running: bool) -> tuple[bytes, int]:
    used = _HEADER.size + len(xml) + 1
    pad = _PAD + (-(used + _PAD)) % _ALIGN
    data_len = len(xml) + 1 + pad
    head = _HEADER.pack(magic, VERSION, data_len, int(was_running), 0, 0, *([0] * 14))
    return head + xml + b"\0" * (1 + pad), _HEADER.size + data_len


def read_header(path: Path) -> tuple[bool, Any, int]:
    """(was_running, definition tree, offset of the migration stream) of a save image."""
    try:
        with open(path, "rb") as f:
            head = f.read(_HEADER.size)
            if len(head) < _HEADER.size:
                raise InvalidArgError("failed to read qemu header", domain=QEMU)
            magic, version, data_len, was_running, compressed, *_ = _HEADER.unpack(head)
            if magic == MAGIC_PARTIAL:
                raise OperationFailedError("save image is incomplete", domain=QEMU)
            if magic != MAGIC:
                raise InvalidArgError("image magic is incorrect", domain=QEMU)
            if version > VERSION:
                raise InvalidArgError(f"image version is not supported ({version} > {VERSION})", domain=QEMU)
            if compressed:
                raise OperationUnsupportedError("compressed save images are not supported", domain=QEMU)
            xml = f.read(data_len).split(b"\0", 1)[0]
    except OSError as err:
        raise SystemError_.from_errno(err, f"cannot read domain image '{path}'", domain=QEMU) from None
    return bool(was_running), X.parse(xml), _HEADER.size + data_len


def redefine(path: Path, tree: Any, flags: int) -> None:
    """save-image-define: another definition (same size constraints) in an existing image."""
    was_running, old, offset = read_header(path)
    if D.uuid_of(old) != D.uuid_of(tree) or D.name_of(old) != D.name_of(tree):
        raise InvalidArgError("Target domain uuid or name does not match source", domain=QEMU)
    if flags & SAVE_RUNNING:
        was_running = True
    elif flags & SAVE_PAUSED:
        was_running = False
    xml = D.format_definition(tree, secure=True, inactive=True).encode()
    data_len = offset - _HEADER.size
    if len(xml) + 1 > data_len:
        raise InvalidArgError("new xml too large to fit in file", domain=QEMU)
    head = _HEADER.pack(MAGIC, VERSION, data_len, int(was_running), 0, 0, *([0] * 14)) + xml + \
        b"\0" * (data_len - len(xml))
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.pwrite(fd, head, 0)
        os.fsync(fd)
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------------------- migration
def _enable_migration_events(mon: Any) -> None:
    mon.execute("migrate-set-capabilities",
                {"capabilities": [{"capability": "events", "state": True}]})


def _migration_done(name: str, data: dict[str, Any]) -> bool:
    return name == "MIGRATION" and data.get("status") in ("completed", "failed", "cancelled")


def _wait_migration(obj: DomainObj, mon: Any, done: Any, what: str) -> None:
    timer = L.Timer(MIGRATE_TIMEOUT)
    while True:
        done.wait(min(1.0, timer.left()))
        info = mon.execute("query-migrate")
        status = info.get("status")
        if status == "completed":
            return
        if status in ("failed", "cancelled"):
            raise OperationFailedError(f"{what}: {info.get('error-desc', status)}", domain=QEMU)
        if obj.mon is not mon:
            raise OperationFailedError(f"{what}: domain is no longer running", domain=QEMU)
        if not timer.left():
            with contextlib.suppress(VirtError):
                mon.execute("migrate_cancel")
            raise VirtError(f"{what}: timed out", code=ErrorNumber.OPERATION_TIMEOUT, domain=QEMU)
        done.clear()


# ----------------------------------------------------------------------------------------- save
def _pause_for(host: QemuHost, obj: DomainObj, mon: Any, reason: int) -> bool:
    """Pause a running guest for a job; returns whether it was running."""
    if obj.state != S.RUNNING:
        return False
    obj.set_state(S.PAUSED, reason)
    mon.execute("stop")
    L.emit_lifecycle(host, obj, Ev.SUSPENDED, Suspended.PAUSED)
    return True


def _resume_after(host: QemuHost, obj: DomainObj, mon: Any) -> None:
    from virt.core.enums import DomainEventResumedDetail as Resumed

    obj.set_state(S.RUNNING, DomainRunningReason.UNPAUSED)
    mon.execute("cont")
    L.emit_lifecycle(host, obj, Ev.RESUMED, Resumed.UNPAUSED)


def save(host: QemuHost, obj: DomainObj, path: Path, dxml: str | None, flags: int) -> None:
    """Save the running guest ``obj`` to ``path`` and stop it (caller holds the job)."""
    assert obj.live is not None
    if dxml:
        tree = D.parse_definition(dxml, host.caps, host.cfg)
        if D.uuid_of(tree) != obj.uuid or D.name_of(tree) != obj.name:
            raise InvalidArgError("Target domain uuid or name does not match source", domain=QEMU)
    else:
        from copy import deepcopy

        tree = deepcopy(obj.live)
        X.strip_private(tree)
    was_running = obj.state == S.RUNNING
    if flags & SAVE_RUNNING:
        was_running = True
    elif flags & SAVE_PAUSED:
        was_running = False
    write_memory(host, obj, path, tree, was_running, resume=False)
    ref = obj.ref()
    L.kill_and_cleanup(host, obj, DomainShutoffReason.SAVED)
    host.emit("domain", DomainEventID.LIFECYCLE, ref, int(Ev.STOPPED), int(Stopped.SAVED))


def write_memory(host: QemuHost, obj: DomainObj, path: Path, tree: Any, was_running: bool, *,
                 resume: bool, reason: int = DomainPausedReason.SAVE, pause: bool = True) -> bool:
    """Write a save image of the running guest (header with ``tree``, then its migration stream) to
    ``path``. The guest is paused first (unless ``pause`` is false: it then runs while its memory is
    copied and QEMU stops it at the end); on failure it runs again if it ran before. With ``resume``
    it also runs again after success; returns whether it was paused here."""
    mon = L.monitor(obj)
    xml = D.format_definition(tree, secure=True, inactive=True).encode()
    head, offset = _header(MAGIC_PARTIAL, xml, was_running)
    running_before = obj.state == S.RUNNING
    paused_here = _pause_for(host, obj, mon, reason) if pause else False
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    except OSError as err:
        if paused_here:
            _resume_after(host, obj, mon)
        raise SystemError_.from_errno(err, f"failed to create '{path}'", domain=QEMU) from None
    try:
        os.write(fd, head)
        assert os.lseek(fd, 0, os.SEEK_CUR) == offset
        _enable_migration_events(mon)
        mon.execute("migrate-set-parameters", {"max-bandwidth": 1 << 40})
        done = obj.expect(_migration_done)
        try:
            mon.execute("getfd", {"fdname": "migrate"}, fds=[fd])
            mon.execute("migrate", {"uri": "fd:migrate"})
            _wait_migration(obj, mon, done, "operation failed: saving the domain")
        finally:
            obj.forget(done)
        os.fsync(fd)
        os.pwrite(fd, MAGIC, 0)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        if paused_here and obj.mon is mon:
            with contextlib.suppress(VirtError):
                _resume_after(host, obj, mon)
        raise
    os.close(fd)
    if not pause and running_before:
        # QEMU stopped the guest when the live migration completed (its STOP event may have told us).
        obj.set_state(S.PAUSED, reason)
        paused_here = True
    if resume and paused_here:
        _resume_after(host, obj, mon)
    return paused_here


# ----------------------------------------------------------------------------------------- restore
def restore(host: QemuHost, obj: DomainObj, path: Path, *, paused: bool | None = None, managed: bool = False,
            tree: Any = None) -> None:
    """Start ``obj`` from save image ``path`` (caller holds the job); a managed image is then removed."""
    was_running, saved, offset = read_header(path)
    if tree is None:
        tree = saved
    start_paused = (not was_running) if paused is None else paused
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise SystemError_.from_errno(err, f"cannot open domain image '{path}'", domain=QEMU) from None
    os.lseek(fd, offset, os.SEEK_SET)

    def incoming(mon: Any) -> None:
        _enable_migration_events(mon)
        done = obj.expect(_migration_done)
        try:
            mon.execute("getfd", {"fdname": "migrate"}, fds=[fd])
            mon.execute("migrate-incoming", {"uri": "fd:migrate"})
            _wait_migration(obj, mon, done, "operation failed: restoring the domain")
        finally:
            obj.forget(done)

    try:
        L.start(host, obj, tree, paused=start_paused, reason=DomainRunningReason.RESTORED,
                detail=Started.RESTORED, incoming=incoming, emit=False)
    finally:
        os.close(fd)
    L.emit_lifecycle(host, obj, Ev.STARTED, Started.RESTORED)
    if start_paused:
        L.emit_lifecycle(host, obj, Ev.SUSPENDED, Suspended.RESTORED)
    if managed:
        with contextlib.suppress(OSError):
            os.unlink(path)


def restore_file(host: QemuHost, path: Path, dxml: str | None, flags: int, parse: Callable[[str], Any],
                 check_unique: Callable[..., DomainObj | None]) -> None:
    """virDomainRestoreFlags: a guest (transient unless already defined) started from ``path``."""
    _, saved, _ = read_header(path)
    tree = parse(dxml) if dxml else saved
    name, uuid = D.name_of(tree), D.uuid_of(tree)
    with host.lock:
        obj = check_unique(name, uuid, live=True)
        new = obj is None
        if obj is None:
            obj = DomainObj(name, uuid)
            host.domains[uuid] = obj
    paused = True if flags & SAVE_PAUSED else False if flags & SAVE_RUNNING else None
    try:
        with obj.job:
            if obj.active:
                raise OperationInvalidError(f"domain '{name}' is already active", domain=QEMU)
            restore(host, obj, path, paused=paused, tree=tree)
    except BaseException:
        if new:
            with host.lock:
                if not obj.active:
                    host.domains.pop(uuid, None)
        raise


# ----------------------------------------------------------------------------------------- dumps
def core_dump(host: QemuHost, obj: DomainObj, path: Path, fmt: int, flags: int) -> None:
    """The guest's memory to ``path`` (ELF or kdump), pausing it meanwhile unless ``live``."""
    mon = L.monitor(obj)
    if fmt not in DUMP_FORMATS:
        raise InvalidArgError(f"unknown dumpformat '{fmt}'", domain=QEMU)
    if flags & DUMP_CRASH and flags & DUMP_RESET:
        raise InvalidArgError("crash and reset flags are mutually exclusive", domain=QEMU)
    if fmt != 0:
        formats = {f.get("format") if isinstance(f, dict) else f
                   for f in (mon.execute("query-dump-guest-memory-capability") or {}).get("formats", [])}
        if DUMP_FORMATS[fmt] not in formats:
            raise OperationUnsupportedError(f"unsupported dumpformat '{DUMP_FORMATS[fmt]}' for this QEMU binary",
                                            domain=QEMU)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    except OSError as err:
        raise SystemError_.from_errno(err, f"domain '{obj.name}' coredump: failed to open {path}",
                                      domain=QEMU) from None
    paused_here = False
    try:
        if not flags & DUMP_LIVE:
            paused_here = _pause_for(host, obj, mon, DomainPausedReason.DUMP)
        mon.execute("getfd", {"fdname": "dump"}, fds=[fd])
        mon.execute("dump-guest-memory", {"paging": False, "protocol": "fd:dump", "format": DUMP_FORMATS[fmt]},
                    timeout=MIGRATE_TIMEOUT)
    finally:
        os.close(fd)
    if flags & DUMP_CRASH:
        ref = obj.ref()
        L.kill_and_cleanup(host, obj, DomainShutoffReason.CRASHED)
        host.emit("domain", DomainEventID.LIFECYCLE, ref, int(Ev.STOPPED), int(Stopped.CRASHED))
        return
    if flags & DUMP_RESET:
        mon.execute("system_reset")
    if paused_here:
        _resume_after(host, obj, mon)


def screenshot(host: QemuHost, obj: DomainObj, stream: Any, screen: int = 0) -> str:
    """The guest's display as a PPM image, handed to ``stream`` (libvirt's virDomainScreenshot)."""
    mon = L.monitor(obj)
    assert obj.live is not None
    if obj.live.find("devices/video") is None and obj.live.find("devices/graphics") is None:
        raise OperationInvalidError("no screens to take screenshot from", domain=QEMU)
    tmp = Path(obj.runtime["private_dir"]) / "screendump.ppm"
    args: dict[str, Any] = {"filename": str(tmp)}
    if screen:
        args["head"] = int(screen)
    mon.execute("screendump", args)
    try:
        f = open(tmp, "rb")  # noqa: SIM115 - the stream owns it from now on
    except OSError as err:
        raise SystemError_.from_errno(err, f"unable to open {tmp}", domain=QEMU) from None
    os.unlink(tmp)
    target = getattr(stream, "impl", stream)
    if target is not None and hasattr(target, "attach"):
        target.attach(source=f)
    else:
        f.close()
    return "image/x-portable-pixmap"
