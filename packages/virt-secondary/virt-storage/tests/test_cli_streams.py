"""`virt vol-upload`/`vol-download`/`vol-wipe`/`vol-clone` on a dir pool: in-process, through the
daemon's server (our client and real virsh), and the progress bar on a terminal only."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from virt.core.cli import main as cli_main
from virt.core.registry import set_registry

MiB = 1 << 20


def virt(capsys: pytest.CaptureFixture[str], uri: str, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # only what this command prints (not, say, the daemon's start-up log)
    rc = cli_main.main(["-c", uri, *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def payload(n: int) -> bytes:
    return bytes((i * 13 + i // 509) % 256 for i in range(n))


def check_upload_download(capsys: pytest.CaptureFixture[str], uri: str, tmp: Path, images: Path) -> None:
    src, back = tmp / "src.bin", tmp / "back.bin"
    data = payload(3 * MiB + 17)
    src.write_bytes(data)
    assert virt(capsys, uri, "vol-create-as", "images", "disk.raw", "4M") == (0, "Vol disk.raw created\n\n", "")
    # virsh prints nothing on success: neither do we when not on a terminal
    assert virt(capsys, uri, "vol-upload", "disk.raw", str(src), "--pool", "images") == (0, "\n", "")
    on_disk = (images / "disk.raw").read_bytes()
    assert on_disk[:len(data)] == data and len(on_disk) == 4 * MiB
    assert virt(capsys, uri, "vol-download", "--pool", "images", "disk.raw", str(back)) == (0, "\n", "")
    assert back.read_bytes() == on_disk
    # a window, by path (no --pool), into an existing file that is truncated first
    assert virt(capsys, uri, "vol-download", str(images / "disk.raw"), str(back), "--offset", "1000",
                "--length", "5000") == (0, "\n", "")
    assert back.read_bytes() == data[1000:6000]
    assert virt(capsys, uri, "vol-upload", "disk.raw", str(src), "--pool", "images", "--offset", "4194300",
                "--length", "8") == (0, "\n", "")
    assert (images / "disk.raw").read_bytes()[4194300:] == data[:8]
    # --sparse: the same bytes, with holes where the volume has zeros
    assert virt(capsys, uri, "vol-create-as", "images", "holes.raw", "32M")[0] == 0
    assert virt(capsys, uri, "vol-upload", "holes.raw", str(src), "--pool", "images", "--sparse") == (0, "\n", "")
    assert virt(capsys, uri, "vol-download", "holes.raw", str(back), "--pool", "images", "--sparse") == (0, "\n", "")
    assert back.read_bytes() == data + bytes(32 * MiB - len(data))
    assert os.stat(back).st_blocks * 512 < 8 * MiB
    # a sparse file's holes travel as holes (STREAM_HOLE through the daemon): they stay holes both ways
    expected = sparse_source(tmp / "sparse.bin")
    assert virt(capsys, uri, "vol-create-as", "images", "sp.raw", "0")[0] == 0
    assert virt(capsys, uri, "vol-upload", "sp.raw", str(tmp / "sparse.bin"), "--pool", "images", "--sparse") == (
        0, "\n", "")
    assert (images / "sp.raw").read_bytes() == expected
    assert os.stat(images / "sp.raw").st_blocks * 512 < MiB
    assert virt(capsys, uri, "vol-download", "sp.raw", str(back), "--pool", "images", "--sparse") == (0, "\n", "")
    assert back.read_bytes() == expected
    assert os.stat(back).st_blocks * 512 < MiB


def check_errors(capsys: pytest.CaptureFixture[str], uri: str, tmp: Path) -> None:
    assert virt(capsys, uri, "vol-upload", "disk.raw", str(tmp / "missing"), "--pool", "images") == (
        1, "\n", f"error: cannot read {tmp / 'missing'}\n")
    assert virt(capsys, uri, "vol-upload", "disk.raw", str(tmp / "src.bin"), "--pool", "images", "--offset", "-1") \
        == (1, "\n", "error: Numeric value '-1' for <offset> option is malformed or out of range\n")
    assert virt(capsys, uri, "vol-download", "nosuch", str(tmp / "x"), "--pool", "images") == (
        1, "\n", "error: failed to get vol 'nosuch'\nerror: Storage volume not found: no storage vol with matching "
               "path 'nosuch'\n")
    assert not (tmp / "x").exists()
    rc, out, err = virt(capsys, uri, "vol-download", "disk.raw", str(tmp / "nodir" / "x"), "--pool", "images")
    assert (rc, out, err) == (1, "\n", f"error: cannot create {tmp / 'nodir' / 'x'}\n")


def test_cli_in_process(capsys: pytest.CaptureFixture[str], local: str, root: Path, tmp_path: Path) -> None:
    check_upload_download(capsys, local, tmp_path, root / "images")
    check_errors(capsys, local, tmp_path)
    assert virt(capsys, local, "vol-wipe", "disk.raw", "--pool", "images") == (0, "Vol disk.raw wiped\n\n", "")
    assert (root / "images" / "disk.raw").read_bytes() == bytes(4 * MiB + 4)
    assert virt(capsys, local, "vol-clone", "holes.raw", "copy.raw", "--pool", "images") == (
        0, "Vol copy.raw cloned from holes.raw\n\n", "")
    assert (root / "images" / "copy.raw").read_bytes() == (root / "images" / "holes.raw").read_bytes()


# -- through the daemon's server ---------------------------------------------------------------------
def test_cli_through_the_daemon(capsys: pytest.CaptureFixture[str], served: Path, root: Path, tmp_path: Path) -> None:
    set_registry(None)  # the installed drivers: the remote driver carries the calls
    uri = f"test+unix:///default?socket={served}"
    check_upload_download(capsys, uri, tmp_path, root / "images")
    check_errors(capsys, uri, tmp_path)
    assert virt(capsys, uri, "vol-wipe", "disk.raw", "--pool", "images") == (0, "Vol disk.raw wiped\n\n", "")


def test_real_virsh_through_the_daemon(served: Path, root: Path, tmp_path: Path) -> None:
    if shutil.which("virsh") is None:
        pytest.skip("virsh is not installed (Debian package libvirt-clients)")
    uri = f"test+unix:///default?socket={served}"
    src, back = tmp_path / "src.bin", tmp_path / "back.bin"
    data = payload(2 * MiB + 5)
    src.write_bytes(data)

    def virsh(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["virsh", "-c", uri, *argv], capture_output=True, text=True, timeout=60, check=False)

    assert virsh("vol-create-as", "images", "v.raw", "3M").returncode == 0
    res = virsh("vol-upload", "v.raw", str(src), "--pool", "images")
    assert (res.returncode, res.stdout, res.stderr) == (0, "\n", ""), res.stderr
    res = virsh("vol-download", "v.raw", str(back), "--pool", "images", "--length", str(len(data)))
    assert (res.returncode, res.stderr) == (0, ""), res.stderr
    assert back.read_bytes() == data


# -- the progress bar ----------------------------------------------------------------------------------
def run_on_tty(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], uri: str,
               *argv: str) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal; returns (rc, stdout, what the terminal got)."""
    master, slave = pty.openpty()
    received = bytearray()
    reader = threading.Thread(target=lambda: _drain(master, received), daemon=True)
    reader.start()
    tty = os.fdopen(slave, "w", buffering=1, closefd=True)
    monkeypatch.setattr("sys.stderr", tty)
    try:
        rc = cli_main.main(["-c", uri, *argv])
    finally:
        monkeypatch.undo()
        tty.close()
    reader.join(10)
    os.close(master)
    out, _ = capsys.readouterr()
    return rc, out, received.decode()


def _drain(fd: int, into: bytearray) -> None:
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # the other side closed
            return
        if not data:
            return
        into += data


@pytest.mark.parametrize("command", ["vol-wipe", "vol-clone", "vol-upload", "vol-download"])
def test_progress_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                    local: str, tmp_path: Path, command: str) -> None:
    assert virt(capsys, local, "vol-create-as", "images", "big.raw", "96M")[0] == 0
    src = tmp_path / "src.bin"
    src.write_bytes(payload(MiB) * 40)
    argv = {"vol-wipe": ("big.raw", "--pool", "images"), "vol-clone": ("big.raw", "big2.raw", "--pool", "images"),
            "vol-upload": ("big.raw", str(src), "--pool", "images"),
            "vol-download": ("big.raw", str(tmp_path / "out.bin"), "--pool", "images")}[command]
    rc, out, tty = run_on_tty(monkeypatch, capsys, local, command, *argv)
    assert rc == 0, tty
    assert out == {"vol-wipe": "Vol big.raw wiped\n\n", "vol-clone": "Vol big2.raw cloned from big.raw\n\n"}.get(
        command, "\n")  # stdout is unchanged
    last = tty.replace("\r\n", "\n").split("\r")[-1]
    assert "[" + "#" * 30 + "] 100%" in last and last.endswith("\n"), repr(tty)
    total = "40.0 MiB" if command == "vol-upload" else "96.0 MiB"
    assert last.rstrip("\n").split("\x1b")[0].endswith(f"{total}/{total}"), repr(last)



def sparse_source(path: Path) -> bytes:
    """A file with a 4 MiB hole between two words; returns its content."""
    with open(path, "wb") as f:
        f.write(b"head")
        f.seek(4 * MiB + 4)
        f.write(b"tail")
    return b"head" + bytes(4 * MiB) + b"tail"


def run_virsh(uri: str, *argv: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("virsh") is None:
        pytest.skip("virsh is not installed (Debian package libvirt-clients)")
    return subprocess.run(["virsh", "-c", uri, *argv], capture_output=True, text=True, timeout=60, check=False)


def test_real_virsh_sparse_download_through_the_daemon(capsys: pytest.CaptureFixture[str], served: Path, local: str,
                                                       root: Path, tmp_path: Path) -> None:
    uri = f"test+unix:///default?socket={served}"
    data = sparse_source(tmp_path / "src.bin")
    assert virt(capsys, local, "vol-create-as", "images", "s.raw", "0")[0] == 0
    assert virt(capsys, local, "vol-upload", "s.raw", str(tmp_path / "src.bin"), "--pool", "images", "--sparse")[0] == 0
    res = run_virsh(uri, "vol-download", "s.raw", str(tmp_path / "back.bin"), "--pool", "images", "--sparse")
    assert (res.returncode, res.stderr) == (0, ""), res.stderr
    assert (tmp_path / "back.bin").read_bytes() == data
    assert os.stat(tmp_path / "back.bin").st_blocks * 512 < MiB  # holes came as holes: virsh seeked over them


def test_real_virsh_sparse_upload_through_the_daemon(served: Path, root: Path, tmp_path: Path) -> None:
    uri = f"test+unix:///default?socket={served}"
    data = sparse_source(tmp_path / "src.bin")
    assert run_virsh(uri, "vol-create-as", "images", "s.raw", "0").returncode == 0
    res = run_virsh(uri, "vol-upload", "s.raw", str(tmp_path / "src.bin"), "--pool", "images", "--sparse")
    assert (res.returncode, res.stderr) == (0, ""), res.stderr
    assert (root / "images" / "s.raw").read_bytes() == data
    assert os.stat(root / "images" / "s.raw").st_blocks * 512 < MiB  # the hole stayed a hole


def test_progress_through_the_daemon(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                     served: Path, tmp_path: Path) -> None:
    """Transfers are counted by `virt` itself, so their bar works remotely; a remote wipe has none
    (libvirt's protocol has no progress call) and prints what virsh prints."""
    set_registry(None)
    uri = f"test+unix:///default?socket={served}"
    assert virt(capsys, uri, "vol-create-as", "images", "r.raw", "16M")[0] == 0
    (tmp_path / "src.bin").write_bytes(payload(MiB) * 12)
    rc, out, tty = run_on_tty(monkeypatch, capsys, uri, "vol-upload", "r.raw", str(tmp_path / "src.bin"),
                              "--pool", "images")
    assert (rc, out) == (0, "\n"), tty
    assert tty.replace("\r\n", "\n").split("\r")[-1].split("\x1b")[0] == "Uploading r.raw: [" + "#" * 30 + \
        "] 100% 12.0 MiB/12.0 MiB"
    rc, out, tty = run_on_tty(monkeypatch, capsys, uri, "vol-wipe", "r.raw", "--pool", "images")
    assert (rc, out, tty) == (0, "Vol r.raw wiped\n\n", "")
