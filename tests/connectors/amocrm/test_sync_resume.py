"""A sync killed at any moment and run again ends with exactly the store of an uninterrupted
run; readers keep the snapshot they opened while a sync publishes a new one."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_sync_helpers import (
    CHANGED,
    END,
    LATER,
    TOKEN,
    assert_same_store,
    change_account,
    copy_store,
    run_sync,
    serve,
    synced_copy,
)

import deskkit
from deskkit.connectors.amocrm.snapshot import Layout
from deskkit.connectors.amocrm.standin import StandIn
from deskkit.connectors.amocrm.sync import SyncError

# Syncs in separate processes, so that they can be SIGKILLed. Importing deskkit takes seconds,
# so one "zygote" process imports it once and forks a child per sync; the test kills the
# child by its pid. The token comes from the environment.
ZYGOTE = """
import datetime as dt, os, sys, traceback
from deskkit.connectors.amocrm import AmoClient, LongLivedToken, RateLimiter, RetryPolicy
from deskkit.connectors.amocrm.sync import sync
print("ready", flush=True)
for line in sys.stdin:
    url, store, now = line.split()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            retry = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.2, timeout=5.0)
            client = AmoClient(url, LongLivedToken.from_env(), limiter=RateLimiter(1000.0),
                               retry=retry)
            sync(store, client, progress=False, now=dt.datetime.fromisoformat(now))
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        os._exit(code)
    print(pid, flush=True)
    _, status = os.waitpid(pid, 0)
    print(status, flush=True)
"""

# A desktop-like reader: holds the store open and answers "how many deals" on each line.
READER_SCRIPT = """
import sys, deskkit
desk = deskkit.open(sys.argv[1])
for line in sys.stdin:
    print(desk.store.table("deals").count().execute(), flush=True)
"""


class Zygote:
    """The forking sync runner."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE],
            env={**os.environ, "DESKKIT_AMOCRM_TOKEN": TOKEN},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._line() == "ready"

    def _line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def start(self, api: StandIn, store: Path, now: dt.datetime) -> int:
        """Fork a sync; its pid."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{api.url} {store} {now.isoformat()}\n")
        self.proc.stdin.flush()
        return int(self._line())

    def wait(self) -> int:
        """The wait status of the last sync (0: it finished)."""
        return int(self._line())

    def run(self, api: StandIn, store: Path, now: dt.datetime) -> None:
        """A sync to the end."""
        self.start(api, store, now)
        assert self.wait() == 0

    def kill_after(
        self, api: StandIn, pid: int, requests: int, delay: float, since: int | None = None
    ) -> bool:
        """SIGKILL sync ``pid`` once the stand-in has answered ``requests`` requests counted
        from log entry ``since`` (default: now), then ``delay`` s. False if the sync had
        finished first."""
        start = len(api.log) if since is None else since
        deadline = time.monotonic() + 60
        while len(api.log) - start < requests and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(delay)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        status = self.wait()
        return os.WIFSIGNALED(status)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def zygote() -> Iterator[Zygote]:
    z = Zygote()
    yield z
    z.close()


@pytest.fixture
def standin(amo_store: Path) -> Iterator[StandIn]:
    yield from serve(amo_store)


@pytest.fixture(scope="module")
def clean(amo_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted full sync."""
    return synced_copy(amo_store, tmp_path_factory.mktemp("clean"))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_killed_syncs_resume_to_the_same_store(standin, zygote, clean, tmp_path, seed):
    rng = random.Random(seed)
    store = tmp_path / "crm.duckdb"
    # A full sync of the 300-deal account makes about 80 requests; kill points are counted
    # from each run's start (counting from when the killer starts looking would let a fast
    # run finish first) and stay well inside the run.
    kill_points = 60
    # Kill the first run once or twice at random points (any request, or a little after
    # it: mapping, writing, finishing, publishing), then let it finish.
    kills = 0
    for _ in range(rng.randint(1, 2)):
        since = len(standin.log)
        pid = zygote.start(standin, store, END)
        point, delay = rng.randint(0, kill_points), rng.uniform(0, 0.2)
        kills += zygote.kill_after(standin, pid, point, delay, since=since)
    zygote.run(standin, store, END)
    assert kills >= 1
    assert_same_store(store, clean)
    # Then an incremental run (copy of the published snapshot, no changes), killed likewise.
    pid = zygote.start(standin, store, END)
    zygote.kill_after(standin, pid, rng.randint(0, 20), rng.uniform(0, 0.1))
    zygote.run(standin, store, END)
    assert_same_store(store, clean)
    layout = Layout.of(store)
    # Only the published snapshot and its predecessor are kept; nothing half-built is left.
    names = sorted(p.name for p in layout.folder.iterdir() if p.suffix == ".duckdb")
    assert names[-1] == store.resolve().name and len(names) <= 2


def test_a_second_sync_of_the_same_store_is_refused_while_one_runs(standin, zygote, tmp_path):
    store = tmp_path / "crm.duckdb"
    pid = zygote.start(standin, store, END)
    try:
        while len(standin.log) < 3:
            time.sleep(0.001)
        with pytest.raises(SyncError, match=r"another sync of .* is running"):
            run_sync(standin, store)
    finally:
        zygote.kill_after(standin, pid, 0, 0.0)


def test_a_reader_keeps_its_snapshot_and_a_new_open_sees_the_new_one(standin, amo_store, tmp_path):
    store = synced_copy(amo_store, tmp_path)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER_SCRIPT, str(store)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdin is not None and reader.stdout is not None

    def ask() -> int:
        reader.stdin.write("?\n")
        reader.stdin.flush()
        return int(reader.stdout.readline())

    try:
        before = ask()
        assert before == 300
        changed = change_account(copy_store(amo_store, tmp_path / "changed.duckdb"))
        with StandIn(tmp_path / "changed.duckdb", token=TOKEN, rate_limit=None) as api:
            # The writer is never blocked by the reader: it writes another file.
            report = run_sync(api, store, now=LATER)
            assert report.generation == 2
            assert ask() == before  # still answering, on the snapshot it opened
            fresh = deskkit.open(store)
            assert fresh.store.table("deals").count().execute() == before + 1
            deals = fresh.store.table("deals").to_pandas().set_index("deal_id")
            assert deals.loc[changed["new"], "name"] == "Brand new deal"
            fresh.store.backend.disconnect()
            # One more publication: the reader's snapshot file is deleted; it keeps reading.
            run_sync(api, store, now=LATER)
        assert not Layout.of(store).snapshot(1).exists()
        assert ask() == before
        assert CHANGED < LATER
    finally:
        reader.stdin.close()
        reader.wait(timeout=30)


def test_a_sync_stopped_between_finishing_and_publishing_publishes_on_the_next_run(
    standin, amo_store, clean, tmp_path, monkeypatch
):
    store = synced_copy(amo_store, tmp_path)
    publish = Layout.publish

    def stop(self: Layout, generation: int) -> None:
        raise KeyboardInterrupt  # as if killed just before the link is swapped

    monkeypatch.setattr(Layout, "publish", stop)
    with pytest.raises(KeyboardInterrupt):
        run_sync(standin, store)
    layout = Layout.of(store)
    assert layout.published() == 1 and layout.snapshot(2).exists()
    monkeypatch.setattr(Layout, "publish", publish)
    served = len(standin.log)
    report = run_sync(standin, store)
    # The finished snapshot is published as it is: nothing is read again.
    assert report.resumed and report.generation == 2 and len(standin.log) == served
    assert layout.published() == 2
    assert_same_store(store, clean)
