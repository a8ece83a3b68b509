"""Overdue tasks: deadlines missed during the period, next to the tasks overdue right now.

A task's deadline history is its original deadline followed by every ``task_deadline_changes``
row (ordered by ``at``): each deadline is in force from when it was set until the next change.
Only what was known at ``now`` counts (tasks created, changes made and completions done by then).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import ibis
import pandas as pd

from deskkit.filters import Scope
from deskkit.metrics._base import Context, count_if, deal_ref, label_ids, to_sql

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from deskkit.filters import Period

__all__ = ["DEFINITION", "OverdueTasks", "overdue_tasks"]

DEFINITION = (
    "Missed deadlines (the desktop's number): every deadline of a task in scope (by responsible "
    "user) that fell inside the period and has already passed, while the task was not completed "
    "at or before it and the deadline had not been moved away before it passed. A task counts "
    "once per missed deadline, even if it was later rescheduled or completed; a task rescheduled "
    "past two deadlines in the period counts twice. Overdue now (the task list's number): tasks "
    "not completed now whose current deadline has passed, whatever the period. A completion "
    "exactly at the deadline is on time; a change exactly at the deadline moves it in time. "
    "Tasks of deleted deals are never counted."
)

Which = Literal["occurrences", "now"]

# A completed task without a completion time is taken as completed on time (long ago).
_EPOCH = _dt.datetime(1970, 1, 1)

_USER_COLUMNS = {
    "occurrences": "int64",
    "tasks": "int64",
    "completed_since": "int64",
    "rescheduled": "int64",
    "still_overdue": "int64",
    "overdue_now": "int64",
    "now_outside_period": "int64",
}


# Engine expressions ---------------------------------------------------------------------------


def _tasks(ctx: Context) -> ir.Table:
    """Visible, in-scope tasks that existed at now and are not on a deleted deal, with the
    moment they were done (null = not done)."""
    t = ctx.table("tasks")
    t = ctx.live(t.filter(ctx.by_owner(t.responsible_user_id), t.created_at <= ctx.now))
    done_at = t.completed_at.coalesce(
        ibis.ifelse(t.is_completed.fill_null(False), ibis.literal(_EPOCH), ibis.null("timestamp"))
    )
    return t.mutate(done_at=done_at)


def _timeline(ctx: Context) -> ir.Table:
    """Every deadline a task had, known at now: ``task_id, deadline, set_at, replaced_at``.

    ``set_at`` is null for the original deadline; ``replaced_at`` is null for the deadline in
    force today (a change made after now still ends a deadline, but only after now, where it
    cannot change any verdict about the past).
    """
    c = ctx.table("task_deadline_changes")
    w = ibis.window(group_by=c.task_id, order_by=[c.at, c.new_deadline])
    chained = c.mutate(replaced_at=c.at.lead().over(w))
    changes = chained.filter(chained.at <= ctx.now).select(
        task_id=chained.task_id,
        deadline=chained.new_deadline,
        set_at=chained.at,
        replaced_at=chained.replaced_at,
    )
    first = c.group_by("task_id").aggregate(
        first_at=c.at.min(), first_old=c.old_deadline.argmin(c.at)
    )
    t = ctx.table("tasks")
    j = t.left_join(first, t.task_id == first.task_id)
    # Both halves of the union must carry the very same types (a store may say timestamp(6)).
    ts = changes.schema()
    original = j.select(
        task_id=j.task_id.cast(ts["task_id"]),
        deadline=j.first_old.coalesce(j.deadline).cast(ts["deadline"]),
        set_at=ibis.null(ts["set_at"]),
        replaced_at=j.first_at.cast(ts["replaced_at"]),
    )
    return ibis.union(original, changes, distinct=False)


def _status(ctx: Context) -> ir.Table:
    """One row per visible task with its deadline in force at now and whether it is overdue."""
    now = ctx.now
    tl = _timeline(ctx)
    current = tl.filter(
        tl.set_at.isnull() | (tl.set_at <= now),
        tl.replaced_at.isnull() | (tl.replaced_at > now),
    ).select(task_id=tl.task_id, deadline_now=tl.deadline)
    t = _tasks(ctx)
    j = t.join(current, "task_id")
    done_now = j.done_at.notnull() & (j.done_at <= now)
    return j.mutate(done_now=done_now, overdue_now=~done_now & (j.deadline_now < now))


def _missed(ctx: Context) -> ir.Table:
    """Distinct (task, missed deadline) occurrences in the period, with the task's status now."""
    tl = _timeline(ctx)
    tl = tl.filter(ctx.during(tl.deadline), tl.deadline < ctx.now)
    # Moved away at or before the deadline: it never passed, so it was not missed.
    tl = tl.filter(tl.replaced_at.isnull() | (tl.replaced_at > tl.deadline))
    occ = tl.select("task_id", "deadline").distinct()
    s = _status(ctx)
    j = occ.join(s, "task_id")
    j = j.filter(j.done_at.isnull() | (j.done_at > j.deadline))
    return j.select(
        task_id=j.task_id,
        responsible_user_id=j.responsible_user_id,
        missed_deadline=j.deadline,
        deadline_now=j.deadline_now,
        done_now=j.done_now,
        overdue_now=j.overdue_now,
    )


def _queries(ctx: Context) -> dict[str, ir.Table]:
    """Per-user aggregates: missed deadlines by the task's fate, and tasks overdue now."""
    m = _missed(ctx)
    missed = m.group_by("responsible_user_id").aggregate(
        occurrences=m.count(),
        tasks=m.task_id.nunique(),
        completed_since=count_if(m.done_now),
        still_overdue=count_if(m.overdue_now),
    )
    s = _status(ctx)
    s = s.filter(s.overdue_now)
    now = s.group_by("responsible_user_id").aggregate(
        overdue_now=s.count(),
        now_outside_period=count_if(~ctx.during(s.deadline_now)),
    )
    return {"missed": missed, "now": now}


# Result ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OverdueTasks:
    """Missed deadlines in the period and tasks overdue now, in total and per user.

    ``by_user`` has one row per responsible user with any number: ``user_id, user,
    occurrences, tasks, completed_since, rescheduled, still_overdue, overdue_now,
    now_outside_period``. The fate columns split ``occurrences`` by what became of the task:
    completed late since, moved to a deadline that has not passed, or still overdue now.
    """

    period: Period
    scope: Scope
    occurrences: int
    overdue_now: int
    by_user: pd.DataFrame
    explanation: str
    _ctx: Context = field(repr=False, compare=False)

    definition = DEFINITION

    def sql(self) -> dict[str, str]:
        """The SQL behind the numbers (query name -> SQL)."""
        return to_sql(_queries(self._ctx))

    def records(
        self,
        which: Which = "occurrences",
        user: int | str | None = None,
        *,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """The tasks behind a number: ``"occurrences"`` (one row per missed deadline, with the
        task's current deadline and status) or ``"now"`` (tasks overdue now); ``user`` narrows
        to one responsible user (id or name)."""
        ctx = self._ctx
        if which == "occurrences":
            rows = _missed(ctx)
            order = ["missed_deadline", "task_id"]
        elif which == "now":
            s = _status(ctx)
            rows = s.filter(s.overdue_now).select("task_id", "responsible_user_id", "deadline_now")
            order = ["deadline_now", "task_id"]
        else:
            raise ValueError(f"unknown record kind {which!r}; use 'occurrences' or 'now'")
        if user is not None:
            (uid,) = Scope(user=user).user_ids(ctx.store.users, ctx.store.groups) or {None}
            rows = rows.filter(rows.responsible_user_id == uid)
        return _task_rows(ctx, rows, order, limit)


def _task_rows(ctx: Context, rows: ir.Table, order: list[str], limit: int | None) -> pd.DataFrame:
    t = _tasks(ctx).select(
        "task_id", "task_type", "text", "entity_type", "entity_id", "created_at", "completed_at"
    )
    j = rows.join(t, "task_id")
    # Deal names only for deals the viewer may see (ctx.deals applies their rights).
    d = ctx.deals().select(deal_id="deal_id", deal="name")
    j = j.left_join(d, deal_ref(j) == d.deal_id).drop("deal_id")
    j = j.order_by(order)
    frame = (j.limit(limit) if limit else j).to_pandas()
    if "done_now" in frame:
        frame["status"] = [
            "completed late" if done else "overdue now" if over else "rescheduled"
            for done, over in zip(frame["done_now"], frame["overdue_now"], strict=True)
        ]
        frame = frame.drop(columns=["done_now", "overdue_now"])
    return label_ids(ctx.store, frame)


def _explain(occ: int, tasks: int, done: int, moved: int, still: int, now: int, out: int) -> str:
    """Why the desktop's number and the task list's number differ, in words."""
    if occ == 0 and now == 0:
        return "No deadline was missed in the period and no task is overdue now."
    parts = [
        f"The desktop counts {occ} missed deadline{'s' * (occ != 1)} in the period "
        f"({tasks} task{'s' * (tasks != 1)}); the task list shows {now} task"
        f"{'s' * (now != 1)} overdue now."
    ]
    if occ:
        parts.append(
            f"Of the missed deadlines, {done} belong to tasks completed late since and {moved} "
            f"to tasks moved to a deadline that has not passed yet (neither is overdue now); "
            f"{still} belong to tasks still overdue."
        )
    if out:
        parts.append(
            f"{out} of the tasks overdue now have a deadline outside the period, so the "
            "desktop's number for this period leaves them out."
        )
    if tasks < occ:
        parts.append("A task that missed several deadlines in the period counts once for each.")
    return " ".join(parts)


def overdue_tasks(ctx: Context) -> OverdueTasks:
    """Missed deadlines in the period vs tasks overdue now; see :data:`DEFINITION`."""
    q = _queries(ctx)
    missed = q["missed"].to_pandas()
    now = q["now"].to_pandas()
    table = missed.merge(now, on="responsible_user_id", how="outer")
    table = table.rename(columns={"responsible_user_id": "user_id"})
    for col in _USER_COLUMNS:
        if col not in table:
            table[col] = 0
    table[list(_USER_COLUMNS)] = table[list(_USER_COLUMNS)].fillna(0)
    table["rescheduled"] = table["occurrences"] - table["completed_since"] - table["still_overdue"]
    names = ctx.store.users.set_index("user_id")["name"]
    table.insert(1, "user", table["user_id"].map(names))
    table = table.astype({"user_id": "int64", **_USER_COLUMNS})
    table = table.sort_values(
        ["occurrences", "overdue_now", "user_id"], ascending=[False, False, True]
    )
    table = table[["user_id", "user", *_USER_COLUMNS]].reset_index(drop=True)
    total = {col: int(table[col].sum()) for col in _USER_COLUMNS}
    explanation = _explain(
        total["occurrences"],
        total["tasks"],
        total["completed_since"],
        total["rescheduled"],
        total["still_overdue"],
        total["overdue_now"],
        total["now_outside_period"],
    )
    return OverdueTasks(
        period=ctx.period,
        scope=ctx.scope,
        occurrences=total["occurrences"],
        overdue_now=total["overdue_now"],
        by_user=table,
        explanation=explanation,
        _ctx=ctx,
    )
