"""Activity and the event feed: what the managers did during the period, and the account's events.

``activity`` counts human actions per author and type (robots excluded); ``events`` is the feed of
stored events with its filters, and ``events_since`` the "new events" count behind the highlight.
Both aggregate in the engine; only the counts (a few rows) and the capped feed come back.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import ibis
import pandas as pd

from deskkit.filters import Scope, owner_filter
from deskkit.metrics._base import (
    ROBOT,
    Context,
    Span,
    deal_ref,
    label_ids,
    latest_at,
    span_rows,
    to_sql,
    with_deal_owner,
)
from deskkit.metrics._rollup import DayGrid, from_days

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from deskkit.filters import Period

    #: An action source: (rows, type, author column, time column, record id column, detail,
    #: deal id).
    Source = tuple[ir.Table, str | ir.StringValue, str, str, str, ir.Value, ir.IntegerValue]

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


def _sources(ctx: Context, spans: list[Span] | None = None) -> list[Source]:
    """Where each type of action comes from, as (rows, type, author, time, record id, detail,
    deal it is on); with ``spans``, only the rows whose time falls in one of them."""

    def rows(name: str, at: str) -> ir.Table:
        # The spans cut each stored table first, where the engine can skip to them.
        t = ctx.table(name)
        return t if spans is None else span_rows(t, at, spans)

    calls, msgs = rows("calls", "created_at"), rows("messages", "created_at")
    calls = calls.filter(calls.direction.isin(["in", "out"]))
    msgs = msgs.filter(msgs.direction == "out")
    # Tasks count at their completion: a completion time in a span is not NULL.
    tasks, notes = rows("tasks", "completed_at"), rows("notes", "created_at")
    # Moves count on deals there are (and not deleted: see _done).
    moves = ctx.table("deal_moves")
    check = _on_deals_there(ctx)
    # The check on each span's moves, before they are put together: DuckDB then builds it on
    # those few moves (not on the million deals) while it sees a plain range of them.
    moves = check(moves) if spans is None else span_rows(moves, "at", spans, each=check)
    made = rows("deals", "created_at")
    made = made.filter(~made.is_deleted.fill_null(False))
    stage = moves.to_pipeline_id.cast("string") + ":" + moves.to_stage_id.cast("string")
    # Both call directions in one pass over the calls (a type per row, not two scans).
    call_type = ibis.ifelse(calls.direction == "in", "calls_in", "calls_out")
    return [
        (calls, call_type, "user_id", "created_at", "call_id", calls.duration_s, deal_ref(calls)),
        (msgs, "messages_out", "user_id", "created_at", "message_id", msgs.channel, deal_ref(msgs)),
        (
            tasks,
            "tasks_completed",
            "responsible_user_id",
            "completed_at",
            "task_id",
            tasks.text,
            deal_ref(tasks),
        ),
        (moves, "stage_changes", "by_user_id", "at", "deal_id", stage, moves.deal_id),
        (notes, "notes", "created_by", "created_at", "note_id", notes.note_type, deal_ref(notes)),
        (
            made,
            "deals_created",
            "created_by",
            "created_at",
            "deal_id",
            made.name,
            ibis.null("int64"),
        ),
    ]


def _on_deals_there(ctx: Context) -> Callable[[ir.Table], ir.Table]:
    """Keeps the moves (rows with ``deal_id``) of deals the store holds. Where it keeps derived
    tables, the ids of moves' deals it does not hold are found once (none in most accounts)
    and a request's moves are checked against them: matching a span's few thousand moves
    with the deals probed all million of them (12 of activity's 25 ms at 1M deals)."""
    m, there = ctx.table("deal_moves"), ctx.table("deals").select("deal_id")

    def gone() -> ir.Table:
        ids = m.filter(m.deal_id.notnull()).select("deal_id").distinct()
        return ids.anti_join(there, "deal_id")

    missing = ctx.store.derived(("moves' deals not held",), gone)
    if missing is None:
        return lambda t: t.semi_join(there, "deal_id")
    return lambda t: t.filter(t.deal_id.notnull()).anti_join(missing, "deal_id")


def _done(ctx: Context, parts: list[ir.Table], scoped: bool = True) -> ir.Table:
    """The union of ``parts`` (``at``, ``user_id``, ``deal``, ...): actions done (``at`` not
    NULL) by a human author (in scope if ``scoped``), not on a deleted deal. DuckDB pushes the
    filter into every source's scan; one join with the deleted deals (a few percent: a small
    build side) serves them all."""
    a = ibis.union(*parts)
    who = a.user_id
    a = a.filter(a.at.notnull(), who.notnull(), who != ROBOT)
    if scoped:
        a = a.filter(ctx.by_owner(who))
    d = ctx.table("deals")
    gone = d.filter(d.is_deleted.fill_null(False)).select("deal_id")
    return a.anti_join(gone, a.deal == gone.deal_id)


def _actions(ctx: Context, spans: list[Span]) -> ir.Table:
    """Every human action in scope falling in one of ``spans``, as one tidy table."""
    parts = []
    for t, kind, user, at, rid, detail, deal in _sources(ctx, spans):
        on_deal = "entity_type" not in t.columns  # moves and created deals
        parts.append(
            t.select(
                type=ibis.literal(kind) if isinstance(kind, str) else kind,
                user_id=t[user],
                at=t[at],
                entity_type=ibis.literal("deal") if on_deal else t.entity_type,
                entity_id=t.deal_id if on_deal else t.entity_id,
                record_id=t[rid].cast("string"),
                detail=detail.cast("string"),
                deal=deal,
            )
        )
    return _done(ctx, parts).drop("deal")


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
        """The SQL behind these numbers (query name -> SQL), whole: counted from the actions
        themselves, not from the store's kept per-day counts."""
        return to_sql(self._ctx, lambda: _activity_queries(self._ctx))

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
    """Actions per (period, author, type) for both periods, in one pass over each source. The
    type comes back as its position in :data:`ACTION_TYPES` (a small integer groups faster than
    a string over the million actions)."""
    prev = ctx.previous()
    code = {kind: ibis.literal(i, "int8") for i, kind in enumerate(ACTION_TYPES)}

    def parts(spans: list[Span] | None) -> list[ir.Table]:
        out = []
        for t, kind, user, at, _, _, deal in _sources(ctx, spans):
            if not isinstance(kind, str):  # calls: in or out
                kind = ibis.ifelse(t.direction == "in", code["calls_in"], code["calls_out"])
            else:
                kind = code[kind]
            out.append(t.select(at=t[at], user_id=t[user], type=kind, deal=deal))
        return out

    spans = [(ctx.t0, ctx.t1), (prev.t0, prev.t1)]
    grid = DayGrid.of(ctx.period.timezone)

    def per_day() -> ir.Table:
        a = _done(ctx, parts(None), scoped=False)
        return a.group_by("user_id", "type", day=grid.day(a.at)).aggregate(n=a.count())

    days = ctx.store.derived(("actions per day", grid), per_day)
    if days is None:
        a = _done(ctx, parts(spans))
        keys = {"current": a.at >= ctx.t0, "user_id": a.user_id, "type": a.type}
        return {"counts": a.group_by(**keys).aggregate(count=a.count())}
    # Whole days from the kept counts, the partial days at the spans' edges from the rows.
    days = days.filter(ctx.by_owner(days.user_id))
    a = from_days(days, lambda p: _done(ctx, parts(p)), spans, grid, ctx.t0, ["user_id", "type"])
    return {"counts": a.rename(count="n")}


def activity(ctx: Context) -> Activity:
    """Actions per author and type during the period; see :data:`ACTIVITY_DEFINITION`."""
    raw = _activity_queries(ctx)["counts"].to_pandas()
    raw["count"] = raw["count"].astype("int64")
    names = pd.Series(list(ACTION_TYPES), dtype="str")
    raw["type"] = names.take(raw["type"].to_numpy()).set_axis(raw.index)
    cur, prev = raw.loc[raw["current"]], raw.loc[~raw["current"]]
    users = ctx.store.users
    owners = ctx.owners
    acted = set(cur["user_id"]) | set(prev["user_id"])
    keep = users["is_active"].fillna(False).astype(bool) | users["user_id"].isin(acted)
    if owners is not None:
        keep &= users["user_id"].isin(owners)
    ids = users.loc[keep, "user_id"].astype("int64").tolist()

    # groupby + unstack: pivot_table's result, in half the time.
    wide = cur.groupby(["user_id", "type"])["count"].sum().unstack("type")
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


def _matching(
    ctx: Context,
    types: str | Iterable[str] | None = None,
    entity_types: str | Iterable[str] | None = None,
    authors: int | Iterable[int] | None = None,
    spans: list[Span] | None = None,
) -> ir.Table:
    """Events of the period (or of ``spans``) in scope matching the filters, before the
    viewer's rights."""
    e = span_rows(ctx.table("events"), "created_at", spans or [(ctx.t0, ctx.t1)])
    conds = [owner_filter(e.created_by, ctx.scope_ids)]
    if (kinds := _as_list(types)) is not None:
        conds.append(e.type.isin([str(k) for k in kinds]))
    if (ents := _as_list(entity_types)) is not None:
        conds.append(e.entity_type.isin([str(k) for k in ents]))
    if (who := _as_list(authors)) is not None:
        conds.append(e.created_by.isin([int(k) for k in who]))
    return e.filter(*conds)


def _visible(ctx: Context, e: ir.Table) -> ir.Table:
    """The events of ``e`` the viewer may see (plus a ``_visible_id`` column): events on deals
    need a visible, live deal; other events a visible author."""
    # A join on the period's events, not an IN-subquery per row (which DuckDB ran as a nested
    # loop: seconds at 100k deals).
    d = ctx.visible_deals().select(_visible_id="deal_id")
    j = e.left_join(d, deal_ref(e) == d._visible_id)
    seen = ibis.ifelse(
        j.entity_type == "deal",
        j._visible_id.notnull(),
        owner_filter(j.created_by, ctx.viewer_ids),
    )
    return j.filter(seen.fill_null(False))


def _feed(
    ctx: Context,
    types: str | Iterable[str] | None = None,
    entity_types: str | Iterable[str] | None = None,
    authors: int | Iterable[int] | None = None,
) -> ir.Table:
    """Events of the period in scope, visible to the viewer, matching the filters."""
    e = _matching(ctx, types, entity_types, authors)
    return _visible(ctx, e).select(*e.columns)


#: Newest first.
_NEWEST = [ibis.desc("created_at"), ibis.desc("event_id")]


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
    _window: tuple | None = field(default=None, repr=False, compare=False)

    definition = EVENTS_DEFINITION

    def sql(self) -> dict[str, str]:
        """The SQL behind these numbers (query name -> SQL), whole: the counts from the events
        themselves, not from the store's kept per-day counts."""
        ctx, (types, ents, authors) = self._ctx, self._filters
        return to_sql(
            ctx,
            lambda: {
                "feed": _newest(ctx, types, ents, authors, self.limit, self._window),
                "counts": _type_counts(ctx, ents, authors),
            },
        )

    def records(self, type: str | None = None, *, limit: int | None = 200) -> pd.DataFrame:
        """The events behind a count (newest first), optionally of one ``type``."""
        types, ents, authors = self._filters
        e = _feed(self._ctx, [type] if type is not None else types, ents, authors)
        return _feed_rows(self._ctx, e, limit)


def _feed_rows(ctx: Context, e: ir.Table, limit: int | None) -> pd.DataFrame:
    d = ctx.visible_deals().select(deal_id="deal_id", deal="name")
    j = e.left_join(d, deal_ref(e) == d.deal_id)
    cols = ["event_id", "created_at", "type", "entity_type", "entity_id", "deal", "created_by"]
    j = j.select(*cols, "value_before", "value_after").order_by(_NEWEST)
    return label_ids(ctx.store, (j.limit(limit) if limit else j).to_pandas())


def _type_counts(ctx: Context, entity_types, authors) -> ir.Table:
    """Per type, the feed's events whatever the type filter (so every type shows what choosing
    it would give)."""
    grid = DayGrid.of(ctx.period.timezone)
    days = ctx.store.derived(("events per day", grid), lambda: _events_per_day(ctx, grid))
    if days is None:
        v = _visible(ctx, _matching(ctx, None, entity_types, authors))
        return v.group_by("type").aggregate(count=v.count())

    def counted(t: ir.Table) -> ir.Table:
        """Kept rows (``created_by, entity_type, live_deal, deal_owner``, as counted per day
        or as the tail's events) with the filters and rights _matching and _visible apply."""
        conds = [owner_filter(t.created_by, ctx.scope_ids)]
        if (ents := _as_list(entity_types)) is not None:
            conds.append(t.entity_type.isin([str(k) for k in ents]))
        if (who := _as_list(authors)) is not None:
            conds.append(t.created_by.isin([int(k) for k in who]))
        viewer = ctx.viewer_ids
        seen = ibis.ifelse(
            t.entity_type == "deal",
            t.live_deal & owner_filter(t.deal_owner, viewer),
            owner_filter(t.created_by, viewer),
        )
        return t.filter(*conds, seen.fill_null(False))

    def edges(spans: list[Span]) -> ir.Table:
        tail = _events_tail(ctx, grid)  # made when first needed: not for whole days only
        kept = [s for s in spans if tail is not None and s[0] >= tail[0]]
        pieces = []
        if kept:
            t = counted(span_rows(tail[1], "created_at", kept))  # type: ignore[index]
            pieces.append(t.select("type", at=t.created_at))
        if rest := [s for s in spans if s not in kept]:
            v = _visible(ctx, _matching(ctx, None, entity_types, authors, rest))
            pieces.append(v.select("type", at=v.created_at))
        return ibis.union(*pieces) if len(pieces) > 1 else pieces[0]

    # Whole days from the kept counts; the partial days at the period's edges from the kept
    # tail where they fall in it (a period ending now), else from the rows themselves.
    a = from_days(counted(days), edges, [(ctx.t0, ctx.t1)], grid, ctx.t0, ["type"])
    # One span, all of it current: the ``current`` column is True on every row.
    return a.group_by("type").aggregate(count=a.n.sum().cast("int64"))


def _events_per_day(ctx: Context, grid: DayGrid) -> ir.Table:
    """Every event counted per (day, type, author, entity type, live deal, deal owner): what
    the period, scope, filters and viewer's rights of the feed's counts are decided on. The
    events meet the live deals once here, not at every request (the join is most of a year's
    cost)."""
    j = with_deal_owner(ctx, ctx.table("events"))
    j = j.mutate(day=grid.day(j.created_at))
    keys = ["day", "type", "created_by", "entity_type", "live_deal", "deal_owner"]
    return j.group_by(*keys).aggregate(n=j.count())


def _events_tail(ctx: Context, grid: DayGrid) -> tuple[_dt.datetime, ir.Table] | None:
    """``(start, rows)``: the events of the last two days the store has events on (grid
    days), each with its deal's owner (:func:`~deskkit.metrics._base.with_deal_owner`), kept;
    None where the store keeps nothing or has no events. A period ending now ends inside the
    last day (or later, where there is no event), and starts at a local midnight up to an
    hour before a grid day (summer time): its partial day is read here, not from the events,
    whose rights check made DuckDB hash all the live deals (it estimates a day's events as a
    fifth of them all), most of a period change's events cost at 1M deals."""
    latest = latest_at(ctx, "events", "created_at")
    if latest is None:
        return None
    start = grid.start(grid.number(latest) - 1)

    def rows() -> ir.Table:
        e = ctx.table("events")
        t = with_deal_owner(ctx, e.filter(e.created_at >= start))
        return t.select(
            "created_at", "type", "created_by", "entity_type", "live_deal", "deal_owner"
        )

    t = ctx.store.derived(("events tail", grid, start), rows)
    return None if t is None else (start, t)


def _newest(ctx: Context, types, entity_types, authors, limit: int, window) -> ir.Table:
    """The feed's ``limit`` newest events, with their deal's name. ``window`` = (since, k)
    first keeps only the ``k`` newest matching events since ``since``: an exact shortcut when
    ``limit`` of them are visible (every other event is older), and a cheap one, since only
    a few rows of the period are read in full and meet the deals."""
    e = _matching(ctx, types, entity_types, authors)
    if window is not None:
        since, k = window
        e = e.filter(e.created_at >= since).order_by(_NEWEST).limit(k)
    top = _visible(ctx, e).order_by(_NEWEST).limit(limit)
    # Names for the page only, after the limit.
    d = ctx.visible_deals().select(deal_id="deal_id", deal="name")
    top = top.left_join(d, deal_ref(top) == d.deal_id)
    cols = ["event_id", "created_at", "type", "entity_type", "entity_id", "deal", "created_by"]
    return top.select(*cols).order_by(_NEWEST)


def _windows(ctx: Context, total: int, limit: int) -> list[tuple | None]:
    """Feed windows to try, narrowest first, ending with None (the whole period): the last
    stretch of the period expected to hold 4 (then 64) times ``limit`` of the ``total`` feed
    events, and at most 16 times as many matching events (more than enough even when the
    viewer sees few of them)."""
    if total <= limit:
        return [None]
    out: list[tuple | None] = []
    for factor in (4, 64):
        share = factor * limit / total
        if share >= 1:
            break
        out.append((ctx.t1 - (ctx.t1 - ctx.t0) * share, 16 * factor * limit))
    return [*out, None]


def events(
    ctx: Context,
    types: str | Iterable[str] | None = None,
    entity_types: str | Iterable[str] | None = None,
    authors: int | Iterable[int] | None = None,
    limit: int = 200,
) -> Events:
    """The event feed for the period and scope; see :data:`EVENTS_DEFINITION`."""
    filters = (_as_list(types), _as_list(entity_types), _as_list(authors))
    counts = _type_counts(ctx, *filters[1:]).to_pandas()
    counts["count"] = counts["count"].astype("int64")
    counts = counts.sort_values(["count", "type"], ascending=[False, True], ignore_index=True)
    chosen = counts if filters[0] is None else counts.loc[counts["type"].isin(filters[0])]
    total = int(chosen["count"].sum())
    # The feed is read from the end of the period, widening only if the stretch held too few.
    for window in _windows(ctx, total, limit):
        feed = _newest(ctx, *filters, limit, window).to_pandas()
        if window is None or len(feed) >= limit:
            break
    return Events(
        period=ctx.period,
        scope=ctx.scope,
        feed=label_ids(ctx.store, feed),
        counts=counts,
        total=total,
        limit=limit,
        _ctx=ctx,
        _filters=filters,
        _window=window,
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
