"""notebooks/desk.ipynb executed headless, as Voilà would run it, on the test store."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "desk.ipynb"
HOOK = re.compile(r'data-k="([^"]+)" data-v="([^"]+)"')

pytestmark = pytest.mark.notebook


def test_notebook_is_committed_clean():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None
            # Composition only: no metric or Ibis code in the notebook.
            assert "ibis" not in cell.source and "pipeline_flow" not in cell.source


def test_notebook_renders_the_desk_numbers(test_store, desk, monkeypatch, tmp_path):
    monkeypatch.setenv("DESKKIT_STORE", str(test_store.path))
    monkeypatch.setenv("DESKKIT_DATA", str(tmp_path))  # layouts and compiled SQL land here
    monkeypatch.setenv("DESKKIT_NOW", test_store.now_iso)
    monkeypatch.delenv("DESKKIT_VIEWER", raising=False)
    monkeypatch.delenv("VOILA_PREHEAT", raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # Cards fill in the background: a notebook user sees them arrive. This extra cell (the
    # test's, not the committed notebook's) waits for them and reports what the pipeline card
    # shows: nbclient keeps only the widget messages sent while a cell runs, so the saved
    # widget state cannot be read for numbers drawn between cells.
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "import json\n"
            "app.wait()\n"
            "card = app.cards['pipeline_flow']\n"
            "print(json.dumps({'kpis': {'dk-kpi-' + k: v for k, v in card.kpi_texts().items()},\n"
            "    'html': card.widget.head + card.table_html,\n"
            "    'spec': card.widget.spec is not None}))"
        )
    )
    client = NotebookClient(
        nb,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()

    last = nb.cells[-2].outputs
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in last)
    shown_card = json.loads(nb.cells[-1].outputs[0]["text"])
    shown = {k: float(v) for k, v in HOOK.findall(shown_card["html"])}
    result = desk.pipeline_flow("month")
    kpis = shown_card["kpis"]
    assert kpis["dk-kpi-new_deals"] == f"{result.new:,}"
    assert kpis["dk-kpi-won_deals"] == f"{result.won:,}"
    assert kpis["dk-kpi-lost_deals"] == f"{result.lost_total:,}"
    for r in result.stages.itertuples():
        assert shown[f"deals-{r.stage_id}"] == r.deals
        assert shown[f"net-{r.stage_id}"] == r.net_in
    assert "Sales analysis" in shown_card["html"]
    assert shown_card["spec"]  # the chart slot holds a chart
    # The page's widgets made it into the saved state, charts included.
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    cards = [m for m in state.values() if m["state"].get("_anywidget_id", "").endswith("CardView")]
    assert cards
