"""The `virt` entry point: global options, help, errors, JSON, plugins' commands and options, speed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest
from virt.core.cli import main as cli_main
from virt.core.cli.output import Text
from virt.core.cli.parse import CLIError
from virt.core.cli.spec import Command, data, flag
from virt.core.registry import DriverRegistry, get_registry, set_registry


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = cli_main.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "--version")
    assert rc == 0 and out.strip() == cli_main.version()
    rc, out, _ = run(capsys, "-v")
    assert out.strip() == cli_main.version()
    rc, out, _ = run(capsys, "-h")
    assert rc == 0 and "-c | --connect=URI" in out and " Domain Management (help keyword 'domain')\n" in out
    rc, out, _ = run(capsys, "help")
    assert out.startswith("Grouped commands:\n\n Domain Management (help keyword 'domain'):\n    attach-device ")
    assert out.endswith("\n\n")
    rc, out, _ = run(capsys, "help", "help")
    assert out.startswith("  NAME\n    help - print help\n\n  SYNOPSIS\n    help [--command <string>]\n")
    rc, out, err = run(capsys, "help", "nosuch")
    assert rc == 1 and err == "error: command or command group 'nosuch' doesn't exist\n"
    rc, out, _ = run(capsys, "help", "snapshot")
    assert out.startswith(" Snapshot (help keyword 'snapshot'):\n    snapshot-create ")


def test_command_help_option(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "dominfo", "--help")
    assert rc == 0 and "    [--domain] <string>  domain name, id or uuid\n" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["-x"], "error: unsupported option '-x'. See --help.\n"),
    (["--foo"], "error: unsupported option '--foo'. See --help.\n"),
    (["-c"], "error: option '-c'/'--connect' requires an argument\n"),
    (["-d", "x", "list"], "error: option -d takes a numeric argument\n"),
    (["nosuch"], "error: unknown command: 'nosuch'\n"),
    (["hostname --x"], "error: command 'hostname' doesn't support option --x\n"),
])
def test_global_errors(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    rc, out, err = run(capsys, *argv)
    assert (rc, out, err) == (1, "", message)


def test_global_option_forms() -> None:
    opts, rest = cli_main.parse_global(["-qr", "-ctest:///default", "--conn=x", "--json", "list", "-q"])
    assert opts == [("q", None), ("r", None), ("c", "test:///default"), ("c", "x"), ("json", None)]
    assert rest == ["list", "-q"]
    opts, rest = cli_main.parse_global(["--version=long"])
    assert opts == [("version", "long")]


def test_unknown_uri_is_an_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(capsys, "-c", "nosuchdriver:///x", "hostname")
    lines = err.splitlines()
    assert rc == 1 and lines[0] == "error: failed to connect to the hypervisor"
    # no local driver: either "no connection driver available" or, with the remote driver installed,
    # the local daemon's socket error (as virsh prints it)
    assert len(lines) == 2 and lines[1].startswith("error: ") and not out.strip()


def _boom(ctx: Any, args: Any) -> Any:
    raise ZeroDivisionError("boom")


def _hello(ctx: Any, args: Any) -> Any:
    if args.bool("fail"):
        raise CLIError("it failed")
    return Text(f"hello {args.string('who')} {args.get('shout')}", value={"who": args.string("who")})


class _Plugin:
    @staticmethod
    def virt_register_drivers(register: DriverRegistry) -> None:
        register.command("hello", Command("hello", _hello, "say hello", "Says hello.",
                                          (data("who", "whom"), flag("fail", "fail")), group="Plugin", needs_connection=False))
        register.command("boom", Command("boom", _boom, "crash", needs_connection=False))
        register.cli_option("hello", "--shout", dest="shout", help="how loud")


@pytest.fixture
def plugin_registry() -> Any:
    from virt.core.plugin import get_plugin_manager, hookimpl
    from virt.core.registry import build_registry

    hookimpl(_Plugin.virt_register_drivers)
    old = get_registry()
    set_registry(build_registry(get_plugin_manager(False, (_Plugin,))))
    yield
    set_registry(old)


def test_plugin_commands_and_options(capsys: pytest.CaptureFixture[str], plugin_registry: Any) -> None:
    rc, out, err = run(capsys, "hello", "world", "--shout", "LOUD")
    assert (rc, out, err) == (0, "hello world LOUD\n\n", "")
    rc, out, _ = run(capsys, "--json", "hello", "x")
    assert json.loads(out) == {"who": "x"}
    rc, out, err = run(capsys, "hello x --fail; hello y")
    assert rc == 0 and err == "error: it failed\n" and out == "\nhello y None\n\n"
    rc, out, _ = run(capsys, "help")
    assert " Plugin (help keyword 'Plugin'):\n    hello " in out
    assert " Plugin commands (help keyword 'plugins'):\n    boom " in out
    rc, out, _ = run(capsys, "help", "hello")
    assert "    --shout <string>  how loud\n" in out


def test_unexpected_exception_is_one_error_line(capsys: pytest.CaptureFixture[str], plugin_registry: Any) -> None:
    rc, _, err = run(capsys, "boom")
    assert rc == 1 and err == "error: internal error: ZeroDivisionError: boom\n"
    rc, _, err = run(capsys, "-d", "0", "boom")
    assert rc == 1 and err.startswith("error: internal error: ZeroDivisionError: boom\nTraceback")


def test_echo_and_shell_words(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "echo 'a b' c; echo --xml '<x>'")
    assert out == "a b c\n\n&lt;x&gt;\n\n"
    _, out, _ = run(capsys, "-q", "echo", "a", ";", "echo", "b")
    assert out == "a\nb\n"


def test_interactive_shell_reads_commands_until_quit() -> None:
    proc = subprocess.run([sys.executable, "-m", "virt.core.cli", "-q"], input="echo one\necho 'two'; quit\necho no\n",
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0
    assert proc.stdout.replace("virt # ", "") == "one\ntwo\n"


def test_version_starts_fast() -> None:
    """`virt --version` imports neither lxml nor virt.conf nor the command tables."""
    code = ("import sys, time; t = time.perf_counter(); from virt.core.cli.main import main; main(['--version']); "
            "print(sorted(m for m in sys.modules if m.startswith(('lxml', 'virt.conf', 'virt.core.cli.commands', "
            "'virt.core.connection')))); print(time.perf_counter() - t)")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    elapsed = time.perf_counter() - start
    lines = proc.stdout.splitlines()
    assert lines[1] == "[]"
    assert float(lines[2]) < 0.5 and elapsed < 5


SECRET_XML = """<secret ephemeral='no' private='yes'>
  <uuid>f52a81b2-424e-490c-823d-6bd4235bc57d</uuid>
  <description>Some description</description>
  <usage type='volume'>
    <volume>/var/lib/libvirt/images/image.img</volume>
  </usage>
</secret>
"""


def test_xml_validate_and_normalize(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    good = tmp_path / "secret.xml"
    good.write_text(SECRET_XML)
    rc, out, err = run(capsys, "xml-validate", str(good))
    assert (rc, out, err) == (0, f"{good} validates\n\n", "")
    rc, out, err = run(capsys, "-q", "xml-normalize", str(good))
    assert rc == 0 and out == SECRET_XML and not err
    bad = tmp_path / "bad.xml"
    bad.write_text(SECRET_XML.replace("<description>", "<nosuch/><description>"))
    rc, out, err = run(capsys, "xml-validate", str(bad))
    assert rc == 1 and err.startswith("error: ") and "nosuch" in err
    rc, out, err = run(capsys, "xml-validate", str(tmp_path / "missing.xml"))
    assert rc == 1 and err.startswith("error: Failed to open file")
