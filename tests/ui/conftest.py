"""A small DuckDB store shared by the UI, notebook and browser tests.

The demo generator (``deskkit.connectors.demo.generate``) makes the most realistic account; while
it is not available, a seeded hand-built account (tests/accounts.py) stands in. Either way the
store has deals in two pipelines and moves spread over the year, so that switching the period or
the pipeline really changes the numbers.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path

import pytest

#: The moment every test looks at the account (also passed to Voilà as DESKKIT_NOW).
AS_OF = dt.date(2026, 11, 27)
NOW = dt.datetime(2026, 11, 27, 15, 0, tzinfo=dt.UTC)
NOW_ISO = "2026-11-27T15:00:00+00:00"


@dataclass(frozen=True)
class StoreInfo:
    """Where the test store is, and the fixed "now" to look at it."""

    path: Path
    now: dt.datetime
    now_iso: str
    source: str  # "demo" or "hand-built"


def _demo_generate():
    """The demo generator if that module exports it yet, else None."""
    try:
        from deskkit.connectors.demo import generate
    except ImportError:
        return None
    return generate


def _hand_built(path: Path, seed: int = 3, deals: int = 160) -> None:
    """Write a seeded random account: random walks along both pipelines during 2026."""
    import ibis
    from accounts import AccountBuilder

    from deskkit.store import SCHEMA

    rng = random.Random(seed)
    lines = {1: (10, [11, 12, 13]), 2: (20, [21, 22])}
    start = dt.datetime(2026, 1, 5)
    span = (dt.datetime(2026, 11, 27, 14) - start).total_seconds()
    b = AccountBuilder()
    for deal_id in range(1, deals + 1):
        pipeline = 1 if rng.random() < 0.65 else 2
        unsorted, opened = lines[pipeline]
        # Bias creation towards the end of the year so month/week/today all hold activity.
        created = start + dt.timedelta(seconds=span * rng.random() ** 0.5)
        stage = unsorted if rng.random() < 0.3 else opened[0]
        pos = -1 if stage == unsorted else 0
        moves: list[tuple[str, int]] = []
        at = created
        for _ in range(rng.randint(0, 5)):
            at += dt.timedelta(hours=rng.uniform(2, 24 * 20))
            if at >= dt.datetime(2026, 11, 27, 14, 30):
                break
            roll = rng.random()
            if roll < 0.12:
                target = 143
            elif roll < 0.25 and pos >= len(opened) - 1:
                target = 142
            elif roll < 0.35 and pos > 0:
                pos -= 1
                target = opened[pos]
            else:
                pos = min(pos + (2 if roll > 0.9 else 1), len(opened) - 1)
                target = opened[pos]
            moves.append((at.strftime("%Y-%m-%d %H:%M"), target))
            if target in (142, 143):
                break
        b.deal(
            deal_id,
            created.strftime("%Y-%m-%d %H:%M"),
            stage,
            pipeline=pipeline,
            price=float(rng.randrange(5, 300) * 1000),
            owner=rng.choice([1, 2, 3, 9]),
            moves=moves,
            deleted=rng.random() < 0.03,
        )
    con = ibis.duckdb.connect(str(path))
    for name, frame in b.frames().items():
        con.create_table(name, obj=ibis.memtable(frame, schema=SCHEMA[name]), schema=None)
    con.disconnect()


def build_store(folder: Path) -> StoreInfo:
    """Write the test store into ``folder`` and say how to look at it."""
    path = folder / "desk-test.duckdb"
    generate = _demo_generate()
    if generate is not None:
        generate(path, deals=2000, seed=1, as_of=AS_OF, progress=False)
        source = "demo"
    else:
        _hand_built(path)
        source = "hand-built"
    return StoreInfo(path, NOW, NOW_ISO, source)


@pytest.fixture(scope="session")
def test_store(tmp_path_factory: pytest.TempPathFactory) -> StoreInfo:
    """The session's store (built once)."""
    return build_store(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="session")
def desk(test_store: StoreInfo):
    """A Desk on the test store at the fixed "now"."""
    from deskkit.desk import open as open_desk

    return open_desk(test_store.path, now=test_store.now)
