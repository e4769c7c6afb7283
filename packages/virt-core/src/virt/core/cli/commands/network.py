"""Network commands (net-*)."""

from __future__ import annotations

from typing import Any

from virt.core.cli.engine import Context
from virt.core.cli.output import Fields, Message, Table, Text
from virt.core.cli.parse import Args, CLIError
from virt.core.cli.spec import NETWORK, Command, CommandGroup, data, flag, string
from virt.core.enums import ConnectListAllNetworksFlags as NF

from .common import call, flags_from, network, read_xml_arg


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def cmd_net_list(ctx: Context, args: Args) -> Any:
    if sum(args.bool(o) for o in ("table", "name", "uuid")) > 1:
        raise CLIError("Only one argument from --table, --name and --uuid may be specified.")
    flags = int(NF.ACTIVE)
    if args.bool("inactive"):
        flags = int(NF.INACTIVE)
    if args.bool("all"):
        flags = int(NF.ACTIVE | NF.INACTIVE)
    flags |= flags_from(args, (("persistent", NF.PERSISTENT), ("transient", NF.TRANSIENT),
                               ("autostart", NF.AUTOSTART), ("no-autostart", NF.NO_AUTOSTART)))
    nets = call("Failed to list networks", ctx.conn.list_all_networks, flags)
    nets.sort(key=lambda n: n.name())
    if args.bool("name"):
        return Text("".join(f"{n.name()}\n" for n in nets), value=[n.name() for n in nets])
    if args.bool("uuid"):
        return Text("".join(f"{n.uuid()}\n" for n in nets), value=[n.uuid() for n in nets])
    table = Table(["Name", "State", "Autostart", "Persistent"])
    for net in nets:
        active = net.is_active()
        autostart = net.get_autostart()
        persistent = net.is_persistent()
        table.add(net.name(), "active" if active else "inactive", _yes_no(autostart), _yes_no(persistent),
                  values=[net.name(), "active" if active else "inactive", bool(autostart), bool(persistent)])
    return table


def cmd_net_info(ctx: Context, args: Args) -> Any:
    from virt.util.errors import VirtError

    net = network(ctx, args)
    out = Fields()
    out.add("Name:", net.name())
    out.add("UUID:", net.uuid())
    active = net.is_active()
    out.add("Active:", _yes_no(active), bool(active))
    try:
        persistent = _yes_no(net.is_persistent())
    except VirtError:
        persistent = "unknown"
    out.add("Persistent:", persistent)
    try:
        out.add("Autostart:", _yes_no(net.get_autostart()))
    except VirtError:
        out.add("Autostart:", "no autostart")
    try:
        bridge = net.bridge_name()
        if bridge:
            out.add("Bridge:", bridge)
    except VirtError:
        pass
    return out


def cmd_net_dumpxml(ctx: Context, args: Args) -> Any:
    net = network(ctx, args)
    return Text(net.xml_desc(1 if args.bool("inactive") else 0))


def cmd_net_define(ctx: Context, args: Args) -> Any:
    path, xml = read_xml_arg(args)
    net = call(f"Failed to define network from {path}", ctx.conn.define_network, xml,
               flags_from(args, (("validate", 1),)))
    return Message(f"Network {net.name()} defined from {path}")


def cmd_net_create(ctx: Context, args: Args) -> Any:
    path, xml = read_xml_arg(args)
    net = call(f"Failed to create network from {path}", ctx.conn.create_network, xml,
               flags_from(args, (("validate", 1),)))
    return Message(f"Network {net.name()} created from {path}")


def _simple(method: str, done: str, fail: str) -> Any:
    def handler(ctx: Context, args: Args) -> Any:
        net = network(ctx, args)
        call(fail.format(net.name()), getattr(net, method))
        return Message(done.format(net.name()))

    return handler


def cmd_net_autostart(ctx: Context, args: Args) -> Any:
    net = network(ctx, args)
    name = net.name()
    if args.bool("disable"):
        call(f"failed to unmark network {name} as autostarted", net.set_autostart, 0)
        return Message(f"Network {name} unmarked as autostarted")
    call(f"failed to mark network {name} as autostarted", net.set_autostart, 1)
    return Message(f"Network {name} marked as autostarted")


def cmd_net_uuid(ctx: Context, args: Args) -> Any:
    return Text(network(ctx, args).uuid())


def cmd_net_name(ctx: Context, args: Args) -> Any:
    key = args.string("network") or ""
    try:
        return Text(ctx.conn.call("network_lookup_by_uuid", key).name)
    except Exception as exc:
        raise CLIError(f"failed to get network '{key}'", cause=exc) from None


def cmd_net_dhcp_leases(ctx: Context, args: Args) -> Any:
    import time

    net = network(ctx, args)
    mac = args.string("mac")
    leases = call(f"Failed to get leases info for {net.name()}", net.dhcp_leases, mac, 0)
    leases.sort(key=lambda lease: lease.mac)
    table = Table(["Expiry Time", "MAC address", "Protocol", "IP address", "Hostname", "Client ID or DUID"])
    for lease in leases:
        expiry = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(lease.expirytime))
        proto = "ipv6" if lease.type == 1 else "ipv4"
        table.add(expiry, lease.mac, proto, f"{lease.ipaddr}/{lease.prefix}", lease.hostname or "-",
                  lease.clientid or "-", values=[lease.expirytime, lease.mac, proto, f"{lease.ipaddr}/{lease.prefix}",
                                                 lease.hostname, lease.clientid])
    return table


GROUP = CommandGroup("Networking", "network", [
    Command("net-autostart", cmd_net_autostart, "autostart a network", "Configure a network to be automatically started at boot.",
            (NETWORK, flag("disable", "disable autostarting"))),
    Command("net-create", cmd_net_create, "create a network from an XML file", "Create a network.",
            (data("file", "file containing an XML network description"), flag("validate", "validate the XML against the schema"))),
    Command("net-define", cmd_net_define, "define an inactive persistent virtual network or modify an existing persistent one from an XML file",
            "Define or modify a persistent virtual network.",
            (data("file", "file containing an XML network description"), flag("validate", "validate the XML against the schema"))),
    Command("net-destroy", _simple("destroy", "Network {} destroyed", "Failed to destroy network {}"),
            "destroy (stop) a network", "Forcefully stop a given network.", (NETWORK,)),
    Command("net-dhcp-leases", cmd_net_dhcp_leases, "print lease info for a given network",
            "Print lease info for a given network", (data("network", "network name or uuid"), string("mac", "MAC address"))),
    Command("net-dumpxml", cmd_net_dumpxml, "network information in XML", "Output the network information as an XML dump to stdout.",
            (NETWORK, flag("inactive", "show inactive defined XML"))),
    Command("net-info", cmd_net_info, "network information", "Returns basic information about the network", (NETWORK,)),
    Command("net-list", cmd_net_list, "list networks", "Returns list of networks.",
            (flag("inactive", "list inactive networks"), flag("all", "list inactive & active networks"),
             flag("persistent", "list persistent networks"), flag("transient", "list transient networks"),
             flag("autostart", "list networks with autostart enabled"),
             flag("no-autostart", "list networks with autostart disabled"),
             flag("uuid", "list uuid's only"), flag("name", "list network names only"),
             flag("table", "list table (default)"))),
    Command("net-name", cmd_net_name, "convert a network UUID to network name", "",
            (data("network", "network uuid"),)),
    Command("net-start", _simple("create", "Network {} started", "Failed to start network {}"),
            "start a (previously defined) inactive network", "Start a network.",
            (data("network", "network name or uuid"),)),
    Command("net-undefine", _simple("undefine", "Network {} has been undefined", "Failed to undefine network {}"),
            "undefine a persistent network", "Undefine the configuration for a persistent network.", (NETWORK,)),
    Command("net-uuid", cmd_net_uuid, "convert a network name to network UUID", "", (data("network", "network name"),)),
])
