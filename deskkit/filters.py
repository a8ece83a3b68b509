"""Filters: the period, the scope (whose numbers) and the viewer (who is looking).

Filters are small frozen dataclasses. They hold names and ids, never SQL; metrics turn them into
Ibis expressions with :func:`deal_owner_filter` and the period's UTC bounds.
"""

from __future__ import annotations

import datetime as _dt
import numbers
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal, get_args
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd

__all__ = [
    "PRESETS",
    "Period",
    "PresetName",
    "Scope",
    "Viewer",
    "visible_owners",
]

PresetName = Literal["today", "yesterday", "week", "month", "quarter", "year", "custom"]
PRESETS: tuple[PresetName, ...] = get_args(PresetName)

_UTC = _dt.UTC


def _add_months(day: _dt.date, months: int) -> _dt.date:
    """First-of-month arithmetic: ``day`` must be the 1st."""
    index = day.year * 12 + day.month - 1 + months
    return _dt.date(index // 12, index % 12 + 1, 1)


def _midnight(day: _dt.date, tz: ZoneInfo) -> _dt.datetime:
    return _dt.datetime.combine(day, _dt.time(), tzinfo=tz)


def _as_aware(moment: _dt.datetime, tz: ZoneInfo) -> _dt.datetime:
    # A naive datetime is read as UTC: the store keeps UTC instants.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_UTC)
    return moment.astimezone(tz)


@dataclass(frozen=True)
class Period:
    """A half-open interval ``[start, end)`` of local time in the account's time zone.

    ``now`` is the moment the period is looked at: metrics count what happened in
    ``[start, until)`` where ``until = min(end, now)``, and "at the end of the period" means at
    ``until``. Build one with :meth:`preset` or :meth:`between`.
    """

    preset_name: PresetName
    start: _dt.datetime
    end: _dt.datetime
    now: _dt.datetime
    timezone: str = field(default="UTC")

    def __post_init__(self) -> None:
        if self.preset_name not in PRESETS:
            raise ValueError(f"unknown period preset {self.preset_name!r}; use one of {PRESETS}")
        for name in ("start", "end", "now"):
            if getattr(self, name).tzinfo is None:
                raise ValueError(f"Period.{name} must be time-zone aware")
        if self.end <= self.start:
            raise ValueError(f"period end {self.end} is not after its start {self.start}")

    # Construction -------------------------------------------------------------------------

    @classmethod
    def preset(
        cls,
        name: PresetName,
        *,
        timezone: str = "UTC",
        now: _dt.datetime | None = None,
    ) -> Period:
        """The current ``today``, ``yesterday``, ``week`` (from Monday), ``month`` (from the
        1st), ``quarter`` or ``year``, in ``timezone``; ``now`` defaults to the clock."""
        tz = ZoneInfo(timezone)
        current = _as_aware(now or _dt.datetime.now(_UTC), tz)
        today = current.date()
        if name == "today":
            first, last_excl = today, today + _dt.timedelta(days=1)
        elif name == "yesterday":
            first, last_excl = today - _dt.timedelta(days=1), today
        elif name == "week":
            first = today - _dt.timedelta(days=today.weekday())
            last_excl = first + _dt.timedelta(days=7)
        elif name == "month":
            first = today.replace(day=1)
            last_excl = _add_months(first, 1)
        elif name == "quarter":
            first = _dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
            last_excl = _add_months(first, 3)
        elif name == "year":
            first, last_excl = _dt.date(today.year, 1, 1), _dt.date(today.year + 1, 1, 1)
        elif name == "custom":
            raise ValueError("a custom period needs dates: use Period.between(first, last)")
        else:
            raise ValueError(f"unknown period preset {name!r}; use one of {PRESETS}")
        return cls(name, _midnight(first, tz), _midnight(last_excl, tz), current, timezone)

    @classmethod
    def between(
        cls,
        first: _dt.date,
        last: _dt.date,
        *,
        timezone: str = "UTC",
        now: _dt.datetime | None = None,
    ) -> Period:
        """A custom range of whole local days, both ``first`` and ``last`` included."""
        if isinstance(first, _dt.datetime) or isinstance(last, _dt.datetime):
            first, last = _to_date(first), _to_date(last)
        if last < first:
            raise ValueError(f"custom period: last day {last} is before first day {first}")
        tz = ZoneInfo(timezone)
        current = _as_aware(now or _dt.datetime.now(_UTC), tz)
        return cls(
            "custom",
            _midnight(first, tz),
            _midnight(last + _dt.timedelta(days=1), tz),
            current,
            timezone,
        )

    # Derived ------------------------------------------------------------------------------

    @property
    def until(self) -> _dt.datetime:
        """End of what has happened: ``min(end, now)``, never before ``start``."""
        return max(self.start, min(self.end, self.now))

    @property
    def start_utc(self) -> _dt.datetime:
        """``start`` as a naive UTC datetime, comparable with store timestamps."""
        return self.start.astimezone(_UTC).replace(tzinfo=None)

    @property
    def until_utc(self) -> _dt.datetime:
        """``until`` as a naive UTC datetime."""
        return self.until.astimezone(_UTC).replace(tzinfo=None)

    @property
    def end_utc(self) -> _dt.datetime:
        return self.end.astimezone(_UTC).replace(tzinfo=None)

    @property
    def now_utc(self) -> _dt.datetime:
        return self.now.astimezone(_UTC).replace(tzinfo=None)

    @property
    def first_day(self) -> _dt.date:
        return self.start.date()

    @property
    def last_day(self) -> _dt.date:
        """The last local day the period covers (inclusive)."""
        return (self.end - _dt.timedelta(microseconds=1)).date()

    @property
    def label(self) -> str:
        first, last = self.first_day, self.last_day
        return first.isoformat() if first == last else f"{first.isoformat()} – {last.isoformat()}"

    def previous(self) -> Period:
        """The previous comparable period: shifted back one unit of the preset and clipped to
        the same elapsed wall-clock length (Mon 00:00 → Wed 15:00 compares with last week's
        Mon 00:00 → Wed 15:00). Its ``now`` is that clipped end."""
        tz = ZoneInfo(self.timezone)
        first = self.start.date()
        if self.preset_name in ("today", "yesterday"):
            prev_first, prev_end = first - _dt.timedelta(days=1), first
        elif self.preset_name == "week":
            prev_first, prev_end = first - _dt.timedelta(days=7), first
        elif self.preset_name == "month":
            prev_first, prev_end = _add_months(first, -1), first
        elif self.preset_name == "quarter":
            prev_first, prev_end = _add_months(first, -3), first
        elif self.preset_name == "year":
            prev_first, prev_end = _dt.date(first.year - 1, 1, 1), first
        else:
            days = (self.end.date() - first).days
            prev_first, prev_end = first - _dt.timedelta(days=days), first
        # Elapsed wall-clock time, so that DST changes do not shift the comparison by an hour.
        elapsed = self.until.replace(tzinfo=None) - self.start.replace(tzinfo=None)
        clipped = (_midnight(prev_first, tz).replace(tzinfo=None) + elapsed).replace(tzinfo=tz)
        start, end = _midnight(prev_first, tz), _midnight(prev_end, tz)
        return replace(self, start=start, end=end, now=min(clipped, end))

    def with_now(self, now: _dt.datetime) -> Period:
        """The same interval looked at another moment."""
        return replace(self, now=_as_aware(now, ZoneInfo(self.timezone)))


def _to_date(value: _dt.date | _dt.datetime) -> _dt.date:
    return value.date() if isinstance(value, _dt.datetime) else value


@dataclass(frozen=True)
class Scope:
    """Whose numbers: everyone (the default), one user, or one department.

    ``user`` and ``department`` take an id or a name; names are resolved against the store's
    users and groups when the scope is applied.
    """

    user: int | str | None = None
    department: int | str | None = None

    def __post_init__(self) -> None:
        if self.user is not None and self.department is not None:
            raise ValueError("a scope is one user or one department, not both")

    @property
    def is_everyone(self) -> bool:
        return self.user is None and self.department is None

    def user_ids(self, users: pd.DataFrame, groups: pd.DataFrame) -> frozenset[int] | None:
        """The user ids in scope (None = everyone), resolved against ``users`` and ``groups``."""
        if self.user is not None:
            return frozenset([_resolve(self.user, users, "user_id", "user")])
        if self.department is not None:
            gid = _resolve(self.department, groups, "group_id", "department")
            return frozenset(int(u) for u in users.loc[users["group_id"] == gid, "user_id"])
        return None


def _resolve(key: int | str, frame: pd.DataFrame, id_col: str, what: str) -> int:
    """Find an id by id or (case-insensitive) name, or fail naming the choices."""
    if isinstance(key, bool):
        raise TypeError(f"{what} must be an id or a name, not {key!r}")
    if isinstance(key, numbers.Integral):  # an id read from a DataFrame is a numpy integer
        key = int(key)
    if isinstance(key, int) or (isinstance(key, str) and key.strip().isdigit()):
        wanted = int(key)
        if (frame[id_col] == wanted).any():
            return wanted
    if isinstance(key, str):
        hits = frame.loc[frame["name"].str.casefold() == key.strip().casefold(), id_col]
        if len(hits) == 1:
            return int(hits.iloc[0])
        if len(hits) > 1:
            raise ValueError(f"{what} name {key!r} is ambiguous: ids {sorted(hits.tolist())}")
    known = ", ".join(f"{r[id_col]} {r['name']!r}" for _, r in frame.head(20).iterrows())
    raise ValueError(f"unknown {what} {key!r}; known: {known}")


@dataclass(frozen=True)
class Viewer:
    """Who is looking. ``user_id=None`` is the unrestricted analyst (all deals).

    A user's rights come from ``users.deal_access``: ``all`` (every deal), ``group`` (deals of
    their department) or ``own`` (deals where they are responsible).
    """

    user_id: int | None = None

    def user_ids(self, users: pd.DataFrame) -> frozenset[int] | None:
        """Owners whose deals this viewer may see (None = all)."""
        if self.user_id is None:
            return None
        row = users.loc[users["user_id"] == self.user_id]
        if row.empty:
            raise PermissionError(f"viewer {self.user_id} is not a user of this account")
        access = row["deal_access"].iloc[0]
        if access == "all" or bool(row["is_admin"].iloc[0]):
            return None
        if access == "group":
            gid = row["group_id"].iloc[0]
            return frozenset(int(u) for u in users.loc[users["group_id"] == gid, "user_id"])
        return frozenset([int(self.user_id)])


def visible_owners(
    scope: Scope, viewer: Viewer, users: pd.DataFrame, groups: pd.DataFrame
) -> frozenset[int] | None:
    """Owner ids in both the scope and the viewer's rights (None = no restriction)."""
    in_scope = scope.user_ids(users, groups)
    allowed = viewer.user_ids(users)
    if in_scope is None:
        return allowed
    if allowed is None:
        return in_scope
    return in_scope & allowed


def owner_filter(column: ir.IntegerColumn, owners: frozenset[int] | None) -> ir.BooleanValue:
    """An Ibis condition keeping rows whose owner is in ``owners`` (ids become parameters of
    ``isin``, never SQL text)."""
    import ibis

    if owners is None:
        return ibis.literal(True)
    if not owners:
        return ibis.literal(False)
    return column.isin(sorted(owners))
