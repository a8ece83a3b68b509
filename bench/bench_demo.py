"""Time the demo-account generator: wall seconds and peak RSS per run.

Usage: ``python bench/bench_demo.py [--deals 100000] [--runs 3]``. Each run is a fresh process
so the peak RSS (``resource.getrusage``) belongs to that run alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AS_OF = dt.date(2026, 11, 27)


def one_run(deals: int, seed: int) -> dict[str, float]:
    """Generate once in this process; return seconds, peak RSS (MiB) and file size (MiB)."""
    from deskkit.connectors.demo import generate

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        path = generate(Path(tmp) / "bench.duckdb", deals=deals, seed=seed, as_of=AS_OF)
        seconds = time.perf_counter() - start
        size = path.stat().st_size
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"seconds": seconds, "peak_rss_mib": peak_kib / 1024, "file_mib": size / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_run(args.deals, args.seed)))
        return
    results = []
    for k in range(args.runs):
        cmd = [sys.executable, __file__, "--child", "--deals", str(args.deals)]
        cmd += ["--seed", str(args.seed)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        res = json.loads(out.strip().splitlines()[-1])
        results.append(res)
        print(
            f"run {k + 1}: {args.deals:,} deals in {res['seconds']:.1f} s, "
            f"peak RSS {res['peak_rss_mib']:.0f} MiB, file {res['file_mib']:.0f} MiB"
        )
    med = statistics.median(r["seconds"] for r in results)
    peak = max(r["peak_rss_mib"] for r in results)
    print(
        f"median {med:.1f} s over {args.runs} run(s), max peak RSS {peak:.0f} MiB "
        f"(nproc={os.cpu_count()})"
    )


if __name__ == "__main__":
    main()
