"""The QEMU guest agent: JSON commands over the guest's ``org.qemu.guest_agent.0`` virtio channel.

The channel is a unix socket QEMU listens on; the agent inside the guest answers on it. Each use
opens the socket, synchronises with ``guest-sync-delimited`` (the agent may hold half an answer of
an earlier client) and sends one command.
"""

from __future__ import annotations

import json
import random
import socket
from typing import Any

from virt.driver.qemu import xmlutil as X
from virt.driver.qemu.state import DomainObj
from virt.util.errors import ErrorDomain, ErrorNumber, VirtError

QEMU = ErrorDomain.QEMU
AGENT_CHANNEL = "org.qemu.guest_agent.0"
#: How long the agent gets to answer (libvirt's default agent timeout is 5 seconds).
TIMEOUT = 5.0


class AgentError(VirtError):
    code = ErrorNumber.AGENT_UNRESPONSIVE


def channel_path(obj: DomainObj) -> str | None:
    """The host end of the guest agent's channel, if the running guest has one."""
    tree = obj.live
    if tree is None:
        return None
    for ch in tree.findall("devices/channel"):
        if ch.get("type") == "unix" and X.get(ch, "target", "name") == AGENT_CHANNEL:
            return X.get(ch, "source", "path")
    return None


def _read_reply(sock: socket.socket, buf: bytearray) -> dict[str, Any]:
    while b"\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise AgentError("guest agent disappeared while executing command", domain=QEMU)
        buf.extend(chunk)
    line, _, rest = bytes(buf).partition(b"\n")
    buf[:] = rest
    return dict(json.loads(line.lstrip(b"\xff")))


def command(obj: DomainObj, name: str, arguments: dict[str, Any] | None = None, *,
            expect_reply: bool = True, timeout: float = TIMEOUT) -> Any:
    """Run one agent command; commands that end the guest (guest-shutdown) send no reply."""
    path = channel_path(obj)
    if path is None:
        raise VirtError("QEMU guest agent is not configured", code=ErrorNumber.ARGUMENT_UNSUPPORTED, domain=QEMU)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(path)
        except OSError as err:
            raise AgentError(f"QEMU guest agent is not connected ({err.strerror})", domain=QEMU) from None
        token = random.randrange(1, 1 << 31)
        buf = bytearray()
        try:
            sock.sendall(json.dumps({"execute": "guest-sync-delimited", "arguments": {"id": token}}).encode()
                         + b"\n")
            while _read_reply(sock, buf).get("return") != token:
                pass
            msg: dict[str, Any] = {"execute": name}
            if arguments:
                msg["arguments"] = arguments
            sock.sendall(json.dumps(msg).encode() + b"\n")
            if not expect_reply:
                return None
            reply = _read_reply(sock, buf)
        except TimeoutError:
            raise AgentError("QEMU guest agent is not connected", domain=QEMU) from None
        if "error" in reply:
            desc = reply["error"].get("desc", "unknown error")
            raise VirtError(f"unable to execute QEMU agent command '{name}': {desc}", domain=QEMU)
        return reply.get("return")
    finally:
        sock.close()
