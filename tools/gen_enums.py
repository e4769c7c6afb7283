#!/usr/bin/python3
"""Regenerate packages/virt-core/src/virt/core/enums.py from python3-libvirt's constants (numbers are facts).

Run with Debian's /usr/bin/python3 (python3-libvirt installed). Each group below names an enum class,
the constant prefix it takes, and whether it is a set of flags.
"""
import json
import re
import sys
import textwrap
from pathlib import Path

import libvirt

# (class, prefix, flag?, only these names after the prefix or None for all with the prefix, docstring)
GROUPS = [
    ("DomainState", "VIR_DOMAIN_", False, "NOSTATE RUNNING BLOCKED PAUSED SHUTDOWN SHUTOFF CRASHED PMSUSPENDED", "virDomainState."),
    ("DomainNostateReason", "VIR_DOMAIN_NOSTATE_", False, None, "Reasons of the no-state state."),
    ("DomainRunningReason", "VIR_DOMAIN_RUNNING_", False, None, "Why a domain is running."),
    ("DomainBlockedReason", "VIR_DOMAIN_BLOCKED_", False, None, "Why a domain is blocked."),
    ("DomainPausedReason", "VIR_DOMAIN_PAUSED_", False, None, "Why a domain is paused."),
    ("DomainShutdownReason", "VIR_DOMAIN_SHUTDOWN_", False, "UNKNOWN USER", "Why a domain is shutting down."),
    ("DomainShutoffReason", "VIR_DOMAIN_SHUTOFF_", False, None, "Why a domain is shut off."),
    ("DomainCrashedReason", "VIR_DOMAIN_CRASHED_", False, None, "Why a domain crashed."),
    ("DomainPMSuspendedReason", "VIR_DOMAIN_PMSUSPENDED_", False, "UNKNOWN", "Why a domain is PM-suspended."),
    ("DomainModificationImpact", "VIR_DOMAIN_AFFECT_", True, None, "Live and/or persistent config changes."),
    ("DomainCreateFlags", "VIR_DOMAIN_START_", True, None, "virDomainCreateFlags."),
    ("DomainDestroyFlags", "VIR_DOMAIN_DESTROY_", True, None, "virDomainDestroyFlagsValues."),
    ("DomainShutdownFlags", "VIR_DOMAIN_SHUTDOWN_", True, "DEFAULT ACPI_POWER_BTN GUEST_AGENT INITCTL SIGNAL PARAVIRT", "virDomainShutdownFlagValues."),
    ("DomainRebootFlags", "VIR_DOMAIN_REBOOT_", True, None, "virDomainRebootFlagValues."),
    ("DomainUndefineFlags", "VIR_DOMAIN_UNDEFINE_", True, None, "virDomainUndefineFlagsValues."),
    ("DomainDefineFlags", "VIR_DOMAIN_DEFINE_", True, None, "virDomainDefineFlags."),
    ("DomainXMLFlags", "VIR_DOMAIN_XML_", True, None, "virDomainXMLFlags."),
    ("DomainSaveRestoreFlags", "VIR_DOMAIN_SAVE_", True, "BYPASS_CACHE RUNNING PAUSED RESET_NVRAM", "virDomainSaveRestoreFlags."),
    ("DomainMemoryModFlags", "VIR_DOMAIN_MEM_", True, None, "virDomainMemoryModFlags."),
    ("DomainVcpuFlags", "VIR_DOMAIN_VCPU_", True, "CURRENT LIVE CONFIG MAXIMUM GUEST HOTPLUGGABLE", "virDomainVcpuFlags."),
    ("DomainDeviceModifyFlags", "VIR_DOMAIN_DEVICE_MODIFY_", True, None, "virDomainDeviceModifyFlags."),
    ("DomainEventID", "VIR_DOMAIN_EVENT_ID_", False, None, "virDomainEventID."),
    ("DomainEventType", "VIR_DOMAIN_EVENT_", False, "DEFINED UNDEFINED STARTED SUSPENDED RESUMED STOPPED SHUTDOWN PMSUSPENDED CRASHED", "Lifecycle event types."),
    ("DomainEventDefinedDetail", "VIR_DOMAIN_EVENT_DEFINED_", False, None, "Details of DEFINED events."),
    ("DomainEventUndefinedDetail", "VIR_DOMAIN_EVENT_UNDEFINED_", False, None, "Details of UNDEFINED events."),
    ("DomainEventStartedDetail", "VIR_DOMAIN_EVENT_STARTED_", False, None, "Details of STARTED events."),
    ("DomainEventSuspendedDetail", "VIR_DOMAIN_EVENT_SUSPENDED_", False, None, "Details of SUSPENDED events."),
    ("DomainEventResumedDetail", "VIR_DOMAIN_EVENT_RESUMED_", False, None, "Details of RESUMED events."),
    ("DomainEventStoppedDetail", "VIR_DOMAIN_EVENT_STOPPED_", False, None, "Details of STOPPED events."),
    ("DomainEventShutdownDetail", "VIR_DOMAIN_EVENT_SHUTDOWN_", False, None, "Details of SHUTDOWN events."),
    ("DomainEventPMSuspendedDetail", "VIR_DOMAIN_EVENT_PMSUSPENDED_", False, None, "Details of PMSUSPENDED events."),
    ("DomainEventCrashedDetail", "VIR_DOMAIN_EVENT_CRASHED_", False, None, "Details of CRASHED events."),
    ("ConnectListAllDomainsFlags", "VIR_CONNECT_LIST_DOMAINS_", True, None, "Filters of listAllDomains."),
    ("ConnectListAllNetworksFlags", "VIR_CONNECT_LIST_NETWORKS_", True, None, "Filters of listAllNetworks."),
    ("ConnectListAllStoragePoolsFlags", "VIR_CONNECT_LIST_STORAGE_POOLS_", True, None, "Filters of listAllStoragePools."),
    ("ConnectListAllInterfacesFlags", "VIR_CONNECT_LIST_INTERFACES_", True, None, "Filters of listAllInterfaces."),
    ("ConnectListAllNodeDeviceFlags", "VIR_CONNECT_LIST_NODE_DEVICES_", True, None, "Filters of listAllNodeDevices."),
    ("ConnectListAllSecretsFlags", "VIR_CONNECT_LIST_SECRETS_", True, None, "Filters of listAllSecrets."),
    ("ConnectFlags", "VIR_CONNECT_", True, "RO NO_ALIASES", "virConnectFlags."),
    ("DomainSnapshotCreateFlags", "VIR_DOMAIN_SNAPSHOT_CREATE_", True, None, "virDomainSnapshotCreateFlags."),
    ("DomainSnapshotListFlags", "VIR_DOMAIN_SNAPSHOT_LIST_", True, None, "virDomainSnapshotListFlags."),
    ("DomainSnapshotRevertFlags", "VIR_DOMAIN_SNAPSHOT_REVERT_", True, None, "virDomainSnapshotRevertFlags."),
    ("DomainSnapshotDeleteFlags", "VIR_DOMAIN_SNAPSHOT_DELETE_", True, None, "virDomainSnapshotDeleteFlags."),
    ("DomainSnapshotXMLFlags", "VIR_DOMAIN_SNAPSHOT_XML_", True, None, "virDomainSnapshotXMLFlags."),
    ("NetworkXMLFlags", "VIR_NETWORK_XML_", True, None, "virNetworkXMLFlags."),
    ("NetworkEventID", "VIR_NETWORK_EVENT_ID_", False, None, "virNetworkEventID."),
    ("NetworkEventLifecycleType", "VIR_NETWORK_EVENT_", False, "DEFINED UNDEFINED STARTED STOPPED", "Network lifecycle events."),
    ("NetworkUpdateCommand", "VIR_NETWORK_UPDATE_COMMAND_", False, None, "virNetworkUpdateCommand."),
    ("NetworkUpdateSection", "VIR_NETWORK_SECTION_", False, None, "virNetworkUpdateSection."),
    ("NetworkUpdateFlags", "VIR_NETWORK_UPDATE_AFFECT_", True, None, "virNetworkUpdateFlags."),
    ("StoragePoolState", "VIR_STORAGE_POOL_", False, "INACTIVE BUILDING RUNNING DEGRADED INACCESSIBLE", "virStoragePoolState."),
    ("StoragePoolBuildFlags", "VIR_STORAGE_POOL_BUILD_", True, None, "virStoragePoolBuildFlags."),
    ("StoragePoolDeleteFlags", "VIR_STORAGE_POOL_DELETE_", True, None, "virStoragePoolDeleteFlags."),
    ("StoragePoolCreateFlags", "VIR_STORAGE_POOL_CREATE_", True, None, "virStoragePoolCreateFlags."),
    ("StoragePoolEventID", "VIR_STORAGE_POOL_EVENT_ID_", False, None, "virStoragePoolEventID."),
    ("StorageVolType", "VIR_STORAGE_VOL_", False, "FILE BLOCK DIR NETWORK NETDIR PLOOP", "virStorageVolType."),
    ("StorageVolDeleteFlags", "VIR_STORAGE_VOL_DELETE_", True, None, "virStorageVolDeleteFlags."),
    ("StorageVolWipeAlgorithm", "VIR_STORAGE_VOL_WIPE_ALG_", False, None, "virStorageVolWipeAlgorithm."),
    ("StorageVolCreateFlags", "VIR_STORAGE_VOL_CREATE_", True, None, "virStorageVolCreateFlags."),
    ("StorageVolResizeFlags", "VIR_STORAGE_VOL_RESIZE_", True, None, "virStorageVolResizeFlags."),
    ("StorageVolUploadFlags", "VIR_STORAGE_VOL_UPLOAD_", True, None, "virStorageVolUploadFlags."),
    ("StorageVolDownloadFlags", "VIR_STORAGE_VOL_DOWNLOAD_", True, None, "virStorageVolDownloadFlags."),
    ("StorageVolInfoFlags", "VIR_STORAGE_VOL_", True, "USE_ALLOCATION GET_PHYSICAL", "virStorageVolInfoFlags."),
    ("SecretUsageType", "VIR_SECRET_USAGE_TYPE_", False, None, "virSecretUsageType."),
    ("SecretEventID", "VIR_SECRET_EVENT_ID_", False, None, "virSecretEventID."),
    ("NodeDeviceEventID", "VIR_NODE_DEVICE_EVENT_ID_", False, None, "virNodeDeviceEventID."),
    ("StreamFlags", "VIR_STREAM_", True, "NONBLOCK", "virStreamFlags."),
    ("StreamEventType", "VIR_STREAM_EVENT_", True, None, "virStreamEventType."),
    ("DomainStatsTypes", "VIR_DOMAIN_STATS_", True, None, "virDomainStatsTypes."),
    ("ConnectGetAllDomainStatsFlags", "VIR_CONNECT_GET_ALL_DOMAINS_STATS_", True, None, "virConnectGetAllDomainStatsFlags."),
    ("DomainBlockJobType", "VIR_DOMAIN_BLOCK_JOB_TYPE_", False, None, "virDomainBlockJobType."),
    ("DomainControlState", "VIR_DOMAIN_CONTROL_", False, "OK JOB OCCUPIED ERROR", "virDomainControlState."),
    ("DomainMetadataType", "VIR_DOMAIN_METADATA_", False, None, "virDomainMetadataType."),
    ("DomainGetHostnameFlags", "VIR_DOMAIN_GET_HOSTNAME_", True, None, "virDomainGetHostnameFlags."),
    ("DomainCoreDumpFlags", "VIR_DUMP_", True, None, "virDomainCoreDumpFlags."),
    ("KeycodeSet", "VIR_KEYCODE_SET_", False, None, "virKeycodeSet."),
    ("DomainCheckpointCreateFlags", "VIR_DOMAIN_CHECKPOINT_CREATE_", True, None, "virDomainCheckpointCreateFlags."),
    ("DomainCheckpointListFlags", "VIR_DOMAIN_CHECKPOINT_LIST_", True, None, "virDomainCheckpointListFlags."),
    ("NodeSuspendTarget", "VIR_NODE_SUSPEND_TARGET_", False, None, "virNodeSuspendTarget."),
    ("DomainInterfaceAddressesSource", "VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_", False, None, "Where interface addresses come from."),
    ("IPAddrType", "VIR_IP_ADDR_TYPE_", False, None, "virIPAddrType."),
    ("TypedParameterType", "VIR_TYPED_PARAM_", False, "INT UINT LLONG ULLONG DOUBLE BOOLEAN STRING", "virTypedParameterType."),
]


def members(prefix, only):
    found = {}
    for name in dir(libvirt):
        if not name.startswith(prefix):
            continue
        rest = name[len(prefix):]
        if only is not None and rest not in only.split():
            continue
        if only is None and rest == "LAST":
            continue
        value = getattr(libvirt, name)
        if isinstance(value, int):
            found[rest] = value
    return sorted(found.items(), key=lambda kv: (kv[1], kv[0]))


def main():
    """Write enums.py (the table each class is built from on first use) and enums.pyi (the classes)."""
    target = Path(__file__).resolve().parents[1] / "packages/virt-core/src/virt/core/enums"
    stub = ['"""libvirt\'s enums and flags with their numeric values (generated by tools/gen_enums.py): '
            'the classes for type checkers."""', "", "from enum import IntEnum, IntFlag", ""]
    table = []
    for cls, prefix, flag, only, doc in GROUPS:
        items = members(prefix, only)
        if not items:
            sys.exit(f"{cls}: nothing matches {prefix}")
        stub += ["", f"class {cls}({'IntFlag' if flag else 'IntEnum'}):", f'    """{doc}"""', ""]
        pairs = []
        for rest, value in items:
            key = rest if re.match(r"[A-Z_]", rest) else "_" + rest
            stub.append(f"    {key} = {value}")
            pairs.append(f"{key}={value}")
        stub.append("")
        table.append(f"    {json.dumps(cls)}: ({flag}, {json.dumps(doc)},")
        lines = textwrap.wrap(" ".join(pairs), 96, break_on_hyphens=False)
        table += [f"        {json.dumps(line + ' ')}" for line in lines[:-1]] + [f"        {json.dumps(lines[-1])}),"]
    target.with_suffix(".pyi").write_text("\n".join(stub).replace("\n\n\n\n", "\n\n\n"))
    target.with_suffix(".py").write_text(LAZY_MODULE.replace("@TABLE@", "\n".join(table)))


#: enums.py: the classes are created on first use (all of them at import took ~15 ms of every start-up).
LAZY_MODULE = '''"""libvirt's enums and flags with their numeric values (generated by tools/gen_enums.py).

Each class is built on first use from the table below: creating all of them at import took
~15 ms of every start-up, and a program uses a few. ``enums.pyi`` declares them for type checkers.
"""

from __future__ import annotations

import threading
from enum import IntEnum, IntFlag
from typing import Any

#: Class name -> (a set of flags?, docstring, "NAME=value ..." in declaration order).
_TABLE: dict[str, tuple[bool, str, str]] = {
@TABLE@
}

__all__ = list(_TABLE)
_lock = threading.Lock()


def __getattr__(name: str) -> Any:
    spec = _TABLE.get(name)
    if spec is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _lock:  # one class per name, even when two threads ask first at once
        cls = globals().get(name)
        if cls is None:
            flags, doc, members = spec
            pairs = [(key, int(value)) for key, _, value in (m.partition("=") for m in members.split())]
            base: Any = IntFlag if flags else IntEnum  # the functional API, which typeshed does not describe
            cls = base(name, pairs, module=__name__, qualname=name)
            cls.__doc__ = doc
            globals()[name] = cls
    return cls


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_TABLE))
'''


if __name__ == "__main__":
    main()
