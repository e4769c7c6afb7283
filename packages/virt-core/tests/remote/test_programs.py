"""The qemu and lxc programs through virtd: real virsh's qemu-monitor-command, qemu-agent-command,
qemu-monitor-event and lxc-enter-namespace, and our remote driver's calls of the same procedures."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import virt.core as v
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from virt.core.events import EventBus
from virt.core.remote import procedures as P
from virt.core.remote import protocol as W
from virt.core.remote.programs import QEMU_MONITOR_EVENT_KIND
from virt.core.remote.server import ServerConfig
from virt.core.types import DomainRef
from virt.util import xdr
from virt.util.errors import NoSupportError, VirtError

from .conftest import Daemon

VIRSH = "/usr/bin/virsh"
needs_virsh = pytest.mark.skipif(not os.path.exists(VIRSH), reason="virsh (libvirt-clients) is not installed")
DOM = DomainRef("qmp", "0f0e0d0c-0b0a-0908-0706-050403020100", 7)


def virsh(uri: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VIRSH, "-c", uri, *args], capture_output=True, text=True, timeout=60)


# ---- against the test driver: libvirt's own answer is "not supported" -----------------------------------


@needs_virsh
@pytest.mark.parametrize(
    "command",
    [["qemu-monitor-command", "test", '{"execute":"query-status"}'],
     ["qemu-agent-command", "test", '{"execute":"guest-ping"}'],
     ["qemu-attach", "1"],
     ["qemu-monitor-event", "--timeout", "1"]],
)  # fmt: skip
def test_virsh_qemu_commands_answer_as_the_test_driver_does(virtd: Daemon, command: list[str]) -> None:
    remote = virsh(virtd.uri(), *command)
    local = virsh("test:///default", *command)
    assert remote.returncode == local.returncode == 1
    assert remote.stderr == local.stderr
    assert "this function is not supported by the connection driver: vir" in remote.stderr


def test_our_client_reaches_the_qemu_program(virtd: Daemon) -> None:
    with v.open(virtd.uri()) as conn:
        dom = conn.call("domain_lookup_by_name", "test")
        with pytest.raises(NoSupportError, match="virDomainQemuMonitorCommand$"):
            conn.call("domain_qemu_monitor_command", dom, '{"execute":"query-status"}', 0)
        with pytest.raises(NoSupportError, match="virDomainQemuAgentCommand$"):
            conn.call("domain_qemu_agent_command", dom, '{"execute":"guest-ping"}', -2, 0)


@needs_virsh
def test_virsh_lxc_enter_namespace_answers_as_the_test_driver_does(virtd: Daemon) -> None:
    remote = virsh(virtd.uri().replace("test+unix", "test+unix"), "lxc-enter-namespace", "test", "/bin/true")
    local = virsh("test:///default", "lxc-enter-namespace", "test", "/bin/true")
    assert remote.returncode == local.returncode == 1
    assert "virDomainLxcOpenNamespace" in remote.stderr and remote.stderr == local.stderr


# ---- a connection with a QMP monitor: commands and events reach virsh ---------------------------------------


class QMPConnection:
    """A hypervisor connection answering QMP commands as a monitor would, and emitting QMP events."""

    driver_name = "qmp"

    def __init__(self) -> None:
        self.events = EventBus()
        self._drivers = {"hypervisor": self}

    def close(self) -> None:
        self.events.close()

    def call(self, method: str, *args: Any) -> Any:
        fn = getattr(self, method, None)
        if fn is None:
            raise NoSupportError(method)
        return fn(*args)

    def connect_get_type(self) -> str:
        return "QEMU"

    def connect_supports_feature(self, feature: int) -> int:
        return 0

    def domain_lookup_by_name(self, name: str) -> DomainRef:
        if name != DOM.name:
            raise NoSupportError("domain_lookup_by_name")
        return DOM

    def domain_qemu_monitor_command(self, dom: DomainRef, cmd: str, flags: int) -> str:
        request = json.loads(cmd)
        return json.dumps({"return": {"status": "running", "running": True, "asked": request["execute"],
                                      "domain": dom.name}, "id": "libvirt-1"})  # fmt: skip

    def domain_qemu_agent_command(self, dom: DomainRef, cmd: str, timeout: int, flags: int) -> str:
        return json.dumps({"return": {}})

    def domain_qemu_monitor_command_with_files(self, dom: DomainRef, cmd: str, fds: list[int], flags: int) -> str:
        # What the file passed is, seen from here: the daemon got its own copy of the descriptor.
        return json.dumps({"return": {"fds": [os.readlink(f"/proc/self/fd/{fd}") for fd in fds],
                                      "contents": [os.pread(fd, 100, 0).decode() for fd in fds]}})

    def domain_lxc_open_namespace(self, dom: DomainRef, flags: int) -> list[int]:
        """The daemon's own UTS and IPC namespaces stand for a container's (entering them is harmless)."""
        return [os.open(f"/proc/self/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC) for ns in ("uts", "ipc")]

    def connect_domain_qemu_monitor_event_register(self, dom: DomainRef | None, event: str | None, flags: int) -> None:
        def later() -> None:
            time.sleep(0.5)
            self.events.emit(QEMU_MONITOR_EVENT_KIND, 0, DOM, "SHUTDOWN", 1700000000, 250000,
                             '{"guest":true,"reason":"guest-shutdown"}')  # fmt: skip
            self.events.emit(QEMU_MONITOR_EVENT_KIND, 0, DOM, "STOP", 1700000001, 0, None)

        threading.Thread(target=later, daemon=True).start()


@pytest.fixture()
def qmp_daemon(in_process_virtd: Any) -> Iterator[str]:
    tmp = Path(tempfile.mkdtemp(prefix="virtd-qmp-"))
    sock = tmp / "sock"
    with in_process_virtd(ServerConfig(open_connection=lambda uri, ro: QMPConnection()), sock):
        yield f"qemu+unix:///system?socket={sock}"
    shutil.rmtree(tmp, ignore_errors=True)


@needs_virsh
def test_virsh_qemu_monitor_command_through_virtd(qmp_daemon: str) -> None:
    result = virsh(qmp_daemon, "qemu-monitor-command", "qmp", '{"execute":"query-status"}')
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert reply["return"] == {"status": "running", "running": True, "asked": "query-status", "domain": "qmp"}
    result = virsh(qmp_daemon, "qemu-agent-command", "qmp", '{"execute":"guest-ping"}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"return": {}}


@needs_virsh
def test_virsh_qemu_monitor_event_through_virtd(qmp_daemon: str) -> None:
    result = virsh(qmp_daemon, "qemu-monitor-event", "--domain", "qmp", "--event", "shutdown", "--regex",
                   "--no-case", "--timeout", "10")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "event SHUTDOWN at 1700000000.250000 for domain 'qmp': " in result.stdout
    assert '"reason":"guest-shutdown"' in result.stdout
    assert "STOP" not in result.stdout  # filtered out by the event name
    result = virsh(qmp_daemon, "qemu-monitor-event", "--loop", "--timeout", "3")
    assert "event SHUTDOWN at 1700000000.250000 for domain 'qmp'" in result.stdout
    assert "event STOP at 1700000001.000000 for domain 'qmp': <null>" in result.stdout


@needs_virsh
def test_virsh_qemu_monitor_command_passes_files(qmp_daemon: str, tmp_path: Path) -> None:
    passed = tmp_path / "passed"
    passed.write_text("x")
    script = f"exec 5<{passed}; exec {VIRSH} -c '{qmp_daemon}' qemu-monitor-command qmp --pass-fds 5 " \
             "'{\"execute\":\"add-fd\"}'"
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"return": {"fds": [str(passed)], "contents": ["x"]}}


def test_our_client_passes_files_with_monitor_commands(qmp_daemon: str, tmp_path: Path) -> None:
    """virDomainQemuMonitorCommandWithFiles: the client asks for FD_PASSING first, as libvirt's does,
    then the daemon's driver reads what the caller's descriptors hold."""
    (tmp_path / "one").write_text("first")
    (tmp_path / "two").write_text("second")
    fds = [os.open(tmp_path / name, os.O_RDONLY) for name in ("one", "two")]
    try:
        with v.open(qmp_daemon) as conn:
            for _ in range(2):  # asked once; the connection stays usable after the descriptors
                reply = json.loads(conn.call("domain_qemu_monitor_command_with_files", DOM,
                                             '{"execute":"add-fd"}', fds, 0))  # fmt: skip
                assert reply == {"return": {"fds": [str(tmp_path / "one"), str(tmp_path / "two")],
                                            "contents": ["first", "second"]}}  # fmt: skip
            assert json.loads(conn.call("domain_qemu_monitor_command", DOM, '{"execute":"query-kvm"}', 0))
    finally:
        for fd in fds:
            os.close(fd)


@needs_virsh
def test_virt_cli_passes_files_as_virsh_does(qmp_daemon: str, tmp_path: Path) -> None:
    """``virt qemu-monitor-command --pass-fds`` through virtd prints what virsh prints."""
    passed = tmp_path / "passed"
    passed.write_text("y")
    virt_cli = f"{sys.executable} -c 'import sys; from virt.core.cli.main import main; sys.exit(main())'"
    outputs = []
    for program in (virt_cli, VIRSH):
        script = f"exec 5<{passed}; exec {program} -c '{qmp_daemon}' qemu-monitor-command qmp --pass-fds 5 " \
                 "'{\"execute\":\"add-fd\"}'"
        result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert json.loads(outputs[0]) == {"return": {"fds": [str(passed)], "contents": ["y"]}}
    assert outputs[0] == outputs[1]


@needs_virsh
def test_virsh_lxc_enter_namespace_gets_the_descriptors(qmp_daemon: str) -> None:
    uri = qmp_daemon.replace("qemu+unix", "lxc+unix")
    result = virsh(uri, "lxc-enter-namespace", "--noseclabel", "qmp", "/bin/echo", "inside")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "inside"


def test_our_client_gets_namespace_descriptors(qmp_daemon: str) -> None:
    with v.open(qmp_daemon) as conn:
        fds = conn.call("domain_lxc_open_namespace", DOM, 0)
        try:
            assert [os.readlink(f"/proc/self/fd/{fd}") for fd in fds] == [
                os.readlink(f"/proc/self/ns/{ns}") for ns in ("uts", "ipc")
            ]
        finally:
            for fd in fds:
                os.close(fd)


def test_our_client_runs_monitor_commands(qmp_daemon: str) -> None:
    with v.open(qmp_daemon) as conn:
        reply = json.loads(conn.call("domain_qemu_monitor_command", DOM, '{"execute":"query-kvm"}', 0))
        assert reply["return"]["asked"] == "query-kvm"
        assert json.loads(conn.call("domain_qemu_agent_command", DOM, "{}", -1, 0)) == {"return": {}}


# ---- the qemu driver with a real guest, behind virtd ---------------------------------------------------------

QEMU_BINARY = "/usr/bin/qemu-system-x86_64"
GUEST = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator>{devices}</devices>
</domain>"""


@pytest.fixture()
def qemu_daemon(tmp_path: Path, in_process_virtd: Any) -> Iterator[tuple[str, str]]:
    """virtd in process serving qemu:///system from a private embed root (libvirt's client refuses
    to send qemu:///embed to a daemon), and that embed URI for in-process comparison."""
    if not os.access(QEMU_BINARY, os.X_OK):
        pytest.skip("qemu-system-x86_64 is not installed")
    try:
        import virt.driver.qemu  # noqa: F401
    except ImportError:
        pytest.skip("virt-driver-qemu is not installed")
    from virt.core.connection import Connection

    embed = f"qemu:///embed?root={tmp_path / 'root'}"
    sock = tmp_path / "sock"
    with in_process_virtd(ServerConfig(open_connection=lambda uri, ro: Connection(embed, readonly=ro)), sock):
        try:
            yield f"qemu+unix:///system?socket={sock}", embed
        finally:
            with Connection(embed) as conn:  # whatever guest a failed test left: its QEMU goes, by pid
                for dom in conn.list_all_domains():
                    with contextlib.suppress(VirtError):
                        dom.destroy()
                    with contextlib.suppress(VirtError):
                        dom.undefine()


@needs_virsh
def test_virsh_qemu_commands_reach_a_real_guest(qemu_daemon: tuple[str, str], tmp_path: Path) -> None:
    uri, embed = qemu_daemon
    xml = tmp_path / "guest.xml"
    xml.write_text(GUEST.format(name="progs", devices=""))
    for command in (["define", str(xml)], ["start", "progs"]):
        result = virsh(uri, *command)
        assert result.returncode == 0, result.stderr
    # No guest agent channel in this guest: the qemu driver's own refusal comes back through virtd.
    from virt.core.connection import Connection

    with Connection(embed) as conn:
        dom = conn.call("domain_lookup_by_name", "progs")
        with pytest.raises(VirtError) as direct:
            conn.call("domain_qemu_agent_command", dom, '{"execute":"guest-ping"}', -1, 0)
    result = virsh(uri, "qemu-agent-command", "progs", '{"execute":"guest-ping"}')
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {direct.value}", result.stderr
    assert "agent" in str(direct.value)
    # The qemu driver answers raw QMP commands: QEMU's whole reply, as libvirt returns it.
    result = virsh(uri, "qemu-monitor-command", "progs", '{"execute":"query-status"}')
    assert result.returncode == 0, result.stderr
    assert '{"return":{"status":"running",' in result.stdout and '"id":"libvirt-' in result.stdout
    for command in (["destroy", "progs"], ["undefine", "progs"]):
        result = virsh(uri, *command)
        assert result.returncode == 0, result.stderr


def test_our_client_receives_qmp_events(qmp_daemon: str) -> None:
    got: list[tuple[Any, ...]] = []
    done = threading.Event()

    def on_event(ev: Any) -> None:
        got.append((ev.obj, *ev.payload))
        if len(got) == 2:
            done.set()

    with v.open(qmp_daemon) as conn:
        conn.events.subscribe(QEMU_MONITOR_EVENT_KIND, 0, on_event)
        callback_id = conn.call("connect_domain_qemu_monitor_event_register", None, None, 0)
        assert callback_id >= 1
        assert done.wait(10)
        conn.call("connect_domain_qemu_monitor_event_deregister", callback_id)
    assert got == [(DOM, "SHUTDOWN", 1700000000, 250000, '{"guest":true,"reason":"guest-shutdown"}'),
                   (DOM, "STOP", 1700000001, 0, None)]  # fmt: skip



def test_our_client_reaches_libvirtds_qemu_and_lxc_programs(libvirtd: Daemon) -> None:
    """libvirtd's test driver answers our qemu and lxc program calls as virtd does: not supported."""
    with v.open(libvirtd.uri()) as conn:
        dom = conn.call("domain_lookup_by_name", "test")
        for method, args, c_name in (
            ("domain_qemu_monitor_command", (dom, '{"execute":"query-status"}', 0), "virDomainQemuMonitorCommand"),
            ("domain_qemu_agent_command", (dom, '{"execute":"guest-ping"}', -1, 0), "virDomainQemuAgentCommand"),
            ("connect_domain_qemu_monitor_event_register", (None, None, 0), "virConnectDomainQemuMonitorEventRegister"),
            ("domain_lxc_open_namespace", (dom, 0), "virDomainLxcOpenNamespace"),
        ):  # fmt: skip
            with pytest.raises(NoSupportError, match=f"not supported by the connection driver: {c_name}$"):
                conn.call(method, *args)


def _program_packets() -> list[bytes]:
    """A valid CALL of every qemu and lxc procedure (after CONNECT_OPEN on the same socket), to mutate."""
    from virt.core.remote.programs import LXC, QEMU

    values = {"dom": ("test", b"\x66\x95\xeb\x01\xf6\xa4\x83\x04\x79\xaa\x97\xf2\x50\x2e\x19\x3f", 1),
              "cmd": '{"execute":"query-status"}', "flags": 0, "pid_value": 1, "timeout": -1, "event": None,
              "callbackID": 1}  # fmt: skip
    packets = []
    for program in (QEMU, LXC):
        for number, proc in sorted(program.procedures.items()):
            if proc.event:
                continue
            names = [name for name, _ in proc.args.fields] if isinstance(proc.args, xdr.Struct) else []
            body = proc.args.Value(*[values[name] for name in names]) if names else None
            packets.append(W.encode_message(proc.args, body, program.number, 1, number, W.MessageType.CALL, 7))
    return packets


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_qemu_and_lxc_packets_never_break_the_daemon(virtd: Daemon, data: st.DataObject) -> None:
    open_proc = P.BY_NAME["CONNECT_OPEN"]
    hello = W.encode_message(open_proc.args, open_proc.args.Value("test:///default", 0), W.REMOTE_PROGRAM, 1,
                             open_proc.number, W.MessageType.CALL, 1)  # fmt: skip
    raw = bytearray(data.draw(st.sampled_from(_PROGRAM_PACKETS)))
    for _ in range(data.draw(st.integers(0, 4))):
        pos = data.draw(st.integers(4, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        del raw[data.draw(st.integers(28, len(raw))) :]
        raw[0:4] = len(raw).to_bytes(4, "big")
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(virtd.sock))
        s.sendall(hello + bytes(raw))
        s.settimeout(0.3)
        with contextlib.suppress(TimeoutError, ConnectionResetError, BrokenPipeError):
            while s.recv(65536):
                pass
    with v.open(virtd.uri()) as conn:
        assert conn.get_type() == "TEST"
    assert "Traceback" not in (virtd.sock.parent / "virtd.log").read_text()


_PROGRAM_PACKETS = _program_packets()


@needs_virsh
def test_virt_cli_and_virsh_agree_through_virtd(qmp_daemon: str) -> None:
    """virt's qemu-monitor-command / qemu-agent-command through virtd print what virsh prints."""
    virt_cli = [sys.executable, "-c", "import sys; from virt.core.cli.main import main; sys.exit(main())"]
    for command in (["qemu-monitor-command", "qmp", '{"execute":"query-status"}'],
                    ["qemu-agent-command", "qmp", '{"execute":"guest-ping"}'],
                    ["qemu-monitor-command", "nosuch", '{"execute":"query-status"}']):  # fmt: skip
        ours = subprocess.run([*virt_cli, "-c", qmp_daemon, *command], capture_output=True, text=True, timeout=60)
        theirs = virsh(qmp_daemon, *command)
        assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout), (ours.stderr, theirs.stderr)
