"""Cards computed in worker processes: the same results, drillable on the kernel's store, the
same chart specs; notebook widgets stay in the kernel; a worker that dies is replaced."""

from __future__ import annotations

import os
import pickle
import signal
import time
from dataclasses import replace

import ibis
import pandas as pd
import pytest

from deskkit import widgets as registry
from deskkit.store import open_store
from deskkit.ui import Desktop, LayoutStore, Runner
from deskkit.ui.card import CardStyle, _call_chart, chart_spec, use_desktop_charts
from deskkit.ui.processes import can_run, processes_setting
from deskkit.widgets import Filters


@pytest.fixture(scope="module")
def remote(desk):
    """A runner with one worker process (started once for the module), ready."""
    runner = Runner(processes=1)
    runner.style = CardStyle("ru", "RUB", "Europe/Moscow")
    _until_ready(runner, desk)
    yield runner
    runner.close()


def _until_ready(runner: Runner, desk, timeout: float = 90) -> None:
    assert runner.wait_ready(timeout), "the worker process did not start"


def _frames(result) -> dict[str, pd.DataFrame]:
    return {k: v for k, v in vars(result).items() if isinstance(v, pd.DataFrame)}


def test_a_store_is_sent_as_its_source_and_received_as_the_store_asked_for(desk):
    from deskkit.ui.processes import _dumps, _loads

    store = desk.store
    assert store.reopenable
    data = _dumps((desk, Filters()))
    assert store.source.encode() in data
    assert _loads(data, {store.source: store}.__getitem__) == (desk, Filters())
    # Plain pickle refuses a store (it holds a live connection), saying so.
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(desk)
    # A connection handed in cannot be opened by another process.
    handed = open_store(ibis.duckdb.connect(str(store.source), read_only=True))
    try:
        assert not handed.reopenable
        assert not can_run(registry.get("nps"), replace(desk, store=handed))
    finally:
        handed.backend.disconnect()


def test_every_builtin_widget_gives_the_same_result_in_a_worker(desk, remote):
    """Same frames as computed here; the result's drill-down runs on the kernel's store; the
    chart spec the worker built is the one the card would build."""
    filters = Filters(period="month", department=int(desk.departments()["group_id"].iloc[0]))
    style = remote.style
    use_desktop_charts()  # as a desktop does
    for widget in registry.widgets():
        if not widget.builtin:
            continue
        assert can_run(widget, desk)
        got = remote.submit(widget, desk, filters).result(timeout=120)
        want = widget.compute(desk, filters)
        assert type(got) is type(want)
        assert _frames(got).keys() == _frames(want).keys() and _frames(got), widget.id
        for name, frame in _frames(want).items():
            pd.testing.assert_frame_equal(_frames(got)[name], frame, obj=f"{widget.id}.{name}")
        assert got._ctx.store is desk.store
        if widget.chart is not None:
            local = _call_chart(widget.chart, want, style)
            assert chart_spec(widget.chart, got, style) == local.to_dict(validate=False)


def test_a_drill_down_of_a_worker_result_reads_the_kernel_store(desk, remote):
    widget = registry.get("overdue_tasks")
    other = open_store(desk.store.source)  # another store of the same file: not the one used
    got = remote.submit(widget, desk, Filters(period="quarter")).result(timeout=120)
    assert got._ctx.store is desk.store and got._ctx.store is not other
    want = widget.compute(desk, Filters(period="quarter"))
    pd.testing.assert_frame_equal(got.records(), want.records())


def test_a_notebook_widget_runs_in_the_kernel(desk, remote):
    mine = registry.Widget("pid_test", {"en": "Pid", "ru": "Pid"}, lambda d, f: os.getpid())
    assert not can_run(mine, desk)
    # A built-in replaced under its own id is the notebook's code too.
    nps = registry.get("nps")
    assert not can_run(replace(nps, compute=lambda d, f: os.getpid()), desk)
    assert remote.submit(mine, desk, Filters()).result(timeout=60) == os.getpid()


def test_an_error_in_a_worker_reaches_the_card_as_itself(desk, remote):
    widget = registry.get("activity")
    with pytest.raises(ValueError, match="unknown department 987654") as info:
        remote.submit(widget, desk, Filters(department=987654)).result(timeout=60)
    assert any("worker process" in note for note in getattr(info.value, "__notes__", []))


def test_a_worker_that_dies_is_replaced_and_closing_ends_it(desk):
    runner = Runner(processes=1)
    try:
        _until_ready(runner, desk)
        nps = registry.get("nps")
        (pid,) = runner.worker_pids()
        os.kill(pid, signal.SIGKILL)
        # The card it was asked for is computed in the kernel; a new worker starts.
        again = runner.submit(nps, desk, Filters(period="week")).result(timeout=120)
        assert again.table.equals(nps.compute(desk, Filters(period="week")).table)
        _until_ready(runner, desk)
        (new_pid,) = runner.worker_pids()
        assert new_pid != pid
        runner.close()
        deadline = time.monotonic() + 10
        while runner_pid_alive(new_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not runner_pid_alive(new_pid)
    finally:
        runner.close()


def runner_pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child that exited but was not yet reaped is a zombie: gone for our purpose.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def test_processes_setting_from_the_environment():
    assert processes_setting(None) == processes_setting(" ") == 0  # asked for, or none
    assert processes_setting("off") == processes_setting("0") == 0
    assert processes_setting("3") == 3
    for bad in ("many", "-1", "1.5"):
        with pytest.raises(ValueError, match="DESKKIT_PROCESSES"):
            processes_setting(bad)


def test_the_served_page_computes_in_worker_processes_unless_told_not_to(test_store, tmp_path):
    env = {
        "DESKKIT_STORE": str(test_store.path),
        "DESKKIT_NOW": test_store.now_iso,
        "DESKKIT_PREFETCH": "off",
    }
    layouts = LayoutStore("test", folder=tmp_path)
    served = Desktop.from_environment({**env, "DESKKIT_PROCESSES": "1"}, layouts=layouts)
    try:
        served.wait(120)
        assert served.runner.processes == 1
        assert all(card.result is not None for card in served.cards.values())
        assert served.runner.wait_ready(60) and len(served.runner.worker_pids()) == 1
    finally:
        served.runner.close()
    plain = Desktop.from_environment(
        {**env, "DESKKIT_PROCESSES": "off"}, layouts=layouts, compute=False
    )
    assert plain.runner.processes == 0
    plain.runner.close()


def test_a_preheated_page_warms_the_worker_processes_once_ready(test_store, tmp_path):
    """The preheated kernel's warm-up waits for its workers (their compiled SQL and kept
    tables are the ones a visitor's changes use), then computes the default view there."""
    env = {
        "DESKKIT_STORE": str(test_store.path),
        "DESKKIT_NOW": test_store.now_iso,
        "DESKKIT_PREFETCH": "off",
        "DESKKIT_PROCESSES": "1",
    }
    layouts = LayoutStore("test", folder=tmp_path)
    app = Desktop.from_environment(env, layouts=layouts, compute=False)
    try:
        deadline = time.monotonic() + 120
        while app._scope_warmed is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert app.runner.wait_ready(0)  # warmed only once the worker was ready
        app._scope_warmed.result(timeout=120)
        (worker,) = app.runner._remote.children
        assert worker.answered >= len(app.cards)  # the default view, in the worker
    finally:
        app.runner.close()


def test_a_served_store_opened_by_url_keeps_the_cards_in_the_kernel(test_store, tmp_path):
    """Another process cannot open a server's store by its URL: no workers are started."""
    import shutil

    copy = tmp_path / "copy.duckdb"
    shutil.copy(test_store.path, copy)
    env = {
        "DESKKIT_STORE": f"duckdb://{copy}",
        "DESKKIT_NOW": test_store.now_iso,
        "DESKKIT_PREFETCH": "off",
        "DESKKIT_PROCESSES": "2",
    }
    app = Desktop.from_environment(env, layouts=LayoutStore("t", folder=tmp_path), compute=False)
    try:
        assert not app.desk.store.reopenable
        assert app.runner.processes == 0 and app.runner.worker_pids() == []
        # The warm-up ran in the kernel's threads; it ends before the connection is closed
        # (closing a DuckDB connection under its cursors' running queries crashes it).
        app._scope_warmed.result(timeout=120)
    finally:
        app.runner.close()
    app.desk.store.backend.disconnect()
