"""Starting and stopping a network on the host, and cleaning up after a crash.

A start writes its plumbing record (``run_dir/NAME.json``) *before* it creates anything and marks it
"active" only at the end, so whatever a crash interrupts is known and undone by the next process that
opens the driver (``recover``). Every teardown step is idempotent.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass
from typing import Any

from virt.conf.network import Network, format_ip
from virt.secondary.network import dnsmasq as dm
from virt.secondary.network.bandwidth import Limits, NetworkTc, ifb_name
from virt.secondary.network.firewall import Firewall, make_firewall, network_rules
from virt.secondary.network.host import Host, is_template, running_with, stop_process
from virt.secondary.network.store import NetworkObj, NetworkStore
from virt.util.errors import (
    ErrorDomain,
    ErrorNumber,
    OperationFailedError,
    VirtError,
)
from virt.util.fileutil import atomic_write, unlink_if_exists
from virt.util.ident import generate_mac
from virt.util.process import find_binary, is_alive, read_pidfile

log = logging.getLogger(__name__)

#: Forward modes where the driver runs the bridge itself (addresses, dnsmasq, firewall).
OWN_BRIDGE_MODES = ("nat", "route", "open", "none")
BRIDGE_TEMPLATE = "virbr%d"


def network_error(message: str, code: ErrorNumber = ErrorNumber.INTERNAL_ERROR) -> VirtError:
    return VirtError(message, code=code, domain=ErrorDomain.NETWORK)


@dataclass
class Plumbing:
    """The host operations of one driver: ``host`` runs commands (maybe in a namespace)."""

    store: NetworkStore
    host: Host

    def firewall(self, name: str | None = None) -> Firewall:
        return make_firewall(self.host, name or self.store.settings.firewall)

    def tc(self) -> NetworkTc:
        return NetworkTc.on(self.host)

    # -- defaults filled at define time ------------------------------------------------------------
    def fill_defaults(self, defn: Network, others: list[Network]) -> None:
        """A bridge name from the "virbr%d" template and a MAC for networks whose bridge we run."""
        if defn.forward_mode not in OWN_BRIDGE_MODES:
            return
        from virt.conf.network import Bridge, NetworkMAC

        if defn.bridge is None:
            defn.bridge = Bridge(stp="on", delay="0")
        name = defn.bridge.name
        taken = {o.bridge_name() for o in others if o.name != defn.name and o.uuid != defn.uuid}
        if not name or is_template(name):
            template = name or BRIDGE_TEMPLATE
            in_use = taken | self.host.link_names()
            for n in range(256):
                candidate = template.replace("%d", str(n), 1)
                if candidate not in in_use:
                    defn.bridge.name = candidate
                    break
            else:
                raise network_error(f"Bridge generation exceeded max id {256}")
        elif name in taken:
            raise network_error(f"bridge name '{name}' already in use.")
        if defn.mac is None:
            defn.mac = NetworkMAC(address=generate_mac())

    # -- start -------------------------------------------------------------------------------------
    def start(self, obj: NetworkObj, defn: Network, others: list[NetworkObj]) -> dict[str, Any]:
        """Bring ``defn`` up; returns its plumbing record. Undoes every step on failure."""
        mode = defn.forward_mode
        status: dict[str, Any]
        if mode not in OWN_BRIDGE_MODES:
            status = {"phase": "active", "mode": mode, "started": int(time.time())}
            limits = Limits.of(defn.bandwidth)
            if mode == "bridge" and defn.bridge_name() and limits is not None:
                # QoS on a host bridge we do not own: recorded first, so destroy and recovery clear it
                status["bandwidth"] = defn.bridge_name()
                self.store.save_status(obj.name, {**status, "phase": "starting"})
                try:
                    self.tc().set(defn.bridge_name() or "", limits, hierarchical=True)
                except BaseException:
                    self.teardown(obj.name, status)
                    self.store.clear_live(obj.name)
                    raise
            self.store.save_live(defn)
            self.store.save_status(obj.name, status)
            return status
        bridge = defn.bridge_name()
        if not bridge or is_template(bridge):
            self.fill_defaults(defn, [o.defn for o in others])
            bridge = defn.bridge_name()
        assert bridge
        for other in others:
            if other.active and other.name != obj.name and other.live.bridge_name() == bridge:  # type: ignore[union-attr]
                raise network_error(f"bridge name '{bridge}' already in use.")
        if self.host.link_exists(bridge):
            raise network_error(f"Network is already in use by interface {bridge}")
        fw = self.firewall()
        status = {"phase": "starting", "mode": mode, "bridge": bridge, "firewall": fw.name,
                                  "netns": self.host.netns, "dnsmasq": False}
        self.store.save_live(defn)
        self.store.save_status(obj.name, status)
        try:
            self._bridge_up(defn, bridge)
            # the network's own QoS: a hierarchy on the bridge, so ports can be guaranteed a floor
            self.tc().set(bridge, Limits.of(defn.bandwidth), hierarchical=True)
            if mode != "open":
                fw.apply(bridge, network_rules(defn, bridge))
            self._forwarding(defn)
            if dm.needs_dnsmasq(defn):
                status["dnsmasq"] = True
                self.store.save_status(obj.name, status)
                self.start_dnsmasq(defn)
        except BaseException:
            self.teardown(obj.name, status)
            self.store.clear_live(obj.name)
            raise
        status["phase"] = "active"
        status["started"] = int(time.time())
        self.store.save_status(obj.name, status)
        return status

    def _bridge_up(self, defn: Network, bridge: str) -> None:
        h = self.host
        h.bridge_create(bridge, stp=defn.stp, delay=defn.stp_delay, mac=defn.mac_address, mtu=defn.mtu_size)
        v6 = bool(defn.ipv6_ips) or defn.ipv6_nogw
        # no IPv6 on a bridge that has no IPv6 address; otherwise never autoconfigure from guests' RAs
        conf = f"net/ipv6/conf/{bridge.replace('.', '/')}"
        h.sysctl_set(f"{conf}/disable_ipv6", "0" if v6 else "1")
        if v6:
            h.sysctl_set(f"{conf}/accept_ra", "0")
            h.sysctl_set(f"{conf}/autoconf", "0")
        for ip in defn.ips:
            prefix = ip.prefix_len()
            if prefix < 0:
                raise network_error(f"bridge '{bridge}' has an invalid netmask or IP address")
            broadcast = str(ip.network().broadcast_address) if ip.is_ipv4 and prefix < 31 else None
            h.addr_add(bridge, format_ip(ip.addr), prefix, ipv6=ip.is_ipv6, broadcast=broadcast)
        h.link_up(bridge)
        for route in defn.routes:
            prefix = route.prefix or 0
            if route.netmask:
                from virt.conf.network import netmask_prefix, parse_ip

                prefix = netmask_prefix(parse_ip(route.netmask))
            h.route_add(bridge, route.address, prefix, route.gateway, route.metric)

    def _forwarding(self, defn: Network) -> None:
        if defn.forward_mode not in ("nat", "route"):
            return
        if defn.ipv4:
            self.host.sysctl_set("net.ipv4.ip_forward", "1")
        if defn.ipv6_ips:
            self.host.sysctl_set("net.ipv6.conf.all.forwarding", "1")

    # -- dnsmasq -----------------------------------------------------------------------------------
    def dnsmasq_files(self, name: str) -> dm.DnsmasqFiles:
        s = self.store
        return dm.DnsmasqFiles(str(s.file(name, "hostsfile")), str(s.file(name, "addnhosts")),
                               pidfile=str(s.pid_path(name)), leasefile=str(s.file(name, "leases")))

    def write_dnsmasq_files(self, defn: Network) -> dm.DnsmasqConfig:
        binary = find_binary("dnsmasq", "dnsmasq-base")
        config = dm.build_config(defn, dm.DnsmasqCaps.probe(binary), self.dnsmasq_files(defn.name))
        s = self.store
        # dnsmasq re-reads the hosts files as an unprivileged user on SIGHUP: world-readable
        atomic_write(s.file(defn.name, "hostsfile"), config.hostsfile(), mode=0o644)
        atomic_write(s.file(defn.name, "addnhosts"), config.addnhosts(), mode=0o644)
        atomic_write(s.file(defn.name, "conf"), config.conf, mode=0o644)
        leases = s.file(defn.name, "leases")
        if not leases.exists():
            atomic_write(leases, "", mode=0o644)
        return config

    def start_dnsmasq(self, defn: Network) -> int:
        self.write_dnsmasq_files(defn)
        conf = self.store.file(defn.name, "conf")
        binary = find_binary("dnsmasq", "dnsmasq-base")
        unlink_if_exists(self.store.pid_path(defn.name))
        return self.host.spawn_daemon([binary, f"--conf-file={conf}"], self.store.pid_path(defn.name))

    def dnsmasq_pid(self, name: str) -> int | None:
        pid = read_pidfile_quiet(self.store.pid_path(name))
        conf = str(self.store.file(name, "conf"))
        if pid is not None and is_alive(pid) and any(conf in a for a in _cmdline(pid)):
            return pid
        return None

    def stop_dnsmasq(self, name: str) -> None:
        conf = str(self.store.file(name, "conf"))
        stop_process(read_pidfile_quiet(self.store.pid_path(name)), conf)
        for pid in running_with(f"--conf-file={conf}"):  # started, but crashed before its pid was read
            stop_process(pid, conf)
        unlink_if_exists(self.store.pid_path(name))

    def reload_dnsmasq(self, defn: Network, *, restart: bool) -> None:
        """New hosts files and SIGHUP (dnsmasq re-reads them), or a restart for anything else."""
        pid = self.dnsmasq_pid(defn.name)
        if pid is None or restart:
            self.stop_dnsmasq(defn.name)
            if dm.needs_dnsmasq(defn):
                self.start_dnsmasq(defn)
            return
        self.write_dnsmasq_files(defn)
        os.kill(pid, signal.SIGHUP)

    # -- stop --------------------------------------------------------------------------------------
    def teardown(self, name: str, status: dict[str, Any]) -> None:
        """Undo whatever a start did (completely or partly); never fails on what is already gone."""
        if status.get("mode") not in OWN_BRIDGE_MODES:
            if status.get("bandwidth"):
                self.tc().clear(status["bandwidth"])
            return
        errors = []
        steps = [lambda: self.stop_dnsmasq(name)]
        bridge = status.get("bridge")
        if bridge:
            if status.get("mode") != "open":
                steps.append(lambda: self.firewall(status.get("firewall")).remove(bridge))
            steps.append(lambda: self.host.link_delete(bridge))
            steps.append(lambda: self.host.link_delete(ifb_name(bridge)))  # QoS stand-in for policing
        for step in steps:
            try:
                step()
            except VirtError as exc:  # keep going: the other steps still free their resources
                errors.append(exc)
                log.warning("network %s: cleanup step failed: %s", name, exc.message)
        if errors:
            raise OperationFailedError(f"failed to clean up network '{name}': {errors[0].message}")

    # -- recovery ----------------------------------------------------------------------------------
    def recover(self) -> list[str]:
        """Finish what crashed processes left: half-started networks are torn down, networks whose
        bridge vanished are stopped, a dead dnsmasq is restarted. Returns the networks stopped."""
        stopped = []
        objs = self.store.load_all()
        for name in sorted(self.store.status_names()):
            status = self.store.read_status(name)
            obj = objs.get(name)
            live = obj.live if obj is not None else None
            bridge = status.get("bridge")
            healthy = status.get("phase") == "active" and live is not None
            if healthy and status.get("mode") in OWN_BRIDGE_MODES and bridge and not self.host.link_exists(bridge):
                healthy = False  # the host lost the bridge (reboot, manual removal): the network is down
            if not healthy:
                log.info("network %s: cleaning up after an interrupted start or a lost bridge", name)
                with contextlib.suppress(VirtError):
                    self.teardown(name, status)
                self.store.clear_live(name)
                stopped.append(name)
                continue
            if status.get("dnsmasq") and live is not None and self.dnsmasq_pid(name) is None:
                log.info("network %s: dnsmasq is gone, restarting it", name)
                try:
                    self.start_dnsmasq(live)
                except VirtError as exc:
                    log.warning("network %s: cannot restart dnsmasq: %s", name, exc.message)
        return stopped

    def leases(self, name: str) -> list[dm.LeaseRecord]:
        try:
            text = self.store.file(name, "leases").read_text()
        except OSError:
            return []
        return list(dm.read_leases(text))


def read_pidfile_quiet(path: Any) -> int | None:
    try:
        return read_pidfile(path)
    except VirtError:
        return None


def _cmdline(pid: int) -> list[str]:
    from virt.secondary.network.host import process_cmdline

    return process_cmdline(pid)

