"""Domain backup XML (<domainbackup>): push or pull mode, the NBD server, per-disk targets and scratch files."""

from __future__ import annotations

from virt.conf.xmlmodel import (
    Attr,
    Child,
    Children,
    Enum,
    Int,
    Model,
    ParseContext,
    Raw,
    String,
    TextChild,
    Writer,
    YesNo,
)
from virt.util.errors import ConfigUnsupportedError, XMLError

STORAGE_TYPES = ("file", "block")
FILE_FORMATS = ("raw", "dir", "bochs", "cloop", "dmg", "iso", "vpc", "vdi", "fat", "vhd", "ploop",
                "cow", "qcow", "qcow2", "qed", "vmdk")


class BackupServer(Model):
    """<server transport='tcp|unix|rdma' name= port= socket=/>: where a pull backup is exported."""

    TAG = "server"
    transport = Attr(Enum("tcp", "unix", "rdma", name="transport"))
    tls = Attr(YesNo)
    name = Attr(String)
    port = Attr(Int(min=0, max=65535))
    socket = Attr(String)
    fdgroup = Attr(String)

    def post_parse(self, ctx: ParseContext) -> None:
        transport = self.transport or "tcp"
        if transport == "tcp" and not self.name:
            raise XMLError("missing 'name' attribute for backup server")
        if transport == "unix":
            if not self.socket:
                raise XMLError("missing socket path for unix transport")
            if not self.socket.startswith("/"):
                raise XMLError(f"backup socket path '{self.socket}' must be absolute")
        if transport == "rdma":
            raise ConfigUnsupportedError("transport 'rdma' is not supported for backup server")


class BackupDriver(Model):
    TAG = "driver"
    type = Attr(String)


class BackupDisk(Model):
    """One disk of a backup: whether it is backed up, how, and into which file."""

    TAG = "disk"
    name = Attr(String)
    backup = Attr(YesNo)
    state = Attr(String)
    type = Attr(Enum(*STORAGE_TYPES, name="backup disk type"))
    exportname = Attr(String)
    exportbitmap = Attr(String)
    backupmode = Attr(Enum("full", "incremental", name="backup mode"))
    incremental = Attr(String)
    driver = Child(BackupDriver)
    target = Raw()
    scratch = Raw()

    def post_parse(self, ctx: ParseContext) -> None:
        if not self.name:
            raise XMLError("missing name from disk backup element")
        self.state = None  # internal job state, never read from a request
        if self.backup is False:
            self.type = self.exportname = self.exportbitmap = self.backupmode = self.incremental = None
            self.driver = self.target = self.scratch = None
            return
        self.backup = True
        if self.type is None:
            self.type = "file"
        if self.driver is not None:
            if self.driver.type is None:
                self.driver = None
            elif self.driver.type not in FILE_FORMATS:
                raise ConfigUnsupportedError(f"unknown disk backup driver '{self.driver.type}'")
        if self.backupmode == "full" and self.incremental:
            raise XMLError(f"backupmode 'full' of disk '{self.name}' cannot have an incremental checkpoint")
        for where in (self.target, self.scratch):
            if where is not None:
                path = where.get("file") or where.get("dev")
                if path is not None and not path.startswith("/"):
                    raise XMLError(f"backup target path '{path}' must be absolute")


class BackupDisks(Model):
    TAG = "disks"
    disks = Children(BackupDisk)


class DomainBackup(Model):
    """A backup job request: ``backup.mode``, ``backup.incremental``, ``backup.server``, ``backup.disks``."""

    TAG = "domainbackup"
    mode = Attr(Enum("push", "pull", name="backup mode"))
    incremental = TextChild(String)
    server = Child(BackupServer)
    disks = Child(BackupDisks)

    def post_parse(self, ctx: ParseContext) -> None:
        if self.mode is None:
            self.mode = "push"
        if self.mode == "push":
            self.server = None
            for disk in self.disks.disks if self.disks is not None else ():
                if disk.scratch is not None:
                    raise XMLError(f"push mode backup of disk '{disk.name}' takes a <target>, not <scratch>")
        else:
            if self.server is None:
                self.server = BackupServer(transport="tcp", name="localhost")
            for disk in self.disks.disks if self.disks is not None else ():
                if disk.target is not None:
                    raise XMLError(f"pull mode backup of disk '{disk.name}' takes a <scratch>, not <target>")
        if self.incremental == "":
            self.incremental = None
        if self.disks is not None and not self.disks.disks:
            self.disks = None

    def write(self, w: Writer, tag: str | None = None) -> None:
        super().write(w, tag)
