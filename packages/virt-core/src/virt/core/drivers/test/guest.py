"""What libvirt's test driver pretends the guest and its agent report: time, filesystems, control
state, disk errors, keys, signals, passwords and memory contents."""

from __future__ import annotations

from typing import Any, ClassVar

from virt.core.drivers.test.base import Calls
from virt.core.drivers.test.errors import DOMAIN, bare, invalid_arg, operation_invalid
from virt.core.drivers.test.state import DomainObj
from virt.core.enums import DomainState as S
from virt.core.types import DomainRef
from virt.util.errors import ErrorNumber as E

#: Guest time of a new domain (seconds since the epoch, libvirt's fixed value).
INITIAL_TIME = 627319920
#: The two filesystems the mock guest agent knows (index into DomainObj.frozen).
MOUNTPOINTS = ("/", "/boot")
#: virDomainProcessSignal values end before this one.
SIGNAL_LAST = 65
#: virDomainDiskErrorCode values 1..LAST-1 are cycled through the disks.
DISK_ERROR_LAST = 3


def _guest(obj: DomainObj) -> dict[str, Any]:
    """Per-domain guest state, created on first use (the time and the frozen filesystems)."""
    if not obj.guest:
        obj.guest.update(seconds=INITIAL_TIME, nseconds=0, frozen=[False, False])
    return obj.guest


class GuestCalls(Calls):
    FLAGS: ClassVar[dict[str, int]] = {
        "domain_get_time": 0, "domain_set_time": 1, "domain_get_control_info": 0, "domain_fsfreeze": 0,
        "domain_fsthaw": 0, "domain_fstrim": 0, "domain_get_fsinfo": 0, "domain_get_disk_errors": 0,
        "domain_send_key": 0, "domain_inject_nmi": 0, "domain_send_process_signal": 0,
        "domain_set_user_password": 1, "domain_memory_peek": 1 | 2, "domain_get_messages": 1 | 2,
    }

    _dom: Any
    _active: Any

    def domain_get_time(self, dom: DomainRef, flags: int = 0) -> tuple[int, int]:
        obj = self._dom(dom)
        if obj.state != S.RUNNING:
            raise operation_invalid("domain is not running")
        guest = _guest(obj)
        return guest["seconds"], guest["nseconds"]

    def domain_set_time(self, dom: DomainRef, seconds: int, nseconds: int, flags: int = 0) -> None:
        guest = _guest(self._active(dom))
        guest["seconds"], guest["nseconds"] = seconds, nseconds

    def domain_get_control_info(self, dom: DomainRef, flags: int = 0) -> tuple[int, int, int]:
        """(state, details, state time): OK unless the guest clock was set into libvirt's magic ranges."""
        seconds = _guest(self._active(dom))["seconds"]
        if 0 < seconds < 10000:
            return 1, 0, seconds  # JOB
        if 10000 <= seconds < 30000:
            return 2, 0, seconds - 10000  # OCCUPIED
        if 30000 <= seconds < 60000:
            return 3, seconds % 4, seconds - 30000  # ERROR, with a reason
        return 0, 0, 0

    def _mountpoints(self, mountpoints: list[str] | None) -> list[int]:
        indexes = []
        for mp in mountpoints or ():
            if mp not in MOUNTPOINTS:
                raise operation_invalid(f"mount point not found: {mp}")
            indexes.append(MOUNTPOINTS.index(mp))
        return indexes

    def domain_fsfreeze(self, dom: DomainRef, mountpoints: list[str] | None = None, flags: int = 0) -> int:
        frozen = _guest(self._active(dom))["frozen"]
        wanted = self._mountpoints(mountpoints) if mountpoints else list(range(len(MOUNTPOINTS)))
        changed = [i for i in dict.fromkeys(wanted) if not frozen[i]]
        for i in wanted:
            frozen[i] = True
        return len(changed)

    def domain_fsthaw(self, dom: DomainRef, mountpoints: list[str] | None = None, flags: int = 0) -> int:
        frozen = _guest(self._active(dom))["frozen"]
        wanted = self._mountpoints(mountpoints) if mountpoints else list(range(len(MOUNTPOINTS)))
        changed = [i for i in dict.fromkeys(wanted) if frozen[i]]
        for i in wanted:
            frozen[i] = False
        return len(changed)

    def domain_fstrim(self, dom: DomainRef, mountpoint: str | None, minimum: int = 0, flags: int = 0) -> None:
        self._active(dom)
        if mountpoint and mountpoint not in MOUNTPOINTS:
            raise operation_invalid(f"mount point not found: {mountpoint}")

    def domain_get_fsinfo(self, dom: DomainRef, flags: int = 0) -> tuple[list[tuple[str, str, str, list[str]]], int]:
        """([(mount point, name, type, disk targets)], count): the first disk holds / and /boot."""
        obj = self._active(dom)
        for disk in obj.defn.devices.disks:
            if disk.device in (None, "disk"):
                info = [("/", f"{disk.dev}1", "ext4", [disk.dev]), ("/boot", f"{disk.dev}2", "ext4", [disk.dev])]
                return info, len(info)
        return [], 0

    def domain_get_disk_errors(self, dom: DomainRef, maxerrors: int = 256,
                               flags: int = 0) -> tuple[list[tuple[str, int]], int]:
        """([(disk target, virDomainDiskErrorCode)], count): the disks cycle through the error codes.
        With ``maxerrors`` 0 only the count, the number of disks."""
        disks = self._active(dom).defn.devices.disks
        if maxerrors <= 0:
            return [], len(disks)
        errors = [(d.dev, i % (DISK_ERROR_LAST - 1) + 1) for i, d in enumerate(disks[:maxerrors])]
        return errors, len(errors)

    def domain_send_key(self, dom: DomainRef, codeset: int, holdtime: int, keycodes: list[int],
                        flags: int = 0) -> None:
        self._active(dom)

    def domain_inject_nmi(self, dom: DomainRef, flags: int = 0) -> None:
        self._active(dom)

    def domain_send_process_signal(self, dom: DomainRef, pid_value: int, signum: int, flags: int = 0) -> None:
        if pid_value != 1:
            raise invalid_arg("only sending a signal to pid 1 is supported")
        if signum >= SIGNAL_LAST:
            raise invalid_arg(f"signum value {signum} is out of range")
        self._dom(dom)

    def domain_set_user_password(self, dom: DomainRef, user: str, password: str, flags: int = 0) -> None:
        self._active(dom)

    def domain_memory_peek(self, dom: DomainRef, start: int, size: int, flags: int = 0) -> bytes:
        """Guest memory reads back as a counter starting at the low byte of ``start``."""
        if flags == 3:  # virDomainMemoryPeek's own check
            raise bare(E.INVALID_ARG, "Flags 'VIR_MEMORY_VIRTUAL' and 'VIR_MEMORY_PHYSICAL' are mutually exclusive",
                       DOMAIN)
        if flags not in (1, 2):
            raise invalid_arg("flags parameter must be VIR_MEMORY_VIRTUAL or VIR_MEMORY_PHYSICAL")
        self._active(dom)
        return bytes((start + i) & 0xFF for i in range(size))

    def domain_get_messages(self, dom: DomainRef, flags: int = 0) -> list[str]:
        self._dom(dom)
        return []
