"""The secret driver: libvirt's virSecret* calls on local connections.

Persistent secrets live in ``config_dir`` (``UUID.xml`` and the encrypted ``UUID.value``, under a key
in ``config_dir/secrets.key``); ephemeral ones in ``run_dir`` (a tmpfs: gone at reboot, as libvirt's
in-memory ephemeral secrets are gone when its daemon stops), under a key that lives there too.
``?root=DIR`` or $VIRT_SECRET_ROOT moves both under DIR.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from virt.conf import parse
from virt.conf.secret import Secret
from virt.core.driver import Driver, c_name
from virt.core.enums import ConnectListAllSecretsFlags as LF
from virt.core.enums import SecretEventID, SecretUsageType
from virt.core.events import EventBus
from virt.core.types import SecretRef
from virt.core.uri import URI
from virt.secondary.secret.vault import SecretValue, Vault
from virt.util.errors import (
    ErrorDomain,
    ErrorNumber,
    InvalidArgError,
    VirtError,
    not_found,
)
from virt.util.fileutil import atomic_write, make_dirs, unlink_if_exists

SECRET = ErrorDomain.SECRET
USAGE_TYPES = {"none": SecretUsageType.NONE, "volume": SecretUsageType.VOLUME, "ceph": SecretUsageType.CEPH,
               "iscsi": SecretUsageType.ISCSI, "tls": SecretUsageType.TLS, "vtpm": SecretUsageType.VTPM}
DEFINED, UNDEFINED = 0, 1  # virSecretEventLifecycleType
#: libvirt refuses bigger values.
MAX_VALUE = 1 << 20

_FILTERS: tuple[tuple[int, Callable[[Secret], int]], ...] = (
    (LF.EPHEMERAL | LF.NO_EPHEMERAL, lambda s: LF.EPHEMERAL if s.is_ephemeral else LF.NO_EPHEMERAL),
    (LF.PRIVATE | LF.NO_PRIVATE, lambda s: LF.PRIVATE if s.is_private else LF.NO_PRIVATE),
)


@dataclass(frozen=True)
class SecretSettings:
    config_dir: Path
    run_dir: Path

    @classmethod
    def for_uri(cls, params: dict[str, str] | None = None) -> SecretSettings:
        root = (params or {}).get("root") or os.environ.get("VIRT_SECRET_ROOT")
        if root:
            return cls(Path(root) / "etc" / "secrets", Path(root) / "run" / "secrets")
        if os.geteuid() == 0:
            return cls(Path("/etc/virt/secrets"), Path("/run/virt/secrets"))
        home = Path.home()
        config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
        runtime = Path(os.environ.get("XDG_RUNTIME_DIR") or home / ".cache")
        return cls(config / "virt" / "secrets", runtime / "virt" / "secrets")


@dataclass
class _Shared:
    settings: SecretSettings
    lock: threading.RLock = field(default_factory=threading.RLock)
    buses: list[EventBus] = field(default_factory=list)

    def emit(self, event_id: int, ref: SecretRef, *payload: Any) -> None:
        for bus in list(self.buses):
            bus.emit("secret", event_id, ref, *payload)


_shared_lock = threading.Lock()
_shared: dict[SecretSettings, _Shared] = {}


def _usage(defn: Secret) -> tuple[int, str]:
    return int(USAGE_TYPES.get(defn.usage_type, 0)), defn.usage_id or ""


def _ref(defn: Secret) -> SecretRef:
    usage_type, usage_id = _usage(defn)
    return SecretRef(str(defn.uuid), usage_type, usage_id)


class SecretDriver(Driver):
    """Secrets of this host."""

    name: ClassVar[str] = "secret"
    kinds: ClassVar[tuple[str, ...]] = ("secret",)

    def __init__(self, uri: URI, *, readonly: bool = False, events: EventBus | None = None) -> None:
        super().__init__(uri, readonly=readonly, events=events)
        settings = SecretSettings.for_uri(uri.params)
        with _shared_lock:
            self._sh = _shared.setdefault(settings, _Shared(settings))
        self._sh.buses.append(self.events)
        self.settings = settings
        self._vaults = {False: Vault(settings.config_dir / "secrets.key"), True: Vault(settings.run_dir / "secrets.key")}

    def close(self) -> None:
        if self.events in self._sh.buses:
            self._sh.buses.remove(self.events)

    # -- storage --------------------------------------------------------------------------------------
    def _dir(self, ephemeral: bool) -> Path:
        return self.settings.run_dir if ephemeral else self.settings.config_dir

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._sh.lock:
            for d in (self.settings.config_dir, self.settings.run_dir):
                make_dirs(d, 0o700)
            fd = os.open(self.settings.run_dir / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

    def _all(self) -> dict[str, tuple[Secret, bool]]:
        """UUID -> (definition, ephemeral)."""
        found: dict[str, tuple[Secret, bool]] = {}
        for ephemeral in (False, True):
            d = self._dir(ephemeral)
            for path in sorted(d.glob("*.xml")) if d.is_dir() else []:
                try:
                    defn: Secret = parse(path.read_text(), "secret")  # type: ignore[assignment]
                except (OSError, VirtError):
                    continue
                found[str(defn.uuid)] = (defn, ephemeral)
        return found

    def _get(self, uuid: str) -> tuple[Secret, bool]:
        found = self._all().get(uuid.lower())
        if found is None:
            raise not_found(ErrorNumber.NO_SECRET, f"no secret with matching uuid '{uuid}'", SECRET)
        return found

    def _value_path(self, uuid: str, ephemeral: bool) -> Path:
        return self._dir(ephemeral) / f"{uuid}.value"

    def _check_flags(self, call: str, flags: int, allowed: int = 0) -> None:
        bad = int(flags) & ~allowed
        if bad:
            raise InvalidArgError(f"{c_name(call)}: unsupported flags (0x{bad:x})", domain=SECRET,
                                  message=f"invalid argument: {c_name(call)}: unsupported flags (0x{bad:x})")

    # -- lookups and lists ------------------------------------------------------------------------------
    def connect_list_all_secrets(self, flags: int = 0) -> list[SecretRef]:
        self._check_flags("connect_list_all_secrets", flags, sum(LF))
        with self._locked():
            defs = [d for d, _ in self._all().values()]
        groups = [(mask & flags, match) for mask, match in _FILTERS if mask & flags]
        return [_ref(d) for d in defs if all(match(d) & sel for sel, match in groups)]

    def connect_num_of_secrets(self) -> int:
        return len(self.connect_list_all_secrets(0))

    def connect_list_secrets(self, maxuuids: int = -1) -> list[str]:
        uuids = [r.uuid for r in self.connect_list_all_secrets(0)]
        return uuids if maxuuids < 0 else uuids[:maxuuids]

    def secret_lookup_by_uuid(self, uuid: str) -> SecretRef:
        with self._locked():
            return _ref(self._get(uuid)[0])

    def secret_lookup_by_usage(self, usage_type: int, usage_id: str) -> SecretRef:
        with self._locked():
            for defn, _ in self._all().values():
                if _usage(defn) == (int(usage_type), usage_id):
                    return _ref(defn)
        raise not_found(ErrorNumber.NO_SECRET, f"no secret with matching usage '{usage_id}'", SECRET)

    def connect_secret_event_register_any(self, event_id: int, secret: SecretRef | None = None) -> int:
        if int(event_id) not in (SecretEventID.LIFECYCLE, SecretEventID.VALUE_CHANGED):
            raise InvalidArgError(f"unsupported event ID {event_id}")
        return 0

    # -- define, undefine -----------------------------------------------------------------------------
    def secret_define_xml(self, xml: str, flags: int = 0) -> SecretRef:
        self._check_flags("secret_define_xml", flags, 1)  # VIR_SECRET_DEFINE_VALIDATE
        try:
            defn: Secret = parse(xml, "secret")  # type: ignore[assignment]
        except VirtError as exc:
            exc.domain = exc.domain or SECRET
            raise
        uuid = str(defn.uuid)
        usage = _usage(defn)
        with self._locked():
            existing = self._all()
            old = existing.get(uuid)
            if old is not None:
                old_def = old[0]
                if _usage(old_def) != usage:
                    raise VirtError(f"a secret with UUID {uuid} is already defined for use with "
                                    f"{old_def.usage_id or ''}", code=ErrorNumber.INTERNAL_ERROR, domain=SECRET)
                if old_def.is_private and not defn.is_private:
                    raise VirtError("cannot change private flag on existing secret",
                                    code=ErrorNumber.INVALID_SECRET, domain=SECRET)
            elif usage[0]:
                for other, _ in existing.values():
                    if _usage(other) == usage:
                        raise VirtError(f"a secret with UUID {other.uuid} already defined for use with {usage[1]}",
                                        code=ErrorNumber.INTERNAL_ERROR, domain=SECRET)
            value = self._read_value(uuid, old[1]) if old is not None else None
            atomic_write(self._dir(defn.is_ephemeral) / f"{uuid}.xml", defn.format(), mode=0o600)
            if value is not None:
                self._vaults[defn.is_ephemeral].write(self._value_path(uuid, defn.is_ephemeral), uuid, value)
            if old is not None and old[1] != defn.is_ephemeral:  # moved between disk and run dir
                unlink_if_exists(self._dir(old[1]) / f"{uuid}.xml")
                unlink_if_exists(self._value_path(uuid, old[1]))
        self._sh.emit(SecretEventID.LIFECYCLE, _ref(defn), DEFINED, 0)
        return _ref(defn)

    def secret_undefine(self, secret: SecretRef) -> None:
        with self._locked():
            defn, ephemeral = self._get(secret.uuid)
            unlink_if_exists(self._value_path(str(defn.uuid), ephemeral))
            unlink_if_exists(self._dir(ephemeral) / f"{defn.uuid}.xml")
        self._sh.emit(SecretEventID.LIFECYCLE, _ref(defn), UNDEFINED, 0)

    def secret_get_xml_desc(self, secret: SecretRef, flags: int = 0) -> str:
        self._check_flags("secret_get_xml_desc", flags)
        with self._locked():
            return str(self._get(secret.uuid)[0].format())

    # -- values -----------------------------------------------------------------------------------------
    def _read_value(self, uuid: str, ephemeral: bool) -> SecretValue | None:
        return self._vaults[ephemeral].read(self._value_path(uuid, ephemeral), uuid)

    def secret_set_value(self, secret: SecretRef, value: bytes, flags: int = 0) -> None:
        self._check_flags("secret_set_value", flags)
        value = bytes(value)
        if len(value) > MAX_VALUE:
            raise InvalidArgError(f"secret value is larger than {MAX_VALUE} bytes", domain=SECRET)
        with self._locked():
            defn, ephemeral = self._get(secret.uuid)
            self._vaults[ephemeral].write(self._value_path(str(defn.uuid), ephemeral), str(defn.uuid), value)
        self._sh.emit(SecretEventID.VALUE_CHANGED, _ref(defn))

    def secret_get_value(self, secret: SecretRef, flags: int = 0) -> SecretValue:
        """The value, for clients; a private secret's value is for drivers only."""
        self._check_flags("secret_get_value", flags)
        if self.readonly:  # unlike other getters, libvirt refuses this one to read-only connections
            from virt.util.errors import OperationDeniedError

            raise OperationDeniedError("read only access prevents virSecretGetValue", domain=SECRET)
        return self._value(secret, internal=False)

    def secret_get_value_internal(self, secret: SecretRef) -> SecretValue:
        """The value of any secret, private ones included: for hypervisor drivers in this process
        (libvirt's VIR_SECRET_GET_VALUE_INTERNAL_CALL). No remote procedure maps to this name."""
        return self._value(secret, internal=True)

    def _value(self, secret: SecretRef, *, internal: bool) -> SecretValue:
        with self._locked():
            defn, ephemeral = self._get(secret.uuid)
            if defn.is_private and not internal:
                raise VirtError("secret is private", code=ErrorNumber.INVALID_SECRET, domain=SECRET)
            value = self._read_value(str(defn.uuid), ephemeral)
        if value is None:
            raise not_found(ErrorNumber.NO_SECRET, f"secret '{defn.uuid}' does not have a value", SECRET)
        return value
