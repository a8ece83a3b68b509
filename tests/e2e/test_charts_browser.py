"""Charts in a real Voilà page with no internet: drawn, the library shipped once, clicks reach
Python."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from deskkit.cli import voila_command
from deskkit.ui._charts import library_bundle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"  # gitignored

# Three charts, one of them container-wide, a broken one, the library once, and an HTML widget
# that the Python click callback writes into (``data-v`` counts the clicks).
NOTEBOOK_SOURCE = """
import html, json
import altair as alt
import ipywidgets as w
import pandas as pd
from deskkit.ui._charts import ChartView, library

STAGES = ["First contact", "Proposal", "Won"]
views = [ChartView("vega") for _ in range(3)]
clicked = w.HTML().add_class("clicked")
clicks = []

def chart(i, more=0):
    frame = pd.DataFrame({"stage": STAGES, "deals": [10 * (i + 1) + more, 7, 3 + i]})
    c = alt.Chart(frame).mark_bar().encode(x="deals:Q", y=alt.Y("stage:N", sort=STAGES))
    if i == 0:  # a title with a number: a param's value, so that new numbers update in place
        title = alt.param(name="dk_title", value=f"{frame['deals'].sum()} deals")
        c = c.properties(title=alt.TitleParams(alt.ExprRef("dk_title"))).add_params(title)
    return c.properties(width="container") if i == 2 else c

def on_click(i):
    def callback(datum):
        clicks.append(datum)
        text = html.escape(json.dumps({"chart": i, **datum}, sort_keys=True))
        clicked.value = f'<span data-k="clicks" data-v="{len(clicks)}">{text}</span>'
        if i == 0 and len(clicks) == 3:  # new numbers, the same chart
            views[0].show(chart(0, more=len(clicks)))
        elif i == 0:  # another chart
            views[0].show(chart(0).properties(title="Another chart"))
    return callback

for i, view in enumerate(views):
    view.widget.add_class(f"chart-{i}")
    view.show(chart(i))
    view.on_click(on_click(i))

# A spec vega-lite rejects: the slot must say so instead of staying blank.
broken = ChartView("vega")
broken.widget.add_class("broken")
broken.widget.spec = {"mark": {"type": "no-such-mark"}}

# A chart far below the window, made first (its box is laid out first, in reverse order): the
# page's queue draws the charts on screen before it, and it still gets drawn. The library comes
# when the test clicks, so that every chart is waiting for it, and queued, by then.
far = ChartView("vega")
far.widget.add_class("chart-far")
far.show(chart(1))
holder = w.Box()
load = w.Button(description="Load the chart library").add_class("load-library")
load.on_click(lambda _: setattr(holder, "children", [library()]))
w.VBox(
    [
        load,
        holder,
        w.VBox(
            [
                far.widget,
                w.Box(layout=w.Layout(height="2500px")),
                w.VBox([*(v.widget for v in views), broken.widget, clicked]),
            ],
            layout=w.Layout(flex_flow="column-reverse"),
        ),
    ],
    layout=w.Layout(width="900px"),
)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def charts_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Voilà (the production command line) serving the tiny notebook; its URL."""
    ARTIFACTS.mkdir(exist_ok=True)
    folder = tmp_path_factory.mktemp("charts")
    notebook = folder / "charts.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(NOTEBOOK_SOURCE)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, notebook)
    port = _free_port()
    log = ARTIFACTS / "voila-charts.log"
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(folder / "jupyter-runtime"))
    env.pop("DESKKIT_CHART_MODE", None)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            voila_command(notebook, port=port),
            cwd=folder,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the kernel goes down with it
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"voila exited early:\n{log.read_text(errors='replace')}")
            try:
                urllib.request.urlopen(url + "voila/static/", timeout=2)
                break
            except urllib.error.HTTPError:
                break  # any HTTP answer means it serves
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError("voila did not start in 60 s") from None
                time.sleep(0.2)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def test_charts_draw_offline_ship_the_library_once_and_report_clicks(browser, charts_server):
    bundle = len(library_bundle().encode())
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    blocked: list[str] = []

    def route(r) -> None:
        if r.request.url.startswith(charts_server):
            r.continue_()
        else:  # no internet: anything else is refused and noted
            blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.set_default_timeout(60_000)
    received = [0]  # bytes of websocket frames the page got

    def on_websocket(ws) -> None:
        def count(payload: str | bytes) -> None:
            received[0] += len(payload.encode() if isinstance(payload, str) else payload)

        ws.on("framereceived", count)

    page.on("websocket", on_websocket)
    # The order in which the charts' SVGs appear.
    page.add_init_script("""
        window.__drawn = [];
        new MutationObserver((ms) => { for (const m of ms) for (const n of m.addedNodes) {
          if (n.nodeType !== 1 || !n.matches('svg.marks')) continue;
          const slot = n.closest('.chart-far, .chart-0, .chart-1, .chart-2');
          if (slot) window.__drawn.push([...slot.classList].find(k => k.startsWith('chart-')));
        } }).observe(document, {subtree: true, childList: true});""")
    try:
        response = page.goto(charts_server, timeout=180_000)
        assert response is not None and response.ok
        # Every chart's box is on the page (laid out, waiting for the library): load it.
        page.wait_for_function(
            "() => ['far', 0, 1, 2].every(i => document.querySelector(`.chart-${i} .dk-chart-box`)"
            "?.clientWidth > 0)",
            timeout=120_000,
        )
        page.locator(".load-library").first.click()
        for i in (0, 1, 2, "far"):  # each chart drew its three bars as SVG
            page.wait_for_function(
                "sel => document.querySelectorAll(sel).length === 3",
                arg=f".chart-{i} svg g.mark-rect path",
                timeout=120_000,
            )
        # The charts on screen were drawn first, the one 2,500 px below them last.
        far_top = page.evaluate("() => document.querySelector('.chart-far').offsetTop")
        assert far_top > 2000, far_top
        drawn = page.evaluate("() => window.__drawn")
        assert set(drawn[:3]) == {"chart-0", "chart-1", "chart-2"}, drawn
        assert drawn[3] == "chart-far", drawn
        # The broken spec says why in its slot; the good ones show no error.
        page.wait_for_selector(".broken .dk-chart-error")
        assert "Chart could not be drawn" in page.inner_text(".broken")
        assert page.locator(".dk-chart-error").count() == 1

        # The container-wide chart takes the width of its 900 px column.
        width = page.evaluate("() => document.querySelector('.chart-2 svg').clientWidth")
        assert 800 < width <= 900, width

        # Clicking a bar reaches the Python callback, with the bar's data row.
        bar = page.locator(".chart-1 svg g.mark-rect path").first
        bar.click()
        page.wait_for_selector('.clicked [data-k="clicks"][data-v="1"]')
        shown = json.loads(page.inner_text(".clicked"))
        assert shown == {"chart": 1, "stage": "First contact", "deals": 20}
        bar.click()  # the same mark again is a second event
        page.wait_for_selector('.clicked [data-k="clicks"][data-v="2"]')

        # New numbers for the same chart go into the view drawn: its SVG stays, the bar moves.
        first = ".chart-0 svg g.mark-rect path"
        page.evaluate("() => { document.querySelector('.chart-0 svg').dataset.dkFirst = '1'; }")
        assert "20 deals" in page.evaluate(
            "() => document.querySelector('.chart-0 svg').textContent"
        )
        assert page.locator(first).first.get_attribute("aria-label") == (
            "deals: 10; stage: First contact"
        )
        page.locator(first).first.click()
        page.wait_for_selector('.clicked [data-k="clicks"][data-v="3"]')
        page.wait_for_function(
            "(sel) => document.querySelector(sel)?.getAttribute('aria-label')"
            " === 'deals: 13; stage: First contact'",
            arg=first,
        )
        assert page.evaluate("() => document.querySelector('.chart-0 svg').dataset.dkFirst") == "1"
        # ... and so did the param's value: the title counts the new total.
        page.wait_for_function(
            "() => document.querySelector('.chart-0 svg').textContent.includes('23 deals')"
        )
        assert "20 deals" not in page.evaluate(
            "() => document.querySelector('.chart-0 svg').textContent"
        )
        page.locator(first).first.click()  # the bar reports its new row
        page.wait_for_selector('.clicked [data-k="clicks"][data-v="4"]')
        assert json.loads(page.inner_text(".clicked")) == {
            "chart": 0,
            "stage": "First contact",
            "deals": 13,
        }
        # A chart that differs in more than its rows is drawn anew.
        page.wait_for_function(
            "() => (document.querySelector('.chart-0 svg')?.textContent ?? '')"
            ".includes('Another chart')"
        )
        assert page.evaluate("() => document.querySelector('.chart-0 svg').dataset.dkFirst") is None
        page.screenshot(path=str(ARTIFACTS / "charts-browser.png"), full_page=True)

        # The library came once: three charts, but well under two copies of the bundle.
        assert received[0] < 1.5 * bundle, (received[0], bundle)
        assert received[0] > bundle, "the bundle did not come over the websocket: check the test"
        # Nothing was tried outside but the Voilà template's icon font.
        assert not [u for u in blocked if "fontawesome" not in u], blocked
    finally:
        context.close()
