"""The desktop: a header (events, configure, language), the filter bar, and the cards.

Every card computes in the background (:class:`~deskkit.ui.runner.Runner`), so a filter change
returns at once and each card fills in when its numbers arrive; a card with no answer after
``slow_after`` seconds offers Refresh, a failing one shows its error alone. The filters and the
language live in the page URL; the card list is the viewer's saved layout.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from deskkit import widgets as registry
from deskkit.ui import i18n
from deskkit.ui.card import CARD_CSS, Card, CardStyle, chart_spec, frame_html, use_desktop_charts
from deskkit.ui.filter_bar import FilterBar, FilterState
from deskkit.ui.layout import LayoutStore
from deskkit.ui.processes import PROCESSES_ENV, processes_setting
from deskkit.ui.runner import Runner, after, call_later, pinned, when_all
from deskkit.ui.url import UrlState, ViewState, parse_query, to_query

if TYPE_CHECKING:
    from deskkit.desk import Desk
    from deskkit.ui._charts import ChartMode

__all__ = ["CSS", "Desktop", "render"]

log = logging.getLogger(__name__)

#: Seconds a card may compute before it offers Refresh.
SLOW_AFTER = 2.0
#: Seconds a view stays on the page before the served desktop computes, in the background,
#: the same view for everyone and for each department (see ``Desktop(prefetch_after=...)``).
PREFETCH_AFTER = 1.0


CSS = """
<style>
.dk-desktop { max-width: 1280px; margin: 0 auto; padding: 12px 16px 32px;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  color: #243042; }
.dk-top { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; }
.dk-desktop-title { font-size: 20px; font-weight: 600; margin: 4px 12px 8px 0; }
.dk-asof { color: #6B7585; font-size: 13px; margin-right: auto; }
.dk-events-button.dk-events-new { background: #FFF4D6; border: 1px solid #E0A800;
  font-weight: 600; }
.dk-filter-bar { gap: 4px 12px; padding: 8px 0 12px; border-bottom: 1px solid #E6E9EF;
  margin-bottom: 16px; }
.dk-grid { display: grid !important; grid-template-columns: repeat(4, minmax(0, 1fr));
  gap: 16px; align-items: start; }
.dk-size-small { grid-column: span 1; } .dk-size-medium { grid-column: span 2; }
.dk-size-large { grid-column: 1 / -1; }
@media (max-width: 900px) { .dk-grid { grid-template-columns: 1fr; }
  .dk-size-small, .dk-size-medium, .dk-size-large { grid-column: 1 / -1; } }
.dk-card { background: #fff; border: 1px solid #E1E5EC; border-radius: 10px;
  box-shadow: 0 1px 3px rgba(20, 30, 50, .06); padding: 12px 16px; min-width: 0; }
.dk-card.dk-busy .dk-card-body { opacity: .55; transition: opacity .15s; }
.dk-head { display: flex; justify-content: space-between; align-items: center; gap: 8px; }
.dk-title { font-size: 16px; font-weight: 600; }
.dk-status { margin-left: auto; }
.dk-spinner { display: inline-block; width: 14px; height: 14px; border: 2px solid #C9D1DD;
  border-top-color: #4C78A8; border-radius: 50%; animation: dk-spin .8s linear infinite; }
@keyframes dk-spin { to { transform: rotate(360deg); } }
.dk-slow-text { color: #8A5A00; font-size: 12px; }
.dk-kpis { gap: 8px; margin: 8px 0; }
.dk-kpi { flex: 1 1 120px; border-radius: 8px; background: #F5F7FA; padding: 6px 10px;
  border-left: 4px solid #4C78A8; }
.dk-kpi-label { font-size: 11px; color: #6B7585; text-transform: uppercase;
  letter-spacing: .04em; }
.dk-kpi-value { font-size: 22px !important; font-weight: 600; background: none !important;
  border: none !important; box-shadow: none !important; padding: 0 !important;
  height: auto !important; line-height: 1.3 !important; color: #243042 !important;
  text-align: left; }
.dk-kpi-value.dk-clickable { cursor: pointer; text-decoration: underline dotted #9AA5B5; }
.dk-delta { font-size: 12px; font-variant-numeric: tabular-nums; }
.dk-up { color: #2E7D4F; } .dk-down { color: #B3261E; } .dk-flat { color: #6B7585; }
.dk-chart { width: 100%; }
.dk-table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums;
  width: 100%; }
.dk-table th { text-align: right; font-weight: 600; color: #6B7585; padding: 4px 8px;
  border-bottom: 1px solid #E1E5EC; white-space: nowrap; }
.dk-table td { text-align: right; padding: 4px 8px; border-bottom: 1px solid #F0F2F5;
  white-space: nowrap; }
.dk-table th:first-child, .dk-table td:first-child { text-align: left; }
.dk-table-wrap { max-height: 320px; overflow: auto; }
.dk-stages tr.dk-won td { font-weight: 600; color: #2E7D4F; background: #F1FAF4; }
.dk-records td, .dk-records th { text-align: left; }
.dk-scroll { max-height: 360px; overflow: auto; border: 1px solid #E6E9EF; border-radius: 6px; }
.dk-caption { font-size: 13px; color: #4A5568; margin: 6px 0; }
.dk-card-foot { gap: 8px; margin-top: 6px; }
.dk-rules-text p { font-size: 13px; line-height: 1.5; color: #4A5568; }
.dk-drill-box { margin-top: 8px; border-top: 1px dashed #D5DBE5; padding-top: 6px; }
.dk-records-head { justify-content: space-between; align-items: center; }
.dk-error-box { background: #FDECEE; border: 1px solid #F3B7BF; color: #8A1C2B;
  border-radius: 6px; padding: 8px 12px; font-size: 13px; }
.dk-config { gap: 8px; padding: 8px; margin-bottom: 12px; background: #F5F7FA;
  border-radius: 8px; align-items: center; }
.dk-events-panel { border: 1px solid #E1E5EC; border-radius: 10px; padding: 12px 16px;
  margin-bottom: 16px; background: #fff; }
</style>
"""


def render(desk: Desk, state: FilterState) -> Any:
    """The pipeline-flow card's numbers for a filter state: a pure call of the Desk."""
    return desk.pipeline_flow(
        state.period_like, state.pipeline, user=state.user, department=state.department
    )


def _filters(state: FilterState) -> registry.Filters:
    return registry.Filters(state.period, state.pipeline, state.user, state.department)


class Desktop:
    """The sales desktop; ``.widget`` is the one thing to display.

    ``compute=False`` builds the page without computing (a preheated Voilà kernel does that
    before anyone asks; :meth:`start` computes when the request arrives).

    ``prefetch_after``: once a view's cards are drawn and it has stayed that many seconds,
    compute the same period for everyone and for every department in the background, so
    that switching between them draws at once (None: never). A scope change otherwise
    recomputes every card, about a second of the kernel's one interpreter at 100k deals; a
    view left meanwhile drops what of it has not started.
    """

    def __init__(
        self,
        desk: Desk,
        state: FilterState | None = None,
        *,
        lang: str = "en",
        cards: Sequence[str] | None = None,
        layouts: LayoutStore | None = None,
        chart_mode: ChartMode | None = None,
        slow_after: float = SLOW_AFTER,
        runner: Runner | None = None,
        compute: bool = True,
        prefetch_after: float | None = None,
    ) -> None:
        use_desktop_charts()
        self.desk = desk
        store = desk.store
        # Warm the small cached tables here: worker threads must not race to fill them.
        _ = (store.account, store.users, store.groups, store.pipelines, store.stages)
        self.lang = lang if lang in i18n.LANGUAGES else "en"
        self.slow_after = slow_after
        self.prefetch_after = prefetch_after
        self._view = 0  # counts refreshes: a prefetch is for the view it was scheduled in
        self._prefetched: list[Future[Any]] = []
        self.runner = runner or Runner()
        self.runner.style = self.style  # worker processes build the charts in it
        self.layouts = layouts or LayoutStore(store.account.subdomain or store.account.name)
        self.chart_mode = chart_mode
        self._lock = threading.RLock()
        # Widgets change on the kernel's main thread only: updates sent from several threads
        # can reach the page out of order (a card would stay "busy" after its result arrived).
        # Workers queue their drawing and wake the kernel's event loop to run it.
        self._main = threading.get_ident()
        self._loop = _kernel_loop()  # None in plain Python: workers draw directly
        self._ui: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]]] = (
            queue.SimpleQueue()
        )
        self._generation: dict[str, int] = {}
        self._pending: dict[str, threading.Event] = {}
        self._now = pinned(desk)
        self._started = False  # a preheated page's request arrived (start())
        #: Done once the preheated kernel's warm-up of a department view is (see _warm); it
        #: stays pending if a visitor came first (the warm-up is then skipped).
        self._scope_warmed: Future[None] | None = None

        self.filters = FilterBar(desk, state, self.lang)
        self.filters.observe(self._on_filters)
        self.url = UrlState()
        self.url.observe(self._on_url_initial, names="initial")
        self._url_applied = False

        self.cards: dict[str, Card] = {}
        self._from_layout = cards is None
        self._builder: Any = None  # the custom-widget builder, made when first opened
        self._deleting: str | None = None  # the card whose delete button asks "Delete?"
        register_custom(desk, self.user)  # before the layout is read: it may name them
        self.order: list[str] = list(cards) if cards is not None else self.layouts.load(self.user)
        self.grid = w.Box(layout=w.Layout(display="grid")).add_class("dk-grid")

        self._build_header()
        self._build_config()
        self._build_events()
        parts: list[w.Widget] = [w.HTML(CSS + CARD_CSS), self._top, self.filters.widget]
        parts.append(self._config)
        parts += [self._builder_box, self._events_panel, self.grid, self.url]
        library = _chart_library(chart_mode)
        if library is not None:
            parts.append(library)
        self.widget = w.VBox(parts).add_class("dk-desktop")
        self._set_cards(self.order, save=False)
        self._relabel()
        if store.compile_cache is not None:
            store.compile_cache.eager = True  # a desktop asks the same queries all day
            # Every kernel Voila starts would compile the same ~150 queries again.
            store.compile_cache.persist(self.layouts.folder / "compiled-sql.json")
        if compute:
            self.refresh()
        else:
            self._warm()

    # Who is looking --------------------------------------------------------------------------

    @property
    def user(self) -> int | None:
        return self.desk.viewer.user_id

    @property
    def is_admin(self) -> bool:
        """Who may set the default layout: an unrestricted desktop or an admin user."""
        if self.user is None:
            return True
        users = self.desk.store.users
        row = users.loc[users["user_id"] == self.user]
        return bool(not row.empty and bool(row["is_admin"].fillna(False).iloc[0]))

    @property
    def state(self) -> FilterState:
        return self.filters.state

    @property
    def style(self) -> CardStyle:
        a = self.desk.store.account
        return CardStyle(self.lang, a.currency, a.timezone)  # type: ignore[arg-type]

    # Header, configure mode, events ------------------------------------------------------------

    def _build_header(self) -> None:
        self._title = w.HTML().add_class("dk-desktop-title")
        self._asof = w.HTML().add_class("dk-asof")
        self._events_button = w.Button(layout=w.Layout(width="auto")).add_class("dk-events-button")
        self._events_button.on_click(lambda _: self.toggle_events())
        self._configure = w.ToggleButton(layout=w.Layout(width="auto")).add_class("dk-configure")
        self._configure.observe(lambda c: self.set_configuring(c["new"]), names="value")
        self._lang = w.ToggleButtons(
            options=[("EN", "en"), ("RU", "ru")], value=self.lang, style={"button_width": "44px"}
        ).add_class("dk-lang")
        self._lang.observe(lambda c: self.set_language(c["new"]), names="value")
        self._top = w.HBox(
            [self._title, self._asof, self._events_button, self._configure, self._lang]
        ).add_class("dk-top")

    def _build_config(self) -> None:
        self._add_pick = w.Dropdown(layout=w.Layout(width="260px")).add_class("dk-add-pick")
        self._add = w.Button(layout=w.Layout(width="auto")).add_class("dk-add")
        self._add.on_click(lambda _: self._add_pick.value and self.add_card(self._add_pick.value))
        self._save_default = w.Button(layout=w.Layout(width="auto")).add_class("dk-save-default")
        self._save_default.on_click(lambda _: self.save_default())
        self._reset = w.Button(layout=w.Layout(width="auto")).add_class("dk-reset")
        self._reset.on_click(lambda _: self.reset_layout())
        self._config_note = w.HTML().add_class("dk-config-note")
        self._new_widget = w.Button(layout=w.Layout(width="auto")).add_class("dk-new-widget")
        self._new_widget.on_click(lambda _: self.open_builder())
        self._builder_box = w.VBox(layout=w.Layout(display="none")).add_class("dk-builder-slot")
        self._config = w.HBox(
            [
                self._add_pick,
                self._add,
                self._new_widget,
                self._save_default,
                self._reset,
                self._config_note,
            ],
            layout=w.Layout(display="none", flex_flow="row wrap"),
        ).add_class("dk-config")

    def _build_events(self) -> None:
        self._ev_type = w.Dropdown(layout=w.Layout(width="220px")).add_class("dk-ev-type")
        self._ev_entity = w.Dropdown(layout=w.Layout(width="180px")).add_class("dk-ev-entity")
        self._ev_author = w.Dropdown(layout=w.Layout(width="200px")).add_class("dk-ev-author")
        for control in (self._ev_type, self._ev_entity, self._ev_author):
            control.observe(lambda _: self._show_events(), names="value")
        self._ev_table = w.HTML().add_class("dk-ev-table")
        self._events_panel = w.VBox(
            [w.HBox([self._ev_type, self._ev_entity, self._ev_author]), self._ev_table],
            layout=w.Layout(display="none"),
        ).add_class("dk-events-panel")
        self._events_open = False
        self._new_events = 0

    def _relabel(self) -> None:
        lang = self.lang
        account = self.desk.store.account.name
        self._title.value = f"{html.escape(account)} · {html.escape(i18n.t('desktop_title', lang))}"
        stamp = self._now.now or dt.datetime.now(dt.UTC)
        when = i18n.fmt_datetime(
            stamp.astimezone(dt.UTC).replace(tzinfo=None), lang, self.desk.timezone
        )
        self._asof.value = html.escape(i18n.t("as_of", lang, time=when))
        self._configure.description = i18n.t("done" if self._configure.value else "configure", lang)
        self._subtitles()
        self._add.description = i18n.t("add", lang)
        self._save_default.description = i18n.t("save_default", lang)
        self._save_default.layout.display = None if self.is_admin else "none"
        self._reset.description = i18n.t("reset_layout", lang)
        self._new_widget.description = "+ " + i18n.t("new_widget", lang)
        if self._builder is not None and self._builder.lang != lang:
            self._builder.set_language(lang)
        self._refresh_add_options()
        self._label_events_button()
        entity_opts = [(i18n.t("all_entities", lang), None)] + [
            (i18n.t(e, lang), e) for e in ("deal", "contact", "company", "task")
        ]
        author_opts = [(i18n.t("all_authors", lang), None)] + [
            (str(u.name), int(u.user_id)) for u in self.desk.users().itertuples()
        ]
        for control, options in ((self._ev_entity, entity_opts), (self._ev_author, author_opts)):
            value = control.value
            control.options = options
            control.value = value if value in [v for _, v in options] else None
        if not self._ev_type.options:
            self._ev_type.options = [(i18n.t("all_types", lang), None)]

    # Computing ---------------------------------------------------------------------------------

    def refresh(self, *, now: dt.datetime | None = None) -> None:
        """Recompute every card for the current filters (in the background; returns at once).

        The moment looked at is re-read from the clock (to the minute) unless the desk has a
        fixed ``now``.
        """
        self._now = pinned(self.desk, now)
        self.url.query = to_query(ViewState(self.state, self.lang))
        self._relabel()
        order = list(self.order)
        # Every card's own numbers first: the previous-period comparisons are asked for only
        # once they are all drawn (queued behind them, they still took the cores, and the
        # kernel's one interpreter, from the last cards' numbers and drawing). A card is up to
        # date as soon as its own result is drawn.
        filters = _filters(self.state)
        with self._lock:
            self._view += 1
            view = self._view
        wanted = [self.runner.submit(self.cards[c].spec, self._now, filters) for c in order]
        self._drop_prefetched(wanted)
        gate: Future[None] = Future()
        drawn = [self._compute(card_id, gate=gate) for card_id in order]
        when_all(drawn).add_done_callback(lambda _: gate.set_result(None))
        if self.prefetch_after is not None:
            wait = self.prefetch_after
            gate.add_done_callback(lambda _: self._schedule_prefetch(view, wait))
        self._update_events_badge()

    def _schedule_prefetch(self, view: int, wait: float) -> None:
        call_later(wait, self._on_main, self._prefetch, view)

    def _prefetch(self, view: int) -> None:
        """Compute the current period for everyone and each department in the background
        (behind the cards' comparisons), unless the view changed since ``view``."""
        if view != self._view:
            return
        filters = _filters(self.state)
        scopes = [replace(filters, user=None, department=None)]
        scopes += [
            replace(filters, user=None, department=int(g))
            for g in self.desk.departments()["group_id"]
        ]
        specs = [self.cards[card_id].spec for card_id in self.order]
        for scoped in scopes:
            if scoped == filters or view != self._view:
                continue
            for spec in specs:
                future = self.runner.submit(spec, self._now, scoped, background=True)
                if not future.done():
                    if spec.chart is not None:  # its chart too, on the worker
                        future.add_done_callback(lambda f, s=spec: self._prepare_chart(s, f))
                    with self._lock:
                        self._prefetched.append(future)

    def _drop_prefetched(self, keep: Sequence[Future[Any]]) -> None:
        """Cancel the prefetches not started (nor wanted by the view now asked for): they
        would take the interpreter from the next view's cards."""
        wanted = {id(f) for f in keep}
        with self._lock:
            dropped, self._prefetched = self._prefetched, []
        for future in dropped:
            if id(future) not in wanted:
                future.cancel()  # no-op once it runs (or ran)

    def _warm(self) -> None:
        """Compute the default view in the background without drawing it (a preheated kernel,
        before the request): if the request asks for that view at the same "now", its cards
        are filled from the runner's cache at once; otherwise the engine, the compiled SQL
        and the chart modules are warm. With worker processes, once they are ready: it is
        their engines and compiled SQL that the visitor's changes then use."""
        if not self.runner.processes:
            self._warm_now()
            return

        def when_ready() -> None:
            self.runner.wait_ready()
            if not self._started:
                self._warm_now()

        threading.Thread(target=when_ready, name="deskkit-warm", daemon=True).start()

    def _warm_now(self) -> None:
        filters = _filters(self.state)
        futures = []
        for card_id in self.order:
            spec = self.cards[card_id].spec
            future = self.runner.submit(spec, self._now, filters)
            if spec.chart is not None:  # the chart spec too, so that start() only sends it
                future.add_done_callback(lambda f, spec=spec: self._prepare_chart(spec, f))
            futures.append(future)
        prev = replace(filters, period=self._now.period(self.state.period).previous())
        for card_id in self.order:
            spec = self.cards[card_id].spec
            if self.cards[card_id].model.compare_previous and spec.follows_period:
                futures.append(self.runner.submit(spec, self._now, prev, background=True))
        # Then the same view for one department, unless a visitor came meanwhile: the queries
        # it compiles serve every department and user (their users are a parameter of the
        # compiled SQL), so a visitor's first change of scope does not compile some 20 queries.
        groups = self.desk.departments()
        if len(groups):
            scoped = replace(filters, department=int(groups["group_id"].iloc[0]))
            now = self._now

            def ask(spec: registry.Widget) -> Future[Any] | None:
                if self._started:
                    return None
                return self.runner.submit(spec, now, scoped, background=True)

            gate = when_all(futures)
            specs = [self.cards[card_id].spec for card_id in self.order]
            self._scope_warmed = when_all([after(gate, lambda s=s: ask(s)) for s in specs])

    def _subtitles(self) -> None:
        """Each card says what its numbers cover: the period (or "now") and whose."""
        lang = self.lang
        whose = self.filters.scope_label()
        try:
            period = i18n.fmt_period(self._now.period(self.state.period), lang)
        except ValueError:
            period = ""
        now = i18n.t("now", lang)
        for card in self.cards.values():
            card.set_subtitle(f"{period if card.spec.follows_period else now} · {whose}")

    def _compute(
        self, card_id: str, *, fresh: bool = False, gate: Future[Any] | None = None
    ) -> Future[None]:
        """Compute one card and draw it when done; its previous period once ``gate`` is done
        (at once without one). Returns a future done once the card's own numbers are drawn
        (or given up for a newer view)."""
        card = self.cards[card_id]
        spec = card.spec
        if fresh:
            self.runner.invalidate(card_id)
        with self._lock:
            gen = self._generation.get(card_id, 0) + 1
            self._generation[card_id] = gen
        filters = _filters(self.state)
        future = self.runner.submit(spec, self._now, filters)
        drawn = threading.Event()
        self._pending[card_id] = drawn
        previous: Future[Any] | None = None
        if card.model.compare_previous and spec.follows_period:
            # After the card's own numbers: the comparison may arrive a little later.
            prev = replace(filters, period=self._now.period(self.state.period).previous())
            now = self._now

            def ask() -> Future[Any] | None:  # not for a view left meanwhile
                if not self._current(card_id, gen):
                    return None
                return self.runner.submit(spec, now, prev, background=True)

            previous = ask() if gate is None else after(gate, ask)
        shown: Future[None] = Future()
        if future.done():
            self._deliver(card_id, gen, future, previous)
            drawn.set()
            shown.set_result(None)
        else:
            card.set_loading()
            call_later(self.slow_after, self._on_main, self._maybe_slow, card_id, gen, future)

            def deliver(f: Future[Any]) -> None:
                try:
                    self._deliver(card_id, gen, f, previous)
                finally:
                    drawn.set()
                    shown.set_result(None)

            if spec.chart is not None:  # on the worker: the main thread only sends it
                future.add_done_callback(lambda f: self._prepare_chart(spec, f))
            future.add_done_callback(lambda f: self._on_main(deliver, f))
        if previous is not None and not previous.done():
            previous.add_done_callback(
                lambda p: future.done() and self._on_main(self._deliver, card_id, gen, future, p)
            )
        return shown

    def _prepare_chart(self, spec: registry.Widget, future: Future[Any]) -> None:
        """Build a finished result's chart spec where it was computed (see :func:`chart_spec`);
        a failure here is left for the card to show when it draws."""
        if future.cancelled() or future.exception() is not None or spec.chart is None:
            return
        with contextlib.suppress(Exception):
            chart_spec(spec.chart, future.result(), self.style)

    def _current(self, card_id: str, gen: int) -> bool:
        return self._generation.get(card_id) == gen and card_id in self.cards

    def _maybe_slow(self, card_id: str, gen: int, future: Future[Any]) -> None:
        card = self.cards.get(card_id)
        if card is None:
            return
        with card.lock:
            if self._current(card_id, gen) and not future.done():
                card.set_slow()

    def _deliver(
        self, card_id: str, gen: int, future: Future[Any], previous: Future[Any] | None = None
    ) -> None:
        card = self.cards.get(card_id)
        if card is None:
            return  # removed meanwhile
        with card.lock:  # one card's drawing never waits for another's
            if not self._current(card_id, gen) or future.cancelled():
                return  # a newer filter state has been asked for since (or the runner closed)
            try:
                result = future.result()
            except Exception as exc:  # this card's failure is shown on this card only
                card.show_error(exc)
                return
            prev = None
            if (
                previous is not None
                and previous.done()
                and not previous.cancelled()  # dropped from the queue: the runner closed
                and previous.exception() is None
            ):
                prev = previous.result()
            if result is card.result and (prev is None or prev is card.previous):
                return  # already drawn
            try:
                card.show(result, prev)
            except Exception as exc:  # so is a failure to draw it
                card.show_error(exc)

    def _on_main(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the kernel's main thread (now, if this is it)."""
        if self._loop is None or threading.get_ident() == self._main:
            fn(*args)
            return
        self._ui.put((fn, args))
        with contextlib.suppress(RuntimeError):  # the kernel's loop is gone (shutting down)
            self._loop.add_callback(self._drain, 1)

    def _drain(self, limit: int | None = None) -> None:
        """Run the drawing the workers queued (on the main thread); at most ``limit`` items.

        The kernel's loop runs one item per callback (one per item queued), so that it answers
        the page between two cards: a page that connects while the cards are drawn gets its
        widgets at once instead of after the last card."""
        done = 0
        while limit is None or done < limit:
            try:
                fn, args = self._ui.get_nowait()
            except queue.Empty:
                return
            done += 1
            try:
                fn(*args)
            except Exception:  # one card's drawing must not stop the others'
                log.exception("drawing a card failed")

    def wait(self, timeout: float = 60.0) -> None:
        """Block until every card has drawn its current numbers (for notebooks and tests).

        Called from a notebook cell, it does the drawing itself: the kernel's loop is busy
        running the cell.
        """
        deadline = time.monotonic() + timeout
        for drawn in list(self._pending.values()):
            while not drawn.wait(0.02):
                if threading.get_ident() == self._main:
                    self._drain()
                if time.monotonic() > deadline:
                    return
        self._drain() if threading.get_ident() == self._main else None

    # Filters, URL, language --------------------------------------------------------------------

    def _on_filters(self, state: FilterState) -> None:
        self.refresh()

    def apply_query(self, query: str | None) -> None:
        """Show the view a link asks for (``?period=year&user=5&lang=ru``)."""
        d = self.desk
        view = parse_query(
            query,
            users=set(d.users()["user_id"].astype(int)),
            departments=set(d.departments()["group_id"].astype(int)),
            pipelines=set(d.pipelines()["pipeline_id"].astype(int)),
        )
        self._url_applied = True
        if view.lang != self.lang:
            self.set_language(view.lang, refresh=False)
        self.filters.set_state(view.filters)
        self.refresh()

    def _on_url_initial(self, change: dict[str, Any]) -> None:
        # In JupyterLab there is no QUERY_STRING: the page reports its URL instead.
        if not self._url_applied and change["new"]:
            self.apply_query(change["new"])
        self._url_applied = True

    def set_language(self, lang: str, *, refresh: bool = False) -> None:
        """Switch every label, rule text and number format to ``lang`` ("en" or "ru")."""
        if lang not in i18n.LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(i18n.LANGUAGES)}, not {lang!r}")
        self.lang = lang
        if self._lang.value != lang:
            self._lang.value = lang
        self.filters.set_language(lang)
        style = self.runner.style = self.style
        for card in self.cards.values():
            card.set_style(style)
        self._relabel()
        self.url.query = to_query(ViewState(self.state, lang))
        if self._events_open:
            self._show_events()
        if refresh:
            self.refresh()

    # Cards and configure mode ------------------------------------------------------------------

    def _set_cards(self, order: Sequence[str], *, save: bool = True) -> None:
        order = LayoutStore.clean(order)
        for card_id in order:
            if card_id not in self.cards:
                self.cards[card_id] = Card(
                    registry.get(card_id),
                    self.style,
                    chart_mode=self.chart_mode,
                    on_refresh=lambda card: self._compute(card.spec.id, fresh=True),
                )
        for card_id in [c for c in self.cards if c not in order]:
            del self.cards[card_id]
        self.order = list(order)
        self.grid.children = [self.cards[c].widget for c in self.order]
        if save:
            self.layouts.save(self.user, self.order)
        self._refresh_add_options()
        if self._configure.value:
            self._show_tools()

    def set_configuring(self, on: bool) -> None:
        """Configure mode: move and remove buttons on every card, the add-widget bar above."""
        if self._configure.value != on:
            self._configure.value = on
            return
        self._config.layout.display = None if on else "none"
        self._configure.description = i18n.t("done" if on else "configure", self.lang)
        if on:
            self._show_tools()
        else:
            for card in self.cards.values():
                card.set_tools(None)

    def _show_tools(self) -> None:
        lang = self.lang
        self._deleting = None
        for card_id, card in self.cards.items():
            actions = [
                ("move_up", "↑", lambda _, c=card_id: self.move_card(c, -1)),
                ("move_down", "↓", lambda _, c=card_id: self.move_card(c, +1)),
                ("remove", "✕", lambda _, c=card_id: self.remove_card(c)),
            ]
            if self._may_change(card_id):  # a saved custom widget of this viewer's own
                actions += [
                    ("edit_widget", "✎", lambda _, c=card_id: self.edit_custom(c)),
                    ("delete_widget", "🗑", lambda _, c=card_id: self._ask_delete(c)),
                ]
            tools = []
            for key, glyph, action in actions:
                b = w.Button(
                    description=glyph, tooltip=i18n.t(key, lang), layout=w.Layout(width="32px")
                )
                b.add_class(f"dk-{key.replace('_', '-')}")
                b.on_click(action)
                tools.append(b)
            card.set_tools(tools)

    def _may_change(self, card_id: str) -> bool:
        """Whether ``card_id`` is a saved custom widget this viewer saved (a shared one, on a
        desktop without a viewer): the one the builder would save it as again."""
        from deskkit import custom

        if self.cards[card_id].spec.family != custom.FAMILY:
            return False
        try:
            return custom.owner(self.desk, card_id) == self.user
        except KeyError:  # registered by hand in this kernel, not saved
            return False

    def edit_custom(self, card_id: str) -> Any:
        """Open the builder on the saved definition of custom widget ``card_id``; saving it
        redraws the card. Returns the builder."""
        from deskkit import custom

        if not self._may_change(card_id):
            raise PermissionError(f"{card_id!r} is not a custom widget this viewer saved")
        (definition,) = [d for d in custom.saved(self.desk, user=self.user) if d.id == card_id]
        builder = self.open_builder()
        builder.set_definition(definition)
        return builder

    def _ask_delete(self, card_id: str) -> None:
        """The delete button asks once ("Delete?") before deleting."""
        if self._deleting == card_id:
            self.delete_custom(card_id)
            return
        self._show_tools()  # any other card's question is withdrawn
        self._deleting = card_id
        card = self.cards[card_id]
        button = next(b for b in card.tools if "dk-delete-widget" in b._dom_classes)
        button.description = i18n.t("confirm_delete", self.lang)
        button.layout.width = "auto"
        card.set_tools(card.tools)

    def delete_custom(self, card_id: str) -> None:
        """Delete the saved custom widget ``card_id`` (this viewer's own) and its card."""
        from deskkit import custom

        if not self._may_change(card_id):
            raise PermissionError(f"{card_id!r} is not a custom widget this viewer saved")
        custom.delete(self.desk, card_id, user=self.user)  # and unregistered
        _FROM_SAVED.discard(card_id)
        self._deleting = None
        if self._builder is not None and self._builder.widget_id.value == card_id:
            self.close_builder()
        self._set_cards([c for c in self.order if c != card_id])

    def _refresh_add_options(self) -> None:
        if not hasattr(self, "_add_pick"):
            return
        missing = [wd for wd in registry.widgets() if wd.id not in self.order]
        self._add_pick.options = [(wd.label(self.lang), wd.id) for wd in missing]
        self._add_pick.value = missing[0].id if missing else None
        self._add.disabled = not missing

    def add_card(self, card_id: str) -> None:
        """Add a registered widget's card at the end of the desktop (and save the layout)."""
        registry.get(card_id)  # an unknown id fails here, naming the known ones
        if card_id in self.order:
            return
        self._set_cards([*self.order, card_id])
        self._compute(card_id)

    def remove_card(self, card_id: str) -> None:
        self._set_cards([c for c in self.order if c != card_id])

    def move_card(self, card_id: str, step: int) -> None:
        """Move a card ``step`` places (negative: towards the top)."""
        order = list(self.order)
        i = order.index(card_id)
        j = max(0, min(len(order) - 1, i + step))
        order.insert(j, order.pop(i))
        self._set_cards(order)

    def save_default(self) -> None:
        """Make the current layout everyone's default (admins only)."""
        if not self.is_admin:
            raise PermissionError("only an admin can set the default layout")
        self.layouts.save_default(self.order)
        self._config_note.value = html.escape(i18n.t("layout_saved", self.lang))

    def reset_layout(self) -> None:
        order = self.layouts.reset(self.user)
        self._set_cards(order, save=False)
        for card_id in order:
            self._compute(card_id)

    # Custom widgets ----------------------------------------------------------------------------

    def open_builder(self) -> Any:
        """Open the custom-widget builder above the cards (made on first use; on the kernel's
        main thread, as a click handler runs). Returns it."""
        if self._builder is None:
            from deskkit.ui.builder import CustomWidgetBuilder

            self._builder = CustomWidgetBuilder(
                self.desk,
                user=self.user,
                lang=self.lang,
                on_saved=self._on_custom_saved,
                on_close=self.close_builder,
                filters=lambda: _filters(self.state),
            )
            self._builder_box.children = [self._builder]
        self._builder.desk = self._now  # the moment the cards look at: previews agree with them
        self._builder_box.layout.display = None
        return self._builder

    def close_builder(self) -> None:
        self._builder_box.layout.display = "none"

    def _on_custom_saved(self, widget_id: str) -> None:
        """A saved custom widget: its card joins the layout (or is redrawn, if it was there)."""
        self.close_builder()
        if widget_id in self.order:
            del self.cards[widget_id]  # its definition changed: a new card for the new spec
            self._set_cards(self.order)
            self._compute(widget_id, fresh=True)
        else:
            self.add_card(widget_id)
        self._subtitles()

    # Events ------------------------------------------------------------------------------------

    def _events_since(self) -> dt.datetime | None:
        seen = self.layouts.events_seen(self.user)
        return dt.datetime.fromisoformat(seen) if seen else None

    def _update_events_badge(self) -> None:
        since = self._events_since()
        now = self._now.now
        if since is None or now is None:
            self._new_events = 0
        else:
            tz = self.desk.timezone
            first = since.astimezone(dt.UTC)
            from zoneinfo import ZoneInfo

            days = (first.astimezone(ZoneInfo(tz)).date(), now.astimezone(ZoneInfo(tz)).date())
            try:
                self._new_events = self._now.events_since(
                    first, days, user=self.state.user, department=self.state.department
                )
            except Exception:  # the badge is a hint; the feed itself shows errors
                self._new_events = 0
        self._label_events_button()

    def _label_events_button(self) -> None:
        lang = self.lang
        text = i18n.t("events", lang)
        if self._new_events and not self._events_open:
            text += " · " + i18n.t("new_events", lang, n=i18n.fmt_count(self._new_events, lang))
            self._events_button.add_class("dk-events-new")
        else:
            self._events_button.remove_class("dk-events-new")
        self._events_button.description = text

    def toggle_events(self, open_: bool | None = None) -> None:
        """Open (or close) the event feed; opening marks its events as seen."""
        self._events_open = (not self._events_open) if open_ is None else open_
        self._events_panel.layout.display = None if self._events_open else "none"
        if self._events_open:
            now = self._now.now or dt.datetime.now(dt.UTC)
            self.layouts.mark_events_seen(self.user, now.astimezone(dt.UTC).isoformat())
            self._new_events = 0
            self._show_events()
        self._label_events_button()

    def _show_events(self) -> None:
        if not self._events_open:
            return
        s = self.state
        try:
            result = self._now.events(
                s.period,
                types=self._ev_type.value,
                entity_types=self._ev_entity.value,
                authors=self._ev_author.value,
                user=s.user,
                department=s.department,
            )
        except Exception as exc:
            self._ev_table.value = f'<div class="dk-error-box">{html.escape(str(exc))}</div>'
            return
        types = sorted(set(result.counts["type"])) if "type" in result.counts else []
        value = self._ev_type.value
        opts = [(i18n.t("all_types", self.lang), None)] + [(i18n.t(x, self.lang), x) for x in types]
        if [v for _, v in opts] != [v for _, v in self._ev_type.options]:
            self._ev_type.options = opts
            self._ev_type.value = value if value in types else None
        self._ev_table.value = frame_html(
            result.feed, self.style, total=result.total, cls="dk-records"
        )

    # Construction from the environment ---------------------------------------------------------

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> Desktop:
        """A desktop configured by the environment (how Voilà passes settings in).

        ``DESKKIT_STORE``: a store path or URL (unset: the demo account);
        ``DESKKIT_NOW``: an ISO datetime to look at (naive = UTC; unset: the clock);
        ``DESKKIT_VIEWER``: the user id looking (unset: unrestricted);
        ``DESKKIT_PREFETCH``: seconds before other scopes' views are computed in the
        background (unset: :data:`PREFETCH_AFTER`; ``off``: never);
        ``DESKKIT_PROCESSES``: worker processes computing the built-in cards (unset or
        ``off``: none, the kernel's threads);
        ``QUERY_STRING`` (set by Voilà for the page request): the view a link asks for.
        """
        from deskkit.desk import open as open_desk

        env = os.environ if environ is None else environ
        store = env.get("DESKKIT_STORE") or None
        now_text = env.get("DESKKIT_NOW") or None
        viewer_text = env.get("DESKKIT_VIEWER") or None
        now = dt.datetime.fromisoformat(now_text) if now_text else None
        if now is not None and now.tzinfo is None:
            now = now.replace(tzinfo=dt.UTC)
        viewer = int(viewer_text) if viewer_text else None
        kwargs.setdefault("prefetch_after", _prefetch_setting(env.get("DESKKIT_PREFETCH")))
        processes = processes_setting(env.get(PROCESSES_ENV))
        desk = open_desk(store, viewer=viewer, now=now)
        if "runner" not in kwargs:
            # A server's store (a URL) cannot be opened by other processes: threads then.
            kwargs["runner"] = Runner(processes=processes if desk.store.reopenable else 0)
        return cls(desk, **kwargs)

    def start(self, environ: Mapping[str, str] | None = None) -> w.Widget:
        """Apply the page request's query (Voilà's ``QUERY_STRING``) and return the widget."""
        self._started = True
        env = os.environ if environ is None else environ
        register_custom(self.desk, self.user)  # widgets saved since the kernel was preheated
        # Cards of custom widgets re-registered meanwhile (maybe redefined) are made anew.
        for card_id in [c for c, card in self.cards.items() if _stale(card.spec)]:
            del self.cards[card_id]
        if self._from_layout:
            # A preheated kernel built the page earlier: the saved layout may have changed since.
            self._set_cards(self.layouts.load(self.user), save=False)
        elif len(self.cards) < len(self.order):
            self._set_cards(self.order, save=False)
        query = env.get("QUERY_STRING")
        if query is not None:
            self.apply_query(query)
        else:
            self.refresh()
        return self.widget


#: Ids of custom widgets this process registered from saved definitions.
_FROM_SAVED: set[str] = set()


def register_custom(desk: Desk, user: int | None) -> list[str]:
    """Register the custom widgets saved for ``user`` (and shared ones), and forget those
    registered from saved definitions earlier that are saved no more (deleted elsewhere), so
    a layout naming them opens without them. Returns their ids. A failure is logged, not
    raised: the desktop still opens without them. (A widget registered by hand from a
    notebook is left alone.)"""
    try:
        from deskkit.custom import register_saved

        ids = [wd.id for wd in register_saved(desk, user=user)]
    except Exception:
        log.exception("could not register the saved custom widgets")
        return []
    for gone in sorted(_FROM_SAVED - set(ids)):
        with contextlib.suppress(KeyError, ValueError):
            if registry.get(gone).family == "custom":
                registry.unregister(gone)
    _FROM_SAVED.clear()
    _FROM_SAVED.update(ids)
    return ids


def _prefetch_setting(text: str | None) -> float | None:
    """``DESKKIT_PREFETCH``: seconds (unset: :data:`PREFETCH_AFTER`) or ``off``."""
    text = (text or "").strip().lower()
    if not text:
        return PREFETCH_AFTER
    if text in ("off", "no", "none", "never"):
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # also NaN
        raise ValueError(f"DESKKIT_PREFETCH must be seconds (>= 0) or 'off', not {text!r}")
    return seconds


def _stale(spec: registry.Widget) -> bool:
    """Whether ``spec`` is no longer the registered widget of its id."""
    try:
        return registry.get(spec.id) is not spec
    except KeyError:
        return True


def _kernel_loop() -> Any:
    """The running IPython kernel's main-thread event loop (a tornado IOLoop), if any."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - ipywidgets depends on IPython
        return None
    kernel = getattr(get_ipython(), "kernel", None)
    return getattr(kernel, "io_loop", None)


def _chart_library(mode: ChartMode | None) -> w.Widget | None:
    """The page's one copy of the chart library, when the chart mode needs one."""
    from deskkit.ui import _charts

    if (mode or _charts.default_mode()) == "svg":
        return None  # server-side SVG needs no JavaScript at all
    return _charts.library()
