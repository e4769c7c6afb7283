"""The test driver: one class gathering the call groups of every object kind over a shared NodeState."""

from __future__ import annotations

from virt.core.driver import KINDS, Driver
from virt.core.drivers.test.base import api
from virt.core.drivers.test.domains import DomainCalls
from virt.core.drivers.test.errors import invalid_arg
from virt.core.drivers.test.host import HostCalls
from virt.core.drivers.test.interfaces import InterfaceCalls
from virt.core.drivers.test.networks import NetworkCalls
from virt.core.drivers.test.nodedevs import NodeDevCalls
from virt.core.drivers.test.nwfilters import NWFilterCalls
from virt.core.drivers.test.secrets import SecretCalls
from virt.core.drivers.test.snapshots import SnapshotCalls
from virt.core.drivers.test.state import open_state, release_state
from virt.core.drivers.test.storage import StorageCalls
from virt.core.events import EventBus
from virt.core.uri import URI


@api
class TestDriver(HostCalls, DomainCalls, SnapshotCalls, NetworkCalls, StorageCalls, NodeDevCalls,
                 InterfaceCalls, SecretCalls, NWFilterCalls, Driver):
    """``test:///default`` (one state shared in the process) or ``test:///path/to/node.xml``."""

    name = "test"
    uri_schemes = ("test",)
    kinds = KINDS

    def __init__(self, uri: URI, *, readonly: bool = False, events: EventBus | None = None) -> None:
        super().__init__(uri, readonly=readonly, events=events)
        if uri.path in ("", "/"):
            raise invalid_arg("testOpen: supply a path or use test:///default")
        self.state = open_state(uri.path, self.events)
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            release_state(self.state, self.events)
