"""Writing parsed export files into the store: names resolved to ids, rows upserted.

Deals, contacts and companies are upserted by id: a row of the file replaces the stored row with
that id, and columns the file does not have keep their stored values (so an export can refresh
a store synced from the API without blanking what the export lacks). Tags, custom values and
note texts of the imported rows are replaced by the file's. SQL text here is built from schema
names only; every value travels as a parameter or a registered Arrow table.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Final

import duckdb
import pyarrow as pa

from deskkit.connectors.export.names import (
    SYNTHETIC_BASE,
    SYNTHETIC_SPAN,
    Fields,
    Names,
    Parties,
    Pipelines,
    synthetic_id,
)
from deskkit.connectors.export.names import key as name_key
from deskkit.connectors.export.parse import ParsedFile, Record
from deskkit.store.build import append
from deskkit.store.schema import SCHEMA

__all__ = ["SOURCE_PREFIX", "Writer"]

#: The ``source`` of rejects written by this connector: ``export:<file name>``.
SOURCE_PREFIX: Final = "export:"
_ENTITY_TABLE: Final = {
    "deal": ("deals", "deal_id"),
    "contact": ("contacts", "id"),
    "company": ("companies", "id"),
}


def _rows(con: duckdb.DuckDBPyConnection, sql: str, *params: object) -> list[dict[str, Any]]:
    """Query results as dicts (the store's lookup tables are small)."""
    cur = con.execute(sql, list(params))
    names = [d[0] for d in cur.description or []]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _arrow(table: str, rows: list[dict[str, Any]]) -> pa.Table:
    """Row dicts as an Arrow table with the schema's column types."""
    return pa.Table.from_pylist(rows, schema=SCHEMA[table].to_pyarrow())


class Writer:
    """Resolves names to ids against the store and writes the rows of each file."""

    def __init__(self, con: duckdb.DuckDBPyConnection, stamp: dt.datetime) -> None:
        self.con = con
        self.stamp = stamp
        self.counts: Counter[str] = Counter()
        q = con.execute
        self.users = Names.of("user", q("SELECT user_id, name FROM users").fetchall())
        self.sources = Names.of("source", q("SELECT id, name FROM lead_sources").fetchall())
        self.reasons = Names.of("loss_reason", q("SELECT id, name FROM loss_reasons").fetchall())
        self.pipes = Pipelines.of(
            _rows(con, "SELECT * FROM pipelines"), _rows(con, "SELECT * FROM stages")
        )
        self.fields = Fields.of(
            q("SELECT entity_type, field_id, name FROM custom_fields").fetchall()
        )
        self.parties = {
            "contact": Parties.of("contact", q("SELECT id, name FROM contacts").fetchall()),
            "company": Parties.of("company", q("SELECT id, name FROM companies").fetchall()),
        }

    def put(self, table: str, rows: list[dict[str, Any]] | pa.Table) -> None:
        """Append ``rows`` (dicts, or an Arrow table of the schema's columns) to ``table``."""
        if len(rows):
            data = rows if isinstance(rows, pa.Table) else _arrow(table, rows)
            append(self.con, table, data)
            self.counts[table] += len(rows)

    def _ids_view(self, ids: Iterable[int]) -> str:
        view = "__deskkit_import_ids"
        self.con.register(view, pa.table({"id": pa.array(sorted(set(ids)), pa.int64())}))
        return view

    def upsert(
        self, table: str, id_col: str, rows: list[dict[str, Any]], provided: set[str]
    ) -> None:
        """Replace the rows with these ids; columns not ``provided`` keep their stored value."""
        if not rows:
            return
        cols = SCHEMA[table].names
        view = self._ids_view(r[id_col] for r in rows)
        try:
            stored: dict[int, dict[str, Any]] = {}
            if set(cols) - provided - {id_col}:
                found = _rows(
                    self.con, f'SELECT * FROM "{table}" WHERE "{id_col}" IN (SELECT id FROM {view})'
                )
                stored = {r[id_col]: r for r in found}
            merged = []
            for row in rows:
                old = stored.get(row[id_col], {})
                merged.append(
                    {c: row.get(c) if c in provided or c == id_col else old.get(c) for c in cols}
                )
            self.con.execute(f'DELETE FROM "{table}" WHERE "{id_col}" IN (SELECT id FROM {view})')
        finally:
            self.con.unregister(view)
        self.put(table, merged)

    def replace_children(
        self,
        table: str,
        entity_type: str,
        ids: list[int],
        rows: list[dict[str, Any]] | pa.Table,
        extra: str = "",
        params: Sequence[object] = (),
    ) -> None:
        """Delete ``table``'s rows of these entities (narrowed by ``extra``), then add ``rows``."""
        if ids:
            view = self._ids_view(ids)
            try:
                self.con.execute(
                    f'DELETE FROM "{table}" WHERE entity_type = ? '
                    f"AND entity_id IN (SELECT id FROM {view}) {extra}",
                    [entity_type, *params],
                )
            finally:
                self.con.unregister(view)
        self.put(table, rows)

    # One file ---------------------------------------------------------------------------------

    def write_file(self, pf: ParsedFile) -> None:
        source = SOURCE_PREFIX + pf.name
        self.con.execute("DELETE FROM rejects WHERE source = ?", [source])
        self.put(
            "rejects",
            [
                dict(source=source, raw=r.raw, reason=f"row {r.row}: {r.reason}", at=self.stamp)
                for r in pf.rejects
            ],
        )
        # Companies before contacts, so a contact can name a company of the same file.
        for ent in ("company", "contact", "deal"):
            records = [r for r in pf.records if r.entity == ent]
            if records:
                self._write_entity(pf, ent, records)

    def _write_entity(self, pf: ParsedFile, ent: str, records: list[Record]) -> None:
        table, id_col = _ENTITY_TABLE[ent]
        has = set(pf.columns.fields)
        if ent == "deal":
            rows, provided = self._deal_rows(pf, records, has)
        else:
            rows, provided = self._party_rows(ent, records, has)
        self.upsert(table, id_col, rows, provided)
        ids = [r.id for r in records]
        if "tags" in has:
            tags = [
                dict(entity_type=ent, entity_id=r.id, tag=t)
                for r in records
                for t in r.fields["tags"]
            ]
            self.replace_children("tags", ent, ids, tags)
        if pf.columns.custom:
            self._write_custom(pf, ent, records, ids)
        if pf.columns.notes:
            notes = [
                dict(
                    note_id=synthetic_id("note", ent, str(r.id), str(k)),
                    entity_type=ent,
                    entity_id=r.id,
                    note_type="common",
                    text=text,
                    created_by=None,
                    created_at=None,
                )
                for r in records
                for k, text in enumerate(r.notes)
            ]
            # Only the notes an import made (synthetic ids): synced notes stay.
            self.replace_children(
                "notes",
                ent,
                ids,
                notes,
                "AND note_id >= ? AND note_id < ?",
                (SYNTHETIC_BASE, SYNTHETIC_BASE + SYNTHETIC_SPAN),
            )

    def _write_custom(
        self, pf: ParsedFile, ent: str, records: list[Record], ids: list[int]
    ) -> None:
        # A field is created for a column that holds values; a column emptied since an earlier
        # import still clears that field's stored values.
        filled = {name for r in records for name, _ in r.custom}
        fids: dict[str, int] = {}
        for _, name in pf.columns.custom:
            if name in filled:
                fids[name] = self.fields.id_of(ent, name, pf.field_types[name])
            elif (found := self.fields.find(ent, name)) is not None:
                fids[name] = found
        # Built column-wise: an export may hold millions of custom values.
        ent_ids: list[int] = []
        field_ids: list[int] = []
        texts: list[str] = []
        for r in records:
            for name, value in r.custom:
                ent_ids.append(r.id)
                field_ids.append(fids[name])
                texts.append(value)
        values = pa.table(
            {
                "entity_type": pa.array([ent] * len(texts), pa.string()),
                "entity_id": pa.array(ent_ids, pa.int64()),
                "field_id": pa.array(field_ids, pa.int64()),
                "value": pa.array(texts, pa.string()),
                "enum_id": pa.nulls(len(texts), pa.int64()),
            }
        )
        view = "__deskkit_import_fields"
        self.con.register(view, pa.table({"field_id": pa.array(list(fids.values()), pa.int64())}))
        try:
            self.replace_children(
                "custom_values",
                ent,
                ids,
                values,
                f"AND field_id IN (SELECT field_id FROM {view})",
            )
        finally:
            self.con.unregister(view)

    def _deal_rows(
        self, pf: ParsedFile, records: list[Record], has: set[str]
    ) -> tuple[list[dict[str, Any]], set[str]]:
        default_pipeline = "Воронка" if pf.columns.decimal_comma else "Pipeline"
        provided = {"is_deleted"}
        for col, keys in _DEAL_COLUMNS.items():
            if has & keys:
                provided.add(col)
        if "stage" in has:
            provided.add("pipeline_id")
        rows = []
        for r in records:
            f = r.fields
            row: dict[str, Any] = dict(
                deal_id=r.id,
                name=f.get("name"),
                price=f.get("price"),
                responsible_user_id=self.users.id_of(f.get("responsible")),
                created_by=self._author(f.get("created_by")),
                created_at=f.get("created_at"),
                updated_at=f.get("updated_at"),
                closed_at=f.get("closed_at"),
                source_id=self.sources.id_of(f.get("source")),
                loss_reason_id=self.reasons.id_of(f.get("loss_reason")),
                company_id=f.get("company_id") or self.parties["company"].id_of(f.get("company")),
                main_contact_id=f.get("main_contact_id")
                or self.parties["contact"].id_of(f.get("main_contact")),
                is_deleted=False,
            )
            if "pipeline_id" in provided:
                pid = self.pipes.pipeline_id(f.get("pipeline"), default_pipeline)
                row["pipeline_id"] = pid
                stage = f.get("stage")
                row["stage_id"] = None if stage is None else self.pipes.stage_id(pid, stage)
            rows.append(row)
        return rows, provided

    def _author(self, name: str | None) -> int | None:
        """``created_by``: 0 for amoCRM's robots (as in the API), else the user."""
        if name is not None and name.strip().casefold() in _ROBOTS:
            return 0
        return self.users.id_of(name)

    def _party_rows(
        self, ent: str, records: list[Record], has: set[str]
    ) -> tuple[list[dict[str, Any]], set[str]]:
        provided = {"is_deleted"}
        for col, keys in _PARTY_COLUMNS.items():
            if has & keys and (col != "company_id" or ent == "contact"):
                provided.add(col)
        combined = ent == "company" and "type" in has
        if combined and "company" in has:
            provided.add("name")
        parties = self.parties[ent]
        rows = []
        for r in records:
            f = r.fields
            name = f.get("name")
            if combined:
                # In the combined export a company row has its name in "Название компании".
                name = f.get("company") or name
            if name is None and (f.get("first_name") or f.get("last_name")):
                name = " ".join(p for p in (f.get("first_name"), f.get("last_name")) if p)
            row: dict[str, Any] = dict(
                id=r.id,
                name=name,
                responsible_user_id=self.users.id_of(f.get("responsible")),
                created_at=f.get("created_at"),
                updated_at=f.get("updated_at"),
                is_deleted=False,
            )
            if ent == "contact":
                row["company_id"] = f.get("company_id") or self.parties["company"].id_of(
                    f.get("company")
                )
            parties.add(r.id, name)
            rows.append(row)
        return rows, provided

    # After every file -------------------------------------------------------------------------

    def finish(self) -> None:
        """Write the new lookup rows and fold synthetic contacts/companies into real ones."""
        self.put(
            "users",
            [
                dict(
                    user_id=i,
                    name=n,
                    email=None,
                    group_id=None,
                    is_active=True,
                    is_admin=False,
                    deal_capacity=None,
                    # Least privilege: an imported user sees their own deals until set otherwise.
                    deal_access="own",
                )
                for i, n in self.users.new
            ],
        )
        self.put("lead_sources", [dict(id=i, name=n) for i, n in self.sources.new])
        self.put("loss_reasons", [dict(id=i, name=n) for i, n in self.reasons.new])
        self.put("pipelines", self.pipes.new_pipelines)
        self.put("stages", self.pipes.new_stages)
        self.put("custom_fields", self.fields.new)
        for ent, table in (("company", "companies"), ("contact", "contacts")):
            parties = self.parties[ent]
            base: dict[str, Any] = dict(responsible_user_id=None, created_at=None, updated_at=None)
            if ent == "contact":
                base["company_id"] = None
            self.put(table, [dict(id=i, name=n, is_deleted=False, **base) for i, n in parties.new])
        self._merge_synthetic()

    def _merge_synthetic(self) -> None:
        """Re-point links from a synthetic contact/company to the real row of the same name
        (once the real one has been imported) and drop the synthetic row."""
        refs = {
            "companies": (("deals", "company_id"), ("contacts", "company_id")),
            "contacts": (("deals", "main_contact_id"),),
        }
        for ent, table in (("company", "companies"), ("contact", "contacts")):
            parties = self.parties[ent]
            synthetic = self.con.execute(
                f'SELECT id, name FROM "{table}" WHERE id >= ? AND id < ?',
                [SYNTHETIC_BASE, SYNTHETIC_BASE + SYNTHETIC_SPAN],
            ).fetchall()
            pairs = []
            for sid, name in synthetic:
                real = parties.by_key.get(name_key(str(name)), set()) if name is not None else set()
                if len(real) == 1:
                    pairs.append((sid, next(iter(real))))
            if not pairs:
                continue
            view = "__deskkit_import_merge"
            old, new = zip(*pairs, strict=True)
            self.con.register(
                view, pa.table({"old": pa.array(old, pa.int64()), "new": pa.array(new, pa.int64())})
            )
            try:
                for ref_table, col in refs[table]:
                    self.con.execute(
                        f'UPDATE "{ref_table}" SET "{col}" = m.new FROM {view} m '
                        f'WHERE "{ref_table}"."{col}" = m.old'
                    )
                self.con.execute(f'DELETE FROM "{table}" WHERE id IN (SELECT old FROM {view})')
            finally:
                self.con.unregister(view)


# Which standard keys of a file feed which store column.
_DEAL_COLUMNS: Final = {
    "name": {"name"},
    "price": {"price"},
    "responsible_user_id": {"responsible"},
    "created_by": {"created_by"},
    "created_at": {"created_at"},
    "updated_at": {"updated_at"},
    "closed_at": {"closed_at"},
    "source_id": {"source"},
    "loss_reason_id": {"loss_reason"},
    "company_id": {"company", "company_id"},
    "main_contact_id": {"main_contact", "main_contact_id"},
    "pipeline_id": {"pipeline"},
    "stage_id": {"stage"},
}
_PARTY_COLUMNS: Final = {
    "name": {"name", "first_name", "last_name"},
    "responsible_user_id": {"responsible"},
    "created_at": {"created_at"},
    "updated_at": {"updated_at"},
    "company_id": {"company", "company_id"},
}
# Authors amoCRM shows for automatic actions (not confirmed by official docs; harmless when
# absent): they become created_by = 0, the schema's robot.
_ROBOTS: Final = frozenset({"робот", "robot", "salesbot", "digital pipeline", "цифровая воронка"})
