"""Quality of service (<bandwidth>) on one network device with tc, in the layout libvirt builds.

Units are libvirt's: average, peak and floor in KiB/s, burst in KiB (tc spells them "kbps" and "kb").
The layout, per device:

- ``in`` limits (into the guest, or into a network's bridge): an htb root qdisc ``1:`` with class
  ``1:1`` (rate average, ceil peak, burst, quantum), an sfq leaf ``2:`` and a catch-all fw filter.
  A *hierarchical* device (a network's bridge) gets ``1:1`` capping everything and ``1:2`` (the htb
  default) for unclassified traffic; the network driver adds its per-port classes below ``1:1``.
- ``out`` limits (out of the guest): an ingress qdisc and a u32 match-all filter that polices
  (rate average, burst, mtu 64kb, drop).

Devices where the guest sits on the other side of the device (a tap, a bridge, a container's host
veth) take ``in`` on their egress (``swapped``). Every command is built as data first
(``*_commands``); ``Tc`` runs them, optionally inside a network namespace.

Kernels without some tc modules: a missing sfq leaves htb's default leaf; a missing fw classifier
drops the (catch-all) fw filter; a missing police action is replaced by redirecting the ingress
traffic (mirred) to an ifb device shaped with htb at the same rate: the limit holds, as shaping
instead of dropping. What was replaced is logged and recorded (``Tc.degraded``).
"""

from __future__ import annotations

import json
import logging
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from virt.util.errors import ErrorDomain, ErrorNumber, VirtError
from virt.util.process import find_binary, run

log = logging.getLogger(__name__)

#: Seconds a tc or ip command may take; they answer in milliseconds on a healthy host.
COMMAND_TIMEOUT = 30.0
#: htb's advised quantum is one MTU; libvirt derives it from the rate with this MTU.
QUANTUM_MTU = 1500
#: tc keeps a burst in bytes in 32 bits: the largest default burst, in KiB.
MAX_BURST_KIB = (2**32 - 1) // 1024
#: The fields of one direction, in libvirt's order (also the typed parameter suffixes).
RATE_FIELDS = ("average", "peak", "burst", "floor")

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
        """From an object with average/peak/burst/floor attributes (None: no such direction)."""
        if model is None:
            return None
        return cls(*(int(getattr(model, name, 0) or 0) for name in RATE_FIELDS))

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, str] | None) -> Rate | None:
        """From an element's attributes (``<inbound average='1000' .../>``; None: no element)."""
        if attrs is None:
            return None
        return cls(*(int(attrs.get(name) or 0) for name in RATE_FIELDS))

    def attrs(self) -> dict[str, str]:
        """The attributes of its element: only those set."""
        return {name: str(getattr(self, name)) for name in RATE_FIELDS if getattr(self, name)}


@dataclass(frozen=True)
class Limits:
    """A <bandwidth> element reduced to what tc needs."""

    inbound: Rate | None = None
    outbound: Rate | None = None

    @classmethod
    def of(cls, bandwidth: Any) -> Limits | None:
        if bandwidth is None:
            return None
        limits = cls(Rate.of(getattr(bandwidth, "inbound", None)), Rate.of(getattr(bandwidth, "outbound", None)))
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
    policing. ``swapped``: ``in`` goes on the device's egress (taps, bridges, host veths)."""
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


def ifb_name(dev: str) -> str:
    """The ifb device standing in for ingress policing on ``dev`` (stable, so cleanup needs no record)."""
    return f"vifb{zlib.crc32(dev.encode()):08x}"


#: tc's rate units when it prints them (decimal, as its "kbps" is 1000 bytes/s).
_BIT_UNITS = {"bit": 1, "Kbit": 1000, "Mbit": 1000**2, "Gbit": 1000**3}
_HTB_CLASS = re.compile(r"class htb (\S+) .*?rate (\d+)(\w*bit) ceil (\d+)(\w*bit)")

#: What tc prints when the kernel lacks a piece, by the piece.
_MISSING = {"sfq": "qdisc kind is unknown", "fw": "classifier not found", "police": "action module"}


@dataclass
class Tc:
    """Runs tc commands (in network namespace ``netns`` when given); errors are reported in ``domain``.
    ``degraded`` lists what the kernel could not do and what stood in for it."""

    netns: str | None = None
    domain: ErrorDomain = ErrorDomain.NONE
    degraded: list[str] = field(default_factory=list)

    # -- running commands --------------------------------------------------------------------------
    def argv(self, argv: Sequence[str]) -> list[str]:
        if self.netns:
            return [find_binary("ip", "iproute2"), "netns", "exec", self.netns, *argv]
        return list(argv)

    def _run(self, cmd: Sequence[str], *, check: bool = True) -> tuple[int, str]:
        result = run(self.argv([find_binary("tc", "iproute2"), *cmd]), timeout=COMMAND_TIMEOUT, check=False)
        if result.returncode and check:
            return result.returncode, result.stderr.strip()
        return result.returncode, ""

    def _ip(self, *args: str, check: bool = True) -> str:
        result = run(self.argv([find_binary("ip", "iproute2"), *args]), timeout=COMMAND_TIMEOUT, check=False)
        if result.returncode and check:
            raise self.error(f"Child process (ip {' '.join(args)}) unexpected exit status {result.returncode}: "
                             f"{result.stderr.strip()}", ErrorNumber.INTERNAL_ERROR)
        return result.stdout

    def error(self, message: str, code: ErrorNumber = ErrorNumber.OPERATION_FAILED) -> VirtError:
        return VirtError(message, code=code, domain=self.domain)

    def _fail(self, cmd: Sequence[str], rc: int, err: str) -> VirtError:
        return self.error(f"Child process (tc {' '.join(cmd)}) unexpected exit status {rc}: {err}",
                          ErrorNumber.INTERNAL_ERROR)

    def link_exists(self, dev: str) -> bool:
        if not dev or "/" in dev or len(dev) > 15:
            return False
        return bool(self._ip("-j", "link", "show", "dev", dev, check=False).strip().strip("[]"))

    def link_delete(self, dev: str) -> None:
        if self.link_exists(dev):
            self._ip("link", "del", "dev", dev, check=False)

    def show(self, what: str, dev: str) -> list[dict[str, Any]]:
        """``tc -j WHAT show dev DEV`` (qdisc, class, filter) parsed; [] when the device has none."""
        result = run(self.argv([find_binary("tc", "iproute2"), "-j", what, "show", "dev", dev]),
                     timeout=COMMAND_TIMEOUT, check=False)
        try:
            data = json.loads(result.stdout) if result.returncode == 0 and result.stdout.strip() else []
        except json.JSONDecodeError:
            return []
        return data if isinstance(data, list) else []

    def htb_classes(self, dev: str) -> dict[str, dict[str, int]]:
        """{classid: {"rate": bits/s, "ceil": bits/s}} of ``dev``'s htb classes (iproute2 prints
        htb classes only as text, even with -j)."""
        result = run(self.argv([find_binary("tc", "iproute2"), "class", "show", "dev", dev]),
                     timeout=COMMAND_TIMEOUT, check=False)
        classes = {}
        for line in result.stdout.splitlines() if result.returncode == 0 else []:
            m = _HTB_CLASS.match(line)
            if m:
                classes[m.group(1)] = {"rate": int(m.group(2)) * _BIT_UNITS[m.group(3)],
                                       "ceil": int(m.group(4)) * _BIT_UNITS[m.group(5)]}
        return classes

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
                raise self._fail(cmd, rc, err)

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
        self.link_delete(ifb)
        self._ip("link", "add", ifb, "type", "ifb")
        self._ip("link", "set", "dev", ifb, "up")
        average = int(rate.removesuffix("kbps"))
        for step in (["qdisc", "add", "dev", ifb, "root", "handle", "1:", "htb", "default", "1"],
                     ["class", "add", "dev", ifb, "parent", "1:", "classid", "1:1", "htb", "rate", rate,
                      "burst", burst, "quantum", quantum(Rate(average))],
                     ["filter", "add", "dev", dev, "parent", "ffff:", "protocol", "all", "u32", "match", "u32",
                      "0", "0", "action", "mirred", "egress", "redirect", "dev", ifb]):
            rc, err = self._run(step)
            if rc:
                raise self._fail(step, rc, err)

    # -- the operations ------------------------------------------------------------------------------
    def set(self, dev: str, limits: Limits | None, *, hierarchical: bool = False, swapped: bool = True) -> None:
        """Replace whatever QoS ``dev`` had by ``limits`` (None: leave the device alone)."""
        if limits is None:
            return
        self.link_delete(ifb_name(dev))
        self.apply(set_commands(dev, limits, hierarchical=hierarchical, swapped=swapped))

    def clear(self, dev: str) -> None:
        """Remove every limit from ``dev`` (and the ifb device standing in for its policing)."""
        self.apply(clear_commands(dev))
        self.link_delete(ifb_name(dev))
