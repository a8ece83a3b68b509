"""Charts of the activity family: actions per user, events by type, messages by channel, and
response time per user. Pure functions of a metric result; colours come from the theme."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import altair as alt
import pandas as pd

from deskkit.charts import _shape
from deskkit.charts._labels import tr
from deskkit.charts._theme import PALETTE, count
from deskkit.metrics.activity import ACTION_TYPES

if TYPE_CHECKING:
    from deskkit.metrics.activity import Activity, Events
    from deskkit.metrics.messaging import Messages, ResponseTime

__all__ = ["activity_chart", "events_chart", "messages_chart", "response_time_chart"]

_ROW = 26
_WIDTH = 420
# Action families share a theme colour and differ by opacity: the theme has four category hues.
_FAMILY = {
    "calls_in": ("open", 1.0),
    "calls_out": ("open", 0.6),
    "messages_out": ("open", 0.3),
    "tasks_completed": ("won", 1.0),
    "notes": ("won", 0.55),
    "stage_changes": ("muted", 1.0),
    "deals_created": ("muted", 0.5),
}


def _duration(seconds: float) -> str:
    """``95`` → ``"1.6 min"``, ``7200`` → ``"2.0 h"``; NaN → ``"—"``."""
    if seconds is None or math.isnan(seconds):
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def activity_chart(result: Activity, currency: str = "", lang: str = "en") -> alt.LayerChart:
    """Stacked horizontal bars: actions per user, split by action type, total at the bar end."""
    wide = result.table
    users = [str(u) for u in wide["user"].fillna(wide["user_id"].astype(str))]
    ids = [int(u) for u in wide["user_id"]]
    rows = []
    for uid, user, (_, r) in zip(ids, users, wide.iterrows(), strict=True):
        for kind, label in ACTION_TYPES.items():
            rows.append(
                {
                    "user_id": uid,
                    "user": user,
                    "action": kind,
                    "type": label,
                    "order": list(ACTION_TYPES).index(kind),
                    "count": int(r[kind]),
                }
            )
    frame = pd.DataFrame(rows, columns=["user_id", "user", "action", "type", "order", "count"])
    totals = pd.DataFrame(
        {"user_id": ids, "user": users, "total": wide["total"].astype(int).tolist()}
    )
    totals["label"] = [count(t) for t in totals["total"]]
    frame, totals = _shape.ordered(frame, "user", users), _shape.ordered(totals)
    labels = list(ACTION_TYPES.values())
    colour = alt.Color(
        "type:N",
        title=tr("Action", lang),
        scale=alt.Scale(domain=labels, range=[PALETTE[_FAMILY[k][0]] for k in ACTION_TYPES]),
        legend=alt.Legend(orient="bottom", columns=4),
    )
    opacity = alt.Opacity(
        "type:N",
        title=tr("Action", lang),
        scale=alt.Scale(domain=labels, range=[_FAMILY[k][1] for k in ACTION_TYPES]),
        legend=alt.Legend(orient="bottom", columns=4),
    )
    y = alt.Y("user:N", sort=_shape.by_order(), title=None)
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=y,
            x=alt.X("sum(count):Q", title=tr("Actions during the period", lang), stack="zero"),
            color=colour,
            opacity=opacity,
            order=alt.Order("order:Q"),
            # Not drawn: keeps the ids in the aggregated mark's datum for the drill-down.
            detail=[alt.Detail("user_id:N"), alt.Detail("action:N")],
            tooltip=[
                alt.Tooltip("user:N", title=tr("User", lang)),
                alt.Tooltip("type:N", title=tr("Action", lang)),
                alt.Tooltip("count:Q", title=tr("Count", lang)),
            ],
        )
    )
    ends = (
        alt.Chart(totals)
        .mark_text(align="left", dx=4, style="dk-value")
        .encode(y=y, x=alt.X("total:Q"), text=alt.Text("label:N"))
    )
    return _shape.layer(bars, ends, width=_WIDTH, height=alt.Step(_ROW))


def events_chart(result: Events, currency: str = "", lang: str = "en") -> alt.LayerChart:
    """Horizontal bars: events of the period by type, each labelled with its count."""
    frame = _shape.ordered(result.counts)
    frame["label"] = [count(c) for c in frame["count"]]
    base = alt.Chart().encode(
        y=alt.Y("type:N", sort=_shape.by_order(), title=None),
        tooltip=[
            alt.Tooltip("type:N", title=tr("Event", lang)),
            alt.Tooltip("count:Q", title=tr("Events", lang)),
        ],
    )
    bars = base.mark_bar(color=PALETTE["open"]).encode(x=alt.X("count:Q", title=tr("Events", lang)))
    text = base.mark_text(align="left", dx=4, style="dk-value").encode(
        x=alt.X("count:Q"), text=alt.Text("label:N")
    )
    return _shape.layer(bars, text, data=frame, width=_WIDTH, height=alt.Step(_ROW))


def messages_chart(result: Messages, currency: str = "", lang: str = "en") -> alt.LayerChart:
    """Grouped horizontal bars: incoming and outgoing messages per channel, with counts."""
    ch = result.by_channel
    frame = ch.melt(
        id_vars="channel",
        value_vars=["incoming", "outgoing"],
        var_name="direction",
        value_name="messages",
    )
    frame["label"] = [count(v) for v in frame["messages"]]
    frame = _shape.ordered(frame, "channel", list(ch["channel"]))
    base = alt.Chart().encode(
        y=alt.Y("channel:N", sort=_shape.by_order(), title=None),
        yOffset=alt.YOffset("direction:N", sort=["incoming", "outgoing"]),
        tooltip=[
            alt.Tooltip("channel:N", title=tr("Channel", lang)),
            alt.Tooltip("direction:N", title=tr("Direction", lang)),
            alt.Tooltip("messages:Q", title=tr("Messages", lang)),
        ],
    )
    colour = alt.Color(
        "direction:N",
        title=None,
        scale=alt.Scale(domain=["incoming", "outgoing"], range=[PALETTE["open"], PALETTE["won"]]),
        legend=alt.Legend(orient="bottom"),
    )
    bars = base.mark_bar().encode(x=alt.X("messages:Q", title=tr("Messages", lang)), color=colour)
    text = base.mark_text(align="left", dx=4, style="dk-value").encode(
        x=alt.X("messages:Q"), text=alt.Text("label:N")
    )
    # The step is each direction's bar: a channel's band (two bars and padding) is about 2 * _ROW.
    return _shape.layer(bars, text, data=frame, width=_WIDTH, height=alt.Step(20))


def response_time_chart(
    result: ResponseTime, currency: str = "", lang: str = "en"
) -> alt.LayerChart:
    """Per user: a bar for the median reply time and a tick for the mean, in minutes."""
    by = result.by_user
    users = [str(u) for u in by["user"].fillna(by["user_id"].astype(str))]
    frame = pd.DataFrame(
        {
            "user_id": by["user_id"].astype(int),
            "user": users,
            "median_min": by["median_s"].astype(float) / 60,
            "mean_min": by["mean_s"].astype(float) / 60,
            "replies": by["replies"].astype(int),
            "unanswered": by["unanswered"].astype(int),
            "label": [_duration(s) for s in by["median_s"].astype(float)],
            "mean_text": [_duration(s) for s in by["mean_s"].astype(float)],
        }
    )
    frame = _shape.ordered(frame.loc[frame["replies"] > 0])
    base = alt.Chart().encode(
        y=alt.Y("user:N", sort=_shape.by_order(), title=None),
        tooltip=[
            alt.Tooltip("user:N", title=tr("User", lang)),
            alt.Tooltip("label:N", title=tr("Median", lang)),
            alt.Tooltip("mean_text:N", title=tr("Mean", lang)),
            alt.Tooltip("replies:Q", title=tr("Replies", lang)),
            alt.Tooltip("unanswered:Q", title=tr("Unanswered", lang)),
        ],
    )
    x = alt.X("median_min:Q", title=tr("Median reply time, minutes (tick: mean)", lang))
    bars = base.mark_bar(color=PALETTE["open"]).encode(x=x)
    ticks = base.mark_tick(color=PALETTE["lost"], thickness=2).encode(x=alt.X("mean_min:Q"))
    text = base.mark_text(align="left", dx=4, style="dk-value").encode(
        x=alt.X("median_min:Q"), text=alt.Text("label:N")
    )
    return _shape.layer(bars, ticks, text, data=frame, width=_WIDTH, height=alt.Step(_ROW))
