"""Runs parsed commands: finds them (built-in and plugin), opens the connection on demand,
prints results and errors the way virsh does, and keeps the exit status."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from virt.core.cli.output import Result, render
from virt.core.cli.parse import CLIError, Invocation, parse_commands
from virt.core.cli.spec import Command, CommandGroup, Option

if TYPE_CHECKING:
    from virt.core.connection import Connection
    from virt.core.registry import DriverRegistry


@dataclass
class Context:
    """Everything a command handler may use: the connection (opened on first use), the global
    options, the registry of plugins and the output streams."""

    uri: str | None = None
    readonly: bool = False
    quiet: bool = False
    json: bool = False
    timing: bool = False
    debug: int | None = None
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    registry: DriverRegistry | None = None
    interactive: bool = False
    #: Set by quit/exit in the shell.
    stop: bool = False
    _conn: Connection | None = None
    _catalog: Catalog | None = None

    # -- the connection -------------------------------------------------------------------------
    @property
    def conn(self) -> Connection:
        if self._conn is None:
            self._conn = self.open(self.uri, self.readonly)
        return self._conn

    def open(self, uri: str | None, readonly: bool) -> Connection:
        from virt.core.connection import Connection
        from virt.core.remote.sasl import console_auth
        from virt.util.errors import VirtError

        try:  # credentials a daemon asks for (SASL) and auth.conf lacks are asked on the terminal, as virsh does
            return Connection(uri, readonly=readonly, registry=self.get_registry(), auth=console_auth)
        except VirtError as exc:
            raise CLIError("failed to connect to the hypervisor", cause=exc) from None

    def reconnect(self, uri: str | None, readonly: bool) -> None:
        self.close()
        self.uri, self.readonly = uri, readonly
        self._conn = self.open(uri, readonly)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def get_registry(self) -> DriverRegistry:
        if self.registry is None:
            from virt.core.registry import get_registry

            self.registry = get_registry()
        return self.registry

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = Catalog(self)
        return self._catalog

    # -- printing -------------------------------------------------------------------------------
    def print(self, text: str = "") -> None:
        self.out.write(text)

    def error(self, message: str) -> None:
        self.out.flush()
        self.err.write(f"error: {message}\n")
        self.err.flush()

    def warn(self, message: str) -> None:
        self.out.flush()
        self.err.write(f"warning: {message}\n")
        self.err.flush()


class Catalog:
    """Every command this `virt` knows: the built-in tables plus what plugins registered
    (``registry.commands``), with plugin options (``registry.cli_options``) attached."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._plugin_commands: dict[str, Command] | None = None

    def builtin_groups(self) -> list[CommandGroup]:
        from virt.core.cli.commands import builtin_groups

        return builtin_groups()

    def plugin_commands(self) -> dict[str, Command]:
        if self._plugin_commands is None:
            from virt.core.registry import resolve_ref

            found: dict[str, Command] = {}
            for name, spec in self.ctx.get_registry().commands.items():
                cmd = resolve_ref(spec)
                if not isinstance(cmd, Command):
                    raise CLIError(f"internal error: plugin command '{name}' is not a Command")
                found[name] = cmd
            self._plugin_commands = found
        return self._plugin_commands

    def plugin_options(self, command: str) -> tuple[Option, ...]:
        opts = []
        for o in self.ctx.get_registry().cli_options:
            if o.command == command:
                opts.append(Option(o.flag.lstrip("-"), "string" if o.takes_value else "bool", o.help,
                                   named_only=True, dest=o.dest))
        return tuple(opts)

    def find(self, name: str) -> Command | None:
        from virt.core.cli.commands import find_builtin

        cmd = find_builtin(name)
        if cmd is None:
            cmd = self.plugin_commands().get(name)
            if cmd is None:
                cmd = next((c for c in self.plugin_commands().values() if name in c.aliases), None)
        if cmd is None:
            return None
        return cmd.with_options(self.plugin_options(cmd.name))

    def groups(self) -> list[CommandGroup]:
        groups = self.builtin_groups()
        plugins = sorted(self.plugin_commands().values(), key=lambda c: c.name)
        if plugins:
            by_name = {g.name: g for g in groups} | {g.keyword: g for g in groups}
            for cmd in plugins:
                name = cmd.group or "Plugin commands"
                group = by_name.get(name)
                if group is None:
                    group = by_name[name] = CommandGroup(name, cmd.group or "plugins")
                    groups.append(group)
                group.commands = [*group.commands, cmd]
        return groups


def report(ctx: Context, exc: BaseException) -> None:
    """Print a failure as virsh does: each line ``error: ...``, then the libvirt error if any."""
    from virt.util.errors import VirtError

    if isinstance(exc, CLIError):
        for line in exc.lines:
            ctx.error(line)
        if exc.cause is not None:
            report(ctx, exc.cause)
    elif isinstance(exc, VirtError):
        ctx.error(exc.message)
    elif isinstance(exc, OSError):
        ctx.error(f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc))
    else:
        ctx.error(f"internal error: {type(exc).__name__}: {exc}")
        if ctx.debug == 0:
            import traceback

            traceback.print_exception(exc, file=ctx.err)


def run_one(ctx: Context, inv: Invocation) -> bool:
    """Run one command; True when it succeeded."""
    ok = True
    start = time.perf_counter()
    try:
        if inv.args.bool("help"):
            from virt.core.cli.commands.shell import command_help

            results: Any = command_help(ctx, inv.command)
        else:
            results = inv.command.resolve_handler()(ctx, inv.args)
        if results is False:
            ok = False
        elif results is not None and results is not True:
            render(results if isinstance(results, list) else [results], ctx.out, quiet=ctx.quiet,
                   as_json=ctx.json)
    except KeyboardInterrupt:
        ok = False
        ctx.error("interrupted")
    except Exception as exc:
        ok = False
        report(ctx, exc)
    if inv.command.name in ("quit", "exit"):
        return ok
    if ctx.timing:
        ctx.print(f"\n(Time: {(time.perf_counter() - start) * 1000:.3f} ms)\n\n")
    elif not ctx.quiet and not ctx.json:
        ctx.print("\n")
    ctx.out.flush()
    return ok


def run_words(ctx: Context, groups: list[list[str]]) -> bool:
    """Parse every command first (a parse error runs none), then run them in order.

    The result is the last command's, as virsh's exit status is."""
    try:
        invocations = parse_commands(groups, ctx.catalog.find)
    except Exception as exc:
        report(ctx, exc)
        return False
    ok = True
    for inv in invocations:
        ok = run_one(ctx, inv)
        if ctx.stop:
            break
    return ok


def results_of(value: Result | list[Result] | None) -> list[Result]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
