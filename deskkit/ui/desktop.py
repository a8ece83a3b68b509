"""The desktop: the filter bar over the cards, recomputed on every filter change."""

from __future__ import annotations

import datetime as dt
import html
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import ipywidgets as w

from deskkit.ui.filter_bar import FilterBar, FilterState
from deskkit.ui.pipeline_flow_card import PipelineFlowCard

if TYPE_CHECKING:
    from deskkit.desk import Desk
    from deskkit.metrics.pipeline_flow import PipelineFlow
    from deskkit.ui._charts import ChartMode

__all__ = ["CSS", "Desktop", "render"]

CSS = """
<style>
.dk-desktop { max-width: 1120px; margin: 0 auto; padding: 12px 16px 32px;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  color: #243042; }
.dk-desktop-title { font-size: 20px; font-weight: 600; margin: 4px 0 8px; }
.dk-filter-bar { gap: 4px 12px; padding: 8px 0 12px; border-bottom: 1px solid #E6E9EF;
  margin-bottom: 16px; }
.dk-card { background: #fff; border: 1px solid #E1E5EC; border-radius: 10px;
  box-shadow: 0 1px 3px rgba(20, 30, 50, .06); padding: 16px 20px; }
.dk-card.dk-busy { opacity: .55; transition: opacity .15s; }
.dk-head { display: flex; justify-content: space-between; align-items: baseline;
  flex-wrap: wrap; gap: 8px; margin-bottom: 12px; }
.dk-title { font-size: 17px; font-weight: 600; }
.dk-sub { color: #6B7585; font-size: 13px; }
.dk-kpis { display: flex; gap: 12px; flex-wrap: wrap; margin-bottom: 16px; }
.dk-kpi { flex: 1 1 150px; border-radius: 8px; background: #F5F7FA; padding: 10px 14px;
  border-left: 4px solid #4C78A8; }
.dk-kpi-won { border-left-color: #2E9E5B; } .dk-kpi-lost { border-left-color: #D1495B; }
.dk-kpi-open { border-left-color: #8A94A6; }
.dk-kpi-label { font-size: 12px; color: #6B7585; text-transform: uppercase;
  letter-spacing: .04em; }
.dk-kpi-value { font-size: 24px; font-weight: 600; line-height: 1.3; }
.dk-kpi-money { font-size: 13px; color: #4A5568; }
.dk-card-main { gap: 24px; }
.dk-table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
.dk-table th { text-align: right; font-weight: 600; color: #6B7585; padding: 6px 10px;
  border-bottom: 1px solid #E1E5EC; white-space: nowrap; }
.dk-table td { text-align: right; padding: 6px 10px; border-bottom: 1px solid #F0F2F5;
  white-space: nowrap; }
.dk-table th:first-child, .dk-table td:first-child { text-align: left; }
.dk-stages tr.dk-won td { font-weight: 600; color: #2E7D4F; background: #F1FAF4; }
.dk-records td, .dk-records th { text-align: left; }
.dk-scroll { max-height: 360px; overflow: auto; border: 1px solid #E6E9EF; border-radius: 6px; }
.dk-caption { font-size: 13px; color: #4A5568; margin: 6px 0; }
.dk-rules { margin: 12px 0 8px; }
.dk-rules-text p { font-size: 13px; line-height: 1.5; color: #4A5568; max-width: 900px; }
.dk-drill-box { margin-top: 8px; }
.dk-error-box { background: #FDECEE; border: 1px solid #F3B7BF; color: #8A1C2B;
  border-radius: 6px; padding: 10px 14px; font-size: 13px; }
</style>
"""


def render(desk: Desk, state: FilterState) -> PipelineFlow:
    """The card's numbers for a filter state: a pure call of the Desk, no widgets involved."""
    return desk.pipeline_flow(
        state.period_like, state.pipeline, user=state.user, department=state.department
    )


class Desktop:
    """The filter bar and the pipeline-flow card; ``.widget`` is the one thing to display."""

    def __init__(
        self,
        desk: Desk,
        state: FilterState | None = None,
        *,
        chart_mode: ChartMode | None = None,
    ) -> None:
        import altair as alt

        from deskkit.charts import THEME

        # The dashboard, not each chart builder, decides the look (style.md §5).
        alt.theme.enable(THEME)
        self.desk = desk
        self.filters = FilterBar(desk, state)
        self.card = PipelineFlowCard(desk.currency, desk.timezone, chart_mode)
        self.filters.observe(self._on_change)
        self.widget = w.VBox(
            [
                w.HTML(CSS),
                w.HTML(
                    f'<div class="dk-desktop-title">{html.escape(desk.store.account.name)}'
                    " · sales desktop</div>"
                ),
                self.filters.widget,
                self.card.widget,
            ]
        ).add_class("dk-desktop")
        self.refresh()

    @property
    def state(self) -> FilterState:
        return self.filters.state

    def _on_change(self, state: FilterState) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Recompute the card for the current filters; a failure is shown on the card."""
        state = self.filters.state
        self.card.set_busy(True)
        try:
            result = render(self.desk, state)
        except Exception as exc:  # any metric error belongs on the card, not in the log
            self.card.show_error(exc)
        else:
            self.card.show(result, self.filters.scope_label())
        finally:
            self.card.set_busy(False)

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, *, chart_mode: ChartMode | None = None
    ) -> Desktop:
        """A desktop configured by the environment (how Voilà passes settings in).

        ``DESKKIT_STORE``: a store path or URL (unset: the demo account);
        ``DESKKIT_NOW``: an ISO datetime to look at (naive = UTC; unset: the clock);
        ``DESKKIT_VIEWER``: the user id looking (unset: unrestricted).
        """
        from deskkit.desk import open as open_desk

        env = os.environ if environ is None else environ
        store = env.get("DESKKIT_STORE") or None
        now_text = env.get("DESKKIT_NOW") or None
        viewer_text = env.get("DESKKIT_VIEWER") or None
        now = dt.datetime.fromisoformat(now_text) if now_text else None
        viewer = int(viewer_text) if viewer_text else None
        return cls(open_desk(store, viewer=viewer, now=now), chart_mode=chart_mode)
