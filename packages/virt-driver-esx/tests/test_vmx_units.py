"""The VMX converter's parts and rules: escapes, disk names, datastore paths, errors, round trips."""

from __future__ import annotations

import pytest
from esx_helpers import canonical_xml
from hypothesis import given, settings
from hypothesis import strategies as st
from virt.driver.esx.vmx import from_native, to_native
from virt.driver.esx.vmx.context import OfflineDatastores, split_datastore_path
from virt.driver.esx.vmx.domain import (
    ControllerDef,
    DomainDef,
    add_controller,
    disk_name_to_index,
    index_to_disk_name,
)
from virt.driver.esx.vmx.names import escape_hex, unescape_hex
from virt.util.errors import ConfigUnsupportedError, InternalError, VirtError

HEAD = 'config.version = "8"\nvirtualHW.version = "4"\n'


# ---------------------------------------------------------------------------------------------- pieces

@given(st.text())
def test_hex_escapes_round_trip(text: str) -> None:
    for escape, specials in (("|", '"'), ("%", "/\\")):
        escaped = escape_hex(text, escape, specials)
        assert not any(ch in escaped for ch in specials)
        assert unescape_hex(escaped, escape) == text


def test_hex_escape_values() -> None:
    assert escape_hex('a"b|c', "|", '"') == "a|22b|7Cc".replace("7C", "7c")
    assert unescape_hex("|45|73caped|21", "|") == "Escaped!"
    with pytest.raises(ValueError):
        unescape_hex("bad|4", "|")


@given(st.integers(min_value=0, max_value=26 ** 3))
def test_disk_names_round_trip(index: int) -> None:
    assert disk_name_to_index(index_to_disk_name(index, "sd")) == index


def test_disk_names() -> None:
    assert [index_to_disk_name(i, "hd") for i in (0, 25, 26, 701, 702)] == ["hda", "hdz", "hdaa", "hdzz", "hdaaa"]
    assert disk_name_to_index("sda1") == 0
    assert disk_name_to_index("sd") == -1 and disk_name_to_index("nvme0") == -1 and disk_name_to_index("sdA") == -1


def test_offline_datastores() -> None:
    stores = OfflineDatastores()
    assert stores.parse_file_name("/vmfs/volumes/ds1/dir/a.vmdk", False) == "[ds1] dir/a.vmdk"
    assert stores.parse_file_name("a.vmdk", False) == "[datastore] directory/a.vmdk"
    assert stores.parse_file_name("/data/a.vmdk", False) == "/data/a.vmdk"
    assert stores.parse_file_name("/vmfs/volumes/missing/a.iso", True) is None
    assert stores.parse_file_name("/vmfs/volumes/ds/missing-a.iso", True) is None
    with pytest.raises(InternalError, match="Referenced missing file"):
        stores.parse_file_name("/vmfs/volumes/missing/a.vmdk", False)
    with pytest.raises(InternalError, match="relative"):
        stores.parse_file_name("dir/a.vmdk", False)
    assert stores.format_file_name("[ds1] dir/a.vmdk") == "/vmfs/volumes/ds1/dir/a.vmdk"
    assert stores.format_file_name("[ds1]") == "/vmfs/volumes/ds1/"
    assert split_datastore_path("[a b]   c/d e") == ("a b", "c/d e")
    for bad in ("[] x", "[x", "x"):
        with pytest.raises(InternalError):
            split_datastore_path(bad)


def test_controller_insertion_order() -> None:
    dom = DomainDef()
    for type_, index in (("scsi", 1), ("ide", 0), ("scsi", 0), ("fdc", 0), ("scsi", 3), ("ide", 1)):
        add_controller(dom, ControllerDef(type_, index))
    assert [(c.type, c.index) for c in dom.controllers] == [("scsi", 0), ("scsi", 1), ("scsi", 3), ("ide", 0),
                                                            ("ide", 1), ("fdc", 0)]


# ---------------------------------------------------------------------------------------------- VMX -> XML

@pytest.mark.parametrize("body, message", [
    ('config.version = "7"\nvirtualHW.version = "4"\n', "'config.version' to be 8 but found 7"),
    ('virtualHW.version = "4"\n', "Missing essential config entry 'config.version'"),
    ('config.version = "8"\nvirtualHW.version = "3"\n', "'virtualHW.version' to be 4 or higher"),
    (HEAD + 'memsize = "30"\n', "multiple of 4) but found 30"),
    (HEAD + 'memsize = "lots"\n', "'memsize' must represent an integer value"),
    (HEAD + 'numvcpus = "0"\n', "greater than 0 but found 0"),
    (HEAD + 'numvcpus = "4"\nsched.cpu.affinity = "0,1"\n', "at least as many values as 'numvcpus' (4)"),
    (HEAD + 'sched.cpu.affinity = "0,x"\n', "comma separated list of unsigned integers"),
    (HEAD + 'sched.cpu.shares = "some"\n', "'low', 'normal' or 'high' but found 'some'"),
    (HEAD + 'uuid.bios = "56 4d"\n', "Could not parse UUID from string '56 4d'"),
    (HEAD + 'scsi0.present = "maybe"\n', "must represent a boolean value"),
    (HEAD + 'scsi0.present = "true"\nscsi0.virtualDev = "megaraid"\n', "but found 'megaraid'"),
    (HEAD + 'ethernetX.present = "true"\n', "failed to parse the index of the VMX key 'ethernetX.present'"),
    (HEAD + 'ethernet0.present = "true"\nethernet0.connectionType = "hostonly"\n', "No yet handled value"),
    (HEAD + 'ethernet0.present = "true"\nethernet0.connectionType = "custom"\n'
            'ethernet0.networkName = "n"\n', "Missing essential config entry 'ethernet0.vnet'"),
    (HEAD + 'ethernet0.present = "true"\nethernet0.addressType = "odd"\n', "'generated' or 'static' or 'vpx'"),
    (HEAD + 'ethernet0.present = "true"\nethernet0.generatedAddress = "00:zz"\n', "to be MAC address"),
    (HEAD + 'ethernet0.present = "true"\nethernet0.virtualDev = "rtl8139"\n', "but found 'rtl8139'"),
    (HEAD + 'ide0:0.present = "true"\nide0:0.deviceType = "scsi-hardDisk"\nide0:0.fileName = "a.vmdk"\n',
     "to be 'ata-hardDisk' or 'disk'"),
    (HEAD + 'ide0:0.present = "true"\nide0:0.fileName = "a.img"\n', "Invalid or not yet handled value 'a.img'"),
    (HEAD + 'serial0.present = "true"\nserial0.fileType = "network"\nserial0.fileName = "tcp://h"\n',
     "doesn't contain a port part"),
    (HEAD + 'serial0.present = "true"\nserial0.fileType = "network"\nserial0.fileName = "gopher://h:1"\n',
     "unsupported scheme 'gopher'"),
    (HEAD + 'parallel0.present = "true"\nparallel0.fileName = "/dev/lp0"\n',
     "Missing essential config entry 'parallel0.fileType'"),
    (HEAD + 'firmware = "bios"\n', "'firmware' has unknown value 'bios'"),
    (HEAD + 'displayName = "a%zz"\n', "VMX entry 'name' contains invalid escape sequence"),
    (HEAD + 'numvcpus = 4\n', "numbers not allowed in VMX format"),
    (HEAD + '.encoding = "no-such-charset"\n', "doesn't handle no-such-charset encoding"),
])
def test_vmx_errors(body: str, message: str) -> None:
    with pytest.raises(VirtError) as err:
        from_native(body)
    assert message in str(err.value)


def test_devices_skipped_as_libvirt_skips_them() -> None:
    """Absent, client-side and not-present devices are ignored without reading their other entries."""
    xml = from_native(HEAD + 'scsi0.present = "true"\nscsi0:0.present = "false"\nscsi0:0.writeThrough = "x"\n'
                      'ide0:0.present = "true"\nide0:0.clientDevice = "true"\nide0:0.deviceType = "cdrom-raw"\n'
                      'ethernet1.present = "false"\nethernet1.addressType = "odd"\n')
    assert "<disk" not in xml and "<interface" not in xml and "<controller" not in xml


def test_encoding_other_than_utf8() -> None:
    raw = (HEAD + '.encoding = "windows-1252"\ndisplayName = "caf\xe9"\n').encode("cp1252")
    xml = from_native(raw.decode("utf-8", "surrogateescape"))
    assert "<name>café</name>" in xml


def test_memory_cpu_and_scheduling() -> None:
    xml = from_native(HEAD + 'memsize = "1024"\nsched.mem.max = "unlimited"\nsched.mem.minsize = "2048"\n'
                      'numvcpus = "4"\ncpuid.coresPerSocket = "2"\nsched.cpu.shares = "high"\n'
                      'sched.cpu.affinity = "all"\nsmbios.reflecthost = "TRUE"\nguestOS = "winxp"\n')
    tree = canonical_xml(xml)
    children = {c[0]: c for c in tree[3]}
    assert children["currentMemory"][2] == "1048576"
    assert children["memtune"][3] == [("min_guarantee", {"unit": "KiB"}, "1048576", [])]
    assert children["vcpu"] == ("vcpu", {"placement": "static"}, "4", [])
    assert children["cputune"][3] == [("shares", {}, "8000", [])]
    assert children["cpu"][3] == [("topology", {"sockets": "2", "dies": "1", "cores": "2", "threads": "1"}, "", [])]
    assert ("smbios", {"mode": "host"}, "", []) in children["os"][3]


def test_genid_from_two_signed_halves() -> None:
    xml = from_native(HEAD + 'vm.genid = "-1"\nvm.genidX = "1"\n')
    assert "<genid>ffffffff-ffff-ffff-0000-000000000001</genid>" in xml


def test_scsi_disks_name_and_address() -> None:
    """Unit 7 is the controller's: scsi0:8 is the 8th disk (sdh), scsi1:0 the 16th (sdp)."""
    xml = from_native(HEAD + 'scsi0.present = "true"\nscsi0:8.present = "true"\nscsi0:8.fileName = "a.vmdk"\n'
                      'scsi1.present = "true"\nscsi1:0.present = "true"\nscsi1:0.fileName = "b.vmdk"\n'
                      'scsi1.virtualDev = "pvscsi"\n')
    assert "<target dev='sdh' bus='scsi'/>" in xml and "controller='0' bus='0' target='0' unit='8'" in xml
    assert "<target dev='sdp' bus='scsi'/>" in xml and "controller='1' bus='0' target='0' unit='0'" in xml
    assert "<controller type='scsi' index='0'/>" in xml
    assert "<controller type='scsi' index='1' model='vmpvscsi'/>" in xml


# ---------------------------------------------------------------------------------------------- XML -> VMX

DOMAIN = "<domain type='vmware'><name>g</name><memory>4096</memory><os><type{arch}>hvm</type></os>" \
         "<devices>{devices}</devices></domain>"


@pytest.mark.parametrize("arch, devices, error, message", [
    (" arch='ppc64'", "", InternalError, "to be 'i686' or 'x86_64' but found 'ppc64'"),
    ("", "<graphics type='spice'/>", ConfigUnsupportedError, "Unsupported graphics type 'spice'"),
    ("", ("<disk type='file' device='disk'><source file='/a.vmdk'/><target dev='sdb' bus='scsi'/>"
         "<address type='drive' controller='0' bus='0' target='0' unit='0'/></disk>"), InternalError,
     "Disk address 0:0:0 doesn't match target device 'sdb'"),
    ("", "<disk type='file' device='disk'><source file='/a.vmdk'/><target dev='sdbi' bus='scsi'/></disk>",
     InternalError, "SCSI controller index 4 out of [0..3] range"),
    ("", "<disk type='file' device='disk'><source file='/a.qcow2'/><target dev='hda' bus='ide'/></disk>",
     InternalError, "unsupported suffix, expecting '.vmdk'"),
    ("", "<disk type='file' device='disk'><source file='/a.vmdk'/><target dev='vda' bus='virtio'/></disk>",
     VirtError, "virtio"),
    ("", "<disk type='network' device='disk'><target dev='hda' bus='ide'/></disk>", ConfigUnsupportedError,
     "has unsupported type 'network'"),
    ("", ("<disk type='file' device='disk'><driver cache='none'/><source file='/a.vmdk'/>"
         "<target dev='sda' bus='scsi'/></disk>"), ConfigUnsupportedError, "unsupported cache mode 'none'"),
    ("", ("<disk type='file' device='disk'><source file='/a.vmdk'/><target dev='sda' bus='scsi'/></disk>"
         "<controller type='scsi' index='0' model='virtio-scsi'/>"), InternalError, "but found 'virtio-scsi'"),
    ("", ("<disk type='file' device='disk'><driver name='buslogic'/><source file='/a.vmdk'/>"
         "<target dev='sda' bus='scsi'/></disk><controller type='scsi' index='0' model='lsilogic'/>"),
     InternalError, "Inconsistent SCSI controller model ('buslogic' is not 'lsilogic')"),
    ("", "<interface type='network'><source network='default'/></interface>", ConfigUnsupportedError,
     "Unsupported net type 'network'"),
    ("", "<interface type='user'><model type='virtio'/></interface>", InternalError, "but found 'virtio'"),
    ("", "<serial type='pty'><target port='0'/></serial>", ConfigUnsupportedError,
     "Unsupported character device type 'pty'"),
    ("", "<serial type='dev'><source path='/dev/ttyS0'/><target port='4'/></serial>", InternalError,
     "Serial port index 4 out of [0..3] range"),
    ("", "<video><model type='cirrus'/></video>", ConfigUnsupportedError, "Unsupported video device type"),
    ("", "<video><model type='vmvga'/></video><video><model type='vmvga'/></video>", InternalError,
     "No support for multiple video devices"),
    ("", "<filesystem type='block'><source dev='/dev/sda'/><target dir='x'/></filesystem>",
     ConfigUnsupportedError, "Only 'mount' filesystem type is supported"),
])
def test_xml_errors(arch: str, devices: str, error: type[VirtError], message: str) -> None:
    with pytest.raises(error) as err:
        to_native(DOMAIN.format(arch=arch, devices=devices))
    assert message in str(err.value)


def test_xml_cpu_rules() -> None:
    base = ("<domain type='vmware'><name>g</name><memory>4096</memory><vcpu{cur}>4</vcpu>{cpu}"
            "<os><type>hvm</type></os></domain>")
    with pytest.raises(ConfigUnsupportedError, match="attribute 'current'"):
        to_native(base.format(cur=" current='2'", cpu=""))
    with pytest.raises(ConfigUnsupportedError, match="Only 1 thread per core"):
        to_native(base.format(cur="", cpu="<cpu><topology sockets='1' cores='2' threads='2'/></cpu>"))
    with pytest.raises(InternalError, match="sockets per core as 4 but found 2"):
        to_native(base.format(cur="", cpu="<cpu><topology sockets='1' dies='1' cores='2' threads='1'/></cpu>"))
    vmx = to_native(base.format(cur="", cpu="<cpu><topology sockets='2' dies='1' cores='2' threads='1'/></cpu>"))
    assert 'cpuid.coresPerSocket = "2"' in vmx


def test_xml_mac_address_ranges() -> None:
    """VMware's ranges decide the address type of MACs the XML does not type."""
    def eth(mac: str, extra: str = "") -> list[str]:
        vmx = to_native(DOMAIN.format(arch="", devices=f"<interface type='bridge'><mac address='{mac}'{extra}/>"
                                                        "<source bridge='VM Network'/></interface>"))
        return [line for line in vmx.splitlines() if "ddress" in line]

    assert eth("00:0c:29:01:02:03") == ['ethernet0.addressType = "generated"',
                                        'ethernet0.generatedAddress = "00:0c:29:01:02:03"',
                                        'ethernet0.generatedAddressOffset = "0"']
    assert eth("00:50:56:01:02:03") == ['ethernet0.addressType = "static"', 'ethernet0.address = "00:50:56:01:02:03"']
    assert eth("00:50:56:81:02:03") == ['ethernet0.addressType = "vpx"',
                                        'ethernet0.generatedAddress = "00:50:56:81:02:03"']
    assert eth("52:54:00:01:02:03") == ['ethernet0.addressType = "static"', 'ethernet0.address = "52:54:00:01:02:03"',
                                        'ethernet0.checkMACAddress = "false"']
    assert eth("52:54:00:01:02:03", " type='generated'") == [
        'ethernet0.addressType = "generated"', 'ethernet0.generatedAddress = "52:54:00:01:02:03"',
        'ethernet0.generatedAddressOffset = "0"']
    assert eth("00:0c:29:01:02:03", " check='yes'")[-1] == 'ethernet0.checkMACAddress = "true"'


def test_interface_without_mac_gets_a_generated_vmware_one() -> None:
    vmx = to_native(DOMAIN.format(arch="", devices="<interface type='bridge'><source bridge='n'/></interface>"))
    lines = dict(line.split(" = ", 1) for line in vmx.splitlines())
    assert lines["ethernet0.addressType"] == '"generated"'
    assert lines["ethernet0.generatedAddress"].startswith('"00:0c:29:')


def test_nic_limit_depends_on_hardware_version() -> None:
    nics = "".join(f"<interface type='user'><mac address='00:0c:29:00:00:{i:02x}'/></interface>" for i in range(5))
    with pytest.raises(InternalError, match=r"Ethernet controller index 4 out of \[0..3\] range"):
        to_native(DOMAIN.format(arch="", devices=nics))
    assert "ethernet4.present" in to_native(DOMAIN.format(arch="", devices=nics), virtualHW_version=7)


# ---------------------------------------------------------------------------------------------- round trips

_disk = st.one_of(
    st.builds(lambda i, wt: ("scsi", "sd", i, (f"<disk type='file' device='disk'>{wt}<source file='[ds] d/{i}.vmdk'/>"
                                          f"<target dev='{{dst}}' bus='scsi'/></disk>")),
              st.integers(0, 59), st.sampled_from(["", "<driver cache='writethrough'/>"])),
    st.builds(lambda i, src: ("ide", "hd", i, (f"<disk type='file' device='cdrom'>{src}<target dev='{{dst}}' "
                                              "bus='ide'/><readonly/></disk>")),
              st.integers(0, 3), st.sampled_from(["", "<source file='/iso/x.iso'/>"])),
    st.builds(lambda i: ("fdc", "fd", i, ("<disk type='block' device='floppy'><source dev='/dev/fd0'/>"
                                         "<target dev='{dst}' bus='fdc'/></disk>")), st.integers(0, 1)),
)
_net = st.builds(
    lambda mac, model, kind: (f"<interface type='{kind[0]}'><mac address='{mac}'/>{kind[1]}"
                              + (f"<model type='{model}'/>" if model else "") + "</interface>"),
    st.tuples(*[st.integers(0, 255)] * 6).map(lambda b: ":".join(f"{x & 0xFE if i == 0 else x:02x}"
                                                                for i, x in enumerate(b))),
    st.sampled_from([None, "vlance", "vmxnet", "vmxnet2", "vmxnet3", "e1000", "e1000e"]),
    st.sampled_from([("bridge", "<source bridge='VM Network'/>"), ("user", ""),
                     ("bridge", "<source bridge='n'/><target dev='/dev/vmnet1'/>")]),
)
_serial = st.sampled_from([
    "<serial type='dev'><source path='/dev/ttyS0'/><target port='{port}'/></serial>",
    "<serial type='file'><source path='[ds] s.log'/><target port='{port}'/></serial>",
    "<serial type='pipe'><source path='\\\\.\\pipe\\p'/><target port='{port}'/></serial>",
    ("<serial type='tcp'><source mode='bind' host='0.0.0.0' service='7'/><protocol type='telnet'/>"
    "<target port='{port}'/></serial>"),
])


@settings(max_examples=100, deadline=None)
@given(disks=st.lists(_disk, max_size=6, unique_by=lambda d: (d[0], d[2])),
       nets=st.lists(_net, max_size=4), serials=st.lists(_serial, max_size=4),
       memory=st.integers(1, 1 << 24), vcpus=st.integers(1, 16), arch=st.sampled_from(["i686", "x86_64"]),
       name=st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12),
       hw=st.sampled_from([4, 7, 8, 10]), vram=st.integers(1, 4096).map(lambda n: n * 64))
def test_vmx_round_trip_is_a_fixed_point(disks: list[tuple[str, str, int, str]], nets: list[str],
                                         serials: list[str], memory: int, vcpus: int, arch: str, name: str,
                                         hw: int, vram: int) -> None:
    """Converting XML to VMX and back loses nothing VMX holds: after one round both forms are stable."""
    from xml.sax.saxutils import escape

    devices = "".join(d[3].format(dst=index_to_disk_name(d[2], d[1])) for d in disks)
    devices += "".join(nets) + "".join(s.format(port=i) for i, s in enumerate(serials))
    devices += f"<video><model type='vmvga' vram='{vram}'/></video>"  # VMX always has one
    xml = (f"<domain type='vmware'><name>{escape(name)}</name><uuid>564d9bef-acd9-b4e0-c8f0-aea8b9103515</uuid>"
           f"<memory>{memory}</memory><vcpu>{vcpus}</vcpu><os><type arch='{arch}'>hvm</type></os>"
           f"<devices>{devices}</devices></domain>")
    # One round puts disks in slot order; from then on the conversions must be stable.
    xml1 = from_native(to_native(xml, virtualHW_version=hw))
    vmx2 = to_native(xml1, virtualHW_version=hw)
    xml2 = from_native(vmx2)
    assert canonical_xml(xml2) == canonical_xml(xml1)
    assert to_native(xml2, virtualHW_version=hw) == vmx2
    assert canonical_xml(xml1)[3][0] == ("name", {}, name.strip(), [])
