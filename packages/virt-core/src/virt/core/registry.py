"""The driver registry: what the installed plugins provide, and which driver opens which URI."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from virt.core.driver import KINDS, Driver
from virt.core.uri import URI
from virt.util.errors import ErrorDomain, ErrorNumber, InternalError, NoConnectError


def resolve_ref(target: Any) -> Any:
    """A registered object: given directly, or as a "module:attribute" string imported now."""
    if not isinstance(target, str):
        return target
    module, _, attr = target.partition(":")
    obj: Any = import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


#: Schemes of libvirt's own drivers: with no local driver installed, such a URI goes to the local
#: daemon (as libvirt's remote driver does); any other unclaimed scheme is an error.
DAEMON_SCHEMES = frozenset({
    "qemu", "lxc", "xen", "libxl", "vbox", "vmwareplayer", "vmwarews", "vmwarefusion", "esx", "gsx", "vpx",
    "hyperv", "openvz", "bhyve", "vz", "parallels", "ch", "test", "network", "storage", "nodedev", "secret",
    "nwfilter", "interface",
})


@dataclass
class DriverInfo:
    """One registered driver: ``kind`` is "hypervisor" or "secondary"."""

    name: str
    kind: str
    factory: Any
    uri_schemes: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()
    description: str = ""
    distribution: str = ""
    version: str = ""

    def load(self) -> type[Driver]:
        cls = resolve_ref(self.factory)
        if not (isinstance(cls, type) and issubclass(cls, Driver)):
            raise InternalError(f"driver {self.name!r} does not name a Driver subclass: {self.factory!r}")
        return cls


@dataclass
class NativeFormat:
    """A native config format (``qemu-argv``, ``vmware-vmx``, ``lxc-tools``) and its converters:
    ``to_native(domain_xml, **options) -> str`` and ``from_native(text, **options) -> domain_xml``."""

    name: str
    driver: str
    to_native: Any = None
    from_native: Any = None


@dataclass
class CLIOption:
    """An option a plugin adds to a CLI command (``--qemu-caps`` on ``domxml-to-native``)."""

    command: str
    flag: str
    dest: str
    help: str = ""
    takes_value: bool = True


@dataclass
class DriverRegistry:
    """What plugins register through ``virt_register_drivers(register)``."""

    drivers: dict[str, DriverInfo] = field(default_factory=dict)
    native_formats: dict[str, NativeFormat] = field(default_factory=dict)
    normalizers: dict[str, Any] = field(default_factory=dict)
    commands: dict[str, Any] = field(default_factory=dict)
    cli_options: list[CLIOption] = field(default_factory=list)
    #: Set while a plugin's hook runs: the distribution (name, version) it came from.
    current_distribution: tuple[str, str] = ("", "")

    def hypervisor(self, factory: Any, *, name: str, uri_schemes: tuple[str, ...], description: str = "",
                   objects: tuple[str, ...] = ("hypervisor",)) -> None:
        """A hypervisor driver opening URIs with these schemes (``qemu``), implementing ``objects``."""
        self._add(DriverInfo(name, "hypervisor", factory, tuple(uri_schemes), tuple(objects), description))

    def secondary(self, factory: Any, *, name: str, objects: tuple[str, ...], description: str = "") -> None:
        """A secondary driver serving object kinds (``network``, ``storage``, ...) on local connections."""
        unknown = set(objects) - set(KINDS)
        if unknown:
            raise InternalError(f"driver {name!r} registers unknown object kinds: {', '.join(sorted(unknown))}")
        self._add(DriverInfo(name, "secondary", factory, (), tuple(objects), description))

    def native_format(self, name: str, *, driver: str, to_native: Any = None, from_native: Any = None) -> None:
        self.native_formats[name] = NativeFormat(name, driver, to_native, from_native)

    def normalizer(self, driver: str, func: Any) -> None:
        """``virt xml-normalize --driver NAME``: ``func(domain_xml: bytes, **options) -> str``."""
        self.normalizers[driver] = func

    def command(self, name: str, spec: Any) -> None:
        """A CLI command (a ``virt.core.cli.spec.Command`` or its "module:attr" path)."""
        self.commands[name] = spec

    def cli_option(self, command: str, flag: str, *, dest: str, help: str = "", takes_value: bool = True) -> None:
        self.cli_options.append(CLIOption(command, flag, dest, help, takes_value))

    def _add(self, info: DriverInfo) -> None:
        if info.name in self.drivers:
            raise InternalError(f"two plugins register a driver named {info.name!r}")
        info.distribution, info.version = self.current_distribution
        self.drivers[info.name] = info

    # -- lookups -----------------------------------------------------------------------------------
    def hypervisors(self) -> list[DriverInfo]:
        return [d for d in self.drivers.values() if d.kind == "hypervisor"]

    def for_uri(self, uri: URI) -> DriverInfo:
        """The hypervisor driver that claims ``uri``; remote URIs go to the driver named "remote"."""
        candidates = self.hypervisors()
        if uri.is_remote:
            # Drivers that reach their hosts themselves (ESX's esx://host/, as libvirt tries them before
            # its remote driver) claim their scheme when no transport is named; all else goes remote.
            if uri.transport is None:
                for info in candidates:
                    if uri.driver in info.uri_schemes and info.name != "remote" and info.load().claims(uri):
                        return info
            remote = self.drivers.get("remote")
            if remote is not None:
                return remote
        for info in candidates:
            if uri.driver in info.uri_schemes and info.name != "remote" and info.load().claims(uri):
                return info
        remote = self.drivers.get("remote")
        if remote is not None and uri.driver in DAEMON_SCHEMES and remote.load().claims(uri):
            return remote  # a libvirt URI with no local driver: the local daemon may serve it
        installed = ", ".join(f"{d.name} ({'/'.join(d.uri_schemes)})" for d in candidates if d.uri_schemes) or "none"
        raise NoConnectError(f"{uri}", code=ErrorNumber.NO_CONNECT, domain=ErrorDomain.NONE,
                             message=f"no connection driver available for {uri} "
                                     f"(installed drivers: {installed})")

    def secondary_for(self, kind: str) -> DriverInfo | None:
        for info in self.drivers.values():
            if info.kind == "secondary" and kind in info.objects:
                return info
        return None


_lock = threading.Lock()
_registry: DriverRegistry | None = None


def build_registry(pm: Any) -> DriverRegistry:
    """Ask every plugin of ``pm`` to register, recording which distribution each came from."""
    from virt.core.plugin import plugin_distribution

    reg = DriverRegistry()
    for impl in pm.hook.virt_register_drivers.get_hookimpls():
        reg.current_distribution = plugin_distribution(impl.plugin) or ("", "")
        impl.function(register=reg)
    reg.current_distribution = ("", "")
    return reg


def get_registry() -> DriverRegistry:
    """The process-wide registry of installed plugins, built on first use."""
    global _registry
    with _lock:
        if _registry is None:
            from virt.core.plugin import get_plugin_manager

            _registry = build_registry(get_plugin_manager())
        return _registry


def set_registry(reg: DriverRegistry | None) -> None:
    """Replace the process-wide registry (tests build their own with only the plugins they need)."""
    global _registry
    with _lock:
        _registry = reg


Factory = Callable[..., Driver]
