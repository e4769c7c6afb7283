"""Host capabilities XML (<capabilities>): the host's CPU, NUMA topology, caches, security models and guests.

Drivers generate this document; every model takes its fields as keyword arguments::

    caps = Capabilities(
        host=Host(uuid="...", cpu=HostCPU(arch="x86_64", model=CPUModelName(name="Skylake")),
                  iommu=Iommu(support=True)),
        guests=[Guest(os_type="hvm", arch=GuestArch(name="x86_64", wordsize=64,
                      domains=[GuestDomain(type="kvm")]))],
    )
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from virt.conf.xmlmodel import (
    UUID,
    Attr,
    Child,
    Children,
    Flag,
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

UINT = Int(min=0)

# ----------------------------------------------------------------------------- host CPU


class CPUModelName(Model):
    TAG = "model"
    fallback = Attr(String)
    vendor_id = Attr(String)
    name = Text(String)


class Microcode(Model):
    TAG = "microcode"
    version = Attr(UINT)


class Signature(Model):
    TAG = "signature"
    family = Attr(UINT)
    model = Attr(UINT)
    stepping = Attr(UINT)


class Counter(Model):
    TAG = "counter"
    name = Attr(String)
    frequency = Attr(UINT)
    scaling = Attr(YesNo)


class CPUTopology(Model):
    TAG = "topology"
    sockets = Attr(UINT)
    dies = Attr(UINT)
    clusters = Attr(UINT)
    cores = Attr(UINT)
    threads = Attr(UINT)


class MaxPhysAddr(Model):
    TAG = "maxphysaddr"
    mode = Attr(String)
    bits = Attr(UINT)
    limit = Attr(UINT)


class CPUFeature(Model):
    TAG = "feature"
    policy = Attr(String)
    name = Attr(String)


class PageSize(Model):
    TAG = "pages"
    unit = Attr(String)
    size = Attr(UINT)


class FlagList(Model):
    """An element whose empty children are names: <features><pae/></features>, <power_management>."""

    names: list[str]

    def __init__(self, names: list[str] | None = None, **values: Any) -> None:
        self.names = list(names or [])
        super().__init__(**values)

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        self.names = [c.tag for c in el if isinstance(c.tag, str)]
        return set(self.names)

    def format_extra(self, w: Writer) -> None:
        for name in self.names:
            w.leaf(name, [], None)


class HostCPU(Model):
    """<cpu> of <host>: arch, model, vendor, signature, topology, features and page sizes."""

    TAG = "cpu"
    arch = TextChild(String)
    flags = Child(FlagList, tag="features")
    model = Child(CPUModelName)
    vendor = TextChild(String)
    microcode = Child(Microcode)
    signature = Child(Signature)
    counter = Child(Counter)
    topology = Child(CPUTopology)
    maxphysaddr = Child(MaxPhysAddr)
    features = Children(CPUFeature)
    pages = Children(PageSize)


# ----------------------------------------------------------------------------- host

class MigrationTransports(Model):
    TAG = "uri_transports"
    transports = Children(lambda: URITransport)


class URITransport(Model):
    TAG = "uri_transport"
    name = Text(String)


class MigrationFeatures(Model):
    TAG = "migration_features"
    live = Flag()
    uri_transports = Child(MigrationTransports)


class Iommu(Model):
    TAG = "iommu"
    support = Attr(YesNo)


class CellMemory(Model):
    TAG = "memory"
    unit = Attr(String)
    value = Text(UINT)


class CellPages(Model):
    TAG = "pages"
    unit = Attr(String)
    size = Attr(UINT)
    count = Text(UINT)


class Sibling(Model):
    TAG = "sibling"
    id = Attr(UINT)
    value = Attr(UINT)


class Distances(Model):
    TAG = "distances"
    siblings = Children(Sibling)


class CellCPU(Model):
    TAG = "cpu"
    id = Attr(UINT)
    socket_id = Attr(UINT)
    die_id = Attr(UINT)
    core_id = Attr(UINT)
    siblings = Attr(String)


class CellCPUs(Model):
    TAG = "cpus"
    num = Attr(UINT)
    cpus = Children(CellCPU)

    def post_parse(self, ctx: ParseContext) -> None:
        self.num = None  # always the count of the list, computed when printed

    def write(self, w: Writer, tag: str | None = None) -> None:
        self.num = len(self.cpus)
        try:
            super().write(w, tag)
        finally:
            self.num = None


class Cell(Model):
    """One NUMA cell of the host."""

    TAG = "cell"
    id = Attr(UINT)
    memory = Child(CellMemory)
    pages = Children(CellPages)
    distances = Child(Distances)
    caches = Raw(tag="cache")
    cpus = Child(CellCPUs)


class Cells(Model):
    TAG = "cells"
    num = Attr(UINT)
    cells = Children(Cell)

    def post_parse(self, ctx: ParseContext) -> None:
        self.num = None  # always the count of the list, computed when printed

    def write(self, w: Writer, tag: str | None = None) -> None:
        self.num = len(self.cells)
        try:
            super().write(w, tag)
        finally:
            self.num = None


class HostTopology(Model):
    TAG = "topology"
    cells = Child(Cells)
    interconnects = Raw()


class CacheControl(Model):
    TAG = "control"
    granularity = Attr(UINT)
    min = Attr(UINT)
    unit = Attr(String)
    type = Attr(String)
    max_allocs = Attr(UINT, xml="maxAllocs")


class CacheBank(Model):
    TAG = "bank"
    id = Attr(UINT)
    level = Attr(UINT)
    type = Attr(String)
    size = Attr(UINT)
    unit = Attr(String)
    cpus = Attr(String)
    controls = Children(CacheControl)


class MonitorFeature(Model):
    TAG = "feature"
    name = Attr(String)


class Monitor(Model):
    TAG = "monitor"
    level = Attr(UINT)
    reuse_threshold = Attr(UINT, xml="reuseThreshold")
    max_monitors = Attr(UINT, xml="maxMonitors")
    features = Children(MonitorFeature)


class HostCache(Model):
    TAG = "cache"
    banks = Children(CacheBank)
    monitor = Child(Monitor)


class MemBWControl(Model):
    TAG = "control"
    granularity = Attr(UINT)
    min = Attr(UINT)
    max_allocs = Attr(UINT, xml="maxAllocs")


class MemBWNode(Model):
    TAG = "node"
    id = Attr(UINT)
    cpus = Attr(String)
    control = Child(MemBWControl)


class MemoryBandwidth(Model):
    TAG = "memory_bandwidth"
    nodes = Children(MemBWNode)
    monitor = Child(Monitor)


class BaseLabel(Model):
    TAG = "baselabel"
    type = Attr(String)
    label = Text(String)


class SecModel(Model):
    TAG = "secmodel"
    model = TextChild(String)
    doi = TextChild(String)
    base_labels = Children(BaseLabel)


class Host(Model):
    TAG = "host"
    uuid = TextChild(UUID)
    cpu = Child(HostCPU)
    power_management = Child(FlagList, tag="power_management")
    iommu = Child(Iommu)
    migration_features = Child(MigrationFeatures)
    netprefix = TextChild(String)
    topology = Child(HostTopology)
    cache = Child(HostCache)
    memory_bandwidth = Child(MemoryBandwidth)
    secmodels = Children(SecModel)

    def write(self, w: Writer, tag: str | None = None) -> None:
        # <cpu> and <power_management/> are always printed
        saved = (self.cpu, self.power_management)
        self.cpu = self.cpu or HostCPU()
        self.power_management = self.power_management or FlagList()
        try:
            super().write(w, tag)
        finally:
            self.cpu, self.power_management = saved
        w.parts.append("\n")


# ----------------------------------------------------------------------------- guests


class GuestMachine(Model):
    TAG = "machine"
    canonical = Attr(String)
    max_cpus = Attr(Int(), xml="maxCpus")
    deprecated = Attr(YesNo)
    name = Text(String)


class GuestDomain(Model):
    TAG = "domain"
    type = Attr(String)
    emulator = TextChild(String)
    loader = TextChild(String)
    machines = Children(GuestMachine)


class GuestArch(Model):
    TAG = "arch"
    name = Attr(String)
    wordsize = TextChild(Int())
    emulator = TextChild(String)
    loader = TextChild(String)
    machines = Children(GuestMachine)
    domains = Children(GuestDomain)


class GuestFeature(Model):
    """A guest feature: <acpi default='on' toggle='yes'/>, <pae/>..."""

    default = Attr(String)
    toggle = Attr(YesNo)
    name: str = ""

    def write(self, w: Writer, tag: str | None = None) -> None:
        super().write(w, self.name)


class GuestFeatures(Model):
    TAG = "features"
    features: list[GuestFeature]

    def __init__(self, features: list[GuestFeature] | None = None, **values: Any) -> None:
        self.features = list(features or [])
        super().__init__(**values)

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        self.features = []
        for child in el:
            if isinstance(child.tag, str):
                feature = GuestFeature.from_element(child, ctx)
                feature.name = child.tag
                self.features.append(feature)
        return {c.tag for c in el if isinstance(c.tag, str)}

    def format_extra(self, w: Writer) -> None:
        for feature in self.features:
            feature.write(w)


class Guest(Model):
    TAG = "guest"
    os_type = TextChild(String)
    arch = Child(GuestArch)
    features = Child(GuestFeatures)

    def write(self, w: Writer, tag: str | None = None) -> None:
        features = self.features
        if features is not None and not features.features:
            self.features = None
        try:
            super().write(w, tag)
        finally:
            self.features = features
        w.parts.append("\n")


class PoolTypeValue(Model):
    TAG = "value"
    name = Text(String)


class PoolTypeEnum(Model):
    TAG = "enum"
    name = Attr(String)
    values = Children(PoolTypeValue)


class StoragePoolTypes(Model):
    """<pool><enum name='type'>...</enum></pool>: the storage pool types the host supports."""

    TAG = "pool"
    enum = Child(PoolTypeEnum)

    def write(self, w: Writer, tag: str | None = None) -> None:
        super().write(w, tag)
        w.parts.append("\n")


class Capabilities(Model):
    """The whole <capabilities> document: ``caps.host`` and ``caps.guests``."""

    TAG = "capabilities"
    host = Child(Host)
    guests = Children(Guest)
    pool = Child(StoragePoolTypes)

    def write(self, w: Writer, tag: str | None = None) -> None:
        # libvirt separates the top-level sections with blank lines
        w.start(self.TAG, [])
        mark = w.mark()
        w.parts[-1] += ">\n\n"
        for part in (self.host, *self.guests, self.pool):
            if part is not None:
                part.write(w)
        w.depth -= 1
        w.parts.append(f"{'  ' * w.depth}</{self.TAG}>\n")
        del mark

    def guest(self, os_type: str, arch: str) -> Guest | None:
        return next((g for g in self.guests if g.os_type == os_type and g.arch is not None
                     and g.arch.name == arch), None)
