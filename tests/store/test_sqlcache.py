"""The compiled-SQL cache gives exactly the SQL a normal compile gives, and is actually used."""

from __future__ import annotations

import datetime as dt

import ibis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import deskkit
from deskkit import widgets
from deskkit.store._sqlcache import CompileCache

#: Widgets whose queries hold period timestamps (the "now" widgets hold "now" instead).
WIDGETS = widgets.widgets()


@pytest.fixture
def checked(test_store):
    """A desk whose every compile also runs uncached and must give the same text."""
    return _checking(deskkit.open(test_store.path, now=test_store.now))


def _checking(desk):
    """``desk``, with every compile also run uncached: the texts must be equal."""
    backend = desk.store.backend
    cached = backend.compile

    def plain(expr, /, **kwargs):
        return type(backend).compile(backend, expr, **kwargs)

    compiled: list[str] = []

    def compile(expr, /, **kwargs):
        sql = cached(expr, **kwargs)
        assert sql == plain(expr, **kwargs)
        compiled.append(sql)
        return sql

    backend.compile = compile
    return desk, compiled


def _periods(draw_days: int, length: int) -> tuple[dt.date, dt.date]:
    first = dt.date(2026, 1, 1) + dt.timedelta(days=draw_days)
    return first, first + dt.timedelta(days=length)


@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    starts=st.lists(st.integers(0, 320), min_size=3, max_size=3),
    length=st.integers(0, 40),
    scopes=st.lists(st.sampled_from(["everyone", "user", "department"]), min_size=3, max_size=3),
    pick=st.integers(0, 50),
)
def test_cached_sql_equals_a_fresh_compile_for_every_widget(checked, starts, length, scopes, pick):
    desk, compiled = checked
    cache = desk.store.compile_cache
    users = sorted(desk.users()["user_id"])
    groups = sorted(desk.departments()["group_id"])
    # Three periods, each for everyone, a user or a department (whose lists of users differ
    # in length): the later ones meet templated shapes.
    for i, (start, scope) in enumerate(zip(starts, scopes, strict=True)):
        who = {
            "everyone": {},
            "user": {"user": int(users[(pick + i) % len(users)])},
            "department": {"department": int(groups[(pick + i) % len(groups)])},
        }[scope]
        f = widgets.Filters(period=_periods(start, length), **who)
        for w in WIDGETS:
            w.compute(desk, f)
    assert compiled
    assert cache.hits > 0


def test_a_scope_change_reuses_every_shape(test_store):
    """Another user's or department's list of users is a parameter of the same shape."""
    desk = deskkit.open(test_store.path, now=test_store.now)
    cache = desk.store.compile_cache
    cache.eager = True
    users = sorted(desk.users()["user_id"])
    groups = sorted(desk.departments()["group_id"])
    assert len(groups) >= 2
    for who in ({"user": int(users[0])}, {"department": int(groups[0])}):
        for w in WIDGETS:
            w.compute(desk, widgets.Filters(period="month", **who))
    misses = cache.misses
    for who in ({"user": int(users[1])}, {"department": int(groups[1])}):
        for w in WIDGETS:
            if w.id != "goals":  # which goals show depends on the scope: its query differs
                w.compute(desk, widgets.Filters(period="month", **who))
    assert cache.misses == misses, "a scope change compiled a query again"


def test_a_period_change_reuses_every_shape(test_store):
    desk = deskkit.open(test_store.path, now=test_store.now)
    cache = desk.store.compile_cache
    # Each shape is templated the second time it is seen; some queries are shaped by the
    # period's length (the events feed reads a week in fewer stretches than a year).
    for period in ("year", "month", "week", "month", "week"):
        for w in WIDGETS:
            w.compute(desk, widgets.Filters(period=period))
    misses = cache.misses
    for period in ("month", "week"):
        for w in WIDGETS:
            w.compute(desk, widgets.Filters(period=period))
    assert cache.misses == misses, "a period change compiled a query again"
    assert cache.hits >= len(WIDGETS)


def test_a_shape_whose_sql_depends_on_more_than_its_literals_is_not_templated():
    """A compiler that renders a value-dependent clause fails the check and stays uncached."""
    t = ibis.table({"at": "timestamp", "n": "int64"}, name="t")
    con = ibis.duckdb.connect()
    calls: list[int] = []

    def odd_compile(expr, /, *, limit=None, params=None, **kw):
        calls.append(1)
        sql = con.compile(expr, limit=limit)
        return sql + " -- 1111" if "1111" in sql else sql  # differs for sentinel values

    cache = CompileCache()
    compile = cache.bind(odd_compile)
    exprs = [t.filter(t.at >= dt.datetime(2026, 1, d)).count().as_table() for d in (1, 2, 3, 4)]
    out = [compile(e) for e in exprs]
    assert out == [con.compile(e) for e in exprs]
    assert cache.hits == 0


def test_a_dropped_store_closes_its_file(tmp_path, test_store):
    """The cache holds no strong reference to the backend: dropping the desk closes DuckDB's
    connection at once, so the file can be reopened with another configuration."""
    import shutil

    import duckdb

    path = tmp_path / "copy.duckdb"
    shutil.copy(test_store.path, path)
    n = deskkit.open(path).store.table("deals").count().execute()
    with duckdb.connect(str(path)) as con:  # read-write: fails while a read-only one lives
        assert con.execute("select count(*) from deals").fetchone()[0] == n


def test_tables_of_other_cursors_share_the_cache(test_store):
    """Cards compute on worker threads, each with its own cursor: their shapes are shared."""
    from concurrent.futures import ThreadPoolExecutor

    desk = deskkit.open(test_store.path, now=test_store.now)
    cache = desk.store.compile_cache
    w = widgets.get("lead_sources")
    for period in ("year", "month"):
        w.compute(desk, widgets.Filters(period=period))
    hits = cache.hits
    with ThreadPoolExecutor(1) as pool:
        pool.submit(w.compute, desk, widgets.Filters(period="week")).result()
    assert cache.hits > hits


def test_an_eager_cache_templates_a_shape_at_first_sight(test_store):
    desk = deskkit.open(test_store.path, now=test_store.now)
    cache = desk.store.compile_cache
    cache.eager = True
    w = widgets.get("lead_sources")
    w.compute(desk, widgets.Filters(period="month"))
    assert cache.hits == 0
    w.compute(desk, widgets.Filters(period="week"))
    assert cache.hits > 0


def test_what_the_cache_cannot_take_apart_is_compiled_as_usual():
    """A time-zone-aware timestamp gets a naive sentinel; whatever goes wrong inside the cache
    (here: a shape that cannot be taken apart), the query still compiles, to the usual SQL."""
    con = ibis.duckdb.connect()
    t = ibis.table({"at": "timestamp('UTC')", "n": "int64"}, name="t")
    cache = CompileCache()
    compile = cache.bind(con.compile)
    exprs = [
        t.filter(t.at >= dt.datetime(2026, 1, d, tzinfo=dt.UTC)).count().as_table()
        for d in (1, 2, 3)
    ]
    assert [compile(e) for e in exprs] == [con.compile(e) for e in exprs]

    def broken(op, literals):
        raise RuntimeError("cannot take apart")

    cache._key = broken  # the first step of every lookup
    assert compile(exprs[0]) == con.compile(exprs[0])
    assert cache.errors == 1


# Templates kept in a file: a new process (a new Voila kernel) compiles none of them -----------

#: Every widget for two periods and a department: the shapes of a desktop's first views.
PERSIST_SCRIPT = """
import json, sys
import deskkit
from deskkit import widgets
store, now, cache_file = sys.argv[1], sys.argv[2], sys.argv[3]
import datetime as dt
desk = deskkit.open(store, now=dt.datetime.fromisoformat(now))
compiler = type(desk.store.backend.compiler)
plain = compiler.to_sqlglot
compiled = []
def counting(self, *args, **kwargs):
    compiled.append(1)
    return plain(self, *args, **kwargs)
compiler.to_sqlglot = counting
cache = desk.store.compile_cache
cache.eager = True
cache.persist(cache_file)
group = int(desk.departments()["group_id"].iloc[0])
for f in (widgets.Filters(period="month"), widgets.Filters(period="week", department=group)):
    for w in widgets.widgets():
        w.compute(desk, f)
cache.save()
print(json.dumps({"compiled": len(compiled), "loaded": cache.loaded, "misses": cache.misses}))
"""


def _run_persisting(test_store, cache_file) -> dict[str, int]:
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-c",
            PERSIST_SCRIPT,
            str(test_store.path),
            test_store.now_iso,
            str(cache_file),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_second_process_compiles_nothing_the_first_templated(test_store, tmp_path):
    """Two real processes, one after the other, on the same store and persist file: the
    first compiles and writes the templates; the second (with its own hash randomization and
    Ibis' global counters) finds every one of them there."""
    cache_file = tmp_path / "sql.json"
    first = _run_persisting(test_store, cache_file)
    assert first["loaded"] == 0 and first["misses"] > 30
    second = _run_persisting(test_store, cache_file)
    # Every shape found in the file; what is still compiled are queries without parameters
    # (never templated) and the parameters' own literals.
    assert second["loaded"] == first["misses"] and second["misses"] == 0, (first, second)
    assert second["compiled"] < first["compiled"] / 2, (first, second)


def _templates_saved(test_store, cache_file, ws=WIDGETS) -> None:
    """Compute ``ws`` for this month on a desk of its own whose eager cache saves its
    templates to ``cache_file``."""
    desk = deskkit.open(test_store.path, now=test_store.now)
    desk.store.compile_cache.eager = True
    desk.store.compile_cache.persist(cache_file)
    for w in ws:
        w.compute(desk, widgets.Filters(period="month"))
    desk.store.compile_cache.save()


def test_persisted_templates_give_the_sql_of_a_fresh_compile(checked, test_store, tmp_path):
    """A cache reading another cache's file: every query's SQL is exactly a normal compile's
    (the ``checked`` desk compares each one), and the file's templates are used."""
    cache_file = tmp_path / "sql.json"
    _templates_saved(test_store, cache_file)
    desk, compiled = checked
    cache = desk.store.compile_cache
    cache.persist(cache_file)
    for w in WIDGETS:
        w.compute(desk, widgets.Filters(period="quarter"))
    assert compiled and cache.loaded > 0 and cache.hits >= cache.loaded


def test_a_persist_file_of_other_versions_or_unreadable_is_ignored(test_store, tmp_path):
    import json

    cache_file = tmp_path / "sql.json"
    w = widgets.get("lead_sources")
    _templates_saved(test_store, cache_file, [w])
    data = json.loads(cache_file.read_text())
    assert data["shapes"] and "ibis" in data["versions"]
    data["versions"] = data["versions"].replace("ibis", "ibis 0.0 was")
    cache_file.write_text(json.dumps(data))
    for text in (cache_file.read_text(), "{not json", '{"versions": 1}'):
        cache_file.write_text(text)
        other = deskkit.open(test_store.path, now=test_store.now)
        other.store.compile_cache.eager = True
        other.store.compile_cache.persist(cache_file)
        w.compute(other, widgets.Filters(period="week"))
        assert other.store.compile_cache.loaded == 0
    other.store.compile_cache.save()  # a bad file is replaced by a good one
    assert json.loads(cache_file.read_text())["versions"] == data["versions"].replace(
        "ibis 0.0 was", "ibis"
    )


def test_another_store_file_gets_the_sql_of_a_fresh_compile(test_store, tmp_path):
    """A shape names its tables by name, namespace and schema: another store file (another
    catalog) reading the file gets, query by query, exactly what a normal compile gives."""
    import shutil

    cache_file = tmp_path / "sql.json"
    _templates_saved(test_store, cache_file)
    copy = tmp_path / "another.duckdb"
    shutil.copy(test_store.path, copy)
    other, compiled = _checking(deskkit.open(copy, now=test_store.now))
    other.store.compile_cache.persist(cache_file)
    for w in WIDGETS:
        w.compute(other, widgets.Filters(period="week"))
    assert compiled


def test_the_desktop_keeps_its_templates_in_the_layout_folder(test_store, tmp_path):
    from deskkit.ui import Desktop
    from deskkit.ui.layout import LayoutStore

    desk = deskkit.open(test_store.path, now=test_store.now)
    layouts = LayoutStore("t", folder=tmp_path)
    app = Desktop(desk, layouts=layouts)
    try:
        app.wait()
        desk.store.compile_cache.save()
        assert (layouts.folder / "compiled-sql.json").exists()
    finally:
        app.runner.close()
