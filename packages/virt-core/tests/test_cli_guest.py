"""The guest-agent and QEMU commands (cli/commands/guest.py) print what libvirt's virsh prints on test:///default.

libvirt's test driver answers domtime, domfsfreeze/domfsthaw, domhostname, domifaddr, set-user-password
and set-lifecycle-action, and refuses the others; option errors are virsh's own. Real guests (the QEMU
driver, its guest agent) are compared in virt-driver-qemu's tests/test_cli_agent.py.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest


def _virsh_helpers() -> Any:
    """test_cli_virsh.py's runners (the tests directory is not a package)."""
    spec = importlib.util.spec_from_file_location("_cli_virsh", Path(__file__).with_name("test_cli_virsh.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_helpers = _virsh_helpers()
compare, compare_all, needs_domains = _helpers.compare, _helpers.compare_all, _helpers.needs_domains
pytestmark = _helpers.pytestmark

LINES = [
    # domtime: get, pretty, set (nothing printed), option errors
    ["domtime", "test"], ["domtime", "test", "--pretty"], ["domtime", "test", "--time", "1234"],
    ["domtime", "test", "1234"], ["domtime", "test", "--now"], ["domtime", "test", "--sync"],
    ["domtime", "test", "--time", "5", "--now"], ["domtime", "test", "--time", "5", "--sync"],
    ["domtime", "test", "--now", "--sync"], ["domtime", "test", "--time", "abc"], ["domtime", "nosuch"],
    # file systems
    ["domfsfreeze", "test"], ["domfsfreeze", "test", "/"], ["domfsfreeze", "test", "--mountpoint", "/boot"],
    ["domfsfreeze", "test", "/nosuch"], ["domfsthaw", "test"], ["domfsthaw", "test", "/", "/boot"],
    # names and addresses
    ["domhostname", "test"], ["domhostname", "test", "--source", "agent"], ["domhostname", "test", "lease"],
    ["domhostname", "test", "--source", "bad"],
    ["domifaddr", "test"], ["domifaddr", "test", "--full"], ["domifaddr", "test", "testnet0"],
    ["domifaddr", "test", "--interface", "nosuch"], ["domifaddr", "test", "--source", "agent"],
    ["domifaddr", "test", "--source", "arp"], ["domifaddr", "test", "--source", "bad"],
    ["-q", "domifaddr", "test"],
    # users, lifecycle actions
    ["set-user-password", "test", "root", "pw"], ["set-user-password", "test", "root", "pw", "--encrypted"],
    ["set-user-password", "test", "--user", "root"],
    ["set-lifecycle-action", "test", "poweroff", "restart"], ["set-lifecycle-action", "test", "crash", "preserve",
                                                              "--config"],
    ["set-lifecycle-action", "test", "foo", "bar"], ["set-lifecycle-action", "test", "poweroff", "bar"],
    ["set-lifecycle-action", "test", "poweroff", "restart", "--current", "--live"],
    # refused by the test driver, or by virsh's option checks first
    ["guestinfo", "test"], ["guestinfo", "test", "--os", "--hostname"], ["guestvcpus", "test"],
    ["guestvcpus", "test", "1"], ["guestvcpus", "test", "--enable"], ["guestvcpus", "test", "--enable", "--disable"],
    ["guestvcpus", "test", "--cpulist", "0", "--enable"],
    ["qemu-agent-command", "test", '{"execute":"guest-ping"}'], ["qemu-agent-command", "test"],
    ["qemu-agent-command", "test", "--timeout", "0", "x"], ["qemu-agent-command", "test", "--async", "--block", "x"],
    ["qemu-agent-command", "test", "--timeout", "3", "--async", "x"],
    ["qemu-monitor-command", "test", '{"execute":"query-status"}'], ["qemu-monitor-command", "test", "query-status"],
    ["qemu-monitor-command", "test", "--hmp", "info", "status"],
    ["qemu-monitor-command", "test", "--hmp", "--pretty", "x"], ["qemu-monitor-command", "test", "--hmp",
                                                                 "--return-value", "x"],
    ["qemu-monitor-command", "test", "--pass-fds", "a", "x"],
    ["qemu-monitor-event", "--timeout", "1"], ["qemu-monitor-event", "--timeout", "0"],
    ["qemu-monitor-event", "nosuch"], ["qemu-monitor-event", "--domain", "test", "--event", "STOP", "--regex",
                                        "--no-case", "--timeout", "1"],
    # the domain event loop ends as virsh's does (how it ended, then the count; no event is a failure)
    ["event", "--all", "--timeout", "1"], ["event", "--event", "lifecycle", "--loop", "--timeout", "1"],
]


@needs_domains
def test_guest_commands_print_what_virsh_prints() -> None:
    compare_all(LINES)


@needs_domains
def test_freeze_thaw_sequence() -> None:
    rc, out, _ = compare("domfsfreeze test /; domfsfreeze test; domfsthaw test /boot; domfsthaw test; "
                         "domtime test --time 1700000000; domtime test --pretty")
    assert rc == 0 and "Froze 1 filesystem(s)" in out and "Time: 2023-11-14 22:13:20" in out


@pytest.mark.parametrize("command", ["domtime", "domifaddr", "domhostname", "domfsfreeze", "guestinfo", "guestvcpus",
                                     "qemu-agent-command", "qemu-monitor-command", "qemu-monitor-event", "set-user-password",
                                     "set-lifecycle-action"])
def test_help_matches_virsh(command: str) -> None:
    compare("help", command)
