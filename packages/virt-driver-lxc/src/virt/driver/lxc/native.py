"""LXC tools configuration (legacy and LXC 3.0 keys) to domain XML: ``virt domxml-from-native lxc-tools``.

libvirt reads the subset of an LXC container config it can express: the root filesystem, fstab-style
mount entries, network interfaces (veth, macvlan, phys, vlan), consoles, id maps, the memory, cpu,
cpuset and blkio cgroup settings, and dropped capabilities. Everything else is ignored, except
``lxc.mount``/``lxc.mount.fstab`` (an external fstab cannot be imported) and network keys it does not
know, which are refused as libvirt refuses them.
"""

from __future__ import annotations

import re
import socket
import uuid as uuidlib
from dataclasses import dataclass, field

from virt.conf.xmlmodel import Writer
from virt.util import bitmap, units
from virt.util.config import ConfFlags, Config, parse
from virt.util.errors import (
    ConfigUnsupportedError,
    ErrorDomain,
    ErrorNumber,
    InternalError,
    InvalidArgError,
    VirtError,
)
from virt.util.ident import format_mac, parse_mac

#: Where libvirt's capabilities place the LXC "emulator" (its controller binary); it names the driver.
EMULATOR = "/usr/libexec/libvirt_lxc"
#: libvirt's <features><capabilities> names, in its order (alphabetical).
PROCESS_CAPS = (
    "audit_control", "audit_write", "block_suspend", "chown", "dac_override", "dac_read_search", "fowner",
    "fsetid", "ipc_lock", "ipc_owner", "kill", "lease", "linux_immutable", "mac_admin", "mac_override", "mknod",
    "net_admin", "net_bind_service", "net_broadcast", "net_raw", "setgid", "setfcap", "setpcap", "setuid",
    "sys_admin", "sys_boot", "sys_chroot", "sys_module", "sys_nice", "sys_pacct", "sys_ptrace", "sys_rawio",
    "sys_resource", "sys_time", "sys_tty_config", "syslog", "wake_alarm",
)  # fmt: skip
#: Mount points the container always gets; entries for them are dropped (lxcIsBasicMountLocation).
BASIC_MOUNTS = ("/proc", "/proc/sys", "/proc/sys/net/ipv4", "/proc/sys/net/ipv6", "/sys", "/sys/kernel/security",
                "/sys/fs/selinux")
#: Keys of a network interface, after "lxc.network." (legacy) or "lxc.net.N." (LXC 3.0).
NET_KEYS = ("name", "type", "link", "hwaddr", "flags", "macvlan.mode", "vlan.id", "ipv4", "ipv4.gateway",
            "ipv4.address", "ipv6", "ipv6.gateway", "ipv6.address")
#: Architecture names LXC uses that are not libvirt's.
ARCH_ALIASES = {"x86": "i686", "amd64": "x86_64"}
ARCHES = ("i686", "x86_64", "aarch64", "armv6l", "armv7l", "armv7b", "ppc", "ppc64", "ppc64le", "s390", "s390x",
          "mips", "mipsel", "mips64", "mips64el", "riscv32", "riscv64", "sparc", "sparc64", "alpha", "parisc",
          "parisc64", "m68k", "microblaze", "microblazeel", "cris", "lm32", "or32", "sh4", "sh4eb", "unicore32",
          "xtensa", "xtensaeb", "loongarch64")
#: blkio keys per device: lxc name -> (domain XML element, 32-bit value?).
BLKIO_DEVICE_KEYS = {
    "lxc.cgroup.blkio.device_weight": ("weight", True, "device weight"),
    "lxc.cgroup.blkio.throttle.read_bps_device": ("read_bytes_sec", False, "read_bps_device"),
    "lxc.cgroup.blkio.throttle.write_bps_device": ("write_bytes_sec", False, "write_bps_device"),
    "lxc.cgroup.blkio.throttle.read_iops_device": ("read_iops_sec", True, "read_iops_device"),
    "lxc.cgroup.blkio.throttle.write_iops_device": ("write_iops_sec", True, "write_iops_device"),
}
BLKIO_DEVICE_ORDER = ("weight", "read_iops_sec", "write_iops_sec", "read_bytes_sec", "write_bytes_sec")
MEMORY_UNLIMITED = 9007199254740991  # KiB, libvirt's "no limit"
DEFAULT_MEMORY_KIB = 64 * 1024
#: The MAC of an interface without a readable lxc.network.hwaddr: libvirt leaves it unset (all zero).
_NO_MAC = "00:00:00:00:00:00"


# ------------------------------------------------------------------------------------------- the model
@dataclass
class IPAddr:
    address: str
    family: str
    prefix: int


@dataclass
class Route:
    family: str
    gateway: str

    @property
    def address(self) -> str:
        return "0.0.0.0" if self.family == "ipv4" else "::"


@dataclass
class NetEntry:
    """One interface as the config describes it, before it becomes an <interface> or a <hostdev>."""

    index: int
    values: dict[str, str] = field(default_factory=dict)
    ips: list[IPAddr] = field(default_factory=list)


@dataclass
class Filesystem:
    type: str
    source: str | None
    target: str
    readonly: bool = False
    usage: int = 0  # bytes, for type 'ram'


@dataclass
class BlkioDevice:
    path: str
    values: dict[str, int] = field(default_factory=dict)


@dataclass
class ContainerDef:
    """What the conversion collects, in the order libvirt formats it."""

    name: str
    uuid: str
    memory: int = DEFAULT_MEMORY_KIB
    hard_limit: int | None = None
    soft_limit: int | None = None
    swap_hard_limit: int | None = None
    blkio_weight: int | None = None
    blkio_devices: list[BlkioDevice] = field(default_factory=list)
    cpuset: str | None = None
    shares: int | None = None
    period: int = 0
    quota: int = 0
    nodeset: str | None = None
    arch: str | None = None
    uidmap: list[tuple[int, int, int]] = field(default_factory=list)
    gidmap: list[tuple[int, int, int]] = field(default_factory=list)
    privnet: bool = False
    dropped_caps: list[str] = field(default_factory=list)
    filesystems: list[Filesystem] = field(default_factory=list)
    interfaces: list[tuple[NetEntry, list[Route]]] = field(default_factory=list)
    hostdevs: list[tuple[str, list[IPAddr], list[Route]]] = field(default_factory=list)
    consoles: int = 0


# ------------------------------------------------------------------------------------------- numbers
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_STRTOL = re.compile(r"[ \t\n\v\f\r]*([+-]?)([0-9]+)")


def _strtoull(text: str, whole: bool = True) -> tuple[int, str]:
    """C's strtoull in base 10 (negative values wrap, as libvirt's virStrToLong_ull accepts them)."""
    m = _STRTOL.match(text)
    if not m:
        raise ValueError(text)
    value = int(m.group(2))
    if value >= 1 << 64:
        raise ValueError(text)
    if m.group(1) == "-":
        value = (1 << 64) - value if value else 0
    rest = text[m.end():]
    if whole and rest:
        raise ValueError(text)
    return value, rest


def _strtoll(text: str) -> int:
    m = _STRTOL.fullmatch(text)
    if not m:
        raise ValueError(text)
    value = -int(m.group(2)) if m.group(1) == "-" else int(m.group(2))
    if not -(1 << 63) <= value < 1 << 63:
        raise ValueError(text)
    return value


def _strtoui(text: str) -> int:
    value, _ = _strtoull(text)
    if value >= 1 << 32 and value < (1 << 64) - (1 << 32):
        raise ValueError(text)
    return value & 0xFFFFFFFF


def _convert_size(text: str) -> int:
    """A size with an optional unit ("8m", "1073741824") in bytes; relative sizes ("50%") are refused."""
    try:
        value, unit = _strtoull(text, whole=False)
    except ValueError:
        raise InternalError(f"failed to convert size: '{text}'") from None
    if unit == "%":
        raise InternalError(f"can't convert relative size: '{text}'")
    try:
        return units.scale_integer(value, unit, 1)
    except VirtError:
        raise InternalError(f"failed to convert size: '{text}'") from None


def _truncate_limit(kib: int) -> int:
    return min(kib, MEMORY_UNLIMITED)


# ------------------------------------------------------------------------------------------- sections
def _first(conf: Config, *names: str) -> str | None:
    """The first value of the first present key: LXC 3.0 name, then the legacy one."""
    for name in names:
        value = conf.get(name)
        if value is not None:
            return str(value)
    return None


def _add_fstab_line(cdef: ContainerDef, line: str) -> None:
    parts = line.replace("\t", " ").split()
    if len(parts) < 4:
        raise InternalError(f"invalid lxc.mount.entry: '{line}'")
    src, dst, fstype, options = parts[:4]
    dst = dst if dst.startswith("/") else "/" + dst
    if dst in BASIC_MOUNTS:
        return
    opts = options.split(",")
    kind, usage = "mount", 0
    source: str | None = src
    if fstype == "tmpfs":
        kind, source = "ram", None
        size = next((o[len("size="):] for o in opts if o.startswith("size=")), None)
        if size is None:
            raise InternalError("missing tmpfs size, set the size option")
        usage = _convert_size(size)
    if src.startswith("/dev/"):
        kind = "block"
    cdef.filesystems.append(Filesystem(kind, source, dst, "ro" in opts, usage))


def _parse_ip(key: str, value: str) -> IPAddr:
    family = socket.AF_INET6 if key in ("ipv6", "ipv6.address") else socket.AF_INET
    address, sep, prefix = value.partition("/")
    try:
        if not sep:
            raise ValueError(value)
        text = socket.inet_ntop(family, socket.inet_pton(family, address) if family == socket.AF_INET6
                                else socket.inet_aton(address))
        return IPAddr(text, "ipv6" if family == socket.AF_INET6 else "ipv4", _strtoui(prefix))
    except (OSError, ValueError):
        raise InvalidArgError(f"Invalid CIDR address: '{value}'") from None


def _gateway(family: str, address: str) -> Route:
    for af in (socket.AF_INET, socket.AF_INET6):
        try:
            text = socket.inet_ntop(af, socket.inet_pton(af, address))
        except OSError:
            continue
        if (af == socket.AF_INET) != (family == "ipv4"):
            raise ConfigUnsupportedError(f"Domain interface: Invalid family {family} for gateway {address} "
                                         "in route definition")
        return Route(family, text)
    raise ConfigUnsupportedError(f"Domain interface: Bad gateway address '{address}' in route definition")


def _net_entries(conf: Config) -> list[NetEntry]:
    """Interfaces in order: legacy keys open a new one at each "type", LXC 3.0 keys carry an index."""
    entries: list[NetEntry] = []
    for name, raw in conf.entries:
        value = str(raw)
        if name.startswith("lxc.network."):
            key = name[len("lxc.network."):]
            if key == "type":
                entries.append(NetEntry(len(entries) + 1))
            elif not entries:
                raise ConfigUnsupportedError(f"network property {name} found before lxc.network.type")
            entry = entries[-1]
        elif name.startswith("lxc.net."):
            m = re.fullmatch(r"([0-9]+)\.(.+)", name[len("lxc.net."):])
            if not m:
                raise ConfigUnsupportedError(f"invalid network property name '{name}'")
            index, key = int(m.group(1)), m.group(2)
            found = next((e for e in entries if e.index == index), None)
            if found is None:
                found = NetEntry(index)
                entries.append(found)
            entry = found
        else:
            continue
        if key not in NET_KEYS:
            raise ConfigUnsupportedError(f"Unhandled network property: {key} = {value}")
        if key in ("ipv4", "ipv4.address", "ipv6", "ipv6.address"):
            entry.ips.append(_parse_ip(key, value))
        else:
            entry.values[key] = value
    return entries


def _add_networks(cdef: ContainerDef, conf: Config) -> None:
    entries = _net_entries(conf)
    privnet = True
    for entry in entries:
        v = entry.values
        kind = v.get("type")
        if kind in (None, "", "empty", "none"):
            if kind == "none":
                privnet = False
            continue
        routes = ([_gateway("ipv4", v["ipv4.gateway"])] if "ipv4.gateway" in v else []) + \
                 ([_gateway("ipv6", v["ipv6.gateway"])] if "ipv6.gateway" in v else [])
        if kind in ("phys", "vlan"):
            link = v.get("link")
            if not link:
                raise ConfigUnsupportedError("Missing 'link' attribute for NIC")
            if kind == "vlan" and "vlan.id" in v:
                link = f"{link}.{v['vlan.id']}"
            cdef.hostdevs.append((link, entry.ips, routes))
            continue
        if kind == "macvlan" and not v.get("link"):
            raise ConfigUnsupportedError("Missing 'link' attribute for NIC")
        cdef.interfaces.append((entry, routes))
    cdef.privnet = not entries and privnet


def _add_consoles(cdef: ContainerDef, conf: Config) -> None:
    value = _first(conf, "lxc.tty.max", "lxc.tty")
    if value is None:
        return
    try:
        count = _strtoll(value)
        if not -(1 << 31) <= count < 1 << 31:
            raise ValueError(value)
    except ValueError:
        raise InternalError(f"failed to parse int: '{value}'") from None
    cdef.consoles = max(count, 0)


# Each number is read whole (as %lu reads digits), so "u 0 100" is three fields short of a map, not "0 10 0".
_IDMAP = re.compile(r"(.)\s*([+-]?[0-9]+)(?![0-9])\s*([+-]?[0-9]+)(?![0-9])\s*([+-]?[0-9]+)", re.DOTALL)


def _add_idmaps(cdef: ContainerDef, conf: Config) -> None:
    for name, raw in conf.entries:
        if name not in ("lxc.idmap", "lxc.id_map"):
            continue
        value = str(raw)
        # As sscanf("%c %lu %lu %lu"): the kind is the very first character; the numbers are target, start, count.
        m = _IDMAP.match(value)
        if not m:
            raise InternalError(f"invalid {name}: '{value}'")
        target, start, count = (int(g) % (1 << 64) for g in m.groups()[1:])
        if m.group(1) == "u":
            cdef.uidmap.append((start, target, count))
        elif m.group(1) == "g":
            cdef.gidmap.append((start, target, count))
        else:
            raise InternalError(f"invalid {name}: '{value}'")


def _add_memtune(cdef: ContainerDef, conf: Config) -> None:
    if (value := conf.get("lxc.cgroup.memory.limit_in_bytes")) is not None:
        kib = _convert_size(str(value)) // 1024
        cdef.memory = kib
        cdef.hard_limit = _truncate_limit(kib)
    if (value := conf.get("lxc.cgroup.memory.soft_limit_in_bytes")) is not None:
        cdef.soft_limit = _truncate_limit(_convert_size(str(value)) // 1024)
    if (value := conf.get("lxc.cgroup.memory.memsw.limit_in_bytes")) is not None:
        cdef.swap_hard_limit = _truncate_limit(_convert_size(str(value)) // 1024)


def _add_cputune(cdef: ContainerDef, conf: Config) -> None:
    for key, parse_, attr in (("lxc.cgroup.cpu.shares", lambda s: _strtoull(s)[0], "shares"),
                              ("lxc.cgroup.cpu.cfs_quota_us", _strtoll, "quota"),
                              ("lxc.cgroup.cpu.cfs_period_us", lambda s: _strtoull(s)[0], "period")):
        value = conf.get(key)
        if value is None:
            continue
        try:
            setattr(cdef, attr, parse_(str(value)))
        except ValueError:
            raise InternalError(f"failed to parse integer: '{value}'") from None


def _add_cpuset(cdef: ContainerDef, conf: Config) -> None:
    if (value := conf.get("lxc.cgroup.cpuset.cpus")) is not None:
        cdef.cpuset = bitmap.format_mask(bitmap.parse_mask(str(value), bitmap.CPUMASK_LEN))
    if (value := conf.get("lxc.cgroup.cpuset.mems")) is not None:
        cdef.nodeset = bitmap.format_mask(bitmap.parse_mask(str(value), bitmap.CPUMASK_LEN))


def _add_blkio(cdef: ContainerDef, conf: Config) -> None:
    if (value := conf.get("lxc.cgroup.blkio.weight")) is not None:
        try:
            cdef.blkio_weight = _strtoui(str(value))
        except ValueError:
            raise InternalError(f"failed to parse integer: '{value}'") from None
    for name, raw in conf.entries:
        if not name.startswith("lxc.cgroup.blkio.") or name == "lxc.cgroup.blkio.weight":
            continue
        value = str(raw)
        parts = value.replace("\t", " ").split()
        if len(parts) < 2:
            raise InternalError(f"invalid {name} value: '{value}'")
        path = f"/dev/block/{parts[0]}"
        device = next((d for d in cdef.blkio_devices if d.path == path), None)
        if device is None:
            device = BlkioDevice(path)
            cdef.blkio_devices.append(device)
        spec = BLKIO_DEVICE_KEYS.get(name)
        if spec is None:
            continue  # libvirt only warns about blkio settings it does not know
        element, is_uint, what = spec
        try:
            device.values[element] = _strtoui(parts[1]) if is_uint else _strtoull(parts[1])[0]
        except ValueError:
            raise InternalError(f"failed to parse {what}: '{parts[1]}'") from None


# ------------------------------------------------------------------------------------------- formatting
def _format(cdef: ContainerDef) -> str:
    w = Writer()
    w.start("domain", [("type", "lxc")])
    top = w.mark()
    w.leaf("name", [], cdef.name)
    w.leaf("uuid", [], cdef.uuid)
    w.leaf("memory", [("unit", "KiB")], str(cdef.memory))
    w.leaf("currentMemory", [("unit", "KiB")], str(cdef.memory))
    if cdef.blkio_weight or any(d.values for d in cdef.blkio_devices):
        w.start("blkiotune", [])
        m = w.mark()
        if cdef.blkio_weight:
            w.leaf("weight", [], str(cdef.blkio_weight))
        for device in cdef.blkio_devices:
            if not any(device.values.values()):
                continue
            w.start("device", [])
            dm = w.mark()
            w.leaf("path", [], device.path)
            for element in BLKIO_DEVICE_ORDER:
                if device.values.get(element):
                    w.leaf(element, [], str(device.values[element]))
            w.end("device", None, dm)
        w.end("blkiotune", None, m)
    limits = [(tag, v) for tag, v in (("hard_limit", cdef.hard_limit), ("soft_limit", cdef.soft_limit),
                                      ("swap_hard_limit", cdef.swap_hard_limit))
              if v is not None and v < MEMORY_UNLIMITED]
    if limits:
        w.start("memtune", [])
        m = w.mark()
        for tag, v in limits:
            w.leaf(tag, [("unit", "KiB")], str(v))
        w.end("memtune", None, m)
    w.leaf("vcpu", [("placement", "static")] + ([("cpuset", cdef.cpuset)] if cdef.cpuset else []), "1")
    if cdef.shares is not None or cdef.period or cdef.quota:
        w.start("cputune", [])
        m = w.mark()
        if cdef.shares is not None:
            w.leaf("shares", [], str(cdef.shares))
        if cdef.period:
            w.leaf("period", [], str(cdef.period))
        if cdef.quota:
            w.leaf("quota", [], str(cdef.quota))
        w.end("cputune", None, m)
    if cdef.nodeset:
        w.start("numatune", [])
        m = w.mark()
        w.leaf("memory", [("mode", "strict"), ("nodeset", cdef.nodeset)], None)
        w.end("numatune", None, m)
    w.start("os", [])
    m = w.mark()
    w.leaf("type", [("arch", cdef.arch)] if cdef.arch else [], "exe")
    w.leaf("init", [], "/sbin/init")
    w.end("os", None, m)
    if cdef.uidmap or cdef.gidmap:
        w.start("idmap", [])
        m = w.mark()
        for tag, entries in (("uid", cdef.uidmap), ("gid", cdef.gidmap)):
            for start, target, count in entries:
                w.leaf(tag, [("start", str(start)), ("target", str(target)), ("count", str(count))], None)
        w.end("idmap", None, m)
    w.start("features", [])
    m = w.mark()
    if cdef.privnet:
        w.leaf("privnet", [], None)
    w.start("capabilities", [("policy", "allow")])
    cm = w.mark()
    for cap in cdef.dropped_caps:
        w.leaf(cap, [("state", "off")], None)
    w.end("capabilities", None, cm)
    w.end("features", None, m)
    w.leaf("clock", [("offset", "utc")], None)
    w.leaf("on_poweroff", [], "destroy")
    w.leaf("on_reboot", [], "restart")
    w.leaf("on_crash", [], "destroy")
    w.start("devices", [])
    m = w.mark()
    w.leaf("emulator", [], EMULATOR)
    for fs in cdef.filesystems:
        _format_fs(w, fs)
    for entry, routes in cdef.interfaces:
        _format_interface(w, entry, routes)
    for port in range(cdef.consoles):
        w.start("console", [("type", "pty")])
        pm = w.mark()
        w.leaf("target", [("type", "lxc"), ("port", str(port))], None)
        w.end("console", None, pm)
    for iface, ips, routes in cdef.hostdevs:
        w.start("hostdev", [("mode", "capabilities"), ("type", "net")])
        hm = w.mark()
        w.start("source", [])
        sm = w.mark()
        w.leaf("interface", [], iface)
        w.end("source", None, sm)
        _format_ip(w, ips, routes)
        w.end("hostdev", None, hm)
    w.end("devices", None, m)
    w.end("domain", None, top)
    # XML cannot carry most control characters; libvirt's escaping drops them too.
    return _CONTROL_CHARS.sub("", w.getvalue())


def _format_fs(w: Writer, fs: Filesystem) -> None:
    w.start("filesystem", [("type", fs.type), ("accessmode", "passthrough")])
    m = w.mark()
    if fs.type == "ram":
        w.leaf("source", [("usage", str(fs.usage // 1024)), ("units", "KiB")], None)
    elif fs.source is not None:
        w.leaf("source", [("dev" if fs.type == "block" else "dir", fs.source)], None)
    w.leaf("target", [("dir", fs.target)], None)
    if fs.readonly:
        w.leaf("readonly", [], None)
    w.end("filesystem", None, m)


def _format_ip(w: Writer, ips: list[IPAddr], routes: list[Route]) -> None:
    for ip in ips:
        w.leaf("ip", [("address", ip.address), ("family", ip.family), ("prefix", str(ip.prefix))], None)
    for route in routes:
        w.leaf("route", [("family", route.family), ("address", route.address), ("gateway", route.gateway)], None)


def _format_interface(w: Writer, entry: NetEntry, routes: list[Route]) -> None:
    v = entry.values
    kind = v["type"]
    link = v.get("link")
    xml_type = "direct" if kind == "macvlan" else "bridge" if link else "ethernet"
    w.start("interface", [("type", xml_type)])
    m = w.mark()
    try:
        mac = format_mac(parse_mac(v["hwaddr"])) if "hwaddr" in v else _NO_MAC
    except VirtError:
        mac = _NO_MAC  # an unreadable hwaddr is ignored, as libvirt ignores it

    w.leaf("mac", [("address", mac)], None)
    if xml_type == "bridge":
        w.leaf("source", [("bridge", link or "")], None)
    elif xml_type == "direct":
        mode = v.get("macvlan.mode")
        # No mode means private; one libvirt does not know leaves the zero value, vepa.
        mode = "private" if mode is None else mode if mode in ("vepa", "bridge", "private") else "vepa"
        w.leaf("source", [("dev", link or ""), ("mode", mode)], None)
    _format_ip(w, entry.ips, routes)
    if "name" in v:
        w.leaf("guest", [("dev", v["name"])], None)
    w.leaf("link", [("state", "up" if v.get("flags") == "up" else "down")], None)
    w.end("interface", None, m)


# ------------------------------------------------------------------------------------------- entry point
def from_native(config: str | bytes, *, uuid: str | None = None, **_options: object) -> str:
    """Domain XML for an LXC tools config (the text of the file).

    ``uuid`` gives the new domain's UUID instead of a random one (for reproducible output).
    Errors: ConfigUnsupportedError, InvalidArgError, InternalError and the config-syntax errors of
    virt.util.config, with libvirt's messages.
    """
    text = config.decode("utf-8", errors="surrogateescape") if isinstance(config, bytes) else config
    conf = parse(text, filename="lxc-tools config", flags=ConfFlags.LXC_FORMAT)
    name = _first(conf, "lxc.uts.name", "lxc.utsname")
    if name is None:
        raise ConfigUnsupportedError("Missing lxc.uts.name or lxc.utsname configuration")
    try:
        domain_uuid = str(uuidlib.UUID(uuid)) if uuid else str(uuidlib.uuid4())
    except ValueError:
        raise InvalidArgError(f"malformed uuid '{uuid}'") from None
    cdef = ContainerDef(name=name or "unnamed", uuid=domain_uuid)
    if (arch := conf.get("lxc.arch")) is not None:
        arch = str(arch)
        arch = ARCH_ALIASES.get(arch, arch)
        cdef.arch = arch if arch in ARCHES else None
    rootfs = _first(conf, "lxc.rootfs.path", "lxc.rootfs")
    if rootfs is None:
        raise ConfigUnsupportedError("Missing lxc.rootfs configuration")
    cdef.filesystems.append(Filesystem("block" if rootfs.startswith("/dev/") else "mount", rootfs, "/"))
    if "lxc.mount.fstab" in conf or "lxc.mount" in conf:
        raise VirtError("lxc.mount.fstab or lxc.mount found, use lxc.mount.entry lines instead",
                        code=ErrorNumber.ARGUMENT_UNSUPPORTED, domain=ErrorDomain.LXC)
    for key, value in conf.entries:
        if key == "lxc.mount.entry":
            _add_fstab_line(cdef, str(value))
    _add_networks(cdef, conf)
    _add_consoles(cdef, conf)
    _add_idmaps(cdef, conf)
    _add_memtune(cdef, conf)
    _add_cputune(cdef, conf)
    _add_cpuset(cdef, conf)
    _add_blkio(cdef, conf)
    dropped = str(conf.get("lxc.cap.drop") or "").split(" ")
    cdef.dropped_caps = [cap for cap in PROCESS_CAPS if cap in dropped]
    return _format(cdef)
