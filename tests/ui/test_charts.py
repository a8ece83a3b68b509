"""The pipeline-flow chart: a pure, themed, offline-renderable spec of the result."""

from __future__ import annotations

import datetime as dt
import json
import re

import altair as alt
import pytest

from deskkit import widgets
from deskkit.charts import THEME, chart_frame, money, percent, pipeline_flow_chart, signed
from deskkit.ui import _charts
from deskkit.ui.card import CardStyle, chart_spec
from deskkit.widgets import Filters


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
    # In line order, by a column of the rows (a list of names would make every new result a
    # new chart to the page, see deskkit.charts._shape).
    assert bars["encoding"]["y"]["sort"] == {"field": "order", "op": "min", "order": "ascending"}
    assert bars["encoding"]["color"]["scale"]["domain"] == ["open", "won"]
    tooltips = {t["title"] for t in bars["encoding"]["tooltip"]}
    assert {"Stage", "Deals", "Budget", "Net in", "Lost", "Conversion"} <= tooltips
    data = next(iter(spec["datasets"].values()))
    assert [r["deals"] for r in data] == list(year.stages["deals"])
    assert [r["order"] for r in data] == sorted(r["order"] for r in data)


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
    # The stages are drawn top to bottom in line order (sorted by the rows' order column).
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    stages = [str(s) for s in chart_frame(year)["stage"]]
    assert [t for t in texts if t in stages] == stages


def test_empty_period_still_draws(desk):
    second = int(desk.pipelines()["pipeline_id"].iloc[-1])
    today = desk.pipeline_flow("today", second)
    spec = pipeline_flow_chart(today).to_dict()
    assert spec["layer"][0]["encoding"]["x"]["scale"]["domainMax"] == {"expr": "dk_top"}
    assert {p["name"]: p["value"] for p in spec["params"]}["dk_top"] > 0


def test_a_chart_with_no_rows_is_not_sent(desk):
    """A period with no deals created: the lead-sources card gets no chart (its table says
    there is no data) rather than an empty frame of axes; with deals it gets one. Pipeline
    flow keeps its stages (rows of zeros), so it is still drawn."""
    from deskkit.filters import Period

    style = CardStyle("en", desk.currency, desk.timezone)
    sources, flow = widgets.get("lead_sources"), widgets.get("pipeline_flow")
    past = Filters(period=Period.between(dt.date(2001, 1, 1), dt.date(2001, 1, 31)))
    empty = sources.compute(desk, past)
    assert empty.deals == 0 and empty.sources.empty
    assert _charts.draws_nothing(sources.chart(empty, currency=desk.currency).to_dict())
    assert chart_spec(sources.chart, empty, style) is None
    full = sources.compute(desk, Filters(period="year"))
    assert chart_spec(sources.chart, full, style) is not None
    assert chart_spec(flow.chart, flow.compute(desk, past), style) is not None


def test_draws_nothing_only_when_every_row_set_is_empty():
    empty = {"datasets": {"a": [], "b": []}, "layer": [{"data": {"name": "a"}}]}
    assert _charts.draws_nothing(empty)
    assert not _charts.draws_nothing({"datasets": {"a": [], "b": [{"x": 1}]}})
    assert not _charts.draws_nothing(
        {"layer": [{"data": {"values": []}}, {"data": {"values": [{"x": 1}]}}]}
    )
    assert _charts.draws_nothing({"layer": [{"data": {"values": []}}]})
    assert not _charts.draws_nothing({"mark": "text"})  # no data at all: a drawing of its own


# The chart widgets (deskkit.ui._charts): the library once per page, clicks back to Python -----


@pytest.fixture
def fake_bundle(tmp_path, monkeypatch):
    """vl-convert's bundler counted and stubbed, the disk cache in tmp_path, no library yet."""
    import vl_convert as vlc

    from deskkit.ui import _charts

    calls: list[str] = []

    def bundle(snippet: str, vl_version: str | None = None) -> str:
        calls.append(vl_version or "")
        return "/* vega, vega-lite, vega-embed */\n" + snippet

    monkeypatch.setattr(vlc, "javascript_bundle", bundle)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(_charts, "_LIBRARY", None)
    _charts.library_bundle.cache_clear()
    yield calls
    _charts.library_bundle.cache_clear()  # later tests build (or read) the real one


def bars() -> alt.Chart:
    import pandas as pd

    frame = pd.DataFrame({"stage": ["First contact", "Won"], "deals": [4, 2]})
    return alt.Chart(frame).mark_bar().encode(x="deals:Q", y="stage:N")


def test_chart_widget_state_is_small_and_carries_no_library():
    from deskkit.ui._charts import ChartView, library_bundle

    view = ChartView("vega")
    view.show(bars())
    state = {k: v for k, v in view.widget.get_state().items() if k != "spec"}
    assert len(json.dumps(state)) < 20_000
    assert len(view.widget._esm.encode()) < 20_000
    # It only waits for the library's global; the library itself is elsewhere.
    assert "deskkitVegaReady" in view.widget._esm
    assert "vega-lite" not in view.widget._esm.lower()
    assert len(library_bundle()) > 500_000  # the real bundle, for scale


def test_library_bundle_is_built_once_per_process_and_kept_on_disk(fake_bundle, tmp_path):
    import vl_convert as vlc

    from deskkit.ui import _charts
    from deskkit.ui._charts import ChartView, library, library_bundle

    ChartView("vega").show(bars())
    assert fake_bundle == []  # charts never need the bundle
    lib = library()
    assert library() is lib and lib._esm == library_bundle()
    assert "globalThis.deskkitVega =" in lib._esm and "deskkitVegaReady" in lib._esm
    assert fake_bundle == ["v" + "_".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])]
    # A new process (the cache cleared) reads the disk copy instead of building again.
    cached = list((tmp_path / "deskkit").glob("vega-bundle-*.js"))
    assert len(cached) == 1 and vlc.__version__ in cached[0].name
    _charts.library_bundle.cache_clear()
    assert library_bundle() == lib._esm
    assert len(fake_bundle) == 1
    # A closed library widget is replaced, not handed out dead.
    lib.close()
    assert library() is not lib


def test_page_widgets_bring_the_library_only_for_vega(fake_bundle):
    from deskkit.ui._charts import library, page_widgets

    assert page_widgets("svg") == []
    assert page_widgets("jupyter") == [library()]
    assert page_widgets("vega")[0].layout.display == "none"


def test_modes_and_the_old_name(monkeypatch):
    from deskkit.ui._charts import ChartView, default_mode

    monkeypatch.delenv("DESKKIT_CHART_MODE", raising=False)
    assert default_mode() == "vega"
    monkeypatch.setenv("DESKKIT_CHART_MODE", "Jupyter")
    assert default_mode() == "vega"
    monkeypatch.setenv("DESKKIT_CHART_MODE", "svg")
    assert default_mode() == "svg" and ChartView().mode == "svg"
    assert ChartView("jupyter").mode == "vega"
    monkeypatch.setenv("DESKKIT_CHART_MODE", "canvas")
    with pytest.raises(ValueError, match="chart mode"):
        default_mode()


def test_show_sets_the_spec_and_none_clears_it():
    from deskkit.ui._charts import ChartView

    view = ChartView("vega")
    widget = view.widget
    chart = bars()
    view.show(chart)
    assert widget.spec == chart.to_dict() and widget.chart is chart
    assert widget.data_fields == {"stage", "deals"}
    view.show(None)
    assert widget.spec is None and widget.chart is None
    assert "dk-chart" in widget._dom_classes


def test_a_click_reaches_the_callback_with_the_data_row():
    from deskkit.ui._charts import ChartView

    view = ChartView("vega")
    view.show(bars())
    got: list[dict] = []
    view.on_click(got.append)
    # What the ESM sends: the datum as vega holds it, with the fields vega added.
    datum = {
        "stage": "Won",
        "deals": 2,
        "deals_start": 0,
        "deals_end": 2,
        "_vgsid_": 7,
        "y_stage_sort_index": 1,
    }
    view.widget.set_state({"_click": {"n": 1, "datum": datum}})
    assert got == [{"stage": "Won", "deals": 2}]
    view.widget.set_state({"_click": {"n": 2, "datum": datum}})  # the same bar again
    assert len(got) == 2
    view.on_click(got.append, remove=True)
    view.widget.set_state({"_click": {"n": 3, "datum": datum}})
    assert len(got) == 2


def test_the_page_can_write_nothing_but_a_click():
    from deskkit.ui._charts import ChartView

    view = ChartView("vega")
    view.show(bars())
    esm, spec = view.widget._esm, view.widget.spec
    view.widget.set_state({"_esm": "alert(1)", "spec": {"mark": "point"}, "_css": "x"})
    assert view.widget._esm == esm and view.widget.spec == spec


def test_clean_datum_keeps_json_scalars_only():
    from deskkit.ui._charts import clean_datum, data_fields

    row = {"a": 1, "b": "x", "c": None, "d": True, "e": float("nan"), "f": [1], "_vgsid_": 2}
    assert clean_datum(row) == {"a": 1, "b": "x", "c": None, "d": True, "e": None}
    assert clean_datum(row, frozenset({"a"})) == {"a": 1}
    assert clean_datum(["not", "a", "row"]) == {}
    layered = alt.layer(bars(), bars().mark_text()).to_dict()
    inline = {"data": {"values": [{"x": 1}, {"y": 2}]}, "mark": "point"}
    assert data_fields(layered) == {"stage", "deals"}
    assert data_fields(inline) == {"x", "y"}
    # Fields that transforms add by name are the chart's too (a layer's "kind", a total).
    calculated = (
        bars()
        .transform_calculate(kind="'won'")
        .transform_aggregate(total="sum(deals)", groupby=["stage", "kind"])
    )
    assert data_fields(calculated.to_dict()) == {"stage", "deals", "kind", "total"}


def test_svg_mode_renders_svg_on_the_server():
    from deskkit.ui._charts import ChartView

    view = ChartView("svg")
    view.show(bars())
    assert view.widget.value.lstrip().startswith("<svg") and "First contact" in view.widget.value
    view.on_click(lambda datum: None)  # accepted, never called: svg has no clicks
    view.show(None)
    assert view.widget.value == ""


# Chart language ---------------------------------------------------------------------------------


def _titles(node: object, out: list[str]) -> list[str]:
    """Every axis, legend, tooltip and chart title of a spec (encodings and properties)."""
    if isinstance(node, list):
        for item in node:
            _titles(item, out)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "title" and isinstance(value, str) and value:
                out.append(value)
            elif key != "datasets":
                _titles(value, out)
    return out


def test_every_builtin_chart_speaks_russian(desk):
    """Each built-in chart builder takes ``lang``; in Russian its axis, legend, tooltip and
    chart titles are Russian."""
    import inspect

    from deskkit import widgets

    alt.theme.enable(THEME)
    for widget in [w for w in widgets.widgets() if w.builtin and w.chart]:
        result = widget.compute(desk, widgets.Filters(period="year"))
        en = _titles(widget.chart(result, currency=desk.currency).to_dict(), [])
        ru = _titles(widget.chart(result, currency=desk.currency, lang="ru").to_dict(), [])
        assert len(en) == len(ru) and en, widget.id
        for text in ru:  # names (users, stages) may be Latin, but every title has Russian
            assert re.search("[а-яё]", text.lower()), (widget.id, text)
        assert ru != en, widget.id
    from deskkit.charts import (
        activity,
        files,
        goals,
        nps,
        payments,
        sources,
        tasks,
        usage,
        workload,
    )

    for module in (activity, files, goals, nps, payments, sources, tasks, usage, workload):
        for name, fn in vars(module).items():
            if name.endswith("_chart") and callable(fn):
                assert "lang" in inspect.signature(fn).parameters, name
    assert "lang" in inspect.signature(pipeline_flow_chart).parameters


def test_pipeline_flow_tooltips_and_axis_in_russian(year, desk):
    spec = pipeline_flow_chart(year, desk.currency, lang="ru").to_dict()
    bars = next(layer for layer in spec["layer"] if "tooltip" in layer.get("encoding", {}))
    tips = [t["title"] for t in bars["encoding"]["tooltip"]]
    assert tips == ["Этап", "Сделки", "Бюджет", "Чистый приток", "Потерянные", "Конверсия"]
    assert "Сделки на конец периода" in json.dumps(spec, ensure_ascii=False)
    assert "Успешно" in chart_frame(year, desk.currency, "ru")["stage"].tolist()
    english = pipeline_flow_chart(year, desk.currency).to_dict()
    assert "Deals at the end of the period" in json.dumps(english)


def test_chart_builders_pass_typed_channels(desk, monkeypatch):
    """A bare shorthand string, ``alt.value`` or ``alt.datum`` in ``encode`` makes Altair look
    the channel up with ``from_dict``, which hashes its whole schema (about 6 ms a channel,
    a quarter of the charts' drawing time on the kernel): builders use alt.X, alt.Text, ..."""
    from altair.utils import schemapi

    from deskkit import widgets

    looked_up: list[object] = []
    original = schemapi.SchemaBase.from_dict.__func__

    def from_dict(cls, dct, *args, **kwargs):
        looked_up.append(dct)
        return original(cls, dct, *args, **kwargs)

    monkeypatch.setattr(schemapi.SchemaBase, "from_dict", classmethod(from_dict))
    for w in widgets.widgets():
        if w.builtin and w.chart:
            for lang in ("en", "ru"):
                w.chart(w.compute(desk, widgets.Filters("month")), currency="RUB", lang=lang)
    assert looked_up == []


def test_layered_charts_carry_their_data_once(desk):
    """Layers that draw one frame get it from the layer chart, not each its own: Altair hashes
    the whole spec of every layer that brings data (to name it), about a third of a card's
    chart time. (Layers drawing different frames, such as the goals' target line, keep
    their own.)"""
    import altair as alt

    from deskkit import widgets

    for w in widgets.widgets():
        if w.builtin and w.chart:
            chart = w.chart(w.compute(desk, widgets.Filters("month")), currency="RUB")
            if isinstance(chart, alt.LayerChart):
                own = [id(layer.data) for layer in chart.layer if layer.data is not alt.Undefined]
                assert len(set(own)) == len(own), w.id  # no frame given to two layers


# A new result redraws in place (deskkit.charts._shape) ----------------------------------------


def _structure(spec: dict) -> str:
    """What the page compares between two specs to draw the second into the view of the first
    (``newRows`` in ``deskkit.ui._charts.CHART_JS``): everything but the rows, with datasets
    named by position and plain params' values left out."""
    names = list(spec.get("datasets") or {})
    params = [
        {**p, "value": None} if "value" in p and not {"select", "bind", "expr"} & set(p) else p
        for p in spec.get("params", [])
    ]
    text = json.dumps({**spec, "datasets": None, "params": params}, sort_keys=True)
    for i, name in enumerate(names):
        text = text.replace(json.dumps(name), f'"#{i}"')
    return text


def test_shape_layer_writes_the_spec_add_params_writes():
    """Builders put their plain params on the layer chart at once (add_params copies the
    whole chart twice over): the spec must be the same, params lifted to the top level."""
    import pandas as pd

    from deskkit.charts import _shape

    frame = _shape.ordered(pd.DataFrame({"n": [3, 1], "who": ["a", "b"]}))
    base = alt.Chart().encode(y=alt.Y("who:N", sort=_shape.by_order()))
    bars = base.mark_bar().encode(x=alt.X("n:Q", scale=_shape.top_scale()))
    text = base.mark_text().encode(x=alt.X("n:Q", scale=_shape.top_scale()), text="n:Q")
    title, value = _shape.title("4 deals")
    kwargs = {"data": frame, "width": 200, "height": alt.Step(12), "title": title}
    ours = _shape.layer(bars, text, values=(_shape.top(4.5), value), **kwargs).to_dict()
    theirs = alt.layer(bars, text, **kwargs).add_params(_shape.top(4.5), value).to_dict()
    assert ours == theirs
    assert [p["name"] for p in ours["params"]] == ["dk_top", "dk_title"]
    assert all("params" not in layer for layer in ours["layer"])


def test_shape_layer_is_altair_layer_with_shallow_copies_of_its_layers():
    """Layering lifts data, params and sizes out of the layers: the same chart as Altair's
    own, whose layers are plain charts again (a deep copy of it is deep)."""
    import pandas as pd

    from deskkit.charts import _shape

    frame = pd.DataFrame({"n": [3, 1], "who": ["a", "b"]})
    pick = alt.selection_point(fields=["who"], name="pick")
    cases = {
        "data on the layers, sizes on one": lambda: [
            alt.Chart(frame).mark_bar().encode(x="n:Q", y="who:N").properties(width=150),
            alt.Chart(frame).mark_text().encode(x="n:Q", y="who:N", text="n:Q"),
        ],
        "a selection on a layer": lambda: [
            alt.Chart(frame).mark_bar().encode(x="n:Q", y="who:N").add_params(pick),
            alt.Chart(frame).mark_rule().encode(x="mean(n):Q"),
        ],
        "a layer chart inside": lambda: [
            alt.Chart(frame).mark_bar().encode(x="n:Q"),
            alt.layer(alt.Chart(frame).mark_tick().encode(x="n:Q")),
        ],
    }
    for name, make in cases.items():
        ours = _shape.layer(*make(), height=alt.Step(12))
        theirs = alt.layer(*make(), height=alt.Step(12))
        assert ours.to_dict() == theirs.to_dict(), name
        assert all(type(c) in (alt.Chart, alt.LayerChart) for c in ours.layer), name
    ours = _shape.layer(*cases["data on the layers, sizes on one"]())
    again = ours.copy()  # Altair's deep copy
    again.layer[0].encoding.x.title = "changed"
    assert "title" not in ours.to_dict()["layer"][0]["encoding"]["x"]


def test_spec_dict_is_to_dict_for_every_builtin_chart(desk):
    """The desktop's faster conversion gives each built-in card's spec exactly, in both
    languages, for a month and a department's year."""
    from deskkit import widgets as registry
    from deskkit.ui._charts import spec_dict
    from deskkit.ui.card import CardStyle, _call_chart
    from deskkit.widgets import Filters

    department = int(desk.departments()["group_id"].iloc[0])
    layered = 0
    for filters in (Filters(period="month"), Filters(period="year", department=department)):
        for widget in registry.widgets():
            if not (widget.builtin and widget.chart):
                continue
            result = widget.compute(desk, filters)
            for lang in ("en", "ru"):
                chart = _call_chart(widget.chart, result, CardStyle(lang, "RUB", "UTC"))
                if chart is None:
                    continue
                assert spec_dict(chart) == chart.to_dict(validate=False), (widget.id, lang)
                layered += type(chart) is alt.LayerChart
    assert layered >= 20  # most cards' charts are layered: the fast path was taken


def test_the_page_compares_specs_as_this_test_does():
    """The mirror above follows the page's rule: rows and plain params' values are data."""
    from deskkit.ui._charts import CHART_JS

    assert "const params = s.params?.map((p) => (isValue(p) ? { ...p, value: null } : p));" in (
        CHART_JS
    )
    assert '"value" in p && !p.select && !p.bind && !p.expr' in CHART_JS


@pytest.mark.parametrize(
    "widget", [w for w in widgets.widgets() if w.chart is not None], ids=lambda w: w.id
)
def test_a_filter_change_changes_only_rows_and_values(desk, widget):
    """Each built-in chart's spec keeps its structure across periods, departments and users
    (sort lists, heights, scale ends or titles taken from the data would make the page embed
    the chart anew on every change), and still shows the new numbers."""
    users = desk.users()
    department = int(users["group_id"].dropna().iloc[0])
    user = int(users.loc[users["is_active"], "user_id"].iloc[-1])
    states = [
        Filters(period="month"),
        Filters(period="week", department=department),
        Filters(period="quarter", user=user),
        Filters(period="year"),
    ]
    style = CardStyle(lang="ru", currency=desk.currency)
    specs = [chart_spec(widget.chart, widget.compute(desk, f), style) for f in states]
    assert {_structure(s) for s in specs} == {_structure(specs[0])}
    if widget.id in ("pipeline_flow", "deals_by_manager", "activity", "overdue_tasks"):
        rows = [json.dumps(list(s["datasets"].values()), sort_keys=True) for s in specs]
        assert len(set(rows)) > 1  # the numbers did change: the check above means something
