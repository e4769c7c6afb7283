"""Quality of service (<bandwidth>) with tc, in the layout libvirt builds.

Units are libvirt's: average, peak and floor in KiB/s, burst in KiB (tc spells them "kbps" and "kb").
The layout, per device:

- ``in`` limits (into the guest, or into a network's bridge): an htb root qdisc ``1:`` with class
  ``1:1`` (rate average, ceil peak, burst, quantum), an sfq leaf ``2:`` and a catch-all fw filter.
  A network's bridge is *hierarchical*: ``1:1`` caps the whole network, ``1:2`` (the htb default)
  takes unclassified traffic and shrinks by every guaranteed floor, and each port with a floor gets
  class ``1:ID`` (ID >= 3), an sfq ``ID:`` and a u32 filter (prio 2, handle ``800::ID``) on its MAC.
- ``out`` limits (out of the guest): an ingress qdisc and a u32 match-all filter that polices
  (rate average, burst, mtu 64kb, drop).

Devices where the guest sits on the other side of the device (a tap, a bridge) take ``in`` on their
egress (``swapped``). Every command is built as data first (``*_commands``); ``Tc`` runs them.

Kernels without some tc modules: a missing sfq leaves htb's default leaf; a missing fw classifier
drops the (catch-all) fw filter; a missing police action is replaced by redirecting the ingress
traffic (mirred) to an ifb device shaped with htb at the same rate: the limit holds, as shaping
instead of dropping. What was replaced is logged and recorded (``Tc.degraded``).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from virt.secondary.network.host import COMMAND_TIMEOUT, Host
from virt.util.errors import ErrorDomain, ErrorNumber, VirtError
from virt.util.process import find_binary, run

log = logging.getLogger(__name__)

#: htb's advised quantum is one MTU; libvirt derives it from the rate with this MTU.
QUANTUM_MTU = 1500
#: tc keeps a burst in bytes in 32 bits: the largest default burst, in KiB.
MAX_BURST_KIB = (2**32 - 1) // 1024
#: The first class a port with a floor can get (1:1 and 1:2 are the network's own).
FIRST_PORT_CLASS = 3

Command = list[str]


@dataclass(frozen=True)
class Rate:
    """One direction of a <bandwidth>: KiB/s for average/peak/floor, KiB for burst (0: unset)."""

    average: int = 0
    peak: int = 0
    burst: int = 0
    floor: int = 0

    @classmethod
    def of(cls, model: Any) -> Rate | None:
        if model is None:
            return None
        return cls(*(int(getattr(model, name) or 0) for name in ("average", "peak", "burst", "floor")))


@dataclass(frozen=True)
class Limits:
    """A <bandwidth> element reduced to what tc needs."""

    inbound: Rate | None = None
    outbound: Rate | None = None

    @classmethod
    def of(cls, bandwidth: Any) -> Limits | None:
        if bandwidth is None:
            return None
        limits = cls(Rate.of(bandwidth.inbound), Rate.of(bandwidth.outbound))
        return limits if limits.inbound or limits.outbound else None


def quantum(rate: Rate) -> str:
    """htb's quantum for a class of ``rate`` (bytes per round; at least 1)."""
    return str(max(rate.average * 1024 // 8 // QUANTUM_MTU, 1))


def kbps(value: int) -> str:
    return f"{value}kbps"


def clear_commands(dev: str) -> list[Command]:
    return [["qdisc", "del", "dev", dev, "root"], ["qdisc", "del", "dev", dev, "ingress"]]


def set_commands(dev: str, limits: Limits | None, *, hierarchical: bool = False,
                 swapped: bool = True) -> list[Command]:
    """Everything virNetDevBandwidthSet runs, in order: clear, then egress shaping, then ingress
    policing. ``swapped``: ``in`` goes on the device's egress (taps and bridges)."""
    if limits is None:
        return []
    egress, ingress = (limits.inbound, limits.outbound) if swapped else (limits.outbound, limits.inbound)
    cmds = clear_commands(dev)
    if egress is not None and egress.average:
        avg, peak = kbps(egress.average), kbps(egress.peak) if egress.peak else None
        cmds.append(["qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default",
                     "2" if hierarchical else "1"])
        if hierarchical:
            cmds.append(["class", "add", "dev", dev, "parent", "1:", "classid", "1:1", "htb", "rate", avg,
                         "ceil", peak or avg, "quantum", quantum(egress)])
        leaf = "1:2" if hierarchical else "1:1"
        cls = ["class", "add", "dev", dev, "parent", "1:1" if hierarchical else "1:", "classid", leaf, "htb",
               "rate", avg]
        if peak:
            cls += ["ceil", peak]
        if egress.burst:
            cls += ["burst", f"{egress.burst}kb"]
        cmds.append([*cls, "quantum", quantum(egress)])
        cmds.append(["qdisc", "add", "dev", dev, "parent", leaf, "handle", "2:", "sfq", "perturb", "10"])
        cmds.append(["filter", "add", "dev", dev, "parent", "1:0", "protocol", "all", "prio", "1", "handle", "1",
                     "fw", "flowid", "1"])
    if ingress is not None and ingress.average:
        burst = ingress.burst or min(ingress.average, MAX_BURST_KIB)
        cmds.append(["qdisc", "add", "dev", dev, "ingress"])
        cmds.append(["filter", "add", "dev", dev, "parent", "ffff:", "protocol", "all", "u32", "match", "u32", "0",
                     "0", "police", "rate", kbps(ingress.average), "burst", f"{burst}kb", "mtu", "64kb", "drop",
                     "flowid", ":1"])
    return cmds


def _mac_words(mac: str) -> tuple[str, str]:
    raw = bytes(int(part, 16) for part in mac.split(":"))
    return f"0x{raw[2:6].hex()}", f"0x{raw[0:2].hex()}"


def filter_commands(bridge: str, mac: str | None, class_id: int, *, remove_old: bool,
                    create_new: bool) -> list[Command]:
    """The u32 filter that puts traffic to ``mac`` into class 1:ID (u32 handles need "800::")."""
    handle = f"800::{class_id}"
    cmds = []
    if remove_old:
        cmds.append(["filter", "del", "dev", bridge, "prio", "2", "handle", handle, "u32"])
    if create_new and mac:
        low, high = _mac_words(mac)
        cmds.append(["filter", "add", "dev", bridge, "protocol", "ip", "prio", "2", "handle", handle, "u32",
                     "match", "u16", "0x0800", "0xffff", "at", "-2",
                     "match", "u32", low, "0xffffffff", "at", "-12",
                     "match", "u16", high, "0xffff", "at", "-14",
                     "flowid", f"1:{class_id:x}"])
    return cmds


def _ceil(network: Rate) -> str:
    return kbps(network.peak or network.average)


def plug_commands(bridge: str, network: Rate, mac: str, port: Rate, class_id: int) -> list[Command]:
    """A port's guaranteed share (its inbound floor) on the network's bridge."""
    cid = f"1:{class_id:x}"
    return [["class", "add", "dev", bridge, "parent", "1:1", "classid", cid, "htb", "rate", kbps(port.floor),
             "ceil", _ceil(network), "quantum", quantum(port)],
            ["qdisc", "add", "dev", bridge, "parent", cid, "handle", f"{class_id:x}:", "sfq", "perturb", "10"],
            *filter_commands(bridge, mac, class_id, remove_old=False, create_new=True)]


def unplug_commands(bridge: str, class_id: int) -> list[Command]:
    return [["qdisc", "del", "dev", bridge, "handle", f"{class_id:x}:"],
            *filter_commands(bridge, None, class_id, remove_old=True, create_new=False),
            ["class", "del", "dev", bridge, "classid", f"1:{class_id:x}"]]


def update_rate_command(dev: str, class_id: int, network: Rate, new_rate: int) -> Command:
    return ["class", "change", "dev", dev, "classid", f"1:{class_id:x}", "htb", "rate", kbps(new_rate),
            "ceil", _ceil(network), "quantum", quantum(network)]


def floor_class_rate(network: Rate, floor_sum: int) -> int:
    """What is left for unclassified traffic (class 1:2) once the floors are guaranteed."""
    return max(network.average - floor_sum, 1)


def ifb_name(dev: str) -> str:
    """The ifb device standing in for ingress policing on ``dev`` (stable, so cleanup needs no record)."""
    return f"vifb{zlib.crc32(dev.encode()):08x}"


# -- running them ---------------------------------------------------------------------------------

#: What tc prints when the kernel lacks a piece, by the piece.
_MISSING = {"sfq": "qdisc kind is unknown", "fw": "classifier not found", "police": "action module"}


def bandwidth_error(message: str, code: ErrorNumber = ErrorNumber.OPERATION_FAILED) -> VirtError:
    return VirtError(message, code=code, domain=ErrorDomain.NETWORK)


@dataclass
class Tc:
    """Runs tc commands on ``host``; ``degraded`` lists what the kernel could not do and what stood in."""

    host: Host
    degraded: list[str] = field(default_factory=list)

    def _run(self, cmd: Sequence[str], *, check: bool = True) -> tuple[int, str]:
        argv = self.host.argv([find_binary("tc", "iproute2"), *cmd])
        result = run(argv, timeout=COMMAND_TIMEOUT, check=False)
        if result.returncode and check:
            return result.returncode, result.stderr.strip()
        return result.returncode, ""

    def _fail(self, cmd: Sequence[str], err: str) -> VirtError:
        return bandwidth_error(f"Child process (tc {' '.join(cmd)}) unexpected exit status 2: {err}",
                               ErrorNumber.INTERNAL_ERROR)

    def apply(self, cmds: Sequence[Command]) -> None:
        """Run ``cmds`` in order; deletions may fail (nothing to delete), additions must not."""
        for cmd in cmds:
            deleting = cmd[1] == "del"
            rc, err = self._run(cmd, check=not deleting)
            if not rc or deleting:
                continue
            if "sfq" in cmd and _MISSING["sfq"] in err:
                self._note(f"no sfq qdisc in this kernel: class {cmd[cmd.index('parent') + 1]} keeps htb's "
                           "default leaf")
            elif "fw" in cmd and _MISSING["fw"] in err:
                self._note("no fw classifier in this kernel: the catch-all fw filter is left out")
            elif "police" in cmd and _MISSING["police"] in err:
                self._police_by_ifb(cmd)
            else:
                raise self._fail(cmd, err)

    def _note(self, what: str) -> None:
        if what not in self.degraded:
            self.degraded.append(what)
            log.warning("bandwidth: %s", what)

    def _police_by_ifb(self, cmd: Command) -> None:
        """No police action: redirect the device's ingress to an ifb device and shape it there."""
        dev = cmd[cmd.index("dev") + 1]
        rate, burst = cmd[cmd.index("rate") + 1], cmd[cmd.index("burst") + 1]
        ifb = ifb_name(dev)
        self._note(f"no police action in this kernel: ingress of {dev} is shaped on {ifb} instead")
        self.host.link_delete(ifb)
        self.host.ip("link", "add", ifb, "type", "ifb")
        self.host.ip("link", "set", "dev", ifb, "up")
        average = int(rate.removesuffix("kbps"))
        for step in (["qdisc", "add", "dev", ifb, "root", "handle", "1:", "htb", "default", "1"],
                     ["class", "add", "dev", ifb, "parent", "1:", "classid", "1:1", "htb", "rate", rate,
                      "burst", burst, "quantum", quantum(Rate(average))],
                     ["filter", "add", "dev", dev, "parent", "ffff:", "protocol", "all", "u32", "match", "u32",
                      "0", "0", "action", "mirred", "egress", "redirect", "dev", ifb]):
            rc, err = self._run(step)
            if rc:
                raise self._fail(step, err)

    # -- the operations libvirt has -----------------------------------------------------------------
    def set(self, dev: str, limits: Limits | None, *, hierarchical: bool = False, swapped: bool = True) -> None:
        if limits is None:
            return
        self.host.link_delete(ifb_name(dev))
        self.apply(set_commands(dev, limits, hierarchical=hierarchical, swapped=swapped))

    def clear(self, dev: str) -> None:
        self.apply(clear_commands(dev))
        self.host.link_delete(ifb_name(dev))

    def plug(self, bridge: str, network: Rate, mac: str, port: Rate, class_id: int) -> None:
        if class_id < FIRST_PORT_CLASS:
            raise bandwidth_error(f"Invalid class ID {class_id}", ErrorNumber.INTERNAL_ERROR)
        self.apply(plug_commands(bridge, network, mac, port, class_id))

    def unplug(self, bridge: str, class_id: int) -> None:
        self.apply(unplug_commands(bridge, class_id))

    def update_rate(self, dev: str, class_id: int, network: Rate, new_rate: int) -> None:
        self.apply([update_rate_command(dev, class_id, network, new_rate)])

    def change_floor(self, bridge: str, network: Rate, port: Rate, class_id: int) -> None:
        """A port's new floor: its class's rate (what virNetworkPortSetParameters changes)."""
        self.apply([["class", "change", "dev", bridge, "classid", f"1:{class_id:x}", "htb", "rate",
                     kbps(port.floor), "ceil", _ceil(network), "quantum", quantum(port)]])
