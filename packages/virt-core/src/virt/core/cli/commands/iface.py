"""Host interface commands (iface-*)."""

from __future__ import annotations

from typing import Any

from virt.core.cli.engine import Context
from virt.core.cli.output import Message, Table, Text
from virt.core.cli.parse import Args, CLIError
from virt.core.cli.spec import Command, CommandGroup, data, flag

from .common import call, interface, read_xml_arg

_IFACE = data("interface", "interface name or MAC address")


def cmd_iface_list(ctx: Context, args: Args) -> Any:
    flags = 2  # active
    if args.bool("inactive"):
        flags = 1
    if args.bool("all"):
        flags = 3
    ifaces = call("Failed to list interfaces", ctx.conn.list_all_interfaces, flags)
    ifaces.sort(key=lambda i: i.name())
    table = Table(["Name", "State", "MAC Address"])
    for iface in ifaces:
        state = "active" if iface.is_active() else "inactive"
        table.add(iface.name(), state, iface.mac(), values=[iface.name(), state, iface.mac()])
    return table


def cmd_iface_dumpxml(ctx: Context, args: Args) -> Any:
    return Text(interface(ctx, args).xml_desc(1 if args.bool("inactive") else 0))


def cmd_iface_define(ctx: Context, args: Args) -> Any:
    path, xml = read_xml_arg(args)
    iface = call(f"Failed to define interface from {path}", ctx.conn.define_interface, xml,
                 1 if args.bool("validate") else 0)
    return Message(f"Interface {iface.name()} defined from {path}")


def _simple(method: str, done: str, fail: str, *extra: int) -> Any:
    def handler(ctx: Context, args: Args) -> Any:
        iface = interface(ctx, args)
        call(fail.format(iface.name()), getattr(iface, method), *extra)
        return Message(done.format(iface.name()))

    return handler


def cmd_iface_mac(ctx: Context, args: Args) -> Any:
    return Text(interface(ctx, args).mac())


def cmd_iface_name(ctx: Context, args: Args) -> Any:
    key = args.string("interface") or ""
    try:
        return Text(ctx.conn.call("interface_lookup_by_mac_string", key).name)
    except Exception as exc:
        raise CLIError(f"failed to get interface '{key}'", cause=exc) from None


GROUP = CommandGroup("Interface", "interface", [
    Command("iface-define", cmd_iface_define, "define an inactive persistent physical host interface or modify an existing persistent one from an XML file",
            "Define or modify a persistent physical host interface.",
            (data("file", "file containing an XML interface description"), flag("validate", "validate the XML against the schema"))),
    Command("iface-destroy", _simple("destroy", "Interface {} destroyed", "Failed to destroy interface {}", 0),
            "destroy a physical host interface (disable it / \"if-down\")", "forcefully stop a physical host interface.", (_IFACE,)),
    Command("iface-dumpxml", cmd_iface_dumpxml, "interface information in XML", "Output the physical host interface information as an XML dump to stdout.",
            (_IFACE, flag("inactive", "show inactive defined XML"))),
    Command("iface-list", cmd_iface_list, "list physical host interfaces", "Returns list of physical host interfaces.",
            (flag("inactive", "list inactive interfaces"), flag("all", "list inactive & active interfaces"))),
    Command("iface-mac", cmd_iface_mac, "convert an interface name to interface MAC address", "", (data("interface", "interface name"),)),
    Command("iface-name", cmd_iface_name, "convert an interface MAC address to interface name", "", (data("interface", "interface mac"),)),
    Command("iface-start", _simple("create", "Interface {} started", "Failed to start interface {}", 0),
            "start a physical host interface (enable it / \"if-up\")", "start a physical host interface.", (_IFACE,)),
    Command("iface-undefine", _simple("undefine", "Interface {} undefined", "Failed to undefine interface {}"),
            "undefine a physical host interface (remove it from configuration)", "undefine an interface.", (_IFACE,)),
])
