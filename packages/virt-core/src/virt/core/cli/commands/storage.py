"""Storage pool and volume commands (pool-*, vol-*)."""

from __future__ import annotations

from typing import Any

from virt.core.cli.engine import Context
from virt.core.cli.output import Fields, Message, Table, Text, pretty_capacity
from virt.core.cli.parse import Args, CLIError
from virt.core.cli.spec import POOL, Command, CommandGroup, Option, data, flag, number, string
from virt.core.enums import ConnectListAllStoragePoolsFlags as PF
from virt.core.enums import (
    StoragePoolBuildFlags,
    StoragePoolCreateFlags,
    StorageVolCreateFlags,
)

from .common import (
    call,
    escape,
    exclusive,
    flags_from,
    pool,
    quoteattr,
    read_file,
    read_xml_arg,
    volume,
)

POOL_STATES = ("inactive", "building", "running", "degraded", "inaccessible")
VOL_TYPES = ("file", "block", "dir", "network", "netdir", "ploop")
WIPE_ALGORITHMS = ("zero", "nnsa", "dod", "bsi", "gutmann", "schneier", "pfitzner7", "pfitzner33", "random", "trim")


def _pool_state(state: int) -> str:
    return POOL_STATES[state] if 0 <= state < len(POOL_STATES) else "unknown"


def _vol_type(kind: int) -> str:
    return VOL_TYPES[kind] if 0 <= kind < len(VOL_TYPES) else "unknown"


def _safe(fn: Any, default: Any, *a: Any) -> Any:
    from virt.util.errors import VirtError

    try:
        return fn(*a)
    except VirtError:
        return default


# -- pools -----------------------------------------------------------------------------------------
_POOL_TYPES = ("dir", "fs", "netfs", "logical", "disk", "iscsi", "scsi", "mpath", "rbd", "sheepdog", "gluster",
               "zfs", "vstorage", "iscsi-direct")


def cmd_pool_list(ctx: Context, args: Args) -> Any:
    exclusive(args, ("details", "uuid"), ("details", "name"), ("name", "uuid"))
    flags = int(PF.ACTIVE)
    if args.bool("inactive"):
        flags = int(PF.INACTIVE)
    if args.bool("all"):
        flags = int(PF.ACTIVE | PF.INACTIVE)
    flags |= flags_from(args, (("persistent", PF.PERSISTENT), ("transient", PF.TRANSIENT),
                               ("autostart", PF.AUTOSTART), ("no-autostart", PF.NO_AUTOSTART)))
    for kind in (args.string("type") or "").split(","):
        if not kind:
            continue
        if kind not in _POOL_TYPES:
            raise CLIError(f"Invalid pool type '{kind}'")
        flags |= 64 << _POOL_TYPES.index(kind)
    pools = call("Failed to list pools", ctx.conn.list_all_storage_pools, flags)
    pools.sort(key=lambda p: p.name())
    if args.bool("name"):
        return Text("".join(f"{p.name():<20}\n" for p in pools), value=[p.name() for p in pools])
    if args.bool("uuid"):
        return Text("".join(f"{p.uuid():<36}\n" for p in pools), value=[p.uuid() for p in pools])
    details = args.bool("details")
    cols = ["Name", "State", "Autostart"] + (["Persistent", "Capacity", "Allocation", "Available"] if details else [])
    table = Table(cols)
    for p in pools:
        info = p.info()
        autostart = _safe(p.get_autostart, None)
        auto_text = "no autostart" if autostart is None else ("yes" if autostart else "no")
        if not details:
            state = "active" if _safe(p.is_active, False) else "inactive"
            table.add(p.name(), state, auto_text, values=[p.name(), state, autostart])
            continue
        persistent = _safe(p.is_persistent, None)
        pers_text = "unknown" if persistent is None else ("yes" if persistent else "no")
        running = info.state in (2, 3)
        sizes = [pretty_capacity(v) if running else "-" for v in (info.capacity, info.allocation, info.available)]
        table.add(p.name(), _pool_state(info.state), auto_text, pers_text, *sizes,
                  values=[p.name(), _pool_state(info.state), autostart, persistent,
                          *(v if running else None for v in (info.capacity, info.allocation, info.available))])
    return table


def cmd_pool_info(ctx: Context, args: Args) -> Any:
    p = pool(ctx, args)
    out = Fields()
    out.add("Name:", p.name())
    out.add("UUID:", p.uuid())
    info = p.info()
    out.add("State:", _pool_state(info.state))
    persistent = _safe(p.is_persistent, None)
    out.add("Persistent:", "unknown" if persistent is None else ("yes" if persistent else "no"), persistent)
    autostart = _safe(p.get_autostart, None)
    out.add("Autostart:", "no autostart" if autostart is None else ("yes" if autostart else "no"), autostart)
    if info.state in (2, 3):
        for label, value in (("Capacity:", info.capacity), ("Allocation:", info.allocation),
                             ("Available:", info.available)):
            out.add(label, str(value) if args.bool("bytes") else pretty_capacity(value), value)
    return out


def cmd_pool_dumpxml(ctx: Context, args: Args) -> Any:
    return Text(pool(ctx, args).xml_desc(1 if args.bool("inactive") else 0))


def cmd_pool_define(ctx: Context, args: Args) -> Any:
    path, xml = read_xml_arg(args)
    p = call(f"Failed to define pool from {path}", ctx.conn.define_storage_pool, xml,
             flags_from(args, (("validate", 1),)))
    return Message(f"Pool {p.name()} defined from {path}")


def _build_flags(args: Args) -> int:
    exclusive(args, ("overwrite", "no-overwrite"))
    return flags_from(args, (("build", StoragePoolCreateFlags.WITH_BUILD),
                             ("overwrite", StoragePoolCreateFlags.WITH_BUILD_OVERWRITE),
                             ("no-overwrite", StoragePoolCreateFlags.WITH_BUILD_NO_OVERWRITE)))


def cmd_pool_create(ctx: Context, args: Args) -> Any:
    path, xml = read_xml_arg(args)
    p = call(f"Failed to create pool from {path}", ctx.conn.create_storage_pool, xml, _build_flags(args))
    return Message(f"Pool {p.name()} created from {path}")


def build_pool_xml(args: Args) -> tuple[str, str]:
    """The pool XML that pool-define-as / pool-create-as describe with options."""
    name = args.string("name") or ""
    kind = args.string("type") or ""
    lines = [f"<pool type={quoteattr(kind)}>", f"  <name>{escape(name)}</name>"]
    source = []
    host = args.string("source-host")
    if host:
        host_name, _, port = host.partition(":")
        source.append(f"    <host name={quoteattr(host_name)}" + (f" port={quoteattr(port)}" if port else "") + "/>")
    if args.string("source-path"):
        source.append(f"    <dir path={quoteattr(args.string('source-path') or '')}/>")
    if args.string("source-dev"):
        source.append(f"    <device path={quoteattr(args.string('source-dev') or '')}/>")
    if args.string("adapter-name"):
        source.append(f"    <adapter type='scsi_host' name={quoteattr(args.string('adapter-name') or '')}/>")
    if args.string("source-format"):
        source.append(f"    <format type={quoteattr(args.string('source-format') or '')}/>")
    if args.string("source-name"):
        source.append(f"    <name>{escape(args.string('source-name') or '')}</name>")
    if args.string("source-initiator"):
        source.append(f"    <initiator>\n      <iqn name={quoteattr(args.string('source-initiator') or '')}/>\n"
                      "    </initiator>")
    if source:
        lines += ["  <source>", *source, "  </source>"]
    if args.string("target"):
        lines += ["  <target>", f"    <path>{escape(args.string('target') or '')}</path>", "  </target>"]
    lines.append("</pool>")
    return name, "\n".join(lines) + "\n"


def cmd_find_pool_sources(ctx: Context, args: Args) -> Any:
    kind = args.string("type") or ""
    path = args.string("srcSpec")
    spec = read_file(path) if path else None
    return Text(call(f"Failed to find any {kind} pool sources", ctx.conn.find_storage_pool_sources, kind, spec, 0))


def cmd_find_pool_sources_as(ctx: Context, args: Args) -> Any:
    kind = args.string("type") or ""
    host, port, initiator = args.string("host"), args.string("port"), args.string("initiator")
    spec = None
    if host:
        lines = ["<source>", f"  <host name={quoteattr(host)}" + (f" port={quoteattr(port)}" if port else "") + "/>"]
        if initiator:
            lines += ["  <initiator>", f"    <iqn name={quoteattr(initiator)}/>", "  </initiator>"]
        spec = "\n".join([*lines, "</source>", ""])
    return Text(call(f"Failed to find any {kind} pool sources", ctx.conn.find_storage_pool_sources, kind, spec, 0))


def cmd_pool_define_as(ctx: Context, args: Args) -> Any:
    name, xml = build_pool_xml(args)
    if args.bool("print-xml"):
        return Text(xml, newline=False)
    call(f"Failed to define pool {name}", ctx.conn.define_storage_pool, xml, 0)
    return Message(f"Pool {name} defined")


def cmd_pool_create_as(ctx: Context, args: Args) -> Any:
    name, xml = build_pool_xml(args)
    if args.bool("print-xml"):
        return Text(xml, newline=False)
    call(f"Failed to create pool {name}", ctx.conn.create_storage_pool, xml, _build_flags(args))
    return Message(f"Pool {name} created")


def _pool_simple(method: str, done: str, fail: str, flags: tuple[tuple[str, int], ...] | None = None) -> Any:
    def handler(ctx: Context, args: Args) -> Any:
        p = pool(ctx, args)
        extra = (flags_from(args, flags),) if flags is not None else ()
        call(fail.format(p.name()), getattr(p, method), *extra)
        return Message(done.format(p.name()))

    return handler


def cmd_pool_build(ctx: Context, args: Args) -> Any:
    exclusive(args, ("overwrite", "no-overwrite"))
    p = pool(ctx, args)
    flags = flags_from(args, (("overwrite", StoragePoolBuildFlags.OVERWRITE),
                              ("no-overwrite", StoragePoolBuildFlags.NO_OVERWRITE)))
    call(f"Failed to build pool {p.name()}", p.build, flags)
    return Message(f"Pool {p.name()} built")


def cmd_pool_start(ctx: Context, args: Args) -> Any:
    p = pool(ctx, args)
    call(f"Failed to start pool {p.name()}", p.create, _build_flags(args))
    return Message(f"Pool {p.name()} started")


def cmd_pool_autostart(ctx: Context, args: Args) -> Any:
    p = pool(ctx, args)
    name = p.name()
    if args.bool("disable"):
        call(f"failed to unmark pool {name} as autostarted", p.set_autostart, 0)
        return Message(f"Pool {name} unmarked as autostarted")
    call(f"failed to mark pool {name} as autostarted", p.set_autostart, 1)
    return Message(f"Pool {name} marked as autostarted")


# -- volumes ---------------------------------------------------------------------------------------
def cmd_vol_list(ctx: Context, args: Args) -> Any:
    p = pool(ctx, args)
    vols = call("Failed to list volumes", p.list_all_volumes, 0)
    vols.sort(key=lambda v: v.name())
    details = args.bool("details")
    table = Table(["Name", "Path"] + (["Type", "Capacity", "Allocation"] if details else []))
    for vol in vols:
        path = _safe(vol.path, "")
        if not details:
            table.add(vol.name(), path, values=[vol.name(), path])
            continue
        info = _safe(vol.info, None)
        if info is None:
            table.add(vol.name(), path, "unknown", "unknown", "unknown",
                      values=[vol.name(), path, None, None, None])
            continue
        table.add(vol.name(), path, _vol_type(info.type), pretty_capacity(info.capacity),
                  pretty_capacity(info.allocation),
                  values=[vol.name(), path, _vol_type(info.type), info.capacity, info.allocation])
    return table


def cmd_vol_info(ctx: Context, args: Args) -> Any:
    vol = volume(ctx, args)
    out = Fields()
    out.add("Name:", vol.name())
    info = vol.info(1 if args.bool("physical") else 0)
    out.add("Type:", _vol_type(info.type))
    for label, value in (("Capacity:", info.capacity),
                         ("Physical:" if args.bool("physical") else "Allocation:", info.allocation)):
        out.add(label, str(value) if args.bool("bytes") else pretty_capacity(value), value)
    return out


def cmd_vol_dumpxml(ctx: Context, args: Args) -> Any:
    return Text(volume(ctx, args).xml_desc(0))


def _vol_create_flags(args: Args) -> int:
    return flags_from(args, (("prealloc-metadata", StorageVolCreateFlags.PREALLOC_METADATA),
                             ("reflink", StorageVolCreateFlags.REFLINK),
                             ("validate", StorageVolCreateFlags.VALIDATE)))


def cmd_vol_create(ctx: Context, args: Args) -> Any:
    p = pool(ctx, args)
    path, xml = read_xml_arg(args)
    vol = call(f"Failed to create vol from {path}", p.create_volume, xml, _vol_create_flags(args))
    return Message(f"Vol {vol.name()} created from {path}")


def _size(text: str | None) -> int | None:
    """A volume size with an optional unit (virsh's virshVolSize)."""
    if text is None:
        return None
    from virt.util.errors import VirtError
    from virt.util.units import parse_size

    try:
        return parse_size(text, 1)
    except VirtError:
        raise CLIError(f"Malformed size {text}") from None


def cmd_vol_create_as(ctx: Context, args: Args) -> Any:
    p = pool(ctx, args)
    name = args.string("name") or ""
    capacity = _size(args.string("capacity"))
    allocation = _size(args.string("allocation"))
    lines = ["<volume>", f"  <name>{escape(name)}</name>", f"  <capacity>{capacity}</capacity>"]
    if allocation is not None:
        lines.append(f"  <allocation>{allocation}</allocation>")
    fmt = args.string("format")
    if fmt:
        lines += ["  <target>", f"    <format type={quoteattr(fmt)}/>", "  </target>"]
    backing = args.string("backing-vol")
    if backing:
        try:
            bvol = volume(ctx, Args(args.command, {"vol": backing, "pool": args.string("pool")}))
            backing_path = bvol.path()
        except CLIError:
            backing_path = backing
        lines += ["  <backingStore>", f"    <path>{escape(backing_path)}</path>"]
        if args.string("backing-vol-format"):
            lines.append(f"    <format type={quoteattr(args.string('backing-vol-format') or '')}/>")
        lines.append("  </backingStore>")
    lines.append("</volume>")
    xml = "\n".join(lines) + "\n"
    if args.bool("print-xml"):
        return Text(xml, newline=False)
    call(f"Failed to create vol {name}", p.create_volume, xml, _vol_create_flags(args))
    return Message(f"Vol {name} created")


def cmd_vol_clone(ctx: Context, args: Args) -> Any:
    import re

    orig = volume(ctx, args)
    src_pool = orig.pool()
    new_name = args.string("newname") or ""
    xml = orig.xml_desc(0)
    xml = re.sub(r"<name>.*?</name>", f"<name>{escape(new_name)}</name>", xml, count=1, flags=re.DOTALL)
    xml = re.sub(r"\s*<key>.*?</key>", "", xml, count=1, flags=re.DOTALL)
    xml = re.sub(r"\s*<path>.*?</path>", "", xml, count=1, flags=re.DOTALL)
    flags = flags_from(args, (("prealloc-metadata", StorageVolCreateFlags.PREALLOC_METADATA),
                              ("reflink", StorageVolCreateFlags.REFLINK)))
    from virt.core.cli.progress import job_poll, run_with_progress

    call(f"Failed to clone vol from {orig.name()}", run_with_progress, ctx.err, f"Cloning {orig.name()}",
         lambda: src_pool.clone_volume(xml, orig, flags), job_poll(orig))
    return Message(f"Vol {new_name} cloned from {orig.name()}")


def cmd_vol_delete(ctx: Context, args: Args) -> Any:
    vol = volume(ctx, args)
    flags = flags_from(args, (("delete-snapshots", 2),))
    call(f"Failed to delete vol {vol.name()}", vol.delete, flags)
    return Message(f"Vol {vol.name()} deleted")


def cmd_vol_wipe(ctx: Context, args: Args) -> Any:
    vol = volume(ctx, args)
    algorithm = args.string("algorithm")
    if algorithm is not None and algorithm not in WIPE_ALGORITHMS:
        raise CLIError(f"Unsupported algorithm '{algorithm}'")
    from virt.core.cli.progress import job_poll, run_with_progress

    name = vol.name()
    if algorithm is None:
        def wipe() -> Any:
            return vol.wipe(0)
    else:
        def wipe() -> Any:
            return ctx.conn.call("storage_vol_wipe_pattern", vol.ref, WIPE_ALGORITHMS.index(algorithm), 0)
    call(f"Failed to wipe vol {name}", run_with_progress, ctx.err, f"Wiping {name}", wipe, job_poll(vol))
    return Message(f"Vol {name} wiped")


def _transfer_window(args: Args) -> tuple[int, int, int]:
    """--offset, --length and --sparse of vol-upload/vol-download: (offset, length, flags)."""
    offset = args.int("offset", 0, unsigned=True, bits=64) or 0
    length = args.int("length", 0, unsigned=True, bits=64) or 0
    return offset, length, 1 if args.bool("sparse") else 0  # VIR_STORAGE_VOL_{UP,DOWN}LOAD_SPARSE_STREAM


def cmd_vol_upload(ctx: Context, args: Args) -> Any:
    import os

    from virt.core.cli.progress import ProgressBar

    offset, length, flags = _transfer_window(args)
    vol = volume(ctx, args)
    name, path = args.string("vol") or vol.name(), args.string("file") or ""  # virsh names it as given
    try:
        f = open(path, "rb")  # noqa: SIM115 - the with below closes it
    except OSError:
        raise CLIError(f"cannot read {path}") from None
    with f:
        st = call("cannot create a new stream", ctx.conn.new_stream, 0)
        call(f"cannot upload to volume {name}", vol.upload, st, offset, length, flags)
        size = os.fstat(f.fileno()).st_size
        bar = ProgressBar(ctx.err, f"Uploading {name}", min(size, length) if length else size)
        limit = length or None

        def read(n: int) -> bytes:
            want = n if limit is None else min(n, limit - sent[0])
            data = f.read(want) if want > 0 else b""
            sent[0] += len(data)
            return data

        sent = [0]
        try:
            if flags and _is_regular(f.fileno()):  # --sparse: the file's holes travel as holes
                from virt.core.sparse import FileSource

                source = FileSource(f.fileno(), 0, min(size, length) if length else None)
                call(f"cannot send data to volume {name}", st.sparse_send_all, source, bar.update)
            else:
                call(f"cannot send data to volume {name}", st.send_all, read, bar.update)
        except CLIError:
            bar.close(completed=False)
            raise
    try:
        call(f"cannot close volume {name}", st.finish)
    finally:
        bar.close()
    return None


def cmd_vol_download(ctx: Context, args: Args) -> Any:
    import os

    from virt.core.cli.progress import ProgressBar

    offset, length, flags = _transfer_window(args)
    vol = volume(ctx, args)
    name, path = args.string("vol") or vol.name(), args.string("file") or ""  # virsh names it as given
    created = False
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        created = True
    except FileExistsError:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        except OSError:
            raise CLIError(f"cannot create {path}") from None
    except OSError:
        raise CLIError(f"cannot create {path}") from None
    ok = False
    bar = None
    try:
        st = call("cannot create a new stream", ctx.conn.new_stream, 0)
        call(f"cannot download from volume {name}", vol.download, st, offset, length, flags)
        total = _download_size(vol, offset, length)
        bar = ProgressBar(ctx.err, f"Downloading {name}", total)
        sink = _SparseWriter(fd) if flags and _is_regular(fd) else _Writer(fd)
        try:
            if isinstance(sink, _SparseWriter):
                call(f"cannot receive data from volume {name}", st.sparse_recv_all, sink, None, bar.update)
            else:
                call(f"cannot receive data from volume {name}", st.recv_all, sink.write, bar.update)
            sink.end()
        except OSError:
            st.abort()
            raise CLIError(f"cannot receive data from volume {name}") from None
        fd, to_close = -1, fd
        try:
            os.close(to_close)
        except OSError:
            st.abort()
            raise CLIError(f"Unable to close {path}") from None
        call(f"cannot close volume {name}", st.finish)
        ok = True
    finally:
        if bar is not None:
            bar.close(completed=ok)
        if fd >= 0:
            os.close(fd)
        if not ok and created:
            os.unlink(path)
    return None


def _download_size(vol: Any, offset: int, length: int) -> int:
    """How many bytes a download will bring, for the progress bar: the driver's count when it
    reports one, else the window or the volume's capacity past the offset (0: not known)."""
    try:
        info = vol.job_info()
        if info is not None and info.total:
            return int(info.total)
    except Exception:  # drivers without progress reports: estimate below
        pass
    if length:
        return length
    try:
        return max(vol.info().capacity - offset, 0)
    except Exception:  # the bar only loses its scale
        return 0


def _is_regular(fd: int) -> bool:
    import os
    import stat

    return stat.S_ISREG(os.fstat(fd).st_mode)


class _Writer:
    """Writes a download to a file descriptor as it comes."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, data: bytes) -> None:
        import os

        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def end(self) -> None:
        pass


class _SparseWriter(_Writer):
    """--sparse into a regular file: zero blocks are skipped, so they stay holes in the file."""

    BLOCK = 64 * 1024

    def __init__(self, fd: int) -> None:
        super().__init__(fd)
        self.pos = 0

    def write(self, data: bytes) -> None:
        import os

        zeros = bytes(self.BLOCK)
        for start in range(0, len(data), self.BLOCK):
            block = data[start:start + self.BLOCK]
            if block != zeros[:len(block)]:
                os.pwrite(self.fd, block, self.pos)
            self.pos += len(block)

    def hole(self, length: int) -> None:
        self.pos += length

    def end(self) -> None:
        import os

        os.ftruncate(self.fd, self.pos)  # the size, holes at the end included


def cmd_vol_resize(ctx: Context, args: Args) -> Any:
    vol = volume(ctx, args)
    text = args.string("capacity") or ""
    delta = args.bool("delta")
    shrink = args.bool("shrink")
    value = text.removeprefix("-")
    if text.startswith("-") and not shrink:
        raise CLIError("negative size requires --shrink")
    try:
        capacity = _size(value) or 0
    except CLIError:
        raise CLIError(f"Malformed size {text}") from None
    flags = flags_from(args, (("allocate", 1), ("delta", 2), ("shrink", 4)))
    if text.startswith("-"):
        flags |= 2
    how = "by" if delta or text.startswith("-") else "to"
    call(f"Failed to change size of volume '{vol.name()}' {how} {text}", vol.resize, capacity, flags)
    return Message(f"Size of volume '{vol.name()}' successfully changed {how} {text}")


def cmd_vol_path(ctx: Context, args: Args) -> Any:
    return Text(volume(ctx, args).path())


def cmd_vol_key(ctx: Context, args: Args) -> Any:
    return Text(volume(ctx, args).key())


def cmd_vol_name(ctx: Context, args: Args) -> Any:
    key = args.string("vol") or ""
    try:
        vol = ctx.conn.lookup_storage_vol_by_key(key)
    except Exception:
        vol = volume(ctx, Args(args.command, {"vol": key}))
    return Text(vol.name())


def cmd_vol_pool(ctx: Context, args: Args) -> Any:
    key = args.string("vol") or ""
    try:
        vol = ctx.conn.lookup_storage_vol_by_key(key)
    except Exception:
        vol = volume(ctx, Args(args.command, {"vol": key}))
    p = call("failed to get parent pool", vol.pool)
    return Text(p.uuid() if args.bool("uuid") else p.name())


def _vol(name: str = "vol") -> tuple[Option, Option]:
    return data(name, "vol name, key or path"), string("pool", "pool name or uuid")


_BUILD = (flag("build", "build the pool as normal"), flag("overwrite", "build the pool without overwriting the existing pool data"),
          flag("no-overwrite", "build the pool without overwriting the existing pool data"))
_AS_OPTIONS = (
    data("name", "name of the pool"), data("type", "type of the pool"), flag("print-xml", "print XML document, but don't define/create"),
    string("source-host", "source-host for underlying storage"), string("source-path", "source path for underlying storage"),
    string("source-dev", "source device for underlying storage"), string("source-name", "source name for underlying storage"),
    string("target", "target for underlying storage"), string("source-format", "format for underlying storage"),
    string("auth-type", "auth type to be used for underlying storage"),
    string("auth-username", "auth username to be used for underlying storage"),
    string("secret-usage", "auth secret usage to be used for underlying storage"),
    string("secret-uuid", "auth secret UUID to be used for underlying storage"),
    string("adapter-name", "adapter name to be used for underlying storage"),
    string("source-initiator", "initiator iqn for underlying storage"),
)

POOLS = CommandGroup("Storage Pool", "pool", [
    Command("find-storage-pool-sources-as", cmd_find_pool_sources_as, "find potential storage pool sources",
            "Returns XML <sources> document.",
            (data("type", "type of storage pool sources to find"), string("host", "optional host to query"),
             string("port", "optional port to query"), string("initiator", "optional initiator IQN to use for query"))),
    Command("find-storage-pool-sources", cmd_find_pool_sources, "discover potential storage pool sources",
            "Returns XML <sources> document.",
            (data("type", "type of storage pool sources to discover"),
             string("srcSpec", "optional file of source xml to query for pools"))),
    Command("pool-autostart", cmd_pool_autostart, "autostart a pool", "Configure a pool to be automatically started at boot.",
            (POOL, flag("disable", "disable autostarting"))),
    Command("pool-build", cmd_pool_build, "build a pool", "Build a given pool.",
            (POOL, flag("overwrite", "overwrite any existing data"), flag("no-overwrite", "do not overwrite any existing data"))),
    Command("pool-create-as", cmd_pool_create_as, "create a pool from a set of args", "Create a pool.", (*_AS_OPTIONS, *_BUILD)),
    Command("pool-create", cmd_pool_create, "create a pool from an XML file", "Create a pool.",
            (data("file", "file containing an XML pool description"), *_BUILD)),
    Command("pool-define-as", cmd_pool_define_as, "define a pool from a set of args", "Define a pool.", _AS_OPTIONS),
    Command("pool-define", cmd_pool_define, "define an inactive persistent storage pool or modify an existing persistent one from an XML file",
            "Define or modify a persistent storage pool.",
            (data("file", "file containing an XML pool description"), flag("validate", "validate the XML against the schema"))),
    Command("pool-delete", _pool_simple("delete", "Pool {} deleted", "Failed to delete pool {}", ()), "delete a pool",
            "Delete a given pool.", (POOL,)),
    Command("pool-destroy", _pool_simple("destroy", "Pool {} destroyed", "Failed to destroy pool {}"), "destroy (stop) a pool",
            "Forcefully stop a given pool. Raw data in the pool is untouched", (POOL,)),
    Command("pool-dumpxml", cmd_pool_dumpxml, "pool information in XML", "Output the pool information as an XML dump to stdout.",
            (POOL, flag("inactive", "show inactive defined XML"))),
    Command("pool-info", cmd_pool_info, "storage pool information", "Returns basic information about the storage pool.",
            (POOL, flag("bytes", "Reture pool info in bytes"))),
    Command("pool-list", cmd_pool_list, "list pools", "Returns list of pools.",
            (flag("inactive", "list inactive pools"), flag("all", "list inactive & active pools"),
             flag("transient", "list transient pools"), flag("persistent", "list persistent pools"),
             flag("autostart", "list pools with autostart enabled"), flag("no-autostart", "list pools with autostart disabled"),
             string("type", "only list pool of specified type(s) (if supported)"),
             flag("details", "display extended details for pools"), flag("uuid", "list UUID of active pools only"),
             flag("name", "list name of active pools only"))),
    Command("pool-refresh", _pool_simple("refresh", "Pool {} refreshed", "Failed to refresh pool {}", ()), "refresh a pool",
            "Refresh a given pool.", (POOL,)),
    Command("pool-start", cmd_pool_start, "start a (previously defined) inactive pool", "Start a pool.",
            (data("pool", "name or uuid of the inactive pool"), *_BUILD)),
    Command("pool-undefine", _pool_simple("undefine", "Pool {} has been undefined", "Failed to undefine pool {}"),
            "undefine an inactive pool", "Undefine the configuration for an inactive pool.", (POOL,)),
])

VOLUME = CommandGroup("Storage Volume", "volume", [
    Command("vol-clone", cmd_vol_clone, "clone a volume.", "Clone an existing volume within the parent pool.",
            (data("vol", "vol name, key or path"), data("newname", "clone name"), string("pool", "pool name or uuid"),
             flag("prealloc-metadata", "preallocate metadata (for qcow2 instead of full allocation)"),
             flag("reflink", "use btrfs COW lightweight copy"))),
    Command("vol-create-as", cmd_vol_create_as, "create a volume from a set of args", "Create a vol.",
            (data("pool", "pool name"), data("name", "name of the volume"),
             Option("capacity", "data", "size of the vol, as scaled integer (default bytes)", required=True),
             string("allocation", "initial allocation size, as scaled integer (default bytes)"),
             string("format", "file format type raw,bochs,qcow,qcow2,qed,vmdk"),
             string("backing-vol", "the backing volume if taking a snapshot"),
             string("backing-vol-format", "format of backing volume if taking a snapshot"),
             flag("prealloc-metadata", "preallocate metadata (for qcow2 instead of full allocation)"),
             flag("print-xml", "print XML document, but don't define/create"))),
    Command("vol-create", cmd_vol_create, "create a vol from an XML file", "Create a vol.",
            (data("pool", "pool name"), data("file", "file containing an XML vol description"),
             flag("prealloc-metadata", "preallocate metadata (for qcow2 instead of full allocation)"),
             flag("validate", "validate the XML against the schema"))),
    Command("vol-delete", cmd_vol_delete, "delete a vol", "Delete a given vol.",
            (*_vol(), flag("delete-snapshots", "delete snapshots associated with volume (must be supported by storage driver)"))),
    Command("vol-dumpxml", cmd_vol_dumpxml, "vol information in XML", "Output the vol information as an XML dump to stdout.", _vol()),
    Command("vol-info", cmd_vol_info, "storage vol information", "Returns basic information about the storage vol.",
            (*_vol(), flag("bytes", "sizes are represented in bytes rather than pretty units"),
             flag("physical", "return the physical size of the volume in allocation field"))),
    Command("vol-key", cmd_vol_key, "returns the volume key for a given volume name or path", "", (data("vol", "volume name or path"), string("pool", "pool name or uuid"))),
    Command("vol-list", cmd_vol_list, "list vols", "Returns list of vols by pool.",
            (POOL, flag("details", "display extended details for volumes"))),
    Command("vol-name", cmd_vol_name, "returns the volume name for a given volume key or path", "", (data("vol", "volume key or path"),)),
    Command("vol-path", cmd_vol_path, "returns the volume path for a given volume name or key", "",
            (data("vol", "volume name or key"), string("pool", "pool name or uuid"))),
    Command("vol-pool", cmd_vol_pool, "returns the storage pool for a given volume key or path", "",
            (data("vol", "volume key or path"), flag("uuid", "return the pool uuid rather than pool name"))),
    Command("vol-resize", cmd_vol_resize, "resize a vol", "Resizes a storage volume. This is safe only for storage volumes not in use by an active guest.\nSee blockresize for live resizing.",
            (data("vol", "vol name, key or path"), data("capacity", "new capacity for the vol, as scaled integer (default bytes)"),
             string("pool", "pool name or uuid"), flag("allocate", "allocate the new capacity, rather than leaving it sparse"),
             flag("delta", "use capacity as a delta to current size, rather than the new size"),
             flag("shrink", "allow the resize to shrink the volume"))),
    Command("vol-upload", cmd_vol_upload, "upload file contents to a volume", "Upload file contents to a volume",
            (data("vol", "vol name, key or path"), data("file", "file"), string("pool", "pool name or uuid"),
             number("offset", "volume offset to upload to", named_only=True),
             number("length", "amount of data to upload", named_only=True),
             flag("sparse", "preserve sparseness of volume"))),
    Command("vol-download", cmd_vol_download, "download volume contents to a file",
            "Download volume contents to a file",
            (data("vol", "vol name, key or path"), data("file", "file"), string("pool", "pool name or uuid"),
             number("offset", "volume offset to download from", named_only=True),
             number("length", "amount of data to download", named_only=True),
             flag("sparse", "preserve sparseness of volume"))),
    Command("vol-wipe", cmd_vol_wipe, "wipe a vol", "Ensure data previously on a volume is not accessible to future reads.",
            (*_vol(), string("algorithm", "perform selected wiping algorithm"))),
])
