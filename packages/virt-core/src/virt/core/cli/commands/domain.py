"""Domain commands: list, dominfo, lifecycle (define/start/destroy/...), memory and vCPUs, devices, stats."""

from __future__ import annotations

from typing import Any, cast

from virt.core.cli.engine import Context
from virt.core.cli.output import Fields, Message, Table, Text
from virt.core.cli.parse import Args, CLIError
from virt.core.cli.spec import (
    DOMAIN,
    FILE,
    Command,
    CommandGroup,
    argv,
    data,
    flag,
    number,
    string,
)
from virt.core.enums import (
    ConnectListAllDomainsFlags as LF,
)
from virt.core.enums import (
    DomainCreateFlags,
    DomainDestroyFlags,
    DomainDeviceModifyFlags,
    DomainMemoryModFlags,
    DomainSaveRestoreFlags,
    DomainShutdownFlags,
    DomainUndefineFlags,
    DomainVcpuFlags,
    DomainXMLFlags,
)

from .common import (
    call,
    domain,
    exclusive,
    flags_from,
    impact,
    read_xml_arg,
    state_name,
    state_reason,
)

# -- list --------------------------------------------------------------------------------------
_LIST_FILTERS = (
    ("transient", LF.TRANSIENT), ("persistent", LF.PERSISTENT),
    ("with-snapshot", LF.HAS_SNAPSHOT), ("without-snapshot", LF.NO_SNAPSHOT),
    ("with-checkpoint", LF.HAS_CHECKPOINT), ("without-checkpoint", LF.NO_CHECKPOINT),
    ("state-running", LF.RUNNING), ("state-paused", LF.PAUSED),
    ("state-shutoff", LF.SHUTOFF), ("state-other", LF.OTHER),
    ("autostart", LF.AUTOSTART), ("no-autostart", LF.NO_AUTOSTART),
    ("with-managed-save", LF.MANAGEDSAVE), ("without-managed-save", LF.NO_MANAGEDSAVE),
)
_STATE_FILTERS = ("state-running", "state-paused", "state-shutoff", "state-other")


def _sort_key(dom: Any) -> tuple[int, int, str]:
    """Running domains by id, then inactive ones by name, case-insensitively (virsh's order)."""
    dom_id = dom.ref.id
    return (0, dom_id, "") if dom_id >= 0 else (1, 0, dom.name().lower())


def cmd_list(ctx: Context, args: Args) -> Any:
    exclusive(args, ("table", "name"), ("table", "uuid"), ("table", "id"))
    flags = int(LF.ACTIVE)
    if args.bool("inactive"):
        flags = int(LF.INACTIVE)
    if args.bool("all"):
        flags = int(LF.ACTIVE | LF.INACTIVE)
    flags |= flags_from(args, _LIST_FILTERS)
    if any(args.bool(s) for s in _STATE_FILTERS) and not (args.bool("all") or args.bool("inactive")):
        flags &= ~int(LF.ACTIVE)
    doms = call("Failed to list domains", ctx.conn.list_all_domains, flags)
    doms.sort(key=_sort_key)
    opt_uuid, opt_name, opt_id = args.bool("uuid"), args.bool("name"), args.bool("id")
    if opt_uuid or opt_name or opt_id:
        lines = []
        rows = []
        for dom in doms:
            dom_id = dom.ref.id
            if opt_id and not (opt_uuid or opt_name) and dom_id < 0:
                continue
            parts = []
            if opt_uuid:
                parts.append(dom.uuid())
            if opt_id:
                parts.append(str(dom_id) if dom_id >= 0 else "-")
            if opt_name:
                parts.append(dom.name())
            lines.append(" ".join(parts) + "\n")
            rows.append({"uuid": dom.uuid(), "id": dom_id if dom_id >= 0 else None, "name": dom.name()})
        return Text("".join(lines), value=rows)
    title = args.bool("title")
    table = Table(["Id", "Name", "State"] + (["Title"] if title else []))
    for dom in doms:
        dom_id = dom.ref.id
        state, _ = dom.state()
        state_text = state_name(state)
        if args.bool("managed-save") and state == 5 and _safe(dom.has_managed_save, False):
            state_text = "saved"
        cells = ["-" if dom_id < 0 else str(dom_id), dom.name(), state_text]
        values: list[Any] = [dom_id if dom_id >= 0 else None, dom.name(), state_text]
        if title:
            text = _title(dom)
            cells.append(text)
            values.append(text)
        table.add(*cells, values=values)
    return table


def _safe(fn: Any, default: Any, *a: Any) -> Any:
    from virt.util.errors import VirtError

    try:
        return fn(*a)
    except VirtError:
        return default


def _title(dom: Any) -> str:
    from virt.core.enums import DomainMetadataType

    text = _safe(dom.get_metadata, "", int(DomainMetadataType.TITLE), None, 0)
    return (text or "").split("\n", 1)[0]


# -- information -----------------------------------------------------------------------------------
def cmd_dominfo(ctx: Context, args: Args) -> Any:
    from virt.util.errors import ErrorNumber, VirtError

    dom = domain(ctx, args)
    out = Fields()
    info = dom.info()
    dom_id = dom.ref.id if info.state not in (5, 0) or dom.ref.id >= 0 else -1
    dom_id = _safe(dom.id, dom_id)
    out.add("Id:", "-" if dom_id < 0 else dom_id, None if dom_id < 0 else dom_id)
    out.add("Name:", dom.name())
    out.add("UUID:", dom.uuid())
    os_type = _safe(ctx.conn.call, None, "domain_get_os_type", dom.ref)
    if os_type:
        out.add("OS Type:", os_type)
    out.add("State:", state_name(info.state))
    out.add("CPU(s):", info.nr_virt_cpu)
    if info.cpu_time:
        out.add("CPU time:", f"{info.cpu_time / 1e9:.1f}s", info.cpu_time)
    if info.max_mem == 2 ** 64 - 1 or info.max_mem < 0:
        out.add("Max memory:", "no limit", None)
    else:
        out.add("Max memory:", f"{info.max_mem} KiB", info.max_mem)
    out.add("Used memory:", f"{info.memory} KiB", info.memory)
    persistent = _safe(dom.is_persistent, None)
    out.add("Persistent:", "unknown" if persistent is None else ("yes" if persistent else "no"), persistent)
    autostart = _safe(dom.get_autostart, None)
    if autostart is not None:
        out.add("Autostart:", "enable" if autostart else "disable", autostart)
    managed = _safe(dom.has_managed_save, None, 0)
    out.add("Managed save:", "unknown" if managed is None else ("yes" if managed else "no"), managed)
    try:
        model = ctx.conn.call("node_get_security_model")
    except VirtError as exc:
        if exc.code != ErrorNumber.NO_SUPPORT:
            raise
        model = None
    if model and model[0]:
        out.add("Security model:", model[0])
        out.add("Security DOI:", model[1])
        label = ctx.conn.call("domain_get_security_label", dom.ref)
        if label and label[0]:
            out.add("Security label:", f"{label[0]} ({'enforcing' if label[1] else 'permissive'})", label[0])
    return out


def cmd_domstate(ctx: Context, args: Args) -> Any:
    dom = domain(ctx, args)
    state, reason = dom.state()
    if args.bool("reason"):
        return Text(f"{state_name(state)} ({state_reason(state, reason)})",
                    value={"state": state_name(state), "reason": state_reason(state, reason)})
    return Text(state_name(state), value=state_name(state))


def cmd_domid(ctx: Context, args: Args) -> Any:
    dom = domain(ctx, args)
    dom_id = dom.id()
    return Text("-" if dom_id < 0 else str(dom_id), value=None if dom_id < 0 else dom_id)


def cmd_domname(ctx: Context, args: Args) -> Any:
    return Text(domain(ctx, args).name())


def cmd_domuuid(ctx: Context, args: Args) -> Any:
    return Text(domain(ctx, args).uuid())


def cmd_dumpxml(ctx: Context, args: Args) -> Any:
    dom = domain(ctx, args)
    flags = flags_from(args, (("inactive", DomainXMLFlags.INACTIVE), ("security-info", DomainXMLFlags.SECURE),
                              ("update-cpu", DomainXMLFlags.UPDATE_CPU), ("migratable", DomainXMLFlags.MIGRATABLE)))
    return Text(dom.xml_desc(flags))


# -- lifecycle ---------------------------------------------------------------------------------------
def cmd_define(ctx: Context, args: Args) -> Any:
    path, xml = read_xml_arg(args)
    flags = flags_from(args, (("validate", 1),))
    dom = call(f"Failed to define domain from {path}", ctx.conn.define_domain, xml, flags)
    return Message(f"Domain '{dom.name()}' defined from {path}")


def cmd_create(ctx: Context, args: Args) -> Any:
    path, xml = read_xml_arg(args)
    flags = flags_from(args, (("paused", DomainCreateFlags.PAUSED), ("autodestroy", DomainCreateFlags.AUTODESTROY),
                              ("validate", DomainCreateFlags.VALIDATE)))
    dom = call(f"Failed to create domain from {path}", ctx.conn.create_domain, xml, flags)
    return Message(f"Domain '{dom.name()}' created from {path}")


def cmd_start(ctx: Context, args: Args) -> Any:
    dom = domain(ctx, args, by_id=False)
    if dom.ref.id >= 0 or _safe(dom.is_active, False):
        raise CLIError("Domain is already active")
    flags = flags_from(args, (("paused", DomainCreateFlags.PAUSED), ("autodestroy", DomainCreateFlags.AUTODESTROY),
                              ("bypass-cache", DomainCreateFlags.BYPASS_CACHE),
                              ("force-boot", DomainCreateFlags.FORCE_BOOT),
                              ("reset-nvram", DomainCreateFlags.RESET_NVRAM)))
    call(f"Failed to start domain '{dom.name()}'", dom.create, flags)
    return Message(f"Domain '{dom.name()}' started")


def _simple(call_name: str, done: str, fail: str, flag_table: tuple[tuple[str, int], ...] | None = None) -> Any:
    """A command that looks the domain up, makes one call and prints one line (suspend, reset, ...).

    With ``flag_table`` (possibly empty) the call takes a flags argument."""

    def handler(ctx: Context, args: Args) -> Any:
        dom = domain(ctx, args)
        extra = (flags_from(args, flag_table),) if flag_table is not None else ()
        call(fail.format(dom.name()), ctx.conn.call, call_name, dom.ref, *extra)
        return Message(done.format(dom.name()))

    return handler


_SHUTDOWN_MODES = {"acpi": DomainShutdownFlags.ACPI_POWER_BTN, "agent": DomainShutdownFlags.GUEST_AGENT,
                   "initctl": DomainShutdownFlags.INITCTL, "signal": DomainShutdownFlags.SIGNAL,
                   "paravirt": DomainShutdownFlags.PARAVIRT}


def _modes(args: Args) -> int:
    flags = 0
    for mode in (args.string("mode") or "").split(","):
        if not mode:
            continue
        if mode not in _SHUTDOWN_MODES:
            raise CLIError(f"Unknown mode {mode} value, expecting 'acpi', 'agent', 'initctl', 'signal' or 'paravirt'")
        flags |= int(_SHUTDOWN_MODES[mode])
    return flags


def cmd_shutdown(ctx: Context, args: Args) -> Any:
    dom = domain(ctx, args)
    flags = _modes(args)
    call(f"Failed to shutdown domain '{dom.name()}'", dom.shutdown, flags)
    return Message(f"Domain '{dom.name()}' is being shutdown")


def cmd_reboot(ctx: Context, args: Args) -> Any:
    dom = domain(ctx, args)
    flags = _modes(args)
    call(f"Failed to reboot domain '{dom.name()}'", dom.reboot, flags)
    return Message(f"Domain '{dom.name()}' is being rebooted")


def cmd_undefine(ctx: Context, args: Args) -> Any:
    exclusive(args, ("nvram", "keep-nvram"), ("tpm", "keep-tpm"))
    dom = domain(ctx, args)
    flags = flags_from(args, (("managed-save", DomainUndefineFlags.MANAGED_SAVE),
                              ("snapshots-metadata", DomainUndefineFlags.SNAPSHOTS_METADATA),
                              ("checkpoints-metadata", DomainUndefineFlags.CHECKPOINTS_METADATA),
                              ("nvram", DomainUndefineFlags.NVRAM), ("keep-nvram", DomainUndefineFlags.KEEP_NVRAM),
                              ("tpm", DomainUndefineFlags.TPM), ("keep-tpm", DomainUndefineFlags.KEEP_TPM)))
    if args.bool("remove-all-storage") or args.string("storage"):
        _remove_storage(ctx, dom, args)
    call(f"Failed to undefine domain '{dom.name()}'", dom.undefine, flags)
    return Message(f"Domain '{dom.name()}' has been undefined")


def _remove_storage(ctx: Context, dom: Any, args: Args) -> None:
    """--storage / --remove-all-storage: delete the volumes behind the domain's disks."""
    from xml.etree import ElementTree as ET

    wanted = set((args.string("storage") or "").split(",")) - {""}
    root = ET.fromstring(dom.xml_desc(DomainXMLFlags.INACTIVE))
    for disk in root.iter("disk"):
        target_el = disk.find("target")
        target = (target_el.get("dev") if target_el is not None else "") or ""
        source = disk.find("source")
        path = ""
        if source is not None:
            path = source.get("file") or source.get("dev") or source.get("volume") or ""
        if not args.bool("remove-all-storage") and target not in wanted and path not in wanted:
            continue
        if not path:
            continue
        try:
            vol = ctx.conn.lookup_storage_vol_by_path(path)
            if args.bool("wipe-storage"):
                vol.wipe(0)
            vol.delete(0)
            ctx.print(f"Volume '{target}'({path}) removed.\n")
        except Exception as exc:
            ctx.error(f"Failed to remove storage volume '{target}'({path})")
            from virt.core.cli.engine import report

            report(ctx, exc)


def cmd_autostart(ctx: Context, args: Args) -> Any:
    dom = domain(ctx, args)
    disable = args.bool("disable")
    name = dom.name()
    if disable:
        call(f"Failed to unmark domain '{name}' as autostarted", dom.set_autostart, 0)
        return Message(f"Domain '{name}' unmarked as autostarted")
    call(f"Failed to mark domain '{name}' as autostarted", dom.set_autostart, 1)
    return Message(f"Domain '{name}' marked as autostarted")


def cmd_managedsave(ctx: Context, args: Args) -> Any:
    dom = domain(ctx, args)
    flags = flags_from(args, (("bypass-cache", DomainSaveRestoreFlags.BYPASS_CACHE),
                              ("running", DomainSaveRestoreFlags.RUNNING), ("paused", DomainSaveRestoreFlags.PAUSED)))
    exclusive(args, ("running", "paused"))
    call(f"Failed to save domain '{dom.name()}' state", dom.managed_save, flags)
    return Message(f"\nDomain '{dom.name()}' state saved by libvirt")


def cmd_managedsave_remove(ctx: Context, args: Args) -> Any:
    dom = domain(ctx, args)
    name = dom.name()
    has = call("Failed to check for domain managed save image", dom.has_managed_save, 0)
    if not has:
        return Message(f"Domain '{name}' has no manage save image; removal skipped", newline=False)
    call(f"Failed to remove managed save image for domain '{name}'", dom.managed_save_remove, 0)
    return Message(f"Removed managedsave image for domain '{name}'", newline=False)


def cmd_save(ctx: Context, args: Args) -> Any:
    dom = domain(ctx, args)
    path = args.string("file") or ""
    exclusive(args, ("running", "paused"))
    flags = flags_from(args, (("bypass-cache", DomainSaveRestoreFlags.BYPASS_CACHE),
                              ("running", DomainSaveRestoreFlags.RUNNING), ("paused", DomainSaveRestoreFlags.PAUSED)))
    xml = None
    if args.string("xml"):
        from .common import read_file

        xml = read_file(args.string("xml") or "")
    call(f"Failed to save domain '{dom.name()}' to {path}", dom.save, path, xml, flags)
    return Message(f"\nDomain '{dom.name()}' saved to {path}")


def cmd_restore(ctx: Context, args: Args) -> Any:
    path = args.string("file") or ""
    exclusive(args, ("running", "paused"))
    flags = flags_from(args, (("bypass-cache", DomainSaveRestoreFlags.BYPASS_CACHE),
                              ("running", DomainSaveRestoreFlags.RUNNING), ("paused", DomainSaveRestoreFlags.PAUSED),
                              ("reset-nvram", DomainSaveRestoreFlags.RESET_NVRAM)))
    xml = None
    if args.string("xml"):
        from .common import read_file

        xml = read_file(args.string("xml") or "")
    call(f"Failed to restore domain from {path}", ctx.conn.restore_domain, path, xml, flags)
    return Message(f"Domain restored from {path}")


# -- memory and vCPUs ------------------------------------------------------------------------------------
def cmd_setmem(ctx: Context, args: Args) -> Any:
    dom = domain(ctx, args)
    flags = impact(args)
    size = args.scaled("size", 1024, max=2 ** 63 - 1) or 0
    kib = size // 1024
    if flags is None:
        dom.set_memory(kib, int(DomainMemoryModFlags.LIVE))
    else:
        dom.set_memory(kib, flags)
    return None


def cmd_setmaxmem(ctx: Context, args: Args) -> Any:
    dom = domain(ctx, args)
    flags = impact(args)
    size = args.scaled("size", 1024, max=2 ** 63 - 1) or 0
    kib = size // 1024
    if flags is None:
        call("Unable to change MaxMemorySize", dom.set_max_memory, kib)
    else:
        call("Unable to change MaxMemorySize", dom.set_memory, kib, flags | int(DomainMemoryModFlags.MAXIMUM))
    return None


def cmd_setvcpus(ctx: Context, args: Args) -> Any:
    dom = domain(ctx, args)
    flags = impact(args)
    count = args.int("count", unsigned=True) or 0
    exclusive(args, ("guest", "config"))
    extra = flags_from(args, (("maximum", DomainVcpuFlags.MAXIMUM), ("guest", DomainVcpuFlags.GUEST),
                              ("hotpluggable", DomainVcpuFlags.HOTPLUGGABLE)))
    if args.bool("maximum") and not args.bool("config"):
        raise CLIError("--maximum must be used with --config")  # virsh requires it
    if count == 0:
        raise CLIError("Invalid number of virtual CPUs")
    dom.set_vcpus(count, (int(DomainVcpuFlags.LIVE) if flags is None else flags) | extra)
    return None


def cmd_vcpucount(ctx: Context, args: Args) -> Any:
    exclusive(args, ("current", "live"), ("current", "config"), ("active", "maximum"))
    dom = domain(ctx, args)
    want_max, want_cur = args.bool("maximum"), args.bool("active")
    live, config, current = args.bool("live"), args.bool("config"), args.bool("current")
    guest = args.bool("guest")
    if want_max or want_cur or live or config or current or guest:
        flags = 0
        if live:
            flags |= int(DomainVcpuFlags.LIVE)
        if config:
            flags |= int(DomainVcpuFlags.CONFIG)
        if want_max:
            flags |= int(DomainVcpuFlags.MAXIMUM)
        if guest:
            flags |= int(DomainVcpuFlags.GUEST)
        count = dom.get_vcpus(flags)
        return Text(str(count), value=count)
    active = _safe(dom.is_active, False)
    out = []
    values = {}
    for label, maxflag in (("maximum", int(DomainVcpuFlags.MAXIMUM)), ("current", 0)):
        for where, wflag in (("config", int(DomainVcpuFlags.CONFIG)), ("live", int(DomainVcpuFlags.LIVE))):
            if where == "live" and not active:
                continue
            count = dom.get_vcpus(maxflag | wflag)
            out.append(f"{label:<12} {where:<12} {count:3d}\n")
            values[f"{label}_{where}"] = count
    return Text("".join(out), value=values)


# -- devices -----------------------------------------------------------------------------------------
def _device(verb: str, done: str, method: str) -> Any:
    def handler(ctx: Context, args: Args) -> Any:
        dom = domain(ctx, args)
        flags = impact(args)
        if args.bool("persistent"):
            flags = (flags or 0) | int(DomainDeviceModifyFlags.CONFIG)
            if _safe(dom.is_active, False):
                flags |= int(DomainDeviceModifyFlags.LIVE)
        if args.bool("force"):
            flags = (flags or 0) | int(DomainDeviceModifyFlags.FORCE)
        path, xml = read_xml_arg(args)
        call(f"Failed to {verb} device from {path}", getattr(dom, method), xml,
             int(DomainDeviceModifyFlags.LIVE) if flags is None else flags)
        return Message(f"Device {done} successfully")

    return handler


# -- stats -------------------------------------------------------------------------------------------
def cmd_domblkstat(ctx: Context, args: Args) -> Any:
    dom = domain(ctx, args)
    device = args.string("device") or ""
    stats = call(f"Failed to get block stats {dom.name()} {device}", dom.block_stats, device)
    names = ("rd_req", "rd_bytes", "wr_req", "wr_bytes", "errs")
    human = ("number of read operations:", "number of bytes read:", "number of write operations:",
             "number of bytes written:", "error count:")
    lines = []
    for i, key in enumerate(names):
        value = stats[i]
        if value < 0:
            continue
        if args.bool("human"):
            lines.append(f"{device} {human[i]:<31} {value}\n")
        else:
            lines.append(f"{device} {key} {value}\n")
    return Text("".join(lines), value={k: v for k, v in zip(names, stats) if v >= 0})


def cmd_domifstat(ctx: Context, args: Args) -> Any:
    dom = domain(ctx, args)
    device = args.string("interface") or ""
    stats = call(f"Failed to get interface stats {dom.name()} {device}", dom.interface_stats, device)
    names = ("rx_bytes", "rx_packets", "rx_errs", "rx_drop", "tx_bytes", "tx_packets", "tx_errs", "tx_drop")
    lines = [f"{device} {k} {v}\n" for k, v in zip(names, stats) if v >= 0]
    return Text("".join(lines), value={k: v for k, v in zip(names, stats) if v >= 0})


#: domiftune's rate strings: "average,peak,burst[,floor]" (floor is inbound only).
_RATE_FIELDS = ("average", "peak", "burst", "floor")


def _rate(direction: str, text: str) -> dict[str, int]:
    """virsh's rate string as the typed parameters it sends: average always, the others when set."""
    parts = text.split(",")
    if len(parts) > len(_RATE_FIELDS):
        raise CLIError(f"Rate string '{text}' has too many fields")
    rate: dict[str, int] = {}
    for name, part in zip(_RATE_FIELDS, parts):
        if not part:
            continue
        if not part.isdigit():
            raise CLIError(f"field '{name}' is malformed")
        rate[name] = int(part)
    if direction == "outbound" and rate.get("floor"):
        raise CLIError("outbound floor is unsupported yet")
    if not rate.get("average") and not rate.get("floor") and (rate.get("peak") or rate.get("burst")):
        raise CLIError("either inbound average or floor is mandatory" if direction == "inbound"
                       else "outbound average is mandatory")
    return {f"{direction}.{name}": rate.get(name, 0) for name in _RATE_FIELDS if name == "average" or rate.get(name)}


def cmd_domiftune(ctx: Context, args: Args) -> Any:
    dom = domain(ctx, args)
    device = args.string("interface") or ""
    flags = impact(args) or 0
    params: dict[str, int] = {}
    for direction in ("inbound", "outbound"):
        text = args.string(direction)
        if text is not None:
            params.update(_rate(direction, text))
    if params:
        call("Unable to set interface parameters", ctx.conn.call, "domain_set_interface_parameters", dom.ref,
             device, params, flags)
        return None
    got, _ = call("Unable to get interface parameters", ctx.conn.call, "domain_get_interface_parameters", dom.ref,
                  device, 16, flags)
    return Text("".join(f"{name:<15}: {value}\n" for name, value in got.items()), value=dict(got))


_MEMSTAT_TAGS = ("swap_in", "swap_out", "major_fault", "minor_fault", "unused", "available", "actual",
                 "rss", "usable", "last_update", "disk_caches", "hugetlb_pgalloc", "hugetlb_pgfail")


def cmd_dommemstat(ctx: Context, args: Args) -> Any:
    dom = domain(ctx, args)
    if args.string("period") is not None:
        period = args.int("period") or 0
        flags = impact(args)
        ctx.conn.call("domain_set_memory_stats_period", dom.ref, period, flags or 0)
        return None
    stats = call("Failed to get memory statistics for domain", dom.memory_stats, 16, 0)
    pairs = stats.items() if isinstance(stats, dict) else stats
    items = [(_MEMSTAT_TAGS[t] if isinstance(t, int) and 0 <= t < len(_MEMSTAT_TAGS) else str(t), v)
             for t, v in pairs]
    return Text("".join(f"{k} {v}\n" for k, v in items), value=dict(items))


_STAT_GROUPS = (("state", 1), ("cpu-total", 2), ("balloon", 4), ("vcpu", 8), ("interface", 16), ("block", 32),
                ("perf", 64), ("iothread", 128), ("memory", 256), ("dirtyrate", 512), ("vm", 1024))


def cmd_domstats(ctx: Context, args: Args) -> Any:
    from virt.core.enums import ConnectGetAllDomainStatsFlags as SF

    stats = flags_from(args, ((f"{n}", v) for n, v in _STAT_GROUPS))
    flags = flags_from(args, (("list-active", SF.ACTIVE), ("list-inactive", SF.INACTIVE),
                              ("list-persistent", SF.PERSISTENT), ("list-transient", SF.TRANSIENT),
                              ("list-running", SF.RUNNING), ("list-paused", SF.PAUSED),
                              ("list-shutoff", SF.SHUTOFF), ("list-other", SF.OTHER),
                              ("nowait", SF.NOWAIT), ("backing", SF.BACKING), ("enforce", SF.ENFORCE_STATS)))
    names = args.argv("domain")
    if names:
        wanted = []
        for name in names:
            wanted.append(domain(ctx, Args(args.command, {"domain": name})))
        records = [r for r in ctx.conn.get_all_domain_stats(stats, flags) if r.dom in wanted]
        order = {d.uuid(): i for i, d in enumerate(wanted)}
        records.sort(key=lambda r: order.get(cast(Any, r.dom).uuid(), 0))
    else:
        records = call("Failed to list domains", ctx.conn.get_all_domain_stats, stats, flags)
    out = []
    values = []
    for rec in records:
        name = cast(Any, rec.dom).name()
        out.append(f"Domain: '{name}'\n")
        for key, value in rec.params.items():
            out.append(f"  {key}={_typed(value)}\n")
        out.append("\n")
        values.append({"domain": name, **rec.params})
    text = "".join(out)
    return Text(text[:-1] if text.endswith("\n\n") else text, value=values)


def _typed(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:f}"
    return str(value)


# -- native formats through the connection ---------------------------------------------------------------
def cmd_domxml_to_native(ctx: Context, args: Args) -> Any:
    from .xmltools import offline_to_native

    if ctx.uri is None and not args.string("domain"):
        return offline_to_native(ctx, args)
    fmt = args.string("format") or ""
    if args.string("domain"):
        xml = domain(ctx, args).xml_desc(0)
    else:
        _, xml = read_xml_arg(args, "xml")
    return Text(ctx.conn.domain_xml_to_native(fmt, xml, 0))


def cmd_domxml_from_native(ctx: Context, args: Args) -> Any:
    from .xmltools import offline_from_native

    if ctx.uri is None:
        return offline_from_native(ctx, args)
    fmt = args.string("format") or ""
    _, config = read_xml_arg(args, "config")
    return Text(ctx.conn.domain_xml_from_native(fmt, config, 0))


_IMPACT = (flag("config", "affect next boot"), flag("live", "affect running domain"),
           flag("current", "affect current domain"))
_DEVICE_IMPACT = (flag("persistent", "make live change persistent"), *_IMPACT)

GROUP = CommandGroup("Domain Management", "domain", [
    Command("autostart", cmd_autostart, "autostart a domain", "Configure a domain to be automatically started at boot.",
            (DOMAIN, flag("disable", "disable autostarting"))),
    Command("attach-device", _device("attach", "attached", "attach_device"), "attach device from an XML file",
            "Attach device from an XML <file>.",
            (DOMAIN, data("file", "XML file"), *_DEVICE_IMPACT)),
    Command("create", cmd_create, "create a domain from an XML file", "Create a domain.",
            (FILE, flag("console", "attach to console after creation"), flag("paused", "leave the guest paused after creation"),
             flag("autodestroy", "automatically destroy the guest when virsh disconnects"),
             string("pass-fds", "pass file descriptors N,M,... to the guest"),
             flag("validate", "validate the XML against the schema"))),
    Command("define", cmd_define, "define (but don't start) a domain from an XML file", "Define a domain.",
            (FILE, flag("validate", "validate the XML against the schema"))),
    Command("destroy", _simple("domain_destroy_flags", "Domain '{}' destroyed", "Failed to destroy domain '{}'",
                               (("graceful", DomainDestroyFlags.GRACEFUL), ("remove-logs", DomainDestroyFlags.REMOVE_LOGS))),
            "destroy (stop) a domain", "Forcefully stop a given domain, but leave its resources intact.",
            (DOMAIN, flag("graceful", "terminate gracefully"), flag("remove-logs", "remove domain logs"))),
    Command("detach-device", _device("detach", "detached", "detach_device"), "detach device from an XML file",
            "Detach device from an XML <file>",
            (DOMAIN, data("file", "XML file"), *_DEVICE_IMPACT)),
    Command("domid", cmd_domid, "convert a domain name or UUID to domain id", "", (data("domain", "domain name or uuid"),)),
    Command("domiftune", cmd_domiftune, "get/set parameters of a virtual interface",
            "Get/Set parameters of a domain's virtual interface.",
            (DOMAIN, data("interface", "interface device (MAC Address)"),
             string("inbound", "control domain's incoming traffics", named_only=True),
             string("outbound", "control domain's outgoing traffics", named_only=True), *_IMPACT)),
    Command("domname", cmd_domname, "convert a domain id or UUID to domain name", "", (data("domain", "domain id or uuid"),)),
    Command("domuuid", cmd_domuuid, "convert a domain name or id to domain UUID", "", (data("domain", "domain id or name"),)),
    Command("domxml-from-native", cmd_domxml_from_native, "Convert native config to domain XML",
            "Convert native guest configuration format to domain XML format.",
            (data("format", "source config data format"), data("config", "config data file to import from"))),
    Command("domxml-to-native", cmd_domxml_to_native, "Convert domain XML to native config",
            "Convert domain XML config to a native guest configuration format.",
            (data("format", "target config data type format"), string("domain", "domain name, id or uuid", named_only=True),
             string("xml", "xml data file to export from"))),
    Command("dumpxml", cmd_dumpxml, "domain information in XML", "Output the domain information as an XML dump to stdout.",
            (DOMAIN, flag("inactive", "show inactive defined XML"), flag("security-info", "include security sensitive information in XML dump"),
             flag("update-cpu", "update guest CPU according to host CPU"),
             flag("migratable", "provide XML suitable for migrations"))),
    Command("managedsave", cmd_managedsave, "managed save of a domain state",
            "Save and destroy a running domain, so it can be restarted from\n    the same state at a later time.  When the virsh 'start'\n    command is next run for the domain, it will automatically\n    be started from this saved state.",
            (DOMAIN, flag("bypass-cache", "avoid file system cache when saving"),
             flag("running", "set domain to be running on next start"),
             flag("paused", "set domain to be paused on next start"),
             flag("verbose", "display the progress of save"))),
    Command("managedsave-remove", cmd_managedsave_remove, "Remove managed save of a domain",
            "Remove an existing managed save state file from a domain", (DOMAIN,)),
    Command("reboot", cmd_reboot, "reboot a domain", "Run a reboot command in the target domain.",
            (DOMAIN, string("mode", "shutdown mode: acpi|agent|initctl|signal|paravirt"))),
    Command("reset", _simple("domain_reset", "Domain '{}' was reset", "Failed to reset domain '{}'", ()),
            "reset a domain", "Reset the target domain as if by power button", (DOMAIN,)),
    Command("restore", cmd_restore, "restore a domain from a saved state in a file", "Restore a domain.",
            (data("file", "the state to restore"), flag("bypass-cache", "avoid file system cache when restoring"),
             string("xml", "filename containing updated XML for the target"),
             flag("running", "restore domain into running state"), flag("paused", "restore domain into paused state"),
             flag("reset-nvram", "re-initialize NVRAM from its pristine template"))),
    Command("resume", _simple("domain_resume", "Domain '{}' resumed", "Failed to resume domain '{}'"),
            "resume a domain", "Resume a previously suspended domain.", (DOMAIN,)),
    Command("save", cmd_save, "save a domain state to a file", "Save the RAM state of a running domain.",
            (DOMAIN, data("file", "where to save the data"), flag("bypass-cache", "avoid file system cache when saving"),
             string("xml", "filename containing updated XML for the target"),
             flag("running", "set domain to be running on restore"), flag("paused", "set domain to be paused on restore"),
             flag("verbose", "display the progress of save"))),
    Command("setmaxmem", cmd_setmaxmem, "change maximum memory limit",
            "Change the maximum memory allocation limit in the guest domain.",
            (DOMAIN, number("size", "new maximum memory size, as scaled integer (default KiB)", required=True), *_IMPACT)),
    Command("setmem", cmd_setmem, "change memory allocation", "Change the current memory allocation in the guest domain.",
            (DOMAIN, number("size", "new memory size, as scaled integer (default KiB)", required=True), *_IMPACT)),
    Command("setvcpus", cmd_setvcpus, "change number of virtual CPUs", "Change the number of virtual CPUs in the guest domain.",
            (DOMAIN, number("count", "number of virtual CPUs", required=True), flag("maximum", "set maximum limit on next boot"),
             *_IMPACT, flag("guest", "modify cpu state in the guest"),
             flag("hotpluggable", "make added vcpus hot(un)pluggable"))),
    Command("shutdown", cmd_shutdown, "gracefully shutdown a domain", "Run shutdown in the target domain.",
            (DOMAIN, string("mode", "shutdown mode: acpi|agent|initctl|signal|paravirt"))),
    Command("start", cmd_start, "start a (previously defined) inactive domain",
            "Start a domain, either from the last managedsave\n    state, or via a fresh boot if no managedsave state\n    is present.",
            (data("domain", "name or uuid of the inactive domain"), flag("console", "attach to console after creation"),
             flag("paused", "leave the guest paused after creation"),
             flag("autodestroy", "automatically destroy the guest when virsh disconnects"),
             flag("bypass-cache", "avoid file system cache when loading"),
             flag("force-boot", "force fresh boot by discarding any managed save"),
             string("pass-fds", "pass file descriptors N,M,... to the guest"),
             flag("reset-nvram", "re-initialize NVRAM from its pristine template"))),
    Command("suspend", _simple("domain_suspend", "Domain '{}' suspended", "Failed to suspend domain '{}'"),
            "suspend a domain", "Suspend a running domain.", (DOMAIN,)),
    Command("undefine", cmd_undefine, "undefine a domain", "Undefine an inactive domain, or convert persistent to transient.",
            (DOMAIN, flag("managed-save", "remove domain managed state file"),
             string("storage", "remove associated storage volumes (comma separated list of targets or source paths) (see domblklist)"),
             flag("remove-all-storage", "remove all associated storage volumes (use with caution)"),
             flag("delete-storage-volume-snapshots", "delete snapshots associated with volume(s), requires --remove-all-storage (must be supported by storage driver)"),
             flag("wipe-storage", "wipe data on the removed volumes"),
             flag("snapshots-metadata", "remove all domain snapshot metadata (vm must be inactive)"),
             flag("checkpoints-metadata", "remove all domain checkpoint metadata (vm must be inactive)"),
             flag("nvram", "remove nvram file"), flag("keep-nvram", "keep nvram file"),
             flag("tpm", "remove TPM state"), flag("keep-tpm", "keep TPM state"))),
    Command("update-device", _device("update", "updated", "update_device"), "update device from an XML file",
            "Update device from an XML <file>.",
            (DOMAIN, data("file", "XML file"), *_DEVICE_IMPACT, flag("force", "force device update"))),
    Command("vcpucount", cmd_vcpucount, "domain vcpu counts", "Returns the number of virtual CPUs used by the domain.",
            (DOMAIN, flag("maximum", "get maximum count of vcpus"), flag("active", "get number of currently active vcpus"),
             *(o for o in _IMPACT), flag("guest", "retrieve vcpu count from the guest instead of the hypervisor"))),
])

MONITOR = CommandGroup("Domain Monitoring", "monitor", [
    Command("domblkstat", cmd_domblkstat, "get device block stats for a domain",
            "Get device block stats for a running domain. See man page or use --human for explanation of fields",
            (DOMAIN, string("device", "block device", empty_ok=True), flag("human", "print a more human readable output"))),
    Command("domifstat", cmd_domifstat, "get network interface stats for a domain",
            "Get network interface stats for a running domain.", (DOMAIN, data("interface", "interface device specified by name or MAC Address"))),
    Command("dominfo", cmd_dominfo, "domain information", "Returns basic information about the domain.", (DOMAIN,)),
    Command("dommemstat", cmd_dommemstat, "get memory statistics for a domain",
            "Get memory statistics for a running domain.",
            (DOMAIN, number("period", "period in seconds to set collection", named_only=True), *_IMPACT)),
    Command("domstate", cmd_domstate, "domain state", "Returns state about a domain.",
            (DOMAIN, flag("reason", "also print reason for the state"))),
    Command("domstats", cmd_domstats, "get statistics about one or multiple domains",
            "Gets statistics about one or more (or all) domains",
            (*(flag(n, f"report domain {n} statistics") for n, _ in _STAT_GROUPS),
             flag("list-active", "list only active domains"), flag("list-inactive", "list only inactive domains"),
             flag("list-persistent", "list only persistent domains"), flag("list-transient", "list only transient domains"),
             flag("list-running", "list only running domains"), flag("list-paused", "list only paused domains"),
             flag("list-shutoff", "list only shutoff domains"), flag("list-other", "list only domains in other states"),
             flag("raw", "do not pretty-print the fields"), flag("enforce", "enforce requested stats parameters"),
             flag("backing", "add backing chain information to block stats"),
             flag("nowait", "report only stats that are accessible instantly"),
             argv("domain", "list of domains to get stats for"))),
    Command("list", cmd_list, "list domains", "Returns list of domains.",
            (flag("inactive", "list inactive domains"), flag("all", "list inactive & active domains"),
             flag("transient", "list transient domains"), flag("persistent", "list persistent domains"),
             flag("with-snapshot", "list domains with existing snapshot"),
             flag("without-snapshot", "list domains without a snapshot"),
             flag("with-checkpoint", "list domains with existing checkpoint"),
             flag("without-checkpoint", "list domains without a checkpoint"),
             flag("state-running", "list domains in running state"), flag("state-paused", "list domains in paused state"),
             flag("state-shutoff", "list domains in shutoff state"), flag("state-other", "list domains in other states"),
             flag("autostart", "list domains with autostart enabled"),
             flag("no-autostart", "list domains with autostart disabled"),
             flag("with-managed-save", "list domains with managed save state"),
             flag("without-managed-save", "list domains without managed save"),
             flag("uuid", "list uuid's only"), flag("name", "list domain names only"), flag("id", "list domain IDs only"),
             flag("table", "list table (default)"), flag("managed-save", "mark inactive domains with managed save state"),
             flag("title", "show domain title"))),
])
