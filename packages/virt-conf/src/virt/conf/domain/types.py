"""Value types shared by the domain format: bitmaps, base-0 integers, scaled sizes and their units."""

from __future__ import annotations

import re
from typing import Any

from lxml import etree
from virt.conf.xmlmodel import Attr, Bool, Enum, Int, Memo, Model, Text, ValueType, where
from virt.util.errors import XMLError

# libvirt's virTristateBool / virTristateSwitch, spelled once for every format module.
YesNo = Bool("yes", "no")
OnOff = Bool("on", "off")


_BASE0 = re.compile(r"\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)\s*")
_BASE10 = re.compile(r"\s*([+-]?)([0-9]+)\s*")


class BaseInt(Int):
    """An integer read the way strtol(base 0) does: 0x.. hex, 0.. octal, otherwise decimal."""

    def parse(self, text: str) -> int:
        # fast paths for the common spellings: 0x1f and 42
        if text.isascii():
            if text[:2] in ("0x", "0X") and text[2:].isalnum():
                value = int(text, 16)
                if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
                    raise ValueError(text)
                return value
            if text.isdigit() and (text[0] != "0" or len(text) == 1):
                value = int(text)
                if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
                    raise ValueError(text)
                return value
        m = _BASE0.fullmatch(text)
        if not m:
            raise ValueError(text)
        body = m.group(2)
        if body[:2] in ("0x", "0X"):
            value = int(body, 16)
        elif len(body) > 1 and body[0] == "0":
            value = int(body[1:], 8)
        else:
            value = int(body, 10)
        if m.group(1) == "-":
            value = -value
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise ValueError(text)
        return value


class HexOut(BaseInt):
    """A base-0 integer printed as ``0x`` and ``width`` hex digits (PCI, CCW, ISA addresses)."""

    def __init__(self, width: int = 0, min: int | None = 0, max: int | None = None) -> None:
        super().__init__(min=min, max=max)
        self.fmt = f"0x{{:0{width}x}}" if width else "0x{:x}"

    def format(self, value: int) -> str:
        return self.fmt.format(value)


class DecInt(Int):
    """A strictly decimal integer (libvirt's base-10 virXMLPropUInt)."""

    def __init__(self, min: int | None = 0, max: int | None = None) -> None:
        super().__init__(min=min, max=max, hex_ok=False)

    def parse(self, text: str) -> int:
        if text.isascii() and text.isdigit():
            value = int(text)
            if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
                raise ValueError(text)
            return value
        m = _BASE10.fullmatch(text)
        if not m:
            raise ValueError(text)
        value = int(m.group(2))
        if m.group(1) == "-":
            value = -value
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise ValueError(text)
        return value


UInt10 = DecInt(0, 2**32 - 1)
ULong10 = DecInt(0, 2**64 - 1)
UInt0 = BaseInt(min=0, max=2**32 - 1)
ULong0 = BaseInt(min=0, max=2**64 - 1)
PositiveInt = DecInt(1, 2**32 - 1)


class BitmapType(ValueType[tuple[int, ...]]):
    """A set of numbers written as ranges: ``0-3,^2,8`` is read as (0, 1, 3, 8) and printed ``0-1,3,8``."""

    name = "bitmap"
    pure = True
    _token = re.compile(r"\s*(\^?)\s*(\d+)\s*(?:-\s*(\d+)\s*)?")

    def __init__(self, maxlen: int = 1 << 20, empty_ok: bool = False) -> None:
        self.maxlen, self.empty_ok = maxlen, empty_ok

    def parse(self, text: str) -> tuple[int, ...]:
        if not text.strip():
            if self.empty_ok:
                return ()
            raise ValueError(text)
        include: set[int] = set()
        exclude: set[int] = set()
        for part in text.split(","):
            m = self._token.fullmatch(part)
            if not m:
                raise ValueError(text)
            neg, lo, hi = m.group(1), int(m.group(2)), m.group(3)
            if neg:
                if hi is not None:
                    raise ValueError(text)
                exclude.add(lo)
                continue
            top = int(hi) if hi is not None else lo
            if top < lo or top >= self.maxlen:
                raise ValueError(text)
            include.update(range(lo, top + 1))
        result = tuple(sorted(include - exclude))
        if not result and not self.empty_ok:
            raise ValueError(text)
        return result

    def format(self, value: tuple[int, ...]) -> str:
        if value.__class__ is tuple:  # (what parse returns; drivers may set lists or sets)
            return _BITMAP_TEXTS[value]
        return format_bitmap(value)

    def error(self, text: str) -> str:
        return f"Failed to parse bitmap '{text}'"


def format_bitmap(value: tuple[int, ...] | list[int] | set[int]) -> str:
    """Ranges of consecutive numbers, as libvirt's virBitmapFormat prints them."""
    items = sorted(value)
    parts: list[str] = []
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1] == items[j] + 1:
            j += 1
        parts.append(str(items[i]) if i == j else f"{items[i]}-{items[j]}")
        i = j + 1
    return ",".join(parts)


#: Bitmaps printed before, by their numbers: every document prints the same few cpusets and nodesets.
_BITMAP_TEXTS = Memo(format_bitmap)
Bitmap = BitmapType()
CPUSet = BitmapType(maxlen=16384)


# ----------------------------------------------------------------------------- scaled sizes

def unit_scale(unit: str | None, default: int) -> int:
    """Bytes in one ``unit`` (libvirt's virScaleInteger): b, KiB/k (1024), KB (1000), ... up to EiB/EB."""
    if not unit:
        return default
    # (every size of a document passes here, with the same few units: their scales are remembered)
    return _UNIT_SCALES[unit]


def _unit_scale(unit: str) -> int:
    low = unit.lower()
    if low in ("b", "byte", "bytes"):
        return 1
    if len(unit) == 1 or low[1:] == "ib":
        base = 1024
    elif low[1:] == "b":
        base = 1000
    else:
        raise XMLError(f"invalid argument: unknown suffix '{unit}'", code=8)
    power = "kmgtpe".find(low[0]) + 1
    if power == 0:
        raise XMLError(f"invalid argument: unknown suffix '{unit}'", code=8)
    return base ** power


def scale_value(value: int, unit: str | None, default: int = 1024, limit: int = 2**64 - 1) -> int:
    """``value`` ``unit``\\ s in bytes, bounded by ``limit`` as libvirt bounds it."""
    scale = unit_scale(unit, default)
    if value and value > limit // scale:
        raise XMLError(f"value too large: {value}{unit or ''}", code=84)
    return value * scale


def pretty_size(nbytes: int) -> tuple[int, str]:
    """The largest binary unit that expresses a byte count exactly (libvirt's virFormatIntPretty)."""
    units = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    i = 0
    while nbytes and nbytes % 1024 == 0 and i < len(units) - 1:
        nbytes //= 1024
        i += 1
    return nbytes, units[i]


class Unit(ValueType[str]):
    """A unit suffix, checked when read and kept as written."""

    name = "unit"

    def parse(self, text: str) -> str:
        unit_scale(text, 1)
        return text


UnitType = Unit()

#: VIR_DOMAIN_MEMORY_PARAM_UNLIMITED: the largest memory size libvirt stores, in KiB.
MEMORY_UNLIMITED = 9007199254740991


class KiBSize(Model):
    """An element holding a memory size with a unit, kept in KiB and printed ``unit='KiB'``.

    Subclasses set TAG and may add attributes before ``unit``; ``value`` is the size in KiB.
    """

    unit = Attr(UnitType)
    value = Text(ULong0)
    #: Bytes in one unit when the element gives none.
    DEFAULT_SCALE: Any = 1024
    OUT_UNIT = "KiB"

    def post_parse(self, ctx: Any) -> None:
        if self.value is None:
            return
        if self.unit != self.OUT_UNIT or self.DEFAULT_SCALE != 1024:
            nbytes = scale_value(self.value, self.unit, self.DEFAULT_SCALE, MEMORY_UNLIMITED << 10)
            self.value = -(-nbytes // 1024)
        self.unit = self.OUT_UNIT

    @property
    def kib(self) -> int:
        return self.value or 0


def scaled_kib(el: etree._Element, value_attr: str, unit_attr: str = "unit", default: int = 1024) -> int | None:
    """A size given as two attributes (``memory='1' unit='GiB'``) in KiB, rounded up; None if absent."""
    text = el.get(value_attr)
    if text is None:
        return None
    unit = el.get(unit_attr)
    # (the same few sizes recur, NUMA cells above all: results are remembered, errors are not)
    key = (text, unit, default)
    kib = _SCALED_KIB.get(key)
    if kib is not None:
        return kib
    try:
        value = ULong0.parse(text)
    except ValueError:
        raise XMLError(f"Invalid value '{text}' for attribute '{value_attr}' of element "
                       f"'{el.tag}'{where(el)}") from None
    nbytes = scale_value(value, unit, default, MEMORY_UNLIMITED << 10)
    kib = -(-nbytes // 1024)
    if len(_SCALED_KIB) < 1024:
        _SCALED_KIB[key] = kib
    return kib


#: (value text, unit text, default scale) -> size in KiB, for the sizes scaled_kib has read.
_SCALED_KIB: dict[tuple[str, str | None, Any], int] = {}


#: Unit -> bytes in one unit, for the units seen so far (valid ones only: the others raise).
_UNIT_SCALES = Memo(_unit_scale)


def enum_of(*values: str, name: str = "value") -> Enum:
    return Enum(*values, name=name)
