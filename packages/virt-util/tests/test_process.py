"""Tests for virt.util.process: commands with libvirt's failure messages, pid files, killing processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from virt.util.errors import (
    ErrorNumber,
    InternalError,
    OperationTimeoutError,
    SystemError_,
)
from virt.util.process import (
    acquire_pidfile,
    command_string,
    find_binary,
    is_alive,
    kill_and_wait,
    read_pidfile,
    read_pidfile_if_alive,
    run,
    translate_status,
    write_pidfile,
)


def test_run_captures_output() -> None:
    result = run(["sh", "-c", 'echo out; echo err >&2; printf "%s" "$GREETING"'], timeout=10, env={"GREETING": "hi"})
    assert result.returncode == 0
    assert result.stdout == "out\nhi"
    assert result.stderr == "err\n"
    assert result.argv == ("sh", "-c", 'echo out; echo err >&2; printf "%s" "$GREETING"')


def test_run_feeds_input_and_never_uses_a_shell() -> None:
    assert run(["cat"], timeout=10, input="a; echo injected").stdout == "a; echo injected"
    assert run(["cat"], timeout=10, input=b"\x00\x01").stdout == "\x00\x01"
    assert run(["echo", "$HOME", "*", "|", "x"], timeout=10).stdout == "$HOME * | x\n"
    assert run(["cat"], timeout=10).stdout == ""  # stdin is /dev/null, not ours


def test_failure_message_is_libvirts() -> None:
    with pytest.raises(InternalError) as info:
        run(["sh", "-c", "echo 'it broke' >&2; exit 3"], timeout=10, env={"LC_ALL": "C"})
    err = info.value
    assert err.code is ErrorNumber.INTERNAL_ERROR
    assert str(err) == (
        "internal error: Child process (LC_ALL=C sh -c 'echo '\"'\"'it broke'\"'\"' >&2; exit 3') "
        "unexpected exit status 3: it broke"
    )
    with pytest.raises(InternalError) as info:
        run(["false"], timeout=10)
    assert str(info.value) == "internal error: Child process (false) unexpected exit status 1"
    with pytest.raises(InternalError, match=r"unexpected fatal signal 9"):
        run(["sh", "-c", "kill -9 $$"], timeout=10)


def test_check_false_returns_the_failure() -> None:
    result = run(["sh", "-c", "exit 4"], timeout=10, check=False)
    assert result.returncode == 4


def test_timeout_kills_the_child() -> None:
    start = time.monotonic()
    with pytest.raises(OperationTimeoutError) as info:
        run(["sh", "-c", "echo partial >&2; exec sleep 30"], timeout=0.5)
    assert time.monotonic() - start < 10
    assert info.value.code is ErrorNumber.OPERATION_TIMEOUT
    assert str(info.value).startswith("Timed out during operation: Child process (sh -c ")
    assert "did not finish within 0.5 seconds" in str(info.value)


def test_missing_binary_and_directory(tmp_path: Path) -> None:
    with pytest.raises(SystemError_) as info:
        run(["/nonexistent/virt-helper"], timeout=10)
    assert str(info.value) == "Cannot find '/nonexistent/virt-helper' in path: No such file or directory"
    with pytest.raises(SystemError_, match="Unable to change to /nonexistent"):
        run(["true"], timeout=10, cwd="/nonexistent")
    not_executable = tmp_path / "data"
    not_executable.write_text("just data")
    with pytest.raises(SystemError_, match=f"^cannot execute binary {not_executable}: Permission denied$"):
        run([str(not_executable)], timeout=10)
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\x7fELF not really")
    garbage.chmod(0o755)
    with pytest.raises(SystemError_, match="cannot execute binary .*: Exec format error"):
        run([str(garbage)], timeout=10)


def test_command_string_and_status() -> None:
    assert command_string(["qemu-img", "create", "-f", "qcow2", "/var/lib/a b.img"]) == (
        "qemu-img create -f qcow2 '/var/lib/a b.img'"
    )
    assert command_string(["ip", "link"], {"LC_ALL": "C"}) == "LC_ALL=C ip link"
    assert translate_status(1) == "exit status 1"
    assert translate_status(-15) == "fatal signal 15"


def test_find_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool = tmp_path / "virt-tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert find_binary("virt-tool") == str(tool)
    assert find_binary(str(tool)) == str(tool)
    assert find_binary("ip") in ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip")  # sbin searched too
    with pytest.raises(SystemError_) as info:
        find_binary("virt-no-such-tool", "virt-tools-pkg")
    assert str(info.value) == (
        "Cannot find 'virt-no-such-tool' in path: No such file or directory; "
        "install the Debian package 'virt-tools-pkg'"
    )
    with pytest.raises(SystemError_, match=r"^Cannot find 'nope' in path: No such file or directory$"):
        find_binary("nope")


# --------------------------------------------------------------------------------- processes


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_is_alive(child: subprocess.Popen[bytes]) -> None:
    assert is_alive(os.getpid())
    assert is_alive(child.pid)
    assert not is_alive(0) and not is_alive(-1)
    child.kill()
    deadline = time.monotonic() + 5
    while is_alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not is_alive(child.pid)  # a zombie counts as dead
    child.wait()
    assert not is_alive(child.pid)


def test_kill_and_wait_terminates_and_reaps(child: subprocess.Popen[bytes]) -> None:
    assert kill_and_wait(child.pid, timeout=5) is True
    assert not is_alive(child.pid)
    with pytest.raises(ChildProcessError):
        os.waitpid(child.pid, os.WNOHANG)  # already reaped
    child.returncode = -signal.SIGTERM  # tell Popen, so its cleanup does not wait on a reaped pid
    assert kill_and_wait(child.pid, timeout=1) is True  # already gone


def test_kill_and_wait_escalates_to_sigkill() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"1\n"  # handler installed
        start = time.monotonic()
        assert kill_and_wait(proc.pid, timeout=0.3, kill_timeout=5) is True
        assert time.monotonic() - start < 5
        proc.returncode = -signal.SIGKILL
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


# --------------------------------------------------------------------------------- pid files


def test_write_and_read_pidfile(tmp_path: Path) -> None:
    path = tmp_path / "virtd.pid"
    assert read_pidfile(path) is None
    write_pidfile(path, 1234)
    assert path.read_text() == "1234"
    assert read_pidfile(path) == 1234
    path.write_text("5678\n")
    assert read_pidfile(path) == 5678
    path.write_text("garbage")
    with pytest.raises(InternalError, match="Invalid pid 'garbage' in pid file"):
        read_pidfile(path)
    assert read_pidfile_if_alive(path) is None
    write_pidfile(path, os.getpid())
    assert read_pidfile_if_alive(path) == os.getpid()


HOLDER = """
import sys, time
from virt.util.process import acquire_pidfile
lock = acquire_pidfile(sys.argv[1])
print("locked", flush=True)
sys.stdin.read()
lock.release()
"""


def test_acquire_pidfile(tmp_path: Path) -> None:
    path = tmp_path / "virtd.pid"
    with acquire_pidfile(path) as lock:
        assert read_pidfile(path) == os.getpid()
        with pytest.raises(SystemError_) as info:
            acquire_pidfile(path)  # twice in one process: refused, not silently shared
        assert str(info.value).startswith(f"Failed to acquire pid file '{path}': Resource temporarily unavailable")
        assert lock.path == path
    assert not path.exists()  # released: removed
    lock.release()  # idempotent


def test_acquire_pidfile_refuses_a_live_holder(tmp_path: Path) -> None:
    path = tmp_path / "virtd.pid"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        with pytest.raises(SystemError_) as info:
            acquire_pidfile(path)
        assert str(info.value) == (
            f"Failed to acquire pid file '{path}': Resource temporarily unavailable (held by process {holder.pid})"
        )
        assert read_pidfile(path) == holder.pid
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
        assert holder.stdout is not None
        holder.stdout.close()
    with acquire_pidfile(path, pid=4242):
        assert read_pidfile(path) == 4242


def test_acquire_pidfile_takes_over_a_stale_file(tmp_path: Path) -> None:
    path = tmp_path / "virtd.pid"
    path.write_text("999999")  # left by a process that died without cleaning up
    with acquire_pidfile(path):
        assert read_pidfile(path) == os.getpid()


def test_acquire_pidfile_errors(tmp_path: Path) -> None:
    with pytest.raises(SystemError_, match="Failed to open pid file .*: No such file or directory"):
        acquire_pidfile(tmp_path / "missing" / "x.pid")
