"""The QEMU guest agent: JSON commands over the guest's ``org.qemu.guest_agent.0`` virtio channel.

The channel is a unix socket QEMU listens on; the agent inside the guest answers on it. Each use
opens the socket, synchronises with ``guest-sync-delimited`` (the agent may hold half an answer of
an earlier client) and sends one command.
"""

from __future__ import annotations

import json
import random
import socket
from typing import TYPE_CHECKING, Any

from virt.core.enums import DomainState as S
from virt.driver.qemu import xmlutil as X
from virt.driver.qemu.state import DomainObj
from virt.util.errors import (
    ErrorDomain,
    ErrorNumber,
    InternalError,
    InvalidArgError,
    OperationFailedError,
    OperationInvalidError,
    OperationUnsupportedError,
    VirtError,
)

if TYPE_CHECKING:
    from virt.core.types import DomainRef

QEMU = ErrorDomain.QEMU
AGENT_CHANNEL = "org.qemu.guest_agent.0"
#: How long the agent gets to answer (libvirt's default agent timeout is 5 seconds).
TIMEOUT = 5.0
#: Freezing or thawing file systems flushes them: it may take longer.
FREEZE_TIMEOUT = 60.0


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


def _channel(obj: DomainObj) -> Any:
    tree = obj.live
    if tree is None:
        return None
    for ch in tree.findall("devices/channel"):
        if X.get(ch, "target", "name") == AGENT_CHANNEL:
            return ch
    return None


def connected(obj: DomainObj) -> bool | None:
    """Whether the agent has its port open, as QEMU last said (VSERPORT_CHANGE); None: not known."""
    ch = _channel(obj)
    state = X.get(ch, "target", "state") if ch is not None else None
    return None if state is None else state == "connected"


def port_changed(obj: DomainObj, device: str, is_open: bool) -> bool:
    """Note a virtio-serial port opened or closed by the guest on the live definition (its target's
    ``state``, as libvirt shows it); returns whether that port is the agent's."""
    ch = _channel(obj)
    if ch is None or X.alias(ch) != device:
        return False
    target = ch.find("target")
    if target is not None:
        target.set("state", "connected" if is_open else "disconnected")
    return True


def _read_reply(sock: socket.socket, buf: bytearray) -> dict[str, Any]:
    while b"\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise AgentError("guest agent disappeared while executing command", domain=QEMU)
        buf.extend(chunk)
    line, _, rest = bytes(buf).partition(b"\n")
    buf[:] = rest
    return dict(json.loads(line.lstrip(b"\xff")))


def _unavailable() -> AgentError:
    """libvirt's error when the agent does not answer in time."""
    return AgentError("Guest agent not available for now", domain=QEMU)


def command(obj: DomainObj, name: str, arguments: dict[str, Any] | None = None, *,
            expect_reply: bool = True, timeout: float | None = TIMEOUT, raw: bool = False) -> Any:
    """Run one agent command; commands that end the guest (guest-shutdown) send no reply. ``raw``:
    the whole reply object rather than its "return" value. ``timeout``: seconds the reply gets
    (None: no limit; 0: none at all, as libvirt's NOWAIT: the agent is not available for now)."""
    path = channel_path(obj)
    if path is None:
        raise VirtError("QEMU guest agent is not configured", code=ErrorNumber.ARGUMENT_UNSUPPORTED, domain=QEMU)
    if connected(obj) is False:
        raise AgentError("QEMU guest agent is not connected", domain=QEMU)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    # The handshake gets the default time whatever the command's timeout, as libvirt's guest-sync
    # does (a timeout of 0 would make the socket non-blocking).
    sock.settimeout(TIMEOUT)
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
            if timeout == 0:
                # libvirt waits for the reply until "now": it gives up before the command is even
                # written, so the command is not sent here either.
                raise _unavailable()
            msg: dict[str, Any] = {"execute": name}
            if arguments:
                msg["arguments"] = arguments
            sock.settimeout(timeout)
            sock.sendall(json.dumps(msg).encode() + b"\n")
            if not expect_reply:
                return None
            reply = _read_reply(sock, buf)
        except TimeoutError:
            raise _unavailable() from None
        if "error" in reply:
            desc = reply["error"].get("desc", "unknown error")
            raise VirtError(f"unable to execute QEMU agent command '{name}': {desc}", domain=QEMU)
        return reply if raw else reply.get("return")
    finally:
        sock.close()


# ----------------------------------------------------------------------------------------- the calls
#: virDomainQemuAgentCommand's special timeouts (seconds otherwise).
TIMEOUT_BLOCK, TIMEOUT_DEFAULT, TIMEOUT_NOWAIT = -2, -1, 0
#: virDomainSetTime's flag: set the guest's clock from its RTC.
SET_TIME_SYNC = 1
#: virDomainSetUserPassword's flag: the password given is already crypted.
SET_PASSWORD_ENCRYPTED = 1
#: virDomainGetHostname's sources.
HOSTNAME_LEASE, HOSTNAME_AGENT = 1, 2
#: virConnectDomainEventAgentLifecycleState and its reason "channel".
AGENT_CONNECTED, AGENT_DISCONNECTED, AGENT_REASON_CHANNEL = 1, 2, 2
#: virDomainGuestInfoTypes this driver answers (0 asks for all of them).
GUEST_INFO_USERS, GUEST_INFO_OS, GUEST_INFO_TIMEZONE, GUEST_INFO_HOSTNAME, GUEST_INFO_INTERFACES = 1, 2, 4, 8, 64
#: guest-get-osinfo's fields, published as "os.<field>".
OS_FIELDS = ("id", "name", "pretty-name", "version", "version-id", "kernel-release", "kernel-version", "machine",
             "variant", "variant-id")
#: virDomainInterfaceAddresses' sources.
ADDRESSES_SRC_LEASE, ADDRESSES_SRC_AGENT, ADDRESSES_SRC_ARP = 0, 1, 2
#: virIPAddrType by the agent's "ip-address-type".
IP_ADDR_TYPES = {"ipv4": 0, "ipv6": 1}


def _timeout(seconds: int) -> float | None:
    if seconds < TIMEOUT_BLOCK:
        raise InvalidArgError(f"guest agent timeout '{seconds}' is less than the minimum '{TIMEOUT_BLOCK}'",
                              domain=QEMU)
    return {TIMEOUT_BLOCK: None, TIMEOUT_DEFAULT: TIMEOUT}.get(seconds, float(seconds))


class AgentCalls:
    """The guest-agent calls of ``QemuDriver`` (a mixin of it)."""

    if TYPE_CHECKING:

        def _active(self, dom: DomainRef) -> DomainObj: ...
        def check_writable(self, call: str) -> None: ...

    def domain_qemu_agent_command(self, dom: DomainRef, cmd: str, timeout: int = TIMEOUT_DEFAULT,
                                  flags: int = 0) -> str | None:
        """virDomainQemuAgentCommand: a raw agent command (JSON text); its whole reply as JSON text."""
        self.check_writable("domain_qemu_agent_command")
        wait = _timeout(timeout)
        obj = self._active(dom)
        try:
            msg = json.loads(cmd)
        except ValueError:
            raise InternalError(f"cannot parse json {cmd}: syntax error", domain=QEMU) from None
        if not isinstance(msg, dict) or not isinstance(msg.get("execute"), str):
            raise InternalError(f"cannot parse json {cmd}: not an agent command", domain=QEMU)
        with obj.job:
            reply = command(obj, msg["execute"], msg.get("arguments"), timeout=wait, raw=True)
        return None if reply is None else json.dumps(reply, separators=(",", ":"))

    def domain_get_time(self, dom: DomainRef, flags: int = 0) -> tuple[int, int]:
        obj = self._active(dom)
        if obj.state != S.RUNNING:
            raise OperationInvalidError("domain is not running", domain=QEMU)
        with obj.job:
            ns = int(command(obj, "guest-get-time"))
        return ns // 1_000_000_000, ns % 1_000_000_000

    def domain_set_time(self, dom: DomainRef, seconds: int, nseconds: int, flags: int = 0) -> None:
        self.check_writable("domain_set_time")
        if flags & ~SET_TIME_SYNC:
            raise InvalidArgError(f"unsupported flags (0x{flags & ~SET_TIME_SYNC:x}) in function qemuDomainSetTime",
                                  domain=QEMU)
        obj = self._active(dom)
        if obj.state != S.RUNNING:
            raise OperationInvalidError("domain is not running", domain=QEMU)
        args: dict[str, Any] | None = None
        if not flags & SET_TIME_SYNC:
            if seconds < 0 or seconds > (1 << 63) // 1_000_000_000:
                raise InvalidArgError(f"Time '{seconds}' is too big for guest agent", domain=QEMU)
            args = {"time": seconds * 1_000_000_000 + nseconds}
        with obj.job:
            command(obj, "guest-set-time", args)

    def domain_get_hostname(self, dom: DomainRef, flags: int = 0) -> str:
        if flags & HOSTNAME_LEASE or flags & ~(HOSTNAME_AGENT | HOSTNAME_LEASE):
            raise OperationUnsupportedError("hostname from DHCP leases is not supported by this driver",
                                            domain=QEMU)
        obj = self._active(dom)
        with obj.job:
            reply = command(obj, "guest-get-host-name")
        name = reply.get("host-name") if isinstance(reply, dict) else None
        if not isinstance(name, str):
            raise InternalError("malformed 'host-name' in guest agent reply", domain=QEMU)
        return name

    def domain_set_user_password(self, dom: DomainRef, user: str, password: str, flags: int = 0) -> None:
        """Set a guest user's password through the agent (``flags`` 1: ``password`` is already crypted)."""
        import base64

        self.check_writable("domain_set_user_password")
        if flags & ~SET_PASSWORD_ENCRYPTED:
            raise InvalidArgError(f"unsupported flags (0x{flags & ~SET_PASSWORD_ENCRYPTED:x}) in function "
                                  "qemuDomainSetUserPassword", domain=QEMU)
        obj = self._active(dom)
        with obj.job:
            command(obj, "guest-set-user-password", {"username": user, "crypted": bool(flags & SET_PASSWORD_ENCRYPTED),
                                                     "password": base64.b64encode(password.encode()).decode()})

    def domain_get_guest_info(self, dom: DomainRef, types: int = 0, flags: int = 0) -> dict[str, Any]:
        """virDomainGetGuestInfo: users, OS, time zone, host name and interfaces as the agent reports them."""
        known = GUEST_INFO_USERS | GUEST_INFO_OS | GUEST_INFO_TIMEZONE | GUEST_INFO_HOSTNAME | GUEST_INFO_INTERFACES
        if types & ~known:
            raise VirtError(f"guest info types 0x{types & ~known:x} are not supported by this driver",
                            code=ErrorNumber.ARGUMENT_UNSUPPORTED, domain=QEMU)
        wanted = types or known
        obj = self._active(dom)
        out: dict[str, Any] = {}
        with obj.job:
            if wanted & GUEST_INFO_USERS:
                users = command(obj, "guest-get-users") or []
                out["user.count"] = len(users)
                for i, user in enumerate(users):
                    out[f"user.{i}.name"] = user.get("user", "")
                    if user.get("domain"):
                        out[f"user.{i}.domain"] = user["domain"]
                    out[f"user.{i}.login-time"] = int(float(user.get("login-time", 0)) * 1000)
            if wanted & GUEST_INFO_OS:
                osinfo = command(obj, "guest-get-osinfo") or {}
                out.update({f"os.{k}": str(osinfo[k]) for k in OS_FIELDS if k in osinfo})
            if wanted & GUEST_INFO_TIMEZONE:
                tz = command(obj, "guest-get-timezone") or {}
                if tz.get("zone"):
                    out["timezone.name"] = tz["zone"]
                out["timezone.offset"] = int(tz.get("offset", 0))
            if wanted & GUEST_INFO_HOSTNAME:
                out["hostname"] = (command(obj, "guest-get-host-name") or {}).get("host-name", "")
            if wanted & GUEST_INFO_INTERFACES:
                ifaces = command(obj, "guest-network-get-interfaces") or []
                out["if.count"] = len(ifaces)
                for i, iface in enumerate(ifaces):
                    out[f"if.{i}.name"] = iface.get("name", "")
                    if iface.get("hardware-address"):
                        out[f"if.{i}.hwaddr"] = iface["hardware-address"]
                    addrs = [a for a in iface.get("ip-addresses", []) if a.get("ip-address-type") in IP_ADDR_TYPES]
                    out[f"if.{i}.addr.count"] = len(addrs)
                    for j, a in enumerate(addrs):
                        out[f"if.{i}.addr.{j}.type"] = a["ip-address-type"]
                        out[f"if.{i}.addr.{j}.addr"] = a.get("ip-address", "")
                        out[f"if.{i}.addr.{j}.prefix"] = int(a.get("prefix", 0))
        return out

    def domain_fsfreeze(self, dom: DomainRef, mountpoints: list[str] | None = None, flags: int = 0) -> int:
        """Freeze the guest's file systems (all, or those mounted at ``mountpoints``); how many froze."""
        self.check_writable("domain_fsfreeze")
        obj = self._active(dom)
        with obj.job:
            if mountpoints:
                return int(command(obj, "guest-fsfreeze-freeze-list", {"mountpoints": list(mountpoints)},
                                   timeout=FREEZE_TIMEOUT))
            return int(command(obj, "guest-fsfreeze-freeze", timeout=FREEZE_TIMEOUT))

    def domain_fsthaw(self, dom: DomainRef, mountpoints: list[str] | None = None, flags: int = 0) -> int:
        self.check_writable("domain_fsthaw")
        if mountpoints:
            raise VirtError("specifying mountpoints is not supported", code=ErrorNumber.ARGUMENT_UNSUPPORTED,
                            domain=QEMU)
        obj = self._active(dom)
        with obj.job:
            return int(command(obj, "guest-fsfreeze-thaw", timeout=FREEZE_TIMEOUT))

    def domain_interface_addresses(self, dom: DomainRef, source: int = ADDRESSES_SRC_LEASE,
                                   flags: int = 0) -> list[tuple[str, str | None, list[tuple[int, str, int]]]]:
        """(name, MAC, [(type, address, prefix)]) of each guest interface, as the guest agent sees them."""
        obj = self._active(dom)
        if source != ADDRESSES_SRC_AGENT:
            raise VirtError(f"Unknown IP address data source {source}" if source > ADDRESSES_SRC_ARP else
                            "this driver reads interface addresses from the guest agent only",
                            code=ErrorNumber.ARGUMENT_UNSUPPORTED, domain=QEMU)
        with obj.job:
            reply = command(obj, "guest-network-get-interfaces")
        out = []
        for iface in reply or []:
            addrs = [(IP_ADDR_TYPES.get(a.get("ip-address-type", ""), 0), str(a.get("ip-address")),
                      int(a.get("prefix", 0))) for a in iface.get("ip-addresses", [])
                     if a.get("ip-address-type") in IP_ADDR_TYPES]
            out.append((str(iface.get("name")), iface.get("hardware-address"), addrs))
        return out


# ----------------------------------------------------------------------------------------- guest vCPUs
def guest_vcpu_count(obj: DomainObj, maximum: bool) -> int:
    """The vCPUs the guest knows of (``maximum``), or those it has online."""
    cpus = command(obj, "guest-get-vcpus") or []
    return len(cpus) if maximum else sum(1 for c in cpus if c.get("online"))


def set_guest_vcpu_count(obj: DomainObj, nvcpus: int) -> None:
    """Online or offline guest vCPUs, in the guest's order, until ``nvcpus`` are online (as libvirt
    does: vCPUs the guest cannot offline stay online)."""
    cpus = command(obj, "guest-get-vcpus") or []
    online = sum(1 for c in cpus if c.get("online"))
    offlinable = sum(1 for c in cpus if c.get("online") and c.get("can-offline"))
    if nvcpus > len(cpus):
        raise InvalidArgError("guest agent reports less cpu than requested", domain=QEMU)
    if nvcpus < online - offlinable:
        raise InvalidArgError("Cannot offline enough CPUs", domain=QEMU)
    changes = []
    for cpu in cpus:
        if nvcpus < online and cpu.get("online") and cpu.get("can-offline"):
            changes.append({"logical-id": cpu["logical-id"], "online": False})
            online -= 1
        elif nvcpus > online and not cpu.get("online"):
            changes.append({"logical-id": cpu["logical-id"], "online": True})
            online += 1
        elif nvcpus == online:
            break
    done = 0
    while done < len(changes):
        # The agent stops at the first vCPU it fails to change: report that one.
        n = int(command(obj, "guest-set-vcpus", {"vcpus": changes[done:]}))
        if n <= 0:
            raise OperationFailedError(f"failed to set state of cpu {changes[done]['logical-id']} via guest agent",
                                       domain=QEMU)
        done += n
