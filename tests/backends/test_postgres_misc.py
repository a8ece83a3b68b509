"""Sources, NPS, files, system usage and search on PostgreSQL: the same frames as on DuckDB."""

from __future__ import annotations

import pandas as pd
import pytest

from deskkit.filters import Scope, Viewer
from deskkit.metrics._base import Context
from deskkit.metrics.files import recent_files
from deskkit.metrics.nps import nps
from deskkit.metrics.search import search
from deskkit.metrics.sources import lead_sources
from deskkit.metrics.usage import system_usage

pytestmark = pytest.mark.postgres


@pytest.fixture
def pair(desks):
    """(DuckDB desk, PostgreSQL desk) over the same demo account."""
    return desks


def frames(desk, period: str, scope: Scope, viewer: Viewer) -> dict[str, pd.DataFrame]:
    """Every DataFrame the five metrics return, by name."""
    ctx = Context(desk.store, desk.period(period), scope, viewer)
    files = recent_files(ctx, limit=20)
    found = search(ctx, "Printer", limit=30)
    return {
        "sources": lead_sources(ctx).sources,
        "nps": nps(ctx).table,
        "files": files.files,
        "usage": system_usage(ctx).users,
        "search": found.matches,
        "search_counts": found.counts,
        "source_records": lead_sources(ctx).records("no source", limit=10),
        "nps_records": nps(ctx).records("detractors"),
    }


@pytest.mark.parametrize(
    ("period", "scope", "viewer"),
    [
        ("month", Scope(), Viewer()),
        ("year", Scope(), Viewer()),
        ("quarter", Scope(department=401), Viewer()),
        ("year", Scope(), Viewer(10240003)),  # an "own" viewer
    ],
    ids=["month", "year", "department", "own-viewer"],
)
def test_same_frames_on_postgres(pair, period, scope, viewer):
    duck, pg = pair
    assert pg.store.backend.name == "postgres"
    a, b = frames(duck, period, scope, viewer), frames(pg, period, scope, viewer)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)
    # The numbers are not trivially empty.
    assert a["sources"]["deals"].sum() > 0 and a["usage"]["hours"].sum() > 0
    assert len(a["files"]) > 0 and len(a["search"]) > 0
