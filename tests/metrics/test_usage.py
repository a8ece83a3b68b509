"""System usage: online hours clipped to the period, overlaps once, the derived fallback, and a
property test of the clipping against a plain-Python reference."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from accounts import AccountBuilder, shared_store, ts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deskkit.filters import Period, Scope, Viewer
from deskkit.metrics._base import Context
from deskkit.metrics.usage import system_usage

NOW = dt.datetime(2026, 4, 15, tzinfo=dt.UTC)
# A custom 31-day period: the previous one is Jan 29 – Feb 28.
MARCH = Period.between(dt.date(2026, 3, 1), dt.date(2026, 3, 31), now=NOW)
H = 3600.0


def session(b: AccountBuilder, user: int, start: str, end: str | None) -> None:
    b.add("presence", user_id=user, started_at=ts(start), ended_at=ts(end) if end else None)


@pytest.fixture(scope="module")
def store():
    b = AccountBuilder()
    session(b, 1, "2026-02-28 23:00", "2026-03-01 01:00")  # 1 h in March, 1 h before
    session(b, 1, "2026-03-10 09:00", "2026-03-10 11:00")  # 2 h
    session(b, 1, "2026-03-10 10:00", "2026-03-10 12:00")  # overlaps: adds 1 h
    session(b, 1, "2026-03-31 23:30", "2026-04-01 00:30")  # 0.5 h in March
    session(b, 1, "2026-04-01 00:00", "2026-04-01 02:00")  # after March
    session(b, 1, "2026-02-10 10:00", "2026-02-10 12:00")  # previous: 2 h
    session(b, 2, "2026-03-05 10:00", "2026-03-05 13:00")  # 3 h
    session(b, 2, "2026-03-31 22:00", None)  # still open: counts to the end, 2 h
    session(b, 3, "2026-02-11 10:00", "2026-02-11 11:00")  # previous only: 1 h
    return b.open()


def run(store, scope: Scope | None = None, viewer: int | None = None, period=MARCH):
    return system_usage(Context(store, period, scope or Scope(), Viewer(viewer)))


def hours(r) -> dict[int, tuple[float, float]]:
    u = r.users
    return {
        int(i): (h, p)
        for i, h, p in zip(u["user_id"], u["hours"], u["previous_hours"], strict=True)
    }


def test_clipped_hours_per_user(store):
    r = run(store)
    assert r.source == "presence"
    # Anna: 1 + (9–12 = 3) + 0.5 = 4.5 h; previous 1 + 2 = 3 h. Boris 3 + 2 = 5 h.
    # Vera: previous 1 h only. Head: active, no sessions: a row of zeros.
    assert hours(r) == {1: (4.5, 3.0), 2: (5.0, 0.0), 3: (0.0, 1.0), 9: (0.0, 0.0)}
    assert list(r.users["user"]) == ["Boris", "Anna", "Vera", "Head"]  # most hours first
    change = dict(zip(r.users["user_id"], r.users["change"], strict=True))
    assert change[1] == pytest.approx(0.5)  # (4.5 − 3) / 3
    assert change[3] == -1.0
    assert math.isnan(change[2]) and math.isnan(change[9])  # no previous time: no change
    assert (r.hours, r.previous_hours) == (9.5, 4.0)
    assert r.change == pytest.approx(5.5 / 4)


def test_records_sum_to_the_hours(store):
    rec = run(store).records(1)
    assert rec["seconds"].sum() == 4.5 * H
    # The overlapping session adds only the hour past the first one's end.
    assert sorted(rec["seconds"]) == [0.5 * H, H, H, 2 * H]
    first = rec.iloc[0]
    assert (first["counted_from"], first["started_at"]) == (
        ts("2026-03-01"),
        ts("2026-02-28 23:00"),
    )
    assert run(store).records(1, previous=True)["seconds"].sum() == 3 * H


def test_scope_and_viewer(store):
    assert hours(run(store, Scope(user=1))) == {1: (4.5, 3.0)}
    assert hours(run(store, Scope(department="North"))) == {1: (4.5, 3.0), 2: (5.0, 0.0)}
    anna = run(store, viewer=1)
    assert hours(anna) == {1: (4.5, 3.0)}
    assert set(anna.records()["user_id"]) == {1}


def test_empty_period(store):
    january = Period.between(dt.date(2026, 1, 1), dt.date(2026, 1, 7), now=NOW)
    r = run(store, period=january)
    assert r.hours == 0.0 and r.records().empty and math.isnan(r.change)


@pytest.fixture(scope="module")
def derived():
    """No presence for Anna and Boris: their sessions come from their own events."""
    b = AccountBuilder()
    events = [
        (1, "2026-03-02 10:00"),  # 10:00, 10:10, 10:20 -> one session to 10:25: 25 min
        (1, "2026-03-02 10:10"),
        (1, "2026-03-02 10:20"),
        (1, "2026-03-02 11:00"),  # 40 min later: lone, 5 min
        (1, "2026-03-02 12:00"),  # 12:00 and 12:15 are exactly 15 min apart: 5 + 5 min
        (1, "2026-03-02 12:15"),
        (0, "2026-03-02 13:00"),  # robot: never a session
        (1, "2026-02-28 23:55"),  # session 23:55 -> 00:10 crosses the start: 10 min in March
        (1, "2026-03-01 00:05"),
        (1, "2026-03-31 23:58"),  # lone, to 00:03: 2 min in March
        (2, "2026-03-03 09:00"),  # Boris: lone, 5 min
    ]
    for i, (by, at) in enumerate(events):
        b.add(
            "events",
            event_id=f"e{i}",
            type="note_added",
            entity_type="deal",
            entity_id=1,
            created_at=ts(at),
            created_by=by,
        )
    session(b, 3, "2026-03-04 10:00", "2026-03-04 11:00")  # only Vera has presence rows
    return b.open()


def test_sessions_derived_from_events(derived):
    r = run(derived, Scope(department="North"))
    assert r.source == "derived from events"
    minutes = {u: (h * 60, p * 60) for u, (h, p) in hours(r).items()}
    # Anna: 25 + 5 + 10 + 10 + 2 = 52 min; previous: 23:55 -> 00:00 = 5 min. Boris: 5 min.
    assert minutes[1] == pytest.approx((52.0, 5.0))
    assert minutes[2] == pytest.approx((5.0, 0.0))
    assert r.records(1)["seconds"].sum() == pytest.approx(52 * 60)
    assert r.records(1)["event_id"].notna().all()


def test_presence_anywhere_in_scope_means_presence(derived):
    r = run(derived)  # Vera's presence row exists: everyone's hours come from presence
    assert r.source == "presence"
    assert hours(r)[3] == (1.0, 0.0) and hours(r)[1] == (0.0, 0.0)


def test_sql_is_available(store):
    assert "OVER" in run(store).sql()["hours"].upper()


def test_demo_account(desk):
    r = system_usage(Context(desk.store, desk.period("month")))
    assert r.source == "presence" and len(r.users) >= 5
    assert (r.users["hours"] > 0).sum() >= 5 and r.previous_hours > 0
    # No one is online more than the period has hours.
    elapsed = (r.period.until_utc - r.period.start_utc).total_seconds() / H
    assert r.users["hours"].max() <= elapsed


# Property test: the engine's clipping and overlap removal equals a plain-Python reference. ----

BASE = dt.datetime(2026, 3, 1)
PNOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def reference(sessions, t0: dt.datetime, t1: dt.datetime, users) -> dict[int, float]:
    """Seconds online per user: the union of the sessions intersected with [t0, t1)."""
    out = {}
    for user in users:
        spans = sorted(
            (max(s, t0), min(e if e is not None else t1, t1)) for u, s, e in sessions if u == user
        )
        total, reach = 0.0, None
        for a, b in spans:
            if b <= a:
                continue
            start = a if reach is None else max(a, reach)
            if b > start:
                total += (b - start).total_seconds()
            reach = b if reach is None else max(reach, b)
        out[user] = total
    return out


sessions_st = st.lists(
    st.tuples(
        st.sampled_from([1, 2, 3]),
        # Whole hours from midnight: starts and ends often land exactly on period edges.
        st.integers(0, 24 * 30).map(lambda h: BASE + dt.timedelta(hours=h)),
        st.one_of(st.none(), st.sampled_from([0, 1, 2, 5, 24, 72]).map(lambda h: h * 60)),
    ).map(lambda t: (t[0], t[1], None if t[2] is None else t[1] + dt.timedelta(minutes=t[2]))),
    max_size=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sessions=sessions_st, first=st.integers(0, 25), length=st.integers(0, 6))
def test_clipping_matches_reference(sessions, first, length):
    con, store = shared_store(__name__)
    raw = con.con
    raw.execute("DELETE FROM presence")
    if sessions:
        raw.executemany("INSERT INTO presence VALUES (?, ?, ?)", sessions)
    store.forget()  # the store remembers whether there is presence data
    day = BASE.date() + dt.timedelta(days=first)
    period = Period.between(day, day + dt.timedelta(days=length), now=PNOW)
    r = system_usage(Context(store, period))
    prev = period.previous()
    for col, p in (("hours", period), ("previous_hours", prev)):
        # An open session counts to the period's end (its "now" is later than the end).
        want = reference(sessions, p.start_utc, p.until_utc, [1, 2, 3])
        got = dict(zip(r.users["user_id"], r.users[col] * H, strict=True))
        for user in (1, 2, 3):
            assert got[user] == pytest.approx(want[user]), (col, user)


def test_chart_renders_offline_with_change_labels(store):
    import vl_convert

    from deskkit.charts.usage import system_usage_chart

    svg = vl_convert.vegalite_to_svg(system_usage_chart(run(store)).to_dict())
    # Anna 4 h 30 min, +50%; Vera −100%; Boris has no previous time: "—".
    assert "4 h 30 min" in svg and "+50%" in svg and "\u2212100%" in svg and "—" in svg
