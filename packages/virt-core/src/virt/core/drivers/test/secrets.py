"""Secrets of the mock host (libvirt's test driver has none; these follow libvirt's secret driver)."""

from __future__ import annotations

from typing import ClassVar

from virt.core.drivers.test.base import Calls, filter_objects, pair, parse_doc
from virt.core.drivers.test.errors import error
from virt.core.drivers.test.state import SecretObj
from virt.core.enums import ConnectListAllSecretsFlags as LF
from virt.core.enums import SecretEventID, SecretUsageType
from virt.core.types import SecretRef
from virt.util.errors import ErrorDomain, not_found
from virt.util.errors import ErrorNumber as E

SECRET = ErrorDomain.SECRET
USAGE_TYPES = {"none": SecretUsageType.NONE, "volume": SecretUsageType.VOLUME, "ceph": SecretUsageType.CEPH,
               "iscsi": SecretUsageType.ISCSI, "tls": SecretUsageType.TLS, "vtpm": SecretUsageType.VTPM}
# virSecretEventLifecycleType
DEFINED, UNDEFINED = 0, 1

_FILTERS = (
    pair(LF.EPHEMERAL, LF.NO_EPHEMERAL, lambda s: s.defn.ephemeral == "yes"),
    pair(LF.PRIVATE, LF.NO_PRIVATE, lambda s: s.defn.private == "yes"),
)


def _ref(obj: SecretObj) -> SecretRef:
    return SecretRef(obj.uuid, obj.usage_type, obj.usage_id)


class SecretCalls(Calls):
    FLAGS: ClassVar[dict[str, int]] = {"connect_list_all_secrets": sum(LF), "secret_define_xml": 0, "secret_get_xml_desc": 0,
             "secret_set_value": 0, "secret_get_value": 0}

    def _secret(self, uuid: str) -> SecretObj:
        obj = self.state.secrets.get(uuid)
        if obj is None:
            raise not_found(E.NO_SECRET, f"no secret with matching uuid '{uuid}'", SECRET)
        return obj

    def _emit_secret(self, obj: SecretObj, event: int) -> None:
        self.state.emit("secret", SecretEventID.LIFECYCLE, _ref(obj), event, 0)

    def connect_num_of_secrets(self) -> int:
        return len(self.state.secrets)

    def connect_list_secrets(self, maxuuids: int = -1) -> list[str]:
        uuids = list(self.state.secrets)
        return uuids if maxuuids < 0 else uuids[:maxuuids]

    def connect_list_all_secrets(self, flags: int = 0) -> list[SecretRef]:
        return [_ref(s) for s in filter_objects(self.state.secrets.values(), flags, _FILTERS)]

    def secret_lookup_by_uuid(self, uuid: str) -> SecretRef:
        return _ref(self._secret(uuid))

    def secret_lookup_by_usage(self, usage_type: int, usage_id: str) -> SecretRef:
        for obj in self.state.secrets.values():
            if obj.usage_type == usage_type and obj.usage_id == usage_id:
                return _ref(obj)
        raise not_found(E.NO_SECRET, f"no secret with matching usage '{usage_id}'", SECRET)

    def secret_define_xml(self, xml: str, flags: int = 0) -> SecretRef:
        defn = parse_doc(xml, "secret", SECRET)
        usage = defn.usage
        usage_type = int(USAGE_TYPES.get(usage.type, 0)) if usage is not None else 0
        usage_id = (usage.usage_id or "") if usage is not None else ""
        old = self.state.secrets.get(defn.uuid)
        if old is not None:
            if old.usage_id != usage_id:
                raise error(E.INTERNAL_ERROR, f"a secret with UUID {defn.uuid} is already defined for use with "
                                              f"{old.usage_id}", SECRET)
            if old.defn.private == "yes" and defn.private != "yes":
                raise error(E.INVALID_SECRET, "cannot change private flag on existing secret", SECRET)
        elif usage_type:
            for other in self.state.secrets.values():
                if other.usage_type == usage_type and other.usage_id == usage_id:
                    raise error(E.INTERNAL_ERROR, f"a secret with UUID {other.uuid} already defined for use with "
                                                  f"{usage_id}", SECRET)
        obj = SecretObj(defn, defn.uuid, usage_type, usage_id, old.value if old is not None else None)
        self.state.secrets[obj.uuid] = obj
        self._emit_secret(obj, DEFINED)
        return _ref(obj)

    def secret_get_xml_desc(self, secret: SecretRef, flags: int = 0) -> str:
        return str(self._secret(secret.uuid).defn.format())

    def secret_set_value(self, secret: SecretRef, value: bytes, flags: int = 0) -> None:
        obj = self._secret(secret.uuid)
        obj.value = bytes(value)
        self.state.emit("secret", SecretEventID.VALUE_CHANGED, _ref(obj))

    def secret_get_value(self, secret: SecretRef, flags: int = 0) -> bytes:
        obj = self._secret(secret.uuid)
        if obj.defn.private == "yes":
            raise error(E.INVALID_SECRET, "secret is private", SECRET)
        if obj.value is None:
            raise not_found(E.NO_SECRET, f"secret '{obj.uuid}' does not have a value", SECRET)
        return obj.value

    def secret_undefine(self, secret: SecretRef) -> None:
        obj = self._secret(secret.uuid)
        self._emit_secret(obj, UNDEFINED)
        del self.state.secrets[obj.uuid]
