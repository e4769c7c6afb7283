"""Start-up time of the ``virt`` CLI against libvirt's virsh, hyperfine-style, ratio printed.

Three commands: ``virt --version``, ``virt -c test:///default list`` and ``virsh -c test:///default
list``, run alternately (warm-up runs first), each many times. Printed per command: the best and
median wall time and the median CPU time (user + system of the child, steadier on a busy host), and
the ratio of ``virt list`` to ``virsh list``. ``python -c pass`` is measured too: the floor of any
Python CLI. PYTHONDONTWRITEBYTECODE is dropped from the children's environment, as real installs
have their bytecode compiled.

Run: /work/venv/bin/python bench/cli_startup.py [--runs 30] [--virt PATH] [--virsh PATH] [--baseline PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run; a failing command is an error."""
    t = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {err.strip()}")
    return wall, usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="timed runs of each command (default: %(default)s)")
    parser.add_argument("--virt", default=str(Path(sys.executable).parent / "virt"), help="the virt CLI")
    parser.add_argument("--virsh", default=shutil.which("virsh") or "/usr/bin/virsh", help="libvirt's virsh")
    parser.add_argument("--baseline", help="another virt (an older checkout's) measured alongside, interleaved")
    args = parser.parse_args(argv)
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "virt --version": [args.virt, "--version"],
        "virt list": [args.virt, "-c", "test:///default", "list"],
    }
    if args.baseline:
        commands["baseline --version"] = [args.baseline, "--version"]
        commands["baseline list"] = [args.baseline, "-c", "test:///default", "list"]
    if os.path.exists(args.virsh):
        commands["virsh list"] = [args.virsh, "-c", "test:///default", "list"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for cmd in commands.values():  # warm-up: page cache, bytecode written
        for _ in range(3):
            run_once(cmd, env)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, cmd in commands.items():
            samples[name].append(run_once(cmd, env))
    print(f"{'command':20} {'best ms':>8} {'median ms':>10} {'CPU ms':>8}")
    medians: dict[str, tuple[float, float]] = {}
    for name, runs in samples.items():
        walls = [w for w, _ in runs]
        cpus = [c for _, c in runs]
        medians[name] = (statistics.median(walls), statistics.median(cpus))
        print(f"{name:20} {min(walls) * 1e3:8.1f} {medians[name][0] * 1e3:10.1f} {medians[name][1] * 1e3:8.1f}")
    if "virsh list" in medians:
        (vw, vc), (lw, lc) = medians["virt list"], medians["virsh list"]
        print(f"virt list / virsh list: {vw / lw:.1f}x wall, {vc / max(lc, 1e-9):.1f}x CPU (medians)")


if __name__ == "__main__":
    main()
