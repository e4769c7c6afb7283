"""The remote driver (our client) against virtd and against libvirt's own libvirtd."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path

import pytest
import virt.core as v
from virt.core.enums import DomainEventID
from virt.core.events import Event
from virt.util.errors import ErrorNumber, NotFoundError, OperationDeniedError, VirtError

from .conftest import Daemon

DOMAIN_XML = """<domain type='test'>
  <name>client-vm</name>
  <memory>1048576</memory>
  <vcpu>2</vcpu>
  <os><type>hvm</type></os>
</domain>
"""


def session(conn: v.Connection) -> list[object]:
    """What a client sees of test:///default, in a form comparable across daemons (no clock values)."""
    seen: list[object] = [conn.driver_name, conn.get_type(), conn.get_version(), conn.get_hostname()]
    seen.append([(d.ref.name, d.ref.uuid, d.ref.id) for d in conn.list_all_domains()])
    dom = conn.lookup_domain_by_name("test")
    seen.append(dom.info()._replace(cpu_time=0))
    seen.append(conn.lookup_domain_by_id(1).ref == conn.lookup_domain_by_uuid(dom.ref.uuid).ref == dom.ref)
    seen += [conn.node_info(), dom.xml_desc() == dom.xml_desc(0), len(conn.get_capabilities()) > 1000]
    seen.append([n.ref for n in conn.list_all_networks()])
    seen.append([p.ref for p in conn.list_all_storage_pools()])
    seen.append(conn.call("domain_get_state", dom.ref, 0))
    events: list[Event] = []
    got = threading.Event()

    def on_event(ev: Event) -> None:
        events.append(ev)
        if len(events) == 4:
            got.set()

    conn.domain_event_register(DomainEventID.LIFECYCLE, on_event)
    new = conn.define_domain(DOMAIN_XML)
    new.create()
    seen.append((new.info().state, new.ref.id != -1 or conn.lookup_domain_by_name("client-vm").ref.id > 0))
    new.destroy()
    new.undefine()
    assert got.wait(10), events
    seen.append([(e.kind, e.event_id, e.obj.name, e.payload) for e in events])
    with pytest.raises(NotFoundError) as info:
        conn.lookup_domain_by_name("nosuch")
    seen.append((info.value.code, info.value.domain, str(info.value)))
    return seen


def test_client_against_virtd_and_libvirtd(virtd: Daemon, libvirtd: Daemon) -> None:
    with v.open(virtd.uri()) as ours, v.open(libvirtd.uri()) as theirs:
        assert session(ours) == session(theirs)


def test_client_read_only(virtd: Daemon) -> None:
    with v.open(virtd.uri(readonly=True)) as conn:
        assert [d.ref.name for d in conn.list_all_domains()] == ["test"]
        with pytest.raises(OperationDeniedError):
            conn.call("domain_destroy", conn.lookup_domain_by_name("test").ref)
    # Read-only connections on the read-write socket are refused the same way, by the server.
    with v.open(virtd.uri(), readonly=True) as conn:
        with pytest.raises(VirtError) as info:
            conn._hv.domain_suspend(conn.lookup_domain_by_name("test").ref)  # straight to the wire
        assert info.value.code == ErrorNumber.OPERATION_DENIED
        assert "read only access prevents virDomainSuspend" in str(info.value)


def test_async_events(virtd: Daemon) -> None:
    async def main() -> list[tuple[int, ...]]:
        with v.open(virtd.uri()) as conn:
            stream = conn.domain_events(DomainEventID.LIFECYCLE)
            received: list[tuple[int, ...]] = []

            async def collect() -> None:
                async for ev in stream:
                    received.append(ev.payload)
                    if len(received) == 2:
                        return

            task = asyncio.ensure_future(collect())
            await asyncio.sleep(0.2)
            dom = await asyncio.to_thread(conn.define_domain, DOMAIN_XML)
            await asyncio.to_thread(dom.undefine)
            await asyncio.wait_for(task, 10)
            return received

    assert asyncio.run(main()) == [(0, 0), (1, 0)]


def test_unknown_socket_is_a_system_error(tmp_path: Path) -> None:
    with pytest.raises(VirtError) as info:
        v.open(f"test+unix:///default?socket={tmp_path}/nosuch")
    assert info.value.code == ErrorNumber.SYSTEM_ERROR
    assert f"Failed to connect socket to '{tmp_path}/nosuch': No such file or directory" in str(info.value)


# Stands in for ssh: checks the options it gets, then relays to the socket the remote command names.
FAKE_SSH = """import shlex, socket, sys, threading
args = sys.argv[1:]
assert args[args.index("-p") + 1] == "2222" and args[args.index("-l") + 1] == "someone", args
host = args[args.index("--") + 1]
assert host == "somehost", args
command = shlex.split(shlex.split(args[-1])[0])  # ssh hands the remote shell one string
path = command[command.index("-U") + 1]
s = socket.socket(socket.AF_UNIX)
s.connect(path)
def up():
    while data := sys.stdin.buffer.raw.read(65536):
        s.sendall(data)
    s.shutdown(socket.SHUT_WR)
threading.Thread(target=up, daemon=True).start()
while data := s.recv(65536):
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
"""


def test_ssh_transport_runs_the_ssh_command(virtd: Daemon, tmp_path: Path) -> None:
    """``?command=`` replaces ssh; the command gets ssh's argv and relays to the remote socket."""
    relay = tmp_path / "relay.py"
    relay.write_text(FAKE_SSH)
    fake = tmp_path / "fake-ssh"
    fake.write_text(f'#!/bin/sh\nexec {sys.executable} {relay} "$@"\n')
    fake.chmod(0o755)
    uri = f"test+ssh://someone@somehost:2222/default?socket={virtd.sock}&command={fake}"
    with v.open(uri) as conn:
        assert conn.driver_name == "remote"
        assert [d.ref.name for d in conn.list_all_domains()] == ["test"]
        assert conn.is_secure() and conn.get_uri() == uri


def test_daemon_restart_fails_pending_connection(tmp_path: Path) -> None:
    from .conftest import _stop, start_virtd

    daemon = start_virtd(tmp_path)
    conn = v.open(daemon.uri())
    try:
        assert conn.get_type() == "TEST"
        _stop(daemon.pid, daemon.proc)
        deadline = time.monotonic() + 10
        while conn.call("connect_is_alive") and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(VirtError) as info:
            conn.get_hostname()
        assert info.value.code == ErrorNumber.SYSTEM_ERROR
    finally:
        conn.close()


def test_many_threads_share_one_connection(virtd: Daemon) -> None:
    """Callers alone on the connection read their own replies; concurrent ones hand the reader role
    around: every thread gets its own answers, events still arrive, nothing hangs."""
    conn = v.open(virtd.uri())
    try:
        dom = conn.lookup_domain_by_name("test")
        expected = dom.info().max_mem
        seen: list[Event] = []
        conn.domain_event_register(DomainEventID.LIFECYCLE, seen.append)
        errors: list[BaseException] = []

        def worker(n: int) -> None:
            try:
                for i in range(200):
                    if i % 3 == 0:
                        assert conn.lookup_domain_by_name("test").ref == dom.ref
                    elif i % 3 == 1:
                        assert dom.info().max_mem == expected
                    else:
                        with pytest.raises(NotFoundError):
                            conn.lookup_domain_by_name(f"nosuch-{n}-{i}")
            except BaseException as err:  # reported below, with the thread's failure
                errors.append(err)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        new = conn.define_domain(DOMAIN_XML)  # events while the calls go on
        new.undefine()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads) and not errors, errors
        deadline = time.monotonic() + 10
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [ev.obj.name for ev in seen] == ["client-vm", "client-vm"]
    finally:
        conn.close()
