"""Workload metrics on small hand-computed accounts: deals by manager, deals without tasks,
latest deals and the forecast, each looked at NOW (the period does not matter)."""

from __future__ import annotations

import datetime as dt
import math

import altair as alt
import pandas as pd
import pytest
import vl_convert
from accounts import AccountBuilder, kept_and_inline, ts

from deskkit.charts import THEME
from deskkit.charts.workload import (
    deals_by_manager_chart,
    deals_without_tasks_chart,
    forecast_chart,
    latest_deals_chart,
)
from deskkit.filters import Period, Scope, Viewer
from deskkit.metrics._base import Context
from deskkit.metrics.forecast import Forecast, forecast
from deskkit.metrics.workload import deals_by_manager, deals_without_tasks, latest_deals

NOW = dt.datetime(2026, 4, 15, tzinfo=dt.UTC)
MONTH = Period.preset("month", now=NOW)
PAST = Period.between(dt.date(2025, 1, 1), dt.date(2025, 1, 31), now=NOW)

# user_id, name, group, access, admin, active, capacity
TEAM = [
    (1, "Anna", 1, "own", False, True, 2),
    (2, "Boris", 1, "group", False, True, None),
    (3, "Vera", 2, "own", False, True, 1),
    (9, "Head", 2, "all", True, True, None),
    (5, "Gleb", 2, "own", False, False, None),  # left the company, still holds a deal
    (6, "Dina", 2, "own", False, False, None),  # left, holds nothing
]


def add_team(b: AccountBuilder) -> None:
    for uid, name, group, access, admin, active, cap in TEAM:
        b.add(
            "users",
            user_id=uid,
            name=name,
            email=f"{name.lower()}@example.com",
            group_id=group,
            is_active=active,
            is_admin=admin,
            deal_capacity=cap,
            deal_access=access,
        )


def task(b: AccountBuilder, task_id: int, deal: int | None, created: str, **kw) -> None:
    row = dict(
        task_id=task_id,
        entity_type="deal",
        entity_id=deal,
        responsible_user_id=1,
        created_by=1,
        task_type="call",
        text="t",
        created_at=ts(created),
        deadline=ts(created) + dt.timedelta(days=1),
        is_completed=False,
        completed_at=None,
    )
    row.update(kw)
    b.add("tasks", **row)


def ctx_of(store, *, period=MONTH, user=None, department=None, viewer=None) -> Context:
    return Context(store, period, Scope(user, department), Viewer(viewer))


@pytest.fixture(scope="module", params=["days after now", "hours after now"])
def team(request):
    """Deals and tasks for the "now" rules; NOW is 2026-04-15 00:00 UTC. What happens after
    now happens days later, or hours later: "now" then falls in the store's last two days of
    moves and task completions, whose rows kept tables hold (the later moves, the deals they
    are on, the tasks open or completed in those days), with the same numbers."""
    soon = request.param == "hours after now"
    later = "2026-04-15 09:00" if soon else "2026-04-20"
    next_day = "2026-04-15 08:00" if soon else "2026-04-16"
    b = AccountBuilder()
    add_team(b)
    b.deal(1, "2026-03-01", 11, price=100)  # open, open task
    b.deal(2, "2026-03-02", 10, price=50)  # unsorted counts as open; task done before now
    b.deal(3, "2026-03-03", 21, pipeline=2, price=25)  # task completed only after now
    b.deal(4, "2026-03-04", 12, moves=[("2026-04-01", 142)])  # won before now
    b.deal(5, "2026-03-05", 12, price=10, moves=[(later, 143)])  # lost after now: open
    b.deal(6, next_day, 11)  # created after now
    b.deal(7, "2026-03-01", 11, deleted=True)  # deleted, no task
    b.deal(8, "2026-03-01", 13, price=200, owner=2)  # task created exactly at now
    b.deal(9, "2026-03-01", 142, owner=2)  # created won
    b.deal(10, "2026-03-01", 143, owner=2, moves=[(later, 11)])  # reopened after now
    b.deal(11, "2026-04-15 00:00", 11, owner=3)  # created at now: not yet there
    b.deal(12, "2026-04-14 23:59", 22, pipeline=2, price=300, owner=3)  # task done at now
    b.deal(13, "2026-03-10", 11, price=40, owner=5)  # contact task only
    b.deal(14, "2026-02-01", 11, price=5, owner=2, moves=[("2026-04-05", 12)])  # no task
    b.deal(15, "2026-03-01", 11, price=1, owner=2, moves=[("2026-04-15 00:00", 142)])  # won at now
    task(b, 1, 1, "2026-03-01")
    task(b, 2, 2, "2026-03-01", is_completed=True, completed_at=ts("2026-04-10"))
    task(b, 3, 3, "2026-03-01", is_completed=True, completed_at=ts(later))
    task(b, 4, 5, next_day)
    task(b, 5, 8, "2026-04-15 00:00", responsible_user_id=3)
    task(b, 6, 12, "2026-03-01", is_completed=True, completed_at=ts("2026-04-15 00:00"))
    task(b, 7, 13, "2026-03-01", entity_type="contact")
    task(b, 8, 13, "2026-03-01", is_completed=True, completed_at=None)
    task(b, 9, None, "2026-03-01")  # no deal: must not make NOT IN unknown for every deal
    return b.open()


def managers(result) -> dict[str, tuple]:
    m = result.managers
    return {
        r.user: (r.deals, r.budget, r.capacity, r.over_capacity, r.is_active)
        for r in m.itertuples()
    }


# Deals by manager -----------------------------------------------------------------------------


def test_deals_by_manager_now(team):
    r = deals_by_manager(ctx_of(team))
    # Anna 1, 2, 3, 5 = 100 + 50 + 25 + 10; Boris 8, 14, 15 = 200 + 5 + 1; Vera 12; Gleb 13.
    # Anna's capacity 2 < 4: over. Vera 1 deal at capacity 1 is not above it. Default 15.
    assert managers(r) == {
        "Anna": (4, 185.0, 2, True, True),
        "Boris": (3, 206.0, 15, False, True),
        "Gleb": (1, 40.0, 15, False, False),
        "Vera": (1, 300.0, 1, False, True),
        "Head": (0, 0.0, 15, False, True),
    }
    assert list(r.managers["user"]) == ["Anna", "Boris", "Gleb", "Vera", "Head"]
    assert (r.deals, r.budget, r.over) == (9, 731.0, 1)
    assert list(r.managers["capacity_set"]) == [True, False, False, True, False]
    assert r.managers["load"].iloc[0] == pytest.approx(4 / 2)


def test_deals_by_manager_ignores_the_period(team):
    a = deals_by_manager(ctx_of(team))
    b = deals_by_manager(ctx_of(team, period=PAST))
    assert a.managers.equals(b.managers)


def test_deals_by_manager_records_show_the_stage_at_now(team):
    r = deals_by_manager(ctx_of(team))
    rec = r.records(user="Anna").set_index("deal_id")
    assert set(rec.index) == {1, 2, 3, 5}
    # Deal 5 is lost only after now: at now it sits in B.
    assert (rec.at[5, "stage_id"], rec.at[5, "stage"]) == (12, "B")
    assert rec.at[3, "pipeline"] == "Repeat"
    assert list(r.records(user=2)["deal_id"]) == [8, 14, 15]  # by price, highest first
    assert len(r.records(limit=2)) == 2
    with pytest.raises(ValueError, match="unknown user 'Nobody'"):
        r.records(user="Nobody")


def test_deals_by_manager_scope_and_viewer(team):
    north = deals_by_manager(ctx_of(team, department="North"))
    assert list(north.managers["user"]) == ["Anna", "Boris"]
    south = deals_by_manager(ctx_of(team, department=2))
    # Dina is inactive with no deals: not listed; Gleb is inactive but still holds deal 13.
    assert list(south.managers["user"]) == ["Gleb", "Vera", "Head"]
    assert (south.deals, south.budget) == (2, 340.0)
    assert list(deals_by_manager(ctx_of(team, user="Vera")).managers["user"]) == ["Vera"]
    anna = deals_by_manager(ctx_of(team, viewer=1))  # "own" rights
    assert list(anna.managers["user"]) == ["Anna"] and anna.deals == 4
    assert set(anna.records()["responsible_user_id"]) == {1}
    boris = deals_by_manager(ctx_of(team, viewer=2))  # "group" rights: North
    assert list(boris.managers["user"]) == ["Anna", "Boris"]
    assert deals_by_manager(ctx_of(team, viewer=9)).deals == 9  # admin


def test_deals_by_manager_empty_account():
    b = AccountBuilder()
    r = deals_by_manager(ctx_of(b.open()))
    # The four default users are listed with nothing.
    assert (r.deals, r.budget, r.over) == (0, 0.0, 0)
    assert list(r.managers["deals"]) == [0, 0, 0, 0]
    assert r.records().empty


# Deals without tasks --------------------------------------------------------------------------


def test_deals_without_tasks_now(team):
    r = deals_without_tasks(ctx_of(team))
    # Without an open task at now: 2 (done 04-10), 5 (task created after now), 12 (done at
    # now), 13 (contact task; deal task completed without a time), 14, 15 (none).
    # With one: 1 (open), 3 (completed after now), 8 (created at now, Vera's task).
    assert set(r.records()["deal_id"]) == {2, 5, 12, 13, 14, 15}
    assert (r.deals, r.budget, r.open_deals) == (6, 50 + 10 + 300 + 40 + 5 + 1.0, 9)
    assert r.share == pytest.approx(6 / 9)
    by = {u.user: (u.open_deals, u.without_tasks, u.budget) for u in r.by_user.itertuples()}
    assert by == {
        "Anna": (4, 2, 60.0),
        "Boris": (3, 2, 6.0),
        "Gleb": (1, 1, 40.0),
        "Vera": (1, 1, 300.0),
    }
    assert list(r.by_user["user"]) == ["Anna", "Boris", "Gleb", "Vera"]


def test_now_in_the_last_days_reads_kept_tables(team, request):
    """Hours after now, the open deals and tasks come from the kept last days (the numbers
    above are the same both ways); days after now, from the whole tables."""
    team.forget()
    deals_without_tasks(ctx_of(team))
    derived = {k[1][0] for k in team._memo if k[0] == "derived"}
    tails = {"moves tail", "moves tail deals", "open deal tasks"}
    if request.node.callspec.params["team"] == "hours after now":
        assert tails <= derived
    else:
        assert not tails & derived
    assert "deals in stages" in derived


def test_deals_without_tasks_records_stalest_first(team):
    rec = deals_without_tasks(ctx_of(team)).records()
    # Last activity known at now: 15 created 03-01 (its move at now has not happened yet),
    # 2 created 03-02, 5 created 03-05 (its update on 04-20 is after now), 13 created 03-10,
    # 14 moved 04-05, 12 created 04-14 23:59.
    assert list(rec["deal_id"]) == [15, 2, 5, 13, 14, 12]
    assert list(rec["days_idle"]) == [45, 44, 41, 36, 10, 0]
    assert list(deals_without_tasks(ctx_of(team)).records(user="Boris", limit=1)["deal_id"]) == [15]


def test_deals_without_tasks_scope_and_viewer(team):
    south = deals_without_tasks(ctx_of(team, department="South"))
    assert (south.deals, south.budget, south.open_deals) == (2, 340.0, 2)  # 12 and 13
    anna = deals_without_tasks(ctx_of(team, viewer=1))
    assert (anna.deals, anna.budget) == (2, 60.0)
    assert set(anna.records()["deal_id"]) == {2, 5}
    assert list(anna.by_user["user"]) == ["Anna"]
    boris = deals_without_tasks(ctx_of(team, user="Boris"))
    assert set(boris.records()["deal_id"]) == {14, 15}


def test_deals_without_tasks_empty():
    r = deals_without_tasks(ctx_of(AccountBuilder().open()))
    assert (r.deals, r.budget, r.open_deals) == (0, 0.0, 0)
    assert math.isnan(r.share) and r.by_user.empty and r.records().empty


# Latest deals ---------------------------------------------------------------------------------


def test_latest_deals_newest_open_first(team):
    r = latest_deals(ctx_of(team))
    # Open at now, newest first; 15, 8 and 1 share 03-01 00:00: higher id first. Skipped:
    # 6 and 11 (not created before now), 4, 9, 10 (closed at now), 7 (deleted); 14 is 9th.
    assert list(r.deals["deal_id"]) == [12, 13, 5, 3, 2, 15, 8, 1]
    assert list(latest_deals(ctx_of(team), n=3).records()["deal_id"]) == [12, 13, 5]
    row5 = r.deals.set_index("deal_id").loc[5]
    assert (row5["stage"], row5["responsible"], row5["pipeline"]) == ("B", "Anna", "Sales")
    assert "8 most recently created" in r.definition
    assert "3 most recently created" in latest_deals(ctx_of(team), n=3).definition


def test_latest_deals_scope_viewer_and_period(team):
    assert list(latest_deals(ctx_of(team, viewer=1)).deals["deal_id"]) == [5, 3, 2, 1]
    north = latest_deals(ctx_of(team, department="North"), n=10)
    assert list(north.deals["deal_id"]) == [5, 3, 2, 15, 8, 1, 14]
    past = latest_deals(ctx_of(team, period=PAST))
    assert list(past.deals["deal_id"]) == [12, 13, 5, 3, 2, 15, 8, 1]
    assert latest_deals(ctx_of(AccountBuilder().open())).deals.empty
    with pytest.raises(ValueError, match="n >= 1"):
        latest_deals(ctx_of(team), n=0)


# Definitions, SQL, charts ---------------------------------------------------------------------


def test_sql_carries_the_viewer_filter(team):
    ctx = ctx_of(team, viewer=1)
    for result in (deals_by_manager(ctx), deals_without_tasks(ctx), latest_deals(ctx)):
        sql = result.sql()
        assert sql and all('"responsible_user_id" IN (1)' in text for text in sql.values())
        assert "now" in result.definition


def test_charts_render_offline(team):
    alt.theme.enable(THEME)
    try:
        ctx = ctx_of(team)
        built = [
            deals_by_manager_chart(deals_by_manager(ctx), "RUB"),
            deals_without_tasks_chart(deals_without_tasks(ctx), "RUB"),
            latest_deals_chart(latest_deals(ctx), "RUB"),
            forecast_chart(forecast(ctx), "RUB"),
        ]
        empty = ctx_of(AccountBuilder().open())
        built += [
            deals_without_tasks_chart(deals_without_tasks(empty)),
            latest_deals_chart(latest_deals(empty)),
        ]
        for chart in built:
            spec = chart.to_dict()
            assert "#" not in str(spec.get("layer", ""))  # colours come from the theme
            assert vl_convert.vegalite_to_svg(spec).startswith("<svg")
        svg = vl_convert.vegalite_to_svg(built[0].to_dict())
        assert "4 / 2 · 185 ₽" in svg and "1 over capacity" in svg
    finally:
        alt.theme.enable("default")


# Forecast -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def history():
    """Closed history (101-109) and open deals (106, 201-205) for the forecast weights."""
    b = AccountBuilder()
    b.deal(101, "2026-02-01", 11, moves=[("2026-03-01", 12), ("2026-03-05", 142)])  # A B won
    b.deal(102, "2026-02-01", 11, moves=[("2026-03-02", 143)])  # A lost
    b.deal(103, "2026-02-01", 12, moves=[("2026-03-03", 142)])  # B won
    b.deal(104, "2026-02-01", 10, moves=[("2026-03-04", 143)])  # unsorted lost
    moves = [("2026-03-06", 13), ("2026-03-07", 12), ("2026-03-08", 143)]
    b.deal(105, "2026-02-01", 11, moves=moves)  # A C B lost (B once, though revisited)
    b.deal(106, "2026-02-01", 11, moves=[("2026-04-20", 142)])  # won after now: open in A
    b.deal(107, "2026-02-01", 11, moves=[("2026-03-01", 142)], deleted=True)
    b.deal(108, "2026-02-01", 21, pipeline=2, moves=[("2026-03-01", 12, 1), ("2026-03-02", 142)])
    b.deal(109, "2026-02-01", 11, owner=3, moves=[("2026-03-09", 142)])  # Vera's: A won
    b.deal(201, "2026-03-01", 11, price=100)
    b.deal(202, "2026-03-01", 13, price=200)
    b.deal(203, "2026-03-01", 12, price=50, owner=2)
    b.deal(204, "2026-03-01", 22, pipeline=2, price=80, owner=3)
    b.deal(205, "2026-03-01", 10, price=10)
    return b.open()


def stage_rows(result) -> dict[tuple[int, int], dict]:
    return result.stages.set_index(["pipeline_id", "stage_id"]).to_dict("index")


def test_forecast_stage_weights_and_fallback(history):
    r = forecast(ctx_of(history), min_sample=4)
    rows = stage_rows(r)
    # Sales: unsorted {104} 0/1; A {101, 102, 105, 109} 2/4; B {101, 103, 105, 108} 3/4;
    # C {105} 0/1. Pipeline: {101..105, 108, 109} with 101, 103, 108, 109 won = 4/7.
    # Repeat: X {108} 1/1, pipeline 1/1.
    want = {
        (1, 10): (1, 10, 1, 4 / 7, "pipeline", 7),
        (1, 11): (2, 200, 4, 2 / 4, "stage", 4),
        (1, 12): (1, 50, 4, 3 / 4, "stage", 4),
        (1, 13): (1, 200, 1, 4 / 7, "pipeline", 7),
        (2, 20): (0, 0, 0, 1.0, "pipeline", 1),
        (2, 21): (0, 0, 1, 1.0, "pipeline", 1),
        (2, 22): (1, 80, 0, 1.0, "pipeline", 1),
    }
    got = {
        k: (v["deals"], v["budget"], v["sample"], v["probability"], v["basis"], v["basis_sample"])
        for k, v in rows.items()
    }
    assert {k: (*v[:3], round(v[3], 9), *v[4:]) for k, v in got.items()} == {
        k: (*v[:3], round(v[3], 9), *v[4:]) for k, v in want.items()
    }
    assert [rows[k]["won"] for k in [(1, 10), (1, 11), (1, 12), (1, 13)]] == [0, 2, 3, 0]
    # 100*.5 + 100*.5 (deal 106) + 200*4/7 + 50*.75 + 80*1 + 10*4/7 = 337.5
    assert (r.deals, r.budget) == (6, 540.0)
    assert r.weighted_budget == pytest.approx(337.5)
    assert list(r.stages["stage"]) == ["Incoming", "A", "B", "C", "Incoming 2", "X", "Y"]
    by = [(u.user, u.deals, u.budget, round(u.weighted_budget, 9)) for u in r.by_user.itertuples()]
    # Anna: 50 + 50 + 200*4/7 + 10*4/7 = 220; Vera 80 at 1/1; Boris 50 at 3/4. Heaviest first.
    assert by == [("Anna", 4, 410.0, 220.0), ("Vera", 1, 80.0, 80.0), ("Boris", 1, 50.0, 37.5)]


def test_forecast_default_sample_falls_back_to_the_pipeline(history):
    r = forecast(ctx_of(history))
    assert set(r.stages["basis"]) == {"pipeline"}
    # Sales open budget 460 at 4/7, Repeat 80 at 1/1.
    assert r.weighted_budget == pytest.approx(460 * 4 / 7 + 80)
    assert "fewer than 20" in r.definition and "fewer than 20" in Forecast.definition
    assert "fewer than 4" in forecast(ctx_of(history), min_sample=4).definition


def test_forecast_scope_keeps_the_history_viewer_narrows_it(history):
    boris = forecast(ctx_of(history, user="Boris"), min_sample=4)
    assert (boris.deals, boris.budget, boris.weighted_budget) == (1, 50.0, 37.5)
    assert stage_rows(boris)[(1, 11)]["sample"] == 4  # Vera's 109 still teaches the rate
    anna = forecast(ctx_of(history, viewer=1), min_sample=3)
    rows = stage_rows(anna)
    # Anna may not see Vera's deals: A = {101, 102, 105} 1/3; Sales = 6 deals, 3 won.
    assert (rows[(1, 11)]["sample"], rows[(1, 11)]["probability"]) == (3, pytest.approx(1 / 3))
    assert rows[(1, 13)]["probability"] == pytest.approx(3 / 6)
    assert anna.deals == 4 and set(anna.by_user["user"]) == {"Anna"}
    sample = anna.records("sample", "Sales", "A")
    assert set(sample["deal_id"]) == {101, 102, 105}
    assert 109 not in set(forecast(ctx_of(history, viewer=1)).records()["deal_id"])


def test_forecast_records(history):
    r = forecast(ctx_of(history), min_sample=4)
    rec = r.records(pipeline="Sales", stage="A").set_index("deal_id")
    assert set(rec.index) == {106, 201}
    assert rec.at[201, "probability"] == pytest.approx(0.5)
    assert rec.at[201, "weighted"] == pytest.approx(50.0)
    sample = r.records("sample", 1, 11).set_index("deal_id")
    assert sample["won"].to_dict() == {101: True, 102: False, 105: False, 109: True}
    assert set(r.records("sample", "Repeat")["deal_id"]) == {108}
    assert list(r.records(user="Vera")["deal_id"]) == [204]
    with pytest.raises(ValueError, match="not an open stage"):
        r.records(pipeline="Sales", stage="Won")
    with pytest.raises(ValueError, match="needs a pipeline"):
        r.records("sample")


def test_forecast_without_history_and_empty():
    b = AccountBuilder()
    b.deal(1, "2026-03-01", 11, price=100)
    r = forecast(ctx_of(b.open()))
    a = stage_rows(r)[(1, 11)]
    assert a["basis"] == "none" and math.isnan(a["probability"])
    assert (r.budget, r.weighted_budget) == (100.0, 0.0)
    empty = forecast(ctx_of(AccountBuilder().open()))
    assert (empty.deals, empty.budget, empty.weighted_budget) == (0, 0.0, 0.0)
    assert empty.by_user.empty and empty.records().empty
    with pytest.raises(ValueError, match="min_sample >= 1"):
        forecast(ctx_of(AccountBuilder().open()), min_sample=0)


def test_forecast_shows_an_archived_pipeline_only_where_deals_still_sit():
    def archived(open_in_repeat: bool):
        b = AccountBuilder()
        b.deal(1, "2026-03-01", 11, price=100)
        b.deal(2, "2026-03-01", 22 if open_in_repeat else 142, pipeline=2, price=30)
        pipes = b.frames()["pipelines"].assign(is_archived=[False, True])
        b.rows["pipelines"] = pipes.to_dict("records")
        return forecast(ctx_of(b.open()))

    still = archived(True)
    shown = {(r.pipeline_id, r.stage_id) for r in still.stages.itertuples()}
    assert (2, 22) in shown and (2, 21) not in shown  # the archived pipeline's busy stage
    assert {(1, 10), (1, 11), (1, 12), (1, 13)} <= shown
    assert (still.deals, still.budget) == (2, 130.0)
    assert list(still.stages.index) == list(range(len(still.stages)))
    gone = archived(False)
    assert set(gone.stages.pipeline_id) == {1}
    assert (gone.deals, gone.budget) == (1, 100.0)


def test_forecast_rates_with_more_stages_than_one_engine_integer():
    """Visited stages are bits of 62-stage integers: 70 open stages need two, and every
    stage's sample (closed deals that visited it, once each) must not depend on which."""
    stages = [(1, 10, "Incoming", 0, "unsorted")]
    stages += [(1, 1000 + i, f"S{i}", 10 + i, "open") for i in range(70)]
    stages += [(1, 142, "Won", 10000, "won"), (1, 143, "Lost", 10001, "lost")]
    b = AccountBuilder(stages=stages)
    paths = {
        1: [1005, 1061, 1005, 142],  # a stage of each integer, one twice: counted once
        2: [1061, 1069, 143],
        3: [1000, 1062, 142],
        4: [1069],  # still open: no sample
    }
    for deal, path in paths.items():
        moves = [(f"2026-03-{day:02d}", stage) for day, stage in enumerate(path, start=2)]
        b.deal(deal, "2026-03-01", 10, price=100, moves=moves)
    r = forecast(ctx_of(b.open()), min_sample=1)
    rows = stage_rows(r)
    want = {1005: (1, 1), 1061: (2, 1), 1062: (1, 1), 1069: (1, 0), 1000: (1, 1), 10: (3, 2)}
    for sid, (sample, won) in want.items():
        assert (rows[(1, sid)]["sample"], rows[(1, sid)]["won"]) == (sample, won), sid
    assert sum(row["sample"] for row in rows.values()) == sum(s for s, _ in want.values())
    assert rows[(1, 1069)]["probability"] == 0.0 and rows[(1, 1069)]["deals"] == 1
    # Every stage's sample is the drill-down's deal list, the pipeline's is all three deals.
    for sid, (sample, _) in want.items():
        assert len(r.records("sample", 1, sid)) == sample
    assert len(r.records("sample", 1)) == 3


# Demo account ---------------------------------------------------------------------------------


def test_every_workload_metric_on_the_demo(desk):
    ctx = Context(desk.store, desk.period("month"))
    m = deals_by_manager(ctx)
    assert m.deals > 50 and m.budget > 0
    assert m.managers["user"].is_unique and (m.managers["capacity"] > 0).all()
    w = deals_without_tasks(ctx)
    assert 0 < w.deals < w.open_deals == m.deals
    assert 0 < w.budget < m.budget
    latest = latest_deals(ctx)
    assert len(latest.deals) == 8 and latest.deals["created_at"].is_monotonic_decreasing
    assert (latest.deals["created_at"] < ctx.now).all() and latest.deals["stage"].notna().all()
    f = forecast(ctx)
    assert f.deals == m.deals and f.budget == pytest.approx(m.budget)
    assert 0 < f.weighted_budget < f.budget
    assert f.stages["probability"].between(0, 1).all()
    assert (f.stages["basis_sample"] > 0).all()
    assert f.by_user["weighted_budget"].sum() == pytest.approx(f.weighted_budget)
    rec = w.records(limit=5)
    assert len(rec) == 5 and (rec["days_idle"] >= 0).all()


def test_forecast_win_rates_are_learned_once_for_every_scope(test_store):
    """The rates depend on the history and the viewer's rights, not on the scope: switching
    to one manager reuses them (one query fewer) and gives the same probabilities."""
    import deskkit

    desk = deskkit.open(test_store.path, now=test_store.now)
    backend = desk.store.backend
    queries: list[object] = []
    original = backend.execute

    def execute(expr, *args, **kwargs):
        queries.append(expr)
        return original(expr, *args, **kwargs)

    s = desk.store
    s.account, s.users, s.groups, s.pipelines, s.stages  # noqa: B018  (the dimension tables)
    backend.execute = execute
    everyone = desk.forecast()
    # The latest move (once per store: is there history after now?), the open deals, the
    # win rates.
    assert len(queries) == 3
    user = int(everyone.by_user.user_id.iloc[0])
    one = desk.forecast(user=user)
    assert len(queries) == 4
    probs = ["pipeline_id", "stage_id", "probability", "sample"]
    pd.testing.assert_frame_equal(one.stages[probs], everyone.stages[probs])
    # Another viewer's rights narrow the history: learned again.
    desk.as_viewer(user).forecast()
    assert len(queries) == 6


@pytest.mark.parametrize(
    "when", ["history after now", "none after now", "look back"], ids=lambda w: w
)
def test_the_stage_at_now_is_the_same_whether_later_moves_are_looked_up_or_not(
    test_store, monkeypatch, when
):
    """A store with no move at or after now skips looking the later moves up: the numbers are
    those the look-up gives (forced here), before and after the demo's last move, and a
    half-year back (every move since then later than now, none in the kept last days). The
    open deals come from kept tables (the deals in an open stage, the deals moved in the last
    days) or, inline, from all the deals: the same numbers for a user, a viewer, everyone."""
    import deskkit
    from deskkit.metrics import _now, sources

    now = {
        "history after now": test_store.now,
        "none after now": dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
        "look back": dt.datetime(2026, 5, 20, 11, tzinfo=dt.UTC),
    }[when]
    desk = deskkit.open(test_store.path, now=now)
    assert _now.moved_since_now(desk.context("year")) is (when != "none after now")
    user = int(desk.store.users.user_id.iloc[1])

    def numbers():
        return (
            desk.lead_sources("year").sources,
            desk.deals_by_manager().managers,
            desk.deals_without_tasks().by_user,
            desk.latest_deals().deals,
            desk.forecast().stages,
            desk.payment_counters("year").counters,
            desk.deals_by_manager(user=user).managers,
            desk.as_viewer(user).latest_deals(20).deals,
            desk.as_viewer(user).forecast().by_user,
            desk.deals_by_manager().records(),
        )

    plain = numbers()
    # From kept tables (the later moves from the kept copy of the last days, the open deals
    # from the kept deals in open stages) and inline (from the moves and the deals).
    kept, inline = kept_and_inline(desk.store, numbers)
    for got, want in zip(kept, inline, strict=True):
        pd.testing.assert_frame_equal(got, want)
    derived = {k[1][0] for k in desk.store._memo if k[0] == "derived"}
    tail = when == "history after now"  # now falls in the kept last days of moves
    assert ("moves tail" in derived) is tail
    assert ("moves tail deals" in derived) is tail
    assert "deals in stages" in derived
    for module in (_now, sources):
        monkeypatch.setattr(module, "moved_since_now", lambda ctx: True)
    desk = deskkit.open(test_store.path, now=now)
    for got, want in zip(numbers(), plain, strict=True):
        pd.testing.assert_frame_equal(got, want)
