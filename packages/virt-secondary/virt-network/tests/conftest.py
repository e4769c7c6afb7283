"""Fixtures: network namespaces the tests create (a "host" the driver plumbs, a "guest", an "outside"
world), a temporary driver root, and the removal of all of it (namespaces, processes by pid)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

TOOLS = ("ip", "nft", "dnsmasq", "busybox", "sysctl")
MISSING = [t for t in TOOLS if shutil.which(t, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is None]



def skip_unless_netns_possible() -> None:
    if os.geteuid() != 0 or MISSING:
        pytest.skip(f"needs root and {', '.join(TOOLS)} (missing: {', '.join(MISSING) or 'none'}; Debian "
                    "packages iproute2 nftables dnsmasq-base busybox procps)")


def sh(*argv: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check, input=input)


@dataclass
class Namespaces:
    """Three namespaces: ``host`` (where the driver builds networks), ``guest`` and ``outside``,
    each reachable from ``host`` through a veth pair."""

    tag: str
    host: str
    guest: str
    outside: str
    root: Path
    pids: list[int] = field(default_factory=list)

    def exec(self, ns: str, *argv: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", ns, *argv, check=check, input=input)

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "VIRT_NETWORK_ROOT": str(self.root), "VIRT_NETWORK_NETNS": self.host, **extra}

    def driver_subprocess(self, code: str) -> subprocess.CompletedProcess[str]:
        """Run ``code`` in a fresh Python process with ``drv`` an open NetworkDriver (a new process
        is what crash recovery runs in)."""
        prelude = ("from virt.core.uri import URI\nfrom virt.secondary.network.driver import NetworkDriver\n"
                   "drv = NetworkDriver(URI.parse('qemu:///system'))\n")
        return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True,
                              env=self.env(), timeout=120, check=False)


@pytest.fixture
def netns(monkeypatch: pytest.MonkeyPatch) -> Iterator[Namespaces]:
    skip_unless_netns_possible()
    tag = uuid.uuid4().hex[:6]
    root = Path(tempfile.mkdtemp(prefix=f"virt-net-{tag}-"))
    root.chmod(0o755)  # dnsmasq re-reads its hosts files after dropping privileges
    ns = Namespaces(tag, f"vt-h-{tag}", f"vt-g-{tag}", f"vt-o-{tag}", root)
    created: list[str] = []
    try:
        for name in (ns.host, ns.guest, ns.outside):
            sh("ip", "netns", "add", name)
            created.append(name)
            ns.exec(name, "ip", "link", "set", "lo", "up")
        # guest <-> host: the host end is plugged into the network's bridge by the test
        sh("ip", "-n", ns.host, "link", "add", "vgh", "type", "veth", "peer", "name", "vg0", "netns", ns.guest)
        # host <-> outside: the host's only way out, through a documentation prefix that exists
        # nowhere but inside these namespaces
        sh("ip", "-n", ns.host, "link", "add", "voh", "type", "veth", "peer", "name", "vo0", "netns", ns.outside)
        ns.exec(ns.host, "ip", "addr", "add", "198.51.100.2/24", "dev", "voh")
        ns.exec(ns.host, "ip", "link", "set", "voh", "up")
        ns.exec(ns.outside, "ip", "addr", "add", "198.51.100.1/24", "dev", "vo0")
        ns.exec(ns.outside, "ip", "link", "set", "vo0", "up")
        ns.exec(ns.host, "ip", "route", "add", "default", "via", "198.51.100.1")
        monkeypatch.setenv("VIRT_NETWORK_ROOT", str(root))
        monkeypatch.setenv("VIRT_NETWORK_NETNS", ns.host)
        yield ns
    finally:
        from virt.secondary.network import driver as drv_mod
        from virt.secondary.network.host import running_with, stop_process

        drv_mod._shared.clear()  # connections of this test are gone with their namespaces
        for pid in ns.pids:
            stop_process(pid, "")
        for pid in running_with(str(root)):  # every dnsmasq this test's networks ran
            stop_process(pid, str(root))
        for name in created:
            sh("ip", "netns", "del", name, check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def udhcpc_script(tmp_path: Path) -> Path:
    """udhcpc's hook: apply the lease's address and default route inside the guest namespace."""
    script = tmp_path / "udhcpc.sh"
    script.write_text("#!/bin/sh\n"
                      "case \"$1\" in\n"
                      "  deconfig) ip -4 addr flush dev \"$interface\" ;;\n"
                      "  bound|renew)\n"
                      "    ip addr add \"$ip/$subnet\" dev \"$interface\"\n"
                      "    [ -n \"$router\" ] && ip route replace default via \"${router%% *}\" dev \"$interface\"\n"
                      "    echo \"$ip\" > \"$0.lease\" ;;\n"
                      "esac\n")
    script.chmod(0o755)
    return script
