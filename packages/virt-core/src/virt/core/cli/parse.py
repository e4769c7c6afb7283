"""The one engine that turns words into commands and option values, by virsh's rules.

- A single command-line argument is a command string: split like virsh's shell (quotes,
  backslashes, ``#`` comments, commands separated by ``;`` or newlines).
- Several arguments are words already; a word that is exactly ``;`` separates commands.
- Per command: ``--opt value``, ``--opt=value``, boolean ``--flag``; other words fill the
  command's positional options in their declared order; after ``--`` every word is positional.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from virt.core.cli.spec import Command, Option


class CLIError(Exception):
    """A user-facing failure: each line is printed as ``error: LINE``; ``cause`` (a VirtError) after."""

    def __init__(self, *lines: str, cause: BaseException | None = None) -> None:
        super().__init__(*lines)
        self.lines = lines
        self.cause = cause


class ParseError(CLIError):
    """The command line itself is wrong: nothing runs."""


# -- words -----------------------------------------------------------------------------------------
def split_string(text: str) -> list[list[str]]:
    """A command string as virsh's shell splits it: a list of commands, each a list of words."""
    commands: list[list[str]] = []
    words: list[str] = []
    i, n = 0, len(text)

    def end_command() -> None:
        nonlocal words
        if words:
            commands.append(words)
        words = []

    while True:
        while i < n and (text[i] in " \t" or (text[i] == "\\" and i + 1 < n and text[i + 1] == "\n")):
            i += 1 + (text[i] == "\\")
        if i >= n:
            break
        c = text[i]
        if c in ";\n":
            end_command()
            i += 1
            continue
        if c == "#":  # a word starting with '#' comments out the rest of the line
            while i < n and text[i] != "\n":
                i += 1
            end_command()
            i += 1
            continue
        word: list[str] = []
        single = double = False
        while i < n:
            c = text[i]
            if not single and not double and c in " \t;\n":
                break
            if not double and c == "'":
                single = not single
                i += 1
                continue
            if not single and c == "\\":
                i += 1
                if i >= n:
                    raise ParseError("dangling \\")
                if text[i] == "\n":
                    i += 1
                    continue
            elif not single and c == '"':
                double = not double
                i += 1
                continue
            word.append(text[i])
            i += 1
        if double:
            raise ParseError('missing "')
        if single:
            raise ParseError("missing '")
        words.append("".join(word))
    end_command()
    return commands


def split_argv(words: list[str]) -> list[list[str]]:
    """Words from the process's argv: one argument is a command string, several are words."""
    if len(words) == 1:
        return split_string(words[0])
    commands: list[list[str]] = [[]]
    for w in words:
        if w == ";":
            commands.append([])
        else:
            commands[-1].append(w)
    return [c for c in commands if c]


# -- options ---------------------------------------------------------------------------------------
@dataclass
class Args:
    """The parsed options of one command: name -> str (string/int/data), list (argv) or True (bool)."""

    command: Command
    values: dict[str, Any] = field(default_factory=dict)

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def bool(self, name: str) -> bool:
        return name in self.values

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def string(self, name: str) -> builtins.str | None:
        """The value, or None when absent; an empty value is an error unless the option allows it."""
        value = self.values.get(name)
        if value is None:
            return None
        opt = self.command.option(name)
        if value == "" and not (opt and opt.empty_ok):
            raise CLIError(f"Failed to get option '{name}': Option argument is empty")
        return str(value)

    def int(self, name: str, default: builtins.int | None = None, *, unsigned: builtins.bool = False,
            bits: builtins.int = 32) -> builtins.int | None:
        """A decimal integer as virsh's vshCommandOptInt/UInt/LongLong read it."""
        value = self.values.get(name)
        if value is None:
            return default
        try:
            number = int(value.strip() if value[:1].isspace() else value, 10)
        except ValueError:
            number = None
        low, high = (0, 2 ** bits - 1) if unsigned else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        if number is None or not low <= number <= high or value.strip() != value:
            raise CLIError(f"Numeric value '{value}' for <{name}> option is malformed or out of range")
        return number

    def scaled(self, name: str, scale: builtins.int = 1, max: builtins.int = 2 ** 64 - 1,
               default: builtins.int | None = None) -> builtins.int | None:
        """A size with an optional unit suffix (KiB, M, GB, ...); bare numbers are in ``scale`` bytes."""
        value = self.values.get(name)
        if value is None:
            return default
        from virt.util.errors import VirtError
        from virt.util.units import parse_size

        try:
            result = parse_size(value, scale, max)
        except VirtError:
            raise CLIError(f"Scaled numeric value '{value}' for <{name}> option is malformed or out of range") \
                from None
        return int(result)

    def argv(self, name: str) -> list[str]:
        return list(self.values.get(name, []))


def _lookup(cmd: Command, name: str) -> tuple[Option, str | None]:
    """The option a ``--name`` refers to, and the value an ``alias=value`` alias supplies."""
    for opt in cmd.options:
        if opt.name == name:
            return opt, None
    for opt in cmd.options:
        for alias in opt.aliases:
            alias_name, eq, value = alias.partition("=")
            if alias_name == name:
                return opt, (value if eq else None)
    raise ParseError(f"command '{cmd.name}' doesn't support option --{name}")


def parse_command(cmd: Command, words: list[str]) -> Args:
    """Option values of ``cmd`` from its words (the command name excluded), as virsh parses them."""
    args = Args(cmd)
    values = args.values
    positional = [o for o in cmd.options if o.positional]
    data_only = False
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if not data_only and word == "--":
            data_only = True
            continue
        if not data_only and word.startswith("--") and len(word) > 2:
            name, eq, inline = word[2:].partition("=")
            if name == "help":
                values["help"] = True
                continue
            opt, alias_value = _lookup(cmd, name)
            if alias_value is not None and eq:
                raise ParseError(f"invalid '=' after option --{name}")
            if opt.name in values and opt.type != "argv":
                raise ParseError(f"option --{opt.name} already seen")
            if opt.type == "bool":
                if eq:
                    raise ParseError(f"invalid '=' after option --{name}")
                values[opt.name] = True
                continue
            if alias_value is not None:
                value = alias_value
            elif eq:
                value = inline
            elif i < len(words):
                value = words[i]
                i += 1
            else:
                kind = "number" if opt.type == "int" else "string"
                raise ParseError(f"expected syntax: --{opt.name} <{kind}>")
            if opt.type == "argv":
                values.setdefault(opt.name, []).append(value)
            else:
                values[opt.name] = value
            continue
        target = next((o for o in positional if o.type == "argv" or o.name not in values), None)
        if target is None:
            raise ParseError(f"unexpected data '{word}'")
        if target.type == "argv":
            values.setdefault(target.name, []).append(word)
        else:
            values[target.name] = word
    if "help" not in values:
        for opt in cmd.options:
            if opt.required and opt.name not in values:
                if opt.type in ("data", "argv"):
                    raise ParseError(f"command '{cmd.name}' requires <{opt.name}> option")
                raise ParseError(f"command '{cmd.name}' requires --{opt.name} option")
    return args


@dataclass
class Invocation:
    """One command ready to run: its description and parsed options."""

    command: Command
    args: Args


def parse_commands(groups: list[list[str]], find: Callable[[str], Command | None]) -> list[Invocation]:
    """Every command of a command line, parsed before any runs (virsh runs none if one is wrong)."""
    out = []
    for words in groups:
        cmd = find(words[0])
        if cmd is None:
            raise ParseError(f"unknown command: '{words[0]}'")
        out.append(Invocation(cmd, parse_command(cmd, words[1:])))
    return out
