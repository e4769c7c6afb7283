"""Host ends of guest network interfaces: tap devices (bridge, network, ethernet) and vhost-net.

The driver opens each tap (``/dev/net/tun``, TUNSETIFF) and hands QEMU the descriptor, as libvirt
does, so QEMU needs no privileges to create it; a tap that is not persistent disappears with the
last descriptor, when QEMU exits. The tap's name is noted on the live definition (<target dev>).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
from typing import TYPE_CHECKING, Any

from virt.driver.qemu import xmlutil as X
from virt.util.errors import ErrorDomain, SystemError_
from virt.util.process import find_binary, run

if TYPE_CHECKING:
    from virt.driver.qemu.host import QemuHost

QEMU = ErrorDomain.QEMU
TAP_TYPES = ("bridge", "network", "ethernet")
_TUNSETIFF = 0x400454CA
_IFF_TAP, _IFF_NO_PI, _IFF_VNET_HDR, _IFF_MULTI_QUEUE = 0x0002, 0x1000, 0x4000, 0x0100


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
        from virt.driver.qemu.secondary import Secondary

        with Secondary(host.settings) as sec:
            return sec.bridge(X.get(net, "source", "network") or "")
    return None


def open_interface(host: QemuHost, net: Any, virt_type: str) -> dict[str, list[int]]:
    """Descriptors QEMU needs for interface ``net``: {"tap": [...], "vhost": [...]}; empty when it needs none."""
    if net.get("type") not in TAP_TYPES:
        return {}
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
        from virt.driver.qemu import bandwidth

        bandwidth.apply(net, name)
        vhost = virt_type == "kvm" and is_virtio(net) and X.get(net, "driver", "name") != "qemu"
        if vhost and os.path.exists("/dev/vhost-net"):
            fds["vhost"] = [os.open("/dev/vhost-net", os.O_RDWR | os.O_CLOEXEC) for _ in taps]
    except BaseException:
        close_fds(fds)
        raise
    target = net.find("target")
    if target is None:
        target = X.sub(net, "target")
    target.set("dev", name)
    return fds


def close_fds(fds: dict[str, list[int]]) -> None:
    for group in fds.values():
        for fd in group:
            with contextlib.suppress(OSError):
                os.close(fd)
