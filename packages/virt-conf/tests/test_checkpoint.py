"""Domain checkpoints on libvirt's corpus; the harness's test-only settings are applied through the model."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).parent))  # the shared corpus helpers beside this file
from corpus_cases import check_mutant, corpus_documents, mutated, params, same_xml
from virt.conf import normalize, parse
from virt.conf.checkpoint import CheckpointDisk, CheckpointDisks, DomainCheckpoint
from virt.conf.snapshot import ParentRef
from virt.util.errors import VirtError

SUITE = "checkpoint"
#: Cases not passing yet, with the reason (none today).
XFAIL: dict[str, str] = {}


def run_harness(case: dict[str, Any]) -> str:
    """What qemudomaincheckpointxml2xmltest does around parse and format, done with the public model."""
    p = case.get("params", {})
    flags = set((p.get("flags") or "").split("|"))
    options = {"creation_time": p["creation_time"]} if "creation_time" in p else {}
    if "TEST_REDEFINE" in flags:
        options["flags"] = "REDEFINE"
    chk = parse((case["suite_dir"] / case["input"]).read_bytes(), **options)
    assert isinstance(chk, DomainCheckpoint)
    if "TEST_PARENT" in flags:
        chk.parent = ParentRef(name="1525111885")
    if "TEST_VDA_BITMAP" in flags:
        if chk.disks is None:
            chk.disks = CheckpointDisks(disks=[CheckpointDisk(name="vda", checkpoint="bitmap")])
        chk.disks.disks[0].bitmap = chk.name
    if "TEST_SIZE" in flags:
        chk.disks.disks[0].size = 1048576
        chk.format_size = True
    return chk.format()


@pytest.mark.parametrize("case", params(SUITE, XFAIL))
def test_corpus(case):
    if case["mode"] == "fail":
        with pytest.raises(VirtError) as info:
            normalize((case["suite_dir"] / case["input"]).read_bytes())
        assert str(info.value)
        return
    out = run_harness(case)
    assert same_xml((case["suite_dir"] / case["expected"]).read_bytes(), out), out


@pytest.mark.parametrize("case", params(SUITE, {}))
def test_fixed_point(case):
    if case["mode"] == "fail":
        return
    text = run_harness(case)
    again = parse(text)
    assert isinstance(again, DomainCheckpoint)
    again.format_size = "size=" in text
    assert again.format() == text or "size=" in text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(corpus_documents([SUITE])))
def test_mutants_raise_only_virt_errors(doc):
    check_mutant(doc)


def test_bitmap_names_follow_the_checkpoint():
    chk = parse(b"<domaincheckpoint><name>c9</name><disks><disk name='vda'/><disk name='vdb' checkpoint='no'/>"
                b"</disks></domaincheckpoint>")
    assert [(d.name, d.checkpoint, d.bitmap) for d in chk.disks.disks] == [("vda", "bitmap", "c9"),
                                                                          ("vdb", "no", None)]


def test_size_is_printed_only_on_request():
    chk = parse(b"<domaincheckpoint><name>c</name><disks><disk name='vda' size='9'/></disks></domaincheckpoint>")
    chk.disks.disks[0].size = 5
    assert "size=" not in chk.format()
    chk.format_size = True
    assert "size='5'" in chk.format()
