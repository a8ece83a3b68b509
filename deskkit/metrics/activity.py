"""Activity and the event feed: what the managers did during the period, and the account's events.

``activity`` counts human actions per author and type (robots excluded); ``events`` is the feed of
stored events with its filters, and ``events_since`` the "new events" count behind the highlight.
Both aggregate in the engine; only the counts (a few rows) and the capped feed come back.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import ibis
import pandas as pd

from deskkit.filters import Scope, owner_filter
from deskkit.metrics._base import ROBOT, Context, deal_ref, label_ids, to_sql

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from deskkit.filters import Period

__all__ = [
    "ACTION_TYPES",
    "ACTIVITY_DEFINITION",
    "EVENTS_DEFINITION",
    "Activity",
    "Events",
    "activity",
    "events",
    "events_since",
]

#: Action type -> label, in display order.
ACTION_TYPES: dict[str, str] = {
    "calls_in": "Incoming calls",
    "calls_out": "Outgoing calls",
    "messages_out": "Messages sent",
    "tasks_completed": "Tasks completed",
    "stage_changes": "Stage changes",
    "notes": "Notes",
    "deals_created": "Deals created",
}

ACTIVITY_DEFINITION = (
    "Actions per author during the period, by type: incoming and outgoing calls (by the call's "
    "user), outgoing chat messages (by their author), tasks completed (completed during the "
    "period, by the task's responsible user), stage changes (by the user who moved the deal), "
    "notes (by their author) and deals created (by their creator). An action is in scope when its "
    "author is; robots (Salesbot, digital pipeline) are excluded, and so are actions on deleted "
    "deals. The previous comparable period is shown alongside."
)

EVENTS_DEFINITION = (
    "The event feed: every stored event of the period whose author is in scope (robots' events "
    "appear only when the scope is everyone), newest first. Events on deals appear only when the "
    "deal is not deleted and the viewer may see it; other events when the viewer may see their "
    "author. Counts by type follow the entity and author filters but not the type filter, so every "
    "type shows what choosing it would give. New events: feed events created after the last view."
)


def _action(t: ir.Table, kind: str, user: str, at: str, rid: str, detail: ir.Value) -> ir.Table:
    return t.select(
        type=ibis.literal(kind),
        user_id=t[user],
        at=t[at],
        entity_type=t.entity_type,
        entity_id=t.entity_id,
        record_id=t[rid].cast("string"),
        detail=detail.cast("string"),
    )


def _actions(ctx: Context, spans: list[tuple[_dt.datetime, _dt.datetime]]) -> ir.Table:
    """Every human action in scope falling in one of ``spans``, as one tidy table."""
    calls = ctx.live(ctx.table("calls"))
    msgs = ctx.live(ctx.table("messages"))
    tasks = ctx.live(ctx.table("tasks"))
    notes = ctx.live(ctx.table("notes"))
    live = ctx.table("deals").filter(~ctx.table("deals").is_deleted.fill_null(False))
    moves = ctx.table("deal_moves").semi_join(live.select("deal_id"), "deal_id")
    moves = moves.mutate(entity_type=ibis.literal("deal"), entity_id=moves.deal_id)
    made = live.mutate(entity_type=ibis.literal("deal"), entity_id=live.deal_id)
    stage = moves.to_pipeline_id.cast("string") + ":" + moves.to_stage_id.cast("string")
    parts = [
        _action(
            calls.filter(calls.direction == "in"),
            "calls_in",
            "user_id",
            "created_at",
            "call_id",
            calls.duration_s,
        ),
        _action(
            calls.filter(calls.direction == "out"),
            "calls_out",
            "user_id",
            "created_at",
            "call_id",
            calls.duration_s,
        ),
        _action(
            msgs.filter(msgs.direction == "out"),
            "messages_out",
            "user_id",
            "created_at",
            "message_id",
            msgs.channel,
        ),
        _action(
            tasks.filter(tasks.completed_at.notnull()),
            "tasks_completed",
            "responsible_user_id",
            "completed_at",
            "task_id",
            tasks.text,
        ),
        _action(moves, "stage_changes", "by_user_id", "at", "deal_id", stage),
        _action(notes, "notes", "created_by", "created_at", "note_id", notes.note_type),
        _action(made, "deals_created", "created_by", "created_at", "deal_id", made.name),
    ]
    a = ibis.union(*parts)
    in_spans = ibis.or_(*[(a.at >= s) & (a.at < e) for s, e in spans])
    return a.filter(in_spans, a.user_id.notnull(), a.user_id != ROBOT, ctx.by_owner(a.user_id))


# Activity ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Activity:
    """Actions per author and type during the period.

    ``counts`` is tidy (``user_id, user, type, count``, non-zero rows only); ``table`` has one row
    per user in scope (zeros included), one column per action type, ``total`` and
    ``previous_total``; ``by_type`` has ``type, label, count, previous`` for every type.
    """

    period: Period
    scope: Scope
    counts: pd.DataFrame
    table: pd.DataFrame
    by_type: pd.DataFrame
    total: int
    previous_total: int
    _ctx: Context = field(repr=False, compare=False)

    definition = ACTIVITY_DEFINITION

    def sql(self) -> dict[str, str]:
        """The SQL the engine ran for these numbers (query name -> SQL)."""
        return to_sql(_activity_queries(self._ctx))

    def records(
        self, user: int | None = None, type: str | None = None, *, limit: int | None = 200
    ) -> pd.DataFrame:
        """The actions behind a count (newest first): ``type, at, user_id, user, entity_type,
        entity_id, deal, record_id, detail``; ``user``/``type`` narrow them."""
        ctx = self._ctx
        if type is not None and type not in ACTION_TYPES:
            raise ValueError(f"unknown action type {type!r}; use one of {list(ACTION_TYPES)}")
        a = _actions(ctx, [(ctx.t0, ctx.t1)])
        if user is not None:
            a = a.filter(a.user_id == int(user))
        if type is not None:
            a = a.filter(a.type == type)
        d = ctx.visible_deals().select(deal_id="deal_id", deal="name")
        j = a.left_join(d, deal_ref(a) == d.deal_id)
        j = j.select(
            "type", "at", "user_id", "entity_type", "entity_id", "deal", "record_id", "detail"
        ).order_by([ibis.desc("at"), "type", "record_id"])
        frame = label_ids(ctx.store, (j.limit(limit) if limit else j).to_pandas())
        return _stage_names(ctx, frame)


def _stage_names(ctx: Context, frame: pd.DataFrame) -> pd.DataFrame:
    """Stage changes' detail "pipeline:stage" -> the stage's name."""
    st = ctx.store.stages
    names = {f"{p}:{s}": n for p, s, n in zip(st.pipeline_id, st.stage_id, st.name, strict=True)}
    moved = frame["type"] == "stage_changes"
    frame.loc[moved, "detail"] = frame.loc[moved, "detail"].map(lambda k: names.get(k, k))
    return frame


def _activity_queries(ctx: Context) -> dict[str, ir.Table]:
    prev = ctx.previous()
    a = _actions(ctx, [(ctx.t0, ctx.t1), (prev.t0, prev.t1)])
    a = a.mutate(current=a.at >= ctx.t0)
    return {"counts": a.group_by(["current", "user_id", "type"]).aggregate(count=a.count())}


def activity(ctx: Context) -> Activity:
    """Actions per author and type during the period; see :data:`ACTIVITY_DEFINITION`."""
    raw = _activity_queries(ctx)["counts"].to_pandas()
    raw["count"] = raw["count"].astype("int64")
    cur, prev = raw.loc[raw["current"]], raw.loc[~raw["current"]]
    users = ctx.store.users
    owners = ctx.owners
    acted = set(cur["user_id"]) | set(prev["user_id"])
    keep = users["is_active"].fillna(False).astype(bool) | users["user_id"].isin(acted)
    if owners is not None:
        keep &= users["user_id"].isin(owners)
    ids = users.loc[keep, "user_id"].astype("int64").tolist()

    wide = cur.pivot_table(index="user_id", columns="type", values="count", aggfunc="sum")
    wide = wide.reindex(index=ids, columns=list(ACTION_TYPES)).fillna(0).astype("int64")
    wide["total"] = wide.sum(axis=1)
    prev_by_user = prev.groupby("user_id")["count"].sum()
    wide["previous_total"] = prev_by_user.reindex(ids).fillna(0).astype("int64")
    wide.columns.name = None
    table = label_ids(ctx.store, wide.rename_axis("user_id").reset_index())

    counts = cur[["user_id", "type", "count"]].sort_values(["user_id", "type"])
    counts = label_ids(ctx.store, counts.reset_index(drop=True))
    now_t, prev_t = cur.groupby("type")["count"].sum(), prev.groupby("type")["count"].sum()
    by_type = pd.DataFrame(
        {
            "type": list(ACTION_TYPES),
            "label": list(ACTION_TYPES.values()),
            "count": [int(now_t.get(k, 0)) for k in ACTION_TYPES],
            "previous": [int(prev_t.get(k, 0)) for k in ACTION_TYPES],
        }
    )
    return Activity(
        period=ctx.period,
        scope=ctx.scope,
        counts=counts,
        table=table,
        by_type=by_type,
        total=int(cur["count"].sum()),
        previous_total=int(prev["count"].sum()),
        _ctx=ctx,
    )


# Events -----------------------------------------------------------------------------------------


def _as_list(value: str | int | Iterable[str | int] | None) -> list | None:
    if value is None:
        return None
    if isinstance(value, str | int):
        return [value]
    return list(value)


def _feed(
    ctx: Context,
    types: str | Iterable[str] | None = None,
    entity_types: str | Iterable[str] | None = None,
    authors: int | Iterable[int] | None = None,
) -> ir.Table:
    """Events of the period in scope, visible to the viewer, matching the filters."""
    s = ctx.store
    e = ctx.table("events")
    by_author = owner_filter(e.created_by, ctx.scope.user_ids(s.users, s.groups))
    e = e.filter(ctx.during(e.created_at), by_author)
    if (kinds := _as_list(types)) is not None:
        e = e.filter(e.type.isin([str(k) for k in kinds]))
    if (ents := _as_list(entity_types)) is not None:
        e = e.filter(e.entity_type.isin([str(k) for k in ents]))
    if (who := _as_list(authors)) is not None:
        e = e.filter(e.created_by.isin([int(k) for k in who]))
    # Visibility as a join on the period's events, not an IN-subquery per row (which DuckDB ran
    # as a nested loop: seconds at 100k deals): events on deals need a visible, live deal.
    d = ctx.visible_deals().select(_visible_id="deal_id")
    j = e.left_join(d, deal_ref(e) == d._visible_id)
    seen = ibis.ifelse(
        j.entity_type == "deal",
        j._visible_id.notnull(),
        owner_filter(j.created_by, ctx.viewer.user_ids(s.users)),
    )
    e = j.filter(seen.fill_null(False)).select(*ctx.table("events").columns)
    return e


@dataclass(frozen=True)
class Events:
    """The event feed for the period: ``feed`` (newest first, at most ``limit`` rows),
    ``counts`` (``type, count``) and ``total`` (events matching every filter)."""

    period: Period
    scope: Scope
    feed: pd.DataFrame
    counts: pd.DataFrame
    total: int
    limit: int
    _ctx: Context = field(repr=False, compare=False)
    _filters: tuple = field(repr=False, compare=False)

    definition = EVENTS_DEFINITION

    def sql(self) -> dict[str, str]:
        """The SQL the engine ran for these numbers (query name -> SQL)."""
        return to_sql(_event_queries(self._ctx, *self._filters, self.limit))

    def records(self, type: str | None = None, *, limit: int | None = 200) -> pd.DataFrame:
        """The events behind a count (newest first), optionally of one ``type``."""
        types, ents, authors = self._filters
        e = _feed(self._ctx, [type] if type is not None else types, ents, authors)
        return _feed_rows(self._ctx, e, limit)


def _feed_rows(ctx: Context, e: ir.Table, limit: int | None) -> pd.DataFrame:
    d = ctx.visible_deals().select(deal_id="deal_id", deal="name")
    j = e.left_join(d, deal_ref(e) == d.deal_id)
    cols = ["event_id", "created_at", "type", "entity_type", "entity_id", "deal", "created_by"]
    j = j.select(*cols, "value_before", "value_after").order_by(
        [ibis.desc("created_at"), ibis.desc("event_id")]
    )
    return label_ids(ctx.store, (j.limit(limit) if limit else j).to_pandas())


def _event_queries(ctx: Context, types, entity_types, authors, limit: int) -> dict[str, ir.Expr]:
    every = _feed(ctx, None, entity_types, authors)
    chosen = _feed(ctx, types, entity_types, authors)
    d = ctx.visible_deals().select(deal_id="deal_id", deal="name")
    j = chosen.left_join(d, deal_ref(chosen) == d.deal_id)
    cols = ["event_id", "created_at", "type", "entity_type", "entity_id", "deal", "created_by"]
    feed = j.select(*cols).order_by([ibis.desc("created_at"), ibis.desc("event_id")])
    return {
        "feed": feed.limit(limit),
        "counts": every.group_by("type").aggregate(count=every.count()),
    }


def events(
    ctx: Context,
    types: str | Iterable[str] | None = None,
    entity_types: str | Iterable[str] | None = None,
    authors: int | Iterable[int] | None = None,
    limit: int = 200,
) -> Events:
    """The event feed for the period and scope; see :data:`EVENTS_DEFINITION`."""
    filters = (_as_list(types), _as_list(entity_types), _as_list(authors))
    q = _event_queries(ctx, *filters, limit)
    feed = label_ids(ctx.store, q["feed"].to_pandas())
    counts = q["counts"].to_pandas()
    counts["count"] = counts["count"].astype("int64")
    counts = counts.sort_values(["count", "type"], ascending=[False, True], ignore_index=True)
    chosen = counts if filters[0] is None else counts.loc[counts["type"].isin(filters[0])]
    return Events(
        period=ctx.period,
        scope=ctx.scope,
        feed=feed,
        counts=counts,
        total=int(chosen["count"].sum()),
        limit=limit,
        _ctx=ctx,
        _filters=filters,
    )


def events_since(
    ctx: Context,
    since: _dt.datetime,
    types: str | Iterable[str] | None = None,
    entity_types: str | Iterable[str] | None = None,
    authors: int | Iterable[int] | None = None,
) -> int:
    """Feed events created strictly after ``since`` (naive = UTC): the "new events" count."""
    if since.tzinfo is not None:
        since = since.astimezone(_dt.UTC).replace(tzinfo=None)
    e = _feed(ctx, types, entity_types, authors)
    return int(e.filter(e.created_at > since).count().execute())
