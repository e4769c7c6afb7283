"""virNetworkPortGetParameters / SetParameters (procedures 407 and 408) through virtd: our client (both)
and libvirt-python (the setter) against a connection whose network driver keeps one port's parameters."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import virt.core as v
from virt.core.events import EventBus
from virt.core.remote.server import ServerConfig
from virt.core.types import NetworkPortRef, NetworkRef
from virt.util.errors import InvalidArgError, NoSupportError

NET = NetworkRef("qos", "0a1b2c3d-0000-4000-8000-000000000001")
PORT = NetworkPortRef(NET, "0a1b2c3d-0000-4000-8000-0000000000aa")


class PortConnection:
    """What virtd needs of a connection, with one network and one port."""

    driver_name = "fake"
    nonblocking = True

    def __init__(self, params: dict[str, int]) -> None:
        self.events = EventBus()
        self._drivers = {"hypervisor": self}
        self.params = params

    def close(self) -> None:
        self.events.close()

    def call(self, method: str, *args: Any) -> Any:
        fn = getattr(self, method, None)
        if fn is None:
            raise NoSupportError(method)
        return fn(*args)

    def connect_supports_feature(self, feature: int) -> int:
        return 0

    def network_lookup_by_name(self, name: str) -> NetworkRef:
        return NET

    def network_port_lookup_by_uuid(self, net: NetworkRef, uuid: str) -> NetworkPortRef:
        return PORT

    def network_port_get_parameters(self, port: NetworkPortRef, flags: int = 0) -> dict[str, int]:
        assert port == PORT
        return dict(self.params)

    def network_port_set_parameters(self, port: NetworkPortRef, params: dict[str, Any], flags: int = 0) -> None:
        assert port == PORT
        for key, value in params.items():
            if key not in self.params:
                raise InvalidArgError(f"parameter '{key}' not supported")
            self.params[key] = value


@pytest.fixture
def daemon(in_process_virtd: Any) -> Iterator[tuple[Path, dict[str, int]]]:
    params = {"inbound.average": 500, "inbound.peak": 0, "inbound.floor": 300, "inbound.burst": 0,
              "outbound.average": 0, "outbound.peak": 0, "outbound.burst": 0}
    tmp = Path(tempfile.mkdtemp(prefix="virtd-port-"))
    sock = tmp / "sock"
    with in_process_virtd(ServerConfig(open_connection=lambda uri, ro: PortConnection(params)), sock, mode=0o700):
        yield sock, params
    shutil.rmtree(tmp, ignore_errors=True)


def test_our_client_gets_and_sets_port_parameters(daemon: tuple[Path, dict[str, int]]) -> None:
    sock, params = daemon
    with v.open(f"test+unix:///default?socket={sock}") as conn:
        assert conn.call("network_port_get_parameters", PORT, 0) == params
        conn.call("network_port_set_parameters", PORT, {"inbound.floor": 400, "outbound.average": 100}, 0)
        assert params["inbound.floor"] == 400 and params["outbound.average"] == 100
        with pytest.raises(InvalidArgError, match="parameter 'bogus' not supported"):
            conn.call("network_port_set_parameters", PORT, {"bogus": 1}, 0)


LIBVIRT_PORT = """
import sys, libvirt
conn = libvirt.open(sys.argv[1])
port = conn.networkLookupByName("qos").portLookupByUUIDString(sys.argv[2])
port.setParameters({"inbound.average": 700, "outbound.burst": 64})
print(port.UUIDString())
"""


def test_libvirt_python_gets_and_sets_port_parameters(daemon: tuple[Path, dict[str, int]]) -> None:
    sock, params = daemon
    out = subprocess.run(["/usr/bin/python3", "-c", LIBVIRT_PORT, f"test+unix:///default?socket={sock}", PORT.uuid],
                         capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    if "No module named 'libvirt'" in out.stderr:
        pytest.skip("python3-libvirt is not installed")
    assert out.returncode == 0, out.stderr
    # libvirt-python 9.0 has no virNetworkPort.getParameters binding: only the setter is reachable
    assert out.stdout.strip() == PORT.uuid
    assert params["inbound.average"] == 700 and params["outbound.burst"] == 64
