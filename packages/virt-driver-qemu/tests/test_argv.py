"""qemu-argv: every case of the corpus suite qemu_argv (libvirt's qemuxml2argv tests).

Each case converts a domain XML with libvirt's recorded QEMU 8.0.0 capabilities and the settings
the case names (params.setup / params.test_args), and compares the command line as the corpus
scorer does: ordered (option, value) pairs, JSON values as objects. Cases of mode "fail" must be
rejected.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from virt.driver.qemu.argv import to_native
from virt.util.errors import VirtError

CORPUS = Path(os.environ.get("VIRT_CORPUS", "/work/shared/corpus"))
sys.path.insert(0, str(CORPUS.parent / "tools"))
from corpus_score import compare, privdir  # noqa: E402

SUITE = CORPUS / "qemu_argv"
CAPS = CORPUS / "qemu_caps" / "caps_8.0.0.x86_64.replies"
CASES = json.loads((SUITE / "manifest.json").read_text()) if SUITE.is_dir() else []

#: Cases we know we fail, with the reason (strict: an unexpected pass fails too).
KNOWN_FAILURES: dict[str, str] = {}


def _params(case: dict) -> dict:
    return case.get("params") or {}


@pytest.mark.parametrize("case", [
    pytest.param(c, marks=pytest.mark.xfail(reason=KNOWN_FAILURES[c["name"]], strict=True))
    if c["name"] in KNOWN_FAILURES else c for c in CASES], ids=[c["name"] for c in CASES])
def test_qemu_argv_case(case: dict) -> None:
    inp = SUITE / case["input"]
    kwargs = dict(qemu_caps=str(CAPS), private_dir=privdir(inp), setup=_params(case).get("setup"),
                  test_args=_params(case).get("test_args"))
    if case["mode"] == "fail":
        with pytest.raises(VirtError):
            to_native(inp.read_text(), **kwargs)
        return
    got = to_native(inp.read_text(), **kwargs)
    assert compare(case["expected"], (SUITE / case["expected"]).read_bytes(), got.encode()) is None


def _virt() -> str:
    exe = Path(sys.executable).with_name("virt")
    if not exe.exists():
        pytest.skip("the virt command is not installed next to this interpreter")
    return str(exe)


@pytest.mark.skipif(not CASES, reason="corpus not found")
def test_cli_domxml_to_native() -> None:
    """Through `virt domxml-to-native qemu-argv` (the registered native format and options)."""
    case = next(c for c in CASES if c["name"] == "disk-network-tlsx509-nbd-hostname")
    inp = SUITE / case["input"]
    p = subprocess.run([_virt(), "domxml-to-native", "qemu-argv", "--qemu-caps", str(CAPS),
                        "--private-dir", privdir(inp), str(inp)], capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    assert compare(case["expected"], (SUITE / case["expected"]).read_bytes(), p.stdout) is None


@pytest.mark.skipif(not CASES, reason="corpus not found")
def test_cli_setup_option() -> None:
    """Harness settings given on the command line (--setup) change the result."""
    case = next(c for c in CASES if c["name"] == "graphics-vnc-sasl")
    inp = SUITE / case["input"]
    base = [_virt(), "domxml-to-native", "qemu-argv", "--qemu-caps", str(CAPS), "--private-dir", privdir(inp)]
    plain = subprocess.run([*base, str(inp)], capture_output=True, timeout=120)
    tuned = subprocess.run([*base, f"--setup={json.dumps(case['params']['setup'])}", str(inp)],
                           capture_output=True, timeout=120)
    assert plain.returncode == tuned.returncode == 0
    assert b"sasl=on" not in plain.stdout
    assert compare(case["expected"], (SUITE / case["expected"]).read_bytes(), tuned.stdout) is None


@pytest.mark.skipif(not CASES, reason="corpus not found")
def test_rejection_exits_nonzero() -> None:
    case = next(c for c in CASES if c["mode"] == "fail")
    inp = SUITE / case["input"]
    p = subprocess.run([_virt(), "domxml-to-native", "qemu-argv", "--qemu-caps", str(CAPS), str(inp)],
                       capture_output=True, timeout=120)
    assert p.returncode != 0 and p.stderr.strip()
