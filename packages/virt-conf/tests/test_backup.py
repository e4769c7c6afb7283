"""Domain backup requests: push and pull modes, defaults and rejected combinations."""

from __future__ import annotations

import pytest
from virt.conf import normalize, parse
from virt.conf.backup import DomainBackup
from virt.util.errors import VirtError

PULL = b"""<domainbackup mode='pull'><incremental>c1</incremental>
<server transport='tcp' name='localhost' port='10809'/>
<disks><disk name='vda' backup='yes' type='file' exportname='sda' backupmode='incremental' incremental='c1'>
<driver type='qcow2'/><scratch file='/tmp/s.qcow2'/></disk><disk name='vdb' backup='no' type='block'/></disks>
</domainbackup>"""


def test_pull_typed_view_and_round_trip():
    backup = parse(PULL)
    assert isinstance(backup, DomainBackup)
    assert backup.mode == "pull" and backup.incremental == "c1" and backup.server.port == 10809
    vda, vdb = backup.disks.disks
    assert vda.driver.type == "qcow2" and vda.scratch.get("file") == "/tmp/s.qcow2"
    assert vdb.backup is False and vdb.type is None
    text = backup.format()
    assert parse(text).format() == text


def test_push_is_the_default():
    out = normalize(b"<domainbackup><disks><disk name='vda'><target file='/b'/></disk></disks></domainbackup>")
    assert out.startswith("<domainbackup mode='push'>")
    assert "<disk name='vda' backup='yes' type='file'>" in out


def test_pull_without_server_exports_on_localhost():
    assert "<server transport='tcp' name='localhost'/>" in normalize(b"<domainbackup mode='pull'/>")


@pytest.mark.parametrize("xml, error", [
    (b"<domainbackup mode='sideways'/>", "invalid value 'sideways'"),
    (b"<domainbackup><disks><disk/></disks></domainbackup>", "missing name"),
    (b"<domainbackup><disks><disk name='vda'><scratch file='/s'/></disk></disks></domainbackup>", "push mode"),
    (b"<domainbackup><disks><disk name='vda'><target file='rel'/></disk></disks></domainbackup>", "absolute"),
    (b"<domainbackup mode='pull'><server transport='unix'/></domainbackup>", "socket"),
    (b"<domainbackup><disks><disk name='a' backupmode='full' incremental='c'/></disks></domainbackup>", "full"),
])
def test_errors(xml, error):
    with pytest.raises(VirtError, match=error):
        normalize(xml)
