"""Property test: custom deal widgets (value now, at the start, and the multiselect split) equal
a plain-Python evaluation of the same conditions on random deal histories — stage moves, tags,
multiselect and select values, budgets, tasks opened and completed, period edges and "now"."""

from __future__ import annotations

import datetime as dt

from accounts import AccountBuilder, shared_store
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import deskkit
from deskkit.custom import Condition, CustomWidget, Display

BASE = dt.datetime(2026, 3, 1)
GRID = st.integers(0, 24).map(lambda k: k * 12)  # 12-hour steps: edges often coincide
PRODUCTS = (1001, 1002, 1003)
OPEN = (11, 12, 13)


def hours(n: int) -> dt.datetime:
    return BASE + dt.timedelta(hours=n)


def _store():
    b = AccountBuilder()
    b.add("custom_fields", entity_type="deal", field_id=100, name="Product", type="multiselect")
    b.add("custom_fields", entity_type="deal", field_id=101, name="Segment", type="select")
    for eid, value, sort in ((1001, "A", 1), (1002, "B", 2), (1003, "C", 3)):
        b.add("custom_field_enums", field_id=100, enum_id=eid, value=value, sort=sort)
    for eid, value, sort in ((1011, "S", 1), (1012, "L", 2)):
        b.add("custom_field_enums", field_id=101, enum_id=eid, value=value, sort=sort)
    return shared_store(__name__, b)


@st.composite
def deals(draw):
    out = []
    for deal_id in range(1, draw(st.integers(0, 7)) + 1):
        created = draw(GRID)
        stage = draw(st.sampled_from(OPEN))
        moves, at = [], created
        for _ in range(draw(st.integers(0, 3))):
            at += draw(st.sampled_from([0, 12, 24, 60]))
            to = draw(st.sampled_from((*OPEN, 142, 143)))
            moves.append((hours(at), stage, to))
            stage = to
        tasks = [
            (hours(draw(GRID)), draw(st.one_of(st.none(), GRID.map(hours))))
            for _ in range(draw(st.integers(0, 2)))
        ]
        out.append(
            {
                "id": deal_id,
                "created": hours(created),
                "moves": moves,
                "stage": stage,
                "price": draw(st.sampled_from([None, 0.0, 100.0, 250.0])),
                "tags": draw(st.sets(st.sampled_from(["a", "b"]))),
                "products": draw(st.sets(st.sampled_from(PRODUCTS))),
                "segment": draw(st.sampled_from([None, 1011, 1012])),
                "owner": draw(st.sampled_from([1, 2, 3])),
                "deleted": draw(st.sampled_from([False, False, False, True])),
                "tasks": tasks,
            }
        )
    return out


CONDITIONS = st.sampled_from(
    [
        Condition("price", "gt", 100),
        Condition("price", "ne", 100),
        Condition("stage", "eq", [1, 12]),
        Condition("stage", "not_in", [[1, 11], [1, 13]]),
        Condition("stage_kind", "eq", "won"),
        Condition("stage_kind", "in", ["open"]),
        Condition("tag", "in", ["a"]),
        Condition("tag", "not_in", ["b"]),
        Condition("tag", "contains", ["a", "b"]),
        Condition("tag", "is_not_set"),
        Condition("cf:Product", "in", [1001]),
        Condition("cf:Product", "contains", [1001, 1002]),
        Condition("cf:Product", "not_in", [1003]),
        Condition("cf:Product", "is_set"),
        Condition("cf:Segment", "eq", 1011),
        Condition("cf:Segment", "ne", 1011),
        Condition("has_open_task", "is", False),
        Condition("has_open_task", "is", True),
        Condition("created_at", "in_period"),
        Condition("closed_at", "is_set"),
        Condition("responsible", "in", [1, 3]),
    ]
)


def holds(deal, c: Condition, t, period) -> bool:
    """One condition at moment ``t``, straight from its definition."""
    later = [m for m in deal["moves"] if m[0] >= t]
    stage = later[0][1] if later else deal["stage"]
    closed = deal["moves"][-1][0] if deal["moves"] and deal["stage"] in (142, 143) else None
    v = c.value
    if c.field == "price":
        p = deal["price"]
        return (p is not None and p > v) if c.op == "gt" else p != v
    if c.field == "stage":
        inside = stage in {s for _, s in ([v] if c.op == "eq" else v)}
        return inside if c.op == "eq" else not inside
    if c.field == "stage_kind":
        return stage == 142 if v == "won" else stage in OPEN
    if c.field == "tag":
        tags, want = deal["tags"], set(v or ())
        return {
            "in": bool(tags & want),
            "not_in": not tags & want,
            "contains": want <= tags,
            "is_not_set": not tags,
        }[c.op]
    if c.field == "cf:Product":
        ps = deal["products"]
        return {
            "in": bool(ps & set(v or ())),
            "contains": set(v or ()) <= ps,
            "not_in": not ps & set(v or ()),
            "is_set": bool(ps),
        }[c.op]
    if c.field == "cf:Segment":
        return (deal["segment"] == v) if c.op == "eq" else deal["segment"] != v
    if c.field == "has_open_task":
        has = any(made < t and (done is None or done >= t) for made, done in deal["tasks"])
        return has is v
    if c.field == "created_at":
        return period.start_utc <= deal["created"] < period.end_utc and deal["created"] < t
    if c.field == "closed_at":
        return closed is not None and closed < t
    if c.field == "responsible":
        return deal["owner"] in v
    raise AssertionError(c)


def reference(rows, conds, t, period):
    return [
        d
        for d in rows
        if not d["deleted"] and d["created"] < t and all(holds(d, c, t, period) for c in conds)
    ]


def load(con, rows):
    raw = con.con
    for table in ("deals", "deal_moves", "tags", "custom_values", "tasks"):
        raw.execute(f"DELETE FROM {table}")
    task_id = 0
    for d in rows:
        closed = d["moves"][-1][0] if d["moves"] and d["stage"] in (142, 143) else None
        raw.execute(
            "INSERT INTO deals VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, ?)",
            [
                d["id"],
                f"Deal {d['id']}",
                d["stage"],
                d["price"],
                d["owner"],
                d["owner"],
                d["created"],
                d["created"],
                closed,
                d["deleted"],
            ],
        )
        for at, frm, to in d["moves"]:
            raw.execute(
                "INSERT INTO deal_moves VALUES (?, ?, 1, ?, 1, ?, 1)", [d["id"], at, frm, to]
            )
        for tag in sorted(d["tags"]):
            raw.execute("INSERT INTO tags VALUES ('deal', ?, ?)", [d["id"], tag])
        for p in sorted(d["products"]):
            raw.execute("INSERT INTO custom_values VALUES ('deal', ?, 100, 'x', ?)", [d["id"], p])
        if d["segment"]:
            raw.execute(
                "INSERT INTO custom_values VALUES ('deal', ?, 101, 'x', ?)", [d["id"], d["segment"]]
            )
        for made, done in d["tasks"]:
            task_id += 1
            raw.execute(
                "INSERT INTO tasks VALUES (?, 'deal', ?, 1, 1, 'call', 't', ?, ?, ?, ?)",
                [task_id, d["id"], made, made, done is not None, done],
            )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=deals(),
    conds=st.lists(CONDITIONS, max_size=3),
    first=st.integers(0, 6),
    length=st.integers(0, 6),
    now_h=GRID,
)
def test_engine_matches_reference(rows, conds, first, length, now_h):
    con, store = _store()
    load(con, rows)
    desk = deskkit.Desk(store, now=hours(now_h).replace(tzinfo=dt.UTC))
    day = BASE.date() + dt.timedelta(days=first)
    period = desk.period((day, day + dt.timedelta(days=length)))
    w = CustomWidget("p", "P", "deals", tuple(conds), Display("split", split_by="cf:Product"))
    r = desk.custom(w, period)
    now_rows = reference(rows, conds, period.until_utc, period)
    start_rows = reference(rows, conds, period.start_utc, period)
    assert (r.value, r.value_at_start) == (len(now_rows), len(start_rows))
    split = r.split.set_index("key")
    for key in PRODUCTS:
        want_now = sum(key in d["products"] for d in now_rows)
        want_start = sum(key in d["products"] for d in start_rows)
        assert (split.value[key], split.value_at_start[key]) == (want_now, want_start)
    none_now = sum(not d["products"] for d in now_rows)
    none_start = sum(not d["products"] for d in start_rows)
    if none_now or none_start:
        assert (split.value["(none)"], split.value_at_start["(none)"]) == (none_now, none_start)
    else:
        assert "(none)" not in split.index
