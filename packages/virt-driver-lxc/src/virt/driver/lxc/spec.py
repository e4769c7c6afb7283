"""What a container is made of, as the controller needs it: built once from the domain definition, kept as JSON.

The controller runs apart from the driver (and outlives it), so it gets plain data rather than the
domain model: the init program, the filesystems, network interfaces, consoles, id maps, cgroup
tunables and capabilities to drop. :func:`build` applies libvirt's LXC rules while making it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from virt.util.errors import ConfigUnsupportedError, ErrorDomain
from virt.util.tc import Limits

#: Capabilities the "default" policy drops (libvirt's list; sys_boot stays: reboot works in a pid namespace).
DEFAULT_DROPPED_CAPS = ("sys_module", "sys_time", "mknod", "audit_control", "mac_admin")
#: Host device nodes every container gets in its /dev.
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")


@dataclass
class MountSpec:
    """A filesystem of the container: ``kind`` "bind" (type mount), "ram", "block" or "file" (loop)."""

    kind: str
    target: str
    source: str | None = None
    readonly: bool = False
    usage_kib: int = 0
    fstype: str | None = None


@dataclass
class NicSpec:
    """A network interface: a veth pair (bridge, network, ethernet) or a macvlan (direct)."""

    kind: str
    mac: str
    host_dev: str | None = None
    guest_dev: str | None = None
    bridge: str | None = None
    link_dev: str | None = None
    macvlan_mode: str = "vepa"
    ips: list[tuple[str, int]] = field(default_factory=list)
    routes: list[tuple[str, int, str]] = field(default_factory=list)
    link_up: bool = True
    mtu: int | None = None
    #: <bandwidth> of a veth's host end: "inbound"/"outbound" -> average/peak/burst/floor (KiB/s, KiB).
    bandwidth: dict[str, dict[str, int]] | None = None
    #: Whether inbound goes on the host end's egress (not for ethernet, which shares the host's view).
    bandwidth_swapped: bool = True


@dataclass
class HostdevSpec:
    """A host device given to the container: ``kind`` "storage" or "misc" (a node), "net" (an interface)."""

    kind: str
    source: str
    ips: list[tuple[str, int]] = field(default_factory=list)
    routes: list[tuple[str, int, str]] = field(default_factory=list)


@dataclass
class ContainerSpec:
    name: str
    uuid: str
    init: str
    initargs: list[str] = field(default_factory=list)
    initenv: dict[str, str] = field(default_factory=dict)
    initdir: str | None = None
    inituser: str | None = None
    initgroup: str | None = None
    #: The root filesystem; None means the host's root (with fresh /proc, /sys and /dev over it).
    root: MountSpec | None = None
    mounts: list[MountSpec] = field(default_factory=list)
    nics: list[NicSpec] = field(default_factory=list)
    hostdevs: list[HostdevSpec] = field(default_factory=list)
    consoles: int = 1
    uidmap: list[tuple[int, int, int]] = field(default_factory=list)
    gidmap: list[tuple[int, int, int]] = field(default_factory=list)
    private_net: bool = False
    drop_caps: list[str] = field(default_factory=list)
    #: cgroup tunables (virt.util.cgroup names) and their values.
    tunables: dict[str, int | str] = field(default_factory=dict)
    on_reboot: str = "restart"
    #: Where the controller keeps its files, and the cgroup partition.
    run_dir: str = ""
    log_file: str = ""
    partition: str = "machine"
    #: Descriptors (of the launching process) that init gets as fds 3, 4... with LISTEN_FDS, as
    #: virDomainCreateWithFiles passes them.
    passfds: list[int] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ContainerSpec:
        data = json.loads(text)
        nested = {"root": MountSpec, "mounts": MountSpec, "nics": NicSpec, "hostdevs": HostdevSpec}
        for key, kind in nested.items():
            value = data.get(key)
            if isinstance(value, list):
                data[key] = [kind(**_tuples(kind, v)) for v in value]
            elif isinstance(value, dict):
                data[key] = kind(**_tuples(kind, value))
        for key in ("uidmap", "gidmap"):
            data[key] = [tuple(v) for v in data.get(key, [])]
        return cls(**data)


def _tuples(kind: type, value: dict[str, Any]) -> dict[str, Any]:
    """JSON turned tuples into lists; give them back."""
    names = {f.name for f in fields(kind)}
    return {k: ([tuple(x) for x in v] if k in ("ips", "routes") else v) for k, v in value.items() if k in names}


def _unsupported(detail: str) -> ConfigUnsupportedError:
    return ConfigUnsupportedError(detail, domain=ErrorDomain.LXC)


def build(defn: Any, run_dir: str, log_file: str, network_bridge: Any = None) -> ContainerSpec:
    """The spec of domain ``defn`` (virt.conf's Domain). ``network_bridge(name)`` names the bridge of a
    virtual network for <interface type='network'>."""
    os_ = defn.os
    spec = ContainerSpec(
        name=defn.name, uuid=defn.uuid, init=os_.init or "/sbin/init",
        initargs=[a.value or "" for a in os_.initargs],
        initenv={e.name: e.value or "" for e in os_.initenvs},
        initdir=os_.initdir, inituser=os_.inituser, initgroup=os_.initgroup,
        run_dir=run_dir, log_file=log_file, on_reboot=defn.on_reboot or "restart",
    )
    devices = defn.devices
    for fs in devices.filesystems:
        spec_fs = _filesystem(fs)
        if spec_fs.target == "/":
            spec.root = spec_fs
        else:
            spec.mounts.append(spec_fs)
    spec.mounts.sort(key=lambda m: m.target.rstrip("/").count("/"))
    for index, iface in enumerate(devices.interfaces):
        spec.nics.append(_nic(iface, index, network_bridge))
    for hostdev in devices.hostdevs:
        spec.hostdevs.append(_hostdev(hostdev))
    spec.consoles = max(1, len(devices.consoles))
    if defn.idmap is not None:
        spec.uidmap = [(m.start or 0, m.target or 0, m.count or 0) for m in defn.idmap.uids]
        spec.gidmap = [(m.start or 0, m.target or 0, m.count or 0) for m in defn.idmap.gids]
        if not spec.uidmap or not spec.gidmap:
            raise _unsupported("You must map the root user of container")
    features = defn.features
    spec.private_net = bool(spec.nics or any(h.kind == "net" for h in spec.hostdevs)
                            or (features is not None and features.privnet is not None))
    spec.drop_caps = _dropped_caps(features)
    spec.tunables = _tunables(defn)
    return spec


def _filesystem(fs: Any) -> MountSpec:
    src = fs.source
    target = fs.target.dir
    if fs.type == "mount":
        return MountSpec("bind", target, src.dir, bool(fs.readonly))
    if fs.type == "bind":
        return MountSpec("bind", target, src.dir, bool(fs.readonly))
    if fs.type == "ram":
        return MountSpec("ram", target, None, bool(fs.readonly), int(src.usage or 0))
    if fs.type == "block":
        return MountSpec("block", target, src.dev, bool(fs.readonly),
                         fstype=fs.driver.format if fs.driver is not None and getattr(fs.driver, "format", None) else None)
    if fs.type == "file":
        return MountSpec("file", target, src.file, bool(fs.readonly),
                         fstype=fs.driver.format if fs.driver is not None and getattr(fs.driver, "format", None) else None)
    raise _unsupported(f"Unexpected filesystem type {fs.type}")


def _ip(entry: Any) -> tuple[str, int]:
    prefix = entry.prefix
    if prefix is None:
        prefix = 64 if ":" in (entry.address or "") else 24
    return entry.address, int(prefix)


def _route(entry: Any) -> tuple[str, int, str]:
    address = entry.address or ("::" if ":" in (entry.gateway or "") else "0.0.0.0")
    prefix = entry.prefix if entry.prefix is not None else 0
    return address, int(prefix), entry.gateway


def _nic(iface: Any, index: int, network_bridge: Any) -> NicSpec:
    mac = iface.mac.address if iface.mac is not None else None
    if mac is None:
        from virt.util.ident import generate_mac

        mac = generate_mac()
    source = iface.source
    nic = NicSpec(kind=iface.type, mac=mac,
                  host_dev=iface.target.dev if iface.target is not None and iface.target.dev else None,
                  guest_dev=iface.guest.dev if iface.guest is not None and iface.guest.dev else f"eth{index}",
                  ips=[_ip(i) for i in iface.ips], routes=[_route(r) for r in iface.routes],
                  link_up=not (iface.link is not None and iface.link.state == "down"),
                  mtu=iface.mtu.size if iface.mtu is not None else None)
    if iface.type == "bridge":
        nic.bridge = source.bridge if source is not None else None
        if not nic.bridge:
            raise _unsupported("No bridge name specified")
    elif iface.type == "network":
        name = source.network if source is not None else None
        if network_bridge is None or not name:
            raise _unsupported(f"Network '{name}' cannot be used: no network driver")
        nic.kind, nic.bridge = "bridge", network_bridge(name)
    elif iface.type == "direct":
        nic.link_dev = source.dev if source is not None else None
        nic.macvlan_mode = (source.mode if source is not None and source.mode else "vepa")
        if not nic.link_dev:
            raise _unsupported("No source device specified for direct interface")
    elif iface.type != "ethernet":
        raise _unsupported(f"Network device type '{iface.type}' is not supported")
    limits = Limits.of(iface.bandwidth)
    if limits is not None and nic.kind != "direct":
        nic.bandwidth = {d: asdict(rate) for d in ("inbound", "outbound") if (rate := getattr(limits, d)) is not None}
        nic.bandwidth_swapped = iface.type != "ethernet"
    return nic


def _hostdev(hostdev: Any) -> HostdevSpec:
    if hostdev.mode != "capabilities":
        raise _unsupported(f"Unsupported host device mode {hostdev.mode}")
    src = hostdev.source
    if hostdev.type == "storage":
        return HostdevSpec("storage", src.block)
    if hostdev.type == "misc":
        return HostdevSpec("misc", src.char)
    if hostdev.type == "net":
        return HostdevSpec("net", src.interface, [_ip(i) for i in hostdev.ips], [_route(r) for r in hostdev.routes])
    raise _unsupported(f"Unsupported host device type {hostdev.type}")


def _dropped_caps(features: Any) -> list[str]:
    """libvirt's rules: "default" drops a fixed list, "allow" only what is off, "deny" all but what is on."""
    from virt.util.linux import CAPABILITIES

    caps = features.capabilities if features is not None else None
    policy = caps.policy if caps is not None and caps.policy else "default"
    states: dict[str, bool] = getattr(caps, "caps", {}) if caps is not None else {}
    dropped = []
    for name in CAPABILITIES:
        state = states.get(name)
        if policy == "deny":
            drop = state is not True
        elif policy == "allow":
            drop = state is False
        else:
            drop = state is False or (name in DEFAULT_DROPPED_CAPS and state is not True)
        if drop:
            dropped.append(name)
    return dropped


def _tunables(defn: Any) -> dict[str, int | str]:
    """cgroup settings from <memory>, <memtune>, <cputune>, <blkiotune>, the vcpu cpuset and <numatune>."""
    from virt.util.bitmap import format_cpuset

    tun: dict[str, int | str] = {}
    memtune = defn.memtune
    hard = memtune.hard_limit.value if memtune is not None and memtune.hard_limit is not None else None
    # libvirt caps a container's memory at <memory> when no hard limit is given.
    tun["memory.hard_limit"] = hard if hard is not None else defn.memory_kib
    if memtune is not None and memtune.soft_limit is not None:
        tun["memory.soft_limit"] = memtune.soft_limit.value
    if memtune is not None and memtune.swap_hard_limit is not None:
        tun["memory.swap_hard_limit"] = memtune.swap_hard_limit.value
    cputune = defn.cputune
    if cputune is not None:
        if cputune.shares is not None:
            tun["cpu.shares"] = cputune.shares
        if cputune.period:
            tun["cpu.cfs_period"] = cputune.period
        if cputune.quota:
            tun["cpu.cfs_quota"] = cputune.quota
    if defn.blkiotune is not None and defn.blkiotune.weight:
        tun["blkio.weight"] = defn.blkiotune.weight
    if defn.vcpu is not None and defn.vcpu.cpuset:
        tun["cpuset.cpus"] = format_cpuset(defn.vcpu.cpuset)
    numatune = defn.numatune
    memory = getattr(numatune, "memory", None) if numatune is not None else None
    if memory is not None and getattr(memory, "nodeset", None):
        tun["cpuset.mems"] = format_cpuset(memory.nodeset)
    return tun


def host_dev_name(spec: NicSpec, taken: set[str]) -> str:
    """A free host-side name for a veth ("vethN"), unless the definition names one."""
    if spec.host_dev:
        return spec.host_dev
    # /proc/self/net follows this process's network namespace (/sys/class/net follows sysfs's mounter).
    with open("/proc/self/net/dev") as f:
        existing = {line.split(":", 1)[0].strip() for line in f if ":" in line} | taken
    n = 0
    while f"veth{n}" in existing:
        n += 1
    return f"veth{n}"
