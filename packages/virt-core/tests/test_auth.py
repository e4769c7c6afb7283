"""libvirt's auth.conf lookup, shared by the drivers that log in to a host (esx, hyperv, vbox)."""

import pytest
from virt.core import auth
from virt.util.errors import ErrorNumber, VirtError


def test_host_group_then_default(tmp_path):
    f = tmp_path / "auth.conf"
    f.write_text("[credentials-a]\nusername=alice\npassword=s3cret\n[credentials-b]\nusername=bob\n"
                 "[auth-esx-host1]\ncredentials=a\n[auth-esx-default]\ncredentials=b\n")
    assert auth.auth_file({"authfile": str(f)}) == f
    assert auth.lookup(f, "esx", "host1", "password") == "s3cret"
    assert auth.lookup(f, "esx", "other", "username") == "bob"
    assert auth.lookup(f, "esx", "other", "password") is None
    assert auth.lookup(f, "hyperv", "host1", "username") is None
    assert auth.lookup(None, "esx", "host1", "username") is None


def test_broken_references_are_auth_errors(tmp_path):
    f = tmp_path / "auth.conf"
    f.write_text("[auth-esx-h]\ncredentials=nope\n")
    with pytest.raises(VirtError, match="Missing group 'credentials-nope'") as exc:
        auth.lookup(f, "esx", "h", "username")
    assert exc.value.code == ErrorNumber.AUTH_FAILED


def test_environment_names_the_file(tmp_path, monkeypatch):
    f = tmp_path / "a.conf"
    f.write_text("")
    monkeypatch.setenv("LIBVIRT_AUTH_FILE", str(f))
    assert auth.auth_file({}) == f
