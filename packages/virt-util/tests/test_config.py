"""Tests for virt.util.config: libvirt's config-file syntax, errors checked against libvirt's own parser."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st
from virt.util.config import ConfFlags, Config, format_value, parse, read
from virt.util.errors import (
    ConfSyntaxError,
    ErrorDomain,
    ErrorNumber,
    InternalError,
    SystemError_,
)

if TYPE_CHECKING:
    from conftest import VirshWithClientConf

QEMU_CONF = """\
# Master configuration file for the QEMU driver.
#
#vnc_listen = "0.0.0.0"
vnc_tls = 1
user = "root"   # run as root
security_driver = [ "selinux", "apparmor" ]
cgroup_device_acl = [
    "/dev/null", "/dev/full", "/dev/zero",
    "/dev/random", "/dev/urandom",
]
max_processes = 0; max_files = -1
nested = [ [ 1, "a" ], [] ]
quoted = 'He said "hi"'
"""


def test_parse_typed_values() -> None:
    conf = parse(QEMU_CONF, "/etc/libvirt/qemu.conf")
    assert conf.as_dict() == {
        "vnc_tls": 1,
        "user": "root",
        "security_driver": ["selinux", "apparmor"],
        "cgroup_device_acl": ["/dev/null", "/dev/full", "/dev/zero", "/dev/random", "/dev/urandom"],
        "max_processes": 0,
        "max_files": -1,
        "nested": [[1, "a"], []],
        "quoted": 'He said "hi"',
    }
    assert "vnc_listen" not in conf and "user" in conf and len(conf) == 8
    assert list(conf)[:2] == ["vnc_tls", "user"]


def test_typed_accessor() -> None:
    conf = parse(QEMU_CONF, "/etc/libvirt/qemu.conf")
    assert conf.get("vnc_tls", bool) is True
    assert conf.get("vnc_listen", str, "127.0.0.1") == "127.0.0.1"
    assert conf.get("max_files", int) == -1
    assert conf.get("security_driver", list) == ["selinux", "apparmor"]
    assert conf.get("user") == "root"
    assert conf.get("missing") is None
    with pytest.raises(InternalError) as info:
        conf.get("user", bool)
    assert str(info.value) == "internal error: /etc/libvirt/qemu.conf: expected a bool for 'user' parameter"
    with pytest.raises(InternalError, match="expected a bool for 'max_files'"):
        conf.get("max_files", bool)
    with pytest.raises(InternalError, match="expected a string for 'vnc_tls' parameter"):
        conf.get("vnc_tls", str)
    with pytest.raises(InternalError, match="expected a signed integer for 'user' parameter"):
        conf.get("user", int)
    with pytest.raises(InternalError, match="expected a string list for 'user' parameter"):
        conf.get("user", list)
    with pytest.raises(ConfSyntaxError, match="expected a string list for 'nested' parameter"):
        conf.get("nested", list)
    with pytest.raises(InternalError, match="unsupported configuration value type"):
        conf.get("user", float)
    with pytest.raises(InternalError, match="must be 0 or 1"):
        parse("flag = 2").get("flag", bool)


def test_int_ranges_and_string_lists() -> None:
    conf = parse("port = 70000\nname = 'one'\nnames = [ 'a' ]\nnum = 3")
    assert conf.get_int("port", min=0, max=70000) == 70000
    assert conf.get_int("missing", 5) == 5
    with pytest.raises(InternalError) as info:
        conf.get_int("port", min=0, max=65535)
    assert str(info.value) == "internal error: memory conf: value for 'port' parameter must be in range 0:65535"
    assert conf.get_string_list("name", compat_string=True) == ["one"]
    assert conf.get_string_list("names", compat_string=True) == ["a"]
    assert conf.get_string_list("missing", ["d"]) == ["d"]
    with pytest.raises(InternalError, match="expected a string or string list for 'num' parameter"):
        conf.get_string_list("num", compat_string=True)
    with pytest.raises(InternalError, match="expected a string list for 'name' parameter"):
        conf.get_string_list("name")


def test_first_entry_wins_and_repeats_are_kept() -> None:
    conf = parse("a = 1\na = 2\n")
    assert conf["a"] == 1 and conf.get_all("a") == [1, 2] and len(conf) == 1


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('a = """multi\nline "quoted" text"""', 'multi\nline "quoted" text'),
        ("a = 'single'", "single"),
        ('a = "back\\\\slash"', "back\\\\slash"),  # no escapes: what is between the quotes, verbatim
        ('a = "x" ; b = 2', "x"),
        ("a=+7", 7),
        ("a = []", []),
        ("a = [\n\n]", []),
        ("a = [ 1, ]", [1]),
        ("a = \"\"", ""),
        ("\n\n  a = 1\n\n", 1),
        ("a = 1\r\n", 1),
    ],
)
def test_values(text: str, value: object) -> None:
    assert parse(text)["a"] == value


def test_empty_and_comment_only_files() -> None:
    assert len(parse("")) == 0
    assert len(parse("# nothing here\n#\n")) == 0


ERROR_CASES = [
    ("a = ", 1, "expecting a value"),
    ("a =\nb = 1", 1, "expecting a value"),
    ('a = "x', 1, "unterminated string"),
    ('a = "x\n"', 1, "unterminated string"),
    ("a = 'x", 1, "unterminated string"),
    ('a = """x\n\ny = 1 ', 3, "unterminated string"),
    ("a 1", 1, "expecting an assignment"),
    ("1 = 2", 1, "expecting a name"),
    ("_a = 2", 1, "expecting a name"),
    ("a = [1 2]", 1, "expecting a separator in list"),
    ("a = [1,", 1, "expecting a value"),
    ("a = [\n1,\n2\n", 4, "list is not closed with ]"),
    ("a = 1 b", 1, "expecting a separator"),
    ("a = 1\nb = 2 3\n", 2, "expecting a separator"),
    ("a = +", 1, "unterminated number"),
    ("a = -x", 1, "unterminated number"),
    ("a = x", 1, "expecting a value"),
    ("a = 1\n\n\n  # c\n b = ?", 5, "expecting a value"),
    ("a.b = 1", 1, "expecting an assignment"),
    ("a = [ # comment\n 1 ]", 1, "expecting a value"),
    ("   ", 1, "expecting a name"),
]


@pytest.mark.parametrize(("text", "line", "problem"), ERROR_CASES)
def test_syntax_errors_name_file_line_and_problem(text: str, line: int, problem: str) -> None:
    with pytest.raises(ConfSyntaxError) as info:
        parse(text, "/etc/libvirt/libvirtd.conf")
    err = info.value
    assert err.code is ErrorNumber.CONF_SYNTAX and err.domain is ErrorDomain.CONF
    assert str(err) == f"configuration file syntax error: /etc/libvirt/libvirtd.conf:{line}: {problem}"


def test_lxc_format() -> None:
    text = (
        "# Template used to create this container\n"
        "lxc.network.type = veth\n"
        "lxc.mount.entry = proc proc proc nodev,noexec,nosuid 0 0\n"
        "lxc.mount.entry = sysfs sys sysfs defaults  0 0\n"
        "lxc.autodev=1\n"
        "lxc.cap.drop = sys_module mac_admin # not a comment here\n"
        "lxc.quoted = \"q\"\n"
    )
    conf = parse(text, "lxc.config", ConfFlags.LXC_FORMAT)
    assert conf["lxc.network.type"] == "veth"
    assert conf.get_all("lxc.mount.entry") == ["proc proc proc nodev,noexec,nosuid 0 0", "sysfs sys sysfs defaults  0 0"]
    assert conf["lxc.autodev"] == "1"  # everything is a string in LXC configs
    assert conf["lxc.cap.drop"] == "sys_module mac_admin # not a comment here"
    assert conf["lxc.quoted"] == "q"
    with pytest.raises(ConfSyntaxError, match="expecting an assignment"):
        parse("lxc.network.type = veth", "x")  # '.' in names only in the LXC dialect


def test_vmx_format() -> None:
    text = 'config.version = "8"\nethernet0.present = "TRUE"\nscsi0:0.fileName = "disk.vmdk"\n.encoding = "UTF-8"\n'
    conf = parse(text, "vm.vmx", ConfFlags.VMX_FORMAT)
    assert conf["CONFIG.VERSION"] == "8"  # names compare case-insensitively
    assert conf.get("scsi0:0.filename", str) == "disk.vmdk"
    assert conf[".encoding"] == "UTF-8"
    with pytest.raises(ConfSyntaxError, match="numbers not allowed in VMX format"):
        parse("a = 1", "vm.vmx", ConfFlags.VMX_FORMAT)
    with pytest.raises(ConfSyntaxError, match="lists not allowed in VMX format"):
        parse("a = []", "vm.vmx", ConfFlags.VMX_FORMAT)


def test_format_round_trip() -> None:
    conf = parse(QEMU_CONF, "q")
    again = parse(conf.format(), "q")
    assert again.as_dict() == conf.as_dict()
    assert format_value("plain") == '"plain"'
    assert format_value('say "x"') == "'say \"x\"'"
    assert format_value("both ' and \"") == '"""both \' and \""""'
    assert format_value(True) == "1"
    assert format_value([1, "a"]) == '[ 1, "a" ]'


_strings = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters="\"'\\"), max_size=20)
_values: st.SearchStrategy[object] = st.recursive(
    st.integers(min_value=-(2**63), max_value=2**64 - 1) | _strings,
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=8,
)


@given(st.dictionaries(st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,10}", fullmatch=True), _values, max_size=6))
def test_parse_format_round_trip(entries: dict[str, object]) -> None:
    conf = Config("generated", list(entries.items()))  # type: ignore[arg-type]
    assert parse(conf.format()).as_dict() == entries


def test_read(tmp_path: Path) -> None:
    path = tmp_path / "virtd.conf"
    path.write_text('listen_addr = "0.0.0.0"\n')
    assert read(path)["listen_addr"] == "0.0.0.0"
    path.write_text("listen_addr = \n")
    with pytest.raises(ConfSyntaxError, match=f"{path}:1: expecting a value"):
        read(path)
    with pytest.raises(SystemError_) as info:
        read(tmp_path / "missing.conf")
    assert str(info.value) == f"Failed to open file '{tmp_path / 'missing.conf'}': No such file or directory"
    big = tmp_path / "big.conf"
    with open(big, "wb") as stream:
        stream.truncate(10 * 1024 * 1024 + 1)
    with pytest.raises(SystemError_, match="Failed to read file"):
        read(big)


def test_errors_agree_with_libvirt(virsh_with_client_conf: VirshWithClientConf) -> None:
    """virsh parses its client config (libvirt.conf) with libvirt's parser: same errors, same lines."""
    for text, _, _ in ERROR_CASES:
        proc = virsh_with_client_conf(text, "-c", "test:///default", "uri")
        try:
            parse(text, "libvirt.conf")
        except ConfSyntaxError as err:
            assert proc.returncode == 1, text
            assert f"error: {err}\n" in proc.stderr, (text, proc.stderr)
        else:  # pragma: no cover - every case above is an error
            raise AssertionError(text)


def test_values_agree_with_libvirt(virsh_with_client_conf: VirshWithClientConf) -> None:
    """uri_aliases is a string list libvirt resolves: our parse of it must give the same URI."""
    for aliases, alias, uri in [
        ('uri_aliases = [\n  "a=test:///default",\n  "b=test:///default",\n]\n', "b", "test:///default"),
        ("uri_aliases = [ 'one=test:///default' ] ; x = 1", "one", "test:///default"),
        ('uri_aliases = """two=test:///default""" ', "two", None),  # a string, not a list
    ]:
        proc = virsh_with_client_conf(aliases, "-c", alias, "uri")
        conf = parse(aliases, "libvirt.conf")
        if uri is None:
            assert proc.returncode == 1 and "expected a string list for 'uri_aliases' parameter" in proc.stderr
            with pytest.raises(InternalError, match="expected a string list for 'uri_aliases' parameter"):
                conf.get("uri_aliases", list)
        else:
            assert proc.stdout.strip() == uri, proc.stderr
            assert f"{alias}={uri}" in conf.get("uri_aliases", list)
