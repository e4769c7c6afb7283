"""Fixtures for real containers: an LxcEnv per test, and the check that nothing is left behind."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from virt.util.cgroup import Layout, groups_of

sys.path.insert(0, str(Path(__file__).parent))  # the helpers beside this file
from lxc_env import LxcEnv


@pytest.fixture
def env() -> Iterator[LxcEnv]:
    if os.geteuid() != 0:
        pytest.skip("containers need root")
    e = LxcEnv()
    yield e
    e.cleanup()
    leftover = set(groups_of(Layout.detect(), driver="lxc")) & e.names
    assert not leftover, f"cgroups left behind: {leftover}"
