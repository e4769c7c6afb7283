"""Starting, stopping and reconnecting to guests: QEMU with -S, its monitor, its cgroup, then cont.

``start`` runs a definition: the driver's start-time preparation and command line (``prepare`` and
``command.build``), a private directory with the master key, the monitor socket, QEMU spawned
without a shell, placed in the guest's cgroup with its tunables applied, the QMP handshake, then
``cont`` (unless the guest starts paused). ``stop`` cleans up after a QEMU that is gone, whoever
ended it. ``reattach`` reconnects to a QEMU a previous driver process started.
"""

from __future__ import annotations

import contextlib
import logging
import os
from copy import deepcopy
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree
from virt.core.enums import (
    DomainCrashedReason,
    DomainEventID,
    DomainPausedReason,
    DomainPMSuspendedReason,
    DomainRunningReason,
    DomainShutdownReason,
    DomainShutoffReason,
)
from virt.core.enums import DomainEventStartedDetail as Started
from virt.core.enums import DomainEventSuspendedDetail as Suspended
from virt.core.enums import DomainEventType as Ev
from virt.core.enums import DomainState as S
from virt.driver.qemu import dac, netplug
from virt.driver.qemu import definition as D
from virt.driver.qemu import process as P
from virt.driver.qemu import xmlutil as X
from virt.driver.qemu.state import DomainObj, process_start_time, replace_file, write_status
from virt.util.errors import ErrorDomain, OperationFailedError, VirtError
from virt.util.fileutil import make_dirs, unlink_if_exists

if TYPE_CHECKING:
    from virt.driver.qemu.host import QemuHost

log = logging.getLogger(__name__)
QEMU = ErrorDomain.QEMU
#: How long QEMU may take to greet on its monitor (a loaded host starting many guests is slow).
START_TIMEOUT = 60.0
#: QEMU run states (query-status) as libvirt's domain states.
RUN_STATES: dict[str, tuple[int, int]] = {
    "running": (S.RUNNING, DomainRunningReason.UNKNOWN),
    "shutdown": (S.SHUTDOWN, DomainShutdownReason.UNKNOWN),
    "suspended": (S.PMSUSPENDED, DomainPMSuspendedReason.UNKNOWN),
    "guest-panicked": (S.CRASHED, DomainCrashedReason.PANICKED),
    "io-error": (S.PAUSED, DomainPausedReason.IOERROR),
    "watchdog": (S.PAUSED, DomainPausedReason.WATCHDOG),
    "inmigrate": (S.PAUSED, DomainPausedReason.MIGRATION),
    "postmigrate": (S.PAUSED, DomainPausedReason.MIGRATION),
    "finish-migrate": (S.PAUSED, DomainPausedReason.MIGRATION),
    "save-vm": (S.PAUSED, DomainPausedReason.SAVE),
    "restore-vm": (S.PAUSED, DomainPausedReason.UNKNOWN),
    "prelaunch": (S.PAUSED, DomainPausedReason.STARTING_UP),
}


def emit_lifecycle(host: QemuHost, obj: DomainObj, event: int, detail: int) -> None:
    host.emit("domain", DomainEventID.LIFECYCLE, obj.ref(), int(event), int(detail))


def save_status(host: QemuHost, obj: DomainObj) -> None:
    with host.lock:
        if obj.live is not None:
            write_status(host.settings, obj)


# ----------------------------------------------------------------------------------------- start
def start(host: QemuHost, obj: DomainObj, source: Any, *, paused: bool = False,
          reason: int = DomainRunningReason.BOOTED, detail: int = Started.BOOTED,
          incoming: Any = None, emit: bool = True, before_cont: Any = None) -> None:
    """Run definition ``source`` (an XML tree, copied) as ``obj``. The caller holds ``obj.job``.

    ``incoming(mon)``, when given, feeds QEMU a saved state (``-incoming defer``) before it runs;
    ``before_cont(mon)`` runs once QEMU is up, before its CPUs start (loading a snapshot).
    """
    from virt.driver.qemu.command import build
    from virt.driver.qemu.prepare import prepare
    from virt.driver.qemu.secondary import Secondary

    s, cfg = host.settings, host.cfg
    tree = deepcopy(source)
    binary = D.emulator_for(tree)
    caps = host.caps(binary)
    D.check_virt_type(tree, caps)
    dom_id = host.allocate_id()
    unlink_if_exists(s.stopped_file(obj.name))
    private = s.lib_dir / f"domain-{dom_id}-{obj.name[:20]}"
    P.remove_tree(private)
    make_dirs(private, 0o750)
    key = os.urandom(32)
    replace_file(private / "master-key.aes", key, mode=0o600)
    ports: list[int] = []

    def port() -> int:
        ports.append(host.ports.allocate())
        return ports[-1]

    net_fds: dict[str, list[int]] = {}
    dom = None
    try:
        with Secondary(s) as sec:  # pool volumes: asked of the storage driver of the same URI
            dom = prepare(tree, caps, cfg, for_start=True, id=dom_id, master_key=key, port_allocator=port,
                          volume_resolver=sec.volume)
        for net in dom.all("interface"):
            opened = netplug.open_interface(host, net, dom.virt_type, (obj.name, str(obj.uuid)))
            if opened:
                net_fds[X.alias(net) or ""] = opened["tap"]
                if "vhost" in opened:
                    net_fds[f"{X.alias(net)}.vhost"] = opened["vhost"]
        cmd = build(dom, str(private))
    except BaseException:
        netplug.close_fds(net_fds)
        if dom is not None:
            release_interfaces(host, dom.root)
        host.ports.release(ports)
        P.remove_tree(private)
        raise
    assert dom is not None
    live = dom.root
    next_node = _record_disk_nodes(dom)
    _record_display_ports(live, cmd.argv)
    runtime: dict[str, Any] = {"private_dir": str(private), "monitor": str(private / "monitor.sock"),
                               "emulator": binary, "ports": ports, "next_node": next_node,
                               "qemu_version": list(caps.version_tuple())}
    user = host.run_as()
    try:
        runtime["dac"] = dac.label(private, live, user)
    except BaseException:
        netplug.close_fds(net_fds)
        release_interfaces(host, live)
        host.ports.release(ports)
        P.remove_tree(private)
        raise
    log_path = s.log_file(obj.name)
    listener = P.unix_listen(private / "monitor.sock")
    client = P.unix_connect(private / "monitor.sock")
    try:
        argv = P.with_fds(cmd.argv, {"monitor": [listener.fileno()], **net_fds})
        if incoming is not None:
            argv += ["-incoming", "defer"]
        env = dict(cmd.env)
        env["USER"] = env["LOGNAME"] = cfg.user
        passed = [listener.fileno()] + [fd for group in net_fds.values() for fd in group]
        proc, log_offset = P.spawn(argv, env, passed, log_path, user)
    except BaseException:
        client.close()
        release_interfaces(host, live)  # the descriptors are closed below
        host.ports.release(ports)
        dac.restore(runtime.get("dac", {}))
        P.remove_tree(private)
        raise
    finally:
        listener.close()
        netplug.close_fds(net_fds)
    with host.lock:
        obj.generation += 1
        gen = obj.generation
        obj.proc, obj.pid, obj.id = proc, proc.pid, dom_id
        obj.live, obj.runtime = live, runtime
        obj.being_destroyed = obj.got_shutdown = obj.fake_reboot = False
        obj.paused_reason = DomainPausedReason.UNKNOWN
        obj.set_state(S.PAUSED, DomainPausedReason.STARTING_UP)
    runtime["start_time"] = process_start_time(proc.pid)
    try:
        from virt.driver.qemu import events
        from virt.driver.qemu.qmp import MonitorClosedError, QMPClient

        runtime["cgroup"] = place_in_cgroup(host, obj, proc.pid, live)
        mon = QMPClient(client, on_event=partial(events.dispatch, host, obj, gen),
                        on_eof=partial(events.on_eof, host, obj, gen))
        obj.mon = mon
        try:
            mon.negotiate(timeout=START_TIMEOUT)
        except MonitorClosedError:
            P.wait_exit(proc.pid, 5, proc)
            raise P.startup_error(log_path, log_offset) from None
        if any(el.get("type") == "pty" for el in _chardevs(live)):
            _record_ptys(mon, live)
        if incoming is not None:
            incoming(mon)
            reason = DomainRunningReason.RESTORED
        if before_cont is not None:
            before_cont(mon)
        _record_virtio_ports(mon, live)
        if paused:
            obj.set_state(S.PAUSED, DomainPausedReason.USER)
        else:
            obj.set_state(S.RUNNING, reason)
            try:
                mon.execute("cont")
            except MonitorClosedError:
                P.wait_exit(proc.pid, 5, proc)
                raise P.startup_error(log_path, log_offset, "qemu unexpectedly closed the monitor") from None
        save_status(host, obj)
    except BaseException:
        _abort_start(host, obj, proc)
        host.ports.release(ports)
        raise
    if emit:
        emit_lifecycle(host, obj, Ev.STARTED, detail)
        if paused:
            emit_lifecycle(host, obj, Ev.SUSPENDED, Suspended.PAUSED)


def _abort_start(host: QemuHost, obj: DomainObj, proc: Any) -> None:
    obj.being_destroyed = True
    P.kill(proc.pid, graceful=False, proc=proc, term_timeout=2.0)
    try:
        cleanup(host, obj, DomainShutoffReason.FAILED)
    except VirtError as err:
        log.warning("cleanup after a failed start of '%s': %s", obj.name, err)


def _chardevs(live: Any) -> list[Any]:
    return [el for tag in ("serial", "parallel", "console", "channel") for el in live.findall(f"devices/{tag}")]


def _record_ptys(mon: Any, live: Any) -> None:
    """The pseudo-terminals QEMU opened for pty character devices, on the live definition (as
    libvirt shows them: <source path>, and the console's tty)."""
    ptys = {c.get("label"): str(c.get("filename", ""))[4:] for c in mon.execute("query-chardev")
            if str(c.get("filename", "")).startswith("pty:")}
    by_alias: dict[str, str] = {}
    for el in _chardevs(live):
        path = ptys.get(f"char{X.alias(el)}") or by_alias.get(X.alias(el) or "")
        if el.get("type") != "pty" or not path:
            continue
        by_alias[X.alias(el) or ""] = path
        src = el.find("source")
        if src is None:
            src = etree.Element("source")
            el.insert(0, src)
        src.set("path", path)
        if el.tag == "console":
            el.set("tty", path)
    for el in live.findall("devices/console"):
        # The first console is the first serial port: it shares its terminal.
        serial = live.find("devices/serial")
        if el.get("type") == "pty" and el.get("tty") is None and serial is not None:
            path = X.get(serial, "source", "path")
            if path:
                el.set("tty", path)
                src = el.find("source")
                if src is None:
                    src = etree.SubElement(el, "source")
                src.set("path", path)


def _record_virtio_ports(mon: Any, live: Any) -> None:
    """Whether the guest has each virtio channel open (its target's ``state``, as libvirt shows it;
    VSERPORT_CHANGE events keep it current)."""
    channels = [ch for ch in live.findall("devices/channel") if X.get(ch, "target", "type") == "virtio"
                and ch.get("type") in ("unix", "pty", "spicevmc")]
    if not channels:
        return
    opened = {c.get("label"): bool(c.get("frontend-open")) for c in mon.execute("query-chardev")}
    for ch in channels:
        target = ch.find("target")
        label = f"char{X.alias(ch)}"
        if target is not None and label in opened:
            target.set("state", "connected" if opened[label] else "disconnected")


def _record_display_ports(live: Any, argv: list[str]) -> None:
    """The display ports picked for autoport graphics, on the live definition."""
    for i, arg in enumerate(argv[:-1]):
        if arg == "-vnc":
            g = next((g for g in live.findall("devices/graphics") if g.get("type") == "vnc"), None)
            opt = argv[i + 1].split(",", 1)[0]
            if g is not None and ":" in opt and not opt.startswith("unix:") and opt.rsplit(":", 1)[1].isdigit():
                g.set("port", str(5900 + int(opt.rsplit(":", 1)[1])))
        elif arg == "-spice":
            g = next((g for g in live.findall("devices/graphics") if g.get("type") == "spice"), None)
            for part in argv[i + 1].split(","):
                key, _, value = part.partition("=")
                if g is not None and key in ("port", "tls-port") and value.isdigit():
                    g.set("port" if key == "port" else "tlsPort", value)


def _record_disk_nodes(dom: Any) -> int:
    """Note each disk's block node names on its live element (hot-unplug needs them); returns the
    next free node number."""
    from types import SimpleNamespace

    from virt.driver.qemu import blockdev

    disks = dom.all("disk")
    chains = blockdev.assign_node_ids(SimpleNamespace(dom=dom))  # type: ignore[arg-type]
    top = 0
    for i, chain_top in chains.items():
        nodes = [n for src in blockdev.sources(chain_top)
                 for n in (f"libvirt-{src.id}-format", f"libvirt-{src.id}-storage")]
        X.set_priv(disks[i], "nodes", " ".join(nodes))
        top = max([top] + [src.id for src in blockdev.sources(chain_top)])
    return max(top, len(disks)) + 1


# ----------------------------------------------------------------------------------------- cgroups
#: The controllers a guest's group is made in (libvirt's default cgroup_controllers for QEMU). Only
#: these: each move of a process into a group takes a kernel-wide lock, so every extra hierarchy
#: slows down guests started side by side.
CGROUP_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "devices", "blkio", "io")
#: Scheduler tunables: a guest joins a group of the "cpu" controller only when it has one of these
#: (at start, or when one is set later). A group of its own makes the scheduler weigh the guest as a
#: group against the rest of the host, which, with many guests starting at once, starves them
#: against the driver itself; without tunables there is nothing the group would enforce.
CPU_TUNABLES = ("cputune/shares", "cputune/period", "cputune/quota")


def needs_cpu(tree: Any) -> bool:
    return any(tree.find(path) is not None for path in CPU_TUNABLES)


def _hierarchies(layout: Any, cpu: bool) -> set[str]:
    """Keys of the hierarchies a guest's group is made in."""
    wanted = set(CGROUP_CONTROLLERS)
    return {h.key for h in layout.hierarchies
            if h.controllers & wanted and (cpu or h.version == 2 or "cpu" not in h.controllers)}


def ensure_cpu_group(host: QemuHost, obj: DomainObj) -> Any:
    """The guest's group, moved into the "cpu" controller's hierarchy too if it was not there."""
    from virt.util.cgroup import Cgroup

    group = cgroup_of(host, obj)
    layout = host.cgroup_layout
    if group is None or layout is None:
        return group
    missing = _hierarchies(layout, True) - set(group.dirs)
    if missing:
        whole = Cgroup.machine(obj.name, host.settings.cgroup_driver, layout)
        extra = Cgroup(layout, {k: whole.dirs[k] for k in missing})
        extra.create()
        extra.add_pid(obj.pid)
        with host.lock:
            obj.runtime["cgroup"] = {**obj.runtime.get("cgroup", {}), **extra.to_dict()}
        save_status(host, obj)
        group = cgroup_of(host, obj)
    return group
#: Tunables of the domain XML applied to the guest's cgroup: (element path, cgroup tunable).
CGROUP_TUNABLES: tuple[tuple[str, str], ...] = (
    ("cputune/shares", "cpu.shares"),
    ("cputune/period", "cpu.cfs_period"),
    ("memtune/hard_limit", "memory.hard_limit"),
    ("memtune/soft_limit", "memory.soft_limit"),
    ("memtune/swap_hard_limit", "memory.swap_hard_limit"),
    ("blkiotune/weight", "blkio.weight"),
)


def cgroup_of(host: QemuHost, obj: DomainObj) -> Any:
    from virt.util.cgroup import Cgroup

    dirs = obj.runtime.get("cgroup")
    layout = host.cgroup_layout
    if not dirs or layout is None:
        return None
    return Cgroup.from_dict(dirs, layout)


def place_in_cgroup(host: QemuHost, obj: DomainObj, pid: int, tree: Any) -> dict[str, str] | None:
    """Put QEMU in the guest's own group (libvirt's machine partition) and apply its tunables."""
    from virt.util.cgroup import Cgroup

    layout = host.cgroup_layout
    if layout is None:
        return None
    whole = Cgroup.machine(obj.name, host.settings.cgroup_driver, layout)
    group = Cgroup(layout, {k: v for k, v in whole.dirs.items() if k in _hierarchies(layout, needs_cpu(tree))})
    if group.exists():  # left by a guest of the same name that died with its driver
        group.kill_all()
        group.remove()
    group.create()
    from virt.driver.qemu import devacl

    devacl.apply(group, tree, host.cfg)
    group.add_pid(pid)
    apply_tunables(group, tree)
    return group.to_dict()


def apply_tunables(group: Any, tree: Any) -> None:
    """cputune/memtune/blkiotune values of ``tree`` written to ``group``."""
    for path, tunable in CGROUP_TUNABLES:
        el = tree.find(path)
        if el is None or not (el.text or "").strip():
            continue
        value = int(X.parse_size_kib(el, 0) or 0) if path.startswith("memtune") else int(el.text.strip())
        _set_tunable(group, tunable, value)
    quota = tree.find("cputune/quota")
    if quota is not None and (quota.text or "").strip():
        # The XML's quota is per vCPU; the guest's group as a whole gets it once per vCPU.
        per_vcpu = int(quota.text.strip())
        total = per_vcpu * D.vcpus(tree)[0] if per_vcpu > 0 else -1
        _set_tunable(group, "cpu.cfs_quota", total)


def _set_tunable(group: Any, tunable: str, value: int) -> None:
    if not group.supports(tunable):
        raise OperationFailedError(f"cgroup tunable '{tunable}' is not available on this host", domain=QEMU)
    group.set(tunable, value)


# ----------------------------------------------------------------------------------------- stop
def release_interfaces(host: QemuHost, tree: Any) -> None:
    """What interfaces hold beyond QEMU's life: the tc state that outlives a tap, network ports."""
    from virt.driver.qemu import bandwidth

    for net in tree.findall("devices/interface"):
        try:
            bandwidth.clear(net)
        except VirtError as err:
            log.warning("cannot clear the bandwidth of '%s': %s", X.get(net, "target", "dev"), err)
        netplug.release_interface(host, net)


def cleanup(host: QemuHost, obj: DomainObj, reason: int) -> None:
    """QEMU is gone: release what the guest held and mark it shut off (libvirt's qemuProcessStop)."""
    mon, obj.mon = obj.mon, None
    if mon is not None:
        mon.close()
    obj.wake_all()
    group = cgroup_of(host, obj)
    if group is not None:
        try:
            if group.exists():
                group.kill_all()
                group.remove()
        except VirtError as err:
            log.warning("cannot remove the cgroup of '%s': %s", obj.name, err)
    dac.restore(obj.runtime.get("dac", {}))
    if obj.live is not None:
        release_interfaces(host, obj.live)
    private = obj.runtime.get("private_dir")
    if private:
        P.remove_tree(Path(private))
    host.ports.release(obj.runtime.get("ports", []))
    unlink_if_exists(host.settings.status_file(obj.name))
    if obj.config is not None:
        # Why it stopped, for the next driver process to report (libvirt's daemon remembers it).
        with contextlib.suppress(VirtError):
            replace_file(host.settings.stopped_file(obj.name), _reason_word(reason), mode=0o600)
    P.log_line(host.settings.log_file(obj.name), f"shutting down, reason={_reason_word(reason)}")
    with host.lock:
        obj.live, obj.proc, obj.pid, obj.id, obj.runtime = None, None, 0, -1, {}
        obj.set_state(S.SHUTOFF, reason)
        obj.being_destroyed = obj.got_shutdown = obj.fake_reboot = False
        if obj.config is None:
            host.domains.pop(obj.uuid, None)


def _reason_word(reason: int) -> str:
    return DomainShutoffReason(reason).name.lower() if reason in DomainShutoffReason._value2member_map_ \
        else "unknown"


def kill_and_cleanup(host: QemuHost, obj: DomainObj, reason: int, *, graceful: bool = False) -> bool:
    """End QEMU (SIGTERM, then SIGKILL unless ``graceful``) and clean up. The caller holds the job."""
    obj.being_destroyed = True
    pid = obj.pid
    gone = not P.same_process(pid, obj.runtime.get("start_time")) or \
        P.kill(pid, graceful=graceful, proc=obj.proc)
    if not gone:
        obj.being_destroyed = False
        return False
    cleanup(host, obj, reason)
    return True


# ----------------------------------------------------------------------------------------- reattach
def reattach(host: QemuHost, obj: DomainObj, path: Path, live: Any, runtime: dict[str, Any], pid: int,
             dom_id: int, state: int, reason: int) -> None:
    """Reconnect to a guest a previous driver started (status file ``path``), or clean up after it."""
    from virt.driver.qemu import events
    from virt.driver.qemu.qmp import QMPClient

    with host.lock:
        obj.live, obj.runtime, obj.pid, obj.id = live, runtime, pid, dom_id
        obj.generation += 1
        gen = obj.generation
        obj.set_state(state, reason)
    if not P.same_process(pid, runtime.get("start_time")):
        cleanup(host, obj, DomainShutoffReason.UNKNOWN)  # it ended while no driver watched
        return
    try:
        sock = P.unix_connect(runtime["monitor"], timeout=5)
        mon = QMPClient(sock, on_event=partial(events.dispatch, host, obj, gen),
                        on_eof=partial(events.on_eof, host, obj, gen))
        obj.mon = mon
        mon.negotiate(timeout=10)
        status = mon.execute("query-status", timeout=10)
    except (VirtError, OSError, KeyError) as err:
        log.warning("cannot reconnect to QEMU of '%s' (pid %d): %s; stopping it", obj.name, pid, err)
        kill_and_cleanup(host, obj, DomainShutoffReason.FAILED)
        return
    host.ports.used.update(runtime.get("ports", []))
    qstate = str(status.get("status", "running"))
    new_state, new_reason = RUN_STATES.get(qstate, (S.PAUSED, DomainPausedReason.UNKNOWN))
    with host.lock:
        if new_state != state:
            obj.set_state(new_state, new_reason)
    if new_state == S.SHUTDOWN:
        # The guest powered off while no driver watched: finish it as the SHUTDOWN event would have.
        obj.got_shutdown = True
        host.defer(partial(events.after_shutdown, host, obj, gen))
    else:
        save_status(host, obj)


def monitor(obj: DomainObj) -> Any:
    from virt.util.errors import OperationInvalidError

    mon = obj.mon
    if mon is None:
        raise OperationInvalidError("domain is not running", domain=QEMU)
    return mon


class Timer:
    """A deadline for loops that wait on a guest."""

    def __init__(self, seconds: float) -> None:
        import time

        self._end = time.monotonic() + seconds

    def left(self) -> float:
        import time

        return max(0.0, self._end - time.monotonic())

