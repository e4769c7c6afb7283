"""Pool volumes and networks a guest names, resolved through the secondary drivers of the driver's own URI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import virt.core
from lxml import etree
from virt.core.uri import URI
from virt.driver.qemu import volumes
from virt.driver.qemu.host import shutdown_hosts
from virt.driver.qemu.secondary import Secondary, driver_uri
from virt.driver.qemu.state import Settings
from virt.util.errors import ErrorNumber, VirtError


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    yield Settings.for_uri(URI.parse(f"qemu:///embed?root={tmp_path}"))
    shutdown_hosts(tmp_path)


def test_driver_uri_is_the_drivers_own(tmp_path: Path, settings: Settings) -> None:
    assert driver_uri(settings) == f"qemu:///embed?root={tmp_path}"
    assert driver_uri(Settings.for_uri(URI.parse("qemu:///session"))) == "qemu:///session"


def test_unknown_pool_and_network_are_libvirts_errors(settings: Settings) -> None:
    with Secondary(settings) as sec:
        with pytest.raises(VirtError, match="no storage pool with matching name 'nopool'") as err:
            sec.volume("nopool", "v")
        if err.value.code == ErrorNumber.NO_SUPPORT:
            pytest.skip("no storage secondary driver installed")
        assert err.value.code == ErrorNumber.NO_STORAGE_POOL
        with pytest.raises(VirtError, match="no network with matching name 'nonet'") as err:
            sec.bridge("nonet")
        assert err.value.code == ErrorNumber.NO_NETWORK


def test_a_dir_pool_volume_becomes_a_file_disk_of_its_format(tmp_path: Path, settings: Settings) -> None:
    images = tmp_path / "images"
    images.mkdir()
    with virt.core.open(driver_uri(settings)) as conn:
        try:
            pool = conn.create_storage_pool(f"<pool type='dir'><name>p</name><target><path>{images}</path>"
                                            "</target></pool>")
        except VirtError as err:
            if err.code == ErrorNumber.NO_SUPPORT:
                pytest.skip("no storage secondary driver installed")
            raise
        try:
            pool.create_volume("<volume><name>v.img</name><capacity>1048576</capacity>"
                               "<target><format type='raw'/></target></volume>")
            with Secondary(settings) as sec:
                vol = sec.volume("p", "v.img")
                assert (vol.type, vol.path, vol.extra, vol.pool.get("type")) == \
                    ("file", str(images / "v.img"), {"format": "raw"}, "dir")
                with pytest.raises(VirtError) as err:
                    sec.volume("p", "missing")
                assert err.value.code == ErrorNumber.NO_STORAGE_VOL

                class Dom:
                    volume_resolver = sec.volume

                disk = etree.fromstring("<disk type='volume' device='disk'><source pool='p' volume='v.img'/>"
                                        "<target dev='vda' bus='virtio'/></disk>")
                volumes.translate(Dom(), disk)  # type: ignore[arg-type]
                actual = disk.find(volumes.ACTUAL)
                assert actual is not None
                assert (actual.get("type"), actual.get("format"), actual.find("source").get("file")) == \
                    ("file", "raw", str(images / "v.img"))
        finally:
            pool.destroy()
