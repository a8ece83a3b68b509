"""Goals chart: one progress bar per goal, the target drawn as a rule at 100%."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import altair as alt
import pandas as pd

from deskkit.charts import _shape
from deskkit.charts._labels import tr
from deskkit.charts._theme import count, money, percent

if TYPE_CHECKING:
    from deskkit.metrics.goals import Goals

__all__ = ["chart_frame", "goals_chart"]

_ROW_HEIGHT = 30
_WIDTH = 420


def _amount(value: float, measure: str, currency: str) -> str:
    if math.isnan(value):
        return "—"
    return money(value, currency) if measure == "won_budget" else count(round(value))


def chart_frame(result: Goals, currency: str = "") -> pd.DataFrame:
    """One row per goal with its progress share (capped for drawing) and display texts."""
    rows = []
    for g in result.goals.itertuples():
        share = float(g.percent) if not math.isnan(g.percent) else 0.0
        achieved = _amount(float(g.achieved), g.measure, currency)
        target = _amount(float(g.target), g.measure, currency)
        rows.append(
            {
                "goal_id": int(g.goal_id),
                "goal": f"{g.name} ({g.cadence})",
                "kind": "won" if share >= 1 else "open",
                "share": share,
                "previous_share": float(g.previous_percent)
                if not math.isnan(g.previous_percent)
                else 0.0,
                "label": f"{achieved} of {target} · {percent(float(g.percent))}",
                "previous": _amount(float(g.previous), g.measure, currency),
                "period": f"{g.period_start} – {g.period_end}",
                "note": "" if g.complete else "only the deals you may see",
            }
        )
    columns = [
        "goal_id",
        "goal",
        "kind",
        "share",
        "previous_share",
        "label",
        "previous",
        "period",
        "note",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    dup = frame["goal"].duplicated(keep=False)
    frame.loc[dup, "goal"] = frame.loc[dup, "goal"] + " #" + frame.index[dup].astype(str)
    return frame


def goals_chart(result: Goals, currency: str = "", lang: str = "en") -> alt.LayerChart:
    """Horizontal progress bars (achieved ÷ target) with a rule at the target (100%), a tick at
    the previous period's share and a text label "achieved of target · percent". A pure
    function of ``result``."""
    frame = _shape.ordered(chart_frame(result, currency))
    top = max(1.0, float(frame["share"].max()) if len(frame) else 0.0) * 1.9
    base = alt.Chart().encode(
        y=alt.Y("goal:N", sort=_shape.by_order(), title=None, axis=alt.Axis(labelLimit=260)),
        tooltip=[
            alt.Tooltip("goal:N", title=tr("Goal", lang)),
            alt.Tooltip("label:N", title=tr("Achieved", lang)),
            alt.Tooltip("previous:N", title=tr("Previous period", lang)),
            alt.Tooltip("period:N", title=tr("Period", lang)),
            alt.Tooltip("note:N", title=tr("Note", lang)),
        ],
    )
    x = alt.X(
        "share:Q",
        title=tr("Share of the target", lang),
        scale=_shape.top_scale(),
        axis=alt.Axis(format="%", values=[0, 0.25, 0.5, 0.75, 1.0]),
    )
    bars = base.mark_bar().encode(
        x=x, color=alt.Color("kind:N", scale=alt.Scale(domain=["open", "won"]), legend=None)
    )
    previous = base.mark_tick(thickness=2, style="dk-note").encode(x=alt.X("previous_share:Q"))
    labels = base.mark_text(align="left", dx=4, style="dk-value").encode(
        x=alt.X("share:Q"), text=alt.Text("label:N")
    )
    target = (
        alt.Chart(pd.DataFrame({"share": [1.0]}))
        .mark_rule(strokeDash=[4, 3], style="dk-note")
        .encode(x=alt.X("share:Q"))
    )
    return _shape.layer(
        bars,
        previous,
        labels,
        target,
        data=frame,
        width=_WIDTH,
        height=alt.Step(_ROW_HEIGHT),
        values=(_shape.top(top),),
    )
