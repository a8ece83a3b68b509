"""Deal life cycles, simulated for a chunk of deals at once (arrays of state, a loop over steps)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deskkit.connectors.demo.clock import DAY, HOUR, Clock
from deskkit.connectors.demo.company import Company

__all__ = ["DEAL_ID_BASE", "NO_TIME", "DealChunk", "simulate_deals"]

DEAL_ID_BASE = 20_000_000
#: Sentinel for a null instant in the int64-seconds arrays.
NO_TIME = -1
MAX_STEPS = 40  # a deal bouncing back and forth forever is cut here (it stays where it is)
ROBOT_MOVE_SHARE = 0.07

# Actions a step may take.
FWD, SKIP, BACK, LOSE, WIN, TRANSFER, STALL = range(7)


@dataclass
class DealChunk:
    """The deals of one chunk and their stage moves (``m_*``, ordered by deal, then time)."""

    gidx: np.ndarray  # global deal index
    deal_id: np.ndarray
    created: np.ndarray
    pipe0: np.ndarray  # creation pipeline (index into company.pipeline_ids)
    pos0: np.ndarray  # creation stage position
    pipe: np.ndarray  # current pipeline index
    pos: np.ndarray  # current stage position
    kind: np.ndarray  # current stage kind code (0 unsorted, 1 open, 2 won, 3 lost)
    closed: np.ndarray  # time of the closing move, NO_TIME when open
    last_move: np.ndarray  # time of the last move, or created
    resp0: np.ndarray  # responsible user index at creation
    resp1: np.ndarray  # responsible user index after t_reassign
    t_reassign: np.ndarray  # time of the responsible change, NO_TIME if none
    created_by: np.ndarray  # user id, 0 = robot
    source_id: np.ndarray
    price: np.ndarray
    loss_reason_id: np.ndarray  # -1 = null
    m_deal: np.ndarray  # local deal index of each move
    m_seq: np.ndarray  # 0-based number of the move within its deal
    m_at: np.ndarray
    m_from_pipe: np.ndarray
    m_from_pos: np.ndarray
    m_to_pipe: np.ndarray
    m_to_pos: np.ndarray
    m_by: np.ndarray  # user id, 0 = robot

    def __len__(self) -> int:
        return len(self.gidx)

    end: int  # end of the generated range

    @property
    def life_end(self) -> np.ndarray:
        """Until when the deal is worked on: its close, or the end of the range."""
        return np.where(self.closed >= 0, self.closed, self.end)

    def owner_at(self, local: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Responsible user index of deals ``local`` at instants ``t``."""
        tr = self.t_reassign[local]
        return np.where((tr >= 0) & (t >= tr), self.resp1[local], self.resp0[local])


def _pick(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``probs`` (rows need not be normalised)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cum[:, -1]
    return np.minimum((cum < u[:, None]).sum(axis=1), probs.shape[1] - 1)


def _assign_users(
    co: Company, clock: Clock, rng: np.random.Generator, created: np.ndarray
) -> np.ndarray:
    """Responsible user index per deal, by workload; a former user only before leaving."""
    users = rng.choice(len(co.user_ids), size=len(created), p=co.user_workload)
    left_at = clock.end - co.user_left_days * DAY
    gone = ~co.user_active[users] & (created > left_at[users] - 20 * DAY)
    if gone.any():
        active_w = np.where(co.user_active, co.user_workload, 0.0)
        users[gone] = rng.choice(
            len(co.user_ids), size=int(gone.sum()), p=active_w / active_w.sum()
        )
    return users


def _step_probs(
    co: Company, pipe: np.ndarray, pos: np.ndarray, kind: np.ndarray, skill: np.ndarray
) -> np.ndarray:
    """Unnormalised probabilities of each action for deals in (pipe, pos)."""
    n_open = co.n_open[pipe]
    sk = skill / 0.5  # >1 for a better than average manager
    unsorted = kind == 0
    last = (kind == 1) & (pos == n_open)
    probs = np.zeros((len(pipe), 7))
    probs[:, FWD] = np.where(unsorted, 0.66, np.where(last, 0.0, 0.55))
    probs[:, SKIP] = np.where(unsorted, 0.06, np.where(pos + 2 <= n_open, 0.07, 0.0))
    probs[:, BACK] = np.where(unsorted, 0.0, np.where(pos > 1, 0.07, 0.0))
    probs[:, LOSE] = np.where(unsorted, 0.18, (0.13 + 0.01 * pos) / sk)
    probs[:, WIN] = np.where(unsorted, 0.0, np.where(last, 0.62 * sk, 0.02 * sk))
    probs[:, TRANSFER] = np.where(unsorted, 0.025, 0.015)
    probs[:, STALL] = np.where(unsorted, 0.03, 0.025)
    return probs


def _run_steps(
    co: Company, clock: Clock, rng: np.random.Generator, dc: DealChunk, skill: np.ndarray
) -> list[tuple[np.ndarray, ...]]:
    """Advance every deal step by step until it closes, stalls or runs out of time."""
    n_pipes = len(co.pipeline_ids)
    t = dc.created.copy()
    active = np.arange(len(dc))
    rec: list[tuple[np.ndarray, ...]] = []
    for step in range(MAX_STEPS):
        if active.size == 0:
            break
        a = active
        p, s = dc.pipe[a], dc.pos[a]
        kind = co.kind_of(s, p)
        closed = kind >= 2
        # A closed deal is reopened only rarely; otherwise it leaves the simulation.
        reopen = closed & (rng.random(a.size) < 0.015)
        keep = ~closed | reopen
        a, p, s, kind, reopen = a[keep], p[keep], s[keep], kind[keep], reopen[keep]
        act = _pick(rng, _step_probs(co, p, s, kind, skill[a]))
        # Hours from the unsorted stage, days between open stages, weeks before a reopen.
        median = np.where(kind == 0, 3 * HOUR, 40 * HOUR)
        median = np.where(reopen, 20 * DAY, median)
        gap = np.exp(rng.normal(0.0, 1.1, a.size)) * median
        nxt = clock.nudge(t[a] + np.maximum(gap, 60).astype(np.int64), rng, 0.85)
        go = (act != STALL) & (nxt <= clock.end)
        a, p, s, act, reopen, nxt = a[go], p[go], s[go], act[go], reopen[go], nxt[go]
        n_open = co.n_open[p]
        new_p = p.copy()
        jump = rng.integers(2, 4, a.size)
        new_s = np.select(
            [act == FWD, act == SKIP, act == BACK, act == LOSE, act == WIN],
            [s + 1, np.minimum(s + jump, n_open), s - 1, co.lost_pos[p], co.won_pos[p]],
            s,
        )
        # Wins from an earlier stage than the last are "skipping" wins; that is intended.
        tr = act == TRANSFER
        if tr.any():
            other = (p[tr] + rng.integers(1, n_pipes, int(tr.sum()))) % n_pipes
            new_p[tr] = other
            new_s[tr] = rng.choice(3, size=int(tr.sum()), p=[0.4, 0.45, 0.15])
        if reopen.any():
            k = int(reopen.sum())
            new_s[reopen] = 1 + (rng.random(k) * co.n_open[p[reopen]]).astype(np.int64)
            new_p[reopen] = p[reopen]
        rec.append((a, np.full(a.size, step), nxt, p, s, new_p, new_s))
        dc.pipe[a], dc.pos[a], t[a] = new_p, new_s, nxt
        active = a
    return rec


def simulate_deals(
    co: Company,
    clock: Clock,
    rng: np.random.Generator,
    gidx: np.ndarray,
    n_total: int,
    growth: float,
) -> DealChunk:
    """Simulate the deals with global indices ``gidx`` out of ``n_total``."""
    n = gidx.size
    # Stratified quantiles make creation time increase with the deal id, across chunks too.
    created = clock.creation_times((gidx + rng.random(n)) / n_total, growth)
    pipe0 = rng.choice(len(co.pipeline_ids), size=n, p=co.pipeline_share)
    start = rng.choice(3, size=n, p=[0.5, 0.4, 0.1])  # unsorted, first open, a middle stage
    middle = 2 + (rng.random(n) * (co.n_open[pipe0] - 1)).astype(np.int64)
    pos0 = np.where(start == 0, 0, np.where(start == 1, 1, middle))
    resp0 = _assign_users(co, clock, rng, created)
    src_p = np.where((pos0 == 0)[:, None], co.source_p_unsorted, co.source_p_other)
    source = _pick(rng, src_p)
    robot = co.source_robot[source] & (pos0 == 0) & (rng.random(n) < 0.9)
    price = np.exp(rng.normal(np.log(co.price_median[pipe0]), co.price_sigma[pipe0]))
    price = np.where(rng.random(n) < 0.02, 0.0, np.round(price, -2))
    empty = np.full(n, NO_TIME, dtype=np.int64)
    dc = DealChunk(
        gidx=gidx,
        deal_id=DEAL_ID_BASE + gidx,
        created=created,
        pipe0=pipe0,
        pos0=pos0,
        pipe=pipe0.copy(),
        pos=pos0.copy(),
        kind=np.zeros(n, dtype=np.int64),
        closed=empty.copy(),
        last_move=created.copy(),
        resp0=resp0,
        resp1=resp0.copy(),
        t_reassign=empty.copy(),
        created_by=np.where(robot, 0, co.user_ids[resp0]),
        source_id=co.source_ids[source],
        price=price,
        loss_reason_id=np.full(n, -1, dtype=np.int64),
        end=clock.end,
        **{f"m_{k}": np.zeros(0, dtype=np.int64) for k in _MOVE_FIELDS},
    )
    rec = _run_steps(co, clock, rng, dc, co.user_skill[resp0])
    if rec:
        cols = [np.concatenate(c) for c in zip(*rec, strict=True)]
    else:
        cols = [np.zeros(0, np.int64)] * 7
    order = np.lexsort((cols[1], cols[0]))  # by deal, then step: the moves of a deal in order
    m_deal, _step, m_at, m_fp, m_fs, m_tp, m_ts = (c[order] for c in cols)
    first = np.r_[True, m_deal[1:] != m_deal[:-1]] if m_deal.size else np.zeros(0, bool)
    starts = np.flatnonzero(first)
    counts = np.diff(np.r_[starts, m_deal.size])
    dc.m_deal, dc.m_at = m_deal, m_at
    dc.m_seq = np.arange(m_deal.size) - np.repeat(starts, counts)
    dc.m_from_pipe, dc.m_from_pos, dc.m_to_pipe, dc.m_to_pos = m_fp, m_fs, m_tp, m_ts
    _finish(co, clock, rng, dc, starts, counts)
    return dc


_MOVE_FIELDS = ("deal", "seq", "at", "from_pipe", "from_pos", "to_pipe", "to_pos", "by")


def _finish(
    co: Company,
    clock: Clock,
    rng: np.random.Generator,
    dc: DealChunk,
    starts: np.ndarray,
    counts: np.ndarray,
) -> None:
    """Derive closing, loss reasons, responsible changes and move authors from the moves."""
    n = len(dc)
    lasts = starts + counts - 1
    moved = dc.m_deal[lasts]
    dc.last_move[moved] = dc.m_at[lasts]
    dc.kind = co.kind_of(dc.pos, dc.pipe)
    closed = dc.kind >= 2
    dc.closed = np.where(closed, dc.last_move, NO_TIME)
    lost = dc.kind == 3
    last_from = np.zeros(n, dtype=np.int64) - 1
    last_from[moved] = dc.m_from_pos[lasts]
    reason = co.loss_ids[rng.choice(len(co.loss_ids), size=n, p=co.loss_p)]
    spam = (last_from == 0) & (rng.random(n) < 0.7)  # rejected straight from incoming leads
    dc.loss_reason_id = np.where(lost, np.where(spam, co.spam_loss_id, reason), -1)

    # A former manager's unfinished deals go to a colleague when they leave; a few other
    # deals change hands at a random moment of their life.
    left_at = clock.end - co.user_left_days * DAY
    gone = ~co.user_active[dc.resp0]
    unfinished = gone & (~closed | (dc.closed > left_at[dc.resp0]))
    random_change = ~gone & (rng.random(n) < 0.03)
    pool = np.flatnonzero(co.user_active)
    w = co.user_workload[pool]
    k = rng.choice(pool.size, size=n, p=w / w.sum())
    # Never "change" to the same person: take the next active colleague instead.
    k = np.where(pool[k] == dc.resp0, (k + 1) % pool.size, k)
    other = pool[k]
    span = np.maximum(dc.life_end - dc.created, 1)
    t_random = dc.created + 1 + (rng.random(n) * span).astype(np.int64)
    t_gone = left_at[dc.resp0] + (rng.random(n) * 48 * HOUR).astype(np.int64)
    t_gone = np.maximum(t_gone, dc.created + 1)
    dc.t_reassign = np.select([unfinished, random_change], [t_gone, t_random], NO_TIME)
    dc.t_reassign = np.where(dc.t_reassign > clock.end, NO_TIME, dc.t_reassign)
    dc.resp1 = np.where(dc.t_reassign >= 0, other, dc.resp0)

    owner = dc.owner_at(dc.m_deal, dc.m_at)
    robot = rng.random(dc.m_deal.size) < ROBOT_MOVE_SHARE
    dc.m_by = np.where(robot, 0, co.user_ids[owner])
