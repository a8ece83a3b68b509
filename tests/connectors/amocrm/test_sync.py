"""The amoCRM sync: a full load gives the desktop the generator's own numbers, a later run
fetches only what changed and ends where a fresh full sync ends, and records that cannot be
mapped are kept as rejects with their reasons."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import duckdb
import pandas as pd
import pytest
from stores import NOW
from test_sync_helpers import (
    CHANGED,
    END,
    LATER,
    TOKEN,
    assert_same_store,
    change_account,
    copy_store,
    rows,
    run_sync,
    serve,
    state,
    synced_copy,
)

import deskkit
from deskkit.connectors.amocrm.mapping import MapContext, map_entities, map_notes, map_tasks
from deskkit.connectors.amocrm.mapping_events import map_events
from deskkit.connectors.amocrm.snapshot import Layout
from deskkit.connectors.amocrm.standin import StandIn
from deskkit.connectors.amocrm.sync import OVERLAP, fill_scores
from deskkit.store.schema import SCHEMA
from deskkit.widgets import Filters, widgets

# Widgets whose numbers the API cannot carry, and why. Everything else must be equal.
EXCLUDED = {
    # amoCRM has no presence API: the synced store has no sessions, so the metric derives
    # them from each user's own events (and says so in ``source``), the generator's has them.
    "system_usage",
    # Goals are deskkit settings, not CRM records: a store starts without them (a sync keeps
    # those set in the store, see test_local_settings_survive_a_sync).
    "goals",
}
# deals_by_manager: these depend on users.deal_capacity, a deskkit setting the API has not.
CAPACITY_COLUMNS = ["capacity", "capacity_set", "over_capacity", "load"]


@pytest.fixture
def standin(amo_store: Path) -> Iterator[StandIn]:
    yield from serve(amo_store)


@pytest.fixture(scope="module")
def synced(amo_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A full sync of the 300-deal demo account, as of its last second."""
    return synced_copy(amo_store, tmp_path_factory.mktemp("synced"))


# Comparing results ---------------------------------------------------------------------------


def differences(a: Any, b: Any, path: str) -> list[str]:
    """Where two metric results differ (DataFrames, dataclasses, sequences, numbers)."""
    if isinstance(a, pd.DataFrame):
        try:
            pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
        except AssertionError as exc:
            return [f"{path}: {exc}"]
        return []
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        out = []
        for f in dataclasses.fields(a):
            if not f.name.startswith("_"):
                out += differences(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
        return out
    if isinstance(a, list | tuple):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items vs {len(b)}"]
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in differences(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return []
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def events_without_nps(result: Any, limit: int) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """The events widget with the API's nps_rate_added events taken out (the generator keeps
    NPS responses only in its nps table; the API also lists them as events)."""
    nps = result.counts.loc[result.counts["type"] == "nps_rate_added", "count"].sum()
    counts = result.counts[result.counts["type"] != "nps_rate_added"]
    feed = result.feed[result.feed["type"] != "nps_rate_added"]
    return feed.head(limit), counts, result.total - int(nps)


# Full load -----------------------------------------------------------------------------------


def test_full_sync_gives_the_generator_tables(synced, amo_store):
    """Table by table, the synced store holds the generator's rows, except where the API
    cannot carry them (documented per table below)."""
    only_generator = {"presence", "goals"}  # no API: see EXCLUDED
    special = {"users", "events"}
    for table in SCHEMA:
        if table in only_generator | special:
            continue
        assert rows(synced, table) == rows(amo_store, table), table
    for table in only_generator:
        assert rows(synced, table) == []
    # users: everything but deal_capacity, deskkit's own setting (the API has none).
    cols = [c for c in SCHEMA["users"].names if c != "deal_capacity"]
    strip = [cols.index(c) for c in cols]
    users = [tuple(r[i] for i in strip) for r in _select(synced, "users", cols)]
    assert users == [tuple(r[i] for i in strip) for r in _select(amo_store, "users", cols)]
    # events: the generator's events, plus one nps_rate_added per NPS response; the raw values
    # are the API's JSON: equal to the generator's where it has one, and where it has none the
    # stand-in's ([], or the message / note the event refers to).
    mine = {r[0]: r for r in rows(synced, "events")}
    theirs = {r[0]: r for r in rows(amo_store, "events")}
    nps = {k for k, r in mine.items() if r[1] == "nps_rate_added"}
    assert set(mine) - nps == set(theirs)
    assert len(nps) == len(rows(amo_store, "nps"))
    for eid, row in theirs.items():
        assert mine[eid][:6] == row[:6]
        for k in (6, 7):
            if row[k] is not None:
                assert mine[eid][k] == row[k]
            else:
                assert isinstance(json.loads(mine[eid][k]), list)


def _select(path: Path, table: str, cols: list[str]) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = ", ".join(f'"{c}"' for c in cols)
        return con.execute(f'SELECT {names} FROM "{table}" ORDER BY ALL').fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("period", ["month", "year"])
def test_every_widget_shows_the_generator_numbers(synced, amo_store, period):
    theirs = deskkit.open(amo_store, now=NOW)
    mine = deskkit.open(synced, now=NOW)
    filters = Filters(period=period)
    compared = []
    for widget in widgets():
        if not widget.builtin or widget.id in EXCLUDED:
            continue
        a, b = widget.compute(theirs, filters), widget.compute(mine, filters)
        if widget.id == "deals_by_manager":
            a.managers.drop(columns=CAPACITY_COLUMNS, inplace=True)
            b.managers.drop(columns=CAPACITY_COLUMNS, inplace=True)
            a, b = (dataclasses.replace(r, over=0) for r in (a, b))
        if widget.id == "events":
            feed, counts, total = events_without_nps(b, len(a.feed))
            assert differences(a.counts, counts, "events.counts") == []
            assert total == a.total
            # The nps events push some of the generator's events out of the capped feed.
            assert differences(a.feed.head(len(feed)), feed, "events.feed") == []
            compared.append(widget.id)
            continue
        assert differences(a, b, widget.id) == [], widget.id
        compared.append(widget.id)
    assert len(compared) == len([w for w in widgets() if w.builtin]) - len(EXCLUDED)
    # The excluded ones still compute on the synced store; usage says where it came from.
    usage = mine.system_usage(period)
    assert usage.source == "derived from events" and usage.hours > 0
    assert mine.goals().goals.empty
    for desk in (theirs, mine):
        desk.store.backend.disconnect()


def test_local_settings_survive_a_sync(standin, amo_store, tmp_path):
    """Goals and deal capacities (deskkit's settings) set in the store are carried into every
    later snapshot; with them, the goals and deals-by-manager widgets match as well."""
    store = synced_copy(amo_store, tmp_path)
    con = duckdb.connect(str(store.resolve()))  # the published snapshot, nobody reading it
    con.execute(f"ATTACH '{amo_store}' AS gen (READ_ONLY)")
    con.execute("INSERT INTO goals SELECT * FROM gen.goals")
    con.execute(
        "UPDATE users SET deal_capacity = g.deal_capacity FROM gen.users g "
        "WHERE users.user_id = g.user_id"
    )
    con.close()
    report = run_sync(standin, store)
    assert report.generation == 2 and not report.full
    assert rows(store, "users") == rows(amo_store, "users")
    theirs, mine = deskkit.open(amo_store, now=NOW), deskkit.open(store, now=NOW)
    for name in ("goals", "deals_by_manager"):
        a, b = getattr(theirs, name)(), getattr(mine, name)()
        assert differences(a, b, name) == []
    for desk in (theirs, mine):
        desk.store.backend.disconnect()


# Incremental ---------------------------------------------------------------------------------


def _queries(api: StandIn, path: str) -> list[dict[str, list[str]]]:
    return [parse_qs(e.query) for e in api.log if e.path == path]


def test_incremental_sync_fetches_only_changes_and_ends_like_a_full_sync(
    amo_store, synced, tmp_path
):
    store = synced_copy(amo_store, tmp_path)
    marks = {k: int(v) for k, v in state(store, "watermark:").items()}
    changed_path = copy_store(amo_store, tmp_path / "changed.duckdb")
    ids = change_account(changed_path)
    with StandIn(changed_path, token=TOKEN, rate_limit=None) as api:
        report = run_sync(api, store, now=LATER)
        log = list(api.log)
        leads = _queries(api, "/api/v4/leads")
        events = _queries(api, "/api/v4/events")
    assert not report.full and report.generation == 2 and report.rejected == 0
    # Every list was read only from its watermark (minus the overlap) to the run start.
    windows = [q for q in leads if "filter[updated_at][from]" in q]
    assert windows and all(
        int(q["filter[updated_at][from]"][0]) >= marks["watermark:leads"] - OVERLAP
        or int(q["filter[updated_at][from]"][0]) >= marks["watermark:leads_deleted"] - OVERLAP
        for q in windows
    )
    later = int(LATER.replace(tzinfo=dt.UTC).timestamp())
    assert all(int(q["filter[updated_at][to]"][0]) == later for q in windows)
    assert all(
        int(q["filter[created_at][from]"][0]) == marks["watermark:events"] - OVERLAP for q in events
    )
    # The leads read are exactly those changed (or in the overlap), not the 300 of the account.
    con = duckdb.connect(str(changed_path), read_only=True)
    since = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=marks["watermark:leads"] - OVERLAP)
    expected = con.execute(
        "SELECT count(*) FROM deals WHERE NOT is_deleted AND updated_at >= ?", [since]
    ).fetchone()[0]
    events_expected = con.execute(
        "SELECT count(*) FROM events WHERE created_at >= ?",
        [dt.datetime(1970, 1, 1) + dt.timedelta(seconds=marks["watermark:events"] - OVERLAP)],
    ).fetchone()[0]
    con.close()
    fetched = {s.name: s.fetched for s in report.streams}
    assert fetched["leads"] == expected < 10
    assert fetched["events"] == events_expected < 20
    assert len(log) < 40
    # The deletion that left updated_at alone was found from its event and fetched by id.
    by_id = [q for q in leads if any(k.startswith("filter[id]") for k in q)]
    assert by_id and all("only_deleted" in q["with"][0] for q in by_id)
    # And the result is what a fresh full sync of the changed account gives.
    fresh = tmp_path / "fresh.duckdb"
    with StandIn(changed_path, token=TOKEN, rate_limit=None) as api:
        run_sync(api, fresh, now=LATER)
    assert_same_store(store, fresh)
    deals = {r[0]: r for r in rows(store, "deals")}
    assert deals[ids["gone"]][-1] and deals[ids["quiet"]][-1]  # is_deleted
    assert ids["new"] in deals
    moves = [r for r in rows(store, "deal_moves") if r[0] == ids["move"]]
    assert max(r[1] for r in moves) == CHANGED
    tasks = {r[0]: r for r in rows(store, "tasks")}
    assert tasks[ids["task"]][-1] == CHANGED  # completed_at from the task_completed event


def test_rerunning_a_finished_sync_changes_nothing(standin, amo_store, synced, tmp_path):
    store = synced_copy(amo_store, tmp_path)
    report = run_sync(standin, store)
    assert report.generation == 2 and report.fetched < 100
    assert_same_store(store, synced)
    assert Layout.of(store).published() == 2


# Mapping -------------------------------------------------------------------------------------

CTX = MapContext(__import__("zoneinfo").ZoneInfo("Europe/Moscow"), {1: "follow-up"}, {})


def test_a_bad_record_is_rejected_with_the_field_named_and_the_page_goes_on():
    good = {"id": 1, "status_id": 142, "pipeline_id": 5, "created_at": 10, "updated_at": 20}
    batch = map_entities(
        "leads",
        [
            good,
            {**good, "id": None},
            {**good, "id": 2, "price": "n/a"},
            {**good, "id": 3, "created_at": "2024-13-45T25:61:00"},
            {**good, "id": 4, "updated_at": None},
            {**good, "id": 5, "custom_fields_values": {"broken": True}},
            "not a record",
        ],
        CTX,
    )
    assert [r["deal_id"] for r in batch.upserts["deals"]] == [1]
    reasons = [reason for _, reason in batch.rejects]
    assert reasons == [
        "id: missing",
        "price: 'n/a' is not a number",
        "created_at: '2024-13-45T25:61:00' is not a Unix timestamp",
        "updated_at: missing",
        "custom_fields_values: is not a list",
        "record: is not an object",
    ]
    assert json.loads(batch.rejects[1][0])["price"] == "n/a"  # the raw record is kept


def test_custom_values_one_row_per_value_in_store_form():
    lead = {
        "id": 7,
        "status_id": 1,
        "pipeline_id": 1,
        "created_at": 0,
        "updated_at": 0,
        "custom_fields_values": [
            {
                "field_id": 10,
                "field_type": "multiselect",
                "values": [{"value": "A", "enum_id": 101}, {"value": "B", "enum_id": 102}],
            },
            {"field_id": 11, "field_type": "checkbox", "values": [{"value": True}]},
            {"field_id": 12, "field_type": "date", "values": [{"value": 1764190800}]},
            {"field_id": 13, "field_type": "numeric", "values": [{"value": "12"}]},
            {"field_id": 14, "field_type": "smart_address", "values": [{"value": {"a": 1}}]},
        ],
        "_embedded": {"tags": [{"id": 1, "name": "vip"}], "contacts": [{"id": 3, "is_main": 1}]},
    }
    batch = map_entities("leads", [lead], CTX)
    children = batch.children[("deal", 7)]
    got = [(r["field_id"], r["value"], r["enum_id"]) for r in children["custom_values"]]
    assert got == [
        (10, "A", 101),
        (10, "B", 102),
        (11, "1", None),
        (12, "2025-11-27", None),  # local midnight in Moscow
        (13, "12", None),
        (14, '{"a": 1}', None),
    ]
    assert [t["tag"] for t in children["tags"]] == ["vip"]
    assert batch.upserts["deals"][0]["main_contact_id"] == 3


def test_events_keep_raw_json_and_unknown_shapes_never_fail():
    base = {"entity_type": "lead", "entity_id": 7, "created_by": 3, "created_at": 100}
    batch = map_events(
        [
            {**base, "id": "a", "type": "some_future_type", "value_after": [{"x": {"y": 1}}]},
            {**base, "id": "b", "type": "lead_status_changed", "value_after": [{"odd": 1}]},
            {**base, "id": "c", "type": "outgoing_chat_message",
             "value_after": [{"message": {"id": "m1", "origin": "telegram", "talk_id": 9}}]},
            {**base, "id": "d", "type": "incoming_chat_message", "created_by": 0,
             "value_after": [{"message": {"id": "m2", "origin": "telegram", "talk_id": 9}}]},
            {**base, "id": "e", "type": "nps_rate_added",
             "value_after": [{"nps_rate": {"rate": 11, "talk_id": 5}}]},
            {**base, "id": "f", "type": "lead_added", "created_at": "yesterday"},
        ]
    )  # fmt: skip
    stored = {ev["event_id"]: (ev, derived) for ev, derived in batch.events}
    assert set(stored) == {"a", "b", "c", "d", "e"}
    assert stored["a"][0]["value_after"] == '[{"x": {"y": 1}}]' and stored["a"][1] == {}
    assert stored["b"][1] == {}  # the event is kept; the move it should give is a reject
    assert stored["c"][1]["messages"][0] | {"created_at": None} == {
        "message_id": "m1", "talk_id": 9, "entity_type": "deal", "entity_id": 7,
        "direction": "out", "channel": "telegram", "created_at": None, "user_id": 3,
    }  # fmt: skip
    assert stored["d"][1]["messages"][0]["user_id"] is None
    reasons = [r for _, r in batch.rejects]
    assert reasons == [
        "lead_status_changed b: lead_status: not in the event value (event kept, no row derived)",
        "nps_rate_added e: nps_rate.rate: 11 is not a score from 0 to 10 (event kept, no row "
        "derived)",
        "created_at: 'yesterday' is not a Unix timestamp",
    ]


def test_notes_become_notes_calls_and_files_and_tasks_take_their_type_name():
    base = {"entity_id": 7, "created_by": 3, "created_at": 100, "updated_at": 100}
    batch = map_notes(
        "leads",
        [
            {**base, "id": 1, "note_type": "common", "params": {"text": "hi"}},
            {**base, "id": 2, "note_type": "call_in", "params": {"duration": 61}},
            {**base, "id": 3, "note_type": "attachment",
             "params": {"file_uuid": "u-1", "file_name": "a.pdf", "file_size": 10}},
        ],
    )  # fmt: skip
    assert batch.upserts["notes"][0]["text"] == "hi"
    assert batch.upserts["calls"][0]["duration_s"] == 61
    assert batch.upserts["calls"][0]["direction"] == "in"
    assert batch.upserts["files"][0]["file_id"] == "u-1"
    tasks = map_tasks(
        [{"id": 5, "task_type_id": 1, "entity_type": "leads", "is_completed": True,
          "created_at": 1, "updated_at": 2}],
        CTX,
    )  # fmt: skip
    task = tasks.upserts["tasks"][0]
    assert (task["task_type"], task["entity_type"]) == ("follow-up", "deal")
    assert task["completed_at"] == dt.datetime(1970, 1, 1, 0, 0, 2)  # updated_at until derived
    assert END < CHANGED < LATER


def test_a_missing_nps_rate_is_read_from_the_talk():
    base = {"type": "nps_rate_added", "entity_type": "lead", "entity_id": 7, "created_at": 100}
    batch = map_events(
        [
            {**base, "id": "n1", "value_after": [{"nps_rate": {"talk_id": 41}}]},
            {**base, "id": "n2", "value_after": [{"nps_rate": {"talk_id": 42}}]},
        ]
    )
    talks = {"/api/v4/talks/41": {"talk_id": 41, "rate": 9}, "/api/v4/talks/42": {"rate": None}}
    fill_scores(batch, talks.__getitem__)
    scores = {ev["event_id"]: derived["nps"] for ev, derived in batch.events}
    assert scores["n1"][0]["score"] == 9 and scores["n2"] == []
    assert [r for _, r in batch.rejects] == ["nps_rate.rate: talk 42 has no score 0-10"]
