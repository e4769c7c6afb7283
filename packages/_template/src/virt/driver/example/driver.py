"""The example driver: domains kept in memory, enough of the API for list/define/start/destroy/dumpxml."""

from __future__ import annotations

import threading
import uuid as uuidlib
from dataclasses import dataclass
from typing import Any

from virt.conf import parse
from virt.conf.domain import register_virt_type
from virt.core.driver import Driver
from virt.core.enums import DomainShutoffReason, DomainState
from virt.core.types import DomainInfo, DomainRef
from virt.util.errors import ErrorNumber, ExistsError, OperationInvalidError, not_found

register_virt_type("example")  # <domain type='example'> is ours


@dataclass
class _Domain:
    name: str
    uuid: str
    xml: str
    memory: int
    vcpus: int
    id: int = -1
    state: DomainState = DomainState.SHUTOFF
    reason: int = DomainShutoffReason.UNKNOWN

    def ref(self) -> DomainRef:
        return DomainRef(self.name, self.uuid, self.id)


class ExampleDriver(Driver):
    name = "example"
    uri_schemes = ("example",)

    # One store for the process, like a real hypervisor would be: connections share it.
    _domains: dict[str, _Domain] = {}
    _lock = threading.Lock()
    _next_id = 1

    def connect_get_type(self) -> str:
        return "EXAMPLE"

    def connect_get_version(self) -> int:
        return 1000

    def connect_get_uri(self) -> str:
        return str(self.uri)

    def connect_list_all_domains(self, flags: int = 0) -> list[DomainRef]:
        with self._lock:
            return [d.ref() for d in self._domains.values()]

    def domain_lookup_by_name(self, name: str) -> DomainRef:
        return self._get(name).ref()

    def domain_lookup_by_uuid(self, uuid: str) -> DomainRef:
        with self._lock:
            for d in self._domains.values():
                if d.uuid == uuid:
                    return d.ref()
        raise not_found(ErrorNumber.NO_DOMAIN, f"no domain with matching uuid '{uuid}'")

    def domain_lookup_by_id(self, id: int) -> DomainRef:
        with self._lock:
            for d in self._domains.values():
                if d.id == id and id >= 0:
                    return d.ref()
        raise not_found(ErrorNumber.NO_DOMAIN, f"no domain with matching id {id}")

    def domain_define_xml_flags(self, xml: str, flags: int = 0) -> DomainRef:
        model: Any = parse(xml, "domain")
        uuid = model.uuid or str(uuidlib.uuid4())
        model.uuid = uuid
        with self._lock:
            old = self._domains.get(model.name)
            if old is not None and old.uuid != uuid:
                raise ExistsError(f"domain '{model.name}' already exists with uuid {old.uuid}")
            memory = model.memory.value if model.memory is not None else 0  # KiB after parsing
            vcpus = model.vcpu.count if model.vcpu is not None else 1
            dom = _Domain(model.name, uuid, model.format(), memory, vcpus)
            if old is not None:
                dom.id, dom.state, dom.reason = old.id, old.state, old.reason
            self._domains[dom.name] = dom
            return dom.ref()

    def domain_undefine_flags(self, dom: DomainRef, flags: int = 0) -> None:
        with self._lock:
            d = self._get_locked(dom.name)
            if d.state != DomainState.SHUTOFF:
                raise OperationInvalidError("cannot undefine a running domain in the example driver")
            del self._domains[d.name]

    def domain_create_with_flags(self, dom: DomainRef, flags: int = 0) -> DomainRef:
        with self._lock:
            d = self._get_locked(dom.name)
            if d.state != DomainState.SHUTOFF:
                raise OperationInvalidError("domain is already running")
            d.id, ExampleDriver._next_id = ExampleDriver._next_id, ExampleDriver._next_id + 1
            d.state, d.reason = DomainState.RUNNING, 1  # booted
            return d.ref()

    def domain_destroy_flags(self, dom: DomainRef, flags: int = 0) -> None:
        with self._lock:
            d = self._get_locked(dom.name)
            if d.state == DomainState.SHUTOFF:
                raise OperationInvalidError("domain is not running")
            d.id, d.state, d.reason = -1, DomainState.SHUTOFF, DomainShutoffReason.DESTROYED

    def domain_get_info(self, dom: DomainRef) -> DomainInfo:
        d = self._get(dom.name)
        return DomainInfo(int(d.state), d.memory, d.memory, d.vcpus, 0)

    def domain_get_state(self, dom: DomainRef, flags: int = 0) -> tuple[int, int]:
        d = self._get(dom.name)
        return int(d.state), int(d.reason)

    def domain_get_xml_desc(self, dom: DomainRef, flags: int = 0) -> str:
        return self._get(dom.name).xml

    def domain_is_active(self, dom: DomainRef) -> bool:
        return self._get(dom.name).state != DomainState.SHUTOFF

    def domain_is_persistent(self, dom: DomainRef) -> bool:
        return True

    def _get(self, name: str) -> _Domain:
        with self._lock:
            return self._get_locked(name)

    def _get_locked(self, name: str) -> _Domain:
        d = self._domains.get(name)
        if d is None:
            raise not_found(ErrorNumber.NO_DOMAIN, f"no domain with matching name '{name}'")
        return d
