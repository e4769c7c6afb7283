"""A network's quality of service: the class hierarchy on its bridge, ports' floors (tc, libvirt's layout).

The generic mechanism (limits on one device, the host's missing tc pieces, ifb stand-ins) is
``virt.util.tc``; this module adds what only a virtual network has. The network's bridge is
*hierarchical*: ``1:1`` caps the whole network, ``1:2`` (the htb default) takes unclassified traffic
and shrinks by every guaranteed floor, and each port with a floor gets class ``1:ID`` (ID >= 3), an
sfq ``ID:`` and a u32 filter (prio 2, handle ``800::ID``) on its MAC.
"""

from __future__ import annotations

from dataclasses import dataclass

from virt.secondary.network.host import Host
from virt.util.errors import ErrorDomain, ErrorNumber, VirtError
from virt.util.tc import Command, Limits, Rate, Tc, clear_commands, ifb_name, kbps, quantum, set_commands

__all__ = ["FIRST_PORT_CLASS", "Command", "Limits", "NetworkTc", "Rate", "Tc", "clear_commands", "filter_commands",
           "floor_class_rate", "ifb_name", "plug_commands", "set_commands", "unplug_commands",
           "update_rate_command"]

#: The first class a port with a floor can get (1:1 and 1:2 are the network's own).
FIRST_PORT_CLASS = 3


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


def bandwidth_error(message: str, code: ErrorNumber = ErrorNumber.OPERATION_FAILED) -> VirtError:
    return VirtError(message, code=code, domain=ErrorDomain.NETWORK)


@dataclass
class NetworkTc(Tc):
    """``Tc`` with the operations on a network's hierarchy; errors in the network domain."""

    domain: ErrorDomain = ErrorDomain.NETWORK

    @classmethod
    def on(cls, host: Host) -> NetworkTc:
        return cls(host.netns)

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
