"""The object analysts work with: a store plus who is looking, with one method per metric."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from deskkit.filters import Period, PresetName, Scope, Viewer
from deskkit.metrics._base import Context
from deskkit.metrics._custom_spec import CustomWidget, parse
from deskkit.metrics.activity import Activity, Events, activity, events, events_since
from deskkit.metrics.custom import CustomResult, custom
from deskkit.metrics.files import RecentFiles, recent_files
from deskkit.metrics.forecast import MIN_SAMPLE, Forecast, forecast
from deskkit.metrics.goals import Goals, goals
from deskkit.metrics.messaging import Messages, ResponseTime, messages, response_time
from deskkit.metrics.nps import Nps, nps
from deskkit.metrics.payments import PaymentCounter, PaymentCounters, payment_counters
from deskkit.metrics.pipeline_flow import PipelineFlow, pipeline_flow
from deskkit.metrics.search import SearchResult, search
from deskkit.metrics.sources import LeadSources, lead_sources
from deskkit.metrics.tasks import OverdueTasks, overdue_tasks
from deskkit.metrics.usage import SystemUsage, system_usage
from deskkit.metrics.workload import (
    DealsByManager,
    DealsWithoutTasks,
    LatestDeals,
    deals_by_manager,
    deals_without_tasks,
    latest_deals,
)
from deskkit.store import Store, open_store

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Desk", "PeriodLike", "open"]

#: A period: a Period, a preset name, or a (first_day, last_day) pair of dates (both included).
PeriodLike = Period | PresetName | tuple[_dt.date, _dt.date]

DEMO_DEALS = 20_000
DEMO_SEED = 7


@dataclass(frozen=True)
class Desk:
    """A store seen by one viewer. Every metric method takes the desktop's filters: a period,
    and a scope given as ``user=`` or ``department=`` (id or name)."""

    store: Store
    viewer: Viewer = field(default_factory=Viewer)
    #: Fixed "now" (for reproducible views and tests); None follows the clock.
    now: _dt.datetime | None = None

    def __repr__(self) -> str:
        return f"Desk({self.store.source!r}, viewer={self.viewer.user_id})"

    # Filters ------------------------------------------------------------------------------

    @property
    def timezone(self) -> str:
        return self.store.account.timezone

    @property
    def currency(self) -> str:
        return self.store.account.currency

    def period(
        self,
        period: PeriodLike = "month",
        *,
        start: _dt.date | None = None,
        end: _dt.date | None = None,
    ) -> Period:
        """Resolve a period in the account's time zone (``start``/``end`` make a custom one)."""
        if start is not None or end is not None:
            if start is None or end is None:
                raise ValueError("a custom period needs both start and end")
            return Period.between(start, end, timezone=self.timezone, now=self.now)
        if isinstance(period, Period):
            return period
        if isinstance(period, tuple):
            return Period.between(*period, timezone=self.timezone, now=self.now)
        return Period.preset(period, timezone=self.timezone, now=self.now)

    def as_viewer(self, user_id: int | None) -> Desk:
        """The same store as seen by ``user_id`` (their deal rights apply to every metric)."""
        return replace(self, viewer=Viewer(user_id))

    def at(self, now: _dt.datetime | None) -> Desk:
        """The same desk looked at a fixed moment."""
        return replace(self, now=now)

    # Dimensions ---------------------------------------------------------------------------

    def pipelines(self) -> pd.DataFrame:
        return self.store.pipelines

    def stages(self, pipeline: int | str | None = None) -> pd.DataFrame:
        from deskkit.metrics.pipeline_flow import PipelineLine

        line = PipelineLine.of(self.store, pipeline)
        st = self.store.stages
        return st.loc[st["pipeline_id"] == line.pipeline_id].reset_index(drop=True)

    def users(self) -> pd.DataFrame:
        return self.store.users

    def departments(self) -> pd.DataFrame:
        return self.store.groups

    def context(
        self,
        period: PeriodLike = "month",
        *,
        user: int | str | None = None,
        department: int | str | None = None,
    ) -> Context:
        """The metric request for these filters, as this desk's viewer."""
        return Context(self.store, self.period(period), Scope(user, department), self.viewer)

    # Metrics ------------------------------------------------------------------------------

    def pipeline_flow(
        self,
        period: PeriodLike = "month",
        pipeline: int | str | None = None,
        *,
        user: int | str | None = None,
        department: int | str | None = None,
    ) -> PipelineFlow:
        """The "sales analysis" widget for one pipeline (default: the main one)."""
        return pipeline_flow(
            self.store, self.period(period), pipeline, Scope(user, department), self.viewer
        )

    def activity(
        self,
        period: PeriodLike = "month",
        *,
        user: int | str | None = None,
        department: int | str | None = None,
    ) -> Activity:
        """Actions per author during the period by type (robots excluded), with the previous
        period's totals."""
        return activity(self.context(period, user=user, department=department))

    def events(
        self,
        period: PeriodLike = "month",
        *,
        types: str | Iterable[str] | None = None,
        entity_types: str | Iterable[str] | None = None,
        authors: int | Iterable[int] | None = None,
        limit: int = 200,
        user: int | str | None = None,
        department: int | str | None = None,
    ) -> Events:
        """The event feed of the period, newest first, filterable by type, entity and author."""
        ctx = self.context(period, user=user, department=department)
        return events(ctx, types, entity_types, authors, limit)

    def events_since(
        self,
        since: _dt.datetime,
        period: PeriodLike = "month",
        *,
        types: str | Iterable[str] | None = None,
        entity_types: str | Iterable[str] | None = None,
        authors: int | Iterable[int] | None = None,
        user: int | str | None = None,
        department: int | str | None = None,
    ) -> int:
        """How many feed events are newer than ``since`` (the "new events" highlight)."""
        ctx = self.context(period, user=user, department=department)
        return events_since(ctx, since, types, entity_types, authors)

    def messages(
        self,
        period: PeriodLike = "month",
        *,
        user: int | str | None = None,
        department: int | str | None = None,
    ) -> Messages:
        """Incoming and outgoing messages during the period, by channel and user."""
        return messages(self.context(period, user=user, department=department))

    def response_time(
        self,
        period: PeriodLike = "month",
        *,
        user: int | str | None = None,
        department: int | str | None = None,
    ) -> ResponseTime:
        """Reply times (mean, median, per user) and unanswered runs, with the previous period."""
        return response_time(self.context(period, user=user, department=department))

    def overdue_tasks(
        self,
        period: PeriodLike = "month",
        *,
        user: int | str | None = None,
        department: int | str | None = None,
    ) -> OverdueTasks:
        """Deadlines missed during the period (the desktop's number) beside the tasks overdue
        right now (the task list's number), with why they differ."""
        return overdue_tasks(self.context(period, user=user, department=department))

    def goals(self, *, user: int | str | None = None, department: int | str | None = None) -> Goals:
        """Each goal valid now: achieved in the current cadence period, target, percent and
        the previous cadence period."""
        return goals(self.context("today", user=user, department=department))

    def payment_counters(
        self,
        period: PeriodLike = "month",
        counters: Sequence[PaymentCounter] | None = None,
        *,
        user: int | str | None = None,
        department: int | str | None = None,
    ) -> PaymentCounters:
        """Named stage sets ("awaiting payment" now, "paid" during the period): count and
        budget. Default sets come from the account's stage names."""
        return payment_counters(self.context(period, user=user, department=department), counters)

    def lead_sources(
        self,
        period: PeriodLike = "month",
        *,
        user: int | str | None = None,
        department: int | str | None = None,
    ) -> LeadSources:
        """Deals created in the period by lead source: count, budget and won share."""
        return lead_sources(self.context(period, user=user, department=department))

    def nps(
        self,
        period: PeriodLike = "month",
        *,
        user: int | str | None = None,
        department: int | str | None = None,
    ) -> Nps:
        """NPS of the period's responses, with promoters, passives, detractors and the
        previous period."""
        return nps(self.context(period, user=user, department=department))

    def recent_files(
        self,
        period: PeriodLike = "month",
        *,
        user: int | str | None = None,
        department: int | str | None = None,
        limit: int | None = 50,
    ) -> RecentFiles:
        """Files attached to deals, contacts and companies during the period, newest first."""
        return recent_files(self.context(period, user=user, department=department), limit)

    def system_usage(
        self,
        period: PeriodLike = "month",
        *,
        user: int | str | None = None,
        department: int | str | None = None,
    ) -> SystemUsage:
        """Online hours per user in the period and the change against the previous one."""
        return system_usage(self.context(period, user=user, department=department))

    def search(
        self,
        text: str,
        *,
        period: PeriodLike = "month",
        period_only: bool = False,
        user: int | str | None = None,
        department: int | str | None = None,
        limit: int | None = 50,
    ) -> SearchResult:
        """Search deals, contacts, companies and note text (all time unless ``period_only``)."""
        ctx = self.context(period, user=user, department=department)
        return search(ctx, text, limit, period_only=period_only)

    def custom(
        self,
        definition: CustomWidget | Mapping[str, Any] | str,
        period: PeriodLike = "month",
        *,
        user: int | str | None = None,
        department: int | str | None = None,
        pipeline: int | str | None = None,
    ) -> CustomResult:
        """A custom widget (a definition, a mapping, or its JSON / YAML text) computed for the
        period: its value now, at the period's start, and the change. The definition is
        validated against the account first (``deskkit.custom.DefinitionError``); ``pipeline``
        applies to deals only. See :mod:`deskkit.custom`."""
        checked = parse(definition).validate(self)
        ctx = self.context(period, user=user, department=department)
        return custom(ctx, checked, pipeline)

    # "Now" widgets: the period does not change them; "now" is the desk's (or the clock's).

    def deals_by_manager(
        self, *, user: int | str | None = None, department: int | str | None = None
    ) -> DealsByManager:
        """Open deals and budget per responsible user now; users over capacity flagged."""
        return deals_by_manager(self.context("today", user=user, department=department))

    def deals_without_tasks(
        self, *, user: int | str | None = None, department: int | str | None = None
    ) -> DealsWithoutTasks:
        """Open deals with no uncompleted task now."""
        return deals_without_tasks(self.context("today", user=user, department=department))

    def latest_deals(
        self, n: int = 8, *, user: int | str | None = None, department: int | str | None = None
    ) -> LatestDeals:
        """The ``n`` newest deals that are open now, whatever the period."""
        return latest_deals(self.context("today", user=user, department=department), n)

    def forecast(
        self,
        *,
        user: int | str | None = None,
        department: int | str | None = None,
        min_sample: int = MIN_SAMPLE,
    ) -> Forecast:
        """Open budget now across all pipelines, unweighted and weighted by each stage's win
        probability learned from the account's closed deals."""
        return forecast(self.context("today", user=user, department=department), min_sample)


def open(
    target: Any = None,
    *,
    viewer: int | None = None,
    now: _dt.datetime | None = None,
) -> Desk:
    """Open a deskkit store and return the :class:`Desk` to compute metrics on.

    Parameters
    ----------
    target
        Omitted: the demo account, generated on first use and cached under the data folder.
        Otherwise a ``.duckdb`` file, a folder of Parquet files named after the tables, an Ibis
        connection URL, or a connected Ibis backend.
    viewer
        The user looking; their deal rights restrict every query. None = unrestricted.
    now
        A fixed "now" for reproducible views.
    """
    if target is None:
        from deskkit.connectors.demo.cache import cached_demo

        target = cached_demo(deals=DEMO_DEALS, seed=DEMO_SEED)
    return Desk(open_store(target), Viewer(viewer), now)
