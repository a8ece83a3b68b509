"""Pipeline flow: the desktop's "sales analysis" widget for one pipeline.

Every number is an engine query over ``deals`` and ``deal_moves``; only per-stage aggregates (a
few rows) come back to pandas. Stage positions on the line: open stages 1..n in sort order, won
n+1; unsorted is 0, lost -1 and any stage of another pipeline -2 (off the line).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import ibis
import pandas as pd

from deskkit.filters import Scope as _Scope
from deskkit.filters import Viewer as _Viewer
from deskkit.metrics._base import Context, label_ids, to_sql

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from deskkit.filters import Period, Scope, Viewer
    from deskkit.store import Store

__all__ = ["DEFINITION", "PipelineFlow", "PipelineLine", "pipeline_flow"]

DEFINITION = (
    "Pipeline flow for one pipeline and period. Open stages are in order and won follows the "
    "last one; lost is outside the line. Deals/budget: deals in each stage at the end of the "
    "period (for won: deals won during the period). Net in: moves during the period across the "
    "boundary just before the stage, forward minus backward; a skip crosses every boundary it "
    "passes, so values may be negative, and creating a deal is not a move. Lost: moves during "
    "the period from that stage to lost. New: deals that arrived in an open or won stage during "
    "the period: created there, accepted from the unsorted stage, or transferred from another "
    "pipeline (a move to another pipeline is an exit, not a loss). Conversion: forward crossings "
    "of the boundary after a stage ÷ (deals there at the start + entries during the period). "
    "Deleted deals are never counted."
)

OUTSIDE, LOST, UNSORTED = -2, -1, 0

RecordKind = Literal["deals", "net_in", "lost", "new", "won", "lost_total"]


@dataclass(frozen=True)
class PipelineLine:
    """One pipeline's stages laid out on the flow line."""

    pipeline_id: int
    name: str
    open_ids: tuple[int, ...]
    open_names: tuple[str, ...]
    won_ids: tuple[int, ...]
    lost_ids: tuple[int, ...]
    unsorted_ids: tuple[int, ...]

    @classmethod
    def of(cls, store: Store, pipeline: int | str | None) -> PipelineLine:
        """Resolve a pipeline by id or name (default: the main one) from the store."""
        pipes = store.pipelines
        if pipes.empty:
            raise ValueError(f"{store.source} has no pipelines")
        if pipeline is None:
            main = pipes.loc[pipes["is_main"].fillna(False).astype(bool)]
            row = (main if not main.empty else pipes).iloc[0]
        else:
            hit = pipes.loc[
                (pipes["pipeline_id"].astype(str) == str(pipeline).strip())
                | (pipes["name"].str.casefold() == str(pipeline).strip().casefold())
            ]
            if hit.empty:
                known = ", ".join(f"{r.pipeline_id} {r.name!r}" for r in pipes.itertuples())
                raise ValueError(f"unknown pipeline {pipeline!r}; known: {known}")
            row = hit.iloc[0]
        pid = int(row["pipeline_id"])
        st = store.stages.loc[store.stages["pipeline_id"] == pid].sort_values(["sort", "stage_id"])
        kind = st["kind"]
        return cls(
            pipeline_id=pid,
            name=str(row["name"]),
            open_ids=tuple(int(s) for s in st.loc[kind == "open", "stage_id"]),
            open_names=tuple(str(s) for s in st.loc[kind == "open", "name"]),
            won_ids=tuple(int(s) for s in st.loc[kind == "won", "stage_id"]),
            lost_ids=tuple(int(s) for s in st.loc[kind == "lost", "stage_id"]),
            unsorted_ids=tuple(int(s) for s in st.loc[kind == "unsorted", "stage_id"]),
        )

    @property
    def n(self) -> int:
        """Number of open stages; won sits at position n + 1."""
        return len(self.open_ids)

    def positions(self) -> dict[int, int]:
        pos = {sid: i + 1 for i, sid in enumerate(self.open_ids)}
        pos |= {sid: self.n + 1 for sid in self.won_ids}
        pos |= {sid: LOST for sid in self.lost_ids}
        pos |= {sid: UNSORTED for sid in self.unsorted_ids}
        return pos

    def position(self, pipeline: ir.IntegerValue, stage: ir.IntegerValue) -> ir.IntegerValue:
        """Engine expression: the position of (pipeline, stage) on this line."""
        branches = [(sid, p) for sid, p in self.positions().items()]
        on_line = stage.cases(*branches, else_=ibis.literal(OUTSIDE)) if branches else OUTSIDE
        return ibis.ifelse(pipeline == self.pipeline_id, on_line, OUTSIDE).cast("int64")

    def stage_position(self, stage: int | str) -> int:
        """Row position of a stage given by id, name or ``"won"``."""
        if str(stage).casefold() == "won":
            return self.n + 1
        for i, (sid, name) in enumerate(zip(self.open_ids, self.open_names, strict=True)):
            if str(stage) == str(sid) or str(stage).casefold() == name.casefold():
                return i + 1
        if str(stage) in {str(s) for s in self.won_ids}:
            return self.n + 1
        raise ValueError(
            f"stage {stage!r} is not an open stage of pipeline {self.name!r}; "
            f"rows: {', '.join(self.open_names)}, won"
        )


# Engine expressions ---------------------------------------------------------------------------


def _per_deal(ctx: Context, line: PipelineLine) -> ir.Table:
    """One row per visible deal that can count: its position at the start and at the end, and
    whether a move during the period made it new, won or lost here (``moved_*``; see
    :func:`_sets` for the deals created so).

    A deal's stage at moment t is the ``from`` of its first move at or after t, or its current
    stage when it has none; so only moves after the period's start are read. For deals created
    inside the period the "start" position is the stage they were created in (a deal's moves
    follow its creation). Deals that sat outside this pipeline's open stages all period (most
    closed deals) are skipped early: they count nowhere, and skipping them keeps the work
    proportional to the period's activity.
    """
    t0, t1 = ctx.period.start_utc, ctx.period.until_utc
    won = line.n + 1
    m = ctx.store.table("deal_moves")
    # Only moves touching this pipeline: a deal's first such move after t has the same position
    # as its first move after t (one outside the pipeline comes from outside, and so does the
    # move that later brings the deal in), and it is outside if there is none.
    pid = line.pipeline_id
    later = m.filter(m.at >= t0, (m.from_pipeline_id == pid) | (m.to_pipeline_id == pid))
    # Each move's positions once, as columns: inlined into each flag below, the engine would
    # evaluate the position CASEs six times per move (a third of a year's cost at 1M).
    later = later.mutate(
        a=line.position(later.from_pipeline_id, later.from_stage_id),
        b=line.position(later.to_pipeline_id, later.to_stage_id),
        during=later.at < t1,
    )
    a, b, during = later.a, later.b, later.during
    first = later.group_by("deal_id").aggregate(
        p0=later.from_pipeline_id.argmin(later.at),
        s0=later.from_stage_id.argmin(later.at),
        p1=later.from_pipeline_id.argmin(later.at, where=later.at >= t1),
        s1=later.from_stage_id.argmin(later.at, where=later.at >= t1),
        # New: accepted from unsorted or arrived from another pipeline.
        moved_new=(during & (b >= 1) & ((a == UNSORTED) | (a == OUTSIDE))).any(),
        moved_won=(during & (b == won) & (a != won)).any(),
        moved_lost=(during & (b == LOST) & (a != LOST)).any(),
    )
    d = ctx.deals()
    d = d.filter(d.created_at < t1)
    open_now = (d.pipeline_id == line.pipeline_id) & d.stage_id.isin(list(line.open_ids))
    d = d.filter(open_now | (d.created_at >= t0) | d.deal_id.isin(first.deal_id))
    j = d.left_join(first, d.deal_id == first.deal_id)
    return j.select(
        deal_id=j.deal_id,
        price=j.price.fill_null(0),
        created_in=j.created_at >= t0,
        pos0=line.position(j.p0.coalesce(j.pipeline_id), j.s0.coalesce(j.stage_id)),
        pos1=line.position(j.p1.coalesce(j.pipeline_id), j.s1.coalesce(j.stage_id)),
        moved_new=j.moved_new.fill_null(False),
        moved_won=j.moved_won.fill_null(False),
        moved_lost=j.moved_lost.fill_null(False),
    )


def _sets(per: ir.Table | pd.DataFrame, line: PipelineLine) -> dict[str, Any]:
    """Whether each deal (row of :func:`_per_deal`, of an engine table or of a frame) was
    ``new``, ``won`` or ``lost`` during the period: moved so, or created so (new in an open or
    won stage, won or lost when created closed)."""
    made = per["created_in"]
    return {
        "new": per["moved_new"] | (made & (per["pos0"] >= 1)),
        "won": per["moved_won"] | (made & (per["pos0"] == line.n + 1)),
        "lost": per["moved_lost"] | (made & (per["pos0"] == LOST)),
    }


def _moves(ctx: Context, line: PipelineLine) -> ir.Table:
    """Moves during the period touching this pipeline, of visible deals, with positions."""
    t0, t1 = ctx.period.start_utc, ctx.period.until_utc
    m = ctx.store.table("deal_moves")
    pid = line.pipeline_id
    m = m.filter(
        m.at >= t0,
        m.at < t1,
        (m.from_pipeline_id == pid) | (m.to_pipeline_id == pid),
    )
    m = m.mutate(
        a=line.position(m.from_pipeline_id, m.from_stage_id),
        b=line.position(m.to_pipeline_id, m.to_stage_id),
    )
    # Positions before the semi-join: DuckDB then hashes the period's moves and streams the
    # deals past them, instead of hashing every deal (twice as fast at 1M deals).
    return m.semi_join(ctx.deals(), "deal_id")


def _crosses(mv: ir.Table, k: int) -> tuple[ir.BooleanValue, ir.BooleanValue]:
    """(forward, backward) crossing of boundary k | k+1 by a move on the line."""
    on_line = (mv.a >= 1) & (mv.b >= 1)
    forward = on_line & (mv.a <= k) & (mv.b > k)
    backward = on_line & (mv.b <= k) & (mv.a > k)
    return forward, backward


# Result ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PipelineFlow:
    """The pipeline-flow numbers for one pipeline, period and scope.

    ``stages`` has one row per open stage in order, then a ``won`` row: ``stage_id, stage,
    deals, budget, net_in, lost, conversion``. ``net_in`` is the net number of moves across the
    boundary just before the row (0 for the first open stage, which has no boundary before it).
    """

    pipeline_id: int
    pipeline: str
    period: Period
    scope: Scope
    stages: pd.DataFrame
    new: int
    won: int
    won_budget: float
    lost_total: int
    lost_budget: float
    _ctx: Context = field(repr=False, compare=False)
    _line: PipelineLine = field(repr=False, compare=False)

    definition = DEFINITION

    @property
    def open_deals(self) -> int:
        """Deals in open stages at the end of the period."""
        return int(self.stages["deals"].iloc[:-1].sum())

    @property
    def open_budget(self) -> float:
        return float(self.stages["budget"].iloc[:-1].sum())

    def sql(self) -> dict[str, str]:
        """The SQL the engine ran for these numbers (query name -> SQL), so nothing is hidden."""
        return to_sql(_queries(self._ctx, self._line))

    def records(
        self,
        what: RecordKind = "deals",
        stage: int | str | None = None,
        *,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """The rows behind a number.

        ``what`` is ``"deals"`` (deals in ``stage`` at the end; ``stage="won"`` for won),
        ``"net_in"`` (moves across the boundary before ``stage``, with ``sign`` +1/-1),
        ``"lost"`` (moves from ``stage`` to lost; all lost deals when ``stage`` is None),
        ``"new"``, ``"won"`` or ``"lost_total"`` (the deals behind the totals).
        """
        ctx, line = self._ctx, self._line
        if what in ("new", "won", "lost_total") or (what == "lost" and stage is None):
            per = _per_deal(ctx, line)
            picked = _sets(per, line)[{"lost_total": "lost"}.get(what, what)]
            return _deal_rows(ctx, per.filter(picked).select("deal_id"), limit)
        if stage is None:
            raise ValueError(f"records({what!r}) needs a stage (id, name or 'won')")
        k = line.stage_position(stage)
        if what == "deals":
            if k == line.n + 1:
                return self.records("won", limit=limit)
            per = _per_deal(ctx, line)
            ids = per.filter(per.pos1 == k).select("deal_id")
            return _deal_rows(ctx, ids, limit)
        mv = _moves(ctx, line)
        if what == "net_in":
            if k == 1:
                return _move_rows(ctx, mv.filter(ibis.literal(False)), limit)
            fwd, back = _crosses(mv, k - 1)
            picked = mv.filter(fwd | back).mutate(sign=ibis.ifelse(fwd, 1, -1))
            return _move_rows(ctx, picked, limit)
        if what == "lost":
            return _move_rows(ctx, mv.filter((mv.a == k) & (mv.b == LOST)), limit)
        raise ValueError(f"unknown record kind {what!r}; use one of {RecordKind.__args__}")


def _deal_rows(ctx: Context, ids: ir.Table, limit: int | None) -> pd.DataFrame:
    d = ctx.deals()
    d = d.semi_join(ids, "deal_id").order_by([ibis.desc("price"), "deal_id"])
    cols = ["deal_id", "name", "price", "pipeline_id", "stage_id", "responsible_user_id"]
    frame = (d.limit(limit) if limit else d).select(*cols, "created_at", "closed_at").to_pandas()
    return label_ids(ctx.store, frame)


def _move_rows(ctx: Context, moves: ir.Table, limit: int | None) -> pd.DataFrame:
    d = ctx.deals().select("deal_id", "name", "price", "responsible_user_id")
    j = moves.join(d, "deal_id").order_by(["at", "deal_id"])
    cols = ["deal_id", "name", "price", "responsible_user_id", "at"]
    cols += ["from_pipeline_id", "from_stage_id", "to_pipeline_id", "to_stage_id"]
    if "sign" in moves.columns:
        cols.append("sign")
    return label_ids(ctx.store, (j.limit(limit) if limit else j).select(*cols).to_pandas())


# Computation ----------------------------------------------------------------------------------


def _queries(ctx: Context, line: PipelineLine) -> dict[str, ir.Table]:
    """The two engine queries behind the numbers; each returns a handful of rows."""
    # 1. Stage occupancy at the start and the end, creations, and the new / won / lost deals
    #    (each deal once), from one small cross-tab of the deals that can count.
    per = _per_deal(ctx, line)
    keys = ["created_in", "pos0", "pos1", "moved_new", "moved_won", "moved_lost"]
    deals = per.group_by(keys).aggregate(deals=per.count(), budget=per.price.sum())
    # 2. The period's moves per (from, to) position: crossings, entries and losses follow.
    mv = _moves(ctx, line)
    moves = mv.group_by(["a", "b"]).aggregate(moves=mv.count())
    return {"deals": deals, "moves": moves}


def pipeline_flow(
    store: Store,
    period: Period,
    pipeline: int | str | None = None,
    scope: Scope | None = None,
    viewer: Viewer | None = None,
) -> PipelineFlow:
    """Compute the pipeline flow; see :data:`DEFINITION` for the exact rules."""
    ctx = Context(store, period, scope or _Scope(), viewer or _Viewer())
    line = PipelineLine.of(store, pipeline)
    n = line.n

    q = _queries(ctx, line)
    occ = q["deals"].to_pandas()
    mv = q["moves"].to_pandas()

    # Deals per start position (existing / created during the period) and per end position.
    created = occ["created_in"].astype(bool)
    start = occ.loc[~created].groupby("pos0")["deals"].sum()
    made = occ.loc[created].groupby("pos0")["deals"].sum()
    end = occ.groupby("pos1")[["deals", "budget"]].sum()
    sets = _sets(occ, line)

    def total(label: str, col: str) -> float:
        return float(occ.loc[sets[label], col].sum())

    # Moves per boundary (forward / backward, index k = boundary k|k+1), entries and losses
    # per stage, from the (from, to) cross-tab.
    fwd, back, entered, lost = ([0] * (n + 2) for _ in range(4))
    for a, b, count in mv[["a", "b", "moves"]].itertuples(index=False):
        if a >= 1 and b >= 1:
            for k in range(a, b):
                fwd[k] += count
            for k in range(b, a):
                back[k] += count
        if 1 <= b <= n and a != b:
            entered[b] += count
        if 1 <= a <= n and b == LOST:
            lost[a] += count

    rows = []
    for k, (sid, name) in enumerate(zip(line.open_ids, line.open_names, strict=True), start=1):
        base = start.get(k, 0) + made.get(k, 0) + entered[k]
        rows.append(
            {
                "stage_id": sid,
                "stage": name,
                "deals": end["deals"].get(k, 0),
                "budget": end["budget"].get(k, 0.0),
                "net_in": fwd[k - 1] - back[k - 1] if k > 1 else 0,
                "lost": lost[k],
                "conversion": fwd[k] / base if base else float("nan"),
            }
        )
    rows.append(
        {
            "stage_id": line.won_ids[0] if line.won_ids else 142,
            "stage": "won",
            "deals": int(total("won", "deals")),
            "budget": total("won", "budget"),
            "net_in": fwd[n] - back[n] if n else 0,
            "lost": 0,
            "conversion": float("nan"),
        }
    )
    stages = pd.DataFrame(rows).astype(
        {
            "stage_id": "int64",
            "deals": "int64",
            "budget": "float64",
            "net_in": "int64",
            "lost": "int64",
            "conversion": "float64",
        }
    )
    return PipelineFlow(
        pipeline_id=line.pipeline_id,
        pipeline=line.name,
        period=period,
        scope=ctx.scope,
        stages=stages,
        new=int(total("new", "deals")),
        won=int(total("won", "deals")),
        won_budget=total("won", "budget"),
        lost_total=int(total("lost", "deals")),
        lost_budget=total("lost", "budget"),
        _ctx=ctx,
        _line=line,
    )
