"""The payments card: each payment counter's deals and budget ("awaiting payment" now, "paid"
during the period, or an account's own counters)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from deskkit.ui.cards._common import LIMIT, LocalTable, Option, head, label, option
from deskkit.ui.cards._model import CardModel, Drill, Kpi, register_model

__all__ = ["MODEL", "NAMED"]

#: The default counters' names -> their label key (and the drill a tile opens).
NAMED: dict[str, str] = {"Awaiting payment": "awaiting_payment", "Paid": "paid"}


def _previous(prev: Any, name: str) -> tuple[int | None, float | None]:
    """The same counter in the previous period's result (None when absent)."""
    if prev is None:
        return None, None
    hit = prev.counters.loc[prev.counters["name"] == name]
    if hit.empty:
        return None, None
    return int(hit["deals"].iloc[0]), float(hit["budget"].iloc[0])


def _kpis(r: Any, prev: Any = None) -> list[Kpi]:
    """Deals and budget of each counter. An "entered" counter follows the period and is
    compared with the previous one; a "now" counter is a stock and is not. A counter of the
    account's own is labelled with its name."""
    out = []
    for row in r.counters.itertuples(index=False):
        name = str(row.name)
        key = NAMED.get(name)
        n_prev, b_prev = _previous(prev, name) if row.mode == "entered" else (None, None)
        drill = key  # a tile opens its own drill only for the named counters
        out.append(Kpi(key or name, int(row.deals), "count", n_prev, drill=drill))
        out.append(
            Kpi(
                f"{key}_budget" if key else "budget",
                float(row.budget),
                "money",
                b_prev,
                drill=drill,
            )
        )
    return out


def _counter_label(name: Any, lang: str) -> str:
    return label(NAMED[name], lang) if name in NAMED else str(name)


def _table(r: Any) -> LocalTable:
    t = r.counters.rename(columns={"name": "counter"})
    return LocalTable(
        head(t, ["counter", "deals", "budget", "stages"]), {"counter": _counter_label}
    )


def _counter(r: Any, counter: str | None = None, **_: Any) -> pd.DataFrame:
    if counter is None:
        if r.counters.empty:
            return pd.DataFrame()
        counter = str(r.counters["name"].iloc[0])
    return r.records(counter, limit=LIMIT)


def _named_rows(name: str) -> Any:
    def rows(r: Any, **_: Any) -> pd.DataFrame:
        return r.records(name, limit=LIMIT)

    return rows


def _options(r: Any, lang: str) -> list[Option]:
    out = []
    for row in r.counters.itertuples(index=False):
        name = str(row.name)
        out.append(
            option(_counter_label(name, lang), int(row.deals), lang, "counter", counter=name)
        )
    return out


def _on_mark(datum: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    name = datum.get("counter")
    return None if name is None else ("counter", {"counter": str(name)})


MODEL = register_model(
    CardModel(
        "payment_counters",
        _kpis,
        table=_table,
        drills=(
            Drill("counter", "counter", _counter),
            *(Drill(key, key, _named_rows(name)) for name, key in NAMED.items()),
        ),
        on_mark=_on_mark,
        options=_options,
        compare_previous=True,
    )
)
