"""A real guest with a real QEMU guest agent: Debian's kernel booted with a tiny initramfs.

The initramfs holds busybox-static, qemu-ga (Debian's qemu-guest-agent, with the shared libraries
``ldd`` names copied from the host) and the virtio modules its port needs (Debian builds
virtio_pci and virtio_console as modules). The packages are fetched with ``apt-get download`` and
unpacked with ``dpkg -x``, nothing is installed; kernel and initramfs are built once and kept in
``$VIRT_TEST_CACHE`` (default ``~/.cache/virt-tests``).
"""

from __future__ import annotations

import gzip
import lzma
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

#: Bumped when the initramfs' content changes, so a cached one is rebuilt.
VERSION = "4"
#: Modules the agent's virtio-serial port needs (their dependencies come from modules.dep).
MODULES = ("virtio_pci", "virtio_console")
#: Printed on the serial console once the agent runs.
READY = "VIRT-AGENT-READY"

INIT = f"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /run /var/run /tmp
for m in $(cat /modules.order); do insmod "/lib/modules/$m"; done
port=
for i in $(seq 200); do
  for p in /sys/class/virtio-ports/*; do
    if [ "$(cat "$p/name" 2>/dev/null)" = org.qemu.guest_agent.0 ]; then port=/dev/${{p##*/}}; fi
  done
  if [ -n "$port" ] && [ -e "$port" ]; then break; fi
  sleep 0.05
done
hostname virt-agent-guest
mkdir -p /etc
echo 'root:x:0:0:root:/root:/bin/sh' >/etc/passwd
echo 'root:*:19000:0:99999:7:::' >/etc/shadow
ip addr add 127.0.0.1/8 dev lo
ip link set lo up
qemu-ga -m virtio-serial -p "$port" -t /run &
echo {READY} >/dev/ttyS0
while :; do sleep 3600; done
"""

#: What qemu-ga runs for guest-shutdown (/sbin/shutdown -h|-r ...): busybox's immediate forms.
SHUTDOWN = """#!/bin/sh
case " $* " in
  *" -r "*) exec /bin/busybox reboot -f ;;
  *) exec /bin/busybox poweroff -f ;;
esac
"""


#: busybox-static has no chpasswd applet: what qemu-ga runs for guest-set-user-password ("user:password"
#: on stdin, -e when the password is crypted already).
CHPASSWD = """#!/bin/sh
IFS= read -r line
user=${line%%:*}
pass=${line#*:}
if [ "$1" = "-e" ]; then hash=$pass; else hash=$(mkpasswd -m sha512 "$pass"); fi
sed -i "s|^$user:[^:]*:|$user:$hash:|" /etc/shadow
"""


def cache_dir() -> Path:
    return Path(os.environ.get("VIRT_TEST_CACHE") or Path.home() / ".cache" / "virt-tests") / "agent-guest"


def _kernel_package() -> str:
    out = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Depends:") and "linux-image-" in line:
            return line.split(":", 1)[1].strip()
    raise RuntimeError("linux-image-amd64 names no kernel package")


def _download(names: list[str], into: Path) -> dict[str, Path]:
    # apt's sandbox user cannot write to a private temporary directory: download as root there.
    subprocess.run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", *names], cwd=into,
                   check=True, capture_output=True, text=True)
    debs = {}
    for name in names:
        (deb,) = into.glob(f"{name}_*.deb")
        debs[name] = deb
    return debs


def _ko_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".xz"):
        return lzma.decompress(data)
    if path.name.endswith(".zst"):
        raise RuntimeError(f"zstd-compressed module {path}: not supported here")
    return data


def _module_order(root: Path, release: str) -> list[Path]:
    """The modules to load, dependencies first. The package carries no modules.dep (depmod makes it
    at install), so each module's own "depends=" field is read."""
    moddir = root / "lib" / "modules" / release / "kernel"
    by_name = {p.name.split(".ko")[0].replace("-", "_"): p for p in moddir.rglob("*.ko*")}
    order: list[Path] = []

    def visit(name: str) -> None:
        path = by_name[name]
        data = _ko_bytes(path)
        at = data.find(b"\0depends=")
        deps = data[at + 9:data.index(b"\0", at + 1)].decode().split(",") if at >= 0 else []
        for dep in filter(None, deps):
            visit(dep.replace("-", "_"))
        if path not in order:
            order.append(path)

    for name in MODULES:
        visit(name)
    return order


def _cpio(root: Path) -> bytes:
    """A newc archive of the tree ``root`` (what the kernel unpacks as its initramfs)."""
    out = bytearray()
    ino = 1

    def entry(name: str, mode: int, data: bytes) -> None:
        nonlocal ino
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0]
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        out.extend(header + name.encode() + b"\0")
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))
        ino += 1

    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        st = path.lstat()
        if path.is_symlink():
            entry(rel, st.st_mode, os.readlink(path).encode())
        elif path.is_dir():
            entry(rel, st.st_mode, b"")
        else:
            entry(rel, st.st_mode, path.read_bytes())
    entry("TRAILER!!!", 0, b"")
    return bytes(out)


def build(cache: Path) -> tuple[Path, Path]:
    """(kernel, initramfs), built into ``cache`` unless already there."""
    kernel, initrd, stamp = cache / "vmlinuz", cache / "initrd.gz", cache / "version"
    if kernel.exists() and initrd.exists() and stamp.exists() and stamp.read_text() == VERSION:
        return kernel, initrd
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="virt-agent-guest-") as tmp:
        work = Path(tmp)
        kpkg = _kernel_package()
        debs = _download([kpkg, "qemu-guest-agent", "busybox-static"], work)
        trees = {}
        for name, deb in debs.items():
            trees[name] = work / f"x-{name}"
            subprocess.run(["dpkg-deb", "-x", str(deb), str(trees[name])], check=True)
        ktree = trees[kpkg]
        (vmlinuz,) = (ktree / "boot").glob("vmlinuz-*")
        release = vmlinuz.name[len("vmlinuz-"):]

        root = work / "root"
        for d in ("bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "run", "tmp", "lib/modules",
                  "lib64", "lib/x86_64-linux-gnu"):
            (root / d).mkdir(parents=True, exist_ok=True)
        shutil.copy2(trees["busybox-static"] / "bin" / "busybox", root / "bin" / "busybox")
        qga = trees["qemu-guest-agent"] / "usr" / "sbin" / "qemu-ga"
        shutil.copy2(qga, root / "usr" / "sbin" / "qemu-ga")
        for line in subprocess.run(["ldd", str(qga)], capture_output=True, text=True, check=True).stdout.splitlines():
            parts = line.split()
            lib = parts[2] if "=>" in parts and len(parts) > 3 else parts[0]
            if lib.startswith("/"):
                dest = root / lib.lstrip("/")
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(os.path.realpath(lib), dest)
            elif "not found" in line:
                raise RuntimeError(f"qemu-ga needs a library the host lacks: {line.strip()}")
        order = []
        for mod in _module_order(ktree, release):
            name = mod.name.removesuffix(".xz")
            (root / "lib" / "modules" / name).write_bytes(_ko_bytes(mod))
            order.append(name)
        (root / "modules.order").write_text("\n".join(order) + "\n")
        for path, text in (("init", INIT), ("sbin/shutdown", SHUTDOWN), ("sbin/chpasswd", CHPASSWD)):
            (root / path).write_text(text)
            (root / path).chmod(0o755)
        (root / "sbin" / "hwclock").symlink_to("/bin/busybox")
        initrd_tmp, kernel_tmp = cache / "initrd.gz.tmp", cache / "vmlinuz.tmp"
        initrd_tmp.write_bytes(gzip.compress(_cpio(root), compresslevel=1))
        shutil.copy2(vmlinuz, kernel_tmp)
        os.replace(initrd_tmp, initrd)
        os.replace(kernel_tmp, kernel)
        stamp.write_text(VERSION)
    return kernel, initrd
