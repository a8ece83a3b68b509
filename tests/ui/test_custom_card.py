"""The custom-widget card model: headline value, change over the period, drill-downs (now, at
the start, entered, left, per split value) and the split table, for a number and a split."""

from __future__ import annotations

import pytest

import deskkit.custom as custom
from deskkit import widgets as registry
from deskkit.custom import Condition, CustomWidget, Display
from deskkit.ui.card import CardStyle
from deskkit.ui.cards import card_model
from deskkit.ui.cards.custom import kind_of, model_for
from deskkit.ui.i18n import LABELS, rule_text

SEGMENT = "cf:3301002"  # the demo account's "Segment" select on deals
PRODUCT = "cf:3301001"  # its "Product" multiselect
ENTERPRISE = 33010023

NUMBER = CustomWidget(
    id="test_enterprise_deals",
    title={"en": "Enterprise deals", "ru": "Сделки Enterprise"},
    entity="deals",
    conditions=(Condition(SEGMENT, "eq", ENTERPRISE),),
)
SPLIT = CustomWidget(
    id="test_deals_by_product",
    title={"en": "Deals by product", "ru": "Сделки по продуктам"},
    entity="deals",
    conditions=(Condition("stage_kind", "in", ["open"]),),
    display=Display(kind="split", split_by=PRODUCT),
)
BUDGET = CustomWidget(
    id="test_enterprise_budget",
    title={"en": "Enterprise budget", "ru": "Бюджет Enterprise"},
    entity="deals",
    conditions=(Condition(SEGMENT, "eq", ENTERPRISE),),
    display=Display(measure="sum", field="price"),
)


@pytest.fixture(scope="module")
def number(desk):
    return custom.preview(desk, NUMBER, "month")


@pytest.fixture(scope="module")
def split(desk):
    return custom.preview(desk, SPLIT, "month")


def by_label(kpis):
    return {k.label: k for k in kpis}


def test_number_kpis_are_the_value_its_change_and_its_start(number):
    model = model_for(NUMBER.id)
    kpis = by_label(model.kpis(number, None))
    assert list(kpis) == ["custom_value", "custom_change", "custom_at_start"]
    assert kpis["custom_value"].value == number.value
    assert kpis["custom_value"].kind == "count"
    assert kpis["custom_change"].value == number.change == number.value - number.value_at_start
    assert kpis["custom_change"].kind == "score"  # a count's change is signed: +5, −3
    assert kpis["custom_at_start"].value == number.value_at_start
    # Every tile opens records; every label is bilingual.
    assert [k.drill for k in kpis.values()] == ["records", "entered", "start"]
    for k in kpis.values():
        assert set(LABELS[k.label]) == {"en", "ru"}
    for d in model.drills:
        assert set(LABELS[d.label]) == {"en", "ru"}
    assert model.table(number) is None  # a number display has no split table


def test_a_sum_of_budget_is_money(desk):
    r = custom.preview(desk, BUDGET, "month")
    assert kind_of(r) == "money"
    kpis = by_label(model_for(BUDGET.id).kpis(r, None))
    assert kpis["custom_value"].kind == "money" and kpis["custom_change"].kind == "money"
    assert kpis["custom_value"].value == pytest.approx(float(r.value))


def test_number_drills_open_the_records(number):
    model = model_for(NUMBER.id)
    now = model.drill("records").rows(number)
    assert len(now) == min(number.value, 201)
    start = model.drill("start").rows(number)
    assert len(start) == min(number.value_at_start, 201)
    entered = model.drill("entered").rows(number)
    left = model.drill("left").rows(number)
    # What came in minus what went out is the change.
    assert len(entered) - len(left) == number.change
    assert set(entered["deal_id"]).isdisjoint(set(start["deal_id"]))
    menu = model.choices(number, "en")
    assert menu[0] == (f"Records now: {number.value:,}", "records", {})
    assert [key for _, key, _ in menu] == ["records", "start", "entered", "left"]
    ru = model.choices(number, "ru")
    assert ru[2][0] == "Вошли за период"


def test_split_table_and_per_value_drills(split):
    model = model_for(SPLIT.id)
    assert split.split is not None and len(split.split) >= 2
    html = model.table(split)(CardStyle("en", "USD", "UTC"))
    for row in split.split.itertuples():
        assert f"<td>{row.label}</td>" in html
    assert "Change over the period" in html
    # The menu has one entry per split value, opening that value's records.
    menu = model.choices(split, "en")
    per_key = [(text, params) for text, key, params in menu if params]
    assert [p["key"] for _, p in per_key] == list(split.split["label"])  # titles name them
    by_menu = model.drill("records").rows(split, **per_key[1][1])
    second = split.split.iloc[1]
    assert len(by_menu) == min(int(second["value"]), 201)
    first = split.split.iloc[0]
    rows = model.drill("records").rows(split, key=first["key"])
    assert len(rows) == min(int(first["value"]), 201)
    # A clicked bar of the split chart: the same records.
    picked = model.on_mark({"key": str(first["key"]), "label": first["label"]})
    assert picked is not None and picked[0] == "records"
    clicked = model.drill("records").rows(split, **picked[1])  # the chart's key is text
    assert clicked["deal_id"].tolist() == rows["deal_id"].tolist()
    assert model.on_mark({"something": 1}) is None


def test_rule_text_is_the_definition_text(number):
    assert rule_text(number, "en") == number.definition_text
    assert rule_text(number, "ru")  # never the repr of the definition object
    assert "CustomWidget(" not in rule_text(number, "ru")


def test_card_model_resolves_the_custom_family():
    widget = registry.register(custom.as_widget(NUMBER), replace=True)
    try:
        assert widget.family == "custom"
        model = card_model(NUMBER.id)
        assert model.widget_id == NUMBER.id
        assert [d.key for d in model.drills] == ["records", "start", "entered", "left"]
    finally:
        registry.unregister(NUMBER.id)
    # A built-in keeps its own model; an unknown id gets the generic one.
    assert card_model("nps").widget_id == "nps"
    assert [d.key for d in card_model("no_such_widget").drills] == ["records"]
