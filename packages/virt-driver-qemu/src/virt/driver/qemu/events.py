"""QMP events turned into domain state changes and libvirt's domain events.

Each handler runs on the monitor's reader thread, so it only updates state (under the host lock)
and emits events; work that needs the monitor again (killing QEMU after a guest powered off, a
fake reboot, removing an unplugged device's block nodes) is queued on the host's worker. Events of
an earlier run of the guest (a stale generation) are dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from virt.core.enums import (
    DomainCrashedReason,
    DomainEventCrashedDetail,
    DomainEventID,
    DomainEventPMSuspendedDetail,
    DomainEventResumedDetail,
    DomainEventShutdownDetail,
    DomainEventStartedDetail,
    DomainEventStoppedDetail,
    DomainEventSuspendedDetail,
    DomainPausedReason,
    DomainPMSuspendedReason,
    DomainRunningReason,
    DomainShutdownReason,
    DomainShutoffReason,
)
from virt.core.enums import DomainEventType as Ev
from virt.core.enums import DomainState as S
from virt.driver.qemu import definition as D
from virt.driver.qemu import lifecycle as L
from virt.driver.qemu import process as P
from virt.driver.qemu.monitor_api import emit_event
from virt.driver.qemu.state import DomainObj

if TYPE_CHECKING:
    from virt.driver.qemu.host import QemuHost

log = logging.getLogger(__name__)

Handler = Callable[["QemuHost", DomainObj, int, dict[str, Any]], None]

#: libvirt's VIR_DOMAIN_EVENT_WATCHDOG_* for QEMU's watchdog actions.
WATCHDOG_ACTIONS = {"none": 0, "pause": 1, "reset": 2, "poweroff": 3, "shutdown": 4, "debug": 5,
                    "inject-nmi": 6}
#: libvirt's VIR_DOMAIN_EVENT_IO_ERROR_* for QEMU's block error actions.
IO_ERROR_ACTIONS = {"ignore": 0, "stop": 1, "report": 2}
#: Why a guest paused -> the detail of its SUSPENDED event.
SUSPENDED_DETAIL: dict[int, int] = {DomainPausedReason.IOERROR: DomainEventSuspendedDetail.IOERROR,
                    DomainPausedReason.WATCHDOG: DomainEventSuspendedDetail.WATCHDOG,
                    DomainPausedReason.MIGRATION: DomainEventSuspendedDetail.MIGRATED,
                    DomainPausedReason.FROM_SNAPSHOT: DomainEventSuspendedDetail.FROM_SNAPSHOT}


def dispatch(host: QemuHost, obj: DomainObj, gen: int, name: str, data: dict[str, Any], when: float) -> None:
    """The monitor's event callback."""
    if obj.generation != gen:
        return
    emit_event(host, obj, name, data, when)
    handler = HANDLERS.get(name)
    if handler is not None:
        try:
            handler(host, obj, gen, data)
        except Exception:  # a failing handler must not kill the monitor's reader
            log.exception("handling QMP event %s of '%s'", name, obj.name)
    obj.notify(name, data)


def _lifecycle(host: QemuHost, obj: DomainObj, event: int, detail: int) -> None:
    L.emit_lifecycle(host, obj, event, detail)


def _save_later(host: QemuHost, obj: DomainObj, gen: int) -> None:
    def save() -> None:
        if obj.generation == gen:
            L.save_status(host, obj)

    host.defer(save)


# ----------------------------------------------------------------------------------------- handlers
def on_shutdown(host: QemuHost, obj: DomainObj, gen: int, data: dict[str, Any]) -> None:
    if obj.being_destroyed:
        return
    with host.lock:
        if obj.state == S.SHUTDOWN or not obj.active:
            return
        obj.got_shutdown = True
        fake = obj.fake_reboot
        if not fake:
            obj.set_state(S.SHUTDOWN, DomainShutdownReason.UNKNOWN)
    if not fake:
        guest = data.get("guest")
        detail = (DomainEventShutdownDetail.GUEST if guest is True else
                  DomainEventShutdownDetail.HOST if guest is False else DomainEventShutdownDetail.FINISHED)
        _lifecycle(host, obj, Ev.SHUTDOWN, detail)
        _save_later(host, obj, gen)
    host.defer(partial(after_shutdown, host, obj, gen))


def after_shutdown(host: QemuHost, obj: DomainObj, gen: int) -> None:
    """The guest powered off: reboot it (a reboot request or on_poweroff='restart'), or end QEMU;
    the monitor's end of file then stops the guest with reason 'shutdown'."""
    with obj.job:
        if obj.generation != gen or not obj.active or obj.being_destroyed:
            return
        tree = obj.live
        if obj.fake_reboot or (tree is not None and D.lifecycle_action(tree, "on_poweroff") == "restart"):
            fake_reboot(host, obj)
            return
        pid = obj.pid
        if P.same_process(pid, obj.runtime.get("start_time")):
            P.signal_process(pid, 15)


def fake_reboot(host: QemuHost, obj: DomainObj) -> None:
    """Reset the guest QEMU stopped at its power-off and let it run again (libvirt's fake reboot)."""
    mon = obj.mon
    if mon is None:
        return
    was_paused = obj.state == S.PAUSED
    try:
        mon.execute("system_reset")
        with host.lock:
            obj.fake_reboot = obj.got_shutdown = False
            obj.set_state(S.RUNNING, DomainRunningReason.BOOTED)
        mon.execute("cont")
    except Exception as err:
        log.warning("fake reboot of '%s' failed: %s", obj.name, err)
        return
    detail = DomainEventResumedDetail.UNPAUSED
    _lifecycle(host, obj, Ev.RESUMED, detail)
    del was_paused
    L.save_status(host, obj)


def on_stop(host: QemuHost, obj: DomainObj, gen: int, data: dict[str, Any]) -> None:
    with host.lock:
        if obj.state != S.RUNNING or obj.being_destroyed or obj.got_shutdown:
            return  # we paused it ourselves (state set first), or it powered off (QEMU stops then)
        reason = obj.paused_reason or DomainPausedReason.UNKNOWN
        obj.paused_reason = DomainPausedReason.UNKNOWN
        obj.set_state(S.PAUSED, reason)
    _lifecycle(host, obj, Ev.SUSPENDED, SUSPENDED_DETAIL.get(reason, DomainEventSuspendedDetail.PAUSED))
    _save_later(host, obj, gen)


def on_resume(host: QemuHost, obj: DomainObj, gen: int, data: dict[str, Any]) -> None:
    with host.lock:
        if obj.state != S.PAUSED:
            return
        obj.set_state(S.RUNNING, DomainRunningReason.UNPAUSED)
    _lifecycle(host, obj, Ev.RESUMED, DomainEventResumedDetail.UNPAUSED)
    _save_later(host, obj, gen)


def on_reset(host: QemuHost, obj: DomainObj, gen: int, data: dict[str, Any]) -> None:
    host.emit("domain", DomainEventID.REBOOT, obj.ref())


def on_device_deleted(host: QemuHost, obj: DomainObj, gen: int, data: dict[str, Any]) -> None:
    alias = data.get("device")
    if not alias:
        return
    from virt.driver.qemu import hotplug

    with host.lock:
        waited = alias in hotplug.unplugging(obj)
    if not waited:
        # Nobody is waiting (the guest removed it, or a detach gave up waiting): finish it here.
        def finish() -> None:
            with obj.job:
                if obj.generation == gen and obj.active:
                    hotplug.finish_removal(host, obj, str(alias))

        host.defer(finish)


def on_balloon_change(host: QemuHost, obj: DomainObj, gen: int, data: dict[str, Any]) -> None:
    actual = int(data.get("actual", 0)) >> 10
    with host.lock:
        if obj.live is not None:
            D.set_kib(obj.live, "currentMemory", actual)
    host.emit("domain", DomainEventID.BALLOON_CHANGE, obj.ref(), actual)
    _save_later(host, obj, gen)


def on_rtc_change(host: QemuHost, obj: DomainObj, gen: int, data: dict[str, Any]) -> None:
    host.emit("domain", DomainEventID.RTC_CHANGE, obj.ref(), int(data.get("offset", 0)))


def on_watchdog(host: QemuHost, obj: DomainObj, gen: int, data: dict[str, Any]) -> None:
    action = str(data.get("action", "none"))
    if action == "pause":
        obj.paused_reason = DomainPausedReason.WATCHDOG
    host.emit("domain", DomainEventID.WATCHDOG, obj.ref(), WATCHDOG_ACTIONS.get(action, 0))


def on_block_io_error(host: QemuHost, obj: DomainObj, gen: int, data: dict[str, Any]) -> None:
    from virt.driver.qemu import hotplug

    action = str(data.get("action", "report"))
    if action == "stop":
        obj.paused_reason = DomainPausedReason.IOERROR
    alias, path = hotplug.disk_of_node(obj, str(data.get("node-name") or ""), str(data.get("device") or ""))
    code = IO_ERROR_ACTIONS.get(action, 2)
    reason = "enospc" if data.get("nospace") else str(data.get("reason") or "")
    host.emit("domain", DomainEventID.IO_ERROR, obj.ref(), path, alias, code)
    host.emit("domain", DomainEventID.IO_ERROR_REASON, obj.ref(), path, alias, code, reason)


def on_guest_panicked(host: QemuHost, obj: DomainObj, gen: int, data: dict[str, Any]) -> None:
    with host.lock:
        if not obj.active:
            return
        obj.set_state(S.CRASHED, DomainCrashedReason.PANICKED)
    _lifecycle(host, obj, Ev.CRASHED, DomainEventCrashedDetail.PANICKED)
    tree = obj.live
    if tree is not None and D.lifecycle_action(tree, "on_crash") in ("destroy", "coredump-destroy"):
        def destroy() -> None:
            with obj.job:
                if obj.generation == gen and obj.active and not obj.being_destroyed:
                    L.kill_and_cleanup(host, obj, DomainShutoffReason.CRASHED)
                    _lifecycle(host, obj, Ev.STOPPED, DomainEventStoppedDetail.CRASHED)

        host.defer(destroy)
    else:
        _save_later(host, obj, gen)


def on_suspend(host: QemuHost, obj: DomainObj, gen: int, data: dict[str, Any]) -> None:
    with host.lock:
        if not obj.active:
            return
        obj.set_state(S.PMSUSPENDED, DomainPMSuspendedReason.UNKNOWN)
    host.emit("domain", DomainEventID.PMSUSPEND, obj.ref(), 0)
    _lifecycle(host, obj, Ev.PMSUSPENDED, DomainEventPMSuspendedDetail.MEMORY)
    _save_later(host, obj, gen)


def on_wakeup(host: QemuHost, obj: DomainObj, gen: int, data: dict[str, Any]) -> None:
    with host.lock:
        if obj.state != S.PMSUSPENDED:
            return
        obj.set_state(S.RUNNING, DomainRunningReason.WAKEUP)
    host.emit("domain", DomainEventID.PMWAKEUP, obj.ref(), 0)
    _lifecycle(host, obj, Ev.STARTED, DomainEventStartedDetail.WAKEUP)
    _save_later(host, obj, gen)


def on_vserport_change(host: QemuHost, obj: DomainObj, gen: int, data: dict[str, Any]) -> None:
    from virt.driver.qemu import agent

    is_open = bool(data.get("open"))
    with host.lock:
        if not obj.active or not agent.port_changed(obj, str(data.get("id") or ""), is_open):
            return
    state = agent.AGENT_CONNECTED if is_open else agent.AGENT_DISCONNECTED
    host.emit("domain", DomainEventID.AGENT_LIFECYCLE, obj.ref(), state, agent.AGENT_REASON_CHANNEL)
    _save_later(host, obj, gen)


#: QMP event name -> handler. Events not listed only wake whoever waits for them (MIGRATION, JOB_*...).
HANDLERS: dict[str, Handler] = {
    "SHUTDOWN": on_shutdown,
    "STOP": on_stop,
    "RESUME": on_resume,
    "RESET": on_reset,
    "DEVICE_DELETED": on_device_deleted,
    "BALLOON_CHANGE": on_balloon_change,
    "RTC_CHANGE": on_rtc_change,
    "WATCHDOG": on_watchdog,
    "BLOCK_IO_ERROR": on_block_io_error,
    "GUEST_PANICKED": on_guest_panicked,
    "SUSPEND": on_suspend,
    "WAKEUP": on_wakeup,
    "VSERPORT_CHANGE": on_vserport_change,
}


# ----------------------------------------------------------------------------------------- end of file
def on_eof(host: QemuHost, obj: DomainObj, gen: int) -> None:
    """The monitor closed: QEMU exited (or is exiting). Unless we are ending it ourselves, stop the
    guest: 'shutdown' after a SHUTDOWN event, else it crashed (libvirt's monitor EOF handling)."""
    if obj.generation != gen or obj.being_destroyed:
        return
    obj.wake_all()
    host.defer(partial(_handle_eof, host, obj, gen))


def _handle_eof(host: QemuHost, obj: DomainObj, gen: int) -> None:
    with obj.job:
        if obj.generation != gen or not obj.active or obj.being_destroyed:
            return
        obj.being_destroyed = True
        if not P.wait_exit(obj.pid, 10.0, obj.proc):  # it closed its monitor but does not exit
            P.kill(obj.pid, graceful=False, proc=obj.proc, term_timeout=5.0)
        if obj.got_shutdown:
            reason, detail = DomainShutoffReason.SHUTDOWN, DomainEventStoppedDetail.SHUTDOWN
        else:
            reason, detail = DomainShutoffReason.CRASHED, DomainEventStoppedDetail.FAILED
        ref = obj.ref()
        L.cleanup(host, obj, reason)
    host.emit("domain", DomainEventID.LIFECYCLE, ref, int(Ev.STOPPED), int(detail))
