"""The x86 CPU models the driver knows by name and vendor, and the host-model CPU.

libvirt lists only the CPU models of its own CPU map in domain capabilities, each with its vendor;
``MODELS`` is that list for x86. ``host_model`` turns QEMU's expansion of the host CPU into the
``<mode name='host-model'>`` description.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


def feature_model(name: str, policy: str) -> CPUFeature:
    return CPUFeature(policy=policy, name=name)


def libvirt_feature_name(qemu_name: str) -> str:
    return cd.CPU_FEATURES_QEMU_TO_LIBVIRT.get(qemu_name, qemu_name)


def host_model(caps: QemuCaps, virt_type: str) -> HostModel | None:
    """The host-model CPU, or None when QEMU did not expand the host CPU."""
    return None
