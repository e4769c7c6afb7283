"""Shared fixtures: a bare QEMU process with a QMP socket, killed by pid afterwards."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

QEMU = shutil.which("qemu-system-x86_64")
CORPUS = Path(os.environ.get("VIRT_CORPUS", "/work/shared/corpus"))

needs_qemu = pytest.mark.skipif(QEMU is None, reason="qemu-system-x86_64 is not installed "
                                "(Debian package qemu-system-x86)")


def kvm_usable() -> bool:
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


class BareQemu:
    """``qemu-system-x86_64 -machine none`` with its monitor on a unix socket."""

    def __init__(self, tmp: Path, *extra: str) -> None:
        self.sock = tmp / "qmp.sock"
        accel = "kvm:tcg" if kvm_usable() else "tcg"
        argv = [str(QEMU), "-S", "-no-user-config", "-nodefaults", "-nographic", "-display", "none",
                "-machine", f"none,accel={accel}", "-qmp", f"unix:{self.sock},server=on,wait=off", *extra]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        if self.proc.stderr:
            self.proc.stderr.close()


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS} (set VIRT_CORPUS)")
    return CORPUS


@pytest.fixture
def qemu_binary() -> str:
    if QEMU is None:
        pytest.skip("qemu-system-x86_64 is not installed")
    return QEMU


@pytest.fixture
def bare_qemu() -> Iterator[BareQemu]:
    if QEMU is None:
        pytest.skip("qemu-system-x86_64 is not installed")
    with tempfile.TemporaryDirectory(prefix="virt-qmp-") as tmp:
        q = BareQemu(Path(tmp))
        try:
            yield q
        finally:
            q.kill()
