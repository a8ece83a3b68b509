"""Goals: progress of each sales goal valid now over its current cadence period (month,
quarter or year containing now), with the previous full period for comparison.

Goals ignore the selected period P: like the CRM's widget they always look at the cadence period
that contains now. The request's scope chooses which goals are shown, not what they count.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import ibis
import pandas as pd

from deskkit.filters import Period, Scope
from deskkit.metrics._base import Context, count_if, label_ids, to_sql, user_names
from deskkit.metrics._now import entries

if TYPE_CHECKING:
    import datetime as _dt

    import ibis.expr.types as ir

__all__ = ["DEFINITION", "Goals", "goals"]

DEFINITION = (
    "Goals: every goal valid now (the latest one set, by valid-from, for each scope, measure and "
    "cadence). Achieved: the won budget or the number of won deals — deals moved into a won "
    "stage from a stage that is not won, or created in a won stage — during the current cadence "
    "period (the month, quarter or year containing now, in the account's time zone, up to now), "
    "among deals whose "
    "responsible user is in the goal's scope (the whole account, one user, or one department). "
    "A deal counts once however often it was won; its budget is its current budget. Percent = "
    "achieved ÷ target. Previous: the same for the whole previous cadence period. A user scope "
    "shows that user's goals, their department's and the account's; a department scope shows its "
    "goal, its users' and the account's. Only deals the viewer may see are counted; deleted deals "
    "never are."
)

_WINDOWS = ("cur", "prev")


def _bounds(cadence: str, period: Period) -> dict[str, tuple[_dt.datetime, _dt.datetime]]:
    """Naive-UTC [start, end) of the current cadence period (up to now) and the full previous."""
    cur = Period.preset(cadence, timezone=period.timezone, now=period.now)  # type: ignore[arg-type]
    prev = cur.previous()
    return {"cur": (cur.start_utc, cur.until_utc), "prev": (prev.start_utc, prev.end_utc)}


def _valid_goals(ctx: Context) -> ir.Table:
    """Goals valid now: for each (scope, measure, cadence), the one with the latest valid_from."""
    g = ctx.table("goals")
    g = g.filter(g.valid_from <= ctx.now)
    w = ibis.window(
        group_by=[g.scope_kind, g.scope_id, g.measure, g.cadence],
        order_by=[ibis.desc(g.valid_from), ibis.desc(g.goal_id)],
    )
    g = g.mutate(rank=ibis.row_number().over(w))
    return g.filter(g.rank == 0).drop("rank").order_by("goal_id")


def _members(ctx: Context, kind: str, scope_id: int | None) -> frozenset[int] | None:
    """Users whose deals a goal counts (None = the whole account)."""
    if kind == "user":
        return frozenset([int(scope_id)]) if scope_id is not None else frozenset()
    if kind == "group":
        users = ctx.store.users
        return frozenset(int(u) for u in users.loc[users["group_id"] == scope_id, "user_id"])
    return None


def _shown(ctx: Context, goal: pd.Series) -> bool:
    """Whether the request's scope and the viewer's rights show this goal."""
    kind, sid = str(goal["scope_kind"]), goal["scope_id"]
    users, groups = ctx.store.users, ctx.store.groups
    in_scope = ctx.scope_ids  # validates names; None = everyone
    if ctx.scope.user is not None and in_scope:
        (uid,) = in_scope
        gid = users.loc[users["user_id"] == uid, "group_id"].iloc[0]
        ok = kind == "all" or (kind, sid) in {("user", uid), ("group", gid)}
    elif ctx.scope.department is not None:
        key = str(ctx.scope.department).strip()
        hit = groups.loc[(groups["group_id"].astype(str) == key) | (groups["name"] == key)]
        hit = hit if len(hit) else groups.loc[groups["name"].str.casefold() == key.casefold()]
        gid = int(hit["group_id"].iloc[0])
        ok = kind == "all" or (kind == "group" and sid == gid)
        ok = ok or (kind == "user" and sid in (in_scope or ()))
    else:
        ok = True
    visible = replace(ctx, scope=Scope()).owners
    members = _members(ctx, kind, sid)
    if visible is not None and members is not None:
        ok = ok and bool(members & visible)
    return ok


def _won_entries(ctx: Context, start: _dt.datetime, end: _dt.datetime) -> ir.Table:
    """``(deal_id, at)`` for each time a deal was won in [start, end): a move into a won stage
    from a stage that is not won, or its creation in a won stage (as pipeline flow and the
    payment counters count it)."""
    st = ctx.store.stages
    won = st.loc[st["kind"] == "won", ["pipeline_id", "stage_id"]]
    return entries(ctx, won.itertuples(index=False, name=None), start, end)


def _viewer(ctx: Context) -> Context:
    """The request without its scope: goals choose their users, the viewer's rights apply."""
    return replace(ctx, scope=Scope())


def _viewer_deals(ctx: Context) -> ir.Table:
    """Non-deleted deals the viewer may see, whatever the request's scope (goals choose theirs)."""
    return _viewer(ctx).deals()


def _achieved_query(ctx: Context, valid: pd.DataFrame) -> ir.Table:
    """One row: per goal and window, won deals and won budget."""
    bounds = {c: _bounds(c, ctx.period) for c in valid["cadence"].unique()}
    first = min(b["prev"][0] for b in bounds.values())
    mv = _won_entries(ctx, first, ctx.now)
    flags = {
        f"{c}_{w}": count_if((mv.at >= lo) & (mv.at < hi))
        for c, b in bounds.items()
        for w, (lo, hi) in b.items()
    }
    # The entries carry their deal's columns: the viewer's rights filter them, no join.
    mv = _viewer(ctx).deal_rows(mv)
    j = mv.group_by("deal_id", "price", "responsible_user_id").aggregate(**flags)
    price = j.price.fill_null(0)
    aggs: dict[str, ir.Scalar] = {}
    for g in valid.itertuples():
        members = _members(ctx, g.scope_kind, None if pd.isna(g.scope_id) else g.scope_id)
        owner = j.responsible_user_id.isin(sorted(members)) if members is not None else True
        for w in _WINDOWS:
            hit = (j[f"{g.cadence}_{w}"] > 0) & owner
            aggs[f"n_{g.goal_id}_{w}"] = count_if(hit)
            aggs[f"b_{g.goal_id}_{w}"] = ibis.ifelse(hit, price, 0).sum()
    return j.aggregate(**aggs)


@dataclass(frozen=True)
class Goals:
    """Goal progress. ``goals`` has one row per shown goal: ``goal_id, name, measure,
    scope_kind, scope_id, scope, cadence, period_start, period_end, target, achieved, percent,
    previous, previous_percent, complete`` (``complete`` is False when the viewer may not see
    every deal the goal counts, so ``achieved`` covers only the deals they can see)."""

    goals: pd.DataFrame
    _ctx: Context = field(repr=False, compare=False)
    _valid: pd.DataFrame = field(repr=False, compare=False)

    definition = DEFINITION

    def sql(self) -> dict[str, str]:
        """The SQL behind the numbers (query name -> SQL)."""

        def queries() -> dict[str, ir.Expr]:
            out: dict[str, ir.Expr] = {"goals": _valid_goals(self._ctx)}
            if len(self._valid):
                out["achieved"] = _achieved_query(self._ctx, self._valid)
            return out

        return to_sql(self._ctx, queries)

    def records(
        self, goal_id: int, *, previous: bool = False, limit: int | None = None
    ) -> pd.DataFrame:
        """The won deals behind a goal's achieved number (``previous=True``: previous period)."""
        hit = self.goals.loc[self.goals["goal_id"] == goal_id]
        if hit.empty:
            known = ", ".join(str(g) for g in self.goals["goal_id"])
            raise ValueError(f"unknown goal {goal_id!r}; shown goals: {known or 'none'}")
        g = hit.iloc[0]
        ctx = self._ctx
        lo, hi = _bounds(str(g["cadence"]), ctx.period)["prev" if previous else "cur"]
        mv = _won_entries(ctx, lo, hi)
        first = mv.group_by("deal_id").aggregate(won_at=mv.at.min())
        d = _viewer_deals(ctx)
        sid = None if pd.isna(g["scope_id"]) else int(g["scope_id"])
        members = _members(ctx, str(g["scope_kind"]), sid)
        if members is not None:
            d = d.filter(d.responsible_user_id.isin(sorted(members)))
        j = d.join(first, "deal_id").order_by(["won_at", "deal_id"])
        cols = ["deal_id", "name", "price", "pipeline_id", "stage_id", "responsible_user_id"]
        frame = (j.limit(limit) if limit else j).select(*cols, "won_at").to_pandas()
        return label_ids(ctx.store, frame)


def _scope_name(ctx: Context, kind: str, sid: object) -> str:
    if kind == "user":
        names = user_names(ctx.store)
        return str(names.get(sid, f"user {sid}"))
    if kind == "group":
        names = ctx.store.groups.set_index("group_id")["name"]
        return str(names.get(sid, f"department {sid}"))
    return "Account"


def _shown_goals(ctx: Context) -> pd.DataFrame:
    """The goals valid now that the request's scope and the viewer's rights show (the same
    for every period: remembered per now, scope and viewer)."""
    valid = _valid_goals(ctx).to_pandas()
    return valid.loc[[_shown(ctx, g) for _, g in valid.iterrows()]].reset_index(drop=True)


def goals(ctx: Context) -> Goals:
    """Progress of the goals valid now; see :data:`DEFINITION`."""
    valid = ctx.store.memo(
        ("goals shown", ctx.now, ctx.scope, ctx.viewer), lambda: _shown_goals(ctx)
    )
    got = _achieved_query(ctx, valid).to_pandas().iloc[0] if len(valid) else pd.Series()
    visible = replace(ctx, scope=Scope()).owners
    rows = []
    for g in valid.itertuples():
        sid = None if pd.isna(g.scope_id) else int(g.scope_id)
        cur = Period.preset(g.cadence, timezone=ctx.period.timezone, now=ctx.period.now)
        vals = {}
        for w in _WINDOWS:
            col = "n" if g.measure == "won_count" else "b"
            v = got.get(f"{col}_{g.goal_id}_{w}")
            vals[w] = float(v) if v is not None and pd.notna(v) else 0.0
        target = float(g.target) if pd.notna(g.target) else float("nan")
        members = _members(ctx, g.scope_kind, sid)
        complete = visible is None or (members is not None and members <= visible)
        rows.append(
            {
                "goal_id": int(g.goal_id),
                "name": g.name,
                "measure": g.measure,
                "scope_kind": g.scope_kind,
                "scope_id": sid,
                "scope": _scope_name(ctx, g.scope_kind, sid),
                "cadence": g.cadence,
                "period_start": cur.first_day,
                "period_end": cur.last_day,
                "target": target,
                "achieved": vals["cur"],
                "percent": vals["cur"] / target if target else float("nan"),
                "previous": vals["prev"],
                "previous_percent": vals["prev"] / target if target else float("nan"),
                "complete": complete,
            }
        )
    columns = [
        "goal_id", "name", "measure", "scope_kind", "scope_id", "scope", "cadence",
        "period_start", "period_end", "target", "achieved", "percent", "previous",
        "previous_percent", "complete",
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns).astype(
        {"goal_id": "int64", "scope_id": "Int64", "target": "float64", "achieved": "float64"}
    )
    return Goals(goals=frame, _ctx=ctx, _valid=valid)
