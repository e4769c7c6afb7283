"""``<devices>``: every device kind in its own list, printed in libvirt's fixed order of kinds."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain, compress
from operator import itemgetter
from typing import Any

from virt.conf.domain.address import Address
from virt.conf.domain.devices.base import Device
from virt.conf.domain.devices.chardev import (
    Channel,
    ChrDevice,
    ChrTarget,
    Console,
    Parallel,
    Redirdev,
    Serial,
    Smartcard,
)
from virt.conf.domain.devices.controller import Controller
from virt.conf.domain.devices.disk import Disk
from virt.conf.domain.devices.graphics import Graphics
from virt.conf.domain.devices.hostdev import Hostdev
from virt.conf.domain.devices.misc import (
    IOMMU,
    RNG,
    TPM,
    Audio,
    Crypto,
    Filesystem,
    Hub,
    Input,
    Lease,
    Memballoon,
    MemoryDevice,
    NVRAMDevice,
    Panic,
    Redirfilter,
    Shmem,
    Sound,
    Video,
    Vsock,
    Watchdog,
)
from virt.conf.domain.devices.net import Interface
from virt.conf.xmlmodel import Children, Model, ParseContext, String, TextChild, Writer, write_models
from virt.util.errors import XMLError

#: (list attribute, model) in libvirt's output order.
DEVICE_KINDS: tuple[tuple[str, type[Model]], ...] = (
    ("disks", Disk), ("controllers", Controller), ("leases", Lease), ("filesystems", Filesystem),
    ("interfaces", Interface), ("smartcards", Smartcard), ("serials", Serial), ("parallels", Parallel),
    ("consoles", Console), ("channels", Channel), ("inputs", Input), ("tpms", TPM), ("graphics", Graphics),
    ("sounds", Sound), ("audios", Audio), ("videos", Video), ("hostdevs", Hostdev), ("redirdevs", Redirdev),
    ("redirfilters", Redirfilter), ("hubs", Hub), ("watchdogs", Watchdog), ("memballoons", Memballoon),
    ("rngs", RNG), ("nvrams", NVRAMDevice), ("panics", Panic), ("shmems", Shmem), ("memories", MemoryDevice),
    ("iommus", IOMMU), ("vsocks", Vsock), ("cryptos", Crypto),
)

#: Kinds libvirt allows once per domain, with its error message.
SINGLE = {"redirfilters": "only one set of redir filter rules is supported",
          "memballoons": "only a single memory balloon device is supported",
          "iommus": "only a single IOMMU device is supported",
          "vsocks": "only a single vsock device is supported",
          "nvrams": "only a single nvram device is supported",
          "watchdogs": "only a single watchdog device is supported"}


class Devices(Model):
    """The ``<devices>`` element. Lists are public (``devices.disks``); single ones have properties."""

    TAG = "devices"
    emulator = TextChild(String)
    disks = Children(Disk)
    controllers = Children(Controller)
    leases = Children(Lease)
    filesystems = Children(Filesystem)
    interfaces = Children(Interface)
    smartcards = Children(Smartcard)
    serials = Children(Serial)
    parallels = Children(Parallel)
    consoles = Children(Console)
    channels = Children(Channel)
    inputs = Children(Input)
    tpms = Children(TPM)
    graphics = Children(Graphics)
    sounds = Children(Sound)
    audios = Children(Audio)
    videos = Children(Video)
    hostdevs = Children(Hostdev)
    redirdevs = Children(Redirdev)
    redirfilters = Children(Redirfilter)
    hubs = Children(Hub)
    watchdogs = Children(Watchdog)
    memballoons = Children(Memballoon)
    rngs = Children(RNG)
    nvrams = Children(NVRAMDevice)
    panics = Children(Panic)
    shmems = Children(Shmem)
    memories = Children(MemoryDevice)
    iommus = Children(IOMMU)
    vsocks = Children(Vsock)
    cryptos = Children(Crypto)

    def post_parse(self, ctx: ParseContext) -> None:
        d = self.__dict__
        if ctx.inactive:
            for dev in self.all_now():
                alias = dev.__dict__.get("alias")
                if alias is not None and alias.name is None:
                    dev.alias = None
        for kind, message in SINGLE.items():
            if len(d[kind]) > 1:
                raise XMLError(message)
        if any(c.index is None for c in self.controllers):
            # a controller without index takes the lowest one free for its type
            used = {(c.type, c.index) for c in self.controllers if c.index is not None}
            for c in self.controllers:
                if c.index is None:
                    idx = 0
                    while (c.type, idx) in used:
                        idx += 1
                    c.index = idx
                    used.add((c.type, idx))
        if len(self.controllers) > 1 and not _in_insertion_order(self.controllers):
            ctrls, self.controllers = self.controllers, []
            for c in ctrls:
                self.insert_controller(c)
        videos = self.videos
        if len(videos) > 1 and any(v.model.primary for v in videos[1:]):
            self._sort_primary_video()

    def _sort_primary_video(self) -> None:
        prim = [v for v in self.videos if v.model.primary]
        if len(prim) > 1:
            raise XMLError("Only one primary video device is supported")
        self.videos.remove(prim[0])
        self.videos.insert(0, prim[0])

    def write(self, w: Writer, tag: str | None = None) -> None:
        w.start("devices", [])
        mark = w.mark()
        d = self.__dict__
        emulator = d["emulator"]
        if emulator is not None:
            w.leaf("emulator", (), emulator)
        lists = _KIND_LISTS(d)  # (every kind's list in one C-level read; most are empty)
        for kind, devices in compress(zip(_KIND_FIELDS, lists), lists):
            if kind == "consoles" and self.hvm:
                write_models([self._console_view(i, con) for i, con in enumerate(devices)], w)
            else:
                write_models(devices, w)
        w.depth -= 1
        if len(w.parts) == mark:
            w.parts[-1] += ">\n"
            w.parts.append("  " * w.depth + "</devices>\n")
        else:
            w.parts[mark - 1] += ">\n"
            w.parts.append("  " * w.depth + "</devices>\n")

    #: Set by the domain: HVM guests print serial-type consoles as copies of the serial ports.
    hvm = False

    def _console_view(self, i: int, con: Console) -> Console:
        """What libvirt prints for console ``i``: serials[i] itself when the console aliases it."""
        # (libvirt would also print a later console of target type 'none' as a serial one, which its
        # own parser then rejects; only the first one is treated so)
        ttype = con.target.type if con.target is not None else None
        if i >= len(self.serials) or not (ttype == "serial" or (ttype == "none" and i == 0)):
            return con
        s = self.serials[i]
        return Console(type=s.type, tty=s.tty, sources=s.sources, protocol=s.protocol, log=s.log,
                       target=ChrTarget(type="serial", port=s.target.port if s.target else str(i)),
                       alias=s.alias, address=s.address)

    # -- single devices ------------------------------------------------------------------------
    @property
    def memballoon(self) -> Memballoon | None:
        return self.memballoons[0] if self.memballoons else None

    @memballoon.setter
    def memballoon(self, value: Memballoon | None) -> None:
        self.memballoons = [value] if value is not None else []

    @property
    def watchdog(self) -> Watchdog | None:
        return self.watchdogs[0] if self.watchdogs else None

    @property
    def iommu(self) -> IOMMU | None:
        return self.iommus[0] if self.iommus else None

    @property
    def vsock(self) -> Vsock | None:
        return self.vsocks[0] if self.vsocks else None

    @property
    def redirfilter(self) -> Redirfilter | None:
        return self.redirfilters[0] if self.redirfilters else None

    @property
    def nvram(self) -> NVRAMDevice | None:
        return self.nvrams[0] if self.nvrams else None

    # -- iteration and lookup ------------------------------------------------------------------
    def __iter__(self) -> Iterator[Device]:
        """Every device, in output order."""
        # (lazy as a generator: a list replaced during the iteration is read when its turn comes)
        return chain.from_iterable(map(self.__dict__.__getitem__, _KIND_FIELDS))

    def all_now(self) -> Iterator[Device]:
        """Every device, in output order, from the lists as they are now (cheaper than iter() when
        nothing replaces a list while the caller iterates: one C-level read of all the lists)."""
        return chain.from_iterable(filter(None, _KIND_LISTS(self.__dict__)))

    def with_addresses(self) -> Iterator[tuple[Device, Address | None]]:
        """(device, address) for every device that can carry an address (hostdevs of interfaces included)."""
        for dev in self:
            if isinstance(dev, Device):
                yield dev, dev.address

    def find(self, alias: str | None = None, target: str | None = None) -> Device | None:
        """The device with this alias, or the disk/interface/filesystem/channel with this target name."""
        for dev in self:
            if alias is not None and isinstance(dev, Device) and dev.alias_name == alias:
                return dev
            if target is not None:
                if isinstance(dev, Disk) and dev.dev == target:
                    return dev
                if isinstance(dev, Interface) and (dev.ifname == target or dev.mac_address == target):
                    return dev
                if isinstance(dev, Filesystem) and dev.target_dir == target:
                    return dev
                if isinstance(dev, Channel) and dev.target is not None and dev.target.name == target:
                    return dev
        return None

    def controller(self, ctype: str, index: int = 0) -> Controller | None:
        for c in self.controllers:
            if c.type == ctype and c.index == index:
                return c
        return None

    def insert_controller(self, ctrl: Controller) -> None:
        """Insert keeping libvirt's order: same-type controllers sorted by index, masters before companions."""
        insert_at = -1
        ctrls = self.controllers
        ctype, index = ctrl.type, ctrl.index
        companion = getattr(ctrl, "master", None) is not None
        for i in range(len(ctrls) - 1, -1, -1):
            cur = ctrls[i]
            if cur.type != ctype:
                continue
            if index is None:
                insert_at = i + 1
                break
            cur_index = cur.index
            if (cur_index is not None and cur_index > index) or (
                    not companion and cur_index == index and getattr(cur, "master", None) is not None):
                insert_at = i
        if insert_at == -1:
            ctrls.append(ctrl)
        else:
            ctrls.insert(insert_at, ctrl)

    def add_controller(self, ctype: str, index: int, model: str | None = None) -> Controller:
        """libvirt's virDomainDefMaybeAddController: the controller, added if missing."""
        for c in self.controllers:
            if c.type == ctype and c.index == index:
                return c
        ctrl = Controller(type=ctype, index=index, model=model)
        self.insert_controller(ctrl)
        return ctrl

    def add(self, dev: Device) -> None:
        """Append a device to the list of its kind (controllers are inserted in order)."""
        if isinstance(dev, Controller):
            self.insert_controller(dev)
            return
        getattr(self, type(dev).KIND if type(dev).KIND in _KIND_NAMES else _kind_of(dev)).append(dev)


def _in_insertion_order(ctrls: list[Controller]) -> bool:
    """True when inserting the controllers one by one (insert_controller) would keep them as they are: no
    companion controllers, and each type's indexes never decreasing (the common case, checked cheaply)."""
    last: dict[str, int] = {}
    for c in ctrls:
        d = c.__dict__
        index = d["index"]
        if index is None or d.get("master") is not None:
            return False
        prev = last.get(d["type"])
        if prev is not None and prev > index:
            return False
        last[d["type"]] = index
    return True


_KIND_NAMES = {k for k, _ in DEVICE_KINDS}
#: The device lists in the order they are printed (the fields' order).
_KIND_FIELDS = tuple(f.name for f in Devices._fields if f.name != "emulator")
_KIND_LISTS = itemgetter(*_KIND_FIELDS)


def _kind_of(dev: Any) -> str:
    for kind, cls in DEVICE_KINDS:
        if isinstance(dev, cls):
            return kind
    raise TypeError(f"not a device: {dev!r}")


__all__ = ["DEVICE_KINDS", "ChrDevice", "Device", "Devices"]
