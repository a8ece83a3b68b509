"""The desktop without a browser: background cards, filters, Refresh, errors, configure mode,
URL state, language and the events button."""

from __future__ import annotations

import datetime as dt
import html
import re
import threading
import time
from dataclasses import replace
from typing import Any

import pytest

from deskkit import widgets as registry
from deskkit.desk import Desk
from deskkit.ui import Desktop, FilterState, LayoutStore, Runner, render
from deskkit.ui.card import MAX_KPIS
from deskkit.ui.desktop import _filters
from deskkit.ui.runner import cache_key, pinned
from deskkit.ui.url import ViewState, parse_query, to_query

HOOK = re.compile(r'data-k="([^"]+)" data-v="([^"]+)"')


def hooks(html: str) -> dict[str, float]:
    return {k: float(v) for k, v in HOOK.findall(html)}


TILE = re.compile(r'class="dk-kpi-value dk-kpi-([^" ]+)[^"]*"[^>]*>([^<]*)<')


def kpis(card) -> dict[str, str]:
    """KPI label -> the value text the card's HTML shows (read from what the page gets)."""
    shown = {k: html.unescape(v) for k, v in TILE.findall(card.widget.kpis)}
    assert shown == card.kpi_texts()
    return shown


@pytest.fixture
def layouts(tmp_path) -> LayoutStore:
    return LayoutStore("test", folder=tmp_path)


@pytest.fixture(scope="module")
def runner():
    """One result cache for the module: desktops on the same desk and filters share results,
    as the cards of one kernel do."""
    runner = Runner()
    yield runner
    runner.close()


@pytest.fixture
def app(desk: Desk, layouts: LayoutStore, runner: Runner) -> Desktop:
    app = Desktop(desk, layouts=layouts, chart_mode="svg", runner=runner)
    app.wait()
    return app


def flow_numbers(app: Desktop) -> dict[str, float]:
    return hooks(app.cards["pipeline_flow"].table_html)


def assert_flow(app: Desktop, result) -> None:
    app.wait()
    shown = flow_numbers(app)
    for r in result.stages.itertuples():
        assert shown[f"deals-{r.stage_id}"] == r.deals
        assert shown[f"net-{r.stage_id}"] == r.net_in
    got = kpis(app.cards["pipeline_flow"])
    assert got["new_deals"] == f"{result.new:,}"
    assert got["won_deals"] == f"{result.won:,}"


def test_every_default_card_is_filled(app):
    assert app.order == [w.id for w in registry.widgets() if w.builtin]
    for card_id, card in app.cards.items():
        assert card.error is None, (card_id, card.error)
        assert card.result is not None, card_id
        assert not card.busy
        assert len(card.model.kpis(card.result, card.previous)) <= MAX_KPIS, card_id
        assert kpis(card), card_id
        # The whole card is one widget: its HTML, its chart and one click handler.
        assert 'data-k="drawn"' in card.widget.head, card_id


def test_the_desktop_writes_chart_data_with_its_transformer_unless_the_user_chose(desk, layouts):
    import altair as alt

    from deskkit.charts import DATA_TRANSFORMER

    before = alt.data_transformers.active
    try:
        alt.data_transformers.enable("default")
        Desktop(desk, layouts=layouts, cards=[], compute=False)
        assert alt.data_transformers.active == DATA_TRANSFORMER
        alt.data_transformers.enable("json")  # a user's own choice stays
        Desktop(desk, layouts=layouts, cards=[], compute=False)
        assert alt.data_transformers.active == "json"
    finally:
        alt.data_transformers.enable(before)


def test_filters_change_every_card(app, desk):
    app.filters.controls["period"].value = "year"
    assert_flow(app, desk.pipeline_flow("year"))
    assert app.cards["lead_sources"].result.period == desk.period("year")
    pid = int(
        desk.pipelines().loc[~desk.pipelines()["is_main"].astype(bool), "pipeline_id"].iloc[0]
    )
    app.filters.controls["pipeline"].value = pid
    assert_flow(app, desk.pipeline_flow("year", pid))
    user = int(desk.users()["user_id"].iloc[1])
    app.filters.controls["scope"].value = ("user", user)
    app.wait()
    assert_flow(app, desk.pipeline_flow("year", pid, user=user))
    assert app.cards["activity"].result.scope.user == user


def test_a_period_change_reuses_the_now_cards(app):
    before = app.cards["forecast"].result
    app.filters.controls["period"].value = "week"
    app.wait()
    assert app.cards["forecast"].result is before  # "now" widgets do not follow the period
    assert app.cards["lead_sources"].result.period.preset_name == "week"


def test_previous_period_comparison_arrives(app, desk):
    app.wait()
    time.sleep(0.2)
    app.wait()
    card = app.cards["pipeline_flow"]
    assert card.previous is not None
    prev = desk.pipeline_flow(desk.period("month").previous())
    assert card.previous.new == prev.new
    assert 'data-k="delta-new_deals"' in card.widget.kpis


def test_drill_down_from_a_number_and_a_chart_mark(app, desk):
    card = app.cards["pipeline_flow"]
    result = desk.pipeline_flow("month")
    assert card.kpi_texts()["new_deals"] == f"{result.new:,}"
    card.handle({"kind": "kpi", "i": 0})  # what a click on "New" sends
    assert hooks(card.records_html)["rows"] == min(result.new, 201)
    assert 'class="dk-records-box"' in card.widget.body
    sid = int(result.stages["stage_id"].iloc[0])
    # A chart mark: the page's datum is cleaned to the spec's fields.
    datum = {"stage_id": sid, "kind": "open", "stage": "x", "_vgsid_": 3, "deals_end": 9}
    card.handle({"kind": "mark", "datum": datum})
    want = result.records("deals", sid)
    assert hooks(card.records_html)["rows"] == min(len(want), 201)
    assert card.drill_open
    # The "Records…" menu: its entries are what the card offered, by index.
    card.handle({"kind": "pick", "i": 1})
    assert card.drill_open
    # What the card did not offer is ignored.
    for odd in ({"kind": "kpi", "i": 99}, {"kind": "pick", "i": -1}, {"kind": "exec"}, "x"):
        card.handle(odd)
    card.handle({"kind": "close"})
    assert not card.drill_open and 'class="dk-records-box"' not in card.widget.body


def test_a_failing_metric_is_shown_on_its_card_only(desk, layouts):
    def broken(desk, filters):
        raise RuntimeError("the store went away")

    registry.register(registry.Widget("broken_test", {"en": "B", "ru": "Б"}, broken))
    try:
        app = Desktop(desk, layouts=layouts, cards=["broken_test", "nps"], chart_mode="svg")
        app.wait()
        broken = app.cards["broken_test"]
        assert "the store went away" in broken.error_html
        assert "the store went away" in broken.widget.body
        assert "dk-card-body" not in broken.widget.body  # no numbers under the error
        assert app.cards["nps"].error is None and app.cards["nps"].result is not None
    finally:
        registry.unregister("broken_test")


def test_a_slow_card_offers_refresh_while_the_others_fill(desk, layouts):
    release = threading.Event()
    calls = []

    def slow(desk, filters):
        calls.append(1)
        release.wait(10)
        return desk.nps(filters.period)

    registry.register(registry.Widget("slow_test", {"en": "S", "ru": "М"}, slow))
    try:
        app = Desktop(
            desk, layouts=layouts, cards=["slow_test", "nps"], chart_mode="svg", slow_after=0.3
        )
        card = app.cards["slow_test"]
        assert card.busy and "dk-spinner" in card.status_html
        deadline = time.monotonic() + 10
        while not card.slow and time.monotonic() < deadline:
            time.sleep(0.05)
        assert card.slow
        assert card.busy  # still computing: the result is not in
        assert card.refresh_shown  # the Refresh button shows
        assert re.search(r'class="dk-button dk-refresh" data-dk="refresh">', card.widget.head)
        assert app.cards["nps"].result is not None  # the other card did not wait
        release.set()
        app.wait()
        time.sleep(0.1)
        assert card.result is not None and not card.slow and not card.busy
        card.handle({"kind": "refresh"})  # Refresh computes again, fresh
        app.wait()
        assert len(calls) == 2
    finally:
        release.set()
        registry.unregister("slow_test")


def test_delayed_calls_come_in_time_order_from_one_thread():
    """call_later: each call at its time (not before), the earliest first whatever the order
    asked, one failing call does not stop the others, and all come from one thread."""
    from deskkit.ui.runner import call_later

    got: list[tuple[str, float, str]] = []
    done = threading.Event()
    start = time.monotonic()

    def note(name: str) -> None:
        got.append((name, time.monotonic() - start, threading.current_thread().name))
        if len(got) == 3:
            done.set()

    def fail() -> None:
        raise RuntimeError("a delayed call that fails")

    call_later(0.30, note, "late")
    call_later(0.10, note, "early")
    call_later(0.05, fail)
    call_later(0.20, note, "middle")
    assert done.wait(5)
    assert [name for name, _, _ in got] == ["early", "middle", "late"]
    for (name, at, _), due in zip(got, (0.10, 0.20, 0.30), strict=True):
        assert at >= due - 0.005, (name, at)
    assert {thread for _, _, thread in got} == {"deskkit-alarms"}  # not a thread per call


def test_a_change_leaves_the_main_thread_at_once(desk, layouts, runner):
    """Handling a filter change on the kernel's main thread only sends the cards off: no
    thread is started per card (each start waited for the GIL the workers held)."""
    app = Desktop(desk, layouts=layouts, chart_mode="svg", runner=runner)
    app.wait()
    started = []
    real = threading.Thread.start
    main = threading.get_ident()

    def counting(thread: threading.Thread) -> None:
        if threading.get_ident() == main:  # not another test's background threads
            started.append(thread.name)
        real(thread)

    state = replace(app.state, period="quarter")
    app.filters.set_state(state)
    try:
        threading.Thread.start = counting  # type: ignore[method-assign]
        app._on_filters(state)
    finally:
        threading.Thread.start = real  # type: ignore[method-assign]
    app.wait()
    assert not [n for n in started if not n.startswith(("deskkit-card", "deskkit-alarms"))], started
    assert all(card.result is not None for card in app.cards.values())


def test_configure_mode_persists_per_user(desk, layouts, runner):
    app = Desktop(desk, layouts=layouts, cards=None, chart_mode="svg", runner=runner)
    app.set_configuring(True)
    tools = app.cards["nps"].tools
    assert [b.description for b in tools] == ["↑", "↓", "✕"]
    assert 'class="dk-button dk-tool dk-remove"' in app.cards["nps"].widget.head
    app.cards["nps"].handle({"kind": "tool", "i": 2})  # remove NPS
    assert "nps" not in app.order
    app.move_card("forecast", -3)
    app.add_card("nps")
    order = list(app.order)
    assert order[-1] == "nps"
    again = Desktop(desk, layouts=layouts, chart_mode="svg", runner=runner)
    assert again.order == order  # survived a "reload"
    viewer = int(desk.users()["user_id"].iloc[-1])
    manager = Desktop(
        desk.as_viewer(viewer), layouts=layouts, chart_mode="svg", cards=None, runner=runner
    )
    assert manager.order != order  # another user keeps the default
    app.save_default()  # unrestricted desktop = admin
    assert LayoutStore("test", folder=layouts.folder.parent).default() == order
    app.reset_layout()
    assert app.order == order  # the default is now this layout


def test_only_admins_set_the_default_layout(desk, layouts):
    users = desk.users()
    plain = users.loc[~users["is_admin"].astype(bool), "user_id"]
    app = Desktop(
        desk.as_viewer(int(plain.iloc[0])), layouts=layouts, cards=["nps"], chart_mode="svg"
    )
    assert app._save_default.layout.display == "none"
    with pytest.raises(PermissionError):
        app.save_default()


def test_url_round_trip_and_invalid_values():
    view = ViewState(
        FilterState((dt.date(2026, 1, 1), dt.date(2026, 3, 31)), user=5, pipeline=2), "ru"
    )
    assert parse_query(to_query(view)) == view
    assert to_query(ViewState()) == ""
    odd = parse_query("period=1999-12-31..1999-01-01&user=x&lang=de&pipeline=77", pipelines={1})
    assert odd == ViewState()
    assert parse_query("?department=3&user=4").filters.department is None


def test_a_link_opens_its_view(app, desk):
    user = int(desk.users()["user_id"].iloc[2])
    app.apply_query(f"period=year&user={user}&lang=ru")
    app.wait()
    assert app.state.period == "year" and app.state.user == user
    assert app.lang == "ru"
    main = app.state.pipeline  # the bar names the main pipeline explicitly
    assert app.url.query == f"period=year&user={user}&pipeline={main}&lang=ru"
    assert_flow_ru = app.cards["pipeline_flow"]
    assert assert_flow_ru.result.period == desk.period("year")
    # Changing a filter updates the URL.
    app.filters.controls["period"].value = "week"
    assert app.url.query == f"period=week&user={user}&pipeline={main}&lang=ru"


def test_language_switch(app):
    app.set_language("ru")
    assert app.cards["pipeline_flow"].title_html == "Анализ продаж"
    assert '<div class="dk-title">Анализ продаж</div>' in app.cards["pipeline_flow"].widget.head
    assert re.search("[а-я]", app.cards["nps"].rules_html)
    app.wait()
    # The chart speaks Russian too (svg mode: the server drew it).
    assert "Сделки на конец периода" in app.cards["pipeline_flow"].widget.svg
    assert app.filters.controls["period"].label == "Месяц"
    assert "ru" in app.url.query
    app.set_language("en")
    assert app.filters.controls["period"].label == "Month"
    with pytest.raises(ValueError, match="language"):
        app.set_language("de")


def test_events_button_lights_up_with_new_events(desk, layouts):
    app = Desktop(desk, layouts=layouts, cards=["nps"], chart_mode="svg")
    assert "dk-events-new" not in app._events_button._dom_classes  # never opened: nothing new
    layouts.mark_events_seen(None, (desk.now - dt.timedelta(days=2)).isoformat())
    app.refresh()
    want = desk.events_since(
        desk.now - dt.timedelta(days=2), (desk.now.date() - dt.timedelta(days=2), desk.now.date())
    )
    assert want > 0 and app._new_events == want
    assert "dk-events-new" in app._events_button._dom_classes
    app.toggle_events()
    assert "dk-events-new" not in app._events_button._dom_classes
    assert hooks(app._ev_table.value)["rows"] == desk.events("month").total
    app._ev_type.value = app._ev_type.options[1][1]
    assert (
        hooks(app._ev_table.value)["rows"] == desk.events("month", types=app._ev_type.value).total
    )
    app.refresh()
    assert app._new_events == 0  # seen just now


def test_runner_shares_and_pins(desk):
    runner = Runner(workers=2)
    w = registry.get("nps")
    f = registry.Filters("month")
    a, b = runner.submit(w, desk, f), runner.submit(w, desk, f)
    assert a is b
    live = desk.at(None)
    clock = dt.datetime(2026, 11, 27, 15, 4, 31, tzinfo=dt.UTC)
    assert pinned(live, clock).now == dt.datetime(2026, 11, 27, 15, 4, tzinfo=dt.UTC)
    assert pinned(desk, clock) is desk
    forecast = registry.get("forecast")
    assert cache_key(forecast, desk, f) == cache_key(forecast, desk, registry.Filters("week"))
    assert cache_key(w, desk, f) != cache_key(w, desk, registry.Filters("week"))
    runner.close()


def test_foreground_work_runs_before_queued_background_work():
    """What a visitor waits for jumps the queue of comparisons and warm-ups; a background
    task asked for in the foreground moves to the front."""
    from deskkit.ui.runner import _Pool

    pool = _Pool(1, background_limit=1)
    hold, order = threading.Event(), []
    blocker = pool.submit(hold.wait, (10,), False)
    bg = [pool.submit(order.append, (f"bg{i}",), True) for i in range(3)]
    fg = [pool.submit(order.append, (f"fg{i}",), False) for i in range(2)]
    pool.promote(bg[2])
    pool.promote(bg[2])  # twice: it still runs once
    hold.set()
    for task in [blocker, *bg, *fg]:
        task.future.result(timeout=10)
    assert order == ["fg0", "fg1", "bg2", "bg0", "bg1"]
    pool.close(wait=True)


def test_background_work_leaves_a_worker_free():
    from deskkit.ui.runner import _Pool

    pool = _Pool(2, background_limit=1)
    lock, release = threading.Lock(), threading.Event()
    running, peak = [0], [0]

    def background() -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        release.wait(10)
        with lock:
            running[0] -= 1

    bg = [pool.submit(background, (), True) for _ in range(2)]
    time.sleep(0.2)
    assert [t.future.running() for t in bg] == [True, False]
    # The second worker waits for foreground work instead of taking the second background task.
    assert pool.submit(lambda: "mine", (), False).future.result(timeout=10) == "mine"
    release.set()
    for task in bg:
        task.future.result(timeout=10)
    assert peak[0] == 1
    # Closing cancels what is queued; what runs finishes.
    hold = threading.Event()
    running_task = pool.submit(hold.wait, (10,), False)
    time.sleep(0.1)
    queued = [pool.submit(hold.wait, (10,), flag) for flag in (False, False, True)]
    pool.close()
    assert all(t.future.cancelled() for t in queued[1:])
    hold.set()
    assert running_task.future.result(timeout=10) is True
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(print, (), False)


def _deals(desk) -> int:
    """A query on the store (it passes the thread's check before each query)."""
    return int(desk.store.table("deals").count().execute())


def _query_wait_query(desk, queried: threading.Event, hold: threading.Event, starts: list):
    """A task that runs a query, says so, waits for ``hold``, then runs another; each start
    is counted in ``starts``."""

    def run() -> int:
        starts.append(time.monotonic())
        n = _deals(desk)
        queried.set()
        hold.wait(10)
        return n + _deals(desk)

    return run


def test_background_work_waits_while_foreground_work_runs():
    """A prefetch or a comparison does not start beside what a visitor waits for."""
    from deskkit.ui.runner import _Pool

    pool = _Pool(3, background_limit=2)
    try:
        hold, order = threading.Event(), []

        def foreground() -> None:
            hold.wait(10)
            order.append("fg")

        fg = pool.submit(foreground, (), False)
        time.sleep(0.1)
        bg = pool.submit(order.append, ("bg",), True)
        time.sleep(0.3)
        assert fg.future.running() and not bg.future.running() and order == []
        hold.set()
        bg.future.result(timeout=10)
        assert order == ["fg", "bg"]
    finally:
        hold.set()
        pool.close(wait=True)


def test_background_work_gives_way_at_its_next_query_and_starts_again_later(desk):
    """Background work running when foreground work arrives stops before its next query,
    goes back to the queue and, once the foreground work is done, runs again from the start
    (its future, shared by whoever asked, gets the complete result)."""
    from deskkit.ui.runner import _Pool

    pool = _Pool(3, background_limit=2)
    try:
        started, queried, hold = [], threading.Event(), threading.Event()
        visitor = threading.Event()
        deals = _deals(desk)

        def background() -> list[int]:
            started.append(time.monotonic())
            counts = []
            for i in range(3):
                counts.append(_deals(desk))
                if i == 0 and len(started) == 1:
                    queried.set()
                    hold.wait(10)  # the visitor clicks now
            return counts

        def foreground() -> str:
            visitor.wait(10)  # still computing when the background reaches its next query
            done.append(time.monotonic())
            return "mine"

        done: list[float] = []
        bg = pool.submit(background, (), True)
        assert queried.wait(10)
        fg = pool.submit(foreground, (), False)
        time.sleep(0.1)
        hold.set()  # the background goes on to its next query, and gives way there
        time.sleep(0.3)
        assert not bg.future.done() and len(started) == 1
        visitor.set()
        assert fg.future.result(timeout=10) == "mine"
        assert bg.future.result(timeout=30) == [deals] * 3
        assert len(started) == 2 and started[1] > done[0]  # gave way, then ran again after
    finally:
        hold.set()
        visitor.set()
        pool.close(wait=True)


def test_background_work_someone_asks_for_while_it_runs_no_longer_gives_way(desk):
    """A prefetch running when the visitor goes to that very view is now what he waits for:
    it finishes where it is, beside his other cards."""
    from deskkit.ui.runner import _Pool

    pool = _Pool(3, background_limit=2)
    queried, hold, visitor = threading.Event(), threading.Event(), threading.Event()
    starts: list[float] = []
    try:
        bg = pool.submit(_query_wait_query(desk, queried, hold, starts), (), True)
        assert queried.wait(10)
        other = pool.submit(visitor.wait, (10,), False)  # his other cards, still computing
        pool.promote(bg)  # he asks for the prefetched view itself
        hold.set()
        assert bg.future.result(timeout=10) == 2 * _deals(desk)
        assert len(starts) == 1 and not other.future.done()  # did not give way to the other
    finally:
        hold.set()
        visitor.set()
        pool.close(wait=True)


def test_a_foreground_task_never_gives_way(desk):
    from deskkit.ui.runner import _Pool

    pool = _Pool(2, background_limit=1)
    try:
        hold, queried, starts = threading.Event(), threading.Event(), []
        a = pool.submit(_query_wait_query(desk, queried, hold, starts), (), False)
        assert queried.wait(10)
        b = pool.submit(hold.wait, (10,), False)  # another foreground task runs meanwhile
        time.sleep(0.1)
        hold.set()
        assert a.future.result(timeout=10) == 2 * _deals(desk) and len(starts) == 1
        assert b.future.result(timeout=10) is True
    finally:
        hold.set()
        pool.close(wait=True)


def test_a_runner_dropped_unclosed_lets_its_workers_end(desk):
    import gc

    runner = Runner(workers=2)
    widget = registry.Widget("ping", {"en": "ping", "ru": "ping"}, lambda d, f: "pong")
    assert runner.submit(widget, desk, registry.Filters("month")).result(timeout=10) == "pong"
    threads = list(runner._pool._threads)
    assert threads and all(t.is_alive() for t in threads)
    del runner
    gc.collect()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(t.is_alive() for t in threads)


def test_runner_promotes_a_queued_comparison_the_visitor_asks_for(desk):
    """A previous period queued in the background, then asked for as the view itself (the
    visitor went to that period), is computed before the other queued comparisons."""
    runner = Runner(workers=1)
    hold, order = threading.Event(), []

    def compute(name):
        def run(d, filters):
            if name == "block":
                hold.wait(10)
            order.append(name)
            return name

        return run

    widget = {n: registry.Widget(n, {"en": n, "ru": n}, compute(n)) for n in ("block", *"abc")}
    f = registry.Filters("month")
    try:
        block = runner.submit(widget["block"], desk, f)
        queued = [runner.submit(widget[n], desk, f, background=True) for n in "abc"]
        again = runner.submit(widget["c"], desk, f)
        assert again is queued[2]  # one computation, shared
        hold.set()
        for future in [block, *queued]:
            future.result(timeout=10)
        assert order == ["block", "c", "a", "b"]
        assert not runner._tasks  # nothing kept once done
    finally:
        runner.close()


def test_when_all_and_after_chain_futures():
    from concurrent.futures import Future

    from deskkit.ui.runner import after, when_all

    a, b = Future(), Future()
    gate = when_all([a, b])
    started: list[str] = []

    def start() -> Future:
        started.append("x")
        out = Future()
        out.set_result(42)
        return out

    chained = after(gate, start)
    a.set_exception(RuntimeError("a card failed"))  # a failure counts as done
    assert not gate.done() and started == [] and not chained.done()
    b.set_result(1)
    assert gate.done() and started == ["x"] and chained.result() == 42
    assert when_all([]).done()
    failing = Future()
    failing.set_exception(ValueError("no"))
    assert isinstance(after(gate, lambda: failing).exception(), ValueError)
    assert not after(gate, lambda: None).done()  # nothing asked: it stays pending


def test_comparisons_are_asked_for_after_every_card_is_drawn(desk, layouts):
    """A new period's previous-period comparisons wait until every card's own numbers are
    drawn: queued earlier, they took the cores and the interpreter from the last cards."""
    runner = Runner()
    app = Desktop(desk, layouts=layouts, chart_mode="svg", runner=runner)
    app.wait()
    order: list[tuple[str, str]] = []
    submit, deliver = runner.submit, app._deliver

    def spy_submit(widget, d, filters, **kw):
        period = filters.period if isinstance(filters.period, str) else "previous"
        order.append(("submit", period))
        # Nobody waits for a comparison yet: it must not go before another view's cards.
        assert kw.get("background", False) == (period == "previous")
        return submit(widget, d, filters, **kw)

    def spy_deliver(card_id, gen, future, previous=None):
        if previous is None or not previous.done():
            order.append(("drawn", card_id))
        return deliver(card_id, gen, future, previous)

    runner.submit, app._deliver = spy_submit, spy_deliver
    try:
        app.filters.controls["period"].value = "quarter"
        app.wait()
        time.sleep(0.5)
        app.wait()
    finally:
        runner.close()
    comparisons = [i for i, e in enumerate(order) if e == ("submit", "previous")]
    draws = [i for i, e in enumerate(order) if e[0] == "drawn"]
    assert comparisons and len(draws) >= len(app.order)
    assert min(comparisons) > max(draws[: len(app.order)])
    assert any(card.previous is not None for card in app.cards.values())


def test_render_is_a_pure_call_of_the_desk(desk):
    got = render(desk, FilterState("year"))
    assert got.new == desk.pipeline_flow("year").new


def test_a_preheated_desktop_computes_the_default_view_before_the_request(desk, layouts):
    """compute=False (Voilà's preheated kernel) draws nothing but computes the default view,
    so a request for that view at the same "now" is filled from the cache: start() computes
    nothing new."""
    runner = Runner()
    try:
        app = Desktop(desk, layouts=layouts, chart_mode="svg", runner=runner, compute=False)
        assert all(card.result is None for card in app.cards.values())
        app._scope_warmed.result(timeout=120)  # then a department's view
        warmed = dict(runner._cache)
        assert len(warmed) >= 2 * len(app.order)
        for future in warmed.values():
            future.result(timeout=120)
        app.start(environ={})
        assert dict(runner._cache) == warmed  # every card's result came from the warm-up
        for card_id, card in app.cards.items():  # and was drawn at once, from the cache
            assert card.result is not None and not card.busy, card_id
        cache = desk.store.compile_cache
        assert cache.eager
        # Another department (or a user) reuses the department's compiled queries.
        groups = sorted(desk.departments()["group_id"])
        misses = cache.misses
        app.filters.set_state(replace(app.state, department=int(groups[-1])))
        app.refresh()
        app.wait()
        assert all(card.error is None for card in app.cards.values())
        # Two queries are chosen by the data: which goals show, how far back the feed reads.
        assert cache.misses - misses <= 2
    finally:
        runner.close()


def test_a_visitor_arriving_during_the_warm_up_goes_first(desk, layouts):
    """The preheated kernel's warm-up of a department is background work: a visitor who
    arrives meanwhile, asking for a view not warmed, gets every card before it is done."""
    runner = Runner(workers=2)
    warming = threading.Event()
    submit = runner.submit

    def spy_submit(widget, d, filters, **kw):
        if filters.department is not None:
            assert kw.get("background") is True
            warming.set()
        return submit(widget, d, filters, **kw)

    runner.submit = spy_submit
    try:
        app = Desktop(desk, layouts=layouts, chart_mode="svg", runner=runner, compute=False)
        assert warming.wait(120)
        app.start(environ={"QUERY_STRING": "period=quarter"})
        app.wait()
        assert app.state.period == "quarter"
        assert all(card.result is not None and card.error is None for card in app.cards.values())
        assert not app._scope_warmed.done()  # first-come, first-served ran it all first
        app._scope_warmed.result(timeout=120)  # and it still completes
    finally:
        runner.close()


def test_a_cancelled_comparison_or_card_draws_without_failing(app):
    """A closed runner cancels what it had queued: the card keeps its numbers, no error."""
    from concurrent.futures import Future

    card_id = "nps"
    card, gen = app.cards[card_id], app._generation[card_id]
    done, cancelled = Future(), Future()
    done.set_result(card.result)
    assert cancelled.cancel()
    app._deliver(card_id, gen, done, cancelled)  # the comparison was dropped
    app._deliver(card_id, gen, cancelled)  # and the card's own computation
    assert card.error is None and card.result is done.result()


def test_chart_specs_are_built_once_per_result_and_language(app):
    from deskkit.ui.card import CardStyle, chart_spec

    card = app.cards["lead_sources"]
    build, result = card.spec.chart, card.result
    en = CardStyle(lang="en", currency=app.desk.currency)
    ru = CardStyle(lang="ru", currency=app.desk.currency)
    first = chart_spec(build, result, en)
    assert chart_spec(build, result, en) is first  # the desktop built it on the worker
    assert card._spec_dict == first
    other = chart_spec(build, result, ru)
    assert other is not first and other != first


# Prefetching the other scopes' views ---------------------------------------------------------


def test_a_prefetched_department_draws_at_once(desk, layouts):
    """Once a view stayed, the desktop computes the same period for everyone and each
    department in the background: switching to one then draws every card from the cache."""
    runner = Runner()
    try:
        app = Desktop(desk, layouts=layouts, chart_mode="svg", runner=runner, prefetch_after=0)
        app.wait()
        deadline = time.monotonic() + 120
        while not app._prefetched and time.monotonic() < deadline:
            time.sleep(0.02)  # the timer's prefetch is on its way
        for future in list(app._prefetched):
            future.result(timeout=120)
        cached = dict(runner._cache)
        groups = sorted(desk.departments()["group_id"])
        assert len(cached) >= len(app.order) * (1 + len(groups))
        app.filters.set_state(replace(app.state, department=int(groups[-1])))
        app.refresh()
        # Drawn within refresh() itself: nothing was left to compute.
        assert all(card.result is not None and not card.busy for card in app.cards.values())
        filters = _filters(app.state)
        own = [cache_key(card.spec, app._now, filters) for card in app.cards.values()]
        assert all(key in cached for key in own)
        fresh = app.cards["pipeline_flow"].result
        assert fresh.new == desk.pipeline_flow("month", department=int(groups[-1])).new
    finally:
        runner.close()


def test_a_view_left_drops_its_prefetch_not_started(desk, layouts):
    runner = Runner()
    try:
        app = Desktop(desk, layouts=layouts, chart_mode="svg", runner=runner)
        app.wait()
        app._prefetch(app._view)  # as the timer would
        queued = list(app._prefetched)
        assert queued
        app.filters.set_state(replace(app.state, period="week"))
        app.refresh()
        app.wait()
        assert all(f.done() or f.running() for f in queued)
        dropped = [f for f in queued if f.cancelled()]
        assert dropped  # two workers at most had started on them
        assert not any(f in dropped for f in runner._cache.values())
        assert app._prefetched == []  # nothing asked for the week view (prefetch_after=None)
    finally:
        runner.close()


def test_the_served_page_prefetches_unless_told_not_to(test_store, layouts):
    from deskkit.ui.desktop import PREFETCH_AFTER

    env = {"DESKKIT_STORE": str(test_store.path), "DESKKIT_NOW": test_store.now_iso}
    for setting, expected in ((None, PREFETCH_AFTER), ("off", None), ("0.5", 0.5)):
        environ = env if setting is None else {**env, "DESKKIT_PREFETCH": setting}
        runner = Runner()
        try:
            app = Desktop.from_environment(environ, layouts=layouts, runner=runner, compute=False)
            assert app.prefetch_after == expected
        finally:
            runner.close()


def test_prefetch_setting_from_the_environment():
    from deskkit.ui.desktop import PREFETCH_AFTER, _prefetch_setting

    assert _prefetch_setting(None) == _prefetch_setting(" ") == PREFETCH_AFTER
    assert _prefetch_setting("off") is None and _prefetch_setting("Never") is None
    assert _prefetch_setting("2.5") == 2.5 and _prefetch_setting("0") == 0
    for bad in ("soon", "-1", "nan"):
        with pytest.raises(ValueError, match="DESKKIT_PREFETCH"):
            _prefetch_setting(bad)


def test_closing_at_exit_also_closes_pools_made_while_closing(desk, monkeypatch):
    """At exit every pool is closed before threads are joined. Closing cancels queued cards,
    whose callbacks may ask another (earlier closed) runner, which makes a new pool: that one
    is closed too, or its idle threads would keep the interpreter from ever exiting."""
    import weakref

    from deskkit.ui import runner as runner_module

    monkeypatch.setattr(runner_module, "_POOLS", weakref.WeakSet())  # this test's pools only
    release = threading.Event()

    def blocking(d, f):
        release.wait(30)
        return None

    busy = registry.Widget("block_test", {"en": "B", "ru": "Б"}, blocking)
    first, second = Runner(workers=1), Runner(workers=1)
    second.close()  # closed earlier: its next submit makes a new pool
    running = first.submit(busy, desk, registry.Filters(period="month"))
    queued = first.submit(registry.get("nps"), desk, registry.Filters(period="month"))
    late: list[Any] = []
    queued.add_done_callback(
        lambda f: late.append(
            second.submit(registry.get("nps"), desk, registry.Filters(period="week"))
        )
    )
    closer = threading.Thread(target=runner_module._close_all)
    closer.start()
    time.sleep(0.2)
    release.set()
    closer.join(30)
    assert not closer.is_alive() and running.done() and queued.cancelled() and late
    assert all(pool._closed for pool in runner_module._POOLS)
    new_pool = second._pool
    assert new_pool is not None and new_pool._closed
    for thread in new_pool._threads:
        thread.join(30)
        assert not thread.is_alive()
