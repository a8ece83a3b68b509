"""Payment counters: "now" and "entered" stage sets, defaults from stage names, validation."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import vl_convert as vlc
from accounts import STAGES, AccountBuilder, kept_and_inline

from deskkit.charts.payments import payment_counters_chart
from deskkit.filters import Period, Scope, Viewer
from deskkit.metrics._base import Context
from deskkit.metrics.payments import PaymentCounter, default_counters, payment_counters

MARCH = (dt.date(2026, 3, 1), dt.date(2026, 3, 31))
NOW = dt.datetime(2026, 4, 15, tzinfo=dt.UTC)
COUNTERS = (
    PaymentCounter("Awaiting", ((1, 13),), "now"),
    PaymentCounter("Paid", ((2, 22),), "entered", include_won=True),
)


@pytest.fixture(scope="module")
def store():
    b = AccountBuilder()
    b.deal(1, "2026-02-01", 12, price=100, moves=[("2026-03-05", 13)])  # awaiting now
    b.deal(2, "2026-02-01", 13, price=200, moves=[("2026-04-10", 142)])  # won in April
    b.deal(3, "2026-02-01", 13, price=300, owner=2, moves=[("2026-03-10", 142)])  # paid
    b.deal(4, "2026-03-05", 22, pipeline=2, price=400)  # created in "paid" stage 22: paid
    b.deal(5, "2026-02-01", 22, pipeline=2, price=500)  # there since before March
    b.deal(6, "2026-02-01", 21, pipeline=2, price=600, owner=3, moves=[("2026-03-01 00:00", 22)])
    b.deal(7, "2026-02-01", 21, pipeline=2, price=700, owner=3, moves=[("2026-04-01 00:00", 22)])
    b.deal(8, "2026-02-01", 13, price=800, deleted=True)
    b.deal(9, "2026-02-01", 12, price=900, owner=2, moves=[("2026-04-20", 13)])  # after now
    b.deal(10, "2026-02-01", 142, price=1000, moves=[("2026-03-12", 142, 2)])  # won -> won
    twice = [("2026-03-03", 22), ("2026-03-15", 142)]  # enters Y, then won: one deal
    b.deal(11, "2026-03-02", 21, pipeline=2, price=50, owner=2, moves=twice)
    b.deal(12, "2026-02-01", 13, price=120, owner=3)  # awaiting now, never moved
    return b.open()


def run(store, counters=COUNTERS, period=MARCH, *, user=None, department=None, viewer=None):
    ctx = Context(store, Period.between(*period, now=NOW), Scope(user, department), Viewer(viewer))
    return payment_counters(ctx, counters)


def test_now_and_entered_counters(store):
    r = run(store)
    # Awaiting = in stage C (13) now: 1 (100) and 12 (120); 2 has been won, 8 is deleted, and 9
    # moves into C only after now.
    assert r.value("Awaiting") == (2, 220.0)
    # Paid = entered stage Y (2, 22) or won during March: 3 (300), 4 (400, created there),
    # 6 (600, at the first instant), 11 (50, entered twice, counted once) = 4 deals, 1,350.
    # Not 5 (there before March), 7 (April 1st), 10 (won -> won is not an entry), 2 (April).
    assert r.value("Paid") == (4, 1350.0)
    assert sorted(r.records("Paid")["deal_id"]) == [3, 4, 6, 11]
    assert list(r.records("Awaiting")["deal_id"]) == [12, 1]  # largest budget first


def test_counter_table(store):
    r = run(store)
    assert list(r.counters.columns) == ["name", "mode", "stages", "n_stages", "deals", "budget"]
    assert list(r.counters["stages"]) == ["Sales: C", "Repeat: Y, won"]
    assert list(r.counters["n_stages"]) == [1, 3]  # Y plus the two pipelines' won stages


def test_created_in_the_set_counts_by_the_stage_it_was_created_in():
    b = AccountBuilder()
    b.deal(1, "2026-03-20", 22, pipeline=2, price=10, moves=[("2026-03-25", 21)])  # counts
    b.deal(2, "2026-03-20", 21, pipeline=2, price=20, moves=[("2026-04-02", 22)])  # in April
    b.deal(3, "2026-02-20", 22, pipeline=2, price=40, moves=[("2026-03-25", 21)])  # February
    b.deal(4, "2026-03-21", 11, price=80, moves=[("2026-03-22", 22, 2)])  # entered by a move
    store = b.open()
    # The creation stage is the first move's `from` (deal 1 is in 21 now), the store keeps it
    # for every deal where it can (kept) and reads it per period elsewhere (inline).
    for r in kept_and_inline(store, lambda: run(store)):
        assert r.value("Paid") == (2, 90.0)
        assert sorted(r.records("Paid")["deal_id"]) == [1, 4]


def test_a_deal_entering_twice_counts_once():
    """A deal that enters a counter's stages twice in the period (paid, sent back, paid again;
    created in them, left and came back) counts once, with one counter or several, kept or
    inline."""
    b = AccountBuilder()
    twice = [("2026-03-05", 22, 2), ("2026-03-06", 21, 2), ("2026-03-07", 22, 2)]
    b.deal(1, "2026-03-01", 11, price=10, moves=twice)
    back = [("2026-03-03", 21), ("2026-03-04", 22)]
    b.deal(2, "2026-03-02", 22, pipeline=2, price=20, moves=back)
    store = b.open()
    paid_only = (PaymentCounter("Paid", ((2, 22),), "entered"),)
    for counters in (COUNTERS, paid_only):
        for r in kept_and_inline(store, lambda c=counters: run(store, counters=c)):
            assert r.value("Paid") == (2, 30.0)
            assert sorted(r.records("Paid")["deal_id"]) == [1, 2]


def test_later_period_and_state_now(store):
    april = run(store, period=(dt.date(2026, 4, 1), dt.date(2026, 4, 30)))
    # April until now: 7 entered Y on Apr 1 00:00, 2 won on Apr 10.
    assert sorted(april.records("Paid")["deal_id"]) == [2, 7]
    assert april.value("Awaiting") == (2, 220.0)  # "now" counters ignore the period


def test_scope_and_viewer(store):
    assert run(store, user="Anna").value("Paid") == (1, 400.0)  # deal 4
    assert run(store, user="Anna").value("Awaiting") == (1, 100.0)
    south = run(store, department="South")  # Vera: 12 awaiting, 6 paid
    assert (south.value("Awaiting"), south.value("Paid")) == ((1, 120.0), (1, 600.0))
    anna = run(store, viewer=1)
    assert anna.value("Paid") == (1, 400.0)
    assert set(anna.records("Paid")["responsible_user_id"]) == {1}
    assert run(store, viewer=1, user="Boris").value("Paid") == (0, 0.0)
    assert run(store, viewer=2).value("Paid") == (3, 750.0)  # North: 3, 4, 11
    assert '"responsible_user_id" IN (1)' in anna.sql()["counters"]


def test_default_counters_from_stage_names():
    stages = [*STAGES, (1, 14, "Ожидает оплаты", 40, "open"), (2, 23, "Paid", 30, "open")]
    b = AccountBuilder(stages=stages)
    b.deal(1, "2026-02-01", 14, price=10)
    b.deal(2, "2026-02-01", 21, pipeline=2, price=20, moves=[("2026-03-02", 23)])
    store = b.open()
    defaults = default_counters(store.stages)
    assert [(c.name, c.stages, c.mode, c.include_won) for c in defaults] == [
        ("Awaiting payment", ((1, 14),), "now", False),
        ("Paid", ((2, 23),), "entered", True),
    ]
    r = run(store, None)
    assert (r.value("Awaiting payment"), r.value("Paid")) == ((1, 10.0), (1, 20.0))


def test_default_without_payment_stages_is_won_only(store):
    r = run(store, None)
    assert list(r.counters["name"]) == ["Paid"]
    # Won during March: 3 (300) and 11 (50).
    assert r.value("Paid") == (2, 350.0)


def test_validation_names_the_problem(store):
    with pytest.raises(ValueError, match=r"'Bad': unknown stage 99 of pipeline 1.*'B'"):
        run(store, [PaymentCounter("Bad", ((1, 99),))])
    with pytest.raises(ValueError, match="unknown pipeline"):
        run(store, [PaymentCounter("Bad", ((5, 1),))])
    with pytest.raises(ValueError, match="unique"):
        run(store, [COUNTERS[0], COUNTERS[0]])
    with pytest.raises(ValueError, match="mode"):
        PaymentCounter("x", ((1, 13),), "sometime")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no stages"):
        PaymentCounter("x")
    with pytest.raises(ValueError, match="unknown counter 'Nope'"):
        run(store).records("Nope")


def test_empty_account():
    r = run(AccountBuilder().open())
    assert r.counters["deals"].tolist() == [0, 0] and r.counters["budget"].tolist() == [0.0, 0.0]
    assert r.records("Paid").empty
    assert "<svg" in vlc.vegalite_to_svg(payment_counters_chart(r).to_dict())


def test_definition_and_chart(store):
    r = run(store)
    assert "entered the set during the period" in r.definition
    spec = payment_counters_chart(r, "RUB").to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert [(x["counter"], x["kind"], x["label"]) for x in rows] == [
        ("Awaiting", "open", "2 · 220 ₽"),
        ("Paid", "won", "4 · 1,350 ₽"),
    ]
    assert "<svg" in vlc.vegalite_to_svg(spec)


def test_demo_account(desk):
    for period in ("year", "month", (dt.date(2025, 3, 1), dt.date(2025, 3, 31))):
        ctx = Context(desk.store, desk.period(period))
        kept, inline = kept_and_inline(desk.store, lambda ctx=ctx: payment_counters(ctx))
        pd.testing.assert_frame_equal(kept.counters, inline.counters)
    r = payment_counters(Context(desk.store, desk.period("month")))
    assert list(r.counters["name"]) == ["Awaiting payment", "Paid"]
    assert (r.counters["deals"] > 0).all() and (r.counters["budget"] > 0).all()
    assert r.counters["stages"].iloc[0] == "Sales: Awaiting payment"
    assert len(r.records("Paid", limit=4)) == 4
