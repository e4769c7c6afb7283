"""Node device commands (nodedev-*)."""

from __future__ import annotations

from typing import Any

from virt.core.cli.engine import Context
from virt.core.cli.output import Fields, Message, Text
from virt.core.cli.parse import Args, CLIError
from virt.core.cli.spec import Command, CommandGroup, data, flag, string

from .common import call, node_device, read_xml_arg

#: virsh's --cap names, in the bit order of virConnectListAllNodeDeviceFlags.
CAPS = ("system", "pci", "usb_device", "usb", "net", "scsi_host", "scsi_target", "scsi", "storage", "fc_host",
        "vports", "scsi_generic", "drm", "mdev_types", "mdev", "ccw", "css", "vdpa", "ap_card", "ap_queue",
        "ap_matrix", "vpd")
_CAP_ALIASES = {"pci_dev": "pci", "usb_dev": "usb_device", "usb_interface": "usb", "ccw_dev": "ccw",
                "css_dev": "css", "net_dev": "net"}


def tree_lines(names: list[str], parent_of: dict[str, str | None]) -> list[str]:
    """virsh's tree drawing: each root, then its children under "+- " with "|" guide lines."""
    lines: list[str] = []
    known = set(names)

    def walk(name: str, is_last: bool, root: bool, indent: str) -> None:
        lines.append(indent + ("" if root else "+- ") + name)
        if not root:
            indent += (" " if is_last else "|") + " "
        children = [n for n in names if parent_of.get(n) == name]
        if children:
            lines.append(indent + "  |")
        for i, child in enumerate(children):
            walk(child, i == len(children) - 1, False, indent + "  ")
        if not children and is_last:
            lines.append(indent)

    roots = [n for n in names if not parent_of.get(n) or parent_of.get(n) not in known]
    for root in roots:
        walk(root, True, True, "")
    return lines


def cmd_nodedev_list(ctx: Context, args: Args) -> Any:
    from virt.util.errors import VirtError

    flags = 0
    for cap in (args.string("cap") or "").split(","):
        cap = cap.strip()
        if not cap:
            continue
        cap = _CAP_ALIASES.get(cap, cap)
        if cap not in CAPS:
            raise CLIError(f"Invalid capability type '{cap}'")
        flags |= 1 << CAPS.index(cap)
    if args.bool("inactive") and args.bool("all"):
        raise CLIError("Options --all and --inactive are incompatible")
    if args.bool("tree") and (flags or args.bool("inactive")):
        raise CLIError("Options --tree and --cap are incompatible")
    if args.bool("inactive"):
        flags |= 1 << 30
    elif not args.bool("all"):
        flags |= 1 << 31
    devs = call("Failed to list node devices", ctx.conn.list_all_node_devices, flags)
    names = sorted(d.name() for d in devs)
    if args.bool("tree"):
        parents: dict[str, str | None] = {}
        for d in devs:
            try:
                parents[d.name()] = d.parent()
            except VirtError:
                parents[d.name()] = None
        return Text("\n".join(tree_lines(names, parents)) + "\n", value=parents)
    return Text("".join(n + "\n" for n in names), value=names)


def cmd_nodedev_dumpxml(ctx: Context, args: Args) -> Any:
    dev = node_device(ctx, args)
    return Text(dev.xml_desc(1 if args.bool("inactive") else 0))


def cmd_nodedev_info(ctx: Context, args: Args) -> Any:
    from virt.util.errors import VirtError

    dev = node_device(ctx, args)
    out = Fields()
    out.add("Name:", dev.name())
    try:
        parent = dev.parent()
    except VirtError:
        parent = None
    out.add("Parent:", parent or "", parent)
    for label, method in (("Active:", "is_active"), ("Persistent:", "is_persistent")):
        try:
            value = ctx.conn.call(f"node_device_{method}", dev.ref)
            out.add(label, "yes" if value else "no", bool(value))
        except VirtError:
            out.add(label, "unknown", None)
    try:
        auto = ctx.conn.call("node_device_get_autostart", dev.ref)
        out.add("Autostart:", "yes" if auto else "no", bool(auto))
    except VirtError:
        out.add("Autostart:", "no autostart", None)
    return out


def cmd_nodedev_create(ctx: Context, args: Args) -> Any:
    path, xml = read_xml_arg(args)
    dev = call(f"Failed to create node device from {path}", ctx.conn.create_node_device, xml, 0)
    return Message(f"Node device {dev.name()} created from {path}")


def cmd_nodedev_destroy(ctx: Context, args: Args) -> Any:
    dev = node_device(ctx, args)
    call(f"Failed to destroy node device '{dev.name()}'", dev.destroy)
    return Message(f"Destroyed node device '{dev.name()}'")


GROUP = CommandGroup("Node Device", "nodedev", [
    Command("nodedev-create", cmd_nodedev_create, "create a device defined by an XML file on the node",
            "Create a device on the node.  Note that this command creates devices on the physical host that can then be assigned to a virtual machine.",
            (data("file", "file containing an XML description of the device"), flag("validate", "validate the XML against the schema"))),
    Command("nodedev-destroy", cmd_nodedev_destroy, "destroy (stop) a device on the node",
            "Destroy a device on the node.  Note that this command destroys devices on the physical host",
            (data("device", "device name or wwn pair in 'wwnn,wwpn' format"),)),
    Command("nodedev-dumpxml", cmd_nodedev_dumpxml, "node device details in XML",
            "Output the node device details as an XML dump to stdout.",
            (data("device", "device name or wwn pair in 'wwnn,wwpn' format"), flag("inactive", "show inactive defined XML"))),
    Command("nodedev-info", cmd_nodedev_info, "node device information", "Returns basic information about the node device",
            (data("device", "device name or wwn pair in 'wwnn,wwpn' format"),)),
    Command("nodedev-list", cmd_nodedev_list, "enumerate devices on this host",
            "Returns list of host devices.",
            (flag("tree", "list devices in a tree"), string("cap", "capability names, separated by comma"),
             flag("inactive", "list inactive devices"), flag("all", "list inactive & active devices"))),
])
