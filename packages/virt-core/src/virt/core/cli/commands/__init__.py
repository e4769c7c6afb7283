"""The built-in command tables, grouped as virsh groups them in `help`."""

from __future__ import annotations

from functools import cache
from importlib import import_module

from virt.core.cli.spec import Command, CommandGroup

#: (module, attribute) of each group, in virsh's help order; virt's own groups last.
GROUPS = (
    ("domain", "GROUP"), ("domain", "MONITOR"), ("host", "EVENTS"), ("host", "GROUP"),
    ("iface", "GROUP"), ("nwfilter", "GROUP"), ("network", "GROUP"), ("nodedev", "GROUP"),
    ("secret", "GROUP"), ("snapshot", "GROUP"), ("storage", "POOLS"), ("storage", "VOLUME"),
    ("shell", "GROUP"), ("host", "TOOLS"), ("xmltools", "GROUP"),
)


@cache
def _groups() -> tuple[CommandGroup, ...]:
    out = []
    for module, attr in GROUPS:
        group: CommandGroup = getattr(import_module(f"{__name__}.{module}"), attr)
        out.append(group)
    return tuple(out)


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
