"""Tests for virt.util.log: libvirt's log filter/output strings and the logging setup built from them."""

from __future__ import annotations

import logging
import os
import re
import socket
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from virt.util import log
from virt.util.errors import ConfigUnsupportedError, ErrorNumber, InvalidArgError
from virt.util.log import (
    JournaldHandler,
    LogFilter,
    LogOutput,
    ModuleFilter,
    parse_filters,
    parse_outputs,
    parse_priority,
    setup_logging,
)


@pytest.fixture(autouse=True)
def restore_virt_logger() -> Iterator[None]:
    logger = logging.getLogger("virt")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    for handler in logger.handlers:
        if handler not in saved[0]:
            handler.close()
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def test_parse_filters() -> None:
    assert parse_filters("1:qemu 3:util.file  +2:remote 4:+rpc") == [
        LogFilter(1, "qemu"), LogFilter(3, "util.file"), LogFilter(2, "remote"), LogFilter(4, "rpc")
    ]
    assert parse_filters("") == [] and parse_filters("   ") == []
    assert parse_filters("1:qemu:ignored") == [LogFilter(1, "qemu")]  # libvirt looks at two fields only
    assert str(LogFilter(1, "qemu")) == "1:qemu"


def test_parse_outputs() -> None:
    assert parse_outputs("1:stderr 2:file:/var/log/virt.log 3:syslog:virtd 4:journald") == [
        LogOutput(1, "stderr"),
        LogOutput(2, "file", "/var/log/virt.log"),
        LogOutput(3, "syslog", "virtd"),
        LogOutput(4, "journald"),
    ]
    # A repeated destination keeps its last definition, moved to the end.
    assert parse_outputs("1:file:/a 2:stderr 3:file:/a") == [LogOutput(2, "stderr"), LogOutput(3, "file", "/a")]
    assert parse_outputs("1:file:relative.log")[0].name == os.path.abspath("relative.log")
    assert str(LogOutput(2, "file", "/a")) == "2:file:/a"


BAD_FILTERS = [
    ("1", "Malformed format for filter '1'"),
    ("x:qemu", "Invalid priority 'x' for filter 'x:qemu'"),
    ("5:qemu", "Invalid priority '5' for filter '5:qemu'"),
    ("0:qemu", "Invalid priority '0' for filter '0:qemu'"),
    ("1:+", "Invalid match string '+'"),
    ("1:", "Invalid match string ''"),
    ("1:qemu -1:util", "Invalid priority '-1' for filter '-1:util'"),
]
BAD_OUTPUTS = [
    ("1", "Malformed format for log output '1'"),
    ("1:std", "Invalid log destination 'std' for log output '1:std'"),
    ("1:file", "Log output '1:file' does not meet the format requirements for destination type 'file'"),
    ("1:file:/a:b", "Log output '1:file:/a:b' does not meet the format requirements for destination type 'file'"),
    ("3:stderr:x", "Log output '3:stderr:x' does not meet the format requirements for destination type 'stderr'"),
    ("0:stderr", "Invalid log priority '0' for log output '0:stderr'"),
    ("1:stderr 9:stderr", "Invalid log priority '9' for log output '9:stderr'"),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILTERS)
def test_bad_filters(text: str, message: str) -> None:
    with pytest.raises(InvalidArgError) as info:
        parse_filters(text)
    assert str(info.value) == f"invalid argument: {message}"
    assert info.value.code is ErrorNumber.INVALID_ARG


@pytest.mark.parametrize(("text", "message"), BAD_OUTPUTS)
def test_bad_outputs(text: str, message: str) -> None:
    with pytest.raises(InvalidArgError) as info:
        parse_outputs(text)
    assert str(info.value) == f"invalid argument: {message}"


def test_parse_priority() -> None:
    assert [parse_priority(x) for x in ("1", "debug", 2, "warning", "4", "error")] == [1, 1, 2, 3, 4, 4]
    for bad in ("0", "5", "DEBUG", "warn", "", 7):
        with pytest.raises(InvalidArgError, match="Failed to set logging priority, argument '.*' is invalid"):
            parse_priority(bad)


def test_module_filter_first_match_wins() -> None:
    module_filter = ModuleFilter(parse_filters("1:qemu.monitor 4:qemu 2:util.f?le"), default_priority=3)
    assert module_filter.threshold("virt.driver.qemu.monitor") == logging.DEBUG
    assert module_filter.threshold("virt.driver.qemu.driver") == logging.ERROR
    assert module_filter.threshold("virt.util.fileutil") == logging.INFO  # glob '?' and substring match
    assert module_filter.threshold("virt.conf.domain") == logging.WARNING  # the default


def test_setup_routes_by_filter_and_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    debug_file = tmp_path / "debug.log"
    setup_logging(level=3, filters="1:qemu 4:util", outputs=f"1:file:{debug_file} 4:stderr")
    logging.getLogger("virt.driver.qemu.monitor").debug("qmp command %s", "query-status")
    logging.getLogger("virt.util.process").warning("util warning (filtered out)")
    logging.getLogger("virt.util.process").error("util error")
    logging.getLogger("virt.conf.domain").info("conf info (below default)")
    logging.getLogger("virt.conf.domain").warning("conf warning")
    for handler in logging.getLogger("virt").handlers:
        handler.flush()
    lines = debug_file.read_text().splitlines()
    assert [line.rsplit(" : ", 1)[1] for line in lines] == ["qmp command query-status", "util error", "conf warning"]
    pattern = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+0000: \d+: debug : virt\.driver\.qemu\.monitor:\d+ : qmp"
    assert re.match(pattern, lines[0]), lines[0]
    assert ": error : virt.util.process:" in lines[1]
    stderr = capsys.readouterr().err
    assert "util error" in stderr and "conf warning" not in stderr and "qmp" not in stderr


def test_debug_stays_cheap_when_nothing_wants_it(capsys: pytest.CaptureFixture[str]) -> None:
    logger = setup_logging(level="warning", filters="", outputs="1:stderr")
    assert logger.level == logging.WARNING
    assert not logging.getLogger("virt.x").isEnabledFor(logging.DEBUG)
    logger = setup_logging(level=3, filters="1:qemu", outputs="3:stderr")
    assert logger.level == logging.WARNING  # the only output starts at warning
    logger = setup_logging(level=3, filters="1:qemu", outputs="1:stderr")
    assert logger.level == logging.DEBUG


def test_environment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "env.log"
    environ = {
        "LIBVIRT_DEBUG": "4",
        "VIRT_DEBUG": "1",
        "LIBVIRT_LOG_FILTERS": "4:qemu",
        "LIBVIRT_LOG_OUTPUTS": f"1:file:{path}",
    }
    setup_logging(environ=environ)
    logging.getLogger("virt.conf.x").debug("from conf")  # VIRT_DEBUG=1 wins over LIBVIRT_DEBUG
    logging.getLogger("virt.driver.qemu.x").warning("qemu warning (filtered by LIBVIRT_LOG_FILTERS)")
    assert [line.rsplit(" : ", 1)[1] for line in path.read_text().splitlines()] == ["from conf"]
    # Defaults: warning and above, to stderr.
    setup_logging(environ={"VIRT_LOG_FILTERS": "", "LIBVIRT_DEBUG": ""})
    logging.getLogger("virt.conf.x").info("hidden")
    logging.getLogger("virt.conf.x").warning("shown")
    err = capsys.readouterr().err
    assert "shown" in err and "hidden" not in err
    with pytest.raises(InvalidArgError, match="Invalid priority 'x' for filter 'x:qemu'"):
        setup_logging(environ={"VIRT_LOG_FILTERS": "x:qemu"})


def test_bad_setup_keeps_the_previous_one(tmp_path: Path) -> None:
    path = tmp_path / "keep.log"
    setup_logging(level=2, outputs=f"2:file:{path}", filters="")
    with pytest.raises(InvalidArgError):
        setup_logging(level=2, outputs="2:stderr 2:nowhere", filters="")
    logging.getLogger("virt.x").info("still logged")
    assert "still logged" in path.read_text()
    setup_logging(level=2, outputs=f"2:file:{path}", filters="")  # replaces, does not duplicate
    logging.getLogger("virt.x").info("once")
    assert path.read_text().count("once") == 1


def test_unavailable_destinations_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log, "JOURNALD_SOCKET", str(tmp_path / "no-journal"))
    monkeypatch.setattr(log, "SYSLOG_SOCKET", str(tmp_path / "no-syslog"))
    with pytest.raises(ConfigUnsupportedError) as info:
        setup_logging(outputs="3:journald", filters="", level=3)
    assert str(info.value) == (
        f"unsupported configuration: log output '3:journald' needs systemd-journald: "
        f"{tmp_path / 'no-journal'} does not exist"
    )
    with pytest.raises(ConfigUnsupportedError, match="log output '3:syslog:virtd' needs a syslog daemon"):
        setup_logging(outputs="3:syslog:virtd", filters="", level=3)
    with pytest.raises(Exception, match=f"failed to open {tmp_path}/missing/x.log: No such file or directory"):
        setup_logging(outputs=f"3:file:{tmp_path}/missing/x.log", filters="", level=3)


def test_journald_native_protocol(tmp_path: Path) -> None:
    server_path = str(tmp_path / "journal.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(server_path)
    server.settimeout(5)
    handler = JournaldHandler(logging.DEBUG, server_path)
    try:
        logger = logging.getLogger("virt.test.journald")
        logger.addHandler(handler)
        logger.warning("single line")
        logger.error("two\nlines")
        first, second = server.recv(65536), server.recv(65536)
    finally:
        logging.getLogger("virt.test.journald").removeHandler(handler)
        handler.close()
        server.close()
    fields = dict(line.split(b"=", 1) for line in first.splitlines())
    assert fields[b"MESSAGE"] == b"single line" and fields[b"PRIORITY"] == b"4"
    assert fields[b"LIBVIRT_MODULE"] == b"virt.test.journald" and fields[b"CODE_FUNC"] == b"test_journald_native_protocol"
    start = second.index(b"MESSAGE\n") + len(b"MESSAGE\n")
    (length,) = struct.unpack("<Q", second[start : start + 8])
    assert second[start + 8 : start + 8 + length] == b"two\nlines"
    assert b"PRIORITY=3\n" in second


def _libvirt_init_error(virsh: str, variable: str, value: str) -> str | None:
    proc = subprocess.run(
        [virsh, "-c", "test:///default", "uri"], env={**os.environ, variable: value},
        capture_output=True, text=True, timeout=60, check=False,
    )
    found = re.search(r"libvirt: +error : (.*)", proc.stderr)
    return found.group(1) if found else None


def test_parse_errors_agree_with_libvirt(virsh: str) -> None:
    """libvirt parses LIBVIRT_LOG_FILTERS/OUTPUTS/DEBUG at startup and reports bad ones: same words."""
    for variable, text, ours in [
        *[("LIBVIRT_LOG_FILTERS", text, message) for text, message in BAD_FILTERS],
        *[("LIBVIRT_LOG_OUTPUTS", text, message) for text, message in BAD_OUTPUTS],
        ("LIBVIRT_DEBUG", "bogus", "Failed to set logging priority, argument 'bogus' is invalid"),
    ]:
        assert _libvirt_init_error(virsh, variable, text) == f"invalid argument: {ours}", (variable, text)
    assert _libvirt_init_error(virsh, "LIBVIRT_LOG_FILTERS", "1:qemu:extra +2:remote 3:+util") is None
    assert _libvirt_init_error(virsh, "LIBVIRT_LOG_OUTPUTS", "4:stderr 4:journald") is None
