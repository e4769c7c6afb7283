"""`virt` and libvirt's `virsh` print the same for the guest-agent commands against real guests.

virtd (in this process) serves ``qemu:///system`` from a private embed root; the same command lines run
as ``virsh -c qemu+unix:///system?socket=...`` and ``virt -c`` that URI, and stdout, stderr and the exit
status must match (the guest's clock is masked). One guest runs Debian's qemu-ga (tests/agent_guest.py,
booted once for the module), one has no agent channel, one is shut off.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from virt.core.connection import Connection
from virt.util.errors import VirtError

VIRSH = shutil.which("virsh")
QEMU = "/usr/bin/qemu-system-x86_64"
pytestmark = [
    pytest.mark.skipif(VIRSH is None, reason="libvirt's virsh (libvirt-clients) is not installed"),
    pytest.mark.skipif(not os.access(QEMU, os.X_OK), reason="qemu-system-x86_64 is not installed"),
]

#: What changes between the two runs is masked on both sides: the guest clock, QMP command ids.
_MASKS = ((re.compile(r"^Time: .*$", re.MULTILINE), "Time: <t>"),
          (re.compile(r'"id": ?"[^"]*"'), '"id":"<id>"'))


def _load(name: str) -> Any:
    """A sibling test module (the tests directory is not a package)."""
    spec = importlib.util.spec_from_file_location(f"_{name}", Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


running = _load("test_running")


class Guests:
    """virtd on a private socket, the embed connection behind it, and the guests' names."""

    def __init__(self, uri: str, conn: Connection, server: Any = None) -> None:
        self.uri, self.conn, self.server = uri, conn, server

    def monitor_event_listeners(self) -> int:
        """How many QMP event registrations virtd's clients hold now."""
        return sum(len(c.programs.get("qemu_monitor_events", {})) for c in list(self.server.clients))

    def run(self, prog: list[str], args: list[str]) -> tuple[int, str, str]:
        proc = subprocess.run([*prog, "-c", self.uri, *args], capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL, check=False)
        out, err = proc.stdout, proc.stderr
        for pattern, repl in _MASKS:
            out, err = pattern.sub(repl, out), pattern.sub(repl, err)
        return proc.returncode, out, err

    def compare(self, *args: str) -> tuple[int, str, str]:
        expected = self.run([str(VIRSH)], list(args))
        got = self.run([sys.executable, "-m", "virt.core.cli"], list(args))
        assert got == expected, f"virt {' '.join(args)!r} differs from virsh:\n  virsh: {expected!r}\n  virt:  {got!r}"
        return got

    def compare_all(self, lines: list[list[str]]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        def one(args: list[str]) -> str | None:
            expected = self.run([str(VIRSH)], args)
            got = self.run([sys.executable, "-m", "virt.core.cli"], args)
            return None if got == expected else f"{' '.join(args)!r}:\n  virsh: {expected!r}\n  virt:  {got!r}"

        with ThreadPoolExecutor(4) as pool:
            diffs = [d for d in pool.map(one, lines) if d]
        assert not diffs, f"{len(diffs)} of {len(lines)} command lines differ from virsh:\n" + "\n".join(diffs)


def _agent_xml(kernel: Path, initrd: Path, serial: Path, sock: str) -> str:
    # TCG, as test_running's agent test: Debian's kernel stalls under some nested KVM hosts.
    return f"""<domain type='qemu'>
  <name>agentguest</name>
  <memory unit='MiB'>256</memory>
  <vcpu>2</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>{kernel}</kernel><initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 panic=-1 quiet</cmdline></os>
  <features><acpi/></features>
  <devices>
    <emulator>{QEMU}</emulator>
    <serial type='file'><source path='{serial}' append='on'/><target port='0'/></serial>
    <channel type='unix'><source mode='bind' path='{sock}'/>
      <target type='virtio' name='org.qemu.guest_agent.0'/></channel>
  </devices>
</domain>"""


@pytest.fixture(scope="module")
def guests() -> Iterator[Guests]:
    from virt.core.remote.server import Server, ServerConfig
    from virt.driver.qemu.host import shutdown_hosts

    agent_guest = running._agent_guest()
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("building the agent guest needs apt-get and dpkg-deb (Debian)")
    try:
        kernel, initrd = agent_guest.build(agent_guest.cache_dir())
    except subprocess.CalledProcessError as err:
        pytest.skip(f"cannot fetch the agent guest's packages: {err.stderr or err}")
    tmp = Path(tempfile.mkdtemp(prefix="virt-cliga-"))  # short: unix socket paths fit in 108 bytes
    root = tmp / "root"
    embed = f"qemu:///embed?root={root}"
    conn = Connection(embed)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Server] = {}

    async def serve() -> None:
        server = holder["server"] = Server(ServerConfig(open_connection=lambda uri, ro: Connection(embed, readonly=ro)))
        await server.listen_unix(tmp / "sock")
        ready.set()
        await server.serve_forever()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        assert ready.wait(10)
        serial = tmp / "agent.serial"
        agent = conn.define_domain(_agent_xml(kernel, initrd, serial, str(tmp / "qga.sock")))
        agent.create()
        image = tmp / "boot.img"
        image.write_bytes(running.boot_sector() + b"\0" * (1024 * 1024 - 512))
        conn.define_domain(running.domain_xml("noagent", disks=running.boot_disk(image))).create()
        conn.define_domain(running.domain_xml("shutoff"))
        running.wait_serial(serial, agent_guest.READY.encode())
        deadline = time.monotonic() + 60  # qemu-ga may still be starting when the guest prints its marker
        while True:
            try:
                conn.call("domain_qemu_agent_command", agent.ref, json.dumps({"execute": "guest-ping"}), -1, 0)
                break
            except VirtError:
                assert time.monotonic() < deadline, "the guest agent never answered"
                time.sleep(0.5)
        yield Guests(f"qemu+unix:///system?socket={tmp / 'sock'}", conn, holder["server"])
    finally:
        for dom in conn.list_all_domains(1):
            with contextlib.suppress(VirtError):
                dom.destroy()
        if "server" in holder:
            asyncio.run_coroutine_threadsafe(holder["server"].close(), loop).result(10)
        thread.join(10)
        conn.close()
        shutdown_hosts(root)
        leftovers = running.qemu_pids_under(root)
        running.kill_pids(leftovers)
        for group in sorted(running.cgroup_dirs_of(root), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                os.rmdir(group)
        shutil.rmtree(tmp, ignore_errors=True)
        assert not leftovers, f"QEMU processes left running: {leftovers}"


AGENT_READS = [
    ["qemu-agent-command", "agentguest", '{"execute":"guest-ping"}'],
    ["qemu-agent-command", "agentguest", "--pretty", '{"execute":"guest-ping"}'],
    ["qemu-agent-command", "agentguest", "--pretty", '{"execute":"guest-get-osinfo"}'],
    ["qemu-agent-command", "agentguest", "--pretty", '{"execute":"guest-network-get-interfaces"}'],
    ["qemu-agent-command", "agentguest", '{"execute":"guest-get-host-name"}'],
    ["qemu-agent-command", "agentguest", "--timeout", "10", '{"execute":"guest-ping"}'],
    ["qemu-agent-command", "agentguest", "--block", '{"execute":', '"guest-ping"}'],
    ["qemu-agent-command", "agentguest", '{"execute":"guest-no-such"}'],
    ["qemu-agent-command", "agentguest", "not json"],
    ["domtime", "agentguest"], ["domtime", "agentguest", "--pretty"],
    ["domhostname", "agentguest"], ["domhostname", "agentguest", "--source", "agent"],
    ["domhostname", "agentguest", "--source", "lease"],
    ["domifaddr", "agentguest", "--source", "agent"], ["domifaddr", "agentguest", "--source", "agent", "--full"],
    ["domifaddr", "agentguest", "--source", "agent", "--interface", "lo"], ["domifaddr", "agentguest"],
    ["domifaddr", "agentguest", "--source", "arp"],
    ["guestinfo", "agentguest"], ["guestinfo", "agentguest", "--os"], ["guestinfo", "agentguest", "--hostname"],
    ["guestinfo", "agentguest", "--timezone", "--user"], ["guestinfo", "agentguest", "--interface"],
    ["guestinfo", "agentguest", "--filesystem"], ["guestvcpus", "agentguest"],
    ["qemu-monitor-command", "agentguest", '{"execute":"query-status"}'],
    ["qemu-monitor-command", "agentguest", "--hmp", "info", "status"],
    ["qemu-monitor-command", "agentguest", "--pretty", '{"execute":"query-status"}'],
    ["qemu-monitor-command", "agentguest", "--return-value", '{"execute":"query-status"}'],
    ["qemu-monitor-command", "agentguest", "--pretty", "--return-value", "query-status"],
    ["qemu-monitor-command", "agentguest", "--pretty", "--return-value", "query-chardev"],
    ["qemu-monitor-command", "agentguest", "--return-value", "qom-get", '"path":"/machine"', '"property":"type"'],
    ["qemu-monitor-command", "agentguest", "query-no-such"],
]

#: The same calls on a guest without an agent channel, and on a shut-off guest.
NO_AGENT = [
    ["qemu-agent-command", "noagent", '{"execute":"guest-ping"}'], ["domtime", "noagent"],
    ["domtime", "noagent", "--now"], ["domhostname", "noagent"], ["domhostname", "noagent", "--source", "agent"],
    ["domifaddr", "noagent", "--source", "agent"], ["guestinfo", "noagent"], ["guestvcpus", "noagent"],
    ["set-user-password", "noagent", "root", "x"], ["domfsfreeze", "noagent"], ["domfsthaw", "noagent"],
    ["qemu-agent-command", "shutoff", '{"execute":"guest-ping"}'], ["domtime", "shutoff"],
    ["domhostname", "shutoff"], ["domifaddr", "shutoff", "--source", "agent"], ["guestinfo", "shutoff"],
    ["set-user-password", "shutoff", "root", "x"], ["domfsfreeze", "shutoff"],
    ["set-lifecycle-action", "shutoff", "poweroff", "restart", "--config"],
    ["set-lifecycle-action", "noagent", "reboot", "destroy"],
    ["qemu-monitor-event", "--domain", "noagent", "--timeout", "1"],
]


def test_agent_reads_print_what_virsh_prints(guests: Guests) -> None:
    guests.compare_all(AGENT_READS)
    rc, out, _ = guests.compare("guestinfo", "agentguest", "--hostname")
    assert rc == 0 and out == "hostname            : virt-agent-guest\n\n"
    rc, out, _ = guests.compare("domifaddr", "agentguest", "--source", "agent", "--interface", "lo")
    assert rc == 0 and "127.0.0.1/8" in out
    # --async (timeout NOWAIT): libvirt gives up on the reply at once, whatever the agent does.
    rc, out, err = guests.compare("qemu-agent-command", "agentguest", "--async", '{"execute":"guest-ping"}')
    assert rc == 1 and "error: Guest agent is not responding: Guest agent not available for now" in err


def test_agent_changes_print_what_virsh_prints(guests: Guests) -> None:
    """Commands that change the guest, each pair in turn (virsh's run, then virt's)."""
    results: dict[str, tuple[int, str, str]] = {}
    for args in (["domtime", "agentguest", "--time", "1700000000"], ["domtime", "agentguest", "--sync"],
                 ["domtime", "agentguest", "--now"], ["set-user-password", "agentguest", "root", "s3cret"],
                 ["set-user-password", "agentguest", "root", "$1$abcdefgh$0123456789abcdefghijk.", "--encrypted"],
                 ["set-user-password", "agentguest", "nosuchuser", "x"],
                 ["domfsfreeze", "agentguest"], ["domfsthaw", "agentguest"],
                 ["qemu-monitor-command", "agentguest", "--pass-fds", "0,x", "getfd"],
                 ["qemu-monitor-command", "agentguest", "--pass-fds", "0", '{"execute":"query-status"}']):
        results[" ".join(args)] = guests.compare(*args)
    assert results["domtime agentguest --time 1700000000"] == (0, "\n", "")
    assert results["set-user-password agentguest root s3cret"] == \
        (0, "Password set successfully for root in agentguest\n", "")
    assert results['qemu-monitor-command agentguest --pass-fds 0 {"execute":"query-status"}'][0] == 0
    assert results["domfsfreeze agentguest"] == (0, "Froze 0 filesystem(s)\n\n", "")  # the initramfs: nothing to freeze
    seconds, _ = guests.conn.lookup_domain("agentguest").get_time(0)
    assert abs(seconds - time.time()) < 60  # --now, from both


def test_errors_without_an_agent_are_virsh_errors(guests: Guests) -> None:
    guests.compare_all(NO_AGENT)
    rc, _, err = guests.compare("domtime", "noagent")
    assert rc == 1 and "QEMU guest agent is not configured" in err


def test_monitor_events_print_what_virsh_prints(guests: Guests) -> None:
    """virsh and virt listen at once; the guest is paused and resumed: both print the same QMP events
    (one event is the same message to both, its time included)."""
    uri = guests.uri
    commands = {"virsh": [str(VIRSH)], "virt": [sys.executable, "-m", "virt.core.cli"]}
    lines = [["qemu-monitor-event", "--domain", "noagent", "--event", "STOP", "--timeout", "20"],
             ["qemu-monitor-event", "--domain", "noagent", "--event", "^RES.*E$", "--regex", "--loop", "--timeout", "8"],
             ["qemu-monitor-event", "--event", "resume", "--no-case", "--pretty", "--timeout", "20"]]
    procs = {(who, i): subprocess.Popen([*prog, "-c", uri, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, stdin=subprocess.DEVNULL)
             for who, prog in commands.items() for i, args in enumerate(lines)}
    try:
        deadline = time.monotonic() + 30  # until every listener has registered (a fixed wait failed under load)
        while guests.monitor_event_listeners() < len(procs):
            assert time.monotonic() < deadline, "not every qemu-monitor-event listener registered"
            time.sleep(0.1)
        dom = guests.conn.lookup_domain("noagent")
        dom.suspend()
        dom.resume()
        results = {key: proc.communicate(timeout=60) + (proc.returncode,) for key, proc in procs.items()}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for i in range(len(lines)):
        assert results[("virt", i)] == results[("virsh", i)], lines[i]
    out, _, rc = results[("virt", 0)]
    if rc == 0:  # the driver reports QMP events
        assert out.startswith("event STOP at ") and "for domain 'noagent': <null>" in out and "events received: 1\n" in out
        assert "event RESUME" in results[("virt", 1)][0]
