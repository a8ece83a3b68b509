"""NPS: promoters minus detractors of the period's responses, with the previous period."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from accounts import AccountBuilder, ts

from deskkit.filters import Period, Scope, Viewer
from deskkit.metrics._base import Context
from deskkit.metrics.nps import nps

NOW = dt.datetime(2026, 4, 15, tzinfo=dt.UTC)
# A custom 31-day period: the previous one is the 31 days before, Jan 29 – Feb 28.
MARCH = Period.between(dt.date(2026, 3, 1), dt.date(2026, 3, 31), now=NOW)


@pytest.fixture(scope="module")
def store():
    b = AccountBuilder()
    b.deal(40, "2026-01-10", 11, owner=1)
    b.deal(50, "2026-01-10", 11, owner=2, deleted=True)
    b.add("contacts", id=100, name="Ivan", responsible_user_id=1, is_deleted=False)
    responses = [
        # id, entity, score, at, user
        (1, ("deal", 40), 10, "2026-03-01 00:00", 1),  # promoter, first instant
        (2, ("deal", 40), 9, "2026-03-05", 2),  # promoter
        (3, ("contact", 100), 8, "2026-03-06", 1),  # passive
        (4, ("deal", 40), 7, "2026-03-07", 3),  # passive
        (5, ("deal", 40), 6, "2026-03-08", 1),  # detractor
        (6, ("deal", 40), 0, "2026-03-09", 3),  # detractor
        (7, ("deal", 40), 10, "2026-04-01 00:00", 1),  # end of March: out
        (8, ("deal", 50), 10, "2026-03-10", 2),  # on a deleted deal: out
        (9, ("deal", 40), 11, "2026-03-11", 2),  # not a valid score: out
        (10, ("deal", 40), 3, "2026-03-31 23:59", 2),  # detractor, last minute
        (11, ("deal", 40), 9, "2026-02-10", 1),  # previous period: promoter
        (12, ("deal", 40), 2, "2026-02-11", 2),  # previous period: detractor
    ]
    for rid, (kind, eid), score, at, user in responses:
        b.add(
            "nps",
            response_id=rid,
            entity_type=kind,
            entity_id=eid,
            score=score,
            created_at=ts(at),
            user_id=user,
        )
    return b.open()


def run(store, scope: Scope | None = None, viewer: int | None = None):
    return nps(Context(store, MARCH, scope or Scope(), Viewer(viewer)))


def counts(r) -> tuple[int, int, int, int]:
    return (r.responses, r.promoters, r.passives, r.detractors)


def test_groups_and_score(store):
    r = run(store)
    # Responses 1–6 and 10: promoters 1, 2; passives 3, 4 (8 and 7); detractors 5, 6, 10.
    assert counts(r) == (7, 2, 2, 3)
    assert r.score == pytest.approx(100 * (2 - 3) / 7)  # −14.29
    # Previous: 11 promoter, 12 detractor -> 0.
    assert r.table.loc["previous", "responses"] == 2
    assert r.previous_score == 0.0
    assert r.change == pytest.approx(-100 / 7)


def test_score_boundaries(store):
    r = run(store)
    by_group = {g: set(r.records(g)["score"]) for g in ("promoters", "passives", "detractors")}
    assert by_group == {"promoters": {9, 10}, "passives": {7, 8}, "detractors": {0, 3, 6}}


def test_period_edges_deleted_and_invalid(store):
    ids = set(run(store).records()["response_id"])
    assert ids == {1, 2, 3, 4, 5, 6, 10}  # not 7 (end), 8 (deleted deal), 9 (score 11)
    assert set(run(store).records(previous=True)["response_id"]) == {11, 12}


def test_scope_user_and_department(store):
    anna = run(store, Scope(user=1))
    assert counts(anna) == (3, 1, 1, 1) and anna.score == 0.0  # 1, 3, 5
    assert anna.previous_score == 100.0  # 11
    south = run(store, Scope(department="South"))  # Vera 3 and Head 9: responses 4, 6
    assert counts(south) == (2, 0, 1, 1) and south.score == -50.0
    assert math.isnan(south.previous_score)


def test_viewer_rights(store):
    anna = run(store, viewer=1)  # own: only responses credited to her
    assert counts(anna) == (3, 1, 1, 1)
    assert set(anna.records()["user_id"]) == {1}
    boris = run(store, viewer=2)  # group North (1, 2): 1, 2, 3, 5, 10
    assert counts(boris) == (5, 2, 1, 2) and boris.score == 0.0


def test_records_name_the_record(store):
    rec = run(store).records("passives").set_index("response_id")
    assert rec.loc[3, "entity_name"] == "Ivan" and rec.loc[4, "entity_name"] == "Deal 40"
    assert rec.loc[4, "user"] == "Vera"
    assert list(run(store).records(limit=2)["response_id"]) == [10, 6]  # newest first
    with pytest.raises(ValueError, match="unknown group"):
        run(store).records("fans")


def test_empty_period(store):
    april = Period.between(dt.date(2026, 4, 2), dt.date(2026, 4, 10), now=NOW)
    r = nps(Context(store, april))
    assert counts(r) == (0, 0, 0, 0) and math.isnan(r.score)
    assert r.records().empty


def test_sql_is_available(store):
    assert "nps" in run(store).sql()["groups"]


def test_demo_account(desk):
    r = nps(Context(desk.store, desk.period("year")))
    assert r.responses > 20
    assert r.promoters + r.passives + r.detractors == r.responses == len(r.records())
    assert -100 <= r.score <= 100 and r.table.loc["previous", "responses"] > 0


def test_chart_renders_offline_with_the_score(store):
    import vl_convert

    from deskkit.charts.nps import nps_chart

    svg = vl_convert.vegalite_to_svg(nps_chart(run(store)).to_dict())
    assert "NPS \u221214" in svg and "NPS 0" in svg  # −14.3 now, 0 before
    assert "This period" in svg and "Previous period" in svg
    april = Period.between(dt.date(2026, 4, 2), dt.date(2026, 4, 10), now=NOW)
    assert "NPS —" in vl_convert.vegalite_to_svg(nps_chart(nps(Context(store, april))).to_dict())
