"""Guest-agent and QEMU commands: qemu-agent-command, qemu-monitor-command/-event, domtime, guestinfo, guestvcpus,
set-user-password, domfsfreeze/domfsthaw, domifaddr, domhostname, set-lifecycle-action."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from virt.core.cli.engine import Context
from virt.core.cli.output import Message, Text
from virt.core.cli.parse import Args, CLIError
from virt.core.cli.spec import DOMAIN, Command, CommandGroup, argv, data, flag, number, string

from .common import call, domain, exclusive, impact, wait_for_events

#: virDomainQemuAgentCommand's timeouts (VIR_DOMAIN_QEMU_AGENT_COMMAND_*).
AGENT_TIMEOUT_BLOCK, AGENT_TIMEOUT_DEFAULT, AGENT_TIMEOUT_NOWAIT = -2, -1, 0
#: VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP.
MONITOR_HMP = 1
#: VIR_DOMAIN_TIME_SYNC, VIR_DOMAIN_PASSWORD_ENCRYPTED.
TIME_SYNC = 1
PASSWORD_ENCRYPTED = 1
#: guestinfo's options and their VIR_DOMAIN_GUEST_INFO_* bits.
GUEST_INFO_TYPES = (("user", 1), ("os", 2), ("timezone", 4), ("hostname", 8), ("filesystem", 16),
                    ("disk", 32), ("interface", 64))
#: virDomainInterfaceAddressesSource, by name (its value is the index).
ADDRESS_SOURCES = ("lease", "agent", "arp")
#: domhostname --source -> VIR_DOMAIN_GET_HOSTNAME_* flag.
HOSTNAME_SOURCES = {"agent": 2, "lease": 1}
#: virDomainLifecycle and virDomainLifecycleAction, by name (the value is the index).
LIFECYCLE_TYPES = ("poweroff", "reboot", "crash")
LIFECYCLE_ACTIONS = ("destroy", "restart", "rename-restart", "preserve", "coredump-destroy", "coredump-restart")
#: virIPAddrType -> domifaddr's protocol column.
IP_ADDR_TYPES = {0: "ipv4", 1: "ipv6"}


def typed_value(value: Any) -> str:
    """A typed parameter's value as virsh's vshGetTypedParamValue prints it."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:f}"
    return str(value)


def pretty_json(text: str) -> str | None:
    """JSON text re-indented as libvirt's pretty printer (yajl's beautifier) writes it: two spaces a level,
    an empty object or array still opened on its own line, a newline at the end; None when not JSON."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return _pretty(value, 0) + "\n"


def _pretty(value: Any, depth: int) -> str:
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(value, dict):
        items = [f"{inner}{_scalar(k)}: {_pretty(v, depth + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        return "[\n" + ",\n".join(inner + _pretty(v, depth + 1) for v in value) + "\n" + pad + "]"
    return _scalar(value)


def _scalar(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# -- raw agent and monitor commands ----------------------------------------------------------------------
def cmd_qemu_agent_command(ctx: Context, args: Args) -> Any:
    dom = domain(ctx, args)
    text = " ".join(args.argv("cmd")).rstrip(" ")
    timeout = AGENT_TIMEOUT_DEFAULT
    chosen = 0
    if args.string("timeout") is not None:
        timeout = args.int("timeout") or 0
        chosen = 1
        if timeout < 1:
            raise CLIError("timeout must be positive")
    if args.bool("async"):
        timeout, chosen = AGENT_TIMEOUT_NOWAIT, chosen + 1
    if args.bool("block"):
        timeout, chosen = AGENT_TIMEOUT_BLOCK, chosen + 1
    if chosen > 1:
        raise CLIError("timeout, async and block options are exclusive")
    result = dom.qemu_agent_command(text, timeout, 0)
    if result is None:
        return False
    shown = (pretty_json(result) or result) if args.bool("pretty") else result
    return Text(shown + "\n", value=_json_or_text(result))


def _pass_fds(args: Args) -> list[int]:
    """--pass-fds N,M,...: descriptors of this process handed over with the call."""
    spec = args.get("pass-fds")
    if not spec:
        return []
    fds = []
    for word in str(spec).split(","):
        try:
            fds.append(int(word, 10))
        except ValueError:
            raise CLIError(f"Unable to parse FD number '{word}'") from None
    return fds


def _qmp_command(words: list[str]) -> str:
    """The QMP command to send: the words as they are when they are a JSON object, else a command name
    and ``"key":value`` members wrapped into ``{"execute":NAME,"arguments":{...}}`` as virsh does."""
    if not words or words[0].lstrip().startswith("{"):
        return " ".join(words).rstrip(" ")
    wrapped: dict[str, Any] = {"execute": words[0]}
    if len(words) > 1:
        members = ",".join(words[1:])
        try:
            arguments = json.loads("{" + members + "}")
        except ValueError as err:
            raise CLIError(f"failed to wrap arguments '{members}' into a QMP command wrapper",
                           f"internal error: cannot parse json {{{members}}}: {err}") from None
        wrapped["arguments"] = arguments
    return json.dumps(wrapped, separators=(",", ":"))


def cmd_qemu_monitor_command(ctx: Context, args: Args) -> Any:
    exclusive(args, ("hmp", "pretty"), ("hmp", "return-value"))
    dom = domain(ctx, args)
    flags = MONITOR_HMP if args.bool("hmp") else 0
    text = " ".join(args.argv("cmd")).rstrip(" ") if flags else _qmp_command(args.argv("cmd"))
    fds = _pass_fds(args)
    if fds:
        result = dom.qemu_monitor_command_with_files(text, fds, flags)
    else:
        result = dom.qemu_monitor_command(text, flags)
    shown: Any = None
    if args.bool("return-value") or args.bool("pretty"):
        try:
            parsed = json.loads(result)
        except ValueError:
            parsed = None
            if args.bool("return-value"):
                raise CLIError("failed to parse JSON returned by qemu") from None
        shown = parsed
        if args.bool("return-value"):
            if not isinstance(parsed, dict) or "return" not in parsed:
                raise CLIError("'return' member missing")
            shown = parsed["return"]
    # A reformatted reply is printed without a newline of its own (the command's blank line follows).
    if args.bool("pretty") and shown is not None:
        return Text(_pretty(shown, 0), value=shown, newline=False)
    if args.bool("return-value"):
        return Text(json.dumps(shown, separators=(",", ":"), ensure_ascii=False), value=shown, newline=False)
    return Text(result + "\n", value=_json_or_text(result))


#: virConnectDomainQemuMonitorEventRegisterFlags: the event name is a regular expression / any case.
MONITOR_EVENT_REGEX, MONITOR_EVENT_NOCASE = 1, 2
#: The event bus kind QMP events arrive on (``emit("qemu_monitor", 0, dom, name, seconds, micros, details)``).
MONITOR_EVENT_KIND = "qemu_monitor"


def cmd_qemu_monitor_event(ctx: Context, args: Args) -> Any:
    import threading

    timeout = args.int("timeout", unsigned=True)
    if timeout == 0:
        raise CLIError("Numeric value '0' for <timeout> option is malformed or out of range")
    pattern = args.string("event")
    dom = domain(ctx, args) if args.string("domain") is not None else None
    flags = (MONITOR_EVENT_REGEX if args.bool("regex") else 0) | (MONITOR_EVENT_NOCASE if args.bool("no-case") else 0)
    loop, pretty, stamp = args.bool("loop"), args.bool("pretty"), args.bool("timestamp")
    wanted = _event_filter(pattern, flags)
    count = 0
    got = threading.Event()
    lock = threading.Lock()

    def on_event(event: Any) -> None:
        nonlocal count
        name, seconds, micros, details = (*event.payload, None, None, None, None)[:4]
        if not wanted(str(name)):
            return
        with lock:
            if not loop and count:
                return
            text = details if details is None or isinstance(details, str) else \
                json.dumps(details, separators=(",", ":"), ensure_ascii=False)
            if pretty and text is not None:
                text = pretty_json(text) or text
            owner = event.obj.name if event.obj is not None else ""
            if stamp:
                now = time.time()
                when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}+0000"
                ctx.print(f"{when}: event {name} for domain '{owner}': {_nullstr(text)}\n")
            else:
                ctx.print(f"event {name} at {int(seconds or 0)}.{int(micros or 0):06d} for domain '{owner}': "
                          f"{_nullstr(text)}\n")
            ctx.out.flush()
            count += 1
            got.set()

    conn = ctx.conn
    callback_id = conn.call("connect_domain_qemu_monitor_event_register", dom.ref if dom else None, pattern, flags)
    sub = conn.events.subscribe(MONITOR_EVENT_KIND, 0, on_event, dom.ref if dom else None)
    try:
        ending = wait_for_events(got, timeout, loop)
    finally:
        conn.events.unsubscribe(sub)
        with contextlib.suppress(Exception):
            conn.call("connect_domain_qemu_monitor_event_deregister", callback_id)
    ctx.print(f"{ending}events received: {count}\n")
    return count > 0


def _nullstr(text: str | None) -> str:
    """virsh's NULLSTR."""
    return "<null>" if text is None else text


def _event_filter(pattern: str | None, flags: int) -> Any:
    """Whether an event name passes --event (literal, or a regular expression with --regex; --no-case).
    A daemon filters already; an in-process driver puts every QMP event on the bus."""
    import re

    if pattern is None:
        return lambda name: True
    if flags & MONITOR_EVENT_REGEX:
        try:
            regex = re.compile(pattern, re.IGNORECASE if flags & MONITOR_EVENT_NOCASE else 0)
        except re.error:
            return lambda name: False  # the driver refused the pattern already, where it checks it
        return lambda name: regex.search(name) is not None
    if flags & MONITOR_EVENT_NOCASE:
        return lambda name: name.lower() == pattern.lower()
    return lambda name: name == pattern


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


# -- guest time, users, information -------------------------------------------------------------------------
def cmd_domtime(ctx: Context, args: Args) -> Any:
    exclusive(args, ("time", "now"), ("time", "sync"), ("now", "sync"))
    dom = domain(ctx, args)
    seconds = args.int("time", bits=64)
    now, sync = args.bool("now"), args.bool("sync")
    if seconds is not None or now or sync:
        if now:
            seconds = int(time.time())
        dom.set_time(seconds or 0, 0, TIME_SYNC if sync else 0)
        return None
    seconds, _ = dom.get_time(0)
    if args.bool("pretty"):
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))
        return Text(f"Time: {stamp}", value=seconds, newline=False)
    return Text(f"Time: {seconds}", value=seconds, newline=False)


def cmd_guestinfo(ctx: Context, args: Args) -> Any:
    types = 0
    for name, bit in GUEST_INFO_TYPES:
        if args.bool(name):
            types |= bit
    dom = domain(ctx, args)
    params = dom.get_guest_info(types, 0)
    return Text("".join(f"{key:<20}: {typed_value(value)}\n" for key, value in params.items()), value=params)


def cmd_guestvcpus(ctx: Context, args: Args) -> Any:
    enable, disable = args.bool("enable"), args.bool("disable")
    exclusive(args, ("enable", "disable"))
    for option in ("enable", "disable"):
        if args.bool(option) and not args.bool("cpulist"):
            raise CLIError(f"Option --cpulist is required by option --{option}")
    cpulist = args.string("cpulist")
    if cpulist is not None and not (enable or disable):
        raise CLIError("One of options --enable or --disable is required by option --cpulist")
    dom = domain(ctx, args)
    if enable or disable:
        dom.set_guest_vcpus(cpulist, 1 if enable else 0, 0)
        return None
    params = dom.get_guest_vcpus(0)
    return Text("".join(f"{key:<15}: {typed_value(value)}\n" for key, value in params.items()), value=params)


def cmd_set_user_password(ctx: Context, args: Args) -> Any:
    dom = domain(ctx, args)
    user, password = args.string("user") or "", args.string("password") or ""
    dom.set_user_password(user, password, PASSWORD_ENCRYPTED if args.bool("encrypted") else 0)
    return Message(f"Password set successfully for {user} in {dom.name()}", newline=False)


# -- file systems -----------------------------------------------------------------------------------------
def _fs(verb: str, done: str, method: str) -> Any:
    def handler(ctx: Context, args: Args) -> Any:
        dom = domain(ctx, args)
        count = call(f"Unable to {verb} filesystems", getattr(dom, method), args.argv("mountpoint"), 0)
        return Message(f"{done} {count} filesystem(s)\n", value={"count": count})

    return handler


# -- addresses and names ----------------------------------------------------------------------------------
def cmd_domifaddr(ctx: Context, args: Args) -> Any:
    wanted = args.string("interface")
    source_name = args.string("source")
    source = 0
    if source_name is not None:
        if source_name not in ADDRESS_SOURCES:
            raise CLIError(f"Unknown data source '{source_name}'")
        source = ADDRESS_SOURCES.index(source_name)
    dom = domain(ctx, args)
    ifaces = call("Failed to query for interfaces addresses", dom.interface_addresses, source, 0)
    full = args.bool("full")
    lines = []
    if not ctx.quiet:
        lines.append(f" {'Name':<10} {'MAC address':<20} {'Protocol':<8}     Address\n{'-' * 79}\n")
    values = []
    for name, hwaddr, addrs in ifaces:
        if wanted and wanted != name:
            continue
        values.append({"name": name, "hwaddr": hwaddr,
                       "addrs": [{"type": IP_ADDR_TYPES.get(t, ""), "addr": a, "prefix": p} for t, a, p in addrs]})
        if not addrs:
            lines.append(f" {name:<10} {hwaddr or 'N/A':<17}    {'N/A':<12} N/A\n")
            continue
        for j, (kind, addr, prefix) in enumerate(addrs):
            shown = f"{IP_ADDR_TYPES.get(kind, '(null)'):<12} {addr}/{prefix}"
            if full or not j:
                lines.append(f" {name:<10} {hwaddr or '':<17}    {shown}\n")
            else:
                lines.append(f" {'-':<10} {'-':<17}    {shown}\n")
    return Text("".join(lines), value=values)


def cmd_domhostname(ctx: Context, args: Args) -> Any:
    source = args.get("source")
    flags = 0
    if source is not None:
        if source not in HOSTNAME_SOURCES:
            raise CLIError(f"Unknown data source '{source}'")
        flags = HOSTNAME_SOURCES[source]
    dom = domain(ctx, args)
    name = call("failed to get hostname", dom.get_hostname, flags)
    return Text(f"{name}\n", value=name)


def cmd_set_lifecycle_action(ctx: Context, args: Args) -> Any:
    flags = impact(args) or 0
    dom = domain(ctx, args)
    type_name, action_name = args.string("type") or "", args.string("action") or ""
    if type_name not in LIFECYCLE_TYPES:
        raise CLIError(f"Invalid lifecycle type '{type_name}'.")
    if action_name not in LIFECYCLE_ACTIONS:
        raise CLIError(f"Invalid lifecycle action '{action_name}'.")
    call("Unable to change lifecycle action.", dom.set_lifecycle_action,
         LIFECYCLE_TYPES.index(type_name), LIFECYCLE_ACTIONS.index(action_name), flags)
    return None


_IMPACT = (flag("config", "affect next boot"), flag("live", "affect running domain"),
           flag("current", "affect current domain"))

#: Listed with virsh's "Domain Management" commands (the groups are merged by keyword).
GROUP = CommandGroup("Domain Management", "domain", [
    Command("domfsfreeze", _fs("freeze", "Froze", "fsfreeze"), "Freeze domain's mounted filesystems.",
            "Freeze domain's mounted filesystems.", (DOMAIN, argv("mountpoint", "mountpoint path to be frozen"))),
    Command("domfsthaw", _fs("thaw", "Thawed", "fsthaw"), "Thaw domain's mounted filesystems.",
            "Thaw domain's mounted filesystems.", (DOMAIN, argv("mountpoint", "mountpoint path to be thawed"))),
    Command("domhostname", cmd_domhostname, "print the domain's hostname", "",
            (DOMAIN, string("source", "address source: 'lease' or 'agent'"))),
    Command("guestinfo", cmd_guestinfo, "query information about the guest (via agent)",
            "Use the guest agent to query various information from guest's point of view",
            (DOMAIN, flag("user", "report active users"), flag("os", "report operating system information"),
             flag("timezone", "report timezone information"), flag("hostname", "report hostname"),
             flag("filesystem", "report filesystem information"), flag("disk", "report disk information"),
             flag("interface", "report interface information"))),
    Command("guestvcpus", cmd_guestvcpus, "query or modify state of vcpu in the guest (via agent)",
            "Use the guest agent to query or set cpu state from guest's point of view",
            (DOMAIN, string("cpulist", "list of cpus to enable or disable"),
             flag("enable", "enable cpus specified by cpulist"), flag("disable", "disable cpus specified by cpulist"))),
    Command("qemu-agent-command", cmd_qemu_agent_command, "QEMU Guest Agent Command",
            "Run an arbitrary qemu guest agent command; use at your own risk",
            (DOMAIN, number("timeout", "timeout seconds. must be positive.", named_only=True),
             flag("async", "execute command without waiting for timeout"),
             flag("block", "execute command without timeout"), flag("pretty", "pretty-print the output"),
             argv("cmd", "command", required=True))),
    Command("qemu-monitor-command", cmd_qemu_monitor_command, "QEMU Monitor Command", "QEMU Monitor Command",
            (DOMAIN, flag("hmp", "command is in human monitor protocol"),
             flag("pretty", "pretty-print any qemu monitor protocol output"),
             flag("return-value", "extract the value of the 'return' key from the returned string"),
             string("pass-fds", "pass file descriptors N,M,... along with the command", named_only=True),
             argv("cmd", "command", required=True))),
    Command("qemu-monitor-event", cmd_qemu_monitor_event, "QEMU Monitor Events", "Listen for QEMU Monitor Events",
            (string("domain", "filter by domain name, id or uuid"), string("event", "filter by event name"),
             flag("pretty", "pretty-print any JSON output"),
             flag("loop", "loop until timeout or interrupt, rather than one-shot"),
             number("timeout", "timeout seconds"), flag("regex", "treat event as a regex rather than literal filter"),
             flag("no-case", "treat event case-insensitively"),
             flag("timestamp", "show timestamp for each printed event"))),
    Command("set-lifecycle-action", cmd_set_lifecycle_action, "change lifecycle actions",
            "Change lifecycle actions for the guest domain.",
            (DOMAIN, data("type", "lifecycle type to modify"), data("action", "lifecycle action to set"), *_IMPACT)),
    Command("set-user-password", cmd_set_user_password, "set the user password inside the domain",
            "changes the password of the specified user inside the domain",
            (DOMAIN, data("user", "the username"), data("password", "the new password"),
             flag("encrypted", "the password is already encrypted"))),
])

#: Listed with virsh's "Domain Monitoring" commands.
MONITOR = CommandGroup("Domain Monitoring", "monitor", [
    Command("domifaddr", cmd_domifaddr, "Get network interfaces' addresses for a running domain",
            "Get network interfaces' addresses for a running domain",
            (DOMAIN, string("interface", "network interface name"),
             flag("full", "always display names and MACs of interfaces"),
             string("source", "address source: 'lease', 'agent', or 'arp'"))),
    Command("domtime", cmd_domtime, "domain time", "Gets or sets the domain's system time",
            (DOMAIN, flag("now", "set to the time of the host running virsh"),
             flag("pretty", "print domain's time in human readable form"),
             flag("sync", "instead of setting given time, synchronize from domain's RTC"),
             number("time", "time to set"))),
])
