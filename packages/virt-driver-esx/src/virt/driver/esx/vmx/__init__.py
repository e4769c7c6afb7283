"""VMware's .vmx format <-> domain XML, as libvirt's VMware/ESX driver converts them.

``from_native`` and ``to_native`` are the ``vmware-vmx`` native format of
``virt domxml-from-native`` / ``virt domxml-to-native``; the ESX driver calls ``parse_config`` and
``format_config`` with a context that knows the host's datastores.
"""

from __future__ import annotations

from typing import Any

from virt.driver.esx.vmx.context import OfflineDatastores, VMXContext
from virt.driver.esx.vmx.domain import DomainDef
from virt.driver.esx.vmx.domxml import format_domain, parse_domain
from virt.driver.esx.vmx.format import format_config
from virt.driver.esx.vmx.parse import parse_config
from virt.util.errors import InvalidArgError

#: virtualHW.version written when the caller names none (ESX 3.5's, the oldest libvirt supports).
DEFAULT_VIRTUAL_HW_VERSION = 4


def from_native(text: str, datacenter_path: str | None = None, **_: Any) -> str:
    """Domain XML for a .vmx file, with the offline datastore mapping (``OfflineDatastores``)."""
    return format_domain(parse_config(VMXContext.offline(datacenter_path or None), text))


def to_native(xml: str, virtualHW_version: int | str | None = None, **_: Any) -> str:
    """The .vmx file for a domain, for hardware version ``virtualHW_version`` (default 4)."""
    version = DEFAULT_VIRTUAL_HW_VERSION if virtualHW_version in (None, "") else virtualHW_version
    try:
        hw = int(version)  # type: ignore[arg-type]
    except ValueError:
        raise InvalidArgError(f"invalid virtualHW version '{version}'") from None
    if hw < 4:
        raise InvalidArgError(f"virtualHW version {hw} is not supported (4 or later)")
    return format_config(VMXContext.offline(), parse_domain(xml), hw)


__all__ = ["DEFAULT_VIRTUAL_HW_VERSION", "DomainDef", "OfflineDatastores", "VMXContext", "format_config",
           "format_domain", "from_native", "parse_config", "parse_domain", "to_native"]
