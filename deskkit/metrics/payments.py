"""Payment counters: named sets of stages, each counting deals (and their budget) either sitting
in the set now or entering it during the period ("awaiting payment" / "paid")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

import ibis
import pandas as pd

from deskkit.metrics._base import Context, label_ids, to_sql
from deskkit.metrics._now import _in_stages, _state_now, entries

if TYPE_CHECKING:
    from collections.abc import Sequence

    import ibis.expr.types as ir

    from deskkit.filters import Period, Scope

__all__ = [
    "DEFINITION",
    "PaymentCounter",
    "PaymentCounters",
    "default_counters",
    "payment_counters",
]

DEFINITION = (
    "Payment counters: each counter is a named set of stages (pipeline and stage), optionally "
    "with every won stage added. A 'now' counter counts the deals in scope (by responsible user) "
    "sitting in one of its stages now, and their budget. An 'entered' counter counts the deals "
    "that entered the set during the period — moved into one of its stages from a stage outside "
    "it, or created in one — once each however often they entered. Budget is the deals' "
    "current budget. By default 'Awaiting payment' is the deals now in a stage named like "
    "'Awaiting payment' ('Ожидает оплаты') and 'Paid' is the deals that entered a stage named "
    "like 'Paid' ('Оплачено') or won during the period. Deleted deals are never counted."
)

Mode = Literal["now", "entered"]
Pair = tuple[int, int]


@dataclass(frozen=True)
class PaymentCounter:
    """One counter: ``stages`` are (pipeline_id, stage_id) pairs; ``include_won`` adds every
    won stage; ``mode`` is ``"now"`` (deals in the stages now) or ``"entered"`` (deals that
    entered them during the period)."""

    name: str
    stages: tuple[Pair, ...] = ()
    mode: Mode = "now"
    include_won: bool = False

    def __post_init__(self) -> None:
        if self.mode not in get_args(Mode):
            raise ValueError(f"counter {self.name!r}: mode must be 'now' or 'entered'")
        if not self.stages and not self.include_won:
            raise ValueError(f"counter {self.name!r} has no stages and does not include won")
        # Accept lists from a settings file; keep the hashable tuple form.
        object.__setattr__(self, "stages", tuple((int(p), int(s)) for p, s in self.stages))

    def pairs(self, stages: pd.DataFrame) -> tuple[Pair, ...]:
        """The stage pairs, with the won stages added; unknown stages raise a ValueError."""
        known = set(zip(stages["pipeline_id"].astype(int), stages["stage_id"], strict=True))
        for p, s in self.stages:
            if (p, s) not in known:
                choices = ", ".join(
                    f"({r.pipeline_id}, {r.stage_id}) {r.name!r}"
                    for r in stages.loc[stages["pipeline_id"] == p].itertuples()
                )
                raise ValueError(
                    f"counter {self.name!r}: unknown stage {s} of pipeline {p}; "
                    f"stages of that pipeline: {choices or 'none (unknown pipeline)'}"
                )
        won = stages.loc[stages["kind"] == "won"]
        extra = zip(won["pipeline_id"].astype(int), won["stage_id"].astype(int), strict=True)
        return tuple(dict.fromkeys([*self.stages, *(extra if self.include_won else [])]))


def _named(stages: pd.DataFrame, *patterns: tuple[str, ...]) -> tuple[Pair, ...]:
    """Stages whose name contains every word of one of ``patterns`` (case-insensitive)."""
    names = stages["name"].fillna("").str.casefold()
    hit = pd.Series(False, index=stages.index)
    for words in patterns:
        hit |= names.map(lambda n, w=words: all(x in n for x in w))
    open_ = stages["kind"].isin(["open", "unsorted"])
    rows = stages.loc[hit & open_]
    return tuple(zip(rows["pipeline_id"].astype(int), rows["stage_id"].astype(int), strict=True))


def default_counters(stages: pd.DataFrame) -> tuple[PaymentCounter, ...]:
    """'Awaiting payment' (deals now in stages named so) and 'Paid' (entered a stage named
    'Paid' or won during the period), from the account's stage names."""
    awaiting = _named(stages, ("await", "pay"), ("ожида", "оплат"))
    paid = tuple(
        p
        for p in _named(stages, ("paid",), ("оплачен",))
        if p not in awaiting and p not in _named(stages, ("unpaid",), ("не оплач",))
    )
    out = [PaymentCounter("Awaiting payment", awaiting, "now")] if awaiting else []
    return (*out, PaymentCounter("Paid", paid, "entered", include_won=True))


def _members(
    ctx: Context, sets: dict[str, tuple[Mode, tuple[Pair, ...]]], only: Mode | None = None
) -> ir.Table:
    """(counter, deal_id): the deals each counter (by its index; ``only`` those of that mode)
    counts, once each. Deleted or out-of-scope deals are still listed: joining the visible
    deals drops them."""
    parts = []
    for i, (mode, pairs) in enumerate(sets.values()):
        if only is not None and mode != only:
            continue
        counter = ibis.literal(i, "int64")
        if mode == "now":
            d = _state_now(ctx, ctx.table("deals"), {s for _, s in pairs})
            d = d.filter(_in_stages(d.pipeline_id, d.stage_id, pairs))
            parts.append(d.select(counter=counter, deal_id=d.deal_id))
            continue
        entered = _entered(ctx, i, pairs)
        parts.append(entered.select("counter", "deal_id"))
    # Each deal once per counter (a union of one table would not make it distinct).
    return ibis.union(*parts).distinct()


def _entered(ctx: Context, counter: int, pairs: tuple[Pair, ...]) -> ir.Table:
    """The period's entries into ``pairs`` (see :func:`entries`, with their deal's columns),
    numbered ``counter``."""
    e = entries(ctx, pairs, ctx.t0, ctx.t1)
    return e.mutate(counter=ibis.literal(counter, "int64"))


@dataclass(frozen=True)
class PaymentCounters:
    """Counter values. ``counters`` has one row per counter: ``name, mode, stages, deals,
    budget`` (``stages`` names the stages, e.g. ``"Sales: Awaiting payment"``)."""

    period: Period
    scope: Scope
    counters: pd.DataFrame
    config: tuple[PaymentCounter, ...]
    _ctx: Context = field(repr=False, compare=False)
    _sets: dict[str, tuple[Mode, tuple[Pair, ...]]] = field(repr=False, compare=False)

    definition = DEFINITION

    def value(self, name: str) -> tuple[int, float]:
        """(deals, budget) of the counter ``name``."""
        row = self.counters.loc[self.counters["name"] == name]
        if row.empty:
            raise ValueError(f"unknown counter {name!r}; counters: {list(self.counters['name'])}")
        return int(row["deals"].iloc[0]), float(row["budget"].iloc[0])

    def sql(self) -> dict[str, str]:
        """The SQL behind the numbers (query name -> SQL)."""
        return to_sql(self._ctx, lambda: {"counters": _query(self._ctx, self._sets)})

    def records(self, counter: str, *, limit: int | None = None) -> pd.DataFrame:
        """The deals behind counter ``counter`` (by name), largest budget first."""
        names = list(self._sets)
        if counter not in names:
            raise ValueError(f"unknown counter {counter!r}; counters: {names}")
        members = _members(self._ctx, self._sets)
        ids = members.filter(members.counter == names.index(counter)).select("deal_id")
        d = self._ctx.deals().semi_join(ids, "deal_id").order_by([ibis.desc("price"), "deal_id"])
        cols = ["deal_id", "name", "price", "pipeline_id", "stage_id", "responsible_user_id"]
        frame = (d.limit(limit) if limit else d).select(*cols, "created_at", "closed_at")
        return label_ids(self._ctx.store, frame.to_pandas())


def _query(
    ctx: Context, sets: dict[str, tuple[Mode, tuple[Pair, ...]]], only: Mode | None = None
) -> ir.Table:
    """``counter, deals, budget`` per counter (``only`` those of that mode) with any deal (a
    counter without is absent)."""
    if only == "entered":
        # The entries carry their deal's columns: the request's filters apply, no join.
        parts = [
            ctx.deal_rows(_entered(ctx, i, pairs)).select("counter", "deal_id", "price")
            for i, (mode, pairs) in enumerate(sets.values())
            if mode == "entered"
        ]
        # Each deal once per counter (a deal can enter the set twice in a period).
        j = ibis.union(*parts).distinct()
    else:
        members = _members(ctx, sets, only)
        j = members.join(ctx.deals().select("deal_id", "price"), "deal_id")
    return j.group_by("counter").aggregate(deals=j.count(), budget=j.price.fill_null(0).sum())


def _counted(ctx: Context, sets: dict[str, tuple[Mode, tuple[Pair, ...]]]) -> pd.DataFrame:
    """``deals, budget`` by counter index. The "now" counters do not depend on the period:
    they are counted once per "now", scope and viewer (a period change only counts the
    others)."""
    modes = {mode for mode, _ in sets.values()}
    parts = []
    if "now" in modes:
        key = ("payment counters now", ctx.now, ctx.owners, tuple(sets.items()))
        parts.append(ctx.store.memo(key, lambda: _query(ctx, sets, "now").to_pandas()))
    if "entered" in modes:
        parts.append(_query(ctx, sets, "entered").to_pandas())
    return pd.concat(parts).set_index("counter") if parts else pd.DataFrame()


def _labels(ctx: Context) -> tuple[pd.Series, pd.Series]:
    """Pipeline names by id and stage names by (pipeline, stage), made once per store."""
    st = ctx.store
    return st.memo(
        ("payment labels",),
        lambda: (
            st.pipelines.set_index("pipeline_id")["name"],
            st.stages.set_index(["pipeline_id", "stage_id"])["name"],
        ),
    )


def payment_counters(
    ctx: Context, counters: Sequence[PaymentCounter] | None = None
) -> PaymentCounters:
    """Count deals and budget per payment counter; see :data:`DEFINITION`."""
    store = ctx.store
    stages = store.stages
    if counters is None:  # the account's stages decide them: once per store
        config = store.memo(("default payment counters",), lambda: default_counters(stages))
    else:
        config = tuple(counters)
    names = [c.name for c in config]
    if len(set(names)) != len(names):
        raise ValueError(f"counter names must be unique: {names}")
    sets = store.memo(
        ("payment counter stages", config),
        lambda: {c.name: (c.mode, c.pairs(stages)) for c in config},
    )
    got = _counted(ctx, sets)
    pipes, labels = _labels(ctx)
    rows = []
    for i, c in enumerate(config):
        pairs = sets[c.name][1]
        text = ", ".join(f"{pipes.get(p, p)}: {labels.get((p, s), s)}" for p, s in c.stages)
        text = ", ".join(x for x in (text, "won" if c.include_won else "") if x)
        n, b = (got.at[i, "deals"], got.at[i, "budget"]) if i in got.index else (None, None)
        rows.append(
            {
                "name": c.name,
                "mode": c.mode,
                "stages": text,
                "n_stages": len(pairs),
                "deals": int(n) if n is not None and pd.notna(n) else 0,
                "budget": float(b) if b is not None and pd.notna(b) else 0.0,
            }
        )
    frame = pd.DataFrame(rows, columns=["name", "mode", "stages", "n_stages", "deals", "budget"])
    frame = frame.astype({"deals": "int64", "budget": "float64", "n_stages": "int64"})
    return PaymentCounters(
        period=ctx.period,
        scope=ctx.scope,
        counters=frame,
        config=config,
        _ctx=ctx,
        _sets=sets,
    )
