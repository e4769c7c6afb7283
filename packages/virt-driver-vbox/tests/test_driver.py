"""The VirtualBox driver against a fake vboxwebsrv speaking its SOAP API on loopback (vboxwebsrv_fake.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from vboxwebsrv_fake import FakeAttachment, FakeMachine, FakeNIC, FakeWebService, Inventory
from virt.core.connection import Connection
from virt.core.enums import ConnectListAllDomainsFlags, DomainEventID, DomainEventType, DomainState
from virt.core.plugin import get_plugin_manager
from virt.core.registry import build_registry
from virt.driver.vbox import plugin
from virt.driver.vbox.driver import parse_version
from virt.driver.vbox.websrv import VBoxFault, WebServiceClient, parse_response, request
from virt.util.errors import AuthFailedError, ErrorNumber, NotFoundError, OperationFailedError, VirtError

WEB = "4b8d1c2e-6f5a-4e3b-9a7c-1d2e3f4a5b6c"
DB = "0e9f8a7b-6c5d-4e3f-8a1b-2c3d4e5f6a7b"
IDLE = "a1b2c3d4-e5f6-4789-9abc-def012345678"
BROKEN = "11111111-2222-4333-8444-555555555555"


def inventory() -> Inventory:
    return Inventory(machines=[
        FakeMachine("web", WEB, "Running", 2048, 2, "front end", ["HardDisk", "DVD", "Null", "Null"], pae=True,
                    vram=32, nics=[FakeNIC("NAT", "I82540EM", "080027A1B2C3"),
                                   FakeNIC(enabled=False),
                                   FakeNIC("Bridged", "Virtio", "080027D4E5F6", bridged="enp3s0"),
                                   FakeNIC("HostOnly", "Am79C973", "0800270A0B0C", host_only="vboxnet0"),
                                   FakeNIC("Internal", "Unknown", "0800271A2B3C", internal="lab")],
                    controllers=[("IDE", "IDE", "PIIX4"), ("SATA", "SATA", "IntelAhci"),
                                 ("SCSI", "SCSI", "LsiLogic"), ("SAS", "SAS", "LsiLogicSas"),
                                 ("Floppy", "Floppy", "I82078")],
                    attachments=[FakeAttachment("IDE", 1, 0, "DVD", "/iso/o'neil.iso", readonly=True),
                                 FakeAttachment("IDE", 1, 1, "DVD"),
                                 FakeAttachment("SATA", 0, 0, "HardDisk", "/vms/web/web.vdi"),
                                 FakeAttachment("SAS", 2, 0, "HardDisk", "/vms/web/sas.vdi"),
                                 FakeAttachment("SCSI", 3, 0, "HardDisk", "/vms/web/scsi.vmdk"),
                                 FakeAttachment("Floppy", 0, 0, "Floppy", "/vms/boot.img")]),
        FakeMachine("lost", BROKEN, accessible=False),
        FakeMachine("db", DB, "PoweredOff", 4096, 4),
        FakeMachine("idle", IDLE, "Paused", 512, 1, boot=["Network", "Null", "Null", "Null"], acpi=False),
    ])


@pytest.fixture
def authfile(tmp_path: Path) -> Path:
    path = tmp_path / "auth.conf"
    path.write_text("[credentials-lab]\nusername=vbox\npassword=secret\n\n[auth-vbox-127.0.0.1]\ncredentials=lab\n")
    return path


@pytest.fixture
def registry() -> Any:
    return build_registry(get_plugin_manager(False, (plugin,)))


@pytest.fixture
def fake() -> Iterator[FakeWebService]:
    with FakeWebService(inventory()) as server:
        yield server


def uri(fake: FakeWebService, authfile: Path) -> str:
    return f"vbox:///session?websrv={fake.url}&authfile={authfile}"


@pytest.fixture
def conn(fake: FakeWebService, authfile: Path, registry: Any) -> Iterator[Connection]:
    c = Connection(uri(fake, authfile), registry=registry)
    yield c
    c.close()


# ---------------------------------------------------------------------------------------------- messages

def test_request_and_response_encoding() -> None:
    body = request("IMachine_launchVMProcess", {"_this": "a-1", "session": "a-2", "name": "headless",
                                                "environmentChanges": []})
    call = etree.fromstring(body).find("{http://schemas.xmlsoap.org/soap/envelope/}Body")[0]
    assert call.tag == "{http://www.virtualbox.org/}IMachine_launchVMProcess"
    assert [(c.tag, c.text) for c in call] == [("_this", "a-1"), ("session", "a-2"), ("name", "headless")]
    with pytest.raises(ValueError, match="takes no bogus"):
        request("IMachine_getName", {"bogus": 1})
    reply = (b'<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:vbox='
             b'"http://www.virtualbox.org/"><SOAP-ENV:Body><vbox:IVirtualBox_getMachinesResponse><returnval>s-1'
             b"</returnval><returnval>s-2</returnval></vbox:IVirtualBox_getMachinesResponse></SOAP-ENV:Body>"
             b"</SOAP-ENV:Envelope>")
    assert parse_response("IVirtualBox_getMachines", reply) == ["s-1", "s-2"]
    fault = (b'<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:vbox='
             b'"http://www.virtualbox.org/"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>SOAP-ENV:Client</faultcode>'
             b"<faultstring>VirtualBox error: nope</faultstring><detail><vbox:RuntimeFault><resultCode>-2135228415"
             b"</resultCode></vbox:RuntimeFault></detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>")
    with pytest.raises(VBoxFault) as err:
        parse_response("IVirtualBox_getHost", fault)
    assert err.value.kind == "RuntimeFault" and err.value.result_code == 0x80BB0001


def test_version_packing() -> None:
    assert parse_version("7.0.12") == 7_000_012
    assert parse_version("6.1.50_Ubuntu") == 6_001_050


# ---------------------------------------------------------------------------------------------- connection

def test_host_calls(conn: Connection, fake: FakeWebService) -> None:
    assert conn.get_type() == "VBOX"
    assert conn.get_version() == 7_000_012
    assert conn.get_hostname()
    assert tuple(conn.node_info()) == ("Intel Core i7-6700 CPU @ 3.40GH", 33554432, 8, 3400, 1, 1, 4, 2)
    assert fake.methods()[:2] == ["IWebsessionManager_logon", "IVirtualBox_getVersion"]


def test_list_and_lookup(conn: Connection) -> None:
    # The inaccessible machine is left out; ids are positions in IVirtualBox.machines plus one.
    assert [d.name() for d in conn.list_all_domains()] == ["web", "db", "idle"]
    assert conn.lookup_domain("web").ref == ("web", WEB, 1)
    assert conn.lookup_domain("idle").ref.id == 4 and conn.lookup_domain("db").ref.id == -1
    assert conn.call("connect_list_domains", -1) == [1, 4]
    assert conn.call("connect_list_defined_domains", -1) == ["db"]
    assert conn.call("domain_lookup_by_id", 4).name == "idle"
    assert conn.call("domain_lookup_by_uuid", DB).name == "db"
    with pytest.raises(NotFoundError, match="no domain with matching name 'nope'") as err:
        conn.lookup_domain("nope")
    assert err.value.code == ErrorNumber.NO_DOMAIN
    with pytest.raises(NotFoundError, match="no domain with matching id 3"):
        conn.call("domain_lookup_by_id", 3)


def test_info_state_and_xml(conn: Connection, fake: FakeWebService) -> None:
    web = conn.lookup_domain("web")
    # Max memory is VirtualBox's limit for any guest (ISystemProperties.maxGuestRAM), as libvirt reports it.
    assert tuple(conn.call("domain_get_info", web.ref)) == (DomainState.RUNNING, 2097152 * 1024, 2097152, 2, 0)
    assert conn.call("domain_get_state", conn.lookup_domain("idle").ref, 0) == (DomainState.PAUSED, 0)
    root = etree.fromstring(conn.call("domain_get_xml_desc", web.ref, 0))
    assert root.get("type") == "vbox" and root.get("id") == "1"
    assert [c.tag for c in root] == ["name", "uuid", "memory", "currentMemory", "vcpu", "os", "features", "clock",
                                     "on_poweroff", "on_reboot", "on_crash", "devices"]
    assert root.findtext("memory") == root.findtext("currentMemory") == "2097152" and root.findtext("vcpu") == "2"
    assert [b.get("dev") for b in root.iterfind("os/boot")] == ["hd", "cdrom"]
    assert root.find("os/type").get("arch") and root.findtext("os/type") == "hvm"
    assert [f.tag for f in root.find("features")] == ["acpi", "apic", "pae"]
    assert root.find("clock").get("offset") == "localtime"
    nics = [(i.get("type"), i.find("mac").get("address"), i.find("source").attrib if i.find("source") is not None
             else None, i.find("model").get("type") if i.find("model") is not None else None)
            for i in root.iterfind("devices/interface")]
    assert nics == [("user", "08:00:27:a1:b2:c3", None, "82540EM"),
                    ("bridge", "08:00:27:d4:e5:f6", {"bridge": "enp3s0"}, "virtio"),
                    ("network", "08:00:27:0a:0b:0c", {"network": "vboxnet0"}, "am79c973"),
                    ("internal", "08:00:27:1a:2b:3c", {"name": "lab"}, None)]
    disks = [(d.get("device"), d.find("source").get("file") if d.find("source") is not None else None,
              dict(d.find("target").attrib), d.find("readonly") is not None,
              tuple(d.find("address").get(k) for k in ("controller", "bus", "unit"))) for d in root.iterfind("devices/disk")]
    assert disks == [
        ("cdrom", "/iso/o'neil.iso", {"dev": "hdc", "bus": "ide"}, True, ("0", "1", "0")),
        ("cdrom", None, {"dev": "hdd", "bus": "ide"}, False, ("0", "1", "1")),
        ("disk", "/vms/web/web.vdi", {"dev": "sda", "bus": "sata"}, False, ("0", "0", "0")),
        ("disk", "/vms/web/sas.vdi", {"dev": "sdb", "bus": "scsi"}, False, ("1", "0", "2")),
        ("disk", "/vms/web/scsi.vmdk", {"dev": "sdc", "bus": "scsi"}, False, ("0", "0", "3")),
        ("floppy", "/vms/boot.img", {"dev": "fda", "bus": "fdc"}, False, ("0", "0", "0"))]
    assert [(c.get("type"), c.get("index"), c.get("model")) for c in root.iterfind("devices/controller")] == [
        ("ide", "0", "piix4"), ("sata", "0", None), ("scsi", "0", "lsilogic"), ("scsi", "1", "lsisas1068"),
        ("fdc", "0", None)]
    assert [c.tag for c in root.find("devices")] == ["disk"] * 6 + ["controller"] * 5 + ["interface"] * 4 + ["video"]
    model = root.find("devices/video/model")
    assert model.attrib == {"type": "vbox", "vram": "32768", "heads": "1"}
    idle = etree.fromstring(conn.call("domain_get_xml_desc", conn.lookup_domain("idle").ref, 0))
    assert [b.get("dev") for b in idle.iterfind("os/boot")] == ["network"]
    assert [f.tag for f in idle.find("features")] == ["apic"]
    db = etree.fromstring(conn.call("domain_get_xml_desc", conn.lookup_domain("db").ref, 0))
    assert db.get("id") is None
    # A Null position before a device: libvirt's list keeps the device's index but counts one device.
    fake.machine("db").boot = ["Null", "HardDisk", "Null", "Null"]
    db = etree.fromstring(conn.call("domain_get_xml_desc", conn.lookup_domain("db").ref, 0))
    assert [b.get("dev") for b in db.iterfind("os/boot")] == ["fd"]


def test_power_cycle_with_events(conn: Connection, fake: FakeWebService) -> None:
    seen: list[tuple[Any, ...]] = []
    conn.events.subscribe("domain", DomainEventID.LIFECYCLE, lambda ev: seen.append(ev.payload))
    db = conn.lookup_domain("db")
    started = conn.call("domain_create_with_flags", db.ref, 0)
    assert started.id == 3 and fake.machine("db").state == "Running"
    with pytest.raises(OperationFailedError, match="not in poweroff|saved|aborted state"):
        conn.call("domain_create_with_flags", started, 0)
    conn.call("domain_suspend", started)
    assert fake.machine("db").state == "Paused"
    with pytest.raises(OperationFailedError, match="machine not in running state to suspend it"):
        conn.call("domain_suspend", started)
    conn.call("domain_resume", started)
    with pytest.raises(OperationFailedError, match="machine not paused, so can't resume it"):
        conn.call("domain_resume", started)
    conn.call("domain_destroy_flags", started, 0)
    assert fake.machine("db").state == "PoweredOff"
    with pytest.raises(OperationFailedError, match="machine already powered down"):
        conn.call("domain_destroy_flags", started, 0)
    assert not fake.locks, "every session lock taken was released"
    methods = fake.methods()
    assert "IMachine_launchVMProcess" in methods and methods.count("IMachine_lockMachine") == 3
    deadline = time.monotonic() + 5
    while len(seen) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [p[0] for p in seen] == [DomainEventType.STARTED, DomainEventType.SUSPENDED, DomainEventType.RESUMED,
                                    DomainEventType.STOPPED]


def test_shutdown_reboot_and_managed_save(conn: Connection, fake: FakeWebService) -> None:
    web, idle = conn.lookup_domain("web").ref, conn.lookup_domain("idle").ref
    conn.call("domain_reboot", web, 0)
    assert fake.resets == ["web"] and fake.machine("web").state == "Running"
    with pytest.raises(OperationFailedError, match="machine paused, so can't power it down"):
        conn.call("domain_shutdown_flags", idle, 0)
    with pytest.raises(OperationFailedError, match="machine not running, so can't reboot it"):
        conn.call("domain_reboot", idle, 0)
    conn.call("domain_managed_save", web, 0)
    assert fake.machine("web").state == "Saved"
    assert conn.call("domain_has_managed_save_image", web, 0) == 1
    assert conn.call("domain_get_state", web, 0) == (DomainState.SHUTOFF, 0)
    assert [d.name() for d in conn.list_all_domains(ConnectListAllDomainsFlags.MANAGEDSAVE)] == ["web"]
    conn.call("domain_managed_save_remove", web, 0)
    assert fake.machine("web").state == "PoweredOff" and conn.call("domain_has_managed_save_image", web, 0) == 0
    with pytest.raises(OperationFailedError, match="machine already powered down"):
        conn.call("domain_shutdown_flags", web, 0)
    conn.call("domain_create_with_flags", web, 0)
    conn.call("domain_shutdown_flags", web, 0)
    assert fake.buttons == ["web"] and not fake.locks
    # A guest without ACPI cannot hear the button: VirtualBox's error is reported.
    fake.machine("db").acpi = False
    db = conn.call("domain_create_with_flags", conn.lookup_domain("db").ref, 0)
    with pytest.raises(VirtError, match=r"IConsole_powerButton failed: .*VERR_PDM_NO_ACPI_DEVICE"):
        conn.call("domain_shutdown_flags", db, 0)
    assert not fake.locks


def test_failed_start_reports_virtualbox_error(conn: Connection, fake: FakeWebService) -> None:
    fake.machine("db").start_error = "VT-x is not available (VERR_VMX_NO_VMX)"
    with pytest.raises(OperationFailedError, match=r"Starting the machine failed: VT-x is not available"):
        conn.call("domain_create_with_flags", conn.lookup_domain("db").ref, 0)
    assert fake.machine("db").state == "PoweredOff" and not fake.locks


def test_fault_during_call_becomes_error(conn: Connection, fake: FakeWebService) -> None:
    """A console call the machine refuses (another client paused it meanwhile) reports VirtualBox's text."""
    web = conn.lookup_domain("web")
    driver = conn._hv
    fake.machine("web").state = "Paused"
    m = driver._find(web.ref)
    m.attrs["state"] = "Running"  # what this client saw before the other client acted
    with pytest.raises(VirtError, match=r"IConsole_pause failed: VirtualBox error: Cannot pause the machine .*"
                                        r"\(0x80bb0002\)"):
        driver._console(m, lambda console: driver._console_call("IConsole_pause", console))
    assert not fake.locks


def test_read_only_connection_refuses_power(fake: FakeWebService, authfile: Path, registry: Any) -> None:
    with Connection(uri(fake, authfile), readonly=True, registry=registry) as ro:
        with pytest.raises(VirtError, match="read only access prevents"):
            ro.call("domain_destroy_flags", ro.lookup_domain("web").ref, 0)
    assert fake.machine("web").state == "Running"


def test_close_logs_off(fake: FakeWebService, authfile: Path, registry: Any) -> None:
    c = Connection(uri(fake, authfile), registry=registry)
    vbox = c._hv.client.vbox
    c.close()
    assert fake.methods()[-1] == "IWebsessionManager_logoff" and not fake.sessions
    client = WebServiceClient(fake.url)
    with pytest.raises(VBoxFault) as err:
        client.call("IVirtualBox_getMachines", _this=vbox)
    assert err.value.kind == "InvalidObjectFault"
    client.close()


def test_endpoint_from_environment(fake: FakeWebService, authfile: Path, registry: Any,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VBOX_WEBSRV_URL", fake.url)
    with Connection(f"vbox:///session?authfile={authfile}", registry=registry) as c:
        assert len(c.list_all_domains()) == 3


def test_null_auth_library(authfile: Path, registry: Any, tmp_path: Path) -> None:
    inv = inventory()
    inv.users = None
    empty = tmp_path / "none.conf"
    empty.write_text("")
    with FakeWebService(inv) as open_service, \
            Connection(f"vbox:///session?websrv={open_service.url}&authfile={empty}", registry=registry) as c:
        assert c.lookup_domain("web").ref.id == 1
        logon = etree.fromstring(open_service.requests[0].encode())
        assert logon.findtext(".//username") == os.environ.get("USER", logon.findtext(".//username"))


# ---------------------------------------------------------------------------------------------- failures

def test_wrong_password(fake: FakeWebService, tmp_path: Path, registry: Any) -> None:
    bad = tmp_path / "bad.conf"
    bad.write_text("[credentials-x]\nusername=vbox\npassword=wrong\n[auth-vbox-default]\ncredentials=x\n")
    with pytest.raises(AuthFailedError, match="refused the logon of 'vbox'") as err:
        Connection(f"vbox:///session?websrv={fake.url}&authfile={bad}", registry=registry)
    assert err.value.code == ErrorNumber.AUTH_FAILED


def test_unreachable_web_service(authfile: Path, registry: Any) -> None:
    with pytest.raises(VirtError, match=r"Could not connect to the VirtualBox web service at "
                                        r"http://127.0.0.1:1/: Connection refused"):
        Connection(f"vbox:///session?websrv=http://127.0.0.1:1/&authfile={authfile}", registry=registry)


def test_bad_uri(registry: Any) -> None:
    with pytest.raises(VirtError, match=r"unknown driver path '/system' specified \(try vbox:///session\)"):
        Connection("vbox:///system", registry=registry)
    with pytest.raises(VirtError, match="Invalid VirtualBox web service URL 'ftp://x/'"):
        Connection("vbox:///session?websrv=ftp://x/", registry=registry)


def test_installed_registry_routes_vbox_uris_to_this_driver() -> None:
    from virt.core.registry import get_registry
    from virt.core.uri import URI

    assert get_registry().for_uri(URI.parse("vbox:///session")).name == "vbox"
