"""The on-disk definition store shared by daemon-less drivers (virt-network, virt-storage): named objects."""

import os

import pytest
from virt.core.store import DefinitionStore
from virt.util.errors import ErrorDomain, VirtError


class FilterStore(DefinitionStore):
    KIND = "filter"
    ERROR_DOMAIN = ErrorDomain.NWFILTER


UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"
NAME = "f1"
XML = f"<filter name='{NAME}' chain='root'><uuid>{UUID}</uuid></filter>"


def test_config_live_record_and_autostart(tmp_path):
    store = FilterStore(tmp_path / "etc", tmp_path / "run", tmp_path / "lib")
    defn = store.parse_definition(XML)
    with store.locked(), store.locked():  # re-entrant in one thread; creates every directory
        assert (tmp_path / "lib").is_dir()
        store.save_config(defn)
        store.set_autostart(NAME, True)
        store.save_live_definition(defn)
        store.save_record(NAME, {"pid": 42})
    assert oct(os.stat(store.config_path(NAME)).st_mode & 0o777) == "0o600"
    assert os.readlink(store.autostart_path(NAME)) == f"../{NAME}.xml"
    assert [d.uuid for d in store.definitions(store.config_dir)] == [UUID]
    assert store.read_record(NAME) == {"pid": 42}
    store.clear_live(NAME)
    assert not store.live_path(NAME).exists() and store.read_record(NAME) == {}
    store.set_autostart(NAME, False)
    store.delete_config(NAME)
    assert list(store.definitions(store.config_dir)) == []


def test_damaged_files_are_skipped_and_user_errors_carry_the_domain(tmp_path):
    store = FilterStore(tmp_path / "etc", tmp_path / "run")
    with store.locked():
        store.save_config(store.parse_definition(XML))
    (tmp_path / "etc" / "broken.xml").write_text("<filter")
    assert len(list(store.definitions(store.config_dir))) == 1
    with pytest.raises(VirtError) as exc:
        store.parse_definition("<filter")
    assert exc.value.domain == ErrorDomain.NWFILTER
