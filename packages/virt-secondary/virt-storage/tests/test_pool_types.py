"""Pool types this driver has no backend for: refused at definition, in libvirt's words for a
daemon built without that backend."""

from __future__ import annotations

import pytest
from virt.core.connection import Connection
from virt.util.errors import ErrorNumber, VirtError

#: pool type -> (its virStoragePoolType number, a definition that parses)
GAPS = {
    "mpath": (8, "<pool type='mpath'><name>p</name><target><path>/dev/mapper</path></target></pool>"),
    "rbd": (9, "<pool type='rbd'><name>p</name><source><name>rbdpool</name><host name='mon1'/></source></pool>"),
    "sheepdog": (10, "<pool type='sheepdog'><name>p</name><source><name>sd</name><host name='sd1'/></source></pool>"),
    "gluster": (11, "<pool type='gluster'><name>p</name><source><name>vol</name><host name='g1'/></source></pool>"),
    "zfs": (12, "<pool type='zfs'><name>p</name><source><name>tank</name></source></pool>"),
    "vstorage": (13, "<pool type='vstorage'><name>p</name><source><name>cluster</name></source>"
                     "<target><path>/mnt/vstorage</path></target></pool>"),
}


@pytest.mark.parametrize("pool_type", sorted(GAPS))
def test_unsupported_pool_types_are_refused(conn: Connection, pool_type: str) -> None:
    number, xml = GAPS[pool_type]
    for make in (lambda: conn.define_storage_pool(xml), lambda: conn.create_storage_pool(xml, 0)):
        with pytest.raises(VirtError) as err:
            make()
        assert err.value.code == ErrorNumber.INTERNAL_ERROR
        assert err.value.message == f"internal error: missing backend for pool type {number} ({pool_type})"
    assert conn.list_all_storage_pools(0) == []
