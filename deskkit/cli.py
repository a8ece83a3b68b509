"""The ``deskkit`` command: generate the demo account, serve the desktop, print a metric,
import export files, sync an amoCRM / Kommo account."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

__all__ = ["main", "voila_command"]

NOTEBOOK = Path("notebooks") / "desk.ipynb"
#: Requests per second amoCRM allows an account (``deskkit sync --rate`` may not exceed it).
API_LIMIT = 7.0


def voila_command(notebook: Path = NOTEBOOK, port: int = 8866, ip: str = "127.0.0.1") -> list[str]:
    """The Voilà command line the desktop is served with (settings in ``voila.json``)."""
    return [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        f"--port={port}",
        f"--Voila.ip={ip}",
        "--no-browser",
        # Repeated here so that serving does not depend on the working directory's voila.json.
        "--strip_sources=True",
        "--preheat_kernel=True",
        "--pool_size=1",
        # The next visitor's kernel starts once the pages are quiet (deskkit.serving).
        "--VoilaConfiguration.multi_kernel_manager_class=deskkit.serving.QuietKernelManager",
        "--MappingKernelManager.cull_idle_timeout=300",
        "--MappingKernelManager.cull_interval=60",
        "--VoilaConfiguration.show_tracebacks=False",
    ]


def _demo(args: argparse.Namespace) -> int:
    from deskkit.connectors.demo.cache import cached_demo
    from deskkit.connectors.demo.generate import generate

    as_of = dt.date.fromisoformat(args.as_of) if args.as_of else None
    if args.out:
        path = generate(args.out, deals=args.deals, seed=args.seed, as_of=as_of, progress=True)
    else:
        path = cached_demo(deals=args.deals, seed=args.seed, as_of=as_of, progress=True)
    print(path)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from deskkit.connectors.demo.cache import cached_demo

    env = dict(os.environ)
    if args.store:
        env["DESKKIT_STORE"] = args.store
    else:
        # Generate before Voilà starts, so the first page view does not wait for it.
        cached_demo(progress=True)
    cmd = voila_command(Path(args.notebook), args.port)
    print(f"deskkit: serving the desktop at http://127.0.0.1:{args.port}/", flush=True)
    return subprocess.call(cmd, env=env)


def _flow(args: argparse.Namespace) -> int:
    import deskkit

    desk = deskkit.open(args.store)
    period = (
        (dt.date.fromisoformat(args.start), dt.date.fromisoformat(args.end))
        if args.start
        else args.period
    )
    r = desk.pipeline_flow(period, args.pipeline, user=args.user, department=args.department)
    print(f"{r.pipeline} · {r.period.label} · {desk.currency}")
    print(r.stages.to_string(index=False))
    print(
        f"new {r.new} · won {r.won} ({r.won_budget:,.0f}) · lost {r.lost_total} "
        f"({r.lost_budget:,.0f})"
    )
    return 0


_DELIMITERS = {";": "semicolon", ",": "comma", "\t": "tab"}
#: Reject reasons the import command prints (all of them are in the store's rejects table).
SHOWN_REJECTS = 5


def _import(args: argparse.Namespace) -> int:
    from deskkit.connectors.export import import_files

    result = import_files(
        args.files,
        args.store,
        entity=args.entity,
        timezone=args.timezone,
        currency=args.currency,
    )
    made = "created" if result.created else "updated"
    print(f"{result.store}: {made}; dates read in {result.timezone}")
    for f in result.files:
        how = f.format if f.delimiter is None else f"{f.encoding}, {_DELIMITERS[f.delimiter]}"
        repeated = f", {f.duplicates} repeated" if f.duplicates else ""
        print(
            f"  {f.path.name}: {f.entity} ({how}): {f.rows} rows, {f.loaded} loaded, "
            f"{f.rejected} rejected{repeated}"
        )
        for note in f.warnings:
            print(f"    note: {note}")
    print("rows written: " + (" · ".join(f"{t} {n}" for t, n in result.rows.items()) or "none"))
    if result.rejects:
        print(f"rejected {result.rejected} row(s), kept in the store's rejects table:")
        for reject in result.rejects[:SHOWN_REJECTS]:
            print(f"  {reject}")
        if result.rejected > SHOWN_REJECTS:
            print(f"  … and {result.rejected - SHOWN_REJECTS} more")
    return 0


def _sync(args: argparse.Namespace) -> int:
    from deskkit.connectors.amocrm import AmoClient, AmoError, LongLivedToken, scrub
    from deskkit.connectors.amocrm.auth import OAuthApp, OAuthSession
    from deskkit.connectors.amocrm.client import LOOPBACK, account_url
    from deskkit.connectors.amocrm.ratelimit import DEFAULT_RATE
    from deskkit.connectors.amocrm.sync import SyncError, sync

    if not args.subdomain and not args.base_url:
        raise ValueError("give --subdomain (or --base-url for a stand-in)")
    try:
        # Tokens come from the environment or owner-only files, never from the command line
        # (which other users can read in the process list).
        if args.oauth:
            auth = OAuthSession(args.oauth, OAuthApp.from_env())
        elif args.token_file:
            auth = LongLivedToken.from_file(args.token_file)
        else:
            auth = LongLivedToken.from_env_or_file()
        url = args.base_url or account_url(args.subdomain, args.domain)
        rate = DEFAULT_RATE if args.rate is None else args.rate
        client = AmoClient(url, auth, rate=rate)
        host = urllib.parse.urlsplit(client.base_url).hostname
        if rate > API_LIMIT and host not in LOOPBACK:
            raise ValueError(f"amoCRM allows at most {API_LIMIT:g} requests per second")
        report = sync(args.store, client, progress=not args.no_progress)
    except (AmoError, SyncError) as exc:
        print(f"deskkit: error: {scrub(exc)}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deskkit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="generate the demo account (deterministic)")
    demo.add_argument("--deals", type=int, default=20_000)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--as-of", help="last day of the history, YYYY-MM-DD (default: today)")
    demo.add_argument("--out", help="DuckDB file to write (default: the demo cache)")
    demo.set_defaults(run=_demo)

    serve = sub.add_parser("serve", help="serve the desktop with Voilà")
    serve.add_argument("--store", help="store to show (default: the demo account)")
    serve.add_argument("--port", type=int, default=8866)
    serve.add_argument("--notebook", default=str(NOTEBOOK))
    serve.set_defaults(run=_serve)

    flow = sub.add_parser("flow", help="print the pipeline flow")
    flow.add_argument("--store", help="store to read (default: the demo account)")
    flow.add_argument("--period", default="month")
    flow.add_argument("--start", help="custom range first day, YYYY-MM-DD")
    flow.add_argument("--end", help="custom range last day, YYYY-MM-DD")
    flow.add_argument("--pipeline")
    flow.add_argument("--user")
    flow.add_argument("--department")
    flow.set_defaults(run=_flow)

    imp = sub.add_parser("import", help="load amoCRM export files (CSV/XLSX) into a store")
    imp.add_argument("files", nargs="+", metavar="FILE", help="deals, contacts or companies")
    imp.add_argument("--store", required=True, help="DuckDB file to create or update")
    imp.add_argument("--entity", choices=["deals", "contacts", "companies"])
    imp.add_argument(
        "--timezone", help="zone of the file's dates (default: the store's, else Europe/Moscow)"
    )
    imp.add_argument(
        "--currency", help="currency of a new store (default: from the budget column, else RUB)"
    )
    imp.set_defaults(run=_import)

    syn = sub.add_parser(
        "sync",
        help="sync an amoCRM / Kommo account into a store (full first, then only changes)",
        description="Token: $DESKKIT_AMOCRM_TOKEN, else the owner-only file named by "
        "--token-file or $DESKKIT_AMOCRM_TOKEN_FILE; or OAuth tokens (--oauth FILE) with the "
        "app from $DESKKIT_AMOCRM_CLIENT_ID, _CLIENT_SECRET and _REDIRECT_URI.",
    )
    syn.add_argument("--subdomain", help="the account: https://SUBDOMAIN.DOMAIN")
    syn.add_argument("--domain", choices=["amocrm.ru", "kommo.com"], default="amocrm.ru")
    syn.add_argument("--store", required=True, help="DuckDB store to create or update")
    syn.add_argument(
        "--base-url", help="API address instead of the account's (a local stand-in: http://...)"
    )
    syn.add_argument("--token-file", help="owner-only file holding a long-lived token")
    syn.add_argument("--oauth", metavar="FILE", help="owner-only OAuth token file (refreshed)")
    syn.add_argument(
        "--rate",
        type=float,
        default=None,
        help="requests per second (default 6.5; amoCRM allows 7; any rate for a local stand-in)",
    )
    syn.add_argument("--no-progress", action="store_true", help="no progress bars")
    syn.set_defaults(run=_sync)

    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except (ValueError, FileNotFoundError, PermissionError) as exc:
        print(f"deskkit: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
