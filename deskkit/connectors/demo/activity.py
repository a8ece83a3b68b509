"""Work on deals: tasks (with reschedules), chat messages, calls, notes and files.

Every function takes a chunk's deals and returns numpy columns (``dict[str, np.ndarray]``);
``generate`` turns them into store tables and ``events`` into the event feed. Child ids come from
fixed per-deal slots, so they are unique across chunks and independent of the chunk size.
"""

from __future__ import annotations

import numpy as np

from deskkit.connectors.demo.clock import DAY, HOUR, MINUTE, Clock
from deskkit.connectors.demo.company import Company
from deskkit.connectors.demo.deals import NO_TIME, DealChunk

__all__ = ["calls", "files", "messages", "notes", "slots", "tasks"]

Cols = dict[str, np.ndarray]

TASK_ID_BASE = 100_000_000  # 4 slots per deal
CALL_ID_BASE = 200_000_000  # 4 slots per deal
NOTE_ID_BASE = 300_000_000  # 3 slots per deal
TALK_ID_BASE = 400_000_000  # 1 talk per deal


def slots(rng: np.random.Generator, n: int, probs: list[float]) -> tuple[np.ndarray, ...]:
    """Rows for ``0..len(probs)-1`` items per deal: (deal index, item number, items of deal)."""
    count = rng.choice(len(probs), size=n, p=probs)
    deal = np.repeat(np.arange(n), count)
    k = np.arange(deal.size) - np.repeat(np.cumsum(count) - count, count)
    return deal, k, count[deal]


def _spread(
    clock: Clock,
    rng: np.random.Generator,
    dc: DealChunk,
    deal: np.ndarray,
    k: np.ndarray,
    per: np.ndarray,
) -> np.ndarray:
    """Instants stratified over each deal's working life (so item k < k+1), in business hours."""
    c, life = dc.created[deal], dc.life_end[deal]
    t = c + 60 + ((k + rng.random(deal.size)) / per * np.maximum(life - c - 60, 0)).astype(np.int64)
    return clock.nudge(t, rng, 0.9)


def tasks(co: Company, clock: Clock, rng: np.random.Generator, dc: DealChunk) -> tuple[Cols, Cols]:
    """Tasks (1–4 per deal) and their deadline changes."""
    deal, k, per = slots(rng, len(dc), [0.0, 0.35, 0.3, 0.2, 0.15])
    n = deal.size
    created = _spread(clock, rng, dc, deal, k, per)
    open_deal = dc.kind[deal] <= 1
    last = k == per - 1
    # ~70% of open deals keep an open task, created recently; the rest have none.
    stays_open = (open_deal & last & (rng.random(n) < 0.7)) | (~open_deal & (rng.random(n) < 0.02))
    recent = clock.end - (rng.exponential(4 * DAY, n)).astype(np.int64)
    created = np.where(open_deal & last & stays_open, np.maximum(created, recent), created)
    created = np.minimum(created, clock.end)
    d0 = created + np.clip(np.exp(rng.normal(np.log(20 * HOUR), 1.0, n)), HOUR, 14 * DAY).astype(
        np.int64
    )
    # Reschedules: ~20% of tasks, one or two changes; each may come after the old deadline.
    n_chg = np.where(rng.random(n) < 0.2, rng.choice([1, 2], size=n, p=[0.75, 0.25]), 0)
    at1 = created + 60 + (rng.random(n) * 1.3 * (d0 - created)).astype(np.int64)
    d1 = np.maximum(at1, d0) + (np.exp(rng.normal(np.log(2 * DAY), 0.8, n))).astype(np.int64)
    at2 = at1 + 60 + (rng.random(n) * 1.2 * (d1 - at1)).astype(np.int64)
    d2 = np.maximum(at2, d1) + (np.exp(rng.normal(np.log(2 * DAY), 0.8, n))).astype(np.int64)
    n_chg = np.where(at1 > clock.end, 0, np.where(at2 > clock.end, np.minimum(n_chg, 1), n_chg))
    deadline = np.select([n_chg == 2, n_chg == 1], [d2, d1], d0)
    last_change = np.select([n_chg == 2, n_chg == 1], [at2, at1], created)
    # Done before the deadline mostly; a quarter late (overdue, then completed).
    late = rng.random(n) < 0.28
    early = created + (rng.random(n) * (deadline - created)).astype(np.int64)
    overdue = deadline + np.exp(rng.normal(np.log(6 * HOUR), 1.2, n)).astype(np.int64)
    done_at = np.maximum(np.where(late, overdue, early), last_change + 60)
    done = ~stays_open & (done_at <= clock.end)
    type_idx = rng.choice(len(co.task_types), size=n, p=co.task_type_p)
    text_idx = rng.integers(0, 3, n)
    owner = dc.owner_at(deal, created)
    task_id = TASK_ID_BASE + dc.gidx[deal] * 4 + k
    robot = rng.random(n) < 0.1
    task = {
        "deal": deal,
        "task_id": task_id,
        "responsible": co.user_ids[owner],
        "created_by": np.where(robot, 0, co.user_ids[owner]),
        "type_idx": type_idx,
        "text_idx": type_idx * 3 + text_idx,
        "created_at": created,
        "deadline": deadline,
        "is_completed": done,
        "completed_at": np.where(done, done_at, NO_TIME),
    }
    # One row per change: first changes then second changes, ordered by task and time later.
    c1 = np.flatnonzero(n_chg >= 1)
    c2 = np.flatnonzero(n_chg >= 2)
    rows = np.r_[c1, c2]
    change = {
        "deal": deal[rows],
        "task_id": task_id[rows],
        "seq": np.r_[np.zeros(c1.size, np.int64), np.ones(c2.size, np.int64)],
        "at": np.r_[at1[c1], at2[c2]],
        "old_deadline": np.r_[d0[c1], d1[c2]],
        "new_deadline": np.r_[d1[c1], d2[c2]],
        "by": co.user_ids[owner[rows]],
    }
    return task, change


def messages(co: Company, clock: Clock, rng: np.random.Generator, dc: DealChunk) -> Cols:
    """Chat talks on ~half of the deals: runs of incoming messages answered by the manager."""
    talk_deals = np.flatnonzero(rng.random(len(dc)) < 0.5)
    n_talk = talk_deals.size
    n_runs = np.minimum(1 + rng.poisson(2.0, n_talk), 8)
    unanswered = rng.random(n_talk) < 0.1
    run_talk = np.repeat(np.arange(n_talk), n_runs)
    run_k = np.arange(run_talk.size) - np.repeat(np.cumsum(n_runs) - n_runs, n_runs)
    n_in = rng.choice([1, 2, 3], size=run_talk.size, p=[0.55, 0.3, 0.15])
    n_out = rng.choice([1, 2], size=run_talk.size, p=[0.75, 0.25])
    last_run = run_k == n_runs[run_talk] - 1
    n_out = np.where(last_run & unanswered[run_talk], 0, n_out)
    per_run = n_in + n_out
    msg_run = np.repeat(np.arange(run_talk.size), per_run)
    j = np.arange(msg_run.size) - np.repeat(np.cumsum(per_run) - per_run, per_run)
    incoming = j < n_in[msg_run]
    first_in = j == 0
    first_out = j == n_in[msg_run]
    m = msg_run.size
    # Gaps between consecutive messages of a talk; summed per talk below.
    small = (rng.random(m) * 9 * MINUTE + 20).astype(np.int64)
    reply = np.exp(rng.normal(np.log(15 * MINUTE), 1.6, m)).astype(np.int64) + 30
    next_run = np.exp(rng.normal(np.log(20 * HOUR), 1.3, m)).astype(np.int64)
    talk_of = run_talk[msg_run]
    deal = talk_deals[talk_of]
    start = dc.created[deal] + 60 + np.exp(rng.normal(np.log(2 * HOUR), 1.2, m)).astype(np.int64)
    start = clock.nudge(start, rng, 0.6)
    gap = np.where(first_in, next_run, np.where(first_out, reply, small))
    first_of_talk = first_in & (run_k[msg_run] == 0)
    gap = np.where(first_of_talk, 0, gap)

    def times(g: np.ndarray) -> np.ndarray:
        cs = np.cumsum(g)
        base = np.maximum.accumulate(np.where(first_of_talk, cs, 0))
        return start[np.flatnonzero(first_of_talk)][talk_of] + cs - base

    # Clients mostly write in the daytime too: new runs move into business hours (pass 1);
    # replies to messages sent outside business hours wait for the next working morning
    # (pass 2). Each pass only lengthens gaps, so times stay ordered within a talk.
    t = times(gap)
    prev = np.r_[t[:1], t[:-1]]
    run_start = first_in & ~first_of_talk
    gap = np.where(run_start, clock.nudge(prev + next_run, rng, 0.75) - prev, gap)
    t = times(gap)
    prev = np.r_[t[:1], t[:-1]]
    waited = clock.nudge(prev + reply, rng, 0.85) - prev
    t = times(np.where(first_out, np.maximum(waited, reply), gap))
    keep = t <= clock.end
    seq = np.arange(m) - np.repeat(
        np.flatnonzero(first_of_talk), np.bincount(talk_of, minlength=n_talk)
    )
    owner = dc.owner_at(deal, t)
    channel = rng.choice(len(co.channels), size=n_talk, p=co.channel_p)
    return {
        "deal": deal[keep],
        "talk_id": TALK_ID_BASE + dc.gidx[deal[keep]],
        "seq": seq[keep],
        "incoming": incoming[keep],
        "channel_idx": channel[talk_of[keep]],
        "created_at": t[keep],
        "user_id": np.where(incoming, -1, co.user_ids[owner])[keep],
    }


def calls(co: Company, clock: Clock, rng: np.random.Generator, dc: DealChunk) -> Cols:
    """Phone calls (0–4 per deal); missed calls last 0 s."""
    deal, k, per = slots(rng, len(dc), [0.3, 0.3, 0.2, 0.12, 0.08])
    n = deal.size
    at = np.minimum(_spread(clock, rng, dc, deal, k, per), clock.end)
    incoming = rng.random(n) < 0.4
    missed = rng.random(n) < np.where(incoming, 0.15, 0.3)
    talk = np.clip(np.exp(rng.normal(np.log(150), 0.9, n)), 5, 1200).astype(np.int64)
    return {
        "deal": deal,
        "call_id": CALL_ID_BASE + dc.gidx[deal] * 4 + k,
        "incoming": incoming,
        "user_id": co.user_ids[dc.owner_at(deal, at)],
        "created_at": at,
        "duration_s": np.where(missed, 0, talk),
    }


def notes(co: Company, clock: Clock, rng: np.random.Generator, dc: DealChunk) -> Cols:
    """Common notes (0–3 per deal) from templates naming products, quantities and prices."""
    deal, k, per = slots(rng, len(dc), [0.35, 0.35, 0.2, 0.1])
    n = deal.size
    at = np.minimum(_spread(clock, rng, dc, deal, k, per), clock.end)
    templates = co.raw["note_templates"]
    products = co.raw["products"]
    tpl = rng.integers(0, len(templates), n)
    prod = rng.integers(0, len(products), n)
    qty = rng.integers(2, 120, n)
    disc = rng.choice([3, 5, 7, 10, 15], size=n)
    price = dc.price[deal].astype(np.int64)
    # str.format per note: ~1 µs each, small next to the rest of a chunk.
    text = np.array(
        [
            templates[a].format(
                product=products[b], qty=c, price=f"{d:,}".replace(",", " "), discount=e
            )
            for a, b, c, d, e in zip(
                tpl.tolist(),
                prod.tolist(),
                qty.tolist(),
                price.tolist(),
                disc.tolist(),
                strict=True,
            )
        ],
        dtype=object,
    )
    return {
        "deal": deal,
        "note_id": NOTE_ID_BASE + dc.gidx[deal] * 3 + k,
        "text": text,
        "created_by": co.user_ids[dc.owner_at(deal, at)],
        "created_at": at,
    }


def files(co: Company, clock: Clock, rng: np.random.Generator, dc: DealChunk) -> Cols:
    """Attachments on ~10% of deals (1–2 each): contracts, invoices, proposals…"""
    deal, k, per = slots(rng, len(dc), [0.9, 0.07, 0.03])
    n = deal.size
    at = np.minimum(_spread(clock, rng, dc, deal, k, per), clock.end)
    kinds = co.raw["file_kinds"]
    kind = rng.integers(0, len(kinds), n)
    median = np.array([f["size_median"] for f in kinds], dtype=np.float64)[kind]
    return {
        "deal": deal,
        "k": k,
        "kind": kind,
        "size": np.exp(rng.normal(np.log(median), 0.6)).astype(np.int64) + 1024,
        "created_by": co.user_ids[dc.owner_at(deal, at)],
        "created_at": at,
    }
