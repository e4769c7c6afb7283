#!/usr/bin/env python3
"""Generate src/virt/driver/qemu/data/cpumap_x86.json: x86 CPU features (cpuid bits) and named models.

Run on an x86_64 host with QEMU and /dev/kvm:

    python3 packages/virt-driver-qemu/tools/gen_cpumap.py [--qemu qemu-system-x86_64] [-o FILE]

Where the data comes from:

* features: the table below, written for this project from the public CPUID/MSR documentation
  (Intel SDM vol. 2A "CPUID", AMD APM vol. 3 appendix E): each feature's leaf, sub-leaf, register and
  bit, or MSR index and bit. A feature's name is its name in libvirt's domain XML. The table's order is
  the order host-model lists features in: standard leaves, then extended leaves, then MSR bits, each
  by leaf, register (edx before ecx for leaves 1 and 0x80000001, as the manuals list them) and bit.
* models: asked of QEMU itself (query-cpu-definitions, query-cpu-model-expansion type=static) for
  every model name of ``MODELS``; an unversioned name or a named variant (``-IBRS``, ``-noTSX``...)
  is expanded through QEMU's alias (``alias-of``, which is the -v1 definition or the variant's
  version with ``-machine none``). Each accelerator adjusts a definition when loading it: TCG turns
  ``vme`` off, KVM turns ``x2apic`` and its paravirtual features on and ``svm``, ``monitor``, ``acpi``
  off, and both set ``hypervisor``. The definition is the TCG expansion with ``vme`` taken from the
  KVM expansion; ``hypervisor`` (never part of a definition), ``monitor`` (which a named model
  never asks for: KVM cannot offer MWAIT to a guest) and ``topoext`` (which QEMU ties to the guest's
  topology rather than to the model) are dropped: libvirt names a Zen 2 KVM host without topoext
  EPYC-Rome with nothing disabled (qemu_8.0.0 domain capabilities).
* ``NO_VME`` and ``MODEL_DELTAS``: where a model's features as libvirt names the host CPU differ from QEMU 7.2's
  current definition (QEMU has changed some -v1 definitions in place since they were named), the
  difference, each with the evidence.
* signature: the family and model numbers of QEMU's definition; the generic models (no vendor) have
  none, since they describe no real CPU.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "src/virt/driver/qemu/data/cpumap_x86.json"

#: cpuid (leaf, sub-leaf, register): {bit: libvirt feature name}, in output order.
CPUID_FEATURES: list[tuple[int, int, str, dict[int, str]]] = [
    (0x1, 0, "edx", {0: "fpu", 1: "vme", 2: "de", 3: "pse", 4: "tsc", 5: "msr", 6: "pae", 7: "mce", 8: "cx8",
                     9: "apic", 11: "sep", 12: "mtrr", 13: "pge", 14: "mca", 15: "cmov", 16: "pat", 17: "pse36",
                     18: "pn", 19: "clflush", 21: "ds", 22: "acpi", 23: "mmx", 24: "fxsr", 25: "sse", 26: "sse2",
                     27: "ss", 28: "ht", 29: "tm", 30: "ia64", 31: "pbe"}),
    (0x1, 0, "ecx", {0: "pni", 1: "pclmuldq", 2: "dtes64", 3: "monitor", 4: "ds_cpl", 5: "vmx", 6: "smx",
                     7: "est", 8: "tm2", 9: "ssse3", 10: "cid", 12: "fma", 13: "cx16", 14: "xtpr", 15: "pdcm",
                     17: "pcid", 18: "dca", 19: "sse4.1", 20: "sse4.2", 21: "x2apic", 22: "movbe", 23: "popcnt",
                     24: "tsc-deadline", 25: "aes", 26: "xsave", 27: "osxsave", 28: "avx", 29: "f16c",
                     30: "rdrand", 31: "hypervisor"}),
    (0x6, 0, "eax", {2: "arat"}),
    (0x7, 0, "ebx", {0: "fsgsbase", 1: "tsc_adjust", 3: "bmi1", 4: "hle", 5: "avx2", 7: "smep", 8: "bmi2",
                     9: "erms", 10: "invpcid", 11: "rtm", 14: "mpx", 16: "avx512f", 17: "avx512dq", 18: "rdseed",
                     19: "adx", 20: "smap", 21: "avx512ifma", 22: "pcommit", 23: "clflushopt", 24: "clwb",
                     25: "intel-pt", 26: "avx512pf", 27: "avx512er", 28: "avx512cd", 29: "sha-ni",
                     30: "avx512bw", 31: "avx512vl"}),
    (0x7, 0, "ecx", {1: "avx512vbmi", 2: "umip", 3: "pku", 4: "ospke", 6: "avx512-vbmi2", 8: "gfni", 9: "vaes",
                     10: "vpclmulqdq", 11: "avx512vnni", 12: "avx512bitalg", 14: "avx512-vpopcntdq", 16: "la57",
                     22: "rdpid", 25: "cldemote", 27: "movdiri", 28: "movdir64b", 31: "pks"}),
    (0x7, 0, "edx", {2: "avx512-4vnniw", 3: "avx512-4fmaps", 4: "fsrm", 8: "avx512-vp2intersect", 10: "md-clear",
                     14: "serialize", 16: "tsx-ldtrk", 26: "spec-ctrl", 27: "stibp", 29: "arch-capabilities",
                     30: "core-capability", 31: "ssbd"}),
    (0x7, 1, "eax", {4: "avx-vnni", 5: "avx512-bf16"}),
    (0xD, 1, "eax", {0: "xsaveopt", 1: "xsavec", 2: "xgetbv1", 3: "xsaves"}),
    (0x80000001, 0, "edx", {11: "syscall", 20: "nx", 22: "mmxext", 25: "fxsr_opt", 26: "pdpe1gb", 27: "rdtscp",
                            29: "lm", 30: "3dnowext", 31: "3dnow"}),
    (0x80000001, 0, "ecx", {0: "lahf_lm", 1: "cmp_legacy", 2: "svm", 3: "extapic", 4: "cr8legacy", 5: "abm",
                            6: "sse4a", 7: "misalignsse", 8: "3dnowprefetch", 9: "osvw", 10: "ibs", 11: "xop",
                            12: "skinit", 13: "wdt", 15: "lwp", 16: "fma4", 17: "tce", 19: "nodeid_msr",
                            21: "tbm", 22: "topoext", 23: "perfctr_core", 24: "perfctr_nb"}),
    (0x80000007, 0, "edx", {8: "invtsc"}),
    (0x80000008, 0, "ebx", {0: "clzero", 2: "xsaveerptr", 9: "wbnoinvd", 12: "ibpb", 14: "ibrs", 15: "amd-stibp",
                            24: "amd-ssbd", 25: "virt-ssbd", 26: "amd-no-ssb"}),
    (0x8000000A, 0, "edx", {0: "npt", 1: "lbrv", 2: "svm-lock", 3: "nrip-save", 4: "tsc-scale", 5: "vmcb-clean",
                            6: "flushbyasid", 7: "decodeassists", 10: "pause-filter", 12: "pfthreshold",
                            13: "avic", 15: "v-vmsave-vmload", 16: "vgif", 28: "svme-addr-chk"}),
]

#: MSR index: {bit: libvirt feature name}, in output order (after every cpuid feature).
MSR_FEATURES: list[tuple[int, dict[int, str]]] = [
    (0x10A, {0: "rdctl-no", 1: "ibrs-all", 2: "rsba", 3: "skip-l1dfl-vmentry", 4: "ssb-no", 5: "mds-no",
             6: "pschange-mc-no", 7: "tsx-ctrl", 8: "taa-no"}),   # IA32_ARCH_CAPABILITIES
    (0xCF, {5: "split-lock-detect"}),                              # IA32_CORE_CAPABILITIES
]

#: libvirt's spelling of features QEMU spells otherwise (QEMU's canonical property names).
QEMU_NAMES = {"pclmuldq": "pclmulqdq", "ds_cpl": "ds-cpl", "tsc_adjust": "tsc-adjust", "fxsr_opt": "fxsr-opt",
              "lahf_lm": "lahf-lm", "cmp_legacy": "cmp-legacy", "nodeid_msr": "nodeid-msr",
              "perfctr_core": "perfctr-core", "perfctr_nb": "perfctr-nb"}

#: The named models, oldest first (host-model tries the newest first).
MODELS = [
    "486", "pentium", "pentium2", "pentium3", "coreduo", "n270", "core2duo", "qemu32", "kvm32", "kvm64", "qemu64",
    "Conroe", "Penryn", "Nehalem", "Nehalem-IBRS", "Westmere", "Westmere-IBRS", "SandyBridge", "SandyBridge-IBRS",
    "IvyBridge", "IvyBridge-IBRS", "Haswell-noTSX", "Haswell-noTSX-IBRS", "Haswell", "Haswell-IBRS",
    "Broadwell-noTSX", "Broadwell-noTSX-IBRS", "Broadwell", "Broadwell-IBRS", "Skylake-Client-noTSX-IBRS",
    "Skylake-Client", "Skylake-Client-IBRS", "Skylake-Server-noTSX-IBRS", "Skylake-Server", "Skylake-Server-IBRS",
    "Cascadelake-Server-noTSX", "Cascadelake-Server", "Icelake-Client-noTSX", "Icelake-Client",
    "Icelake-Server-noTSX", "Icelake-Server", "Cooperlake", "Snowridge", "athlon", "phenom", "Opteron_G1",
    "Opteron_G2", "Opteron_G3", "Opteron_G4", "Opteron_G5", "EPYC", "EPYC-IBPB", "EPYC-Rome", "EPYC-Milan", "Dhyana",
]

#: QEMU's generic models: they name no vendor and describe no real CPU (no signature).
GENERIC = {"486", "pentium", "pentium2", "pentium3", "qemu32", "kvm32", "kvm64", "qemu64"}

#: Features dropped from every definition (see the module docstring).
NOT_IN_MODELS = {"hypervisor", "monitor", "topoext"}

#: Models libvirt named before QEMU's definitions gained ``vme``: their libvirt features lack it. libvirt
#: names QEMU 6.2's TCG "max" CPU Opteron_G3 with nothing about vme although TCG turns vme off
#: (libvirt's qemu_6.2.0-tcg domain capabilities), and a KVM guest's live Westmere CPU gains vme; the
#: rest of that generation (Conroe to Haswell, the Opteron line) came from the same era.
NO_VME = {"coreduo", "n270", "core2duo", "kvm32", "kvm64", "Conroe", "Penryn", "Nehalem", "Nehalem-IBRS",
          "Westmere", "Westmere-IBRS", "SandyBridge", "SandyBridge-IBRS", "Haswell-noTSX", "Haswell-noTSX-IBRS",
          "Haswell", "Haswell-IBRS", "athlon", "phenom", "Opteron_G1", "Opteron_G2", "Opteron_G3", "Opteron_G4",
          "Opteron_G5"}

#: model: (features to drop, features to add), with the evidence for each.
MODEL_DELTAS: dict[str, tuple[set[str], set[str]]] = {
    # libvirt names QEMU 8.0's TCG "max" CPU EPYC plus 'npt' (qemu_8.0.0-tcg domain capabilities): libvirt's
    # EPYC was named before QEMU added the SVM sub-features to EPYC-v1; EPYC-IBPB is EPYC plus ibpb.
    "EPYC": ({"npt", "nrip-save"}, set()),
    "EPYC-IBPB": ({"npt", "nrip-save"}, set()),
    # libvirt names a Zen 2 KVM host EPYC-Rome plus 'xsaves' (qemu_8.0.0 domain capabilities): xsaves is
    # not part of libvirt's EPYC-Rome (QEMU's later EPYC-Rome-v4 also drops it again).
    "EPYC-Rome": ({"xsaves"}, set()),
    # QEMU turned MPX off in these definitions after libvirt had named them (MPX left Linux and KVM);
    # libvirt names a QEMU 4.2 KVM Skylake host (MPX on) Skylake-Client-IBRS without requiring mpx.
    **{name: (set(), {"mpx"}) for name in (
        "Skylake-Client", "Skylake-Client-IBRS", "Skylake-Client-noTSX-IBRS", "Skylake-Server",
        "Skylake-Server-IBRS", "Skylake-Server-noTSX-IBRS", "Cascadelake-Server", "Cascadelake-Server-noTSX",
        "Icelake-Client", "Icelake-Client-noTSX", "Icelake-Server", "Icelake-Server-noTSX")},
}

VENDORS = {"GenuineIntel": "Intel", "AuthenticAMD": "AMD", "HygonGenuine": "Hygon"}


class QMP:
    """A throw-away QEMU with one QMP connection on stdio."""

    def __init__(self, qemu: str, accel: str) -> None:
        self.proc = subprocess.Popen([qemu, "-machine", "none", "-accel", accel, "-nodefaults", "-display",
                                      "none", "-qmp", "stdio"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        self.proc.stdout.readline()  # type: ignore[union-attr]
        self.execute("qmp_capabilities")

    def execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        msg: dict[str, Any] = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        while True:
            reply = json.loads(self.proc.stdout.readline())
            if "error" in reply:
                raise RuntimeError(f"{command}: {reply['error']}")
            if "return" in reply:
                return reply["return"]

    def close(self) -> None:
        self.execute("quit")
        self.proc.wait()


def expand(qmp: QMP, name: str) -> dict[str, Any]:
    return qmp.execute("query-cpu-model-expansion", {"type": "static", "model": {"name": name}})["model"]["props"]


def generate(qemu: str) -> dict[str, Any]:
    features: list[dict[str, Any]] = []
    for leaf, subleaf, reg, bits in CPUID_FEATURES:
        for bit, name in sorted(bits.items()):
            features.append({"name": name, "cpuid": [leaf, subleaf, reg, bit]})
    for index, bits in MSR_FEATURES:
        for bit, name in sorted(bits.items()):
            features.append({"name": name, "msr": [index, bit]})
    known = {f["name"] for f in features}
    qemu_to_libvirt = {QEMU_NAMES.get(n, n): n for n in known}

    tcg, kvm = QMP(qemu, "tcg"), QMP(qemu, "kvm")
    try:
        version = tcg.execute("query-version")["qemu"]
        defs = {d["name"]: d for d in tcg.execute("query-cpu-definitions")}
        models = []
        for name in MODELS:
            if name not in defs:
                print(f"{name}: not a model of this QEMU, left out", file=sys.stderr)
                continue
            qname = defs[name].get("alias-of") or name
            props, kprops = expand(tcg, qname), expand(kvm, qname)
            props["vme"] = kprops.get("vme", False) and name not in NO_VME
            full = tcg.execute("query-cpu-model-expansion", {"type": "full", "model": {"name": qname}})["model"]
            have = {qemu_to_libvirt[p] for p, v in props.items() if v is True and p in qemu_to_libvirt}
            have -= NOT_IN_MODELS
            drop, add = MODEL_DELTAS.get(name, (set(), set()))
            have = (have - drop) | add
            generic = name in GENERIC
            models.append({
                "name": name, "qemu": qname,
                "vendor": None if generic else VENDORS[full["props"]["vendor"]],
                "signature": None if generic else [full["props"]["family"], full["props"]["model"]],
                "features": [f["name"] for f in features if f["name"] in have],
            })
    finally:
        tcg.close()
        kvm.close()
    return {
        "_comment": ["Generated by packages/virt-driver-qemu/tools/gen_cpumap.py (see its docstring):",
                     "features from the project's own cpuid/MSR table, models from QEMU " + version_str(version)
                     + " query-cpu-model-expansion. Do not edit by hand."],
        "features": features,
        "qemu_names": {k: v for k, v in QEMU_NAMES.items() if k in known},
        "models": models,
    }


def version_str(v: dict[str, int]) -> str:
    return f"{v['major']}.{v['minor']}.{v['micro']}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("-o", "--output", type=Path, default=OUT)
    args = ap.parse_args()
    data = generate(args.qemu)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(dump(data))


def dump(data: dict[str, Any]) -> str:
    """JSON with one feature or model per line, so that a regenerated file diffs readably."""
    parts = []
    for key, value in data.items():
        if isinstance(value, list):
            items = ",\n  ".join(json.dumps(v) for v in value)
            parts.append(f" {json.dumps(key)}: [\n  {items}\n ]")
        else:
            parts.append(f" {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


if __name__ == "__main__":
    main()
