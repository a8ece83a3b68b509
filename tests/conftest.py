"""Shared fixtures: the tiny-account builder (tests/accounts.py) and one small demo store."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).parent))

from stores import AS_OF, NOW, NOW_ISO, StoreInfo

# CI explores the same examples on every run (a red CI blocks landing, so it must be
# reproducible); local runs keep drawing new ones, which is where new edge cases are found.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def test_store(tmp_path_factory: pytest.TempPathFactory) -> StoreInfo:
    """A 2,000-deal demo account (deterministic), built once per session."""
    from deskkit.connectors.demo import generate

    path = tmp_path_factory.mktemp("store") / "desk-test.duckdb"
    generate(path, deals=2000, seed=1, as_of=AS_OF, progress=False)
    return StoreInfo(path, NOW, NOW_ISO)


@pytest.fixture(scope="session")
def desk(test_store: StoreInfo):
    """A Desk on the test store at the fixed "now"."""
    import deskkit

    return deskkit.open(test_store.path, now=test_store.now)
