"""The shell's own commands (help, quit, exit, cd, pwd, echo, connect) and help formatting."""

from __future__ import annotations

import os
from typing import Any

from virt.core.cli.engine import Context
from virt.core.cli.output import Data, Text
from virt.core.cli.parse import Args, CLIError
from virt.core.cli.spec import Command, CommandGroup, argv, flag, string


def _synopsis(cmd: Command) -> str:
    parts = [cmd.name]
    shortopt = False
    for opt in cmd.options:
        if opt.type == "bool":
            parts.append(f"[--{opt.name}]")
        elif opt.type == "argv":
            if shortopt:
                parts.append(f"{{[--{opt.name}] <string>}}..." if opt.required else f"[[--{opt.name}] <string>]...")
            else:
                parts.append(f"<{opt.name}>..." if opt.required else f"[<{opt.name}>]...")
        elif opt.required and opt.positional:
            parts.append(f"<{opt.name}>")
            shortopt = True
        else:
            kind = "number" if opt.type == "int" else "string"
            parts.append(f"--{opt.name} <{kind}>" if opt.required else f"[--{opt.name} <{kind}>]")
            shortopt = shortopt or opt.positional
    return " ".join(parts)


def _option_label(opt: Any, shortopt: bool) -> str:
    kind = "number" if opt.type == "int" else "string"
    if opt.type == "bool":
        return f"--{opt.name}"
    if opt.type == "argv":
        return f"[--{opt.name}] <string>" if shortopt else f"<{opt.name}>"
    if opt.required and opt.positional:
        return f"[--{opt.name}] <{kind}>"
    return f"--{opt.name} <{kind}>"


def command_help(ctx: Context, cmd: Command) -> Text:
    lines = ["  NAME", f"    {cmd.name} - {cmd.help}", "", "  SYNOPSIS", f"    {_synopsis(cmd)}"]
    if cmd.desc:
        lines += ["", "  DESCRIPTION", f"    {cmd.desc}"]
    if cmd.options:
        lines += ["", "  OPTIONS"]
        shortopt = False
        for opt in cmd.options:
            lines.append(f"    {_option_label(opt, shortopt):<15}  {opt.help}")
            if opt.positional and opt.type != "argv":
                shortopt = True
    return Text("\n".join(lines) + "\n\n", value={
        "name": cmd.name, "help": cmd.help, "description": cmd.desc, "aliases": list(cmd.aliases),
        "options": [{"name": o.name, "type": o.type, "required": o.required, "positional": o.positional,
                     "help": o.help} for o in cmd.options]})


def _group_text(group: CommandGroup, colon: bool = True) -> str:
    head = f" {group.name} (help keyword '{group.keyword}')" + (":" if colon else "")
    return head + "\n" + "".join(f"    {c.name:<30} {c.help}\n" for c in group.commands) + "\n"


def global_help(ctx: Context, indent: bool = False) -> Data:
    groups = ctx.catalog.groups()
    body = "".join(_group_text(g, colon=not indent) for g in groups)
    if not indent:
        body = "Grouped commands:\n\n" + body
    value = {g.keyword: {c.name: c.help for c in g.commands} for g in groups}
    return Data(value, body)


def cmd_help(ctx: Context, args: Args) -> Any:
    name = args.string("command")
    if not name:
        return global_help(ctx)
    cmd = ctx.catalog.find(name)
    if cmd is not None:
        return command_help(ctx, cmd)
    for group in ctx.catalog.groups():
        if name in (group.name, group.keyword):
            return Data({c.name: c.help for c in group.commands}, _group_text(group))
    raise CLIError(f"command or command group '{name}' doesn't exist")


def cmd_quit(ctx: Context, args: Args) -> Any:
    ctx.stop = True
    return None


def cmd_cd(ctx: Context, args: Args) -> Any:
    if not ctx.interactive:
        raise CLIError("cd: command valid only in interactive mode")
    target = args.string("dir") or os.path.expanduser("~")
    try:
        os.chdir(target)
    except OSError as exc:
        raise CLIError(f"cd: {exc.strerror}: {target}") from None
    return None


def cmd_pwd(ctx: Context, args: Args) -> Any:
    return Text(os.getcwd(), value=os.getcwd())


def cmd_echo(ctx: Context, args: Args) -> Any:
    import shlex

    from .common import escape

    words = []
    source = args.argv("string")
    if args.bool("split"):
        source = [part.replace("\0", ",") for w in source for part in w.replace(",,", "\0").split(",")]
    for word in source:
        if args.bool("shell") and word and (not word.replace("-", "").replace("_", "").isalnum()):
            word = shlex.quote(word)
        if args.bool("xml"):
            word = escape(word).replace("'", "&apos;").replace('"', "&quot;")
        words.append(word)
    text = " ".join(words)
    if args.bool("err"):
        ctx.error(text)
        return None
    return Text(text + "\n", value=text)


def cmd_connect(ctx: Context, args: Args) -> Any:
    uri = args.string("name")
    ctx.reconnect(uri if uri else ctx.uri, args.bool("readonly"))
    return None


GROUP = CommandGroup("Virt itself", "virt", [
    Command("cd", cmd_cd, "change the current directory", "Change the current directory.",
            (string("dir", "directory to switch to (default: home or else root)"),),
            needs_connection=False),
    Command("echo", cmd_echo, "echo arguments. Used for internal testing.", "Echo back arguments, possibly with quoting. Used for internal testing.",
            (flag("shell", "escape for shell use"), flag("xml", "escape for XML use"),
             flag("split", "split each argument on ','; ',,' is an escape sequence"),
             flag("err", "output to stderr"), argv("string", "arguments to echo")),
            needs_connection=False),
    Command("exit", cmd_quit, "quit this interactive terminal", "", needs_connection=False),
    Command("help", cmd_help, "print help",
            "Prints global help, command specific help, or help for a\n    group of related commands",
            (string("command", "Prints global help, command specific help, or help for a group of related commands"),),
            needs_connection=False),
    Command("pwd", cmd_pwd, "print the current directory", "Print the current directory.", needs_connection=False),
    Command("quit", cmd_quit, "quit this interactive terminal", "", needs_connection=False),
    Command("connect", cmd_connect, "(re)connect to hypervisor",
            "Connect to local hypervisor. This is built-in command after shell start up but you can use it to "
            "reconnect to the hypervisor if necessary.",
            (string("name", "hypervisor connection URI"), flag("readonly", "read-only connection"))),
])
