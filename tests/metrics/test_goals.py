"""Goals: validity, cadence periods, goal scopes, request scope, viewer rights, drill-down."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import vl_convert as vlc
from accounts import AccountBuilder, kept_and_inline, ts

from deskkit.charts.goals import goals_chart
from deskkit.filters import Period, Scope, Viewer
from deskkit.metrics._base import Context
from deskkit.metrics.goals import goals

NOW = dt.datetime(2026, 4, 15, 12, tzinfo=dt.UTC)
MARCH = (dt.date(2026, 3, 1), dt.date(2026, 3, 31))  # the request's P: goals ignore it

GOALS = [
    # goal_id, name, measure, scope_kind, scope_id, cadence, target, valid_from
    (1, "Account monthly", "won_budget", "all", None, "month", 1000.0, "2026-01-01"),
    (2, "Account monthly (old)", "won_budget", "all", None, "month", 5.0, "2025-01-01"),
    (3, "Account monthly (next)", "won_budget", "all", None, "month", 7.0, "2026-05-01"),
    (4, "Anna deals", "won_count", "user", 1, "month", 4.0, "2026-01-01"),
    (5, "North quarter", "won_budget", "group", 1, "quarter", 2000.0, "2026-01-01"),
    (6, "Vera year", "won_count", "user", 3, "year", 10.0, "2026-01-01"),
    (7, "South quarter", "won_budget", "group", 2, "quarter", 500.0, "2026-01-01"),
]


def build(timezone: str = "UTC", with_goals: bool = True):
    b = AccountBuilder(timezone=timezone)
    if with_goals:
        for gid, name, measure, kind, sid, cadence, target, since in GOALS:
            row = dict(goal_id=gid, name=name, measure=measure, scope_kind=kind, scope_id=sid)
            b.add("goals", **row, cadence=cadence, target=target, valid_from=ts(since))
    b.deal(1, "2026-02-01", 11, price=100, moves=[("2026-04-03", 142)])
    b.deal(2, "2026-02-01", 11, price=200, moves=[("2026-03-20", 142)])
    b.deal(3, "2026-02-01", 12, price=300, owner=2, moves=[("2026-04-01 00:00", 142)])
    b.deal(4, "2026-02-01", 12, price=400, owner=2, moves=[("2026-04-15 12:00", 142)])  # at now
    b.deal(5, "2026-02-01", 12, price=500, owner=3, moves=[("2026-04-05", 142)], deleted=True)
    won_twice = [("2026-04-06", 142), ("2026-04-07", 12), ("2026-04-08", 142)]
    b.deal(6, "2026-02-01", 12, price=50, owner=3, moves=won_twice)
    b.deal(7, "2026-02-01", 11, price=70, moves=[("2026-03-31 23:00", 142)])
    b.deal(8, "2026-02-01", 11, price=1000, moves=[("2026-04-02", 143)])  # lost
    won_to_won = [("2026-01-10", 142), ("2026-04-09", 142, 2)]  # then moved won -> won
    b.deal(9, "2026-01-01", 11, price=10, owner=3, moves=won_to_won)
    return b.open()


@pytest.fixture(scope="module")
def store():
    return build()


def run(store, *, user=None, department=None, viewer=None, timezone="UTC"):
    period = Period.between(*MARCH, timezone=timezone, now=NOW)
    return goals(Context(store, period, Scope(user, department), Viewer(viewer)))


def goal(result, goal_id: int) -> dict:
    return result.goals.set_index("goal_id").loc[goal_id].to_dict()


def test_only_the_latest_goal_valid_now_is_shown(store):
    r = run(store)
    # 2 is superseded by 1 (same scope, measure, cadence; later valid_from); 3 starts in May.
    assert list(r.goals["goal_id"]) == [1, 4, 5, 6, 7]


def test_account_month_goal(store):
    g = goal(run(store), 1)
    # April 1 .. now (Apr 15 12:00): deals 1 (100), 3 (300, at the first instant), 6 (50, won
    # twice, once counted). Not 4 (won exactly at now), 5 (deleted), 8 (lost), 9 (won -> won).
    assert g["achieved"] == 450.0
    assert g["percent"] == pytest.approx(450 / 1000)
    # Previous full month, March: deals 2 (200) and 7 (70, Mar 31 23:00).
    assert g["previous"] == 270.0
    assert (g["period_start"], g["period_end"]) == (dt.date(2026, 4, 1), dt.date(2026, 4, 30))
    assert g["scope"] == "Account" and bool(g["complete"])


def test_user_group_and_year_goals(store):
    r = run(store)
    anna = goal(r, 4)  # a count: deal 1 in April; deals 2 and 7 in March
    assert (anna["achieved"], anna["previous"], anna["percent"]) == (1.0, 2.0, 0.25)
    north = goal(r, 5)  # Anna + Boris, Q2 so far: 100 + 300; Q1: 200 + 70
    assert (north["achieved"], north["previous"]) == (400.0, 270.0)
    assert north["scope"] == "North"
    vera = goal(r, 6)  # 2026: deal 6 (April, once) and deal 9 (won Jan 10); 2025: none
    assert (vera["achieved"], vera["previous"]) == (2.0, 0.0)
    south = goal(r, 7)  # Vera + Head, Q2: deal 6 (50); Q1: deal 9 (10)
    assert (south["achieved"], south["previous"]) == (50.0, 10.0)


def test_request_scope_chooses_goals_not_numbers(store):
    anna = run(store, user="Anna")
    assert list(anna.goals["goal_id"]) == [1, 4, 5]  # the account's, hers, her department's
    assert goal(anna, 1)["achieved"] == 450.0  # the account goal still counts the account
    assert list(run(store, user=3).goals["goal_id"]) == [1, 6, 7]
    assert list(run(store, department="South").goals["goal_id"]) == [1, 6, 7]
    assert list(run(store, department=1).goals["goal_id"]) == [1, 4, 5]


def test_viewer_counts_only_visible_deals(store):
    r = run(store, viewer=1)  # Anna, "own"
    assert list(r.goals["goal_id"]) == [1, 4, 5]  # Vera's and South's goals are not hers
    assert goal(r, 1)["achieved"] == 100.0 and not goal(r, 1)["complete"]  # deal 1 only
    assert goal(r, 5)["achieved"] == 100.0 and not goal(r, 5)["complete"]
    assert goal(r, 4)["achieved"] == 1.0 and goal(r, 4)["complete"]
    assert set(r.records(1)["deal_id"]) == {1}
    boris = run(store, viewer=2)  # "group": North
    assert goal(boris, 1)["achieved"] == 400.0 and goal(boris, 5)["complete"]
    sql = r.sql()["achieved"]
    assert '"responsible_user_id" IN (1)' in sql
    assert "deal_moves" in sql and "deskkit_kept" not in sql  # from the store's own tables


def test_records_are_the_won_deals(store):
    r = run(store)
    assert list(r.records(1)["deal_id"]) == [3, 1, 6]  # in order of winning
    assert set(r.records(1, previous=True)["deal_id"]) == {2, 7}
    assert set(r.records(5)["deal_id"]) == {1, 3}
    assert set(r.records(6)["deal_id"]) == {6, 9}
    assert len(r.records(1, limit=2)) == 2
    assert r.records(1)["responsible"].tolist()[0] == "Boris"
    with pytest.raises(ValueError, match="unknown goal 2"):
        r.records(2)


def test_cadence_periods_in_the_account_time_zone():
    store = build("Europe/Moscow")
    r = run(store, timezone="Europe/Moscow")
    # Moscow's April starts Mar 31 21:00 UTC: deal 7 (Mar 31 23:00 UTC) is April there.
    assert goal(r, 1)["achieved"] == 450.0 + 70.0
    assert goal(r, 1)["previous"] == 200.0


def test_empty_results():
    r = run(build(with_goals=False))
    assert r.goals.empty and list(r.goals.columns)[:3] == ["goal_id", "name", "measure"]
    assert set(r.sql()) == {"goals"}
    assert "<svg" in vlc.vegalite_to_svg(goals_chart(r).to_dict())


def test_new_cadence_period_starts_at_zero_and_previous_is_the_whole_period(store):
    may = Period.between(*MARCH, now=dt.datetime(2026, 5, 1, 0, 30, tzinfo=dt.UTC))
    r = goals(Context(store, may))
    # From May 1st goal 3 replaces goal 1 (same scope, measure and cadence).
    assert 1 not in set(r.goals["goal_id"])
    g = goal(r, 3)
    # Nothing won in May yet; all of April: 1 (100), 3 (300), 4 (400, Apr 15 12:00), 6 (50).
    assert (g["achieved"], g["percent"], g["target"], g["previous"]) == (0.0, 0.0, 7.0, 850.0)
    assert r.records(3).empty


def test_definition_and_chart(store):
    r = run(store)
    assert "current cadence period" in r.definition
    spec = goals_chart(r, "RUB").to_dict()
    texts = [row["label"] for row in next(iter(spec["datasets"].values()))]
    assert texts[0] == "450 ₽ of 1,000 ₽ · 45%"
    assert "<svg" in vlc.vegalite_to_svg(spec)


def test_demo_account(desk):
    r = goals(Context(desk.store, desk.period("month")))
    user = int(desk.store.users.user_id.iloc[1])
    contexts = [
        Context(desk.store, desk.period("month")),
        Context(desk.store, desk.period("month"), Scope(user=user)),
        Context(desk.store, desk.period("month"), viewer=Viewer(user)),
    ]
    kept, inline = kept_and_inline(desk.store, lambda: [goals(c).goals for c in contexts])
    for a, b in zip(kept, inline, strict=True):
        pd.testing.assert_frame_equal(a, b)
    assert len(r.goals) > 0
    account = r.goals.loc[r.goals["scope_kind"] == "all"].iloc[0]
    assert account["achieved"] > 0 and account["previous"] > 0
    assert (r.goals["percent"] >= 0).all() and (r.goals["percent"] < 10).all()
    assert len(r.records(int(account["goal_id"]), limit=3)) == 3


def test_a_deal_created_in_won_is_won_when_created():
    """As in pipeline flow and the payment counters: creation in a won stage is a win."""
    b = AccountBuilder()
    for gid, name, measure, target in [
        (1, "Budget", "won_budget", 100.0),
        (2, "Deals", "won_count", 10.0),
    ]:
        row = dict(goal_id=gid, name=name, measure=measure, scope_kind="all", scope_id=None)
        b.add("goals", **row, cadence="month", target=target, valid_from=ts("2026-01-01"))
    b.deal(21, "2026-04-05", 142, price=30)  # created won, still won
    b.deal(22, "2026-04-06", 142, price=5, moves=[("2026-04-07", 12)])  # won, then reopened
    b.deal(23, "2026-03-10", 142, price=7)  # created won in March: the previous month
    won_again = [("2026-04-09", 12), ("2026-04-10", 142)]
    b.deal(24, "2026-04-08", 142, price=11, moves=won_again)  # counted once
    b.deal(25, "2026-04-02", 11, price=1000)  # open, never won
    b.deal(26, "2026-04-03", 142, price=2000, deleted=True)
    b.deal(27, "2026-04-15 12:00", 142, price=3000)  # created at now: after the window
    b.deal(28, "2026-02-01", 142, price=400, moves=[("2026-04-04", 12), ("2026-04-05 06:00", 142)])
    store = b.open()

    def numbers():
        r = run(store)
        return goal(r, 1), goal(r, 2), r.records(2)

    # From the kept entries into won stages, and from the moves and deals of the windows.
    for budget, count, rows in kept_and_inline(store, numbers):
        # April: 21 (30), 22 (5), 24 (11) created won; 28 moved back into won (400).
        assert (budget["achieved"], count["achieved"]) == (446.0, 4)
        assert (budget["previous"], count["previous"]) == (7.0, 1)  # March: 23
        assert rows["deal_id"].tolist() == [21, 28, 22, 24]  # by when each was first won
        assert rows["won_at"].tolist()[0] == ts("2026-04-05")  # its creation
