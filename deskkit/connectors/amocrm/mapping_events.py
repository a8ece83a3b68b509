"""API events → the ``events`` table (raw values kept as JSON) plus the rows derived from the
event shapes deskkit knows: stage moves, deadline changes, chat messages, calls and NPS rates.

An event whose own fields (id, type, entity, author, time) are unreadable is rejected; an event
of a known type whose value has an unexpected shape is still stored, and the derived row it
should have given is reported as a reject instead. Unknown types are stored and nothing more.

>>> ev = {"id": "e1", "type": "lead_status_changed", "entity_type": "lead", "entity_id": 7,
...       "created_by": 3, "created_at": 60,
...       "value_before": [{"lead_status": {"id": 11, "pipeline_id": 1}}],
...       "value_after": [{"lead_status": {"id": 142, "pipeline_id": 1}}]}
>>> batch = map_events([ev])
>>> row, derived = batch.events[0]
>>> derived["deal_moves"][0]["to_stage_id"], row["entity_type"]
(142, 'deal')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from deskkit.connectors.amocrm._parse import Unmappable, as_int, as_text, as_ts, raw_json
from deskkit.connectors.amocrm.mapping import ENTITY_OF, Batch, Row

__all__ = [
    "DELETION_EVENTS",
    "INSERT_IF_ABSENT",
    "map_events",
    "value",
]

#: Derived tables whose rows may also come from another stream (calls from call notes, which
#: carry the duration) or twice (an NPS rate): written only when no row has that key yet.
INSERT_IF_ABSENT: Final = {"calls": "call_id", "nps": "response_id"}
#: Event type → the entity list whose ``with=only_deleted`` view holds the deleted entity.
DELETION_EVENTS: Final = {
    "lead_deleted": "leads",
    "contact_deleted": "contacts",
    "company_deleted": "companies",
    "customer_deleted": "customers",
}
_MESSAGES: Final = {"incoming_chat_message": "in", "outgoing_chat_message": "out"}
_CALLS: Final = {"incoming_call": "in", "outgoing_call": "out"}


def value(values: Any, key: str) -> Mapping[str, Any]:
    """The object under ``key`` in an event value (a list of one-key objects)."""
    if isinstance(values, list):
        for item in values:
            if isinstance(item, Mapping) and isinstance(item.get(key), Mapping):
                return item[key]
    elif isinstance(values, Mapping) and isinstance(values.get(key), Mapping):
        return values[key]  # seen in some clients' fixtures: a bare object instead of a list
    raise Unmappable(key, "not in the event value")


def _derived(ev: Row, rec: Mapping[str, Any]) -> dict[str, list[Row]]:
    """Rows of other tables this event stands for (raises Unmappable on a bad shape)."""
    etype = ev["type"]
    before, after = rec.get("value_before"), rec.get("value_after")
    at, by, eid = ev["created_at"], ev["created_by"], ev["entity_id"]
    if etype == "lead_status_changed":
        old, new = value(before, "lead_status"), value(after, "lead_status")
        move = {
            "deal_id": eid,
            "at": at,
            "from_pipeline_id": as_int(old, "pipeline_id"),
            "from_stage_id": as_int(old, "id"),
            "to_pipeline_id": as_int(new, "pipeline_id"),
            "to_stage_id": as_int(new, "id"),
            "by_user_id": by,
        }
        return {"deal_moves": [move]}
    if etype == "task_deadline_changed":
        old, new = value(before, "task_deadline"), value(after, "task_deadline")
        change = {
            "task_id": eid,
            "at": at,
            "old_deadline": as_ts(old, "timestamp", required=False),
            "new_deadline": as_ts(new, "timestamp", required=False),
        }
        return {"task_deadline_changes": [change]}
    if etype in _MESSAGES:
        msg = value(after, "message")
        direction = _MESSAGES[etype]
        message = {
            "message_id": as_text(msg, "id") or ev["event_id"],
            "talk_id": as_int(msg, "talk_id", required=False),
            "entity_type": ev["entity_type"],
            "entity_id": eid,
            "direction": direction,
            "channel": as_text(msg, "origin"),
            "created_at": at,
            # the client's messages are authored by nobody; 0 is the robot/system author
            "user_id": by if direction == "out" and by else None,
        }
        return {"messages": [message]}
    if etype in _CALLS:
        note = value(after, "note")
        call = {
            "call_id": as_int(note, "id"),
            "direction": _CALLS[etype],
            "entity_type": ev["entity_type"],
            "entity_id": eid,
            "user_id": by,
            "created_at": at,
            "duration_s": None,  # only the call note has it (it replaces this row)
        }
        return {"calls": [call]}
    if etype == "nps_rate_added":
        rate = value(after, "nps_rate")
        score = as_int(rate, "rate", required=False)
        if score is not None and not 0 <= score <= 10:
            raise Unmappable("nps_rate.rate", f"{score} is not a score from 0 to 10")
        response = {
            "response_id": as_int(rate, "talk_id"),
            "entity_type": ev["entity_type"],
            "entity_id": eid,
            "score": score,  # None: read from /talks/{id} before writing
            "created_at": at,
            "user_id": None,  # the entity's responsible user, set when the sync finishes
        }
        return {"nps": [response]}
    return {}


def map_events(records: Iterable[Any]) -> Batch:
    """A page of ``/api/v4/events``."""
    batch = Batch()
    for rec in records:
        if not isinstance(rec, Mapping):
            batch.reject(rec, "record: is not an object")
            continue
        try:
            event_id = rec.get("id")
            if isinstance(event_id, bool) or not isinstance(event_id, str | int) or event_id == "":
                raise Unmappable("id", "missing" if event_id is None else f"{event_id!r} is bad")
            etype = as_text(rec, "type")
            if not etype:
                raise Unmappable("type", "missing")
            kind = as_text(rec, "entity_type")
            ev = {
                "event_id": str(event_id),
                "type": etype,
                "entity_type": ENTITY_OF.get(kind, kind) if kind is not None else None,
                "entity_id": as_int(rec, "entity_id"),
                "created_at": as_ts(rec, "created_at"),
                "created_by": as_int(rec, "created_by", required=False) or 0,
                "value_before": raw_json(rec.get("value_before")),
                "value_after": raw_json(rec.get("value_after")),
            }
        except Unmappable as exc:
            batch.reject(rec, str(exc))
            continue
        try:
            derived = _derived(ev, rec)
        except Unmappable as exc:
            # The event is kept; only the row it should have given is missing, so say so.
            batch.reject(rec, f"{etype} {ev['event_id']}: {exc} (event kept, no row derived)")
            derived = {}
        batch.events.append((ev, derived))
    return batch
