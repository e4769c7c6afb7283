"""Host ends of guest network interfaces: tap devices (bridge, network, ethernet), macvtap (direct) and vhost-net.

The driver opens each tap (``/dev/net/tun``, TUNSETIFF) and hands QEMU the descriptor, as libvirt
does, so QEMU needs no privileges to create it; a tap that is not persistent disappears with the
last descriptor, when QEMU exits. A direct interface gets a macvtap link on its source device, in the
source's mode and with the guest's MAC address; QEMU gets descriptors of its character device
(``/dev/tapIFINDEX``), and the link is deleted when the interface goes away. The host-side name is
noted on the live definition (<target dev>).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import stat
import struct
import uuid as uuidlib
from copy import deepcopy
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree
from virt.driver.qemu import xmlutil as X
from virt.util.errors import ErrorDomain, ErrorNumber, SystemError_, VirtError
from virt.util.process import find_binary, run

if TYPE_CHECKING:
    from virt.driver.qemu.host import QemuHost

log = logging.getLogger(__name__)
QEMU = ErrorDomain.QEMU
TAP_TYPES = ("bridge", "network", "ethernet")
_TUNSETIFF = 0x400454CA
_TUNGETIFF = 0x800454D2
_IFF_TAP, _IFF_NO_PI, _IFF_VNET_HDR, _IFF_MULTI_QUEUE = 0x0002, 0x1000, 0x4000, 0x0100
#: <source mode> of a direct interface -> ip-link's macvtap mode (libvirt's default is vepa).
MACVTAP_MODES = {"vepa": "vepa", "private": "private", "bridge": "bridge", "passthrough": "passthru"}
#: How many macvtapN names a start tries before giving up (others may be taking names meanwhile).
_MACVTAP_TRIES = 64


def _ip(*args: str) -> None:
    run([find_binary("ip", "iproute2"), *args], timeout=30)


def _open_tap(name: str, vnet_hdr: bool, queues: int) -> tuple[str, list[int]]:
    flags = _IFF_TAP | _IFF_NO_PI | (_IFF_VNET_HDR if vnet_hdr else 0) | (_IFF_MULTI_QUEUE if queues > 1 else 0)
    fds: list[int] = []
    try:
        for _ in range(max(queues, 1)):
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
            fds.append(fd)
            ifr = struct.pack("16sH22x", name.encode(), flags)
            try:
                res = fcntl.ioctl(fd, _TUNSETIFF, ifr)
            except OSError as err:
                raise SystemError_.from_errno(err, f"Unable to create tap device {name}", domain=QEMU) from None
            name = res[:16].split(b"\0", 1)[0].decode()
    except BaseException:
        close_fds({"tap": fds})
        raise
    return name, fds


def _bridge_of(host: QemuHost, net: Any) -> str | None:
    if net.get("type") == "bridge":
        return X.get(net, "source", "bridge")
    if net.get("type") == "network":
        return X.get(net, "source", "bridge")  # the port's plug (acquire_port)
    return None


def port_xml(net: Any, owner: tuple[str, str]) -> str:
    """The <networkport> libvirt asks a network for on behalf of interface ``net``."""
    port = etree.Element("networkport")
    X.sub(port, "uuid", text_=str(uuidlib.uuid4()))
    own = X.sub(port, "owner")
    X.sub(own, "name", text_=owner[0])
    X.sub(own, "uuid", text_=owner[1])
    group = X.get(net, "source", "portgroup")
    if group:
        X.sub(port, "group", text_=group)
    X.sub(port, "mac", {"address": X.get(net, "mac", "address")})
    bw = net.find("bandwidth")
    if bw is not None:
        port.append(deepcopy(bw))
    return etree.tostring(port, encoding="unicode")


def acquire_port(host: QemuHost, net: Any, owner: tuple[str, str]) -> None:
    """An interface on a virtual network gets a port of it (virNetworkPortCreateXML): the port's UUID
    and bridge go on its <source> (as libvirt shows them), the bandwidth the network settled on (the
    interface's, else its port group's) is kept privately for the tap."""
    if net.get("type") != "network" or X.get(net, "source", "portid"):
        return
    from virt.driver.qemu import bandwidth
    from virt.driver.qemu.secondary import Secondary

    network = X.get(net, "source", "network") or ""
    with Secondary(host.settings) as sec:
        uuid, port = sec.port_create(network, port_xml(net, owner))
    source = net.find("source")
    if source is None:
        source = X.sub(net, "source")
    source.set("portid", uuid)
    plug = port.find("plug")
    if plug is not None and plug.get("bridge"):
        source.set("bridge", str(plug.get("bridge")))
    bandwidth.set_actual(net, port.find("bandwidth"))


def release_port(host: QemuHost, net: Any) -> None:
    """Give back the interface's network port (virNetworkPortDelete); a network gone meanwhile is logged."""
    uuid = X.get(net, "source", "portid")
    if net.get("type") != "network" or not uuid:
        return
    from virt.driver.qemu.secondary import Secondary

    try:
        with Secondary(host.settings) as sec:
            sec.port_delete(X.get(net, "source", "network") or "", uuid)
    except VirtError as err:
        log.warning("cannot delete network port %s: %s", uuid, err)
    source = net.find("source")
    if source is not None:
        for attr in ("portid", "bridge"):
            source.attrib.pop(attr, None)


def open_interface(host: QemuHost, net: Any, virt_type: str, owner: tuple[str, str]) -> dict[str, list[int]]:
    """Descriptors QEMU needs for interface ``net``: {"tap": [...], "vhost": [...]}; empty when it needs none.
    An interface on a virtual network first gets a port of it for ``owner`` (domain name, UUID)."""
    if net.get("type") == "direct":
        return _open_macvtap(net, virt_type)
    if net.get("type") not in TAP_TYPES:
        return {}
    acquire_port(host, net, owner)
    try:
        return _open_tap_of(host, net, virt_type)
    except BaseException:
        release_port(host, net)
        raise


def _open_tap_of(host: QemuHost, net: Any, virt_type: str) -> dict[str, list[int]]:
    from virt.driver.qemu.netdev import is_virtio

    queues = int(X.get(net, "driver", "queues") or "1")
    wanted = X.get(net, "target", "dev")
    template = wanted if wanted and not wanted.startswith(("vnet", "macvtap", "macvlan")) else "vnet%d"
    name, taps = _open_tap(template, is_virtio(net), queues)
    fds: dict[str, list[int]] = {"tap": taps}
    try:
        mac = X.get(net, "mac", "address") or ""
        managed = X.get(net, "target", "managed") != "no"
        if managed:
            if mac:
                _ip("link", "set", "dev", name, "address", "fe" + mac[2:])
            bridge = _bridge_of(host, net)
            if bridge:
                _ip("link", "set", "dev", name, "master", bridge)
            _ip("link", "set", "dev", name, "up")
        _shape_and_vhost(net, name, fds, virt_type)
    except BaseException:
        close_fds(fds)
        raise
    _note_target(net, name)
    return fds


def _shape_and_vhost(net: Any, name: str, fds: dict[str, list[int]], virt_type: str) -> None:
    """The interface's <bandwidth> on its host side, and a vhost-net descriptor per queue where KVM
    runs a virtio NIC (added to ``fds``)."""
    from virt.driver.qemu import bandwidth
    from virt.driver.qemu.netdev import is_virtio

    bandwidth.apply(net, name)
    vhost = virt_type == "kvm" and is_virtio(net) and X.get(net, "driver", "name") != "qemu"
    if vhost and os.path.exists("/dev/vhost-net"):
        fds["vhost"] = [os.open("/dev/vhost-net", os.O_RDWR | os.O_CLOEXEC) for _ in fds["tap"]]


def _note_target(net: Any, name: str) -> None:
    """The host-side name on the live definition (<target dev>)."""
    target = net.find("target")
    if target is None:
        target = X.sub(net, "target")
    target.set("dev", name)


def _open_macvtap(net: Any, virt_type: str) -> dict[str, list[int]]:
    from virt.driver.qemu.netdev import is_virtio

    parent = X.get(net, "source", "dev")
    if not parent:
        raise VirtError("direct interface needs a source device (<source dev='...'/>)",
                        code=ErrorNumber.CONFIG_UNSUPPORTED, domain=QEMU)
    mode = X.get(net, "source", "mode") or "vepa"
    if mode not in MACVTAP_MODES:
        raise VirtError(f"unsupported macvtap mode '{mode}'", code=ErrorNumber.CONFIG_UNSUPPORTED, domain=QEMU)
    if not os.path.exists(f"/sys/class/net/{parent}"):
        raise VirtError(f"Cannot get interface MTU on '{parent}': No such device",
                        code=ErrorNumber.SYSTEM_ERROR, domain=QEMU)
    name = _add_macvtap(parent, MACVTAP_MODES[mode], X.get(net, "mac", "address") or "", X.get(net, "target", "dev"))
    fds: dict[str, list[int]] = {}
    try:
        _ip("link", "set", "dev", name, "up")
        queues = max(int(X.get(net, "driver", "queues") or "1"), 1)
        fds["tap"] = [_open_tap_node(name, is_virtio(net)) for _ in range(queues)]
        _shape_and_vhost(net, name, fds, virt_type)
    except BaseException:
        close_fds(fds)
        _delete_macvtap(name)
        raise
    _note_target(net, name)
    return fds


def _add_macvtap(parent: str, mode: str, mac: str, wanted: str | None) -> str:
    """Create a macvtap link on ``parent``: named ``wanted`` unless that is one of the generated names
    (macvtapN, which a new start picks afresh), else the first free macvtapN."""
    address = ["address", mac] if mac else []
    if wanted and not wanted.startswith(("vnet", "macvtap", "macvlan")):
        candidates = [wanted]
    else:
        taken = set(os.listdir("/sys/class/net"))
        candidates = [f"macvtap{i}" for i in range(1024) if f"macvtap{i}" not in taken][:_MACVTAP_TRIES]
    for name in candidates:
        try:
            _ip("link", "add", "link", parent, "name", name, *address, "type", "macvtap", "mode", mode)
            return name
        except VirtError as err:
            if "exists" not in str(err) or len(candidates) == 1:
                raise VirtError(f"error creating macvtap interface {name}@{parent}: {err}",
                                code=ErrorNumber.SYSTEM_ERROR, domain=QEMU) from None
    raise VirtError(f"cannot find a free macvtap name for {parent}", code=ErrorNumber.SYSTEM_ERROR, domain=QEMU)


def _tap_node(name: str) -> tuple[str, int]:
    """The character device of macvtap ``name`` (/dev/tapIFINDEX) and its device number, from sysfs."""
    index = int(Path(f"/sys/class/net/{name}/ifindex").read_text())
    major, minor = Path(f"/sys/class/net/{name}/macvtap/tap{index}/dev").read_text().strip().split(":")
    return f"/dev/tap{index}", os.makedev(int(major), int(minor))


def _open_tap_node(name: str, vnet_hdr: bool) -> int:
    """A descriptor of the macvtap's queue, with the virtio-net header on or off as the model needs.
    Where no udev made the node, the driver makes it (and removes it with the link)."""
    path, dev = _tap_node(name)
    with contextlib.suppress(FileExistsError):
        os.mknod(path, stat.S_IFCHR | 0o600, dev)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as err:
        raise SystemError_.from_errno(err, f"cannot open macvtap tap device {path}", domain=QEMU) from None
    try:
        flags = struct.unpack("16sH22x", fcntl.ioctl(fd, _TUNGETIFF, bytes(40)))[1]
        flags = flags | _IFF_VNET_HDR if vnet_hdr else flags & ~_IFF_VNET_HDR
        fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH22x", b"", flags))
    except OSError as err:
        os.close(fd)
        raise SystemError_.from_errno(err, f"cannot set the flags of macvtap {name}", domain=QEMU) from None
    return fd


def _delete_macvtap(name: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        path, dev = _tap_node(name)
        st = os.stat(path)
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == dev:
            os.unlink(path)  # ours, or udev's, which would remove it with the link anyway
    try:
        _ip("link", "del", "dev", name)
    except VirtError as err:
        log.warning("cannot delete macvtap %s: %s", name, err)


def release_interface(host: QemuHost, net: Any) -> None:
    """What an interface holds beyond QEMU's descriptors: a direct interface's macvtap link, a network port."""
    if net.get("type") == "direct":
        name = X.get(net, "target", "dev")
        if name and os.path.exists(f"/sys/class/net/{name}"):
            _delete_macvtap(name)
        return
    release_port(host, net)


def close_fds(fds: dict[str, list[int]]) -> None:
    for group in fds.values():
        for fd in group:
            with contextlib.suppress(OSError):
                os.close(fd)
