"""Network filter commands (nwfilter-*)."""

from __future__ import annotations

from typing import Any

from virt.core.cli.engine import Context
from virt.core.cli.output import Message, Table, Text
from virt.core.cli.parse import Args
from virt.core.cli.spec import Command, CommandGroup, data, flag

from .common import call, nwfilter, read_xml_arg

_FILTER = data("nwfilter", "network filter name or uuid")


def cmd_nwfilter_list(ctx: Context, args: Args) -> Any:
    filters = call("Failed to list network filters", ctx.conn.list_all_nwfilters, 0)
    filters.sort(key=lambda f: f.name())
    table = Table(["UUID", "Name"])
    for f in filters:
        table.add(f.uuid(), f.name())
    return table


def cmd_nwfilter_define(ctx: Context, args: Args) -> Any:
    path, xml = read_xml_arg(args)
    f = call(f"Failed to define network filter from {path}", ctx.conn.define_nwfilter, xml,
             1 if args.bool("validate") else 0)
    return Message(f"Network filter {f.name()} defined from {path}")


def cmd_nwfilter_dumpxml(ctx: Context, args: Args) -> Any:
    return Text(nwfilter(ctx, args).xml_desc(0))


def cmd_nwfilter_undefine(ctx: Context, args: Args) -> Any:
    f = nwfilter(ctx, args)
    call(f"Failed to undefine network filter {f.name()}", f.undefine)
    return Message(f"Network filter {f.name()} undefined")


GROUP = CommandGroup("Network Filter", "filter", [
    Command("nwfilter-define", cmd_nwfilter_define, "define or update a network filter from an XML file",
            "Define a new network filter or update an existing one.",
            (data("file", "file containing an XML network filter description"), flag("validate", "validate the XML against the schema"))),
    Command("nwfilter-dumpxml", cmd_nwfilter_dumpxml, "network filter information in XML",
            "Output the network filter information as an XML dump to stdout.", (_FILTER,)),
    Command("nwfilter-list", cmd_nwfilter_list, "list network filters", "Returns list of network filters."),
    Command("nwfilter-undefine", cmd_nwfilter_undefine, "undefine a network filter", "Undefine a given network filter.",
            (_FILTER,)),
])
