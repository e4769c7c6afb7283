"""The test driver through virt's public API: shared and custom node states, events, the calls
libvirt's test driver lacks (devices, secrets, filters, leases, volume wipe/resize), thread safety."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import virt.core
from virt.core.connection import Connection
from virt.core.enums import (
    ConnectListAllDomainsFlags as LF,
)
from virt.core.enums import (
    DomainEventID,
    DomainEventType,
    DomainState,
    SecretUsageType,
)
from virt.core.enums import (
    DomainModificationImpact as MI,
)
from virt.util.errors import ErrorDomain, ErrorNumber, VirtError

T2 = ("<domain type='test'><name>t2</name><uuid>11111111-2222-3333-4444-000000000002</uuid>"
      "<memory>1048576</memory><vcpu>2</vcpu><os><type>hvm</type></os></domain>")
DISK = "<disk type='file' device='disk'><source file='/guest/extra.img'/><target dev='vdb' bus='virtio'/></disk>"
NIC = "<interface type='network'><mac address='52:54:00:aa:bb:cc'/><source network='default'/></interface>"


@pytest.fixture
def conn() -> Iterator[Connection]:
    """A connection to test:///default, fresh: no other connection of this process holds the state."""
    c = virt.core.open("test:///default")
    assert c.lookup_domain("test").id() == 1, "test:///default state leaked from another test"
    yield c
    c.close()


def error_of(fn: Any, *args: Any) -> VirtError:
    with pytest.raises(VirtError) as info:
        fn(*args)
    return info.value


def wait_for(events: list[Any], count: int) -> None:
    deadline = time.monotonic() + 5
    while len(events) < count and time.monotonic() < deadline:
        time.sleep(0.01)


# ----------------------------------------------------------------------------- plugin and open


def test_plugin_registers_the_test_hypervisor_for_every_kind() -> None:
    from virt.core.driver import KINDS
    from virt.core.drivers.test import plugin
    from virt.core.plugin import get_plugin_manager
    from virt.core.registry import build_registry

    reg = build_registry(get_plugin_manager(False, (plugin,)))
    info = reg.drivers["test"]
    assert (info.kind, info.uri_schemes, info.objects) == ("hypervisor", ("test",), KINDS)
    assert info.load().__name__ == "TestDriver"


def test_plugin_module_is_import_light() -> None:
    code = ("import sys, virt.core.drivers.test.plugin; "
            "print(sorted(m for m in sys.modules if m.startswith(('virt.core.drivers.test.', 'virt.conf', 'lxml'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['virt.core.drivers.test.plugin']"


def test_opening_without_a_path_is_refused() -> None:
    err = error_of(virt.core.open, "test:///")
    assert (err.code, err.domain, str(err)) == (
        ErrorNumber.INVALID_ARG, ErrorDomain.TEST, "invalid argument: testOpen: supply a path or use test:///default")


def test_default_state_is_shared_and_dropped_with_its_last_connection(conn: Connection) -> None:
    other = virt.core.open("test:///default")
    conn.lookup_domain("test").suspend()
    assert other.lookup_domain("test").state()[0] == DomainState.PAUSED
    other.close()
    assert conn.lookup_domain("test").state()[0] == DomainState.PAUSED
    conn.close()
    fresh = virt.core.open("test:///default")
    assert fresh.lookup_domain("test").state() == (DomainState.RUNNING, 0)
    fresh.close()


def test_events_of_one_connection_reach_the_others(conn: Connection) -> None:
    other = virt.core.open("test:///default")
    seen: list[Any] = []
    other.domain_event_register(DomainEventID.LIFECYCLE, lambda ev: seen.append((ev.obj.name, *ev.payload)))
    conn.lookup_domain("test").destroy()
    wait_for(seen, 1)
    other.close()
    assert seen == [("test", DomainEventType.STOPPED, 1)]


def test_read_only_connections_cannot_change_anything(conn: Connection) -> None:
    ro = virt.core.open("test:///default", readonly=True)
    try:
        assert ro.lookup_domain("test").info().state == DomainState.RUNNING
        assert error_of(ro.lookup_domain("test").destroy).code == ErrorNumber.OPERATION_DENIED
        assert error_of(ro.define_domain, T2).code == ErrorNumber.OPERATION_DENIED
    finally:
        ro.close()
    assert conn.lookup_domain("test").is_active()


# ----------------------------------------------------------------------------- custom node files

NODE = """<node xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
  <cpu><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>2</threads><active>6</active>
       <mhz>2600</mhz><model>x86_64</model></cpu>
  <memory>8192000</memory>
  <domain file='guest.xml'/>
  <domain type='test'>
    <name>paused</name><uuid>11111111-2222-3333-4444-00000000000a</uuid><memory>524288</memory>
    <os><type>hvm</type></os>
    <test:runstate>3</test:runstate>
    <test:transient/>
  </domain>
  <domain type='test'>
    <name>saved</name><uuid>11111111-2222-3333-4444-00000000000b</uuid><memory>524288</memory>
    <os><type>hvm</type></os>
    <test:runstate>5</test:runstate>
    <test:hasmanagedsave/>
    <test:domainsnapshot>
      <name>snap1</name><state>shutoff</state><creationTime>1234567890</creationTime><active>1</active>
    </test:domainsnapshot>
  </domain>
  <network file='net.xml'/>
  <pool type='dir'>
    <name>pool</name><uuid>33333333-2222-3333-4444-00000000000a</uuid><target><path>/pool</path></target>
    <volume><name>disk.img</name><capacity unit='G'>2</capacity><allocation unit='M'>300</allocation></volume>
    <volume file='vol.xml'/>
  </pool>
  <auth><user password='secret'>admin</user></auth>
</node>
"""


@pytest.fixture
def node_file(tmp_path: Path) -> Path:
    (tmp_path / "guest.xml").write_text("<domain type='test'><name>guest</name><memory>1048576</memory>"
                                        "<vcpu>4</vcpu><os><type>hvm</type></os></domain>")
    (tmp_path / "net.xml").write_text("<network><name>lan</name><bridge name='br9'/></network>")
    (tmp_path / "vol.xml").write_text("<volume><name>other.img</name><capacity>1000</capacity></volume>")
    (tmp_path / "node.xml").write_text(NODE)
    return tmp_path / "node.xml"


def test_custom_node_file_with_relative_files_and_test_namespace(node_file: Path) -> None:
    with virt.core.open(f"test://{node_file}") as c:
        info = c.node_info()
        assert (info.model, info.memory, info.cpus, info.mhz, info.nodes, info.sockets, info.cores,
                info.threads) == ("x86_64", 8192000, 6, 2600, 1, 1, 4, 2)
        assert c.free_memory() == 0  # only test:///default has NUMA cells
        states = {d.name(): (d.state(), d.id(), d.is_persistent()) for d in c.list_all_domains()}
        assert states == {"guest": ((DomainState.RUNNING, 0), 1, True),
                          "paused": ((DomainState.PAUSED, 0), 2, False),
                          "saved": ((DomainState.SHUTOFF, 0), -1, True)}
        saved = c.lookup_domain("saved")
        assert saved.has_managed_save(0) == 1
        assert [s.name() for s in saved.snapshots()] == ["snap1"]
        assert saved.snapshot_current().name() == "snap1"
        assert [d.name() for d in c.list_all_domains(LF.MANAGEDSAVE | LF.HAS_SNAPSHOT)] == ["saved"]
        assert c.lookup_network("lan").is_active()
        pool = c.lookup_storage_pool("pool")
        assert sorted(v.name() for v in pool.list_all_volumes()) == ["disk.img", "other.img"]
        assert pool.lookup_volume("disk.img").path() == "/pool/disk.img"
        assert pool.info().allocation == 300 * 1024**2 + 1000
        assert "<vcpu placement='static'>4</vcpu>" in c.lookup_domain("guest").xml_desc()


def test_custom_node_files_get_a_fresh_state_per_open(node_file: Path) -> None:
    a = virt.core.open(f"test://{node_file}")
    b = virt.core.open(f"test://{node_file}")
    try:
        a.lookup_domain("guest").destroy()
        assert b.lookup_domain("guest").is_active()
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize(("content", "code", "message"), [
    (None, ErrorNumber.XML_ERROR, "XML error: failed to parse xml document '{path}'"),
    ("<foo/>", ErrorNumber.XML_ERROR, "XML error: expecting root element of 'node', not 'foo'"),
    ("<node><cpu><nodes>x</nodes></cpu></node>", ErrorNumber.XML_ERROR, "XML error: invalid node cpu nodes value"),
    (("<node><domain type='test'><name>x</name><memory>1</memory><os><type>hvm</type></os>"
     "<test:runstate xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>5</test:runstate>"
     "<test:transient xmlns:test='http://libvirt.org/schemas/domain/test/1.0'/></domain></node>"),
     ErrorNumber.XML_ERROR, "XML error: transient domain cannot have runstate 'shutoff'"),
])
def test_bad_node_files(tmp_path: Path, content: str | None, code: int, message: str) -> None:
    path = tmp_path / "node.xml"
    if content is not None:
        path.write_text(content)
    err = error_of(virt.core.open, f"test://{path}")
    assert (err.code, str(err)) == (code, message.format(path=path))


# ----------------------------------------------------------------------------- beyond libvirt's test driver


def test_attach_detach_update_devices_live_and_config(conn: Connection) -> None:
    dom = conn.lookup_domain("test")
    added: list[Any] = []
    removed: list[Any] = []
    conn.domain_event_register(DomainEventID.DEVICE_ADDED, lambda ev: added.append(ev.payload))
    conn.domain_event_register(DomainEventID.DEVICE_REMOVED, lambda ev: removed.append(ev.payload))
    dom.attach_device(DISK, MI.LIVE)
    assert "extra.img" in dom.xml_desc() and "extra.img" not in dom.xml_desc(2)
    dom.attach_device(NIC, MI.LIVE | MI.CONFIG)
    live = dom.xml_desc()
    assert "52:54:00:aa:bb:cc" in live and "<target dev='testnet1'/>" in live
    assert "52:54:00:aa:bb:cc" in dom.xml_desc(2)
    assert error_of(dom.attach_device, DISK, MI.LIVE).code == ErrorNumber.OPERATION_INVALID
    dom.update_device(DISK.replace("extra.img", "other.img"), MI.LIVE)
    assert "other.img" in dom.xml_desc() and "extra.img" not in dom.xml_desc()
    dom.detach_device(DISK, MI.LIVE)
    assert "other.img" not in dom.xml_desc()
    err = error_of(dom.detach_device, DISK, MI.LIVE)
    assert (err.code, str(err)) == (ErrorNumber.DEVICE_MISSING, "device not found: no target device vdb")
    dom.detach_device(NIC, MI.CONFIG)
    assert "52:54:00:aa:bb:cc" not in dom.xml_desc(2) and "52:54:00:aa:bb:cc" in dom.xml_desc()
    conn.events.flush()
    assert added == [("vdb",), ("testnet1",)] and removed == [("vdb",)]
    dom.destroy()
    assert error_of(dom.attach_device, DISK, MI.LIVE).code == ErrorNumber.OPERATION_INVALID
    dom.attach_device(DISK, 0)  # CURRENT on an inactive domain: the config
    assert "extra.img" in dom.xml_desc()


def test_secrets(conn: Connection) -> None:
    xml = ("<secret ephemeral='no' private='no'><uuid>aaaaaaaa-2222-3333-4444-555555555555</uuid>"
           "<usage type='volume'><volume>/images/x.img</volume></usage></secret>")
    events: list[Any] = []
    conn.events.subscribe("secret", 0, lambda ev: events.append(ev.payload))
    secret = conn.define_secret(xml)
    assert secret.usage_id() == "/images/x.img" and secret.usage_type() == SecretUsageType.VOLUME
    err = error_of(secret.get_value)
    assert (err.code, str(err)) == (ErrorNumber.NO_SECRET, ("Secret not found: secret "
                                    "'aaaaaaaa-2222-3333-4444-555555555555' does not have a value"))
    secret.set_value(b"hunter2", 0)
    assert secret.get_value() == b"hunter2"
    assert conn.lookup_secret_by_usage(SecretUsageType.VOLUME, "/images/x.img") == secret
    other = xml.replace("aaaaaaaa", "bbbbbbbb")
    assert error_of(conn.define_secret, other).code == ErrorNumber.INTERNAL_ERROR
    assert [s.uuid() for s in conn.list_all_secrets()] == [secret.uuid()]
    secret.undefine()
    assert error_of(conn.lookup_secret, secret.uuid()).code == ErrorNumber.NO_SECRET
    conn.events.flush()
    assert events == [(0, 0), (1, 0)]


def test_nwfilters(conn: Connection) -> None:
    xml = ("<filter name='no-spoof' chain='root'><uuid>cccccccc-2222-3333-4444-555555555555</uuid>"
           "<rule action='drop' direction='out' priority='500'><mac match='no' srcmacaddr='$MAC'/></rule></filter>")
    f = conn.define_nwfilter(xml)
    assert conn.lookup_nwfilter("no-spoof") == f == conn.lookup_nwfilter(f.uuid())
    assert "<mac match='no' srcmacaddr='$MAC'/>" in f.xml_desc()
    err = error_of(conn.define_nwfilter, xml.replace("cccccccc", "dddddddd"))
    assert str(err) == ("operation failed: filter 'no-spoof' already exists with uuid "
                        "cccccccc-2222-3333-4444-555555555555")
    f.undefine()
    assert conn.list_all_nwfilters() == []


def test_network_leases_and_volume_wipe_resize(conn: Connection) -> None:
    assert conn.lookup_network("default").dhcp_leases() == []
    pool = conn.lookup_storage_pool("default-pool")
    vol = pool.create_volume("<volume><name>v.img</name><capacity unit='M'>10</capacity>"
                             "<allocation unit='M'>1</allocation></volume>")
    vol.wipe(0)
    vol.resize(20 * 1024**2, 0)
    assert vol.info()[1:] == (20 * 1024**2, 1024**2)
    vol.resize(5 * 1024**2, 2 | 1)  # DELTA | ALLOCATE
    assert vol.info()[1:] == (25 * 1024**2, 25 * 1024**2)
    assert pool.info().allocation == 25 * 1024**2
    err = error_of(vol.resize, 1024, 0)
    assert str(err) == "invalid argument: can't shrink capacity below existing allocation"
    small = pool.create_volume("<volume><name>s.img</name><capacity unit='M'>10</capacity>"
                               "<allocation unit='M'>1</allocation></volume>")
    err = error_of(small.resize, 5 * 1024**2, 0)
    assert str(err) == ("invalid argument: Can't shrink capacity below current capacity unless shrink flag "
                        "explicitly specified")
    small.resize(5 * 1024**2, 4)  # SHRINK
    assert small.info()[1] == 5 * 1024**2


def test_save_images_are_interchangeable_with_libvirt(conn: Connection, tmp_path: Path) -> None:
    if subprocess.run(["/usr/bin/python3", "-c", "import libvirt"], capture_output=True, check=False).returncode:
        pytest.skip("python3-libvirt is not installed for /usr/bin/python3")
    ours = tmp_path / "ours.save"
    conn.lookup_domain("test").save(str(ours), None, 0)
    code = ("import libvirt, sys; c = libvirt.open('test:///default'); c.lookupByName('test').destroy(); "
            "c.restore(sys.argv[1]); d = c.lookupByName('test'); print(d.state()); d.save(sys.argv[2])")
    theirs = tmp_path / "theirs.save"
    out = subprocess.run(["/usr/bin/python3", "-c", code, str(ours), str(theirs)], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[1, 3]"  # running, restored
    conn.restore_domain(str(theirs))
    assert conn.lookup_domain("test").state() == (DomainState.RUNNING, 3)


# ----------------------------------------------------------------------------- thread safety


def test_concurrent_calls_keep_the_state_consistent(conn: Connection) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            c = virt.core.open("test:///default")
            try:
                name = f"w{n}"
                dom = c.define_domain(T2.replace("t2", name).replace("000000000002", f"{n:012d}"))
                for _ in range(20):
                    dom.create()
                    dom.suspend()
                    dom.resume()
                    dom.destroy()
                dom.undefine()
            finally:
                c.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [d.name() for d in conn.list_all_domains()] == ["test"]
    dom = conn.define_domain(T2)
    dom.create()
    assert dom.id() == 2 + 8 * 20  # every start took the next id, none twice
