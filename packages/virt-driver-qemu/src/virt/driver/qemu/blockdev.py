"""Disks: -blockdev for each storage source of a disk's chain, then the disk's -device.

Every source (the disk image and each backing image) becomes two block nodes, "libvirt-N-storage"
(where the bytes live: file, host_device, nbd, rbd, ...) and "libvirt-N-format" (how they are laid
out: raw, qcow2, ...), listed bottom of the chain first so that each node's backing exists
before it is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lxml import etree
from virt.driver.qemu import xmlutil as X
from virt.driver.qemu.chardev import reconnect_opt
from virt.driver.qemu.props import Props, escape_comma
from virt.util.errors import ConfigUnsupportedError, InternalError, XMLError
from virt.util.ident import host_id

if TYPE_CHECKING:
    from virt.driver.qemu.command import Builder

E = etree._Element

#: Formats whose images name a backing file (a terminated chain shows "backing": null).
BACKING_FORMATS = ("qcow", "qcow2", "qed", "vmdk", "cow")

#: cache mode -> (direct, no-flush, write-cache)
CACHE_MODES = {"none": (True, False, True), "writethrough": (False, False, False),
               "writeback": (False, False, True), "directsync": (True, False, False),
               "unsafe": (False, True, True)}


@dataclass
class Source:
    """One storage source of a chain: the disk's own <source> or a <backingStore>."""

    el: E  # <disk> or <backingStore>
    type: str
    fmt: str | None
    id: int = 0
    backing: Source | None = None
    terminated: bool = False  # an explicit empty <backingStore/> below
    readonly: bool = False
    secrets: list[Props] = field(default_factory=list)
    #: the source to use instead of the element's own <source> (a translated pool volume)
    actual: E | None = None

    @property
    def src(self) -> E | None:
        return self.actual if self.actual is not None else self.el.find("source")

    def auth(self) -> E | None:
        """<auth> of this source (legacy placement directly in <disk> too)."""
        src = self.src
        if self.actual is None and self.el.find("auth") is not None:
            return self.el.find("auth")
        return src.find("auth") if src is not None else None

    def storage_slice(self) -> tuple[int, int] | None:
        """(offset, size) of the <slice type='storage'> of this source, if it has one."""
        src = self.src
        sl = src.find("slices/slice[@type='storage']") if src is not None else None
        if sl is None:
            return None
        return int(sl.get("offset", "0")), int(sl.get("size", "0"))

    def empty(self) -> bool:
        s = self.src
        if self.type == "network":
            return s is None or (s.get("protocol") is None)
        if self.type in ("file", "block", "dir"):
            return s is None or not (s.get("file") or s.get("dev") or s.get("dir"))
        if self.type == "volume":
            return s is None
        return s is None


def chain(disk: E) -> Source | None:
    fmt = X.get(disk, "driver", "type")
    top = Source(disk, disk.get("type", "file"), fmt)
    if top.type == "volume":
        from virt.driver.qemu.volumes import ACTUAL

        actual = disk.find(ACTUAL)
        if actual is not None:
            top.type = actual.get("type", "file")
            top.actual = actual.find("source")
            top.fmt = top.fmt or actual.get("format")
    if top.empty():
        return None
    cur = top
    el: E | None = disk
    while el is not None:
        bs = el.find("backingStore")
        if bs is None:
            break
        if bs.get("type") is None and len(bs) == 0:
            cur.terminated = True
            break
        nxt = Source(bs, bs.get("type", "file"), X.get(bs, "format", "type"), readonly=True)
        cur.backing = nxt
        cur = nxt
        el = bs
    return top


def sources(top: Source) -> list[Source]:
    out = []
    s: Source | None = top
    while s is not None:
        out.append(s)
        s = s.backing
    return out


def assign_node_ids(b: Builder) -> dict[int, Source]:
    """Node ids as libvirt gives them: the last disk first, each chain top-down from 1."""
    disks = b.dom.all("disk")
    chains: dict[int, Source] = {}
    n = 0
    for i in range(len(disks) - 1, -1, -1):
        disk = disks[i]
        if X.get(disk, "source", "type") == "vhostuser" or disk.get("type") == "vhostuser":
            continue
        if X.get(disk, "target", "bus") == "sd":
            continue
        top = chain(disk)
        if top is None:
            n += 1  # an empty drive takes a node name too
            continue
        for s in sources(top):
            n += 1
            s.id = n
        chains[i] = top
    return chains


def is_cdrom(path: str, harness: bool) -> bool:
    """Whether a block device is a CD-ROM drive (CDROM_GET_CAPABILITY succeeds on it)."""
    if harness:
        return path == "/dev/cdrom"
    import fcntl
    import os

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        fcntl.ioctl(fd, 0x5331)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def storage_props(b: Builder, s: Source, disk: E, *, for_top: bool) -> Props:
    src = s.src
    assert src is not None
    props = Props()
    stype = s.type
    if stype == "volume":
        raise ConfigUnsupportedError("storage volumes are not supported without the storage driver")
    if stype in ("file", "block"):
        path = src.get("file") if stype == "file" else src.get("dev")
        if stype == "block":
            driver = "host_cdrom" if disk.get("device") == "cdrom" and (s.fmt or "raw") == "raw" \
                and is_cdrom(path or "", b.harness) else "host_device"
        else:
            driver = "file"
        fdset = b.disk_fdsets.get(s.id)
        if fdset is not None:
            path = f"/dev/fdset/{fdset[0]}"
        props.s("driver", driver).s("filename", path)
        io = X.get(disk, "driver", "io")
        props.S("aio", io)
        r = src.find("reservations")
        if r is not None and r.get("enabled", "yes") == "yes":
            props.s("pr-manager", "pr-helper0" if r.get("managed") == "yes" else f"pr-helper-libvirt-{s.id}-storage")
    elif stype == "dir":
        props.s("driver", "vvfat").s("dir", src.get("dir")).b("floppy", disk.get("device") == "floppy") \
            .b("rw", False)
    elif stype == "network":
        _network_props(b, s, src, props)
    elif stype == "nvme":
        a = src.find("address")
        ns = src.get("namespace", "1")
        if a is None:
            raise XMLError("missing NVMe address")
        dev = (f"{X.parse_int(a.get('domain', '0')):04x}:{X.parse_int(a.get('bus', '0')):02x}:"
               f"{X.parse_int(a.get('slot', '0')):02x}.{X.parse_int(a.get('function', '0'))}")
        props.s("driver", "nvme").s("device", dev).u("namespace", int(ns))
    else:
        raise ConfigUnsupportedError(f"unsupported disk type '{stype}'")
    props.s("node-name", f"libvirt-{s.id}-storage")
    if stype != "dir":
        set_cache(props, disk)
    fdset = b.disk_fdsets.get(s.id)
    if fdset is not None and len(b.cfg.fd_groups.get(fdset[1], ())) == 1:
        # one fd cannot be reopened read-write: its mode is fixed
        props.b("read-only", s.readonly or (for_top and disk.find("readonly") is not None))
    else:
        props.b("auto-read-only", True)
    if stype != "dir":
        props.s("discard", "unmap")
    return props


def _hosts(src: E) -> list[E]:
    return src.findall("host")


def _inet(h: E, default_port: str | None = None) -> dict[str, str]:
    d = {"type": "inet", "host": h.get("name", "")}
    port = h.get("port") or default_port
    if port:
        d["port"] = port
    return d


def _network_props(b: Builder, s: Source, src: E, props: Props) -> None:
    proto = src.get("protocol")
    name = src.get("name", "")
    hosts = _hosts(src)
    if proto == "nbd":
        props.s("driver", "nbd")
        h = hosts[0] if hosts else None
        if h is not None and h.get("transport") == "unix":
            props.s("server", {"type": "unix", "path": h.get("socket")})
        elif h is not None:
            props.s("server", _inet(h, "10809"))
        props.S("export", name or None)
        _tls(b, s, src, props, "nbd")
        rc = src.find("reconnect")
        if rc is not None:
            props.u("reconnect-delay", int(rc.get("delay", "0")))
    elif proto == "gluster":
        vol, _, path = name.partition("/")
        props.s("driver", "gluster").s("volume", vol).s("path", path)
        servers = []
        for h in hosts:
            if h.get("transport") == "unix":
                servers.append({"type": "unix", "path": h.get("socket")})
            else:
                servers.append(_inet(h, "24007"))
        props.s("server", servers)
        props.u("debug", 4)
    elif proto == "rbd":
        pool, _, image = name.partition("/")
        snap = X.get(src, "snapshot", "name")
        props.s("driver", "rbd").s("pool", pool)
        ns = None
        if "/" in image:
            ns, _, image = image.partition("/")
        props.S("namespace", ns)
        props.s("image", image)
        props.S("snapshot", snap)
        conf = X.get(src, "config", "file")
        props.S("conf", conf)
        if hosts:
            props.s("server", [{"host": h.get("name"), **({"port": h.get("port")} if h.get("port") else {})}
                               for h in hosts])
        auth = s.auth()
        if auth is not None:
            alias = f"libvirt-{s.id}-storage-auth-secret0"
            s.secrets.append(_secret(b, alias, auth))
            props.s("user", auth.get("username")).s("auth-client-required", ["cephx", "none"]) \
                .s("key-secret", alias)
    elif proto == "iscsi":
        target, _, lun = name.partition("/")
        h = hosts[0] if hosts else None
        portal = f"{h.get('name')}:{h.get('port', '3260')}" if h is not None else ""
        props.s("driver", "iscsi").s("portal", portal).s("target", target).u("lun", int(lun or "0"))
        props.s("transport", "tcp")
        auth = s.auth()
        if auth is not None:
            alias = f"libvirt-{s.id}-storage-auth-secret0"
            s.secrets.append(_secret(b, alias, auth))
            props.s("user", auth.get("username")).s("password-secret", alias)
        init = X.get(src, "initiator/iqn", "name")
        props.S("initiator-name", init)
    elif proto in ("http", "https", "ftp", "ftps", "tftp"):
        h = hosts[0] if hosts else None
        port = (h.get("port") or {"http": "80", "https": "443", "ftp": "21", "ftps": "990",
                                  "tftp": "69"}[proto]) if h is not None else None
        url = f"{proto}://{h.get('name') if h is not None else ''}{':' + port if port else ''}"
        if not name.startswith("/"):
            url += "/"
        url += name
        q = src.get("query")
        if q:
            url += "?" + q
        props.s("driver", proto).s("url", url)
        ssl = X.get(src, "ssl", "verify")
        if ssl:
            props.b("sslverify", ssl == "yes")
        cookies = src.findall("cookies/cookie")
        if cookies:
            alias = f"libvirt-{s.id}-storage-httpcookie-secret0"
            val = "; ".join(f"{c.get('name')}={(c.text or '').strip()}" for c in cookies)
            s.secrets.append(_secret_value(b, alias, val))
            props.s("cookie-secret", alias)
        auth = s.auth()
        if auth is not None:
            alias = f"libvirt-{s.id}-storage-auth-secret0"
            s.secrets.append(_secret(b, alias, auth))
            props.s("username", auth.get("username")).s("password-secret", alias)
        ro = src.find("readahead")
        if ro is not None:
            props.u("readahead", int(ro.get("size", "0")))
        to = src.find("timeout")
        if to is not None:
            props.u("timeout", int(to.get("seconds", "0")))
    elif proto == "ssh":
        h = hosts[0] if hosts else None
        props.s("driver", "ssh").s("path", name).s("server", _inet(h, "22") if h is not None else {})
        auth = s.auth()
        if auth is not None:
            props.s("user", auth.get("username"))
        kh = X.get(src, "knownHosts", "path")
        if kh:
            props.s("host-key-check", {"mode": "known_hosts"})
    elif proto == "nfs":
        h = hosts[0] if hosts else None
        props.s("driver", "nfs").s("server", {"type": "inet", "host": h.get("name") if h is not None else ""})
        props.s("path", name)
        ident = src.find("identity")
        if ident is not None:
            for attr in ("user", "group"):
                name = ident.get(attr)
                if name:
                    props.u(attr, _host_id(name, attr))
    elif proto == "vxhs":
        h = hosts[0] if hosts else None
        props.s("driver", "vxhs").s("vdisk-id", name).s("server", _inet(h, "9999") if h is not None else {})
        _tls(b, s, src, props, "vxhs")
    else:
        raise ConfigUnsupportedError(f"unsupported network disk protocol '{proto}'")


def _host_id(name: str, kind: str) -> int:
    """The numeric host user or group id of an NFS <identity> ("+N" is the number N itself)."""
    try:
        return host_id(name, kind)
    except ValueError:
        raise XMLError(f"Failed to parse {kind} '{name}'") from None
    except KeyError:
        raise ConfigUnsupportedError(f"Failed to find {kind} record for name '{name}'") from None


def _tls(b: Builder, s: Source, src: E, props: Props, kind: str) -> None:
    cfg = b.cfg
    tls = src.get("tls")
    enabled = getattr(cfg, f"{kind}TLS")
    if tls == "yes" or (tls is None and enabled):
        alias = f"objlibvirt-{s.id}-storage_tls0"
        secret_uuid = getattr(cfg, f"{kind}TLSx509secretUUID")
        secalias = None
        if secret_uuid:
            secalias = f"{alias}-secret0" if False else f"objlibvirt-{s.id}-storage_tls0-secret0"
        s.secrets.append(Props().s("__tls__", True).s("alias", alias).s("dir", getattr(cfg, f"{kind}TLSx509certdir"))
                         .S("secret", secalias))
        props.s("tls-creds", alias)
        hn = src.get("tlsHostname")
        props.S("tls-hostname", hn)


def _secret(b: Builder, alias: str, auth: E) -> Props:
    from virt.driver.qemu import secrets

    return secrets.secret_object(b, alias, "disk", auth=auth)


def _secret_value(b: Builder, alias: str, value: str) -> Props:
    from virt.driver.qemu import secrets

    return secrets.secret_object(b, alias, "value", value=value)


def format_props(b: Builder, s: Source, disk: E, *, top: bool) -> Props:
    props = Props().s("node-name", f"libvirt-{s.id}-format")
    readonly = s.readonly or (top and (disk.find("readonly") is not None or disk.get("device") == "cdrom"))
    props.b("read-only", readonly)
    drv = disk.find("driver")
    discard = drv.get("discard") if drv is not None else None
    if discard in ("unmap", "ignore"):
        props.s("discard", discard)
    if top and drv is not None:
        dz = drv.get("detect_zeroes")
        if dz:
            if dz == "unmap" and discard != "unmap":
                dz = "on"
            props.s("detect-zeroes", dz)
    set_cache(props, disk)
    fmt = s.fmt or "raw"
    enc = source_encryption(s, disk)
    # qcow2 metadata cache: the disk's <driver> for its own image, a backing image's <format>
    mc = (s.el.find("format/metadata_cache/max_size") if s.el.tag == "backingStore"
          else disk.find("driver/metadata_cache/max_size"))
    sliced = s.storage_slice()
    if fmt == "raw" and enc is not None and enc.get("format") == "luks":
        props.s("driver", "luks")
        props.s("key-secret", f"libvirt-{s.id}-format-encryption-secret0")
    elif fmt == "raw" and sliced is not None:
        # a plain raw image takes its slice itself, without a layer of its own
        props.s("driver", "raw").u("offset", sliced[0]).u("size", sliced[1])
        sliced = None
    else:
        if fmt not in ("raw", "qcow2", "qcow", "qed", "vmdk", "vpc", "vdi", "vhdx", "bochs", "cloop", "dmg",
                       "parallels", "luks", "fat"):
            raise ConfigUnsupportedError(f"unsupported disk format '{fmt}'")
        props.s("driver", fmt)
        if fmt == "qcow2" and mc is not None and mc.text:
            props.u("cache-size", X.scale_bytes(int(mc.text), mc.get("unit"), "bytes"))
        if fmt == "qcow2" and enc is not None and enc.get("format") == "luks":
            props.s("encrypt", {"format": "luks", "key-secret": f"libvirt-{s.id}-format-encryption-secret0"})
    props.s("file", f"libvirt-{s.id}-slice-sto" if sliced is not None else f"libvirt-{s.id}-storage")
    if fmt in BACKING_FORMATS:
        if s.backing is not None:
            props.s("backing", f"libvirt-{s.backing.id}-format")
        elif s.terminated:
            props.s("backing", None)
    return props


def set_cache(props: Props, disk: E) -> None:
    """A node's cache options from the disk's <driver cache=> (none when the mode is not one of CACHE_MODES)."""
    cache = X.get(disk, "driver", "cache")
    if cache in CACHE_MODES:
        direct, noflush, _ = CACHE_MODES[cache]
        props.s("cache", {"direct": direct, "no-flush": noflush})


def source_encryption(s: Source, disk: E) -> E | None:
    """The <encryption> of a source: in its <source> (or, legacy, directly in the <disk> or
    <backingStore>)."""
    enc = s.el.find("encryption") if s.el.tag == "backingStore" else disk.find("encryption")
    if enc is None:
        srcel = s.src
        enc = srcel.find("encryption") if srcel is not None else None
    return enc


def slice_props(s: Source, disk: E) -> Props:
    """The raw node that exposes only the storage slice of a source to its format node."""
    offset, size = s.storage_slice() or (0, 0)
    props = Props().s("driver", "raw").s("node-name", f"libvirt-{s.id}-slice-sto").u("offset", offset) \
        .u("size", size).s("file", f"libvirt-{s.id}-storage").b("auto-read-only", True).s("discard", "unmap")
    set_cache(props, disk)
    return props


def legacy_drive(b: Builder, disk: E) -> None:
    """-drive for buses without a -device (SD cards)."""
    from virt.driver.qemu.prepare import disk_name_to_index

    parts = []
    src = disk.find("source")
    path = (src.get("file") or src.get("dev")) if src is not None else None
    if path:
        parts.append(f"file={escape_comma(path)}")
        parts.append(f"format={X.get(disk, 'driver', 'type') or 'raw'}")
    parts.append(f"if={X.get(disk, 'target', 'bus')}")
    parts.append(f"index={disk_name_to_index(X.get(disk, 'target', 'dev') or '')}")
    if disk.find("readonly") is not None:
        parts.append("readonly=on")
    cache = X.get(disk, "driver", "cache")
    if cache and cache != "default":
        parts.append(f"cache={cache}")
    b.cmd.add("-drive", ",".join(parts))


def build_disks(b: Builder) -> None:
    dom = b.dom
    disks = dom.all("disk")
    chains = assign_node_ids(b)
    floppies = [d for d in disks if X.get(d, "target", "bus") == "fdc"]
    if floppies:
        a = b_boot = {}
        del a
        bootA = bootB = 0
        for d in floppies:
            unit = int(X.get(d, "address", "unit") or "0")
            idx = effective_boot(b, d)
            if unit:
                bootB = idx
            else:
                bootA = idx
        if dom.is_q35() and _needs_fdc(b):
            props = Props().s("driver", "isa-fdc").p("bootindexA", bootA).p("bootindexB", bootB)
            b.device(props)
        else:
            if bootA:
                b.cmd.add("-global", f"isa-fdc.bootindexA={bootA}")
            if bootB:
                b.cmd.add("-global", f"isa-fdc.bootindexB={bootB}")
        del b_boot
    for i, disk in enumerate(disks):
        if disk.find("transient") is not None and X.get(disk, "transient", "shareBacking") == "yes":
            continue
        top = chains.get(i)
        if X.get(disk, "target", "bus") == "sd":
            legacy_drive(b, disk)
            continue
        if disk.get("type") == "vhostuser":
            alias = X.alias(disk) or ""
            path = X.get(disk, "source", "path") or ""
            b.cmd.add("-chardev", f"socket,id=chr-vu-{alias},path={escape_comma(path)}"
                      + reconnect_opt(disk.find("source")))
        elif top is not None:
            for s in sources(top):
                fdset = b.disk_fdsets.get(s.id)
                if fdset is None:
                    continue
                fds = b.cfg.fd_groups.get(fdset[1])
                if fds is None:
                    raise ConfigUnsupportedError(f"file descriptor group '{fdset[1]}' was not associated "
                                                 "with the domain")
                for j, fd in enumerate(fds):
                    b.cmd.add("-add-fd", f"set={fdset[0]},fd={fd},opaque=libvirt-{s.id}-storage{j}")
            for s in reversed(sources(top)):
                sp = storage_props(b, s, disk, for_top=s is top)
                fp = format_props(b, s, disk, top=s is top)
                for sec in s.secrets:
                    _emit_secret(b, sec)
                enc = source_encryption(s, disk)
                if enc is not None and enc.get("format") == "luks":
                    from virt.driver.qemu import secrets

                    b.object(secrets.secret_object(b, f"libvirt-{s.id}-format-encryption-secret0", "volume",
                                                   auth=enc))
                r = s.src.find("reservations") if s.src is not None else None
                if r is not None and r.get("enabled", "yes") == "yes" and r.get("managed") == "no":
                    # an unmanaged persistent-reservation helper of this source's own
                    b.object(Props().s("qom-type", "pr-manager-helper").s("id", f"pr-helper-libvirt-{s.id}-storage")
                             .s("path", X.get(r, "source", "path") or ""))
                b.cmd.add("-blockdev", sp.json())
                if fp.get("file") == f"libvirt-{s.id}-slice-sto":
                    b.cmd.add("-blockdev", slice_props(s, disk).json())
                b.cmd.add("-blockdev", fp.json())
            if X.get(disk, "driver", "copy_on_read") == "on":
                b.cmd.add("-blockdev", Props().s("driver", "copy-on-read")
                          .s("node-name", f"libvirt-CoR-{X.get(disk, 'target', 'dev')}")
                          .s("file", f"libvirt-{top.id}-format").s("discard", "unmap").json())
        b.device(disk_device_props(b, disk, top))


def _needs_fdc(b: Builder) -> bool:
    m = b.dom.machine
    if not b.dom.is_q35():
        return False
    if m in ("q35",):
        return True
    import re
    v = re.match(r"pc-q35-(\d+)\.(\d+)", m)
    return bool(v and (int(v.group(1)), int(v.group(2))) >= (4, 0))


def _emit_secret(b: Builder, sec: Props) -> None:
    if sec.get("__tls__"):
        from virt.driver.qemu import secrets

        if sec.get("secret"):
            b.object(secrets.secret_object(b, str(sec["secret"]), "tls"))
        props = Props().s("qom-type", "tls-creds-x509").s("id", sec["alias"]).s("dir", sec["dir"]) \
            .s("endpoint", "client").b("verify-peer", True).S("passwordid", sec.get("secret"))
        b.object(props)
    else:
        b.object(sec)


def effective_boot(b: Builder, el: E) -> int:
    return int(X.priv(el, "bootindex") or "0")


def disk_device_props(b: Builder, disk: E, top: Source | None) -> Props:
    bus = X.get(disk, "target", "bus")
    device = disk.get("device", "disk")
    alias = X.alias(disk) or ""
    drv = disk.find("driver")
    props = Props()
    driver = None
    removable = None
    vpd = None
    if bus in ("ide", "sata"):
        driver = "ide-cd" if device == "cdrom" else "ide-hd"
    elif bus == "scsi":
        if device == "lun":
            driver = "scsi-block"
        else:
            if device == "cdrom":
                driver = "scsi-cd"
            else:
                driver = "scsi-hd"
                removable = X.yes(X.get(disk, "target", "removable"))
            serial = X.text(disk, "serial")
            vpd = serial if serial else f"drive-{alias}"
    elif bus == "virtio":
        scsi = None
        if disk.get("type") != "vhostuser" and b.has("virtio-blk-pci.scsi"):
            if device == "lun":
                scsi = True
            elif not b.has("virtio-blk-pci.scsi.default.disabled"):
                scsi = False
        base = "vhost-user-blk" if disk.get("type") == "vhostuser" else "virtio-blk"
        props = b.virtio_props(disk, base)
        iothread = drv.get("iothread") if drv is not None else None
        props.S("iothread", f"iothread{iothread}" if iothread else None)
        if drv is not None:
            props.T("ioeventfd", X.yes(drv.get("ioeventfd")))
            props.T("event_idx", X.yes(drv.get("event_idx")))
        props.T("scsi", scsi)
        if drv is not None:
            props.p("num-queues", int(drv.get("queues", "0")))
            props.p("queue-size", int(drv.get("queue_size", "0")))
    elif bus == "usb":
        driver = "usb-storage"
        rm = X.yes(X.get(disk, "target", "removable"))
        removable = False if rm is None else rm
    elif bus == "fdc":
        driver = "floppy"
    else:
        raise InternalError(f"unsupported disk bus '{bus}' with device setup")
    if driver:
        props.s("driver", driver)
    b.address(props, disk, diskbus=bus)
    shared = disk.find("shareable") is not None
    drive = None
    chardev = None
    if disk.get("type") == "vhostuser":
        chardev = f"chr-vu-{alias}"
    elif top is not None:
        if X.get(disk, "driver", "copy_on_read") == "on":
            drive = f"libvirt-CoR-{X.get(disk, 'target', 'dev')}"
        else:
            drive = f"libvirt-{top.id}-format"
    bootindex = effective_boot(b, disk) if device != "floppy" else 0
    wwn = X.text(disk, "wwn")
    write_cache = None
    cache = X.get(disk, "driver", "cache")
    if device != "lun" and cache in CACHE_MODES:
        write_cache = "on" if CACHE_MODES[cache][2] else "off"
    geom = disk.find("geometry")
    trans = geom.get("trans") if geom is not None else None
    serial_el = disk.find("serial")
    serial = serial_el.text if serial_el is not None else None
    if serial:
        serial = serial.replace(" ", "\\ ")
    werror = drv.get("error_policy") if drv is not None else None
    rerror = drv.get("rerror_policy") if drv is not None else None
    if werror == "enospace":
        werror = "enospc"
    elif rerror is None:
        rerror = werror
    blockio = disk.find("blockio")
    props.S("device_id", vpd).T("share-rw", True if shared else None).S("drive", drive).S("chardev", chardev)
    props.s("id", alias).p("bootindex", bootindex)
    if blockio is not None:
        props.p("logical_block_size", int(blockio.get("logical_block_size", "0")))
        props.p("physical_block_size", int(blockio.get("physical_block_size", "0")))
        props.p("discard_granularity", int(blockio.get("discard_granularity", "0")))
    if wwn:
        props.u("wwn", int(wwn, 16))
    rr = X.get(disk, "target", "rotation_rate")
    props.p("rotation_rate", int(rr) if rr else 0)
    props.S("vendor", X.text(disk, "vendor")).S("product", X.text(disk, "product"))
    props.T("removable", removable)
    props.S("write-cache", write_cache)
    if geom is not None:
        props.p("cyls", int(geom.get("cyls", "0"))).p("heads", int(geom.get("heads", "0")))
        props.p("secs", int(geom.get("secs", "0")))
    props.S("bios-chs-trans", trans if trans and trans != "default" else None)
    props.S("serial", serial).S("werror", werror).S("rerror", rerror)
    return props


def build_pflash(b: Builder) -> None:
    root = b.root
    loader = root.find("os/loader")
    if loader is None or loader.get("type") != "pflash" or not (loader.text or "").strip():
        return
    path = (loader.text or "").strip()
    ro = loader.get("readonly") == "yes"
    b.cmd.add("-blockdev", Props().s("driver", "file").s("filename", path).s("node-name", "libvirt-pflash0-storage")
              .b("auto-read-only", True).s("discard", "unmap").json())
    b.cmd.add("-blockdev", Props().s("node-name", "libvirt-pflash0-format").b("read-only", ro).s("driver", "raw")
              .s("file", "libvirt-pflash0-storage").json())
    nvram = root.find("os/nvram")
    if nvram is not None:
        npath = (nvram.text or "").strip() or X.get(nvram, "source", "file") or \
            f"{b.cfg.nvramDir}/{b.dom.name}_VARS.fd"
        b.cmd.add("-blockdev", Props().s("driver", "file").s("filename", npath)
                  .s("node-name", "libvirt-pflash1-storage").b("auto-read-only", True).s("discard", "unmap").json())
        b.cmd.add("-blockdev", Props().s("node-name", "libvirt-pflash1-format").b("read-only", False)
                  .s("driver", nvram.get("format", "raw") or "raw").s("file", "libvirt-pflash1-storage").json())
