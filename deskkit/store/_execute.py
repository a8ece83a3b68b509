"""A DuckDB store's table results converted to pandas once, not twice.

Ibis's DuckDB ``execute`` converts a table result column by column with the DuckDB converter,
then ``Table.__pandas_result__`` converts the frame again with the generic one. The second
pass changes nothing the first did not (the two differ only in arrays' NaN, which the first
pass already turned into None) but costs as much: a tenth of a filter change's Python time,
which holds the GIL the desktop's other cards wait for. Before running it, Ibis walks the
whole expression four times (for UDFs, in-memory tables, geospatial functions and tables read
from a batch reader) to register what it finds: here one walk looks for all of them, and
Ibis's hooks run only when there is one. Only table results take this path; scalars and
columns, and every other backend, keep Ibis's own.

Every query of such a backend first passes the thread's check (:func:`before_each_query`).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import ibis.expr.operations as ops
import ibis.expr.types as ir

__all__ = ["before_each_query", "install_lean_execute"]

#: Nodes Ibis's pre-execute hooks act on (see duckdb.Backend._run_pre_execute_hooks).
_HOOKED = (ops.ScalarUDF, ops.InMemoryTable, ops.GeoSpatialUnOp, ops.GeoSpatialBinOp)


_here = threading.local()


def before_each_query(check: Callable[[], None] | None) -> None:
    """Call ``check`` (None: nothing) in this thread before each query it runs on a DuckDB
    store: where a computation can stop between two queries (``check`` raises), as
    background work giving way to what a visitor waits for does (see deskkit.ui.runner)."""
    _here.check = check


def install_lean_execute(backend: Any) -> None:
    """Route a DuckDB backend's (or cursor's) ``execute`` of table expressions through
    :func:`_execute_table`. The backend is held weakly, as by the compile cache."""
    if getattr(backend, "name", None) != "duckdb":
        return
    original = type(backend).execute
    ref = weakref.ref(backend)

    def execute(
        expr: ir.Expr,
        /,
        *,
        params: Mapping[ir.Scalar, Any] | None = None,
        limit: int | str | None = None,
        **kwargs: Any,
    ) -> Any:
        check = getattr(_here, "check", None)
        if check is not None:
            check()
        if not isinstance(expr, ir.Table):  # a join is a Table too
            return original(ref(), expr, params=params, limit=limit, **kwargs)
        return _execute_table(ref(), expr, params=params, limit=limit, **kwargs)

    backend.execute = execute


def _execute_table(
    backend: Any,
    expr: ir.Table,
    *,
    params: Mapping[ir.Scalar, Any] | None = None,
    limit: int | str | None = None,
    **kwargs: Any,
) -> Any:
    """Ibis 12's ``duckdb.Backend.execute`` for a table, less three walks of the expression
    and the second conversion (the frame is the one Ibis's ``convert_table`` makes)."""
    import pandas as pd
    import pyarrow.types as pat
    from ibis.backends.duckdb.converter import DuckDBPandasData

    if backend._record_batch_readers_consumed or expr.op().find(_HOOKED):
        backend._run_pre_execute_hooks(expr)
    sql = backend.compile(expr, limit=limit, params=params, **kwargs)
    if expr.schema().geospatial:
        backend._load_extensions(["spatial"])
    table = backend.con.sql(sql).to_arrow_table()
    schema = expr.schema()
    if schema.names != tuple(table.column_names):
        raise ValueError("schema names don't match input data columns")
    # Each column converted as Ibis's convert_table converts it, put into one frame from its
    # arrays (a frame of Series aligns their indexes, a third of the conversion's time). The
    # frame copies them: Arrow's buffers are read-only, and a result is the caller's to edit.
    columns = {
        name: DuckDBPandasData.convert_column(
            pd.Series(col.to_pylist(), name=name)
            if pat.is_nested(col.type) or pat.is_dictionary(col.type) or col.null_count
            else col.to_pandas(),
            dtype,
        ).array
        for (name, dtype), col in zip(schema.items(), table.columns, strict=True)
    }
    return pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows))
