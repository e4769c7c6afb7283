"""What the running driver knows about its guests: directories, domain objects and their files on disk.

Three kinds of files keep a host's guests across driver restarts, each replaced atomically:

- ``<config_dir>/NAME.xml``: the persistent definition (after the driver's defaults), and
  ``<config_dir>/autostart/NAME.xml``, a symlink to it, for guests started with the host;
- ``<state_dir>/NAME.xml``: the status of a running guest, a ``<domstatus>`` holding its state and
  reason, QEMU's pid and start time, the driver's runtime facts (monitor socket, cgroup, private
  directory, ...) and the live definition with the driver's private annotations (device aliases);
- ``<lib_dir>/save/NAME.save``: a managed save image.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from virt.core.enums import (
    DomainBlockedReason,
    DomainCrashedReason,
    DomainNostateReason,
    DomainPausedReason,
    DomainPMSuspendedReason,
    DomainRunningReason,
    DomainShutdownReason,
    DomainShutoffReason,
)
from virt.core.enums import DomainState as S
from virt.core.store import StoredObject
from virt.core.types import DomainRef
from virt.core.uri import URI
from virt.util.errors import ErrorDomain, NoConnectError, SystemError_

E = etree._Element

#: Each state's reasons, for naming them in status files (libvirt writes names, not numbers).
REASONS: dict[int, Any] = {
    S.NOSTATE: DomainNostateReason, S.RUNNING: DomainRunningReason, S.BLOCKED: DomainBlockedReason,
    S.PAUSED: DomainPausedReason, S.SHUTDOWN: DomainShutdownReason, S.SHUTOFF: DomainShutoffReason,
    S.CRASHED: DomainCrashedReason, S.PMSUSPENDED: DomainPMSuspendedReason,
}


def state_name(state: int) -> str:
    return S(state).name.lower()


def reason_name(state: int, reason: int) -> str:
    try:
        return str(REASONS[state](reason).name.lower().replace("_", "-"))
    except (KeyError, ValueError):
        return "unknown"


def parse_state(name: str | None, reason: str | None) -> tuple[int, int]:
    try:
        state = S[(name or "nostate").upper()]
    except KeyError:
        return S.NOSTATE, 0
    try:
        value = REASONS[state][(reason or "unknown").upper().replace("-", "_")]
    except KeyError:
        value = 0
    return int(state), int(value)


# ----------------------------------------------------------------------------------------- directories
@dataclass(frozen=True)
class Settings:
    """Where one driver instance keeps things: qemu:///system, qemu:///session or an embed root."""

    mode: str
    config_dir: Path
    state_dir: Path
    lib_dir: Path
    cache_dir: Path
    log_dir: Path
    #: qemu.conf of this instance (read if it exists).
    qemu_conf: Path
    #: Names the guests' cgroups: "<name>.libvirt-<cgroup_driver>" (embed roots get their own).
    cgroup_driver: str = "qemu"
    privileged: bool = True

    @classmethod
    def for_uri(cls, uri: URI) -> Settings:
        path = (uri.path or "").rstrip("/") or "/"
        if path not in ("/system", "/session", "/embed"):
            raise NoConnectError(str(uri), domain=ErrorDomain.QEMU,
                                 message=f"unexpected QEMU URI path '{path}', try qemu:///system")
        if path == "/embed":
            root = uri.params.get("root")
            if not root:
                raise NoConnectError(str(uri), domain=ErrorDomain.QEMU,
                                     message="root parameter is required for embedded driver connection")
            if not os.path.isabs(root):
                raise NoConnectError(str(uri), domain=ErrorDomain.QEMU,
                                     message=f"root path must be absolute: '{root}'")
            base = Path(root)
            tag = "qemu-embed-" + hashlib.sha256(str(base).encode()).hexdigest()[:8]
            return cls("embed", base / "etc" / "qemu", base / "run" / "qemu", base / "lib" / "qemu",
                       base / "cache" / "qemu", base / "log" / "qemu", base / "etc" / "qemu.conf", tag,
                       os.geteuid() == 0)
        if path == "/session" or os.geteuid() != 0:
            if path == "/system":
                raise NoConnectError(str(uri), domain=ErrorDomain.QEMU,
                                     message="qemu:///system needs root privileges, try qemu:///session")
            home = Path.home()
            config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "virt"
            cache = Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "virt"
            runtime = os.environ.get("XDG_RUNTIME_DIR")
            run = Path(runtime) / "virt" / "qemu" / "run" if runtime else cache / "qemu" / "run"
            return cls("session", config / "qemu", run, config / "qemu" / "lib", cache / "qemu",
                       cache / "qemu" / "log", config / "qemu.conf", f"qemu-session-{os.geteuid()}",
                       os.geteuid() == 0)
        return cls("system", Path("/etc/virt/qemu"), Path("/run/virt/qemu"), Path("/var/lib/virt/qemu"),
                   Path("/var/cache/virt/qemu"), Path("/var/log/virt/qemu"), Path("/etc/virt/qemu.conf"))

    @property
    def autostart_dir(self) -> Path:
        return self.config_dir / "autostart"

    @property
    def save_dir(self) -> Path:
        return self.lib_dir / "save"

    @property
    def snapshot_dir(self) -> Path:
        return self.lib_dir / "snapshot"

    def config_file(self, name: str) -> Path:
        return self.config_dir / f"{name}.xml"

    def autostart_link(self, name: str) -> Path:
        return self.autostart_dir / f"{name}.xml"

    def status_file(self, name: str) -> Path:
        return self.state_dir / f"{name}.xml"

    def stopped_file(self, name: str) -> Path:
        return self.state_dir / f"{name}.stopped"

    def log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def managed_save_file(self, name: str) -> Path:
        return self.save_dir / f"{name}.save"


# ----------------------------------------------------------------------------------------- domains
@dataclass(eq=False)
class DomainObj(StoredObject[E]):
    """One guest. ``config`` is its persistent definition (None for a transient guest), ``live`` the
    definition it runs with (None while shut off); both are XML trees."""

    state: int = S.SHUTOFF
    reason: int = DomainShutoffReason.UNKNOWN
    id: int = -1
    pid: int = 0
    #: Facts about the running guest that survive a driver restart (status file).
    runtime: dict[str, Any] = field(default_factory=dict)
    #: Not saved: the monitor connection and, when this process started QEMU, its Popen.
    mon: Any = None
    proc: Any = None
    #: Serialises operations that change the guest (libvirt's domain job).
    job: threading.RLock = field(default_factory=threading.RLock)
    #: Bumped at each start so a late event of a previous run is recognised and dropped.
    generation: int = 0
    being_destroyed: bool = False
    got_shutdown: bool = False
    fake_reboot: bool = False
    #: Why the guest paused when it next stops (a save, a dump, an I/O error...).
    paused_reason: int = DomainPausedReason.UNKNOWN
    #: Aliases of devices whose removal an API call is waiting for (it finishes them itself).
    unplugging: set[str] = field(default_factory=set)
    #: Callbacks waiting for QMP events: (predicate(name, data) -> done?, event to set).
    waiters: list[tuple[Callable[[str, dict[str, Any]], bool], threading.Event]] = field(default_factory=list)

    def ref(self) -> DomainRef:
        return DomainRef(self.name, self.uuid, self.id if self.active else -1)

    def set_state(self, state: int, reason: int) -> None:
        self.state, self.reason = int(state), int(reason)

    # -- event waiting ------------------------------------------------------------------------
    def expect(self, predicate: Callable[[str, dict[str, Any]], bool]) -> threading.Event:
        """Register interest in a QMP event before issuing the command that causes it."""
        done = threading.Event()
        self.waiters.append((predicate, done))
        return done

    def forget(self, done: threading.Event) -> None:
        self.waiters = [w for w in self.waiters if w[1] is not done]

    def notify(self, name: str, data: dict[str, Any]) -> None:
        for predicate, done in list(self.waiters):
            try:
                hit = predicate(name, data)
            except Exception:  # a broken predicate must not stop event processing
                hit = False
            if hit:
                done.set()

    def wake_all(self) -> None:
        """The monitor is gone: nobody will see the events they wait for."""
        for _, done in list(self.waiters):
            done.set()


# ----------------------------------------------------------------------------------------- files
def replace_file(path: Path, data: str | bytes, mode: int = 0o600) -> None:
    """Replace ``path`` atomically (readers see the old or the new content) without syncing it to disk.

    For files that mean nothing after the host restarts (a running guest's status, its master key):
    syncing them would only slow starts down, as the run directory is usually a tmpfs anyway.
    """
    payload = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.new")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise SystemError_.from_errno(err, f"cannot write file '{path}'") from None


def tostring(el: E) -> str:
    return etree.tostring(el, encoding="unicode")


def write_status(settings: Settings, obj: DomainObj) -> None:
    """Save a running guest's status (state, pid, runtime facts, live definition)."""
    assert obj.live is not None
    root = etree.Element("domstatus", state=state_name(obj.state), reason=reason_name(obj.state, obj.reason),
                         pid=str(obj.pid), id=str(obj.id))
    runtime = etree.SubElement(root, "runtime")
    runtime.text = json.dumps(obj.runtime, sort_keys=True)
    root.append(_copy(obj.live))
    replace_file(settings.status_file(obj.name), etree.tostring(root, encoding="unicode"), mode=0o600)


def read_status(path: Path) -> tuple[E, dict[str, Any], int, int, int, int]:
    """(live definition, runtime, pid, id, state, reason) from a status file."""
    parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
    root = etree.fromstring(path.read_bytes(), parser)
    live = root.find("domain")
    if root.tag != "domstatus" or live is None:
        raise ValueError(f"{path} is not a domain status file")
    runtime = json.loads(root.findtext("runtime") or "{}")
    state, reason = parse_state(root.get("state"), root.get("reason"))
    return live, runtime, int(root.get("pid", "0")), int(root.get("id", "-1")), state, reason


def _copy(el: E) -> E:
    from copy import deepcopy

    return deepcopy(el)


def process_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (clock ticks since boot): tells a process from a later one with its pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def process_cpu_time(pid: int) -> int:
    """User plus system CPU time of a process (all its threads), in nanoseconds."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat[stat.rfind(")") + 2:].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def thread_cpu_time(pid: int, tid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
    except OSError:
        return 0
    fields = stat[stat.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def thread_last_cpu(pid: int, tid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
    except OSError:
        return -1
    fields = stat[stat.rfind(")") + 2:].split()
    try:
        return int(fields[36])
    except (IndexError, ValueError):
        return -1
