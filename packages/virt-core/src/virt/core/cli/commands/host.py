"""Host and hypervisor commands (nodeinfo, capabilities, version, uri, ...) and `event`."""

from __future__ import annotations

import threading
import time
from typing import Any

from virt.core.cli.engine import Context
from virt.core.cli.output import Fields, Table, Text
from virt.core.cli.parse import Args, CLIError
from virt.core.cli.spec import Command, CommandGroup, flag, number, string

from .common import call, domain, version_string, wait_for_events


def cmd_nodeinfo(ctx: Context, args: Args) -> Any:
    info = call("failed to get node information", ctx.conn.node_info)
    out = Fields(width=20)
    out.add("CPU model:", info.model)
    out.add("CPU(s):", info.cpus)
    out.add("CPU frequency:", f"{info.mhz} MHz", info.mhz)
    out.add("CPU socket(s):", info.sockets)
    out.add("Core(s) per socket:", info.cores)
    out.add("Thread(s) per core:", info.threads)
    out.add("NUMA cell(s):", info.nodes)
    out.add("Memory size:", f"{info.memory} KiB", info.memory)
    return out


def cmd_nodememstats(ctx: Context, args: Args) -> Any:
    cell = args.int("cell", -1)
    stats = call("Unable to get number of memory stats", ctx.conn.call, "node_get_memory_stats", cell, 0)
    items = list(stats.items()) if isinstance(stats, dict) else list(stats)
    return Text("".join(f"{k:<7} {v:>20} KiB\n" for k, v in items), value=dict(items))


def cmd_capabilities(ctx: Context, args: Args) -> Any:
    caps = call("failed to get capabilities", ctx.conn.get_capabilities)
    return Text(caps + "\n", value=caps)  # virsh adds a newline to the document's own


def cmd_domcapabilities(ctx: Context, args: Args) -> Any:
    caps = call("failed to get emulator capabilities", ctx.conn.get_domain_capabilities,
                args.string("emulatorbin"), args.string("arch"), args.string("machine"),
                args.string("virttype"), 0)
    return Text(caps + "\n", value=caps)  # as capabilities: one newline more than the document


def cmd_hostname(ctx: Context, args: Args) -> Any:
    return Text(call("failed to get hostname", ctx.conn.get_hostname))


def cmd_sysinfo(ctx: Context, args: Args) -> Any:
    return Text(call("failed to get sysinfo", ctx.conn.get_sysinfo, 0))


def cmd_uri(ctx: Context, args: Args) -> Any:
    return Text(call("failed to get URI", ctx.conn.get_uri))


def cmd_version(ctx: Context, args: Args) -> Any:
    from virt.util.errors import ErrorNumber, VirtError

    conn = ctx.conn
    lib = call("failed to get the library version", conn.get_lib_version)
    hv_type = call("failed to get hypervisor type", conn.get_type)
    lines = [f"Compiled against library: libvirt {version_string(lib)}",
             f"Using library: libvirt {version_string(lib)}",
             f"Using API: {hv_type} {version_string(lib)}"]
    value: dict[str, Any] = {"library": version_string(lib), "api": hv_type}
    try:
        hv = conn.get_version()
        lines.append(f"Running hypervisor: {hv_type} {version_string(hv)}")
        value["hypervisor"] = version_string(hv)
    except VirtError as exc:
        if exc.code != ErrorNumber.NO_SUPPORT:
            raise CLIError("failed to get the hypervisor version", cause=exc) from None
        lines.append(f"Cannot extract running {hv_type} hypervisor version")
    if args.bool("daemon"):
        daemon = call("failed to get the daemon version", conn.get_lib_version)
        lines.append(f"Running against daemon: {version_string(daemon)}")
        value["daemon"] = version_string(daemon)
    return Text("\n".join(lines), value=value)


def cmd_freecell(ctx: Context, args: Args) -> Any:
    free = call("failed to get the free memory", ctx.conn.free_memory)
    return Text(f"Total: {free // 1024} KiB", value=free // 1024)  # bytes -> KiB, as virsh prints it


# -- events --------------------------------------------------------------------------------------------
EVENT_NAMES = ("lifecycle", "reboot", "rtc-change", "watchdog", "io-error", "graphics", "io-error-reason",
               "control-error", "block-job", "disk-change", "tray-change", "pm-wakeup", "pm-suspend",
               "balloon-change", "pm-suspend-disk", "device-removed", "block-job-2", "tunable",
               "agent-lifecycle", "device-added", "migration-iteration", "job-completed",
               "device-removal-failed", "metadata-change", "block-threshold", "memory-failure",
               "memory-device-size-change")

_LIFECYCLE = ("Defined", "Undefined", "Started", "Suspended", "Resumed", "Stopped", "Shutdown", "PMSuspended",
              "Crashed")
_LIFECYCLE_DETAIL = (
    ("Added", "Updated", "Renamed", "Snapshot"),
    ("Removed", "Renamed"),
    ("Booted", "Migrated", "Restored", "Snapshot", "Event wakeup"),
    ("Paused", "Migrated", "I/O Error", "Watchdog", "Restored", "Snapshot", "API error", "Post-copy",
     "Post-copy Error"),
    ("Unpaused", "Migrated", "Snapshot", "Post-copy", "Post-copy Error"),
    ("Shutdown", "Destroyed", "Crashed", "Migrated", "Saved", "Failed", "Snapshot"),
    ("Finished", "Finished after guest request", "Finished after host request"),
    ("Memory", "Disk"),
    ("Panicked", "Crashloaded"),
)


def format_event(event: Any) -> str:
    name = EVENT_NAMES[event.event_id] if 0 <= event.event_id < len(EVENT_NAMES) else str(event.event_id)
    dom = getattr(event.obj, "name", event.obj)
    if name == "lifecycle" and len(event.payload) >= 2:
        kind, detail = int(event.payload[0]), int(event.payload[1])
        kind_text = _LIFECYCLE[kind] if 0 <= kind < len(_LIFECYCLE) else "unknown"
        details = _LIFECYCLE_DETAIL[kind] if 0 <= kind < len(_LIFECYCLE_DETAIL) else ()
        detail_text = details[detail] if 0 <= detail < len(details) else "unknown"
        return f"event '{name}' for domain '{dom}': {kind_text} {detail_text}\n"
    if not event.payload:
        return f"event '{name}' for domain '{dom}'\n"
    return f"event '{name}' for domain '{dom}': {' '.join(str(p) for p in event.payload)}\n"


def cmd_event(ctx: Context, args: Args) -> Any:
    if args.bool("list"):
        return Text("".join(n + "\n" for n in EVENT_NAMES), value=list(EVENT_NAMES))
    event_name = args.string("event")
    if not event_name and not args.bool("all"):
        raise CLIError("one of --list, --all, or --event <type> is required")
    if event_name and event_name not in EVENT_NAMES:
        raise CLIError(f"unknown event type {event_name}")
    ids = range(len(EVENT_NAMES)) if args.bool("all") else [EVENT_NAMES.index(event_name or "")]
    dom = domain(ctx, args) if args.string("domain") else None
    timeout = args.int("timeout", unsigned=True)
    loop = args.bool("loop")
    stamp = args.bool("timestamp")
    count = 0
    got = threading.Event()
    lock = threading.Lock()

    def on_event(event: Any) -> None:
        nonlocal count
        with lock:
            if not loop and count:
                return
            count += 1
            prefix = ""
            if stamp:
                now = time.time()
                prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}+0000: "
            ctx.print(prefix + format_event(event))
            ctx.out.flush()
            got.set()

    conn = ctx.conn
    subs = [conn.domain_event_register(i, on_event, dom) for i in ids]
    try:
        ending = wait_for_events(got, timeout, loop)
    finally:
        for sub in subs:
            conn.event_deregister(sub)
    # virsh says how the wait ended, and fails when nothing arrived.
    ctx.print(f"{ending}events received: {count}\n")
    return count > 0


# -- virt's own: installed drivers -----------------------------------------------------------------------
def cmd_drivers(ctx: Context, args: Args) -> Any:
    reg = ctx.get_registry()
    table = Table(["Name", "Kind", "Distribution", "Version", "URI schemes", "Objects"])
    for info in sorted(reg.drivers.values(), key=lambda d: (d.kind != "hypervisor", d.name)):
        table.add(info.name, info.kind, info.distribution or "-", info.version or "-",
                  ",".join(info.uri_schemes) or "-", ",".join(info.objects) or "-",
                  values=[info.name, info.kind, info.distribution or None, info.version or None,
                          list(info.uri_schemes), list(info.objects)])
    return table


GROUP = CommandGroup("Host and Hypervisor", "host", [
    Command("capabilities", cmd_capabilities, "capabilities", "Returns capabilities of hypervisor/driver."),
    Command("domcapabilities", cmd_domcapabilities, "domain capabilities",
            "Returns capabilities of emulator with respect to host and libvirt.",
            (string("virttype", "virtualization type (/domain/@type)"),
             string("emulatorbin", "path to emulator binary (/domain/devices/emulator)"),
             string("arch", "domain architecture (/domain/os/type/@arch)"),
             string("machine", "machine type (/domain/os/type/@machine)"))),
    Command("freecell", cmd_freecell, "NUMA free memory", "display available free memory for the NUMA cell.",
            (number("cellno", "NUMA cell number"), flag("all", "show free memory for all NUMA cells"))),
    Command("hostname", cmd_hostname, "print the hypervisor hostname", ""),
    Command("nodeinfo", cmd_nodeinfo, "node information", "Returns basic information about the node."),
    Command("nodememstats", cmd_nodememstats, "Prints memory stats of the node.",
            "Returns memory stats of the node, in kilobytes.", (number("cell", "prints specified cell statistics only."),)),
    Command("sysinfo", cmd_sysinfo, "print the hypervisor sysinfo", "output an XML string for the hypervisor sysinfo, if available"),
    Command("uri", cmd_uri, "print the hypervisor canonical URI", ""),
    Command("version", cmd_version, "show version", "Display the system version information.",
            (flag("daemon", "report daemon version too"),)),
])

EVENTS = CommandGroup("Domain Events", "events", [
    Command("event", cmd_event, "Domain Events", "List event types, or wait for domain events to occur",
            (string("domain", "filter by domain name, id or uuid"), string("event", "which event type to wait for"),
             flag("all", "wait for all events instead of just one type"), flag("loop", "loop until timeout or interrupt, rather than one-shot"),
             number("timeout", "timeout seconds"), flag("list", "list valid event types"),
             flag("timestamp", "show timestamp for each printed event"))),
])

TOOLS = CommandGroup("Virt tools", "tools", [
    Command("drivers", cmd_drivers, "list installed drivers",
            "Lists the drivers that installed plugins provide: kind, distribution, version and URI schemes.",
            needs_connection=False),
])
