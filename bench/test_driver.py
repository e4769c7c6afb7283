"""Benchmark of the in-process test driver against libvirt's test:///default (python3-libvirt), ratio printed.

Two workloads: ``dom.info()`` on the running domain "test", and define + dumpxml of a realistic
domain. Ours runs in this process; libvirt's runs in /usr/bin/python3 (where Debian's
python3-libvirt lives) in the same run, when it is installed.

Run: /work/venv/bin/python bench/test_driver.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import timeit
from typing import Any

LIBVIRT_PYTHON = "/usr/bin/python3"

#: A guest as virt-install would define it, on the test hypervisor.
DOMAIN_XML = """<domain type='test'>
  <name>bench</name>
  <uuid>5b4c5e4e-2d2a-4f6a-9a0e-3c2b1a0f9d81</uuid>
  <title>Benchmark guest</title>
  <description>A realistic guest definition for define + dumpxml timing</description>
  <memory unit='GiB'>4</memory>
  <currentMemory unit='GiB'>2</currentMemory>
  <vcpu placement='static' current='2'>4</vcpu>
  <os>
    <type arch='i686'>hvm</type>
    <boot dev='hd'/>
    <boot dev='cdrom'/>
  </os>
  <features>
    <acpi/>
    <apic/>
    <pae/>
  </features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/bench.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='/var/lib/libvirt/images/bench-data.img'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <source file='/var/lib/libvirt/images/install.iso'/>
      <target dev='hdc' bus='ide'/>
      <readonly/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:12:34:56'/>
      <source network='default'/>
      <model type='virtio'/>
    </interface>
    <interface type='bridge'>
      <mac address='52:54:00:12:34:57'/>
      <source bridge='br0'/>
      <model type='e1000'/>
    </interface>
    <serial type='pty'>
      <target port='0'/>
    </serial>
    <console type='pty'>
      <target type='serial' port='0'/>
    </console>
    <input type='tablet' bus='usb'/>
    <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>
    <video>
      <model type='vga' vram='16384' heads='1'/>
    </video>
    <memballoon model='virtio'/>
  </devices>
</domain>
"""

#: The two workloads, written once for both APIs: (name, setup code, statement), run with timeit.
WORKLOADS = {
    "dom.info()": {
        "ours": ("import virt.core; c = virt.core.open('test:///default'); d = c.lookup_domain('test')",
                 "d.info()"),
        "libvirt": ("import libvirt; c = libvirt.open('test:///default'); d = c.lookupByName('test')",
                    "d.info()"),
    },
    "define + dumpxml": {
        "ours": ("import virt.core; c = virt.core.open('test:///default')",
                 "c.define_domain(XML).xml_desc()"),
        "libvirt": ("import libvirt; c = libvirt.open('test:///default')",
                    "c.defineXML(XML).XMLDesc(0)"),
    },
}


def per_call(setup: str, stmt: str, budget: float, env: dict[str, Any]) -> float:
    """CPU seconds per call, best of 5 runs sized to take about ``budget`` seconds in total."""
    timer = timeit.Timer(stmt, setup, timer=time.process_time, globals=env)
    number, elapsed = 1, 0.0
    while elapsed < budget / 25:
        number *= 2
        elapsed = timer.timeit(number)
    return min(timer.repeat(repeat=5, number=number)) / number


def measure(side: str, budget: float) -> dict[str, float]:
    env = {"XML": DOMAIN_XML}
    return {name: per_call(*w[side], budget, env) for name, w in WORKLOADS.items()}


def measure_libvirt(budget: float) -> dict[str, float] | None:
    """The libvirt side, in the interpreter python3-libvirt is installed for; None without it."""
    code = (f"import json, sys; sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r}); "
            f"import test_driver as b; print(json.dumps(b.measure('libvirt', {budget})))")
    try:
        proc = subprocess.run([LIBVIRT_PYTHON, "-c", code], capture_output=True, text=True, timeout=600, check=False)
    except FileNotFoundError:
        return None
    if proc.returncode != 0:
        print(f"(libvirt side unavailable: {proc.stderr.strip().splitlines()[-1:]})", file=sys.stderr)
        return None
    return dict(json.loads(proc.stdout))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (less precise)")
    args = parser.parse_args(argv)
    budget = 0.3 if args.quick else 2.0
    ours = measure("ours", budget)
    theirs = measure_libvirt(budget)
    print(f"{'workload':20} {'virt calls/s':>14} {'libvirt calls/s':>16} {'virt/libvirt':>13}")
    for name, seconds in ours.items():
        if theirs is None:
            print(f"{name:20} {1 / seconds:14,.0f} {'-':>16} {'-':>13}")
        else:
            print(f"{name:20} {1 / seconds:14,.0f} {1 / theirs[name]:16,.0f} {theirs[name] / seconds:12.2f}x")


if __name__ == "__main__":
    main()
