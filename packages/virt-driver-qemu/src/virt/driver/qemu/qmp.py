"""A QMP (QEMU Machine Protocol) client: greeting and capability negotiation, commands with ids, events.

Plain blocking sockets and one reader thread rather than asyncio: importing and starting an event
loop costs more than the whole QMP handshake (a few milliseconds), and the driver's callers are
synchronous. Replies are matched to commands by ``id``; events go to a callback on the reader
thread, in the order QEMU sent them; end of file goes to ``on_eof`` once.

A monitor can also be a recorded transcript (``ReplayMonitor``): libvirt's ``.replies`` format, a
sequence of QMP commands and the replies QEMU gave, which lets the capabilities prober run offline.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from virt.util.errors import ErrorDomain, ErrorNumber, InternalError, OperationFailedError, OperationTimeoutError

#: ``on_event(name, data, timestamp_seconds)``.
EventCallback = Callable[[str, dict[str, Any], float], None]


class QMPError(InternalError):
    """QEMU rejected a command: ``error.class`` is kept as ``qmp_class``, the text as libvirt words it."""

    def __init__(self, command: str, qmp_class: str, desc: str) -> None:
        super().__init__(f"unable to execute QEMU command '{command}': {desc}", domain=ErrorDomain.QEMU)
        self.command, self.qmp_class, self.desc = command, qmp_class, desc


class MonitorClosedError(OperationFailedError):
    """The monitor connection ended (QEMU exited or closed it)."""

    def __init__(self, detail: str = "End of file from qemu monitor") -> None:
        super().__init__(detail, code=ErrorNumber.OPERATION_FAILED, domain=ErrorDomain.QEMU)


class Monitor(Protocol):
    """What code talking to QEMU needs: run a command, get its ``return`` value or a QMPError."""

    def execute(self, command: str, arguments: dict[str, Any] | None = None, *,
                timeout: float | None = None) -> Any: ...


class _Pending:
    __slots__ = ("event", "reply")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reply: dict[str, Any] | None = None


class QMPClient:
    """One QMP connection. ``QMPClient.connect(path)`` dials a unix socket (retrying while QEMU
    starts), reads the greeting and negotiates capabilities; ``from_socket`` adopts a connected
    socket (one end of a socketpair whose other end QEMU inherited)."""

    def __init__(self, sock: socket.socket, *, on_event: EventCallback | None = None,
                 on_eof: Callable[[], None] | None = None) -> None:
        self._sock = sock
        self.on_event = on_event
        self.on_eof = on_eof
        self.greeting: dict[str, Any] = {}
        self._ids = itertools.count(1)
        self._pending: dict[str, _Pending] = {}
        self._anonymous: deque[_Pending] = deque()  # messages without an id, answered in order
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._greeted = threading.Event()
        self._closed = False
        self._eof_reason: str | None = None
        self._reader = threading.Thread(target=self._read_loop, name="qmp-reader", daemon=True)
        self._reader.start()

    # -- opening ------------------------------------------------------------------------------
    @classmethod
    def connect(cls, path: str | os.PathLike[str], *, timeout: float = 30.0, negotiate: bool = True,
                alive: Callable[[], bool] | None = None, **kw: Any) -> QMPClient:
        """Connect to QEMU's monitor socket at ``path``, waiting up to ``timeout`` for it to appear.

        ``alive`` (e.g. "the QEMU process has not exited") stops the wait early when it turns false.
        """
        deadline = time.monotonic() + timeout
        delay = 0.001
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(os.fspath(path))
                break
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                sock.close()
                if time.monotonic() > deadline or (alive is not None and not alive()):
                    raise InternalError(f"monitor socket did not show up: {exc.strerror}",
                                        domain=ErrorDomain.QEMU) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        client = cls(sock, **kw)
        if negotiate:
            client.negotiate(timeout=max(0.1, deadline - time.monotonic()))
        return client

    @classmethod
    def from_socket(cls, sock: socket.socket, *, negotiate: bool = True, timeout: float = 30.0,
                    **kw: Any) -> QMPClient:
        client = cls(sock, **kw)
        if negotiate:
            client.negotiate(timeout=timeout)
        return client

    def negotiate(self, timeout: float = 30.0) -> dict[str, Any]:
        """Wait for the greeting and leave capability-negotiation mode (``qmp_capabilities``)."""
        if not self._greeted.wait(timeout):
            raise OperationTimeoutError("timed out waiting for the QMP greeting", domain=ErrorDomain.QEMU)
        if self._eof_reason is not None and not self.greeting:
            raise MonitorClosedError(self._eof_reason)
        self.execute("qmp_capabilities", timeout=timeout)
        return self.greeting

    @property
    def version(self) -> tuple[int, int, int]:
        q = self.greeting.get("QMP", {}).get("version", {}).get("qemu", {})
        return int(q.get("major", 0)), int(q.get("minor", 0)), int(q.get("micro", 0))

    # -- commands -----------------------------------------------------------------------------
    def execute(self, command: str, arguments: dict[str, Any] | None = None, *,
                timeout: float | None = None, fds: Sequence[int] = ()) -> Any:
        """Run ``command`` and return its ``return`` value; QEMU's error becomes a QMPError.

        ``fds`` are passed along with the command (SCM_RIGHTS), as ``getfd``/``add-fd`` expect.
        """
        reply = self.execute_raw(command, arguments, timeout=timeout, fds=fds)
        if "error" in reply:
            err = reply["error"]
            raise QMPError(command, str(err.get("class", "GenericError")), str(err.get("desc", "")))
        return reply.get("return")

    def execute_raw(self, command: str, arguments: dict[str, Any] | None = None, *,
                    timeout: float | None = None, fds: Sequence[int] = ()) -> dict[str, Any]:
        """Run ``command`` and return QEMU's whole reply object (``return`` or ``error``)."""
        msg: dict[str, Any] = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        return self.execute_message(msg, timeout=timeout, fds=fds)

    def execute_message(self, msg: dict[str, Any], *, timeout: float | None = None,
                        fds: Sequence[int] = ()) -> dict[str, Any]:
        """Send the QMP object ``msg`` as given (a user's command: virDomainQemuMonitorCommand) and
        return QEMU's whole reply. A command (``execute``) gets an ``id`` added, as libvirt does; QEMU
        answers anything else without one, and that answer goes to the oldest such message."""
        command = str(msg.get("execute", ""))
        if "execute" in msg:
            cmd_id: str | None = f"libvirt-{next(self._ids)}"  # libvirt's ids, seen in raw replies
            msg = {**msg, "id": cmd_id}
        else:
            cmd_id = None
        data = json.dumps(msg, separators=(",", ":")).encode() + b"\r\n"
        slot = _Pending()
        with self._lock:
            if self._eof_reason is not None:
                raise MonitorClosedError(self._eof_reason)
            if cmd_id is None:
                self._anonymous.append(slot)
            else:
                self._pending[cmd_id] = slot
        try:
            with self._send_lock:
                if fds:
                    socket.send_fds(self._sock, [data], list(fds))
                else:
                    self._sock.sendall(data)
        except OSError as exc:
            self._forget(cmd_id, slot)
            raise MonitorClosedError(f"cannot send to qemu monitor: {exc.strerror or exc}") from None
        if not slot.event.wait(timeout):
            self._forget(cmd_id, slot)
            raise OperationTimeoutError(f"timed out waiting for QEMU command '{command}'", domain=ErrorDomain.QEMU)
        if slot.reply is None:
            raise MonitorClosedError(self._eof_reason or "End of file from qemu monitor")
        return slot.reply

    def _forget(self, cmd_id: str | None, slot: _Pending) -> None:
        with self._lock:
            if cmd_id is not None:
                self._pending.pop(cmd_id, None)
            elif slot in self._anonymous:
                self._anonymous.remove(slot)

    # -- reading ------------------------------------------------------------------------------
    def _read_loop(self) -> None:
        buf = b""
        reason = "End of file from qemu monitor"
        try:
            while True:
                try:
                    chunk = self._sock.recv(65536)
                except OSError as exc:
                    if not self._closed:
                        reason = f"Unable to read from monitor: {exc.strerror or exc}"
                    break
                if not chunk:
                    break
                buf += chunk
                while (nl := buf.find(b"\n")) >= 0:
                    line, buf = buf[:nl].strip(), buf[nl + 1:]
                    if line:
                        self._dispatch(line)
        finally:
            self._finish(reason)

    def _dispatch(self, line: bytes) -> None:
        try:
            msg = json.loads(line)
        except ValueError:
            return  # QEMU never sends malformed JSON; ignore rather than kill the connection
        if not isinstance(msg, dict):
            return
        if "QMP" in msg and not self._greeted.is_set():
            self.greeting = msg
            self._greeted.set()
        elif "event" in msg:
            if self.on_event is not None:
                ts = msg.get("timestamp", {})
                when = float(ts.get("seconds", 0)) + float(ts.get("microseconds", 0)) / 1e6
                self.on_event(str(msg["event"]), msg.get("data") or {}, when)
        elif "return" in msg or "error" in msg:
            with self._lock:
                if "id" in msg:
                    slot = self._pending.pop(str(msg["id"]), None)
                else:
                    slot = self._anonymous.popleft() if self._anonymous else None
            if slot is not None:
                slot.reply = msg
                slot.event.set()

    def _finish(self, reason: str) -> None:
        with self._lock:
            self._eof_reason = reason
            pending, self._pending = self._pending, {}
            anonymous, self._anonymous = list(self._anonymous), deque()
        for slot in [*pending.values(), *anonymous]:
            slot.event.set()
        self._greeted.set()
        if not self._closed and self.on_eof is not None:
            self.on_eof()

    # -- closing ------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._eof_reason is not None

    def close(self) -> None:
        """Hang up. QEMU keeps running; pending commands fail with MonitorClosedError."""
        if self._closed:
            return
        self._closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        if threading.current_thread() is not self._reader:
            self._reader.join(timeout=5)

    def __enter__(self) -> QMPClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ----------------------------------------------------------------------------- recorded transcripts

def iter_json_documents(text: str) -> Iterator[Any]:
    """The JSON values of a file holding several, separated by whitespace (libvirt's ``.replies``)."""
    decoder = json.JSONDecoder()
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos].isspace():
            pos += 1
        if pos >= end:
            return
        value, pos = decoder.raw_decode(text, pos)
        yield value


def _key(command: str, arguments: dict[str, Any] | None) -> str:
    return command + " " + json.dumps(arguments or {}, sort_keys=True)


class ReplayMonitor:
    """Answers commands from a recorded transcript (libvirt's ``.replies`` format).

    Each command gets the reply recorded for the same command and arguments, in recording order, so
    a prober that asks the same questions (in any order) sees what QEMU answered then. A question
    the transcript does not hold is answered with QEMU's "command not found" error.
    """

    def __init__(self, pairs: Sequence[tuple[dict[str, Any], dict[str, Any]]], name: str = "") -> None:
        self.name = name
        self._replies: dict[str, deque[dict[str, Any]]] = defaultdict(deque)
        for cmd, reply in pairs:
            self._replies[_key(cmd["execute"], cmd.get("arguments"))].append(reply)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ReplayMonitor:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise InternalError(f"cannot read QEMU capabilities transcript '{os.fspath(path)}': "
                                f"{exc.strerror}") from None
        try:
            docs = list(iter_json_documents(text))
        except ValueError as exc:
            raise InternalError(f"malformed QEMU capabilities transcript '{os.fspath(path)}': {exc}") from None
        pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
        cmd: dict[str, Any] | None = None
        for doc in docs:
            if not isinstance(doc, dict):
                continue
            if "execute" in doc:
                cmd = doc
            elif cmd is not None and ("return" in doc or "error" in doc):
                pairs.append((cmd, doc))
                cmd = None
        return cls(pairs, name=Path(path).name)

    def has(self, command: str, arguments: dict[str, Any] | None = None) -> bool:
        return bool(self._replies.get(_key(command, arguments)))

    def execute(self, command: str, arguments: dict[str, Any] | None = None, *,
                timeout: float | None = None) -> Any:
        queue = self._replies.get(_key(command, arguments))
        if not queue:
            raise QMPError(command, "CommandNotFound", f"The command {command} has not been found")
        reply = queue.popleft()
        if "error" in reply:
            err = reply["error"]
            raise QMPError(command, str(err.get("class", "GenericError")), str(err.get("desc", "")))
        return reply.get("return")
