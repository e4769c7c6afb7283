"""libvirt behaviours found by probing the non-domain formats with cases beyond the visible corpus."""

from __future__ import annotations

import pytest
from virt.conf import normalize, parse
from virt.conf.checkpoint import DomainCheckpoint
from virt.util.errors import ConfigUnsupportedError, VirtError

# ----------------------------------------------------------------------------- network


@pytest.mark.parametrize("xml, match", [
    # a passthrough pool has no host-side bridge: no <ip> (libvirt's networkValidate, run by define)
    ("<network><name>p</name><forward mode='passthrough'><interface dev='eth10'/></forward>"
     "<ip address='192.168.122.1' netmask='255.255.255.0'/></network>",
     "Unsupported <ip> element in network p with forward mode='passthrough'"),
    # PCI addresses in the device pool belong to hostdev networks only
    ("<network><name>p</name><forward mode='passthrough'>"
     "<address type='pci' domain='0x0000' bus='0x11' slot='0x10' function='0x1'/></forward></network>",
     "lists a device by PCI address"),
    ("<network><name>b</name><forward mode='bridge'/><bridge name='br0'/><mac address='52:54:00:00:00:01'/>"
     "</network>", "Unsupported <mac> element in network b with forward mode='bridge'"),
])
def test_network_driver_validation_runs_with_the_parse(xml, match):
    with pytest.raises(ConfigUnsupportedError, match=match):
        normalize(xml)


def test_forward_driver_without_name_is_the_default():
    out = normalize("<network><name>h</name><forward mode='hostdev' managed='yes'><driver model='x'/>"
                    "<pf dev='eth2'/></forward></network>")
    assert "<driver" not in out
    assert "<pf dev='eth2'/>" in out
    named = normalize("<network><name>h</name><forward mode='hostdev'><driver name='vfio'/><pf dev='eth2'/>"
                      "</forward></network>")
    assert "<driver name='vfio'/>" in named
    with pytest.raises(VirtError, match="Unknown forward <driver name='default'/>"):
        normalize("<network><name>h</name><forward mode='hostdev'><driver name='default'/><pf dev='eth2'/>"
                  "</forward></network>")


# ----------------------------------------------------------------------------- storage pool


def test_iscsi_initiator_keeps_the_first_iqn():
    out = normalize("<pool type='iscsi'><name>m</name><source><host name='h'/><device path='t'/>"
                    "<initiator><iqn name='first'/><iqn name='second'/><iqn name='third'/></initiator>"
                    "</source><target><path>/dev/disk/by-path</path></target></pool>")
    assert "<iqn name='first'/>" in out
    assert "second" not in out and "third" not in out


# ----------------------------------------------------------------------------- checkpoint


def test_checkpoint_harness_flags():
    doc = ("<domaincheckpoint><description>d</description><disks><disk name='vda' checkpoint='bitmap'/>"
           "<disk name='vdb' checkpoint='no'/></disks></domaincheckpoint>")
    chk = parse(doc, flags="TEST_PARENT|TEST_VDA_BITMAP", creation_time="1525889631")
    assert isinstance(chk, DomainCheckpoint)
    assert chk.parent_name == "1525111885"
    assert [(d.name, d.bitmap) for d in chk.disks.disks] == [("vda", "1525889631"), ("vdb", None)]
    assert "size=" not in chk.format()


def test_checkpoint_harness_adds_vda_and_size():
    chk = parse("<domaincheckpoint><name>c1</name></domaincheckpoint>", flags="TEST_VDA_BITMAP|TEST_SIZE",
                creation_time="1553648510")
    assert isinstance(chk, DomainCheckpoint)
    assert "<disk name='vda' checkpoint='bitmap' bitmap='c1' size='1048576'/>" in chk.format()
    plain = parse("<domaincheckpoint><name>c1</name></domaincheckpoint>", creation_time="1553648510")
    assert plain.format().count("<disk") == 0


# ----------------------------------------------------------------------------- '' read as unset


def test_network_empty_attributes_are_unset():
    out = normalize("<network ipv6=''><name>n</name><forward mode='' dev=''/><bridge name='virbr9' delay=''/>"
                    "<mac address=''/><ip address='192.168.1.1' netmask='' family=''/></network>")
    assert "<forward mode='nat'/>" in out
    assert "<bridge name='virbr9' stp='on' delay='0'/>" in out
    assert "<mac" not in out and "ipv6" not in out
    assert "<ip address='192.168.1.1'>" in out
    with pytest.raises(VirtError, match="Missing required name attribute in portgroup"):
        normalize("<network><name>n</name><forward mode='bridge'/><bridge name='br0'/><portgroup name=''/>"
                  "</network>")
    # <domain name=''> is a plain attribute: kept
    assert "<domain name=''/>" in normalize("<network><name>n</name><domain name=''/></network>")


def test_forward_pool_kinds_are_read_in_libvirts_order():
    # interfaces first: the <pf> is then not read at all (not even checked for its dev)
    out = normalize("<network><name>p</name><forward mode='passthrough'><pf/><interface dev='eth10'/>"
                    "<interface dev='eth11'/></forward></network>")
    assert "<forward dev='eth10' mode='passthrough'>" in out and "<pf" not in out
    out = normalize("<network><name>h</name><forward mode='hostdev'><pf dev='eth0'/>"
                    "<address type='pci' domain='0x0000' bus='0x11' slot='0x10' function='0x1'/></forward></network>")
    assert "<pf" not in out and "<address type='pci'" in out
    with pytest.raises(VirtError, match="Only one <pf> element"):
        normalize("<network><name>p</name><forward mode='passthrough'><pf dev='a'/><pf dev='b'/></forward>"
                  "</network>")


@pytest.mark.parametrize("expiry, shown", [("0x10", "16"), ("010", "8"), ("16", "16")])
def test_lease_expiry_is_read_with_base_0(expiry, shown):
    out = normalize("<network><name>n</name><ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.0.2' "
                    f"end='10.0.0.9'><lease expiry='{expiry}'/></range></dhcp></ip></network>")
    assert f"<lease expiry='{shown}' unit='minutes'/>" in out


def test_bootp_without_file_is_skipped():
    out = normalize("<network><name>n</name><ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.0.2' "
                    "end='10.0.0.9'/><bootp/></dhcp></ip></network>")
    assert "<bootp" not in out


def test_pool_empty_attributes_and_sizes():
    out = normalize("<pool type='disk'><name>d</name><capacity unit='x'>5</capacity><source>"
                    "<device path='/dev/sda'/><format type=''/></source><target><path>/dev</path></target></pool>")
    assert "<format type='unknown'/>" in out
    assert "<capacity unit='bytes'>0</capacity>" in out
    with pytest.raises(VirtError, match="missing storage pool source path"):
        normalize("<pool type='netfs'><name>n</name><source><host name='h'/><dir path=''/></source>"
                  "<target><path>/mnt</path></target></pool>")
    with pytest.raises(VirtError, match="missing username for auth"):
        normalize("<pool type='iscsi'><name>i</name><source><host name='h'/><device path='t'/>"
                  "<auth type='chap' username=''><secret usage='u'/></auth></source></pool>")


def test_pool_host_port_is_a_c_int():
    out = normalize("<pool type='rbd'><name>c</name><source><name>rbd</name><host name='h' port='-1'/>"
                    "</source></pool>")
    assert "<host name='h' port='-1'/>" in out


@pytest.mark.parametrize("iqns, shown", [
    ("<iqn name=''/><iqn name='b'/>", None),        # the first name is '': no initiator at all
    ("<iqn/><iqn name='b'/><iqn name='c'/>", "b"),  # the first <iqn> that has a name
])
def test_iscsi_initiator_first_named_iqn(iqns, shown):
    out = normalize(f"<pool type='iscsi'><name>m</name><source><host name='h'/><device path='t'/>"
                    f"<initiator>{iqns}</initiator></source><target><path>/dev/disk/by-path</path></target></pool>")
    if shown is None:
        assert "<initiator>" not in out
    else:
        assert f"<iqn name='{shown}'/>" in out


def test_interface_empty_attributes_and_bad_stp():
    out = normalize("<interface type='ethernet' name='eth0'><start mode=''/><mtu size=''/><link state=''/>"
                    "</interface>")
    assert "<start" not in out and "<mtu" not in out
    # an stp that is neither on nor off ends libvirt's reading of the bridge, successfully
    out = normalize("<interface type='bridge' name='br0'><bridge stp='1' delay='0.01'>"
                    "<interface type='ethernet' name='eth0'/></bridge></interface>")
    assert "delay" not in out and "eth0" not in out and "<bridge" in out
    with pytest.raises(VirtError, match="vlan interface misses name attribute"):
        normalize("<interface type='vlan' name='v'><vlan tag='42'><interface name=''/></vlan></interface>")


def test_interface_parts_libvirt_never_reads_cannot_fail():
    # a <bond> on an ethernet interface, a member's start mode, a bridge's <link>: never read
    out = normalize("<interface type='ethernet' name='eth0'><bond mode='bogus'><interface type='bond' name='x'/>"
                    "</bond></interface>")
    assert "<bond" not in out
    out = normalize("<interface type='bridge' name='br0'><link state='off'/><bridge stp='off'>"
                    "<interface type='ethernet' name='eth1'><start mode='0x10'/></interface></bridge></interface>")
    assert "<link" not in out and "<start" not in out and "eth1" in out
    # an <ip> without address is skipped whole (its prefix is not even read); address='' is kept
    out = normalize("<interface type='ethernet' name='eth0'><protocol family='ipv6'><ip prefix='4294967296'/>"
                    "<ip address='' prefix='24'/></protocol></interface>")
    assert "4294967296" not in out and "<ip address='' prefix='24'/>" in out


@pytest.mark.parametrize("prefix, shown", [("0x10", "16"), ("010", "8"), ("-1", "-1")])
def test_interface_prefix_is_a_c_int_read_with_base_0(prefix, shown):
    out = normalize(f"<interface type='ethernet' name='eth0'><protocol family='ipv6'><ip address='::5' "
                    f"prefix='{prefix}'/></protocol></interface>")
    assert f"prefix='{shown}'" in out
    with pytest.raises(VirtError):
        normalize("<interface type='ethernet' name='eth0'><protocol family='ipv6'><ip address='::5' "
                  "prefix='2147483648'/></protocol></interface>")


def test_network_pci_domain_is_32_bits():
    out = normalize("<network><name>h</name><forward mode='hostdev'><address type='pci' domain='65536' bus='3' "
                    "slot='0' function='1'/></forward></network>")
    assert "domain='0x10000'" in out


POOL_DIR = ("<pool type='dir'><name>p</name><uuid>70a7eb15-6c34-ee9c-bf57-69e8e5ff3fb2</uuid>"
            "<target><path>/var/lib/libvirt/images</path></target></pool>")


def test_volume_empty_format_is_the_default_and_cipher_size_is_decimal():
    out = normalize("<volume><name>v.img</name><capacity>1024</capacity><target>"
                    "<path>/var/lib/libvirt/images/v.img</path><format type=''/></target></volume>",
                    pool_xml=POOL_DIR)
    assert "<format type='raw'/>" in out
    luks = ("<volume><name>l.img</name><capacity>1024</capacity><target><path>/var/lib/libvirt/images/l.img</path>"
            "<format type='raw'/><encryption format='luks'><secret type='passphrase' "
            "uuid='f52a81b2-424e-490c-823d-6bd4235bc572'/><cipher name='serpent' size='{}' mode='xts' hash='sha256'/>"
            "</encryption></target></volume>")
    assert "size='256'" in normalize(luks.format("256"), pool_xml=POOL_DIR)
    with pytest.raises(VirtError):
        normalize(luks.format("0x10"), pool_xml=POOL_DIR)


# ----------------------------------------------------------------------------- nwfilter, secret


def test_nwfilter_empty_name_chain_priority():
    with pytest.raises(VirtError, match="filter has no name"):
        normalize("<filter name=''><rule action='accept' direction='in'><all/></rule></filter>")
    out = normalize("<filter name='f' chain='' priority=''><uuid>5c6d49af-b071-6127-b4ec-6f8ed4b55335</uuid>"
                    "</filter>")
    assert "<filter name='f' chain='root'>" in out


def test_nwfilter_parameter_named_empty_is_kept_and_sorted_first():
    out = normalize("<filter name='f'><uuid>83011800-f663-96d6-8841-fd836b4318c6</uuid>"
                    "<filterref filter='clean-traffic'><parameter name='b' value='1.2.3.4'/>"
                    "<parameter name='' value='1.2.3.5'/><parameter name='a' value=''/></filterref></filter>")
    assert out.index("name='' value='1.2.3.5'") < out.index("name='b'")
    assert "name='a'" not in out


def test_nwfilter_uint32_wraps_like_strtoul():
    out = normalize("<filter name='f' chain='stp-x'><uuid>5c6d49af-b071-6127-b4ec-6f8ed4b55335</uuid>"
                    "<rule action='accept' direction='in'><stp root-cost='-1'/></rule></filter>")
    assert "root-cost='4294967295'" in out
    with pytest.raises(VirtError):  # 16 bits: -1 wraps past the limit
        normalize("<filter name='f' chain='stp-x'><rule action='accept' direction='in'>"
                  "<stp root-priority='-1'/></rule></filter>")


def test_secret_empty_flags_are_no():
    out = normalize("<secret ephemeral='' private=''><uuid>f52a81b2-424e-490c-823d-6bd4235bc572</uuid></secret>")
    assert "<secret ephemeral='no' private='no'>" in out


@pytest.mark.parametrize("ptype, fmt, ok", [
    ("netfs", "nfs", True), ("netfs", "auto", True), ("netfs", "cifs", False), ("netfs", "glusterfs", False),
    ("dir", None, True), ("rbd", None, True), ("fs", "ext2", True), ("fs", "ext3", False), ("disk", "dos", True),
    ("disk", "gpt", False), ("logical", "lvm2", True),
])
def test_pool_protocol_ver_follows_the_format_number(ptype, fmt, ok):
    # libvirt compares the source format's number with netfs' auto and nfs, whatever the pool type
    doc = (f"<pool type='{ptype}'><name>p</name><source><host name='h'/><dir path='/v'/><device path='/dev/sda'/>"
           f"<name>vg</name>{f'<format type={chr(39)}{fmt}{chr(39)}/>' if fmt else ''}<protocol ver='3'/></source>"
           "<target><path>/mnt/x</path></target></pool>")
    if ok:
        assert "<protocol ver='3'/>" in normalize(doc)
    else:
        with pytest.raises(VirtError, match="protocol ver unsupported"):
            normalize(doc)


def test_network_bridge_delay_is_64_bits_and_mtu_wraps():
    out = normalize("<network><name>n</name><bridge name='virbr9' delay='4294967296'/><mtu size='-1'/>"
                    "</network>")
    assert "delay='4294967296'" in out and "<mtu size='4294967295'/>" in out
    with pytest.raises(VirtError, match="Invalid delay value"):
        normalize("<network><name>n</name><bridge name='virbr9' delay='-1'/></network>")


def test_forward_entries_libvirt_does_not_read_cannot_fail():
    # with an <interface> pool, <address> and <pf> are never read: an invalid slot is no error
    out = normalize("<network><name>p</name><forward mode='passthrough'><pf/><interface dev='eth10'/>"
                    "<address type='pci' domain='0x0000' bus='0x03' slot='-1' function='0x3'/></forward></network>")
    assert "<interface dev='eth10'/>" in out and "<address" not in out
    # but dev= with an <address> or <pf> is refused first
    with pytest.raises(VirtError, match="'dev' attribute cannot be used"):
        normalize("<network><name>p</name><forward mode='passthrough' dev='eth10'><pf dev='eth0'/></forward>"
                  "</network>")


# ----------------------------------------------------------------------------- repeated single elements


def test_network_repeated_single_children_keep_the_first():
    out = normalize("<network><name>first</name><name>second</name><bridge name='virbr1'/><bridge name='virbr2'/>"
                    "<forward mode='nat'/><forward mode='route'/><ip address='10.0.0.1' prefix='24'>"
                    "<dhcp><range start='10.0.0.2' end='10.0.0.9'/></dhcp>"
                    "<dhcp><range start='10.0.0.20' end='10.0.0.29'/></dhcp></ip></network>")
    assert "<name>first</name>" in out and "second" not in out
    assert "virbr1" in out and "virbr2" not in out
    assert "<forward mode='nat'/>" in out
    assert "10.0.0.2'" in out and "10.0.0.20" not in out
    # the forward driver is the first <driver> that has a name
    out = normalize("<network><name>h</name><forward mode='hostdev'><driver name='vfio'/><driver model='x'/>"
                    "<pf dev='eth2'/></forward></network>")
    assert "<driver name='vfio'/>" in out


def test_every_lease_is_checked_and_the_last_stays():
    doc = ("<network><name>n</name><ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.0.2' "
           "end='10.0.0.9'>{}</range></dhcp></ip></network>")
    out = normalize(doc.format("<lease expiry='1' unit='hours'/><lease expiry='3' unit='hours'/>"))
    assert "<lease expiry='3' unit='hours'/>" in out and "expiry='1'" not in out
    with pytest.raises(VirtError, match="minimum lease time"):
        normalize(doc.format("<lease expiry='30' unit='seconds'/><lease expiry='0'/>"))


def test_pool_targets_read_as_one_xpath():
    # ./target/path and ./target/permissions: the first of each, across repeated <target> elements
    out = normalize("<pool type='dir'><name>p</name><target><path>/dev</path></target><target><path>/mnt</path>"
                    "<permissions><mode>0700</mode></permissions></target><name>q</name></pool>")
    assert "<path>/dev</path>" in out and "/mnt" not in out and "<mode>0700</mode>" in out
    assert "<name>p</name>" in out


def test_interface_repeated_single_children_keep_the_first():
    out = normalize("<interface type='ethernet' name='eth0'><start mode='onboot'/><start mode='none'/>"
                    "<mtu size='1500'/><mtu size='9000'/></interface>")
    assert "<start mode='onboot'/>" in out and "<mtu size='1500'/>" in out


def test_volume_secret_nwfilter_repeated_children_keep_the_first():
    out = normalize("<volume><name>a.img</name><name>b.img</name><capacity>1024</capacity><capacity>2048</capacity>"
                    "<target><path>/var/lib/libvirt/images/a.img</path><format type='qcow2'/></target>"
                    "<target><format type='raw'/><permissions><mode>0600</mode></permissions></target></volume>",
                    pool_xml=POOL_DIR)
    assert "<name>a.img</name>" in out and "b.img" not in out
    assert "<capacity unit='bytes'>1024</capacity>" in out
    assert "<format type='qcow2'/>" in out and "<mode>0600</mode>" in out  # one ./target/... XPath
    out = normalize("<secret><uuid>f52a81b2-424e-490c-823d-6bd4235bc572</uuid>"
                    "<uuid>f52a81b2-424e-490c-823d-6bd4235bc573</uuid><description>one</description>"
                    "<description>two</description></secret>")
    assert "bc572" in out and "bc573" not in out and "<description>one</description>" in out
    out = normalize("<filter name='f'><uuid>5c6d49af-b071-6127-b4ec-6f8ed4b55335</uuid>"
                    "<uuid>5c6d49af-b071-6127-b4ec-6f8ed4b55336</uuid></filter>")
    assert "55335" in out and "55336" not in out


# ----------------------------------------------------------------------------- numbers and texts of pools/volumes


def _pool_perms(inner: str) -> str:
    return (f"<pool type='dir'><name>p</name><target><path>/x</path><permissions>{inner}</permissions></target>"
            "</pool>")


@pytest.mark.parametrize("owner, shown", [
    (" 7", "7"), ("0744", "744"), ("+5", "5"), ("-1", None), ("4294967295", None), ("2147483648", "-2147483648"),
])
def test_permission_owner_is_a_decimal_c_long(owner, shown):
    out = normalize(_pool_perms(f"<owner>{owner}</owner>"))
    assert (f"<owner>{shown}</owner>" in out) if shown else "<owner>" not in out


@pytest.mark.parametrize("owner", ["1.5", "9 ", "-2", "0x10", ""])
def test_permission_owner_rejections(owner):
    with pytest.raises(VirtError, match="malformed owner element"):
        normalize(_pool_perms(f"<owner>{owner}</owner>"))


def test_permission_mode_and_label_empty_are_unset():
    out = normalize(_pool_perms("<mode></mode><label></label><owner>0</owner>"))
    assert "<mode>" not in out and "<label" not in out and "<owner>0</owner>" in out
    with pytest.raises(VirtError, match="malformed octal mode"):
        normalize(_pool_perms("<mode>0644 </mode>"))


def test_volume_sizes_and_empty_texts():
    doc = ("<volume><name>v.img</name><capacity unit='KiB'>{}</capacity>{}<target>"
           "<path>/var/lib/libvirt/images/v.img</path><format type='qcow2'/>{}</target></volume>")
    out = normalize(doc.format(" 7", "<allocation></allocation>", "<compat></compat><clusterSize></clusterSize>"),
                    pool_xml=POOL_DIR)
    assert "<capacity unit='bytes'>7168</capacity>" in out and "<allocation unit='bytes'>7168</allocation>" in out
    assert "<compat>" not in out and "<clusterSize" not in out
    with pytest.raises(VirtError, match="malformed capacity element"):
        normalize(doc.format("9 ", "", ""), pool_xml=POOL_DIR)
