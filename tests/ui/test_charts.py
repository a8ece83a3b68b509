"""The pipeline-flow chart: a pure, themed, offline-renderable spec of the result."""

from __future__ import annotations

import json
import re

import altair as alt
import pytest

from deskkit.charts import THEME, chart_frame, money, percent, pipeline_flow_chart, signed


@pytest.fixture(scope="module")
def year(desk):
    return desk.pipeline_flow("year")


def test_format_helpers():
    assert money(1234567.8, "RUB") == "1,234,568 ₽"
    assert money(1500, "USD") == "$1,500"
    assert money(-20, "XYZ") == "−20 XYZ"
    assert money(float("nan"), "RUB") == "—"
    assert [signed(v) for v in (3, -2, 0, 1200)] == ["+3", "−2", "0", "+1,200"]
    assert percent(0.456) == "46%" and percent(float("nan")) == "—"


def test_frame_follows_the_stage_table(year, desk):
    frame = chart_frame(year, desk.currency)
    st = year.stages
    assert list(frame["deals"]) == list(st["deals"])
    assert list(frame["order"]) == list(range(1, len(st) + 1))
    assert list(frame["kind"]) == ["open"] * (len(st) - 1) + ["won"]
    assert frame["stage"].iloc[-1] == "Won"
    # The first open stage has no boundary before it; the others show a signed net in.
    assert frame["net_text"].iloc[0] == ""
    assert list(frame["net_text"].iloc[1:]) == [f"net {signed(v)}" for v in st["net_in"].iloc[1:]]
    first = st.iloc[0]
    assert frame["label"].iloc[0] == f"{first['deals']} · {money(first['budget'], desk.currency)}"


def test_chart_layers_encode_deals_in_line_order(year, desk):
    spec = pipeline_flow_chart(year, desk.currency).to_dict()
    assert len(spec["layer"]) == 3  # bars, count+budget labels, net in
    bars = spec["layer"][0]
    assert bars["mark"]["type"] == "bar"
    assert bars["encoding"]["x"]["field"] == "deals"
    assert bars["encoding"]["y"]["sort"] == list(chart_frame(year)["stage"])
    assert bars["encoding"]["color"]["scale"]["domain"] == ["open", "won"]
    tooltips = {t["title"] for t in bars["encoding"]["tooltip"]}
    assert {"Stage", "Deals", "Budget", "Net in", "Lost", "Conversion"} <= tooltips
    data = next(iter(spec["datasets"].values()))
    assert [r["deals"] for r in data] == list(year.stages["deals"])


def test_builder_hard_codes_no_colours(year):
    with alt.theme.enable("default"):
        spec = pipeline_flow_chart(year).to_dict()
    spec.pop("config", None)
    assert not re.search(r"#[0-9a-fA-F]{3,6}\b", json.dumps(spec))


def test_theme_is_registered_and_styles_the_marks(year):
    assert THEME in alt.theme.names()
    with alt.theme.enable(THEME):
        config = pipeline_flow_chart(year).to_dict()["config"]
    assert len(config["range"]["category"]) >= 2
    assert {"dk-value", "dk-note"} <= set(config["style"])


def test_renders_without_internet(year, desk):
    """vl-convert renders in-process with its bundled Vega: no network involved."""
    import vl_convert as vlc

    with alt.theme.enable(THEME):
        svg = vlc.vegalite_to_svg(pipeline_flow_chart(year, desk.currency).to_dict())
    assert svg.lstrip().startswith("<svg")
    first = year.stages.iloc[0]
    assert f"{first['deals']} · {money(first['budget'], desk.currency)}" in svg


def test_empty_period_still_draws(desk):
    second = int(desk.pipelines()["pipeline_id"].iloc[-1])
    today = desk.pipeline_flow("today", second)
    spec = pipeline_flow_chart(today).to_dict()
    assert spec["layer"][0]["encoding"]["x"]["scale"]["domain"][1] > 0
