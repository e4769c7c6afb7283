"""The QMP client against a real QEMU, and the transcript replay against libvirt's recordings."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest
from virt.driver.qemu.qmp import MonitorClosedError, QMPClient, QMPError, ReplayMonitor, iter_json_documents


def test_handshake_commands_and_errors(bare_qemu) -> None:
    with QMPClient.connect(bare_qemu.sock, alive=bare_qemu.alive) as mon:
        assert mon.version[0] >= 7
        ver = mon.execute("query-version")
        assert ver["qemu"]["major"] == mon.version[0]
        assert mon.execute("query-status")["status"] == "prelaunch"
        with pytest.raises(QMPError) as err:
            mon.execute("no-such-command")
        assert err.value.qmp_class == "CommandNotFound"
        assert "unable to execute QEMU command 'no-such-command'" in str(err.value)


def test_concurrent_commands_get_their_own_replies(bare_qemu) -> None:
    with QMPClient.connect(bare_qemu.sock, alive=bare_qemu.alive) as mon:
        results: dict[int, object] = {}

        def worker(i: int) -> None:
            results[i] = mon.execute("qom-get", {"path": "/machine", "property": "type"})

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert set(results) == set(range(8))
        assert all(r == "none-machine" for r in results.values())


def test_events_reach_the_callback_and_eof_is_reported(bare_qemu) -> None:
    events: list[str] = []
    eof = threading.Event()
    mon = QMPClient.connect(bare_qemu.sock, alive=bare_qemu.alive,
                            on_event=lambda name, data, ts: events.append(name), on_eof=eof.set)
    try:
        mon.execute("cont")
        mon.execute("stop")
        mon.execute("quit")
        assert eof.wait(10)
        assert "RESUME" in events and "STOP" in events
        with pytest.raises(MonitorClosedError):
            mon.execute("query-status")
    finally:
        mon.close()


def test_fd_passing(bare_qemu) -> None:
    r, w = os.pipe()
    try:
        with QMPClient.connect(bare_qemu.sock, alive=bare_qemu.alive) as mon:
            info = mon.execute("add-fd", {"opaque": "test"}, fds=[r])
            assert info["fdset-id"] >= 0
            fdsets = mon.execute("query-fdsets")
            assert any(f["opaque"] == "test" for s in fdsets for f in s["fds"])
    finally:
        os.close(r)
        os.close(w)


def test_socketpair_monitor_starts_fast(qemu_binary: str) -> None:
    """The start-up path the driver uses: QEMU inherits one end of a socketpair (no polling)."""
    import subprocess
    QEMU = qemu_binary
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    fd = theirs.fileno()
    accel = "kvm:tcg" if os.access("/dev/kvm", os.W_OK) else "tcg"
    t0 = time.monotonic()
    proc = subprocess.Popen([QEMU, "-S", "-nodefaults", "-display", "none", "-machine", f"none,accel={accel}",
                             "-chardev", f"socket,id=mon,fd={fd}", "-mon", "chardev=mon,mode=control"],
                            pass_fds=[fd], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    theirs.close()
    try:
        with QMPClient.from_socket(ours) as mon:
            assert mon.execute("query-status")["status"] == "prelaunch"
            assert time.monotonic() - t0 < 10
    finally:
        proc.kill()
        proc.wait()


def test_iter_json_documents() -> None:
    assert list(iter_json_documents('{"a": 1}\n\n[2]\n  3 ')) == [{"a": 1}, [2], 3]


def test_replay_answers_in_recording_order(corpus) -> None:
    mon = ReplayMonitor.from_file(corpus / "qemu_caps" / "caps_8.0.0.x86_64.replies")
    assert mon.execute("query-version")["qemu"] == {"major": 7, "minor": 2, "micro": 50}
    kvm_defs = mon.execute("query-cpu-definitions")
    tcg_defs = mon.execute("query-cpu-definitions")
    assert kvm_defs != tcg_defs  # the second probe (TCG) got its own answer
    with pytest.raises(QMPError) as err:
        mon.execute("query-sev-capabilities")
    assert err.value.qmp_class == "GenericError"
    with pytest.raises(QMPError):
        mon.execute("query-version")  # answered once only
