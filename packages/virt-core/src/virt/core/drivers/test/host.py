"""The mock host's calls: version, hostname, node info, free memory, capabilities, sysinfo."""

from __future__ import annotations

import socket
from typing import Any, ClassVar

from virt.core.drivers.test.base import Calls
from virt.core.drivers.test.errors import invalid_arg
from virt.core.types import NodeInfo

#: virConnectGetLibVersion: libvirt 9.0.0, so clients comparing versions behave as with libvirt 9.0.
LIB_VERSION = 9_000_000
#: virConnectGetVersion of libvirt's test driver ("TEST 0.0.2").
HV_VERSION = 2
MAX_VCPUS = 32

SYSINFO = """<sysinfo type='smbios'>
  <bios>
    <entry name='vendor'>LENOVO</entry>
    <entry name='version'>G4ETA1WW (2.61 )</entry>
    <entry name='date'>05/07/2014</entry>
    <entry name='release'>2.61</entry>
  </bios>
</sysinfo>
"""

#: Host CPU statistics libvirt's test driver reports for every CPU (nanoseconds).
CPU_STATS = {"user": 9797400000, "kernel": 34678723400000, "idle": 87264900000, "iowait": 763600000}


def host_name() -> str:
    """virGetHostname: the name, made fully qualified through the resolver when it has no dot."""
    name = socket.gethostname()
    if "." in name:
        return name
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_UNSPEC, 0, 0, socket.AI_CANONNAME)
    except OSError:
        return name
    canon = infos[0][3] if infos else ""
    return name if not canon or canon.startswith("localhost") else canon


class HostCalls(Calls):
    FLAGS: ClassVar[dict[str, int]] = {"connect_get_sysinfo": 0, "node_get_cpu_stats": 0, "node_get_cpu_map": 0,
             "node_get_free_pages": 0, "connect_get_capabilities": 0}

    def connect_get_type(self) -> str:
        return "TEST"

    def connect_get_version(self) -> int:
        return HV_VERSION

    def connect_get_lib_version(self) -> int:
        return LIB_VERSION

    def connect_get_hostname(self) -> str:
        return host_name()

    def connect_get_uri(self) -> str:
        return str(self.uri)  # type: ignore[attr-defined]

    def connect_get_max_vcpus(self, type: str | None = None) -> int:
        return MAX_VCPUS

    def connect_is_secure(self) -> int:
        return 1

    def connect_is_encrypted(self) -> int:
        return 0

    def connect_is_alive(self) -> int:
        return 1

    def connect_supports_feature(self, feature: int) -> int:
        """virDrvFeature: string typed parameters (9) and the fixed network update order (16)."""
        return 1 if feature in (9, 16) else 0

    def connect_get_sysinfo(self, flags: int = 0) -> str:
        return SYSINFO

    def connect_get_capabilities(self) -> str:
        from virt.core.drivers.test.caps import capabilities_xml

        return capabilities_xml(self.state.host)

    def node_get_info(self) -> NodeInfo:
        h = self.state.host
        return NodeInfo(h.model, h.memory, h.cpus, h.mhz, h.nodes, h.sockets, h.cores, h.threads)

    def node_get_free_memory(self) -> int:
        # libvirt sums the cells' free KiB and returns that number as is
        return sum(c.free for c in self.state.host.cells)

    def node_get_cells_free_memory(self, start_cell: int, max_cells: int) -> list[int]:
        cells = self.state.host.cells
        if start_cell >= len(cells):
            raise invalid_arg("Range exceeds available cells")
        return [c.memory for c in cells[start_cell:start_cell + max_cells]]

    def node_get_cpu_stats(self, cpu_num: int, nparams: int, flags: int = 0) -> tuple[list[tuple[str, int]], int]:
        """([(field, nanoseconds)], count); with ``nparams`` 0 only the count."""
        stats = list(CPU_STATS.items())
        if nparams == 0:
            return [], len(stats)
        return stats[:nparams], min(nparams, len(stats))

    def node_get_cpu_map(self, flags: int = 0) -> tuple[list[bool], int, int]:
        """(cpumap, online count, number of CPUs): libvirt's fixed map 0x15 of 8 CPUs."""
        return [bool(0x15 & (1 << i)) for i in range(8)], 3, 8

    def node_get_security_model(self) -> tuple[str, str]:
        return "testSecurity", ""

    def node_get_free_pages(self, pages: list[int], start_cell: int, cell_count: int, flags: int = 0) -> list[int]:
        counts, x = [], 6
        for _ in range(cell_count):
            for _ in pages:
                x = x * 2 + 7
                counts.append(x)
        return counts

    # Events are delivered by the connection's bus; registering needs no driver state.
    def connect_domain_event_register_any(self, event_id: int, *args: Any) -> int:
        return 0

    def connect_network_event_register_any(self, event_id: int, *args: Any) -> int:
        return 0

    def connect_storage_pool_event_register_any(self, event_id: int, *args: Any) -> int:
        return 0

    def connect_node_device_event_register_any(self, event_id: int, *args: Any) -> int:
        return 0

    def connect_secret_event_register_any(self, event_id: int, *args: Any) -> int:
        return 0
