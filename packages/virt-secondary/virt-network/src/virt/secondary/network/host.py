"""The host side of a network: bridges, addresses and routes (iproute2), sysctls, and helper processes.

Every command may run inside a network namespace (``ip netns exec NS ...``): the tests build whole
networks inside namespaces they create, and an administrator can do the same. That is why nothing
here reads /sys or /proc/sys directly: those show the namespace of the reading process.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from virt.util.errors import InternalError, SystemError_
from virt.util.process import find_binary, is_alive, kill_and_wait, read_pidfile, run

log = logging.getLogger(__name__)

#: Seconds a host command may take; iproute2 and nft answer in milliseconds when the host is healthy.
COMMAND_TIMEOUT = 30.0


@dataclass(frozen=True)
class Host:
    """Runs host commands, in the network namespace ``netns`` when one is given."""

    netns: str | None = None

    def argv(self, argv: Sequence[str]) -> list[str]:
        if self.netns:
            return [find_binary("ip", "iproute2"), "netns", "exec", self.netns, *argv]
        return list(argv)

    def run(self, argv: Sequence[str], *, input: str | None = None, check: bool = True,
            timeout: float = COMMAND_TIMEOUT) -> str:
        result = run(self.argv(argv), input=input, check=check, timeout=timeout)
        return result.stdout if check or result.returncode == 0 else ""

    def ip(self, *args: str, check: bool = True) -> str:
        return self.run([find_binary("ip", "iproute2"), *args], check=check)

    def ip_json(self, *args: str) -> list[dict[str, Any]]:
        out = self.ip("-j", *args, check=False)
        try:
            data = json.loads(out) if out.strip() else []
        except json.JSONDecodeError:
            return []
        return data if isinstance(data, list) else []

    # -- links ------------------------------------------------------------------------------------
    def link_exists(self, dev: str) -> bool:
        return bool(self.ip_json("link", "show", "dev", dev)) if _valid_ifname(dev) else False

    def link_names(self) -> set[str]:
        return {link["ifname"] for link in self.ip_json("link", "show") if "ifname" in link}

    def link_info(self, dev: str) -> dict[str, Any] | None:
        found = self.ip_json("-d", "link", "show", "dev", dev) if _valid_ifname(dev) else []
        return found[0] if found else None

    def bridge_create(self, dev: str, *, stp: bool, delay: int, mac: str | None, mtu: int | None) -> None:
        # forward_delay is in centiseconds; with STP on, the kernel raises it to its 2 s minimum
        args = ["link", "add", "name", dev]
        if mac:
            args += ["address", mac]
        if mtu:
            args += ["mtu", str(mtu)]
        self.ip(*args, "type", "bridge", "stp_state", "1" if stp else "0", "forward_delay", str(delay * 100))

    def link_delete(self, dev: str) -> None:
        if self.link_exists(dev):
            self.ip("link", "del", "dev", dev, check=False)

    def link_up(self, dev: str) -> None:
        self.ip("link", "set", "dev", dev, "up")

    def link_master(self, dev: str, bridge: str) -> None:
        self.ip("link", "set", "dev", dev, "master", bridge)

    def addr_add(self, dev: str, address: str, prefix: int, *, ipv6: bool, broadcast: str | None = None) -> None:
        args = ["addr", "add", f"{address}/{prefix}", "dev", dev]
        if broadcast:
            args += ["broadcast", broadcast]
        if ipv6:
            args.append("nodad")  # the bridge is ours: duplicate detection only delays start-up
        self.ip(*args)

    def route_add(self, dev: str, address: str, prefix: int, gateway: str, metric: int | None) -> None:
        args = ["route", "add", f"{address}/{prefix}", "via", gateway, "dev", dev, "proto", "static"]
        if metric:
            args += ["metric", str(metric)]
        self.ip(*args)

    # -- sysctls ----------------------------------------------------------------------------------
    def sysctl_get(self, key: str) -> str | None:
        out = self.run([_sysctl(), "-n", key], check=False)
        return out.strip() or None

    def sysctl_set(self, key: str, value: str) -> None:
        if self.sysctl_get(key) != value:
            self.run([_sysctl(), "-q", "-w", f"{key}={value}"])

    # -- helper processes -----------------------------------------------------------------------
    def spawn_daemon(self, argv: Sequence[str], pidfile: Path, timeout: float = COMMAND_TIMEOUT) -> int:
        """Run a program that daemonizes itself and writes ``pidfile``; its pid."""
        self.run(argv, timeout=timeout)
        pid = read_pidfile(pidfile)
        if pid is None or not is_alive(pid):
            raise InternalError(f"{Path(argv[0]).name} did not leave a running process (pid file {pidfile})")
        return pid


def _sysctl() -> str:
    return find_binary("sysctl", "procps")


def _valid_ifname(dev: str) -> bool:
    return 0 < len(dev) < 16 and "/" not in dev and not any(c.isspace() for c in dev)


def process_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def stop_process(pid: int | None, marker: str) -> bool:
    """Kill ``pid`` if it is still the process we started: its command line must contain ``marker``
    (a pid left in a file may have been reused by an unrelated process since)."""
    if pid is None or not is_alive(pid):
        return False
    if not any(marker in arg for arg in process_cmdline(pid)):
        log.info("not killing pid %d: it is no longer the process we started (%s)", pid, marker)
        return False
    try:
        return kill_and_wait(pid, timeout=5.0)
    except SystemError_:
        return False


def running_with(marker: str) -> list[int]:
    """Pids of processes whose command line contains ``marker`` (a conf file path of ours)."""
    return [int(entry.name) for entry in os.scandir("/proc")
            if entry.name.isdigit() and any(marker in arg for arg in process_cmdline(int(entry.name)))]


_TEMPLATE = re.compile(r"%d")


def is_template(name: str) -> bool:
    """Whether a bridge name is a template ("virbr%d") for the driver to fill in."""
    return bool(_TEMPLATE.search(name))
