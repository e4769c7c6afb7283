"""The test driver against libvirt's own: the same scenarios on both, the same results expected.

Each scenario is a list of steps ``[op, *args]``. ``OURS`` runs an op through virt's public API
(in this process, on ``test:///default``); ``LIBVIRT`` runs it through python3-libvirt on libvirt's
``test:///default`` (this file is executed by /usr/bin/python3 as that runner, one forked child per
scenario so every scenario starts from a fresh default state). Results are compared step by step:
values, and errors as (code, domain, message).

Values that cannot match (wall-clock CPU times, snapshot creation times, random UUIDs) are left out
by the ops themselves; lists libvirt returns in hash order are sorted on both sides.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:
    import pytest
except ImportError:  # running as the libvirt side under /usr/bin/python3
    pytest = None  # type: ignore[assignment]

LIBVIRT_PYTHON = "/usr/bin/python3"
UUID2 = "11111111-2222-3333-4444-000000000002"
UUID3 = "11111111-2222-3333-4444-000000000003"

DOM = ("<domain type='test'><name>{name}</name><uuid>{uuid}</uuid><memory>1048576</memory>"
       "<vcpu>2</vcpu><os><type>hvm</type></os>{devices}</domain>")
DISK = ("<devices><disk type='file' device='disk'><source file='/guest/{name}.img'/>"
        "<target dev='vda' bus='virtio'/></disk><interface type='network'><source network='default'/>"
        "<mac address='52:54:00:00:00:0{n}'/></interface></devices>")
T2 = DOM.format(name="t2", uuid=UUID2, devices="")
T3 = DOM.format(name="t3", uuid=UUID3, devices=DISK.format(name="t3", n=3))
T2_MAX4 = DOM.format(name="t2", uuid=UUID2, devices="").replace("<vcpu>2</vcpu>", "<vcpu current='1'>4</vcpu>")
NET2 = ("<network><name>net2</name><uuid>22222222-2222-3333-4444-000000000002</uuid><bridge name='virbr9'/>"
        "<ip address='10.9.0.1' netmask='255.255.255.0'><dhcp><range start='10.9.0.2' end='10.9.0.20'/>"
        "</dhcp></ip></network>")
POOL2 = ("<pool type='dir'><name>pool2</name><uuid>33333333-2222-3333-4444-000000000002</uuid>"
         "<target><path>/pool2</path></target></pool>")
VOL = "<volume><name>{name}</name><capacity unit='M'>{mib}</capacity></volume>"
IFACE2 = "<interface type='ethernet' name='eth2'><mac address='aa:bb:cc:dd:ee:02'/></interface>"
VHBA = ("<device><parent>{parent}</parent><capability type='scsi_host'><capability type='fc_host'>"
        "<wwnn>2000000012341111</wwnn><wwpn>1000000012341111</wwpn></capability></capability></device>")
POOL_DEFAULT_AT_X = ("<pool type='dir'><name>default-pool</name><uuid>dfe224cb-28fb-8dd0-c4b2-64eb3f0f4566</uuid>"
                     "<target><path>/x</path></target></pool>")
DHCP_HOST = "<host mac='00:11:22:33:44:55' ip='192.168.122.10'/>"

RICH = """<domain type='test'>
  <name>rich</name>
  <uuid>5b4c5e4e-2d2a-4f6a-9a0e-3c2b1a0f9d81</uuid>
  <title>A guest</title>
  <description>With most kinds of devices</description>
  <memory unit='GiB'>4</memory>
  <currentMemory unit='GiB'>2</currentMemory>
  <vcpu placement='static' current='2'>4</vcpu>
  <os><type arch='i686'>hvm</type><boot dev='hd'/><boot dev='cdrom'/></os>
  <features><acpi/><apic/><pae/></features>
  <clock offset='utc'/>
  <on_crash>restart</on_crash>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/rich.qcow2'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='cdrom'><source file='/iso/install.iso'/><target dev='hdc' bus='ide'/><readonly/></disk>
    <interface type='network'><mac address='52:54:00:12:34:56'/><source network='default'/>
      <model type='virtio'/></interface>
    <interface type='bridge'><mac address='52:54:00:12:34:57'/><source bridge='br0'/><model type='e1000'/></interface>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <input type='tablet' bus='usb'/>
    <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1' passwd='secret'/>
    <video><model type='vga' vram='16384' heads='1'/></video>
    <memballoon model='virtio'/>
  </devices>
</domain>
"""

# ----------------------------------------------------------------------------- scenarios

SCENARIOS: dict[str, list[list[Any]]] = {
    "initial_objects": [
        ["dom_list", 0], ["dom_ids"], ["dom_lookup", "test"], ["dom_state", "test"], ["dom_info", "test"],
        ["dom_xml", "test", 0], ["dom_xml", "test", 2], ["dom_xml", "test", 1], ["dom_xml", "test", 4],
        ["dom_xml", "test", 8], ["dom_persistent", "test"], ["dom_autostart", "test"], ["dom_ostype", "test"],
        ["dom_maxmem", "test"], ["dom_vcpus", "test", 0], ["dom_vcpus", "test", 4], ["dom_hostname", "test"],
        ["net_list", 0], ["net_xml", "default", 0], ["net_xml", "default", 1], ["net_bridge", "default"],
        ["net_state", "default"], ["pool_list", 0], ["pool_xml", "default-pool"], ["pool_info", "default-pool"],
        ["pool_state", "default-pool"], ["vol_list", "default-pool"], ["iface_list", 0], ["iface_list", 1],
        ["iface_list", 2], ["iface_xml", "eth1"], ["nd_list", None], ["nd_list", "scsi_host"], ["nd_list", "fc_host"],
        ["nd_list", "vports"], ["nd_list_all", 0], ["nd_list_all", 512], ["nd_list_all", 1024],
        ["nd_list_all", 0x80000000], ["nd_xml", "computer"], ["nd_xml", "scsi_host1"], ["nd_xml", "scsi_host2"],
        ["nd_xml", "scsi_host11"], ["nd_parent", "scsi_host1"], ["nd_caps", "scsi_host1"],
    ],
    "host": [
        ["type"], ["version"], ["libversion"], ["hostname"], ["nodeinfo"], ["caps"], ["sysinfo"], ["freemem"],
        ["cells_free", 0, 2], ["cells_free", 1, 5], ["cells_free", 2, 1], ["maxvcpus"], ["uri"],
    ],
    "define_start_suspend_resume_destroy_undefine": [
        ["events_on"], ["dom_define", T2], ["dom_xml", "t2", 0], ["dom_state", "t2"], ["dom_info", "t2"],
        ["dom_lookup", "t2"], ["dom_start", "t2", 0], ["dom_lookup", "t2"], ["dom_state", "t2"],
        ["dom_xml", "t2", 0], ["dom_start", "t2", 0], ["dom_suspend", "t2"], ["dom_state", "t2"],
        ["dom_suspend", "t2"], ["dom_resume", "t2"], ["dom_state", "t2"], ["dom_resume", "t2"],
        ["dom_destroy", "t2"], ["dom_state", "t2"], ["dom_destroy", "t2"], ["dom_lookup", "t2"],
        ["dom_undefine", "t2", 0], ["dom_lookup", "t2"], ["dom_list", 0], ["events"],
    ],
    "errors_on_shutoff": [
        ["dom_define", T2], ["dom_suspend", "t2"], ["dom_resume", "t2"], ["dom_shutdown", "t2"],
        ["dom_reboot", "t2"], ["dom_reset", "t2"], ["dom_destroy", "t2"], ["dom_hostname", "t2"],
        ["dom_managedsave", "t2"], ["dom_vcpus", "t2", 1], ["dom_setmem", "t2", 1000, 1],
        ["dom_start", "t2", 1], ["dom_xml", "t2", 4], ["dom_lookup", "nope"], ["dom_lookup_id", 42],
        ["dom_lookup_uuid", "11111111-2222-3333-4444-555555555555"],
    ],
    "ids_shutdown_reboot": [
        ["events_on"], ["dom_define", T2], ["dom_define", T3], ["dom_start", "t3", 0], ["dom_lookup", "t3"],
        ["dom_start", "t2", 0], ["dom_lookup", "t2"], ["dom_ids"], ["dom_lookup_id", 3], ["dom_shutdown", "t2"],
        ["dom_state", "t2"], ["dom_start", "t2", 0], ["dom_lookup", "t2"], ["dom_reboot", "t2"],
        ["dom_state", "t2"], ["dom_reset", "t2"], ["dom_suspend", "t2"], ["dom_reboot", "t2"], ["dom_state", "t2"],
        ["dom_suspend", "t2"], ["dom_shutdown", "t2"], ["dom_state", "t2"], ["events"],
    ],
    "transient": [
        ["events_on"], ["dom_create_xml", T3, 0], ["dom_persistent", "t3"], ["dom_xml", "t3", 0],
        ["dom_xml", "t3", 2], ["dom_create_xml", T3, 0], ["dom_managedsave", "t3"], ["dom_setmem", "t3", 1000, 2],
        ["dom_vcpus", "t3", 2], ["dom_set_autostart", "t3", 1], ["dom_autostart", "t3"], ["dom_destroy", "t3"],
        ["dom_lookup", "t3"], ["dom_create_xml", T3, 0], ["dom_undefine", "t3", 0], ["dom_state", "t3"],
        ["dom_shutdown", "t3"], ["dom_lookup", "t3"], ["dom_define", T2], ["dom_create_xml", T2, 0],
        ["dom_persistent", "t2"], ["dom_xml", "t2", 0], ["dom_destroy", "t2"], ["dom_persistent", "t2"],
        ["dom_state", "t2"], ["dom_create_xml", T2.replace(UUID2, UUID3), 0],
        ["dom_create_xml", T2.replace("t2", "test"), 0], ["events"],
    ],
    "define_conflicts": [
        ["events_on"], ["dom_define", T2], ["dom_define", T2], ["dom_define", T2.replace(UUID2, UUID3)],
        ["dom_define", T2.replace("<name>t2<", "<name>t9<")],
        ["dom_define", DOM.format(name="test", uuid=UUID3, devices="")],
        ["dom_define", T2.replace("<memory>1048576", "<memory>2097152")], ["dom_info", "t2"],
        ["dom_define", DOM.format(name="test", uuid="6695eb01-f6a4-8304-79aa-97f2502e193f", devices="")],
        ["dom_xml", "test", 0], ["dom_xml", "test", 2], ["dom_destroy", "test"], ["dom_xml", "test", 0],
        ["dom_define", "<domain type='test'><name>bad"], ["dom_define", "<domain type='test'></domain>"],
        ["events"],
    ],
    "rich_domain_xml": [
        ["dom_define", RICH], ["dom_xml", "rich", 0], ["dom_xml", "rich", 1], ["dom_xml", "rich", 2],
        ["dom_start", "rich", 0], ["dom_xml", "rich", 0], ["dom_xml", "rich", 1], ["dom_xml", "rich", 3],
        ["dom_info", "rich"], ["dom_vcpus", "rich", 0], ["dom_vcpus", "rich", 4], ["dom_ifstats_bad", "rich", "x"],
        ["dom_blockinfo", "rich", "hdc"], ["dom_create_xml", RICH.replace("rich", "rich2")
                                            .replace("5b4c5e4e", "5b4c5e4f"), 0], ["dom_xml", "rich2", 0],
    ],
    "memory_vcpus": [
        ["dom_setmem", "test", 524288, 0], ["dom_info", "test"], ["dom_setmem", "test", 1000, 3],
        ["dom_setmem", "test", 99999999, 1], ["dom_setmem", "test", 1048576, 2], ["dom_xml", "test", 2],
        ["dom_setmem", "test", 4194304, 4], ["dom_setmem", "test", 4194304, 6], ["dom_xml", "test", 2],
        ["dom_info", "test"], ["dom_maxmem", "test"], ["dom_setvcpus", "test", 3, 5],
        ["dom_setvcpus", "test", 3, 6], ["dom_vcpus", "test", 6], ["dom_vcpus", "test", 2],
        ["dom_setvcpus", "test", 3, 2], ["dom_setvcpus", "test", 1, 1], ["dom_vcpus", "test", 1],
        ["dom_setvcpus", "test", 40, 2], ["dom_setvcpus", "test", 0, 2], ["dom_setvcpus", "test", 3, 1],
        ["dom_xml", "test", 0], ["dom_xml", "test", 2], ["dom_destroy", "test"], ["dom_xml", "test", 0],
        ["dom_define", T2_MAX4], ["dom_vcpus", "t2", 0], ["dom_vcpus", "t2", 4], ["dom_setvcpus", "t2", 3, 0],
        ["dom_setmem", "t2", 2048, 4], ["dom_info", "t2"], ["dom_xml", "t2", 0],
    ],
    "managed_save": [
        ["events_on"], ["dom_managedsave", "test"], ["dom_state", "test"], ["dom_has_managedsave", "test"],
        ["dom_list", 256], ["dom_list", 512], ["dom_undefine", "test", 0], ["dom_start", "test", 0],
        ["dom_state", "test"], ["dom_lookup", "test"], ["dom_has_managedsave", "test"],
        ["dom_managedsave", "test"], ["dom_managedsave_remove", "test"], ["dom_has_managedsave", "test"],
        ["dom_managedsave", "test"], ["dom_undefine", "test", 1], ["dom_lookup", "test"], ["events"],
    ],
    "list_filters": [
        ["dom_define", T2], ["dom_create_xml", T3, 0], ["dom_suspend", "t3"], ["dom_set_autostart", "t2", 1],
        *[["dom_list", f] for f in (0, 1, 2, 4, 8, 16, 32, 64, 128, 1024, 2048, 4096, 8192, 16384, 32768, 3,
                                    16 | 32, 4 | 16, 1 << 20)],
    ],
    "autostart": [
        ["dom_autostart", "test"], ["dom_set_autostart", "test", 1], ["dom_autostart", "test"],
        ["dom_list", 1024], ["net_autostart", "default"], ["net_set_autostart", "default", 1],
        ["net_autostart", "default"], ["net_list", 16], ["pool_autostart", "default-pool"],
        ["pool_set_autostart", "default-pool", 1], ["pool_autostart", "default-pool"], ["pool_list", 16],
    ],
    "metadata": [
        ["events_on"], ["dom_metadata", "test", 1, None, 0], ["dom_set_metadata", "test", 1, "hello", None, None, 0],
        ["dom_metadata", "test", 1, None, 0], ["dom_set_metadata", "test", 0, "a description", None, None, 0],
        ["dom_set_metadata", "test", 2, "<foo>bar</foo>", "f", "http://example.org/", 0],
        ["dom_metadata", "test", 2, "http://example.org/", 0], ["dom_metadata", "test", 2, None, 0],
        ["dom_xml", "test", 0], ["dom_xml", "test", 2], ["dom_set_metadata", "test", 1, None, None, None, 1],
        ["dom_metadata", "test", 1, None, 1], ["dom_metadata", "test", 1, None, 2], ["events"],
    ],
    "guest_and_tuning": [
        ["dom_time", "test"], ["dom_set_time", "test", 100, 5], ["dom_time", "test"], ["dom_control", "test"],
        ["dom_set_time", "test", 30003, 0], ["dom_control", "test"], ["dom_fsinfo", "test"],
        ["dom_freeze", "test", None], ["dom_freeze", "test", ["/"]], ["dom_thaw", "test", ["/boot"]],
        ["dom_thaw", "test", None], ["dom_freeze", "test", ["/x"]], ["dom_trim", "test", "/x"],
        ["dom_trim", "test", "/"], ["dom_disk_errors", "test"], ["dom_sched", "test"],
        ["dom_set_sched", "test", {"weight": 10}], ["dom_memparams", "test", 0],
        ["dom_set_memparams", "test", {"hard_limit": 1000000, "swap_hard_limit": 2000000}, 0],
        ["dom_memparams", "test", 0], ["dom_set_memparams", "test", {"hard_limit": 3000000}, 0],
        ["dom_set_memparams", "test", {"soft_limit": 500000}, 2], ["dom_memparams", "test", 2],
        ["dom_xml", "test", 0], ["dom_xml", "test", 2], ["dom_stats_period", "test", 10, 0],
        ["dom_stats_period", "test", 5, 2], ["dom_nmi", "test"], ["dom_signal", "test", 2, 9],
        ["dom_signal", "test", 1, 9], ["dom_signal", "test", 1, 99], ["dom_passwd", "test"],
        ["dom_lifecycle", "test", 0, 1, 0], ["dom_lifecycle", "test", 2, 0, 2], ["dom_xml", "test", 0],
        ["dom_xml", "test", 2], ["dom_pin", "test", 0, [True, False, True]], ["dom_pin", "test", 5, [True]],
        ["dom_pininfo", "test", 0], ["dom_pininfo", "test", 2], ["dom_emupin", "test", [True], 0],
        ["dom_emupin", "test", [False], 0], ["dom_emupininfo", "test", 0], ["dom_xml", "test", 0],
        ["dom_cpustats", "test", -1, 1], ["dom_cpustats", "test", 0, 2],
        ["dom_peek", "test", 250, 8, 2], ["dom_peek", "test", 0, 8, 3], ["dom_messages", "test"],
        ["dom_report", "test", "blkio"], ["dom_report", "test", "numa"], ["dom_report", "test", "perf"],
        ["dom_ifparams", "test", "testnet0"], ["dom_ifparams", "test", "nope"], ["dom_iotune", "test", "vda"],
        ["dom_iotune", "test", "vdz"], ["dom_shutdown", "test"], ["dom_state", "test"], ["dom_destroy", "test"],
        ["dom_time", "test"], ["dom_control", "test"], ["dom_pin", "test", 0, [True]], ["dom_pininfo", "test", 0],
        ["dom_cpustats", "test", -1, 1], ["dom_fsinfo", "test"], ["dom_memparams", "test", 0],
        ["dom_stats_period", "test", 7, 0], ["dom_xml", "test", 0],
    ],
    "tunables": [
        ["dom_set_tunable", "test", "blkio", None, {"weight": 500, "device_weight": "/dev/sda,100"}, 0],
        ["dom_set_tunable", "test", "blkio", None, {"device_read_iops_sec": "/dev/sda,10,/dev/sdb,20"}, 0],
        ["dom_get_tunable", "test", "blkio", None, 0], ["dom_get_tunable", "test", "blkio", None, 2],
        ["dom_set_tunable", "test", "blkio", None, {"device_weight": "/dev/sda,0", "weight": 0}, 0],
        ["dom_get_tunable", "test", "blkio", None, 0],
        ["dom_set_tunable", "test", "numa", None, {"numa_mode": 1, "numa_nodeset": "0"}, 0],
        ["dom_get_tunable", "test", "numa", None, 0], ["dom_set_tunable", "test", "numa", None, {"numa_mode": 2}, 0],
        ["dom_set_tunable", "test", "numa", None, {"numa_mode": 9}, 0],
        ["dom_set_tunable", "test", "iface", "testnet0", {"inbound.average": 1000, "outbound.average": 2000,
                                                          "outbound.peak": 3000}, 0],
        ["dom_get_tunable", "test", "iface", "testnet0", 0],
        ["dom_set_tunable", "test", "iface", "testnet0", {"inbound.average": 0}, 0],
        ["dom_get_tunable", "test", "iface", "testnet0", 0], ["dom_get_tunable", "test", "iface", "nope", 0],
        ["dom_set_tunable", "test", "iotune", "vda", {"total_bytes_sec": 1000}, 0],
        ["dom_set_tunable", "test", "iotune", "vda", {"total_bytes_sec": 1000, "read_bytes_sec": 10}, 0],
        ["dom_set_tunable", "test", "iotune", "vda", {"total_bytes_sec": 1000, "total_bytes_sec_max": 2000,
                                                      "group_name": "grp"}, 0],
        ["dom_get_tunable", "test", "iotune", "vda", 0], ["dom_get_tunable", "test", "iotune", "vdz", 0],
        ["dom_set_tunable", "test", "iotune", "vdz", {"total_bytes_sec": 1}, 0],
        ["dom_set_tunable", "test", "perf", None, {"cmt": True, "cpu_clock": True}, 0],
        ["dom_set_tunable", "test", "perf", None, {"cmt": False}, 0], ["dom_get_tunable", "test", "perf", None, 0],
        ["dom_xml", "test", 0], ["dom_xml", "test", 2], ["dom_destroy", "test"],
        ["dom_set_tunable", "test", "blkio", None, {"weight": 300}, 0], ["dom_xml", "test", 0],
    ],
    "stats_and_devices": [
        ["dom_define", T2], ["stats", 0, 0], ["stats", 1, 0], ["stats", 2, 0], ["stats", 0, 1], ["stats", 0, 2],
        ["dom_blockstats_bad", "test", "vdz"], ["dom_blockstats_bad", "test", ""], ["dom_ifstats_bad", "test", "x"],
        ["dom_blockinfo", "test", "vda"], ["dom_blockinfo", "test", "/guest/diskimage1"],
        ["dom_blockinfo", "test", "vdz"], ["dom_memstats", "test"], ["dom_ifaddrs", "test"],
        ["dom_blockstats_bad", "t2", "vda"], ["dom_vcpuinfo", "t2"],
    ],
    "snapshots": [
        ["events_on"], ["snap_current", "test"], ["snap_has_current", "test"],
        ["snap_create", "test", "<domainsnapshot><name>s1</name><description>first</description></domainsnapshot>", 0],
        ["snap_xml", "test", "s1"], ["snap_create", "test", "<domainsnapshot><name>s2</name></domainsnapshot>", 0],
        ["snap_create", "test", "<domainsnapshot><name>s2</name></domainsnapshot>", 0],
        ["snap_parent", "test", "s2"], ["snap_parent", "test", "s1"], ["snap_current", "test"],
        ["snap_list", "test", 0], ["snap_list", "test", 1], ["snap_list", "test", 4], ["snap_list", "test", 8],
        ["snap_num", "test", 0], ["snap_children", "test", "s1", 0], ["snap_is_current", "test", "s1"],
        ["dom_suspend", "test"], ["snap_create", "test", "<domainsnapshot><name>s3</name></domainsnapshot>", 0],
        ["snap_xml", "test", "s3"], ["dom_destroy", "test"],
        ["snap_create", "test", "<domainsnapshot><name>s4</name></domainsnapshot>", 0], ["snap_xml", "test", "s4"],
        ["snap_list", "test", 32], ["snap_list", "test", 64], ["snap_list", "test", 256], ["snap_list", "test", 512],
        ["snap_children", "test", "s1", 1], ["snap_list_names", "test", 1024],
        ["snap_revert", "test", "s1", 0], ["dom_state", "test"], ["dom_lookup", "test"], ["snap_current", "test"],
        ["snap_revert", "test", "s3", 0], ["dom_state", "test"], ["snap_revert", "test", "s4", 0],
        ["dom_state", "test"], ["snap_revert", "test", "s4", 1], ["dom_state", "test"],
        ["snap_revert", "test", "s2", 2], ["dom_state", "test"], ["dom_lookup", "test"],
        ["snap_create", "test", "<domainsnapshot><name>s5</name></domainsnapshot>", 8], ["dom_state", "test"],
        ["dom_undefine", "test", 0], ["snap_delete", "test", "s1", 0], ["snap_parent", "test", "s2"],
        ["snap_list", "test", 1], ["snap_delete", "test", "s3", 1], ["snap_list", "test", 0],
        ["snap_current", "test"], ["snap_lookup", "test", "nope"], ["snap_delete", "test", "s2", 4],
        ["snap_list", "test", 0], ["snap_undefine_meta", "test"], ["dom_lookup", "test"], ["events"],
    ],
    "checkpoints": [
        ["chk_list", "test", 0], ["chk_create", "test", ("<domaincheckpoint><name>c1</name>"
                                                        "<description>one</description></domaincheckpoint>"), 0],
        ["chk_xml", "test", "c1", 0], ["chk_xml", "test", "c1", 2], ["chk_xml", "test", "c1", 4],
        ["chk_create", "test", "<domaincheckpoint><name>c2</name></domaincheckpoint>", 0],
        ["chk_parent", "test", "c2"], ["chk_parent", "test", "c1"], ["chk_list", "test", 0], ["chk_list", "test", 1],
        ["chk_list", "test", 4], ["chk_list", "test", 8], ["chk_children", "test", "c1", 0],
        ["chk_children", "test", "c1", 1],
        ["snap_create", "test", "<domainsnapshot><name>s</name></domainsnapshot>", 0],
        ["chk_create", "test", "<domaincheckpoint><name>c1</name></domaincheckpoint>", 0],
        ["chk_lookup", "test", "nope"], ["dom_list", 16384], ["dom_list", 32768], ["chk_delete", "test", "c1", 0],
        ["chk_parent", "test", "c2"],
        ["chk_create", "test", ("<domaincheckpoint><name>c3</name><disks><disk name='vda' checkpoint='no'/></disks>"
                               "</domaincheckpoint>"), 0], ["chk_xml", "test", "c3", 2],
        ["chk_create", "test", ("<domaincheckpoint><name>c4</name><disks><disk name='vdz'/></disks>"
                               "</domaincheckpoint>"), 0],
        ["chk_create", "test", ("<domaincheckpoint><name>r1</name><creationTime>5</creationTime><parent><name>c2</name>"
                               "</parent></domaincheckpoint>"), 1], ["chk_xml", "test", "r1", 2],
        ["chk_list", "test", 0], ["chk_delete", "test", "c2", 4], ["chk_list", "test", 0], ["dom_destroy", "test"],
        ["chk_create", "test", "<domaincheckpoint><name>c5</name></domaincheckpoint>", 0],
        ["chk_xml", "test", "c2", 4], ["chk_delete", "test", "c2", 1], ["chk_list", "test", 0],
    ],
    "revert_transitions": [
        ["events_on"],
        ["snap_create", "test", "<domainsnapshot><name>run</name></domainsnapshot>", 0], ["dom_suspend", "test"],
        ["snap_create", "test", "<domainsnapshot><name>pau</name></domainsnapshot>", 0], ["dom_destroy", "test"],
        ["snap_create", "test", "<domainsnapshot><name>off</name></domainsnapshot>", 0], ["events"],
        *[step for frm in ("off", "run", "pau") for snap in ("off", "run", "pau") for fl in (0, 1, 2)
          for step in (["dom_goto", "test", frm], ["events"], ["snap_revert", "test", snap, fl],
                       ["dom_state", "test"], ["dom_lookup", "test"], ["events"])],
    ],
    "save_restore": [
        ["events_on"], ["dom_save", "test", "{tmp}/test.save"], ["dom_state", "test"], ["dom_save", "test", "x"],
        ["dom_restore", "{tmp}/test.save"], ["dom_state", "test"], ["dom_lookup", "test"],
        ["dom_restore", "{tmp}/test.save"], ["dom_restore", "{tmp}/missing"], ["dom_create_xml", T3, 0],
        ["dom_save", "t3", "{tmp}/t3.save"], ["dom_lookup", "t3"], ["dom_restore", "{tmp}/t3.save"],
        ["dom_lookup", "t3"], ["dom_persistent", "t3"], ["dom_xml", "t3", 0], ["events"],
    ],
    "networks": [
        ["events_on"], ["net_define", NET2], ["net_state", "net2"], ["net_xml", "net2", 0], ["net_start", "net2"],
        ["net_start", "net2"], ["net_undefine", "net2"], ["net_list", 1], ["net_list", 2], ["net_list", 4],
        ["net_destroy", "net2"], ["net_destroy", "net2"], ["net_undefine", "net2"], ["net_lookup", "net2"],
        ["net_define", NET2.replace("net2", "default")], ["net_define", NET2.replace("virbr9", "virbr8")],
        ["net_create_xml", NET2.replace("net2", "tnet").replace("22222222", "22222223")],
        ["net_state", "tnet"], ["net_set_autostart", "tnet", 1], ["net_destroy", "tnet"], ["net_lookup", "tnet"],
        ["net_define", "<network><name>nobridge</name><uuid>22222222-2222-3333-4444-000000000009</uuid></network>"],
        ["net_bridge", "nobridge"], ["net_lookup_uuid", "dd8fe884-6c02-601e-7551-cca97df1c5d0"], ["events"],
    ],
    "network_update": [
        ["net_update", "default", 3, 4, -1, DHCP_HOST, 2], ["net_xml", "default", 0],
        ["net_update", "default", 3, 4, -1, DHCP_HOST, 1], ["net_xml", "default", 0],
        ["net_update", "default", 3, 4, -1, DHCP_HOST, 1], ["net_update", "default", 2, 4, -1, DHCP_HOST, 1],
        ["net_update", "default", 2, 4, -1, DHCP_HOST, 1],
        ["net_update", "default", 1, 1, -1, "<bridge name='x'/>", 1],
        ["net_update", "default", 3, 4, -1, "<range start='192.168.122.2' end='192.168.122.3'/>", 1],
        ["net_update", "default", 3, 5, -1, "<range start='192.168.122.2' end='192.168.122.254'/>", 1],
        ["net_update", "default", 1, 5, -1, "<range start='192.168.122.2' end='192.168.122.254'/>", 1],
        ["net_update", "default", 2, 5, -1, "<range start='192.168.122.2' end='192.168.122.254'/>", 1],
        ["net_xml", "default", 0],
        ["net_update", "default", 3, 10, -1, "<host ip='192.168.122.5'><hostname>foo</hostname></host>", 1],
        ["net_update", "default", 3, 11, -1, "<txt name='example' value='hello'/>", 1],
        ["net_update", "default", 3, 9, -1, "<portgroup name='engineering' default='yes'/>", 1],
        ["net_xml", "default", 0], ["net_destroy", "default"], ["net_update", "default", 3, 4, -1, DHCP_HOST, 1],
        ["net_update", "default", 0, 4, -1, DHCP_HOST, 2], ["net_update", "default", 3, 0, -1, DHCP_HOST, 2],
        ["net_update", "default", 3, 4, -1, DHCP_HOST, 0], ["net_xml", "default", 0],
    ],
    "pools_and_volumes": [
        ["events_on"], ["vol_create", "default-pool", VOL.format(name="v1", mib=10)], ["vol_xml", "default-pool", "v1"],
        ["vol_info", "default-pool", "v1"], ["vol_path", "default-pool", "v1"], ["pool_info", "default-pool"],
        ["vol_create", "default-pool", VOL.format(name="v1", mib=10)],
        ["vol_create", "default-pool", VOL.format(name="big", mib=200 * 1024)],
        ["vol_clone", "default-pool", VOL.format(name="v2", mib=5), "v1"], ["vol_list", "default-pool"],
        ["vol_lookup_key", "/default-pool/v2"], ["vol_lookup_path", "/default-pool/v1"], ["vol_lookup_key", "x"],
        ["vol_lookup_path", "x"], ["vol_xml", "default-pool", "nope"], ["pool_undefine", "default-pool"],
        ["pool_start", "default-pool"], ["pool_build", "default-pool"], ["pool_refresh", "default-pool"],
        ["pool_destroy", "default-pool"], ["vol_list", "default-pool"], ["vol_info", "default-pool", "v1"],
        ["pool_info", "default-pool"], ["pool_refresh", "default-pool"], ["pool_build", "default-pool"],
        ["pool_delete", "default-pool"], ["pool_start", "default-pool"], ["vol_delete", "default-pool", "v1"],
        ["pool_info", "default-pool"], ["vol_info", "default-pool", "v1"], ["pool_define", POOL2],
        ["pool_state", "pool2"], ["pool_xml", "pool2"], ["pool_define", POOL2.replace("/pool2", "/default-pool")
                                                         .replace("pool2<", "pool3<").replace("33333333", "33333334")],
        ["pool_define", POOL2.replace("pool2<", "pool3<")], ["pool_list", 0], ["pool_list", 1], ["pool_list", 64],
        ["pool_list", 128], ["pool_undefine", "pool2"], ["pool_lookup", "pool2"],
        ["pool_create_xml", POOL2.replace("pool2", "tp").replace("33333333", "33333335")], ["pool_state", "tp"],
        ["pool_set_autostart", "tp", 1], ["pool_destroy", "tp"], ["pool_lookup", "tp"],
        ["pool_create_xml", POOL_DEFAULT_AT_X],
        ["pool_xml", "default-pool"], ["find_sources", "logical", None], ["find_sources", "netfs",
                                                                           "<source><host name='foo'/></source>"],
        ["find_sources", "netfs", None], ["find_sources", "dir", None], ["events"],
    ],
    "interfaces": [
        ["iface_start", "eth1"], ["iface_stop", "eth1"], ["iface_stop", "eth1"], ["iface_list", 0],
        ["iface_list", 1], ["iface_mac", "aa:bb:cc:dd:ee:ff"], ["iface_mac", "aa:bb:cc:dd:ee:00"],
        ["iface_xml", "x"], ["iface_define", IFACE2], ["iface_state", "eth2"], ["iface_start", "eth2"],
        ["iface_list", 2], ["iface_define", IFACE2.replace("ee:02", "ee:ff")], ["iface_mac", "aa:bb:cc:dd:ee:ff"],
        ["iface_undefine", "eth2"], ["iface_begin"], ["iface_begin"], ["iface_undefine", "eth1"], ["iface_list", 0],
        ["iface_rollback"], ["iface_list", 0], ["iface_commit"], ["iface_rollback"],
    ],
    "node_devices": [
        ["events_on"], ["nd_create", VHBA.format(parent="scsi_host1")], ["nd_xml", "scsi_host12"],
        ["nd_parent", "scsi_host12"], ["nd_list", None], ["nd_destroy", "scsi_host12"], ["nd_xml", "scsi_host12"],
        ["nd_create", VHBA.format(parent="nope")], ["nd_create", VHBA.format(parent="computer")],
        ["nd_destroy", "computer"], ["nd_list", None], ["nd_destroy", "scsi_host11"], ["nd_list", None],
        ["nd_create", VHBA.format(parent="scsi_host1")], ["nd_lookup", "nope"], ["nd_list_flags", 1],
        ["nd_list_all", 1 << 30], ["events"],
    ],
    "readonly": [
        ["ro_call", "dom_suspend", "test"], ["ro_call", "dom_state", "test"], ["ro_call", "net_destroy", "default"],
    ],
}

#: (scenario, step) -> why we differ from libvirt there, for differences that are not the test
#: driver's to fix. A listed step that starts matching fails the test, so the list stays true.
KNOWN_DIFFERENCES: dict[tuple[str, int], str] = {}

# ----------------------------------------------------------------------------- libvirt side


def _sorted(items: Any) -> list[Any]:
    return sorted(items, key=lambda x: json.dumps(x))


def _mask_snapshot(xml: str) -> str:
    return re.sub(r"<creationTime>\d+</creationTime>", "<creationTime>T</creationTime>", xml)


def libvirt_ops() -> dict[str, Any]:
    import libvirt

    def dom(c: Any, name: str) -> Any:
        return c.lookupByName(name)

    def goto(c: Any, name: str, state: str) -> None:
        d = dom(c, name)
        if state == "off":
            if d.isActive():
                d.destroy()
            return
        if not d.isActive():
            d.create()
        if state == "run" and d.state()[0] == 3:
            d.resume()
        if state == "pau" and d.state()[0] == 1:
            d.suspend()

    def snap(c: Any, name: str, s: str) -> Any:
        return dom(c, name).snapshotLookupByName(s, 0)

    def vol(c: Any, pool: str, name: str) -> Any:
        return c.storagePoolLookupByName(pool).storageVolLookupByName(name)

    error_cls = libvirt.libvirtError
    return {
        "type": lambda c: c.getType(), "version": lambda c: c.getVersion(), "libversion": lambda c: c.getLibVersion(),
        "hostname": lambda c: c.getHostname(), "nodeinfo": lambda c: c.getInfo()[:1] + c.getInfo()[2:],
        "caps": lambda c: c.getCapabilities(), "sysinfo": lambda c: c.getSysinfo(0),
        "freemem": lambda c: c.getFreeMemory(), "cells_free": lambda c, s, m: c.getCellsFreeMemory(s, m),
        "maxvcpus": lambda c: c.getMaxVcpus(None), "uri": lambda c: c.getURI(),
        "dom_list": lambda c, f: sorted(d.name() for d in c.listAllDomains(f)),
        "dom_ids": lambda c: sorted(c.listDomainsID()),
        "dom_lookup": lambda c, n: [dom(c, n).name(), dom(c, n).UUIDString(), dom(c, n).ID()],
        "dom_lookup_id": lambda c, i: c.lookupByID(i).name(),
        "dom_lookup_uuid": lambda c, u: c.lookupByUUIDString(u).name(),
        "dom_state": lambda c, n: dom(c, n).state(0), "dom_info": lambda c, n: dom(c, n).info()[:4],
        "dom_xml": lambda c, n, f: dom(c, n).XMLDesc(f), "dom_persistent": lambda c, n: dom(c, n).isPersistent(),
        "dom_autostart": lambda c, n: dom(c, n).autostart(),
        "dom_set_autostart": lambda c, n, v: dom(c, n).setAutostart(v),
        "dom_ostype": lambda c, n: dom(c, n).OSType(), "dom_maxmem": lambda c, n: dom(c, n).maxMemory(),
        "dom_vcpus": lambda c, n, f: dom(c, n).vcpusFlags(f), "dom_hostname": lambda c, n: dom(c, n).hostname(0),
        "dom_define": lambda c, x: c.defineXML(x).name(),
        "dom_create_xml": lambda c, x, f: _name_id(c.createXML(x, f), "ID"),
        "dom_start": lambda c, n, f: dom(c, n).createWithFlags(f), "dom_destroy": lambda c, n: dom(c, n).destroy(),
        "dom_shutdown": lambda c, n: dom(c, n).shutdown(), "dom_reboot": lambda c, n: dom(c, n).reboot(0),
        "dom_reset": lambda c, n: dom(c, n).reset(0), "dom_suspend": lambda c, n: dom(c, n).suspend(),
        "dom_resume": lambda c, n: dom(c, n).resume(), "dom_undefine": lambda c, n, f: dom(c, n).undefineFlags(f),
        "dom_managedsave": lambda c, n: dom(c, n).managedSave(0),
        "dom_has_managedsave": lambda c, n: dom(c, n).hasManagedSaveImage(0),
        "dom_managedsave_remove": lambda c, n: dom(c, n).managedSaveRemove(0),
        "dom_setmem": lambda c, n, m, f: dom(c, n).setMemoryFlags(m, f),
        "dom_setvcpus": lambda c, n, v, f: dom(c, n).setVcpusFlags(v, f),
        "dom_metadata": lambda c, n, t, u, f: dom(c, n).metadata(t, u, f),
        "dom_set_metadata": lambda c, n, t, m, k, u, f: dom(c, n).setMetadata(t, m, k, u, f),
        "dom_save": lambda c, n, p: dom(c, n).save(p), "dom_restore": lambda c, p: c.restore(p),
        "dom_goto": goto,
        "dom_blockstats_bad": lambda c, n, p: dom(c, n).blockStats(p) and None,
        "dom_ifstats_bad": lambda c, n, p: dom(c, n).interfaceStats(p) and None,
        "dom_blockinfo": lambda c, n, p: dom(c, n).blockInfo(p, 0),
        "dom_memstats": lambda c, n: sorted(dom(c, n).memoryStats().items()),
        "dom_ifaddrs": lambda c, n: sorted((k, v["hwaddr"], [[a["type"], a["addr"], a["prefix"]] for a in v["addrs"]])
                                           for k, v in dom(c, n).interfaceAddresses(0).items()),
        "dom_vcpuinfo": lambda c, n: len(dom(c, n).vcpus()[0]),
        "stats": lambda c, s, f: _sorted([r[0].name(), r[1]] for r in c.getAllDomainStats(s, f)),
        "dom_time": lambda c, n: [dom(c, n).getTime()["seconds"], dom(c, n).getTime()["nseconds"]],
        "dom_set_time": lambda c, n, s, ns: dom(c, n).setTime({"seconds": s, "nseconds": ns}),
        "dom_control": lambda c, n: dom(c, n).controlInfo(),
        "dom_fsinfo": lambda c, n: [list(x) for x in dom(c, n).fsInfo()],
        "dom_freeze": lambda c, n, m: dom(c, n).fsFreeze(m), "dom_thaw": lambda c, n, m: dom(c, n).fsThaw(m),
        "dom_trim": lambda c, n, m: dom(c, n).fSTrim(m, 0, 0),
        "dom_disk_errors": lambda c, n: sorted(dom(c, n).diskErrors().items()),
        "dom_sched": lambda c, n: dom(c, n).schedulerParameters(),
        "dom_set_sched": lambda c, n, p: dom(c, n).setSchedulerParameters(p),
        "dom_memparams": lambda c, n, f: dom(c, n).memoryParameters(f),
        "dom_set_memparams": lambda c, n, p, f: dom(c, n).setMemoryParameters(p, f),
        "dom_stats_period": lambda c, n, p, f: dom(c, n).setMemoryStatsPeriod(p, f),
        "dom_nmi": lambda c, n: dom(c, n).injectNMI(0),
        "dom_signal": lambda c, n, p, s: dom(c, n).sendProcessSignal(p, s, 0),
        "dom_passwd": lambda c, n: dom(c, n).setUserPassword("root", "secret", 0),
        "dom_lifecycle": lambda c, n, t, a, f: dom(c, n).setLifecycleAction(t, a, f),
        "dom_pin": lambda c, n, v, m: dom(c, n).pinVcpu(v, tuple(m)),
        "dom_pininfo": lambda c, n, f: [list(m)[:8] for m in dom(c, n).vcpuPinInfo(f)],
        "dom_emupin": lambda c, n, m, f: dom(c, n).pinEmulator(tuple(m), f),
        "dom_emupininfo": lambda c, n, f: list(dom(c, n).emulatorPinInfo(f))[:8],
        "dom_cpustats": lambda c, n, s, k: _cpu_stats(dom(c, n), s, k),
        "dom_peek": lambda c, n, s, z, f: list(dom(c, n).memoryPeek(s, z, f)),
        "dom_messages": lambda c, n: dom(c, n).messages(),
        "dom_report": lambda c, n, what: {"blkio": dom(c, n).blkioParameters, "numa": dom(c, n).numaParameters,
                                          "perf": dom(c, n).perfEvents}[what](),
        "dom_ifparams": lambda c, n, i: dom(c, n).interfaceParameters(i, 0),
        "dom_get_tunable": lambda c, n, what, dev, f: _libvirt_tunable(dom(c, n), what, dev, None, f),
        "dom_set_tunable": lambda c, n, what, dev, p, f: _libvirt_tunable(dom(c, n), what, dev, p, f),
        "dom_iotune": lambda c, n, d: dom(c, n).blockIoTune(d, 0),
        "snap_current": lambda c, n: dom(c, n).snapshotCurrent(0).getName(),
        "snap_has_current": lambda c, n: dom(c, n).hasCurrentSnapshot(0),
        "chk_list": lambda c, n, f: sorted(x.getName() for x in dom(c, n).listAllCheckpoints(f)),
        "chk_create": lambda c, n, x, f: dom(c, n).checkpointCreateXML(x, f).getName(),
        "chk_xml": lambda c, n, k, f: _mask_snapshot(dom(c, n).checkpointLookupByName(k, 0).getXMLDesc(f)),
        "chk_parent": lambda c, n, k: dom(c, n).checkpointLookupByName(k, 0).getParent(0).getName(),
        "chk_children": lambda c, n, k, f: sorted(x.getName() for x in
                                                  dom(c, n).checkpointLookupByName(k, 0).listAllChildren(f)),
        "chk_lookup": lambda c, n, k: dom(c, n).checkpointLookupByName(k, 0).getName(),
        "chk_delete": lambda c, n, k, f: dom(c, n).checkpointLookupByName(k, 0).delete(f),
        "snap_create": lambda c, n, x, f: dom(c, n).snapshotCreateXML(x, f).getName(),
        "snap_xml": lambda c, n, s: _mask_snapshot(snap(c, n, s).getXMLDesc(0)),
        "snap_parent": lambda c, n, s: snap(c, n, s).getParent(0).getName(),
        "snap_list": lambda c, n, f: sorted(s.getName() for s in dom(c, n).listAllSnapshots(f)),
        "snap_list_names": lambda c, n, f: _topological(dom(c, n).snapshotListNames(f),
                                                        lambda s: _libvirt_parent(snap(c, n, s), error_cls)),
        "snap_num": lambda c, n, f: dom(c, n).snapshotNum(f),
        "snap_children": lambda c, n, s, f: sorted(x.getName() for x in snap(c, n, s).listAllChildren(f)),
        "snap_is_current": lambda c, n, s: snap(c, n, s).isCurrent(0),
        "snap_revert": lambda c, n, s, f: dom(c, n).revertToSnapshot(snap(c, n, s), f),
        "snap_delete": lambda c, n, s, f: snap(c, n, s).delete(f),
        "snap_lookup": lambda c, n, s: snap(c, n, s).getName(),
        "snap_undefine_meta": lambda c, n: dom(c, n).undefineFlags(2),
        "net_list": lambda c, f: sorted(x.name() for x in c.listAllNetworks(f)),
        "net_xml": lambda c, n, f: c.networkLookupByName(n).XMLDesc(f),
        "net_bridge": lambda c, n: c.networkLookupByName(n).bridgeName(),
        "net_state": lambda c, n: [c.networkLookupByName(n).isActive(), c.networkLookupByName(n).isPersistent()],
        "net_define": lambda c, x: c.networkDefineXML(x).name(), "net_create_xml": lambda c, x: c.networkCreateXML(x).name(),
        "net_start": lambda c, n: c.networkLookupByName(n).create(),
        "net_destroy": lambda c, n: c.networkLookupByName(n).destroy(),
        "net_undefine": lambda c, n: c.networkLookupByName(n).undefine(),
        "net_lookup": lambda c, n: c.networkLookupByName(n).UUIDString(),
        "net_lookup_uuid": lambda c, u: c.networkLookupByUUIDString(u).name(),
        "net_autostart": lambda c, n: c.networkLookupByName(n).autostart(),
        "net_set_autostart": lambda c, n, v: c.networkLookupByName(n).setAutostart(v),
        "net_update": lambda c, n, cmd, sec, idx, x, f: c.networkLookupByName(n).update(cmd, sec, idx, x, f),
        "pool_list": lambda c, f: sorted(x.name() for x in c.listAllStoragePools(f)),
        "pool_xml": lambda c, n: c.storagePoolLookupByName(n).XMLDesc(0),
        "pool_info": lambda c, n: c.storagePoolLookupByName(n).info(),
        "pool_state": lambda c, n: [c.storagePoolLookupByName(n).isActive(),
                                    c.storagePoolLookupByName(n).isPersistent()],
        "pool_define": lambda c, x: c.storagePoolDefineXML(x, 0).name(),
        "pool_create_xml": lambda c, x: c.storagePoolCreateXML(x, 0).name(),
        "pool_start": lambda c, n: c.storagePoolLookupByName(n).create(0),
        "pool_destroy": lambda c, n: c.storagePoolLookupByName(n).destroy(),
        "pool_build": lambda c, n: c.storagePoolLookupByName(n).build(0),
        "pool_delete": lambda c, n: c.storagePoolLookupByName(n).delete(0),
        "pool_undefine": lambda c, n: c.storagePoolLookupByName(n).undefine(),
        "pool_refresh": lambda c, n: c.storagePoolLookupByName(n).refresh(0),
        "pool_lookup": lambda c, n: c.storagePoolLookupByName(n).UUIDString(),
        "pool_autostart": lambda c, n: c.storagePoolLookupByName(n).autostart(),
        "pool_set_autostart": lambda c, n, v: c.storagePoolLookupByName(n).setAutostart(v),
        "find_sources": lambda c, t, s: c.findStoragePoolSources(t, s, 0),
        "vol_list": lambda c, p: sorted(x.name() for x in c.storagePoolLookupByName(p).listAllVolumes(0)),
        "vol_create": lambda c, p, x: c.storagePoolLookupByName(p).createXML(x, 0).name(),
        "vol_clone": lambda c, p, x, s: c.storagePoolLookupByName(p).createXMLFrom(x, vol(c, p, s), 0).name(),
        "vol_xml": lambda c, p, n: vol(c, p, n).XMLDesc(0), "vol_info": lambda c, p, n: vol(c, p, n).info(),
        "vol_path": lambda c, p, n: vol(c, p, n).path(), "vol_delete": lambda c, p, n: vol(c, p, n).delete(0),
        "vol_lookup_key": lambda c, k: c.storageVolLookupByKey(k).name(),
        "vol_lookup_path": lambda c, p: c.storageVolLookupByPath(p).name(),
        "iface_list": lambda c, f: sorted([x.name(), x.MACString()] for x in c.listAllInterfaces(f)),
        "iface_xml": lambda c, n: c.interfaceLookupByName(n).XMLDesc(0),
        "iface_state": lambda c, n: c.interfaceLookupByName(n).isActive(),
        "iface_define": lambda c, x: c.interfaceDefineXML(x, 0).name(),
        "iface_undefine": lambda c, n: c.interfaceLookupByName(n).undefine(),
        "iface_start": lambda c, n: c.interfaceLookupByName(n).create(0),
        "iface_stop": lambda c, n: c.interfaceLookupByName(n).destroy(0),
        "iface_mac": lambda c, m: c.interfaceLookupByMACString(m).name(),
        "iface_begin": lambda c: c.changeBegin(0), "iface_commit": lambda c: c.changeCommit(0),
        "iface_rollback": lambda c: c.changeRollback(0),
        "nd_list": lambda c, cap: sorted(c.listDevices(cap, 0)),
        "nd_list_flags": lambda c, f: sorted(c.listDevices(None, f)),
        "nd_list_all": lambda c, f: sorted(d.name() for d in c.listAllDevices(f)),
        "nd_xml": lambda c, n: c.nodeDeviceLookupByName(n).XMLDesc(0),
        "nd_parent": lambda c, n: c.nodeDeviceLookupByName(n).parent(),
        "nd_caps": lambda c, n: c.nodeDeviceLookupByName(n).listCaps(),
        "nd_create": lambda c, x: c.nodeDeviceCreateXML(x, 0).name(),
        "nd_destroy": lambda c, n: c.nodeDeviceLookupByName(n).destroy(),
        "nd_lookup": lambda c, n: c.nodeDeviceLookupByName(n).name(),
    }, libvirt.libvirtError


def _libvirt_tunable(dom: Any, what: str, dev: str | None, params: Any, flags: int) -> Any:
    """Get (``params`` None) or set one group of tunables through python3-libvirt."""
    args = (dev,) if dev is not None else ()
    names = {"blkio": "BlkioParameters", "numa": "NumaParameters", "iface": "InterfaceParameters",
             "iotune": "BlockIoTune", "perf": "PerfEvents"}
    if params is None:
        getter = {"iotune": "blockIoTune", "perf": "perfEvents"}.get(what, names[what][0].lower() + names[what][1:])
        return getattr(dom, getter)(*args, flags)
    return getattr(dom, "set" + names[what])(*args, params, flags)


def _cpu_stats(dom: Any, start: int, count: int) -> list[Any]:
    """python3-libvirt asks for all CPUs at once; the total when ``start`` is -1."""
    if start == -1:
        return list(dom.getCPUStats(True))
    return list(dom.getCPUStats(False))[start:start + count]


def _name_id(dom: Any, id_method: str) -> list[Any]:
    return [dom.name(), getattr(dom, id_method)()]


def _topological(names: list[str], parent_of: Any) -> list[Any]:
    """A topological listing as (the names, whether each one comes after its parent): the order
    among siblings is libvirt's hash order, so only the ordering rule is compared."""
    seen: set[str] = set()
    ok = True
    for name in names:
        parent = parent_of(name)
        ok = ok and (parent is None or parent in seen)
        seen.add(name)
    return [sorted(names), ok]


def _libvirt_parent(snapshot: Any, error_cls: Any) -> str | None:
    try:
        return str(snapshot.getParent(0).getName())
    except error_cls:
        return None


def run_libvirt_scenario(steps: list[list[Any]], tmp: str, uri: str = "test:///default") -> list[Any]:
    import threading

    import libvirt

    ops, error_cls = libvirt_ops()
    libvirt.registerErrorHandler(lambda *a: None, None)
    # before the connection opens: a remote connection watches its socket only if a loop exists
    libvirt.virEventRegisterDefaultImpl()
    threading.Thread(target=lambda: [libvirt.virEventRunDefaultImpl() for _ in iter(int, 1)], daemon=True).start()
    events: list[Any] = []
    results: list[Any] = []
    conn = libvirt.open(uri)
    ro = None
    for step in steps:
        op, args = step[0], [a.replace("{tmp}", tmp) if isinstance(a, str) else a for a in step[1:]]
        try:
            if op == "events_on":
                conn.domainEventRegisterAny(None, 0, lambda c, d, e, de, o: events.append(["dom", d.name(), e, de]),
                                            None)
                conn.networkEventRegisterAny(None, 0, lambda c, n, e, de, o: events.append(["net", n.name(), e, de]),
                                             None)
                conn.storagePoolEventRegisterAny(None, 0, lambda c, p, e, de, o: events.append(["pool", p.name(), e,
                                                                                              de]), None)
                conn.nodeDeviceEventRegisterAny(None, 0, lambda c, n, e, de, o: events.append(["nodedev", n.name(),
                                                                                             e, de]), None)
                conn.domainEventRegisterAny(None, 23, lambda c, d, t, u, o: events.append(["meta", d.name(), t, u]),
                                            None)
                value: Any = None
            elif op == "events":
                time.sleep(0.3)
                value, events[:] = list(events), []
            elif op == "ro_call":
                ro = ro or libvirt.openReadOnly(uri)
                value = ops[args[0]](ro, *args[1:])
            else:
                value = ops[op](conn, *args)
            results.append(["ok", 0 if value is None else value])
        except error_cls as e:
            results.append(["error", e.get_error_code(), e.get_error_domain(), e.get_error_message()])
    return json.loads(json.dumps(results))


def libvirt_main() -> None:
    """Run the scenarios given on stdin, each in a forked child, and print their results as JSON."""
    request = json.load(sys.stdin)
    out = {}
    for name, steps in request["scenarios"].items():
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(rfd)
            try:
                data = json.dumps(run_libvirt_scenario(steps, request["tmp"], request.get("uri", "test:///default"))
                                  ).encode()
            except Exception as exc:
                data = json.dumps([["crash", repr(exc)]]).encode()
            with os.fdopen(wfd, "wb") as f:
                f.write(data)
            os._exit(0)
        os.close(wfd)
        with os.fdopen(rfd, "rb") as f:
            out[name] = json.loads(f.read() or b"null")
        os.waitpid(pid, 0)
    json.dump(out, sys.stdout)


# ----------------------------------------------------------------------------- our side


def our_ops() -> dict[str, Any]:
    from virt.core.enums import DomainState

    def dom(c: Any, name: str) -> Any:
        return c.lookup_domain_by_name(name)

    def goto(c: Any, name: str, state: str) -> None:
        d = dom(c, name)
        if state == "off":
            if d.is_active():
                d.destroy()
            return
        if not d.is_active():
            d.create()
        if state == "run" and d.state()[0] == DomainState.PAUSED:
            d.resume()
        if state == "pau" and d.state()[0] == DomainState.RUNNING:
            d.suspend()

    def snap(c: Any, name: str, s: str) -> Any:
        return dom(c, name).snapshot_lookup(s)

    def vol(c: Any, pool: str, name: str) -> Any:
        return c.lookup_storage_pool(pool).lookup_volume(name)

    def chk(c: Any, name: str, k: str) -> Any:
        return c.call("domain_checkpoint_lookup_by_name", dom(c, name).ref, k, 0)

    def net(c: Any, name: str) -> Any:
        return c.lookup_network(name)

    def pool(c: Any, name: str) -> Any:
        return c.lookup_storage_pool(name)

    def parent(snapshot: Any) -> str | None:
        from virt.util.errors import VirtError

        try:
            return str(snapshot.parent().name())
        except VirtError:
            return None

    return {
        "type": lambda c: c.get_type(), "version": lambda c: c.get_version(), "libversion": lambda c: c.get_lib_version(),
        "hostname": lambda c: c.get_hostname(),
        "nodeinfo": lambda c: [c.node_info().model, *list(c.node_info())[2:]],
        "caps": lambda c: c.get_capabilities(), "sysinfo": lambda c: c.get_sysinfo(0),
        "freemem": lambda c: c.free_memory(), "cells_free": lambda c, s, m: c.call("node_get_cells_free_memory", s, m),
        "maxvcpus": lambda c: c.get_max_vcpus(None), "uri": lambda c: c.get_uri(),
        "dom_list": lambda c, f: sorted(d.name() for d in c.list_all_domains(f)),
        "dom_ids": lambda c: sorted(c.call("connect_list_domains", -1)),
        "dom_lookup": lambda c, n: [dom(c, n).name(), dom(c, n).uuid(), dom(c, n).id()],
        "dom_lookup_id": lambda c, i: c.lookup_domain_by_id(i).name(),
        "dom_lookup_uuid": lambda c, u: c.lookup_domain_by_uuid(u).name(),
        "dom_state": lambda c, n: list(dom(c, n).state(0)), "dom_info": lambda c, n: list(dom(c, n).info())[:4],
        "dom_xml": lambda c, n, f: dom(c, n).xml_desc(f), "dom_persistent": lambda c, n: int(dom(c, n).is_persistent()),
        "dom_autostart": lambda c, n: int(dom(c, n).get_autostart()),
        "dom_set_autostart": lambda c, n, v: dom(c, n).set_autostart(v),
        "dom_ostype": lambda c, n: c.call("domain_get_os_type", dom(c, n).ref),
        "dom_maxmem": lambda c, n: c.call("domain_get_max_memory", dom(c, n).ref),
        "dom_vcpus": lambda c, n, f: dom(c, n).get_vcpus(f), "dom_hostname": lambda c, n: dom(c, n).get_hostname(0),
        "dom_define": lambda c, x: c.define_domain(x).name(),
        "dom_create_xml": lambda c, x, f: _name_id(c.create_domain(x, f), "id"),
        "dom_start": lambda c, n, f: dom(c, n).create(f), "dom_destroy": lambda c, n: dom(c, n).destroy(0),
        "dom_shutdown": lambda c, n: dom(c, n).shutdown(0), "dom_reboot": lambda c, n: dom(c, n).reboot(0),
        "dom_reset": lambda c, n: dom(c, n).reset(0), "dom_suspend": lambda c, n: dom(c, n).suspend(),
        "dom_resume": lambda c, n: dom(c, n).resume(), "dom_undefine": lambda c, n, f: dom(c, n).undefine(f),
        "dom_managedsave": lambda c, n: dom(c, n).managed_save(0),
        "dom_has_managedsave": lambda c, n: int(dom(c, n).has_managed_save(0)),
        "dom_managedsave_remove": lambda c, n: dom(c, n).managed_save_remove(0),
        "dom_setmem": lambda c, n, m, f: dom(c, n).set_memory(m, f),
        "dom_setvcpus": lambda c, n, v, f: dom(c, n).set_vcpus(v, f),
        "dom_metadata": lambda c, n, t, u, f: dom(c, n).get_metadata(t, u, f),
        "dom_set_metadata": lambda c, n, t, m, k, u, f: dom(c, n).set_metadata(t, m, k, u, f),
        "dom_save": lambda c, n, p: dom(c, n).save(p, None, 0), "dom_restore": lambda c, p: c.restore_domain(p),
        "dom_goto": goto,
        "dom_blockstats_bad": lambda c, n, p: dom(c, n).block_stats(p) and None,
        "dom_ifstats_bad": lambda c, n, p: dom(c, n).interface_stats(p) and None,
        "dom_blockinfo": lambda c, n, p: list(dom(c, n).get_block_info(p, 0)),
        "dom_memstats": lambda c, n: sorted((MEMSTAT_NAMES[k], v) for k, v in dom(c, n).memory_stats(13, 0).items()),
        "dom_ifaddrs": lambda c, n: sorted((name, mac, [list(a) for a in addrs])
                                           for name, mac, addrs in c.call("domain_interface_addresses",
                                                                          dom(c, n).ref, 0, 0)),
        "dom_vcpuinfo": lambda c, n: len(c.call("domain_get_vcpus", dom(c, n).ref, -1)),
        "stats": lambda c, s, f: _sorted([r.dom.name(), r.params] for r in c.get_all_domain_stats(s, f)),
        "dom_time": lambda c, n: list(c.call("domain_get_time", dom(c, n).ref, 0)),
        "dom_set_time": lambda c, n, s, ns: c.call("domain_set_time", dom(c, n).ref, s, ns, 0),
        "dom_control": lambda c, n: list(c.call("domain_get_control_info", dom(c, n).ref, 0)),
        "dom_fsinfo": lambda c, n: [list(x) for x in c.call("domain_get_fsinfo", dom(c, n).ref, 0)[0]],
        "dom_freeze": lambda c, n, m: c.call("domain_fsfreeze", dom(c, n).ref, m, 0),
        "dom_thaw": lambda c, n, m: c.call("domain_fsthaw", dom(c, n).ref, m, 0),
        "dom_trim": lambda c, n, m: c.call("domain_fstrim", dom(c, n).ref, m, 0, 0),
        "dom_disk_errors": lambda c, n: sorted(c.call("domain_get_disk_errors", dom(c, n).ref, 256, 0)[0]),
        "dom_sched": lambda c, n: c.call("domain_get_scheduler_parameters", dom(c, n).ref, 1),
        "dom_set_sched": lambda c, n, p: c.call("domain_set_scheduler_parameters", dom(c, n).ref, p),
        "dom_memparams": lambda c, n, f: c.call("domain_get_memory_parameters", dom(c, n).ref, 3, f)[0],
        "dom_set_memparams": lambda c, n, p, f: c.call("domain_set_memory_parameters", dom(c, n).ref, p, f),
        "dom_stats_period": lambda c, n, p, f: c.call("domain_set_memory_stats_period", dom(c, n).ref, p, f),
        "dom_nmi": lambda c, n: c.call("domain_inject_nmi", dom(c, n).ref, 0),
        "dom_signal": lambda c, n, p, s: c.call("domain_send_process_signal", dom(c, n).ref, p, s, 0),
        "dom_passwd": lambda c, n: c.call("domain_set_user_password", dom(c, n).ref, "root", "secret", 0),
        "dom_lifecycle": lambda c, n, t, a, f: c.call("domain_set_lifecycle_action", dom(c, n).ref, t, a, f),
        "dom_pin": lambda c, n, v, m: c.call("domain_pin_vcpu", dom(c, n).ref, v, m),
        "dom_pininfo": lambda c, n, f: _bits(*c.call("domain_get_vcpu_pin_info", dom(c, n).ref, 16, 1, f)),
        "dom_emupin": lambda c, n, m, f: c.call("domain_pin_emulator", dom(c, n).ref, m, f),
        "dom_emupininfo": lambda c, n, f: _bits(c.call("domain_get_emulator_pin_info", dom(c, n).ref, 1, f)[0],
                                               1)[0],
        "dom_cpustats": lambda c, n, s, k: _our_cpu_stats(c, dom(c, n).ref, s, k),
        "dom_peek": lambda c, n, s, z, f: list(c.call("domain_memory_peek", dom(c, n).ref, s, z, f)),
        "dom_messages": lambda c, n: c.call("domain_get_messages", dom(c, n).ref, 0),
        "dom_report": lambda c, n, what: (c.call("domain_get_perf_events", dom(c, n).ref, 0) if what == "perf" else
                                          c.call({"blkio": "domain_get_blkio_parameters",
                                                  "numa": "domain_get_numa_parameters"}[what], dom(c, n).ref,
                                                 16, 0)[0]),
        "dom_ifparams": lambda c, n, i: c.call("domain_get_interface_parameters", dom(c, n).ref, i, 16, 0)[0],
        "dom_get_tunable": lambda c, n, what, dev, f: _our_tunable(c, dom(c, n).ref, what, dev, None, f),
        "dom_set_tunable": lambda c, n, what, dev, p, f: _our_tunable(c, dom(c, n).ref, what, dev, p, f),
        "dom_iotune": lambda c, n, d: c.call("domain_get_block_io_tune", dom(c, n).ref, d, 32, 0)[0],
        "snap_current": lambda c, n: dom(c, n).snapshot_current(0).name(),
        "chk_list": lambda c, n, f: sorted(x.name for x in c.call("domain_list_all_checkpoints", dom(c, n).ref, f)),
        "chk_create": lambda c, n, x, f: c.call("domain_checkpoint_create_xml", dom(c, n).ref, x, f).name,
        "chk_xml": lambda c, n, k, f: _mask_snapshot(c.call("domain_checkpoint_get_xml_desc", chk(c, n, k), f)),
        "chk_parent": lambda c, n, k: c.call("domain_checkpoint_get_parent", chk(c, n, k), 0).name,
        "chk_children": lambda c, n, k, f: sorted(x.name for x in c.call("domain_checkpoint_list_all_children",
                                                                         chk(c, n, k), f)),
        "chk_lookup": lambda c, n, k: chk(c, n, k).name,
        "chk_delete": lambda c, n, k, f: c.call("domain_checkpoint_delete", chk(c, n, k), f),
        "snap_has_current": lambda c, n: c.call("domain_has_current_snapshot", dom(c, n).ref, 0),
        "snap_create": lambda c, n, x, f: dom(c, n).snapshot_create(x, f).name(),
        "snap_xml": lambda c, n, s: _mask_snapshot(snap(c, n, s).xml_desc(0)),
        "snap_parent": lambda c, n, s: snap(c, n, s).parent(0).name(),
        "snap_list": lambda c, n, f: sorted(s.name() for s in dom(c, n).snapshots(f)),
        "snap_list_names": lambda c, n, f: _topological(c.call("domain_snapshot_list_names", dom(c, n).ref, -1, f),
                                                        lambda s: parent(snap(c, n, s))),
        "snap_num": lambda c, n, f: c.call("domain_snapshot_num", dom(c, n).ref, f),
        "snap_children": lambda c, n, s, f: sorted(x.name() for x in snap(c, n, s).children(f)),
        "snap_is_current": lambda c, n, s: snap(c, n, s).is_current(0),
        "snap_revert": lambda c, n, s, f: snap(c, n, s).revert(f),
        "snap_delete": lambda c, n, s, f: snap(c, n, s).delete(f),
        "snap_lookup": lambda c, n, s: snap(c, n, s).name(),
        "snap_undefine_meta": lambda c, n: dom(c, n).undefine(2),
        "net_list": lambda c, f: sorted(x.name() for x in c.list_all_networks(f)),
        "net_xml": lambda c, n, f: net(c, n).xml_desc(f), "net_bridge": lambda c, n: net(c, n).bridge_name(),
        "net_state": lambda c, n: [net(c, n).is_active(), net(c, n).is_persistent()],
        "net_define": lambda c, x: c.define_network(x).name(), "net_create_xml": lambda c, x: c.create_network(x).name(),
        "net_start": lambda c, n: net(c, n).create(), "net_destroy": lambda c, n: net(c, n).destroy(),
        "net_undefine": lambda c, n: net(c, n).undefine(), "net_lookup": lambda c, n: net(c, n).uuid(),
        "net_lookup_uuid": lambda c, u: c.call("network_lookup_by_uuid", u).name,
        "net_autostart": lambda c, n: net(c, n).get_autostart(),
        "net_set_autostart": lambda c, n, v: net(c, n).set_autostart(v),
        "net_update": lambda c, n, cmd, sec, idx, x, f: net(c, n).update(cmd, sec, idx, x, f),
        "pool_list": lambda c, f: sorted(x.name() for x in c.list_all_storage_pools(f)),
        "pool_xml": lambda c, n: pool(c, n).xml_desc(0), "pool_info": lambda c, n: list(pool(c, n).info()),
        "pool_state": lambda c, n: [pool(c, n).is_active(), pool(c, n).is_persistent()],
        "pool_define": lambda c, x: c.define_storage_pool(x, 0).name(),
        "pool_create_xml": lambda c, x: c.create_storage_pool(x, 0).name(),
        "pool_start": lambda c, n: pool(c, n).create(0), "pool_destroy": lambda c, n: pool(c, n).destroy(),
        "pool_build": lambda c, n: pool(c, n).build(0), "pool_delete": lambda c, n: pool(c, n).delete(0),
        "pool_undefine": lambda c, n: pool(c, n).undefine(), "pool_refresh": lambda c, n: pool(c, n).refresh(0),
        "pool_lookup": lambda c, n: pool(c, n).uuid(), "pool_autostart": lambda c, n: pool(c, n).get_autostart(),
        "pool_set_autostart": lambda c, n, v: pool(c, n).set_autostart(v),
        "find_sources": lambda c, t, s: c.call("connect_find_storage_pool_sources", t, s, 0),
        "vol_list": lambda c, p: sorted(x.name() for x in pool(c, p).list_all_volumes(0)),
        "vol_create": lambda c, p, x: pool(c, p).create_volume(x, 0).name(),
        "vol_clone": lambda c, p, x, s: pool(c, p).clone_volume(x, vol(c, p, s), 0).name(),
        "vol_xml": lambda c, p, n: vol(c, p, n).xml_desc(0), "vol_info": lambda c, p, n: list(vol(c, p, n).info()),
        "vol_path": lambda c, p, n: vol(c, p, n).path(), "vol_delete": lambda c, p, n: vol(c, p, n).delete(0),
        "vol_lookup_key": lambda c, k: c.lookup_storage_vol_by_key(k).name(),
        "vol_lookup_path": lambda c, p: c.lookup_storage_vol_by_path(p).name(),
        "iface_list": lambda c, f: sorted([x.name(), x.mac()] for x in c.list_all_interfaces(f)),
        "iface_xml": lambda c, n: c.lookup_interface(n).xml_desc(0),
        "iface_state": lambda c, n: c.lookup_interface(n).is_active(),
        "iface_define": lambda c, x: c.define_interface(x, 0).name(),
        "iface_undefine": lambda c, n: c.lookup_interface(n).undefine(),
        "iface_start": lambda c, n: c.lookup_interface(n).create(0),
        "iface_stop": lambda c, n: c.lookup_interface(n).destroy(0),
        "iface_mac": lambda c, m: c.lookup_interface(m).name(),
        "iface_begin": lambda c: c.call("interface_change_begin", 0),
        "iface_commit": lambda c: c.call("interface_change_commit", 0),
        "iface_rollback": lambda c: c.call("interface_change_rollback", 0),
        "nd_list": lambda c, cap: sorted(c.call("node_list_devices", cap, -1, 0)),
        "nd_list_flags": lambda c, f: c.call("node_num_of_devices", None, f) and sorted(
            c.call("node_list_devices", None, -1, f)),
        "nd_list_all": lambda c, f: sorted(d.name() for d in c.list_all_node_devices(f)),
        "nd_xml": lambda c, n: c.lookup_node_device(n).xml_desc(0),
        "nd_parent": lambda c, n: c.lookup_node_device(n).parent(),
        "nd_caps": lambda c, n: c.lookup_node_device(n).list_caps(),
        "nd_create": lambda c, x: c.create_node_device(x, 0).name(),
        "nd_destroy": lambda c, n: c.lookup_node_device(n).destroy(),
        "nd_lookup": lambda c, n: c.lookup_node_device(n).name(),
    }


def _our_tunable(c: Any, ref: Any, what: str, dev: str | None, params: Any, flags: int) -> Any:
    """Get (``params`` None) or set one group of tunables through our driver calls."""
    args = (dev,) if dev is not None else ()
    calls = {"blkio": "blkio_parameters", "numa": "numa_parameters", "iface": "interface_parameters",
             "iotune": "block_io_tune", "perf": "perf_events"}
    if params is None:
        if what == "perf":
            return c.call("domain_get_perf_events", ref, flags)
        return c.call(f"domain_get_{calls[what]}", ref, *args, 32, flags)[0]
    if what != "perf":  # python3-libvirt reads the parameters' types first
        c.call(f"domain_get_{calls[what]}", ref, *args, 0, flags)
    return c.call(f"domain_set_{calls[what]}", ref, *args, params, flags)


def _bits(maps: bytes, count: int) -> list[list[bool]]:
    """CPU maps (one byte each) as python3-libvirt shows them: 8 flags per vCPU."""
    return [[bool(maps[v] & (1 << i)) for i in range(8)] for v in range(count)]


def _our_cpu_stats(c: Any, ref: Any, start: int, count: int) -> list[dict[str, Any]]:
    """As python3-libvirt's getCPUStats: one dict of the total, or one dict per CPU."""
    params, n = c.call("domain_get_cpu_stats", ref, 16, start, count, 0)
    return [dict(params[i:i + n]) for i in range(0, len(params), n)]


#: virDomainMemoryStatTags -> the names python3-libvirt's memoryStats() uses.
MEMSTAT_NAMES = {0: "swap_in", 1: "swap_out", 2: "major_fault", 3: "minor_fault", 4: "unused", 5: "available",
                 6: "actual", 7: "rss", 8: "usable", 9: "last_update", 10: "disk_caches", 11: "hugetlb_pgalloc",
                 12: "hugetlb_pgfail"}


def run_our_scenario(steps: list[list[Any]], tmp: str) -> list[Any]:
    import virt.core
    from virt.core.enums import DomainEventID
    from virt.util.errors import VirtError

    ops = our_ops()
    results: list[Any] = []
    events: list[Any] = []
    conn = virt.core.open("test:///default")
    ro = None
    try:
        for step in steps:
            op, args = step[0], [a.replace("{tmp}", tmp) if isinstance(a, str) else a for a in step[1:]]
            try:
                value: Any = None
                if op == "events_on":
                    def record(kind: str) -> Any:
                        return lambda ev: events.append([kind, ev.obj.name, *ev.payload])
                    conn.domain_event_register(DomainEventID.LIFECYCLE, record("dom"))
                    conn.domain_event_register(DomainEventID.METADATA_CHANGE, record("meta"))
                    conn.network_event_register(0, record("net"))
                    for kind, label in (("storage_pool", "pool"), ("node_device", "nodedev")):
                        conn.call(f"connect_{kind}_event_register_any", 0)
                        conn.events.subscribe(kind, 0, record(label))
                elif op == "events":
                    conn.events.flush()
                    value, events[:] = list(events), []
                elif op == "ro_call":
                    ro = ro or virt.core.open("test:///default", readonly=True)
                    value = ops[args[0]](ro, *args[1:])
                else:
                    value = ops[op](conn, *args)
                results.append(["ok", 0 if value is None else value])  # libvirt's void calls return 0
            except VirtError as e:
                results.append(["error", int(e.code), int(e.domain), e.message])
    finally:
        if ro is not None:
            ro.close()
        conn.close()
    return json.loads(json.dumps(results))


# ----------------------------------------------------------------------------- the tests

if pytest is not None:
    HAVE_LIBVIRT = os.path.exists(LIBVIRT_PYTHON) and subprocess.run(
        [LIBVIRT_PYTHON, "-c", "import libvirt"], capture_output=True, check=False).returncode == 0

    @pytest.fixture(scope="module")
    def libvirt_results(tmp_path_factory: Any) -> dict[str, Any]:
        if not HAVE_LIBVIRT:
            pytest.skip("python3-libvirt is not installed for /usr/bin/python3")
        tmp = str(tmp_path_factory.mktemp("libvirt"))
        proc = subprocess.run([LIBVIRT_PYTHON, __file__], input=json.dumps({"scenarios": SCENARIOS, "tmp": tmp}),
                              capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, proc.stderr
        return dict(json.loads(proc.stdout), __tmp__=tmp)

    @pytest.mark.parametrize("name", list(SCENARIOS))
    def test_same_as_libvirt(name: str, libvirt_results: dict[str, Any]) -> None:
        theirs = libvirt_results[name]
        tmp = libvirt_results["__tmp__"]
        for entry in os.listdir(tmp):  # the same paths as libvirt's run, fresh
            os.unlink(os.path.join(tmp, entry))
        ours = run_our_scenario(SCENARIOS[name], tmp)
        steps = SCENARIOS[name]
        assert len(ours) == len(theirs) == len(steps)
        known = []
        for i, (step, mine, libv) in enumerate(zip(steps, ours, theirs, strict=True)):
            reason = KNOWN_DIFFERENCES.get((name, i))
            if reason is None:
                assert mine == libv, f"step {i} {step[0]}{tuple(step[1:])!r}"
            elif mine == libv:
                pytest.fail(f"step {i} now matches libvirt: drop it from KNOWN_DIFFERENCES ({reason})")
            else:
                known.append(f"step {i}: {reason}")
        if known:
            pytest.xfail("; ".join(known))

    @pytest.fixture(scope="module")
    def virtd_uri() -> Iterator[str]:
        """Our daemon serving the installed drivers on a private socket."""
        with tempfile.TemporaryDirectory(prefix="virtd-testdriver-") as tmp:
            sock = Path(tmp) / "sock"
            with open(Path(tmp) / "virtd.log", "wb") as log:
                proc = subprocess.Popen([sys.executable, "-m", "virt.core.remote.daemon", "--socket", str(sock)],
                                        stdout=log, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + 30
                while not sock.exists():
                    assert proc.poll() is None and time.monotonic() < deadline, (Path(tmp) / "virtd.log").read_text()
                    time.sleep(0.05)
                yield f"test+unix:///default?socket={sock}"
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
                proc.wait(timeout=15)

    def test_libvirt_client_through_virtd_sees_libvirts_test_driver(libvirt_results: dict[str, Any],
                                                                     virtd_uri: str) -> None:
        """Every scenario again, by python3-libvirt through our virtd: the driver behind the remote
        protocol, as a libvirt client sees it."""
        tmp = libvirt_results["__tmp__"]
        for entry in os.listdir(tmp):
            os.unlink(os.path.join(tmp, entry))
        request = {"scenarios": SCENARIOS, "tmp": tmp, "uri": virtd_uri}
        proc = subprocess.run([LIBVIRT_PYTHON, __file__], input=json.dumps(request), capture_output=True,
                              text=True, timeout=900, check=False)
        assert proc.returncode == 0, proc.stderr
        remote = json.loads(proc.stdout)
        differences = [f"{name} step {i} {step[0]}: virtd {str(remote[name][i])[:200]} != "
                       f"libvirt {str(libvirt_results[name][i])[:200]}"
                       for name, steps in SCENARIOS.items() for i, step in enumerate(steps)
                       if remote[name][i] != libvirt_results[name][i]
                       and (name, i) not in KNOWN_DIFFERENCES and step[0] != "uri"]
        assert differences == []

if __name__ == "__main__":
    libvirt_main()
