"""The plugin manager and registry: discovery, URI routing, bad plugins, unknown hooks."""

import types

import pluggy
import pytest
from virt.core.driver import Driver, c_name, call_kind, is_read_only_call
from virt.core.plugin import get_plugin_manager, hookimpl
from virt.core.registry import build_registry
from virt.core.uri import URI
from virt.util.errors import ErrorNumber, NoSupportError, VirtError


class Toy(Driver):
    name = "toy"
    uri_schemes = ("toy",)

    def connect_get_type(self):
        return "TOY"


def _plugin(**hooks):
    return types.SimpleNamespace(**hooks)


def _registry(*plugins):
    return build_registry(get_plugin_manager(load_entry_points=False, plugins=plugins))


def test_registered_driver_claims_its_scheme_and_others_get_a_clear_error():
    @hookimpl
    def virt_register_drivers(register):
        register.hypervisor(Toy, name="toy", uri_schemes=("toy",))

    reg = _registry(_plugin(virt_register_drivers=virt_register_drivers))
    assert reg.for_uri(URI.parse("toy:///")).name == "toy"
    with pytest.raises(VirtError, match=r"no connection driver available for nope:///.*installed drivers: toy \(toy\)") as exc:
        reg.for_uri(URI.parse("nope:///"))
    assert exc.value.code == ErrorNumber.NO_CONNECT


def test_lazy_string_targets_are_imported_on_use():
    @hookimpl
    def virt_register_drivers(register):
        register.hypervisor("virt.core.driver:Driver", name="lazy", uri_schemes=("lazy",))

    reg = _registry(_plugin(virt_register_drivers=virt_register_drivers))
    assert reg.drivers["lazy"].load() is Driver


def test_unknown_hook_fails_loudly():
    @hookimpl
    def virt_register_driverz(register):  # misspelled
        pass

    with pytest.raises(pluggy.PluginValidationError):
        get_plugin_manager(load_entry_points=False, plugins=(_plugin(virt_register_driverz=virt_register_driverz),))


def test_broken_entry_point_is_skipped(monkeypatch, caplog):
    import virt.core.plugin as plugin_mod

    class EP:
        name, value, dist = "broken", "nowhere.at.all:x", None

        def load(self):
            raise ImportError("No module named 'nowhere'")

    monkeypatch.setattr(plugin_mod, "entry_points", lambda group: [EP()])
    pm = get_plugin_manager()
    assert pm.get_plugin("broken") is None
    assert "skipping virt plugin 'broken'" in caplog.text


def test_driver_interface_helpers():
    assert c_name("domain_get_xml_desc") == "virDomainGetXMLDesc"
    assert c_name("domain_lookup_by_uuid") == "virDomainLookupByUUID"
    assert c_name("connect_list_all_domains") == "virConnectListAllDomains"
    assert call_kind("connect_list_all_networks") == "network"
    assert call_kind("network_get_xml_desc") == "network"
    assert call_kind("storage_vol_lookup_by_path") == "storage"
    assert call_kind("node_device_get_xml_desc") == "nodedev"
    assert call_kind("node_get_info") == "hypervisor"
    assert call_kind("connect_list_all_interfaces") == "interface"
    assert call_kind("nwfilter_binding_lookup_by_port_dev") == "nwfilter"
    assert call_kind("domain_get_info") == "hypervisor"
    assert call_kind("domain_interface_stats") == "hypervisor"
    assert is_read_only_call("domain_get_info") and is_read_only_call("connect_list_all_domains")
    assert not is_read_only_call("domain_create_with_flags") and not is_read_only_call("domain_set_autostart")


def test_unimplemented_calls_raise_no_support():
    drv = Toy(URI.parse("toy:///"))
    assert drv.connect_get_type() == "TOY"
    with pytest.raises(NoSupportError, match="this function is not supported by the connection driver: virDomainSuspend"):
        drv.domain_suspend(None)
    with pytest.raises(AttributeError):
        drv.not_an_api_call  # noqa: B018
