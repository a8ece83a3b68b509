"""Create the store tables in DuckDB and append rows to them, checked against ``SCHEMA``.

Every connector (the demo generator, the API sync, file import) writes through these two
functions, so a table never receives a column the schema does not declare.
"""

from __future__ import annotations

import itertools

import duckdb
import ibis.expr.datatypes as dt
import pandas as pd
import pyarrow as pa

from deskkit.store.schema import SCHEMA

__all__ = ["CLUSTER_KEYS", "append", "copy_clustered", "create_tables", "duckdb_type"]

_counter = itertools.count()


def duckdb_type(dtype: dt.DataType) -> str:
    """The DuckDB column type that stores the Ibis type ``dtype``."""
    if dtype.is_int64():
        return "BIGINT"
    if dtype.is_string():
        return "VARCHAR"
    if dtype.is_float64():
        return "DOUBLE"
    if dtype.is_boolean():
        return "BOOLEAN"
    if dtype.is_timestamp():
        # Naive UTC instants (the schema's convention), not TIMESTAMPTZ.
        return "TIMESTAMP"
    raise TypeError(f"no DuckDB type mapped for Ibis type {dtype}")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table of ``SCHEMA`` (those that do not exist yet) on ``con``."""
    for table, schema in SCHEMA.items():
        columns = ", ".join(f"{_quote(c)} {duckdb_type(t)}" for c, t in schema.items())
        con.execute(f"CREATE TABLE IF NOT EXISTS {_quote(table)} ({columns})")


def append(con: duckdb.DuckDBPyConnection, table: str, data: pa.Table | pd.DataFrame) -> None:
    """Insert ``data`` into ``table``, cast to the schema's types.

    Raises ``ValueError`` naming the table and the missing/extra columns when the columns of
    ``data`` are not exactly the schema's (order does not matter).
    """
    if table not in SCHEMA:
        raise ValueError(f"unknown store table {table!r}")
    schema = SCHEMA[table]
    got = list(data.column_names if isinstance(data, pa.Table) else map(str, data.columns))
    missing = [c for c in schema.names if c not in got]
    extra = [c for c in got if c not in schema]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if extra:
            parts.append(f"extra column(s) {', '.join(extra)}")
        raise ValueError(f"table {table!r}: {'; '.join(parts)}")
    if len(data) == 0:
        return
    # A unique view name per call so concurrent appends on one connection never collide.
    view = f"__deskkit_append_{next(_counter)}"
    select = ", ".join(
        f"CAST({_quote(c)} AS {duckdb_type(t)}) AS {_quote(c)}" for c, t in schema.items()
    )
    con.register(view, data)
    try:
        con.execute(f"INSERT INTO {_quote(table)} SELECT {select} FROM {_quote(view)}")
    finally:
        con.unregister(view)


#: The column each large table is stored in order of. Metrics filter these tables by a time
#: range; DuckDB keeps each row group's min and max, so rows stored in time order let a
#: month's query skip the rest of the table (a month of 15M events: 90 ms scanned, 15 ms
#: clustered). The order changes no result.
CLUSTER_KEYS: dict[str, tuple[str, ...]] = {
    # (time column, tie-breakers: the same input always gives the same file)
    "events": ("created_at", "event_id"),
    "messages": ("created_at", "message_id"),
    "calls": ("created_at", "call_id"),
    "notes": ("created_at", "note_id"),
    "files": ("created_at", "file_id"),
    "nps": ("created_at", "response_id"),
    "deals": ("created_at", "deal_id"),
    "deal_moves": ("at", "deal_id", "to_pipeline_id", "to_stage_id"),
    "tasks": ("deadline", "task_id"),
    "task_deadline_changes": ("at", "task_id"),
    "presence": ("started_at", "user_id"),
}


def copy_clustered(source: str, target: str, *, memory_limit: str | None = None) -> None:
    """Copy the store file ``source`` into a new file ``target``, every table of ``SCHEMA``
    (and ``rejects``, if present) written in the order of its :data:`CLUSTER_KEYS` column."""
    con = duckdb.connect(target)
    try:
        con.execute("SET enable_progress_bar = false")  # the caller reports progress
        if memory_limit:
            con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute(f"ATTACH {_literal(source)} AS src (READ_ONLY)")
        names = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'src'"
            ).fetchall()
        }
        create_tables(con)
        for name in sorted(names):
            if name not in SCHEMA:
                con.execute(f"CREATE TABLE {_quote(name)} AS SELECT * FROM src.{_quote(name)}")
                continue
            key = CLUSTER_KEYS.get(name)
            order = f" ORDER BY {', '.join(map(_quote, key))}" if key else ""
            cols = ", ".join(_quote(c) for c in SCHEMA[name].names)
            con.execute(
                f"INSERT INTO {_quote(name)} ({cols}) SELECT {cols} FROM src.{_quote(name)}{order}"
            )
        con.execute("DETACH src")
    finally:
        con.close()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
