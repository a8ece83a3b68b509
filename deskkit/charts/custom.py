"""Custom widget chart: for a split display, a horizontal bar per value of the split field
labelled with its number and its change over the period; a plain number has no chart (the card
shows the number itself)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import altair as alt
import pandas as pd

from deskkit.charts import _shape
from deskkit.charts._theme import PALETTE, money, signed

if TYPE_CHECKING:
    from deskkit.metrics.custom import CustomResult

__all__ = ["custom_chart", "custom_frame", "number_text"]

_ROW_HEIGHT = 26
_WIDTH = 420
_HEADROOM = 1.8  # room right of the longest bar for its "12 (+3)" label
_TITLES = {
    "en": {"count": "Count", "sum": "Sum", "mean": "Average", "change": "Change", "value": ""},
    "ru": {"count": "Количество", "sum": "Сумма", "mean": "Среднее", "change": "Изменение"},
}


def number_text(value: float, measure: str, currency: str = "", money_field: bool = False) -> str:
    """The widget's number as text: a count with separators, a sum or mean rounded (as money
    when the measured field is the budget)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if measure == "count":
        return f"{int(value):,}"
    if money_field:
        return money(float(value), currency)
    return f"{float(value):,.0f}" if abs(value) >= 100 else f"{float(value):,.2f}"


def _change_text(change: float, measure: str) -> str:
    if change is None or (isinstance(change, float) and math.isnan(change)):
        return ""
    if measure == "count" or float(change).is_integer():
        return signed(round(change))
    return f"{change:+,.2f}".replace("-", "\u2212")


def custom_frame(result: CustomResult, currency: str = "") -> pd.DataFrame:
    """One row per split value with the texts the chart draws (empty for a plain number)."""
    columns = ["key", "label", "value", "value_at_start", "change", "text", "order"]
    if result.split is None:
        return pd.DataFrame(columns=columns)
    d = result.definition.display
    money_field = d.field in ("price", "next_price")
    rows = []
    for order, r in enumerate(result.split.itertuples(index=False)):
        value = float(r.value) if not pd.isna(r.value) else 0.0
        text = number_text(r.value, d.measure, currency, money_field)
        change = _change_text(r.change, d.measure)
        rows.append(
            {
                "key": str(r.key),
                "label": str(r.label),
                "value": value,
                "value_at_start": r.value_at_start,
                "change": r.change,
                "text": f"{text} ({change})" if change else text,
                "order": order,
            }
        )
    return pd.DataFrame(rows, columns=columns)


def custom_chart(
    result: CustomResult, currency: str = "", lang: str = "en"
) -> alt.LayerChart | None:
    """Bars of the split (value now), each labelled with its number and change; None for a
    number display. A pure function of ``result``: no data access."""
    if result.split is None:
        return None
    frame = _shape.ordered(custom_frame(result, currency))
    titles = _TITLES.get(lang, _TITLES["en"])
    measure = result.definition.display.measure
    top = max(float(frame["value"].max()) if len(frame) else 0.0, 1.0) * _HEADROOM
    base = alt.Chart().encode(
        y=alt.Y("label:N", sort=_shape.by_order(), title=None),
        tooltip=[
            alt.Tooltip("label:N", title=""),
            alt.Tooltip("text:N", title=titles.get(measure, measure)),
            alt.Tooltip("value_at_start:Q", title="At start" if lang == "en" else "На начало"),
        ],
    )
    bars = base.mark_bar().encode(
        x=alt.X(
            "value:Q",
            title=titles.get(measure, measure),
            scale=_shape.top_scale(),
        ),
        color=alt.ColorValue(PALETTE["open"]),
    )
    labels = base.mark_text(align="left", dx=4, style="dk-value").encode(
        x=alt.X("value:Q"), text=alt.Text("text:N")
    )
    return _shape.layer(
        bars,
        labels,
        data=frame,
        width=_WIDTH,
        height=alt.Step(_ROW_HEIGHT),
        values=(_shape.top(top),),
    )
