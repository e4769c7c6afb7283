"""Fixtures: a connection whose storage calls go to this driver (under a temporary root), loop
devices and hung mounts that are always removed afterwards."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from virt.core.connection import Connection
from virt.core.driver import Driver
from virt.core.plugin import get_plugin_manager, hookimpl
from virt.core.registry import DriverRegistry, build_registry, get_registry, set_registry
from virt.core.remote.server import Server, ServerConfig
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


@pytest.fixture
def local(root: Path, conn: Connection, make_registry: Callable[[], DriverRegistry]) -> Iterator[str]:
    """The URI of an in-process connection to the storage driver under ``root``, with a dir pool."""
    pool = conn.define_storage_pool(f"<pool type='dir'><name>images</name><target><path>{root / 'images'}</path>"
                                    "</target></pool>")
    pool.build(0)
    pool.create(0)
    previous = get_registry()
    set_registry(make_registry())
    yield f"stubhv:///system?root={root}"
    set_registry(previous)


@pytest.fixture
def served(local: str, tmp_path: Path, make_registry: Callable[[], DriverRegistry]) -> Iterator[Path]:
    """virtd's server on a unix socket, in this process, opening connections to the storage driver."""
    sock = tmp_path / "virtd-sock"
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Server] = {}
    opened: list[Connection] = []

    def open_connection(uri: str | None, readonly: bool) -> Connection:
        opened.append(Connection(local, readonly=readonly, registry=make_registry()))
        return opened[-1]

    async def main() -> None:
        holder["server"] = Server(ServerConfig(open_connection=open_connection))
        await holder["server"].listen_unix(sock, mode=0o777)
        ready.set()
        await holder["server"].serve_forever()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield sock
    asyncio.run_coroutine_threadsafe(holder["server"].close(), loop).result(10)
    thread.join(10)
    loop.close()
    for c in opened:
        c.close()
