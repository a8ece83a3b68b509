"""The desktop's filter bar: period, scope (everyone / a department / a user) and pipeline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import ipywidgets as w

if TYPE_CHECKING:
    from deskkit.desk import Desk, PeriodLike
    from deskkit.filters import PresetName

__all__ = ["PERIOD_LABELS", "FilterBar", "FilterState"]

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

    def __init__(self, desk: Desk, state: FilterState | None = None) -> None:
        self._desk = desk
        self._callbacks: list[Callable[[FilterState], None]] = []
        self._syncing = False  # True while the bar sets its own controls
        self._period = self._build_period()
        self._start, self._end = self._build_dates()
        self._scope = self._build_scope()
        self._pipeline = self._build_pipeline()
        self._state = FilterState()
        self.set_state(state or FilterState())
        for control in (self._period, self._start, self._end, self._scope, self._pipeline):
            control.observe(self._on_change, names="value")
        self.widget = w.HBox(
            [self._period, self._start, self._end, self._scope, self._pipeline],
            layout=w.Layout(flex_flow="row wrap", align_items="center"),
        ).add_class("dk-filter-bar")

    # Widgets -------------------------------------------------------------------------------

    def _build_period(self) -> w.Dropdown:
        options = [(label, key) for key, label in PERIOD_LABELS.items()]
        return w.Dropdown(
            options=options, value="month", description="Period", **_compact("190px")
        ).add_class("dk-period")

    def _build_dates(self) -> tuple[w.DatePicker, w.DatePicker]:
        start = w.DatePicker(description="From", **_compact("185px"))
        end = w.DatePicker(description="to", **_compact("165px"))
        return start.add_class("dk-start"), end.add_class("dk-end")

    def _build_scope(self) -> w.Dropdown:
        options: list[tuple[str, ScopeKey]] = [("Everyone", ("all", None))]
        for g in self._desk.departments().itertuples():
            options.append((f"{g.name} (department)", ("department", int(g.group_id))))
        users = self._desk.users().sort_values("name")
        seen = users["name"].duplicated(keep=False)
        for u, dup in zip(users.itertuples(), seen, strict=True):
            label = f"{u.name} (#{u.user_id})" if dup else str(u.name)
            if getattr(u, "is_active", True) is False:
                label += " (inactive)"
            options.append((label, ("user", int(u.user_id))))
        return w.Dropdown(
            options=options,
            value=("all", None),
            description="Whose",
            **_compact("240px"),
        ).add_class("dk-scope")

    def _build_pipeline(self) -> w.Dropdown:
        options: list[tuple[str, int]] = []
        for p in self._desk.pipelines().itertuples():
            label = str(p.name) + (" (archived)" if bool(p.is_archived) else "")
            options.append((label, int(p.pipeline_id)))
        return w.Dropdown(options=options, description="Pipeline", **_compact("230px")).add_class(
            "dk-pipeline"
        )

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
