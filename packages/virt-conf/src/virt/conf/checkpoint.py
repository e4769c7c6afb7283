"""Domain checkpoint XML (<domaincheckpoint>): name, parent, creation time, per-disk bitmaps, the domain.

Parse options as for snapshots (see virt.conf.snapshot): ``flags`` (REDEFINE; without flags a
document with <creationTime> is an existing checkpoint), ``creation_time`` (the clock naming a new
checkpoint). ``format_size=True`` on the model (libvirt's SIZE format flag) prints disk sizes. The
flags TEST_PARENT, TEST_VDA_BITMAP and TEST_SIZE reproduce what libvirt's xml2xml test harness sets
after the parse (a fixed parent, the first disk's bitmap, a disk size), so its cases run from the
command line.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree
from virt.conf.snapshot import Moment, ParentRef
from virt.conf.xmlmodel import (
    Attr,
    Child,
    Children,
    Enum,
    Model,
    ParseContext,
    String,
    TextChild,
    ULong,
    Writer,
)
from virt.util.errors import InternalError, XMLError

#: What libvirt's schema accepts as a checkpoint name: usable as a file name.
NAME_RE = re.compile(r"[a-zA-Z0-9_\-][a-zA-Z0-9_\-.]*")
DISK_NAME_RE = re.compile(r"[a-zA-Z0-9_]+|/.*")
#: The parent name and disk size libvirt's checkpoint test harness sets (flags TEST_PARENT, TEST_SIZE).
TEST_PARENT_NAME = "1525111885"
TEST_DISK_SIZE = 1048576


class CheckpointDisk(Model):
    """<disk name='vda' checkpoint='bitmap|no' bitmap='c1' size='...'/>."""

    TAG = "disk"
    name = Attr(String)
    checkpoint = Attr(Enum("no", "bitmap", name="checkpoint type"))
    bitmap = Attr(String)
    #: Reported by the driver (VIR_DOMAIN_CHECKPOINT_XML_SIZE), never read back.
    size = Attr(ULong)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.name is None or not DISK_NAME_RE.fullmatch(self.name):
            raise XMLError(f"invalid or missing disk name '{self.name or ''}' in checkpoint <disk>")
        if self.checkpoint == "no" and (self.bitmap is not None or self.size is not None):
            raise XMLError(f"disk '{self.name}' with checkpoint='no' cannot have a bitmap or size")
        if self.checkpoint is None:
            self.checkpoint = "bitmap"
        self.size = None


class CheckpointDisks(Model):
    TAG = "disks"
    disks = Children(CheckpointDisk)


class DomainCheckpoint(Moment):
    """A checkpoint: ``chk.name``, ``chk.parent_name``, ``chk.disks.disks`` and the embedded domain."""

    TAG = "domaincheckpoint"
    name = TextChild(String)
    description = TextChild(String)
    parent = Child(ParentRef)
    creation_time = TextChild(String, tag="creationTime")
    disks = Child(CheckpointDisks)

    #: libvirt's VIR_DOMAIN_CHECKPOINT_XML_SIZE: print the sizes drivers filled in.
    format_size: bool = False

    def __init__(self, **values: Any) -> None:
        self.format_size = bool(values.pop("format_size", False))
        super().__init__(**values)

    @property
    def parent_name(self) -> str | None:
        return self.parent.name if self.parent is not None else None

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        flags = self._redefine(el, ctx, auto=True)
        self.format_size = False
        self.read_domains(el, ctx, "REDEFINE" in flags)
        self.domain_uuid = None  # a checkpoint prints only a full domain
        return {"domain"}

    def post_parse(self, ctx: ParseContext) -> None:
        redefine = "REDEFINE" in self._flags
        for name in (self.name, self.parent_name):
            if name is not None and not NAME_RE.fullmatch(name):
                raise XMLError(f"invalid checkpoint name '{name}': it must be usable as a file name")
        if redefine:
            if not self.name:
                raise XMLError("a redefined checkpoint must have a name")
            if self.creation_time is None or not re.fullmatch(r"\s*\d+\s*", self.creation_time):
                raise InternalError("missing creationTime from existing checkpoint")
            self.creation_time = str(int(self.creation_time))
        else:
            self.parent = None
            self.creation_time = None
            self.apply_clock(ctx)
        if self.disks is not None and not self.disks.disks:
            raise XMLError("element 'disks' of a checkpoint needs at least one <disk>")
        self.assign_bitmap_names()
        self._apply_test_settings()

    def _apply_test_settings(self) -> None:
        """What libvirt's checkpoint xml2xml harness does to the model after the parse (TEST_ flags).

        PARENT: the parent is named 1525111885; VDA_BITMAP: the first disk (a new 'vda' when there is
        none) records a bitmap named after the checkpoint; SIZE: that disk reports 1 MiB and sizes print.
        """
        flags = self._flags
        if "PARENT" in flags:
            self.parent = ParentRef(name=TEST_PARENT_NAME)
        if "VDA_BITMAP" in flags or "SIZE" in flags:
            if self.disks is None:
                self.disks = CheckpointDisks(disks=[CheckpointDisk(name="vda", checkpoint="bitmap")])
            first = self.disks.disks[0]
            if "VDA_BITMAP" in flags:
                first.bitmap = self.name
            if "SIZE" in flags:
                first.size = TEST_DISK_SIZE
                self.format_size = True

    def assign_bitmap_names(self) -> None:
        """Bitmap disks without a bitmap name take the checkpoint's name (libvirt does it on create)."""
        if not self.name or self.disks is None:
            return
        for disk in self.disks.disks:
            if disk.checkpoint == "bitmap" and disk.bitmap is None:
                disk.bitmap = self.name

    def write(self, w: Writer, tag: str | None = None) -> None:
        w.start(tag or self.TAG, [])
        mark = w.mark()
        for f in self._fields:
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(f, TextChild):
                w.leaf(f.tag, [], f.vtype.format(value))  # type: ignore[arg-type]
            elif f.name == "disks":
                w.start("disks", [])
                inner = w.mark()
                for disk in value.disks:
                    attrs = [("name", disk.name)]
                    if disk.checkpoint is not None:
                        attrs.append(("checkpoint", disk.checkpoint))
                    if disk.bitmap is not None:
                        attrs.append(("bitmap", disk.bitmap))
                        if self.format_size and disk.size is not None:
                            attrs.append(("size", str(disk.size)))
                    w.leaf("disk", attrs, None)
                w.end("disks", None, inner)
            elif isinstance(f, Child):
                value.write(w, f._tag)
        self.write_domains(w)
        w.end(tag or self.TAG, None, mark)
