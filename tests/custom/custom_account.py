"""A tiny hand-made account for custom widgets: every custom field type, tags, tasks with a
rescheduled deadline, events (one on a deleted deal, one by a robot), contacts, companies and
customers. Expected numbers in the tests are worked out by hand from the rows below.

Looked at on 2026-11-20 12:00 UTC with the month preset: t0 = 2026-11-01, t1 = now.
"""

from __future__ import annotations

import datetime as dt

from accounts import AccountBuilder, ts

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
INJECTION = "x'); DROP TABLE deals; --"

# Custom fields: (entity_type, field_id, name, type, enums [(enum_id, value, sort)])
FIELDS = [
    ("deal", 100, "Product", "multiselect", [(1001, "A", 10), (1002, "B", 20), (1003, "C", 30)]),
    ("deal", 101, "Segment", "select", [(1011, "Small", 10), (1012, "Big", 20)]),
    ("deal", 102, "Delivery", "radiobutton", [(1021, "Pickup", 10), (1022, "Courier", 20)]),
    ("deal", 103, "Prepaid", "checkbox", []),
    ("deal", 104, "Contract date", "date", []),
    ("deal", 105, "Seats", "numeric", []),
    ("deal", 106, "Order number", "text", []),
    ("contact", 200, "Role", "select", [(2001, "Director", 10), (2002, "Other", 20)]),
]

# deal -> {field_id: value or [enum ids]}
DEAL_VALUES = {
    1: {100: [1001, 1002], 101: [1011], 102: [1021], 103: "1", 104: "2026-11-15", 105: "10"},
    2: {100: [1002], 101: [1012], 102: [1022], 105: "5", 106: INJECTION},
    3: {101: [1011], 103: "1", 104: "2026-10-20", 105: "20.5"},
    4: {100: [1001], 101: [1011]},  # deleted
    5: {100: [1003], 105: "1"},
}
DEAL_VALUES[1][106] = "AB-1"
TAGS = [(1, "vip"), (1, "urgent"), (2, "vip"), (3, "tender"), (4, "vip")]


def build() -> AccountBuilder:
    b = AccountBuilder()
    # Deals (pipeline 1: 10 unsorted, 11 A, 12 B, 13 C, 142 won, 143 lost; pipeline 2: 21 X).
    b.deal(1, "2026-10-01", 11, price=100, owner=1, moves=[("2026-11-10", 13)])
    b.deal(2, "2026-10-05", 13, price=200, owner=2, moves=[("2026-11-12", 142)])
    b.deal(3, "2026-11-05", 13, price=300, owner=3)
    b.deal(4, "2026-10-01", 13, price=400, owner=1, deleted=True)
    b.deal(5, "2026-10-01", 21, pipeline=2, price=500, owner=2)
    b.deal(6, "2026-11-25", 11, price=600, owner=1)  # created after "now"
    enum_value = {}
    for et, fid, name, ftype, enums in FIELDS:
        b.add("custom_fields", entity_type=et, field_id=fid, name=name, type=ftype)
        for eid, value, sort in enums:
            b.add("custom_field_enums", field_id=fid, enum_id=eid, value=value, sort=sort)
            enum_value[eid] = value
    for deal, values in DEAL_VALUES.items():
        for fid, v in values.items():
            for one in v if isinstance(v, list) else [v]:
                is_enum = isinstance(one, int)
                b.add(
                    "custom_values",
                    entity_type="deal",
                    entity_id=deal,
                    field_id=fid,
                    value=enum_value[one] if is_enum else one,
                    enum_id=one if is_enum else None,
                )
    for deal, tag in TAGS:
        b.add("tags", entity_type="deal", entity_id=deal, tag=tag)

    def task(tid, et, eid, owner, created, deadline, ttype, done=None, changes=()):
        current = deadline
        for at, new in changes:
            b.add(
                "task_deadline_changes",
                task_id=tid,
                at=ts(at),
                old_deadline=ts(current),
                new_deadline=ts(new),
            )
            current = new
        b.add(
            "tasks",
            task_id=tid,
            entity_type=et,
            entity_id=eid,
            responsible_user_id=owner,
            created_by=owner,
            task_type=ttype,
            text=f"Task {tid}",
            created_at=ts(created),
            deadline=ts(current),
            is_completed=done is not None,
            completed_at=ts(done) if done else None,
        )

    task(1, "deal", 1, 1, "2026-10-01", "2026-11-05", "call", done="2026-11-15")
    task(2, "deal", 2, 2, "2026-10-01", "2026-10-20", "meeting")
    task(3, "deal", 3, 3, "2026-11-06", "2026-11-10", "call")
    task(
        4,
        "deal",
        5,
        2,
        "2026-10-01",
        "2026-10-25",
        "letter",
        changes=[("2026-11-03", "2026-12-10")],
    )
    task(5, "deal", 4, 1, "2026-10-01", "2026-10-01", "call")  # on the deleted deal
    task(6, "contact", 1, 1, "2026-10-01", "2026-12-01", "call")
    task(7, "company", 1, 1, "2026-11-15", "2026-12-20", "email")
    task(8, "customer", 1, 1, "2026-11-16", "2026-12-20", "email")

    def event(eid, etype, et, ent, at, by):
        b.add(
            "events",
            event_id=eid,
            type=etype,
            entity_type=et,
            entity_id=ent,
            created_at=ts(at),
            created_by=by,
            value_before=None,
            value_after=None,
        )

    event("e1", "lead_status_changed", "deal", 1, "2026-11-10", 1)
    event("e2", "lead_added", "deal", 3, "2026-11-05", 3)
    event("e3", "lead_added", "deal", 1, "2026-10-01", 1)
    event("e4", "task_completed", "task", 1, "2026-11-15", 1)
    event("e5", "lead_status_changed", "deal", 4, "2026-11-02", 1)  # deleted deal
    event("e6", "lead_status_changed", "deal", 2, "2026-11-12", 0)  # robot

    for cid, created, owner, deleted in [
        (1, "2026-10-01", 1, False),
        (2, "2026-11-10", 2, False),
        (3, "2026-10-01", 1, True),
    ]:
        b.add(
            "contacts",
            id=cid,
            name=f"Contact {cid}",
            responsible_user_id=owner,
            created_at=ts(created),
            updated_at=ts(created),
            company_id=None,
            is_deleted=deleted,
        )
    b.add(
        "custom_values",
        entity_type="contact",
        entity_id=1,
        field_id=200,
        value="Director",
        enum_id=2001,
    )
    b.add(
        "custom_values",
        entity_type="contact",
        entity_id=2,
        field_id=200,
        value="Other",
        enum_id=2002,
    )
    for cid, created, owner in [(1, "2026-10-01", 1), (2, "2026-11-03", 3), (3, "2026-10-01", 3)]:
        b.add(
            "companies",
            id=cid,
            name=f"Company {cid}",
            responsible_user_id=owner,
            created_at=ts(created),
            updated_at=ts(created),
            is_deleted=cid == 3,
        )
    for cid, status, price, next_date, created, owner in [
        (1, 1, 50.0, "2026-11-25", "2026-10-01", 1),
        (2, 2, 70.0, "2027-01-10", "2026-11-11", 2),
        (3, 1, 999.0, "2026-11-21", "2026-10-01", 1),  # deleted
    ]:
        b.add(
            "customers",
            customer_id=cid,
            name=f"Customer {cid}",
            status_id=status,
            next_price=price,
            next_date=ts(next_date),
            responsible_user_id=owner,
            created_at=ts(created),
            is_deleted=cid == 3,
        )
    return b
