"""Memory sizes, ``<memoryBacking>``, ``<memtune>``, ``<blkiotune>``, ``<numatune>`` and ``<resource>``."""

from __future__ import annotations

from virt.conf.domain.types import (
    Bitmap,
    KiBSize,
    OnOff,
    UInt10,
    ULong10,
    scaled_kib,
)
from virt.conf.xmlmodel import (
    Attr,
    Child,
    Children,
    Enum,
    Flag,
    Model,
    ParseContext,
    String,
    TextChild,
)
from virt.util.errors import ErrorNumber, VirtError, XMLError


def xml_detail(message: str) -> VirtError:
    """libvirt's VIR_ERR_XML_DETAIL: the message alone, no prefix."""
    return VirtError(code=ErrorNumber.XML_DETAIL, message=message)


class MaxMemory(KiBSize):
    TAG = "maxMemory"
    slots = Attr(UInt10)
    # slots is printed before unit: redeclare unit and value after it
    unit = KiBSize.field("unit")
    value = KiBSize.field("value")


class Memory(KiBSize):
    TAG = "memory"
    dumpCore = Attr(OnOff)
    unit = KiBSize.field("unit")
    value = KiBSize.field("value")


class CurrentMemory(KiBSize):
    TAG = "currentMemory"


# ----------------------------------------------------------------------------- memoryBacking

class Page(Model):
    TAG = "page"
    size = Attr(ULong10)
    unit = Attr(String)
    nodeset = Attr(Bitmap)


class Hugepages(Model):
    TAG = "hugepages"
    pages = Children(Page)


class BackingSource(Model):
    TAG = "source"
    type = Attr(Enum("file", "anonymous", "memfd", name="memoryBacking source type"))


class BackingAccess(Model):
    TAG = "access"
    mode = Attr(Enum("shared", "private", name="memoryBacking access mode"))


class Allocation(Model):
    TAG = "allocation"
    mode = Attr(Enum("immediate", "ondemand", name="memoryBacking allocation mode"))
    threads = Attr(UInt10)


class MemoryBacking(Model):
    TAG = "memoryBacking"
    hugepages = Child(Hugepages)
    nosharepages = Flag()
    locked = Flag()
    source = Child(BackingSource)
    access = Child(BackingAccess)
    allocation = Child(Allocation)
    discard = Flag()

    def parse_extra(self, el, ctx):  # type: ignore[no-untyped-def]
        # page sizes are scaled values: read them here, the engine keeps the rest
        self._page_kib = [scaled_kib(p, "size") for p in el.iterfind("hugepages/page")]
        return set()

    def post_parse(self, ctx: ParseContext) -> None:
        if self.hugepages is not None:
            pages = self.hugepages.pages
            sizes = getattr(self, "_page_kib", [])
            for page, kib in zip(pages, sizes, strict=False):
                if kib is None:
                    raise XMLError("hugepage size can't be zero" if page.size == 0 else "missing hugepage size")
                if kib == 0:
                    raise XMLError("hugepage size can't be zero")
                page.size, page.unit = kib, "KiB"
            for i, page in enumerate(pages):
                for other in pages[:i]:
                    if page.nodeset and other.nodeset and set(page.nodeset) & set(other.nodeset):
                        raise xml_detail(f"nodeset attribute of hugepages of sizes {other.size} and {page.size} "
                                         "intersect")
                    if not page.nodeset and not other.nodeset:
                        raise xml_detail(f"two master hugepages detected: {other.size} and {page.size}")
        self.__dict__.pop("_page_kib", None)

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) in (None, False) for f in self._fields)


# ----------------------------------------------------------------------------- memtune, blkiotune

class _Limit(KiBSize):
    pass


def _limit(tag: str) -> type[_Limit]:
    return type(f"Limit_{tag}", (_Limit,), {"TAG": tag})


HardLimit = _limit("hard_limit")
SoftLimit = _limit("soft_limit")
MinGuarantee = _limit("min_guarantee")
SwapHardLimit = _limit("swap_hard_limit")

UNLIMITED_KIB = 9007199254740991


class MemTune(Model):
    TAG = "memtune"
    hard_limit = Child(HardLimit)
    soft_limit = Child(SoftLimit)
    min_guarantee = Child(MinGuarantee)
    swap_hard_limit = Child(SwapHardLimit)

    def post_parse(self, ctx: ParseContext) -> None:
        for name in ("hard_limit", "soft_limit", "min_guarantee", "swap_hard_limit"):
            lim = getattr(self, name)
            if lim is not None and lim.value is not None and lim.value >= UNLIMITED_KIB:
                setattr(self, name, None)
        if (self.hard_limit and self.swap_hard_limit and self.swap_hard_limit.value < self.hard_limit.value):
            raise XMLError("swap_hard_limit cannot be less than hard_limit")

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in self._fields)


class BlkioDevice(Model):
    TAG = "device"
    path = TextChild(String)
    weight = TextChild(UInt10)
    read_iops_sec = TextChild(UInt10)
    write_iops_sec = TextChild(UInt10)
    read_bytes_sec = TextChild(ULong10)
    write_bytes_sec = TextChild(ULong10)

    def post_parse(self, ctx: ParseContext) -> None:
        if not self.path:
            raise XMLError("missing per-device path")
        for n in ("weight", "read_iops_sec", "write_iops_sec", "read_bytes_sec", "write_bytes_sec"):
            if getattr(self, n) == 0:
                setattr(self, n, None)


class BlkioTune(Model):
    TAG = "blkiotune"
    weight = TextChild(UInt10)
    devices = Children(BlkioDevice)

    def post_parse(self, ctx: ParseContext) -> None:
        paths = [d.path for d in self.devices]
        for i, p in enumerate(paths):
            if p in paths[:i]:
                raise XMLError(f"duplicate blkio device path '{p}'")
        if self.weight == 0:
            self.weight = None

    def is_empty(self) -> bool:
        return self.weight is None and not self.devices


# ----------------------------------------------------------------------------- numatune

class NumaMemory(Model):
    TAG = "memory"
    mode = Attr(Enum("strict", "preferred", "interleave", "restrictive", name="numatune memory mode"))
    nodeset = Attr(Bitmap)
    placement = Attr(Enum("static", "auto", name="numatune memory placement"))


class MemNode(Model):
    TAG = "memnode"
    cellid = Attr(UInt10)
    mode = Attr(Enum("strict", "preferred", "interleave", "restrictive", name="numatune memnode mode"))
    nodeset = Attr(Bitmap)


class NumaTune(Model):
    TAG = "numatune"

    def write(self, w, tag=None):  # type: ignore[no-untyped-def]
        w.start("numatune", [])
        mark = w.mark()
        m = self.memory
        if m is not None:
            attrs = [("mode", m.mode or "strict")]
            if m.placement == "static" or (m.placement is None and m.nodeset is not None):
                attrs.append(("nodeset", Bitmap.format(m.nodeset)))
            elif m.placement is not None:
                attrs.append(("placement", m.placement))
            w.leaf("memory", attrs, None)
        for n in self.memnodes:
            n.write(w)
        w.end("numatune", None, mark)

    memory = Child(NumaMemory)
    memnodes = Children(MemNode)

    def post_parse(self, ctx: ParseContext) -> None:
        m = self.memory
        if m is not None:
            if m.placement == "auto":
                m.nodeset = None
            if m.mode is None:
                m.mode = "strict"
        seen: set[int] = set()
        for n in self.memnodes:
            if n.cellid is None:
                raise XMLError("Missing required cellid attribute in memnode element")
            if n.cellid in seen:
                raise XMLError(f"Multiple memnode elements with cellid {n.cellid}")
            seen.add(n.cellid)
            if n.nodeset is None:
                raise XMLError("Missing required nodeset attribute in memnode element")
            if n.mode is None:
                n.mode = "strict"
        self.memnodes.sort(key=lambda n: n.cellid)

    def is_empty(self) -> bool:
        return self.memory is None and not self.memnodes

    def settle_placement(self, vcpu_auto: bool) -> None:
        """A memory placement left out follows the vCPU placement (libvirt's virDomainNumatuneSet)."""
        m = self.memory
        if m is None:
            return
        if m.placement is None:
            m.placement = "static" if m.nodeset is not None or not vcpu_auto else "auto"
        if m.placement == "static" and m.nodeset is None:
            raise XMLError("nodeset for NUMA memory tuning must be set if 'placement' is 'static'")


# ----------------------------------------------------------------------------- resource

class FibreChannel(Model):
    TAG = "fibrechannel"
    appid = Attr(String)


class Resource(Model):
    TAG = "resource"
    partition = TextChild(String)
    fibrechannel = Child(FibreChannel)

    def is_empty(self) -> bool:
        return self.partition is None and self.fibrechannel is None

    def post_parse(self, ctx: ParseContext) -> None:
        if self.partition is not None and not self.partition.startswith("/"):
            raise XMLError(f"resource partition '{self.partition}' must start with '/'")
        if self.fibrechannel is not None:
            appid = self.fibrechannel.appid or ""
            if not 1 <= len(appid) <= 128 or not appid.isprintable():
                raise XMLError(f"Wrong format for appid value '{appid}'")
