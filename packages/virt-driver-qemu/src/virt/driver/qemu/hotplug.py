"""Devices of running guests: hot-plug and unplug of disks and interfaces, vCPU hot-plug.

A device to plug gets the driver's defaults, address and alias exactly as at start (``prepare`` on
the live definition plus the device), and the same QEMU properties the command line would give it
(``blockdev``/``netdev`` builders), sent as ``blockdev-add``/``netdev-add`` and ``device_add``.
Unplugging asks QEMU (``device_del``) and waits for ``DEVICE_DELETED``, which needs the guest's
cooperation for PCI devices; as libvirt, a detach returns after a few seconds with the removal still
pending if the guest is slow, and the device goes away whenever the event comes.
"""

from __future__ import annotations

import contextlib
import logging
import re
from copy import deepcopy
from typing import TYPE_CHECKING, Any

from lxml import etree
from virt.core.enums import DomainEventID
from virt.driver.qemu import definition as D
from virt.driver.qemu import devacl
from virt.driver.qemu import lifecycle as L
from virt.driver.qemu import xmlutil as X
from virt.driver.qemu.state import DomainObj
from virt.util.errors import (
    ErrorDomain,
    ErrorNumber,
    OperationFailedError,
    OperationTimeoutError,
    OperationUnsupportedError,
    VirtError,
    XMLError,
)

if TYPE_CHECKING:
    from virt.driver.qemu.host import QemuHost

log = logging.getLogger(__name__)
QEMU = ErrorDomain.QEMU
E = etree._Element
#: How long a detach waits for the guest to let go of the device (libvirt waits 5 seconds).
UNPLUG_TIMEOUT = 5.0
#: Device kinds that can be plugged into a running guest.
LIVE_KINDS = ("disk", "interface")
#: Disk buses QEMU cannot unplug from.
FIXED_BUSES = ("ide", "fdc", "sd")


def devices_of(tree: E) -> E:
    devices = tree.find("devices")
    if devices is None:
        devices = X.sub(tree, "devices")
    return devices


def unplugging(obj: DomainObj) -> set[str]:
    return obj.unplugging


# ----------------------------------------------------------------------------------------- parsing
def parse_device(xml: str) -> E:
    """A device element, with libvirt's generic defaults and checks (a MAC for an interface...)."""
    from virt.conf import parse

    parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
    try:
        el = etree.fromstring(xml.encode() if isinstance(xml, str) else xml, parser)
    except etree.XMLSyntaxError as exc:
        raise XMLError(f"(device_definition):{exc.lineno}: {exc.msg}", code=ErrorNumber.XML_DETAIL) from None
    if el.tag not in X.DEVICE_ORDER or el.tag == "emulator":
        raise XMLError(f"unknown device type '{el.tag}'", code=ErrorNumber.XML_ERROR)
    alias = el.find("alias")
    wrapper = etree.fromstring("<domain type='qemu'><name>device</name><memory>1024</memory>"
                               "<os><type>hvm</type></os><devices/></domain>")
    devices_of(wrapper).append(deepcopy(el))
    model: Any = parse(wrapper, "domain", inactive=True)
    done = X.parse(model.format(inactive=True, secure=True))
    out = next((c for c in devices_of(done) if c.tag == el.tag), None)
    if out is None:
        raise XMLError(f"unsupported device '{el.tag}'")
    if alias is not None and out.find("alias") is None:
        out.append(deepcopy(alias))  # kept to find the device by alias (dropped from inactive XML)
    return out


def _mac(el: E) -> str:
    return (X.get(el, "mac", "address") or "").lower()


def find_device(tree: E, device: E) -> E:
    """The device of ``tree`` that ``device`` names (virDomainDeviceDefFind's matching rules)."""
    candidates = [d for d in devices_of(tree) if d.tag == device.tag]
    want_alias = X.get(device, "alias", "name")
    if want_alias:
        for d in candidates:
            if X.alias(d) == want_alias or X.get(d, "alias", "name") == want_alias:
                return d
    if device.tag == "disk":
        target = X.get(device, "target", "dev")
        for d in candidates:
            if X.get(d, "target", "dev") == target:
                return d
        raise OperationFailedError(f"disk {target} not found", domain=QEMU)
    if device.tag == "interface":
        mac = _mac(device)
        for d in candidates:
            if _mac(d) == mac:
                return d
        raise OperationFailedError(f"no device matching MAC address {mac} found", domain=QEMU)
    if device.tag == "controller":
        for d in candidates:
            if d.get("type") == device.get("type") and d.get("index", "0") == device.get("index", "0"):
                return d
    elif len(candidates) == 1:
        return candidates[0]
    raise OperationFailedError(f"matching {device.tag} device was not found", domain=QEMU)


def find_alias(tree: E, alias: str) -> E:
    for el in devices_of(tree).iter():
        if isinstance(el.tag, str) and (X.alias(el) == alias or
                                        (el.tag != "alias" and X.get(el, "alias", "name") == alias)):
            return el
    raise VirtError(f"no device found with alias {alias}", code=ErrorNumber.DEVICE_MISSING, domain=QEMU)


def config_attach(config: E, xml: str) -> E:
    """The persistent definition with one more device (completed by the caller)."""
    tree = deepcopy(config)
    el = parse_device(xml)
    alias = el.find("alias")
    if alias is not None and not (alias.get("name") or "").startswith("ua-"):
        el.remove(alias)
    _check_duplicate(tree, el)
    X.add_device(devices_of(tree), el)
    return tree


def _check_duplicate(tree: E, el: E) -> None:
    if el.tag == "disk":
        target = X.get(el, "target", "dev")
        if any(X.get(d, "target", "dev") == target for d in tree.findall("devices/disk")):
            raise OperationFailedError(f"target {target} already exists", domain=QEMU)
    elif el.tag == "interface":
        mac = _mac(el)
        if mac and any(_mac(d) == mac for d in tree.findall("devices/interface")):
            raise OperationFailedError(f"domain already has an interface with MAC address {mac}",
                                       domain=QEMU)


# ----------------------------------------------------------------------------------------- attach
def attach(host: QemuHost, obj: DomainObj, xml: str) -> None:
    """Plug a device into the running guest ``obj`` (caller holds the job)."""
    from pathlib import Path

    from virt.driver.qemu import volumes
    from virt.driver.qemu.command import Builder
    from virt.driver.qemu.prepare import assign_aliases, prepare
    from virt.driver.qemu.secondary import Secondary

    el = parse_device(xml)
    if el.tag not in LIVE_KINDS:
        raise OperationUnsupportedError(f"live attach of device '{el.tag}' is not supported", domain=QEMU)
    assert obj.live is not None
    user_alias = el.find("alias")
    if user_alias is not None:
        el.remove(user_alias)
        if (user_alias.get("name") or "").startswith("ua-"):
            X.set_alias(el, str(user_alias.get("name")))
    _check_duplicate(obj.live, el)
    mon = L.monitor(obj)
    tree = deepcopy(obj.live)
    X.add_device(devices_of(tree), el)
    caps = host.caps(obj.runtime.get("emulator") or D.emulator_for(tree))
    private = Path(obj.runtime["private_dir"])
    key = (private / "master-key.aes").read_bytes()
    with Secondary(host.settings) as sec:  # a pool volume disk: asked of the storage driver of the same URI
        dom = prepare(tree, caps, host.cfg, for_start=False, id=obj.id, master_key=key,
                      port_allocator=host.ports.allocate, volume_resolver=sec.volume)
        if el.tag == "disk":
            volumes.translate(dom, el)
    assign_aliases(dom)
    alias = X.alias(el) or ""
    builder = Builder(dom, str(private))
    controllers = _plug_controllers(obj, mon, builder, dom)
    group = L.cgroup_of(host, obj)
    try:
        if el.tag == "disk":
            allowed = devacl.allow_disk(group, el, obj.live, host.cfg)
            try:
                _plug_disk(obj, mon, builder, el)
            except VirtError:
                if allowed:
                    devacl.deny_disk(group, el, obj.live, host.cfg)
                raise
        else:
            _plug_interface(host, obj, mon, builder, el)
    except VirtError:
        for c in reversed(controllers):
            with contextlib.suppress(VirtError):
                mon.execute("device_del", {"id": X.alias(c)})
        raise
    with host.lock:
        for c in controllers:
            X.add_device(devices_of(obj.live), deepcopy(c))
        X.add_device(devices_of(obj.live), deepcopy(el))
    L.save_status(host, obj)
    host.emit("domain", DomainEventID.DEVICE_ADDED, obj.ref(), alias)


def _plug_controllers(obj: DomainObj, mon: Any, b: Any, dom: Any) -> list[E]:
    """Plug the controllers the new device needs that the guest lacks (a SCSI controller for a SCSI
    disk...), as the driver's defaults added them to the definition."""
    assert obj.live is not None
    have = {(c.get("type"), c.get("index", "0")) for c in obj.live.findall("devices/controller")}
    added = []
    for c in dom.controllers():
        if (c.get("type"), c.get("index", "0")) in have:
            continue
        props = b.controller_props(c)
        if props is None:
            raise OperationUnsupportedError(f"the {c.get('type')} controller the device needs cannot be "
                                            "plugged in", domain=QEMU)
        mon.execute("device_add", _clean(props))
        added.append(c)
    return added


def _run_all(mon: Any, commands: list[tuple[str, dict[str, Any]]], undo: list[tuple[str, dict[str, Any]]]) -> None:
    """Run ``commands``; on a failure run the ``undo`` entries of those that succeeded, newest first."""
    done: list[tuple[str, dict[str, Any]]] = []
    try:
        for (cmd, args), rollback in zip(commands, undo, strict=True):
            mon.execute(cmd, args)
            done.append(rollback)
    except VirtError:
        for cmd, args in reversed(done):
            with contextlib.suppress(VirtError):
                mon.execute(cmd, args)
        raise


def _clean(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if v is not None or k == "backing"}


def _plug_disk(obj: DomainObj, mon: Any, b: Any, el: E) -> None:
    from virt.driver.qemu import blockdev

    top = blockdev.chain(el)
    commands: list[tuple[str, dict[str, Any]]] = []
    undo: list[tuple[str, dict[str, Any]]] = []
    nodes: list[str] = []
    if top is not None:
        n = int(obj.runtime.get("next_node", 1))
        for src in blockdev.sources(top):
            src.id = n
            n += 1
        obj.runtime["next_node"] = n
        for src in reversed(blockdev.sources(top)):
            sp = blockdev.storage_props(b, src, el, for_top=src is top)
            fp = blockdev.format_props(b, src, el, top=src is top)
            for props in (sp, fp):
                commands.append(("blockdev-add", _clean(props)))
                undo.append(("blockdev-del", {"node-name": props["node-name"]}))
        nodes = [n for src in blockdev.sources(top)
                 for n in (f"libvirt-{src.id}-format", f"libvirt-{src.id}-storage")]
    device = _clean(blockdev.disk_device_props(b, el, top))
    commands.append(("device_add", device))
    undo.append(("device_del", {"id": device["id"]}))
    _run_all(mon, commands, undo)
    if nodes:
        X.set_priv(el, "nodes", " ".join(nodes))


def _plug_interface(host: QemuHost, obj: DomainObj, mon: Any, b: Any, el: E) -> None:
    from virt.driver.qemu import netdev, netplug

    alias = X.alias(el) or ""
    hostnet = _clean(netdev.hostnet_props(b, el, alias))
    fds = netplug.open_interface(host, el, obj.live.get("type", "") if obj.live is not None else "",
                                 (obj.name, str(obj.uuid)))
    try:
        _pass_fds(mon, hostnet, fds, alias)
        nic = _clean(netdev.nic_props(b, el, alias))
        _run_all(mon, [("netdev_add", hostnet), ("device_add", nic)],
                 [("netdev_del", {"id": hostnet["id"]}), ("device_del", {"id": alias})])
    except BaseException:
        from virt.driver.qemu import bandwidth

        netplug.close_fds(fds)
        with contextlib.suppress(VirtError):
            bandwidth.clear(el)
        netplug.release_interface(host, el)
        raise
    netplug.close_fds(fds)


def _pass_fds(mon: Any, hostnet: dict[str, Any], fds: dict[str, list[int]], alias: str) -> None:
    """Hand QEMU the interface's descriptors (getfd) and name them in its netdev's properties."""
    for key, name in (("fd", "tap"), ("fds", "tap"), ("vhostfd", "vhost"), ("vhostfds", "vhost")):
        if key in hostnet:
            names = []
            for i, fd in enumerate(fds.get(name, [])):
                fdname = f"{name}fd-{alias}-{i}"
                mon.execute("getfd", {"fdname": fdname}, fds=[fd])
                names.append(fdname)
            hostnet[key] = ":".join(names)


# ----------------------------------------------------------------------------------------- detach
def detach(host: QemuHost, obj: DomainObj, alias: str) -> None:
    """Ask QEMU to unplug device ``alias`` and wait a while for the guest to release it."""
    assert obj.live is not None
    el = find_alias(obj.live, alias)
    if el.tag not in LIVE_KINDS:
        raise OperationUnsupportedError(f"live detach of device '{el.tag}' is not supported", domain=QEMU)
    if el.tag == "disk" and X.get(el, "target", "bus") in FIXED_BUSES:
        raise OperationUnsupportedError(f"disk bus '{X.get(el, 'target', 'bus')}' cannot be hotunplugged.",
                                        domain=QEMU)
    mon = L.monitor(obj)
    with host.lock:
        obj.unplugging.add(alias)
    done = obj.expect(_deleted(alias))
    try:
        mon.execute("device_del", {"id": alias})
        done.wait(UNPLUG_TIMEOUT)
    finally:
        with host.lock:
            removed = done.is_set() and obj.active and obj.mon is mon
            obj.unplugging.discard(alias)
        obj.forget(done)
    if removed:
        finish_removal(host, obj, alias)


def finish_removal(host: QemuHost, obj: DomainObj, alias: str) -> None:
    """QEMU removed device ``alias``: release its back end and drop it from the live definition."""
    tree = obj.live
    if tree is None:
        return
    try:
        el = find_alias(tree, alias)
    except VirtError:
        return
    mon = obj.mon
    if mon is not None:
        if el.tag == "disk":
            for node in (X.priv(el, "nodes") or "").split():
                try:
                    mon.execute("blockdev-del", {"node-name": node})
                except VirtError as err:
                    log.debug("blockdev-del %s: %s", node, err)
            devacl.deny_disk(L.cgroup_of(host, obj), el, tree, host.cfg)
        elif el.tag == "interface":
            try:
                mon.execute("netdev_del", {"id": f"host{alias}"})
            except VirtError as err:
                log.debug("netdev_del host%s: %s", alias, err)
            from virt.driver.qemu import bandwidth, netplug

            try:
                bandwidth.clear(el)
            except VirtError as err:
                log.warning("cannot clear the bandwidth of %s: %s", alias, err)
            netplug.release_interface(host, el)
    with host.lock:
        parent = el.getparent()
        if parent is not None:
            parent.remove(el)
    L.save_status(host, obj)
    host.emit("domain", DomainEventID.DEVICE_REMOVED, obj.ref(), alias)


def disk_of_node(obj: DomainObj, node: str, device: str) -> tuple[str, str]:
    """(alias, source path) of the disk a block node or device belongs to (for I/O error events)."""
    tree = obj.live
    if tree is None:
        return device, ""
    for disk in tree.findall("devices/disk"):
        if node and node in (X.priv(disk, "nodes") or "").split() or (device and X.alias(disk) == device):
            src = disk.find("source")
            path = (src.get("file") or src.get("dev") or src.get("name") or "") if src is not None else ""
            return X.alias(disk) or device, path
    return device, ""


# ----------------------------------------------------------------------------------------- vcpus
def _slot_key(entry: dict[str, Any]) -> tuple[int, ...]:
    props = entry.get("props", {})
    return tuple(int(props.get(k, 0)) for k in ("node-id", "socket-id", "die-id", "core-id", "thread-id"))


def set_vcpus(host: QemuHost, obj: DomainObj, nvcpus: int) -> None:
    """Plug or unplug vCPUs until ``nvcpus`` are online (x86: one vCPU per hot-pluggable slot)."""
    assert obj.live is not None
    mon = L.monitor(obj)
    current, maximum = D.vcpus(obj.live)
    if nvcpus == current:
        return
    slots = sorted(mon.execute("query-hotpluggable-cpus"), key=_slot_key)
    if nvcpus > current:
        free = [s for s in slots if not s.get("qom-path")]
        plugged = len(slots) - len(free)
        for i, slot in enumerate(free[: nvcpus - current]):
            index = plugged + i
            args = {"driver": slot["type"], "id": f"vcpu{index}", **slot.get("props", {})}
            mon.execute("device_add", args)
            _set_current(host, obj, current + i + 1)
    else:
        ours = [s for s in slots if re.fullmatch(r"/machine/peripheral/vcpu\d+", str(s.get("qom-path", "")))]
        ours.sort(key=_slot_key, reverse=True)
        if len(ours) < current - nvcpus:
            raise OperationUnsupportedError("vcpus that were not hot-plugged cannot be unplugged", domain=QEMU)
        for i, slot in enumerate(ours[: current - nvcpus]):
            alias = str(slot["qom-path"]).rsplit("/", 1)[1]
            done = obj.expect(_deleted(alias))
            try:
                mon.execute("device_del", {"id": alias})
                if not done.wait(UNPLUG_TIMEOUT):
                    raise OperationTimeoutError("vcpu unplug request timed out. Unplug result must be manually "
                                                "inspected in the domain", domain=QEMU)
            finally:
                obj.forget(done)
            _set_current(host, obj, current - i - 1)


def _deleted(alias: str) -> Any:
    def match(name: str, data: dict[str, Any]) -> bool:
        return name == "DEVICE_DELETED" and data.get("device") == alias

    return match


def _set_current(host: QemuHost, obj: DomainObj, n: int) -> None:
    with host.lock:
        if obj.live is not None:
            D.set_vcpus(obj.live, current=n)
    L.save_status(host, obj)
