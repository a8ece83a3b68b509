"""Shared fixtures: the tiny-account builder (tests/accounts.py) and one small demo store."""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

#: The moment the UI, notebook and browser tests look at the demo store (DESKKIT_NOW in Voilà).
AS_OF = dt.date(2026, 11, 27)
NOW = dt.datetime(2026, 11, 27, 15, 0, tzinfo=dt.UTC)
NOW_ISO = "2026-11-27T15:00:00+00:00"


@dataclass(frozen=True)
class StoreInfo:
    """Where the test store is, and the fixed "now" to look at it."""

    path: Path
    now: dt.datetime
    now_iso: str


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
