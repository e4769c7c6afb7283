"""libvirt's QEMU-specific monitor calls: raw QMP/HMP commands and QMP events (libvirt-qemu's API).

``virDomainQemuMonitorCommand`` sends a user's QMP object as is (an ``id`` added) and answers
QEMU's whole reply as JSON text, or with the HMP flag runs ``human-monitor-command`` and answers its
text; either taints the guest ("custom-monitor"). Every QMP event of a guest goes onto the
connections' event buses as ``("qemu_monitor", 0, dom, event, seconds, micros, details)``; virtd
(``virt.core.remote.programs``) filters them by name for each registration.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from virt.driver.qemu import lifecycle as L
from virt.driver.qemu import process as P
from virt.driver.qemu.state import DomainObj
from virt.util.errors import (
    ErrorDomain,
    InternalError,
    InvalidArgError,
    OperationInvalidError,
    OperationUnsupportedError,
)

if TYPE_CHECKING:
    from virt.core.types import DomainRef
    from virt.driver.qemu.host import QemuHost

QEMU = ErrorDomain.QEMU
#: VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP.
MONITOR_COMMAND_HMP = 1
#: virConnectDomainQemuMonitorEventRegisterFlags (REGEX, NOCASE): virtd applies them.
MONITOR_EVENT_FLAGS = 1 | 2
#: The event bus kind of QMP events (virt.core.remote.programs.QEMU_MONITOR_EVENT_KIND).
EVENT_KIND = "qemu_monitor"
#: virDomainTaintFlags' word for a guest driven behind libvirt's back through its monitor.
TAINT_CUSTOM_MONITOR = "custom-monitor"


def taint(host: QemuHost, obj: DomainObj, reason: str) -> None:
    """Mark the running guest tainted: once per reason and run, recorded in its status and log."""
    taints: list[str] = obj.runtime.setdefault("taints", [])
    if reason in taints:
        return
    taints.append(reason)
    P.log_line(host.settings.log_file(obj.name), f"Domain id={obj.id} is tainted: {reason}")


def _parse_command(cmd: str) -> dict[str, Any]:
    try:
        msg = json.loads(cmd)
    except json.JSONDecodeError as err:
        raise InternalError(f"cannot parse json {cmd}: {err.msg}", domain=QEMU) from None
    if not isinstance(msg, dict) or ("execute" in msg and "id" in msg):
        # libvirt adds a command's id itself and cannot when the user gave one (or not an object)
        raise InternalError("Unable to append command 'id' string", domain=QEMU)
    return msg


def emit_event(host: QemuHost, obj: DomainObj, name: str, data: dict[str, Any], when: float) -> None:
    """A QMP event of ``obj`` onto every connection's bus (before the driver handles it, as libvirt)."""
    seconds = int(when)
    micros = min(999_999, round((when - seconds) * 1e6))
    details = json.dumps(data, separators=(",", ":")) if data else None
    host.emit(EVENT_KIND, 0, obj.ref(), name, seconds, micros, details)


class MonitorCalls:
    """The QEMU-specific monitor calls of ``QemuDriver`` (a mixin of it)."""

    if TYPE_CHECKING:
        host: QemuHost

        def _obj(self, dom: DomainRef) -> DomainObj: ...
        def check_writable(self, call: str) -> None: ...

    def domain_qemu_monitor_command(self, dom: DomainRef, cmd: str, flags: int = 0) -> str:
        """virDomainQemuMonitorCommand."""
        return self._monitor_command(dom, cmd, (), flags, "domain_qemu_monitor_command")

    def domain_qemu_monitor_command_with_files(self, dom: DomainRef, cmd: str, fds: Sequence[int],
                                               flags: int = 0) -> str:
        """virDomainQemuMonitorCommandWithFiles: at most one descriptor, passed along with the command."""
        return self._monitor_command(dom, cmd, fds, flags, "domain_qemu_monitor_command_with_files")

    def _monitor_command(self, dom: DomainRef, cmd: str, fds: Sequence[int], flags: int, call: str) -> str:
        self.check_writable(call)  # the public API's check comes first in libvirt
        if flags & ~MONITOR_COMMAND_HMP:
            raise InvalidArgError(f"unsupported flags (0x{flags & ~MONITOR_COMMAND_HMP:x}) in function "
                                  "qemuDomainQemuMonitorCommandWithFiles", domain=QEMU)
        obj = self._obj(dom)
        with obj.job:
            if not obj.active:
                raise OperationInvalidError("domain is not running", domain=QEMU)
            taint(self.host, obj, TAINT_CUSTOM_MONITOR)
            if len(fds) > 1:
                raise OperationUnsupportedError("at most 1 fd can be passed to qemu along with a command",
                                                domain=QEMU)
            mon = L.monitor(obj)
            if flags & MONITOR_COMMAND_HMP:
                text = mon.execute("human-monitor-command", {"command-line": cmd}, fds=list(fds))
                if not isinstance(text, str):
                    raise InternalError("human monitor command was missing return data", domain=QEMU)
                return text
            reply = mon.execute_message(_parse_command(cmd), fds=list(fds))
        return json.dumps(reply, separators=(",", ":"))

    def connect_domain_qemu_monitor_event_register(self, dom: DomainRef | None, event: str | None,
                                                   flags: int = 0) -> int:
        """Every QMP event already reaches the connection's bus: only the arguments are checked."""
        if flags & ~MONITOR_EVENT_FLAGS:
            raise InvalidArgError(f"unsupported flags (0x{flags & ~MONITOR_EVENT_FLAGS:x}) in function "
                                  "qemuConnectDomainQemuMonitorEventRegister", domain=QEMU)
        if dom is not None:
            self._obj(dom)
        return 0

    def connect_domain_qemu_monitor_event_deregister(self, callback_id: int) -> None:
        return None
