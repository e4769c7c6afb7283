"""Domain definitions of the running driver: parsed, completed with the qemu driver's defaults, formatted.

A definition is kept as an XML tree. ``parse_definition`` runs libvirt's generic parse and validation
(``virt.conf``), checks what only the qemu driver knows (virt type, emulator, KVM), then completes the
domain as the driver does at define time (machine type expansion, implicit devices, addresses), so
``dumpxml --inactive`` shows what libvirt's qemu driver would. The live definition of a running
guest is the one ``prepare`` completed for the command line; ``public_tree`` turns its private
annotations into what ``dumpxml`` shows (``<alias name='...'/>``).
"""

from __future__ import annotations

import fcntl
import functools
import os
from copy import deepcopy
from typing import TYPE_CHECKING, Any

from lxml import etree
from virt.driver.qemu import xmlutil as X
from virt.util.errors import (
    ConfigUnsupportedError,
    ErrorDomain,
    InvalidArgError,
    OperationFailedError,
    SystemError_,
)

if TYPE_CHECKING:
    from virt.driver.qemu.caps import QemuCaps
    from virt.driver.qemu.qemuconf import QemuConfig

E = etree._Element
QEMU = ErrorDomain.QEMU
#: The Debian package that provides the x86 emulator (named in errors when it is missing).
QEMU_PACKAGE = "qemu-system-x86"
#: KVM_GET_API_VERSION, and the version every KVM since 2.6.22 answers.
_KVM_GET_API_VERSION = 0xAE00
_KVM_API_VERSION = 12


@functools.cache
def kvm_works() -> bool:
    """Whether /dev/kvm opens and answers as KVM (permissions alone say little to root)."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return fcntl.ioctl(fd, _KVM_GET_API_VERSION) == _KVM_API_VERSION
    except OSError:
        return False
    finally:
        os.close(fd)


def emulator_for(tree: E) -> str:
    """The QEMU binary a definition runs: its <emulator> or the host's one for its architecture."""
    from virt.driver.qemu.caps import find_emulator

    path = X.text(tree, "devices/emulator")
    arch = X.get(tree, "os/type", "arch") or os.uname().machine
    if path:
        if not os.path.exists(path):
            hint = f"; install the Debian package {QEMU_PACKAGE}" if "qemu-system-x86" in path else ""
            raise SystemError_(f"Cannot check QEMU binary {path}: No such file or directory{hint}",
                               domain=QEMU, int1=2)
        return path
    found = find_emulator(arch)
    if found is None:
        raise OperationFailedError(f"unable to find any emulator to serve '{arch}' architecture: "
                                   f"QEMU is not installed (install the Debian package {QEMU_PACKAGE})",
                                   domain=QEMU)
    return found


def check_virt_type(tree: E, caps: QemuCaps) -> None:
    """``type='kvm'`` needs a working KVM; anything but qemu/kvm is not this driver's."""
    virt_type = tree.get("type", "")
    arch = X.get(tree, "os/type", "arch") or "x86_64"
    if virt_type not in ("qemu", "kvm"):
        raise InvalidArgError(f"could not find capabilities for arch={arch} domaintype={virt_type} ", domain=QEMU)
    if virt_type == "kvm" and (not kvm_works() or "kvm" not in caps.flags):
        raise ConfigUnsupportedError(
            f"Emulator '{caps.binary}' does not support virt type 'kvm': /dev/kvm is missing or unusable "
            "(enable hardware virtualization and load the kvm modules, or use <domain type='qemu'> for "
            "emulation)", domain=QEMU)


def parse_definition(xml: str | bytes, caps_for: Any, cfg: QemuConfig, *, validate: bool = False,
                     defaults: bool = True) -> E:
    """A new definition (define, create): libvirt's parse and checks, then the qemu driver's defaults.

    ``defaults=False`` leaves the driver's defaults to the start that follows (a transient guest:
    starting completes the definition the same way).
    """
    from virt.conf import parse

    model: Any = parse(xml, "domain", inactive=True, strict=validate)
    tree = X.parse(model.format(inactive=True, secure=True))
    caps = caps_for(emulator_for(tree))
    check_virt_type(tree, caps)
    return complete(tree, caps, cfg) if defaults else tree


def complete(tree: E, caps: QemuCaps, cfg: QemuConfig) -> E:
    """The driver's define-time defaults on ``tree`` (a copy), in libvirt's canonical form."""
    from virt.conf import parse
    from virt.driver.qemu.prepare import prepare

    dom = prepare(deepcopy(tree), caps, cfg, for_start=False)
    X.strip_private(dom.root)
    model: Any = parse(dom.root, "domain", inactive=True)
    return X.parse(model.format(inactive=True, secure=True))


def public_tree(live: E, dom_id: int = -1) -> E:
    """The live definition as dumpxml shows it: aliases as <alias name=...>, private data dropped."""
    tree = deepcopy(live)
    for el in tree.iter():
        if not isinstance(el.tag, str):
            continue
        alias = X.alias(el)
        if alias and el.find("alias") is None:
            etree.SubElement(el, "alias", name=alias)
    X.strip_private(tree)
    if dom_id >= 0:
        tree.set("id", str(dom_id))
    return tree


def format_definition(tree: E, *, secure: bool, inactive: bool, dom_id: int = -1) -> str:
    """A definition as libvirt prints it (``virt.conf``'s formatter)."""
    from virt.conf import parse

    source = public_tree(tree, dom_id) if not inactive else tree
    if inactive and source.get("id") is not None:
        source = deepcopy(source)
        del source.attrib["id"]
    model: Any = parse(source, "domain", inactive=inactive)
    return str(model.format(inactive=inactive, secure=secure))


# ----------------------------------------------------------------------------------------- accessors
def name_of(tree: E) -> str:
    return X.text(tree, "name") or ""


def uuid_of(tree: E) -> str:
    return X.text(tree, "uuid") or ""


def memory_kib(tree: E) -> int:
    return X.parse_size_kib(tree.find("memory"), 0) or 0


def current_memory_kib(tree: E) -> int:
    return X.parse_size_kib(tree.find("currentMemory"), None) or memory_kib(tree)


def set_kib(tree: E, tag: str, kib: int) -> None:
    el = tree.find(tag)
    if el is None:
        el = X.sub(tree, tag, order=_DOMAIN_ORDER)
    el.set("unit", "KiB")
    el.text = str(kib)


def vcpus(tree: E) -> tuple[int, int]:
    """(current, maximum) vCPUs."""
    v = tree.find("vcpu")
    maximum = int((v.text or "1").strip()) if v is not None and v.text else 1
    current = int(v.get("current") or maximum) if v is not None else maximum
    return current, maximum


def set_vcpus(tree: E, current: int | None = None, maximum: int | None = None) -> None:
    v = tree.find("vcpu")
    if v is None:
        v = X.sub(tree, "vcpu", order=_DOMAIN_ORDER, text_="1")
    cur, mx = vcpus(tree)
    mx = maximum if maximum is not None else mx
    cur = min(current if current is not None else cur, mx)
    v.text = str(mx)
    if cur < mx:
        v.set("current", str(cur))
    elif "current" in v.attrib:
        del v.attrib["current"]


def has_balloon(tree: E) -> bool:
    mb = tree.find("devices/memballoon")
    return mb is not None and mb.get("model") != "none"


def lifecycle_action(tree: E, event: str) -> str:
    default = {"on_poweroff": "destroy", "on_reboot": "restart", "on_crash": "destroy"}[event]
    return (X.text(tree, event) or default).strip()


_DOMAIN_ORDER = ("name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory",
                 "currentMemory", "blkiotune", "memtune", "memoryBacking", "vcpu", "vcpus", "iothreads",
                 "iothreadids", "defaultiothread", "cputune", "numatune", "resource", "sysinfo", "bootloader",
                 "bootloader_args", "os", "idmap", "features", "cpu", "clock", "on_poweroff", "on_reboot",
                 "on_crash", "on_lockfailure", "pm", "perf", "devices", "seclabel", "keywrap", "launchSecurity")
