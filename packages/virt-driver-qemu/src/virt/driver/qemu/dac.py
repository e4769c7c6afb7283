"""Discretionary access control for QEMU running as qemu.conf's user and group (libvirt's DAC driver).

Before QEMU starts as a user other than the driver's, what it must open by path is given to that
user: its private directory and the files of its disks. Each file's owner before is remembered in
the guest's status (so a restarted driver still knows) and given back when the guest stops.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from virt.util.errors import ErrorDomain, SystemError_

QEMU = ErrorDomain.QEMU


def _disk_files(live: Any) -> list[str]:
    out = []
    for disk in live.findall("devices/disk"):
        src = disk.find("source")
        path = (src.get("file") or src.get("dev")) if src is not None else None
        if path and os.path.exists(path):
            out.append(path)
        for backing in disk.iter("backingStore"):
            bsrc = backing.find("source")
            bpath = (bsrc.get("file") or bsrc.get("dev")) if bsrc is not None else None
            if bpath and os.path.exists(bpath):
                out.append(bpath)
    return out


def label(private: Path, live: Any, user: tuple[int, int] | None) -> dict[str, list[int]]:
    """Give ``user`` the guest's files; returns {path: [uid, gid]} of what they were before."""
    if user is None or user == (os.geteuid(), os.getegid()) or os.geteuid() != 0:
        return {}
    uid, gid = user
    remembered: dict[str, list[int]] = {}
    try:
        for path in [str(private), *(str(p) for p in private.iterdir())]:
            os.chown(path, uid, gid)  # made for this run: nothing to give back
        for path in _disk_files(live):
            st = os.stat(path)
            if (st.st_uid, st.st_gid) != (uid, gid):
                os.chown(path, uid, gid)
                remembered[path] = [st.st_uid, st.st_gid]
    except OSError as err:
        restore(remembered)
        raise SystemError_.from_errno(err, f"unable to set user and group to '{uid}:{gid}' on "
                                      f"'{err.filename}'", domain=QEMU) from None
    return remembered


def restore(remembered: dict[str, list[int]]) -> None:
    """Give the guest's files back to their owners."""
    for path, (uid, gid) in remembered.items():
        with contextlib.suppress(OSError):  # the file went away meanwhile
            os.chown(path, uid, gid)
