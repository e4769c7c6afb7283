"""xml-normalize --driver qemu: every case of the corpus suite qemu_xml (libvirt's qemuxml2xml tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from virt.driver.qemu.normalize import normalize

CORPUS = Path(os.environ.get("VIRT_CORPUS", "/work/shared/corpus"))
sys.path.insert(0, str(CORPUS.parent / "tools"))
from corpus_score import compare  # noqa: E402

SUITE = CORPUS / "qemu_xml"
CAPS = CORPUS / "qemu_caps" / "caps_8.0.0.x86_64.replies"
CASES = json.loads((SUITE / "manifest.json").read_text()) if SUITE.is_dir() else []

#: Cases we know we fail, with the reason (strict: an unexpected pass fails too).
KNOWN_FAILURES: dict[str, str] = {}


@pytest.mark.parametrize("case", [
    pytest.param(c, marks=pytest.mark.xfail(reason=KNOWN_FAILURES[c["name"]], strict=True))
    if c["name"] in KNOWN_FAILURES else c for c in CASES], ids=[c["name"] for c in CASES])
def test_qemu_xml_case(case: dict) -> None:
    params = case.get("params") or {}
    got = normalize((SUITE / case["input"]).read_bytes(), qemu_caps=str(CAPS), setup=params.get("setup"),
                    format=params.get("format"))
    assert compare(case["expected"], (SUITE / case["expected"]).read_bytes(), got.encode()) is None


@pytest.mark.skipif(not CASES, reason="corpus not found")
def test_cli_xml_normalize() -> None:
    exe = Path(sys.executable).with_name("virt")
    if not exe.exists():
        pytest.skip("the virt command is not installed next to this interpreter")
    case = next(c for c in CASES if c["name"] == "q35-pcie-autoadd")
    p = subprocess.run([str(exe), "xml-normalize", "--driver", "qemu", "--qemu-caps", str(CAPS),
                        str(SUITE / case["input"])], capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    assert compare(case["expected"], (SUITE / case["expected"]).read_bytes(), p.stdout) is None
