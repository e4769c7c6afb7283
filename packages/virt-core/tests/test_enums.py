"""The lazily built enums agree with enums.pyi (what type checkers see), member for member."""

from __future__ import annotations

import ast
import enum
import pickle
from pathlib import Path

import virt.core.enums as enums


def _stub_classes() -> dict[str, tuple[str, list[tuple[str, int]]]]:
    tree = ast.parse((Path(enums.__file__).with_suffix(".pyi")).read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            base = node.bases[0].id  # type: ignore[attr-defined]
            members = [(st.targets[0].id, st.value.value) for st in node.body  # type: ignore[attr-defined]
                       if isinstance(st, ast.Assign)]
            out[node.name] = (base, members)
    return out


def test_stub_and_runtime_agree():
    stub = _stub_classes()
    assert sorted(stub) == sorted(enums.__all__)
    for name, (base, members) in stub.items():
        cls = getattr(enums, name)
        assert cls.__bases__ == (getattr(enum, base),), name
        assert [(k, int(v)) for k, v in cls.__members__.items()] == members, name
        assert cls.__module__ == "virt.core.enums" and cls.__qualname__ == name


def test_classes_are_built_once_and_pickle():
    a = enums.DomainState
    from virt.core.enums import DomainState

    assert a is DomainState and DomainState.RUNNING == 1 and repr(DomainState(5)) == "<DomainState.SHUTOFF: 5>"
    assert pickle.loads(pickle.dumps(DomainState.PAUSED)) is DomainState.PAUSED
    flags = enums.DomainXMLFlags.SECURE | enums.DomainXMLFlags.INACTIVE
    assert isinstance(flags, enum.IntFlag) and int(flags) == 3
    assert "DomainState" in dir(enums)
