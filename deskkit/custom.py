"""Custom widgets: a saved filter over deals, contacts, companies, customers, tasks or events,
shown on the desktop as a number (count, sum or mean) or split by a custom field, with its change
over the period.

A definition is data (JSON or YAML an analyst can keep in version control), validated against
the account before any query runs; filter values are only ever Ibis literals, never SQL text.

>>> import deskkit as dk
>>> from deskkit.custom import Condition, CustomWidget, Display
>>> w = CustomWidget(
...     id="no_task_last_stage",
...     title={"en": "No task in the last stage", "ru": "Без задач на последнем этапе"},
...     entity="deals",
...     conditions=(Condition("stage", "in", [[3201, 32013]]),
...                 Condition("has_open_task", "is", False)),
... )
>>> w.to_dict()["conditions"][1]
{'field': 'has_open_task', 'op': 'is', 'value': False}
>>> desk = dk.open()                                   # doctest: +SKIP
>>> dk.custom.preview(desk, w).value                   # doctest: +SKIP
>>> dk.custom.save(desk, w)                            # doctest: +SKIP

Dynamics: ``value`` is the widget's number at the end of what has happened of the period
(``min(period end, now)``), ``value_at_start`` the same filter evaluated at the period's start,
``change = value - value_at_start``. The store keeps the history of a deal's stage and pipeline,
of creation and closing, of tasks (created, completed, deadline changes) and of events, so those
conditions are evaluated as they held at each moment; custom field values, tags, budget,
responsible user and a customer's status have no history in the store and use their current
values at both moments.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deskkit import widgets as registry
from deskkit.metrics._custom_spec import (
    ENTITIES,
    NONE_KEY,
    OPS,
    SPLIT_TYPES,
    TYPE_OPS,
    Condition,
    CustomWidget,
    DefinitionError,
    Display,
    FieldSpec,
    fields_frame,
    parse,
)
from deskkit.metrics.custom import CustomResult
from deskkit.paths import data_dir

if TYPE_CHECKING:
    import pandas as pd

    from deskkit.desk import Desk, PeriodLike

__all__ = [
    "ENTITIES",
    "NONE_KEY",
    "OPS",
    "SPLIT_TYPES",
    "TYPE_OPS",
    "Condition",
    "CustomResult",
    "CustomWidget",
    "DefinitionError",
    "Display",
    "FieldSpec",
    "as_widget",
    "delete",
    "fields",
    "folder",
    "follows_pipeline",
    "parse",
    "preview",
    "register_saved",
    "save",
    "saved",
]

#: The card family drawing custom widgets on the desktop.
FAMILY = "custom"


def fields(desk: Desk, entity: str, lang: str = "en") -> pd.DataFrame:
    """The fields a condition on ``entity`` can use, for a builder: columns ``field`` (the
    name to put in a :class:`Condition`), ``label`` (in ``lang``: built-in fields have Russian
    names, custom fields keep the account's), ``type``, ``ops`` (a tuple of the operators the
    type allows) and ``choices`` (a list of ``(value, label)`` pairs, or None)."""
    return fields_frame(desk.store, entity, lang)


def preview(
    desk: Desk,
    definition: CustomWidget | Mapping[str, Any] | str,
    period: PeriodLike = "month",
    **scope: Any,
) -> CustomResult:
    """Validate ``definition`` against ``desk``'s account and compute it for ``period``
    (``user=``, ``department=``, ``pipeline=`` as on the desktop: the pipeline is ignored
    where the card ignores it, see :func:`follows_pipeline`)."""
    defn = parse(definition)
    if not follows_pipeline(defn):
        scope.pop("pipeline", None)
    return desk.custom(defn, period, **scope)


def follows_pipeline(definition: CustomWidget) -> bool:
    """Whether the desktop's pipeline filter narrows this widget: deal widgets only, and only
    when the definition names no pipeline or stage of its own (a widget about a stage of
    another pipeline must not read zero because the desktop shows the main one)."""
    own = any(c.field in ("pipeline", "stage") for c in definition.conditions)
    return definition.entity == "deals" and not own


# Saving -----------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "account"


def folder(desk: Desk) -> Path:
    """Where ``desk``'s account keeps its saved custom widgets."""
    account = desk.store.account
    return data_dir() / "custom_widgets" / _slug(account.subdomain or account.name)


def _check_id(widget_id: str) -> None:
    try:
        existing = registry.get(widget_id)
    except KeyError:
        return
    if existing.builtin:
        raise DefinitionError("id", f"{widget_id!r} is a built-in widget; choose another id")


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) and "definition" in data else None


def save(
    desk: Desk, definition: CustomWidget | Mapping[str, Any] | str, *, user: int | None = None
) -> Path:
    """Validate and store ``definition`` for ``user`` (None: shared with everyone); returns
    the file. Saving over a widget another user owns is refused."""
    w = parse(definition)
    _check_id(w.id)
    w.validate(desk)  # the stored text is the analyst's own (names, not only ids), but checked
    path = folder(desk) / f"{w.id}.json"
    old = _read(path)
    if old is not None and old.get("owner") != user:
        owner = old.get("owner")
        raise DefinitionError(
            "id", f"{w.id!r} is already saved by {'everyone' if owner is None else owner}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"owner": user, "definition": w.to_dict()}, f, ensure_ascii=False, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def saved(desk: Desk, *, user: int | None = None) -> list[CustomWidget]:
    """The definitions ``user`` sees: their own and the shared ones, by id. A damaged or no
    longer valid file is skipped rather than breaking the desktop."""
    out = []
    base = folder(desk)
    for path in sorted(base.glob("*.json")) if base.is_dir() else ():
        data = _read(path)
        if data is None or data.get("owner") not in (None, user):
            continue
        try:
            out.append(CustomWidget.from_dict(data["definition"]))
        except (DefinitionError, TypeError):
            continue
    return out


def owner(desk: Desk, widget_id: str) -> int | None:
    """The user who saved ``widget_id`` (None: shared with everyone); KeyError if not saved."""
    data = _read(folder(desk) / f"{widget_id}.json")
    if data is None:
        raise KeyError(f"no saved custom widget {widget_id!r}")
    return data.get("owner")


def delete(desk: Desk, widget_id: str, *, user: int | None = None) -> None:
    """Remove a saved definition owned by ``user`` (None: a shared one) and unregister it."""
    path = folder(desk) / f"{widget_id}.json"
    data = _read(path)
    if data is None:
        raise KeyError(f"no saved custom widget {widget_id!r}")
    if data.get("owner") != user:
        raise PermissionError(f"custom widget {widget_id!r} belongs to user {data.get('owner')}")
    path.unlink()
    try:
        if registry.get(widget_id).family == FAMILY:
            registry.unregister(widget_id)
    except KeyError:
        pass


# The widget registry ----------------------------------------------------------------------------


def _chart(result: CustomResult, currency: str = "", **options: Any) -> Any:
    from deskkit.charts.custom import custom_chart

    return custom_chart(result, currency=currency, lang=options.get("lang", "en"))


def as_widget(definition: CustomWidget | Mapping[str, Any] | str) -> registry.Widget:
    """A desktop widget computing ``definition`` with the desktop's filters (period, scope and,
    per :func:`follows_pipeline`, the pipeline); its card family is ``"custom"``."""
    defn = parse(definition)
    _check_id(defn.id)

    follows = follows_pipeline(defn)

    def compute(desk: Desk, f: registry.Filters) -> CustomResult:
        pipeline = f.pipeline if follows else None
        return desk.custom(defn, f.period, user=f.user, department=f.department, pipeline=pipeline)

    return registry.Widget(
        id=defn.id,
        title=dict(defn.title),
        compute=compute,
        chart=_chart,
        size=defn.size,  # type: ignore[arg-type]
        follows_period=True,
        follows_pipeline=follows,
        family=FAMILY,
    )


def register_saved(desk: Desk, *, user: int | None = None) -> list[registry.Widget]:
    """Put every definition ``user`` sees (:func:`saved`) in the widget registry (replacing
    earlier versions), so the desktop lists them next to the built-in cards."""
    out = []
    for defn in saved(desk, user=user):
        try:
            out.append(registry.register(as_widget(defn), replace=True))
        except DefinitionError:
            continue  # e.g. an id a newer deskkit made built-in
    return out
