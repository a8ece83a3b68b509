"""The desktop's filter bar: period, scope (everyone / a department / a user) and pipeline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from deskkit.ui import i18n

if TYPE_CHECKING:
    from deskkit.desk import Desk, PeriodLike
    from deskkit.filters import PresetName

__all__ = ["PERIOD_LABELS", "FilterBar", "FilterState"]

#: Period presets in the order the dropdown lists them, with their English labels (the label
#: in any language is ``i18n.t(key, lang)``).
PERIOD_LABELS: dict[PresetName, str] = {
    "today": "Today",
    "yesterday": "Yesterday",
    "week": "Week",
    "month": "Month",
    "quarter": "Quarter",
    "year": "Year",
    "custom": "Custom range",
}

# Scope dropdown values: ("all", None), ("department", id) or ("user", id).
ScopeKey = tuple[str, int | None]


@dataclass(frozen=True)
class FilterState:
    """What the desktop shows: a period preset or a (first, last) day range (both included),
    a scope (``user`` or ``department`` id, or neither = everyone) and a pipeline id (None =
    the main one)."""

    period: PresetName | tuple[dt.date, dt.date] = "month"
    user: int | None = None
    department: int | None = None
    pipeline: int | None = None

    @property
    def preset(self) -> PresetName:
        return "custom" if isinstance(self.period, tuple) else self.period

    @property
    def period_like(self) -> PeriodLike:
        """The period in the form :class:`~deskkit.desk.Desk` methods accept."""
        return self.period


def _compact(width: str) -> dict[str, Any]:
    """Labels as wide as their text, so the whole bar fits on one line."""
    return {"layout": w.Layout(width=width), "style": {"description_width": "initial"}}


class FilterBar:
    """Filter controls whose value is a :class:`FilterState`.

    Choosing a preset fills the two date pickers with its days; editing a date switches the
    preset to "Custom range". ``observe(callback)`` calls ``callback(state)`` after each change.
    """

    def __init__(self, desk: Desk, state: FilterState | None = None, lang: str = "en") -> None:
        self._desk = desk
        self.lang = lang
        self._callbacks: list[Callable[[FilterState], None]] = []
        self._syncing = False  # True while the bar sets its own controls
        self._period = self._build_period()
        self._start, self._end = self._build_dates()
        self._scope = self._build_scope()
        self._pipeline = self._build_pipeline()
        self._state = FilterState()
        self.set_language(lang)
        self.set_state(state or FilterState())
        for control in (self._period, self._start, self._end, self._scope, self._pipeline):
            control.observe(self._on_change, names="value")
        self.widget = w.HBox(
            [self._period, self._start, self._end, self._scope, self._pipeline],
            layout=w.Layout(flex_flow="row wrap", align_items="center"),
        ).add_class("dk-filter-bar")

    # Widgets -------------------------------------------------------------------------------

    def _build_period(self) -> w.Dropdown:
        return w.Dropdown(
            options=self._period_options(), value="month", **_compact("200px")
        ).add_class("dk-period")

    def _period_options(self) -> list[tuple[str, str]]:
        return [(i18n.t(key, self.lang), key) for key in PERIOD_LABELS]

    def _build_dates(self) -> tuple[w.DatePicker, w.DatePicker]:
        start = w.DatePicker(**_compact("185px"))
        end = w.DatePicker(**_compact("165px"))
        return start.add_class("dk-start"), end.add_class("dk-end")

    def _build_scope(self) -> w.Dropdown:
        return w.Dropdown(
            options=self._scope_options(), value=("all", None), **_compact("250px")
        ).add_class("dk-scope")

    def _scope_options(self) -> list[tuple[str, ScopeKey]]:
        lang = self.lang
        options: list[tuple[str, ScopeKey]] = [(i18n.t("everyone", lang), ("all", None))]
        dept = i18n.t("department_suffix", lang)
        for g in self._desk.departments().itertuples():
            options.append((f"{g.name} ({dept})", ("department", int(g.group_id))))
        users = self._desk.users().sort_values("name")
        seen = users["name"].duplicated(keep=False)
        for u, dup in zip(users.itertuples(), seen, strict=True):
            label = f"{u.name} (#{u.user_id})" if dup else str(u.name)
            if getattr(u, "is_active", True) is False:
                label += f" ({i18n.t('inactive', lang)})"
            options.append((label, ("user", int(u.user_id))))
        return options

    def _build_pipeline(self) -> w.Dropdown:
        return w.Dropdown(options=self._pipeline_options(), **_compact("240px")).add_class(
            "dk-pipeline"
        )

    def _pipeline_options(self) -> list[tuple[str, int]]:
        archived = i18n.t("archived", self.lang)
        return [
            (str(p.name) + (f" ({archived})" if bool(p.is_archived) else ""), int(p.pipeline_id))
            for p in self._desk.pipelines().itertuples()
        ]

    def set_language(self, lang: str) -> None:
        """Relabel every control (values, and so the state, stay as they are)."""
        self.lang = lang
        self._syncing = True
        try:
            for control, options in (
                (self._period, self._period_options()),
                (self._scope, self._scope_options()),
                (self._pipeline, self._pipeline_options()),
            ):
                value = control.value
                control.options = options
                control.value = value
            for control, key in (
                (self._period, "period"),
                (self._start, "from"),
                (self._end, "to"),
                (self._scope, "whose"),
                (self._pipeline, "pipeline"),
            ):
                control.description = i18n.t(key, lang)
        finally:
            self._syncing = False

    # State ---------------------------------------------------------------------------------

    @property
    def state(self) -> FilterState:
        return self._state

    @property
    def controls(self) -> dict[str, w.ValueWidget]:
        """The controls by name (``period``, ``start``, ``end``, ``scope``, ``pipeline``):
        setting a control's ``value`` is what a click does."""
        return {
            "period": self._period,
            "start": self._start,
            "end": self._end,
            "scope": self._scope,
            "pipeline": self._pipeline,
        }

    def observe(self, callback: Callable[[FilterState], None]) -> None:
        """Call ``callback(state)`` after every change of the filters."""
        self._callbacks.append(callback)

    def set_state(self, state: FilterState) -> None:
        """Show ``state`` in the controls (without notifying observers)."""
        pipeline = state.pipeline if state.pipeline is not None else self._main_pipeline()
        state = replace(state, pipeline=pipeline)
        self._syncing = True
        try:
            self._period.value = state.preset
            self._scope.value = self._scope_key(state)
            self._pipeline.value = pipeline
            self._show_dates(state)
        finally:
            self._syncing = False
        self._state = state

    def _on_change(self, change: dict[str, Any]) -> None:
        """The one handler every control reports to."""
        if self._syncing:
            return
        state = self._read(edited_dates=change["owner"] in (self._start, self._end))
        if state is None or state == self._state:
            return
        self.set_state(state)
        for callback in self._callbacks:
            callback(state)

    def _read(self, *, edited_dates: bool) -> FilterState | None:
        """The state the controls describe; None while a custom range is incomplete."""
        if edited_dates or self._period.value == "custom":
            first, last = self._start.value, self._end.value
            if first is None or last is None:
                return None
            period: PresetName | tuple[dt.date, dt.date] = (first, last)
        else:
            period = self._period.value
        kind, key = self._scope.value
        return FilterState(
            period=period,
            user=key if kind == "user" else None,
            department=key if kind == "department" else None,
            pipeline=self._pipeline.value,
        )

    # Helpers -------------------------------------------------------------------------------

    def _show_dates(self, state: FilterState) -> None:
        if isinstance(state.period, tuple):
            self._start.value, self._end.value = state.period
            return
        try:
            resolved = self._desk.period(state.period)
        except ValueError:
            return  # "custom" without dates: keep whatever the pickers hold
        self._start.value, self._end.value = resolved.first_day, resolved.last_day

    def _scope_key(self, state: FilterState) -> ScopeKey:
        if state.user is not None:
            return ("user", int(state.user))
        if state.department is not None:
            return ("department", int(state.department))
        return ("all", None)

    def _main_pipeline(self) -> int | None:
        pipes = self._desk.pipelines()
        if pipes.empty:
            return None
        main = pipes.loc[pipes["is_main"].fillna(False).astype(bool)]
        return int((main if not main.empty else pipes)["pipeline_id"].iloc[0])

    def scope_label(self) -> str:
        """What the scope dropdown shows, e.g. "Everyone" or "Anna"."""
        return str(self._scope.label)
