"""Definitions: round trips through dicts, JSON and YAML, and every way a definition is
rejected — with the field's path and the problem, before any query runs."""

from __future__ import annotations

import json

import pytest
from custom_account import INJECTION

from deskkit.custom import Condition, CustomWidget, DefinitionError, Display, fields, parse

GOOD = {
    "id": "product_split",
    "title": {"en": "Open deals by product", "ru": "Открытые сделки по продуктам"},
    "entity": "deals",
    "conditions": [
        {"field": "stage_kind", "op": "in", "value": ["open", "unsorted"]},
        {"field": "cf:Product", "op": "contains", "value": ["A", "B"]},
        {"field": "created_at", "op": "last_days", "value": 30},
        {"field": "has_open_task", "op": "is", "value": False},
        {"field": "closed_at", "op": "is_not_set"},
    ],
    "display": {"kind": "split", "measure": "sum", "field": "price", "split_by": "cf:Product"},
    "size": "medium",
}


def test_round_trips():
    w = CustomWidget.from_dict(GOOD)
    assert w.to_dict() == GOOD
    assert CustomWidget.from_json(w.to_json()) == w
    assert CustomWidget.from_yaml(w.to_yaml()) == w
    assert parse(w.to_json()) == parse(w.to_yaml()) == parse(GOOD) == w
    assert hash(w) == hash(CustomWidget.from_dict(json.loads(w.to_json())))
    assert w.title["ru"] == "Открытые сделки по продуктам"
    # A plain title serves both languages.
    assert dict(CustomWidget("x", "Only English", "tasks").title) == {
        "en": "Only English",
        "ru": "Only English",
    }


def test_definitions_are_immutable():
    w = CustomWidget.from_dict(GOOD)
    with pytest.raises(AttributeError):
        w.entity = "tasks"  # type: ignore[misc]
    with pytest.raises(TypeError):
        w.title["en"] = "changed"  # type: ignore[index]
    assert isinstance(w.conditions[0].value, tuple)


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"entity": "leads"}, "entity", "not one of"),
        ({"id": "has space"}, "id", "letters, digits"),
        ({"id": INJECTION}, "id", "letters, digits"),
        ({"size": "huge"}, "size", "small, medium or large"),
        ({"colour": "red"}, "colour", "unknown key"),
        ({"title": {"ru": "только"}}, "title.en", "required"),
        (
            {"conditions": [{"field": "price", "op": "like", "value": 1}]},
            "conditions[0].op",
            "unknown operator",
        ),
        ({"conditions": [{"field": "price"}]}, "conditions[0].op", "required"),
        (
            {"conditions": [{"field": "price", "op": "eq", "value": 1, "x": 1}]},
            "conditions[0].x",
            "unknown key",
        ),
        (
            {"conditions": [{"field": "price; DROP TABLE deals", "op": "eq"}]},
            "conditions[0].field",
            "not a field name",
        ),
        ({"conditions": "price > 1"}, "conditions", "list of conditions"),
        ({"display": {"kind": "pie"}}, "display.kind", "number or split"),
        ({"display": {"measure": "max"}}, "display.measure", "count, sum or mean"),
        ({"display": {"measure": "sum"}}, "display.field", "needs a numeric field"),
        ({"display": {"kind": "split"}}, "display.split_by", "needs a field"),
        ({"display": {"split_by": "cf:Product"}}, "display.split_by", "only a split"),
    ],
)
def test_structure_errors(change, field, problem):
    with pytest.raises(DefinitionError) as err:
        CustomWidget.from_dict({**GOOD, **change})
    assert err.value.field == field
    assert problem in err.value.problem
    assert field in str(err.value) and problem in str(err.value)


def test_unreadable_text():
    with pytest.raises(DefinitionError, match="not valid JSON"):
        CustomWidget.from_json("{'id': ")
    with pytest.raises(DefinitionError, match="not valid YAML"):
        CustomWidget.from_yaml("id: [unclosed")
    with pytest.raises(DefinitionError, match="must be a mapping"):
        CustomWidget.from_yaml("- just\n- a list\n")


def _one(entity, field, op, value=None, display=None):
    return CustomWidget("t", "T", entity, (Condition(field, op, value),), display or Display())


@pytest.mark.parametrize(
    ("entity", "cond", "where", "problem"),
    [
        ("deals", ("budget", "gt", 1), "conditions[0].field", "unknown field 'budget'"),
        ("deals", ("cf:Colour", "eq", "red"), "conditions[0].field", "unknown custom field"),
        ("deals", ("cf:999", "eq", "red"), "conditions[0].field", "unknown custom field"),
        ("deals", (f"cf:{INJECTION}", "eq", 1), "conditions[0].field", "unknown custom field"),
        ("contacts", ("cf:Product", "in", ["A"]), "conditions[0].field", "unknown custom field"),
        ("tasks", ("stage", "eq", [1, 13]), "conditions[0].field", "unknown field"),
        ("deals", ("price", "contains", "1"), "conditions[0].op", "does not apply to Budget"),
        ("deals", ("cf:Product", "gt", 1), "conditions[0].op", "does not apply"),
        ("deals", ("has_open_task", "eq", True), "conditions[0].op", "does not apply"),
        ("events", ("event_type", "overdue"), "conditions[0].op", "does not apply"),
        ("deals", ("price", "gt", "100"), "conditions[0].value", "is a number"),
        ("deals", ("price", "gt", True), "conditions[0].value", "is a number"),
        ("deals", ("price", "between", [5, 1]), "conditions[0].value", "after"),
        ("deals", ("price", "in", []), "conditions[0].value", "empty"),
        ("deals", ("price", "eq", [1, 2]), "conditions[0].value", "one value"),
        ("deals", ("name", "eq", 5), "conditions[0].value", "is text"),
        (
            "deals",
            ("created_at", "between", ["2026-01-01", "soon"]),
            "conditions[0].value",
            "not a date",
        ),
        ("deals", ("created_at", "last_days", "30"), "conditions[0].value", "whole number"),
        ("deals", ("created_at", "in_period", 3), "conditions[0].value", "takes no value"),
        ("deals", ("has_open_task", "is", "no"), "conditions[0].value", "true or false"),
        ("deals", ("cf:Product", "in", ["Z"]), "conditions[0].value", "unknown value 'Z'"),
        ("deals", ("cf:Segment", "eq", 1001), "conditions[0].value", "unknown value 1001"),
        ("deals", ("cf:Segment", "eq", INJECTION), "conditions[0].value", "unknown value"),
        ("deals", ("stage", "eq", [1, 99]), "conditions[0].value", "no stage"),
        ("deals", ("stage", "eq", "Nowhere"), "conditions[0].value", "is not a stage"),
        ("deals", ("responsible", "eq", 42), "conditions[0].value", "unknown value 42"),
        ("deals", ("responsible", "eq", 1.5), "conditions[0].value", "not a user"),
        ("deals", ("department", "in", ["East"]), "conditions[0].value", "unknown value 'East'"),
        ("deals", ("pipeline", "eq", 7), "conditions[0].value", "unknown value 7"),
        ("deals", ("stage_kind", "eq", "closed"), "conditions[0].value", "unknown value"),
        ("events", ("event_type", "eq", "no_such_event"), "conditions[0].value", "unknown value"),
        ("tasks", ("task_type", "in", [INJECTION]), "conditions[0].value", "unknown value"),
    ],
)
def test_account_errors(tiny, entity, cond, where, problem):
    with pytest.raises(DefinitionError) as err:
        _one(entity, *cond).validate(tiny)
    assert err.value.field == where
    assert problem in err.value.problem, err.value.problem


@pytest.mark.parametrize(
    ("display", "where", "problem"),
    [
        (Display(measure="sum", field="name"), "display.field", "not a number"),
        (Display(measure="sum", field="cf:Segment"), "display.field", "not a number"),
        (Display(measure="mean", field="nope"), "display.field", "unknown field"),
        (Display(kind="split", split_by="price"), "display.split_by", "split by a select"),
        (Display(kind="split", split_by="cf:Seats"), "display.split_by", "split by a select"),
        (Display(kind="split", split_by="cf:Nope"), "display.split_by", "unknown custom field"),
    ],
)
def test_display_errors(tiny, display, where, problem):
    with pytest.raises(DefinitionError) as err:
        CustomWidget("t", "T", "deals", (), display).validate(tiny)
    assert (err.value.field, problem in err.value.problem) == (where, True), err.value.problem


def test_errors_come_before_any_query(tiny, monkeypatch):
    """An invalid definition never reaches the engine: the store's tables are not asked for."""
    tiny.custom(_one("deals", "price", "gt", 1))  # warm the field catalog
    asked = []
    store = tiny.store
    original = type(store).table
    monkeypatch.setattr(
        type(store), "table", lambda s, name: asked.append(name) or original(s, name)
    )
    with pytest.raises(DefinitionError):
        tiny.custom(_one("deals", "price", "gt", "1 OR 1=1"))
    assert asked == []


def test_validation_normalises(tiny):
    w = CustomWidget(
        "t",
        "T",
        "deals",
        (
            Condition("cf:product", "in", ["a", 1002]),
            Condition("responsible", "in", ["Anna", "2"]),
            Condition("stage", "in", ["Sales: C", [1, 11]]),
            Condition("department", "eq", "south"),
            Condition("created_at", "between", ["2026-11-01", "2026-11-30T10:00"]),
        ),
        Display(kind="split", split_by="cf:Delivery"),
    )
    v = w.validate(tiny)
    assert [c.field for c in v.conditions] == [
        "cf:100",
        "responsible",
        "stage",
        "department",
        "created_at",
    ]
    assert [c.value for c in v.conditions] == [
        (1001, 1002),
        (1, 2),
        ((1, 13), (1, 11)),
        2,
        ("2026-11-01", "2026-11-30"),
    ]
    assert v.display.split_by == "cf:102"
    assert tiny.custom(w).value == tiny.custom(v).value
    assert w.conditions[0].field == "cf:product"  # the original is unchanged


def test_fields_catalog(tiny):
    deals = fields(tiny, "deals").set_index("field")
    assert list(fields(tiny, "deals").columns) == ["field", "label", "type", "ops", "choices"]
    assert deals.loc["cf:100", ["label", "type"]].tolist() == ["Product", "multiselect"]
    assert deals.loc["cf:100", "choices"] == [(1001, "A"), (1002, "B"), (1003, "C")]
    assert deals.loc["cf:103", "type"] == "bool"
    assert "in_period" in deals.loc["created_at", "ops"]
    assert deals.loc["has_open_task", "ops"] == ("is",)
    assert ((1, 13), "Sales: C") in deals.loc["stage", "choices"]
    assert "overdue" in fields(tiny, "tasks").set_index("field").loc["deadline", "ops"]
    events = fields(tiny, "events").set_index("field")
    assert [k for k, _ in events.loc["event_type", "choices"]] == [
        "lead_added",
        "lead_status_changed",
        "task_completed",
    ]
    assert "cf:200" in set(fields(tiny, "contacts").field)
    with pytest.raises(DefinitionError, match="entity"):
        fields(tiny, "leads")
