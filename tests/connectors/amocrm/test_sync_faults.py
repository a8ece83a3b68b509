"""The sync under API faults: transient ones (429, 5xx, slow answers, an expiring OAuth token)
are ridden out; fatal ones (blocked, unpaid, a dead token) stop it with a clear error and leave
the published store untouched; malformed records become rejects. No fault leaks the token."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_sync_helpers import (
    END,
    TOKEN,
    assert_same_store,
    client_for,
    rows,
    run_sync,
    serve,
    synced_copy,
)

from deskkit.connectors.amocrm import (
    AccountBlocked,
    AccountUnpaid,
    OAuthApp,
    OAuthSession,
    RetryPolicy,
    Secret,
    Unauthorized,
)
from deskkit.connectors.amocrm.auth import write_private_json
from deskkit.connectors.amocrm.standin import StandIn
from deskkit.connectors.amocrm.sync import SyncError, sync


@pytest.fixture
def standin(amo_store: Path) -> Iterator[StandIn]:
    yield from serve(amo_store)


@pytest.fixture(scope="module")
def clean(amo_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synced_copy(amo_store, tmp_path_factory.mktemp("clean"))


def fingerprint(store: Path) -> tuple[str, str, int]:
    """What the published store is: its link, the snapshot's bytes and mtime."""
    target = store.resolve()
    return (
        os.readlink(store),
        hashlib.sha256(target.read_bytes()).hexdigest(),
        target.stat().st_mtime_ns,
    )


def after_requests(api: StandIn, n: int, action) -> threading.Thread:
    """Run ``action`` once the stand-in has logged ``n`` more requests (in a thread)."""
    start = len(api.log)

    def wait() -> None:
        deadline = time.monotonic() + 60
        while len(api.log) - start < n and time.monotonic() < deadline:
            time.sleep(0.001)
        action()

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread


def test_429_bursts_5xx_and_slow_answers_end_in_the_same_store(standin, clean, tmp_path):
    faults = standin.faults
    faults.burst_429(3, retry_after=0.01)
    faults.fail_next(2, 500)
    faults.fail_rate(0.05, 503, seed=1)
    faults.slow(0.05, count=5)
    store = tmp_path / "crm.duckdb"
    retry = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.2, timeout=5.0)
    report = sync(store, client_for(standin, retry=retry), progress=False, now=END)
    assert report.generation == 1
    assert faults.count(status=429) == 3 and faults.count(status=500) == 2
    assert faults.count(status=503) > 0
    assert_same_store(store, clean)


def test_an_oauth_token_expiring_mid_sync_is_refreshed(standin, clean, tmp_path):
    tokens = tmp_path / "tokens.json"
    pair = standin.issue_tokens()
    write_private_json(tokens, {**pair, "expires_at": time.time() + 86_400})
    app = OAuthApp(
        standin.oauth.client_id, Secret(standin.oauth.client_secret), standin.oauth.redirect_uri
    )
    after_requests(standin, 20, standin.faults.expire_tokens)
    store = tmp_path / "crm.duckdb"
    sync(store, client_for(standin, auth=OAuthSession(tokens, app)), progress=False, now=END)
    assert standin.faults.count(status=401) >= 1
    assert standin.faults.count("/oauth2/access_token", status=200) == 1
    assert_same_store(store, clean)


def test_a_dead_long_lived_token_stops_the_sync_and_keeps_the_published_store(
    standin, amo_store, tmp_path
):
    store = synced_copy(amo_store, tmp_path)
    before = fingerprint(store)
    standin.faults.expire_tokens(include_long_lived=True)
    with pytest.raises(SyncError, match="HTTP 401") as err:
        run_sync(standin, store)
    assert isinstance(err.value.cause, Unauthorized)
    assert "published store is unchanged" in str(err.value)
    assert fingerprint(store) == before


@pytest.mark.parametrize("fault", ["block", "unpaid"])
def test_blocked_or_unpaid_stops_at_once_then_the_next_run_resumes(
    standin, amo_store, clean, tmp_path, fault
):
    store = synced_copy(amo_store, tmp_path)
    before = fingerprint(store)
    switch = getattr(standin.faults, fault)
    # The account is blocked (or unpaid) in the middle of the next run's event pages.
    after_requests(standin, 12, switch)
    with pytest.raises(SyncError) as err:
        run_sync(standin, store)
    expected = {"block": (AccountBlocked, "blocked"), "unpaid": (AccountUnpaid, "unpaid")}[fault]
    assert isinstance(err.value.cause, expected[0]) and expected[1] in str(err.value)
    # Stopped at the first refusal: retrying would only prolong a block.
    assert standin.faults.count(status=403 if fault == "block" else 402) == 1
    assert fingerprint(store) == before
    switch(False)
    report = run_sync(standin, store)
    assert report.resumed and report.generation == 2
    assert_same_store(store, clean)


def test_malformed_records_are_rejected_with_reasons_and_counted(standin, amo_store, tmp_path):
    standin.faults.malformed(0.03, seed=2)
    store = tmp_path / "crm.duckdb"
    report = run_sync(standin, store)
    rejects = rows(store, "rejects")
    assert report.rejected == len(rejects) == sum(s.rejected for s in report.streams) > 0
    fields = (
        "id:",
        "price:",
        "status_id:",
        "responsible_user_id:",
        "entity_id:",
        "created_by:",
        "created_at:",
        "updated_at:",
        "custom_fields_values:",
    )
    for source, raw, reason, at in rejects:
        assert source.startswith("amocrm:/api/v4/") and raw.startswith("{")
        assert reason.startswith(fields), reason
        assert at == END
    # Nothing else is lost: every lead is either a deal or a reject.
    lists = ("amocrm:/api/v4/leads", "amocrm:/api/v4/leads?with=only_deleted")
    lead_rejects = [r for r in rejects if r[0] in lists]
    assert len(rows(store, "deals")) + len(lead_rejects) == len(rows(amo_store, "deals"))


def test_no_fault_leaks_the_token(standin, tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    faults = standin.faults
    faults.echo_headers()  # error pages repeat the request headers, Authorization included
    faults.fail_next(2, 502)
    faults.malformed(0.02, seed=5)
    store = tmp_path / "crm.duckdb"
    report = sync(store, client_for(standin), progress=True, now=END)  # with progress bars
    faults.block()
    with pytest.raises(SyncError) as err:
        run_sync(standin, store)
    texts = [
        str(err.value),
        repr(err.value),
        "".join(traceback.format_exception(err.value)),
        repr(report),
        report.summary(),
        caplog.text,
        *capsys.readouterr(),
    ]
    for text in texts:
        assert TOKEN not in text
    # Nor in any file the sync wrote (snapshots, WAL, lock).
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
