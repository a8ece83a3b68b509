"""Reference data → store rows: account, users, groups, pipelines and stages, custom fields
and their enums, loss reasons, lead sources. Small, so each sync replaces them whole.

>>> stages = stage_rows({"id": 1, "_embedded": {"statuses": [
...     {"id": 10, "name": "Incoming", "sort": 10, "type": 1},
...     {"id": 11, "name": "Talks", "sort": 20, "type": 0},
...     {"id": 142, "name": "Won", "sort": 10000, "type": 0},
...     {"id": 143, "name": "Lost", "sort": 11000, "type": 0}]}})
>>> [s["kind"] for s in stages]
['unsorted', 'open', 'won', 'lost']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from deskkit.connectors.amocrm._parse import (
    Unmappable,
    as_bool,
    as_int,
    as_text,
    raw_json,
)
from deskkit.connectors.amocrm.mapping import ENTITY_OF, Row

__all__ = [
    "LOST",
    "WON",
    "Reference",
    "account_row",
    "add_account",
    "add_custom_fields",
    "add_named",
    "add_pipelines",
    "add_users",
    "deal_access",
    "stage_rows",
]

#: amoCRM's won and lost stages have these ids in every pipeline.
WON: Final = 142
LOST: Final = 143
_UNSORTED_TYPE: Final = 1
# rights.leads.view: A = all deals, G = the user's group, M = own only, D = none (the store's
# most restrictive level is "own").
_ACCESS: Final = {"A": "all", "G": "group", "M": "own", "D": "own"}


@dataclass
class Reference:
    """The full contents of the reference tables, plus what mapping the big lists needs."""

    tables: dict[str, list[Row]] = field(default_factory=dict)
    task_types: dict[int, str] = field(default_factory=dict)
    rejects: list[tuple[str, str, str]] = field(default_factory=list)  # (source, raw, reason)

    def rows(self, table: str) -> list[Row]:
        return self.tables.setdefault(table, [])

    def each(self, source: str, records: Iterable[Any]) -> Iterable[Mapping[str, Any]]:
        """The records that are objects (others are rejected)."""
        for rec in records:
            if isinstance(rec, Mapping):
                yield rec
            else:
                self.reject(source, rec, "record: is not an object")

    def reject(self, source: str, rec: Any, reason: str) -> None:
        self.rejects.append((source, raw_json(rec) or "null", reason))


def account_row(acc: Mapping[str, Any], synced_at: dt.datetime) -> Row:
    """The one ``account`` row (the week starts on Monday: the API has no such setting)."""
    emb = acc.get("_embedded") or {}
    settings = emb.get("datetime_settings") if isinstance(emb, Mapping) else None
    tz = settings.get("timezone") if isinstance(settings, Mapping) else None
    return {
        "name": as_text(acc, "name"),
        "subdomain": as_text(acc, "subdomain"),
        "timezone": str(tz) if tz else "UTC",
        "currency": as_text(acc, "currency"),
        "week_start": "monday",
        "synced_at": synced_at,
    }


def deal_access(rights: Mapping[str, Any]) -> str:
    """``users.deal_access`` from a user's rights (admins see everything)."""
    if rights.get("is_admin"):
        return "all"
    leads = rights.get("leads")
    view = leads.get("view") if isinstance(leads, Mapping) else None
    return _ACCESS.get(str(view), "own")


def add_account(ref: Reference, acc: Mapping[str, Any], synced_at: dt.datetime) -> None:
    """account, groups (users_groups) and task types from ``/api/v4/account``."""
    ref.rows("account").append(account_row(acc, synced_at))
    emb = acc.get("_embedded") or {}
    groups = emb.get("users_groups") or [] if isinstance(emb, Mapping) else []
    for g in ref.each("/api/v4/account users_groups", groups):
        try:
            ref.rows("groups").append({"group_id": as_int(g, "id"), "name": as_text(g, "name")})
        except Unmappable as exc:
            ref.reject("/api/v4/account users_groups", g, str(exc))
    types = emb.get("task_types") or [] if isinstance(emb, Mapping) else []
    for t in ref.each("/api/v4/account task_types", types):
        tid = as_int(t, "id", required=False)
        if tid is not None:
            ref.task_types[tid] = str(t.get("name") or tid)


def add_users(ref: Reference, users: Iterable[Any]) -> None:
    """``/api/v4/users`` (deal_capacity is deskkit's own setting: kept by the writer)."""
    for u in ref.each("/api/v4/users", users):
        try:
            rights = u.get("rights") or {}
            if not isinstance(rights, Mapping):
                raise Unmappable("rights", "is not an object")
            ref.rows("users").append(
                {
                    "user_id": as_int(u, "id"),
                    "name": as_text(u, "name"),
                    "email": as_text(u, "email"),
                    "group_id": as_int(rights, "group_id", required=False),
                    "is_active": as_bool(rights, "is_active", default=True),
                    "is_admin": as_bool(rights, "is_admin"),
                    "deal_capacity": None,
                    "deal_access": deal_access(rights),
                }
            )
        except Unmappable as exc:
            ref.reject("/api/v4/users", u, str(exc))


def stage_rows(pipeline: Mapping[str, Any]) -> list[Row]:
    """The stages of one pipeline; kind from the status type and the ids 142 / 143."""
    pid = as_int(pipeline, "id")
    emb = pipeline.get("_embedded") or {}
    statuses = emb.get("statuses") if isinstance(emb, Mapping) else None
    if not isinstance(statuses, list):
        raise Unmappable("_embedded.statuses", "is not a list")
    rows = []
    for s in statuses:
        if not isinstance(s, Mapping):
            raise Unmappable("_embedded.statuses", f"item {s!r} is not an object")
        sid = as_int(s, "id")
        if sid == WON:
            kind = "won"
        elif sid == LOST:
            kind = "lost"
        elif as_int(s, "type", required=False) == _UNSORTED_TYPE:
            kind = "unsorted"
        else:
            kind = "open"
        rows.append(
            {
                "pipeline_id": pid,
                "stage_id": sid,
                "name": as_text(s, "name"),
                "sort": as_int(s, "sort", required=False),
                "kind": kind,
                "color": as_text(s, "color"),
            }
        )
    return rows


def add_pipelines(ref: Reference, pipelines: Iterable[Any]) -> None:
    """``/api/v4/leads/pipelines`` with their statuses."""
    for p in ref.each("/api/v4/leads/pipelines", pipelines):
        try:
            stages = stage_rows(p)
            row = {
                "pipeline_id": as_int(p, "id"),
                "name": as_text(p, "name"),
                "sort": as_int(p, "sort", required=False),
                "is_main": as_bool(p, "is_main"),
                "is_archived": as_bool(p, "is_archive"),
            }
        except Unmappable as exc:
            ref.reject("/api/v4/leads/pipelines", p, str(exc))
            continue
        ref.rows("pipelines").append(row)
        ref.rows("stages").extend(stages)


def add_custom_fields(ref: Reference, entity: str, fields: Iterable[Any]) -> None:
    """``/api/v4/{entity}/custom_fields`` with their enums."""
    source = f"/api/v4/{entity}/custom_fields"
    for f in ref.each(source, fields):
        try:
            fid = as_int(f, "id")
            enums = f.get("enums") or []
            if not isinstance(enums, list):
                raise Unmappable("enums", "is not a list")
            enum_rows = [
                {
                    "field_id": fid,
                    "enum_id": as_int(e, "id"),
                    "value": as_text(e, "value"),
                    "sort": as_int(e, "sort", required=False),
                }
                for e in enums
                if isinstance(e, Mapping)
            ]
            row = {
                "entity_type": ENTITY_OF[entity],
                "field_id": fid,
                "name": as_text(f, "name"),
                "type": as_text(f, "type") or "text",
            }
        except Unmappable as exc:
            ref.reject(source, f, str(exc))
            continue
        ref.rows("custom_fields").append(row)
        ref.rows("custom_field_enums").extend(enum_rows)


def add_named(ref: Reference, table: str, source: str, records: Iterable[Any]) -> None:
    """An id/name list: loss reasons, lead sources."""
    for r in ref.each(source, records):
        try:
            ref.rows(table).append({"id": as_int(r, "id"), "name": as_text(r, "name")})
        except Unmappable as exc:
            ref.reject(source, r, str(exc))
