"""Custom widget definitions: the data (entity + conditions + display), its structural checks,
(de)serialisation, the per-account field catalog and the validation against an account.

A definition is plain data an analyst can keep in version control. It is checked twice before any
query runs: structurally when it is read (:meth:`CustomWidget.from_dict`: known keys, types,
entity, operators) and against the account (:func:`validate`: the field exists for the entity,
the operator suits the field's type, the value has the right type and names existing enum
values, stages, users). A failed check raises :class:`DefinitionError` naming the field (a dotted
path such as ``conditions[2].value``) and the problem. Values are only ever compared as Ibis
literals by the compiler (``deskkit.metrics.custom``); they never become SQL text.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, get_args

import pandas as pd

from deskkit.filters import Scope

if TYPE_CHECKING:
    from deskkit.store import Store

__all__ = [
    "ENTITIES",
    "NONE_KEY",
    "OPS",
    "Condition",
    "CustomWidget",
    "DefinitionError",
    "Display",
    "FieldSpec",
    "catalog",
    "fields_frame",
    "parse",
    "validate",
]

Entity = Literal["deals", "contacts", "companies", "customers", "tasks", "events"]
ENTITIES: tuple[str, ...] = get_args(Entity)
#: entity -> the ``entity_type`` value of attached rows (tasks, tags, custom values).
ENTITY_TYPE = {
    "deals": "deal",
    "contacts": "contact",
    "companies": "company",
    "customers": "customer",
    "tasks": "task",
    "events": "event",
}
Op = Literal[
    "eq",
    "ne",
    "in",
    "not_in",
    "gt",
    "ge",
    "lt",
    "le",
    "between",
    "contains",
    "is_set",
    "is_not_set",
    "is",
    "in_period",
    "before_period",
    "last_days",
    "overdue",
]
OPS: tuple[str, ...] = get_args(Op)
#: The split bucket of entities with no value in the split field.
NONE_KEY = "(none)"

_ID = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_FIELD = re.compile(r"^(cf:.{1,200}|[a-z_]{1,40})$", re.S)


class DefinitionError(ValueError):
    """An invalid custom widget definition: ``field`` is the dotted path of the offending part
    (``"conditions[2].value"``), ``problem`` says what is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


# The definition ----------------------------------------------------------------------------------


def _freeze(value: Any) -> Any:
    """Lists become tuples (definitions are hashable, immutable values)."""
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class Condition:
    """One filter condition: ``field`` (a column name, ``tag``, ``cf:<id or name>``, …),
    an operator and its value. The operators a field allows depend on its type
    (see :func:`deskkit.custom.fields`)."""

    field: str
    op: str
    value: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _freeze(self.value))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "op": self.op}
        if self.value is not None:
            out["value"] = _thaw(self.value)
        return out


@dataclass(frozen=True)
class Display:
    """What the widget shows: a number (count, or sum / mean of a numeric field) or that number
    split by a select / multiselect / radiobutton custom field (or by responsible user,
    department, stage)."""

    kind: Literal["number", "split"] = "number"
    measure: Literal["count", "sum", "mean"] = "count"
    field: str | None = None
    split_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "measure": self.measure}
        if self.field is not None:
            out["field"] = self.field
        if self.split_by is not None:
            out["split_by"] = self.split_by
        return out


@dataclass(frozen=True)
class CustomWidget:
    """A custom widget definition: an entity, filter conditions (all must hold) and a display.

    Build one in Python or read it with :meth:`from_dict` / :meth:`from_json` /
    :meth:`from_yaml`; :meth:`validate` checks it against an account before any query runs.
    """

    id: str
    title: Mapping[str, str]
    entity: str
    conditions: tuple[Condition, ...] = ()
    display: Display = field(default_factory=Display)
    size: str = "small"

    def __post_init__(self) -> None:
        title = self.title
        if isinstance(title, str):
            title = {"en": title}
        if not isinstance(title, Mapping):
            raise DefinitionError("title", f"must be a text or a mapping, not {title!r}")
        title = {str(k): str(v) for k, v in title.items()}
        if not title.get("en"):
            raise DefinitionError("title.en", "an English title is required")
        title.setdefault("ru", title["en"])
        object.__setattr__(self, "title", MappingProxyType(title))
        object.__setattr__(self, "conditions", tuple(self.conditions))
        _check_structure(self)

    def __hash__(self) -> int:
        title = tuple(sorted(self.title.items()))
        return hash((self.id, title, self.entity, self.conditions, self.display, self.size))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CustomWidget) and self.to_dict() == other.to_dict()

    def label(self, language: str = "en") -> str:
        return self.title.get(language) or self.title["en"]

    # Serialisation ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": dict(self.title),
            "entity": self.entity,
            "conditions": [c.to_dict() for c in self.conditions],
            "display": self.display.to_dict(),
            "size": self.size,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CustomWidget:
        """Read a definition, checking its structure (raises :class:`DefinitionError`)."""
        if not isinstance(d, Mapping):
            raise DefinitionError("definition", f"must be a mapping, not {type(d).__name__}")
        unknown = sorted(set(d) - {"id", "title", "entity", "conditions", "display", "size"})
        if unknown:
            raise DefinitionError(unknown[0], "unknown key")
        for key in ("id", "title", "entity"):
            if key not in d:
                raise DefinitionError(key, "is required")
        raw_conds = d.get("conditions") or []
        if not isinstance(raw_conds, Sequence) or isinstance(raw_conds, str):
            raise DefinitionError("conditions", "must be a list of conditions")
        conds = []
        for i, c in enumerate(raw_conds):
            where = f"conditions[{i}]"
            if not isinstance(c, Mapping):
                raise DefinitionError(where, "must be a mapping with field, op and value")
            bad = sorted(set(c) - {"field", "op", "value"})
            if bad:
                raise DefinitionError(f"{where}.{bad[0]}", "unknown key")
            for key in ("field", "op"):
                if key not in c:
                    raise DefinitionError(f"{where}.{key}", "is required")
            conds.append(Condition(c["field"], c["op"], c.get("value")))
        disp = d.get("display") or {}
        if not isinstance(disp, Mapping):
            raise DefinitionError("display", "must be a mapping")
        bad = sorted(set(disp) - {"kind", "measure", "field", "split_by"})
        if bad:
            raise DefinitionError(f"display.{bad[0]}", "unknown key")
        display = Display(**disp)
        return cls(
            id=d["id"],
            title=d["title"],
            entity=d["entity"],
            conditions=tuple(conds),
            display=display,
            size=d.get("size", "small"),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    @classmethod
    def from_json(cls, text: str) -> CustomWidget:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DefinitionError("definition", f"not valid JSON: {exc}") from None
        return cls.from_dict(data)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), allow_unicode=True, sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str) -> CustomWidget:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise DefinitionError("definition", f"not valid YAML: {exc}") from None
        return cls.from_dict(data)

    def validate(self, desk: Any) -> CustomWidget:
        """This definition checked against ``desk``'s account and normalised (custom fields by
        id, enum values, users and departments by id); raises :class:`DefinitionError`."""
        return validate(self, getattr(desk, "store", desk))


def parse(definition: CustomWidget | Mapping[str, Any] | str) -> CustomWidget:
    """A definition from a :class:`CustomWidget`, a mapping, or JSON / YAML text."""
    if isinstance(definition, CustomWidget):
        return definition
    if isinstance(definition, Mapping):
        return CustomWidget.from_dict(definition)
    if isinstance(definition, str):
        text = definition.strip()
        if text.startswith("{"):
            return CustomWidget.from_json(text)
        return CustomWidget.from_yaml(text)
    raise DefinitionError("definition", f"cannot read a {type(definition).__name__}")


def _check_structure(w: CustomWidget) -> None:
    """Types, enums and operator names: what can be checked without an account."""
    if not isinstance(w.id, str) or not _ID.match(w.id):
        raise DefinitionError("id", f"{w.id!r}: use 1-64 letters, digits and underscores")
    if w.entity not in ENTITIES:
        raise DefinitionError("entity", f"{w.entity!r} is not one of {', '.join(ENTITIES)}")
    if w.size not in ("small", "medium", "large"):
        raise DefinitionError("size", f"{w.size!r}: use small, medium or large")
    for i, c in enumerate(w.conditions):
        where = f"conditions[{i}]"
        if not isinstance(c, Condition):
            raise DefinitionError(where, "must be a Condition")
        if not isinstance(c.field, str) or not _FIELD.match(c.field):
            raise DefinitionError(f"{where}.field", f"{c.field!r} is not a field name")
        if c.op not in OPS:
            raise DefinitionError(f"{where}.op", f"unknown operator {c.op!r}")
    d = w.display
    if not isinstance(d, Display):
        raise DefinitionError("display", "must be a Display")
    if d.kind not in ("number", "split"):
        raise DefinitionError("display.kind", f"{d.kind!r}: use number or split")
    if d.measure not in ("count", "sum", "mean"):
        raise DefinitionError("display.measure", f"{d.measure!r}: use count, sum or mean")
    if d.measure != "count" and not d.field:
        raise DefinitionError("display.field", f"a {d.measure} needs a numeric field")
    if d.measure == "count" and d.field:
        raise DefinitionError("display.field", "a count takes no field")
    if d.kind == "split" and not d.split_by:
        raise DefinitionError("display.split_by", "a split display needs a field to split by")
    if d.kind == "number" and d.split_by:
        raise DefinitionError("display.split_by", "only a split display takes split_by")
    for name in ("field", "split_by"):
        value = getattr(d, name)
        if value is not None and (not isinstance(value, str) or not _FIELD.match(value)):
            raise DefinitionError(f"display.{name}", f"{value!r} is not a field name")


# The field catalog ------------------------------------------------------------------------------

_NUM_OPS = ("eq", "ne", "gt", "ge", "lt", "le", "between", "in", "not_in", "is_set", "is_not_set")
_TEXT_OPS = ("eq", "ne", "in", "not_in", "contains", "is_set", "is_not_set")
_DATE_OPS = (
    "in_period",
    "before_period",
    "last_days",
    "between",
    "gt",
    "ge",
    "lt",
    "le",
    "is_set",
    "is_not_set",
)
_CHOICE_OPS = ("eq", "ne", "in", "not_in", "is_set", "is_not_set")
_SET_OPS = ("eq", "ne", "in", "not_in", "contains", "is_set", "is_not_set")
_ID_OPS = ("eq", "ne", "in", "not_in")
_BOOL_OPS = ("is",)

#: type -> allowed operators.
TYPE_OPS: dict[str, tuple[str, ...]] = {
    "number": _NUM_OPS,
    "text": _TEXT_OPS,
    "date": _DATE_OPS,
    "deadline": (*_DATE_OPS, "overdue"),
    "bool": _BOOL_OPS,
    "select": _CHOICE_OPS,
    "radiobutton": _CHOICE_OPS,
    "multiselect": _SET_OPS,
    "tag": _SET_OPS,
    "user": _ID_OPS,
    "department": _ID_OPS,
    "stage": _ID_OPS,
    "stage_kind": _ID_OPS,
    "pipeline": _ID_OPS,
    "choice": _CHOICE_OPS,  # a store column with a short list of values (task type, event type)
}
SPLIT_TYPES = ("select", "multiselect", "radiobutton", "user", "department", "stage", "choice")

_CF_TYPES = {
    "numeric": "number",
    "text": "text",
    "textarea": "text",
    "url": "text",
    "date": "date",
    "date_time": "date",
    "birthday": "date",
    "checkbox": "bool",
    "select": "select",
    "multiselect": "multiselect",
    "radiobutton": "radiobutton",
}


@dataclass(frozen=True)
class FieldSpec:
    """One field a condition can use: its type decides the operators and values allowed."""

    name: str
    label: str
    type: str
    #: The column of the entity's table; None for fields computed another way (tag, custom
    #: fields, department, has_open_task, stage, …).
    column: str | None = None
    choices: tuple[tuple[Any, str], ...] | None = None
    #: A custom field's id, for ``cf:`` fields.
    field_id: int | None = None
    #: Whether the store keeps this field's history (stage, dates of events): else its current
    #: value stands for every moment.
    history: bool = False
    #: The Russian label of a built-in field (custom fields keep the account's own name).
    label_ru: str | None = None

    @property
    def ops(self) -> tuple[str, ...]:
        return TYPE_OPS[self.type]

    def label_in(self, lang: str = "en") -> str:
        """The field's label in ``lang`` (``"en"`` or ``"ru"``; the English one otherwise)."""
        if self.label_ru and str(lang).replace("-", "_").split("_")[0].lower() == "ru":
            return self.label_ru
        return self.label


def _distinct(store: Store, table: str, column: str, limit: int = 200) -> list[str]:
    """The distinct non-null values of a short-list column (a grouped query: few rows)."""
    t = store.table(table)
    rows = t.filter(t[column].notnull()).select(column).distinct().order_by(column).limit(limit)
    return [str(v) for v in rows.to_pandas()[column]]


def _users(store: Store) -> tuple[tuple[int, str], ...]:
    return tuple((int(r.user_id), str(r.name)) for r in store.users.itertuples())


def _groups(store: Store) -> tuple[tuple[int, str], ...]:
    return tuple((int(r.group_id), str(r.name)) for r in store.groups.itertuples())


def _stages(store: Store) -> tuple[tuple[tuple[int, int], str], ...]:
    pipes = store.pipelines.set_index("pipeline_id")["name"]
    st = store.stages.merge(store.pipelines[["pipeline_id", "sort"]], on="pipeline_id")
    st = st.sort_values(["sort_y", "pipeline_id", "sort_x"])
    return tuple(
        ((int(r.pipeline_id), int(r.stage_id)), f"{pipes[r.pipeline_id]}: {r.name}")
        for r in st.itertuples()
    )


def _cf_fields(store: Store, entity: str) -> list[FieldSpec]:
    cf = store.table("custom_fields")
    et = ENTITY_TYPE[entity]
    # A few rows per account (the field list), so reading them is fine.
    rows = cf.filter(cf.entity_type == et).order_by("field_id").to_pandas()
    if rows.empty:
        return []
    en = store.table("custom_field_enums")
    enums = (
        en.filter(en.field_id.isin([int(f) for f in rows.field_id]))
        .order_by(["field_id", "sort", "enum_id"])
        .to_pandas()
    )
    out = []
    for r in rows.itertuples():
        kind = _CF_TYPES.get(str(r.type))
        if kind is None:
            continue  # field types deskkit cannot compare (e.g. smart address) are not offered
        choices = None
        if kind in ("select", "multiselect", "radiobutton"):
            mine = enums.loc[enums.field_id == r.field_id]
            choices = tuple((int(e.enum_id), str(e.value)) for e in mine.itertuples())
        out.append(
            FieldSpec(f"cf:{int(r.field_id)}", str(r.name), kind, None, choices, int(r.field_id))
        )
    return out


#: store -> entity -> catalog. Like the store's cached users and stages, the field list is read
#: once per opened store (it changes only with a sync, which opens the store again).
_CATALOGS: weakref.WeakKeyDictionary[Any, dict[str, dict[str, FieldSpec]]] = (
    weakref.WeakKeyDictionary()
)


def catalog(store: Store, entity: str) -> dict[str, FieldSpec]:
    """Every field a condition on ``entity`` can use, by name (``cf:<id>`` for custom fields)."""
    if entity not in ENTITIES:
        raise DefinitionError("entity", f"{entity!r} is not one of {', '.join(ENTITIES)}")
    per_store = _CATALOGS.setdefault(store, {})
    if entity not in per_store:
        per_store[entity] = _catalog(store, entity)
    return dict(per_store[entity])


def _catalog(store: Store, entity: str) -> dict[str, FieldSpec]:
    users, groups = _users(store), _groups(store)
    owner = [
        FieldSpec(
            "responsible",
            "Responsible user",
            "user",
            "responsible_user_id",
            users,
            label_ru="Ответственный",
        ),
        FieldSpec("department", "Department", "department", None, groups, label_ru="Отдел"),
    ]
    created = FieldSpec(
        "created_at", "Created", "date", "created_at", history=True, label_ru="Дата создания"
    )
    # Only the latest update time is kept: no history (it counts from that moment on).
    updated = FieldSpec("updated_at", "Updated", "date", "updated_at", label_ru="Дата изменения")
    name_ru = "Имя" if entity == "contacts" else "Название"
    name = FieldSpec("name", "Name", "text", "name", label_ru=name_ru)
    has_task = FieldSpec(
        "has_open_task",
        "Has an open task",
        "bool",
        None,
        history=True,
        label_ru="Есть открытая задача",
    )
    tag = FieldSpec("tag", "Tag", "tag", None, label_ru="Теги")
    specs: list[FieldSpec]
    if entity == "deals":
        kinds = tuple((k, k) for k in ("unsorted", "open", "won", "lost"))
        pipes = tuple((int(r.pipeline_id), str(r.name)) for r in store.pipelines.itertuples())
        sources = store.table("lead_sources").order_by("id").limit(500).to_pandas()
        reasons = store.table("loss_reasons").order_by("id").limit(500).to_pandas()
        specs = [
            name,
            FieldSpec("price", "Budget", "number", "price", label_ru="Бюджет"),
            FieldSpec(
                "stage", "Stage", "stage", None, _stages(store), history=True, label_ru="Этап"
            ),
            FieldSpec(
                "stage_kind",
                "Stage kind",
                "stage_kind",
                None,
                kinds,
                history=True,
                label_ru="Тип этапа",
            ),
            FieldSpec(
                "pipeline", "Pipeline", "pipeline", None, pipes, history=True, label_ru="Воронка"
            ),
            *owner,
            FieldSpec(
                "created_by", "Created by", "user", "created_by", users, label_ru="Кем создана"
            ),
            created,
            updated,
            FieldSpec(
                "closed_at", "Closed", "date", "closed_at", history=True, label_ru="Дата закрытия"
            ),
            FieldSpec(
                "source",
                "Lead source",
                "select",
                "source_id",
                tuple((int(r.id), str(r.name)) for r in sources.itertuples()),
                label_ru="Источник сделки",
            ),
            FieldSpec(
                "loss_reason",
                "Loss reason",
                "select",
                "loss_reason_id",
                tuple((int(r.id), str(r.name)) for r in reasons.itertuples()),
                label_ru="Причина отказа",
            ),
            tag,
            has_task,
        ]
    elif entity in ("contacts", "companies"):
        specs = [name, *owner, created, updated, tag, has_task]
    elif entity == "customers":
        statuses = tuple((int(s), str(s)) for s in _distinct(store, "customers", "status_id"))
        specs = [
            name,
            FieldSpec("status", "Status", "select", "status_id", statuses, label_ru="Статус"),
            FieldSpec(
                "next_price",
                "Next purchase amount",
                "number",
                "next_price",
                label_ru="Сумма следующей покупки",
            ),
            FieldSpec(
                "next_date",
                "Next purchase date",
                "date",
                "next_date",
                label_ru="Дата следующей покупки",
            ),
            *owner,
            created,
            tag,
            has_task,
        ]
    elif entity == "tasks":
        types = tuple((v, v) for v in _distinct(store, "tasks", "task_type"))
        attached = tuple((v, v) for v in _distinct(store, "tasks", "entity_type"))
        specs = [
            FieldSpec(
                "task_type", "Task type", "choice", "task_type", types, label_ru="Тип задачи"
            ),
            FieldSpec("text", "Text", "text", "text", label_ru="Текст"),
            *owner,
            FieldSpec(
                "created_by", "Created by", "user", "created_by", users, label_ru="Кем создана"
            ),
            created,
            FieldSpec(
                "deadline", "Deadline", "deadline", "deadline", history=True, label_ru="Срок"
            ),
            FieldSpec(
                "is_completed",
                "Completed",
                "bool",
                "is_completed",
                history=True,
                label_ru="Выполнена",
            ),
            FieldSpec(
                "completed_at",
                "Completed at",
                "date",
                "completed_at",
                history=True,
                label_ru="Дата выполнения",
            ),
            FieldSpec(
                "entity_type",
                "Attached to",
                "choice",
                "entity_type",
                attached,
                label_ru="Прикреплена к",
            ),
        ]
    else:  # events
        types = tuple((v, v) for v in _distinct(store, "events", "type"))
        attached = tuple((v, v) for v in _distinct(store, "events", "entity_type"))
        specs = [
            FieldSpec("event_type", "Event type", "choice", "type", types, label_ru="Тип события"),
            FieldSpec(
                "entity_type", "Entity", "choice", "entity_type", attached, label_ru="Сущность"
            ),
            FieldSpec(
                "author",
                "Author",
                "user",
                "created_by",
                (*users, (0, "robot")),
                label_ru="Автор",
            ),
            FieldSpec(
                "department",
                "Author's department",
                "department",
                None,
                groups,
                label_ru="Отдел автора",
            ),
            FieldSpec(
                "created_at",
                "Created",
                "date",
                "created_at",
                history=True,
                label_ru="Дата создания",
            ),
        ]
    if entity != "events" and entity != "tasks":
        specs.extend(_cf_fields(store, entity))
    return {s.name: s for s in specs}


def fields_frame(store: Store, entity: str, lang: str = "en") -> pd.DataFrame:
    """The catalog as a table for the builder: field, label (in ``lang``), type, ops,
    choices."""
    rows = [
        {
            "field": s.name,
            "label": s.label_in(lang),
            "type": s.type,
            "ops": s.ops,
            "choices": list(s.choices) if s.choices is not None else None,
        }
        for s in catalog(store, entity).values()
    ]
    return pd.DataFrame(rows, columns=["field", "label", "type", "ops", "choices"])


# Validation against an account ------------------------------------------------------------------


def _resolve_field(specs: Mapping[str, FieldSpec], name: str, where: str) -> FieldSpec:
    if name in specs:
        return specs[name]
    if name.startswith("cf:"):
        key = name[3:].strip()
        hits = [s for s in specs.values() if s.field_id is not None and s.label == key]
        if not hits:
            hits = [
                s
                for s in specs.values()
                if s.field_id is not None and s.label.casefold() == key.casefold()
            ]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise DefinitionError(where, f"custom field name {key!r} is ambiguous")
        known = ", ".join(f"{s.name} {s.label!r}" for s in specs.values() if s.field_id)
        raise DefinitionError(where, f"unknown custom field {key!r}; known: {known or 'none'}")
    known = ", ".join(s for s in specs if not s.startswith("cf:"))
    raise DefinitionError(where, f"unknown field {name!r}; known: {known}")


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _as_list(value: Any, where: str) -> list[Any]:
    if isinstance(value, tuple | list):
        if not value:
            raise DefinitionError(where, "the list of values is empty")
        return list(value)
    if value is None:
        raise DefinitionError(where, "a value is required")
    return [value]


def _iso_date(v: Any, where: str) -> str:
    if isinstance(v, _dt.datetime):
        return v.date().isoformat()
    if isinstance(v, _dt.date):
        return v.isoformat()
    if isinstance(v, str):
        try:
            return _dt.date.fromisoformat(v.strip()[:10]).isoformat()
        except ValueError:
            pass
    raise DefinitionError(where, f"{v!r} is not a date (use YYYY-MM-DD)")


def _choice(spec: FieldSpec, v: Any, where: str) -> Any:
    """An enum value by id or by label (case-insensitive) -> its id."""
    choices = spec.choices or ()
    for key, _ in choices:
        if v == key and type(v) is type(key):
            return key
        if isinstance(key, int) and isinstance(v, str) and v.strip().isdigit() and int(v) == key:
            return key
    if isinstance(v, str):
        hits = [k for k, label in choices if label.casefold() == v.strip().casefold()]
        if len(hits) == 1:
            return hits[0]
    shown = ", ".join(f"{k!r} {lab!r}" for k, lab in list(choices)[:20])
    raise DefinitionError(where, f"unknown value {v!r} for {spec.label}; choices: {shown}")


def _stage(spec: FieldSpec, v: Any, where: str) -> tuple[int, int]:
    known = {k for k, _ in spec.choices or ()}
    pair_like = isinstance(v, Sequence) and not isinstance(v, str) and len(v) == 2
    if pair_like and all(_is_number(x) and int(x) == x for x in v):
        pair = (int(v[0]), int(v[1]))
        if pair in known:
            return pair
        raise DefinitionError(where, f"no stage {list(pair)} (pipeline_id, stage_id)")
    if isinstance(v, str):
        hits = [k for k, lab in spec.choices or () if lab.casefold() == v.strip().casefold()]
        if len(hits) == 1:
            return hits[0]
    raise DefinitionError(
        where, f"{v!r} is not a stage: use [pipeline_id, stage_id] or 'Pipeline: Stage'"
    )


def _norm_value(spec: FieldSpec, op: str, value: Any, where: str) -> Any:
    """The value checked against the field's type and normalised (ids for names)."""
    t = spec.type
    if op in ("is_set", "is_not_set", "in_period", "before_period", "overdue"):
        if value is not None:
            raise DefinitionError(where, f"operator {op!r} takes no value")
        return None
    if op == "last_days":
        if not (isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 36600):
            raise DefinitionError(where, f"last_days needs a whole number of days, not {value!r}")
        return value
    if t == "bool":
        if not isinstance(value, bool):
            raise DefinitionError(where, f"{spec.label} is true or false, not {value!r}")
        return value
    if op == "between":
        if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
            raise DefinitionError(where, "between needs a pair [low, high]")
        if t in ("date", "deadline"):
            lo, hi = (_iso_date(v, where) for v in value)
        else:
            if not all(_is_number(v) for v in value):
                raise DefinitionError(where, f"{spec.label} is a number, not {list(value)!r}")
            lo, hi = value
        if lo > hi:
            raise DefinitionError(where, f"between: {lo!r} is after {hi!r}")
        return (lo, hi)
    many = op in ("in", "not_in") or (op == "contains" and t in ("multiselect", "tag"))
    if t == "stage":
        # One stage is a [pipeline_id, stage_id] pair: for "in", a bare pair is a list of one.
        pair = isinstance(value, list | tuple) and len(value) == 2 and all(map(_is_number, value))
        if not many:
            return _stage(spec, value, where)
        return tuple(_stage(spec, v, where) for v in ([value] if pair else _as_list(value, where)))
    values = _as_list(value, where) if many else [value]
    if not many and isinstance(value, list | tuple):
        raise DefinitionError(where, f"operator {op!r} takes one value, not a list")
    out: list[Any] = []
    for v in values:
        if v is None:
            raise DefinitionError(where, "a value is required")
        if t == "number":
            if not _is_number(v):
                raise DefinitionError(where, f"{spec.label} is a number, not {v!r}")
            out.append(v)
        elif t in ("date", "deadline"):
            out.append(_iso_date(v, where))
        elif t in ("text", "tag"):
            if not isinstance(v, str):
                raise DefinitionError(where, f"{spec.label} is text, not {v!r}")
            out.append(v)
        elif t in ("select", "multiselect", "radiobutton", "choice", "stage_kind", "pipeline"):
            out.append(_choice(spec, v, where))
        elif t == "user":
            if isinstance(v, bool) or not isinstance(v, int | str):
                raise DefinitionError(where, f"{spec.label}: {v!r} is not a user id or name")
            out.append(_choice(spec, v, where))
        elif t == "department":
            if isinstance(v, bool) or not isinstance(v, int | str):
                raise DefinitionError(where, f"{spec.label}: {v!r} is not a department")
            out.append(_choice(spec, v, where))
        elif t == "stage":
            out.append(_stage(spec, v, where))
        else:  # pragma: no cover - every type is handled above
            raise DefinitionError(where, f"cannot compare a {t} field")
    return tuple(out) if many else out[0]


def validate(definition: CustomWidget, store: Store) -> CustomWidget:
    """``definition`` checked against the account in ``store`` and normalised: custom fields
    as ``cf:<id>``, enum values, users, departments, pipelines and stages as ids, dates as
    ISO days, lists as tuples. Raises :class:`DefinitionError` before any metric query."""
    specs = catalog(store, definition.entity)
    conds = []
    for i, c in enumerate(definition.conditions):
        where = f"conditions[{i}]"
        spec = _resolve_field(specs, c.field, f"{where}.field")
        if c.op not in spec.ops:
            raise DefinitionError(
                f"{where}.op",
                f"operator {c.op!r} does not apply to {spec.label} ({spec.type}); "
                f"use one of {', '.join(spec.ops)}",
            )
        value = _norm_value(spec, c.op, c.value, f"{where}.value")
        conds.append(Condition(spec.name, c.op, value))
    d = definition.display
    disp_field = d.field
    if d.field is not None:
        spec = _resolve_field(specs, d.field, "display.field")
        if spec.type != "number":
            raise DefinitionError("display.field", f"{spec.label} is {spec.type}, not a number")
        disp_field = spec.name
    split = d.split_by
    if d.split_by is not None:
        spec = _resolve_field(specs, d.split_by, "display.split_by")
        if spec.type not in SPLIT_TYPES:
            raise DefinitionError(
                "display.split_by",
                f"{spec.label} is {spec.type}: split by a select, multiselect or radiobutton "
                "field (or responsible, department, stage)",
            )
        split = spec.name
    return replace(
        definition,
        conditions=tuple(conds),
        display=replace(d, field=disp_field, split_by=split),
    )


def owners_of_departments(store: Store, groups: Sequence[int]) -> list[int]:
    """User ids of the departments ``groups`` (from the cached users table)."""
    out: set[int] = set()
    for g in groups:
        ids = Scope(department=int(g)).user_ids(store.users, store.groups) or frozenset()
        out |= ids
    return sorted(out)
