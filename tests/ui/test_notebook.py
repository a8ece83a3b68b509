"""notebooks/desk.ipynb executed headless, as Voilà would run it, on the test store."""

from __future__ import annotations

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


def test_notebook_renders_the_desk_numbers(test_store, desk, monkeypatch):
    monkeypatch.setenv("DESKKIT_STORE", str(test_store.path))
    monkeypatch.setenv("DESKKIT_NOW", test_store.now_iso)
    monkeypatch.delenv("DESKKIT_VIEWER", raising=False)
    monkeypatch.delenv("VOILA_PREHEAT", raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # Cards fill in the background; a notebook user sees them arrive, a saved notebook must
    # wait for them (this extra cell is the test's, not the committed notebook's).
    nb.cells.append(nbformat.v4.new_code_cell("app.wait()"))
    client = NotebookClient(
        nb,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()

    last = nb.cells[-2].outputs
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in last)
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    html = "".join(
        str(m["state"].get("value", ""))
        for m in state.values()
        if m.get("model_name") == "HTMLModel"
    )
    shown = {k: float(v) for k, v in HOOK.findall(html)}
    result = desk.pipeline_flow("month")
    # KPI buttons by label (other cards may use the same label, hence lists).
    buttons: dict[str, list[str]] = {}
    for m in state.values():
        if m.get("model_name") == "ButtonModel":
            for c in m["state"].get("_dom_classes", []):
                buttons.setdefault(c, []).append(m["state"]["description"])
    assert f"{result.new:,}" in buttons["dk-kpi-new_deals"]
    assert f"{result.won:,}" in buttons["dk-kpi-won_deals"]
    assert f"{result.lost_total:,}" in buttons["dk-kpi-lost_deals"]
    for r in result.stages.itertuples():
        assert shown[f"deals-{r.stage_id}"] == r.deals
        assert shown[f"net-{r.stage_id}"] == r.net_in
    assert "Sales analysis" in html
    # The chart widget made it into the output with a spec.
    charts = [
        m for m in state.values() if m["state"].get("_anywidget_id", "").endswith("VegaChart")
    ]
    assert charts and charts[0]["state"].get("spec")
