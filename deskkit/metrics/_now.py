"""Open deals as they were at ``ctx.now``: the state helpers the workload and forecast
widgets share. A deal's stage at now is the ``from`` of its first move at or after now, else its
current stage (as in pipeline flow), so a store synced after "now" is seen as it was at now."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from deskkit.filters import Scope
from deskkit.metrics._base import Context, label_ids

if TYPE_CHECKING:
    import ibis.expr.types as ir

#: Deals a manager can work on at once when ``users.deal_capacity`` is not set.
DEFAULT_CAPACITY = 15
OPEN_KINDS = ("open", "unsorted")
CLOSED_KINDS = ("won", "lost")


# Shared engine expressions ----------------------------------------------------------------------


def _at_now(ctx: Context, deals: ir.Table, kinds: tuple[str, ...]) -> ir.Table:
    """``deals`` created before now, with their (pipeline, stage) and its kind at now, kept when
    the kind is one of ``kinds``."""
    m = ctx.table("deal_moves")
    later = m.filter(m.at >= ctx.now)
    first = later.group_by("deal_id").aggregate(
        p=later.from_pipeline_id.argmin(later.at), s=later.from_stage_id.argmin(later.at)
    )
    d = deals.filter(deals.created_at < ctx.now)
    j = d.left_join(first, d.deal_id == first.deal_id)
    state = j.select(
        deal_id=j.deal_id,
        name=j.name,
        price=j.price.fill_null(0),
        pipeline_id=j.p.coalesce(j.pipeline_id),
        stage_id=j.s.coalesce(j.stage_id),
        responsible_user_id=j.responsible_user_id,
        created_at=j.created_at,
        updated_at=j.updated_at,
    )
    st = ctx.table("stages")
    st = st.filter(st.kind.isin(list(kinds))).select("pipeline_id", "stage_id", "kind")
    state = state.view()
    return state.join(st, ["pipeline_id", "stage_id"])


def _open_now(ctx: Context) -> ir.Table:
    """Visible, in-scope, non-deleted deals that are open at now."""
    return _at_now(ctx, ctx.deals(), OPEN_KINDS)


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
    names = ids.map(ctx.store.users.set_index("user_id")["name"])
    return names.fillna(ids.map(lambda u: f"user {u}"))


def _no_open_task(ctx: Context, deals: ir.Table) -> ir.BooleanValue:
    """``deals`` rows with no task open at now (created by now, not completed by now)."""
    t = ctx.table("tasks")
    done = t.is_completed.fill_null(False) & (t.completed_at.isnull() | (t.completed_at <= ctx.now))
    open_tasks = t.filter(
        t.entity_type == "deal", t.entity_id.notnull(), t.created_at <= ctx.now, ~done
    )
    # entity_id is never null here, so the IN is true or false (NOT IN with NULLs would be NULL).
    return ~deals.deal_id.isin(open_tasks.entity_id)
