"""The ESX driver: VMware ESX/vSphere hosts over the vSphere API (esx://host/)."""

from __future__ import annotations

from virt.core.driver import Driver


class ESXDriver(Driver):
    name = "esx"
    uri_schemes = ("esx", "gsx", "vpx")
