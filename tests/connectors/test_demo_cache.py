"""deskkit.open() with no target: today's demo account, generated once and cached."""

from __future__ import annotations

import datetime as dt

import deskkit
from deskkit.connectors.demo.cache import cached_demo, demo_path


def test_open_without_target_generates_then_reuses_the_demo(tmp_path, monkeypatch):
    monkeypatch.setenv("DESKKIT_DATA", str(tmp_path))
    stale = tmp_path / "demo-20000-s7-2001-01-01.duckdb"
    stale.write_bytes(b"yesterday's demo")
    desk = deskkit.open()
    path = demo_path(20_000, 7)
    assert path.parent == tmp_path and path.exists()
    assert desk.store.source == str(path)
    assert desk.store.table("deals").count().execute() == 20_000
    assert not stale.exists()  # older days of the same demo are dropped
    mtime = path.stat().st_mtime_ns
    desk.store.backend.disconnect()
    again = deskkit.open()
    assert path.stat().st_mtime_ns == mtime  # reused, not regenerated
    assert again.pipeline_flow("month").stages["deals"].sum() > 0


def test_cache_key_is_deals_seed_and_day(tmp_path, monkeypatch):
    monkeypatch.setenv("DESKKIT_DATA", str(tmp_path))
    day = dt.date(2026, 11, 27)
    a = cached_demo(deals=1_000, seed=1, as_of=day)
    b = cached_demo(deals=1_000, seed=2, as_of=day)
    assert a != b and a.exists() and b.exists()
    assert a.name.startswith("demo-1000-s1-2026-11-27-") and a.suffix == ".duckdb"
    assert not list(tmp_path.glob("*.tmp-*"))  # no half-written files left behind
