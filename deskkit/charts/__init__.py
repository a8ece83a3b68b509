"""Charts: Altair specs built from metric results, with no data access of their own.

``alt.theme.enable(THEME)`` turns the house look on (the desktop does it), and
``alt.data_transformers.enable(DATA_TRANSFORMER)`` a faster writer of the same data values.
"""

from __future__ import annotations

from deskkit.charts._data import DATA_TRANSFORMER
from deskkit.charts._theme import PALETTE, THEME, count, money, percent, signed
from deskkit.charts.pipeline_flow import chart_frame, pipeline_flow_chart

__all__ = (
    "DATA_TRANSFORMER",
    "PALETTE",
    "THEME",
    "chart_frame",
    "count",
    "money",
    "percent",
    "pipeline_flow_chart",
    "signed",
)
