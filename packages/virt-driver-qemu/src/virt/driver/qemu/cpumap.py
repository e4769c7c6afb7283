"""The x86 CPU models the driver knows by name and vendor, and the host-model CPU.

libvirt lists only the CPU models of its own CPU map in domain capabilities, each with its vendor;
``MODELS`` is that list for x86. ``host_model`` turns QEMU's expansion of the host CPU into the
``<mode name='host-model'>`` description: ``decode`` names it with the x86 CPU map (features with
their cpuid order, models with their features) in data/cpumap_x86.json, which
tools/gen_cpumap.py generates from QEMU's own model definitions.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib import resources

from virt.conf.domcaps import CPUFeature
from virt.driver.qemu import capsdata as cd
from virt.driver.qemu.caps import QemuCaps

_VENDORS = {"Intel": """Broadwell Broadwell-IBRS Broadwell-noTSX Broadwell-noTSX-IBRS Cascadelake-Server
    Cascadelake-Server-noTSX Conroe Cooperlake Haswell Haswell-IBRS Haswell-noTSX Haswell-noTSX-IBRS Icelake-Client
    Icelake-Client-noTSX Icelake-Server Icelake-Server-noTSX IvyBridge IvyBridge-IBRS Nehalem Nehalem-IBRS Penryn
    SandyBridge SandyBridge-IBRS Skylake-Client Skylake-Client-IBRS Skylake-Client-noTSX-IBRS Skylake-Server
    Skylake-Server-IBRS Skylake-Server-noTSX-IBRS Snowridge Westmere Westmere-IBRS core2duo coreduo n270""",
            "AMD": """EPYC EPYC-IBPB EPYC-Milan EPYC-Rome Opteron_G1 Opteron_G2 Opteron_G3 Opteron_G4 Opteron_G5
    athlon phenom""",
            "Hygon": "Dhyana",
            "unknown": "486 kvm32 kvm64 pentium pentium2 pentium3 qemu32 qemu64"}

#: Model name -> vendor ("unknown" for generic models).
MODELS: dict[str, str] = {m: v for v, names in _VENDORS.items() for m in names.split()}


def known_model(name: str) -> bool:
    return name in MODELS


def vendor_of(name: str) -> str:
    return MODELS.get(name, "unknown")


@dataclass
class HostModel:
    model: str
    vendor: str | None
    required: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class X86Model:
    """A named model of the x86 CPU map: its vendor, family/model signature and features."""

    name: str
    vendor: str | None
    signature: tuple[int, int] | None
    features: frozenset[str]


@dataclass(frozen=True)
class X86Map:
    """The x86 CPU map: features in host-model's order, models oldest first."""

    features: tuple[str, ...]
    models: tuple[X86Model, ...]
    from_qemu: dict[str, str]  # QEMU's spelling -> libvirt's, where they differ

    def libvirt_name(self, qemu_name: str) -> str:
        return self.from_qemu.get(qemu_name, qemu_name)


@functools.cache
def x86_map() -> X86Map:
    """The map in data/cpumap_x86.json (made by tools/gen_cpumap.py)."""
    data = json.loads(resources.files("virt.driver.qemu").joinpath("data/cpumap_x86.json").read_text())
    models = tuple(X86Model(m["name"], m["vendor"], tuple(m["signature"]) if m["signature"] else None,
                            frozenset(m["features"])) for m in data["models"])
    from_qemu = {qemu: name for name, qemu in data["qemu_names"].items()}
    return X86Map(tuple(f["name"] for f in data["features"]), models, from_qemu)


_CPUID_VENDORS = {"GenuineIntel": "Intel", "AuthenticAMD": "AMD", "HygonGenuine": "Hygon"}


def feature_model(name: str, policy: str) -> CPUFeature:
    return CPUFeature(policy=policy, name=name)


def libvirt_feature_name(qemu_name: str) -> str:
    return cd.CPU_FEATURES_QEMU_TO_LIBVIRT.get(qemu_name, qemu_name)


def decode(features: set[str], vendor: str | None, signature: tuple[int, int] | None,
           allowed: dict[str, list[str]] | None) -> HostModel | None:
    """Name a CPU with ``features`` (libvirt names): the model needing the fewest feature changes.

    ``allowed`` maps the models the hypervisor offers to the features blocking each (QEMU's
    unavailable-features); None allows every model. Models are tried newest first; an older one wins
    only with strictly fewer changes, and once a model matches the CPU's family/model signature only
    models with that signature are considered (one with it wins even with more changes).
    """
    cpumap = x86_map()
    order = {name: i for i, name in enumerate(cpumap.features)}
    features = {f for f in features if f in order}
    best: HostModel | None = None
    best_sig = False
    for model in reversed(cpumap.models):
        if allowed is not None and model.name not in allowed:
            continue
        if vendor and model.vendor and vendor != model.vendor:
            continue
        required = features - model.features
        disabled = set(model.features - features)
        for blocker in (allowed or {}).get(model.name, ()):
            name = cpumap.libvirt_name(blocker)
            if name in order and name not in required:
                disabled.add(name)
        cand = HostModel(model.name, vendor, sorted(required, key=order.__getitem__),
                         sorted(disabled, key=order.__getitem__))
        has_sig = signature is not None and model.signature == signature
        if best is not None:
            if best_sig and not has_sig:
                continue
            shorter = len(cand.required) + len(cand.disabled) < len(best.required) + len(best.disabled)
            if not shorter and not (has_sig and not best_sig):
                continue
        best, best_sig = cand, has_sig
    return best


def _broken_tsx(model: int | None, stepping: int | None) -> bool:
    """Intel family 6 CPUs whose TSX (hle, rtm) microcode updates turned off: never part of host-model."""
    return model in (60, 69, 70) or (model == 63 and stepping is not None and stepping < 4)


def host_model(caps: QemuCaps, virt_type: str, *, migratable: bool = False) -> HostModel | None:
    """The host-model CPU, or None when QEMU did not expand the host CPU.

    ``migratable`` leaves out the features QEMU enables only for a non-migratable CPU (what a
    guest's host-model CPU gets); without it the CPU is the one domain capabilities report.
    """
    if caps.arch not in ("x86_64", "i686"):
        return None
    acc = caps.accel(virt_type)
    host = acc.host_cpu
    if host is None:
        return None
    cpumap = x86_map()
    features: set[str] = set()
    vendor = None
    family = model = stepping = None
    for prop in host.props:
        name = cpumap.libvirt_name(prop.name)
        if prop.type == "boolean":
            if prop.value and not (migratable and prop.migratable is False):
                features.add(name)
        elif prop.type == "string" and name == "vendor":
            vendor = _CPUID_VENDORS.get(prop.value)
        elif prop.type == "number" and name == "family":
            family = prop.value
        elif prop.type == "number" and name == "model":
            model = prop.value
        elif prop.type == "number" and name == "stepping":
            stepping = prop.value
    allowed = None
    if acc.cpu_models is not None:
        allowed = {m.name: m.blockers for m in acc.cpu_models}
    signature = (family, model) if family is not None and model is not None else None
    if vendor == "Intel" and family == 6 and _broken_tsx(model, stepping):
        features -= {"hle", "rtm"}
    return decode(features, vendor, signature, allowed)
