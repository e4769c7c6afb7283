"""Namespaces, mounts, hostname and capabilities: real calls in forked children, native and twin compared."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from virt.util import linux
from virt.util.errors import ErrorNumber, SystemError_

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="namespaces and mounts need root"),
]


def _native_built() -> bool:
    try:
        linux.backend("native")
    except SystemError_:
        return False
    return True


BACKENDS = ["python", "native"] if _native_built() else ["python"]
needs_native = pytest.mark.skipif(not _native_built(), reason="native module not built: nothing to compare")
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def in_child(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a forked child (so namespace and mount changes die with it) and return its result.

    A VirtError comes back as ("error", class name, message, errno); any other exception fails the test.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(r)
        try:
            try:
                out: Any = ["ok", fn()]
            except SystemError_ as err:
                out = ["error", type(err).__name__, str(err), err.extra.get("int1")]
            data = json.dumps(out).encode()
        # Any failure must reach the parent rather than end the child silently.
        except BaseException:
            data = json.dumps(["crash", traceback.format_exc()]).encode()
        os.write(w, data)
        os._exit(0)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    os.waitpid(pid, 0)
    result = json.loads(b"".join(chunks))
    assert result[0] != "crash", result[1]
    return result


def both(fn: Callable[[linux.Backend], Any]) -> list[Any]:
    """``fn`` run once per implementation, each in its own child."""
    return [in_child(lambda b=b: fn(linux.backend(b))) for b in BACKENDS]


def ns_ids() -> dict[str, int]:
    return {name: os.stat(f"/proc/self/ns/{name}").st_ino for name in linux.NAMESPACES}


# ---------------------------------------------------------------------------------------- behaviour
def test_native_in_use_unless_disabled() -> None:
    code = "from virt.util import linux; print(linux.NATIVE, linux.backend().name)"
    off = subprocess.run([sys.executable, "-c", code], env={**os.environ, "VIRT_NO_NATIVE": "1"},
                         capture_output=True, text=True, check=True)
    assert off.stdout.split() == ["False", "python"]
    if _native_built():
        on = subprocess.run([sys.executable, "-c", code], env={**os.environ, "VIRT_NO_NATIVE": "0"},
                            capture_output=True, text=True, check=True)
        assert on.stdout.split() == ["True", "native"]


@pytest.mark.parametrize("name", BACKENDS)
def test_clone_fork_makes_pid1_in_new_namespaces(name: str) -> None:
    impl = linux.backend(name)
    flags = linux.CLONE_NEWPID | linux.CLONE_NEWNS | linux.CLONE_NEWUTS | linux.CLONE_NEWIPC | linux.CLONE_NEWNET
    parent = ns_ids()

    def run() -> Any:
        r, w = os.pipe()
        pid = linux.clone_fork(flags, impl)
        if pid == 0:
            os.close(r)
            os.write(w, json.dumps([os.getpid(), ns_ids()]).encode())
            os._exit(7)
        os.close(w)
        child_pid, child_ns = json.loads(os.read(r, 4096))
        _, status = os.waitpid(pid, 0)
        return [pid > 1, child_pid, child_ns, os.waitstatus_to_exitcode(status)]

    ok, (positive, child_pid, child_ns, code) = in_child(run)
    assert ok == "ok" and positive and child_pid == 1 and code == 7
    changed = {n for n in linux.NAMESPACES if child_ns[n] != parent[n]}
    assert changed == {"pid", "mnt", "uts", "ipc", "net"}


@pytest.mark.parametrize("name", BACKENDS)
def test_container_root_setup(name: str) -> None:
    """What a container's init does: private mounts, a tmpfs root, pivot_root, proc, hostname."""
    impl = linux.backend(name)

    def run() -> Any:
        linux.unshare(linux.CLONE_NEWNS | linux.CLONE_NEWUTS, impl)
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE, None, impl)
        root = tempfile.mkdtemp(dir=work)
        linux.mount("tmpfs", root, "tmpfs", 0, "size=1m,mode=0755", impl)
        os.makedirs(f"{root}/.oldroot")
        os.makedirs(f"{root}/proc")
        linux.pivot_root(root, f"{root}/.oldroot", impl)
        os.chdir("/")
        linux.umount2("/.oldroot", linux.MNT_DETACH, impl)
        os.rmdir("/.oldroot")
        linux.mount("proc", "/proc", "proc", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC, None, impl)
        linux.sethostname("container-1", impl)
        return [sorted(os.listdir("/")), os.uname().nodename, os.path.exists("/proc/self/status")]

    # the child's mounts die with its namespace; the directory it made is removed here
    with tempfile.TemporaryDirectory(prefix="virt-linux-root-") as work:
        assert in_child(run) == ["ok", [["proc"], "container-1", True]]
    assert os.uname().nodename != "container-1"


@pytest.mark.parametrize("name", BACKENDS)
def test_drop_capabilities(name: str) -> None:
    impl = linux.backend(name)

    def run() -> Any:
        before = linux.capget(impl)
        linux.drop_capabilities(["mknod", "sys_module", linux.capability_number("net_admin")], impl)
        after = linux.capget(impl)
        dropped = [linux.CAPABILITIES[i] for i in range(64) if before.effective >> i & 1 and not after.effective >> i & 1]
        try:
            os.mknod("/dev/shm/virt-linux-test-node", 0o600 | 0o020000, os.makedev(1, 3))
            made = True
        except PermissionError:
            made = False
        return [dropped, linux.cap_bound_read(27, impl), made]

    assert in_child(run) == ["ok", [["net_admin", "sys_module", "mknod"], False, False]]


def test_errors_are_system_errors_with_errno() -> None:
    with pytest.raises(SystemError_) as info:
        linux.umount2("/nonexistent-virt-test-dir")
    assert info.value.code == ErrorNumber.SYSTEM_ERROR
    assert info.value.extra["int1"] == errno.ENOENT
    assert str(info.value) == "Failed to unmount '/nonexistent-virt-test-dir': No such file or directory"
    with pytest.raises(SystemError_, match="unknown capability 'flying'"):
        linux.capability_number("flying")


def test_setns_joins_a_namespace() -> None:
    def run() -> Any:
        fd = os.open("/proc/self/ns/uts", os.O_RDONLY)
        linux.unshare(linux.CLONE_NEWUTS)
        linux.sethostname("elsewhere")
        linux.setns(fd, linux.CLONE_NEWUTS)
        return os.uname().nodename

    assert in_child(run) == ["ok", os.uname().nodename]


# ---------------------------------------------------------------------------------------- agreement
@needs_native
@SETTINGS
@given(st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=70))
def test_agree_sethostname(name: str) -> None:
    def run(impl: linux.Backend) -> Any:
        linux.unshare(linux.CLONE_NEWUTS, impl)
        linux.sethostname(name, impl)
        return os.uname().nodename

    results = both(run)
    assert all(r == results[0] for r in results)
    if len(name.encode()) <= 64:
        assert results[0] == ["ok", name]
    else:
        assert results[0][0] == "error" and results[0][3] == errno.EINVAL


_OPTIONS = st.lists(st.sampled_from(["size=1m", "size=0", "mode=0700", "mode=bogus", "nr_inodes=10", "uid=0",
                                     "huge=never", "noswap", "nonsense=1", ""]), max_size=3).map(",".join)
_MOUNT_FLAGS = st.lists(st.sampled_from([linux.MS_RDONLY, linux.MS_NOSUID, linux.MS_NODEV, linux.MS_NOEXEC,
                                         linux.MS_NOATIME, 1 << 30]), max_size=3).map(sum)


@needs_native
@SETTINGS
@given(st.sampled_from(["tmpfs", "proc", "nosuchfs", "ramfs"]), _MOUNT_FLAGS, _OPTIONS,
       st.sampled_from(["dir", "missing", "file"]))
def test_agree_mount(fstype: str, flags: int, options: str, target_kind: str) -> None:
    def run(impl: linux.Backend) -> Any:
        linux.unshare(linux.CLONE_NEWNS | linux.CLONE_NEWPID, impl)
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE, None, impl)
        base = tempfile.mkdtemp(dir=work)
        target = {"dir": base, "missing": f"{base}/missing", "file": f"{base}/f"}[target_kind]
        if target_kind == "file":
            open(target, "w").close()
        try:
            linux.mount(fstype, target, fstype, flags, options or None, impl)
            with open("/proc/self/mountinfo") as info:
                line = next(ln for ln in info if f" {target} " in ln)
            return [line.split()[5], line.split(" - ")[1].split()[0]]
        except SystemError_ as err:
            return ["error", str(err).replace(base, "BASE"), err.extra.get("int1")]

    with tempfile.TemporaryDirectory(prefix="virt-mount-") as work:
        results = both(run)
    assert all(r == results[0] for r in results), results


@needs_native
@SETTINGS
@given(st.lists(st.sampled_from(sorted(linux.NAMESPACES.values()) + [0x100, 1 << 31]), max_size=4).map(
    lambda bits: sum(set(bits))))
def test_agree_unshare(flags: int) -> None:
    def run(impl: linux.Backend) -> Any:
        before = ns_ids()
        linux.unshare(flags, impl)
        after = ns_ids()
        return sorted(n for n in before if before[n] != after[n] and n != "pid")

    results = both(run)
    assert all(r == results[0] for r in results), results


@needs_native
@SETTINGS
@given(st.lists(st.sampled_from(sorted(linux.NAMESPACES.values())), max_size=5).map(lambda b: sum(set(b))))
def test_agree_clone_fork(flags: int) -> None:
    def run(impl: linux.Backend) -> Any:
        parent = ns_ids()
        r, w = os.pipe()
        pid = linux.clone_fork(flags, impl)
        if pid == 0:
            os.close(r)
            os.write(w, json.dumps([os.getpid() == 1, ns_ids()]).encode())
            os._exit(0)
        os.close(w)
        is_init, child = json.loads(os.read(r, 4096))
        os.waitpid(pid, 0)
        return [is_init, sorted(n for n in parent if parent[n] != child[n])]

    results = both(run)
    assert all(r == results[0] for r in results), results
    assert results[0][1][1] == sorted(n for n, bit in linux.NAMESPACES.items() if flags & bit)


@needs_native
@SETTINGS
@given(st.lists(st.integers(-3, 70), max_size=6))
def test_agree_capabilities(caps: list[int]) -> None:
    def run(impl: linux.Backend) -> Any:
        bounds = []
        for cap in caps:
            try:
                bounds.append(linux.cap_bound_read(cap, impl))
            except SystemError_ as err:
                bounds.append(err.extra.get("int1"))
        try:
            linux.drop_capabilities([c for c in caps if 0 <= c < 64], impl)
            outcome = list(linux.capget(impl))
        except SystemError_ as err:
            outcome = ["error", str(err)]
        return [bounds, outcome, [linux.cap_bound_read(c, impl) for c in range(len(linux.CAPABILITIES))
                                  if c <= 40 and _known(c, impl)]]

    results = both(run)
    assert all(r == results[0] for r in results), results


def _known(cap: int, impl: linux.Backend) -> bool:
    return impl.cap_bound_read(cap) >= 0


@needs_native
@SETTINGS
@given(st.sampled_from(["notmounted", "mounted", "missing"]), st.sampled_from(["inside", "outside", "missing"]))
def test_agree_pivot_root(new_root: str, put_old: str) -> None:
    def run(impl: linux.Backend) -> Any:
        linux.unshare(linux.CLONE_NEWNS, impl)
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE, None, impl)
        base = tempfile.mkdtemp(dir=work)
        root = f"{base}/root"
        if new_root != "missing":
            os.makedirs(root)
        if new_root == "mounted":
            linux.mount("tmpfs", root, "tmpfs", 0, None, impl)
        old = {"inside": f"{root}/old", "outside": f"{base}/old", "missing": f"{root}/nothere"}[put_old]
        if put_old != "missing" and os.path.isdir(os.path.dirname(old)):
            os.makedirs(old, exist_ok=True)
        try:
            linux.pivot_root(root, old, impl)
            return sorted(os.listdir("/"))
        except SystemError_ as err:
            return ["error", str(err).replace(base, "BASE"), err.extra.get("int1")]

    with tempfile.TemporaryDirectory(prefix="virt-pivot-") as work:
        results = both(run)
    assert all(r == results[0] for r in results), results


@needs_native
@SETTINGS
@given(st.sampled_from(["/", "/proc", "/nonexistent", "/tmp"]), st.sampled_from([0, linux.MNT_DETACH, linux.MNT_EXPIRE,
                                                                                 linux.MNT_FORCE | linux.MNT_DETACH, 64]))
def test_agree_umount2(target: str, flags: int) -> None:
    def run(impl: linux.Backend) -> Any:
        linux.unshare(linux.CLONE_NEWNS, impl)
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE, None, impl)
        linux.umount2(target, flags, impl)
        return "unmounted"

    results = both(run)
    assert all(r == results[0] for r in results), results
