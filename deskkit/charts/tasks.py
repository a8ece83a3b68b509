"""Overdue-tasks chart: per user, missed deadlines in the period next to tasks overdue now."""

from __future__ import annotations

from typing import TYPE_CHECKING

import altair as alt
import pandas as pd

from deskkit.charts import _shape
from deskkit.charts._labels import tr
from deskkit.charts._theme import PALETTE

if TYPE_CHECKING:
    from deskkit.metrics.tasks import OverdueTasks

__all__ = ["chart_frame", "overdue_tasks_chart"]

MISSED, NOW = "Missed deadlines in the period", "Overdue now"
_ROW_HEIGHT = 34
_WIDTH = 420
# The step is each measure's bar; a user's band holds both and the padding around them.
_OFFSET_STEP = 13  # about _ROW_HEIGHT per user with two bars


def chart_frame(result: OverdueTasks) -> pd.DataFrame:
    """Two rows per user (missed deadlines, overdue now), users in the result's order; ``user_id``
    and ``which`` (``occurrences`` / ``now``) say which records a bar stands for."""
    rows = []
    for r in result.by_user.itertuples():
        user = str(r.user) if isinstance(r.user, str) else f"user {r.user_id}"
        pairs = (
            (MISSED, r.occurrences, "missed", "occurrences"),
            (NOW, r.overdue_now, "now", "now"),
        )
        for measure, n, word, which in pairs:
            # The theme hides legends: each bar says which number it is.
            rows.append(
                {
                    "user_id": int(r.user_id),
                    "user": user,
                    "which": which,  # the records kind behind the bar
                    "measure": measure,
                    "tasks": int(n),
                    "label": f"{n} {word}",
                }
            )
    columns = ["user_id", "user", "which", "measure", "tasks", "label"]
    return pd.DataFrame(rows, columns=columns)


def overdue_tasks_chart(
    result: OverdueTasks, currency: str = "", lang: str = "en"
) -> alt.LayerChart:
    """Grouped horizontal bars per user: missed deadlines (the desktop's number) and tasks
    overdue now (the task list's), each labelled with its count. ``currency`` is unused (the
    numbers are counts) and accepted for a uniform builder signature."""
    del currency
    frame = chart_frame(result)
    frame = _shape.ordered(frame, "user", list(dict.fromkeys(frame["user"])))
    top = max(int(frame["tasks"].max()) if len(frame) else 0, 1) * 1.3
    base = alt.Chart().encode(
        y=alt.Y("user:N", sort=_shape.by_order(), title=None),
        yOffset=alt.YOffset("measure:N", sort=[MISSED, NOW]),
        tooltip=[
            alt.Tooltip("user:N", title=tr("User", lang)),
            alt.Tooltip("measure:N", title=tr("Number", lang)),
            alt.Tooltip("tasks:Q", title=tr("Tasks", lang), format=","),
        ],
    )
    x = alt.X(
        "tasks:Q",
        title=tr("Tasks", lang),
        scale=_shape.top_scale(),
        axis=alt.Axis(tickMinStep=1, format="d"),
    )
    colour = alt.Color(
        "measure:N",
        scale=alt.Scale(domain=[MISSED, NOW], range=[PALETTE["lost"], PALETTE["muted"]]),
        legend=None,
    )
    bars = base.mark_bar().encode(x=x, color=colour)
    labels = base.mark_text(align="left", dx=3, style="dk-value").encode(
        x=x, text=alt.Text("label:N")
    )
    return _shape.layer(
        bars,
        labels,
        data=frame,
        width=_WIDTH,
        height=alt.Step(_OFFSET_STEP),
        values=(_shape.top(top),),
    )
