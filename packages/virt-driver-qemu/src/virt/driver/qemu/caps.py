"""QEMU capabilities: what one QEMU binary supports, probed over QMP, cached on disk.

``probe(monitor)`` asks a running ``qemu -machine none`` the questions in ``capsdata`` and turns
the answers into a ``QemuCaps``: feature flags (libvirt's QEMU_CAPS_* names), version, machine
types, CPU models and the host CPU as QEMU sees it, per accelerator (KVM and TCG). The same code
reads libvirt's recorded probe transcripts (``from_replies``). ``QemuCaps.format_cache`` writes
libvirt's capabilities-cache XML (``<qemuCaps>``), which is also our on-disk cache format.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from virt.driver.qemu import capsdata as cd
from virt.driver.qemu.qapi import path_exists, schema_index
from virt.driver.qemu.qmp import Monitor, QMPClient, QMPError, ReplayMonitor
from virt.util.errors import ConfigUnsupportedError, ErrorDomain, InternalError, OperationFailedError

log = logging.getLogger(__name__)

#: The oldest QEMU libvirt 9.0.0 (and so this driver) drives.
MIN_VERSION = (4, 2, 0)
#: Bumped whenever the cache content changes meaning, so old cache files are re-probed.
CACHE_FORMAT_VERSION = 1


def esc(s: str) -> str:
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("'", "&apos;").replace('"', "&quot;"))


# ----------------------------------------------------------------------------- records

@dataclass
class MachineType:
    """One machine type (query-machines)."""

    name: str
    alias: str | None = None
    max_cpus: int = 0
    hotplug_cpus: bool = False
    qemu_default: bool = False
    default_cpu: str | None = None
    numa_mem_supported: bool = False
    default_ram_id: str | None = None
    deprecated: bool = False


@dataclass
class CPUDefinition:
    """One CPU model (query-cpu-definitions); blockers are QEMU's feature names."""

    name: str
    typename: str | None = None
    usable: str | None = None  # "yes", "no" or None (unknown)
    blockers: list[str] = field(default_factory=list)
    deprecated: bool = False


@dataclass
class CPUProperty:
    """One property of an expanded CPU model; ``type`` is "boolean", "string" or "number"."""

    name: str
    type: str
    value: Any
    migratable: bool | None = None


@dataclass
class HostCPUInfo:
    """The host CPU as QEMU expands it (query-cpu-model-expansion of "host" or "max")."""

    model: str
    migratability: bool = False
    props: list[CPUProperty] = field(default_factory=list)


@dataclass
class AccelCaps:
    """What differs between accelerators: machine types, CPU models, the host CPU."""

    machines: list[MachineType] = field(default_factory=list)
    cpu_models: list[CPUDefinition] | None = None
    host_cpu: HostCPUInfo | None = None


@dataclass
class QemuCaps:
    """Capabilities of one QEMU binary."""

    binary: str
    arch: str = "x86_64"
    version: int = 0
    package: str | None = None
    flags: set[str] = field(default_factory=set)
    #: The driver's own feature names beyond libvirt's flags (e.g. "virtio-net.failover").
    features: set[str] = field(default_factory=set)
    ctime: int = 0
    mtime: int = 0
    self_ctime: int = 0
    self_version: int = 0
    microcode_version: int = 0
    kvm_version: int = 0
    kvm: AccelCaps = field(default_factory=AccelCaps)
    tcg: AccelCaps = field(default_factory=AccelCaps)
    hyperv: list[str] | None = None
    kvm_supports_nesting: bool = False
    #: True for caps read from a recorded transcript: libvirt's test harness conventions apply.
    recorded: bool = False

    # -- questions ----------------------------------------------------------------------------
    def has(self, flag: str) -> bool:
        if flag not in cd.FLAG_INDEX:
            raise InternalError(f"unknown QEMU capability flag '{flag}'")
        return flag in self.flags

    def accel(self, virt_type: str) -> AccelCaps:
        """The per-accelerator part for a domain type ("kvm" or "qemu")."""
        return self.kvm if virt_type in ("kvm", "hvf") else self.tcg

    def version_tuple(self) -> tuple[int, int, int]:
        return self.version // 1000000, self.version // 1000 % 1000, self.version % 1000

    def virt_type(self) -> str:
        """The best domain type this binary offers: "kvm" when KVM works, else "qemu"."""
        return "kvm" if "kvm" in self.flags else "qemu"

    def machine(self, virt_type: str, name: str | None) -> MachineType | None:
        """The machine type ``name`` (or its alias) names; the preferred one when ``name`` is None."""
        machines = self.accel(virt_type).machines
        if name is None:
            return machines[0] if machines else None
        for m in machines:
            if m.alias == name:
                return m
        for m in machines:
            if m.name == name:
                return m
        return None

    def strip_machine_aliases(self) -> None:
        """Turn each machine alias into a machine of its own (as libvirt's test suite does), so that
        domains keep the name they gave (``pc`` stays ``pc``)."""
        import dataclasses

        for accel in (self.kvm, self.tcg):
            for m in list(accel.machines):
                if m.alias:
                    name, m.alias = m.alias, None
                    accel.machines.append(dataclasses.replace(m, name=name))

    def canonical_machine(self, virt_type: str, name: str) -> str:
        for m in self.accel(virt_type).machines:
            if m.alias == name:
                return m.name
        return name

    def default_cpu_model(self, virt_type: str, machine: str) -> str | None:
        """The CPU model QEMU uses for ``machine`` when none is given (its name, e.g. "qemu64")."""
        accel = self.accel(virt_type)
        mach = next((m for m in accel.machines if m.name == machine), None)
        if mach is None or not mach.default_cpu or accel.cpu_models is None:
            return None
        return next((c.name for c in accel.cpu_models if c.typename == mach.default_cpu), None)

    # -- libvirt's cache format ---------------------------------------------------------------
    def format_cache(self) -> str:
        """The ``<qemuCaps>`` document libvirt keeps in its capabilities cache."""
        out = ["<qemuCaps>\n", f"  <emulator>{esc(self.binary)}</emulator>\n",
               f"  <qemuctime>{self.ctime}</qemuctime>\n"]
        if self.mtime:
            out.append(f"  <qemumtime>{self.mtime}</qemumtime>\n")
        out.append(f"  <selfctime>{self.self_ctime}</selfctime>\n")
        out.append(f"  <selfvers>{self.self_version}</selfvers>\n")
        out.extend(f"  <flag name='{name}'/>\n" for name in cd.FLAG_NAMES if name in self.flags)
        out.append(f"  <version>{self.version}</version>\n")
        out.append(f"  <kvmVersion>{self.kvm_version}</kvmVersion>\n")
        out.append(f"  <microcodeVersion>{self.microcode_version}</microcodeVersion>\n")
        if self.package is not None:
            out.append(f"  <package>{esc(self.package)}</package>\n")
        out.append(f"  <arch>{self.arch}</arch>\n")
        accels = [("kvm", self.kvm)] if "kvm" in self.flags else []
        accels.append(("tcg", self.tcg))
        for type_, acc in accels:
            out.extend(_format_accel(type_, acc))
        if self.hyperv is not None:
            if self.hyperv:
                out.append("  <hypervCapabilities supported='yes'>\n")
                out.extend(f"    <cap name='{n}'/>\n" for n in cd.HYPERV_FEATURES if n in self.hyperv)
                out.append("  </hypervCapabilities>\n")
            else:
                out.append("  <hypervCapabilities supported='yes'/>\n")
        if self.kvm_supports_nesting:
            out.append("  <kvmSupportsNesting/>\n")
        if not self.recorded:  # libvirt's format has no place for them; ours keeps them
            out.extend(f"  <virtFeature name='{esc(n)}'/>\n" for n in sorted(self.features))
        out.append("</qemuCaps>\n")
        return "".join(out)

    @classmethod
    def parse_cache(cls, xml: str | bytes) -> QemuCaps:
        """Read a ``<qemuCaps>`` document back (ours or libvirt's)."""
        try:
            root = etree.fromstring(xml.encode() if isinstance(xml, str) else xml)
        except etree.XMLSyntaxError as exc:
            raise InternalError(f"malformed QEMU capabilities cache: {exc}") from None
        if root.tag != "qemuCaps":
            raise InternalError("QEMU capabilities cache does not start with <qemuCaps>")

        def num(tag: str, default: int = 0) -> int:
            text = root.findtext(tag)
            return int(text) if text not in (None, "") else default

        binary = root.findtext("emulator")
        if not binary:
            raise InternalError("missing emulator in QEMU capabilities cache")
        caps = cls(binary=binary, arch=root.findtext("arch") or "x86_64", version=num("version"),
                   package=root.findtext("package"), ctime=num("qemuctime"), mtime=num("qemumtime"),
                   self_ctime=num("selfctime"), self_version=num("selfvers"),
                   microcode_version=num("microcodeVersion"), kvm_version=num("kvmVersion"))
        for el in root.iterfind("flag"):
            name = el.get("name", "")
            if name not in cd.FLAG_INDEX:
                raise InternalError(f"Unknown qemu capabilities flag {name}")
            caps.flags.add(name)
        for type_, acc in (("kvm", caps.kvm), ("tcg", caps.tcg)):
            _parse_accel(root, type_, acc)
        hv = root.find("hypervCapabilities")
        if hv is not None:
            caps.hyperv = [c.get("name", "") for c in hv.iterfind("cap")]
        caps.kvm_supports_nesting = root.find("kvmSupportsNesting") is not None
        caps.features = {el.get("name", "") for el in root.iterfind("virtFeature")}
        return caps


def _yes(b: bool) -> str:
    return "yes" if b else "no"


def _format_accel(type_: str, acc: AccelCaps) -> list[str]:
    out: list[str] = []
    host = acc.host_cpu
    if host is not None:
        out.append(f"  <hostCPU type='{type_}' model='{esc(host.model)}' migratability='{_yes(host.migratability)}'>\n")
        for p in host.props:
            if p.type == "boolean":
                value = "true" if p.value else "false"
            elif p.type == "number":
                value = str(int(p.value))
            else:
                value = esc(str(p.value))
            mig = "" if p.migratable is None else f" migratable='{_yes(p.migratable)}'"
            out.append(f"    <property name='{esc(p.name)}' type='{p.type}' value='{value}'{mig}/>\n")
        out.append("  </hostCPU>\n")
    for cpu in acc.cpu_models or ():
        attrs = f"type='{type_}' name='{esc(cpu.name)}'"
        if cpu.typename is not None:
            attrs += f" typename='{esc(cpu.typename)}'"
        if cpu.usable:
            attrs += f" usable='{cpu.usable}'"
        if cpu.deprecated:
            attrs += " deprecated='yes'"
        if cpu.blockers:
            out.append(f"  <cpu {attrs}>\n")
            out.extend(f"    <blocker name='{esc(b)}'/>\n" for b in cpu.blockers)
            out.append("  </cpu>\n")
        else:
            out.append(f"  <cpu {attrs}/>\n")
    for m in acc.machines:
        s = f"  <machine type='{type_}' name='{esc(m.name)}'"
        if m.alias:
            s += f" alias='{esc(m.alias)}'"
        if m.hotplug_cpus:
            s += " hotplugCpus='yes'"
        s += f" maxCpus='{m.max_cpus}'"
        if m.qemu_default:
            s += " default='yes'"
        if m.default_cpu:
            s += f" defaultCPU='{esc(m.default_cpu)}'"
        if m.numa_mem_supported:
            s += " numaMemSupported='yes'"
        if m.default_ram_id:
            s += f" defaultRAMid='{esc(m.default_ram_id)}'"
        if m.deprecated:
            s += " deprecated='yes'"
        out.append(s + "/>\n")
    return out


def _parse_accel(root: Any, type_: str, acc: AccelCaps) -> None:
    host = root.find(f"hostCPU[@type='{type_}']")
    if host is not None:
        info = HostCPUInfo(host.get("model", ""), host.get("migratability") == "yes")
        for p in host.iterfind("property"):
            t, v = p.get("type", "boolean"), p.get("value", "")
            value: Any = v == "true" if t == "boolean" else int(v) if t == "number" else v
            mig = p.get("migratable")
            info.props.append(CPUProperty(p.get("name", ""), t, value, None if mig is None else mig == "yes"))
        acc.host_cpu = info
    cpus = root.findall(f"cpu[@type='{type_}']")
    if cpus:
        acc.cpu_models = [CPUDefinition(c.get("name", ""), c.get("typename"), c.get("usable"),
                                        [b.get("name", "") for b in c.iterfind("blocker")],
                                        c.get("deprecated") == "yes") for c in cpus]
    for m in root.iterfind(f"machine[@type='{type_}']"):
        acc.machines.append(MachineType(
            m.get("name", ""), m.get("alias"), int(m.get("maxCpus", "0")), m.get("hotplugCpus") == "yes",
            m.get("default") == "yes", m.get("defaultCPU"), m.get("numaMemSupported") == "yes",
            m.get("defaultRAMid"), m.get("deprecated") == "yes"))


# ----------------------------------------------------------------------------- probing

def _try(mon: Monitor, command: str, arguments: dict[str, Any] | None = None) -> Any:
    """A query whose failure means "not supported" rather than an error."""
    try:
        return mon.execute(command, arguments)
    except QMPError:
        return None


def _set_from(caps: QemuCaps, table: Iterable[tuple[str, str]], present: set[str]) -> None:
    for value, flag in table:
        if value in present:
            caps.flags.add(flag)


def _probe_props(caps: QemuCaps, mon: Monitor, command: str,
                 table: Iterable[tuple[str, str | None, tuple[tuple[str, str], ...]]]) -> None:
    for type_name, condition, props in table:
        if condition is not None and condition not in caps.flags:
            continue
        answer = _try(mon, command, {"typename": type_name}) or []
        names = {p.get("name") for p in answer if isinstance(p, dict)}
        for prop, flag in props:
            if prop in names:
                if flag.startswith("+"):
                    caps.features.add(flag[1:])
                else:
                    caps.flags.add(flag)
                if prop == "scsi" and type_name.startswith("virtio-blk"):
                    entry = next(p for p in answer if p.get("name") == "scsi")
                    if entry.get("default-value") is False:
                        caps.flags.add("virtio-blk-pci.scsi.default.disabled")


def _probe_machines(caps: QemuCaps, acc: AccelCaps, mon: Monitor) -> None:
    preferred = cd.PREFERRED_MACHINES.get(caps.arch)
    machines: list[MachineType] = []
    preferred_idx = default_idx = -1
    for m in mon.execute("query-machines") or []:
        if m.get("name") == "none":
            continue
        machines.append(MachineType(
            name=m["name"], alias=m.get("alias"), max_cpus=int(m.get("cpu-max", 0)),
            hotplug_cpus=bool(m.get("hotpluggable-cpus")), qemu_default=bool(m.get("is-default")),
            default_cpu=m.get("default-cpu-type"), numa_mem_supported=bool(m.get("numa-mem-supported")),
            default_ram_id=m.get("default-ram-id"), deprecated=bool(m.get("deprecated"))))
        if preferred and (m.get("alias") == preferred or m["name"] == preferred):
            preferred_idx = len(machines) - 1
        if m.get("is-default"):
            default_idx = len(machines) - 1
    # libvirt keeps its own historical default (pc on x86) first so that a QEMU changing its
    # default does not change what an unqualified domain gets.
    idx = preferred_idx if preferred_idx >= 0 else default_idx
    if idx > 0:
        machines.insert(0, machines.pop(idx))
    acc.machines = machines


def _probe_cpu_definitions(caps: QemuCaps, acc: AccelCaps, mon: Monitor) -> None:
    if "query-cpu-definitions" not in caps.flags:
        return
    defs = _try(mon, "query-cpu-definitions")
    if defs is None:
        return
    models = []
    for d in defs:
        blockers = d.get("unavailable-features")
        usable = None if blockers is None else ("no" if blockers else "yes")
        models.append(CPUDefinition(d["name"], d.get("typename"), usable, list(blockers or []),
                                    bool(d.get("deprecated"))))
    acc.cpu_models = models
    if any(m.name == "max" for m in models):
        caps.flags.add("cpu-max")


def _expansion_props(model: dict[str, Any]) -> list[CPUProperty]:
    props = []
    for name, value in (model.get("props") or {}).items():
        if isinstance(value, bool):
            props.append(CPUProperty(name, "boolean", value))
        elif isinstance(value, (int, float)):
            props.append(CPUProperty(name, "number", int(value)))
        elif isinstance(value, str):
            props.append(CPUProperty(name, "string", value))
    return props


def _probe_host_cpu(caps: QemuCaps, acc: AccelCaps, mon: Monitor, accelerated: bool) -> None:
    if "query-cpu-model-expansion" not in caps.flags:
        return
    name = "host" if accelerated else "max"
    expanded = _try(mon, "query-cpu-model-expansion", {"type": "static", "model": {"name": name}})
    if not expanded or "model" not in expanded:
        return
    info = HostCPUInfo(expanded["model"]["name"], False, _expansion_props(expanded["model"]))
    if caps.arch in ("x86_64", "i686"):
        nonmig = _try(mon, "query-cpu-model-expansion",
                      {"type": "static", "model": {"name": name, "props": {"migratable": False}}})
        if nonmig and "model" in nonmig:
            by_name = {p.name: p for p in info.props}
            for nm in _expansion_props(nonmig["model"]):
                p = by_name.get(nm.name)
                if p is None or p.type != "boolean" or nm.type != "boolean":
                    continue
                if p.value:
                    p.migratable = True
                elif nm.value:
                    p.value, p.migratable = True, False
            info.migratability = True
    if accelerated and caps.arch in ("x86_64", "i686", "aarch64", "armv7l"):
        full = _try(mon, "query-cpu-model-expansion",
                    {"type": "full", "model": {"name": name, "props": {"migratable": False,
                                                                       "hv-passthrough": True}}})
        if full and "model" in full:
            hv = []
            for p in _expansion_props(full["model"]):
                if not p.name.startswith("hv-"):
                    continue
                feature = p.name[3:]
                if feature not in cd.HYPERV_FEATURES:
                    feature = feature.replace("-", "_")
                if feature in cd.HYPERV_FEATURES and p.value not in (False, 0, None):
                    hv.append(feature)
            if hv:
                caps.hyperv = [f for f in cd.HYPERV_FEATURES if f in hv]
    acc.host_cpu = info


def probe(mon: Monitor, tcg_mon: Monitor | None = None, *, binary: str = "") -> QemuCaps:
    """Probe a QEMU started with ``-machine none`` (KVM enabled if the host has it).

    ``tcg_mon`` is a second QEMU of the same binary started with ``accel=tcg`` for the TCG-only
    answers (CPU models, host CPU, machine types); needed only when the first one runs KVM.
    For a transcript both are the same ReplayMonitor: it answers repeated questions in order.
    """
    ver = mon.execute("query-version")
    q = ver["qemu"]
    major, minor, micro = int(q["major"]), int(q["minor"]), int(q["micro"])
    if (major, minor, micro) < MIN_VERSION:
        raise ConfigUnsupportedError(
            "QEMU version >= {}.{}.{} is required, but {}.{}.{} found".format(*MIN_VERSION, major, minor, micro))
    caps = QemuCaps(binary=binary, version=major * 1000000 + minor * 1000 + micro, package=ver.get("package"))
    target = mon.execute("query-target")["arch"]
    caps.arch = {"i386": "i686", "arm": "armv7l"}.get(target, target)
    if caps.version < 5002000:
        caps.flags.add("enable-fips")

    schema = schema_index(mon.execute("query-qmp-schema") or [])
    for path, flag in cd.SCHEMA_QUERIES + cd.COMMANDS:
        if path_exists(schema, path):
            caps.flags.add(flag)
    _try(mon, "query-commands")  # libvirt asks; the schema already answered everything it tells

    kvm = _try(mon, "query-kvm") or {}
    if kvm.get("enabled") and kvm.get("present"):
        caps.flags.add("kvm")
    accelerated = "kvm" in caps.flags
    acc = caps.kvm if accelerated else caps.tcg

    types = {t.get("name") for t in mon.execute("qom-list-types") or []}
    _set_from(caps, cd.OBJECT_TYPES, types)
    _probe_props(caps, mon, "device-list-properties", cd.DEVICE_PROPS)
    _probe_props(caps, mon, "qom-list-properties", cd.OBJECT_PROPS)
    _probe_machines(caps, acc, mon)
    for machine, props in cd.MACHINE_PROPS:
        canon = caps.canonical_machine(caps.virt_type(), machine)
        if canon != "none" and not any(m.name == canon for m in acc.machines):
            continue
        answer = _try(mon, "qom-list-properties", {"typename": f"{canon}-machine"}) or []
        _set_from(caps, props, {p.get("name") for p in answer})
    _probe_cpu_definitions(caps, acc, mon)
    models = set(_try(mon, "query-tpm-models") or [])
    _set_from(caps, cd.TPM_MODELS, models)
    if models:
        _set_from(caps, cd.TPM_TYPES, set(_try(mon, "query-tpm-types") or []))
    options = {o["option"]: {p.get("name") for p in o.get("parameters", [])}
               for o in _try(mon, "query-command-line-options") or []}
    for option, param, flag in cd.COMMAND_LINE:
        if option in options and (param is None or param in options[option]):
            caps.flags.add(flag)
    migration = {c.get("capability") for c in _try(mon, "query-migrate-capabilities") or []}
    _set_from(caps, cd.MIGRATION_CAPABILITIES, migration)
    if "sev-guest" in caps.flags and _try(mon, "query-sev-capabilities") is None:
        caps.flags.discard("sev-guest")
    if "sgx-epc" in caps.flags and _try(mon, "query-sgx-capabilities") is None:
        caps.flags.discard("sgx-epc")

    # flags that follow from others
    if "cpu-unavailable-features" in caps.flags:
        caps.flags.add("canonical-cpu-features")
    if {"blockdev-reopen", "migration-param.block-bitmap-mapping"} <= caps.flags:
        caps.flags.add("incremental-backup")
    if "object.qapified" in caps.flags:
        caps.flags.add("compat-deprecated")
    if caps.arch in ("x86_64", "i686"):
        caps.flags.add("no-acpi")
        if "query-cpu-model-expansion" in caps.flags:
            caps.flags.add("cpu-cache")
        if "machine-hpet" not in caps.flags:  # -no-hpet gave way to -machine hpet= in QEMU 8.0
            caps.flags.add("no-hpet")

    _probe_host_cpu(caps, acc, mon, accelerated)
    if accelerated and "tcg" in caps.flags:
        tmon = tcg_mon or mon
        if isinstance(tmon, ReplayMonitor):  # the transcript records the second QEMU's handshake
            tmon.execute("qmp_capabilities")
        _probe_cpu_definitions(caps, caps.tcg, tmon)
        _probe_host_cpu(caps, caps.tcg, tmon, False)
        _probe_machines(caps, caps.tcg, tmon)
    return caps


def fake_microcode_version(arch: str, version: str) -> int:
    """The microcode version libvirt's test suite gives a recorded probe (from its file name)."""
    return sum(map(ord, arch)) * 100000 + sum(map(ord, version))


def from_replies(path: str | os.PathLike[str], binary: str = "/usr/bin/qemu-system-x86_64") -> QemuCaps:
    """Capabilities from libvirt's recorded probe (``caps_8.0.0.x86_64.replies``), with libvirt's
    test-suite conventions: ctime 0, the fake microcode version derived from the file name."""
    mon = ReplayMonitor.from_file(path)
    mon.execute("qmp_capabilities")
    caps = probe(mon, binary=binary)
    caps.recorded = True
    caps.self_version = 0
    m = re.match(r"caps_(.+)\.([^.]+)\.replies$", Path(path).name)
    if m and ("kvm" in caps.flags or "hvf" in caps.flags):
        caps.microcode_version = fake_microcode_version(m.group(2), m.group(1))
    return caps


# ----------------------------------------------------------------------------- live probing and cache

def kvm_usable() -> bool:
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


def find_emulator(arch: str = "x86_64") -> str | None:
    """The QEMU binary for a guest architecture, as libvirt looks for it."""
    target = {"i686": "x86_64", "armv7l": "aarch64"}.get(arch, arch)
    for name in (f"qemu-system-{arch}", f"qemu-system-{target}"):
        path = shutil.which(name)
        if path:
            return path
    if arch in ("x86_64", "i686") and os.access("/usr/libexec/qemu-kvm", os.X_OK):
        return "/usr/libexec/qemu-kvm"
    return None


class _ProbeProcess:
    """``qemu -S -machine none`` with its monitor on a socketpair; killed by pid on exit."""

    def __init__(self, binary: str, accel: str) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        fd = theirs.fileno()
        self.tmp = tempfile.TemporaryDirectory(prefix="virt-qemu-probe-")
        argv = [binary, "-S", "-no-user-config", "-nodefaults", "-nographic", "-display", "none",
                "-machine", f"none,accel={accel}", "-chardev", f"socket,id=mon,fd={fd}",
                "-mon", "chardev=mon,mode=control", "-pidfile", os.path.join(self.tmp.name, "pid")]
        try:
            self.proc = subprocess.Popen(argv, pass_fds=[fd], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                         cwd=self.tmp.name)
        except OSError as exc:
            ours.close()
            self.tmp.cleanup()
            raise InternalError(f"cannot run {binary}: {exc.strerror}") from None
        finally:
            theirs.close()
        try:
            self.mon = QMPClient.from_socket(ours, timeout=30)
        except Exception:
            err = self._stop()
            raise OperationFailedError(f"Failed to probe capabilities for {binary}: {err or 'no QMP greeting'}",
                                       domain=ErrorDomain.QEMU) from None

    def _stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        err = self.proc.stderr.read().decode(errors="replace").strip() if self.proc.stderr else ""
        if self.proc.stderr:
            self.proc.stderr.close()
        self.tmp.cleanup()
        return err

    def close(self) -> None:
        self.mon.close()
        self._stop()

    def __enter__(self) -> _ProbeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def probe_binary(binary: str) -> QemuCaps:
    """Start ``binary`` (twice when KVM works: once more with TCG only) and probe it."""
    if not os.access(binary, os.X_OK):
        raise InternalError(f"QEMU binary {binary} is not executable "
                            "(install the Debian package qemu-system-x86)")
    st = os.stat(binary)
    with _ProbeProcess(binary, "kvm:tcg" if kvm_usable() else "tcg") as first:
        kvm_ans = _try(first.mon, "query-kvm") or {}
        if kvm_ans.get("enabled"):
            with _ProbeProcess(binary, "tcg") as second:
                caps = probe(_Prepend(first.mon, "query-kvm", kvm_ans), second.mon, binary=binary)
        else:
            caps = probe(_Prepend(first.mon, "query-kvm", kvm_ans), binary=binary)
    caps.ctime, caps.mtime = int(st.st_ctime), int(st.st_mtime)
    caps.self_version = CACHE_FORMAT_VERSION
    if "kvm" in caps.flags:
        caps.microcode_version = host_microcode_version()
        caps.kvm_supports_nesting = kvm_supports_nesting()
    return caps


class _Prepend:
    """A monitor that answers one already-asked question from memory."""

    def __init__(self, mon: Monitor, command: str, answer: Any) -> None:
        self.mon, self.command, self.answer = mon, command, answer

    def execute(self, command: str, arguments: dict[str, Any] | None = None, *,
                timeout: float | None = None) -> Any:
        if command == self.command and not arguments:
            return self.answer
        return self.mon.execute(command, arguments)


def host_microcode_version() -> int:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("microcode"):
                return int(line.split(":", 1)[1].strip(), 0)
    except (OSError, ValueError):
        pass
    return 0


def kvm_supports_nesting() -> bool:
    for mod in ("kvm_intel", "kvm_amd", "kvm_hv", "kvm"):
        try:
            value = Path(f"/sys/module/{mod}/parameters/nested").read_text().strip()
        except OSError:
            continue
        if value[:1] in ("Y", "y", "1"):
            return True
    return False


def default_cache_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/cache/virt/qemu/capabilities")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "virt" / "qemu" / "capabilities"


class CapsCache:
    """Probed capabilities per binary, kept in memory and on disk (one ``<qemuCaps>`` file each,
    named after the SHA-256 of the binary's path), valid while the binary's ctime/mtime and the
    usability of /dev/kvm stay what they were at probe time."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.dir = Path(directory) if directory is not None else default_cache_dir()
        self._mem: dict[str, QemuCaps] = {}
        self._lock = threading.Lock()

    def path_for(self, binary: str) -> Path:
        return self.dir / (hashlib.sha256(binary.encode()).hexdigest() + ".xml")

    def _valid(self, caps: QemuCaps, binary: str) -> bool:
        try:
            st = os.stat(binary)
        except OSError:
            return False
        return (caps.self_version == CACHE_FORMAT_VERSION and caps.ctime == int(st.st_ctime)
                and caps.mtime == int(st.st_mtime) and ("kvm" in caps.flags) == kvm_usable())

    def lookup(self, binary: str) -> QemuCaps:
        with self._lock:
            caps = self._mem.get(binary)
            if caps is not None and self._valid(caps, binary):
                return caps
            path = self.path_for(binary)
            try:
                caps = QemuCaps.parse_cache(path.read_bytes())
                if caps.binary != binary or not self._valid(caps, binary):
                    caps = None
            except (OSError, InternalError, ValueError):
                caps = None
            if caps is None:
                caps = probe_binary(binary)
                self._save(path, caps)
            self._mem[binary] = caps
            return caps

    def _save(self, path: Path, caps: QemuCaps) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(caps.format_cache())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except OSError as exc:  # a read-only cache directory only costs a re-probe next time
            log.warning("cannot save QEMU capabilities cache %s: %s", path, exc)


_default_cache: CapsCache | None = None


def default_cache() -> CapsCache:
    global _default_cache
    if _default_cache is None:
        _default_cache = CapsCache()
    return _default_cache


def load_caps(qemu_caps: str | os.PathLike[str] | None = None, emulator: str | None = None) -> QemuCaps:
    """Capabilities from a file (a ``.replies`` transcript or a ``<qemuCaps>`` cache document) or,
    without one, probed from ``emulator`` (the host's qemu-system-x86_64 by default)."""
    if qemu_caps is not None:
        path = Path(qemu_caps)
        if path.suffix == ".replies":
            return from_replies(path)
        try:
            return QemuCaps.parse_cache(path.read_bytes())
        except OSError as exc:
            raise InternalError(f"cannot read QEMU capabilities '{path}': {exc.strerror}") from None
    binary = emulator or find_emulator()
    if binary is None:
        raise OperationFailedError("no QEMU binary found: install the Debian package qemu-system-x86",
                                   domain=ErrorDomain.QEMU)
    return default_cache().lookup(binary)
