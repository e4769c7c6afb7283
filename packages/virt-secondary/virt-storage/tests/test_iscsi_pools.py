"""iscsi-direct and iscsi pools against a real iSCSI target: tgtd (Debian package tgt), started by
the test on 127.0.0.1 and a private port, its LUNs backed by files in a temporary directory, its
targets deleted and the daemon stopped by pid afterwards.

The kernel of the machine these tests were written on has no iscsi_tcp module, so the kernel
initiator's pool (``iscsi``) can only be shown to fail clearly; ``iscsi-direct`` uses the driver's
own user-space initiator and works fully.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
from lxml import etree
from virt.core.connection import Connection
from virt.core.driver import Driver
from virt.core.enums import StorageVolWipeAlgorithm as WA
from virt.core.plugin import get_plugin_manager, hookimpl
from virt.core.registry import DriverRegistry, build_registry
from virt.secondary.storage import plugin
from virt.secondary.storage.iscsi import Session
from virt.util.errors import ErrorNumber, VirtError

pytestmark = pytest.mark.root
MiB = 1 << 20
IQN = "iqn.2026-11.org.virt.test:disks"
INITIATOR = "iqn.2026-11.org.virt.test:initiator"


class StubHypervisor(Driver):
    """A hypervisor that leaves storage and secrets to the secondary drivers."""

    name = "stubhv"
    uri_schemes = ("stubhv",)


class StubPlugin:
    @hookimpl
    def virt_register_drivers(self, register: DriverRegistry) -> None:
        register.hypervisor(StubHypervisor, name="stubhv", uri_schemes=("stubhv",))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Target:
    """A running tgtd: its portal port, control port and LUN backing files."""

    port: int
    control: int
    tmp: Path
    luns: dict[int, Path] = field(default_factory=dict)

    def adm(self, *args: str) -> None:
        subprocess.run(["tgtadm", "-C", str(self.control), "--lld", "iscsi", *args], check=True,
                       capture_output=True, text=True)

    def add_lun(self, lun: int, size: int, fill: bytes = b"") -> Path:
        path = self.tmp / f"lun{lun}.img"
        with open(path, "wb") as f:
            f.truncate(size)
            if fill:
                f.write(fill * (size // len(fill)))
        self.adm("--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", str(lun), "-b", str(path))
        self.luns[lun] = path
        return path


@pytest.fixture
def tgtd(tmp_path: Path) -> Iterator[Target]:
    if os.geteuid() != 0 or shutil.which("tgtd") is None:
        pytest.skip("needs root and tgtd (Debian package tgt)")
    target: Target | None = None
    failures = []
    for _ in range(3):  # a port taken between free_port() and tgtd's bind: try others
        port, control = free_port(), 20000 + random.randrange(10000)  # tgtd takes -C up to 32767
        log = tmp_path / "tgtd.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(["tgtd", "-f", "-C", str(control), "--iscsi", f"portal=127.0.0.1:{port}"],
                                    stdout=out, stderr=subprocess.STDOUT)
        if _listening(port, proc):
            target = Target(port, control, tmp_path)
            break
        _stop_tgtd(proc, control)
        failures.append(log.read_text(errors="replace"))
    if target is None:
        pytest.fail("tgtd did not start: " + "\n---\n".join(failures))
    try:
        target.adm("--op", "new", "--mode", "target", "--tid", "1", "-T", IQN)
        target.adm("--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL")
        yield target
    finally:
        subprocess.run(["tgtadm", "-C", str(control), "--lld", "iscsi", "--op", "delete", "--mode", "target",
                        "--tid", "1", "--force"], capture_output=True)
        _stop_tgtd(proc, control)


def _listening(port: int, proc: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def _stop_tgtd(proc: subprocess.Popen[bytes], control: int) -> None:
    """tgtd ignores SIGTERM: it is asked to exit through its control socket, killed by pid if it won't."""
    subprocess.run(["tgtadm", "-C", str(control), "--op", "delete", "--mode", "system"], capture_output=True)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    for name in (f"socket.{control}", f"socket.{control}.lock"):
        Path("/var/run/tgtd", name).unlink(missing_ok=True)


def pool_xml(t: Target, name: str = "iscsidirect", auth: str = "") -> str:
    return (f"<pool type='iscsi-direct'><name>{name}</name><source><host name='127.0.0.1' port='{t.port}'/>"
            f"<device path='{IQN}'/><initiator><iqn name='{INITIATOR}'/></initiator>{auth}</source></pool>")


def test_iscsi_direct_pool_lists_wipes_and_refreshes_luns(conn: Connection, tgtd: Target) -> None:
    tgtd.add_lun(1, 20 * MiB)
    data = tgtd.add_lun(2, 7 * MiB, fill=b"guest data!")
    pool = conn.define_storage_pool(pool_xml(tgtd))
    pool.create(0)
    names = sorted(v.name() for v in pool.list_all_volumes())
    # LUN 0 is the target's controller: listed, as libvirt lists it, with no size
    assert names == ["unit:0:0:0", "unit:0:0:1", "unit:0:0:2"]
    sizes = {v.name(): v.info() for v in pool.list_all_volumes()}
    assert sizes["unit:0:0:1"].capacity == 20 * MiB == os.path.getsize(tgtd.luns[1])
    assert sizes["unit:0:0:2"].capacity == 7 * MiB and sizes["unit:0:0:0"].capacity == 0
    assert all(i.type == 3 for i in sizes.values())  # VIR_STORAGE_VOL_NETWORK
    info = pool.info()
    assert (info.capacity, info.allocation, info.available) == (27 * MiB, 27 * MiB, 0)

    vol = pool.lookup_volume("unit:0:0:1")
    path = f"ip-127.0.0.1:{tgtd.port}-iscsi-{IQN}-lun-1"
    assert vol.path() == path and conn.lookup_storage_vol_by_key(path).name() == "unit:0:0:1"
    xml = etree.fromstring(vol.xml_desc().encode())
    assert xml.get("type") == "network" and xml.findtext("target/path") == path
    assert xml.find("target/permissions") is None  # nothing on this host to own

    # wipe writes zeros over the LUN through the target
    assert b"guest data!" in data.read_bytes()[:64]
    with pytest.raises(VirtError) as err:
        conn.call("storage_vol_wipe_pattern", pool.lookup_volume("unit:0:0:2").ref, int(WA.RANDOM), 0)
    assert err.value.code == ErrorNumber.INVALID_ARG and "unsupported algorithm" in err.value.message
    pool.lookup_volume("unit:0:0:2").wipe(0)
    assert data.read_bytes() == bytes(7 * MiB)

    # a LUN added on the target appears at the next refresh
    tgtd.add_lun(3, 3 * MiB)
    pool.refresh(0)
    assert pool.lookup_volume("unit:0:0:3").info().capacity == 3 * MiB
    assert pool.info().capacity == 30 * MiB
    # LUNs are the array's business: no creation, no deletion
    with pytest.raises(VirtError) as err:
        pool.create_volume("<volume><name>new</name><capacity>1</capacity></volume>")
    assert err.value.code == ErrorNumber.NO_SUPPORT
    pool.destroy()
    pool.undefine()


def test_iscsi_direct_pool_with_chap(root: Path, tgtd: Target) -> None:
    from virt.secondary.secret import plugin as secret_plugin

    tgtd.add_lun(1, 4 * MiB)
    tgtd.adm("--op", "new", "--mode", "account", "--user", "virtuser", "--password", "s3cret-chap-pw")
    tgtd.adm("--op", "bind", "--mode", "account", "--tid", "1", "--user", "virtuser")
    reg = build_registry(get_plugin_manager(False, (StubPlugin(), plugin, secret_plugin)))
    conn = Connection(f"stubhv:///system?root={root}", registry=reg)
    try:
        secret = conn.define_secret("<secret ephemeral='no' private='yes'><usage type='iscsi'>"
                                    "<target>tgtd-chap</target></usage></secret>")
        auth = "<auth type='chap' username='virtuser'><secret usage='tgtd-chap'/></auth>"
        # the secret has no value yet: the login cannot be made
        with pytest.raises(VirtError):
            conn.create_storage_pool(pool_xml(tgtd, "chap", auth), 0)
        secret.set_value(b"wrong-password", 0)
        with pytest.raises(VirtError, match="authentication failure"):
            conn.create_storage_pool(pool_xml(tgtd, "chap", auth), 0)
        secret.set_value(b"s3cret-chap-pw", 0)
        pool = conn.create_storage_pool(pool_xml(tgtd, "chap", auth), 0)
        assert pool.lookup_volume("unit:0:0:1").info().capacity == 4 * MiB
        pool.destroy()
        secret.undefine()
    finally:
        conn.close()


def test_find_iscsi_direct_sources(conn: Connection, tgtd: Target) -> None:
    spec = (f"<source><host name='127.0.0.1' port='{tgtd.port}'/>"
            f"<initiator><iqn name='{INITIATOR}'/></initiator></source>")
    xml = conn.call("connect_find_storage_pool_sources", "iscsi-direct", spec, 0)
    doc = etree.fromstring(xml.encode())
    assert doc.tag == "sources" and len(doc) == 1
    src = doc[0]
    assert src.find("host").attrib == {"name": "127.0.0.1", "port": str(tgtd.port)}
    assert src.find("device").get("path") == IQN
    assert src.find("initiator/iqn").get("name") == INITIATOR
    with pytest.raises(VirtError) as err:
        conn.call("connect_find_storage_pool_sources", "iscsi-direct", None, 0)
    assert err.value.code == ErrorNumber.INVALID_ARG
    with pytest.raises(VirtError, match="missing initiator IQN"):
        conn.call("connect_find_storage_pool_sources", "iscsi-direct",
                  f"<source><host name='127.0.0.1' port='{tgtd.port}'/></source>", 0)
    with pytest.raises(VirtError) as err:
        conn.call("connect_find_storage_pool_sources", "dir", None, 0)
    assert err.value.code == ErrorNumber.NO_SUPPORT


def test_guest_disk_on_an_iscsi_direct_volume_reaches_the_lun(conn: Connection, tgtd: Target) -> None:
    """The qemu driver turns a <disk type='volume'> of an iscsi-direct pool into a network disk from the
    pool's and volume's XML; QEMU's own iSCSI driver (libiscsi, Debian qemu-block-extra) opens that URL."""
    volumes = pytest.importorskip("virt.driver.qemu.volumes")
    tgtd.add_lun(1, 12 * MiB)
    pool = conn.create_storage_pool(pool_xml(tgtd), 0)

    def resolve(pool_name: str, vol_name: str) -> object:
        # what the qemu driver's Secondary.volume asks the storage driver, through the public API
        p = conn.lookup_storage_pool(pool_name)
        v = p.lookup_volume(vol_name)
        return volumes.Volume(etree.fromstring(v.xml_desc().encode()).get("type"), v.path(),
                              etree.fromstring(p.xml_desc().encode()), {})

    disk = etree.fromstring("<disk type='volume' device='disk'><source pool='iscsidirect' volume='unit:0:0:1'/>"
                            "<target dev='vda'/></disk>")
    volumes.translate(SimpleNamespace(volume_resolver=resolve), disk)
    actual = disk.find(volumes.ACTUAL)
    assert actual.get("type") == "network"
    src = actual.find("source")
    assert src.get("protocol") == "iscsi" and src.get("name") == f"{IQN}/1"
    host = src.find("host")
    url = f"iscsi://{host.get('name')}:{host.get('port')}/{src.get('name')}"
    assert url == f"iscsi://127.0.0.1:{tgtd.port}/{IQN}/1"
    res = subprocess.run(["qemu-img", "info", "--output=json", url], capture_output=True, text=True)
    if res.returncode != 0 and "Unknown protocol" in res.stderr:
        pytest.skip("qemu-img has no iscsi driver (Debian package qemu-block-extra)")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["virtual-size"] == 12 * MiB
    pool.destroy()


def test_user_space_initiator_reads_what_it_writes(tgtd: Target) -> None:
    lun = tgtd.add_lun(1, 2 * MiB)
    tgtd.add_lun(300, MiB)  # above 255: flat space addressing in REPORT LUNS and in the commands
    with Session("127.0.0.1", tgtd.port, INITIATOR, IQN) as s:
        assert s.report_luns() == [0, 1, 300]
        assert s.read_capacity(300) == (512, 2048)
        inq = s.inquiry(1)
        assert inq.device_type == 0 and inq.product == "VIRTUAL-DISK"
        block, blocks = s.read_capacity(1)
        assert block * blocks == 2 * MiB
        payload = os.urandom(300 * block)  # larger than one Data-Out PDU: several R2T data segments
        s.write16(1, 5, payload, block)
        assert s.read16(1, 5, 300, block) == payload
    assert lun.read_bytes()[5 * block:305 * block] == payload
    with pytest.raises(VirtError, match="target not found"):
        Session("127.0.0.1", tgtd.port, INITIATOR, IQN + ".missing")
    with pytest.raises(VirtError, match="Failed to connect"):
        Session("127.0.0.1", free_port(), INITIATOR, IQN)


def test_kernel_iscsi_pool_fails_clearly_without_iscsi_tcp(conn: Connection, tgtd: Target) -> None:
    """Where the kernel has no iSCSI TCP transport (this host), the iscsi pool and its source discovery
    say so instead of leaving iscsiadm's records behind."""
    if Path("/sys/class/iscsi_transport/tcp").exists():
        pytest.skip("this kernel has iscsi_tcp: the failure path cannot be shown here")
    tgtd.add_lun(1, 4 * MiB)
    before = sorted(Path("/etc/iscsi").rglob("*")) if Path("/etc/iscsi").exists() else []
    pool = conn.define_storage_pool(
        f"<pool type='iscsi'><name>kiscsi</name><source><host name='127.0.0.1' port='{tgtd.port}'/>"
        f"<device path='{IQN}'/></source><target><path>/dev/disk/by-path</path></target></pool>")
    with pytest.raises(VirtError) as err:
        pool.create(0)
    assert err.value.code == ErrorNumber.OPERATION_FAILED
    assert "iscsi_tcp" in err.value.message and f"'{IQN}' at 127.0.0.1:{tgtd.port}" in err.value.message
    assert not pool.is_active()
    with pytest.raises(VirtError, match="iscsi_tcp"):
        conn.call("connect_find_storage_pool_sources", "iscsi",
                  f"<source><host name='127.0.0.1' port='{tgtd.port}'/></source>", 0)
    after = sorted(Path("/etc/iscsi").rglob("*")) if Path("/etc/iscsi").exists() else []
    assert after == before
    pool.undefine()


def test_real_virsh_finds_and_lists_iscsi_direct_luns_through_the_daemon(served: Path, tgtd: Target,
                                                                          tmp_path: Path) -> None:
    """libvirt's own client (virsh) against virtd's server: source discovery, pool and volumes."""
    if shutil.which("virsh") is None:
        pytest.skip("virsh is not installed (Debian package libvirt-clients)")
    from virt.core.registry import set_registry

    set_registry(None)  # the installed drivers: the remote driver carries the calls
    tgtd.add_lun(1, 20 * MiB)
    uri = f"test+unix:///default?socket={served}"

    def virsh(*argv: str) -> str:
        res = subprocess.run(["virsh", "-c", uri, *argv], capture_output=True, text=True, timeout=60, check=False)
        assert res.returncode == 0, res.stderr
        return res.stdout

    found = etree.fromstring(virsh("find-storage-pool-sources-as", "iscsi-direct", "127.0.0.1", str(tgtd.port),
                                   "--initiator", INITIATOR).encode())
    assert [d.get("path") for d in found.iter("device")] == [IQN]
    (tmp_path / "pool.xml").write_text(pool_xml(tgtd))
    virsh("pool-create", str(tmp_path / "pool.xml"))
    listed = virsh("vol-list", "iscsidirect").split()
    assert "unit:0:0:1" in listed and f"ip-127.0.0.1:{tgtd.port}-iscsi-{IQN}-lun-1" in listed
    info = virsh("vol-info", "--pool", "iscsidirect", "unit:0:0:1")
    assert "network" in info and "20.00 MiB" in info
    virsh("pool-destroy", "iscsidirect")


def test_a_silent_iscsi_target_blocks_only_its_pool(connect: Callable[[], Connection], root: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A portal that accepts the connection and never answers: the pool's start gives up after the
    configured timeout while another pool keeps working."""
    monkeypatch.setenv("VIRT_STORAGE_TIMEOUT", "2")
    conn = connect()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    held: list[socket.socket] = []
    accepting = threading.Thread(target=lambda: held.append(listener.accept()[0]), daemon=True)
    accepting.start()
    other = conn.define_storage_pool(f"<pool type='dir'><name>other</name><target><path>{root / 'other'}"
                                     "</path></target></pool>")
    other.build(0)
    other.create(0)
    silent = conn.define_storage_pool(
        f"<pool type='iscsi-direct'><name>silent</name><source><host name='127.0.0.1' port='{port}'/>"
        f"<device path='{IQN}'/><initiator><iqn name='{INITIATOR}'/></initiator></source></pool>")
    try:
        started = time.monotonic()
        with pytest.raises(VirtError) as err:
            silent.create(0)
        assert err.value.code == ErrorNumber.OPERATION_TIMEOUT and "not responding" in err.value.message
        assert time.monotonic() - started < 10
        # the other pool answers at once, its storage untouched by the silent target
        started = time.monotonic()
        other.refresh(0)
        other.create_volume("<volume><name>v.raw</name><capacity>1024</capacity></volume>")
        assert time.monotonic() - started < 2 and not silent.is_active()
    finally:
        accepting.join(5)
        for s in held:
            s.close()  # the login's read ends: the pool's worker thread finishes
        listener.close()
    other.destroy()
