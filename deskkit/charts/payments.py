"""Payment counters chart: one KPI bar per counter (deals), labelled with count and budget."""

from __future__ import annotations

from typing import TYPE_CHECKING

import altair as alt
import pandas as pd

from deskkit.charts import _shape
from deskkit.charts._labels import tr
from deskkit.charts._theme import count, money

if TYPE_CHECKING:
    from deskkit.metrics.payments import PaymentCounters

__all__ = ["chart_frame", "payment_counters_chart"]

_ROW_HEIGHT = 40
_WIDTH = 380


def chart_frame(result: PaymentCounters, currency: str = "") -> pd.DataFrame:
    """One row per counter; "now" counters are drawn as open deals, "entered" ones as won."""
    rows = [
        {
            "counter": str(r.name),
            "kind": "open" if r.mode == "now" else "won",
            "deals": int(r.deals),
            "label": f"{count(int(r.deals))} · {money(float(r.budget), currency)}",
            "budget": money(float(r.budget), currency),
            "stages": str(r.stages),
        }
        for r in result.counters.itertuples()
    ]
    return pd.DataFrame(rows, columns=["counter", "kind", "deals", "label", "budget", "stages"])


def payment_counters_chart(
    result: PaymentCounters, currency: str = "", lang: str = "en"
) -> alt.LayerChart:
    """Horizontal bars of deals per counter with "count · budget" labels. A pure function of
    ``result``."""
    frame = _shape.ordered(chart_frame(result, currency))
    top = max(int(frame["deals"].max()) if len(frame) else 0, 1) * 1.8
    base = alt.Chart().encode(
        y=alt.Y("counter:N", sort=_shape.by_order(), title=None),
        tooltip=[
            alt.Tooltip("counter:N", title=tr("Counter", lang)),
            alt.Tooltip("deals:Q", title=tr("Deals", lang), format=","),
            alt.Tooltip("budget:N", title=tr("Budget", lang)),
            alt.Tooltip("stages:N", title=tr("Stages", lang)),
        ],
    )
    x = alt.X(
        "deals:Q",
        title=tr("Deals", lang),
        scale=_shape.top_scale(),
        axis=alt.Axis(tickMinStep=1, format="d"),
    )
    bars = base.mark_bar().encode(
        x=x, color=alt.Color("kind:N", scale=alt.Scale(domain=["open", "won"]), legend=None)
    )
    labels = base.mark_text(align="left", dx=4, style="dk-value").encode(
        x=x, text=alt.Text("label:N")
    )
    return _shape.layer(
        bars,
        labels,
        data=frame,
        width=_WIDTH,
        height=alt.Step(_ROW_HEIGHT),
        values=(_shape.top(top),),
    )
