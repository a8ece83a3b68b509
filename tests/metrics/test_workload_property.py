"""Property test: forecast weights and deals by manager equal a plain-Python reference, written
straight from the rules, on random deal histories around "now"."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict

from accounts import STAGES, USERS, shared_store
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference_flow import Deal

from deskkit.filters import Period, Scope, Viewer
from deskkit.metrics._base import Context
from deskkit.metrics.forecast import forecast
from deskkit.metrics.workload import deals_by_manager

NOW = dt.datetime(2026, 4, 1, 12)
STAGE_CHOICES = [(p, s) for p, s, *_ in STAGES]
KINDS = {(p, s): kind for p, s, _, _, kind in STAGES}
OPEN, CLOSED = ("open", "unsorted"), ("won", "lost")
GROUPS = {u: g for u, _, g, _, _ in USERS}


@st.composite
def histories(draw):
    out = []
    for deal_id in range(1, draw(st.integers(0, 14)) + 1):
        # Created up to 30 days before now, sometimes exactly at now or just after it.
        created = NOW + dt.timedelta(hours=draw(st.sampled_from([-720, -200, -30, -1, 0, 2])))
        pipeline, stage = draw(st.sampled_from(STAGE_CHOICES))
        at, moves = created, []
        for _ in range(draw(st.integers(0, 5))):
            at = at + dt.timedelta(hours=draw(st.sampled_from([1, 6, 24, 72])))
            moves.append((at, *draw(st.sampled_from(STAGE_CHOICES))))
        out.append(
            Deal(
                deal_id,
                created,
                pipeline,
                stage,
                float(draw(st.sampled_from([0, 10, 250]))),
                draw(st.sampled_from([1, 2, 3])),
                draw(st.integers(0, 5)) == 0,
                tuple(moves),
            )
        )
    return out


def _load(con, items: list[Deal]) -> None:
    """Replace the deals and their moves (``from`` = the previous stage, as a CRM logs it)."""
    deals, moves = [], []
    for d in items:
        cur = (d.pipeline, d.stage)
        for at, p, s in d.moves:
            moves.append((d.deal_id, at, *cur, p, s, d.owner))
            cur = (p, s)
        deals.append((d.deal_id, f"D{d.deal_id}", *cur, d.price, d.owner, d.owner, d.created))
    raw = con.con
    raw.execute("DELETE FROM deals")
    raw.execute("DELETE FROM deal_moves")
    for d, deleted in zip(deals, (i.deleted for i in items), strict=True):
        raw.execute(
            "INSERT INTO deals VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, NULL, ?)",
            [*d, d[-1], deleted],
        )
    if moves:
        raw.executemany("INSERT INTO deal_moves VALUES (?, ?, ?, ?, ?, ?, ?)", moves)


def state_at(d: Deal, t: dt.datetime) -> tuple[int, int] | None:
    if d.created >= t:
        return None
    state = (d.pipeline, d.stage)
    for at, p, s in d.moves:
        if at < t:
            state = (p, s)
    return state


def reference(deals: list[Deal], scope: set[int] | None, rights: set[int] | None, k: int):
    """Per open stage: (deals, budget, sample, won, probability, basis); per owner: deals,
    budget and weighted budget."""
    visible = [d for d in deals if not d.deleted and (rights is None or d.owner in rights)]
    stage_n, stage_w, pipe_n, pipe_w = Counter(), Counter(), Counter(), Counter()
    for d in visible:
        now = state_at(d, NOW)
        if now is None or KINDS.get(now) not in CLOSED:
            continue
        won = KINDS[now] == "won"
        cur, seen = (d.pipeline, d.stage), set()
        for at, p, s in d.moves:
            if at < NOW:
                seen |= {cur, (p, s)}
            cur = (p, s)
        seen = {v for v in seen if KINDS.get(v) in OPEN}
        for v in seen:
            stage_n[v] += 1
            stage_w[v] += won
        for p in {v[0] for v in seen}:
            pipe_n[p] += 1
            pipe_w[p] += won
    stages = {}
    for key, kind in KINDS.items():
        if kind not in OPEN:
            continue
        if stage_n[key] >= k:
            prob, basis = stage_w[key] / stage_n[key], "stage"
        elif pipe_n[key[0]]:
            prob, basis = pipe_w[key[0]] / pipe_n[key[0]], "pipeline"
        else:
            prob, basis = math.nan, "none"
        stages[key] = [0, 0.0, stage_n[key], stage_w[key], prob, basis]
    owners: dict[int, list] = defaultdict(lambda: [0, 0.0, 0.0])
    for d in visible:
        now = state_at(d, NOW)
        if (scope is not None and d.owner not in scope) or KINDS.get(now) not in OPEN:
            continue
        row, prob = stages[now], stages[now][4]
        row[0] += 1
        row[1] += d.price
        owners[d.owner][0] += 1
        owners[d.owner][1] += d.price
        owners[d.owner][2] += 0.0 if math.isnan(prob) else d.price * prob
    return stages, dict(owners)


def close(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, abs_tol=1e-9)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=histories(),
    scope=st.sampled_from([Scope(), Scope(user=2), Scope(department=1)]),
    viewer=st.sampled_from([None, 1, 2]),
    k=st.sampled_from([1, 2, 3, 20]),
)
def test_forecast_and_managers_match_reference(items, scope, viewer, k):
    con, store = shared_store(__name__)
    _load(con, items)
    store.forget()  # the tables changed under the store: its remembered win rates are stale
    period = Period.preset("month", now=NOW.replace(tzinfo=dt.UTC))
    ctx = Context(store, period, scope, Viewer(viewer))
    in_scope = {2} if scope.user == 2 else {1, 2} if scope.department == 1 else None
    # Viewer 1 has "own" rights, viewer 2 "group" rights (North: users 1 and 2).
    rights = {None: None, 1: {1}, 2: {1, 2}}[viewer]
    stages, owners = reference(items, in_scope, rights, k)

    got = forecast(ctx, min_sample=k)
    for r in got.stages.itertuples():
        want = stages[(r.pipeline_id, r.stage_id)]
        assert [r.deals, r.sample, r.won, r.basis] == [want[0], want[2], want[3], want[5]]
        assert close(r.budget, want[1]) and close(r.probability, want[4])
    assert len(got.stages) == len(stages)
    by_user = {u.user_id: [u.deals, u.budget, u.weighted_budget] for u in got.by_user.itertuples()}
    assert by_user.keys() == owners.keys()
    for uid, want in owners.items():
        assert by_user[uid][0] == want[0]
        assert close(by_user[uid][1], want[1]) and close(by_user[uid][2], want[2])

    allowed = in_scope if rights is None else rights if in_scope is None else in_scope & rights
    managers = deals_by_manager(ctx).managers.set_index("user_id")
    everyone = set(GROUPS) if allowed is None else allowed
    assert set(managers.index) == everyone
    for uid in everyone:
        want = owners.get(uid, [0, 0.0])
        assert managers.at[uid, "deals"] == want[0] and close(managers.at[uid, "budget"], want[1])
