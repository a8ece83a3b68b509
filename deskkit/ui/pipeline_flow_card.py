"""The "Sales pipeline" card: KPIs, stage table, chart, the rule text and a drill-down."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from deskkit.charts import money, pipeline_flow_chart
from deskkit.ui._charts import ChartMode, ChartView
from deskkit.ui.tables import RECORDS_CAP, hook, records_html, stage_table_html

if TYPE_CHECKING:
    from deskkit.metrics.pipeline_flow import PipelineFlow, RecordKind

__all__ = ["DrillKey", "PipelineFlowCard", "drill_options", "header_html", "kpi_html"]

#: A drill-down choice: (record kind, stage id or None for the totals).
DrillKey = tuple[str, int | None]

_KIND_WORDS = {"deals": "deals", "net_in": "moves", "lost": "moves to lost"}


def header_html(result: PipelineFlow, scope_label: str = "Everyone") -> str:
    """Card title and the period/scope it shows."""
    period = result.period
    preset = period.preset_name.capitalize() if period.preset_name != "custom" else "Custom"
    return (
        '<div class="dk-head">'
        f'<div class="dk-title">Sales pipeline · <span data-k="pipeline">'
        f"{html.escape(result.pipeline)}</span></div>"
        f'<div class="dk-sub"><span data-k="period">{html.escape(preset)}, '
        f"{html.escape(period.label)}</span> · {html.escape(scope_label)}</div></div>"
    )


def kpi_html(result: PipelineFlow, currency: str = "") -> str:
    """The KPI row: New, Won, Lost, Open deals, each with its budget where it has one."""

    def tile(label: str, key: str, n: int, budget: float | None, cls: str) -> str:
        money_line = (
            f'<div class="dk-kpi-money">{hook(key + "_budget", budget, money(budget, currency))}'
            "</div>"
            if budget is not None
            else '<div class="dk-kpi-money">&nbsp;</div>'
        )
        return (
            f'<div class="dk-kpi {cls}"><div class="dk-kpi-label">{label}</div>'
            f'<div class="dk-kpi-value">{hook(key, n, f"{n:,}")}</div>{money_line}</div>'
        )

    return (
        '<div class="dk-kpis">'
        + tile("New", "new", result.new, None, "dk-kpi-new")
        + tile("Won", "won", result.won, result.won_budget, "dk-kpi-won")
        + tile("Lost", "lost_total", result.lost_total, result.lost_budget, "dk-kpi-lost")
        + tile("Open deals", "open", result.open_deals, result.open_budget, "dk-kpi-open")
        + "</div>"
    )


def drill_options(result: PipelineFlow) -> list[tuple[str, DrillKey | None]]:
    """Every number on the card that has records behind it, as dropdown options."""
    opts: list[tuple[str, DrillKey | None]] = [("Choose a number…", None)]
    opts += [
        (f"New: {result.new:,} deals", ("new", None)),
        (f"Won: {result.won:,} deals", ("won", None)),
        (f"Lost: {result.lost_total:,} deals", ("lost_total", None)),
    ]
    st = result.stages.reset_index(drop=True)
    last = len(st) - 1
    for i, r in st.iterrows():
        sid, name = int(r["stage_id"]), ("Won" if i == last else str(r["stage"]))
        if i != last:  # the won row's deals are the Won total above
            opts.append((f"{name}: {int(r['deals']):,} deals at the end", ("deals", sid)))
        if i > 0:
            net = int(r["net_in"])
            opts.append((f"{name}: net in {net:+,} (moves across)", ("net_in", sid)))
        if i != last:
            opts.append((f"{name}: {int(r['lost']):,} lost", ("lost", sid)))
    return opts


class PipelineFlowCard:
    """Shows one :class:`PipelineFlow` result; ``show`` replaces it, ``show_error`` reports one."""

    def __init__(
        self, currency: str = "", timezone: str = "UTC", chart_mode: ChartMode | None = None
    ) -> None:
        self.currency = currency
        self.timezone = timezone
        self.result: PipelineFlow | None = None
        self._syncing = False
        self._head = w.HTML().add_class("dk-card-head")
        self._error = w.HTML(layout=w.Layout(display="none")).add_class("dk-error")
        self._kpis = w.HTML().add_class("dk-kpi-row")
        self._table = w.HTML().add_class("dk-stage-table")
        self._chart = ChartView(chart_mode)
        self._rules = self._build_rules()
        self._drill, self._records = self._build_drill()
        self._body = w.VBox(
            [
                self._kpis,
                w.HBox(
                    [self._table, self._chart.widget],
                    layout=w.Layout(flex_flow="row wrap", align_items="flex-start"),
                ).add_class("dk-card-main"),
                self._rules,
                w.VBox([self._drill, self._records]).add_class("dk-drill-box"),
            ]
        )
        self.widget = w.VBox([self._head, self._error, self._body]).add_class("dk-card")
        self.widget.add_class("dk-pipeline-flow")

    # Widgets -------------------------------------------------------------------------------

    def _build_rules(self) -> w.Accordion:
        text = w.HTML().add_class("dk-rules-text")
        acc = w.Accordion(children=[text], selected_index=None).add_class("dk-rules")
        acc.set_title(0, "How is this counted?")
        return acc

    def _build_drill(self) -> tuple[w.Dropdown, w.HTML]:
        drill = w.Dropdown(
            options=[("Choose a number…", None)],
            description="Records behind",
            style={"description_width": "initial"},
            layout=w.Layout(width="420px"),
        ).add_class("dk-drill")
        drill.observe(self._on_change, names="value")
        return drill, w.HTML().add_class("dk-records")

    # Showing -------------------------------------------------------------------------------

    def set_busy(self, busy: bool) -> None:
        """Mark the card as recomputing (dimmed; class ``dk-busy`` for tests)."""
        if busy:
            self.widget.add_class("dk-busy")
        else:
            self.widget.remove_class("dk-busy")

    def show(self, result: PipelineFlow, scope_label: str = "Everyone") -> None:
        """Replace everything on the card with ``result``."""
        self.result = result
        with self.widget.hold_sync():
            self._head.value = header_html(result, scope_label)
            self._error.layout.display = "none"
            self._error.value = ""
            self._body.layout.display = None
            self._kpis.value = kpi_html(result, self.currency)
            self._table.value = stage_table_html(result, self.currency)
            self._rules.children[0].value = f"<p>{html.escape(result.definition)}</p>"
            self._syncing = True
            try:
                self._drill.options = drill_options(result)
                self._drill.value = None
            finally:
                self._syncing = False
            self._records.value = ""
        self._chart.show(pipeline_flow_chart(result, self.currency))

    def show_error(self, error: BaseException, title: str = "Sales pipeline") -> None:
        """Say what went wrong on the card instead of raising (old numbers are hidden)."""
        self.result = None
        with self.widget.hold_sync():
            self._head.value = (
                f'<div class="dk-head"><div class="dk-title">{html.escape(title)}</div></div>'
            )
            self._error.value = (
                '<div class="dk-error-box"><b>Could not compute this card.</b> '
                f'<span data-k="error">{html.escape(type(error).__name__)}: '
                f"{html.escape(str(error))}</span></div>"
            )
            self._error.layout.display = None
            self._body.layout.display = "none"
        self._chart.show(None)

    # Drill-down ----------------------------------------------------------------------------

    def drill(self, key: DrillKey | None) -> None:
        """Show the records behind one number (the same as choosing it in the dropdown)."""
        self._drill.value = key

    def _on_change(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        key = change["new"]
        try:
            self._records.value = "" if key is None else self._records_html(key)
        except Exception as exc:  # a failing drill-down must not break the card
            self._records.value = (
                f'<div class="dk-error-box" data-k="error">{html.escape(str(exc))}</div>'
            )

    def _records_html(self, key: DrillKey) -> str:
        result = self.result
        if result is None:
            return ""
        what, stage = key
        kind: RecordKind = what  # type: ignore[assignment]
        frame = result.records(kind, stage, limit=RECORDS_CAP + 1)
        total = self._count(result, key)
        if total is None:
            # Net in is forward minus backward moves, so its number is not the row count.
            total = len(frame) if len(frame) <= RECORDS_CAP else len(result.records(kind, stage))
        word = _KIND_WORDS.get(what, "deals")
        return records_html(frame, total, what=word, currency=self.currency, timezone=self.timezone)

    @staticmethod
    def _count(result: PipelineFlow, key: DrillKey) -> int | None:
        """How many records stand behind a number, when the number itself says so."""
        what, stage = key
        totals = {"new": result.new, "won": result.won, "lost_total": result.lost_total}
        if what in totals:
            return totals[what]
        row = result.stages.loc[result.stages["stage_id"] == stage]
        if row.empty or what not in ("deals", "lost"):
            return None
        return int(row[what].iloc[0])
