"""Time every registered desktop widget for one filter change, on demo accounts.

Usage: python bench/bench_desktop.py [--deals 100000 1000000] [--runs 5] [--pandas] [--now ISO]

A "filter change" recomputes every widget for a new filter state (the period alternates between
this month and this week, as a user clicking the period buttons does). Reported per widget and
for the whole desktop: the median of ``runs`` changes, and the slowest. With ``--pandas``, the
same numbers are also computed by straightforward pandas code (bench/pandas_desktop.py) on
tables loaded into memory, and the two results are compared.

"Now" is 2026-11-27 15:00 UTC: the demo account holds the rest of that day (as a store looked
at in the past does), so the metrics look up what changed after now. ``--now`` sets another
moment, e.g. ``2026-11-28T00:00:00+00:00``, after every record, as in a store synced up to the
present.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

AS_OF = dt.date(2026, 11, 27)
NOW = dt.datetime(2026, 11, 27, 15, 0, tzinfo=dt.UTC)
PERIODS = ("month", "week")
PRESETS = (
    ("today", "today"),
    ("week", "week"),
    ("month", "month"),
    ("quarter", "quarter"),
    ("year", "year"),
    ("a past month (2026-01)", (dt.date(2026, 1, 1), dt.date(2026, 1, 31))),
    ("a past year (2025)", (dt.date(2025, 1, 1), dt.date(2025, 12, 31))),
)


def _new_period(i: int) -> object:
    if i < len(PERIODS):
        return PERIODS[i]
    first = dt.date(AS_OF.year, AS_OF.month, 1)
    for _ in range(i - len(PERIODS) + 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    return (first, last)


def probe() -> float:
    """Milliseconds for a fixed pure-Python loop: how fast the machine runs right now. Its
    speed drifts by up to 1.7x within minutes (other tenants), and every figure with it."""
    start = time.perf_counter()
    total = 0
    for i in range(1_000_000):
        total += i
    return (time.perf_counter() - start) * 1e3


def measure(deals: int, runs: int, with_pandas: bool, now: dt.datetime = NOW) -> dict:
    import deskkit
    from deskkit import widgets
    from deskkit.connectors.demo.cache import cached_demo

    desk = deskkit.open(cached_demo(deals=deals, seed=7, as_of=AS_OF), now=now)
    ws = widgets.widgets()
    warmup: dict[str, float] = {}
    for w in ws:  # warm-up: first compile of each expression shape, OS file cache, kept tables
        t = time.perf_counter()
        w.compute(desk, widgets.Filters(period="year"))
        warmup[w.id] = (time.perf_counter() - t) * 1e3
    per: dict[str, list[float]] = {w.id: [] for w in ws}
    totals: list[float] = []
    results: dict[str, object] = {}
    for i in range(runs):
        f = widgets.Filters(period=PERIODS[i % 2])
        start = time.perf_counter()
        for w in ws:
            t = time.perf_counter()
            results[w.id] = w.compute(desk, f)
            per[w.id].append((time.perf_counter() - t) * 1e3)
        totals.append((time.perf_counter() - start) * 1e3)
    # The same changes as the desktop page computes them (deskkit.ui.runner.Runner): widgets
    # concurrently on worker threads, every one recomputed ("cold": a fresh cache per change),
    # then with one cache, where a period change reuses the "now" widgets' results.
    from deskkit.ui.runner import Runner

    # As the desktop does: its queries recur all day, so compiled SQL is templated at once.
    if desk.store.compile_cache is not None:
        desk.store.compile_cache.eager = True
    cold: list[float] = []
    for i in range(runs):
        runner = Runner()
        start = time.perf_counter()
        runner.compute_all(ws, desk, widgets.Filters(period=PERIODS[i % 2]))
        cold.append((time.perf_counter() - start) * 1e3)
        runner.close()
    # Each change goes to a period not seen before (else the runner's cache answers at once):
    # this month, this week, then earlier whole months as custom ranges.
    runner = Runner()
    runner.compute_all(ws, desk, widgets.Filters(period="year"))
    change: list[float] = []
    for i in range(runs):
        start = time.perf_counter()
        got = runner.compute_all(ws, desk, widgets.Filters(period=_new_period(i)))
        change.append((time.perf_counter() - start) * 1e3)
        failed = {k: v for k, v in got.items() if isinstance(v, Exception)}
        if failed:
            raise RuntimeError(f"widgets failed: {failed}")
    runner.close()
    # Every widget recomputed (a fresh runner) for each preset and a past year: the cost
    # grows with the period's length (the raw events, messages and moves it spans).
    presets: dict[str, list[float]] = {}
    probes: list[float] = []
    for name, period in PRESETS:
        Runner().compute_all(ws, desk, widgets.Filters(period=period))  # first sight: compile
        times = []
        for _ in range(max(1, min(runs, 3))):
            probes.append(probe())
            r = Runner()
            start = time.perf_counter()
            r.compute_all(ws, desk, widgets.Filters(period=period))
            times.append((time.perf_counter() - start) * 1e3)
            r.close()
        presets[name] = times
    out = {
        "deals": deals,
        "desktop_ms": {"median": statistics.median(totals), "max": max(totals)},
        "concurrent_cold_ms": {"median": statistics.median(cold), "max": max(cold)},
        "filter_change_ms": {"median": statistics.median(change), "max": max(change)},
        "presets_ms": {
            k: {"median": statistics.median(v), "max": max(v)} for k, v in presets.items()
        },
        "widgets_ms": {k: {"median": statistics.median(v), "max": max(v)} for k, v in per.items()},
        "warmup_ms": warmup,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "probe_ms": {"median": statistics.median(probes), "min": min(probes), "max": max(probes)},
    }
    if with_pandas:
        sys.path.insert(0, str(Path(__file__).parent))
        import pandas_desktop

        out["pandas"] = pandas_desktop.run(desk, runs, PERIODS)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pandas", action="store_true")
    parser.add_argument("--now", type=dt.datetime.fromisoformat, default=NOW)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--prepare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        from deskkit.connectors.demo.cache import cached_demo

        cached_demo(deals=args.prepare, seed=7, as_of=AS_OF, progress=True)
        return
    if args.one:
        print(json.dumps(measure(args.one, args.runs, args.pandas, args.now)))
        return
    results = []
    for n in args.deals:
        subprocess.run([sys.executable, __file__, "--prepare", str(n)], check=True)
        cmd = [sys.executable, __file__, "--one", str(n), "--runs", str(args.runs)]
        cmd += ["--now", args.now.isoformat()]
        proc = subprocess.run(
            cmd + (["--pandas"] if args.pandas else []), capture_output=True, text=True
        )
        if proc.returncode:
            sys.exit(proc.stderr[-3000:])
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    print(
        f"\n{os.cpu_count()} cores · {cpu} · Python {platform.python_version()} · {dt.date.today()}"
        f" · now {args.now.isoformat()}"
    )
    head = " | ".join(f"{r['deals']:,}: median / max" for r in results)
    print(f"\n| widget | {head} |\n|---|" + "---:|" * len(results))
    for wid in results[0]["widgets_ms"]:
        cells = [
            f"{r['widgets_ms'][wid]['median']:.0f} / {r['widgets_ms'][wid]['max']:.0f} ms"
            for r in results
        ]
        print(f"| {wid} | " + " | ".join(cells) + " |")
    cells = [
        f"**{r['desktop_ms']['median']:.0f} / {r['desktop_ms']['max']:.0f} ms**" for r in results
    ]
    print("| **whole desktop, one after another** | " + " | ".join(cells) + " |")
    for key, label in (
        ("concurrent_cold_ms", "whole desktop, concurrent, all recomputed"),
        ("filter_change_ms", "**a period change on the desktop** (concurrent, now widgets reused)"),
    ):
        cells = [f"{r[key]['median']:.0f} / {r[key]['max']:.0f} ms" for r in results]
        print(f"| {label} | " + " | ".join(cells) + " |")
    for name, _ in PRESETS:
        cells = [
            f"{r['presets_ms'][name]['median']:.0f} / {r['presets_ms'][name]['max']:.0f} ms"
            for r in results
        ]
        print(f"| all widgets recomputed concurrently, {name} | " + " | ".join(cells) + " |")
    cells = [f"{r['warmup_ms']['response_time']:.0f} ms" for r in results]
    print(
        "| first response time of a fresh store (cuts every talk once) | "
        + " | ".join(cells)
        + " |"
    )
    print("| peak RSS | " + " | ".join(f"{r['peak_rss_mb']:.0f} MB" for r in results) + " |")
    cells = [
        f"{r['probe_ms']['median']:.0f} ms ({r['probe_ms']['min']:.0f}–{r['probe_ms']['max']:.0f})"
        for r in results
    ]
    print("| machine speed: fixed Python loop before each preset run | " + " | ".join(cells) + " |")
    if args.pandas:
        print_pandas(results)
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    Path("bench/results/desktop.json").write_text(json.dumps(results, indent=2))


def print_pandas(results: list[dict]) -> None:
    """Engine vs pandas medians per widget, and whether the numbers agree."""

    def ms(value: float | None) -> str:
        return "–" if value is None else f"{value:.0f} ms"

    def agrees(w: dict) -> str:
        return {True: "yes", False: "**no**", None: "–"}[w["agrees"]]

    head = " | ".join(f"{r['deals']:,}: engine / pandas | agree" for r in results)
    print(f"\n| widget | {head} |\n|---|" + "---:|---|" * len(results))
    for wid in results[0]["widgets_ms"]:
        cells = []
        for r in results:
            w = r["pandas"]["widgets"].get(wid, {"pandas_ms": None, "agrees": None})
            cells.append(
                f"{ms(r['widgets_ms'][wid]['median'])} / {ms(w['pandas_ms'])} | {agrees(w)}"
            )
        print(f"| {wid} | " + " | ".join(cells) + " |")
    cells = [
        f"**{r['desktop_ms']['median']:.0f} / {r['pandas']['desktop_ms']:.0f} ms** |"
        for r in results
    ]
    print("| **whole desktop** | " + " | ".join(cells) + " |")
    for r in results:
        p = r["pandas"]
        print(
            f"\npandas, {r['deals']:,} deals: load {p['load_s']:.1f} s, frames "
            f"{p['frames_mb']:.0f} MB, peak RSS after pandas {p['peak_rss_mb']:.0f} MB"
        )
        for wid, w in p["widgets"].items():
            if w["agrees"] is not True:
                print(f"  {wid}: {w['diff']}")


if __name__ == "__main__":
    main()
