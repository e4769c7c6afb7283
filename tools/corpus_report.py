#!/usr/bin/env python3
"""Score every corpus suite with ../shared/tools/corpus_score.py and print a Markdown table of pass counts.

Usage: tools/corpus_report.py [--corpus DIR] [--virt PATH] [SUITE ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITES = ["generic_domain", "network", "storage_pool", "storage_vol", "secret", "nwfilter", "nodedev", "interface",
          "snapshot", "checkpoint", "qemu_caps", "qemu_xml", "qemu_argv", "network_dnsmasq", "lxc_native",
          "vmx2xml", "xml2vmx"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    ap.add_argument("--virt", default=shutil.which("virt") or "virt", help="the virt command to score")
    ap.add_argument("suites", nargs="*", default=SUITES)
    args = ap.parse_args()
    scorer = Path(args.corpus).parent / "tools" / "corpus_score.py"
    print("| suite | passed | cases |\n|---|---|---|")
    for suite in args.suites:
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            proc = subprocess.run([sys.executable, str(scorer), "score", suite, "--corpus", args.corpus,
                                   "--json", out.name, "--jobs", "2"],
                                  capture_output=True, text=True,
                                  env={**__import__("os").environ,
                                       "PATH": f"{Path(args.virt).parent}:{__import__('os').environ['PATH']}"})
            try:
                data = json.loads(Path(out.name).read_text() or "{}")
            except json.JSONDecodeError:
                data = {}
        passed, total = data.get("passed", 0), data.get("passed", 0) + data.get("failed", 0)
        if not total:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["no output"]
            print(f"| {suite} | ? | ? ({tail[0][:60]}) |")
        else:
            print(f"| {suite} | {passed} | {total} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
