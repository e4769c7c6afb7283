"""Connection URIs parse as libvirt parses them; aliases and the default URI come from the config."""

import pytest
from virt.core.uri import URI, resolve
from virt.util.errors import VirtError


@pytest.mark.parametrize(
    "text, driver, transport, user, server, port, path, params",
    [
        ("qemu:///system", "qemu", None, None, None, None, "/system", {}),
        ("qemu:///session", "qemu", None, None, None, None, "/session", {}),
        ("qemu+ssh://user@host/system", "qemu", "ssh", "user", "host", None, "/system", {}),
        ("test:///default", "test", None, None, None, None, "/default", {}),
        ("test:///abs/path.xml", "test", None, None, None, None, "/abs/path.xml", {}),
        ("lxc:///", "lxc", None, None, None, None, "/", {}),
        ("esx://host/?no_verify=1", "esx", None, None, "host", None, "/", {"no_verify": "1"}),
        ("qemu+tcp://[::1]:16509/system", "qemu", "tcp", None, "::1", 16509, "/system", {}),
        ("test+unix:///default?socket=/tmp/s", "test", "unix", None, None, None, "/default", {"socket": "/tmp/s"}),
        ("qemu:///embed?root=/tmp/x", "qemu", None, None, None, None, "/embed", {"root": "/tmp/x"}),
    ],
)
def test_parse(text, driver, transport, user, server, port, path, params):
    uri = URI.parse(text)
    assert (uri.driver, uri.transport, uri.user, uri.server, uri.port, uri.path, uri.params) == (
        driver, transport, user, server, port, path, params)
    assert str(uri) == text


def test_remote_detection():
    assert not URI.parse("qemu:///system").is_remote
    assert URI.parse("qemu+ssh://h/system").is_remote
    assert URI.parse("qemu://h/system").is_remote
    assert URI.parse("test:///default?socket=/x").is_remote
    assert str(URI.parse("qemu+ssh://u@h/system?socket=/x&foo=1").without_transport()) == "qemu:///system?foo=1"


@pytest.mark.parametrize("bad", ["", "qemu", "qemu:/ /x", "1abc:///", "qemu+pigeon:///system", "qemu://h:notaport/"])
def test_malformed(bad):
    with pytest.raises(VirtError, match="Unable to parse URI|no such URI alias"):
        resolve(bad) if bad == "qemu" else URI.parse(bad)


def test_default_and_aliases(tmp_path, monkeypatch):
    conf = tmp_path / "virt.conf"
    conf.write_text('uri_default = "test:///default"\nuri_aliases = [\n  "hail=qemu+ssh://root@hail/system",\n]\n')
    monkeypatch.setenv("VIRT_CONFIG", str(conf))
    monkeypatch.delenv("VIRT_DEFAULT_URI", raising=False)
    monkeypatch.delenv("LIBVIRT_DEFAULT_URI", raising=False)
    assert str(resolve(None)) == "test:///default"
    assert resolve("hail").server == "hail"
    monkeypatch.setenv("VIRT_DEFAULT_URI", "lxc:///")
    assert resolve(None).driver == "lxc"
    with pytest.raises(VirtError, match="no such URI alias"):
        resolve("nothere")
