"""Opening stores: every kind of target, and one readable error listing every schema problem."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import ibis
import pytest
from accounts import AccountBuilder

import deskkit
from deskkit.store import SCHEMA, SchemaError, open_store

MARCH = (dt.date(2026, 3, 1), dt.date(2026, 3, 31))
NOW = dt.datetime(2026, 4, 15, tzinfo=dt.UTC)


def small_account() -> AccountBuilder:
    b = AccountBuilder(timezone="Europe/Moscow")
    b.deal(1, "2026-02-10", 11, price=10, moves=[("2026-03-05", 13)])
    b.deal(2, "2026-02-10", 12, price=20, moves=[("2026-03-06", 142)])
    return b


def flow_numbers(desk: deskkit.Desk) -> tuple:
    r = desk.pipeline_flow(MARCH)
    return tuple(r.stages["deals"]), tuple(r.stages["net_in"]), r.won, r.won_budget


@pytest.fixture
def duckdb_file(tmp_path):
    path = tmp_path / "crm.duckdb"
    con = ibis.duckdb.connect(str(path))
    small_account().write(con)
    con.disconnect()
    return path


def test_duckdb_file_and_url_give_the_same_numbers(duckdb_file):
    by_path = deskkit.open(duckdb_file, now=NOW)
    assert by_path.timezone == "Europe/Moscow" and by_path.currency == "RUB"
    # Deal 1 skips A->C (+1 at B and C), deal 2 jumps B->won (+1 at C and won).
    expected = ((0, 0, 1, 1), (0, 1, 2, 1), 1, 20.0)
    assert flow_numbers(by_path) == expected
    # DuckDB refuses a second, differently configured connection to one file in one process.
    by_path.store.backend.disconnect()
    by_url = deskkit.open(f"duckdb://{duckdb_file}", now=NOW)
    assert flow_numbers(by_url) == expected


def test_parquet_folder(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    for name, frame in small_account().frames().items():
        # One table as a folder of part files, the rest as single files.
        if name == "deal_moves":
            (folder / name).mkdir()
            ibis.memtable(frame, schema=SCHEMA[name]).to_parquet(folder / name / "part-0.parquet")
        else:
            ibis.memtable(frame, schema=SCHEMA[name]).to_parquet(folder / f"{name}.parquet")
    desk = deskkit.open(folder, now=NOW)
    assert flow_numbers(desk) == ((0, 0, 1, 1), (0, 1, 2, 1), 1, 20.0)
    # The desktop computes on worker threads, each on a cursor of its own: they see the files
    # too (a temporary view would exist for the opening connection only).
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(flow_numbers, desk).result() == ((0, 0, 1, 1), (0, 1, 2, 1), 1, 20.0)


def test_every_problem_is_reported_at_once(tmp_path):
    con = ibis.duckdb.connect()
    small_account().write(con)
    raw = con.con
    raw.execute("DROP TABLE nps")
    raw.execute("DROP TABLE tags")
    raw.execute("ALTER TABLE deals DROP COLUMN price")
    raw.execute("ALTER TABLE users DROP COLUMN deal_access")
    raw.execute('ALTER TABLE deal_moves ALTER COLUMN "at" TYPE VARCHAR')
    with pytest.raises(SchemaError) as info:
        open_store(con)
    message = str(info.value)
    for expected in [
        "5 problems",
        "nps: missing table",
        "tags: missing table",
        "deals.price: missing column (expected float64)",
        "users.deal_access: missing column",
        "deal_moves.at: wrong type string (expected timestamp)",
    ]:
        assert expected in message
    assert len(info.value.issues) == 5


def test_compatible_types_are_accepted():
    # int32 ids, a timestamp with a time zone: fine (normalised to UTC on open).
    con = ibis.duckdb.connect()
    small_account().write(con)
    raw = con.con
    raw.execute("ALTER TABLE deals ALTER COLUMN responsible_user_id TYPE INTEGER")
    raw.execute("SET TimeZone = 'UTC'")
    raw.execute('ALTER TABLE deal_moves ALTER COLUMN "at" TYPE TIMESTAMPTZ')
    desk = deskkit.Desk(open_store(con), now=NOW)
    assert desk.store.table("deal_moves").schema()["at"].timezone is None
    assert flow_numbers(desk) == ((0, 0, 1, 1), (0, 1, 2, 1), 1, 20.0)


def test_missing_file_and_missing_backend_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no deskkit store at"):
        deskkit.open(tmp_path / "nope.duckdb")
    with pytest.raises(ImportError, match=r"pip install 'deskkit\[clickhouse\]'"):
        deskkit.open("clickhouse://user:secret@localhost:9000/crm")


def test_url_passwords_never_appear_in_errors():
    with pytest.raises(ImportError) as info:
        deskkit.open("clickhouse://user:s3cr3t-token@localhost:9000/crm")
    assert "s3cr3t-token" not in str(info.value)
    assert "s3cr3t-token" not in repr(info.value.__cause__ or "")


def test_store_returns_ibis_tables_not_dataframes(duckdb_file):
    store = deskkit.open(duckdb_file).store
    assert isinstance(store.table("deals"), ibis.expr.types.Table)
    with pytest.raises(KeyError, match="no table 'leads'"):
        store.table("leads")


def test_public_namespace_matches_all():
    assert sorted(dir(deskkit)) == sorted(deskkit.__all__)
    for name in deskkit.__all__:
        assert hasattr(deskkit, name), name


def test_a_derived_table_is_built_once_and_shared_by_threads(duckdb_file):
    """Threads asking at once share one build; the kept table queries like its source;
    ``forget`` drops it (after rows were written)."""
    import threading

    store = open_store(duckdb_file)
    builds = []

    def build():
        builds.append(threading.get_ident())
        d = store.table("deals")
        return d.group_by("stage_id").aggregate(n=d.count())

    got: list = []
    threads = [
        threading.Thread(target=lambda: got.append(store.derived("per stage", build)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # One table in the engine, each thread holding it through its own cursor.
    assert len(builds) == 1 and len(got) == 4 and len({t.op().name for t in got}) == 1
    kept = store.derived("per stage", build)
    assert kept.op().name == got[0].op().name and len(builds) == 1
    assert kept.order_by("stage_id").to_pandas().to_dict("list") == {
        "stage_id": [13, 142],
        "n": [1, 1],
    }
    # Kept in an in-memory catalog beside the store, never in the store's own file.
    assert kept.op().namespace.catalog == "deskkit_kept"
    assert "per stage" not in store.backend.list_tables()
    store.forget()
    again = store.derived("per stage", build)
    assert again.op().name != kept.op().name and len(builds) == 2
    with pytest.raises(Exception, match="does not exist"):
        kept.to_pandas()  # forget dropped the old one


def test_a_derived_table_is_never_written_into_a_users_database(tmp_path):
    """A DuckDB database the user opened themselves (read-write) keeps its file untouched:
    derived tables go to an in-memory catalog; opened read-only, none are kept."""
    path = tmp_path / "own.duckdb"
    con = ibis.duckdb.connect(str(path))
    small_account().write(con)
    store = open_store(con)
    d = store.table("deals")
    assert store.derived("n", lambda: d.aggregate(n=d.count())).to_pandas()["n"].tolist() == [2]
    assert not any(name.startswith("kept_") for name in con.list_tables())
    con.disconnect()
    ro = open_store(ibis.duckdb.connect(str(path), read_only=True))
    assert not ro.keeps_derived and ro.derived("n", lambda: pytest.fail("built")) is None


def test_a_remote_engine_keeps_no_derived_table(duckdb_file, monkeypatch):
    """Where the engine is not in this process, ``derived`` returns None (the metric runs its
    query inline) and builds nothing."""
    store = open_store(duckdb_file)
    monkeypatch.setattr(type(store.backend), "name", "postgres")
    assert not store.keeps_derived
    assert store.derived("x", lambda: pytest.fail("built")) is None


def test_a_derived_table_forgotten_by_the_memo_is_dropped(duckdb_file, monkeypatch):
    """The memo keeps a bounded number of results: a kept table it lets go of is dropped from
    the engine, so a long-running desktop (a kept table per "now" for some metrics) does not
    grow without end."""
    import deskkit.store.open as store_open

    monkeypatch.setattr(store_open, "_MEMO_SIZE", 2)
    store = open_store(duckdb_file)
    d = store.table("deals")
    names = [store.derived(i, lambda: d.aggregate(n=d.count())).op().name for i in range(4)]
    left = set(
        store.backend.con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'deskkit_kept'"
        ).fetchall()
    )
    assert {n for (n,) in left} == set(names[-2:])


def test_kept_tables_are_compressed(duckdb_file):
    """Kept tables are compressed by a checkpoint once no query runs beside the build (at a
    million deals they take a fifth of the memory), and read the same after."""
    store = open_store(duckdb_file)

    def in_memory_bytes() -> int:
        row = store.backend.con.execute(
            "SELECT memory_usage_bytes FROM duckdb_memory() WHERE tag = 'IN_MEMORY_TABLE'"
        ).fetchone()
        return row[0]

    before = in_memory_bytes()
    rows = ibis.range(2_000_000).unnest().name("i")
    t = rows.as_table().mutate(user=rows.as_table().i % 12, day=rows.as_table().i // 5000)
    kept = store.derived("big", lambda: t)
    # 2M rows x 3 int64 columns: 48 MB as written, about 8 MB compressed.
    assert in_memory_bytes() - before < 16_000_000
    assert kept.count().to_pandas() == 2_000_000
    assert kept.user.max().to_pandas() == 11


def test_built_expressions_are_per_thread_and_forgotten_with_the_memo(duckdb_file):
    """``Store.built`` hands a thread back the expression it built (bound to its own cursor),
    never another thread's; ``forget`` (after rows were written) makes every thread build
    anew; what is built still runs on its thread's cursor."""
    store = open_store(duckdb_file)
    calls = []

    def build():
        calls.append(1)
        d = store.table("deals")
        return d.filter(d.price > 5)

    first = store.built("priced", build)
    assert store.built("priced", build) is first and len(calls) == 1
    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(lambda: store.built("priced", build)).result()
        n_other = pool.submit(lambda: store.built("priced", build).count().execute()).result()
    assert other is not first and len(calls) == 2  # its own, on its own cursor
    assert n_other == first.count().execute() == 2
    with store.inline():  # built inline (no kept tables): not the same expression
        assert store.built("priced", build) is not first
    store.forget()
    assert store.built("priced", build) is not first


def test_kept_tables_are_named_by_what_they_hold(duckdb_file):
    """Two stores (as two kernels) keeping the same tables in another order name them alike:
    the queries that scan them have one shape everywhere, and their compiled SQL can be reused
    across processes. A forget() (new rows) gives new names."""
    d1, d2 = open_store(duckdb_file), open_store(duckdb_file)

    def keep(store, key: str):
        d = store.table("deals")
        return store.derived(key, lambda: d.aggregate(n=d.count())).op().name

    first = {k: keep(d1, k) for k in ("a", "b", "c")}
    second = {k: keep(d2, k) for k in ("c", "a", "b")}
    assert first == second and len(set(first.values())) == 3
    d1.forget()
    assert keep(d1, "a") != first["a"]
