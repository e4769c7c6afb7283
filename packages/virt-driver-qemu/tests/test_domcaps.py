"""Domain capabilities for libvirt's recorded QEMU 8.0.0/7.2.0 probes, and host capabilities."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from virt.driver.qemu.caps import from_replies, load_caps
from virt.driver.qemu.domcaps import domain_capabilities, host_capabilities
from virt.util.errors import InvalidArgError

CORPUS = Path(os.environ.get("VIRT_CORPUS", "/work/shared/corpus"))
sys.path.insert(0, str(CORPUS.parent / "tools"))
from corpus_score import compare  # noqa: E402

CASES = [c for c in json.loads((CORPUS / "qemu_caps" / "manifest.json").read_text())
         if "params" in c] if CORPUS.is_dir() else []

#: Cases we know we fail, with the reason (strict: a pass makes the test fail too).
KNOWN_FAILURES: dict[str, str] = {}


@pytest.mark.parametrize("case", [
    pytest.param(c, marks=pytest.mark.xfail(reason=KNOWN_FAILURES[c["name"]], strict=True))
    if c["name"] in KNOWN_FAILURES else c for c in CASES], ids=[c["name"] for c in CASES])
def test_domcaps_match_libvirt(case: dict) -> None:
    d = CORPUS / "qemu_caps"
    caps = from_replies(d / case["input"])
    machine = case["params"]["machine"]
    got = domain_capabilities(caps, virt_type=case["params"]["virttype"],
                              machine=None if machine == "default" else machine).format()
    assert compare(case["expected"], (d / case["expected"]).read_bytes(), got.encode()) is None


def test_domcaps_errors() -> None:
    caps = from_replies(CORPUS / "qemu_caps" / "caps_8.0.0.x86_64.replies")
    with pytest.raises(InvalidArgError, match="machine 'nope' is not supported"):
        domain_capabilities(caps, virt_type="kvm", machine="nope")
    with pytest.raises(InvalidArgError, match="unknown virttype"):
        domain_capabilities(caps, virt_type="xen")
    with pytest.raises(InvalidArgError, match="doesn't match given architecture"):
        domain_capabilities(caps, arch="aarch64")


def test_host_capabilities_lists_machines_with_canonical_names() -> None:
    caps = from_replies(CORPUS / "qemu_caps" / "caps_8.0.0.x86_64.replies")
    doc = host_capabilities([caps])
    guest = doc.guest("hvm", "x86_64")
    names = [m.name for m in guest.arch.machines]
    assert names[:2] == ["pc-i440fx-8.0", "pc"]  # canonical entry before its alias
    assert [d.type for d in guest.arch.domains] == ["qemu", "kvm"]
    text = doc.format()
    assert "<emulator>/usr/bin/qemu-system-x86_64</emulator>" in text


def test_live_domcaps(qemu_binary: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    caps = load_caps(None, qemu_binary)
    doc = domain_capabilities(caps)
    assert doc.path == qemu_binary and doc.domain == caps.virt_type()
    assert doc.machine.startswith("pc-i440fx")
