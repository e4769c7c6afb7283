"""The test driver's in-memory host: its objects, one lock, and the connections that share them.

All opens of ``test:///default`` in one process share one NodeState (reference counted, as libvirt
does, so that an event caused on one connection is seen on another); every open of a custom node
file gets a fresh one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from virt.core.events import EventBus


@dataclass
class Cell:
    """One NUMA cell of the mock host (KiB)."""

    cpus: int
    memory: int
    free: int


@dataclass
class HostInfo:
    """virNodeInfo of the mock host plus its NUMA cells (custom node files have none)."""

    model: str = "i686"
    memory: int = 3 * 1024 * 1024
    cpus: int = 16
    mhz: int = 1400
    nodes: int = 2
    sockets: int = 2
    cores: int = 2
    threads: int = 2
    cells: list[Cell] = field(default_factory=list)


@dataclass
class Snapshot:
    """A domain snapshot or checkpoint: its parsed definition (virt.conf model) and its place in
    the domain's tree of them."""

    name: str
    defn: Any
    parent: str | None = None
    creation_time: int = 0


@dataclass
class DomainObj:
    """A domain: ``defn`` is the live definition while active, else the persistent one;
    ``new_def`` is the persistent definition of an active persistent domain (libvirt's newDef)."""

    defn: Any
    uuid: str
    name: str
    persistent: bool = True
    state: int = 5
    reason: int = 0
    id: int = -1
    new_def: Any = None
    autostart: bool = False
    managed_save: bool = False
    snapshots: dict[str, Snapshot] = field(default_factory=dict)
    current_snapshot: str | None = None
    checkpoints: dict[str, Snapshot] = field(default_factory=dict)
    current_checkpoint: str | None = None
    #: what the mock guest reports (its clock, frozen filesystems), kept across runs as libvirt does
    guest: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.id != -1

    @property
    def persistent_def(self) -> Any:
        """The config a CONFIG change edits (only meaningful for persistent domains)."""
        return self.new_def if self.new_def is not None else self.defn


@dataclass
class NetworkObj:
    defn: Any
    uuid: str
    name: str
    active: bool = False
    persistent: bool = True
    autostart: bool = False
    #: the persistent definition while a live one differs (after a live-only update)
    new_def: Any = None


@dataclass
class VolumeObj:
    defn: Any
    name: str
    key: str
    path: str


@dataclass
class PoolObj:
    defn: Any
    uuid: str
    name: str
    active: bool = False
    persistent: bool = True
    autostart: bool = False
    volumes: dict[str, VolumeObj] = field(default_factory=dict)


@dataclass
class NodeDevObj:
    defn: Any
    name: str


@dataclass
class InterfaceObj:
    defn: Any
    name: str
    mac: str
    active: bool = False


@dataclass
class SecretObj:
    defn: Any
    uuid: str
    usage_type: int
    usage_id: str
    value: bytes | None = None


@dataclass
class NWFilterObj:
    defn: Any
    uuid: str
    name: str


class NodeState:
    """Everything one mock host holds. ``lock`` guards all of it; drivers take it around each call."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.host = HostInfo()
        self.domains: dict[str, DomainObj] = {}
        self.networks: dict[str, NetworkObj] = {}
        self.pools: dict[str, PoolObj] = {}
        self.nodedevs: dict[str, NodeDevObj] = {}
        self.interfaces: dict[str, InterfaceObj] = {}
        self.secrets: dict[str, SecretObj] = {}
        self.nwfilters: dict[str, NWFilterObj] = {}
        #: (username, password or None) from <auth><user>; empty: no authentication
        self.auth_users: list[tuple[str, str | None]] = []
        self.next_dom_id = 1
        self.iface_transaction: dict[str, InterfaceObj] | None = None
        self.refs = 0
        self._buses: list[EventBus] = []

    # -- events: every connection sharing this state sees them --------------------------------
    def attach(self, bus: EventBus) -> None:
        with self.lock:
            self._buses.append(bus)
            self.refs += 1

    def detach(self, bus: EventBus) -> int:
        with self.lock:
            if bus in self._buses:
                self._buses.remove(bus)
            self.refs -= 1
            return self.refs

    def emit(self, kind: str, event_id: int, obj: Any, *payload: Any) -> None:
        for bus in self._buses:
            bus.emit(kind, event_id, obj, *payload)

    def allocate_id(self) -> int:
        dom_id = self.next_dom_id
        self.next_dom_id += 1
        return dom_id


_default_lock = threading.Lock()
_default: NodeState | None = None


def open_state(path: str, bus: EventBus) -> NodeState:
    """The state for a URI path, with ``bus`` attached: the shared one for "/default" (loaded on
    first use), a fresh one loaded from the node file otherwise."""
    from virt.core.drivers.test.loader import load_default, load_file

    global _default
    if path == "/default":
        with _default_lock:
            if _default is None:
                _default = load_default()
            _default.attach(bus)
            return _default
    state = load_file(path)
    state.attach(bus)
    return state


def release_state(state: NodeState, bus: EventBus) -> None:
    """Drop a connection's hold on ``state``; the shared default state goes away with its last user."""
    global _default
    with _default_lock:
        if state.detach(bus) <= 0 and state is _default:
            _default = None
