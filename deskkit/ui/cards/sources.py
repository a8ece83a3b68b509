"""The lead-sources card: deals created in the period by source, with budget and won share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from deskkit.metrics.sources import NO_SOURCE
from deskkit.ui.cards._common import LIMIT, Option, count_of, head, label, number, option
from deskkit.ui.cards._model import CardModel, Drill, Kpi, register_model

__all__ = ["MODEL"]


def _kpis(r: Any, prev: Any = None) -> list[Kpi]:
    def p(name: str) -> float | None:
        return None if prev is None else number(getattr(prev, name))

    def n(name: str) -> int | None:
        return None if prev is None else count_of(getattr(prev, name))

    return [
        Kpi("deals", int(r.deals), "count", n("deals"), drill="deals"),
        Kpi("budget", float(r.budget), "money", p("budget"), drill="deals"),
        Kpi("won_deals", int(r.won), "count", n("won"), drill="won"),
        Kpi("won_share", number(r.won_share), "percent", p("won_share"), drill="won"),
    ]


def _table(r: Any) -> pd.DataFrame:
    t = r.sources.rename(columns={"won": "won_deals"})
    return head(t, ["source", "deals", "budget", "won_deals", "won_share"])


def _source_key(source_id: Any) -> int | str:
    """What ``records()`` takes for a row: its id, or "no source"."""
    return NO_SOURCE if source_id is None or pd.isna(source_id) else int(source_id)


def _deals(r: Any, source: int | str | None = None, **_: Any) -> pd.DataFrame:
    return r.records(source, limit=LIMIT)


def _won(r: Any, source: int | str | None = None, **_: Any) -> pd.DataFrame:
    return r.records(source, won=True, limit=LIMIT)


def _options(r: Any, lang: str) -> list[Option]:
    out = [
        option(label("all_deals", lang), r.deals, lang, "deals"),
        option(label("won_deals", lang), r.won, lang, "won"),
    ]
    won_word = label("won_deals", lang)
    for row in r.sources.itertuples(index=False):
        key = _source_key(row.source_id)
        name = label("no_source", lang) if key == NO_SOURCE else str(row.source)
        out.append(option(name, int(row.deals), lang, "deals", source=key))
        if int(row.won):
            out.append(option(f"{name} · {won_word}", int(row.won), lang, "won", source=key))
    return out


def _on_mark(datum: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    if "source_id" not in datum and "source" not in datum:
        return None
    sid = datum.get("source_id")
    key = _source_key(sid) if "source_id" in datum else str(datum["source"])
    return ("won" if datum.get("kind") == "won" else "deals", {"source": key})


MODEL = register_model(
    CardModel(
        "lead_sources",
        _kpis,
        table=_table,
        drills=(
            Drill("deals", "deals", _deals),
            Drill("won", "won_deals", _won),
        ),
        on_mark=_on_mark,
        options=_options,
        compare_previous=True,
    )
)
