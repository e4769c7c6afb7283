"""Storage pools and volumes on libvirt's corpus, plus the typed views the storage driver uses."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).parent))  # the shared corpus helpers beside this file
from corpus_cases import check_mutant, corpus_documents, mutated, params, same_xml
from virt.conf import normalize, parse
from virt.conf.storage import Pool, Volume, sanitize_path, scale_integer
from virt.util.errors import ConfigUnsupportedError, VirtError, XMLError

#: Cases not passing yet, with the reason (none today).
XFAIL: dict[str, str] = {}


def case_options(case: dict[str, Any]) -> dict[str, Any]:
    """What the libvirt test harness passes along: the volume's pool and the parse flags."""
    options: dict[str, Any] = {}
    if "pool" in case.get("extra", {}):
        options["pool_xml"] = (case["suite_dir"] / case["extra"]["pool"]).read_bytes()
    if case.get("params", {}).get("flags"):
        options["flags"] = case["params"]["flags"]
    return options


@pytest.mark.parametrize("case", params("storage_pool", XFAIL) + params("storage_vol", XFAIL))
def test_corpus(case):
    data = (case["suite_dir"] / case["input"]).read_bytes()
    out = normalize(data, **case_options(case))
    expected = (case["suite_dir"] / case["expected"]).read_bytes()
    assert same_xml(expected, out), out


@pytest.mark.parametrize("case", params("storage_pool", {}) + params("storage_vol", {}))
def test_fixed_point(case):
    data = (case["suite_dir"] / case["input"]).read_bytes()
    first = parse(data, **case_options(case))
    text = first.format()
    second = parse(text, **case_options(case))
    assert second.format() == text
    assert second == first


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(corpus_documents(["storage_pool", "storage_vol"])))
def test_mutants_raise_only_virt_errors(doc):
    check_mutant(doc)


def test_volume_without_capacity_needs_the_flag():
    vol = b"<volume><name>a</name><target><path>/x</path></target></volume>"
    with pytest.raises(XMLError, match="missing capacity element"):
        normalize(vol)
    assert "<capacity unit='bytes'>0</capacity>" in normalize(vol, flags="NO_CAPACITY")


def test_volume_units_and_pool_formats():
    disk_pool = b"<pool type='disk'><name>d</name><source><device path='/dev/sda'/></source>" \
                b"<target><path>/dev</path></target></pool>"
    vol = parse(b"<volume><name>sda1</name><capacity unit='KB'>3</capacity>"
                b"<target><path>/dev/sda1</path></target></volume>", pool_xml=disk_pool)
    assert isinstance(vol, Volume)
    assert vol.capacity_bytes == 3000 and vol.allocation_bytes == 3000
    assert vol.target.format_type == "none"
    with pytest.raises(ConfigUnsupportedError, match="unknown volume format type qcow2"):
        parse(b"<volume><name>a</name><capacity>1</capacity><target><format type='qcow2'/></target></volume>",
              pool_xml=disk_pool)
    logical = b"<pool type='logical'><name>vg</name></pool>"
    vol = parse(b"<volume><name>lv</name><capacity>1</capacity><target><format type='qcow2'/></target></volume>",
                pool_xml=logical)
    assert vol.target.format is None


def test_pool_defaults_by_type():
    pool = parse(b"<pool type='logical'><name>vg0</name><source><device path='/dev/sdb'/></source></pool>")
    assert isinstance(pool, Pool)
    assert pool.target.path == "/dev/vg0" and pool.source.name == "vg0"
    assert pool.source.format_type == "lvm2" and len(pool.uuid) == 36
    rbd = parse(b"<pool type='rbd'><source><name>images</name><host name='mon'/></source></pool>")
    assert rbd.name == "images" and rbd.target is None


@pytest.mark.parametrize("xml, error", [
    (b"<pool type='dir'><name>a/b</name><target><path>/x</path></target></pool>", "cannot contain '/'"),
    (b"<pool type='dir'><name>a</name></pool>", "missing storage pool target path"),
    (b"<pool type='netfs'><name>a</name><source><dir path='/x'/></source><target><path>/m</path></target></pool>",
     "missing storage pool source host name"),
    (b"<pool type='rbd'><name>a</name><source><host name='h'/></source></pool>", "mandatory for RBD pool"),
    (b"<pool type='dir'><name>a</name><target><path>/x</path><permissions><mode>0999</mode></permissions>"
     b"</target></pool>", "malformed octal mode"),
    (b"<pool type='scsi'><name>a</name><source><adapter type='fc_host' wwnn='1'/></source>"
     b"<target><path>/x</path></target></pool>", "'wwnn' and 'wwpn' must be specified"),
    (b"<pool type='iscsi-direct'><name>a</name><source><host name='h'/><device path='d'/></source></pool>",
     "missing initiator IQN"),
    (b"<pool type='bogus'><name>a</name></pool>", "invalid value 'bogus'"),
])
def test_pool_errors(xml, error):
    with pytest.raises(VirtError, match=error):
        parse(xml)


def test_helpers():
    assert sanitize_path("//a//b/") == "//a/b" and sanitize_path("///a") == "/a" and sanitize_path("/") == "/"
    assert scale_integer(1, "GiB") == 2**30 and scale_integer(1, "GB") == 10**9 and scale_integer(5, None) == 5
    with pytest.raises(VirtError, match="unknown suffix"):
        scale_integer(1, "XB")
