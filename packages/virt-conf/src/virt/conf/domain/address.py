"""Device addresses (pci, drive, usb, ccw, ...) as one family of models, and the other device-info elements."""

from __future__ import annotations

import builtins
import functools
import re
from typing import Any, ClassVar

from lxml import etree
from virt.conf.domain.types import (
    DecInt,
    HexOut,
    OnOff,
    UInt0,
    UInt10,
    YesNo,
)
from virt.conf.xmlmodel import Attr, Child, Memo, Model, ParseContext, String, Writer, parser_for, where
from virt.util.errors import XMLError

ADDRESS_TYPES = ("none", "pci", "drive", "virtio-serial", "ccid", "usb", "spapr-vio", "virtio-s390", "ccw",
                 "virtio-mmio", "isa", "dimm", "unassigned")


class Address(Model):
    """``<address type=...>``: parsing ``Address`` picks the subclass named by ``type``."""

    TAG = "address"
    type = Attr(String)
    KIND: ClassVar[str] = ""
    by_type: ClassVar[dict[str, builtins.type[Address]]] = {}
    PARSE_BY_ATTR: ClassVar[tuple[str, dict[str, Any]]]

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.KIND:
            Address.by_type[cls.KIND] = cls
            _PARSE_BY_TYPE.pop(cls.KIND, None)

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        if self.type is None:
            self.type = self.KIND

    @classmethod
    def from_element(cls, el: etree._Element, ctx: ParseContext | None = None) -> Any:  # type: ignore[override]
        if cls is Address:
            kind = el.get("type")
            parse = _PARSE_BY_TYPE.get(kind)  # type: ignore[arg-type]
            if parse is None:
                if kind is None:
                    raise XMLError(f"No type specified for device address{where(el)}")
                sub = Address.by_type.get(kind)
                if sub is None:
                    raise XMLError(f"unknown address type '{kind}'{where(el)}")
                # (no address kind overrides from_element: its own fields are read directly)
                parse = _PARSE_BY_TYPE[kind] = parser_for(sub)
            return parse(el, ctx if ctx is not None else ParseContext())
        return parser_for(cls)(el, ctx if ctx is not None else ParseContext())

    def is_empty(self) -> bool:
        return False


#: Address type -> the engine's parser of its class (filled on first use; Address.by_type may grow).
_PARSE_BY_TYPE: dict[str, Any] = {}
#: (what the native engine reads: from_element picks the parser by this attribute, from this table)
Address.PARSE_BY_ATTR = ("type", _PARSE_BY_TYPE)


class ZPCI(Model):
    TAG = "zpci"
    uid = Attr(HexOut(4, max=0xFFFF))
    fid = Attr(HexOut(8, max=0xFFFFFFFF))


# PCI numbers as printed, remembered (every document has a handful of the same ones)
_HEX1 = Memo("0x{:x}".format)
_HEX2 = Memo("0x{:02x}".format)
_HEX4 = Memo("0x{:04x}".format)


def _pci_attrs(numbers: tuple[int | None, int | None, int | None, int | None]) -> str:
    """The attributes of a PCI address as printed (none of the numbers when all are zero: to be assigned)."""
    domain, bus, slot, function = numbers
    if domain or bus or slot or function:
        return (f" type='pci' domain='{_HEX4[domain or 0]}' bus='{_HEX2[bus or 0]}'"
                f" slot='{_HEX2[slot or 0]}' function='{_HEX1[function or 0]}'")
    return " type='pci'"


#: (domain, bus, slot, function) -> their attributes: a document's addresses are a handful of slots.
_PCI_ATTRS = Memo(_pci_attrs)


class PCIAddress(Address):
    """domain:bus:slot.function; an all-zero address is printed without numbers (still to be assigned)."""

    KIND = "pci"
    domain = Attr(HexOut(4, max=0xFFFFFFFF))  # any 32-bit domain (VMD and other large ones)
    bus = Attr(HexOut(2))
    slot = Attr(HexOut(2))
    function = Attr(HexOut(1))
    multifunction = Attr(OnOff)
    zpci = Child(ZPCI)

    def post_parse(self, ctx: ParseContext) -> None:
        d = self.__dict__
        if d["domain"] is None:
            d["domain"] = 0
        if d["bus"] is None:
            d["bus"] = 0
        if d["slot"] is None:
            d["slot"] = 0
        if d["function"] is None:
            d["function"] = 0

    def validate(self, ctx: ParseContext) -> None:
        d = self.__dict__
        if d["bus"] <= 0xFF and d["slot"] <= 0x1F and d["function"] <= 7:
            return
        if self.bus > 0xFF:
            raise XMLError(f"Invalid PCI address bus='0x{self.bus:x}', must be <= 0xFF")
        if self.slot > 0x1F:
            raise XMLError(f"Invalid PCI address slot='0x{self.slot:x}', must be <= 0x1F")
        if self.function > 7:
            raise XMLError(f"Invalid PCI address function=0x{self.function:x}, must be <= 7")

    def is_empty(self) -> bool:
        return not (self.domain or self.bus or self.slot or self.function)

    def write(self, w: Writer, tag: str | None = None) -> None:
        d = self.__dict__
        attrs = _PCI_ATTRS[(d["domain"], d["bus"], d["slot"], d["function"])]
        if d["multifunction"] is not None:
            attrs += " multifunction='on'" if d["multifunction"] else " multifunction='off'"
        indent = "  " * w.depth
        if d["zpci"] is not None:
            w.parts.append(f"{indent}<address{attrs}>\n")
            w.depth += 1
            d["zpci"].write(w)
            w.depth -= 1
            w.parts.append(f"{indent}</address>\n")
        else:
            w.parts.append(f"{indent}<address{attrs}/>\n")

    def __str__(self) -> str:
        return f"{self.domain or 0:04x}:{self.bus or 0:02x}:{self.slot or 0:02x}.{self.function or 0:x}"


class DriveAddress(Address):
    KIND = "drive"
    controller = Attr(UInt10)
    bus = Attr(UInt10)
    target = Attr(UInt10)
    unit = Attr(UInt10)

    def post_parse(self, ctx: ParseContext) -> None:
        d = self.__dict__
        for name in ("controller", "bus", "target", "unit"):
            if d[name] is None:
                d[name] = 0


class VirtioSerialAddress(Address):
    KIND = "virtio-serial"
    controller = Attr(UInt10)
    bus = Attr(UInt10)
    port = Attr(UInt10)

    def post_parse(self, ctx: ParseContext) -> None:
        self.controller = self.controller or 0
        self.bus = self.bus or 0
        if self.port == 0:
            self.port = None


class CCIDAddress(Address):
    KIND = "ccid"
    controller = Attr(UInt10)
    slot = Attr(UInt10)

    def post_parse(self, ctx: ParseContext) -> None:
        self.controller = self.controller or 0
        self.slot = self.slot or 0


_USB_PORT = re.compile(r"\d+(\.\d+){0,3}")


class USBPort(DecInt):
    name = "USB port"

    def parse(self, text: str) -> Any:
        if not _USB_PORT.fullmatch(text):
            raise ValueError(text)
        return ".".join(str(int(p)) for p in text.split("."))

    def format(self, value: Any) -> str:
        return str(value)


class USBAddress(Address):
    KIND = "usb"
    bus = Attr(UInt10)
    port = Attr(USBPort())

    def post_parse(self, ctx: ParseContext) -> None:
        self.bus = self.bus or 0
        if self.port == "0":
            self.port = None


class _Hex16(HexOut):
    """spapr-vio reg: hexadecimal with or without 0x (strtoull base 16)."""

    def parse(self, text: str) -> int:
        s = text.strip()
        value = int(s[2:] if s[:2].lower() == "0x" else s, 16)
        if value < 0 or (self.max is not None and value > self.max):
            raise ValueError(text)
        return value


class SpaprVioAddress(Address):
    KIND = "spapr-vio"
    reg = Attr(_Hex16(8, max=2**64 - 1))

    def post_parse(self, ctx: ParseContext) -> None:
        pass




class CCWAddress(Address):
    KIND = "ccw"
    cssid = Attr(HexOut(0))
    ssid = Attr(HexOut(0))
    devno = Attr(HexOut(4))

    def validate(self, ctx: ParseContext) -> None:
        given = [v is not None for v in (self.cssid, self.ssid, self.devno)]
        if any(given) and not all(given):
            raise XMLError("Invalid partial specification for virtio ccw address")
        if all(given) and (self.cssid > 0xFE or self.ssid > 3 or self.devno > 0xFFFF):
            raise XMLError(f"Invalid specification for virtio ccw address: cssid='0x{self.cssid:x}' "
                           f"ssid='0x{self.ssid:x}' devno='0x{self.devno:04x}'")

    def is_empty(self) -> bool:
        return self.devno is None


class VirtioMMIOAddress(Address):
    KIND = "virtio-mmio"


class VirtioS390Address(Address):
    KIND = "virtio-s390"


class UnassignedAddress(Address):
    KIND = "unassigned"


class NoneAddress(Address):
    KIND = "none"


class ISAAddress(Address):
    KIND = "isa"
    iobase = Attr(HexOut(0))
    irq = Attr(HexOut(0))

    def post_parse(self, ctx: ParseContext) -> None:
        if self.iobase == 0:
            self.iobase = None
        if self.irq == 0:
            self.irq = None


class _BaseHex(HexOut):
    def parse(self, text: str) -> int:
        s = text.strip()
        return int(s[2:] if s[:2].lower() == "0x" else s, 16)


class DIMMAddress(Address):
    KIND = "dimm"
    slot = Attr(UInt10)
    base = Attr(_BaseHex(0))

    def post_parse(self, ctx: ParseContext) -> None:
        self.slot = self.slot or 0
        if self.base == 0:
            self.base = None


# ----------------------------------------------------------------------------- other device info

class Alias(Model):
    TAG = "alias"
    name = Attr(String)


class Boot(Model):
    TAG = "boot"
    order = Attr(UInt0)
    loadparm = Attr(String)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.order is None or self.order == 0:
            raise XMLError(f"incorrect boot order '{self.order}', expecting positive integer")
        if self.loadparm is not None:
            if not 1 <= len(self.loadparm) <= 8 or not re.fullmatch(r"[A-Za-z0-9. ]+", self.loadparm):
                raise XMLError(f"invalid loadparm value '{self.loadparm}', expecting 1-8 characters "
                               "containing only letters, digits, '.' and ' '")
            self.loadparm = self.loadparm.upper()


class Master(Model):
    TAG = "master"
    startport = Attr(UInt10)


class ACPI(Model):
    TAG = "acpi"
    index = Attr(UInt10)


class ROM(Model):
    TAG = "rom"
    enabled = Attr(YesNo)
    bar = Attr(OnOff)
    file = Attr(String)


USER_ALIAS = re.compile(r"ua-[a-zA-Z0-9_-]+")


@functools.lru_cache(maxsize=4096)
def is_user_alias(name: str | None) -> bool:
    # asked for every device several times a parse and format: the same few names again and again
    return name is not None and USER_ALIAS.fullmatch(name) is not None
