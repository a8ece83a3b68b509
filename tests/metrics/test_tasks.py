"""Overdue tasks: every rule on a hand-computed account, a property test against a plain-Python
reference on random reschedule/complete histories, and the demo account."""

from __future__ import annotations

import datetime as dt

import pytest
import vl_convert as vlc
from accounts import AccountBuilder, kept_and_inline, shared_store, ts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deskkit.charts.tasks import overdue_tasks_chart
from deskkit.filters import Period, Scope, Viewer
from deskkit.metrics._base import Context
from deskkit.metrics.tasks import overdue_tasks

MARCH = (dt.date(2026, 3, 1), dt.date(2026, 3, 31))
NOW = dt.datetime(2026, 4, 15, tzinfo=dt.UTC)


def add_task(
    b: AccountBuilder,
    task_id: int,
    deadline: str,
    *,
    owner: int = 1,
    done: str | None = None,
    changes: list[tuple[str, str]] = (),
    deal: int = 1,
    created: str = "2026-02-01",
) -> None:
    """A task with its original ``deadline`` and ``changes`` as (at, new_deadline)."""
    current = deadline
    for at, new in changes:
        old = ts(current)
        b.add(
            "task_deadline_changes",
            task_id=task_id,
            at=ts(at),
            old_deadline=old,
            new_deadline=ts(new),
        )
        current = new
    b.add(
        "tasks",
        task_id=task_id,
        entity_type="deal",
        entity_id=deal,
        responsible_user_id=owner,
        created_by=owner,
        task_type="call",
        text=f"Task {task_id}",
        created_at=ts(created),
        deadline=ts(current),
        is_completed=done is not None,
        completed_at=ts(done) if done else None,
    )


def ctx_of(store, period=MARCH, *, user=None, department=None, viewer=None, now=NOW) -> Context:
    p = period if isinstance(period, Period) else Period.between(*period, now=now)
    return Context(store, p, Scope(user, department), Viewer(viewer))


@pytest.fixture(scope="module")
def store():
    b = AccountBuilder()
    b.deal(1, "2026-01-01", 11)
    b.deal(2, "2026-01-01", 11, deleted=True)
    add_task(b, 1, "2026-03-10")  # missed, still overdue
    add_task(b, 2, "2026-03-10", done="2026-03-12")  # missed, completed late
    add_task(b, 3, "2026-03-10", done="2026-03-10")  # completed exactly at the deadline: on time
    add_task(b, 4, "2026-03-10", changes=[("2026-03-11", "2026-04-20")])  # missed, moved later
    add_task(
        b, 5, "2026-03-10", changes=[("2026-03-09", "2026-03-20")]
    )  # moved before: Mar 20 only
    add_task(
        b, 6, "2026-03-05", changes=[("2026-03-06", "2026-03-08"), ("2026-03-09", "2026-04-10")]
    )
    add_task(b, 7, "2026-02-20")  # overdue now, deadline before the period
    add_task(b, 8, "2026-03-01 00:00", done="2026-03-02")  # deadline at the first instant: in
    add_task(b, 9, "2026-04-01 00:00", done="2026-04-02")  # deadline at the end instant: out
    add_task(b, 10, "2026-03-10", done="2026-03-24", changes=[("2026-03-10", "2026-03-25")])
    add_task(b, 11, "2026-03-10", deal=2)  # on a deleted deal
    add_task(b, 12, "2026-03-15", owner=2)  # Boris: missed, overdue
    add_task(b, 13, "2026-03-16", owner=3, done="2026-03-17")  # Vera: missed, completed late
    add_task(b, 14, "2026-05-01")  # future deadline
    add_task(b, 15, "2026-03-20", done="2026-03-28", changes=[("2026-03-25", "2026-03-22")])
    back = [("2026-03-11", "2026-03-12"), ("2026-03-11 12:00", "2026-03-10")]  # away and back
    add_task(b, 16, "2026-03-10", done="2026-03-14", changes=back)
    return b.open()


def user_row(result, user_id: int) -> dict:
    return result.by_user.set_index("user_id").loc[user_id].to_dict()


def test_headline_numbers(store):
    r = overdue_tasks(ctx_of(store))
    # Anna: 1, 2, 4, 5 (Mar 20), 6 (Mar 5 and Mar 8), 8, 15 (Mar 20 and Mar 22), 16 (Mar 10
    # once) = 10; Boris 12 = 1; Vera 13 = 1 -> 12 missed deadlines.
    assert r.occurrences == 12
    # Overdue now: 1, 5, 6, 7 (Anna) and 12 (Boris) = 5.
    assert r.overdue_now == 5
    assert set(r.records("occurrences")["task_id"]) == {1, 2, 4, 5, 6, 8, 12, 13, 15, 16}
    assert sorted(r.records("now")["task_id"]) == [1, 5, 6, 7, 12]


def test_per_user_fates(store):
    r = overdue_tasks(ctx_of(store))
    anna = user_row(r, 1)
    # Completed late since: 2, 8, 15 (x2), 16 = 5; still overdue: 1, 5, 6 (x2) = 4; moved: 4 = 1.
    assert (anna["occurrences"], anna["tasks"]) == (10, 8)
    assert (anna["completed_since"], anna["still_overdue"], anna["rescheduled"]) == (5, 4, 1)
    # Overdue now 1, 5, 6, 7; of them 6 (Apr 10) and 7 (Feb 20) have a deadline outside March.
    assert (anna["overdue_now"], anna["now_outside_period"]) == (4, 2)
    assert anna["user"] == "Anna"
    assert user_row(r, 2)["occurrences"] == 1 and user_row(r, 2)["overdue_now"] == 1
    assert user_row(r, 3)["overdue_now"] == 0 and user_row(r, 3)["completed_since"] == 1
    assert list(r.by_user["user_id"]) == [1, 2, 3]  # most missed first, then by id


def test_each_missed_deadline_counts_once(store):
    rec = overdue_tasks(ctx_of(store)).records("occurrences")
    per_task = rec.groupby("task_id")["missed_deadline"].apply(list).to_dict()
    assert per_task[6] == [ts("2026-03-05"), ts("2026-03-08")]  # rescheduled after each passed
    assert per_task[15] == [ts("2026-03-20"), ts("2026-03-22")]  # moved into the past
    assert per_task[16] == [ts("2026-03-10")]  # the same deadline twice counts once
    assert per_task[5] == [ts("2026-03-20")]  # Mar 10 was moved away before it passed
    assert 10 not in per_task  # moved exactly at its deadline: in time
    status = dict(zip(rec["task_id"], rec["status"], strict=False))
    assert (status[2], status[4], status[1]) == ("completed late", "rescheduled", "overdue now")


def test_completion_at_the_deadline_is_on_time_and_edges_are_half_open(store):
    ids = set(overdue_tasks(ctx_of(store)).records("occurrences")["task_id"])
    assert 3 not in ids  # completed exactly at the deadline
    assert 8 in ids  # deadline at the period's first instant
    assert 9 not in ids  # deadline at the period's end instant
    april = overdue_tasks(ctx_of(store, (dt.date(2026, 4, 1), dt.date(2026, 4, 30))))
    # April until now (Apr 15): 9 (Apr 1 00:00, done Apr 2) and 6 (Apr 10, open); 4's Apr 20
    # and 14's May 1 have not passed.
    assert sorted(april.records("occurrences")["task_id"]) == [6, 9]


def test_deleted_deals_are_excluded(store):
    r = overdue_tasks(ctx_of(store))
    assert 11 not in set(r.records("occurrences")["task_id"])
    assert 11 not in set(r.records("now")["task_id"])


def test_state_is_what_was_known_at_now(store):
    # Looking on Mar 11 12:00: task 2 is not completed yet; task 4's move on Mar 11 00:00 and
    # task 16's move back to Mar 10 (at exactly that moment) are known; 15's Mar 25 move is not.
    r = overdue_tasks(ctx_of(store, now=dt.datetime(2026, 3, 11, 12, tzinfo=dt.UTC)))
    now_ids = sorted(r.records("now")["task_id"])
    # Overdue at that moment: 1, 2 (done Mar 12), 7, 16 (Mar 10 again, done Mar 14); Boris's
    # 12 (Mar 15), 5 (Mar 20) and 4 (Apr 20) are not due yet.
    assert now_ids == [1, 2, 7, 16]
    # Missed in [Mar 1, Mar 11 12:00): 1, 2, 4, 6 (Mar 5, Mar 8), 8, 16 -> 7 deadlines.
    assert r.occurrences == 7


def test_overdue_at_any_moment_comes_from_one_kept_table(store):
    """Walking "now" through March: the tasks overdue at each moment, on both paths. The store
    keeps every stretch a task was overdue once, not a table per moment."""
    kept = "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'deskkit_kept'"
    expected = {
        (3, 10, 12): [1, 2, 4, 7, 16],  # 10 was moved exactly at its deadline: in time
        (3, 11, 6): [1, 2, 7],  # 4 and 16 moved away at 00:00
        (3, 11, 18): [1, 2, 7, 16],  # 16 moved back to Mar 10 at 12:00
        (3, 26, 0): [1, 5, 7, 12, 15],  # 15 moved back to Mar 22 on Mar 25
    }
    tables = None
    for (month, day, hour), ids in expected.items():
        now = dt.datetime(2026, month, day, hour, tzinfo=dt.UTC)
        ctx = ctx_of(store, now=now)
        for r in kept_and_inline(store, lambda ctx=ctx: overdue_tasks(ctx)):
            assert sorted(r.records("now")["task_id"]) == ids, now
            assert r.overdue_now == len(ids)
        count = store.backend.con.execute(kept).fetchone()[0]
        assert tables in (None, count)  # no new kept table for a new moment
        tables = count


def test_a_deadline_set_again_counts_from_when_it_was_first_missed(store):
    # Task 16 missed Mar 10, was moved away on Mar 11 and back to Mar 10 at 12:00: looking at
    # 06:00, that deadline is already missed (known since the task was made), not only from
    # the move back. Missed by then: 1, 2, 4, 6 (Mar 5, Mar 8), 8, 16 -> 7 deadlines.
    r = overdue_tasks(ctx_of(store, now=dt.datetime(2026, 3, 11, 6, tzinfo=dt.UTC)))
    assert 16 in set(r.records("occurrences")["task_id"])
    assert r.occurrences == 7


def test_scope_user_and_department(store):
    assert overdue_tasks(ctx_of(store, user="Boris")).occurrences == 1
    south = overdue_tasks(ctx_of(store, department="South"))  # Vera and Head
    assert (south.occurrences, south.overdue_now) == (1, 0)
    assert list(south.by_user["user_id"]) == [3]
    north = overdue_tasks(ctx_of(store, department=1))  # Anna 10 + Boris 1
    assert (north.occurrences, north.overdue_now) == (11, 5)


def test_viewer_sees_only_their_rows(store):
    anna = overdue_tasks(ctx_of(store, viewer=1))
    assert (anna.occurrences, anna.overdue_now) == (10, 4)
    assert list(anna.by_user["user_id"]) == [1]
    assert set(anna.records("occurrences")["responsible_user_id"]) == {1}
    assert anna.records("now", user="Boris").empty
    assert overdue_tasks(ctx_of(store, viewer=1, user=2)).occurrences == 0
    boris = overdue_tasks(ctx_of(store, viewer=2))  # group: North = Anna + Boris
    assert boris.occurrences == 11
    sql = anna.sql()
    assert set(sql) == {"missed", "now"}
    assert all('"responsible_user_id" IN (1)' in text for text in sql.values())


def test_records_filter_by_user_and_limit(store):
    r = overdue_tasks(ctx_of(store))
    assert list(r.records("occurrences", user="Vera")["task_id"]) == [13]
    assert len(r.records("occurrences", limit=3)) == 3
    rec = r.records("now")
    assert {"responsible", "deal", "text", "deadline_now"} <= set(rec.columns)
    assert rec.set_index("task_id").loc[1, "deal"] == "Deal 1"
    with pytest.raises(ValueError, match="unknown record kind"):
        r.records("late")  # type: ignore[arg-type]


def test_explanation_names_the_numbers(store):
    text = overdue_tasks(ctx_of(store)).explanation
    assert "12 missed deadlines" in text and "5 tasks overdue now" in text
    assert "6 belong to tasks completed late" in text  # Anna 5 + Vera 1
    assert "2 of the tasks overdue now have a deadline outside the period" in text


def test_empty_account():
    r = overdue_tasks(ctx_of(AccountBuilder().open()))
    assert (r.occurrences, r.overdue_now) == (0, 0)
    assert r.by_user.empty and r.records("occurrences").empty
    assert r.explanation.startswith("No deadline was missed")
    vlc.vegalite_to_svg(overdue_tasks_chart(r).to_dict())


def test_definition_and_chart(store):
    r = overdue_tasks(ctx_of(store))
    assert "counts once per missed deadline" in r.definition
    spec = overdue_tasks_chart(r).to_dict()
    bars = spec["layer"][0]
    assert bars["mark"]["type"] == "bar" and bars["encoding"]["yOffset"]["field"] == "measure"
    # Two bars per user: Anna's are 10 missed and 4 now.
    anna = next(iter(spec["datasets"].values()))
    assert [(row["measure"][:6], row["tasks"]) for row in anna[:2]] == [
        ("Missed", 10),
        ("Overdu", 4),
    ]
    assert "<svg" in vlc.vegalite_to_svg(spec)


def test_demo_account(desk):
    ctx = Context(desk.store, desk.period("month"))
    r = overdue_tasks(ctx)
    assert r.occurrences > 0 and r.overdue_now > 0
    assert r.by_user["occurrences"].sum() == r.occurrences
    fates = r.by_user[["completed_since", "rescheduled", "still_overdue"]].sum(axis=1)
    assert (fates == r.by_user["occurrences"]).all() and (r.by_user["rescheduled"] >= 0).all()
    assert len(r.records("occurrences", limit=5)) == 5


def test_demo_periods_add_up(desk):
    """A quarter's missed deadlines are its months' (each query looks only at the tasks that
    can matter to its period: no deadline may slip between two periods' candidates)."""
    months = [
        (dt.date(2026, m, 1), dt.date(2026, m + 1, 1) - dt.timedelta(days=1)) for m in (6, 7, 8)
    ]
    quarter = overdue_tasks(Context(desk.store, desk.period((months[0][0], months[-1][1]))))
    parts = [overdue_tasks(Context(desk.store, desk.period(m))) for m in months]
    fates = ["occurrences", "completed_since", "rescheduled", "still_overdue"]
    whole = quarter.by_user.set_index("user_id")
    summed = sum(
        p.by_user.set_index("user_id")[fates].reindex(whole.index, fill_value=0) for p in parts
    )
    assert quarter.occurrences > 0 and (whole[fates] == summed).all().all()
    assert all(p.overdue_now == quarter.overdue_now for p in parts)  # whatever the period


# Property test --------------------------------------------------------------------------------

BASE = dt.datetime(2026, 3, 1)
EPOCH = dt.datetime(1970, 1, 1)


def _shared():
    """One DuckDB store for all examples: deals 1..3 (3 deleted); tasks are replaced each time."""
    b = AccountBuilder()
    for deal_id in (1, 2, 3):
        b.deal(deal_id, "2026-01-01", 11, owner=deal_id, deleted=deal_id == 3)
    return shared_store(__name__, b)


def hours(n: int) -> dt.datetime:
    return BASE + dt.timedelta(hours=n)


# Every instant is on a coarse 12-hour grid so that deadlines, changes, completions, period
# edges and "now" often coincide: the equal-time rules are where an engine goes wrong.
GRID = st.integers(0, 24).map(lambda k: k * 12)


@st.composite
def histories(draw):
    tasks, changes = [], []
    for task_id in range(1, draw(st.integers(0, 8)) + 1):
        created = draw(GRID) // 2
        deadline = draw(GRID)
        at = created
        for _ in range(draw(st.integers(0, 3))):
            # Often exactly at (or just around) the deadline in force, always after the last.
            near = deadline + draw(st.sampled_from([-12, 0, 0, 12]))
            at = max(at + 12, near) if draw(st.booleans()) else at + draw(st.sampled_from([12, 48]))
            new = draw(GRID)
            changes.append((task_id, hours(at), hours(deadline), hours(new)))
            deadline = new
        done = draw(st.sampled_from(["no", "yes", "yes", "untimed"]))
        # Completed exactly at, just before or after the final deadline, or anywhere.
        late = draw(st.sampled_from([0, 0, -12, 12, None]))
        done_at = hours(deadline + late if late is not None else draw(GRID))
        done_at = done_at if done == "yes" else None
        owner, deal = draw(st.sampled_from([1, 2, 3])), draw(st.sampled_from([1, 2, 3, 4]))
        tasks.append((task_id, deal, owner, hours(created), hours(deadline), done, done_at))
    return tasks, changes


def reference(tasks, changes, t0, t1, now, owners):
    """Straight from the definition: per user [missed, tasks, done since, still overdue,
    overdue now, overdue now outside P]."""
    out: dict[int, list[int]] = {}
    for task_id, deal, owner, created, deadline, done, done_at in tasks:
        if deal == 3 or created > now or (owners is not None and owner not in owners):
            continue
        chs = sorted((c for c in changes if c[0] == task_id), key=lambda c: (c[1], c[3]))
        first = chs[0][2] if chs else deadline
        seq = [(first, None, chs[0][1] if chs else None)]
        seq += [
            (c[3], c[1], chs[i + 1][1] if i + 1 < len(chs) else None) for i, c in enumerate(chs)
        ]
        seq = [s for s in seq if s[1] is None or s[1] <= now]
        finished = done_at if done == "yes" else EPOCH if done == "untimed" else None

        def done_by(t, finished=finished):
            return finished is not None and finished <= t

        missed = {
            d
            for d, _set, end in seq
            if t0 <= d < t1 and d < now and (end is None or end > d) and not done_by(d)
        }
        (d_now,) = [
            d for d, s, end in seq if (s is None or s <= now) and (end is None or end > now)
        ]
        over = not done_by(now) and d_now < now
        row = out.setdefault(owner, [0] * 6)
        row[0] += len(missed)
        row[1] += bool(missed)
        row[2] += len(missed) * done_by(now)
        row[3] += len(missed) * over
        row[4] += over
        row[5] += over and not (t0 <= d_now < t1)
    return {u: r for u, r in out.items() if r[0] or r[4]}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    history=histories(),
    first=st.integers(0, 6),
    length=st.integers(0, 8),
    now_h=st.one_of(GRID, st.just(24 * 12)),
    scope=st.sampled_from([Scope(), Scope(user=2), Scope(department=1)]),
)
def test_engine_matches_reference(history, first, length, now_h, scope):
    con, store = _shared()
    tasks, changes = history
    raw = con.con
    raw.execute("DELETE FROM tasks")
    raw.execute("DELETE FROM task_deadline_changes")
    for task_id, deal, owner, created, deadline, done, done_at in tasks:
        raw.execute(
            "INSERT INTO tasks VALUES (?, 'deal', ?, ?, ?, 'call', 't', ?, ?, ?, ?)",
            [task_id, deal, owner, owner, created, deadline, done != "no", done_at],
        )
    if changes:
        raw.executemany("INSERT INTO task_deadline_changes VALUES (?, ?, ?, ?)", changes)
    store.forget()  # the store keeps missed deadlines and tasks overdue now (Store.derived)
    day = BASE.date() + dt.timedelta(days=first)
    now = hours(now_h).replace(tzinfo=dt.UTC)
    period = Period.between(day, day + dt.timedelta(days=length), now=now)
    owners = {2} if scope.user == 2 else {1, 2} if scope.department == 1 else None
    want = reference(tasks, changes, period.start_utc, period.until_utc, period.now_utc, owners)
    cols = ["occurrences", "tasks", "completed_since", "still_overdue", "overdue_now"]
    # Both paths: the kept missed deadlines and tasks overdue now, and the inline queries.
    results = kept_and_inline(store, lambda: overdue_tasks(Context(store, period, scope)))
    for r in results:
        got = {
            int(row.user_id): [int(getattr(row, c)) for c in cols] + [int(row.now_outside_period)]
            for row in r.by_user.itertuples()
        }
        assert got == want
        assert r.occurrences == sum(v[0] for v in want.values())
    # Records are read when asked, here outside Store.inline(): the same query for both.
    assert len(results[0].records()) == results[0].occurrences


def test_kept_and_inline_records_and_counts_are_the_same(store):
    """The kept missed deadlines carry whether a task missed several (only those tasks are
    made distinct): the same task counts and the same record columns as the inline query."""
    import pandas as pd

    def run():
        r = overdue_tasks(ctx_of(store))
        return r.by_user, r.records()

    (kept_users, kept_rows), (inline_users, inline_rows) = kept_and_inline(store, run)
    pd.testing.assert_frame_equal(kept_users, inline_users)
    pd.testing.assert_frame_equal(kept_rows, inline_rows)
    # Some task missed more than one deadline in March: the distinct count matters.
    assert (kept_users["occurrences"] > kept_users["tasks"]).any()
