"""Linux control groups for guests: v1, v2 and hybrid layouts detected per controller, groups and their tunables.

A host mounts each controller either in a cgroup v1 hierarchy (``/sys/fs/cgroup/memory``) or in the
unified v2 hierarchy; a hybrid host mixes both (v1 controllers plus an almost empty v2 tree at
``/sys/fs/cgroup/unified``). :class:`Layout` reads the mounts and this process's placement and answers,
for each controller, which hierarchy serves it. :class:`Cgroup` is one group across every hierarchy;
its tunables (:data:`TUNABLES`) are described once as data: for each, the v1 and the v2 file and how
the value is written there, and one engine reads and writes them.

Groups of guests go in the ``machine`` partition below this process's own placement in each hierarchy
(``<placement>/machine/<name>.libvirt-<driver>``), so guests stay inside whatever limits the caller is
under. Memory sizes are in KiB as libvirt's API counts them; :data:`MEMORY_UNLIMITED` means no limit.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from virt.util.errors import (
    ErrorDomain,
    OperationInvalidError,
    OperationTimeoutError,
    SystemError_,
)
from virt.util.fileutil import make_dirs

__all__ = [
    "CONTROLLERS",
    "MEMORY_UNLIMITED",
    "TUNABLES",
    "Cgroup",
    "Hierarchy",
    "Layout",
    "Tunable",
]

#: Controllers a guest's group uses, as libvirt lists them ("name=systemd" is the named v1 hierarchy).
CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "io", "pids", "net_cls",
               "perf_event", "name=systemd")
#: libvirt's VIR_DOMAIN_MEMORY_PARAM_UNLIMITED, in KiB: "no limit".
MEMORY_UNLIMITED = 9007199254740991
#: v2 core features that need no controller: the freezer (cgroup.freeze) and CPU time (cpu.stat).
_V2_CORE = ("freezer", "cpuacct")
#: From this many bytes on, a v1 memory limit means "no limit".
_V1_UNLIMITED_BYTES = 1 << 62


def _error(detail: str, err: int | OSError) -> SystemError_:
    return SystemError_.from_errno(err, detail, domain=ErrorDomain.CGROUP)


# ----------------------------------------------------------------------------------------- layout
@dataclass(frozen=True)
class Hierarchy:
    """One mounted cgroup hierarchy: v1 (with its controllers) or the v2 unified one."""

    version: int
    mount: Path
    controllers: frozenset[str]
    #: Where this process sits in it ("/" or "/user.slice/..."), relative to the mount.
    placement: str = "/"

    def path(self, group: str) -> Path:
        """Directory of ``group`` (a path below the hierarchy's root) in this hierarchy."""
        return self.mount / group.strip("/") if group.strip("/") else self.mount

    @property
    def key(self) -> str:
        """A stable name for the hierarchy: its controllers ("cpu,cpuacct"), or "unified"."""
        return "unified" if self.version == 2 else ",".join(sorted(self.controllers))


def _unescape(field_: str) -> str:
    """mountinfo escapes blanks and backslashes as octal (``\\040``)."""
    out, i = [], 0
    while i < len(field_):
        if field_[i] == "\\" and i + 4 <= len(field_) and field_[i + 1 : i + 4].isdigit():
            out.append(chr(int(field_[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field_[i])
            i += 1
    return "".join(out)


@dataclass
class Layout:
    """The cgroup hierarchies of this host and this process's place in them."""

    hierarchies: list[Hierarchy] = field(default_factory=list)

    @classmethod
    def detect(cls, mountinfo: str | None = None, self_cgroup: str | None = None) -> Layout:
        """Read /proc/self/mountinfo and /proc/self/cgroup (or the given texts, for other views)."""
        if mountinfo is None:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        if self_cgroup is None:
            self_cgroup = Path("/proc/self/cgroup").read_text()
        v1_place: dict[frozenset[str], str] = {}
        v2_place = "/"
        for line in self_cgroup.splitlines():
            hid, _, rest = line.partition(":")
            names, _, path = rest.partition(":")
            if hid == "0" and names == "":
                v2_place = path or "/"
            elif names:
                v1_place[frozenset(names.split(","))] = path or "/"
        found: list[Hierarchy] = []
        seen: set[str] = set()
        for line in mountinfo.splitlines():
            left, sep, right = line.partition(" - ")
            if not sep:
                continue
            fields, rfields = left.split(), right.split()
            if len(fields) < 5 or len(rfields) < 3 or rfields[0] not in ("cgroup", "cgroup2"):
                continue
            root, mount = _unescape(fields[3]), _unescape(fields[4])
            if mount in seen:
                continue  # mounted twice: the first one is as good
            seen.add(mount)
            if rfields[0] == "cgroup2":
                try:
                    ctl = frozenset((Path(mount) / "cgroup.controllers").read_text().split())
                except OSError:
                    ctl = frozenset()
                found.append(Hierarchy(2, Path(mount), ctl, _relative(v2_place, root)))
            else:
                opts = rfields[2].split(",")
                ctl = frozenset(o for o in opts if o in CONTROLLERS or o.startswith("name="))
                if not ctl:
                    continue
                found.append(Hierarchy(1, Path(mount), ctl, _relative(v1_place.get(ctl, "/"), root)))
        # One hierarchy per controller set: a later bind mount of the same tree adds nothing.
        unique: dict[str, Hierarchy] = {}
        for h in found:
            unique.setdefault(h.key, h)
        return cls(list(unique.values()))

    @property
    def mode(self) -> str:
        """"v1", "v2", "hybrid" (both) or "none"."""
        versions = {h.version for h in self.hierarchies}
        return {frozenset({1}): "v1", frozenset({2}): "v2", frozenset({1, 2}): "hybrid"}.get(frozenset(versions), "none")

    @property
    def unified(self) -> Hierarchy | None:
        return next((h for h in self.hierarchies if h.version == 2), None)

    def hierarchy(self, controller: str) -> Hierarchy | None:
        """The hierarchy serving ``controller``: its v1 hierarchy, else the unified one if it has it.

        "freezer" and "cpuacct" are served by the unified hierarchy's core files when no v1 hierarchy
        has them (cgroup.freeze, cpu.stat). "io" and "blkio" name the same controller.
        """
        names = {controller, {"io": "blkio", "blkio": "io"}.get(controller, controller)}
        for h in self.hierarchies:
            if h.version == 1 and h.controllers & names:
                return h
        unified = self.unified
        if unified is not None and (unified.controllers & names or controller in _V2_CORE):
            return unified
        return None

    def version(self, controller: str) -> int | None:
        """1 or 2 for the version that serves ``controller``, None if the host lacks it."""
        h = self.hierarchy(controller)
        return h.version if h else None


def _relative(placement: str, root: str) -> str:
    """A placement seen from a mount of the subtree ``root`` (bind mounts inside containers)."""
    if root in ("", "/"):
        return placement or "/"
    if placement == root or placement.startswith(root.rstrip("/") + "/"):
        return placement[len(root.rstrip("/")) :] or "/"
    return "/"


# ----------------------------------------------------------------------------------------- tunables
@dataclass(frozen=True)
class Knob:
    """Where one version keeps a tunable: controller, candidate files (first existing wins), value codec.

    Codecs: "int"; "str"; "kib" (a byte count, -1 unlimited in v1, "max" in v2; the API counts KiB);
    "max0"/"max1" (the first or second word of v2 cpu.max, "max" meaning -1); "weight" (v2 io.weight's
    "default N"); "usage_usec" (v2 cpu.stat key, returned in nanoseconds).
    """

    controller: str
    files: tuple[str, ...]
    codec: str = "int"


@dataclass(frozen=True)
class Tunable:
    """A tunable as libvirt names it, with its v1 and v2 homes; ``writable`` False for statistics."""

    name: str
    v1: Knob | None
    v2: Knob | None
    writable: bool = True


def _k(controller: str, files: str, codec: str = "int") -> Knob:
    return Knob(controller, tuple(files.split("|")), codec)


TUNABLES: dict[str, Tunable] = {t.name: t for t in (
    Tunable("cpu.shares", _k("cpu", "cpu.shares"), _k("cpu", "cpu.weight")),
    Tunable("cpu.cfs_period", _k("cpu", "cpu.cfs_period_us"), _k("cpu", "cpu.max", "max1")),
    Tunable("cpu.cfs_quota", _k("cpu", "cpu.cfs_quota_us"), _k("cpu", "cpu.max", "max0")),
    Tunable("memory.hard_limit", _k("memory", "memory.limit_in_bytes", "kib"), _k("memory", "memory.max", "kib")),
    Tunable("memory.soft_limit", _k("memory", "memory.soft_limit_in_bytes", "kib"),
            _k("memory", "memory.high", "kib")),
    Tunable("memory.swap_hard_limit", _k("memory", "memory.memsw.limit_in_bytes", "kib"),
            _k("memory", "memory.swap.max", "kib")),
    Tunable("blkio.weight", _k("blkio", "blkio.bfq.weight|blkio.weight"), _k("io", "io.bfq.weight|io.weight", "weight")),
    Tunable("cpuset.cpus", _k("cpuset", "cpuset.cpus", "str"), _k("cpuset", "cpuset.cpus", "str")),
    Tunable("cpuset.mems", _k("cpuset", "cpuset.mems", "str"), _k("cpuset", "cpuset.mems", "str")),
    Tunable("cpuacct.usage", _k("cpuacct", "cpuacct.usage"), _k("cpuacct", "cpu.stat", "usage_usec"), writable=False),
    Tunable("memory.usage", _k("memory", "memory.usage_in_bytes", "kib"), _k("memory", "memory.current", "kib"),
            writable=False),
    Tunable("pids.max", _k("pids", "pids.max", "maxint"), _k("pids", "pids.max", "maxint")),
)}  # fmt: skip


def _encode(codec: str, version: int, value: int | str, current: str) -> str:
    if codec == "str":
        return str(value)
    number = int(value)
    if codec == "kib":
        if number >= _V1_UNLIMITED_BYTES >> 10 or number < 0:
            return "-1" if version == 1 else "max"
        return str(number << 10)
    if codec == "maxint":
        return "max" if number < 0 else str(number)
    if codec in ("max0", "max1"):
        words = (current.split() + ["max", "100000"])[:2]
        words[int(codec[-1])] = "max" if number < 0 else str(number)
        return " ".join(words)
    if codec == "weight":
        return f"default {number}"
    return str(number)


def _decode(codec: str, text: str) -> int | str:
    text = text.strip()
    if codec == "str":
        return text
    if codec == "kib":
        if text == "max":
            return MEMORY_UNLIMITED
        value = int(text)
        # v1 reports "no limit" as the largest page-aligned long, which differs by page size.
        return MEMORY_UNLIMITED if value >= _V1_UNLIMITED_BYTES else value >> 10
    if codec == "maxint":
        return -1 if text == "max" else int(text)
    if codec in ("max0", "max1"):
        word = text.split()[int(codec[-1])]
        return -1 if word == "max" else int(word)
    if codec == "weight":
        for line in text.splitlines():
            key, _, val = line.partition(" ")
            if key == "default":
                return int(val)
        return int(text.split()[-1])
    if codec == "usage_usec":
        for line in text.splitlines():
            key, _, val = line.partition(" ")
            if key == "usage_usec":
                return int(val) * 1000
        raise ValueError("no usage_usec")
    return int(text)


# ----------------------------------------------------------------------------------------- groups
@dataclass
class Cgroup:
    """One group, present in each hierarchy of a layout: ``dirs`` maps hierarchy key -> directory."""

    layout: Layout
    dirs: dict[str, Path]

    # -- naming and creation -------------------------------------------------------------------
    @classmethod
    def machine(cls, name: str, driver: str, layout: Layout | None = None, partition: str = "machine") -> Cgroup:
        """The group of guest ``name`` of ``driver``: <placement>/<partition>/<name>.libvirt-<driver>."""
        layout = layout or Layout.detect()
        leaf = f"{name}.libvirt-{driver}"
        dirs = {h.key: h.path(f"{h.placement}/{partition}/{leaf}") for h in layout.hierarchies}
        return cls(layout, dirs)

    @classmethod
    def of_pid(cls, pid: int | str = "self", layout: Layout | None = None) -> Cgroup:
        """The group process ``pid`` is in (every hierarchy)."""
        layout = layout or Layout.detect()
        text = Path(f"/proc/{pid}/cgroup").read_text()
        paths: dict[str, str] = {}
        for line in text.splitlines():
            hid, _, rest = line.partition(":")
            names, _, path = rest.partition(":")
            paths["unified" if hid == "0" and not names else ",".join(sorted(names.split(",")))] = path
        dirs = {h.key: h.path(paths.get(h.key, "/")) for h in layout.hierarchies}
        return cls(layout, dirs)

    @classmethod
    def from_dict(cls, data: dict[str, str], layout: Layout | None = None) -> Cgroup:
        """Rebuild a group saved with :meth:`to_dict` (a driver's state file)."""
        layout = layout or Layout.detect()
        keys = {h.key for h in layout.hierarchies}
        return cls(layout, {k: Path(v) for k, v in data.items() if k in keys})

    def to_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.dirs.items()}

    def _dir(self, controller: str) -> Path:
        h = self.layout.hierarchy(controller)
        if h is None or h.key not in self.dirs:
            raise OperationInvalidError(f"Controller '{controller}' is not mounted", domain=ErrorDomain.CGROUP)
        return self.dirs[h.key]

    def has(self, controller: str) -> bool:
        h = self.layout.hierarchy(controller)
        return h is not None and h.key in self.dirs

    def exists(self) -> bool:
        return any(d.is_dir() for d in self.dirs.values())

    def create(self) -> None:
        """Make the group in every hierarchy, with what a new group needs before it takes processes:
        v1 cpuset copies its parent's cpus and mems (they start empty); v2 enables controllers down to it."""
        for h in self.layout.hierarchies:
            target = self.dirs.get(h.key)
            if target is None:
                continue
            make_dirs(target)
            if h.version == 1 and "cpuset" in h.controllers:
                # Every group on the path whose values are still empty, not only those this call made:
                # a concurrent create may have made a shared parent and not filled it in yet.
                path = [p for p in (target, *target.parents) if p.is_relative_to(h.mount) and p != h.mount]
                for directory in reversed(path):
                    for name in ("cpuset.cpus", "cpuset.mems"):
                        value = _read(directory.parent / name).strip()
                        if not _read(directory / name).strip():
                            _write(directory / name, value)
            elif h.version == 2:
                wanted = h.controllers & {"cpu", "cpuset", "memory", "io", "pids"}
                base = h.path(h.placement)
                for directory in [p for p in reversed(target.parents) if p.is_relative_to(base)]:
                    enabled = set(_read(directory / "cgroup.subtree_control").split())
                    available = set(_read(directory / "cgroup.controllers").split())
                    for ctl in sorted((wanted & available) - enabled):
                        try:
                            _write(directory / "cgroup.subtree_control", f"+{ctl}")
                        except SystemError_ as err:
                            if err.extra.get("int1") != errno.EBUSY:
                                raise
                            # A v2 group holding processes cannot hand controllers down; carry on without.

    def remove(self, timeout: float = 5.0) -> None:
        """Remove the group (its sub-groups first) from every hierarchy; it must hold no process."""
        deadline = time.monotonic() + timeout
        for directory in self.dirs.values():
            for sub in sorted(_subdirs(directory), key=lambda p: len(p.parts), reverse=True):
                while True:
                    try:
                        os.rmdir(sub)
                        break
                    except FileNotFoundError:
                        break
                    except OSError as err:
                        # EBUSY: the kernel frees a group a moment after its last process is reaped.
                        if err.errno != errno.EBUSY or time.monotonic() >= deadline:
                            raise _error(f"Unable to remove cgroup '{sub}'", err) from None
                        time.sleep(0.01)

    # -- processes -------------------------------------------------------------------------------
    def add_pid(self, pid: int) -> None:
        """Move process ``pid`` (all its threads) into the group in every hierarchy."""
        for directory in self.dirs.values():
            _write(directory / "cgroup.procs", str(pid))

    def pids(self, recursive: bool = True) -> list[int]:
        """Processes in the group (and its sub-groups), from every hierarchy."""
        found: set[int] = set()
        for directory in self.dirs.values():
            for sub in (_subdirs(directory) if recursive else [directory]):
                try:
                    found.update(int(p) for p in (sub / "cgroup.procs").read_text().split())
                except FileNotFoundError:
                    continue
                except OSError as err:
                    raise _error(f"Unable to read from '{sub / 'cgroup.procs'}'", err) from None
        return sorted(found)

    def kill_all(self, sig: int = signal.SIGKILL, timeout: float = 5.0) -> int:
        """Send ``sig`` to every process of the group until none is left (SIGKILL) and return how many
        were signalled. v2's cgroup.kill is used when the kernel has it, as libvirt prefers."""
        killed: set[int] = set()
        unified = self.layout.unified
        kill_file = self.dirs[unified.key] / "cgroup.kill" if unified and unified.key in self.dirs else None
        deadline = time.monotonic() + timeout
        while True:
            pids = [p for p in self.pids() if p != os.getpid()]
            if not pids:
                return len(killed)
            if sig == signal.SIGKILL and kill_file is not None and kill_file.exists():
                killed.update(pids)
                _write(kill_file, "1")
            else:
                for pid in pids:
                    try:
                        os.kill(pid, sig)
                        killed.add(pid)
                    except ProcessLookupError:
                        pass
            if sig != signal.SIGKILL:
                return len(killed)
            if time.monotonic() >= deadline:
                raise OperationTimeoutError(f"Processes {pids} of cgroup '{self._any_dir()}' survived SIGKILL",
                                            domain=ErrorDomain.CGROUP)
            for pid in pids:
                _reap(pid)
            time.sleep(0.005)

    def _any_dir(self) -> Path:
        return next(iter(self.dirs.values()))

    # -- tunables --------------------------------------------------------------------------------
    def _knob(self, name: str) -> tuple[Knob, int, Path]:
        tunable = TUNABLES.get(name)
        if tunable is None:
            raise OperationInvalidError(f"unknown cgroup tunable '{name}'", domain=ErrorDomain.CGROUP)
        controller = (tunable.v1 or tunable.v2).controller  # type: ignore[union-attr]
        h = self.layout.hierarchy(controller)
        knob = (tunable.v1 if h is not None and h.version == 1 else tunable.v2) if h else None
        if h is None or knob is None or h.key not in self.dirs:
            raise OperationInvalidError(f"Controller '{controller}' is not mounted", domain=ErrorDomain.CGROUP)
        directory = self.dirs[h.key]
        path = next((directory / f for f in knob.files if (directory / f).exists()), directory / knob.files[0])
        return knob, h.version, path

    def supports(self, name: str) -> bool:
        """Whether this host has the file of tunable ``name`` for this group."""
        try:
            return self._knob(name)[2].exists()
        except OperationInvalidError:
            return False

    def get(self, name: str) -> int | str:
        """The value of tunable ``name`` (see :data:`TUNABLES`)."""
        knob, _, path = self._knob(name)
        text = _read(path)
        try:
            return _decode(knob.codec, text)
        except (ValueError, IndexError):
            raise _error(f"Unable to parse '{text.strip()}' from '{path}'", errno.EINVAL) from None

    def set(self, name: str, value: int | str) -> None:
        """Set tunable ``name``; memory in KiB (:data:`MEMORY_UNLIMITED` or a negative value: no limit)."""
        tunable = TUNABLES.get(name)
        if tunable is not None and not tunable.writable:
            raise OperationInvalidError(f"cgroup tunable '{name}' is read-only", domain=ErrorDomain.CGROUP)
        knob, version, path = self._knob(name)
        current = _read(path) if knob.codec in ("max0", "max1") else ""
        _write(path, _encode(knob.codec, version, value, current))

    def cpu_time(self) -> int:
        """CPU time used by the group's processes, in nanoseconds."""
        return int(self.get("cpuacct.usage"))

    def memory_usage(self) -> int:
        """Memory used by the group, in KiB."""
        return int(self.get("memory.usage"))

    # -- devices ---------------------------------------------------------------------------------
    def supports_device_acl(self) -> bool:
        """Whether device access can be listed here: the v1 devices controller (v2 needs BPF programs)."""
        return self.layout.version("devices") == 1 and self.has("devices")

    def deny_all_devices(self) -> None:
        """Forbid every device node to the group's processes (v1 devices.deny "a")."""
        _write(self._dir("devices") / "devices.deny", "a")

    def allow_device(self, kind: str, major: int | None, minor: int | None, perms: str = "rwm") -> None:
        """Allow a device: ``kind`` "c" or "b", None for a wildcard number, ``perms`` of r, w, m."""
        rule = f"{kind} {'*' if major is None else major}:{'*' if minor is None else minor} {perms}"
        _write(self._dir("devices") / "devices.allow", rule)

    def deny_device(self, kind: str, major: int | None, minor: int | None, perms: str = "rwm") -> None:
        """Take back access to a device allowed before (v1 devices.deny), with ``allow_device``'s arguments."""
        rule = f"{kind} {'*' if major is None else major}:{'*' if minor is None else minor} {perms}"
        _write(self._dir("devices") / "devices.deny", rule)

    def supports_device_filter(self) -> bool:
        """Whether device access is a BPF program's business here: no v1 devices controller, a v2 group."""
        unified = self.layout.unified
        return self.layout.version("devices") != 1 and unified is not None and unified.key in self.dirs

    def set_device_filter(self, rules: Iterable[tuple[str, int | None, int | None, str]]) -> None:
        """Allow exactly ``rules`` (``allow_device``'s arguments) to the v2 group, every other device
        denied (a BPF device program attached to it, replacing the previous one)."""
        from virt.util import bpfdevices

        unified = self.layout.unified
        if unified is None or unified.key not in self.dirs:
            raise OperationInvalidError("cgroup v2 is not mounted", domain=ErrorDomain.CGROUP)
        bpfdevices.attach(self.dirs[unified.key], rules)

    def device_list(self) -> list[str]:
        """The group's device rules as the kernel lists them (v1 devices.list), one "c 1:3 rw" per entry."""
        return _read(self._dir("devices") / "devices.list").splitlines()

    # -- freezer ---------------------------------------------------------------------------------
    def freezer_state(self) -> str:
        """"FROZEN", "FREEZING" or "THAWED" (v1 freezer.state, or v2 cgroup.freeze and cgroup.events)."""
        directory = self._dir("freezer")
        if self.layout.version("freezer") == 1:
            return _read(directory / "freezer.state").strip()
        wanted = _read(directory / "cgroup.freeze").strip() == "1"
        events = dict(line.split(" ", 1) for line in _read(directory / "cgroup.events").splitlines() if " " in line)
        if not wanted:
            return "THAWED"
        return "FROZEN" if events.get("frozen", "0").strip() == "1" else "FREEZING"

    def freeze(self, timeout: float = 5.0) -> None:
        """Stop every process of the group and wait until the kernel says they are frozen."""
        self._set_frozen(True, timeout)

    def thaw(self, timeout: float = 5.0) -> None:
        self._set_frozen(False, timeout)

    def _set_frozen(self, frozen: bool, timeout: float) -> None:
        directory = self._dir("freezer")
        if self.layout.version("freezer") == 1:
            _write(directory / "freezer.state", "FROZEN" if frozen else "THAWED")
        else:
            _write(directory / "cgroup.freeze", "1" if frozen else "0")
        wanted = "FROZEN" if frozen else "THAWED"
        deadline = time.monotonic() + timeout
        while (state := self.freezer_state()) != wanted:
            if time.monotonic() >= deadline:
                raise OperationTimeoutError(f"cgroup '{directory}' is still {state} after {timeout:g} seconds",
                                            domain=ErrorDomain.CGROUP)
            if frozen and self.layout.version("freezer") == 1:
                _write(directory / "freezer.state", "FROZEN")  # v1 may need the request repeated
            time.sleep(0.002)


def _subdirs(directory: Path) -> Iterator[Path]:
    """``directory`` and every directory below it."""
    if not directory.is_dir():
        return
    yield directory
    for root, dirs, _ in os.walk(directory):
        for d in dirs:
            yield Path(root) / d


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as err:
        raise _error(f"Unable to read from '{path}'", err) from None


def _write(path: Path, value: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    except OSError as err:
        raise _error(f"Unable to write to '{path}'", err) from None
    try:
        os.write(fd, value.encode())
    except OSError as err:
        raise _error(f"Unable to write to '{path}'", err) from None
    finally:
        os.close(fd)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def groups_of(layout: Layout, partition: str = "machine", driver: str | None = None) -> Iterable[str]:
    """Names of the guest groups found in a partition (``<name>.libvirt-<driver>``), for cleanup and listing."""
    names: set[str] = set()
    for h in layout.hierarchies:
        base = h.path(f"{h.placement}/{partition}")
        if not base.is_dir():
            continue
        for entry in base.iterdir():
            stem, dot, kind = entry.name.rpartition(".libvirt-")
            if entry.is_dir() and dot and (driver is None or kind == driver):
                names.add(stem)
    return sorted(names)
