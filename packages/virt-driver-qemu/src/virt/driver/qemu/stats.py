"""Statistics of running guests: domstats groups, block/interface/memory stats, vCPU information.

Each domstats group (libvirt's VIR_DOMAIN_STATS_*) is one function filling typed parameters under
libvirt's names (``cpu.time``, ``block.0.rd.bytes``...); ``GROUPS`` lists them once. The numbers
come from where libvirt takes them: QMP (query-blockstats, query-balloon, query-cpus-fast), the
guest's cgroup and /proc.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from virt.core.enums import ConnectGetAllDomainStatsFlags as GF
from virt.core.enums import DomainState as S
from virt.core.enums import DomainStatsTypes as T
from virt.core.types import BlockStats, DomainStatsRecord, InterfaceStats, VcpuInfo
from virt.driver.qemu import definition as D
from virt.driver.qemu import lifecycle as L
from virt.driver.qemu import xmlutil as X
from virt.driver.qemu.state import DomainObj, process_cpu_time, thread_cpu_time, thread_last_cpu
from virt.util.errors import ErrorDomain, InvalidArgError, OperationUnsupportedError, VirtError

if TYPE_CHECKING:
    from virt.driver.qemu.driver import QemuDriver

QEMU = ErrorDomain.QEMU
Params = dict[str, Any]
#: virDomainMemoryStatTags.
MEM_ACTUAL_BALLOON, MEM_RSS = 6, 7
#: query-blockstats counters -> libvirt's block.N.* names.
BLOCK_COUNTERS = (("rd_operations", "rd.reqs"), ("rd_bytes", "rd.bytes"), ("rd_total_time_ns", "rd.times"),
                  ("wr_operations", "wr.reqs"), ("wr_bytes", "wr.bytes"), ("wr_total_time_ns", "wr.times"),
                  ("flush_operations", "fl.reqs"), ("flush_total_time_ns", "fl.times"))
#: Interface counters, named from the guest's side (a tap's transmit is the guest's receive).
NET_COUNTERS = (("rx.bytes", "tx_bytes"), ("rx.pkts", "tx_packets"), ("rx.errs", "tx_errors"),
                ("rx.drop", "tx_dropped"), ("tx.bytes", "rx_bytes"), ("tx.pkts", "rx_packets"),
                ("tx.errs", "rx_errors"), ("tx.drop", "rx_dropped"))


# ----------------------------------------------------------------------------------------- helpers
def _clock_ticks(value: str) -> int:
    return int(value) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def _proc_fields(pid: int) -> list[str]:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return stat[stat.rfind(")") + 2:].split()


def vcpu_threads(obj: DomainObj) -> list[tuple[int, int]]:
    """(vCPU index, host thread id) of each online vCPU (query-cpus-fast)."""
    mon = L.monitor(obj)
    return sorted((int(c.get("cpu-index", i)), int(c.get("thread-id", 0)))
                  for i, c in enumerate(mon.execute("query-cpus-fast")))


def vcpu_infos(obj: DomainObj) -> list[VcpuInfo]:
    running = 1 if obj.state == S.RUNNING else 0
    return [VcpuInfo(index, running, thread_cpu_time(obj.pid, tid), thread_last_cpu(obj.pid, tid))
            for index, tid in vcpu_threads(obj)]


def _disk_nodes(disk: Any) -> list[str]:
    return (X.priv(disk, "nodes") or "").split()


def _disk_path(disk: Any) -> str:
    src = disk.find("source")
    if src is None:
        return ""
    return src.get("file") or src.get("dev") or src.get("dir") or src.get("name") or ""


def find_disk(obj: DomainObj, path: str) -> Any:
    assert obj.live is not None
    for disk in obj.live.findall("devices/disk"):
        if path and path in (X.get(disk, "target", "dev"), _disk_path(disk)):
            return disk
    raise InvalidArgError(f"invalid path: {path}", domain=QEMU)


def _blockstats(obj: DomainObj) -> dict[str, dict[str, int]]:
    """Top node name -> query-blockstats counters."""
    out: dict[str, dict[str, int]] = {}
    for entry in L.monitor(obj).execute("query-blockstats", {"query-nodes": False}):
        node = entry.get("node-name") or ""
        out[node] = entry.get("stats", {})
        qdev = str(entry.get("qdev") or "")
        if qdev:
            out[qdev] = entry.get("stats", {})
    return out


def _stats_of(disk: Any, table: dict[str, dict[str, int]]) -> dict[str, int] | None:
    nodes = _disk_nodes(disk)
    if nodes and nodes[0] in table:
        return table[nodes[0]]
    alias = X.alias(disk) or ""
    for key, value in table.items():
        if key.startswith("/machine/peripheral/") and key.split("/")[3] == alias:
            return value
    return None


def block_stats(obj: DomainObj, path: str) -> BlockStats:
    disk = find_disk(obj, path)
    stats = _stats_of(disk, _blockstats(obj))
    if stats is None:
        raise InvalidArgError(f"cannot find statistics for device '{path}'", domain=QEMU)
    return BlockStats(int(stats.get("rd_operations", 0)), int(stats.get("rd_bytes", 0)),
                      int(stats.get("wr_operations", 0)), int(stats.get("wr_bytes", 0)), -1)


def _tap_counters(dev: str) -> dict[str, int]:
    base = Path("/sys/class/net") / dev / "statistics"
    return {name: int((base / name).read_text()) for _, name in NET_COUNTERS}


def find_interface(obj: DomainObj, device: str) -> Any:
    assert obj.live is not None
    for net in obj.live.findall("devices/interface"):
        if device in (X.get(net, "target", "dev"), (X.get(net, "mac", "address") or "").lower(), X.alias(net)):
            return net
    raise InvalidArgError(f"invalid path, '{device}' is not a known interface", domain=QEMU)


def interface_stats(obj: DomainObj, device: str) -> InterfaceStats:
    net = find_interface(obj, device.lower() if ":" in device else device)
    dev = X.get(net, "target", "dev")
    if not dev or not (Path("/sys/class/net") / dev).exists():
        raise OperationUnsupportedError(f"interface statistics are not available for interfaces of type "
                                        f"'{net.get('type')}'", domain=QEMU)
    c = _tap_counters(dev)
    return InterfaceStats(*(c[name] for _, name in NET_COUNTERS))


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _balloon_kib(obj: DomainObj) -> int:
    assert obj.live is not None
    if not D.has_balloon(obj.live):
        return D.current_memory_kib(obj.live)
    try:
        return int(L.monitor(obj).execute("query-balloon")["actual"]) >> 10
    except VirtError:
        return D.current_memory_kib(obj.live)


def memory_stats(driver: QemuDriver, obj: DomainObj, nr_stats: int) -> dict[int, int]:
    stats = {MEM_ACTUAL_BALLOON: _balloon_kib(obj), MEM_RSS: _rss_kib(obj.pid)}
    return dict(list(stats.items())[: max(nr_stats, 0)])


# ----------------------------------------------------------------------------------------- domstats groups
def _state(driver: QemuDriver, obj: DomainObj, p: Params) -> None:
    p["state.state"], p["state.reason"] = int(obj.state), int(obj.reason)


def _cpu_total(driver: QemuDriver, obj: DomainObj, p: Params) -> None:
    fields = _proc_fields(obj.pid)
    p["cpu.time"] = driver._cpu_time(obj) or process_cpu_time(obj.pid)
    if fields:
        p["cpu.user"], p["cpu.system"] = _clock_ticks(fields[11]), _clock_ticks(fields[12])


def _balloon(driver: QemuDriver, obj: DomainObj, p: Params) -> None:
    assert obj.live is not None
    p["balloon.current"] = _balloon_kib(obj)
    p["balloon.maximum"] = D.memory_kib(obj.live)
    p["balloon.rss"] = _rss_kib(obj.pid)


def _vcpu(driver: QemuDriver, obj: DomainObj, p: Params) -> None:
    assert obj.live is not None
    current, maximum = D.vcpus(obj.live)
    p["vcpu.current"], p["vcpu.maximum"] = current, maximum
    running = 1 if obj.state == S.RUNNING else 0
    for index, tid in vcpu_threads(obj):
        p[f"vcpu.{index}.state"] = running
        p[f"vcpu.{index}.time"] = thread_cpu_time(obj.pid, tid)
        p[f"vcpu.{index}.wait"] = 0


def _interface(driver: QemuDriver, obj: DomainObj, p: Params) -> None:
    assert obj.live is not None
    nets = obj.live.findall("devices/interface")
    p["net.count"] = len(nets)
    for i, net in enumerate(nets):
        dev = X.get(net, "target", "dev")
        p[f"net.{i}.name"] = dev or X.alias(net) or ""
        if dev and (Path("/sys/class/net") / dev).exists():
            c = _tap_counters(dev)
            for name, source in NET_COUNTERS:
                p[f"net.{i}.{name}"] = c[source]


def _block(driver: QemuDriver, obj: DomainObj, p: Params) -> None:
    assert obj.live is not None
    disks = obj.live.findall("devices/disk")
    table = _blockstats(obj)
    p["block.count"] = len(disks)
    for i, disk in enumerate(disks):
        p[f"block.{i}.name"] = X.get(disk, "target", "dev") or ""
        path = _disk_path(disk)
        if path:
            p[f"block.{i}.path"] = path
        stats = _stats_of(disk, table)
        if stats is not None:
            for source, name in BLOCK_COUNTERS:
                p[f"block.{i}.{name}"] = int(stats.get(source, 0))
        if path and os.path.exists(path):
            st = os.stat(path)
            p[f"block.{i}.allocation"] = st.st_blocks * 512
            p[f"block.{i}.physical"] = st.st_size
            p[f"block.{i}.capacity"] = st.st_size


Group = Callable[["QemuDriver", DomainObj, Params], None]
#: domstats groups in libvirt's order: (flag, filler, needs a running guest).
GROUPS: tuple[tuple[int, Group, bool], ...] = (
    (T.STATE, _state, False),
    (T.CPU_TOTAL, _cpu_total, True),
    (T.BALLOON, _balloon, True),
    (T.VCPU, _vcpu, True),
    (T.INTERFACE, _interface, True),
    (T.BLOCK, _block, True),
)
SUPPORTED = sum(flag for flag, _, _ in GROUPS)


def _listed(obj: DomainObj, flags: int) -> bool:
    groups = ((GF.ACTIVE | GF.INACTIVE, GF.ACTIVE if obj.active else GF.INACTIVE),
              (GF.PERSISTENT | GF.TRANSIENT, GF.PERSISTENT if obj.persistent else GF.TRANSIENT),
              (GF.RUNNING | GF.PAUSED | GF.SHUTOFF | GF.OTHER,
               {S.RUNNING: GF.RUNNING, S.PAUSED: GF.PAUSED, S.SHUTOFF: GF.SHUTOFF}.get(S(obj.state), GF.OTHER)))
    return all(not flags & mask or flags & mask & value for mask, value in groups)


def all_domain_stats(driver: QemuDriver, objs: list[DomainObj], stats: int, flags: int,
                     listed: bool = False) -> list[DomainStatsRecord]:
    if flags & GF.ENFORCE_STATS and stats & ~SUPPORTED:
        raise OperationUnsupportedError(f"Stats types bits 0x{stats & ~SUPPORTED:x} are not supported by this "
                                        "daemon", domain=QEMU)
    wanted = stats or SUPPORTED
    out = []
    for obj in sorted(objs, key=lambda o: o.name):
        if not listed and not _listed(obj, flags):
            continue
        params: Params = {}
        for flag, fill, needs_running in GROUPS:
            if not wanted & flag or (needs_running and not obj.active):
                continue
            try:
                fill(driver, obj, params)
            except VirtError:
                continue  # the guest stopped meanwhile: report what is known
        out.append(DomainStatsRecord(obj.ref(), params))
    return out
