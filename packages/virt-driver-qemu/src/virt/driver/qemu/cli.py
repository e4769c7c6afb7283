"""The driver's own `virt` commands: ``qemu-caps`` prints a binary's capabilities (or domain
capabilities) from a live probe or a recorded transcript, without a connection."""

from __future__ import annotations

from typing import Any

from virt.core.cli.engine import Context
from virt.core.cli.output import Text
from virt.core.cli.parse import Args
from virt.core.cli.spec import Command, Option, string


def cmd_qemu_caps(ctx: Context, args: Args) -> Any:
    from virt.driver.qemu.caps import load_caps
    from virt.driver.qemu.domcaps import domain_capabilities

    caps = load_caps(args.string("file"), args.string("emulatorbin"))
    virt_type = args.get("virttype") or None
    if virt_type is None and not args.get("domain"):
        return Text(caps.format_cache())
    machine = args.get("machine") or None
    if machine == "default":
        machine = None
    return Text(domain_capabilities(caps, virt_type=virt_type, machine=machine,
                                    arch=args.get("arch") or None).format())


QEMU_CAPS = Command(
    "qemu-caps", cmd_qemu_caps, "QEMU capabilities",
    "Prints the capabilities of a QEMU binary (libvirt's <qemuCaps> cache format), or with --domain "
    "or --virttype its domain capabilities. FILE is a recorded probe (.replies) or a cache document; "
    "without it the binary (--emulatorbin, default qemu-system-x86_64) is probed.",
    options=(Option("file", "string", "recorded probe (.replies) or <qemuCaps> document"),
             string("emulatorbin", "path to the QEMU binary", named_only=True),
             string("virttype", "virtualization type (kvm, qemu); empty: capabilities", named_only=True,
                    empty_ok=True),
             string("machine", "machine type ('default' or empty: the preferred one)", named_only=True,
                    empty_ok=True),
             string("arch", "guest architecture", named_only=True, empty_ok=True),
             Option("domain", "bool", "print domain capabilities")),
    group="qemu", needs_connection=False)
