"""The client against the stand-in's faults: retries, backoff, rate limit, fatal answers."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from deskkit.connectors.amocrm import (
    AccountBlocked,
    AccountUnpaid,
    AmoClient,
    BadResponse,
    LongLivedToken,
    RetriesExhausted,
    RetryPolicy,
    Unauthorized,
    account_url,
    chunked,
    shared_limiter,
)
from deskkit.connectors.amocrm.client import check_base_url
from deskkit.connectors.amocrm.faults import Faults


def test_429_burst_is_recovered_and_the_limiter_stays_below_7_rps(api, make_client):
    api.faults.rate_limit(7)  # the server enforces the real limit over a sliding second
    api.faults.burst_429(3)
    client = make_client(rate=6.5)
    started = time.monotonic()
    leads = list(client.records("/api/v4/leads", {"limit": 30}))
    elapsed = time.monotonic() - started
    assert len(leads) == api.data.counts()["leads"]
    log = api.log
    assert [e.status for e in log[:4]] == [429, 429, 429, 200]
    assert api.faults.count(status=429) == 3  # only the injected ones: never over the limit
    assert api.faults.max_in_window(1.0) <= 7
    arrivals = sorted(e.at for e in log)
    assert (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) < 7
    assert elapsed >= (len(log) - 1) / 6.5 * 0.95


def test_threads_share_one_limiter_per_account(api, make_client):
    api.faults.rate_limit(7)
    limiter = shared_limiter(api.url, 6.5)
    assert shared_limiter(api.url, 6.5) is limiter
    clients = [AmoClient(api.url, LongLivedToken(api.token)) for _ in range(3)]
    assert all(c.limiter is limiter for c in clients)
    errors: list[BaseException] = []

    def work(c: AmoClient) -> None:
        try:
            for _ in range(4):
                c.get("/api/v4/account")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert api.faults.count(status=200) == 12
    assert api.faults.max_in_window(1.0) <= 7


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried(api, make_client, status):
    api.faults.fail_next(2, status)
    assert make_client().get("/api/v4/account")["subdomain"]
    assert [e.status for e in api.log] == [status, status, 200]


def test_random_server_errors_do_not_lose_records(api, make_client):
    api.faults.fail_rate(0.3, 503, seed=1)
    retry = RetryPolicy(max_attempts=8, base_delay=0.001, max_delay=0.01, timeout=5)
    tasks = list(make_client(retry=retry).records("/api/v4/tasks", {"limit": 50}))
    assert len({t["id"] for t in tasks}) == api.data.counts()["tasks"]
    assert api.faults.count(status=503) > 0


def test_retries_end_with_a_clear_error(api, make_client):
    api.faults.fail_next(10, 500)
    retry = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01, timeout=5)
    with pytest.raises(RetriesExhausted, match=r"HTTP 500 on all 3 attempts"):
        make_client(retry=retry).get("/api/v4/leads")
    assert len(api.log) == 3


def test_slow_response_times_out_and_is_retried(api, make_client):
    api.faults.slow(1.5, count=1)
    retry = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, timeout=0.3)
    started = time.monotonic()
    assert make_client(retry=retry).get("/api/v4/account")["subdomain"]
    assert time.monotonic() - started < 1.2  # did not wait for the slow answer
    assert len(api.log) == 2


def test_retry_after_is_respected(api, make_client):
    api.faults.burst_429(1, retry_after=0.4)
    make_client().get("/api/v4/account")
    first, second = sorted(e.at for e in api.log)
    assert second - first >= 0.38


def test_a_blocked_account_stops_at_once(api, make_client):
    api.faults.block()
    with pytest.raises(AccountBlocked, match="blocked"):
        make_client().get("/api/v4/leads")
    assert len(api.log) == 1  # no retries: they would only prolong the block


def test_repeated_rate_violations_block_the_account(api, make_client):
    # A client without a limiter: the server's 429s turn into a block, and the client stops.
    api.faults.rate_limit(3, block_after=2)
    retry = RetryPolicy(max_attempts=50, base_delay=0.0, max_delay=0.0, timeout=5)
    client = make_client(rate=10_000, retry=retry)
    with pytest.raises(AccountBlocked):
        for _ in range(20):
            client.get("/api/v4/account")
    assert api.log[-1].status == 403
    assert api.faults.blocked


def test_an_unpaid_account_stops_at_once(api, make_client):
    api.faults.unpaid()
    with pytest.raises(AccountUnpaid, match="402"):
        make_client().get("/api/v4/leads")
    assert len(api.log) == 1


def test_an_expired_long_lived_token_is_not_retried(api, make_client, fake_token):
    api.faults.expire_tokens(include_long_lived=True)
    with pytest.raises(Unauthorized) as err:
        make_client().get("/api/v4/account")
    assert len(api.log) == 1
    assert fake_token not in str(err.value)


def test_secrets_stay_out_of_logs_errors_and_reprs(api, make_client, fake_token, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client()
    # A proxy-style error page that echoes the request headers, Authorization included.
    api.faults.echo_headers()
    api.faults.fail_next(10, 502)
    with pytest.raises(RetriesExhausted) as exhausted:
        client.get("/api/v4/leads", {"limit": 5})
    api.faults.reset()
    api.faults.fail_next(1, 500)
    list(client.pages("/api/v4/users", {"limit": 5}))
    api.faults.expire_tokens(include_long_lived=True)
    with pytest.raises(Unauthorized) as unauthorized:
        client.get("/api/v4/account")
    texts = [
        caplog.text,
        str(exhausted.value),
        repr(exhausted.value),
        str(unauthorized.value),
        repr(client),
        repr(LongLivedToken(fake_token)),
        str(LongLivedToken(fake_token)),
    ]
    for text in texts:
        assert fake_token not in text
    assert "Bearer" not in caplog.text
    assert "retry" in caplog.text  # the log did record the retries


def test_error_text_from_the_server_is_scrubbed(api, make_client, fake_token):
    # The error page echoes the token; a 502 that is not retried further quotes its body.
    api.faults.echo_headers()
    api.faults.fail_next(1, 502)
    retry = RetryPolicy(max_attempts=1, base_delay=0.0, max_delay=0.0, timeout=5)
    with pytest.raises(RetriesExhausted) as err:
        make_client(retry=retry).get("/api/v4/account")
    assert err.value.status == 502
    assert "authorization: ***" in str(err.value)  # the echoed header, quoted but masked
    assert fake_token not in str(err.value)
    from deskkit.connectors.amocrm import scrub

    assert scrub(f"Authorization: Bearer {fake_token}") == "Authorization: ***"
    assert fake_token not in scrub(f'{{"access_token": "{fake_token}x"}}')
    assert scrub("Bearer abc.def-123 rest") == "Bearer *** rest"


def test_next_links_to_other_hosts_are_refused(api, make_client):
    client = make_client()
    with pytest.raises(BadResponse, match="another host"):
        client._same_origin("https://evil.example/api/v4/leads?page=2")
    assert client._same_origin("/api/v4/leads?page=2") == f"{api.url}/api/v4/leads?page=2"


def test_base_urls():
    assert account_url("MyCo") == "https://myco.amocrm.ru"
    assert account_url("myco", "kommo.com") == "https://myco.kommo.com"
    with pytest.raises(ValueError):
        account_url("myco", "example.com")
    with pytest.raises(ValueError):
        account_url("my.co")
    assert check_base_url("http://127.0.0.1:8765/") == "http://127.0.0.1:8765"
    assert check_base_url("http://localhost:1") == "http://localhost:1"
    assert check_base_url("https://myco.amocrm.ru") == "https://myco.amocrm.ru"
    for bad in (
        "http://myco.amocrm.ru",
        "ftp://127.0.0.1",
        "https://user:pw@myco.amocrm.ru",
        "https://myco.amocrm.ru/api/v4",
    ):
        with pytest.raises(ValueError):
            check_base_url(bad)


def test_the_public_namespace_is_all():
    import deskkit.connectors.amocrm as amocrm

    assert sorted(dir(amocrm)) == sorted(amocrm.__all__)
    assert all(getattr(amocrm, name) is not None for name in amocrm.__all__)


def test_chunked():
    assert list(chunked(range(23))) == [list(range(0, 10)), list(range(10, 20)), [20, 21, 22]]
    assert list(chunked([])) == []


def test_fault_controller_window():
    faults = Faults(rate_limit=2)
    statuses = [faults.decide("GET", "/api/v4/leads").status for _ in range(4)]
    assert statuses == [200, 200, 429, 429]
