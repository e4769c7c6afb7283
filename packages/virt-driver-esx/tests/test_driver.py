"""The ESX driver against a fake vSphere endpoint speaking the real protocol (see vsphere_fake.py)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from esx_helpers import canonical_xml
from virt.core.connection import Connection
from virt.core.enums import DomainEventID, DomainEventType, DomainState
from virt.core.plugin import get_plugin_manager
from virt.core.registry import build_registry
from virt.driver.esx import plugin
from virt.driver.esx.vi.client import VIClient
from virt.driver.esx.vi.soap import (
    MOR,
    DataObject,
    Fault,
    decode,
    parse_response,
    request,
)
from virt.util.errors import (
    AuthFailedError,
    NotFoundError,
    OperationInvalidError,
    VirtError,
)
from vsphere_fake import FakeVM, FakeVSphere, Inventory

DS_UUID = "5b6c2f3e-7f7d8e2a-1b2c-0050569a0001"

VMX_WEB = """.encoding = "UTF-8"
config.version = "8"
virtualHW.version = "14"
displayName = "web"
guestOS = "centos7-64"
memsize = "2048"
numvcpus = "2"
uuid.bios = "42 1a 61 77 5a a9 ab b7-59 24 fc 37 6c 18 a1 b4"
scsi0.present = "TRUE"
scsi0.virtualDev = "pvscsi"
scsi0:0.present = "TRUE"
scsi0:0.fileName = "web.vmdk"
scsi0:1.present = "TRUE"
scsi0:1.fileName = "/vmfs/volumes/{uuid}/shared/data.vmdk"
ide1:0.present = "TRUE"
ide1:0.deviceType = "cdrom-image"
ide1:0.fileName = "/vmfs/volumes/iso/centos.iso"
ethernet0.present = "TRUE"
ethernet0.virtualDev = "vmxnet3"
ethernet0.networkName = "VM Network"
ethernet0.addressType = "vpx"
ethernet0.generatedAddress = "00:50:56:9a:9c:7a"
RemoteDisplay.vnc.enabled = "TRUE"
RemoteDisplay.vnc.port = "5901"
RemoteDisplay.vnc.password = "s3cret"
""".replace("{uuid}", DS_UUID)


def inventory(vcenter: bool = False) -> Inventory:
    return Inventory(
        vms=[FakeVM("1", "web", "421a6177-5aa9-abb7-5924-fc376c18a1b4", "poweredOn", 2048, 2,
                    vmx_path="[datastore1] web/web.vmx", vmx=VMX_WEB, tools_running=True),
             FakeVM("7", "db", "564d9bef-acd9-b4e0-c8f0-aea8b9103515", "poweredOff", 4096, 4, 1024,
                    vmx_path="[datastore1] db/db.vmx", vmx='config.version = "8"\nvirtualHW.version = "4"\n'
                                                          'displayName = "db"\nmemsize = "4096"\n'),
             FakeVM("9", "idle", "564d9bef-0000-b4e0-c8f0-aea8b9103516", "suspended")],
        datastores=[("datastore1", f"ds:///vmfs/volumes/{DS_UUID}/"), ("iso", "ds:///vmfs/volumes/aaaa-bbbb/")],
        datacenter="ha-datacenter" if not vcenter else "dc1", vcenter=vcenter)


@pytest.fixture
def authfile(tmp_path: Path) -> Path:
    path = tmp_path / "auth.conf"
    path.write_text("[credentials-lab]\nusername=root\npassword=secret\n\n"
                    "[auth-esx-127.0.0.1]\ncredentials=lab\n")
    return path


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl (Debian package openssl) is needed to make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    cert, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=esx1.example.org"], check=True, capture_output=True)
    return cert, key


@pytest.fixture
def registry() -> Any:
    return build_registry(get_plugin_manager(False, (plugin,)))


@pytest.fixture
def fake(tls_cert: tuple[str, str]) -> Iterator[FakeVSphere]:
    with FakeVSphere(inventory(), tls=tls_cert) as server:
        yield server


@pytest.fixture
def conn(fake: FakeVSphere, authfile: Path, registry: Any) -> Iterator[Connection]:
    c = Connection(f"esx://127.0.0.1:{fake.port}/?no_verify=1&authfile={authfile}", registry=registry)
    yield c
    c.close()


# ---------------------------------------------------------------------------------------------- SOAP

def test_request_encoding() -> None:
    body = request("RetrievePropertiesEx", MOR("PropertyCollector", "ha-property-collector"), [
        ("specSet", DataObject(None, propSet=DataObject(None, type="VirtualMachine", all=False,
                                                         pathSet=["name", "config.uuid"]),
                               objectSet=DataObject(None, obj=MOR("ContainerView", "v<1>"), skip=True,
                                                    selectSet=DataObject("TraversalSpec", path="view")))),
        ("options", DataObject(None))])
    text = body.decode()
    assert '<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">ha-property-collector</_this>' \
        in text
    assert "<pathSet>name</pathSet><pathSet>config.uuid</pathSet>" in text
    assert '<obj type="ContainerView">v&lt;1&gt;</obj><skip>true</skip><selectSet xsi:type="TraversalSpec">' in text
    assert "<all>false</all>" in text and "<options></options>" in text


def test_recorded_responses_decode() -> None:
    data = Path(__file__).parent / "vsphere"
    (content,) = parse_response((data / "vcenter-service-content.xml").read_bytes())
    assert content["rootFolder"] == MOR("Folder", "group-d1")
    assert content.path("about.apiType") == "VirtualCenter" and content.path("about.version") == "6.0.0"
    with pytest.raises(Fault) as err:
        parse_response((data / "invalid-login.xml").read_bytes())
    assert err.value.fault_type == "InvalidLogin"
    assert err.value.message == "Cannot complete login due to an incorrect user name or password."


def test_decode_types() -> None:
    from lxml import etree

    el = etree.fromstring('<val xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                          'xsi:type="ArrayOfManagedObjectReference"><ManagedObjectReference type="VirtualMachine" '
                          'xsi:type="ManagedObjectReference">vm-744</ManagedObjectReference></val>')
    assert decode(el) == [MOR("VirtualMachine", "vm-744")]
    el = etree.fromstring('<val xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xsd:long">-1</val>')
    assert decode(el) == -1


# ---------------------------------------------------------------------------------------------- connection

def test_connect_and_host(conn: Connection, fake: FakeVSphere) -> None:
    assert conn.get_type() == "ESX"
    assert conn.get_version() == 6_007_000
    assert conn.get_hostname() == "esx1.example.org"
    info = conn.node_info()
    assert (info.model, info.memory, info.cpus, info.mhz, info.nodes, info.sockets, info.cores, info.threads) == \
        ("Intel Xeon Gold 6130 CPU @ 2.10", 268435456, 32, 2095, 2, 2, 16, 2)
    assert fake.methods()[:2] == ["RetrieveServiceContent", "Login"]
    assert 'SOAPAction' not in fake.requests[0][1]  # headers are not in the body; the body is the envelope


def test_list_and_lookup(conn: Connection, fake: FakeVSphere) -> None:
    names = sorted(d.name() for d in conn.list_all_domains())
    assert names == ["db", "idle", "web"]
    web = conn.lookup_domain("web")
    assert web.ref.id == 1 and web.ref.uuid == "421a6177-5aa9-abb7-5924-fc376c18a1b4"
    assert conn.lookup_domain("db").ref.id == -1
    assert conn.call("connect_list_domains", -1) == [1, 9]
    assert conn.call("connect_list_defined_domains", -1) == ["db"]
    assert conn.call("domain_lookup_by_id", 9).name == "idle"
    assert conn.call("domain_lookup_by_uuid", "564d9bef-acd9-b4e0-c8f0-aea8b9103515").name == "db"
    with pytest.raises(NotFoundError, match="Could not find domain with name 'nope'"):
        conn.lookup_domain("nope")
    # Views made for listing are destroyed again.
    assert fake.methods().count("CreateContainerView") == fake.methods().count("DestroyView") and not fake.views


def test_info_and_state(conn: Connection) -> None:
    web = conn.lookup_domain("web")
    assert tuple(conn.call("domain_get_info", web.ref)) == (DomainState.RUNNING, 2097152, 2097152, 2, 0)
    db = conn.lookup_domain("db")
    assert tuple(conn.call("domain_get_info", db.ref)) == (DomainState.SHUTOFF, 4194304, 1048576, 4, 0)
    assert conn.call("domain_get_state", conn.lookup_domain("idle").ref, 0) == (DomainState.PAUSED, 0)


def test_dumpxml_through_vmx(conn: Connection, fake: FakeVSphere) -> None:
    web = conn.lookup_domain("web")
    xml = conn.call("domain_get_xml_desc", web.ref, 0)
    tree = canonical_xml(xml)
    assert tree[1] == {"type": "vmware", "id": "1"}
    devices = next(c for c in tree[3] if c[0] == "devices")[3]
    sources = [d[3][0][1] for d in devices if d[0] == "disk"]
    # Beside the .vmx, under a datastore's mount path, and under a datastore's name.
    assert sources == [{"file": "[datastore1] web/web.vmdk"}, {"file": "[datastore1] shared/data.vmdk"},
                       {"file": "[iso] centos.iso"}]
    graphics = next(d for d in devices if d[0] == "graphics")
    assert "passwd" not in graphics[1]
    assert "passwd='s3cret'" in conn.call("domain_get_xml_desc", web.ref, 1)  # VIR_DOMAIN_XML_SECURE
    assert any(m.startswith("GET /folder/web/web.vmx?dcPath=ha-datacenter&dsName=datastore1") for m in fake.methods())


def test_power_cycle_with_events(conn: Connection, fake: FakeVSphere) -> None:
    seen: list[tuple[Any, ...]] = []
    conn.events.subscribe("domain", DomainEventID.LIFECYCLE, lambda ev: seen.append(ev.payload))
    db = conn.lookup_domain("db")
    started = conn.call("domain_create_with_flags", db.ref, 0)
    assert started.id == 7 and fake.inv.vms[1].power_state == "poweredOn"
    with pytest.raises(OperationInvalidError, match="Domain is not powered off"):
        conn.call("domain_create_with_flags", started, 0)
    conn.call("domain_suspend", started)
    conn.call("domain_resume", started)
    conn.call("domain_destroy_flags", started, 0)
    assert fake.inv.vms[1].power_state == "poweredOff"
    with pytest.raises(OperationInvalidError, match="Domain is not powered on"):
        conn.call("domain_destroy_flags", started, 0)
    assert conn.lookup_domain("db").ref.id == -1
    deadline = time.monotonic() + 5
    while len(seen) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [p[0] for p in seen] == [DomainEventType.STARTED, DomainEventType.SUSPENDED, DomainEventType.RESUMED,
                                    DomainEventType.STOPPED]


def test_task_fault_becomes_error(conn: Connection, fake: FakeVSphere) -> None:
    """A task the host fails reports the host's fault (the state check raced with another client)."""
    vm = fake.inv.vms[0]
    driver = conn._hv  # the driver object itself: call the task API as a racing client would
    task = driver.client.call("PowerOnVM_Task", MOR("VirtualMachine", vm.moid))
    with pytest.raises(VirtError, match=r"InvalidPowerState - The attempted operation cannot be performed in the "
                                        r"current state \(Powered on\)"):
        driver.client.wait_for_task(task)


def test_guest_shutdown_needs_tools(conn: Connection, fake: FakeVSphere) -> None:
    fake.inv.vms[2].power_state = "poweredOn"
    with pytest.raises(OperationInvalidError, match="ToolsUnavailable"):
        conn.call("domain_shutdown", conn.lookup_domain("idle").ref)
    conn.call("domain_shutdown", conn.lookup_domain("web").ref)
    assert fake.inv.vms[0].power_state == "poweredOff"


def test_native_formats_use_host_datastores(conn: Connection) -> None:
    xml = conn.call("connect_domain_xml_from_native", "vmware-vmx",
                    'config.version = "8"\nvirtualHW.version = "4"\ndisplayName = "x"\nscsi0.present = "true"\n'
                    f'scsi0:0.present = "true"\nscsi0:0.fileName = "/vmfs/volumes/{DS_UUID}/x/x.vmdk"\n', 0)
    assert "<source file='[datastore1] x/x.vmdk'/>" in xml
    assert "<vmware:datacenterpath>ha-datacenter</vmware:datacenterpath>" in xml
    vmx = conn.call("connect_domain_xml_to_native", "vmware-vmx", xml, 0)
    assert f'scsi0:0.fileName = "/vmfs/volumes/{DS_UUID}/x/x.vmdk"' in vmx
    assert 'virtualHW.version = "14"' in vmx  # ESXi 6.7's default


def test_read_only_connection_refuses_power(fake: FakeVSphere, authfile: Path, registry: Any) -> None:
    with Connection(f"esx://127.0.0.1:{fake.port}/?no_verify=1&authfile={authfile}", readonly=True,
                    registry=registry) as ro:
        assert ro.lookup_domain("web").name() == "web"
        with pytest.raises(VirtError, match="read only access prevents"):
            ro.call("domain_destroy_flags", ro.lookup_domain("web").ref, 0)


def test_close_logs_out(fake: FakeVSphere, authfile: Path, registry: Any) -> None:
    c = Connection(f"esx://127.0.0.1:{fake.port}/?no_verify=1&authfile={authfile}", registry=registry)
    c.close()
    assert fake.methods()[-1] == "Logout" and not fake.sessions


# ---------------------------------------------------------------------------------------------- failures

def test_wrong_password(fake: FakeVSphere, tmp_path: Path, registry: Any) -> None:
    bad = tmp_path / "bad.conf"
    bad.write_text("[credentials-x]\npassword=wrong\n[auth-esx-default]\ncredentials=x\n")
    with pytest.raises(AuthFailedError, match="InvalidLogin - Cannot complete login due to an incorrect user name"):
        Connection(f"esx://127.0.0.1:{fake.port}/?no_verify=1&authfile={bad}", registry=registry)


def test_no_password(fake: FakeVSphere, tmp_path: Path, registry: Any) -> None:
    empty = tmp_path / "empty.conf"
    empty.write_text("")
    with pytest.raises(AuthFailedError, match="Password request failed"):
        Connection(f"esx://127.0.0.1:{fake.port}/?no_verify=1&authfile={empty}", registry=registry)


def test_certificate_is_verified_by_default(fake: FakeVSphere, authfile: Path, registry: Any) -> None:
    with pytest.raises(VirtError, match="CERTIFICATE_VERIFY_FAILED"):
        Connection(f"esx://127.0.0.1:{fake.port}/?authfile={authfile}", registry=registry)


def test_session_is_required(fake: FakeVSphere) -> None:
    client = VIClient("127.0.0.1", fake.port, secure=True, verify=False)
    with pytest.raises(AuthFailedError, match="NotAuthenticated - The session is not authenticated"):
        client.retrieve_all("VirtualMachine", ["name"])


def test_wrong_product_line(tls_cert: tuple[str, str], authfile: Path, registry: Any) -> None:
    with FakeVSphere(inventory(vcenter=True), tls=tls_cert) as vc, \
            pytest.raises(VirtError, match="is not an ESX\\(i\\) host but VMware vCenter Server 6.0.0"):
        Connection(f"esx://127.0.0.1:{vc.port}/?no_verify=1&authfile={authfile}", registry=registry)


def test_vcenter_datacenter(tls_cert: tuple[str, str], tmp_path: Path, registry: Any) -> None:
    conf = tmp_path / "vc.conf"
    conf.write_text("[credentials-vc]\npassword=secret\n[auth-esx-127.0.0.1]\ncredentials=vc\n")
    with FakeVSphere(inventory(vcenter=True), tls=tls_cert) as vc, \
            Connection(f"vpx://root@127.0.0.1:{vc.port}/dc1?no_verify=1&authfile={conf}", registry=registry) as c:
        assert len(c.list_all_domains()) == 3
        xml = c.call("domain_get_xml_desc", c.lookup_domain("db").ref, 0)
        assert "<vmware:datacenterpath>dc1</vmware:datacenterpath>" in xml
        assert any(m.startswith("GET /folder/db/db.vmx?dcPath=dc1&") for m in vc.methods())


def test_plain_http_transport(authfile: Path, registry: Any) -> None:
    with FakeVSphere(inventory()) as plain, \
            Connection(f"esx://127.0.0.1:{plain.port}/?transport=http&authfile={authfile}", registry=registry) as c:
        assert c.call("connect_is_secure") == 0
        assert len(c.list_all_domains()) == 3


def test_bad_uri_parameters(registry: Any, authfile: Path) -> None:
    with pytest.raises(VirtError, match="'transport' has unexpected value 'ftp'"):
        Connection("esx://127.0.0.1:1/?transport=ftp", registry=registry)
    with pytest.raises(VirtError, match="'no_verify' has unexpected value 'yes'"):
        Connection("esx://127.0.0.1:1/?no_verify=yes", registry=registry)
    with pytest.raises(VirtError, match="Could not connect to '127.0.0.1'"):
        Connection(f"esx://127.0.0.1:1/?no_verify=1&authfile={authfile}", registry=registry)


def test_installed_registry_routes_esx_uris_to_this_driver() -> None:
    """With every installed plugin (the remote driver too), esx://host/ opens this driver, not the remote one."""
    from virt.core.registry import get_registry
    from virt.core.uri import URI

    reg = get_registry()
    assert reg.for_uri(URI.parse("esx://esx1.example.org/?no_verify=1")).name == "esx"
    if "remote" in reg.drivers:
        assert reg.for_uri(URI.parse("qemu+ssh://host/system")).name == "remote"
