"""Custom widgets on the 2,000-deal demo store: one per entity, agreement with the built-in
widgets that count the same thing, a pandas reference for the multiselect split, and the
engine-only guard (no query returns more than a few hundred rows)."""

from __future__ import annotations

import pytest

from deskkit.custom import Condition, CustomWidget, Display

MAX_ROWS = 500
C = Condition

ONE_PER_ENTITY = [
    CustomWidget(
        "d", "D", "deals", (C("stage_kind", "eq", "open"), C("cf:Segment", "in", ["Enterprise"]))
    ),
    CustomWidget("c", "C", "contacts", (C("cf:Role", "eq", "Director"),)),
    CustomWidget("co", "Co", "companies", (C("cf:Industry", "in", ["IT", "Retail"]),)),
    CustomWidget("cu", "Cu", "customers", (C("next_price", "gt", 0),)),
    CustomWidget(
        "t", "T", "tasks", (C("deadline", "overdue"),), Display("split", split_by="department")
    ),
    CustomWidget("e", "E", "events", (C("event_type", "eq", "lead_status_changed"),)),
]


@pytest.mark.parametrize("definition", ONE_PER_ENTITY, ids=lambda w: w.entity)
def test_each_entity_on_the_demo(counted, definition):
    desk, sizes = counted
    assert desk.custom(definition, "year").value > 0
    r = desk.custom(definition, "month")
    assert r.value > 0
    assert r.change == r.value - r.value_at_start
    assert len(r.records(limit=20)) == min(20, r.value)
    assert len(r.entered(limit=5)) <= 5
    assert sizes and max(sizes) <= MAX_ROWS


def test_agrees_with_built_in_widgets(desk):
    no_task = CustomWidget(
        "nt",
        "NT",
        "deals",
        (C("stage_kind", "in", ["open", "unsorted"]), C("has_open_task", "is", False)),
        Display(measure="sum", field="price"),
    )
    built_in = desk.deals_without_tasks()
    # "today": the value is taken now, like the built-in "now" widget.
    assert desk.custom(no_task, "today").value == pytest.approx(built_in.budget)
    overdue = CustomWidget("od", "OD", "tasks", (C("deadline", "overdue"),))
    assert desk.custom(overdue, "today").value == desk.overdue_tasks("today").overdue_now


def test_multiselect_split_against_pandas(desk):
    w = CustomWidget(
        "p",
        "P",
        "deals",
        (C("stage_kind", "in", ["open", "unsorted"]),),
        Display("split", split_by="cf:Product"),
    )
    r = desk.custom(w, "today")
    assert 0 < r.value <= 500  # so the drill-down below holds every open deal
    open_ids = set(r.records(limit=500).deal_id)
    assert len(open_ids) == r.value
    # Reference: the (small) custom_values table grouped in pandas.
    cv = desk.store.table("custom_values").to_pandas()
    product = cv[(cv.entity_type == "deal") & (cv.field_id == 3301001)]
    expected = product[product.entity_id.isin(open_ids)].groupby("enum_id").entity_id.nunique()
    split = r.split.set_index("key").value
    assert {k: v for k, v in split.items() if k != "(none)" and v} == expected.to_dict()
    assert split.get("(none)", 0) == len(open_ids - set(product.entity_id))
    assert split.sum() > r.value  # deals with two products count under both
