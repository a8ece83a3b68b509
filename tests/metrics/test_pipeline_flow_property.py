"""Property test: the engine's pipeline flow equals the plain-Python reference on random logs."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
from accounts import STAGES, kept_and_inline, shared_store
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference_flow import Deal, flow

from deskkit.filters import Period, Scope
from deskkit.metrics.pipeline_flow import pipeline_flow

BASE = dt.datetime(2026, 3, 1)
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
STAGE_CHOICES = [(p, s) for p, s, *_ in STAGES]
OWNERS = [1, 2, 3]


@st.composite
def deals(draw):
    out = []
    for deal_id in range(1, draw(st.integers(0, 9)) + 1):
        created = BASE + dt.timedelta(hours=draw(st.integers(0, 24 * 40)))
        pipeline, stage = draw(st.sampled_from(STAGE_CHOICES))
        at = created
        moves = []
        for _ in range(draw(st.integers(0, 6))):
            # Whole days or hours: moves often land exactly on a period boundary (midnight).
            at = at + dt.timedelta(hours=draw(st.sampled_from([1, 5, 24, 48, 24 * 7])))
            to_p, to_s = draw(st.sampled_from(STAGE_CHOICES))
            moves.append((at, to_p, to_s))
        out.append(
            Deal(
                deal_id,
                created,
                pipeline,
                stage,
                float(draw(st.sampled_from([0, 10, 250]))),
                draw(st.sampled_from(OWNERS)),
                draw(st.integers(0, 5)) == 0,  # about one deal in six is deleted
                tuple(moves),
            )
        )
    return out


def _load(con, items: list[Deal]) -> None:
    deal_rows, move_rows = [], []
    for d in items:
        cur_p, cur_s = d.pipeline, d.stage
        for at, p, s in d.moves:
            move_rows.append((d.deal_id, at, cur_p, cur_s, p, s, d.owner))
            cur_p, cur_s = p, s
        deal_rows.append(
            (
                d.deal_id,
                f"D{d.deal_id}",
                cur_p,
                cur_s,
                d.price,
                d.owner,
                d.owner,
                d.created,
                d.created,
                None,
                None,
                None,
                None,
                None,
                d.deleted,
            )
        )
    raw = con.con
    raw.execute("DELETE FROM deals")
    raw.execute("DELETE FROM deal_moves")
    if deal_rows:
        raw.executemany(f"INSERT INTO deals VALUES ({', '.join(['?'] * 15)})", deal_rows)
    if move_rows:
        raw.executemany(f"INSERT INTO deal_moves VALUES ({', '.join(['?'] * 7)})", move_rows)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=deals(),
    first=st.integers(0, 45),
    length=st.integers(0, 20),
    pipeline=st.sampled_from([1, 2]),
    scope=st.sampled_from([Scope(), Scope(user=2), Scope(department=1)]),
)
def test_engine_matches_reference(items, first, length, pipeline, scope):
    con, store = shared_store(__name__)
    _load(con, items)
    store.forget()  # the kept per-pipeline moves and deals are of the previous example
    day = BASE.date() + dt.timedelta(days=first)
    period = Period.between(day, day + dt.timedelta(days=length), timezone="UTC", now=NOW)
    owners = {2} if scope.user == 2 else {1, 2} if scope.department == 1 else None
    want = flow(items, STAGES, pipeline, period.start_utc, period.until_utc, owners)
    expected = pd.DataFrame(want["rows"])
    # Both paths: the kept per-pipeline moves (DuckDB) and the inline query (other backends).
    for got in kept_and_inline(store, lambda: pipeline_flow(store, period, pipeline, scope)):
        for col in ["stage_id", "deals", "budget", "net_in", "lost"]:
            assert got.stages[col].tolist() == expected[col].tolist(), col
        for g, w in zip(got.stages["conversion"], expected["conversion"], strict=True):
            assert (pd.isna(w) and math.isnan(g)) or math.isclose(g, w)
        assert (got.new, got.won, got.won_budget) == (want["new"], want["won"], want["won_budget"])
        assert (got.lost_total, got.lost_budget) == (want["lost_total"], want["lost_budget"])
