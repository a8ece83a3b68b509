"""The kernel's side of a filter change, with the cards computed in threads or in worker
processes (in-process, no browser, no Voilà).

Usage: python bench/bench_processes.py [--deals 100000] [--processes 0 2] [--changes 12]

For each ``--processes`` value (0: the kernel's threads), a desktop on the demo account draws
the default view, waits until its workers are ready and the machine has settled, then makes
``--changes`` changes the runner has not computed before (a department and a period at a
time: 401 × yesterday, week, quarter, year, then 402, 403): seconds from the change to every
card drawn, each change, and the median of those after the first two (which compile new
query shapes in every worker). No prefetch.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AS_OF = dt.date(2026, 11, 27)
NOW = dt.datetime(2026, 11, 27, 15, 0, tzinfo=dt.UTC)
PERIODS = ("yesterday", "week", "quarter", "year")


def run(path: Path, processes: int, changes: int) -> list[float]:
    import deskkit
    from deskkit.ui import Desktop, LayoutStore, Runner

    desk = deskkit.open(path, now=NOW)
    runner = Runner(processes=processes)
    layouts = LayoutStore("bench", folder=Path(tempfile.mkdtemp(prefix="deskkit-procs-")))
    try:
        if processes:
            runner.wait_ready(120)
        app = Desktop(desk, runner=runner, layouts=layouts, prefetch_after=None)
        app.wait(300)
        time.sleep(5)  # the comparisons and the workers' first queries settle
        states = [(d, p) for d in (401, 402, 403) for p in PERIODS][:changes]
        times = []
        for department, period in states:
            state = replace(app.state, user=None, department=department, period=period)
            start = time.perf_counter()
            app.filters.set_state(state)
            app._on_filters(state)  # what the filter bar's observers get from a click
            app.wait(300)
            times.append(time.perf_counter() - start)
            time.sleep(1.0)  # the previous period's comparisons, as a visitor reads the page
        return times
    finally:
        runner.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--processes", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--changes", type=int, default=12)
    args = parser.parse_args()

    from deskkit.connectors.demo.cache import cached_demo

    path = cached_demo(deals=args.deals, seed=7, as_of=AS_OF, progress=True)
    out = {}
    for processes in args.processes:
        times = run(path, processes, args.changes)
        later = times[2:] or times
        out[str(processes)] = {
            "changes_s": [round(t, 3) for t in times],
            "median_after_two_s": round(statistics.median(later), 3),
            "max_after_two_s": round(max(later), 3),
        }
        print(
            f"processes={processes}: "
            + " ".join(f"{t:.2f}" for t in times)
            + f"  (median after two {statistics.median(later):.2f} s, max {max(later):.2f} s)",
            flush=True,
        )
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    name = f"processes-{args.deals}.json"
    (results / name).write_text(json.dumps({"deals": args.deals, **out}, indent=2) + "\n")
    print(f"written bench/results/{name}", file=sys.stderr)


if __name__ == "__main__":
    main()
