"""Container start-to-running and destroy latency of the LXC driver, against the floor of unshare(1).

The floor is ``unshare --fork --pid --mount --uts --ipc --net /bin/true``: new namespaces, one process,
nothing else. A container does that plus its cgroup, a controller process, a root with /proc, /sys
and /dev, consoles and a pivot_root; "running" is when ``create`` returns (its init has been
executed). Both are measured in the same run, alternately, best and median of each printed with
the ratio to the floor.

Run as root: /work/venv/bin/python bench/lxc_start.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def floor_once() -> float:
    t = time.perf_counter()
    subprocess.run(["unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "/bin/true"], check=True)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("containers need root")
    from virt.core.connection import Connection
    from virt.core.plugin import get_plugin_manager
    from virt.core.registry import build_registry
    from virt.driver.lxc import plugin

    root = tempfile.mkdtemp(prefix="virt-lxc-bench-")
    conn = Connection(f"lxc:///?root={root}", registry=build_registry(get_plugin_manager(False, (plugin,))))
    # The same namespaces as the floor (pid, mount, uts, ipc and net through <privnet/>), an init that stays up.
    xml = ("<domain type='lxc'><name>bench</name><memory unit='MiB'>128</memory>"
           "<os><type>exe</type><init>/bin/sh</init><initarg>-c</initarg>"
           "<initarg>trap 'exit 0' TERM; while :; do sleep 1; done</initarg></os>"
           "<features><privnet/></features><devices><console type='pty'/></devices></domain>")
    floors, starts, destroys = [], [], []
    try:
        dom = conn.create_domain(xml)  # warm-up: imports, first cgroup partition
        dom.destroy()
        for _ in range(args.rounds):
            floors.append(floor_once())
            t = time.perf_counter()
            dom = conn.create_domain(xml)
            starts.append(time.perf_counter() - t)
            t = time.perf_counter()
            dom.destroy()
            destroys.append(time.perf_counter() - t)
    finally:
        for d in conn.list_all_domains(1):
            d.destroy()
        conn.close()
        shutil.rmtree(root, ignore_errors=True)
    floor = min(floors)
    print(f"{'':28}{'best ms':>10}{'median ms':>11}{'x floor (best)':>16}")
    for label, values in (("unshare floor", floors), ("container start-to-running", starts),
                          ("container destroy", destroys)):
        best, median = min(values) * 1000, statistics.median(values) * 1000
        print(f"{label:28}{best:10.1f}{median:11.1f}{min(values) / floor:16.1f}")
    print(f"ratio start/floor = {min(starts) / floor:.1f}, destroy/floor = {min(destroys) / floor:.1f} "
          f"({args.rounds} rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
