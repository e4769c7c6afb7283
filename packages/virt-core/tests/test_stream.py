"""The public Stream: an in-process driver's source/sink, the same driver through virtd's server,
and drivers without stream calls (the test driver, as libvirt's)."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import virt.core as v
from virt.core.connection import Connection, LocalStream, Stream
from virt.core.driver import Driver
from virt.core.plugin import get_plugin_manager, hookimpl
from virt.core.registry import DriverRegistry, build_registry
from virt.core.remote.server import Server, ServerConfig
from virt.core.types import StoragePoolRef, StorageVolRef
from virt.util.errors import ErrorNumber, NoSupportError, VirtError, not_found

POOL = StoragePoolRef("mem", "4a4c4b1e-7c1b-4f38-9b77-2f1b0d7e6f10")
DATA = os.urandom(2 * 1024 * 1024 + 4321)  # several stream packets, not a multiple of their size


class Sink:
    """An upload: becomes the volume's content on finish; kept apart on abort."""

    def __init__(self, volumes: dict[str, bytes], name: str) -> None:
        self.volumes, self.name, self.buf = volumes, name, io.BytesIO()

    def write(self, data: bytes) -> None:
        self.buf.write(data)

    def close(self) -> None:
        self.volumes[self.name] = self.buf.getvalue()

    def abort(self) -> None:
        self.volumes[self.name + ".aborted"] = self.buf.getvalue()


class MemStorage(Driver):
    """A hypervisor driver with an in-memory pool: volumes are bytes, streamed as libvirt's calls do."""

    name: ClassVar[str] = "memstore"
    uri_schemes: ClassVar[tuple[str, ...]] = ("memstore",)
    kinds: ClassVar[tuple[str, ...]] = ("hypervisor", "storage")
    volumes: ClassVar[dict[str, bytes]] = {}

    def connect_get_type(self) -> str:
        return "MEM"

    def connect_get_uri(self) -> str:
        return "memstore:///"

    def connect_supports_feature(self, feature: int) -> int:
        return 0

    def storage_pool_lookup_by_name(self, name: str) -> StoragePoolRef:
        return POOL

    def storage_vol_lookup_by_name(self, pool: StoragePoolRef, name: str) -> StorageVolRef:
        if name not in self.volumes:
            raise not_found(ErrorNumber.NO_STORAGE_VOL, f"no storage vol with matching name '{name}'")
        return StorageVolRef(pool.name, name, f"/mem/{name}")

    def storage_vol_download(self, vol: StorageVolRef, stream: Any, offset: int, length: int, flags: int) -> None:
        data = self.volumes[vol.name]
        stream.attach(source=io.BytesIO(data[offset:offset + length] if length else data[offset:]))

    def storage_vol_upload(self, vol: StorageVolRef, stream: Any, offset: int, length: int, flags: int) -> None:
        stream.attach(sink=Sink(self.volumes, vol.name))


class Plugin:
    @hookimpl
    def virt_register_drivers(self, register: DriverRegistry) -> None:
        register.hypervisor(MemStorage, name="memstore", uri_schemes=("memstore",))


@pytest.fixture
def registry() -> Iterator[DriverRegistry]:
    MemStorage.volumes.clear()
    MemStorage.volumes.update(disk=DATA, empty=b"")
    yield build_registry(get_plugin_manager(False, (Plugin(),)))


def exercise(conn: Connection) -> None:
    """Everything a Stream offers, on any connection to a MemStorage."""
    pool = conn.lookup_storage_pool("mem")
    disk, empty = pool.lookup_volume("disk"), pool.lookup_volume("empty")

    st = conn.new_stream()
    assert isinstance(st, Stream)
    disk.download(st)
    seen: list[int] = []
    out = io.BytesIO()
    assert st.recv_all(out, progress=seen.append) == len(DATA)
    st.finish()
    assert out.getvalue() == DATA and seen[-1] == len(DATA)

    st = conn.new_stream()
    disk.download(st)
    assert b"".join(st) == DATA
    st.finish()

    st = conn.new_stream()
    disk.download(st, 1000, 70000, 0)
    parts = []
    while piece := st.recv(4096):
        assert len(piece) <= 4096
        parts.append(piece)
    st.finish()
    assert b"".join(parts) == DATA[1000:71000]

    st = conn.new_stream()
    empty.upload(st, 0, 0, 0)
    assert st.send(b"first ") == 6
    assert st.send_all(io.BytesIO(DATA)) == len(DATA)
    st.finish()
    assert MemStorage.volumes["empty"] == b"first " + DATA

    # A failing source aborts the stream: the driver's sink is told, the volume is untouched.
    def broken(n: int) -> bytes:
        raise OSError("read error")

    st = conn.new_stream()
    empty.upload(st)
    st.send(b"partial")
    with pytest.raises(OSError, match="read error"):
        st.send_all(broken)
    assert MemStorage.volumes["empty"] == b"first " + DATA
    assert "empty.aborted" in _wait_for(lambda: MemStorage.volumes)

    # with: an exception inside aborts
    with pytest.raises(RuntimeError), conn.new_stream() as st:
        empty.upload(st)
        raise RuntimeError
    with conn.new_stream() as st:
        disk.download(st)
        assert st.recv(10) == DATA[:10]
        st.abort()


def _wait_for(get: Any) -> Any:
    """The daemon handles an abort asynchronously: wait until it has."""
    import time

    deadline = time.monotonic() + 5
    while "empty.aborted" not in get() and time.monotonic() < deadline:
        time.sleep(0.01)
    return get()


def test_stream_in_process(registry: DriverRegistry) -> None:
    with Connection("memstore:///", registry=registry) as conn:
        assert isinstance(conn.new_stream().impl, LocalStream)
        exercise(conn)
        st = conn.new_stream()
        with pytest.raises(VirtError) as err:
            st.recv()
        assert err.value.code == ErrorNumber.INVALID_STREAM


def test_stream_through_the_daemon(registry: DriverRegistry, tmp_path: Path) -> None:
    sock = tmp_path / "sock"
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Server] = {}

    async def main() -> None:
        holder["server"] = Server(ServerConfig(
            open_connection=lambda uri, ro: Connection("memstore:///", readonly=ro, registry=registry)))
        await holder["server"].listen_unix(sock, mode=0o700)
        ready.set()
        await holder["server"].serve_forever()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        with v.open(f"test+unix:///default?socket={sock}") as conn:
            assert conn.get_type() == "MEM"
            assert not isinstance(conn.new_stream().impl, LocalStream)  # the remote driver's own
            exercise(conn)
    finally:
        asyncio.run_coroutine_threadsafe(holder["server"].close(), loop).result(10)
        thread.join(10)
        loop.close()


def test_test_driver_has_no_volume_streams() -> None:
    with v.open("test:///default") as conn:
        vol = conn.lookup_storage_pool("default-pool").create_volume(
            "<volume><name>s.img</name><capacity>1024</capacity></volume>")
        st = conn.new_stream()
        with pytest.raises(NoSupportError, match="virStorageVolUpload"):
            vol.upload(st)
        with pytest.raises(NoSupportError, match="virStorageVolDownload"):
            vol.download(st)
        with pytest.raises(NoSupportError):
            vol.job_info()


@pytest.mark.skipif(shutil.which("virsh") is None, reason="libvirt's virsh (libvirt-clients) is not installed")
def test_cli_vol_upload_download_on_the_test_driver_as_virsh(tmp_path: Path) -> None:
    """libvirt's test driver has no volume streams: the same messages, the same exit status, no file left."""
    (tmp_path / "in.bin").write_bytes(b"data")
    line = ("vol-create-as default-pool v1 1M; vol-upload --pool default-pool v1 in.bin; "
            "vol-download v1 out.bin --pool default-pool --sparse; vol-upload v1 missing.bin --pool default-pool; "
            "vol-upload v1 in.bin --pool default-pool --offset -1; vol-download v1 out.bin --pool default-pool "
            "--length 1k; vol-download nosuch out.bin; vol-download v1 nodir/out.bin --pool default-pool; "
            "vol-download /default-pool/v1 out.bin")
    results = []
    for prog in (["virsh"], [sys.executable, "-m", "virt.core.cli"]):
        proc = subprocess.run([*prog, "-c", "test:///default", line], capture_output=True, text=True, timeout=30,
                              cwd=tmp_path, stdin=subprocess.DEVNULL, check=False)
        results.append((proc.returncode, proc.stdout, proc.stderr, sorted(os.listdir(tmp_path))))
    assert results[1] == results[0]
    assert results[0][3] == ["in.bin"]
