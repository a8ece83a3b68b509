"""Writing mapped pages into a snapshot DuckDB file, each page with its checkpoint in one
transaction, and the sync's own progress table ``_sync_state``.

``_sync_state`` (key, value JSON) is the sync's bookkeeping inside the store it describes:
the generation of the snapshot, the current run (its fixed end ``run_start``, the generation
it was built on, building or complete), one cursor per stream and the watermarks of the last
complete run. Because a page's rows and its cursor commit together, a sync killed at any moment
resumes exactly after the last committed page. ``deskkit.open`` ignores the table: it validates
only the schema's tables.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import duckdb
import pyarrow as pa

from deskkit.connectors.amocrm.mapping import KEYS, Batch, Row
from deskkit.connectors.amocrm.mapping_events import INSERT_IF_ABSENT
from deskkit.connectors.amocrm.mapping_reference import Reference
from deskkit.store.build import append, create_tables
from deskkit.store.schema import SCHEMA

__all__ = ["REFERENCE_TABLES", "STATE_TABLE", "Writer"]

STATE_TABLE: Final = "_sync_state"
#: Tables a sync replaces whole on every run.
REFERENCE_TABLES: Final = (
    "account",
    "users",
    "groups",
    "pipelines",
    "stages",
    "custom_fields",
    "custom_field_enums",
    "loss_reasons",
    "lead_sources",
)
MEMORY_LIMIT: Final = "1GB"
_view_ids = iter(range(1 << 62))


def _arrow(table: str, rows: list[Row]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SCHEMA[table].to_pyarrow())


def _dedupe(rows: list[Row], key: str) -> list[Row]:
    """The last row of each key (a page may repeat a record; the later copy wins)."""
    return list({r[key]: r for r in rows}.values())


class Writer:
    """A read-write connection to one snapshot file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.con = duckdb.connect(str(path))
        # Bound the buffer cache: a sync of a big account must not grow without limit.
        self.con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        create_tables(self.con)
        self.con.execute(f'CREATE TABLE IF NOT EXISTS "{STATE_TABLE}" (key VARCHAR, value VARCHAR)')

    def close(self) -> None:
        """Fold the WAL into the file and close it (a published file must be self-contained)."""
        self.con.execute("CHECKPOINT")
        self.con.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together or not at all."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    # State -------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Every ``_sync_state`` entry, JSON-decoded."""
        rows = self.con.execute(f'SELECT key, value FROM "{STATE_TABLE}"').fetchall()
        return {k: json.loads(v) for k, v in rows}

    def get(self, key: str, default: Any = None) -> Any:
        row = self.con.execute(f'SELECT value FROM "{STATE_TABLE}" WHERE key = ?', [key]).fetchone()
        return default if row is None else json.loads(row[0])

    def put(self, key: str, value: Any) -> None:
        """Set one entry (inside the caller's transaction, if any)."""
        self.put_many({key: value})

    def put_many(self, entries: Mapping[str, Any]) -> None:
        """Set several entries with two statements."""
        keys = list(entries)
        marks = ", ".join("?" * len(keys))
        self.con.execute(f'DELETE FROM "{STATE_TABLE}" WHERE key IN ({marks})', keys)
        values = ", ".join("(?, ?)" for _ in keys)
        flat = [x for k in keys for x in (k, json.dumps(entries[k], sort_keys=True))]
        self.con.execute(f'INSERT INTO "{STATE_TABLE}" VALUES {values}', flat)

    def drop(self, prefix: str) -> None:
        """Remove the entries whose key starts with ``prefix``."""
        self.con.execute(f'DELETE FROM "{STATE_TABLE}" WHERE starts_with(key, ?)', [prefix])

    # Rows --------------------------------------------------------------------------------------

    def _register(self, data: pa.Table) -> str:
        name = f"__deskkit_sync_{next(_view_ids)}"
        self.con.register(name, data)
        return name

    def _delete_keys(self, table: str, key: str, values: list[Any], extra: str = "") -> None:
        if not values:
            return
        view = self._register(pa.table({"k": pa.array(values)}))
        try:
            self.con.execute(
                f'DELETE FROM "{table}" WHERE "{key}" IN (SELECT k FROM {view}){extra}'
            )
        finally:
            self.con.unregister(view)

    def _existing(self, table: str, key: str, values: list[Any], where: str = "") -> set[Any]:
        if not values:
            return set()
        view = self._register(pa.table({"k": pa.array(values)}))
        try:
            rows = self.con.execute(
                f'SELECT "{key}" FROM "{table}" WHERE "{key}" IN (SELECT k FROM {view}){where}'
            ).fetchall()
        finally:
            self.con.unregister(view)
        return {r[0] for r in rows}

    def upsert(self, table: str, rows: list[Row]) -> int:
        """Replace the rows with these keys."""
        (key,) = KEYS[table]
        rows = _dedupe(rows, key)
        self._delete_keys(table, key, [r[key] for r in rows])
        append(self.con, table, _arrow(table, rows))
        return len(rows)

    def replace_children(
        self, children: Mapping[tuple[str, int], Mapping[str, list[Row]]]
    ) -> dict[str, int]:
        """Replace every tag and custom value of the entities in ``children`` by theirs."""
        if not children:
            return {}
        owners = pa.table(
            {
                "entity_type": pa.array([k[0] for k in children], pa.string()),
                "entity_id": pa.array([k[1] for k in children], pa.int64()),
            }
        )
        counts = {}
        view = self._register(owners)
        try:
            for table in ("custom_values", "tags"):
                self.con.execute(
                    f'DELETE FROM "{table}" WHERE (entity_type, entity_id) IN '
                    f"(SELECT (entity_type, entity_id) FROM {view})"
                )
                rows = [r for owned in children.values() for r in owned.get(table, [])]
                append(self.con, table, _arrow(table, rows))
                counts[table] = len(rows)
        finally:
            self.con.unregister(view)
        return counts

    def insert_absent(self, table: str, rows: list[Row]) -> int:
        """Insert the rows whose key no stored row has."""
        key = INSERT_IF_ABSENT[table]
        rows = _dedupe(rows, key)
        have = self._existing(table, key, [r[key] for r in rows])
        new = [r for r in rows if r[key] not in have]
        append(self.con, table, _arrow(table, new))
        return len(new)

    def add_events(self, pairs: list[tuple[Row, dict[str, list[Row]]]]) -> dict[str, int]:
        """Store the events not stored yet, with the rows derived from them (re-read events,
        from the overlap of the windows or a resumed page, add nothing)."""
        unique = {ev["event_id"]: (ev, derived) for ev, derived in pairs}
        if not unique:
            return {}
        stamps = [ev["created_at"] for ev, _ in unique.values()]
        # An event's time never changes: bounding the lookup by the page's time range lets
        # DuckDB skip row groups by their min/max instead of scanning every stored event.
        lo, hi = min(stamps), max(stamps)
        fmt = "%Y-%m-%d %H:%M:%S"
        where = f" AND created_at BETWEEN '{lo:{fmt}}'::TIMESTAMP AND '{hi:{fmt}}'::TIMESTAMP"
        have = self._existing("events", "event_id", list(unique), where)
        fresh = [pair for eid, pair in unique.items() if eid not in have]
        counts = {"events": len(fresh)}
        append(self.con, "events", _arrow("events", [ev for ev, _ in fresh]))
        derived: dict[str, list[Row]] = {}
        for _, more in fresh:
            for table, rows in more.items():
                derived.setdefault(table, []).extend(rows)
        for table, rows in derived.items():
            if table in INSERT_IF_ABSENT:
                counts[table] = self.insert_absent(table, rows)
            else:
                append(self.con, table, _arrow(table, rows))
                counts[table] = len(rows)
        return counts

    def add_rejects(self, source: str, rejects: list[tuple[str, str]], at: dt.datetime) -> int:
        """Keep unmappable records with their reasons (a record rejected again is kept once)."""
        if not rejects:
            return 0
        unique = {raw: reason for raw, reason in rejects}
        view = self._register(pa.table({"k": pa.array(list(unique), pa.string())}))
        try:
            have = {
                r[0]
                for r in self.con.execute(
                    f"SELECT raw FROM rejects WHERE source = ? AND raw IN (SELECT k FROM {view})",
                    [source],
                ).fetchall()
            }
        finally:
            self.con.unregister(view)
        rows = [
            {"source": source, "raw": raw, "reason": reason, "at": at}
            for raw, reason in unique.items()
            if raw not in have
        ]
        append(self.con, "rejects", _arrow("rejects", rows))
        return len(rows)

    def write_batch(self, batch: Batch, source: str, at: dt.datetime) -> dict[str, int]:
        """Every row of a mapped page (call inside a transaction). Returns rows per table."""
        counts: dict[str, int] = {}
        for table, rows in batch.upserts.items():
            counts[table] = counts.get(table, 0) + self.upsert(table, rows)
        for table, n in self.replace_children(batch.children).items():
            counts[table] = n
        for table, n in self.add_events(batch.events).items():
            counts[table] = counts.get(table, 0) + n
        counts["rejects"] = self.add_rejects(source, batch.rejects, at)
        return {k: v for k, v in counts.items() if v}

    def replace_reference(self, ref: Reference, at: dt.datetime) -> dict[str, int]:
        """Replace every reference table by ``ref``'s rows (call inside a transaction).

        ``users.deal_capacity`` is deskkit's own setting, not the CRM's: each user keeps the
        value stored before. A table ``ref`` has no rows for (not fetched) is left alone.
        """
        capacity = dict(
            self.con.execute(
                "SELECT user_id, deal_capacity FROM users WHERE deal_capacity IS NOT NULL"
            ).fetchall()
        )
        for user in ref.tables.get("users", []):
            user["deal_capacity"] = capacity.get(user["user_id"])
        counts = {}
        for table in REFERENCE_TABLES:
            if table not in ref.tables:
                continue
            self.con.execute(f'DELETE FROM "{table}"')
            append(self.con, table, _arrow(table, ref.tables[table]))
            counts[table] = len(ref.tables[table])
        for source, raw, reason in ref.rejects:
            counts["rejects"] = counts.get("rejects", 0) + self.add_rejects(
                source, [(raw, reason)], at
            )
        return counts

    def scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        row = self.con.execute(sql, params or []).fetchone()
        return None if row is None else row[0]

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params or []).fetchall()
