"""The browser's share of a filter change: views the kernel already computed, drawn again.

Usage: python bench/bench_redraw.py [--deals 100000] [--runs 2]

Serves the desktop as bench_page.py does, then toggles between two departments three times and
between two periods twice. After the first visit to each view the kernel answers from its
result cache, so what remains is sending the cards and drawing them: per change, the seconds
to every card updated, the renderer main thread's busy time (Chromium's
``Performance.getMetrics`` TaskDuration), and how many charts were embedded anew (a new
``svg.marks``) rather than updated in the view already drawn.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(ROOT / "bench"))

# Counts every chart SVG that appears: one per embed, none for an update in place.
_COUNT_EMBEDS = """
window.__embeds = 0; const seen = new WeakSet();
new MutationObserver((ms) => { for (const m of ms) for (const n of m.addedNodes) {
  if (n.nodeType !== 1) continue;
  const all = n.matches?.('svg.marks') ? [n] : [...(n.querySelectorAll?.('svg.marks') ?? [])];
  for (const s of all) if (!seen.has(s)) { seen.add(s); window.__embeds++; } } })
  .observe(document, {subtree: true, childList: true});
"""
CHANGES = ("department", "another", "department", "another", "department", "another")
CHANGES += ("Week", "Month", "Week", "Month")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()

    from bench_page import AS_OF, FILLED, NOW_ISO, change, wait_until_idle
    from conftest import CHROMIUM, CHROMIUM_ARGS, _serve
    from playwright.sync_api import sync_playwright
    from stores import StoreInfo

    from deskkit import widgets
    from deskkit.connectors.demo.cache import cached_demo

    path = cached_demo(deals=args.deals, seed=7, as_of=AS_OF)
    store = StoreInfo(path, dt.datetime.fromisoformat(NOW_ISO), NOW_ISO)
    default = [w for w in widgets.widgets() if w.builtin]
    period_cards = [f"dk-card-{w.id}" for w in default if w.follows_period]
    all_cards = [f"dk-card-{w.id}" for w in default]
    data = Path(tempfile.mkdtemp(prefix="deskkit-redraw-"))
    server = _serve(ROOT / "notebooks" / "desk.ipynb", store, data, "voila-redraw.log")
    voila = next(server)
    cached: dict[str, list[tuple[float, float, int]]] = {"scope": [], "period": []}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            for run in range(args.runs):
                ctx = browser.new_context(viewport={"width": 1280, "height": 900})
                ctx.route(
                    "**/*",
                    lambda r: r.continue_() if r.request.url.startswith(voila.url) else r.abort(),
                )
                page = ctx.new_page()
                page.add_init_script(_COUNT_EMBEDS)
                cdp = ctx.new_cdp_session(page)
                cdp.send("Performance.enable")

                def busy(cdp=cdp) -> float:
                    metrics = cdp.send("Performance.getMetrics")["metrics"]
                    return next(m["value"] for m in metrics if m["name"] == "TaskDuration")

                page.goto(voila.url, timeout=300_000)
                page.wait_for_function(FILLED, arg=len(default), timeout=300_000, polling=50)
                seen: set[str] = set()
                for what in CHANGES:
                    page.wait_for_timeout(1500)
                    wait_until_idle()
                    embeds, task = page.evaluate("__embeds"), busy()
                    took = change(page, what, period_cards, all_cards)
                    time.sleep(1.0)  # the drawing after the last stamp counts too
                    row = (took, busy() - task, page.evaluate("__embeds") - embeds)
                    again = what in seen
                    seen.add(what)
                    print(
                        f"run {run + 1} {what:10s} {'cached' if again else 'computed':8s} "
                        f"updated {row[0]:.2f} s, browser busy {row[1]:.2f} s, "
                        f"{row[2]} charts embedded anew",
                        flush=True,
                    )
                    if again:
                        cached["period" if what[0].isupper() else "scope"].append(row)
                ctx.close()
                time.sleep(12)  # let Voilà preheat the next kernel
            browser.close()
    finally:
        server.close()
    for kind, rows in cached.items():
        if rows:
            print(
                f"cached {kind} changes: updated median {statistics.median(r[0] for r in rows):.2f}"
                f" s (max {max(r[0] for r in rows):.2f}), browser busy median "
                f"{statistics.median(r[1] for r in rows):.2f} s, embeds "
                f"{sorted({r[2] for r in rows})}"
            )


if __name__ == "__main__":
    main()
