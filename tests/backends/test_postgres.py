"""The same metric code on PostgreSQL: a store copied from DuckDB gives the same numbers."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

pytestmark = pytest.mark.postgres

PERIODS = [
    "month",
    "year",
    (dt.date(2026, 4, 1), dt.date(2026, 6, 30)),
]


@pytest.fixture
def both(desks):
    """(DuckDB desk, PostgreSQL desk) over the same demo account."""
    return desks


@pytest.mark.parametrize("period", PERIODS, ids=["month", "year", "past-quarter"])
def test_pipeline_flow_is_the_same_on_postgres(both, period):
    duck, pg = both
    assert pg.store.backend.name == "postgres"
    for pipeline in duck.pipelines()["pipeline_id"]:
        a = duck.pipeline_flow(period, int(pipeline))
        b = pg.pipeline_flow(period, int(pipeline))
        pd.testing.assert_frame_equal(a.stages, b.stages)
        assert (a.new, a.won, a.won_budget, a.lost_total, a.lost_budget) == (
            b.new,
            b.won,
            b.won_budget,
            b.lost_total,
            b.lost_budget,
        )
    # The numbers are not trivially zero.
    assert duck.pipeline_flow("year").stages["deals"].sum() > 0


def test_scope_viewer_and_drill_down_on_postgres(both):
    duck, pg = both
    dept = str(duck.departments()["name"].iloc[0])
    a = duck.pipeline_flow("year", department=dept)
    b = pg.pipeline_flow("year", department=dept)
    pd.testing.assert_frame_equal(a.stages, b.stages)
    own = int(duck.users().query("deal_access == 'own'")["user_id"].iloc[0])
    a = duck.as_viewer(own).pipeline_flow("year")
    b = pg.as_viewer(own).pipeline_flow("year")
    pd.testing.assert_frame_equal(a.stages, b.stages)
    assert sorted(a.records("new")["deal_id"]) == sorted(b.records("new")["deal_id"])
