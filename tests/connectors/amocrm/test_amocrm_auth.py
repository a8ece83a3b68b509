"""Credentials: owner-only token files, OAuth code exchange, single-use refresh under a lock."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from deskkit.connectors.amocrm import (
    AmoClient,
    CredentialsError,
    LongLivedToken,
    OAuthApp,
    OAuthSession,
    RateLimiter,
    RetryPolicy,
    Secret,
    TokenRevoked,
)
from deskkit.connectors.amocrm.auth import write_private_json


def _private(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_token_file_must_be_owner_only(tmp_path, fake_token):
    path = _private(tmp_path / "token", fake_token + "\n", 0o644)
    with pytest.raises(CredentialsError, match="chmod 600") as err:
        LongLivedToken.from_file(path)
    assert fake_token not in str(err.value)
    path.chmod(0o640)
    with pytest.raises(CredentialsError, match="group/others"):
        LongLivedToken.from_file(path)
    path.chmod(0o600)
    assert LongLivedToken.from_file(path).token(None).reveal() == fake_token  # type: ignore[arg-type]
    as_json = _private(tmp_path / "token.json", json.dumps({"access_token": fake_token}))
    assert LongLivedToken.from_file(as_json).token(None).reveal() == fake_token  # type: ignore[arg-type]
    with pytest.raises(CredentialsError, match="does not exist"):
        LongLivedToken.from_file(tmp_path / "missing")


def test_token_from_the_environment(monkeypatch, tmp_path, fake_token):
    monkeypatch.delenv("DESKKIT_AMOCRM_TOKEN", raising=False)
    monkeypatch.delenv("DESKKIT_AMOCRM_TOKEN_FILE", raising=False)
    with pytest.raises(CredentialsError, match="DESKKIT_AMOCRM_TOKEN"):
        LongLivedToken.from_env_or_file()
    monkeypatch.setenv("DESKKIT_AMOCRM_TOKEN_FILE", str(_private(tmp_path / "t", fake_token)))
    assert LongLivedToken.from_env_or_file().token(None).reveal() == fake_token  # type: ignore[arg-type]
    monkeypatch.setenv("DESKKIT_AMOCRM_TOKEN", fake_token)
    token = LongLivedToken.from_env()
    assert token.token(None).reveal() == fake_token  # type: ignore[arg-type]
    assert fake_token not in repr(token) + str(token) + repr(Secret(fake_token))


def test_token_file_is_written_atomically_owner_only(tmp_path):
    old = os.umask(0o000)  # even a permissive umask must not widen the file
    try:
        path = tmp_path / "tokens.json"
        write_private_json(path, {"a": 1})
        write_private_json(path, {"a": 2})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["tokens.json"]  # no temp files left


# OAuth ----------------------------------------------------------------------------------------


def _app(api) -> OAuthApp:
    o = api.oauth
    return OAuthApp(o.client_id, Secret(o.client_secret), o.redirect_uri)


def _client(api, session: OAuthSession) -> AmoClient:
    retry = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.2, timeout=5.0)
    return AmoClient(api.url, session, limiter=RateLimiter(1000.0), retry=retry, seed=0)


def _seed_file(api, path: Path, expires_in: float = 86_400) -> dict:
    pair = api.issue_tokens()
    write_private_json(
        path,
        {
            "access_token": pair["access_token"],
            "refresh_token": pair["refresh_token"],
            "expires_at": time.time() + expires_in,
        },
    )
    return pair


def _token_posts(api) -> int:
    return api.faults.count("/oauth2/access_token", method="POST")


def test_authorization_code_exchange(api, tmp_path):
    path = tmp_path / "oauth.json"
    client = _client(api, OAuthSession(path, _app(api)))
    code = api.issue_code()
    client.exchange_code(code)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert {"access_token", "refresh_token", "expires_at"} <= set(stored)
    assert client.get("/api/v4/account")["subdomain"]
    with pytest.raises(TokenRevoked, match="revoked") as err:
        client.exchange_code(code)  # codes are single-use too
    assert code not in str(err.value)


def test_expired_access_token_is_refreshed_once_and_the_sync_continues(api, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "oauth.json"
    first = _seed_file(api, path)
    client = _client(api, OAuthSession(path, _app(api)))
    assert client.get("/api/v4/account")
    api.faults.expire_tokens()
    leads = list(client.records("/api/v4/leads", {"limit": 100}))
    assert len(leads) == api.data.counts()["leads"]
    assert _token_posts(api) == 1
    assert next(e.status for e in api.log if e.path == "/api/v4/leads") == 401
    stored = json.loads(path.read_text())
    assert stored["refresh_token"] != first["refresh_token"]
    for secret in (first["access_token"], first["refresh_token"], stored["refresh_token"]):
        assert secret not in caplog.text


def test_proactive_refresh_before_expiry(api, tmp_path):
    path = tmp_path / "oauth.json"
    _seed_file(api, path, expires_in=60)  # inside the 5-minute refresh margin
    client = _client(api, OAuthSession(path, _app(api)))
    assert client.get("/api/v4/account")
    assert [(e.method, e.path, e.status) for e in api.log] == [
        ("POST", "/oauth2/access_token", 200),
        ("GET", "/api/v4/account", 200),
    ]


def test_a_reused_refresh_token_is_rejected(api, tmp_path):
    path = tmp_path / "oauth.json"
    first = _seed_file(api, path)
    stale = path.read_text()
    client = _client(api, OAuthSession(path, _app(api)))
    api.faults.expire_tokens()
    assert client.get("/api/v4/account")  # refreshed: the first refresh token is now spent
    # A stale copy of the file (say, restored from a backup) holds the spent refresh token.
    path.write_text(stale)
    api.faults.expire_tokens()
    with pytest.raises(TokenRevoked, match="Token has been revoked") as err:
        _client(api, OAuthSession(path, _app(api))).get("/api/v4/account")
    for secret in (first["access_token"], first["refresh_token"], api.oauth.client_secret):
        assert secret not in str(err.value)
    assert secret not in repr(OAuthSession(path, _app(api)))


def test_concurrent_threads_refresh_only_once(api, tmp_path):
    path = tmp_path / "oauth.json"
    _seed_file(api, path)
    # Separate sessions and clients, as two independent workers would have.
    clients = [_client(api, OAuthSession(path, _app(api))) for _ in range(4)]
    for c in clients:
        c.get("/api/v4/account")  # every session caches the current token
    api.faults.expire_tokens()
    barrier = threading.Barrier(len(clients))
    errors: list[BaseException] = []

    def work(c: AmoClient) -> None:
        barrier.wait()
        try:
            c.get("/api/v4/users")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert _token_posts(api) == 1
    assert api.faults.count("/api/v4/users", status=200) == len(clients)


def _refresh_in_child(url: str, path: str, app: tuple[str, str, str], out) -> None:
    try:
        session = OAuthSession(path, OAuthApp(app[0], Secret(app[1]), app[2]))
        retry = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.2, timeout=5.0)
        client = AmoClient(url, session, limiter=RateLimiter(1000.0), retry=retry)
        out.put(client.get("/api/v4/account")["subdomain"])
    except BaseException as exc:
        out.put(f"error: {type(exc).__name__}")


def test_concurrent_processes_refresh_only_once(api, tmp_path):
    path = tmp_path / "oauth.json"
    _seed_file(api, path, expires_in=-10)  # already expired: both processes must refresh
    ctx = multiprocessing.get_context("fork")  # the children reuse the imported modules
    out = ctx.Queue()
    o = api.oauth
    procs = [
        ctx.Process(
            target=_refresh_in_child,
            args=(api.url, str(path), (o.client_id, o.client_secret, o.redirect_uri), out),
        )
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    results = [out.get(timeout=5) for _ in procs]
    assert all(not str(r).startswith("error") for r in results), results
    assert _token_posts(api) == 1
    assert api.faults.count("/api/v4/account", status=200) == 2
