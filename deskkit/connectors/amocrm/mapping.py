"""API JSON of entities (leads, contacts, companies, customers, tasks, notes) → store rows.

Each ``map_*`` function turns one page of records into a :class:`Batch`: rows to upsert by id,
the tags and custom values that replace those of the mapped entities, and the records that
could not be mapped (kept raw with a reason naming the field). One bad record never stops a page.

>>> ctx = MapContext(ZoneInfo("UTC"), {}, {})
>>> lead = {"id": 1, "name": "A", "price": 10, "status_id": 142, "pipeline_id": 5,
...         "created_at": 0, "updated_at": 60}
>>> b = map_entities("leads", [lead], ctx)
>>> b.upserts["deals"][0]["stage_id"], b.rejects
(142, [])
>>> map_entities("leads", [{**lead, "price": "n/a"}], ctx).rejects[0][1]
"price: 'n/a' is not a number"
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from zoneinfo import ZoneInfo

from deskkit.connectors.amocrm._parse import (
    Unmappable,
    as_bool,
    as_int,
    as_number,
    as_text,
    as_ts,
    first_id,
    raw_json,
)

__all__ = [
    "ENTITY_OF",
    "KEYS",
    "Batch",
    "MapContext",
    "Row",
    "custom_value_rows",
    "map_entities",
    "map_notes",
    "map_tasks",
]

Row = dict[str, Any]

#: API path entity (plural, as in ``/api/v4/leads``) or event entity (singular) → store entity.
ENTITY_OF: Final = {
    "leads": "deal",
    "lead": "deal",
    "contacts": "contact",
    "contact": "contact",
    "companies": "company",
    "company": "company",
    "customers": "customer",
    "customer": "customer",
    "tasks": "task",
    "task": "task",
}
#: Store table → the columns that identify a row (what an upsert replaces).
KEYS: Final = {
    "deals": ("deal_id",),
    "contacts": ("id",),
    "companies": ("id",),
    "customers": ("customer_id",),
    "tasks": ("task_id",),
    "notes": ("note_id",),
    "calls": ("call_id",),
    "files": ("file_id",),
    "nps": ("response_id",),
}
_SELECT_LIKE: Final = frozenset({"select", "multiselect", "radiobutton", "multitext", "category"})
_DATES: Final = frozenset({"date", "birthday"})


@dataclass(frozen=True)
class MapContext:
    """What mapping needs besides the record: the account time zone (custom date values are
    local midnights), task type names by id, and custom field types by id."""

    timezone: ZoneInfo
    task_types: Mapping[int, str]
    field_types: Mapping[int, str]


@dataclass
class Batch:
    """The store rows of one page.

    ``upserts`` replace stored rows with the same key (:data:`KEYS`); ``children`` holds, per
    mapped entity (entity_type, id), the tags and custom values that replace all of its stored
    ones; ``events`` are (event row, derived rows by table) pairs, written only for events not
    stored yet; ``rejects`` are (raw JSON, reason) pairs.
    """

    upserts: dict[str, list[Row]] = field(default_factory=dict)
    children: dict[tuple[str, int], dict[str, list[Row]]] = field(default_factory=dict)
    events: list[tuple[Row, dict[str, list[Row]]]] = field(default_factory=list)
    rejects: list[tuple[str, str]] = field(default_factory=list)

    def merge(self, later: Batch) -> None:
        """Add the rows of a later page (a record read on both keeps the later version)."""
        for table, rows in later.upserts.items():
            self.upserts.setdefault(table, []).extend(rows)
        self.children.update(later.children)
        self.events.extend(later.events)
        self.rejects.extend(later.rejects)

    def add(self, table: str, row: Row) -> None:
        self.upserts.setdefault(table, []).append(row)

    def reject(self, record: Any, reason: str) -> None:
        self.rejects.append((raw_json(record) or "null", reason))


# Custom values and tags ------------------------------------------------------------------------


def _field_value(ftype: str, value: Any, tz: ZoneInfo) -> str | None:
    """One custom field value as store text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if ftype in _DATES | {"date_time"} and isinstance(value, int | float):
        local = dt.datetime.fromtimestamp(value, tz)
        return local.date().isoformat() if ftype in _DATES else local.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return raw_json(value)  # structured values (addresses, legal entities): kept as JSON


def custom_value_rows(entity_type: str, entity_id: int, values: Any, ctx: MapContext) -> list[Row]:
    """``custom_fields_values`` of one record: one row per value (a multiselect has several)."""
    if values is None:
        return []
    if not isinstance(values, list):
        raise Unmappable("custom_fields_values", "is not a list")
    rows = []
    for fv in values:
        if not isinstance(fv, Mapping):
            raise Unmappable("custom_fields_values", f"item {fv!r} is not an object")
        fid = as_int(fv, "field_id")
        assert fid is not None
        ftype = str(fv.get("field_type") or ctx.field_types.get(fid, "text"))
        items = fv.get("values") or []
        if not isinstance(items, list):
            raise Unmappable(f"custom_fields_values[{fid}].values", "is not a list")
        for item in items:
            if not isinstance(item, Mapping):
                continue
            enum = as_int(item, "enum_id", required=False) if ftype in _SELECT_LIKE else None
            rows.append(
                {
                    "entity_type": entity_type,
                    "entity_id": entity_id,
                    "field_id": fid,
                    "value": _field_value(ftype, item.get("value"), ctx.timezone),
                    "enum_id": enum,
                }
            )
    return rows


def _tag_rows(entity_type: str, entity_id: int, emb: Mapping[str, Any]) -> list[Row]:
    tags = emb.get("tags") or []
    if not isinstance(tags, list):
        raise Unmappable("_embedded.tags", "is not a list")
    names = {str(t["name"]) for t in tags if isinstance(t, Mapping) and t.get("name")}
    return [{"entity_type": entity_type, "entity_id": entity_id, "tag": n} for n in sorted(names)]


# Entities ------------------------------------------------------------------------------------


def _embedded(rec: Mapping[str, Any]) -> Mapping[str, Any]:
    emb = rec.get("_embedded") or {}
    if not isinstance(emb, Mapping):
        raise Unmappable("_embedded", "is not an object")
    return emb


def _deal(rec: Mapping[str, Any], emb: Mapping[str, Any]) -> Row:
    return {
        "deal_id": as_int(rec, "id"),
        "name": as_text(rec, "name"),
        "pipeline_id": as_int(rec, "pipeline_id"),
        "stage_id": as_int(rec, "status_id"),
        "price": as_number(rec, "price") or 0.0,
        "responsible_user_id": as_int(rec, "responsible_user_id", required=False),
        "created_by": as_int(rec, "created_by", required=False),
        "created_at": as_ts(rec, "created_at"),
        "updated_at": as_ts(rec, "updated_at"),
        "closed_at": as_ts(rec, "closed_at", required=False),
        "source_id": as_int(rec, "source_id", required=False),
        "loss_reason_id": as_int(rec, "loss_reason_id", required=False),
        "company_id": first_id(emb.get("companies"), "_embedded.companies"),
        "main_contact_id": first_id(emb.get("contacts"), "_embedded.contacts", prefer="is_main"),
        "is_deleted": as_bool(rec, "is_deleted"),
    }


def _party(rec: Mapping[str, Any], emb: Mapping[str, Any], contact: bool) -> Row:
    name = as_text(rec, "name")
    if name is None and contact:
        parts = [as_text(rec, "first_name"), as_text(rec, "last_name")]
        name = " ".join(p for p in parts if p) or None
    row = {
        "id": as_int(rec, "id"),
        "name": name,
        "responsible_user_id": as_int(rec, "responsible_user_id", required=False),
        "created_at": as_ts(rec, "created_at"),
        "updated_at": as_ts(rec, "updated_at"),
        "is_deleted": as_bool(rec, "is_deleted"),
    }
    if contact:
        row["company_id"] = first_id(emb.get("companies"), "_embedded.companies")
    return row


def _customer(rec: Mapping[str, Any], emb: Mapping[str, Any]) -> Row:
    as_ts(rec, "updated_at")  # the cursor of the incremental sync: required although not stored
    return {
        "customer_id": as_int(rec, "id"),
        "name": as_text(rec, "name"),
        "status_id": as_int(rec, "status_id", required=False),
        "next_price": as_number(rec, "next_price"),
        "next_date": as_ts(rec, "next_date", required=False),
        "responsible_user_id": as_int(rec, "responsible_user_id", required=False),
        "created_at": as_ts(rec, "created_at"),
        "is_deleted": as_bool(rec, "is_deleted"),
    }


_Build = Callable[[Mapping[str, Any], Mapping[str, Any]], Row]
_ENTITY_ROWS: Final[dict[str, tuple[str, _Build]]] = {
    "leads": ("deals", _deal),
    "contacts": ("contacts", lambda r, e: _party(r, e, contact=True)),
    "companies": ("companies", lambda r, e: _party(r, e, contact=False)),
    "customers": ("customers", _customer),
}


def map_entities(
    entity: str, records: Iterable[Any], ctx: MapContext, *, deleted: bool = False
) -> Batch:
    """A page of ``/api/v4/{leads|contacts|companies|customers}`` (``deleted``: from a
    ``with=only_deleted`` list, so every row is marked deleted whatever the record says)."""
    table, build = _ENTITY_ROWS[entity]
    store_entity = ENTITY_OF[entity]
    (key,) = KEYS[table]
    batch = Batch()
    for rec in records:
        if not isinstance(rec, Mapping):
            batch.reject(rec, "record: is not an object")
            continue
        try:
            emb = _embedded(rec)
            row = build(rec, emb)
            if deleted:
                row["is_deleted"] = True
            eid = row[key]
            values = custom_value_rows(store_entity, eid, rec.get("custom_fields_values"), ctx)
            tags = _tag_rows(store_entity, eid, emb)
        except Unmappable as exc:
            batch.reject(rec, str(exc))
            continue
        batch.add(table, row)
        batch.children[(store_entity, eid)] = {"custom_values": values, "tags": tags}
    return batch


def map_tasks(records: Iterable[Any], ctx: MapContext) -> Batch:
    """A page of ``/api/v4/tasks``. The API has no completion time: ``completed_at`` is the
    task's ``updated_at`` here, replaced by its task_completed event's time when the sync
    finishes (see ``derive.py``)."""
    batch = Batch()
    for rec in records:
        if not isinstance(rec, Mapping):
            batch.reject(rec, "record: is not an object")
            continue
        try:
            updated = as_ts(rec, "updated_at")
            done = as_bool(rec, "is_completed")
            type_id = as_int(rec, "task_type_id", required=False)
            kind = rec.get("entity_type")
            row = {
                "task_id": as_int(rec, "id"),
                "entity_type": ENTITY_OF.get(str(kind), kind) if kind is not None else None,
                "entity_id": as_int(rec, "entity_id", required=False),
                "responsible_user_id": as_int(rec, "responsible_user_id", required=False),
                "created_by": as_int(rec, "created_by", required=False),
                "task_type": None if type_id is None else ctx.task_types.get(type_id, str(type_id)),
                "text": as_text(rec, "text"),
                "created_at": as_ts(rec, "created_at"),
                "deadline": as_ts(rec, "complete_till", required=False),
                "is_completed": done,
                "completed_at": updated if done else None,
            }
        except Unmappable as exc:
            batch.reject(rec, str(exc))
            continue
        batch.add("tasks", row)
    return batch


_CALL_TYPES: Final = {"call_in": "in", "call_out": "out"}


def map_notes(entity: str, records: Iterable[Any]) -> Batch:
    """A page of ``/api/v4/{entity}/notes``: call notes become calls, attachment notes files,
    every other note a note (its text from ``params.text``)."""
    store_entity = ENTITY_OF[entity]
    batch = Batch()
    for rec in records:
        if not isinstance(rec, Mapping):
            batch.reject(rec, "record: is not an object")
            continue
        try:
            note_id = as_int(rec, "id")
            ntype = as_text(rec, "note_type") or "common"
            params = rec.get("params") or {}
            if not isinstance(params, Mapping):
                raise Unmappable("params", "is not an object")
            common = {
                "entity_type": store_entity,
                "entity_id": as_int(rec, "entity_id"),
                "created_at": as_ts(rec, "created_at"),
            }
            by = as_int(rec, "created_by", required=False)
            as_ts(rec, "updated_at")  # the sync's cursor
            if ntype in _CALL_TYPES:
                table = "calls"
                row = {
                    "call_id": note_id,
                    "direction": _CALL_TYPES[ntype],
                    "user_id": by,
                    "duration_s": as_int(params, "duration", required=False),
                    **common,
                }
            elif ntype == "attachment":
                table = "files"
                size = as_int(params, "file_size", required=False)
                name = as_text(params, "file_name") or as_text(params, "original_name")
                row = {
                    "file_id": as_text(params, "file_uuid") or f"note-{note_id}",
                    "name": name,
                    "size": size,
                    "created_by": by,
                    **common,
                }
            else:
                table = "notes"
                row = {
                    "note_id": note_id,
                    "note_type": ntype,
                    "text": as_text(params, "text"),
                    "created_by": by,
                    **common,
                }
        except Unmappable as exc:
            batch.reject(rec, str(exc))
            continue
        batch.add(table, row)
    return batch
