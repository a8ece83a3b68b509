"""NPS: the net promoter score of the responses received during the period."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import ibis
import pandas as pd

from deskkit.metrics._base import Context, count_if, label_ids, to_sql
from deskkit.metrics.files import entity_names

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from deskkit.filters import Period, Scope

__all__ = ["DEFINITION", "GROUPS", "Nps", "nps"]

DEFINITION = (
    "NPS: responses received during the period whose user (the manager the response is "
    "credited to) is in the selected scope. Promoters scored 9\u201310, passives 7\u20138, "
    "detractors 0\u20136. NPS = % promoters \u2212 % detractors of all responses, from \u2212100 "
    "to +100; no responses, no score. Responses on deleted deals and scores outside 0\u201310 are "
    "not counted. The previous comparable period is shown alongside."
)

Group = Literal["promoters", "passives", "detractors"]
#: Response groups, in the order the chart stacks them.
GROUPS: tuple[Group, ...] = ("detractors", "passives", "promoters")


def _responses(ctx: Context, *periods: Context) -> ir.Table:
    """Valid responses in scope during any of ``periods`` (default: ``ctx``'s own), each
    labelled with its group and ``current`` (inside ``ctx``'s period)."""
    r = ctx.table("nps")
    d = ctx.table("deals")
    deleted = d.filter(d.is_deleted.fill_null(False)).select(entity_id=d.deal_id)
    on_deleted = (r.entity_type == "deal") & r.entity_id.isin(deleted.entity_id)
    when = ibis.or_(*(c.during(r.created_at) for c in (periods or (ctx,))))
    r = r.filter(
        when, ctx.by_owner(r.user_id), r.score.between(0, 10), ~on_deleted.fill_null(False)
    )
    group = ibis.cases((r.score >= 9, "promoters"), (r.score >= 7, "passives"), else_="detractors")
    return r.mutate(group=group, current=ctx.during(r.created_at))


def _queries(ctx: Context) -> dict[str, ir.Table]:
    # The current and the previous period in one scan: the previous comes right before.
    r = _responses(ctx, ctx, ctx.previous())
    return {
        "groups": r.group_by("current").aggregate(
            responses=r.count(),
            **{g: count_if(r.group == g) for g in GROUPS},
        )
    }


def _score(promoters: int, detractors: int, responses: int) -> float:
    return 100.0 * (promoters - detractors) / responses if responses else float("nan")


@dataclass(frozen=True)
class Nps:
    """Net promoter score of the period, with the previous period alongside.

    ``table`` is indexed ``current`` / ``previous`` with ``responses, detractors, passives,
    promoters, nps`` (NaN without responses). ``score`` and the counts are the current row's.
    """

    period: Period
    scope: Scope
    table: pd.DataFrame
    _ctx: Context = field(repr=False, compare=False)

    definition = DEFINITION

    def _get(self, row: str, col: str) -> float:
        return self.table.at[row, col]

    @property
    def score(self) -> float:
        return float(self._get("current", "nps"))

    @property
    def previous_score(self) -> float:
        return float(self._get("previous", "nps"))

    @property
    def change(self) -> float:
        """Score now minus the previous score, in points (NaN when either has no responses)."""
        return self.score - self.previous_score

    @property
    def responses(self) -> int:
        return int(self._get("current", "responses"))

    @property
    def promoters(self) -> int:
        return int(self._get("current", "promoters"))

    @property
    def passives(self) -> int:
        return int(self._get("current", "passives"))

    @property
    def detractors(self) -> int:
        return int(self._get("current", "detractors"))

    def sql(self) -> dict[str, str]:
        """The SQL the engine ran for these numbers (query name -> SQL)."""
        return to_sql(self._ctx, lambda: _queries(self._ctx))

    def records(
        self, group: Group | None = None, *, previous: bool = False, limit: int | None = None
    ) -> pd.DataFrame:
        """The responses behind a count (``group`` None = all), newest first, with the name
        of the record answered about (only records the viewer may see are named)."""
        if group is not None and group not in GROUPS:
            raise ValueError(f"unknown group {group!r}; use one of {GROUPS}")
        ctx = self._ctx.previous() if previous else self._ctx
        r = _responses(ctx)
        if group is not None:
            r = r.filter(r.group == group)
        names = entity_names(ctx, scoped=False).select(
            "entity_type", "entity_id", entity_name="name"
        )
        j = r.left_join(names, ["entity_type", "entity_id"])
        j = j.select(
            "response_id",
            "score",
            "group",
            "entity_type",
            "entity_id",
            "entity_name",
            "user_id",
            "created_at",
        ).order_by([ibis.desc("created_at"), "response_id"])
        return label_ids(ctx.store, (j.limit(limit) if limit else j).to_pandas())


def nps(ctx: Context) -> Nps:
    """The period's NPS and the previous period's; see :data:`DEFINITION` for the rules."""
    raw = _queries(ctx)["groups"].to_pandas()
    rows = {}
    for label, current in (("current", True), ("previous", False)):
        hit = raw.loc[raw["current"] == current]
        counts = {c: int(hit[c].sum()) for c in ("responses", *GROUPS)}
        counts["nps"] = _score(counts["promoters"], counts["detractors"], counts["responses"])
        rows[label] = counts
    table = pd.DataFrame.from_dict(rows, orient="index")
    table = table.astype({c: "int64" for c in ("responses", *GROUPS)} | {"nps": "float64"})
    return Nps(period=ctx.period, scope=ctx.scope, table=table, _ctx=ctx)
