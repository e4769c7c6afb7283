"""Scheduler, memory and block I/O tunables of guests: their cgroup, and cputune/memtune/blkiotune in the XML.

Each typed parameter of libvirt's APIs is described once in ``PARAMS``: its API name, the kind of
call it belongs to, the XML element holding it and the cgroup tunable that enforces it on a running
guest. Getting reads the cgroup (live) or the definition; setting writes both where asked.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from virt.driver.qemu import definition as D
from virt.driver.qemu import lifecycle as L
from virt.driver.qemu import xmlutil as X
from virt.driver.qemu.state import DomainObj
from virt.util.cgroup import MEMORY_UNLIMITED
from virt.util.errors import ErrorDomain, InvalidArgError, OperationInvalidError, VirtError

if TYPE_CHECKING:
    from virt.driver.qemu.driver import QemuDriver
    from virt.driver.qemu.host import QemuHost

QEMU = ErrorDomain.QEMU


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "scheduler", "memory", "blkio"
    element: str  # path of the XML element (below <domain>)
    tunable: str  # cgroup tunable (virt.util.cgroup.TUNABLES)
    default: int


PARAMS: tuple[Param, ...] = (
    Param("cpu_shares", "scheduler", "cputune/shares", "cpu.shares", 1024),
    Param("vcpu_period", "scheduler", "cputune/period", "cpu.cfs_period", 100000),
    Param("vcpu_quota", "scheduler", "cputune/quota", "cpu.cfs_quota", -1),
    Param("hard_limit", "memory", "memtune/hard_limit", "memory.hard_limit", MEMORY_UNLIMITED),
    Param("soft_limit", "memory", "memtune/soft_limit", "memory.soft_limit", MEMORY_UNLIMITED),
    Param("swap_hard_limit", "memory", "memtune/swap_hard_limit", "memory.swap_hard_limit", MEMORY_UNLIMITED),
    Param("weight", "blkio", "blkiotune/weight", "blkio.weight", 0),
)
_ORDER = ("name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory", "currentMemory",
          "blkiotune", "memtune", "memoryBacking", "vcpu", "vcpus", "iothreads", "iothreadids", "defaultiothread",
          "cputune")
_CHILD_ORDER = {"cputune": ("shares", "period", "quota"), "memtune": ("hard_limit", "soft_limit", "swap_hard_limit"),
                "blkiotune": ("weight",)}


def _of(kind: str) -> list[Param]:
    return [p for p in PARAMS if p.kind == kind]


def _group(host: QemuHost, obj: DomainObj) -> Any:
    group = L.cgroup_of(host, obj)
    if group is None:
        raise OperationInvalidError("cgroup CPU controller is not mounted", domain=QEMU)
    return group


def _live_value(group: Any, obj: DomainObj, p: Param) -> int:
    value = int(group.get(p.tunable))
    if p.name == "vcpu_quota" and value > 0 and obj.live is not None:
        value //= max(1, D.vcpus(obj.live)[0])  # the group holds every vCPU's share
    return value


def _xml_value(tree: Any, p: Param) -> int:
    el = tree.find(p.element)
    if el is None or not (el.text or "").strip():
        return p.default
    if p.kind == "memory":
        return int(X.parse_size_kib(el, p.default) or p.default)
    return int(el.text.strip())


def _get(host: QemuHost, obj: DomainObj, kind: str, live: bool) -> dict[str, int]:
    if live:
        group = _group(host, obj)
        assert obj.live is not None
        # A guest outside the "cpu" hierarchy (no CPU tunables yet) runs with the defaults.
        return {p.name: _live_value(group, obj, p) if group.supports(p.tunable) else _xml_value(obj.live, p)
                for p in _of(kind)}
    assert obj.config is not None
    return {p.name: _xml_value(obj.config, p) for p in _of(kind)}


def get_scheduler(host: QemuHost, obj: DomainObj, live: bool) -> dict[str, int]:
    return _get(host, obj, "scheduler", live)


def get_memory(host: QemuHost, obj: DomainObj, live: bool) -> dict[str, int]:
    return _get(host, obj, "memory", live)


def get_blkio(host: QemuHost, obj: DomainObj, live: bool) -> dict[str, Any]:
    return _get(host, obj, "blkio", live)


def _set_xml(tree: Any, p: Param, value: int) -> None:
    parent_tag, tag = p.element.split("/")
    parent = tree.find(parent_tag)
    if parent is None:
        parent = X.sub(tree, parent_tag, order=_ORDER)
    el = parent.find(tag)
    if p.kind == "memory" and value >= MEMORY_UNLIMITED:
        if el is not None:
            parent.remove(el)
        return
    if el is None:
        el = X.sub(parent, tag, order=_CHILD_ORDER[parent_tag])
    if p.kind == "memory":
        el.set("unit", "KiB")
    el.text = str(value)


def set_params(driver: QemuDriver, obj: DomainObj, kind: str, params: dict[str, Any], live: bool,
               config: bool) -> None:
    known = {p.name: p for p in _of(kind)}
    for name in params:
        if name not in known:
            raise InvalidArgError(f"argument unsupported: parameter '{name}' not supported", domain=QEMU)
    values = {name: int(value) for name, value in params.items()}
    if kind == "scheduler" and values.get("cpu_shares") == 0:
        raise InvalidArgError("shares must be at least 2", domain=QEMU)
    if kind == "memory":
        hard = values.get("hard_limit")
        swap = values.get("swap_hard_limit")
        if hard is not None and swap is not None and swap < hard:
            raise InvalidArgError("memory hard_limit tunable value must be lower than or equal to "
                                  "swap_hard_limit", domain=QEMU)
    host = driver.host
    if live:
        if kind == "scheduler":
            L.ensure_cpu_group(host, obj)
        group = _group(host, obj)
        assert obj.live is not None
        for name, value in values.items():
            p = known[name]
            cg_value = value * max(1, D.vcpus(obj.live)[0]) if name == "vcpu_quota" and value > 0 else value
            try:
                group.set(p.tunable, cg_value)
            except VirtError as err:
                raise InvalidArgError(f"unable to set {name}: {err.detail or err}", domain=QEMU) from None
            with host.lock:
                _set_xml(obj.live, p, value)
        L.save_status(host, obj)
    if config:
        assert obj.config is not None
        tree = deepcopy(obj.config)
        for name, value in values.items():
            _set_xml(tree, known[name], value)
        driver._replace_config(obj, tree)
