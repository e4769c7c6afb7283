"""The base of every device model: the device-info elements (boot, alias, acpi, rom, address) come last."""

from __future__ import annotations

from typing import Any, ClassVar

from virt.conf.domain.address import (
    ACPI,
    ROM,
    Address,
    Alias,
    Boot,
    Master,
    is_user_alias,
)
from virt.conf.domain.types import OnOff
from virt.conf.xmlmodel import Attr, Child, Field, Model, ParseContext, Writer, escape_attr

INFO_FIELDS = ("boot", "alias", "master", "acpi", "rom", "address")


class InfoAlias(Alias):
    """``<alias>``: live-only unless it is a user alias (``ua-...``)."""

    def post_parse(self, ctx: ParseContext) -> None:
        if ctx.inactive and not is_user_alias(self.name):
            self.name = None

    def write(self, w: Writer, tag: str | None = None) -> None:
        name = self.__dict__["name"]
        if name is None or (w.inactive and not is_user_alias(name)):
            return
        w.parts.append(f"{'  ' * w.depth}<{tag or 'alias'} name='{escape_attr(name)}'/>\n")


class Device(Model):
    """A device under ``<devices>``. Subclasses get the device-info fields appended after their own.

    ``ALLOW_BOOT``/``ALLOW_ROM`` say whether ``<boot>``/``<rom>`` are read for this kind (libvirt ignores
    them elsewhere); ``AFTER_INFO`` names fields printed after the address (controller's pcihole64).
    """

    KIND: ClassVar[str] = ""
    ALLOW_BOOT: ClassVar[bool] = False
    ALLOW_ROM: ClassVar[bool] = False
    AFTER_INFO: ClassVar[tuple[str, ...]] = ()

    # boot/rom read as None on every device for drivers' convenience where the kind has none: plain class
    # attributes (a __getattr__ would put every attribute access of every device on CPython's slow path)
    boot: Boot | None = None
    alias: Alias | None
    acpi: ACPI | None
    rom: ROM | None = None
    address: Address | None

    def __init_subclass__(cls, **kw: Any) -> None:
        inherited = {f.name for base in cls.__mro__[1:] for f in getattr(base, "_fields", ())}
        wanted: dict[str, Field] = {"alias": Child(InfoAlias), "master": Child(Master), "acpi": Child(ACPI),
                                    "address": Child(Address)}
        if cls.ALLOW_BOOT:
            wanted["boot"] = Child(Boot)
        if cls.ALLOW_ROM:
            wanted["rom"] = Child(ROM)
        for name, f in wanted.items():
            if name not in inherited and name not in cls.__dict__:
                setattr(cls, name, f)
                f.__set_name__(cls, name)
        super().__init_subclass__(**kw)
        fields = list(cls._fields)
        info = sorted((f for f in fields if f.name in INFO_FIELDS), key=lambda f: INFO_FIELDS.index(f.name))
        after = [f for f in fields if f.name in cls.AFTER_INFO]
        rest = [f for f in fields if f.name not in INFO_FIELDS and f.name not in cls.AFTER_INFO]
        cls._fields = tuple(rest + info + after)

    @property
    def alias_name(self) -> str | None:
        alias = self.__dict__.get("alias")
        return alias.name if alias is not None else None

    def set_alias(self, name: str | None) -> None:
        self.alias = InfoAlias(name=name) if name else None


# Attributes of <driver> shared by every virtio device (virDomainVirtioOptionsFormat).
def virtio_options() -> dict[str, Attr]:
    return {"iommu": Attr(OnOff), "ats": Attr(OnOff), "packed": Attr(OnOff), "page_per_vq": Attr(OnOff)}


class VirtioDriver(Model):
    """``<driver>`` with only the virtio options (input, rng, memballoon, video's virtio driver, ...)."""

    TAG = "driver"
    iommu = Attr(OnOff)
    ats = Attr(OnOff)
    packed = Attr(OnOff)
    page_per_vq = Attr(OnOff)
