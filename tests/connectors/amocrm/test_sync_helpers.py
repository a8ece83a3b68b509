"""Shared pieces of the sync tests (no tests here): stand-ins, clients, store comparison, and
the changes made to an account between two syncs."""

from __future__ import annotations

import atexit
import datetime as dt
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from deskkit.connectors.amocrm import AmoClient, LongLivedToken, RateLimiter, RetryPolicy
from deskkit.connectors.amocrm.auth import Auth
from deskkit.connectors.amocrm.standin import StandIn
from deskkit.connectors.amocrm.sync import SyncReport, sync
from deskkit.store.schema import SCHEMA

#: A distinctive token: tests grep outputs, errors and files for it.
TOKEN = "tok-SYNC-SECRET-5e1d77-deskkit"
#: The last second of the demo account (AS_OF in the account's zone): the generator's
#: ``account.synced_at``. A sync ending there sees the whole account and writes the same value.
END = dt.datetime(2026, 11, 27, 20, 59, 59)
#: When the account changes between syncs, and when the next sync runs.
CHANGED = dt.datetime(2026, 11, 28, 6, 0, 0)
LATER = dt.datetime(2026, 11, 28, 7, 0, 0)
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.2, timeout=5.0)


def client_for(
    api: StandIn, *, auth: Auth | None = None, retry: RetryPolicy = FAST_RETRY
) -> AmoClient:
    """A client of ``api`` with its own (fast) limiter."""
    return AmoClient(
        api.url, auth or LongLivedToken(TOKEN), limiter=RateLimiter(1000.0), retry=retry, seed=0
    )


def run_sync(api: StandIn, store: Path, now: dt.datetime = END, **kwargs: Any) -> SyncReport:
    return sync(store, client_for(api), progress=False, now=now, **kwargs)


_SYNCED: dict[Path, Path] = {}


def synced_copy(account: Path, dest: Path) -> Path:
    """``dest``/crm.duckdb: a published full sync of ``account`` as of END (the sync runs once
    per test process; each caller gets its own copy of the link and the snapshot)."""
    if account not in _SYNCED:
        folder = Path(tempfile.mkdtemp(prefix="deskkit-synced-"))
        atexit.register(shutil.rmtree, folder, True)
        with StandIn(account, token=TOKEN, rate_limit=None) as api:
            report = run_sync(api, folder / "crm.duckdb")
        assert report.full and report.generation == 1 and report.rejected == 0
        _SYNCED[account] = folder / "crm.duckdb"
    src = _SYNCED[account]
    dest.mkdir(parents=True, exist_ok=True)
    snapshot = src.resolve()
    (dest / f"{src.name}.sync").mkdir()
    copy_store(snapshot, dest / f"{src.name}.sync" / snapshot.name)
    store = dest / src.name
    store.symlink_to(src.readlink())
    return store


def serve(store: Path) -> Iterator[StandIn]:
    """A stand-in of ``store`` without the rate limit, with the sync tests' token (for the
    ``standin`` fixture of each test module)."""
    with StandIn(store, token=TOKEN, rate_limit=None) as server:
        yield server


def rows(path: Path, table: str) -> list[tuple[Any, ...]]:
    """Every row of a store table in a fixed order (all schema columns)."""
    cols = ", ".join(f'"{c}"' for c in SCHEMA[table].names)
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(f'SELECT {cols} FROM "{table}" ORDER BY ALL').fetchall()
    finally:
        con.close()


def state(path: Path, prefix: str = "") -> dict[str, str]:
    """The sync's own bookkeeping (``_sync_state``) entries starting with ``prefix``."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        found = con.execute("SELECT key, value FROM _sync_state").fetchall()
    finally:
        con.close()
    return {k: v for k, v in found if k.startswith(prefix)}


def assert_same_store(a: Path, b: Path) -> None:
    """Both stores hold the same rows in every schema table, and the same watermarks."""
    for table in SCHEMA:
        left, right = rows(a, table), rows(b, table)
        assert left == right, f"{table}: {len(left)} rows vs {len(right)}"
    assert state(a, "watermark:") == state(b, "watermark:")


def copy_store(src: Path, dst: Path) -> Path:
    shutil.copyfile(src, dst)
    return dst


def change_account(path: Path) -> dict[str, int]:
    """Change a copy of the demo account as a day of CRM work would, all at CHANGED: a new
    deal, a price edit, a stage move, a deletion (updated_at bumped), a deletion that leaves
    updated_at alone (only its event tells), a message, a completed task. Returns the ids."""
    con = duckdb.connect(str(path))
    try:
        q = con.execute
        at = CHANGED
        open_deals = q(
            "SELECT d.deal_id, d.pipeline_id, d.stage_id FROM deals d JOIN stages s "
            "USING (pipeline_id, stage_id) WHERE s.kind = 'open' AND NOT d.is_deleted "
            "ORDER BY d.deal_id"
        ).fetchall()
        (edit, _, _), (move, pipe, stage), (gone, _, _) = open_deals[:3]
        # The deal least recently changed: its deletion is outside every window but events'.
        quiet = q(
            "SELECT deal_id FROM deals WHERE NOT is_deleted AND deal_id NOT IN (?, ?, ?) "
            "ORDER BY updated_at LIMIT 1",
            [edit, move, gone],
        ).fetchone()[0]
        target = q(
            "SELECT stage_id FROM stages WHERE pipeline_id = ? AND kind = 'open' AND stage_id <> ? "
            "ORDER BY sort DESC LIMIT 1",
            [pipe, stage],
        ).fetchone()[0]
        new = 29_999_999
        q(
            "INSERT INTO deals SELECT ?, 'Brand new deal', pipeline_id, stage_id, 777, "
            "responsible_user_id, created_by, ?, ?, NULL, source_id, NULL, NULL, NULL, false "
            "FROM deals WHERE deal_id = ?",
            [new, at, at, move],
        )
        q(
            "INSERT INTO events SELECT 'la-' || ?, 'lead_added', 'deal', ?, ?, created_by, NULL, "
            '\'[{"lead_status": {"id": \' || stage_id || \', "pipeline_id": \' || pipeline_id '
            "|| '}}]' FROM deals WHERE deal_id = ?",
            [new, new, at, new],
        )
        q("UPDATE deals SET price = price + 1000, updated_at = ? WHERE deal_id = ?", [at, edit])
        q(
            "UPDATE deals SET stage_id = ?, updated_at = ? WHERE deal_id = ?",
            [target, at, move],
        )
        q(
            "INSERT INTO events VALUES ('ls-' || ? || '-99', 'lead_status_changed', 'deal', ?, ?, "
            "0, ?, ?)",
            [
                move,
                move,
                at,
                f'[{{"lead_status": {{"id": {stage}, "pipeline_id": {pipe}}}}}]',
                f'[{{"lead_status": {{"id": {target}, "pipeline_id": {pipe}}}}}]',
            ],
        )
        q(
            "INSERT INTO deal_moves VALUES (?, ?, ?, ?, ?, ?, 0)",
            [move, at, pipe, stage, pipe, target],
        )
        q("UPDATE deals SET is_deleted = true, updated_at = ? WHERE deal_id = ?", [at, gone])
        for deal in (gone, quiet):
            q(
                "INSERT INTO events SELECT 'ld-' || deal_id, 'lead_deleted', 'deal', deal_id, ?, "
                "responsible_user_id, NULL, NULL FROM deals WHERE deal_id = ?",
                [at, deal],
            )
        q("UPDATE deals SET is_deleted = true WHERE deal_id = ?", [quiet])  # updated_at unchanged
        q(
            "INSERT INTO messages VALUES ('888-1', 888, 'deal', ?, 'out', 'telegram', ?, "
            "(SELECT responsible_user_id FROM deals WHERE deal_id = ?))",
            [edit, at, edit],
        )
        q(
            "INSERT INTO events SELECT 'mo-888-1', 'outgoing_chat_message', 'deal', entity_id, "
            "created_at, user_id, NULL, NULL FROM messages WHERE message_id = '888-1'"
        )
        task = q(
            "SELECT task_id FROM tasks WHERE NOT is_completed ORDER BY task_id LIMIT 1"
        ).fetchone()[0]
        q("UPDATE tasks SET is_completed = true, completed_at = ? WHERE task_id = ?", [at, task])
        q(
            "INSERT INTO events SELECT 'tc-' || task_id, 'task_completed', 'task', task_id, ?, "
            "responsible_user_id, NULL, NULL FROM tasks WHERE task_id = ?",
            [at, task],
        )
    finally:
        con.close()
    return {"new": new, "edit": edit, "move": move, "gone": gone, "quiet": quiet, "task": task}
