"""What a VMX conversion needs from its surroundings: how file names map between VMX and domain XML.

A .vmx file names files by host path (``/vmfs/volumes/<datastore>/<path>``) or relative to the
VM's own directory (``disk.vmdk``); domain XML names them by datastore path (``[datastore] path``).
Who knows the datastores decides: the ESX driver asks the host; offline conversion
(``virt domxml-from-native vmware-vmx``) uses ``OfflineDatastores``, the fixed mapping libvirt's
own VMX tests use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from virt.util.errors import InternalError

#: parse_file_name(vmx_file_name, allow_missing) -> source for the XML, or None when the file is
#: missing and ``allow_missing`` (CD-ROM images) says an empty drive is fine.
ParseFileName = Callable[[str, bool], "str | None"]
#: format_file_name(xml_source) -> the VMX file name.
FormatFileName = Callable[[str], str]
#: autodetect_scsi_model(disk) -> controller model for a disk whose controller gave none.
AutodetectSCSIModel = Callable[[object], str]


def split_datastore_path(path: str) -> tuple[str, str]:
    """``[datastore] dir/file.vmdk`` -> ("datastore", "dir/file.vmdk"); the path part may be empty."""
    if not path.startswith("[") or path[1:2] == "]":
        raise InternalError(f"Datastore path '{path}' doesn't have expected format '[<datastore>] <path>'")
    end = path.find("]", 1)
    if end < 0:
        raise InternalError(f"Datastore path '{path}' doesn't have expected format '[<datastore>] <path>'")
    return path[1:end], path[end + 1:].lstrip(" ")


@dataclass
class OfflineDatastores:
    """The datastore mapping without a host to ask (the one libvirt's VMX tests use).

    ``/vmfs/volumes/<ds>/<path>`` <-> ``[<ds>] <path>``; other absolute paths stay as they are; a
    bare file name lives in ``[datastore] directory/``. Datastores named in ``missing`` (and files
    whose path starts with one of those names) stand for files that do not exist: a CD-ROM image
    there becomes an empty drive, a disk image an error.
    """

    default_datastore: str = "datastore"
    default_directory: str = "directory"
    missing: tuple[str, ...] = ("missing",)

    def parse_file_name(self, name: str, allow_missing: bool) -> str | None:
        if name.startswith("/vmfs/volumes/"):
            datastore, _, rest = name[len("/vmfs/volumes/"):].lstrip("/").partition("/")
            rest = rest.lstrip("/")
            if not datastore or not rest:
                raise InternalError(f"File name '{name}' doesn't have expected format "
                                    "'/vmfs/volumes/<datastore>/<path>'")
            if datastore in self.missing or rest.startswith(self.missing):
                if allow_missing:
                    return None
                raise InternalError(f"Referenced missing file '{name}'")
            return f"[{datastore}] {rest}"
        if name.startswith("/"):
            return name
        if "/" in name:
            raise InternalError(f"Could not handle file name '{name}': relative paths are not supported")
        return f"[{self.default_datastore}] {self.default_directory}/{name}"

    def format_file_name(self, src: str) -> str:
        if src.startswith("["):
            datastore, rest = split_datastore_path(src)
            return f"/vmfs/volumes/{datastore}/{rest}"
        if src.startswith("/"):
            return src
        raise InternalError(f"Could not handle file name '{src}': relative paths are not supported")


@dataclass
class VMXContext:
    """libvirt's virVMXContext: the callbacks and facts a conversion depends on."""

    parse_file_name: ParseFileName | None = None
    format_file_name: FormatFileName | None = None
    autodetect_scsi_model: AutodetectSCSIModel | None = None
    datacenter_path: str | None = None
    moref: str | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @classmethod
    def offline(cls, datacenter_path: str | None = None) -> VMXContext:
        """The context of offline conversion; SCSI controllers without a model default to lsilogic."""
        stores = OfflineDatastores()
        return cls(stores.parse_file_name, stores.format_file_name, lambda disk: "lsilogic", datacenter_path)
