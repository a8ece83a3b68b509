"""NPS chart: detractors, passives and promoters as one stacked bar per period, with the score."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import altair as alt
import pandas as pd

from deskkit.charts import _shape
from deskkit.charts._labels import tr
from deskkit.charts._theme import MINUS, PALETTE

if TYPE_CHECKING:
    from deskkit.metrics.nps import Nps

__all__ = ["nps_chart", "nps_frame"]

_GROUPS = ("detractors", "passives", "promoters")
_PERIODS = {"current": "This period", "previous": "Previous period"}
_WIDTH = 360


def score_text(value: float) -> str:
    """``42.9`` → ``"NPS +43"``; no responses → ``"NPS —"``."""
    if value is None or math.isnan(value):
        return "NPS —"
    v = round(value)
    sign = "+" if v > 0 else MINUS if v < 0 else ""
    return f"NPS {sign}{abs(v)}"


def nps_frame(result: Nps, lang: str = "en") -> pd.DataFrame:
    """One row per (period, group): count, share of the period's responses and the texts."""
    rows = []
    for key, label in _PERIODS.items():
        r = result.table.loc[key]
        total = int(r["responses"])
        for order, group in enumerate(_GROUPS):
            n = int(r[group])
            rows.append(
                {
                    "period_key": key,
                    "period": tr(label, lang),
                    "group": group,
                    "order": order,
                    "count": n,
                    "share": n / total if total else 0.0,
                    "responses": total,
                    "score": score_text(float(r["nps"])),
                }
            )
    return pd.DataFrame(rows)


def nps_chart(result: Nps, currency: str = "", lang: str = "en") -> alt.LayerChart:
    """A 100% stacked bar per period (this one, the previous one) of detractors, passives and
    promoters, each part labelled with its count and the score printed at the right.
    ``currency`` is unused (the widget has no money) and kept for the builders' signature."""
    frame = nps_frame(result, lang)
    base = alt.Chart().encode(
        y=alt.Y("period:N", sort=[tr(p, lang) for p in _PERIODS.values()], title=None),
    )
    colours = alt.Scale(
        domain=list(_GROUPS), range=[PALETTE["lost"], PALETTE["muted"], PALETTE["won"]]
    )
    bars = base.mark_bar().encode(
        x=alt.X(
            "share:Q",
            stack="zero",
            title=tr("Share of responses", lang),
            scale=alt.Scale(domain=[0, 1.3], nice=False),
            axis=alt.Axis(format="%", values=[0, 0.25, 0.5, 0.75, 1]),
        ),
        color=alt.Color("group:N", scale=colours, legend=None),
        order=alt.Order("order:Q"),
        tooltip=[
            alt.Tooltip("period:N", title=tr("Period", lang)),
            alt.Tooltip("group:N", title=tr("Group", lang)),
            alt.Tooltip("count:Q", title=tr("Responses", lang)),
            alt.Tooltip("share:Q", title=tr("Share", lang), format=".0%"),
            alt.Tooltip("score:N", title=tr("Score", lang)),
        ],
    )
    counts = (
        base.mark_text(style="dk-value", dx=-4, align="right")
        .encode(
            x=alt.X("share:Q", stack="zero"),
            order=alt.Order("order:Q"),
            text=alt.Text("count:Q"),
        )
        .transform_filter("datum.count > 0")
    )
    score = (
        base.mark_text(align="right", style="dk-value", fontWeight="bold")
        .encode(x=alt.XDatum(1.3), text=alt.Text("score:N"))
        .transform_filter("datum.order == 0")
    )
    return _shape.layer(bars, counts, score, data=frame, width=_WIDTH, height=70)
