"""`python -m virt.conf normalize|validate FILE`: the XML commands without the rest of virt."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from virt.util.errors import VirtError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m virt.conf")
    ap.add_argument("action", choices=("normalize", "validate"))
    ap.add_argument("file")
    ap.add_argument("--pool", help="pool XML a volume is normalized against")
    ap.add_argument("--flags", default="", help="parse flags, '|'-separated (e.g. REDEFINE, NO_CAPACITY)")
    ap.add_argument("--inactive", action="store_true",
                    help="inactive parse and format (drop live-only data such as a domain's id and aliases)")
    ap.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                    help="extra parse option (e.g. creation_time=1525889631); empty values are ignored")
    args = ap.parse_args(argv)
    from virt.conf import normalize, validate

    try:
        xml = Path(args.file).read_bytes()
        options: dict[str, Any] = {"pool_xml": Path(args.pool).read_bytes()} if args.pool else {}
        if args.flags:
            options["flags"] = args.flags
        for item in args.option:
            key, _, value = item.partition("=")
            if key and value:
                options[key] = value
        if args.action == "normalize":
            sys.stdout.write(normalize(xml, inactive=args.inactive, **options))
        else:
            validate(xml, inactive=args.inactive, **options)
    except VirtError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
