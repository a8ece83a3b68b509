"""The NPS card: the score, responses by group, and the previous period alongside."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from deskkit.metrics.nps import GROUPS
from deskkit.ui.cards._common import LIMIT, LocalTable, Option, keys_in, label, number, option
from deskkit.ui.cards._model import CardModel, Drill, Kpi, register_model

__all__ = ["MODEL"]

#: Groups as the card lists them: the good news first.
_SHOWN = ("promoters", "passives", "detractors")


def _kpis(r: Any, prev: Any = None) -> list[Kpi]:
    t = r.table
    out = [
        Kpi("nps", number(r.score), "score", number(r.previous_score), drill="responses"),
        Kpi(
            "responses",
            int(r.responses),
            "count",
            int(t.at["previous", "responses"]),
            drill="responses",
        ),
    ]
    for g in _SHOWN:
        better = "down" if g == "detractors" else "up"
        out.append(
            Kpi(g, int(t.at["current", g]), "count", int(t.at["previous", g]), better, drill=g)
        )
    return out


def _table(r: Any) -> LocalTable:
    """One row per group: responses now, their share, and the previous period's."""
    t = r.table
    total = int(t.at["current", "responses"])
    rows = [
        {
            "group": g,
            "responses": int(t.at["current", g]),
            "share": int(t.at["current", g]) / total if total else float("nan"),
            "previous_period": int(t.at["previous", g]),
        }
        for g in _SHOWN
    ]
    frame = pd.DataFrame(rows, columns=["group", "responses", "share", "previous_period"])
    return LocalTable(frame, {"group": keys_in(*_SHOWN)})


def _responses(r: Any, group: str | None = None, previous: bool = False, **_: Any) -> pd.DataFrame:
    return r.records(group, previous=bool(previous), limit=LIMIT)


def _group_rows(group: str) -> Any:
    def rows(r: Any, previous: bool = False, **_: Any) -> pd.DataFrame:
        return r.records(group, previous=bool(previous), limit=LIMIT)

    return rows


def _options(r: Any, lang: str) -> list[Option]:
    t = r.table
    prev_word = label("previous_period", lang)
    out: list[Option] = []
    for previous in (False, True):
        row = "previous" if previous else "current"
        suffix = f" · {prev_word}" if previous else ""
        flag = {"previous": True} if previous else {}
        out.append(
            option(
                label("responses", lang) + suffix,
                int(t.at[row, "responses"]),
                lang,
                "responses",
                **flag,
            )
        )
        for g in _SHOWN:
            n = int(t.at[row, g])
            if n:
                out.append(option(label(g, lang) + suffix, n, lang, "responses", group=g, **flag))
    return out


def _on_mark(datum: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    group = datum.get("group")
    if group not in GROUPS:
        return None
    params: dict[str, Any] = {"group": group}
    if datum.get("period_key") == "previous":
        params["previous"] = True
    return ("responses", params)


MODEL = register_model(
    CardModel(
        "nps",
        _kpis,
        table=_table,
        drills=(
            Drill("responses", "responses", _responses),
            *(Drill(g, g, _group_rows(g)) for g in _SHOWN),
        ),
        on_mark=_on_mark,
        options=_options,
    )
)
