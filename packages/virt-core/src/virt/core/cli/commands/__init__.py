"""The built-in command tables, grouped as virsh groups them in `help`."""

from __future__ import annotations

from functools import cache
from importlib import import_module

from virt.core.cli.spec import Command, CommandGroup

#: (module, attribute) of each group, in virsh's help order; virt's own groups last. Tables that share a
#: help keyword (domain.GROUP and guest.GROUP) are listed as one group.
GROUPS = (
    ("domain", "GROUP"), ("guest", "GROUP"), ("domain", "MONITOR"), ("guest", "MONITOR"), ("host", "EVENTS"), ("host", "GROUP"),
    ("iface", "GROUP"), ("nwfilter", "GROUP"), ("network", "GROUP"), ("nodedev", "GROUP"),
    ("secret", "GROUP"), ("snapshot", "GROUP"), ("storage", "POOLS"), ("storage", "VOLUME"),
    ("shell", "GROUP"), ("host", "TOOLS"), ("xmltools", "GROUP"),
)


@cache
def _groups() -> tuple[CommandGroup, ...]:
    out: dict[str, CommandGroup] = {}
    for module, attr in GROUPS:
        group: CommandGroup = getattr(import_module(f"{__name__}.{module}"), attr)
        if group.keyword in out:
            merged = out[group.keyword]
            out[group.keyword] = CommandGroup(merged.name, merged.keyword, [*merged.commands, *group.commands])
        else:
            out[group.keyword] = group
    return tuple(out.values())


def builtin_groups() -> list[CommandGroup]:
    """Fresh copies (callers may append plugin commands), commands sorted by name as virsh lists
    them, except the shell's own group which keeps its order."""
    return [CommandGroup(g.name, g.keyword, list(g.commands) if g.keyword == "virt"
                         else sorted(g.commands, key=lambda c: c.name)) for g in _groups()]


@cache
def builtin_index() -> dict[str, Command]:
    """Command name and alias -> command."""
    index: dict[str, Command] = {}
    for group in _groups():
        for cmd in group.commands:
            if cmd.name in index:
                raise RuntimeError(f"two built-in commands named {cmd.name!r}")
            index[cmd.name] = cmd
    for group in _groups():
        for cmd in group.commands:
            for alias in cmd.aliases:
                index.setdefault(alias, cmd)
    return index


def find_builtin(name: str) -> Command | None:
    """The built-in command called ``name`` (its name or an alias), importing only the tables needed.

    Start-up matters here (``virt list`` should not import every command module): names are looked
    up group by group, in ``GROUPS`` order; an alias (or an unknown word) needs the full index, since
    a command's name wins over another's alias. A test checks this agrees with ``builtin_index``.
    """
    if builtin_index.cache_info().currsize:
        return builtin_index().get(name)
    for module, attr in GROUPS:
        group: CommandGroup = getattr(import_module(f"{__name__}.{module}"), attr)
        for cmd in group.commands:
            if cmd.name == name:
                return cmd
    return builtin_index().get(name)
