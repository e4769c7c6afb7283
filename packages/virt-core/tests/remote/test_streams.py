"""Streams: volume download/upload and a console through virtd, with our client and with real virsh."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import virt.core as v
from virt.core.events import EventBus
from virt.core.remote.server import ServerConfig
from virt.core.sparse import HOLE, STREAM_RECV_STOP_AT_HOLE
from virt.core.types import StoragePoolRef, StorageVolRef
from virt.util.errors import ErrorNumber, NoSupportError, VirtError, not_found

POOL = StoragePoolRef("pool", "0f8b4bd1-7e4b-4ffb-8c3c-3b0cbd6c7f0d")
VOLUME = os.urandom(3 * 1024 * 1024 + 12345)  # several packets, not a multiple of their size
SPARSE_HOLES = [(4, 5 * 1024 * 1024 + 4), (5 * 1024 * 1024 + 10, 6 * 1024 * 1024)]
SPARSE = b"head" + bytes(5 * 1024 * 1024) + b"middle" + bytes(1024 * 1024 - 10) + b"tail"


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

    def hole(self, length: int) -> None:
        self.store.setdefault(self.name + ".holes", b"")
        self.store[self.name + ".holes"] += b"%d," % length
        self.buf.seek(length, io.SEEK_CUR)
        self.buf.truncate(max(self.buf.tell(), len(self.buf.getbuffer())))


class SparseSource:
    """A volume with holes: data where ``content`` is not zero, holes elsewhere (``in_data``/``skip``)."""

    def __init__(self, content: bytes, holes: list[tuple[int, int]]) -> None:
        self.content, self.holes, self.pos = content, holes, 0

    def in_data(self) -> tuple[bool, int]:
        if self.pos >= len(self.content):
            return False, 0
        for start, end in self.holes:
            if start <= self.pos < end:
                return False, end - self.pos
        nxt = min([start for start, _ in self.holes if start > self.pos], default=len(self.content))
        return True, nxt - self.pos

    def read(self, n: int) -> bytes:
        data = self.content[self.pos : self.pos + n]
        self.pos += len(data)
        return data

    def skip(self, n: int) -> None:
        self.pos += n


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
        if vol.name == "sparse":
            stream.attach(source=SparseSource(data, SPARSE_HOLES))
            return
        stream.attach(source=io.BytesIO(data[offset : offset + length] if length else data[offset:]))

    def storage_vol_upload(self, vol: StorageVolRef, stream: Any, offset: int, length: int, flags: int) -> None:
        limit = 1 << 20 if vol.name == "small" else None
        stream.attach(sink=Sink(self.store, vol.name, limit))

    def domain_open_console(self, dom: Any, dev_name: str | None, stream: Any, flags: int) -> None:
        console = Console()
        stream.attach(source=console, sink=console)


@pytest.fixture(scope="module")
def daemon(in_process_virtd: Any) -> Iterator[tuple[Path, dict[str, bytes]]]:
    """An in-process virtd whose connections are StreamConnections, on its own thread and loop."""
    store = {"disk": VOLUME, "small": b"", "sparse": SPARSE}
    tmp = Path(tempfile.mkdtemp(prefix="virtd-streams-"))
    sock = tmp / "sock"
    with in_process_virtd(ServerConfig(open_connection=lambda uri, ro: StreamConnection(store)), sock, mode=0o777):
        yield sock, store
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


def test_sparse_download_with_our_client(daemon: tuple[Path, dict[str, bytes]]) -> None:
    sock, _ = daemon
    with open_fake(sock) as conn:
        vol = conn.call("storage_vol_lookup_by_name", POOL, "sparse")
        stream = conn.new_stream()
        conn.call("storage_vol_download", vol, stream.impl, 0, 0, 1)  # SPARSE_STREAM: holes come as STREAM_HOLE
        got: list[bytes | int] = []
        assert stream.sparse_recv_all(got.append, got.append) == len(SPARSE)
        stream.finish()
        assert got == [b"head", 5 * 1024 * 1024, b"middle", 1024 * 1024 - 10, b"tail"]
        # piece by piece: recv_flags stops at a hole, recv_hole says how long it is
        stream = conn.new_stream()
        conn.call("storage_vol_download", vol, stream.impl, 0, 0, 1)
        assert stream.recv_flags(1000, STREAM_RECV_STOP_AT_HOLE) == b"head"
        assert stream.recv_flags(1000, STREAM_RECV_STOP_AT_HOLE) == HOLE
        assert stream.recv_hole() == 5 * 1024 * 1024
        assert stream.recv_hole() == 0  # data comes next
        assert stream.recv(3) == b"mid"
        stream.abort()
        # a hole for a plain recv comes as zeros; without the flag the daemon sends the zeros as data
        for flags in (1, 0):
            stream = conn.new_stream()
            conn.call("storage_vol_download", vol, stream.impl, 0, 0, flags)
            assert b"".join(stream) == SPARSE
            stream.finish()
        assert conn.get_type() == "FAKE"


def test_sparse_upload_with_our_client(daemon: tuple[Path, dict[str, bytes]], tmp_path: Path) -> None:
    sock, store = daemon
    with open_fake(sock) as conn:
        store["holes"] = b""
        vol = conn.call("storage_vol_lookup_by_name", POOL, "holes")
        stream = conn.new_stream()
        conn.call("storage_vol_upload", vol, stream.impl, 0, 0, 1)
        stream.send(b"a")
        stream.send_hole(70_000)
        stream.send(b"b")
        stream.finish()
        assert store["holes"] == b"a" + bytes(70_000) + b"b" and store["holes.holes"] == b"70000,"
        # a file's holes, found with SEEK_DATA/SEEK_HOLE
        path = tmp_path / "sparse.bin"
        with open(path, "wb") as f:
            f.write(b"x")
            f.seek(3 << 20)
            f.write(b"y")
        store["holes"], store["holes.holes"] = b"", b""
        stream = conn.new_stream()
        conn.call("storage_vol_upload", vol, stream.impl, 0, 0, 1)
        with open(path, "rb") as f:
            assert stream.sparse_send_all(f) == (3 << 20) + 1
        stream.finish()
        assert store["holes"] == path.read_bytes()
        assert store["holes.holes"] and int(store["holes.holes"].split(b",")[0]) >= (3 << 20) - 4096
        # a hole on a stream whose call did not ask for a sparse one is refused, as libvirtd does
        stream = conn.new_stream()
        conn.call("storage_vol_upload", vol, stream.impl, 0, 0, 0)
        stream.send_hole(10)
        with pytest.raises(VirtError, match="Unexpected stream hole"):
            stream.finish()
        assert conn.get_type() == "FAKE"


LIBVIRT_SPARSE = """
import sys, libvirt
conn = libvirt.open(sys.argv[1])
vol = conn.storagePoolLookupByName("pool").storageVolLookupByName("sparse")
st = conn.newStream(0)
vol.download(st, 0, 0, libvirt.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM)
got = []
st.sparseRecvAll(lambda s, d, o: o.append(len(d)), lambda s, n, o: o.append(-n), got)
st.finish()
print(got)
up = conn.storagePoolLookupByName("pool").storageVolLookupByName("py-up")
st = conn.newStream(0)
up.upload(st, 0, 0, libvirt.VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM)
parts = [(True, b"abc"), (False, 100000), (True, b"xyz")]
def in_data(s, o):
    return [o[0][0], len(o[0][1]) if o[0][0] else o[0][1]] if o else [False, 0]
def read(s, n, o):
    if not o:
        return b""
    data = o.pop(0)[1]
    return data
def skip(s, n, o):
    o.pop(0)
    return 0
st.sparseSendAll(read, in_data, skip, parts)
st.finish()
"""


@pytest.mark.skipif(not os.path.exists("/usr/bin/python3"), reason="needs python3-libvirt")
def test_libvirt_python_sparse_streams(daemon: tuple[Path, dict[str, bytes]]) -> None:
    sock, store = daemon
    store["py-up"], store["py-up.holes"] = b"", b""
    out = subprocess.run(["/usr/bin/python3", "-c", LIBVIRT_SPARSE, f"test+unix:///default?socket={sock}"],
                         capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    if "No module named 'libvirt'" in out.stderr:
        pytest.skip("python3-libvirt is not installed")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str([4, -5 * 1024 * 1024, 6, -(1024 * 1024 - 10), 4])
    assert store["py-up"] == b"abc" + bytes(100000) + b"xyz" and store["py-up.holes"] == b"100000,"


def test_our_cli_sparse_transfers_with_libvirtd(libvirtd: Any, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """`virt vol-upload/vol-download --sparse` against libvirt's own daemon (its storage driver, session
    mode as nobody): the holes of a sparse file travel as holes both ways."""
    from virt.core.cli import main as cli_main

    uri = f"qemu+unix:///session?socket={libvirtd.sock}"
    top = Path(tempfile.mkdtemp(prefix="virt-sparse-"))  # pytest's tmp_path is private to root
    top.chmod(0o755)
    pool_dir = top / "pool"
    pool_dir.mkdir()
    shutil.chown(pool_dir, "nobody")
    src, back = tmp_path / "src.bin", tmp_path / "back.bin"
    with open(src, "wb") as f:
        f.write(b"head")
        f.seek(8 << 20)
        f.write(b"tail")

    def virt(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        rc = cli_main.main(["-c", uri, *argv])
        return rc, capsys.readouterr().err

    assert virt("pool-create-as", "sparsepool", "dir", "--target", str(pool_dir)) == (0, "")
    try:
        assert virt("vol-create-as", "sparsepool", "v.raw", "0") == (0, "")
        assert virt("vol-upload", "v.raw", str(src), "--pool", "sparsepool", "--sparse") == (0, "")
        assert (pool_dir / "v.raw").read_bytes() == src.read_bytes()
        assert os.stat(pool_dir / "v.raw").st_blocks * 512 < 1 << 20
        assert virt("vol-download", "v.raw", str(back), "--pool", "sparsepool", "--sparse") == (0, "")
        assert back.read_bytes() == src.read_bytes()
        assert os.stat(back).st_blocks * 512 < 1 << 20
    finally:
        virt("pool-destroy", "sparsepool")
        shutil.rmtree(top, ignore_errors=True)


def test_streams_from_asyncio(daemon: tuple[Path, dict[str, bytes]]) -> None:
    """The asyncio side of streams: the event loop keeps running while the data moves."""
    sock, store = daemon

    async def main() -> tuple[list[bytes | int], bytes, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0)
                ticks += 1

        tick_task = asyncio.create_task(ticker())
        conn = await asyncio.get_running_loop().run_in_executor(None, open_fake, sock)
        try:
            vol = conn.call("storage_vol_lookup_by_name", POOL, "sparse")
            stream = conn.new_stream()
            conn.call("storage_vol_download", vol, stream.impl, 0, 0, 1)
            got: list[bytes | int] = []
            await stream.asparse_recv_all(got.append, got.append)
            await stream.afinish()
            stream = conn.new_stream()
            conn.call("storage_vol_download", vol, stream.impl, 0, 0, 0)
            data = b"".join([piece async for piece in stream])
            await stream.afinish()
            store["async-up"], store["async-up.holes"] = b"", b""
            up = conn.new_stream()
            conn.call("storage_vol_upload", conn.call("storage_vol_lookup_by_name", POOL, "async-up"), up.impl, 0, 0, 1)
            await up.asend(b"12")
            await up.asend_hole(1000)
            await up.asend(b"34")
            await up.afinish()
        finally:
            conn.close()
            tick_task.cancel()
        return got, data, ticks

    got, data, ticks = asyncio.run(main())
    assert got == [b"head", 5 * 1024 * 1024, b"middle", 1024 * 1024 - 10, b"tail"]
    assert data == SPARSE
    assert store["async-up"] == b"12" + bytes(1000) + b"34" and store["async-up.holes"] == b"1000,"
    assert ticks > 0


def test_malformed_hole_fails_only_the_stream(daemon: tuple[Path, dict[str, bytes]]) -> None:
    """A STREAM_HOLE whose body is not a virNetStreamHole (or has a negative length): the stream fails
    with an error, the connection carries on."""
    from virt.core.remote import protocol as W

    sock, store = daemon
    with open_fake(sock) as conn:
        for body, error in ((b"\0\0\0", "Unable to decode message payload"),
                            (W.StreamHole.encode(W.StreamHole.Value(-5, 0)), "Unexpected stream hole")):  # fmt: skip
            store["bad-hole"] = b""
            stream = conn.new_stream()
            conn.call("storage_vol_upload", conn.call("storage_vol_lookup_by_name", POOL, "bad-hole"), stream.impl,
                      0, 0, 1)  # fmt: skip
            impl = stream.impl
            impl.client.send(W.encode_raw(body, W.REMOTE_PROGRAM, W.REMOTE_PROTOCOL_VERSION, impl.proc,
                                          W.MessageType.STREAM_HOLE, impl.serial, W.MessageStatus.CONTINUE))  # fmt: skip
            with pytest.raises(VirtError, match=error):
                stream.finish()
        assert conn.get_type() == "FAKE"
