"""The sales-analysis card: new, won and lost deals, open deals now, and the stage table."""

from __future__ import annotations

from typing import Any

from deskkit.ui.cards._model import CardModel, Drill, Kpi, register_model
from deskkit.ui.tables import stage_table_html

__all__ = ["MODEL"]


def _kpis(r: Any, prev: Any = None) -> list[Kpi]:
    def p(name: str) -> float | None:
        return None if prev is None else getattr(prev, name)

    return [
        Kpi("new_deals", r.new, "count", p("new"), drill="new"),
        Kpi("won_deals", r.won, "count", p("won"), drill="won"),
        Kpi("won_budget", r.won_budget, "money", p("won_budget"), drill="won"),
        Kpi(
            "lost_deals", r.lost_total, "count", p("lost_total"), better="down", drill="lost_total"
        ),
        Kpi("open_deals", r.open_deals, "count", drill="stage_deals"),
        Kpi("open_budget", r.open_budget, "money"),
    ]


def _records(what: str) -> Any:
    def rows(r: Any, stage: int | str | None = None, **_: Any) -> Any:
        return r.records(what, stage, limit=201)

    return rows


def _open_rows(r: Any, stage: int | str | None = None, **_: Any) -> Any:
    import pandas as pd

    if stage is not None:
        return r.records("deals", stage, limit=201)
    open_ids = [int(s) for s in r.stages["stage_id"].iloc[:-1]]
    parts = [r.records("deals", s, limit=201) for s in open_ids]
    return pd.concat(parts, ignore_index=True).head(201) if parts else pd.DataFrame()


def _options(r: Any, lang: str) -> list[tuple[str, str, dict[str, Any]]]:
    from deskkit.ui.i18n import fmt_count, t

    out: list[tuple[str, str, dict[str, Any]]] = [
        (f"{t('new_deals', lang)}: {fmt_count(r.new, lang)}", "new", {}),
        (f"{t('won_deals', lang)}: {fmt_count(r.won, lang)}", "won", {}),
        (f"{t('lost_deals', lang)}: {fmt_count(r.lost_total, lang)}", "lost_total", {}),
    ]
    st = r.stages.reset_index(drop=True)
    last = len(st) - 1
    for i, row in st.iterrows():
        if i == last:
            break
        sid, name = int(row["stage_id"]), str(row["stage"])
        out.append((f"{name}: {fmt_count(int(row['deals']), lang)}", "stage_deals", {"stage": sid}))
        if i > 0:
            out.append(
                (f"{name}: {t('net_in', lang)} {int(row['net_in']):+d}", "net_in", {"stage": sid})
            )
        out.append(
            (
                f"{name}: {t('lost', lang)} {fmt_count(int(row['lost']), lang)}",
                "lost",
                {"stage": sid},
            )
        )
    return out


def _on_mark(datum: Any) -> tuple[str, dict[str, Any]] | None:
    if datum.get("kind") == "won":
        return ("won", {})
    stage = datum.get("stage_id")
    return None if stage is None else ("stage_deals", {"stage": int(stage)})


MODEL = register_model(
    CardModel(
        "pipeline_flow",
        _kpis,
        table=lambda r: lambda style: stage_table_html(r, style.currency, style.lang),
        drills=(
            Drill("stage_deals", "deals", _open_rows),
            Drill("new", "new_deals", _records("new")),
            Drill("won", "won_deals", _records("won")),
            Drill("lost_total", "lost_deals", _records("lost_total")),
            Drill("net_in", "net_in", _records("net_in")),
            Drill("lost", "lost", _records("lost")),
        ),
        on_mark=_on_mark,
        options=_options,
        compare_previous=True,
    )
)
