"""Fixtures: a connection whose storage calls go to this driver (under a temporary root), loop
devices and hung mounts that are always removed afterwards."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from virt.core.connection import Connection
from virt.core.driver import Driver
from virt.core.plugin import get_plugin_manager, hookimpl
from virt.core.registry import DriverRegistry, build_registry
from virt.secondary.storage import driver as drv_mod
from virt.secondary.storage import plugin


class StubHypervisor(Driver):
    """A hypervisor driver that leaves storage to the secondary driver, as qemu and lxc do."""

    name = "stubhv"
    uri_schemes = ("stubhv",)


class StubPlugin:
    @hookimpl
    def virt_register_drivers(self, register: DriverRegistry) -> None:
        register.hypervisor(StubHypervisor, name="stubhv", uri_schemes=("stubhv",))


def registry() -> DriverRegistry:
    return build_registry(get_plugin_manager(False, (StubPlugin(), plugin)))


@pytest.fixture
def make_registry() -> Callable[[], DriverRegistry]:
    """Builds a registry of the stub hypervisor and this driver (for the CLI and the daemon)."""
    return registry


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    drv_mod._shared.clear()


@pytest.fixture
def connect(root: Path) -> Iterator[Callable[[], Connection]]:
    """Opens more connections to the same root (closed afterwards)."""
    opened: list[Connection] = []

    def open_one() -> Connection:
        opened.append(Connection(f"stubhv:///system?root={root}", registry=registry()))
        return opened[-1]

    yield open_one
    for c in opened:
        c.close()


@pytest.fixture
def conn(root: Path) -> Iterator[Connection]:
    if shutil.which("qemu-img") is None:
        pytest.skip("qemu-img is not installed (Debian package qemu-utils)")
    c = Connection(f"stubhv:///system?root={root}", registry=registry())
    yield c
    c.close()


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check)


@pytest.fixture
def loop_device(tmp_path: Path) -> Iterator[str]:
    """A 64 MiB loop device backed by a sparse file; detached afterwards."""
    if os.geteuid() != 0 or shutil.which("losetup") is None:
        pytest.skip("needs root and losetup (Debian package mount)")
    image = tmp_path / "disk.img"
    with open(image, "wb") as f:
        f.truncate(64 << 20)
    res = sh("losetup", "-f", "--show", str(image), check=False)
    if res.returncode != 0:
        pytest.skip(f"no loop device available: {res.stderr.strip()}")
    dev = res.stdout.strip()
    try:
        yield dev
    finally:
        for line in Path("/proc/self/mounts").read_text().splitlines():
            if line.split()[0] == dev:
                sh("umount", line.split()[1], check=False)
        sh("losetup", "-d", dev, check=False)


@pytest.fixture
def partscan_loop_device(tmp_path: Path) -> Iterator[str]:
    """A 64 MiB loop device whose partitions the kernel shows (``--partscan``); its partitions are
    dropped and the device detached afterwards."""
    if os.geteuid() != 0 or shutil.which("losetup") is None:
        pytest.skip("needs root and losetup (Debian package mount)")
    image = tmp_path / "pdisk.img"
    with open(image, "wb") as f:
        f.truncate(64 << 20)
    res = sh("losetup", "--find", "--show", "--partscan", str(image), check=False)
    if res.returncode != 0:
        pytest.skip(f"no loop device available: {res.stderr.strip()}")
    dev = res.stdout.strip()
    try:
        yield dev
    finally:
        sh("partx", "-d", dev, check=False)
        sh("losetup", "-d", dev, check=False)
