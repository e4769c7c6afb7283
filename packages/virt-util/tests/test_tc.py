"""Tests for virt.util.tc: the commands as data, and limits set and cleared on a veth in a real netns."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from virt.util.errors import ErrorDomain, VirtError
from virt.util.tc import Limits, Rate, Tc, ifb_name, set_commands


def test_rate_from_attrs_and_back() -> None:
    rate = Rate.from_attrs({"average": "1000", "burst": "64"})
    assert rate == Rate(average=1000, burst=64)
    assert rate is not None and rate.attrs() == {"average": "1000", "burst": "64"}
    assert Rate.from_attrs(None) is None


def test_limits_of_a_model_without_directions_is_none() -> None:
    class Bandwidth:
        inbound = None
        outbound = None

    assert Limits.of(Bandwidth()) is None
    assert Limits.of(None) is None


def test_set_commands_swapped_puts_inbound_on_egress() -> None:
    cmds = set_commands("tap0", Limits(Rate(average=1000, peak=2000, burst=256), Rate(average=500)))
    assert cmds[:2] == [["qdisc", "del", "dev", "tap0", "root"], ["qdisc", "del", "dev", "tap0", "ingress"]]
    cls = next(c for c in cmds if c[:2] == ["class", "add"])
    assert cls[cls.index("rate") + 1] == "1000kbps" and cls[cls.index("ceil") + 1] == "2000kbps"
    assert cls[cls.index("burst") + 1] == "256kb"
    police = next(c for c in cmds if "police" in c)
    assert police[police.index("rate") + 1] == "500kbps"
    assert police[police.index("burst") + 1] == "500kb"  # libvirt's default burst: the average, in KiB


def test_set_commands_unswapped_puts_outbound_on_egress() -> None:
    cmds = set_commands("eth0", Limits(None, Rate(average=300)), swapped=False)
    cls = next(c for c in cmds if c[:2] == ["class", "add"])
    assert cls[cls.index("rate") + 1] == "300kbps"
    assert not any("police" in c for c in cmds)


def _sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=check)


@pytest.fixture
def netns() -> Iterator[str]:
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("tc") is None:
        pytest.skip("needs root and iproute2 (ip, tc)")
    name = f"vtc{uuid.uuid4().hex[:8]}"
    _sh("ip", "netns", "add", name)
    try:
        _sh("ip", "-n", name, "link", "add", "vth0", "type", "veth", "peer", "name", "vth1")
        _sh("ip", "-n", name, "link", "set", "vth0", "up")
        _sh("ip", "-n", name, "link", "set", "vth1", "up")
        yield name
    finally:
        _sh("ip", "netns", "del", name, check=False)


def _links(ns: str) -> set[str]:
    return {link["ifname"] for link in json.loads(_sh("ip", "-n", ns, "-j", "link").stdout)}


@pytest.mark.root
def test_set_and_clear_on_a_real_device(netns: str) -> None:
    tc = Tc(netns)
    tc.set("vth0", Limits(Rate(average=200, peak=400, burst=64), Rate(average=100)))
    # tc's kbps (libvirt's unit) is 1000 bytes/s: 200 -> 1.6 Mbit/s
    assert tc.htb_classes("vth0")["1:1"] == {"rate": 1_600_000, "ceil": 3_200_000}
    kinds = {q["kind"] for q in tc.show("qdisc", "vth0")}
    assert {"htb", "ingress"} <= kinds
    if any("police" in d for d in tc.degraded):
        # the host lacks the police action: the outbound limit is shaped on an ifb device instead
        ifb = ifb_name("vth0")
        assert ifb in _links(netns)
        assert tc.htb_classes(ifb)["1:1"]["rate"] == 800_000
    tc.clear("vth0")
    assert not {"htb", "ingress"} & {q["kind"] for q in tc.show("qdisc", "vth0")}
    assert ifb_name("vth0") not in _links(netns)


@pytest.mark.root
def test_set_replaces_previous_limits(netns: str) -> None:
    tc = Tc(netns)
    tc.set("vth0", Limits(Rate(average=200), Rate(average=100)))
    tc.set("vth0", Limits(Rate(average=800)))
    assert tc.htb_classes("vth0")["1:1"]["rate"] == 6_400_000
    assert "ingress" not in {q["kind"] for q in tc.show("qdisc", "vth0")}
    assert ifb_name("vth0") not in _links(netns)
    tc.clear("vth0")


@pytest.mark.root
def test_missing_device_is_a_virt_error_in_the_given_domain(netns: str) -> None:
    with pytest.raises(VirtError) as err:
        Tc(netns, domain=ErrorDomain.QEMU).set("nosuchdev", Limits(Rate(average=100)))
    assert err.value.domain == ErrorDomain.QEMU
    assert "tc qdisc add dev nosuchdev" in str(err.value)
