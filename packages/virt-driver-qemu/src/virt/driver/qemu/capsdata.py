"""What the capabilities prober asks QEMU and which feature flag each answer turns on, as data.

Flag names are libvirt's (QEMU_CAPS_* as they appear in its capabilities cache), listed in
libvirt's order so that the cache file we write lists them as libvirt does. Retired flags keep
their place (the order is part of the format) but nothing sets them.
"""

from __future__ import annotations

#: Every flag name in libvirt 9.0.0's order.
FLAG_NAMES: tuple[str, ...] = tuple(["vnc-colon", "no-reboot", "drive", "drive-boot", "name", "uuid", "domid", "vnet-hdr", "migrate-kvm-stdio", "migrate-qemu-tcp", "migrate-qemu-exec", "drive-cache-v2", "kvm", "drive-format", "vga", "0.10", "pci-device", "mem-path", "drive-serial", "xen-domid", "migrate-qemu-unix", "chardev", "enable-kvm", "monitor-json", "balloon", "device", "sdl", "smp-topology", "netdev", "rtc", "vhost-net", "rtc-td-hack", "no-hpet", "no-kvm-pit", "tdf", "pci-configfd", "nodefconfig", "boot-menu", "fsdev", "nesting", "name-process", "drive-readonly", "smbios-type", "vga-qxl", "spice", "vga-none", "migrate-qemu-fd", "boot-index", "hda-duplex", "drive-aio", "pci-multibus", "pci-bootindex", "ccid-emulated", "ccid-passthru", "chardev-spicevmc", "device-spicevmc", "virtio-tx-alg", "device-qxl-vga", "pci-multifunction", "virtio-blk-pci.ioeventfd", "sga", "virtio-blk-pci.event_idx", "virtio-net-pci.event_idx", "cache-directsync", "piix3-usb-uhci", "piix4-usb-uhci", "usb-ehci", "ich9-usb-ehci1", "vt82c686b-usb-uhci", "pci-ohci", "usb-redir", "usb-hub", "no-shutdown", "cache-unsafe", "rombar", "ich9-ahci", "no-acpi", "fsdev-readonly", "virtio-blk-pci.scsi", "blk-sg-io", "drive-copy-on-read", "cpu-host", "fsdev-writeout", "drive-iotune", "system_wakeup", "scsi-disk.channel", "scsi-block", "transaction", "block-job-sync", "block-job-async", "scsi-cd", "ide-cd", "no-user-config", "hda-micro", "dump-guest-memory", "nec-usb-xhci", "virtio-s390", "balloon-event", "bridge", "lsi", "virtio-scsi-pci", "blockio", "disable-s3", "disable-s4", "usb-redir.filter", "ide-drive.wwn", "scsi-disk.wwn", "seccomp-sandbox", "reboot-timeout", "dump-guest-core", "seamless-migration", "block-commit", "vnc", "drive-mirror", "usb-redir.bootindex", "usb-host.bootindex", "blockdev-snapshot-sync", "qxl", "VGA", "cirrus-vga", "vmware-svga", "device-video-primary", "s390-sclp", "usb-serial", "usb-net", "add-fd", "nbd-server", "virtio-rng", "rng-random", "rng-egd", "virtio-ccw", "dtb", "megasas", "ipv6-migration", "machine-opt", "machine-usb-opt", "tpm-passthrough", "tpm-tis", "nvram", "pci-bridge", "vfio-pci", "vfio-pci.bootindex", "scsi-generic", "scsi-generic.bootindex", "mem-merge", "vnc-websocket", "drive-discard", "mlock", "vnc-share-policy", "device-del-event", "dmi-to-pci-bridge", "i440fx-pci-hole64-size", "q35-pci-hole64-size", "usb-storage", "usb-storage.removable", "virtio-mmio", "ich9-intel-hda", "kvm-pit-lost-tick-policy", "boot-strict", "pvpanic", "enable-fips", "spice-file-xfer-disable", "spiceport", "usb-kbd", "host-pci-multidomain", "msg-timestamp", "active-commit", "change-backing-file", "memory-backend-ram", "numa", "memory-backend-file", "usb-audio", "rtc-reset-reinjection", "splash-timeout", "iothread", "migrate-rdma", "ivshmem", "drive-iotune-max", "VGA.vgamem_mb", "vmware-svga.vgamem_mb", "qxl.vgamem_mb", "qxl-vga.vgamem_mb", "pc-dimm", "machine-vmport-opt", "aes-key-wrap", "dea-key-wrap", "pci-serial", "aarch64-off", "vhost-user-multiqueue", "migration-event", "gpex-pcihost", "ioh3420", "x3130-upstream", "xio3130-downstream", "rtl8139", "e1000", "virtio-net", "gic-version", "incoming-defer", "virtio-gpu", "virtio-gpu.virgl", "virtio-keyboard", "virtio-mouse", "virtio-tablet", "virtio-input-host", "chardev-file-append", "ich9-disable-s3", "ich9-disable-s4", "vserport-change-event", "virtio-balloon-pci.deflate-on-oom", "mptsas1068", "spice-gl", "qxl.vram64_size_mb", "qxl-vga.vram64_size_mb", "chardev-logfile", "debug-threads", "secret", "pxb", "pxb-pcie", "device-tray-moved-event", "nec-usb-xhci-ports", "virtio-scsi-pci.iothread", "name-guest", "qxl.max_outputs", "qxl-vga.max_outputs", "spice-unix", "drive-detect-zeroes", "tls-creds-x509", "display", "intel-iommu", "smm", "virtio-pci-disable-legacy", "query-hotpluggable-cpus", "virtio-net.rx_queue_size", "machine-iommu", "virtio-vga", "drive-iotune-max-length", "ivshmem-plain", "ivshmem-doorbell", "query-qmp-schema", "gluster.debug_level", "vhost-scsi", "drive-iotune-group", "query-cpu-model-expansion", "virtio-net.host_mtu", "spice-rendernode", "nvdimm", "pcie-root-port", "query-cpu-definitions", "block-write-threshold", "query-named-block-nodes", "cpu-cache", "qemu-xhci", "kernel-irqchip", "kernel-irqchip.split", "intel-iommu.intremap", "intel-iommu.caching-mode", "intel-iommu.eim", "intel-iommu.device-iotlb", "virtio.iommu_platform", "virtio.ats", "loadparm", "spapr-pci-host-bridge", "spapr-pci-host-bridge.numa_node", "vnc-multi-servers", "virtio-net.tx_queue_size", "chardev-reconnect", "virtio-gpu.max_outputs", "vxhs", "virtio-blk.num-queues", "machine.pseries.resize-hpt", "vmcoreinfo", "spapr-vty", "sclplmconsole", "numa.dist", "disk-share-rw", "iscsi.password-secret", "isa-serial", "pl011", "machine.pseries.max-cpu-compat", "dump-completed", "virtio-gpu-ccw", "virtio-keyboard-ccw", "virtio-mouse-ccw", "virtio-tablet-ccw", "qcow2-luks", "pcie-pci-bridge", "seccomp-blacklist", "query-cpus-fast", "disk-write-cache", "nbd-tls", "tpm-crb", "pr-manager-helper", "qom-list-properties", "memory-backend-file.discard-data", "virtual-css-bridge", "virtual-css-bridge.cssid-unrestricted", "vfio-ccw", "sdl-gl", "screendump_device", "hda-output", "blockdev-del", "vmgenid", "vhost-vsock", "chardev-fd-pass", "tpm-emulator", "mch", "mch.extended-tseg-mbytes", "sev-guest", "machine.pseries.cap-hpt-max-page-size", "machine.pseries.cap-htm", "usb-storage.werror", "egl-headless", "vfio-pci.display", "blockdev", "vfio-ap", "zpci", "memory-backend-memfd", "memory-backend-memfd.hugetlb", "iothread.poll-max-ns", "machine.pseries.cap-nested-hv", "egl-headless.rendernode", "memory-backend-file.align", "memory-backend-file.pmem", "nvdimm.unarmed", "scsi-disk.device_id", "virtio-pci-non-transitional", "overcommit", "query-current-machine", "machine.virt.iommu", "bitmap-merge", "nbd-bitmap", "x86-max-cpu", "cpu-unavailable-features", "canonical-cpu-features", "bochs-display", "migration-file-drop-cache", "dbus-vmstate", "vhost-user-gpu", "vhost-user-vga", "incremental-backup", "query-cpu-model-baseline", "query-cpu-model-comparison", "ramfb", "machine.pseries.cap-ccf-assist", "arm-max-cpu", "blockdev-file-dynamic-auto-read-only", "savevm-monitor-nodes", "drive-nvme", "smp-dies", "i8042", "rng-builtin", "virtio-net.failover", "tpm-spapr", "cpu.kvm-no-adjvtime", "vhost-user-fs", "query-named-block-nodes.flat", "blockdev-snapshot.allow-write-only-overlay", "blockdev-reopen", "storage.werror", "fsdev.multidevs", "virtio.packed", "pcie-root-port.hotplug", "aio.io_uring", "machine.pseries.cap-cfpc", "machine.pseries.cap-sbbc", "machine.pseries.cap-ibs", "tcg", "virtio-blk-pci.scsi.default.disabled", "pvscsi", "cpu.migratable", "query-cpu-model-expansion.migratable", "fw_cfg", "migration-param.bandwidth", "migration-param.downtime", "migration-param.xbzrle-cache-size", "intel-iommu.aw-bits", "spapr-tpm-proxy", "numa.hmat", "blockdev-hostdev-scsi", "usb-host.hostdevice", "virtio-balloon.free-page-reporting", "block-export-add", "netdev.vhost-vdpa", "fsdev.createmode", "ncr53c90", "dc390", "am53c974", "virtio-pmem-pci", "vhost-user-fs.bootindex", "vhost-user-blk", "cpu-max", "memory-backend-file.x-use-canonical-path-for-ramblock-id", "vnc-opts", "migration-param.block-bitmap-mapping", "vnc-power-control", "audiodev", "blockdev-backup", "object.qapified", "rotation-rate", "compat-deprecated", "acpi-index", "input-linux", "virtio-gpu-gl-pci", "virtio-vga-gl", "confidential-guest-support", "query-display-options", "s390-pv-guest", "set-action", "virtio-blk.queue-size", "virtio-mem-pci", "memory-backend-file.reserve", "piix4.acpi-root-pci-hotplug", "netdev.json", "chardev.json", "device.json", "query-dirty-rate", "rbd-encryption", "sev-guest-kernel-hashes", "sev-inject-launch-secret", "device.json+hotplug", "hvf", "virtio-mem-pci.prealloc", "calc-dirty-rate", "dirtyrate-param.mode", "blockdev.nbd.tls-hostname", "memory-backend-file.prealloc-threads", "virtio-iommu-pci", "virtio-iommu.boot-bypass", "virtio-net.rss", "chardev.qemu-vdagent", "display-dbus", "iothread.thread-pool-max", "usb-host.guest-resets-all", "migration.blocked-reasons", "query-stats", "query-stats-schemas", "sgx-epc", "thread-context", "screenshot-format-png", "machine-hpet", "netdev.stream"])

FLAG_INDEX: dict[str, int] = {name: i for i, name in enumerate(FLAG_NAMES)}

#: A command in the QMP schema turns the flag on.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("query-vnc", "vnc"),
    ("rtc-reset-reinjection", "rtc-reset-reinjection"),
    ("query-cpu-model-expansion", "query-cpu-model-expansion"),
    ("query-cpu-definitions", "query-cpu-definitions"),
    ("query-cpu-model-baseline", "query-cpu-model-baseline"),
    ("query-cpu-model-comparison", "query-cpu-model-comparison"),
    ("block-export-add", "block-export-add"),
    ("blockdev-reopen", "blockdev-reopen"),
    ("set-action", "set-action"),
    ("query-dirty-rate", "query-dirty-rate"),
    ("sev-inject-launch-secret", "sev-inject-launch-secret"),
    ("calc-dirty-rate", "calc-dirty-rate"),
    ("query-stats", "query-stats"),
    ("query-stats-schemas", "query-stats-schemas"),
    ("query-hotpluggable-cpus", "query-hotpluggable-cpus"),
)

#: A migration capability QEMU lists turns the flag on.
MIGRATION_CAPABILITIES: tuple[tuple[str, str], ...] = (("rdma-pin-all", "migrate-rdma"),)

#: A QOM type QEMU knows (qom-list-types) turns the flag on.
OBJECT_TYPES: tuple[tuple[str, str], ...] = tuple((t, f) for f, types in {
    "hda-duplex": "hda-duplex", "hda-micro": "hda-micro", "ccid-emulated": "ccid-card-emulated",
    "ccid-passthru": "ccid-card-passthru", "piix3-usb-uhci": "piix3-usb-uhci", "piix4-usb-uhci": "piix4-usb-uhci",
    "usb-ehci": "usb-ehci", "ich9-usb-ehci1": "ich9-usb-ehci1", "vt82c686b-usb-uhci": "vt82c686b-usb-uhci",
    "pci-ohci": "pci-ohci", "nec-usb-xhci": "nec-usb-xhci", "usb-redir": "usb-redir", "usb-hub": "usb-hub",
    "ich9-ahci": "ich9-ahci", "virtio-ccw": "virtio-blk-ccw", "s390-sclp": "sclpconsole", "lsi": "lsi53c895a",
    "virtio-scsi-pci": "virtio-scsi-pci virtio-scsi-ccw virtio-scsi-device", "megasas": "megasas",
    "qxl": "qxl", "scsi-block": "scsi-block", "VGA": "VGA", "cirrus-vga": "cirrus-vga",
    "vmware-svga": "vmware-svga", "usb-serial": "usb-serial",
    "virtio-rng": "virtio-rng-pci virtio-rng-ccw virtio-rng-device", "rng-random": "rng-random",
    "rng-egd": "rng-egd", "nvram": "spapr-nvram", "pci-bridge": "pci-bridge", "vfio-pci": "vfio-pci",
    "dmi-to-pci-bridge": "i82801b11-bridge", "usb-storage": "usb-storage", "virtio-mmio": "virtio-mmio",
    "ich9-intel-hda": "ich9-intel-hda", "pvpanic": "pvpanic", "usb-kbd": "usb-kbd", "usb-audio": "usb-audio",
    "pc-dimm": "pc-dimm", "pci-serial": "pci-serial", "gpex-pcihost": "gpex-pcihost", "ioh3420": "ioh3420",
    "x3130-upstream": "x3130-upstream", "xio3130-downstream": "xio3130-downstream", "rtl8139": "rtl8139",
    "e1000": "e1000", "virtio-net": "virtio-net-pci virtio-net-ccw virtio-net-device",
    "virtio-gpu": "virtio-gpu-pci virtio-gpu-device", "virtio-vga": "virtio-vga",
    "virtio-keyboard": "virtio-keyboard-device virtio-keyboard-pci",
    "virtio-mouse": "virtio-mouse-device virtio-mouse-pci",
    "virtio-tablet": "virtio-tablet-device virtio-tablet-pci",
    "virtio-input-host": "virtio-input-host-device virtio-input-host-pci", "mptsas1068": "mptsas1068",
    "pxb": "pxb", "pxb-pcie": "pxb-pcie", "intel-iommu": "intel-iommu", "ivshmem-plain": "ivshmem-plain",
    "ivshmem-doorbell": "ivshmem-doorbell", "vhost-scsi": "vhost-scsi", "nvdimm": "nvdimm",
    "pcie-root-port": "pcie-root-port", "qemu-xhci": "qemu-xhci", "spapr-pci-host-bridge": "spapr-pci-host-bridge",
    "vmcoreinfo": "vmcoreinfo", "spapr-vty": "spapr-vty", "sclplmconsole": "sclplmconsole",
    "isa-serial": "isa-serial", "pl011": "pl011", "virtio-gpu-ccw": "virtio-gpu-ccw",
    "virtio-keyboard-ccw": "virtio-keyboard-ccw", "virtio-mouse-ccw": "virtio-mouse-ccw",
    "virtio-tablet-ccw": "virtio-tablet-ccw", "pcie-pci-bridge": "pcie-pci-bridge",
    "pr-manager-helper": "pr-manager-helper", "vfio-ccw": "vfio-ccw", "hda-output": "hda-output",
    "vmgenid": "vmgenid", "vhost-vsock": "vhost-vsock-device", "mch": "mch", "sev-guest": "sev-guest",
    "vfio-ap": "vfio-ap", "zpci": "zpci", "memory-backend-memfd": "memory-backend-memfd",
    "virtio-pci-non-transitional": " ".join(f"{d}-{t}" for d in (
        "virtio-blk-pci", "virtio-net-pci", "vhost-scsi-pci", "virtio-rng-pci", "virtio-9p-pci",
        "virtio-balloon-pci", "vhost-vsock-pci", "virtio-scsi-pci", "virtio-serial-pci")
        for t in ("transitional", "non-transitional")),
    "x86-max-cpu": "max-x86_64-cpu", "bochs-display": "bochs-display", "dbus-vmstate": "dbus-vmstate",
    "vhost-user-gpu": "vhost-user-gpu", "vhost-user-vga": "vhost-user-vga", "ramfb": "ramfb",
    "arm-max-cpu": "max-arm-cpu", "i8042": "i8042", "rng-builtin": "rng-builtin", "tpm-spapr": "tpm-spapr",
    "vhost-user-fs": "vhost-user-fs-device", "tcg": "tcg-accel", "pvscsi": "pvscsi",
    "spapr-tpm-proxy": "spapr-tpm-proxy", "machine-vmport-opt": "vmport", "dc390": "dc390",
    "am53c974": "am53c974", "virtio-pmem-pci": "virtio-pmem-pci", "vhost-user-blk": "vhost-user-blk",
    "input-linux": "input-linux", "virtio-gpu-gl-pci": "virtio-gpu-gl-pci", "virtio-vga-gl": "virtio-vga-gl",
    "s390-pv-guest": "s390-pv-guest", "virtio-mem-pci": "virtio-mem-pci", "virtio-iommu-pci": "virtio-iommu-pci",
    "sgx-epc": "sgx-epc", "thread-context": "thread-context", "iothread": "iothread",
}.items() for t in types.split())

#: Device properties (device-list-properties): (device, condition flag or None, ((property, flag), ...)).
#: A device whose condition flag is unset is not asked about. A flag starting with "+" is one of
#: the driver's own features (``QemuCaps.features``) rather than a libvirt flag: libvirt 9.0.0
#: assumes them of every QEMU it supports, we check.
_BALLOON = (("deflate-on-oom", "virtio-balloon-pci.deflate-on-oom"),
            ("free-page-reporting", "virtio-balloon.free-page-reporting"), ("acpi-index", "acpi-index"))
_BLK = (("scsi", "virtio-blk-pci.scsi"), ("queue-size", "virtio-blk.queue-size"), ("acpi-index", "acpi-index"))
_NET = (("acpi-index", "acpi-index"), ("rss", "virtio-net.rss"), ("failover", "+virtio-net.failover"))
_SCSI = (("acpi-index", "acpi-index"),)
_GPU = (("virgl", "virtio-gpu.virgl"), ("acpi-index", "acpi-index"))
DEVICE_PROPS: tuple[tuple[str, str | None, tuple[tuple[str, str], ...]], ...] = (
    ("virtio-blk-pci", None, _BLK),
    ("virtio-net-pci", "virtio-net", _NET),
    ("virtio-scsi-pci", "virtio-scsi-pci", _SCSI),
    ("virtio-blk-ccw", "virtio-ccw", _BLK),
    ("virtio-net-ccw", "virtio-net", _NET),
    ("virtio-scsi-ccw", "virtio-scsi-pci", _SCSI),
    ("vfio-pci", "vfio-pci", (("display", "vfio-pci.display"),)),
    ("scsi-hd", None, (("channel", "scsi-disk.channel"), ("wwn", "scsi-disk.wwn"),
                       ("rotation_rate", "rotation-rate"))),
    ("ide-hd", None, (("wwn", "ide-drive.wwn"),)),
    ("PIIX4_PM", None, (("disable_s3", "disable-s3"), ("disable_s4", "disable-s4"),
                        ("acpi-root-pci-hotplug", "piix4.acpi-root-pci-hotplug"))),
    ("usb-redir", "usb-redir", (("filter", "usb-redir.filter"),)),
    ("usb-storage", "usb-storage", (("removable", "usb-storage.removable"),)),
    ("kvm-pit", None, (("lost_tick_policy", "kvm-pit-lost-tick-policy"),)),
    ("VGA", "VGA", (("vgamem_mb", "VGA.vgamem_mb"),)),
    ("vmware-svga", "vmware-svga", (("vgamem_mb", "vmware-svga.vgamem_mb"),)),
    ("qxl", "qxl", (("vgamem_mb", "qxl.vgamem_mb"), ("vram64_size_mb", "qxl.vram64_size_mb"))),
    ("virtio-gpu-pci", "virtio-gpu", _GPU),
    ("virtio-gpu-device", "virtio-gpu", _GPU),
    ("ICH9-LPC", None, (("disable_s3", "ich9-disable-s3"), ("disable_s4", "ich9-disable-s4"))),
    ("virtio-balloon-pci", None, _BALLOON),
    ("virtio-balloon-ccw", None, _BALLOON),
    ("virtio-balloon-device", None, _BALLOON),
    ("intel-iommu", "intel-iommu", (("intremap", "intel-iommu.intremap"),
                                    ("caching-mode", "intel-iommu.caching-mode"), ("eim", "intel-iommu.eim"),
                                    ("device-iotlb", "intel-iommu.device-iotlb"),
                                    ("aw-bits", "intel-iommu.aw-bits"))),
    ("spapr-pci-host-bridge", "spapr-pci-host-bridge", (("numa_node", "spapr-pci-host-bridge.numa_node"),)),
    ("virtio-gpu-ccw", "virtio-gpu-ccw", _GPU),
    ("mch", "mch", (("extended-tseg-mbytes", "mch.extended-tseg-mbytes"),)),
    ("nvdimm", "nvdimm", (("unarmed", "nvdimm.unarmed"),)),
    ("pcie-root-port", "pcie-root-port", (("hotplug", "pcie-root-port.hotplug"),)),
    ("usb-host", None, (("hostdevice", "usb-host.hostdevice"), ("guest-resets-all", "usb-host.guest-resets-all"))),
    ("vhost-user-fs-device", "vhost-user-fs", (("bootindex", "vhost-user-fs.bootindex"),)),
    ("virtio-mem-pci", "virtio-mem-pci", (("prealloc", "virtio-mem-pci.prealloc"),)),
    ("virtio-iommu-pci", "virtio-iommu-pci", (("boot-bypass", "virtio-iommu.boot-bypass"),)),
)

#: Object properties (qom-list-properties), same shape as DEVICE_PROPS.
_MAXCPU = (("unavailable-features", "cpu-unavailable-features"), ("kvm-no-adjvtime", "cpu.kvm-no-adjvtime"),
           ("migratable", "cpu.migratable"))
OBJECT_PROPS: tuple[tuple[str, str | None, tuple[tuple[str, str], ...]], ...] = (
    ("memory-backend-file", None, (("pmem", "memory-backend-file.pmem"),
                                   ("x-use-canonical-path-for-ramblock-id",
                                    "memory-backend-file.x-use-canonical-path-for-ramblock-id"),
                                   ("reserve", "memory-backend-file.reserve"),
                                   ("prealloc-threads", "memory-backend-file.prealloc-threads"))),
    ("memory-backend-memfd", "memory-backend-memfd", (("hugetlb", "memory-backend-memfd.hugetlb"),)),
    ("max-x86_64-cpu", "x86-max-cpu", _MAXCPU),
    ("max-arm-cpu", "arm-max-cpu", _MAXCPU),
)

#: Machine-type properties: (machine type, ((property, flag), ...)); asked only for known machines
#: ("none" always).
MACHINE_PROPS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("pseries", ()),
    ("virt", (("iommu", "machine.virt.iommu"),)),
    ("none", (("confidential-guest-support", "confidential-guest-support"),)),
)

#: Paths into the QMP schema (see qapi.path_exists) whose presence turns the flag on.
SCHEMA_QUERIES: tuple[tuple[str, str], ...] = (
    ("blockdev-add/arg-type/+vxhs", "vxhs"),
    ("blockdev-add/arg-type/+file/drop-cache", "migration-file-drop-cache"),
    ("blockdev-add/arg-type/+nvme", "drive-nvme"),
    ("blockdev-add/arg-type/+file/aio/^io_uring", "aio.io_uring"),
    ("blockdev-add/arg-type/+rbd/encrypt", "rbd-encryption"),
    ("blockdev-add/arg-type/+nbd/tls-hostname", "blockdev.nbd.tls-hostname"),
    ("blockdev-snapshot/$allow-write-only-overlay", "blockdev-snapshot.allow-write-only-overlay"),
    ("chardev-add/arg-type/backend/+socket/data/reconnect", "chardev-reconnect"),
    ("device_add/$json-cli-hotplug", "device.json+hotplug"),
    ("migrate-set-parameters/arg-type/block-bitmap-mapping/bitmaps/transform",
     "migration-param.block-bitmap-mapping"),
    ("nbd-server-start/arg-type/tls-creds", "nbd-tls"),
    ("nbd-server-add/arg-type/bitmap", "nbd-bitmap"),
    ("netdev_add/arg-type/+stream", "netdev.stream"),
    ("netdev_add/arg-type/+vhost-vdpa", "netdev.vhost-vdpa"),
    ("netdev_add/arg-type/type/^dgram", "netdev.json"),
    ("object-add/arg-type/qom-type/^secret", "object.qapified"),
    ("query-display-options/ret-type/+egl-headless/rendernode", "egl-headless.rendernode"),
    ("query-display-options/ret-type/+sdl", "sdl"),
    ("query-display-options/ret-type/+egl-headless", "egl-headless"),
    ("query-hotpluggable-cpus/ret-type/props/die-id", "smp-dies"),
    ("query-named-block-nodes/arg-type/flat", "query-named-block-nodes.flat"),
    ("screendump/arg-type/device", "screendump_device"),
    ("set-numa-node/arg-type/+hmat-lb", "numa.hmat"),
    ("object-add/arg-type/+sev-guest/kernel-hashes", "sev-guest-kernel-hashes"),
    ("calc-dirty-rate/arg-type/mode", "dirtyrate-param.mode"),
    ("chardev-add/arg-type/backend/+qemu-vdagent", "chardev.qemu-vdagent"),
    ("query-display-options/ret-type/+dbus", "display-dbus"),
    ("object-add/arg-type/+iothread/thread-pool-max", "iothread.thread-pool-max"),
    ("query-migrate/ret-type/blocked-reasons", "migration.blocked-reasons"),
    ("screendump/arg-type/format/^png", "screenshot-format-png"),
    ("query-iothreads/ret-type/poll-max-ns", "iothread.poll-max-ns"),
)

#: query-command-line-options: (option, parameter or None for "the option exists", flag).
COMMAND_LINE: tuple[tuple[str, str | None, str], ...] = (
    ("fsdev", "multidevs", "fsdev.multidevs"),
    ("machine", "hpet", "machine-hpet"),
    ("sandbox", None, "seccomp-sandbox"),
    ("spice", None, "spice"),
    ("spice", "gl", "spice-gl"),
    ("spice", "rendernode", "spice-rendernode"),
    ("vnc", "power-control", "vnc-power-control"),
)

#: query-tpm-models / query-tpm-types answers and their flags.
TPM_MODELS: tuple[tuple[str, str], ...] = (("tpm-tis", "tpm-tis"), ("tpm-crb", "tpm-crb"),
                                           ("tpm-spapr", "tpm-spapr"))
TPM_TYPES: tuple[tuple[str, str], ...] = (("passthrough", "tpm-passthrough"), ("emulator", "tpm-emulator"))

#: libvirt's spelling of x86 CPU features whose QEMU spelling differs.
CPU_FEATURES_LIBVIRT_TO_QEMU: dict[str, str] = {
    "cmp_legacy": "cmp-legacy", "ds_cpl": "ds-cpl", "fxsr_opt": "fxsr-opt", "kvm_pv_eoi": "kvm-pv-eoi",
    "kvm_pv_unhalt": "kvm-pv-unhalt", "lahf_lm": "lahf-lm", "nodeid_msr": "nodeid-msr",
    "pclmuldq": "pclmulqdq", "perfctr_core": "perfctr-core", "perfctr_nb": "perfctr-nb",
    "tsc_adjust": "tsc-adjust",
}
CPU_FEATURES_QEMU_TO_LIBVIRT: dict[str, str] = {v: k for k, v in CPU_FEATURES_LIBVIRT_TO_QEMU.items()}

#: Hyper-V enlightenments in libvirt's order (the <hyperv> feature names).
HYPERV_FEATURES: tuple[str, ...] = (
    "relaxed", "vapic", "spinlocks", "vpindex", "runtime", "synic", "stimer", "reset", "vendor_id",
    "frequencies", "reenlightenment", "tlbflush", "ipi", "evmcs", "avic",
)

#: The machine type libvirt prefers per QEMU target when the domain names none.
PREFERRED_MACHINES: dict[str, str] = {
    "alpha": "clipper", "armv6l": "integratorcp", "armv7l": "virt", "armv7b": "virt", "aarch64": "virt",
    "cris": "axis-dev88", "i686": "pc", "lm32": "lm32-evr", "m68k": "mcf5208evb",
    "microblaze": "petalogix-s3adsp1800", "microblazeel": "petalogix-s3adsp1800", "mips": "malta",
    "mipsel": "malta", "mips64": "malta", "mips64el": "malta", "or32": "or1k-sim", "ppc": "g3beige",
    "ppcle": "g3beige", "ppc64": "pseries", "ppc64le": "pseries", "ppcemb": "bamboo", "riscv32": "virt",
    "riscv64": "virt", "s390x": "s390-ccw-virtio", "sh4": "shix", "sh4eb": "shix", "sparc": "SS-5",
    "sparc64": "sun4u", "unicore32": "puv3", "x86_64": "pc", "xtensa": "sim", "xtensaeb": "sim",
}
