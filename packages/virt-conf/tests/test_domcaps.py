"""Domain capabilities: libvirt's QEMU 7.2/8.0 domcaps files re-format byte for byte, and build from Python."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the shared corpus helpers beside this file
from corpus_cases import CORPUS, load_cases
from virt.conf import parse
from virt.conf.domcaps import (
    CapsItem,
    CPUCaps,
    CPUMode,
    CPUModel,
    DevicesCaps,
    DomainCapabilities,
    FeaturesCaps,
    OSCaps,
    SEVCaps,
    VCPUMax,
)

DOMCAPS = sorted({c["expected"] for c in load_cases("qemu_caps") if c["expected"].startswith("qemu_")})


def test_corpus_has_the_domcaps_files():
    assert len(DOMCAPS) == 6


@pytest.mark.parametrize("name", DOMCAPS)
def test_reformat_exactly(name):
    text = (CORPUS / "qemu_caps" / name).read_text()
    caps = parse(text)
    assert isinstance(caps, DomainCapabilities)
    assert caps.format() == text


def test_typed_view():
    caps = parse((CORPUS / "qemu_caps" / "qemu_8.0.0-q35.x86_64.xml").read_bytes())
    assert caps.machine == "pc-q35-8.0" and caps.vcpu.max == 288
    assert caps.devices.disk.enum("bus") == ["fdc", "scsi", "virtio", "usb", "sata"]
    assert caps.cpu.mode("host-model").models[0].name == "EPYC-Rome"
    assert caps.features.sev.supported is False


def test_build_from_python():
    caps = DomainCapabilities(
        path="/usr/bin/qemu-system-x86_64", domain="kvm", machine="pc-q35-8.0", arch="x86_64",
        vcpu=VCPUMax(max=288), iothreads=CapsItem.of(True),
        os=OSCaps(supported=True, enums=CapsItem.of(True, firmware=["bios", "efi"]).enums,
                  loader=CapsItem.of(True, ["/usr/share/OVMF/OVMF_CODE.fd"], type=["rom", "pflash"])),
        cpu=CPUCaps(modes=[CPUMode(name="host-passthrough", supported=False),
                           CPUMode(name="custom", supported=True,
                                   models=[CPUModel(usable="yes", vendor="Intel", name="Skylake")])]),
        devices=DevicesCaps(disk=CapsItem.of(True, diskDevice=["disk"]), tpm=CapsItem.of(False, model=["x"]),
                            hostdev=CapsItem.of(True, capsType=[])),
        features=FeaturesCaps(gic=CapsItem.of(False), sev=SEVCaps(supported=False)),
    )
    text = caps.format()
    assert "<mode name='host-passthrough' supported='no'/>" in text
    assert "<tpm supported='no'/>" in text and "<enum name='capsType'/>" in text
    assert "<value>/usr/share/OVMF/OVMF_CODE.fd</value>" in text
    assert parse(text).format() == text
