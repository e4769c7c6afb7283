"""Registers the ESX driver, its native format (vmware-vmx) and the converters' CLI options."""

from __future__ import annotations

from virt.core.plugin import hookimpl
from virt.core.registry import DriverRegistry


@hookimpl
def virt_register_drivers(register: DriverRegistry) -> None:
    register.hypervisor("virt.driver.esx.driver:ESXDriver", name="esx", uri_schemes=("esx", "gsx", "vpx"),
                        description="VMware ESX/vSphere hosts over the vSphere API")
    register.native_format("vmware-vmx", driver="esx", to_native="virt.driver.esx.vmx:to_native",
                           from_native="virt.driver.esx.vmx:from_native")
    register.cli_option("domxml-to-native", "--virtualhw-version", dest="virtualHW_version",
                        help="VMX virtualHW.version to write (default 4, ESX 3.5)")
    register.cli_option("domxml-from-native", "--datacenter-path", dest="datacenter_path",
                        help="vSphere datacenter path to record in the domain XML (vmware namespace)")
