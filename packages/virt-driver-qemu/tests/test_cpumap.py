"""The x86 CPU map (data/cpumap_x86.json) and naming the host-model CPU with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from virt.driver.qemu import cpumap
from virt.driver.qemu.caps import from_replies

CORPUS = Path(os.environ.get("VIRT_CORPUS", "/work/shared/corpus"))
REPLIES = CORPUS / "qemu_caps" / "caps_8.0.0.x86_64.replies"
TOOL = Path(__file__).resolve().parent.parent / "tools" / "gen_cpumap.py"
needs_corpus = pytest.mark.skipif(not REPLIES.is_file(), reason="libvirt's recorded QEMU probe is not available")


def test_map_is_consistent() -> None:
    m = cpumap.x86_map()
    assert len(set(m.features)) == len(m.features)
    known = set(m.features)
    for model in m.models:
        assert model.features <= known, model.name
        assert (model.vendor is None) == (model.signature is None), model.name
    names = [model.name for model in m.models]
    assert names.index("EPYC") < names.index("EPYC-Rome") < names.index("EPYC-Milan")  # oldest first
    # every decodable model is one domain capabilities lists with the same vendor
    for model in m.models:
        assert cpumap.vendor_of(model.name) == (model.vendor or "unknown"), model.name


def test_feature_order_follows_cpuid_layout() -> None:
    data = json.loads((TOOL.parent.parent / "src/virt/driver/qemu/data/cpumap_x86.json").read_text())
    reg = {"eax": 0, "ebx": 1, "ecx": 2, "edx": 3}
    reg_01 = {"edx": 0, "ecx": 1}  # leaves 1 and 0x80000001 list edx first

    def key(f: dict) -> tuple:
        if "msr" in f:
            return (1, 0, 0, 0, 0)
        leaf, sub, r, bit = f["cpuid"]
        return (0, leaf, sub, reg_01[r] if leaf in (1, 0x80000001) else reg[r], bit)

    feats = data["features"]
    assert [key(f) for f in feats] == sorted(key(f) for f in feats)


def test_decode_prefers_fewest_changes_and_lists_them_in_map_order() -> None:
    epyc = next(m for m in cpumap.x86_map().models if m.name == "EPYC")
    host = set(epyc.features) - {"sse4a"} | {"x2apic", "tsc-deadline", "not-a-feature"}
    got = cpumap.decode(host, "AMD", None, None)
    assert got is not None
    assert got.model == "EPYC"
    assert got.required == ["x2apic", "tsc-deadline"]  # cpuid 1 ecx bit 21 before bit 24; unknown ignored
    assert got.disabled == ["sse4a"]


def test_decode_respects_vendor_allowed_models_and_blockers() -> None:
    rome = next(m for m in cpumap.x86_map().models if m.name == "EPYC-Rome")
    host = set(rome.features)
    assert cpumap.decode(host, "AMD", None, None).model == "EPYC-Rome"
    # an Intel CPU is never named with an AMD model
    assert cpumap.decode(host, "Intel", None, None).model not in {"EPYC", "EPYC-Rome", "EPYC-IBPB", "EPYC-Milan"}
    # only models the hypervisor offers are candidates; a blocker QEMU reports is disabled
    got = cpumap.decode(host, "AMD", None, {"EPYC-Rome": ["fxsr-opt"], "qemu64": []})
    assert got.model == "EPYC-Rome"
    assert got.disabled == ["fxsr_opt"]
    assert cpumap.decode(host, "AMD", None, {}) is None


def test_decode_prefers_matching_signature() -> None:
    m = {model.name: model for model in cpumap.x86_map().models}
    host = set(m["EPYC-Rome"].features)
    # with EPYC's family/model the older model wins although it needs more changes
    got = cpumap.decode(host, "AMD", m["EPYC"].signature, None)
    assert got.model in {"EPYC", "EPYC-IBPB"}
    assert got.required


@needs_corpus
def test_host_model_migratable_leaves_out_non_migratable_features() -> None:
    caps = from_replies(REPLIES)
    full = cpumap.host_model(caps, "kvm")
    mig = cpumap.host_model(caps, "kvm", migratable=True)
    assert full is not None and mig is not None
    assert full.model == mig.model == "EPYC-Rome"
    assert "invtsc" in full.required and "invtsc" not in mig.required


@pytest.mark.skipif(not os.access("/dev/kvm", os.R_OK | os.W_OK), reason="needs /dev/kvm to expand models")
def test_generator_reproduces_checked_in_data(tmp_path: Path, qemu_binary: str) -> None:
    out = tmp_path / "cpumap.json"
    subprocess.run([sys.executable, str(TOOL), "--qemu", qemu_binary, "-o", str(out)], check=True,
                   capture_output=True, timeout=120)
    checked_in = TOOL.parent.parent / "src/virt/driver/qemu/data/cpumap_x86.json"
    got, want = json.loads(out.read_text()), json.loads(checked_in.read_text())
    if got["_comment"] != want["_comment"]:
        pytest.skip(f"a different QEMU than the one the data was generated with: {got['_comment'][1]}")
    assert got == want


@needs_corpus
@pytest.mark.parametrize(("model", "stepping", "dropped"), [(60, 3, True), (63, 2, True), (63, 4, False),
                                                           (85, 4, False)])
def test_host_model_drops_broken_tsx_of_intel_cpus(model: int, stepping: int, dropped: bool) -> None:
    caps = from_replies(REPLIES)
    host = caps.kvm.host_cpu
    assert host is not None
    values = {"vendor": "GenuineIntel", "family": 6, "model": model, "stepping": stepping, "hle": True,
              "rtm": True}
    for prop in host.props:
        if prop.name in values:
            prop.value = values[prop.name]
    for definition in caps.kvm.cpu_models or ():
        definition.blockers = []  # the recorded (AMD) host's blockers would disable Intel features
    got = cpumap.host_model(caps, "kvm")
    assert got is not None and got.vendor == "Intel"
    model = next(m for m in cpumap.x86_map().models if m.name == got.model)
    features = set(got.required) | (model.features - set(got.disabled))
    assert ({"hle", "rtm"} & features == set()) == dropped


def test_decode_intel_host_orders_features_by_cpuid_leaf() -> None:
    """A Skylake host as libvirt names it (QEMU 4.2 probe): leaf 1, 7, 0xd, extended leaves, then MSRs."""
    m = {model.name: model for model in cpumap.x86_map().models}
    extra = ["ss", "vmx", "hypervisor", "tsc_adjust", "clflushopt", "umip", "md-clear", "stibp",
             "arch-capabilities", "ssbd", "xsaves", "pdpe1gb", "invtsc", "skip-l1dfl-vmentry", "pschange-mc-no"]
    host = set(m["Skylake-Client-IBRS"].features) | set(extra)
    for signature in ((6, 94), (6, 142), None):
        got = cpumap.decode(host, "Intel", signature, None)
        assert got is not None
        assert (got.model, got.required, got.disabled) == ("Skylake-Client-IBRS", extra, [])
