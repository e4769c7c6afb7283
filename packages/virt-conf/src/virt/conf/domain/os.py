"""``<os>`` (type, firmware, loader, nvram, kernel, boot, bootmenu, smbios, container init), ``<idmap>``
and ``<sysinfo>``."""

from __future__ import annotations

import platform
import re

from virt.conf.domain.devices.storage import StorageSource
from virt.conf.domain.types import DecInt, UInt10, YesNo
from virt.conf.xmlmodel import (
    Attr,
    Child,
    Children,
    Enum,
    Model,
    ParseContext,
    String,
    Text,
    TextChild,
)
from virt.util.errors import ConfigUnsupportedError, XMLError

OS_TYPES = ("hvm", "xen", "linux", "exe", "uml", "xenpvh")
BOOT_DEVS = ("fd", "cdrom", "hd", "network")


def host_arch() -> str:
    m = platform.machine()
    return {"amd64": "x86_64", "arm64": "aarch64", "i386": "i686", "i586": "i686"}.get(m.lower(), m)


class OSType(Model):
    TAG = "type"
    arch = Attr(String)
    machine = Attr(String)
    name = Text(String)


class FirmwareFeature(Model):
    TAG = "feature"
    enabled = Attr(YesNo)
    name = Attr(Enum("enrolled-keys", "secure-boot", name="firmware feature name"))


class Firmware(Model):
    TAG = "firmware"
    features = Children(FirmwareFeature)

    def post_parse(self, ctx: ParseContext) -> None:
        seen = set()
        for f in self.features:
            if f.name is None or f.enabled is None:
                raise XMLError("firmware feature needs 'enabled' and 'name' attributes")
            if f.name in seen:
                raise XMLError(f"duplicate firmware feature '{f.name}'")
            seen.add(f.name)
        self.features.sort(key=lambda f: ("enrolled-keys", "secure-boot").index(f.name))


class InitEnv(Model):
    TAG = "initenv"
    name = Attr(String)
    value = Text(String)


class InitArg(Model):
    TAG = "initarg"
    value = Text(String)


class Loader(Model):
    TAG = "loader"
    readonly = Attr(YesNo)
    secure = Attr(YesNo)
    type = Attr(Enum("rom", "pflash", name="loader type"))
    format = Attr(Enum("raw", "qcow2", name="loader format"))
    stateless = Attr(YesNo)
    path = Text(String)

    def write(self, w, tag=None):  # type: ignore[no-untyped-def]
        # an empty <loader/> is still printed: libvirt formats it even without attributes
        super().write(w, tag)


class NVRAM(Model):
    TAG = "nvram"
    template = Attr(String)
    format = Attr(Enum("raw", "qcow2", name="nvram format"))
    type = Attr(Enum("file", "block", "network", name="nvram type"))
    source = Child(StorageSource)
    path = Text(String)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.type is not None:
            if self.source is None:
                raise XMLError("Missing source element for nvram")
            self.source.finish(self.type)
            self.path = None
        else:
            self.source = None


class SlicTable(Model):
    TAG = "table"
    type = Attr(Enum("slic", "msdm", name="acpi table type"))
    path = Text(String)


class OSAcpi(Model):
    TAG = "acpi"
    tables = Children(SlicTable)


class Boot(Model):
    TAG = "boot"
    dev = Attr(Enum(*BOOT_DEVS, name="boot device"))


class BootMenu(Model):
    TAG = "bootmenu"
    enable = Attr(YesNo)
    timeout = Attr(String)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.timeout is not None:
            if self.enable is not True:
                self.timeout = None
            else:
                try:
                    value = int(self.timeout, 0) if re.fullmatch(r"\s*(0x[0-9a-fA-F]+|\d+)\s*", self.timeout) \
                        else -1
                except ValueError:
                    value = -1
                if not 0 <= value <= 65535:
                    raise ConfigUnsupportedError("invalid value for boot menu timeout, must be in range [0,65535]")
                self.timeout = str(value)


class BIOS(Model):
    TAG = "bios"
    useserial = Attr(YesNo)
    rebootTimeout = Attr(DecInt(-2**31, 2**31 - 1))

    def post_parse(self, ctx: ParseContext) -> None:
        if self.rebootTimeout is not None and not -1 <= self.rebootTimeout <= 65535:
            raise XMLError("invalid value for rebootTimeout, must be in range [-1,65535]")


class SMBIOS(Model):
    TAG = "smbios"
    mode = Attr(Enum("emulate", "host", "sysinfo", name="smbios mode"))


class OS(Model):
    TAG = "os"
    firmware = Attr(Enum("bios", "efi", name="firmware"))
    type = Child(OSType)
    firmware_features = Child(Firmware)
    init = TextChild(String)
    initargs = Children(InitArg)
    initenvs = Children(InitEnv)
    initdir = TextChild(String)
    inituser = TextChild(String)
    initgroup = TextChild(String)
    loader = Child(Loader)
    nvram = Child(NVRAM)
    kernel = TextChild(String)
    initrd = TextChild(String)
    cmdline = TextChild(String)
    dtb = TextChild(String)
    acpi = Child(OSAcpi)
    boots = Children(Boot)
    bootmenu = Child(BootMenu)
    bios = Child(BIOS)
    smbios = Child(SMBIOS)

    def post_parse(self, ctx: ParseContext) -> None:
        t = self.type
        if t is not None and t.name is not None:
            t.name = t.name.strip()
            if t.name == "linux":
                t.name = "xen"
            if t.name not in OS_TYPES:
                raise XMLError(f"unknown OS type '{t.name}'", code=16)
        for b in self.boots:
            if b.dev is None:
                raise XMLError("missing boot device")
        del self.boots[4:]
        if self.os_type != "hvm":
            # firmware, loader, boot order and smbios are only read for HVM-like guests
            pass
        if self.os_type not in ("exe",):
            self.init = None
            self.initargs = []
            self.initenvs = []
            self.initdir = self.inituser = self.initgroup = None
        for e in self.initenvs:
            if not e.name or not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", e.name):
                raise XMLError(f"invalid environment variable name '{e.name or ''}'")
        if self.acpi is not None:
            for tab in self.acpi.tables:
                if tab.type is None:
                    raise XMLError("Missing acpi table type")

    @property
    def os_type(self) -> str | None:
        return self.type.name if self.type is not None else None

    @property
    def arch(self) -> str | None:
        return self.type.arch if self.type is not None else None

    @property
    def machine(self) -> str | None:
        return self.type.machine if self.type is not None else None


# ----------------------------------------------------------------------------- idmap

class IdMapEntry(Model):
    start = Attr(UInt10)
    target = Attr(UInt10)
    count = Attr(UInt10)


class UidMap(IdMapEntry):
    TAG = "uid"


class GidMap(IdMapEntry):
    TAG = "gid"


class IdMap(Model):
    TAG = "idmap"
    uids = Children(UidMap)
    gids = Children(GidMap)

    def post_parse(self, ctx: ParseContext) -> None:
        for entries in (self.uids, self.gids):
            for e in entries:
                if e.start is None or e.target is None or e.count is None:
                    raise XMLError("invalid idmap start/target/count settings")
            entries.sort(key=lambda e: e.start)
        if self.uids and self.uids[0].start != 0 or self.gids and self.gids[0].start != 0:
            raise XMLError("You must map the root user of container")


# ----------------------------------------------------------------------------- sysinfo

SMBIOS_ENTRIES = {
    "bios": ("vendor", "version", "date", "release"),
    "system": ("manufacturer", "product", "version", "serial", "uuid", "sku", "family"),
    "baseBoard": ("manufacturer", "product", "version", "serial", "asset", "location"),
    "chassis": ("manufacturer", "version", "serial", "asset", "sku"),
}


class Entry(Model):
    TAG = "entry"
    name = Attr(String)
    file = Attr(String)
    value = Text(String)


class _Block(Model):
    entries = Children(Entry)
    ORDER: tuple[str, ...] = ()

    def post_parse(self, ctx: ParseContext) -> None:
        seen: dict[str, Entry] = {}
        for e in self.entries:
            if e.name in self.ORDER and e.name not in seen and e.value:
                seen[e.name] = e
        self.entries = [seen[n] for n in self.ORDER if n in seen]


class SysBIOS(_Block):
    TAG = "bios"
    ORDER = SMBIOS_ENTRIES["bios"]

    def post_parse(self, ctx: ParseContext) -> None:
        super().post_parse(ctx)
        for e in self.entries:
            if e.name == "date":
                m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})", e.value or "")
                if not m or not (1 <= int(m.group(1)) <= 12 and 1 <= int(m.group(2)) <= 31):
                    raise XMLError(f"Invalid BIOS 'date' format: {e.value}")


class SysSystem(_Block):
    TAG = "system"
    ORDER = SMBIOS_ENTRIES["system"]


class SysBaseBoard(_Block):
    TAG = "baseBoard"
    ORDER = SMBIOS_ENTRIES["baseBoard"]


class SysChassis(_Block):
    TAG = "chassis"
    ORDER = SMBIOS_ENTRIES["chassis"]


class OEMStrings(Model):
    TAG = "oemStrings"
    entries = Children(Entry)


class Sysinfo(Model):
    TAG = "sysinfo"
    type = Attr(Enum("smbios", "fwcfg", name="sysinfo type"))
    bios = Child(SysBIOS)
    system = Child(SysSystem)
    baseBoards = Children(SysBaseBoard)
    chassis = Child(SysChassis)
    oemStrings = Child(OEMStrings)
    entries = Children(Entry)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.type is None:
            raise XMLError("sysinfo must contain a type attribute")
        if self.type == "smbios":
            self.entries = []
            for blk in ("bios", "system", "chassis"):
                b = getattr(self, blk)
                if b is not None and not b.entries:
                    setattr(self, blk, None)
            self.baseBoards = [b for b in self.baseBoards if b.entries]
        else:
            self.bios = self.system = self.chassis = self.oemStrings = None
            self.baseBoards = []
            for e in self.entries:
                if not e.name:
                    raise XMLError("Firmware entry is missing 'name' attribute")
                if e.value and e.file:
                    raise XMLError("Only one of 'file' or value can be specified")

    def system_uuid(self) -> str | None:
        if self.system is None:
            return None
        for e in self.system.entries:
            if e.name == "uuid":
                return e.value
        return None
