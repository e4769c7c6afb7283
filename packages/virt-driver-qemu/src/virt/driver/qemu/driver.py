"""The QEMU hypervisor driver: qemu:///system, qemu:///session and qemu:///embed?root=DIR."""

from __future__ import annotations

import os
import socket
from typing import Any, ClassVar

from virt.core.driver import Driver
from virt.core.events import EventBus
from virt.core.uri import URI
from virt.driver.qemu.caps import QemuCaps, find_emulator, load_caps
from virt.util.errors import ErrorDomain, InvalidArgError, NoConnectError, OperationFailedError

#: libvirt reports its own version as the library version.
LIB_VERSION = 9000000


class QemuDriver(Driver):
    """Runs QEMU guests. The host-wide work (domains, processes, monitors) lives in a state object
    shared by every connection to the same URI; this class adapts it to the driver interface."""

    name: ClassVar[str] = "qemu"
    uri_schemes: ClassVar[tuple[str, ...]] = ("qemu",)

    def __init__(self, uri: URI, *, readonly: bool = False, events: EventBus | None = None) -> None:
        super().__init__(uri, readonly=readonly, events=events)
        path = (uri.path or "").rstrip("/") or "/"
        if path not in ("/system", "/session", "/embed"):
            raise NoConnectError(str(uri), domain=ErrorDomain.QEMU,
                                 message=f"unexpected QEMU URI path '{path}', try qemu:///system")
        if path == "/embed" and not _uri_param(uri, "root"):
            raise NoConnectError(str(uri), domain=ErrorDomain.QEMU,
                                 message="root parameter is required for embedded driver connection")
        self.mode = path.lstrip("/")

    # -- the host ---------------------------------------------------------------------------------
    def _caps(self, emulator: str | None = None) -> QemuCaps:
        return load_caps(None, emulator)

    def connect_get_type(self) -> str:
        return "QEMU"

    def connect_get_version(self) -> int:
        return self._caps().version

    def connect_get_lib_version(self) -> int:
        return LIB_VERSION

    def connect_get_hostname(self) -> str:
        return socket.gethostname()

    def connect_get_uri(self) -> str:
        return str(self.uri)

    def connect_is_secure(self) -> int:
        return 1

    def connect_is_encrypted(self) -> int:
        return 0

    def connect_is_alive(self) -> int:
        return 1

    def connect_get_capabilities(self) -> str:
        from virt.driver.qemu.domcaps import host_capabilities

        binaries = [self._caps(b) for b in (find_emulator("x86_64"),) if b]
        return host_capabilities(binaries).format()

    def connect_get_domain_capabilities(self, emulator: str | None, arch: str | None, machine: str | None,
                                        virttype: str | None, flags: int = 0) -> str:
        from virt.driver.qemu.domcaps import domain_capabilities

        binary = emulator or find_emulator(arch or "x86_64")
        if binary is None:
            raise OperationFailedError(f"unable to find any emulator to serve '{arch or 'x86_64'}' architecture",
                                       domain=ErrorDomain.QEMU)
        if not os.path.exists(binary):
            raise InvalidArgError(f"Cannot check QEMU binary {binary}: No such file or directory")
        return domain_capabilities(self._caps(binary), virt_type=virttype, machine=machine, arch=arch).format()

    def connect_get_max_vcpus(self, type: str | None = None) -> int:
        from virt.driver.qemu.domcaps import kvm_max_vcpus

        if type and type.lower() == "qemu":
            return 1024
        return kvm_max_vcpus() or 255


def _uri_param(uri: URI, name: str) -> str | None:
    params: Any = getattr(uri, "params", None) or {}
    if isinstance(params, dict):
        return params.get(name)
    for k, v in params:
        if k == name:
            return str(v)
    return None
