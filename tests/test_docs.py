"""docs/hooks.md documents every hook spec with its exact signature."""

import inspect
from pathlib import Path

from virt.core import hookspecs

DOC = (Path(__file__).resolve().parents[1] / "docs" / "hooks.md").read_text()


def test_every_hook_is_documented_with_its_signature():
    hooks = [(n, f) for n, f in vars(hookspecs).items() if n.startswith("virt_") and callable(f)]
    assert hooks, "no hook specs found"
    for name, func in hooks:
        params = ", ".join(inspect.signature(func).parameters)
        assert f"## {name}({params})" in DOC, f"{name}({params}) is missing from docs/hooks.md"


def test_no_stale_hooks_in_docs():
    documented = [line[3:].split("(")[0] for line in DOC.splitlines() if line.startswith("## virt_")]
    for name in documented:
        assert hasattr(hookspecs, name), f"docs/hooks.md documents {name}, which is not a hook spec"
