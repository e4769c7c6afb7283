"""The dnsmasq configuration a virtual network gets: the conf file, the DHCP hosts file and the DNS hosts file.

The conf file is written in libvirt's order, option by option, so that a network's configuration
reads the same as under libvirt (``virt net-dumpdnsmasq`` prints it). What depends on the dnsmasq
binary (its version and a few options) is described by ``DnsmasqCaps``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from virt.conf.network import (
    IP,
    DHCPHost,
    Lease,
    Network,
    check_range,
    format_ip,
    parse_ip,
)
from virt.util.errors import ConfigUnsupportedError, InternalError

#: Where libvirt keeps dnsmasq's per-network files; ``net-dumpdnsmasq`` prints these paths by default.
LIBVIRT_DNSMASQ_DIR = "/var/lib/libvirt/dnsmasq"

#: First dnsmasq release with usable DHCPv6 and router advertisements (libvirt's requirement).
DHCPV6_VERSION = (2, 64)


@dataclass(frozen=True)
class DnsmasqCaps:
    """What the host's dnsmasq can do: its version and the options libvirt looks for in its help."""

    version: tuple[int, int] = (2, 90)
    bind_dynamic: bool = True
    bindtodevice: bool = True
    ra_param: bool = True

    @property
    def dhcpv6(self) -> bool:
        return self.version >= DHCPV6_VERSION

    @property
    def ra(self) -> bool:
        return self.version >= DHCPV6_VERSION

    @classmethod
    def full(cls) -> DnsmasqCaps:
        """Every capability (a current dnsmasq; libvirt's tests call this "full")."""
        return cls()

    @classmethod
    def from_output(cls, version_text: str, help_text: str) -> DnsmasqCaps:
        """From the output of ``dnsmasq --version`` and ``dnsmasq --help``."""
        m = re.search(r"Dnsmasq version (\d+)\.(\d+)", version_text)
        if m is None:
            raise InternalError(f"cannot parse dnsmasq version from '{version_text.splitlines()[0] if version_text else ''}'")
        return cls(version=(int(m.group(1)), int(m.group(2))),
                   bind_dynamic="--bind-dynamic" in help_text,
                   bindtodevice="--bind-interfaces with SO_BINDTODEVICE" in version_text,
                   ra_param="--ra-param" in help_text)

    @classmethod
    def parse(cls, spec: str) -> DnsmasqCaps:
        """``full`` or a version ``2.48``: an old binary knows no option added after it."""
        if spec == "full":
            return cls.full()
        m = re.fullmatch(r"(\d+)\.(\d+)", spec.strip())
        if m is None:
            raise ConfigUnsupportedError(f"invalid dnsmasq capabilities '{spec}': expected 'full' or a version such as 2.67")
        version = (int(m.group(1)), int(m.group(2)))
        return cls(version=version, bind_dynamic=version >= (2, 63), bindtodevice=False, ra_param=version >= (2, 82))

    @classmethod
    def probe(cls, binary: str) -> DnsmasqCaps:
        from virt.util.process import run

        version = run([binary, "--version"], timeout=10).stdout
        help_text = run([binary, "--help"], timeout=10).stdout
        return cls.from_output(version, help_text)


@dataclass(frozen=True)
class DnsmasqFiles:
    """The per-network files dnsmasq reads and writes."""

    hostsfile: str
    addnhosts: str
    pidfile: str | None = None
    leasefile: str | None = None

    @classmethod
    def in_dir(cls, directory: str, name: str, *, pidfile: str | None = None,
               leasefile: str | None = None) -> DnsmasqFiles:
        return cls(f"{directory}/{name}.hostsfile", f"{directory}/{name}.addnhosts", pidfile, leasefile)


@dataclass
class DnsmasqConfig:
    """A network's dnsmasq configuration: the conf file and the two hosts files it names."""

    conf: str
    #: dhcp-hostsfile lines: "mac,ip,name[,lease]", "id:DUID,[ipv6]", ...
    dhcp_hosts: list[str] = field(default_factory=list)
    #: addn-hosts entries: address -> names, in first-seen order
    dns_hosts: dict[str, list[str]] = field(default_factory=dict)

    def hostsfile(self) -> str:
        return "".join(f"{line}\n" for line in self.dhcp_hosts)

    def addnhosts(self) -> str:
        # dnsmasq's hosts(5) format; libvirt ends each name with a tab
        return "".join(ip + "\t" + "".join(f"{n}\t" for n in names) + "\n" for ip, names in self.dns_hosts.items())


def escape(text: str) -> str:
    """XML-escape a value as libvirt's buffer escaping does (and drop control characters)."""
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 and ch not in "\t\n\r":
            continue
        else:
            out.append(ch)
    return "".join(out)


_ESCAPES = {"<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;"}


def lease_time(lease: Lease | None) -> str | None:
    """dnsmasq's lease time: "infinite", or the expiry and the first letter of its unit ("1h")."""
    if lease is None or lease.expiry is None:
        return None
    if lease.expiry == 0:
        return "infinite"
    return f"{lease.expiry}{(lease.unit or 'minutes')[0]}"


def ptr_domain(ip: IP) -> str:
    """The reverse-DNS zone of an <ip>'s network ("122.168.192.in-addr.arpa")."""
    prefix = ip.prefix_len()
    addr = ip.addr
    step = 8 if addr.version == 4 else 4
    if prefix <= 0 or prefix % step:
        family = "IPv4" if addr.version == 4 else "IPv6"
        raise ConfigUnsupportedError(f"PTR domain for {family} network with prefix {prefix} cannot be "
                                     "automatically created")
    if addr.version == 4:
        labels = [str(b) for b in addr.packed[:prefix // 8]]
        return ".".join(reversed(labels)) + ".in-addr.arpa"
    nibbles = addr.packed.hex()[:prefix // 4]
    return ".".join(reversed(nibbles)) + ".ip6.arpa"


def dhcp_host_line(host: DHCPHost, ipv6: bool) -> str | None:
    """A dhcp-hostsfile line for a static host (None when it has no address)."""
    if not host.ip:
        return None
    ip = format_ip(parse_ip(host.ip))
    name, mac, hid = host.name, host.mac, host.id
    if ipv6:
        if name and hid:
            line = f"id:{hid},{name},[{ip}]"
        elif name:
            line = f"{name},[{ip}]"
        elif hid:
            line = f"id:{hid},[{ip}]"
        else:
            return None
    elif name and mac:
        line = f"{mac},{ip},{name}"
    elif name:
        line = f"{name},{ip}"
    else:
        line = f"{mac},{ip}"
    lease = lease_time(host.lease)
    return f"{line},{lease}" if lease else line


# ----------------------------------------------------------------------------- the conf file

@dataclass
class _Build:
    """What the section writers share while the conf file is assembled."""

    net: Network
    caps: DnsmasqCaps
    files: DnsmasqFiles
    lines: list[str] = field(default_factory=list)
    result: DnsmasqConfig = field(default_factory=lambda: DnsmasqConfig(""))
    ipv4_dhcp: IP | None = None
    ipv6_dhcp: IP | None = None

    @property
    def want_dns(self) -> bool:
        dns = self.net.dns
        return dns is None or dns.enable is not False

    def add(self, line: str) -> None:
        self.lines.append(line)


def _header(b: _Build) -> None:
    b.add("##WARNING:  THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE")
    b.add("##OVERWRITTEN AND LOST.  Changes to this configuration should be made using:")
    b.add(f"##    virsh net-edit {b.net.name}")
    b.add("## or other application using the libvirt API.")
    b.add("##")
    b.add("## dnsmasq conf file created by libvirt")
    b.add("strict-order")
    if not b.want_dns:
        b.add("port=0")  # dnsmasq then answers no DNS at all


def _forwarders(b: _Build) -> None:
    dns = b.net.dns
    if not b.want_dns or dns is None or not dns.forwarders:
        return
    # an address with no domain takes every unclaimed query: the host's resolv.conf is then unused
    no_resolv = False
    for fwd in dns.forwarders:
        head = "server=" + (f"/{fwd.domain}/" if fwd.domain else "")
        if fwd.addr is not None:
            b.add(head + format_ip(fwd.addr))
            no_resolv = no_resolv or not fwd.domain
        else:
            b.add(head + "#")  # answer locally only: never forward this domain
    if no_resolv:
        b.add("no-resolv")


def _domain(b: _Build) -> None:
    dom = b.net.domain
    if dom is None or not dom.name:
        return
    if dom.localOnly is True:
        b.add(f"local=/{dom.name}/")
    b.add(f"domain={dom.name}")
    b.add("expand-hosts")


def _local_ptrs(b: _Build) -> None:
    if not b.want_dns:
        return
    for ip in b.net.ips:
        if ip.localPtr is True:
            b.add(f"local=/{ptr_domain(ip)}/")


def _plain_names(b: _Build) -> None:
    dns = b.net.dns
    if b.want_dns and dns is not None and dns.forwardPlainNames is False:
        b.add("domain-needed")
        b.add("local=//")


def _pidfile(b: _Build) -> None:
    if b.files.pidfile:
        b.add(f"pid-file={escape(b.files.pidfile)}")


def _listen(b: _Build) -> None:
    b.add("except-interface=lo")  # dnsmasq listens on loopback unless told not to
    bridge = b.net.bridge_name()
    if b.caps.bind_dynamic:
        # only --interface, no --listen-address: queries from elsewhere than the bridge are
        # ignored (CVE-2012-3411)
        b.add("bind-dynamic")
        b.add(f"interface={bridge}")
        return
    b.add("bind-interfaces")
    for ip in b.net.ips:
        addr = ip.addr
        if not b.caps.bindtodevice and not (addr.is_private or addr.is_link_local):
            major, minor = b.caps.version
            raise InternalError(
                f"Publicly routable address {format_ip(addr)} is prohibited. The version of dnsmasq on this host "
                f"({major}.{minor}) doesn't support the bind-dynamic option or use SO_BINDTODEVICE on listening "
                "sockets, one of which is required for safe operation on a publicly routable subnet "
                "(see CVE-2012-3411). You must either upgrade dnsmasq, or use a private/local subnet range for "
                "this network (as described in RFC1918/RFC3484/RFC4193).")
        b.add(f"listen-address={format_ip(addr)}")


def _isolated(b: _Build) -> None:
    if b.net.forward_mode != "none":
        return
    # no default route through us, and no DNS forwarding out of a network that has no way out;
    # IPv6 RAs always imply a default route, so at least give it a zero lifetime
    b.add("dhcp-option=3")
    b.add("no-resolv")
    if b.caps.ra_param:
        b.add("ra-param=*,0,0")


def _srv_line(srv: Any) -> str:
    line = f"srv-host=_{srv.service}._{srv.protocol}"
    if srv.domain:
        line += f".{srv.domain}"
    # an empty or "." target means "no such service here": port, priority and weight are moot
    if srv.target and srv.target != ".":
        line += f",{srv.target}"
        port, priority, weight = (int(v) if v else 0 for v in (srv.port, srv.priority, srv.weight))
        # positional fields: a later one given forces the earlier ones out (dnsmasq's port default is 1)
        if port or priority or weight:
            line += f",{port or 1}"
        if priority or weight:
            line += f",{priority}"
        if weight:
            line += f",{weight}"
    return line


def _dns_records(b: _Build) -> None:
    dns = b.net.dns
    if not b.want_dns or dns is None:
        return
    for txt in dns.txts:
        b.add(f"txt-record={txt.name},{txt.value}")
    for srv in dns.srvs:
        if not srv.service or not srv.protocol:
            raise InternalError(f"Missing required 'service' attribute in SRV record of network '{b.net.name}'")
        b.add(_srv_line(srv))


def _pick_dhcp(b: _Build) -> None:
    """The one IPv4 and one IPv6 <ip> that carry DHCP (libvirt serves at most one of each); TFTP roots on the way."""
    tftp_enabled = False
    for ip in b.net.ips:
        # every IPv4 address's TFTP root is served, with or without DHCP there
        if ip.is_ipv4 and ip.tftp is not None and ip.tftp.root:
            if not tftp_enabled:
                b.add("enable-tftp")
                tftp_enabled = True
            b.add(f"tftp-root={ip.tftp.root}")
        if not ip.has_dhcp:
            continue
        if ip.is_ipv4:
            if b.ipv4_dhcp is not None:
                raise ConfigUnsupportedError("For IPv4, multiple DHCP definitions cannot be specified.")
            b.ipv4_dhcp = ip
        else:
            if not b.caps.dhcpv6:
                major, minor = b.caps.version
                raise ConfigUnsupportedError(
                    f"The version of dnsmasq on this host ({major}.{minor}) doesn't adequately support IPv6 dhcp "
                    f"range or dhcp host specification. Version {DHCPV6_VERSION[0]}.{DHCPV6_VERSION[1]} or later "
                    "is required.")
            if b.ipv6_dhcp is not None:
                raise ConfigUnsupportedError("For IPv6, multiple DHCP definitions cannot be specified.")
            b.ipv6_dhcp = ip


def _dhcp(b: _Build) -> None:
    _pick_dhcp(b)
    leases = 0
    for ip in (b.ipv4_dhcp, b.ipv6_dhcp):
        if ip is None:
            continue
        prefix = ip.prefix_len()
        if prefix < 0:
            raise InternalError(f"bridge '{b.net.bridge_name()}' has an invalid prefix")
        for r in ip.ranges:
            # dnsmasq wants a netmask for IPv4 and a prefix length for IPv6
            scope = str(prefix) if ip.is_ipv6 else str(ipaddress.IPv4Network(f"0.0.0.0/{prefix}").netmask)
            line = f"dhcp-range={r.start},{r.end},{scope}"
            lease = lease_time(r.lease)
            b.add(f"{line},{lease}" if lease else line)
            leases += check_range(r.start_addr, r.end_addr, ip.addr, prefix)
        if not ip.ranges and ip.hosts:
            # static hosts only: a "static" range switches dnsmasq's DHCP service on
            b.add(f"dhcp-range={format_ip(ip.addr)},static" + (f",{prefix}" if ip.is_ipv6 else ""))
        for host in ip.hosts:
            host_line = dhcp_host_line(host, ip.is_ipv6)
            if host_line is not None:
                b.result.dhcp_hosts.append(host_line)
        if ip.is_ipv4:
            if ip.ranges or ip.hosts:
                b.add("dhcp-no-override")
                b.add("dhcp-authoritative")
            bootp = ip.bootp
            if bootp is not None and bootp.file:
                b.add(f"dhcp-boot={bootp.file},,{bootp.server}" if bootp.server else f"dhcp-boot={bootp.file}")
    if leases > 0:
        b.add(f"dhcp-lease-max={leases}")


def _hosts_files(b: _Build) -> None:
    dns = b.net.dns
    if dns is not None:
        for host in dns.hosts:
            if host.ip:
                names = b.result.dns_hosts.setdefault(host.ip, [])
                names.extend(n for n in host.names)
    # written even when empty, so that hosts can be added while the network runs
    if b.ipv4_dhcp is not None or b.ipv6_dhcp is not None:
        b.add(f"dhcp-hostsfile={escape(b.files.hostsfile)}")
    if b.want_dns:
        b.add(f"addn-hosts={escape(b.files.addnhosts)}")


def _mtu(b: _Build) -> None:
    # DHCP clients learn the network's MTU (option 26), so guests match the bridge
    size = b.net.mtu.size if b.net.mtu is not None else None
    if size and int(size) > 0:
        b.add(f"dhcp-option=option:mtu,{int(size)}")


def _router_advertisements(b: _Build) -> None:
    if not b.caps.ra:
        return
    if b.ipv6_dhcp is not None:
        b.add("enable-ra")
        return
    for ip in b.net.ips:
        if ip.is_ipv6 and not ip.has_dhcp:
            b.add(f"dhcp-range={format_ip(ip.addr)},ra-only")


def _leasefile(b: _Build) -> None:
    if b.files.leasefile and (b.ipv4_dhcp is not None or b.ipv6_dhcp is not None):
        b.add(f"dhcp-leasefile={escape(b.files.leasefile)}")


def _passthrough(b: _Build) -> None:
    for option in b.net.dnsmasq_options:
        b.add(option)


#: The conf file, section by section, in libvirt's order.
SECTIONS: tuple[Callable[[_Build], None], ...] = (
    _header, _forwarders, _domain, _local_ptrs, _plain_names, _pidfile, _listen, _isolated, _dns_records,
    _dhcp, _hosts_files, _mtu, _router_advertisements, _leasefile, _passthrough,
)


def build_config(net: Network, caps: DnsmasqCaps | None = None, files: DnsmasqFiles | None = None) -> DnsmasqConfig:
    """The dnsmasq configuration of ``net`` (a parsed virt.conf network with its bridge name set)."""
    files = files or DnsmasqFiles.in_dir(LIBVIRT_DNSMASQ_DIR, net.name)
    b = _Build(net, caps or DnsmasqCaps.full(), files)
    for section in SECTIONS:
        section(b)
    b.result.conf = "".join(f"{line}\n" for line in b.lines)
    return b.result


def needs_dnsmasq(net: Network) -> bool:
    """Whether a network runs dnsmasq at all: it has an address, and DHCP or DNS to serve there."""
    if not net.ips:
        return False
    dhcp = any(ip.has_dhcp or (ip.tftp is not None and ip.tftp.root) for ip in net.ips)
    return dhcp or net.dns is None or net.dns.enable is not False


# ----------------------------------------------------------------------------- leases

@dataclass(frozen=True)
class LeaseRecord:
    """One line of dnsmasq's lease file."""

    expirytime: int
    mac: str | None
    ipaddr: str
    hostname: str | None
    clientid: str | None
    iaid: str | None = None

    @property
    def ipv6(self) -> bool:
        return ":" in self.ipaddr


def read_leases(text: str) -> Iterator[LeaseRecord]:
    """dnsmasq's lease file: IPv4 lines "expiry mac ip host clientid", then after a "duid"
    line IPv6 lines "expiry iaid ip host duid" (a "*" means none)."""
    for raw in text.splitlines():
        parts = raw.split()
        if not parts or parts[0] == "duid" or len(parts) < 5:
            continue
        expiry, second, ip, host, client = parts[:5]
        def none(v):
            return (None if v == "*" else v)
        if ":" in ip:
            yield LeaseRecord(int(expiry), None, ip, none(host), none(client), iaid=second)
        else:
            yield LeaseRecord(int(expiry), second.lower(), ip, none(host), none(client))
