"""Recent files: uploads of the period on deals, contacts and companies, newest first."""

from __future__ import annotations

import datetime as dt

import pytest
from accounts import AccountBuilder, kept_and_inline, ts

from deskkit.filters import Period, Scope, Viewer
from deskkit.metrics._base import Context
from deskkit.metrics.files import recent_files

NOW = dt.datetime(2026, 4, 15, tzinfo=dt.UTC)
MARCH = Period.between(dt.date(2026, 3, 1), dt.date(2026, 3, 31), now=NOW)


@pytest.fixture(scope="module")
def store():
    b = AccountBuilder()
    b.deal(1, "2026-01-10", 11, owner=1)
    b.deal(2, "2026-01-10", 11, owner=2)
    b.deal(3, "2026-01-10", 11, owner=1, deleted=True)
    b.add("contacts", id=100, name="Ivan", responsible_user_id=1, is_deleted=False)
    b.add("contacts", id=101, name="Gone", responsible_user_id=3, is_deleted=True)
    b.add("companies", id=200, name="Acme", responsible_user_id=2, is_deleted=False)
    files = [
        # id, entity, by, at, size
        ("f1", ("deal", 1), 1, "2026-03-01 00:00", 10),  # first instant of March
        ("f2", ("deal", 2), 2, "2026-03-10", 20),
        ("f3", ("contact", 100), 1, "2026-03-12", 30),
        ("f4", ("company", 200), 2, "2026-03-15", 40),
        ("f5", ("deal", 3), 1, "2026-03-05", 50),  # deleted deal
        ("f6", ("deal", 1), 1, "2026-04-01 00:00", 60),  # end of March: out
        ("f7", ("deal", 1), 1, "2026-02-28 23:59", 70),  # before March
        ("f8", ("customer", 5), 1, "2026-03-20", 80),  # not a deal/contact/company
        ("f9", ("deal", 2), 1, "2026-03-20", 90),  # Anna's upload on Boris's deal
        ("f10", ("contact", 101), 3, "2026-03-21", 100),  # deleted contact
    ]
    for fid, (kind, eid), by, at, size in files:
        add_file(b, fid, kind, eid, by, at, size)
    return b.open()


def add_file(b: AccountBuilder, fid: str, kind: str, eid: int, by: int, at: str, size: int):
    b.add(
        "files",
        file_id=fid,
        entity_type=kind,
        entity_id=eid,
        name=f"{fid}.pdf",
        size=size,
        created_by=by,
        created_at=ts(at),
    )


def run(store, scope: Scope | None = None, viewer: int | None = None, limit: int | None = 50):
    return recent_files(Context(store, MARCH, scope or Scope(), Viewer(viewer)), limit)


def ids(r) -> list[str]:
    return list(r.files["file_id"])


def test_files_newest_first_with_names(store):
    r = run(store)
    # f5 deleted deal, f6/f7 outside March, f8 a customer, f10 a deleted contact.
    assert ids(r) == ["f9", "f4", "f3", "f2", "f1"]
    names = dict(zip(r.files["file_id"], r.files["entity_name"], strict=True))
    assert names == {"f9": "Deal 2", "f4": "Acme", "f3": "Ivan", "f2": "Deal 2", "f1": "Deal 1"}
    assert r.files.set_index("file_id").loc["f4", "author"] == "Boris"
    assert (r.total, r.total_size) == (5, 90 + 40 + 30 + 20 + 10)


def test_limit_keeps_the_totals(store):
    r = run(store, limit=2)
    assert ids(r) == ["f9", "f4"] and r.total == 5
    assert list(r.records()["file_id"]) == ["f9", "f4", "f3", "f2", "f1"]
    assert list(r.records("deal", limit=1)["file_id"]) == ["f9"]


def test_scope_is_the_uploader(store):
    assert ids(run(store, Scope(user=1))) == ["f9", "f3", "f1"]
    assert ids(run(store, Scope(department="North"))) == ["f9", "f4", "f3", "f2", "f1"]
    south = run(store, Scope(department="South"))  # Vera's only upload is on a deleted contact
    assert south.files.empty and south.total == 0 and south.total_size == 0


def test_own_viewer_never_gets_files_on_deals_she_cannot_see(store):
    r = run(store, viewer=1)
    assert ids(r) == ["f3", "f1"]  # f9 is hers but on Boris's deal 2
    assert list(r.records()["file_id"]) == ["f3", "f1"]
    assert ids(run(store, viewer=2)) == ["f9", "f4", "f3", "f2", "f1"]  # group North


@pytest.mark.parametrize(
    ("scope", "viewer"),
    [(Scope(), None), (Scope(user=1), None), (Scope(department="North"), 1), (Scope(), 2)],
)
def test_kept_files_on_records_give_the_numbers_of_the_raw_join(store, scope, viewer):
    kept, inline = kept_and_inline(store, lambda: run(store, scope, viewer, limit=3))
    assert kept.files.equals(inline.files)
    assert (kept.total, kept.total_size) == (inline.total, inline.total_size)
    assert ("derived", ("files on records",)) in store._memo


def test_records_rejects_unknown_kinds(store):
    with pytest.raises(ValueError, match="unknown entity type"):
        run(store).records("task")


def test_sql_is_available(store):
    sql = run(store).sql()
    assert set(sql) == {"files", "totals"} and "files" in sql["files"]


def test_demo_account(desk):
    r = recent_files(Context(desk.store, desk.period("month")), limit=10)
    assert 0 < len(r.files) <= 10 and r.total >= len(r.files)
    assert r.files["created_at"].is_monotonic_decreasing
    assert r.files["entity_name"].notna().all() and r.total_size > 0


def test_a_record_without_a_responsible_user_is_seen_only_by_an_unrestricted_viewer():
    b = AccountBuilder()
    b.deal(1, "2026-01-10", 11, owner=1)
    b.deal(2, "2026-01-10", 11, owner=None)
    b.add("companies", id=300, name="Nobody's", responsible_user_id=None, is_deleted=None)
    for fid, kind, eid in [("g1", "deal", 1), ("g2", "deal", 2), ("g3", "company", 300)]:
        add_file(b, fid, kind, eid, 1, "2026-03-10", 1)
    store = b.open()
    for viewer, want in [(None, {"g1", "g2", "g3"}), (1, {"g1"}), (2, {"g1"})]:
        kept, inline = kept_and_inline(store, lambda v=viewer: run(store, viewer=v))
        assert set(ids(kept)) == set(ids(inline)) == want, viewer
        assert kept.total == inline.total == len(want)
