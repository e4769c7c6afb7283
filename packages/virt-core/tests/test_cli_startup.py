"""Start-up stays lean: the lazy command lookup agrees with the full index, and fast paths import little."""

from __future__ import annotations

import json
import subprocess
import sys

from virt.core.cli import commands


def test_lazy_lookup_agrees_with_the_index():
    commands.builtin_index.cache_clear()
    commands._groups.cache_clear()
    try:
        assert commands.find_builtin("list").name == "list"
        assert commands.find_builtin("no-such-command") is None
        index = commands.builtin_index()
        for word, cmd in index.items():
            commands.builtin_index.cache_clear()
            assert commands.find_builtin(word) is cmd, word
    finally:
        commands.builtin_index.cache_clear()


def _modules_after(argv: list[str]) -> set[str]:
    code = ("import io, json, sys, contextlib\n"
            "from virt.core.cli.main import main\n"
            "out = io.StringIO()\n"
            f"with contextlib.redirect_stdout(out): rc = main({argv!r})\n"
            "print(json.dumps([rc, sorted(sys.modules)]))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    rc, modules = json.loads(proc.stdout.splitlines()[-1])
    assert rc == 0, proc.stderr
    return set(modules)


def test_version_imports_neither_metadata_nor_plugins():
    modules = _modules_after(["--version"])
    assert "importlib.metadata" not in modules
    assert "pluggy" not in modules
    assert "virt.core.cli.engine" not in modules


def test_list_imports_only_its_own_command_table():
    modules = _modules_after(["-c", "test:///default", "list"])
    assert "virt.core.cli.commands.domain" in modules
    assert "virt.core.cli.commands.secret" not in modules
    assert "virt.core.cli.commands.snapshot" not in modules
    assert "importlib.metadata" not in modules
