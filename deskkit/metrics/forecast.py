"""The sales forecast: open deals now, weighted by each stage's own win rate."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

import ibis
import pandas as pd

from deskkit.filters import Scope
from deskkit.metrics._base import Context, to_sql
from deskkit.metrics._now import (
    CLOSED_KINDS,
    OPEN_KINDS,
    _at_now,
    _open_now,
    _rows,
    _user_id,
    _user_names,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = ["MIN_SAMPLE", "Forecast", "forecast"]

#: Closed deals a stage needs before its own win rate is used instead of its pipeline's.
MIN_SAMPLE = 20


# Forecast ---------------------------------------------------------------------------------------

FORECAST_DEFINITION = (
    "Forecast: open deals (in an open or unsorted stage, not deleted) in the scope across all "
    "pipelines now, whatever the period. Budget is their total price; weighted budget sums each "
    "price times the probability of reaching won from the deal's stage now. That probability is "
    "learned from the account's own history: among closed deals (won or lost now, not deleted, "
    "whatever their responsible user) that were ever in that stage before now, the share now "
    "won, with the sample size shown. When a stage has fewer than {k} such deals the pipeline's "
    "overall rate is used instead (closed deals ever in any of its open or unsorted stages), and "
    "the basis column says so; with no closed deal at all the probability is unknown and the "
    "deals add nothing to the weighted budget."
)

_STAGE_COLS = [
    "pipeline_id",
    "pipeline",
    "stage_id",
    "stage",
    "deals",
    "budget",
    "sample",
    "won",
    "probability",
    "basis",
    "basis_sample",
    "weighted_budget",
]


@dataclass(frozen=True)
class Forecast:
    """Weighted pipeline now. ``stages``: one row per open or unsorted stage (pipelines and
    stages in order) — ``deals, budget``, the stage's closed-history ``sample`` and ``won``,
    the ``probability`` used, its ``basis`` (stage / pipeline / none) and ``basis_sample``, and
    ``weighted_budget``. ``by_user``: ``user_id, user, deals, budget, weighted_budget``."""

    stages: pd.DataFrame
    by_user: pd.DataFrame
    deals: int
    budget: float
    weighted_budget: float
    min_sample: int
    _ctx: Context = field(repr=False, compare=False)

    #: The rule text for the default sample size; an instance carries its own.
    definition = FORECAST_DEFINITION.format(k=MIN_SAMPLE)

    def __post_init__(self) -> None:
        object.__setattr__(self, "definition", FORECAST_DEFINITION.format(k=self.min_sample))

    def sql(self) -> dict[str, str]:
        return to_sql(self._ctx, lambda: _forecast_queries(self._ctx))

    def records(
        self,
        what: Literal["deals", "sample"] = "deals",
        pipeline: int | str | None = None,
        stage: int | str | None = None,
        *,
        user: int | str | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """``"deals"``: the open deals (optionally of one pipeline / stage / user) with their
        ``probability`` and ``weighted``; ``"sample"``: the closed deals a stage's (or, without
        ``stage``, a pipeline's) probability was learned from, with ``won``."""
        ctx = self._ctx
        pid, sid = _resolve_stage(ctx, pipeline, stage)
        if what == "sample":
            if pid is None:
                raise ValueError("records('sample') needs a pipeline (and optionally a stage)")
            v = _visits(ctx)
            v = v.filter(v.pipeline_id == pid, *([v.stage_id == sid] if sid is not None else []))
            hist = _closed_now(ctx)
            hist = hist.filter(hist.deal_id.isin(v.deal_id)).mutate(won=hist.kind == "won")
            return _rows(ctx, hist, [ibis.desc("created_at"), "deal_id"], limit)
        if what != "deals":
            raise ValueError(f"unknown record kind {what!r}; use 'deals' or 'sample'")
        d = _open_now(ctx)
        if pid is not None:
            d = d.filter(d.pipeline_id == pid)
        if sid is not None:
            d = d.filter(d.stage_id == sid)
        if user is not None:
            d = d.filter(d.responsible_user_id == _user_id(ctx, user))
        frame = _rows(ctx, d, [ibis.desc("price"), "deal_id"], limit)
        probs = self.stages.set_index(["pipeline_id", "stage_id"])["probability"]
        keys = pd.MultiIndex.from_arrays([frame.pipeline_id, frame.stage_id])
        frame["probability"] = probs.reindex(keys).to_numpy()
        frame["weighted"] = (frame.price * frame.probability).fillna(0.0)
        return frame


def _resolve_stage(
    ctx: Context, pipeline: int | str | None, stage: int | str | None
) -> tuple[int | None, int | None]:
    """(pipeline_id, stage_id) from ids or names; a stage needs its pipeline."""
    if pipeline is None:
        if stage is not None:
            raise ValueError("a stage is named within a pipeline: pass pipeline= too")
        return None, None
    pipes, st = ctx.store.pipelines, ctx.store.stages
    key = str(pipeline).strip()
    hit = pipes.loc[
        (pipes.pipeline_id.astype(str) == key) | (pipes.name.str.casefold() == key.casefold())
    ]
    if hit.empty:
        raise ValueError(f"unknown pipeline {pipeline!r}; known: {', '.join(pipes.name)}")
    pid = int(hit.pipeline_id.iloc[0])
    if stage is None:
        return pid, None
    st = st.loc[(st.pipeline_id == pid) & st.kind.isin(OPEN_KINDS)]
    key = str(stage).strip()
    hit = st.loc[(st.stage_id.astype(str) == key) | (st.name.str.casefold() == key.casefold())]
    if hit.empty:
        raise ValueError(f"stage {stage!r} is not an open stage of pipeline {pipeline!r}")
    return pid, int(hit.stage_id.iloc[0])


def _closed_now(ctx: Context) -> ir.Table:
    """Deals won or lost at now that the viewer may see, whatever the scope: the account's
    history is the same for every manager, only the viewer's rights narrow it."""
    history = replace(ctx, scope=Scope())
    return _at_now(history, history.deals(), CLOSED_KINDS)


def _visits(ctx: Context) -> ir.Table:
    """(deal_id, pipeline_id, stage_id, won): each open or unsorted stage a deal closed at now
    was in before now, once per deal and stage (from the ``from`` and ``to`` of its moves)."""
    m = ctx.table("deal_moves")
    m = m.filter(m.at < ctx.now)
    ends = [
        m.select("deal_id", pipeline_id=m[f"{end}_pipeline_id"], stage_id=m[f"{end}_stage_id"])
        for end in ("from", "to")
    ]
    v = ibis.union(*ends, distinct=True)
    closed = _closed_now(ctx)
    v = v.join(closed.select("deal_id", won=closed.kind == "won"), "deal_id")
    st = ctx.table("stages")
    st = st.filter(st.kind.isin(list(OPEN_KINDS))).select("pipeline_id", "stage_id")
    return v.join(st, ["pipeline_id", "stage_id"])


#: Stage bits per engine integer (a signed 64-bit integer; the sign bit stays clear).
_BITS = 62


def _stage_bit(
    pipeline: ir.IntegerValue, stage: ir.IntegerValue, pairs: list[tuple[int, int]]
) -> ir.IntegerValue:
    """``1 << i`` when ``(pipeline, stage)`` is ``pairs[i]``, else 0."""
    by_pipe: dict[int, list[tuple[int, int]]] = {}
    for i, (pid, sid) in enumerate(pairs):
        by_pipe.setdefault(pid, []).append((sid, 1 << i))
    branches = [(pid, stage.cases(*bits, else_=0)) for pid, bits in by_pipe.items()]
    return pipeline.cases(*branches, else_=0).cast("int64")


def _rates(ctx: Context) -> ir.Table:
    """Win rates: ``pipeline_id, stage_id, sample, won`` per open or unsorted stage, and per
    pipeline (``stage_id`` null), over the deals of :func:`_visits`, counted once each.

    Rather than listing every (deal, stage) visit and making it distinct (millions of rows),
    each deal's visited stages become the bits of one integer (``bit_or`` over its moves); the
    deals are then counted per (stage set, won), a few thousand rows, and a stage or pipeline
    counts the sets that share a bit with it.
    """
    st = ctx.table("stages")
    st = st.filter(st.kind.isin(list(OPEN_KINDS))).select("pipeline_id", "stage_id")
    known = ctx.store.stages.loc[ctx.store.stages["kind"].isin(OPEN_KINDS)]
    pairs = list(zip(known["pipeline_id"].astype(int), known["stage_id"].astype(int), strict=True))
    if not pairs:
        return st.select("pipeline_id", "stage_id", sample=ibis.literal(0), won=ibis.literal(0))
    # More stages than bits in one integer: one integer per chunk of stages.
    chunks = [pairs[i : i + _BITS] for i in range(0, len(pairs), _BITS)]
    masks = [f"m{k}" for k in range(len(chunks))]
    m = ctx.table("deal_moves")
    m = m.filter(m.at < ctx.now)
    visited = m.group_by("deal_id").aggregate(
        **{
            mask: (
                _stage_bit(m.from_pipeline_id, m.from_stage_id, chunk)
                | _stage_bit(m.to_pipeline_id, m.to_stage_id, chunk)
            ).bit_or()
            for mask, chunk in zip(masks, chunks, strict=True)
        }
    )
    closed = _closed_now(ctx)
    v = visited.join(closed.select("deal_id", won=closed.kind == "won"), "deal_id")
    sets = v.group_by([*masks, "won"]).aggregate(deals=v.count())
    # The bits of each stage, and of each pipeline (all its stages' bits).
    bits = [f"b{k}" for k in range(len(chunks))]
    stages = st.mutate(
        **{b: _stage_bit(st.pipeline_id, st.stage_id, c) for b, c in zip(bits, chunks, strict=True)}
    )
    pipes = stages.group_by("pipeline_id").aggregate(
        stage_id=ibis.null("int64"), **{b: stages[b].bit_or() for b in bits}
    )
    keys = ibis.union(stages, pipes.select(*stages.columns), distinct=False)
    x = sets.cross_join(keys)
    hit = ibis.literal(False)
    for mask, b in zip(masks, bits, strict=True):
        hit = hit | ((x[mask] & x[b]) != 0)
    x = x.filter(hit)
    return x.group_by(["pipeline_id", "stage_id"]).aggregate(
        sample=x.deals.sum(), won=ibis.ifelse(x.won, x.deals, 0).sum()
    )


def _open_budget(ctx: Context) -> ir.Table:
    """Open deals now per (pipeline, stage, responsible): a few dozen rows."""
    d = _open_now(ctx)
    keys = ["pipeline_id", "stage_id", "responsible_user_id"]
    return d.group_by(keys).aggregate(deals=d.count(), budget=d.price.sum())


def _forecast_queries(ctx: Context) -> dict[str, ir.Table]:
    """Both queries behind the numbers (for ``sql()``): the open budget now, and the win rates
    per stage and per pipeline (``stage_id`` null)."""
    return {"open": _open_budget(ctx), "rates": _rates(ctx)}


def _stage_rates(ctx: Context, rates: pd.DataFrame, min_sample: int) -> pd.DataFrame:
    """Every open or unsorted stage in the desktop's order, with its pipeline's name and
    archived flag and the win probability :data:`DEFINITION` gives it from ``rates``
    (``sample, won, basis, basis_sample, probability``)."""
    pipes = ctx.store.pipelines.rename(columns={"name": "pipeline", "sort": "psort"})
    st = ctx.store.stages.loc[ctx.store.stages.kind.isin(OPEN_KINDS)]
    st = st.rename(columns={"name": "stage"}).merge(pipes, on="pipeline_id")
    st["is_archived"] = st.is_archived.fillna(False).astype(bool)
    by_stage = rates.loc[rates.stage_id.notna()].astype({"stage_id": "int64"})
    st = st.merge(by_stage, on=["pipeline_id", "stage_id"], how="left")
    st[["sample", "won"]] = st[["sample", "won"]].fillna(0).astype("int64")
    by_pipe = rates.loc[rates.stage_id.isna()].set_index("pipeline_id")
    pipe_n = st.pipeline_id.map(by_pipe["sample"]).fillna(0).astype("int64")
    pipe_won = st.pipeline_id.map(by_pipe["won"]).fillna(0).astype("int64")
    own = st["sample"] >= min_sample
    st["basis"] = own.map({True: "stage", False: "pipeline"}).where(own | (pipe_n > 0), "none")
    st["basis_sample"] = st["sample"].where(own, pipe_n).astype("int64")
    won = st["won"].where(own, pipe_won)
    st["probability"] = (won / st.basis_sample.where(st.basis_sample > 0)).astype("float64")
    return st.sort_values(["psort", "pipeline_id", "sort", "stage_id"], ignore_index=True)


def forecast(ctx: Context, min_sample: int = MIN_SAMPLE) -> Forecast:
    """Open budget now, and the budget weighted by each stage's learned win probability."""
    if min_sample < 1:
        raise ValueError(f"forecast needs min_sample >= 1, got {min_sample}")
    open_ = _open_budget(ctx).to_pandas()
    # The win rates depend on the account's history at now and on the viewer's rights, not on
    # the scope: a switch to another manager or department reuses them (and does not even
    # build their query, a third of this metric's Python).
    history = replace(ctx, scope=Scope())
    key = ("forecast.rates", history.owners, ctx.now)
    rates = ctx.store.memo(key, lambda: _rates(ctx).to_pandas())
    # Engine rows come in any order; fixing it makes the float sums per user reproducible.
    open_ = open_.sort_values(["pipeline_id", "stage_id", "responsible_user_id"], ignore_index=True)
    # The stages with their probabilities are the same for every scope: made once per rates.
    st = ctx.store.memo((*key, "stages", min_sample), lambda: _stage_rates(ctx, rates, min_sample))
    per = open_.groupby(["pipeline_id", "stage_id"])[["deals", "budget"]].sum()
    here = pd.MultiIndex.from_arrays([st.pipeline_id, st.stage_id])
    per = per.reindex(here)
    st = st.assign(
        deals=per["deals"].fillna(0).astype("int64").to_numpy(),
        budget=per["budget"].fillna(0.0).astype("float64").to_numpy(),
    )
    st["weighted_budget"] = (st.budget * st.probability).fillna(0.0)
    # Archived pipelines only matter while open deals still sit in them.
    st = st.loc[~st.is_archived | (st.deals > 0)]
    stages = st[_STAGE_COLS].reset_index(drop=True)

    prob = pd.Series(st.probability.to_numpy(), index=here[st.index])
    keys = pd.MultiIndex.from_arrays([open_.pipeline_id, open_.stage_id])
    open_["weighted_budget"] = (open_.budget * prob.reindex(keys).to_numpy()).fillna(0.0)
    users = open_.groupby("responsible_user_id", as_index=False)[
        ["deals", "budget", "weighted_budget"]
    ].sum()
    users = users.rename(columns={"responsible_user_id": "user_id"}).astype(
        {"user_id": "int64", "deals": "int64", "budget": "float64"}
    )
    users.insert(1, "user", _user_names(ctx, users.user_id))
    users = users.sort_values(["weighted_budget", "user"], ascending=[False, True])
    return Forecast(
        stages=stages,
        by_user=users.reset_index(drop=True),
        deals=int(stages.deals.sum()),
        budget=float(stages.budget.sum()),
        weighted_budget=float(stages.weighted_budget.sum()),
        min_sample=min_sample,
        _ctx=ctx,
    )
