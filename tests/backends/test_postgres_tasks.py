"""Overdue tasks, goals and payment counters give the same frames on PostgreSQL as on DuckDB."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from deskkit.filters import Scope, Viewer
from deskkit.metrics._base import Context
from deskkit.metrics.goals import goals
from deskkit.metrics.payments import payment_counters
from deskkit.metrics.tasks import overdue_tasks

pytestmark = pytest.mark.postgres


@pytest.fixture
def stores(desks):
    """(DuckDB desk, PostgreSQL desk) over the same demo account."""
    return desks


def test_tasks_goals_payments_are_the_same_on_postgres(stores):
    duck, pg = stores
    assert pg.store.backend.name == "postgres"
    own = int(duck.users().query("deal_access == 'own'")["user_id"].iloc[0])
    dept = str(duck.departments()["name"].iloc[0])
    cases = [
        ("month", Scope(), Viewer()),
        ("year", Scope(department=dept), Viewer()),
        ((dt.date(2026, 4, 1), dt.date(2026, 6, 30)), Scope(), Viewer(own)),
    ]
    for period, scope, viewer in cases:
        a = Context(duck.store, duck.period(period), scope, viewer)
        b = Context(pg.store, pg.period(period), scope, viewer)
        ta, tb = overdue_tasks(a), overdue_tasks(b)
        pd.testing.assert_frame_equal(ta.by_user, tb.by_user)
        assert ta.explanation == tb.explanation
        assert ta.occurrences > 0
        ra, rb = ta.records("occurrences"), tb.records("occurrences")
        assert sorted(zip(ra["task_id"], ra["missed_deadline"], strict=True)) == sorted(
            zip(rb["task_id"], rb["missed_deadline"], strict=True)
        )
        ga, gb = goals(a), goals(b)
        pd.testing.assert_frame_equal(ga.goals, gb.goals)
        assert ga.goals["achieved"].sum() > 0
        pa, pb = payment_counters(a), payment_counters(b)
        pd.testing.assert_frame_equal(pa.counters, pb.counters)
        assert pa.counters["deals"].sum() > 0
        assert sorted(pa.records("Paid")["deal_id"]) == sorted(pb.records("Paid")["deal_id"])
