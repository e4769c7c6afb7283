"""Capabilities: libvirt's recorded probes give libvirt's cache XML; live probes and the disk cache."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from virt.driver.qemu import caps as qcaps
from virt.driver.qemu.qapi import path_exists, schema_index

CORPUS = Path(os.environ.get("VIRT_CORPUS", "/work/shared/corpus"))
sys.path.insert(0, str(CORPUS.parent / "tools"))
from corpus_score import compare  # noqa: E402

CASES = [c for c in json.loads((CORPUS / "qemu_caps" / "manifest.json").read_text())
         if c["name"].startswith("caps_")] if CORPUS.is_dir() else []


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_recorded_probe_gives_libvirts_cache_xml(case: dict) -> None:
    d = CORPUS / "qemu_caps"
    got = qcaps.from_replies(d / case["input"]).format_cache()
    expected = (d / case["expected"]).read_bytes()
    assert compare(case["expected"], expected, got.encode()) is None


def test_cache_document_round_trips(corpus: Path) -> None:
    c = qcaps.from_replies(corpus / "qemu_caps" / "caps_8.0.0.x86_64.replies")
    c.recorded = False
    text = c.format_cache()
    again = qcaps.QemuCaps.parse_cache(text)
    assert again.format_cache() == text
    assert again.features == {"virtio-net.failover"}


def test_recorded_probe_facts(corpus: Path) -> None:
    c = qcaps.from_replies(corpus / "qemu_caps" / "caps_8.0.0.x86_64.replies")
    assert c.version_tuple() == (7, 2, 50) and c.arch == "x86_64"
    assert c.has("kvm") and c.has("tcg") and c.has("device.json+hotplug")
    assert c.machine("kvm", None).alias == "pc"  # libvirt's preferred machine comes first
    assert c.canonical_machine("kvm", "q35") == "pc-q35-8.0"
    assert c.default_cpu_model("qemu", "pc-i440fx-8.0") == "qemu64"
    assert "virtio-net.failover" in c.features
    with pytest.raises(Exception):
        c.has("no-such-flag")


def test_schema_paths() -> None:
    schema = schema_index([
        {"name": "cmd", "meta-type": "command", "arg-type": "A", "ret-type": "L", "features": ["f1"]},
        {"name": "A", "meta-type": "object", "members": [{"name": "kind", "type": "E"},
                                                         {"name": "opt", "type": "int", "default": None}],
         "variants": [{"case": "x", "type": "X"}]},
        {"name": "X", "meta-type": "object", "members": [{"name": "inner", "type": "str"}]},
        {"name": "E", "meta-type": "enum", "values": ["a", "b"]},
        {"name": "L", "meta-type": "array", "element-type": "X"},
        {"name": "int", "meta-type": "builtin", "json-type": "int"},
        {"name": "str", "meta-type": "builtin", "json-type": "string"},
    ])
    assert path_exists(schema, "cmd")
    assert path_exists(schema, "cmd/$f1") and not path_exists(schema, "cmd/$f2")
    assert path_exists(schema, "cmd/arg-type/kind/^a") and not path_exists(schema, "cmd/arg-type/kind/^c")
    assert path_exists(schema, "cmd/arg-type/+x/inner") and not path_exists(schema, "cmd/arg-type/+y")
    assert path_exists(schema, "cmd/arg-type/*opt") and not path_exists(schema, "cmd/arg-type/*kind")
    assert path_exists(schema, "cmd/ret-type/inner")  # arrays are looked through
    assert path_exists(schema, "cmd/arg-type/opt/!int")
    assert not path_exists(schema, "nocmd")


def test_live_probe_and_disk_cache(tmp_path: Path, qemu_binary: str) -> None:
    # a private wrapper whose mtime we may change (a copy of the binary would miss its modules)
    binary = tmp_path / "qemu-system-x86_64"
    binary.write_text(f'#!/bin/sh\nexec {qemu_binary} "$@"\n')
    binary.chmod(0o755)
    cache = qcaps.CapsCache(tmp_path / "cache")
    t0 = time.monotonic()
    first = cache.lookup(str(binary))
    probe_time = time.monotonic() - t0
    assert first.has("tcg") and first.version >= 7000000
    assert first.has("kvm") == qcaps.kvm_usable()
    assert first.tcg.machines and first.tcg.cpu_models
    assert cache.path_for(str(binary)).exists()

    fresh = qcaps.CapsCache(tmp_path / "cache")  # a new process: read from disk, no probe
    t0 = time.monotonic()
    again = fresh.lookup(str(binary))
    assert time.monotonic() - t0 < probe_time
    assert again.format_cache() == first.format_cache()

    os.utime(binary, (time.time() + 10, time.time() + 10))  # the binary "changed": probe again
    third = qcaps.CapsCache(tmp_path / "cache").lookup(str(binary))
    assert third.mtime != first.mtime
