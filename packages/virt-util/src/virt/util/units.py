"""Sizes with units as libvirt scales them (virScaleInteger, memory in KiB) and prints them (virsh)."""

from __future__ import annotations

from virt.util.errors import ErrorNumber, InternalError, InvalidArgError, VirtError

ULLONG_MAX = 2**64 - 1
LLONG_MAX = 2**63 - 1

#: Power of the base for each unit letter (k=1 ... e=6), as the case-insensitive first letter of a suffix.
_POWERS = {"k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}


def unit_scale(unit: str) -> int:
    """Bytes in one ``unit``: b/byte/bytes = 1; ``k``/``KiB`` (any case) = 1024; ``KB`` (or ``kb``) = 1000; ...

    The letters k, m, g, t, p, e name the powers; a single letter or a letter followed by "iB"
    (case-insensitive) is a power of 1024, a letter followed by "B" or "b" a power of 1000.
    Anything else raises InvalidArgError "unknown suffix '<unit>'".
    """
    if unit.lower() in ("b", "byte", "bytes"):
        return 1
    if len(unit) == 1 or unit[1:].lower() == "ib":
        base = 1024
    elif len(unit) == 2 and unit[1] in "bB":
        base = 1000
    else:
        raise InvalidArgError(f"unknown suffix '{unit}'")
    power = _POWERS.get(unit[0].lower())
    if power is None:
        raise InvalidArgError(f"unknown suffix '{unit}'")
    return int(base**power)


def scale_integer(value: int, unit: str | None, default_scale: int = 1, limit: int = ULLONG_MAX) -> int:
    """``value`` times the scale of ``unit`` (``default_scale`` when unit is None or empty), at most ``limit``.

    Past the limit: VirtError OVERFLOW "value too large: <value><unit>" (libvirt's virScaleInteger).
    """
    if not unit:
        if not default_scale:
            raise InternalError(f"invalid scale {default_scale}")
        scale, unit = default_scale, ""
    else:
        scale = unit_scale(unit)
    if value and value > limit // scale:
        raise VirtError(f"value too large: {value}{unit}", code=ErrorNumber.OVERFLOW)
    return value * scale


def _parse_unsigned(text: str) -> int:
    # As virStrToLong_ullp: base 10, leading blanks and a '+' allowed, no sign '-', nothing after.
    digits = text.lstrip(" \t\n\v\f\r")
    digits = digits.removeprefix("+")
    if not digits or not digits.isascii() or not digits.isdigit():
        raise InvalidArgError(f"invalid value '{text}': expected a non-negative integer")
    value = int(digits)
    if value > ULLONG_MAX:
        raise VirtError(f"value too large: {text}", code=ErrorNumber.OVERFLOW)
    return value


def parse_scaled(value: str, unit: str | None = None, default_scale: int = 1, max: int = ULLONG_MAX) -> int:
    """Bytes for an XML-style scaled integer: ``value`` is the number, ``unit`` its unit attribute.

    E.g. ``parse_scaled("1", "GiB") == 1073741824``; ``parse_scaled("512", None, 1024)`` is 512 KiB.
    """
    return scale_integer(_parse_unsigned(value), unit, default_scale, max)


def parse_size(text: str, default_scale: int = 1, max: int = ULLONG_MAX) -> int:
    """Bytes for a number with its unit glued on, as virsh options take them ("10G", "512MiB", "100").

    The suffix starts right after the digits (virsh does not skip blanks there).
    """
    body = text.lstrip(" \t\n\v\f\r")
    body = body.removeprefix("+")
    end = 0
    while end < len(body) and "0" <= body[end] <= "9":
        end += 1
    if end == 0:
        raise InvalidArgError(f"invalid value '{text}': expected a non-negative integer")
    return scale_integer(_parse_unsigned(body[:end]), body[end:] or None, default_scale, max)


def to_kib(nbytes: int) -> int:
    """Bytes to KiB, rounding up, as libvirt stores memory sizes."""
    return -(-nbytes // 1024)


def parse_memory_kib(value: str, unit: str | None = None, max: int = LLONG_MAX) -> int:
    """A domain memory size in KiB (virDomainParseMemory): unit defaults to KiB, result rounded up.

    Sizes at or past ``max`` bytes (2^63-1 by default) raise OVERFLOW "size value too large".
    """
    kib = to_kib(parse_scaled(value, unit, 1024, max))
    if kib >= to_kib(max):
        raise VirtError("size value too large", code=ErrorNumber.OVERFLOW)
    return kib


_PRETTY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def pretty_capacity(nbytes: int) -> tuple[float, str]:
    """The value and unit virsh shows for a byte count: the largest binary unit not above it (vshPrettyCapacity)."""
    index = 0
    while index < len(_PRETTY_UNITS) - 1 and nbytes >= 1024 ** (index + 1):
        index += 1
    return nbytes / 1024**index, _PRETTY_UNITS[index]


def format_capacity(nbytes: int) -> str:
    """A byte count as virsh prints capacities ("1.00 GiB", "512.00 B")."""
    value, unit = pretty_capacity(nbytes)
    return f"{value:.2f} {unit}"


def format_int_pretty(nbytes: int) -> tuple[int, str]:
    """The largest binary unit (up to PiB) that divides ``nbytes`` exactly, and the value in it (virFormatIntPretty).

    0 and non-multiples of 1024 stay in bytes: (1536, "B"), (2, "KiB") for 2048.
    """
    if nbytes == 0 or nbytes % 1024:
        return nbytes, "B"
    index = 1
    while index < 5 and nbytes % 1024 ** (index + 1) == 0:
        index += 1
    return nbytes // 1024**index, _PRETTY_UNITS[index]
