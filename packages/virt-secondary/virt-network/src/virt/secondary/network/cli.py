"""The driver's own `virt` commands: ``net-dumpdnsmasq`` prints the dnsmasq configuration of a network XML file."""

from __future__ import annotations

from typing import Any

from virt.core.cli.engine import Context
from virt.core.cli.output import Text
from virt.core.cli.parse import Args
from virt.core.cli.spec import Command, data, flag, string


def cmd_net_dumpdnsmasq(ctx: Context, args: Args) -> Any:
    from virt.conf import parse
    from virt.core.cli.commands.common import read_xml_arg
    from virt.secondary.network.dnsmasq import (
        LIBVIRT_DNSMASQ_DIR,
        DnsmasqCaps,
        DnsmasqFiles,
        build_config,
    )

    _, xml = read_xml_arg(args)
    net: Any = parse(xml, "network")
    caps = DnsmasqCaps.parse(args.string("dnsmasq-caps") or "full")
    files = DnsmasqFiles.in_dir(args.string("dnsmasq-dir") or LIBVIRT_DNSMASQ_DIR, net.name)
    config = build_config(net, caps, files)
    if args.bool("hostsfile"):
        return Text(config.hostsfile())
    if args.bool("addnhosts"):
        return Text(config.addnhosts())
    return Text(config.conf)


DUMPDNSMASQ = Command(
    "net-dumpdnsmasq", cmd_net_dumpdnsmasq, "dnsmasq configuration of a network",
    "Prints the dnsmasq configuration file a network defined by FILE gets when it starts, as libvirt "
    "writes it (or, with --hostsfile or --addnhosts, the DHCP or DNS hosts file it names).",
    options=(data("file", "file containing an XML network description"),
             string("dnsmasq-caps", "dnsmasq capabilities: 'full' (default) or a version such as 2.67",
                    named_only=True),
             string("dnsmasq-dir", "directory of the hosts files (default: libvirt's)", named_only=True),
             flag("hostsfile", "print the DHCP hosts file instead"),
             flag("addnhosts", "print the DNS hosts file instead")),
    group="network", needs_connection=False)
