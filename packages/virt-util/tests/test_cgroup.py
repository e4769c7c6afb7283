"""Control groups: layout detection (v1, v2, hybrid), real groups on this host, and the tunable codecs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from virt.util import cgroup
from virt.util.cgroup import MEMORY_UNLIMITED, Cgroup, Hierarchy, Layout
from virt.util.errors import OperationInvalidError, SystemError_

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="creating cgroups needs root")


# ---------------------------------------------------------------------------------------- layouts
def _mountinfo(*mounts: tuple[str, str, str]) -> str:
    """mountinfo lines for (mount point, fs type, super options)."""
    return "".join(f"{30 + i} 20 0:{40 + i} / {m} rw,relatime shared:1 - {t} {t} {o}\n"
                   for i, (m, t, o) in enumerate(mounts))


def test_detect_pure_v1_with_comounted_controllers(tmp_path: Path) -> None:
    info = _mountinfo((f"{tmp_path}/cpu,cpuacct", "cgroup", "rw,cpu,cpuacct"), (f"{tmp_path}/memory", "cgroup", "rw,memory"),
                      (f"{tmp_path}/freezer", "cgroup", "rw,freezer"), (f"{tmp_path}/systemd", "cgroup", "rw,xattr,name=systemd"),
                      ("/proc", "proc", "rw"))
    layout = Layout.detect(info, "3:cpu,cpuacct:/user.slice\n2:memory:/user.slice/x\n1:name=systemd:/\n")
    assert layout.mode == "v1"
    cpu = layout.hierarchy("cpu")
    assert cpu is layout.hierarchy("cpuacct") and cpu is not None
    assert (cpu.key, cpu.placement) == ("cpu,cpuacct", "/user.slice")
    assert layout.version("memory") == 1 and layout.hierarchy("memory").placement == "/user.slice/x"  # type: ignore[union-attr]
    assert layout.hierarchy("blkio") is None and layout.hierarchy("io") is None
    group = Cgroup.machine("web", "lxc", layout)
    assert group.dirs["cpu,cpuacct"] == Path(f"{tmp_path}/cpu,cpuacct/user.slice/machine/web.libvirt-lxc")
    assert set(group.dirs) == {"cpu,cpuacct", "memory", "freezer", "name=systemd"}


def test_detect_pure_v2(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    layout = Layout.detect(_mountinfo((str(tmp_path), "cgroup2", "rw,nsdelegate")), "0::/init.scope\n")
    assert layout.mode == "v2"
    for controller in ("cpu", "memory", "io", "blkio", "cpuset", "pids", "freezer", "cpuacct"):
        assert layout.version(controller) == 2, controller
    assert layout.hierarchy("devices") is None  # v2 devices are BPF programs, not files
    assert Cgroup.machine("db", "qemu", layout).dirs == {"unified": tmp_path / "init.scope/machine/db.libvirt-qemu"}


def test_detect_hybrid_prefers_v1_per_controller(tmp_path: Path) -> None:
    unified = tmp_path / "unified"
    unified.mkdir()
    (unified / "cgroup.controllers").write_text("hugetlb memory\n")
    layout = Layout.detect(_mountinfo((f"{tmp_path}/cpu", "cgroup", "rw,cpu"), (f"{tmp_path}/freezer", "cgroup", "rw,freezer"),
                                      (str(unified), "cgroup2", "rw")), "2:cpu:/\n1:freezer:/\n0::/\n")
    assert layout.mode == "hybrid"
    assert layout.version("cpu") == 1 and layout.version("freezer") == 1
    assert layout.version("memory") == 2 and layout.version("cpuacct") == 2
    assert layout.hierarchy("cpuset") is None


def test_detect_handles_escaped_mount_points_and_bind_roots(tmp_path: Path) -> None:
    info = "40 20 0:50 /lxc/ct1 /sys/fs/cgroup/my\\040memory rw - cgroup cgroup rw,memory\n"
    layout = Layout.detect(info, "4:memory:/lxc/ct1/inner\n")
    h = layout.hierarchy("memory")
    assert h is not None and h.mount == Path("/sys/fs/cgroup/my memory") and h.placement == "/inner"


def test_detect_this_host_matches_proc_cgroups() -> None:
    layout = Layout.detect()
    enabled = {}
    for line in Path("/proc/cgroups").read_text().splitlines()[1:]:
        name, hier, _, on = line.split()
        enabled[name] = (int(hier), on == "1")
    for name, (hier, on) in enabled.items():
        if on and hier != 0 and name in cgroup.CONTROLLERS:
            assert layout.version(name) == 1, name
    assert layout.mode in ("v1", "v2", "hybrid")


# ---------------------------------------------------------------------------------------- codecs
@given(st.sampled_from(["memory.hard_limit", "memory.soft_limit", "memory.swap_hard_limit"]),
       st.sampled_from([1, 2]), st.one_of(st.integers(0, MEMORY_UNLIMITED - 1), st.just(MEMORY_UNLIMITED), st.just((1 << 52) - 1)))
def test_memory_codec_round_trip(name: str, version: int, kib: int) -> None:
    knob = cgroup.TUNABLES[name].v1 if version == 1 else cgroup.TUNABLES[name].v2
    assert knob is not None
    text = cgroup._encode(knob.codec, version, kib, "")
    if kib >= 1 << 52:  # 4 EiB and more: no limit, as the kernel reads it back
        kib = MEMORY_UNLIMITED
        assert text == ("-1" if version == 1 else "max")
        # What the kernel reads back for "-1" in v1: the largest page-aligned value.
        text = "9223372036854771712" if version == 1 else text
    assert cgroup._decode(knob.codec, text) == kib


@given(st.integers(-1, 10**9), st.integers(1000, 10**6), st.sampled_from(["max 100000", "50000 200000"]))
def test_cpu_max_read_modify_write(quota: int, period: int, current: str) -> None:
    after_quota = cgroup._encode("max0", 2, quota, current)
    assert cgroup._decode("max0", after_quota) == quota
    assert after_quota.split()[1] == current.split()[1]
    after_period = cgroup._encode("max1", 2, period, after_quota)
    assert cgroup._decode("max1", after_period) == period and cgroup._decode("max0", after_period) == quota


def _v2_tree(tmp_path: Path) -> Layout:
    """A v2 hierarchy laid out in files, for the v2 controllers this host has bound to v1."""
    (tmp_path / "cgroup.controllers").write_text("cpu io memory pids cpuset\n")
    return Layout([Hierarchy(2, tmp_path, frozenset({"cpu", "io", "memory", "pids", "cpuset"}), "/")])


def test_v2_files_are_written_as_the_kernel_spells_them(tmp_path: Path) -> None:
    layout = _v2_tree(tmp_path)
    group = Cgroup.machine("g", "lxc", layout)
    d = group.dirs["unified"]
    d.mkdir(parents=True)
    for name, text in {"cpu.max": "max 100000\n", "memory.max": "max\n", "memory.high": "max\n", "io.weight": "default 100\n",
                       "cpu.stat": "usage_usec 1500\nuser_usec 1000\n", "memory.current": "2048\n", "cpu.weight": "100\n",
                       "pids.max": "max\n"}.items():
        (d / name).write_text(text)
    group.set("cpu.cfs_quota", 50000)
    group.set("cpu.cfs_period", 200000)
    assert (d / "cpu.max").read_text() == "50000 200000"
    group.set("memory.hard_limit", 1024)
    assert (d / "memory.max").read_text() == "1048576"
    group.set("memory.soft_limit", MEMORY_UNLIMITED)
    assert (d / "memory.high").read_text() == "max"
    group.set("blkio.weight", 500)
    assert (d / "io.weight").read_text() == "default 500"
    assert group.get("blkio.weight") == 500
    assert group.cpu_time() == 1_500_000 and group.memory_usage() == 2
    assert group.get("pids.max") == -1
    with pytest.raises(OperationInvalidError, match="read-only"):
        group.set("cpuacct.usage", 0)
    with pytest.raises(OperationInvalidError, match="Controller 'devices' is not mounted"):
        group._dir("devices")


# ---------------------------------------------------------------------------------------- real groups
@pytest.fixture
def group() -> Iterator[Cgroup]:
    g = Cgroup.machine(f"test-{uuid.uuid4().hex[:8]}", "virttest")
    g.create()
    yield g
    g.kill_all()
    g.remove()
    assert not g.exists()


def _spawn(group: Cgroup, code: str) -> subprocess.Popen[bytes]:
    """A Python child that joins ``group`` before running ``code`` (so nothing runs outside it)."""
    r, w = os.pipe()
    proc = subprocess.Popen([sys.executable, "-c", f"import os,sys; os.read({r}, 1); {code}"], pass_fds=(r,))
    os.close(r)
    group.add_pid(proc.pid)
    os.write(w, b"x")
    os.close(w)
    return proc


@root_only
def test_group_holds_processes_and_kill_all_empties_it(group: Cgroup) -> None:
    procs = [_spawn(group, "import time; time.sleep(60)") for _ in range(3)]
    assert group.pids() == sorted(p.pid for p in procs)
    for directory in group.dirs.values():
        assert set(map(int, (directory / "cgroup.procs").read_text().split())) == {p.pid for p in procs}
    started = time.monotonic()
    assert group.kill_all() == 3
    # kill_all reaps the children it can (no zombies left behind), so Popen may find no exit status
    # to collect (returncode 0); what matters is that each 60 s sleeper died at once.
    for p in procs:
        assert p.wait(5) in (-signal.SIGKILL, 0)
    assert time.monotonic() - started < 5
    assert group.pids() == []


@root_only
def test_memory_limit_is_enforced(group: Cgroup) -> None:
    if not group.supports("memory.hard_limit"):
        pytest.skip("no memory controller on this host")
    group.set("memory.hard_limit", 32 * 1024)
    if group.supports("memory.swap_hard_limit"):
        group.set("memory.swap_hard_limit", 32 * 1024)
    assert group.get("memory.hard_limit") == 32 * 1024
    small = _spawn(group, "b = bytearray(8 << 20); b[::4096] = b'x' * len(b[::4096])")
    assert small.wait(30) == 0
    big = _spawn(group, "b = bytearray(256 << 20); b[::4096] = b'x' * len(b[::4096])")
    assert big.wait(30) == -signal.SIGKILL  # the OOM killer of the group, not the host's


@root_only
def test_cpu_and_memory_tunables(group: Cgroup) -> None:
    for name, value in (("cpu.shares", 2048), ("cpu.cfs_period", 50000), ("cpu.cfs_quota", 25000),
                        ("cpu.cfs_quota", -1), ("memory.soft_limit", 65536), ("memory.hard_limit", MEMORY_UNLIMITED)):
        if group.supports(name):
            group.set(name, value)
            assert group.get(name) == value, name
    if group.supports("cpuset.cpus"):
        cpus = group.get("cpuset.cpus")
        assert cpus  # copied from the parent at creation: an empty cpuset could not take processes
        group.set("cpuset.cpus", "0")
        assert group.get("cpuset.cpus") == "0"
    with pytest.raises(OperationInvalidError):
        group.set("no.such", 1)


@root_only
def test_cpu_time_and_memory_usage_grow(group: Cgroup) -> None:
    before = group.cpu_time()
    proc = _spawn(group, "import time\nb = bytearray(16 << 20); b[::4096] = b'x' * len(b[::4096])\n"
                         "t = time.process_time()\nwhile time.process_time() - t < 0.2: pass\ntime.sleep(60)")
    deadline = time.monotonic() + 10
    while group.cpu_time() - before < 150_000_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert group.cpu_time() - before >= 150_000_000
    if group.supports("memory.usage"):
        assert group.memory_usage() >= 8 * 1024
    proc.kill()
    proc.wait()


def _progress(path: Path) -> int:
    try:
        return int(path.read_text() or 0)
    except (OSError, ValueError):
        return 0


@root_only
@pytest.mark.parametrize("version", [1, 2])
def test_freeze_and_thaw(version: int, tmp_path: Path) -> None:
    layout = Layout.detect()
    if layout.version("freezer") != version:
        # The other version's freezer: on a hybrid host, the unified hierarchy's cgroup.freeze is real too.
        only = [h for h in layout.hierarchies if h.version == version]
        if not only or (version == 1 and not any("freezer" in h.controllers for h in only)):
            pytest.skip(f"no v{version} freezer on this host")
        layout = Layout(only)
    g = Cgroup.machine(f"freeze-{uuid.uuid4().hex[:8]}", "virttest", layout)
    g.create()
    try:
        counter = tmp_path / "n"
        # Written by rename, so a reader never sees a half-written number.
        proc = _spawn(g, f"import os, time\nn=0\nwhile True:\n n+=1\n open({str(counter)!r}+'.new','w').write(str(n))\n"
                         f" os.replace({str(counter)!r}+'.new', {str(counter)!r})\n time.sleep(0.005)")
        deadline = time.monotonic() + 20
        while _progress(counter) < 3 and time.monotonic() < deadline:  # the child is counting
            time.sleep(0.02)
        g.freeze()
        assert g.freezer_state() == "FROZEN"
        frozen_at = _progress(counter)
        time.sleep(0.2)
        assert _progress(counter) == frozen_at
        g.thaw()
        assert g.freezer_state() == "THAWED"
        deadline = time.monotonic() + 20
        while _progress(counter) <= frozen_at and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _progress(counter) > frozen_at
        g.kill_all()
        proc.wait(5)
    finally:
        g.kill_all()
        g.remove()
    assert not g.exists()


@root_only
def test_reattach_from_saved_dirs_and_pid(group: Cgroup) -> None:
    proc = _spawn(group, "import time; time.sleep(60)")
    again = Cgroup.from_dict(group.to_dict())
    assert again.pids() == [proc.pid]
    assert Cgroup.of_pid(proc.pid).dirs == group.dirs
    group.kill_all()
    proc.wait(5)


@root_only
def test_remove_refuses_a_busy_group() -> None:
    g = Cgroup.machine(f"busy-{uuid.uuid4().hex[:8]}", "virttest")
    g.create()
    proc = _spawn(g, "import time; time.sleep(60)")
    try:
        with pytest.raises(SystemError_, match="Unable to remove cgroup"):
            g.remove(timeout=0.1)
    finally:
        g.kill_all()
        proc.wait(5)
        g.remove()
    assert not g.exists()


def test_errors_name_the_file(tmp_path: Path) -> None:
    layout = _v2_tree(tmp_path)
    g = Cgroup.machine("missing", "lxc", layout)
    with pytest.raises(SystemError_, match=r"Unable to read from '.*missing.libvirt-lxc/memory.max'"):
        g.get("memory.hard_limit")
    assert cgroup.groups_of(layout) == []
