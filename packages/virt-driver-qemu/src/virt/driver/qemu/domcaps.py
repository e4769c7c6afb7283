"""Domain capabilities (``virt domcapabilities``) and host capabilities (``virt capabilities``) of QEMU.

Both documents are built from a binary's ``QemuCaps`` with the models of ``virt.conf.domcaps`` and
``virt.conf.capabilities``. Host facts (firmware images, swtpm, VFIO, the KVM vCPU limit) are
looked up on the host, except for capabilities read from a recorded transcript, where libvirt's
test-suite host is assumed (every firmware image present, swtpm with TPM 2.0, VFIO usable).
"""

from __future__ import annotations

import fcntl
import fnmatch
import json
import os
import platform
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from virt.conf.capabilities import (
    Capabilities,
    FlagList,
    Guest,
    GuestArch,
    GuestDomain,
    GuestFeature,
    GuestFeatures,
    GuestMachine,
    Host,
    HostCPU,
    Iommu,
    MigrationFeatures,
    MigrationTransports,
    URITransport,
)
from virt.conf.domcaps import (
    CapsEnum,
    CapsItem,
    CPUCaps,
    CPUMode,
    CPUModel,
    DevicesCaps,
    DomainCapabilities,
    FeaturesCaps,
    OSCaps,
    VCPUMax,
)
from virt.driver.qemu import cpumap
from virt.driver.qemu.caps import QemuCaps
from virt.util.errors import ConfigUnsupportedError, InvalidArgError

#: Firmware images libvirt looks for when the host has no firmware descriptors (code:vars pairs).
DEFAULT_LOADERS: tuple[tuple[str, str], ...] = (
    ("/usr/share/AAVMF/AAVMF_CODE.fd", "/usr/share/AAVMF/AAVMF_VARS.fd"),
    ("/usr/share/AAVMF/AAVMF32_CODE.fd", "/usr/share/AAVMF/AAVMF32_VARS.fd"),
    ("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"),
)
FIRMWARE_DIRS = ("/usr/share/qemu/firmware", "/etc/qemu/firmware")


@dataclass
class Firmware:
    """One QEMU firmware descriptor (docs/interop/firmware.json)."""

    path: str
    interfaces: list[str]
    executable: str
    nvram_template: str | None
    targets: list[tuple[str, list[str]]]
    features: list[str] = field(default_factory=list)
    mapping: str = "flash"
    #: flash mode: "split" (code + NVRAM template), "combined" or "stateless"
    mode: str = "split"
    executable_format: str = "raw"
    nvram_format: str = "raw"

    @classmethod
    def from_json(cls, path: str, doc: dict) -> Firmware:
        mapping = doc.get("mapping", {})
        exe = mapping.get("executable", {}).get("filename") or mapping.get("filename", "")
        nvram = mapping.get("nvram-template", {}).get("filename")
        targets = [(t.get("architecture", ""), list(t.get("machines", []))) for t in doc.get("targets", [])]
        return cls(path, list(doc.get("interface-types", [])), exe, nvram, targets, list(doc.get("features", [])),
                   mapping.get("device", "flash"), mapping.get("mode", "split"),
                   mapping.get("executable", {}).get("format", "raw"),
                   mapping.get("nvram-template", {}).get("format", "raw"))

    def matches(self, arch: str, machine: str) -> bool:
        return any(a == arch and any(fnmatch.fnmatch(machine, g) for g in globs) for a, globs in self.targets)


def load_firmware_descriptors(dirs: tuple[str, ...] = FIRMWARE_DIRS) -> list[Firmware]:
    """Descriptors from the system directories, later directories overriding same-named files,
    in file-name order (what QEMU's firmware interop spec asks of management tools)."""
    files: dict[str, Path] = {}
    for d in dirs:
        p = Path(d)
        if p.is_dir():
            for f in p.glob("*.json"):
                files[f.name] = f
    out = []
    for name in sorted(files):
        try:
            text = files[name].read_text()
            if not text.strip():
                continue  # an empty file (or a link to /dev/null) masks a lower-priority one
            out.append(Firmware.from_json(str(files[name]), json.loads(text)))
        except (OSError, ValueError, AttributeError):
            continue
    return out


def kvm_max_vcpus() -> int | None:
    """KVM's vCPU limit (KVM_CHECK_EXTENSION KVM_CAP_MAX_VCPUS), None without /dev/kvm."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
    except OSError:
        return None
    try:
        n = fcntl.ioctl(fd, 0xAE03, 66)  # KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS
        return n if n > 0 else fcntl.ioctl(fd, 0xAE03, 9)  # KVM_CAP_NR_VCPUS
    except OSError:
        return None
    finally:
        os.close(fd)


def host_arch() -> str:
    m = platform.machine()
    return {"amd64": "x86_64", "i386": "i686", "arm64": "aarch64"}.get(m, m)


def _is_q35(machine: str) -> bool:
    return machine == "q35" or machine.startswith("pc-q35")


def _is_i440fx(machine: str) -> bool:
    return machine == "pc" or machine.startswith(("pc-i440fx", "pc-0.", "pc-1."))


def machine_has_builtin_ide(machine: str, arch: str) -> bool:
    return arch in ("x86_64", "i686") and (_is_i440fx(machine) or machine == "isapc") or \
        machine.startswith(("malta", "sun4u", "g3beige"))


def _enum_items(**enums: list[str]) -> list[CapsEnum]:
    return [CapsEnum.of(k, v) for k, v in enums.items()]


def _os_caps(caps: QemuCaps, machine: str, arch: str) -> OSCaps:
    if caps.recorded:
        firmware = ["bios", "efi"]
        secure = _is_q35(machine)
        loaders = [code for code, _ in DEFAULT_LOADERS]
    else:
        descriptors = [f for f in load_firmware_descriptors() if f.matches(arch, machine)]
        firmware = []
        if any("bios" in f.interfaces for f in descriptors) or not descriptors:
            firmware.append("bios")
        if any("uefi" in f.interfaces for f in descriptors):
            firmware.append("efi")
        secure = any("secure-boot" in f.features for f in descriptors)
        loaders = [f.executable for f in descriptors if "uefi" in f.interfaces]
        if not loaders:
            loaders = [code for code, _ in DEFAULT_LOADERS]
        loaders = list(dict.fromkeys(p for p in loaders if os.path.exists(p)))
    loader = CapsItem.of(True, loaders, type=["rom", "pflash"], readonly=["yes", "no"],
                         secure=(["yes", "no"] if secure else ["no"]))
    os_caps = OSCaps(supported=True, enums=_enum_items(firmware=firmware), loader=loader)
    return os_caps


def _cpu_caps(caps: QemuCaps, virt_type: str, machine: str) -> CPUCaps:
    modes: list[CPUMode] = []
    native = caps.recorded or host_arch() == caps.arch or (host_arch() == "x86_64" and caps.arch == "i686")
    if virt_type != "qemu" and native:
        mig = ["on", "off"] if caps.has("cpu.migratable") else ["off"]
        modes.append(CPUMode(name="host-passthrough", supported=True,
                             enums=_enum_items(hostPassthroughMigratable=mig)))
    else:
        modes.append(CPUMode(name="host-passthrough", supported=False))
    if caps.has("cpu-max"):
        modes.append(CPUMode(name="maximum", supported=True, enums=_enum_items(maximumMigratable=["on", "off"])))
    else:
        modes.append(CPUMode(name="maximum", supported=False))
    host_model = cpumap.host_model(caps, virt_type) if native else None
    if host_model is not None:
        modes.append(CPUMode(name="host-model", supported=True,
                             models=[CPUModel(fallback="forbid", name=host_model.model)],
                             vendor=host_model.vendor,
                             features=[cpumap.feature_model(f, "require") for f in host_model.required]
                             + [cpumap.feature_model(f, "disable") for f in host_model.disabled]))
    else:
        modes.append(CPUMode(name="host-model", supported=False))
    models = caps.accel(virt_type).cpu_models or []
    custom = [CPUModel(usable=m.usable or "unknown", deprecated=True if m.deprecated else None,
                       vendor=cpumap.vendor_of(m.name), name=m.name)
              for m in models if cpumap.known_model(m.name) and m.name != "host"]
    modes.append(CPUMode(name="custom", supported=bool(models), models=custom))
    return CPUCaps(modes=modes)


def domain_capabilities(caps: QemuCaps, *, virt_type: str | None = None, machine: str | None = None,
                        arch: str | None = None) -> DomainCapabilities:
    """``<domainCapabilities>`` for ``caps``' binary, a domain type and a machine type."""
    arch = arch or caps.arch
    if arch != caps.arch and not (caps.arch == "x86_64" and arch == "i686"):
        raise InvalidArgError(f"architecture from emulator '{caps.arch}' doesn't match given architecture '{arch}'")
    if virt_type in (None, ""):
        virt_type = caps.virt_type()
    if virt_type not in ("kvm", "qemu"):
        raise InvalidArgError(f"unknown virttype: {virt_type}")
    if virt_type == "kvm" and not caps.has("kvm"):
        raise InvalidArgError(f"the accel 'kvm' is not supported by '{caps.binary}' on this host")
    if machine:
        mach = caps.machine(virt_type, machine)
        if mach is None:
            raise InvalidArgError(f"the machine '{machine}' is not supported by emulator '{caps.binary}'")
    else:
        mach = caps.machine(virt_type, None)
        if mach is None:
            raise ConfigUnsupportedError(f"no machine types known for emulator '{caps.binary}'")
    name = mach.name
    max_vcpus = mach.max_cpus
    if virt_type == "kvm" and not caps.recorded:
        limit = kvm_max_vcpus()
        if limit:
            max_vcpus = min(max_vcpus, limit)

    has = caps.has
    # enum values print in libvirt's enum order (ide, fdc, scsi, virtio, ..., usb, sata)
    disk_bus = ["ide"] if machine_has_builtin_ide(name, caps.arch) else []
    disk_bus += ["fdc", "scsi", "virtio"]
    if has("usb-storage"):
        disk_bus.append("usb")
    if has("ich9-ahci"):
        disk_bus.append("sata")
    transitional = ["virtio-transitional", "virtio-non-transitional"] if has("virtio-pci-non-transitional") else []
    graphics = [t for t, f in (("sdl", "sdl"), ("vnc", "vnc"), ("spice", "spice"),
                               ("egl-headless", "egl-headless"), ("dbus", "display-dbus")) if has(f)]
    video = ([v for v, f in (("vga", "VGA"), ("cirrus", "cirrus-vga"), ("vmvga", "vmware-svga"), ("qxl", "qxl"),
                             ("virtio", "virtio-gpu")) if has(f)] + ["none"]
             + [v for v, f in (("bochs", "bochs-display"), ("ramfb", "ramfb")) if has(f)])
    usb = any(has(f) for f in ("piix3-usb-uhci", "piix4-usb-uhci", "usb-ehci", "ich9-usb-ehci1",
                               "vt82c686b-usb-uhci", "pci-ohci", "nec-usb-xhci", "qemu-xhci"))
    vfio = caps.recorded or any(Path("/sys/kernel/iommu_groups").glob("*"))
    tpm_models = [m for m, f in (("tpm-tis", "tpm-tis"), ("tpm-crb", "tpm-crb"), ("tpm-spapr", "tpm-spapr"),
                                 ("spapr-tpm-proxy", "spapr-tpm-proxy")) if has(f)]
    tpm_backends = ["passthrough"] if has("tpm-passthrough") else []
    swtpm = caps.recorded or shutil.which("swtpm") is not None
    tpm_versions: list[str] = []
    if swtpm:
        if has("tpm-emulator"):
            tpm_backends += ["emulator", "external"]
        tpm_versions = ["2.0"]
    tpm = CapsItem.of(bool(tpm_models), model=tpm_models, backendModel=tpm_backends)
    if tpm_versions:
        tpm.enums.append(CapsEnum.of("backendVersion", tpm_versions))
    channel = ["pty", "unix"] + (["spicevmc"] if has("spice") else [])
    devices = DevicesCaps(
        disk=CapsItem.of(True, diskDevice=["disk", "cdrom", "floppy", "lun"], bus=disk_bus,
                         model=["virtio", *transitional]),
        graphics=CapsItem.of(True, type=graphics),
        video=CapsItem.of(True, modelType=video),
        hostdev=CapsItem.of(True, mode=["subsystem"],
                            startupPolicy=["default", "mandatory", "requisite", "optional"],
                            subsysType=(["usb"] if usb else []) + ["pci", "scsi"], capsType=[],
                            pciBackend=["default", "vfio"] if vfio and has("vfio-pci") else []),
        rng=CapsItem.of(True, model=(["virtio", *(["virtio-transitional", "virtio-non-transitional"]
                                                  if has("virtio-pci-non-transitional") else [])]
                                     if has("virtio-rng") else []),
                        backendModel=[b for b, f in (("random", "rng-random"), ("egd", "rng-egd"),
                                                     ("builtin", "rng-builtin")) if has(f)]),
        filesystem=CapsItem.of(True, driverType=["path", "handle"] + (["virtiofs"] if has("vhost-user-fs") else [])),
        tpm=tpm,
        redirdev=CapsItem.of(True, bus=["usb"]) if has("usb-redir") else CapsItem(supported=False),
        channel=CapsItem.of(True, type=channel),
    )
    features = FeaturesCaps(
        gic=CapsItem(supported=False),
        vmcoreinfo=CapsItem(supported=has("vmcoreinfo")),
        genid=CapsItem(supported=has("vmgenid")),
        backing_store_input=CapsItem(supported=True),
        backup=CapsItem(supported=has("incremental-backup")),
        sev=None,
        sgx=None,
    )
    from virt.conf.domcaps import SEVCaps, SGXCaps
    features.sev = SEVCaps(supported=False)
    features.sgx = SGXCaps(supported=False)
    if caps.hyperv is not None:
        features.hyperv = CapsItem.of(True, features=caps.hyperv) if caps.hyperv else CapsItem(supported=True)
    mem_sources = ["file", "anonymous"] + (["memfd"] if has("memory-backend-memfd") else [])
    return DomainCapabilities(
        path=caps.binary, domain=virt_type, machine=name, arch=arch, vcpu=VCPUMax(max=max_vcpus),
        iothreads=CapsItem(supported=True), os=_os_caps(caps, name, arch), cpu=_cpu_caps(caps, virt_type, name),
        memory_backing=CapsItem.of(True, sourceType=mem_sources), devices=devices, features=features)


def host_capabilities(binaries: list[QemuCaps]) -> Capabilities:
    """``<capabilities>``: the host and one ``<guest>`` per QEMU binary."""
    arch = host_arch()
    host = Host(cpu=HostCPU(arch=arch), power_management=FlagList(),
                iommu=Iommu(support=any(Path("/sys/kernel/iommu_groups").glob("*"))),
                migration_features=MigrationFeatures(live=True, uri_transports=MigrationTransports(
                    transports=[URITransport(name="tcp"), URITransport(name="rdma")])))
    try:
        host.uuid = Path("/sys/class/dmi/id/product_uuid").read_text().strip() or None
    except OSError:
        pass
    guests = []
    for caps in binaries:
        virt = caps.virt_type()
        accel = caps.accel(virt)
        machines: list[GuestMachine] = []
        for m in accel.machines:
            if m.alias:
                machines.append(GuestMachine(name=m.alias, canonical=m.name, max_cpus=m.max_cpus,
                                             deprecated=True if m.deprecated else None))
            else:
                machines.append(GuestMachine(name=m.name, max_cpus=m.max_cpus,
                                             deprecated=True if m.deprecated else None))
        # every canonical name also gets its own entry, right before its alias
        names = {g.name for g in machines}
        i = 0
        while i < len(machines):
            g = machines[i]
            if g.canonical and g.canonical not in names:
                machines.insert(i, GuestMachine(name=g.canonical, max_cpus=g.max_cpus, deprecated=g.deprecated))
                names.add(g.canonical)
                i += 1
            i += 1
        domains = ([GuestDomain(type="qemu")] if caps.has("tcg") else []) + \
                  ([GuestDomain(type="kvm")] if caps.has("kvm") else [])
        feats = [_feature("cpuselection"), _feature("deviceboot"), _feature("disksnapshot", "on", False),
                 _feature("externalSnapshot")]
        if caps.arch in ("x86_64", "i686", "aarch64"):
            feats.append(_feature("acpi", "on", True))
        if caps.arch in ("x86_64", "i686"):
            feats.append(_feature("apic", "on", False))
        guests.append(Guest(os_type="hvm", arch=GuestArch(
            name=caps.arch, wordsize=64 if caps.arch in ("x86_64", "aarch64", "ppc64", "s390x") else 32,
            emulator=caps.binary, machines=machines, domains=domains), features=GuestFeatures(feats)))
    return Capabilities(host=host, guests=guests)


def _feature(name: str, default: str | None = None, toggle: bool | None = None) -> GuestFeature:
    f = GuestFeature(default=default, toggle=toggle)
    f.name = name
    return f
