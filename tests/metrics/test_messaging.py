"""Messages and response-time rules on a hand-computed account, a property test of the reply rule
against a plain-Python reference on random talks, and the demo account."""

from __future__ import annotations

import datetime as dt
import math
import statistics

import pytest
import vl_convert
from accounts import AccountBuilder, kept_and_inline, shared_store, ts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deskkit.charts.activity import messages_chart, response_time_chart
from deskkit.filters import Period, Scope, Viewer
from deskkit.metrics._base import Context
from deskkit.metrics.messaging import messages, response_time

MARCH = (dt.date(2026, 3, 1), dt.date(2026, 3, 31))
NOW = dt.datetime(2026, 4, 15, tzinfo=dt.UTC)
# The previous period of a 31-day custom March is [Jan 29, Mar 1).


def ctx_of(store, scope=None, viewer=None, now=NOW, days=MARCH) -> Context:
    return Context(store, Period.between(*days, now=now), scope or Scope(), Viewer(viewer))


# (id, talk, deal, direction, channel, at, author)
TALKS = [
    ("m1", 10, 1, "in", "telegram", "2026-03-02 10:00", None),
    ("m2", 10, 1, "in", "telegram", "2026-03-02 10:10", None),
    ("m3", 10, 1, "out", "telegram", "2026-03-02 10:30", 1),  # reply: 30 min from m1
    ("m4", 10, 1, "out", "telegram", "2026-03-02 10:40", 1),  # same run: not a reply
    ("m5", 10, 1, "in", "telegram", "2026-03-05 09:00", None),
    ("m6", 10, 1, "out", "telegram", "2026-03-05 09:05", 2),  # Boris replies: 5 min
    ("m7", 10, 1, "in", "telegram", "2026-03-31 23:00", None),  # never answered
    ("n1", 20, 2, "out", "whatsapp", "2026-02-20 08:00", 2),  # nothing to answer
    ("n2", 20, 2, "in", "whatsapp", "2026-02-28 23:00", None),
    ("n3", 20, 2, "out", "whatsapp", "2026-03-01 00:00", 2),  # reply at March's first instant
    ("n4", 20, 2, "in", "whatsapp", "2026-03-31 23:30", None),
    ("n5", 20, 2, "out", "whatsapp", "2026-04-01 00:00", 2),  # reply after March
    ("d1", 30, 3, "in", "telegram", "2026-03-04 10:00", None),  # deal 3 is deleted
    ("d2", 30, 3, "out", "telegram", "2026-03-04 10:01", 1),
    ("p1", 40, 4, "in", "email", "2026-02-10 10:00", None),
    ("p2", 40, 4, "out", "email", "2026-02-10 11:00", 3),  # previous period: 1 h
    ("p3", 40, 4, "in", "email", "2026-03-06 12:00", None),
    ("p4", 40, 4, "out", "email", "2026-03-06 12:00", 3),  # same second: a 0 s reply
    ("q1", 50, 4, "in", "email", "2026-03-07 10:00", None),
    ("q2", 50, 4, "out", "email", "2026-03-07 10:01", 0),  # a robot's auto-reply
    ("q3", 50, 4, "out", "email", "2026-03-07 10:20", 3),  # Vera: 20 min from q1
]


def add_message(b: AccountBuilder, mid, talk, ent, direction, channel, at, user, kind="deal"):
    b.add(
        "messages",
        message_id=mid,
        talk_id=talk,
        entity_type=kind,
        entity_id=ent,
        direction=direction,
        channel=channel,
        created_at=at,
        user_id=user,
    )


@pytest.fixture(scope="module")
def chat():
    b = AccountBuilder()
    for deal, owner, deleted in [(1, 1, False), (2, 2, False), (3, 1, True), (4, 3, False)]:
        b.deal(deal, "2026-01-15", 11, owner=owner, deleted=deleted)
    for mid, talk, deal, direction, channel, at, user in TALKS:
        add_message(b, mid, talk, deal, direction, channel, ts(at), user)
    add_message(b, "r1", 60, 5, "in", "email", ts("2026-03-08"), None, kind="contact")
    return b.open()


def test_message_totals_and_previous(chat):
    r = messages(ctx_of(chat))
    # Out: m3 m4 m6 (telegram), n3 (whatsapp), p4 q2 q3 (email; q2 is a robot's) = 7.
    # In: m1 m2 m5 m7, n4, p3 q1 = 7; r1 is on a contact, d1/d2 on a deleted deal.
    assert (r.incoming, r.outgoing) == (7, 7)
    # [Jan 29, Mar 1): out n1 p2, in n2 p1.
    assert (r.previous_incoming, r.previous_outgoing) == (2, 2)
    assert r.by_channel.set_index("channel").to_dict("index") == {
        "telegram": dict(incoming=4, outgoing=3, previous_incoming=0, previous_outgoing=0),
        "email": dict(incoming=2, outgoing=3, previous_incoming=1, previous_outgoing=1),
        "whatsapp": dict(incoming=1, outgoing=1, previous_incoming=1, previous_outgoing=1),
    }


def test_messages_per_user(chat):
    r = messages(ctx_of(chat))
    # Incoming go to the deal's responsible user; outgoing to their author.
    got = r.by_user.set_index("user")[["incoming", "outgoing"]].to_dict("index")
    assert got == {
        "robot": dict(incoming=0, outgoing=1),
        "Anna": dict(incoming=4, outgoing=2),
        "Boris": dict(incoming=1, outgoing=2),
        "Vera": dict(incoming=2, outgoing=2),
    }
    assert set(r.records("out", user=2)["message_id"]) == {"m6", "n3"}
    assert list(r.records("in", channel="email")["message_id"]) == ["q1", "p3"]


@pytest.mark.parametrize(
    ("scope", "viewer", "inc", "out"),
    [
        (Scope(user=1), None, 4, 2),
        (Scope(department=1), None, 5, 4),
        (Scope(), 1, 4, 2),  # Anna: her deals' incoming, her own outgoing
        (Scope(user=3), 1, 0, 0),
    ],
)
def test_messages_scope_and_viewer(chat, scope, viewer, inc, out):
    r = messages(ctx_of(chat, scope, viewer))
    assert (r.incoming, r.outgoing) == (inc, out)
    assert len(r.records()) == inc + out


def test_response_time(chat):
    r = response_time(ctx_of(chat))
    # Replies in March: m3 1800 s, m6 300, n3 3600, p4 0, q3 1200 (q2 is a robot: ignored).
    assert r.replies == 5
    assert r.mean_s == pytest.approx((1800 + 300 + 3600 + 0 + 1200) / 5)
    assert r.median_s == pytest.approx(1200)
    # Previous period: p2 3600 s only (n1 answers nothing).
    assert (r.previous_replies, r.previous_mean_s, r.previous_median_s) == (1, 3600, 3600)
    by = r.by_user.set_index("user")
    assert by["replies"].to_dict() == {"Anna": 1, "Boris": 2, "Vera": 2}
    assert by.loc["Boris", "mean_s"] == by.loc["Boris", "median_s"] == pytest.approx(1950)
    assert by.loc["Vera", "median_s"] == pytest.approx(600)
    assert by.loc["Vera", "previous_mean_s"] == 3600 and math.isnan(
        by.loc["Anna", "previous_mean_s"]
    )
    # m7 is unanswered (Anna's deal); n4 was answered by n5, after March but before now.
    assert r.unanswered == 1 and by.loc["Anna", "unanswered"] == 1
    rec = r.records()
    assert list(rec["wait_s"]) == [3600, 1800, 1200, 300, 0]  # slowest first
    assert rec.set_index("wait_s").loc[1800, "asked_at"] == ts("2026-03-02 10:00")
    assert list(r.records("unanswered")["talk_id"]) == [10]


def test_unanswered_is_judged_up_to_now(chat):
    r = response_time(ctx_of(chat, now=dt.datetime(2026, 3, 31, 23, 45, tzinfo=dt.UTC)))
    # At 23:45 neither m7 (23:00) nor n4 (23:30) has an answer yet.
    assert r.unanswered == 2
    assert sorted(r.records("unanswered")["talk_id"]) == [10, 20]


@pytest.mark.parametrize(
    ("scope", "viewer", "replies", "mean", "unanswered"),
    [
        (Scope(user=2), None, 2, 1950, 0),
        (Scope(department="South"), None, 2, 600, 0),
        (Scope(), 1, 1, 1800, 1),
        (Scope(user=2), 1, 0, float("nan"), 0),
    ],
)
def test_response_time_scope_and_viewer(chat, scope, viewer, replies, mean, unanswered):
    r = response_time(ctx_of(chat, scope, viewer))
    assert (r.replies, r.unanswered) == (replies, unanswered)
    assert r.mean_s == pytest.approx(mean, nan_ok=True)


def test_empty_period(chat):
    days = (dt.date(2025, 1, 1), dt.date(2025, 1, 31))
    m, r = messages(ctx_of(chat, days=days)), response_time(ctx_of(chat, days=days))
    assert (m.incoming, m.outgoing, len(m.by_channel), len(m.by_user)) == (0, 0, 0, 0)
    assert (r.replies, r.unanswered, len(r.by_user)) == (0, 0, 0)
    assert math.isnan(r.mean_s) and math.isnan(r.median_s)


def test_same_second_replies_and_ignored_messages():
    b = AccountBuilder()
    b.deal(1, "2026-01-15", 11, owner=1)
    b.deal(2, "2026-01-15", 11, owner=2)
    rows = [
        # Two answers in the same second: the first by message id is the reply (Boris's).
        ("a1", 10, 1, "in", "2026-03-02 10:00", None),
        ("a3", 10, 1, "out", "2026-03-02 10:05", 1),
        ("a2", 10, 1, "out", "2026-03-02 10:05", 2),
        # A robot's auto-reply and a message neither in nor out split nothing and answer nothing.
        ("b1", 20, 2, "in", "2026-03-03 09:00", None),
        ("b2", 20, 2, "out", "2026-03-03 09:01", 0),
        ("b3", 20, 2, "note", "2026-03-03 09:02", 3),
        ("b4", 20, 2, "in", "2026-03-03 09:03", None),
        ("b5", 20, 2, "out", "2026-03-03 09:10", 3),  # Vera: 10 min from b1
        ("b6", 20, 2, "in", "2026-03-04 09:00", None),  # unanswered: only a robot after it
        ("b7", 20, 2, "out", "2026-03-04 09:01", 0),
    ]
    for mid, talk, deal, direction, at, user in rows:
        add_message(b, mid, talk, deal, direction, "chat", ts(at), user)
    r = response_time(ctx_of(b.open()))
    assert r.by_user.set_index("user")["replies"].to_dict() == {"Boris": 1, "Vera": 1}
    assert r.by_user.set_index("user")["mean_s"].to_dict() == {"Boris": 300, "Vera": 600}
    assert (r.replies, r.unanswered) == (2, 1)
    assert r.by_user.set_index("user").loc["Boris", "unanswered"] == 1  # deal 2 is Boris's
    assert list(r.records("unanswered")["asked_at"]) == [ts("2026-03-04 09:00")]


# Property: the engine's reply rule equals a plain-Python reference ------------------------------

BASE = dt.datetime(2026, 3, 1)
PNOW = dt.datetime(2026, 3, 20, tzinfo=dt.UTC)


@st.composite
def talks(draw):
    """Talks on deals 1..4 (random owners, one in four deleted) with random message runs."""
    deals = {d: (draw(st.sampled_from([1, 2, 3])), draw(st.integers(0, 3)) == 0) for d in range(5)}
    msgs, n = [], 0
    for talk in range(draw(st.integers(0, 5))):
        at = BASE + dt.timedelta(hours=draw(st.integers(0, 24 * 12)))
        for _ in range(draw(st.integers(1, 9))):
            # 0 s gaps make ties (an answer in the same second); days cross period edges.
            at += dt.timedelta(minutes=draw(st.sampled_from([0, 1, 30, 60 * 24, 60 * 24 * 3])))
            out = draw(st.booleans())
            user = draw(st.sampled_from([0, 1, 2, 3])) if out else None
            n += 1
            msgs.append((f"m{n:04d}", talk, talk % 5, "out" if out else "in", at, user))
    return deals, msgs


def reference(deals, msgs, t0, t1, now, owners):
    """Replies (user, wait) sent in [t0, t1) and unanswered runs started there, by hand."""
    replies, unanswered = [], 0
    for talk in {m[1] for m in msgs}:
        rows = [m for m in msgs if m[1] == talk and m[4] < now and not deals[m[2]][1]]
        rows = [m for m in rows if not (m[3] == "out" and m[5] == 0)]  # robots: ignored
        rows.sort(key=lambda m: (m[4], m[3], m[0]))  # at, then "in" before "out", then id
        prev, runs = None, []
        for _, _, deal, direction, at, user in rows:
            if direction == "in" and prev != "in":
                runs.append({"at": at, "owner": deals[deal][0], "answered": False})
            elif direction == "out" and prev == "in":
                runs[-1]["answered"] = True
                if t0 <= at < t1 and (owners is None or user in owners):
                    replies.append((user, (at - runs[-1]["at"]).total_seconds()))
            prev = direction
        unanswered += sum(
            1
            for r in runs
            if not r["answered"] and t0 <= r["at"] < t1 and (owners is None or r["owner"] in owners)
        )
    return replies, unanswered


def _load(con, deals, msgs) -> None:
    raw = con.con
    raw.execute("DELETE FROM deals")
    raw.execute("DELETE FROM messages")
    rows = [
        (d, f"D{d}", 1, 11, 1.0, o, o, BASE, BASE, None, None, None, None, None, gone)
        for d, (o, gone) in deals.items()
    ]
    raw.executemany(f"INSERT INTO deals VALUES ({', '.join(['?'] * 15)})", rows)
    if msgs:
        rows = [
            (mid, talk, "deal", deal, d, "chat", at, user) for mid, talk, deal, d, at, user in msgs
        ]
        raw.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=talks(),
    first=st.integers(0, 10),
    length=st.integers(0, 6),
    scope=st.sampled_from([Scope(), Scope(user=2), Scope(department=1)]),
)
def test_response_time_matches_reference(data, first, length, scope):
    deals, msgs = data
    con, store = shared_store(__name__)
    _load(con, deals, msgs)
    store.forget()  # the store keeps every talk's exchanges (Store.derived)
    day = BASE.date() + dt.timedelta(days=first)
    ctx = Context(store, Period.between(day, day + dt.timedelta(days=length), now=PNOW), scope)
    got = response_time(ctx)
    owners = {2} if scope.user == 2 else {1, 2} if scope.department == 1 else None
    now = PNOW.replace(tzinfo=None)
    replies, unanswered = reference(deals, msgs, ctx.t0, ctx.t1, now, owners)
    waits = [w for _, w in replies]
    assert got.replies == len(replies)
    assert got.unanswered == unanswered
    if waits:
        assert got.mean_s == pytest.approx(statistics.mean(waits))
        assert got.median_s == pytest.approx(statistics.median(waits))
    per_user = {u: statistics.median([w for v, w in replies if v == u]) for u, _ in replies}
    by = got.by_user.set_index("user_id")
    assert {u: by.loc[u, "median_s"] for u in per_user} == pytest.approx(per_user)
    assert int(by["replies"].sum()) == len(replies)


# Demo account -----------------------------------------------------------------------------------


def test_messages_and_response_time_on_the_demo(desk):
    ctx = Context(desk.store, desk.period("month"))
    m = messages(ctx)
    assert m.incoming > 50 and m.outgoing > 50 and m.previous_incoming > 50
    assert m.by_channel["incoming"].sum() == m.incoming
    assert m.by_user["outgoing"].sum() == m.outgoing
    r = response_time(ctx)
    assert r.replies > 20 and r.previous_replies > 20
    # Replies in the demo take 30 s to days; the mean sits above the median (a long tail).
    assert 30 <= r.median_s < r.mean_s < 7 * 86400
    assert r.by_user["replies"].sum() == r.replies
    assert r.records(limit=5)["wait_s"].is_monotonic_decreasing
    assert set(m.sql()) == {"counts"} and set(r.sql()) == {"response"}
    for chart in (messages_chart(m), response_time_chart(r)):
        assert vl_convert.vegalite_to_svg(chart.to_dict()).startswith("<svg")


@pytest.mark.parametrize(
    "days",
    [
        MARCH,
        (dt.date(2026, 3, 1), dt.date(2026, 3, 15)),
        (dt.date(2026, 2, 1), dt.date(2026, 4, 30)),
    ],
)
@pytest.mark.parametrize("now", [NOW, dt.datetime(2026, 3, 31, 23, 45, tzinfo=dt.UTC)])
def test_kept_exchanges_give_the_numbers_of_the_inline_query(chat, days, now):
    """Every talk's exchanges are cut once and kept (``Store.derived``); without them (a
    backend that keeps nothing, or ``Store.inline``) only the period's talks are cut. Both
    give the same numbers, also for a "now" before the newest message (where the kept cut is
    that moment's own)."""
    for scope, viewer in [(Scope(), None), (Scope(user=2), None), (Scope(), 1)]:
        ctx = ctx_of(chat, scope, viewer, now=now, days=days)
        kept, inline = kept_and_inline(chat, lambda ctx=ctx: response_time(ctx))
        assert (kept.replies, kept.unanswered, kept.previous_replies) == (
            inline.replies,
            inline.unanswered,
            inline.previous_replies,
        )
        assert kept.mean_s == pytest.approx(inline.mean_s, nan_ok=True)
        assert kept.previous_median_s == pytest.approx(inline.previous_median_s, nan_ok=True)
        assert kept.by_user.equals(inline.by_user)


def test_kept_exchanges_on_the_demo_match_the_inline_query(desk):
    for period in ("month", "year", (dt.date(2026, 9, 1), dt.date(2026, 9, 30))):
        for scope in (Scope(), Scope(user=int(desk.store.users.user_id.iloc[2]))):
            ctx = Context(desk.store, desk.period(period), scope)
            kept, inline = kept_and_inline(desk.store, lambda ctx=ctx: response_time(ctx))
            assert (kept.replies, kept.unanswered) == (inline.replies, inline.unanswered)
            assert kept.median_s == pytest.approx(inline.median_s, nan_ok=True)
            assert kept.by_user.equals(inline.by_user)
    # The exchanges, and the replies and the runs waiting from them, kept.
    derived = {k[1][0] for k in desk.store._memo if k[0] == "derived"}
    assert {"exchanges", "replies", "runs waiting"} <= derived


def test_unanswered_runs_on_a_deal_without_an_owner_count_in_the_total_only():
    b = AccountBuilder()
    b.deal(1, "2026-01-15", 11, owner=1)
    b.deal(7, "2026-01-15", 11, owner=None)
    add_message(b, "a1", 70, 1, "in", "telegram", ts("2026-03-03 10:00"), None)
    add_message(b, "u1", 71, 7, "in", "telegram", ts("2026-03-04 10:00"), None)
    add_message(b, "u2", 72, 7, "in", "email", ts("2026-03-05 10:00"), None)
    add_message(b, "u3", 72, 7, "out", "email", ts("2026-03-05 10:30"), 2)  # Boris replies
    store = b.open()
    kept, inline = kept_and_inline(store, lambda: response_time(ctx_of(store)))
    for r in (kept, inline):
        # Everyone, unrestricted: the runs on deal 7 (no one's) are in the total, under no user.
        assert r.unanswered == 2 and r.replies == 1
        assert r.by_user.set_index("user_id")["unanswered"].to_dict() == {1: 1, 2: 0}
    rec = kept.records("unanswered")
    assert list(rec["talk_id"]) == [70, 71] and list(rec["deal"]) == ["Deal 1", "Deal 7"]
    # Anna (own deals only) sees her run; a scope of users never includes no one's deals.
    assert response_time(ctx_of(store, viewer=1)).unanswered == 1
    assert response_time(ctx_of(store, Scope(user=2))).unanswered == 0


def test_unanswered_runs_count_only_on_deals_the_store_holds():
    """A run waiting on a deal missing from the store (removed in the CRM) or on a contact is
    not unanswered deal work: kept (the runs waiting, kept apart) or inline (joined with the
    deals), only the live deal's run counts."""
    b = AccountBuilder()
    b.deal(1, "2026-01-15", 11, owner=1)
    add_message(b, "a1", 70, 1, "in", "telegram", ts("2026-03-03 10:00"), None)
    add_message(b, "m1", 71, 99, "in", "telegram", ts("2026-03-04 10:00"), None)
    add_message(b, "c1", 72, 5, "in", "email", ts("2026-03-05 10:00"), None, kind="contact")
    store = b.open()
    kept, inline = kept_and_inline(store, lambda: response_time(ctx_of(store)))
    for r in (kept, inline):
        assert r.unanswered == 1
        assert r.by_user.set_index("user_id")["unanswered"].to_dict() == {1: 1}
