"""A faster twin of Altair's default data transformer (``"deskkit"``; the desktop enables it).

Altair writes a chart's DataFrame into its spec by copying the frame and converting it column by
column through pandas, then ``to_dict(orient="records")``: about 5 ms for one of the desktop's
small chart frames, on the kernel's one interpreter, for every card drawn. This writes the same
values from plain lists. It handles the column types the charts use (numbers, booleans, text,
times) and gives any other frame, or anything that is not a frame, to Altair's own transformer,
so a spec is the same whichever is enabled (a property test compares the two).
"""

from __future__ import annotations

import math
from typing import Any

import altair as alt
import numpy as np
import pandas as pd
from altair.vegalite.data import default_data_transformer

__all__ = ["DATA_TRANSFORMER", "values_transformer"]

#: The name the transformer is registered under.
DATA_TRANSFORMER = "deskkit"

_MAX_ROWS = 5000  # Altair's default limit (it raises MaxRowsError above it)
_NULLABLE = {"Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64"}
_NULLABLE |= {"Float32", "Float64", "boolean", "str", "string"}


def _missing(value: Any) -> bool:
    return (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float) and math.isnan(value))
    )


def _column(col: pd.Series) -> list[Any] | None:
    """``col``'s values as Altair's sanitizer leaves them (None: a type left to Altair)."""
    dtype = col.dtype
    name = str(dtype)
    if name.startswith(("datetime", "timestamp")):
        return ["" if v is pd.NaT else v.isoformat() for v in col.tolist()]
    if name in _NULLABLE:
        return [None if _missing(v) else v for v in col.tolist()]
    if not isinstance(dtype, np.dtype):  # another extension type (categories, periods)
        return None
    if dtype == object:  # noqa: E721 (a numpy dtype compares equal to ``object``)
        values = col.tolist()
        # Arrays, and missing values (pandas 3 then turns the column's numbers to floats and
        # leaves NaN where Altair asks for None): left to Altair, to write what it writes.
        if any(isinstance(v, np.ndarray) or _missing(v) for v in values):
            return None
        return values
    if dtype.kind in "biu":  # booleans and integers (not "m", durations: Altair refuses them)
        return col.tolist()
    if dtype.kind == "f":
        return [None if math.isnan(v) or math.isinf(v) else v for v in col.tolist()]
    return None


def _records(frame: pd.DataFrame) -> list[dict[str, Any]] | None:
    """The rows of ``frame`` as Altair writes them into a spec, or None to leave to Altair."""
    names = list(frame.columns)
    if (
        isinstance(frame.columns, pd.MultiIndex | pd.RangeIndex)
        or isinstance(frame.index, pd.MultiIndex)
        or not all(isinstance(n, str) for n in names)
        or len(set(names)) != len(names)
    ):
        return None
    columns = []
    for name in names:
        values = _column(frame[name])
        if values is None:
            return None
        columns.append(values)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def values_transformer(data: Any = None, max_rows: int | None = _MAX_ROWS) -> Any:
    """Altair's default data transformer (row limit, then values), faster on a DataFrame."""
    if data is None:
        return lambda d: values_transformer(d, max_rows=max_rows)
    if isinstance(data, pd.DataFrame) and (max_rows is None or len(data) <= max_rows):
        records = _records(data)
        if records is not None:
            return {"values": records}
    return default_data_transformer(data, max_rows=max_rows)


alt.data_transformers.register(DATA_TRANSFORMER, values_transformer)
