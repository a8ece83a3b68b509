"""Measure the amoCRM sync against the local stand-in with the API's rate limit on.

Usage: ``python bench/bench_sync.py [--deals 3000] [--changed 30]``.

The stand-in (``python -m deskkit.connectors.amocrm.standin``, 7 requests per sliding second,
429 above) runs in its own process, so the CPU time measured here is the sync's alone: HTTP,
JSON, mapping and DuckDB writes. The client keeps to its default 6.5 requests per second.
Two runs: a full sync of a demo account, then, after ``--changed`` deals were edited (price,
``updated_at`` and one ``sale_field_changed`` event each), an incremental one. Reported per
run: records read, requests, wall seconds, records per second, requests per second as a share
of the 7 rps budget, 429 answers, and CPU seconds per 10,000 records.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

AS_OF = dt.date(2026, 11, 27)
#: The demo account's last second (its history ends with AS_OF in Moscow): the sync's "now".
END = dt.datetime(2026, 11, 27, 20, 59, 59)
LATER = END + dt.timedelta(hours=2)
BUDGET = 7.0


class _Count429(logging.Handler):
    """Counts the client's retry warnings for 429 answers."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.n = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "HTTP 429" in record.getMessage():
            self.n += 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(store: Path, folder: Path) -> tuple[subprocess.Popen[str], str, Path]:
    """The stand-in in a child process (rate limit on); its URL and token file."""
    port, token = _free_port(), folder / "token"
    cmd = [sys.executable, "-m", "deskkit.connectors.amocrm.standin", str(store)]
    cmd += ["--port", str(port), "--token-file", str(token)]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "serving" not in line:
        proc.kill()
        raise RuntimeError(f"the stand-in did not start: {line!r}")
    proc.stdout.readline()  # "long-lived token written to ..."
    return proc, f"http://127.0.0.1:{port}", token


def _change(store: Path, deals: int) -> None:
    """Edit ``deals`` deals of the account as of CHANGED (price, updated_at, one event each)."""
    import duckdb

    at = END + dt.timedelta(hours=1)
    con = duckdb.connect(str(store))
    ids = [
        r[0]
        for r in con.execute(
            "SELECT deal_id FROM deals WHERE NOT is_deleted ORDER BY hash(deal_id) LIMIT ?",
            [deals],
        ).fetchall()
    ]
    for deal in ids:
        con.execute(
            "UPDATE deals SET price = price + 100, updated_at = ? WHERE deal_id = ?", [at, deal]
        )
        con.execute(
            "INSERT INTO events SELECT 'bench-' || deal_id, 'sale_field_changed', 'deal', "
            "deal_id, ?, responsible_user_id, "
            "'[{\"sale_field_value\": {\"sale\": ' || CAST(price - 100 AS BIGINT) || '}}]', "
            "'[{\"sale_field_value\": {\"sale\": ' || CAST(price AS BIGINT) || '}}]' "
            "FROM deals WHERE deal_id = ?",
            [at, deal],
        )
    con.close()


def _run(url: str, token: Path, store: Path, now: dt.datetime) -> dict[str, Any]:
    from deskkit.connectors.amocrm import AmoClient, LongLivedToken
    from deskkit.connectors.amocrm.sync import sync

    counter = _Count429()
    logging.getLogger("deskkit.connectors.amocrm").addHandler(counter)
    client = AmoClient(url, LongLivedToken.from_file(token))
    cpu, wall = time.process_time(), time.perf_counter()
    report = sync(store, client, progress=False, now=now)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    logging.getLogger("deskkit.connectors.amocrm").removeHandler(counter)
    rps = report.requests / wall
    return {
        "records": report.fetched,
        "requests": report.requests,
        "seconds": round(wall, 1),
        "records_per_s": round(report.fetched / wall, 1),
        "requests_per_s": round(rps, 2),
        "budget_share": round(rps / BUDGET, 3),
        "http_429": counter.n,
        "cpu_s": round(cpu, 2),
        "cpu_s_per_10k": round(cpu / max(report.fetched, 1) * 10_000, 2),
        "rows": dict(report.rows),
    }


def _line(name: str, r: dict[str, Any]) -> str:
    return (
        f"| {name} | {r['records']:,} | {r['requests']:,} | {r['seconds']:.1f} | "
        f"{r['records_per_s']:,.0f} | {r['requests_per_s']:.2f} ({r['budget_share']:.0%}) | "
        f"{r['http_429']} | {r['cpu_s']:.1f} | {r['cpu_s_per_10k']:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, default=3000)
    parser.add_argument("--changed", type=int, default=30)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    from deskkit.connectors.demo import generate

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        account = generate(folder / "account.duckdb", deals=args.deals, seed=7, as_of=AS_OF)
        store = folder / "crm.duckdb"
        results = {}
        proc, url, token = _serve(account, folder)
        try:
            results["full"] = _run(url, token, store, END)
        finally:
            proc.terminate()
            proc.wait()
        _change(account, args.changed)
        proc, url, token = _serve(account, folder)
        try:
            results["incremental"] = _run(url, token, store, LATER)
        finally:
            proc.terminate()
            proc.wait()
        size = os.path.getsize(store.resolve()) / 2**20
    print(f"{args.deals:,}-deal demo account, {args.changed} deals changed; store {size:.0f} MiB")
    print(
        "| sync | records | requests | wall s | records/s | requests/s (share of 7) | 429 | "
        "CPU s | CPU s/10k records |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(_line(name, r))
    if args.json:
        Path(args.json).write_text(json.dumps({"deals": args.deals, **results}, indent=1))


if __name__ == "__main__":
    main()
