"""SAN pool backends: ``iscsi`` (the kernel's initiator through iscsiadm), ``iscsi-direct`` (our own
user-space initiator) and ``scsi`` (the LUNs of a SCSI host adapter, read from sysfs).

The sysfs tree read by ``scsi`` and ``iscsi`` pools is ``$VIRT_STORAGE_SYSFS`` (default ``/sys``), so
that tests can point it at a tree recorded from a machine with real SCSI hosts.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from virt.conf.storage import Pool, PoolSource, SecretRef
from virt.secondary.storage.backends import (
    STORAGE,
    TOOL_TIMEOUT,
    Backend,
    PoolSizes,
    Progress,
    _no_progress,
    storage_error,
)
from virt.secondary.storage.iscsi import CHUNK_BLOCKS, DIRECT_ACCESS, Session, portal_address
from virt.util.errors import ErrorNumber, InvalidArgError, SystemError_, VirtError
from virt.util.process import find_binary, run

#: How a backend asks for a secret's value (the pool's <auth><secret/>): bytes, never logged.
SecretLookup = Callable[[SecretRef, int], bytes]
#: virSecretUsageType of iSCSI CHAP secrets.
USAGE_ISCSI = 3
#: A SCSI device's address in sysfs (host:bus:target:lun).
HBTL = re.compile(r"(\d+):(\d+):(\d+):(\d+)")
#: SCSI peripheral device types libvirt makes volumes of: disks and CD/DVD drives.
VOLUME_DEVICE_TYPES = (0, 5)


def sysfs_root() -> Path:
    return Path(os.environ.get("VIRT_STORAGE_SYSFS") or "/sys")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def network_record(name: str, key: str, path: str, capacity: int) -> dict[str, Any]:
    """A volume that is not a file on this host (a LUN reached over the network)."""
    return {"name": name, "key": key, "path": path, "type": "network", "format": "none", "capacity": capacity,
            "allocation": capacity, "physical": capacity, "mode": None, "uid": None, "gid": None,
            "atime": 0.0, "mtime": 0.0, "ctime": 0.0}


def block_record(name: str, key: str, path: str, capacity: int) -> dict[str, Any]:
    rec = network_record(name, key, path, capacity)
    rec["type"] = "block"
    try:
        st = os.stat(path)
        rec.update(mode=st.st_mode & 0o7777, uid=st.st_uid, gid=st.st_gid, atime=st.st_atime, mtime=st.st_mtime,
                   ctime=st.st_ctime)
    except OSError:
        pass  # a LUN seen in sysfs whose node udev has not made (or a recorded tree)
    return rec


class _NoFilesBackend(Backend):
    """Pools whose volumes are LUNs the storage array made: no build, no volume creation."""

    file_volumes = False
    creates_volumes = False

    def build(self, flags: int) -> None:
        pass

    def check_target(self) -> None:
        pass

    def delete(self, flags: int) -> None:
        raise storage_error("pool does not support pool deletion", ErrorNumber.NO_SUPPORT)

    def create_vol(self, vol: Any, flags: int, backing: tuple[str, str] | None) -> None:
        raise storage_error("storage pool does not support volume creation", ErrorNumber.NO_SUPPORT)

    def clone_vol(self, vol: Any, src: dict[str, Any], flags: int, progress: Progress = _no_progress) -> None:
        raise storage_error("storage pool does not support volume creation from an existing volume",
                            ErrorNumber.NO_SUPPORT)

    def delete_vol(self, rec: dict[str, Any]) -> None:
        raise storage_error("storage pool does not support vol deletion", ErrorNumber.NO_SUPPORT)

    def resize_vol(self, rec: dict[str, Any], capacity: int, flags: int) -> None:
        raise storage_error("storage pool does not support changing of volume capacity", ErrorNumber.NO_SUPPORT)

    # a scan reads every LUN once; sizes are the sum of what it found
    _scanned: list[dict[str, Any]] | None = None

    def luns(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def scan(self) -> list[dict[str, Any]]:
        if self._scanned is None:
            self._scanned = self.luns()
        return self._scanned

    def sizes(self) -> PoolSizes:
        self._scanned = None
        total = sum(int(v["capacity"]) for v in self.scan())
        return PoolSizes(total, total, 0)

    def probe_vol(self, name: str, fmt: str | None = None) -> dict[str, Any]:
        for rec in self.scan():
            if rec["name"] == name:
                return rec
        raise storage_error(f"no LUN '{name}' in pool '{self.pool.name}'")


def _one_host(source: PoolSource) -> tuple[str, int | None]:
    if len(source.hosts) != 1:
        raise storage_error("Expected exactly 1 host for the storage pool", ErrorNumber.CONFIG_UNSUPPORTED)
    return str(source.hosts[0].name), source.hosts[0].port


def _initiator(source: PoolSource) -> str | None:
    return source.initiator.iqn.name if source.initiator is not None and source.initiator.iqn is not None else None


def sources_xml(found: list[PoolSource]) -> str:
    """A <sources> list as virConnectFindStoragePoolSources returns it."""
    from virt.conf.xmlmodel import Writer

    w = Writer(1)
    for src in found:
        src.write(w)  # (not format(): a pool source's ``format`` is its <format> child)
    return f"<sources>\n{w.getvalue()}</sources>\n"


def _found(source: PoolSource, targets: list[str]) -> list[PoolSource]:
    from virt.conf.storage import IQN, Initiator, SourceDevice, SourceHost

    out = []
    for name in targets:
        src = PoolSource(hosts=[SourceHost(name=source.hosts[0].name, port=source.hosts[0].port)],
                         devices=[SourceDevice(path=name)])
        iqn = _initiator(source)
        if iqn:
            src.initiator = Initiator(iqn=IQN(name=iqn))
        out.append(src)
    return out


# ----------------------------------------------------------------------------- iscsi-direct

class ISCSIDirectBackend(_NoFilesBackend):
    """LUNs of one iSCSI target, reached from user space (no kernel initiator, no block devices).

    Volumes are named ``unit:0:0:LUN`` and their path and key are ``ip-PORTAL-iscsi-IQN-lun-LUN``,
    as libvirt's iscsi-direct backend names them; guests reach them through QEMU's iscsi:// driver.
    """

    type = "iscsi-direct"
    #: Set by the driver: how to read the CHAP secret.
    secrets: SecretLookup | None = None

    def session(self) -> Session:
        src = self.pool.source
        assert src is not None
        host, port = _one_host(src)
        iqn = _initiator(src)
        if not iqn:
            raise storage_error("missing initiator IQN", ErrorNumber.CONFIG_UNSUPPORTED)
        if not src.devices or not src.devices[0].path:
            raise storage_error("missing source device", ErrorNumber.INTERNAL_ERROR)
        username = password = None
        auth = src.auth
        if auth is not None and auth.type not in (None, "none"):
            if auth.type != "chap":
                raise storage_error("iscsi-direct pool only supports 'chap' auth type", ErrorNumber.XML_ERROR)
            if self.secrets is None or auth.secret is None:
                raise storage_error("no secret driver to read the CHAP secret from", ErrorNumber.NO_SECRET)
            username, password = auth.username, self.secrets(auth.secret, USAGE_ISCSI)
        return Session(host, port, iqn, str(src.devices[0].path), username=username, password=password)

    def portal(self) -> str:
        assert self.pool.source is not None
        return portal_address(*_one_host(self.pool.source))[2]

    def start(self) -> None:
        pass  # libvirt's backend only logs in to refresh; a failed login fails the start there

    def luns(self) -> list[dict[str, Any]]:
        assert self.pool.source is not None
        iqn, portal = str(self.pool.source.devices[0].path), self.portal()
        vols = []
        with self.session() as s:
            for lun in s.report_luns():
                s.test_unit_ready(lun)
                capacity = 0
                # like libvirt, a LUN that is not a disk (the target's controller) is listed with no size
                if s.inquiry(lun).device_type == DIRECT_ACCESS:
                    block, blocks = s.read_capacity(lun)
                    capacity = block * blocks
                path = f"ip-{portal}-iscsi-{iqn}-lun-{lun}"
                vols.append(network_record(f"unit:0:0:{lun}", path, path, capacity))
        return vols

    def wipe_vol(self, rec: dict[str, Any], algorithm: int, progress: Progress = _no_progress) -> None:
        from virt.core.enums import StorageVolWipeAlgorithm as WA

        if algorithm != WA.ZERO:
            raise InvalidArgError(f"unsupported algorithm {algorithm}", domain=STORAGE)
        name = str(rec["name"])
        if not name.startswith("unit:0:0:") or not name[9:].isdigit():
            raise storage_error(f"Invalid volume name {name}")
        lun = int(name[9:])
        with self.session() as s:
            s.test_unit_ready(lun)
            block, blocks = s.read_capacity(lun)
            zeros = bytes(block * CHUNK_BLOCKS)
            lba = 0
            while lba < blocks:
                n = min(CHUNK_BLOCKS, blocks - lba)
                s.write16(lun, lba, zeros[:n * block], block)
                lba += n
                progress(lba * block, blocks * block)

    @staticmethod
    def find_sources(source: PoolSource) -> str:
        host, port = _one_host(source)
        iqn = _initiator(source)
        if not iqn:
            raise storage_error("missing initiator IQN", ErrorNumber.CONFIG_UNSUPPORTED)
        with Session(host, port, iqn) as s:
            targets = [t.name for t in s.send_targets()]
        return sources_xml(_found(source, targets))


# ----------------------------------------------------------------------------- iscsi (kernel initiator)

def iscsiadm(*args: str, check: bool = True) -> str:
    return run([find_binary("iscsiadm", "open-iscsi"), *args], timeout=TOOL_TIMEOUT, check=check).stdout


def _require_tcp_transport(portal: str, target: str | None) -> None:
    """iscsiadm can neither discover nor log in without the kernel's iSCSI TCP transport: say so plainly
    instead of leaving discovery records behind a failed iscsiadm run."""
    if (sysfs_root() / "class" / "iscsi_transport" / "tcp").exists():
        return
    try:
        run([find_binary("modprobe", "kmod"), "-q", "iscsi_tcp"], timeout=30, check=False)
    except VirtError:
        pass  # no modprobe: the module cannot be loaded either
    if (sysfs_root() / "class" / "iscsi_transport" / "tcp").exists():
        return
    what = f"log in to target '{target}' at {portal}" if target else f"discover targets at {portal}"
    raise storage_error(f"cannot {what}: the kernel has no iSCSI TCP transport (module iscsi_tcp); "
                        "an iscsi-direct pool reaches iSCSI targets from user space", ErrorNumber.OPERATION_FAILED)


class ISCSIBackend(_NoFilesBackend):
    """An iSCSI target logged in by the kernel's initiator (iscsiadm); its LUNs are the session's
    SCSI disks, named ``unit:B:T:L`` with their /dev/disk/by-path names as paths."""

    type = "iscsi"
    secrets: SecretLookup | None = None

    def portal(self) -> str:
        assert self.pool.source is not None
        return portal_address(*_one_host(self.pool.source))[2]

    def target_iqn(self) -> str:
        src = self.pool.source
        if src is None or not src.devices or not src.devices[0].path:
            raise storage_error("missing source device", ErrorNumber.INTERNAL_ERROR)
        return str(src.devices[0].path)

    def session_id(self) -> str | None:
        out = iscsiadm("--mode", "session", check=False)
        for line in out.splitlines():
            m = re.match(r"^tcp:\s+\[(\S+)\]\s+\S+\s+(\S+)", line)
            if m and m.group(2) == self.target_iqn():
                return m.group(1)
        return None

    def start(self) -> None:
        assert self.pool.source is not None
        _one_host(self.pool.source)
        target, portal = self.target_iqn(), self.portal()
        _require_tcp_transport(portal, target)  # no session can exist without it either
        if self.session_id() is not None:
            return
        iqn = _initiator(self.pool.source)
        iface = ["--interface", self._iface(iqn)] if iqn else []
        iscsiadm("--mode", "discovery", "--type", "sendtargets", "--portal", portal, *iface)
        auth = self.pool.source.auth
        if auth is not None and auth.type == "chap" and auth.secret is not None and self.secrets is not None:
            password = self.secrets(auth.secret, USAGE_ISCSI).decode()
            for name, value in (("node.session.auth.authmethod", "CHAP"),
                                ("node.session.auth.username", str(auth.username)),
                                ("node.session.auth.password", password)):
                iscsiadm("--mode", "node", "--portal", portal, "--target", target, "--op", "update",
                         "--name", name, "--value", value, check=False)
        iscsiadm("--mode", "node", "--portal", portal, "--targetname", target, *iface, "--login")

    def _iface(self, iqn: str) -> str:
        """The iscsiadm interface whose initiator name is ``iqn`` (made if there is none)."""
        for line in iscsiadm("--mode", "iface", check=False).splitlines():
            if line.rsplit(",", 1)[-1] == iqn:
                return line.split(" ", 1)[0]
        name = f"libvirt-iface-{int.from_bytes(os.urandom(4), 'big') & 0x3FFFFFFF:08x}"
        iscsiadm("--mode", "iface", "--interface", name, "--op", "new", check=False)
        iscsiadm("--mode", "iface", "--interface", name, "--op", "update", "--name", "iface.initiatorname",
                 "--value", iqn, check=False)
        return name

    def stop(self) -> None:
        assert self.pool.source is not None
        iqn = _initiator(self.pool.source)
        iface = ["--interface", self._iface(iqn)] if iqn else []
        iscsiadm("--mode", "node", "--portal", self.portal(), "--targetname", self.target_iqn(), *iface, "--logout")

    def luns(self) -> list[dict[str, Any]]:
        session = self.session_id()
        if session is None:
            raise storage_error(f"cannot find iscsiadm session for target '{self.target_iqn()}'")
        iscsiadm("--mode", "session", "-r", session, "-R")
        device = sysfs_root() / "class" / "iscsi_session" / f"session{session}" / "device"
        m = re.search(r"/host(\d+)/", os.path.realpath(device) + "/")
        if m is None:
            raise SystemError_.from_errno(errno.ENOENT, f"Failed to get host number for iSCSI session with path "
                                          f"'{device}'", domain=STORAGE)
        return scsi_luns(self.pool, int(m.group(1)))

    @staticmethod
    def find_sources(source: PoolSource) -> str:
        host, port = _one_host(source)
        portal = portal_address(host, port)[2]
        _require_tcp_transport(portal, None)
        res = run([find_binary("iscsiadm", "open-iscsi"), "--mode", "discovery", "--type", "sendtargets",
                   "--portal", portal, "--op", "nonpersistent"], timeout=TOOL_TIMEOUT, check=False)
        if res.returncode not in (0, 21):  # 21: no targets found
            run(res.argv, timeout=TOOL_TIMEOUT)  # the same error libvirt reports
        targets = [m.group(2) for line in res.stdout.splitlines()
                   if (m := re.match(r"^\s*(\S+)\s+(\S+)\s*$", line))]
        return sources_xml(_found(source, targets))


# ----------------------------------------------------------------------------- scsi

def scsi_luns(pool: Pool, host: int) -> list[dict[str, Any]]:
    """The disks and CD drives of SCSI host ``host``, as volumes ``unit:B:T:L`` (from sysfs)."""
    devices = sysfs_root() / "bus" / "scsi" / "devices"
    vols = []
    try:
        entries = sorted(os.listdir(devices), key=lambda n: [int(x) for x in n.split(":")] if HBTL.fullmatch(n)
                         else [])
    except OSError as err:
        raise SystemError_.from_errno(err, f"Failed to opendir path '{devices}'", domain=STORAGE) from None
    for entry in entries:
        m = HBTL.fullmatch(entry)
        if m is None or int(m.group(1)) != host:
            continue
        lu = devices / entry
        dtype = _read(lu / "type")
        if dtype is None or not dtype.isdigit() or int(dtype) not in VOLUME_DEVICE_TYPES:
            continue
        block = _block_device(lu)
        if block is None:
            continue
        sectors = _read(lu / "block" / block / "size") or _read(sysfs_root() / "block" / block / "size") or "0"
        devpath = f"/dev/{block}"
        path = _stable_path(pool, devpath)
        _, bus, target, lun = (int(g) for g in m.groups())
        vols.append(block_record(f"unit:{bus}:{target}:{lun}", _scsi_serial(lu, devpath), path, int(sectors) * 512))
    return vols


def _block_device(lu: Path) -> str | None:
    try:
        names = sorted(os.listdir(lu / "block"))
        return names[0] if names else None
    except OSError:
        pass
    try:  # sysfs before 2.6.25: a "block:sdX" link
        return next((n.split(":", 1)[1] for n in sorted(os.listdir(lu)) if n.startswith("block:")), None)
    except OSError:
        return None


def _scsi_serial(lu: Path, devpath: str) -> str:
    """The LU's identifier as udev's scsi_id prints it (NAA, EUI-64, T10), else its device path."""
    wwid = _read(lu / "wwid")
    if wwid:
        kind, _, value = wwid.partition(".")
        prefix = {"naa": "3", "eui": "2", "t10": "1"}.get(kind)
        if prefix and value:
            return prefix + (value.replace(" ", "_") if kind == "t10" else value.lower())
    return devpath


def _stable_path(pool: Pool, devpath: str) -> str:
    """The device's name in the pool's target directory (/dev/disk/by-path, by-id...), as libvirt's
    virStorageBackendStablePath finds it; the /dev name when the target is /dev or has no link to it."""
    target = str(pool.target.path) if pool.target is not None and pool.target.path else "/dev"
    if target in ("/dev", "/dev/"):
        return devpath
    try:
        for name in sorted(os.listdir(target)):
            full = os.path.join(target, name)
            if os.path.realpath(full) == devpath:
                return full
    except OSError:
        pass
    return devpath


class SCSIBackend(_NoFilesBackend):
    """The LUNs of a SCSI host adapter (``scsi_host`` by name or by PCI address, or an FC ``fc_host``
    by its WWNN/WWPN), read from sysfs after asking the host to rescan."""

    type = "scsi"

    def host_name(self) -> str:
        adapter = self.pool.source.adapter if self.pool.source is not None else None
        if adapter is None:
            raise storage_error("missing storage pool source adapter", ErrorNumber.XML_ERROR)
        hosts = sysfs_root() / "class" / "scsi_host"
        if adapter.type == "fc_host":
            wwnn, wwpn = (str(w).lower().removeprefix("0x") for w in (adapter.wwnn, adapter.wwpn))
            fc = sysfs_root() / "class" / "fc_host"
            for name in sorted(os.listdir(fc)) if fc.is_dir() else []:
                node = (_read(fc / name / "node_name") or "").lower().removeprefix("0x")
                port = (_read(fc / name / "port_name") or "").lower().removeprefix("0x")
                if (node, port) == (wwnn, wwpn):
                    return name
            raise storage_error(f"Failed to find SCSI host with wwnn='{adapter.wwnn}', wwpn='{adapter.wwpn}'",
                                ErrorNumber.XML_ERROR)
        if adapter.parentaddr is not None:
            a = adapter.parentaddr.address
            assert a is not None
            pci = f"{int(str(a.domain), 16):04x}:{int(str(a.bus), 16):02x}:{int(str(a.slot), 16):02x}." \
                  f"{int(str(a.function), 16):x}"
            for name in sorted(os.listdir(hosts)) if hosts.is_dir() else []:
                if f"/{pci}/" in os.path.realpath(hosts / name) + "/" and \
                        _read(hosts / name / "unique_id") == str(adapter.parentaddr.unique_id):
                    return name
            raise storage_error(f"Failed to find scsi_host using PCI '{pci}' and unique_id="
                                f"'{adapter.parentaddr.unique_id}'", ErrorNumber.XML_ERROR)
        name = str(adapter.name)
        if not re.fullmatch(r"(scsi_)?host\d+", name):
            raise storage_error(f"Invalid name '{name}': must be 'hostN' or 'scsi_hostN'", ErrorNumber.INTERNAL_ERROR)
        return name.removeprefix("scsi_")

    def host_number(self) -> int:
        return int(self.host_name().removeprefix("host"))

    def fc_host_by_wwn(self) -> str | None:
        try:
            return self.host_name()
        except VirtError:
            return None

    @staticmethod
    def vport_capable(host: str) -> bool:
        return (sysfs_root() / "class" / "fc_host" / host / "vport_create").exists()

    def start(self) -> None:
        """An fc_host adapter that does not exist yet is made: a vHBA (NPIV port) with the pool's
        WWNN/WWPN on its parent HBA (or the first one that can take one), removed again at stop."""
        adapter = self.pool.source.adapter if self.pool.source is not None else None
        if adapter is None or adapter.type != "fc_host":
            self.host_number()  # a malformed adapter name fails here, before the rescan
            return
        parent = adapter.parent
        if parent:
            parent = str(parent).removeprefix("scsi_")
            if not re.fullmatch(r"host\d+", parent) or not self.vport_capable(parent):
                raise storage_error(f"parent '{adapter.parent}' specified for vHBA is not vport capable",
                                    ErrorNumber.XML_ERROR)
        if self.fc_host_by_wwn() is not None:
            return
        if not parent:
            parent = next((h for h in self._fc_hosts() if self._can_take_vport(h)), None)
            if parent is None:
                raise storage_error("'parent' for vHBA not specified, and cannot find one on this host",
                                    ErrorNumber.XML_ERROR)
        self._manage_vport(parent, "vport_create")
        adapter.managed = True  # ours to remove at stop (kept in the live definition)

    @staticmethod
    def _fc_hosts() -> list[str]:
        fc = sysfs_root() / "class" / "fc_host"
        return sorted(os.listdir(fc), key=lambda n: int(n[4:]) if n[4:].isdigit() else 0) if fc.is_dir() else []

    def _can_take_vport(self, host: str) -> bool:
        fc = sysfs_root() / "class" / "fc_host" / host
        limit, used = _read(fc / "max_npiv_vports"), _read(fc / "npiv_vports_inuse")
        return self.vport_capable(host) and _read(fc / "port_state") == "Online" and \
            (limit or "0").isdigit() and (used or "0").isdigit() and int(limit or 0) > int(used or 0)

    def _manage_vport(self, parent: str, op: str) -> None:
        adapter = self.pool.source.adapter  # type: ignore[union-attr]
        assert adapter is not None
        path = sysfs_root() / "class" / "fc_host" / parent / op
        wwpn, wwnn = (str(w).lower().removeprefix("0x") for w in (adapter.wwpn, adapter.wwnn))
        try:
            with open(path, "w") as f:
                f.write(f"{wwpn}:{wwnn}")
        except OSError as err:
            raise SystemError_.from_errno(err, f"Write of '{wwpn}:{wwnn}' to '{path}' during vport create/delete "
                                          "failed", domain=STORAGE) from None

    def stop(self) -> None:
        adapter = self.pool.source.adapter if self.pool.source is not None else None
        if adapter is None or adapter.type != "fc_host" or not adapter.managed:
            return
        host = self.fc_host_by_wwn()
        if host is None:
            return  # the vHBA never appeared (or is gone already): nothing to remove
        parent = str(adapter.parent).removeprefix("scsi_") if adapter.parent else self._vhba_parent(host)
        if parent is not None:
            self._manage_vport(parent, "vport_delete")

    @staticmethod
    def _vhba_parent(host: str) -> str | None:
        """The HBA a vHBA hangs off: the hostN above it in its sysfs device path."""
        path = os.path.realpath(sysfs_root() / "class" / "fc_host" / host)
        found = re.findall(r"/(host\d+)/", path)
        return found[-2] if len(found) >= 2 else None

    def luns(self) -> list[dict[str, Any]]:
        host = self.host_number()
        scan = sysfs_root() / "class" / "scsi_host" / f"host{host}" / "scan"
        try:
            with open(scan, "w") as f:
                f.write("- - -")
        except OSError as err:
            raise SystemError_.from_errno(err, f"Could not open '{scan}' to trigger host scan",
                                          domain=STORAGE) from None
        return scsi_luns(self.pool, host)


def find_sources(pool_type: str, spec: str | None) -> str:
    """virConnectFindStoragePoolSources for the SAN pool types."""
    if not spec:
        raise InvalidArgError("hostname must be specified for iscsi sources", domain=STORAGE)
    from virt.conf.xmlmodel import parse_xml

    try:
        source: PoolSource = PoolSource.from_element(parse_xml(spec))  # type: ignore[assignment]
    except VirtError as exc:
        exc.domain = exc.domain or STORAGE
        raise
    if pool_type == "iscsi":
        return ISCSIBackend.find_sources(source)
    return ISCSIDirectBackend.find_sources(source)
