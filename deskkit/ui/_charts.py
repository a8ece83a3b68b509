"""How a chart is shown on a card with no internet.

Altair's JupyterChart loads vega-embed from a CDN unless ``enable_offline()`` swaps its
JavaScript for a bundle built by vl-convert. That bundle (~0.9 MB) travels in the widget's
state, so each card keeps ONE JupyterChart and only replaces its ``.chart`` on refresh: the
bundle is shipped once per card, not once per filter change. The ``"svg"`` mode is the fallback
(server-side SVG from vl-convert in an HTML widget: no JavaScript at all, but no tooltips).
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING, Literal

import ipywidgets as w

if TYPE_CHECKING:
    import altair as alt

__all__ = ["ChartMode", "ChartView", "default_mode"]

ChartMode = Literal["jupyter", "svg"]


def default_mode() -> ChartMode:
    """``$DESKKIT_CHART_MODE`` (``jupyter`` or ``svg``), else ``jupyter``."""
    mode = os.environ.get("DESKKIT_CHART_MODE", "jupyter").strip().lower()
    if mode not in ("jupyter", "svg"):
        raise ValueError(f"DESKKIT_CHART_MODE must be 'jupyter' or 'svg', not {mode!r}")
    return mode  # type: ignore[return-value]


@cache
def _enable_offline() -> None:
    """Build the offline JavaScript bundle once per kernel (about 1.5 s; preheating hides it)."""
    import altair as alt

    alt.JupyterChart.enable_offline()


class ChartView:
    """One chart slot: a widget that stays on the page while its chart is replaced."""

    def __init__(self, mode: ChartMode | None = None) -> None:
        self.mode: ChartMode = mode or default_mode()
        if self.mode == "jupyter":
            import altair as alt

            _enable_offline()
            self.widget: w.DOMWidget = alt.JupyterChart(
                None, embed_options={"actions": False, "renderer": "svg"}
            )
        else:
            self.widget = w.HTML()
        self.widget.add_class("dk-chart")

    def show(self, chart: alt.TopLevelMixin | None) -> None:
        """Draw ``chart`` (None clears the slot)."""
        if self.mode == "jupyter":
            self.widget.chart = chart  # type: ignore[attr-defined]
        elif chart is None:
            self.widget.value = ""  # type: ignore[attr-defined]
        else:
            import vl_convert as vlc

            self.widget.value = vlc.vegalite_to_svg(chart.to_dict())  # type: ignore[attr-defined]
