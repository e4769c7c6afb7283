"""Network filters of the mock host (libvirt's test driver has none; these follow libvirt's nwfilter driver)."""

from __future__ import annotations

from typing import ClassVar

from virt.core.drivers.test.base import Calls, parse_doc
from virt.core.drivers.test.errors import error
from virt.core.drivers.test.state import NWFilterObj
from virt.core.types import NWFilterRef
from virt.util.errors import ErrorDomain, not_found
from virt.util.errors import ErrorNumber as E

NWFILTER = ErrorDomain.NWFILTER


def _ref(obj: NWFilterObj) -> NWFilterRef:
    return NWFilterRef(obj.name, obj.uuid)


class NWFilterCalls(Calls):
    FLAGS: ClassVar[dict[str, int]] = {"connect_list_all_nwfilters": 0, "nwfilter_define_xml_flags": 1, "nwfilter_get_xml_desc": 0}

    def _filter_by_name(self, name: str) -> NWFilterObj:
        for obj in self.state.nwfilters.values():
            if obj.name == name:
                return obj
        raise not_found(E.NO_NWFILTER, f"no nwfilter with matching name '{name}'", NWFILTER)

    def _filter_by_uuid(self, uuid: str) -> NWFilterObj:
        obj = self.state.nwfilters.get(uuid)
        if obj is None:
            raise not_found(E.NO_NWFILTER, f"no nwfilter with matching uuid '{uuid}'", NWFILTER)
        return obj

    def connect_num_of_nwfilters(self) -> int:
        return len(self.state.nwfilters)

    def connect_list_nwfilters(self, maxnames: int = -1) -> list[str]:
        names = [f.name for f in self.state.nwfilters.values()]
        return names if maxnames < 0 else names[:maxnames]

    def connect_list_all_nwfilters(self, flags: int = 0) -> list[NWFilterRef]:
        return [_ref(f) for f in self.state.nwfilters.values()]

    def nwfilter_lookup_by_name(self, name: str) -> NWFilterRef:
        return _ref(self._filter_by_name(name))

    def nwfilter_lookup_by_uuid(self, uuid: str) -> NWFilterRef:
        return _ref(self._filter_by_uuid(uuid))

    def nwfilter_define_xml(self, xml: str) -> NWFilterRef:
        return self.nwfilter_define_xml_flags(xml, 0)

    def nwfilter_define_xml_flags(self, xml: str, flags: int = 0) -> NWFilterRef:
        defn = parse_doc(xml, "filter", NWFILTER)
        old = self.state.nwfilters.get(defn.uuid)
        if old is not None and old.name != defn.name:
            raise error(E.OPERATION_FAILED, f"filter with same UUID but different name ('{old.name}') already "
                                            "exists", NWFILTER)
        for other in self.state.nwfilters.values():
            if other.name == defn.name and other.uuid != defn.uuid:
                raise error(E.OPERATION_FAILED, f"filter '{defn.name}' already exists with uuid {other.uuid}",
                            NWFILTER)
        obj = NWFilterObj(defn, defn.uuid, defn.name)
        self.state.nwfilters[obj.uuid] = obj
        return _ref(obj)

    def nwfilter_undefine(self, nwfilter: NWFilterRef) -> None:
        del self.state.nwfilters[self._filter_by_uuid(nwfilter.uuid).uuid]

    def nwfilter_get_xml_desc(self, nwfilter: NWFilterRef, flags: int = 0) -> str:
        return str(self._filter_by_uuid(nwfilter.uuid).defn.format())
