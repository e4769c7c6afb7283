"""Domain -> VMX: the .vmx file libvirt's VMware/ESX driver writes for a domain (virVMXFormatConfig)."""

from __future__ import annotations

from virt.driver.esx.vmx.context import VMXContext
from virt.driver.esx.vmx.domain import (
    SCSI_CONTROLLER_UNIT,
    ChrDef,
    DiskDef,
    DomainDef,
    NetDef,
    default_drive_address,
    disk_name_to_index,
    find_controller,
)
from virt.driver.esx.vmx.names import (
    NET_MODELS_TO_VMX,
    PERCENT_SPECIALS,
    PIPE_SPECIALS,
    SCSI_MODELS_FROM_VMX,
    SCSI_MODELS_TO_VMX,
    SERIAL_PROTOCOLS_TO_VMX,
    escape_hex,
)
from virt.util.errors import ConfigUnsupportedError, InternalError, VirtError
from virt.util.ident import parse_mac

#: <controller model> values the VMware SCSI controllers have.
_SCSI_MODELS = tuple(SCSI_MODELS_TO_VMX)
#: Entries written when virtualHW.version >= 7 and a SCSI controller exists (the PCIe root ports
#: VMware adds for them).
_PCI_BRIDGES = (("pciBridge0.present", "true"),
                *((f"pciBridge{n}.{k}", v) for n in (4, 5, 6, 7)
                  for k, v in (("present", "true"), ("virtualDev", "pcieRootPort"), ("functions", "8"))))


#: Highest controller, bus and unit of a drive address on each bus VMX has, as libvirt words the ranges.
_DRIVE_LIMITS = {"scsi": ((3, "[0..3]"), (0, "[0]"), (15, "[0..6,8..15]")),
                 "ide": ((0, "[0]"), (1, "[0..1]"), (1, "[0..1]")),
                 "fdc": ((0, "[0]"), (0, "[0]"), (1, "[0..1]"))}


class _VMX:
    """The lines of a .vmx file, in order."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def set(self, name: str, value: object) -> None:
        self.lines.append(f'{name} = "{value}"')

    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)


def format_config(ctx: VMXContext, dom: DomainDef, virtual_hw_version: int) -> str:
    if ctx.format_file_name is None:
        raise InternalError("virVMXContext has no formatFileName function set")
    if dom.virt_type != "vmware":
        raise InternalError(f"Expecting virt type to be 'vmware' but found '{dom.virt_type}'")
    vmx = _VMX()
    vmx.set(".encoding", "UTF-8")
    vmx.set("config.version", 8)
    vmx.set("virtualHW.version", virtual_hw_version)
    arch = dom.arch or "i686"
    if arch == "i686":
        vmx.set("guestOS", "other")
    elif arch == "x86_64":
        vmx.set("guestOS", "other-64")
    else:
        raise InternalError("Expecting domain XML attribute 'arch' of entry 'os/type' to be 'i686' or 'x86_64' "
                            f"but found '{arch}'")
    if dom.smbios_mode == "host":
        vmx.set("smbios.reflecthost", "true")
    elif dom.smbios_mode not in (None, "none", "emulate"):
        raise ConfigUnsupportedError(f"Unsupported SMBIOS mode '{dom.smbios_mode}'")

    if dom.uuid.int == 0:
        vmx.set("uuid.action", "create")
    else:
        raw = dom.uuid.bytes
        vmx.set("uuid.bios", " ".join(f"{b:02x}" for b in raw[:8]) + "-" + " ".join(f"{b:02x}" for b in raw[8:]))
    vmx.set("displayName", escape_hex(escape_hex(dom.name or "", "|", PIPE_SPECIALS), "%", PERCENT_SPECIALS))
    if dom.description is not None:
        vmx.set("annotation", escape_hex(dom.description, "|", PIPE_SPECIALS))

    _format_memory(vmx, dom)
    _format_cpus(vmx, dom)
    for gr in dom.graphics:
        if gr.type != "vnc":
            raise ConfigUnsupportedError(f"Unsupported graphics type '{gr.type}'")
        vmx.set("RemoteDisplay.vnc.enabled", "true")
        if not gr.autoport:  # an automatically chosen port could not be read back
            vmx.set("RemoteDisplay.vnc.port", gr.port)
        if gr.listen:
            vmx.set("RemoteDisplay.vnc.ip", gr.listen)
        if gr.keymap is not None:
            vmx.set("RemoteDisplay.vnc.keymap", gr.keymap)
        if gr.passwd is not None:
            vmx.set("RemoteDisplay.vnc.password", gr.passwd)

    has_scsi = _format_disks(ctx, vmx, dom)

    if dom.filesystems:
        vmx.set("isolation.tools.hgfs.disable", "false")
        vmx.set("sharedFolder.maxNum", len(dom.filesystems))
    for number, fs in enumerate(dom.filesystems):
        if fs.type != "mount":
            raise ConfigUnsupportedError("Only 'mount' filesystem type is supported")
        prefix = f"sharedFolder{number}"
        vmx.set(f"{prefix}.present", "true")
        vmx.set(f"{prefix}.enabled", "true")
        vmx.set(f"{prefix}.readAccess", "true")
        vmx.set(f"{prefix}.writeAccess", "false" if fs.readonly else "true")
        vmx.set(f"{prefix}.hostPath", fs.src)
        vmx.set(f"{prefix}.guestName", fs.dst)

    for index, net in enumerate(dom.nets):
        _format_ethernet(vmx, net, index, virtual_hw_version)

    if len(dom.videos) > 1:
        raise InternalError("No support for multiple video devices")
    for video in dom.videos:
        if video.type != "vmvga":
            raise ConfigUnsupportedError(f"Unsupported video device type '{video.type}'")
        if video.heads > 1:
            raise ConfigUnsupportedError("Multi-head video devices are unsupported")
        # VRAM in whole 64 KiB steps: Windows guests need it (VMware KB 1003, 1001558).
        vmx.set("svga.vramSize", -(-(video.vram or 0) // 64) * 64 * 1024)

    for chr_ in dom.serials:
        _format_serial(ctx, vmx, chr_)
    for chr_ in dom.parallels:
        _format_parallel(ctx, vmx, chr_)

    if dom.firmware == "efi":
        vmx.set("firmware", "efi")
    if virtual_hw_version >= 7:
        if has_scsi:
            for name, value in _PCI_BRIDGES:
                vmx.set(name, value)
        vmx.set("vmci0.present", "true")
    return vmx.text()


def _format_memory(vmx: _VMX, dom: DomainDef) -> None:
    # memsize is whole MiB and a multiple of 4.
    max_balloon = -(-dom.memory // 4096) * 4096
    vmx.set("memsize", max_balloon // 1024)
    if dom.current_memory < max_balloon:
        vmx.set("sched.mem.max", -(-dom.current_memory // 1024))
    if dom.min_guarantee > 0:
        vmx.set("sched.mem.minsize", -(-dom.min_guarantee // 1024))


def _format_cpus(vmx: _VMX, dom: DomainDef) -> None:
    if dom.current_vcpus is not None and dom.current_vcpus != dom.vcpus:
        raise ConfigUnsupportedError("No support for domain XML entry 'vcpu' attribute 'current'")
    if dom.vcpus == 0:
        raise InternalError("Expecting domain XML entry 'vcpu' to be greater than 0")
    vmx.set("numvcpus", dom.vcpus)
    if dom.has_cpu:
        if dom.cpu_mode not in (None, "custom"):
            raise InternalError(f"Expecting domain XML CPU mode 'custom' but found '{dom.cpu_mode}'")
        topo = dom.topology
        sockets, dies, cores, threads = ((topo.sockets, topo.dies, topo.cores, topo.threads)
                                         if topo is not None else (0, 0, 0, 0))
        if threads != 1:
            raise ConfigUnsupportedError("Only 1 thread per core is supported")
        if dies != 1:
            raise ConfigUnsupportedError("Only 1 die per socket is supported")
        if sockets * cores != dom.vcpus:
            raise InternalError(f"Expecting domain XML CPU sockets per core as {dom.vcpus} but found "
                                f"{sockets * cores}")
        vmx.set("cpuid.coresPerSocket", cores)
    if dom.cpuset:
        if len(dom.cpuset) < dom.vcpus:
            raise InternalError("Expecting domain XML attribute 'cpuset' of entry 'vcpu' to contain at least "
                                f"{dom.vcpus} CPU(s)")
        vmx.set("sched.cpu.affinity", ",".join(str(cpu) for cpu in sorted(dom.cpuset)))
    if dom.shares is not None:
        level = {dom.vcpus * 500: "low", dom.vcpus * 1000: "normal", dom.vcpus * 2000: "high"}
        vmx.set("sched.cpu.shares", level.get(dom.shares, dom.shares))


# ---------------------------------------------------------------------------------------------- disks

def _format_disks(ctx: VMXContext, vmx: _VMX, dom: DomainDef) -> bool:
    """Controllers, disks and floppies; whether any SCSI controller was written."""
    for disk in dom.disks:
        _verify_disk_address(dom, disk)
        _legacy_scsi_driver_name(dom, disk)
    scsi_models = _gather_scsi_controllers(ctx, dom)
    for index in range(4):
        if index in scsi_models:
            vmx.set(f"scsi{index}.present", "true")
            model = scsi_models[index]
            if model is not None:
                vmx.set(f"scsi{index}.virtualDev", SCSI_MODELS_TO_VMX[model])
    floppies = [False, False]
    for disk in dom.disks:
        if disk.device == "floppy":
            _format_floppy(ctx, vmx, disk, floppies)
        elif disk.device in ("disk", "cdrom", "lun"):
            _format_disk(ctx, vmx, disk)
        else:
            raise ConfigUnsupportedError(f"Unsupported disk device type '{disk.device}'")
    for unit in range(2):
        if not floppies[unit]:  # floppyN.present defaults to true
            vmx.set(f"floppy{unit}.present", "false")
    return bool(scsi_models)


def _verify_disk_address(dom: DomainDef, disk: DiskDef) -> None:
    if disk.address is None or disk.address_type not in (None, "drive"):
        raise ConfigUnsupportedError(f"Unsupported disk address type '{disk.address_type or 'none'}'")
    try:
        expected = default_drive_address(dom, disk)
    except VirtError:
        raise InternalError("Could not verify disk address") from None
    a = disk.address
    if (expected.controller, expected.bus, expected.unit) != (a.controller, a.bus, a.unit):
        raise InternalError(f"Disk address {a.controller}:{a.bus}:{a.unit} doesn't match target device "
                            f"'{disk.dst}'")
    limits = _DRIVE_LIMITS.get(disk.bus)
    if limits is None:
        raise ConfigUnsupportedError(f"Unsupported bus type '{disk.bus}'")
    for what, value, (highest, text) in zip(("controller", "bus", "unit"), (a.controller, a.bus, a.unit), limits):
        if value > highest or (disk.bus == "scsi" and what == "unit" and value == SCSI_CONTROLLER_UNIT):
            raise InternalError(f"{disk.bus.upper()} {what} index {value} out of {text} range")


def _legacy_scsi_driver_name(dom: DomainDef, disk: DiskDef) -> None:
    """Old XML named the SCSI controller model in the disk's <driver name=...>."""
    if disk.bus != "scsi" or not disk.driver_name:
        return
    model = disk.driver_name.lower()
    known = {*SCSI_MODELS_FROM_VMX.values(), "auto", "ibmvscsi", "virtio-scsi", "lsisas1078",
             "virtio-transitional", "virtio-non-transitional", "ncr53c90", "am53c974", "dc390"}
    if model not in known:
        raise InternalError(f"Unknown driver name '{disk.driver_name}'")
    assert disk.address is not None
    ctrl = find_controller(dom, "scsi", disk.address.controller)
    if ctrl is None:
        raise InternalError(f"Missing SCSI controller for index {disk.address.controller}")
    if ctrl.model is None:
        ctrl.model = model
    elif ctrl.model != model:
        raise InternalError(f"Inconsistent SCSI controller model ('{disk.driver_name}' is not '{ctrl.model}') for "
                            f"SCSI controller index {ctrl.index}")


def _gather_scsi_controllers(ctx: VMXContext, dom: DomainDef) -> dict[int, str | None]:
    """Index -> model of every SCSI controller that has disks."""
    found: dict[int, str | None] = {}
    for ctrl in dom.controllers:
        if ctrl.type != "scsi":
            continue
        disks = [d for d in dom.disks if d.bus == "scsi" and d.address is not None
                 and d.address.controller == ctrl.index]
        if not disks:
            continue
        # Only an explicit model='auto' asks the context; no model at all writes no virtualDev.
        if ctrl.model == "auto" and ctx.autodetect_scsi_model is not None:
            models = {ctx.autodetect_scsi_model(d) for d in disks}
            if len(models) > 1:
                raise InternalError(f"Disks on SCSI controller {ctrl.index} have inconsistent controller models, "
                                    "cannot autodetect model")
            ctrl.model = models.pop()
        if ctrl.model not in (None, *_SCSI_MODELS):
            raise InternalError("Expecting domain XML attribute 'model' of entry 'controller' to be 'buslogic' or "
                                f"'lsilogic' or 'lsisas1068' or 'vmpvscsi' but found '{ctrl.model}'")
        found[ctrl.index] = ctrl.model
    return found


def _disk_slot(disk: DiskDef) -> tuple[int, int]:
    """(controller or bus, unit) from the target name."""
    idx = disk_name_to_index(disk.dst)
    if disk.bus == "scsi":
        if not disk.dst.startswith("sd"):
            raise InternalError("Expecting domain XML attribute 'dev' of entry 'devices/disk/target' to start "
                                "with 'sd'")
        if idx < 0:
            raise InternalError(f"Could not parse valid disk index from '{disk.dst}'")
        if idx >= 4 * 15:
            raise InternalError(f"SCSI disk index (parsed from '{disk.dst}') is too large")
        unit = idx % 15
        return idx // 15, unit + 1 if unit >= SCSI_CONTROLLER_UNIT else unit
    if disk.bus == "ide":
        if not disk.dst.startswith("hd"):
            raise InternalError("Expecting domain XML attribute 'dev' of entry 'devices/disk/target' to start "
                                "with 'hd'")
        if idx < 0:
            raise InternalError(f"Could not parse valid disk index from '{disk.dst}'")
        if idx >= 2 * 2:
            raise InternalError(f"IDE disk index (parsed from '{disk.dst}') is too large")
        return idx // 2, idx % 2
    raise ConfigUnsupportedError(f"Unsupported bus type '{disk.bus}' for {disk.device}")


def _format_disk(ctx: VMXContext, vmx: _VMX, disk: DiskDef) -> None:
    dtype = disk.type or "file"
    if dtype not in ("file", "block"):
        raise ConfigUnsupportedError(f"{disk.bus} {disk.device} '{disk.dst}' has unsupported type '{dtype}', "
                                     "expecting 'file' or 'block'")
    controller, unit = _disk_slot(disk)
    prefix = f"{disk.bus}{controller}:{unit}"
    if disk.device == "disk" and dtype == "file":
        device_type = "scsi-hardDisk" if disk.bus == "scsi" else "ata-hardDisk"
    elif disk.device == "cdrom":
        device_type = "cdrom-image" if dtype == "file" else "atapi-cdrom"
    elif disk.device == "lun":
        passthru = disk.bus == "scsi" and (disk.src or "").startswith("/vmfs/devices/cdrom/")
        device_type = "scsi-passthru" if passthru else "cdrom-raw"
    else:
        raise ConfigUnsupportedError(f"{disk.bus} {disk.device} '{disk.dst}' has an unsupported type '{dtype}'")
    vmx.set(f"{prefix}.present", "true")
    vmx.set(f"{prefix}.deviceType", device_type)
    if dtype == "file":
        ext = ".vmdk" if disk.device == "disk" else ".iso"
        if disk.src is not None:
            if not disk.src.lower().endswith(ext):
                raise InternalError(f"Image file for {disk.bus} {disk.device} '{disk.dst}' has unsupported suffix, "
                                    f"expecting '{ext}'")
            assert ctx.format_file_name is not None
            file_name: str | None = ctx.format_file_name(disk.src)
        elif disk.device == "cdrom":
            file_name = "emptyBackingString"
        else:
            raise InternalError(f"{disk.bus} {disk.device} '{disk.dst}' has no source file")
        vmx.set(f"{prefix}.fileName", file_name)
    elif disk.src is None and disk.startup_policy == "optional":
        vmx.set(f"{prefix}.autodetect", "true")
        vmx.set(f"{prefix}.fileName", "auto detect")
    elif disk.src is not None:
        vmx.set(f"{prefix}.fileName", disk.src)
    # An empty host drive gets no fileName (libvirt writes "(null)", which reads back as a device path).
    if disk.bus == "scsi":
        if disk.cache == "writethrough":
            vmx.set(f"{prefix}.writeThrough", "true")
        elif disk.cache not in (None, "default"):
            raise ConfigUnsupportedError(f"{disk.bus} harddisk '{disk.dst}' has unsupported cache mode "
                                         f"'{disk.cache}'")
    if disk.transient:
        vmx.set(f"{prefix}.mode", "independent-nonpersistent")


def _format_floppy(ctx: VMXContext, vmx: _VMX, disk: DiskDef, present: list[bool]) -> None:
    if not disk.dst.startswith("fd"):
        raise InternalError("Expecting domain XML attribute 'dev' of entry 'devices/disk/target' to start with 'fd'")
    unit = disk_name_to_index(disk.dst)
    if unit < 0:
        raise InternalError(f"Could not parse valid disk index from '{disk.dst}'")
    if unit >= 2:
        raise InternalError(f"Floppy disk index (parsed from '{disk.dst}') is too large")
    present[unit] = True
    vmx.set(f"floppy{unit}.present", "true")
    dtype = disk.type or "file"
    if dtype == "file":
        vmx.set(f"floppy{unit}.fileType", "file")
        if disk.src is not None:
            assert ctx.format_file_name is not None
            vmx.set(f"floppy{unit}.fileName", ctx.format_file_name(disk.src))
    elif dtype == "block":
        vmx.set(f"floppy{unit}.fileType", "device")
        if disk.src is not None:
            vmx.set(f"floppy{unit}.fileName", disk.src)
    else:
        raise ConfigUnsupportedError(f"Floppy '{disk.dst}' has unsupported type '{dtype}', expecting 'file' or "
                                     "'block'")


# ---------------------------------------------------------------------------------------------- network, chardevs

def _format_ethernet(vmx: _VMX, net: NetDef, index: int, virtual_hw_version: int) -> None:
    # Before virtualHW 7 (ESX 4.0) a VM has at most 4 NICs, after it 10.
    limit = 9 if virtual_hw_version >= 7 else 3
    if index > limit:
        raise InternalError(f"Ethernet controller index {index} out of [0..{limit}] range")
    prefix = f"ethernet{index}"
    vmx.set(f"{prefix}.present", "true")
    if net.model:
        if net.model not in NET_MODELS_TO_VMX:
            raise InternalError("Expecting domain XML entry 'devices/interface/model' to be 'vlance' or 'vmxnet' or "
                                f"'vmxnet2' or 'vmxnet3' or 'e1000' or 'e1000e' but found '{net.model}'")
        if net.model == "vmxnet2":
            vmx.set(f"{prefix}.virtualDev", "vmxnet")
            vmx.set(f"{prefix}.features", 15)
        else:
            vmx.set(f"{prefix}.virtualDev", net.model)
    if net.type == "bridge":
        vmx.set(f"{prefix}.networkName", net.bridge)
        if net.ifname is not None:
            vmx.set(f"{prefix}.connectionType", "custom")
            vmx.set(f"{prefix}.vnet", net.ifname)
        else:
            vmx.set(f"{prefix}.connectionType", "bridged")
    elif net.type == "user":
        vmx.set(f"{prefix}.connectionType", "nat")
    elif net.type == "vds":
        raw = (net.switch_id or "").replace("-", "")
        pairs = [raw[i:i + 2] for i in range(0, 32, 2)]
        vmx.set(f"{prefix}.dvs.switchId", " ".join(pairs[:8]) + "-" + " ".join(pairs[8:]))
        vmx.set(f"{prefix}.dvs.portId", net.port_id)
        vmx.set(f"{prefix}.dvs.portgroupId", net.portgroup_id)
        vmx.set(f"{prefix}.dvs.connectionId", net.connection_id)
    elif net.type != "null":
        raise ConfigUnsupportedError(f"Unsupported net type '{net.type}'")

    mac = parse_mac(net.mac) if net.mac else bytes(6)
    mac_text = ":".join(f"{b:02x}" for b in mac)
    prefix_bits = int.from_bytes(mac[:3], "big")
    suffix_bits = int.from_bytes(mac[3:], "big")
    # Which kind of address VMware would have made, from the ranges it uses.
    vpx = False
    check: bool | None = None
    if prefix_bits == 0x000C29:
        mac_type = "generated"
    elif prefix_bits == 0x005056 and suffix_bits <= 0x3FFFFF:
        mac_type = "static"
    elif prefix_bits == 0x005056 and 0x800000 <= suffix_bits <= 0xBFFFFF:
        mac_type, vpx = "generated", True
    else:
        mac_type, check = "static", False
    if net.mac_type is not None:
        mac_type = net.mac_type
        if mac_type == "generated":
            check = None
    if net.mac_check is not None:
        check = net.mac_check
    if mac_type == "generated":
        vmx.set(f"{prefix}.addressType", "vpx" if vpx else "generated")
        vmx.set(f"{prefix}.generatedAddress", mac_text)
        if not vpx:
            vmx.set(f"{prefix}.generatedAddressOffset", 0)
    else:
        vmx.set(f"{prefix}.addressType", "static")
        vmx.set(f"{prefix}.address", mac_text)
    if check is not None:
        vmx.set(f"{prefix}.checkMACAddress", "true" if check else "false")


def _format_serial(ctx: VMXContext, vmx: _VMX, chr_: ChrDef) -> None:
    if not 0 <= chr_.port <= 3:
        raise InternalError(f"Serial port index {chr_.port} out of [0..3] range")
    prefix = f"serial{chr_.port}"
    vmx.set(f"{prefix}.present", "true")
    if chr_.type == "dev":
        vmx.set(f"{prefix}.fileType", "device")
        vmx.set(f"{prefix}.fileName", chr_.path)
    elif chr_.type == "file":
        vmx.set(f"{prefix}.fileType", "file")
        assert ctx.format_file_name is not None
        vmx.set(f"{prefix}.fileName", ctx.format_file_name(chr_.path or ""))
    elif chr_.type == "pipe":
        vmx.set(f"{prefix}.fileType", "pipe")
        # The VI client's defaults: the VM is the client end, no rx-loss avoidance.
        vmx.set(f"{prefix}.pipe.endPoint", "client")
        vmx.set(f"{prefix}.tryNoRxLoss", "false")
        vmx.set(f"{prefix}.fileName", chr_.path)
    elif chr_.type == "tcp":
        protocol = SERIAL_PROTOCOLS_TO_VMX.get(chr_.protocol)
        if protocol is None:
            raise ConfigUnsupportedError(f"Unsupported character device TCP protocol '{chr_.protocol}'")
        vmx.set(f"{prefix}.fileType", "network")
        vmx.set(f"{prefix}.fileName", f"{protocol}://{chr_.host}:{chr_.service}")
        vmx.set(f"{prefix}.network.endPoint", "server" if chr_.listen else "client")
    else:
        raise ConfigUnsupportedError(f"Unsupported character device type '{chr_.type}'")
    vmx.set(f"{prefix}.yieldOnMsrRead", "true")  # the VI client's default


def _format_parallel(ctx: VMXContext, vmx: _VMX, chr_: ChrDef) -> None:
    if not 0 <= chr_.port <= 2:
        raise InternalError(f"Parallel port index {chr_.port} out of [0..2] range")
    prefix = f"parallel{chr_.port}"
    vmx.set(f"{prefix}.present", "true")
    if chr_.type == "dev":
        vmx.set(f"{prefix}.fileType", "device")
        vmx.set(f"{prefix}.fileName", chr_.path)
    elif chr_.type == "file":
        vmx.set(f"{prefix}.fileType", "file")
        assert ctx.format_file_name is not None
        vmx.set(f"{prefix}.fileName", ctx.format_file_name(chr_.path or ""))
    else:
        raise ConfigUnsupportedError(f"Unsupported character device type '{chr_.type}'")
