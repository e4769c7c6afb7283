"""Firmware autoselection (``<os firmware='efi|bios'>``) from QEMU firmware descriptors.

The descriptors (QEMU's docs/interop/firmware.json) come from /usr/share/qemu/firmware,
/etc/qemu/firmware and the user's $XDG_CONFIG_HOME/qemu/firmware, a same-named file in a later
directory overriding (an empty one masking) an earlier one, taken in file-name order; the first
that fits the domain wins (libvirt's qemuFirmwareFillDomain). In libvirt's test-harness mode the
descriptors are those of libvirt's test data.
"""

from __future__ import annotations

import fnmatch
import os
from typing import TYPE_CHECKING

from lxml import etree
from virt.driver.qemu import xmlutil as X
from virt.driver.qemu.domcaps import FIRMWARE_DIRS, Firmware, load_firmware_descriptors
from virt.util.errors import OperationFailedError

if TYPE_CHECKING:
    from virt.driver.qemu.prepare import Domain

E = etree._Element

_Q35 = ["pc-q35-*"]
_PC = ["pc-i440fx-*", "pc-q35-*"]

#: The descriptors libvirt's command-line tests see, in order (60-ovmf-sb.json is masked there).
HARNESS_FIRMWARE = [
    Firmware("40-bios.json", ["bios"], "/usr/share/seabios/bios-256k.bin", None,
             [("i386", _PC), ("x86_64", _PC)], ["acpi-s3", "acpi-s4"], "memory"),
    Firmware("40-ovmf-sb-keys.json", ["uefi"], "/usr/share/OVMF/OVMF_CODE.secboot.fd",
             "/usr/share/OVMF/OVMF_VARS.secboot.fd", [("x86_64", _Q35)],
             ["acpi-s3", "amd-sev", "enrolled-keys", "requires-smm", "secure-boot", "verbose-dynamic"]),
    Firmware("45-ovmf-sev-stateless.json", ["uefi"], "/usr/share/OVMF/OVMF.sev.fd", None, [("x86_64", _Q35)],
             ["acpi-s3", "amd-sev", "amd-sev-es", "verbose-dynamic"], mode="stateless"),
    Firmware("50-ovmf-sb-keys.json", ["uefi"], "/usr/share/OVMF/OVMF_CODE.secboot.fd",
             "/usr/share/OVMF/OVMF_VARS.secboot.fd", [("x86_64", _Q35)],
             ["acpi-s3", "amd-sev", "enrolled-keys", "requires-smm", "secure-boot", "verbose-dynamic"]),
    Firmware("61-ovmf.json", ["uefi"], "/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd",
             [("x86_64", _PC)], ["acpi-s3", "amd-sev", "verbose-dynamic"]),
    Firmware("70-aavmf.json", ["uefi"], "/usr/share/AAVMF/AAVMF_CODE.fd", "/usr/share/AAVMF/AAVMF_VARS.fd",
             [("aarch64", ["virt-*"])], ["verbose-static"]),
]


def descriptors(dom: Domain) -> list[Firmware]:
    if dom.cfg.harness:
        return HARNESS_FIRMWARE
    home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return load_firmware_descriptors(FIRMWARE_DIRS + (os.path.join(home, "qemu", "firmware"),))


def _tristate(v: str | None) -> bool | None:
    return None if v is None else v == "yes"


def requested_features(root: E) -> dict[str, bool]:
    out = {}
    for f in root.findall("os/firmware/feature"):
        if f.get("name"):
            out[f.get("name", "")] = f.get("enabled") == "yes"
    return out


def matches(dom: Domain, fw: Firmware) -> bool:
    root = dom.root
    os_el = root.find("os")
    assert os_el is not None
    want = {"efi": "uefi", "bios": "bios"}.get(os_el.get("firmware", ""))
    loader = os_el.find("loader")
    if want is None or want not in fw.interfaces:
        return False
    arch = dom.arch
    if not any(a == arch and any(fnmatch.fnmatchcase(dom.machine, g) for g in globs) for a, globs in fw.targets):
        return False
    feats = set(fw.features)
    pm_s3 = _tristate(X.get(root, "pm/suspend-to-mem", "enabled"))
    pm_s4 = _tristate(X.get(root, "pm/suspend-to-disk", "enabled"))
    if pm_s3 and "acpi-s3" not in feats or pm_s4 and "acpi-s4" not in feats:
        return False
    req = requested_features(root)
    for name in ("secure-boot", "enrolled-keys"):
        if name in req and req[name] != (name in feats):
            return False
    secure = _tristate(loader.get("secure")) if loader is not None else None
    if "requires-smm" in feats:
        if dom.feature_state("smm") is False or secure is False:
            return False
    elif secure:
        return False
    if fw.mapping == "flash":
        stateless = loader is not None and loader.get("stateless") == "yes"
        if stateless != (fw.mode == "stateless"):
            return False
        if loader is not None and loader.get("readonly") == "no" and fw.mode != "combined":
            return False
        if fw.executable_format not in ("raw", "qcow2"):
            return False
        if loader is not None and loader.get("format") and loader.get("format") != fw.executable_format:
            return False
    sec = root.find("launchSecurity")
    if sec is not None and sec.get("type") == "sev":
        if "amd-sev" not in feats:
            return False
        policy = X.parse_int(X.text(sec, "policy")) or 0
        if policy & 4 and "amd-sev-es" not in feats:
            return False
    return True


def select(dom: Domain) -> None:
    """Fill in the loader (and NVRAM) of a domain that asks for firmware autoselection."""
    os_el = dom.root.find("os")
    if os_el is None or not os_el.get("firmware"):
        return
    for fw in descriptors(dom):
        if matches(dom, fw):
            apply(dom, fw)
            return
    raise OperationFailedError(f"Unable to find any firmware to satisfy "
                               f"'{os_el.get('firmware')}'")


def apply(dom: Domain, fw: Firmware) -> None:
    root = dom.root
    os_el = root.find("os")
    assert os_el is not None
    loader = os_el.find("loader")
    if loader is None:
        loader = etree.Element("loader")
        pos = max((os_el.index(c) + 1 for c in os_el if c.tag in ("type", "firmware")), default=0)
        os_el.insert(pos, loader)
    if fw.mapping == "memory":
        loader.set("type", "rom")
        loader.text = fw.executable
        return
    loader.set("readonly", "yes")
    loader.set("type", "pflash")
    loader.text = fw.executable
    if "requires-smm" in fw.features:
        loader.set("secure", "yes")
        feats = root.find("features")
        if feats is None:
            feats = X.sub(root, "features", order=("os", "features", "cpu"))
        smm = feats.find("smm")
        if smm is None:
            smm = etree.SubElement(feats, "smm")
        smm.set("state", "on")
    if fw.mode == "split" and loader.get("stateless") != "yes":
        nvram = os_el.find("nvram")
        if nvram is None:
            nvram = etree.Element("nvram")
            os_el.insert(os_el.index(loader) + 1, nvram)
        if fw.nvram_template and not nvram.get("template"):
            nvram.set("template", fw.nvram_template)
        if not (nvram.text or "").strip() and nvram.find("source") is None:
            nvram.text = f"{dom.cfg.nvramDir}/{dom.name}_VARS.fd"
