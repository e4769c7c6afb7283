"""vCPUs and CPU: ``<vcpu>``, ``<vcpus>``, ``<iothreads>``, ``<cputune>`` (with cachetune/memorytune) and
``<cpu>`` (model, topology, features, NUMA cells)."""

from __future__ import annotations

from typing import Any

from virt.conf.domain.types import (
    CPUSet,
    DecInt,
    OnOff,
    UInt10,
    ULong10,
    YesNo,
    pretty_size,
    scale_value,
    scaled_kib,
)
from virt.conf.xmlmodel import (
    Attr,
    Child,
    Children,
    Enum,
    Model,
    ParseContext,
    String,
    Text,
    TextChild,
    Writer,
)
from virt.util.errors import InvalidArgError, XMLError


class Vcpu(Model):
    TAG = "vcpu"
    placement = Attr(Enum("static", "auto", name="vcpu placement"))
    cpuset = Attr(CPUSet)
    current = Attr(UInt10)
    count = Text(UInt10)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.count is None:
            self.count = 1
        if self.count == 0:
            raise XMLError("invalid maximum number of vCPUs")
        if self.current is not None:
            if self.current == 0:
                raise XMLError("invalid current number of vCPUs")
            if self.current > self.count:
                raise XMLError("maxvcpus must not be less than current vcpus "
                               f"({self.count} < {self.current})")
        self.placement_given = self.placement is not None
        if self.placement is None:
            self.placement = "static"
        if self.placement == "auto":
            self.cpuset = None


class VcpuState(Model):
    TAG = "vcpu"
    id = Attr(UInt10)
    enabled = Attr(YesNo)
    hotpluggable = Attr(YesNo)
    order = Attr(UInt10)


class Vcpus(Model):
    TAG = "vcpus"
    vcpus = Children(VcpuState)


class IOThreadPoll(Model):
    TAG = "poll"
    max = Attr(ULong10)
    grow = Attr(UInt10)
    shrink = Attr(UInt10)


class IOThread(Model):
    TAG = "iothread"
    id = Attr(DecInt(1, 2**32 - 1))
    thread_pool_min = Attr(DecInt(-1, 2**31 - 1))
    thread_pool_max = Attr(DecInt(-1, 2**31 - 1))
    poll = Child(IOThreadPoll)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.id is None:
            raise XMLError("Missing 'id' attribute in <iothread> element")
        if (self.thread_pool_min is not None and self.thread_pool_max is not None and
                self.thread_pool_min > self.thread_pool_max):
            raise XMLError("thread_pool_min must be smaller or equal to thread_pool_max")
        if self.thread_pool_max == 0:
            raise XMLError("thread_pool_max must be a positive integer")


class IOThreadIDs(Model):
    TAG = "iothreadids"
    iothreads = Children(IOThread)


class DefaultIOThread(Model):
    TAG = "defaultiothread"
    thread_pool_min = Attr(DecInt(-1, 2**31 - 1))
    thread_pool_max = Attr(DecInt(-1, 2**31 - 1))

    def post_parse(self, ctx: ParseContext) -> None:
        if (self.thread_pool_min is not None and self.thread_pool_max is not None and
                self.thread_pool_min > self.thread_pool_max):
            raise XMLError("thread_pool_min must be smaller or equal to thread_pool_max")

    def write(self, w: Writer, tag: str | None = None) -> None:
        if self.thread_pool_min is not None or self.thread_pool_max is not None:
            super().write(w, tag)


# ----------------------------------------------------------------------------- cputune

class VcpuPin(Model):
    TAG = "vcpupin"
    vcpu = Attr(UInt10)
    cpuset = Attr(CPUSet)


class EmulatorPin(Model):
    TAG = "emulatorpin"
    cpuset = Attr(CPUSet)


class IOThreadPin(Model):
    TAG = "iothreadpin"
    iothread = Attr(UInt10)
    cpuset = Attr(CPUSet)


SCHED_POLICIES = ("batch", "idle", "fifo", "rr")


class VcpuSched(Model):
    TAG = "vcpusched"
    vcpus = Attr(CPUSet)
    scheduler = Attr(Enum(*SCHED_POLICIES, name="scheduler"))
    priority = Attr(DecInt(-2**31, 2**31 - 1))


class IOThreadSched(Model):
    TAG = "iothreadsched"
    iothreads = Attr(CPUSet)
    scheduler = Attr(Enum(*SCHED_POLICIES, name="scheduler"))
    priority = Attr(DecInt(-2**31, 2**31 - 1))


class EmulatorSched(Model):
    TAG = "emulatorsched"
    scheduler = Attr(Enum(*SCHED_POLICIES, name="scheduler"))
    priority = Attr(DecInt(-2**31, 2**31 - 1))


class CacheAlloc(Model):
    TAG = "cache"
    id = Attr(UInt10)
    level = Attr(UInt10)
    type = Attr(Enum("both", "code", "data", name="cache type"))
    size = Attr(ULong10)
    unit = Attr(String)


class Monitor(Model):
    TAG = "monitor"
    level = Attr(UInt10)
    vcpus = Attr(CPUSet)


class CacheTune(Model):
    TAG = "cachetune"
    vcpus = Attr(CPUSet)
    id = Attr(String)
    caches = Children(CacheAlloc)
    monitors = Children(Monitor)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.vcpus is None:
            raise XMLError("Missing attribute vcpus for element cachetune")
        seen: dict[tuple[int, int], str] = {}
        for c in self.caches:
            for n in ("id", "level", "type", "size"):
                if getattr(c, n) is None:
                    raise XMLError(f"Missing attribute {n} for element cache")
            nbytes = scale_value(c.size, c.unit, 1024)
            c.size, c.unit = pretty_size(nbytes)
            key = (c.level, c.id)
            prev = seen.get(key)
            if prev is not None:
                if prev == c.type:
                    raise XMLError(f"Cache with id {c.id} and level {c.level} already has allocation of type "
                                   f"{c.type}")
                if "both" in (prev, c.type):
                    raise XMLError(f"Cache allocation of type '{c.type}' cannot be combined with type '{prev}'")
            seen[key] = c.type
        if ctx.inactive:
            self.id = None
        _check_monitors(self.monitors)


class MemNodeBW(Model):
    TAG = "node"
    id = Attr(UInt10)
    bandwidth = Attr(UInt10)


class MemoryTune(Model):
    TAG = "memorytune"
    vcpus = Attr(CPUSet)
    id = Attr(String)
    nodes = Children(MemNodeBW)
    monitors = Children(Monitor)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.vcpus is None:
            raise XMLError("Missing attribute vcpus for element memorytune")
        seen: set[int] = set()
        for n in self.nodes:
            if n.id is None:
                raise XMLError("Missing memorytune attribute 'id'")
            if n.bandwidth is None:
                raise XMLError("Missing memorytune attribute 'bandwidth'")
            if n.id in seen:
                raise XMLError(f"Memory Bandwidth already defined for node {n.id}")
            seen.add(n.id)
        if ctx.inactive:
            self.id = None
        _check_monitors(self.monitors)


def _check_monitors(monitors: list[Monitor]) -> None:
    # (the vCPU sets are checked once the domain has trimmed them to its vCPUs: CPUTune.limit_to)
    for m in monitors:
        if m.vcpus is None:
            raise XMLError("Missing monitor attribute 'vcpus'")


def _check_trimmed_monitors(monitors: list[Monitor], vcpus: tuple[int, ...]) -> None:
    """libvirt's checks of monitors, in document order, on vCPU sets trimmed to the domain's vCPUs."""
    seen: list[tuple[int, ...]] = []
    for m in monitors:
        if not m.vcpus:
            raise InvalidArgError("vcpus is empty")
        if not set(m.vcpus) <= set(vcpus):
            raise InvalidArgError("Monitor vcpus conflicts with allocation")
        if m.vcpus in seen:
            raise InvalidArgError("Identical vcpus found in same type monitors")
        seen.append(m.vcpus)


class _Period(Model):
    value = Text(ULong10)


def _tuned(tag: str, vtype: Any = ULong10) -> Any:
    return TextChild(vtype, tag=tag)


class CPUTune(Model):
    TAG = "cputune"
    shares = _tuned("shares")
    period = _tuned("period")
    quota = _tuned("quota", DecInt(-2**63, 2**63 - 1))
    global_period = _tuned("global_period")
    global_quota = _tuned("global_quota", DecInt(-2**63, 2**63 - 1))
    emulator_period = _tuned("emulator_period")
    emulator_quota = _tuned("emulator_quota", DecInt(-2**63, 2**63 - 1))
    iothread_period = _tuned("iothread_period")
    iothread_quota = _tuned("iothread_quota", DecInt(-2**63, 2**63 - 1))
    vcpupins = Children(VcpuPin)
    emulatorpin = Child(EmulatorPin)
    iothreadpins = Children(IOThreadPin)
    emulatorsched = Child(EmulatorSched)
    vcpuscheds = Children(VcpuSched)
    iothreadscheds = Children(IOThreadSched)
    cachetunes = Children(CacheTune)
    memorytunes = Children(MemoryTune)

    def post_parse(self, ctx: ParseContext) -> None:
        for name in ("period", "global_period", "emulator_period", "iothread_period"):
            v = getattr(self, name)
            if v is not None and v != 0 and not 1000 <= v <= 1000000:
                raise XMLError(f"Value of cputune '{name}' must be in range [1000, 1000000]")
            if v == 0:
                setattr(self, name, None)
        for name in ("quota", "global_quota", "emulator_quota", "iothread_quota"):
            v = getattr(self, name)
            if v is not None and v != 0 and v > 0 and not 1000 <= v <= 17592186044415:
                raise XMLError(f"Value of cputune '{name}' must be in range [1000, 17592186044415] or less than 0")
            if v == 0:
                setattr(self, name, None)
        if self.shares == 0:
            pass
        seen: set[int] = set()
        for pin in self.vcpupins:
            if pin.vcpu is None:
                raise XMLError("missing vcpu id in vcpupin")
            if pin.cpuset is None:
                raise XMLError("missing cpuset for vcpupin")
            if pin.vcpu in seen:
                raise XMLError(f"duplicate vcpupin for vcpu '{pin.vcpu}'")
            seen.add(pin.vcpu)
        self.vcpupins.sort(key=lambda p: p.vcpu)
        seen = set()
        for pin in self.iothreadpins:
            if pin.iothread is None or pin.iothread == 0:
                raise XMLError("invalid setting for iothread '0'" if pin.iothread == 0 else
                               "missing iothread id in iothreadpin")
            if pin.cpuset is None:
                raise XMLError("missing cpuset for iothreadpin")
            if pin.iothread in seen:
                raise XMLError(f"duplicate iothreadpin for same iothread '{pin.iothread}'")
            seen.add(pin.iothread)
        for s in (*self.vcpuscheds, *self.iothreadscheds):
            if s.scheduler is None:
                raise XMLError("Missing scheduler attribute")
            if s.scheduler in ("fifo", "rr"):
                if s.priority is None:
                    raise XMLError("Missing scheduler priority")
            else:
                s.priority = None
        self._group_scheds()

    def _group_scheds(self) -> None:
        """One vcpusched/iothreadsched per thread, in id order, as libvirt keeps them per thread."""
        for attr, ids_name, cls in (("vcpuscheds", "vcpus", VcpuSched), ("iothreadscheds", "iothreads",
                                                                          IOThreadSched)):
            items = getattr(self, attr)
            if not items:
                continue
            per: dict[int, tuple[str, int | None]] = {}
            for s in items:
                for n in getattr(s, ids_name) or ():
                    if n in per:
                        raise XMLError(f"Attempt to redefine scheduler for {ids_name[:-1]} {n}")
                    per[n] = (s.scheduler, s.priority)
            setattr(self, attr, [cls(**{ids_name: (n,), "scheduler": per[n][0], "priority": per[n][1]})
                                 for n in sorted(per)])

    def limit_to(self, max_vcpus: int, iothread_ids: list[int]) -> None:
        """Drop scheduling of vCPUs and iothreads the domain does not have; trim resctrl vCPU sets."""
        self.vcpuscheds = [s for s in self.vcpuscheds if s.vcpus[0] < max_vcpus]
        order = {tid: i for i, tid in enumerate(iothread_ids)}
        self.iothreadscheds = sorted((s for s in self.iothreadscheds if s.iothreads[0] in order),
                                     key=lambda s: order[s.iothreads[0]])
        for name in ("cachetunes", "memorytunes"):
            kept = []
            for t in getattr(self, name):
                vcpus = tuple(v for v in t.vcpus if v < max_vcpus)
                if vcpus:  # (libvirt drops a tune none of whose vCPUs the domain has)
                    t.vcpus = vcpus
                    for m in t.monitors:
                        m.vcpus = tuple(v for v in m.vcpus if v < max_vcpus)
                    _check_trimmed_monitors(t.monitors, vcpus)
                    kept.append(t)
            setattr(self, name, kept)
        self._check_resctrl_overlaps()

    def _check_resctrl_overlaps(self) -> None:
        """libvirt's rule on the trimmed vCPU sets: no two tunes share a vCPU, except that a memorytune may have
        exactly a cachetune's set (they are one allocation)."""
        tunes = [set(t.vcpus) for t in self.cachetunes]
        for t in self.memorytunes:
            vcpus = set(t.vcpus)
            if vcpus not in tunes[:len(self.cachetunes)]:
                tunes.append(vcpus)
        for i, a in enumerate(tunes):
            for b in tunes[i + 1:]:
                if a & b:
                    raise XMLError("Overlapping vcpus in resctrls")

    def is_empty(self) -> bool:
        return self.no_values()


# ----------------------------------------------------------------------------- <cpu>

CPU_MODES = ("custom", "host-model", "host-passthrough", "maximum")
FEATURE_POLICIES = ("force", "require", "optional", "disable", "forbid")


class CPUModel(Model):
    TAG = "model"
    fallback = Attr(Enum("allow", "forbid", name="fallback"))
    vendor_id = Attr(String)
    name = Text(String)


class Topology(Model):
    TAG = "topology"
    sockets = Attr(UInt10)
    dies = Attr(UInt10)
    clusters = Attr(UInt10)
    cores = Attr(UInt10)
    threads = Attr(UInt10)


class CPUCache(Model):
    TAG = "cache"
    level = Attr(UInt10)
    mode = Attr(Enum("emulate", "passthrough", "disable", name="cache mode"))


class MaxPhysAddr(Model):
    TAG = "maxphysaddr"
    mode = Attr(Enum("emulate", "passthrough", name="maxphysaddr mode"))
    bits = Attr(UInt10)
    limit = Attr(UInt10)


class CPUFeature(Model):
    TAG = "feature"
    policy = Attr(Enum(*FEATURE_POLICIES, name="CPU feature policy"))
    name = Attr(String)


class Sibling(Model):
    TAG = "sibling"
    id = Attr(UInt10)
    value = Attr(UInt10)


class Distances(Model):
    TAG = "distances"
    siblings = Children(Sibling)


class CacheValueUnit(Model):
    value = Attr(ULong10)
    unit = Attr(String)


class CellCacheSize(CacheValueUnit):
    TAG = "size"


class CellCacheLine(CacheValueUnit):
    TAG = "line"


class CellCache(Model):
    TAG = "cache"
    level = Attr(UInt10)
    associativity = Attr(Enum("none", "direct", "full", name="cache associativity"))
    policy = Attr(Enum("none", "writeback", "writethrough", name="cache policy"))
    size = Child(CellCacheSize)
    line = Child(CellCacheLine)

    def post_parse(self, ctx: ParseContext) -> None:
        # libvirt keeps the cache size in KiB and the line size in bytes
        if self.size is not None and self.size.value is not None:
            self.size.value = -(-scale_value(self.size.value, self.size.unit, 1024) // 1024)
            self.size.unit = "KiB"
        if self.line is not None and self.line.value is not None:
            self.line.value = scale_value(self.line.value, self.line.unit, 1)
            self.line.unit = "B"


def _kib_pretty(value: int, unit: str | None) -> tuple[int, str]:
    """A size in KiB, printed in the largest unit that keeps it whole (cache sizes)."""
    kib = -(-scale_value(value, unit, 1024) // 1024)
    units = ("KiB", "MiB", "GiB", "TiB")
    i = 0
    while kib and kib % 1024 == 0 and i < len(units) - 1:
        kib //= 1024
        i += 1
    return kib, units[i]


class Cell(Model):
    TAG = "cell"
    id = Attr(UInt10)
    cpus = Attr(CPUSet)
    memory = Attr(ULong10)
    unit = Attr(String)
    memAccess = Attr(Enum("shared", "private", name="memAccess"))
    discard = Attr(YesNo)
    distances = Child(Distances)
    caches = Children(CellCache)

    def parse_extra(self, el, ctx):  # type: ignore[no-untyped-def]
        self._kib = scaled_kib(el, "memory")
        return set()

    def post_parse(self, ctx: ParseContext) -> None:
        kib = self.__dict__.pop("_kib", None)
        if kib is None:
            raise XMLError("Missing 'memory' attribute in NUMA cell")
        self.memory, self.unit = kib, "KiB"


class Latency(Model):
    initiator = Attr(UInt10)
    target = Attr(UInt10)
    cache = Attr(UInt10)
    type = Attr(Enum("access", "read", "write", name="latency type"))
    value = Attr(ULong10)
    unit = Attr(String)


class LatencyEl(Latency):
    TAG = "latency"


class BandwidthEl(Latency):
    TAG = "bandwidth"

    def post_parse(self, ctx: ParseContext) -> None:
        if self.value is not None:
            self.value = -(-scale_value(self.value, self.unit, 1024) // 1024)
            self.unit = "KiB"


class Interconnects(Model):
    TAG = "interconnects"
    latencies = Children(LatencyEl)
    bandwidths = Children(BandwidthEl)


class Numa(Model):
    TAG = "numa"
    cells = Children(Cell)
    interconnects = Child(Interconnects)

    def post_parse(self, ctx: ParseContext) -> None:
        n = len(self.cells)
        ordered: list[Cell | None] = [None] * n
        for i, c in enumerate(self.cells):
            cid = c.id if c.id is not None else i
            if cid >= n:
                raise XMLError("Exactly one 'cell' element per guest NUMA cell allowed, non-contiguous ranges "
                               "or ranges not starting from 0 are not allowed")
            if ordered[cid] is not None:
                raise XMLError(f"Duplicate NUMA cell info for cell id '{cid}'")
            c.id = cid
            ordered[cid] = c
        self.cells = [c for c in ordered if c is not None]
        cpus: set[int] = set()
        for c in self.cells:
            if c.cpus:
                if cpus & set(c.cpus):
                    raise XMLError("NUMA cells have overlapping vCPU ids")
                cpus.update(c.cpus)

    @property
    def memory_kib(self) -> int:
        return sum(c.memory or 0 for c in self.cells)


class CPU(Model):
    TAG = "cpu"
    mode = Attr(Enum(*CPU_MODES, name="CPU mode"))
    match = Attr(Enum("minimum", "exact", "strict", name="CPU match"))
    check = Attr(Enum("none", "partial", "full", name="CPU check"))
    migratable = Attr(OnOff)
    model = Child(CPUModel)
    vendor = TextChild(String)
    topology = Child(Topology)
    cache = Child(CPUCache)
    maxphysaddr = Child(MaxPhysAddr)
    features = Children(CPUFeature)
    numa = Child(Numa)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.mode is None:
            self.mode = "custom"
        mode = self.mode
        if mode == "custom" and self.model is not None and self.model.name:
            if self.match is None:
                self.match = "exact"
        elif mode != "custom":
            self.match = None
        if self.model is not None:
            if self.model.name is not None and not self.model.name.strip():
                self.model.name = None
            if self.model.vendor_id is not None and len(self.model.vendor_id) != 12:
                raise XMLError("vendor_id must be exactly 12 characters long")
            if mode == "custom" and self.model.fallback is None and self.model.name:
                self.model.fallback = "allow"
            if mode in ("host-model",) and self.model.fallback is None:
                self.model.fallback = "allow"
        if mode in ("host-passthrough", "maximum"):
            if self.model is not None:
                self.model.name = None
                if self.model.fallback is None and self.model.vendor_id is None:
                    self.model = None
        else:
            self.migratable = None
        if self.vendor is not None and (self.model is None or not self.model.name) and mode == "custom":
            raise XMLError("CPU vendor specified without CPU model")
        t = self.topology
        if t is not None:
            if t.dies is None:
                t.dies = 1
            for n in ("sockets", "cores", "threads"):
                if getattr(t, n) is None:
                    raise XMLError(f"Missing '{n}' attribute in CPU topology")
                if getattr(t, n) == 0:
                    raise XMLError(f"Invalid '{n}' value in CPU topology")
            if t.dies == 0:
                raise XMLError("Invalid 'dies' value in CPU topology")
            if t.clusters == 1:
                t.clusters = None
        names: set[str] = set()
        for f in self.features:
            if not f.name:
                raise XMLError("Missing 'name' attribute for CPU feature")
            if f.policy is None:
                f.policy = "require"
            if f.name in names:
                raise XMLError(f"CPU feature '{f.name}' specified more than once")
            names.add(f.name)
        if self.features and mode == "custom" and (self.model is None or not self.model.name):
            raise XMLError("Non-empty feature list specified without CPU model")
        if self.cache is not None:
            c = self.cache
            if c.mode is None:
                raise XMLError("missing CPU cache mode")
            if c.mode == "passthrough" and c.level is not None:
                raise XMLError("unsupported CPU cache level for mode 'passthrough'")
        if self.maxphysaddr is not None:
            m = self.maxphysaddr
            if m.mode is None:
                raise XMLError("missing 'mode' attribute of 'maxphysaddr'")

    def write(self, w: Writer, tag: str | None = None) -> None:
        # mode is printed unless it is the default with no model; match only for a custom model
        has_model = self.model is not None and bool(self.model.name)
        saved = self.mode, self.match
        if self.mode == "custom" and not has_model:
            self.mode = None
        if not (has_model and saved[0] == "custom"):
            self.match = None
        try:
            super().write(w, tag)
        finally:
            self.mode, self.match = saved

    def is_empty(self) -> bool:
        # (match is printed only with a model: without one, <cpu match='exact'/> prints nothing, as in libvirt)
        return self.mode == "custom" and self.no_values(skip=("mode", "match"))

    @property
    def model_name(self) -> str | None:
        return self.model.name if self.model is not None else None
