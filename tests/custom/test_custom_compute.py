"""Conditions on every field type, measures and the multiselect split, on the tiny account
(tests/custom/conftest.py): every expected number is counted by hand from its rows."""

from __future__ import annotations

import pytest
from custom_account import INJECTION

from deskkit.custom import Condition, CustomWidget, Display

C = Condition


def run(desk, entity, *conds, display=None, period="month", **scope):
    w = CustomWidget("t", "T", entity, tuple(conds), display or Display())
    return desk.custom(w, period, **scope)


def ids(frame, col="deal_id"):
    return sorted(frame[col].tolist())


# (entity, conditions, value now, value at the period's start)
CASES = [
    # Plain columns and existence: deal 4 is deleted, deal 6 is created after now.
    ("deals", (), 4, 3),
    ("deals", (C("price", "gt", 150),), 3, 2),
    ("deals", (C("price", "between", [100, 200]),), 2, 2),
    ("deals", (C("price", "in", [100, 500]),), 2, 2),
    ("deals", (C("price", "ne", 100),), 3, 2),
    ("deals", (C("name", "contains", "deal 3"),), 1, 0),
    ("deals", (C("name", "eq", "Deal 1"),), 1, 1),
    # Stage and pipeline as of each moment (deal 1 moved A -> C, deal 2 C -> won on 11-12).
    ("deals", (C("stage", "eq", [1, 13]),), 2, 1),
    ("deals", (C("stage", "in", [[1, 11], [1, 13]]),), 2, 2),
    ("deals", (C("stage", "not_in", [[1, 13]]),), 2, 2),
    ("deals", (C("stage", "eq", "Sales: C"),), 2, 1),
    ("deals", (C("stage_kind", "eq", "won"),), 1, 0),
    ("deals", (C("stage_kind", "in", ["open", "unsorted"]),), 3, 3),
    ("deals", (C("pipeline", "eq", 2),), 1, 1),
    ("deals", (C("pipeline", "eq", "Sales"),), 3, 2),
    # Users and departments (North = users 1, 2; South = user 3).
    ("deals", (C("responsible", "eq", 1),), 1, 1),
    ("deals", (C("responsible", "in", ["Boris", "Vera"]),), 3, 2),
    ("deals", (C("responsible", "ne", 1),), 3, 2),
    ("deals", (C("department", "eq", "North"),), 3, 3),
    ("deals", (C("department", "not_in", [1]),), 1, 0),
    ("deals", (C("created_by", "eq", 3),), 1, 0),
    # Dates relative to the period, known only once they happened.
    ("deals", (C("created_at", "in_period"),), 1, 0),
    ("deals", (C("created_at", "before_period"),), 3, 3),
    ("deals", (C("created_at", "last_days", 30),), 1, 1),  # deal 3 now; deal 2 at the start
    ("deals", (C("created_at", "between", ["2026-10-01", "2026-10-01"]),), 2, 2),
    ("deals", (C("created_at", "ge", "2026-10-05"),), 2, 1),
    ("deals", (C("closed_at", "in_period"),), 1, 0),
    ("deals", (C("closed_at", "is_set"),), 1, 0),
    ("deals", (C("closed_at", "is_not_set"),), 3, 3),
    # Tags: any of / none of / all of / set / empty.
    ("deals", (C("tag", "in", ["vip"]),), 2, 2),
    ("deals", (C("tag", "eq", "tender"),), 1, 0),
    ("deals", (C("tag", "contains", ["vip", "urgent"]),), 1, 1),
    ("deals", (C("tag", "not_in", ["vip"]),), 2, 1),
    ("deals", (C("tag", "is_set"),), 3, 2),
    ("deals", (C("tag", "is_not_set"),), 1, 1),
    # Multiselect (Product): deal 1 = A+B, deal 2 = B, deal 3 none, deal 5 = C.
    ("deals", (C("cf:Product", "in", ["A"]),), 1, 1),
    ("deals", (C("cf:100", "in", [1001, 1003]),), 2, 2),
    ("deals", (C("cf:Product", "contains", ["A", "B"]),), 1, 1),
    ("deals", (C("cf:Product", "not_in", ["B"]),), 2, 1),
    ("deals", (C("cf:Product", "is_not_set"),), 1, 0),
    ("deals", (C("cf:Product", "is_set"),), 3, 3),
    # Select and radiobutton; "ne" includes deals without a value.
    ("deals", (C("cf:Segment", "eq", "Small"),), 2, 1),
    ("deals", (C("cf:Segment", "ne", "Small"),), 2, 2),
    ("deals", (C("cf:Delivery", "in", ["Courier"]),), 1, 1),
    ("deals", (C("cf:Delivery", "is_not_set"),), 2, 1),
    # Checkbox, numeric, date and text custom fields.
    ("deals", (C("cf:Prepaid", "is", True),), 2, 1),
    ("deals", (C("cf:Prepaid", "is", False),), 2, 2),
    ("deals", (C("cf:Seats", "gt", 6),), 2, 1),
    ("deals", (C("cf:Seats", "between", [1, 5]),), 2, 2),
    ("deals", (C("cf:Seats", "le", 20.5),), 4, 3),
    ("deals", (C("cf:Contract date", "in_period"),), 1, 1),
    ("deals", (C("cf:Contract date", "before_period"),), 1, 0),
    ("deals", (C("cf:Contract date", "between", ["2026-10-01", "2026-10-31"]),), 1, 0),
    ("deals", (C("cf:Order number", "contains", "ab-"),), 1, 1),
    ("deals", (C("cf:Order number", "eq", INJECTION),), 1, 1),
    ("deals", (C("cf:Order number", "is_not_set"),), 2, 1),
    # "Has no open task" as of each moment (task 1 on deal 1 completed 11-15).
    ("deals", (C("has_open_task", "is", False),), 1, 0),
    ("deals", (C("has_open_task", "is", True),), 3, 3),
    # Several conditions: all must hold.
    ("deals", (C("stage_kind", "eq", "open"), C("has_open_task", "is", False)), 1, 0),
    # Tasks: 5 is on the deleted deal; 4's deadline moved from 10-25 to 12-10 on 11-03; 7 and 8
    # (on a company and a customer) were created during the period.
    ("tasks", (), 7, 4),
    ("tasks", (C("is_completed", "is", False),), 6, 4),
    ("tasks", (C("is_completed", "is", True),), 1, 0),
    ("tasks", (C("deadline", "overdue"),), 2, 2),
    ("tasks", (C("deadline", "in_period"),), 2, 1),
    ("tasks", (C("deadline", "lt", "2026-11-01"),), 1, 2),
    ("tasks", (C("task_type", "eq", "call"),), 3, 2),
    ("tasks", (C("task_type", "in", ["meeting", "letter"]),), 2, 2),
    ("tasks", (C("responsible", "eq", 2),), 2, 2),
    ("tasks", (C("department", "eq", "South"),), 1, 0),
    ("tasks", (C("entity_type", "eq", "contact"),), 1, 1),
    ("tasks", (C("completed_at", "in_period"),), 1, 0),
    ("tasks", (C("text", "contains", "task 3"),), 1, 0),
    # Events: e5 is on a deleted deal; e6 is a robot's; an event counts once it happened.
    ("events", (), 5, 1),
    ("events", (C("event_type", "eq", "lead_status_changed"),), 2, 0),
    ("events", (C("event_type", "not_in", ["lead_added"]),), 3, 0),
    ("events", (C("author", "eq", 0),), 1, 0),
    ("events", (C("author", "eq", "Anna"),), 3, 1),
    ("events", (C("entity_type", "eq", "task"),), 1, 0),
    ("events", (C("created_at", "in_period"),), 4, 0),
    # Contacts (3 is deleted), companies, customers.
    ("contacts", (), 2, 1),
    ("contacts", (C("cf:Role", "eq", "Director"),), 1, 1),
    ("contacts", (C("has_open_task", "is", True),), 1, 1),
    ("contacts", (C("created_at", "in_period"),), 1, 0),
    ("companies", (), 2, 1),
    ("companies", (C("responsible", "eq", 3),), 1, 0),
    ("customers", (), 2, 1),
    ("customers", (C("next_price", "gt", 60),), 1, 0),
    ("customers", (C("next_date", "in_period"),), 1, 1),
    ("customers", (C("status", "eq", 1),), 1, 1),
]


@pytest.mark.parametrize(
    ("entity", "conds", "now", "start"),
    CASES,
    ids=[f"{e}-{'+'.join(f'{c.field}.{c.op}' for c in cs) or 'all'}" for e, cs, *_ in CASES],
)
def test_condition(tiny, entity, conds, now, start):
    r = run(tiny, entity, *conds)
    assert (r.value, r.value_at_start, r.change) == (now, start, now - start)


def test_records_follow_the_moment(tiny):
    r = run(tiny, "deals", C("stage", "eq", [1, 13]))
    assert ids(r.records()) == [1, 3]
    assert ids(r.records(at="start")) == [2]
    assert ids(r.entered()) == [1, 3]
    assert ids(r.left()) == [2]
    # The rows show the deal as it was: deal 2 in stage C, not yet closed, at the start.
    left = r.left().iloc[0]
    assert (left.stage_id, left.stage) == (13, "C")
    assert left.closed_at is None or str(left.closed_at) == "NaT"
    assert list(r.records(limit=1).deal_id) == [3]  # newest first


def test_measures(tiny):
    stage_c = C("stage", "eq", [1, 13])
    r = run(tiny, "deals", stage_c, display=Display(measure="sum", field="price"))
    assert (r.value, r.value_at_start, r.change) == (400.0, 200.0, 200.0)
    r = run(tiny, "deals", stage_c, display=Display(measure="mean", field="price"))
    assert (r.value, r.value_at_start) == (200.0, 200.0)
    r = run(tiny, "deals", display=Display(measure="sum", field="cf:Seats"))
    assert (r.value, r.value_at_start) == (36.5, 16.0)
    r = run(tiny, "deals", C("price", "gt", 10_000), display=Display(measure="mean", field="price"))
    assert r.value != r.value  # the mean of nothing is NaN


def test_multiselect_split_counts_each_value(tiny):
    r = run(tiny, "deals", display=Display(kind="split", split_by="cf:Product"))
    assert r.value == 4  # deal 1 (A and B) counts once in the total
    s = r.split.set_index("label")
    assert s.value.to_dict() == {"A": 1, "B": 2, "C": 1, "(none)": 1}
    assert s.value_at_start.to_dict() == {"A": 1, "B": 2, "C": 1, "(none)": 0}
    assert s.change.to_dict() == {"A": 0, "B": 0, "C": 0, "(none)": 1}
    assert list(r.split.key) == [1001, 1002, 1003, "(none)"]  # the field's enum order
    assert ids(r.records(key=1002)) == [1, 2]
    assert ids(r.records(key="(none)")) == [3]


def test_split_sum_and_zero_rows(tiny):
    r = run(
        tiny,
        "deals",
        C("pipeline", "eq", 1),
        display=Display(kind="split", measure="sum", field="price", split_by="cf:Product"),
    )
    assert r.split.set_index("label").value.to_dict() == {
        "A": 100.0,
        "B": 300.0,
        "C": 0,  # deal 5 is in the other pipeline: the row stays, with 0
        "(none)": 300.0,
    }


def test_select_and_user_splits(tiny):
    r = run(tiny, "deals", display=Display(kind="split", split_by="cf:Segment"))
    assert r.split.set_index("label").value.to_dict() == {"Small": 2, "Big": 1, "(none)": 1}
    r = run(tiny, "deals", display=Display(kind="split", split_by="responsible"))
    s = r.split.set_index("label")
    assert s.value.to_dict() == {"Anna": 1, "Boris": 2, "Vera": 1, "Head": 0}
    assert ids(r.records(key=2)) == [2, 5]
    r = run(tiny, "deals", display=Display(kind="split", split_by="stage"), pipeline=1)
    s = r.split.set_index("label")
    assert s.loc["Sales: C"].tolist()[1:] == [2, 1, 1]
    assert s.loc["Sales: Won"].value == 1
    assert ids(r.records(key=(1, 13))) == [1, 3]


def test_tasks_overdue_by_department(tiny):
    r = run(
        tiny, "tasks", C("deadline", "overdue"), display=Display("split", split_by="department")
    )
    s = r.split.set_index("label")
    assert s.value.to_dict() == {"North": 1, "South": 1}
    assert s.value_at_start.to_dict() == {"North": 2, "South": 0}
    assert ids(r.entered(), "task_id") == [3]
    assert ids(r.left(), "task_id") == [4]
    assert ids(r.records(key=1), "task_id") == [2]


def test_scope_viewer_and_pipeline(tiny):
    assert run(tiny, "deals", user=1).value == 1
    r = run(tiny, "deals", department="South")
    assert (r.value, r.value_at_start) == (1, 0)
    assert run(tiny, "deals", pipeline=2).value == 1
    assert run(tiny, "deals", pipeline="Sales").value == 3
    # Anna sees only her own deals; Boris his department's.
    assert tiny.as_viewer(1).custom(CustomWidget("t", "T", "deals")).value == 1
    assert tiny.as_viewer(2).custom(CustomWidget("t", "T", "deals")).value == 3
    # Tasks by responsible user, events by author.
    assert run(tiny, "tasks", user=2).value == 2
    assert run(tiny, "events", user=1).value == 3
    assert run(tiny, "events", user=3).value == 1


def test_definition_text_names_the_rule(tiny):
    r = run(
        tiny,
        "deals",
        C("cf:Product", "in", ["A"]),
        C("has_open_task", "is", False),
        display=Display(kind="split", split_by="cf:Product"),
    )
    text = r.definition_text
    assert "Deals" in text and "Product has any of A" in text and "no open task" in text
    assert "counts once under each" in text
    assert "current value is used at both moments" in text
    assert set(r.sql()) == {"value", "split"}


def test_injection_values_are_plain_values(tiny):
    for cond in (
        C("name", "eq", INJECTION),
        C("name", "contains", INJECTION),
        C("tag", "in", [INJECTION]),
        C("cf:Order number", "contains", "'); DROP"),
    ):
        r = run(tiny, "deals", cond)
        assert r.value in (0, 1)
    # The deals table is still there and whole.
    assert run(tiny, "deals").value == 4
    assert tiny.store.table("deals").count().to_pyarrow().as_py() == 6
