"""The demo-account generator: schema conformance, life-cycle invariants, determinism, realism."""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from deskkit.connectors.demo import generate
from deskkit.store.build import CLUSTER_KEYS, append, create_tables, duckdb_type
from deskkit.store.schema import SCHEMA

AS_OF = dt.date(2026, 11, 27)
# The package re-exports the function under the module's name; this is the module.
generate_module = importlib.import_module("deskkit.connectors.demo.generate")
N_DEALS = 3_000
# End of the as_of day in Moscow (UTC+3), as a naive UTC timestamp.
END = "TIMESTAMP '2026-11-27 20:59:59'"
# Timestamp columns allowed to lie in the future: task deadlines.
FUTURE_OK = {
    ("tasks", "deadline"),
    ("task_deadline_changes", "old_deadline"),
    ("task_deadline_changes", "new_deadline"),
}


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    return generate(path, deals=N_DEALS, seed=7, as_of=AS_OF)


@pytest.fixture(scope="module")
def con(db_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect(str(db_path), read_only=True)
    yield c
    c.close()


def one(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    return con.execute(sql).fetchone()[0]


def test_writes_atomically_and_returns_path(db_path: Path) -> None:
    assert db_path.exists()
    assert [p.name for p in db_path.parent.iterdir()] == [db_path.name]  # no temp file left


@pytest.mark.parametrize("table", list(SCHEMA))
def test_table_columns_types_and_rows(con: duckdb.DuckDBPyConnection, table: str) -> None:
    cols = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_name = ? order by ordinal_position",
        [table],
    ).fetchall()
    assert cols == [(c, duckdb_type(t)) for c, t in SCHEMA[table].items()]
    n = one(con, f'select count(*) from "{table}"')
    if table == "rejects":
        assert n == 0
    else:
        assert n > 0


def test_counts_match_request(con: duckdb.DuckDBPyConnection) -> None:
    assert one(con, "select count(*) from deals") == N_DEALS
    assert one(con, "select count(*) from account") == 1
    assert str(one(con, "select synced_at from account")) == "2026-11-27 20:59:59"
    assert one(con, "select min(created_at) from deals") >= dt.datetime(2024, 11, 26)


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("deals", "deal_id"),
        ("tasks", "task_id"),
        ("events", "event_id"),
        ("messages", "message_id"),
        ("calls", "call_id"),
        ("notes", "note_id"),
        ("files", "file_id"),
        ("contacts", "id"),
        ("companies", "id"),
        ("customers", "customer_id"),
        ("nps", "response_id"),
        ("users", "user_id"),
    ],
)
def test_ids_unique(con: duckdb.DuckDBPyConnection, table: str, key: str) -> None:
    assert one(con, f"select count(*) - count(distinct {key}) from {table}") == 0


def test_moves_strictly_increasing_after_creation(con: duckdb.DuckDBPyConnection) -> None:
    assert (
        one(
            con,
            "select count(*) from deal_moves m join deals d using (deal_id) "
            "where m.at <= d.created_at",
        )
        == 0
    )
    assert one(con, "select count(*) - count(distinct row(deal_id, m.at)) from deal_moves m") == 0


def test_moves_chain(con: duckdb.DuckDBPyConnection) -> None:
    broken = """
        select count(*) from (
          select from_pipeline_id, from_stage_id,
                 lag(to_pipeline_id) over w as prev_p, lag(to_stage_id) over w as prev_s
          from deal_moves window w as (partition by deal_id order by "at"))
        where prev_p is not null and (prev_p <> from_pipeline_id or prev_s <> from_stage_id)"""
    assert one(con, broken) == 0
    # The first move leaves the creation stage (recorded on the lead_added event).
    first = """
        select count(*) from deal_moves m join events e
          on e.type = 'lead_added' and e.entity_id = m.deal_id
        where m."at" = (select min("at") from deal_moves x where x.deal_id = m.deal_id)
          and e.value_after <> format('[{{"lead_status": {{"id": {}, "pipeline_id": {}}}}}]',
                                      m.from_stage_id, m.from_pipeline_id)"""
    assert one(con, first) == 0
    assert one(con, "select count(*) from deal_moves") > 0


def test_deal_stage_is_last_move_or_creation_stage(con: duckdb.DuckDBPyConnection) -> None:
    sql = """
        with last as (select deal_id, arg_max(to_pipeline_id, "at") p, arg_max(to_stage_id, "at") s
                      from deal_moves group by 1),
             born as (select entity_id deal_id, value_after v from events where type = 'lead_added')
        select count(*) from deals d left join last l using (deal_id) join born b using (deal_id)
        where (l.deal_id is not null and (d.pipeline_id <> l.p or d.stage_id <> l.s))
           or (l.deal_id is null and b.v <> format(
                 '[{{"lead_status": {{"id": {}, "pipeline_id": {}}}}}]', d.stage_id, d.pipeline_id))
    """
    assert one(con, sql) == 0


@pytest.mark.parametrize(
    ("table", "pipe", "stage"),
    [
        ("deals", "pipeline_id", "stage_id"),
        ("deal_moves", "from_pipeline_id", "from_stage_id"),
        ("deal_moves", "to_pipeline_id", "to_stage_id"),
    ],
)
def test_stages_exist(con: duckdb.DuckDBPyConnection, table: str, pipe: str, stage: str) -> None:
    sql = f"""select count(*) from {table} t left join stages s
              on s.pipeline_id = t.{pipe} and s.stage_id = t.{stage} where s.kind is null"""
    assert one(con, sql) == 0


def test_closed_at_iff_closed_stage(con: duckdb.DuckDBPyConnection) -> None:
    sql = """select count(*) from deals d join stages s using (pipeline_id, stage_id)
             where (closed_at is not null) <> (s.kind in ('won', 'lost'))"""
    assert one(con, sql) == 0
    last = """select count(*) from deals d
              join (select deal_id, max("at") "at" from deal_moves group by 1) m using (deal_id)
              where d.closed_at is not null and d.closed_at <> m."at" """
    assert one(con, last) == 0
    reasons = """select count(*) from deals d join stages s using (pipeline_id, stage_id)
                 where (loss_reason_id is not null) <> (s.kind = 'lost')"""
    assert one(con, reasons) == 0


def test_no_timestamp_after_end(con: duckdb.DuckDBPyConnection) -> None:
    late = {}
    for table, schema in SCHEMA.items():
        for col, typ in schema.items():
            if typ.is_timestamp() and (table, col) not in FUTURE_OK:
                late[(table, col)] = one(
                    con, f'select count(*) from "{table}" where "{col}" > {END}'
                )
    assert all(v == 0 for v in late.values()), {k: v for k, v in late.items() if v}
    assert one(con, f"select count(*) from tasks where deadline > {END} and not is_completed") > 0


def test_tasks_consistent(con: duckdb.DuckDBPyConnection) -> None:
    assert (
        one(con, "select count(*) from tasks where (completed_at is null) <> (not is_completed)")
        == 0
    )
    assert (
        one(
            con,
            "select count(*) from tasks t join deals d on d.deal_id = t.entity_id "
            "where t.created_at <= d.created_at or t.deadline <= t.created_at",
        )
        == 0
    )
    chain = """select count(*) from (
                 select task_id, old_deadline, lag(new_deadline) over w prev,
                        "at", lag("at") over w pat
                 from task_deadline_changes window w as (partition by task_id order by "at"))
               where prev is not null and (old_deadline <> prev or "at" <= pat)"""
    assert one(con, chain) == 0
    final = """select count(*) from tasks t join (select task_id, arg_max(new_deadline, "at") d
               from task_deadline_changes group by 1) c using (task_id) where t.deadline <> c.d"""
    assert one(con, final) == 0
    share = one(
        con,
        "select count(distinct task_id) / (select count(*) from tasks) from task_deadline_changes",
    )
    assert 0.1 < share < 0.3


def test_events_cover_moves_and_tasks(con: duckdb.DuckDBPyConnection) -> None:
    assert one(con, "select count(*) from events where type = 'lead_status_changed'") == one(
        con, "select count(*) from deal_moves"
    )
    assert one(con, "select count(*) from events where type = 'task_added'") == one(
        con, "select count(*) from tasks"
    )
    assert one(con, "select count(*) from events where type = 'lead_deleted'") == one(
        con, "select count(*) from deals where is_deleted"
    )
    types = {r[0] for r in con.execute("select distinct type from events").fetchall()}
    assert types == {
        "lead_added",
        "lead_status_changed",
        "lead_deleted",
        "task_added",
        "task_completed",
        "task_deadline_changed",
        "incoming_call",
        "outgoing_call",
        "common_note_added",
        "incoming_chat_message",
        "outgoing_chat_message",
        "entity_responsible_changed",
        "sale_field_changed",
    }
    assert one(con, "select count(*) from events where created_by = 0") > 0


def test_entity_types_known(con: duckdb.DuckDBPyConnection) -> None:
    for table, schema in SCHEMA.items():
        if "entity_type" in schema:
            bad = one(
                con,
                f"select count(*) from {table} where entity_type not in "
                "('deal', 'contact', 'company', 'customer', 'task')",
            )
            assert bad == 0, table


def test_messages_shape(con: duckdb.DuckDBPyConnection) -> None:
    assert (
        one(con, "select count(*) from messages where (user_id is null) <> (direction = 'in')") == 0
    )
    talks = one(con, "select count(distinct entity_id) from messages")
    assert 0.4 * N_DEALS < talks < 0.6 * N_DEALS
    # Unanswered talks: the last message is incoming.
    unanswered = one(
        con,
        "select count(*) from (select talk_id, arg_max(direction, created_at) d "
        "from messages group by 1) where d = 'in'",
    )
    assert 0.05 * talks < unanswered < 0.3 * talks
    # Reply delay (first out after an in): median of minutes to an hour or so.
    median_min = one(
        con,
        """
        select median(epoch(created_at - prev)) / 60 from (
          select direction, created_at, lag(direction) over w pd, lag(created_at) over w prev
          from messages window w as (partition by talk_id order by created_at))
        where direction = 'out' and pd = 'in'""",
    )
    assert 10 < median_min < 120


def test_distribution_sanity(con: duckdb.DuckDBPyConnection) -> None:
    assert one(con, "select count(distinct pipeline_id) from deals") >= 3
    kinds = {
        r[0]
        for r in con.execute(
            "select distinct kind from deals join stages using (pipeline_id, stage_id)"
        ).fetchall()
    }
    assert kinds == {"unsorted", "open", "won", "lost"}
    moves = """select count(*) from deal_moves m
        join stages f on f.pipeline_id = m.from_pipeline_id and f.stage_id = m.from_stage_id
        join stages t on t.pipeline_id = m.to_pipeline_id and t.stage_id = m.to_stage_id
        where m.from_pipeline_id = m.to_pipeline_id and f.kind = 'open' and t.kind = 'open' and """
    assert one(con, moves + "t.sort < f.sort") > 0  # backward
    assert one(con, moves + "t.sort > f.sort + 10") > 0  # skipping stages
    transfers = one(
        con,
        "select count(distinct deal_id) from deal_moves where from_pipeline_id <> to_pipeline_id",
    )
    assert 0.02 * N_DEALS < transfers < 0.15 * N_DEALS
    reopened = """select count(*) from deal_moves m join stages f
        on f.pipeline_id = m.from_pipeline_id and f.stage_id = m.from_stage_id
        where f.kind in ('won', 'lost')"""
    assert one(con, reopened) > 0
    deleted = one(con, "select avg(is_deleted::int) from deals")
    assert 0.005 < deleted < 0.05
    assert one(con, "select count(*) from tasks where is_completed and completed_at > deadline") > 0
    assert one(con, f"select count(*) from tasks where not is_completed and deadline < {END}") > 0
    assert (
        one(
            con,
            """select count(*) from (select entity_id from custom_values v
        join custom_fields f using (field_id) where f.type = 'multiselect'
        group by entity_id having count(*) >= 2)""",
        )
        > 0
    )
    robots = one(con, "select avg((by_user_id = 0)::int) from deal_moves")
    assert 0.01 < robots < 0.2
    assert one(con, "select count(distinct created_by) from deals where created_by = 0") == 1
    win_rates = con.execute("""select responsible_user_id, avg((stage_id = 142)::int) r
        from deals where closed_at is not null group by 1 having count(*) > 100
        order by r""").fetchall()
    assert win_rates[-1][1] - win_rates[0][1] > 0.1  # skill matters


def test_open_deals_without_open_task(con: duckdb.DuckDBPyConnection) -> None:
    share = one(
        con,
        """select avg((t.entity_id is null)::int) from deals d
        join stages s using (pipeline_id, stage_id)
        left join (select distinct entity_id from tasks where not is_completed) t
          on t.entity_id = d.deal_id
        where s.kind in ('open', 'unsorted') and not d.is_deleted""",
    )
    assert 0.15 < share < 0.45


def test_people_and_lookups(con: duckdb.DuckDBPyConnection) -> None:
    assert one(con, "select count(*) from users where is_admin and deal_access = 'all'") >= 1
    assert (
        one(
            con,
            "select count(*) from users u where not is_active and exists "
            "(select 1 from deals d where d.responsible_user_id = u.user_id)",
        )
        >= 1
    )
    access = {r[0] for r in con.execute("select distinct deal_access from users").fetchall()}
    assert access == {"all", "group", "own"}
    assert one(con, "select count(*) from users where deal_capacity is null") > 0
    assert one(con, "select count(distinct group_id) from users") == 3
    assert one(con, "select count(distinct cadence) from goals") >= 2
    # Presence: working days, within 9:00–19:00 Moscow time.
    assert (
        one(
            con,
            """select count(*) from presence where ended_at <= started_at
        or hour(started_at + interval 3 hour) < 9 or ended_at + interval 3 hour >
           date_trunc('day', started_at + interval 3 hour) + interval 19 hour
        or isodow(started_at + interval 3 hour) > 5""",
        )
        == 0
    )
    assert one(con, "select count(*) from nps where score not between 0 and 10") == 0
    assert one(con, "select avg(score) from nps") > 7
    ratio = one(con, "select count(*) / (select count(*) from deals) from contacts")
    assert 0.6 < ratio < 1.0
    assert one(con, "select count(*) from notes where text like '%RUB%'") > 0


def _snapshot(path: Path) -> dict[str, pa.Table]:
    with duckdb.connect(str(path), read_only=True) as c:
        return {
            t: c.execute(f'select * from "{t}" order by all').fetch_arrow_table() for t in SCHEMA
        }


def test_deterministic(db_path: Path, tmp_path: Path) -> None:
    again = generate(tmp_path / "again.duckdb", deals=N_DEALS, seed=7, as_of=AS_OF)
    a, b = _snapshot(db_path), _snapshot(again)
    for t in SCHEMA:
        assert a[t].equals(b[t]), t
    other = _snapshot(generate(tmp_path / "other.duckdb", deals=N_DEALS, seed=8, as_of=AS_OF))
    assert not a["deals"].equals(other["deals"])
    assert a["stages"].equals(other["stages"])


def test_several_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A small chunk size exercises chunk boundaries (ids, shared contacts) cheaply.
    monkeypatch.setattr(generate_module, "CHUNK_SIZE", 700)
    path = generate(tmp_path / "chunks.duckdb", deals=2_000, seed=3, as_of=AS_OF)
    with duckdb.connect(str(path), read_only=True) as c:
        assert one(c, "select count(distinct deal_id) from deals") == 2_000
        for table, key in [("tasks", "task_id"), ("events", "event_id"), ("contacts", "id")]:
            assert one(c, f"select count(*) - count(distinct {key}) from {table}") == 0
        assert (
            one(
                c,
                "select count(*) from deals d left join contacts c "
                "on c.id = d.main_contact_id where d.main_contact_id is not null "
                "and c.id is null",
            )
            == 0
        )
        # Creation time increases with the deal id across chunks.
        assert (
            one(
                c,
                "select count(*) from (select created_at, lag(created_at) over "
                "(order by deal_id) prev from deals) where created_at < prev",
            )
            == 0
        )


@pytest.mark.parametrize("table", sorted(CLUSTER_KEYS))
def test_large_tables_are_stored_in_time_order(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Range filters on the time column skip row groups only if rows are stored in its order."""
    key = CLUSTER_KEYS[table][0]
    out_of_order = one(
        con,
        f'select count(*) from (select "{key}" as k, lag("{key}") over (order by rowid) as prev '
        f"from {table}) where k < prev",
    )
    assert out_of_order == 0


def test_append_rejects_wrong_columns() -> None:
    con = duckdb.connect()
    create_tables(con)
    frame = pd.DataFrame({"group_id": [1]})
    with pytest.raises(ValueError, match=r"'groups'.*missing.*name"):
        append(con, "groups", frame)
    with pytest.raises(ValueError, match=r"extra.*color"):
        append(con, "groups", frame.assign(name="x", color="red"))
    append(con, "groups", pa.table({"name": ["Sales"], "group_id": [7]}))
    assert con.execute("select group_id, name from groups").fetchall() == [(7, "Sales")]
