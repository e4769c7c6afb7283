"""Host device assignment: usb-host, vfio-pci, scsi-generic, vhost-scsi and mediated devices."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from lxml import etree
from virt.driver.qemu import xmlutil as X
from virt.driver.qemu.props import Props
from virt.util.errors import ConfigUnsupportedError, XMLError

if TYPE_CHECKING:
    from virt.driver.qemu.command import Builder

E = etree._Element


def hostdevs(b: Builder) -> list[E]:
    """Host devices in libvirt's order: those of <interface type='hostdev'> first."""
    out = [n for n in b.dom.all("interface") if n.get("type") == "hostdev"]
    out += [h for h in b.dom.all("hostdev") if h.get("mode", "subsystem") == "subsystem"]
    return out


def pci_host_address(a: E | None) -> str:
    if a is None:
        raise XMLError("PCI host device source address missing")
    return (f"{X.parse_int(a.get('domain', '0')) or 0:04x}:{X.parse_int(a.get('bus', '0')) or 0:02x}:"
            f"{X.parse_int(a.get('slot', '0')) or 0:02x}.{X.parse_int(a.get('function', '0')) or 0}")


def _bootindex(el: E) -> int:
    return int(X.priv(el, "bootindex") or 0)


def pci_props(b: Builder, h: E) -> Props:
    from virt.driver.qemu.netdev import rom

    props = Props().s("driver", "vfio-pci").s("host", pci_host_address(h.find("source/address")))
    props.s("id", X.alias(h) or "")
    props.p("bootindex", _bootindex(h))
    teaming = h.find("teaming")
    if teaming is not None and teaming.get("type") == "transient":
        props.S("failover_pair_id", teaming.get("persistent"))
    b.address(props, h)
    rom(props, h)
    return props


def usb_props(b: Builder, h: E) -> Props:
    src = h.find("source")
    a = src.find("address") if src is not None else None
    missing = False
    hostdevice = None
    hostbus = hostaddr = 0
    if not missing:
        bus = X.parse_int(a.get("bus", "0")) if a is not None else 0
        dev = X.parse_int(a.get("device", "0")) if a is not None else 0
        if not bus and not dev:
            vendor = X.get(src, "vendor", "id") if src is not None else None
            if vendor and b.harness:
                raise ConfigUnsupportedError("USB host device lookup by vendor/product needs the host")
            if vendor:
                bus, dev = _find_usb(vendor, X.get(src, "product", "id") or "")
            else:
                raise XMLError("USB host device is missing bus/device information")
        if b.has("usb-host.hostdevice"):
            hostdevice = f"/dev/bus/usb/{bus:03d}/{dev:03d}"
        else:
            hostbus, hostaddr = bus or 0, dev or 0
    reset = X.get(src, None, "guestReset") if src is not None else None
    guest_reset = guest_resets_all = None
    if reset == "off":
        guest_reset = False
    elif reset == "uninitialized":
        guest_reset, guest_resets_all = True, False
    elif reset == "on":
        guest_reset, guest_resets_all = True, True
    props = Props().s("driver", "usb-host").S("hostdevice", hostdevice).p("hostbus", hostbus) \
        .p("hostaddr", hostaddr).s("id", X.alias(h) or "").p("bootindex", _bootindex(h)) \
        .T("guest-reset", guest_reset).T("guest-resets-all", guest_resets_all)
    b.address(props, h)
    return props


def _find_usb(vendor: str, product: str) -> tuple[int, int]:
    root = "/sys/bus/usb/devices"
    want = (f"{X.parse_int(vendor) or 0:04x}", f"{X.parse_int(product) or 0:04x}")
    try:
        names = sorted(os.listdir(root))
    except OSError:
        names = []
    for n in names:
        d = os.path.join(root, n)
        try:
            with open(os.path.join(d, "idVendor")) as f:
                v = f.read().strip()
            with open(os.path.join(d, "idProduct")) as f:
                p = f.read().strip()
            if (v, p) == want:
                with open(os.path.join(d, "busnum")) as f:
                    bus = int(f.read())
                with open(os.path.join(d, "devnum")) as f:
                    dev = int(f.read())
                return bus, dev
        except OSError:
            continue
    raise ConfigUnsupportedError(f"USB device {vendor}:{product} not found on the host")


def _scsi_generic_path(b: Builder, src: E) -> str:
    adapter = X.get(src, "adapter", "name") or ""
    a = src.find("address")
    if b.harness:
        return "/dev/sg0"
    host = adapter[len("scsi_host"):] if adapter.startswith("scsi_host") else adapter
    bus, target, unit = (a.get("bus", "0"), a.get("target", "0"), a.get("unit", "0")) if a is not None \
        else ("0", "0", "0")
    d = f"/sys/bus/scsi/devices/{host}:{bus}:{target}:{unit}/scsi_generic"
    try:
        return "/dev/" + sorted(os.listdir(d))[0]
    except (OSError, IndexError):
        raise ConfigUnsupportedError(f"SCSI device {host}:{bus}:{target}:{unit} has no generic device") from None


def scsi(b: Builder, h: E, node: int) -> None:
    from virt.driver.qemu import secrets

    src = h.find("source")
    if src is None:
        raise XMLError("SCSI host device without a source")
    backend = f"libvirt-{node}-backend"
    readonly = h.find("readonly") is not None
    props = Props()
    if src.get("protocol") == "iscsi":
        name = src.get("name", "")
        target, _, lun = name.partition("/")
        host = src.find("host")
        portal = f"{host.get('name')}:{host.get('port', '3260')}" if host is not None else ""
        props.s("driver", "iscsi").s("portal", portal).s("target", target).u("lun", int(lun or "0"))
        props.s("transport", "tcp")
        auth = src.find("auth")
        if auth is not None:
            alias = f"{backend}-secret0"
            b.object(secrets.secret_object(b, alias, "iscsi", auth=auth))
            props.s("user", auth.get("username")).s("password-secret", alias)
        props.S("initiator-name", X.get(src, "initiator/iqn", "name"))
    else:
        props.s("driver", "host_device").s("filename", _scsi_generic_path(b, src))
    props.s("node-name", backend).b("read-only", readonly)
    b.cmd.add("-blockdev", props.json())
    dev = Props().s("driver", "scsi-generic").s("drive", backend).s("id", X.alias(h) or "") \
        .p("bootindex", _bootindex(h))
    b.address(dev, h)
    b.device(dev)


def vhost_scsi(b: Builder, h: E) -> None:
    if _bootindex(h) and X.get(h, "boot", "order"):
        raise ConfigUnsupportedError("booting from assigned devices is not supported by vhost SCSI devices")
    wwpn = X.get(h, "source", "wwpn") or ""
    props = b.virtio_props(h, "vhost-scsi")
    props.s("wwpn", wwpn).s("vhostfd", b.fd()).s("id", X.alias(h) or "")
    b.address(props, h)
    b.device(props)


def mdev(b: Builder, h: E) -> None:
    model = h.get("model", "vfio-pci")
    uuid = X.get(h, "source/address", "uuid") or ""
    ramfb = h.get("ramfb") == "on"
    driver = "vfio-pci-nohotplug" if model == "vfio-pci" and ramfb else model
    display = h.get("display")
    props = Props().s("driver", driver).s("id", X.alias(h) or "") \
        .s("sysfsdev", f"/sys/bus/mdev/devices/{uuid}") \
        .S("display", display if display in ("on", "off") else None).B("ramfb", ramfb) \
        .p("bootindex", _bootindex(h))
    b.address(props, h)
    b.device(props)


def build_all(b: Builder) -> None:
    from virt.driver.qemu.blockdev import assign_node_ids, sources

    node = sum(len(sources(top)) for top in assign_node_ids(b).values())
    for h in hostdevs(b):
        if h.tag == "interface":
            props = pci_props(b, h)
            b.device(props)
            continue
        kind = h.get("type")
        if kind == "usb":
            b.device(usb_props(b, h))
        elif kind == "pci":
            a = h.find("address")
            if a is not None and a.get("type") == "unassigned":
                continue
            b.device(pci_props(b, h))
        elif kind == "scsi":
            node += 1
            scsi(b, h, node)
        elif kind == "scsi_host":
            if X.get(h, "source", "protocol") == "vhost":
                vhost_scsi(b, h)
        elif kind == "mdev":
            mdev(b, h)
        else:
            raise ConfigUnsupportedError(f"unsupported host device type '{kind}'")
