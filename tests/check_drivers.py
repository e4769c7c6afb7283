"""Used by the isolated-install nox session: the installed drivers are exactly the expected ones."""

import argparse
import sys

from virt.core.registry import get_registry


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--expect", required=True, help="comma-separated driver names")
    want = set(ap.parse_args().expect.split(","))
    got = {name for name, info in get_registry().drivers.items()}
    if got != want:
        print(f"installed drivers {sorted(got)}, expected {sorted(want)}", file=sys.stderr)
        return 1
    if "example" in got:  # the template must really work, not just register
        import virt.core

        with virt.core.open("example:///") as conn:
            dom = conn.define_domain("<domain type='example'><name>t1</name><memory>1024</memory><os><type>hvm</type></os></domain>")
            dom.create()
            assert dom.state()[0] == 1, dom.state()
            dom.destroy(0)
    print("drivers:", ", ".join(sorted(got)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
