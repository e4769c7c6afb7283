"""Node device events: devices appearing, vanishing and changing, from polling a sysfs tree of the
test's own, and from the kernel's uevents for a real (down, unconnected) veth pair on this host."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from virt.core.connection import Connection
from virt.core.driver import Driver
from virt.core.enums import NodeDeviceEventID
from virt.core.events import Event
from virt.core.plugin import get_plugin_manager, hookimpl
from virt.core.registry import DriverRegistry, build_registry
from virt.secondary.nodedev import monitor, plugin
from virt.secondary.nodedev.monitor import CREATED, DELETED, monitor_for, parse_uevent


class StubHypervisor(Driver):
    name = "stubhv"
    uri_schemes = ("stubhv",)


class StubPlugin:
    @hookimpl
    def virt_register_drivers(self, register: DriverRegistry) -> None:
        register.hypervisor(StubHypervisor, name="stubhv", uri_schemes=("stubhv",))


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def open_conn() -> Connection:
    reg = build_registry(get_plugin_manager(False, (StubPlugin(), plugin)))
    return Connection("stubhv:///system", registry=reg)


def subscribe(conn: Connection, event_id: int) -> queue.Queue[Event]:
    got: queue.Queue[Event] = queue.Queue()
    conn.node_device_event_register(event_id, got.put)
    return got


def next_for(got: queue.Queue[Event], name: str, timeout: float = 10) -> Event:
    """The next event about device ``name`` (other devices of a real host may come and go)."""
    while True:
        ev = got.get(timeout=timeout)
        if ev.obj.name == name:
            return ev


@pytest.fixture
def polled(sysfs: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Connection]:
    monkeypatch.setattr(monitor, "POLL_INTERVAL", 0.1)
    conn = open_conn()
    yield conn
    conn.close()
    assert monitor_for(str(sysfs))._thread is None  # the last connection stopped the watch


def test_uevent_parsing() -> None:
    fields = parse_uevent(b"add@/devices/virtual/net/vt0\0ACTION=add\0DEVPATH=/devices/virtual/net/vt0\0"
                          b"SUBSYSTEM=net\0INTERFACE=vt0\0")
    assert fields == {"ACTION": "add", "DEVPATH": "/devices/virtual/net/vt0", "SUBSYSTEM": "net",
                      "INTERFACE": "vt0"}


def test_polled_tree_gives_created_updated_deleted(polled: Connection, sysfs: Path) -> None:
    lifecycle = subscribe(polled, NodeDeviceEventID.LIFECYCLE)
    updates = subscribe(polled, NodeDeviceEventID.UPDATE)
    assert not monitor_for(str(sysfs)).uevents  # a tree of the test's own: polled
    dev = sysfs / "devices" / "virtual" / "net" / "vtest0"
    for name, value in (("address", "52:54:00:00:00:09"), ("operstate", "down"), ("type", "1")):
        write(dev / name, value)
    os.symlink(dev, sysfs / "class" / "net" / "vtest0")
    name = "net_vtest0_52_54_00_00_00_09"
    ev = next_for(lifecycle, name)
    assert (ev.kind, ev.event_id, ev.payload) == ("node_device", NodeDeviceEventID.LIFECYCLE, (CREATED, 0))
    assert polled.call("node_device_lookup_by_name", name).name == name
    write(dev / "operstate", "up")
    ev = next_for(updates, name)
    assert (ev.event_id, ev.payload) == (NodeDeviceEventID.UPDATE, ())
    (sysfs / "class" / "net" / "vtest0").unlink()
    ev = next_for(lifecycle, name)
    assert ev.payload == (DELETED, 0)


def test_unknown_event_id_is_refused(polled: Connection) -> None:
    from virt.util.errors import VirtError

    with pytest.raises(VirtError, match="unsupported event ID"):
        polled.call("connect_node_device_event_register_any", 7)


def _mac(dev: str) -> str:
    return Path(f"/sys/class/net/{dev}/address").read_text().strip()


@pytest.mark.root
def test_kernel_uevents_for_a_real_device(monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0 or shutil.which("ip", path="/usr/sbin:/sbin:/usr/bin") is None:
        pytest.skip("needs root and iproute2")
    monkeypatch.delenv("VIRT_NODEDEV_SYSFS", raising=False)
    monkeypatch.setattr(monitor, "POLL_INTERVAL", 3600.0)  # only a uevent can deliver in time
    conn = open_conn()
    tag = uuid.uuid4().hex[:6]
    a, b = f"vtev{tag}a", f"vtev{tag}b"
    try:
        lifecycle = subscribe(conn, NodeDeviceEventID.LIFECYCLE)
        if not monitor_for("/sys").uevents:
            pytest.skip("no NETLINK_KOBJECT_UEVENT socket here")
        # a veth pair in this (the host's) namespace: uevents of devices in other namespaces go to
        # those namespaces only. Left down and unconnected: it carries no traffic.
        subprocess.run(["ip", "link", "add", a, "type", "veth", "peer", "name", b], check=True)
        name = f"net_{a}_{_mac(a).replace(':', '_')}"
        ev = next_for(lifecycle, name)
        assert ev.payload == (CREATED, 0)
        assert conn.call("node_device_lookup_by_name", name).name == name
        subprocess.run(["ip", "link", "del", a], check=True)  # takes its peer along
        ev = next_for(lifecycle, name)
        assert ev.payload == (DELETED, 0)
    finally:
        subprocess.run(["ip", "link", "del", a], capture_output=True, check=False)
        conn.close()
    assert monitor_for("/sys")._thread is None


@pytest.mark.root
def test_polling_fallback_on_the_real_sysfs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where no uevent socket can be opened, the host's sysfs is polled: same events, later."""
    if os.geteuid() != 0 or shutil.which("ip", path="/usr/sbin:/sbin:/usr/bin") is None:
        pytest.skip("needs root and iproute2")
    monkeypatch.delenv("VIRT_NODEDEV_SYSFS", raising=False)
    monkeypatch.setattr(monitor, "open_uevent_socket", lambda: None)
    monkeypatch.setattr(monitor, "POLL_INTERVAL", 0.3)
    conn = open_conn()
    tag = uuid.uuid4().hex[:6]
    a = f"vtev{tag}a"
    try:
        lifecycle = subscribe(conn, NodeDeviceEventID.LIFECYCLE)
        assert not monitor_for("/sys").uevents
        subprocess.run(["ip", "link", "add", a, "type", "veth", "peer", "name", f"vtev{tag}b"], check=True)
        name = f"net_{a}_{_mac(a).replace(':', '_')}"
        assert next_for(lifecycle, name).payload == (CREATED, 0)
        subprocess.run(["ip", "link", "del", a], check=True)
        assert next_for(lifecycle, name).payload == (DELETED, 0)
    finally:
        subprocess.run(["ip", "link", "del", a], capture_output=True, check=False)
        conn.close()


@pytest.mark.root
def test_virsh_nodedev_event_loop_through_virtd(tmp_path: Path) -> None:
    """libvirt's own virsh, `nodedev-event --loop` against our daemon (an lxc:/// connection, whose
    state lives in the test's directory), sees a real device come and go."""
    import importlib.util
    import sys
    import threading
    import time

    virsh = shutil.which("virsh")
    try:
        lxc = importlib.util.find_spec("virt.driver.lxc") is not None
    except ModuleNotFoundError:  # not even the virt.driver namespace (this package installed alone)
        lxc = False
    if os.geteuid() != 0 or virsh is None or not lxc:
        pytest.skip("needs root, virsh (libvirt-clients) and virt-driver-lxc")
    env = {**os.environ, **{f"VIRT_{kind}_ROOT": str(tmp_path / "root") for kind in ("LXC", "NETWORK", "STORAGE")}}
    env.pop("VIRT_NODEDEV_SYSFS", None)
    sock = tmp_path / "virtd-sock"
    with open(tmp_path / "virtd.log", "wb") as log:
        daemon = subprocess.Popen([sys.executable, "-m", "virt.core.remote.daemon", "--socket", str(sock),
                                   "--socket-ro", str(tmp_path / "virtd-sock-ro")], stdout=log,
                                  stderr=subprocess.STDOUT, env=env)
    tag = uuid.uuid4().hex[:6]
    a, b = f"vtev{tag}a", f"vtev{tag}b"
    watcher = None
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "virtd-sock-ro").exists():
            assert daemon.poll() is None and time.monotonic() < deadline, (tmp_path / "virtd.log").read_text()
            time.sleep(0.05)
        lines: queue.Queue[str] = queue.Queue()
        output: list[str] = []

        def start_watcher() -> subprocess.Popen[str]:
            # stdbuf: virsh's stdio would hold the lines back in a buffer while writing to a pipe
            proc = subprocess.Popen(["stdbuf", "-oL", virsh, "-c", f"lxc+unix:///system?socket={sock}",
                                     "nodedev-event", "--loop", "--event", "lifecycle"], stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            threading.Thread(target=lambda: [lines.put(line.rstrip("\n")) for line in proc.stdout or ()],
                             daemon=True).start()
            return proc

        watcher = start_watcher()
        # the watch is live once virsh reports a device of ours: until then, a probe pair comes and goes
        # (slowly: a device gone before the scan its uevent triggers was never there, for the watch)
        probe = f"vtev{tag}p"
        live = False
        starts = 1
        while not live:
            assert time.monotonic() < deadline, (output, (tmp_path / "virtd.log").read_text()[-2000:])
            if watcher.poll() is not None:  # a connection that failed: shown if it keeps failing
                assert starts < 3, (output, (tmp_path / "virtd.log").read_text()[-2000:])
                watcher, starts = start_watcher(), starts + 1
            subprocess.run(["ip", "link", "add", probe, "type", "veth", "peer", "name", f"vtev{tag}q"], check=True)
            try:
                while not live:
                    line = lines.get(timeout=2)
                    output.append(line)
                    live = probe in line
            except queue.Empty:
                pass
            subprocess.run(["ip", "link", "del", probe], check=True)
        subprocess.run(["ip", "link", "add", a, "type", "veth", "peer", "name", b], check=True)
        name = f"net_{a}_{_mac(a).replace(':', '_')}"
        time.sleep(1)
        subprocess.run(["ip", "link", "del", a], check=True)
        seen: list[str] = []
        while len(seen) < 2:
            line = lines.get(timeout=10)
            if name in line:
                seen.append(line)
        assert seen == [f"event 'lifecycle' for node device {name}: Created",
                        f"event 'lifecycle' for node device {name}: Deleted"]
    finally:
        for dev in (a, f"vtev{tag}p"):
            subprocess.run(["ip", "link", "del", dev], capture_output=True, check=False)
        for proc in (watcher, daemon):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
