"""Custom widgets give the same numbers, splits and drill-downs on PostgreSQL as on DuckDB (the
demo store copied into a throwaway server: tests/backends/conftest.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from deskkit.custom import Condition, CustomWidget, Display

pytestmark = pytest.mark.postgres
C = Condition

DEFINITIONS = [
    CustomWidget(
        "a",
        "A",
        "deals",
        (C("stage_kind", "in", ["open", "unsorted"]), C("has_open_task", "is", False)),
        Display("split", "sum", "price", "cf:Product"),
    ),
    CustomWidget(
        "b",
        "B",
        "deals",
        (
            C("cf:Seats", "gt", 5),
            C("cf:Contract date", "before_period"),
            C("tag", "not_in", ["vip"]),
            C("name", "contains", "o'"),
        ),
    ),
    CustomWidget(
        "c",
        "C",
        "deals",
        (C("cf:Prepaid", "is", True), C("created_at", "last_days", 60)),
        Display("split", split_by="stage"),
    ),
    CustomWidget(
        "d", "D", "tasks", (C("deadline", "overdue"),), Display("split", split_by="department")
    ),
    CustomWidget(
        "e", "E", "events", (C("event_type", "in", ["lead_status_changed", "task_completed"]),)
    ),
    CustomWidget(
        "f",
        "F",
        "contacts",
        (C("cf:Role", "ne", "Director"),),
        Display("split", split_by="cf:Role"),
    ),
    CustomWidget(
        "g",
        "G",
        "customers",
        (C("next_price", "ge", 1000),),
        Display(measure="mean", field="next_price"),
    ),
]


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda w: w.id)
def test_same_on_postgres(desks, definition):
    duck, pg = desks
    assert pg.store.backend.name == "postgres"
    for period in ("month", "year"):
        a, b = duck.custom(definition, period), pg.custom(definition, period)
        assert (a.value, a.value_at_start) == pytest.approx((b.value, b.value_at_start))
        if a.split is not None:
            pd.testing.assert_frame_equal(a.split, b.split, check_dtype=False)
        key = a.records().columns[0]
        assert sorted(a.entered()[key]) == sorted(b.entered()[key])
        assert sorted(a.left()[key]) == sorted(b.left()[key])
