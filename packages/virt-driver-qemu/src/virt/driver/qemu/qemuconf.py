"""The driver's settings (qemu.conf): what they are called, their defaults, and how a file sets them.

Settings are described once as data (name in qemu.conf, attribute, type, default). ``QemuConfig``
holds the values; ``load`` reads a qemu.conf with libvirt's syntax (``virt.util.config``).
``harness()`` is the configuration libvirt's own test suite runs its command-line tests with; the
offline converters use it when given a recorded capabilities file, so their output can be compared
with libvirt's expected files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

#: qemu.conf name -> QemuConfig attribute (where the names differ only in spelling).
_CONF_NAMES: dict[str, str] = {
    "cgroup_device_acl": "cgroupDeviceACL",
    "vnc_listen": "vnc_listen", "vnc_tls": "vncTLS", "vnc_tls_x509_cert_dir": "vncTLSx509certdir",
    "vnc_tls_x509_verify": "vncTLSx509verify", "vnc_sasl": "vncSASL", "vnc_sasl_dir": "vncSASLdir",
    "vnc_password": "vncPassword", "vnc_auto_unix_socket": "vncAutoUnixSocket",
    "vnc_allow_host_audio": "vncAllowHostAudio", "nographics_allow_host_audio": "nogfxAllowHostAudio",
    "spice_listen": "spice_listen", "spice_tls": "spiceTLS", "spice_tls_x509_cert_dir": "spiceTLSx509certdir",
    "spice_sasl": "spiceSASL", "spice_sasl_dir": "spiceSASLdir", "spice_password": "spicePassword",
    "spice_auto_unix_socket": "spiceAutoUnixSocket", "chardev_tls": "chardevTLS",
    "chardev_tls_x509_cert_dir": "chardevTLSx509certdir", "chardev_tls_x509_verify": "chardevTLSx509verify",
    "chardev_tls_x509_secret_uuid": "chardevTLSx509secretUUID", "nbd_tls": "nbdTLS",
    "nbd_tls_x509_cert_dir": "nbdTLSx509certdir", "nbd_tls_x509_secret_uuid": "nbdTLSx509secretUUID",
    "vxhs_tls": "vxhsTLS", "vxhs_tls_x509_cert_dir": "vxhsTLSx509certdir",
    "vxhs_tls_x509_secret_uuid": "vxhsTLSx509secretUUID", "default_tls_x509_cert_dir": "defaultTLSx509certdir",
    "default_tls_x509_verify": "defaultTLSx509verify", "dump_guest_core": "dumpGuestCore",
    "set_process_name": "setProcessName", "seccomp_sandbox": "seccompSandbox", "log_timestamp": "logTimestamp",
    "user": "user", "group": "group", "memory_backing_dir": "memoryBackingDir",
    "hugetlbfs_mount": "hugetlbfs_mount", "remote_display_port_min": "remoteDisplayPortMin",
    "remote_display_port_max": "remoteDisplayPortMax", "deprecation_behavior": "deprecationBehavior",
}


@dataclass
class HugeTLBFS:
    mnt_dir: str
    size: int  # KiB
    default: bool = False


@dataclass
class QemuConfig:
    """Driver settings with qemu.conf's defaults. Attribute names follow libvirt's config struct."""

    vnc_listen: str = "127.0.0.1"
    vncTLS: bool = False
    vncTLSx509certdir: str = "/etc/pki/libvirt-vnc"
    vncTLSx509verify: bool = False
    vncSASL: bool = False
    vncSASLdir: str | None = None
    vncPassword: str | None = None
    vncAutoUnixSocket: bool = False
    vncAllowHostAudio: bool = False
    nogfxAllowHostAudio: bool = False
    spice_listen: str = "127.0.0.1"
    spiceTLS: bool = False
    spiceTLSx509certdir: str = "/etc/pki/libvirt-spice"
    spiceSASL: bool = False
    spiceSASLdir: str | None = None
    spicePassword: str | None = None
    spiceAutoUnixSocket: bool = False
    chardevTLS: bool = False
    chardevTLSx509certdir: str = "/etc/pki/libvirt-chardev"
    chardevTLSx509verify: bool = True
    chardevTLSx509secretUUID: str | None = None
    nbdTLS: bool = False
    nbdTLSx509certdir: str = "/etc/pki/libvirt-nbd"
    nbdTLSx509secretUUID: str | None = None
    vxhsTLS: bool = False
    vxhsTLSx509certdir: str = "/etc/pki/libvirt-vxhs"
    vxhsTLSx509secretUUID: str | None = None
    defaultTLSx509certdir: str = "/etc/pki/qemu"
    defaultTLSx509verify: bool = True
    dumpGuestCore: bool = False
    setProcessName: bool = False
    seccompSandbox: int = -1
    logTimestamp: bool = True
    user: str = "root"
    group: str = "root"
    memoryBackingDir: str = "/var/lib/libvirt/qemu/ram"
    hugetlbfs: list[HugeTLBFS] = field(default_factory=list)
    remoteDisplayPortMin: int = 5900
    remoteDisplayPortMax: int = 65535
    deprecationBehavior: str = "none"
    #: Where each domain's private directory lives (<libDir>/domain-<id>-<name>).
    libDir: str = "/var/lib/libvirt/qemu"
    stateDir: str = "/run/libvirt/qemu"
    channelTargetDir: str = "/var/lib/libvirt/qemu/channel/target"
    nvramDir: str = "/var/lib/libvirt/qemu/nvram"
    #: Environment variables QEMU gets (QEMU_AUDIO_DRV, SDL_AUDIODRIVER...): only the harness uses these.
    env: dict[str, str] = field(default_factory=dict)
    #: True for the configuration of libvirt's test harness (fake ports, fds, secrets).
    harness: bool = False
    #: Harness only: named fd groups (<source fdgroup=...>) and extra test flags.
    fd_groups: dict[str, list[int]] = field(default_factory=dict)
    test_flags: set[str] = field(default_factory=set)
    privileged: bool = True
    #: cgroup_device_acl: device nodes every guest may open (None: libvirt's default list).
    cgroupDeviceACL: list[str] | None = None

    def set(self, name: str, value: Any) -> None:
        """Set one setting by its qemu.conf name or attribute name; "env.NAME" sets an environment value."""
        if name.startswith("env."):
            self.env[name[4:]] = str(value)
            return
        if name.startswith("config."):
            name = name[7:]
        attr = _CONF_NAMES.get(name, name)
        known = {f.name: f for f in fields(self)}
        if attr not in known:
            raise KeyError(name)
        current = getattr(self, attr)
        if isinstance(current, bool):
            value = str(value).lower() in ("1", "true", "yes", "on")
        elif isinstance(current, int) and not isinstance(current, bool):
            value = int(value)
        elif attr == "cgroupDeviceACL":
            value = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        setattr(self, attr, value)

    def tls_dirs_inherit(self) -> None:
        """Subsystem TLS directories default to the default one unless set (qemu.conf semantics)."""
        for attr in ("vncTLSx509certdir", "spiceTLSx509certdir", "chardevTLSx509certdir",
                     "nbdTLSx509certdir", "vxhsTLSx509certdir"):
            if getattr(self, attr) is None:
                setattr(self, attr, self.defaultTLSx509certdir)


def harness() -> QemuConfig:
    """The settings libvirt's command-line test suite uses."""
    cfg = QemuConfig(harness=True, libDir="/tmp/lib", stateDir="/tmp/run",
                     channelTargetDir="/tmp/channel", memoryBackingDir="/var/lib/libvirt/qemu/ram")
    cfg.spiceTLS = True
    cfg.spicePassword = "123456"
    cfg.vncTLSx509certdir = "/etc/pki/libvirt-vnc"
    cfg.spiceTLSx509certdir = "/etc/pki/libvirt-spice"
    cfg.nbdTLSx509certdir = "/etc/pki/libvirt-nbd/dummy,path"
    # the secret UUIDs most of libvirt's command-line tests run with
    cfg.nbdTLSx509secretUUID = cfg.vxhsTLSx509secretUUID = cfg.chardevTLSx509secretUUID = \
        "6fd3f62d-9fe7-4a4e-a869-7acd6376d8ea"
    cfg.hugetlbfs = [HugeTLBFS("/dev/hugepages2M", 2048, True), HugeTLBFS("/dev/hugepages1G", 1048576)]
    return cfg


def load(path: str | os.PathLike[str], base: QemuConfig | None = None) -> QemuConfig:
    """Settings from a qemu.conf file on top of ``base`` (the defaults)."""
    from virt.util.config import read

    cfg = base or QemuConfig()
    values = read(Path(path)).as_dict()
    for name, value in values.items():
        if name == "hugetlbfs_mount":
            mounts = value if isinstance(value, list) else [value]
            cfg.hugetlbfs = [HugeTLBFS(str(m), 2048, i == 0) for i, m in enumerate(mounts)]
            continue
        try:
            cfg.set(name, value)
        except KeyError:
            continue  # settings this driver does not use
    return cfg
