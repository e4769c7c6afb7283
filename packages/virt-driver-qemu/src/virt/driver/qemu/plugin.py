"""Registers the QEMU driver, its native format (qemu-argv), its normalizer and CLI options."""

from __future__ import annotations

from virt.core.plugin import hookimpl
from virt.core.registry import DriverRegistry

_CAPS_HELP = "QEMU capabilities: a recorded probe (.replies) or a <qemuCaps> document"


@hookimpl
def virt_register_drivers(register: DriverRegistry) -> None:
    register.hypervisor("virt.driver.qemu.driver:QemuDriver", name="qemu", uri_schemes=("qemu",),
                        description="QEMU/KVM guests")
    register.command("qemu-caps", "virt.driver.qemu.cli:QEMU_CAPS")
    register.cli_option("domcapabilities", "--qemu-caps", dest="qemu_caps", help=_CAPS_HELP)
    register.native_format("qemu-argv", driver="qemu", to_native="virt.driver.qemu.argv:to_native")
    register.normalizer("qemu", "virt.driver.qemu.normalize:normalize")
    for command in ("domxml-to-native", "xml-normalize"):
        register.cli_option(command, "--qemu-caps", dest="qemu_caps", help=_CAPS_HELP)
        register.cli_option(command, "--qemu-conf", dest="qemu_conf", help="qemu.conf settings to apply")
        register.cli_option(command, "--setup", dest="setup",
                            help="settings KEY=VALUE[,KEY=VALUE] or a dict (config.NAME / env.NAME keys)")
        register.cli_option(command, "--test-args", dest="test_args",
                            help="libvirt test-harness arguments (ARG_QEMU_CAPS, ARG_FLAGS, ARG_FD_GROUP)")
    register.cli_option("domxml-to-native", "--private-dir", dest="private_dir",
                        help="the domain's private directory")
