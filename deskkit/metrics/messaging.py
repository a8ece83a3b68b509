"""Chat messages and response time: how much the clients wrote, how much and how fast we answered.

Response time runs on window functions over each talk's messages in the engine (previous
message's direction, incoming runs numbered by a running sum); only aggregates come back.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import ibis
import pandas as pd

from deskkit.metrics._base import ROBOT, Context, count_if, deal_ref, label_ids, to_sql

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

Span = tuple[_dt.datetime, _dt.datetime]


def _in_spans(col: ir.TimestampValue, spans: list[Span]) -> ir.BooleanValue:
    return ibis.or_(*[(col >= s) & (col < e) for s, e in spans])


def _owned(ctx: Context, m: ir.Table, spans: list[Span]) -> ir.Table:
    """Messages in ``spans`` with their ``owner``: the author of an outgoing message, the
    responsible user of the deal of an incoming one; only owners in scope."""
    m = ctx.live(m.filter(_in_spans(m.created_at, spans)))
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
        """The SQL the engine ran for these numbers (query name -> SQL)."""
        return to_sql(_message_queries(self._ctx))

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
    prev = ctx.previous()
    m = _owned(ctx, ctx.table("messages"), [(ctx.t0, ctx.t1), (prev.t0, prev.t1)])
    m = m.mutate(current=m.created_at >= ctx.t0)
    keys = ["current", "direction", "channel", "owner"]
    return {"counts": m.group_by(keys).aggregate(n=m.count())}


def messages(ctx: Context) -> Messages:
    """Incoming and outgoing messages during the period; see :data:`MESSAGES_DEFINITION`."""
    raw = _message_queries(ctx)["counts"].to_pandas()
    raw["n"] = raw["n"].astype("int64")
    raw["col"] = raw["direction"].map({"in": "incoming", "out": "outgoing"})
    raw.loc[~raw["current"], "col"] = "previous_" + raw.loc[~raw["current"], "col"]
    cols = ["incoming", "outgoing", "previous_incoming", "previous_outgoing"]
    by_channel = raw.pivot_table(index="channel", columns="col", values="n", aggfunc="sum")
    by_channel = by_channel.reindex(columns=cols).fillna(0).astype("int64")
    by_channel.columns.name = None
    by_channel = by_channel.sort_values(["incoming", "outgoing"], ascending=False).reset_index()
    cur = raw.loc[raw["current"]]
    by_user = cur.pivot_table(index="owner", columns="col", values="n", aggfunc="sum")
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


def _talks(ctx: Context, since: _dt.datetime) -> ir.Table:
    """Every message (up to now) of the talks active since ``since``, with its talk's run number
    ``run`` (incoming runs count from 1) and ``run_at``, the first message of its run."""
    m = ctx.table("messages")
    # A robot's auto-reply does not stop the clock: the client is still waiting for a person.
    bot = (m.direction == "out") & (m.user_id == ROBOT)
    m = ctx.live(m.filter(m.created_at < ctx.now, ~bot.fill_null(False)))
    active = m.filter(m.created_at >= since).select("talk_id").distinct()
    m = m.semi_join(active, "talk_id")
    # 'in' sorts before 'out': a reply stamped the same second as the question still follows it.
    order = ["created_at", "direction", "message_id"]
    m = m.mutate(prev_dir=m.direction.lag().over(ibis.window(group_by="talk_id", order_by=order)))
    starts = (m.direction == "in") & (m.prev_dir.isnull() | (m.prev_dir == "out"))
    m = m.mutate(start=ibis.ifelse(starts, 1, 0))
    run = m.start.sum().over(ibis.cumulative_window(group_by="talk_id", order_by=order))
    m = m.mutate(run=run)
    return m.mutate(run_at=m.created_at.min().over(ibis.window(group_by=["talk_id", "run"])))


def _replies(ctx: Context, spans: list[Span]) -> ir.Table:
    """Replies sent in ``spans`` by authors in scope, with ``wait_s`` in seconds."""
    m = _talks(ctx, min(s for s, _ in spans))
    r = m.filter(m.direction == "out", m.prev_dir == "in", _in_spans(m.created_at, spans))
    r = r.filter(ctx.by_owner(r.user_id))
    wait = r.created_at.epoch_seconds() - r.run_at.epoch_seconds()
    return r.mutate(wait_s=wait.cast("float64"))


def _unanswered(ctx: Context) -> ir.Table:
    """Incoming runs started in the period with no outgoing message yet, on deals in scope."""
    m = _talks(ctx, ctx.t0)
    m = m.filter(m.run >= 1)
    runs = m.group_by(["talk_id", "run"]).aggregate(
        run_at=m.created_at.min(),
        outs=count_if(m.direction == "out"),
        entity_type=m.entity_type.min(),
        entity_id=m.entity_id.min(),
        channel=m.channel.min(),
    )
    runs = runs.filter(runs.outs == 0, ctx.during(runs.run_at), runs.entity_type == "deal")
    d = ctx.deals().select(deal_id="deal_id", deal="name", user_id="responsible_user_id")
    return runs.join(d, runs.entity_id == d.deal_id)


def _response_queries(ctx: Context) -> dict[str, ir.Table]:
    prev = ctx.previous()
    r = _replies(ctx, [(ctx.t0, ctx.t1), (prev.t0, prev.t1)])
    r = r.mutate(current=r.created_at >= ctx.t0)

    def stats(t: ir.Table, keys: list[str]) -> ir.Table:
        return t.group_by(keys).aggregate(
            replies=t.count(), mean_s=t.wait_s.mean(), median_s=t.wait_s.median()
        )

    per_user = stats(r, ["current", "user_id"])
    overall = stats(r, ["current"]).mutate(user_id=ibis.null("int64"))
    u = _unanswered(ctx)
    return {
        "replies": ibis.union(per_user, overall.select(*per_user.columns)),
        "unanswered": u.group_by("user_id").aggregate(unanswered=u.count()),
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
        """The SQL the engine ran for these numbers (query name -> SQL)."""
        return to_sql(_response_queries(self._ctx))

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
            r = _replies(ctx, [(ctx.t0, ctx.t1)])
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
                replied_at="created_at",
                wait_s="wait_s",
            ).order_by([ibis.desc("wait_s"), "talk_id", "replied_at"])
        elif what == "unanswered":
            u = _unanswered(ctx)
            t = u.select(
                "talk_id",
                "entity_type",
                "entity_id",
                "deal",
                "channel",
                "user_id",
                asked_at="run_at",
            ).order_by(["asked_at", "talk_id"])
        else:
            raise ValueError(f"unknown record kind {what!r}; use 'replies' or 'unanswered'")
        if user is not None:
            t = t.filter(t.user_id == int(user))
        return label_ids(ctx.store, (t.limit(limit) if limit else t).to_pandas())


def response_time(ctx: Context) -> ResponseTime:
    """Reply times during the period; see :data:`RESPONSE_DEFINITION`."""
    q = _response_queries(ctx)
    rep = q["replies"].to_pandas()
    una = q["unanswered"].to_pandas().set_index("user_id")["unanswered"].astype("int64")
    nan = float("nan")

    def pick(current: bool, user: bool) -> pd.DataFrame:
        rows = rep.loc[(rep["current"] == current) & (rep["user_id"].notna() == user)]
        return rows.set_index("user_id") if user else rows

    def head(rows: pd.DataFrame, col: str) -> float:
        return float(rows[col].iloc[0]) if len(rows) else (0.0 if col == "replies" else nan)

    cur, prev = pick(True, True), pick(False, True)
    ids = sorted(set(cur.index) | set(una.index))
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
