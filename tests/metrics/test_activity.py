"""Activity and event-feed rules of design.md on small hand-computed accounts, plus the demo."""

from __future__ import annotations

import datetime as dt

import pytest
import vl_convert
from accounts import AccountBuilder, ts

from deskkit.charts.activity import activity_chart, events_chart
from deskkit.filters import Period, Scope, Viewer
from deskkit.metrics._base import Context
from deskkit.metrics.activity import ACTION_TYPES, activity, events, events_since

MARCH = (dt.date(2026, 3, 1), dt.date(2026, 3, 31))
NOW = dt.datetime(2026, 4, 15, tzinfo=dt.UTC)
# The previous period of a 31-day custom March is [Jan 29, Mar 1).


def ctx_of(store, scope: Scope | None = None, viewer: int | None = None, days=MARCH) -> Context:
    return Context(store, Period.between(*days, now=NOW), scope or Scope(), Viewer(viewer))


def robot_deal(b: AccountBuilder, deal_id: int, created: str, moves) -> None:
    """A deal created and moved by a robot (author 0)."""
    b.deal(deal_id, created, 11, moves=moves)
    b.rows["deals"][-1]["created_by"] = 0
    for m in b.rows["deal_moves"][-len(moves) :]:
        m["by_user_id"] = 0


def entity(deal: int, **row) -> dict:
    return dict(entity_type="deal", entity_id=deal, **row)


@pytest.fixture(scope="module")
def acts():
    b = AccountBuilder()
    b.deal(1, "2026-03-02", 11, owner=1, moves=[("2026-03-05", 12)])
    b.deal(2, "2026-02-10", 11, owner=2, moves=[("2026-03-01 00:00", 12), ("2026-04-01 00:00", 13)])
    b.deal(3, "2026-03-31 23:59", 11, owner=3)
    b.deal(4, "2026-03-03", 11, owner=1, moves=[("2026-03-04", 12)], deleted=True)
    robot_deal(b, 5, "2026-03-06", [("2026-03-07", 12)])
    calls = [
        (1, "in", 1, "2026-03-10", 1),
        (2, "out", 1, "2026-03-11", 1),
        (3, "out", 2, "2026-02-28 23:59", 2),  # previous period
        (4, "out", 1, "2026-03-12", 4),  # on the deleted deal
        (5, "in", 3, "2026-04-01 00:00", 3),  # first instant after March
    ]
    for cid, direction, user, at, deal in calls:
        b.add(
            "calls",
            **entity(
                deal,
                call_id=cid,
                direction=direction,
                user_id=user,
                created_at=ts(at),
                duration_s=60,
            ),
        )
    for mid, direction, user, at in [
        ("a", "out", 2, "2026-03-15"),
        ("b", "out", 0, "2026-03-15"),
        ("c", "in", None, "2026-03-15"),
    ]:
        b.add(
            "messages",
            **entity(
                2,
                message_id=mid,
                talk_id=1,
                direction=direction,
                channel="telegram",
                created_at=ts(at),
                user_id=user,
            ),
        )
    for tid, user, done in [(1, 1, "2026-03-20"), (2, 2, "2026-02-20"), (3, 3, None)]:
        b.add(
            "tasks",
            **entity(
                1,
                task_id=tid,
                responsible_user_id=user,
                created_by=user,
                task_type="call",
                text=f"task {tid}",
                created_at=ts("2026-01-05"),
                deadline=ts("2026-03-25"),
                is_completed=done is not None,
                completed_at=ts(done) if done else None,
            ),
        )
    for nid, user in [(1, 3), (2, 0)]:
        b.add(
            "notes",
            **entity(
                3,
                note_id=nid,
                note_type="common",
                text="n",
                created_by=user,
                created_at=ts("2026-03-03"),
            ),
        )
    return b.open()


def test_counts_per_author_and_type(acts):
    r = activity(ctx_of(acts))
    t = r.table.set_index("user")
    # Anna: created deal 1, moved it, 1 call in, 1 call out, 1 task = 5.
    assert t.loc["Anna", list(ACTION_TYPES)].to_dict() == {
        "calls_in": 1,
        "calls_out": 1,
        "messages_out": 0,
        "tasks_completed": 1,
        "stage_changes": 1,
        "notes": 0,
        "deals_created": 1,
    }
    # Boris: the move at 00:00 on March 1 (inclusive start) + message "a" = 2; April 1 excluded.
    assert (t.loc["Boris", "stage_changes"], t.loc["Boris", "messages_out"]) == (1, 1)
    # Vera: deal 3 created at 23:59 on March 31 + note 1 = 2; her call at April 1 00:00 is out.
    assert (t.loc["Vera", "deals_created"], t.loc["Vera", "notes"], t.loc["Vera", "calls_in"]) == (
        1,
        1,
        0,
    )
    assert t["total"].to_dict() == {"Anna": 5, "Boris": 2, "Vera": 2, "Head": 0}
    assert r.total == 9
    assert r.by_type.set_index("type")["count"].sum() == 9


def test_previous_period_totals(acts):
    r = activity(ctx_of(acts))
    # [Jan 29, Mar 1): Boris's call on Feb 28 23:59, task on Feb 20, deal 2 created Feb 10.
    assert r.previous_total == 3
    assert r.table.set_index("user")["previous_total"].to_dict() == {
        "Anna": 0,
        "Boris": 3,
        "Vera": 0,
        "Head": 0,
    }
    assert r.by_type.set_index("type").loc["calls_out", "previous"] == 1


def test_robots_and_deleted_deals_are_excluded(acts):
    r = activity(ctx_of(acts))
    assert 0 not in set(r.counts["user_id"])
    rec = r.records()
    assert len(rec) == 9
    assert 0 not in set(rec["user_id"])
    # Deal 4 is deleted: neither its creation, its move nor the call on it counts.
    assert not ((rec["entity_type"] == "deal") & (rec["entity_id"] == 4)).any()
    # Deal 5 was created and moved by a robot; message "b" and note 2 were robots' too.
    assert 5 not in set(rec.loc[rec["type"] == "deals_created", "entity_id"])
    assert set(rec.loc[rec["type"] == "messages_out", "record_id"]) == {"a"}


def test_records_by_user_and_type(acts):
    r = activity(ctx_of(acts))
    anna = r.records(user=1)
    assert sorted(anna["type"]) == sorted(
        ["calls_in", "calls_out", "tasks_completed", "stage_changes", "deals_created"]
    )
    moves = r.records(type="stage_changes")
    assert sorted(moves["entity_id"]) == [1, 2]
    assert set(moves["detail"]) == {"B"}  # both moved to stage 12 "B"
    assert set(moves["deal"]) == {"Deal 1", "Deal 2"}
    assert list(r.records(limit=2)["at"]) == [ts("2026-03-31 23:59"), ts("2026-03-20")]
    with pytest.raises(ValueError, match="unknown action type"):
        r.records(type="emails")


@pytest.mark.parametrize(
    ("scope", "viewer", "totals"),
    [
        (Scope(user=2), None, {"Boris": 2}),
        (Scope(department=1), None, {"Anna": 5, "Boris": 2}),
        (Scope(department="South"), None, {"Vera": 2, "Head": 0}),
        (Scope(), 1, {"Anna": 5}),  # Anna sees only her own actions
        (Scope(), 2, {"Anna": 5, "Boris": 2}),  # Boris sees his department
        (Scope(user=3), 1, {}),  # out of Anna's rights: nothing
    ],
)
def test_scope_and_viewer(acts, scope, viewer, totals):
    r = activity(ctx_of(acts, scope, viewer))
    assert r.table.set_index("user")["total"].to_dict() == totals
    assert r.total == sum(totals.values())
    assert set(r.records()["user"]) == {u for u, n in totals.items() if n}


def test_empty_period(acts):
    r = activity(ctx_of(acts, days=(dt.date(2025, 1, 1), dt.date(2025, 1, 31))))
    assert (r.total, r.previous_total, len(r.counts)) == (0, 0, 0)
    assert r.table["total"].tolist() == [0, 0, 0, 0]
    assert r.records().empty


def test_frames_keep_their_types_when_empty(acts):
    full = activity(ctx_of(acts))
    empty = activity(ctx_of(acts, days=(dt.date(2025, 1, 1), dt.date(2025, 1, 31))))
    for name in ("counts", "table", "by_type"):
        assert getattr(empty, name).dtypes.to_dict() == getattr(full, name).dtypes.to_dict()


# Events -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def feed():
    b = AccountBuilder()
    for deal, owner, deleted in [(1, 1, False), (2, 2, False), (3, 3, False), (4, 1, True)]:
        b.deal(deal, "2026-02-01", 11, owner=owner, deleted=deleted)
    rows = [
        ("e1", "lead_added", "deal", 1, "2026-03-01 00:00", 1),
        ("e2", "lead_status_changed", "deal", 2, "2026-03-10", 2),
        ("e3", "incoming_chat_message", "deal", 2, "2026-03-11", 0),
        ("e4", "task_added", "task", 7, "2026-03-12", 3),
        ("e5", "lead_status_changed", "deal", 4, "2026-03-13", 1),  # deleted deal
        ("e6", "lead_added", "deal", 3, "2026-04-01 00:00", 3),  # after March
        ("e7", "common_note_added", "deal", 2, "2026-03-14", 1),  # Anna, on Boris's deal
        ("e8", "task_added", "task", 8, "2026-03-15", 0),
    ]
    for eid, kind, ent, eid_, at, by in rows:
        b.add(
            "events",
            event_id=eid,
            type=kind,
            entity_type=ent,
            entity_id=eid_,
            created_at=ts(at),
            created_by=by,
            value_before=None,
            value_after=None,
        )
    return b.open()


def test_feed_is_newest_first_and_half_open(feed):
    r = events(ctx_of(feed))
    assert list(r.feed["event_id"]) == ["e8", "e7", "e4", "e3", "e2", "e1"]
    assert r.total == 6
    assert r.feed.set_index("event_id").loc["e3", "author"] == "robot"
    assert r.feed.set_index("event_id").loc["e2", "deal"] == "Deal 2"


@pytest.mark.parametrize(
    ("scope", "viewer", "ids"),
    [
        (Scope(user=1), None, {"e1", "e7"}),  # by author; e5 is on a deleted deal
        (Scope(department=1), None, {"e1", "e2", "e7"}),  # robots are in no department
        (Scope(), 1, {"e1"}),  # Anna sees deal 1 only; e7 is on Boris's deal
        (Scope(), 2, {"e1", "e2", "e3", "e7"}),  # deals 1, 2; not Vera's or the robot's task
        (Scope(user=3), 9, {"e4"}),  # the admin sees everything in scope
    ],
)
def test_feed_scope_and_viewer(feed, scope, viewer, ids):
    r = events(ctx_of(feed, scope, viewer))
    assert set(r.feed["event_id"]) == ids
    assert r.total == len(ids) == r.counts["count"].sum()


def test_feed_filters_and_counts(feed):
    ctx = ctx_of(feed)
    r = events(ctx, types="lead_added")
    assert list(r.feed["event_id"]) == ["e1"] and r.total == 1
    # Counts ignore the type filter: task_added has e4 and e8.
    assert r.counts.set_index("type")["count"].to_dict() == {
        "task_added": 2,
        "common_note_added": 1,
        "incoming_chat_message": 1,
        "lead_added": 1,
        "lead_status_changed": 1,
    }
    assert set(events(ctx, entity_types=["task"]).feed["event_id"]) == {"e4", "e8"}
    assert set(events(ctx, authors=[0]).feed["event_id"]) == {"e3", "e8"}
    both = events(ctx, types=["task_added"], authors=3)
    assert (list(both.feed["event_id"]), both.total) == (["e4"], 1)
    capped = events(ctx, limit=2)
    assert (list(capped.feed["event_id"]), capped.total) == (["e8", "e7"], 6)
    assert list(capped.records("task_added")["event_id"]) == ["e8", "e4"]


def test_events_since(feed):
    ctx = ctx_of(feed)
    # Strictly newer than Mar 12 00:00: e7 (14th), e8 (15th); e4 at exactly 00:00 is not new.
    assert events_since(ctx, dt.datetime(2026, 3, 12)) == 2
    msk = dt.timezone(dt.timedelta(hours=3))
    assert events_since(ctx, dt.datetime(2026, 3, 12, 3, 0, tzinfo=msk)) == 2
    assert events_since(ctx, dt.datetime(2026, 3, 12), types="task_added") == 1
    assert events_since(ctx_of(feed, viewer=1), dt.datetime(2026, 2, 1)) == 1
    assert events_since(ctx, dt.datetime(2026, 3, 20)) == 0


def test_empty_feed(feed):
    r = events(ctx_of(feed, days=(dt.date(2025, 1, 1), dt.date(2025, 1, 31))))
    assert (r.total, len(r.feed), len(r.counts)) == (0, 0, 0)


@pytest.fixture(scope="module")
def busy_feed():
    """50 events on a live deal early in March, then 700 on a deleted deal at its end, and a
    few on tasks: the period's newest events are hidden from the feed."""
    b = AccountBuilder()
    b.deal(1, "2026-02-01", 11, owner=1)
    b.deal(2, "2026-02-01", 11, owner=1, deleted=True)
    rows = [(f"a{i:03d}", 1, dt.timedelta(days=1, minutes=37 * i)) for i in range(50)]
    rows += [(f"z{i:03d}", 2, dt.timedelta(days=20, minutes=13 * i)) for i in range(700)]
    for eid, deal, offset in rows:
        b.add(
            "events",
            event_id=eid,
            type="lead_status_changed",
            entity_type="deal",
            entity_id=deal,
            created_at=dt.datetime(2026, 3, 1) + offset,
            created_by=1,
            value_before=None,
            value_after=None,
        )
    for i, day in enumerate([2, 2, 30]):
        b.add(
            "events",
            event_id=f"t{i}",
            type="task_added",
            entity_type="task",
            entity_id=i,
            created_at=dt.datetime(2026, 3, day, 12, i),
            created_by=2,
            value_before=None,
            value_after=None,
        )
    return b.open()


@pytest.mark.parametrize("limit", [1, 2, 10, 49, 53, 60])
def test_feed_is_the_newest_visible_whatever_the_limit(busy_feed, limit):
    # The feed first reads the end of the period; where the hidden events there leave too few
    # visible ones it widens, so it always equals the plain newest-first list.
    r = events(ctx_of(busy_feed), limit=limit)
    assert r.total == 53
    assert list(r.feed["event_id"]) == list(r.records(limit=limit)["event_id"])
    assert len(r.feed) == min(limit, 53) and r.feed["created_at"].is_monotonic_decreasing
    assert "t2" in set(r.feed["event_id"])  # the newest visible event (March 30)
    assert set(r.sql()) == {"feed", "counts"}


def test_feed_filters_with_a_short_limit(busy_feed):
    ctx = ctx_of(busy_feed)
    r = events(ctx, types="lead_status_changed", limit=5)
    assert list(r.feed["event_id"]) == [f"a{i:03d}" for i in range(49, 44, -1)]
    assert r.total == 50 and r.counts.set_index("type")["count"].to_dict() == {
        "lead_status_changed": 50,
        "task_added": 3,
    }
    assert list(events(ctx, authors=2, limit=2).feed["event_id"]) == ["t2", "t1"]
    assert events(ctx_of(busy_feed, viewer=3), limit=5).total == 0  # Vera sees none of it


# Demo account -----------------------------------------------------------------------------------


def test_activity_and_events_on_the_demo(desk):
    ctx = Context(desk.store, desk.period("month"))
    a = activity(ctx)
    assert a.total > 100 and a.previous_total > 100
    assert a.table["total"].sum() == a.total == a.counts["count"].sum()
    assert (a.table[list(ACTION_TYPES)].sum() > 0).all()  # every kind of action happens
    assert len(a.records(type="calls_out", limit=20)) == 20
    e = events(ctx)
    assert e.total > 1000 and len(e.feed) == 200
    assert e.feed["created_at"].is_monotonic_decreasing
    assert events_since(ctx, ctx.now - dt.timedelta(hours=24)) > 0
    assert set(a.sql()) == {"counts"} and set(e.sql()) == {"feed", "counts"}
    own = int(desk.users().query("deal_access == 'own' and not is_admin")["user_id"].iloc[0])
    mine = activity(Context(desk.store, desk.period("month"), viewer=Viewer(own)))
    assert list(mine.table["user_id"]) == [own]
    for chart in (activity_chart(a), events_chart(e)):
        assert vl_convert.vegalite_to_svg(chart.to_dict()).startswith("<svg")


def test_moves_of_deals_the_store_does_not_hold_do_not_count():
    """A move of a deal missing from the store (removed in the CRM) counts nowhere: in a
    whole day (kept per-day counts) or in the part of a day before now (its raw rows), with
    the store's kept tables or without."""
    from accounts import kept_and_inline

    b = AccountBuilder()
    b.deal(1, "2026-03-02", 11, owner=1, moves=[("2026-03-10 10:00", 12), ("2026-03-20 09:00", 13)])
    for at in ("2026-03-10 11:00", "2026-03-20 10:00"):
        b.add(
            "deal_moves",
            deal_id=99,
            at=ts(at),
            from_pipeline_id=1,
            from_stage_id=11,
            to_pipeline_id=1,
            to_stage_id=12,
            by_user_id=1,
        )
    store = b.open()
    now = dt.datetime(2026, 3, 20, 15, tzinfo=dt.UTC)
    ctx = Context(store, Period.preset("month", now=now))

    def moves():
        r = activity(ctx)
        return r.table.set_index("user").loc["Anna", "stage_changes"], r.records(
            type="stage_changes"
        )

    for count, rows in kept_and_inline(store, moves):
        assert count == 2  # deal 1's two moves; deal 99's are not
        assert set(rows["entity_id"]) == {1}
    derived = {k[1][0] for k in store._memo if k[0] == "derived"}
    assert "moves' deals not held" in derived
