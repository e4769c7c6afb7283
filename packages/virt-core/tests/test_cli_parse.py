"""The CLI engine: word splitting and option parsing follow virsh's rules."""

from __future__ import annotations

import pytest
from virt.core.cli.parse import (
    CLIError,
    ParseError,
    parse_command,
    parse_commands,
    split_argv,
    split_string,
)
from virt.core.cli.spec import Command, Option, argv, data, flag, number, string

SETVCPUS = Command("setvcpus", lambda ctx, args: None, "change vcpus", options=(
    data("domain"), number("count", required=True), flag("maximum"), flag("config"), flag("live"),
    flag("current", aliases=("now",)), string("mode"), string("named", named_only=True),
))
ECHO = Command("echo", lambda ctx, args: None, "echo", options=(flag("shell"), argv("string")))


def parse(cmd: Command, *words: str) -> dict[str, object]:
    return parse_command(cmd, list(words)).values


def test_split_string_quotes_escapes_comments_and_separators() -> None:
    assert split_string("list --all; dominfo test") == [["list", "--all"], ["dominfo", "test"]]
    assert split_string("echo 'a b' \"c \\\"d\\\"\" e\\ f") == [["echo", "a b", 'c "d"', "e f"]]
    assert split_string("echo 'a\\b'") == [["echo", "a\\b"]]
    assert split_string("a\nb;;c # comment ; not a command\nd") == [["a"], ["b"], ["c"], ["d"]]
    assert split_string("  \t ") == []
    assert split_string("echo x\\\ny") == [["echo", "xy"]]


@pytest.mark.parametrize(("text", "message"), [("echo \"a", 'missing "'), ("echo 'a", "missing '"),
                                                ("echo a\\", "dangling \\")])
def test_split_string_errors(text: str, message: str) -> None:
    with pytest.raises(ParseError) as exc:
        split_string(text)
    assert exc.value.lines == (message,)


def test_split_argv_one_word_is_a_command_string_several_are_words() -> None:
    assert split_argv(["list --all; hostname"]) == [["list", "--all"], ["hostname"]]
    assert split_argv(["echo", "a;b", ";", "hostname"]) == [["echo", "a;b"], ["hostname"]]
    assert split_argv(["echo", "a b"]) == [["echo", "a b"]]


def test_positional_fill_in_declared_order_then_optional_strings() -> None:
    assert parse(SETVCPUS, "dom", "3") == {"domain": "dom", "count": "3"}
    assert parse(SETVCPUS, "--count", "3", "dom") == {"count": "3", "domain": "dom"}
    assert parse(SETVCPUS, "dom", "3", "acpi") == {"domain": "dom", "count": "3", "mode": "acpi"}
    assert parse(SETVCPUS, "--domain=dom", "--count=4", "--live") == {"domain": "dom", "count": "4", "live": True}


def test_double_dash_makes_the_rest_positional() -> None:
    assert parse(SETVCPUS, "--", "--dom", "-1") == {"domain": "--dom", "count": "-1"}
    assert parse(ECHO, "--shell", "--", "--shell", "x") == {"shell": True, "string": ["--shell", "x"]}


def test_aliases_and_argv() -> None:
    assert parse(SETVCPUS, "d", "1", "--now") == {"domain": "d", "count": "1", "current": True}
    assert parse(ECHO, "a", "b", "--string", "c") == {"string": ["a", "b", "c"]}


def test_named_only_options_are_never_filled_positionally() -> None:
    with pytest.raises(ParseError) as exc:
        parse(SETVCPUS, "d", "1", "m", "extra")
    assert exc.value.lines == ("unexpected data 'extra'",)
    assert parse(SETVCPUS, "d", "1", "--named", "x") == {"domain": "d", "count": "1", "named": "x"}


@pytest.mark.parametrize(("words", "message"), [
    (["--foo"], "command 'setvcpus' doesn't support option --foo"),
    ([], "command 'setvcpus' requires <domain> option"),
    (["d"], "command 'setvcpus' requires --count option"),
    (["d", "1", "--domain", "x"], "option --domain already seen"),
    (["d", "1", "--live=yes"], "invalid '=' after option --live"),
    (["d", "--count"], "expected syntax: --count <number>"),
    (["--domain"], "expected syntax: --domain <string>"),
    (["d", "1", "x", "y"], "unexpected data 'y'"),
])
def test_virsh_error_messages(words: list[str], message: str) -> None:
    with pytest.raises(ParseError) as exc:
        parse(SETVCPUS, *words)
    assert exc.value.lines == (message,)


def test_help_option_skips_required_checks() -> None:
    assert parse(SETVCPUS, "--help") == {"help": True}


def test_parse_commands_rejects_unknown_command_before_running_any() -> None:
    table = {"setvcpus": SETVCPUS}
    with pytest.raises(ParseError) as exc:
        parse_commands([["setvcpus", "d", "1"], ["nosuch"]], table.get)
    assert exc.value.lines == ("unknown command: 'nosuch'",)


def test_typed_values() -> None:
    args = parse_command(SETVCPUS, ["d", "12", "--mode", ""])
    assert args.int("count") == 12
    with pytest.raises(CLIError, match="Option argument is empty"):
        args.string("mode")
    bad = parse_command(SETVCPUS, ["d", "x1"])
    with pytest.raises(CLIError) as exc:
        bad.int("count")
    assert exc.value.lines == ("Numeric value 'x1' for <count> option is malformed or out of range",)
    size = parse_command(SETVCPUS, ["d", "512M"])
    assert size.scaled("count", 1024) == 512 * 1024 * 1024
    assert parse_command(SETVCPUS, ["d", "2048"]).scaled("count", 1024) == 2048 * 1024
    with pytest.raises(CLIError) as exc:
        parse_command(SETVCPUS, ["d", "abc"]).scaled("count", 1024)
    assert exc.value.lines == ("Scaled numeric value 'abc' for <count> option is malformed or out of range",)


def test_option_spec_rejects_required_flag() -> None:
    with pytest.raises(ValueError):
        Option("x", "bool", required=True)
