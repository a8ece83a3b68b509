"""Overdue tasks: deadlines missed during the period, next to the tasks overdue right now.

A task's deadline history is its original deadline followed by every ``task_deadline_changes``
row (ordered by ``at``): each deadline is in force from when it was set until the next change.
Only what was known at ``now`` counts (tasks created, changes made and completions done by then).
"""

from __future__ import annotations

import datetime as _dt
import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import ibis
import pandas as pd

from deskkit.filters import Scope
from deskkit.metrics._base import (
    Context,
    count_if,
    deal_ref,
    kept_or_inline,
    label_ids,
    to_sql,
    user_names,
)

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
#: The end of a stretch that has not ended (a plain range test then finds it).
_NEVER = _dt.datetime(9999, 12, 31)

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
#
# Few of the millions of tasks of a large account can matter to a request: those with a deadline
# in the period, and those not done now. Each query narrows the tasks to such candidates first
# and builds deadline histories for them alone; a history is always built from all of its task's
# changes, so it is the same as if every task's history were built.


def _tasks(ctx: Context) -> ir.Table:
    """Visible, in-scope tasks that existed at now (deleted deals are left to the caller)."""
    t = ctx.table("tasks")
    return t.filter(ctx.by_owner(t.responsible_user_id), t.created_at <= ctx.now)


def _open_after(t: ir.Table, moment: _dt.datetime | ir.TimestampValue) -> ir.BooleanValue:
    """Whether a task may not have been done by ``moment`` (a time or a column): true for every
    task whose ``done_at`` (see :func:`_candidates`) is null or after it, and a few more (done
    without a time). A test on one column, which the engine applies while scanning."""
    return (t.completed_at > moment) | t.completed_at.isnull()


def _candidates(ctx: Context, t: ir.Table, name: str) -> ir.Table:
    """Rows of ``t`` (from :func:`_tasks`) not on a deleted deal, with only what the queries
    need: ``task_id, responsible_user_id, created_at, deadline`` and ``done_at``, when the
    task was done (null = not done). ``name`` names the CTE, so it must be unique within a query."""
    done_at = t.completed_at.coalesce(
        ibis.ifelse(t.is_completed.fill_null(False), ibis.literal(_EPOCH), ibis.null("timestamp"))
    )
    cols = ["task_id", "responsible_user_id", "created_at", "deadline"]
    t = t.select(*cols, "entity_type", "entity_id", done_at=done_at)
    t = ctx.live(t).select(*cols, "done_at")
    # A named table becomes a CTE, which the engine computes once for all its uses.
    return t.alias(name)


def _changes(ctx: Context, tasks: ir.Table) -> ir.Table:
    """The deadline changes of ``tasks``, each with ``replaced_at``: when the task's next change
    (in order of ``at``) replaced its new deadline, null for the last one. A change made after
    now still ends a deadline, but only after now, where it cannot change any verdict about
    the past."""
    c = ctx.table("task_deadline_changes")
    c = c.filter(c.task_id.isin(tasks.task_id))
    w = ibis.window(group_by=c.task_id, order_by=[c.at, c.new_deadline])
    return c.mutate(replaced_at=c.at.lead().over(w))


def _set_by_changes(changes: ir.Table, tasks: ir.Table) -> ir.Table:
    """Each deadline a change of ``changes`` (from :func:`_changes`) set, with its task's
    columns from ``tasks``: ``task_id, responsible_user_id, done_at, deadline``, ``set_at``
    (when it became known: the change, or the task's creation if later) and ``replaced_at``."""
    j = changes.join(tasks, changes.task_id == tasks.task_id)
    return j.select(
        task_id=j.task_id,
        responsible_user_id=j.responsible_user_id,
        done_at=j.done_at,
        deadline=j.new_deadline,
        set_at=ibis.greatest(j.at, j.created_at),
        replaced_at=j.replaced_at,
    )


def _histories(tasks: ir.Table, changes: ir.Table, **more: ir.Scalar) -> ir.Table:
    """``tasks`` with their deadline history summed up from their ``changes`` (from
    :func:`_changes`): the original deadline ``first_deadline``, in force until
    ``first_changed_at`` (null = never changed), and ``more`` aggregates of the changes."""
    c = changes
    h = c.group_by(change_task_id=c.task_id).aggregate(
        first_changed_at=c.at.min(), first_old=c.old_deadline.argmin(c.at), **more
    )
    j = tasks.left_join(h, tasks.task_id == h.change_task_id)
    # Typed as the changes' deadlines (a store may say timestamp(6) for one, not the other).
    return j.mutate(first_deadline=j.first_old.coalesce(j.deadline).cast(c.new_deadline.type()))


def _status(ctx: Context, tasks: ir.Table, changes: ir.Table) -> ir.Table:
    """``tasks`` with their history (see :func:`_histories`), the deadline in force at now
    ``deadline_now``, and whether the task is done and overdue now."""
    now = ctx.now
    c = changes
    # The change in force at now, if any was made by then: the last one made by then, a single
    # row per task (changes made at the same moment are ordered by their new deadline).
    in_force = (c.at <= now) & (c.replaced_at.isnull() | (c.replaced_at > now))
    j = _histories(tasks, c, changed_to=c.new_deadline.max(where=in_force))  # of that one row
    # Changed by now: the deadline the change in force set; otherwise still the original one.
    deadline_now = ibis.ifelse(j.first_changed_at <= now, j.changed_to, j.first_deadline)
    done_now = j.done_at.notnull() & (j.done_at <= now)
    return j.select(
        "task_id",
        "responsible_user_id",
        "done_at",
        "first_changed_at",
        "first_deadline",
        deadline_now=deadline_now,
        done_now=done_now,
        overdue_now=~done_now & (deadline_now < now),
    )


def _overdue(ctx: Context) -> ir.Table:
    """Tasks overdue now: ``task_id, responsible_user_id, deadline_now``. Where the store keeps
    derived tables, every stretch of time a task was overdue is found once (see
    :func:`_spells`) and "now" picks the stretches it falls in: a period change, or the next
    minute's "now", then only filters. Elsewhere the tasks open at now are examined."""
    spells = ctx.store.derived(("overdue spells",), functools.partial(_spells, ctx))
    if spells is None:
        return _overdue_now(ctx)
    now = ctx.now
    s = spells.filter(
        ctx.by_owner(spells.responsible_user_id),
        spells.since <= now,
        spells.deadline < now,
        spells.until > now,
    )
    return s.select("task_id", "responsible_user_id", deadline_now=s.deadline)


def _overdue_now(ctx: Context) -> ir.Table:
    t = _tasks(ctx)
    t = _candidates(ctx, t.filter(_open_after(t, ctx.now)), "open_tasks")
    s = _status(ctx, t, _changes(ctx, t))
    s = s.filter(s.overdue_now)
    return s.select("task_id", "responsible_user_id", "deadline_now")


def _spells(ctx: Context) -> ir.Table:
    """Every stretch of time in which a task not on a deleted deal (any owner) was overdue,
    whatever "now": ``task_id, responsible_user_id, deadline`` (the deadline in force),
    ``since`` (from: the task's creation or the change that set the deadline, included) and
    ``until`` (to: the deadline's replacement or the task's completion, excluded; far in the
    future while neither happened). The task is overdue at t in it when ``since <= t``,
    ``deadline < t`` and ``t < until``: the rules of :func:`_status`, one stretch per deadline
    the task had. In order of ``until``, so a recent "now" reads only the last blocks."""
    tasks = _candidates(ctx, ctx.table("tasks"), "spell_tasks")
    c = _changes(ctx, tasks)
    h = _histories(tasks, c)
    # The original deadline, in force until the first change; then each change's.
    first = h.select(
        "task_id",
        "responsible_user_id",
        "done_at",
        deadline=h.first_deadline,
        since=h.created_at,
        ends=h.first_changed_at,
    )
    later = _set_by_changes(c, tasks).rename(since="set_at", ends="replaced_at")
    u = ibis.union(first, later)
    # The earlier of the replacement and the completion (a null is "never").
    never = ibis.literal(_NEVER)
    until = ibis.least(u.ends.coalesce(never), u.done_at.coalesce(never))
    u = u.select("task_id", "responsible_user_id", "deadline", "since", until=until)
    # Only stretches in which the task was overdue at some moment.
    return u.filter(u.until > u.since, u.until > u.deadline).order_by("until")


def _missed(ctx: Context, detail: bool = False) -> ir.Table:
    """Distinct (task, missed deadline) occurrences in the period: ``task_id,
    responsible_user_id, missed_deadline`` and the task's fate now, ``done_now`` and
    ``overdue_now``; ``detail`` adds the task's ``deadline_now`` (for the records)."""
    now = ctx.now
    occ = _occurrences(ctx)
    occ = occ.filter(
        ctx.by_owner(occ.responsible_user_id),
        ctx.during(occ.missed_deadline),
        occ.missed_deadline < now,
        occ.known_at <= now,
    )
    if detail:
        tasks = _tasks(ctx).semi_join(occ, "task_id")
        tasks = _candidates(ctx, tasks, "missed_tasks")
        s = _status(ctx, tasks, _changes(ctx, tasks))
        s = s.select("task_id", "deadline_now", "done_now", "overdue_now")
        occ = occ.join(s, "task_id")
        cols = ["deadline_now", "done_now", "overdue_now"]
    else:
        over = _overdue(ctx)
        occ = occ.mutate(
            done_now=occ.done_at.notnull() & (occ.done_at <= now),
            overdue_now=occ.task_id.isin(over.task_id),
        )
        # Whether the task missed several deadlines, where kept (see _missed_by).
        cols = ["done_now", "overdue_now", *(["multi"] if "multi" in occ.columns else [])]
    return occ.select("task_id", "responsible_user_id", "missed_deadline", *cols)


def _occurrences(ctx: Context) -> ir.Table:
    """Every missed deadline that can count, once per task, with ``known_at``, the moment it
    became known (the task's creation, or the change that set the deadline), and the task's
    ``done_at``.

    Whether a deadline that has passed was missed does not depend on "now" (a later change or
    completion cannot undo it), so where the store keeps derived tables, the deadlines missed
    by every task are found once, and a request picks its period's, known by its "now".
    Elsewhere only the tasks that can have missed one in the period are read.
    """
    return kept_or_inline(
        ctx,
        ("missed deadlines",),
        lambda: _missed_by(ctx, every=True),
        lambda: _missed_by(ctx, every=False),
    )


def _missed_by(ctx: Context, *, every: bool) -> ir.Table:
    """The deadlines missed by ``every`` task not on a deleted deal (deadlines at any time,
    known at any time, owners not filtered), or only those that can count for the request;
    each (task, deadline) once."""
    t = ctx.table("tasks")
    c = ctx.table("task_deadline_changes")
    if not every:
        # A task can only miss a deadline in the period if it was not done by the period's
        # start, and the deadline is either the task's own one (missed only if not done by
        # it), or the old or new deadline of one of its changes. A few more tasks may pass
        # these cheap tests: the verdict below is exact.
        moved = c.filter(ctx.during(c.old_deadline) | ctx.during(c.new_deadline))
        t = _tasks(ctx)
        own = ctx.during(t.deadline) & _open_after(t, t.deadline)
        t = t.filter(_open_after(t, ctx.t0), own | t.task_id.isin(moved.task_id))
    tasks = _candidates(ctx, t, "period_tasks")
    c = _changes(ctx, tasks)
    j = _histories(tasks, c)
    first = j.first_deadline
    # A deadline is missed if it passed while in force (not moved away at or before it) and
    # the task was not done by it.
    original = j.filter(
        j.first_changed_at.isnull() | (j.first_changed_at > first),
        j.done_at.isnull() | (j.done_at > first),
    ).select(
        "task_id",
        "responsible_user_id",
        "done_at",
        missed_deadline=first,
        known_at=j.created_at,
    )
    later = _set_by_changes(c, j)
    later = later.filter(
        later.replaced_at.isnull() | (later.replaced_at > later.deadline),
        later.done_at.isnull() | (later.done_at > later.deadline),
    )
    later = later.select(
        "task_id", "responsible_user_id", "done_at", missed_deadline="deadline", known_at="set_at"
    )
    rows = ibis.union(original, later)
    if not every:
        rows = rows.filter(ctx.during(rows.missed_deadline))
    # A task that had the same deadline twice missed it once, known from the first of them.
    # (Made distinct once, in the kept table, not at every request: a year's 440k deadlines
    # at 1M deals took 38 ms to make distinct again.)
    keys = ["task_id", "responsible_user_id", "missed_deadline", "done_at"]
    rows = rows.group_by(keys).aggregate(known_at=rows.known_at.min())
    if every:
        # Whether the task missed more than one deadline: a period counts the others' tasks
        # by their rows, and makes only these distinct (a tenth of the rows; counting every
        # row's task distinct was half of this widget's engine time at 1M deals).
        rows = rows.mutate(multi=rows.count().over(group_by=rows.task_id) > 1)
    return rows


def _queries(ctx: Context) -> dict[str, ir.Table]:
    """Per-user aggregates: missed deadlines by the task's fate, and tasks overdue now."""
    m = _missed(ctx)
    if "multi" in m.columns:
        tasks = m.task_id.nunique(where=m.multi) + count_if(~m.multi)
    else:
        tasks = m.task_id.nunique()
    missed = m.group_by("responsible_user_id").aggregate(
        occurrences=m.count(),
        tasks=tasks,
        completed_since=count_if(m.done_now),
        still_overdue=count_if(m.overdue_now),
    )
    s = _overdue(ctx)
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
        """The SQL behind the numbers (query name -> SQL), whole: the tasks overdue now are
        found from the store's tables, not read from the store's kept copy."""
        return to_sql(self._ctx, lambda: _queries(self._ctx))

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
            rows = _missed(ctx, detail=True)
            order = ["missed_deadline", "task_id"]
        elif which == "now":
            rows = _overdue(ctx)
            order = ["deadline_now", "task_id"]
        else:
            raise ValueError(f"unknown record kind {which!r}; use 'occurrences' or 'now'")
        if user is not None:
            (uid,) = Scope(user=user).user_ids(ctx.store.users, ctx.store.groups) or {None}
            rows = rows.filter(rows.responsible_user_id == uid)
        return _task_rows(ctx, rows, order, limit)


def _task_rows(ctx: Context, rows: ir.Table, order: list[str], limit: int | None) -> pd.DataFrame:
    t = _tasks(ctx)
    t = ctx.live(t).select(
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
    names = user_names(ctx.store)
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
