"""Deals as they were at ``ctx.now`` (and the stage each was created in): the state helpers
the workload, forecast, payment and goal widgets share. A deal's stage at now is the ``from`` of
its first move at or after now, else its current stage (as in pipeline flow), so a store synced
after "now" is seen as it was at now."""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING

import ibis
import pandas as pd

from deskkit.filters import Scope
from deskkit.metrics._base import (
    Context,
    kept_or_inline,
    label_ids,
    latest_at,
    tail_start,
    user_names,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    import ibis.expr.types as ir

#: Deals a manager can work on at once when ``users.deal_capacity`` is not set.
DEFAULT_CAPACITY = 15
OPEN_KINDS = ("open", "unsorted")
CLOSED_KINDS = ("won", "lost")


# Shared engine expressions ----------------------------------------------------------------------


def _stage_ids(ctx: Context, kinds: tuple[str, ...]) -> list[int]:
    """Ids of the account's stages of ``kinds`` in any pipeline (from the cached dimension
    table). Won and lost ids repeat across pipelines, so a match still needs its pipeline."""
    st = ctx.store.stages
    return sorted({int(s) for s in st.loc[st["kind"].isin(kinds), "stage_id"]})


def _in_stages(
    pipeline: ir.IntegerValue, stage: ir.IntegerValue, pairs: Iterable[tuple[int, int]]
) -> ir.BooleanValue:
    """``(pipeline, stage)`` is one of ``pairs`` (a few literals: no join)."""
    by_pipe: dict[int, list[int]] = {}
    for pid, sid in pairs:
        by_pipe.setdefault(pid, []).append(sid)
    cond: ir.BooleanValue = ibis.literal(False)
    for pid, sids in by_pipe.items():
        cond = cond | ((pipeline == pid) & stage.isin(sorted(sids)))
    return cond


def moved_since_now(ctx: Context) -> bool:
    """Whether the store holds a move at or after the request's "now" (history later than
    the moment looked at: a demo account's rest of the day, a look back in time). A store
    synced up to the present holds none, and then a deal's stage at now is its stage: no
    query needs the later moves (at 1M deals, DuckDB hashed the deals to look them up)."""
    latest = latest_at(ctx, "deal_moves", "at")
    return latest is not None and latest >= ctx.now


def later_moves(ctx: Context) -> ir.Table:
    """The moves at or after now. Where "now" falls in the store's last two days of moves
    (the demo's rest of the day), from a small kept copy of those days: DuckDB then sees how
    few they are and hashes them, not the deals they are matched with (it estimates a range
    of the whole table as a fifth of it)."""
    m = ctx.table("deal_moves")
    start = tail_start(ctx, "deal_moves", "at")
    if start is not None and ctx.now >= start:
        tail = ctx.store.derived(("moves tail", start), lambda: m.filter(m.at >= start))
        m = tail if tail is not None else m
    return m.filter(m.at >= ctx.now)


def _moved_since(ctx: Context) -> ir.Table:
    """(deal_id, p, s) for each deal moved at or after now: the ``from`` of its first such move,
    which is its stage at now."""
    later = later_moves(ctx)
    return later.group_by("deal_id").aggregate(
        p=later.from_pipeline_id.argmin(later.at), s=later.from_stage_id.argmin(later.at)
    )


_STATE_COLUMNS = (
    "deal_id",
    "name",
    "price",
    "pipeline_id",
    "stage_id",
    "responsible_user_id",
    "created_at",
    "updated_at",
)


def _as_is(d: ir.Table) -> ir.Table:
    """``d``'s deals with their current (pipeline, stage): their stage at now."""
    return d.select(
        deal_id=d.deal_id,
        name=d.name,
        price=d.price.fill_null(0),
        pipeline_id=d.pipeline_id,
        stage_id=d.stage_id,
        responsible_user_id=d.responsible_user_id,
        created_at=d.created_at,
        updated_at=d.updated_at,
    )


def _with_first(d: ir.Table, first: ir.Table) -> ir.Table:
    """``d``'s deals with their (pipeline, stage) at now: the ``from`` of the first move since
    now (``first``, from :func:`_moved_since`), else the current one."""
    j = d.left_join(first, d.deal_id == first.deal_id)
    return j.select(
        deal_id=j.deal_id,
        name=j.name,
        price=j.price.fill_null(0),
        pipeline_id=j.p.coalesce(j.pipeline_id),
        stage_id=j.s.coalesce(j.stage_id),
        responsible_user_id=j.responsible_user_id,
        created_at=j.created_at,
        updated_at=j.updated_at,
    )


def _state_now(ctx: Context, deals: ir.Table, stage_ids: Iterable[int]) -> ir.Table:
    """``deals`` created before now with their (pipeline, stage) at now, for at least every deal
    whose stage at now has one of ``stage_ids`` (callers match the pipeline too)."""
    d = deals.filter(deals.created_at < ctx.now)
    if not moved_since_now(ctx):
        return _as_is(d.filter(d.stage_id.isin(sorted(stage_ids))))
    first = _moved_since(ctx)
    # A deal not moved since now is still in its current stage, so only deals now in one of
    # `stage_ids`, or moved since, can be in one at now: for the open stages a tenth of the
    # deals is left to look up.
    d = d.filter(d.stage_id.isin(sorted(stage_ids)) | d.deal_id.isin(first.deal_id))
    return _with_first(d, first)


def _open_state_now(ctx: Context) -> ir.Table:
    """:func:`_state_now` of :meth:`Context.deals` for the open stages. Where the store keeps
    derived tables, from a kept table of the live deals now in an open stage (a tenth of
    them) and, if the store holds moves since now, the deals those moves are on (a kept copy
    where now falls in the last two days of moves): every deal that can be open at now. At
    1M deals each of the five widgets starting from the open deals scanned and matched all
    the deals to find that tenth."""
    ids = _stage_ids(ctx, OPEN_KINDS)
    deals = ctx.table("deals")

    def in_stages() -> ir.Table:
        live = deals.filter(~deals.is_deleted.fill_null(False), deals.stage_id.isin(ids))
        return live.select(*_STATE_COLUMNS, "is_deleted")

    kept = ctx.store.derived(("deals in stages", tuple(ids)), in_stages)
    if kept is None:
        return _state_now(ctx, ctx.deals(), ids)
    now_in = ctx.deal_rows(kept)
    now_in = now_in.filter(now_in.created_at < ctx.now)
    if not moved_since_now(ctx):
        return _as_is(now_in)
    first = _moved_since(ctx)
    moved = ctx.deal_rows(_moved_deals(ctx))
    # The deals moved since now that are not among those now in an open stage (disjoint, so
    # a union of all rows).
    moved = moved.filter(
        moved.created_at < ctx.now,
        moved.deal_id.isin(first.deal_id),
        ~moved.stage_id.isin(ids).fill_null(False),
    )
    d = ibis.union(now_in.select(*_STATE_COLUMNS), moved.select(*_STATE_COLUMNS))
    return _with_first(d, first)


def _moved_deals(ctx: Context) -> ir.Table:
    """Deals (all of them, or, where now falls in the kept tail of :func:`later_moves`, a kept
    table of the deals moved in that tail) to look the deals moved since now up in."""
    deals = ctx.table("deals")
    start = tail_start(ctx, "deal_moves", "at")
    if start is None or ctx.now < start:
        return deals

    def build() -> ir.Table:
        m = ctx.table("deal_moves")
        tail = m.filter(m.at >= start).select("deal_id").distinct()
        return deals.semi_join(tail, "deal_id").select(*_STATE_COLUMNS, "is_deleted")

    kept = ctx.store.derived(("moves tail deals", start), build)
    return kept if kept is not None else deals


def created_in(ctx: Context, start: _dt.datetime, end: _dt.datetime) -> ir.Table:
    """``deal_id, created_at, p, s``: the (pipeline, stage) each deal was created in, the
    ``from`` of its first move, else its stage now. Kept once per store where the engine
    keeps derived tables (it never changes); elsewhere only for the deals created in
    [start, end) (callers filter ``created_at`` themselves)."""

    def build(window: bool) -> ir.Table:
        m, d = ctx.table("deal_moves"), ctx.table("deals")
        if window:
            d = d.filter(d.created_at >= start, d.created_at < end)
            m = m.semi_join(d, "deal_id")
        init = m.group_by("deal_id").aggregate(
            p=m.from_pipeline_id.argmin(m.at), s=m.from_stage_id.argmin(m.at)
        )
        j = d.left_join(init, d.deal_id == init.deal_id)
        return j.select(
            deal_id=j.deal_id,
            created_at=j.created_at,
            p=j.p.coalesce(j.pipeline_id),
            s=j.s.coalesce(j.stage_id),
        )

    return kept_or_inline(ctx, ("creation stages",), lambda: build(False), lambda: build(True))


def entries(
    ctx: Context, pairs: Iterable[tuple[int, int]], start: _dt.datetime, end: _dt.datetime
) -> ir.Table:
    """``deal_id, at, price, responsible_user_id, is_deleted``: each entry of a deal the store
    holds into one of the stages ``pairs`` (pipeline, stage) in [start, end), a move into one
    of them from a stage not among them or the deal's creation in one, with the deal's columns
    :meth:`Context.deal_rows` filters on. Kept once per store and set of stages where the
    engine keeps derived tables (the won stages: a twelfth of the moves), so a period reads
    its few rows, not a range of all moves, and meets the deals no more; elsewhere read from
    the moves and deals of [start, end)."""
    pairs = tuple(sorted({(int(p), int(s)) for p, s in pairs}))

    def build(window: bool) -> ir.Table:
        m = ctx.table("deal_moves")
        if window:
            m = m.filter(m.at >= start, m.at < end)
        moved = m.filter(
            _in_stages(m.to_pipeline_id, m.to_stage_id, pairs),
            # A move inside the set (e.g. "Paid" -> won) is not a new entry.
            ~_in_stages(m.from_pipeline_id, m.from_stage_id, pairs),
        )
        made = created_in(ctx, start, end)
        if window:
            made = made.filter(made.created_at >= start, made.created_at < end)
        made = made.filter(_in_stages(made.p, made.s, pairs))
        e = ibis.union(
            moved.select("deal_id", "at"), made.select(deal_id=made.deal_id, at=made.created_at)
        )
        d = ctx.table("deals").select("deal_id", "price", "responsible_user_id", "is_deleted")
        return e.join(d, "deal_id")

    e = kept_or_inline(ctx, ("stage entries", pairs), lambda: build(False), lambda: build(True))
    return e.filter(e.at >= start, e.at < end)


def _at_now(ctx: Context, deals: ir.Table, kinds: tuple[str, ...]) -> ir.Table:
    """``deals`` created before now, with their (pipeline, stage) and its kind at now, kept when
    the kind is one of ``kinds``."""
    return _of_kinds(ctx, _state_now(ctx, deals, _stage_ids(ctx, kinds)), kinds)


def _of_kinds(ctx: Context, state: ir.Table, kinds: tuple[str, ...]) -> ir.Table:
    """The rows of ``state`` (deals with a pipeline and stage) in a stage of ``kinds``, with
    the stage's ``kind``."""
    state = state.view()
    st = ctx.table("stages")
    st = st.filter(st.kind.isin(list(kinds))).select("pipeline_id", "stage_id", "kind")
    return state.join(st, ["pipeline_id", "stage_id"])


def _open_now(ctx: Context) -> ir.Table:
    """Visible, in-scope, non-deleted deals that are open at now (one expression per thread
    for the four widgets of a request that start from it)."""
    key = ("open now", ctx.now, ctx.scope, ctx.viewer)
    return ctx.store.built(key, lambda: _of_kinds(ctx, _open_state_now(ctx), OPEN_KINDS))


def _rows(ctx: Context, deals: ir.Table, order: list, limit: int | None) -> pd.DataFrame:
    """Drill-down rows (at most ``limit``) with readable user, pipeline and stage names."""
    q = deals.order_by(order).drop("kind") if "kind" in deals.columns else deals.order_by(order)
    frame = label_ids(ctx.store, (q.limit(limit) if limit else q).to_pandas())
    names = ctx.store.pipelines.set_index("pipeline_id")["name"]
    frame.insert(frame.columns.get_loc("pipeline_id") + 1, "pipeline", frame.pipeline_id.map(names))
    return frame


def _user_id(ctx: Context, user: int | str) -> int:
    """A user id from an id or a name (an unknown one fails, naming the choices)."""
    return next(iter(Scope(user=user).user_ids(ctx.store.users, ctx.store.groups) or ()))


def _user_names(ctx: Context, ids: pd.Series) -> pd.Series:
    names = ids.map(user_names(ctx.store))
    return names.fillna(ids.map(lambda u: f"user {u}"))


def _no_open_task(ctx: Context, deals: ir.Table) -> ir.BooleanValue:
    """``deals`` rows with no task open at now (created by now, not completed by now)."""
    t = _deal_tasks(ctx)
    # Not completed by now: never completed, or completed after now. (As a filter this is
    # "not (completed and (completed_at is null or completed_at <= now))", cheaper to test.)
    open_at_now = ~t.is_completed.fill_null(False) | (t.completed_at > ctx.now)
    open_tasks = t.filter(
        t.entity_type == "deal", t.entity_id.notnull(), t.created_at <= ctx.now, open_at_now
    )
    # entity_id is never null here, so the IN is true or false (NOT IN with NULLs would be NULL).
    return ~deals.deal_id.isin(open_tasks.entity_id)


def _deal_tasks(ctx: Context) -> ir.Table:
    """The tasks to look open deal tasks up in: where now falls in the last two days of task
    completions (a store synced today), a kept table of the deal tasks not completed or
    completed in those days (a twentieth of the tasks at 1M deals), else all tasks."""
    t = ctx.table("tasks")
    start = tail_start(ctx, "tasks", "completed_at")
    if start is None or ctx.now < start:
        return t

    def build() -> ir.Table:
        done = t.is_completed.fill_null(False)
        kept = t.filter(
            t.entity_type == "deal", t.entity_id.notnull(), ~done | (t.completed_at >= start)
        )
        return kept.select("entity_type", "entity_id", "created_at", "is_completed", "completed_at")

    kept = ctx.store.derived(("open deal tasks", start), build)
    return kept if kept is not None else t
