"""Secrets through the public API: definitions, values encrypted at rest, privacy, never logged."""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from virt.core.connection import Connection
from virt.core.driver import Driver
from virt.core.enums import ConnectListAllSecretsFlags as LF
from virt.core.enums import SecretEventID, SecretUsageType
from virt.core.plugin import get_plugin_manager, hookimpl
from virt.core.registry import DriverRegistry, build_registry
from virt.secondary.secret import driver as drv_mod
from virt.secondary.secret import plugin
from virt.secondary.secret.vault import SecretValue
from virt.util.errors import ErrorDomain, ErrorNumber, VirtError

VALUE = b"correct horse battery staple \x00\xff"
UUID1 = "c6b2a6c4-4a5d-4d8e-9f7a-000000000001"
UUID2 = "c6b2a6c4-4a5d-4d8e-9f7a-000000000002"


class StubHypervisor(Driver):
    name = "stubhv"
    uri_schemes = ("stubhv",)


class StubPlugin:
    @hookimpl
    def virt_register_drivers(self, register: DriverRegistry) -> None:
        register.hypervisor(StubHypervisor, name="stubhv", uri_schemes=("stubhv",))


def open_conn(root: Path, readonly: bool = False) -> Connection:
    reg = build_registry(get_plugin_manager(False, (StubPlugin(), plugin)))
    return Connection(f"stubhv:///system?root={root}", readonly=readonly, registry=reg)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[Connection]:
    c = open_conn(tmp_path)
    yield c
    c.close()
    drv_mod._shared.clear()


def secret_xml(uuid: str, usage: str = "<usage type='ceph'><name>client.admin</name></usage>",
               private: str = "no", ephemeral: str = "no") -> str:
    return f"<secret ephemeral='{ephemeral}' private='{private}'><uuid>{uuid}</uuid>{usage}</secret>"


def all_bytes_under(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_define_lookup_value_and_files(conn: Connection, tmp_path: Path) -> None:
    sec = conn.define_secret(secret_xml(UUID1))
    assert sec.usage_type() == SecretUsageType.CEPH and sec.usage_id() == "client.admin"
    assert conn.lookup_secret_by_usage(SecretUsageType.CEPH, "client.admin") == sec
    assert "<name>client.admin</name>" in sec.xml_desc()
    with pytest.raises(VirtError, match=f"secret '{UUID1}' does not have a value") as err:
        sec.get_value()
    assert err.value.code == ErrorNumber.NO_SECRET
    sec.set_value(VALUE)
    assert sec.get_value() == VALUE
    etc = tmp_path / "etc" / "secrets"
    assert (etc / f"{UUID1}.xml").is_file() and (etc / f"{UUID1}.value").is_file()
    # encrypted at rest: the value appears nowhere on disk, and the key is root's alone
    assert VALUE not in all_bytes_under(tmp_path) and VALUE[:8] not in all_bytes_under(tmp_path)
    assert stat.S_IMODE((etc / "secrets.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(etc.stat().st_mode) == 0o700
    assert stat.S_IMODE((etc / f"{UUID1}.value").stat().st_mode) == 0o600
    # a new process (a fresh driver) reads it back with the host key
    drv_mod._shared.clear()
    with open_conn(tmp_path) as again:
        assert again.lookup_secret(UUID1).get_value() == VALUE
    sec.undefine()
    assert not any(etc.glob(f"{UUID1}*"))
    with pytest.raises(VirtError) as err:
        conn.lookup_secret(UUID1)
    assert err.value.code == ErrorNumber.NO_SECRET and err.value.domain == ErrorDomain.SECRET
    assert err.value.message == f"Secret not found: no secret with matching uuid '{UUID1}'"


def test_values_are_bound_to_their_secret_and_key(conn: Connection, tmp_path: Path) -> None:
    a = conn.define_secret(secret_xml(UUID1))
    b = conn.define_secret(secret_xml(UUID2, "<usage type='volume'><volume>/img/b.qcow2</volume></usage>"))
    a.set_value(VALUE)
    b.set_value(b"other")
    etc = tmp_path / "etc" / "secrets"
    (etc / f"{UUID2}.value").write_bytes((etc / f"{UUID1}.value").read_bytes())  # swap attempt
    with pytest.raises(VirtError, match="does not decrypt with this host's key"):
        b.get_value()
    (etc / "secrets.key").write_bytes(os.urandom(32))  # another host's key
    drv_mod._shared.clear()
    with open_conn(tmp_path) as other_host, pytest.raises(VirtError, match="does not decrypt"):
        other_host.lookup_secret(UUID1).get_value()


def test_private_ephemeral_and_redefine_rules(conn: Connection, tmp_path: Path) -> None:
    priv = conn.define_secret(secret_xml(UUID1, private="yes", ephemeral="yes"))
    priv.set_value(VALUE)
    with pytest.raises(VirtError, match="secret is private") as err:
        priv.get_value()
    assert err.value.code == ErrorNumber.INVALID_SECRET
    assert conn.call("secret_get_value_internal", priv.ref) == VALUE  # what the qemu driver uses
    # ephemeral: kept in the run dir (gone at reboot), never in the config dir
    assert (tmp_path / "run" / "secrets" / f"{UUID1}.value").exists()
    assert not (tmp_path / "etc" / "secrets" / f"{UUID1}.xml").exists()
    with pytest.raises(VirtError, match="cannot change private flag on existing secret"):
        conn.define_secret(secret_xml(UUID1, private="no", ephemeral="yes"))
    with pytest.raises(VirtError, match=f"a secret with UUID {UUID1} already defined for use with client.admin"):
        conn.define_secret(secret_xml(UUID2))
    with pytest.raises(VirtError, match=f"a secret with UUID {UUID1} is already defined for use with client.admin"):
        conn.define_secret(secret_xml(UUID1, "<usage type='ceph'><name>other</name></usage>", private="yes"))
    # redefining as persistent moves it (and its value) to the config dir
    conn.define_secret(secret_xml(UUID1, private="yes", ephemeral="no"))
    assert (tmp_path / "etc" / "secrets" / f"{UUID1}.value").exists()
    assert not (tmp_path / "run" / "secrets" / f"{UUID1}.value").exists()
    assert conn.call("secret_get_value_internal", priv.ref) == VALUE
    conn.define_secret(secret_xml(UUID2, "<usage type='tls'><name>tls1</name></usage>"))
    assert [s.uuid() for s in conn.list_all_secrets(LF.PRIVATE)] == [UUID1]
    assert [s.uuid() for s in conn.list_all_secrets(LF.NO_PRIVATE | LF.NO_EPHEMERAL)] == [UUID2]


def test_read_only_connections_cannot_read_values(conn: Connection, tmp_path: Path) -> None:
    conn.define_secret(secret_xml(UUID1)).set_value(VALUE)
    with open_conn(tmp_path, readonly=True) as ro:
        sec = ro.lookup_secret(UUID1)
        assert "client.admin" in sec.xml_desc()
        with pytest.raises(VirtError) as err:
            sec.get_value()
        assert err.value.code == ErrorNumber.OPERATION_DENIED


def test_values_are_never_logged(conn: Connection, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sec = conn.define_secret(secret_xml(UUID1))
    sec.set_value(VALUE)
    value = sec.get_value()
    logging.getLogger("virt").debug("got %r", conn.call("secret_get_value", sec.ref))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "correct horse" not in text and "<secret value, 31 bytes>" in text
    assert value == VALUE and "correct horse" not in repr(conn.call("secret_get_value", sec.ref))
    assert isinstance(conn.call("secret_get_value", sec.ref), SecretValue)


def test_events(conn: Connection) -> None:
    seen: list[tuple[int, tuple]] = []
    done = threading.Event()
    for event_id in (SecretEventID.LIFECYCLE, SecretEventID.VALUE_CHANGED):
        conn.secret_event_register(event_id, lambda ev: (seen.append((ev.event_id, ev.payload)),
                                                         len(seen) == 3 and done.set()))
    sec = conn.define_secret(secret_xml(UUID1))
    sec.set_value(b"x")
    sec.undefine()
    assert done.wait(5)
    assert seen == [(0, (0, 0)), (1, ()), (0, (1, 0))]
