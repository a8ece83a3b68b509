"""A DuckDB store converts table results once: the same frames as Ibis's own execute."""

from __future__ import annotations

import threading

import ibis
import pandas as pd

import deskkit
from deskkit import widgets as registry
from deskkit.store._execute import install_lean_execute
from deskkit.widgets import Filters


def _ibis_execute(backend, expr):
    """What Ibis itself returns (the class's execute, not the store's)."""
    return type(backend).execute(backend, expr)


def _frames(result) -> dict[str, pd.DataFrame]:
    return {k: v for k, v in vars(result).items() if isinstance(v, pd.DataFrame)}


def test_table_results_equal_ibis_own_for_every_kind_of_column(tmp_path):
    con = ibis.duckdb.connect(str(tmp_path / "kinds.duckdb"))
    con.raw_sql(
        """CREATE TABLE t AS SELECT * FROM (VALUES
            (1, 'a', TIMESTAMP '2026-11-27 10:00', DATE '2026-11-27', true, 1.5, 10::DECIMAL(18,2)),
            (2, NULL, NULL, NULL, NULL, NULL, NULL),
            (NULL, 'ü', TIMESTAMP '2026-01-01 00:00', DATE '2026-01-01', false, 'nan'::DOUBLE, 2.25)
        ) v(i, s, ts, d, b, f, m)"""
    )
    con.disconnect()
    backend = ibis.duckdb.connect(str(tmp_path / "kinds.duckdb"), read_only=True)
    install_lean_execute(backend)
    assert "execute" in vars(backend)
    t = backend.table("t")
    queries = {
        "all": t,
        "empty": t.filter(t.i > 99),
        "grouped": t.group_by("b")
        .aggregate(n=t.count(), ids=t.i.collect(), top=t.ts.max())
        .order_by("b"),  # groups come back in any order
        "derived": t.mutate(day=t.ts.date(), half=t.f / 2, label=t.s.fill_null("—")),
        "struct": t.select(pair=ibis.struct({"i": t.i, "s": t.s})),
        "nulls only": t.filter(t.i.isnull()).select("s", n=ibis.null("int64")),
        # A join is a Table subclass, executed as it is (rows in any order: sorted below).
        "a join": t.select("i", "s").join(t.select("i", other="f"), "i"),
    }
    for name, expr in queries.items():
        got, want = backend.execute(expr), _ibis_execute(backend, expr)
        if name == "a join":
            got, want = (f.sort_values("i", ignore_index=True) for f in (got, want))
        pd.testing.assert_frame_equal(got, want, obj=name)
    # A result is the caller's to edit, like Ibis's own (Arrow's buffers are read-only).
    edited = backend.execute(t.filter(t.i.notnull()).select("i", "f", "b", "ts"))
    edited.loc[0, "i"] = 7
    edited.iloc[0, 1] = 0.5
    edited.loc[edited.i > 1, "f"] = 2.0
    edited.loc[0] = [8, 1.0, True, pd.Timestamp("2026-01-02")]
    assert edited.loc[0, "i"] == 8 and edited.f.tolist()[1:] == [2.0]
    # Scalars and columns keep Ibis's path (and its result types).
    assert backend.execute(t.count()) == 3
    assert backend.execute(t.ts.max()) == pd.Timestamp("2026-11-27 10:00")
    pd.testing.assert_series_equal(backend.execute(t.i), _ibis_execute(backend, t.i))
    backend.disconnect()


def test_what_ibis_registers_before_a_query_is_still_registered(tmp_path):
    """An in-memory table and a Python UDF reach DuckDB (one walk finds them; Ibis's hooks
    then run) in a fresh connection whose first query they are."""

    @ibis.udf.scalar.python
    def twice(x: int) -> int:
        return 2 * x

    for case in ("memtable", "udf"):
        backend = ibis.duckdb.connect()
        install_lean_execute(backend)
        t = backend.create_table("t", pd.DataFrame({"i": [1, 2, 3]}))
        if case == "memtable":
            names = ibis.memtable(pd.DataFrame({"i": [1, 3], "name": ["one", "three"]}))
            expr = t.join(names, "i").order_by("i")
            want = pd.DataFrame({"i": [1, 3], "name": ["one", "three"]})
        else:
            expr = t.select(t.i, d=twice(t.i)).order_by("i")
            want = pd.DataFrame({"i": [1, 2, 3], "d": [2, 4, 6]})
        got = backend.execute(expr)
        pd.testing.assert_frame_equal(got, want, check_dtype=False, obj=case)
        pd.testing.assert_frame_equal(got, _ibis_execute(backend, expr), obj=case)
        backend.disconnect()


def test_every_builtin_widget_gives_ibis_own_frames(test_store):
    """Every built-in widget computed through the store's execute (on this thread and on
    another, which uses a cursor of its own) and through Ibis's: the same frames."""
    lean = deskkit.open(test_store.path, now=test_store.now)
    plain = deskkit.open(test_store.path, now=test_store.now)
    del plain.store.backend.execute  # Ibis's own from here on (this thread)
    filters = Filters(period="quarter", department=int(lean.departments()["group_id"].iloc[0]))
    for widget in registry.widgets():
        if not widget.builtin:
            continue
        want = widget.compute(plain, filters)
        got = widget.compute(lean, filters)
        assert _frames(got).keys() == _frames(want).keys() and _frames(got), widget.id
        for name, frame in _frames(want).items():
            pd.testing.assert_frame_equal(_frames(got)[name], frame, obj=f"{widget.id}.{name}")

    got_elsewhere: dict = {}

    def elsewhere() -> None:
        assert "execute" in vars(lean.store._backend_here())  # the thread's cursor has it too
        got_elsewhere["flow"] = lean.pipeline_flow("year")

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    pd.testing.assert_frame_equal(
        got_elsewhere["flow"].stages, plain.pipeline_flow("year").stages, obj="flow from a thread"
    )
