"""``virt domxml-to-native qemu-argv``: the QEMU command line of a domain XML, offline.

With a recorded capabilities transcript (``--qemu-caps caps_8.0.0.x86_64.replies``) the
conversion follows the conventions of libvirt's own command-line tests (domain id -1, fixed fd
numbers, ports and secrets, machine aliases kept as given), so the output can be compared with
libvirt's expected ``.args`` files. Without one, the host's QEMU is probed and the driver's real
configuration is used.
"""

from __future__ import annotations

import ast
import copy
import json
import os
from typing import Any

from virt.driver.qemu import qemuconf
from virt.driver.qemu.caps import QemuCaps, load_caps
from virt.driver.qemu.qemuconf import QemuConfig
from virt.util.errors import InternalError

#: Longest domain name part of a private directory name (libvirt's VIR_DOMAIN_SHORT_NAME_MAX).
SHORT_NAME_MAX = 20


def short_name(dom_id: int, name: str) -> str:
    """``<id>-<name cut to 20 characters>`` (virDomainDefGetShortName)."""
    return f"{dom_id}-{name[:SHORT_NAME_MAX]}"


def parse_setup(setup: Any) -> dict[str, str]:
    """Settings as a dict, a JSON / Python dict literal, or ``KEY=VALUE[,KEY=VALUE]`` text."""
    if not setup:
        return {}
    if isinstance(setup, dict):
        return {str(k): str(v) for k, v in setup.items()}
    text = str(setup).strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            value = ast.literal_eval(text)
        return {str(k): str(v) for k, v in value.items()}
    out = {}
    for item in text.split(","):
        k, _, v = item.partition("=")
        if k.strip():
            out[k.strip()] = v
    return out


class TestArgs:
    """Extra harness arguments of a case (libvirt's ARG_QEMU_CAPS, ARG_FLAGS, ARG_FD_GROUP)."""

    def __init__(self, text: str | None) -> None:
        self.add_caps: list[str] = []
        self.flags: list[str] = []
        self.fd_groups: dict[str, list[int]] = {}
        toks = (text or "").split()
        i = 0
        while i < len(toks):
            t = toks[i]
            if t == "ARG_QEMU_CAPS":
                i += 1
                while i < len(toks) and not toks[i].startswith("ARG_"):
                    self.add_caps.append(toks[i])
                    i += 1
            elif t == "ARG_FLAGS":
                i += 1
                while i < len(toks) and not toks[i].startswith("ARG_"):
                    self.flags.append(toks[i])
                    i += 1
            elif t == "ARG_FD_GROUP":
                name, n = toks[i + 1], int(toks[i + 2])
                self.fd_groups[name] = [int(x) for x in toks[i + 3:i + 3 + n]]
                i += 3 + n
            else:
                i += 1


def _flag_name(cap: str) -> str:
    """QEMU_CAPS_SEV_GUEST -> the driver's flag name ("sev-guest")."""
    from virt.driver.qemu import capsdata as cd

    name = cap.removeprefix("QEMU_CAPS_").lower()
    for cand in (name.replace("_", "-"), name.replace("_", "."), name):
        if cand in cd.FLAG_INDEX:
            return cand
    for flag in cd.FLAG_NAMES:
        if flag.replace(".", "-").replace("_", "-") == name.replace("_", "-"):
            return flag
    raise InternalError(f"unknown QEMU capability '{cap}'")


_CAPS_CACHE: dict[tuple[str, int], QemuCaps] = {}


def caps_for_conversion(qemu_caps: str | None) -> QemuCaps:
    """Capabilities to convert with (a private copy: conversions adjust them)."""
    if qemu_caps is None:
        return copy.deepcopy(load_caps(None))
    try:
        key = (os.path.abspath(qemu_caps), os.stat(qemu_caps).st_mtime_ns)
    except OSError:
        return load_caps(qemu_caps)  # reports the error
    if key not in _CAPS_CACHE:
        _CAPS_CACHE.clear()
        _CAPS_CACHE[key] = load_caps(qemu_caps)
    return copy.deepcopy(_CAPS_CACHE[key])


def conversion_config(caps: QemuCaps, qemu_conf: str | None, setup: Any) -> QemuConfig:
    cfg = qemuconf.harness() if caps.recorded else QemuConfig()
    if qemu_conf:
        cfg = qemuconf.load(qemu_conf, cfg)
    for k, v in parse_setup(setup).items():
        cfg.set(k, v)
    return cfg


def to_native(xml: str | bytes, qemu_caps: str | None = None, private_dir: str | None = None,
              qemu_conf: str | None = None, setup: Any = None, test_args: str | None = None,
              **_: Any) -> str:
    """The command line (environment and arguments, one a line) QEMU would be started with."""
    from virt.driver.qemu.command import build
    from virt.driver.qemu.prepare import prepare

    caps = caps_for_conversion(qemu_caps)
    extra = TestArgs(test_args)
    if caps.recorded:
        caps.strip_machine_aliases()
    for c in extra.add_caps:
        caps.flags.add(_flag_name(c))
    cfg = conversion_config(caps, qemu_conf, setup)
    cfg.fd_groups = extra.fd_groups
    cfg.test_flags = set(extra.flags)
    context: dict[str, Any] = {}
    if caps.recorded:
        from pathlib import Path

        from virt.driver.qemu.volumes import harness_resolver

        data = Path(qemu_caps).resolve().parent.parent / "storage_pool" / "storagepoolxml2xmlout" \
            if qemu_caps else None
        context["volume_resolver"] = harness_resolver(data if data is not None and data.is_dir() else None)
    dom = prepare(xml, caps, cfg, **context)
    name = dom.name
    if private_dir:
        head, base = os.path.split(private_dir.rstrip("/"))
        if base == f"domain-{dom.id}-{name}":
            private_dir = os.path.join(head, f"domain-{short_name(dom.id, name)}")
    else:
        private_dir = os.path.join(cfg.libDir, f"domain-{short_name(dom.id, name)}")
    return build(dom, private_dir).to_string()
