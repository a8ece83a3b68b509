"""One desktop card: title, headline numbers with their change, chart, summary table, the
rule text on demand and a drill-down to the records behind any number.

A card knows nothing about how its result is computed: the board hands it states (loading,
slow, a result, an error) and it draws them. What to draw comes from the widget's
:class:`~deskkit.ui.cards.CardModel`.

On the page a card is ONE widget (:class:`CardView`): its HTML is made here, its chart is drawn
by the page's single copy of the Vega library, and one click handler sends back what was
clicked. A card used to be some sixty widget models (ten KPI tiles of three widgets, buttons,
menus, their layouts and styles), and a page of sixteen cards made the browser build about a
thousand views before it showed a number.
"""

from __future__ import annotations

import contextlib
import functools
import html
import importlib
import inspect
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import pandas as pd
import traitlets as t

from deskkit.ui import _charts, i18n
from deskkit.ui._charts import CHART_JS, ChartMode, _PageWritesOnly
from deskkit.ui.cards import CardModel, Kpi, card_model
from deskkit.ui.tables import RECORDS_CAP

if TYPE_CHECKING:
    from deskkit.widgets import Widget

__all__ = ["CARD_CSS", "MAX_KPIS", "Card", "CardStyle", "CardView", "frame_html"]

#: Headline numbers a card shows at most.
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
        # Rows from the columns' lists: half the time of itertuples (one iloc per column).
        for row in zip(*[col.tolist() for _, col in shown.items()], strict=True)
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


#: The card's own look, on top of the desktop's CSS (the card is plain HTML now, not boxes).
CARD_CSS = """
<style>
.dk-card [hidden] { display: none !important; }
.dk-card .dk-titles { min-width: 0; }
.dk-card .dk-kpis { display: flex; flex-flow: row wrap; }
.dk-card .dk-kpi { display: flex; flex-direction: column; }
.dk-card .dk-kpi-value { font-family: inherit; }
.dk-card div.dk-kpi-value { cursor: default; }
.dk-card .dk-card-foot, .dk-card .dk-records-head, .dk-card .dk-tools { display: flex;
  align-items: center; gap: 8px; }
.dk-card .dk-records-head { justify-content: space-between; }
.dk-card .dk-tools { gap: 4px; }
.dk-card .dk-button, .dk-card select.dk-drill { font: inherit; font-size: 13px; height: 28px;
  padding: 0 10px; border: 1px solid #C9D1DD; border-radius: 4px; background: #F5F7FA;
  color: #243042; cursor: pointer; }
.dk-card .dk-button:hover { background: #E6E9EF; }
.dk-card .dk-tool { width: 32px; padding: 0; }
.dk-card .dk-rules-toggle.dk-on { background: #DCE6F2; border-color: #4C78A8; }
.dk-card .dk-chart { margin: 4px 0; }
</style>
"""


# The card on the page ---------------------------------------------------------------------

_CARD_ESM = (
    CHART_JS
    + """
// One desktop card: the "head", "kpis" and "body" traits are its HTML (made and escaped in
// Python; the headline numbers apart, as a previous period's comparison changes only them),
// the "spec" (or, in svg mode, "svg") trait its chart. A click on anything marked data-dk
// goes back to Python as one small message; the page sends nothing else.
function render({ model, el }) {
  const head = document.createElement("div");
  head.className = "dk-head-box";
  const body = document.createElement("div");
  body.className = "dk-body-box";
  el.append(head, body);
  // The chart lives outside the HTML, so that new numbers do not redraw it: it is moved into
  // the body's slot after each paint.
  const chart = document.createElement("div");
  chart.className = "dk-chart";
  const box = document.createElement("div");
  box.className = "dk-chart-box";
  chart.appendChild(box);
  let rulesOpen = false;

  const rules = () => {
    const text = body.querySelector(".dk-rules-text");
    if (text) text.hidden = !rulesOpen;
    const toggle = body.querySelector(".dk-rules-toggle");
    if (toggle) toggle.classList.toggle("dk-on", rulesOpen);
  };
  const paintHead = () => { head.innerHTML = model.get("head"); };
  const paintKpis = () => {
    const kpis = body.querySelector(".dk-kpis");
    if (kpis) kpis.innerHTML = model.get("kpis");
  };
  const paintBody = () => {
    body.innerHTML = model.get("body");
    const slot = body.querySelector(".dk-chart-slot");
    if (slot) slot.replaceWith(chart);
    paintKpis();
    rules();
  };
  const paintSvg = () => { box.innerHTML = model.get("svg"); };
  // Busy and slow are drawn here (with the HTML they go with), not through _dom_classes.
  const paintState = () => {
    const state = model.get("state") || "";
    el.classList.toggle("dk-busy", state.includes("busy"));
    el.classList.toggle("dk-slow", state.includes("slow"));
  };

  const send = (kind, extra) => model.send({ kind, ...extra });
  el.addEventListener("click", (event) => {
    const target = event.target.closest("[data-dk]");
    if (!target || !el.contains(target) || target.disabled) return;
    const kind = target.dataset.dk;
    if (kind === "pick") return;  // a menu: its "change" counts, not the click
    if (kind === "rules") { rulesOpen = !rulesOpen; rules(); return; }
    send(kind, { i: Number(target.dataset.i ?? -1) });
  });
  el.addEventListener("change", (event) => {
    const target = event.target;
    if (target.dataset?.dk !== "pick" || target.value === "") return;
    send("pick", { i: Number(target.value) });
  });

  model.on("change:state", paintState);
  model.on("change:head", paintHead);
  model.on("change:body", paintBody);
  model.on("change:kpis", paintKpis);
  model.on("change:svg", paintSvg);
  paintState();
  paintHead();
  paintBody();
  paintSvg();
  const stop = chartIn(model, box, "spec", (datum) => send("mark", { datum }));
  return () => {
    model.off("change:state", paintState);
    model.off("change:head", paintHead);
    model.off("change:body", paintBody);
    model.off("change:kpis", paintKpis);
    model.off("change:svg", paintSvg);
    stop();
  };
}

export default { render };
"""
)


class CardView(_PageWritesOnly):
    """A whole card as one widget: its HTML (``head``, ``body``), its chart (``spec``, or
    ``svg`` drawn on the server) and one handler for every click on it.

    A card used to be some sixty widget models (ten KPI tiles of three widgets, buttons, menus,
    their layouts and styles); a page of sixteen cards made the browser build about a thousand
    views. The page takes nothing from here but messages ``{"kind": ..., "i": ...}`` (and
    ``"datum"`` for a chart mark), which :class:`Card` checks against what it offered.
    """

    _esm = _CARD_ESM
    #: "busy" (computing), "busy slow" (past the budget) or "" (drawn): the card's classes.
    state = t.Unicode("").tag(sync=True)
    head = t.Unicode("").tag(sync=True)
    kpis = t.Unicode("").tag(sync=True)
    body = t.Unicode("").tag(sync=True)
    spec = t.Dict(allow_none=True, default_value=None).tag(sync=True)
    svg = t.Unicode("").tag(sync=True)


@functools.cache
def _warm_up() -> None:
    """Import the chart builders once per process, when the first card is made.

    A preheated Voilà kernel makes the cards before anyone asks for the page; the first chart
    drawn after the request otherwise paid for these imports (about a second on a busy machine)
    on the kernel's main thread, which also answers the page."""
    import pkgutil

    import deskkit.charts

    for module in pkgutil.iter_modules(deskkit.charts.__path__):
        with contextlib.suppress(Exception):  # a broken optional builder fails when used
            importlib.import_module(f"deskkit.charts.{module.name}")
    with contextlib.suppress(Exception):  # and Altair's first conversion of a frame
        import altair as alt

        alt.Chart(pd.DataFrame({"n": [1]})).mark_bar().encode(x="n:Q").to_dict(validate=False)


def _call_chart(build: Callable[..., Any], result: Any, style: CardStyle) -> Any:
    """The card's chart in its language, for builders that take ``lang`` (or ``**options``)."""
    try:
        params = inspect.signature(build).parameters.values()
    except (TypeError, ValueError):
        params = ()
    takes_lang = any(p.name == "lang" or p.kind is p.VAR_KEYWORD for p in params)
    if takes_lang:
        return build(result, currency=style.currency, lang=style.lang)
    return build(result, currency=style.currency)


#: Chart specs by (builder, result, currency, language): built on the worker thread that
#: computed the result (:func:`chart_spec` called by the desktop) so that the kernel's main
#: thread, which also answers the page, only sends them. Holds the results it was built for.
_SPECS: OrderedDict[tuple[int, int, str, str], tuple[Any, Any]] = OrderedDict()
_SPECS_LOCK = threading.Lock()
_SPECS_SIZE = 128


def chart_spec(build: Callable[..., Any], result: Any, style: CardStyle) -> dict[str, Any] | None:
    """The Vega-Lite spec of ``build(result)`` in ``style``'s language and currency (None: no
    chart), built once per result. Not validated against the schema here (the builders' tests
    do that): validating took about a third of a card's drawing time."""
    key = (id(build), id(result), style.currency, style.lang)
    with _SPECS_LOCK:
        hit = _SPECS.get(key)
        if hit is not None and hit[0] is result:  # the id may be a dead result's
            _SPECS.move_to_end(key)
            return hit[1]
    # Nor while it is built (Altair's DEBUG_MODE validates each object made): a global switch,
    # which Altair's own copies already turn off and on from every thread, so that in a
    # desktop drawing cards on several threads it ended up off after the first cards anyway.
    from altair.utils.schemapi import debug_mode

    with debug_mode(False):
        chart = _call_chart(build, result, style)
    spec = None if chart is None else _charts.spec_dict(chart)
    if spec is not None and _charts.draws_nothing(spec):
        spec = None  # a card with no rows says so in its table, not with an empty plot
    remember_spec(build, result, style, spec)
    return spec


def use_desktop_charts() -> None:
    """Altair set up for the desktop's charts: its theme and data transformer."""
    import altair as alt

    from deskkit.charts import DATA_TRANSFORMER, THEME

    # The dashboard, not each chart builder, decides the look (style.md §5).
    alt.theme.enable(THEME)
    # The same values as Altair's default writes, faster; a user's own choice is kept.
    transformers = alt.data_transformers
    if transformers.active == "default" and not transformers.options:
        transformers.enable(DATA_TRANSFORMER)


def remember_spec(
    build: Callable[..., Any], result: Any, style: CardStyle, spec: dict[str, Any] | None
) -> None:
    """Give :func:`chart_spec` the spec of ``build(result)`` made elsewhere (in the worker
    process that computed the result)."""
    key = (id(build), id(result), style.currency, style.lang)
    with _SPECS_LOCK:
        _SPECS[key] = (result, spec)
        while len(_SPECS) > _SPECS_SIZE:
            _SPECS.popitem(last=False)


def _button(kind: str, text: str, cls: str, *, i: int | None = None, hidden: bool = False) -> str:
    index = "" if i is None else f' data-i="{i}"'
    return (
        f'<button type="button" class="dk-button {cls}" data-dk="{kind}"{index}'
        f"{' hidden' if hidden else ''}>{html.escape(text)}</button>"
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
        self.chart_mode: ChartMode = _charts._mode(chart_mode or _charts.default_mode())
        self.result: Any = None
        self.previous: Any = None
        self.error: BaseException | None = None
        self._on_refresh = on_refresh
        #: Held while the card changes state (results may arrive on several threads).
        self.lock = threading.RLock()
        self._drill_key: tuple[str, dict[str, Any]] | None = None

        # What the card shows, as HTML parts; ``_paint`` puts them together.
        self._subtitle = ""
        self._status = ""
        self._slow = False
        self.tools: list[w.Button] = []
        self._kpis: list[Kpi] = []
        self._kpis_html = ""
        self.table_html = ""
        self.rules_html = ""
        self.error_html = ""
        self._choices: list[tuple[str, str, dict[str, Any]]] = []
        self._records_title = ""
        self.records_html = ""
        self.drill_open = False
        # How many results this card has drawn (a hook for browser tests and the page bench).
        self._drawn = 0
        self._spec_dict: dict[str, Any] | None = None
        #: The columns of the chart's data: what a click reports (see :func:`clean_datum`).
        self._chart_fields: frozenset[str] = frozenset()

        _warm_up()
        self.widget = CardView()
        self.widget.add_class("dk-card")
        self.widget.add_class(f"dk-card-{spec.id}")
        self.widget.add_class(f"dk-size-{spec.size}")
        self.widget.on_msg(self._on_msg)
        self.set_style(style)
        self.set_loading()

    # Drawing ----------------------------------------------------------------------------------

    def _head(self) -> str:
        lang = self.style.lang
        tools = "".join(
            f'<button type="button" class="dk-button dk-tool {" ".join(b._dom_classes)}" '
            f'data-dk="tool" data-i="{i}" title="{html.escape(b.tooltip or "")}">'
            f"{html.escape(b.description)}</button>"
            for i, b in enumerate(self.tools)
        )
        return (
            '<div class="dk-head"><div class="dk-titles">'
            f'<div class="dk-title">{html.escape(self.spec.label(lang))}</div>'
            f'<div class="dk-sub">{self._subtitle}</div></div>'
            f'<div class="dk-status">{self._status}</div>'
            + _button("refresh", i18n.t("refresh", lang), "dk-refresh", hidden=not self._slow)
            + (f'<div class="dk-tools">{tools}</div>' if tools else "")
            + "</div>"
            # How many results the card has drawn (a hook for browser tests and the page bench).
            + f'<div class="dk-stamp" hidden><i data-k="drawn" data-v="{self._drawn}"></i></div>'
        )

    def _body(self) -> str:
        if self.error is not None:
            return f'<div class="dk-error">{self.error_html}</div>'
        if self.result is None:
            return ""
        lang = self.style.lang
        menu = ""
        if self._choices:
            options = "".join(
                f'<option value="{i}">{html.escape(label)}</option>'
                for i, (label, _, _) in enumerate(self._choices)
            )
            menu = (
                '<select class="dk-drill" data-dk="pick">'
                f'<option value="">{html.escape(i18n.t("records", lang))}…</option>'
                f"{options}</select>"
            )
        drill = ""
        if self.drill_open:
            drill = (
                '<div class="dk-drill-box"><div class="dk-records-head">'
                f'<div class="dk-records-title">{self._records_title}</div>'
                + _button("close", i18n.t("close", lang), "dk-close")
                + f'</div><div class="dk-records-box">{self.records_html}</div></div>'
            )
        return (
            '<div class="dk-card-body">'
            '<div class="dk-kpis"></div>'
            '<div class="dk-chart-slot"></div>'
            f'<div class="dk-table-box">{self.table_html}</div>'
            '<div class="dk-card-foot">'
            + _button("rules", i18n.t("rules", lang), "dk-rules-toggle")
            + f"{menu}</div>"
            f'<div class="dk-rules-text" hidden>{self.rules_html}</div>'
            f"{drill}</div>"
        )

    def _paint_head(self) -> None:
        self.widget.head = self._head()

    def _paint(self) -> None:
        """Send the whole card (one message: the callers hold the widget's sync)."""
        with self.widget.hold_sync():
            self.widget.head = self._head()
            self.widget.kpis = self._kpis_html if self.error is None else ""
            self.widget.body = self._body()

    def _show_chart(self, spec: dict[str, Any] | None) -> None:
        """Send the chart's spec only when it changed: an unchanged chart is not redrawn."""
        if spec == self._spec_dict:
            return
        self._spec_dict = spec
        self._chart_fields = _charts.data_fields(spec or {})
        if self.chart_mode == "vega":
            self.widget.spec = spec
        else:
            self.widget.svg = "" if spec is None else _charts.svg_of(spec)

    # Language and chrome ----------------------------------------------------------------------

    def set_style(self, style: CardStyle) -> None:
        """Switch language/formats and redraw what the card shows."""
        self.style = style
        if self.result is not None:
            result, previous, self.result = self.result, self.previous, None
            self.show(result, previous)  # a full redraw, in the new language
        elif self.error is not None:
            self.show_error(self.error)
        else:
            self._paint()

    def set_subtitle(self, text: str) -> None:
        """What the numbers cover, e.g. "November 2026 · Everyone"."""
        subtitle = f'<span data-k="subtitle">{html.escape(text)}</span>'
        if subtitle != self._subtitle:
            self._subtitle = subtitle
            self._paint_head()

    @property
    def title_html(self) -> str:
        return html.escape(self.spec.label(self.style.lang))

    @property
    def status_html(self) -> str:
        return self._status

    @property
    def refresh_shown(self) -> bool:
        """Whether the card offers Refresh (it computed for longer than the budget)."""
        return self._slow

    # States -----------------------------------------------------------------------------------

    def set_loading(self) -> None:
        """Waiting for a result: a spinner (the old numbers stay, dimmed)."""
        with self.widget.hold_sync():
            self.widget.state = "busy"
            self._status = (
                '<span class="dk-spinner" '
                f'title="{html.escape(i18n.t("loading", self.style.lang))}"></span>'
            )
            self._slow = False
            self._paint_head()

    def set_slow(self) -> None:
        """No answer within the budget: offer Refresh instead of the spinner."""
        with self.widget.hold_sync():
            self.widget.state = "busy slow"
            self._status = (
                f'<span class="dk-slow-text">{html.escape(i18n.t("slow", self.style.lang))}</span>'
            )
            self._slow = True
            self._paint_head()

    @property
    def busy(self) -> bool:
        """Computing: the page shows a spinner and dims the old numbers (class ``dk-busy``)."""
        return "busy" in self.widget.state

    @property
    def slow(self) -> bool:
        """Computing for longer than the budget (class ``dk-slow``)."""
        return "slow" in self.widget.state

    def _settle(self) -> None:
        self.widget.state = ""
        self._status = ""
        self._slow = False

    def show(self, result: Any, previous: Any = None) -> None:
        """Draw ``result`` (numbers, chart, table, rule text); ``previous`` is the previous
        period's result, for models that compare with it. Everything goes to the page in one
        message, the chart's spec only when it changed."""
        same = result is self.result
        self.result, self.previous, self.error = result, previous, None
        style, model = self.style, self.model
        with self.widget.hold_sync():
            self._settle()
            self._kpis = model.kpis(result, previous)[:MAX_KPIS]
            self._kpis_html = self._tiles_html(self._kpis)
            if not (same and previous is not None):  # else only the comparison arrived
                table = model.table(result)
                if callable(table):  # HTML drawn in the card's language and currency
                    table = table(style)
                if isinstance(table, str):
                    self.table_html = table
                elif isinstance(table, pd.DataFrame):
                    self.table_html = frame_html(table, style, cap=25)
                else:
                    self.table_html = ""
                self.rules_html = f"<p>{html.escape(i18n.rule_text(result, style.lang))}</p>"
                self._choices = model.choices(result, style.lang)
                if self._drill_key is not None:
                    self._drill(self._drill_key[0], **self._drill_key[1])
                build = self.spec.chart
                self._show_chart(chart_spec(build, result, style) if build else None)
            self._drawn += 1  # the stamp goes out with what it counts
            if same and previous is not None:
                self.widget.head = self._head()
                self.widget.kpis = self._kpis_html
            else:
                self._paint()

    def show_error(self, error: BaseException) -> None:
        """A short error on this card only (the other cards are not affected)."""
        self.result, self.previous, self.error = None, None, error
        with self.widget.hold_sync():
            self._settle()
            self.error_html = (
                '<div class="dk-error-box"><b>'
                + html.escape(i18n.t("error", self.style.lang))
                + f'</b> <span data-k="error">{html.escape(type(error).__name__)}: '
                + f"{html.escape(str(error)[:300])}</span></div>"
            )
            self._show_chart(None)
            self._drawn += 1
            self._paint()

    # Headline numbers -------------------------------------------------------------------------

    def _tiles_html(self, kpis: list[Kpi]) -> str:
        style = self.style
        tiles = []
        for i, kpi in enumerate(kpis):
            value = (
                kpi.value
                if isinstance(kpi.value, str)
                else i18n.fmt_value(kpi.value, kpi.kind, style.lang, style.currency)
            )
            cls = f"dk-kpi-value dk-kpi-{html.escape(kpi.label)}"
            if kpi.drill:
                value_html = (
                    f'<button type="button" class="{cls} dk-clickable" data-dk="kpi" '
                    f'data-i="{i}">{html.escape(value)}</button>'
                )
            else:
                value_html = f'<div class="{cls}">{html.escape(value)}</div>'
            tiles.append(
                '<div class="dk-kpi">'
                f'<div class="dk-kpi-label">{html.escape(i18n.t(kpi.label, style.lang))}</div>'
                f"{value_html}{_delta_html(kpi, style)}</div>"
            )
        return "".join(tiles)

    def kpi_texts(self) -> dict[str, str]:
        """The headline numbers shown: label key -> the text people read."""
        style = self.style
        return {
            k.label: (
                k.value
                if isinstance(k.value, str)
                else i18n.fmt_value(k.value, k.kind, style.lang, style.currency)
            )
            for k in self._kpis
        }

    @property
    def kpis_html(self) -> str:
        return self._kpis_html

    # Clicks from the page ---------------------------------------------------------------------

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any = None) -> None:
        self.handle(content)

    def handle(self, message: Any) -> None:
        """What a click on the page asked for: ``{"kind": "kpi" | "pick" | "close" |
        "refresh" | "tool", "i": index}`` or ``{"kind": "mark", "datum": {...}}``. Only what
        the card offered is done; anything else is ignored."""
        if not isinstance(message, dict):
            return
        kind = message.get("kind")
        i = message.get("i")
        i = i if isinstance(i, int) and not isinstance(i, bool) and i >= 0 else None
        if kind == "kpi" and i is not None and i < len(self._kpis):
            key = self._kpis[i].drill
            if key:
                self.drill(key)
        elif kind == "pick" and i is not None and i < len(self._choices):
            _, key, params = self._choices[i]
            self.drill(key, **params)
        elif kind == "close":
            self.close_drill()
        elif kind == "refresh" and self._on_refresh is not None:
            self._on_refresh(self)
        elif kind == "tool" and i is not None and i < len(self.tools):
            self.tools[i].click()
        elif kind == "mark":
            self._on_mark(_charts.clean_datum(message.get("datum"), self._chart_fields))

    def click_kpi(self, label: str) -> None:
        """Click the headline number ``label`` (as the page would)."""
        i = next(i for i, k in enumerate(self._kpis) if k.label == label)
        self.handle({"kind": "kpi", "i": i})

    # Drill-down -------------------------------------------------------------------------------

    def _drill(self, key: str, **params: Any) -> pd.DataFrame | None:
        """Fill the records behind a number (not sent: the caller paints)."""
        drill = self.model.drill(key)
        self._drill_key = (key, params)
        self.drill_open = True
        try:
            frame = drill.rows(self.result, **params)
        except Exception as exc:  # a failing drill-down must not break the card
            self._records_title = ""
            self.records_html = (
                f'<div class="dk-error-box" data-k="error">{html.escape(str(exc))}</div>'
            )
            return None
        title = i18n.t(drill.label, self.style.lang)
        if params:
            title += " · " + ", ".join(str(v) for v in params.values())
        self._records_title = f'<span class="dk-records-what">{html.escape(title)}</span>'
        self.records_html = frame_html(frame, self.style, cls="dk-records")
        return frame

    def drill(self, key: str, **params: Any) -> pd.DataFrame | None:
        """Open the records behind a number (what a click on it does); returns the rows."""
        if self.result is None:
            return None
        frame = self._drill(key, **params)
        self.widget.body = self._body()
        return frame

    def close_drill(self) -> None:
        self._drill_key = None
        self.drill_open = False
        self.records_html = ""
        self.widget.body = self._body()

    def _on_mark(self, datum: dict[str, Any]) -> None:
        picked = self.model.on_mark(datum) if self.result is not None else None
        if picked is not None:
            self.drill(picked[0], **picked[1])

    # Configure mode ---------------------------------------------------------------------------

    def set_tools(self, tools: list[w.Button] | None) -> None:
        """Show configure-mode buttons on the card (None hides them). They are drawn in the
        card's HTML; a click on one runs its ``on_click`` handlers."""
        self.tools = list(tools or [])
        self._paint_head()
