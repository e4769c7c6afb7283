"""A pool whose storage hangs (a FUSE mount nobody answers, as an unreachable NFS server would)
keeps only itself busy: other pools, lists and lookups go on."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from virt.util.errors import ErrorNumber, VirtError

pytestmark = pytest.mark.root


@pytest.fixture
def hang_mount() -> Iterator[callable]:  # type: ignore[valid-type]
    """``hang(path)`` mounts a FUSE filesystem on ``path`` whose daemon never answers."""
    if os.geteuid() != 0 or not os.path.exists("/dev/fuse"):
        pytest.skip("needs root and /dev/fuse")
    holders: list[tuple[subprocess.Popen[bytes], Path]] = []

    def hang(path: Path) -> None:
        # the sleeping shell holds the /dev/fuse descriptor and never reads it
        proc = subprocess.Popen(["bash", "-c", (f"exec 3<>/dev/fuse; mount -i -t fuse none '{path}' -o "
                                 "fd=3,rootmode=40000,user_id=0,group_id=0 || exit 1; exec sleep 600")])
        holders.append((proc, path))
        deadline = time.monotonic() + 5
        while f" {path} fuse " not in Path("/proc/self/mounts").read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.skip("cannot mount a FUSE filesystem here")
            time.sleep(0.05)

    yield hang
    for proc, path in holders:
        proc.kill()  # closing the descriptor aborts the connection: stuck calls return
        proc.wait()
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def test_a_hung_pool_does_not_block_the_others(root: Path, hang_mount, connect, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIRT_STORAGE_TIMEOUT", "2")
    with connect() as conn:
        pools = {}
        for name in ("fast", "stuck"):
            pools[name] = conn.define_storage_pool(f"<pool type='dir'><name>{name}</name><target><path>"
                                                   f"{root / name}</path></target></pool>")
            pools[name].build(0)
            pools[name].create(0)
        hang_mount(root / "stuck")

        failures: list[BaseException] = []

        def refresh_stuck() -> None:
            try:
                pools["stuck"].refresh()
            except VirtError as exc:
                failures.append(exc)

        start = time.monotonic()
        stuck_call = threading.Thread(target=refresh_stuck)
        stuck_call.start()
        time.sleep(0.3)  # the refresh is now waiting on the hung mount

        t0 = time.monotonic()
        vol = pools["fast"].create_volume("<volume><name>ok.raw</name><capacity>1048576</capacity></volume>")
        pools["fast"].refresh()
        assert sorted(p.name() for p in conn.list_all_storage_pools()) == ["fast", "stuck"]
        assert pools["stuck"].info().state == 2  # from the last refresh, without touching the mount
        assert conn.lookup_storage_vol_by_path(vol.path()) == vol
        assert time.monotonic() - t0 < 1.5

        stuck_call.join(10)
        assert not stuck_call.is_alive()
        assert 1.5 < time.monotonic() - start < 5
        assert len(failures) == 1 and failures[0].code == ErrorNumber.OPERATION_TIMEOUT
        assert "storage pool 'stuck' is not responding" in failures[0].message
        # the hung operation still holds the pool: the next call gives up in time too
        t0 = time.monotonic()
        with pytest.raises(VirtError, match="storage pool 'stuck' is not responding") as err:
            pools["stuck"].refresh()
        assert err.value.code == ErrorNumber.OPERATION_TIMEOUT and time.monotonic() - t0 < 4
