"""Lead sources: the deals created during the period, split by where they came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import ibis
import pandas as pd

from deskkit.metrics._base import Context, count_if, label_ids, to_sql
from deskkit.metrics._now import later_moves, moved_since_now

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from deskkit.filters import Period, Scope

__all__ = ["DEFINITION", "NO_SOURCE", "LeadSources", "lead_sources"]

DEFINITION = (
    "Lead sources: deals created during the period whose responsible user is in the selected "
    "scope, grouped by their lead source (deals without one form the \u201cno source\u201d row). "
    "For each source: the number of deals, their budget, and the won share: the part of those "
    "deals that are won now (their stage at the moment the desktop is looked at is a won stage), "
    "whenever they were won. Deleted deals are never counted."
)

#: Row label of deals without a source.
NO_SOURCE = "no source"


def _won_condition(
    ctx: Context, pipeline: ir.IntegerValue, stage: ir.IntegerValue
) -> ir.BooleanValue:
    """Engine condition: (pipeline, stage) is a won stage of the account."""
    st = ctx.store.stages
    won = st.loc[st["kind"] == "won", ["pipeline_id", "stage_id"]]
    cond = ibis.literal(False)
    for p, s in won.itertuples(index=False):
        cond = cond | ((pipeline == int(p)) & (stage == int(s)))
    return cond


def _created(ctx: Context, named: bool = True) -> ir.Table:
    """Deals created during the period, with their source name (unless not ``named``) and
    whether they are won now.

    A deal's stage "now" is the ``from`` of its first move after now (when the store holds
    later history than the moment looked at), else its current stage.
    """
    d = ctx.deals()
    d = d.filter(ctx.during(d.created_at))
    if moved_since_now(ctx):
        later = later_moves(ctx).semi_join(d, "deal_id")
        back = later.group_by("deal_id").aggregate(
            p_now=later.from_pipeline_id.argmin(later.at),
            s_now=later.from_stage_id.argmin(later.at),
        )
        j = d.left_join(back, d.deal_id == back.deal_id)
        j = j.mutate(p_now=j.p_now.coalesce(j.pipeline_id), s_now=j.s_now.coalesce(j.stage_id))
    else:  # no move since now: each deal is in its stage now
        j = d.mutate(p_now=d.pipeline_id, s_now=d.stage_id)
    won = _won_condition(ctx, j.p_now, j.s_now)
    c = j.select(
        "deal_id",
        "name",
        "price",
        "pipeline_id",
        "stage_id",
        "responsible_user_id",
        "created_at",
        "source_id",
        won_now=won,
    )
    return c if not named else _with_source_name(ctx, c)


def _with_source_name(ctx: Context, t: ir.Table) -> ir.Table:
    """``t`` (with ``source_id``) with the source's name, ``source`` (NULL if unknown), after
    ``source_id``."""
    src = ctx.table("lead_sources").select(_id="id", source="name")
    j = t.left_join(src, t.source_id == src._id)
    cols = list(t.columns)
    at = cols.index("source_id") + 1
    return j.select(*cols[:at], "source", *cols[at:])


def _queries(ctx: Context) -> dict[str, ir.Table]:
    # Counted per source id, then named: the names meet the handful of rows, not every deal.
    c = _created(ctx, named=False)
    by_source = c.group_by("source_id").aggregate(
        deals=c.count(),
        budget=c.price.fill_null(0).sum(),
        won=count_if(c.won_now),
        won_budget=c.price.fill_null(0).sum(where=c.won_now),
    )
    return {"sources": _with_source_name(ctx, by_source)}


@dataclass(frozen=True)
class LeadSources:
    """Deals created during the period, per source.

    ``sources``: ``source_id`` (nullable), ``source``, ``deals``, ``budget``, ``won``,
    ``won_budget``, ``won_share`` (won ÷ deals), most deals first, the "no source" row last.
    The headline totals are over every row.
    """

    period: Period
    scope: Scope
    sources: pd.DataFrame
    deals: int
    budget: float
    won: int
    won_budget: float
    _ctx: Context = field(repr=False, compare=False)

    definition = DEFINITION

    @property
    def won_share(self) -> float:
        """Share of the period's new deals that are won now (NaN without deals)."""
        return self.won / self.deals if self.deals else float("nan")

    def sql(self) -> dict[str, str]:
        """The SQL the engine ran for these numbers (query name -> SQL)."""
        return to_sql(self._ctx, lambda: _queries(self._ctx))

    def records(
        self, source: int | str | None = None, *, won: bool | None = None, limit: int | None = None
    ) -> pd.DataFrame:
        """The deals behind a row: ``source`` by id or name, ``"no source"`` for deals without
        one, None for every row; ``won=True``/``False`` keeps only deals won now / not won."""
        c = _created(self._ctx)
        if source is not None:
            c = c.filter(self._source_condition(c, source))
        if won is not None:
            c = c.filter(c.won_now if won else ~c.won_now)
        c = c.order_by([ibis.desc("created_at"), "deal_id"])
        return label_ids(self._ctx.store, (c.limit(limit) if limit else c).to_pandas())

    def _source_condition(self, c: ir.Table, source: int | str) -> ir.BooleanValue:
        """Resolve ``source`` against this result's rows (no query: they are in hand)."""
        key = str(source).strip()
        if key.casefold() == NO_SOURCE:
            return c.source_id.isnull()
        rows = self.sources.dropna(subset=["source_id"])
        hit = rows.loc[
            (rows["source_id"].astype(str) == key)
            | (rows["source"].str.casefold() == key.casefold())
        ]
        if hit.empty:
            names = ", ".join(f"{r.source_id} {r.source!r}" for r in rows.itertuples())
            raise ValueError(f"no deals from source {source!r} in this result; rows: {names}")
        return c.source_id == int(hit["source_id"].iloc[0])


def lead_sources(ctx: Context) -> LeadSources:
    """Deals created during the period by source; see :data:`DEFINITION` for the rules."""
    raw = _queries(ctx)["sources"].to_pandas()
    frame = pd.DataFrame(
        {
            "source_id": raw["source_id"].astype("Int64"),
            # A source id missing from lead_sources still gets a readable row.
            "source": [
                NO_SOURCE if pd.isna(i) else (n if isinstance(n, str) else f"source {int(i)}")
                for i, n in zip(raw["source_id"], raw["source"], strict=True)
            ],
            "deals": raw["deals"].astype("int64"),
            "budget": raw["budget"].astype("float64"),
            "won": raw["won"].astype("int64"),
            "won_budget": raw["won_budget"].fillna(0).astype("float64"),
        }
    )
    frame["won_share"] = frame["won"] / frame["deals"]
    frame["_none"] = frame["source_id"].isna()
    frame = frame.sort_values(["_none", "deals", "source"], ascending=[True, False, True])
    frame = frame.drop(columns="_none").reset_index(drop=True)
    return LeadSources(
        period=ctx.period,
        scope=ctx.scope,
        sources=frame,
        deals=int(frame["deals"].sum()),
        budget=float(frame["budget"].sum()),
        won=int(frame["won"].sum()),
        won_budget=float(frame["won_budget"].sum()),
        _ctx=ctx,
    )
