"""Reading a node file (libvirt's test-driver format) into a NodeState.

A node file is ``<node>`` with the host's ``<cpu>`` (nodes, sockets, cores, threads, active, mhz,
model) and ``<memory>``, then ``<domain>``, ``<network>``, ``<interface>``, ``<pool>`` (with its
``<volume>`` children), ``<device>`` and ``<auth><user password=...>`` elements. Any of those can
be ``<domain file='dom.xml'/>``, a file relative to the node file. Domains may carry the test
namespace (http://libvirt.org/schemas/domain/test/1.0): ``<test:runstate>``, ``<test:transient/>``,
``<test:hasmanagedsave/>`` and ``<test:domainsnapshot>``.
"""

from __future__ import annotations

import copy
import os
from importlib import resources
from typing import Any

from lxml import etree
from virt.core.drivers.test.errors import error
from virt.core.drivers.test.state import Cell, HostInfo, NodeState
from virt.util.errors import ErrorDomain, VirtError
from virt.util.errors import ErrorNumber as E

TEST_NS = "http://libvirt.org/schemas/domain/test/1.0"

#: <cpu> children that set NodeInfo fields, and the NodeInfo field each sets.
_CPU_FIELDS = {"nodes": "nodes", "sockets": "sockets", "cores": "cores", "threads": "threads", "mhz": "mhz"}


def load_default() -> NodeState:
    """The state of test:///default, from the node.xml shipped with the driver."""
    data = resources.files("virt.core.drivers.test").joinpath("node.xml").read_bytes()
    state = NodeState("/default")
    _load(state, etree.fromstring(data), None)
    return state


def load_file(path: str) -> NodeState:
    state = NodeState(path)
    _load(state, _parse_file(path, "node"), path)
    return state


def _parse_file(path: str, root: str) -> etree._Element:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (OSError, ValueError):  # ValueError: a path with a NUL byte (from the wire) opens nothing either
        raise error(E.XML_ERROR, f"failed to parse xml document '{path}'") from None
    try:
        el = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or 0
        raise VirtError(None, code=E.XML_DETAIL, domain=ErrorDomain.TEST,
                        message=f"{path}:{line}: {exc.msg}") from None
    if el.tag != root:
        raise error(E.XML_ERROR, f"expecting root element of '{root}', not '{el.tag}'", ErrorDomain.XML)
    return el


def _resolve(el: etree._Element, base: str | None, kind: str) -> etree._Element:
    """An element, or the root of the file its ``file`` attribute names (relative to the node file)."""
    name = el.get("file")
    if name is None:
        return el
    path = name if os.path.isabs(name) or base is None else os.path.join(os.path.dirname(base), name)
    return _parse_file(path, kind)


def _load(state: NodeState, root: etree._Element, path: str | None) -> None:
    if root.tag != "node":
        raise error(E.XML_ERROR, "Root element is not 'node'")
    state.host = _host_info(root)
    from virt.core.drivers.test import domains, interfaces, nodedevs, storage

    for el in root.findall("domain"):
        domains.load_domain(state, _resolve(el, path, "domain"), path)
    for el in root.findall("network"):
        _load_network(state, _resolve(el, path, "network"))
    for el in root.findall("interface"):
        defn = _conf(_resolve(el, path, "interface"), ErrorDomain.INTERFACE)
        state.interfaces[defn.name] = interfaces.interface_obj(defn, active=True)
    for el in root.findall("pool"):
        _load_pool(state, _resolve(el, path, "pool"), path, storage)
    for el in root.findall("device"):
        defn = _conf(_resolve(el, path, "device"), ErrorDomain.NODEDEV)
        state.nodedevs[defn.name] = nodedevs.NodeDevObj(defn, defn.name)
    for user in root.findall("auth/user"):
        name = (user.text or "").strip()
        if not name:
            raise error(E.XML_ERROR, "missing username in /node/auth/user field")
        state.auth_users.append((name, user.get("password")))


def _conf(el: etree._Element, domain: ErrorDomain) -> Any:
    from virt.conf import parse

    try:
        return parse(el)
    except VirtError as exc:
        if not exc.domain:
            exc.domain = domain
        raise


def _load_network(state: NodeState, el: etree._Element) -> None:
    from virt.core.drivers.test.state import NetworkObj

    defn = _conf(el, ErrorDomain.NETWORK)
    state.networks[defn.uuid] = NetworkObj(defn, defn.uuid, defn.name, active=True)


def _load_pool(state: NodeState, el: etree._Element, path: str | None, storage: Any) -> None:
    from virt.core.drivers.test.state import PoolObj

    pool_el = copy.deepcopy(el)
    volumes = pool_el.findall("volume")
    for vol in volumes:
        pool_el.remove(vol)
    defn = _conf(pool_el, ErrorDomain.STORAGE)
    storage.set_pool_sizes(defn, storage.POOL_CAPACITY, 0)
    pool = PoolObj(defn, defn.uuid, defn.name, active=True)
    state.pools[pool.uuid] = pool
    allocation = 0
    for vol_el in volumes:
        vol = storage.new_volume(pool, _resolve(vol_el, path, "volume"))
        pool.volumes[vol.name] = vol
        allocation += vol.defn.allocation_bytes
    storage.set_pool_sizes(defn, storage.POOL_CAPACITY, allocation)


def _host_info(root: etree._Element) -> HostInfo:
    """NodeInfo from <cpu> and <memory>, libvirt's defaults for what is absent; NUMA cells from
    <numa> (a virt extension: libvirt hard-codes the two cells of test:///default)."""
    host = HostInfo()
    for tag, attr in _CPU_FIELDS.items():
        value = _number(root, f"cpu/{tag}", f"invalid node cpu {tag} value")
        if value is not None:
            setattr(host, attr, value)
    host.cpus = host.cores * host.threads * host.sockets * host.nodes
    active = _number(root, "cpu/active", "invalid node cpu active value")
    if active is not None and active < host.cpus:
        host.cpus = active
    model = root.findtext("cpu/model")
    if model is not None:
        host.model = model
    memory = _number(root, "memory", "invalid node memory value")
    if memory is not None:
        host.memory = memory
    host.cells = [Cell(cpus=int(c.get("cpus", "0")), memory=int(c.get("memory", "0")),
                       free=int(c.get("free", "0"))) for c in root.findall("numa/cell")]
    return host


def _number(root: etree._Element, path: str, message: str) -> int | None:
    el = root.find(path)
    if el is None:
        return None
    try:
        return int((el.text or "").strip())
    except ValueError:
        raise error(E.XML_ERROR, message) from None
