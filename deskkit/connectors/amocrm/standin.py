"""A local stand-in for the amoCRM API v4, serving a deskkit demo store, with switchable faults.

>>> from deskkit.connectors.amocrm.standin import StandIn
>>> with StandIn("demo.duckdb", token="fake-token") as api:      # doctest: +SKIP
...     api.faults.burst_429(3)
...     client = AmoClient(api.url, LongLivedToken("fake-token"))
...     leads = list(client.records("/api/v4/leads", {"limit": 250}))

From the command line (serves the cached demo account when no store is given)::

    python -m deskkit.connectors.amocrm.standin [STORE] --port 8765 --token-file ./standin-token

The server binds 127.0.0.1 only. It answers like the real API where that matters to a sync:
HAL pages (``_page``, ``_links.next`` while a page is full, ``_embedded.<entity>``), 204 with
an empty body when nothing matches, problem+json 400s, 414 for over-long URLs, Bearer auth
with long-lived and OAuth tokens (single-use refresh tokens), and a 7 requests/second limit
over a sliding second.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

from deskkit.connectors.amocrm.faults import API_RATE_LIMIT, Decision, Faults, LoggedRequest
from deskkit.connectors.amocrm.standin_data import AccountData
from deskkit.connectors.amocrm.standin_query import ApiProblem, ListQuery, parse_params

__all__ = ["OAuthClient", "StandIn", "main"]

#: Longest request target accepted; real front ends answer 414 to long id lists.
MAX_URL: Final = 4096
ACCESS_TTL: Final = 86_400  # seconds, as amoCRM's OAuth access tokens
REFRESH_TTL: Final = 90 * 86_400
CODE_TTL: Final = 20 * 60

_BLOCKED_PAGE: Final = (
    b"<!DOCTYPE html><html><head><title>403 Forbidden</title></head><body>"
    b"<h1>Access denied</h1><p>The account has been blocked for exceeding the API request "
    b"limits. Contact support.</p></body></html>"
)


@dataclass(frozen=True)
class OAuthClient:
    """The stand-in's registered OAuth integration (fake credentials for tests)."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str = "https://example.invalid/oauth"


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/hal+json"
    headers: dict[str, str] = field(default_factory=dict)


def _json_reply(status: int, data: Any, content_type: str = "application/hal+json") -> _Reply:
    return _Reply(status, json.dumps(data, ensure_ascii=False).encode(), content_type)


def _problem(status: int, title: str, detail: str, **extra: Any) -> _Reply:
    doc = {"title": title, "type": f"https://httpstatus.es/{status}", "status": status}
    return _json_reply(status, {**doc, "detail": detail, **extra}, "application/problem+json")


class _Tokens:
    """Issued tokens: long-lived ones, OAuth access tokens, single-use refresh tokens, codes."""

    def __init__(self, long_lived: Sequence[str], app: OAuthClient, access_ttl: float):
        self._lock = threading.Lock()
        self._app = app
        self._access_ttl = access_ttl
        now = time.time()
        self._long_lived = {t: now for t in long_lived}
        self._access: dict[str, tuple[float, float]] = {}  # token -> (issued, expires)
        self._refresh: dict[str, tuple[float, bool]] = {}  # token -> (expires, used)
        self._codes: dict[str, tuple[float, bool]] = {}

    def check(self, token: str, faults: Faults) -> bool:
        """Whether a bearer token is valid now."""
        now = time.time()
        with self._lock:
            if token in self._long_lived:
                return not faults.token_expired(self._long_lived[token], long_lived=True)
            issued, expires = self._access.get(token, (0.0, 0.0))
        return expires > now and not faults.token_expired(issued, long_lived=False)

    def issue_code(self) -> str:
        """A fresh single-use authorization code."""
        code = "code-" + secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = (time.time() + CODE_TTL, False)
        return code

    def issue_pair(self) -> dict[str, Any]:
        """A fresh access/refresh pair, in the token endpoint's answer format."""
        access, refresh = "acc-" + secrets.token_urlsafe(24), "ref-" + secrets.token_urlsafe(24)
        now = time.time()
        with self._lock:
            self._access[access] = (now, now + self._access_ttl)
            self._refresh[refresh] = (now + REFRESH_TTL, False)
        return {
            "token_type": "Bearer",
            "expires_in": int(self._access_ttl),
            "access_token": access,
            "refresh_token": refresh,
        }

    def grant(self, body: dict[str, Any]) -> _Reply:
        """POST /oauth2/access_token."""
        app = self._app
        if body.get("client_id") != app.client_id or body.get("client_secret") != app.client_secret:
            return _problem(401, "Unauthorized", "Client authentication failed", hint="")
        if body.get("redirect_uri") != app.redirect_uri:
            return _problem(400, "Bad Request", "redirect_uri does not match", hint="")
        kind = body.get("grant_type")
        if kind == "authorization_code":
            table, key = self._codes, str(body.get("code", ""))
        elif kind == "refresh_token":
            table, key = self._refresh, str(body.get("refresh_token", ""))
        else:
            return _problem(400, "Bad Request", "Unsupported grant type", hint="")
        with self._lock:
            expires, used = table.get(key, (0.0, True))
            if used or expires < time.time():
                # Single use: a second refresh with the same token is refused, like amoCRM does.
                hint = "Token has been revoked" if key in table else "Cannot decrypt the token"
                return _problem(401, "Unauthorized", hint, hint=hint)
            table[key] = (expires, True)
        return _json_reply(200, self.issue_pair(), "application/json")


# HTTP ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    """A routed GET: its path, raw query pairs, nested parameters and the base URL for links."""

    path: str
    pairs: list[tuple[str, str]]
    params: dict[str, Any]
    base: str

    def query(self, max_limit: int = 250) -> ListQuery:
        """The validated list parameters."""
        return ListQuery.parse(self.params, max_limit)


_Route = tuple[re.Pattern[str], Callable[..., _Reply]]
_ENTITY = r"(leads|contacts|companies|customers)"
# Links follow the host the client used (127.0.0.1 or localhost), so that a client checking
# that _links stay on its own host accepts them.
_LOOPBACK_HOST = re.compile(r"(?:localhost|127\.0\.0\.1|\[::1\]):\d{1,5}")


class _App:
    """Request routing and the API semantics (the HTTP handler only moves bytes)."""

    def __init__(self, data: AccountData, faults: Faults, tokens: _Tokens):
        self.data = data
        self.faults = faults
        self.tokens = tokens
        self.routes: list[_Route] = [
            (re.compile(r"/api/v4/account"), self._account),
            (re.compile(r"/api/v4/users"), self._users),
            (re.compile(r"/api/v4/users/(\d+)"), self._user),
            (re.compile(r"/api/v4/leads/pipelines"), self._pipelines),
            (re.compile(r"/api/v4/leads/pipelines/(\d+)"), self._pipeline),
            (re.compile(r"/api/v4/leads/pipelines/(\d+)/statuses"), self._statuses),
            (re.compile(r"/api/v4/leads/loss_reasons"), self._loss_reasons),
            (re.compile(r"/api/v4/sources"), self._sources),
            (re.compile(rf"/api/v4/{_ENTITY}/tags"), self._tags),
            (re.compile(rf"/api/v4/{_ENTITY}/custom_fields"), self._custom_fields),
            (re.compile(rf"/api/v4/{_ENTITY}/notes"), self._notes),
            (re.compile(rf"/api/v4/{_ENTITY}/(\d+)/notes"), self._notes),
            (re.compile(rf"/api/v4/{_ENTITY}"), self._entities),
            (re.compile(rf"/api/v4/{_ENTITY}/(\d+)"), self._entity),
            (re.compile(r"/api/v4/tasks"), self._tasks),
            (re.compile(r"/api/v4/tasks/(\d+)"), self._task),
            (re.compile(r"/api/v4/events"), self._events),
            (re.compile(r"/api/v4/events/types"), self._event_types),
            (re.compile(r"/api/v4/talks/(\d+)"), self._talk),
        ]

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes, decision: Decision
    ) -> _Reply:
        """Answer one request; ``decision`` holds the faults decided on its arrival."""
        if decision.kind == "blocked":
            return _Reply(403, _BLOCKED_PAGE, "text/html; charset=utf-8")
        if decision.kind == "rate_limited":
            reply = _Reply(429, b"Too Many Requests", "text/plain; charset=utf-8")
            if decision.retry_after is not None:
                reply.headers["Retry-After"] = f"{decision.retry_after:g}"
            return reply
        if len(target) > MAX_URL:
            return _problem(414, "URI Too Long", "Request-URI Too Long")
        url = urllib.parse.urlsplit(target)
        path = url.path.rstrip("/") or "/"
        if path == "/oauth2/access_token":
            if method != "POST":
                return _problem(405, "Method Not Allowed", "use POST")
            if decision.kind == "error":
                return self._error_page(decision, headers)
            try:
                grant = json.loads(body or b"{}")
            except ValueError:
                return _problem(400, "Bad Request", "the body must be JSON")
            return self.tokens.grant(grant if isinstance(grant, dict) else {})
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        if not token or not self.tokens.check(token, self.faults):
            return _problem(401, "Unauthorized", "Unauthorized")
        if self.faults.is_unpaid:
            return _problem(402, "Payment Required", "Account is not paid")
        if decision.kind == "error":
            return self._error_page(decision, headers)
        if method != "GET":
            return _problem(405, "Method Not Allowed", "the stand-in is read-only")
        host = headers.get("host", "")
        base = f"http://{host}" if _LOOPBACK_HOST.fullmatch(host) else self.data.base_url
        pairs = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
        try:
            req = _Request(path, pairs, parse_params(pairs), base)
            for pattern, fn in self.routes:
                m = pattern.fullmatch(path)
                if m:
                    return fn(req, *m.groups())
        except ApiProblem as exc:
            return _json_reply(exc.status, exc.body(), "application/problem+json")
        return _problem(404, "Not Found", f"no route {path}")

    def _error_page(self, decision: Decision, headers: dict[str, str]) -> _Reply:
        status = decision.status
        page = f"<html><body><h1>{status} Server error</h1>"
        if decision.echo_headers:
            # What a misconfigured proxy might echo back: the request headers, token and all.
            page += "<pre>" + "\n".join(f"{k}: {v}" for k, v in headers.items()) + "</pre>"
        return _Reply(status, (page + "</body></html>").encode(), "text/html; charset=utf-8")

    # HAL ---------------------------------------------------------------------------------------

    def _page(
        self, req: _Request, q: ListQuery, entity: str, items: list[dict[str, Any]]
    ) -> _Reply:
        """A HAL page, or 204 when it is empty. ``next`` is offered while a page is full (the
        API does not count rows), so a list of exactly k·limit rows ends with a 204."""
        if not items:
            return _Reply(204)

        def href(page: int) -> str:
            rest = [(k, v) for k, v in req.pairs if k != "page"]
            query = urllib.parse.urlencode([("page", str(page)), *rest], safe="[],")
            return f"{req.base}{req.path}?{query}"

        links: dict[str, Any] = {"self": {"href": href(q.page)}}
        if len(items) >= q.limit:
            links["next"] = {"href": href(q.page + 1)}
        if q.page > 1:
            links["prev"] = {"href": href(q.page - 1)}
        items = self.faults.break_records(entity, items)
        return _json_reply(200, {"_page": q.page, "_links": links, "_embedded": {entity: items}})

    def _static_page(self, req: _Request, entity: str, items: list[dict[str, Any]]) -> _Reply:
        """Paginate a small in-memory list (reference data)."""
        q = req.query()
        start = (q.page - 1) * q.limit
        return self._page(req, q, entity, items[start : start + q.limit])

    @staticmethod
    def _one(found: list[dict[str, Any]]) -> _Reply:
        """One entity by id; like the API, 204 when there is none."""
        return _json_reply(200, found[0]) if found else _Reply(204)

    # Endpoints ---------------------------------------------------------------------------------

    def _account(self, req: _Request) -> _Reply:
        return _json_reply(200, self.data.account(req.query().with_))

    def _users(self, req: _Request) -> _Reply:
        return self._static_page(req, "users", self.data.users_json())

    def _user(self, req: _Request, uid: str) -> _Reply:
        return self._one([u for u in self.data.users_json() if u["id"] == int(uid)])

    def _pipelines(self, req: _Request) -> _Reply:
        items = self.data.pipelines_json()
        links = {"self": {"href": req.base + req.path}}
        body = {"_total_items": len(items), "_links": links, "_embedded": {"pipelines": items}}
        return _json_reply(200, body)

    def _pipeline(self, req: _Request, pid: str) -> _Reply:
        return self._one(self.data.pipelines_json(int(pid)))

    def _statuses(self, req: _Request, pid: str) -> _Reply:
        found = self.data.pipelines_json(int(pid))
        if not found:
            return _Reply(204)
        statuses = found[0]["_embedded"]["statuses"]
        body = {"_total_items": len(statuses), "_embedded": {"statuses": statuses}}
        return _json_reply(200, body)

    def _loss_reasons(self, req: _Request) -> _Reply:
        return self._static_page(req, "loss_reasons", self.data.loss_reasons_json())

    def _sources(self, req: _Request) -> _Reply:
        return self._static_page(req, "sources", self.data.sources_json())

    def _tags(self, req: _Request, entity: str) -> _Reply:
        return self._static_page(req, "tags", self.data.tags_json(entity))

    def _custom_fields(self, req: _Request, entity: str) -> _Reply:
        return self._static_page(req, "custom_fields", self.data.custom_fields_json(entity))

    def _notes(self, req: _Request, entity: str, eid: str | None = None) -> _Reply:
        q = req.query()
        notes = self.data.notes(entity, q, None if eid is None else int(eid))
        return self._page(req, q, "notes", notes)

    def _entities(self, req: _Request, entity: str) -> _Reply:
        q = req.query()
        return self._page(req, q, entity, self.data.entities(entity, q))

    def _entity(self, req: _Request, entity: str, eid: str) -> _Reply:
        one = ListQuery(1, 1, {"id": eid}, {}, req.query().with_)
        return self._one(self.data.entities(entity, one))

    def _tasks(self, req: _Request) -> _Reply:
        q = req.query()
        return self._page(req, q, "tasks", self.data.tasks(q))

    def _task(self, req: _Request, tid: str) -> _Reply:
        return self._one(self.data.tasks(ListQuery(1, 1, {"id": tid})))

    def _events(self, req: _Request) -> _Reply:
        q = req.query(max_limit=100)
        return self._page(req, q, "events", self.data.events(q))

    def _event_types(self, req: _Request) -> _Reply:
        items = self.data.event_types_json()
        return _json_reply(200, {"_total_items": len(items), "_embedded": {"events_types": items}})

    def _talk(self, req: _Request, tid: str) -> _Reply:
        talk = self.data.talk(int(tid))
        return _json_reply(200, talk) if talk else _problem(404, "Not Found", "no such talk")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "standin-amocrm/1"

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log lives in Faults; stderr noise would only hide test output

    def _dispatch(self, method: str) -> None:
        arrived = time.monotonic()
        app = self.server.app
        url = urllib.parse.urlsplit(self.path)
        logged = False

        def log(status: int, extra: float = 0.0) -> None:
            nonlocal logged
            if not logged:
                logged = True
                took = time.monotonic() - arrived + extra
                app.faults.record(LoggedRequest(method, url.path, url.query, status, arrived, took))

        try:
            decision = app.faults.decide(method, url.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                reply = app.handle(method, self.path, headers, body, decision)
            except Exception as exc:  # a stand-in bug must answer 500, not hang the client
                reply = _problem(500, "Internal Server Error", type(exc).__name__)
            # Logged before anything is sent: once a client has its answer, the log shows it.
            log(reply.status, decision.delay)
            if decision.delay:
                time.sleep(decision.delay)
            self.send_response(reply.status)
            if reply.status != 204:
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.end_headers()
            if reply.status != 204:
                self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout): nobody is listening any more
        finally:
            log(500)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    app: _App


class StandIn:
    """A threaded stand-in for the amoCRM API v4 on 127.0.0.1, serving a demo store.

    Parameters
    ----------
    store
        A DuckDB store of the deskkit schema (opened read-only).
    token
        The long-lived token it accepts (random if not given; see ``.token``).
    port
        0 picks a free port (see ``.url``).
    rate_limit
        Requests per sliding second above which it answers 429 (None: unlimited).
    access_ttl
        Lifetime of OAuth access tokens in seconds.
    quirks
        Emulate reported API quirks (``filter[entity]`` without ``filter[type]`` leaves out
        message and call events).
    """

    def __init__(
        self,
        store: str | os.PathLike[str],
        *,
        token: str | None = None,
        port: int = 0,
        rate_limit: float | None = API_RATE_LIMIT,
        access_ttl: float = ACCESS_TTL,
        oauth: OAuthClient | None = None,
        quirks: bool = True,
    ):
        self.store = Path(store)
        if not self.store.exists():
            raise FileNotFoundError(f"no store at {self.store}")
        self.token = token or "standin-" + secrets.token_urlsafe(24)
        self.oauth = oauth or OAuthClient(
            client_id="standin-client", client_secret="standin-secret-" + secrets.token_hex(8)
        )
        self.faults = Faults(rate_limit)
        self._tokens = _Tokens([self.token], self.oauth, access_ttl)
        self._server = _Server(("127.0.0.1", port), _Handler, bind_and_activate=True)
        host, real_port = self._server.server_address[:2]
        self.url = f"http://{host}:{real_port}"
        try:
            data = AccountData(self.store, self.url, quirks=quirks)
        except BaseException:
            self._server.server_close()
            raise
        self.data = data
        self._server.app = _App(data, self.faults, self._tokens)
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"StandIn({str(self.store)!r}, url={self.url!r})"

    @property
    def log(self) -> list[LoggedRequest]:
        """Requests served so far (method, path, query, status, arrival time, duration)."""
        return self.faults.log

    def issue_code(self) -> str:
        """A single-use OAuth authorization code, as the consent redirect would carry."""
        return self._tokens.issue_code()

    def issue_tokens(self) -> dict[str, Any]:
        """A fresh OAuth token pair (as the token endpoint returns it), without a request."""
        return self._tokens.issue_pair()

    def start(self) -> StandIn:
        """Serve in a background thread."""
        if self._thread is None:
            # A short poll interval makes stop() quick (shutdown waits for the next poll).
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="amocrm-standin",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving and close the store."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()
        self.data.close()

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: serve a store (default: the cached demo account) until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m deskkit.connectors.amocrm.standin",
        description="A local stand-in for the amoCRM API v4 serving a deskkit store.",
    )
    parser.add_argument("store", nargs="?", help="DuckDB store (default: the cached demo)")
    parser.add_argument("--deals", type=int, default=20_000, help="demo size without a store")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--token-file",
        default="standin-token",
        help="where to write the accepted long-lived token (mode 0600)",
    )
    parser.add_argument("--no-rate-limit", action="store_true", help="never answer 429")
    args = parser.parse_args(argv)
    if args.store:
        store = Path(args.store)
    else:
        from deskkit.connectors.demo.cache import cached_demo

        store = cached_demo(deals=args.deals, progress=True)
    # The token comes from the environment or is generated; it is written to an owner-only
    # file and never printed.
    token = os.environ.get("DESKKIT_STANDIN_TOKEN") or None
    api = StandIn(
        store,
        token=token,
        port=args.port,
        rate_limit=None if args.no_rate_limit else API_RATE_LIMIT,
    )
    from deskkit.connectors.amocrm.auth import write_private_json

    token_path = Path(args.token_file)
    write_private_json(token_path, {"access_token": api.token})
    print(f"serving {store} at {api.url}", flush=True)
    print(f"long-lived token written to {token_path} (use LongLivedToken.from_file)", flush=True)
    try:
        api.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        api.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
