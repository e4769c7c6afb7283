"""The VirtError hierarchy, carrying libvirt's error numbers, domains and levels so errors map 1:1 on the wire."""

from __future__ import annotations

import os
from enum import IntEnum
from typing import Any, ClassVar


class ErrorLevel(IntEnum):
    """virErrorLevel."""

    NONE = 0
    WARNING = 1
    ERROR = 2


class ErrorDomain(IntEnum):
    """virErrorDomain: which part of the system raised the error."""

    NONE = 0
    XEN = 1
    XEND = 2
    XENSTORE = 3
    SEXPR = 4
    XML = 5
    DOM = 6
    RPC = 7
    PROXY = 8
    CONF = 9
    QEMU = 10
    NET = 11
    TEST = 12
    REMOTE = 13
    OPENVZ = 14
    XENXM = 15
    STATS_LINUX = 16
    LXC = 17
    STORAGE = 18
    NETWORK = 19
    DOMAIN = 20
    UML = 21
    NODEDEV = 22
    XEN_INOTIFY = 23
    SECURITY = 24
    VBOX = 25
    INTERFACE = 26
    ONE = 27
    ESX = 28
    PHYP = 29
    SECRET = 30
    CPU = 31
    XENAPI = 32
    NWFILTER = 33
    HOOK = 34
    DOMAIN_SNAPSHOT = 35
    AUDIT = 36
    SYSINFO = 37
    STREAMS = 38
    VMWARE = 39
    EVENT = 40
    LIBXL = 41
    LOCKING = 42
    HYPERV = 43
    CAPABILITIES = 44
    URI = 45
    AUTH = 46
    DBUS = 47
    PARALLELS = 48
    DEVICE = 49
    SSH = 50
    LOCKSPACE = 51
    INITCTL = 52
    IDENTITY = 53
    CGROUP = 54
    ACCESS = 55
    SYSTEMD = 56
    BHYVE = 57
    CRYPTO = 58
    FIREWALL = 59
    POLKIT = 60
    THREAD = 61
    ADMIN = 62
    LOGGING = 63
    XENXL = 64
    PERF = 65
    LIBSSH = 66
    RESCTRL = 67
    FIREWALLD = 68
    DOMAIN_CHECKPOINT = 69
    TPM = 70
    BPF = 71
    CH = 72


class ErrorNumber(IntEnum):
    """virErrorNumber: what went wrong."""

    OK = 0
    INTERNAL_ERROR = 1
    NO_MEMORY = 2
    NO_SUPPORT = 3
    UNKNOWN_HOST = 4
    NO_CONNECT = 5
    INVALID_CONN = 6
    INVALID_DOMAIN = 7
    INVALID_ARG = 8
    OPERATION_FAILED = 9
    GET_FAILED = 10
    POST_FAILED = 11
    HTTP_ERROR = 12
    SEXPR_SERIAL = 13
    NO_XEN = 14
    XEN_CALL = 15
    OS_TYPE = 16
    NO_KERNEL = 17
    NO_ROOT = 18
    NO_SOURCE = 19
    NO_TARGET = 20
    NO_NAME = 21
    NO_OS = 22
    NO_DEVICE = 23
    NO_XENSTORE = 24
    DRIVER_FULL = 25
    CALL_FAILED = 26
    XML_ERROR = 27
    DOM_EXIST = 28
    OPERATION_DENIED = 29
    OPEN_FAILED = 30
    READ_FAILED = 31
    PARSE_FAILED = 32
    CONF_SYNTAX = 33
    WRITE_FAILED = 34
    XML_DETAIL = 35
    INVALID_NETWORK = 36
    NETWORK_EXIST = 37
    SYSTEM_ERROR = 38
    RPC = 39
    GNUTLS_ERROR = 40
    WAR_NO_NETWORK = 41
    NO_DOMAIN = 42
    NO_NETWORK = 43
    INVALID_MAC = 44
    AUTH_FAILED = 45
    INVALID_STORAGE_POOL = 46
    INVALID_STORAGE_VOL = 47
    WAR_NO_STORAGE = 48
    NO_STORAGE_POOL = 49
    NO_STORAGE_VOL = 50
    WAR_NO_NODE = 51
    INVALID_NODE_DEVICE = 52
    NO_NODE_DEVICE = 53
    NO_SECURITY_MODEL = 54
    OPERATION_INVALID = 55
    WAR_NO_INTERFACE = 56
    NO_INTERFACE = 57
    INVALID_INTERFACE = 58
    MULTIPLE_INTERFACES = 59
    WAR_NO_NWFILTER = 60
    INVALID_NWFILTER = 61
    NO_NWFILTER = 62
    BUILD_FIREWALL = 63
    WAR_NO_SECRET = 64
    INVALID_SECRET = 65
    NO_SECRET = 66
    CONFIG_UNSUPPORTED = 67
    OPERATION_TIMEOUT = 68
    MIGRATE_PERSIST_FAILED = 69
    HOOK_SCRIPT_FAILED = 70
    INVALID_DOMAIN_SNAPSHOT = 71
    NO_DOMAIN_SNAPSHOT = 72
    INVALID_STREAM = 73
    ARGUMENT_UNSUPPORTED = 74
    STORAGE_PROBE_FAILED = 75
    STORAGE_POOL_BUILT = 76
    SNAPSHOT_REVERT_RISKY = 77
    OPERATION_ABORTED = 78
    AUTH_CANCELLED = 79
    NO_DOMAIN_METADATA = 80
    MIGRATE_UNSAFE = 81
    OVERFLOW = 82
    BLOCK_COPY_ACTIVE = 83
    OPERATION_UNSUPPORTED = 84
    SSH = 85
    AGENT_UNRESPONSIVE = 86
    RESOURCE_BUSY = 87
    ACCESS_DENIED = 88
    DBUS_SERVICE = 89
    STORAGE_VOL_EXIST = 90
    CPU_INCOMPATIBLE = 91
    XML_INVALID_SCHEMA = 92
    MIGRATE_FINISH_OK = 93
    AUTH_UNAVAILABLE = 94
    NO_SERVER = 95
    NO_CLIENT = 96
    AGENT_UNSYNCED = 97
    LIBSSH = 98
    DEVICE_MISSING = 99
    INVALID_NWFILTER_BINDING = 100
    NO_NWFILTER_BINDING = 101
    INVALID_DOMAIN_CHECKPOINT = 102
    NO_DOMAIN_CHECKPOINT = 103
    NO_DOMAIN_BACKUP = 104
    INVALID_NETWORK_PORT = 105
    NETWORK_PORT_EXIST = 106
    NO_NETWORK_PORT = 107
    NO_HOSTNAME = 108
    CHECKPOINT_INCONSISTENT = 109
    MULTIPLE_DOMAINS = 110


E = ErrorNumber

# The text libvirt puts in front of the detail of each error ("Domain not found: %s").
_PREFIX: dict[ErrorNumber | int, str] = {
    E.INTERNAL_ERROR: "internal error: {}",
    E.NO_MEMORY: "out of memory",
    E.NO_SUPPORT: "this function is not supported by the connection driver: {}",
    E.NO_CONNECT: "no connection driver available for {}",
    E.INVALID_CONN: "invalid connection pointer in {}",
    E.INVALID_DOMAIN: "invalid domain pointer in {}",
    E.INVALID_ARG: "invalid argument: {}",
    E.OPERATION_FAILED: "operation failed: {}",
    E.OS_TYPE: "unknown OS type {}",
    E.NO_SOURCE: "missing source information for {}",
    E.NO_TARGET: "missing target information for {}",
    E.NO_NAME: "missing name information in {}",
    E.NO_OS: "missing operating system information for {}",
    E.NO_DEVICE: "missing devices information for {}",
    E.XML_ERROR: "XML error: {}",
    E.DOM_EXIST: "operation failed: {}",
    E.OPERATION_DENIED: "operation forbidden: {}",
    E.OPEN_FAILED: "failed to open {}",
    E.READ_FAILED: "failed to read {}",
    E.PARSE_FAILED: "failed to parse {}",
    E.CONF_SYNTAX: "configuration file syntax error: {}",
    E.WRITE_FAILED: "failed to write {}",
    E.XML_DETAIL: "{}",  # libvirt prints the parser's detail alone
    E.INVALID_NETWORK: "invalid network pointer in {}",
    E.NETWORK_EXIST: "this network exists already: {}",
    E.SYSTEM_ERROR: "{}",
    E.RPC: "RPC failure: {}",
    E.NO_DOMAIN: "Domain not found: {}",
    E.NO_NETWORK: "Network not found: {}",
    E.INVALID_MAC: "invalid MAC address: {}",
    E.AUTH_FAILED: "authentication failed: {}",
    E.INVALID_STORAGE_POOL: "invalid storage pool pointer in {}",
    E.INVALID_STORAGE_VOL: "invalid storage volume pointer in {}",
    E.NO_STORAGE_POOL: "Storage pool not found: {}",
    E.NO_STORAGE_VOL: "Storage volume not found: {}",
    E.INVALID_NODE_DEVICE: "invalid node device pointer in {}",
    E.NO_NODE_DEVICE: "Node device not found: {}",
    E.NO_SECURITY_MODEL: "Security model not found: {}",
    E.OPERATION_INVALID: "Requested operation is not valid: {}",
    E.NO_INTERFACE: "Interface not found: {}",
    E.INVALID_INTERFACE: "invalid interface pointer in {}",
    E.MULTIPLE_INTERFACES: "multiple matching interfaces found: {}",
    E.INVALID_NWFILTER: "Invalid network filter: {}",
    E.NO_NWFILTER: "Network filter not found: {}",
    E.BUILD_FIREWALL: "Error while building firewall: {}",
    E.INVALID_SECRET: "Invalid secret: {}",
    E.NO_SECRET: "Secret not found: {}",
    E.CONFIG_UNSUPPORTED: "unsupported configuration: {}",
    E.OPERATION_TIMEOUT: "Timed out during operation: {}",
    E.MIGRATE_PERSIST_FAILED: "Failed to make domain persistent after migration: {}",
    E.HOOK_SCRIPT_FAILED: "Hook script execution failed: {}",
    E.INVALID_DOMAIN_SNAPSHOT: "Invalid snapshot: {}",
    E.NO_DOMAIN_SNAPSHOT: "Domain snapshot not found: {}",
    E.INVALID_STREAM: "invalid stream pointer in {}",
    E.ARGUMENT_UNSUPPORTED: "argument unsupported: {}",
    E.STORAGE_PROBE_FAILED: "Storage pool probe failed: {}",
    E.STORAGE_POOL_BUILT: "Storage pool already built: {}",
    E.SNAPSHOT_REVERT_RISKY: "revert requires force: {}",
    E.OPERATION_ABORTED: "operation aborted: {}",
    E.AUTH_CANCELLED: "authentication cancelled: {}",
    E.NO_DOMAIN_METADATA: "metadata not found: {}",
    E.MIGRATE_UNSAFE: "Unsafe migration: {}",
    E.OVERFLOW: "numerical overflow: {}",
    E.BLOCK_COPY_ACTIVE: "block copy still active: {}",
    E.OPERATION_UNSUPPORTED: "Operation not supported: {}",
    E.SSH: "SSH transport error: {}",
    E.AGENT_UNRESPONSIVE: "Guest agent is not responding: {}",
    E.RESOURCE_BUSY: "resource busy: {}",
    E.ACCESS_DENIED: "access denied: {}",
    E.DBUS_SERVICE: "error from service: {}",
    E.STORAGE_VOL_EXIST: "this storage volume exists already: {}",
    E.CPU_INCOMPATIBLE: "the CPU is incompatible with host CPU: {}",
    E.XML_INVALID_SCHEMA: "XML document failed to validate against schema: {}",
    E.MIGRATE_FINISH_OK: "migration successfully aborted: {}",
    E.AUTH_UNAVAILABLE: "authentication unavailable: {}",
    E.NO_SERVER: "Server not found: {}",
    E.NO_CLIENT: "Client not found: {}",
    E.AGENT_UNSYNCED: "guest agent replied with wrong id to guest-sync command: {}",
    E.LIBSSH: "libssh transport error: {}",
    E.DEVICE_MISSING: "device not found: {}",
    E.INVALID_NWFILTER_BINDING: "Invalid network filter binding: {}",
    E.NO_NWFILTER_BINDING: "Network filter binding not found: {}",
    E.INVALID_DOMAIN_CHECKPOINT: "Invalid checkpoint: {}",
    E.NO_DOMAIN_CHECKPOINT: "Domain checkpoint not found: {}",
    E.NO_DOMAIN_BACKUP: "Domain backup job id not found: {}",
    E.INVALID_NETWORK_PORT: "Invalid network port pointer: {}",
    E.NETWORK_PORT_EXIST: "this network port exists already: {}",
    E.NO_NETWORK_PORT: "network port not found: {}",
    E.NO_HOSTNAME: "no hostname found: {}",
    E.CHECKPOINT_INCONSISTENT: "checkpoint inconsistent: {}",
    E.MULTIPLE_DOMAINS: "multiple matching domains found: {}",
}


def format_message(code: ErrorNumber | int, detail: str | None) -> str:
    """libvirt's full message for an error number and its detail text."""
    prefix = _PREFIX.get(code, "{}")
    if detail is None or detail == "":
        if code == E.XML_DETAIL:
            return "XML description is invalid or not well formed"
        return prefix.replace(": {}", "").replace(" {}", "").replace("{}", "unknown error")
    return prefix.format(detail) if "{}" in prefix else prefix


class VirtError(Exception):
    """Base of every error virt raises on purpose: libvirt's code, domain and level, and a message.

    ``str(err)`` is libvirt's full message (prefix and detail), as virsh prints it after ``error:``.
    """

    #: The default error number of the class; instances may carry another (from_code, code=).
    code: ErrorNumber | int = ErrorNumber.INTERNAL_ERROR
    #: Subclass that each error number maps to, filled by ``__init_subclass__``.
    _by_code: ClassVar[dict[ErrorNumber, type[VirtError]]] = {}

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: ErrorNumber | int | None = None,
        domain: ErrorDomain | int = ErrorDomain.NONE,
        level: ErrorLevel | int = ErrorLevel.ERROR,
        message: str | None = None,
        **extra: Any,
    ) -> None:
        self.code = _as_enum(ErrorNumber, code) if code is not None else type(self).code
        self.domain = _as_enum(ErrorDomain, domain)
        self.level = _as_enum(ErrorLevel, level)
        self.detail = detail
        self.message = message if message is not None else format_message(self.code, detail)
        #: Extra fields carried on the wire (str1..3, int1..2, network object names).
        self.extra = extra
        super().__init__(self.message)

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        for code in cls.__dict__.get("codes", ()) or ((cls.__dict__["code"],) if "code" in cls.__dict__ else ()):
            VirtError._by_code.setdefault(code, cls)

    @classmethod
    def from_code(
        cls, code: int, message: str, domain: int = 0, level: int = ErrorLevel.ERROR, **extra: Any
    ) -> VirtError:
        """Rebuild an error received from elsewhere (the wire, a subprocess) with its exact message."""
        number = _as_enum(ErrorNumber, code)
        klass = VirtError._by_code.get(number, VirtError) if isinstance(number, ErrorNumber) else VirtError
        return klass(None, code=number, domain=domain, level=level, message=message, **extra)

    def __repr__(self) -> str:
        code = self.code.name if isinstance(self.code, ErrorNumber) else self.code
        return f"{type(self).__name__}(code={code}, domain={self.domain!r}, message={self.message!r})"


def _as_enum(kind: type[IntEnum], value: int) -> Any:
    try:
        return kind(value)
    except ValueError:
        return int(value)


class InternalError(VirtError):
    code = E.INTERNAL_ERROR


class NoSupportError(VirtError):
    """The driver does not implement this call."""

    code = E.NO_SUPPORT


class NoConnectError(VirtError):
    code = E.NO_CONNECT


class InvalidArgError(VirtError):
    code = E.INVALID_ARG


class OperationFailedError(VirtError):
    code = E.OPERATION_FAILED


class OperationInvalidError(VirtError):
    """The object is not in a state where the call makes sense (e.g. starting a running domain)."""

    code = E.OPERATION_INVALID


class OperationUnsupportedError(VirtError):
    code = E.OPERATION_UNSUPPORTED


class OperationDeniedError(VirtError):
    code = E.OPERATION_DENIED


class OperationTimeoutError(VirtError):
    code = E.OPERATION_TIMEOUT


class ConfigUnsupportedError(VirtError):
    code = E.CONFIG_UNSUPPORTED


class XMLError(VirtError):
    """The XML is malformed or breaks a rule of its format."""

    code = E.XML_ERROR
    codes = (E.XML_ERROR, E.XML_DETAIL, E.XML_INVALID_SCHEMA)


class SystemError_(VirtError):
    """A system call failed; the message carries the OS error text."""

    code = E.SYSTEM_ERROR

    @classmethod
    def from_errno(cls, err: int | OSError, detail: str, **extra: Any) -> SystemError_:
        """libvirt's virReportSystemError: ``"<detail>: <strerror>"``, the errno kept as ``int1``."""
        number = err.errno if isinstance(err, OSError) else err
        if number is None:  # an OSError raised without an errno (rare, e.g. by a library)
            return cls(f"{detail}: {err}", **extra)
        return cls(f"{detail}: {os.strerror(number)}", int1=number, **extra)


class RPCError(VirtError):
    code = E.RPC


class AuthFailedError(VirtError):
    code = E.AUTH_FAILED
    codes = (E.AUTH_FAILED, E.AUTH_CANCELLED, E.AUTH_UNAVAILABLE, E.ACCESS_DENIED)


class ConfSyntaxError(VirtError):
    code = E.CONF_SYNTAX


class NotFoundError(VirtError):
    """No object matches the lookup."""

    code = E.NO_DOMAIN
    codes = (
        E.NO_DOMAIN, E.NO_NETWORK, E.NO_STORAGE_POOL, E.NO_STORAGE_VOL, E.NO_NODE_DEVICE,
        E.NO_INTERFACE, E.NO_NWFILTER, E.NO_SECRET, E.NO_DOMAIN_SNAPSHOT, E.NO_DOMAIN_CHECKPOINT,
        E.NO_NETWORK_PORT, E.NO_NWFILTER_BINDING, E.NO_DOMAIN_METADATA, E.NO_DOMAIN_BACKUP,
        E.DEVICE_MISSING,
    )  # fmt: skip


class ExistsError(VirtError):
    """An object with that name or UUID exists already."""

    code = E.DOM_EXIST
    codes = (E.DOM_EXIST, E.NETWORK_EXIST, E.STORAGE_VOL_EXIST, E.NETWORK_PORT_EXIST, E.STORAGE_POOL_BUILT)


def not_found(code: ErrorNumber, detail: str, domain: ErrorDomain = ErrorDomain.NONE) -> NotFoundError:
    """A lookup miss with libvirt's code for the object kind."""
    return NotFoundError(detail, code=code, domain=domain)
