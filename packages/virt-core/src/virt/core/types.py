"""Object references and result records shared by drivers, the public API and the remote protocol.

References mirror libvirt's remote_nonnull_* structs: what identifies an object across a call.
Records are NamedTuples whose field order is the order libvirt's wire structs use.
"""

from __future__ import annotations

from typing import NamedTuple


class DomainRef(NamedTuple):
    name: str
    uuid: str
    id: int = -1


class NetworkRef(NamedTuple):
    name: str
    uuid: str


class NetworkPortRef(NamedTuple):
    net: NetworkRef
    uuid: str


class StoragePoolRef(NamedTuple):
    name: str
    uuid: str


class StorageVolRef(NamedTuple):
    pool: str
    name: str
    key: str


class NodeDeviceRef(NamedTuple):
    name: str


class InterfaceRef(NamedTuple):
    name: str
    mac: str


class SecretRef(NamedTuple):
    uuid: str
    usage_type: int
    usage_id: str


class NWFilterRef(NamedTuple):
    name: str
    uuid: str


class NWFilterBindingRef(NamedTuple):
    portdev: str
    filtername: str


class DomainSnapshotRef(NamedTuple):
    name: str
    dom: DomainRef


class DomainCheckpointRef(NamedTuple):
    name: str
    dom: DomainRef


class DomainInfo(NamedTuple):
    """virDomainGetInfo: memory values in KiB, cpu_time in nanoseconds."""

    state: int
    max_mem: int
    memory: int
    nr_virt_cpu: int
    cpu_time: int


class NodeInfo(NamedTuple):
    """virNodeGetInfo: memory in KiB, mhz in MHz."""

    model: str
    memory: int
    cpus: int
    mhz: int
    nodes: int
    sockets: int
    cores: int
    threads: int


class StoragePoolInfo(NamedTuple):
    state: int
    capacity: int
    allocation: int
    available: int


class StorageVolInfo(NamedTuple):
    type: int
    capacity: int
    allocation: int


class DomainBlockInfo(NamedTuple):
    capacity: int
    allocation: int
    physical: int


class DomainJobInfo(NamedTuple):
    type: int
    time_elapsed: int
    time_remaining: int
    data_total: int
    data_processed: int
    data_remaining: int
    mem_total: int
    mem_processed: int
    mem_remaining: int
    file_total: int
    file_processed: int
    file_remaining: int


class VcpuInfo(NamedTuple):
    number: int
    state: int
    cpu_time: int
    cpu: int


class NetworkDHCPLease(NamedTuple):
    iface: str
    expirytime: int
    type: int
    mac: str
    iaid: str | None
    ipaddr: str
    prefix: int
    hostname: str | None
    clientid: str | None


class DomainStatsRecord(NamedTuple):
    """virConnectGetAllDomainStats: one domain and its typed parameters (name -> value)."""

    dom: DomainRef
    params: dict[str, int | float | bool | str]


class BlockStats(NamedTuple):
    rd_req: int
    rd_bytes: int
    wr_req: int
    wr_bytes: int
    errs: int


class InterfaceStats(NamedTuple):
    rx_bytes: int
    rx_packets: int
    rx_errs: int
    rx_drop: int
    tx_bytes: int
    tx_packets: int
    tx_errs: int
    tx_drop: int
