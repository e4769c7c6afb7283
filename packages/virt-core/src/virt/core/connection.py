"""The public API: Connection and the objects it hands out (Domain, Network, StoragePool, ...).

Every call goes through ``Connection.call(name, *args)``, which picks the driver serving that
kind of object and enforces read-only connections; the objects are thin, typed wrappers.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, NamedTuple

from virt.core import sparse
from virt.core import types as t
from virt.core.driver import KINDS, Driver, c_name, call_kind, is_read_only_call
from virt.core.enums import DomainEventID, DomainState
from virt.core.events import Event, EventBus, aiter_events
from virt.core.registry import DriverRegistry, get_registry
from virt.core.uri import resolve
from virt.util.errors import ErrorDomain, ErrorNumber, InvalidArgError, NoSupportError, OperationDeniedError, VirtError

#: The error domain libvirt reports for a refused call, by the kind of object it is about.
_KIND_ERROR_DOMAIN = {
    "hypervisor": ErrorDomain.DOMAIN, "network": ErrorDomain.NETWORK, "storage": ErrorDomain.STORAGE,
    "nodedev": ErrorDomain.NODEDEV, "interface": ErrorDomain.INTERFACE, "secret": ErrorDomain.SECRET,
    "nwfilter": ErrorDomain.NWFILTER,
}


def _forward(call: str, doc: str = "") -> Callable[..., Any]:
    """A method passing the object's ref and the caller's arguments to driver call ``call``."""

    def method(self: _Object, *args: Any) -> Any:
        return self.conn.call(call, self.ref, *args)

    method.__name__ = call.split("_", 1)[1]
    method.__doc__ = doc or f"{c_name(call)}."
    return method


class Connection:
    """An open connection to one hypervisor driver, plus the secondary drivers of a local host.

    ``with Connection("test:///default") as conn: conn.lookup_domain("test").info()``
    """

    def __init__(self, uri: str | None = None, *, readonly: bool = False, flags: int = 0,
                 registry: DriverRegistry | None = None, auth: Callable[[list[list[Any]]], Any] | None = None) -> None:
        """``auth``: virConnectOpenAuth's callback, for drivers that log in (the remote driver's SASL):
        called with ``[type, prompt, challenge, defresult, result]`` lists, it fills each ``result``."""
        reg = registry or get_registry()
        self.uri = resolve(uri)
        self.readonly = readonly or bool(flags & 1)
        self.events = EventBus()
        info = reg.for_uri(self.uri)
        self.driver_name = info.name
        driver_cls = info.load()
        # Only drivers that log in (the remote driver) take the callback; the others never ask.
        extra = {"auth": auth} if auth is not None and "auth" in inspect.signature(driver_cls).parameters else {}
        self._hv: Driver = driver_cls(self.uri, readonly=self.readonly, events=self.events, **extra)
        self._drivers: dict[str, Driver] = {k: self._hv for k in self._hv.kinds}
        if not self.uri.is_remote:
            for kind in KINDS:
                if kind not in self._drivers and (sec := reg.secondary_for(kind)) is not None:
                    self._drivers[kind] = sec.load()(self.uri, readonly=self.readonly, events=self.events)
        self._closed = False

    # -- plumbing ------------------------------------------------------------------------------
    def call(self, name: str, *args: Any) -> Any:
        """Make driver call ``name`` (libvirt's API name in snake case) on the driver that serves it."""
        if self._closed:
            raise VirtError("connection is closed", code=ErrorNumber.INVALID_CONN,
                            message=f"invalid connection pointer in {c_name(name)}")
        if self.readonly and not is_read_only_call(name):
            raise OperationDeniedError(f"read only access prevents {c_name(name)}",
                                       domain=_KIND_ERROR_DOMAIN.get(call_kind(name), ErrorDomain.NONE))
        driver = self._drivers.get(call_kind(name))
        if driver is None:
            raise NoSupportError(c_name(name))
        return getattr(driver, name)(*args)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            for driver in {id(d): d for d in self._drivers.values()}.values():
                driver.close()
            self.events.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the host --------------------------------------------------------------------------------
    def get_type(self) -> str:
        return str(self.call("connect_get_type"))

    def get_version(self) -> int:
        return int(self.call("connect_get_version"))

    def get_lib_version(self) -> int:
        return int(self.call("connect_get_lib_version"))

    def get_hostname(self) -> str:
        return str(self.call("connect_get_hostname"))

    def get_uri(self) -> str:
        return str(self.call("connect_get_uri"))

    def get_capabilities(self) -> str:
        return str(self.call("connect_get_capabilities"))

    def get_domain_capabilities(self, emulator: str | None = None, arch: str | None = None,
                                machine: str | None = None, virttype: str | None = None, flags: int = 0) -> str:
        return str(self.call("connect_get_domain_capabilities", emulator, arch, machine, virttype, flags))

    def find_storage_pool_sources(self, type: str, src_spec: str | None = None, flags: int = 0) -> str:
        """A ``<sources>`` document of the pools of ``type`` the host could use (virConnectFindStoragePoolSources)."""
        return str(self.call("connect_find_storage_pool_sources", type, src_spec, flags))

    def get_max_vcpus(self, type: str | None = None) -> int:
        return int(self.call("connect_get_max_vcpus", type))

    def node_info(self) -> t.NodeInfo:
        return t.NodeInfo(*self.call("node_get_info"))

    def free_memory(self) -> int:
        """Free host memory in bytes."""
        return int(self.call("node_get_free_memory"))

    def get_sysinfo(self, flags: int = 0) -> str:
        return str(self.call("connect_get_sysinfo", flags))

    def is_alive(self) -> bool:
        return not self._closed

    def is_secure(self) -> bool:
        return bool(self.call("connect_is_secure"))

    def is_encrypted(self) -> bool:
        return bool(self.call("connect_is_encrypted"))

    def domain_xml_to_native(self, native_format: str, xml: str, flags: int = 0) -> str:
        return str(self.call("connect_domain_xml_to_native", native_format, xml, flags))

    def domain_xml_from_native(self, native_format: str, config: str, flags: int = 0) -> str:
        return str(self.call("connect_domain_xml_from_native", native_format, config, flags))

    # -- domains ---------------------------------------------------------------------------------
    def list_all_domains(self, flags: int = 0) -> list[Domain]:
        return [Domain(self, r) for r in self.call("connect_list_all_domains", flags)]

    def lookup_domain(self, key: str | int) -> Domain:
        """By name, UUID or id, as virsh resolves a domain argument: id, then UUID, then name."""
        if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
            try:
                return self.lookup_domain_by_id(int(key))
            except VirtError as exc:
                if exc.code != ErrorNumber.NO_DOMAIN:
                    raise
        if isinstance(key, str) and _looks_like_uuid(key):
            try:
                return self.lookup_domain_by_uuid(key)
            except VirtError as exc:
                if exc.code != ErrorNumber.NO_DOMAIN:
                    raise
        return self.lookup_domain_by_name(str(key))

    def lookup_domain_by_name(self, name: str) -> Domain:
        return Domain(self, self.call("domain_lookup_by_name", name))

    def lookup_domain_by_uuid(self, uuid: str) -> Domain:
        return Domain(self, self.call("domain_lookup_by_uuid", uuid))

    def lookup_domain_by_id(self, id: int) -> Domain:
        return Domain(self, self.call("domain_lookup_by_id", id))

    def define_domain(self, xml: str, flags: int = 0) -> Domain:
        return Domain(self, self.call("domain_define_xml_flags", xml, flags))

    def create_domain(self, xml: str, flags: int = 0) -> Domain:
        """Start a transient domain (virDomainCreateXML)."""
        return Domain(self, self.call("domain_create_xml", xml, flags))

    def create_domain_with_files(self, xml: str, files: list[int], flags: int = 0) -> Domain:
        """Start a transient domain whose init gets ``files`` (virDomainCreateXMLWithFiles: LXC)."""
        return Domain(self, self.call("domain_create_xml_with_files", xml, list(files), flags))

    def restore_domain(self, path: str, dxml: str | None = None, flags: int = 0) -> None:
        self.call("domain_restore_flags", path, dxml, flags)

    def get_all_domain_stats(self, stats: int = 0, flags: int = 0) -> list[t.DomainStatsRecord]:
        return [t.DomainStatsRecord(Domain(self, r.dom), r.params)  # type: ignore[arg-type]
                for r in self.call("connect_get_all_domain_stats", stats, flags)]

    # -- networks, storage, devices, secrets, filters ------------------------------------------
    def list_all_networks(self, flags: int = 0) -> list[Network]:
        return [Network(self, r) for r in self.call("connect_list_all_networks", flags)]

    def lookup_network(self, key: str) -> Network:
        return self._lookup(Network, "network", key)

    def define_network(self, xml: str, flags: int = 0) -> Network:
        return Network(self, self.call("network_define_xml_flags", xml, flags))

    def create_network(self, xml: str, flags: int = 0) -> Network:
        return Network(self, self.call("network_create_xml_flags", xml, flags))

    def list_all_storage_pools(self, flags: int = 0) -> list[StoragePool]:
        return [StoragePool(self, r) for r in self.call("connect_list_all_storage_pools", flags)]

    def lookup_storage_pool(self, key: str) -> StoragePool:
        return self._lookup(StoragePool, "storage_pool", key)

    def define_storage_pool(self, xml: str, flags: int = 0) -> StoragePool:
        return StoragePool(self, self.call("storage_pool_define_xml", xml, flags))

    def create_storage_pool(self, xml: str, flags: int = 0) -> StoragePool:
        return StoragePool(self, self.call("storage_pool_create_xml", xml, flags))

    def lookup_storage_vol_by_path(self, path: str) -> StorageVolume:
        return StorageVolume(self, self.call("storage_vol_lookup_by_path", path))

    def lookup_storage_vol_by_key(self, key: str) -> StorageVolume:
        return StorageVolume(self, self.call("storage_vol_lookup_by_key", key))

    def list_all_node_devices(self, flags: int = 0) -> list[NodeDevice]:
        return [NodeDevice(self, r) for r in self.call("connect_list_all_node_devices", flags)]

    def lookup_node_device(self, name: str) -> NodeDevice:
        return NodeDevice(self, self.call("node_device_lookup_by_name", name))

    def create_node_device(self, xml: str, flags: int = 0) -> NodeDevice:
        return NodeDevice(self, self.call("node_device_create_xml", xml, flags))

    def list_all_interfaces(self, flags: int = 0) -> list[Interface]:
        return [Interface(self, r) for r in self.call("connect_list_all_interfaces", flags)]

    def lookup_interface(self, key: str) -> Interface:
        if _looks_like_mac(key):
            return Interface(self, self.call("interface_lookup_by_mac_string", key))
        return Interface(self, self.call("interface_lookup_by_name", key))

    def define_interface(self, xml: str, flags: int = 0) -> Interface:
        return Interface(self, self.call("interface_define_xml", xml, flags))

    def list_all_secrets(self, flags: int = 0) -> list[Secret]:
        return [Secret(self, r) for r in self.call("connect_list_all_secrets", flags)]

    def lookup_secret(self, uuid: str) -> Secret:
        return Secret(self, self.call("secret_lookup_by_uuid", uuid))

    def lookup_secret_by_usage(self, usage_type: int, usage_id: str) -> Secret:
        return Secret(self, self.call("secret_lookup_by_usage", usage_type, usage_id))

    def define_secret(self, xml: str, flags: int = 0) -> Secret:
        return Secret(self, self.call("secret_define_xml", xml, flags))

    def list_all_nwfilters(self, flags: int = 0) -> list[NWFilter]:
        return [NWFilter(self, r) for r in self.call("connect_list_all_nwfilters", flags)]

    def lookup_nwfilter(self, key: str) -> NWFilter:
        return self._lookup(NWFilter, "nwfilter", key)

    def define_nwfilter(self, xml: str, flags: int = 0) -> NWFilter:
        return NWFilter(self, self.call("nwfilter_define_xml_flags", xml, flags))

    def new_stream(self, flags: int = 0) -> Stream:
        """virStreamNew: a stream to hand to a stream call (``vol.upload(stream, ...)``, ``vol.download``).

        A driver that talks to a daemon makes its own (``stream_new``); for in-process drivers the
        stream is a :class:`LocalStream` the driver attaches its data source or sink to.
        """
        driver = self._drivers.get("hypervisor") or next(iter(self._drivers.values()))
        try:
            impl = driver.stream_new(flags)
        except NoSupportError:
            impl = LocalStream(flags)
        return Stream(self, impl, flags)

    def _lookup(self, cls: type[_O], prefix: str, key: str) -> _O:
        """By UUID when it looks like one and matches, else by name (virsh's order)."""
        if _looks_like_uuid(key):
            try:
                return cls(self, self.call(f"{prefix}_lookup_by_uuid", key))
            except VirtError as exc:
                if exc.code not in (ErrorNumber.NO_NETWORK, ErrorNumber.NO_STORAGE_POOL, ErrorNumber.NO_NWFILTER):
                    raise
        return cls(self, self.call(f"{prefix}_lookup_by_name", key))

    # -- events ----------------------------------------------------------------------------------
    def domain_event_register(self, event_id: int, callback: Callable[[Event], None],
                              dom: Domain | None = None) -> int:
        """Call ``callback(event)`` for each domain event of ``event_id`` (of ``dom`` only, if given)."""
        self.call("connect_domain_event_register_any", int(event_id))
        return self.events.subscribe("domain", event_id, callback, dom.ref if dom else None)

    def event_deregister(self, callback_id: int) -> None:
        if not self.events.unsubscribe(callback_id):
            raise InvalidArgError(f"callback ID {callback_id} not registered")

    def domain_events(self, event_id: int = DomainEventID.LIFECYCLE, dom: Domain | None = None) -> AsyncIterator[Event]:
        """``async for ev in conn.domain_events(): ...`` in a running asyncio loop."""
        self.call("connect_domain_event_register_any", int(event_id))
        return aiter_events(self.events, "domain", event_id, dom.ref if dom else None)

    def network_event_register(self, event_id: int, callback: Callable[[Event], None],
                               net: Network | None = None) -> int:
        return self._event_register("network", event_id, callback, net)

    def storage_pool_event_register(self, event_id: int, callback: Callable[[Event], None],
                                    pool: StoragePool | None = None) -> int:
        return self._event_register("storage_pool", event_id, callback, pool)

    def node_device_event_register(self, event_id: int, callback: Callable[[Event], None],
                                   dev: NodeDevice | None = None) -> int:
        return self._event_register("node_device", event_id, callback, dev)

    def secret_event_register(self, event_id: int, callback: Callable[[Event], None],
                              secret: Secret | None = None) -> int:
        return self._event_register("secret", event_id, callback, secret)

    def _event_register(self, kind: str, event_id: int, callback: Callable[[Event], None], obj: _Object | None) -> int:
        """Ask the driver for ``kind`` events (connect_<kind>_event_register_any), then route them to ``callback``."""
        self.call(f"connect_{kind}_event_register_any", int(event_id))
        return self.events.subscribe(kind, event_id, callback, obj.ref if obj else None)


class _Object:
    """A handle on one object of a connection: its driver ref and its connection."""

    __slots__ = ("conn", "ref")

    def __init__(self, conn: Connection, ref: Any) -> None:
        self.conn, self.ref = conn, ref

    def name(self) -> str:
        return str(self.ref.name)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.ref == self.ref  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self.ref)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.ref!r}>"


class Domain(_Object):
    __slots__ = ()

    def uuid(self) -> str:
        return str(self.ref.uuid)

    def id(self) -> int:
        """The running id, or -1 when the domain is not running (re-read from the driver)."""
        return int(self.conn.call("domain_lookup_by_uuid", self.ref.uuid).id)

    def info(self) -> t.DomainInfo:
        return t.DomainInfo(*self.conn.call("domain_get_info", self.ref))

    def state(self, flags: int = 0) -> tuple[DomainState, int]:
        state, reason = self.conn.call("domain_get_state", self.ref, flags)
        return DomainState(state), int(reason)

    def is_active(self) -> bool:
        return bool(self.conn.call("domain_is_active", self.ref))

    def is_persistent(self) -> bool:
        return bool(self.conn.call("domain_is_persistent", self.ref))

    def xml_desc(self, flags: int = 0) -> str:
        return str(self.conn.call("domain_get_xml_desc", self.ref, flags))

    def create(self, flags: int = 0) -> None:
        """Start the defined domain (virDomainCreateWithFlags)."""
        self.ref = self.conn.call("domain_create_with_flags", self.ref, flags) or self.ref

    def create_with_files(self, files: list[int], flags: int = 0) -> None:
        """Start the defined domain, its init getting ``files`` (virDomainCreateWithFiles: LXC)."""
        self.ref = self.conn.call("domain_create_with_files", self.ref, list(files), flags) or self.ref

    def open_graphics_fd(self, idx: int = 0, flags: int = 0) -> int:
        """A socket connected to graphics device ``idx`` (VNC, SPICE): virDomainOpenGraphicsFD.
        The caller owns the descriptor."""
        return int(self.conn.call("domain_open_graphics_fd", self.ref, idx, flags))

    def fd_associate(self, name: str, files: list[int], flags: int = 0) -> None:
        """Hand ``files`` to the hypervisor under ``name`` (virDomainFDAssociate)."""
        self.conn.call("domain_fd_associate", self.ref, name, list(files), flags)

    def get_autostart(self) -> bool:
        return bool(self.conn.call("domain_get_autostart", self.ref))

    def snapshots(self, flags: int = 0) -> list[DomainSnapshot]:
        return [DomainSnapshot(self.conn, r) for r in self.conn.call("domain_list_all_snapshots", self.ref, flags)]

    def snapshot_lookup(self, name: str, flags: int = 0) -> DomainSnapshot:
        return DomainSnapshot(self.conn, self.conn.call("domain_snapshot_lookup_by_name", self.ref, name, flags))

    def snapshot_create(self, xml: str, flags: int = 0) -> DomainSnapshot:
        return DomainSnapshot(self.conn, self.conn.call("domain_snapshot_create_xml", self.ref, xml, flags))

    def snapshot_current(self, flags: int = 0) -> DomainSnapshot:
        return DomainSnapshot(self.conn, self.conn.call("domain_snapshot_current", self.ref, flags))

    destroy = _forward("domain_destroy_flags", "Stop the domain at once (flags: DomainDestroyFlags).")
    shutdown = _forward("domain_shutdown_flags", "Ask the guest to shut down (flags: DomainShutdownFlags).")
    reboot = _forward("domain_reboot", "Ask the guest to reboot (flags: DomainRebootFlags).")
    reset = _forward("domain_reset", "Reset the domain as a power-cycle would.")
    suspend = _forward("domain_suspend", "Pause the domain's CPUs.")
    resume = _forward("domain_resume", "Resume a paused domain.")
    undefine = _forward("domain_undefine_flags", "Remove the persistent config (flags: DomainUndefineFlags).")
    set_autostart = _forward("domain_set_autostart")
    set_memory = _forward("domain_set_memory_flags", "Set memory in KiB (flags: DomainMemoryModFlags).")
    set_max_memory = _forward("domain_set_max_memory", "Set the maximum memory in KiB.")
    set_vcpus = _forward("domain_set_vcpus_flags", "Set the number of vCPUs (flags: DomainVcpuFlags).")
    get_vcpus = _forward("domain_get_vcpus_flags", "Number of vCPUs (flags: DomainVcpuFlags).")
    get_max_vcpus = _forward("domain_get_max_vcpus")
    managed_save = _forward("domain_managed_save")
    has_managed_save = _forward("domain_has_managed_save_image")
    managed_save_remove = _forward("domain_managed_save_remove")
    save = _forward("domain_save_flags", "Save the running state to a file and stop the domain.")
    core_dump = _forward("domain_core_dump_with_format")
    screenshot = _forward("domain_screenshot")
    attach_device = _forward("domain_attach_device_flags", "Hot-plug and/or add a device to the config.")
    detach_device = _forward("domain_detach_device_flags")
    update_device = _forward("domain_update_device_flags")
    detach_device_alias = _forward("domain_detach_device_alias")
    block_stats = _forward("domain_block_stats")
    interface_stats = _forward("domain_interface_stats")
    memory_stats = _forward("domain_memory_stats")
    get_block_info = _forward("domain_get_block_info")
    get_job_info = _forward("domain_get_job_info")
    get_hostname = _forward("domain_get_hostname")
    get_metadata = _forward("domain_get_metadata")
    set_metadata = _forward("domain_set_metadata")
    send_key = _forward("domain_send_key")
    rename = _forward("domain_rename")
    open_console = _forward("domain_open_console")
    # The guest agent and the QEMU monitor (libvirt-qemu's calls and the agent-backed ones).
    qemu_agent_command = _forward("domain_qemu_agent_command",
                                  "A raw guest-agent command (JSON text) and its reply: (cmd, timeout, flags).")
    qemu_monitor_command = _forward("domain_qemu_monitor_command", "A raw QMP/HMP command: (cmd, flags).")
    qemu_monitor_command_with_files = _forward("domain_qemu_monitor_command_with_files",
                                               "A QMP command with descriptors: (cmd, fds, flags).")
    get_time = _forward("domain_get_time", "The guest's clock as (seconds, nseconds).")
    set_time = _forward("domain_set_time", "Set the guest's clock: (seconds, nseconds, flags).")
    set_user_password = _forward("domain_set_user_password", "(user, password, flags).")
    get_guest_info = _forward("domain_get_guest_info", "Agent-reported facts as typed parameters: (types, flags).")
    get_guest_vcpus = _forward("domain_get_guest_vcpus", "The guest's vCPU states as typed parameters.")
    set_guest_vcpus = _forward("domain_set_guest_vcpus", "(cpumap text, state, flags).")
    fsfreeze = _forward("domain_fsfreeze", "Freeze the guest's file systems: (mountpoints, flags) -> count.")
    fsthaw = _forward("domain_fsthaw", "Thaw the guest's file systems: (mountpoints, flags) -> count.")
    interface_addresses = _forward("domain_interface_addresses",
                                   "[(name, hwaddr, [(type, addr, prefix)])]: (source, flags).")
    set_lifecycle_action = _forward("domain_set_lifecycle_action", "(type, action, flags).")


class DomainSnapshot(_Object):
    __slots__ = ()

    def domain(self) -> Domain:
        return Domain(self.conn, self.ref.dom)

    def xml_desc(self, flags: int = 0) -> str:
        return str(self.conn.call("domain_snapshot_get_xml_desc", self.ref, flags))

    def children(self, flags: int = 0) -> list[DomainSnapshot]:
        return [DomainSnapshot(self.conn, r) for r in self.conn.call("domain_snapshot_list_all_children", self.ref, flags)]

    def parent(self, flags: int = 0) -> DomainSnapshot:
        return DomainSnapshot(self.conn, self.conn.call("domain_snapshot_get_parent", self.ref, flags))

    revert = _forward("domain_revert_to_snapshot")
    delete = _forward("domain_snapshot_delete")
    is_current = _forward("domain_snapshot_is_current")
    has_metadata = _forward("domain_snapshot_has_metadata")


class Network(_Object):
    __slots__ = ()

    def uuid(self) -> str:
        return str(self.ref.uuid)

    def xml_desc(self, flags: int = 0) -> str:
        return str(self.conn.call("network_get_xml_desc", self.ref, flags))

    def dhcp_leases(self, mac: str | None = None, flags: int = 0) -> list[t.NetworkDHCPLease]:
        return [t.NetworkDHCPLease(*lease) for lease in self.conn.call("network_get_dhcp_leases", self.ref, mac, flags)]

    create = _forward("network_create")
    destroy = _forward("network_destroy")
    undefine = _forward("network_undefine")
    is_active = _forward("network_is_active")
    is_persistent = _forward("network_is_persistent")
    get_autostart = _forward("network_get_autostart")
    set_autostart = _forward("network_set_autostart")
    bridge_name = _forward("network_get_bridge_name")
    update = _forward("network_update")


class StoragePool(_Object):
    __slots__ = ()

    def uuid(self) -> str:
        return str(self.ref.uuid)

    def info(self) -> t.StoragePoolInfo:
        return t.StoragePoolInfo(*self.conn.call("storage_pool_get_info", self.ref))

    def xml_desc(self, flags: int = 0) -> str:
        return str(self.conn.call("storage_pool_get_xml_desc", self.ref, flags))

    def list_all_volumes(self, flags: int = 0) -> list[StorageVolume]:
        return [StorageVolume(self.conn, r) for r in self.conn.call("storage_pool_list_all_volumes", self.ref, flags)]

    def lookup_volume(self, name: str) -> StorageVolume:
        return StorageVolume(self.conn, self.conn.call("storage_vol_lookup_by_name", self.ref, name))

    def create_volume(self, xml: str, flags: int = 0) -> StorageVolume:
        return StorageVolume(self.conn, self.conn.call("storage_vol_create_xml", self.ref, xml, flags))

    def clone_volume(self, xml: str, source: StorageVolume, flags: int = 0) -> StorageVolume:
        return StorageVolume(self.conn, self.conn.call("storage_vol_create_xml_from", self.ref, xml, source.ref, flags))

    create = _forward("storage_pool_create")
    build = _forward("storage_pool_build")
    destroy = _forward("storage_pool_destroy")
    delete = _forward("storage_pool_delete")
    undefine = _forward("storage_pool_undefine")
    refresh = _forward("storage_pool_refresh")
    is_active = _forward("storage_pool_is_active")
    is_persistent = _forward("storage_pool_is_persistent")
    get_autostart = _forward("storage_pool_get_autostart")
    set_autostart = _forward("storage_pool_set_autostart")


class StorageVolume(_Object):
    __slots__ = ()

    def key(self) -> str:
        return str(self.ref.key)

    def pool(self) -> StoragePool:
        return StoragePool(self.conn, self.conn.call("storage_pool_lookup_by_volume", self.ref))

    def info(self, flags: int = 0) -> t.StorageVolInfo:
        return t.StorageVolInfo(*self.conn.call("storage_vol_get_info_flags", self.ref, flags))

    def xml_desc(self, flags: int = 0) -> str:
        return str(self.conn.call("storage_vol_get_xml_desc", self.ref, flags))

    def path(self) -> str:
        return str(self.conn.call("storage_vol_get_path", self.ref))

    def upload(self, stream: Stream | Any, offset: int = 0, length: int = 0, flags: int = 0) -> None:
        """Write what is sent on ``stream`` into the volume from ``offset`` (``length`` 0: no limit).

        Then ``stream.send_all(file)`` (or ``send``) and ``stream.finish()``. flags: StorageVolUploadFlags.
        """
        self.conn.call("storage_vol_upload", self.ref, _stream_impl(stream), offset, length, flags)

    def download(self, stream: Stream | Any, offset: int = 0, length: int = 0, flags: int = 0) -> None:
        """Make the volume's data from ``offset`` (``length`` 0: to the end) readable on ``stream``.

        Then ``stream.recv_all(file)`` (or ``recv``) and ``stream.finish()``.
        """
        self.conn.call("storage_vol_download", self.ref, _stream_impl(stream), offset, length, flags)

    def job_info(self) -> VolumeJobInfo | None:
        """Progress of a long operation running on the volume (wipe, clone, upload, download), or None.

        Asked from another thread while the operation runs; drivers that cannot tell raise NoSupportError.
        """
        info = self.conn.call("storage_vol_get_job_info", self.ref)
        return VolumeJobInfo(*info) if info is not None else None

    delete = _forward("storage_vol_delete")
    wipe = _forward("storage_vol_wipe")
    resize = _forward("storage_vol_resize")


class VolumeJobInfo(NamedTuple):
    """What a volume's long operation has done: ``operation`` ("wipe", "clone", "upload",
    "download"), bytes ``processed`` so far of ``total`` (0 when the total is not known)."""

    operation: str
    processed: int
    total: int


class LocalStream:
    """The stream of an in-process driver: the data source or sink the driver attaches, used directly.

    The driver's stream call receives it where libvirt's API takes the stream
    (``storage_vol_upload(vol, stream, offset, length, flags)``) and calls
    ``stream.attach(source=f)`` (``f.read(n)``, ``b""`` at the end) or ``stream.attach(sink=f)``
    (``f.write(data)``), as it does for the daemon's :class:`~virt.core.remote.stream.ServerStream`.
    ``finish`` calls ``close()`` on it, ``abort`` calls ``abort()`` (or ``close()``).
    """

    def __init__(self, flags: int = 0) -> None:
        self.flags = flags
        self.source: Any = None
        self.sink: Any = None
        self._done = False

    def attach(self, source: Any = None, sink: Any = None) -> None:
        if self.source is not None or self.sink is not None:
            raise VirtError("virStreamNew", code=ErrorNumber.INVALID_STREAM)
        self.source, self.sink = source, sink

    def _check(self, end: Any, what: str) -> Any:
        if self._done or end is None:
            raise VirtError(f"virStream{what.capitalize()}", code=ErrorNumber.INVALID_STREAM)
        return end

    def send(self, data: bytes) -> int:
        self._check(self.sink, "send").write(bytes(data))
        return len(data)

    def recv(self, nbytes: int | None = None) -> bytes:
        return bytes(self._check(self.source, "recv").read(nbytes or _CHUNK))

    def recv_flags(self, nbytes: int | None = None, flags: int = 0) -> bytes | int:
        """As ``recv``; with STREAM_RECV_STOP_AT_HOLE, HOLE where a source that knows its holes has one."""
        source = self._check(self.source, "recv")
        in_data = getattr(source, "in_data", None)
        want = nbytes or _CHUNK
        if in_data is not None and flags & sparse.STREAM_RECV_STOP_AT_HOLE:
            data_here, length = in_data()
            if not data_here and length > 0:
                return sparse.HOLE
            if data_here and length > 0:
                want = min(want, length)
        return bytes(source.read(want))

    def recv_hole(self, flags: int = 0) -> int:
        source = self._check(self.source, "recv")
        in_data = getattr(source, "in_data", None)
        if in_data is None:
            return 0
        data_here, length = in_data()
        if data_here or length <= 0:
            return 0
        source.skip(length)
        return int(length)

    def send_hole(self, length: int, flags: int = 0) -> None:
        sink = self._check(self.sink, "sendHole")
        hole = getattr(sink, "hole", None)
        if hole is not None:
            hole(length)
        else:
            zeros = bytes(min(length, _CHUNK))
            while length > 0:
                sink.write(zeros[: min(length, _CHUNK)])
                length -= _CHUNK

    def finish(self) -> None:
        if not self._done:
            self._done = True
            close = getattr(self.sink or self.source, "close", None)
            if close is not None:
                close()

    def abort(self) -> None:
        if not self._done:
            self._done = True
            end = self.sink or self.source
            stop = getattr(end, "abort", None) or getattr(end, "close", None)
            if stop is not None:
                stop()


#: Bytes moved per send/recv by send_all/recv_all (libvirt's stream packet size).
_CHUNK = 256 * 1024


class Stream:
    """virStream: data flowing to (upload) or from (download) a stream call of the same connection.

    ``st = conn.new_stream(); vol.download(st); st.recv_all(open("out", "wb")); st.finish()``.
    ``send``/``recv`` move one piece; ``send_all``/``recv_all`` move everything; then ``finish()``
    (which reports a failure of the other end) or ``abort()``.
    """

    def __init__(self, conn: Connection, impl: Any, flags: int = 0) -> None:
        self.conn = conn
        self.impl = impl
        self.flags = flags

    def send(self, data: bytes) -> int:
        """Send ``data``; returns the number of bytes sent."""
        return int(self.impl.send(data))

    def recv(self, nbytes: int = _CHUNK) -> bytes:
        """Up to ``nbytes`` of data; ``b""`` at the end of the data."""
        return bytes(self.impl.recv(nbytes))

    def __iter__(self) -> Iterator[bytes]:
        """The data as it comes, until its end (``b"".join(stream)``)."""
        while data := self.impl.recv(_CHUNK):
            yield bytes(data)

    def send_all(self, source: Any, progress: Callable[[int], None] | None = None) -> int:
        """Send everything ``source`` gives: a binary file or ``source(nbytes) -> bytes`` (``b""`` at the end).

        ``progress(total_sent)`` is called after each piece. On a failure of ``source`` the stream is
        aborted and the error raised. Returns the number of bytes sent (then call ``finish()``).
        """
        read = getattr(source, "read", source)
        total = 0
        try:
            while data := read(_CHUNK):
                self.impl.send(data)
                total += len(data)
                if progress is not None:
                    progress(total)
        except BaseException:
            self.abort()
            raise
        return total

    def recv_all(self, sink: Any, progress: Callable[[int], None] | None = None) -> int:
        """Receive until the end of the data into ``sink``: a binary file or ``sink(data)``.

        ``progress(total_received)`` is called after each piece. On a failure of ``sink`` the
        stream is aborted and the error raised. Returns the number of bytes received.
        """
        write = getattr(sink, "write", sink)
        total = 0
        try:
            while data := self.impl.recv(_CHUNK):
                write(data)
                total += len(data)
                if progress is not None:
                    progress(total)
        except BaseException:
            self.abort()
            raise
        return total

    def recv_flags(self, nbytes: int = _CHUNK, flags: int = 0) -> bytes | int:
        """virStreamRecvFlags: as :meth:`recv`; with ``STREAM_RECV_STOP_AT_HOLE`` (1) it returns
        ``-3`` instead of a hole's zeros, and :meth:`recv_hole` says how long the hole is."""
        data = self.impl.recv_flags(nbytes, flags)
        return data if isinstance(data, int) else bytes(data)

    def recv_hole(self, flags: int = 0) -> int:
        """virStreamRecvHole: the length of the hole :meth:`recv_flags` stopped at (0: none)."""
        return int(self.impl.recv_hole(flags))

    def send_hole(self, length: int, flags: int = 0) -> None:
        """virStreamSendHole: ``length`` bytes of zeros the other end gets as a hole (sparse streams)."""
        self.impl.send_hole(length, flags)

    def sparse_recv_all(self, sink: Any, hole: Callable[[int], None] | None = None,
                        progress: Callable[[int], None] | None = None) -> int:  # fmt: skip
        """virStreamSparseRecvAll: data to ``sink`` (a file-like ``write`` or a callable) and holes to
        ``hole(length)`` (default: ``sink.hole``), until the end of the data.

        ``progress(total)`` counts data and holes. On a failure the stream is aborted and the error
        raised. Returns the number of bytes received, holes included.
        """
        write = getattr(sink, "write", sink)
        on_hole = hole if hole is not None else sink.hole
        total = 0
        try:
            while True:
                data = self.impl.recv_flags(_CHUNK, sparse.STREAM_RECV_STOP_AT_HOLE)
                if isinstance(data, int):
                    length = int(self.impl.recv_hole(0))
                    on_hole(length)
                    total += length
                elif data:
                    write(data)
                    total += len(data)
                else:
                    return total
                if progress is not None:
                    progress(total)
        except BaseException:
            self.abort()
            raise

    def sparse_send_all(self, source: Any, progress: Callable[[int], None] | None = None) -> int:
        """virStreamSparseSendAll: send ``source`` with its holes as holes.

        ``source`` is an object with ``read(n)``, ``in_data() -> (in data?, bytes until that
        changes)`` and ``skip(n)`` (the contract of a driver's stream source), or a binary file
        (its holes found with SEEK_DATA/SEEK_HOLE, from its current offset). ``progress(total)``
        counts data and holes. Returns the number of bytes sent, holes included.
        """
        if not hasattr(source, "in_data"):
            source = sparse.FileSource(source.fileno(), source.tell())
        total = 0
        try:
            while True:
                data_here, length = source.in_data()
                if length <= 0:
                    return total
                if data_here:
                    data = source.read(min(length, _CHUNK))
                    if not data:
                        return total
                    self.impl.send(data)
                    total += len(data)
                else:
                    source.skip(length)
                    self.impl.send_hole(length, 0)
                    total += length
                if progress is not None:
                    progress(total)
        except BaseException:
            self.abort()
            raise

    def finish(self) -> None:
        """End the transfer cleanly; raises the error of the other end if its side failed."""
        self.impl.finish()

    def abort(self) -> None:
        """Stop the transfer; the other end discards what it has not completed."""
        with contextlib.suppress(VirtError):  # the other end already failed: stopping was all that was wanted
            self.impl.abort()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self.abort()

    # -- asyncio: the same operations, run off the event loop (they wait on the peer) --------------
    async def _off_loop(self, fn: Callable[..., Any], *args: Any) -> Any:
        import asyncio  # here, not at the top: most callers never need it

        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def arecv(self, nbytes: int = _CHUNK) -> bytes:
        """:meth:`recv` for asyncio code."""
        return bytes(await self._off_loop(self.impl.recv, nbytes))

    async def arecv_flags(self, nbytes: int = _CHUNK, flags: int = 0) -> bytes | int:
        return await self._off_loop(self.recv_flags, nbytes, flags)  # type: ignore[no-any-return]

    async def arecv_hole(self, flags: int = 0) -> int:
        return await self._off_loop(self.recv_hole, flags)  # type: ignore[no-any-return]

    async def asend(self, data: bytes) -> int:
        return await self._off_loop(self.send, data)  # type: ignore[no-any-return]

    async def asend_hole(self, length: int, flags: int = 0) -> None:
        await self._off_loop(self.send_hole, length, flags)

    async def asparse_recv_all(self, sink: Any, hole: Callable[[int], None] | None = None) -> int:
        """:meth:`sparse_recv_all` for asyncio code (``sink``/``hole`` run on a worker thread)."""
        return await self._off_loop(self.sparse_recv_all, sink, hole)  # type: ignore[no-any-return]

    async def asparse_send_all(self, source: Any) -> int:
        return await self._off_loop(self.sparse_send_all, source)  # type: ignore[no-any-return]

    async def afinish(self) -> None:
        await self._off_loop(self.finish)

    async def aabort(self) -> None:
        await self._off_loop(self.abort)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """``async for data in stream``: the data as it comes (holes as zeros), until its end."""
        while data := await self.arecv():
            yield data


def _stream_impl(stream: Any) -> Any:
    """What the driver gets for a stream argument: the driver-level stream inside a :class:`Stream`."""
    return stream.impl if isinstance(stream, Stream) else stream


class NodeDevice(_Object):
    __slots__ = ()

    def xml_desc(self, flags: int = 0) -> str:
        return str(self.conn.call("node_device_get_xml_desc", self.ref, flags))

    parent = _forward("node_device_get_parent")
    list_caps = _forward("node_device_list_caps")
    detach = _forward("node_device_detach_flags")
    reattach = _forward("node_device_re_attach")
    reset = _forward("node_device_reset")
    destroy = _forward("node_device_destroy")
    undefine = _forward("node_device_undefine")
    create = _forward("node_device_create")
    is_active = _forward("node_device_is_active")


class Interface(_Object):
    __slots__ = ()

    def mac(self) -> str:
        return str(self.ref.mac)

    def xml_desc(self, flags: int = 0) -> str:
        return str(self.conn.call("interface_get_xml_desc", self.ref, flags))

    create = _forward("interface_create")
    destroy = _forward("interface_destroy")
    undefine = _forward("interface_undefine")
    is_active = _forward("interface_is_active")


class Secret(_Object):
    __slots__ = ()

    def uuid(self) -> str:
        return str(self.ref.uuid)

    def name(self) -> str:
        return str(self.ref.uuid)

    def usage_type(self) -> int:
        return int(self.ref.usage_type)

    def usage_id(self) -> str:
        return str(self.ref.usage_id)

    def xml_desc(self, flags: int = 0) -> str:
        return str(self.conn.call("secret_get_xml_desc", self.ref, flags))

    def get_value(self, flags: int = 0) -> bytes:
        return bytes(self.conn.call("secret_get_value", self.ref, flags))

    set_value = _forward("secret_set_value")
    undefine = _forward("secret_undefine")


class NWFilter(_Object):
    __slots__ = ()

    def uuid(self) -> str:
        return str(self.ref.uuid)

    def xml_desc(self, flags: int = 0) -> str:
        return str(self.conn.call("nwfilter_get_xml_desc", self.ref, flags))

    undefine = _forward("nwfilter_undefine")


from typing import TypeVar  # noqa: E402

_O = TypeVar("_O", bound=_Object)


def _looks_like_uuid(s: str) -> bool:
    h = s.replace("-", "")
    return len(h) == 32 and all(c in "0123456789abcdefABCDEF" for c in h)


def _looks_like_mac(s: str) -> bool:
    parts = s.split(":")
    return len(parts) == 6 and all(1 <= len(p) <= 2 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts)


def open(uri: str | None = None, *, readonly: bool = False,
         auth: Callable[[list[list[Any]]], Any] | None = None) -> Connection:
    """Open a connection (``virt.core.open("qemu:///system")``); use as a context manager. ``auth``:
    a credentials callback, as virConnectOpenAuth's (see Connection)."""
    return Connection(uri, readonly=readonly, auth=auth)


def open_read_only(uri: str | None = None) -> Connection:
    return Connection(uri, readonly=True)


def iter_domains(conn: Connection, flags: int = 0) -> Iterator[Domain]:
    yield from conn.list_all_domains(flags)
