"""TCP with TLS (x509): virtd against our client and virsh, our client against libvirtd."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import virt.core as v
from virt.util.errors import VirtError

from .conftest import LIBVIRTD, Daemon, _stop, _wait_for, start_virtd

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make certificates")


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(directory: Path) -> Path:
    """A CA, a server certificate for localhost and a client certificate, named as libvirt expects."""
    directory.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "cakey.pem", "-out", "cacert.pem",
            "-days", "2", "-subj", "/CN=virt test CA", cwd=directory)  # fmt: skip
    for name, extra in (("server", "subjectAltName=DNS:localhost,IP:127.0.0.1"), ("client", "")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}key.pem", "-out", f"{name}.csr",
                "-subj", f"/CN={'localhost' if name == 'server' else 'virt test client'}", cwd=directory)  # fmt: skip
        ext = directory / f"{name}.ext"
        ext.write_text(extra + "\n" if extra else "basicConstraints=CA:FALSE\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "cacert.pem", "-CAkey", "cakey.pem",
                "-CAcreateserial", "-out", f"{name}cert.pem", "-days", "2", "-extfile", str(ext),
                cwd=directory)  # fmt: skip
    for path in directory.iterdir():
        path.chmod(0o644)
    return directory


def wait_for_port(port: int, timeout: float = 30) -> None:
    """libvirtd opens its TCP listener after its unix sockets: wait until it accepts."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def pki() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="virt-pki-") as tmp:
        Path(tmp).chmod(0o755)
        yield make_pki(Path(tmp) / "pki")


@pytest.fixture(scope="module")
def tls_virtd(pki: Path) -> Iterator[tuple[Daemon, int]]:
    with tempfile.TemporaryDirectory(prefix="virtd-tls-") as tmp:
        port = free_port()
        conf = Path(tmp) / "virtd.conf"
        conf.write_text(f'ca_file = "{pki}/cacert.pem"\ncert_file = "{pki}/servercert.pem"\n'
                        f'key_file = "{pki}/serverkey.pem"\n')  # fmt: skip
        daemon = start_virtd(Path(tmp), "--config", str(conf), "--listen", "--listen-addr", "127.0.0.1",
                             "--port", str(port))  # fmt: skip
        try:
            wait_for_port(port)  # TCP listeners open after the unix sockets
            yield daemon, port
        finally:
            _stop(daemon.pid, daemon.proc)


def test_our_client_over_tls(tls_virtd: tuple[Daemon, int], pki: Path) -> None:
    _, port = tls_virtd
    with v.open(f"test+tls://localhost:{port}/default?pkipath={pki}") as conn:
        assert [d.ref.name for d in conn.list_all_domains()] == ["test"]
        assert conn.is_secure() and conn.is_encrypted()


def test_client_without_certificate_is_refused(tls_virtd: tuple[Daemon, int], tmp_path: Path, pki: Path) -> None:
    _, port = tls_virtd
    other = make_pki(tmp_path / "other")  # signed by another CA
    shutil.copy(pki / "cacert.pem", other / "cacert.pem")
    with pytest.raises(VirtError):
        v.open(f"test+tls://localhost:{port}/default?pkipath={other}")


@pytest.mark.skipif(shutil.which("virsh") is None, reason="needs virsh")
def test_virsh_over_tls(tls_virtd: tuple[Daemon, int], pki: Path) -> None:
    _, port = tls_virtd
    out = subprocess.run(["virsh", "-c", f"test+tls://localhost:{port}/default?pkipath={pki}", "list", "--all"],
                         capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert " 1    test   running" in out.stdout


def test_our_client_against_libvirtd_over_tls(pki: Path) -> None:
    if not os.path.exists(LIBVIRTD) or os.geteuid() != 0:
        pytest.skip("needs root and libvirt-daemon")
    tmp = Path(tempfile.mkdtemp(prefix="libvirtd-tls-"))
    try:
        home = tmp / "home"
        home.mkdir()
        port = free_port()
        conf = tmp / "libvirtd.conf"
        conf.write_text(f'unix_sock_dir = "{tmp}"\nauth_unix_rw = "none"\nlisten_tls = 1\nlisten_tcp = 0\n'
                        f'tls_port = "{port}"\nlisten_addr = "127.0.0.1"\nauth_tls = "none"\n'
                        f'ca_file = "{pki}/cacert.pem"\ncert_file = "{pki}/servercert.pem"\n'
                        f'key_file = "{pki}/serverkey.pem"\n')  # fmt: skip
        for path in (tmp, home):
            shutil.chown(path, "nobody")
            path.chmod(0o755)
        env = [f"{k}={home}" for k in ("HOME", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")]
        pidfile = tmp / "pid"
        proc = subprocess.Popen(["runuser", "-u", "nobody", "--", "env", *env, LIBVIRTD, "--listen", "-f", str(conf),
                                 "-p", str(pidfile)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        _wait_for(pidfile, proc, "libvirtd")
        _wait_for(tmp / "libvirt-sock", proc, "libvirtd")
        wait_for_port(port)
        try:
            with v.open(f"test+tls://localhost:{port}/default?pkipath={pki}") as conn:
                assert [d.ref.name for d in conn.list_all_domains()] == ["test"]
                assert conn.lookup_domain_by_name("test").info().state == 1
        finally:
            _stop(int(pidfile.read_text()), proc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
