"""Search: names and note text, case-insensitive, literal, viewer-safe, and never SQL text."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from accounts import AccountBuilder, ts

from deskkit.filters import Period, Scope, Viewer
from deskkit.metrics._base import Context
from deskkit.metrics.search import SNIPPET, search

NOW = dt.datetime(2026, 4, 15, tzinfo=dt.UTC)
MARCH = Period.between(dt.date(2026, 3, 1), dt.date(2026, 3, 31), now=NOW)
LONG = "Call notes: " + "x" * 60 + " the client wants a printer " + "y" * 60


@pytest.fixture(scope="module")
def built():
    b = AccountBuilder()
    deals = [
        (1, "Laser Printers March", 1, "2026-03-05", False),
        (2, "50% off chairs", 2, "2026-02-05", False),
        (3, "printer_ink", 1, "2026-03-06", True),  # deleted
        (4, "Big_Deal", 3, "2026-03-07", False),
    ]
    for deal_id, name, owner, created, deleted in deals:
        b.deal(deal_id, created, 11, owner=owner, deleted=deleted)
        b.rows["deals"][-1]["name"] = name
    for table, rid, name, owner, created, deleted in [
        ("contacts", 100, "Ivan Printerov", 1, "2026-02-01", False),
        ("contacts", 101, "Deleted Printer", 1, "2026-03-02", True),
        ("companies", 200, "Printers Ltd", 2, "2026-03-10", False),
    ]:
        b.add(
            table,
            id=rid,
            name=name,
            responsible_user_id=owner,
            created_at=ts(created),
            is_deleted=deleted,
        )
    for nid, (kind, eid), text, by, at in [
        (1, ("deal", 1), "Sent the PRINTER proposal", 1, "2026-03-06"),
        (2, ("deal", 2), "asked about printer discount", 2, "2026-04-02"),
        (3, ("deal", 3), "printer on a deleted deal", 1, "2026-03-07"),
        (4, ("contact", 100), LONG, 1, "2026-03-01 00:00"),
        (5, ("customer", 7), "printer for a customer", 1, "2026-03-08"),
        (6, ("deal", 4), "100% sure", 3, "2026-03-09"),
    ]:
        b.add(
            "notes",
            note_id=nid,
            entity_type=kind,
            entity_id=eid,
            note_type="common",
            text=text,
            created_by=by,
            created_at=ts(at),
        )
    return b.open()


def run(store, text: str, scope=None, viewer=None, **kw):
    return search(Context(store, MARCH, scope or Scope(), Viewer(viewer)), text, **kw)


def found(r) -> set[tuple]:
    m = r.matches
    keys = zip(m["entity_type"], m["entity_id"], m["field"], m["note_id"], strict=True)
    return {(t, int(i), f, None if pd.isna(n) else int(n)) for t, i, f, n in keys}


PRINTER = {
    ("deal", 1, "name", None),
    ("contact", 100, "name", None),
    ("company", 200, "name", None),
    ("deal", 1, "note", 1),
    ("deal", 2, "note", 2),
    ("contact", 100, "note", 4),
}


def test_names_and_notes_case_insensitive(built):
    # Not: deal 3 and contact 101 (deleted), note 3 (deleted deal), note 5 (a customer).
    r = run(built, "printer")
    assert found(r) == PRINTER and r.total == 6
    assert found(run(built, "PRINTER")) == PRINTER
    assert r.counts.set_index(["entity_type", "field"])["matches"].to_dict() == {
        ("company", "name"): 1,
        ("contact", "name"): 1,
        ("contact", "note"): 1,
        ("deal", "name"): 1,
        ("deal", "note"): 2,
    }


def test_newest_first_with_limit(built):
    r = run(built, "printer", limit=2)
    # Note 2 (Apr 2), company 200 (Mar 10) come first; the counts still cover all six.
    assert list(zip(r.matches["entity_type"], r.matches["field"], strict=True)) == [
        ("deal", "note"),
        ("company", "name"),
    ]
    assert r.total == 6 and len(r.records()) == 6


def test_note_snippet_is_cut_around_the_match(built):
    m = run(built, "printer").matches
    snip = m.loc[m["note_id"] == 4, "snippet"].iloc[0]
    assert "printer" in snip and snip.startswith("\u2026") and snip.endswith("\u2026")
    assert len(snip) == 2 + 2 * SNIPPET + len("printer")
    assert (
        m.loc[m["field"] == "name", "name"].tolist()
        == m.loc[m["field"] == "name", "snippet"].tolist()
    )
    assert set(m.loc[m["note_id"] == 4, "name"]) == {"Ivan Printerov"}  # the record's name


def test_viewer_rights(built):
    # Anna (own): her deal 1 and contact 100 with their notes; not Boris's deal 2 or company.
    anna = run(built, "printer", viewer=1)
    assert found(anna) == {
        ("deal", 1, "name", None),
        ("contact", 100, "name", None),
        ("deal", 1, "note", 1),
        ("contact", 100, "note", 4),
    }
    assert found(run(built, "printer", viewer=2)) == PRINTER  # group North


def test_scope(built):
    boris = run(built, "printer", Scope(user=2))
    assert found(boris) == {("company", 200, "name", None), ("deal", 2, "note", 2)}
    assert run(built, "printer", Scope(department="South")).total == 0


def test_period_only(built):
    r = run(built, "printer", period_only=True)
    # Deal 1 (Mar 5), company 200 (Mar 10), note 1 (Mar 6), note 4 (Mar 1 00:00); not
    # contact 100 (Feb 1) or note 2 (Apr 2).
    assert found(r) == {
        ("deal", 1, "name", None),
        ("company", 200, "name", None),
        ("deal", 1, "note", 1),
        ("contact", 100, "note", 4),
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("%", {("deal", 2, "name", None), ("deal", 4, "note", 6)}),  # literal percent signs
        ("_", {("deal", 4, "name", None)}),  # a literal underscore (printer_ink is deleted)
        ("'; DROP TABLE deals; --", set()),
        ("' OR '1'='1", set()),
    ],
)
def test_search_text_is_matched_literally_and_never_runs(built, text, expected):
    before = built.table("deals").count().execute()
    r = run(built, text)
    assert found(r) == expected
    assert built.table("deals").count().execute() == before == 4
    # The text reaches the SQL only as one quoted literal, its quotes doubled.
    literal = "'" + text.lower().replace("'", "''") + "'"
    assert literal in r.sql()["counts"]


def test_blank_text_finds_nothing(built):
    r = run(built, "   ")
    assert r.matches.empty and r.total == 0 and r.records().empty


def test_records_by_kind(built):
    r = run(built, "printer")
    assert list(r.records("contact")["entity_id"]) == [100, 100]
    with pytest.raises(ValueError, match="unknown entity type"):
        r.records("task")


def test_demo_account(desk):
    r = search(Context(desk.store, desk.period("month")), "printer", limit=20)
    assert len(r.matches) == 20 and r.total > 20
    assert r.matches["snippet"].str.lower().str.contains("printer").all()
    assert r.matches["created_at"].is_monotonic_decreasing
