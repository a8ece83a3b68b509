"""Time the desktop page in a real browser: navigation to every default card filled, and a
filter change to every card updated, plus the bytes the page transferred.

Usage: python bench/bench_page.py [--deals 100000] [--runs 5]

Serves notebooks/desk.ipynb with the production Voilà command (``deskkit serve``'s) on the
demo account of ``--deals`` deals ("now" fixed at 2026-11-27 15:00 UTC), drives Debian's
headless Chromium through Playwright with every non-local request blocked, and reports medians.
"A card is filled" means its spinner is gone and it drew a result; "updated" means every card
that follows the period drew again after the change (the "now" cards keep their numbers).
The first two changes come right after the page filled (Voilà used to preheat the next
visitor's kernel meanwhile; it now waits until the pages are quiet, see ``deskkit.serving``);
a third (a period not asked for before) once the machine is idle again; then a department
instead of everyone, and another department (every card anew); then a new period a second
into the start of the next visitor's kernel (a click that does fall into it); last, once idle
again, a third department, which the page has computed meanwhile unless run with
``--prefetch off`` (the served page's ``DESKKIT_PREFETCH``). ``--processes 2`` computes the
built-in cards in two worker processes instead of the kernel's threads (``DESKKIT_PROCESSES``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

AS_OF = dt.date(2026, 11, 27)
NOW_ISO = "2026-11-27T15:00:00+00:00"

FILLED = """(n) => { const cards = [...document.querySelectorAll('.dk-card')];
  return cards.length === n && cards.every(c => !c.classList.contains('dk-busy')
    && c.querySelector('.dk-stamp [data-k=drawn]') !== null); }"""
STAMPS = """() => Object.fromEntries([...document.querySelectorAll('.dk-card')].map(c => [
  [...c.classList].find(k => k.startsWith('dk-card-') && k !== 'dk-card-body'),
  Number((c.querySelector('.dk-stamp [data-k=drawn]') || {dataset: {v: 0}}).dataset.v)]))"""
UPDATED = """([before, ids]) => { const now = (%s)();
  return ids.every(id => now[id] > before[id]) &&
    [...document.querySelectorAll('.dk-card')].every(c => !c.classList.contains('dk-busy')); }"""


def _cpu_times() -> tuple[int, int]:
    """(idle, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[3] + fields[4], sum(fields)


def wait_until_idle(busy_below: float = 0.15, timeout: float = 90.0) -> float:
    """Wait until the machine is idle (under ``busy_below`` of its CPU over 1 s): Voilà has
    preheated the next kernel. Returns the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        idle0, total0 = _cpu_times()
        time.sleep(1.0)
        idle1, total1 = _cpu_times()
        if total1 > total0 and 1 - (idle1 - idle0) / (total1 - total0) < busy_below:
            break
    return time.monotonic() - start


def change(page, what: str, period_cards: list[str], all_cards: list[str]) -> float:
    """Make one filter change on the page and return the seconds until every card it touches
    drew again: ``"department"`` / ``"another"`` / ``"third"`` pick that department, any other
    ``what`` is a period button's label (only the cards that follow the period redraw)."""
    before = page.evaluate(STAMPS)
    start = time.monotonic()
    if what in ("department", "another", "third"):
        index = {"department": 1, "another": 2, "third": 3}[what]
        page.locator(".dk-scope select").select_option(index=index)
    else:
        page.locator(".dk-period select").select_option(label=what)
    ids = period_cards if what[0].isupper() else all_cards
    page.wait_for_function(UPDATED % STAMPS, arg=[before, ids], timeout=120_000, polling=20)
    return time.monotonic() - start


KERNEL_STARTED = "Kernel started:"


def wait_for_kernel_start(voila, count: int, timeout: float = 60.0) -> float:
    """Wait until Voilà's log shows ``count`` kernel starts (the next visitor's kernel began
    starting); returns the seconds waited."""
    start = time.monotonic()
    while voila.log_text().count(KERNEL_STARTED) < count:
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"no new kernel started in {timeout:.0f} s")
        time.sleep(0.05)
    return time.monotonic() - start


def _niced(chromium: Path, nice: int, folder: Path) -> Path:
    """``chromium``, or a wrapper that starts it at ``nice`` (its renderers inherit it)."""
    if nice <= 0:
        return chromium
    wrapper = folder / "chromium-niced"
    wrapper.write_text(f'#!/bin/sh\nexec nice -n {nice} {chromium} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--query",
        default="",
        help="open the page with this query string, e.g. period=quarter: a view the preheated "
        "kernel did not compute in advance",
    )
    parser.add_argument(
        "--client-nice",
        type=int,
        default=0,
        help="run Chromium at this nice value (1-19), as if the visitor's browser ran on a "
        "computer of its own instead of sharing the server's 2 cores at equal priority",
    )
    parser.add_argument(
        "--prefetch",
        default="",
        help="the served page's DESKKIT_PREFETCH ('off': no view computed before it is asked "
        "for; unset: the product's default)",
    )
    parser.add_argument(
        "--processes",
        default="",
        help="the served page's DESKKIT_PROCESSES: worker processes computing the built-in "
        "cards (unset or 'off': the kernel's threads, the product's default)",
    )
    args = parser.parse_args()
    if args.prefetch:
        os.environ["DESKKIT_PREFETCH"] = args.prefetch
    if args.processes:
        os.environ["DESKKIT_PROCESSES"] = args.processes

    from conftest import CHROMIUM, CHROMIUM_ARGS, _serve
    from playwright.sync_api import sync_playwright
    from stores import StoreInfo

    from deskkit import widgets
    from deskkit.connectors.demo.cache import cached_demo

    path = cached_demo(deals=args.deals, seed=7, as_of=AS_OF, progress=True)
    store = StoreInfo(path, dt.datetime.fromisoformat(NOW_ISO), NOW_ISO)
    default = [w for w in widgets.widgets() if w.builtin]
    period_cards = [f"dk-card-{w.id}" for w in default if w.follows_period]
    all_cards = [f"dk-card-{w.id}" for w in default]
    loads, changes, page_bytes = [], [], []
    views, frames_load, frames_change, charts = [], [], [], []
    idle_changes: list[float] = []  # a new period once the next kernel is preheated
    scope_changes: list[float] = []  # then a department: all 16 cards anew
    scope_again: list[float] = []  # then another department
    scope_settled: list[float] = []  # once idle, a department not asked for before
    during_start: list[float] = []  # a new period while the next visitor's kernel starts
    start_waits: list[float] = []  # from the last change until that kernel started
    waited: list[float] = []
    n_charts = len([w for w in default if w.chart])
    data = Path(tempfile.mkdtemp(prefix="deskkit-bench-"))
    server = _serve(ROOT / "notebooks" / "desk.ipynb", store, data, "voila-bench.log")
    voila = next(server)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(_niced(CHROMIUM, args.client_nice, data)),
                headless=True,
                args=CHROMIUM_ARGS,
            )
            for run in range(args.runs):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                context.route(
                    "**/*",
                    lambda r: r.continue_() if r.request.url.startswith(voila.url) else r.abort(),
                )
                page = context.new_page()
                received = [0]
                frames = [0]  # websocket messages received (each widget update is one or more)

                def on_frame(f, received=received, frames=frames) -> None:
                    received[0] += len(f)
                    frames[0] += 1

                def on_ws(ws, on_frame=on_frame) -> None:
                    ws.on("framereceived", on_frame)

                def on_response(resp, received=received) -> None:
                    # Redirects and aborted requests have no body.
                    with contextlib.suppress(Exception):
                        received[0] += len(resp.body())

                page.on("websocket", on_ws)
                page.on("response", on_response)
                # The kernels started so far (at least the first, which may still be
                # starting): the next one started is the next visitor's.
                kernels = max(1, voila.log_text().count(KERNEL_STARTED))
                start = time.monotonic()
                page.goto(voila.url + (f"?{args.query}" if args.query else ""), timeout=300_000)
                page.wait_for_function(FILLED, arg=len(default), timeout=300_000, polling=50)
                loads.append(time.monotonic() - start)
                page_bytes.append(received[0])
                frames_load.append(frames[0])
                # The cards' numbers are in; their Vega charts may still be drawing.
                page.wait_for_function(
                    "(n) => document.querySelectorAll('.dk-card .dk-chart svg.marks').length >= n",
                    arg=n_charts,
                    timeout=300_000,
                    polling=50,
                )
                charts.append(time.monotonic() - start)
                # Widget views the page built (every ipywidgets view is a Lumino widget).
                views.append(page.evaluate("() => document.querySelectorAll('.lm-Widget').length"))
                # Right after the page filled, as a visitor would (the next visitor's kernel,
                # whose imports and default view take about a core for 10 s, starts once the
                # page is quiet). Then once the machine is idle: a period never asked for before.
                # Last, a department instead of everyone, then another: every card recomputes
                # ("now" ones too); the second reuses the first one's compiled queries.
                # Once idle again (the visitor read the page): a department not asked for
                # before, which the page may have computed meanwhile (DESKKIT_PREFETCH).
                # Then, a second into the start of the next visitor's kernel (once the page
                # is quiet: deskkit.serving), a new period: what a visitor's click costs when
                # it does fall into that start.
                steps = ("Week", "Month", "idle", "Quarter", "department", "another")
                for period in (*steps, "starting", "Year", "settle", "third"):
                    if period == "starting":
                        start_waits.append(wait_for_kernel_start(voila, kernels + 1))
                        time.sleep(1)
                        continue
                    if period == "Year":
                        during_start.append(change(page, period, period_cards, all_cards))
                        continue
                    if period in ("idle", "settle"):
                        if period == "settle":  # a visitor reads the page for a while
                            time.sleep(3)
                        took = wait_until_idle()
                        if period == "idle":
                            waited.append(took)
                        continue
                    if period == "third":
                        scope_settled.append(change(page, period, period_cards, all_cards))
                        continue
                    frames[0] = 0
                    took = change(page, period, period_cards, all_cards)
                    if period == "Quarter":
                        idle_changes.append(took)
                        continue
                    if period == "department":
                        scope_changes.append(took)
                        continue
                    if period == "another":
                        scope_again.append(took)
                        continue
                    changes.append(took)
                    frames_change.append(frames[0])
                if run == 0:
                    page.screenshot(
                        path=str(ROOT / "test-artifacts" / "bench-page.png"), full_page=True
                    )
                context.close()
                # Let Voilà preheat the next kernel, as it has time to between real visitors.
                time.sleep(12)
                print(
                    f"run {run + 1}: filled {loads[-1]:.2f} s, charts {charts[-1]:.2f} s, changes "
                    f"{changes[-2]:.2f} / {changes[-1]:.2f} s, new period once idle "
                    f"{idle_changes[-1]:.2f} s (waited {waited[-1]:.0f} s), a department "
                    f"{scope_changes[-1]:.2f} s, another {scope_again[-1]:.2f} s, "
                    f"a new period 1 s into the next kernel's start "
                    f"(after {start_waits[-1]:.0f} s) "
                    f"{during_start[-1]:.2f} s, a third once idle {scope_settled[-1]:.2f} s, "
                    f"{page_bytes[-1] / 1e6:.2f} MB, "
                    f"{views[-1]} views, {frames_load[-1]} ws messages to filled, "
                    f"{frames_change[-2]} / {frames_change[-1]} per change",
                    flush=True,
                )
            browser.close()
    finally:
        server.close()
    out = {
        "deals": args.deals,
        "cards": len(default),
        "navigation_to_filled_s": {"median": statistics.median(loads), "max": max(loads)},
        "navigation_to_charts_drawn_s": {"median": statistics.median(charts), "max": max(charts)},
        "new_period_to_updated_s": {
            "median": statistics.median(changes[0::2]),
            "max": max(changes[0::2]),
        },
        "cached_period_to_updated_s": {
            "median": statistics.median(changes[1::2]),
            "max": max(changes[1::2]),
        },
        "new_period_once_preheated_s": {
            "median": statistics.median(idle_changes),
            "max": max(idle_changes),
        },
        "department_once_preheated_s": {
            "median": statistics.median(scope_changes),
            "max": max(scope_changes),
        },
        "another_department_s": {
            "median": statistics.median(scope_again),
            "max": max(scope_again),
        },
        "new_period_while_next_kernel_starts_s": {
            "median": statistics.median(during_start),
            "max": max(during_start),
        },
        "next_kernel_started_after_s": {"median": statistics.median(start_waits)},
        "third_department_once_idle_s": {
            "median": statistics.median(scope_settled),
            "max": max(scope_settled),
        },
        "filter_change_to_updated_s": {"median": statistics.median(changes), "max": max(changes)},
        "page_mb": {"median": statistics.median(page_bytes) / 1e6},
        "widget_views": {"median": statistics.median(views)},
        "ws_messages": {
            "to_filled": statistics.median(frames_load),
            "per_change": statistics.median(frames_change),
        },
        "cpu": os.cpu_count(),
        "client_nice": args.client_nice,
        "prefetch": os.environ.get("DESKKIT_PREFETCH", "default"),
        "processes": os.environ.get("DESKKIT_PROCESSES", "default"),
    }
    print(json.dumps(out, indent=2))
    Path(ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    name = "page.json" if args.client_nice <= 0 else "page-client-niced.json"
    if args.prefetch:
        name = name.replace(".json", f"-prefetch-{args.prefetch}.json")
    if args.processes:
        name = name.replace(".json", f"-processes-{args.processes}.json")
    (ROOT / "bench" / "results" / name).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
