"""Domain snapshot commands (snapshot-*)."""

from __future__ import annotations

import time
from typing import Any
from xml.etree import ElementTree as ET

from virt.core.cli.engine import Context
from virt.core.cli.output import Fields, Message, Table, Text
from virt.core.cli.parse import Args, CLIError
from virt.core.cli.spec import DOMAIN, Command, CommandGroup, argv, flag, string
from virt.core.enums import DomainSnapshotCreateFlags as CF
from virt.core.enums import DomainSnapshotDeleteFlags as DF
from virt.core.enums import DomainSnapshotListFlags as LF
from virt.core.enums import DomainSnapshotRevertFlags as RF

from .common import call, domain, escape, exclusive, flags_from, read_file
from .nodedev import tree_lines

_CREATE_FLAGS = (("redefine", CF.REDEFINE), ("current", CF.CURRENT), ("no-metadata", CF.NO_METADATA),
                 ("halt", CF.HALT), ("disk-only", CF.DISK_ONLY), ("reuse-external", CF.REUSE_EXT),
                 ("quiesce", CF.QUIESCE), ("atomic", CF.ATOMIC), ("live", CF.LIVE), ("validate", CF.VALIDATE))


def _snapshot(ctx: Context, dom: Any, args: Args, name_option: str = "snapshotname") -> Any:
    """The snapshot named by an option, or with --current the current one (virsh's rule)."""
    name = args.string(name_option)
    if args.bool("current") and name:
        raise CLIError(f"--{name_option} and --current are mutually exclusive")
    if name:
        return dom.snapshot_lookup(name, 0)
    if args.bool("current"):
        return dom.snapshot_current(0)
    raise CLIError(f"--{name_option} or --current is required")


def cmd_snapshot_create(ctx: Context, args: Args) -> Any:
    dom = domain(ctx, args)
    path = args.string("xmlfile")
    xml = read_file(path) if path else "<domainsnapshot/>"
    snap = call("Failed to create snapshot", dom.snapshot_create, xml, flags_from(args, _CREATE_FLAGS))
    if path:
        return Message(f"Domain snapshot {snap.name()} created from '{path}'", newline=False)
    return Message(f"Domain snapshot {snap.name()} created", newline=False)


def snapshot_xml(args: Args) -> str:
    lines = ["<domainsnapshot>"]
    if args.string("name"):
        lines.append(f"  <name>{escape(args.string('name') or '')}</name>")
    if args.string("description"):
        lines.append(f"  <description>{escape(args.string('description') or '')}</description>")
    memspec = args.string("memspec")
    if memspec:
        attrs = _spec_attrs(memspec, "file")
        lines.append("  <memory" + "".join(f" {k}='{escape(v)}'" for k, v in attrs.items()) + "/>")
    disks = args.argv("diskspec")
    if disks:
        lines.append("  <disks>")
        for spec in disks:
            attrs = _spec_attrs(spec, "name")
            source = attrs.pop("file", None)
            driver = attrs.pop("driver", None)
            head = "    <disk" + "".join(f" {k}='{escape(v)}'" for k, v in attrs.items())
            if source or driver:
                lines.append(head + ">")
                if source:
                    lines.append(f"      <source file='{escape(source)}'/>")
                if driver:
                    lines.append(f"      <driver type='{escape(driver)}'/>")
                lines.append("    </disk>")
            else:
                lines.append(head + "/>")
        lines.append("  </disks>")
    lines.append("</domainsnapshot>")
    return "\n".join(lines) + "\n"


def _spec_attrs(spec: str, first: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, part in enumerate(spec.replace(",,", "\0").split(",")):
        part = part.replace("\0", ",")
        key, eq, value = part.partition("=")
        if not eq:
            key, value = (first, part) if i == 0 else (part, "")
        if key == "file" and first == "file":
            out["file"] = value
        elif key in ("snapshot", "file", "driver", "name"):
            out[key] = value
        else:
            raise CLIError(f"unable to parse spec: {spec}")
    if first == "file" and "file" in out and "snapshot" not in out:
        out = {"snapshot": "external", **out}
    return out


def cmd_snapshot_create_as(ctx: Context, args: Args) -> Any:
    xml = snapshot_xml(args)
    if args.bool("print-xml"):
        return Text(xml, newline=False)
    dom = domain(ctx, args)
    snap = call("Failed to create snapshot", dom.snapshot_create, xml, flags_from(args, _CREATE_FLAGS))
    return Message(f"Domain snapshot {snap.name()} created", newline=False)


def _info(snap: Any) -> dict[str, Any]:
    root = ET.fromstring(snap.xml_desc(0))
    memory = root.find("memory")
    return {
        "name": root.findtext("name") or snap.name(),
        "state": root.findtext("state") or "",
        "creation": int(root.findtext("creationTime") or 0),
        "parent": root.findtext("parent/name"),
        "memory": memory.get("snapshot") if memory is not None else None,
    }


def cmd_snapshot_list(ctx: Context, args: Args) -> Any:
    exclusive(args, ("tree", "name"), ("parent", "roots"), ("parent", "tree"), ("roots", "tree"),
              ("roots", "from"), ("roots", "current"), ("leaves", "no-leaves"), ("metadata", "no-metadata"),
              ("from", "current"))
    dom = domain(ctx, args)
    flags = flags_from(args, (("leaves", LF.LEAVES), ("no-leaves", LF.NO_LEAVES), ("metadata", LF.METADATA),
                              ("no-metadata", LF.NO_METADATA), ("inactive", LF.INACTIVE), ("active", LF.ACTIVE),
                              ("disk-only", LF.DISK_ONLY), ("internal", LF.INTERNAL), ("external", LF.EXTERNAL),
                              ("topological", LF.TOPOLOGICAL)))
    start = None
    if args.string("from"):
        start = call("Failed to get snapshot", dom.snapshot_lookup, args.string("from"), 0)
    elif args.bool("current"):
        start = call("Failed to get snapshot", dom.snapshot_current, 0)
    if start is not None:
        if args.bool("descendants"):
            flags |= int(LF.DESCENDANTS)
        snaps = [start] if args.bool("tree") else []
        snaps += call("Failed to list snapshots", start.children, flags)
    else:
        if args.bool("roots"):
            flags |= int(LF.ROOTS)
        snaps = call("Failed to list snapshots", dom.snapshots, flags)
    infos = [_info(s) for s in snaps]
    if not args.bool("topological"):
        infos.sort(key=lambda i: i["name"])
    if args.bool("tree"):
        names = [i["name"] for i in infos]
        parents = {i["name"]: i["parent"] for i in infos}
        if start is not None:
            parents[start.name()] = None
        return Text("\n".join(tree_lines(names, parents)) + "\n", value=parents)
    if args.bool("name"):
        return Text("".join(i["name"] + "\n" for i in infos), value=[i["name"] for i in infos])
    cols = ["Name", "Creation Time", "State"] + (["Parent"] if args.bool("parent") else [])
    table = Table(cols)
    for i in infos:
        created = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(i["creation"]))
        cells = [i["name"], created, i["state"]] + ([i["parent"] or ""] if args.bool("parent") else [])
        table.add(*cells, values=[i["name"], i["creation"], i["state"]] + ([i["parent"]] if args.bool("parent") else []))
    return table


def cmd_snapshot_current(ctx: Context, args: Args) -> Any:
    dom = domain(ctx, args)
    target = args.string("snapshotname")
    if target:
        exclusive(args, ("name", "snapshotname"))
        snap = call("Failed to get snapshot", dom.snapshot_lookup, target, 0)
        xml = snap.xml_desc(1)
        call(f"failed to update current snapshot to '{target}'", dom.snapshot_create, xml,
             int(CF.REDEFINE | CF.CURRENT))
        return Message(f"Snapshot {target} set as current", newline=False)
    from virt.util.errors import ErrorNumber, VirtError

    try:
        has_current = ctx.conn.call("domain_has_current_snapshot", dom.ref, 0)
    except VirtError as exc:
        if exc.code != ErrorNumber.NO_SUPPORT:
            raise
        has_current = True
    if not has_current:
        raise CLIError(f"domain '{dom.name()}' has no current snapshot")
    snap = dom.snapshot_current(0)
    if args.bool("name"):
        return Text(snap.name(), newline=False)
    return Text(snap.xml_desc(1 if args.bool("security-info") else 0))


def cmd_snapshot_info(ctx: Context, args: Args) -> Any:
    dom = domain(ctx, args)
    snap = _snapshot(ctx, dom, args)
    info = _info(snap)
    out = Fields()
    out.add("Name:", snap.name())
    out.add("Domain:", dom.name())
    current = bool(snap.is_current(0))
    out.add("Current:", "yes" if current else "no", current)
    out.add("State:", info["state"])
    location = "internal"
    if info["state"] == "disk-snapshot" or info["memory"] == "external":
        location = "external"
    out.add("Location:", location)
    out.add("Parent:", info["parent"] or "-", info["parent"])
    children = snap.children(0)
    descendants = snap.children(int(LF.DESCENDANTS))
    out.add("Children:", len(children))
    out.add("Descendants:", len(descendants))
    metadata = bool(snap.has_metadata(0))
    out.add("Metadata:", "yes" if metadata else "no", metadata)
    return out


def cmd_snapshot_revert(ctx: Context, args: Args) -> Any:
    exclusive(args, ("running", "paused"))
    dom = domain(ctx, args)
    snap = _snapshot(ctx, dom, args)
    flags = flags_from(args, (("running", RF.RUNNING), ("paused", RF.PAUSED), ("force", RF.FORCE),
                              ("reset-nvram", RF.RESET_NVRAM)))
    call(f"Failed to revert snapshot {snap.name()}", snap.revert, flags)
    return Message(f"Domain snapshot {snap.name()} reverted")


def cmd_snapshot_delete(ctx: Context, args: Args) -> Any:
    exclusive(args, ("children", "children-only"))
    dom = domain(ctx, args)
    snap = _snapshot(ctx, dom, args)
    flags = flags_from(args, (("children", DF.CHILDREN), ("children-only", DF.CHILDREN_ONLY),
                              ("metadata", DF.METADATA_ONLY)))
    name = snap.name()
    call(f"Failed to delete snapshot {name}", snap.delete, flags)
    if args.bool("children-only"):
        return Message(f"Domain snapshot {name} children deleted")
    return Message(f"Domain snapshot {name} deleted")


def cmd_snapshot_dumpxml(ctx: Context, args: Args) -> Any:
    dom = domain(ctx, args)
    snap = dom.snapshot_lookup(args.string("snapshotname") or "", 0)
    return Text(snap.xml_desc(1 if args.bool("security-info") else 0))


def cmd_snapshot_parent(ctx: Context, args: Args) -> Any:
    dom = domain(ctx, args)
    snap = _snapshot(ctx, dom, args)
    parent = _info(snap)["parent"]
    if not parent:
        raise CLIError(f"snapshot '{snap.name()}' has no parent")
    return Text(parent, newline=False)


_SNAPNAME = string("snapshotname", "snapshot name")
_CURRENT = flag("current", "also set edited snapshot as current")

GROUP = CommandGroup("Snapshot", "snapshot", [
    Command("snapshot-create", cmd_snapshot_create, "Create a snapshot from XML",
            "Create a snapshot (disk and RAM) from XML",
            (DOMAIN, string("xmlfile", "domain snapshot XML"), flag("redefine", "redefine metadata for existing snapshot"),
             flag("current", "with redefine, set current snapshot"), flag("no-metadata", "take snapshot but create no metadata"),
             flag("halt", "halt domain after snapshot is created"), flag("disk-only", "capture disk state but not vm state"),
             flag("reuse-external", "reuse any existing external files"),
             flag("quiesce", "quiesce guest's file systems"), flag("atomic", "require atomic operation"),
             flag("live", "take a live snapshot"), flag("validate", "validate the XML against the schema"))),
    Command("snapshot-create-as", cmd_snapshot_create_as, "Create a snapshot from a set of args",
            "Create a snapshot (disk and RAM) from arguments",
            (DOMAIN, string("name", "name of snapshot"), string("description", "description of snapshot"),
             flag("print-xml", "print XML document rather than create"), flag("no-metadata", "take snapshot but create no metadata"),
             flag("halt", "halt domain after snapshot is created"), flag("disk-only", "capture disk state but not vm state"),
             flag("reuse-external", "reuse any existing external files"),
             flag("quiesce", "quiesce guest's file systems"), flag("atomic", "require atomic operation"),
             flag("live", "take a live snapshot"),
             string("memspec", "memory attributes: [file=]name[,snapshot=type]", named_only=True),
             argv("diskspec", "disk attributes: disk[,snapshot=type][,driver=type][,stype=type][,file=name]"))),
    Command("snapshot-current", cmd_snapshot_current, "Get or set the current snapshot", "Get or set the current snapshot",
            (DOMAIN, flag("name", "list the name, rather than the full xml"),
             flag("security-info", "include security sensitive information in XML dump"),
             string("snapshotname", "name of existing snapshot to make current"))),
    Command("snapshot-delete", cmd_snapshot_delete, "Delete a domain snapshot", "Snapshot Delete",
            (DOMAIN, _SNAPNAME, flag("current", "delete current snapshot"), flag("children", "delete snapshot and all children"),
             flag("children-only", "delete children but not snapshot"), flag("metadata", "delete only libvirt metadata, leaving snapshot contents behind"))),
    Command("snapshot-dumpxml", cmd_snapshot_dumpxml, "Dump XML for a domain snapshot", "Snapshot Dump XML",
            (DOMAIN, string("snapshotname", "snapshot name", required=True),
             flag("security-info", "include security sensitive information in XML dump"))),
    Command("snapshot-info", cmd_snapshot_info, "snapshot information", "Returns basic information about a snapshot.",
            (DOMAIN, _SNAPNAME, flag("current", "info on current snapshot"))),
    Command("snapshot-list", cmd_snapshot_list, "List snapshots for a domain", "Snapshot List",
            (DOMAIN, flag("parent", "add a column showing parent snapshot"), flag("roots", "list only snapshots without parents"),
             flag("leaves", "list only snapshots without children"), flag("no-leaves", "list only snapshots that are not leaves (with children)"),
             flag("metadata", "list only snapshots that have metadata that would prevent undefine"),
             flag("no-metadata", "list only snapshots that have no metadata managed by libvirt"),
             flag("inactive", "filter by snapshots taken while inactive"), flag("active", "filter by snapshots taken while active (full system snapshots)"),
             flag("disk-only", "filter by disk-only snapshots"), flag("internal", "filter by internal snapshots"),
             flag("external", "filter by external snapshots"), flag("tree", "list snapshots in a tree"),
             string("from", "limit list to children of given snapshot"), flag("current", "limit list to children of current snapshot"),
             flag("descendants", "with --from, list all descendants"), flag("name", "list snapshot names only"),
             flag("topological", "sort list topologically rather than by name"))),
    Command("snapshot-parent", cmd_snapshot_parent, "Get the name of the parent of a snapshot",
            "Extract the snapshot's parent, if any",
            (DOMAIN, _SNAPNAME, flag("current", "find parent of current snapshot"))),
    Command("snapshot-revert", cmd_snapshot_revert, "Revert a domain to a snapshot", "Revert domain to snapshot",
            (DOMAIN, _SNAPNAME, flag("current", "revert to current snapshot"), flag("running", "after reverting, change state to running"),
             flag("paused", "after reverting, change state to paused"), flag("force", "try harder on risky reverts"),
             flag("reset-nvram", "re-initialize NVRAM from its pristine template"))),
])
