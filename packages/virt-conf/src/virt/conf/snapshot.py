"""Domain snapshot XML (<domainsnapshot>): name, state, memory and disk locations, the embedded domain.

Parse options (``ParseContext.options``):

- ``flags``: '|'-separated virDomainSnapshotParseFlags names: REDEFINE (read creationTime, state,
  parent and the domain of an existing snapshot), INTERNAL (read <active>, print it back). Without
  ``flags``, a document carrying <creationTime> and <state> is taken as an existing snapshot (REDEFINE) and one
  carrying <active> as libvirt's own metadata file (INTERNAL).
- ``creation_time``: the clock of a new snapshot (seconds); it also names an unnamed one. Without
  it no time is invented, so normalizing is deterministic.
- ``domain_uuid``: the owning domain, printed as <domain><uuid> when no full domain is embedded.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree
from virt.conf.domain.devices.storage import StorageSource
from virt.conf.storage import ScaledSize
from virt.conf.xmlmodel import (
    UUID,
    Attr,
    Child,
    Children,
    Enum,
    Model,
    ParseContext,
    String,
    TextChild,
    Writer,
    where,
)
from virt.util.errors import ConfigUnsupportedError, InternalError, XMLError

SNAPSHOT_STATES = ("running", "blocked", "paused", "shutdown", "shutoff", "crashed", "pmsuspended",
                   "disk-snapshot")
LOCATIONS = ("no", "internal", "external", "manual")
STORAGE_TYPES = ("file", "block", "dir", "network", "volume", "nvme", "vhostuser", "vhostvdpa")
FILE_FORMATS = ("raw", "dir", "bochs", "cloop", "dmg", "iso", "vpc", "vdi", "fat", "vhd", "ploop",
                "cow", "qcow", "qcow2", "qed", "vmdk")


def parse_flags(ctx: ParseContext) -> set[str] | None:
    """The flag names given in options['flags'] (prefixes dropped), or None when none were given."""
    flags = ctx.options.get("flags")
    if flags is None or flags == "":
        return None
    if isinstance(flags, str):
        flags = flags.split("|")
    out = set()
    for flag in flags:
        name = str(flag).strip().upper()
        for prefix in ("VIR_DOMAIN_SNAPSHOT_PARSE_", "VIR_DOMAIN_CHECKPOINT_PARSE_", "TEST_"):
            name = name.removeprefix(prefix)
        if name:
            out.add(name)
    return out


def domain_model() -> Any:
    """virt.conf.domain.Domain once the domain format exists; None until then (kept verbatim)."""
    try:
        from virt.conf import domain as _domain
    except ImportError:
        return None
    return getattr(_domain, "Domain", None)


class EmbeddedDomain:
    """The <domain> (or <inactiveDomain>) saved inside a snapshot or checkpoint.

    Parsed with the domain format when it is available; otherwise the element is kept verbatim.
    """

    def __init__(self, element: etree._Element | None = None, model: Any = None) -> None:
        self.element = element
        self.model = model

    @classmethod
    def read(cls, el: etree._Element, ctx: ParseContext) -> EmbeddedDomain:
        domain_cls = domain_model()
        if domain_cls is not None:
            copy = etree.fromstring(etree.tostring(el))
            copy.tag = "domain"
            sub = ParseContext(strict=ctx.strict, inactive=True, hooks=ctx.hooks, options={})
            return cls(model=domain_cls.from_element(copy, sub))
        return cls(element=el)

    def write(self, w: Writer, tag: str) -> None:
        if self.model is not None:
            self.model.write(w, tag)
            return
        assert self.element is not None
        copy = etree.fromstring(etree.tostring(self.element))
        copy.tag = tag
        w.raw(copy)

    @property
    def uuid(self) -> str | None:
        if self.model is not None:
            return getattr(self.model, "uuid", None)
        assert self.element is not None
        text = self.element.findtext("uuid")
        return UUID.parse(text) if text else None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EmbeddedDomain):
            return NotImplemented
        if self.model is not None or other.model is not None:
            return bool(self.model == other.model)
        assert self.element is not None and other.element is not None
        return _canon(self.element) == _canon(other.element)


def _canon(el: etree._Element) -> bytes:
    copy = etree.fromstring(etree.tostring(el))
    for node in copy.iter():
        if node.text is not None and not node.text.strip():
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
    copy.tail = None
    return bytes(etree.tostring(copy, method="c14n"))


class ParentRef(Model):
    TAG = "parent"
    name = TextChild(String)


class Moment(Model):
    """What snapshots and checkpoints share: name, description, parent, creation time, domain."""

    #: Root element name of the saved domain copy.
    name = TextChild(String)
    description = TextChild(String)

    domain: EmbeddedDomain | None
    inactive_domain: EmbeddedDomain | None
    #: The owning domain's UUID, printed as <domain><uuid> when no full domain is kept.
    domain_uuid: str | None

    def __init__(self, **values: Any) -> None:
        self.domain = values.pop("domain", None)
        self.inactive_domain = values.pop("inactive_domain", None)
        self.domain_uuid = values.pop("domain_uuid", None)
        super().__init__(**values)

    def _redefine(self, el: etree._Element, ctx: ParseContext, auto: bool) -> set[str]:
        flags = parse_flags(ctx)
        if flags is None:
            flags = set()
            if auto and el.find("creationTime") is not None and (el.tag != "domainsnapshot" or
                                                                  el.find("state") is not None):
                flags.add("REDEFINE")
            if el.find("active") is not None:
                flags.add("INTERNAL")
        self._flags = flags
        return flags

    def read_domains(self, el: etree._Element, ctx: ParseContext, redefine: bool) -> None:
        self.domain = self.inactive_domain = None
        self.domain_uuid = None
        uuid_opt = ctx.options.get("domain_uuid")
        if uuid_opt:
            self.domain_uuid = UUID.parse(str(uuid_opt))
        if not redefine:
            return
        dom = el.find("domain")
        if dom is not None:
            if dom.get("type") is not None:
                self.domain = EmbeddedDomain.read(dom, ctx)
            elif self.domain_uuid is None and dom.findtext("uuid"):
                # an older snapshot saved only the domain's UUID
                try:
                    self.domain_uuid = UUID.parse(dom.findtext("uuid") or "")
                except ValueError:
                    raise XMLError(f"malformed uuid element{where(dom)}") from None
        inactive = el.find("inactiveDomain")
        if inactive is not None:
            self.inactive_domain = EmbeddedDomain.read(inactive, ctx)

    def apply_clock(self, ctx: ParseContext) -> None:
        """A new moment takes the creation time from the clock option and is named after it."""
        clock = ctx.options.get("creation_time")
        if clock in (None, "", 0, "0"):
            return
        try:
            seconds = int(clock)
        except (TypeError, ValueError):
            raise XMLError(f"invalid creation time '{clock}'") from None
        self.creation_time = seconds  # type: ignore[attr-defined]
        if not self.name:
            self.name = str(seconds)

    def write_domains(self, w: Writer) -> None:
        if self.domain is not None:
            self.domain.write(w, "domain")
        elif self.domain_uuid:
            w.start("domain", [])
            mark = w.mark()
            w.leaf("uuid", [], self.domain_uuid)
            w.end("domain", None, mark)
        if self.inactive_domain is not None:
            self.inactive_domain.write(w, "inactiveDomain")


class MetadataCache(Model):
    TAG = "metadata_cache"
    max_size = Child(ScaledSize, tag="max_size")


class SnapshotDriver(Model):
    TAG = "driver"
    type = Attr(String)
    metadata_cache = Child(MetadataCache)


class SnapshotDisk(Model):
    """One <disk> of a snapshot: where (and whether) its state is saved."""

    TAG = "disk"
    name = Attr(String)
    snapshot = Attr(Enum("default", *LOCATIONS, name="snapshot location"))
    type = Attr(Enum(*STORAGE_TYPES, name="storage type"))
    driver = Child(SnapshotDriver)
    source = Child(StorageSource)

    #: Format (driver type) and metadata cache size, typed.
    @property
    def format(self) -> str | None:  # type: ignore[override]
        return self.driver.type if self.driver is not None else None

    def post_parse(self, ctx: ParseContext) -> None:
        if self.name is None:
            raise InternalError("missing name from disk snapshot element")
        if self.snapshot == "default":
            raise XMLError("Invalid value for attribute 'snapshot' in element 'disk': 'default'.")
        if self.type is None:
            self.type = "file"
        if self.type in ("volume", "dir"):
            raise XMLError(f"unsupported disk snapshot type '{self.type}'")
        fmt = None
        cache = None
        if self.driver is not None:
            fmt = self.driver.type
            if fmt is not None and fmt not in FILE_FORMATS:
                raise ConfigUnsupportedError(f"unknown disk snapshot driver '{fmt}'")
            mc = self.driver.metadata_cache
            if mc is not None and mc.max_size is not None:
                cache = mc.max_size.value
        path = None
        if self.source is not None:
            path = self.source.file or self.source.dev or self.source.dir
            if self.type == "file" and path is not None and not path.startswith("/"):
                raise XMLError(f"disk snapshot image path '{path}' must be absolute")
            if self.source.no_values():
                self.source = None
            elif self.type in ("file", "block", "network"):
                # the same storage source as a disk's: what the type does not use is dropped
                self.source.finish(self.type)
        has_location = path is not None or fmt is not None or (self.source is not None and self.type == "network")
        if self.snapshot is None and has_location:
            self.snapshot = "external"
        if not has_location:
            # no new image: only the name and mode are kept
            self.type = None
            self.driver = None
            self.source = None
            return
        # libvirt prints <driver> only for a format or a cache size
        self.driver = SnapshotDriver(type=fmt) if fmt or cache else None
        if cache:
            assert self.driver is not None
            self.driver.metadata_cache = MetadataCache(max_size=ScaledSize.of(cache))


class SnapshotDisks(Model):
    TAG = "disks"
    disks = Children(SnapshotDisk)


class SnapshotMemory(Model):
    TAG = "memory"
    snapshot = Attr(Enum("default", *LOCATIONS, name="snapshot location"))
    file = Attr(String)


class DomainSnapshot(Moment):
    """A domain snapshot: ``snap.name``, ``snap.state``, ``snap.memory``, ``snap.disks``, ``snap.domain``."""

    TAG = "domainsnapshot"
    name = TextChild(String)
    description = TextChild(String)
    state = TextChild(String)
    parent = Child(ParentRef)
    creation_time = TextChild(String, tag="creationTime")
    memory = Child(SnapshotMemory)
    disks = Child(SnapshotDisks)
    active = TextChild(String)

    #: Live-only extra state (qemu's <cookie>), kept verbatim.
    cookie: etree._Element | None = None

    def parse_extra(self, el: etree._Element, ctx: ParseContext) -> set[str]:
        flags = self._redefine(el, ctx, auto=True)
        self.read_domains(el, ctx, "REDEFINE" in flags)
        cookie = el.find("cookie")
        self.cookie = cookie
        return {"domain", "inactiveDomain", "cookie"}

    def post_parse(self, ctx: ParseContext) -> None:
        flags = self._flags
        redefine = "REDEFINE" in flags
        offline = False
        if redefine:
            if not self.name:
                raise XMLError("a redefined snapshot must have a name")
            if self.creation_time is None or not re.fullmatch(r"\s*[+-]?\d+\s*", self.creation_time):
                raise InternalError("missing creationTime from existing snapshot")
            self.creation_time = str(int(self.creation_time))
            if self.state is None:
                raise XMLError("missing state from existing snapshot")
            if self.state not in SNAPSHOT_STATES:
                raise ConfigUnsupportedError(f"Invalid state '{self.state}' in domain snapshot XML")
            offline = self.state in ("shutoff", "disk-snapshot")
            if self.parent is not None and not self.parent.name:
                self.parent = None
        else:
            self.state = None
            self.parent = None
            self.creation_time = None
            self.apply_clock(ctx)
        if "RUNNING" in flags:
            self.state = "running"
        if self.description == "":
            self.description = None
        self._memory_defaults(redefine, offline)
        if self.disks is not None and not self.disks.disks:
            self.disks = None
        if "INTERNAL" in flags:
            text = (self.active or "").strip()
            if not re.fullmatch(r"[+-]?\d+", text):
                raise InternalError("Could not find 'active' element")
            self.active = "1" if int(text) != 0 else "0"
        else:
            self.active = None
        if offline:
            self.cookie = None

    def _memory_defaults(self, redefine: bool, offline: bool) -> None:
        mem = self.memory
        location = mem.snapshot if mem is not None else None
        path = mem.file if mem is not None else None
        if location == "default":
            raise XMLError("Invalid value for attribute 'snapshot' in element 'memory': 'default'.")
        if location == "manual":
            raise XMLError("'manual' memory snapshot mode not supported")
        if location is None:
            if path:
                location = "external"
            elif redefine:
                location = "no" if offline else "internal"
        if path and location != "external":
            raise XMLError(f"memory filename '{path}' requires external snapshot")
        if not path and location == "external":
            raise XMLError("external memory snapshots require a filename")
        if offline and location not in (None, "no"):
            raise XMLError("memory state cannot be saved with offline or disk-only snapshot")
        if path and not path.startswith("/"):
            raise XMLError(f"memory snapshot file path ({path}) must be absolute")
        self.memory = SnapshotMemory(snapshot=location, file=path) if location else None

    def format_extra(self, w: Writer) -> None:
        # the fields end with <disks>; the domain, cookie and <active> come after them
        pass

    def write(self, w: Writer, tag: str | None = None) -> None:
        active = self.active
        self.active = None
        w.start(tag or self.TAG, [])
        mark = w.mark()
        for f in self._fields:
            value = getattr(self, f.name)
            if value is None or value == []:
                continue
            if isinstance(f, TextChild):
                w.leaf(f.tag, [], f.vtype.format(value))  # type: ignore[arg-type]
            elif isinstance(f, Child):
                value.write(w, f._tag)
        self.write_domains(w)
        if self.cookie is not None:
            w.raw(self.cookie)
        if active is not None:
            w.leaf("active", [], active)
        self.active = active
        w.end(tag or self.TAG, None, mark)

    @property
    def is_current(self) -> bool:
        return self.active == "1"
