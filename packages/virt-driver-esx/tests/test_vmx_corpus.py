"""Every case of libvirt's vmx2xml and xml2vmx suites, converted in-process and through `virt`."""

from __future__ import annotations

from typing import Any

import pytest
from esx_helpers import canonical_xml, corpus_cases, read_text, vmx_pairs
from virt.driver.esx.vmx import from_native, to_native
from virt.util.errors import VirtError

#: Cases known to differ from libvirt, with the reason (none at the moment).
KNOWN_FAILURES: dict[str, str] = {}


def _param(case: dict[str, Any]) -> Any:
    marks = []
    if case["name"] in KNOWN_FAILURES:
        marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[case["name"]]))
    return pytest.param(case, id=case["name"], marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in corpus_cases("vmx2xml")])
def test_vmx2xml(case: dict[str, Any]) -> None:
    text = read_text(case["dir"] / case["input"])
    if case["mode"] == "fail":
        with pytest.raises(VirtError):
            from_native(text, **case.get("params", {}))
        return
    got = from_native(text, **case.get("params", {}))
    assert canonical_xml(got) == canonical_xml((case["dir"] / case["expected"]).read_bytes())


@pytest.mark.parametrize("case", [_param(c) for c in corpus_cases("xml2vmx")])
def test_xml2vmx(case: dict[str, Any]) -> None:
    xml = read_text(case["dir"] / case["input"])
    got = to_native(xml, **case.get("params", {}))
    assert vmx_pairs(got) == vmx_pairs(read_text(case["dir"] / case["expected"]))


@pytest.mark.parametrize("case", [_param(c) for c in corpus_cases("vmx2xml") if c["mode"] != "fail"])
def test_vmx2xml_output_converts_back(case: dict[str, Any]) -> None:
    """What vmx2xml prints is domain XML the VMX writer accepts, and reading the result gives it back
    (the writer keeps all the reader understood, except what VMX cannot hold: SATA disks)."""
    xml = from_native(read_text(case["dir"] / case["input"]))
    if "bus='sata'" in xml:
        with pytest.raises(VirtError, match="sata"):
            to_native(xml, virtualHW_version=8)
        return
    vmx = to_native(xml, virtualHW_version=8)
    assert canonical_xml(from_native(vmx)) == canonical_xml(xml)


def test_cli_runs_both_directions(esx_registry: Any, tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """`virt domxml-from-native/-to-native vmware-vmx` reach the converters, with the plugin's options."""
    from virt.core.cli.main import main

    vmx = tmp_path / "g.vmx"
    vmx.write_text('config.version = "8"\nvirtualHW.version = "4"\ndisplayName = "g"\n'
                   'scsi0.present = "true"\nscsi0:0.present = "true"\nscsi0:0.fileName = "g.vmdk"\n')
    assert main(["domxml-from-native", "vmware-vmx", str(vmx), "--datacenter-path", "dc1/dc2"]) == 0
    xml = capsys.readouterr().out
    assert "<vmware:datacenterpath>dc1/dc2</vmware:datacenterpath>" in xml
    assert "<source file='[datastore] directory/g.vmdk'/>" in xml
    path = tmp_path / "g.xml"
    path.write_text(xml)
    assert main(["domxml-to-native", "vmware-vmx", str(path), "--virtualhw-version", "7"]) == 0
    out = capsys.readouterr().out
    assert 'virtualHW.version = "7"' in out and 'vmci0.present = "true"' in out
    assert 'scsi0:0.fileName = "/vmfs/volumes/datastore/directory/g.vmdk"' in out
    assert main(["domxml-to-native", "vmware-vmx", str(path), "--virtualhw-version", "x"]) == 1
    assert "invalid virtualHW version 'x'" in capsys.readouterr().err
