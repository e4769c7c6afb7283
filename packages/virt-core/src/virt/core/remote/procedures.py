"""The remote program's procedures (REMOTE_PROGRAM 0x20008086): numbers, argument and reply layouts.

Everything is described once, as tables in a compact notation, and compiled into XDR declarations
(``virt.util.xdr``) at import. A procedure line reads::

    273  CONNECT_LIST_ALL_DOMAINS  hi ro  need_results: int, flags: uint -> domains: domain<DOMAIN_LIST_MAX>, ret: uint

number, name (REMOTE_PROC_ without its prefix), flags, then the argument fields and, after ``->``,
the reply fields (either side may be empty: void). Flags: ``ro`` the call is allowed on read-only
connections; ``hi`` libvirt's high priority: the call never waits on a hypervisor, so a server may
run it without handing it to a worker thread; ``event`` the line declares an event MESSAGE (its
fields are the message body); ``stream-in:N``/``stream-out:N`` the call opens a stream the client
writes to / reads from, passed to the driver as argument N (libvirt's @writestream/@readstream);
``fds-in:N`` the call comes with file descriptors (CALL_WITH_FDS), passed to the driver as a list
at argument N; ``fds-out`` the reply carries the descriptors the driver returns (an int or a list).
A field list of the form ``=name`` reuses a named struct as the whole body.

Types: ``int uint hyper uhyper char uchar short ushort bool double``; ``str`` a non-NULL string
(remote_nonnull_string), ``uuid`` 16 raw bytes, ``bytes<N>`` opaque data of at most N bytes,
``bytes[N]`` exactly N bytes, the named structs of ``TYPES``; suffixes ``?`` optional (NULL-able),
``<N>`` a variable array of at most N elements, ``[N]`` a fixed array. N is a number or a name from
``CONSTANTS``. The method name of a procedure on the driver interface is its name in lower case:
REMOTE_PROC_DOMAIN_GET_INFO -> ``domain_get_info`` (:func:`method_name`).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from virt.core.remote.protocol import UUID, NonnullDomain, NonnullNetwork, NonnullString
from virt.util import xdr

#: Limits of remote_protocol.x (without their REMOTE_ prefix).
CONSTANTS: dict[str, int] = {
    "STRING_MAX": 4194304,
    "CONNECT_IDENTITY_PARAMS_MAX": 20,
    "DOMAIN_LIST_MAX": 16384,
    "CPUMAP_MAX": 2048,
    "VCPUINFO_MAX": 16384,
    "CPUMAPS_MAX": 8388608,
    "IOTHREAD_INFO_MAX": 16384,
    "MIGRATE_COOKIE_MAX": 4194304,
    "NETWORK_LIST_MAX": 16384,
    "NETWORK_PORT_LIST_MAX": 16384,
    "INTERFACE_LIST_MAX": 16384,
    "STORAGE_POOL_LIST_MAX": 16384,
    "STORAGE_VOL_LIST_MAX": 16384,
    "NODE_DEVICE_LIST_MAX": 65536,
    "NODE_DEVICE_CAPS_LIST_MAX": 65536,
    "NWFILTER_LIST_MAX": 16384,
    "NWFILTER_BINDING_LIST_MAX": 16384,
    "DOMAIN_SCHEDULER_PARAMETERS_MAX": 16,
    "DOMAIN_BLKIO_PARAMETERS_MAX": 16,
    "DOMAIN_MEMORY_PARAMETERS_MAX": 16,
    "DOMAIN_BLOCK_IO_TUNE_PARAMETERS_MAX": 32,
    "DOMAIN_NUMA_PARAMETERS_MAX": 16,
    "DOMAIN_PERF_EVENTS_MAX": 64,
    "DOMAIN_BLOCK_COPY_PARAMETERS_MAX": 16,
    "NODE_CPU_STATS_MAX": 16,
    "NODE_MEMORY_STATS_MAX": 16,
    "DOMAIN_BLOCK_STATS_PARAMETERS_MAX": 16,
    "NODE_MAX_CELLS": 1024,
    "AUTH_SASL_DATA_MAX": 65536,
    "AUTH_TYPE_LIST_MAX": 20,
    "DOMAIN_MEMORY_STATS_MAX": 1024,
    "DOMAIN_CHECKPOINT_LIST_MAX": 16384,
    "DOMAIN_SNAPSHOT_LIST_MAX": 16384,
    "DOMAIN_BLOCK_PEEK_BUFFER_MAX": 4194304,
    "DOMAIN_MEMORY_PEEK_BUFFER_MAX": 4194304,
    "SECURITY_LABEL_LIST_MAX": 64,
    "SECURITY_MODEL_MAX": 257,  # VIR_SECURITY_MODEL_BUFLEN
    "SECURITY_LABEL_MAX": 4097,  # VIR_SECURITY_LABEL_BUFLEN
    "SECURITY_DOI_MAX": 257,  # VIR_SECURITY_DOI_BUFLEN
    "SECRET_VALUE_MAX": 65536,
    "SECRET_LIST_MAX": 16384,
    "CPU_BASELINE_MAX": 256,
    "DOMAIN_SEND_KEY_MAX": 16,
    "DOMAIN_INTERFACE_PARAMETERS_MAX": 16,
    "DOMAIN_GET_CPU_STATS_NCPUS_MAX": 128,
    "DOMAIN_GET_CPU_STATS_MAX": 2048,
    "DOMAIN_DISK_ERRORS_MAX": 256,
    "NODE_MEMORY_PARAMETERS_MAX": 64,
    "DOMAIN_MIGRATE_PARAM_LIST_MAX": 64,
    "DOMAIN_SAVE_PARAMS_MAX": 64,
    "DOMAIN_JOB_STATS_MAX": 64,
    "CONNECT_CPU_MODELS_MAX": 8192,
    "DOMAIN_FSFREEZE_MOUNTPOINTS_MAX": 256,
    "NETWORK_DHCP_LEASES_MAX": 65536,
    "CONNECT_GET_ALL_DOMAIN_STATS_MAX": 262144,
    "DOMAIN_EVENT_TUNABLE_MAX": 2048,
    "DOMAIN_FSINFO_MAX": 256,
    "DOMAIN_FSINFO_DISKS_MAX": 256,
    "DOMAIN_INTERFACE_MAX": 2048,
    "DOMAIN_IP_ADDR_MAX": 2048,
    "DOMAIN_GUEST_VCPU_PARAMS_MAX": 64,
    "DOMAIN_IOTHREAD_PARAMS_MAX": 64,
    "NODE_SEV_INFO_MAX": 64,
    "DOMAIN_LAUNCH_SECURITY_INFO_PARAMS_MAX": 64,
    "DOMAIN_LAUNCH_SECURITY_STATE_PARAMS_MAX": 64,
    "DOMAIN_GUEST_INFO_PARAMS_MAX": 2048,
    "NETWORK_PORT_PARAMETERS_MAX": 16,
    "DOMAIN_AUTHORIZED_SSH_KEYS_MAX": 2048,
    "DOMAIN_MESSAGES_MAX": 2048,
    "DOMAIN_EVENT_GRAPHICS_IDENTITY_MAX": 20,
}


class TypedParamType:
    """virTypedParameterType: the discriminant of remote_typed_param_value."""

    INT = 1
    UINT = 2
    LLONG = 3
    ULLONG = 4
    DOUBLE = 5
    BOOLEAN = 6
    STRING = 7


class AuthType:
    """remote_auth_type."""

    NONE = 0
    SASL = 1
    POLKIT = 2


T = TypedParamType
TypedParamValue = xdr.union(
    "remote_typed_param_value",
    xdr.int_,
    {T.INT: ("i", xdr.int_), T.UINT: ("ui", xdr.uint), T.LLONG: ("l", xdr.hyper), T.ULLONG: ("ul", xdr.uhyper),
     T.DOUBLE: ("d", xdr.double), T.BOOLEAN: ("b", xdr.int_), T.STRING: ("s", NonnullString)},
)  # fmt: skip

#: Types the tables can name, besides the ones declared in TYPES below.
BUILTINS: dict[str, xdr.XdrType] = {
    "int": xdr.int_, "uint": xdr.uint, "hyper": xdr.hyper, "uhyper": xdr.uhyper, "char": xdr.char,
    "uchar": xdr.uchar, "short": xdr.short, "ushort": xdr.ushort, "bool": xdr.bool_, "double": xdr.double,
    "str": NonnullString, "uuid": UUID, "domain": NonnullDomain, "network": NonnullNetwork,
    "typed_param_value": TypedParamValue,
    "auth_type": xdr.enum("remote_auth_type", {"NONE": AuthType.NONE, "SASL": AuthType.SASL, "POLKIT": AuthType.POLKIT}),
}  # fmt: skip

# Named structs: ``name: fields`` (struct remote_<name> in libvirt).
TYPES = """
network_port: net: network, uuid: uuid
nwfilter: name: str, uuid: uuid
nwfilter_binding: portdev: str, filtername: str
interface: name: str, mac: str
storage_pool: name: str, uuid: uuid
storage_vol: pool: str, name: str, key: str
node_device: name: str
secret: uuid: uuid, usageType: int, usageID: str
domain_checkpoint: name: str, dom: domain
domain_snapshot: name: str, dom: domain
vcpu_info: number: uint, state: int, cpu_time: uhyper, cpu: int
typed_param: field: str, value: typed_param_value
node_get_cpu_stats: field: str, value: uhyper
node_get_memory_stats: field: str, value: uhyper
domain_disk_error: disk: str, error: int
domain_memory_stat: tag: int, val: uhyper
domain_iothread_info: iothread_id: uint, cpumap: bytes<CPUMAP_MAX>
domain_get_security_label_ret: label: char<SECURITY_LABEL_MAX>, enforcing: int
network_dhcp_lease: iface: str, expirytime: hyper, type: int, mac: str?, iaid: str?, ipaddr: str, prefix: uint, hostname: str?, clientid: str?
domain_stats_record: dom: domain, params: typed_param<CONNECT_GET_ALL_DOMAIN_STATS_MAX>
domain_fsinfo: mountpoint: str, name: str, fstype: str, dev_aliases: str<DOMAIN_FSINFO_DISKS_MAX>
domain_ip_addr: type: int, addr: str, prefix: uint
domain_interface: name: str, hwaddr: str?, addrs: domain_ip_addr<DOMAIN_IP_ADDR_MAX>
domain_event_graphics_address: family: int, node: str, service: str
domain_event_graphics_identity: type: str, name: str
domain_event_lifecycle_msg: dom: domain, event: int, detail: int
domain_event_reboot_msg: dom: domain
domain_event_rtc_change_msg: dom: domain, offset: hyper
domain_event_watchdog_msg: dom: domain, action: int
domain_event_io_error_msg: dom: domain, srcPath: str, devAlias: str, action: int
domain_event_io_error_reason_msg: dom: domain, srcPath: str, devAlias: str, action: int, reason: str
domain_event_graphics_msg: dom: domain, phase: int, local: domain_event_graphics_address, remote: domain_event_graphics_address, authScheme: str, subject: domain_event_graphics_identity<DOMAIN_EVENT_GRAPHICS_IDENTITY_MAX>
domain_event_block_job_msg: dom: domain, path: str, type: int, status: int
domain_event_disk_change_msg: dom: domain, oldSrcPath: str?, newSrcPath: str?, devAlias: str, reason: int
domain_event_tray_change_msg: dom: domain, devAlias: str, reason: int
domain_event_pmwakeup_msg: dom: domain
domain_event_pmsuspend_msg: dom: domain
domain_event_balloon_change_msg: dom: domain, actual: uhyper
domain_event_pmsuspend_disk_msg: dom: domain
domain_event_control_error_msg: dom: domain
domain_event_device_removed_msg: dom: domain, devAlias: str
"""

# Procedures of the remote program used by virsh, libvirt-python and virt's drivers.
PROCEDURES = """
1   CONNECT_OPEN                                  hi ro         name: str?, flags: uint
2   CONNECT_CLOSE                                 hi ro
3   CONNECT_GET_TYPE                              hi ro         -> type: str
4   CONNECT_GET_VERSION                           hi ro         -> hv_ver: uhyper
5   CONNECT_GET_MAX_VCPUS                         hi ro         type: str? -> max_vcpus: int
6   NODE_GET_INFO                                 hi ro         -> model: char[32], memory: uhyper, cpus: int, mhz: int, nodes: int, sockets: int, cores: int, threads: int
7   CONNECT_GET_CAPABILITIES                      ro            -> capabilities: str
8   DOMAIN_ATTACH_DEVICE                                        dom: domain, xml: str
9   DOMAIN_CREATE                                               dom: domain
10  DOMAIN_CREATE_XML                                           xml_desc: str, flags: uint -> dom: domain
11  DOMAIN_DEFINE_XML                             hi            xml: str -> dom: domain
12  DOMAIN_DESTROY                                hi            dom: domain
13  DOMAIN_DETACH_DEVICE                                        dom: domain, xml: str
14  DOMAIN_GET_XML_DESC                           ro            dom: domain, flags: uint -> xml: str
15  DOMAIN_GET_AUTOSTART                          hi ro         dom: domain -> autostart: int
16  DOMAIN_GET_INFO                               ro            dom: domain -> state: uchar, maxMem: uhyper, memory: uhyper, nrVirtCpu: ushort, cpuTime: uhyper
17  DOMAIN_GET_MAX_MEMORY                         hi ro         dom: domain -> memory: uhyper
18  DOMAIN_GET_MAX_VCPUS                          hi ro         dom: domain -> num: int
19  DOMAIN_GET_OS_TYPE                            hi ro         dom: domain -> type: str
20  DOMAIN_GET_VCPUS                              hi ro         dom: domain, maxinfo: int, maplen: int -> info: vcpu_info<VCPUINFO_MAX>, cpumaps: bytes<CPUMAPS_MAX>
21  CONNECT_LIST_DEFINED_DOMAINS                  hi ro         maxnames: int -> names: str<DOMAIN_LIST_MAX>
22  DOMAIN_LOOKUP_BY_ID                           hi ro         id: int -> dom: domain
23  DOMAIN_LOOKUP_BY_NAME                         hi ro         name: str -> dom: domain
24  DOMAIN_LOOKUP_BY_UUID                         hi ro         uuid: uuid -> dom: domain
25  CONNECT_NUM_OF_DEFINED_DOMAINS                hi ro         -> num: int
26  DOMAIN_PIN_VCPU                                             dom: domain, vcpu: uint, cpumap: bytes<CPUMAP_MAX>
27  DOMAIN_REBOOT                                               dom: domain, flags: uint
28  DOMAIN_RESUME                                               dom: domain
29  DOMAIN_SET_AUTOSTART                          hi            dom: domain, autostart: int
30  DOMAIN_SET_MAX_MEMORY                         hi            dom: domain, memory: uhyper
31  DOMAIN_SET_MEMORY                                           dom: domain, memory: uhyper
32  DOMAIN_SET_VCPUS                                            dom: domain, nvcpus: uint
33  DOMAIN_SHUTDOWN                                             dom: domain
34  DOMAIN_SUSPEND                                              dom: domain
35  DOMAIN_UNDEFINE                               hi            dom: domain
36  CONNECT_LIST_DEFINED_NETWORKS                 hi ro         maxnames: int -> names: str<NETWORK_LIST_MAX>
37  CONNECT_LIST_DOMAINS                          hi ro         maxids: int -> ids: int<DOMAIN_LIST_MAX>
38  CONNECT_LIST_NETWORKS                         hi ro         maxnames: int -> names: str<NETWORK_LIST_MAX>
39  NETWORK_CREATE                                              net: network
40  NETWORK_CREATE_XML                                          xml: str -> net: network
41  NETWORK_DEFINE_XML                            hi            xml: str -> net: network
42  NETWORK_DESTROY                               hi            net: network
43  NETWORK_GET_XML_DESC                          hi ro         net: network, flags: uint -> xml: str
44  NETWORK_GET_AUTOSTART                         hi ro         net: network -> autostart: int
45  NETWORK_GET_BRIDGE_NAME                       hi ro         net: network -> name: str
46  NETWORK_LOOKUP_BY_NAME                        hi ro         name: str -> net: network
47  NETWORK_LOOKUP_BY_UUID                        hi ro         uuid: uuid -> net: network
48  NETWORK_SET_AUTOSTART                         hi            net: network, autostart: int
49  NETWORK_UNDEFINE                              hi            net: network
50  CONNECT_NUM_OF_DEFINED_NETWORKS               hi ro         -> num: int
51  CONNECT_NUM_OF_DOMAINS                        hi ro         -> num: int
52  CONNECT_NUM_OF_NETWORKS                       hi ro         -> num: int
53  DOMAIN_CORE_DUMP                                            dom: domain, to: str, flags: uint
54  DOMAIN_RESTORE                                              from: str
55  DOMAIN_SAVE                                                 dom: domain, to: str
56  DOMAIN_GET_SCHEDULER_TYPE                     ro            dom: domain -> type: str, nparams: int
57  DOMAIN_GET_SCHEDULER_PARAMETERS               ro            dom: domain, nparams: int -> params: typed_param<DOMAIN_SCHEDULER_PARAMETERS_MAX>
58  DOMAIN_SET_SCHEDULER_PARAMETERS                             dom: domain, params: typed_param<DOMAIN_SCHEDULER_PARAMETERS_MAX>
59  CONNECT_GET_HOSTNAME                          hi ro         -> hostname: str
60  CONNECT_SUPPORTS_FEATURE                      hi ro         feature: int -> supported: int
64  DOMAIN_BLOCK_STATS                            ro            dom: domain, path: str -> rd_req: hyper, rd_bytes: hyper, wr_req: hyper, wr_bytes: hyper, errs: hyper
65  DOMAIN_INTERFACE_STATS                        hi ro         dom: domain, device: str -> rx_bytes: hyper, rx_packets: hyper, rx_errs: hyper, rx_drop: hyper, tx_bytes: hyper, tx_packets: hyper, tx_errs: hyper, tx_drop: hyper
66  AUTH_LIST                                     hi ro         -> types: auth_type<AUTH_TYPE_LIST_MAX>
67  AUTH_SASL_INIT                                hi ro         -> mechlist: str
68  AUTH_SASL_START                               hi ro         mech: str, nil: int, data: char<AUTH_SASL_DATA_MAX> -> complete: int, nil: int, data: char<AUTH_SASL_DATA_MAX>
69  AUTH_SASL_STEP                                hi ro         nil: int, data: char<AUTH_SASL_DATA_MAX> -> complete: int, nil: int, data: char<AUTH_SASL_DATA_MAX>
70  AUTH_POLKIT                                   hi ro         -> complete: int
71  CONNECT_NUM_OF_STORAGE_POOLS                  hi ro         -> num: int
72  CONNECT_LIST_STORAGE_POOLS                    hi ro         maxnames: int -> names: str<STORAGE_POOL_LIST_MAX>
73  CONNECT_NUM_OF_DEFINED_STORAGE_POOLS          hi ro         -> num: int
74  CONNECT_LIST_DEFINED_STORAGE_POOLS            hi ro         maxnames: int -> names: str<STORAGE_POOL_LIST_MAX>
75  CONNECT_FIND_STORAGE_POOL_SOURCES                           type: str, srcSpec: str?, flags: uint -> xml: str
76  STORAGE_POOL_CREATE_XML                                     xml: str, flags: uint -> pool: storage_pool
77  STORAGE_POOL_DEFINE_XML                       hi            xml: str, flags: uint -> pool: storage_pool
78  STORAGE_POOL_CREATE                                         pool: storage_pool, flags: uint
79  STORAGE_POOL_BUILD                                          pool: storage_pool, flags: uint
80  STORAGE_POOL_DESTROY                          hi            pool: storage_pool
81  STORAGE_POOL_DELETE                                         pool: storage_pool, flags: uint
82  STORAGE_POOL_UNDEFINE                         hi            pool: storage_pool
83  STORAGE_POOL_REFRESH                                        pool: storage_pool, flags: uint
84  STORAGE_POOL_LOOKUP_BY_NAME                   hi ro         name: str -> pool: storage_pool
85  STORAGE_POOL_LOOKUP_BY_UUID                   hi ro         uuid: uuid -> pool: storage_pool
86  STORAGE_POOL_LOOKUP_BY_VOLUME                 hi ro         vol: storage_vol -> pool: storage_pool
87  STORAGE_POOL_GET_INFO                         hi ro         pool: storage_pool -> state: uchar, capacity: uhyper, allocation: uhyper, available: uhyper
88  STORAGE_POOL_GET_XML_DESC                     hi ro         pool: storage_pool, flags: uint -> xml: str
89  STORAGE_POOL_GET_AUTOSTART                    hi ro         pool: storage_pool -> autostart: int
90  STORAGE_POOL_SET_AUTOSTART                    hi            pool: storage_pool, autostart: int
91  STORAGE_POOL_NUM_OF_VOLUMES                   hi ro         pool: storage_pool -> num: int
92  STORAGE_POOL_LIST_VOLUMES                     hi ro         pool: storage_pool, maxnames: int -> names: str<STORAGE_VOL_LIST_MAX>
93  STORAGE_VOL_CREATE_XML                                      pool: storage_pool, xml: str, flags: uint -> vol: storage_vol
94  STORAGE_VOL_DELETE                                          vol: storage_vol, flags: uint
95  STORAGE_VOL_LOOKUP_BY_NAME                    hi ro         pool: storage_pool, name: str -> vol: storage_vol
96  STORAGE_VOL_LOOKUP_BY_KEY                     hi ro         key: str -> vol: storage_vol
97  STORAGE_VOL_LOOKUP_BY_PATH                    hi ro         path: str -> vol: storage_vol
98  STORAGE_VOL_GET_INFO                          hi ro         vol: storage_vol -> type: char, capacity: uhyper, allocation: uhyper
99  STORAGE_VOL_GET_XML_DESC                      hi ro         vol: storage_vol, flags: uint -> xml: str
100 STORAGE_VOL_GET_PATH                          hi ro         vol: storage_vol -> name: str
101 NODE_GET_CELLS_FREE_MEMORY                    hi ro         startCell: int, maxcells: int -> cells: uhyper<NODE_MAX_CELLS>
102 NODE_GET_FREE_MEMORY                          hi ro         -> freeMem: uhyper
103 DOMAIN_BLOCK_PEEK                                           dom: domain, path: str, offset: uhyper, size: uint, flags: uint -> buffer: bytes<DOMAIN_BLOCK_PEEK_BUFFER_MAX>
104 DOMAIN_MEMORY_PEEK                                          dom: domain, offset: uhyper, size: uint, flags: uint -> buffer: bytes<DOMAIN_MEMORY_PEEK_BUFFER_MAX>
105 CONNECT_DOMAIN_EVENT_REGISTER                 hi ro         -> cb_registered: int
106 CONNECT_DOMAIN_EVENT_DEREGISTER               hi ro         -> cb_registered: int
107 DOMAIN_EVENT_LIFECYCLE                        event         =domain_event_lifecycle_msg
110 CONNECT_GET_URI                               hi ro         -> uri: str
111 NODE_NUM_OF_DEVICES                           hi ro         cap: str?, flags: uint -> num: int
112 NODE_LIST_DEVICES                             hi ro         cap: str?, maxnames: int, flags: uint -> names: str<NODE_DEVICE_LIST_MAX>
113 NODE_DEVICE_LOOKUP_BY_NAME                    hi ro         name: str -> dev: node_device
114 NODE_DEVICE_GET_XML_DESC                      ro            name: str, flags: uint -> xml: str
115 NODE_DEVICE_GET_PARENT                        hi ro         name: str -> parentName: str?
116 NODE_DEVICE_NUM_OF_CAPS                       hi ro         name: str -> num: int
117 NODE_DEVICE_LIST_CAPS                         hi ro         name: str, maxnames: int -> names: str<NODE_DEVICE_CAPS_LIST_MAX>
118 NODE_DEVICE_DETTACH                                         name: str
119 NODE_DEVICE_RE_ATTACH                                       name: str
120 NODE_DEVICE_RESET                                           name: str
121 DOMAIN_GET_SECURITY_LABEL                     hi ro         dom: domain -> label: char<SECURITY_LABEL_MAX>, enforcing: int
122 NODE_GET_SECURITY_MODEL                       hi ro         -> model: char<SECURITY_MODEL_MAX>, doi: char<SECURITY_DOI_MAX>
123 NODE_DEVICE_CREATE_XML                                      xml_desc: str, flags: uint -> dev: node_device
124 NODE_DEVICE_DESTROY                           hi            name: str
125 STORAGE_VOL_CREATE_XML_FROM                                 pool: storage_pool, xml: str, clonevol: storage_vol, flags: uint -> vol: storage_vol
126 CONNECT_NUM_OF_INTERFACES                     hi ro         -> num: int
127 CONNECT_LIST_INTERFACES                       hi ro         maxnames: int -> names: str<INTERFACE_LIST_MAX>
128 INTERFACE_LOOKUP_BY_NAME                      hi ro         name: str -> iface: interface
129 INTERFACE_LOOKUP_BY_MAC_STRING                hi ro         mac: str -> iface: interface
130 INTERFACE_GET_XML_DESC                        ro            iface: interface, flags: uint -> xml: str
131 INTERFACE_DEFINE_XML                          hi            xml: str, flags: uint -> iface: interface
132 INTERFACE_UNDEFINE                            hi            iface: interface
133 INTERFACE_CREATE                                            iface: interface, flags: uint
134 INTERFACE_DESTROY                             hi            iface: interface, flags: uint
135 CONNECT_DOMAIN_XML_FROM_NATIVE                              nativeFormat: str, nativeConfig: str, flags: uint -> domainXml: str
136 CONNECT_DOMAIN_XML_TO_NATIVE                                nativeFormat: str, domainXml: str, flags: uint -> nativeConfig: str
137 CONNECT_NUM_OF_DEFINED_INTERFACES             hi ro         -> num: int
138 CONNECT_LIST_DEFINED_INTERFACES               hi ro         maxnames: int -> names: str<INTERFACE_LIST_MAX>
139 CONNECT_NUM_OF_SECRETS                        hi ro         -> num: int
140 CONNECT_LIST_SECRETS                          hi ro         maxuuids: int -> uuids: str<SECRET_LIST_MAX>
141 SECRET_LOOKUP_BY_UUID                         hi ro         uuid: uuid -> secret: secret
142 SECRET_DEFINE_XML                             hi            xml: str, flags: uint -> secret: secret
143 SECRET_GET_XML_DESC                           hi ro         secret: secret, flags: uint -> xml: str
144 SECRET_SET_VALUE                              hi            secret: secret, value: bytes<SECRET_VALUE_MAX>, flags: uint
145 SECRET_GET_VALUE                              hi            secret: secret, flags: uint -> value: bytes<SECRET_VALUE_MAX>
146 SECRET_UNDEFINE                               hi            secret: secret
147 SECRET_LOOKUP_BY_USAGE                        hi ro         usageType: int, usageID: str -> secret: secret
149 CONNECT_IS_SECURE                             hi ro         -> secure: int
150 DOMAIN_IS_ACTIVE                              hi ro         dom: domain -> active: int
151 DOMAIN_IS_PERSISTENT                          hi ro         dom: domain -> persistent: int
152 NETWORK_IS_ACTIVE                             hi ro         net: network -> active: int
153 NETWORK_IS_PERSISTENT                         hi ro         net: network -> persistent: int
154 STORAGE_POOL_IS_ACTIVE                        hi ro         pool: storage_pool -> active: int
155 STORAGE_POOL_IS_PERSISTENT                    hi ro         pool: storage_pool -> persistent: int
156 INTERFACE_IS_ACTIVE                           hi ro         iface: interface -> active: int
157 CONNECT_GET_LIB_VERSION                       hi ro         -> lib_ver: uhyper
158 CONNECT_COMPARE_CPU                           hi ro         xml: str, flags: uint -> result: int
159 DOMAIN_MEMORY_STATS                           ro            dom: domain, maxStats: uint, flags: uint -> stats: domain_memory_stat<DOMAIN_MEMORY_STATS_MAX>
160 DOMAIN_ATTACH_DEVICE_FLAGS                                  dom: domain, xml: str, flags: uint
161 DOMAIN_DETACH_DEVICE_FLAGS                                  dom: domain, xml: str, flags: uint
162 CONNECT_BASELINE_CPU                          ro            xmlCPUs: str<CPU_BASELINE_MAX>, flags: uint -> cpu: str
163 DOMAIN_GET_JOB_INFO                           ro            dom: domain -> type: int, timeElapsed: uhyper, timeRemaining: uhyper, dataTotal: uhyper, dataProcessed: uhyper, dataRemaining: uhyper, memTotal: uhyper, memProcessed: uhyper, memRemaining: uhyper, fileTotal: uhyper, fileProcessed: uhyper, fileRemaining: uhyper
164 DOMAIN_ABORT_JOB                                            dom: domain
165 STORAGE_VOL_WIPE                                            vol: storage_vol, flags: uint
166 DOMAIN_MIGRATE_SET_MAX_DOWNTIME                             dom: domain, downtime: uhyper, flags: uint
167 CONNECT_DOMAIN_EVENT_REGISTER_ANY             hi ro         eventID: int
168 CONNECT_DOMAIN_EVENT_DEREGISTER_ANY           hi ro         eventID: int
169 DOMAIN_EVENT_REBOOT                           event         =domain_event_reboot_msg
170 DOMAIN_EVENT_RTC_CHANGE                       event         =domain_event_rtc_change_msg
171 DOMAIN_EVENT_WATCHDOG                         event         =domain_event_watchdog_msg
172 DOMAIN_EVENT_IO_ERROR                         event         =domain_event_io_error_msg
173 DOMAIN_EVENT_GRAPHICS                         event         =domain_event_graphics_msg
174 DOMAIN_UPDATE_DEVICE_FLAGS                                  dom: domain, xml: str, flags: uint
175 NWFILTER_LOOKUP_BY_NAME                       hi ro         name: str -> nwfilter: nwfilter
176 NWFILTER_LOOKUP_BY_UUID                       hi ro         uuid: uuid -> nwfilter: nwfilter
177 NWFILTER_GET_XML_DESC                         hi ro         nwfilter: nwfilter, flags: uint -> xml: str
178 CONNECT_NUM_OF_NWFILTERS                      hi ro         -> num: int
179 CONNECT_LIST_NWFILTERS                        hi ro         maxnames: int -> names: str<NWFILTER_LIST_MAX>
180 NWFILTER_DEFINE_XML                           hi            xml: str -> nwfilter: nwfilter
181 NWFILTER_UNDEFINE                             hi            nwfilter: nwfilter
182 DOMAIN_MANAGED_SAVE                                         dom: domain, flags: uint
183 DOMAIN_HAS_MANAGED_SAVE_IMAGE                 ro            dom: domain, flags: uint -> result: int
184 DOMAIN_MANAGED_SAVE_REMOVE                                  dom: domain, flags: uint
185 DOMAIN_SNAPSHOT_CREATE_XML                                  dom: domain, xml_desc: str, flags: uint -> snap: domain_snapshot
186 DOMAIN_SNAPSHOT_GET_XML_DESC                  hi ro         snap: domain_snapshot, flags: uint -> xml: str
187 DOMAIN_SNAPSHOT_NUM                           hi ro         dom: domain, flags: uint -> num: int
188 DOMAIN_SNAPSHOT_LIST_NAMES                    hi ro         dom: domain, maxnames: int, flags: uint -> names: str<DOMAIN_SNAPSHOT_LIST_MAX>
189 DOMAIN_SNAPSHOT_LOOKUP_BY_NAME                hi ro         dom: domain, name: str, flags: uint -> snap: domain_snapshot
190 DOMAIN_HAS_CURRENT_SNAPSHOT                   ro            dom: domain, flags: uint -> result: int
191 DOMAIN_SNAPSHOT_CURRENT                       ro            dom: domain, flags: uint -> snap: domain_snapshot
192 DOMAIN_REVERT_TO_SNAPSHOT                                   snap: domain_snapshot, flags: uint
193 DOMAIN_SNAPSHOT_DELETE                                      snap: domain_snapshot, flags: uint
194 DOMAIN_GET_BLOCK_INFO                         ro            dom: domain, path: str, flags: uint -> allocation: uhyper, capacity: uhyper, physical: uhyper
195 DOMAIN_EVENT_IO_ERROR_REASON                  event         =domain_event_io_error_reason_msg
196 DOMAIN_CREATE_WITH_FLAGS                                    dom: domain, flags: uint -> dom: domain
197 DOMAIN_SET_MEMORY_PARAMETERS                                dom: domain, params: typed_param<DOMAIN_MEMORY_PARAMETERS_MAX>, flags: uint
198 DOMAIN_GET_MEMORY_PARAMETERS                  ro            dom: domain, nparams: int, flags: uint -> params: typed_param<DOMAIN_MEMORY_PARAMETERS_MAX>, nparams: int
199 DOMAIN_SET_VCPUS_FLAGS                                      dom: domain, nvcpus: uint, flags: uint
200 DOMAIN_GET_VCPUS_FLAGS                        ro            dom: domain, flags: uint -> num: int
201 DOMAIN_OPEN_CONSOLE                           stream-out:2  dom: domain, dev_name: str?, flags: uint
202 DOMAIN_IS_UPDATED                             hi ro         dom: domain -> updated: int
203 CONNECT_GET_SYSINFO                           hi ro         flags: uint -> sysinfo: str
204 DOMAIN_SET_MEMORY_FLAGS                                     dom: domain, memory: uhyper, flags: uint
205 DOMAIN_SET_BLKIO_PARAMETERS                                 dom: domain, params: typed_param<DOMAIN_BLKIO_PARAMETERS_MAX>, flags: uint
206 DOMAIN_GET_BLKIO_PARAMETERS                   ro            dom: domain, nparams: int, flags: uint -> params: typed_param<DOMAIN_BLKIO_PARAMETERS_MAX>, nparams: int
207 DOMAIN_MIGRATE_SET_MAX_SPEED                                dom: domain, bandwidth: uhyper, flags: uint
208 STORAGE_VOL_UPLOAD                            stream-in:1   vol: storage_vol, offset: uhyper, length: uhyper, flags: uint
209 STORAGE_VOL_DOWNLOAD                          stream-out:1  vol: storage_vol, offset: uhyper, length: uhyper, flags: uint
210 DOMAIN_INJECT_NMI                                           dom: domain, flags: uint
211 DOMAIN_SCREENSHOT                             stream-out:1  dom: domain, screen: uint, flags: uint -> mime: str?
212 DOMAIN_GET_STATE                              hi ro         dom: domain, flags: uint -> state: int, reason: int
219 DOMAIN_SET_SCHEDULER_PARAMETERS_FLAGS                       dom: domain, params: typed_param<DOMAIN_SCHEDULER_PARAMETERS_MAX>, flags: uint
220 INTERFACE_CHANGE_BEGIN                                      flags: uint
221 INTERFACE_CHANGE_COMMIT                                     flags: uint
222 INTERFACE_CHANGE_ROLLBACK                                   flags: uint
223 DOMAIN_GET_SCHEDULER_PARAMETERS_FLAGS         ro            dom: domain, nparams: int, flags: uint -> params: typed_param<DOMAIN_SCHEDULER_PARAMETERS_MAX>
224 DOMAIN_EVENT_CONTROL_ERROR                    event         =domain_event_control_error_msg
225 DOMAIN_PIN_VCPU_FLAGS                                       dom: domain, vcpu: uint, cpumap: bytes<CPUMAP_MAX>, flags: uint
226 DOMAIN_SEND_KEY                                             dom: domain, codeset: uint, holdtime: uint, keycodes: uint<DOMAIN_SEND_KEY_MAX>, flags: uint
227 NODE_GET_CPU_STATS                            hi ro         cpuNum: int, nparams: int, flags: uint -> params: node_get_cpu_stats<NODE_CPU_STATS_MAX>, nparams: int
228 NODE_GET_MEMORY_STATS                         hi ro         nparams: int, cellNum: int, flags: uint -> params: node_get_memory_stats<NODE_MEMORY_STATS_MAX>, nparams: int
229 DOMAIN_GET_CONTROL_INFO                       hi ro         dom: domain, flags: uint -> state: uint, details: uint, stateTime: uhyper
230 DOMAIN_GET_VCPU_PIN_INFO                      ro            dom: domain, ncpumaps: int, maplen: int, flags: uint -> cpumaps: bytes<CPUMAPS_MAX>, num: int
231 DOMAIN_UNDEFINE_FLAGS                         hi            dom: domain, flags: uint
232 DOMAIN_SAVE_FLAGS                                           dom: domain, to: str, dxml: str?, flags: uint
233 DOMAIN_RESTORE_FLAGS                                        from: str, dxml: str?, flags: uint
234 DOMAIN_DESTROY_FLAGS                          hi            dom: domain, flags: uint
235 DOMAIN_SAVE_IMAGE_GET_XML_DESC                hi ro         file: str, flags: uint -> xml: str
236 DOMAIN_SAVE_IMAGE_DEFINE_XML                  hi            file: str, dxml: str, flags: uint
237 DOMAIN_BLOCK_JOB_ABORT                                      dom: domain, path: str, flags: uint
238 DOMAIN_GET_BLOCK_JOB_INFO                     ro            dom: domain, path: str, flags: uint -> found: int, type: int, bandwidth: uhyper, cur: uhyper, end: uhyper
239 DOMAIN_BLOCK_JOB_SET_SPEED                                  dom: domain, path: str, bandwidth: uhyper, flags: uint
240 DOMAIN_BLOCK_PULL                                           dom: domain, path: str, bandwidth: uhyper, flags: uint
241 DOMAIN_EVENT_BLOCK_JOB                        event         =domain_event_block_job_msg
242 DOMAIN_MIGRATE_GET_MAX_SPEED                                dom: domain, flags: uint -> bandwidth: uhyper
243 DOMAIN_BLOCK_STATS_FLAGS                      ro            dom: domain, path: str, nparams: int, flags: uint -> params: typed_param<DOMAIN_BLOCK_STATS_PARAMETERS_MAX>, nparams: int
244 DOMAIN_SNAPSHOT_GET_PARENT                    hi ro         snap: domain_snapshot, flags: uint -> snap: domain_snapshot
245 DOMAIN_RESET                                                dom: domain, flags: uint
246 DOMAIN_SNAPSHOT_NUM_CHILDREN                  hi ro         snap: domain_snapshot, flags: uint -> num: int
247 DOMAIN_SNAPSHOT_LIST_CHILDREN_NAMES           hi ro         snap: domain_snapshot, maxnames: int, flags: uint -> names: str<DOMAIN_SNAPSHOT_LIST_MAX>
248 DOMAIN_EVENT_DISK_CHANGE                      event         =domain_event_disk_change_msg
250 NODE_SUSPEND_FOR_DURATION                                   target: uint, duration: uhyper, flags: uint
251 DOMAIN_BLOCK_RESIZE                                         dom: domain, disk: str, size: uhyper, flags: uint
252 DOMAIN_SET_BLOCK_IO_TUNE                                    dom: domain, disk: str, params: typed_param<DOMAIN_BLOCK_IO_TUNE_PARAMETERS_MAX>, flags: uint
253 DOMAIN_GET_BLOCK_IO_TUNE                      ro            dom: domain, disk: str?, nparams: int, flags: uint -> params: typed_param<DOMAIN_BLOCK_IO_TUNE_PARAMETERS_MAX>, nparams: int
254 DOMAIN_SET_NUMA_PARAMETERS                                  dom: domain, params: typed_param<DOMAIN_NUMA_PARAMETERS_MAX>, flags: uint
255 DOMAIN_GET_NUMA_PARAMETERS                    ro            dom: domain, nparams: int, flags: uint -> params: typed_param<DOMAIN_NUMA_PARAMETERS_MAX>, nparams: int
256 DOMAIN_SET_INTERFACE_PARAMETERS                             dom: domain, device: str, params: typed_param<DOMAIN_INTERFACE_PARAMETERS_MAX>, flags: uint
257 DOMAIN_GET_INTERFACE_PARAMETERS               ro            dom: domain, device: str, nparams: int, flags: uint -> params: typed_param<DOMAIN_INTERFACE_PARAMETERS_MAX>, nparams: int
258 DOMAIN_SHUTDOWN_FLAGS                                       dom: domain, flags: uint
259 STORAGE_VOL_WIPE_PATTERN                                    vol: storage_vol, algorithm: uint, flags: uint
260 STORAGE_VOL_RESIZE                                          vol: storage_vol, capacity: uhyper, flags: uint
261 DOMAIN_PM_SUSPEND_FOR_DURATION                              dom: domain, target: uint, duration: uhyper, flags: uint
262 DOMAIN_GET_CPU_STATS                          ro            dom: domain, nparams: uint, start_cpu: int, ncpus: uint, flags: uint -> params: typed_param<DOMAIN_GET_CPU_STATS_MAX>, nparams: int
263 DOMAIN_GET_DISK_ERRORS                        ro            dom: domain, maxerrors: uint, flags: uint -> errors: domain_disk_error<DOMAIN_DISK_ERRORS_MAX>, nerrors: int
264 DOMAIN_SET_METADATA                                         dom: domain, type: int, metadata: str?, key: str?, uri: str?, flags: uint
265 DOMAIN_GET_METADATA                           ro            dom: domain, type: int, uri: str?, flags: uint -> metadata: str
266 DOMAIN_BLOCK_REBASE                                         dom: domain, path: str, base: str?, bandwidth: uhyper, flags: uint
267 DOMAIN_PM_WAKEUP                                            dom: domain, flags: uint
268 DOMAIN_EVENT_TRAY_CHANGE                      event         =domain_event_tray_change_msg
269 DOMAIN_EVENT_PMWAKEUP                         event         =domain_event_pmwakeup_msg
270 DOMAIN_EVENT_PMSUSPEND                        event         =domain_event_pmsuspend_msg
271 DOMAIN_SNAPSHOT_IS_CURRENT                    ro            snap: domain_snapshot, flags: uint -> current: int
272 DOMAIN_SNAPSHOT_HAS_METADATA                  ro            snap: domain_snapshot, flags: uint -> metadata: int
273 CONNECT_LIST_ALL_DOMAINS                      hi ro         need_results: int, flags: uint -> domains: domain<DOMAIN_LIST_MAX>, ret: uint
274 DOMAIN_LIST_ALL_SNAPSHOTS                     hi ro         dom: domain, need_results: int, flags: uint -> snapshots: domain_snapshot<DOMAIN_SNAPSHOT_LIST_MAX>, ret: int
275 DOMAIN_SNAPSHOT_LIST_ALL_CHILDREN             hi ro         snapshot: domain_snapshot, need_results: int, flags: uint -> snapshots: domain_snapshot<DOMAIN_SNAPSHOT_LIST_MAX>, ret: int
276 DOMAIN_EVENT_BALLOON_CHANGE                   event         =domain_event_balloon_change_msg
277 DOMAIN_GET_HOSTNAME                                         dom: domain, flags: uint -> hostname: str
278 DOMAIN_GET_SECURITY_LABEL_LIST                hi ro         dom: domain -> labels: domain_get_security_label_ret<SECURITY_LABEL_LIST_MAX>, ret: int
279 DOMAIN_PIN_EMULATOR                                         dom: domain, cpumap: bytes<CPUMAP_MAX>, flags: uint
280 DOMAIN_GET_EMULATOR_PIN_INFO                  ro            dom: domain, maplen: int, flags: uint -> cpumaps: bytes<CPUMAPS_MAX>, ret: int
281 CONNECT_LIST_ALL_STORAGE_POOLS                hi ro         need_results: int, flags: uint -> pools: storage_pool<STORAGE_POOL_LIST_MAX>, ret: uint
282 STORAGE_POOL_LIST_ALL_VOLUMES                 hi ro         pool: storage_pool, need_results: int, flags: uint -> vols: storage_vol<STORAGE_VOL_LIST_MAX>, ret: uint
283 CONNECT_LIST_ALL_NETWORKS                     hi ro         need_results: int, flags: uint -> nets: network<NETWORK_LIST_MAX>, ret: uint
284 CONNECT_LIST_ALL_INTERFACES                   hi ro         need_results: int, flags: uint -> ifaces: interface<INTERFACE_LIST_MAX>, ret: uint
285 CONNECT_LIST_ALL_NODE_DEVICES                 hi ro         need_results: int, flags: uint -> devices: node_device<NODE_DEVICE_LIST_MAX>, ret: uint
286 CONNECT_LIST_ALL_NWFILTERS                    hi ro         need_results: int, flags: uint -> filters: nwfilter<NWFILTER_LIST_MAX>, ret: uint
287 CONNECT_LIST_ALL_SECRETS                      hi ro         need_results: int, flags: uint -> secrets: secret<SECRET_LIST_MAX>, ret: uint
288 NODE_SET_MEMORY_PARAMETERS                                  params: typed_param<NODE_MEMORY_PARAMETERS_MAX>, flags: uint
289 NODE_GET_MEMORY_PARAMETERS                    ro            nparams: int, flags: uint -> params: typed_param<NODE_MEMORY_PARAMETERS_MAX>, nparams: int
290 DOMAIN_BLOCK_COMMIT                                         dom: domain, disk: str, base: str?, top: str?, bandwidth: uhyper, flags: uint
291 NETWORK_UPDATE                                hi            net: network, command: uint, section: uint, parentIndex: int, xml: str, flags: uint
292 DOMAIN_EVENT_PMSUSPEND_DISK                   event         =domain_event_pmsuspend_disk_msg
293 NODE_GET_CPU_MAP                              ro            need_map: int, need_online: int, flags: uint -> cpumap: bytes<CPUMAP_MAX>, online: uint, ret: int
294 DOMAIN_FSTRIM                                               dom: domain, mountPoint: str?, minimum: uhyper, flags: uint
295 DOMAIN_SEND_PROCESS_SIGNAL                                  dom: domain, pid_value: hyper, signum: uint, flags: uint
296 DOMAIN_OPEN_CHANNEL                           stream-out:2  dom: domain, name: str?, flags: uint
297 NODE_DEVICE_LOOKUP_SCSI_HOST_BY_WWN           hi ro         wwnn: str, wwpn: str, flags: uint -> dev: node_device
298 DOMAIN_GET_JOB_STATS                          ro            dom: domain, flags: uint -> type: int, params: typed_param<DOMAIN_JOB_STATS_MAX>
299 DOMAIN_MIGRATE_GET_COMPRESSION_CACHE                        dom: domain, flags: uint -> cacheSize: uhyper
300 DOMAIN_MIGRATE_SET_COMPRESSION_CACHE                        dom: domain, cacheSize: uhyper, flags: uint
301 NODE_DEVICE_DETACH_FLAGS                                    name: str, driverName: str?, flags: uint
308 DOMAIN_SET_MEMORY_STATS_PERIOD                              dom: domain, period: int, flags: uint
309 DOMAIN_CREATE_XML_WITH_FILES                fds-in:1      xml_desc: str, flags: uint -> dom: domain
310 DOMAIN_CREATE_WITH_FILES                    fds-in:1      dom: domain, flags: uint -> dom: domain
311 DOMAIN_EVENT_DEVICE_REMOVED                   event         =domain_event_device_removed_msg
312 CONNECT_GET_CPU_MODEL_NAMES                   ro            arch: str, need_results: int, flags: uint -> models: str<CONNECT_CPU_MODELS_MAX>, ret: int
313 CONNECT_NETWORK_EVENT_REGISTER_ANY            hi ro         eventID: int, net: network? -> callbackID: int
314 CONNECT_NETWORK_EVENT_DEREGISTER_ANY          hi ro         callbackID: int
315 NETWORK_EVENT_LIFECYCLE                       event         callbackID: int, net: network, event: int, detail: int
316 CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY    hi ro         eventID: int, dom: domain? -> callbackID: int
317 CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY  hi ro         callbackID: int
318 DOMAIN_EVENT_CALLBACK_LIFECYCLE               event         callbackID: int, msg: domain_event_lifecycle_msg
319 DOMAIN_EVENT_CALLBACK_REBOOT                  event         callbackID: int, msg: domain_event_reboot_msg
320 DOMAIN_EVENT_CALLBACK_RTC_CHANGE              event         callbackID: int, msg: domain_event_rtc_change_msg
321 DOMAIN_EVENT_CALLBACK_WATCHDOG                event         callbackID: int, msg: domain_event_watchdog_msg
322 DOMAIN_EVENT_CALLBACK_IO_ERROR                event         callbackID: int, msg: domain_event_io_error_msg
323 DOMAIN_EVENT_CALLBACK_GRAPHICS                event         callbackID: int, msg: domain_event_graphics_msg
324 DOMAIN_EVENT_CALLBACK_IO_ERROR_REASON         event         callbackID: int, msg: domain_event_io_error_reason_msg
325 DOMAIN_EVENT_CALLBACK_CONTROL_ERROR           event         callbackID: int, msg: domain_event_control_error_msg
326 DOMAIN_EVENT_CALLBACK_BLOCK_JOB               event         callbackID: int, msg: domain_event_block_job_msg
327 DOMAIN_EVENT_CALLBACK_DISK_CHANGE             event         callbackID: int, msg: domain_event_disk_change_msg
328 DOMAIN_EVENT_CALLBACK_TRAY_CHANGE             event         callbackID: int, msg: domain_event_tray_change_msg
329 DOMAIN_EVENT_CALLBACK_PMWAKEUP                event         callbackID: int, reason: int, msg: domain_event_pmwakeup_msg
330 DOMAIN_EVENT_CALLBACK_PMSUSPEND               event         callbackID: int, reason: int, msg: domain_event_pmsuspend_msg
331 DOMAIN_EVENT_CALLBACK_BALLOON_CHANGE          event         callbackID: int, msg: domain_event_balloon_change_msg
332 DOMAIN_EVENT_CALLBACK_PMSUSPEND_DISK          event         callbackID: int, reason: int, msg: domain_event_pmsuspend_disk_msg
333 DOMAIN_EVENT_CALLBACK_DEVICE_REMOVED          event         callbackID: int, msg: domain_event_device_removed_msg
334 DOMAIN_CORE_DUMP_WITH_FORMAT                                dom: domain, to: str, dumpformat: uint, flags: uint
335 DOMAIN_FSFREEZE                                             dom: domain, mountpoints: str<DOMAIN_FSFREEZE_MOUNTPOINTS_MAX>, flags: uint -> filesystems: int
336 DOMAIN_FSTHAW                                               dom: domain, mountpoints: str<DOMAIN_FSFREEZE_MOUNTPOINTS_MAX>, flags: uint -> filesystems: int
337 DOMAIN_GET_TIME                                             dom: domain, flags: uint -> seconds: hyper, nseconds: uint
338 DOMAIN_SET_TIME                                             dom: domain, seconds: hyper, nseconds: uint, flags: uint
339 DOMAIN_EVENT_BLOCK_JOB_2                      event         callbackID: int, dom: domain, dst: str, type: int, status: int
340 NODE_GET_FREE_PAGES                           hi ro         pages: uint<NODE_MAX_CELLS>, startCell: int, cellCount: uint, flags: uint -> counts: uhyper<NODE_MAX_CELLS>
341 NETWORK_GET_DHCP_LEASES                       ro            net: network, mac: str?, need_results: int, flags: uint -> leases: network_dhcp_lease<NETWORK_DHCP_LEASES_MAX>, ret: uint
342 CONNECT_GET_DOMAIN_CAPABILITIES                             emulatorbin: str?, arch: str?, machine: str?, virttype: str?, flags: uint -> capabilities: str
343 DOMAIN_OPEN_GRAPHICS_FD                     fds-out       dom: domain, idx: uint, flags: uint
344 CONNECT_GET_ALL_DOMAIN_STATS                  ro            doms: domain<DOMAIN_LIST_MAX>, stats: uint, flags: uint -> retStats: domain_stats_record<DOMAIN_LIST_MAX>
345 DOMAIN_BLOCK_COPY                                           dom: domain, path: str, destxml: str, params: typed_param<DOMAIN_BLOCK_COPY_PARAMETERS_MAX>, flags: uint
346 DOMAIN_EVENT_CALLBACK_TUNABLE                 event         callbackID: int, dom: domain, params: typed_param<DOMAIN_EVENT_TUNABLE_MAX>
347 NODE_ALLOC_PAGES                                            pageSizes: uint<NODE_MAX_CELLS>, pageCounts: uhyper<NODE_MAX_CELLS>, startCell: int, cellCount: uint, flags: uint -> ret: int
348 DOMAIN_EVENT_CALLBACK_AGENT_LIFECYCLE         event         callbackID: int, dom: domain, state: int, reason: int
349 DOMAIN_GET_FSINFO                                           dom: domain, flags: uint -> info: domain_fsinfo<DOMAIN_FSINFO_MAX>, ret: uint
350 DOMAIN_DEFINE_XML_FLAGS                       hi            xml: str, flags: uint -> dom: domain
351 DOMAIN_GET_IOTHREAD_INFO                      ro            dom: domain, flags: uint -> info: domain_iothread_info<IOTHREAD_INFO_MAX>, ret: uint
352 DOMAIN_PIN_IOTHREAD                                         dom: domain, iothreads_id: uint, cpumap: bytes<CPUMAP_MAX>, flags: uint
353 DOMAIN_INTERFACE_ADDRESSES                    ro            dom: domain, source: uint, flags: uint -> ifaces: domain_interface<DOMAIN_INTERFACE_MAX>
354 DOMAIN_EVENT_CALLBACK_DEVICE_ADDED            event         callbackID: int, dom: domain, devAlias: str
355 DOMAIN_ADD_IOTHREAD                                         dom: domain, iothread_id: uint, flags: uint
356 DOMAIN_DEL_IOTHREAD                                         dom: domain, iothread_id: uint, flags: uint
357 DOMAIN_SET_USER_PASSWORD                                    dom: domain, user: str?, password: str?, flags: uint
358 DOMAIN_RENAME                                               dom: domain, new_name: str?, flags: uint -> retcode: int
359 DOMAIN_EVENT_CALLBACK_MIGRATION_ITERATION     event         callbackID: int, dom: domain, iteration: int
360 CONNECT_REGISTER_CLOSE_CALLBACK               hi ro
361 CONNECT_UNREGISTER_CLOSE_CALLBACK             hi ro
362 CONNECT_EVENT_CONNECTION_CLOSED               event         reason: int
363 DOMAIN_EVENT_CALLBACK_JOB_COMPLETED           event         callbackID: int, dom: domain, params: typed_param<DOMAIN_JOB_STATS_MAX>
364 DOMAIN_MIGRATE_START_POST_COPY                              dom: domain, flags: uint
365 DOMAIN_GET_PERF_EVENTS                        ro            dom: domain, flags: uint -> params: typed_param<DOMAIN_PERF_EVENTS_MAX>
366 DOMAIN_SET_PERF_EVENTS                                      dom: domain, params: typed_param<DOMAIN_PERF_EVENTS_MAX>, flags: uint
367 DOMAIN_EVENT_CALLBACK_DEVICE_REMOVAL_FAILED   event         callbackID: int, dom: domain, devAlias: str
368 CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY       hi ro         eventID: int, pool: storage_pool? -> callbackID: int
369 CONNECT_STORAGE_POOL_EVENT_DEREGISTER_ANY     hi ro         callbackID: int
370 STORAGE_POOL_EVENT_LIFECYCLE                  event         callbackID: int, pool: storage_pool, event: int, detail: int
371 DOMAIN_GET_GUEST_VCPUS                                      dom: domain, flags: uint -> params: typed_param<DOMAIN_GUEST_VCPU_PARAMS_MAX>
372 DOMAIN_SET_GUEST_VCPUS                                      dom: domain, cpumap: str, state: int, flags: uint
373 STORAGE_POOL_EVENT_REFRESH                    event         callbackID: int, pool: storage_pool
374 CONNECT_NODE_DEVICE_EVENT_REGISTER_ANY        hi ro         eventID: int, dev: node_device? -> callbackID: int
375 CONNECT_NODE_DEVICE_EVENT_DEREGISTER_ANY      hi ro         callbackID: int
376 NODE_DEVICE_EVENT_LIFECYCLE                   event         callbackID: int, dev: node_device, event: int, detail: int
377 NODE_DEVICE_EVENT_UPDATE                      event         callbackID: int, dev: node_device
378 STORAGE_VOL_GET_INFO_FLAGS                    hi ro         vol: storage_vol, flags: uint -> type: char, capacity: uhyper, allocation: uhyper
379 DOMAIN_EVENT_CALLBACK_METADATA_CHANGE         event         callbackID: int, dom: domain, type: int, nsuri: str?
380 CONNECT_SECRET_EVENT_REGISTER_ANY             hi ro         eventID: int, secret: secret? -> callbackID: int
381 CONNECT_SECRET_EVENT_DEREGISTER_ANY           hi ro         callbackID: int
382 SECRET_EVENT_LIFECYCLE                        event         callbackID: int, secret: secret, event: int, detail: int
383 SECRET_EVENT_VALUE_CHANGED                    event         callbackID: int, secret: secret
384 DOMAIN_SET_VCPU                                             dom: domain, cpumap: str, state: int, flags: uint
385 DOMAIN_EVENT_BLOCK_THRESHOLD                  event         callbackID: int, dom: domain, dev: str, path: str?, threshold: uhyper, excess: uhyper
386 DOMAIN_SET_BLOCK_THRESHOLD                                  dom: domain, dev: str, threshold: uhyper, flags: uint
387 DOMAIN_MIGRATE_GET_MAX_DOWNTIME                             dom: domain, flags: uint -> downtime: uhyper
388 DOMAIN_MANAGED_SAVE_GET_XML_DESC              ro            dom: domain, flags: uint -> xml: str
389 DOMAIN_MANAGED_SAVE_DEFINE_XML                              dom: domain, dxml: str?, flags: uint
390 DOMAIN_SET_LIFECYCLE_ACTION                                 dom: domain, type: uint, action: uint, flags: uint
391 STORAGE_POOL_LOOKUP_BY_TARGET_PATH            hi ro         path: str -> pool: storage_pool
392 DOMAIN_DETACH_DEVICE_ALIAS                                  dom: domain, alias: str, flags: uint
393 CONNECT_COMPARE_HYPERVISOR_CPU                              emulator: str?, arch: str?, machine: str?, virttype: str?, xmlCPU: str, flags: uint -> result: int
394 CONNECT_BASELINE_HYPERVISOR_CPU                             emulator: str?, arch: str?, machine: str?, virttype: str?, xmlCPUs: str<CPU_BASELINE_MAX>, flags: uint -> cpu: str
395 NODE_GET_SEV_INFO                             ro            nparams: int, flags: uint -> params: typed_param<NODE_SEV_INFO_MAX>, nparams: int
396 DOMAIN_GET_LAUNCH_SECURITY_INFO               ro            dom: domain, flags: uint -> params: typed_param<DOMAIN_LAUNCH_SECURITY_INFO_PARAMS_MAX>
397 NWFILTER_BINDING_LOOKUP_BY_PORT_DEV           hi ro         name: str -> nwfilter: nwfilter_binding
398 NWFILTER_BINDING_GET_XML_DESC                 hi ro         nwfilter: nwfilter_binding, flags: uint -> xml: str
399 NWFILTER_BINDING_CREATE_XML                   hi            xml: str, flags: uint -> nwfilter: nwfilter_binding
400 NWFILTER_BINDING_DELETE                       hi            nwfilter: nwfilter_binding
401 CONNECT_LIST_ALL_NWFILTER_BINDINGS            hi ro         need_results: int, flags: uint -> bindings: nwfilter_binding<NWFILTER_BINDING_LIST_MAX>, ret: uint
402 DOMAIN_SET_IOTHREAD_PARAMS                                  dom: domain, iothread_id: uint, params: typed_param<DOMAIN_IOTHREAD_PARAMS_MAX>, flags: uint
403 CONNECT_GET_STORAGE_POOL_CAPABILITIES         ro            flags: uint -> capabilities: str
404 NETWORK_LIST_ALL_PORTS                        hi ro         network: network, need_results: int, flags: uint -> ports: network_port<NETWORK_PORT_LIST_MAX>, ret: uint
405 NETWORK_PORT_LOOKUP_BY_UUID                   hi ro         network: network, uuid: uuid -> port: network_port
406 NETWORK_PORT_CREATE_XML                                     network: network, xml: str, flags: uint -> port: network_port
407 NETWORK_PORT_GET_PARAMETERS                   ro            port: network_port, nparams: int, flags: uint -> params: typed_param<NETWORK_PORT_PARAMETERS_MAX>, nparams: int
408 NETWORK_PORT_SET_PARAMETERS                                 port: network_port, params: typed_param<NETWORK_PORT_PARAMETERS_MAX>, flags: uint
409 NETWORK_PORT_GET_XML_DESC                     ro            port: network_port, flags: uint -> xml: str
410 NETWORK_PORT_DELETE                                         port: network_port, flags: uint
411 DOMAIN_CHECKPOINT_CREATE_XML                                dom: domain, xml_desc: str, flags: uint -> checkpoint: domain_checkpoint
412 DOMAIN_CHECKPOINT_GET_XML_DESC                ro            checkpoint: domain_checkpoint, flags: uint -> xml: str
413 DOMAIN_LIST_ALL_CHECKPOINTS                   hi ro         dom: domain, need_results: int, flags: uint -> checkpoints: domain_checkpoint<DOMAIN_CHECKPOINT_LIST_MAX>, ret: int
414 DOMAIN_CHECKPOINT_LIST_ALL_CHILDREN           hi ro         checkpoint: domain_checkpoint, need_results: int, flags: uint -> checkpoints: domain_checkpoint<DOMAIN_CHECKPOINT_LIST_MAX>, ret: int
415 DOMAIN_CHECKPOINT_LOOKUP_BY_NAME              hi ro         dom: domain, name: str, flags: uint -> checkpoint: domain_checkpoint
416 DOMAIN_CHECKPOINT_GET_PARENT                  hi ro         checkpoint: domain_checkpoint, flags: uint -> parent: domain_checkpoint
417 DOMAIN_CHECKPOINT_DELETE                                    checkpoint: domain_checkpoint, flags: uint
418 DOMAIN_GET_GUEST_INFO                                       dom: domain, types: uint, flags: uint -> params: typed_param<DOMAIN_GUEST_INFO_PARAMS_MAX>
419 CONNECT_SET_IDENTITY                                        params: typed_param<CONNECT_IDENTITY_PARAMS_MAX>, flags: uint
420 DOMAIN_AGENT_SET_RESPONSE_TIMEOUT                           dom: domain, timeout: int, flags: uint -> result: int
421 DOMAIN_BACKUP_BEGIN                                         dom: domain, backup_xml: str, checkpoint_xml: str?, flags: uint
422 DOMAIN_BACKUP_GET_XML_DESC                    hi ro         dom: domain, flags: uint -> xml: str
423 DOMAIN_EVENT_MEMORY_FAILURE                   event         callbackID: int, dom: domain, recipient: int, action: int, flags: uint
424 DOMAIN_AUTHORIZED_SSH_KEYS_GET                              dom: domain, user: str, flags: uint -> keys: str<DOMAIN_AUTHORIZED_SSH_KEYS_MAX>
425 DOMAIN_AUTHORIZED_SSH_KEYS_SET                              dom: domain, user: str, keys: str<DOMAIN_AUTHORIZED_SSH_KEYS_MAX>, flags: uint
426 DOMAIN_GET_MESSAGES                           ro            dom: domain, flags: uint -> msgs: str<DOMAIN_MESSAGES_MAX>
427 DOMAIN_START_DIRTY_RATE_CALC                                dom: domain, seconds: int, flags: uint
428 NODE_DEVICE_DEFINE_XML                                      xml_desc: str, flags: uint -> dev: node_device
429 NODE_DEVICE_UNDEFINE                          hi            name: str, flags: uint
430 NODE_DEVICE_CREATE                            hi            name: str, flags: uint
431 NWFILTER_DEFINE_XML_FLAGS                     hi            xml: str, flags: uint -> nwfilter: nwfilter
432 NETWORK_DEFINE_XML_FLAGS                      hi            xml: str, flags: uint -> net: network
433 NODE_DEVICE_GET_AUTOSTART                     hi ro         name: str -> autostart: int
434 NODE_DEVICE_SET_AUTOSTART                     hi            name: str, autostart: int
435 NODE_DEVICE_IS_PERSISTENT                     hi ro         name: str -> persistent: int
436 NODE_DEVICE_IS_ACTIVE                         hi ro         name: str -> active: int
437 NETWORK_CREATE_XML_FLAGS                      hi            xml: str, flags: uint -> net: network
438 DOMAIN_EVENT_MEMORY_DEVICE_SIZE_CHANGE        event         callbackID: int, dom: domain, alias: str, size: uhyper
439 DOMAIN_SET_LAUNCH_SECURITY_STATE                            dom: domain, params: typed_param<DOMAIN_LAUNCH_SECURITY_STATE_PARAMS_MAX>, flags: uint
440 DOMAIN_SAVE_PARAMS                                          dom: domain, params: typed_param<DOMAIN_SAVE_PARAMS_MAX>, flags: uint
441 DOMAIN_RESTORE_PARAMS                                       params: typed_param<DOMAIN_SAVE_PARAMS_MAX>, flags: uint
442 DOMAIN_ABORT_JOB_FLAGS                                      dom: domain, flags: uint
443 DOMAIN_FD_ASSOCIATE                         fds-in:2      dom: domain, name: str, flags: uint
444 NETWORK_SET_METADATA                                        network: network, type: int, metadata: str?, key: str?, uri: str?, flags: uint
445 NETWORK_GET_METADATA                          ro            network: network, type: int, uri: str?, flags: uint -> metadata: str
446 NETWORK_EVENT_CALLBACK_METADATA_CHANGE        event         callbackID: int, net: network, type: int, nsuri: str?
447 NODE_DEVICE_UPDATE                            hi            name: str, xml_desc: str, flags: uint
448 DOMAIN_GRAPHICS_RELOAD                                      dom: domain, type: uint, flags: uint
449 DOMAIN_EVENT_LEASE_CHANGE                     event         callbackID: int, dom: domain, action: int, locspace: str, key: str, path: str, offset: uhyper
"""

_FLAGS = re.compile(r"^(ro|hi|event|stream-(in|out):\d+|fds-in:\d+|fds-out)$")


@dataclass(frozen=True)
class Procedure:
    """One procedure of a program: its number, names, flags and body declarations."""

    number: int
    #: libvirt's name without REMOTE_PROC_: "DOMAIN_GET_INFO".
    name: str
    #: The CALL body (or, for an event, the MESSAGE body); ``xdr.void`` when empty.
    args: xdr.XdrType
    #: The REPLY body; ``xdr.void`` when empty.
    ret: xdr.XdrType
    readonly: bool = False
    #: libvirt's high priority: never blocks on a hypervisor.
    high_priority: bool = False
    event: bool = False
    #: "in" when the client writes the stream the call opens, "out" when it reads it.
    stream: str | None = None
    #: Where the stream goes in the driver method's arguments.
    stream_arg: int = -1
    # Keyword-only: subclasses (other programs' procedures) keep their positional fields.
    #: Where the descriptors of a CALL_WITH_FDS go in the driver method's arguments (-1: none).
    fds_arg: int = dataclasses.field(default=-1, kw_only=True)
    #: The reply carries descriptors (REPLY_WITH_FDS): the driver's return value.
    fds_out: bool = dataclasses.field(default=False, kw_only=True)

    @property
    def method(self) -> str:
        """The driver-interface method serving this procedure."""
        return method_name(self.name)


def method_name(name: str) -> str:
    """Driver method of a procedure: REMOTE_PROC_DOMAIN_GET_INFO (or DOMAIN_GET_INFO) -> domain_get_info."""
    return name.removeprefix("REMOTE_PROC_").lower()


_TYPE = re.compile(r"^(\w+)((?:\?|<\w+>|\[\w+\])*)$")
_SUFFIX = re.compile(r"\?|<(\w+)>|\[(\w+)\]")


def _size(token: str) -> int:
    return int(token) if token.isdigit() else CONSTANTS[token.removeprefix("REMOTE_")]


def parse_type(spec: str, named: dict[str, xdr.XdrType]) -> xdr.XdrType:
    """The declaration a type in the table notation stands for (``str?``, ``domain<DOMAIN_LIST_MAX>``...)."""
    match = _TYPE.match(spec.strip())
    if match is None:
        raise ValueError(f"bad type {spec!r}")
    base, suffixes = match.groups()
    result: xdr.XdrType | None = None
    if base == "bytes":
        # Opaque data: the first suffix is its length.
        first = _SUFFIX.match(suffixes)
        if first is None or first[0] == "?":
            raise ValueError(f"opaque data needs a length: {spec!r}")
        result = xdr.var_opaque(_size(first[1])) if first[1] else xdr.opaque(_size(first[2]))
        suffixes = suffixes[first.end() :]
    else:
        result = named.get(base) or BUILTINS.get(base)
        if result is None:
            raise ValueError(f"unknown type {base!r} in {spec!r}")
    for suffix in _SUFFIX.finditer(suffixes):
        if suffix[0] == "?":
            result = xdr.optional(result)
        elif suffix[1]:
            result = xdr.var_array(result, _size(suffix[1]))
        else:
            result = xdr.array_(result, _size(suffix[2]))
    return result


def parse_fields(spec: str, named: dict[str, xdr.XdrType]) -> list[tuple[str, xdr.XdrType]]:
    """``name: type, name: type`` -> [(name, declaration)]."""
    fields = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, type_spec = part.partition(":")
        fields.append((name.strip(), parse_type(type_spec, named)))
    return fields


def _body(struct_name: str, spec: str, named: dict[str, xdr.XdrType]) -> xdr.XdrType:
    spec = spec.strip()
    if not spec:
        return xdr.void
    if spec.startswith("="):
        return named[spec[1:].strip()]
    return xdr.struct(struct_name, parse_fields(spec, named))


def parse_types(table: str) -> dict[str, xdr.XdrType]:
    """Named structs from ``name: fields`` lines, each line able to use the ones above it."""
    named: dict[str, xdr.XdrType] = {}
    for line in filter(None, (raw.strip() for raw in table.splitlines())):
        name, _, fields = line.partition(":")
        named[name.strip()] = xdr.struct(f"remote_{name.strip()}", parse_fields(fields, named))
    return named


def parse_procedures(table: str, named: dict[str, xdr.XdrType]) -> dict[int, Procedure]:
    """Procedures from the table notation (see the module docstring)."""
    procedures: dict[int, Procedure] = {}
    for line in filter(None, (raw.strip() for raw in table.splitlines())):
        number, name, *rest = line.split(None, 2)
        words = rest[0].split(None, 1) if rest else []
        flags: set[str] = set()
        while words and _FLAGS.match(words[0]):
            flags.add(words[0])
            words = words[1].split(None, 1) if len(words) > 1 else []
        signature = words[0] + (" " + words[1] if len(words) > 1 else "") if words else ""
        args_spec, _, ret_spec = signature.partition("->")
        lower = name.lower()
        event = "event" in flags
        proc = Procedure(
            number=int(number),
            name=name,
            args=_body(f"remote_{lower}_msg" if event else f"remote_{lower}_args", args_spec, named),
            ret=_body(f"remote_{lower}_ret", ret_spec, named),
            readonly="ro" in flags or event,
            high_priority="hi" in flags,
            event=event,
            stream=next((f.split(":")[0][7:] for f in flags if f.startswith("stream-")), None),
            stream_arg=next((int(f.split(":")[1]) for f in flags if f.startswith("stream-")), -1),
            fds_arg=next((int(f.split(":")[1]) for f in flags if f.startswith("fds-in:")), -1),
            fds_out="fds-out" in flags,
        )
        if proc.number in procedures:
            raise ValueError(f"procedure number {proc.number} declared twice")
        procedures[proc.number] = proc
    return procedures


#: Named structs of the remote protocol, by their name without ``remote_``.
NAMED: dict[str, xdr.XdrType] = parse_types(TYPES)
#: The remote program's procedures by number.
REMOTE_PROCEDURES: dict[int, Procedure] = parse_procedures(PROCEDURES, NAMED)
#: The same, by name ("DOMAIN_GET_INFO") and by driver method ("domain_get_info").
BY_NAME: dict[str, Procedure] = {p.name: p for p in REMOTE_PROCEDURES.values()}
BY_METHOD: dict[str, Procedure] = {p.method: p for p in REMOTE_PROCEDURES.values()}

#: The keepalive program: PING and PONG, both MESSAGEs without a body.
KEEPALIVE_PROCEDURES: dict[int, Procedure] = {
    1: Procedure(1, "PING", xdr.void, xdr.void, readonly=True, event=True),
    2: Procedure(2, "PONG", xdr.void, xdr.void, readonly=True, event=True),
}


def typed_params_to_wire(params: dict[str, Any] | list[tuple[str, Any]]) -> list[Any]:
    """remote_typed_param values for Python values: bool, int (int/long by range), float, str.

    A ``(field, (type, value))`` pair passes an explicit virTypedParameterType.
    """
    items = params.items() if isinstance(params, dict) else params
    wire = []
    for field, value in items:
        if isinstance(value, tuple):
            kind, value = value
        elif isinstance(value, bool):
            kind = T.BOOLEAN
        elif isinstance(value, int):
            kind = T.INT if -(1 << 31) <= value < 1 << 31 else T.LLONG if value < 0 else T.ULLONG
        elif isinstance(value, float):
            kind = T.DOUBLE
        else:
            kind = T.STRING
        wire.append((field, (kind, int(value) if kind == T.BOOLEAN else value)))
    return wire


def typed_params_from_wire(wire: list[Any]) -> dict[str, Any]:
    """Python values of remote_typed_params (booleans as bool)."""
    return {field: (bool(v) if kind == T.BOOLEAN else v) for field, (kind, v) in wire}


def char_array_to_str(chars: list[int]) -> str:
    """A C string sent as an XDR array of chars (node_get_info's model, security labels)."""
    data = bytes(c & 0xFF for c in chars)
    return data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def str_to_char_array(text: str, size: int | None = None) -> list[int]:
    """The XDR char array of a C string: NUL-terminated, padded with NULs to ``size`` if given."""
    data = text.encode("utf-8", "surrogateescape")
    data = data + b"\0" if size is None else data[: size - 1].ljust(size, b"\0")
    return [b - 256 if b > 127 else b for b in data]
