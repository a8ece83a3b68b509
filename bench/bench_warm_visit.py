"""Time a visitor who arrives while a preheated kernel warms up: every card of a view the
warm-up did not compute, drawn (in-process, no browser).

Usage: python bench/bench_warm_visit.py [--deals 100000] [--runs 6]

A preheated desktop (``compute=False``, as in Voilà's pool) computes the default view, its
previous period, then one department's view. The visitor comes once that department's cards
are queued and asks for a past month (``QUERY_STRING``). The warm-up is background work, so
the visitor's cards go first; reported: seconds to every card's own numbers drawn, medians.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import threading
import time
from pathlib import Path

AS_OF = dt.date(2026, 11, 27)
NOW = dt.datetime(2026, 11, 27, 15, 0, tzinfo=dt.UTC)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=6)
    args = parser.parse_args()

    import deskkit
    from deskkit.connectors.demo.cache import cached_demo
    from deskkit.ui import Desktop, LayoutStore, Runner

    path = cached_demo(deals=args.deals, seed=7, as_of=AS_OF, progress=True)
    took = []
    for run in range(args.runs):
        desk = deskkit.open(path, now=NOW)
        runner = Runner()
        warming = threading.Event()
        submit = runner.submit

        def spy(widget, d, filters, warming=warming, submit=submit, **kw):  # type: ignore[no-untyped-def]
            if filters.department is not None:
                warming.set()
            return submit(widget, d, filters, **kw)

        runner.submit = spy  # type: ignore[method-assign]
        folder = Path(tempfile.mkdtemp(prefix="deskkit-bench-"))
        app = Desktop(desk, runner=runner, compute=False, layouts=LayoutStore("b", folder=folder))
        warming.wait(120)
        month = run % 9 + 1
        start = time.perf_counter()
        app.start(environ={"QUERY_STRING": f"period=2025-0{month}-01..2025-0{month}-28"})
        app.wait()
        took.append(time.perf_counter() - start)
        if app._scope_warmed is not None:
            app._scope_warmed.result(timeout=120)
        runner.close()
        print(f"run {run + 1}: {took[-1]:.2f} s", flush=True)
    print(f"median {statistics.median(took):.2f} s, max {max(took):.2f} s")


if __name__ == "__main__":
    main()
