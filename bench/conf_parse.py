"""Parse + normalize + format per second of three corpus domains, against libvirt's defineXML + XMLDesc.

The domains are a small, a medium and a large one from libvirt's own test data
(../shared/corpus). Ours is ``virt.conf.normalize`` (parse, generic post-parse defaults, format),
in this process; libvirt's is ``defineXML`` + ``XMLDesc`` on ``test:///default`` through
python3-libvirt, in /usr/bin/python3 (where Debian installs it), in the same run. Both get the same
text, with the domain type set to 'test' so that libvirt's test driver accepts it. Times are CPU
time, best of 5 runs; the two sides are measured in turn for ``--rounds`` rounds and each keeps its
best, so that load from other processes on the machine weighs on both alike.

With ``--instructions`` it counts instead the CPU instructions per document of each side under
valgrind (callgrind): the difference between a run of 10 and a run of 60 calls, divided by 50, so that
start-up and warm-up cancel out. Instruction counts do not depend on the load of the machine, and
are what to compare changes with; the rates are what the goal is stated in.

Run: /work/venv/bin/python bench/conf_parse.py [--quick] [--rounds N] [--corpus DIR] [--instructions]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import timeit
from pathlib import Path

LIBVIRT_PYTHON = "/usr/bin/python3"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"

#: (label, path under the corpus): about 0.5 KB, 2 KB and 6 KB of XML.
DOMAINS = [
    ("small", "generic_domain/genericxml2xmlindata/cpu-cache-disable.xml"),
    ("medium", "generic_domain/genericxml2xmlindata/disk-network-http.xml"),
    ("large", "qemu_xml/qemuxml2argvdata/user-aliases.xml"),
]

#: The statement timed on each side; XML is the document.
WORKLOADS = {
    "ours": ("import virt.conf", "virt.conf.normalize(XML)"),
    "libvirt": ("import libvirt; c = libvirt.open('test:///default')", "c.defineXML(XML).XMLDesc(0)"),
}


def load(corpus: Path, rel: str) -> str:
    xml = (corpus / rel).read_text()
    return re.sub(r"<domain type='[^']*'", "<domain type='test'", xml, count=1)


def per_call(setup: str, stmt: str, xml: str, budget: float) -> float:
    """CPU seconds per call, best of 5 runs sized to take about ``budget`` seconds in total."""
    timer = timeit.Timer(stmt, setup, timer=time.process_time, globals={"XML": xml})
    number, elapsed = 1, 0.0
    while elapsed < budget / 25:
        number *= 2
        elapsed = timer.timeit(number)
    return min(timer.repeat(repeat=5, number=number)) / number


def measure(side: str, corpus: str, budget: float) -> dict[str, float]:
    setup, stmt = WORKLOADS[side]
    return {label: per_call(setup, stmt, load(Path(corpus), rel), budget) for label, rel in DOMAINS}


def measure_libvirt(corpus: Path, budget: float) -> dict[str, float] | None:
    """The libvirt side, in the interpreter python3-libvirt is installed for; None without it."""
    code = (f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"import conf_parse as b; print(json.dumps(b.measure('libvirt', {str(corpus)!r}, {budget})))")
    try:
        proc = subprocess.run([LIBVIRT_PYTHON, "-c", code], capture_output=True, text=True, timeout=600, check=False)
    except FileNotFoundError:
        return None
    if proc.returncode != 0:
        print(f"(libvirt side unavailable: {proc.stderr.strip().splitlines()[-1:]})", file=sys.stderr)
        return None
    return dict(json.loads(proc.stdout))


def run_calls(side: str, corpus: str, rel: str, calls: int) -> None:
    """The workload of one side on one document: 20 warm-up calls, then ``calls`` more."""
    setup, stmt = WORKLOADS[side]
    ns: dict[str, object] = {"XML": load(Path(corpus), rel)}
    exec(setup, ns)  # (the fixed statements of WORKLOADS)
    code = compile(stmt, "<workload>", "eval")
    for _ in range(20 + calls):
        eval(code, ns)


def instructions(side: str, corpus: Path, rel: str, short: int = 10, long: int = 60) -> float | None:
    """Instructions per call of one side's workload, from two callgrind runs; None without valgrind."""
    python = sys.executable if side == "ours" else LIBVIRT_PYTHON
    counts = []
    for calls in (short, long):
        code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import conf_parse as b; "
                f"b.run_calls({side!r}, {str(corpus)!r}, {rel!r}, {calls})")
        proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", python, "-c", code],
                              capture_output=True, text=True, timeout=1800, check=False,
                              env={**os.environ, "PYTHONHASHSEED": "0"})  # (same dict layouts in both runs)
        found = re.search(r"Collected : (\d+)", proc.stderr)
        if proc.returncode != 0 or found is None:
            print(f"({side}: callgrind failed: {proc.stderr.strip().splitlines()[-1:]})", file=sys.stderr)
            return None
        counts.append(int(found.group(1)))
    return (counts[1] - counts[0]) / (long - short)


def main_instructions(corpus: Path) -> None:
    if shutil.which("valgrind") is None:
        sys.exit("--instructions needs valgrind")
    print(f"{'domain':8} {'bytes':>6} {'virt instr/doc':>15} {'libvirt instr/doc':>18} {'virt/libvirt':>13}")
    for label, rel in DOMAINS:
        size = len(load(corpus, rel))
        mine = instructions("ours", corpus, rel)
        theirs = instructions("libvirt", corpus, rel)
        ratio = f"{mine / theirs:12.2f}x" if mine and theirs else f"{'-':>13}"
        print(f"{label:8} {size:6} {mine or 0:15,.0f} {theirs or 0:18,.0f} {ratio}")


def best(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    """The shorter time per document of two measurements."""
    return {label: min(a.get(label, t), t) for label, t in b.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (less precise)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both sides, best kept (default: %(default)s)")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="libvirt's test data (default: %(default)s)")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions per document under valgrind instead of measuring rates")
    args = parser.parse_args(argv)
    if args.instructions:
        main_instructions(args.corpus)
        return
    budget = 0.3 if args.quick else 2.0
    ours: dict[str, float] = {}
    theirs: dict[str, float] | None = {}
    for _ in range(args.rounds):
        ours = best(ours, measure("ours", str(args.corpus), budget))
        if theirs is not None:
            again = measure_libvirt(args.corpus, budget)
            theirs = None if again is None else best(theirs, again)
    print(f"{'domain':8} {'bytes':>6} {'virt docs/s':>12} {'libvirt docs/s':>15} {'virt/libvirt':>13}")
    for label, rel in DOMAINS:
        size = len(load(args.corpus, rel))
        mine = 1 / ours[label]
        if theirs is None:
            print(f"{label:8} {size:6} {mine:12,.0f} {'-':>15} {'-':>13}")
        else:
            print(f"{label:8} {size:6} {mine:12,.0f} {1 / theirs[label]:15,.0f} {theirs[label] / ours[label]:12.2f}x")


if __name__ == "__main__":
    main()
