"""The desktop's standard widgets in plain pandas, for bench/bench_desktop.py.

A straightforward pandas dashboard: the tables are loaded into memory once (only the columns the
widgets read), then every filter change recomputes each widget's headline numbers from those
frames with boolean masks, ``groupby`` and ``merge``, no Ibis. Each function follows the rule text
of its metric (``definition`` on the engine's result); the numbers are then compared with the
engine's for the same filters (scope everyone, unrestricted viewer).

``run(desk, runs, periods)`` returns the load time, the frames' memory, per-widget median times
and agreement, and the median whole-desktop time.
"""

from __future__ import annotations

import math
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

ROBOT = 0
OUTSIDE, LOST, UNSORTED = -2, -1, 0
OPEN_KINDS = ("open", "unsorted")
CLOSED_KINDS = ("won", "lost")
MIN_SAMPLE = 20
DEFAULT_CAPACITY = 15
NO_SOURCE = "no source"

#: Table -> the columns the widgets read (None: every column).
TABLES: dict[str, list[str] | None] = {
    "users": None,
    "pipelines": None,
    "stages": None,
    "lead_sources": None,
    "deals": [
        "deal_id",
        "pipeline_id",
        "stage_id",
        "price",
        "responsible_user_id",
        "created_by",
        "created_at",
        "source_id",
        "is_deleted",
    ],
    "deal_moves": None,
    "tasks": [
        "task_id",
        "entity_type",
        "entity_id",
        "responsible_user_id",
        "created_at",
        "deadline",
        "is_completed",
        "completed_at",
    ],
    "task_deadline_changes": None,
    "events": ["event_id", "type", "entity_type", "entity_id", "created_at", "created_by"],
    "messages": None,
    "calls": ["call_id", "direction", "entity_type", "entity_id", "user_id", "created_at"],
    "notes": ["note_id", "entity_type", "entity_id", "created_by", "created_at"],
    "files": ["file_id", "entity_type", "entity_id", "size", "created_by", "created_at"],
    "presence": None,
    "nps": None,
    "contacts": ["id", "responsible_user_id", "is_deleted"],
    "companies": ["id", "responsible_user_id", "is_deleted"],
    "goals": None,
}

Db = dict[str, pd.DataFrame]


def load(store: Any) -> Db:
    db = {}
    for name, cols in TABLES.items():
        t = store.table(name)
        db[name] = (t.select(*cols) if cols else t).to_pandas()
    return db


# Shared helpers -------------------------------------------------------------------------------


def _ts(moment: Any) -> pd.Timestamp:
    return pd.Timestamp(moment)


def _span(period: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    return _ts(period.start_utc), _ts(period.until_utc)


def _during(col: pd.Series, span: tuple[pd.Timestamp, pd.Timestamp]) -> pd.Series:
    return (col >= span[0]) & (col < span[1])


def _not_deleted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[~frame["is_deleted"].fillna(False).astype(bool)]


def _live_deals(db: Db) -> pd.DataFrame:
    return _not_deleted(db["deals"])


def _deleted_deal_ids(db: Db) -> pd.Series:
    d = db["deals"]
    return d.loc[d["is_deleted"].fillna(False).astype(bool), "deal_id"]


def _not_on_deleted(db: Db, t: pd.DataFrame) -> pd.DataFrame:
    """Rows not attached to a deleted deal."""
    gone = (t["entity_type"] == "deal") & t["entity_id"].isin(_deleted_deal_ids(db))
    return t[~gone]


def _stage_at(db: Db, deals: pd.DataFrame, t: pd.Timestamp) -> tuple[pd.Series, pd.Series]:
    """(pipeline_id, stage_id) of each deal at moment ``t``: the ``from`` of its first move at
    or after ``t``, else its current stage."""
    m = db["deal_moves"]
    first = m[m["at"] >= t].sort_values(["deal_id", "at"]).drop_duplicates("deal_id")
    first = first.set_index("deal_id")
    p = deals["deal_id"].map(first["from_pipeline_id"]).fillna(deals["pipeline_id"])
    s = deals["deal_id"].map(first["from_stage_id"]).fillna(deals["stage_id"])
    return p.astype("int64"), s.astype("int64")


def _kind_of(db: Db, p: pd.Series, s: pd.Series) -> np.ndarray:
    kinds = db["stages"].set_index(["pipeline_id", "stage_id"])["kind"]
    return kinds.reindex(pd.MultiIndex.from_arrays([p, s])).to_numpy()


def _deals_at_now(db: Db, now: pd.Timestamp, kinds: tuple[str, ...]) -> pd.DataFrame:
    """Live deals created before now whose stage at now is of one of ``kinds``."""
    d = _live_deals(db)
    d = d[d["created_at"] < now]
    p, s = _stage_at(db, d, now)
    d = d.assign(pipeline_id=p, stage_id=s, price=d["price"].fillna(0.0), kind=_kind_of(db, p, s))
    return d[d["kind"].isin(kinds)]


def _uid(value: Any) -> str:
    return "null" if pd.isna(value) else str(int(value))


# Pipeline flow --------------------------------------------------------------------------------


def pipeline_flow(db: Db, period: Any) -> dict:
    t0, t1 = _span(period)
    pipes = db["pipelines"]
    main = pipes[pipes["is_main"].fillna(False).astype(bool)]
    pid = int((main if len(main) else pipes).iloc[0]["pipeline_id"])
    st = db["stages"]
    st = st[st["pipeline_id"] == pid].sort_values(["sort", "stage_id"])
    opened = st[st["kind"] == "open"]
    n = len(opened)
    won_pos = n + 1
    pos = {int(s): i + 1 for i, s in enumerate(opened["stage_id"])}
    pos |= {int(s): won_pos for s in st.loc[st["kind"] == "won", "stage_id"]}
    pos |= {int(s): LOST for s in st.loc[st["kind"] == "lost", "stage_id"]}
    pos |= {int(s): UNSORTED for s in st.loc[st["kind"] == "unsorted", "stage_id"]}

    def position(p: pd.Series, s: pd.Series) -> np.ndarray:
        on_line = s.map(pos).fillna(OUTSIDE).to_numpy()
        return np.where(p.to_numpy() == pid, on_line, OUTSIDE).astype("int64")

    live = _live_deals(db)
    d = live[live["created_at"] < t1]
    p0, s0 = _stage_at(db, d, t0)
    p1, s1 = _stage_at(db, d, t1)
    d = d.assign(
        pos0=position(p0, s0),
        pos1=position(p1, s1),
        price=d["price"].fillna(0.0),
        created_in=d["created_at"] >= t0,
    )
    m = db["deal_moves"]
    mv = m[
        _during(m["at"], (t0, t1)) & ((m["from_pipeline_id"] == pid) | (m["to_pipeline_id"] == pid))
    ]
    mv = mv[mv["deal_id"].isin(live["deal_id"])]
    a = position(mv["from_pipeline_id"], mv["from_stage_id"])
    b = position(mv["to_pipeline_id"], mv["to_stage_id"])
    on_line = (a >= 1) & (b >= 1)

    def forward(k: int) -> int:
        return int((on_line & (a <= k) & (b > k)).sum())

    def net(k: int) -> int:
        return forward(k) - int((on_line & (b <= k) & (a > k)).sum())

    stages = {}
    for k, name in enumerate(opened["name"], start=1):
        at_start = int(((~d["created_in"]) & (d["pos0"] == k)).sum())
        entered = int(((b == k) & (a != k)).sum()) + int((d["created_in"] & (d["pos0"] == k)).sum())
        base = at_start + entered
        stages[str(name)] = {
            "deals": int((d["pos1"] == k).sum()),
            "budget": float(d.loc[d["pos1"] == k, "price"].sum()),
            "net_in": net(k - 1) if k > 1 else 0,
            "lost": int(((a == k) & (b == LOST)).sum()),
            "conversion": forward(k) / base if base else math.nan,
        }

    made = d[d["created_in"]]
    moved = mv["deal_id"].to_numpy()
    sets = {
        "new": set(moved[(b >= 1) & ((a == UNSORTED) | (a == OUTSIDE))])
        | set(made.loc[made["pos0"] >= 1, "deal_id"]),
        "won": set(moved[(b == won_pos) & (a != won_pos)])
        | set(made.loc[made["pos0"] == won_pos, "deal_id"]),
        "lost": set(moved[(b == LOST) & (a != LOST)])
        | set(made.loc[made["pos0"] == LOST, "deal_id"]),
    }
    price = live.set_index("deal_id")["price"].fillna(0.0)
    budget = {k: float(price.reindex(list(v)).sum()) for k, v in sets.items()}
    stages["won"] = {
        "deals": len(sets["won"]),
        "budget": budget["won"],
        "net_in": net(n) if n else 0,
        "lost": 0,
        "conversion": math.nan,
    }
    return {
        "stages": stages,
        "new": len(sets["new"]),
        "won": len(sets["won"]),
        "won_budget": budget["won"],
        "lost_total": len(sets["lost"]),
        "lost_budget": budget["lost"],
    }


def pipeline_flow_engine(r: Any) -> dict:
    cols = ["deals", "budget", "net_in", "lost", "conversion"]
    return {
        "stages": {str(row["stage"]): {c: row[c] for c in cols} for _, row in r.stages.iterrows()},
        "new": r.new,
        "won": r.won,
        "won_budget": r.won_budget,
        "lost_total": r.lost_total,
        "lost_budget": r.lost_budget,
    }


# Lead sources ---------------------------------------------------------------------------------


def lead_sources(db: Db, period: Any) -> dict:
    d = _live_deals(db)
    d = d[_during(d["created_at"], _span(period))]
    p, s = _stage_at(db, d, _ts(period.now_utc))
    won = _kind_of(db, p, s) == "won"
    price = d["price"].fillna(0.0)
    d = d.assign(price=price, won=won, won_budget=price.where(won, 0.0))
    per = d.groupby("source_id", dropna=False).agg(
        deals=("deal_id", "size"),
        budget=("price", "sum"),
        won=("won", "sum"),
        won_budget=("won_budget", "sum"),
    )
    names = db["lead_sources"].set_index("id")["name"]
    out = {}
    for sid, row in per.iterrows():
        label = NO_SOURCE if pd.isna(sid) else str(names.get(int(sid), f"source {int(sid)}"))
        out[label] = {
            "deals": int(row["deals"]),
            "budget": float(row["budget"]),
            "won": int(row["won"]),
            "won_budget": float(row["won_budget"]),
            "won_share": row["won"] / row["deals"],
        }
    return {"sources": out}


def lead_sources_engine(r: Any) -> dict:
    cols = ["deals", "budget", "won", "won_budget", "won_share"]
    return {
        "sources": {row["source"]: {c: row[c] for c in cols} for _, row in r.sources.iterrows()}
    }


# NPS --------------------------------------------------------------------------------------------


def nps(db: Db, period: Any) -> dict:
    r = db["nps"]
    on_deleted = (r["entity_type"] == "deal") & r["entity_id"].isin(_deleted_deal_ids(db))
    r = r[r["score"].between(0, 10) & ~on_deleted]
    out = {}
    for label, per in (("current", period), ("previous", period.previous())):
        x = r[_during(r["created_at"], _span(per))]
        counts = {
            "responses": len(x),
            "promoters": int((x["score"] >= 9).sum()),
            "passives": int(x["score"].between(7, 8).sum()),
            "detractors": int((x["score"] <= 6).sum()),
        }
        n = counts["responses"]
        counts["nps"] = 100.0 * (counts["promoters"] - counts["detractors"]) / n if n else math.nan
        out[label] = counts
    return out


def nps_engine(r: Any) -> dict:
    cols = ["responses", "promoters", "passives", "detractors", "nps"]
    return {row: {c: r.table.at[row, c] for c in cols} for row in ("current", "previous")}


# Recent files -----------------------------------------------------------------------------------


def recent_files(db: Db, period: Any, limit: int = 50) -> dict:
    f = db["files"]
    f = f[_during(f["created_at"], _span(period))]
    records = [
        pd.DataFrame({"entity_type": "deal", "entity_id": _live_deals(db)["deal_id"]}),
        pd.DataFrame({"entity_type": "contact", "entity_id": _not_deleted(db["contacts"])["id"]}),
        pd.DataFrame({"entity_type": "company", "entity_id": _not_deleted(db["companies"])["id"]}),
    ]
    f = f.merge(pd.concat(records, ignore_index=True), on=["entity_type", "entity_id"])
    newest = f.sort_values(["created_at", "file_id"], ascending=[False, True]).head(limit)
    return {
        "total": len(f),
        "total_size": int(f["size"].fillna(0).sum()),
        "listed": [str(i) for i in newest["file_id"]],
    }


def recent_files_engine(r: Any) -> dict:
    return {
        "total": r.total,
        "total_size": r.total_size,
        "listed": [str(i) for i in r.files.file_id],
    }


# System usage -----------------------------------------------------------------------------------


def _online_hours(pres: pd.DataFrame, span: tuple, now: pd.Timestamp) -> pd.Series:
    """Hours per user: the union of their sessions clipped to ``span``."""
    t0, t1 = span
    end = pres["ended_at"].fillna(now)
    keep = (pres["started_at"] < t1) & (end > t0)
    s = pd.DataFrame(
        {
            "user_id": pres.loc[keep, "user_id"],
            "a": pres.loc[keep, "started_at"].clip(lower=t0),
            "b": end[keep].clip(upper=t1),
        }
    )
    s = s[s["b"] > s["a"]].sort_values(["user_id", "a", "b"])
    # What each session adds: its part past the furthest end of the user's earlier sessions.
    reach = s.groupby("user_id")["b"].cummax().groupby(s["user_id"]).shift()
    start = s["a"].where(reach.isna() | (reach < s["a"]), reach)
    seconds = (s["b"] - start).dt.total_seconds().clip(lower=0)
    return seconds.groupby(s["user_id"]).sum() / 3600.0


def system_usage(db: Db, period: Any) -> dict:
    pres = db["presence"]
    if pres.empty:
        raise NotImplementedError("sessions derived from events (no presence records)")
    now = _ts(period.now_utc)
    cur = _online_hours(pres, _span(period), now)
    prev = _online_hours(pres, _span(period.previous()), now)
    return {
        "source": "presence",
        "hours": {_uid(u): float(h) for u, h in cur.items()},
        "previous_hours": {_uid(u): float(h) for u, h in prev.items()},
    }


def system_usage_engine(r: Any) -> dict:
    u = r.users
    return {
        "source": r.source,
        "hours": dict(zip(u.user_id.map(_uid), u.hours, strict=True)),
        "previous_hours": dict(zip(u.user_id.map(_uid), u.previous_hours, strict=True)),
    }


# Deals by manager, deals without tasks, latest deals ------------------------------------------


def deals_by_manager(db: Db, period: Any) -> dict:
    d = _deals_at_now(db, _ts(period.now_utc), OPEN_KINDS)
    per = d.groupby("responsible_user_id").agg(deals=("deal_id", "size"), budget=("price", "sum"))
    cap = db["users"].set_index("user_id")["deal_capacity"]
    capacity = per.index.map(cap).to_series(index=per.index).fillna(DEFAULT_CAPACITY)
    return {
        "managers": {
            _uid(u): {"deals": int(row["deals"]), "budget": float(row["budget"])}
            for u, row in per.iterrows()
        },
        "over": int((per["deals"] > capacity).sum()),
    }


def deals_by_manager_engine(r: Any) -> dict:
    m = r.managers
    return {
        "managers": {
            _uid(row.user_id): {"deals": row.deals, "budget": row.budget} for row in m.itertuples()
        },
        "over": r.over,
    }


def deals_without_tasks(db: Db, period: Any) -> dict:
    now = _ts(period.now_utc)
    d = _deals_at_now(db, now, OPEN_KINDS)
    t = db["tasks"]
    done = t["is_completed"].fillna(False).astype(bool) & (
        t["completed_at"].isna() | (t["completed_at"] <= now)
    )
    open_tasks = t[
        (t["entity_type"] == "deal") & t["entity_id"].notna() & (t["created_at"] <= now) & ~done
    ]
    bare = ~d["deal_id"].isin(open_tasks["entity_id"])
    d = d.assign(bare=bare, bare_budget=d["price"].where(bare, 0.0))
    per = d.groupby("responsible_user_id").agg(
        open_deals=("deal_id", "size"), without_tasks=("bare", "sum"), budget=("bare_budget", "sum")
    )
    return {
        "deals": int(per["without_tasks"].sum()),
        "budget": float(per["budget"].sum()),
        "open_deals": int(per["open_deals"].sum()),
        "by_user": {
            _uid(u): {k: row[k] for k in ("open_deals", "without_tasks", "budget")}
            for u, row in per.iterrows()
        },
    }


def deals_without_tasks_engine(r: Any) -> dict:
    cols = ["open_deals", "without_tasks", "budget"]
    return {
        "deals": r.deals,
        "budget": r.budget,
        "open_deals": r.open_deals,
        "by_user": {
            _uid(row["user_id"]): {c: row[c] for c in cols} for _, row in r.by_user.iterrows()
        },
    }


def latest_deals(db: Db, period: Any, n: int = 8) -> dict:
    d = _deals_at_now(db, _ts(period.now_utc), OPEN_KINDS)
    newest = d.sort_values(["created_at", "deal_id"], ascending=False).head(n)
    return {"deal_ids": [int(i) for i in newest["deal_id"]]}


def latest_deals_engine(r: Any) -> dict:
    return {"deal_ids": [int(i) for i in r.deals.deal_id]}


# Forecast ---------------------------------------------------------------------------------------


def forecast(db: Db, period: Any) -> dict:
    now = _ts(period.now_utc)
    open_ = _deals_at_now(db, now, OPEN_KINDS)
    per = open_.groupby(["pipeline_id", "stage_id"]).agg(
        deals=("deal_id", "size"), budget=("price", "sum")
    )
    # Closed deals' history: each open or unsorted stage they were in before now, once.
    m = db["deal_moves"]
    m = m[m["at"] < now]
    keys = ["deal_id", "pipeline_id", "stage_id"]
    visits = pd.concat(
        [
            m[["deal_id", f"{end}_pipeline_id", f"{end}_stage_id"]].set_axis(keys, axis=1)
            for end in ("from", "to")
        ]
    ).drop_duplicates()
    closed = _deals_at_now(db, now, CLOSED_KINDS)
    closed = closed.assign(won=closed["kind"] == "won")[["deal_id", "won"]]
    st = db["stages"]
    open_stages = st[st["kind"].isin(OPEN_KINDS)]
    v = visits.merge(closed, on="deal_id").merge(
        open_stages[["pipeline_id", "stage_id"]], on=["pipeline_id", "stage_id"]
    )
    by_stage = v.groupby(["pipeline_id", "stage_id"]).agg(
        sample=("won", "size"), won=("won", "sum")
    )
    p = v[["deal_id", "pipeline_id", "won"]].drop_duplicates()
    by_pipe = p.groupby("pipeline_id").agg(sample=("won", "size"), won=("won", "sum"))

    rows = open_stages.merge(db["pipelines"][["pipeline_id", "is_archived"]], on="pipeline_id")
    rows = rows.merge(per, on=["pipeline_id", "stage_id"], how="left")
    rows = rows.merge(by_stage, on=["pipeline_id", "stage_id"], how="left")
    rows[["deals", "budget", "sample", "won"]] = rows[["deals", "budget", "sample", "won"]].fillna(
        0
    )
    rows = rows[~rows["is_archived"].fillna(False).astype(bool) | (rows["deals"] > 0)]
    pipe_n = rows["pipeline_id"].map(by_pipe["sample"]).fillna(0)
    pipe_won = rows["pipeline_id"].map(by_pipe["won"]).fillna(0)
    own = rows["sample"] >= MIN_SAMPLE
    sample = rows["sample"].where(own, pipe_n)
    won = rows["won"].where(own, pipe_won)
    prob = (won / sample.where(sample > 0)).astype("float64")
    weighted = (rows["budget"] * prob).fillna(0.0)
    return {
        "deals": int(rows["deals"].sum()),
        "budget": float(rows["budget"].sum()),
        "weighted_budget": float(weighted.sum()),
        "probability": {
            f"{p}:{s}": float(x)
            for p, s, x in zip(rows["pipeline_id"], rows["stage_id"], prob, strict=True)
        },
    }


def forecast_engine(r: Any) -> dict:
    s = r.stages
    return {
        "deals": r.deals,
        "budget": r.budget,
        "weighted_budget": r.weighted_budget,
        "probability": {
            f"{p}:{st}": float(x)
            for p, st, x in zip(s["pipeline_id"], s["stage_id"], s["probability"], strict=True)
        },
    }


# Activity ---------------------------------------------------------------------------------------

ACTION_TYPES = (
    "calls_in",
    "calls_out",
    "messages_out",
    "tasks_completed",
    "stage_changes",
    "notes",
    "deals_created",
)


def activity(db: Db, period: Any) -> dict:
    cur, prev = _span(period), _span(period.previous())
    calls = _not_on_deleted(db, db["calls"])
    msgs = _not_on_deleted(db, db["messages"])
    tasks = _not_on_deleted(db, db["tasks"])
    notes = _not_on_deleted(db, db["notes"])
    live = _live_deals(db)
    moves = db["deal_moves"]
    moves = moves[moves["deal_id"].isin(live["deal_id"])]
    sources = {  # type -> (rows, author column, time column)
        "calls_in": (calls[calls["direction"] == "in"], "user_id", "created_at"),
        "calls_out": (calls[calls["direction"] == "out"], "user_id", "created_at"),
        "messages_out": (msgs[msgs["direction"] == "out"], "user_id", "created_at"),
        "tasks_completed": (tasks, "responsible_user_id", "completed_at"),
        "stage_changes": (moves, "by_user_id", "at"),
        "notes": (notes, "created_by", "created_at"),
        "deals_created": (live, "created_by", "created_at"),
    }
    counts: dict[str, int] = {}
    previous: dict[str, int] = {}
    for kind, (rows, who, when) in sources.items():
        human = rows[who].notna() & (rows[who] != ROBOT)
        now_rows = rows[human & _during(rows[when], cur)]
        for user, k in now_rows.groupby(who).size().items():
            counts[f"{_uid(user)}:{kind}"] = int(k)
        previous[kind] = int((human & _during(rows[when], prev)).sum())
    return {"counts": counts, "previous_by_type": previous}


def activity_engine(r: Any) -> dict:
    c = r.counts
    return {
        "counts": {
            f"{_uid(u)}:{k}": int(n) for u, k, n in zip(c.user_id, c.type, c["count"], strict=True)
        },
        "previous_by_type": dict(zip(r.by_type.type, r.by_type.previous, strict=True)),
    }


# Events -----------------------------------------------------------------------------------------


def events(db: Db, period: Any, limit: int = 200) -> dict:
    e = db["events"]
    e = e[_during(e["created_at"], _span(period))]
    on_deal = e["entity_type"] == "deal"
    seen = ~on_deal | e["entity_id"].isin(_live_deals(db)["deal_id"])
    e = e[seen]
    newest = e.sort_values(["created_at", "event_id"], ascending=False).head(limit)
    return {
        "total": len(e),
        "by_type": {str(k): int(n) for k, n in e.groupby("type").size().items()},
        "feed": [str(i) for i in newest["event_id"]],
    }


def events_engine(r: Any) -> dict:
    return {
        "total": r.total,
        "by_type": dict(zip(r.counts.type, r.counts["count"], strict=True)),
        "feed": [str(i) for i in r.feed.event_id],
    }


# Messages and response time ---------------------------------------------------------------------


def messages(db: Db, period: Any) -> dict:
    m = _not_on_deleted(db, db["messages"])
    owner = _live_deals(db).set_index("deal_id")["responsible_user_id"]
    out: dict[str, Any] = {"by_channel": {}}
    for label, span in (("", _span(period)), ("previous_", _span(period.previous()))):
        x = m[_during(m["created_at"], span)]
        outgoing = x[x["direction"] == "out"]
        incoming = x[(x["direction"] == "in") & (x["entity_type"] == "deal")]
        incoming = incoming[incoming["entity_id"].isin(owner.index)]
        out[f"{label}incoming"] = len(incoming)
        out[f"{label}outgoing"] = len(outgoing)
        for col, rows in (("incoming", incoming), ("outgoing", outgoing)):
            for ch, k in rows.groupby("channel").size().items():
                out["by_channel"][f"{ch}:{label}{col}"] = int(k)
    return out


def messages_engine(r: Any) -> dict:
    out: dict[str, Any] = {
        k: getattr(r, k) for k in ("incoming", "outgoing", "previous_incoming", "previous_outgoing")
    }
    cols = ["incoming", "outgoing", "previous_incoming", "previous_outgoing"]
    out["by_channel"] = {
        f"{row['channel']}:{c}": int(row[c]) for _, row in r.by_channel.iterrows() for c in cols
    }
    return out


def response_time(db: Db, period: Any) -> dict:
    now = _ts(period.now_utc)
    cur, prev = _span(period), _span(period.previous())
    m = db["messages"]
    bot = (m["direction"] == "out") & (m["user_id"] == ROBOT)
    m = _not_on_deleted(db, m[(m["created_at"] < now) & ~bot])
    active = m.loc[m["created_at"] >= prev[0], "talk_id"].unique()
    m = m[m["talk_id"].isin(active)]
    m = m.sort_values(["talk_id", "created_at", "direction", "message_id"])
    prev_dir = m.groupby("talk_id")["direction"].shift()
    starts = (m["direction"] == "in") & (prev_dir.isna() | (prev_dir == "out"))
    run = starts.astype("int64").groupby(m["talk_id"]).cumsum()
    m = m.assign(prev_dir=prev_dir, run=run)
    m["run_at"] = m.groupby(["talk_id", "run"])["created_at"].transform("min")

    replies = m[(m["direction"] == "out") & (m["prev_dir"] == "in")]
    wait = replies["created_at"].dt.floor("s") - replies["run_at"].dt.floor("s")
    replies = replies.assign(wait_s=wait.dt.total_seconds())
    out: dict[str, Any] = {}
    for label, span in (("", cur), ("previous_", prev)):
        w = replies.loc[_during(replies["created_at"], span), "wait_s"]
        out[f"{label}replies"] = len(w)
        out[f"{label}mean_s"] = float(w.mean()) if len(w) else math.nan
        out[f"{label}median_s"] = float(w.median()) if len(w) else math.nan

    runs = (
        m[m["run"] >= 1]
        .assign(is_out=m["direction"] == "out")
        .groupby(["talk_id", "run"])
        .agg(
            run_at=("created_at", "min"),
            outs=("is_out", "sum"),
            entity_type=("entity_type", "min"),
            entity_id=("entity_id", "min"),
        )
    )
    waiting = runs[
        (runs["outs"] == 0) & _during(runs["run_at"], cur) & (runs["entity_type"] == "deal")
    ]
    out["unanswered"] = int(waiting["entity_id"].isin(_live_deals(db)["deal_id"]).sum())
    return out


def response_time_engine(r: Any) -> dict:
    keys = ["replies", "mean_s", "median_s", "unanswered"]
    keys += ["previous_replies", "previous_mean_s", "previous_median_s"]
    return {k: getattr(r, k) for k in keys}


# Overdue tasks ----------------------------------------------------------------------------------

#: A completed task without a completion time counts as completed on time (long ago).
EPOCH = pd.Timestamp("1970-01-01")


def _deadlines(db: Db) -> pd.DataFrame:
    """Every deadline each task had: ``task_id, deadline, set_at, replaced_at``. The original
    deadline (the first change's ``old_deadline``, else the task's deadline; ``set_at`` NaT) is in
    force until the first change; each change's ``new_deadline`` from its ``at`` until the next
    change (``replaced_at`` NaT: still in force)."""
    t = db["tasks"]
    c = db["task_deadline_changes"].sort_values(["task_id", "at", "new_deadline"])
    first = c.drop_duplicates("task_id").set_index("task_id")
    original = pd.DataFrame(
        {
            "task_id": t["task_id"],
            "deadline": t["task_id"].map(first["old_deadline"]).fillna(t["deadline"]),
            "set_at": pd.NaT,
            "replaced_at": t["task_id"].map(first["at"]),
        }
    )
    changes = pd.DataFrame(
        {
            "task_id": c["task_id"],
            "deadline": c["new_deadline"],
            "set_at": c["at"],
            "replaced_at": c.groupby("task_id")["at"].shift(-1),
        }
    )
    return pd.concat([original, changes], ignore_index=True)


def overdue_tasks(db: Db, period: Any) -> dict:
    now = _ts(period.now_utc)
    t = _not_on_deleted(db, db["tasks"])
    t = t[t["created_at"] <= now]
    done = t["is_completed"].fillna(False).astype(bool)
    t = t.assign(done_at=t["completed_at"].where(t["completed_at"].notna() | ~done, EPOCH))
    t = t[["task_id", "responsible_user_id", "done_at"]]
    tl = _deadlines(db)
    tl = tl[tl["set_at"].isna() | (tl["set_at"] <= now)]  # changes made after now are unknown

    # Overdue now: not done at now and the deadline in force at now has passed.
    current = tl[tl["replaced_at"].isna() | (tl["replaced_at"] > now)]
    s = t.merge(current[["task_id", "deadline"]], on="task_id")
    done_now = s["done_at"].notna() & (s["done_at"] <= now)
    late = s[~done_now & (s["deadline"] < now)]

    # Missed: a deadline inside the period, already past, not moved away at or before it, the
    # task not done at or before it; once per (task, deadline).
    d = tl["deadline"]
    missed = tl[
        _during(d, _span(period)) & (d < now) & (tl["replaced_at"].isna() | (tl["replaced_at"] > d))
    ]
    missed = missed[["task_id", "deadline"]].drop_duplicates().merge(t, on="task_id")
    missed = missed[missed["done_at"].isna() | (missed["done_at"] > missed["deadline"])]

    per = pd.concat(
        [
            missed.groupby("responsible_user_id").agg(
                occurrences=("task_id", "size"), tasks=("task_id", "nunique")
            ),
            late.groupby("responsible_user_id").size().rename("overdue_now"),
        ],
        axis=1,
    ).fillna(0)
    return {
        "occurrences": len(missed),
        "overdue_now": len(late),
        "by_user": {
            _uid(u): {k: int(row[k]) for k in ("occurrences", "tasks", "overdue_now")}
            for u, row in per.iterrows()
        },
    }


def overdue_tasks_engine(r: Any) -> dict:
    cols = ["occurrences", "tasks", "overdue_now"]
    return {
        "occurrences": r.occurrences,
        "overdue_now": r.overdue_now,
        "by_user": {
            _uid(row["user_id"]): {c: row[c] for c in cols} for _, row in r.by_user.iterrows()
        },
    }


# Goals ------------------------------------------------------------------------------------------

CADENCE_MONTHS = {"month": 1, "quarter": 3, "year": 12}


def _cadence_spans(cadence: str, period: Any) -> dict[str, tuple[pd.Timestamp, pd.Timestamp]]:
    """Naive-UTC spans of the cadence period containing now (up to now) and the whole previous
    one, cut at local midnights in the account's time zone."""
    tz = period.timezone
    now = pd.Timestamp(period.now).tz_convert(tz)
    step = CADENCE_MONTHS[cadence]
    month = (now.month - 1) // step * step + 1
    start = pd.Timestamp(year=now.year, month=month, day=1, tz=tz)
    prev = start - pd.DateOffset(months=step)

    def utc(x: pd.Timestamp) -> pd.Timestamp:
        return x.tz_convert("UTC").tz_localize(None)

    return {"cur": (utc(start), utc(now)), "prev": (utc(prev), utc(start))}


def goals(db: Db, period: Any) -> dict:
    now = _ts(period.now_utc)
    g = db["goals"]
    g = g[g["valid_from"] <= now].sort_values(["valid_from", "goal_id"], ascending=False)
    g = g.drop_duplicates(["scope_kind", "scope_id", "measure", "cadence"])  # the latest of each

    # Wins of deals that are not deleted: moves into a won stage from a stage that is not won,
    # and creations in a won stage (the stage at creation: the first move's from, else current).
    live = _live_deals(db).set_index("deal_id")
    m = db["deal_moves"]
    into_won = _kind_of(db, m["to_pipeline_id"], m["to_stage_id"]) == "won"
    from_won = _kind_of(db, m["from_pipeline_id"], m["from_stage_id"]) == "won"
    moved = m.loc[into_won & ~from_won & m["deal_id"].isin(live.index), ["deal_id", "at"]]
    first = m.sort_values("at").drop_duplicates("deal_id").set_index("deal_id")
    born = live.join(first[["from_pipeline_id", "from_stage_id"]], how="left")
    p0 = born["from_pipeline_id"].fillna(born["pipeline_id"]).astype("int64")
    s0 = born["from_stage_id"].fillna(born["stage_id"]).astype("int64")
    made = born.loc[_kind_of(db, p0, s0) == "won", ["created_at"]]
    made = made.reset_index().rename(columns={"created_at": "at"})
    wins = pd.concat([moved, made], ignore_index=True)
    users = db["users"]

    out = {}
    for row in g.itertuples():
        if row.scope_kind == "user":
            members: pd.Series | None = pd.Series([row.scope_id])
        elif row.scope_kind == "group":
            members = users.loc[users["group_id"] == row.scope_id, "user_id"]
        else:
            members = None
        vals = {}
        for w, span in _cadence_spans(row.cadence, period).items():
            won = live.loc[wins.loc[_during(wins["at"], span), "deal_id"].unique()]
            if members is not None:
                won = won[won["responsible_user_id"].isin(members)]
            if row.measure == "won_count":
                vals[w] = float(len(won))
            else:
                vals[w] = float(won["price"].fillna(0.0).sum())
        target = float(row.target)
        out[str(row.goal_id)] = {
            "target": target,
            "achieved": vals["cur"],
            "percent": vals["cur"] / target if target else math.nan,
            "previous": vals["prev"],
            "previous_percent": vals["prev"] / target if target else math.nan,
        }
    return {"goals": out}


def goals_engine(r: Any) -> dict:
    cols = ["target", "achieved", "percent", "previous", "previous_percent"]
    return {
        "goals": {str(row["goal_id"]): {c: row[c] for c in cols} for _, row in r.goals.iterrows()}
    }


# Payment counters -------------------------------------------------------------------------------


def _payment_sets(db: Db) -> dict[str, tuple[str, pd.DataFrame]]:
    """The default counters from the stage names: name -> (mode, stages)."""
    st = db["stages"]
    names = st["name"].fillna("").str.casefold()

    def named(*patterns: tuple[str, ...]) -> pd.Series:
        return pd.concat(
            [names.map(lambda n, w=words: all(x in n for x in w)) for words in patterns], axis=1
        ).any(axis=1)

    open_ = st["kind"].isin(OPEN_KINDS)
    awaiting = open_ & named(("await", "pay"), ("ожида", "оплат"))
    paid = open_ & named(("paid",), ("оплачен",)) & ~awaiting & ~named(("unpaid",), ("не оплач",))
    sets = {"Awaiting payment": ("now", st[awaiting])} if awaiting.any() else {}
    sets["Paid"] = ("entered", st[paid | (st["kind"] == "won")])
    return sets


def _in_stages(p: pd.Series, s: pd.Series, stages: pd.DataFrame) -> pd.Series:
    hit = pd.Series(False, index=p.index)
    for pid, sids in stages.groupby("pipeline_id")["stage_id"]:
        hit |= (p == pid) & s.isin(sids)
    return hit


def payment_counters(db: Db, period: Any) -> dict:
    now = _ts(period.now_utc)
    span = _span(period)
    live = _live_deals(db)
    price = live.set_index("deal_id")["price"].fillna(0.0)
    m = db["deal_moves"]
    out = {}
    for name, (mode, stages) in _payment_sets(db).items():
        if mode == "now":
            d = live[live["created_at"] < now]
            p, s = _stage_at(db, d, now)
            ids = d.loc[_in_stages(p, s, stages), "deal_id"]
        else:
            mv = m[_during(m["at"], span)]
            into = _in_stages(mv["to_pipeline_id"], mv["to_stage_id"], stages)
            inside = _in_stages(mv["from_pipeline_id"], mv["from_stage_id"], stages)
            moved = mv.loc[into & ~inside, "deal_id"]
            # Created in the set: the deal's first stage (its first move's `from`, else its stage).
            made = live[_during(live["created_at"], span)]
            p, s = _stage_at(db, made, pd.Timestamp.min)
            ids = pd.concat([moved, made.loc[_in_stages(p, s, stages), "deal_id"]])
        ids = pd.Index(ids.unique()).intersection(price.index)
        out[name] = {"deals": len(ids), "budget": float(price.loc[ids].sum())}
    return {"counters": out}


def payment_counters_engine(r: Any) -> dict:
    c = r.counters
    return {
        "counters": {
            row["name"]: {"deals": row["deals"], "budget": row["budget"]} for _, row in c.iterrows()
        }
    }


# Comparison -------------------------------------------------------------------------------------

Impl = tuple[Callable[[Db, Any], dict], Callable[[Any], dict]]
WIDGETS: dict[str, Impl] = {
    "pipeline_flow": (pipeline_flow, pipeline_flow_engine),
    "lead_sources": (lead_sources, lead_sources_engine),
    "nps": (nps, nps_engine),
    "recent_files": (recent_files, recent_files_engine),
    "system_usage": (system_usage, system_usage_engine),
    "deals_by_manager": (deals_by_manager, deals_by_manager_engine),
    "deals_without_tasks": (deals_without_tasks, deals_without_tasks_engine),
    "latest_deals": (latest_deals, latest_deals_engine),
    "forecast": (forecast, forecast_engine),
    "activity": (activity, activity_engine),
    "events": (events, events_engine),
    "messages": (messages, messages_engine),
    "response_time": (response_time, response_time_engine),
    "overdue_tasks": (overdue_tasks, overdue_tasks_engine),
    "goals": (goals, goals_engine),
    "payment_counters": (payment_counters, payment_counters_engine),
}


def _is_zero(value: Any) -> bool:
    """Absent rows and all-zero rows are the same thing (a user with no deals)."""
    if value is None:
        return True
    if isinstance(value, dict):
        return all(_is_zero(v) for v in value.values())
    return isinstance(value, int | float | np.number) and not pd.isna(value) and value == 0


def _differences(a: Any, b: Any, where: str = "") -> list[str]:
    """Where the pandas value ``a`` and the engine's ``b`` differ (floats: rounding only)."""
    if isinstance(a, dict) or isinstance(b, dict):
        a, b = a or {}, b or {}
        if not isinstance(a, dict) or not isinstance(b, dict):
            return [f"{where}: {a!r} vs {b!r}"]
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += _differences(a.get(k), b.get(k), f"{where}.{k}" if where else str(k))
        return out
    if isinstance(a, list) or isinstance(b, list):
        if a == b:
            return []
        first = next(
            (i for i, (x, y) in enumerate(zip(a or [], b or [], strict=False)) if x != y),
            min(len(a or []), len(b or [])),
        )
        return [f"{where}: lists differ at {first} (lengths {len(a or [])}/{len(b or [])})"]
    if isinstance(a, str) or isinstance(b, str):
        return [] if a == b else [f"{where}: {a!r} vs {b!r}"]
    a = None if a is None else float(a)
    b = None if b is None else float(b)
    if a is None or b is None:
        return [] if _is_zero(a) and _is_zero(b) else [f"{where}: {a} vs {b}"]
    if math.isnan(a) and math.isnan(b):
        return []
    if math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6):
        return []
    return [f"{where}: pandas {a:g} vs engine {b:g}"]


# Run --------------------------------------------------------------------------------------------


def _frames_mb(db: Db) -> dict[str, float]:
    return {k: v.memory_usage(deep=True).sum() / 2**20 for k, v in db.items()}


def with_limit(desk: Any, seconds: float | None, fn: Callable[[], Any]) -> Any:
    """``fn()``, with the store's DuckDB query interrupted after ``seconds`` (None: no limit);
    raises ``TimeoutError`` when it was."""
    if seconds is None:
        return fn()
    import threading

    con = desk.store.backend.con
    timer = threading.Timer(seconds, con.interrupt)
    timer.start()
    start = time.perf_counter()
    try:
        return fn()
    except Exception as exc:
        if time.perf_counter() - start >= seconds:
            raise TimeoutError(f"engine interrupted after {seconds:.0f} s") from exc
        raise
    finally:
        timer.cancel()


def run(
    desk: Any, runs: int, periods: tuple[str, ...], engine_limit_s: float | None = None
) -> dict:
    """Load the tables once, time every implemented widget over ``runs`` filter changes
    (periods alternating as in the engine bench) and compare with the engine's numbers
    (each engine call interrupted after ``engine_limit_s``: the comparison is then unknown)."""
    from deskkit import widgets

    if desk.viewer.user_id is not None:
        raise ValueError("the pandas desktop computes for the unrestricted viewer only")
    start = time.perf_counter()
    db = load(desk.store)
    load_s = time.perf_counter() - start
    mb = _frames_mb(db)

    registered = [w for w in widgets.widgets() if w.id in WIDGETS]
    missing = [w.id for w in widgets.widgets() if w.id not in WIDGETS]
    per: dict[str, list[float]] = {w.id: [] for w in registered}
    ours: dict[tuple[str, str], dict] = {}
    totals = []
    for i in range(runs):
        name = periods[i % len(periods)]
        period = desk.period(name)
        total = 0.0
        for w in registered:
            t = time.perf_counter()
            ours[w.id, name] = WIDGETS[w.id][0](db, period)
            ms = (time.perf_counter() - t) * 1e3
            per[w.id].append(ms)
            total += ms
        totals.append(total)

    out: dict[str, Any] = {}
    for w in registered:
        diffs = []
        agrees: bool | None = True
        for name in periods[:runs]:
            f = widgets.Filters(period=name)
            try:
                result = with_limit(desk, engine_limit_s, lambda w=w, f=f: w.compute(desk, f))
            except TimeoutError as exc:
                agrees = None
                diffs.append(f"{name}: not compared, {exc}")
                continue
            found = _differences(ours[w.id, name], WIDGETS[w.id][1](result))
            agrees = agrees and not found
            diffs += [f"{name}: {d}" for d in found]
        out[w.id] = {
            "pandas_ms": statistics.median(per[w.id]),
            "pandas_max_ms": max(per[w.id]),
            "agrees": agrees,
            "diff": "; ".join(diffs[:5]) + (f" (+{len(diffs) - 5} more)" if len(diffs) > 5 else ""),
        }
    for wid in missing:
        out[wid] = {"pandas_ms": None, "agrees": None, "diff": "no pandas implementation"}
    return {
        "load_s": load_s,
        "frames_mb": sum(mb.values()),
        "frames_mb_by_table": {k: round(v, 1) for k, v in mb.items()},
        "rows": {k: len(v) for k, v in db.items()},
        "widgets": out,
        "desktop_ms": statistics.median(totals),
        "desktop_max_ms": max(totals),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
