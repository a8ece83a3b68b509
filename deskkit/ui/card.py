"""One desktop card: title, headline numbers with their change, chart, summary table, the
rule text on demand and a drill-down to the records behind any number.

A card knows nothing about how its result is computed: the board hands it states (loading,
slow, a result, an error) and it draws them. What to draw comes from the widget's
:class:`~deskkit.ui.cards.CardModel`.
"""

from __future__ import annotations

import html
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import pandas as pd

from deskkit.ui import i18n
from deskkit.ui._charts import ChartMode, ChartView
from deskkit.ui.cards import CardModel, Kpi, card_model
from deskkit.ui.tables import RECORDS_CAP

if TYPE_CHECKING:
    from deskkit.widgets import Widget

__all__ = ["MAX_KPIS", "Card", "CardStyle", "frame_html"]

#: Headline numbers a card can show (tiles are made up front; see ``Card._show_kpis``).
MAX_KPIS = 10


@dataclass(frozen=True)
class CardStyle:
    """How numbers are shown: the language and the account's currency and time zone."""

    lang: i18n.Lang = "en"
    currency: str = ""
    timezone: str = "UTC"


_MONEY = ("budget", "price", "amount", "weighted_budget", "won_budget", "achieved", "target")
_SHARE = ("share", "percent", "conversion", "probability", "won_share", "change")
_TIME = (
    "at",
    "created_at",
    "closed_at",
    "updated_at",
    "deadline",
    "missed_deadline",
    "deadline_now",
    "completed_at",
    "last_at",
    "started_at",
    "ended_at",
)


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def cell_text(column: str, value: Any, style: CardStyle) -> str:
    """A table cell in the card's language: money, shares, times and counts formatted."""
    if _is_missing(value):
        return ""
    lang = style.lang
    if column in _TIME or column.endswith("_at"):
        return i18n.fmt_datetime(pd.Timestamp(value).to_pydatetime(), lang, style.timezone)
    if isinstance(value, bool):
        return "✓" if value else ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if column in _MONEY or column.endswith("_budget"):
            return i18n.fmt_money(float(value), style.currency, lang)
        if column in _SHARE or column.endswith("_share"):
            return i18n.fmt_percent(float(value), lang)
        if column.endswith("_hours") or column == "hours":
            return i18n.fmt_hours(float(value), lang)
        if column.endswith("_s") or column.endswith("_seconds"):
            return i18n.fmt_duration(float(value), lang)
        if float(value).is_integer() and not column.endswith("_id") and column != "id":
            return i18n.fmt_count(int(value), lang)
        if column.endswith("_id") or column == "id":
            return str(int(value))
        return i18n.fmt_value(float(value), "count", lang)
    return str(value)


def frame_html(
    frame: pd.DataFrame,
    style: CardStyle,
    *,
    total: int | None = None,
    cap: int = RECORDS_CAP,
    cls: str = "dk-summary",
) -> str:
    """A DataFrame as a card table (at most ``cap`` rows, saying how many there are)."""
    total = len(frame) if total is None else total
    if frame.empty:
        return (
            f'<div class="dk-caption" data-k="rows" data-v="0">'
            f"{html.escape(i18n.t('no_data', style.lang))}</div>"
        )
    shown = frame.head(cap)
    caption = ""
    if cls == "dk-records":
        caption = (
            f'<div class="dk-caption" data-k="rows" data-v="{total}">'
            + html.escape(
                i18n.t(
                    "showing",
                    style.lang,
                    shown=i18n.fmt_count(len(shown), style.lang),
                    total=i18n.fmt_count(total, style.lang),
                )
            )
            + "</div>"
        )
    cols = list(shown.columns)
    head = "".join(f"<th>{html.escape(i18n.t(c, style.lang))}</th>" for c in cols)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(cell_text(c, v, style))}</td>"
            for c, v in zip(cols, row, strict=True)
        )
        + "</tr>"
        for row in shown.itertuples(index=False, name=None)
    )
    wrap = "dk-scroll" if cls == "dk-records" else "dk-table-wrap"
    return (
        f'{caption}<div class="{wrap}"><table class="dk-table {cls}">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _delta_html(kpi: Kpi, style: CardStyle) -> str:
    """The change against the previous period, green when it goes the good way."""
    if kpi.previous is None or not isinstance(kpi.value, int | float) or _is_missing(kpi.value):
        return '<span class="dk-delta dk-delta-none">&nbsp;</span>'
    delta = float(kpi.value) - float(kpi.previous)
    good = (delta > 0) if kpi.better == "up" else (delta < 0)
    tone = "dk-up" if delta == 0 or good else "dk-down"
    tone = "dk-flat" if delta == 0 else tone
    text = i18n.fmt_signed(delta, kpi.kind, style.lang, style.currency)
    prev = html.escape(i18n.t("previous", style.lang))
    return (
        f'<span class="dk-delta {tone}" data-k="delta-{html.escape(kpi.label)}" '
        f'data-v="{delta:g}" title="{prev}">{html.escape(text)}</span>'
    )


class Card:
    """The card of one widget on the desktop; ``widget`` is what the page shows."""

    def __init__(
        self,
        spec: Widget,
        style: CardStyle,
        *,
        chart_mode: ChartMode | None = None,
        on_refresh: Callable[[Card], None] | None = None,
    ) -> None:
        self.spec = spec
        self.model: CardModel = card_model(spec.id)
        self.style = style
        self.result: Any = None
        self.previous: Any = None
        self.error: BaseException | None = None
        self._on_refresh = on_refresh
        #: Held while the card changes state (results may arrive on several threads).
        self.lock = threading.RLock()
        self._drill_key: tuple[str, dict[str, Any]] | None = None

        self._title = w.HTML().add_class("dk-title")
        self._subtitle = w.HTML().add_class("dk-sub")
        self._status = w.HTML().add_class("dk-status")
        # How many results this card has drawn (a hook for browser tests and the page bench).
        self._drawn = 0
        self._stamp = w.HTML(layout=w.Layout(display="none")).add_class("dk-stamp")
        self._refresh = w.Button(layout=w.Layout(display="none", width="auto"))
        self._refresh.add_class("dk-refresh")
        self._refresh.on_click(lambda _: self._on_refresh and self._on_refresh(self))
        self._tools = w.HBox(layout=w.Layout(display="none")).add_class("dk-tools")
        head = w.HBox(
            [w.VBox([self._title, self._subtitle]), self._status, self._refresh, self._tools]
        ).add_class("dk-head")

        self._tiles = [self._make_tile(i) for i in range(MAX_KPIS)]
        self._tile_drills: list[str | None] = [None] * MAX_KPIS
        self._kpis = w.HBox(self._tiles, layout=w.Layout(flex_flow="row wrap")).add_class("dk-kpis")
        self._chart = ChartView(chart_mode)
        self._chart.on_click(self._on_mark) if hasattr(self._chart, "on_click") else None
        self._table = w.HTML().add_class("dk-table-box")
        self._rules_toggle = w.ToggleButton(layout=w.Layout(width="auto")).add_class(
            "dk-rules-toggle"
        )
        self._rules = w.HTML(layout=w.Layout(display="none")).add_class("dk-rules-text")
        self._rules_toggle.observe(self._toggle_rules, names="value")
        self._drill_pick = w.Dropdown(layout=w.Layout(width="auto")).add_class("dk-drill")
        self._drill_pick.observe(self._on_pick, names="value")
        self._records_title = w.HTML().add_class("dk-records-title")
        self._close = w.Button(layout=w.Layout(width="auto")).add_class("dk-close")
        self._close.on_click(lambda _: self.close_drill())
        self._records = w.HTML().add_class("dk-records-box")
        self._drill_box = w.VBox(
            [
                w.HBox([self._records_title, self._close]).add_class("dk-records-head"),
                self._records,
            ],
            layout=w.Layout(display="none"),
        ).add_class("dk-drill-box")
        self._error = w.HTML(layout=w.Layout(display="none")).add_class("dk-error")
        self._body = w.VBox(
            [
                self._kpis,
                self._chart.widget,
                self._table,
                w.HBox([self._rules_toggle, self._drill_pick]).add_class("dk-card-foot"),
                self._rules,
                self._drill_box,
            ]
        ).add_class("dk-card-body")
        self.widget = w.VBox([head, self._error, self._body, self._stamp]).add_class("dk-card")
        self.widget.add_class(f"dk-card-{spec.id}")
        self.widget.add_class(f"dk-size-{spec.size}")
        self._syncing = False
        self.set_style(style)
        self.set_loading()

    # Language and chrome ----------------------------------------------------------------------

    def set_style(self, style: CardStyle) -> None:
        """Switch language/formats and redraw what the card shows."""
        self.style = style
        lang = style.lang
        self._title.value = html.escape(self.spec.label(lang))
        self._refresh.description = i18n.t("refresh", lang)
        self._rules_toggle.description = i18n.t("rules", lang)
        self._close.description = i18n.t("close", lang)
        if self.result is not None:
            result, previous, self.result = self.result, self.previous, None
            self.show(result, previous)  # a full redraw, in the new language
        elif self.error is not None:
            self.show_error(self.error)

    def set_subtitle(self, text: str) -> None:
        """What the numbers cover, e.g. "November 2026 · Everyone"."""
        self._subtitle.value = f'<span data-k="subtitle">{html.escape(text)}</span>'

    # States -----------------------------------------------------------------------------------

    def set_loading(self) -> None:
        """Waiting for a result: a spinner (the old numbers stay, dimmed)."""
        self.widget.add_class("dk-busy")
        self._status.value = (
            f'<span class="dk-spinner" title="{html.escape(i18n.t("loading", self.style.lang))}">'
            "</span>"
        )
        self._refresh.layout.display = "none"

    def set_slow(self) -> None:
        """No answer within the budget: offer Refresh instead of the spinner."""
        self.widget.add_class("dk-slow")
        self._status.value = (
            f'<span class="dk-slow-text">{html.escape(i18n.t("slow", self.style.lang))}</span>'
        )
        self._refresh.layout.display = None

    def _stamped(self) -> None:
        """Count a finished drawing (sent last, after everything it drew)."""
        self._drawn += 1
        self._stamp.value = f'<i data-k="drawn" data-v="{self._drawn}"></i>'

    def _settle(self) -> None:
        self.widget.remove_class("dk-busy")
        self.widget.remove_class("dk-slow")
        self._status.value = ""
        self._refresh.layout.display = "none"

    def show(self, result: Any, previous: Any = None) -> None:
        """Draw ``result`` (numbers, chart, table, rule text); ``previous`` is the previous
        period's result, for models that compare with it."""
        same = result is self.result
        self.result, self.previous, self.error = result, previous, None
        style, model = self.style, self.model
        with self.widget.hold_sync():
            self._settle()
            self._error.layout.display = "none"
            self._body.layout.display = None
            self._show_kpis(model.kpis(result, previous))
            if same and previous is not None:
                return  # only the comparison arrived: the rest is already drawn
            table = model.table(result)
            if callable(table):  # HTML drawn in the card's language and currency
                table = table(style)
            if isinstance(table, str):
                self._table.value = table
            elif isinstance(table, pd.DataFrame):
                self._table.value = frame_html(table, style, cap=25)
            else:
                self._table.value = ""
            self._rules.value = f"<p>{html.escape(i18n.rule_text(result, style.lang))}</p>"
            self._syncing = True
            try:
                choices = model.choices(result, style.lang)
                self._drill_pick.options = [(i18n.t("records", style.lang) + "…", None)] + [
                    (label, (key, tuple(sorted(params.items())))) for label, key, params in choices
                ]
                self._drill_pick.value = None
                self._drill_pick.layout.display = None if choices else "none"
            finally:
                self._syncing = False
            if self._drill_key is not None:
                self.drill(self._drill_key[0], **self._drill_key[1])
        chart = self.spec.chart(result, currency=style.currency) if self.spec.chart else None
        self._chart.show(chart)
        self._stamped()

    def show_error(self, error: BaseException) -> None:
        """A short error on this card only (the other cards are not affected)."""
        self.result, self.previous, self.error = None, None, error
        with self.widget.hold_sync():
            self._settle()
            self._error.value = (
                '<div class="dk-error-box"><b>'
                + html.escape(i18n.t("error", self.style.lang))
                + f'</b> <span data-k="error">{html.escape(type(error).__name__)}: '
                + f"{html.escape(str(error)[:300])}</span></div>"
            )
            self._error.layout.display = None
            self._body.layout.display = "none"
        self._chart.show(None)
        self._stamped()

    # Headline numbers -------------------------------------------------------------------------

    def _make_tile(self, i: int) -> w.VBox:
        button = w.Button(layout=w.Layout(width="auto"))
        button.on_click(lambda _, i=i: self._tile_drills[i] and self.drill(self._tile_drills[i]))
        label = w.HTML().add_class("dk-kpi-label")
        tile = w.VBox([label, button, w.HTML()], layout=w.Layout(display="none"))
        return tile.add_class("dk-kpi")

    def _show_kpis(self, kpis: list[Kpi]) -> None:
        """Fill the card's fixed tiles (hidden ones are unused). Tiles are made once, on the
        kernel's main thread: results arrive on worker threads, and creating widgets there
        races with the kernel listing its comms for a connecting page."""
        style = self.style
        for i, tile in enumerate(self._tiles):
            kpi = kpis[i] if i < len(kpis) else None
            self._tile_drills[i] = kpi.drill if kpi else None
            if kpi is None:
                tile.layout.display = "none"
                continue
            label, button, delta = tile.children
            label.value = html.escape(i18n.t(kpi.label, style.lang))
            button.description = (
                kpi.value
                if isinstance(kpi.value, str)
                else i18n.fmt_value(kpi.value, kpi.kind, style.lang, style.currency)
            )
            classes = ["dk-kpi-value", f"dk-kpi-{kpi.label}"]
            if kpi.drill:
                classes.append("dk-clickable")
            button._dom_classes = tuple(classes)
            button.disabled = not kpi.drill
            delta.value = _delta_html(kpi, style)
            tile.layout.display = None

    # Drill-down -------------------------------------------------------------------------------

    def drill(self, key: str, **params: Any) -> pd.DataFrame | None:
        """Open the records behind a number (what a click on it does); returns the rows."""
        if self.result is None:
            return None
        drill = self.model.drill(key)
        self._drill_key = (key, params)
        try:
            frame = drill.rows(self.result, **params)
        except Exception as exc:  # a failing drill-down must not break the card
            self._records.value = (
                f'<div class="dk-error-box" data-k="error">{html.escape(str(exc))}</div>'
            )
            self._drill_box.layout.display = None
            return None
        title = i18n.t(drill.label, self.style.lang)
        if params:
            title += " · " + ", ".join(str(v) for v in params.values())
        self._records_title.value = f'<span class="dk-records-what">{html.escape(title)}</span>'
        self._records.value = frame_html(frame, self.style, cls="dk-records")
        self._drill_box.layout.display = None
        return frame

    def close_drill(self) -> None:
        self._drill_key = None
        self._drill_box.layout.display = "none"
        self._records.value = ""

    def _on_pick(self, change: dict[str, Any]) -> None:
        if self._syncing or change["new"] is None:
            return
        key, params = change["new"]
        self.drill(key, **dict(params))

    def _on_mark(self, datum: dict[str, Any]) -> None:
        picked = self.model.on_mark(datum) if self.result is not None else None
        if picked is not None:
            self.drill(picked[0], **picked[1])

    def _toggle_rules(self, change: dict[str, Any]) -> None:
        self._rules.layout.display = None if change["new"] else "none"

    # Configure mode ---------------------------------------------------------------------------

    def set_tools(self, tools: list[w.Widget] | None) -> None:
        """Show configure-mode buttons on the card (None hides them)."""
        self._tools.children = tools or []
        self._tools.layout.display = None if tools else "none"
