"""Card models (deskkit.ui.cards): every built-in widget has one; its headline numbers are
labelled in both languages and typed; its summary table is small and labelled; every number in
its "Records…" menu and every chart mark opens records, as many as the number says."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, get_args

import pandas as pd
import pytest

from deskkit import widgets
from deskkit.ui.cards import CARD_LABELS, CARD_MODELS, CardModel, Kpi, card_model
from deskkit.ui.cards._common import LIMIT, LocalTable, head
from deskkit.ui.cards._model import NumberKind
from deskkit.ui.i18n import LABELS, LANGUAGES
from deskkit.widgets import Filters

BUILTIN = [w for w in widgets.widgets() if w.builtin]
KINDS = set(get_args(NumberKind))
#: Period-following widgets that compare with the previous period's result.
COMPARED = {"pipeline_flow", "lead_sources", "recent_files", "overdue_tasks", "payment_counters"}
#: Widgets that look at the account now: no period comparison at all.
NOW = {"deals_by_manager", "deals_without_tasks", "latest_deals", "forecast"}


@pytest.fixture(scope="module")
def result(desk) -> Callable[..., Any]:
    """``result(widget_id, period="month")``: the widget's result, computed once."""
    cache: dict[tuple[str, str], Any] = {}

    def get(widget_id: str, period: Any = "month") -> Any:
        key = (widget_id, repr(period))
        if key not in cache:
            cache[key] = widgets.get(widget_id).compute(desk, Filters(period=period))
        return cache[key]

    return get


def labelled(key: str) -> bool:
    entry = LABELS.get(key) or {}
    return all(entry.get(lang) for lang in LANGUAGES)


def rows_of(model: CardModel, result: Any, key: str, params: dict[str, Any]) -> pd.DataFrame:
    rows = model.drill(key).rows(result, **params)
    assert isinstance(rows, pd.DataFrame), (model.widget_id, key, params)
    assert len(rows) <= LIMIT, (model.widget_id, key, params)
    return rows


def covering(
    choices: list[tuple[str, str, dict[str, Any]]],
) -> list[tuple[str, str, dict[str, Any]]]:
    """The options that between them use every drill-down key, every value of every parameter
    and both an empty and a non-empty count per key: a per-user x per-action menu (activity
    lists ~100) is opened along its rows and columns, not over its whole product (each opening
    is a query of its own shape, compiled anew)."""
    seen: set[tuple[Any, ...]] = set()
    kept = []
    for text, key, params in choices:
        n = shown_count(text)
        features = {("key", key), ("empty", key, n == 0)}
        features |= {("param", key, name, value) for name, value in params.items()}
        if not features <= seen:
            seen |= features
            kept.append((text, key, params))
    return kept


def shown_count(text: str) -> int | None:
    """The count an English option ends with ("Name: 1,234"), None when it shows no count."""
    hit = re.search(r": ([0-9,]+)$", text)
    return int(hit.group(1).replace(",", "")) if hit else None


def kpi(kpis: list[Kpi], label: str) -> Kpi:
    return next(k for k in kpis if k.label == label)


# Registry and labels ----------------------------------------------------------------------------


def test_every_builtin_widget_has_its_own_model():
    missing = [w.id for w in BUILTIN if w.id not in CARD_MODELS]
    assert not missing, f"built-in widgets without a card model: {missing}"
    for w in BUILTIN:
        assert card_model(w.id) is CARD_MODELS[w.id]
        assert CARD_MODELS[w.id].widget_id == w.id
        assert CARD_MODELS[w.id].compare_previous == (w.id in COMPARED)


def test_card_labels_have_both_languages_and_agree_with_the_desktop():
    for key, texts in CARD_LABELS.items():
        assert all(texts.get(lang) for lang in LANGUAGES), key
        # Merged at import; a key the desktop defined first must have the same text.
        assert LABELS[key] == texts, f"label {key!r} differs from deskkit.ui.i18n.LABELS"


# Every model ----------------------------------------------------------------------------------


def _check_value(value: Any, kind: str, where: str) -> None:
    if value is None:
        return
    if kind == "text":
        assert isinstance(value, str), where
    elif kind == "count":
        assert isinstance(value, int) and not isinstance(value, bool), where
    else:
        assert isinstance(value, int | float) and not isinstance(value, bool), where
        assert not math.isnan(value), f"{where}: NaN (use None for a missing number)"
    if kind == "percent" and value is not None:
        assert -10 < value < 10, f"{where}: a percent is a share (0.25 = 25 %)"


@pytest.mark.parametrize("widget", BUILTIN, ids=lambda w: w.id)
def test_kpis_are_labelled_typed_and_open_records(widget, result):
    model, r = CARD_MODELS[widget.id], result(widget.id)
    kpis = model.kpis(r, None)
    assert kpis, "a card shows at least one number"
    drills = {d.key for d in model.drills}
    assert {d.label for d in model.drills} <= set(LABELS)
    for k in kpis:
        where = f"{widget.id}.{k.label}"
        assert labelled(k.label), f"{where}: label not in LABELS with en and ru"
        assert k.kind in KINDS, where
        assert k.better in ("up", "down"), where
        _check_value(k.value, k.kind, where)
        _check_value(k.previous, k.kind, f"{where} (previous)")
        if widget.id in NOW:
            assert k.previous is None, f"{where}: a 'now' number has no previous period"
        if k.drill is not None:
            assert k.drill in drills, where
            rows_of(model, r, k.drill, {})


@pytest.mark.parametrize("widget", BUILTIN, ids=lambda w: w.id)
def test_summary_table_is_small_and_labelled(widget, result, desk):
    """A DataFrame, or a table drawn in the card's language (``f(style) -> HTML``; the
    families' :class:`LocalTable` also keeps its frame); small, with labelled columns."""
    from deskkit.ui.card import CardStyle

    table = CARD_MODELS[widget.id].table(result(widget.id))
    if table is None:
        return
    if callable(table):
        for lang in LANGUAGES:
            html = table(CardStyle(lang, desk.currency, desk.timezone))
            assert isinstance(html, str) and "<table" in html, lang
            assert html.count("<tr") <= 26  # the header and at most 25 rows
        if not isinstance(table, LocalTable):
            return
        frames = [table.frame, *(table.localized(lang) for lang in LANGUAGES)]
    else:
        assert isinstance(table, pd.DataFrame)
        frames = [table]
    for frame in frames:
        assert len(frame) <= 25
        unknown = [c for c in frame.columns if not labelled(str(c))]
        assert not unknown, f"table columns without labels: {unknown}"


def test_head_takes_the_first_rows_of_the_columns_there_are():
    frame = pd.DataFrame(
        {"a": [3, 2, 1], "b": pd.array(["x", None, "z"], dtype="string"), "c": [0.5, None, 2.0]},
        index=[10, 20, 30],
    )
    got = head(frame, ["c", "missing", "a"], rows=2)
    assert list(got.columns) == ["c", "a"] and list(got.index) == [0, 1]
    assert got.equals(frame.loc[:, ["c", "a"]].head(2).reset_index(drop=True))
    assert (got.dtypes == frame.dtypes[["c", "a"]].to_numpy()).all()
    assert head(frame, ["b"], rows=10)["b"].tolist()[::2] == ["x", "z"]  # fewer rows than asked
    assert len(head(frame, ["nothing"])) == 3  # no column: the rows, as .loc gives them
    assert head(frame.iloc[:0], ["a"]).empty
    # A column asked for twice, as .loc gives it.
    assert list(head(frame, ["a", "a"]).columns) == ["a", "a"]


def test_local_tables_translate_their_cells(result, desk):
    nps = CARD_MODELS["nps"].table(result("nps"))
    assert list(nps.localized("ru")["group"]) == ["Промоутеры", "Нейтралы", "Критики"]
    assert list(nps.localized("en")["group"]) == ["Promoters", "Passives", "Detractors"]
    events = CARD_MODELS["events"].table(result("events")).localized("ru")
    assert "Новая задача" in set(events["event_type"])
    pay = CARD_MODELS["payment_counters"].table(result("payment_counters")).localized("ru")
    assert list(pay["counter"]) == ["Ожидают оплаты", "Оплачено"]
    goals = CARD_MODELS["goals"].table(result("goals")).localized("ru")
    assert "Весь аккаунт" in set(goals["scope"])


@pytest.mark.parametrize("widget", BUILTIN, ids=lambda w: w.id)
def test_every_option_opens_as_many_records_as_it_says(widget, result):
    """Both languages list the same drill-downs; each opens, and where the entry shows a
    count, the drill-down has exactly that many rows (up to the cap)."""
    model, r = CARD_MODELS[widget.id], result(widget.id)
    by_lang = {lang: model.choices(r, lang) for lang in LANGUAGES}
    en = by_lang["en"]
    assert en, "every card lists records"
    for lang, choices in by_lang.items():
        assert [(k, p) for _, k, p in choices] == [(k, p) for _, k, p in en], lang
        assert all(isinstance(text, str) and text for text, _, _ in choices), lang
    assert len({(k, tuple(sorted(p.items()))) for _, k, p in en}) == len(en), "duplicates"
    for _, _, params in en:
        hash(tuple(sorted(params.items())))  # the card keys its menu by the params
    for text, key, params in covering(en):
        rows = rows_of(model, r, key, params)
        n = shown_count(text)
        if n is not None and not (widget.id == "goals" and key == "won"):
            assert len(rows) == min(n, LIMIT), (widget.id, text, key, params)


def _chart_rows(widget: widgets.Widget, r: Any, currency: str) -> list[dict[str, Any]]:
    """The rows of every dataset of the widget's chart, as the page gets them."""
    spec = widget.chart(r, currency=currency).to_dict()
    return [row for rows in spec.get("datasets", {}).values() for row in rows]


#: The field of a chart row that is the number its mark draws, for marks that open exactly
#: that many records.
MARK_COUNT = {
    "lead_sources": "deals",
    "nps": "count",
    "recent_files": "n",
    "deals_by_manager": "deals",
    "deals_without_tasks": "without_tasks",
    "forecast": "deals",
    "activity": "count",
    "events": "count",
    "messages": "messages",
    "overdue_tasks": "tasks",
    "payment_counters": "deals",
}


@pytest.mark.parametrize("widget", [w for w in BUILTIN if w.chart], ids=lambda w: w.id)
def test_chart_marks_open_their_records(widget, result, desk):
    model, r = CARD_MODELS[widget.id], result(widget.id)
    rows = _chart_rows(widget, r, desk.currency)
    picked = [(row, model.on_mark(row)) for row in rows]
    opened = [(row, pick) for row, pick in picked if pick is not None]
    assert opened, f"no mark of the {widget.id} chart opens records"
    field = MARK_COUNT.get(widget.id)
    # Marks with something behind them first, a few of each dataset is enough.
    opened.sort(key=lambda rp: -(rp[0].get(field) or 0) if field else 0)
    for row, (key, params) in opened[:6]:
        got = rows_of(model, r, key, params)
        if (
            field is not None
            and field in row
            and not (widget.id == "lead_sources" and row.get("kind") == "won")
        ):
            assert len(got) == min(int(row[field]), LIMIT), (widget.id, row, key, params)


# Previous period ------------------------------------------------------------------------------

#: For the models that compare with the previous period's result: tile -> that result's number.
PREVIOUS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "pipeline_flow": {"new_deals": lambda p: p.new, "won_deals": lambda p: p.won},
    "lead_sources": {
        "deals": lambda p: p.deals,
        "budget": lambda p: p.budget,
        "won_deals": lambda p: p.won,
    },
    "recent_files": {"files": lambda p: p.total},
    "overdue_tasks": {"missed_deadlines": lambda p: p.occurrences},
    "payment_counters": {
        "paid": lambda p: p.value("Paid")[0],
        "paid_budget": lambda p: p.value("Paid")[1],
    },
}


@pytest.mark.parametrize("widget_id", sorted(COMPARED))
def test_compared_models_read_the_previous_result(widget_id, result, desk):
    model = CARD_MODELS[widget_id]
    assert model.compare_previous
    now = result(widget_id)
    prev = result(widget_id, desk.period("month").previous())
    assert prev.period == desk.period("month").previous()
    with_prev = model.kpis(now, prev)
    for k in with_prev:
        _check_value(k.previous, k.kind, f"{widget_id}.{k.label} (previous)")
    for label, number in PREVIOUS[widget_id].items():
        assert kpi(with_prev, label).previous == pytest.approx(number(prev)), label
    # Without the previous result (not arrived yet) no change is shown.
    assert all(k.previous is None for k in model.kpis(now, None))
    # A "now" counter (awaiting payment) is never compared.
    if widget_id == "payment_counters":
        assert kpi(with_prev, "awaiting_payment").previous is None


def test_models_with_their_own_previous_numbers(result):
    a = result("activity")
    k = CARD_MODELS["activity"].kpis(a, None)
    assert (kpi(k, "actions").value, kpi(k, "actions").previous) == (a.total, a.previous_total)
    calls = a.by_type.set_index("type").loc["calls_in"]
    assert (kpi(k, "calls_in").value, kpi(k, "calls_in").previous) == (
        calls["count"],
        calls["previous"],
    )
    n = result("nps")
    k = CARD_MODELS["nps"].kpis(n, None)
    assert kpi(k, "nps").value == pytest.approx(n.score)
    assert kpi(k, "nps").previous == pytest.approx(n.previous_score)
    assert kpi(k, "nps").kind == "score"
    assert kpi(k, "detractors").better == "down"
    u = result("system_usage")
    k = CARD_MODELS["system_usage"].kpis(u, None)
    assert kpi(k, "online_hours").value == pytest.approx(u.hours)
    assert kpi(k, "online_hours").previous == pytest.approx(u.previous_hours)
    m = result("messages")
    k = CARD_MODELS["messages"].kpis(m, None)
    assert (kpi(k, "incoming").value, kpi(k, "incoming").previous) == (
        m.incoming,
        m.previous_incoming,
    )
    assert kpi(k, "outgoing").previous == m.previous_outgoing
    rt = result("response_time")
    k = CARD_MODELS["response_time"].kpis(rt, None)
    assert k[0].label == "mean_s" and k[0].kind == "seconds" and k[0].better == "down"
    assert k[0].value == pytest.approx(rt.mean_s)
    assert k[0].previous == pytest.approx(rt.previous_mean_s)
    assert kpi(k, "unanswered").better == "down"
    g = result("goals")
    head = g.goals.loc[g.goals["scope_kind"] == "all"].iloc[0]
    k = CARD_MODELS["goals"].kpis(g, None)
    assert kpi(k, "goal_percent").value == pytest.approx(head["percent"])
    assert kpi(k, "goal_percent").previous == pytest.approx(head["previous_percent"])


# Exact numbers, family by family ---------------------------------------------------------------


def drill(widget_id: str, r: Any, key: str, **params: Any) -> pd.DataFrame:
    return rows_of(CARD_MODELS[widget_id], r, key, params)


def test_lead_sources_rows_add_up(result):
    r = result("lead_sources")
    for row in r.sources.itertuples():
        sid = "no source" if pd.isna(row.source_id) else int(row.source_id)
        deals = drill("lead_sources", r, "deals", source=sid)
        assert len(deals) == row.deals
        assert deals["price"].fillna(0).sum() == pytest.approx(row.budget)
        won = drill("lead_sources", r, "won", source=sid)
        assert len(won) == row.won
        assert won["price"].fillna(0).sum() == pytest.approx(row.won_budget)


def test_nps_groups_and_previous_period(result):
    r = result("nps")
    for previous, row in ((False, "current"), (True, "previous")):
        for group in ("promoters", "passives", "detractors"):
            got = drill("nps", r, "responses", group=group, previous=previous)
            assert len(got) == r.table.at[row, group]
            assert set(got["group"]) <= {group}
    on_mark = CARD_MODELS["nps"].on_mark({"group": "promoters", "period_key": "previous"})
    assert on_mark == ("responses", {"group": "promoters", "previous": True})


def test_recent_files_uploaders_rank_by_files_then_name():
    """Uploaders by files listed, ties by name with unknown names last; a user's first known
    name counts; files with no uploader are not an uploader."""
    from types import SimpleNamespace

    files = pd.DataFrame(
        {
            "file_id": range(1, 9),
            "entity_type": ["deal"] * 6 + ["contact"] * 2,
            "created_by": [7, 5, 5, None, 9, 9, 7, 3],
            "author": ["Boris", None, "Anna", None, None, None, "Boris", "Zoe"],
        }
    )
    r = SimpleNamespace(files=files, total=8)
    uploaders = [(text, p) for text, key, p in card_model("recent_files").choices(r, "en")]
    uploaders = [(text, p) for text, p in uploaders if "user" in p]
    assert uploaders == [
        ("Anna: 2", {"user": 5}),
        ("Boris: 2", {"user": 7}),
        ("user 9: 2", {"user": 9}),
        ("Zoe: 1", {"user": 3}),
    ]


def test_recent_files_by_uploader_match_the_chart(result, desk):
    r = result("recent_files")
    assert r.total <= len(r.files)  # the month's files are all listed on the test store
    assert len(drill("recent_files", r, "files")) == r.total
    for uid, n in r.files.groupby("created_by").size().items():
        assert len(drill("recent_files", r, "uploader", user=int(uid))) == n


def test_system_usage_sessions_add_up_to_the_hours(result):
    r = result("system_usage")
    checked = 0
    for row in r.users.itertuples():
        for previous, hours in ((False, row.hours), (True, row.previous_hours)):
            got = drill("system_usage", r, "sessions", user=int(row.user_id), previous=previous)
            if len(got) < LIMIT:
                assert got["seconds"].sum() / 3600 == pytest.approx(hours, abs=1e-6)
                checked += 1
    assert checked


def test_workload_rows_add_up(result):
    m = result("deals_by_manager")
    for row in m.managers.itertuples():
        got = drill("deals_by_manager", m, "deals", user=int(row.user_id))
        assert len(got) == row.deals
        assert got["price"].sum() == pytest.approx(row.budget)
    w = result("deals_without_tasks")
    for row in w.by_user.itertuples():
        got = drill("deals_without_tasks", w, "deals", user=int(row.user_id))
        assert len(got) == row.without_tasks
        assert got["price"].sum() == pytest.approx(row.budget)
    latest = result("latest_deals")
    first = int(latest.deals["deal_id"].iloc[0])
    one = drill("latest_deals", latest, "deals", deal=first)
    assert list(one["deal_id"]) == [first]
    assert CARD_MODELS["latest_deals"].on_mark({"deal_id": first}) == ("deals", {"deal": first})


def test_forecast_stages_samples_and_users(result):
    f = result("forecast")
    for row in f.stages.itertuples():
        params = {"pipeline": int(row.pipeline_id), "stage": int(row.stage_id)}
        got = drill("forecast", f, "deals", **params)
        assert len(got) == min(row.deals, LIMIT)
        if row.deals < LIMIT:
            assert got["weighted"].sum() == pytest.approx(row.weighted_budget)
    small = f.stages.loc[(f.stages["basis"] != "none") & (f.stages["basis_sample"] < LIMIT)]
    for row in small.itertuples():
        params = {"pipeline": int(row.pipeline_id)}
        if row.basis == "stage":
            params["stage"] = int(row.stage_id)
        got = drill("forecast", f, "sample", **params)
        assert len(got) == row.basis_sample
        assert got["won"].mean() == pytest.approx(row.probability)
    for row in f.by_user.itertuples():
        assert len(drill("forecast", f, "deals", user=int(row.user_id))) == min(row.deals, LIMIT)


def test_activity_counts_per_user_and_type(result):
    a = result("activity")
    # (Every user and type is also checked through the menu: a sample is enough here.)
    for row in a.counts.sort_values("count", ascending=False).head(6).itertuples():
        got = drill("activity", a, "actions", user=int(row.user_id), type=row.type)
        assert len(got) == min(row.count, LIMIT)
        assert set(got["type"]) == {row.type}
    # A tile per type opens that type's records.
    calls = drill("activity", a, "calls_in")
    assert set(calls["type"]) <= {"calls_in"}
    # The stacked bars are aggregated in the page: the datum may carry only the type's label.
    uid = int(a.counts["user_id"].iloc[0])
    picked = CARD_MODELS["activity"].on_mark({"user_id": uid, "type": "Incoming calls"})
    assert picked == ("actions", {"user": uid, "type": "calls_in"})
    assert CARD_MODELS["activity"].on_mark({"user_id": uid, "total": 3}) == (
        "actions",
        {"user": uid},
    )


def test_events_and_messages_counts(result):
    e = result("events")
    for row in e.counts.itertuples():
        got = drill("events", e, "events", type=row.type)
        assert len(got) == min(row.count, LIMIT)
    m = result("messages")
    for row in m.by_channel.itertuples():
        for direction, n in (("in", row.incoming), ("out", row.outgoing)):
            got = drill("messages", m, "messages", direction=direction, channel=row.channel)
            assert len(got) == min(n, LIMIT)
    for row in m.by_user.itertuples():
        got = drill("messages", m, "outgoing", user=int(row.user_id))
        assert len(got) == min(row.outgoing, LIMIT)
    picked = CARD_MODELS["messages"].on_mark({"channel": "email", "direction": "incoming"})
    assert picked == ("messages", {"direction": "in", "channel": "email"})


def test_response_time_replies_and_unanswered(result):
    rt = result("response_time")
    for row in rt.by_user.itertuples():
        replies = drill("response_time", rt, "replies", user=int(row.user_id))
        assert len(replies) == min(row.replies, LIMIT)
        if 0 < row.replies < LIMIT:
            assert replies["wait_s"].mean() == pytest.approx(row.mean_s)
            assert replies["wait_s"].median() == pytest.approx(row.median_s)
        got = drill("response_time", rt, "unanswered", user=int(row.user_id))
        assert len(got) == row.unanswered


def test_overdue_tasks_per_user_and_fate(result):
    o = result("overdue_tasks")
    for row in o.by_user.head(4).itertuples():
        uid = int(row.user_id)
        assert len(drill("overdue_tasks", o, "occurrences", user=uid)) == row.occurrences
        assert len(drill("overdue_tasks", o, "now", user=uid)) == row.overdue_now
        for fate in ("completed_since", "rescheduled", "still_overdue"):
            got = drill("overdue_tasks", o, "occurrences", user=uid, fate=fate)
            assert len(got) == getattr(row, fate), (uid, fate)
    assert len(drill("overdue_tasks", o, "still_overdue")) == min(
        int(o.by_user["still_overdue"].sum()), LIMIT
    )


def test_goals_rows_are_the_achievement(result):
    g = result("goals")
    assert len(g.goals)
    for row in g.goals.itertuples():
        for previous, amount in ((False, row.achieved), (True, row.previous)):
            got = drill("goals", g, "won", goal=int(row.goal_id), previous=previous)
            assert len(got) < LIMIT
            if row.measure == "won_count":
                assert len(got) == amount
            else:
                assert got["price"].fillna(0).sum() == pytest.approx(amount)
    assert CARD_MODELS["goals"].on_mark({"share": 1.0}) is None  # the target rule


def test_payment_counters_rows_add_up(result):
    p = result("payment_counters")
    for row in p.counters.itertuples():
        got = drill("payment_counters", p, "counter", counter=row.name)
        assert len(got) == min(row.deals, LIMIT)
        if row.deals < LIMIT:
            assert got["price"].fillna(0).sum() == pytest.approx(row.budget)
    tiles = CARD_MODELS["payment_counters"].kpis(p, None)
    assert kpi(tiles, "paid").value == p.value("Paid")[0]
    assert len(drill("payment_counters", p, "paid")) == min(p.value("Paid")[0], LIMIT)


# The card widget ------------------------------------------------------------------------------


def test_a_card_is_one_widget_drawn_in_one_message(result, desk):
    """A card is one widget model (plus its layout), however many numbers it shows; a result
    goes to the page in one message, and an unchanged chart is not sent again."""
    from ipywidgets.widgets import widget as wmod

    from deskkit.ui.card import Card, CardStyle

    before = set(wmod._instances)
    card = Card(widgets.get("pipeline_flow"), CardStyle("en", desk.currency), chart_mode="vega")
    assert len(set(wmod._instances) - before) <= 2  # the card and its Layout
    sent: list[set[str]] = []
    original = card.widget._send
    card.widget._send = lambda msg, buffers=None: (  # type: ignore[method-assign]
        sent.append(set(msg.get("state", {}))),
        original(msg, buffers),
    )
    r = result("pipeline_flow")
    card.show(r)
    assert len(sent) == 1 and {"head", "kpis", "body", "spec", "state"} <= sent[0]
    assert card.widget.state == "" and 'data-k="drawn" data-v="1"' in card.widget.head
    sent.clear()
    card.show(r, result("pipeline_flow", r.period.previous()))  # the comparison arrives
    assert sent == [{"head", "kpis"}]  # the numbers and the stamp, nothing else
    sent.clear()
    card.set_loading()
    card.show(result("pipeline_flow", "month"))  # the same numbers again: no chart is sent
    assert all("spec" not in s for s in sent)
    assert len(wmod._instances) - len(before) <= 2  # and still no widget was made


def test_the_page_writes_nothing_into_a_card(result, desk):
    from deskkit.ui.card import Card, CardStyle

    card = Card(widgets.get("nps"), CardStyle("en", desk.currency), chart_mode="vega")
    card.show(result("nps"))
    body, head = card.widget.body, card.widget.head
    card.widget.set_state({"body": "<script>x()</script>", "head": "", "_esm": "evil"})
    assert (card.widget.body, card.widget.head) == (body, head)
    assert "evil" not in card.widget._esm
