"""Calls per second over a unix socket: our client -> virtd, libvirt-python -> virtd, libvirt-python -> libvirtd.

Starts a virtd and (as root, with libvirt-daemon installed) a libvirtd in session mode as ``nobody``,
both on private sockets serving test:///default, then runs each workload from a fresh client
process several times, interleaved, and keeps the best rate of each (the host may be shared).

Run: /work/venv/bin/python bench/remote_calls.py [--seconds 1] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIBVIRT_PYTHON = "/usr/bin/python3"
LIBVIRTD = "/usr/sbin/libvirtd"

# One client process: ``worker.py IMPL URI WORKLOAD SECONDS`` prints calls per second.
WORKER = r'''
import sys, time
impl, uri, workload, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
XML = """<domain type='test'><name>bench-vm</name><uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid><memory>1048576</memory><vcpu>1</vcpu>
<os><type>hvm</type></os></domain>"""
if impl == "ours":
    import virt.core as v
    conn = v.open(uri)
    dom = conn.lookup_domain_by_name("test")
    ops = {
        "dom.info": lambda: dom.info(),
        "lookupByName+info": lambda: conn.lookup_domain_by_name("test").info(),
        "listAllDomains": lambda: conn.list_all_domains(),
        "defineXML+XMLDesc": lambda: conn.define_domain(XML).xml_desc(),
    }
else:
    import libvirt
    conn = libvirt.open(uri)
    dom = conn.lookupByName("test")
    ops = {
        "dom.info": lambda: dom.info(),
        "lookupByName+info": lambda: conn.lookupByName("test").info(),
        "listAllDomains": lambda: conn.listAllDomains(),
        "defineXML+XMLDesc": lambda: conn.defineXML(XML).XMLDesc(),
    }
op = ops[workload]
for _ in range(200):
    op()
calls, start, cpu = 0, time.perf_counter(), time.process_time()
while (elapsed := time.perf_counter() - start) < seconds:
    for _ in range(100):
        op()
    calls += 100
print(calls / elapsed, (time.process_time() - cpu) / calls * 1e6, calls + 200)
if workload == "defineXML+XMLDesc":
    (conn.lookup_domain_by_name("bench-vm").undefine() if impl == "ours" else conn.lookupByName("bench-vm").undefine())
conn.close()
'''

WORKLOADS = ["dom.info", "lookupByName+info", "listAllDomains", "defineXML+XMLDesc"]


def wait_for(path: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"daemon did not start: {proc.args}")
        time.sleep(0.05)


def start_virtd(tmp: Path) -> tuple[str, subprocess.Popen[bytes], int]:
    sock = tmp / "virtd-sock"
    proc = subprocess.Popen([sys.executable, "-m", "virt.core.remote.daemon", "--socket", str(sock)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    wait_for(sock, proc)
    return f"test+unix:///default?socket={sock}", proc, proc.pid


def start_libvirtd(tmp: Path) -> tuple[str, subprocess.Popen[bytes], int] | None:
    if os.geteuid() != 0 or not Path(LIBVIRTD).exists() or shutil.which("runuser") is None:
        return None
    base = tmp / "libvirtd"
    home = base / "home"
    home.mkdir(parents=True)
    conf = base / "libvirtd.conf"
    conf.write_text(f'unix_sock_dir = "{base}"\nauth_unix_rw = "none"\nunix_sock_rw_perms = "0777"\n')
    for path in (tmp, base, home):
        shutil.chown(path, "nobody")
        path.chmod(0o755)
    env = [f"{k}={home}" for k in ("HOME", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")]
    pidfile = base / "pid"
    proc = subprocess.Popen(["runuser", "-u", "nobody", "--", "env", *env, LIBVIRTD, "-f", str(conf), "-p",
                             str(pidfile)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    wait_for(base / "libvirt-sock", proc)
    wait_for(pidfile, proc)
    return f"test+unix:///default?socket={base / 'libvirt-sock'}", proc, int(pidfile.read_text())


def stop(proc: subprocess.Popen[bytes], pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.kill(pid, signal.SIGKILL)
        proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(python: str, worker: Path, impl: str, uri: str, workload: str, seconds: float,
            server_pid: int) -> tuple[float, float, float]:  # fmt: skip
    """(calls/s, client CPU us per call, server CPU us per call) of one run."""
    before = cpu_seconds(server_pid)
    out = subprocess.run([python, str(worker), impl, uri, workload, str(seconds)], capture_output=True,
                         text=True, timeout=120, check=False)  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"{impl} {workload} against {uri} failed:\n{out.stderr}")
    rate, client_cpu, calls = (float(x) for x in out.stdout.split())
    return rate, client_cpu, (cpu_seconds(server_pid) - before) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="length of each timed run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each combination (best kept)")
    args = parser.parse_args()
    have_lvpy = Path(LIBVIRT_PYTHON).exists() and subprocess.run(
        [LIBVIRT_PYTHON, "-c", "import libvirt"], capture_output=True, check=False).returncode == 0
    with tempfile.TemporaryDirectory(prefix="bench-remote-") as tmpdir:
        tmp = Path(tmpdir)
        tmp.chmod(0o755)
        worker = tmp / "worker.py"
        worker.write_text(WORKER)
        worker.chmod(0o644)
        virtd = start_virtd(tmp)
        libvirtd = start_libvirtd(tmp) if have_lvpy else None
        try:
            combos = [("ours -> virtd", sys.executable, "ours", virtd)]
            if have_lvpy:
                combos.append(("libvirt-python -> virtd", LIBVIRT_PYTHON, "lvpy", virtd))
            if libvirtd:
                combos.append(("libvirt-python -> libvirtd", LIBVIRT_PYTHON, "lvpy", libvirtd))
                combos.append(("ours -> libvirtd", sys.executable, "ours", libvirtd))
            best: dict[tuple[str, str], tuple[float, float, float]] = {}
            for _ in range(args.rounds):
                for workload in WORKLOADS:
                    for label, python, impl, daemon in combos:
                        run = measure(python, worker, impl, daemon[0], workload, args.seconds, daemon[2])
                        key = (workload, label)
                        old = best.get(key, (0.0, float("inf"), float("inf")))
                        best[key] = (max(old[0], run[0]), min(old[1], run[1]), min(old[2], run[2]))
        finally:
            stop(virtd[1], virtd[2])
            if libvirtd:
                stop(libvirtd[1], libvirtd[2])
    labels = [c[0] for c in combos]
    print(f"Calls per second, best of {args.rounds} runs of {args.seconds:g}s; in brackets the CPU time per call")
    print("of the client and of the daemon (us): steadier than rates when the host is shared.\n")
    print(f"{'':20}" + "".join(f"{label:>31}" for label in labels))
    for workload in WORKLOADS:
        cells = []
        for label in labels:
            rate, client_cpu, server_cpu = best[(workload, label)]
            cells.append(f"{rate:8.0f} [{client_cpu:5.0f} +{server_cpu:5.0f}]")
        print(f"{workload:20}" + "".join(f"{c:>31}" for c in cells))
    if libvirtd:
        print("\nours -> virtd relative to libvirt-python -> libvirtd (rate; total CPU per call):")
        for workload in WORKLOADS:
            ours, theirs = best[(workload, labels[0])], best[(workload, "libvirt-python -> libvirtd")]
            print(f"  {workload:20} {ours[0] / theirs[0]:5.2f}x rate   "
                  f"{(theirs[1] + theirs[2]) / (ours[1] + ours[2]):5.2f}x less CPU")  # fmt: skip


if __name__ == "__main__":
    main()
