"""Real containers through the public API: namespaces, cgroups, network, life cycle, events, reattach."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from virt.core.enums import DomainEventID, DomainEventType, DomainState
from virt.core.events import Event
from virt.util import linux
from virt.util.cgroup import Layout
from virt.util.errors import OperationInvalidError, VirtError

sys.path.insert(0, str(Path(__file__).parent))  # the helpers beside this file
from lxc_env import OUT_MOUNT, LxcEnv, wait_for

pytestmark = [pytest.mark.root, pytest.mark.slow]

REPORT = (f"echo $$ > {OUT_MOUNT}/pid; hostname > {OUT_MOUNT}/hostname; cat /proc/self/cgroup > {OUT_MOUNT}/cgroup; "
          f"ls /dev > {OUT_MOUNT}/dev; cat /proc/self/status > {OUT_MOUNT}/status; "
          f"cat /sys/fs/cgroup/*/cgroup.procs > {OUT_MOUNT}/procs; ")
#: An init that stays up and exits on SIGTERM (pid 1 only receives the signals it handles).
IDLE = "trap 'exit 0' TERM; while :; do sleep 0.05; done"


def runtime(conn: Any, name: str) -> dict[str, Any]:
    drv = conn._hv
    ref = conn.lookup_domain(name).ref
    return dict(drv._obj(ref).runtime)


def host_mounts() -> str:
    return Path("/proc/self/mountinfo").read_text()


def test_init_is_pid1_with_hostname_and_own_cgroup(env: LxcEnv) -> None:
    conn = env.connect()
    name = env.name()
    dom = conn.create_domain(env.xml(name, REPORT + IDLE))
    assert env.read("pid").strip() == "1"
    assert env.read("hostname").strip() == name
    # Inside a cgroup namespace every hierarchy's root is the container's own group.
    inside = env.read("cgroup").splitlines()
    assert inside and all(line.rsplit(":", 1)[1] == "/" for line in inside)
    init = runtime(conn, name)["init_pid"]
    host_view = Path(f"/proc/{init}/cgroup").read_text().splitlines()
    for line in host_view:
        assert line.rsplit(":", 1)[1].endswith(f"/machine/{name}.libvirt-lxc"), line
    # /sys/fs/cgroup shows the container's own group as each hierarchy's root: only its processes.
    procs = set(env.read("procs").split())
    assert "1" in procs and len(procs) <= 3
    assert set(env.read("dev").split()) >= {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts",
                                             "console", "shm"}
    for ns in ("pid", "mnt", "uts", "ipc", "cgroup"):
        assert os.readlink(f"/proc/{init}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), ns
    # No interface and no <privnet/>: the container shares the host's network, as with libvirt.
    assert os.readlink(f"/proc/{init}/ns/net") == os.readlink("/proc/self/ns/net")
    assert dom.id() == runtime(conn, name)["pid"]
    assert dom.state()[0] == DomainState.RUNNING
    dom.destroy()


def test_default_capabilities_and_read_only_proc_sys(env: LxcEnv) -> None:
    conn = env.connect()
    name = env.name()
    script = (REPORT + f"if echo 1 > /proc/sys/kernel/printk_ratelimit 2>/dev/null; then echo rw; else echo ro; fi "
              f"> {OUT_MOUNT}/procsys; if mknod /dev/shm/node c 1 3 2>/dev/null; then echo yes; else echo no; fi "
              f"> {OUT_MOUNT}/mknod; " + IDLE)
    conn.create_domain(env.xml(name, script))
    status = dict(line.split(":\t", 1) for line in env.read("status").splitlines() if ":\t" in line)
    bounding = int(status["CapBnd"], 16)
    for cap in ("sys_module", "sys_time", "mknod", "audit_control", "mac_admin"):
        assert not bounding >> linux.capability_number(cap) & 1, cap
    assert bounding >> linux.capability_number("sys_admin") & 1
    assert env.read("procsys").strip() == "ro"
    assert env.read("mknod").strip() == "no"


def test_memory_limit_is_enforced(env: LxcEnv) -> None:
    conn = env.connect()
    name = env.name()
    memtune = ("<memtune><hard_limit unit='MiB'>48</hard_limit>"
               "<swap_hard_limit unit='MiB'>48</swap_hard_limit></memtune>")
    alloc = "python3 -c 'b = bytearray({} << 20); b[::4096] = bytes(len(b[::4096]))'"
    script = (f"{alloc.format(8)}; echo $? > {OUT_MOUNT}/small; {alloc.format(256)}; echo $? > {OUT_MOUNT}/big; "
              + IDLE)
    conn.create_domain(env.xml(name, script, extra=memtune, memory_mib=64))
    assert env.read("small", 30).strip() == "0"
    assert env.read("big", 30).strip() == str(128 + signal.SIGKILL)  # killed by the group's OOM killer
    group_memory = Path(runtime(conn, name)["cgroup"]["memory"])
    assert int((group_memory / "memory.limit_in_bytes").read_text()) == 48 << 20
    info = conn.lookup_domain(name).info()
    assert info.max_mem == 64 * 1024 and info.cpu_time > 0


def _in_netns(netns: str, fn: Any) -> Any:
    """Run ``fn`` in a forked child that joined ``netns`` (setns is per thread: keep it off pytest's)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(r)
        try:
            fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
            linux.setns(fd, linux.CLONE_NEWNET)
            out = json.dumps(["ok", fn()])
        except BaseException:
            out = json.dumps(["error", traceback.format_exc()])
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    status, value = json.loads(data)
    assert status == "ok", value
    return value


@pytest.fixture
def bridge_netns() -> Any:
    netns = f"virtlxc-{uuid.uuid4().hex[:6]}"
    ip = ["ip", "-n", netns]
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        subprocess.run([*ip, "link", "add", "vbr0", "type", "bridge"], check=True)
        subprocess.run([*ip, "addr", "add", "10.77.0.1/24", "dev", "vbr0"], check=True)
        subprocess.run([*ip, "link", "set", "vbr0", "up"], check=True)
        subprocess.run([*ip, "link", "set", "lo", "up"], check=True)
        yield netns
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)


def test_interface_in_a_bridge(env: LxcEnv, bridge_netns: str) -> None:
    name = env.name()
    iface = ("<interface type='bridge'><mac address='52:54:00:77:00:02'/><source bridge='vbr0'/>"
             "<ip address='10.77.0.2' prefix='24'/><route address='0.0.0.0' gateway='10.77.0.1'/>"
             "<guest dev='eth7'/></interface>")
    client = ("python3 -c \"import socket; s = socket.create_connection(('10.77.0.1', 7777), 5); "
              "s.sendall(b'hello from container')\"")
    script = (f"ip -o addr show > {OUT_MOUNT}/addr; ip route > {OUT_MOUNT}/route; {client}; "
              f"echo $? > {OUT_MOUNT}/client; " + IDLE)

    def scenario() -> dict[str, Any]:
        listener = socket.create_server(("10.77.0.1", 7777))
        listener.settimeout(20)
        conn = env.connect()
        dom = conn.create_domain(env.xml(name, script, devices=iface))
        try:
            return _bridge_checks(env, dom, listener)
        finally:
            if name in [d.name() for d in conn.list_all_domains()]:
                dom.destroy()
            conn.close()

    result = _in_netns(bridge_netns, scenario)
    assert result["message"] == "hello from container"
    assert "master vbr0" in result["master"]
    assert result["mac"] == "fe:54:00:77:00:02"
    assert result["gone"]
    addr = env.read("addr")
    assert re.search(r"eth7\s+inet 10\.77\.0\.2/24", addr), addr
    assert "default via 10.77.0.1 dev eth7" in env.read("route")
    assert env.read("client").strip() == "0"


def _bridge_checks(env: LxcEnv, dom: Any, listener: socket.socket) -> dict[str, Any]:
    peer, _ = listener.accept()
    message = peer.recv(100).decode()
    env.read("client")  # the client is done before the container goes
    veth = dom.xml_desc().split("<target dev='")[1].split("'")[0]
    master = subprocess.run(["ip", "-o", "link", "show", "dev", veth], capture_output=True, text=True,
                            check=True).stdout
    mac = master.split("link/ether ")[1].split()[0]
    dom.destroy()
    gone = subprocess.run(["ip", "link", "show", "dev", veth], capture_output=True, check=False).returncode != 0
    return {"message": message, "master": master, "veth": veth, "mac": mac, "gone": gone}


def test_interface_bandwidth_on_the_host_veth(env: LxcEnv, bridge_netns: str) -> None:
    """<bandwidth> shapes the host end of the container's veth (inbound on its egress); nothing of it,
    not even the ifb standing in for a missing police action, outlives the container."""
    from virt.util.tc import Tc, ifb_name

    name = env.name()
    iface = ("<interface type='bridge'><mac address='52:54:00:77:00:05'/><source bridge='vbr0'/>"
             "<bandwidth><inbound average='1000' peak='2000' burst='256'/><outbound average='500'/></bandwidth>"
             "</interface>")

    def scenario() -> dict[str, Any]:
        conn = env.connect()
        dom = conn.create_domain(env.xml(name, IDLE, devices=iface))
        try:
            veth = dom.xml_desc().split("<target dev='")[1].split("'")[0]
            tc = Tc()
            ifb = ifb_name(veth)
            ifb_up = Path(f"/sys/class/net/{ifb}").exists()
            shaped = {"classes": tc.htb_classes(veth), "kinds": sorted({q["kind"] for q in tc.show("qdisc", veth)}),
                      "ifb_rate": tc.htb_classes(ifb)["1:1"]["rate"] if ifb_up else None}
            dom.destroy()
            links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
            return {**shaped, "veth_left": f" {veth}@" in links or f" {veth}:" in links, "ifb_left": ifb in links}
        finally:
            if name in [d.name() for d in conn.list_all_domains()]:
                dom.destroy()
            conn.close()

    result = _in_netns(bridge_netns, scenario)
    # 1000 KiB/s in tc's kbps is 8 Mbit/s; peak 2000 is the class's ceil
    assert result["classes"]["1:1"] == {"rate": 8_000_000, "ceil": 16_000_000}
    assert {"htb", "ingress"} <= set(result["kinds"])
    assert result["ifb_rate"] in (None, 4_000_000)  # outbound policed, or shaped on an ifb
    assert not result["veth_left"] and not result["ifb_left"]


def test_interfaces_on_a_network_get_ports_with_their_bandwidth(env: LxcEnv, bridge_netns: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """<interface type='network'>: one network port per interface carrying its <bandwidth> (a floor is
    a class on the network's bridge; a port group's bandwidth shapes an interface without its own);
    the ports are deleted when the container stops."""
    from virt.core.connection import Connection
    from virt.util.tc import Tc

    monkeypatch.setenv("VIRT_NETWORK_NETNS", bridge_netns)
    name = env.name()
    network = f"vq-{uuid.uuid4().hex[:6]}"
    ifaces = (f"<interface type='network'><mac address='52:54:00:78:00:05'/><source network='{network}'/>"
              "<bandwidth><inbound average='1000' floor='200'/></bandwidth></interface>"
              f"<interface type='network'><mac address='52:54:00:78:00:06'/>"
              f"<source network='{network}' portgroup='slow'/></interface>")

    def scenario() -> dict[str, Any]:
        netconn = Connection(env.uri)
        net = netconn.create_network(
            f"<network><name>{network}</name><bridge name='vlbr8'/><bandwidth><inbound average='10000'/>"
            "</bandwidth><portgroup name='slow'><bandwidth><inbound average='300'/></bandwidth></portgroup>"
            "</network>")
        conn = env.connect()
        try:
            dom = conn.create_domain(env.xml(name, IDLE, devices=ifaces))
            try:
                live = dom.xml_desc()
                veths = re.findall(r"<target dev='([^']+)'", live)
                ports = [p.uuid for p in netconn.call("network_list_all_ports", net.ref, 0)]
                tc = Tc()
                result = {"ports": ports, "live": live, "veths": [tc.htb_classes(v).get("1:1") for v in veths],
                          "bridge": tc.htb_classes("vlbr8")}
                dom.destroy()
                result["ports_after"] = [p.uuid for p in netconn.call("network_list_all_ports", net.ref, 0)]
                result["bridge_after"] = tc.htb_classes("vlbr8")
                return result
            finally:
                if name in [d.name() for d in conn.list_all_domains()]:
                    dom.destroy()
        finally:
            conn.close()
            net.destroy()
            netconn.close()

    result = _in_netns(bridge_netns, scenario)
    assert len(result["ports"]) == 2 and all(f"portid='{p}'" in result["live"] for p in result["ports"])
    assert [v["rate"] for v in result["veths"]] == [8_000_000, 2_400_000]  # its own; the port group's
    assert result["bridge"]["1:3"]["rate"] == 1_600_000  # the floor, guaranteed on the bridge
    assert result["ports_after"] == [] and "1:3" not in result["bridge_after"]


def test_interface_on_a_virtual_network(env: LxcEnv, bridge_netns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """<interface type='network'>: the driver asks the network driver (same URI, same root) for the bridge."""
    from virt.core.connection import Connection

    monkeypatch.setenv("VIRT_NETWORK_NETNS", bridge_netns)  # its plumbing stays in the test's namespace
    name = env.name()
    network = f"vn-{uuid.uuid4().hex[:6]}"
    iface = (f"<interface type='network'><mac address='52:54:00:78:00:02'/><source network='{network}'/>"
             "<guest dev='eth3'/></interface>")
    script = f"ip -o link > {OUT_MOUNT}/links; " + IDLE

    def scenario() -> dict[str, Any]:
        netconn = Connection(env.uri)  # the installed plugins: virt-network serves the lxc URI's networks
        net = netconn.create_network(f"<network><name>{network}</name><bridge name='vlbr7'/></network>")
        conn = env.connect()
        try:
            dom = conn.create_domain(env.xml(name, script, devices=iface))
            try:
                env.read("links")
                veth = dom.xml_desc().split("<target dev='")[1].split("'")[0]
                ports = subprocess.run(["ip", "-o", "link", "show", "master", "vlbr7"], capture_output=True,
                                       text=True, check=True).stdout
                dom.destroy()
                after = subprocess.run(["ip", "-o", "link", "show", "master", "vlbr7"], capture_output=True,
                                       text=True, check=True).stdout
                return {"bridge": net.bridge_name(), "veth": veth, "ports": ports, "after": after}
            finally:
                if name in [d.name() for d in conn.list_all_domains()]:
                    dom.destroy()
        finally:
            conn.close()
            net.destroy()
            netconn.close()

    result = _in_netns(bridge_netns, scenario)
    assert result["bridge"] == "vlbr7"
    assert f" {result['veth']}@" in result["ports"], result["ports"]
    assert result["veth"] not in result["after"]
    assert re.search(r"eth3.*52:54:00:78:00:02", env.read("links"))
    assert subprocess.run(["ip", "link", "show", "dev", "vlbr7"], capture_output=True, check=False).returncode != 0


def test_destroy_leaves_no_process_mount_or_cgroup(env: LxcEnv) -> None:
    conn = env.connect()
    name = env.name()
    devices = "<filesystem type='ram'><source usage='1024' units='KiB'/><target dir='/media'/></filesystem>"
    dom = conn.create_domain(env.xml(name, f"sleep 1000 & sleep 1000 & echo up > {OUT_MOUNT}/up; " + IDLE,
                                     devices=devices))
    env.read("up")
    rt = runtime(conn, name)
    group_dirs = [Path(p) for p in rt["cgroup"].values()]
    pids = [int(p) for p in (group_dirs[0] / "cgroup.procs").read_text().split()]
    assert len(pids) >= 3
    dom.destroy()
    for pid in [*pids, rt["pid"], rt["init_pid"]]:
        assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z", pid
    assert not any(d.exists() for d in group_dirs)
    assert name not in host_mounts()
    run_dir = env.root / "run" / "lxc"
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(name)) == [f"{name}.exit", f"{name}.lock"]
    with pytest.raises(VirtError):
        conn.lookup_domain(name)  # a transient domain is gone with its container


def test_persistent_life_cycle_with_events(env: LxcEnv) -> None:
    conn = env.connect()
    events: list[tuple[int, int]] = []
    got = threading.Event()

    def on_event(ev: Event) -> None:
        events.append((ev.payload[0], ev.payload[1]))
        got.set()

    conn.domain_event_register(DomainEventID.LIFECYCLE, on_event)
    name = env.name()
    dom = conn.define_domain(env.xml(name, f"echo $$ > {OUT_MOUNT}/boot; " + IDLE))
    assert dom.is_persistent() and not dom.is_active()
    assert (env.root / "etc" / "lxc" / f"{name}.xml").exists()
    dom.set_autostart(True)
    assert dom.get_autostart() and (env.root / "etc" / "lxc" / "autostart" / f"{name}.xml").is_symlink()
    assert name in conn.call("connect_list_defined_domains", -1)
    dom.create()
    env.read("boot")
    assert dom.id() in conn.call("connect_list_domains", -1) and name not in conn.call("connect_list_defined_domains", -1)
    dom.shutdown()  # SIGTERM to init, which exits: the controller notices, the monitor reports
    wait_for(lambda: not dom.is_active(), 10, "shutdown")
    assert dom.state() == (DomainState.SHUTOFF, 1)  # shutdown
    wait_for(lambda: (DomainEventType.STOPPED, 0) in events, 10, "stopped event")
    assert events[:3] == [(DomainEventType.DEFINED, 0), (DomainEventType.STARTED, 0), (DomainEventType.STOPPED, 0)]
    xml = dom.xml_desc()
    assert "id=" not in xml.split(">")[0] and "<source path" not in xml
    dom.undefine()
    assert not (env.root / "etc" / "lxc" / f"{name}.xml").exists()
    conn.events.flush()
    assert events[-1] == (DomainEventType.UNDEFINED, 0)


def test_suspend_and_resume_freeze_the_container(env: LxcEnv) -> None:
    conn = env.connect()
    name = env.name()
    counter = env.out / "n"
    script = f"n=0; trap 'exit 0' TERM; while :; do n=$((n+1)); echo $n > {OUT_MOUNT}/n.new; mv {OUT_MOUNT}/n.new {OUT_MOUNT}/n; sleep 0.01; done"
    dom = conn.create_domain(env.xml(name, script))
    wait_for(counter.exists, 10, "counter")
    dom.suspend()
    assert dom.state() == (DomainState.PAUSED, 1)
    time.sleep(0.1)
    frozen = counter.read_text()
    time.sleep(0.3)
    assert counter.read_text() == frozen
    dom.resume()
    assert dom.state()[0] == DomainState.RUNNING
    wait_for(lambda: counter.read_text() != frozen, 5, "progress after resume")
    with pytest.raises(OperationInvalidError):
        dom.resume()
    dom.suspend()
    dom.destroy()  # a frozen container is thawed to die


def test_reboot_restarts_the_container(env: LxcEnv) -> None:
    conn = env.connect()
    reboots = threading.Event()
    conn.domain_event_register(DomainEventID.REBOOT, lambda ev: reboots.set())
    name = env.name()
    # reboot(2) in a pid namespace ends its init with SIGHUP, which the controller takes for a reboot.
    reboot = "python3 -c 'import ctypes; ctypes.CDLL(None).reboot(0x01234567)'"
    script = f"echo boot >> {OUT_MOUNT}/boots; trap \"{reboot}\" HUP; " + IDLE
    dom = conn.create_domain(env.xml(name, script))
    wait_for(lambda: (env.out / "boots").exists(), 10, "first boot")
    first_init = runtime(conn, name)["init_pid"]
    dom.reboot()
    wait_for(lambda: (env.out / "boots").read_text().count("boot") == 2, 10, "second boot")
    assert wait_for(lambda: runtime(conn, name)["init_pid"] != first_init, 5, "new init")
    assert dom.is_active()
    assert reboots.wait(5)
    dom.destroy()


def test_driver_restart_reattaches(env: LxcEnv) -> None:
    name = env.name()
    xml = env.xml(name, f"echo up > {OUT_MOUNT}/up; " + IDLE)
    code = ("import sys; from virt.core.connection import Connection; from virt.core.plugin import get_plugin_manager;"
            "from virt.core.registry import build_registry; from virt.driver.lxc import plugin;"
            "reg = build_registry(get_plugin_manager(False, (plugin,)));"
            f"c = Connection({env.uri!r}, registry=reg); d = c.create_domain(sys.stdin.read()); print(d.id())")
    # Another process starts the container and exits: the container must not depend on it.
    started = subprocess.run([sys.executable, "-c", code], input=xml, capture_output=True, text=True, timeout=60,
                             check=True)
    controller_pid = int(started.stdout.strip())
    env.read("up")
    conn = env.connect()
    dom = conn.lookup_domain(name)
    assert dom.is_active() and dom.id() == controller_pid
    assert dom.info().state == DomainState.RUNNING
    dom.destroy()
    assert not Path(f"/proc/{controller_pid}/status").exists() or "zombie" in Path(
        f"/proc/{controller_pid}/status").read_text()


def test_container_whose_controller_died_is_cleaned_up(env: LxcEnv) -> None:
    conn = env.connect()
    name = env.name()
    dom = conn.define_domain(env.xml(name, f"echo up > {OUT_MOUNT}/up; " + IDLE))
    dom.create()
    env.read("up")
    rt = runtime(conn, name)
    os.kill(rt["pid"], signal.SIGKILL)  # the controller vanishes without a word
    # Its memory goes before its locks as it exits: wait for the driver to see it gone.
    wait_for(lambda: not dom.is_active(), 5, "controller death")
    assert dom.state() == (DomainState.SHUTOFF, 3)  # crashed
    assert not Path(f"/proc/{rt['init_pid']}/cmdline").exists() or not Path(
        f"/proc/{rt['init_pid']}/cmdline").read_bytes()
    assert not any(Path(p).exists() for p in rt["cgroup"].values())


def test_autostart_once_per_boot(env: LxcEnv) -> None:
    from virt.driver.lxc.driver import LxcDriver

    conn = env.connect()
    name = env.name()
    dom = conn.define_domain(env.xml(name, f"echo up > {OUT_MOUNT}/up; " + IDLE))
    dom.set_autostart(True)
    marker = env.root / "run" / "lxc" / "autostarted"
    marker.unlink()  # as after a reboot of the host
    LxcDriver._autostarted.clear()
    again = env.connect()
    assert again.lookup_domain(name).is_active()
    env.read("up")
    again.lookup_domain(name).destroy()
    LxcDriver._autostarted.clear()
    assert not env.connect().lookup_domain(name).is_active()  # same boot: not started twice


def test_user_namespace_from_idmap(env: LxcEnv) -> None:
    conn = env.connect()
    name = env.name()
    idmap = ("<idmap><uid start='0' target='100000' count='65536'/>"
             "<gid start='0' target='100000' count='65536'/></idmap>")
    script = f"cat /proc/self/uid_map > {OUT_MOUNT}/uidmap; id -u > {OUT_MOUNT}/uid; " + IDLE
    conn.create_domain(env.xml(name, script, extra=idmap))
    assert env.read("uidmap").split() == ["0", "100000", "65536"]
    assert env.read("uid").strip() == "0"
    init = runtime(conn, name)["init_pid"]
    uid_line = next(line for line in Path(f"/proc/{init}/status").read_text().splitlines() if line.startswith("Uid:"))
    assert uid_line.split()[1] == "100000"
    assert os.readlink(f"/proc/{init}/ns/user") != os.readlink("/proc/self/ns/user")


def test_console_is_relayed(env: LxcEnv) -> None:
    conn = env.connect()
    name = env.name()
    dom = conn.create_domain(env.xml(name, "trap 'exit 0' TERM; while :; do echo console-says-hi; sleep 0.05; done"))
    fd = dom.open_console(None, 0)
    try:
        data = b""
        deadline = time.monotonic() + 10
        while b"console-says-hi" not in data and time.monotonic() < deadline:
            data += os.read(fd, 1024)
        assert b"console-says-hi" in data
    finally:
        os.close(fd)
    assert "<source path='/dev/pts/" in dom.xml_desc()


def test_errors(env: LxcEnv) -> None:
    conn = env.connect()
    with pytest.raises(VirtError, match="could not find capabilities"):
        conn.define_domain("<domain type='kvm'><name>x</name><memory>1024</memory><os><type>hvm</type></os></domain>")
    name = env.name()
    dom = conn.create_domain(env.xml(name, IDLE, out=False))
    with pytest.raises(VirtError, match="already exists with uuid"):
        conn.create_domain(env.xml(name, IDLE, out=False))
    dom.destroy()
    with pytest.raises(VirtError, match="cannot execute binary /nonexistent"):
        conn.create_domain(env.xml(env.name(), IDLE, out=False).replace("/bin/sh", "/nonexistent"))
    assert Layout.detect() is not None


def _make_rootfs(root: Path, programs: tuple[str, ...] = ("sh", "cat", "ls", "sleep", "id", "env", "pwd")) -> None:
    """A root filesystem with a few host programs and the libraries they load (from ldd)."""
    import shutil

    for program in programs:
        source = Path(shutil.which(program) or f"/bin/{program}").resolve()
        needed = [source]
        for line in subprocess.run(["ldd", str(source)], capture_output=True, text=True, check=False).stdout.splitlines():
            path = line.split("=>")[-1].split("(")[0].strip()
            if path.startswith("/"):
                needed.append(Path(path))
        (root / "bin").mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, root / "bin" / program)
        for lib in needed[1:]:
            target = root / lib.relative_to("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                shutil.copy2(lib.resolve(), target)
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")


def test_root_filesystem_with_pivot_root(env: LxcEnv) -> None:
    conn = env.connect()
    name = env.name()
    rootfs = env.base / "rootfs"
    _make_rootfs(rootfs)
    tag = uuid.uuid4().hex
    devices = (f"<filesystem type='mount'><source dir='{rootfs}'/><target dir='/'/><readonly/></filesystem>"
               f"<filesystem type='ram'><source usage='2048' units='KiB'/><target dir='/tmp'/></filesystem>"
               "<hostdev mode='capabilities' type='misc'><source><char>/dev/net/tun</char></source></hostdev>")
    script = ("ls / > /out/rootls; cat /proc/self/mountinfo > /out/mounts; "
              "if echo x > /written 2>/dev/null; then echo rw; else echo ro; fi > /out/rootrw; "
              "echo x > /tmp/ok && echo tmp-rw > /out/tmp; ls -l /dev/net/tun > /out/tun; "
              "echo \"$FOO $container_uuid\" > /out/env; pwd > /out/pwd; id -u > /out/uid; " + IDLE)
    xml = (f"<domain type='lxc'><name>{name}</name><memory unit='MiB'>64</memory>"
           f"<os><type>exe</type><init>/bin/sh</init><initarg>-c</initarg><initarg>{escape(script)}</initarg>"
           f"<initenv name='FOO'>{tag}</initenv><initdir>/bin</initdir></os><devices>{devices}"
           f"<filesystem type='mount'><source dir='{env.out}'/><target dir='/out'/></filesystem>"
           "<console type='pty'/></devices></domain>")
    dom = conn.create_domain(xml)
    assert set(env.read("rootls").split()) == {"bin", "dev", "etc", "lib", "lib64", "out", "proc", "sys", "tmp"} \
        - ({"lib64"} if not (rootfs / "lib64").exists() else set())
    mounts = env.read("mounts")
    assert "/work" not in mounts and " /out " in mounts
    assert env.read("rootrw").strip() == "ro"
    assert env.read("tmp").strip() == "tmp-rw"
    assert env.read("tun").startswith("crw")
    assert env.read("env").split() == [tag, dom.uuid()]
    assert env.read("pwd").strip() == "/bin"
    assert env.read("uid").strip() == "0"
    dom.destroy()
    assert not (rootfs / "written").exists()


def test_cgroup_tunables_from_the_definition(env: LxcEnv) -> None:
    conn = env.connect()
    name = env.name()
    extra = ("<memtune><hard_limit unit='MiB'>100</hard_limit><soft_limit unit='MiB'>50</soft_limit></memtune>"
             "<vcpu cpuset='0'>1</vcpu><cputune><shares>512</shares><period>50000</period><quota>20000</quota></cputune>")
    dom = conn.create_domain(env.xml(name, IDLE, extra=extra, out=False))
    group = {k: Path(v) for k, v in runtime(conn, name)["cgroup"].items()}

    def value(controller: str, file: str) -> str:
        directory = next(d for k, d in group.items() if controller in k.split(","))
        return (directory / file).read_text().strip()

    assert value("memory", "memory.limit_in_bytes") == str(100 << 20)
    assert value("memory", "memory.soft_limit_in_bytes") == str(50 << 20)
    assert value("cpu", "cpu.shares") == "512"
    assert value("cpu", "cpu.cfs_period_us") == "50000" and value("cpu", "cpu.cfs_quota_us") == "20000"
    assert value("cpuset", "cpuset.cpus") == "0"
    dom.destroy()


def test_ethernet_veth_and_macvlan(env: LxcEnv, bridge_netns: str) -> None:
    subprocess.run(["ip", "-n", bridge_netns, "link", "add", "uplink0", "type", "veth", "peer", "name", "uplink1"],
                   check=True)
    subprocess.run(["ip", "-n", bridge_netns, "link", "set", "uplink0", "up"], check=True)
    name = env.name()
    ifaces = ("<interface type='ethernet'><mac address='52:54:00:aa:00:01'/><ip address='10.9.0.2' prefix='24'/>"
              "</interface><interface type='direct'><mac address='52:54:00:aa:00:02'/>"
              "<source dev='uplink0' mode='bridge'/><guest dev='mv0'/></interface>")
    script = f"ip -o link > {OUT_MOUNT}/links; ip -o addr > {OUT_MOUNT}/addrs; " + IDLE

    def scenario() -> dict[str, Any]:
        conn = env.connect()
        dom = conn.create_domain(env.xml(name, script, devices=ifaces))
        try:
            env.read("addrs")
            xml = dom.xml_desc()
            host_links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
            dom.destroy()
            after = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
            return {"xml": xml, "host": host_links, "after": after}
        finally:
            if name in [d.name() for d in conn.list_all_domains()]:
                dom.destroy()
            conn.close()

    result = _in_netns(bridge_netns, scenario)
    links, addrs = env.read("links"), env.read("addrs")
    assert re.search(r"eth0.*52:54:00:aa:00:01", links) and "10.9.0.2/24" in addrs
    assert re.search(r"mv0@.*52:54:00:aa:00:02", links)
    veth = result["xml"].split("<target dev='")[1].split("'")[0]
    assert f" {veth}@" in result["host"] and "fe:54:00:aa:00:01" in result["host"]
    assert f" {veth}@" not in result["after"] and "uplink0" in result["after"]


def test_device_access_is_limited_by_the_devices_cgroup(env: LxcEnv) -> None:
    if Layout.detect().version("devices") != 1:
        pytest.skip("device lists need the v1 devices controller (v2 uses BPF programs)")
    conn = env.connect()
    name = env.name()
    # Keep mknod, so only the cgroup stands between the container and /dev/mem.
    extra = "<features><capabilities policy='allow'/></features>"
    # loop-control (10:237): any root may open it, unless the cgroup forbids the device.
    script = (f"if mknod /dev/testdev c 10 237 2>/dev/null; then (exec 3< /dev/testdev) 2>/dev/null "
              f"&& echo open || echo denied; else echo denied; fi > {OUT_MOUNT}/mem; "
              f"mknod /dev/testzero c 1 5 && head -c1 /dev/testzero > /dev/null && echo ok > {OUT_MOUNT}/zero; "
              f"cat /proc/self/status > {OUT_MOUNT}/status; " + IDLE)
    conn.create_domain(env.xml(name, script, extra=extra))
    status = dict(line.split(":\t", 1) for line in env.read("status").splitlines() if ":\t" in line)
    assert int(status["CapBnd"], 16) >> linux.capability_number("mknod") & 1
    assert env.read("mem").strip() == "denied"
    assert env.read("zero").strip() == "ok"
    devices = Path(runtime(conn, name)["cgroup"]["devices"])
    assert "c 1:3 rwm" in (devices / "devices.list").read_text()


def test_create_with_files_passes_descriptors_to_init(env: LxcEnv) -> None:
    """virDomainCreateXMLWithFiles / virDomainCreateWithFiles: init gets the files as 3, 4... with
    LISTEN_FDS and LISTEN_PID=1 (systemd's socket activation), as libvirt's LXC driver passes them."""
    conn = env.connect()
    # each file appears whole (written aside, then renamed): env.read takes the first complete line
    script = (f"echo $LISTEN_PID $LISTEN_FDS > {OUT_MOUNT}/listen; cat <&3 > {OUT_MOUNT}/three; "
              f"{{ cat <&4; echo done; }} > {OUT_MOUNT}/t && mv {OUT_MOUNT}/t {OUT_MOUNT}/four; {IDLE}")
    pipes = [os.pipe(), os.pipe()]
    for (_, w), text in zip(pipes, (b"first\n", b"second\n"), strict=True):
        os.write(w, text)
        os.close(w)
    name = env.name()
    try:
        ref = conn.create_domain_with_files(env.xml(name, script), [r for r, _ in pipes]).ref
    finally:
        for r, _ in pipes:
            os.close(r)  # the caller's copies: the container keeps its own
    assert env.read("listen") == "1 2\n"
    assert env.read("three") == "first\n"
    assert env.read("four") == "second\ndone\n"
    conn.lookup_domain(name).destroy()
    # a defined container, started with one file
    dom = conn.define_domain(env.xml(name, f"{{ cat <&3; echo $LISTEN_FDS; }} > {OUT_MOUNT}/t && "
                                           f"mv {OUT_MOUNT}/t {OUT_MOUNT}/again; {IDLE}"))
    r, w = os.pipe()
    os.write(w, b"third\n")
    os.close(w)
    try:
        dom.create_with_files([r])
    finally:
        os.close(r)
    assert env.read("again") == "third\n1\n"
    assert ref.name == name
    dom.destroy()
    dom.undefine()


LIBVIRT_WITH_FILES = """
import os, sys, libvirt
conn = libvirt.open(sys.argv[1])
r, w = os.pipe()
os.write(w, b"through virtd\\n")
os.close(w)
dom = conn.createXMLWithFiles(sys.stdin.read(), [r])
print(dom.name())
"""


def test_create_with_files_from_libvirt_python_through_virtd(env: LxcEnv) -> None:
    """libvirt-python's createXMLWithFiles: the descriptor crosses virtd (CALL_WITH_FDS) to init's fd 3."""
    import asyncio
    import subprocess
    import threading

    from virt.core.remote.server import Server, ServerConfig

    sock = env.base / "virtd-sock"
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Server] = {}

    async def main() -> None:
        holder["server"] = Server(ServerConfig(open_connection=lambda uri, ro: env.connect()))
        await holder["server"].listen_unix(sock, mode=0o777)
        ready.set()
        await holder["server"].serve_forever()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        assert ready.wait(10)
        name = env.name()
        out = subprocess.run(["/usr/bin/python3", "-c", LIBVIRT_WITH_FILES, f"lxc+unix:///?socket={sock}"],
                             input=env.xml(name, f"cat <&3 > {OUT_MOUNT}/via; {IDLE}"), capture_output=True,
                             text=True, timeout=60, check=False)  # fmt: skip
        if "No module named 'libvirt'" in out.stderr:
            pytest.skip("python3-libvirt is not installed")
        assert (out.returncode, out.stdout) == (0, f"{name}\n"), out.stderr
        assert env.read("via") == "through virtd\n"
        env.connect().lookup_domain(name).destroy()
    finally:
        asyncio.run_coroutine_threadsafe(holder["server"].close(), loop).result(10)
        thread.join(10)
        loop.close()
