"""Time opening the store and computing the pipeline flow on demo accounts.

Usage: python bench/bench_pipeline_flow.py [--deals 100000 1000000] [--runs 7]

Each size runs in its own process, so peak memory (max RSS) is that size's alone. Accounts are
generated once (fixed as_of, so runs are comparable) into the data folder and reused.
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


def _median_ms(fn, runs: int) -> tuple[float, float]:
    """(first call, median of the next ``runs`` calls), in milliseconds."""
    t = time.perf_counter()
    fn()
    first = (time.perf_counter() - t) * 1e3
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return first, statistics.median(times)


def measure(deals: int, runs: int) -> dict:
    import deskkit
    from deskkit.connectors.demo.cache import cached_demo

    path = cached_demo(deals=deals, seed=7, as_of=AS_OF)  # made by --prepare beforehand
    out: dict = {"deals": deals, "store_mb": round(path.stat().st_size / 2**20, 1)}
    _, out["open_ms"] = _median_ms(lambda: deskkit.open(path, now=NOW).store.account, runs)
    desk = deskkit.open(path, now=NOW)
    n_moves = desk.store.table("deal_moves").count().execute()
    out["deal_moves"] = int(n_moves)
    dept = str(desk.departments()["name"].iloc[0])
    cases = {
        "month": lambda: desk.pipeline_flow("month"),
        "year": lambda: desk.pipeline_flow("year"),
        "past quarter (custom)": lambda: desk.pipeline_flow(
            (dt.date(2026, 4, 1), dt.date(2026, 6, 30))
        ),
        "month, one department": lambda: desk.pipeline_flow("month", department=dept),
        "month, 2nd pipeline": lambda: desk.pipeline_flow(
            "month", pipeline=int(desk.pipelines()["pipeline_id"].iloc[1])
        ),
        "drill-down: new deals": lambda: desk.pipeline_flow("month").records("new"),
    }
    out["cases"] = {}
    for name, fn in cases.items():
        first, med = _median_ms(fn, runs)
        out["cases"][name] = {"first_ms": round(first, 1), "median_ms": round(med, 1)}
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--prepare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        from deskkit.connectors.demo.cache import cached_demo

        cached_demo(deals=args.prepare, seed=7, as_of=AS_OF, progress=True)
        return
    if args.one:
        print(json.dumps(measure(args.one, args.runs)))
        return
    results = []
    for n in args.deals:
        # Generate (or reuse) the account in another process: peak RSS is the metric's alone.
        subprocess.run([sys.executable, __file__, "--prepare", str(n)], check=True)
        proc = subprocess.run(
            [sys.executable, __file__, "--one", str(n), "--runs", str(args.runs)],
            capture_output=True,
            text=True,
            check=True,
        )
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
    )
    print("\n| deals | moves | store MB | open (median) | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['deals']:,} | {r['deal_moves']:,} | {r['store_mb']} | {r['open_ms']:.0f} ms "
            f"| {r['peak_rss_mb']} |"
        )
    print(
        "\n| pipeline flow | "
        + " | ".join(f"{r['deals']:,}: first / median" for r in results)
        + " |"
    )
    print("|---|" + "---:|" * len(results))
    for case in results[0]["cases"]:
        cells = [
            f"{r['cases'][case]['first_ms']:.0f} / {r['cases'][case]['median_ms']:.0f} ms"
            for r in results
        ]
        print(f"| {case} | " + " | ".join(cells) + " |")
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    Path("bench/results/pipeline_flow.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
