"""The event feed's counts per type from the store's kept per-day counts
(``deskkit.metrics._rollup``) equal the counts on the raw events, for random periods, "now"s,
scopes, viewers and filters around a daylight-saving change, and on the demo account."""

from __future__ import annotations

import datetime as dt

import pytest
from accounts import BERLIN, DST_BASE, AccountBuilder, dst_periods, kept_and_inline
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deskkit.filters import Period, Scope, Viewer
from deskkit.metrics._base import Context
from deskkit.metrics.activity import Events, events

TYPES = [
    "lead_added",
    "lead_status_changed",
    "task_added",
    "common_note_added",
    "incoming_call",
    "outgoing_call",
    "task_completed",
]
#: (entity type, entity id) of the events, in turn: live deals of Anna (1), Boris (2), Vera (4)
#: and of no one (5), Vera's deleted deal (3), a deal that is not there (99), other entities, and
#: an event on nothing known (NULL entity type).
TARGETS = [
    ("deal", 1),
    ("deal", 2),
    ("deal", 3),
    ("contact", 7),
    ("deal", 4),
    ("task", 8),
    ("deal", 5),
    ("company", 9),
    ("deal", 99),
    (None, 10),
]
#: Authors in turn: users of both departments, the admin, the robot, and once no one. (7 types,
#: 10 targets and 11 authors: every combination comes round.)
AUTHORS = [1, 2, 3, 0, 9, 1, 2, 3, 0, None, 2]


def _account() -> AccountBuilder:
    """Events every 97 minutes over three weeks around the change, by three users, the admin,
    the robot and (rarely) no one, on deals of different owners (one deleted, one missing, one
    without an owner), contacts, tasks and companies."""
    b = AccountBuilder(timezone=BERLIN)
    b.deal(1, "2026-03-01", 11, owner=1)
    b.deal(2, "2026-03-01", 11, owner=2)
    b.deal(3, "2026-03-01", 11, owner=3, deleted=True)
    b.deal(4, "2026-03-01", 11, owner=3)
    b.deal(5, "2026-03-01", 11, owner=None)
    for i in range(21 * 24 * 60 // 97):
        ent, eid = TARGETS[i % len(TARGETS)]
        b.add(
            "events",
            event_id=f"e{i}",
            type=TYPES[i % len(TYPES)],
            entity_type=ent,
            entity_id=eid,
            created_at=DST_BASE + dt.timedelta(minutes=97 * i),
            created_by=AUTHORS[i % len(AUTHORS)],
            value_before=None,
            value_after=None,
        )
    return b


@pytest.fixture(scope="module")
def store():
    return _account().open()


def _both(ctx: Context, **filters) -> tuple[Events, Events]:
    """The feed from the kept counts, then from the raw events only."""
    return kept_and_inline(ctx.store, lambda: events(ctx, **filters))


def _same(kept: Events, inline: Events) -> None:
    assert kept.counts.equals(inline.counts)
    assert kept.total == inline.total
    assert kept.feed.equals(inline.feed)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    period=dst_periods(),
    scope=st.sampled_from([Scope(), Scope(user=2), Scope(department=1)]),
    viewer=st.sampled_from([None, 1, 2, 3]),
    types=st.sampled_from([None, "lead_added", ["task_added", "incoming_call"]]),
    entity_types=st.sampled_from([None, "deal", ["contact", "task"]]),
    authors=st.sampled_from([None, 0, [1, 3]]),
    limit=st.sampled_from([3, 200]),
)
def test_events_from_kept_days_equal_the_raw_count(
    store, period, scope, viewer, types, entity_types, authors, limit
):
    ctx = Context(store, period, scope, Viewer(viewer))
    filters = dict(types=types, entity_types=entity_types, authors=authors, limit=limit)
    kept, inline = _both(ctx, **filters)
    _same(kept, inline)
    assert any(k[0] == "derived" and k[1][0] == "events per day" for k in store._memo)


def test_events_of_a_week_count_every_case(store):
    """A whole week across the change (whole days and edges): the kept counts meet every kind
    of event, and see what the raw rows see."""
    now = dt.datetime(2026, 4, 2, 10, 30, tzinfo=dt.UTC)
    period = Period.between(dt.date(2026, 3, 24), dt.date(2026, 4, 2), timezone=BERLIN, now=now)
    for viewer in (None, 1, 3):
        kept, inline = _both(Context(store, period, Scope(), Viewer(viewer)))
        _same(kept, inline)
        assert kept.total > 0
    # The unrestricted viewer sees the events on the deal without an owner, no one else does.
    ctx = Context(store, period)
    assert set(events(ctx, limit=10_000).feed["entity_id"]) >= {1, 2, 4, 5}
    assert 3 not in set(events(ctx, entity_types="deal", limit=10_000).feed["entity_id"])


def test_events_sql_shows_the_raw_query(store):
    now = dt.datetime(2026, 4, 2, 10, 30, tzinfo=dt.UTC)
    period = Period.between(dt.date(2026, 3, 24), dt.date(2026, 4, 2), timezone=BERLIN, now=now)
    sql = events(Context(store, period)).sql()["counts"]
    assert '"events"' in sql and '"deals"' in sql and "deskkit_kept" not in sql


def test_events_on_the_demo_from_kept_days(desk):
    past_month = (dt.date(2026, 9, 1), dt.date(2026, 9, 30))
    for period in ("today", "week", "month", "year", past_month):
        ctx = Context(desk.store, desk.period(period))
        kept, inline = _both(ctx)
        assert kept.total > 0
        _same(kept, inline)
    # A restricted viewer and a department, with an entity filter.
    users = desk.store.users
    own = users.loc[(users["deal_access"] == "own") & ~users["is_admin"].astype(bool)]
    viewer = Viewer(int(own["user_id"].iloc[0]))
    scope = Scope(department=int(users["group_id"].dropna().iloc[0]))
    for period in ("month", "year"):
        ctx = Context(desk.store, desk.period(period), scope, viewer)
        for filters in ({}, {"entity_types": ["deal", "contact"]}):
            kept, inline = _both(ctx, **filters)
            assert kept.total > 0
            _same(kept, inline)


#: The last event (e310) is at 2026-04-09 21:10 UTC; kept tail rows start two grid days before
#: its day (grid days start at 23:00 UTC, Berlin's winter midnight).
LAST = dt.datetime(2026, 4, 9, 21, 10, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "now",
    [
        LAST - dt.timedelta(hours=20),  # inside the last day, before its last event
        LAST - dt.timedelta(hours=21, minutes=20),  # 23:50 local: before the grid's day starts
        LAST + dt.timedelta(minutes=30),  # after every event
        LAST + dt.timedelta(days=2),  # days later: the partial day has no event at all
    ],
)
@pytest.mark.parametrize("preset", ["today", "week", "month"])
def test_events_of_a_period_ending_now_count_the_partial_day_from_the_kept_tail(store, now, preset):
    from deskkit.metrics.activity import _type_counts

    period = Period.preset(preset, timezone=BERLIN, now=now)
    for scope, viewer, filters in [
        (Scope(), None, {}),
        (Scope(department=1), 3, {"entity_types": ["deal", "contact"]}),
        (Scope(user=2), 1, {"authors": [1, 2], "types": "lead_added"}),
    ]:
        ctx = Context(store, period, scope, Viewer(viewer))
        kept, inline = _both(ctx, **filters)
        _same(kept, inline)
        sql = str(_type_counts(ctx, filters.get("entity_types"), filters.get("authors")).compile())
        # Summer time: a local midnight is an hour before a grid day starts. Today's partial
        # day (from 23:00 or 22:00 UTC) is all in the kept tail: no event meets the deals. A
        # week's or month's first hour is a partial day long before the tail: read raw.
        assert ('"events"' in sql) == (preset != "today")
        assert ('"deals"' in sql) == (preset != "today")
    assert any(k[0] == "derived" and k[1][0] == "events tail" for k in store._memo)
