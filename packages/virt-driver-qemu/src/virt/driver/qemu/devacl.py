"""The device nodes a guest's QEMU may open: libvirt's devices-cgroup ACL (cgroup v1).

At start the guest's group denies every device, then allows back, in libvirt's order: the block
devices its disks (and their backing chains, read-only) use, pseudo-terminals (major 136), host
audio when the configuration lets QEMU reach it (major 116), qemu.conf's ``cgroup_device_acl``
(libvirt's default list when unset), and the host devices its character devices and RNG back ends
name. A hot-plugged block disk is allowed before QEMU opens it and denied again once it is
unplugged. On cgroup v2 (no v1 devices controller) the same rules become a BPF device program
attached to the guest's group (``virt.util.bpfdevices``), rebuilt whenever they change; where the
kernel refuses the program (a parent group's exclusive program) the guest runs without it and a
warning is logged.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path
from typing import Any

from virt.driver.qemu import xmlutil as X
from virt.util.errors import VirtError

#: libvirt's cgroup_device_acl when qemu.conf does not set one.
DEFAULT_ACL = ("/dev/null", "/dev/full", "/dev/zero", "/dev/random", "/dev/urandom", "/dev/ptmx", "/dev/kvm")
#: Character-device majors libvirt allows as a whole.
PTY_MAJOR = 136
SND_MAJOR = 116

Rule = tuple[str, int, int | None, str]  # (kind "c"/"b", major, minor or None for all, perms)
log = logging.getLogger(__name__)


def _node(path: str, perms: str) -> Rule | None:
    """The rule for device node ``path``; None if it is not a device (files need no rule)."""
    try:
        st = os.stat(path)
    except OSError:
        return None  # libvirt skips ACL entries that do not exist on this host
    if stat.S_ISCHR(st.st_mode):
        return ("c", os.major(st.st_rdev), os.minor(st.st_rdev), perms)
    if stat.S_ISBLK(st.st_mode):
        return ("b", os.major(st.st_rdev), os.minor(st.st_rdev), perms)
    return None


def disk_rules(disk: Any) -> list[Rule]:
    """A disk's block devices: its own source read-write (unless read-only), its backing chain read-only."""
    out = []
    readonly = disk.find("readonly") is not None
    el = disk
    top = True
    while el is not None:
        src = el.find("source")
        path = (src.get("dev") or src.get("file")) if src is not None else None
        if path:
            rule = _node(path, "r" if readonly or not top else "rw")
            if rule is not None:
                out.append(rule)
        el = el.find("backingStore")
        top = False
    return out


def _host_audio(tree: Any, cfg: Any) -> bool:
    if tree.find("devices/sound") is None:
        return False
    kinds = {g.get("type") for g in tree.findall("devices/graphics")}
    return bool(("vnc" in kinds and cfg.vncAllowHostAudio) or ("sdl" in kinds) or
                (not kinds and cfg.nogfxAllowHostAudio))


def rules(tree: Any, cfg: Any, skip: Any = None) -> list[Rule]:
    """Every allow rule of a guest with definition ``tree`` under qemu.conf ``cfg``, in libvirt's order
    (without disk ``skip``, one being removed)."""
    out: list[Rule] = []
    for disk in tree.findall("devices/disk"):
        if disk is not skip:
            out += disk_rules(disk)
    out.append(("c", PTY_MAJOR, None, "rw"))
    if _host_audio(tree, cfg):
        out.append(("c", SND_MAJOR, None, "rw"))
    acl = cfg.cgroupDeviceACL if cfg.cgroupDeviceACL is not None else DEFAULT_ACL
    for path in acl:
        rule = _node(path, "rw")
        if rule is not None:
            out.append(rule)
    for tag in ("serial", "parallel", "console", "channel"):
        for el in tree.findall(f"devices/{tag}"):
            if el.get("type") == "dev":
                rule = _node(X.get(el, "source", "path") or "", "rw")
                if rule is not None:
                    out.append(rule)
    for rng in tree.findall("devices/rng"):
        backend = rng.find("backend")
        if backend is not None and backend.get("model") == "random":
            rule = _node((backend.text or "/dev/random").strip(), "rw")
            if rule is not None:
                out.append(rule)
    for path in device_paths(tree):
        rule = _node(path, "rw")
        if rule is not None:
            out.append(rule)
    return out


def _hostdev_paths(hostdev: Any) -> list[str]:
    """The device nodes QEMU opens for a host device: its VFIO group (and the VFIO container), a
    USB device's node, a SCSI device's generic node."""
    kind = hostdev.get("type")
    src = hostdev.find("source")
    if hostdev.get("mode", "subsystem") != "subsystem" or src is None:
        return []
    group: Path | None = None
    if kind == "pci":
        a = src.find("address")
        if a is None:
            return []
        name = "{:04x}:{:02x}:{:02x}.{:x}".format(*(int(a.get(k, "0"), 0) for k in ("domain", "bus", "slot",
                                                                                   "function")))
        group = Path("/sys/bus/pci/devices") / name / "iommu_group"
    elif kind == "mdev":
        a = src.find("address")
        group = Path("/sys/bus/mdev/devices") / (a.get("uuid", "") if a is not None else "") / "iommu_group"
    elif kind == "usb":
        a = src.find("address")
        if a is not None and a.get("bus") and a.get("device"):
            return [f"/dev/bus/usb/{int(a.get('bus', '0'), 0):03d}/{int(a.get('device', '0'), 0):03d}"]
        return []
    elif kind == "scsi":
        adapter, a = src.find("adapter"), src.find("address")
        if adapter is None or a is None or not (adapter.get("name") or "").startswith("scsi_host"):
            return []
        host = (adapter.get("name") or "")[len("scsi_host"):]
        unit = f"{host}:{a.get('bus', '0')}:{a.get('target', '0')}:{a.get('unit', '0')}"
        generic = Path("/sys/bus/scsi/devices") / unit / "scsi_generic"
        with contextlib.suppress(OSError):
            return [f"/dev/{name}" for name in os.listdir(generic)]
        return []
    if group is None:
        return []
    try:
        return ["/dev/vfio/vfio", f"/dev/vfio/{os.path.basename(os.readlink(group))}"]
    except OSError:
        return []


def device_paths(tree: Any) -> list[str]:
    """Other host device nodes a guest's definition names: host devices, evdev and passthrough input,
    TPM passthrough, render nodes of accelerated graphics, SEV."""
    out: list[str] = []
    for hostdev in tree.findall("devices/hostdev"):
        out += _hostdev_paths(hostdev)
    for inp in tree.findall("devices/input"):
        if inp.get("type") in ("passthrough", "evdev"):
            path = X.get(inp, "source", "evdev") or X.get(inp, "source", "dev")
            if path:
                out.append(path)
    for tpm in tree.findall("devices/tpm"):
        if X.get(tpm, "backend", "type") == "passthrough":
            out.append(X.get(tpm, "backend/device", "path") or "/dev/tpm0")
    for gl in tree.findall("devices/graphics/gl") + tree.findall("devices/video/model/acceleration"):
        if gl.get("rendernode"):
            out.append(str(gl.get("rendernode")))
    if tree.find("launchSecurity[@type='sev']") is not None:
        out.append("/dev/sev")
    return out


def _filter(group: Any, allowed: list[Rule]) -> bool:
    """cgroup v2: ``allowed`` becomes the group's BPF device program."""
    try:
        group.set_device_filter(allowed)
    except VirtError as err:
        log.warning("cannot attach the device filter to the guest's cgroup: %s", err)
        return False
    return True


def apply(group: Any, tree: Any, cfg: Any) -> bool:
    """Deny every device to ``group``, then allow the guest's; False where the host cannot."""
    if group is None:
        return False
    if group.supports_device_acl():
        group.deny_all_devices()
        for kind, major, minor, perms in rules(tree, cfg):
            group.allow_device(kind, major, minor, perms)
        return True
    if group.supports_device_filter():
        return _filter(group, rules(tree, cfg))
    return False


def allow_disk(group: Any, disk: Any, live: Any = None, cfg: Any = None) -> list[Rule]:
    """Let the guest open a disk about to be hot-plugged into ``live``; returns the rules added."""
    if group is None:
        return []
    added = disk_rules(disk)
    if group.supports_device_acl():
        for kind, major, minor, perms in added:
            group.allow_device(kind, major, minor, perms)
    elif added and live is not None and group.supports_device_filter():
        _filter(group, rules(live, cfg) + added)
    return added


def allow_path(group: Any, path: str, perms: str = "rw", live: Any = None, cfg: Any = None) -> bool:
    """Let the guest open device node ``path`` (an external snapshot's overlay on a block device)."""
    rule = _node(path, perms)
    if group is None or rule is None:
        return False
    if group.supports_device_acl():
        group.allow_device(*rule)
        return True
    if live is not None and group.supports_device_filter():
        return _filter(group, [*rules(live, cfg), rule])
    return False


def deny_disk(group: Any, disk: Any, live: Any = None, cfg: Any = None) -> None:
    """Take back a removed disk's block devices (libvirt denies them whole: rwm)."""
    if group is None:
        return
    if group.supports_device_acl():
        for kind, major, minor, _ in disk_rules(disk):
            with contextlib.suppress(VirtError):
                group.deny_device(kind, major, minor, "rwm")
    elif live is not None and disk_rules(disk) and group.supports_device_filter():
        _filter(group, rules(live, cfg, skip=disk))
