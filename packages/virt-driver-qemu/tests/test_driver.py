"""The QEMU driver's URIs and directories, and its refusals, without running any guest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from virt.core.uri import URI
from virt.driver.qemu.state import Settings, parse_state, reason_name, state_name
from virt.util.errors import VirtError


def test_embed_root_holds_every_directory(tmp_path: Path) -> None:
    s = Settings.for_uri(URI.parse(f"qemu:///embed?root={tmp_path}"))
    assert s.mode == "embed"
    for d in (s.config_dir, s.state_dir, s.lib_dir, s.cache_dir, s.log_dir, s.qemu_conf):
        assert d.is_relative_to(tmp_path)
    assert s.status_file("g") == tmp_path / "run" / "qemu" / "g.xml"
    # Two roots never share guest cgroups, even for guests of the same name.
    other = Settings.for_uri(URI.parse(f"qemu:///embed?root={tmp_path}/x"))
    assert other.cgroup_driver != s.cgroup_driver


@pytest.mark.parametrize("uri, message", [
    ("qemu:///embed", "root parameter is required"),
    ("qemu:///embed?root=relative", "must be absolute"),
    ("qemu:///nonsense", "unexpected QEMU URI path '/nonsense'"),
])
def test_bad_uris_are_refused(uri: str, message: str) -> None:
    with pytest.raises(VirtError, match=message):
        Settings.for_uri(URI.parse(uri))


def test_system_and_session_directories() -> None:
    if os.geteuid() == 0:
        s = Settings.for_uri(URI.parse("qemu:///system"))
        assert s.config_dir == Path("/etc/virt/qemu") and s.state_dir == Path("/run/virt/qemu")
    session = Settings.for_uri(URI.parse("qemu:///session"))
    assert session.mode == "session" and not session.config_dir.is_relative_to("/etc")


def test_states_and_reasons_round_trip() -> None:
    for state, reason in ((1, 1), (3, 1), (3, 11), (5, 2), (5, 7), (4, 0), (6, 1)):
        assert parse_state(state_name(state), reason_name(state, reason)) == (state, reason)
    assert (state_name(5), reason_name(5, 7)) == ("shutoff", "from-snapshot")


def test_save_image_header_is_libvirts(tmp_path: Path) -> None:
    from virt.driver.qemu import saveimage

    head, offset = saveimage._header(saveimage.MAGIC, b"<domain type='qemu'><name>x</name></domain>", True)
    assert head.startswith(b"LibvirtQemudSave") and len(head) == offset and offset % 4096 == 0
    path = tmp_path / "img"
    path.write_bytes(head + b"QEVM")
    was_running, tree, data = saveimage.read_header(path)
    assert was_running and tree.findtext("name") == "x" and data == offset
    path.write_bytes(head.replace(b"Save", b"Part", 1))
    with pytest.raises(VirtError, match="save image is incomplete"):
        saveimage.read_header(path)
