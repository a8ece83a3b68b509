"""A new kernel's warm-up with and without the compiled SQL an earlier kernel kept.

Usage: python bench/bench_kernel_start.py [--deals 100000] [--runs 3]

Each run is a fresh interpreter, as a kernel Voilà starts: it imports ``deskkit.ui`` and makes
the served desktop as the notebook does (``Desktop.from_environment(compute=False)``), which
computes the default view, its previous period and one department's view before any visitor
comes. Reported per run: the import, then the warm-up to its end (wall and process CPU
seconds). "cold": no ``compiled-sql.json`` in the data folder (the first kernel ever);
"kept": the file the previous run wrote. Runs alternate cold / kept. No prefetch.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AS_OF = dt.date(2026, 11, 27)
NOW_ISO = "2026-11-27T15:00:00+00:00"

CHILD = """
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
from deskkit.ui import Desktop
t1, c1 = time.perf_counter(), time.process_time()
app = Desktop.from_environment(compute=False)
while app._scope_warmed is None:
    time.sleep(0.01)
app._scope_warmed.result(timeout=600)
t2, c2 = time.perf_counter(), time.process_time()
cache = app.desk.store.compile_cache
print(json.dumps({"import_s": t1 - t0, "import_cpu_s": c1 - c0, "warm_s": t2 - t1,
                  "warm_cpu_s": c2 - c1, "loaded": cache.loaded, "misses": cache.misses}))
"""


def one(store: Path, data: Path) -> dict[str, float]:
    env = dict(os.environ)
    env.update(
        DESKKIT_STORE=str(store),
        DESKKIT_NOW=NOW_ISO,
        DESKKIT_DATA=str(data),
        DESKKIT_PREFETCH="off",
    )
    env.pop("DESKKIT_PROCESSES", None)
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from deskkit.connectors.demo.cache import cached_demo

    store = cached_demo(deals=args.deals, seed=7, as_of=AS_OF, progress=True)
    data = Path(tempfile.mkdtemp(prefix="deskkit-kernel-"))
    runs: dict[str, list[dict[str, float]]] = {"cold": [], "kept": []}
    for _ in range(args.runs):
        for kind in ("cold", "kept"):
            if kind == "cold":
                for f in data.rglob("compiled-sql.json"):
                    f.unlink()
            r = one(store, data)
            runs[kind].append(r)
            print(
                f"{kind}: import {r['import_s']:.2f} s (cpu {r['import_cpu_s']:.2f}), warm-up "
                f"{r['warm_s']:.2f} s (cpu {r['warm_cpu_s']:.2f}), shapes loaded {r['loaded']}, "
                f"compiled {r['misses']}",
                flush=True,
            )
    summary = {
        kind: {
            key: round(statistics.median(r[key] for r in rs), 3)
            for key in ("import_s", "import_cpu_s", "warm_s", "warm_cpu_s")
        }
        for kind, rs in runs.items()
    }
    print(json.dumps(summary))
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    name = f"kernel-start-{args.deals}.json"
    (results / name).write_text(json.dumps({"deals": args.deals, "runs": runs, **summary}) + "\n")
    print(f"written bench/results/{name}", file=sys.stderr)


if __name__ == "__main__":
    main()
