"""Firewall rules of a virtual network: what libvirt allows, rejects and NATs, described once as data,
then rendered for nftables (one table per network) or, as a fallback, iptables (own chains per network).

Every network's rules live in objects named after its bridge (``virt_net_<bridge>`` tables, ``VN*-<bridge>``
chains), so removing a network's rules, or whatever a crash left behind, never touches anyone else's.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from virt.conf.network import IP, Network
from virt.secondary.network.host import Host
from virt.util.errors import InternalError, VirtError
from virt.util.process import find_binary

log = logging.getLogger(__name__)

#: Prefix of every nftables table this driver creates.
TABLE_PREFIX = "virt_net_"
#: Prefixes of every iptables chain this driver creates, by the hook chain that jumps to it.
IPT_CHAINS = {"input": ("filter", "INPUT", "VNINP-"), "output": ("filter", "OUTPUT", "VNOUT-"),
              "forward": ("filter", "FORWARD", "VNFWD-"), "postrouting": ("nat", "POSTROUTING", "VNNAT-")}

#: Multicast and broadcast destinations that must leave a NAT network unmasqueraded (libvirt's exceptions).
NO_MASQUERADE = ("224.0.0.0/24", "255.255.255.255/32")


@dataclass(frozen=True)
class Rule:
    """One firewall rule. ``family`` 4, 6, or 0 for both; ``verdict`` accept, reject, return,
    masquerade or snat (``to``: the address range); ``ports``: the source-port range of NAT."""

    chain: str
    verdict: str
    family: int = 0
    iif: str | None = None
    oif: str | None = None
    saddr: str | None = None
    daddr: str | None = None
    not_daddr: str | None = None
    proto: str | None = None
    dport: int | None = None
    established: bool = False
    to: str | None = None
    ports: str | None = None


def _net(ip: IP) -> str:
    return str(ip.network())


def network_rules(net: Network, bridge: str) -> list[Rule]:
    """libvirt's rules for a network with bridge ``bridge``: services on the bridge, forwarding by
    mode, NAT, and rejection of whatever else enters or leaves the bridge."""
    mode = net.forward_mode
    if mode not in ("nat", "route", "none"):
        return []  # open mode: no rules at all; other modes have no bridge of ours
    fwd_dev = net.forward.dev if net.forward is not None else None
    rules: list[Rule] = []
    # DHCP and DNS towards dnsmasq on the bridge, DHCP answers back to the guests
    for family, dhcp_server, dhcp_client in ((4, 67, 68), (6, 547, 546)):
        if not net.ips_by_family(family) and not (family == 6 and net.ipv6_nogw):
            continue
        rules += [Rule("input", "accept", family, iif=bridge, proto=proto, dport=53) for proto in ("udp", "tcp")]
        rules.append(Rule("input", "accept", family, iif=bridge, proto="udp", dport=dhcp_server))
        rules.append(Rule("output", "accept", family, oif=bridge, proto="udp", dport=dhcp_client))
    nat = net.forward.nat if net.forward is not None else None
    for ip in net.ips:
        family = 4 if ip.is_ipv4 else 6
        subnet = _net(ip)
        if mode == "nat" and (family == 4 or (nat is not None and nat.ipv6)):
            rules.append(Rule("forward", "accept", family, iif=fwd_dev, oif=bridge, daddr=subnet, established=True))
            rules.append(Rule("forward", "accept", family, iif=bridge, oif=fwd_dev, saddr=subnet))
            rules += _nat_rules(net, subnet, family, fwd_dev)
        elif mode in ("nat", "route"):
            rules.append(Rule("forward", "accept", family, iif=fwd_dev, oif=bridge, daddr=subnet))
            rules.append(Rule("forward", "accept", family, iif=bridge, oif=fwd_dev, saddr=subnet))
    # guests talk to each other; nothing else crosses the bridge
    rules.append(Rule("forward", "accept", 0, iif=bridge, oif=bridge))
    rules.append(Rule("forward", "reject", 0, oif=bridge))
    rules.append(Rule("forward", "reject", 0, iif=bridge))
    return rules


def _nat_rules(net: Network, subnet: str, family: int, out: str | None) -> list[Rule]:
    nat = net.forward.nat if net.forward is not None else None
    addresses = nat.address_range if nat is not None else None
    ports = nat.port_range if nat is not None else None
    port_text = f"{ports[0]}-{ports[1] or ports[0]}" if ports else "1024-65535"
    to = f"{addresses[0]}-{addresses[1]}" if addresses and family == 4 else None
    verdict = "snat" if to else "masquerade"
    rules = [Rule("postrouting", "return", 4, saddr=subnet, daddr=dest) for dest in NO_MASQUERADE] \
        if family == 4 else []
    rules += [Rule("postrouting", verdict, family, oif=out, saddr=subnet, not_daddr=subnet, proto=proto, to=to,
                   ports=port_text) for proto in ("tcp", "udp")]
    rules.append(Rule("postrouting", verdict, family, oif=out, saddr=subnet, not_daddr=subnet, to=to))
    return rules


# ----------------------------------------------------------------------------- backends

class Firewall(Protocol):
    name: str

    def apply(self, bridge: str, rules: list[Rule]) -> None: ...

    def remove(self, bridge: str) -> None: ...

    def leftovers(self) -> set[str]:
        """Bridges whose rules are installed."""
        ...


def _q(name: str) -> str:
    return '"' + name.replace('"', "") + '"'


def nft_rule(rule: Rule) -> str:
    """One rule in nft syntax (inet family)."""
    parts: list[str] = []
    if rule.family and not (rule.saddr or rule.daddr or rule.not_daddr):
        parts.append(f"meta nfproto ipv{rule.family}")
    if rule.iif:
        parts.append(f"iifname {_q(rule.iif)}")
    if rule.oif:
        parts.append(f"oifname {_q(rule.oif)}")
    ipf = "ip" if rule.family == 4 else "ip6"
    if rule.saddr:
        parts.append(f"{ipf} saddr {rule.saddr}")
    if rule.daddr:
        parts.append(f"{ipf} daddr {rule.daddr}")
    if rule.not_daddr:
        parts.append(f"{ipf} daddr != {rule.not_daddr}")
    if rule.proto and rule.dport is not None:
        parts.append(f"{rule.proto} dport {rule.dport}")
    elif rule.proto:
        parts.append(f"meta l4proto {rule.proto}")
    if rule.established:
        parts.append("ct state related,established")
    if rule.verdict == "masquerade":
        parts.append("masquerade" + (f" to :{rule.ports}" if rule.proto else ""))
    elif rule.verdict == "snat":
        parts.append(f"snat {ipf} to {rule.to}" + (f":{rule.ports}" if rule.proto else ""))
    else:
        parts.append(rule.verdict)
    return " ".join(parts)


_NFT_HOOKS = {"input": "type filter hook input priority 0", "output": "type filter hook output priority 0",
              "forward": "type filter hook forward priority 0", "postrouting": "type nat hook postrouting priority 100"}


@dataclass
class NftablesFirewall:
    """One ``inet`` table per network, replaced atomically in one nft transaction."""

    host: Host
    name: str = "nftables"

    def _nft(self, script: str | None = None, *args: str, check: bool = True) -> str:
        argv = [find_binary("nft", "nftables"), *args]
        if script is not None:
            argv += ["-f", "-"]
        return self.host.run(argv, input=script, check=check)

    @staticmethod
    def table(bridge: str) -> str:
        return TABLE_PREFIX + re.sub(r"[^A-Za-z0-9_]", "_", bridge)

    def script(self, bridge: str, rules: list[Rule]) -> str:
        table = self.table(bridge)
        lines = [f"table inet {table} {{}}", f"delete table inet {table}", f"table inet {table} {{"]
        for chain, hook in _NFT_HOOKS.items():
            chain_rules = [r for r in rules if r.chain == chain]
            if not chain_rules:
                continue
            lines.append(f"  chain {chain} {{")
            lines.append(f"    {hook}; policy accept;")
            lines += [f"    {nft_rule(r)}" for r in chain_rules]
            lines.append("  }")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def apply(self, bridge: str, rules: list[Rule]) -> None:
        self._nft(self.script(bridge, rules))

    def remove(self, bridge: str) -> None:
        table = self.table(bridge)
        self._nft(f"table inet {table} {{}}\ndelete table inet {table}\n", check=False)

    def leftovers(self) -> set[str]:
        out = self._nft(None, "-j", "list", "tables", check=False)
        try:
            items = json.loads(out).get("nftables", []) if out.strip() else []
        except (json.JSONDecodeError, AttributeError):
            return set()
        return {t["table"]["name"][len(TABLE_PREFIX):] for t in items
                if "table" in t and t["table"].get("family") == "inet"
                and t["table"].get("name", "").startswith(TABLE_PREFIX)}


def ipt_rule(rule: Rule) -> list[str]:
    """One rule as iptables/ip6tables arguments (after ``-A CHAIN``)."""
    args: list[str] = []
    if rule.iif:
        args += ["-i", rule.iif]
    if rule.oif:
        args += ["-o", rule.oif]
    if rule.saddr:
        args += ["-s", rule.saddr]
    if rule.daddr:
        args += ["-d", rule.daddr]
    if rule.not_daddr:
        args += ["!", "-d", rule.not_daddr]
    if rule.proto:
        args += ["-p", rule.proto]
        if rule.dport is not None:
            args += ["--dport", str(rule.dport)]
    if rule.established:
        args += ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED"]
    if rule.verdict == "masquerade":
        args += ["-j", "MASQUERADE"] + (["--to-ports", rule.ports] if rule.proto and rule.ports else [])
    elif rule.verdict == "snat":
        args += ["-j", "SNAT", "--to-source", (rule.to or "") + (f":{rule.ports}" if rule.proto else "")]
    else:
        args += ["-j", rule.verdict.upper()]
    return args


@dataclass
class IptablesFirewall:
    """Chains ``VN<hook>-<bridge>`` per network, jumped to from the top of the built-in chains."""

    host: Host
    name: str = "iptables"

    def _tool(self, family: int) -> str:
        return find_binary("iptables" if family == 4 else "ip6tables", "iptables")

    def _run(self, family: int, table: str, *args: str, check: bool = True) -> str:
        return self.host.run([self._tool(family), "-w", "-t", table, *args], check=check)

    def apply(self, bridge: str, rules: list[Rule]) -> None:
        self.remove(bridge)
        try:
            for family in (4, 6):
                for hook, (table, builtin, prefix) in IPT_CHAINS.items():
                    mine = [r for r in rules if r.chain == hook and r.family in (0, family)]
                    if not mine:
                        continue
                    chain = prefix + bridge
                    self._run(family, table, "-N", chain)
                    for rule in mine:
                        self._run(family, table, "-A", chain, *ipt_rule(rule))
                    self._run(family, table, "-I", builtin, "1", "-j", chain)
        except VirtError:
            self.remove(bridge)
            raise

    def remove(self, bridge: str) -> None:
        for family in (4, 6):
            for table, builtin, prefix in IPT_CHAINS.values():
                chain = prefix + bridge
                listing = self._run(family, table, "-S", builtin, check=False)
                for _ in range(listing.count(f"-j {chain}")):
                    self._run(family, table, "-D", builtin, "-j", chain, check=False)
                self._run(family, table, "-F", chain, check=False)
                self._run(family, table, "-X", chain, check=False)

    def leftovers(self) -> set[str]:
        found: set[str] = set()
        for family in (4, 6):
            for table, _, prefix in IPT_CHAINS.values():
                for line in self._run(family, table, "-S", check=False).splitlines():
                    m = re.match(r"-N (\S+)$", line)
                    if m and m.group(1).startswith(prefix):
                        found.add(m.group(1)[len(prefix):])
        return found


def make_firewall(host: Host, backend: str = "auto") -> Firewall:
    """The firewall backend: ``nftables``, ``iptables``, or ``auto`` (nftables when nft is installed)."""
    if backend == "auto":
        try:
            find_binary("nft")
            backend = "nftables"
        except VirtError:
            backend = "iptables"
    if backend == "nftables":
        return NftablesFirewall(host)
    if backend == "iptables":
        return IptablesFirewall(host)
    raise InternalError(f"unknown firewall backend '{backend}' (expected nftables, iptables or auto)")


def describe(rules: Iterable[Rule]) -> list[dict[str, Any]]:
    """The rules as plain dicts (status files, debugging)."""
    return [{k: v for k, v in vars(r).items() if v not in (None, False)} for r in rules]
