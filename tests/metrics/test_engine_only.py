"""Metrics aggregate in the engine: no whole table comes back to Python, no SQL text is written.

Every registered widget is computed on the demo store while the backend counts the rows of each
result it returns; a metric that pulled a table into pandas would return thousands."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from deskkit import widgets

METRICS = Path(__file__).resolve().parents[2] / "deskkit" / "metrics"
#: The most rows any query may return while a widget computes (the demo has 2,000 deals, tens of
#: thousands of events): lists like the event feed are capped far below this.
MAX_ROWS = 500


@pytest.mark.parametrize("widget", widgets.widgets(), ids=lambda w: w.id)
def test_widget_queries_return_few_rows(counted, widget):
    desk, sizes = counted
    for period in ("month", "year"):
        widget.compute(desk, widgets.Filters(period=period))
    assert sizes, "the widget ran no query through the backend"
    assert max(sizes) <= MAX_ROWS, f"{widget.id}: a query returned {max(sizes)} rows"


def test_the_guard_catches_a_whole_table(counted):
    desk, sizes = counted
    desk.store.table("events").to_pandas()
    assert max(sizes) > MAX_ROWS


@pytest.mark.parametrize("path", sorted(METRICS.glob("*.py")), ids=lambda p: p.name)
def test_metric_code_writes_no_sql(path):
    """Metric modules are Ibis expressions only: no raw SQL, so they run on every backend."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            assert node.attr not in {"raw_sql", "sql", "con"}, f"{path.name}: .{node.attr}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.upper()
            assert not ("SELECT " in text and " FROM " in text), f"{path.name}: SQL text"


def test_every_widgets_sql_reads_the_stores_own_tables(desk):
    """A result's ``sql()`` shows how each number is computed from the store's tables, never
    from a table kept inside the running process (which no one else can query). The test
    store's "now" falls in its last two days of moves and completions, where most kept tables
    are read."""
    from deskkit import widgets

    shown = 0
    for w in widgets.widgets():
        result = w.compute(desk, widgets.Filters(period="month"))
        if not hasattr(result, "sql"):
            continue
        for name, sql in result.sql().items():
            assert "deskkit_kept" not in sql, f"{w.id}: {name}"
            shown += 1
    assert shown >= 16
    assert any(k[0] == "derived" for k in desk.store._memo)  # kept tables were in use
