"""VMX -> domain: what libvirt's VMware/ESX driver reads from a .vmx file (virVMXParseConfig)."""

from __future__ import annotations

import re
import uuid as uuidlib
from urllib.parse import urlsplit

from virt.driver.esx.vmx.conf import Entry, Section, VMXConfig
from virt.driver.esx.vmx.context import VMXContext
from virt.driver.esx.vmx.domain import (
    SCSI_CONTROLLER_UNIT,
    SCSI_SUPER_WIDE_BUS_UNITS,
    ChrDef,
    ControllerDef,
    CPUTopology,
    DiskDef,
    DomainDef,
    FilesystemDef,
    GraphicsDef,
    NetDef,
    VideoDef,
    add_controller,
    default_drive_address,
    index_to_disk_name,
    post_parse,
    scsi_units_per_controller,
)
from virt.driver.esx.vmx.names import (
    NET_MODELS_FROM_VMX,
    SCSI_MODELS_FROM_VMX,
    SERIAL_PROTOCOLS_FROM_VMX,
    unescape_hex,
)
from virt.util.bitmap import CPUMASK_LEN
from virt.util.errors import InternalError, VirtError
from virt.util.ident import format_mac, parse_mac, parse_uuid

# The entries of each kind of device, with libvirt's defaults.
DISK_ENTRIES = (Entry("present", "bool", False), Entry("startConnected", "bool", True), Entry("deviceType"),
                Entry("clientDevice", "bool", False), Entry("fileType"), Entry("fileName"),
                Entry("writeThrough", "bool", False), Entry("mode"))
FS_ENTRIES = (Entry("present", "bool", False), Entry("enabled", "bool", False), Entry("hostPath"),
              Entry("guestName"), Entry("writeAccess", "bool", False))
NET_ENTRIES = (Entry("present", "bool", False), Entry("startConnected", "bool", True), Entry("connectionType"),
               Entry("addressType"), Entry("generatedAddress"), Entry("checkMACAddress"), Entry("address"),
               Entry("virtualDev"), Entry("features", "long", 0), Entry("networkName"), Entry("vnet"),
               Entry("dvs.switchId"), Entry("dvs.portId", "long", 0), Entry("dvs.portgroupId"),
               Entry("dvs.connectionId", "long", 0))
CHR_ENTRIES = (Entry("present", "bool", False), Entry("startConnected", "bool", True), Entry("fileType"),
               Entry("fileName"), Entry("network.endPoint"))

_ETHERNET_KEY = re.compile(r"ethernet(.*)", re.IGNORECASE)


def parse_config(ctx: VMXContext, text: str) -> DomainDef:
    """The domain a .vmx file describes, after libvirt's generic post-parse steps."""
    if ctx.parse_file_name is None:
        raise InternalError("virVMXContext has no parseFileName function set")
    conf = VMXConfig.from_text(text)
    networks_max_index = _scan_ethernet_indexes(conf)
    dom = DomainDef()

    config_version = conf.long("config.version", 0, required=True)
    if config_version != 8:
        raise InternalError(f"Expecting VMX entry 'config.version' to be 8 but found {config_version}")
    hw_version = conf.long("virtualHW.version", 0, required=True)
    if hw_version < 4:
        raise InternalError(f"Expecting VMX entry 'virtualHW.version' to be 4 or higher but found {hw_version}")
    if hw_version >= 13:
        dom.scsi_bus_units = SCSI_SUPER_WIDE_BUS_UNITS

    dom.uuid = conf.uuid("uuid.bios") or dom.uuid
    name = conf.string("displayName")
    if name is not None:
        try:
            name = unescape_hex(unescape_hex(name, "%"), "|")
        except ValueError:
            raise InternalError("VMX entry 'name' contains invalid escape sequence") from None
    dom.name = name
    dom.genid = _parse_genid(conf)
    description = conf.string("annotation")
    if description is not None:
        try:
            description = unescape_hex(description, "|")
        except ValueError:
            raise InternalError("VMX entry 'annotation' contains invalid escape sequence") from None
    dom.description = description

    _parse_memory(conf, dom)
    _parse_cpus(conf, dom)

    guest_os = conf.string("guestOS")
    dom.arch = "x86_64" if guest_os is not None and guest_os.endswith("-64") else "i686"
    if conf.boolean("smbios.reflecthost", False):
        dom.smbios_mode = "host"

    graphics = _parse_vnc(conf)
    if graphics is not None:
        dom.graphics.append(graphics)

    _parse_disks(ctx, conf, dom)
    _parse_filesystems(conf, dom)
    for index in range(networks_max_index + 1):
        net = _parse_ethernet(conf, index)
        if net is not None:
            dom.nets.append(net)
    dom.videos.append(VideoDef("vmvga", -(-conf.long("svga.vramSize", 4 * 1024 * 1024) // 1024)))
    for port in range(4):
        chr_ = _parse_chr(ctx, conf, "serial", port)
        if chr_ is not None:
            dom.serials.append(chr_)
    for port in range(3):
        chr_ = _parse_chr(ctx, conf, "parallel", port)
        if chr_ is not None:
            dom.parallels.append(chr_)

    dom.datacenter_path = ctx.datacenter_path
    dom.moref = ctx.moref
    firmware = conf.string("firmware")
    if firmware is not None:
        if firmware != "efi":
            raise InternalError(f"VMX entry 'firmware' has unknown value '{firmware}'")
        dom.firmware = "efi"
    post_parse(dom)
    return dom


def _scan_ethernet_indexes(conf: VMXConfig) -> int:
    highest = -1
    for name in conf.names():
        m = _ETHERNET_KEY.match(name)
        if not m:
            continue
        digits = re.match(r"[+-]?\d+", m.group(1))
        if digits is None or not m.group(1)[digits.end():].startswith(".") or int(digits.group()) < 0:
            raise InternalError(f"failed to parse the index of the VMX key '{name}'")
        highest = max(highest, int(digits.group()))
    return highest


def _parse_genid(conf: VMXConfig) -> uuidlib.UUID | None:
    high = conf.long("vm.genid", 0)
    low = conf.long("vm.genidX", 0)
    if high == 0 and low == 0:
        return None
    # Both halves are signed 64-bit numbers printed as 16 hex digits.
    return uuidlib.UUID(f"{high & (2**64 - 1):016x}{low & (2**64 - 1):016x}")


def _parse_memory(conf: VMXConfig, dom: DomainDef) -> None:
    memsize = conf.long("memsize", 32)
    if memsize <= 0 or memsize % 4 != 0:
        raise InternalError("Expecting VMX entry 'memsize' to be an unsigned integer (multiple of 4) "
                            f"but found {memsize}")
    dom.memory = memsize * 1024
    mem_max = conf.long("sched.mem.max", memsize)
    if mem_max < 0:
        mem_max = memsize
    dom.current_memory = min(mem_max * 1024, dom.memory)
    minsize = max(conf.long("sched.mem.minsize", 0), 0)
    dom.min_guarantee = min(minsize * 1024, dom.memory)


def _parse_cpus(conf: VMXConfig, dom: DomainDef) -> None:
    numvcpus = conf.long("numvcpus", 1)
    if numvcpus <= 0:
        raise InternalError("Expecting VMX entry 'numvcpus' to be an unsigned integer greater than 0 "
                            f"but found {numvcpus}")
    dom.vcpus = numvcpus

    cores = conf.long("cpuid.coresPerSocket", 1)
    if cores > 1:
        sockets = numvcpus // cores
        if sockets <= 0:
            raise InternalError("VMX entry 'cpuid.coresPerSocket' smaller than 'numvcpus'")
        dom.has_cpu = True
        dom.cpu_mode = "custom"
        dom.topology = CPUTopology(sockets, 1, cores, 1)

    affinity = conf.string("sched.cpu.affinity")
    if affinity is not None and affinity.lower() != "all":
        items = affinity.split(",")
        if len(items) < numvcpus:
            raise InternalError("Expecting VMX entry 'sched.cpu.affinity' to contain at least as many values as "
                                f"'numvcpus' ({numvcpus}) but found only {len(items)} value(s)")
        cpus: set[int] = set()
        for item in items:
            text = item.strip(" \t\n\v\f\r")
            if not text.isdigit() or not text.isascii():
                raise InternalError("Expecting VMX entry 'sched.cpu.affinity' to be a comma separated list of "
                                    f"unsigned integers but found '{affinity}'")
            number = int(text)
            if number >= CPUMASK_LEN:
                raise InternalError(f"VMX entry 'sched.cpu.affinity' contains a {number}, this value is too large")
            cpus.add(number)
        dom.cpuset = cpus

    shares = conf.string("sched.cpu.shares")
    if shares is not None:
        levels = {"low": 500, "normal": 1000, "high": 2000}
        if shares.lower() in levels:
            dom.shares = numvcpus * levels[shares.lower()]
        elif shares.isdigit() and shares.isascii():
            dom.shares = int(shares)
        else:
            raise InternalError("Expecting VMX entry 'sched.cpu.shares' to be an unsigned integer or 'low', "
                                f"'normal' or 'high' but found '{shares}'")


def _parse_vnc(conf: VMXConfig) -> GraphicsDef | None:
    if not conf.boolean("RemoteDisplay.vnc.enabled", False):
        return None
    port = conf.long("RemoteDisplay.vnc.port", -1)
    gr = GraphicsDef("vnc", listen=conf.string("RemoteDisplay.vnc.ip"), has_listen=True,
                     keymap=conf.string("RemoteDisplay.vnc.keymap"),
                     passwd=conf.string("RemoteDisplay.vnc.password"))
    if port < 0:
        gr.port, gr.autoport = 0, True  # VNC is on, but the port it uses is unknown
    else:
        gr.port, gr.autoport = port, False
    return gr


# ---------------------------------------------------------------------------------------------- disks

def _parse_disks(ctx: VMXContext, conf: VMXConfig, dom: DomainDef) -> None:
    scsi_models: list[str | None] = [None] * 4
    for controller in range(4):
        if not conf.boolean(f"scsi{controller}.present", False):
            continue
        scsi_models[controller] = _scsi_model(conf, controller)
        for unit in range(dom.scsi_bus_units):
            if unit == SCSI_CONTROLLER_UNIT:
                continue  # the controller's own unit
            _append_disk(dom, _parse_disk_or_cdrom(ctx, conf, dom, "scsi", controller, unit))
    if dom.disks:
        for controller in range(dom.disks[-1].address.controller + 1):  # type: ignore[union-attr]
            add_controller(dom, ControllerDef("scsi", controller, scsi_models[controller]))
    scsi_disks = len(dom.disks)

    for controller in range(4):
        if not conf.boolean(f"sata{controller}.present", False):
            continue
        for unit in range(30):
            _append_disk(dom, _parse_disk_or_cdrom(ctx, conf, dom, "sata", controller, unit))
    if len(dom.disks) > scsi_disks:
        for controller in range(dom.disks[-1].address.controller + 1):  # type: ignore[union-attr]
            add_controller(dom, ControllerDef("sata", controller))

    for bus in range(2):
        for unit in range(2):
            _append_disk(dom, _parse_disk_or_cdrom(ctx, conf, dom, "ide", bus, unit))
    for unit in range(2):
        _append_disk(dom, _parse_disk(ctx, conf, dom, "floppy", "fdc", 0, unit))


def _append_disk(dom: DomainDef, disk: DiskDef | None) -> None:
    if disk is not None:
        dom.disks.append(disk)


def _scsi_model(conf: VMXConfig, controller: int) -> str | None:
    name = f"scsi{controller}.virtualDev"
    value = conf.string(name)
    if value is None:
        return None
    model = SCSI_MODELS_FROM_VMX.get(value.lower())
    if model is None:
        raise InternalError(f"Expecting VMX entry '{name}' to be 'buslogic' or 'lsilogic' or 'lsisas1068' or "
                            f"'pvscsi' but found '{value}'")
    return model


def _parse_disk_or_cdrom(ctx: VMXContext, conf: VMXConfig, dom: DomainDef, bus: str, controller: int,
                         unit: int) -> DiskDef | None:
    """A hard disk if the entries describe one, else a CD-ROM, else nothing."""
    return (_parse_disk(ctx, conf, dom, "disk", bus, controller, unit)
            or _parse_disk(ctx, conf, dom, "cdrom", bus, controller, unit))


def _disk_slot(dom: DomainDef, bus: str, controller: int, unit: int) -> tuple[str, str]:
    """The VMX prefix and the target name of a disk slot."""
    if bus == "scsi":
        per = scsi_units_per_controller(dom)
        return (f"scsi{controller}:{unit}",
                index_to_disk_name(controller * per + (unit if unit < SCSI_CONTROLLER_UNIT else unit - 1), "sd"))
    if bus == "sata":
        return f"sata{controller}:{unit}", index_to_disk_name(controller * 30 + unit, "sd")
    if bus == "ide":
        return f"ide{controller}:{unit}", index_to_disk_name(controller * 2 + unit, "hd")
    return f"floppy{unit}", index_to_disk_name(unit, "fd")


def _parse_disk(ctx: VMXContext, conf: VMXConfig, dom: DomainDef, device: str, bus: str, controller: int,
                unit: int) -> DiskDef | None:
    prefix, dst = _disk_slot(dom, bus, controller, unit)
    sec = Section(conf, prefix, DISK_ENTRIES)
    if not sec["present"]:
        return None
    sec["startConnected"]
    device_type = sec["deviceType"]
    lower_type = device_type.lower() if device_type is not None else None
    client_device = sec["clientDevice"]
    mode = sec["mode"]
    if client_device:
        return None  # a host device the VI client connects; there is nothing to describe
    file_type = sec["fileType"]
    file_name = sec["fileName"]
    write_through = sec["writeThrough"]
    disk = DiskDef(device, bus, dst)
    parse_file_name = ctx.parse_file_name
    assert parse_file_name is not None

    def unhandled() -> InternalError:
        return InternalError(f"Invalid or not yet handled value '{file_name or '(null)'}' for VMX entry "
                             f"'{sec.name('fileName')}' for device type '{device_type or 'unknown'}'")

    if device == "disk":
        if (file_name is None or file_name.lower().endswith(".iso") or file_name == "emptyBackingString"
                or lower_type in ("atapi-cdrom", "cdrom-raw", "cdrom-image")
                or (lower_type == "scsi-passthru" and file_name.startswith("/vmfs/devices/cdrom/"))):
            return None  # a CD-ROM: the next attempt reads it
        if not file_name.lower().endswith(".vmdk"):
            raise unhandled()
        if lower_type is not None:
            if bus == "scsi" and lower_type not in ("scsi-harddisk", "disk"):
                raise InternalError(f"Expecting VMX entry '{sec.name('deviceType')}' to be 'scsi-hardDisk' or "
                                    f"'disk' but found '{device_type}'")
            if bus == "ide" and lower_type not in ("ata-harddisk", "disk"):
                raise InternalError(f"Expecting VMX entry '{sec.name('deviceType')}' to be 'ata-hardDisk' or "
                                    f"'disk' but found '{device_type}'")
        disk.type = "file"
        disk.src = parse_file_name(file_name, False)
        disk.cache = "writethrough" if write_through else None
        if mode is not None:
            disk.transient = mode.lower() == "independent-nonpersistent"
    elif device == "cdrom":
        disk.readonly = True
        if file_name is not None and file_name.lower().endswith(".vmdk"):
            return None  # a hard disk, read by the other attempt
        if file_name is not None and file_name.lower().endswith(".iso"):
            if lower_type is not None and lower_type != "cdrom-image":
                raise InternalError(f"Expecting VMX entry '{sec.name('deviceType')}' to be 'cdrom-image' but "
                                    f"found '{device_type}'")
            disk.type = "file"
            disk.src = parse_file_name(file_name, True)
        elif lower_type in ("atapi-cdrom", "cdrom-raw"):
            if lower_type == "cdrom-raw":
                disk.device = "lun"  # raw access CD-ROMs are LUNs
            disk.type = "block"
            if file_name is not None and file_name.lower() == "auto detect":
                disk.startup_policy = "optional"
            else:
                disk.src = file_name
        elif bus == "scsi" and lower_type == "scsi-passthru":
            if file_name is None or not file_name.startswith("/vmfs/devices/cdrom/"):
                return None  # not a CD-ROM after all
            disk.device = "lun"
            disk.type = "block"
            disk.src = file_name
        elif file_name == "emptyBackingString":
            if lower_type is not None and lower_type != "cdrom-image":
                raise InternalError(f"Expecting VMX entry '{sec.name('deviceType')}' to be 'cdrom-image' but "
                                    f"found '{device_type}'")
            disk.type = "file"
        else:
            raise unhandled()
    else:  # floppy
        if file_type is not None and file_type.lower() == "device":
            disk.type = "block"
            disk.src = file_name
        elif file_type is not None and file_type.lower() == "file":
            disk.type = "file"
            disk.src = parse_file_name(file_name, False) if file_name is not None else None
        else:
            raise unhandled()
    try:
        disk.address = default_drive_address(dom, disk)
    except VirtError:
        raise InternalError(f"Could not assign address to disk '{disk.src}'") from None
    return disk


# ---------------------------------------------------------------------------------------------- other devices

def _parse_filesystems(conf: VMXConfig, dom: DomainDef) -> None:
    if conf.boolean("isolation.tools.hgfs.disable", True):
        return
    for number in range(max(conf.long("sharedFolder.maxNum", 0), 0)):
        sec = Section(conf, f"sharedFolder{number}", FS_ENTRIES)
        if not (sec["present"] and sec["enabled"]):
            continue
        src = sec.require("hostPath")
        dst = sec.require("guestName")
        dom.filesystems.append(FilesystemDef("mount", src, dst, readonly=not sec["writeAccess"]))


def _parse_ethernet(conf: VMXConfig, index: int) -> NetDef | None:
    sec = Section(conf, f"ethernet{index}", NET_ENTRIES)
    if not sec["present"]:
        return None
    sec["startConnected"]
    connection_type = sec["connectionType"]
    conn = connection_type.lower() if connection_type is not None else None
    net = NetDef("")
    address_type = sec["addressType"]
    generated, address, check = sec["generatedAddress"], sec["address"], sec["checkMACAddress"]
    if address_type is None or address_type.lower() in ("generated", "vpx"):
        if generated is not None:
            net.mac = _mac(sec, "generatedAddress", generated)
        if address_type is not None:
            net.mac_type = "generated"
    elif address_type.lower() == "static":
        if address is not None:
            net.mac = _mac(sec, "address", address)
        net.mac_type = "static"
    else:
        raise InternalError(f"Expecting VMX entry '{sec.name('addressType')}' to be 'generated' or 'static' or "
                            f"'vpx' but found '{address_type}'")
    if check is not None:
        net.mac_check = check == "true"

    virtual_dev = sec["virtualDev"]
    features = sec["features"]
    if virtual_dev is not None:
        model = NET_MODELS_FROM_VMX.get(virtual_dev.lower())
        if model is None:
            raise InternalError(f"Expecting VMX entry '{sec.name('virtualDev')}' to be 'vlance' or 'vmxnet' or "
                                f"'vmxnet3' or 'e1000' or 'e1000e' but found '{virtual_dev}'")
        net.model = "vmxnet2" if model == "vmxnet" and features == 15 else model

    network_name = None
    if conn in (None, "bridged", "custom"):
        network_name = sec["networkName"] if conn is None else sec.require("networkName")
    vnet = sec.require("vnet") if conn == "custom" else None

    switch_id = sec["dvs.switchId"]
    if switch_id is not None:
        net.type = "vds"
        try:
            net.switch_id = str(parse_uuid(switch_id))
        except VirtError:
            raise InternalError(f"Could not parse UUID from string '{switch_id}'") from None
        net.portgroup_id = sec.require("dvs.portgroupId")
        sec.require("dvs.portId")
        net.port_id = sec["dvs.portId"]
        sec.require("dvs.connectionId")
        net.connection_id = sec["dvs.connectionId"]
    elif conn is None and network_name is None:
        net.type = "null"
    elif conn is None or conn == "bridged":
        net.type, net.bridge = "bridge", network_name
    elif conn == "hostonly":
        raise InternalError(f"No yet handled value '{connection_type}' for VMX entry '{sec.name('connectionType')}'")
    elif conn == "nat":
        net.type = "user"
    elif conn == "custom":
        net.type, net.bridge, net.ifname = "bridge", network_name, vnet
    else:
        raise InternalError(f"Invalid value '{connection_type}' for VMX entry '{sec.name('connectionType')}'")
    return net


def _mac(sec: Section, key: str, value: str) -> str:
    try:
        return format_mac(parse_mac(value))
    except VirtError:
        raise InternalError(f"Expecting VMX entry '{sec.name(key)}' to be MAC address but found '{value}'") from None


def _parse_chr(ctx: VMXContext, conf: VMXConfig, kind: str, port: int) -> ChrDef | None:
    sec = Section(conf, f"{kind}{port}", CHR_ENTRIES)
    if not sec["present"]:
        return None
    sec["startConnected"]
    parse_file_name = ctx.parse_file_name
    assert parse_file_name is not None
    if kind == "parallel":
        file_type = sec.require("fileType")
        file_name = sec.require("fileName")
    else:
        file_type = sec["fileType"]
        file_name = sec["fileName"]
        sec["network.endPoint"]
    # A serial port without fileType is a host device (VMware omits it for new ports).
    ftype = "device" if file_type is None and kind == "serial" else file_type.lower()
    chr_ = ChrDef(kind, "", port=port)
    if ftype == "device":
        chr_.type, chr_.path = "dev", file_name
    elif ftype == "file":
        chr_.type = "file"
        chr_.path = parse_file_name(file_name, False) if file_name is not None else None
        if file_name is None:
            raise InternalError(f"Missing essential config entry '{sec.name('fileName')}'")
    elif kind == "serial" and ftype == "pipe":
        chr_.type, chr_.path = "pipe", file_name  # which end is the client is not expressible
    elif kind == "serial" and ftype == "network":
        _parse_network_serial(sec, chr_, file_name)
    elif kind == "serial":
        raise InternalError(f"Expecting VMX entry '{sec.name('fileType')}' to be 'device', 'file' or 'pipe' or "
                            f"'network' but found '{file_type}'")
    else:
        raise InternalError(f"Expecting VMX entry '{sec.name('fileType')}' to be 'device' or 'file' but found "
                            f"'{file_type}'")
    return chr_


def _parse_network_serial(sec: Section, chr_: ChrDef, file_name: str | None) -> None:
    chr_.type = "tcp"
    try:
        uri = urlsplit(file_name or "")
        port = uri.port
    except ValueError:
        raise InternalError(f"Unable to parse URI '{file_name}'") from None
    if not port:
        raise InternalError(f"VMX entry '{sec.name('fileName')}' doesn't contain a port part")
    # The host as written (urlsplit's .hostname would lowercase it).
    hostport = uri.netloc.rpartition("@")[2]
    chr_.host = hostport[1:hostport.find("]")] if hostport.startswith("[") else hostport.rpartition(":")[0]
    chr_.service = str(port)
    scheme = uri.scheme.lower() if uri.scheme else None
    protocol = SERIAL_PROTOCOLS_FROM_VMX.get(scheme) if scheme else "raw"
    if protocol is None:
        raise InternalError(f"VMX entry '{sec.name('fileName')}' contains unsupported scheme '{uri.scheme}'")
    chr_.protocol = protocol
    end_point = sec["network.endPoint"]
    if end_point is None or end_point.lower() == "server":
        chr_.listen = True
    elif end_point.lower() == "client":
        chr_.listen = False
    else:
        raise InternalError(f"Expecting VMX entry '{sec.name('network.endPoint')}' to be 'server' or 'client' "
                            f"but found '{end_point}'")

