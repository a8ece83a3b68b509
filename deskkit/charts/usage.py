"""System usage chart: online hours per user, labelled with the change on the previous period."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import altair as alt
import pandas as pd

from deskkit.charts import _shape
from deskkit.charts._labels import tr
from deskkit.charts._theme import MINUS, PALETTE

if TYPE_CHECKING:
    from deskkit.metrics.usage import SystemUsage

__all__ = ["system_usage_chart", "usage_frame"]

_ROW_HEIGHT = 26
_WIDTH = 440
_HEADROOM = 1.6


def hours_text(hours: float) -> str:
    """``12.25`` → ``"12 h 15 min"``."""
    minutes = round(hours * 60)
    h, m = divmod(minutes, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min"


def change_text(change: float) -> str:
    """``0.125`` → ``"+13%"``, ``-0.2`` → ``"−20%"``; no previous time → ``"—"``."""
    if change is None or math.isnan(change):
        return "—"
    v = round(change * 100)
    return f"+{v}%" if v > 0 else f"{MINUS}{-v}%" if v < 0 else "0%"


def usage_frame(result: SystemUsage) -> pd.DataFrame:
    """One row per user with the texts the chart draws."""
    rows = []
    for r in result.users.itertuples(index=False):
        change = float(r.change)
        trend = "lost" if change < 0 else "won" if change > 0 else "muted"
        rows.append(
            {
                "user_id": int(r.user_id),
                "user": str(r.user) if isinstance(r.user, str) else f"user {r.user_id}",
                "hours": float(r.hours),
                "previous": hours_text(float(r.previous_hours)),
                "hours_text": hours_text(float(r.hours)),
                "change": change_text(change),
                "trend": trend,
                "label": f"{hours_text(float(r.hours))} · {change_text(change)}",
            }
        )
    columns = ["user_id", "user", "hours", "previous", "hours_text", "change", "trend", "label"]
    return pd.DataFrame(rows, columns=columns)


def system_usage_chart(result: SystemUsage, currency: str = "", lang: str = "en") -> alt.LayerChart:
    """Horizontal bars of online hours per user, most first, each labelled with its time and the
    percent change on the previous period. ``currency`` is unused (kept for the signature)."""
    frame = _shape.ordered(usage_frame(result))
    top = max(float(frame["hours"].max()) if len(frame) else 0.0, 1.0) * _HEADROOM
    base = alt.Chart().encode(
        y=alt.Y("user:N", sort=_shape.by_order(), title=None),
        tooltip=[
            alt.Tooltip("user:N", title=tr("User", lang)),
            alt.Tooltip("hours_text:N", title=tr("Online", lang)),
            alt.Tooltip("previous:N", title=tr("Previous period", lang)),
            alt.Tooltip("change:N", title=tr("Change", lang)),
        ],
    )
    x = alt.X(
        "hours:Q",
        title=tr("Online hours ({source})", lang, source=result.source),
        scale=_shape.top_scale(),
    )
    bars = (
        base.mark_bar()
        .encode(x=x, color=alt.Color("kind:N", scale=alt.Scale(domain=["open"]), legend=None))
        .transform_calculate(kind="'open'")
    )
    labels = base.mark_text(align="left", dx=4, style="dk-value").encode(
        x=x, text=alt.Text("hours_text:N")
    )
    # Up is good news, down is bad: the change is coloured by its direction.
    trend = alt.Scale(
        domain=["won", "lost", "muted"], range=[PALETTE["won"], PALETTE["lost"], PALETTE["muted"]]
    )
    change = base.mark_text(align="right", style="dk-value").encode(
        x=_shape.at_top(),
        text=alt.Text("change:N"),
        color=alt.Color("trend:N", scale=trend, legend=None),
    )
    return _shape.layer(
        bars,
        labels,
        change,
        data=frame,
        resolve=alt.Resolve(scale=alt.ScaleResolveMap(color="independent")),
        width=_WIDTH,
        height=alt.Step(_ROW_HEIGHT),
        values=(_shape.top(top),),
    )
