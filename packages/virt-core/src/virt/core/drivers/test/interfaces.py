"""Host network interfaces of the mock host: define/undefine, start/stop and change transactions."""

from __future__ import annotations

import copy
from typing import ClassVar

from virt.core.drivers.test.base import Calls, filter_objects, pair, parse_doc
from virt.core.drivers.test.errors import error, operation_invalid
from virt.core.drivers.test.state import InterfaceObj
from virt.core.enums import ConnectListAllInterfacesFlags as LF
from virt.core.types import InterfaceRef
from virt.util.errors import ErrorDomain, not_found
from virt.util.errors import ErrorNumber as E

_FILTERS = (pair(LF.ACTIVE, LF.INACTIVE, lambda i: i.active),)


def _ref(obj: InterfaceObj) -> InterfaceRef:
    return InterfaceRef(obj.name, obj.mac)


def interface_obj(defn: object, active: bool = False) -> InterfaceObj:
    return InterfaceObj(defn, defn.name, getattr(defn, "mac_address", None) or "", active)  # type: ignore[attr-defined]


class InterfaceCalls(Calls):
    FLAGS: ClassVar[dict[str, int]] = {"connect_list_all_interfaces": LF.ACTIVE | LF.INACTIVE, "interface_get_xml_desc": 0,
             "interface_define_xml": 1, "interface_create": 0, "interface_destroy": 0,
             "interface_change_begin": 0, "interface_change_commit": 0, "interface_change_rollback": 0}

    def _iface(self, name: str) -> InterfaceObj:
        obj = self.state.interfaces.get(name)
        if obj is None:
            raise not_found(E.NO_INTERFACE, f"no interface with matching name '{name}'", ErrorDomain.TEST)
        return obj

    def interface_lookup_by_name(self, name: str) -> InterfaceRef:
        return _ref(self._iface(name))

    def interface_lookup_by_mac_string(self, mac: str) -> InterfaceRef:
        found = [o for o in self.state.interfaces.values() if o.mac.lower() == mac.lower()]
        if not found:
            raise not_found(E.NO_INTERFACE, f"no interface with matching mac '{mac}'", ErrorDomain.TEST)
        if len(found) > 1:
            raise error(E.MULTIPLE_INTERFACES)
        return InterfaceRef(found[0].name, mac)

    def connect_num_of_interfaces(self) -> int:
        return sum(1 for o in self.state.interfaces.values() if o.active)

    def connect_list_interfaces(self, maxnames: int = -1) -> list[str]:
        names = [o.name for o in self.state.interfaces.values() if o.active]
        return names if maxnames < 0 else names[:maxnames]

    def connect_num_of_defined_interfaces(self) -> int:
        return sum(1 for o in self.state.interfaces.values() if not o.active)

    def connect_list_defined_interfaces(self, maxnames: int = -1) -> list[str]:
        names = [o.name for o in self.state.interfaces.values() if not o.active]
        return names if maxnames < 0 else names[:maxnames]

    def connect_list_all_interfaces(self, flags: int = 0) -> list[InterfaceRef]:
        return [_ref(o) for o in filter_objects(self.state.interfaces.values(), flags, _FILTERS)]

    def interface_get_xml_desc(self, iface: InterfaceRef, flags: int = 0) -> str:
        return str(self._iface(iface.name).defn.format())

    def interface_define_xml(self, xml: str, flags: int = 0) -> InterfaceRef:
        defn = parse_doc(xml, "interface", ErrorDomain.INTERFACE)
        old = self.state.interfaces.get(defn.name)
        obj = interface_obj(defn, old.active if old is not None else False)
        self.state.interfaces[obj.name] = obj
        return _ref(obj)

    def interface_undefine(self, iface: InterfaceRef) -> None:
        del self.state.interfaces[self._iface(iface.name).name]

    def interface_create(self, iface: InterfaceRef, flags: int = 0) -> None:
        obj = self._iface(iface.name)
        if obj.active:
            raise operation_invalid(None)
        obj.active = True

    def interface_destroy(self, iface: InterfaceRef, flags: int = 0) -> None:
        obj = self._iface(iface.name)
        if not obj.active:
            raise operation_invalid(None)
        obj.active = False

    def interface_is_active(self, iface: InterfaceRef) -> int:
        return int(self._iface(iface.name).active)

    def interface_change_begin(self, flags: int = 0) -> None:
        if self.state.iface_transaction is not None:
            raise operation_invalid("there is another transaction running.")
        self.state.iface_transaction = {k: copy.copy(v) for k, v in self.state.interfaces.items()}

    def interface_change_commit(self, flags: int = 0) -> None:
        if self.state.iface_transaction is None:
            raise operation_invalid("no transaction running, nothing to be committed.")
        self.state.iface_transaction = None

    def interface_change_rollback(self, flags: int = 0) -> None:
        if self.state.iface_transaction is None:
            raise operation_invalid("no transaction running, nothing to rollback.")
        self.state.interfaces = self.state.iface_transaction
        self.state.iface_transaction = None
