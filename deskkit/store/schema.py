"""The deskkit store schema (v1): every CRM table, column and type, declared once.

Timestamps are UTC instants stored as naive ``timestamp`` (the engine's plain type, identical on
every backend); money is in the account currency; ids are 64-bit integers unless noted. Stage
identity is the pair (pipeline_id, stage_id): amoCRM reuses 142 (won) and 143 (lost) everywhere.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

import ibis
import ibis.expr.datatypes as dt
from ibis.expr.schema import Schema

__all__ = [
    "ENTITY_TYPES",
    "SCHEMA",
    "SCHEMA_VERSION",
    "STAGE_KINDS",
    "table_names",
]

SCHEMA_VERSION: Final = 1

#: Values of every ``entity_type`` column.
ENTITY_TYPES: Final = ("deal", "contact", "company", "customer", "task")
#: Values of ``stages.kind``.
STAGE_KINDS: Final = ("unsorted", "open", "won", "lost")

_TS = "timestamp"

_TABLES: dict[str, dict[str, str]] = {
    "account": {
        "name": "string",
        "subdomain": "string",
        "timezone": "string",  # IANA name, e.g. Europe/Moscow
        "currency": "string",  # ISO 4217, e.g. RUB
        "week_start": "string",  # "monday"
        "synced_at": _TS,
    },
    "users": {
        "user_id": "int64",
        "name": "string",
        "email": "string",
        "group_id": "int64",
        "is_active": "boolean",
        "is_admin": "boolean",
        "deal_capacity": "int64",  # null = the default capacity (15)
        "deal_access": "string",  # whose deals the user may see: all | group | own
    },
    "groups": {"group_id": "int64", "name": "string"},
    "pipelines": {
        "pipeline_id": "int64",
        "name": "string",
        "sort": "int64",
        "is_main": "boolean",
        "is_archived": "boolean",
    },
    "stages": {
        "pipeline_id": "int64",
        "stage_id": "int64",
        "name": "string",
        "sort": "int64",
        "kind": "string",  # unsorted | open | won | lost
        "color": "string",
    },
    "deals": {
        "deal_id": "int64",
        "name": "string",
        "pipeline_id": "int64",
        "stage_id": "int64",
        "price": "float64",
        "responsible_user_id": "int64",
        "created_by": "int64",
        "created_at": _TS,
        "updated_at": _TS,
        "closed_at": _TS,
        "source_id": "int64",
        "loss_reason_id": "int64",
        "company_id": "int64",
        "main_contact_id": "int64",
        "is_deleted": "boolean",
    },
    # One row per stage change; creation is not a move.
    "deal_moves": {
        "deal_id": "int64",
        "at": _TS,
        "from_pipeline_id": "int64",
        "from_stage_id": "int64",
        "to_pipeline_id": "int64",
        "to_stage_id": "int64",
        "by_user_id": "int64",  # 0 = robot
    },
    "tasks": {
        "task_id": "int64",
        "entity_type": "string",
        "entity_id": "int64",
        "responsible_user_id": "int64",
        "created_by": "int64",
        "task_type": "string",
        "text": "string",
        "created_at": _TS,
        "deadline": _TS,
        "is_completed": "boolean",
        "completed_at": _TS,
    },
    "task_deadline_changes": {
        "task_id": "int64",
        "at": _TS,
        "old_deadline": _TS,
        "new_deadline": _TS,
    },
    "events": {
        "event_id": "string",
        "type": "string",
        "entity_type": "string",
        "entity_id": "int64",
        "created_at": _TS,
        "created_by": "int64",  # 0 = robot
        "value_before": "string",  # JSON text
        "value_after": "string",  # JSON text
    },
    "messages": {
        "message_id": "string",
        "talk_id": "int64",
        "entity_type": "string",
        "entity_id": "int64",
        "direction": "string",  # in | out
        "channel": "string",
        "created_at": _TS,
        "user_id": "int64",  # author of an outgoing message; null for incoming
    },
    "calls": {
        "call_id": "int64",
        "direction": "string",  # in | out
        "entity_type": "string",
        "entity_id": "int64",
        "user_id": "int64",
        "created_at": _TS,
        "duration_s": "int64",
    },
    "notes": {
        "note_id": "int64",
        "entity_type": "string",
        "entity_id": "int64",
        "note_type": "string",
        "text": "string",
        "created_by": "int64",
        "created_at": _TS,
    },
    "files": {
        "file_id": "string",
        "entity_type": "string",
        "entity_id": "int64",
        "name": "string",
        "size": "int64",
        "created_by": "int64",
        "created_at": _TS,
    },
    "presence": {"user_id": "int64", "started_at": _TS, "ended_at": _TS},
    "goals": {
        "goal_id": "int64",
        "name": "string",
        "measure": "string",  # won_budget | won_count
        "scope_kind": "string",  # all | user | group
        "scope_id": "int64",
        "cadence": "string",  # month | quarter | year
        "target": "float64",
        "valid_from": _TS,
    },
    "nps": {
        "response_id": "int64",
        "entity_type": "string",
        "entity_id": "int64",
        "score": "int64",  # 0..10
        "created_at": _TS,
        "user_id": "int64",
    },
    "contacts": {
        "id": "int64",
        "name": "string",
        "responsible_user_id": "int64",
        "created_at": _TS,
        "updated_at": _TS,
        "company_id": "int64",
        "is_deleted": "boolean",
    },
    "companies": {
        "id": "int64",
        "name": "string",
        "responsible_user_id": "int64",
        "created_at": _TS,
        "updated_at": _TS,
        "is_deleted": "boolean",
    },
    "customers": {
        "customer_id": "int64",
        "name": "string",
        "status_id": "int64",
        "next_price": "float64",
        "next_date": _TS,
        "responsible_user_id": "int64",
        "created_at": _TS,
        "is_deleted": "boolean",
    },
    "custom_fields": {
        "entity_type": "string",
        "field_id": "int64",
        "name": "string",
        "type": "string",  # text, numeric, checkbox, select, multiselect, radiobutton, date, ...
    },
    "custom_field_enums": {
        "field_id": "int64",
        "enum_id": "int64",
        "value": "string",
        "sort": "int64",
    },
    # One row per value: a multiselect has several rows for one entity and field.
    "custom_values": {
        "entity_type": "string",
        "entity_id": "int64",
        "field_id": "int64",
        "value": "string",
        "enum_id": "int64",
    },
    "lead_sources": {"id": "int64", "name": "string"},
    "loss_reasons": {"id": "int64", "name": "string"},
    "tags": {"entity_type": "string", "entity_id": "int64", "tag": "string"},
    # Rows that failed validation on the way in, kept with the reason: nothing is dropped silently.
    "rejects": {"source": "string", "raw": "string", "reason": "string", "at": _TS},
}

#: table name -> Ibis schema, in a fixed order (lookup tables first).
SCHEMA: Final[MappingProxyType[str, Schema]] = MappingProxyType(
    {name: ibis.schema(columns) for name, columns in _TABLES.items()}
)


def table_names() -> tuple[str, ...]:
    """Names of all store tables, in schema order."""
    return tuple(SCHEMA)


def is_compatible(expected: dt.DataType, actual: dt.DataType) -> bool:
    """Whether a column of type ``actual`` can stand for the schema type ``expected``.

    Integers of any width stand for int64 and any float for float64; a timestamp with or without
    a time zone stands for a UTC timestamp (the store normalises it when it opens the table).
    """
    if expected.is_integer():
        return actual.is_integer()
    if expected.is_floating():
        return actual.is_floating() or actual.is_integer() or actual.is_decimal()
    if expected.is_timestamp():
        return actual.is_timestamp()
    if expected.is_string():
        return actual.is_string()
    if expected.is_boolean():
        return actual.is_boolean()
    return expected == actual
