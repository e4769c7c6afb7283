"""Domain snapshots on libvirt's corpus, with the harness's settings passed as parse options."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).parent))  # the shared corpus helpers beside this file
from corpus_cases import check_mutant, corpus_documents, mutated, params, same_xml
from virt.conf import normalize, parse
from virt.conf.snapshot import DomainSnapshot
from virt.util.errors import VirtError, XMLError

SUITE = "snapshot"
#: Cases not passing yet, with the reason (none today).
XFAIL: dict[str, str] = {}


def case_options(case: dict[str, Any]) -> dict[str, Any]:
    """The harness's clock, owning domain and flags, as parse options."""
    p = case.get("params", {})
    return {k: p[k] for k in ("flags", "creation_time", "domain_uuid") if k in p}


@pytest.mark.parametrize("case", params(SUITE, XFAIL))
def test_corpus(case):
    data = (case["suite_dir"] / case["input"]).read_bytes()
    out = normalize(data, **case_options(case))
    assert same_xml((case["suite_dir"] / case["expected"]).read_bytes(), out), out


@pytest.mark.parametrize("case", params(SUITE, {}))
def test_fixed_point(case):
    data = (case["suite_dir"] / case["input"]).read_bytes()
    first = parse(data, **case_options(case))
    text = first.format()
    second = parse(text, **case_options(case))
    assert second.format() == text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(corpus_documents([SUITE])))
def test_mutants_raise_only_virt_errors(doc):
    check_mutant(doc)


def test_plain_normalize_invents_no_time():
    out = normalize(b"<domainsnapshot><name>s</name><state>running</state></domainsnapshot>")
    assert "creationTime" not in out and "state" not in out


def test_redefine_defaults_and_typed_view():
    snap = parse(b"<domainsnapshot><name>s</name><state>shutoff</state><creationTime>5</creationTime>"
                 b"<disks><disk name='vda' snapshot='external'><source file='/a'/></disk>"
                 b"<disk name='vdb' snapshot='no'/></disks><active>1</active></domainsnapshot>")
    assert isinstance(snap, DomainSnapshot) and snap.is_current
    assert snap.memory.snapshot == "no"  # offline snapshots save no memory
    vda, vdb = snap.disks.disks
    assert vda.type == "file" and vdb.type is None
    assert "<active>1</active>" in snap.format()


@pytest.mark.parametrize("xml, error", [
    (b"<domainsnapshot><memory snapshot='external'/></domainsnapshot>", "require a filename"),
    (b"<domainsnapshot><memory snapshot='manual'/></domainsnapshot>", "'manual' memory"),
    (b"<domainsnapshot><memory file='rel'/></domainsnapshot>", "must be absolute"),
    (b"<domainsnapshot><disks><disk snapshot='external'/></disks></domainsnapshot>", "missing name"),
    (b"<domainsnapshot><creationTime>1</creationTime><state>running</state></domainsnapshot>",
     "must have a name"),
    (b"<domainsnapshot><name>a</name><creationTime>1</creationTime><state>bogus</state></domainsnapshot>",
     "Invalid state"),
])
def test_errors(xml, error):
    with pytest.raises(VirtError, match=error):
        normalize(xml)


def test_bad_flag_clock():
    with pytest.raises(XMLError, match="invalid creation time"):
        normalize(b"<domainsnapshot/>", creation_time="soon")


def test_disk_sources_are_storage_sources():
    """A snapshot disk's <source> is read and printed like a disk's: single quotes, only what its type uses,
    and no <driver> without a format."""
    out = normalize(b"<domainsnapshot><name>s</name><disks>"
                    b"<disk name='vda' snapshot='external' type='network'>"
                    b"<source protocol='nbd' name='export' file='/unused'><host name='127.0.0.1' port='10809'/></source>"
                    b"</disk><disk name='vdb' type='block'><source dev='/dev/sdz' file='/unused'/></disk>"
                    b"</disks></domainsnapshot>")
    assert "<source protocol='nbd' name='export'>\n" in out
    assert "<host name='127.0.0.1' port='10809'/>" in out
    assert "<source dev='/dev/sdz'/>" in out
    assert "/unused" not in out and "<driver" not in out and '"' not in out
