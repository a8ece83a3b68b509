"""Desktop widget logic without a browser: filters drive the card, drill-down, errors."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest

from deskkit.desk import Desk
from deskkit.ui import Desktop, FilterBar, FilterState, PipelineFlowCard, render
from deskkit.ui.tables import records_html

HOOK = re.compile(r'data-k="([^"]+)" data-v="([^"]+)"')


def hooks(html: str) -> dict[str, float]:
    """Every ``data-k``/``data-v`` number in some HTML."""
    return {k: float(v) for k, v in HOOK.findall(html)}


def card_numbers(app: Desktop) -> dict[str, float]:
    card = app.card
    return hooks(card._kpis.value + card._table.value)


def expected(result) -> dict[str, float]:
    """What the card must show for a result: the totals and every stage-table number."""
    out = {"new": result.new, "won": result.won, "lost_total": result.lost_total}
    out["open"] = result.open_deals
    for r in result.stages.itertuples():
        out[f"deals-{r.stage_id}"] = r.deals
        out[f"net-{r.stage_id}"] = r.net_in
        out[f"lost-{r.stage_id}"] = r.lost
    return out


def assert_shows(app: Desktop, result) -> None:
    shown = card_numbers(app)
    want = expected(result)
    # The won row has no "lost" column on the card.
    want.pop(f"lost-{int(result.stages['stage_id'].iloc[-1])}")
    assert {k: shown.get(k) for k in want} == want


@pytest.fixture(scope="module")
def app(desk: Desk) -> Desktop:
    return Desktop(desk, chart_mode="jupyter")


@pytest.fixture(autouse=True)
def _reset(app: Desktop):
    """Each test starts from the default view."""
    app.filters.set_state(FilterState())
    app.refresh()


def other_pipeline(desk: Desk) -> int:
    pipes = desk.pipelines()
    return int(pipes.loc[~pipes["is_main"].astype(bool), "pipeline_id"].iloc[0])


def test_default_view_is_this_month_of_the_main_pipeline(app, desk):
    assert app.state.period == "month"
    assert_shows(app, desk.pipeline_flow("month"))
    assert "Sales pipeline" in app.card._head.value
    assert desk.period("month").label in app.card._head.value


def test_period_and_pipeline_changes_recompute(app, desk):
    seen: list[FilterState] = []
    app.filters.observe(seen.append)
    app.filters.controls["period"].value = "year"
    assert_shows(app, desk.pipeline_flow("year"))
    pid = other_pipeline(desk)
    app.filters.controls["pipeline"].value = pid
    assert_shows(app, desk.pipeline_flow("year", pid))
    assert [s.period for s in seen] == ["year", "year"]
    assert seen[-1].pipeline == pid
    # The chart widget is the same one, with a new chart inside.
    assert app.card._chart.widget.chart is not None


def test_preset_fills_dates_and_editing_a_date_makes_a_custom_range(app, desk):
    controls = app.filters.controls
    controls["period"].value = "quarter"
    quarter = desk.period("quarter")
    assert (controls["start"].value, controls["end"].value) == (
        quarter.first_day,
        quarter.last_day,
    )
    first, last = dt.date(2026, 10, 5), dt.date(2026, 11, 20)
    controls["start"].value = first
    assert controls["period"].value == "custom"
    controls["end"].value = last
    assert app.state.period == (first, last)
    assert_shows(app, desk.pipeline_flow((first, last)))


def test_scope_by_department_and_user(app, desk):
    dept = desk.departments().iloc[0]
    app.filters.controls["scope"].value = ("department", int(dept["group_id"]))
    assert app.state.department == int(dept["group_id"]) and app.state.user is None
    assert_shows(app, desk.pipeline_flow("month", department=int(dept["group_id"])))
    assert str(dept["name"]) in app.card._head.value
    user = desk.users().iloc[1]
    app.filters.controls["scope"].value = ("user", int(user["user_id"]))
    assert app.state.user == int(user["user_id"]) and app.state.department is None
    assert_shows(app, desk.pipeline_flow("month", user=int(user["user_id"])))


def test_render_is_a_pure_call_of_the_desk(desk):
    pid = other_pipeline(desk)
    state = FilterState("year", pipeline=pid)
    got = render(desk, state)
    pd.testing.assert_frame_equal(got.stages, desk.pipeline_flow("year", pid).stages)
    with pytest.raises(AttributeError):
        state.period = "month"  # type: ignore[misc]


def test_drill_down_shows_the_rows_behind_a_number(app, desk):
    result = desk.pipeline_flow("month")
    sid = int(result.stages["stage_id"].iloc[0])
    app.card.drill(("deals", sid))
    html = app.card._records.value
    want = result.records("deals", sid)
    assert hooks(html)["records-total"] == len(want)
    shown_ids = re.findall(r"<tr><td>(\d+)</td>", html)
    assert [int(i) for i in shown_ids] == list(want["deal_id"].head(200))
    app.card.drill(("new", None))
    assert hooks(app.card._records.value)["records-total"] == result.new
    # A new result resets the drill-down.
    app.filters.controls["period"].value = "week"
    assert app.card._records.value == "" and app.card._drill.value is None


def test_drill_down_options_cover_every_number(app, desk):
    keys = {v for _, v in app.card._drill.options if v is not None}
    result = desk.pipeline_flow("month")
    sids = [int(s) for s in result.stages["stage_id"]]
    assert {("new", None), ("won", None), ("lost_total", None)} <= keys
    assert {("deals", s) for s in sids[:-1]} <= keys
    assert {("lost", s) for s in sids[:-1]} <= keys
    assert {("net_in", s) for s in sids[1:]} <= keys


def test_records_table_is_capped_and_escaped():
    frame = pd.DataFrame(
        {"deal_id": range(300), "name": ["<b>x</b>"] * 300, "price": [1000.0] * 300}
    )
    html = records_html(frame, 300, what="deals", currency="RUB", cap=200)
    assert "First 200 of 300 deals" in html
    assert html.count("<tr><td>") == 200
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert "1,000 ₽" in html


def test_a_metric_error_is_shown_on_the_card(app, desk, monkeypatch):
    def broken(self, *args, **kwargs):
        raise RuntimeError("the store went away")

    monkeypatch.setattr(Desk, "pipeline_flow", broken)
    app.filters.controls["period"].value = "year"  # must not raise
    assert "the store went away" in app.card._error.value
    assert app.card._body.layout.display == "none"
    monkeypatch.undo()
    app.filters.controls["period"].value = "month"
    assert app.card._error.value == "" and app.card._body.layout.display is None
    assert_shows(app, desk.pipeline_flow("month"))


def test_from_environment(test_store, monkeypatch):
    user = 0
    from deskkit.desk import open as open_desk

    users = open_desk(test_store.path).users()
    admins = users.loc[users["is_admin"].astype(bool), "user_id"]
    user = int(admins.iloc[0]) if len(admins) else int(users["user_id"].iloc[0])
    env = {
        "DESKKIT_STORE": str(test_store.path),
        "DESKKIT_NOW": test_store.now_iso,
        "DESKKIT_VIEWER": str(user),
    }
    app = Desktop.from_environment(env, chart_mode="svg")
    assert app.desk.now == test_store.now
    assert app.desk.viewer.user_id == user
    assert "<svg" in app.card._chart.widget.value  # the server-side fallback draws too


def test_components_are_exported():
    assert FilterBar and PipelineFlowCard  # the public names of deskkit.ui
