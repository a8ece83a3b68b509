"""Query side of the stand-in: request parameters, filters, and the SQL behind each list.

Columns of every list's SQL are named as the API names the fields; timestamps stay raw (naive
UTC) so that filters and orders use the stored columns, and become Unix seconds on the way out.
Request values only ever reach SQL as parameters; column names come from the specs below.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = [
    "CALL_EVENTS",
    "EVENT_TYPES",
    "MESSAGE_EVENTS",
    "NOTE_EVENTS",
    "PLURAL",
    "SINGULAR",
    "SPECS",
    "STORE_ENTITY",
    "ApiProblem",
    "FilterSpec",
    "ListQuery",
    "ListSpec",
    "as_strings",
    "in_list",
    "parse_params",
    "valid_event_type",
]

# Store entity_type -> the API's entity names (singular in events, plural in paths and tasks).
SINGULAR: Final = {
    "deal": "lead",
    "contact": "contact",
    "company": "company",
    "customer": "customer",
    "task": "task",
}
PLURAL: Final = {
    "deal": "leads",
    "contact": "contacts",
    "company": "companies",
    "customer": "customers",
    "task": "tasks",
}
STORE_ENTITY: Final = {v: k for k, v in PLURAL.items()} | {v: k for k, v in SINGULAR.items()}

#: Event types the API knows (from the amoCRM reference); any other makes /events answer 400.
EVENT_TYPES: Final = (
    "lead_added",
    "lead_deleted",
    "lead_restored",
    "lead_status_changed",
    "lead_linked",
    "lead_unlinked",
    "contact_added",
    "contact_deleted",
    "contact_restored",
    "company_added",
    "company_deleted",
    "company_restored",
    "contact_linked",
    "contact_unlinked",
    "company_linked",
    "company_unlinked",
    "customer_added",
    "customer_deleted",
    "customer_status_changed",
    "customer_linked",
    "customer_unlinked",
    "task_added",
    "task_deleted",
    "task_completed",
    "task_type_changed",
    "task_text_changed",
    "task_deadline_changed",
    "task_result_added",
    "incoming_call",
    "outgoing_call",
    "incoming_chat_message",
    "outgoing_chat_message",
    "entity_direct_message",
    "incoming_mail",
    "outgoing_mail",
    "incoming_sms",
    "outgoing_sms",
    "entity_tag_added",
    "entity_tag_deleted",
    "entity_linked",
    "entity_unlinked",
    "sale_field_changed",
    "name_field_changed",
    "ltv_field_changed",
    "custom_field_value_changed",
    "entity_responsible_changed",
    "robot_replied",
    "intent_identified",
    "nps_rate_added",
    "link_followed",
    "transaction_added",
    "common_note_added",
    "common_note_deleted",
    "attachment_note_added",
    "targeting_in_note_added",
    "targeting_out_note_added",
    "geo_note_added",
    "service_note_added",
    "site_visit_note_added",
    "message_to_cashier_note_added",
    "key_action_completed",
    "entity_merged",
)
MESSAGE_EVENTS: Final = ("incoming_chat_message", "outgoing_chat_message")
CALL_EVENTS: Final = ("incoming_call", "outgoing_call")
NOTE_EVENTS: Final = ("common_note_added", "attachment_note_added")

# Note ids of files (which have string ids in the store) start here.
FILE_NOTE_BASE: Final = 900_000_000
MAX_EVENT_IDS: Final = 10


class ApiProblem(Exception):
    """An error answer (problem+json) with its HTTP status."""

    def __init__(self, status: int, detail: str, *, path: str | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.path = path

    def body(self) -> dict[str, Any]:
        """The problem+json document."""
        titles = {400: "Bad Request", 404: "Not Found", 414: "URI Too Long"}
        out: dict[str, Any] = {
            "title": titles.get(self.status, "Error"),
            "type": f"https://httpstatus.es/{self.status}",
            "status": self.status,
            "detail": self.detail if self.status != 400 else "Request validation failed",
        }
        if self.status == 400:
            out["validation-errors"] = [
                {
                    "request_id": "0",
                    "errors": [
                        {"code": "InvalidValue", "path": self.path or "", "detail": self.detail}
                    ],
                }
            ]
        return out


# Query strings -----------------------------------------------------------------------------


def parse_params(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Nest PHP-style keys: ``filter[updated_at][from]=1`` -> ``{"filter": {"updated_at":
    {"from": "1"}}}``; ``k[]=a&k[]=b`` -> ``{"k": ["a", "b"]}``.

    >>> parse_params([("filter[type][]", "a"), ("filter[type][]", "b"), ("page", "2")])
    {'filter': {'type': ['a', 'b']}, 'page': '2'}
    """
    out: dict[str, Any] = {}
    for key, value in pairs:
        head, bracket, rest = key.partition("[")
        parts = [head, *rest[:-1].split("][")] if bracket and rest.endswith("]") else [key]
        append = len(parts) > 1 and parts[-1] == ""
        if append:
            parts.pop()
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        last = parts[-1]
        if not append:
            node[last] = value
        elif isinstance(node.get(last), list):
            node[last].append(value)
        else:
            node[last] = [value]
    return out


def as_strings(node: Any, path: str) -> list[str]:
    """A filter value as a list of strings: ``a``, ``a,b``, ``[a, b]`` or ``{0: a, 1: b}``."""
    if isinstance(node, str):
        items = [node]
    elif isinstance(node, list):
        items = node
    elif isinstance(node, dict) and all(k.isdigit() for k in node):
        items = [node[k] for k in sorted(node, key=int)]
    else:
        raise ApiProblem(400, f"{path} must be a value or a list of values", path=path)
    out = [s.strip() for item in items for s in str(item).split(",") if s.strip()]
    return out


def _ints(node: Any, path: str) -> list[int]:
    try:
        return [int(v) for v in as_strings(node, path)]
    except ValueError:
        raise ApiProblem(400, f"{path} must hold integers", path=path) from None


@dataclass(frozen=True)
class ListQuery:
    """The parsed parameters of one list request."""

    page: int = 1
    limit: int = 50
    filters: Mapping[str, Any] = field(default_factory=dict)
    order: Mapping[str, str] = field(default_factory=dict)
    with_: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, params: Mapping[str, Any], max_limit: int) -> ListQuery:
        """Validate ``page``, ``limit`` (1..max_limit), ``filter``, ``order`` and ``with``."""
        page = one_int(params.get("page", "1"), "page")
        limit = one_int(params.get("limit", "50"), "limit")
        if page < 1:
            raise ApiProblem(400, "page must be at least 1", path="page")
        if not 1 <= limit <= max_limit:
            raise ApiProblem(400, f"limit must be between 1 and {max_limit}", path="limit")
        filters = params.get("filter", {})
        order = params.get("order", {})
        if not isinstance(filters, dict) or not isinstance(order, dict):
            raise ApiProblem(400, "filter and order take named fields", path="filter")
        with_ = frozenset(as_strings(params["with"], "with")) if "with" in params else frozenset()
        return cls(page, limit, filters, order, with_)


def one_int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiProblem(400, f"{name} must be an integer", path=name) from None


# List specifications ------------------------------------------------------------------------

FilterKind = Literal["ids", "sids", "range", "strs", "bool"]
# Unix seconds -> the store's naive UTC timestamp, so that range filters compare the raw column
# (which DuckDB can push into the scan) instead of a per-row epoch() of it.
_TS_PARAM: Final = "make_timestamp(CAST(? AS BIGINT) * 1000000)"


@dataclass(frozen=True)
class FilterSpec:
    """How ``filter[<name>]`` applies to a column of the list's SQL."""

    column: str
    kind: FilterKind
    max_items: int | None = None
    allowed: frozenset[str] | None = None

    def sql(self, name: str, node: Any) -> tuple[list[str], list[Any]]:
        """WHERE conditions and their parameters (values are never SQL text)."""
        path = f"filter.{name}"
        col = f"s.{self.column}"
        if self.kind == "range":
            if isinstance(node, dict) and not all(k.isdigit() for k in node):
                unknown = set(node) - {"from", "to"}
                if unknown:
                    raise ApiProblem(400, f"{path} takes from and to", path=path)
                conds, vals = [], []
                if "from" in node:
                    conds.append(f"{col} >= {_TS_PARAM}")
                    vals.append(one_int(node["from"], f"{path}.from"))
                if "to" in node:
                    conds.append(f"{col} <= {_TS_PARAM}")
                    vals.append(one_int(node["to"], f"{path}.to"))
                return conds, vals
            return [f"{col} = {_TS_PARAM}"], [one_int(node, path)]
        if self.kind == "bool":
            text = str(node).lower()
            if text not in ("0", "1", "true", "false"):
                raise ApiProblem(400, f"{path} must be 0 or 1", path=path)
            return [f"{col} = ?"], [text in ("1", "true")]
        if self.kind == "ids":
            values: list[Any] = _ints(node, path)
        else:
            values = as_strings(node, path)
        if not values:
            raise ApiProblem(400, f"{path} is empty", path=path)
        if self.max_items is not None and len(values) > self.max_items:
            raise ApiProblem(
                400, f"{path} takes at most {self.max_items} values, got {len(values)}", path=path
            )
        if self.allowed is not None:
            bad = [v for v in values if v not in self.allowed]
            if bad:
                raise ApiProblem(400, f"{path}: unknown value(s) {', '.join(bad)}", path=path)
        return [in_list(col, values)], values


@dataclass(frozen=True)
class ListSpec:
    """A list endpoint: its SQL (columns named as in the API), filters and sort orders."""

    entity: str
    sql: str
    filters: Mapping[str, FilterSpec]
    orders: frozenset[str]
    default_order: tuple[str, str] = ("id", "asc")


def in_list(column: str, values: Sequence[Any]) -> str:
    """``column IN (?, ?, ...)``: one placeholder per value (DuckDB plans this as a fast
    filter; ``list_contains`` on a list parameter is evaluated row by row, 100x slower)."""
    return f"{column} IN ({', '.join('?' * len(values))})"


_ID_FILTER: Final = {"id": FilterSpec("id", "ids")}


def _standard_filters(*ranges: str, **extra: FilterSpec) -> dict[str, FilterSpec]:
    return {**_ID_FILTER, **{r: FilterSpec(r, "range") for r in ranges}, **extra}


_ENTITY_SQL: Final = {
    "leads": """
        SELECT d.deal_id AS id, d.name, d.price, d.responsible_user_id, u.group_id,
               d.stage_id AS status_id, d.pipeline_id, d.loss_reason_id, d.source_id,
               d.created_by, d.responsible_user_id AS updated_by,
               d.created_at AS created_at, d.updated_at AS updated_at,
               d.closed_at AS closed_at, d.is_deleted, d.company_id,
               d.main_contact_id
        FROM deals d LEFT JOIN users u ON u.user_id = d.responsible_user_id""",
    "contacts": """
        SELECT c.id, c.name, c.responsible_user_id, u.group_id,
               c.responsible_user_id AS created_by, c.responsible_user_id AS updated_by,
               c.created_at AS created_at, c.updated_at AS updated_at,
               c.company_id, c.is_deleted
        FROM contacts c LEFT JOIN users u ON u.user_id = c.responsible_user_id""",
    "companies": """
        SELECT c.id, c.name, c.responsible_user_id, u.group_id,
               c.responsible_user_id AS created_by, c.responsible_user_id AS updated_by,
               c.created_at AS created_at, c.updated_at AS updated_at,
               c.is_deleted
        FROM companies c LEFT JOIN users u ON u.user_id = c.responsible_user_id""",
    # The store keeps no updated_at for customers: creation is their last known change.
    "customers": """
        SELECT c.customer_id AS id, c.name, c.next_price, c.next_date AS next_date,
               c.responsible_user_id, u.group_id, c.status_id,
               c.responsible_user_id AS created_by, c.responsible_user_id AS updated_by,
               c.created_at AS created_at, c.created_at AS updated_at,
               c.is_deleted
        FROM customers c LEFT JOIN users u ON u.user_id = c.responsible_user_id""",
    # A task's last change: creation, completion or its latest deadline change.
    "tasks": """
        SELECT t.task_id AS id,
               CASE t.entity_type WHEN 'deal' THEN 'leads' WHEN 'contact' THEN 'contacts'
                    WHEN 'company' THEN 'companies' WHEN 'customer' THEN 'customers'
                    ELSE t.entity_type END AS entity_type,
               t.entity_id, t.responsible_user_id, u.group_id, t.created_by,
               t.responsible_user_id AS updated_by, t.task_type, t.text,
               t.created_at AS created_at,
               greatest(t.created_at, t.completed_at, dc.at) AS updated_at,
               t.deadline AS complete_till, t.is_completed
        FROM tasks t
        LEFT JOIN (SELECT task_id, max("at") AS at FROM task_deadline_changes GROUP BY 1) dc
          ON dc.task_id = t.task_id
        LEFT JOIN users u ON u.user_id = t.responsible_user_id""",
    # Store events, plus one nps_rate_added event per NPS response (the store's nps table).
    "events": """
        SELECT e.event_id AS id, e.type,
               CASE e.entity_type WHEN 'deal' THEN 'lead' ELSE e.entity_type END AS entity_type,
               e.entity_id, e.created_by, e.created_at AS created_at,
               e.value_before, e.value_after
        FROM events e
        UNION ALL
        SELECT 'nps-' || n.response_id, 'nps_rate_added',
               CASE n.entity_type WHEN 'deal' THEN 'lead' ELSE n.entity_type END,
               n.entity_id, 0, n.created_at, NULL,
               '[{"nps_rate": {"rate": ' || n.score || ', "talk_id": '
                   || n.response_id || '}}]'
        FROM nps n""",
    # Notes of all kinds: text notes, calls (note id = call id) and files (attachments).
    "notes": f"""
        SELECT note_id AS id, entity_type, entity_id, note_type, created_by,
               created_at AS created_at, created_at AS updated_at,
               text, NULL::VARCHAR AS direction, NULL::BIGINT AS duration,
               NULL::VARCHAR AS file_uuid, NULL::VARCHAR AS file_name, NULL::BIGINT AS file_size
        FROM notes
        UNION ALL
        SELECT call_id, entity_type, entity_id,
               CASE direction WHEN 'in' THEN 'call_in' ELSE 'call_out' END, user_id,
               created_at, created_at, NULL, direction, duration_s,
               NULL, NULL, NULL
        FROM calls
        UNION ALL
        SELECT {FILE_NOTE_BASE} + row_number() OVER (ORDER BY file_id), entity_type, entity_id,
               'attachment', created_by, created_at, created_at, NULL,
               NULL, NULL, file_id, name, size
        FROM files""",
}

_PARTY_FILTERS: Final = _standard_filters(
    "updated_at", "created_at", responsible_user_id=FilterSpec("responsible_user_id", "ids")
)
SPECS: Final = {
    "leads": ListSpec(
        "leads",
        _ENTITY_SQL["leads"],
        _standard_filters(
            "updated_at",
            "created_at",
            "closed_at",
            pipeline_id=FilterSpec("pipeline_id", "ids"),
            responsible_user_id=FilterSpec("responsible_user_id", "ids"),
        ),
        frozenset({"id", "created_at", "updated_at"}),
    ),
    "contacts": ListSpec(
        "contacts",
        _ENTITY_SQL["contacts"],
        _PARTY_FILTERS,
        frozenset({"id", "updated_at"}),
    ),
    "companies": ListSpec(
        "companies",
        _ENTITY_SQL["companies"],
        _PARTY_FILTERS,
        frozenset({"id", "updated_at"}),
    ),
    "customers": ListSpec(
        "customers",
        _ENTITY_SQL["customers"],
        _PARTY_FILTERS,
        frozenset({"id", "updated_at"}),
    ),
    "tasks": ListSpec(
        "tasks",
        _ENTITY_SQL["tasks"],
        _standard_filters(
            "updated_at",
            "created_at",
            is_completed=FilterSpec("is_completed", "bool"),
            entity_type=FilterSpec(
                "entity_type", "strs", allowed=frozenset(PLURAL.values()) - {"tasks"}
            ),
            entity_id=FilterSpec("entity_id", "ids"),
            responsible_user_id=FilterSpec("responsible_user_id", "ids"),
        ),
        frozenset({"id", "created_at", "updated_at", "complete_till"}),
    ),
    "events": ListSpec(
        "events",
        _ENTITY_SQL["events"],
        {
            "id": FilterSpec("id", "sids", max_items=MAX_EVENT_IDS),
            "created_at": FilterSpec("created_at", "range"),
            "entity": FilterSpec("entity_type", "strs", allowed=frozenset(SINGULAR.values())),
            "entity_id": FilterSpec("entity_id", "ids", max_items=MAX_EVENT_IDS),
            "created_by": FilterSpec("created_by", "ids", max_items=MAX_EVENT_IDS),
            # filter[type] is validated separately (custom_field_<id>_value_changed is open-ended)
            "type": FilterSpec("type", "strs"),
        },
        frozenset({"id", "created_at"}),
        default_order=("created_at", "desc"),  # newest first, as the API lists events
    ),
    "notes": ListSpec(
        "notes",
        _ENTITY_SQL["notes"],
        _standard_filters(
            "updated_at",
            note_type=FilterSpec("note_type", "strs"),
            entity_id=FilterSpec("entity_id", "ids"),
        ),
        frozenset({"id", "created_at", "updated_at"}),
    ),
}


def valid_event_type(name: str) -> bool:
    if name in EVENT_TYPES:
        return True
    head, _, tail = name.partition("custom_field_")
    return (
        head == "" and tail.endswith("_value_changed") and tail[: -len("_value_changed")].isdigit()
    )
