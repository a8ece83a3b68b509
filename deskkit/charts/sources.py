"""Lead sources chart: new deals per source, the won part drawn inside, labelled with numbers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import altair as alt
import pandas as pd

from deskkit.charts import _shape
from deskkit.charts._labels import tr
from deskkit.charts._theme import money, percent

if TYPE_CHECKING:
    from deskkit.metrics.sources import LeadSources

__all__ = ["lead_sources_chart", "sources_frame"]

_ROW_HEIGHT = 30
_WIDTH = 440
# Room right of the longest bar for its "12 · 120,000 ₽ · won 25%" label.
_HEADROOM = 2.2


def sources_frame(result: LeadSources, currency: str = "", lang: str = "en") -> pd.DataFrame:
    """One row per source row of the result, with the texts the chart draws."""
    rows = []
    for r in result.sources.itertuples(index=False):
        rows.append(
            {
                # The id the drill-down asks for (None: the "no source" row).
                "source_id": None if pd.isna(r.source_id) else int(r.source_id),
                "source": str(r.source),
                "deals": int(r.deals),
                "won": int(r.won),
                "budget_text": money(float(r.budget), currency),
                "won_budget_text": money(float(r.won_budget), currency),
                "won_share": percent(float(r.won_share)),
                "label": f"{int(r.deals)} · {money(float(r.budget), currency)} · "
                + tr("won {share}", lang, share=percent(float(r.won_share))),
            }
        )
    columns = [
        "source_id",
        "source",
        "deals",
        "won",
        "budget_text",
        "won_budget_text",
        "won_share",
        "label",
    ]
    return pd.DataFrame(rows, columns=columns)


def lead_sources_chart(result: LeadSources, currency: str = "", lang: str = "en") -> alt.LayerChart:
    """Horizontal bars of new deals per source with the won deals as an inner bar.

    Each row is labelled with its count, budget and won share; the tooltip repeats the row.
    A pure function of ``result``: no data access.
    """
    frame = _shape.ordered(sources_frame(result, currency, lang))
    top = max(int(frame["deals"].max()) if len(frame) else 0, 1) * _HEADROOM
    base = alt.Chart().encode(
        y=alt.Y("source:N", sort=_shape.by_order(), title=None),
        tooltip=[
            alt.Tooltip("source:N", title=tr("Source", lang)),
            alt.Tooltip("deals:Q", title=tr("Deals", lang)),
            alt.Tooltip("budget_text:N", title=tr("Budget", lang)),
            alt.Tooltip("won:Q", title=tr("Won now", lang)),
            alt.Tooltip("won_budget_text:N", title=tr("Won budget", lang)),
            alt.Tooltip("won_share:N", title=tr("Won share", lang)),
        ],
    )
    scale = _shape.top_scale()
    axis = alt.Axis(tickMinStep=1, format="d")
    # The theme's category range is (open, won, ...): the domain names the semantic colours.
    colours = alt.Scale(domain=["open", "won"])
    deals = (
        base.mark_bar()
        .encode(
            x=alt.X(
                "deals:Q", title=tr("Deals created in the period", lang), scale=scale, axis=axis
            ),
            color=alt.Color("kind:N", scale=colours, legend=None),
        )
        .transform_calculate(kind="'open'")
    )
    won = (
        base.mark_bar(size=10)
        .encode(
            x=alt.X("won:Q", scale=scale),
            color=alt.Color("kind:N", scale=colours, legend=None),
        )
        .transform_calculate(kind="'won'")
    )
    labels = base.mark_text(align="left", dx=4, style="dk-value").encode(
        x=alt.X("deals:Q", scale=scale), text=alt.Text("label:N")
    )
    return _shape.layer(
        deals,
        won,
        labels,
        data=frame,
        width=_WIDTH,
        height=alt.Step(_ROW_HEIGHT),
        values=(_shape.top(top),),
    )
