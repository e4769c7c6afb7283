"""The driver interface: what a hypervisor or secondary driver implements.

A driver implements libvirt's public C API calls it supports as methods named after them in
snake case without ``vir`` (virDomainGetInfo -> ``domain_get_info``, virConnectListAllDomains ->
``connect_list_all_domains``), which are also the remote procedure names (REMOTE_PROC_DOMAIN_GET_INFO).
Arguments are those of the C call in order, minus the connection: object references from
``virt.core.types`` (DomainRef, ...), strings, ints and ``flags``; output parameters become return
values (a list, a NamedTuple from ``virt.core.types``, or a tuple in the wire struct's order).
Anything not implemented raises NoSupportError, as libvirt does for a missing driver entry point.

Which driver a call goes to is decided by its name (``call_kind``): hypervisor calls go to the
hypervisor driver, ``network_*`` calls to the driver of the "network" kind, and so on.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, ClassVar

from virt.core.enums import ConnectListAllDomainsFlags
from virt.core.events import EventBus
from virt.core.types import DomainRef
from virt.core.uri import URI
from virt.util.errors import ErrorNumber, NoSupportError, OperationDeniedError

#: Object kinds a driver can implement; "hypervisor" covers connect_*, domain_* and node_get_*.
KINDS = ("hypervisor", "network", "storage", "nodedev", "interface", "secret", "nwfilter")

_PREFIXES = ("connect_", "domain_", "network_", "storage_", "node_", "interface_", "secret_",
             "nwfilter_", "stream_", "find_storage_pool_sources")
_ACRONYMS = {"xml": "XML", "uuid": "UUID", "id": "ID", "uri": "URI", "cpu": "CPU", "dhcp": "DHCP",
             "mac": "MAC", "os": "OS", "fd": "FD", "fds": "FDs",  # libvirt spells Qemu and Lxc in API names
             "sev": "SEV", "iothread": "IOThread", "iothreads": "IOThreads", "nwfilter": "NWFilter"}


def c_name(call: str) -> str:
    """libvirt's C name of a call: domain_get_xml_desc -> virDomainGetXMLDesc."""
    return "vir" + "".join(_ACRONYMS.get(w, w.capitalize()) for w in call.split("_"))


@functools.cache  # called on every API call: the answer depends on the name only
def call_kind(call: str) -> str:
    """Which kind of driver serves a call, from its name."""
    if call.startswith(("network_", "connect_network_")) or re.search(r"_networks?$|_networks_", call):
        return "network"
    if call.startswith(("nwfilter_", "connect_nwfilter")) or "nwfilter" in call:
        return "nwfilter"
    if call.startswith(("storage_", "find_storage")) or "storage_pool" in call:
        return "storage"
    if call.startswith(("node_device", "node_num_of_devices", "node_list_devices")) or "node_device" in call:
        return "nodedev"
    if call.startswith("interface_") or re.search(r"_interfaces?$|defined_interfaces", call):
        return "interface"
    if call.startswith("secret_") or "secret" in call:
        return "secret"
    return "hypervisor"


_READ_ONLY = re.compile(
    r"(_get_|_lookup_|_list_|_num_of_|_is_|_has_|_supports_|_xml_desc$|_event_|_get$|_current$|_parent$"
    r"|_ref$|_free$|_close$|dumpxml|_compare_cpu|_baseline|_xml_to_native|_xml_from_native"
    r"|_dhcp_leases|^connect_(get|list|num|is|supports|open|close)|^node_get|^node_list|^node_num)"
)


def is_read_only_call(call: str) -> bool:
    """Whether a read-only connection may make this call (libvirt allows queries, not changes)."""
    return bool(_READ_ONLY.search(call)) and not call.endswith(("_set_autostart",))


class Driver:
    """Base class of every driver. Subclasses define the calls they support as methods.

    ``name`` is the driver's name (``virt drivers`` lists it); ``uri_schemes`` the schemes a
    hypervisor driver claims. The constructor receives the URI being opened, whether the
    connection is read-only, and the event bus to emit events on.
    """

    name: ClassVar[str] = ""
    uri_schemes: ClassVar[tuple[str, ...]] = ()
    #: Object kinds this driver implements itself (a hypervisor driver usually just "hypervisor").
    kinds: ClassVar[tuple[str, ...]] = ("hypervisor",)
    #: True when no call ever blocks (in-memory drivers): virtd may then run the calls on its event
    #: loop instead of a worker thread. A driver that waits on a hypervisor, a disk or a network leaves it False.
    nonblocking: ClassVar[bool] = False

    def __init__(self, uri: URI, *, readonly: bool = False, events: EventBus | None = None) -> None:
        self.uri = uri
        self.readonly = readonly
        self.events = events or EventBus()

    @classmethod
    def claims(cls, uri: URI) -> bool:
        """Whether this driver opens ``uri`` locally. Default: the scheme is one of ``uri_schemes``."""
        return uri.driver in cls.uri_schemes and not uri.is_remote

    def close(self) -> None:
        """Release what the connection holds (not the guests: they outlive connections)."""

    def __getattr__(self, call: str) -> Callable[..., Any]:
        if call.startswith(_PREFIXES):
            def unsupported(*args: Any, **kw: Any) -> Any:
                raise NoSupportError(c_name(call))
            return unsupported
        raise AttributeError(call)

    def check_writable(self, call: str) -> None:
        if self.readonly and not is_read_only_call(call):
            raise OperationDeniedError(f"read only access prevents {c_name(call)}",
                                       code=ErrorNumber.OPERATION_DENIED)


class ListingFromListAll:
    """The older listing calls (virConnectListDomains and its kin), answered from ``connect_list_all_domains``.

    A hypervisor driver that implements ``connect_list_all_domains`` mixes this in rather than
    writing the four calls again: ids ascending and names sorted, as virsh shows them.
    """

    def connect_list_all_domains(self, flags: int = 0) -> list[DomainRef]:
        raise NotImplementedError

    def connect_list_domains(self, maxids: int = -1) -> list[int]:
        ids = sorted(r.id for r in self.connect_list_all_domains(ConnectListAllDomainsFlags.ACTIVE))
        return ids if maxids < 0 else ids[:maxids]

    def connect_num_of_domains(self) -> int:
        return len(self.connect_list_all_domains(ConnectListAllDomainsFlags.ACTIVE))

    def connect_list_defined_domains(self, maxnames: int = -1) -> list[str]:
        names = sorted(r.name for r in self.connect_list_all_domains(ConnectListAllDomainsFlags.INACTIVE))
        return names if maxnames < 0 else names[:maxnames]

    def connect_num_of_defined_domains(self) -> int:
        return len(self.connect_list_all_domains(ConnectListAllDomainsFlags.INACTIVE))


class AlwaysDefined:
    """Answers that are fixed for a hypervisor which keeps every VM defined (ESX, Hyper-V, VirtualBox).

    Every VM is persistent, never has a pending definition change, runs a full-virtualized OS, and
    its maximum memory is what ``domain_get_info`` reports. ``_find`` raises libvirt's NO_DOMAIN for a
    VM that is gone, so the calls still fail as libvirt's do.
    """

    def _find(self, dom: DomainRef) -> Any:
        raise NotImplementedError

    def domain_get_info(self, dom: DomainRef) -> Any:
        raise NotImplementedError

    def domain_is_persistent(self, dom: DomainRef) -> int:
        self._find(dom)
        return 1

    def domain_is_updated(self, dom: DomainRef) -> int:
        self._find(dom)
        return 0

    def domain_get_os_type(self, dom: DomainRef) -> str:
        self._find(dom)
        return "hvm"

    def domain_get_max_memory(self, dom: DomainRef) -> int:
        return int(self.domain_get_info(dom).max_mem)
