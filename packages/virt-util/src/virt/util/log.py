"""libvirt-style logging on top of the stdlib: priorities 1-4, log filters and log outputs as libvirt writes them.

A filter ``"1:qemu 3:util.file"`` sets the priority threshold of every module whose logger name contains
the match string (``*`` and ``?`` are wildcards; the first matching filter wins; other modules use the
default priority). An output ``"1:stderr"``, ``"2:file:/var/log/virt.log"``, ``"3:syslog:virtd"`` or
``"3:journald"`` receives every message at or above its own priority that passed the filters.
Module loggers are named ``virt.<package>.<module>`` (``logging.getLogger(__name__)``).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import socket
import struct
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import ClassVar, Literal

from virt.util.errors import ConfigUnsupportedError, InvalidArgError, SystemError_

#: libvirt priority (virLogPriority) -> stdlib level.
PRIORITY_LEVELS: dict[int, int] = {1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}
PRIORITY_NAMES: dict[int, str] = {1: "debug", 2: "info", 3: "warning", 4: "error"}
#: libvirt's default priority (VIR_LOG_DEFAULT): warnings and errors.
DEFAULT_PRIORITY = 3
#: The logger every virt module logs under.
ROOT_LOGGER = "virt"
JOURNALD_SOCKET = "/run/systemd/journal/socket"
SYSLOG_SOCKET = "/dev/log"

Destination = Literal["stderr", "file", "syslog", "journald"]
#: How many ':'-separated fields each destination takes (virLogParseOutput).
_DESTINATION_FIELDS: dict[str, int] = {"stderr": 2, "journald": 2, "file": 3, "syslog": 3}


@dataclass(frozen=True)
class LogFilter:
    """One filter: messages from modules matching ``match`` pass from ``priority`` up."""

    priority: int
    match: str

    def matches(self, name: str) -> bool:
        """libvirt treats the match string as a glob anywhere in the name ('*match*')."""
        return fnmatchcase(name, f"*{self.match}*")

    def __str__(self) -> str:
        return f"{self.priority}:{self.match}"


@dataclass(frozen=True)
class LogOutput:
    """One output: where messages of ``priority`` and above go; ``name`` is the file path or syslog tag."""

    priority: int
    destination: Destination
    name: str | None = None

    def __str__(self) -> str:
        return f"{self.priority}:{self.destination}" + (f":{self.name}" if self.name is not None else "")


def _parse_number(text: str) -> int | None:
    # virStrToLong_uip: leading blanks and a '+' are allowed, nothing may follow the digits.
    body = text.lstrip(" \t\n\v\f\r")
    body = body.removeprefix("+")
    return int(body) if body.isascii() and body.isdigit() else None


def parse_priority(text: str | int) -> int:
    """A default priority: 1-4 or debug/info/warning/error (virLogParseDefaultPriority)."""
    if isinstance(text, int) and not isinstance(text, bool) and text in PRIORITY_NAMES:
        return text
    for number, name in PRIORITY_NAMES.items():
        if text in (str(number), name):
            return number
    raise InvalidArgError(f"Failed to set logging priority, argument '{text}' is invalid")


def parse_filter(text: str) -> LogFilter:
    """One ``priority:match`` filter; a '+' before the match (libvirt's old stack-trace flag) is ignored."""
    fields = text.split(":")
    if len(fields) < 2:
        raise InvalidArgError(f"Malformed format for filter '{text}'")
    priority = _parse_number(fields[0])
    if priority not in PRIORITY_NAMES:
        raise InvalidArgError(f"Invalid priority '{fields[0]}' for filter '{text}'")
    match = fields[1].removeprefix("+")
    if not match:
        raise InvalidArgError(f"Invalid match string '{fields[1]}'")
    return LogFilter(priority, match)


def parse_filters(text: str) -> list[LogFilter]:
    """Space-separated filters ("1:qemu 3:util.file"); an empty string gives no filters."""
    return [parse_filter(item) for item in text.split(" ") if item]


def parse_output(text: str) -> LogOutput:
    """One ``priority:destination[:name]`` output (stderr, journald, file:<path>, syslog:<tag>)."""
    fields = text.split(":")
    if len(fields) < 2:
        raise InvalidArgError(f"Malformed format for log output '{text}'")
    priority = _parse_number(fields[0])
    if priority not in PRIORITY_NAMES:
        raise InvalidArgError(f"Invalid log priority '{fields[0]}' for log output '{text}'")
    destination = fields[1]
    if destination not in _DESTINATION_FIELDS:
        raise InvalidArgError(f"Invalid log destination '{destination}' for log output '{text}'")
    if len(fields) != _DESTINATION_FIELDS[destination]:
        raise InvalidArgError(
            f"Log output '{text}' does not meet the format requirements for destination type '{destination}'"
        )
    name = fields[2] if len(fields) == 3 else None
    if destination == "file" and name is not None:
        name = os.path.abspath(name)
    return LogOutput(priority, destination, name)  # type: ignore[arg-type]


def parse_outputs(text: str) -> list[LogOutput]:
    """Space-separated outputs; a repeated destination (same file, same syslog tag) keeps its last definition."""
    outputs: list[LogOutput] = []
    for item in text.split(" "):
        if item:
            output = parse_output(item)
            outputs = [o for o in outputs if (o.destination, o.name) != (output.destination, output.name)]
            outputs.append(output)
    return outputs


class ModuleFilter(logging.Filter):
    """Applies the log filters and the default priority to each record by its logger name."""

    def __init__(self, filters: Sequence[LogFilter], default_priority: int) -> None:
        super().__init__()
        self.filters = list(filters)
        self.default_priority = default_priority
        self._cache: dict[str, int] = {}

    def threshold(self, name: str) -> int:
        """The stdlib level a module's messages need to pass."""
        level = self._cache.get(name)
        if level is None:
            priority = next((f.priority for f in self.filters if f.matches(name)), self.default_priority)
            level = self._cache[name] = PRIORITY_LEVELS[priority]
        return level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.threshold(record.name)


class LibvirtFormatter(logging.Formatter):
    """libvirt's log line: "2024-01-02 03:04:05.678+0000: 1234: debug : module:line : message"."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(record.created))
        millis = int(record.msecs)
        priority = _priority_name(record.levelno)
        text = f"{stamp}.{millis:03d}+0000: {record.process}: {priority} : {record.name}:{record.lineno} : {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _priority_name(levelno: int) -> str:
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warning"
    if levelno >= logging.INFO:
        return "info"
    return "debug"


class JournaldHandler(logging.Handler):
    """Sends records to systemd-journald over its native datagram protocol."""

    _SYSLOG_PRIORITY: ClassVar[dict[str, int]] = {"error": 3, "warning": 4, "info": 6, "debug": 7}

    def __init__(self, level: int, path: str = JOURNALD_SOCKET) -> None:
        super().__init__(level)
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @staticmethod
    def _field(key: str, value: str) -> bytes:
        data = value.encode("utf-8", errors="replace")
        if b"\n" in data:  # binary-safe form: key, newline, little-endian 64-bit length, data
            return key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        return key.encode() + b"=" + data + b"\n"

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = {
                "MESSAGE": record.getMessage(),
                "PRIORITY": str(self._SYSLOG_PRIORITY[_priority_name(record.levelno)]),
                "LIBVIRT_SOURCE": "file",
                "CODE_FILE": record.pathname,
                "CODE_LINE": str(record.lineno),
                "CODE_FUNC": record.funcName,
                "LIBVIRT_MODULE": record.name,
                "SYSLOG_IDENTIFIER": Path(sys.argv[0]).name or "python",
            }
            self.sock.sendto(b"".join(self._field(k, v) for k, v in fields.items()), self.path)
        except (OSError, ValueError, TypeError):
            self.handleError(record)

    def close(self) -> None:
        self.sock.close()
        super().close()


def make_handler(output: LogOutput) -> logging.Handler:
    """A stdlib handler for one output; destinations this host lacks raise ConfigUnsupportedError."""
    level = PRIORITY_LEVELS[output.priority]
    handler: logging.Handler
    if output.destination == "stderr":
        handler = logging.StreamHandler(sys.stderr)
    elif output.destination == "file":
        assert output.name is not None
        try:
            handler = logging.FileHandler(output.name, mode="a", encoding="utf-8")
        except OSError as err:
            raise SystemError_.from_errno(err, f"failed to open {output.name}") from None
    elif output.destination == "syslog":
        if not os.path.exists(SYSLOG_SOCKET):
            raise ConfigUnsupportedError(f"log output '{output}' needs a syslog daemon: {SYSLOG_SOCKET} does not exist")
        handler = logging.handlers.SysLogHandler(SYSLOG_SOCKET, facility=logging.handlers.SysLogHandler.LOG_DAEMON)
        handler.ident = f"{output.name}: "
    else:
        if not os.path.exists(JOURNALD_SOCKET):
            raise ConfigUnsupportedError(
                f"log output '{output}' needs systemd-journald: {JOURNALD_SOCKET} does not exist"
            )
        handler = JournaldHandler(level)
    handler.setLevel(level)
    if not isinstance(handler, JournaldHandler):
        handler.setFormatter(LibvirtFormatter())
    return handler


def _env(environ: Mapping[str, str], name: str) -> str | None:
    # VIRT_* first, then libvirt's own LIBVIRT_* spelling; empty values count as unset, as in libvirt.
    return environ.get(f"VIRT_{name}") or environ.get(f"LIBVIRT_{name}") or None


def setup_logging(
    level: int | str | None = None,
    filters: str | Sequence[LogFilter] | None = None,
    outputs: str | Sequence[LogOutput] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> logging.Logger:
    """Configure the ``virt`` logger; arguments left None come from the environment.

    ``level``: VIRT_DEBUG / LIBVIRT_DEBUG, else 3 (warning). ``filters``: VIRT_LOG_FILTERS /
    LIBVIRT_LOG_FILTERS. ``outputs``: VIRT_LOG_OUTPUTS / LIBVIRT_LOG_OUTPUTS, else stderr at the
    default priority. Everything is parsed before anything changes, so a bad string (InvalidArgError
    naming it) leaves the previous setup in place. Calling again replaces the previous setup.
    """
    env = os.environ if environ is None else environ
    if level is None:
        level_text = _env(env, "DEBUG")
        priority = parse_priority(level_text) if level_text else DEFAULT_PRIORITY
    else:
        priority = parse_priority(level)
    if filters is None:
        filters = _env(env, "LOG_FILTERS") or ""
    filter_list = parse_filters(filters) if isinstance(filters, str) else list(filters)
    if outputs is None:
        outputs = _env(env, "LOG_OUTPUTS") or ""
    output_list = parse_outputs(outputs) if isinstance(outputs, str) else list(outputs)
    if not output_list:
        output_list = [LogOutput(priority, "stderr")]

    handlers = [make_handler(output) for output in output_list]
    module_filter = ModuleFilter(filter_list, priority)
    logger = logging.getLogger(ROOT_LOGGER)
    for old in [h for h in logger.handlers if getattr(h, "_virt_managed", False)]:
        logger.removeHandler(old)
        old.close()
    for handler in handlers:
        handler.addFilter(module_filter)
        handler._virt_managed = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    # Let through only what some filter or the default could accept, so disabled debug calls stay cheap.
    lowest = min([priority, *(f.priority for f in filter_list)])
    logger.setLevel(max(PRIORITY_LEVELS[lowest], min(h.level for h in handlers)))
    logger.propagate = False
    return logger
