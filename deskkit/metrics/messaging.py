"""Chat messages and response time: how much the clients wrote, how much and how fast we answered.

Response time cuts each talk into exchanges (a run of incoming messages and the reply closing it)
with one running sum over the talk's messages in the engine; only aggregates come back.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import ibis
import pandas as pd

from deskkit.metrics._base import (
    ROBOT,
    Context,
    Span,
    deal_ref,
    in_spans,
    label_ids,
    latest_at,
    span_rows,
    to_sql,
    with_deal_owner,
)
from deskkit.metrics._rollup import DayGrid, from_days

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from deskkit.filters import Period, Scope

__all__ = [
    "MESSAGES_DEFINITION",
    "RESPONSE_DEFINITION",
    "Messages",
    "ResponseTime",
    "messages",
    "response_time",
]

MESSAGES_DEFINITION = (
    "Chat messages sent during the period. Outgoing: in scope when their author is (messages "
    "sent by a robot count only for everyone). Incoming: attached to a deal whose responsible "
    "user (now) is in scope and visible to the viewer; incoming messages not attached to a deal "
    "are not counted. Messages on deleted deals are never counted. Shown per channel and per "
    "user, with the previous comparable period's totals."
)

RESPONSE_DEFINITION = (
    "Response time. The messages of each talk are taken in time order; a run of incoming "
    "messages is answered by the first outgoing message after it, and the reply time is measured "
    "from the FIRST incoming message of that run (the client's wait) to that reply; later "
    "outgoing messages before the client writes again are not replies, and robots' messages "
    "are ignored (an auto-reply does not answer the client). Mean and median over the "
    "replies sent during the period, overall and per replying user (in scope when the author "
    "is). Unanswered: runs of incoming messages that started during the period, on a deal in "
    "scope, with no outgoing message after them up to now. Talks on deleted deals are ignored. "
    "The previous comparable period's mean and median are shown alongside."
)

#: Microseconds per second (waits are kept in microseconds, shown in seconds).
_US = 1_000_000


def _deleted(ctx: Context) -> ir.Table:
    """Ids of deleted deals (a few percent of the deals: a small join side)."""
    d = ctx.table("deals")
    return d.filter(d.is_deleted.fill_null(False)).select("deal_id")


def _owned(ctx: Context, m: ir.Table, spans: list[Span]) -> ir.Table:
    """Messages in ``spans`` with their ``owner``: the author of an outgoing message, the
    responsible user of the deal of an incoming one; only owners in scope."""
    m = ctx.live(span_rows(m, "created_at", spans))
    out = m.filter(m.direction == "out", ctx.by_owner(m.user_id)).mutate(owner=m.user_id)
    inc = m.filter(m.direction == "in", m.entity_type == "deal")
    d = ctx.deals().select(deal_id="deal_id", owner="responsible_user_id")
    inc = inc.join(d, inc.entity_id == d.deal_id).drop("deal_id")
    return ibis.union(out, inc.select(*out.columns))


# Messages ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Messages:
    """Incoming and outgoing messages during the period: ``by_channel`` (``channel, incoming,
    outgoing, previous_incoming, previous_outgoing``), ``by_user`` (``user_id, user, incoming,
    outgoing``) and the totals."""

    period: Period
    scope: Scope
    by_channel: pd.DataFrame
    by_user: pd.DataFrame
    incoming: int
    outgoing: int
    previous_incoming: int
    previous_outgoing: int
    _ctx: Context = field(repr=False, compare=False)

    definition = MESSAGES_DEFINITION

    def sql(self) -> dict[str, str]:
        """The SQL behind these numbers (query name -> SQL), whole: counted from the messages
        themselves, not from the store's kept per-day counts."""
        return to_sql(self._ctx, lambda: _message_queries(self._ctx))

    def records(
        self,
        direction: Literal["in", "out"] | None = None,
        channel: str | None = None,
        user: int | None = None,
        *,
        limit: int | None = 200,
    ) -> pd.DataFrame:
        """The messages behind a number (newest first); ``user`` is the owner (author of an
        outgoing message, responsible user of an incoming one's deal)."""
        ctx = self._ctx
        m = _owned(ctx, ctx.table("messages"), [(ctx.t0, ctx.t1)])
        if direction is not None:
            m = m.filter(m.direction == direction)
        if channel is not None:
            m = m.filter(m.channel == channel)
        if user is not None:
            m = m.filter(m.owner == int(user))
        d = ctx.visible_deals().select(deal_id="deal_id", deal="name")
        j = m.left_join(d, deal_ref(m) == d.deal_id)
        cols = ["message_id", "talk_id", "created_at", "direction", "channel", "entity_type"]
        j = j.select(*cols, "entity_id", "deal", user_id="owner").order_by(
            [ibis.desc("created_at"), "message_id"]
        )
        return label_ids(ctx.store, (j.limit(limit) if limit else j).to_pandas())


def _message_queries(ctx: Context) -> dict[str, ir.Table]:
    """The counts of :func:`_owned` for both periods (``current, direction, channel, owner,
    n``): from the store's kept per-day counts where it keeps them, else in one scan."""
    prev = ctx.previous()
    spans = [(ctx.t0, ctx.t1), (prev.t0, prev.t1)]
    grid = DayGrid.of(ctx.period.timezone)
    days = ctx.store.derived(("messages per day", grid), lambda: _counted(ctx, None, grid))
    if days is None:
        return {"counts": _counted(ctx, spans)}
    # Whole days from the kept counts, the partial days at the spans' edges from the rows.
    days = days.filter(ctx.by_owner(days.owner))

    def rows(parts: list[Span]) -> ir.Table:
        m = _owned(ctx, ctx.table("messages"), parts)
        return m.select("direction", "channel", "owner", at=m.created_at)

    keys = ["direction", "channel", "owner"]
    return {"counts": from_days(days, rows, spans, grid, ctx.t0, keys)}


def _counted(ctx: Context, spans: list[Span] | None, grid: DayGrid | None = None) -> ir.Table:
    """The messages of ``spans`` counted per (current, direction, channel, owner) under the
    rules of :func:`_owned`; with ``spans`` None, every message counted per (day of ``grid``,
    direction, channel, owner) whatever the scope (the store's kept per-day counts)."""
    m = ctx.table("messages")
    if spans is None:
        m = m.filter(m.created_at.notnull())
        when = {"day": grid.day(m.created_at)}
    else:
        m = span_rows(m, "created_at", spans)
        when = {"current": m.created_at >= ctx.t0}
    # Count first, join after: the two periods' messages (~430k at 1M deals) collapse to ~120k
    # (period, direction, channel, author, deal) groups, and only those meet the deals.
    g = m.group_by(
        **when,
        direction=m.direction,
        channel=m.channel,
        user_id=m.user_id,
        deal=deal_ref(m),
    ).aggregate(n=m.count())
    d = ctx.table("deals").select("deal_id", "is_deleted", owner="responsible_user_id")
    j = g.left_join(d, g.deal == d.deal_id)
    # Same rules as _owned, on one join: an outgoing message is its author's unless on a
    # deleted deal; an incoming one is the owner's of its live deal in scope.
    live = ~j.is_deleted.fill_null(False)
    out = (j.direction == "out") & live
    inc = (j.direction == "in") & j.deal_id.notnull() & live
    if spans is not None:
        out, inc = out & ctx.by_owner(j.user_id), inc & ctx.by_owner(j.owner)
    owner = ibis.ifelse(j.direction == "out", j.user_id, j.owner)
    k = j.filter(out | inc).select(*when, "direction", "channel", "n", owner=owner)
    keys = [*when, "direction", "channel", "owner"]
    return k.group_by(keys).aggregate(n=k.n.sum())


def messages(ctx: Context) -> Messages:
    """Incoming and outgoing messages during the period; see :data:`MESSAGES_DEFINITION`."""
    raw = _message_queries(ctx)["counts"].to_pandas()
    raw["n"] = raw["n"].astype("int64")
    raw["col"] = raw["direction"].map({"in": "incoming", "out": "outgoing"})
    raw.loc[~raw["current"], "col"] = "previous_" + raw.loc[~raw["current"], "col"]
    cols = ["incoming", "outgoing", "previous_incoming", "previous_outgoing"]
    # groupby + unstack: pivot_table's result, in half the time.
    by_channel = raw.groupby(["channel", "col"])["n"].sum().unstack("col")
    by_channel = by_channel.reindex(columns=cols).fillna(0).astype("int64")
    by_channel.columns.name = None
    by_channel = by_channel.sort_values(["incoming", "outgoing"], ascending=False).reset_index()
    cur = raw.loc[raw["current"]]
    by_user = cur.groupby(["owner", "col"])["n"].sum().unstack("col")
    by_user = by_user.reindex(columns=cols[:2]).fillna(0).astype("int64")
    by_user.columns.name = None
    by_user = by_user.rename_axis("user_id").reset_index()
    by_user = label_ids(ctx.store, by_user.astype({"user_id": "int64"}))
    by_user.loc[by_user["user_id"] == ROBOT, "user"] = "robot"
    total = raw.groupby("col")["n"].sum()
    return Messages(
        period=ctx.period,
        scope=ctx.scope,
        by_channel=by_channel,
        by_user=by_user.sort_values("user_id", ignore_index=True),
        incoming=int(total.get("incoming", 0)),
        outgoing=int(total.get("outgoing", 0)),
        previous_incoming=int(total.get("previous_incoming", 0)),
        previous_outgoing=int(total.get("previous_outgoing", 0)),
        _ctx=ctx,
    )


# Response time ----------------------------------------------------------------------------------


def _exchanges(ctx: Context, since: _dt.datetime, detail: bool = False) -> ir.Table:
    """The exchanges of the talks active from ``since`` to the period's end (see
    :func:`_cut`). Where the store keeps derived tables, every talk's exchanges are cut once
    and kept (a period change then filters them instead of sorting the messages again)."""
    if not detail and ctx.store.keeps_derived:
        # In reply order: a period's replies are then a few blocks the engine reads alone.
        kept = ctx.store.derived(
            ("exchanges", _as_of(ctx)),
            lambda: with_deal_owner(ctx, _cut(ctx, None)).order_by("replied_at"),
        )
        if kept is not None:
            return kept
    return _cut(ctx, since, detail)


def _as_of(ctx: Context) -> _dt.datetime | None:
    """The "now" the exchanges depend on: None when no message is that recent (the usual
    case), so that every later "now" shares one cut."""
    latest = latest_at(ctx, "messages", "created_at")
    return None if latest is None or latest < ctx.now else ctx.now


def _cut(ctx: Context, since: _dt.datetime | None, detail: bool = False) -> ir.Table:
    """The talks active from ``since`` to the period's end (every talk if None), with all
    their messages up to now, cut into exchanges: a run of incoming messages with the first
    outgoing message after it. One row per exchange: ``run_at`` (its first incoming message;
    NULL between two outgoing ones), ``replied_at`` and the replying ``user_id`` (NULL while
    unanswered), the run's ``entity_type`` and ``entity_id``; ``detail`` adds the run's
    ``channel`` and the reply's ``reply_entity_type``, ``reply_entity_id`` and
    ``reply_channel`` (for the records). Each talk is cut on its own, so the talks left out
    change no exchange of the others."""
    m = ctx.table("messages")
    m = m.filter(m.created_at < ctx.now)
    gone = _deleted(ctx)
    m = m.anti_join(gone, deal_ref(m) == gone.deal_id)
    if since is not None:
        # Built from the same rows, the small set of active talks is the join's build side:
        # DuckDB then prunes the scan to their id range (talk ids grow with time). A talk
        # silent from ``since`` to the period's end has no reply and no run counted, whatever
        # it did later (for a past period, bounding this keeps months of later talks out).
        recent = m.filter(m.created_at >= since, m.created_at < ctx.t1)
        active = recent.select("talk_id").distinct()
        m = m.semi_join(active, "talk_id")
    # A robot's auto-reply does not stop the clock: the client is still waiting for a person.
    # Robots' messages, like any message neither in nor out, join no exchange (out is NULL).
    human = m.user_id.isnull() | (m.user_id != ROBOT)
    out = ibis.cases((m.direction == "in", 0), ((m.direction == "out") & human, 1))
    # Number the exchanges by the outgoing messages before each message, in talk order ('in'
    # sorts before 'out': a reply stamped the same second as the question still follows it).
    # An exchange is then the incoming messages after one outgoing message plus the next
    # outgoing one, its reply: one running sum instead of numbering runs and their starts.
    talk = ibis.cumulative_window(group_by=m.talk_id, order_by=[m.created_at, out, m.message_id])
    m = m.mutate(out=out, exchange=out.sum().over(talk) - out.fill_null(0))
    inc, rep = m.out == 0, m.out == 1
    cols = {
        "run_at": m.created_at.min(where=inc),
        "replied_at": m.created_at.max(where=rep),
        "user_id": m.user_id.max(where=rep),
        "entity_type": m.entity_type.min(where=inc),
        "entity_id": m.entity_id.min(where=inc),
    }
    if detail:
        cols |= {
            "channel": m.channel.min(where=inc),
            "reply_entity_type": m.entity_type.max(where=rep),
            "reply_entity_id": m.entity_id.max(where=rep),
            "reply_channel": m.channel.max(where=rep),
        }
    x = m.group_by("talk_id", "exchange").aggregate(**cols)
    # Microseconds from the run's first message to the reply (NULL unless both), once per
    # exchange: exact in the timestamps' own unit, and an integer, whose median DuckDB finds
    # in half the time of a float's (seconds as floats: 115 against 59 ms for 1.3M replies).
    return x.mutate(wait_us=x.replied_at.delta(x.run_at, unit="microsecond"))


def _replies(ctx: Context, x: ir.Table, spans: list[Span]) -> ir.Table:
    """The replies among exchanges ``x`` sent in ``spans`` by authors in scope, with
    ``wait_us`` (microseconds from the run's first message) and ``current`` (sent in the
    period)."""
    r = _answered(ctx, x)
    r = r.filter(in_spans(r.replied_at, spans), ctx.by_owner(r.user_id))
    return r.mutate(current=r.replied_at >= ctx.t0)


def _answered(ctx: Context, x: ir.Table) -> ir.Table:
    """The exchanges of ``x`` that are replies to a run (``replied_at``, ``user_id``,
    ``wait_us`` at least). For the kept exchanges, a kept copy of just these columns of
    the replies, in reply order: a period change reads a third less (the median of a year
    and the year before then took 74 ms of CPU at 1M deals, not 94)."""
    answered = x.filter(x.run_at.notnull())
    if "live_deal" not in x.columns:  # cut for this request: nothing kept
        return answered
    kept = ctx.store.derived(
        ("replies", _as_of(ctx)),
        lambda: answered.select("replied_at", "user_id", "wait_us").order_by("replied_at"),
    )
    return kept if kept is not None else answered


def _unanswered(ctx: Context, x: ir.Table) -> ir.Table:
    """Exchanges ``x`` without a reply whose run started in the period on a deal in scope,
    with the deal's responsible ``owner`` (and, for exchanges cut for this request, its name,
    ``deal``)."""
    if "deal_owner" in x.columns:
        # Kept exchanges met the deals once, when they were cut (at every request DuckDB
        # built this join on the million deals, not on the few runs). The runs on live deals
        # still waiting are kept apart, in run order: a period reads a few blocks of them,
        # not a scan of every exchange.
        w = x.filter(x.replied_at.isnull(), x.entity_type == "deal", x.live_deal)
        kept = ctx.store.derived(
            ("runs waiting", _as_of(ctx)),
            lambda: w.select("run_at", "deal_owner").order_by("run_at"),
        )
        u = w if kept is None else kept
        u = u.filter(ctx.during(u.run_at), ctx.by_owner(u.deal_owner))
        return u.rename(owner="deal_owner")
    u = x.filter(x.replied_at.isnull(), ctx.during(x.run_at), x.entity_type == "deal")
    d = ctx.deals().select(deal_id="deal_id", deal="name", owner="responsible_user_id")
    return u.join(d, u.entity_id == d.deal_id)


def _response_queries(ctx: Context) -> dict[str, ir.Table]:
    """Both periods' reply statistics (per user, and overall with a NULL ``user_id``) and the
    unanswered runs per user (with a NULL ``current``), from one pass over the talks."""
    prev = ctx.previous()
    x = _exchanges(ctx, prev.t0)
    r = _replies(ctx, x, [(ctx.t0, ctx.t1), (prev.t0, prev.t1)])
    stats = {
        "n": r.count(),
        "mean_s": r.wait_us.mean() / _US,
        "median_s": r.wait_us.median() / _US,
    }
    per_user = r.group_by("current", "user_id").aggregate(**stats)
    overall = r.group_by("current").aggregate(**stats)
    u = _unanswered(ctx, x)
    u = u.group_by("owner").aggregate(n=u.count())
    nan = ibis.null("float64")
    return {
        "response": ibis.union(
            per_user,
            overall.select(
                "current", user_id=ibis.null("int64"), n="n", mean_s="mean_s", median_s="median_s"
            ),
            u.select(
                current=ibis.null("boolean"), user_id="owner", n="n", mean_s=nan, median_s=nan
            ),
        )
    }


@dataclass(frozen=True)
class ResponseTime:
    """Reply times during the period (seconds): overall ``replies``, ``mean_s``, ``median_s``,
    ``unanswered`` and the previous period's; ``by_user`` has ``user_id, user, replies, mean_s,
    median_s, previous_replies, previous_mean_s, previous_median_s, unanswered``."""

    period: Period
    scope: Scope
    by_user: pd.DataFrame
    replies: int
    mean_s: float
    median_s: float
    unanswered: int
    previous_replies: int
    previous_mean_s: float
    previous_median_s: float
    _ctx: Context = field(repr=False, compare=False)

    definition = RESPONSE_DEFINITION

    def sql(self) -> dict[str, str]:
        """The SQL behind these numbers (query name -> SQL), whole: the exchanges are cut
        from the messages, not read from the store's kept copy (see :func:`_exchanges`)."""
        return to_sql(self._ctx, lambda: _response_queries(self._ctx))

    def records(
        self,
        what: Literal["replies", "unanswered"] = "replies",
        user: int | None = None,
        *,
        limit: int | None = 200,
    ) -> pd.DataFrame:
        """The replies (slowest first: ``talk_id, deal, channel, asked_at, replied_at, wait_s,
        user``) or the unanswered runs (oldest first) behind the numbers."""
        ctx = self._ctx
        if what == "replies":
            x = _exchanges(ctx, ctx.t0, detail=True)
            r = _replies(ctx, x, [(ctx.t0, ctx.t1)])
            r = r.select(
                "talk_id",
                "user_id",
                "run_at",
                "replied_at",
                "wait_us",
                entity_type="reply_entity_type",
                entity_id="reply_entity_id",
                channel="reply_channel",
            )
            d = ctx.visible_deals().select(deal_id="deal_id", deal="name")
            t = r.left_join(d, deal_ref(r) == d.deal_id)
            t = t.select(
                "talk_id",
                "entity_type",
                "entity_id",
                "deal",
                "channel",
                "user_id",
                asked_at="run_at",
                replied_at="replied_at",
                wait_s=t.wait_us / _US,
            ).order_by([ibis.desc("wait_s"), "talk_id", "replied_at"])
        elif what == "unanswered":
            u = _unanswered(ctx, _exchanges(ctx, ctx.t0, detail=True))
            t = u.select(
                "talk_id",
                "entity_type",
                "entity_id",
                "deal",
                "channel",
                user_id="owner",
                asked_at="run_at",
            ).order_by(["asked_at", "talk_id"])
        else:
            raise ValueError(f"unknown record kind {what!r}; use 'replies' or 'unanswered'")
        if user is not None:
            t = t.filter(t.user_id == int(user))
        return label_ids(ctx.store, (t.limit(limit) if limit else t).to_pandas())


def response_time(ctx: Context) -> ResponseTime:
    """Reply times during the period; see :data:`RESPONSE_DEFINITION`."""
    q = _response_queries(ctx)["response"].to_pandas()
    rep = q.loc[q["current"].notna()].rename(columns={"n": "replies"})
    una = q.loc[q["current"].isna()].set_index("user_id")["n"].astype("int64")
    nan = float("nan")

    def pick(current: bool, user: bool) -> pd.DataFrame:
        rows = rep.loc[(rep["current"] == current) & (rep["user_id"].notna() == user)]
        return rows.set_index("user_id") if user else rows

    def head(rows: pd.DataFrame, col: str) -> float:
        return float(rows[col].iloc[0]) if len(rows) else (0.0 if col == "replies" else nan)

    cur, prev = pick(True, True), pick(False, True)
    # Runs on a deal without a responsible user count in the total, under no user.
    ids = sorted(set(cur.index) | set(una.index.dropna()))
    by_user = pd.DataFrame({"user_id": pd.Series(ids, dtype="int64")})
    for col in ("replies", "mean_s", "median_s"):
        by_user[col] = cur[col].reindex(ids).to_numpy()
        by_user[f"previous_{col}"] = prev[col].reindex(ids).to_numpy()
    for col in ("replies", "previous_replies"):
        by_user[col] = by_user[col].fillna(0).astype("int64")
    by_user["unanswered"] = una.reindex(ids).fillna(0).astype("int64").to_numpy()
    order = ["user_id", "replies", "mean_s", "median_s", "previous_replies", "previous_mean_s"]
    by_user = label_ids(ctx.store, by_user[[*order, "previous_median_s", "unanswered"]])
    all_now, all_prev = pick(True, False), pick(False, False)
    return ResponseTime(
        period=ctx.period,
        scope=ctx.scope,
        by_user=by_user,
        replies=int(head(all_now, "replies")),
        mean_s=head(all_now, "mean_s"),
        median_s=head(all_now, "median_s"),
        unanswered=int(una.sum()),
        previous_replies=int(head(all_prev, "replies")),
        previous_mean_s=head(all_prev, "mean_s"),
        previous_median_s=head(all_prev, "median_s"),
        _ctx=ctx,
    )
