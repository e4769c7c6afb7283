"""Networks and storage volumes a guest names, resolved through the secondary drivers of a connection to
the driver's own URI (as libvirt's qemu driver asks network:///system and its storage driver).

The driver never imports the network or storage packages: it asks ``virt.core`` for a connection to its
own URI, which fills the network and storage kinds from the installed secondary drivers (same embed root).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lxml import etree
from virt.driver.qemu.volumes import Volume
from virt.util.errors import ErrorDomain, OperationFailedError

if TYPE_CHECKING:
    from virt.core.connection import Connection
    from virt.driver.qemu.state import Settings

QEMU = ErrorDomain.QEMU


def driver_uri(settings: Settings) -> str:
    """The URI of the driver instance ``settings`` describes (an embed root keeps its ``root``)."""
    if settings.mode == "embed":
        return f"qemu:///embed?root={settings.config_dir.parent.parent}"
    return f"qemu:///{settings.mode}"


class Secondary:
    """A connection to the driver's own URI, opened on first use; ``close()`` when done."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._conn: Connection | None = None

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            import virt.core

            self._conn = virt.core.open(driver_uri(self.settings))
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    def __enter__(self) -> Secondary:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def bridge(self, name: str) -> str:
        """The bridge of active network ``name`` (NO_NETWORK if there is none of that name)."""
        network = self.conn.lookup_network(name)
        if not network.is_active():
            raise OperationFailedError(f"network '{name}' is not active", domain=QEMU)
        return str(network.bridge_name())

    def port_create(self, network: str, xml: str) -> tuple[str, Any]:
        """A port on active network ``network`` for the <networkport> ``xml``: its UUID and the port
        as the network completed it (how to plug it, the port group's bandwidth), parsed."""
        net = self.conn.lookup_network(network)
        if not net.is_active():
            raise OperationFailedError(f"network '{network}' is not active", domain=QEMU)
        ref = self.conn.call("network_port_create_xml", net.ref, xml, 0)
        return str(ref.uuid), etree.fromstring(self.conn.call("network_port_get_xml_desc", ref, 0).encode())

    def _port(self, network: str, uuid: str) -> Any:
        return self.conn.call("network_port_lookup_by_uuid", self.conn.lookup_network(network).ref, uuid)

    def port_delete(self, network: str, uuid: str) -> None:
        self.conn.call("network_port_delete", self._port(network, uuid), 0)

    def port_set_parameters(self, network: str, uuid: str, params: dict[str, int]) -> None:
        """virNetworkPortSetParameters: the port's new <bandwidth> (its floor moves on the network's bridge)."""
        self.conn.call("network_port_set_parameters", self._port(network, uuid), params, 0)

    def volume(self, pool_name: str, vol_name: str) -> Volume:
        """Volume ``vol_name`` of pool ``pool_name``: type, path, pool definition and target format."""
        pool = self.conn.lookup_storage_pool(pool_name)
        if not pool.is_active():
            raise OperationFailedError(f"storage pool '{pool_name}' containing volume '{vol_name}' is not active",
                                       domain=QEMU)
        vol = pool.lookup_volume(vol_name)
        vol_el = etree.fromstring(vol.xml_desc().encode())
        extra: dict[str, str] = {}
        fmt = vol_el.find("target/format")
        if fmt is not None and fmt.get("type"):
            extra["format"] = str(fmt.get("type"))
        return Volume(vol_el.get("type", "file"), vol.path(), etree.fromstring(pool.xml_desc().encode()), extra)
