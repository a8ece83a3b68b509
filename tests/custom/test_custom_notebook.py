"""notebooks/custom_widgets.ipynb executed headless on the test store: its three widgets show the
numbers the package computes, and they are saved where the desktop finds them."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "custom_widgets.ipynb"

pytestmark = pytest.mark.notebook


def test_notebook_is_committed_clean():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None
            assert "ibis" not in cell.source and "to_pandas" not in cell.source


def test_notebook_runs_on_the_demo(test_store, desk, tmp_path, monkeypatch):
    monkeypatch.setenv("DESKKIT_STORE", str(test_store.path))
    monkeypatch.setenv("DESKKIT_NOW", test_store.now_iso)
    monkeypatch.setenv("DESKKIT_DATA", str(tmp_path))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    shown = {
        m[0]: (int(m[1]), int(m[2]))
        for m in re.findall(r"^(\w+): (\d+) \(([+-]\d+)\)$", text, re.M)
    }
    assert set(shown) == {
        "awaiting_payment_no_task",
        "overdue_by_department",
        "open_deals_by_product",
    }

    import deskkit as dk

    saved = {w.id: w for w in dk.custom.saved(desk)}
    assert set(saved) == set(shown)
    for widget_id, (value, change) in shown.items():
        r = desk.custom(saved[widget_id], "month")
        assert (r.value, r.change) == (value, change)
        assert r.value > 0
    # The invalid definition was rejected with its field and problem.
    assert "conditions[0].op: operator 'gt' does not apply to Product" in text
