"""The smaller devices: lease, filesystem, input, sound, audio, video, watchdog, memballoon, rng, panic,
shmem, memory, iommu, vsock, crypto, hub, redirfilter, tpm and nvram."""

from __future__ import annotations

import re

from virt.conf.domain.devices.base import Device, VirtioDriver
from virt.conf.domain.devices.chardev import CHR_TYPES, ChrSourceMixin
from virt.conf.domain.types import (
    Bitmap,
    DecInt,
    KiBSize,
    OnOff,
    UInt10,
    ULong10,
    YesNo,
    scale_value,
)
from virt.conf.xmlmodel import (
    UUID,
    Attr,
    Child,
    Children,
    Enum,
    Flag,
    Model,
    ParseContext,
    String,
    Text,
    TextChild,
    Writer,
)
from virt.util.errors import XMLError

# ----------------------------------------------------------------------------- lease


class LeaseTarget(Model):
    TAG = "target"
    path = Attr(String)
    offset = Attr(ULong10)


class Lease(Device):
    TAG = "lease"
    KIND = "leases"
    lockspace = TextChild(String)
    key = TextChild(String)
    target = Child(LeaseTarget)

    def post_parse(self, ctx: ParseContext) -> None:
        if not self.key:
            raise XMLError("Missing 'key' element for lease")
        if self.target is None or not self.target.path:
            raise XMLError("Missing 'target' element for lease")


# ----------------------------------------------------------------------------- filesystem

FS_TYPES = ("mount", "block", "file", "template", "ram", "bind", "volume")


class FSDriver(Model):
    TAG = "driver"
    type = Attr(Enum("path", "handle", "loop", "nbd", "ploop", "virtiofs", name="filesystem driver type"))
    format = Attr(String)
    queue = Attr(UInt10)
    wrpolicy = Attr(Enum("immediate", name="wrpolicy"))
    iommu = Attr(OnOff)
    ats = Attr(OnOff)
    packed = Attr(OnOff)
    page_per_vq = Attr(OnOff)


class FSCache(Model):
    TAG = "cache"
    mode = Attr(Enum("none", "always", name="cache mode"))


class FSSandbox(Model):
    TAG = "sandbox"
    mode = Attr(Enum("namespace", "chroot", name="sandbox mode"))


class FSLock(Model):
    TAG = "lock"
    posix = Attr(OnOff)
    flock = Attr(OnOff)


class FSThreadPool(Model):
    TAG = "thread_pool"
    size = Attr(UInt10)


class FSBinary(Model):
    TAG = "binary"
    path = Attr(String)
    xattr = Attr(OnOff)
    cache = Child(FSCache)
    sandbox = Child(FSSandbox)
    lock = Child(FSLock)
    thread_pool = Child(FSThreadPool)


class FSSource(Model):
    TAG = "source"
    dir = Attr(String)
    dev = Attr(String)
    file = Attr(String)
    name = Attr(String)
    usage = Attr(ULong10)
    units = Attr(String)
    pool = Attr(String)
    volume = Attr(String)
    socket = Attr(String)


class FSTarget(Model):
    TAG = "target"
    dir = Attr(String)


class SpaceLimit(Model):
    unit = Attr(String)
    value = Text(ULong10)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.value is not None:
            self.value = scale_value(self.value, self.unit, 1)
        self.unit = "bytes"


class SpaceHardLimit(SpaceLimit):
    TAG = "space_hard_limit"


class SpaceSoftLimit(SpaceLimit):
    TAG = "space_soft_limit"


class Octal(DecInt):
    def parse(self, text: str) -> int:
        if not re.fullmatch(r"[0-7]{1,4}", text.strip()):
            raise ValueError(text)
        return int(text, 8)

    def format(self, value: int) -> str:
        return f"{value:04o}"


class Filesystem(Device):
    TAG = "filesystem"
    KIND = "filesystems"
    ALLOW_BOOT = True
    AFTER_INFO = ("space_hard_limit", "space_soft_limit")
    type = Attr(Enum(*FS_TYPES, name="filesystem type"))
    accessmode = Attr(Enum("passthrough", "mapped", "squash", name="accessmode"))
    model = Attr(Enum("virtio", "virtio-transitional", "virtio-non-transitional", name="filesystem model"))
    multidevs = Attr(Enum("default", "remap", "forbid", "warn", name="multidevs"))
    fmode = Attr(Octal())
    dmode = Attr(Octal())
    driver = Child(FSDriver)
    binary = Child(FSBinary)
    source = Child(FSSource)
    target = Child(FSTarget)
    readonly = Flag()
    space_hard_limit = Child(SpaceHardLimit)
    space_soft_limit = Child(SpaceSoftLimit)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.type is None:
            self.type = "mount"
        if self.multidevs == "default":
            self.multidevs = None
        src = self.source
        if src is not None:
            keep = {"mount": ("dir", "socket"), "bind": ("dir",), "block": ("dev",), "file": ("file",),
                    "template": ("name",), "ram": ("usage", "units"), "volume": ("pool", "volume")}[self.type]
            for name in ("dir", "dev", "file", "name", "usage", "units", "pool", "volume", "socket"):
                if name not in keep:
                    setattr(src, name, None)
            if self.type == "ram" and src.usage is not None:
                src.usage = -(-scale_value(src.usage, src.units, 1024) // 1024)
                src.units = "KiB"
        if self.driver is not None and self.driver.type == "virtiofs" and src is not None and src.socket:
            self.accessmode = None
        elif self.accessmode is None:
            self.accessmode = "passthrough"
        if src is None or all(getattr(src, f.name) is None for f in src._fields):
            raise XMLError("missing source information for filesystem", code=19)
        if self.target is None or not self.target.dir:
            raise XMLError("missing target information for filesystem", code=20)
        if self.driver is not None and all(getattr(self.driver, f.name) is None for f in self.driver._fields):
            self.driver = None

    @property
    def source_path(self) -> str | None:
        s = self.source
        return None if s is None else (s.dir or s.dev or s.file or s.name or s.socket)

    @property
    def target_dir(self) -> str | None:
        return self.target.dir if self.target is not None else None


# ----------------------------------------------------------------------------- input

INPUT_TYPES = ("mouse", "tablet", "keyboard", "passthrough", "evdev")
INPUT_BUSES = ("ps2", "usb", "xen", "parallels", "virtio", "none")


class InputSource(Model):
    TAG = "source"
    evdev = Attr(String)
    dev = Attr(String)
    grab = Attr(Enum("all", name="grab"))
    grabToggle = Attr(Enum("ctrl-ctrl", "alt-alt", "shift-shift", "meta-meta", "scrolllock", "ctrl-scrolllock",
                           name="grabToggle"))
    repeat = Attr(OnOff)


class Input(Device):
    TAG = "input"
    KIND = "inputs"
    type = Attr(Enum(*INPUT_TYPES, name="input device type"))
    bus = Attr(Enum(*INPUT_BUSES, name="input bus"))
    model = Attr(Enum("virtio", "virtio-transitional", "virtio-non-transitional", name="input model"))
    driver = Child(VirtioDriver)
    source = Child(InputSource)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.type is None:
            raise XMLError("missing input device type")
        if self.type == "passthrough":
            if self.source is None or not (self.source.evdev or self.source.dev):
                raise XMLError("Missing evdev path for input device passthrough")
            if self.source.dev and not self.source.evdev:
                self.source.evdev = self.source.dev
            self.source.dev = None
        elif self.type == "evdev":
            if self.source is None or not self.source.dev:
                raise XMLError("Missing evdev path for input device")
        else:
            self.source = None

    def set_default_bus(self, os_type: str | None, arch: str | None, virt_type: str | None) -> None:
        """libvirt's default bus, which depends on the guest (done by the domain after parsing)."""
        if self.bus is not None:
            return
        x86 = arch in (None, "i686", "x86_64")
        if os_type == "hvm":
            if self.type in ("mouse", "keyboard") and x86:
                self.bus = "ps2"
            elif (arch or "").startswith("s390") or self.type == "passthrough":
                self.bus = "virtio"
            elif self.type == "evdev":
                self.bus = None
            else:
                self.bus = "usb"
        elif os_type in ("xen", "xenpvh"):
            self.bus = "xen"
        elif virt_type in ("vz", "parallels"):
            self.bus = "parallels"


# ----------------------------------------------------------------------------- sound and audio

SOUND_MODELS = ("sb16", "es1370", "pcspk", "ac97", "ich6", "ich9", "usb", "ich7", "virtio")


class Codec(Model):
    TAG = "codec"
    type = Attr(Enum("duplex", "micro", "output", name="codec type"))


class AudioRef(Model):
    TAG = "audio"
    id = Attr(DecInt(1, 2**31 - 1))


class Sound(Device):
    TAG = "sound"
    KIND = "sounds"
    model = Attr(Enum(*SOUND_MODELS, name="sound model"))
    multichannel = Attr(YesNo)
    streams = Attr(UInt10)
    codecs = Children(Codec)
    audio = Child(AudioRef)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.model is None:
            raise XMLError("missing sound model")
        if self.model not in ("ich6", "ich9", "ich7"):
            self.codecs = []
        if self.model != "usb":
            self.multichannel = None


AUDIO_TYPES = ("none", "alsa", "coreaudio", "jack", "oss", "pulseaudio", "sdl", "spice", "file", "dbus")


class AudioSettings(Model):
    TAG = "settings"
    frequency = Attr(UInt10)
    channels = Attr(UInt10)
    format = Attr(Enum("s8", "u8", "s16", "u16", "s32", "u32", "f32", name="audio format"))


class AudioIO(Model):
    mixingEngine = Attr(YesNo)
    fixedSettings = Attr(YesNo)
    voices = Attr(UInt10)
    bufferLength = Attr(UInt10)
    dev = Attr(String)
    bufferCount = Attr(UInt10)
    serverName = Attr(String)
    clientName = Attr(String)
    connectPorts = Attr(String)
    exactName = Attr(YesNo)
    tryPoll = Attr(YesNo)
    name = Attr(String)
    streamName = Attr(String)
    latency = Attr(UInt10)
    settings = Child(AudioSettings)

    def finish(self, atype: str) -> None:
        keep = {"alsa": ("dev",), "coreaudio": ("bufferCount",),
                "jack": ("serverName", "clientName", "connectPorts", "exactName"),
                "oss": ("dev", "bufferCount", "tryPoll"), "pulseaudio": ("name", "streamName", "latency"),
                "sdl": ("bufferCount",)}.get(atype, ())
        for n in ("dev", "bufferCount", "serverName", "clientName", "connectPorts", "exactName", "tryPoll",
                  "name", "streamName", "latency"):
            if n not in keep:
                setattr(self, n, None)
        if not self.fixedSettings:
            self.settings = None
        if self.voices == 0:
            raise XMLError("voices must be greater than 0")

    def write(self, w: Writer, tag: str | None = None) -> None:
        if all(getattr(self, f.name) is None for f in self._fields):
            return
        super().write(w, tag)


class AudioInput(AudioIO):
    TAG = "input"


class AudioOutput(AudioIO):
    TAG = "output"


class Audio(Device):
    TAG = "audio"
    KIND = "audios"
    id = Attr(DecInt(0, 2**31 - 1))
    type = Attr(Enum(*AUDIO_TYPES, name="audio type"))
    timerPeriod = Attr(UInt10)
    tryMMap = Attr(YesNo)
    exclusive = Attr(YesNo)
    dspPolicy = Attr(DecInt(-2**31, 2**31 - 1))
    serverName = Attr(String)
    driver = Attr(Enum("esd", "alsa", "arts", "pulseaudio", name="sdl driver"))
    path = Attr(String)
    input = Child(AudioInput)
    output = Child(AudioOutput)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.type is None:
            raise XMLError("missing audio type")
        if self.id is None or self.id == 0:
            raise XMLError("missing audio 'id' attribute" if self.id is None else "audio 'id' must be positive")
        t = self.type
        if t != "oss":
            self.tryMMap = self.exclusive = self.dspPolicy = None
        if t != "pulseaudio":
            self.serverName = None
        if t != "sdl":
            self.driver = None
        if t != "file":
            self.path = None
        for io in (self.input, self.output):
            if io is not None:
                io.finish(t)


# ----------------------------------------------------------------------------- video

VIDEO_TYPES = ("default", "vga", "cirrus", "vmvga", "xen", "vbox", "qxl", "parallels", "virtio", "gop", "none",
               "bochs", "ramfb")


class VideoDriver(Model):
    TAG = "driver"
    iommu = Attr(OnOff)
    ats = Attr(OnOff)
    packed = Attr(OnOff)
    page_per_vq = Attr(OnOff)
    name = Attr(Enum("qemu", "vhostuser", name="video driver name"))
    vgaconf = Attr(Enum("io", "on", "off", name="vgaconf"))


class Acceleration(Model):
    TAG = "acceleration"
    accel3d = Attr(YesNo)
    accel2d = Attr(YesNo)
    rendernode = Attr(String)


class Resolution(Model):
    TAG = "resolution"
    x = Attr(UInt10)
    y = Attr(UInt10)


class VideoModel(Model):
    TAG = "model"
    type = Attr(Enum(*VIDEO_TYPES, name="video model"))
    ram = Attr(UInt10)
    vram = Attr(UInt10)
    vram64 = Attr(UInt10)
    vgamem = Attr(UInt10)
    heads = Attr(UInt10)
    primary = Attr(YesNo)
    blob = Attr(OnOff)
    acceleration = Child(Acceleration)
    resolution = Child(Resolution)


def default_video_ram(video_type: str | None, virt_type: str | None) -> int:
    """libvirt's virDomainVideoDefaultRAM, in KiB."""
    if video_type in ("vga", "cirrus", "vmvga"):
        if virt_type == "vbox":
            return 8 * 1024
        if virt_type == "vmware":
            return 4 * 1024
        return 16 * 1024
    if video_type == "bochs":
        return 16 * 1024
    if video_type == "xen":
        return 4 * 1024
    if video_type == "qxl":
        return 64 * 1024
    if video_type == "parallels":
        return 32 * 1024
    return 0


def round_up_pow2(value: int) -> int:
    return 1 << (value - 1).bit_length() if value > 0 else 0


class Video(Device):
    TAG = "video"
    KIND = "videos"
    driver = Child(VideoDriver)
    model = Child(VideoModel)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.model is None:
            self.model = VideoModel()
        m = self.model
        if m.type is None:
            m.type = "default"
        if m.primary is False:
            m.primary = None
        if m.vram == 0:
            m.vram = None
        if m.ram == 0:
            m.ram = None

    def fill_defaults(self, virt_type: str | None) -> None:
        """Generic RAM defaults (virDomainVideoDefPostParse), once the type is known."""
        m = self.model
        if m.type == "qxl" and not m.ram:
            m.ram = default_video_ram("qxl", virt_type) or None
        if not m.vram:
            m.vram = default_video_ram(m.type, virt_type) or None
        if m.ram:
            m.ram = round_up_pow2(m.ram)
        if m.vram:
            m.vram = round_up_pow2(m.vram)

    def validate(self, ctx: ParseContext) -> None:
        m = self.model
        if m.type != "qxl":
            if m.ram:
                raise XMLError("ram attribute only supported for video type qxl")
            if m.vram64:
                raise XMLError("vram64 attribute only supported for video type qxl")
            if m.vgamem:
                raise XMLError("vgamem attribute only supported for video type qxl")
        if m.type == "none" and self.address is not None and self.address.type != "none":
            raise XMLError("video type 'none' doesn't support addresses")

    @property
    def type(self) -> str | None:
        return self.model.type if self.model is not None else None


# ----------------------------------------------------------------------------- watchdog, balloon, rng, panic

class Watchdog(Device):
    TAG = "watchdog"
    KIND = "watchdogs"
    model = Attr(Enum("i6300esb", "ib700", "diag288", "itco", name="watchdog model"))
    action = Attr(Enum("reset", "shutdown", "poweroff", "pause", "dump", "none", "inject-nmi", name="action"))

    def post_parse(self, ctx: ParseContext) -> None:
        if self.model is None:
            raise XMLError("watchdog must contain model name")
        if self.action is None:
            self.action = "reset"


class Stats(Model):
    TAG = "stats"
    period = Attr(DecInt(-2**31, 2**31 - 1))


class Memballoon(Device):
    TAG = "memballoon"
    KIND = "memballoon"
    AFTER_INFO = ("driver",)
    model = Attr(Enum("virtio", "xen", "none", "virtio-transitional", "virtio-non-transitional",
                      name="memory balloon model"))
    autodeflate = Attr(OnOff)
    freePageReporting = Attr(OnOff)
    stats = Child(Stats)
    driver = Child(VirtioDriver)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.model is None:
            raise XMLError("balloon memory must contain model name")
        if self.stats is not None and (self.stats.period is None or self.stats.period == 0):
            self.stats = None
        if self.stats is not None and self.stats.period < 0:
            self.stats.period = 0

    def validate(self, ctx: ParseContext) -> None:
        if self.model == "none" and self.address is not None and self.address.type != "none":
            pass


class RNGRate(Model):
    TAG = "rate"
    bytes = Attr(UInt10)
    period = Attr(UInt10)

    def validate(self, ctx: ParseContext) -> None:
        if not self.bytes:
            raise XMLError("missing RNG rate bytes")


class RNGBackend(ChrSourceMixin, Model):
    TAG = "backend"
    model = Attr(Enum("random", "egd", "builtin", name="RNG backend model"))
    type = Attr(Enum(*CHR_TYPES, name="character device type"))
    path = Text(String)


class RNG(Device):
    TAG = "rng"
    KIND = "rngs"
    model = Attr(Enum("virtio", "virtio-transitional", "virtio-non-transitional", name="RNG model"))
    rate = Child(RNGRate)
    backend = Child(RNGBackend)
    driver = Child(VirtioDriver)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.model is None:
            raise XMLError("missing RNG device model")
        b = self.backend
        if b is None or b.model is None:
            raise XMLError("missing RNG device backend model")
        if b.model == "egd":
            if b.type is None:
                raise XMLError("missing EGD backend type")
            b.path = None
            b.finish_chr_source(ctx)
        else:
            b.type = None
            b.sources = []
            b.protocol = b.log = None
            if b.model == "builtin":
                b.path = None


class Panic(Device):
    TAG = "panic"
    KIND = "panics"
    model = Attr(Enum("isa", "pseries", "hyperv", "s390", "pvpanic", name="panic model"))


# ----------------------------------------------------------------------------- shmem

class ShmemModel(Model):
    TAG = "model"
    type = Attr(Enum("ivshmem", "ivshmem-plain", "ivshmem-doorbell", name="shmem model"))


class ShmemSize(Model):
    TAG = "size"
    unit = Attr(String)
    value = Text(ULong10)


class ShmemServer(Model):
    TAG = "server"
    path = Attr(String)


class ShmemMSI(Model):
    TAG = "msi"
    enabled = Attr(String)
    vectors = Attr(UInt10)
    ioeventfd = Attr(OnOff)


class Shmem(Device):
    TAG = "shmem"
    KIND = "shmems"
    name = Attr(String)
    role = Attr(Enum("master", "peer", name="shmem role"))
    model = Child(ShmemModel)
    size = Child(ShmemSize)
    server = Child(ShmemServer)
    msi = Child(ShmemMSI)

    def post_parse(self, ctx: ParseContext) -> None:
        if not self.name:
            raise XMLError("shmem element must contain 'name' attribute")
        if self.model is None:
            self.model = ShmemModel(type="ivshmem")
        if self.size is not None and self.size.value is not None:
            nbytes = scale_value(self.size.value, self.size.unit, 1)
            if nbytes & (nbytes - 1):
                raise XMLError("shmem size must be a power of two")
            if nbytes < 1024 * 1024:
                raise XMLError("shmem size must be at least 1 MiB (1024 KiB)")
            self.size.value, self.size.unit = nbytes >> 20, "M"
        if self.msi is not None:
            self.msi.enabled = None


# ----------------------------------------------------------------------------- memory devices

MEMORY_MODELS = ("dimm", "nvdimm", "virtio-pmem", "virtio-mem", "sgx-epc")


class MemSize(KiBSize):
    TAG = "size"


class PageSize(KiBSize):
    TAG = "pagesize"


class AlignSize(KiBSize):
    TAG = "alignsize"


class BlockSize(KiBSize):
    TAG = "block"


class RequestedSize(KiBSize):
    TAG = "requested"


class CurrentSize(KiBSize):
    TAG = "current"


class MemLabel(Model):
    TAG = "label"
    size = Child(MemSize)


class MemorySource(Model):
    TAG = "source"
    nodemask = TextChild(Bitmap)
    pagesize = Child(PageSize)
    path = TextChild(String)
    alignsize = Child(AlignSize)
    pmem = Flag()


class MemoryTarget(Model):
    TAG = "target"
    dynamicMemslots = Attr(YesNo)
    size = Child(MemSize)
    node = TextChild(DecInt(0, 2**31 - 1))
    label = Child(MemLabel)
    readonly = Flag()
    block = Child(BlockSize)
    requested = Child(RequestedSize)
    current = Child(CurrentSize)


class MemoryDevice(Device):
    TAG = "memory"
    KIND = "memories"
    model = Attr(Enum(*MEMORY_MODELS, name="memory model"))
    access = Attr(Enum("shared", "private", name="memory access"))
    discard = Attr(YesNo)
    uuid = TextChild(UUID)
    source = Child(MemorySource)
    target = Child(MemoryTarget)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.model is None:
            raise XMLError("missing memory model")
        if self.target is None:
            raise XMLError("missing memory target")
        if self.target.size is None and self.model != "sgx-epc":
            raise XMLError("missing memory target size")
        if self.model != "nvdimm":
            self.uuid = None
        if self.target.current is not None and ctx.inactive:
            self.target.current = None
        if self.model in ("nvdimm", "virtio-pmem") and (self.source is None or not self.source.path):
            raise XMLError("path is required for model 'nvdimm'" if self.model == "nvdimm"
                           else "path is required for model 'virtio-pmem'")

    @property
    def size_kib(self) -> int:
        t = self.target
        return t.size.kib if t is not None and t.size is not None else 0

    @property
    def node(self) -> int | None:
        return self.target.node if self.target is not None else None


# ----------------------------------------------------------------------------- iommu, vsock, crypto, hub

class IOMMUDriver(Model):
    TAG = "driver"
    intremap = Attr(OnOff)
    caching_mode = Attr(OnOff)
    eim = Attr(OnOff)
    iotlb = Attr(OnOff)
    aw_bits = Attr(UInt10)
    dma_translation = Attr(OnOff)


class IOMMU(Device):
    TAG = "iommu"
    KIND = "iommu"
    model = Attr(Enum("intel", "smmuv3", "virtio", name="iommu model"))
    driver = Child(IOMMUDriver)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.model is None:
            raise XMLError("missing model for IOMMU device")


class CID(Model):
    TAG = "cid"
    auto = Attr(YesNo)
    address = Attr(UInt10)


class Vsock(Device):
    TAG = "vsock"
    KIND = "vsock"
    AFTER_INFO = ("driver",)
    model = Attr(Enum("virtio", "virtio-transitional", "virtio-non-transitional", name="vsock model"))
    cid = Child(CID)
    driver = Child(VirtioDriver)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.cid is not None:
            if self.cid.address == 0:
                self.cid.address = None
            if self.cid.address is not None and self.cid.address < 3:
                raise XMLError("guest CIDs must be >= 3")


class CryptoBackend(Model):
    TAG = "backend"
    model = Attr(Enum("builtin", "lkcf", name="crypto backend model"))
    queues = Attr(UInt10)


class Crypto(Device):
    TAG = "crypto"
    KIND = "cryptos"
    model = Attr(Enum("virtio", name="crypto model"))
    type = Attr(Enum("qemu", name="crypto type"))
    backend = Child(CryptoBackend)
    driver = Child(VirtioDriver)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.model is None:
            raise XMLError("missing crypto device model")
        if self.type is None:
            raise XMLError("missing crypto device type")
        if self.backend is None or self.backend.model is None:
            raise XMLError("missing crypto device backend model")


class Hub(Device):
    TAG = "hub"
    KIND = "hubs"
    type = Attr(Enum("usb", name="hub type"))

    def post_parse(self, ctx: ParseContext) -> None:
        if self.type is None:
            raise XMLError("missing hub device type")


# ----------------------------------------------------------------------------- redirfilter

class _UpperHex(DecInt):
    def __init__(self, width: int, max: int) -> None:
        super().__init__(-1, max)
        self.width = width

    def parse(self, text: str) -> int:
        if text == "-1":
            return -1
        s = text.strip()
        return int(s[2:] if s[:2].lower() == "0x" else s, 16)

    def format(self, value: int) -> str:
        return f"0x{value:0{self.width}X}"


class _USBVersion(DecInt):
    def parse(self, text: str) -> int:
        if text == "-1":
            return -1
        m = re.fullmatch(r"(\d+)(?:\.(\d+))?", text.strip())
        if not m:
            raise ValueError(text)
        major, minor = int(m.group(1)), int(m.group(2) or 0)
        if major > 0xFF or minor > 0xFF:
            raise ValueError(text)
        return (major << 8) | minor

    def format(self, value: int) -> str:
        return f"{value >> 8}.{value & 0xFF:02d}"


class USBDev(Model):
    TAG = "usbdev"
    class_ = Attr(_UpperHex(2, 0xFF), xml="class")
    vendor = Attr(_UpperHex(4, 0xFFFF))
    product = Attr(_UpperHex(4, 0xFFFF))
    version = Attr(_USBVersion())
    allow = Attr(YesNo)

    def post_parse(self, ctx: ParseContext) -> None:
        for n in ("class_", "vendor", "product", "version"):
            if getattr(self, n) == -1:
                setattr(self, n, None)
        if self.allow is None:
            raise XMLError("Missing 'allow' attribute for USB redirection filter")


class Redirfilter(Model):
    TAG = "redirfilter"
    KIND = "redirfilter"
    usbdevs = Children(USBDev)


# ----------------------------------------------------------------------------- tpm

class TPMDevicePath(Model):
    TAG = "device"
    path = Attr(String)


class TPMEncryption(Model):
    TAG = "encryption"
    secret = Attr(UUID)


class PCRBanks(Model):
    TAG = "active_pcr_banks"
    sha1 = Flag()
    sha256 = Flag()
    sha384 = Flag()
    sha512 = Flag()


class TPMSource(Model):
    TAG = "source"
    type = Attr(String)
    mode = Attr(String)
    path = Attr(String)


class TPMBackend(Model):
    TAG = "backend"
    type = Attr(Enum("passthrough", "emulator", "external", name="TPM backend type"))
    version = Attr(Enum("1.2", "2.0", name="TPM version"))
    persistent_state = Attr(YesNo)
    device = Child(TPMDevicePath)
    source = Child(TPMSource)
    encryption = Child(TPMEncryption)
    active_pcr_banks = Child(PCRBanks)


class TPM(Device):
    TAG = "tpm"
    KIND = "tpms"
    model = Attr(Enum("tpm-tis", "tpm-crb", "tpm-spapr", "spapr-tpm-proxy", name="TPM model"))
    backend = Child(TPMBackend)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.model is None:
            self.model = "tpm-tis"
        b = self.backend
        if b is None or b.type is None:
            raise XMLError("missing TPM device backend type" if b is not None else "missing TPM device backend")
        if b.type == "passthrough":
            if b.device is None:
                b.device = TPMDevicePath(path="/dev/tpm0")
            elif b.device.path is None:
                b.device.path = "/dev/tpm0"
            b.version = b.persistent_state = None
            b.source = b.encryption = b.active_pcr_banks = None
        elif b.type == "emulator":
            b.device = b.source = None
            if b.version is None:
                b.version = "2.0"
            if b.active_pcr_banks is not None and b.version != "2.0":
                raise XMLError("Active PCR banks are only supported for TPM 2.0")
        else:
            b.device = b.encryption = b.active_pcr_banks = None
            b.version = b.persistent_state = None
            if b.source is None or b.source.type != "unix" or not b.source.path:
                raise XMLError("missing TPM external backend source path" if b.source is not None else
                               "missing TPM external backend source")


# ----------------------------------------------------------------------------- nvram (device)

class NVRAMDevice(Device):
    TAG = "nvram"
    KIND = "nvram"
