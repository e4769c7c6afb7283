"""Pool backends: how each pool type is built, started, scanned and how its volumes are made.

``dir`` keeps volumes as files in a directory; ``fs`` and ``netfs`` mount a filesystem there first;
``logical`` is an LVM volume group whose logical volumes are the volumes; ``disk`` is a whole disk
with a partition table whose partitions are the volumes (made and removed with parted). File volumes are created,
cloned and resized with qemu-img (raw files directly, sparse where possible).
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from virt.conf.storage import Pool, Volume
from virt.core.enums import StoragePoolBuildFlags as BF
from virt.core.enums import StorageVolCreateFlags as CF
from virt.core.enums import StorageVolResizeFlags as RF
from virt.core.enums import StorageVolWipeAlgorithm as WA
from virt.secondary.storage.probe import ImageInfo, probe
from virt.util.errors import (
    ErrorDomain,
    ErrorNumber,
    InvalidArgError,
    OperationFailedError,
    SystemError_,
    VirtError,
)
from virt.util.process import find_binary, run

STORAGE = ErrorDomain.STORAGE
#: Seconds a host tool (mount, mkfs, lvm) may take before its pool is declared unresponsive.
TOOL_TIMEOUT = 300.0
#: Bytes copied or wiped at a time.
CHUNK = 1 << 20
#: The sector size libvirt's disk backend counts in.
SECTOR = 512

#: How a long operation reports what it has done: ``progress(processed_bytes, total_bytes)``.
Progress = Callable[[int, int], None]


def _no_progress(processed: int, total: int) -> None:
    pass


@dataclass
class PoolSizes:
    capacity: int = 0
    allocation: int = 0
    available: int = 0
    #: A disk pool's free regions, [start, end) in bytes (its <source><device><freeExtent>s).
    free_extents: list[list[int]] | None = None


def storage_error(message: str, code: ErrorNumber = ErrorNumber.INTERNAL_ERROR) -> VirtError:
    return VirtError(message, code=code, domain=STORAGE)


def qemu_img(*args: str, timeout: float = TOOL_TIMEOUT) -> str:
    return run([find_binary("qemu-img", "qemu-utils"), *args], timeout=timeout).stdout


def volume_record(name: str, key: str, info: ImageInfo) -> dict[str, Any]:
    """What the state file keeps of a volume (its probe, plus name and key)."""
    return {"name": name, "key": key, **asdict(info)}


class Backend:
    """A pool type. Subclasses override what differs; the default is a directory of files."""

    type: ClassVar[str] = "dir"
    #: Volumes are files in ``target`` (vs. devices the backend creates).
    file_volumes: ClassVar[bool] = True
    #: Volumes can be created here (not the LUNs of a storage array); create_vol raises otherwise.
    creates_volumes: ClassVar[bool] = True

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @property
    def target(self) -> str:
        assert self.pool.target is not None and self.pool.target.path
        return str(self.pool.target.path)

    # -- the pool -----------------------------------------------------------------------------------
    def build(self, flags: int) -> None:
        perms = self.pool.target.permissions if self.pool.target is not None else None
        mode = perms.mode if perms is not None and perms.mode is not None else 0o755
        os.makedirs(self.target, exist_ok=True)
        os.chmod(self.target, mode)
        if perms is not None and (perms.owner is not None or perms.group is not None):
            os.chown(self.target, -1 if perms.owner is None else perms.owner,
                     -1 if perms.group is None else perms.group)

    def start(self) -> None:
        self.check_target()

    def check_target(self) -> None:
        if not os.path.isdir(self.target):
            raise SystemError_.from_errno(errno.ENOENT, f"cannot open directory '{self.target}'", domain=STORAGE)

    def stop(self) -> None:
        pass

    def delete(self, flags: int) -> None:
        try:
            os.rmdir(self.target)
        except FileNotFoundError:
            pass
        except OSError as err:
            raise SystemError_.from_errno(err, f"failed to remove pool '{self.target}'", domain=STORAGE) from None

    def sizes(self) -> PoolSizes:
        st = os.statvfs(self.target)
        return PoolSizes(st.f_blocks * st.f_frsize, (st.f_blocks - st.f_bfree) * st.f_frsize,
                         st.f_bavail * st.f_frsize)

    def scan(self) -> list[dict[str, Any]]:
        """Every volume in the pool (hidden entries and what cannot be a volume are skipped)."""
        out = []
        with os.scandir(self.target) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.name.startswith("."):
                    continue
                info = probe(entry.path)
                if info is not None:
                    out.append(volume_record(entry.name, entry.path, info))
        return out

    def target_permissions(self) -> tuple[int, int, int]:
        st = os.stat(self.target)
        return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid

    # -- volumes ------------------------------------------------------------------------------------
    def vol_path(self, name: str) -> str:
        return os.path.join(self.target, name)

    def probe_vol(self, name: str, fmt: str | None = None) -> dict[str, Any]:
        path = self.vol_path(name)
        info = probe(path, format_hint=fmt)
        if info is None:
            raise storage_error(f"cannot probe volume '{path}'")
        return volume_record(name, path, info)

    def create_vol(self, vol: Volume, flags: int, backing: tuple[str, str] | None) -> None:
        """Allocate a new volume described by ``vol`` (its target format already resolved)."""
        path = self.vol_path(vol.name)
        fmt = vol.target.format_type if vol.target is not None else "raw"
        mode = _vol_mode(vol)
        if fmt == "dir":
            os.mkdir(path, mode)
            return
        if fmt == "raw" and backing is None:
            if flags & CF.PREALLOC_METADATA:
                raise storage_error("metadata preallocation only available with qcow2", ErrorNumber.OPERATION_UNSUPPORTED)
            _create_raw(path, vol.capacity_bytes, vol.allocation_bytes, mode)
            return
        options = _qcow_options(vol, backing)
        if flags & CF.PREALLOC_METADATA:
            options.append("preallocation=" + ("metadata" if vol.capacity_bytes > vol.allocation_bytes else "falloc"))
        args = ["create", "-f", str(fmt)]
        if options:
            args += ["-o", ",".join(options)]
        args.append(path)
        if vol.capacity_bytes or backing is None:
            args.append(f"{vol.capacity_bytes // 1024}K")
        try:
            qemu_img(*args)
            os.chmod(path, mode)
        except BaseException:
            _remove(path)
            raise

    def clone_vol(self, vol: Volume, src: dict[str, Any], flags: int, progress: Progress = _no_progress) -> None:
        """A new volume with the content of ``src`` (any format converted to the new one)."""
        path = self.vol_path(vol.name)
        fmt = vol.target.format_type if vol.target is not None else "raw"
        capacity = max(vol.capacity_bytes, int(src["capacity"]))
        try:
            if fmt == "raw" and src["format"] == "raw":
                _copy_sparse(src["path"], path, capacity, _vol_mode(vol), progress)
            else:
                options = _qcow_options(vol, None)
                args = ["convert", "-f", src["format"], "-O", str(fmt)]
                if options:
                    args += ["-o", ",".join(options)]
                progress(0, int(src["capacity"]))  # qemu-img reports only at its end
                qemu_img(*args, src["path"], path, timeout=24 * 3600)
                progress(int(src["capacity"]), int(src["capacity"]))
                os.chmod(path, _vol_mode(vol))
                if capacity > int(src["capacity"]):
                    qemu_img("resize", "-f", str(fmt), path, str(capacity))
        except BaseException:
            _remove(path)
            raise

    def delete_vol(self, rec: dict[str, Any]) -> None:
        path = rec["path"]
        try:
            if rec["type"] == "dir":
                os.rmdir(path)
            else:
                os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as err:
            raise SystemError_.from_errno(err, f"cannot remove volume '{path}'", domain=STORAGE) from None

    def resize_vol(self, rec: dict[str, Any], capacity: int, flags: int) -> None:
        path = rec["path"]
        if rec["format"] == "raw":
            with open(path, "r+b") as f:
                if flags & RF.ALLOCATE and capacity > int(rec["capacity"]):
                    os.posix_fallocate(f.fileno(), int(rec["capacity"]), capacity - int(rec["capacity"]))
                os.ftruncate(f.fileno(), capacity)
            return
        args = ["resize", "-f", rec["format"]]
        if flags & RF.SHRINK:
            args.append("--shrink")
        if flags & RF.ALLOCATE:
            args.append("--preallocation=falloc")
        qemu_img(*args, path, str(capacity))

    def wipe_vol(self, rec: dict[str, Any], algorithm: int, progress: Progress = _no_progress) -> None:
        """Overwrite the volume's data (zeros, or random bytes): what a guest left is gone."""
        if algorithm not in (WA.ZERO, WA.RANDOM):
            if algorithm not in list(WA):
                raise InvalidArgError(f"wiping algorithm {algorithm} not supported", domain=STORAGE)
            _scrub(rec["path"], algorithm)
            return
        path = rec["path"]
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            length = rec["capacity"] if rec["type"] == "block" else os.fstat(fd).st_size
            zeros = bytes(CHUNK)
            done = 0
            while done < length:
                n = min(CHUNK, length - done)
                data = zeros[:n] if algorithm == WA.ZERO else os.urandom(n)
                os.pwrite(fd, data, done)
                done += n
                progress(done, length)
            os.fsync(fd)
        finally:
            os.close(fd)


class FsBackend(Backend):
    """A filesystem on a device, mounted on the target directory while the pool runs."""

    type = "fs"

    def mount_source(self) -> str:
        src = self.pool.source
        assert src is not None and src.devices
        return str(src.devices[0].path)

    def fs_type(self) -> str | None:
        fmt = self.pool.source.format_type if self.pool.source is not None else None
        return None if fmt in (None, "auto") else fmt

    def is_mounted(self) -> bool:
        target = os.path.realpath(self.target)
        try:
            lines = Path("/proc/self/mounts").read_text().splitlines()
        except OSError:
            return False
        return any(len(p := line.split()) > 1 and p[1].replace("\\040", " ") == target for line in lines)

    def build(self, flags: int) -> None:
        super().build(flags)
        fs = self.fs_type()
        if fs is None:
            return
        dev = self.mount_source()
        existing = run([find_binary("blkid", "util-linux"), "-o", "value", "-s", "TYPE", dev], timeout=30,
                       check=False).stdout.strip()
        if existing and not flags & BF.OVERWRITE:
            if flags & BF.NO_OVERWRITE or existing != fs:
                raise storage_error(f"Device '{dev}' has a filesystem ({existing}): forced overwrite is necessary",
                                    ErrorNumber.STORAGE_POOL_BUILT)
            return
        mkfs = find_binary(f"mkfs.{fs}", "e2fsprogs")
        args = [mkfs]
        if fs.startswith("ext"):
            args.append("-F")
        run([*args, dev], timeout=TOOL_TIMEOUT)

    def start(self) -> None:
        if self.is_mounted():
            return
        if not os.path.isdir(self.target):
            self.check_target()
        args = [find_binary("mount", "mount")]
        if self.fs_type():
            args += ["-t", str(self.fs_type())]
        if self.pool.mount_opts:
            args += ["-o", ",".join(self.pool.mount_opts)]
        run([*args, self.mount_source(), self.target], timeout=TOOL_TIMEOUT)

    def stop(self) -> None:
        if self.is_mounted():
            run([find_binary("umount", "mount"), self.target], timeout=TOOL_TIMEOUT)

    def delete(self, flags: int) -> None:
        if self.is_mounted():
            raise storage_error(f"storage pool '{self.pool.name}' is still mounted", ErrorNumber.OPERATION_INVALID)
        super().delete(flags)


class NetfsBackend(FsBackend):
    """A network filesystem (NFS by default) mounted on the target directory."""

    type = "netfs"

    def mount_source(self) -> str:
        src = self.pool.source
        assert src is not None and src.hosts and src.dir is not None
        return f"{src.hosts[0].name}:{src.dir.path}"

    def fs_type(self) -> str | None:
        fmt = self.pool.source.format_type if self.pool.source is not None else None
        return "nfs" if fmt in (None, "auto") else fmt

    def build(self, flags: int) -> None:
        Backend.build(self, flags)


class LogicalBackend(Backend):
    """An LVM volume group; its logical volumes are the pool's volumes (block devices)."""

    type = "logical"
    file_volumes = False
    #: LVM must not wait for udev, which a container or a minimal host may not run.
    LVM_CONFIG = "activation { udev_sync = 0 udev_rules = 0 } devices { obtain_device_list_from_udev = 0 }"

    @property
    def vg(self) -> str:
        src = self.pool.source
        return str(src.name if src is not None and src.name else self.pool.name)

    def lvm(self, tool: str, *args: str, check: bool = True) -> str:
        return run([find_binary(tool, "lvm2"), "--config", self.LVM_CONFIG, *args], timeout=TOOL_TIMEOUT,
                   check=check).stdout

    def devices(self) -> list[str]:
        src = self.pool.source
        return [str(d.path) for d in (src.devices if src is not None else [])]

    def build(self, flags: int) -> None:
        devs = self.devices()
        if not devs:
            raise storage_error("cannot build logical storage pool without source devices",
                                ErrorNumber.OPERATION_INVALID)
        for dev in devs:
            if flags & BF.NO_OVERWRITE:
                existing = run([find_binary("blkid", "util-linux"), "-o", "value", "-s", "TYPE", dev], timeout=30,
                               check=False).stdout.strip()
                if existing:
                    raise storage_error(f"Device '{dev}' has a {existing} signature: forced overwrite is necessary",
                                        ErrorNumber.STORAGE_POOL_BUILT)
            self.lvm("pvcreate", "-ff", "-y", dev)
        self.lvm("vgcreate", "-y", self.vg, *devs)

    def start(self) -> None:
        self.lvm("vgchange", "-aly", self.vg)

    def stop(self) -> None:
        self.lvm("vgchange", "-aln", self.vg)

    def delete(self, flags: int) -> None:
        self.lvm("vgremove", "-f", self.vg)
        for dev in self.devices():
            self.lvm("pvremove", "-ff", "-y", dev, check=False)

    def sizes(self) -> PoolSizes:
        out = self.lvm("vgs", "--noheadings", "--units", "b", "--nosuffix", "-o", "vg_size,vg_free", self.vg).split()
        size, free = int(out[0]), int(out[1])
        return PoolSizes(size, size - free, free)

    def scan(self) -> list[dict[str, Any]]:
        out = self.lvm("lvs", "--noheadings", "--units", "b", "--nosuffix", "--separator", "#",
                       "-o", "lv_name,lv_uuid,lv_path,lv_size", self.vg)
        vols = []
        for line in out.splitlines():
            parts = line.strip().split("#")
            if len(parts) < 4 or not parts[2]:
                continue
            name, uuid, path, size = parts[0], parts[1], parts[2], int(parts[3])
            info = probe(path)
            if info is None:
                continue
            info.capacity = info.allocation = info.physical = size
            info.format = "none"
            vols.append(volume_record(name, uuid, info))
        return vols

    def vol_path(self, name: str) -> str:
        return f"/dev/{self.vg}/{name}"

    def probe_vol(self, name: str, fmt: str | None = None) -> dict[str, Any]:
        for rec in self.scan():
            if rec["name"] == name:
                return rec
        raise storage_error(f"no logical volume '{name}' in volume group '{self.vg}'")

    def create_vol(self, vol: Volume, flags: int, backing: tuple[str, str] | None) -> None:
        if backing is not None:
            raise storage_error("backing stores are not supported by logical volumes", ErrorNumber.NO_SUPPORT)
        size = max(vol.capacity_bytes, 1) + 1023
        self.lvm("lvcreate", "-y", "-Wn", "--name", vol.name, "-L", f"{size // 1024}K", self.vg)

    def clone_vol(self, vol: Volume, src: dict[str, Any], flags: int, progress: Progress = _no_progress) -> None:
        vol.capacity.value = max(vol.capacity_bytes, int(src["capacity"]))
        self.create_vol(vol, flags, None)
        try:
            if src["format"] in ("raw", "none"):
                _copy_into(src["path"], self.vol_path(vol.name), progress)
            else:
                qemu_img("convert", "-n", "-f", src["format"], "-O", "raw", src["path"], self.vol_path(vol.name),
                         timeout=24 * 3600)
        except BaseException:
            self.lvm("lvremove", "-f", f"{self.vg}/{vol.name}", check=False)
            raise

    def delete_vol(self, rec: dict[str, Any]) -> None:
        self.lvm("lvremove", "-f", f"{self.vg}/{rec['name']}")

    def resize_vol(self, rec: dict[str, Any], capacity: int, flags: int) -> None:
        args = ["lvresize", "-L", f"{(capacity + 1023) // 1024}K", f"{self.vg}/{rec['name']}"]
        if capacity < int(rec["capacity"]):
            args.insert(1, "-f")
        self.lvm(*args)


@dataclass
class Partition:
    """One partition (or free region, ``number`` 0) of a disk as parted prints it, in bytes."""

    number: int
    start: int
    end: int  # inclusive, as parted
    kind: str  # primary, extended, logical, free

    @property
    def size(self) -> int:
        return self.end - self.start + 1


class DiskBackend(Backend):
    """A whole disk with a partition table (made by ``pool-build``); its partitions are the volumes."""

    type = "disk"
    file_volumes = False
    #: Source formats whose parted label name differs.
    LABELS = {"dos": "msdos", "unknown": "msdos"}

    @property
    def device(self) -> str:
        src = self.pool.source
        if src is None or not src.devices:
            raise storage_error("missing source device for disk pool", ErrorNumber.INVALID_ARG)
        return str(src.devices[0].path)

    def parted(self, *args: str, machine: bool = False) -> str:
        opts = ["-s", "-a", "none"] + (["-m"] if machine else [])
        return run([find_binary("parted", "parted"), *opts, self.device, "unit", "B", *args],
                   timeout=TOOL_TIMEOUT).stdout

    def label(self) -> str:
        return run([find_binary("blkid", "util-linux"), "-p", "-o", "value", "-s", "PTTYPE", self.device],
                   timeout=30, check=False).stdout.strip()

    def build(self, flags: int) -> None:
        fmt = self.pool.source.format_type if self.pool.source is not None else None
        existing = self.label()
        if existing and (flags & BF.NO_OVERWRITE or not flags & BF.OVERWRITE):
            raise storage_error(f"Storage pool already built: device '{self.device}' has a {existing} partition "
                                "table, forced overwrite is necessary", ErrorNumber.STORAGE_POOL_BUILT)
        self.parted("mklabel", self.LABELS.get(str(fmt or "unknown"), str(fmt)))

    def start(self) -> None:
        if not os.path.exists(self.device):
            raise SystemError_.from_errno(errno.ENOENT, f"cannot open device '{self.device}'", domain=STORAGE)
        if not self.label():
            raise storage_error(f"device '{self.device}' has no partition table: build the pool first",
                                ErrorNumber.STORAGE_POOL_BUILT)

    def check_target(self) -> None:
        pass

    def delete(self, flags: int) -> None:
        raise storage_error("pool does not support pool deletion", ErrorNumber.NO_SUPPORT)

    def table(self) -> tuple[int, list[Partition]]:
        """The disk's size and its partitions and free regions (in parted's order)."""
        lines = self.parted("print", "free", machine=True).splitlines()
        size = int(lines[1].split(":")[1].rstrip("B"))
        kinds: dict[int, str] = {}
        if lines[1].split(":")[5] == "msdos":
            # only the human table says which partition is the extended one
            for row in self.parted("print").splitlines():
                cols = row.split()
                if len(cols) >= 5 and cols[0].isdigit():
                    kinds[int(cols[0])] = cols[4]
        parts = []
        for line in lines[2:]:
            cols = line.rstrip(";").split(":")
            if len(cols) < 5:
                continue
            start, end = int(cols[1].rstrip("B")), int(cols[2].rstrip("B"))
            if cols[4] == "free":
                parts.append(Partition(0, start, end, "free"))
            else:
                parts.append(Partition(int(cols[0]), start, end, kinds.get(int(cols[0]), "primary")))
        return size, parts

    def geometry(self) -> tuple[int, int, int]:
        """The disk's BIOS geometry (cylinders, heads, sectors per track) as libparted computes it."""
        out = run([find_binary("parted", "parted"), "-s", self.device, "unit", "chs", "print"], timeout=TOOL_TIMEOUT,
                  env={"LC_ALL": "C"}).stdout
        for line in out.splitlines():
            if line.startswith("BIOS cylinder,head,sector geometry:"):
                c, h, s = line.split(":", 1)[1].split(".")[0].strip().split(",")
                return int(c), int(h), int(s)
        raise storage_error("Failed to create disk pool geometry")

    def free_extents(self, size: int, parts: list[Partition]) -> list[tuple[int, int, str]]:
        """Free regions as libvirt lists them: [start, end) in bytes, "logical" inside the extended
        partition, "normal" elsewhere; a region at byte 0 starts after the first sector (the label's).

        On a dos label libparted keeps a last, incomplete cylinder as metadata (parted's listing
        shows it as free): it is not free space for libvirt either.
        """
        usable = size
        if self.label() == "dos":
            _, heads, sectors = self.geometry()
            usable -= size % (heads * sectors * SECTOR)
        extended = next((p for p in parts if p.kind == "extended"), None)
        out = []
        for p in parts:
            if p.kind != "free":
                continue
            inside = extended is not None and extended.start <= p.start and p.end <= extended.end
            start, end = p.start or SECTOR, min(p.end + 1, usable)
            if start <= end:
                out.append((start, end, "logical" if inside else "normal"))
        return out

    def part_path(self, number: int) -> str:
        return f"{self.device}{'p' if self.device[-1].isdigit() else ''}{number}"

    def sizes(self) -> PoolSizes:
        """libvirt's accounting: allocation sums the data partitions (an extended one is only their
        container), available the free extents, capacity is where the last extent or partition ends."""
        size, parts = self.table()
        free = self.free_extents(size, parts)
        used = sum(p.size for p in parts if p.kind in ("primary", "logical"))
        capacity = max([p.end + 1 for p in parts] + [end for _, end, _ in free] + [0])
        return PoolSizes(capacity, used, sum(end - start for start, end, _ in free),
                         [[start, end] for start, end, _ in free])

    def scan(self) -> list[dict[str, Any]]:
        _, parts = self.table()
        vols = []
        logical_total = sum(p.size for p in parts if p.kind == "logical")
        for part in parts:
            if part.kind == "free":
                continue
            path = self.part_path(part.number)
            _wait_for(path)
            info = probe(path)
            if info is None:
                continue
            info.capacity = info.allocation = info.physical = part.size
            info.format = "none"
            if part.kind == "extended":
                # as libvirt: the extended partition holds only what its logical partitions allocate
                info.format, info.allocation = "extended", logical_total
            rec = volume_record(os.path.basename(path), path, info)
            rec.update(number=part.number, part_type=part.kind, source_device=self.device,
                       extents=[[part.start, part.end + 1]])
            vols.append(rec)
        return vols

    def vol_path(self, name: str) -> str:
        return os.path.join(os.path.dirname(self.device), name)

    def probe_vol(self, name: str, fmt: str | None = None) -> dict[str, Any]:
        for rec in self.scan():
            if rec["name"] == name:
                return rec
        raise storage_error(f"no partition '{name}' on '{self.device}'")

    def create_vol(self, vol: Volume, flags: int, backing: tuple[str, str] | None) -> None:
        if backing is not None:
            raise storage_error("backing stores are not supported by disk pools", ErrorNumber.NO_SUPPORT)
        if vol.target is not None and getattr(vol.target, "encryption", None) is not None:
            raise storage_error("storage pool does not support encrypted volumes", ErrorNumber.CONFIG_UNSUPPORTED)
        size, parts = self.table()
        fmt = vol.target.format_type if vol.target is not None else None
        dos = self.label() == "dos"
        extended = next((p for p in parts if p.kind == "extended"), None)
        # four primaries is all a dos table holds: the rest are logical, inside the extended one
        kind = "logical" if dos and sum(p.kind in ("primary", "extended") for p in parts) >= 4 else "primary"
        if fmt == "extended":
            if not dos:
                raise storage_error("extended partitions need a dos partition table", ErrorNumber.INVALID_ARG)
            if extended is not None:
                raise storage_error("extended partition already exists")
        elif kind == "logical" and extended is None:
            raise storage_error("no extended partition found and no primary partition available")
        start, end = self.boundaries(size, parts, vol.capacity_bytes, kind, dos)
        self.parted("mkpart", "extended" if fmt == "extended" else kind, f"{start}B", f"{end}B")
        # as libvirt, the volume is named after the partition's device, whatever was asked
        number = next(p.number for p in self.table()[1] if p.kind != "free" and p.start == start)
        vol.name = os.path.basename(self.part_path(number))

    def boundaries(self, size: int, parts: list[Partition], allocation: int, kind: str, dos: bool) -> tuple[int, int]:
        """Where a new partition goes, as libvirt places it: in the smallest free extent of the right
        kind that is large enough; on a dos label its end is rounded up to a cylinder boundary
        (heads x sectors x 512 bytes); a logical partition leaves one sector for its boot record."""
        _, heads, sectors = self.geometry()
        cylinder = heads * sectors * SECTOR
        # libvirt rounds up by the bytes missing to a whole cylinder (a whole one more when none are)
        extra = cylinder - allocation % cylinder
        wanted = "logical" if kind == "logical" else "normal"
        best: tuple[int, int, int] | None = None  # (size, start, aligned allocation)
        for start, end, ftype in self.free_extents(size, parts):
            size, needed = end - start, allocation
            if dos:
                needed += extra
                if kind == "logical":
                    size -= SECTOR
            if size > needed and ftype == wanted and (best is None or size < best[0]):
                best = (size, start, needed)
        if best is None:
            raise storage_error("no large enough free extent")
        _, start, needed = best
        if kind == "logical":
            start += SECTOR
        end = start + needed
        if dos:
            end -= start % cylinder  # the end lands on a cylinder boundary
        return start, end - 1

    def clone_vol(self, vol: Volume, src: dict[str, Any], flags: int, progress: Progress = _no_progress) -> None:
        raise storage_error("cloning into a disk pool is not supported", ErrorNumber.NO_SUPPORT)

    def delete_vol(self, rec: dict[str, Any]) -> None:
        self.parted("rm", str(rec["number"]))

    def resize_vol(self, rec: dict[str, Any], capacity: int, flags: int) -> None:
        raise storage_error("resizing partitions is not supported", ErrorNumber.NO_SUPPORT)


def backend_for(pool: Pool, secrets: Callable[[Any, int], bytes] | None = None) -> Backend:
    """The backend of ``pool``'s type; ``secrets`` reads the value of an <auth> secret (iSCSI CHAP)."""
    from virt.secondary.storage.sanpools import ISCSIBackend, ISCSIDirectBackend, SCSIBackend

    backends: dict[str, type[Backend]] = {b.type: b for b in (Backend, FsBackend, NetfsBackend, LogicalBackend,
                                                              DiskBackend, ISCSIBackend, ISCSIDirectBackend,
                                                              SCSIBackend)}
    cls = backends.get(str(pool.type))
    if cls is None:
        # what libvirt says of a pool type whose backend it was built without (the type's enum number first)
        from virt.conf.storage import POOL_TYPES

        raise storage_error(f"missing backend for pool type {POOL_TYPES.index(str(pool.type))} ({pool.type})")
    backend = cls(pool)
    if secrets is not None:
        backend.secrets = secrets  # type: ignore[attr-defined]
    return backend


# ----------------------------------------------------------------------------- file helpers

def _vol_mode(vol: Volume) -> int:
    perms = vol.target.permissions if vol.target is not None else None
    return perms.mode if perms is not None and perms.mode is not None else 0o600


def _qcow_options(vol: Volume, backing: tuple[str, str] | None) -> list[str]:
    target = vol.target
    options = []
    if backing is not None:
        options += [f"backing_file={backing[0]}", f"backing_fmt={backing[1]}"]
    if target is not None and target.format_type == "qcow2":
        if target.compat:
            options.append(f"compat={target.compat}")
        if target.cluster_size is not None:
            options.append(f"cluster_size={target.cluster_size.value}")
        if target.features is not None:
            options += [f"{name}=on" for name in target.features.names]
    return options


def _create_raw(path: str, capacity: int, allocation: int, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)
        if allocation:
            os.posix_fallocate(fd, 0, min(allocation, capacity) or allocation)
        os.ftruncate(fd, capacity)
    except BaseException:
        os.close(fd)
        _remove(path)
        raise
    os.close(fd)


def _copy_sparse(src: str, dst: str, capacity: int, mode: int, progress: Progress = _no_progress) -> None:
    """Copy a raw image, leaving holes where the source reads as zeros."""
    zeros = bytes(CHUNK)
    with open(src, "rb") as fin:
        total = os.fstat(fin.fileno()).st_size
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        try:
            offset = 0
            while chunk := fin.read(CHUNK):
                if chunk != zeros[:len(chunk)]:
                    os.pwrite(fd, chunk, offset)
                offset += len(chunk)
                progress(offset, total)
            os.ftruncate(fd, max(capacity, offset))
            os.fsync(fd)
        finally:
            os.close(fd)


def _copy_into(src: str, dst: str, progress: Progress = _no_progress) -> None:
    with open(src, "rb") as fin, open(dst, "r+b") as fout:
        total, done = fin.seek(0, os.SEEK_END), 0
        fin.seek(0)
        while chunk := fin.read(CHUNK):
            fout.write(chunk)
            done += len(chunk)
            progress(done, total)
        fout.flush()
        os.fsync(fout.fileno())


def _scrub(path: str, algorithm: int) -> None:
    patterns = {WA.NNSA: "nnsa", WA.DOD: "dod", WA.BSI: "bsi", WA.GUTMANN: "gutmann", WA.SCHNEIER: "schneier",
                WA.PFITZNER7: "pfitzner7", WA.PFITZNER33: "pfitzner33"}
    pattern = patterns.get(WA(algorithm))
    if pattern is None:
        raise InvalidArgError(f"wiping algorithm {algorithm} not supported", domain=STORAGE)
    run([find_binary("scrub", "scrub"), "-f", "-p", pattern, path], timeout=24 * 3600)


def _wait_for(path: str, seconds: float = 5.0) -> None:
    """Partition nodes appear a moment after the kernel rereads the table (devtmpfs or udev)."""
    deadline = time.monotonic() + seconds
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)


def _remove(path: str) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            os.rmdir(path)
        else:
            os.unlink(path)
    except OSError:
        pass


def operation_failed(message: str) -> OperationFailedError:
    return OperationFailedError(message, domain=STORAGE)
