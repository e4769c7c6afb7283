"""QEMU guest start-to-running and destroy latency: virt's qemu driver against raw QEMU and libvirt.

Three ways to run the same guest (64 MiB, one vCPU, no disk; KVM when /dev/kvm works, else TCG):

- raw QEMU: the command line virt's driver would run (built once, outside the timing), spawned
  directly with its monitor socket, QMP handshake, ``cont``; stopped with SIGTERM and a wait. The
  floor: what any driver has to do.
- virt: ``create_domain`` (a transient guest: definition, defaults, command line, private directory,
  cgroup, spawn, QMP, cont, status file) and ``destroy`` on ``qemu:///embed?root=<tmp>``.
- libvirt: ``createXML`` and ``destroy`` through libvirtd and its qemu driver, started by this bench
  in a private mount namespace (tmpfs over /run, /var/lib, /var/cache, /var/log; its own
  /etc/libvirt), reached with python3-libvirt over the daemon's socket. Skipped when libvirtd,
  python3-libvirt or root is missing.

All three keep their files on a tmpfs. Each is measured one guest at a time (rounds alternate between the three), then with 10 guests
started together and destroyed together (wall time of the whole batch). Printed: best and median
milliseconds, and the ratios to raw QEMU and to libvirt. The goal is virt within 2x of raw QEMU.

Run as root: /work/venv/bin/python bench/qemu_start.py [--rounds 10] [--batch 10] [--no-libvirt] [--tcg]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

GUEST = """<domain type='{virt_type}'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices/>
</domain>"""

#: What the libvirt side runs, in /usr/bin/python3 (where Debian installs python3-libvirt).
LIBVIRT_CLIENT = r"""
import json, sys, threading, time, libvirt
libvirt.registerErrorHandler(lambda *a: None, None)
uri, xmls, rounds, batch = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
conn = libvirt.open(uri)
out = {"start": [], "destroy": [], "batch_start": [], "batch_destroy": []}
def one(xml):
    t = time.perf_counter(); dom = conn.createXML(xml, 0); s = time.perf_counter() - t
    t = time.perf_counter(); dom.destroy(); return s, time.perf_counter() - t
one(xmls[0])  # warm-up
cmd = sys.stdin.readline
while True:
    line = cmd().strip()
    if not line or line == "quit":
        break
    if line == "one":
        s, d = one(xmls[0]); out["start"].append(s); out["destroy"].append(d)
    elif line == "batch":
        doms = [None] * batch
        def start(i): doms[i] = conn.createXML(xmls[i], 0)
        threads = [threading.Thread(target=start, args=(i,)) for i in range(batch)]
        t = time.perf_counter(); [x.start() for x in threads]; [x.join() for x in threads]
        out["batch_start"].append(time.perf_counter() - t)
        threads = [threading.Thread(target=d.destroy) for d in doms]
        t = time.perf_counter(); [x.start() for x in threads]; [x.join() for x in threads]
        out["batch_destroy"].append(time.perf_counter() - t)
    print("ok", flush=True)
print(json.dumps(out), flush=True)
"""


def guest_xml(name: str, virt_type: str) -> str:
    return GUEST.format(name=name, uuid=uuid.uuid4(), virt_type=virt_type)


# ----------------------------------------------------------------------------------------- raw QEMU
class RawQemu:
    """The driver's command line for a guest, run by hand: spawn, QMP handshake, cont; SIGTERM to stop."""

    def __init__(self, workdir: Path, xml: str) -> None:
        from virt.driver.qemu.caps import load_caps
        from virt.driver.qemu.command import build
        from virt.driver.qemu.prepare import prepare
        from virt.driver.qemu.qemuconf import QemuConfig

        self.workdir = workdir
        self.private = workdir / "domain-1-raw"
        self.private.mkdir(parents=True)
        (self.private / "master-key.aes").write_bytes(os.urandom(32))
        cfg = QemuConfig(libDir=str(workdir))
        cmd = build(prepare(xml, load_caps(), cfg, for_start=True, id=1), str(self.private))
        self.argv, self.env = cmd.argv, cmd.env

    def start(self, index: int = 0) -> tuple[subprocess.Popen[bytes], Any]:
        from virt.driver.qemu import process as P
        from virt.driver.qemu.qmp import QMPClient

        path = self.private / f"monitor{index}.sock"
        listener = P.unix_listen(path)
        client = P.unix_connect(path)
        argv = P.with_fds(self.argv, {"monitor": [listener.fileno()]})
        try:
            proc = subprocess.Popen(argv, env=self.env, pass_fds=[listener.fileno()], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        finally:
            listener.close()
        mon = QMPClient.from_socket(client, timeout=60)
        mon.execute("cont")
        return proc, mon

    @staticmethod
    def stop(proc: subprocess.Popen[bytes], mon: Any) -> None:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait()
        mon.close()


# ----------------------------------------------------------------------------------------- libvirtd
class Libvirtd:
    """libvirtd with its qemu driver in a private mount namespace, so it touches nothing of the host's."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir / "libvirtd"
        etc = self.dir / "etc"
        etc.mkdir(parents=True)
        # QEMU as root (the test guests need nothing else), its output to files rather than virtlogd,
        # no AppArmor/SELinux driver: the same job as virt's driver does here.
        (etc / "qemu.conf").write_text('user = "root"\ngroup = "root"\nstdio_handler = "file"\n'
                                       'security_driver = "none"\n')
        (etc / "libvirtd.conf").write_text("")
        passwd, group = Path("/etc/passwd").read_text(), Path("/etc/group").read_text()
        # libvirt's qemu driver insists that its built-in user and group exist, even when told to use root.
        if "\nlibvirt-qemu:" not in "\n" + passwd:
            passwd += "libvirt-qemu:x:64055:64055:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin\n"
        for name, gid in (("libvirt-qemu", 64055), ("kvm", 64056), ("libvirt", 64057)):
            if f"\n{name}:" not in "\n" + group:
                group += f"{name}:x:{gid}:\n"
        (self.dir / "passwd").write_text(passwd)
        (self.dir / "group").write_text(group)
        mounts = " && ".join([*(f"mount -t tmpfs tmpfs {d}" for d in ("/run", "/var/lib", "/var/cache", "/var/log")),
                              f"mount --bind {etc} /etc/libvirt", f"mount --bind {self.dir / 'passwd'} /etc/passwd",
                              f"mount --bind {self.dir / 'group'} /etc/group"])
        self.log = open(self.dir / "libvirtd.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                                      f"{mounts} && exec libvirtd"], stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.socket = f"/proc/{self.proc.pid}/root/run/libvirt/libvirt-sock"
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(self.socket)
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"libvirtd did not start: {(self.dir / 'libvirtd.log').read_text()[-2000:]}") from None
                time.sleep(0.05)
        self.uri = f"qemu:///system?socket={self.socket}"

    def stop(self) -> None:
        # libvirtd leaves its guests running when it exits: the client destroyed them all; QEMU
        # processes still in its namespace are killed by pid.
        qemus = [int(p) for p in Path("/proc").iterdir() if p.name.isdigit() and _parent(int(p.name)) == self.proc.pid]
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in qemus:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.log.close()


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1
    return int(stat[stat.rfind(")") + 2:].split()[1])


# ----------------------------------------------------------------------------------------- measuring
def batch(starts: list[Any], stops: list[Any]) -> tuple[float, float]:
    """Wall time to run ``starts`` together, then ``stops`` together (each a callable)."""
    results: list[Any] = [None] * len(starts)

    def run(i: int) -> None:
        results[i] = starts[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(starts))]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    start = time.perf_counter() - t
    threads = [threading.Thread(target=stops[i], args=(results[i],)) for i in range(len(stops))]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return start, time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--batch", type=int, default=10, help="guests started together")
    ap.add_argument("--batch-rounds", type=int, default=3)
    ap.add_argument("--no-libvirt", action="store_true")
    ap.add_argument("--tcg", action="store_true", help="TCG even where KVM works")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (cgroups, and libvirtd in a mount namespace)")
    from virt.core.connection import Connection
    from virt.driver.qemu.definition import kvm_works
    from virt.driver.qemu.host import shutdown_hosts

    virt_type = "kvm" if kvm_works() and not args.tcg else "qemu"
    # All three keep their files on a tmpfs (libvirtd's /run and /var/lib are tmpfs in its namespace).
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    work = Path(tempfile.mkdtemp(prefix="virt-qemu-bench-", dir=shm))
    results: dict[str, dict[str, list[float]]] = {k: {"start": [], "destroy": [], "batch_start": [],
                                                      "batch_destroy": []} for k in ("raw", "virt", "libvirt")}
    daemon: Libvirtd | None = None
    client: subprocess.Popen[str] | None = None
    conn = None
    try:
        raw = RawQemu(work / "raw", guest_xml("raw", virt_type))
        conn = Connection(f"qemu:///embed?root={work / 'virt'}")
        xml = guest_xml("bench", virt_type)
        batch_xmls = [guest_xml(f"bench{i}", virt_type) for i in range(args.batch)]
        want_libvirt = not args.no_libvirt and shutil.which("libvirtd") and Path("/usr/bin/python3").exists()
        if want_libvirt:
            check = subprocess.run(["/usr/bin/python3", "-c", "import libvirt"], capture_output=True)
            if check.returncode == 0:
                try:
                    daemon = Libvirtd(work)
                except RuntimeError as err:
                    print(f"libvirt skipped: {err}", file=sys.stderr)
                if daemon is not None:
                    client = subprocess.Popen(["/usr/bin/python3", "-c", LIBVIRT_CLIENT, daemon.uri,
                                               json.dumps([xml.replace("bench", "lv", 1)] +
                                                          [x.replace("bench", "lv", 1) for x in batch_xmls[1:]]),
                                               str(args.rounds), str(args.batch)],
                                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            else:
                print("libvirt skipped: python3-libvirt is not installed for /usr/bin/python3", file=sys.stderr)

        def libvirt(command: str) -> None:
            if client is not None:
                assert client.stdin is not None and client.stdout is not None
                client.stdin.write(command + "\n")
                client.stdin.flush()
                if client.stdout.readline().strip() != "ok":
                    raise RuntimeError("libvirt client failed")

        # warm-up: imports, capabilities, first cgroups
        RawQemu.stop(*raw.start())
        conn.create_domain(xml).destroy()
        for _ in range(args.rounds):
            t = time.perf_counter()
            proc, mon = raw.start()
            results["raw"]["start"].append(time.perf_counter() - t)
            t = time.perf_counter()
            RawQemu.stop(proc, mon)
            results["raw"]["destroy"].append(time.perf_counter() - t)
            t = time.perf_counter()
            dom = conn.create_domain(xml)
            results["virt"]["start"].append(time.perf_counter() - t)
            t = time.perf_counter()
            dom.destroy()
            results["virt"]["destroy"].append(time.perf_counter() - t)
            libvirt("one")
        for _ in range(args.batch_rounds):
            s, d = batch([lambda i=i: raw.start(i) for i in range(args.batch)],
                         [lambda pm: RawQemu.stop(*pm)] * args.batch)
            results["raw"]["batch_start"].append(s)
            results["raw"]["batch_destroy"].append(d)
            s, d = batch([lambda x=x: conn.create_domain(x) for x in batch_xmls],
                         [lambda dom: dom.destroy()] * args.batch)
            results["virt"]["batch_start"].append(s)
            results["virt"]["batch_destroy"].append(d)
            libvirt("batch")
        if client is not None:
            assert client.stdin is not None and client.stdout is not None
            client.stdin.write("quit\n")
            client.stdin.flush()
            results["libvirt"] = json.loads(client.stdout.readline())
            client.wait(30)
    finally:
        if client is not None and client.poll() is None:
            client.kill()
            client.wait()
        if conn is not None:
            for d in conn.list_all_domains(1):
                d.destroy()
            conn.close()
        shutdown_hosts(work / "virt")
        if daemon is not None:
            daemon.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(f"guest: {virt_type}, 64 MiB, 1 vCPU; {args.rounds} rounds one at a time, "
          f"{args.batch_rounds} rounds of {args.batch} together")
    print(f"{'':24}{'raw QEMU':>18}{'virt':>18}{'libvirt':>18}{'virt/raw':>10}{'virt/libvirt':>14}")
    for key, label in (("start", "start-to-running"), ("destroy", "destroy"),
                       ("batch_start", f"{args.batch} started together"), ("batch_destroy", f"{args.batch} destroyed together")):
        cells, best = [], {}
        for who in ("raw", "virt", "libvirt"):
            values = results[who][key]
            if values:
                best[who] = min(values)
                cells.append(f"{min(values) * 1000:8.1f} /{statistics.median(values) * 1000:7.1f}")
            else:
                cells.append(f"{'-':>17}")
        ratio_raw = f"{best['virt'] / best['raw']:10.2f}" if "raw" in best and "virt" in best else f"{'-':>10}"
        ratio_lv = f"{best['virt'] / best['libvirt']:14.2f}" if "libvirt" in best else f"{'-':>14}"
        print(f"{label:24}{cells[0]:>18}{cells[1]:>18}{cells[2]:>18}{ratio_raw}{ratio_lv}")
    print("(milliseconds: best / median; ratios of the best times)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
