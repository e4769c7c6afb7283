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

#: Read-only reports: call -> the parameters libvirt's test driver returns for an untuned domain.
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
        "domain_get_perf_events": _AFFECT | TYPED_PARAM_STRING_OKAY,
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

    def _report(self, call: str, dom: DomainRef, flags: int, nparams: int) -> tuple[dict[str, Any], int]:
        self._one_def(self._dom(dom), flags & _AFFECT)
        return _params(DEFAULT_REPORTS[call], nparams)

    def domain_get_blkio_parameters(self, dom: DomainRef, nparams: int = 6,
                                    flags: int = 0) -> tuple[dict[str, Any], int]:
        return self._report("domain_get_blkio_parameters", dom, flags, nparams)

    def domain_get_numa_parameters(self, dom: DomainRef, nparams: int = 2,
                                   flags: int = 0) -> tuple[dict[str, Any], int]:
        return self._report("domain_get_numa_parameters", dom, flags, nparams)

    def domain_get_interface_parameters(self, dom: DomainRef, device: str, nparams: int = 7,
                                        flags: int = 0) -> tuple[dict[str, Any], int]:
        from virt.core.drivers.test import domdef

        defn, _ = self._one_def(self._dom(dom), flags & _AFFECT)
        domdef.find_net(defn, device)
        return _params(DEFAULT_REPORTS["domain_get_interface_parameters"], nparams)

    def domain_get_block_io_tune(self, dom: DomainRef, disk: str | None, nparams: int = 20,
                                 flags: int = 0) -> tuple[dict[str, Any], int]:
        from virt.core.drivers.test import domdef

        defn, _ = self._one_def(self._dom(dom), flags & _AFFECT)
        if domdef.find_disk(defn, disk or "") is None:
            raise invalid_arg(f"disk '{disk}' was not found in the domain config")
        return _params(DEFAULT_REPORTS["domain_get_block_io_tune"], nparams)

    def domain_get_perf_events(self, dom: DomainRef, flags: int = 0) -> dict[str, Any]:
        self._one_def(self._dom(dom), flags & _AFFECT)
        return dict(DEFAULT_REPORTS["domain_get_perf_events"])


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
