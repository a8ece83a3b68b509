"""Dynamics: value now minus value at the period's start, for each entity, with the entities
that entered and left the filter during the period (tiny account, tests/custom/conftest.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from deskkit.custom import Condition, CustomWidget

C = Condition
OCTOBER = (dt.date(2026, 10, 1), dt.date(2026, 10, 31))
KEYS = {
    "deals": "deal_id",
    "contacts": "id",
    "companies": "id",
    "customers": "customer_id",
    "tasks": "task_id",
    "events": "event_id",
}

# entity, conditions, period, (now, start), entered ids, left ids
CASES = [
    # Deal 1 moved A -> C (entered), deal 3 was created in C (entered), deal 2 won (left).
    ("deals", (C("stage", "eq", [1, 13]),), "month", (2, 1), [1, 3], [2]),
    # Only deal 2 ever matched, and it left: the change is negative.
    ("deals", (C("stage", "eq", [1, 13]), C("responsible", "eq", 2)), "month", (0, 1), [], [2]),
    # Open deals without an open task: deal 1's only task was completed on 11-15.
    (
        "deals",
        (C("stage_kind", "eq", "open"), C("has_open_task", "is", False)),
        "month",
        (1, 0),
        [1],
        [],
    ),
    # A past period ends at its end, not now: in October deals 1, 2 and 5 appeared.
    ("deals", (), OCTOBER, (3, 0), [1, 2, 5], []),
    ("deals", (C("stage_kind", "eq", "won"),), OCTOBER, (0, 0), [], []),
    # Overdue tasks: 3 became overdue (deadline 11-10); 4 stopped being (deadline moved).
    ("tasks", (C("deadline", "overdue"),), "month", (2, 2), [3], [4]),
    # Anna's open tasks: task 1 was completed (left), tasks 7 and 8 were created (entered).
    (
        "tasks",
        (C("is_completed", "is", False), C("responsible", "eq", 1)),
        "month",
        (3, 2),
        [7, 8],
        [1],
    ),
    # Events enter when they happen and never leave.
    ("events", (C("event_type", "eq", "lead_status_changed"),), "month", (2, 0), ["e1", "e6"], []),
    ("events", (C("author", "eq", 1),), OCTOBER, (1, 0), ["e3"], []),
    # Contacts and companies enter by creation, and leave when a task is opened on them.
    ("contacts", (C("created_at", "in_period"),), "month", (1, 0), [2], []),
    ("contacts", (C("has_open_task", "is", False),), "month", (1, 0), [2], []),
    ("companies", (C("has_open_task", "is", False),), "month", (1, 1), [2], [1]),
    ("customers", (C("has_open_task", "is", False),), "month", (1, 1), [2], [1]),
    ("customers", (C("next_price", "ge", 50),), "month", (2, 1), [2], []),
]


@pytest.mark.parametrize(
    ("entity", "conds", "period", "values", "entered", "left"),
    CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)],
)
def test_dynamics(tiny, entity, conds, period, values, entered, left):
    r = tiny.custom(CustomWidget("t", "T", entity, conds), period)
    now, start = values
    assert (r.value, r.value_at_start, r.change) == (now, start, now - start)
    key = KEYS[entity]
    came, went = sorted(r.entered()[key]), sorted(r.left()[key])
    assert (came, went) == (entered, left)
    # Entered and left explain the change exactly for a count.
    assert len(came) - len(went) == r.change
    assert sorted(r.records()[key]) == sorted(
        set(r.records(at="start")[key]) - set(went) | set(came)
    )


def test_dynamics_at_a_later_now(tiny):
    """Looking at the same month after its end: deal 6 (created 11-25) now counts."""
    later = tiny.at(dt.datetime(2026, 12, 5, tzinfo=dt.UTC))
    r = later.custom(CustomWidget("t", "T", "deals"), (dt.date(2026, 11, 1), dt.date(2026, 11, 30)))
    assert (r.value, r.value_at_start) == (5, 3)
    assert sorted(r.entered().deal_id) == [3, 6]


def test_same_period_split_dynamics(tiny):
    r = tiny.custom(
        {
            "id": "t",
            "title": "T",
            "entity": "deals",
            "conditions": [{"field": "stage", "op": "eq", "value": [1, 13]}],
            "display": {"kind": "split", "split_by": "cf:Product"},
        }
    )
    s = r.split.set_index("label")
    # Now: deal 1 (A, B) and deal 3 (none); at the start: deal 2 (B).
    assert s.value.to_dict() == {"A": 1, "B": 1, "C": 0, "(none)": 1}
    assert s.value_at_start.to_dict() == {"A": 0, "B": 1, "C": 0, "(none)": 0}
    assert s.change.to_dict() == {"A": 1, "B": 0, "C": 0, "(none)": 1}
    assert sorted(r.records(key=1002, at="start").deal_id) == [2]
