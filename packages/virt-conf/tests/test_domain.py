"""The <domain> format on libvirt's corpus: generic_domain cases, every qemu input, libvirt's own outputs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from lxml import etree

sys.path.insert(0, str(Path(__file__).parent))  # the shared corpus helpers beside this file
from corpus_cases import check_mutant, load_cases, mutated, same_xml
from virt.conf import normalize, parse
from virt.conf.domain import Domain
from virt.conf.xmlmodel import ParseContext
from virt.util.errors import ConfigUnsupportedError, InvalidArgError, VirtError, XMLError

SUITE = "generic_domain"
#: Cases not passing yet, with the reason (none today).
XFAIL: dict[str, str] = {}

#: Parse options a driver would pass for the corpus outputs of another driver's suite.
DRIVER_OPTIONS: dict[str, dict[str, Any]] = {
    "vmx2xml": {"features": ("no_boot_order",)},  # the VMware driver has no default boot device
    "lxc_native": {"default_arch": None},  # lxc-tools configs carry no architecture
    "qemu_xml": {},
    "generic_domain": {},
}


def _params(suite: str, xfail: dict[str, str], keep: Any = lambda c: True) -> list[Any]:
    out = []
    for case in load_cases(suite):
        if not keep(case):
            continue
        marks = [pytest.mark.xfail(strict=True, reason=xfail[case["name"]])] if case["name"] in xfail else []
        out.append(pytest.param(case, id=case["name"], marks=marks))
    return out


@pytest.mark.parametrize("case", _params(SUITE, XFAIL))
def test_corpus(case):
    """libvirt's genericxml2xml test: a live parse and a live format."""
    data = (case["suite_dir"] / case["input"]).read_bytes()
    if case["mode"] == "fail":
        with pytest.raises(VirtError) as info:
            normalize(data, inactive=case["notes"].endswith("inactive parse"))
        assert str(info.value)
        return
    out = normalize(data, inactive=False)
    expected = (case["suite_dir"] / (case["expected"] or case["input"])).read_bytes()
    assert same_xml(expected, out), out


@pytest.mark.parametrize("case", _params(SUITE, {}, lambda c: c["mode"] != "fail"))
@pytest.mark.parametrize("inactive", [True, False], ids=["inactive", "live"])
def test_fixed_point(case, inactive):
    data = (case["suite_dir"] / case["input"]).read_bytes()
    first = parse(data, inactive=inactive)
    text = first.format()
    second = parse(text, inactive=inactive)
    assert second.format() == text
    assert second == first


def _outputs() -> list[Any]:
    out = []
    for suite in ("qemu_xml", "vmx2xml", "lxc_native", "generic_domain"):
        for case in load_cases(suite):
            if case["mode"] != "fail" and case.get("expected"):
                out.append(pytest.param(suite, case, id=f"{suite}:{case['name']}"))
    return out


@pytest.mark.parametrize("suite, case", _outputs())
def test_libvirt_outputs_are_fixed_points(suite, case):
    """Whatever libvirt printed (with its drivers' defaults) reads back and prints the same."""
    data = (case["suite_dir"] / case["expected"]).read_bytes()
    inactive = (case.get("params") or {}).get("format") == "inactive"
    dom = Domain.parse(data, ParseContext(inactive=inactive, options=dict(DRIVER_OPTIONS[suite])))
    assert same_xml(data, dom.format()), dom.format()


def _inputs() -> list[Any]:
    return [pytest.param(case, id=f"{suite}:{case['name']}") for suite in ("qemu_xml", "qemu_argv")
            for case in load_cases(suite)]


@pytest.mark.parametrize("case", _inputs())
def test_every_qemu_input_parses_or_is_rejected_cleanly(case):
    data = (case["suite_dir"] / case["input"]).read_bytes()
    try:
        dom = parse(data, "domain")
    except VirtError as exc:
        assert case["mode"] == "fail", f"rejected: {exc}"
        assert str(exc)
        return
    text = dom.format()
    assert parse(text, "domain").format() == text


def _mutation_sources() -> list[bytes]:
    docs = [(c["suite_dir"] / c["input"]).read_bytes() for c in load_cases(SUITE)]
    qemu = load_cases("qemu_argv")
    docs += [(c["suite_dir"] / c["input"]).read_bytes() for c in qemu[::4]]
    return docs


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(_mutation_sources()))
def test_mutants_raise_only_virt_errors(doc):
    check_mutant(doc)
    try:
        text = parse(doc).format()
    except VirtError:
        return
    assert parse(text).format() == text  # what normalizes is a fixed point


# ----------------------------------------------------------------------------- behaviour

BASE = """<domain type='kvm'{extra}>
  <name>vm</name>
  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
  <memory unit='GiB'>1</memory>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>{devices}</devices>
</domain>"""


def dom(devices: str = "", extra: str = "", inactive: bool = True, **options: Any) -> Domain:
    d = Domain.parse(BASE.format(devices=devices, extra=extra), ParseContext(inactive=inactive, options=options))
    return d


def test_generic_defaults():
    d = dom()
    out = d.format()
    assert "<memory unit='KiB'>1048576</memory>" in out
    assert "<currentMemory unit='KiB'>1048576</currentMemory>" in out
    assert "<vcpu placement='static'>1</vcpu>" in out
    assert "<boot dev='hd'/>" in out
    assert "<clock offset='utc'/>" in out
    assert [line.strip() for line in out.splitlines() if line.strip().startswith("<on_")] == [
        "<on_poweroff>destroy</on_poweroff>", "<on_reboot>restart</on_reboot>", "<on_crash>destroy</on_crash>"]
    assert d.memory_kib == 1048576 and d.max_vcpus == 1 and d.os.arch == "x86_64"


def test_devices_printed_in_libvirt_kind_order():
    d = dom("<memballoon model='virtio'/><interface type='user'><mac address='52:54:00:00:00:01'/></interface>"
            "<disk type='file'><source file='/a.img'/><target dev='vda'/></disk><emulator>/bin/qemu</emulator>")
    tags = [el.tag for el in etree.fromstring(d.format()).find("devices")]
    assert tags == ["emulator", "disk", "interface", "memballoon"]
    assert d.devices.disks[0].bus == "virtio" and d.devices.disks[0].source_path == "/a.img"


def test_drive_addresses_and_implicit_controllers():
    d = dom("<disk type='file' device='cdrom'><target dev='hdc'/></disk>"
            "<disk type='block'><source dev='/dev/sdx'/><target dev='sdj'/></disk>")
    hdc, sdj = d.devices.disks
    assert (hdc.address.controller, hdc.address.bus, hdc.address.unit) == (0, 1, 0)
    assert (sdj.address.controller, sdj.address.unit) == (1, 2)  # narrow SCSI: 7 units a controller
    # implicit controllers come in libvirt's order: scsi, fdc, ide, sata
    assert [(c.type, c.index) for c in d.devices.controllers] == [("scsi", 0), ("scsi", 1), ("ide", 0)]
    wide = dom("<disk type='block'><source dev='/dev/sdx'/><target dev='sdj'/></disk>", features=("wide_scsi",))
    assert (wide.devices.disks[0].address.controller, wide.devices.disks[0].address.unit) == (0, 10)


def test_console_duplicates_first_serial():
    d = dom("<serial type='pty'/>")
    out = d.format()
    assert "<console type='pty'>" in out and "<target type='serial' port='0'/>" in out
    d = dom("<console type='pty'/>")
    assert len(d.devices.serials) == 1 and d.devices.consoles[0].target.type == "serial"


def test_controllers_sorted_like_libvirt_inserts_them():
    d = dom("<controller type='pci' index='2' model='pci-bridge'/><controller type='usb'/>"
            "<controller type='pci' index='0' model='pci-root'/>")
    assert [(c.type, c.index) for c in d.devices.controllers] == [("pci", 0), ("pci", 2), ("usb", 0)]


def test_live_only_data_and_user_aliases():
    devices = ("<interface type='network'><mac address='52:54:00:00:00:01'/><source network='default'/>"
               "<alias name='net0'/></interface><input type='tablet' bus='usb'><alias name='ua-tab'/></input>")
    live = dom(devices, extra=" id='7'", inactive=False)
    assert live.id == "7" and live.find_device(alias="net0") is live.devices.interfaces[0]
    assert "id='7'" in live.format() and "net0" in live.format()
    inactive_text = live.format(inactive=True)
    assert "id='7'" not in inactive_text and "net0" not in inactive_text and "ua-tab" in inactive_text
    defined = dom(devices, extra=" id='7'")
    assert defined.id is None and defined.devices.interfaces[0].alias is None
    assert defined.find_device(alias="ua-tab") is defined.devices.inputs[0]


def test_iteration_with_addresses_and_lookup_by_target():
    d = dom("<disk type='file'><source file='/a'/><target dev='vda'/>"
            "<address type='pci' domain='0' bus='0' slot='5' function='0'/></disk>"
            "<interface type='user'><mac address='52:54:00:00:00:02'/><target dev='tap3'/></interface>")
    pairs = [(type(dev).__name__, addr) for dev, addr in d.devices.with_addresses()]
    assert pairs[0][0] == "Disk" and str(pairs[0][1]) == "0000:00:05.0"
    assert d.find_device(target="vda") is d.devices.disks[0]
    assert d.find_device(target="tap3") is d.devices.interfaces[0]
    assert "<address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>" in d.format()


def test_qemu_namespace_kept():
    d = Domain.parse(BASE.format(devices="", extra=" xmlns:q='http://libvirt.org/schemas/domain/qemu/1.0'")
                     .replace("</domain>", "<q:commandline><q:arg value='-S'/><q:env name='A' value='b'/>"
                              "</q:commandline></domain>"))
    out = d.format()
    assert "xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'" in out
    assert "<qemu:arg value='-S'/>" in out and "<qemu:env name='A' value='b'/>" in out
    assert d.namespaces.qemu.args == ["-S"]


def test_metadata_kept_verbatim():
    d = Domain.parse(BASE.format(devices="", extra="").replace(
        "<memory", "<metadata><app:x xmlns:app='urn:app'><y a='1'>t</y></app:x></metadata><memory"))
    out = d.format()
    assert '<app:x xmlns:app="urn:app">' in out and '<y a="1">t</y>' in out


@pytest.mark.parametrize("devices, message", [
    (("<disk type='file'><source file='/a'/><target dev='vda'/></disk>"
      "<disk type='file'><source file='/b'/><target dev='vda'/></disk>"),
     "target 'vda' duplicated for disk sources '/a' and '/b'"),
    ("<disk type='file'><source file='/a'/></disk>", "missing target information for device /a"),
    ("<interface type='network'/>", "No <source> 'network' attribute specified"),
    ("<graphics type='vnc'><listen type='network'/></graphics>",
     "'network' attribute is required for listen type 'network'"),
    ("<memballoon model='virtio'/><memballoon model='virtio'/>", "only a single memory balloon device"),
    ("<controller type='usb' index='0'/><controller type='usb' index='0'/>",
     "Multiple 'usb' controllers with index '0'"),
    ("<disk type='file'><target dev='vda'/><address type='pci' slot='0x20'/></disk>",
     "Invalid PCI address slot='0x20', must be <= 0x1F"),
    ("<channel type='tcp'><source host='h'/><target type='virtio'/></channel>",
     "Missing source service attribute for char device"),
    ("<disk type='file' device='lun'><source file='/a'/><target dev='sda'/></disk>",
     "disk device='lun' is only valid for block type disk source"),
    ("<disk type='file'><target dev='vda'/></disk>", "missing source information for vda"),
    ("<redirdev bus='usb' type='spicevmc'/>", "USB is disabled for this domain"),
    ("<input type='tablet' bus='ps2'/>", "ps2 bus does not support tablet input device"),
    ("<disk type='file'><source file='/a'/><target dev='vda' removable='on'/></disk>",
     "removable is only valid for usb or scsi disks"),
    ("<sound model='ich9'><audio id='3'/></sound>", "no audio device with ID 3"),
    (("<hostdev mode='subsystem' type='usb'><source><address bus='1' device='2'/></source>"
      "<address type='pci'/></hostdev>"), "USB host device must use 'usb' address type"),
])
def test_rejected_with_libvirt_messages(devices, message):
    with pytest.raises(VirtError, match=message.replace("(", r"\(").replace(")", r"\)")):
        dom(devices)


def test_unit_scaling_and_bitmaps():
    d = Domain.parse(BASE.format(devices="", extra="").replace(
        "<memory unit='GiB'>1</memory>",
        "<memory unit='MB'>3</memory><vcpu cpuset='0-3,^2,8'>4</vcpu>"
        "<memtune><hard_limit unit='G'>2</hard_limit></memtune>"))
    out = d.format()
    assert "<memory unit='KiB'>2930</memory>" in out  # 3 MB = 3000000 bytes, rounded up to KiB
    assert "<vcpu placement='static' cpuset='0-1,3,8'>4</vcpu>" in out
    assert "<hard_limit unit='KiB'>2097152</hard_limit>" in out


def test_pci_address_domain_is_32_bits() -> None:
    """libvirt 9.0 takes any 32-bit PCI domain (VMD puts devices above 0xFFFF); bus and slot stay bounded."""
    xml = dom("<hostdev mode='subsystem' type='pci'><source><address domain='0x10000' bus='0x00' slot='0x01'"
              " function='0x0'/></source><address type='pci' domain='0x12345' bus='0x01' slot='0x02'/></hostdev>"
              ).format()
    assert "domain='0x10000'" in xml and "domain='0x12345'" in xml
    with pytest.raises(VirtError, match="domain"):
        dom("<interface type='user'><address type='pci' domain='0x100000000' slot='0x03'/></interface>")


@pytest.mark.parametrize("frames, kept", [("<rx><frames max='7'/></rx>", True), ("<rx><frames max='0'/></rx>", False),
                                          ("<rx/>", False), ("", False)])
def test_interface_coalesce_only_with_rx_frames(frames: str, kept: bool) -> None:
    xml = dom(f"<interface type='user'><coalesce>{frames}</coalesce></interface>").format()
    assert ("<coalesce>" in xml and "<frames max='7'/>" in xml) == kept and ("<coalesce/>" not in xml)


@pytest.mark.parametrize("device, code, message", [
    ("<serial type='tcp'><source mode='connect' service='1'/></serial>", 1, "Missing source host attribute"),
    ("<serial type='file'/>", 1, "Missing source path attribute"),
    ("<serial type='nmdm'><source master='/a'/></serial>", 1,
     "Should define both master and slave path attributes for nmdm device"),
    ("<serial type='tcp'><source mode='bind' host='a' service='1'><reconnect enabled='yes' timeout='1'/></source>"
     "</serial>", 1, "chardev reconnect is possible only for connect mode"),
    ("<serial type='spiceport'/>", 67, "Missing source channel attribute for char device"),
])
def test_chardev_source_errors_carry_libvirts_codes(device: str, code: int, message: str) -> None:
    """As libvirt 9.0's define reports them: internal errors, a missing spiceport channel unsupported."""
    with pytest.raises(VirtError, match=message) as err:
        dom(device)
    assert err.value.code == code


TUNE = """<domain type='kvm'><name>vm</name><memory>219136</memory><vcpu>{vcpus}</vcpu><cputune>
<memorytune vcpus='0-1'>{monitors}<node id='0' bandwidth='20'/></memorytune></cputune>
<os><type arch='x86_64'>hvm</type></os></domain>"""


@pytest.mark.parametrize(("vcpus", "monitors", "error", "message"), [
    (4, "<monitor vcpus='2'/>", InvalidArgError, "Monitor vcpus conflicts with allocation"),
    (4, "<monitor vcpus='0'/><monitor vcpus='0'/>", InvalidArgError, "Identical vcpus found in same type monitors"),
    # the sets are checked once trimmed to the domain's vCPUs, as libvirt does
    (1, "<monitor vcpus='0-1'/><monitor vcpus='0'/>", InvalidArgError, "Identical vcpus found in same type monitors"),
    (1, "<monitor vcpus='1'/>", InvalidArgError, "vcpus is empty"),
    (4, "<monitor/>", XMLError, "Missing monitor attribute 'vcpus'"),
])
def test_resctrl_monitors_checked_as_libvirt_does(vcpus: int, monitors: str, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        normalize(TUNE.format(vcpus=vcpus, monitors=monitors))


def test_resctrl_monitors_trimmed_and_kept() -> None:
    out = normalize(TUNE.format(vcpus=2, monitors="<monitor vcpus='0-3'/><monitor vcpus='0'/>"))
    assert "<monitor vcpus='0-1'/>" in out and "<monitor vcpus='0'/>" in out


def test_cpu_without_model_prints_nothing() -> None:
    for cpu in ("<cpu mode='custom' match='exact'> </cpu>", "<cpu match='strict'/>", "<cpu/>"):
        out = normalize(BASE.format(devices="", extra="").replace("<devices>", cpu + "<devices>"))
        assert "<cpu" not in out, cpu
    with pytest.raises(ConfigUnsupportedError, match="check attribute specified for CPU with no model"):
        normalize(BASE.format(devices="", extra="").replace("<devices>", "<cpu check='partial'/><devices>"))


CT = "<cachetune vcpus='{}'><cache id='0' level='3' type='both' size='768' unit='KiB'/></cachetune>"
MT = "<memorytune vcpus='{}'><node id='0' bandwidth='20'/></memorytune>"


@pytest.mark.parametrize(("tunes", "overlap"), [
    (CT.format("0-1") + CT.format("1-2"), True),
    (MT.format("0-1") + MT.format("1-2"), True),
    (CT.format("0-1") + MT.format("1-2"), True),
    (MT.format("0-1") + CT.format("1-2"), True),
    (CT.format("0-1") + MT.format("0-1"), False),  # a memorytune may share a cachetune's exact set
    (CT.format("0-1,5") + CT.format("5-6"), False),  # vCPU 5 and 6 are beyond the domain's 4: trimmed first
])
def test_resctrl_overlaps_on_trimmed_sets(tunes: str, overlap: bool) -> None:
    xml = TUNE.replace("<memorytune vcpus='0-1'>{monitors}<node id='0' bandwidth='20'/></memorytune>", tunes)
    if overlap:
        with pytest.raises(XMLError, match="Overlapping vcpus in resctrls"):
            normalize(xml.format(vcpus=4))
    else:
        assert "<cputune>" in normalize(xml.format(vcpus=4))
