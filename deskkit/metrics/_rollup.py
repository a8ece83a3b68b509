"""Per-day counts, kept next to the engine, for metrics that count rows over long periods.

A year of activity is millions of rows to read at every filter change, but only a few thousand
(day, user, type) counts. Where the store keeps derived tables (:meth:`Store.derived`), such a
metric counts every day once, then answers a span from the whole days inside it plus the raw
rows of the partial days at its edges (a period ending "now" ends inside a day). Elsewhere it
runs its query on the raw rows, and both give the same numbers: the tests compare them.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir

from deskkit.metrics._base import Span

__all__ = ["DayGrid", "from_days"]

_EPOCH = _dt.datetime(1970, 1, 1)
_DAY = 86_400


@dataclass(frozen=True)
class DayGrid:
    """Days of 24 hours starting at the account's local midnight (at its offset on 1 January
    1970: in summer time a period's edges then fall an hour inside a day, and that hour is read
    from the raw rows)."""

    origin: int  # seconds from the Unix epoch to the grid's first midnight (naive UTC)

    @classmethod
    def of(cls, timezone: str) -> DayGrid:
        midnight = _dt.datetime(1970, 1, 1, tzinfo=ZoneInfo(timezone))
        utc = midnight.astimezone(_dt.UTC).replace(tzinfo=None)
        return cls(int((utc - _EPOCH).total_seconds()))

    def day(self, at: ir.TimestampValue) -> ir.IntegerValue:
        """Engine expression: the number of the day ``at`` falls in."""
        return ((at.epoch_seconds() - self.origin) // _DAY).cast("int64")

    def numbered(self, day: int) -> ir.IntegerValue:
        """Engine expression: ``day`` (a number), computed from the day's start."""
        return self.day(ibis.literal(self.start(day)))

    def number(self, at: _dt.datetime) -> int:
        """The number of the day ``at`` (naive UTC) falls in."""
        return math.floor(((at - _EPOCH).total_seconds() - self.origin) / _DAY)

    def start(self, day: int) -> _dt.datetime:
        return _EPOCH + _dt.timedelta(seconds=self.origin + day * _DAY)

    def cover(self, span: Span) -> tuple[tuple[int, int] | None, list[Span]]:
        """The whole days ``[first, stop)`` inside ``span`` (None if none) and the parts of the
        span outside them."""
        a, b = span
        lo = math.ceil(((a - _EPOCH).total_seconds() - self.origin) / _DAY)
        hi = math.floor(((b - _EPOCH).total_seconds() - self.origin) / _DAY)
        if lo >= hi:
            return None, [span] if a < b else []
        edges = [(a, self.start(lo)), (self.start(hi), b)]
        return (lo, hi), [(s, e) for s, e in edges if s < e]


def from_days(
    days: ir.Table,
    raw: Callable[[list[Span]], ir.Table],
    spans: Sequence[Span],
    grid: DayGrid,
    t0: _dt.datetime,
    keys: list[str],
) -> ir.Table:
    """``current, *keys, n``: the rows of ``spans`` counted per ``keys``, from the per-day
    counts ``days`` (``day, *keys, n``) for the whole days and from ``raw(parts)`` (rows with
    ``at`` and ``keys``, in the given parts only) for the rest. ``current`` is whether the
    rows fall at or after ``t0`` (the period, not the previous one)."""
    ranges, parts = [], []
    for span in spans:
        whole, rest = grid.cover(span)
        if whole is not None:
            ranges.append(whole)
        parts += rest
    first_current = math.ceil(((t0 - _EPOCH).total_seconds() - grid.origin) / _DAY)
    pieces = []
    if ranges:
        # Day numbers as the engine computes them from each day's start: timestamps, which
        # the compiled-SQL cache substitutes on a period change, where integers would make
        # every period's query new SQL to compile.
        at = grid.numbered
        d = days.filter(
            ibis.or_(*[(days.day >= at(lo)) & (days.day < at(hi)) for lo, hi in ranges])
        )
        d = d.mutate(current=d.day >= at(first_current))
        pieces.append(d.select("current", *keys, "n"))
    if parts or not ranges:
        r = raw(parts or list(spans))
        r = r.group_by(*keys, current=r.at >= t0).aggregate(n=r.count())
        pieces.append(r.select("current", *keys, "n"))
    u = ibis.union(*pieces) if len(pieces) > 1 else pieces[0]
    return u.group_by("current", *keys).aggregate(n=u.n.sum().cast("int64"))
