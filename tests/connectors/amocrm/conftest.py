"""A small demo store, a stand-in serving it, and clients wired to the stand-in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from stores import AS_OF

from deskkit.connectors.amocrm import AmoClient, LongLivedToken, RateLimiter, RetryPolicy
from deskkit.connectors.amocrm.auth import Auth
from deskkit.connectors.amocrm.standin import StandIn

#: A distinctive fake token: tests grep logs, exception text and reprs for it.
FAKE_TOKEN = "tok-SECRET-7f3a9c-deskkit-fake"
#: Fast retries for tests; the defaults (1 s base delay) would make every fault test slow.
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.2, timeout=5.0)


@pytest.fixture(scope="session")
def amo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 300-deal demo account (deterministic), built once per session."""
    from deskkit.connectors.demo import generate

    path = tmp_path_factory.mktemp("amocrm") / "demo-300.duckdb"
    generate(path, deals=300, seed=7, as_of=AS_OF, progress=False)
    return path


@pytest.fixture
def api(amo_store: Path) -> Iterator[StandIn]:
    """A stand-in without the server-side rate limit (tests that need it switch it on)."""
    with StandIn(amo_store, token=FAKE_TOKEN, rate_limit=None) as server:
        yield server


ClientFactory = Callable[..., AmoClient]


@pytest.fixture
def make_client(api: StandIn) -> ClientFactory:
    """Clients of the stand-in with their own limiter (fast unless a rate is given)."""

    def make(
        *, auth: Auth | None = None, rate: float = 1000.0, retry: RetryPolicy = FAST_RETRY
    ) -> AmoClient:
        return AmoClient(
            api.url,
            auth or LongLivedToken(FAKE_TOKEN),
            limiter=RateLimiter(rate),
            retry=retry,
            seed=0,
        )

    return make


@pytest.fixture
def fake_token() -> str:
    """The stand-in's long-lived token (distinctive, so leaks are easy to grep for)."""
    return FAKE_TOKEN


@pytest.fixture(scope="session")
def store_rows(amo_store: Path) -> Callable[[str], int]:
    """Count rows of the store with SQL (the oracle for what the API must serve)."""
    import duckdb

    def count(sql: str) -> int:
        con = duckdb.connect(str(amo_store), read_only=True)
        try:
            return int(con.execute(sql).fetchone()[0])
        finally:
            con.close()

    return count
