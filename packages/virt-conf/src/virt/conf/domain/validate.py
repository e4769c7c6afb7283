"""libvirt's generic domain validation (what virDomainDefValidate rejects), run after all defaults."""

from __future__ import annotations

from itertools import repeat
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from virt.conf.domain.address import is_user_alias
from virt.util.errors import (
    ConfigUnsupportedError,
    ErrorNumber,
    InternalError,
    VirtError,
    XMLError,
)

if TYPE_CHECKING:
    from virt.conf.domain.core import Domain

VIRTIO_MODELS = ("virtio", "virtio-transitional", "virtio-non-transitional")
_AUTH_PROTOCOLS = ("iscsi", "http", "https", "ftp", "ftps", "ssh", "rbd")
_SECRET_USAGES = ("none", "volume", "ceph", "iscsi", "tls", "vtpm")
_DISK_PREFIXES = ("hd", "sd", "vd", "xvd", "ubd")
_ALIAS_NAME = attrgetter("name")


def detail(message: str) -> VirtError:
    """VIR_ERR_XML_DETAIL: the message alone."""
    return VirtError(code=ErrorNumber.XML_DETAIL, message=message)


def _virtio_options_absent(driver: Any) -> None:
    # (the common case first, without the loop: no such option given)
    if driver is None or (getattr(driver, "iommu", None) is None and getattr(driver, "ats", None) is None
                          and getattr(driver, "packed", None) is None
                          and getattr(driver, "page_per_vq", None) is None):
        return
    for name, label in (("iommu", "iommu driver option"), ("ats", "ats driver option"),
                        ("packed", "packed driver option"), ("page_per_vq", "page_per_vq option")):
        if getattr(driver, name, None) is not None:
            raise ConfigUnsupportedError(f"{label} is only supported for virtio devices")


def validate_domain(dom: Domain) -> None:
    devs = dom.devices
    for disk in devs.disks:
        _disk(dom, disk)
    for net in devs.interfaces:
        _interface(net)
    for hd in devs.hostdevs:
        _hostdev(hd)
    _hostdevs(devs.hostdevs)
    for mem in devs.memories:
        _memory(dom, mem)
    for inp in devs.inputs:
        _input(dom, inp)
    for shm in devs.shmems:
        if "/" in shm.name:
            raise ConfigUnsupportedError("shmem name cannot include '/' character")
        if shm.name in (".", ".."):
            raise ConfigUnsupportedError(f"shmem name cannot be equal to '{shm.name}'")
    _filesystems(devs.filesystems)
    _audio(dom)
    for v in devs.videos:
        _video(dom, v)
    for c in devs.controllers:
        _controller(c)
    if devs.redirdevs and not any(c.type == "usb" and c.model != "none" for c in devs.controllers):
        raise ConfigUnsupportedError("cannot add redirected USB device: USB is disabled for this domain")
    for iommu in devs.iommus:
        drv = iommu.driver
        if iommu.model in ("smmuv3", "virtio") and drv is not None and any(
                getattr(drv, n) is not None for n in ("intremap", "caching_mode", "eim", "iotlb", "aw_bits")):
            raise XMLError(f"iommu model '{iommu.model}' doesn't support additional attributes")
        if drv is not None:
            ioapic = dom.features.ioapic.driver if dom.features is not None and dom.features.ioapic else None
            if drv.intremap and ioapic != "qemu":
                raise ConfigUnsupportedError("IOMMU interrupt remapping requires split I/O APIC "
                                             "(ioapic driver='qemu')")
            if drv.eim and not drv.intremap:
                raise ConfigUnsupportedError("IOMMU eim requires interrupt remapping to be enabled")
    for g in devs.graphics:
        if g.type == "dbus" and g.p2p and g.address:
            raise XMLError("D-Bus p2p with an address is not supported")
    _lifecycle(dom)
    _os(dom)
    if dom.idmap is not None and bool(dom.idmap.uids) != bool(dom.idmap.gids):
        raise ConfigUnsupportedError("uid and gid should be mapped both")
    _aliases(dom)


def _disk(dom: Domain, disk: Any) -> None:
    # (the disk's fields are read into locals once and its properties (dev, bus, image_format) are
    # read through the target and driver directly: this runs for every disk)
    src = disk.source
    dtype = disk.type
    device = disk.device
    if dtype == "network" and src is not None and (disk.auth or src.auth) is not None:
        auth = disk.auth or src.auth
        if src.protocol not in _AUTH_PROTOCOLS:
            raise ConfigUnsupportedError(f"authentication is not supported for protocol '{src.protocol}'")
        usage = auth.secret.type if auth.secret is not None else None
        if usage not in _SECRET_USAGES:
            raise ConfigUnsupportedError(f"unknown secret type '{usage if usage is not None else '<null>'}'")
    top_enc = disk.encryption
    layer: Any = disk
    lsrc = src
    while True:
        enc = lsrc.encryption if lsrc is not None else None
        if lsrc is src and top_enc is not None:
            enc = top_enc
        if enc is not None and enc.format == "luks" and enc.cipher is not None:
            raise ConfigUnsupportedError("supplying <cipher> for domain disk definition is unnecessary")
        bs = layer.backingStore
        if bs is None or bs.is_terminator:
            break
        layer, lsrc = bs, bs.source
    drv = disk.driver
    if device == "lun":
        fmt = drv.type if drv is not None else None
        if dtype == "network":
            if src is not None and src.protocol != "iscsi":
                raise ConfigUnsupportedError(f"disk device='lun' is not supported for protocol='{src.protocol}'")
        elif dtype not in ("block", "volume"):
            raise ConfigUnsupportedError("disk device='lun' is only valid for block type disk source")
        if fmt not in (None, "raw", "none"):
            raise ConfigUnsupportedError("disk device 'lun' must use 'raw' format")
        if src is not None and src.slices is not None:
            raise ConfigUnsupportedError("disk device 'lun' doesn't support storage slice")
        enc = top_enc or (src.encryption if src is not None else None)
        if enc is not None and enc.format not in (None, "default"):
            raise ConfigUnsupportedError("disk device 'lun' doesn't support encryption")
    policy = src.startupPolicy if src is not None else None
    if policy is not None:
        if dtype not in ("file", "block", "dir", "volume"):
            raise XMLError(f"disk startupPolicy '{policy}' is not allowed for disk of '{dtype}' type")
        if device not in ("cdrom", "floppy") and policy == "requisite":
            raise XMLError("disk startupPolicy 'requisite' is allowed only for cdrom or floppy")
    tgt = disk.target
    if drv is not None and (tgt.bus if tgt is not None else None) != "virtio":
        if drv.queue_size:
            raise ConfigUnsupportedError("queue_size attribute in disk driver is only supported for virtio bus")
        if drv.event_idx is not None:
            raise ConfigUnsupportedError("disk event_idx mode supported only for virtio bus")
        if drv.ioeventfd is not None:
            raise ConfigUnsupportedError("disk ioeventfd mode supported only for virtio bus")
        _virtio_options_absent(drv)
    if dtype == "vhostuser":
        _vhostuser_disk(disk)
    dev = tgt.dev if tgt is not None else ""
    if device == "disk":
        if not dev.startswith(_DISK_PREFIXES):
            raise InternalError(f"Invalid harddisk device name: {dev}")
        if src is None or src.is_empty():
            raise VirtError(dev, code=ErrorNumber.NO_SOURCE)
    elif device == "lun":
        if not dev.startswith(_DISK_PREFIXES):
            raise InternalError(f"Invalid harddisk device name: {dev}")
    elif device == "floppy" and not dev.startswith("fd"):
        raise InternalError(f"Invalid floppy device name: {dev}")


def _vhostuser_disk(disk: Any) -> None:
    if disk.bus != "virtio":
        raise ConfigUnsupportedError("vhostuser disk supports only virtio bus")
    if disk.snapshot != "no":
        raise ConfigUnsupportedError("only snapshot=no is supported with vhostuser disk")
    drv = disk.driver
    if drv is not None:
        for attr, what in (("cache", "cache"), ("error_policy", "error_policy"), ("rerror_policy", "error_policy"),
                           ("io", "io"), ("ioeventfd", "ioeventfd"), ("copy_on_read", "copy_on_read"),
                           ("discard", "discard"), ("iothread", "iothread"), ("detect_zeroes", "detect_zeroes"),
                           ("metadata_cache", "metadata_cache")):
            if getattr(drv, attr) is not None:
                raise ConfigUnsupportedError(f"{what} is not supported with vhostuser disk")
    for attr, what in (("iotune", "iotune"), ("backingStore", "backingStore"), ("encryption", "encryption"),
                       ("transient", "transient"), ("serial", "serial"), ("wwn", "wwn"), ("vendor", "vendor"),
                       ("product", "product"), ("auth", "auth"), ("geometry", "geometry"),
                       ("blockio", "blockio")):
        if getattr(disk, attr) not in (None, False):
            raise ConfigUnsupportedError(f"{what} is not supported with vhostuser disk")
    if disk.readonly:
        raise ConfigUnsupportedError("readonly is not supported with vhostuser disk")
    if disk.shareable:
        raise ConfigUnsupportedError("shareable is not supported with vhostuser disk")


def _interface(net: Any) -> None:
    mac = net.mac_address
    src = net.source
    if src is not None and (src.ips or src.routes) and net.type != "ethernet":
        raise ConfigUnsupportedError(
            "Invalid attempt to set network interface host-side IP route and/or address info on interface of "
            f"type '{net.type}'. This is only supported on interfaces of type 'ethernet'")
    if net.target is not None and net.target.managed is False and net.type != "ethernet":
        raise ConfigUnsupportedError(f"unmanaged target dev is not supported on interfaces of type '{net.type}'")
    t = net.teaming
    if t is not None:
        if t.type == "transient" and not t.persistent:
            raise ConfigUnsupportedError("teaming persistent attribute must be set if teaming type is 'transient'")
        if t.type != "transient" and t.persistent:
            raise ConfigUnsupportedError(f"teaming persistent attribute not allowed if teaming type is '{t.type}'")
    if net.port is not None and net.port.isolated:
        if net.type not in ("network", "bridge"):
            raise ConfigUnsupportedError(f"interface {mac} - <port isolated='yes'/> is not supported for network "
                                         f"interfaces with type='{net.type}'")
        if net.virtualport is not None and net.virtualport.type is not None:
            raise ConfigUnsupportedError(f"interface {mac} - <port isolated='yes'/> is not supported for network "
                                         f"interfaces with virtualport type='{net.virtualport.type}'")
    if not net.is_virtio():
        _virtio_options_absent(net.driver)
    passt = net.backend is not None and net.backend.type == "passt"
    if net.type != "user" and passt:
        raise InternalError("The 'passt' backend can only be used with interface type='user'")
    if net.portForwards and not (net.type == "user" and passt):
        raise ConfigUnsupportedError("The <portForward> element can only be used with <interface type='user'> "
                                     "and its 'passt' backend")
    if net.type == "vhostuser":
        if not net.is_virtio():
            raise InternalError("Wrong or no <model> 'type' attribute specified with <interface type='vhostuser'/>."
                                " vhostuser requires the virtio-net* frontend")
        if src is not None and src.mode == "server" and src.reconnect is not None and src.reconnect.enabled:
            raise ConfigUnsupportedError("'reconnect' attribute unsupported 'server' mode for "
                                         "<interface type='vhostuser'>")
    if net.type == "user" and passt:
        for pf in net.portForwards:
            for r in pf.ranges:
                if not r.start and (r.end or r.to or r.exclude is not None):
                    raise ConfigUnsupportedError("The 'range' of a 'portForward' requires 'start' attribute if "
                                                 "'end', 'to', or 'exclude' is specified")


def _hostdev(hd: Any) -> None:
    atype = hd.address.type if hd.address is not None else "none"
    if hd.mode == "subsystem":
        if hd.type == "pci" and atype not in ("none", "unassigned", "pci"):
            raise InternalError("PCI host devices must use 'pci' or 'unassigned' address type")
        if hd.type == "scsi" and atype not in ("none", "drive"):
            raise ConfigUnsupportedError("SCSI host device must use 'drive' address type")
        if hd.type == "scsi_host" and atype not in ("none", "pci", "ccw"):
            raise ConfigUnsupportedError("SCSI_host host device must use 'pci' or 'ccw' address type")
        if hd.type == "usb" and atype not in ("none", "usb"):
            raise ConfigUnsupportedError("USB host device must use 'usb' address type")
    t = hd.teaming
    if t is not None:
        if t.type != "transient":
            raise ConfigUnsupportedError("teaming hostdev devices must have type='transient'")
        if not t.persistent:
            raise ConfigUnsupportedError("missing required persistent attribute in hostdev teaming element")
        if hd.mode != "subsystem" or hd.type != "pci":
            raise ConfigUnsupportedError("teaming is only supported for pci hostdev devices")


def _hostdevs(hostdevs: list[Any]) -> None:
    ramfb = False
    for hd in hostdevs:
        if hd.type == "mdev" and hd.ramfb == "on":
            if ramfb:
                raise ConfigUnsupportedError("Only one vgpu device can have 'ramfb' enabled")
            ramfb = True


def _memory(dom: Domain, mem: Any) -> None:
    node = mem.node
    ncells = len(dom.cpu.numa.cells) if dom.has_numa else 0
    if node is not None:
        if ncells == 0:
            raise detail("can't add memory backend as guest has no NUMA nodes configured")
        if node >= ncells:
            raise detail(f"can't add memory backend for guest node '{node}' as the guest has only '{ncells}' "
                         "NUMA nodes configured")
    src, tgt = mem.source, mem.target
    if mem.model == "nvdimm":
        if mem.discard:
            raise ConfigUnsupportedError("discard is not supported for nvdimms")
        if (dom.os.arch or "").startswith("ppc64"):
            if tgt.label is None or tgt.label.size is None or not tgt.label.size.value:
                raise ConfigUnsupportedError("label size is required for NVDIMM device")
        elif mem.uuid is not None:
            raise ConfigUnsupportedError("UUID is not supported for NVDIMM device")
    elif mem.model == "virtio-pmem":
        if mem.discard:
            raise ConfigUnsupportedError("discard is not supported for model 'virtio-pmem'")
        if mem.access != "shared":
            raise ConfigUnsupportedError("shared access mode required for virtio-pmem device")
        if node is not None:
            raise ConfigUnsupportedError("virtio-pmem does not support NUMA nodes")
    elif mem.model == "virtio-mem":
        size = tgt.size.kib if tgt.size is not None else 0
        req = tgt.requested.kib if tgt.requested is not None else 0
        block = tgt.block.kib if tgt.block is not None else 0
        if req > size:
            raise detail(f"requested size must be smaller than or equal to @size ({size}KiB)")
        if block & (block - 1) or not block:
            raise detail("block size must be a power of two")
        if block < 2048:
            raise detail("block size too small, must be at least 2048KiB")
        if req % block:
            raise detail("requested size must be an integer multiple of block size")
    elif mem.model == "sgx-epc" and mem.address is not None and mem.address.type != "none":
        raise ConfigUnsupportedError("memory device address is not supported for model 'sgx-epc'")
    _ = src


def _input(dom: Domain, inp: Any) -> None:
    os_type = dom.os.os_type
    if os_type == "hvm":
        if inp.bus == "ps2" and inp.type not in ("mouse", "keyboard"):
            raise InternalError(f"ps2 bus does not support {inp.type} input device")
        if inp.bus == "xen":
            raise InternalError(f"unsupported input bus {inp.bus}")
    elif os_type in ("xen", "xenpvh"):
        if inp.bus != "xen":
            raise InternalError(f"unsupported input bus {inp.bus}")
        if inp.type not in ("mouse", "keyboard"):
            raise InternalError(f"xen bus does not support {inp.type} input device")
    elif dom.type in ("vz", "parallels"):
        if inp.bus != "parallels":
            raise InternalError(f"parallels containers don't support input bus {inp.bus}")
        if inp.type not in ("mouse", "keyboard"):
            raise InternalError(f"parallels bus does not support {inp.type} input device")
    else:
        raise InternalError("Input devices are not supported by this virtualization driver.")
    if inp.type == "passthrough" and inp.bus != "virtio":
        raise ConfigUnsupportedError("only bus 'virtio' is supported for 'passthrough' input devices")
    if inp.type == "evdev" and inp.bus not in (None, "none"):
        raise ConfigUnsupportedError("input evdev doesn't support bus element")
    if inp.model in VIRTIO_MODELS and inp.bus != "virtio":
        raise ConfigUnsupportedError(f"only bus 'virtio' is supported for input model '{inp.model}'")


def _filesystems(fss: list[Any]) -> None:
    seen: set[str] = set()
    for fs in fss:
        virtiofs = fs.driver is not None and fs.driver.type == "virtiofs"
        if fs.boot is not None and not virtiofs:
            raise ConfigUnsupportedError("boot order is only supported for virtiofs")
        if virtiofs:
            if fs.target_dir in seen:
                raise ConfigUnsupportedError(f"filesystem target '{fs.target_dir}' specified twice")
            seen.add(fs.target_dir)


def _audio(dom: Domain) -> None:
    devs = dom.devices
    ids: set[int] = set()
    for a in devs.audios:
        if a.id in ids:
            raise XMLError(f"audio ID {a.id} is used multiple times")
        ids.add(a.id)
    refs = [s.audio.id for s in devs.sounds if s.audio is not None and s.audio.id]
    refs += [g.audio.id for g in devs.graphics if g.type == "vnc" and g.audio is not None and g.audio.id]
    for ref in refs:
        if ref not in ids:
            raise XMLError(f"no audio device with ID {ref}")


def _video(dom: Domain, v: Any) -> None:
    m = v.model
    # a video left at type 'default' is for the driver to resolve (libvirt's drivers fail when they cannot)
    if m.type == "none" and len(dom.devices.videos) > 1:
        raise ConfigUnsupportedError("a 'none' video type must be the only video device defined for the domain")
    backend = v.driver.name if v.driver is not None else None
    if backend == "vhostuser" and m.type != "virtio":
        raise ConfigUnsupportedError("'vhostuser' driver is only supported with 'virtio' device")
    if backend != "vhostuser" and m.acceleration is not None and m.acceleration.rendernode:
        raise ConfigUnsupportedError("unsupported rendernode accel attribute without 'vhostuser'")
    if m.resolution is not None and (not m.resolution.x or not m.resolution.y):
        raise ConfigUnsupportedError("video resolution values must be greater than 0")
    if m.type == "ramfb" and v.address is not None and v.address.type != "none":
        raise ConfigUnsupportedError("address not supported for video type ramfb")
    if m.type != "virtio":
        _virtio_options_absent(v.driver)
        if m.blob is not None:
            raise ConfigUnsupportedError(f"video type '{m.type}' does not support blob resources")


def _controller(c: Any) -> None:
    if c.type != "pci":
        return
    if c.model in ("pci-root", "pcie-root") and c.address is not None and c.address.type != "none":
        raise ConfigUnsupportedError("pci-root and pcie-root controllers should not have an address")
    if c.index is not None and c.index > 255:
        raise ConfigUnsupportedError(f"PCI controller index {c.index} too high, maximum is 255")
    t = c.target
    if t is None:
        return
    if t.index is not None:
        if not 0 <= t.index <= 30:
            raise ConfigUnsupportedError(f"PCI controller target index '{t.index}' out of range - must be 0-30")
        if (c.index == 0) != (t.index == 0):
            raise ConfigUnsupportedError("Only the PCI controller with index 0 can have target index 0, "
                                         "and vice versa")
    for name, lo, hi in (("chassisNr", 1, 255), ("chassis", 0, 255), ("port", 0, 255), ("busNr", 1, 254)):
        v = getattr(t, name)
        if v is not None and not lo <= v <= hi:
            raise ConfigUnsupportedError(f"PCI controller {name} '{v}' out of range - must be {lo}-{hi}")
    if t.node is not None and c.index == 0:
        raise ConfigUnsupportedError("The PCI controller with index=0 can't be associated with a NUMA node")


def _lifecycle(dom: Domain) -> None:
    for event, action in (("poweroff", dom.on_poweroff), ("reboot", dom.on_reboot)):
        if action in ("coredump-destroy", "coredump-restart"):
            raise ConfigUnsupportedError(f"Lifecycle event '{event}' doesn't support '{action}' action")


def _os(dom: Domain) -> None:
    os_ = dom.os
    loader = os_.loader
    feats = {f.name: f.enabled for f in os_.firmware_features.features} if os_.firmware_features else {}
    if os_.firmware is not None:
        if feats.get("enrolled-keys") is True and feats.get("secure-boot") is False:
            raise detail("firmware feature 'enrolled-keys' cannot be enabled when firmware feature 'secure-boot' "
                         "is disabled")
        if loader is None:
            return
        if os_.nvram is not None and os_.firmware != "efi":
            raise detail(f"firmware type '{os_.firmware}' does not support nvram")
    else:
        if feats:
            raise detail("cannot use feature-based firmware autoselection when firmware autoselection is disabled")
        if loader is None:
            return
        if not loader.path:
            raise detail("no loader path specified and firmware auto selection disabled")
    if loader.stateless is True:
        if os_.nvram is not None and os_.nvram.template:
            raise detail("NVRAM template is not permitted when loader is stateless")
        if os_.nvram is not None and (os_.nvram.path or os_.nvram.source is not None):
            raise detail("NVRAM is not permitted when loader is stateless")
    elif loader.stateless is False:
        if os_.firmware is None and loader.type != "pflash":
            raise detail("Only pflash loader type permits NVRAM")
        if os_.firmware is not None and os_.firmware != "efi":
            raise detail("Only EFI firmware permits NVRAM")


def _aliases(dom: Domain) -> None:
    devs = dom.devices
    # the first console aliasing serial 0 carries the serial's alias: not a duplicate
    aliasing = None
    if devs.consoles and devs.serials:
        con = devs.consoles[0]
        if con.target is not None and con.target.type == "serial":
            aliasing = con
    if aliasing is None or aliasing.__dict__["alias"] is None:
        # (the common case, in C-level loops: every device's alias name that is a user alias, and
        # nothing more to do when none repeats; redirfilters have no alias field, hence getattr's default)
        names = list(filter(is_user_alias, map(
            _ALIAS_NAME, filter(None, map(getattr, devs.all_now(), repeat("alias"), repeat(None))))))
        if len(set(names)) == len(names):
            return
    seen: set[str] = set()
    for dev in devs:
        alias = dev.__dict__.get("alias")  # (every kind but redirfilter has the field)
        if alias is None or dev is aliasing:
            continue
        name = alias.name
        if not is_user_alias(name):
            continue
        if name in seen:
            raise ConfigUnsupportedError(f"non unique alias detected: {name}")
        seen.add(name)
