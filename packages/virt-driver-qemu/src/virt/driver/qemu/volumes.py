"""Disks of type 'volume': a storage pool volume turned into the file, block device or iSCSI LUN
QEMU opens (libvirt's virDomainDiskTranslateSourcePool).

The pool and the volume come from a resolver the running driver supplies (the storage driver of
its connection). Offline conversions in libvirt's test-harness mode resolve them as libvirt's test
suite does: volume "TYPE+NAME" (default type block) has the path /some/TYPE/device/NAME, and a
pool's definition is read from libvirt's storage pool test data when that is at hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree
from virt.driver.qemu import xmlutil as X
from virt.util.errors import ConfigUnsupportedError, OperationFailedError, XMLError

if TYPE_CHECKING:
    from virt.driver.qemu.prepare import Domain

E = etree._Element

ACTUAL = f"{{{X.PRIV}}}actual"

#: Pools of libvirt's storage test data the argv tests use, for when that data is not at hand.
HARNESS_POOLS = {
    "pool-iscsi": "<pool type='iscsi'><name>pool-iscsi</name><source><host name='iscsi.example.com'/>"
                  "<device path='demo-target'/></source><target><path>/dev/disk/by-path</path></target></pool>",
}


@dataclass
class Volume:
    """What a resolver reports: the volume's type (file, block, dir...) and path, and its pool's
    definition (a ``<pool>`` element)."""

    type: str
    path: str
    pool: E
    extra: dict[str, str] = field(default_factory=dict)


#: resolver(pool name, volume name) -> Volume
Resolver = Callable[[str, str], Volume]


def harness_resolver(data_dir: Path | None) -> Resolver:
    def resolve(pool: str, volume: str) -> Volume:
        text = None
        if data_dir is not None:
            f = data_dir / f"{pool}.xml"
            if f.is_file():
                text = f.read_bytes()
        if text is None:
            text = HARNESS_POOLS.get(pool, "").encode() or None
        if text is None:
            raise OperationFailedError(f"storage pool not found: no storage pool with matching name '{pool}'")
        if volume == "nonexistent":
            raise OperationFailedError(f"storage volume not found: no storage vol with matching name '{volume}'")
        vtype, _, name = volume.partition("+")
        if not name:
            vtype, name = "block", volume
        return Volume(vtype, f"/some/{vtype}/device/{name}", etree.fromstring(text))

    return resolve


def translate(dom: Domain, disk: E) -> None:
    """Record what a volume disk really is as a private ``actual`` child of the disk."""
    src = disk.find("source")
    if src is None or disk.get("type") != "volume":
        return
    old = disk.find(ACTUAL)
    if old is not None:
        disk.remove(old)
    resolver: Resolver | None = getattr(dom, "volume_resolver", None)
    if resolver is None:
        raise ConfigUnsupportedError("storage volumes are not supported without the storage driver")
    pool_name, vol_name = src.get("pool", ""), src.get("volume", "")
    vol = resolver(pool_name, vol_name)
    ptype = vol.pool.get("type")
    mode = src.get("mode")
    actual = etree.SubElement(disk, ACTUAL)
    asrc = etree.SubElement(actual, "source")
    for child in src:
        if child.tag in ("seclabel", "encryption", "reservations"):
            asrc.append(etree.fromstring(etree.tostring(child)))
    if ptype in ("dir", "fs", "netfs", "logical", "disk", "scsi", "zfs", "vstorage"):
        kind = {"file": "file", "ploop": "file", "dir": "dir", "block": "block"}.get(vol.type)
        if kind is None:
            raise ConfigUnsupportedError(f"unexpected storage volume type '{vol.type}' for storage pool type "
                                         f"'{ptype}'")
        if disk.get("startupPolicy") and kind != "file":
            raise XMLError("'startupPolicy' is only valid for 'file' type volume")
        actual.set("type", kind)
        asrc.set({"file": "file", "dir": "dir", "block": "dev"}[kind], vol.path)
        if vol.extra.get("format") and not X.get(disk, "driver", "type") and kind != "dir":
            actual.set("format", vol.extra["format"])  # the volume's own format, when the disk names none
    elif ptype == "iscsi" and mode in (None, "host"):
        if disk.get("startupPolicy"):
            raise XMLError("'startupPolicy' is only valid for 'file' type volume")
        actual.set("type", "block")
        asrc.set("dev", vol.path)
    elif ptype in ("iscsi", "iscsi-direct"):
        actual.set("type", "network")
        _iscsi_direct(asrc, vol.pool, vol_name)
    else:
        raise ConfigUnsupportedError(f"using '{ptype}' pools for backing 'volume' disks isn't yet supported")


def _iscsi_direct(asrc: E, pool: E, vol_name: str) -> None:
    psrc = pool.find("source")
    host = psrc.find("host") if psrc is not None else None
    dev = psrc.find("device") if psrc is not None else None
    tokens = vol_name.split(":")
    if len(tokens) != 4:
        raise ConfigUnsupportedError(f"unexpected iscsi volume name '{vol_name}'")
    asrc.set("protocol", "iscsi")
    asrc.set("name", f"{dev.get('path') if dev is not None else ''}/{tokens[3]}")
    etree.SubElement(asrc, "host", name=host.get("name", "") if host is not None else "",
                     port=(host.get("port") if host is not None else None) or "3260")
    auth = psrc.find("auth") if psrc is not None else None
    if auth is not None:
        a = etree.SubElement(asrc, "auth", username=auth.get("username", ""))
        sec = auth.find("secret")
        if sec is not None:
            s = etree.SubElement(a, "secret", type="iscsi")
            for k in ("uuid", "usage"):
                if sec.get(k):
                    s.set(k, sec.get(k, ""))
    iqn = psrc.find("initiator/iqn") if psrc is not None else None
    if iqn is not None:
        etree.SubElement(etree.SubElement(asrc, "initiator"), "iqn", name=iqn.get("name", ""))
