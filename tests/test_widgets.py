"""The widget registry: built-in widgets, and widgets a user registers from a notebook."""

from __future__ import annotations

import pytest

from deskkit import widgets
from deskkit.widgets import Filters, Widget


@pytest.fixture
def clean_registry():
    before = dict(widgets._REGISTRY)
    yield
    widgets._REGISTRY.clear()
    widgets._REGISTRY.update(before)


def test_builtin_widgets_have_both_languages_and_compute_on_the_demo(desk):
    ids = [w.id for w in widgets.widgets()]
    assert "pipeline_flow" in ids
    flow = widgets.get("pipeline_flow")
    assert flow.builtin and flow.size == "large" and flow.follows_pipeline
    assert flow.label("ru") == "Анализ продаж" and flow.label("en") == "Sales analysis"
    result = flow.compute(desk, Filters(period="year"))
    assert result.won == desk.pipeline_flow("year").won
    assert flow.chart(result, currency="RUB").to_dict()["layer"]


def test_a_user_widget_is_listed_and_computes(desk, clean_registry):
    mine = widgets.register(
        Widget(
            id="won_this_period",
            title={"en": "Won", "ru": "Выиграно"},
            compute=lambda d, f: d.pipeline_flow(f.period, f.pipeline, **f.scope).won,
            size="small",
        )
    )
    assert widgets.get("won_this_period") is mine
    assert widgets.widgets()[-1] is mine  # after the built-in ones
    assert mine.compute(desk, Filters(period="year")) == desk.pipeline_flow("year").won
    widgets.unregister("won_this_period")
    with pytest.raises(KeyError, match="no widget 'won_this_period'"):
        widgets.get("won_this_period")


def test_bad_definitions_are_named(clean_registry):
    with pytest.raises(ValueError, match="title missing for ru"):
        Widget("x", {"en": "X"}, compute=lambda d, f: None)
    with pytest.raises(ValueError, match="use letters, digits and underscores"):
        Widget("x y", {"en": "X", "ru": "Х"}, compute=lambda d, f: None)
    with pytest.raises(ValueError, match="size must be"):
        Widget("x", {"en": "X", "ru": "Х"}, compute=lambda d, f: None, size="huge")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="already registered"):
        widgets.register(Widget("pipeline_flow", {"en": "X", "ru": "Х"}, lambda d, f: None))
    with pytest.raises(ValueError, match="built-in"):
        widgets.unregister("pipeline_flow")


@pytest.mark.parametrize("widget", widgets.widgets(), ids=lambda w: w.id)
def test_every_builtin_widget_computes_and_draws_offline(desk, widget):
    import vl_convert as vlc

    result = widget.compute(desk, Filters(period="month"))
    assert result.definition and len(result.definition) > 40
    assert result.sql() and all("SELECT" in text.upper() for text in result.sql().values())
    if widget.chart is not None:
        chart = widget.chart(result, currency=desk.currency)
        assert vlc.vegalite_to_svg(chart.to_dict()).lstrip().startswith("<svg")


def test_list_widgets_have_charts_too(desk):
    import vl_convert as vlc

    from deskkit.charts.files import recent_files_chart, search_chart

    files = desk.recent_files("year")
    spec = recent_files_chart(files).to_dict()
    drawn = sum(row["n"] for row in spec["datasets"][next(iter(spec["datasets"]))])
    assert drawn == len(files.files) > 0
    found = desk.search("contract")
    spec = search_chart(found).to_dict()
    assert sum(row["n"] for row in next(iter(spec["datasets"].values()))) == found.total
    for chart in (recent_files_chart(files), search_chart(found)):
        assert vlc.vegalite_to_svg(chart.to_dict()).lstrip().startswith("<svg")


# Queries that read no record rows: goal definitions (targets) are account settings.
NO_RECORD_ROWS = {("goals", "goals")}


@pytest.mark.parametrize("widget", widgets.widgets(), ids=lambda w: w.id)
def test_every_widget_applies_the_viewer_inside_its_queries(desk, widget):
    """An "own" viewer's id is a filter of every query a widget runs, not a pandas step after."""
    users = desk.users()
    own = int(users.loc[(users["deal_access"] == "own") & users["is_active"], "user_id"].iloc[0])
    result = widget.compute(desk.as_viewer(own), Filters(period="month"))
    for name, sql in result.sql().items():
        if (widget.id, name) not in NO_RECORD_ROWS:
            assert f"IN ({own})" in sql, f"{widget.id}.{name} does not filter by the viewer"
