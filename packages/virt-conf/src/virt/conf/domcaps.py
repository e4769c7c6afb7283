"""Domain capabilities XML (<domainCapabilities>): what a hypervisor offers for one emulator, machine and arch.

Drivers generate this document, so every model is easy to build in Python::

    caps = DomainCapabilities(
        path="/usr/bin/qemu-system-x86_64", domain="kvm", machine="pc-q35-8.0", arch="x86_64",
        vcpu=VCPUMax(max=288), iothreads=CapsItem.of(True),
        devices=DevicesCaps(disk=CapsItem.of(True, diskDevice=["disk", "cdrom"], bus=["sata"])),
    )
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from virt.conf.xmlmodel import (
    Attr,
    Child,
    Children,
    Int,
    Model,
    ParseContext,
    Raw,
    String,
    Text,
    TextChild,
    Writer,
    YesNo,
)
from virt.util.errors import XMLError


class EnumValue(Model):
    TAG = "value"
    text = Text(String)


class CapsEnum(Model):
    """<enum name='bus'><value>virtio</value>...</enum>; empty enums print as <enum name='x'/>."""

    TAG = "enum"
    name = Attr(String, required=True)
    values = Children(EnumValue)

    @classmethod
    def of(cls, name: str, values: Iterable[str]) -> CapsEnum:
        return cls(name=name, values=[EnumValue(text=v) for v in values])

    @property
    def words(self) -> list[str]:
        return [v.text for v in self.values]


class CapsItem(Model):
    """Any ``<x supported='yes|no'>`` element made of values and enums (devices, loader, memoryBacking...).

    Unsupported items print as ``<x supported='no'/>`` whatever they hold, as libvirt prints them.
    """

    supported = Attr(YesNo)
    values = Children(EnumValue)
    enums = Children(CapsEnum)

    @classmethod
    def of(cls, supported: bool, values: Iterable[str] = (), **enums: Iterable[str]) -> Any:
        """``CapsItem.of(True, bus=["virtio", "usb"])``: enums in keyword order."""
        return cls(supported=supported, values=[EnumValue(text=v) for v in values],
                   enums=[CapsEnum.of(k, v) for k, v in enums.items()])

    def enum(self, name: str) -> list[str] | None:
        """The values of one enum, or None when it is not reported."""
        return next((e.words for e in self.enums if e.name == name), None)

    def write(self, w: Writer, tag: str | None = None) -> None:
        if self.supported is False:
            w.leaf(tag or self.TAG, [("supported", "no")], None)
            return
        super().write(w, tag)


class VCPUMax(Model):
    TAG = "vcpu"
    max = Attr(Int(min=0))


class OSCaps(CapsItem):
    """<os supported=...>: firmware enum and the <loader> (its paths as values, then enums)."""

    TAG = "os"
    loader = Child(CapsItem, tag="loader")


class CPUFeature(Model):
    TAG = "feature"
    policy = Attr(String)
    name = Attr(String)


class CPUModel(Model):
    """A <model> of a CPU mode: host-model's (fallback) or one of custom's (usable, vendor...)."""

    TAG = "model"
    fallback = Attr(String)
    vendor_id = Attr(String)
    usable = Attr(String)
    deprecated = Attr(YesNo)
    vendor = Attr(String)
    canonical = Attr(String)
    name = Text(String)


class CPUMode(Model):
    """<mode name='host-passthrough|maximum|host-model|custom' supported=...>."""

    TAG = "mode"
    name = Attr(String, required=True)
    supported = Attr(YesNo)
    enums = Children(CapsEnum)
    models = Children(CPUModel)
    vendor = TextChild(String)
    microcode = Raw()
    signature = Raw()
    counter = Raw()
    topology = Raw()
    maxphysaddr = Raw()
    features = Children(CPUFeature)
    blockers = Children(lambda: Blockers)

    def write(self, w: Writer, tag: str | None = None) -> None:
        if self.supported is False:
            w.leaf("mode", [("name", self.name), ("supported", "no")], None)
            return
        super().write(w, tag)


class BlockerFeature(Model):
    TAG = "feature"
    name = Attr(String)


class Blockers(Model):
    TAG = "blockers"
    model = Attr(String)
    features = Children(BlockerFeature)


class CPUCaps(Model):
    TAG = "cpu"
    modes = Children(CPUMode)

    def mode(self, name: str) -> CPUMode | None:
        return next((m for m in self.modes if m.name == name), None)


class DevicesCaps(Model):
    """<devices>: one CapsItem per device kind, in libvirt's order."""

    TAG = "devices"
    disk = Child(CapsItem, tag="disk")
    graphics = Child(CapsItem, tag="graphics")
    video = Child(CapsItem, tag="video")
    hostdev = Child(CapsItem, tag="hostdev")
    rng = Child(CapsItem, tag="rng")
    filesystem = Child(CapsItem, tag="filesystem")
    tpm = Child(CapsItem, tag="tpm")
    redirdev = Child(CapsItem, tag="redirdev")
    channel = Child(CapsItem, tag="channel")
    crypto = Child(CapsItem, tag="crypto")
    interface = Child(CapsItem, tag="interface")
    panic = Child(CapsItem, tag="panic")
    console = Child(CapsItem, tag="console")


class SEVCaps(Model):
    TAG = "sev"
    supported = Attr(YesNo)
    cbitpos = TextChild(Int())
    reduced_phys_bits = TextChild(Int(), tag="reducedPhysBits")
    max_guests = TextChild(Int(), tag="maxGuests")
    max_es_guests = TextChild(Int(), tag="maxESGuests")
    cpu0_id = TextChild(String, tag="cpu0Id")

    def write(self, w: Writer, tag: str | None = None) -> None:
        if self.supported is False:
            w.leaf("sev", [("supported", "no")], None)
            return
        super().write(w, tag)


class SizeUnit(Model):
    unit = Attr(String)
    value = Text(Int(min=0))


class SGXSection(Model):
    TAG = "section"
    node = Attr(Int(min=0))
    size = Attr(Int(min=0))
    unit = Attr(String)


class SGXSections(Model):
    TAG = "sections"
    sections = Children(SGXSection)


class SGXCaps(Model):
    TAG = "sgx"
    supported = Attr(YesNo)
    flc = TextChild(YesNo)
    sgx1 = TextChild(YesNo)
    sgx2 = TextChild(YesNo)
    section_size = Child(SizeUnit, tag="section_size")
    sections = Child(SGXSections)

    def write(self, w: Writer, tag: str | None = None) -> None:
        if self.supported is False:
            w.leaf("sgx", [("supported", "no")], None)
            return
        super().write(w, tag)


class FeaturesCaps(Model):
    """<features>: gic, the simple yes/no features, sev, sgx, hyperv... in libvirt's order."""

    TAG = "features"
    gic = Child(CapsItem, tag="gic")
    vmcoreinfo = Child(CapsItem, tag="vmcoreinfo")
    genid = Child(CapsItem, tag="genid")
    backing_store_input = Child(CapsItem, tag="backingStoreInput")
    backup = Child(CapsItem, tag="backup")
    async_teardown = Child(CapsItem, tag="async-teardown")
    s390_pv = Child(CapsItem, tag="s390-pv")
    ps2 = Child(CapsItem, tag="ps2")
    sev = Child(SEVCaps)
    sgx = Child(SGXCaps)
    hyperv = Child(CapsItem, tag="hyperv")
    launch_security = Child(CapsItem, tag="launchSecurity")


class DomainCapabilities(Model):
    """The whole <domainCapabilities> document."""

    TAG = "domainCapabilities"
    path = TextChild(String)
    domain = TextChild(String)
    machine = TextChild(String)
    arch = TextChild(String)
    vcpu = Child(VCPUMax)
    iothreads = Child(CapsItem, tag="iothreads")
    os = Child(OSCaps)
    cpu = Child(CPUCaps)
    memory_backing = Child(CapsItem, tag="memoryBacking")
    devices = Child(DevicesCaps)
    features = Child(FeaturesCaps)

    def post_parse(self, ctx: ParseContext) -> None:
        for name in ("path", "domain", "arch"):
            if getattr(self, name) is None:
                raise XMLError(f"missing element '{name}' in element 'domainCapabilities'")

    def write(self, w: Writer, tag: str | None = None) -> None:
        # <devices> is always printed, even with nothing in it
        devices = self.devices
        if devices is None:
            self.devices = DevicesCaps()
        try:
            super().write(w, tag)
        finally:
            self.devices = devices
