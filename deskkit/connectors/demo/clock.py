"""The generated history's time range and local-time helpers (business hours, weekdays).

All instants are int64 seconds since the Unix epoch, UTC. Local time is derived from a per-day
UTC offset (from ``zoneinfo``), so the account time zone is honoured exactly at day granularity;
Europe/Moscow has had no DST since 2014, so this is exact for the demo account.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

__all__ = ["DAY", "HOUR", "MINUTE", "Clock"]

MINUTE = 60
HOUR = 3600
DAY = 86400

# Relative weight of a lead arriving in each local hour (web forms keep arriving at night).
_HOUR_WEIGHT = np.array(
    [
        *[0.05, 0.04, 0.03, 0.03, 0.03, 0.04, 0.08, 0.2, 0.5, 1.0, 1.1, 1.1],
        *[1.0, 0.75, 0.95, 1.0, 0.95, 0.85, 0.6, 0.35, 0.25, 0.2, 0.15, 0.08],
    ]
)
_WEEKDAY_WEIGHT = np.array([1.0, 1.05, 1.0, 1.0, 0.9, 0.3, 0.2])


@dataclass(frozen=True)
class Clock:
    """Local days of the history, from ``history_days`` before ``as_of`` to the end of ``as_of``."""

    tz: str
    day_start: np.ndarray  # (D,) UTC instant of each local midnight
    day_offset: np.ndarray  # (D,) UTC offset in seconds of each local day
    weekday: np.ndarray  # (D,) 0 = Monday
    dates: tuple[dt.date, ...]
    end: int  # last second of the as_of day (local), as a UTC instant
    open_hour: int
    close_hour: int
    next_workday: np.ndarray  # (D + 1,) first working day index >= d (D if none)

    @classmethod
    def build(
        cls, as_of: dt.date, tz: str, history_days: int, business_hours: tuple[int, int]
    ) -> Clock:
        """The clock for a history ending on ``as_of`` in time zone ``tz``."""
        zone = ZoneInfo(tz)
        dates = tuple(as_of - dt.timedelta(days=k) for k in range(history_days, -1, -1))
        starts, offsets = [], []
        for d in dates:
            local_noon = dt.datetime(d.year, d.month, d.day, 12, tzinfo=zone)
            off = int(local_noon.utcoffset().total_seconds())  # type: ignore[union-attr]
            midnight = dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC)
            starts.append(int(midnight.timestamp()) - off)
            offsets.append(off)
        weekday = np.array([d.weekday() for d in dates])
        work = weekday < 5
        nxt = np.full(len(dates) + 1, len(dates))
        for k in range(len(dates) - 1, -1, -1):
            nxt[k] = k if work[k] else nxt[k + 1]
        day_start = np.array(starts, dtype=np.int64)
        return cls(
            tz=tz,
            day_start=day_start,
            day_offset=np.array(offsets, dtype=np.int64),
            weekday=weekday,
            dates=dates,
            end=int(day_start[-1]) + DAY - 1,
            open_hour=business_hours[0],
            close_hour=business_hours[1],
            next_workday=nxt,
        )

    @property
    def start(self) -> int:
        return int(self.day_start[0])

    @property
    def n_days(self) -> int:
        return len(self.dates)

    def day_index(self, t: np.ndarray) -> np.ndarray:
        """Index of the local day containing each instant (clipped to the range)."""
        idx = np.searchsorted(self.day_start, t, side="right") - 1
        return np.clip(idx, 0, self.n_days - 1)

    def local_seconds(self, t: np.ndarray) -> np.ndarray:
        """Seconds since local midnight of each instant."""
        return t - self.day_start[self.day_index(t)]

    def is_business(self, t: np.ndarray) -> np.ndarray:
        """Whether each instant falls on a working day within business hours."""
        d = self.day_index(t)
        sec = t - self.day_start[d]
        return (
            (self.weekday[d] < 5) & (sec >= self.open_hour * HOUR) & (sec < self.close_hour * HOUR)
        )

    def nudge(self, t: np.ndarray, rng: np.random.Generator, p: float) -> np.ndarray:
        """Move instants outside business hours, with probability ``p``, to a next working morning.

        Only ever moves an instant later, so order relative to earlier instants is kept; the
        result never passes the end of the range (such instants are left alone).
        """
        d = self.day_index(t)
        sec = t - self.day_start[d]
        outside = ~self.is_business(t) & (rng.random(t.shape) < p)
        # Before opening on a working day: that morning; otherwise the next working day.
        same_day = (sec < self.open_hour * HOUR) & (self.weekday[d] < 5)
        target = self.next_workday[np.where(same_day, d, d + 1)]
        ok = outside & (target < self.n_days)
        jitter = (rng.random(t.shape) * 1.5 * HOUR).astype(np.int64)
        moved = self.day_start[np.minimum(target, self.n_days - 1)] + self.open_hour * HOUR + jitter
        out = np.where(ok & (moved <= self.end), np.maximum(moved, t), t)
        return out

    def creation_cdf(self, growth: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Hourly bins (UTC start, weight, cumulative share) of the deal-creation intensity.

        Intensity = yearly growth x weekday weight x local hour weight, with the Russian New
        Year holidays (1–8 January) quiet.
        """
        days = np.arange(self.n_days)
        day_w = (1.0 + growth) ** (days / 365.0) * _WEEKDAY_WEIGHT[self.weekday]
        holiday = np.array([d.month == 1 and d.day <= 8 for d in self.dates])
        day_w = np.where(holiday, day_w * 0.25, day_w)
        weights = (day_w[:, None] * _HOUR_WEIGHT[None, :]).ravel()
        edges = (self.day_start[:, None] + np.arange(24)[None, :] * HOUR).ravel()
        cum = np.cumsum(weights)
        return edges, weights / cum[-1], cum / cum[-1]

    def creation_times(self, u: np.ndarray, growth: float) -> np.ndarray:
        """Map quantiles ``u`` in [0, 1) monotonically to creation instants."""
        edges, w, cum = self._cdf(growth)
        k = np.minimum(np.searchsorted(cum, u, side="right"), len(cum) - 1)
        below = np.where(k > 0, cum[np.maximum(k - 1, 0)], 0.0)
        frac = np.clip((u - below) / w[k], 0.0, 0.999999)
        return edges[k] + (frac * HOUR).astype(np.int64)

    def _cdf(self, growth: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        key = ("_cdf_cache", growth)
        cache = self.__dict__.setdefault("_cache", {})
        if key not in cache:
            cache[key] = self.creation_cdf(growth)
        return cache[key]
