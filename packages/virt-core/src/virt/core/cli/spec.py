"""How a `virt` command is described: its name, aliases, options, help text and handler, as data.

One engine (``virt.core.cli.parse``) turns argv into option values from these descriptions, the
same way virsh does for its command table; handlers only see parsed options.

Option types are virsh's: ``bool`` (a flag), ``string`` and ``int`` (take a value; may also be
filled positionally unless ``named_only``), ``data`` (a required positional string, shown as
``[--domain] <string>``) and ``argv`` (every remaining positional word).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

OPTION_TYPES = ("bool", "string", "int", "data", "argv")


@dataclass(frozen=True)
class Option:
    """One option of a command. ``aliases`` are extra names (``--config`` for ``--persistent``);
    an alias written ``name=value`` stands for this option with that value."""

    name: str
    type: str = "bool"
    help: str = ""
    required: bool = False
    #: Must be written ``--name value``; never filled from a positional word (virsh's REQ_OPT).
    named_only: bool = False
    #: An empty string is an acceptable value.
    empty_ok: bool = False
    aliases: tuple[str, ...] = ()
    #: Set on options a plugin registered: the keyword the value is passed as.
    dest: str = ""

    def __post_init__(self) -> None:
        if self.type not in OPTION_TYPES:
            raise ValueError(f"option --{self.name}: unknown type {self.type!r}")
        if self.type == "bool" and self.required:
            raise ValueError(f"option --{self.name}: a flag cannot be required")

    @property
    def positional(self) -> bool:
        return self.type != "bool" and not self.named_only

    @property
    def takes_value(self) -> bool:
        return self.type != "bool"


@dataclass(frozen=True)
class Command:
    """One command: ``handler(ctx, args)`` returns a result to print (see ``output``), True/None for
    success or False for failure (after printing its own error)."""

    name: str
    handler: Callable[..., Any] | str
    help: str
    desc: str = ""
    options: tuple[Option, ...] = ()
    aliases: tuple[str, ...] = ()
    #: The help group (its name or keyword) a plugin command is listed in; "" for "Plugin commands".
    group: str = ""
    #: False for commands that never touch a hypervisor (help, xml-validate, drivers, ...).
    needs_connection: bool = True

    def option(self, name: str) -> Option | None:
        for opt in self.options:
            if opt.name == name:
                return opt
        return None

    def with_options(self, extra: tuple[Option, ...]) -> Command:
        """A copy with plugin-registered options appended (before a trailing ``argv`` option)."""
        if not extra:
            return self
        opts = list(self.options)
        at = len(opts) - 1 if opts and opts[-1].type == "argv" else len(opts)
        opts[at:at] = extra
        return replace(self, options=tuple(opts))

    def resolve_handler(self) -> Callable[..., Any]:
        if isinstance(self.handler, str):
            from virt.core.registry import resolve_ref

            return resolve_ref(self.handler)  # type: ignore[no-any-return]
        return self.handler


# -- short constructors for the command tables -------------------------------------------------
def flag(name: str, help: str = "", *, aliases: tuple[str, ...] = ()) -> Option:
    return Option(name, "bool", help, aliases=aliases)


def data(name: str, help: str = "", *, empty_ok: bool = False) -> Option:
    """A required value that may be given positionally (``<domain>``)."""
    return Option(name, "data", help, required=True, empty_ok=empty_ok)


def string(name: str, help: str = "", *, required: bool = False, named_only: bool = False,
           empty_ok: bool = False, aliases: tuple[str, ...] = ()) -> Option:
    return Option(name, "string", help, required=required, named_only=named_only, empty_ok=empty_ok,
                  aliases=aliases)


def number(name: str, help: str = "", *, required: bool = False, named_only: bool = False,
           aliases: tuple[str, ...] = ()) -> Option:
    return Option(name, "int", help, required=required, named_only=named_only, aliases=aliases)


def argv(name: str, help: str = "", *, required: bool = False) -> Option:
    return Option(name, "argv", help, required=required)


#: virsh's common option sets, described once.
DOMAIN = data("domain", "domain name, id or uuid")
NETWORK = data("network", "network name or uuid")
POOL = data("pool", "pool name or uuid")
FILE = data("file", "file containing an XML description")


def impact_flags(live: str = "affect running domain", config: str = "affect next boot",
                 current: str = "affect current domain") -> tuple[Option, ...]:
    """--config --live --current (with --persistent as an alias of --config where virsh has it)."""
    return (flag("config", config), flag("live", live), flag("current", current))


@dataclass
class CommandGroup:
    """A group of commands as ``virt help`` lists them (virsh's help keyword in ``keyword``)."""

    name: str
    keyword: str
    commands: list[Command] = field(default_factory=list)
