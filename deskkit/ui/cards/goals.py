"""The goals card: progress of each goal over its current cadence period, with the previous
period's achievement alongside."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from deskkit.ui.cards._common import LIMIT, LocalTable, Option, currency_of, keys_in, label, number
from deskkit.ui.cards._model import CardModel, Drill, Kpi, NumberKind, register_model

__all__ = ["MODEL"]


def _headline(r: Any) -> pd.Series | None:
    """The goal the tiles show: the account's own (budget first), else the first one."""
    g = r.goals
    if g.empty:
        return None
    rank = (g["scope_kind"] != "all").astype(int) * 2 + (g["measure"] != "won_budget").astype(int)
    return g.loc[rank.sort_values(kind="stable").index[0]]


def _amount_kind(measure: str) -> NumberKind:
    return "money" if measure == "won_budget" else "count"


def _amount(value: Any, measure: str) -> float | int | None:
    x = number(value)
    if x is None or measure == "won_budget":
        return x
    return round(x)


def _kpis(r: Any, prev: Any = None) -> list[Kpi]:
    g = _headline(r)
    if g is None:
        return []
    m = str(g["measure"])
    kind = _amount_kind(m)
    achieved = "won_budget" if m == "won_budget" else "won_deals"
    pct, prev_pct = number(g["percent"]), number(g["previous_percent"])
    done, before = _amount(g["achieved"], m), _amount(g["previous"], m)
    return [
        Kpi("goal_percent", pct, "percent", prev_pct, drill="won"),
        Kpi(achieved, done, kind, before, drill="won"),
        Kpi("target", _amount(g["target"], m), kind),
    ]


def _table(r: Any) -> LocalTable:
    """One row per goal. The card formats a column by its name, so budget and count goals keep
    their amounts in separate columns (a column no goal uses is left out)."""
    g = r.goals
    budget = g["measure"] == "won_budget"
    t = pd.DataFrame(
        {
            "goal": g["name"].astype(str),
            "scope": g["scope"].astype(str).where(g["scope_kind"] != "all", "whole_account"),
            "percent": g["percent"].astype(float),
            "won_budget": g["achieved"].where(budget),
            "target_budget": g["target"].where(budget),
            "won_deals": g["achieved"].where(~budget),
            "target_deals": g["target"].where(~budget),
            "previous_share": g["previous_percent"].astype(float),
        }
    )
    t = t.dropna(axis="columns", how="all").head(20).reset_index(drop=True)
    return LocalTable(t, {"scope": keys_in("whole_account")})


def _won(r: Any, goal: int | None = None, previous: bool = False, **_: Any) -> pd.DataFrame:
    """The won deals behind a goal's achievement (the headline goal when none is named)."""
    if goal is None:
        g = _headline(r)
        if g is None:
            return pd.DataFrame()
        goal = int(g["goal_id"])
    return r.records(int(goal), previous=bool(previous), limit=LIMIT)


def _options(r: Any, lang: str) -> list[Option]:
    from deskkit.ui.i18n import fmt_count, fmt_money

    currency = currency_of(r)

    def amount(value: float, measure: str) -> str:
        if measure == "won_budget":
            return fmt_money(value, currency, lang)
        return fmt_count(value, lang)

    prev_word = label("previous_period", lang)
    out: list[Option] = []
    for g in r.goals.itertuples(index=False):
        gid, m = int(g.goal_id), str(g.measure)
        out.append((f"{g.name}: {amount(g.achieved, m)}", "won", {"goal": gid}))
        out.append(
            (
                f"{g.name} · {prev_word}: {amount(g.previous, m)}",
                "won",
                {"goal": gid, "previous": True},
            )
        )
    return out


def _on_mark(datum: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    gid = datum.get("goal_id")
    return None if gid is None else ("won", {"goal": int(gid)})


MODEL = register_model(
    CardModel(
        "goals",
        _kpis,
        table=_table,
        drills=(Drill("won", "won_deals", _won),),
        on_mark=_on_mark,
        options=_options,
    )
)
