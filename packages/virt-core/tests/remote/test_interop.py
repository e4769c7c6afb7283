"""Real libvirt clients against virtd: virsh and libvirt-python give what they give against libvirtd."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import Daemon

pytestmark = pytest.mark.skipif(shutil.which("virsh") is None, reason="needs virsh (libvirt-clients)")

DOMAIN_XML = """<domain type='test'>
  <name>interop-vm</name>
  <memory>1048576</memory>
  <vcpu>2</vcpu>
  <os><type>hvm</type></os>
</domain>
"""

# The virsh commands of the issue, run in this order against both daemons; the state they change
# is restored by the end of the list.
COMMANDS = [
    "list --all", "dominfo test", "domstate test", "domstate --reason test", "dumpxml test", "nodeinfo",
    "capabilities", "version", "hostname", "domid test", "domuuid test", "domname 1",
    "net-list --all", "net-dumpxml default", "net-info default", "net-uuid default",
    "pool-list --all", "pool-info default-pool", "pool-dumpxml default-pool", "vol-list default-pool",
    "define {xml}", "list --all", "dominfo interop-vm", "start interop-vm", "domstate interop-vm",
    "suspend interop-vm", "domstate --reason interop-vm", "resume interop-vm", "destroy interop-vm",
    "undefine interop-vm", "list --all", "list --name", "list --uuid --all", "list --inactive",
    "dominfo nosuch", "net-info nosuch", "pool-info nosuch", "start test", "nodememstats", "freecell --all",
    "dommemstat test", "vcpuinfo test", "vcpucount test", "domblklist test", "domiflist test",
    # Typed parameters, CPU maps and records through the wire.
    "schedinfo test", "memtune test", "numatune test", "blkiotune test", "emulatorpin test", "vcpupin test",
    "domfsinfo test", "domtime test", "domcontrol test", "domblkinfo test vda", "domjobinfo test", "perf test",
    "nodesevinfo", "maxvcpus", "node-memory-tune", "nodecpumap", "domstats --state", "guestinfo test",
]  # fmt: skip

# Lines that depend on when they are read.
_VOLATILE = re.compile(r"^(CPU time:|last_update|Time:).*$", re.MULTILINE)


def virsh(uri: str, command: str, timeout: float = 30) -> tuple[int, str]:
    out = subprocess.run(["virsh", "-c", uri, *command.split()], capture_output=True, text=True, timeout=timeout,
                         check=False)
    return out.returncode, _VOLATILE.sub(r"\1 <volatile>", out.stdout + out.stderr)


def run_all(uri: str, xml: Path) -> list[tuple[str, int, str]]:
    return [(c, *virsh(uri, c.format(xml=xml))) for c in COMMANDS]


def test_virsh_output_is_libvirtds(virtd: Daemon, libvirtd: Daemon, tmp_path: Path) -> None:
    xml = tmp_path / "dom.xml"
    xml.write_text(DOMAIN_XML)
    xml.chmod(0o644)
    tmp_path.chmod(0o755)
    ours = run_all(virtd.uri(), xml)
    theirs = run_all(libvirtd.uri(), xml)
    for (command, rc, out), (_, rc2, out2) in zip(ours, theirs, strict=False):
        assert (command, rc, out) == (command, rc2, out2)


def test_virsh_read_only_socket(virtd: Daemon, tmp_path: Path) -> None:
    rc, out = virsh(virtd.uri(readonly=True), "list --all")
    assert rc == 0 and "test" in out
    rc, out = virsh(virtd.uri(readonly=True), "destroy test")
    assert rc == 1 and "operation forbidden: read only access prevents virDomainDestroy" in out
    rc, out = virsh(virtd.uri(readonly=True), "dumpxml --security-info test")
    assert rc == 1 and "virDomainGetXMLDesc with secure flag" in out
    assert virsh(virtd.uri(), "domstate test") == (0, "running\n\n")


def _event_loop(uri: str, xml: Path) -> str:
    # virsh must have registered its callbacks before the first command (a loaded CI machine is slow
    # to start it): give it time, and a loop timeout that outlasts the six commands.
    watcher = subprocess.Popen(["virsh", "-c", uri, "event", "--all", "--loop", "--timeout", "12"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    time.sleep(3)
    for command in ("define {xml}", "start interop-vm", "suspend interop-vm", "resume interop-vm",
                    "destroy interop-vm", "undefine interop-vm"):  # fmt: skip
        assert virsh(uri, command.format(xml=xml))[0] == 0, command
    out, _ = watcher.communicate(timeout=30)
    return out


def test_virsh_event_loop_is_libvirtds(virtd: Daemon, libvirtd: Daemon, tmp_path: Path) -> None:
    xml = tmp_path / "dom.xml"
    xml.write_text(DOMAIN_XML)
    ours = _event_loop(virtd.uri(), xml)
    assert "events received: 6" in ours
    assert ours == _event_loop(libvirtd.uri(), xml)


LIBVIRT_PYTHON = r"""
import libvirt, sys, threading, time
libvirt.virEventRegisterDefaultImpl()
c = libvirt.open(sys.argv[1])
print(c.getType(), c.getVersion(), c.getLibVersion(), c.getHostname(), c.getInfo())
print([(d.name(), d.ID(), d.UUIDString()) for d in c.listAllDomains()])
d = c.lookupByName("test")
info = d.info()
print(info[:4], d.state(), d.isActive(), d.isPersistent(), d.autostart(), c.lookupByID(1).name())
print(c.lookupByUUIDString(d.UUIDString()).name(), d.XMLDesc() == d.XMLDesc(0))
events = []
cid = c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                               lambda conn, dom, ev, detail, opaque: events.append((dom.name(), ev, detail)), None)
stop = False
def loop():
    while not stop:
        libvirt.virEventRunDefaultImpl()
threading.Thread(target=loop, daemon=True).start()
nd = c.defineXML(sys.stdin.read())
nd.create()
print(nd.info()[0], nd.ID() > 0, nd.isActive())
nd.destroy()
nd.undefine()
deadline = time.time() + 5
while len(events) < 4 and time.time() < deadline:
    time.sleep(0.05)
print("events", events)
c.domainEventDeregisterAny(cid)
try:
    c.lookupByName("nosuch")
except libvirt.libvirtError as e:
    print("error", e.get_error_code(), e.get_error_domain(), e.get_error_message())
print([n.name() for n in c.listAllNetworks()], [p.name() for p in c.listAllStoragePools()])
stop = True
c.close()
"""


def test_libvirt_python_against_virtd(virtd: Daemon, libvirtd: Daemon) -> None:
    if not Path("/usr/bin/python3").exists():
        pytest.skip("needs /usr/bin/python3 with python3-libvirt")

    def run(uri: str) -> str:
        out = subprocess.run(["/usr/bin/python3", "-c", LIBVIRT_PYTHON, uri], input=DOMAIN_XML,
                             capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert out.returncode == 0, out.stderr
        return out.stdout

    ours = run(virtd.uri())
    assert "events [('interop-vm', 0, 0), ('interop-vm', 2, 0), ('interop-vm', 5, 1), ('interop-vm', 1, 0)]" in ours
    assert ours == run(libvirtd.uri())
