"""Every pipeline-flow rule of design.md on small hand-computed accounts."""

from __future__ import annotations

import datetime as dt

import pytest
from accounts import AccountBuilder

from deskkit.desk import Desk
from deskkit.filters import Period, Viewer

MARCH = (dt.date(2026, 3, 1), dt.date(2026, 3, 31))
NOW = dt.datetime(2026, 4, 15, tzinfo=dt.UTC)


def desk_of(b: AccountBuilder, viewer: int | None = None) -> Desk:
    return Desk(b.open(), Viewer(viewer), NOW)


def row(result, stage: str) -> dict:
    frame = result.stages.set_index("stage")
    return frame.loc[stage].to_dict()


@pytest.fixture(scope="module")
def march():
    """One deal per rule; all moves in March unless the name says otherwise."""
    b = AccountBuilder()
    b.deal(1, "2026-02-10", 11, moves=[("2026-03-05", 13)])  # forward skip A -> C
    b.deal(2, "2026-02-10", 13, moves=[("2026-03-06", 11)])  # backward C -> A
    b.deal(3, "2026-03-10", 12, price=30)  # created in the middle stage B
    b.deal(4, "2026-02-10", 10, moves=[("2026-03-07", 11)])  # accepted from unsorted
    b.deal(5, "2026-02-10", 21, pipeline=2, moves=[("2026-03-08", 12, 1)])  # transfer in
    b.deal(6, "2026-02-10", 12, price=50, moves=[("2026-03-09", 143)])  # lost at B
    b.deal(7, "2026-02-10", 13, price=70, moves=[("2026-03-09", 142)])  # won from C
    b.deal(8, "2026-02-10", 11, moves=[("2026-03-11", 21, 2)])  # transfer out
    b.deal(9, "2026-02-10", 11, moves=[("2026-03-12", 13)], deleted=True)  # deleted
    b.deal(10, "2026-01-10", 11, moves=[("2026-02-12", 12)])  # moved before March
    b.deal(11, "2026-02-10", 12, moves=[("2026-04-02", 13)])  # moved after March
    b.deal(12, "2026-02-10", 10, moves=[("2026-03-13", 143)])  # rejected from unsorted
    b.deal(13, "2026-04-05", 11)  # created after March
    return desk_of(b)


def test_stage_table_shape_and_order(march):
    r = march.pipeline_flow(MARCH)
    assert list(r.stages.columns)[:6] == ["stage_id", "stage", "deals", "budget", "net_in", "lost"]
    assert list(r.stages["stage"]) == ["A", "B", "C", "won"]
    assert list(r.stages["stage_id"]) == [11, 12, 13, 142]
    assert r.pipeline == "Sales" and r.pipeline_id == 1


def test_deals_at_end_of_period(march):
    r = march.pipeline_flow(MARCH)
    # A: 2 (backward), 4 (accepted).  B: 3 (created), 5 (transfer in), 10, 11 (moves in April).
    # C: 1 (skip).  Not: 6 lost, 7 won, 8 transferred out, 9 deleted, 12 lost, 13 later.
    assert row(r, "A")["deals"] == 2
    assert row(r, "B")["deals"] == 4
    assert row(r, "B")["budget"] == 330.0
    assert row(r, "C")["deals"] == 1
    assert set(r.records("deals", "B")["deal_id"]) == {3, 5, 10, 11}


def test_skip_and_backward_cross_every_boundary_they_pass(march):
    r = march.pipeline_flow(MARCH)
    # Deal 1 A->C adds +1 to A|B and B|C; deal 2 C->A subtracts 1 from both; deal 7 C->won +1.
    assert row(r, "A")["net_in"] == 0  # no boundary before the first stage
    assert row(r, "B")["net_in"] == 0
    assert row(r, "C")["net_in"] == 0
    assert row(r, "won")["net_in"] == 1
    rec = r.records("net_in", "C")
    assert sorted(zip(rec["deal_id"], rec["sign"], strict=True)) == [(1, 1), (2, -1)]


def test_negative_net_in():
    b = AccountBuilder()
    b.deal(1, "2026-02-01", 13, moves=[("2026-03-02", 12)])
    b.deal(2, "2026-02-01", 13, moves=[("2026-03-03", 11)])
    b.deal(3, "2026-02-01", 11, moves=[("2026-03-04", 12)])
    r = desk_of(b).pipeline_flow(MARCH)
    assert row(r, "B")["net_in"] == 1 - 1  # deal 3 forward, deal 2 backward
    assert row(r, "C")["net_in"] == -2  # deals 1 and 2 backward


def test_creation_is_not_a_move(march):
    r = march.pipeline_flow(MARCH)
    assert 3 not in set(r.records("net_in", "B")["deal_id"])
    assert 3 in set(r.records("new")["deal_id"])


def test_new_counts_created_accepted_and_transferred_in(march):
    r = march.pipeline_flow(MARCH)
    assert set(r.records("new")["deal_id"]) == {3, 4, 5}
    assert r.new == 3
    repeat = march.pipeline_flow(MARCH, pipeline="Repeat")
    assert set(repeat.records("new")["deal_id"]) == {8}


def test_transfer_out_is_an_exit_not_a_loss(march):
    r = march.pipeline_flow(MARCH)
    assert 8 not in set(r.records("lost")["deal_id"])
    assert row(r, "A")["lost"] == 0
    repeat = march.pipeline_flow(MARCH, pipeline=2)
    assert repeat.lost_total == 0
    assert row(repeat, "X")["deals"] == 1  # deal 8 arrived; deal 5 left


def test_lost_per_stage_and_totals(march):
    r = march.pipeline_flow(MARCH)
    assert row(r, "B")["lost"] == 1
    assert list(r.records("lost", "B")["deal_id"]) == [6]
    # Deal 12 was rejected straight from unsorted: lost in total, not at any stage, not new.
    assert (r.lost_total, r.lost_budget) == (2, 150.0)
    assert r.stages["lost"].sum() == 1


def test_won_row_and_totals(march):
    r = march.pipeline_flow(MARCH)
    assert (r.won, r.won_budget) == (1, 70.0)
    assert (row(r, "won")["deals"], row(r, "won")["budget"]) == (1, 70.0)
    assert list(r.records("deals", "won")["deal_id"]) == [7]


def test_conversion(march):
    r = march.pipeline_flow(MARCH)
    # A: crossings of A|B forward = deal 1; base = at start in A (1, 8) + entries (2, 4) = 4.
    assert row(r, "A")["conversion"] == pytest.approx(1 / 4)
    # C: forward C|won = deal 7; base = at start (2, 7) + entries (1) = 3.
    assert row(r, "C")["conversion"] == pytest.approx(1 / 3)


def test_deleted_deals_are_excluded_everywhere(march):
    r = march.pipeline_flow(MARCH)
    for what, stage in [("deals", "C"), ("net_in", "B"), ("net_in", "C"), ("new", None)]:
        assert 9 not in set(r.records(what, stage)["deal_id"])


def test_state_at_end_of_a_past_period_ignores_later_moves(march):
    feb = march.pipeline_flow((dt.date(2026, 2, 1), dt.date(2026, 2, 28)))
    # Deal 10 moved A->B on Feb 12: +1 at B; at the end of February, B holds 6, 7?, ...
    assert row(feb, "B")["net_in"] == 1
    assert 11 in set(feb.records("deals", "B")["deal_id"])
    assert 1 in set(feb.records("deals", "A")["deal_id"])
    assert 7 in set(feb.records("deals", "C")["deal_id"])


def test_period_boundaries_are_half_open():
    b = AccountBuilder()
    b.deal(1, "2026-02-01", 11, moves=[("2026-03-01 00:00", 12)])  # first instant: in
    b.deal(2, "2026-02-01", 11, moves=[("2026-04-01 00:00", 12)])  # end instant: out
    r = desk_of(b).pipeline_flow(MARCH)
    assert row(r, "B")["net_in"] == 1
    assert list(r.records("net_in", "B")["deal_id"]) == [1]


def test_period_in_account_time_zone():
    # 2026-02-28 22:30 UTC is March 1st 01:30 in Moscow: inside a Moscow March.
    b = AccountBuilder(timezone="Europe/Moscow")
    b.deal(1, "2026-02-01", 11, moves=[("2026-02-28 22:30", 12)])
    b.deal(2, "2026-02-01", 11, moves=[("2026-03-31 21:30", 12)])  # April 1st 00:30 Moscow
    r = desk_of(b).pipeline_flow(MARCH)
    assert list(r.records("net_in", "B")["deal_id"]) == [1]


def test_open_period_counts_only_until_now():
    b = AccountBuilder()
    b.deal(1, "2026-02-01", 11, moves=[("2026-04-10", 12)])
    b.deal(2, "2026-02-01", 11, moves=[("2026-04-20", 12)])  # after NOW (April 15th)
    desk = desk_of(b)
    r = desk.pipeline_flow("month")
    assert r.period.first_day == dt.date(2026, 4, 1)
    assert row(r, "B")["net_in"] == 1
    assert row(r, "B")["deals"] == 1 and row(r, "A")["deals"] == 1


def test_scope_user_and_department(march):
    b = AccountBuilder()
    b.deal(1, "2026-02-01", 11, owner=1, moves=[("2026-03-02", 12)])
    b.deal(2, "2026-02-01", 11, owner=2, moves=[("2026-03-02", 12)])
    b.deal(3, "2026-02-01", 11, owner=3, moves=[("2026-03-02", 12)])
    desk = desk_of(b)
    assert row(desk.pipeline_flow(MARCH), "B")["net_in"] == 3
    assert row(desk.pipeline_flow(MARCH, user="Anna"), "B")["net_in"] == 1
    assert row(desk.pipeline_flow(MARCH, user=3), "B")["net_in"] == 1
    assert row(desk.pipeline_flow(MARCH, department="North"), "B")["net_in"] == 2
    assert set(desk.pipeline_flow(MARCH, department=2).records("deals", "B")["deal_id"]) == {3}
    with pytest.raises(ValueError, match="unknown user 'Nobody'"):
        desk.pipeline_flow(MARCH, user="Nobody")
    with pytest.raises(ValueError, match="unknown department"):
        desk.pipeline_flow(MARCH, department="West")


def test_viewer_rights_are_applied_in_the_query():
    b = AccountBuilder()
    b.deal(1, "2026-02-01", 11, owner=1, moves=[("2026-03-02", 12)])
    b.deal(2, "2026-02-01", 11, owner=2, moves=[("2026-03-02", 12)])
    b.deal(3, "2026-02-01", 11, owner=3, moves=[("2026-03-02", 12)])
    desk = desk_of(b)
    anna = desk.as_viewer(1)  # "own"
    assert row(anna.pipeline_flow(MARCH), "B")["deals"] == 1
    assert set(anna.pipeline_flow(MARCH).records("deals", "B")["deal_id"]) == {1}
    # Asking for a colleague's numbers gives nothing, not their rows.
    assert row(anna.pipeline_flow(MARCH, user="Boris"), "B")["deals"] == 0
    boris = desk.as_viewer(2)  # "group": North = Anna + Boris
    assert set(boris.pipeline_flow(MARCH).records("deals", "B")["deal_id"]) == {1, 2}
    head = desk.as_viewer(9)  # admin
    assert row(head.pipeline_flow(MARCH), "B")["deals"] == 3
    with pytest.raises(PermissionError, match="viewer 77"):
        desk.as_viewer(77).pipeline_flow(MARCH)


def test_empty_pipeline_and_period():
    r = desk_of(AccountBuilder()).pipeline_flow(MARCH)
    assert r.stages["deals"].sum() == 0
    assert (r.new, r.won, r.lost_total, r.won_budget) == (0, 0, 0, 0.0)
    assert r.records("new").empty


def test_unknown_pipeline_and_stage_are_named(march):
    with pytest.raises(ValueError, match=r"unknown pipeline 'Nope'.*Sales"):
        march.pipeline_flow(MARCH, pipeline="Nope")
    with pytest.raises(ValueError, match="not an open stage"):
        march.pipeline_flow(MARCH).records("deals", "Zzz")


def test_definition_text_is_on_the_result(march):
    r = march.pipeline_flow(MARCH)
    assert "creating a deal is not a move" in r.definition
    assert "Deleted deals are never counted" in r.definition


def test_result_period_is_the_resolved_one(march):
    r = march.pipeline_flow(MARCH)
    assert isinstance(r.period, Period) and r.period.last_day == dt.date(2026, 3, 31)


def test_sql_explains_every_query_and_carries_the_viewer_filter():
    b = AccountBuilder()
    b.deal(1, "2026-02-01", 11, owner=1, moves=[("2026-03-02", 12)])
    r = desk_of(b).as_viewer(1).pipeline_flow(MARCH)
    sql = r.sql()
    assert set(sql) == {"deals", "moves"}
    assert all('"deal_moves"' in text for text in sql.values())
    # The viewer's rights are part of every query, not applied afterwards in pandas.
    assert all('"responsible_user_id" IN (1)' in text for text in sql.values())


def test_a_deal_that_left_for_another_pipeline_later_counts_where_it_was():
    """Only moves touching the pipeline are read: a deal's stage at a moment is then the
    ``from`` of its first such move after it. A deal that left for pipeline 2 after March (and
    one that moved within pipeline 2 first, then came in) must still be placed right."""
    b = AccountBuilder()
    b.deal(1, "2026-02-10", 12, moves=[("2026-04-02", 21, 2), ("2026-04-03", 22)])
    b.deal(2, "2026-02-10", 21, pipeline=2, moves=[("2026-04-01", 22), ("2026-04-04", 13, 1)])
    b.deal(3, "2026-02-10", 13, moves=[("2026-03-20", 21, 2), ("2026-04-05", 11, 1)])
    r = desk_of(b).pipeline_flow(MARCH, pipeline=1)
    assert row(r, "B")["deals"] == 1  # deal 1, in B until April
    assert row(r, "C")["deals"] == 0  # deal 2 was in pipeline 2; deal 3 left in March
    assert r.open_deals == 1
    second = desk_of(b).pipeline_flow(MARCH, pipeline=2)
    assert second.open_deals == 2  # deal 2 (in X at the end of March) and deal 3 (arrived)
