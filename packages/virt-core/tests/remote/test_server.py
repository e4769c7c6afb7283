"""virtd's scheduling and lifecycle: slow calls, in-flight limits, client limits, shutdown, local default URIs."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import virt.core as v
from virt.core.events import EventBus
from virt.core.registry import DriverRegistry
from virt.core.remote.server import ServerConfig
from virt.core.types import DomainInfo, DomainRef
from virt.util.errors import ErrorNumber, NoSupportError, VirtError

from .conftest import start_virtd

DOM = DomainRef("slow", "a8b6b2a8-1f6c-4c3b-9a45-6f4b3c2d1e0f", 1)


class SlowConnection:
    """A connection whose domain_get_info takes a while (as a hypervisor's monitor may)."""

    driver_name = "slow"

    def __init__(self, state: dict[str, Any]) -> None:
        self.events = EventBus()
        self.state = state
        self._drivers = {"hypervisor": self}

    def close(self) -> None:
        self.events.close()

    def call(self, method: str, *args: Any) -> Any:
        fn = getattr(self, method, None)
        if fn is None:
            raise NoSupportError(method)
        return fn(*args)

    def connect_get_type(self) -> str:
        return "SLOW"

    def connect_supports_feature(self, feature: int) -> int:
        return 0

    def domain_lookup_by_name(self, name: str) -> DomainRef:
        return DOM

    def domain_get_info(self, dom: DomainRef) -> DomainInfo:
        with self.state["lock"]:
            self.state["running"] += 1
            self.state["peak"] = max(self.state["peak"], self.state["running"])
        time.sleep(self.state["delay"])
        with self.state["lock"]:
            self.state["running"] -= 1
        return DomainInfo(1, 1024, 1024, 1, 0)


@pytest.fixture()
def slow_daemon(in_process_virtd: Any) -> Iterator[tuple[Path, dict[str, Any]]]:
    state: dict[str, Any] = {"lock": threading.Lock(), "running": 0, "peak": 0, "delay": 1.5}
    tmp = Path(tempfile.mkdtemp(prefix="virtd-slow-"))
    sock = tmp / "sock"
    config = ServerConfig(open_connection=lambda uri, ro: SlowConnection(state), max_client_requests=2,
                          max_clients=3)  # fmt: skip
    with in_process_virtd(config, sock, mode=0o777):
        yield sock, state
    shutil.rmtree(tmp, ignore_errors=True)


def test_a_slow_call_does_not_hold_up_other_clients(slow_daemon: tuple[Path, dict[str, Any]]) -> None:
    sock, _ = slow_daemon
    uri = f"test+unix:///default?socket={sock}"
    with v.open(uri) as busy, v.open(uri) as other:
        worker = threading.Thread(target=busy.call, args=("domain_get_info", DOM))
        worker.start()
        time.sleep(0.2)
        start = time.monotonic()
        assert other.get_type() == "SLOW"
        assert time.monotonic() - start < 1.0  # served while the slow call runs
        worker.join()


def test_calls_in_flight_per_client_are_limited(slow_daemon: tuple[Path, dict[str, Any]]) -> None:
    sock, state = slow_daemon
    state["delay"] = 0.5
    with v.open(f"test+unix:///default?socket={sock}") as conn:
        threads = [threading.Thread(target=conn.call, args=("domain_get_info", DOM)) for _ in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert state["peak"] == 2  # max_client_requests


def test_clients_beyond_the_limit_are_refused(slow_daemon: tuple[Path, dict[str, Any]]) -> None:
    sock, _ = slow_daemon
    uri = f"test+unix:///default?socket={sock}"
    conns = [v.open(uri) for _ in range(3)]
    try:
        with pytest.raises(VirtError):
            v.open(uri)
        conns.pop().close()
        time.sleep(0.2)
        with v.open(uri) as again:
            assert again.get_type() == "SLOW"
    finally:
        for conn in conns:
            conn.close()


def test_sigterm_shuts_down_gracefully(tmp_path: Path) -> None:
    daemon = start_virtd(tmp_path)
    conn = v.open(daemon.uri())
    assert conn.get_type() == "TEST"
    os.kill(daemon.pid, signal.SIGTERM)
    assert daemon.proc.wait(timeout=15) == 0
    assert not daemon.sock.exists() and daemon.sock_ro is not None and not daemon.sock_ro.exists()
    with pytest.raises(VirtError):
        conn.get_hostname()
    conn.close()


def test_local_uri_without_a_local_driver_goes_to_the_local_daemon() -> None:
    from virt.core.remote import plugin

    registry = DriverRegistry()
    plugin.virt_register_drivers(registry)  # only the remote driver is installed
    with pytest.raises(VirtError) as info:
        v.Connection("qemu:///system", registry=registry)
    # It tried the daemon's socket (libvirt's path as root, the user's runtime dir otherwise).
    assert info.value.code == ErrorNumber.SYSTEM_ERROR
    assert "libvirt-sock" in str(info.value) or "virtqemud-sock" in str(info.value)
