"""The widget registry: what the desktop can show. A widget binds a metric (computed from a
:class:`~deskkit.desk.Desk` and the desktop's filters) to a chart builder, a bilingual card title
and a default size. Register your own from a notebook without touching deskkit:

>>> import deskkit as dk
>>> dk.widgets.register(dk.widgets.Widget(
...     id="big_open_deals",
...     title={"en": "Big open deals", "ru": "Крупные открытые сделки"},
...     compute=lambda desk, f: desk.latest_deals(n=20),
... ))  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import altair as alt

    from deskkit.desk import Desk

__all__ = ["Filters", "Size", "Widget", "get", "register", "unregister", "widgets"]

#: Card width on the desktop grid: one column, two columns, or the whole row.
Size = Literal["small", "medium", "large"]
LANGUAGES = ("en", "ru")


@dataclass(frozen=True)
class Filters:
    """The desktop's filter state as a widget sees it."""

    period: Any = "month"  # a preset name, a (first_day, last_day) pair or a Period
    pipeline: int | str | None = None
    user: int | str | None = None
    department: int | str | None = None

    @property
    def scope(self) -> dict[str, int | str | None]:
        return {"user": self.user, "department": self.department}


@dataclass(frozen=True)
class Widget:
    """One kind of card: ``compute(desk, filters)`` returns a metric result; ``chart(result)``
    draws it (None: the card shows the result's table)."""

    id: str
    title: Mapping[str, str]
    compute: Callable[[Desk, Filters], Any] = field(repr=False)
    chart: Callable[..., alt.TopLevelMixin | None] | None = field(default=None, repr=False)
    size: Size = "medium"
    #: Whether the period filter changes this widget (forecast, deals by manager: "now" only).
    follows_period: bool = True
    follows_pipeline: bool = False
    builtin: bool = False
    #: The card family drawing this widget when it is not the id itself (e.g. ``"custom"``
    #: for widgets made from a saved custom-widget definition).
    family: str | None = None

    def __post_init__(self) -> None:
        if not self.id or not self.id.replace("_", "").isalnum():
            raise ValueError(f"widget id {self.id!r}: use letters, digits and underscores")
        missing = [lang for lang in LANGUAGES if not self.title.get(lang)]
        if missing:
            raise ValueError(f"widget {self.id!r}: title missing for {', '.join(missing)}")
        if self.size not in ("small", "medium", "large"):
            raise ValueError(f"widget {self.id!r}: size must be small, medium or large")
        if not callable(self.compute):
            raise TypeError(f"widget {self.id!r}: compute must be callable")
        object.__setattr__(self, "title", MappingProxyType(dict(self.title)))

    def label(self, language: str = "en") -> str:
        return self.title.get(language) or self.title["en"]


_REGISTRY: dict[str, Widget] = {}


def register(widget: Widget, *, replace: bool = False) -> Widget:
    """Add a widget to the desktop's list (``replace=True`` to redefine an id)."""
    if widget.id in _REGISTRY and not replace:
        raise ValueError(f"a widget {widget.id!r} is already registered (pass replace=True)")
    _REGISTRY[widget.id] = widget
    return widget


def unregister(widget_id: str) -> None:
    """Remove a widget added with :func:`register` (built-in widgets stay)."""
    widget = get(widget_id)
    if widget.builtin:
        raise ValueError(f"{widget_id!r} is a built-in widget and cannot be removed")
    del _REGISTRY[widget_id]


def get(widget_id: str) -> Widget:
    try:
        return _REGISTRY[widget_id]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise KeyError(f"no widget {widget_id!r}; registered: {known}") from None


def widgets() -> tuple[Widget, ...]:
    """Every registered widget, built-in ones first, in registration order."""
    return tuple(sorted(_REGISTRY.values(), key=lambda w: not w.builtin))


# Built-in widgets ---------------------------------------------------------------------------


def _builtin(
    widget_id: str,
    en: str,
    ru: str,
    compute: Callable[[Desk, Filters], Any],
    chart: Callable[..., Any] | None,
    size: Size = "medium",
    *,
    period: bool = True,
    pipeline: bool = False,
) -> None:
    widget = Widget(
        widget_id, {"en": en, "ru": ru}, compute, chart, size, period, pipeline, builtin=True
    )
    _BUILTINS[widget_id] = register(widget)


#: The built-in widgets as defined here (a registered widget may replace one of them): what
#: another process, importing deskkit, can compute by id alone.
_BUILTINS: dict[str, Widget] = {}


def builtin(widget_id: str) -> Widget | None:
    """The built-in widget ``widget_id`` as deskkit defines it (None: no such built-in)."""
    return _BUILTINS.get(widget_id)


def _chart(module: str, name: str) -> Callable[..., Any]:
    """A chart builder imported on first use (Altair is heavy; the registry is not)."""

    def build(result: Any, currency: str = "", **options: Any) -> Any:
        import importlib

        # Options a builder does not take (e.g. ``lang`` for an English-only chart) are dropped.
        fn = getattr(importlib.import_module(f"deskkit.charts.{module}"), name)
        accepted = inspect.signature(fn).parameters
        kwargs = {k: v for k, v in options.items() if k in accepted}
        return fn(result, currency=currency, **kwargs)

    build.__name__ = name
    return build


_builtin(
    "pipeline_flow",
    "Sales analysis",
    "Анализ продаж",
    lambda desk, f: desk.pipeline_flow(f.period, f.pipeline, **f.scope),
    _chart("pipeline_flow", "pipeline_flow_chart"),
    "large",
    pipeline=True,
)
_builtin(
    "lead_sources",
    "Lead sources",
    "Источники сделок",
    lambda desk, f: desk.lead_sources(f.period, **f.scope),
    _chart("sources", "lead_sources_chart"),
)
_builtin(
    "nps",
    "NPS",
    "NPS",
    lambda desk, f: desk.nps(f.period, **f.scope),
    _chart("nps", "nps_chart"),
    "small",
)
_builtin(
    "recent_files",
    "Recent files",
    "Последние файлы",
    lambda desk, f: desk.recent_files(f.period, **f.scope),
    _chart("files", "recent_files_chart"),
)
_builtin(
    "system_usage",
    "System usage",
    "Использование системы",
    lambda desk, f: desk.system_usage(f.period, **f.scope),
    _chart("usage", "system_usage_chart"),
)
_builtin(
    "deals_by_manager",
    "Deals by manager",
    "Сделки по менеджерам",
    lambda desk, f: desk.deals_by_manager(**f.scope),
    _chart("workload", "deals_by_manager_chart"),
    period=False,
)
_builtin(
    "deals_without_tasks",
    "Deals without tasks",
    "Сделки без задач",
    lambda desk, f: desk.deals_without_tasks(**f.scope),
    _chart("workload", "deals_without_tasks_chart"),
    "small",
    period=False,
)
_builtin(
    "latest_deals",
    "Latest deals",
    "Последние сделки",
    lambda desk, f: desk.latest_deals(**f.scope),
    _chart("workload", "latest_deals_chart"),
    period=False,
)
_builtin(
    "forecast",
    "Sales forecast",
    "Прогноз продаж",
    lambda desk, f: desk.forecast(**f.scope),
    _chart("workload", "forecast_chart"),
    period=False,
)
_builtin(
    "activity",
    "Activity",
    "Активность",
    lambda desk, f: desk.activity(f.period, **f.scope),
    _chart("activity", "activity_chart"),
)
_builtin(
    "events",
    "Events",
    "События",
    lambda desk, f: desk.events(f.period, **f.scope),
    _chart("activity", "events_chart"),
)
_builtin(
    "messages",
    "Incoming and outgoing messages",
    "Входящие и исходящие сообщения",
    lambda desk, f: desk.messages(f.period, **f.scope),
    _chart("activity", "messages_chart"),
)
_builtin(
    "response_time",
    "Response time",
    "Среднее время ответа",
    lambda desk, f: desk.response_time(f.period, **f.scope),
    _chart("activity", "response_time_chart"),
)
_builtin(
    "overdue_tasks",
    "Overdue tasks",
    "Просроченные задачи",
    lambda desk, f: desk.overdue_tasks(f.period, **f.scope),
    _chart("tasks", "overdue_tasks_chart"),
)
_builtin(
    "goals",
    "Goals",
    "Цели",
    lambda desk, f: desk.goals(**f.scope),
    _chart("goals", "goals_chart"),
    period=False,
)
_builtin(
    "payment_counters",
    "Payments",
    "Оплаты",
    lambda desk, f: desk.payment_counters(f.period, **f.scope),
    _chart("payments", "payment_counters_chart"),
    "small",
)
