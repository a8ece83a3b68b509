"""A plain-Python pipeline flow, written straight from design.md, as the oracle for the engine."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Deal:
    deal_id: int
    created: dt.datetime
    pipeline: int
    stage: int
    price: float
    owner: int
    deleted: bool
    moves: tuple[tuple[dt.datetime, int, int], ...]  # (at, to_pipeline, to_stage), increasing


def flow(
    deals: list[Deal],
    stages: list[tuple[int, int, str, int, str]],  # (pipeline, stage, name, sort, kind)
    pipeline: int,
    t0: dt.datetime,
    t1: dt.datetime,
    owners: set[int] | None,
) -> dict:
    line = sorted((s for s in stages if s[0] == pipeline), key=lambda s: (s[3], s[1]))
    open_ids = [s[1] for s in line if s[4] == "open"]
    n = len(open_ids)
    kinds = {s[1]: s[4] for s in line}

    def pos(p: int, s: int) -> int:
        if p != pipeline or s not in kinds:
            return -2
        special = {"unsorted": 0, "lost": -1, "won": n + 1}
        return special[kinds[s]] if kinds[s] in special else open_ids.index(s) + 1

    def state_at(deal: Deal, t: dt.datetime) -> tuple[int, int] | None:
        if deal.created >= t:
            return None
        state = (deal.pipeline, deal.stage)
        for at, p, s in deal.moves:
            if at < t:
                state = (p, s)
        return state

    end = [0] * (n + 2)
    budget = [0.0] * (n + 2)
    start = [0] * (n + 2)
    entries = [0] * (n + 2)
    net = [0] * (n + 2)  # net[k]: boundary k | k+1
    fwd = [0] * (n + 2)
    lost = [0] * (n + 2)
    new: set[int] = set()
    won: set[int] = set()
    lost_deals: set[int] = set()
    prices = {}
    for deal in deals:
        if deal.deleted or (owners is not None and deal.owner not in owners):
            continue
        prices[deal.deal_id] = deal.price
        s_end = state_at(deal, t1)
        if s_end is not None and 1 <= pos(*s_end) <= n:
            end[pos(*s_end)] += 1
            budget[pos(*s_end)] += deal.price
        s_start = state_at(deal, t0)
        if s_start is not None and 1 <= pos(*s_start) <= n:
            start[pos(*s_start)] += 1
        if t0 <= deal.created < t1:
            p0 = pos(deal.pipeline, deal.stage)
            if 1 <= p0 <= n:
                entries[p0] += 1
            if p0 >= 1:
                new.add(deal.deal_id)
            if p0 == n + 1:
                won.add(deal.deal_id)
            if p0 == -1:
                lost_deals.add(deal.deal_id)
        cur = (deal.pipeline, deal.stage)
        for at, p, s in deal.moves:
            a, b = pos(*cur), pos(p, s)
            cur = (p, s)
            if not t0 <= at < t1:
                continue
            if a >= 1 and b >= 1:
                for k in range(min(a, b), max(a, b)):
                    net[k] += 1 if a < b else -1
                    if a < b:
                        fwd[k] += 1
            if 1 <= b <= n and a != b:
                entries[b] += 1
            if 1 <= a <= n and b == -1:
                lost[a] += 1
            if b >= 1 and a in (0, -2):
                new.add(deal.deal_id)
            if b == n + 1 and a != n + 1:
                won.add(deal.deal_id)
            if b == -1 and a != -1:
                lost_deals.add(deal.deal_id)
    rows = []
    for k in range(1, n + 1):
        base = start[k] + entries[k]
        rows.append(
            dict(
                stage_id=open_ids[k - 1],
                deals=end[k],
                budget=budget[k],
                net_in=net[k - 1] if k > 1 else 0,
                lost=lost[k],
                conversion=fwd[k] / base if base else None,
            )
        )
    rows.append(
        dict(
            stage_id=142,
            deals=len(won),
            budget=sum(prices[d] for d in won),
            net_in=net[n],
            lost=0,
            conversion=None,
        )
    )
    return dict(
        rows=rows,
        new=len(new),
        won=len(won),
        won_budget=sum(prices[d] for d in won),
        lost_total=len(lost_deals),
        lost_budget=sum(prices[d] for d in lost_deals),
    )
