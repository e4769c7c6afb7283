"""`virt`: the virsh-compatible command line (global options, one-shot commands, the shell)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from virt.core.cli.engine import Context

PROG = "virt"

# Global options as virsh has them: (short, long, takes a value). "version" takes an optional value.
_GLOBAL = (
    ("c", "connect", True), ("d", "debug", True), ("e", "escape", True), ("h", "help", False),
    ("k", "keepalive-interval", True), ("K", "keepalive-count", True), ("l", "log", True),
    ("q", "quiet", False), ("r", "readonly", False), ("t", "timing", False), ("v", None, False),
    ("V", None, False), (None, "version", None), (None, "json", False),
)

USAGE = f"""
{PROG} [options]... [<command_string>]
{PROG} [options]... <command> [args...]

  options:
    -c | --connect=URI      hypervisor connection URI
    -d | --debug=NUM        debug level [0-4]
    -e | --escape <char>    set escape sequence for console
    -h | --help             this help
    -k | --keepalive-interval=NUM
                            keepalive interval in seconds, 0 for disable
    -K | --keepalive-count=NUM
                            number of possible missed keepalive messages
    -l | --log=FILE         output logging to file
    -q | --quiet            quiet mode
    -r | --readonly         connect readonly
    -t | --timing           print timing information
    -v                      short version
    -V                      long version
         --version[=TYPE]   version, TYPE is short or long (default short)
         --json             machine-readable (JSON) output
  commands (non interactive mode):

"""


class Usage(Exception):
    """A wrong global option: one ``error:`` line, exit status 1."""


def parse_global(argv: Sequence[str]) -> tuple[list[tuple[str, str | None]], list[str]]:
    """getopt_long with a leading '+': options until the first word that is not one."""
    found: list[tuple[str, str | None]] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            i += 1
            break
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            matches = [o for o in _GLOBAL if o[1] and o[1].startswith(name)]
            exact = [o for o in matches if o[1] == name]
            if exact:
                matches = exact
            if not name or len(matches) != 1:
                raise Usage(f"unsupported option '{word}'. See --help.")
            short, long, takes = matches[0]
            key = short or long
            assert key is not None
            if takes is None:  # optional value: only with '='
                found.append((key, value if eq else None))
            elif takes:
                if not eq:
                    i += 1
                    if i >= len(argv):
                        raise Usage(f"option '-{short}'/'--{long}' requires an argument" if short
                                    else f"option '--{long}' requires an argument")
                    value = argv[i]
                found.append((key, value))
            else:
                if eq:
                    raise Usage(f"option '--{long}' doesn't allow an argument")
                found.append((key, None))
            i += 1
            continue
        if word.startswith("-") and len(word) > 1:
            j = 1
            while j < len(word):
                ch = word[j]
                opt = next((o for o in _GLOBAL if o[0] == ch), None)
                if opt is None:
                    raise Usage(f"unsupported option '-{ch}'. See --help.")
                if opt[2]:
                    value = word[j + 1:]
                    if not value:
                        i += 1
                        if i >= len(argv):
                            raise Usage(f"option '-{ch}'/'--{opt[1]}' requires an argument")
                        value = argv[i]
                    found.append((ch, value))
                    break
                found.append((ch, None))
                j += 1
            i += 1
            continue
        break
    return found, list(argv[i:])


def version() -> str:
    from virt.core.distributions import version as dist_version

    return dist_version("virt-core") or "0.0.0"


def long_version(ctx: Context) -> str:
    lines = [f"Virt command line tool of virt {version()}", ""]
    try:
        drivers = ctx.get_registry().drivers.values()
        hv = " ".join(sorted(d.name for d in drivers if d.kind == "hypervisor"))
        sec = " ".join(sorted(d.name for d in drivers if d.kind == "secondary"))
        lines += ["Installed drivers:", f" Hypervisors: {hv}", f" Secondary drivers: {sec}"]
    except Exception as exc:
        lines.append(f"(drivers unavailable: {exc})")
    return "\n".join(lines) + "\n"


def print_usage(ctx: Context) -> None:
    from virt.core.cli.commands.shell import global_help

    ctx.print(USAGE.lstrip("\n"))
    ctx.print(global_help(ctx, indent=True).text())
    ctx.print("  (specify help <group> for details about the commands in the group)\n\n"
              "  (specify help <command> for details about the command)\n\n")


def setup_logging(ctx: Context, debug: int | None, log_file: str | None) -> None:
    """-d LEVEL (virsh's 0 = debug ... 4 = error) and -l FILE, through virt.util.log."""
    if debug is None and log_file is None:
        # Without -d/-l, library warnings (a plugin that failed to load, ...) stay off the terminal,
        # as virsh prints only its own errors.
        import logging

        logging.getLogger("virt").addHandler(logging.NullHandler())
        return
    try:
        from virt.util.log import setup_logging as setup
    except ImportError:
        return
    # virsh's levels start at 0 (debug); libvirt's log priorities at 1 (debug).
    priority = min(4, max(1, debug + 1 if debug is not None and debug < 2 else (debug or 3)))
    outputs = f"{priority}:stderr" + (f" 1:file:{log_file}" if log_file else "")
    try:
        setup(level=1 if log_file else priority, outputs=outputs)
    except Exception as exc:
        ctx.warn(f"cannot set up logging: {exc}")


def shell(ctx: Context) -> bool:
    """The interactive shell: one command line at a time until quit, exit or end of input."""
    from virt.core.cli.engine import report, run_words
    from virt.core.cli.parse import CLIError, split_string

    try:
        import readline  # noqa: F401 - line editing and history for input()
    except ImportError:
        pass
    ctx.interactive = True
    if not ctx.quiet:
        ctx.print(f"Welcome to {PROG}, the virtualization interactive terminal.\n\n"
                  "Type:  'help' for help with commands\n"
                  "       'quit' to quit\n\n")
    ok = True
    while not ctx.stop:
        prompt = f"{PROG} # " if not ctx.readonly else f"{PROG} > "
        try:
            line = input(prompt)
        except EOFError:
            ctx.print("\n")
            break
        except KeyboardInterrupt:
            ctx.print("\n")
            continue
        try:
            groups = split_string(line)
        except CLIError as exc:
            report(ctx, exc)
            ok = False
            continue
        if groups:
            ok = run_words(ctx, groups)
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # Global options first, before importing the engine, so `virt --version` stays fast.
    try:
        options, rest = parse_global(args)
    except Usage as exc:
        sys.stdout.flush()
        sys.stderr.write(f"error: {exc}\n")
        return 1
    if options and options[-1][0] in ("v", "version") and (options[-1][1] or "short") == "short" \
            and not any(k in ("h", "V") for k, _ in options):
        sys.stdout.write(version() + "\n")
        return 0
    from virt.core.cli.engine import Context, report
    from virt.core.cli.parse import CLIError

    ctx = Context()
    try:
        return _main(ctx, options, rest)
    except Usage as exc:
        ctx.error(str(exc))
        return 1
    except CLIError as exc:
        report(ctx, exc)
        return 1
    except KeyboardInterrupt:
        return 1
    except BrokenPipeError:
        # The reader went away (`virt list | head`): stop quietly, as other tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    finally:
        try:
            ctx.close()
        except Exception:
            pass


def _main(ctx: Context, options: list[tuple[str, str | None]], rest: list[str]) -> int:
    from virt.core.cli.engine import run_words
    from virt.core.cli.parse import split_argv
    debug: int | None = None
    log_file: str | None = None
    show: str | None = None
    for key, value in options:
        if key == "c":
            ctx.uri = value
        elif key == "d":
            try:
                debug = int(str(value))
                if not 0 <= debug <= 4:
                    raise ValueError
            except ValueError:
                raise Usage("option -d takes a numeric argument") from None
        elif key == "l":
            log_file = value
        elif key == "q":
            ctx.quiet = True
        elif key == "r":
            ctx.readonly = True
        elif key == "t":
            ctx.timing = True
        elif key == "json":
            ctx.json = True
        elif key == "h":
            show = "help"
        elif key == "v":
            show = "short"
        elif key == "V":
            show = "long"
        elif key == "version":
            if value in (None, "short"):
                show = "short"
            elif value == "long":
                show = "long"
            else:
                raise Usage(f"unknown version type '{value}'")
        elif key in ("k", "K"):
            try:
                if int(str(value)) < 0:
                    raise ValueError
            except ValueError:
                raise Usage(f"option -{key} requires a positive integer argument") from None
        # -e (console escape) is accepted for compatibility; the console uses its own default.
    if debug is None and os.environ.get("VIRT_DEBUG", os.environ.get("VIRSH_DEBUG", "")).isdigit():
        debug = int(os.environ.get("VIRT_DEBUG", os.environ.get("VIRSH_DEBUG", "")))
    ctx.debug = debug
    if show == "help":
        print_usage(ctx)
        return 0
    if show == "short":
        ctx.print(version() + "\n")
        return 0
    if show == "long":
        ctx.print(long_version(ctx))
        return 0
    setup_logging(ctx, debug, log_file)
    if not rest:
        return 0 if shell(ctx) else 1
    groups = split_argv(rest)
    if not groups:
        return 0
    return 0 if run_words(ctx, groups) else 1


if __name__ == "__main__":
    sys.exit(main())
