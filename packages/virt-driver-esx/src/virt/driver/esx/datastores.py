"""File names on an ESX host: VMX paths <-> datastore paths, by asking the host for its datastores."""

from __future__ import annotations

from dataclasses import dataclass

from virt.driver.esx.vmx.context import split_datastore_path
from virt.util.errors import InternalError


@dataclass(frozen=True)
class Datastore:
    name: str
    #: Where the host mounts it (``/vmfs/volumes/4b0beca7-7fd401f3-1d7f-000ae484a5a3``).
    mount_path: str


@dataclass
class HostFileNames:
    """libvirt's ESX file-name rules for one VM (esxParseVMXFileName / esxFormatVMXFileName).

    A bare file name lives beside the .vmx (``vmx_directory``, a datastore path); a path under a
    datastore's mount directory (or its ``/vmfs/volumes/<name>`` symlink) becomes ``[name] path``;
    other absolute paths stay as they are.
    """

    datastores: list[Datastore]
    vmx_directory: str | None = None

    def parse_file_name(self, name: str, allow_missing: bool) -> str | None:
        if "/" not in name and "\\" not in name:
            if self.vmx_directory is None:
                raise InternalError(f"Could not handle file name '{name}'")
            return f"{self.vmx_directory}/{name}"
        for store in self.datastores:
            if store.mount_path and name.startswith(store.mount_path):
                rest = name[len(store.mount_path):].lstrip("/\\").replace("\\", "/")
                return f"[{store.name}] {rest}"
        if name.startswith("/vmfs/volumes/"):
            datastore, _, rest = name[len("/vmfs/volumes/"):].lstrip("/").partition("/")
            if not datastore or not rest:
                raise InternalError(f"File name '{name}' doesn't have expected format "
                                    "'/vmfs/volumes/<datastore>/<path>'")
            if not any(s.name == datastore for s in self.datastores):
                if allow_missing:
                    return None
                raise InternalError(f"File name '{name}' refers to non-existing datastore '{datastore}'")
            return f"[{datastore}] {rest}"
        if name.startswith("/"):
            return name
        raise InternalError(f"Could not handle file name '{name}'")

    def format_file_name(self, src: str) -> str:
        if src.startswith("["):
            datastore, rest = split_datastore_path(src)
            store = next((s for s in self.datastores if s.name == datastore), None)
            if store is None:
                raise InternalError(f"Could not find datastore with name '{datastore}'")
            sep = "\\" if "\\" in store.mount_path else "/"
            return store.mount_path.rstrip(sep) + sep + (rest.replace("/", sep) if sep != "/" else rest)
        if src.startswith("/"):
            return src
        raise InternalError(f"Could not handle file name '{src}'")
