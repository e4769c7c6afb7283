"""The running driver against real QEMU: guests started, stopped, saved, reattached, with their events.

Guests need no operating system: most checks only need QEMU and its firmware. For the ones that need
a guest to react (ACPI power-off, PCI unplug), the guest is a 512-byte boot sector written here that
polls the ACPI power button and the PCI hot-plug eject register on each timer tick. Every test runs in
its own ``qemu:///embed?root=...`` directory and kills whatever QEMU it leaves, by pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid as uuidlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from virt.core.connection import Connection, Domain
from virt.core.enums import DomainEventID, DomainEventType, DomainRunningReason, DomainShutoffReason, DomainState
from virt.core.events import Event
from virt.util.errors import ErrorNumber, VirtError

QEMU = "/usr/bin/qemu-system-x86_64"
pytestmark = pytest.mark.skipif(not os.access(QEMU, os.X_OK),
                                reason="qemu-system-x86_64 is not installed (Debian package qemu-system-x86)")


def kvm_works() -> bool:
    from virt.driver.qemu.definition import kvm_works as works

    return works()


# ----------------------------------------------------------------------------------------- a tiny guest
def boot_sector() -> bytes:
    """Real-mode code that says "R" on the first serial port, then powers the machine off when the ACPI
    power button is pressed and ejects the PCI slots the host asks it to (PIIX4 ACPI PCI hot-plug),
    checking on every BIOS timer tick."""
    pre = bytes.fromhex(
        "66B8400B0080"  # mov eax, 0x80000B40: PCI config of 00:01.3 (PIIX4 PM), register 0x40 (PMBA)
        "BAF80C" "66EF"  # out 0xcf8, eax
        "BAFC0C" "66ED"  # in eax, 0xcfc
        "25C0FF" "89C3"  # and ax, 0xffc0; mov bx, ax: bx = PM I/O base
        "89DA" "83C202" "B80001" "EF"  # PM1_EN (base + 2) = power button enable
        "BAF803" "B052" "EE")  # "R" to COM1: the guest is ready
    loop = bytes.fromhex(
        "FBF4"  # sti; hlt: sleep until the timer tick
        "BA04AE" "66ED" "6685C0" "7405" "BA08AE" "66EF"  # slots to remove (0xae04) -> eject (0xae08)
        "89DA" "ED" "A90001")  # in ax, PM1_STS; test the power button status
    post = bytes.fromhex("89DA" "83C204" "B80020" "EF" "F4EBFD")  # PM1_CNT = SLP_EN | S5; hlt forever
    code = pre + loop + bytes([0x74, (-(len(loop) + 2)) & 0xFF]) + post  # jz loop
    return code + b"\0" * (510 - len(code)) + b"\x55\xaa"


@pytest.fixture
def boot_image(tmp_path: Path) -> Path:
    path = tmp_path / "boot.img"
    path.write_bytes(boot_sector() + b"\0" * (1024 * 1024 - 512))
    return path


def domain_xml(name: str, *, virt_type: str = "qemu", disks: str = "", devices: str = "", extra: str = "",
               vcpus: str = "<vcpu>1</vcpu>", memory_mib: int = 64, uuid: str | None = None) -> str:
    return f"""<domain type='{virt_type}'>
  <name>{name}</name>
  <uuid>{uuid or uuidlib.uuid4()}</uuid>
  <memory unit='MiB'>{memory_mib}</memory>
  {vcpus}
  {extra}
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features>
  <devices>
    <emulator>{QEMU}</emulator>
    {disks}
    {devices}
  </devices>
</domain>"""


def boot_disk(image: Path, serial: bool = True) -> str:
    """The guest's disk, and (``serial``) its serial port written to ``<image>.serial``."""
    return (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{image}'/>"
            "<target dev='hda' bus='ide'/></disk>"
            + (f"<serial type='file'><source path='{image}.serial'/><target port='0'/></serial>" if serial else ""))


def wait_booted(image: Path, times: int = 1, timeout: float = 30.0) -> None:
    """Wait until the guest has reached its boot sector ``times`` times since it was defined."""
    serial = Path(f"{image}.serial")
    deadline = time.monotonic() + timeout
    while not (serial.exists() and serial.read_bytes().count(b"R") >= times):
        assert time.monotonic() < deadline, "the guest did not boot"
        time.sleep(0.02)


# ----------------------------------------------------------------------------------------- the environment
class Env:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.uri = f"qemu:///embed?root={root}"
        self.conn = Connection(self.uri)
        self.events: list[Event] = []
        self.cond = threading.Condition()
        for event_id in (DomainEventID.LIFECYCLE, DomainEventID.REBOOT, DomainEventID.DEVICE_REMOVED,
                         DomainEventID.DEVICE_ADDED, DomainEventID.BALLOON_CHANGE):
            self.conn.domain_event_register(event_id, self._record)

    def _record(self, ev: Event) -> None:
        with self.cond:
            self.events.append(ev)
            self.cond.notify_all()

    def wait_event(self, pred: Callable[[Event], bool], timeout: float = 20.0) -> Event:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for ev in self.events:
                    if pred(ev):
                        return ev
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"event not seen; got {self.events}")
                self.cond.wait(left)

    def lifecycle(self, name: str) -> list[tuple[int, int]]:
        with self.cond:
            return [(ev.payload[0], ev.payload[1]) for ev in self.events
                    if ev.event_id == DomainEventID.LIFECYCLE and ev.obj.name == name]

    def wait_lifecycle(self, name: str, event: int, detail: int | None = None, timeout: float = 20.0) -> None:
        self.wait_event(lambda ev: ev.event_id == DomainEventID.LIFECYCLE and ev.obj.name == name
                        and ev.payload[0] == event and (detail is None or ev.payload[1] == detail), timeout)

    def host(self) -> Any:
        from virt.driver.qemu.host import _hosts

        return next(h for s, h in _hosts.items() if s.config_dir.is_relative_to(self.root))

    def pid(self, dom: Domain) -> int:
        return int(self.host().domains[dom.uuid()].pid)

    def define(self, xml: str) -> Domain:
        return self.conn.define_domain(xml)


def qemu_pids_under(root: Path) -> list[int]:
    """QEMU processes whose command line mentions ``root`` (the guests of one test)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"qemu-system" in cmdline and str(root).encode() in cmdline:
            found.append(int(entry.name))
    return found


def kill_pids(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    for pid in pids:
        for _ in range(500):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not Path(f"/proc/{pid}").exists() or "Z" in _proc_state(pid):
                break
            time.sleep(0.01)


def _proc_state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "X"
    return stat[stat.rfind(")") + 2]


def cgroup_dirs_of(root: Path) -> list[Path]:
    from virt.core.uri import URI
    from virt.driver.qemu.state import Settings
    from virt.util.cgroup import Cgroup, Layout

    tag = Settings.for_uri(URI.parse(f"qemu:///embed?root={root}")).cgroup_driver
    layout = Layout.detect()
    out = []
    for h in layout.hierarchies:
        base = h.path(f"{h.placement}/machine")
        if base.is_dir():
            out += [p for p in base.iterdir() if p.name.endswith(f".libvirt-{tag}")]
    del Cgroup
    return out


def machine_partitions() -> set[Path]:
    from virt.util.cgroup import Layout

    return {h.path(f"{h.placement}/machine") for h in Layout.detect().hierarchies}


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    from virt.driver.qemu.host import shutdown_hosts

    root = tmp_path / "root"
    e = Env(root)
    try:
        yield e
    finally:
        with contextlib.suppress(VirtError):
            destroy_all(e)  # what a failed test left running
        e.conn.close()
        shutdown_hosts(root)
        leftovers = qemu_pids_under(root)
        kill_pids(leftovers)
        groups = cgroup_dirs_of(root)
        for g in sorted(groups, key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                os.rmdir(g)
        for partition in machine_partitions():
            with contextlib.suppress(OSError):  # still used by other guests: left alone
                os.rmdir(partition)
    assert not leftovers, f"QEMU processes left running: {leftovers}"


def destroy_all(env: Env) -> None:
    for dom in env.conn.list_all_domains(1):
        dom.destroy()


# ----------------------------------------------------------------------------------------- tests
def test_define_start_suspend_resume_destroy(env: Env) -> None:
    dom = env.define(domain_xml("life"))
    assert dom.state() == (DomainState.SHUTOFF, DomainShutoffReason.UNKNOWN)
    assert (env.root / "etc" / "qemu" / "life.xml").is_file()
    inactive = dom.xml_desc(2)
    assert "machine='pc-i440fx-" in inactive and "<alias" not in inactive
    # The older listing calls virsh still makes (virConnectListDomains and its kin).
    assert (env.conn.call("connect_list_defined_domains", -1), env.conn.call("connect_list_domains", -1)) == (["life"], [])
    dom.create()
    assert dom.state() == (DomainState.RUNNING, 1)
    assert dom.id() == 1
    assert env.conn.call("connect_list_domains", -1) == [1] and env.conn.call("connect_num_of_domains") == 1
    assert env.conn.call("connect_num_of_defined_domains") == 0
    pid = env.pid(dom)
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert b"-S" in cmdline and b"tcg" in b" ".join(cmdline)
    live = dom.xml_desc()
    assert "id='1'" in live and "<alias name='balloon0'/>" in live
    info = dom.info()
    assert info.state == DomainState.RUNNING and info.max_mem == 65536 and info.nr_virt_cpu == 1
    status = env.root / "run" / "qemu" / "life.xml"
    assert status.is_file() and f'pid="{pid}"' in status.read_text()

    dom.suspend()
    assert dom.state() == (DomainState.PAUSED, 1)
    dom.resume()
    assert dom.state() == (DomainState.RUNNING, 5)  # unpaused
    with pytest.raises(VirtError, match="already running"):
        dom.create()

    dom.destroy()
    assert dom.state() == (DomainState.SHUTOFF, DomainShutoffReason.DESTROYED)
    assert not Path(f"/proc/{pid}").exists() or _proc_state(pid) in "ZX"
    assert not status.exists()
    assert not list((env.root / "lib" / "qemu").glob("domain-*"))
    assert cgroup_dirs_of(env.root) == []
    env.wait_lifecycle("life", DomainEventType.STOPPED)
    assert env.lifecycle("life") == [(0, 0), (2, 0), (3, 0), (4, 0), (5, 1)]
    log = (env.root / "log" / "qemu" / "life.log").read_text()
    assert "starting up" in log and "shutting down, reason=destroyed" in log
    with pytest.raises(VirtError, match="not running"):
        dom.destroy()
    dom.undefine()
    assert env.conn.list_all_domains() == []


def test_transient_guest_and_lookups(env: Env) -> None:
    dom = env.conn.create_domain(domain_xml("transient"), 1)  # paused
    assert dom.state() == (DomainState.PAUSED, 1)
    assert not dom.is_persistent()
    assert env.conn.lookup_domain(dom.id()).name() == "transient"
    assert env.conn.lookup_domain_by_uuid(dom.uuid()).name() == "transient"
    with pytest.raises(VirtError, match="already active"):
        env.conn.create_domain(domain_xml("transient", uuid=dom.uuid()))
    dom.destroy()
    with pytest.raises(VirtError, match="no domain with matching name 'transient'"):
        env.conn.lookup_domain_by_name("transient")
    env.wait_lifecycle("transient", DomainEventType.STOPPED)
    assert env.lifecycle("transient") == [(2, 0), (3, 0), (5, 1)]


def test_concurrent_starts(env: Env) -> None:
    doms = [env.define(domain_xml(f"c{i}")) for i in range(4)]
    errors: list[BaseException] = []

    def run(d: Domain) -> None:
        try:
            d.create()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(d,)) for d in doms]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(d.id() for d in doms) == [1, 2, 3, 4]
    assert all(d.state()[0] == DomainState.RUNNING for d in doms)
    destroy_all(env)


def test_crash_is_detected(env: Env) -> None:
    dom = env.define(domain_xml("crash"))
    dom.create()
    os.kill(env.pid(dom), signal.SIGKILL)
    env.wait_lifecycle("crash", DomainEventType.STOPPED, 5)  # failed
    assert dom.state() == (DomainState.SHUTOFF, DomainShutoffReason.CRASHED)


def test_guest_acpi_shutdown_and_reboot(env: Env, boot_image: Path) -> None:
    dom = env.define(domain_xml("acpi", disks=boot_disk(boot_image)))
    dom.create()
    wait_booted(boot_image)
    dom.reboot()  # power button, then the driver resets the powered-off guest
    env.wait_event(lambda ev: ev.event_id == DomainEventID.REBOOT and ev.obj.name == "acpi")
    env.wait_lifecycle("acpi", DomainEventType.RESUMED)
    assert dom.state()[0] == DomainState.RUNNING
    wait_booted(boot_image, 2)
    dom.reset()
    wait_booted(boot_image, 3)
    dom.shutdown()
    env.wait_lifecycle("acpi", DomainEventType.SHUTDOWN, 1)  # the guest itself powered off
    env.wait_lifecycle("acpi", DomainEventType.STOPPED, 0)
    assert dom.state() == (DomainState.SHUTOFF, DomainShutoffReason.SHUTDOWN)
    assert "shutting down, reason=shutdown" in (env.root / "log" / "qemu" / "acpi.log").read_text()


def test_start_errors_are_clear(env: Env, tmp_path: Path) -> None:
    bad = domain_xml("nobin").replace(QEMU, "/usr/bin/qemu-system-x86_64-missing")
    with pytest.raises(VirtError, match="qemu-system-x86"):
        env.define(bad)
    # QEMU refusing the configuration: its own message is quoted.
    dom = env.define(domain_xml("badmem", disks="<disk type='file' device='disk'><source file='/nonexistent.img'/>"
                                                "<target dev='vda' bus='virtio'/></disk>"))
    with pytest.raises(VirtError, match="nonexistent.img"):
        dom.create()
    assert dom.state()[0] == DomainState.SHUTOFF
    assert not list((env.root / "lib" / "qemu").glob("domain-*"))
    # Without QEMU on $PATH, the error names the package.
    code = ("from virt.core.connection import Connection\n"
            f"c = Connection('qemu:///embed?root={tmp_path}/other')\n"
            "try:\n    c.define_domain(" + repr(domain_xml("x").replace(f"<emulator>{QEMU}</emulator>", "")) + ")\n"
            "except Exception as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PATH": "/nonexistent"},
                         capture_output=True, text=True, timeout=60)
    assert "install the Debian package qemu-system-x86" in out.stdout, out.stdout + out.stderr


def test_kvm(env: Env, tmp_path: Path) -> None:
    if kvm_works():
        dom = env.define(domain_xml("kvm", virt_type="kvm"))
        dom.create()
        assert b"kvm" in Path(f"/proc/{env.pid(dom)}/cmdline").read_bytes()
        dom.destroy()
    # Without a working /dev/kvm (here: /dev/null mounted over it in a private mount namespace),
    # type='kvm' is refused with a message that says what to do.
    if os.geteuid() != 0 or not Path("/usr/bin/unshare").exists():
        pytest.skip("needs root and unshare(1) to hide /dev/kvm")
    code = ("from virt.core.connection import Connection\n"
            f"c = Connection('qemu:///embed?root={tmp_path}/nokvm')\n"
            "try:\n    c.define_domain(" + repr(domain_xml("nokvm", virt_type="kvm")) + ")\n"
            "except Exception as e:\n    print(e)\n")
    script = f"mount --bind /dev/null /dev/kvm 2>/dev/null || true; exec {sys.executable} -c \"$0\""
    out = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, code],
                         capture_output=True, text=True, timeout=60)
    assert "does not support virt type 'kvm'" in out.stdout and "type='qemu'" in out.stdout, out.stdout + out.stderr


def test_reattach_after_driver_restart(env: Env) -> None:
    from virt.driver.qemu.host import shutdown_hosts

    a = env.define(domain_xml("keep-a"))
    b = env.define(domain_xml("keep-b"))
    a.create()
    b.create(1)  # paused
    pids = {d.name(): env.pid(d) for d in (a, b)}
    env.conn.close()
    shutdown_hosts(env.root)  # the driver goes away; the guests must not
    assert all(Path(f"/proc/{p}").exists() for p in pids.values())

    env.conn = Connection(env.uri)
    a2, b2 = env.conn.lookup_domain_by_name("keep-a"), env.conn.lookup_domain_by_name("keep-b")
    assert a2.state() == (DomainState.RUNNING, 1) and b2.state() == (DomainState.PAUSED, 1)
    assert (a2.id(), b2.id()) == (1, 2)
    b2.resume()
    assert b2.state()[0] == DomainState.RUNNING
    # A new guest does not reuse a running one's id.
    c = env.define(domain_xml("keep-c"))
    c.create()
    assert c.id() == 3
    env.conn.close()
    shutdown_hosts(env.root)

    # Another process now takes over: it sees the same guests and stops them.
    code = ("from virt.core.connection import Connection\n"
            f"c = Connection('qemu:///embed?root={env.root}')\n"
            "print(sorted((d.name(), d.id(), int(d.state()[0])) for d in c.list_all_domains()))\n"
            "for d in c.list_all_domains(1):\n    d.destroy()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[('keep-a', 1, 1), ('keep-b', 2, 1), ('keep-c', 3, 1)]", out.stderr
    for pid in pids.values():
        assert not Path(f"/proc/{pid}").exists() or _proc_state(pid) in "ZX"
    for pid in pids.values():
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    env.conn = Connection(env.uri)
    # Why they stopped is remembered across driver processes too.
    assert all(d.state() == (DomainState.SHUTOFF, DomainShutoffReason.DESTROYED) for d in env.conn.list_all_domains())


def test_guest_started_by_another_process_is_reattached(env: Env) -> None:
    env.conn.close()
    from virt.driver.qemu.host import shutdown_hosts

    shutdown_hosts(env.root)
    code = ("from virt.core.connection import Connection\n"
            f"c = Connection('qemu:///embed?root={env.root}')\n"
            f"d = c.define_domain({domain_xml('other')!r})\n"
            "d.create()\nprint(d.id())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "1", out.stderr
    env.conn = Connection(env.uri)
    dom = env.conn.lookup_domain_by_name("other")
    assert dom.state()[0] == DomainState.RUNNING
    dom.suspend()
    dom.destroy()
    assert dom.state() == (DomainState.SHUTOFF, DomainShutoffReason.DESTROYED)


def test_second_process_is_refused_while_one_drives_the_root(env: Env) -> None:
    code = ("from virt.core.connection import Connection\n"
            f"Connection('qemu:///embed?root={env.root}')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "driver.pid" in out.stderr


def test_autostart(env: Env) -> None:
    from virt.driver.qemu.host import shutdown_hosts

    dom = env.define(domain_xml("auto"))
    dom.set_autostart(1)
    assert dom.get_autostart()
    assert (env.root / "etc" / "qemu" / "autostart" / "auto.xml").is_symlink()
    env.conn.close()
    shutdown_hosts(env.root)
    env.conn = Connection(env.uri)
    # Same boot: the driver already autostarted once, a restart does not start it again.
    assert env.conn.lookup_domain_by_name("auto").state()[0] == DomainState.SHUTOFF
    env.conn.close()
    shutdown_hosts(env.root)
    (env.root / "run" / "qemu" / "autostarted").unlink()  # as after a host reboot
    env.conn = Connection(env.uri)
    dom = env.conn.lookup_domain_by_name("auto")
    assert dom.state() == (DomainState.RUNNING, 1)
    # After the next reboot, a guest with a managed save image comes back from it.
    dom.managed_save()
    env.conn.close()
    shutdown_hosts(env.root)
    (env.root / "run" / "qemu" / "autostarted").unlink()
    env.conn = Connection(env.uri)
    dom = env.conn.lookup_domain_by_name("auto")
    assert dom.state() == (DomainState.RUNNING, DomainRunningReason.RESTORED)
    assert not dom.has_managed_save()
    dom.destroy()
    dom.set_autostart(0)
    assert not (env.root / "etc" / "qemu" / "autostart" / "auto.xml").exists()


def test_save_restore_and_managed_save(env: Env, tmp_path: Path) -> None:
    dom = env.define(domain_xml("saved"))
    dom.create()
    image = tmp_path / "saved.img"
    dom.save(str(image), None, 0)
    assert dom.state() == (DomainState.SHUTOFF, DomainShutoffReason.SAVED)
    data = image.read_bytes()
    assert data.startswith(b"LibvirtQemudSave") and b"<name>saved</name>" in data[:8192]
    assert "<name>saved</name>" in env.conn.call("domain_save_image_get_xml_desc", str(image), 0)
    env.conn.restore_domain(str(image))
    assert dom.state() == (DomainState.RUNNING, 3)  # restored
    env.wait_lifecycle("saved", DomainEventType.STARTED, 2)

    dom.suspend()
    dom.managed_save()
    assert dom.has_managed_save() == 1
    assert [d.name() for d in env.conn.list_all_domains(256)] == ["saved"]
    dom.create()  # from the managed save image, paused as it was saved
    assert dom.state()[0] == DomainState.PAUSED
    assert dom.has_managed_save() == 0
    dom.resume()
    assert dom.state()[0] == DomainState.RUNNING
    dom.destroy()


def test_screenshot_and_core_dump(env: Env, tmp_path: Path) -> None:
    from virt.core.connection import LocalStream

    dom = env.define(domain_xml("shot", devices="<video><model type='vga'/></video>"))
    dom.create()
    stream = LocalStream()
    mime = dom.screenshot(stream, 0, 0)
    assert mime == "image/x-portable-pixmap"
    assert stream.recv(2) == b"P6"
    stream.finish()
    dump = tmp_path / "core.elf"
    dom.core_dump(str(dump), 0, 0)
    assert dump.read_bytes()[:4] == b"\x7fELF"
    assert dom.state()[0] == DomainState.RUNNING
    dom.destroy()


def test_hotplug_disk_and_interface(env: Env, boot_image: Path, tmp_path: Path) -> None:
    extra, extra2 = tmp_path / "extra.qcow2", tmp_path / "extra2.qcow2"
    for path in (extra, extra2):
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "16M"], check=True)
    dom = env.define(domain_xml("plug", disks=boot_disk(boot_image)))
    dom.create()
    wait_booted(boot_image)
    disk = (f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{extra}'/>"
            "<target dev='vdb' bus='virtio'/></disk>")
    dom.attach_device(disk, 1)
    env.wait_event(lambda ev: ev.event_id == DomainEventID.DEVICE_ADDED and ev.payload == ("virtio-disk1",))
    live = dom.xml_desc()
    assert "<target dev='vdb' bus='virtio'/>" in live and "<alias name='virtio-disk1'/>" in live
    assert "vdb" not in dom.xml_desc(2)  # live only
    assert dom.block_stats("vdb").rd_req >= 0
    with pytest.raises(VirtError, match="target vdb already exists"):
        dom.attach_device(disk, 1)

    nic = "<interface type='user'><mac address='52:54:00:12:34:56'/><model type='virtio'/></interface>"
    dom.attach_device(nic, 1)
    assert "<alias name='net0'/>" in dom.xml_desc()

    # The guest ejects what the host unplugs, so the removals complete.
    dom.detach_device(disk, 1)
    env.wait_event(lambda ev: ev.event_id == DomainEventID.DEVICE_REMOVED and ev.payload == ("virtio-disk1",))
    dom.detach_device_alias("net0", 1)
    env.wait_event(lambda ev: ev.event_id == DomainEventID.DEVICE_REMOVED and ev.payload == ("net0",))
    live = dom.xml_desc()
    assert "vdb" not in live and "net0" not in live
    # Plugging the same disk again works: its block nodes were released.
    dom.attach_device(disk, 1)
    assert "vdb" in dom.xml_desc()

    # A SCSI disk brings the controller it needs; SCSI disks leave without the guest's help.
    scsi = (f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{extra2}'/>"
            "<target dev='sda' bus='scsi'/></disk>")
    dom.attach_device(scsi, 1)
    live = dom.xml_desc()
    assert "<controller type='scsi' index='0' model='" in live and "<target dev='sda' bus='scsi'/>" in live
    dom.detach_device(scsi, 1)
    assert "<target dev='sda'" not in dom.xml_desc()

    # The persistent definition changes on its own (flags=config).
    dom.attach_device(nic, 2)
    assert "52:54:00:12:34:56" in dom.xml_desc(2)
    dom.detach_device(nic, 2)
    assert "52:54:00:12:34:56" not in dom.xml_desc(2)
    with pytest.raises(VirtError, match="no device matching MAC address"):
        dom.detach_device(nic, 1)
    dom.destroy()


def test_pool_volume_disks_at_start_and_hotplug(env: Env, tmp_path: Path) -> None:
    """Volume disks are asked of the storage driver of the same embed root; the volume's format
    (qcow2) is the format node's driver when the disk names none."""
    images = tmp_path / "images"
    images.mkdir()
    try:
        pool = env.conn.create_storage_pool(f"<pool type='dir'><name>imgs</name><target><path>{images}</path>"
                                            "</target></pool>")
    except VirtError as err:
        if err.code == ErrorNumber.NO_SUPPORT:
            pytest.skip("no storage secondary driver installed")
        raise
    try:
        for name in ("a.qcow2", "b.qcow2"):
            pool.create_volume(f"<volume><name>{name}</name><capacity>16777216</capacity>"
                               "<target><format type='qcow2'/></target></volume>")

        def vol_disk(name: str, dev: str) -> str:
            return (f"<disk type='volume' device='disk'><source pool='imgs' volume='{name}'/>"
                    f"<target dev='{dev}' bus='virtio'/></disk>")

        dom = env.define(domain_xml("vols", disks=vol_disk("a.qcow2", "vda")))
        dom.create()
        pid = env.pid(dom)
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        assert any('"driver":"qcow2"' in a for a in argv), argv
        assert str(images / "a.qcow2") in {os.path.realpath(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        dom.attach_device(vol_disk("b.qcow2", "vdb"), 1)
        opened = {os.path.realpath(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        assert str(images / "b.qcow2") in opened
        live = dom.xml_desc()
        assert "<source pool='imgs' volume='b.qcow2'/>" in live and "<target dev='vdb' bus='virtio'/>" in live
        with pytest.raises(VirtError, match="no storage vol with matching name 'c.qcow2'"):
            dom.attach_device(vol_disk("c.qcow2", "vdc"), 1)
        dom.destroy()
    finally:
        pool.destroy()


def test_vcpus_and_memory(env: Env) -> None:
    dom = env.define(domain_xml("sizes", vcpus="<vcpu current='1'>2</vcpu>", memory_mib=128))
    dom.create()
    assert dom.get_vcpus(1) == 1 and dom.get_vcpus(1 | 4) == 2
    dom.set_vcpus(2, 1)
    assert dom.get_vcpus(1) == 2
    assert len(env.conn.call("domain_get_vcpus", dom.ref, -1)) == 2  # QEMU runs two vCPU threads now
    assert dom.get_vcpus(2) == 1  # the persistent definition is unchanged
    with pytest.raises(VirtError, match="greater than max"):
        dom.set_vcpus(3, 1)
    dom.set_vcpus(2, 2)
    assert "<vcpu placement='static'>2</vcpu>" in dom.xml_desc(2)

    dom.set_memory(96 * 1024, 1)  # the balloon asks the guest for memory back
    with pytest.raises(VirtError, match="higher than max"):
        dom.set_memory(256 * 1024, 1)
    dom.set_memory(100 * 1024, 2)
    assert "<currentMemory unit='KiB'>102400</currentMemory>" in dom.xml_desc(2)
    with pytest.raises(VirtError, match="maximum memory on an active domain"):
        dom.set_max_memory(256 * 1024)
    stats = dom.memory_stats(13, 0)
    assert stats[6] == 128 * 1024 and stats[7] > 0  # balloon actual (the guest has no driver), rss
    dom.destroy()
    dom.set_max_memory(256 * 1024)
    assert "<memory unit='KiB'>262144</memory>" in dom.xml_desc(2)


def test_cgroups_tunables_and_stats(env: Env, boot_image: Path) -> None:
    from virt.util.cgroup import Cgroup

    tune = ("<memtune><hard_limit unit='MiB'>512</hard_limit></memtune>"
            "<cputune><shares>2048</shares></cputune>")
    dom = env.define(domain_xml("tuned", extra=tune, disks=boot_disk(boot_image)))
    dom.create()
    obj = env.host().domains[dom.uuid()]
    group = Cgroup.from_dict(obj.runtime["cgroup"])
    assert env.pid(dom) in group.pids()
    assert group.get("cpu.shares") == 2048
    assert group.get("memory.hard_limit") == 512 * 1024
    assert env.conn.call("domain_get_scheduler_parameters_flags", dom.ref, 3, 0)["cpu_shares"] == 2048
    env.conn.call("domain_set_scheduler_parameters_flags", dom.ref, {"cpu_shares": 512}, 1)
    assert group.get("cpu.shares") == 512
    assert "<shares>512</shares>" in dom.xml_desc() and "<shares>2048</shares>" in dom.xml_desc(2)
    env.conn.call("domain_set_memory_parameters", dom.ref, {"hard_limit": 256 * 1024}, 3)
    assert group.get("memory.hard_limit") == 256 * 1024
    assert env.conn.call("domain_get_memory_parameters", dom.ref, 3, 2)["hard_limit"] == 256 * 1024

    wait_booted(boot_image)
    (rec,) = env.conn.get_all_domain_stats(0, 0)
    p = rec.params
    assert p["state.state"] == 1 and p["cpu.time"] > 0 and p["balloon.maximum"] == 65536
    assert p["vcpu.current"] == 1 and "vcpu.0.time" in p
    assert p["block.count"] == 1 and p["block.0.name"] == "hda" and p["block.0.rd.reqs"] > 0  # the BIOS read it
    assert p["block.0.path"] == str(boot_image)
    info = dom.info()
    assert info.cpu_time > 0
    dom.destroy()
    assert not group.exists()
    (rec,) = env.conn.get_all_domain_stats(0, 0)
    assert rec.params == {"state.state": 5, "state.reason": 2}

    # Without CPU tunables a guest stays out of the "cpu" hierarchy until one is set.
    plain = env.conn.create_domain(domain_xml("untuned"))
    obj = env.host().domains[plain.uuid()]
    assert not any("cpu" in k.split(",") for k in obj.runtime["cgroup"])
    assert env.conn.call("domain_get_scheduler_parameters_flags", plain.ref, 3, 0)["cpu_shares"] == 1024
    env.conn.call("domain_set_scheduler_parameters_flags", plain.ref, {"cpu_shares": 300}, 1)
    group = Cgroup.from_dict(obj.runtime["cgroup"])
    assert group.get("cpu.shares") == 300 and env.pid(plain) in group.pids()
    plain.destroy()
    assert not group.exists()


@contextlib.contextmanager
def loop_devices(tmp_path: Path, count: int) -> Iterator[list[str]]:
    """``count`` loop block devices over small files, detached afterwards."""
    devices: list[str] = []
    try:
        for i in range(count):
            backing = tmp_path / f"loop{i}.img"
            backing.write_bytes(b"\0" * (4 << 20))
            out = subprocess.run(["losetup", "--find", "--show", str(backing)], capture_output=True, text=True)
            if out.returncode != 0:
                pytest.skip(f"no loop device: {out.stderr.strip()}")
            devices.append(out.stdout.strip())
        yield devices
    finally:
        for dev in devices:
            subprocess.run(["losetup", "-d", dev], check=False)


def _rule(path: str, perms: str = "rw") -> str:
    st = os.stat(path)
    kind = "b" if stat.S_ISBLK(st.st_mode) else "c"
    return f"{kind} {os.major(st.st_rdev)}:{os.minor(st.st_rdev)} {perms}"


def test_devices_cgroup_acl(env: Env, boot_image: Path, tmp_path: Path) -> None:
    from virt.util.cgroup import Cgroup, Layout

    if Layout.detect().version("devices") != 1:
        pytest.skip("no cgroup v1 devices controller (on v2 the ACL is not applied: docs/compat.md)")
    with loop_devices(tmp_path, 2) as (at_start, hotplugged):
        block = (f"<disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='{at_start}'/>"
                 "<target dev='vdb' bus='virtio'/></disk>")
        dom = env.define(domain_xml("acl", disks=boot_disk(boot_image) + block))
        dom.create()
        group = Cgroup.from_dict(env.host().domains[dom.uuid()].runtime["cgroup"])
        acl = ["/dev/null", "/dev/full", "/dev/zero", "/dev/random", "/dev/urandom", "/dev/ptmx", "/dev/kvm"]
        expected = {_rule(at_start), "c 136:* rw", *(_rule(p) for p in acl if os.path.exists(p))}
        assert set(group.device_list()) == expected
        assert len(group.device_list()) == len(expected)
        wait_booted(boot_image)  # the guest runs under the ACL
        assert dom.state()[0] == DomainState.RUNNING

        # The ACL is enforced: QEMU cannot open a block device nobody allowed it...
        mon = env.host().domains[dom.uuid()].mon
        with pytest.raises(VirtError, match="Operation not permitted"):
            mon.execute("blockdev-add", {"driver": "host_device", "filename": hotplugged, "node-name": "probe"})
        # ...until the disk is hot-plugged, and not after it is unplugged.
        disk = (f"<disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='{hotplugged}'/>"
                "<target dev='vdc' bus='virtio'/></disk>")
        dom.attach_device(disk, 1)
        assert _rule(hotplugged) in group.device_list()
        dom.detach_device(disk, 1)
        env.wait_event(lambda ev: ev.event_id == DomainEventID.DEVICE_REMOVED and ev.payload == ("virtio-disk2",))
        assert set(group.device_list()) == expected
        with pytest.raises(VirtError, match="Operation not permitted"):
            mon.execute("blockdev-add", {"driver": "host_device", "filename": hotplugged, "node-name": "probe"})
        # An external snapshot onto a block device: the overlay's device is allowed first.
        from virt.core.enums import DomainSnapshotCreateFlags as CF

        dom.snapshot_create(f"<domainsnapshot><name>blk</name><disks><disk name='hda' snapshot='no'/>"
                            f"<disk name='vdb' type='block'><source dev='{hotplugged}'/></disk></disks>"
                            "</domainsnapshot>", CF.DISK_ONLY | CF.NO_METADATA)
        assert _rule(hotplugged) in group.device_list()
        assert f"<source dev='{hotplugged}'" in dom.xml_desc()
        dom.destroy()

        # qemu.conf's cgroup_device_acl replaces the default list.
        from virt.driver.qemu.host import shutdown_hosts

        env.conn.close()
        shutdown_hosts(env.root)
        (env.root / "etc" / "qemu.conf").write_text('cgroup_device_acl = [ "/dev/null", "/dev/kvm" ]\n')
        env.conn = Connection(env.uri)
        dom = env.conn.lookup_domain_by_name("acl")
        dom.create()
        group = Cgroup.from_dict(env.host().domains[dom.uuid()].runtime["cgroup"])
        # (vdb now runs on the snapshot's overlay, its old image a read-only backing store)
        assert set(group.device_list()) == {_rule(hotplugged), _rule(at_start, "r"), "c 136:* rw",
                                            *(_rule(p) for p in ("/dev/null", "/dev/kvm") if os.path.exists(p))}
        dom.destroy()


def test_device_acl_names_host_devices() -> None:
    """The ACL follows the host devices a definition names (the host's real nodes, by stat)."""
    from virt.driver.qemu import devacl
    from virt.driver.qemu import xmlutil as X
    from virt.driver.qemu.qemuconf import QemuConfig

    devices = ("<input type='evdev'><source dev='/dev/zero'/></input>"
               "<tpm model='tpm-tis'><backend type='passthrough'><device path='/dev/full'/></backend></tpm>"
               "<hostdev mode='subsystem' type='usb'><source><address bus='3' device='7'/></source></hostdev>"
               "<graphics type='spice'><gl enable='yes' rendernode='/dev/urandom'/></graphics>")
    tree = X.parse(domain_xml("hostdevs", devices=devices))
    assert devacl.device_paths(tree) == ["/dev/bus/usb/003/007", "/dev/zero", "/dev/full", "/dev/urandom"]
    nodes = [p for p in devacl.device_paths(tree) if os.path.exists(p)]  # absent nodes are skipped
    expected = [("c", 136, None, "rw")] + [("c", os.major(os.stat(p).st_rdev), os.minor(os.stat(p).st_rdev), "rw")
                                           for p in nodes]
    assert devacl.rules(tree, QemuConfig(cgroupDeviceACL=[])) == expected
    assert ("c", 1, 5, "rw") in expected and ("c", 1, 7, "rw") in expected


def test_device_filter_on_cgroup_v2(tmp_path: Path) -> None:
    """Where devices have no v1 controller the ACL is a BPF program on the guest's v2 group; checked
    with the host's v2 hierarchy alone (the view a v2-only host gives) and a real process in it."""
    from virt.driver.qemu import devacl
    from virt.driver.qemu import xmlutil as X
    from virt.driver.qemu.qemuconf import QemuConfig
    from virt.util.cgroup import Cgroup, Layout

    unified = Layout.detect().unified
    if unified is None:
        pytest.skip("no cgroup v2 hierarchy")
    view = Layout([unified])
    group = Cgroup(view, {unified.key: unified.path(f"{unified.placement}/virt-devacl-{os.getpid()}")})
    group.create()
    probe = ("import sys\nfor p in sys.argv[1:]:\n    try:\n        open(p, 'rb').close(); print('ok')\n"
             "    except OSError as e:\n        print(e.errno)\n")

    def opens(*paths: str) -> list[str]:
        def join() -> None:
            (group.dirs[unified.key] / "cgroup.procs").write_text(str(os.getpid()))

        return subprocess.run([sys.executable, "-c", probe, *paths], preexec_fn=join, capture_output=True,
                              text=True, check=True, timeout=60).stdout.split()

    try:
        with loop_devices(tmp_path, 2) as (at_start, hotplugged):
            tree = X.parse(domain_xml("v2", disks=f"<disk type='block' device='disk'><source dev='{at_start}'/>"
                                                  "<target dev='vdb' bus='virtio'/></disk>"))
            assert group.supports_device_filter() and not group.supports_device_acl()
            assert devacl.apply(group, tree, QemuConfig())
            assert opens("/dev/null", at_start, hotplugged) == ["ok", "ok", "1"]
            disk = X.parse(domain_xml("v2", disks=f"<disk type='block' device='disk'><source dev='{hotplugged}'/>"
                                                  "<target dev='vdc' bus='virtio'/></disk>")).find("devices/disk")
            assert devacl.allow_disk(group, disk, tree, QemuConfig())
            assert opens(hotplugged) == ["ok"]
            tree.find("devices").append(disk)
            devacl.deny_disk(group, disk, tree, QemuConfig())
            assert opens("/dev/null", at_start, hotplugged) == ["ok", "ok", "1"]
    finally:
        group.remove()


def test_internal_snapshots(env: Env, boot_image: Path, tmp_path: Path) -> None:
    disk = tmp_path / "boot.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(boot_image), str(disk)], check=True)
    disks = (f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{disk}'/>"
             "<target dev='hda' bus='ide'/></disk>")
    dom = env.define(domain_xml("snap", disks=disks))
    # Shut off: disk-only internal snapshot with qemu-img.
    off = dom.snapshot_create("<domainsnapshot><name>off</name><description>cold</description></domainsnapshot>")
    assert "<state>shutoff</state>" in off.xml_desc() and "<description>cold</description>" in off.xml_desc()
    assert b"off" in subprocess.run(["qemu-img", "snapshot", "-l", str(disk)], capture_output=True).stdout
    dom.create()
    live = dom.snapshot_create("<domainsnapshot><name>live</name></domainsnapshot>")
    assert dom.state()[0] == DomainState.RUNNING
    assert live.parent().name() == "off" and live.is_current()
    assert "<state>running</state>" in live.xml_desc()
    assert [s.name() for s in dom.snapshots()] == ["live", "off"]
    assert [s.name() for s in off.children()] == ["live"]
    dom.suspend()
    live.revert(0)  # back to the running state it was taken in, memory included
    assert dom.state() == (DomainState.RUNNING, DomainRunningReason.FROM_SNAPSHOT)
    with pytest.raises(VirtError, match="already exists"):
        dom.snapshot_create("<domainsnapshot><name>live</name></domainsnapshot>")
    live.delete(0)
    assert [s.name() for s in dom.snapshots()] == ["off"]
    assert dom.snapshot_current().name() == "off"
    off.revert(0)  # a shut-off snapshot: the guest stops
    assert dom.state() == (DomainState.SHUTOFF, DomainShutoffReason.FROM_SNAPSHOT)
    off.delete(0)
    assert dom.snapshots() == []
    assert b"off" not in subprocess.run(["qemu-img", "snapshot", "-l", str(disk)], capture_output=True).stdout
    raw = env.define(domain_xml("rawsnap", disks=boot_disk(boot_image)))
    with pytest.raises(VirtError, match="unsupported for storage type raw"):
        raw.snapshot_create("<domainsnapshot/>")


def _qmp_files(env: Env, dom: Domain) -> list[str]:
    """The image file of each block node QEMU has open for the guest's first disk, top first."""
    obj = env.host().domains[dom.uuid()]
    info = obj.mon.execute("query-block")[0]["inserted"]["image"]
    files = []
    while info:
        files.append(info["filename"])
        info = info.get("backing-image")
    return files


def test_external_snapshots(env: Env, boot_image: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    from virt.core.cli.main import main
    from virt.core.enums import DomainSnapshotCreateFlags as CF
    from virt.core.enums import DomainSnapshotDeleteFlags as DF
    from virt.core.enums import DomainSnapshotListFlags as LF

    base = tmp_path / "base.img"
    base.write_bytes(boot_image.read_bytes())
    disks = (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{base}'/>"
             "<target dev='hda' bus='ide'/></disk>"
             f"<serial type='file'><source path='{boot_image}.serial'/><target port='0'/></serial>")
    dom = env.define(domain_xml("ext", disks=disks))

    # Shut off, disk-only: qemu-img makes the overlay; the definition now layers it over the image.
    off = dom.snapshot_create("<domainsnapshot><name>off</name></domainsnapshot>", CF.DISK_ONLY)
    overlay0 = tmp_path / "base.off"
    info = subprocess.run(["qemu-img", "info", "--output=json", str(overlay0)], capture_output=True,
                          check=True, text=True).stdout
    assert f'"backing-filename": "{base}"' in info and '"backing-filename-format": "raw"' in info
    cfg = dom.xml_desc(2)
    assert f"<source file='{overlay0}'/>" in cfg and "<driver name='qemu' type='qcow2'/>" in cfg
    assert f"<backingStore type='file'>\n        <format type='raw'/>\n        <source file='{base}'/>" in cfg
    xml = off.xml_desc().replace('"', "'")  # virt-conf prints a snapshot disk's <source> in double quotes
    assert "<state>shutoff</state>" in xml and "<memory snapshot='no'/>" in xml
    assert (f"<disk name='hda' snapshot='external' type='file'>\n      <driver type='qcow2'/>\n"
            f"      <source file='{overlay0}'/>") in xml
    assert f"<source file='{base}'/>" in xml  # the domain as it was

    # Running, disk-only, through `virt snapshot-create-as --disk-only`: QEMU switches to a new overlay.
    dom.create()
    wait_booted(boot_image)
    assert _qmp_files(env, dom) == [str(overlay0), str(base)]
    assert main(["-c", env.uri, "snapshot-create-as", "ext", "live1", "--disk-only"]) == 0
    assert "Domain snapshot live1 created" in capsys.readouterr().out
    overlay1 = tmp_path / "base.live1"
    assert _qmp_files(env, dom) == [str(overlay1), str(overlay0), str(base)]
    assert dom.state()[0] == DomainState.RUNNING
    live = dom.xml_desc()
    assert f"<source file='{overlay1}' index='" in live or f"<source file='{overlay1}'/>" in live
    assert f"<source file='{overlay0}'/>" in dom.xml_desc(2).split("<backingStore")[1]
    assert f"<source file='{overlay1}'/>" in dom.xml_desc(2)
    with pytest.raises(VirtError, match="QEMU guest agent is not configured"):
        dom.snapshot_create("<domainsnapshot><name>q</name></domainsnapshot>", CF.DISK_ONLY | CF.QUIESCE)
    assert _qmp_files(env, dom)[0] == str(overlay1) and not (tmp_path / "base.q").exists()
    snap1 = dom.snapshot_lookup("live1")
    assert snap1.parent().name() == "off" and snap1.is_current()
    assert "<state>disk-snapshot</state>" in snap1.xml_desc()

    # Running, memory and disks: the memory goes to a save image, the guest keeps running.
    mem = tmp_path / "mem.save"
    full = (f"<domainsnapshot><name>full</name><memory snapshot='external' file='{mem}'/>"
            f"<disks><disk name='hda'><source file='{tmp_path}/top.qcow2'/></disk></disks></domainsnapshot>")
    snap2 = dom.snapshot_create(full)
    assert dom.state()[0] == DomainState.RUNNING
    assert mem.read_bytes()[:16] == b"LibvirtQemudSave"
    assert _qmp_files(env, dom)[0] == f"{tmp_path}/top.qcow2"
    xml = snap2.xml_desc()
    assert "<state>running</state>" in xml and f"<memory snapshot='external' file='{mem}'/>" in xml
    with pytest.raises(VirtError, match="already exists"):
        dom.snapshot_create(f"<domainsnapshot><name>again</name><memory file='{mem}'/></domainsnapshot>")

    # Listing filters, and libvirt 9.0's refusals.
    assert [s.name() for s in dom.snapshots(LF.EXTERNAL)] == ["full", "live1", "off"]
    assert dom.snapshots(LF.INTERNAL) == []
    assert [s.name() for s in dom.snapshots(LF.DISK_ONLY)] == ["live1"]
    assert [s.name() for s in dom.snapshots(LF.INACTIVE)] == ["off"]
    with pytest.raises(VirtError, match="mixing internal and external targets"):
        dom.snapshot_create("<domainsnapshot><disks><disk name='hda' snapshot='external'/></disks>"
                            "</domainsnapshot>")
    with pytest.raises(VirtError, match="deletion of 1 external disk snapshots not supported yet") as err:
        snap2.delete(0)
    assert err.value.code == ErrorNumber.CONFIG_UNSUPPORTED
    with pytest.raises(VirtError, match="deletion of 3 external disk snapshots not supported yet"):
        off.delete(DF.CHILDREN)
    with pytest.raises(VirtError, match="revert to external snapshot not supported yet"):
        snap1.revert(0)
    with pytest.raises(VirtError, match="disk-only snapshots do not support memory state"):
        dom.snapshot_create(f"<domainsnapshot><memory file='{tmp_path}/m2'/></domainsnapshot>", CF.DISK_ONLY)

    # The chain survives a restart of the guest: it boots from the overlays.
    dom.destroy()
    dom.create()
    wait_booted(boot_image)  # the serial file starts afresh with each run
    assert _qmp_files(env, dom) == [f"{tmp_path}/top.qcow2", str(overlay1), str(overlay0), str(base)]
    dom.destroy()
    assert main(["-c", env.uri, "snapshot-delete", "ext", "off", "--children", "--metadata"]) == 0
    assert dom.snapshots() == []
    assert overlay1.exists() and mem.exists()  # metadata only: the files stay

    # --live: the memory is copied while the guest runs; --halt: the guest stops after the snapshot.
    dom.create()
    wait_booted(boot_image)
    mem2 = tmp_path / "mem2.save"
    dom.snapshot_create(f"<domainsnapshot><name>hot</name><memory file='{mem2}'/></domainsnapshot>", CF.LIVE)
    assert dom.state()[0] == DomainState.RUNNING and mem2.read_bytes()[:16] == b"LibvirtQemudSave"
    assert _qmp_files(env, dom)[0] == f"{tmp_path}/top.hot"
    memonly = dom.snapshot_create(f"<domainsnapshot><name>memonly</name><memory file='{tmp_path}/mem3'/>"
                                  "<disks><disk name='hda' snapshot='no'/></disks></domainsnapshot>")
    assert "<disk name='hda' snapshot='no'/>" in memonly.xml_desc() and (tmp_path / "mem3").exists()
    assert _qmp_files(env, dom)[0] == f"{tmp_path}/top.hot" and dom.state()[0] == DomainState.RUNNING
    dom.snapshot_create("<domainsnapshot><name>last</name></domainsnapshot>", CF.DISK_ONLY | CF.HALT)
    assert dom.state() == (DomainState.SHUTOFF, DomainShutoffReason.FROM_SNAPSHOT)
    assert f"<source file='{tmp_path}/top.last'/>" in dom.xml_desc(2)
    with pytest.raises(VirtError, match="already exists and is not a block device"):
        dom.snapshot_create(f"<domainsnapshot><disks><disk name='hda'><source file='{tmp_path}/top.hot'/></disk>"
                            "</disks></domainsnapshot>", CF.DISK_ONLY)

    # --reuse-external: an overlay made beforehand is taken as it is.
    dom.create()
    reuse = tmp_path / "made-before.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", f"{tmp_path}/top.last",
                    str(reuse)], check=True)
    dom.snapshot_create(f"<domainsnapshot><disks><disk name='hda'><source file='{reuse}'/></disk></disks>"
                        "</domainsnapshot>", CF.DISK_ONLY | CF.REUSE_EXT)
    assert _qmp_files(env, dom)[:2] == [str(reuse), f"{tmp_path}/top.last"]
    dom.destroy()


def test_console_and_vnc(env: Env, boot_image: Path) -> None:
    import select
    import socket

    from virt.core.connection import LocalStream

    devices = ("<serial type='pty'/><console type='pty'/><graphics type='vnc' autoport='yes'/>"
               "<video><model type='vga'/></video>")
    dom = env.conn.create_domain(domain_xml("console", disks=boot_disk(boot_image, serial=False),
                                            devices=devices), 1)  # paused: nothing written yet
    live = dom.xml_desc()
    assert "<console type='pty'>\n      <source path='/dev/pts/" in live
    port = int(live.split("<graphics type='vnc' port='")[1].split("'")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as vnc:
        assert vnc.recv(12).startswith(b"RFB 003.")
    stream = LocalStream()
    dom.open_console(None, stream, 0)
    with pytest.raises(VirtError, match="Active console session"):
        dom.open_console(None, LocalStream(), 0)
    dom.resume()
    fd = stream.source.fileno()
    got = b""
    deadline = time.monotonic() + 30
    while b"R" not in got and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.5)[0]:
            got += stream.recv(64)
    assert b"R" in got  # the guest's boot sector wrote to its serial port
    stream.finish()
    dom.destroy()


def test_qemu_runs_as_configured_user(env: Env, boot_image: Path) -> None:
    import pwd

    from virt.driver.qemu.host import shutdown_hosts

    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no 'nobody' user")
    if os.geteuid() != 0:
        pytest.skip("needs root")
    env.conn.close()
    shutdown_hosts(env.root)
    (env.root / "etc").mkdir(parents=True, exist_ok=True)
    (env.root / "etc" / "qemu.conf").write_text(f'user = "nobody"\ngroup = "{nobody.pw_gid}"\n')
    # QEMU, as nobody, has to reach the test's directories.
    dirs = [env.root] + [p for p in (boot_image.parent, *boot_image.parent.parents) if p != Path("/")][:4]
    modes = {p: p.stat().st_mode & 0o777 for p in dirs}
    for p in dirs:
        os.chmod(p, modes[p] | 0o011)
    try:
        env.conn = Connection(env.uri)
        dom = env.define(domain_xml("dac", disks=boot_disk(boot_image, serial=False)))
        dom.create()
        status = Path(f"/proc/{env.pid(dom)}/status").read_text()
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        assert uid_line.split()[1:3] == [str(nobody.pw_uid)] * 2
        assert boot_image.stat().st_uid == nobody.pw_uid
        assert dom.state()[0] == DomainState.RUNNING
        # An external snapshot's overlay is QEMU's user's too while the guest runs.
        from virt.core.enums import DomainSnapshotCreateFlags as CF

        dom.snapshot_create("<domainsnapshot><name>asnobody</name></domainsnapshot>", CF.DISK_ONLY | CF.NO_METADATA)
        overlay = boot_image.with_suffix(".asnobody")
        assert overlay.stat().st_uid == nobody.pw_uid and dom.state()[0] == DomainState.RUNNING
        dom.destroy()
        assert boot_image.stat().st_uid == 0 and overlay.stat().st_uid == 0  # given back
    finally:
        for p, mode in modes.items():
            os.chmod(p, mode)


def test_bridged_interface_tap(env: Env) -> None:
    from virt.util.process import run

    if os.geteuid() != 0 or not Path("/dev/net/tun").exists():
        pytest.skip("needs root and /dev/net/tun")
    bridge = f"vqbr{os.getpid() % 100000}"
    run(["ip", "link", "add", bridge, "type", "bridge"], timeout=30)
    try:
        nic = (f"<interface type='bridge'><source bridge='{bridge}'/><mac address='52:54:00:aa:bb:01'/>"
               "<model type='e1000'/></interface>")
        dom = env.define(domain_xml("bridged", devices=nic))
        dom.create()
        live = dom.xml_desc()
        tap = live.split("<target dev='")[1].split("'")[0]
        master = Path(f"/sys/class/net/{tap}/master").resolve().name
        assert master == bridge
        assert Path(f"/sys/class/net/{tap}/address").read_text().strip() == "fe:54:00:aa:bb:01"
        stats = dom.interface_stats(tap)
        assert stats.rx_bytes >= 0 and stats.tx_bytes >= 0
        assert dom.interface_stats("52:54:00:aa:bb:01").tx_packets >= 0  # by MAC too
        links = _links(tap)
        dom.destroy()
        assert _gone(links)  # the tap went with QEMU's descriptor
    finally:
        run(["ip", "link", "del", bridge], timeout=30, check=False)


def _links(*names: str) -> dict[str, int]:
    """The interface index of each of ``names`` that exists now."""
    found = {}
    for name in names:
        with contextlib.suppress(OSError):
            found[name] = int(Path(f"/sys/class/net/{name}/ifindex").read_text())
    return found


def _gone(links: dict[str, int]) -> bool:
    """Every link in ``links`` is gone: tests running meanwhile may reuse a name (vnet0), not the index."""
    return not any(index == _links(name).get(name) for name, index in links.items())


def _tap_of(dom: Domain, mac: str) -> str:
    from lxml import etree

    for net in etree.fromstring(dom.xml_desc().encode()).findall("devices/interface"):
        if net.find("mac").get("address") == mac:
            return str(net.find("target").get("dev"))
    raise AssertionError(f"no interface {mac}")


def _shaping(tap: str) -> tuple[dict[str, dict[str, int]], set[str], int | None]:
    """(htb classes, qdisc kinds) of ``tap`` and the rate (bits/s) shaped on its ifb stand-in, if any."""
    from virt.util.tc import Tc, ifb_name

    tc = Tc()
    ifb = ifb_name(tap)
    ifb_rate = tc.htb_classes(ifb)["1:1"]["rate"] if Path(f"/sys/class/net/{ifb}").exists() else None
    return tc.htb_classes(tap), {q["kind"] for q in tc.show("qdisc", tap)}, ifb_rate


def test_interface_bandwidth_on_the_tap(env: Env, boot_image: Path) -> None:
    """<bandwidth> shapes the tap at start, on hot-plug and through virDomainSetInterfaceParameters;
    nothing is left once the interface or the guest is gone."""
    from virt.util.process import run
    from virt.util.tc import ifb_name

    if os.geteuid() != 0 or not Path("/dev/net/tun").exists():
        pytest.skip("needs root and /dev/net/tun")
    bridge = f"vqbw{os.getpid() % 100000}"
    run(["ip", "link", "add", bridge, "type", "bridge"], timeout=30)
    try:
        nic = (f"<interface type='bridge'><source bridge='{bridge}'/><mac address='52:54:00:aa:bb:02'/>"
               "<bandwidth><inbound average='1000' peak='2000' burst='256'/><outbound average='500'/></bandwidth>"
               "<model type='virtio'/></interface>")
        dom = env.define(domain_xml("shaped", disks=boot_disk(boot_image), devices=nic))
        dom.create()
        wait_booted(boot_image)
        tap = _tap_of(dom, "52:54:00:aa:bb:02")
        # inbound (to the guest) is the tap's egress: htb at 1000 KiB/s (tc's kbps: 8 Mbit/s), ceil the peak
        classes, kinds, ifb_rate = _shaping(tap)
        assert classes["1:1"] == {"rate": 8_000_000, "ceil": 16_000_000}
        assert {"htb", "ingress"} <= kinds
        assert ifb_rate in (None, 4_000_000)  # outbound: policed, or shaped on an ifb where police is missing
        params, n = env.conn.call("domain_get_interface_parameters", dom.ref, tap, 16, 0)
        assert n == 7 and params == {"inbound.average": 1000, "inbound.peak": 2000, "inbound.burst": 256,
                                     "inbound.floor": 0, "outbound.average": 500, "outbound.peak": 0,
                                     "outbound.burst": 0}
        assert env.conn.call("domain_get_interface_parameters", dom.ref, tap, 0, 0) == ({}, 7)

        # domiftune --live --inbound 3000: the inbound direction is replaced whole, outbound kept
        env.conn.call("domain_set_interface_parameters", dom.ref, "52:54:00:AA:BB:02", {"inbound.average": 3000}, 1)
        classes, kinds, ifb_rate = _shaping(tap)
        assert classes["1:1"] == {"rate": 24_000_000, "ceil": 24_000_000}
        assert "ingress" in kinds and ifb_rate in (None, 4_000_000)
        assert "<inbound average='3000'/>" in dom.xml_desc() and "<outbound average='500'/>" in dom.xml_desc()
        assert "<inbound average='1000' peak='2000' burst='256'/>" in dom.xml_desc(2)  # config untouched
        # outbound average 0 removes that direction
        env.conn.call("domain_set_interface_parameters", dom.ref, tap, {"outbound.average": 0}, 1)
        classes, kinds, ifb_rate = _shaping(tap)
        assert "ingress" not in kinds and ifb_rate is None and classes["1:1"]["rate"] == 24_000_000
        assert "<outbound" not in dom.xml_desc()
        # --config only: the tap keeps its rate
        env.conn.call("domain_set_interface_parameters", dom.ref, "52:54:00:aa:bb:02", {"inbound.average": 42}, 2)
        assert "<inbound average='42'/>" in dom.xml_desc(2) and _shaping(tap)[0]["1:1"]["rate"] == 24_000_000
        with pytest.raises(VirtError, match="'floor' is only supported for interface type 'network'") as err:
            env.conn.call("domain_set_interface_parameters", dom.ref, tap, {"inbound.floor": 10}, 1)
        assert err.value.code == ErrorNumber.CONFIG_UNSUPPORTED
        with pytest.raises(VirtError, match="parameter 'inbound.bogus' not supported"):
            env.conn.call("domain_set_interface_parameters", dom.ref, tap, {"inbound.bogus": 1}, 1)
        with pytest.raises(VirtError, match="'nosuch0' is not a known interface"):
            env.conn.call("domain_get_interface_parameters", dom.ref, "nosuch0", 16, 0)

        # a hot-plugged interface is shaped too, and its ifb goes with it
        nic2 = (f"<interface type='bridge'><source bridge='{bridge}'/><mac address='52:54:00:aa:bb:03'/>"
                "<bandwidth><inbound average='700'/><outbound average='300'/></bandwidth>"
                "<model type='virtio'/></interface>")
        dom.attach_device(nic2, 1)
        tap2 = _tap_of(dom, "52:54:00:aa:bb:03")
        classes, kinds, ifb_rate2 = _shaping(tap2)
        assert classes["1:1"]["rate"] == 5_600_000 and ifb_rate2 in (None, 2_400_000)
        links = _links(tap2, ifb_name(tap2))
        dom.detach_device(nic2, 1)
        env.wait_event(lambda ev: ev.event_id == DomainEventID.DEVICE_REMOVED)
        assert _gone(links)

        # start the config (inbound 42) again... after destroy nothing of the shaping is left
        env.conn.call("domain_set_interface_parameters", dom.ref, tap, {"outbound.average": 100}, 1)
        assert _shaping(tap)[2] in (None, 800_000)
        links = _links(tap, ifb_name(tap))
        dom.destroy()
        assert _gone(links)
        dom.create()
        tap = _tap_of(dom, "52:54:00:aa:bb:02")
        assert _shaping(tap)[0]["1:1"]["rate"] == 336_000
        assert "ingress" in _shaping(tap)[1]
        links = _links(ifb_name(tap))
        dom.destroy()
        assert _gone(links)
    finally:
        run(["ip", "link", "del", bridge], timeout=30, check=False)


def test_direct_interface_is_a_macvtap_with_its_bandwidth(env: Env, boot_image: Path) -> None:
    """A direct interface: a macvtap link on its source device, in its mode, with the guest's MAC, whose
    character device QEMU holds; <bandwidth> is not swapped (the host sees what the guest sees); the link
    goes with the guest, and with a hot-unplugged interface."""
    from virt.util.process import run
    from virt.util.tc import ifb_name

    parent = f"vqdm{os.getpid() % 100000}"
    run(["ip", "link", "add", parent, "type", "veth", "peer", "name", f"{parent}p"], timeout=30)
    try:
        run(["ip", "link", "set", parent, "up"], timeout=30)
        nic = (f"<interface type='direct'><source dev='{parent}' mode='bridge'/><mac address='52:54:00:aa:bb:05'/>"
               "<bandwidth><inbound average='1000'/><outbound average='500'/></bandwidth>"
               "<model type='virtio'/></interface>")
        dom = env.define(domain_xml("direct", disks=boot_disk(boot_image), devices=nic))
        dom.create()
        wait_booted(boot_image)
        tap = _tap_of(dom, "52:54:00:aa:bb:05")
        assert tap.startswith("macvtap")
        details = run(["ip", "-d", "link", "show", tap], timeout=30).stdout
        assert f"{tap}@{parent}" in details and "macvtap mode bridge" in details
        assert "link/ether 52:54:00:aa:bb:05" in details
        index = int(Path(f"/sys/class/net/{tap}/ifindex").read_text())
        held = {os.readlink(f) for f in Path(f"/proc/{env.pid(dom)}/fd").iterdir()}
        assert f"/dev/tap{index}" in held
        # not swapped: the guest's outbound is the macvtap's egress (htb), its inbound the ingress
        classes, kinds, ifb_rate = _shaping(tap)
        assert classes["1:1"]["rate"] == 4_000_000 and "ingress" in kinds and ifb_rate in (None, 8_000_000)
        assert "<target dev='" + tap + "'/>" in dom.xml_desc()

        # a hot-plugged direct interface gets its own macvtap, deleted on unplug
        nic2 = (f"<interface type='direct'><source dev='{parent}' mode='vepa'/><mac address='52:54:00:aa:bb:06'/>"
                "<model type='virtio'/></interface>")
        dom.attach_device(nic2, 1)
        tap2 = _tap_of(dom, "52:54:00:aa:bb:06")
        assert tap2 != tap and "macvtap mode vepa" in run(["ip", "-d", "link", "show", tap2], timeout=30).stdout
        links = _links(tap2)
        dom.detach_device(nic2, 1)
        env.wait_event(lambda ev: ev.event_id == DomainEventID.DEVICE_REMOVED)
        assert _gone(links)

        links = _links(tap, ifb_name(tap))
        dom.destroy()
        assert _gone(links) and not Path(f"/dev/tap{index}").exists()
        with pytest.raises(VirtError, match="Cannot get interface MTU on 'nosuchdev0'"):
            env.conn.create_domain(domain_xml("direct2", devices=nic.replace(parent, "nosuchdev0")))
    finally:
        run(["ip", "link", "del", parent], timeout=30, check=False)


def test_interface_on_a_network_gets_a_port_with_its_bandwidth(env: Env, boot_image: Path) -> None:
    """type='network': a network port per interface (virNetworkPortCreateXML) carrying the interface's
    <bandwidth>; its floor becomes a class on the network's bridge, a port group's bandwidth shapes an
    interface that has none; domiftune moves the floor; the ports go with the guest."""
    from virt.util.tc import Tc

    if os.geteuid() != 0 or not Path("/dev/net/tun").exists():
        pytest.skip("needs root and /dev/net/tun")
    tag = os.getpid() % 100000
    bridge = f"vqnb{tag}"
    net = env.conn.create_network(
        f"<network><name>vqn{tag}</name><forward mode='open'/><bridge name='{bridge}'/><dns enable='no'/>"
        f"<ip address='10.251.{tag % 250}.1' prefix='24'/><bandwidth><inbound average='10000'/></bandwidth>"
        "<portgroup name='slow'><bandwidth><inbound average='300'/></bandwidth></portgroup></network>")
    try:
        nics = (f"<interface type='network'><source network='vqn{tag}'/><mac address='52:54:00:aa:cc:01'/>"
                "<bandwidth><inbound average='1000' floor='200'/><outbound average='500'/></bandwidth>"
                "<model type='e1000'/></interface>"
                f"<interface type='network'><source network='vqn{tag}' portgroup='slow'/>"
                "<mac address='52:54:00:aa:cc:02'/><model type='e1000'/></interface>")
        dom = env.define(domain_xml("netqos", devices=nics))
        dom.create()
        ports = env.conn.call("network_list_all_ports", net.ref, 0)
        assert len(ports) == 2
        live = dom.xml_desc()
        assert all(f"portid='{p.uuid}'" in live for p in ports)
        tap, tap2 = _tap_of(dom, "52:54:00:aa:cc:01"), _tap_of(dom, "52:54:00:aa:cc:02")
        assert Path(f"/sys/class/net/{tap}/master").resolve().name == bridge
        assert _shaping(tap)[0]["1:1"]["rate"] == 8_000_000
        assert _shaping(tap2)[0]["1:1"]["rate"] == 2_400_000  # the port group's bandwidth
        # the floor: a class of its own on the bridge (1:3), unclassified traffic keeps the rest
        classes = Tc().htb_classes(bridge)
        assert classes["1:3"]["rate"] == 1_600_000 and classes["1:2"]["rate"] == 78_400_000

        env.conn.call("domain_set_interface_parameters", dom.ref, tap,
                      {"inbound.average": 1000, "inbound.floor": 400}, 1)
        assert Tc().htb_classes(bridge)["1:3"]["rate"] == 3_200_000
        with pytest.raises(VirtError):  # more than the network can guarantee: refused, nothing changes
            env.conn.call("domain_set_interface_parameters", dom.ref, tap,
                          {"inbound.average": 1000, "inbound.floor": 20000}, 1)
        assert Tc().htb_classes(bridge)["1:3"]["rate"] == 3_200_000
        assert "floor='400'" in dom.xml_desc()

        dom.destroy()
        assert env.conn.call("network_list_all_ports", net.ref, 0) == []
        assert "1:3" not in Tc().htb_classes(bridge)
    finally:
        net.destroy()


# ----------------------------------------------------------------------------------------- the guest agent
def _agent_guest() -> Any:
    """tests/agent_guest.py (the tests directory is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("agent_guest", Path(__file__).with_name("agent_guest.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def agent_guest_files() -> tuple[Path, Path]:
    """Debian's kernel and an initramfs running qemu-ga (tests/agent_guest.py), built once and cached."""
    import shutil

    agent_guest = _agent_guest()
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("building the agent guest needs apt-get and dpkg-deb (Debian)")
    try:
        return agent_guest.build(agent_guest.cache_dir())
    except subprocess.CalledProcessError as err:
        pytest.skip(f"cannot fetch the agent guest's packages: {err.stderr or err}")


def wait_serial(path: Path, text: bytes, times: int = 1, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_bytes().count(text) >= times):
        assert time.monotonic() < deadline, f"{text!r} not seen on the serial console"
        time.sleep(0.1)


@pytest.fixture
def sock_dir() -> Iterator[str]:
    """A directory with a short path: a unix socket's path must fit in 108 bytes."""
    import shutil
    import tempfile

    path = tempfile.mkdtemp(prefix="virt-qga-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_guest_agent(env: Env, agent_guest_files: tuple[Path, Path], tmp_path: Path, sock_dir: str,
                     capsys: pytest.CaptureFixture[str]) -> None:
    import base64
    import json

    from virt.core.cli.main import main
    from virt.core.enums import DomainShutdownFlags

    kernel, initrd = agent_guest_files
    serial = tmp_path / "agent.serial"
    disk = tmp_path / "data.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    # TCG: Debian's kernel does not get past its decompressor under the nested KVM of some CI hosts.
    xml = f"""<domain type='qemu'>
  <name>agentguest</name>
  <memory unit='MiB'>256</memory>
  <vcpu>2</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>{kernel}</kernel><initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 panic=-1 quiet</cmdline></os>
  <features><acpi/></features>
  <devices>
    <emulator>{QEMU}</emulator>
    <serial type='file'><source path='{serial}' append='on'/><target port='0'/></serial>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{disk}'/>
      <target dev='hda' bus='ide'/></disk>
    <channel type='unix'><source mode='bind' path='{sock_dir}/qga.sock'/>
      <target type='virtio' name='org.qemu.guest_agent.0'/></channel>
  </devices>
</domain>"""
    agent_events: list[tuple[int, int]] = []
    env.conn.domain_event_register(DomainEventID.AGENT_LIFECYCLE, lambda ev: agent_events.append(ev.payload))
    dom = env.define(xml)
    dom.create()
    assert "<target type='virtio' name='org.qemu.guest_agent.0' state='disconnected'/>" in dom.xml_desc()
    ready = _agent_guest().READY.encode()
    wait_serial(serial, ready)

    def agent(cmd: dict[str, Any], timeout: int = -1) -> Any:
        return env.conn.call("domain_qemu_agent_command", dom.ref, json.dumps(cmd), timeout, 0)

    # The agent may still be starting when the guest prints its marker: guest-ping until it answers.
    deadline = time.monotonic() + 30
    while True:
        try:
            assert agent({"execute": "guest-ping"}) == '{"return":{}}'
            break
        except VirtError:
            assert time.monotonic() < deadline, "the guest agent never answered"
            time.sleep(0.5)
    assert "<target type='virtio' name='org.qemu.guest_agent.0' state='connected'/>" in dom.xml_desc()
    assert (1, 2) in agent_events  # connected, by the channel
    info = json.loads(agent({"execute": "guest-info"}))["return"]
    assert info["version"].startswith("7.") or info["version"].startswith("8.")
    assert {"name": "guest-shutdown", "enabled": True, "success-response": False} in info["supported_commands"]
    with pytest.raises(VirtError, match="unable to execute QEMU agent command 'guest-no-such'"):
        agent({"execute": "guest-no-such"})
    with pytest.raises(VirtError, match="less than the minimum"):
        agent({"execute": "guest-ping"}, -3)

    # The guest's clock, read and set through the agent.
    seconds, _ = env.conn.call("domain_get_time", dom.ref, 0)
    assert abs(seconds - time.time()) < 120
    env.conn.call("domain_set_time", dom.ref, 1700000000, 0, 0)
    seconds, _ = env.conn.call("domain_get_time", dom.ref, 0)
    assert 1700000000 <= seconds < 1700000030
    # Sync: the system clock from the RTC, which qemu-ga wrote when it set the time above.
    env.conn.call("domain_set_time", dom.ref, 0, 0, 1)
    seconds, _ = env.conn.call("domain_get_time", dom.ref, 0)
    assert 1700000000 <= seconds < 1700000060
    now = time.time()
    env.conn.call("domain_set_time", dom.ref, int(now), int(now % 1 * 1e9), 0)
    seconds, _ = env.conn.call("domain_get_time", dom.ref, 0)
    assert abs(seconds - time.time()) < 30
    assert dom.get_hostname(2) == "virt-agent-guest"  # VIR_DOMAIN_GET_HOSTNAME_AGENT
    assert dom.get_hostname(0) == "virt-agent-guest"

    # A user's password, set by the agent (chpasswd in the guest): /etc/shadow read back through it.
    def shadow() -> str:
        handle = json.loads(agent({"execute": "guest-file-open", "arguments": {"path": "/etc/shadow"}}))["return"]
        data = json.loads(agent({"execute": "guest-file-read", "arguments": {"handle": handle}}))["return"]
        agent({"execute": "guest-file-close", "arguments": {"handle": handle}})
        return base64.b64decode(data["buf-b64"]).decode()

    assert shadow().startswith("root:*:")
    env.conn.call("domain_set_user_password", dom.ref, "root", "s3cret", 0)
    assert shadow().split(":")[1].startswith("$")
    env.conn.call("domain_set_user_password", dom.ref, "root", "$1$abcdefgh$0123456789abcdefghijk.", 1)
    assert shadow().split(":")[1] == "$1$abcdefgh$0123456789abcdefghijk."

    # virDomainGetGuestInfo: what the agent knows of the guest, as libvirt's typed parameters.
    info = env.conn.call("domain_get_guest_info", dom.ref, 0, 0)
    assert info["hostname"] == "virt-agent-guest" and info["os.machine"] == "x86_64"
    assert info["os.kernel-release"].endswith("-amd64") and info["timezone.offset"] == 0
    assert info["user.count"] == 0  # nobody logged in (no utmp)
    lo = next(k[: -len(".name")] for k, v in info.items() if k.startswith("if.") and k.endswith(".name") and v == "lo")
    assert info[f"{lo}.addr.0.addr"] == "127.0.0.1" and info[f"{lo}.addr.0.prefix"] == 8
    assert set(env.conn.call("domain_get_guest_info", dom.ref, 8, 0)) == {"hostname"}

    # vCPUs as the guest sees them, taken offline and back online by the agent.
    assert env.conn.call("domain_get_vcpus_flags", dom.ref, 8) == 2  # VIR_DOMAIN_VCPU_GUEST
    env.conn.call("domain_set_vcpus_flags", dom.ref, 1, 8)
    assert env.conn.call("domain_get_vcpus_flags", dom.ref, 8) == 1
    assert env.conn.call("domain_get_vcpus_flags", dom.ref, 8 | 4) == 2  # maximum: what the guest knows of
    env.conn.call("domain_set_vcpus_flags", dom.ref, 2, 8)
    assert env.conn.call("domain_get_vcpus_flags", dom.ref, 8) == 2
    with pytest.raises(VirtError, match="guest agent reports less cpu than requested"):
        env.conn.call("domain_set_vcpus_flags", dom.ref, 3, 8)

    # Interface addresses as the agent reports them; file systems frozen and thawed by it.
    ifaces = env.conn.call("domain_interface_addresses", dom.ref, 1, 0)
    lo = next(i for i in ifaces if i[0] == "lo")
    assert lo[1] == "00:00:00:00:00:00" and (0, "127.0.0.1", 8) in lo[2]
    with pytest.raises(VirtError, match="guest agent only"):
        env.conn.call("domain_interface_addresses", dom.ref, 0, 0)
    # The guest's only file systems (its initramfs, proc, sysfs, devtmpfs) cannot be frozen: none is.
    assert env.conn.call("domain_fsfreeze", dom.ref, None, 0) == 0
    assert env.conn.call("domain_fsfreeze", dom.ref, ["/"], 0) == 0
    with pytest.raises(VirtError, match="specifying mountpoints is not supported"):
        env.conn.call("domain_fsthaw", dom.ref, ["/"], 0)
    assert env.conn.call("domain_fsthaw", dom.ref, None, 0) == 0
    assert json.loads(agent({"execute": "guest-fsfreeze-status"}))["return"] == "thawed"

    # A quiesced external snapshot: frozen through the agent around the switch to the overlay.
    from virt.core.enums import DomainSnapshotCreateFlags as CF

    snap = dom.snapshot_create("<domainsnapshot><name>quiet</name></domainsnapshot>", CF.DISK_ONLY | CF.QUIESCE)
    assert "<state>disk-snapshot</state>" in snap.xml_desc()
    assert f"<source file='{tmp_path}/data.quiet'" in dom.xml_desc()
    assert json.loads(agent({"execute": "guest-fsfreeze-status"}))["return"] == "thawed"

    # `virt reboot` without a mode: a connected agent is preferred, as libvirt does (this guest
    # ignores ACPI's power button, so only the agent can reboot it); the guest comes back by itself.
    assert main(["-c", env.uri, "reboot", "agentguest"]) == 0
    env.wait_event(lambda ev: ev.event_id == DomainEventID.REBOOT and ev.obj.name == "agentguest", timeout=60)
    wait_serial(serial, ready, times=2)
    assert dom.state()[0] == DomainState.RUNNING

    # `virt shutdown --mode agent`: the agent powers the guest off.
    deadline = time.monotonic() + 30
    while True:
        try:
            agent({"execute": "guest-ping"})
            break
        except VirtError:
            assert time.monotonic() < deadline, "the guest agent did not come back after the reboot"
            time.sleep(0.5)
    assert main(["-c", env.uri, "shutdown", "agentguest", "--mode", "agent"]) == 0
    assert "Domain 'agentguest' is being shutdown" in capsys.readouterr().out
    env.wait_lifecycle("agentguest", DomainEventType.STOPPED, timeout=60)
    assert dom.state() == (DomainState.SHUTOFF, DomainShutoffReason.SHUTDOWN)
    with pytest.raises(VirtError, match="domain is not running"):
        dom.shutdown(DomainShutdownFlags.GUEST_AGENT)
