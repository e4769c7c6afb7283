"""The fast entry-point scan finds what importlib.metadata finds, in the same order."""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import pytest
from virt.core import distributions


def _slow(group: str) -> list[tuple[str, str, tuple[str, str] | None]]:
    return [(ep.name, ep.value, (ep.dist.metadata["Name"], ep.dist.version) if ep.dist else None)
            for ep in metadata.entry_points(group=group)]


def _fast(group: str) -> list[tuple[str, str, tuple[str, str] | None]]:
    return [(ep.name, ep.value, ep.dist) for ep in distributions.entry_points(group)]


@pytest.mark.parametrize("group", ["virt", "console_scripts", "pytest11", "no-such-group"])
def test_installed_entry_points_match_importlib_metadata(group):
    assert _fast(group) == _slow(group)


def test_virt_plugins_are_found():
    names = {ep.name for ep in distributions.entry_points("virt")}
    assert {"test", "remote"} <= names


def _dist(root: Path, dirname: str, name: str, version: str, entry_points: str) -> None:
    d = root / dirname
    d.mkdir(parents=True)
    (d / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nName: not-this\n")
    (d / "entry_points.txt").write_text(entry_points)


def test_shadowed_and_odd_distributions(tmp_path, monkeypatch):
    eps = "# comment\n[virt]\nalpha = virt_alpha.plugin\n beta=virt_beta.mod : attr.sub [extra]\n\n[other]\nx = y\n"
    _dist(tmp_path / "a", "Virt.Alpha-1.0.dist-info", "Virt.Alpha", "1.0", eps)
    _dist(tmp_path / "b", "virt_alpha-2.0.dist-info", "virt-alpha", "2.0", "[virt]\nshadowed = nope\n")
    _dist(tmp_path / "b", "gamma-3.0.egg-info", "gamma", "3.0", "[virt]\ngamma = gamma.plugin\n")
    (tmp_path / "b" / "empty-1.0.dist-info").mkdir()
    monkeypatch.setattr(sys, "path", [str(tmp_path / "a"), str(tmp_path / "missing"), str(tmp_path / "b")])
    assert _fast("virt") == _slow("virt")
    assert [ep.name for ep in distributions.entry_points("virt")] == ["alpha", "beta", "gamma"]
    assert distributions.version("virt-alpha") == metadata.version("virt-alpha") == "1.0"
    assert distributions.version("nothing-here") is None


def test_entry_point_load():
    ep = distributions.EntryPoint("x", "os.path : join", "g", None)
    import os.path

    assert ep.load() is os.path.join
    assert distributions.EntryPoint("x", "os", "g", None).load() is sys.modules["os"]
