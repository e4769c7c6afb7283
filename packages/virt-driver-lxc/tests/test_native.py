"""lxc-tools configs to domain XML: every case of libvirt's lxc_native corpus, plus the rules it leaves out."""

from __future__ import annotations

import json
import os
import re
import sys
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from virt.driver.lxc.native import from_native
from virt.util.errors import (
    ConfigUnsupportedError,
    ErrorNumber,
    InternalError,
    InvalidArgError,
    VirtError,
)

CORPUS = Path(os.environ.get("VIRT_CORPUS") or Path(__file__).resolve().parents[3] / ".." / "shared" / "corpus")
SUITE = CORPUS / "lxc_native"
#: libvirt's own test replaces the random UUID with this one before comparing (testSanitizeDef).
TEST_UUID = "c7a5fdbd-edaf-9455-926a-d65c16db1809"


def _cases() -> list[dict[str, str]]:
    manifest = SUITE / "manifest.json"
    if not manifest.exists():
        raise RuntimeError(f"the libvirt corpus is missing: no {manifest} (set VIRT_CORPUS)")
    return json.loads(manifest.read_text())


sys.path.insert(0, str(CORPUS.parent / "tools"))
from corpus_score import compare  # noqa: E402  (the scorer lives beside the corpus, found at run time)


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["name"])
def test_corpus_case(case: dict[str, str]) -> None:
    text = (SUITE / case["input"]).read_text()
    if case["mode"] == "fail":
        with pytest.raises(VirtError):
            from_native(text, uuid=TEST_UUID)
        return
    out = from_native(text, uuid=TEST_UUID)
    assert compare(case["expected"], (SUITE / case["expected"]).read_bytes(), out.encode()) is None


def _minimal(extra: str = "") -> str:
    return "lxc.rootfs.path = /srv/ct\nlxc.uts.name = ct\n" + extra


def test_random_uuid_when_none_given() -> None:
    first = etree.fromstring(from_native(_minimal())).findtext("uuid")
    second = etree.fromstring(from_native(_minimal())).findtext("uuid")
    assert first != second and str(uuid.UUID(first)) == first


def test_missing_rootfs_and_name_are_refused() -> None:
    with pytest.raises(ConfigUnsupportedError, match="Missing lxc.rootfs"):
        from_native("lxc.uts.name = ct\n")
    with pytest.raises(ConfigUnsupportedError, match="lxc.uts.name"):
        from_native("lxc.rootfs = /srv\n")


def test_block_rootfs_and_mount_entries() -> None:
    xml = etree.fromstring(from_native(
        "lxc.rootfs = /dev/vg/ct\nlxc.utsname = ct\n"
        "lxc.mount.entry = /dev/sdb1 srv ext4 ro 0 0\n"
        "lxc.mount.entry = tmpfs /tmp tmpfs size=1G 0 0\n"
        "lxc.mount.entry = proc /proc proc defaults 0 0\n"
        "lxc.mount.entry = /sys/kernel/security sys/kernel/security none bind 0 0\n"))
    fss = xml.findall("devices/filesystem")
    assert [(f.get("type"), f.find("target").get("dir")) for f in fss] == [("block", "/"), ("block", "/srv"),
                                                                           ("ram", "/tmp")]
    assert fss[0].find("source").get("dev") == "/dev/vg/ct" and fss[1].find("readonly") is not None
    assert fss[2].find("source").attrib == {"usage": "1048576", "units": "KiB"}


@pytest.mark.parametrize("entry, error", [
    ("lxc.mount.entry = tmpfs /tmp tmpfs mode=1777 0 0", "missing tmpfs size, set the size option"),
    ("lxc.mount.entry = tmpfs /tmp tmpfs size=50% 0 0", "can't convert relative size: '50%'"),
    ("lxc.mount.entry = tmpfs /tmp tmpfs size=8q 0 0", "failed to convert size: '8q'"),
    ("lxc.tty.max = many", "failed to parse int: 'many'"),
    ("lxc.idmap = x 0 100 10", "invalid lxc.idmap: 'x 0 100 10'"),
    ("lxc.id_map = u 0 100", "invalid lxc.id_map: 'u 0 100'"),
    ("lxc.cgroup.cpu.shares = lots", "failed to parse integer: 'lots'"),
    ("lxc.cgroup.blkio.device_weight = 8:0", "invalid lxc.cgroup.blkio.device_weight value: '8:0'"),
    ("lxc.cgroup.blkio.device_weight = 8:0 heavy", "failed to parse device weight: 'heavy'"),
])
def test_bad_values_are_internal_errors(entry: str, error: str) -> None:
    with pytest.raises(InternalError) as info:
        from_native(_minimal(entry + "\n"))
    assert error in str(info.value)


def test_network_rules() -> None:
    with pytest.raises(InvalidArgError, match=re.escape("Invalid CIDR address: '10.0.0.1'")):
        from_native(_minimal("lxc.net.0.type = veth\nlxc.net.0.ipv4.address = 10.0.0.1\n"))
    with pytest.raises(ConfigUnsupportedError, match="Unhandled network property: script.up"):
        from_native(_minimal("lxc.net.0.type = veth\nlxc.net.0.script.up = /bin/true\n"))
    with pytest.raises(ConfigUnsupportedError, match="Missing 'link' attribute for NIC"):
        from_native(_minimal("lxc.network.type = phys\n"))
    with pytest.raises(ConfigUnsupportedError):
        from_native(_minimal("lxc.network.link = br0\n"))  # a legacy key before any type
    xml = etree.fromstring(from_native(_minimal(
        "lxc.net.1.type = veth\nlxc.net.1.link = br1\nlxc.net.0.type = macvlan\nlxc.net.0.link = eth0\n"
        "lxc.net.1.hwaddr = 02:00:00:00:00:AA\nlxc.net.0.flags = down\n")))
    ifaces = xml.findall("devices/interface")
    assert [i.get("type") for i in ifaces] == ["bridge", "direct"]  # by first appearance, as libvirt keeps them
    assert ifaces[0].find("mac").get("address") == "02:00:00:00:00:aa"
    assert ifaces[1].find("source").attrib == {"dev": "eth0", "mode": "private"}
    assert ifaces[1].find("link").get("state") == "down"
    assert xml.find("features/privnet") is None


def test_mount_fstab_is_refused_with_libvirts_code() -> None:
    with pytest.raises(VirtError) as info:
        from_native(_minimal("lxc.mount.fstab = /etc/fstab\n"))
    assert info.value.code == ErrorNumber.ARGUMENT_UNSUPPORTED


def test_architectures_and_capabilities() -> None:
    xml = etree.fromstring(from_native(_minimal("lxc.arch = amd64\nlxc.cap.drop = sys_admin  bogus chown\n")))
    assert xml.find("os/type").get("arch") == "x86_64"
    assert [c.tag for c in xml.find("features/capabilities")] == ["chown", "sys_admin"]
    assert etree.fromstring(from_native(_minimal("lxc.arch = vax\n"))).find("os/type").get("arch") is None


_KEYS = st.sampled_from([
    "lxc.rootfs", "lxc.rootfs.path", "lxc.utsname", "lxc.uts.name", "lxc.tty", "lxc.tty.max", "lxc.arch",
    "lxc.network.type", "lxc.network.link", "lxc.network.ipv4", "lxc.network.hwaddr", "lxc.net.0.type",
    "lxc.net.1.ipv6.address", "lxc.net.x.type", "lxc.mount.entry", "lxc.idmap", "lxc.cgroup.memory.limit_in_bytes",
    "lxc.cgroup.cpu.shares", "lxc.cgroup.cpuset.cpus", "lxc.cgroup.blkio.device_weight", "lxc.cap.drop",
])
_VALUES = st.one_of(st.sampled_from(["veth", "phys", "none", "/srv", "10.0.0.1/8", "::1/128", "tmpfs run tmpfs size=1m 0 0",
                                     "u 0 1000 10", "1-3", "8:0 100", "2", "-1", "x86", "1G", "50%"]),
                    st.text(st.characters(codec="ascii", exclude_characters="\n\r\0"), max_size=20))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_KEYS, _VALUES), max_size=12))
def test_any_config_gives_xml_or_a_virt_error(lines: list[tuple[str, str]]) -> None:
    text = "".join(f"{k} = {v}\n" for k, v in lines)
    try:
        out = from_native(text)
    except VirtError:
        return
    root = etree.fromstring(out)
    assert root.get("type") == "lxc" and root.find("devices/filesystem/target").get("dir") == "/"
