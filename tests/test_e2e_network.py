"""End to end across distributions: a NAT network started by `virt net-start` inside namespaces the
test makes leases an address to a veth "guest" and NATs it to an "outside" namespace; a qemu guest
runs with a qcow2 volume of a dir pool, plugged into that network."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.root, pytest.mark.slow, pytest.mark.xdist_group("e2e_network")]

SBIN = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
TOOLS = ("ip", "nft", "dnsmasq", "busybox", "sysctl")
QEMU = shutil.which("qemu-system-x86_64", path=SBIN)
QEMU_IMG = shutil.which("qemu-img", path=SBIN)

NET = "e2enat"
POOL = "e2epool"
VOLUME = "disk0.qcow2"
GUEST_MAC = "52:54:00:e2:e0:01"
#: Everything below lives only inside the namespaces the test makes: the NAT network's subnet, and a
#: documentation prefix (RFC 5737) standing in for the outside world.
SUBNET = "192.168.77"
OUTSIDE_NET = "198.51.100"

NETWORK_XML = """<network>
  <name>{name}</name>
  <forward mode='nat'/>
  <bridge name='{bridge}' stp='off'/>
  <ip address='{subnet}.1' netmask='255.255.255.0'>
    <dhcp><range start='{subnet}.10' end='{subnet}.20'/></dhcp>
  </ip>
</network>
"""

DOMAIN_XML = """<domain type='{virt_type}'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <emulator>{emulator}</emulator>
    <disk type='{disk_type}' device='disk'>
      <driver name='qemu' type='qcow2'/>
      {disk_source}
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='{iface_type}'>
      <mac address='{mac}'/>
      {iface_source}
      <model type='virtio'/>
    </interface>
  </devices>
</domain>
"""


def virt_argv() -> list[str]:
    """The `virt` CLI of the running interpreter's environment (dev venv or the nox venv)."""
    beside = Path(sys.executable).with_name("virt")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("virt")
    return [found] if found else [sys.executable, "-m", "virt.core.cli"]


def sh(*argv: str, check: bool = True, env: dict[str, str] | None = None,
       timeout: float = 60) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {res.returncode}\nstdout: {res.stdout}\nstderr: {res.stderr}")
    return res


def stop_pid(pid: int) -> None:
    """SIGTERM, then SIGKILL after a grace period, one process by its pid."""
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
            if not Path(f"/proc/{pid}").exists() or _is_zombie(pid):
                return
            time.sleep(0.05)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


class GuestRefused(Exception):
    """`virt create` refused the guest (its stderr), told apart from a broken network or pool (plain
    assertion errors in their fixtures)."""


class CallUnsupported(Exception):
    """The driver answered a public API call with VIR_ERR_NO_SUPPORT."""


@dataclass
class Sandbox:
    """A driver root (``qemu:///embed?root=DIR``: networks, pools and guests all live under it) and
    three namespaces: ``host`` where the network driver plumbs (``VIRT_NETWORK_NETNS``) and QEMU
    runs, ``guest`` (a veth peer of the host), ``outside`` (the host's only route out)."""

    tag: str
    root: Path
    host: str
    guest: str
    outside: str

    @property
    def uri(self) -> str:
        return f"qemu:///embed?root={self.root}"

    @property
    def bridge(self) -> str:
        return f"vte{self.tag}"

    @property
    def namespaces(self) -> tuple[str, str, str]:
        return (self.host, self.guest, self.outside)

    def env(self) -> dict[str, str]:
        return {**os.environ, "VIRT_NETWORK_ROOT": str(self.root), "VIRT_STORAGE_ROOT": str(self.root),
                "VIRT_NETWORK_NETNS": self.host}

    def exec(self, ns: str, *argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", ns, *argv, check=check, timeout=timeout)

    def virt(self, *args: str, check: bool = True, in_host: bool = False) -> subprocess.CompletedProcess[str]:
        """Run `virt -c URI ARGS`; ``in_host``: inside the host namespace (QEMU and its taps must sit
        beside the network's bridge)."""
        prefix = ["ip", "netns", "exec", self.host] if in_host else []
        return sh(*prefix, *virt_argv(), "-c", self.uri, *args, check=check, env=self.env())

    def api(self, code: str) -> subprocess.CompletedProcess[str]:
        """Run ``code`` with ``conn = virt.core.open(URI)`` in a Python process in the host namespace."""
        prelude = f"import json, virt.core\nconn = virt.core.open({self.uri!r})\n"
        return sh("ip", "netns", "exec", self.host, sys.executable, "-c", prelude + code, check=False,
                  env=self.env())

    def links(self, ns: str) -> list[dict]:
        return json.loads(self.exec(ns, "ip", "-j", "link", "show").stdout)

    def pids_in(self, ns: str) -> list[int]:
        res = sh("ip", "netns", "pids", ns, check=False)
        return [int(p) for p in res.stdout.split()]

    def pids_of_root(self) -> list[int]:
        """Processes anywhere whose command line names this sandbox's root (a unique temp dir)."""
        found = []
        needle = str(self.root).encode()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != os.getpid():
                try:
                    if needle in (entry / "cmdline").read_bytes():
                        found.append(int(entry.name))
                except OSError:
                    continue
        return found


def _missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t, path=SBIN) is None]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    if os.geteuid() != 0 or _missing_tools():
        pytest.skip(f"needs root and {', '.join(TOOLS)} (missing: {', '.join(_missing_tools()) or 'none'}; "
                    "Debian packages iproute2 nftables dnsmasq-base busybox procps)")
    tag = uuid.uuid4().hex[:6]
    root = Path(tempfile.mkdtemp(prefix=f"virt-e2e-{tag}-"))
    root.chmod(0o755)  # dnsmasq reads its files after dropping privileges
    box = Sandbox(tag, root, f"ve-h-{tag}", f"ve-g-{tag}", f"ve-o-{tag}")
    made: list[str] = []
    try:
        for ns in box.namespaces:
            sh("ip", "netns", "add", ns)
            made.append(ns)
            box.exec(ns, "ip", "link", "set", "lo", "up")
        # guest <-> host: the host end goes into the network's bridge once the network runs
        sh("ip", "-n", box.host, "link", "add", "vgh", "type", "veth", "peer", "name", "vg0", "netns", box.guest)
        # host <-> outside: the host's default route, through a prefix that exists only in here
        sh("ip", "-n", box.host, "link", "add", "voh", "type", "veth", "peer", "name", "vo0", "netns", box.outside)
        box.exec(box.host, "ip", "addr", "add", f"{OUTSIDE_NET}.2/24", "dev", "voh")
        box.exec(box.host, "ip", "link", "set", "voh", "up")
        box.exec(box.outside, "ip", "addr", "add", f"{OUTSIDE_NET}.1/24", "dev", "vo0")
        box.exec(box.outside, "ip", "link", "set", "vo0", "up")
        box.exec(box.host, "ip", "route", "add", "default", "via", f"{OUTSIDE_NET}.1")
        yield box
    finally:
        # whatever still runs in our namespaces or under our root is ours: stop it by pid
        for pid in {p for ns in made for p in box.pids_in(ns)} | set(box.pids_of_root()):
            stop_pid(pid)
        for ns in made:
            sh("ip", "netns", "del", ns, check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def nat_network(sandbox: Sandbox) -> Iterator[str]:
    """NET defined and started through the CLI; destroyed afterwards (its files go with the sandbox)."""
    xml = sandbox.root / "network.xml"
    xml.write_text(NETWORK_XML.format(name=NET, bridge=sandbox.bridge, subnet=SUBNET))
    sandbox.virt("net-define", str(xml))
    try:
        sandbox.virt("net-start", NET)
        yield NET
    finally:
        sandbox.virt("net-destroy", NET, check=False)


@pytest.fixture(scope="module")
def qcow2_volume(sandbox: Sandbox) -> Iterator[Path]:
    """A dir pool in the sandbox and a qcow2 volume made by `vol-create-as`; its path."""
    if QEMU_IMG is None:
        pytest.skip("needs qemu-img (Debian package qemu-utils)")
    images = sandbox.root / "images"
    sandbox.virt("pool-define-as", POOL, "dir", "--target", str(images))
    try:
        sandbox.virt("pool-build", POOL)
        sandbox.virt("pool-start", POOL)
        sandbox.virt("vol-create-as", POOL, VOLUME, "64M", "--format", "qcow2")
        yield Path(sandbox.virt("vol-path", VOLUME, "--pool", POOL).stdout.strip())
    finally:
        sandbox.virt("pool-destroy", POOL, check=False)  # the pool's files go with the sandbox


@pytest.fixture
def udhcpc_script(tmp_path: Path) -> Path:
    """busybox udhcpc's hook: apply the lease inside the guest namespace and note the address."""
    script = tmp_path / "udhcpc.sh"
    script.write_text('#!/bin/sh\n'
                      'case "$1" in\n'
                      '  deconfig) ip -4 addr flush dev "$interface" ;;\n'
                      '  bound|renew)\n'
                      '    ip addr add "$ip/$subnet" dev "$interface"\n'
                      '    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"\n'
                      '    echo "$ip" > "$0.lease" ;;\n'
                      'esac\n')
    script.chmod(0o755)
    return script


def enslaved(box: Sandbox, bridge: str) -> list[dict]:
    return [link for link in box.links(box.host) if link.get("master") == bridge]


# ------------------------------------------------------------------------------------- network
def test_net_start_leases_an_address_and_nats_to_the_outside(sandbox: Sandbox, nat_network: str,
                                                              udhcpc_script: Path) -> None:
    info = sandbox.virt("net-info", nat_network).stdout
    assert {"Active:": "yes", "Bridge:": sandbox.bridge}.items() <= \
        dict(line.split(None, 1) for line in info.splitlines() if line.strip()).items()
    # the plumbing is in the host namespace and nowhere else
    assert sandbox.bridge in {link["ifname"] for link in sandbox.links(sandbox.host)}
    assert sh("ip", "link", "show", sandbox.bridge, check=False).returncode != 0
    tables = json.loads(sandbox.exec(sandbox.host, "nft", "-j", "list", "tables").stdout)["nftables"]
    assert f"virt_net_{sandbox.bridge}" in {t["table"]["name"] for t in tables if "table" in t}

    # DHCP: the veth guest gets an address from the range
    sandbox.exec(sandbox.host, "ip", "link", "set", "vgh", "master", sandbox.bridge)
    sandbox.exec(sandbox.host, "ip", "link", "set", "vgh", "up")
    sandbox.exec(sandbox.guest, "ip", "link", "set", "vg0", "up")
    sandbox.exec(sandbox.guest, "busybox", "udhcpc", "-i", "vg0", "-f", "-q", "-n", "-t", "10", "-T", "1",
                 "-x", "hostname:vethguest", "-s", str(udhcpc_script))
    address = Path(f"{udhcpc_script}.lease").read_text().strip()
    assert address.startswith(f"{SUBNET}.") and 10 <= int(address.rsplit(".", 1)[1]) <= 20

    # the lease is what `virt net-dhcp-leases` lists
    mac = json.loads(sandbox.exec(sandbox.guest, "ip", "-j", "link", "show", "vg0").stdout)[0]["address"]
    deadline = time.monotonic() + 10
    while mac not in (leases := sandbox.virt("net-dhcp-leases", nat_network).stdout) and time.monotonic() < deadline:
        time.sleep(0.2)
    row = next(line.split() for line in leases.splitlines() if mac in line)
    assert row[2:] == [mac, "ipv4", f"{address}/24", "vethguest", f"01:{mac}"], leases  # udhcpc sends client-id 01:MAC

    # the public API sees the same network and lease
    res = sandbox.api(f"net = conn.lookup_network({nat_network!r})\n"
                      "print(json.dumps([net.is_active(), net.bridge_name(), "
                      f"[lease._asdict() for lease in net.dhcp_leases({mac!r})]]))")
    assert res.returncode == 0, res.stderr
    active, bridge, api_leases = json.loads(res.stdout)
    assert (active, bridge) == (1, sandbox.bridge)
    assert [(lease["iface"], lease["mac"], lease["ipaddr"], lease["prefix"], lease["hostname"])
            for lease in api_leases] == [(sandbox.bridge, mac, address, 24, "vethguest")]

    # the gateway answers
    sandbox.exec(sandbox.guest, "busybox", "ping", "-c", "1", "-W", "3", f"{SUBNET}.1")

    # a connection to the outside arrives from the host's outside address: masqueraded
    server = subprocess.Popen(
        ["ip", "netns", "exec", sandbox.outside, sys.executable, "-c",
         f"import socket\ns = socket.create_server(('{OUTSIDE_NET}.1', 7777))\nprint('ready', flush=True)\n"
         "s.settimeout(20)\nc, a = s.accept()\nprint(a[0], flush=True)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        sandbox.exec(sandbox.guest, sys.executable, "-c",
                     f"import socket\nsocket.create_connection(('{OUTSIDE_NET}.1', 7777), timeout=5).close()")
        assert server.stdout.readline().strip() == f"{OUTSIDE_NET}.2"
        server.wait(timeout=10)
    finally:
        stop_pid(server.pid)
        sandbox.exec(sandbox.host, "ip", "link", "set", "vgh", "nomaster", check=False)


# ----------------------------------------------------------------------------------- qemu guest
def test_vol_create_as_makes_a_qcow2_volume_in_the_dir_pool(sandbox: Sandbox, qcow2_volume: Path) -> None:
    assert qcow2_volume.parent == sandbox.root / "images"
    info = json.loads(sh("qemu-img", "info", "--output", "json", str(qcow2_volume)).stdout)
    assert (info["format"], info["virtual-size"]) == ("qcow2", 64 * 1024 * 1024)
    listed = sandbox.virt("vol-list", POOL).stdout
    assert any(line.split() == [VOLUME, str(qcow2_volume)] for line in listed.splitlines()), listed


#: How the guest's disk and NIC name the volume and the network: as libvirt's done-when asks
#: (a pool volume, a network), or directly (the volume's path, the network's bridge).
DISK_SOURCES = {
    "volume": "<source pool='{pool}' volume='{volume}'/>",
    "file": "<source file='{path}'/>",
}
IFACE_SOURCES = {
    "network": "<source network='{network}'/>",
    "bridge": "<source bridge='{bridge}'/>",
}


@pytest.fixture
def qemu_guest(request: pytest.FixtureRequest, sandbox: Sandbox, nat_network: str,
               qcow2_volume: Path) -> Iterator[str]:
    """A guest (disk and NIC forms from the test's parameter) started through the CLI inside the host
    namespace; destroyed afterwards. Its name is unique to the sandbox: the host-wide things QEMU
    guests get (cgroups) are named after it."""
    if QEMU is None:
        pytest.skip("needs qemu-system-x86_64 (Debian package qemu-system-x86)")
    disk, iface = request.param
    name = f"e2e-{sandbox.tag}"
    fields = {"pool": POOL, "volume": VOLUME, "path": qcow2_volume, "network": nat_network, "bridge": sandbox.bridge}
    virt_type = "kvm" if os.access("/dev/kvm", os.R_OK | os.W_OK) else "qemu"
    xml = sandbox.root / "domain.xml"
    xml.write_text(DOMAIN_XML.format(virt_type=virt_type, name=name, emulator=QEMU, mac=GUEST_MAC,
                                     disk_type=disk, disk_source=DISK_SOURCES[disk].format(**fields),
                                     iface_type=iface, iface_source=IFACE_SOURCES[iface].format(**fields)))
    # `virt create`: one CLI call defines and starts a transient guest, which its destroy removes
    res = sandbox.virt("create", str(xml), in_host=True, check=False)
    if res.returncode != 0:
        raise GuestRefused(res.stderr.strip())
    try:
        yield name
    finally:
        sandbox.virt("destroy", name, check=False, in_host=True)


def qemu_pids(box: Sandbox) -> list[int]:
    return [p for p in box.pids_in(box.host) if os.path.realpath(f"/proc/{p}/exe") == os.path.realpath(QEMU or "")]


@pytest.mark.parametrize("qemu_guest", [
    pytest.param(("volume", "network"), id="volume-network"),
    pytest.param(("volume", "bridge"), id="volume-bridge"),
    pytest.param(("file", "network"), id="file-network"),
    pytest.param(("file", "bridge"), id="file-bridge"),
], indirect=True)
def test_qemu_guest_runs_the_qcow2_volume_on_the_network(sandbox: Sandbox, qcow2_volume: Path,
                                                         qemu_guest: str) -> None:
    assert sandbox.virt("domstate", qemu_guest, in_host=True).stdout.strip() == "running"
    [pid] = qemu_pids(sandbox)
    # QEMU holds the volume open
    opened = {os.path.realpath(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    assert str(qcow2_volume.resolve()) in opened
    # ... through a qcow2 format node over the volume's file node (the -blockdev graph)
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    nodes = {n["node-name"]: n for n in (json.loads(a) for a, prev in zip(argv[1:], argv[:-1], strict=True) if prev == "-blockdev")}
    assert any(n["driver"] == "qcow2" and nodes.get(n["file"], {}).get("filename") == str(qcow2_volume)
               for n in nodes.values() if isinstance(n.get("file"), str)), nodes
    # its tap is a port of the network's bridge, with the guest's MAC under libvirt's 0xfe prefix
    taps = [link for link in enslaved(sandbox, sandbox.bridge) if link["ifname"] != "vgh"]
    assert [link["address"] for link in taps] == ["fe" + GUEST_MAC[2:]]
    assert taps[0]["operstate"] in ("UP", "UNKNOWN")

    sandbox.virt("destroy", qemu_guest, in_host=True)
    assert qemu_guest not in sandbox.virt("list", "--all", "--name", in_host=True).stdout.split()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and not _is_zombie(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid)
    assert [link for link in enslaved(sandbox, sandbox.bridge) if link["ifname"] != "vgh"] == []


MONITOR_QUERIES = """
from virt.util.errors import VirtError
dom = conn.lookup_domain({name!r})
out = {{}}
try:
    for q in ("query-block", "query-rx-filter"):
        out[q] = json.loads(conn.call("domain_qemu_monitor_command", dom.ref, json.dumps({{"execute": q}}), 0))
except VirtError as err:
    out = {{"error": int(err.code), "message": err.message}}
print(json.dumps(out))
"""
NO_SUPPORT = 3  # VIR_ERR_NO_SUPPORT


@pytest.mark.parametrize("qemu_guest", [("file", "bridge")], indirect=True)
def test_qemu_monitor_shows_the_qcow2_image_and_the_nic(sandbox: Sandbox, qcow2_volume: Path,
                                                        qemu_guest: str) -> None:
    res = sandbox.api(MONITOR_QUERIES.format(name=qemu_guest))
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    if out.get("error") == NO_SUPPORT:
        raise CallUnsupported(out["message"])
    assert "error" not in out, out
    images = [b["inserted"]["image"] for b in out["query-block"]["return"] if b.get("inserted")]
    assert any(i["format"] == "qcow2" and os.path.realpath(i["filename"]) == str(qcow2_volume.resolve())
               for i in images), images
    assert GUEST_MAC in [f["main-mac"] for f in out["query-rx-filter"]["return"]]
