"""The network driver through the public API: discovery by entry point, definitions on disk, lists,
errors and events (no network is started here; see test_plumbing.py for that)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from virt.core.connection import Connection
from virt.core.driver import Driver
from virt.core.enums import ConnectListAllNetworksFlags as LF
from virt.core.enums import NetworkEventID
from virt.core.enums import NetworkEventLifecycleType as Ev
from virt.core.plugin import get_plugin_manager, hookimpl
from virt.core.registry import DriverRegistry, build_registry
from virt.secondary.network import driver as drv_mod
from virt.secondary.network import plugin
from virt.util.errors import ErrorDomain, ErrorNumber, VirtError


class StubHypervisor(Driver):
    """A hypervisor driver that leaves networks to the secondary driver, as qemu and lxc do."""

    name = "stubhv"
    uri_schemes = ("stubhv",)


class StubPlugin:
    @hookimpl
    def virt_register_drivers(self, register: DriverRegistry) -> None:
        register.hypervisor(StubHypervisor, name="stubhv", uri_schemes=("stubhv",))


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[Connection]:
    registry = build_registry(get_plugin_manager(False, (StubPlugin(), plugin)))
    c = Connection(f"stubhv:///system?root={tmp_path}", registry=registry)
    yield c
    c.close()
    drv_mod._shared.clear()


XML = "<network><name>{name}</name><uuid>{uuid}</uuid><forward mode='nat'/><bridge name='{br}'/>" \
      "<ip address='10.{n}.0.1' prefix='24'/></network>"


def net_xml(n: int, name: str | None = None, uuid: str | None = None) -> str:
    return XML.format(name=name or f"net{n}", uuid=uuid or f"00000000-0000-0000-0000-{n:012d}", br=f"vtx{n}", n=n)


def test_entry_point_and_registration() -> None:
    eps = {ep.name: ep.value for ep in entry_points(group="virt")}
    assert eps.get("network") == "virt.secondary.network.plugin"
    reg = build_registry(get_plugin_manager(False, (plugin,)))
    info = reg.secondary_for("network")
    assert info is not None and info.load() is drv_mod.NetworkDriver
    assert "net-dumpdnsmasq" in reg.commands


def test_define_list_undefine_and_files(conn: Connection, tmp_path: Path) -> None:
    net = conn.define_network(net_xml(1))
    assert net.name() == "net1" and not net.is_active() and net.is_persistent()
    assert (tmp_path / "etc" / "network" / "net1.xml").is_file()
    conn.define_network(net_xml(2))
    assert [n.name() for n in conn.list_all_networks(LF.INACTIVE)] == ["net1", "net2"]
    assert conn.list_all_networks(LF.ACTIVE) == []
    net.set_autostart(1)
    assert [n.name() for n in conn.list_all_networks(LF.AUTOSTART)] == ["net1"]
    assert [n.name() for n in conn.list_all_networks(LF.NO_AUTOSTART | LF.PERSISTENT)] == ["net2"]
    assert conn.lookup_network("00000000-0000-0000-0000-000000000002").name() == "net2"
    assert net.bridge_name() == "vtx1"
    net.undefine()
    assert not (tmp_path / "etc" / "network" / "net1.xml").exists()
    assert not (tmp_path / "etc" / "network" / "autostart" / "net1.xml").exists()
    with pytest.raises(VirtError) as err:
        conn.lookup_network("net1")
    assert err.value.code == ErrorNumber.NO_NETWORK and err.value.domain == ErrorDomain.NETWORK
    assert err.value.message == "Network not found: no network with matching name 'net1'"


def test_defaults_bridge_name_and_mac(conn: Connection) -> None:
    first = conn.define_network("<network><name>a</name><forward mode='nat'/><bridge name='vtd%d'/>"
                                "<ip address='10.50.0.1' prefix='24'/></network>")
    second = conn.define_network("<network><name>b</name><bridge name='vtd%d'/></network>")
    assert first.bridge_name() == "vtd0" and second.bridge_name() == "vtd1"
    assert "<mac address='52:54:00:" in first.xml_desc()
    with pytest.raises(VirtError, match="bridge name 'vtd0' already in use."):
        conn.define_network("<network><name>c</name><bridge name='vtd0'/></network>")
    bridged = conn.define_network("<network><name>d</name><forward mode='bridge'/><bridge name='br9'/></network>")
    assert "<mac" not in bridged.xml_desc()  # a host bridge: not ours to configure


def test_duplicates_and_bad_xml(conn: Connection) -> None:
    conn.define_network(net_xml(1))
    with pytest.raises(VirtError, match="network 'net1' is already defined with uuid 00000000-0000-0000-0000-0000"):
        conn.define_network(net_xml(1, name="other", uuid="00000000-0000-0000-0000-000000000001"))
    with pytest.raises(VirtError, match="network 'net1' already exists with uuid 00000000-0000-0000-0000-0000"):
        conn.define_network(net_xml(1, uuid="00000000-0000-0000-0000-000000000099"))
    with pytest.raises(VirtError) as err:
        conn.define_network("<network><name>x</name><ip address='nonsense'/></network>")
    assert err.value.code == ErrorNumber.XML_ERROR and err.value.domain == ErrorDomain.NETWORK
    # redefining with the same name and UUID replaces the definition
    conn.define_network(net_xml(1).replace("10.1.0.1", "10.1.0.254"))
    assert "10.1.0.254" in conn.lookup_network("net1").xml_desc()


def test_errors_on_inactive_networks(conn: Connection) -> None:
    net = conn.define_network(net_xml(3))
    with pytest.raises(VirtError, match="network 'net3' is not active") as err:
        net.destroy()
    assert err.value.code == ErrorNumber.OPERATION_INVALID
    assert net.dhcp_leases() == []
    with pytest.raises(VirtError, match="network is not running"):
        net.update(4, 4, -1, "<host mac='52:54:00:00:00:01' ip='10.3.0.9'/>", 1)
    with pytest.raises(VirtError, match="unsupported flags"):
        conn.list_all_networks(1 << 10)


def test_config_update_of_an_inactive_network(conn: Connection) -> None:
    net = conn.define_network(net_xml(4))
    net.update(3, 9, -1, "<portgroup name='engineering'/>", 0)  # ADD_LAST portgroup, current = config
    assert "<portgroup name='engineering'>\n  </portgroup>" in net.xml_desc()  # libvirt never self-closes it


def test_read_only_connection(conn: Connection, tmp_path: Path) -> None:
    conn.define_network(net_xml(5))
    registry = build_registry(get_plugin_manager(False, (StubPlugin(), plugin)))
    with Connection(f"stubhv:///system?root={tmp_path}", readonly=True, registry=registry) as ro:
        assert [n.name() for n in ro.list_all_networks(LF.INACTIVE)] == ["net5"]
        with pytest.raises(VirtError) as err:
            ro.lookup_network("net5").undefine()
        assert err.value.code == ErrorNumber.OPERATION_DENIED


def test_lifecycle_events_reach_every_connection(conn: Connection, tmp_path: Path) -> None:
    registry = build_registry(get_plugin_manager(False, (StubPlugin(), plugin)))
    seen: list[tuple[str, int]] = []
    done = threading.Event()

    def callback(ev: object) -> None:
        seen.append((ev.obj.name, ev.payload[0]))  # type: ignore[attr-defined]
        if len(seen) == 2:
            done.set()

    with Connection(f"stubhv:///system?root={tmp_path}", registry=registry) as other:
        other.network_event_register(NetworkEventID.LIFECYCLE, callback)
        conn.define_network(net_xml(6)).undefine()
        assert done.wait(5)
    assert seen == [("net6", Ev.DEFINED), ("net6", Ev.UNDEFINED)]


PORT = ("<networkport><uuid>{uuid}</uuid><owner><name>guest</name><uuid>11111111-2222-3333-4444-555555555555"
        "</uuid></owner>{group}<mac address='52:54:00:0a:0b:0{n}'/></networkport>")


def port_xml(n: int, group: str = "") -> str:
    return PORT.format(uuid=f"aaaaaaaa-0000-0000-0000-{n:012d}", n=n, group=f"<group>{group}</group>" if group else "")


def test_ports_of_a_host_bridge_network(conn: Connection) -> None:
    """A network on an existing host bridge needs no plumbing of ours, so it starts without root."""
    net = conn.define_network("<network><name>lan</name><forward mode='bridge'/><bridge name='br-host'/>"
                              "<portgroup name='web'><vlan><tag id='42'/></vlan></portgroup></network>")
    with pytest.raises(VirtError, match="network 'lan' is not active"):
        conn.call("network_port_create_xml", net.ref, port_xml(1), 0)
    net.create()
    assert net.is_active()
    ref = conn.call("network_port_create_xml", net.ref, port_xml(1, "web"), 0)
    xml = conn.call("network_port_get_xml_desc", ref, 0)
    assert "<plug type='bridge' bridge='br-host'/>" in xml
    assert "<tag id='42'/>" in xml  # from the portgroup
    assert "connections='1'" in net.xml_desc() and "connections" not in net.xml_desc(1)
    with pytest.raises(VirtError) as err:
        conn.call("network_port_create_xml", net.ref, port_xml(1), 0)
    assert err.value.code == ErrorNumber.NETWORK_PORT_EXIST
    assert conn.call("network_list_all_ports", net.ref, 0) == [ref]
    assert conn.call("network_port_lookup_by_uuid", net.ref, ref.uuid.upper()) == ref
    conn.call("network_port_delete", ref, 0)
    with pytest.raises(VirtError) as err:
        conn.call("network_port_get_xml_desc", ref, 0)
    assert err.value.code == ErrorNumber.NO_NETWORK_PORT
    net.destroy()
    assert not net.is_active()


def test_ports_of_a_passthrough_pool(conn: Connection) -> None:
    net = conn.define_network("<network><name>pt</name><forward mode='passthrough'>"
                              "<interface dev='eth10'/><interface dev='eth11'/></forward></network>")
    net.create()
    plugs = [conn.call("network_port_get_xml_desc", conn.call("network_port_create_xml", net.ref, port_xml(n), 0), 0)
             for n in (1, 2)]
    assert "<plug type='direct' dev='eth10' mode='passthrough'/>" in plugs[0]
    assert "<plug type='direct' dev='eth11' mode='passthrough'/>" in plugs[1]
    with pytest.raises(VirtError, match="requires exclusive access to interfaces, but none are available"):
        conn.call("network_port_create_xml", net.ref, port_xml(3), 0)
    net.destroy()  # ports go with the running network
    net.create()
    assert conn.call("network_list_all_ports", net.ref, 0) == []
    net.destroy()
