"""``virt xml-normalize --driver qemu``: a domain XML as the QEMU driver stores it after define.

The driver's post-parse work (machine type, default devices and controllers, PCI/USB/drive
addresses, implicit consoles...) runs on the document; the generic domain model of virt-conf
then formats it (element order, generic defaults).
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from virt.driver.qemu import xmlutil as X


def normalize(xml: str | bytes, qemu_caps: str | None = None, qemu_conf: str | None = None, setup: Any = None,
              format: str | None = None, **options: Any) -> str:
    from virt.driver.qemu.argv import caps_for_conversion, conversion_config
    from virt.driver.qemu.prepare import prepare

    caps = caps_for_conversion(qemu_caps)
    if caps.recorded:
        caps.strip_machine_aliases()
    cfg = conversion_config(caps, qemu_conf, setup)
    dom = prepare(xml, caps, cfg, for_start=False)
    X.strip_private(dom.root)
    text = etree.tostring(dom.root, encoding="unicode")
    from virt.conf import normalize as generic

    inactive = (format or options.pop("fmt", None) or "inactive") != "live"
    options.pop("flags", None)
    return generic(text, "domain", inactive=inactive)
