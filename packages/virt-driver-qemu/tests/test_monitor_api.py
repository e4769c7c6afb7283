"""virDomainQemuMonitorCommand and QMP monitor events on real guests, in process and through virtd.

Guests are test_running's: no operating system is needed, QEMU itself answers. Through virtd (in
this process, on a private socket, an embed root behind it) libvirt's real ``virsh`` runs
``qemu-monitor-command`` and ``qemu-monitor-event``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from virt.core.connection import Connection
from virt.core.events import Event
from virt.util.errors import ErrorNumber, VirtError

QEMU = "/usr/bin/qemu-system-x86_64"
VIRSH = shutil.which("virsh")
pytestmark = pytest.mark.skipif(not os.access(QEMU, os.X_OK), reason="qemu-system-x86_64 is not installed")
HMP = 1


def _load(name: str) -> Any:
    """A sibling test module (the tests directory is not a package)."""
    spec = importlib.util.spec_from_file_location(f"_{name}", Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


running = _load("test_running")
env = running.env  # the fixture: a private embed root, its QEMU processes killed afterwards


def _command(conn: Connection, dom: Any, cmd: str, flags: int = 0) -> str:
    return str(conn.call("domain_qemu_monitor_command", dom.ref, cmd, flags))


def test_monitor_command_qmp_and_hmp(env: Any) -> None:
    dom = env.define(running.domain_xml("mon"))
    with pytest.raises(VirtError, match="domain is not running") as info:
        _command(env.conn, dom, '{"execute":"query-status"}')
    assert info.value.code == ErrorNumber.OPERATION_INVALID
    dom.create()
    reply = json.loads(_command(env.conn, dom, '{"execute":"query-status"}'))
    assert reply["return"]["status"] == "running" and reply["return"]["running"] is True
    assert re.fullmatch(r"libvirt-\d+", reply["id"])  # the whole reply, with the id given to the command
    assert _command(env.conn, dom, "info status", HMP) == "VM status: running\r\n"
    # QEMU's error is the answer, not a failure of the call (libvirt returns the reply as is).
    reply = json.loads(_command(env.conn, dom, '{"execute":"no-such-command"}'))
    assert reply["error"]["class"] == "CommandNotFound"
    assert "error" in json.loads(_command(env.conn, dom, '{"foo":1}'))  # QEMU answers it without an id
    with pytest.raises(VirtError, match="^internal error: cannot parse json not json") as info:
        _command(env.conn, dom, "not json")
    assert info.value.code == ErrorNumber.INTERNAL_ERROR
    with pytest.raises(VirtError, match="Unable to append command 'id' string"):
        _command(env.conn, dom, '{"execute":"query-status","id":"mine"}')
    assert "unknown command" in _command(env.conn, dom, "no-such-hmp", HMP)  # HMP answers in text
    dom.suspend()
    assert json.loads(_command(env.conn, dom, '{"execute":"query-status"}'))["return"]["status"] == "paused"
    assert _command(env.conn, dom, "info status", HMP) == "VM status: paused\r\n"
    # Tainted once per run, in the guest's log.
    log = (env.root / "log" / "qemu" / "mon.log").read_text()
    assert log.count("Domain id=1 is tainted: custom-monitor") == 1


def test_monitor_command_flags_and_files(env: Any) -> None:
    dom = env.define(running.domain_xml("files"))
    dom.create()
    with pytest.raises(VirtError, match=r"unsupported flags \(0x4\)") as info:
        _command(env.conn, dom, "info status", HMP | 4)
    assert info.value.code == ErrorNumber.INVALID_ARG
    with Connection(env.uri, readonly=True) as ro:
        for call, args in (("domain_qemu_monitor_command", ()), ("domain_qemu_monitor_command_with_files", ([],))):
            with pytest.raises(VirtError, match="read only access prevents virDomainQemuMonitorCommand") as info:
                ro.call(call, dom.ref, '{"execute":"query-status"}', *args, 0)
            assert info.value.code == ErrorNumber.OPERATION_DENIED
        with pytest.raises(VirtError, match="prevents virDomainQemuMonitorCommandWithFiles$"):
            ro.call("domain_qemu_monitor_command_with_files", dom.ref, '{"execute":"query-status"}', [], 0)
    a, b = socket.socketpair()
    try:
        getfd = '{"execute":"getfd","arguments":{"fdname":"passed"}}'
        reply = json.loads(env.conn.call("domain_qemu_monitor_command_with_files", dom.ref, getfd, [a.fileno()], 0))
        assert reply["return"] == {}
        closefd = '{"execute":"closefd","arguments":{"fdname":"passed"}}'
        assert json.loads(_command(env.conn, dom, closefd))["return"] == {}  # QEMU held it
        with pytest.raises(VirtError, match="at most 1 fd can be passed"):
            env.conn.call("domain_qemu_monitor_command_with_files", dom.ref, getfd, [a.fileno(), b.fileno()], 0)
    finally:
        a.close()
        b.close()


class _Recorder:
    """An event callback that keeps what it gets and wakes whoever waits on ``cond``."""

    def __init__(self) -> None:
        self.seen: list[Event] = []
        self.cond = threading.Condition()

    def __call__(self, ev: Event) -> None:
        with self.cond:
            self.seen.append(ev)
            self.cond.notify_all()


def test_qmp_events_reach_the_bus(env: Any) -> None:
    dom = env.define(running.domain_xml("events"))
    dom.create()
    record = _Recorder()
    seen, cond = record.seen, record.cond

    assert env.conn.call("connect_domain_qemu_monitor_event_register", dom.ref, "STOP", 0) == 0
    with pytest.raises(VirtError, match=r"unsupported flags \(0x4\)"):
        env.conn.call("connect_domain_qemu_monitor_event_register", None, None, 4)
    sub = env.conn.events.subscribe("qemu_monitor", 0, record, dom.ref)
    before = time.time()
    dom.suspend()
    dom.resume()
    _command(env.conn, dom, '{"execute":"stop"}')  # behind the driver's back: the event still says so
    # Only these events are looked at: a guest without a disk also resets itself now and then, and
    # the RESUME of its start may reach the bus after the subscription.
    def ours_() -> list[Event]:
        return [ev for ev in seen if ev.payload[0] != "RESET" and ev.payload[1] + ev.payload[2] / 1e6 >= before]

    with cond:
        assert cond.wait_for(lambda: len(ours_()) >= 3, 10), seen
    env.conn.events.unsubscribe(sub)
    ours = ours_()
    assert [ev.payload[0] for ev in ours[:3]] == ["STOP", "RESUME", "STOP"]
    name, seconds, micros, details = ours[0].payload
    assert ours[0].obj.name == "events" and ours[0].event_id == 0
    assert before - 1 <= seconds + micros / 1e6 <= time.time() + 1 and 0 <= micros < 1_000_000
    assert details is None  # STOP carries no data
    # An event with data: its JSON text.
    env.conn.events.subscribe("qemu_monitor", 0, record, dom.ref)
    _command(env.conn, dom, '{"execute":"cont"}')
    _command(env.conn, dom, '{"execute":"system_reset"}')
    with cond:
        assert cond.wait_for(lambda: any("host-qmp" in (ev.payload[3] or "") for ev in seen), 10), seen
    reset = next(ev for ev in seen if "host-qmp" in (ev.payload[3] or ""))
    assert reset.payload[0] == "RESET"
    assert json.loads(reset.payload[3]) == {"guest": False, "reason": "host-qmp-system-reset"}


# ---------------------------------------------------------------------------------------- through virtd
class Daemon:
    """virtd on a private socket in this process, the embed connection behind it."""

    def __init__(self, tmp: Path) -> None:
        from virt.core.remote.server import Server, ServerConfig

        self.tmp, self.root = tmp, tmp / "root"
        embed = f"qemu:///embed?root={self.root}"
        self.conn = Connection(embed)
        self.uri = f"qemu+unix:///system?socket={tmp / 'sock'}"
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.server: Any = None

        async def serve() -> None:
            self.server = Server(ServerConfig(open_connection=lambda uri, ro: Connection(embed, readonly=ro)))
            await self.server.listen_unix(tmp / "sock")
            ready.set()
            await self.server.serve_forever()

        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(serve(),), daemon=True)
        self.thread.start()
        assert ready.wait(10)

    def virsh(self, *args: str) -> subprocess.CompletedProcess[str]:
        got = subprocess.run([str(VIRSH), "-c", self.uri, *args], capture_output=True, timeout=60,
                             stdin=subprocess.DEVNULL, check=False)  # fmt: skip
        return subprocess.CompletedProcess(got.args, got.returncode, got.stdout.decode(), got.stderr.decode())

    def close(self) -> None:
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.thread.join(10)
        self.conn.close()


@pytest.fixture
def daemon() -> Iterator[Daemon]:
    from virt.driver.qemu.host import shutdown_hosts

    if VIRSH is None:
        pytest.skip("libvirt's virsh (libvirt-clients) is not installed")
    tmp = Path(tempfile.mkdtemp(prefix="virt-mon-"))  # short: unix socket paths fit in 108 bytes
    d = Daemon(tmp)
    try:
        yield d
    finally:
        for dom in d.conn.list_all_domains(1):
            with contextlib.suppress(VirtError):
                dom.destroy()
        d.close()
        shutdown_hosts(d.root)
        leftovers = running.qemu_pids_under(d.root)
        running.kill_pids(leftovers)
        for group in sorted(running.cgroup_dirs_of(d.root), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                os.rmdir(group)
        shutil.rmtree(tmp, ignore_errors=True)
        assert not leftovers, f"QEMU processes left running: {leftovers}"


def test_virsh_qemu_monitor_command_through_virtd(daemon: Daemon) -> None:
    daemon.conn.define_domain(running.domain_xml("vmon")).create()
    daemon.conn.define_domain(running.domain_xml("off"))
    got = daemon.virsh("qemu-monitor-command", "vmon", '{"execute":"query-status"}')
    assert got.returncode == 0, got.stderr
    assert re.fullmatch(r'\{"return":\{"status":"running","singlestep":false,"running":true\},"id":"libvirt-\d+"\}\n\n',
                        got.stdout), got.stdout  # fmt: skip
    got = daemon.virsh("qemu-monitor-command", "vmon", "--pretty", '{"execute":"query-status"}')
    assert got.returncode == 0
    assert re.fullmatch(r'\{\n  "return": \{\n    "status": "running",\n    "singlestep": false,\n'
                        r'    "running": true\n  \},\n  "id": "[^"]+"\n\}\n', got.stdout), got.stdout  # fmt: skip
    got = daemon.virsh("qemu-monitor-command", "vmon", "--hmp", "info", "status")
    assert (got.returncode, got.stdout) == (0, "VM status: running\r\n\n\n")  # virsh adds two newlines
    # virsh turns text that is not JSON into {"execute": text}; QEMU's error is the answer.
    got = daemon.virsh("qemu-monitor-command", "vmon", "{not json")
    assert got.returncode == 0 and '"error":{"class":"CommandNotFound"' in got.stdout, got
    with Connection(daemon.uri) as remote:  # ours sends it as is: the driver's error comes back
        ref = remote.lookup_domain_by_name("vmon").ref
        with pytest.raises(VirtError, match="^internal error: cannot parse json {not json"):
            remote.call("domain_qemu_monitor_command", ref, "{not json", 0)
        assert json.loads(remote.call("domain_qemu_monitor_command", ref, '{"execute":"query-status"}', 0))[
            "return"]["status"] == "running"  # fmt: skip
    got = daemon.virsh("qemu-monitor-command", "off", '{"execute":"query-status"}')
    assert got.returncode == 1
    assert "error: Requested operation is not valid: domain is not running" in got.stderr


def test_virsh_qemu_monitor_event_through_virtd(daemon: Daemon) -> None:
    dom = daemon.conn.define_domain(running.domain_xml("vevents"))
    dom.create()
    other = daemon.conn.define_domain(running.domain_xml("quiet"))
    other.create()
    listeners = {  # one domain's STOP by name (any case); every domain's RESET|RESUME by a regex
        "stop": ["--domain", "vevents", "--event", "stop", "--no-case"],
        "regex": ["--event", "^RES(ET|UME)$", "--regex", "--pretty"],
    }
    procs: dict[str, subprocess.Popen[bytes]] = {}
    outs = {key: daemon.tmp / f"{key}.out" for key in listeners}
    for key, args in listeners.items():
        with outs[key].open("w") as sink:
            procs[key] = subprocess.Popen([str(VIRSH), "-c", daemon.uri, "qemu-monitor-event", *args, "--loop",
                                           "--timeout", "8"],
                                          stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)  # fmt: skip
    try:
        # virsh registers a moment after it starts: pause, resume and reset until both have seen all
        # theirs (a listener may register between one iteration's resume and its reset).
        deadline = time.monotonic() + 7
        while time.monotonic() < deadline and not (
            "event STOP" in outs["stop"].read_text()
            and "event RESUME" in (regex := outs["regex"].read_text())
            and "host-qmp-system-reset" in regex
        ):
            dom.suspend()
            dom.resume()
            other.reset()
            time.sleep(0.5)
        assert all(proc.wait(20) == 0 for proc in procs.values())
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = outs["stop"].read_text()
    lines = [line for line in text.splitlines() if line.startswith("event ")]
    assert lines[-1] == "event loop timed out", text
    assert lines[:-1], text
    for line in lines[:-1]:  # only STOP of vevents: RESUME and the other guest's RESET are held back
        assert re.fullmatch(r"event STOP at \d+\.\d{6} for domain 'vevents': <null>", line), line
    text = outs["regex"].read_text()
    assert "event RESUME at " in text and "for domain 'vevents': <null>" in text, text
    reset = r"""event RESET at \d+\.\d{6} for domain 'quiet': \{\n  "guest": false,\n  "reason": "host-qmp-system-reset"\n\}\n"""
    assert re.search(reset, text), text
    assert "event STOP" not in text


def test_our_remote_client_gets_qmp_events_through_virtd(daemon: Daemon) -> None:
    dom = daemon.conn.define_domain(running.domain_xml("remote"))
    dom.create()
    record = _Recorder()
    seen, cond = record.seen, record.cond

    with Connection(daemon.uri) as remote:
        ref = remote.lookup_domain_by_name("remote").ref
        remote.events.subscribe("qemu_monitor", 0, record)
        callback_id = remote.call("connect_domain_qemu_monitor_event_register", ref, "STOP", 0)
        assert callback_id >= 1
        dom.suspend()
        dom.resume()
        with cond:
            assert cond.wait_for(lambda: bool(seen), 10)
        remote.call("connect_domain_qemu_monitor_event_deregister", callback_id)
        with pytest.raises(VirtError, match=f"callback {callback_id} not registered"):
            remote.call("connect_domain_qemu_monitor_event_deregister", callback_id)
    assert [(ev.obj.name, ev.payload[0], ev.payload[3]) for ev in seen] == [("remote", "STOP", None)]
