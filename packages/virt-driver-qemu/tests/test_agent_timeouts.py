"""The guest-agent client's timeouts (virDomainQemuAgentCommand's BLOCK, DEFAULT, NOWAIT and seconds)
against a stand-in agent on a unix socket that speaks qemu-ga's protocol and records what it is sent."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from virt.driver.qemu import agent
from virt.driver.qemu.state import DomainObj
from virt.util.errors import ErrorNumber, VirtError


class FakeAgent:
    """qemu-ga's side of the channel: guest-sync-delimited answered with its 0xFF sentinel, guest-ping
    answered, and ``guest-sleep`` (a command of this stand-in) answered after ``delay`` seconds."""

    def __init__(self, path: Path) -> None:
        self.received: list[dict[str, Any]] = []
        self.delay = 0.0
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        # A client that gave up on its reply has closed its end: the reply is dropped.
        with contextlib.suppress(OSError), conn, conn.makefile("rb") as lines:
            for line in lines:
                msg = json.loads(line)
                self.received.append(msg)
                name = msg["execute"]
                if name == "guest-sync-delimited":
                    conn.sendall(b"\xff" + json.dumps({"return": msg["arguments"]["id"]}).encode() + b"\n")
                elif name == "guest-sleep":
                    time.sleep(self.delay)
                    conn.sendall(b'{"return": {"slept": true}}\n')
                else:
                    conn.sendall(b'{"return": {}}\n')

    def commands(self) -> list[str]:
        return [m["execute"] for m in self.received if m["execute"] != "guest-sync-delimited"]

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.thread.join(5)


class Driver(agent.AgentCalls):
    """The agent calls with the one running guest they act on."""

    def __init__(self, obj: DomainObj) -> None:
        self.obj = obj

    def _active(self, dom: Any) -> DomainObj:
        return self.obj

    def check_writable(self, call: str) -> None:
        pass


@pytest.fixture()
def guest(tmp_path: Path) -> Iterator[tuple[Driver, FakeAgent]]:
    path = tmp_path / "qga.sock"
    fake = FakeAgent(path)
    live = etree.fromstring(f"""<domain type='qemu'><name>g</name><devices>
      <channel type='unix'><source mode='bind' path='{path}'/>
        <target type='virtio' name='org.qemu.guest_agent.0' state='connected'/></channel>
    </devices></domain>""")
    try:
        yield Driver(DomainObj(name="g", uuid="6695eb01-f6a4-8304-79aa-97f2502e193f", live=live)), fake
    finally:
        fake.close()


def test_nowait_fails_as_libvirt_does_without_sending(guest: tuple[Driver, FakeAgent]) -> None:
    """Timeout 0 (virsh --async): libvirt waits for the reply until "now", so it reports the agent
    unavailable (not a BlockingIOError of a non-blocking socket), and the command is not run."""
    driver, fake = guest
    with pytest.raises(VirtError) as err:
        driver.domain_qemu_agent_command(None, '{"execute":"guest-ping"}', agent.TIMEOUT_NOWAIT, 0)
    assert err.value.code == ErrorNumber.AGENT_UNRESPONSIVE
    assert str(err.value) == "Guest agent is not responding: Guest agent not available for now"
    assert fake.commands() == []
    assert [m["execute"] for m in fake.received] == ["guest-sync-delimited"]  # the handshake did run
    # The agent is usable right after.
    assert json.loads(driver.domain_qemu_agent_command(None, '{"execute":"guest-ping"}', -1, 0)) == {"return": {}}
    assert fake.commands() == ["guest-ping"]


def test_timeouts_in_seconds_block_and_default(guest: tuple[Driver, FakeAgent]) -> None:
    driver, fake = guest
    fake.delay = 1.5
    sleep = '{"execute":"guest-sleep"}'
    with pytest.raises(VirtError) as err:
        driver.domain_qemu_agent_command(None, sleep, 1, 0)
    assert (err.value.code, str(err.value)) == (
        ErrorNumber.AGENT_UNRESPONSIVE, "Guest agent is not responding: Guest agent not available for now")
    for timeout in (3, agent.TIMEOUT_BLOCK, agent.TIMEOUT_DEFAULT):
        assert json.loads(driver.domain_qemu_agent_command(None, sleep, timeout, 0)) == {"return": {"slept": True}}
    with pytest.raises(VirtError) as err:
        driver.domain_qemu_agent_command(None, sleep, -3, 0)
    assert err.value.code == ErrorNumber.INVALID_ARG
    assert fake.commands() == ["guest-sleep"] * 4
