"""CPU sets and other bit sets in libvirt's text notation ("0-3,^2,8"), as virBitmap parses and formats them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from virt.util.errors import InvalidArgError

#: Bits in a domain's cpuset/cpumask (libvirt's VIR_DOMAIN_CPUMASK_LEN).
CPUMASK_LEN = 16384

_INT_MAX = 2**31 - 1
_INT_MIN = -(2**31)
# virSkipSpaces skips C's isspace() set, not Unicode whitespace.
_SPACES = " \t\n\v\f\r"
_DIGITS = "0123456789"


def _skip_spaces(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _SPACES:
        pos += 1
    return pos


def _digits_end(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _DIGITS:
        pos += 1
    return pos


def parse_mask(text: str, max_bits: int | None = CPUMASK_LEN) -> int:
    """Parse libvirt's bitmap notation into an integer whose bit ``n`` is set for each member ``n``.

    Grammar (virBitmapParse): comma-separated items, each ``N`` (set bit N), ``N-M`` (set N..M, M >= N)
    or ``^N`` (clear bit N, applied in order); whitespace may surround numbers, dashes and commas;
    a trailing comma is accepted. With ``max_bits`` set, any bit >= max_bits is an error; ``None``
    means unlimited. Errors raise InvalidArgError "Failed to parse bitmap '<text>'".
    """

    def fail() -> InvalidArgError:
        return InvalidArgError(f"Failed to parse bitmap '{text}'")

    def check(bit: int) -> None:
        if max_bits is not None and bit >= max_bits:
            raise fail()

    mask = 0
    pos = _skip_spaces(text, 0)
    if pos == len(text):
        raise fail()
    while pos < len(text):
        neg = text[pos] == "^"
        if neg:
            pos += 1
        end = _digits_end(text, pos)
        if end == pos:
            raise fail()
        start = int(text[pos:end])
        if start > _INT_MAX:
            raise fail()
        pos = _skip_spaces(text, end)
        if pos == len(text) or text[pos] == ",":
            check(start)
            mask = mask & ~(1 << start) if neg else mask | (1 << start)
        elif text[pos] == "-":
            if neg:
                raise fail()
            pos = _skip_spaces(text, pos + 1)
            # The range end goes through strtol, which also takes a sign.
            sign_end = pos + 1 if pos < len(text) and text[pos] in "+-" else pos
            end = _digits_end(text, sign_end)
            if end == sign_end:
                raise fail()
            last = int(text[pos:end])
            if not _INT_MIN <= last <= _INT_MAX or last < start:
                raise fail()
            check(last)
            mask |= ((1 << (last + 1)) - 1) ^ ((1 << start) - 1)
            pos = _skip_spaces(text, end)
        if pos == len(text):
            break
        if text[pos] != ",":
            raise fail()
        pos = _skip_spaces(text, pos + 1)
    return mask


def _iter_bits(mask: int) -> Iterator[int]:
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def format_mask(mask: int) -> str:
    """libvirt's text for a bit mask: ascending, runs of two or more bits as ``start-end`` ("0-1,3,8").

    An empty mask gives "" (as virBitmapFormat does).
    """
    parts: list[str] = []
    while mask:
        start = (mask & -mask).bit_length() - 1
        shifted = mask >> start
        # (x + 1) & ~x isolates the lowest clear bit: its position is the length of the run of ones.
        length = ((shifted + 1) & ~shifted).bit_length() - 1
        parts.append(str(start) if length == 1 else f"{start}-{start + length - 1}")
        mask = (shifted >> length) << (start + length)
    return ",".join(parts)


def parse_cpuset(text: str, max_bits: int | None = CPUMASK_LEN) -> set[int]:
    """The set of bits named by a libvirt bitmap string ("0-3,^2,8" -> {0, 1, 3, 8})."""
    return set(_iter_bits(parse_mask(text, max_bits)))


def format_cpuset(bits: Iterable[int]) -> str:
    """libvirt's text for a set of bits ({0, 1, 3, 8} -> "0-1,3,8")."""
    mask = 0
    for bit in bits:
        if bit < 0:
            raise InvalidArgError(f"negative bit {bit} in bitmap")
        mask |= 1 << bit
    return format_mask(mask)


class Bitmap:
    """A set of bit positions with libvirt's text and hex forms; ``size`` bounds it when given.

    Setting or clearing a bit at or past ``size`` raises InvalidArgError, as virBitmapSetBit fails.
    """

    __slots__ = ("_mask", "size")

    def __init__(self, bits: Iterable[int] = (), size: int | None = None) -> None:
        self._mask = 0
        self.size = size
        for bit in bits:
            self.set(bit)

    @classmethod
    def parse(cls, text: str, size: int | None = CPUMASK_LEN) -> Bitmap:
        """A bitmap from libvirt's notation; ``size`` is the bit limit (None: unlimited)."""
        bitmap = cls(size=size)
        bitmap._mask = parse_mask(text, size)
        return bitmap

    @classmethod
    def from_mask(cls, mask: int, size: int | None = None) -> Bitmap:
        """A bitmap whose members are the set bits of ``mask``."""
        if mask < 0 or (size is not None and mask >> size):
            raise InvalidArgError(f"mask {mask:#x} does not fit a bitmap of {size} bits")
        bitmap = cls(size=size)
        bitmap._mask = mask
        return bitmap

    @classmethod
    def from_hex(cls, text: str, size: int | None = None) -> Bitmap:
        """A bitmap from a hex mask ("ff", "0x3", "00000000,0000000f" as the kernel prints cpumasks)."""
        digits = text.strip().replace(",", "")
        if digits[:2].lower() == "0x":
            digits = digits[2:]
        try:
            mask = int(digits or "0", 16)
        except ValueError:
            raise InvalidArgError(f"Failed to parse bitmap '{text}'") from None
        return cls.from_mask(mask, size)

    def _check(self, bit: int) -> None:
        if bit < 0 or (self.size is not None and bit >= self.size):
            raise InvalidArgError(f"bit {bit} out of range for a bitmap of {self.size} bits")

    def set(self, bit: int) -> None:
        """Add ``bit``."""
        self._check(bit)
        self._mask |= 1 << bit

    def clear(self, bit: int) -> None:
        """Remove ``bit``."""
        self._check(bit)
        self._mask &= ~(1 << bit)

    def is_set(self, bit: int) -> bool:
        """Whether ``bit`` is a member (False past the end, as virBitmapIsBitSet)."""
        return bit >= 0 and bool(self._mask >> bit & 1)

    __contains__ = is_set

    @property
    def mask(self) -> int:
        """The members as an integer bit mask."""
        return self._mask

    def __iter__(self) -> Iterator[int]:
        return _iter_bits(self._mask)

    def __len__(self) -> int:
        return self._mask.bit_count()

    def __bool__(self) -> bool:
        return self._mask != 0

    def __eq__(self, other: object) -> bool:
        # Like virBitmapEqual: the members count, not the sizes.
        if isinstance(other, Bitmap):
            return self._mask == other._mask
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._mask)

    def __or__(self, other: Bitmap) -> Bitmap:
        return Bitmap.from_mask(self._mask | other._mask, _max_size(self.size, other.size))

    def __and__(self, other: Bitmap) -> Bitmap:
        return Bitmap.from_mask(self._mask & other._mask, _max_size(self.size, other.size))

    def __sub__(self, other: Bitmap) -> Bitmap:
        return Bitmap.from_mask(self._mask & ~other._mask, self.size)

    def format(self) -> str:
        """libvirt's text ("0-1,3,8"); "" when empty."""
        return format_mask(self._mask)

    def to_hex(self) -> str:
        """Lowercase hex mask without leading zeros; "" when empty (virBitmapToString)."""
        return f"{self._mask:x}" if self._mask else ""

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        return f"Bitmap({self.format()!r}, size={self.size})"


def _max_size(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else max(a, b)
