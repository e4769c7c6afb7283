"""The cgroup v2 device filter: a real BPF program attached to a real group, a real process denied."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from virt.util import bpfdevices
from virt.util.cgroup import Layout

PROBE = ("import sys\n"
         "for path in sys.argv[1:]:\n"
         "    try:\n        open(path, 'rb').close(); print(path, 'ok')\n"
         "    except OSError as e:\n        print(path, e.errno)\n")


@pytest.fixture
def v2_group() -> Iterator[Path]:
    unified = Layout.detect().unified
    if unified is None or os.geteuid() != 0:
        pytest.skip("needs root and a cgroup v2 (unified) hierarchy")
    group = unified.path(f"{unified.placement}/virt-bpf-test-{os.getpid()}")
    group.mkdir()
    try:
        yield group
    finally:
        os.rmdir(group)


def probe(group: Path, *paths: str) -> dict[str, str]:
    def join() -> None:
        (group / "cgroup.procs").write_text(str(os.getpid()))

    out = subprocess.run([sys.executable, "-c", PROBE, *paths], preexec_fn=join, capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return dict(line.split() for line in out.splitlines())


def test_program_shape() -> None:
    # prologue (6) + per rule: 3 + one check per fixed field + 2; epilogue (2); 8 bytes each
    code = bpfdevices.program([("c", 1, 3, "rw"), ("a", None, None, "m")])
    assert len(code) == 8 * (6 + (3 + 3 + 2) + (3 + 0 + 2) + 2)
    assert code[-8:] == bytes([0x95, 0, 0, 0, 0, 0, 0, 0])  # exit


def test_filter_allows_only_its_rules_and_is_replaced(v2_group: Path) -> None:
    null, zero = os.stat("/dev/null").st_rdev, os.stat("/dev/zero").st_rdev
    bpfdevices.attach(v2_group, [("c", os.major(null), os.minor(null), "rw")])
    seen = probe(v2_group, "/dev/null", "/dev/zero")
    assert seen == {"/dev/null": "ok", "/dev/zero": "1"}  # EPERM
    # A new program replaces the old one: /dev/zero too now, with a wildcard minor.
    bpfdevices.attach(v2_group, [("c", os.major(zero), None, "r")])
    assert probe(v2_group, "/dev/null", "/dev/zero") == {"/dev/null": "ok", "/dev/zero": "ok"}
    # Read-only access is not write access.
    bpfdevices.attach(v2_group, [("c", 1, 5, "r")])
    script = "import os\ntry:\n    os.open('/dev/zero', os.O_WRONLY); print('w ok')\nexcept OSError as e:\n    print('w', e.errno)\n"
    out = subprocess.run([sys.executable, "-c", script],
                         preexec_fn=lambda: (v2_group / "cgroup.procs").write_text(str(os.getpid())),
                         capture_output=True, text=True, check=True, timeout=60).stdout
    assert out.strip() == "w 1"
