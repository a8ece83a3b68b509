"""Workload widgets: deals by manager, deals without tasks and the latest deals.

All four look at the account *now* (``ctx.now``) and ignore the period. A deal's stage at now is
the ``from`` of its first move at or after now, else its current stage (as in pipeline flow), so
a store synced after "now" is seen as it was at now. "Open" means a stage of kind open or
unsorted. Only per-user or per-stage aggregates (or the rows asked for) come back to pandas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import ibis
import pandas as pd

from deskkit.metrics._base import Context, count_if, to_sql
from deskkit.metrics._now import (
    DEFAULT_CAPACITY,
    _no_open_task,
    _open_now,
    _rows,
    _user_id,
    _user_names,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = [
    "DEFAULT_CAPACITY",
    "DealsByManager",
    "DealsWithoutTasks",
    "LatestDeals",
    "deals_by_manager",
    "deals_without_tasks",
    "latest_deals",
]


# Deals by manager -------------------------------------------------------------------------------

MANAGERS_DEFINITION = (
    "Deals by manager: open deals (in an open or unsorted stage, not deleted) per responsible "
    "user now, with their budget, whatever the period. Every active user in the scope is listed, "
    "with 0 when they have none (an inactive user is listed only while deals still sit with "
    "them). Capacity is the user's deal capacity, 15 when not set; a user with more open deals "
    "than their capacity is flagged as over capacity."
)


@dataclass(frozen=True)
class DealsByManager:
    """Open deals per manager now. ``managers``: ``user_id, user, is_active, deals, budget,
    capacity, capacity_set, over_capacity, load`` (deals ÷ capacity), most deals first."""

    managers: pd.DataFrame
    deals: int
    budget: float
    over: int
    _ctx: Context = field(repr=False, compare=False)

    definition = MANAGERS_DEFINITION

    def sql(self) -> dict[str, str]:
        """The SQL behind the numbers (query name -> SQL)."""
        return to_sql(self._ctx, lambda: _manager_queries(self._ctx))

    def records(self, user: int | str | None = None, *, limit: int | None = None) -> pd.DataFrame:
        """The open deals behind a manager's number (all managers when ``user`` is None)."""
        d = _open_now(self._ctx)
        if user is not None:
            d = d.filter(d.responsible_user_id == _user_id(self._ctx, user))
        return _rows(self._ctx, d, [ibis.desc("price"), "deal_id"], limit)


def _manager_queries(ctx: Context) -> dict[str, ir.Table]:
    d = _open_now(ctx)
    per = d.group_by("responsible_user_id").aggregate(deals=d.count(), budget=d.price.sum())
    return {"per_user": per}


def deals_by_manager(ctx: Context) -> DealsByManager:
    """Open deals and budget per responsible user now, against each user's capacity."""
    per = (
        _manager_queries(ctx)["per_user"]
        .to_pandas()
        .rename(columns={"responsible_user_id": "user_id"})
    )
    users = ctx.store.users
    owners = ctx.owners
    listed = users.loc[users.is_active.fillna(False).astype(bool)]
    if owners is not None:
        listed = listed.loc[listed.user_id.isin(owners)]
    ids = pd.Series(sorted(set(listed.user_id) | set(per.user_id)), dtype="int64")
    frame = pd.DataFrame({"user_id": ids}).merge(per, on="user_id", how="left")
    info = users.set_index("user_id")
    frame.insert(1, "user", _user_names(ctx, frame.user_id))
    frame.insert(2, "is_active", frame.user_id.map(info.is_active).fillna(False).astype(bool))
    frame["deals"] = frame.deals.fillna(0).astype("int64")
    frame["budget"] = frame.budget.fillna(0.0).astype("float64")
    cap = frame.user_id.map(info.deal_capacity)
    frame["capacity"] = cap.fillna(DEFAULT_CAPACITY).astype("int64")
    frame["capacity_set"] = cap.notna()
    frame["over_capacity"] = frame.deals > frame.capacity
    # A capacity of 0 means "takes no deals": any deal is over it, the load is unbounded.
    frame["load"] = frame.deals / frame.capacity.where(frame.capacity > 0)
    frame = frame.sort_values(["deals", "user"], ascending=[False, True], ignore_index=True)
    return DealsByManager(
        managers=frame,
        deals=int(frame.deals.sum()),
        budget=float(frame.budget.sum()),
        over=int(frame.over_capacity.sum()),
        _ctx=ctx,
    )


# Deals without tasks ----------------------------------------------------------------------------

NO_TASKS_DEFINITION = (
    "Deals without tasks: open deals (in an open or unsorted stage, not deleted) in the scope "
    "that have no open task now, whatever the period. A task is open now when it was created at "
    "or before now and was not completed by now (a task completed later still counts as open at "
    "now); any task on the deal counts, whoever is responsible for it. Count and budget, in "
    "total and per responsible user, with each user's open deals for comparison."
)


@dataclass(frozen=True)
class DealsWithoutTasks:
    """Open deals with no open task now. ``by_user``: ``user_id, user, open_deals,
    without_tasks, budget, share`` (without ÷ open), most without tasks first."""

    deals: int
    budget: float
    open_deals: int
    by_user: pd.DataFrame
    _ctx: Context = field(repr=False, compare=False)

    definition = NO_TASKS_DEFINITION

    @property
    def share(self) -> float:
        """Share of open deals that have no open task (NaN without open deals)."""
        return self.deals / self.open_deals if self.open_deals else float("nan")

    def sql(self) -> dict[str, str]:
        return to_sql(self._ctx, lambda: _no_task_queries(self._ctx))

    def records(self, user: int | str | None = None, *, limit: int | None = None) -> pd.DataFrame:
        """The deals without tasks, stalest first, with ``last_activity`` (latest of creation,
        stage moves and updates known at now) and ``days_idle``."""
        ctx = self._ctx
        d = _open_now(ctx)
        d = d.filter(_no_open_task(ctx, d))
        if user is not None:
            d = d.filter(d.responsible_user_id == _user_id(ctx, user))
        m = ctx.table("deal_moves")
        m = m.filter(m.at < ctx.now)
        last = m.group_by("deal_id").aggregate(last_move=m.at.max())
        j = d.left_join(last, d.deal_id == last.deal_id)
        # An update at or after now is a later edit (as a move at now is): unknown at now.
        seen = ibis.ifelse(j.updated_at < ctx.now, j.updated_at, j.created_at)
        j = j.mutate(
            last_activity=ibis.greatest(j.created_at, j.last_move.coalesce(j.created_at), seen)
        ).drop("deal_id_right", "last_move")
        frame = _rows(ctx, j, ["last_activity", "deal_id"], limit)
        idle = (pd.Timestamp(ctx.now) - pd.to_datetime(frame.last_activity)).dt.days
        frame["days_idle"] = idle.astype("int64")
        return frame


def _no_task_queries(ctx: Context) -> dict[str, ir.Table]:
    d = _open_now(ctx)
    # One column, so the engine looks the open tasks up once for both aggregates.
    d = d.mutate(bare=_no_open_task(ctx, d))
    per = d.group_by("responsible_user_id").aggregate(
        open_deals=d.count(), without_tasks=count_if(d.bare), budget=d.price.sum(where=d.bare)
    )
    return {"per_user": per}


def deals_without_tasks(ctx: Context) -> DealsWithoutTasks:
    """Open deals in scope with no open task now: count, budget and per user."""
    per = _no_task_queries(ctx)["per_user"].to_pandas()
    per = per.rename(columns={"responsible_user_id": "user_id"})
    per["budget"] = per.budget.fillna(0.0).astype("float64")
    per = per.astype({"user_id": "int64", "open_deals": "int64", "without_tasks": "int64"})
    per.insert(1, "user", _user_names(ctx, per.user_id))
    per["share"] = per.without_tasks / per.open_deals
    per = per.sort_values(["without_tasks", "user"], ascending=[False, True], ignore_index=True)
    return DealsWithoutTasks(
        deals=int(per.without_tasks.sum()),
        budget=float(per.budget.sum()),
        open_deals=int(per.open_deals.sum()),
        by_user=per[["user_id", "user", "open_deals", "without_tasks", "budget", "share"]],
        _ctx=ctx,
    )


# Latest deals -----------------------------------------------------------------------------------

LATEST_DEFINITION = (
    "Latest deals: the {n} most recently created deals in the scope that are open now (in an "
    "open or unsorted stage, not deleted), newest first, whatever the period; a deal created "
    "earlier but already won or lost is skipped. Ties in creation time go to the higher deal id."
)


_newest = [ibis.desc("created_at"), ibis.desc("deal_id")]


@dataclass(frozen=True)
class LatestDeals:
    """The newest open deals. ``deals``: ``deal_id, name, price, pipeline_id, pipeline,
    stage_id, responsible_user_id, responsible, created_at, updated_at, stage``."""

    n: int
    deals: pd.DataFrame
    _ctx: Context = field(repr=False, compare=False)

    #: The rule text for the default n; an instance carries the text for its own n.
    definition = LATEST_DEFINITION.format(n=8)

    def __post_init__(self) -> None:
        object.__setattr__(self, "definition", LATEST_DEFINITION.format(n=self.n))

    def sql(self) -> dict[str, str]:
        return to_sql(self._ctx, lambda: {"latest": _latest(self._ctx, self.n)})

    def records(self, *, limit: int | None = None) -> pd.DataFrame:
        """The deals listed (they are the rows behind the widget)."""
        return self.deals.head(limit).copy() if limit else self.deals.copy()


def _latest(ctx: Context, n: int) -> ir.Table:
    """The ``n`` newest deals open now, with the columns of :func:`_open_now` but ``kind``."""
    # Pick the n on the few columns the order needs, then fetch names and the rest for those n
    # rows only: reading every open deal's name would cost more than finding the n.
    top = _open_now(ctx).select("deal_id", "pipeline_id", "stage_id", "created_at")
    top = top.order_by(_newest).limit(n)
    d = ctx.table("deals")
    j = top.join(
        d.select("deal_id", "name", "price", "responsible_user_id", "updated_at"), "deal_id"
    )
    return j.select(
        "deal_id",
        "name",
        j.price.fill_null(0).name("price"),
        "pipeline_id",
        "stage_id",
        "responsible_user_id",
        "created_at",
        "updated_at",
    )


def latest_deals(ctx: Context, n: int = 8) -> LatestDeals:
    """The ``n`` most recently created deals that are open now, newest first."""
    if n < 1:
        raise ValueError(f"latest_deals needs n >= 1, got {n}")
    return LatestDeals(n=n, deals=_rows(ctx, _latest(ctx, n), _newest, n), _ctx=ctx)
