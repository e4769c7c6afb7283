"""Micro-benchmark of the XDR codec: native (C via cffi) against the pure-Python twin, ratio printed.

For the 1 MiB payloads a "floor" column gives the cost of the work no codec can skip: one copy of
the payload into a new ``bytes`` (opaque data), one UTF-8 encode or decode (strings). Both engines
sit near it, which is why their ratio there is about 1x (see bench/README.md).

Run: /work/venv/bin/python bench/xdr_codec.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import time
import timeit
from collections.abc import Callable
from functools import partial
from typing import Any

from virt.util import xdr

MiB = 1024 * 1024

# The same shapes as libvirt's remote protocol (remote_domain_get_info_ret, remote_nonnull_domain, ...).
DomainInfo = xdr.struct(
    "remote_domain_get_info_ret",
    [("state", xdr.uchar), ("maxMem", xdr.uhyper), ("memory", xdr.uhyper), ("nrVirtCpu", xdr.ushort),
     ("cpuTime", xdr.uhyper)],
)  # fmt: skip
Domain = xdr.struct(
    "remote_nonnull_domain", [("name", xdr.string(4 * MiB)), ("uuid", xdr.opaque(16)), ("id", xdr.int_)]
)
ListAll = xdr.struct("remote_connect_list_all_domains_ret", [("domains", xdr.var_array(Domain, 16384)), ("ret", xdr.uint)])
XmlDesc = xdr.struct("remote_domain_get_xml_desc_ret", [("xml", xdr.string(4 * MiB))])
StreamData = xdr.var_opaque(32 * MiB)

CASES: list[tuple[str, xdr.XdrType, Any]] = [
    ("domain info reply", DomainInfo, DomainInfo(1, 8 * MiB, 4 * MiB, 4, 123456789)),
    (
        "list all domains, 100",
        ListAll,
        ListAll([Domain(f"guest-{i}", bytes(range(16)), i) for i in range(100)], 100),
    ),
    ("xml string, 1 MiB", XmlDesc, XmlDesc("<domain>" + "x" * (MiB - 17) + "</domain>")),
    ("stream data, 1 MiB", StreamData, os.urandom(MiB)),
]


def per_call(fn: Callable[[], Any], budget: float) -> float:
    """CPU seconds per call, best of 7 runs sized to take about *budget* seconds in total.

    CPU time rather than wall time: the numbers stay stable on a host shared with other work.
    """
    number, elapsed = 1, 0.0
    while elapsed < budget / 35:
        number *= 2
        elapsed = timeit.timeit(fn, number=number, timer=time.process_time)
    return min(timeit.repeat(fn, number=number, repeat=7, timer=time.process_time)) / number


def floor(value: Any, data: bytes) -> tuple[Callable[[], Any], Callable[[], Any]] | None:
    """(encode floor, decode floor) of a large payload: what producing the result costs at the least."""
    if isinstance(value, bytes):
        return partial(bytes, memoryview(value)), partial(bytes, memoryview(data)[4 : 4 + len(value)])
    text = getattr(value, "xml", None)
    if isinstance(text, str):
        size = len(text.encode())
        return partial(text.encode, "utf-8", "surrogateescape"), partial(
            str, memoryview(data)[4 : 4 + size], "utf-8", "surrogateescape")
    return None


def human(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return f"{seconds / scale:7.2f} {unit}"
    return f"{seconds * 1e9:7.2f} ns"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (less precise)")
    args = parser.parse_args()
    if not xdr.NATIVE:
        raise SystemExit("the native engine is not available (build virt-util with a C compiler)")
    budget = 0.2 if args.quick else 1.0
    print(f"{'case':26} {'op':7} {'native':>11} {'pure':>11} {'ratio':>8} {'floor':>11} {'native/floor':>13}")
    for name, t, value in CASES:
        c, p = t.codec(native=True), t.codec(native=False)
        data = c.encode(value)
        assert data == p.encode(value) and c.decode(data) == p.decode(data)
        floors = floor(value, data)
        for i, (op, fc, fp) in enumerate((
            ("encode", partial(c.encode, value), partial(p.encode, value)),
            ("decode", partial(c.decode, data), partial(p.decode, data)),
        )):  # fmt: skip
            tn, tp = per_call(fc, budget), per_call(fp, budget)
            line = f"{name:26} {op:7} {human(tn):>11} {human(tp):>11} {tp / tn:7.1f}x"
            if floors is not None:
                tf = per_call(floors[i], budget)
                line += f" {human(tf):>11} {tn / tf:12.2f}x"
            print(line)


if __name__ == "__main__":
    main()
