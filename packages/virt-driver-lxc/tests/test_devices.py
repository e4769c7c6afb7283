"""Real containers with host storage: <filesystem type='file'|'block'> through loop devices, <hostdev> nodes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the helpers beside this file
from lxc_env import OUT_MOUNT, LxcEnv

pytestmark = [pytest.mark.root, pytest.mark.slow]

IDLE = "trap 'exit 0' TERM; while :; do sleep 0.05; done"


def loops_of(image: Path) -> list[str]:
    """The loop devices backed by ``image`` (``losetup -j``)."""
    out = subprocess.run(["losetup", "-j", str(image)], capture_output=True, text=True, check=True).stdout
    return [line.split(":", 1)[0] for line in out.splitlines() if line]


def detach(image: Path) -> None:
    for dev in loops_of(image):
        subprocess.run(["losetup", "-d", dev], check=False)


def read_image_file(image: Path, name: str) -> str:
    """``name`` from the image's root, read with debugfs (no mount, nothing to clean up)."""
    out = subprocess.run(["debugfs", "-R", f"cat /{name}", str(image)], capture_output=True, text=True, check=True)
    return out.stdout


@pytest.fixture
def image(env: LxcEnv) -> Iterator[Path]:
    path = env.base / "fs.img"
    subprocess.run(["truncate", "-s", "8M", str(path)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(path)], check=True)
    yield path
    detach(path)  # even when a test failed before the container let go of it


@pytest.fixture
def loop(image: Path) -> Iterator[str]:
    dev = subprocess.run(["losetup", "--find", "--show", str(image)], capture_output=True, text=True,
                         check=True).stdout.strip()
    try:
        yield dev
    finally:
        subprocess.run(["losetup", "-d", dev], check=False)


def test_file_filesystem_through_a_loop_device(env: LxcEnv, image: Path) -> None:
    conn = env.connect()
    name = env.name()
    fs = (f"<filesystem type='file' accessmode='passthrough'><driver type='loop' format='raw'/>"
          f"<source file='{image}'/><target dir='/mnt'/></filesystem>")
    script = (f"echo written-inside > /mnt/hello; grep ' /mnt ' /proc/self/mountinfo > {OUT_MOUNT}/mnt; " + IDLE)
    dom = conn.create_domain(env.xml(name, script, devices=fs))
    mountinfo = env.read("mnt")
    assert " ext4 /dev/loop" in mountinfo, mountinfo
    assert len(loops_of(image)) == 1
    dom.destroy()
    assert loops_of(image) == []  # detached with the container's last mount
    assert read_image_file(image, "hello") == "written-inside\n"


def test_block_filesystem(env: LxcEnv, image: Path, loop: str) -> None:
    conn = env.connect()
    name = env.name()
    fs = f"<filesystem type='block'><source dev='{loop}'/><target dir='/mnt'/></filesystem>"
    script = (f"echo on-block > /mnt/block; grep ' /mnt ' /proc/self/mountinfo > {OUT_MOUNT}/mnt; " + IDLE)
    dom = conn.create_domain(env.xml(name, script, devices=fs))
    assert f" ext4 {loop} " in env.read("mnt")
    dom.destroy()
    assert loop not in Path("/proc/self/mountinfo").read_text()
    subprocess.run(["losetup", "-d", loop], check=True)  # not busy: the container's mount is gone
    assert read_image_file(image, "block") == "on-block\n"


def test_hostdev_misc_and_storage_nodes(env: LxcEnv, image: Path, loop: str) -> None:
    conn = env.connect()
    name = env.name()
    devices = ("<hostdev mode='capabilities' type='misc'><source><char>/dev/net/tun</char></source></hostdev>"
               f"<hostdev mode='capabilities' type='storage'><source><block>{loop}</block></source></hostdev>")
    script = (f"ls -l /dev/net/tun {loop} > {OUT_MOUNT}/nodes; "
              f"head -c 1024 {loop} > /dev/null && echo readable > {OUT_MOUNT}/read; " + IDLE)
    dom = conn.create_domain(env.xml(name, script, devices=devices))
    nodes = env.read("nodes").splitlines()
    tun = next(line for line in nodes if line.endswith("/dev/net/tun"))
    block = next(line for line in nodes if line.endswith(loop))
    assert tun.startswith("crw") and "10, 200" in tun, tun
    st = Path(loop).stat()
    assert block.startswith("brw") and f"{st.st_rdev >> 8 & 0xfff}, " in block, block
    assert env.read("read").strip() == "readable"
    dom.destroy()


def test_read_only_file_filesystem(env: LxcEnv, image: Path) -> None:
    conn = env.connect()
    name = env.name()
    fs = (f"<filesystem type='file'><driver type='loop' format='ext4'/><source file='{image}'/>"
          "<target dir='/mnt'/><readonly/></filesystem>")
    script = (f"if echo x > /mnt/nope 2>/dev/null; then echo rw; else echo ro; fi > {OUT_MOUNT}/rw; " + IDLE)
    dom = conn.create_domain(env.xml(name, script, devices=fs))
    assert env.read("rw").strip() == "ro"
    loop = loops_of(image)
    assert len(loop) == 1 and Path(f"/sys/block/{Path(loop[0]).name}/ro").read_text().strip() == "1"
    dom.destroy()
    assert loops_of(image) == []
    assert "File not found" in subprocess.run(["debugfs", "-R", "stat /nope", str(image)], capture_output=True,
                                              text=True, check=True).stderr
