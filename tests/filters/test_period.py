"""Period presets, boundaries and previous periods, in time zones with and without DST."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from deskkit.filters import Period

MSK = "Europe/Moscow"  # UTC+3, no DST
BERLIN = "Europe/Berlin"  # DST: last Sunday of March 02:00 -> 03:00, October 03:00 -> 02:00


def local(tz: str, *args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=ZoneInfo(tz))


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def test_week_starts_monday_and_on_sunday_night_is_still_the_same_week():
    # Sunday 2026-11-29 23:30 Moscow = 20:30 UTC.
    p = Period.preset("week", timezone=MSK, now=utc(2026, 11, 29, 20, 30))
    assert p.start == local(MSK, 2026, 11, 23)
    assert p.end == local(MSK, 2026, 11, 30)
    # Monday 00:10 Moscow is Sunday 21:10 UTC: already the next week.
    q = Period.preset("week", timezone=MSK, now=utc(2026, 11, 29, 21, 10))
    assert q.start == local(MSK, 2026, 11, 30)


def test_utc_instant_on_a_different_local_day():
    # 2026-12-31 22:30 UTC is 2027-01-01 01:30 in Moscow: today/month/quarter/year are 2027's.
    now = utc(2026, 12, 31, 22, 30)
    assert Period.preset("today", timezone=MSK, now=now).first_day == dt.date(2027, 1, 1)
    assert Period.preset("month", timezone=MSK, now=now).first_day == dt.date(2027, 1, 1)
    assert Period.preset("quarter", timezone=MSK, now=now).first_day == dt.date(2027, 1, 1)
    assert Period.preset("year", timezone=MSK, now=now).first_day == dt.date(2027, 1, 1)
    assert Period.preset("yesterday", timezone=MSK, now=now).first_day == dt.date(2026, 12, 31)
    # In UTC the same instant is still 2026.
    assert Period.preset("year", timezone="UTC", now=now).first_day == dt.date(2026, 1, 1)


def test_month_edges():
    last_moment = Period.preset("month", timezone=MSK, now=local(MSK, 2026, 2, 28, 23, 59))
    assert (last_moment.first_day, last_moment.last_day) == (
        dt.date(2026, 2, 1),
        dt.date(2026, 2, 28),
    )
    first_moment = Period.preset("month", timezone=MSK, now=local(MSK, 2026, 3, 1, 0, 0))
    assert first_moment.first_day == dt.date(2026, 3, 1)
    leap = Period.preset("month", timezone=MSK, now=local(MSK, 2028, 2, 29, 12))
    assert leap.last_day == dt.date(2028, 2, 29)
    december = Period.preset("month", timezone=MSK, now=local(MSK, 2026, 12, 15))
    assert december.end == local(MSK, 2027, 1, 1)


def test_quarter_and_year():
    q = Period.preset("quarter", timezone=MSK, now=local(MSK, 2026, 8, 15))
    assert (q.first_day, q.last_day) == (dt.date(2026, 7, 1), dt.date(2026, 9, 30))
    y = Period.preset("year", timezone=MSK, now=local(MSK, 2026, 8, 15))
    assert (y.first_day, y.last_day) == (dt.date(2026, 1, 1), dt.date(2026, 12, 31))


def test_day_with_dst_change_is_23_or_25_hours_long():
    spring = Period.preset("today", timezone=BERLIN, now=local(BERLIN, 2026, 3, 29, 12))
    assert spring.end_utc - spring.start_utc == dt.timedelta(hours=23)
    assert spring.start_utc == dt.datetime(2026, 3, 28, 23, 0)  # CET midnight
    assert spring.end_utc == dt.datetime(2026, 3, 29, 22, 0)  # CEST midnight
    autumn = Period.preset("today", timezone=BERLIN, now=local(BERLIN, 2026, 10, 25, 12))
    assert autumn.end_utc - autumn.start_utc == dt.timedelta(hours=25)


def test_custom_range_includes_both_days():
    p = Period.between(
        dt.date(2026, 3, 1), dt.date(2026, 3, 31), timezone=BERLIN, now=utc(2026, 6, 1)
    )
    assert p.start_utc == dt.datetime(2026, 2, 28, 23, 0)
    assert p.end_utc == dt.datetime(2026, 3, 31, 22, 0)  # April 1st 00:00 CEST
    assert p.last_day == dt.date(2026, 3, 31)
    assert p.until == p.end  # entirely in the past
    one_day = Period.between(
        dt.date(2026, 3, 5), dt.date(2026, 3, 5), timezone=MSK, now=utc(2026, 6, 1)
    )
    assert one_day.end - one_day.start == dt.timedelta(days=1)
    with pytest.raises(ValueError, match="before first day"):
        Period.between(dt.date(2026, 3, 5), dt.date(2026, 3, 4), timezone=MSK)


def test_until_is_now_inside_the_period_and_start_for_a_future_one():
    now = local(MSK, 2026, 11, 25, 15)
    p = Period.preset("week", timezone=MSK, now=now)
    assert p.until == now
    future = Period.between(dt.date(2027, 1, 1), dt.date(2027, 1, 2), timezone=MSK, now=now)
    assert future.until == future.start


def test_previous_week_is_clipped_to_the_same_elapsed_time():
    p = Period.preset("week", timezone=MSK, now=local(MSK, 2026, 11, 25, 15))  # Wednesday 15:00
    prev = p.previous()
    assert prev.start == local(MSK, 2026, 11, 16)
    assert prev.until == local(MSK, 2026, 11, 18, 15)


def test_previous_month_clips_at_its_own_end():
    # March 31st 15:00: 30 days 15 hours elapsed; February is shorter, so all of February.
    p = Period.preset("month", timezone=MSK, now=local(MSK, 2026, 3, 31, 15))
    prev = p.previous()
    assert (prev.start, prev.until) == (local(MSK, 2026, 2, 1), local(MSK, 2026, 3, 1))
    mid = Period.preset("month", timezone=MSK, now=local(MSK, 2026, 3, 10, 9)).previous()
    assert (mid.start, mid.until) == (local(MSK, 2026, 2, 1), local(MSK, 2026, 2, 10, 9))


def test_previous_across_a_dst_change_keeps_wall_clock_time():
    # Week of 2026-03-30 (CEST) Wednesday 15:00 compares with the week before (CET/CEST mix):
    # same wall-clock Wednesday 15:00, though one hour fewer elapsed in absolute time.
    p = Period.preset("week", timezone=BERLIN, now=local(BERLIN, 2026, 4, 1, 15))
    prev = p.previous()
    assert prev.until == local(BERLIN, 2026, 3, 25, 15)
    today = Period.preset("today", timezone=BERLIN, now=local(BERLIN, 2026, 3, 30, 10))
    assert today.previous().until == local(BERLIN, 2026, 3, 29, 10)


def test_previous_of_full_periods_and_custom_ranges():
    y = Period.preset("yesterday", timezone=MSK, now=local(MSK, 2026, 3, 1, 10)).previous()
    assert (y.first_day, y.until) == (dt.date(2026, 2, 27), local(MSK, 2026, 2, 28))
    c = Period.between(
        dt.date(2026, 3, 10), dt.date(2026, 3, 16), timezone=MSK, now=utc(2026, 6, 1)
    ).previous()
    assert (c.first_day, c.last_day) == (dt.date(2026, 3, 3), dt.date(2026, 3, 9))
    q = Period.preset("quarter", timezone=MSK, now=local(MSK, 2026, 1, 20)).previous()
    assert q.first_day == dt.date(2025, 10, 1)
    yr = Period.preset("year", timezone=MSK, now=local(MSK, 2026, 1, 20)).previous()
    assert (yr.first_day, yr.until) == (dt.date(2025, 1, 1), local(MSK, 2025, 1, 20))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="unknown period preset 'fortnight'"):
        Period.preset("fortnight", timezone=MSK)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs dates"):
        Period.preset("custom", timezone=MSK)


def test_period_is_immutable():
    p = Period.preset("week", timezone=MSK, now=local(MSK, 2026, 11, 25, 15))
    before = (p.start, p.end, p.now)
    p.previous()
    p.with_now(utc(2027, 1, 1))
    assert (p.start, p.end, p.now) == before
    with pytest.raises(AttributeError):
        p.start = p.end  # type: ignore[misc]


def test_a_scope_takes_numpy_ids_as_read_from_a_dataframe():
    """An id taken from ``store.users`` is a numpy integer: it resolves like an int."""
    import numpy as np
    import pandas as pd

    from deskkit.filters import Scope

    users = pd.DataFrame({"user_id": [1, 2], "name": ["Anna", "Boris"], "group_id": [7, 8]})
    groups = pd.DataFrame({"group_id": [7, 8], "name": ["North", "South"]})
    assert Scope(user=np.int64(2)).user_ids(users, groups) == {2}
    assert Scope(department=groups["group_id"].iloc[0]).user_ids(users, groups) == {1}
    with pytest.raises(ValueError, match="unknown department 9"):
        Scope(department=np.int64(9)).user_ids(users, groups)
