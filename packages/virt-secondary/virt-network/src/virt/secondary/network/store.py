"""Where the network driver keeps its networks: definitions, live state and dnsmasq's files, shared by
every connection and every process through the file system (virt has no daemon holding them).

- ``config_dir/NAME.xml``: persistent definitions; ``config_dir/autostart/NAME.xml``: autostart links
- ``run_dir/NAME.xml``: the live definition of an active network; ``run_dir/NAME.json``: its plumbing
  (bridge, firewall backend, dnsmasq pid, and whether start-up finished: crash recovery reads it)
- ``state_dir/NAME.{conf,hostsfile,addnhosts,leases}``: dnsmasq's files

The shared mechanism (locking, paths, autostart links) is virt.core.store.DefinitionStore.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from virt.conf import parse
from virt.conf.network import Network
from virt.core.store import DefinitionStore, StoredObject
from virt.util.errors import ErrorDomain, VirtError
from virt.util.fileutil import atomic_write, make_dirs, unlink_if_exists


@dataclass(frozen=True)
class NetworkSettings:
    """Directories and host choices of the driver (``?root=DIR`` or $VIRT_NETWORK_ROOT moves every
    directory under DIR; $VIRT_NETWORK_NETNS runs all plumbing in that network namespace;
    $VIRT_NETWORK_FIREWALL picks nftables, iptables or auto)."""

    config_dir: Path
    state_dir: Path
    run_dir: Path
    netns: str | None = None
    firewall: str = "auto"

    @classmethod
    def for_uri(cls, params: dict[str, str] | None = None, environ: dict[str, str] | None = None) -> NetworkSettings:
        env = os.environ if environ is None else environ
        root = (params or {}).get("root") or env.get("VIRT_NETWORK_ROOT")
        if root:
            base = Path(root)
            dirs = (base / "etc" / "network", base / "lib" / "network", base / "run" / "network")
        elif os.geteuid() == 0:
            dirs = (Path("/etc/virt/network"), Path("/var/lib/virt/network"), Path("/run/virt/network"))
        else:
            home = Path.home()
            config = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
            data = Path(env.get("XDG_DATA_HOME") or home / ".local" / "share")
            runtime = Path(env.get("XDG_RUNTIME_DIR") or data)
            dirs = (config / "virt" / "network", data / "virt" / "network", runtime / "virt" / "network")
        return cls(*dirs, netns=env.get("VIRT_NETWORK_NETNS") or None,
                   firewall=env.get("VIRT_NETWORK_FIREWALL") or "auto")


@dataclass
class NetworkObj(StoredObject[Network]):
    """A network: its definitions and the plumbing record of a running network."""

    status: dict[str, Any] = field(default_factory=dict)


class NetworkStore(DefinitionStore):
    """The networks under one set of directories, read from disk under the lock at every call."""

    KIND = "network"
    ERROR_DOMAIN = ErrorDomain.NETWORK

    def __init__(self, settings: NetworkSettings) -> None:
        super().__init__(settings.config_dir, settings.run_dir, settings.state_dir)
        self.settings = settings

    @property
    def state_dir(self) -> Path:
        return self.settings.state_dir

    def status_path(self, name: str) -> Path:
        return self.record_path(name)

    def pid_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def file(self, name: str, suffix: str) -> Path:
        """A dnsmasq file of the network: conf, hostsfile, addnhosts, leases."""
        return self.state_dir / f"{name}.{suffix}"

    # -- reading ------------------------------------------------------------------------------------
    def load_all(self) -> dict[str, NetworkObj]:
        """Every network by name."""
        objs: dict[str, NetworkObj] = {}
        for defn in self.definitions(self.config_dir):
            objs[defn.name] = NetworkObj(defn.name, str(defn.uuid), config=defn,
                                         autostart=self.autostart_path(defn.name).exists())
        for defn in self.definitions(self.run_dir):
            obj = objs.get(defn.name)
            if obj is None:
                obj = objs[defn.name] = NetworkObj(defn.name, str(defn.uuid))
            obj.live = defn
            obj.status = self.read_status(defn.name)
        return objs

    def read_status(self, name: str) -> dict[str, Any]:
        return self.read_record(name)

    def status_names(self) -> set[str]:
        """Networks with a plumbing record (an active network, or one a crash left half-started)."""
        if not self.run_dir.is_dir():
            return set()
        return {p.name[:-5] for p in self.run_dir.glob("*.json")}

    # -- writing ------------------------------------------------------------------------------------
    def save_live(self, defn: Network) -> None:
        self.save_live_definition(defn)

    def save_status(self, name: str, status: dict[str, Any]) -> None:
        self.save_record(name, status)

    def clear_live(self, name: str) -> None:
        super().clear_live(name)
        unlink_if_exists(self.pid_path(name))
        for port in self.port_paths(name):
            unlink_if_exists(port)

    # -- network ports (what a running network handed out to guest interfaces) -----------------------
    def port_dir(self, name: str) -> Path:
        return self.run_dir / "ports" / name

    def port_paths(self, name: str) -> list[Path]:
        d = self.port_dir(name)
        return sorted(d.glob("*.xml")) if d.is_dir() else []

    def load_ports(self, name: str) -> list[Any]:
        ports = []
        for path in self.port_paths(name):
            try:
                ports.append(parse(path.read_text(), "networkport"))
            except (OSError, VirtError):
                continue
        return ports

    def save_port(self, name: str, port: Any) -> None:
        make_dirs(self.port_dir(name), 0o755)
        atomic_write(self.port_dir(name) / f"{port.uuid}.xml", port.format(), mode=0o644)

    def delete_port(self, name: str, uuid: str) -> None:
        unlink_if_exists(self.port_dir(name) / f"{uuid}.xml")


def parse_network(xml: str) -> Network:
    """A network definition from the user; its errors belong to the network domain."""
    return NetworkStore.parse_definition(xml)  # type: ignore[no-any-return]
