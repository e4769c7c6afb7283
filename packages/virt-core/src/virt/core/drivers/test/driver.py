"""The test driver: one class gathering the call groups of every object kind over a shared NodeState."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from virt.core.driver import KINDS, Driver, call_kind
from virt.core.drivers.test.base import api
from virt.core.drivers.test.checkpoints import CheckpointCalls
from virt.core.drivers.test.domains import DomainCalls
from virt.core.drivers.test.errors import invalid_arg
from virt.core.drivers.test.guest import GuestCalls
from virt.core.drivers.test.host import HostCalls
from virt.core.drivers.test.interfaces import InterfaceCalls
from virt.core.drivers.test.networks import NetworkCalls
from virt.core.drivers.test.nodedevs import NodeDevCalls
from virt.core.drivers.test.nwfilters import NWFilterCalls
from virt.core.drivers.test.secrets import SecretCalls
from virt.core.drivers.test.snapshots import SnapshotCalls
from virt.core.drivers.test.state import open_state, release_state
from virt.core.drivers.test.storage import StorageCalls
from virt.core.drivers.test.tuning import TuningCalls
from virt.core.events import EventBus
from virt.core.uri import URI
from virt.util.errors import ErrorDomain, NoSupportError

_NO_SUPPORT_DOMAINS = {"network": ErrorDomain.NETWORK, "storage": ErrorDomain.STORAGE, "nodedev": ErrorDomain.NODEDEV,
                       "interface": ErrorDomain.INTERFACE, "secret": ErrorDomain.SECRET,
                       "nwfilter": ErrorDomain.NWFILTER}


@api
class TestDriver(HostCalls, DomainCalls, GuestCalls, TuningCalls, SnapshotCalls, CheckpointCalls, NetworkCalls,
                 StorageCalls, NodeDevCalls, InterfaceCalls, SecretCalls, NWFilterCalls, Driver):
    """``test:///default`` (one state shared in the process) or ``test:///path/to/node.xml``."""

    name = "test"
    uri_schemes = ("test",)
    kinds = KINDS
    #: Every call works on memory (save images are a few KiB written at once): virtd may run them
    #: on its event loop.
    nonblocking = True
    #: Every call works on in-memory state: virtd may run them on its event loop (remote/server.py).
    nonblocking = True

    def __init__(self, uri: URI, *, readonly: bool = False, events: EventBus | None = None) -> None:
        super().__init__(uri, readonly=readonly, events=events)
        if uri.path in ("", "/"):
            raise invalid_arg("testOpen: supply a path or use test:///default")
        self.state = open_state(uri.path, self.events)
        self._closed = False

    def __getattr__(self, call: str) -> Callable[..., Any]:
        """A call libvirt's API has but this driver lacks: NO_SUPPORT in the error domain of the
        API's object kind, as libvirt reports it."""
        unsupported = super().__getattr__(call)

        def no_support(*args: Any) -> Any:
            try:
                return unsupported(*args)
            except NoSupportError as exc:
                exc.domain = _NO_SUPPORT_DOMAINS.get(call_kind(call), ErrorDomain.DOMAIN)
                if call.startswith("domain_snapshot"):
                    exc.domain = ErrorDomain.DOMAIN_SNAPSHOT
                elif call.startswith("stream_"):
                    exc.domain = ErrorDomain.STREAMS
                raise
        return no_support

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            release_state(self.state, self.events)
