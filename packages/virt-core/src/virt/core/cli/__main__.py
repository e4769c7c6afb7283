"""`python -m virt.core.cli`: the same as the `virt` command."""

import sys

from virt.core.cli.main import main

sys.exit(main())
