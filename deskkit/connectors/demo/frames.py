"""Turning numpy columns into pyarrow tables of the store schema."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from deskkit.store.schema import SCHEMA

__all__ = ["concat_str", "ids", "strings", "table", "ts"]

_ARROW = {"int64": pa.int64(), "string": pa.string(), "float64": pa.float64()}
_ARROW.update({"boolean": pa.bool_(), "timestamp": pa.timestamp("us")})


def ts(seconds: np.ndarray) -> pa.Array:
    """Naive UTC timestamps from int64 epoch seconds; negative values become null."""
    seconds = np.asarray(seconds, dtype=np.int64)
    return pa.array(seconds * 1_000_000, type=pa.int64(), mask=seconds < 0).cast(pa.timestamp("us"))


def ids(values: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """An int64 column; ``null`` marks rows that are null."""
    return pa.array(np.asarray(values, dtype=np.int64), type=pa.int64(), mask=null)


def strings(choices: Sequence[str], index: np.ndarray) -> pa.Array:
    """``choices[index]`` for every row, without building Python strings per row."""
    return pa.array(list(choices), type=pa.string()).take(pa.array(index, type=pa.int64()))


def concat_str(*parts: Any) -> pa.Array:
    """Element-wise concatenation of string literals, int arrays and string arrays."""
    conv = []
    for part in parts:
        if isinstance(part, str):
            conv.append(pa.scalar(part))
        elif isinstance(part, np.ndarray):
            conv.append(pc.cast(pa.array(part), pa.string()))
        elif isinstance(part, pa.Array) and not pa.types.is_string(part.type):
            conv.append(pc.cast(part, pa.string()))
        else:
            conv.append(part)
    return pc.binary_join_element_wise(*conv, pa.scalar(""))


def table(name: str, columns: dict[str, Any]) -> pa.Table:
    """A pyarrow table of store table ``name``: columns in schema order, with schema types.

    A column value may be an array, a scalar (repeated) or None (all null).
    """
    schema = SCHEMA[name]
    if set(columns) != set(schema.names):
        raise ValueError(f"{name}: columns {sorted(set(columns) ^ set(schema.names))} differ")
    sized = [v for v in columns.values() if v is not None and not np.isscalar(v)]
    n = len(sized[0])
    fields = [pa.field(c, _ARROW[str(t).removeprefix("!")]) for c, t in schema.items()]
    arrays = [_column(columns[f.name], f.type, n) for f in fields]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _column(value: Any, typ: pa.DataType, n: int) -> pa.Array:
    if value is None:
        return pa.nulls(n, typ)
    if isinstance(value, str):
        return _repeat_str(value, n)
    if np.isscalar(value):
        return pa.array(np.full(n, value)).cast(typ)
    if isinstance(value, pa.Array | pa.ChunkedArray):
        return value.cast(typ)
    return pa.array(np.asarray(value)).cast(typ)


def _repeat_str(value: str, n: int) -> pa.Array:
    """A string column of ``n`` copies of ``value`` (dictionary-decoded, no Python list)."""
    return pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(n, dtype=np.int32)), pa.array([value])
    ).dictionary_decode()
