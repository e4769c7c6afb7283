"""Domain tunables of the mock host: scheduler, memory limits, balloon period, lifecycle actions,
vCPU and emulator pinning, CPU statistics, and the read-only tunable reports of libvirt's test driver."""

from __future__ import annotations

from typing import Any, ClassVar

from virt.core.drivers.test.base import Calls
from virt.core.drivers.test.errors import (
    DOMAIN,
    bare,
    error,
    internal,
    invalid_arg,
    operation_invalid,
)
from virt.core.enums import DomainModificationImpact as MI
from virt.core.types import DomainRef
from virt.util.errors import ErrorNumber as E

#: VIR_DOMAIN_MEMORY_PARAM_UNLIMITED: a memory limit that is not set.
UNLIMITED = 9007199254740991
#: The domain's total CPU time libvirt's test driver reports (nanoseconds), and its user/system split.
TOTAL_CPU_TIME = 48772617035
CPU_TIMES = {"cpu_time": TOTAL_CPU_TIME, "user_time": 5540000000, "system_time": 6460000000}
MEMORY_LIMITS = ("hard_limit", "soft_limit", "swap_hard_limit")
LIFECYCLE_EVENTS = ("poweroff", "reboot", "crash")
LIFECYCLE_ACTIONS = ("destroy", "restart", "rename-restart", "preserve", "coredump-destroy", "coredump-restart")
TYPED_PARAM_STRING_OKAY = 4
_AFFECT = MI.LIVE | MI.CONFIG

#: virDomainNumatuneMemMode values, in order.
NUMA_MODES = ("strict", "preferred", "interleave", "restrictive")
#: blkio device parameters -> the BlkioDevice field each lists.
BLKIO_DEVICE_PARAMS = {"device_weight": "weight", "device_read_iops_sec": "read_iops_sec",
                       "device_write_iops_sec": "write_iops_sec", "device_read_bytes_sec": "read_bytes_sec",
                       "device_write_bytes_sec": "write_bytes_sec"}
#: Interface bandwidth parameters per direction.
BANDWIDTH_PARAMS = {"inbound": ("average", "peak", "burst", "floor"), "outbound": ("average", "peak", "burst")}
#: The largest block I/O throttle libvirt's test driver accepts.
IOTUNE_MAX = 10**15

#: Tunable reports: call -> the parameters libvirt's test driver returns for an untuned domain.
DEFAULT_REPORTS: dict[str, dict[str, Any]] = {
    "domain_get_blkio_parameters": {"weight": 0, "device_weight": "", "device_read_iops_sec": "",
                                    "device_write_iops_sec": "", "device_read_bytes_sec": "",
                                    "device_write_bytes_sec": ""},
    "domain_get_numa_parameters": {"numa_mode": 0, "numa_nodeset": ""},
    "domain_get_interface_parameters": {f"{d}.{k}": 0 for d, keys in (("inbound", ("average", "peak", "burst",
                                                                                   "floor")),
                                                                       ("outbound", ("average", "peak", "burst")))
                                        for k in keys},
    "domain_get_block_io_tune": {**{f"{k}{s}": 0 for s in ("", "_max") for k in (
        "total_bytes_sec", "read_bytes_sec", "write_bytes_sec", "total_iops_sec", "read_iops_sec",
        "write_iops_sec")}, "size_iops_sec": 0, "group_name": "",
        **{f"{k}_max_length": 0 for k in (
            "total_bytes_sec", "read_bytes_sec", "write_bytes_sec", "total_iops_sec", "read_iops_sec",
            "write_iops_sec")}},
    "domain_get_perf_events": {name: False for name in (
        "cmt", "mbmt", "mbml", "cpu_cycles", "instructions", "cache_references", "cache_misses",
        "branch_instructions", "branch_misses", "bus_cycles", "stalled_cycles_frontend", "stalled_cycles_backend",
        "ref_cpu_cycles", "cpu_clock", "task_clock", "page_faults", "context_switches", "cpu_migrations",
        "page_faults_min", "page_faults_maj", "alignment_faults", "emulation_faults")},
}


class TuningCalls(Calls):
    FLAGS: ClassVar[dict[str, int]] = {
        "domain_get_scheduler_parameters_flags": 0, "domain_set_scheduler_parameters_flags": 0,
        "domain_get_memory_parameters": _AFFECT | TYPED_PARAM_STRING_OKAY, "domain_set_memory_parameters": _AFFECT,
        "domain_set_memory_stats_period": _AFFECT, "domain_set_lifecycle_action": _AFFECT,
        "domain_pin_vcpu_flags": 0, "domain_get_vcpu_pin_info": _AFFECT, "domain_pin_emulator": _AFFECT,
        "domain_get_emulator_pin_info": _AFFECT, "domain_get_cpu_stats": TYPED_PARAM_STRING_OKAY,
        "domain_get_blkio_parameters": _AFFECT | TYPED_PARAM_STRING_OKAY,
        "domain_get_numa_parameters": _AFFECT | TYPED_PARAM_STRING_OKAY,
        "domain_get_interface_parameters": _AFFECT | TYPED_PARAM_STRING_OKAY,
        "domain_get_block_io_tune": _AFFECT | TYPED_PARAM_STRING_OKAY,
        "domain_get_perf_events": _AFFECT | TYPED_PARAM_STRING_OKAY, "domain_set_blkio_parameters": _AFFECT,
        "domain_set_numa_parameters": _AFFECT, "domain_set_interface_parameters": _AFFECT,
        "domain_set_block_io_tune": _AFFECT, "domain_set_perf_events": _AFFECT,
    }

    _dom: Any
    _one_def: Any
    _defs: Any

    # -- scheduler ---------------------------------------------------------------------------
    def domain_get_scheduler_parameters(self, dom: DomainRef, nparams: int = 1) -> dict[str, int]:
        return self.domain_get_scheduler_parameters_flags(dom, nparams, 0)

    def domain_get_scheduler_parameters_flags(self, dom: DomainRef, nparams: int = 1,
                                              flags: int = 0) -> dict[str, int]:
        self._dom(dom)
        return {"weight": 50}

    def domain_set_scheduler_parameters(self, dom: DomainRef, params: dict[str, Any]) -> None:
        self.domain_set_scheduler_parameters_flags(dom, params, 0)

    def domain_set_scheduler_parameters_flags(self, dom: DomainRef, params: dict[str, Any], flags: int = 0) -> None:
        _only(params, ("weight",))
        self._dom(dom)  # accepted and forgotten, as libvirt's test driver does

    # -- memory ------------------------------------------------------------------------------
    def domain_get_memory_parameters(self, dom: DomainRef, nparams: int = 3,
                                     flags: int = 0) -> tuple[dict[str, Any], int]:
        defn, _ = self._one_def(self._dom(dom), flags & _AFFECT)
        tune = defn.memtune
        out: dict[str, Any] = {}
        for name in MEMORY_LIMITS:
            limit = getattr(tune, name, None) if tune is not None else None
            value = limit.value if limit is not None and limit.value is not None else UNLIMITED
            out[name] = value
        return _params(out, nparams)

    def domain_set_memory_parameters(self, dom: DomainRef, params: dict[str, Any], flags: int = 0) -> None:
        from virt.conf.domain.memory import HardLimit, MemTune, SoftLimit, SwapHardLimit

        _only(params, MEMORY_LIMITS)
        obj = self._dom(dom)
        defn, _ = self._one_def(obj, flags)
        current = self.domain_get_memory_parameters(dom, 3, flags)[0]
        if "hard_limit" in params or "swap_hard_limit" in params:
            hard = params.get("hard_limit", current["hard_limit"])
            swap = params.get("swap_hard_limit", current["swap_hard_limit"])
            if hard > swap:
                raise invalid_arg("memory hard_limit tunable value must be lower than or equal to swap_hard_limit")
        tune: Any = defn.memtune or MemTune()
        for name, cls in (("hard_limit", HardLimit), ("soft_limit", SoftLimit), ("swap_hard_limit", SwapHardLimit)):
            if name in params:
                value = int(params[name])
                setattr(tune, name, cls(value=value, unit="KiB") if value < UNLIMITED else None)
        defn.memtune = None if tune.is_empty() else tune

    def domain_set_memory_stats_period(self, dom: DomainRef, period: int, flags: int = 0) -> None:
        from virt.conf.domain.devices.misc import Stats

        defn, _ = self._one_def(self._dom(dom), flags)
        balloon = defn.devices.memballoon
        if balloon is None or balloon.model == "none":
            raise internal("No memory balloon device configured, can not set the collection period")
        balloon.stats = Stats(period=period) if period else None

    # -- lifecycle ---------------------------------------------------------------------------
    def domain_set_lifecycle_action(self, dom: DomainRef, type: int, action: int, flags: int = 0) -> None:
        if not 0 <= type < len(LIFECYCLE_EVENTS) or not 0 <= action < len(LIFECYCLE_ACTIONS):
            raise bare(E.INVALID_ARG, "invalid lifecycle type or action", DOMAIN)
        if type != 2 and action >= 4:  # coredump actions are for on_crash only
            raise error(E.OPERATION_INVALID, f"Lifecycle event '{LIFECYCLE_EVENTS[type]}' doesn't support "
                                             f"'{LIFECYCLE_ACTIONS[action]}' action", DOMAIN)
        for defn in self._defs(self._dom(dom), flags):
            if defn is not None:
                setattr(defn, f"on_{LIFECYCLE_EVENTS[type]}", LIFECYCLE_ACTIONS[action])

    # -- pinning -----------------------------------------------------------------------------
    def _host_cpus(self) -> int:
        h = self.state.host
        return h.nodes * h.sockets * h.cores * h.threads

    def domain_pin_vcpu(self, dom: DomainRef, vcpu: int, cpumap: bytes | list[bool]) -> None:
        self.domain_pin_vcpu_flags(dom, vcpu, cpumap, 0)

    def domain_pin_vcpu_flags(self, dom: DomainRef, vcpu: int, cpumap: bytes | list[bool], flags: int = 0) -> None:
        from virt.conf.domain.cpu import CPUTune, VcpuPin

        obj = self._dom(dom)
        if not obj.active:
            raise operation_invalid("cannot pin vcpus on an inactive domain")
        if not 0 <= vcpu < obj.defn.current_vcpus:
            raise invalid_arg(f"requested vcpu '{vcpu}' is not present in the domain")
        cpus = cpus_of(cpumap)
        tune: Any = obj.defn.cputune or CPUTune()
        tune.vcpupins = sorted([p for p in tune.vcpupins if p.vcpu != vcpu] + [VcpuPin(vcpu=vcpu, cpuset=cpus)],
                               key=lambda p: p.vcpu)
        obj.defn.cputune = tune

    def domain_get_vcpu_pin_info(self, dom: DomainRef, ncpumaps: int, maplen: int,
                                 flags: int = 0) -> tuple[bytes, int]:
        """(the CPU maps of the first ``ncpumaps`` vCPUs, ``maplen`` bytes each; their number)."""
        defn, _ = self._one_def(self._dom(dom), flags)
        host = self._host_cpus()
        pins = {p.vcpu: p.cpuset for p in (defn.cputune.vcpupins if defn.cputune is not None else [])}
        count = min(ncpumaps, defn.max_vcpus)
        maps = b"".join(cpumap_of(pins.get(v, range(host)), maplen) for v in range(count))
        return maps, count

    def domain_pin_emulator(self, dom: DomainRef, cpumap: bytes | list[bool], flags: int = 0) -> None:
        from virt.conf.domain.cpu import CPUTune, EmulatorPin

        defn, _ = self._one_def(self._dom(dom), flags)
        cpus = cpus_of(cpumap)
        if not cpus:
            raise invalid_arg("Empty cpu list for pinning")
        tune: Any = defn.cputune or CPUTune()
        tune.emulatorpin = EmulatorPin(cpuset=cpus)
        defn.cputune = tune

    def domain_get_emulator_pin_info(self, dom: DomainRef, maplen: int, flags: int = 0) -> tuple[bytes, int]:
        defn, _ = self._one_def(self._dom(dom), flags)
        pin = defn.cputune.emulatorpin if defn.cputune is not None else None
        return cpumap_of(pin.cpuset if pin is not None else range(self._host_cpus()), maplen), 1

    # -- statistics and reports --------------------------------------------------------------
    def domain_get_cpu_stats(self, dom: DomainRef, nparams: int, start_cpu: int, ncpus: int,
                             flags: int = 0) -> tuple[list[tuple[str, Any]], int]:
        """(the parameters of ``ncpus`` CPUs from ``start_cpu`` one after the other, or the domain's
        total when ``start_cpu`` is -1; how many parameters each CPU has). With no ``nparams``, the
        count (of CPUs when ``ncpus`` is 0 too) is all that is asked for."""
        obj = self._dom(dom)
        if not obj.active:
            raise operation_invalid("domain is not running", DOMAIN)
        total = self.state.host.cores
        if start_cpu == -1:
            if nparams == 0:
                return [], len(CPU_TIMES)
            return list(CPU_TIMES.items())[:nparams], min(nparams, 3)
        if ncpus == 0:
            return [], total
        if nparams == 0:
            return [], 2
        if start_cpu >= total:
            raise invalid_arg(f"start_cpu {start_cpu} larger than maximum of {total - 1}")
        each = TOTAL_CPU_TIME // total
        params: list[tuple[str, Any]] = []
        for i in range(start_cpu, min(total, start_cpu + ncpus)):
            cpu = [("cpu_time", each + i), ("vcpu_time", each + i - 1234567890)]
            params += cpu[:nparams]
        return params, min(nparams, 2)

    # -- blkio, numa, interface bandwidth, block I/O throttling, perf events ------------------
    def domain_get_blkio_parameters(self, dom: DomainRef, nparams: int = 6,
                                    flags: int = 0) -> tuple[dict[str, Any], int]:
        defn, _ = self._one_def(self._dom(dom), flags & _AFFECT)
        tune = defn.blkiotune
        out: dict[str, Any] = {"weight": (tune.weight or 0) if tune is not None else 0}
        for param, field in BLKIO_DEVICE_PARAMS.items():
            devices = tune.devices if tune is not None else []
            out[param] = ",".join(f"{d.path},{getattr(d, field)}" for d in devices if getattr(d, field))
        return _params(out, nparams)

    def domain_set_blkio_parameters(self, dom: DomainRef, params: dict[str, Any], flags: int = 0) -> None:
        from virt.conf.domain.memory import BlkioDevice, BlkioTune

        _only(params, ("weight", *BLKIO_DEVICE_PARAMS))
        defn, _ = self._one_def(self._dom(dom), flags)
        tune: Any = defn.blkiotune or BlkioTune()
        if "weight" in params:
            tune.weight = int(params["weight"]) or None
        for param, field in BLKIO_DEVICE_PARAMS.items():
            if param not in params:
                continue
            items = [x for x in str(params[param]).split(",")] if params[param] else []
            if len(items) % 2:
                raise invalid_arg(f"unable to parse blkio device '{params[param]}'")
            for path, value in zip(items[::2], items[1::2], strict=True):
                device = next((d for d in tune.devices if d.path == path), None)
                if device is None:
                    device = BlkioDevice(path=path)
                    tune.devices.append(device)
                setattr(device, field, int(value) or None)
            tune.devices = [d for d in tune.devices if any(getattr(d, f) for f in BLKIO_DEVICE_PARAMS.values())]
        defn.blkiotune = None if tune.is_empty() else tune

    def domain_get_numa_parameters(self, dom: DomainRef, nparams: int = 2,
                                   flags: int = 0) -> tuple[dict[str, Any], int]:
        from virt.conf.domain.types import format_bitmap

        defn, _ = self._one_def(self._dom(dom), flags & _AFFECT)
        memory = defn.numatune.memory if defn.numatune is not None else None
        mode = NUMA_MODES.index(memory.mode) if memory is not None and memory.mode else 0
        nodeset = format_bitmap(memory.nodeset) if memory is not None and memory.nodeset else ""
        return _params({"numa_mode": mode, "numa_nodeset": nodeset}, nparams)

    def domain_set_numa_parameters(self, dom: DomainRef, params: dict[str, Any], flags: int = 0) -> None:
        from virt.conf.domain.memory import NumaMemory, NumaTune
        from virt.conf.domain.types import Bitmap

        _only(params, ("numa_mode", "numa_nodeset"))
        defn, live = self._one_def(self._dom(dom), flags)
        mode = params.get("numa_mode")
        if mode is not None and not 0 <= int(mode) < len(NUMA_MODES):
            raise invalid_arg(f"unsupported numatune mode: '{mode}'")
        nodeset = None
        if params.get("numa_nodeset") is not None:
            try:
                nodeset = Bitmap.parse(str(params["numa_nodeset"]))
            except ValueError:
                raise invalid_arg(f"Failed to parse bitmap '{params['numa_nodeset']}'") from None
        tune: Any = defn.numatune or NumaTune()
        memory = tune.memory or NumaMemory()
        if live and mode is not None and memory.mode is not None and NUMA_MODES.index(memory.mode) != int(mode):
            raise operation_invalid("can't change numatune mode for running domain")
        if mode is not None:
            memory.mode = NUMA_MODES[int(mode)]
        if nodeset is not None:
            memory.nodeset, memory.placement = nodeset, None
        tune.memory = memory
        defn.numatune = tune

    def domain_get_interface_parameters(self, dom: DomainRef, device: str, nparams: int = 7,
                                        flags: int = 0) -> tuple[dict[str, Any], int]:
        from virt.core.drivers.test import domdef

        defn, _ = self._one_def(self._dom(dom), flags & _AFFECT)
        net = domdef.find_net(defn, device)
        bw = net.bandwidth
        out: dict[str, Any] = {}
        for direction, fields in BANDWIDTH_PARAMS.items():
            rate = getattr(bw, direction, None) if bw is not None else None
            for f in fields:
                out[f"{direction}.{f}"] = (getattr(rate, f) or 0) if rate is not None else 0
        return _params(out, nparams)

    def domain_set_interface_parameters(self, dom: DomainRef, device: str, params: dict[str, Any],
                                        flags: int = 0) -> None:
        """testDomainSetInterfaceParameters: a direction given its average (or floor) is replaced,
        one given without it is removed."""
        from virt.conf.domain.devices.net import Bandwidth, Inbound, Outbound
        from virt.core.drivers.test import domdef

        _only(params, tuple(f"{d}.{f}" for d, fields in BANDWIDTH_PARAMS.items() for f in fields))
        defn, _ = self._one_def(self._dom(dom), flags)
        net = domdef.find_net(defn, device)
        bw: Any = net.bandwidth or Bandwidth()
        for direction, cls in (("inbound", Inbound), ("outbound", Outbound)):
            given = {k.split(".", 1)[1]: int(v) for k, v in params.items() if k.startswith(direction + ".")}
            if not given:
                continue
            rate = cls(**{k: (v or None) for k, v in given.items()})
            keep = rate.average or (direction == "inbound" and rate.floor)
            if keep:
                setattr(bw, direction, rate)
            elif "average" in given or "floor" in given:
                setattr(bw, direction, None)
        net.bandwidth = bw if bw.inbound is not None or bw.outbound is not None else None

    def domain_get_block_io_tune(self, dom: DomainRef, disk: str | None, nparams: int = 20,
                                 flags: int = 0) -> tuple[dict[str, Any], int]:
        from virt.core.drivers.test import domdef

        defn, _ = self._one_def(self._dom(dom), flags & _AFFECT)
        found = domdef.find_disk(defn, disk or "")
        if found is None:
            raise invalid_arg(f"disk '{disk}' was not found in the domain config")
        tune = found.iotune
        out = {k: ((getattr(tune, k) or ("" if k == "group_name" else 0)) if tune is not None else v)
               for k, v in DEFAULT_REPORTS["domain_get_block_io_tune"].items()}
        return _params(out, nparams)

    def domain_set_block_io_tune(self, dom: DomainRef, disk: str | None, params: dict[str, Any],
                                 flags: int = 0) -> None:
        from virt.conf.domain.devices.disk import IOTune
        from virt.core.drivers.test import domdef

        names = tuple(DEFAULT_REPORTS["domain_get_block_io_tune"])
        _only(params, names)
        defn, _ = self._one_def(self._dom(dom), flags)
        found = domdef.find_disk(defn, disk or "")
        if found is None:
            raise invalid_arg(f"missing persistent configuration for disk '{disk}'")
        info: dict[str, Any] = {k: (getattr(found.iotune, k) if found.iotune is not None else None) or
                                ("" if k == "group_name" else 0) for k in names}
        for name, value in params.items():
            if name != "group_name" and int(value) > IOTUNE_MAX:
                raise error(E.ARGUMENT_UNSUPPORTED, f"block I/O throttle limit value must be no more than "
                                                    f"{IOTUNE_MAX}")
            info[name] = value
        for kind in ("bytes_sec", "iops_sec", "bytes_sec_max", "iops_sec_max"):
            if info[f"total_{kind}"] and (info[f"read_{kind}"] or info[f"write_{kind}"]):
                raise invalid_arg(f"total and read/write of {kind} cannot be set at the same time")
        for kind in ("total", "read", "write"):
            for unit in ("bytes_sec", "iops_sec"):
                field, top = f"{kind}_{unit}", f"{kind}_{unit}_max"
                if info[field] > info[top]:
                    raise invalid_arg(f"{field} cannot be set higher than {top} ")
        tune: Any = IOTune(**{k: (v or None) for k, v in info.items()})
        found.iotune = tune if any(v for v in info.values()) else None

    def domain_get_perf_events(self, dom: DomainRef, flags: int = 0) -> dict[str, Any]:
        defn, _ = self._one_def(self._dom(dom), flags & _AFFECT)
        enabled = {e.name for e in defn.perf.events if e.enabled} if defn.perf is not None else set()
        return {name: name in enabled for name in DEFAULT_REPORTS["domain_get_perf_events"]}

    def domain_set_perf_events(self, dom: DomainRef, params: dict[str, Any], flags: int = 0) -> None:
        from virt.conf.domain.platform import PERF_EVENTS, Perf, PerfEvent

        _only(params, PERF_EVENTS)
        defn, _ = self._one_def(self._dom(dom), flags)
        states = {e.name: e.enabled for e in defn.perf.events} if defn.perf is not None else {}
        states.update({name: bool(value) for name, value in params.items()})
        defn.perf = Perf(events=[PerfEvent(name=n, enabled=states[n]) for n in PERF_EVENTS if n in states])


def _params(params: dict[str, Any], nparams: int) -> tuple[dict[str, Any], int]:
    """libvirt's two-step typed-parameter getters: with ``nparams`` 0 the count only, else up to
    ``nparams`` of them (and their number)."""
    if nparams == 0:
        return {}, len(params)
    items = dict(list(params.items())[:nparams])
    return items, len(items)


def cpus_of(cpumap: bytes | list[bool]) -> tuple[int, ...]:
    """The CPUs a map selects: libvirt's bitmap bytes (CPU 0 in the low bit) or a list of flags."""
    if isinstance(cpumap, (bytes, bytearray)):
        return tuple(i for i in range(len(cpumap) * 8) if cpumap[i // 8] & (1 << (i % 8)))
    return tuple(i for i, on in enumerate(cpumap) if on)


def cpumap_of(cpus: Any, maplen: int) -> bytes:
    """A CPU bitmap of ``maplen`` bytes."""
    out = bytearray(max(maplen, 0))
    for cpu in cpus:
        if cpu < maplen * 8:
            out[cpu // 8] |= 1 << (cpu % 8)
    return bytes(out)


def _only(params: dict[str, Any], allowed: tuple[str, ...]) -> None:
    """virTypedParamsValidate: every parameter must be one the call knows."""
    for name in params:
        if name not in allowed:
            raise bare(E.INVALID_ARG, f"argument unsupported: parameter '{name}' not supported", DOMAIN)
