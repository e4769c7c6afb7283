"""The <secret> format on libvirt's corpus."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).parent))  # the shared corpus helpers beside this file
from corpus_cases import (
    check_case,
    check_fixed_point,
    check_mutant,
    corpus_documents,
    mutated,
    params,
)
from virt.conf import normalize, parse
from virt.conf.secret import Secret
from virt.util.errors import ConfigUnsupportedError, InternalError, XMLError

SUITE = "secret"
#: Cases not passing yet, with the reason (none today).
XFAIL: dict[str, str] = {}


@pytest.mark.parametrize("case", params(SUITE, XFAIL))
def test_corpus(case):
    check_case(case)


@pytest.mark.parametrize("case", params(SUITE, {}))
def test_fixed_point(case):
    check_fixed_point(case)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(corpus_documents([SUITE])))
def test_mutants_raise_only_virt_errors(doc):
    check_mutant(doc)


@pytest.mark.parametrize("usage, child", [("volume", "volume"), ("ceph", "name"), ("iscsi", "target"),
                                          ("tls", "name"), ("vtpm", "name")])
def test_usage_types(usage, child):
    s = parse(f"<secret><usage type='{usage}'><{child}>id with spaces</{child}></usage></secret>")
    assert isinstance(s, Secret)
    assert s.usage_type == usage and s.usage_id == "id with spaces"
    assert not s.is_ephemeral and not s.is_private and s.uuid
    out = s.format()
    assert out.startswith("<secret ephemeral='no' private='no'>") and f"<{child}>id with spaces</{child}>" in out


def test_rejections():
    with pytest.raises(XMLError, match="invalid value of 'private'"):
        normalize("<secret private='maybe'/>")
    with pytest.raises(ConfigUnsupportedError, match="unknown secret usage type bogus"):
        normalize("<secret><usage type='bogus'/></secret>")
    with pytest.raises(InternalError, match="Ceph usage specified, but name is missing"):
        normalize("<secret><usage type='ceph'/></secret>")
