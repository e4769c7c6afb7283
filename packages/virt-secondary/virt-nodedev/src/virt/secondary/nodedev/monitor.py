"""Watching the host's devices: kernel uevents (or polling) turned into node device events.

The kernel announces every device added, removed or changed on a NETLINK_KOBJECT_UEVENT socket (what
udev listens to). A uevent of a subsystem the driver lists triggers a rescan of sysfs, and the
difference with the previous scan becomes libvirt's events: a new device is CREATED, a vanished one
DELETED, one whose XML changed gets an UPDATE. Scanning rather than trusting the uevent's fields
keeps names and parents exactly those the driver lists. Where the socket cannot be opened (no
netlink, a sysfs tree of the tests' own), sysfs is polled instead.

One monitor per sysfs root and process, started by the first event registration and shared by every
connection's event bus.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
from dataclasses import dataclass, field

from virt.core.enums import NodeDeviceEventID
from virt.core.events import EventBus
from virt.core.types import NodeDeviceRef
from virt.secondary.nodedev.sysfs import enumerate_devices

log = logging.getLogger(__name__)

NETLINK_KOBJECT_UEVENT = 15
#: The multicast group the kernel sends uevents to (udevd re-sends on group 2).
KERNEL_GROUP = 1
# virNodeDeviceEventLifecycleType
CREATED, DELETED, DEFINED, UNDEFINED = 0, 1, 2, 3
#: Subsystems whose uevents can change what the driver lists.
WATCHED = frozenset({"pci", "usb", "net", "block", "scsi", "scsi_host", "mdev", "mdev_bus", "vfio_mdev",
                     "drm", "ccw", "css", "ap", "vdpa"})
#: Seconds between scans: without uevents, and as a safety net with them (a missed uevent).
POLL_INTERVAL = float(os.environ.get("VIRT_NODEDEV_POLL_INTERVAL") or 5.0)
SAFETY_INTERVAL = 60.0
#: Uevents come in bursts (a device and its queues, partitions...): one scan after the burst.
SETTLE = 0.1


def open_uevent_socket() -> socket.socket | None:
    """A socket receiving the kernel's uevents, or None where that is not possible."""
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_KOBJECT_UEVENT)
    except (OSError, AttributeError) as exc:
        log.info("no uevent socket (%s): node devices are polled", exc)
        return None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind((0, KERNEL_GROUP))
    except OSError as exc:
        sock.close()
        log.info("cannot listen to uevents (%s): node devices are polled", exc)
        return None
    return sock


def parse_uevent(data: bytes) -> dict[str, str]:
    """A kernel uevent ("ACTION@DEVPATH\\0KEY=VALUE\\0..."), as a dict of its keys."""
    fields: dict[str, str] = {}
    for part in data.split(b"\0")[1:]:
        key, sep, value = part.partition(b"=")
        if sep:
            fields[key.decode(errors="replace")] = value.decode(errors="replace")
    return fields


@dataclass(eq=False)
class DeviceMonitor:
    """The devices under ``sysfs`` as last seen, and the buses their changes go to."""

    sysfs: str
    buses: list[EventBus] = field(default_factory=list)
    seen: dict[str, str] = field(default_factory=dict)
    uevents: bool = False
    _idle: float = 0.0
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, bus: EventBus) -> None:
        with self._lock:
            if bus not in self.buses:
                self.buses.append(bus)
            if self._thread is None:
                self.seen = self._scan()
                sock = open_uevent_socket() if os.path.realpath(self.sysfs) == "/sys" else None
                self.uevents = sock is not None
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, args=(sock,), name="virt-nodedev-monitor",
                                                daemon=True)
                self._thread.start()

    def remove(self, bus: EventBus) -> None:
        with self._lock:
            if bus in self.buses:
                self.buses.remove(bus)
            thread = self._thread if not self.buses else None
            if thread is not None:
                self._stop.set()
                self._thread = None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _scan(self) -> dict[str, str]:
        return {dev.name: dev.to_xml() for dev in enumerate_devices(self.sysfs)}

    def _run(self, sock: socket.socket | None) -> None:
        try:
            while not self._stop.is_set():
                if sock is None:
                    if self._stop.wait(POLL_INTERVAL):
                        break
                elif not self._wait_uevents(sock):
                    continue
                self.rescan()
        finally:
            if sock is not None:
                sock.close()

    def _wait_uevents(self, sock: socket.socket) -> bool:
        """Whether a uevent of a watched subsystem came (or the safety interval passed)."""
        ready, _, _ = select.select([sock], [], [], 1.0)  # a second at most: the stop flag is checked
        if not ready:
            self._idle += 1.0
            if self._idle >= SAFETY_INTERVAL:
                self._idle = 0.0
                return True
            return False
        relevant = False
        while ready:  # drain the burst, then scan once
            try:
                fields = parse_uevent(sock.recv(1 << 16))
            except OSError:  # ENOBUFS: uevents were lost, a scan finds what they said
                relevant = True
                fields = {}
            relevant = relevant or fields.get("SUBSYSTEM") in WATCHED
            ready, _, _ = select.select([sock], [], [], SETTLE)
        return relevant

    def rescan(self) -> None:
        """Scan sysfs and emit what changed since the last scan."""
        try:
            now = self._scan()
        except OSError as exc:  # a device vanishing mid-scan: the next scan sees the rest
            log.debug("node device scan failed: %s", exc)
            return
        before, self.seen = self.seen, now
        events: list[tuple[int, NodeDeviceRef, tuple[int, ...]]] = []
        for name in before.keys() - now.keys():
            events.append((NodeDeviceEventID.LIFECYCLE, NodeDeviceRef(name), (DELETED, 0)))
        for name in sorted(now.keys() - before.keys()):
            events.append((NodeDeviceEventID.LIFECYCLE, NodeDeviceRef(name), (CREATED, 0)))
        for name in sorted(now.keys() & before.keys()):
            if now[name] != before[name]:
                events.append((NodeDeviceEventID.UPDATE, NodeDeviceRef(name), ()))
        with self._lock:
            buses = list(self.buses)
        for event_id, ref, payload in events:
            for bus in buses:
                bus.emit("node_device", event_id, ref, *payload)


_monitors_lock = threading.Lock()
_monitors: dict[str, DeviceMonitor] = {}


def monitor_for(sysfs: str) -> DeviceMonitor:
    with _monitors_lock:
        mon = _monitors.get(sysfs)
        if mon is None:
            mon = _monitors[sysfs] = DeviceMonitor(sysfs)
        return mon
