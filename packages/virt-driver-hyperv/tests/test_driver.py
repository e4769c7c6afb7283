"""The Hyper-V driver against a fake host speaking WS-Management on loopback (see wsman_fake.py)."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from virt.core.connection import Connection
from virt.core.enums import ConnectListAllDomainsFlags, DomainEventID, DomainEventType, DomainState
from virt.core.plugin import get_plugin_manager
from virt.core.registry import build_registry
from virt.driver.hyperv import plugin
from virt.driver.hyperv.driver import cpu_model, pack_version
from virt.driver.hyperv.wsman import WSManClient, decode_instance, envelope
from virt.util.errors import AuthFailedError, ErrorNumber, NotFoundError, OperationInvalidError, VirtError
from wsman_fake import FakeDisk, FakeVM, FakeWSMan, Host

WEB = "2C6D1B5E-5B1A-4C8E-9F77-3A1E0D6B4C11"
DB = "8A0F3C2D-11E4-4B8A-A3B0-6C5D4E3F2A10"
IDLE = "F1E2D3C4-B5A6-4978-8695-A4B3C2D1E0F9"


def host() -> Host:
    web_disks = [FakeDisk("ide", 0, 0, r"C:\VMs\web\web.vhdx"), FakeDisk("ide", 1, 0, r"C:\ISO\setup.iso", dvd=True),
                 FakeDisk("scsi", 0, 1, r"D:\data's.vhdx"), FakeDisk("scsi", 0, 2, drive_number=3)]
    return Host(vms=[FakeVM("web", WEB, 2, 4242, 2048, 4096, 2, ["front end", "team: web"], web_disks,
                            [("00155D010203", "External")], {1: r"\\.\pipe\web-com1"}),
                     FakeVM("db", DB, 3, 0, 4096, 1048576, 4),
                     FakeVM("idle", IDLE, 9, 5150, 512, 1048576, 1)])


@pytest.fixture
def authfile(tmp_path: Path) -> Path:
    path = tmp_path / "auth.conf"
    path.write_text("[credentials-lab]\nusername=administrator\npassword=secret\n\n"
                    "[auth-hyperv-127.0.0.1]\ncredentials=lab\n")
    return path


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl (Debian package openssl) is needed to make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    cert, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=hv01.example.org"], check=True, capture_output=True)
    return cert, key


@pytest.fixture
def registry() -> Any:
    return build_registry(get_plugin_manager(False, (plugin,)))


@pytest.fixture
def fake() -> Iterator[FakeWSMan]:
    with FakeWSMan(host()) as server:
        yield server


@pytest.fixture
def conn(fake: FakeWSMan, authfile: Path, registry: Any) -> Iterator[Connection]:
    c = Connection(f"hyperv://127.0.0.1:{fake.port}/?transport=http&authfile={authfile}", registry=registry)
    yield c
    c.close()


# ---------------------------------------------------------------------------------------------- messages

def test_enumerate_envelope_shape() -> None:
    data = envelope("http://h:5985/wsman", "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/*",
                    "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate", "<n:Enumerate/>",
                    {"Name": 'a"<b'}, message_id="1234")
    root = etree.fromstring(data)
    ns = {"s": "http://www.w3.org/2003/05/soap-envelope", "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
          "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"}
    assert root.findtext("s:Header/a:MessageID", namespaces=ns) == "uuid:1234"
    assert root.find("s:Header/w:ResourceURI", ns).get("{http://www.w3.org/2003/05/soap-envelope}mustUnderstand") \
        == "true"
    assert root.findtext("s:Header/w:SelectorSet/w:Selector[@Name='Name']", namespaces=ns) == 'a"<b'


def test_instance_decoding() -> None:
    el = etree.fromstring(
        '<p:Msvm_ComputerSystem xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2/'
        'Msvm_ComputerSystem" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><p:EnabledState>2'
        '</p:EnabledState><p:InstallDate xsi:nil="true"/><p:OperationalStatus>2</p:OperationalStatus>'
        '<p:OperationalStatus>32783</p:OperationalStatus><p:ProcessID>17</p:ProcessID></p:Msvm_ComputerSystem>')
    obj = decode_instance(el)
    assert obj["EnabledState"] == 2 and obj["ProcessID"] == 17 and obj["InstallDate"] is None
    assert obj["OperationalStatus"] == ["2", "32783"]


def test_version_packing_and_cpu_model() -> None:
    assert pack_version("6.3.9600") == 603_009_600
    assert pack_version("10.0.17763") == 1_000_017_763
    assert cpu_model("Intel(R) Xeon(R) CPU E5-2640 v3 @ 2.60GHz") == "Intel Xeon CPU E5-2640 v3"
    assert cpu_model("Intel(R)  Core(TM) i7-6700 CPU @ 3.40GHz") == "Intel Core i7-6700 CPU"
    # 32 characters do not fit libvirt's model field (31 and a NUL): libvirt fails the call too.
    with pytest.raises(VirtError, match="too long for destination"):
        cpu_model("AMD EPYC 7702P 64-Core Processor")


# ---------------------------------------------------------------------------------------------- connection

def test_host_calls(conn: Connection) -> None:
    assert conn.get_type() == "Hyper-V"
    assert conn.get_version() == 1_000_017_763
    assert conn.get_hostname() == "hv01"
    info = conn.node_info()
    assert tuple(info) == ("Intel Xeon CPU E5-2640 v3", 67108864, 16, 2594, 1, 2, 8, 2)
    assert conn.call("connect_is_secure") == 0


def test_list_and_lookup(conn: Connection, fake: FakeWSMan) -> None:
    # Three guests, the host's own Msvm_ComputerSystem filtered out; paging took Pull requests.
    assert sorted(d.name() for d in conn.list_all_domains()) == ["db", "idle", "web"]
    assert any("enumeration/Pull</a:Action>" in r for r in fake.requests)
    web = conn.lookup_domain("web")
    assert web.ref == ("web", WEB.lower(), 4242)
    assert conn.lookup_domain("db").ref.id == -1
    assert sorted(conn.call("connect_list_domains", -1)) == [4242, 5150]
    assert conn.call("connect_list_defined_domains", -1) == ["db"]
    assert conn.call("domain_lookup_by_id", 5150).name == "idle"
    assert conn.call("domain_lookup_by_uuid", DB.lower()).name == "db"
    with pytest.raises(NotFoundError, match="No domain with name nope") as err:
        conn.lookup_domain("nope")
    assert err.value.code == ErrorNumber.NO_DOMAIN
    with pytest.raises(NotFoundError, match="No domain with ID 1"):
        conn.call("domain_lookup_by_id", 1)
    fake.host.vms.append(FakeVM("web", "0F0F0F0F-0000-4000-8000-000000000001"))
    with pytest.raises(VirtError, match="Multiple domains exist with the name 'web'") as many:
        conn.lookup_domain("web")
    assert many.value.code == ErrorNumber.MULTIPLE_DOMAINS
    fake.host.vms.pop()
    # Quotes in names are escaped in the WQL filter, not able to end the literal.
    fake.vm("db").name = "it's \"db\""
    assert conn.lookup_domain("it's \"db\"").ref.uuid == DB.lower()
    wql = [r for r in fake.requests if "ElementName = 'web'" in r]
    assert wql, "lookups by name are WQL filters sent to the host"


def test_info_state_and_xml(conn: Connection) -> None:
    web = conn.lookup_domain("web")
    assert tuple(conn.call("domain_get_info", web.ref)) == (DomainState.RUNNING, 4194304, 2097152, 2, 0)
    assert conn.call("domain_get_state", conn.lookup_domain("idle").ref, 0) == (DomainState.PAUSED, 0)
    assert conn.call("domain_get_state", conn.lookup_domain("db").ref, 0) == (DomainState.SHUTOFF, 0)
    xml = conn.call("domain_get_xml_desc", web.ref, 0)
    root = etree.fromstring(xml)
    assert root.get("type") == "hyperv" and root.get("id") == "4242"
    assert root.findtext("name") == "web" and root.findtext("uuid") == WEB.lower()
    assert root.findtext("description") == "front end\n\nteam: web"
    assert root.find("maxMemory").attrib == {"slots": "0", "unit": "KiB"} and root.findtext("maxMemory") == "4194304"
    assert root.findtext("memory") == root.findtext("currentMemory") == "2097152"
    assert root.findtext("vcpu") == "2" and root.findtext("os/type") == "hvm"
    assert [c.tag for c in root] == ["name", "uuid", "description", "maxMemory", "memory", "currentMemory", "vcpu",
                                     "os", "clock", "on_poweroff", "on_reboot", "on_crash", "devices"]
    db = etree.fromstring(conn.call("domain_get_xml_desc", conn.lookup_domain("db").ref, 0))
    assert db.get("id") is None and db.find("description") is None
    # Both IDE channels make one controller; unconnected COM ports keep their empty pipe name.
    assert [(c.tag, dict(c.attrib), [(g.tag, dict(g.attrib)) for g in c]) for c in db.find("devices")] == [
        ("controller", {"type": "ide", "index": "0"}, []),
        ("serial", {"type": "pipe"}, [("source", {"path": ""}), ("target", {"port": "1"})]),
        ("serial", {"type": "pipe"}, [("source", {"path": ""}), ("target", {"port": "2"})])]


def test_devices_in_xml(conn: Connection) -> None:
    """Disks through their drives and controllers, a passthrough disk, a NIC on a switch, COM ports."""
    devices = etree.fromstring(conn.call("domain_get_xml_desc", conn.lookup_domain("web").ref, 0)).find("devices")
    disks = [(d.get("type"), d.get("device"), d.find("source").attrib, d.find("target").attrib,
              d.find("address").attrib) for d in devices.iterfind("disk")]

    def drive(controller: int, bus: int, unit: int) -> dict[str, str]:
        return {"type": "drive", "controller": str(controller), "bus": str(bus), "target": "0", "unit": str(unit)}

    # libvirt's order: passthrough disks first, then image files in the order the host lists them.
    assert disks == [
        ("block", "disk", {"dev": "3"}, {"dev": "sdc", "bus": "scsi"}, drive(0, 0, 2)),
        ("file", "disk", {"file": r"C:\VMs\web\web.vhdx"}, {"dev": "hda", "bus": "ide"}, drive(0, 0, 0)),
        ("file", "cdrom", {"file": r"C:\ISO\setup.iso"}, {"dev": "hdc", "bus": "ide"}, drive(0, 1, 0)),
        ("file", "disk", {"file": r"D:\data's.vhdx"}, {"dev": "sdb", "bus": "scsi"}, drive(0, 0, 1))]
    assert [(c.get("type"), c.get("index")) for c in devices.iterfind("controller")] == [("ide", "0"), ("scsi", "0")]
    (nic,) = devices.iterfind("interface")
    assert nic.get("type") == "bridge" and nic.find("mac").get("address") == "00:15:5d:01:02:03"
    assert nic.find("source").get("bridge") == str(uuid.uuid5(uuid.NAMESPACE_DNS, "External")).upper()
    assert [(s.find("target").get("port"), s.find("source").get("path")) for s in devices.iterfind("serial")] == \
        [("1", r"\\.\pipe\web-com1"), ("2", "")]
    assert [c.tag for c in devices] == ["disk"] * 4 + ["controller"] * 2 + ["interface", "serial", "serial"]


def test_power_cycle_with_events(conn: Connection, fake: FakeWSMan) -> None:
    seen: list[tuple[Any, ...]] = []
    conn.events.subscribe("domain", DomainEventID.LIFECYCLE, lambda ev: seen.append(ev.payload))
    db = conn.lookup_domain("db")
    started = conn.call("domain_create_with_flags", db.ref, 0)
    assert started.id > 0 and fake.vm("db").state == 2
    # The start ran as a job: its Msvm_ConcreteJob was polled until Completed.
    assert sum("Msvm_ConcreteJob WHERE" in r for r in fake.requests) == 2
    with pytest.raises(OperationInvalidError, match="Domain is already active"):
        conn.call("domain_create_with_flags", started, 0)
    conn.call("domain_suspend", started)
    assert fake.vm("db").state == 9
    with pytest.raises(OperationInvalidError, match="Domain is not active"):
        conn.call("domain_suspend", started)
    conn.call("domain_resume", started)
    with pytest.raises(OperationInvalidError, match="Domain is not paused"):
        conn.call("domain_resume", started)
    conn.call("domain_destroy_flags", started, 0)
    assert fake.vm("db").state == 3 and conn.lookup_domain("db").ref.id == -1
    with pytest.raises(OperationInvalidError, match="Domain is not active"):
        conn.call("domain_destroy_flags", started, 0)
    changes = [r for r in fake.requests if "RequestStateChange_INPUT" in r]
    assert [etree.fromstring(r.encode()).findtext(".//{*}RequestedState") for r in changes] == \
        ["2", "9", "2", "3"]
    deadline = time.monotonic() + 5
    while len(seen) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [p[0] for p in seen] == [DomainEventType.STARTED, DomainEventType.SUSPENDED, DomainEventType.RESUMED,
                                    DomainEventType.STOPPED]


def test_managed_save_shutdown_reboot(conn: Connection, fake: FakeWSMan) -> None:
    web = conn.lookup_domain("web").ref
    assert conn.call("domain_has_managed_save_image", web, 0) == 0
    conn.call("domain_reboot", web, 0)
    conn.call("domain_reset", web, 0)
    assert fake.vm("web").state == 2
    conn.call("domain_managed_save", web, 0)
    assert fake.vm("web").state == 32769
    assert conn.call("domain_has_managed_save_image", web, 0) == 1
    # A saved guest is shut off (as libvirt maps it) and listed as having a managed save image.
    assert conn.call("domain_get_state", web, 0) == (DomainState.SHUTOFF, 0)
    assert [d.name() for d in conn.list_all_domains(ConnectListAllDomainsFlags.MANAGEDSAVE)] == ["web"]
    with pytest.raises(OperationInvalidError, match="Domain is not active or in state transition"):
        conn.call("domain_shutdown_flags", web, 0)
    conn.call("domain_managed_save_remove", web, 0)
    assert fake.vm("web").state == 3
    with pytest.raises(OperationInvalidError, match="Domain has no managed save image"):
        conn.call("domain_managed_save_remove", web, 0)
    conn.call("domain_create_with_flags", web, 0)
    conn.call("domain_shutdown_flags", web, 0)
    assert fake.shutdowns == ["web"] and fake.vm("web").state == 3
    requested = [etree.fromstring(r.encode()).findtext(".//{*}RequestedState") for r in fake.requests
                 if "RequestStateChange_INPUT" in r]
    assert requested == ["10", "11", "32769", "3", "2"]
    shutdown = next(r for r in fake.requests if "InitiateShutdown_INPUT" in r)
    assert "<p:Force>false</p:Force>" in shutdown and "Planned shutdown via libvirt" in shutdown


def test_state_change_refused_by_host(conn: Connection, fake: FakeWSMan) -> None:
    """The host's own state check (another client changed the guest meanwhile) becomes an error."""
    driver = conn._hv
    out = driver.client.invoke("root/virtualization/v2", "Msvm_ComputerSystem",
                               {"CreationClassName": "Msvm_ComputerSystem", "Name": DB}, "RequestStateChange",
                               {"RequestedState": 9})
    assert out["ReturnValue"] == 32775
    with pytest.raises(VirtError, match="invalid selectors"):
        driver.client.invoke("root/virtualization/v2", "Msvm_ComputerSystem",
                             {"CreationClassName": "Msvm_ComputerSystem", "Name": "nope"}, "RequestStateChange",
                             {"RequestedState": 2})


def test_wql_fault_becomes_error(conn: Connection) -> None:
    """WinRM nests the WMI plugin's fault in its own: the innermost message and the code are reported."""
    with pytest.raises(VirtError, match=r"The query was not syntactically valid. \(code 2150858778\)") as err:
        conn._hv.client.query("root/cimv2", "SELEKT nonsense")
    assert err.value.code == ErrorNumber.INTERNAL_ERROR
    with pytest.raises(VirtError, match="The specified class does not exist in the given namespace"):
        conn._hv.client.query("root/virtualization/v2", "SELECT * FROM Msvm_Nothing")


def test_read_only_connection_refuses_power(fake: FakeWSMan, authfile: Path, registry: Any) -> None:
    with Connection(f"hyperv://127.0.0.1:{fake.port}/?transport=http&authfile={authfile}", readonly=True,
                    registry=registry) as ro:
        with pytest.raises(VirtError, match="read only access prevents"):
            ro.call("domain_destroy_flags", ro.lookup_domain("web").ref, 0)
    assert fake.vm("web").state == 2


def test_https_transport(tls_cert: tuple[str, str], authfile: Path, registry: Any) -> None:
    with FakeWSMan(host(), tls=tls_cert) as secure:
        with Connection(f"hyperv://127.0.0.1:{secure.port}/?no_verify=1&authfile={authfile}",
                        registry=registry) as c:
            assert c.call("connect_is_secure") == 1 and len(c.list_all_domains()) == 3
        with pytest.raises(VirtError, match="CERTIFICATE_VERIFY_FAILED"):
            Connection(f"hyperv://127.0.0.1:{secure.port}/?authfile={authfile}", registry=registry)


# ---------------------------------------------------------------------------------------------- failures

def test_wrong_password(fake: FakeWSMan, tmp_path: Path, registry: Any) -> None:
    bad = tmp_path / "bad.conf"
    bad.write_text("[credentials-x]\npassword=wrong\n[auth-hyperv-default]\ncredentials=x\n")
    with pytest.raises(AuthFailedError, match="rejected the credentials") as err:
        Connection(f"hyperv://127.0.0.1:{fake.port}/?transport=http&authfile={bad}", registry=registry)
    assert err.value.code == ErrorNumber.AUTH_FAILED


def test_no_password(fake: FakeWSMan, tmp_path: Path, registry: Any) -> None:
    empty = tmp_path / "empty.conf"
    empty.write_text("")
    with pytest.raises(AuthFailedError, match="Password request failed"):
        Connection(f"hyperv://127.0.0.1:{fake.port}/?transport=http&authfile={empty}", registry=registry)


def test_unreachable_host(authfile: Path, registry: Any) -> None:
    with pytest.raises(VirtError, match=r"Could not connect to Hyper-V host '127.0.0.1' "
                                        r"\(http://127.0.0.1:1/wsman\): Connection refused"):
        Connection(f"hyperv://127.0.0.1:1/?transport=http&authfile={authfile}", registry=registry)


def test_bad_uri_parameters(registry: Any) -> None:
    with pytest.raises(VirtError, match="'transport' has unexpected value 'ftp'"):
        Connection("hyperv://127.0.0.1:1/?transport=ftp", registry=registry)
    with pytest.raises(VirtError, match="'no_verify' has unexpected value 'yes'"):
        Connection("hyperv://127.0.0.1:1/?no_verify=yes", registry=registry)


def test_client_pages_with_small_pulls(fake: FakeWSMan) -> None:
    client = WSManClient("127.0.0.1", fake.port, "administrator", "secret", secure=False, max_elements=1)
    names = [o["ElementName"] for o in client.query("root/virtualization/v2", "SELECT * FROM Msvm_ComputerSystem")]
    assert names == ["HV01", "web", "db", "idle"]
    client.close()


def test_installed_registry_routes_hyperv_uris_to_this_driver() -> None:
    from virt.core.registry import get_registry
    from virt.core.uri import URI

    assert get_registry().for_uri(URI.parse("hyperv://hv01.example.org/?transport=http")).name == "hyperv"
