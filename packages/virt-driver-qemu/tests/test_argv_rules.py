"""qemu-argv rules beyond the visible corpus: small domains, the options libvirt 9.0.0 gives them.

Each test converts an inline domain with libvirt's recorded QEMU 8.0.0 capabilities and checks the
options the rule under test produces (device JSON compared as objects).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from virt.driver.qemu.argv import to_native
from virt.driver.qemu.normalize import normalize

CORPUS = Path(os.environ.get("VIRT_CORPUS", "/work/shared/corpus"))
CAPS = CORPUS / "qemu_caps" / "caps_8.0.0.x86_64.replies"

pytestmark = pytest.mark.skipif(not CAPS.exists(), reason="recorded QEMU capabilities not found")


def _domain(devices: str, extra: str = "", machine: str = "pc") -> str:
    return f"""<domain type='qemu'>
  <name>guest</name>
  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
  <memory unit='KiB'>219136</memory>
  {extra}
  <vcpu placement='static'>1</vcpu>
  <os><type arch='x86_64' machine='{machine}'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    {devices}
    <memballoon model='none'/>
  </devices>
</domain>"""


def _args(xml: str) -> list[tuple[str, str | None]]:
    """The command line as (option, value) pairs, JSON values decoded."""
    out = to_native(xml, qemu_caps=str(CAPS), private_dir="/tmp/lib/domain--1-guest")
    words = [w for line in out.splitlines() if not line.split("=", 1)[0].isupper() for w in [line.rstrip(" \\")]]
    pairs: list[tuple[str, str | None]] = []
    for w in words:
        opt, _, val = w.partition(" ")
        pairs.append((opt, val.strip("'") if val else None))
    return pairs


def _devices(xml: str, driver: str) -> list[dict]:
    return [d for o, v in _args(xml) if o == "-device" and v and v.startswith("{")
            for d in [json.loads(v)] if d["driver"] == driver]


def _objects(xml: str) -> list[dict]:
    return [json.loads(v) for o, v in _args(xml) if o == "-object" and v and v.startswith("{")]


def test_usb_master_precedes_its_companions() -> None:
    """Controllers of one type are ordered by index, the master of an index before its companions."""
    xml = _domain("""
    <controller type='usb' index='1' model='nec-xhci'/>
    <controller type='usb' index='0' model='ich9-uhci1'>
      <master startport='0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x06' function='0x0' multifunction='on'/>
    </controller>
    <controller type='usb' index='0' model='ich9-ehci1'>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x06' function='0x7'/>
    </controller>""")
    drivers = [json.loads(v)["driver"] for o, v in _args(xml) if o == "-device" and v]
    assert drivers[:3] == ["ich9-usb-ehci1", "ich9-usb-uhci1", "nec-usb-xhci"]


def test_vhostuser_disk_reconnect() -> None:
    xml = _domain("""
    <disk type='vhostuser' device='disk'>
      <driver name='qemu' type='raw'/>
      <source type='unix' path='/tmp/vhost1.sock'><reconnect enabled='yes' timeout='10'/></source>
      <target dev='vda' bus='virtio'/>
    </disk>""", extra="<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>")
    chardevs = [v for o, v in _args(xml) if o == "-chardev" and v and "chr-vu-" in v]
    assert chardevs == ["socket,id=chr-vu-virtio-disk0,path=/tmp/vhost1.sock,reconnect=10"]


def test_memfd_system_memory_keeps_ramblock_id() -> None:
    xml = _domain("", extra="<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>")
    ram = next(o for o in _objects(xml) if o["id"] == "pc.ram")
    assert ram == {"qom-type": "memory-backend-memfd", "id": "pc.ram", "share": True,
                   "x-use-canonical-path-for-ramblock-id": False, "size": 224395264}


def test_virtio_mem_preallocates_through_its_device() -> None:
    """A hugepage-backed virtio-mem asks its device to preallocate; its backend only stops reserving."""
    xml = """<domain type='kvm'>
  <name>guest</name>
  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
  <maxMemory slots='16' unit='KiB'>1099511627776</maxMemory>
  <memory unit='KiB'>4194304</memory>
  <vcpu placement='static'>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <cpu><numa><cell id='0' cpus='0' memory='1048576' unit='KiB'/></numa></cpu>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <memballoon model='none'/>
    <memory model='virtio-mem'>
      <target><size unit='KiB'>1048576</size><node>0</node><block unit='KiB'>2048</block>
        <requested unit='KiB'>524288</requested></target>
    </memory>
    <memory model='virtio-mem'>
      <source><pagesize unit='KiB'>2048</pagesize></source>
      <target><size unit='KiB'>2097152</size><node>0</node><block unit='KiB'>2048</block>
        <requested unit='KiB'>1048576</requested></target>
    </memory>
  </devices>
</domain>"""
    plain, huge = _devices(xml, "virtio-mem-pci")
    assert "prealloc" not in plain and huge["prealloc"] is True
    backends = [o for o in _objects(xml) if o["id"].startswith("memvirtiomem")]
    assert [("prealloc" in b, b.get("reserve")) for b in backends] == [(False, False), (False, False)]


SHMEMS = """
    <shmem name='plain'><model type='ivshmem-plain'/></shmem>
    <shmem name='bell'><model type='ivshmem-doorbell'/><server path='/tmp/bell'/></shmem>
    <shmem name='quiet'><model type='ivshmem-doorbell'/><server path='/tmp/quiet'/><msi ioeventfd='off'/></shmem>
    <shmem name='vec'><model type='ivshmem-doorbell'/><server path='/tmp/vec'/><msi vectors='16'/></shmem>"""


def test_shmem_defaults_on_the_command_line() -> None:
    devs = {d["id"]: d for d in _devices(_domain(SHMEMS), "ivshmem-doorbell")}
    assert {k: (d.get("vectors"), d.get("ioeventfd")) for k, d in devs.items()} == {
        "shmem1": (None, True), "shmem2": (None, False), "shmem3": (16, True)}


def test_shmem_defaults_in_the_definition() -> None:
    from lxml import etree

    root = etree.fromstring(normalize(_domain(SHMEMS).encode(), qemu_caps=str(CAPS)).encode())
    shm = {s.get("name"): s for s in root.iter("shmem")}
    assert shm["plain"].findtext("size") == "4" and shm["plain"].find("size").get("unit") == "M"
    assert shm["plain"].find("msi") is None
    assert [c.tag for c in shm["bell"]][:3] == ["model", "server", "msi"]
    assert {n: shm[n].find("msi").attrib for n in ("bell", "quiet", "vec")} == {
        "bell": {"ioeventfd": "on"}, "quiet": {"ioeventfd": "off"}, "vec": {"vectors": "16", "ioeventfd": "on"}}


def test_pc_speaker_is_a_soundhw() -> None:
    args = _args(_domain("<sound model='pcspk'/><sound model='ac97'/>"))
    machine = next(v for o, v in args if o == "-machine")
    assert "pcspk" not in (machine or "")
    i = args.index(("-soundhw", "pcspk"))
    assert args[i + 1][0] == "-device" and json.loads(args[i + 1][1] or "{}")["driver"] == "AC97"


def test_redirfilter_version_is_bcd() -> None:
    xml = _domain("""
    <controller type='usb' index='0' model='qemu-xhci'/>
    <redirdev bus='usb' type='spicevmc'/>
    <redirfilter>
      <usbdev class='0x08' vendor='0x15E1' product='0x2007' version='1.10' allow='yes'/>
      <usbdev version='2.0' allow='yes'/>
      <usbdev allow='no'/>
    </redirfilter>
    <graphics type='spice'/>""")
    (redir,) = _devices(xml, "usb-redir")
    assert redir["filter"] == "0x08:0x15E1:0x2007:0x0110:1|-1:-1:-1:0x0200:1|-1:-1:-1:-1:0"


def test_vdpa_interface_is_virtio_by_default() -> None:
    xml = _domain("""
    <interface type='vdpa'><mac address='52:54:00:95:db:c0'/><source dev='/dev/vhost-vdpa-0'/></interface>""")
    (nic,) = _devices(xml, "virtio-net-pci")
    assert nic["netdev"] == "hostnet0" and nic["mac"] == "52:54:00:95:db:c0"
    assert ("-netdev", '{"type":"vhost-vdpa","vhostdev":"/dev/fdset/0","id":"hostnet0"}') in _args(xml)


def test_virtio_video_blob() -> None:
    xml = _domain("""
    <video><model type='virtio' heads='1' primary='yes' blob='on'/></video>
    <video><model type='virtio' heads='1' blob='off'/></video>""")
    (vga,) = _devices(xml, "virtio-vga")
    (gpu,) = _devices(xml, "virtio-gpu-pci")
    assert vga["blob"] is True and gpu["blob"] is False


def test_hostdev_interface_gets_a_pci_slot_before_other_hostdevs() -> None:
    """An <interface type='hostdev'> is placed on the PCI bus as the hostdev it is, ahead of <hostdev>s."""
    xml = _domain("""
    <interface type='user'><mac address='00:11:22:33:44:55'/><model type='virtio'/>
      <teaming type='persistent'/><alias name='ua-backup0'/></interface>
    <interface type='hostdev' managed='yes'><mac address='00:11:22:33:44:55'/>
      <source><address type='pci' domain='0x0000' bus='0x03' slot='0x07' function='0x1'/></source>
      <teaming type='transient' persistent='ua-backup0'/></interface>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source><address domain='0x0000' bus='0x06' slot='0x12' function='0x5'/></source></hostdev>""")
    vfio = _devices(xml, "vfio-pci")
    assert [(d["host"], d.get("failover_pair_id"), d["addr"]) for d in vfio] == [
        ("0000:03:07.1", "ua-backup0", "0x3"), ("0000:06:12.5", None, "0x4")]
    (nic,) = _devices(xml, "virtio-net-pci")
    assert nic["failover"] is True and nic["addr"] == "0x2"


def test_numa_cell_thread_context() -> None:
    """NUMA cells bound to host nodes get a thread-context on those nodes (hugepage-backed or not);
    a DIMM whose host nodes come from <numatune> rather than its own nodemask does not."""
    xml = """<domain type='qemu'>
  <name>guest</name>
  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
  <maxMemory slots='16' unit='KiB'>8388608</maxMemory>
  <memory unit='KiB'>2097152</memory>
  <memoryBacking><hugepages><page size='2048' unit='KiB' nodeset='0'/></hugepages></memoryBacking>
  <vcpu placement='static'>2</vcpu>
  <numatune><memory mode='strict' nodeset='0-1'/><memnode cellid='1' mode='preferred' nodeset='1'/></numatune>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <cpu><numa>
    <cell id='0' cpus='0' memory='1048576' unit='KiB'/>
    <cell id='1' cpus='1' memory='1048576' unit='KiB'/>
  </numa></cpu>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator><memballoon model='none'/>
    <memory model='dimm'><source><pagesize unit='KiB'>2048</pagesize></source>
      <target><size unit='KiB'>524288</size><node>1</node></target></memory>
  </devices>
</domain>"""
    objs = _objects(xml)
    ids = [o["id"] for o in objs]
    assert ids[ids.index("tc-ram-node0"):ids.index("ram-node1") + 1] == [
        "tc-ram-node0", "ram-node0", "tc-ram-node1", "ram-node1"]
    by_id = {o["id"]: o for o in objs}
    assert by_id["tc-ram-node1"] == {"qom-type": "thread-context", "id": "tc-ram-node1", "node-affinity": [1]}
    assert by_id["ram-node0"]["prealloc"] is True and by_id["ram-node0"]["prealloc-context"] == "tc-ram-node0"
    assert "prealloc" not in by_id["ram-node1"] and by_id["ram-node1"]["prealloc-context"] == "tc-ram-node1"
    assert by_id["ram-node1"]["policy"] == "preferred"
    assert by_id["memdimm0"]["host-nodes"] == [1] and by_id["memdimm0"]["prealloc"] is True
    assert "prealloc-context" not in by_id["memdimm0"] and "tc-memdimm0" not in by_id


def test_vsock_automatic_cid_in_the_test_harness() -> None:
    """libvirt's harness gives an automatic vsock CID the value 42; an explicit one is kept."""
    auto = _devices(_domain("<vsock model='virtio'><cid auto='yes'/></vsock>"), "vhost-vsock-pci")
    fixed = _devices(_domain("<vsock model='virtio'><cid auto='no' address='4'/></vsock>"), "vhost-vsock-pci")
    assert [auto[0]["guest-cid"], fixed[0]["guest-cid"]] == [42, 4]


def _blockdevs(xml: str) -> list[dict]:
    return [json.loads(v) for o, v in _args(xml) if o == "-blockdev" and v]


def test_storage_slices() -> None:
    """A raw image takes its slice in its format node; any other format reads it through a raw
    'slice-sto' node between its storage and format nodes."""
    xml = _domain("""
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='/img/raw.img'><slices><slice type='storage' offset='0' size='321'/></slices></source>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='/img/q.qcow2'><slices><slice type='storage' offset='512' size='4096'/></slices></source>
      <backingStore/>
      <target dev='vdb' bus='virtio'/>
    </disk>""")
    nodes = {n["node-name"]: n for n in _blockdevs(xml)}
    raw_fmt = nodes["libvirt-2-format"]
    assert (raw_fmt["driver"], raw_fmt["offset"], raw_fmt["size"], raw_fmt["file"]) == (
        "raw", 0, 321, "libvirt-2-storage")
    assert "libvirt-2-slice-sto" not in nodes
    assert nodes["libvirt-1-slice-sto"] == {
        "driver": "raw", "node-name": "libvirt-1-slice-sto", "offset": 512, "size": 4096,
        "file": "libvirt-1-storage", "auto-read-only": True, "discard": "unmap",
        "cache": {"direct": True, "no-flush": False}}
    assert nodes["libvirt-1-format"]["file"] == "libvirt-1-slice-sto"
    order = [n["node-name"] for n in _blockdevs(xml)]
    assert order.index("libvirt-1-storage") < order.index("libvirt-1-slice-sto") < order.index("libvirt-1-format")


def test_nfs_identity_is_numeric() -> None:
    """<identity user='+N'> names the host id N itself; QEMU gets numbers."""
    xml = _domain("""
    <disk type='network' device='disk'>
      <driver name='qemu' type='raw'/>
      <source protocol='nfs' name='/foo/bar'>
        <host name='example.com' transport='tcp'/>
        <identity user='+6234' group='+12354'/>
      </source>
      <target dev='vda' bus='virtio'/>
    </disk>""")
    (nfs,) = [n for n in _blockdevs(xml) if n.get("driver") == "nfs"]
    assert (nfs["user"], nfs["group"]) == (6234, 12354)


def test_encrypted_backing_image_gets_its_secret() -> None:
    xml = _domain("""
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/img/top.qcow2'>
        <encryption format='luks'><secret type='passphrase' uuid='0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f'/></encryption>
      </source>
      <backingStore type='file'>
        <format type='qcow2'/>
        <source file='/img/base.qcow2'>
          <encryption format='luks'><secret type='passphrase' uuid='0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f'/></encryption>
        </source>
        <backingStore/>
      </backingStore>
      <target dev='vda' bus='virtio'/>
    </disk>""")
    args = _args(xml)
    secrets = [json.loads(v or "{}")["id"] for o, v in args if o == "-object" and "encryption-secret" in (v or "")]
    assert secrets == ["libvirt-2-format-encryption-secret0", "libvirt-1-format-encryption-secret0"]
    base = next(n for n in _blockdevs(xml) if n["node-name"] == "libvirt-2-format")
    assert base["encrypt"] == {"format": "luks", "key-secret": "libvirt-2-format-encryption-secret0"}


def test_harness_opens_vhost_net_for_every_virtio_tap() -> None:
    """libvirt's test harness gives a virtio tap NIC vhost-net even in a TCG guest."""
    xml = _domain("""
    <interface type='ethernet'><mac address='52:54:00:e5:48:58'/><model type='virtio'/></interface>
    <interface type='ethernet'><mac address='52:54:00:e5:48:59'/><model type='e1000'/></interface>""")
    taps = [json.loads(v or "{}") for o, v in _args(xml) if o == "-netdev"]
    assert [(t.get("vhost"), "vhostfd" in t) for t in taps] == [(True, True), (None, False)]


def test_qcow2_metadata_cache_size() -> None:
    xml = _domain("""
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'><metadata_cache><max_size>12345</max_size></metadata_cache></driver>
      <source file='/img/top.qcow2'/>
      <backingStore type='file'>
        <format type='qcow2'><metadata_cache><max_size unit='KiB'>1024</max_size></metadata_cache></format>
        <source file='/img/base.qcow2'/>
        <backingStore/>
      </backingStore>
      <target dev='vda' bus='virtio'/>
    </disk>""")
    sizes = {n["node-name"]: n.get("cache-size") for n in _blockdevs(xml) if n["node-name"].endswith("-format")}
    assert sizes == {"libvirt-2-format": 1048576, "libvirt-1-format": 12345}


def test_persistent_reservations_helpers() -> None:
    """The managed pr-helper listens in the domain's private directory; an unmanaged one is an
    object of its own, named after the storage node, right before that node."""
    xml = _domain("""
    <disk type='block' device='lun'>
      <driver name='qemu' type='raw'/>
      <source dev='/dev/sda'><reservations managed='yes'/></source>
      <target dev='sda' bus='scsi'/>
    </disk>
    <disk type='block' device='lun'>
      <driver name='qemu' type='raw'/>
      <source dev='/dev/sdb'>
        <reservations managed='no'><source type='unix' path='/run/pr.sock' mode='client'/></reservations>
      </source>
      <target dev='sdb' bus='scsi'/>
    </disk>
    <controller type='scsi' index='0' model='virtio-scsi'/>""")
    args = _args(xml)
    objs = [json.loads(v or "{}") for o, v in args if o == "-object" and "pr-manager-helper" in (v or "")]
    assert objs == [
        {"qom-type": "pr-manager-helper", "id": "pr-helper0", "path": "/tmp/lib/domain--1-guest/pr-helper0.sock"},
        {"qom-type": "pr-manager-helper", "id": "pr-helper-libvirt-1-storage", "path": "/run/pr.sock"}]
    nodes = {n["node-name"]: n for n in _blockdevs(xml)}
    assert nodes["libvirt-2-storage"]["pr-manager"] == "pr-helper0"
    assert nodes["libvirt-1-storage"]["pr-manager"] == "pr-helper-libvirt-1-storage"
    i = args.index(("-object", json.dumps(objs[1], separators=(",", ":"))))
    assert args[i + 1][0] == "-blockdev" and '"libvirt-1-storage"' in (args[i + 1][1] or "")


def test_rbd_snapshot_and_config() -> None:
    xml = _domain("""
    <disk type='network' device='disk'>
      <driver name='qemu' type='raw'/>
      <source protocol='rbd' name='pool/image'><snapshot name='foo'/><config file='/blah/test.conf'/></source>
      <target dev='vda' bus='virtio'/>
    </disk>""")
    (rbd,) = [n for n in _blockdevs(xml) if n.get("driver") == "rbd"]
    assert (rbd["pool"], rbd["image"], rbd["snapshot"], rbd["conf"]) == ("pool", "image", "foo", "/blah/test.conf")


def test_expander_bus_number_counts_down() -> None:
    """An expander bus without busNr gets two below the lowest one in use (from 254)."""
    xml = _domain("""
    <controller type='pci' index='0' model='pci-root'/>
    <controller type='pci' index='1' model='pci-expander-bus'><target busNr='254'/></controller>
    <controller type='pci' index='2' model='pci-expander-bus'/>
    <controller type='pci' index='3' model='pci-expander-bus'/>""")
    assert [d["bus_nr"] for d in _devices(xml, "pxb")] == [254, 252, 250]


REJECTED = {
    "lun-on-file": """<disk type='file' device='lun'><source file='/tmp/x.img'/><target dev='sda' bus='scsi'/></disk>""",
    "fdc-bus": """<disk type='file' device='floppy'><source file='/tmp/f.img'/><target dev='fda' bus='fdc'/>
      <address type='drive' controller='0' bus='1' target='0' unit='0'/></disk>""",
    "ide-target": """<disk type='file' device='disk'><source file='/tmp/i.img'/><target dev='hda' bus='ide'/>
      <address type='drive' controller='0' bus='0' target='1' unit='0'/></disk>""",
    "scsi-bus": """<disk type='file' device='disk'><source file='/tmp/s.img'/><target dev='sda' bus='scsi'/>
      <address type='drive' controller='0' bus='1' target='0' unit='0'/></disk>""",
    "disk-hostdev-scsi-conflict": """
      <disk type='file' device='disk'><source file='/tmp/a.img'/><target dev='sda' bus='scsi'/>
        <address type='drive' controller='0' bus='0' target='0' unit='0'/></disk>
      <hostdev mode='subsystem' type='scsi'>
        <source><adapter name='scsi_host0'/><address bus='0' target='0' unit='0'/></source>
        <address type='drive' controller='0' bus='0' target='0' unit='0'/></hostdev>
      <controller type='scsi' index='0' model='virtio-scsi'/>""",
    "intel-iommu-on-i440fx": "<iommu model='intel'/>",
    "vendor-too-long": """<disk type='file' device='disk'><source file='/tmp/a.img'/><target dev='sda' bus='scsi'/>
      <vendor>NINECHARS</vendor></disk>""",
    "product-too-long": """<disk type='file' device='disk'><source file='/tmp/a.img'/><target dev='sda' bus='scsi'/>
      <product>SEVENTEEN_CHARS_X</product></disk>""",
    "rx-queue-not-power-of-two": """<interface type='user'><mac address='52:54:00:e5:48:58'/><model type='virtio'/>
      <driver rx_queue_size='511'/></interface>""",
    "usb-none-and-another": """<controller type='usb' index='0' model='none'/>
      <controller type='usb' index='1' model='piix3-uhci'/>""",
    "usb-none-with-hub": """<controller type='usb' index='0' model='none'/><hub type='usb'/>""",
    "qemu-xhci-16-ports": """<controller type='usb' index='0' model='qemu-xhci' ports='16'/>""",
    "two-primary-videos": """<video><model type='virtio' primary='yes'/></video>
      <video><model type='qxl' primary='yes'/></video>""",
    "two-watchdogs": """<watchdog model='i6300esb'/><watchdog model='ib700'/>""",
    "tpm-crb-1.2": """<tpm model='tpm-crb'><backend type='emulator' version='1.2'/></tpm>""",
    "plain-shmem-with-server": """<shmem name='s'><model type='ivshmem-plain'/><server path='/tmp/s'/></shmem>""",
    "doorbell-without-server": """<shmem name='s'><model type='ivshmem-doorbell'/></shmem>""",
    "doorbell-with-size": """<shmem name='s'><model type='ivshmem-doorbell'/><size unit='M'>4</size>
      <server path='/tmp/s'/></shmem>""",
    "vendor-on-virtio-disk": """<disk type='file' device='disk'><source file='/tmp/a.img'/><target dev='vda' bus='virtio'/>
      <vendor>ABC</vendor></disk>""",
    "boot-order-twice": """<disk type='file' device='disk'><source file='/tmp/a.img'/><target dev='vda' bus='virtio'/>
      <boot order='1'/></disk>
      <disk type='file' device='disk'><source file='/tmp/b.img'/><target dev='vdb' bus='virtio'/>
      <boot order='1'/></disk>""",
    "virtio-serial-port-twice": """<channel type='pty'><target type='virtio' name='a'/>
      <address type='virtio-serial' controller='0' bus='0' port='1'/></channel>
      <channel type='pty'><target type='virtio' name='b'/>
      <address type='virtio-serial' controller='0' bus='0' port='1'/></channel>""",
    "multicast-mac": """<interface type='user'><mac address='01:11:22:33:44:55'/></interface>""",
    "scsi-hostdevs-on-one-address": """<controller type='scsi' index='0' model='virtio-scsi'/>
      <hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/><address bus='0' target='0' unit='0'/>
        </source><address type='drive' controller='0' bus='0' target='0' unit='1'/></hostdev>
      <hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/><address bus='0' target='0' unit='1'/>
        </source><address type='drive' controller='0' bus='0' target='0' unit='1'/></hostdev>""",
    "reconnect-without-timeout": """<serial type='tcp'><source mode='connect' host='127.0.0.1' service='9999'>
      <reconnect enabled='yes'/></source><target port='0'/></serial>""",
    "reconnect-of-a-server": """<serial type='tcp'><source mode='bind' host='127.0.0.1' service='9999'>
      <reconnect enabled='yes' timeout='5'/></source><target port='0'/></serial>""",
    "tcp-without-host": """<serial type='tcp'><source mode='connect' service='9999'/><target port='0'/></serial>""",
    "tcp-without-service": """<serial type='tcp'><source mode='connect' host='127.0.0.1'/><target port='0'/></serial>""",
    "file-without-path": """<serial type='file'><target port='0'/></serial>""",
    "dev-without-path": """<serial type='dev'><source/><target port='0'/></serial>""",
    "udp-without-service": """<serial type='udp'><source mode='connect' host='127.0.0.1'/><target port='0'/></serial>""",
    "spiceport-without-channel": """<serial type='spiceport'><target port='0'/></serial>""",
    "cdrom-on-virtio": """<disk type='file' device='cdrom'><source file='/tmp/a.iso'/><target dev='vda' bus='virtio'/></disk>""",
    "floppy-on-virtio": """<disk type='file' device='floppy'><source file='/tmp/a.img'/><target dev='vda' bus='virtio'/></disk>""",
    "disk-on-fdc": """<disk type='file' device='disk'><source file='/tmp/a.img'/><target dev='fda' bus='fdc'/></disk>""",
    "lun-on-ide": """<disk type='block' device='lun'><source dev='/dev/sdz'/><target dev='hda' bus='ide'/></disk>""",
}


def _numa_domain(cells: str, devices: str = "", hotplug: bool = False) -> str:
    maxmem = "<maxMemory slots='16' unit='KiB'>1099511627776</maxMemory>" if hotplug else ""
    return f"""<domain type='qemu'><name>guest</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
  {maxmem}<memory unit='KiB'>1048576</memory><vcpu placement='static'>2</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>{f"<cpu><numa>{cells}</numa></cpu>" if cells else ""}
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator><memballoon model='none'/>{devices}</devices></domain>"""


_DIMM = "<memory model='dimm'><target><size unit='KiB'>524288</size><node>{}</node></target></memory>"


@pytest.mark.parametrize("xml", [
    _numa_domain("", _DIMM.format(0), hotplug=True),
    _numa_domain("<cell id='0' cpus='0-1' memory='524288' unit='KiB'/>", _DIMM.format(3), hotplug=True),
    _numa_domain("<cell id='0' cpus='0-1' memory='524288' unit='KiB'/><cell id='1' cpus='1' memory='524288' unit='KiB'/>"),
    _numa_domain("<cell id='0' cpus='0-1' memory='524288' unit='KiB'/>", _DIMM.format(0)),
    _numa_domain("<cell id='0' cpus='0-1' memory='524288' unit='KiB'/>", _DIMM.format(0) * 17, hotplug=True),
    _numa_domain("<cell id='0' cpus='0-1' memory='524288' unit='KiB'/>", _DIMM.format(0) * 3,
                 hotplug=True).replace("1099511627776", "1048576"),
], ids=["hotplug-without-numa", "dimm-on-missing-node", "overlapping-cell-cpus", "dimm-without-maxmemory",
        "more-dimms-than-slots", "dimms-beyond-maxmemory"])
def test_numa_and_hotplug_misconfigurations_are_rejected(xml: str) -> None:
    from virt.util.errors import VirtError

    with pytest.raises(VirtError):
        to_native(xml, qemu_caps=str(CAPS), private_dir="/tmp/lib/domain--1-guest")


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_invalid_configurations_are_rejected(name: str) -> None:
    from virt.util.errors import VirtError

    with pytest.raises(VirtError):
        to_native(_domain(REJECTED[name]), qemu_caps=str(CAPS), private_dir="/tmp/lib/domain--1-guest")


def test_valid_neighbours_of_the_rejected_ones_are_accepted() -> None:
    """A LUN on a block device, 8/16-character vendor/product and a SCSI hostdev on a free unit pass."""
    xml = _domain("""
    <disk type='block' device='lun'><source dev='/dev/sdz'/><target dev='sda' bus='scsi'/>
      <address type='drive' controller='0' bus='0' target='0' unit='0'/></disk>
    <disk type='file' device='disk'><source file='/tmp/a.img'/><target dev='sdb' bus='scsi'/>
      <vendor>EIGHTCHR</vendor><product>SIXTEEN_CHARS_XX</product></disk>
    <hostdev mode='subsystem' type='scsi'>
      <source><adapter name='scsi_host0'/><address bus='0' target='0' unit='0'/></source>
      <address type='drive' controller='0' bus='0' target='0' unit='5'/></hostdev>
    <controller type='scsi' index='0' model='virtio-scsi'/>""")
    assert _devices(xml, "scsi-block") and _devices(xml, "scsi-generic")


def _fw_domain(os_attrs: str, os_children: str, machine: str = "q35") -> str:
    return f"""<domain type='kvm'><name>guest</name><uuid>63840878-0deb-4095-97e6-fc444d9bc9fa</uuid>
  <memory unit='KiB'>1048576</memory><vcpu placement='static'>1</vcpu>
  <os {os_attrs}><type arch='x86_64' machine='{machine}'>hvm</type>{os_children}</os>
  <features><acpi/></features>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator><controller type='usb' model='none'/>
    <memballoon model='none'/></devices></domain>"""


@pytest.mark.parametrize("xml", [
    _fw_domain("firmware='bios'", "<loader stateless='no'/>", "pc"),
    _fw_domain("", "<loader type='rom' stateless='no'>/usr/share/seabios/bios.bin</loader>", "pc"),
    _fw_domain("", "<loader readonly='yes' type='pflash' stateless='yes'>/usr/share/OVMF/OVMF_CODE.fd</loader>"
               "<nvram template='/usr/share/OVMF/OVMF_VARS.fd'/>"),
    _fw_domain("", "<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader>"
               "<firmware><feature enabled='yes' name='secure-boot'/></firmware>"),
], ids=["auto-bios-stateful", "manual-rom-stateful", "stateless-with-template", "features-without-autoselection"])
def test_loader_and_nvram_combinations_libvirt_refuses(xml: str) -> None:
    from virt.util.errors import VirtError

    with pytest.raises(VirtError):
        to_native(xml, qemu_caps=str(CAPS), private_dir="/tmp/lib/domain--1-guest")


def _cpu_domain(pre: str, cpu: str = "", devices: str = "") -> str:
    return f"""<domain type='qemu'><name>guest</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
  <memory unit='KiB'>1048576</memory>{pre}<os><type arch='x86_64' machine='pc'>hvm</type></os>{cpu}
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator><memballoon model='none'/>{devices}</devices></domain>"""


_RAW = "<source file='/tmp/a.img'/>"


@pytest.mark.parametrize("xml", [
    _cpu_domain("<vcpu>1</vcpu><iothreads>1</iothreads>", devices=f"""<disk type='file' device='disk'>
      <driver name='qemu' type='raw' iothread='5'/>{_RAW}<target dev='vda' bus='virtio'/></disk>"""),
    _cpu_domain("<vcpu>1</vcpu><iothreads>1</iothreads>", devices=f"""<disk type='file' device='disk'>
      <driver name='qemu' type='raw' iothread='1'/>{_RAW}<target dev='hda' bus='ide'/></disk>"""),
    _cpu_domain("<vcpu>1</vcpu>", devices=f"""<disk type='file' device='disk'>
      <driver name='qemu' type='raw' queues='4'/>{_RAW}<target dev='hda' bus='ide'/></disk>"""),
    _cpu_domain("<vcpu>1</vcpu><iothreads>1</iothreads>",
                devices="<controller type='scsi' index='0' model='virtio-scsi'><driver iothread='5'/></controller>"),
    _cpu_domain("<vcpu>1</vcpu><iothreads>2</iothreads><iothreadids><iothread id='1'/><iothread id='1'/></iothreadids>"),
    _cpu_domain("<vcpu>4</vcpu>", "<cpu><topology sockets='1' cores='2' threads='1'/></cpu>"),
    _cpu_domain("<vcpu current='8'>4</vcpu>"),
], ids=["disk-iothread-undefined", "iothread-on-ide", "queues-on-ide", "scsi-iothread-undefined",
        "iothread-id-twice", "topology-not-vcpus", "current-above-maximum"])
def test_cpu_and_iothread_misconfigurations_are_rejected(xml: str) -> None:
    from virt.util.errors import VirtError

    with pytest.raises(VirtError):
        to_native(xml, qemu_caps=str(CAPS), private_dir="/tmp/lib/domain--1-guest")


def test_iothreads_named_by_devices_exist() -> None:
    """Explicit ids and the ones <iothreads> adds (lowest free) are both valid for disks."""
    xml = _cpu_domain("<vcpu>1</vcpu><iothreads>2</iothreads><iothreadids><iothread id='7'/></iothreadids>",
                      devices=f"""<disk type='file' device='disk'><driver name='qemu' type='raw' iothread='1'/>
      {_RAW}<target dev='vda' bus='virtio'/></disk>
      <disk type='file' device='disk'><driver name='qemu' type='raw' iothread='7'/>
      <source file='/tmp/b.img'/><target dev='vdb' bus='virtio'/></disk>""")
    assert [d["iothread"] for d in _devices(xml, "virtio-blk-pci")] == ["iothread1", "iothread7"]


def test_chardev_source_messages() -> None:
    """virDomainChrSourceDefValidate's wording for each missing attribute."""
    from virt.util.errors import VirtError

    for devices, what in [("<serial type='tcp'><source mode='connect' service='9'/></serial>", "host"),
                          ("<serial type='file'/>", "path"),
                          ("<serial type='spiceport'/>", "channel")]:
        with pytest.raises(VirtError, match=f"Missing source {what} attribute for char device"):
            to_native(_domain(devices), qemu_caps=str(CAPS), private_dir="/tmp/lib/domain--1-guest")


@pytest.mark.parametrize(("devices", "machine"), [
    ("<controller type='pci' index='1' model='pci-root'/>", "pc"),
    ("<controller type='pci' index='1' model='pci-expander-bus'><target busNr='254'/></controller>", "q35"),
    ("<controller type='pci' index='1' model='pcie-expander-bus'><target busNr='254'/></controller>", "pc"),
    ("<controller type='pci' index='1' model='pci-expander-bus'><target busNr='254'><node>1</node></target>"
     "</controller>", "pc"),
], ids=["second-pci-root", "pxb-on-q35", "pxb-pcie-on-i440fx", "pxb-on-a-missing-numa-node"])
def test_pci_controller_misconfigurations_are_rejected(devices: str, machine: str) -> None:
    from virt.util.errors import VirtError

    with pytest.raises(VirtError):
        to_native(_domain(devices, machine=machine), qemu_caps=str(CAPS), private_dir="/tmp/lib/domain--1-guest")
