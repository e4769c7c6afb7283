"""Streams: volume download/upload and a console through virtd, with our client and with real virsh."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import virt.core as v
from virt.core.events import EventBus
from virt.core.remote.server import Server, ServerConfig
from virt.core.types import StoragePoolRef, StorageVolRef
from virt.util.errors import ErrorNumber, NoSupportError, VirtError, not_found

POOL = StoragePoolRef("pool", "0f8b4bd1-7e4b-4ffb-8c3c-3b0cbd6c7f0d")
VOLUME = os.urandom(3 * 1024 * 1024 + 12345)  # several packets, not a multiple of their size


class Sink:
    """Collects an upload; becomes the volume's content when the client finishes."""

    def __init__(self, store: dict[str, bytes], name: str, fail_after: int | None) -> None:
        self.store, self.name, self.fail_after, self.buf = store, name, fail_after, io.BytesIO()

    def write(self, data: bytes) -> None:
        if self.fail_after is not None and self.buf.tell() + len(data) > self.fail_after:
            raise VirtError("no space left on the pool", code=ErrorNumber.OPERATION_FAILED,
                            message="operation failed: no space left on the pool")  # fmt: skip
        self.buf.write(data)

    def close(self) -> None:
        self.store[self.name] = self.buf.getvalue()

    def abort(self) -> None:
        self.store[self.name + ".aborted"] = self.buf.getvalue()


class Console:
    """Echoes what the client types, upper-cased."""

    def __init__(self) -> None:
        self.pending: list[bytes] = []
        self.cond = threading.Condition()
        self.closed = False

    def write(self, data: bytes) -> None:
        with self.cond:
            self.pending.append(data.upper())
            self.cond.notify()

    def read(self, n: int) -> bytes:
        with self.cond:
            while not self.pending and not self.closed:
                self.cond.wait()
            return self.pending.pop(0) if self.pending else b""

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify()


class StreamConnection:
    """What virtd needs of a connection, with a storage pool whose volumes are bytes in memory."""

    driver_name = "fake"

    def __init__(self, store: dict[str, bytes]) -> None:
        self.events = EventBus()
        self.store = store
        self._drivers = {"storage": self}
        self.nonblocking = True

    def close(self) -> None:
        self.events.close()

    def call(self, method: str, *args: Any) -> Any:
        fn = getattr(self, method, None)
        if fn is None:
            raise NoSupportError(method)
        return fn(*args)

    def connect_get_type(self) -> str:
        return "FAKE"

    def connect_supports_feature(self, feature: int) -> int:
        return 0

    def connect_get_uri(self) -> str:
        return "fake:///"

    def storage_pool_lookup_by_name(self, name: str) -> StoragePoolRef:
        if name != POOL.name:
            raise not_found(ErrorNumber.NO_STORAGE_POOL, f"no storage pool with matching name '{name}'")
        return POOL

    def storage_pool_is_active(self, pool: StoragePoolRef) -> int:
        return 1

    def storage_vol_lookup_by_name(self, pool: StoragePoolRef, name: str) -> StorageVolRef:
        if name not in self.store:
            raise not_found(ErrorNumber.NO_STORAGE_VOL, f"no storage vol with matching name '{name}'")
        return StorageVolRef(pool.name, name, f"/pool/{name}")

    def storage_vol_get_info(self, vol: StorageVolRef) -> tuple[int, int, int]:
        return 0, len(self.store[vol.name]), len(self.store[vol.name])

    def storage_vol_download(self, vol: StorageVolRef, stream: Any, offset: int, length: int, flags: int) -> None:
        data = self.store[vol.name]
        stream.attach(source=io.BytesIO(data[offset : offset + length] if length else data[offset:]))

    def storage_vol_upload(self, vol: StorageVolRef, stream: Any, offset: int, length: int, flags: int) -> None:
        limit = 1 << 20 if vol.name == "small" else None
        stream.attach(sink=Sink(self.store, vol.name, limit))

    def domain_open_console(self, dom: Any, dev_name: str | None, stream: Any, flags: int) -> None:
        console = Console()
        stream.attach(source=console, sink=console)


@pytest.fixture(scope="module")
def daemon() -> Iterator[tuple[Path, dict[str, bytes]]]:
    """An in-process virtd whose connections are StreamConnections, on its own thread and loop."""
    store = {"disk": VOLUME, "small": b""}
    tmp = Path(__import__("tempfile").mkdtemp(prefix="virtd-streams-"))
    sock = tmp / "sock"
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Server] = {}

    async def main() -> None:
        server = Server(ServerConfig(open_connection=lambda uri, ro: StreamConnection(store)))
        holder["server"] = server
        await server.listen_unix(sock, mode=0o777)
        ready.set()
        await server.serve_forever()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield sock, store
    asyncio.run_coroutine_threadsafe(holder["server"].close(), loop).result(10)
    thread.join(10)
    loop.close()
    shutil.rmtree(tmp, ignore_errors=True)


def open_fake(sock: Path) -> v.Connection:
    return v.open(f"test+unix:///default?socket={sock}")


def test_download_with_our_client(daemon: tuple[Path, dict[str, bytes]]) -> None:
    sock, _ = daemon
    with open_fake(sock) as conn:
        vol = conn.call("storage_vol_lookup_by_name", POOL, "disk")
        stream = conn._hv.stream_new()
        conn.call("storage_vol_download", vol, stream, 0, 0, 0)
        data = b"".join(stream)
        stream.finish()
        assert data == VOLUME
        # A range of it, read in small pieces.
        stream = conn._hv.stream_new()
        conn.call("storage_vol_download", vol, stream, 1000, 5000, 0)
        parts = []
        while piece := stream.recv(777):
            parts.append(piece)
        stream.finish()
        assert b"".join(parts) == VOLUME[1000:6000]
        assert conn.get_type() == "FAKE"  # the connection carries on


def test_upload_with_our_client(daemon: tuple[Path, dict[str, bytes]]) -> None:
    sock, store = daemon
    payload = os.urandom(700_000)
    with open_fake(sock) as conn:
        store["up"] = b""
        vol = conn.call("storage_vol_lookup_by_name", POOL, "up")
        stream = conn._hv.stream_new()
        conn.call("storage_vol_upload", vol, stream, 0, 0, 0)
        stream.send(payload[:300_000])
        stream.send(payload[300_000:])
        stream.finish()
        assert store["up"] == payload


def test_upload_failure_reaches_the_client(daemon: tuple[Path, dict[str, bytes]]) -> None:
    sock, _ = daemon
    with open_fake(sock) as conn:
        vol = conn.call("storage_vol_lookup_by_name", POOL, "small")
        stream = conn._hv.stream_new()
        conn.call("storage_vol_upload", vol, stream, 0, 0, 0)
        stream.send(os.urandom(2 << 20))
        with pytest.raises(VirtError, match="no space left on the pool"):
            stream.finish()
        assert conn.get_type() == "FAKE"


def test_abort_and_console(daemon: tuple[Path, dict[str, bytes]]) -> None:
    sock, store = daemon
    with open_fake(sock) as conn:
        store["aborted"] = b""
        stream = conn._hv.stream_new()
        conn.call("storage_vol_upload", conn.call("storage_vol_lookup_by_name", POOL, "aborted"), stream, 0, 0, 0)
        stream.send(b"partial")
        stream.abort()
        assert store.get("aborted.aborted") == b"partial"
        console = conn._hv.stream_new()
        conn.call("domain_open_console", ("vm", "0" * 32, 1), None, console, 0)
        console.send(b"hello")
        assert console.recv() == b"HELLO"
        console.send(b"again")
        assert console.recv() == b"AGAIN"
        console.abort()
        assert conn.get_type() == "FAKE"


@pytest.mark.skipif(shutil.which("virsh") is None, reason="needs virsh")
def test_virsh_vol_download_and_upload(daemon: tuple[Path, dict[str, bytes]], tmp_path: Path) -> None:
    sock, store = daemon
    uri = f"test+unix:///default?socket={sock}"
    target = tmp_path / "downloaded"
    out = subprocess.run(["virsh", "-c", uri, "vol-download", "--pool", "pool", "disk", str(target)],
                         capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert target.read_bytes() == VOLUME
    source = tmp_path / "upload"
    source.write_bytes(os.urandom(1_234_567))
    store["virsh-up"] = b""
    out = subprocess.run(["virsh", "-c", uri, "vol-upload", "--pool", "pool", "virsh-up", str(source)],
                         capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert store["virsh-up"] == source.read_bytes()
