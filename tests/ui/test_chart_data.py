"""The "deskkit" data transformer writes exactly what Altair's default writes, only faster."""

from __future__ import annotations

import datetime as dt
import json
import math

import altair as alt
import numpy as np
import pandas as pd
import pytest
from altair.vegalite.data import default_data_transformer
from hypothesis import given, settings
from hypothesis import strategies as st

from deskkit.charts import DATA_TRANSFORMER
from deskkit.charts._data import _records, values_transformer

FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5))
TEXT = st.one_of(st.none(), st.text(max_size=4), st.just(float("nan")))
TIMES = st.one_of(st.none(), st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2100, 1, 1)))

#: Column kinds: a strategy for one value, and how to make the column from a list of them.
KINDS = {
    "int": (st.integers(-(2**40), 2**40), lambda v: pd.Series(v, dtype="int64")),
    "float": (FLOATS, lambda v: pd.Series(v, dtype="float64")),
    "bool": (st.booleans(), lambda v: pd.Series(v, dtype="bool")),
    "Int64": (st.one_of(st.none(), st.integers(-9, 9)), lambda v: pd.Series(v, dtype="Int64")),
    "boolean": (st.one_of(st.none(), st.booleans()), lambda v: pd.Series(v, dtype="boolean")),
    "str": (TEXT, lambda v: pd.Series(v, dtype="str")),
    "object": (st.one_of(TEXT, st.integers(-3, 3)), lambda v: pd.Series(v, dtype=object)),
    "naive time": (TIMES, lambda v: pd.Series(pd.to_datetime(v))),
    "zoned time": (TIMES, lambda v: pd.Series(pd.to_datetime(v)).dt.tz_localize("Europe/Moscow")),
    "category": (TEXT, lambda v: pd.Series(v, dtype="category")),  # left to Altair
}


@st.composite
def frames(draw):
    n = draw(st.integers(0, 6))
    kinds = draw(st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=4))
    cols = {}
    for i, kind in enumerate(kinds):
        value, make = KINDS[kind]
        cols[f"c{i}"] = make(draw(st.lists(value, min_size=n, max_size=n)))
    index = draw(st.sampled_from([None, "shifted"]))
    frame = pd.DataFrame(cols)
    return frame.set_axis(frame.index + 10) if index else frame


def _exact(values):
    """JSON text with every value's type: 1 and 1.0 and True must not pass for each other."""
    return json.dumps(values, default=lambda v: f"{type(v).__name__}:{v}", allow_nan=True)


@settings(max_examples=300, deadline=None)
@given(frame=frames())
def test_same_values_as_altairs_default(frame):
    ours = values_transformer(frame)
    theirs = default_data_transformer(frame)
    assert _exact(ours) == _exact(theirs)
    for got, want in zip(ours["values"], theirs["values"], strict=True):
        for key, value in want.items():
            assert type(got[key]) is type(value)


def test_what_it_leaves_to_altair():
    cat = pd.DataFrame({"a": pd.Series(["x", None], dtype="category")})
    assert _records(cat) is None
    assert _records(pd.DataFrame([[1, 2]])) is None  # column names must be text
    assert _records(pd.DataFrame([[1, 2]], columns=["a", "a"])) is None
    assert _records(pd.DataFrame({"a": [np.array([1, 2])]})) is None
    assert _records(pd.DataFrame({"a": pd.Series([None, 0], dtype=object)})) is None
    assert _records(pd.DataFrame({"a": pd.Series(["x", 0], dtype=object)})) == [
        {"a": "x"},
        {"a": 0},
    ]
    with pytest.raises(ValueError, match="timedelta"):
        values_transformer(pd.DataFrame({"d": pd.to_timedelta([1], unit="s")}))
    with pytest.raises(alt.MaxRowsError):
        values_transformer(pd.DataFrame({"n": range(5001)}))
    assert (
        len(values_transformer(pd.DataFrame({"n": range(5001)}), max_rows=None)["values"]) == 5001
    )
    assert values_transformer({"values": [{"a": 1}]}) == {"values": [{"a": 1}]}


def test_a_chart_spec_is_the_same_with_it():
    frame = pd.DataFrame(
        {
            "stage": ["New", "Won", None],
            "deals": [3, 0, 1],
            "share": [0.5, math.nan, math.inf],
            "at": pd.to_datetime(["2026-01-01 10:00", None, "2026-02-01 00:00"]),
        }
    )
    chart = (
        alt.Chart(frame).mark_bar().encode(x="deals:Q", y="stage:N", tooltip=["at:T", "share:Q"])
    )
    before = alt.data_transformers.active
    try:
        alt.data_transformers.enable("default")
        want = chart.to_dict(validate=False)
        alt.data_transformers.enable(DATA_TRANSFORMER)
        assert chart.to_dict(validate=False) == want
        assert chart.to_dict() == want  # and valid
    finally:
        alt.data_transformers.enable(before)
