"""System usage: hours each user was online during the period, against the previous period.

Online time is the union of a user's sessions clipped to the period: a session crossing a
boundary counts only its part inside, and overlapping sessions (two devices) count once.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import ibis
import pandas as pd

from deskkit.metrics._base import ROBOT, Context, label_ids, to_sql

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from deskkit.filters import Period, Scope

__all__ = ["DEFINITION", "GAP", "LONE", "Source", "SystemUsage", "system_usage"]

#: Events of one author closer than this belong to one derived session.
GAP = _dt.timedelta(minutes=15)
#: A derived session lasts from its first event to its last event plus this.
LONE = _dt.timedelta(minutes=5)

Source = Literal["presence", "derived from events"]

DEFINITION = (
    "System usage: hours each user in the selected scope was online during the period, from "
    "their presence sessions clipped to the period (a session crossing the start or the end "
    "counts only its part inside; overlapping sessions of one user count once; a session still "
    "open counts until now), and the percent change against the same elapsed part of the "
    "previous period (none when the previous period has no online time). When the account has "
    "no presence records for these users at all, sessions are derived from each user's own "
    "actions (robots excluded): actions less than 15 minutes apart form one session, which "
    "lasts from its first action to 5 minutes after its last, so a lone action counts 5 minutes."
)


def _sessions(ctx: Context, source: Source, lo: _dt.datetime, hi: _dt.datetime) -> ir.Table:
    """(user_id, started_at, ended_at[, event_id]) of the scope's users touching [lo, hi)."""
    if source == "presence":
        p = ctx.table("presence")
        end = p.ended_at.coalesce(ibis.literal(ctx.now))
        p = p.filter(ctx.by_owner(p.user_id), p.started_at < hi, end > lo)
        return p.select("user_id", "started_at", ended_at=end, event_id=ibis.null("string"))
    # Each action starts an interval that runs to the next action of its author when that comes
    # within GAP, else for LONE: the disjoint pieces of the derived sessions. Only actions within
    # GAP of [lo, hi) can reach into it, so nothing older is read.
    e = ctx.table("events")
    e = e.filter(
        e.created_by != ROBOT,
        ctx.by_owner(e.created_by),
        e.created_at >= lo - GAP,
        e.created_at < hi + GAP,
    )
    nxt = e.created_at.lead().over(group_by=e.created_by, order_by=[e.created_at, e.event_id])
    close = nxt.notnull() & (nxt < e.created_at + GAP)
    return e.select(
        user_id=e.created_by,
        started_at=e.created_at,
        ended_at=ibis.ifelse(close, nxt, e.created_at + LONE),
        event_id=e.event_id,
    )


def _counted(ctx: Context, source: Source, label: str) -> ir.Table:
    """Sessions clipped to ``ctx``'s period, each with the seconds it adds to its user's union."""
    t0, t1 = ctx.t0, ctx.t1
    s = _sessions(ctx, source, t0, t1)
    a = ibis.greatest(s.started_at, ibis.literal(t0))
    b = ibis.least(s.ended_at, ibis.literal(t1))
    s = s.mutate(counted_from=a, counted_to=b).filter(lambda x: x.counted_to > x.counted_from)
    # Sorted by start, a session adds what reaches past every earlier session's end.
    w = ibis.window(group_by=s.user_id, order_by=[s.counted_from, s.counted_to], rows=(None, -1))
    reach = s.counted_to.max().over(w)
    start = ibis.greatest(s.counted_from, reach.coalesce(s.counted_from))
    seconds = ibis.ifelse(
        s.counted_to > start, s.counted_to.epoch_seconds() - start.epoch_seconds(), 0
    )
    return s.mutate(period=ibis.literal(label), seconds=seconds.cast("float64"))


def _source(ctx: Context) -> Source:
    """Where the sessions of the users in scope come from, remembered per store and set of
    users (a store is a snapshot: asked at every change, it was a query each time)."""

    def ask() -> Source:
        p = ctx.table("presence")
        has = p.filter(ctx.by_owner(p.user_id)).limit(1).count().to_pyarrow().as_py()
        return "presence" if has else "derived from events"

    return ctx.store.memo(("usage source", ctx.owners), ask)


def _queries(ctx: Context, source: Source) -> dict[str, ir.Table]:
    both = ibis.union(
        _counted(ctx, source, "current"), _counted(ctx.previous(), source, "previous")
    )
    return {"hours": both.group_by(["user_id", "period"]).aggregate(seconds=both.seconds.sum())}


def _change(now: float, before: float) -> float:
    return (now - before) / before if before else float("nan")


@dataclass(frozen=True)
class SystemUsage:
    """Online hours per user during the period and the previous one.

    ``users``: ``user_id, user, hours, previous_hours, change`` (a fraction, NaN when the
    previous period has no online time), most hours first. ``source`` tells where the
    sessions came from.
    """

    period: Period
    scope: Scope
    source: Source
    users: pd.DataFrame
    hours: float
    previous_hours: float
    _ctx: Context = field(repr=False, compare=False)

    definition = DEFINITION

    @property
    def change(self) -> float:
        """Percent change of the total (a fraction; NaN when the previous total is 0)."""
        return _change(self.hours, self.previous_hours)

    def sql(self) -> dict[str, str]:
        """The SQL the engine ran for these numbers (query name -> SQL)."""
        return to_sql(self._ctx, lambda: _queries(self._ctx, self.source))

    def records(
        self, user: int | None = None, *, previous: bool = False, limit: int | None = None
    ) -> pd.DataFrame:
        """The sessions behind the hours (or derived intervals, each with its ``event_id``):
        ``counted_from``/``counted_to`` are clipped to the period and ``seconds`` is what the
        session adds once overlaps are removed, so they sum to the hours."""
        ctx = self._ctx.previous() if previous else self._ctx
        s = _counted(ctx, self.source, "previous" if previous else "current")
        if user is not None:
            s = s.filter(s.user_id == int(user))
        s = s.select(
            "user_id", "started_at", "ended_at", "counted_from", "counted_to", "seconds", "event_id"
        ).order_by(["user_id", "counted_from", "counted_to"])
        return label_ids(ctx.store, (s.limit(limit) if limit else s).to_pandas())


def system_usage(ctx: Context) -> SystemUsage:
    """Online hours per user; see :data:`DEFINITION` for the rules."""
    source = _source(ctx)
    raw = _queries(ctx, source)["hours"].to_pandas()
    wide = (
        raw.groupby(["user_id", "period"])["seconds"].sum().unstack("period")
        if len(raw)
        else pd.DataFrame(dtype="float64")
    )
    wide = wide.reindex(columns=["current", "previous"]).astype("float64").fillna(0.0) / 3600.0
    # Every active user in scope gets a row, online or not (users is a small cached table).
    users = ctx.store.users
    owners = ctx.owners
    active = users.loc[users["is_active"].fillna(True).astype(bool), "user_id"].astype("int64")
    ids = set(active if owners is None else active[active.isin(owners)]) | set(wide.index)
    frame = pd.DataFrame({"user_id": sorted(int(i) for i in ids)}, dtype="int64")
    frame["hours"] = frame["user_id"].map(wide["current"]).fillna(0.0).astype("float64")
    frame["previous_hours"] = frame["user_id"].map(wide["previous"]).fillna(0.0).astype("float64")
    frame["change"] = [
        _change(h, p) for h, p in zip(frame["hours"], frame["previous_hours"], strict=True)
    ]
    frame = frame.sort_values(["hours", "user_id"], ascending=[False, True])
    frame = label_ids(ctx.store, frame.reset_index(drop=True))
    return SystemUsage(
        period=ctx.period,
        scope=ctx.scope,
        source=source,
        users=frame,
        hours=float(frame["hours"].sum()),
        previous_hours=float(frame["previous_hours"].sum()),
        _ctx=ctx,
    )
