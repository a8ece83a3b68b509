"""Per-day counts kept by the store (``deskkit.metrics._rollup``): the day grid's arithmetic,
and the metrics that use it giving the same numbers as their queries on the raw rows, for random
periods and "now"s around a daylight-saving change and on the demo account."""

from __future__ import annotations

import datetime as dt

import ibis
import pyarrow as pa
import pytest
from accounts import BERLIN, DST_BASE, AccountBuilder, dst_periods, kept_and_inline
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deskkit.filters import Scope, Viewer
from deskkit.metrics._base import Context, span_rows
from deskkit.metrics._rollup import DayGrid
from deskkit.metrics.activity import activity
from deskkit.metrics.messaging import messages


def test_the_grid_starts_days_at_local_midnight():
    grid = DayGrid.of(BERLIN)
    assert grid.start(0) == dt.datetime(1969, 12, 31, 23, 0)  # midnight, winter time (UTC+1)
    day = (dt.date(2026, 1, 10) - dt.date(1970, 1, 1)).days
    assert grid.start(day) == dt.datetime(2026, 1, 9, 23, 0)
    # A winter day: whole. A summer-time period's midnight (22:00 UTC) falls an hour before
    # the grid's day starts (23:00 UTC): that hour, and the last day's 23 hours, are edges.
    winter = (dt.datetime(2026, 1, 9, 23), dt.datetime(2026, 1, 11, 23))
    assert grid.cover(winter) == ((day, day + 2), [])
    june = (dt.datetime(2026, 5, 31, 22), dt.datetime(2026, 6, 30, 22))
    whole, edges = grid.cover(june)
    assert grid.start(whole[0]) == dt.datetime(2026, 5, 31, 23)
    assert grid.start(whole[1]) == dt.datetime(2026, 6, 29, 23)
    assert edges == [
        (dt.datetime(2026, 5, 31, 22), dt.datetime(2026, 5, 31, 23)),
        (dt.datetime(2026, 6, 29, 23), dt.datetime(2026, 6, 30, 22)),
    ]
    # Less than a day: no whole day, the span itself is the edge; an empty span has none.
    short = (dt.datetime(2026, 1, 10, 8), dt.datetime(2026, 1, 10, 9, 30))
    assert grid.cover(short) == (None, [short])
    assert grid.cover((short[0], short[0])) == (None, [])


@pytest.mark.parametrize(
    "timezone", [BERLIN, "Asia/Kolkata", "America/St_Johns", "Pacific/Kiritimati"]
)
def test_a_moment_falls_in_the_day_that_starts_at_or_before_it(timezone):
    grid = DayGrid.of(timezone)
    for day in (-1, 0, 20_000, 20_539):
        start = grid.start(day)
        assert grid.number(start) == day
        assert grid.number(start - dt.timedelta(microseconds=1)) == day - 1
        assert grid.number(grid.start(day + 1) - dt.timedelta(microseconds=1)) == day


# Kept counts against the raw rows ---------------------------------------------------------------


def _account() -> AccountBuilder:
    """Calls, notes, messages in and out, moves and created deals every few hours over three
    weeks around the change, by three users and a robot, some on a deleted deal."""
    b = AccountBuilder(timezone=BERLIN)
    b.deal(1, "2026-03-01", 11, owner=1, moves=[("2026-03-28 23:30", 12), ("2026-03-29 01:10", 13)])
    b.deal(2, "2026-03-27 10:00", 11, owner=2, moves=[("2026-04-02 00:00", 142)])
    b.deal(3, "2026-03-25 22:59", 11, owner=3, deleted=True, moves=[("2026-03-30 06:00", 12)])
    for i in range(160):
        at = DST_BASE + dt.timedelta(hours=3 * i, minutes=(37 * i) % 60)
        user = [1, 2, 3, 0][i % 4]
        deal = [1, 2, 3][i % 3]
        b.add(
            "calls",
            call_id=i,
            direction="in" if i % 2 else "out",
            entity_type="deal",
            entity_id=deal,
            user_id=user,
            created_at=at,
            duration_s=60,
        )
        if i % 3 == 0:
            b.add(
                "notes",
                note_id=i,
                entity_type="contact" if i % 2 else "deal",
                entity_id=deal,
                note_type="common",
                text="n",
                created_by=user,
                created_at=at + dt.timedelta(minutes=5),
            )
        if i % 2 == 0:
            incoming = i % 4 == 0
            b.add(
                "messages",
                message_id=str(i),
                talk_id=i // 8,
                entity_type="contact" if i % 10 == 0 else "deal",
                entity_id=deal,
                direction="in" if incoming else "out",
                channel=["telegram", "whatsapp"][i % 3 % 2],
                created_at=at + dt.timedelta(minutes=7),
                user_id=None if incoming else user,
            )
    return b


@pytest.fixture(scope="module")
def store():
    return _account().open()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    period=dst_periods(),
    scope=st.sampled_from([Scope(), Scope(user=2), Scope(department=1)]),
    viewer=st.sampled_from([None, 1]),
)
def test_activity_and_messages_from_kept_days_equal_the_raw_count(store, period, scope, viewer):
    ctx = Context(store, period, scope, Viewer(viewer))
    kept, inline = kept_and_inline(store, lambda: activity(ctx))
    assert kept.table.equals(inline.table)
    assert kept.by_type.equals(inline.by_type)
    assert (kept.total, kept.previous_total) == (inline.total, inline.previous_total)
    kept, inline = kept_and_inline(store, lambda: messages(ctx))
    assert kept.by_channel.equals(inline.by_channel)
    assert kept.by_user.equals(inline.by_user)
    assert (kept.incoming, kept.previous_incoming) == (inline.incoming, inline.previous_incoming)
    assert (kept.outgoing, kept.previous_outgoing) == (inline.outgoing, inline.previous_outgoing)
    assert {k[1][0] for k in store._memo if k[0] == "derived"} >= {
        "actions per day",
        "messages per day",
    }


def test_activity_and_messages_on_the_demo_from_kept_days(desk):
    for period in ("today", "week", "month", "year", (dt.date(2026, 9, 1), dt.date(2026, 9, 30))):
        ctx = Context(desk.store, desk.period(period))
        kept, inline = kept_and_inline(desk.store, lambda ctx=ctx: activity(ctx))
        assert kept.total > 0 and kept.table.equals(inline.table)
        assert kept.previous_total == inline.previous_total
        kept, inline = kept_and_inline(desk.store, lambda ctx=ctx: messages(ctx))
        assert kept.outgoing > 0 and kept.by_channel.equals(inline.by_channel)
        assert kept.by_user.equals(inline.by_user)


_MOMENTS = st.integers(0, 200).map(lambda h: dt.datetime(2026, 3, 1) + dt.timedelta(hours=h))


@settings(max_examples=60, deadline=None)
@given(
    at=st.lists(st.one_of(st.none(), _MOMENTS), max_size=25),
    spans=st.lists(st.tuples(_MOMENTS, _MOMENTS), max_size=4),
)
def test_span_rows_keeps_each_row_in_a_span_once(at, spans):
    rows = pa.table(
        {"id": pa.array(range(len(at)), pa.int64()), "at": pa.array(at, pa.timestamp("us"))}
    )
    t = ibis.duckdb.connect().create_table("t", rows)
    got = sorted(span_rows(t, "at", spans).to_pandas()["id"])
    # Plain Python: a row is in if its moment falls in any half-open span, whatever overlaps.
    want = [i for i, a in enumerate(at) if a is not None and any(s <= a < e for s, e in spans)]
    assert got == want
    # ``each`` sees one part at a time, and the parts are separate stretches of time: tag each
    # row with its part's first moment, and no part starts inside another.
    tagged = span_rows(t, "at", spans, each=lambda p: p.mutate(first=p.at.min().over()))
    parts = tagged.to_pandas().groupby("first")["at"].agg(["min", "max"]).sort_index()
    assert sorted(tagged.to_pandas()["id"]) == want
    assert (parts["min"] == parts.index).all()
    assert (parts["min"].iloc[1:].to_numpy() > parts["max"].iloc[:-1].to_numpy()).all()


def test_span_rows_reads_far_spans_apart_and_near_ones_in_one_pass():
    t = ibis.table({"id": "int64", "at": "timestamp"}, name="t")

    def sql(*spans):
        return str(ibis.to_sql(span_rows(t, "at", list(spans)), dialect="duckdb"))

    day = dt.timedelta(days=1)
    a = dt.datetime(2026, 1, 1)
    # Two days a year apart: each its own range, no OR over the year between them.
    far = sql((a, a + day), (a.replace(year=2027), a.replace(year=2027) + day))
    assert "UNION ALL" in far and " OR " not in far
    # A gap no longer than the spans: one pass over their hull.
    assert "UNION" not in sql((a, a + day), (a + 2 * day, a + 3 * day))
    assert "UNION" not in sql((a + day, a + 2 * day), (a, a + day))  # touching
    # ``each`` applies to each part: rows of the two far days are tagged by their own day.
    days = [a, a + dt.timedelta(hours=5), a.replace(year=2027)]
    rows = ibis.duckdb.connect().create_table(
        "t", pa.table({"id": [0, 1, 2], "at": pa.array(days, pa.timestamp("us"))})
    )
    spans = [(a, a + day), (a.replace(year=2027), a.replace(year=2027) + day)]
    tagged = span_rows(rows, "at", spans, each=lambda p: p.mutate(first=p.at.min().over()))
    firsts = tagged.to_pandas().set_index("id")["first"].sort_index()
    assert list(firsts) == [days[0], days[0], days[2]]
