"""Pipeline flow chart: deals per stage along the line, labelled with numbers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import altair as alt
import pandas as pd

from deskkit.charts import _shape
from deskkit.charts._labels import tr
from deskkit.charts._theme import money, percent, signed

if TYPE_CHECKING:
    from deskkit.metrics.pipeline_flow import PipelineFlow

__all__ = ["chart_frame", "pipeline_flow_chart"]

_ROW_HEIGHT = 30
_WIDTH = 440
# Room right of the longest bar for its "12 · 120,000 ₽" label and the net-in column.
_HEADROOM = 1.9


def chart_frame(result: PipelineFlow, currency: str = "", lang: str = "en") -> pd.DataFrame:
    """One row per stage-table row, with the display texts the chart draws."""
    st = result.stages.reset_index(drop=True)
    last = len(st) - 1
    rows = []
    for i, r in st.iterrows():
        won = i == last
        deals, budget, net = int(r["deals"]), float(r["budget"]), int(r["net_in"])
        rows.append(
            {
                "order": i + 1,
                "stage_id": int(r["stage_id"]),
                "stage": tr("Won", lang) if won else str(r["stage"]),
                "kind": "won" if won else "open",
                "deals": deals,
                "budget": budget,
                "label": f"{deals} · {money(budget, currency)}",
                "budget_text": money(budget, currency),
                # The first open stage has no boundary before it: nothing flows "in" there.
                "net_text": "" if i == 0 else tr("net {n}", lang, n=signed(net)),
                "net_in": "—" if i == 0 else signed(net),
                "lost": int(r["lost"]),
                "conversion": percent(float(r["conversion"])),
            }
        )
    frame = pd.DataFrame(rows)
    # Stage names are unique within a pipeline in amoCRM, but the chart's y axis must be.
    dup = frame["stage"].duplicated(keep=False)
    frame.loc[dup, "stage"] = frame.loc[dup, "stage"] + " #" + frame.loc[dup, "order"].astype(str)
    return frame


def pipeline_flow_chart(
    result: PipelineFlow, currency: str = "", lang: str = "en"
) -> alt.LayerChart:
    """Horizontal bars of deals per stage in line order; won is its own colour.

    Each bar is labelled with its count and budget, the net number of moves into the stage is
    printed at the right edge, and every bar has a tooltip with the full stage-table row. A pure
    function of ``result``: no data access.
    """
    frame = chart_frame(result, currency, lang)
    top = max(int(frame["deals"].max()) if len(frame) else 0, 1) * _HEADROOM
    base = alt.Chart().encode(
        y=alt.Y("stage:N", sort=_shape.by_order("order"), title=None),
        tooltip=[
            alt.Tooltip("stage:N", title=tr("Stage", lang)),
            alt.Tooltip("deals:Q", title=tr("Deals", lang)),
            alt.Tooltip("budget_text:N", title=tr("Budget", lang)),
            alt.Tooltip("net_in:N", title=tr("Net in", lang)),
            alt.Tooltip("lost:Q", title=tr("Lost", lang)),
            alt.Tooltip("conversion:N", title=tr("Conversion", lang)),
        ],
    )
    x = alt.X(
        "deals:Q",
        title=tr("Deals at the end of the period", lang),
        scale=_shape.top_scale(),
        axis=alt.Axis(tickMinStep=1, format="d"),
    )
    bars = base.mark_bar().encode(
        x=x, color=alt.Color("kind:N", scale=alt.Scale(domain=["open", "won"]), legend=None)
    )
    labels = base.mark_text(align="left", dx=4, style="dk-value").encode(
        x=x, text=alt.Text("label:N")
    )
    net = base.mark_text(align="right", style="dk-note").encode(
        x=_shape.at_top(), text=alt.Text("net_text:N")
    )
    return _shape.layer(
        bars,
        labels,
        net,
        data=frame,
        width=_WIDTH,
        height=alt.Step(_ROW_HEIGHT),
        values=(_shape.top(top),),
    )
