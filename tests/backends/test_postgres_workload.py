"""The workload metrics unchanged on PostgreSQL: a store copied from DuckDB gives the same
frames (deals by manager, deals without tasks, latest deals, forecast)."""

from __future__ import annotations

import pandas as pd
import pytest

from deskkit.filters import Scope, Viewer
from deskkit.metrics._base import Context
from deskkit.metrics.forecast import forecast
from deskkit.metrics.workload import deals_by_manager, deals_without_tasks, latest_deals

pytestmark = pytest.mark.postgres


@pytest.fixture
def workload_both(desks):
    """(DuckDB desk, PostgreSQL desk) over the same demo account."""
    return desks


def frames(desk, scope: Scope, viewer: int | None) -> dict[str, pd.DataFrame]:
    ctx = Context(desk.store, desk.period("month"), scope, Viewer(viewer))
    m, w = deals_by_manager(ctx), deals_without_tasks(ctx)
    latest, f = latest_deals(ctx), forecast(ctx)
    return {
        "managers": m.managers,
        "without_tasks": w.by_user,
        "without_tasks_records": w.records(limit=20),
        "latest": latest.deals,
        "forecast_stages": f.stages,
        "forecast_users": f.by_user,
        "forecast_sample": f.records("sample", f.stages["pipeline_id"].iloc[0], limit=50),
    }


def test_workload_is_the_same_on_postgres(workload_both):
    duck, pg = workload_both
    assert pg.store.backend.name == "postgres"
    dept = str(duck.departments()["name"].iloc[0])
    own = int(duck.users().query("deal_access == 'own'")["user_id"].iloc[0])
    for scope, viewer in [(Scope(), None), (Scope(department=dept), None), (Scope(), own)]:
        a, b = frames(duck, scope, viewer), frames(pg, scope, viewer)
        for name in a:
            pd.testing.assert_frame_equal(
                a[name].reset_index(drop=True), b[name].reset_index(drop=True), obj=name
            )
        # The numbers are not trivially empty.
        assert a["managers"]["deals"].sum() > 0 and len(a["latest"]) > 0
        assert a["forecast_stages"]["weighted_budget"].sum() > 0
