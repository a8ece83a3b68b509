"""The HTTP client for the amoCRM / Kommo API v4: rate limit, retries, auth, HAL pagination.

>>> from deskkit.connectors.amocrm import AmoClient, LongLivedToken
>>> client = AmoClient.for_account("mycompany", LongLivedToken("..."))  # doctest: +SKIP
>>> for page in client.pages("/api/v4/leads", {"limit": 250}):           # doctest: +SKIP
...     store(page.items)
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import random
import re
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from deskkit.connectors.amocrm.auth import Auth, Secret
from deskkit.connectors.amocrm.errors import (
    AccountBlocked,
    AccountUnpaid,
    AmoError,
    BadRequest,
    BadResponse,
    Forbidden,
    NotFound,
    RetriesExhausted,
    Unauthorized,
    scrub,
)
from deskkit.connectors.amocrm.ratelimit import DEFAULT_RATE, RateLimiter, shared_limiter

__all__ = [
    "DOMAINS",
    "AmoClient",
    "Page",
    "Response",
    "RetryPolicy",
    "account_url",
    "check_base_url",
    "chunked",
]

log = logging.getLogger("deskkit.connectors.amocrm")

DOMAINS: Final = ("amocrm.ru", "kommo.com")
LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1"})
_SUBDOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_RETRY_STATUS: Final = frozenset({429, 500, 502, 503, 504})
_BODY_SNIPPET = 300  # characters of an error body worth quoting in an exception

T = TypeVar("T")


# URLs ---------------------------------------------------------------------------------------


def account_url(subdomain: str, domain: str = "amocrm.ru") -> str:
    """``https://{subdomain}.{domain}`` for an account on amocrm.ru or kommo.com."""
    if domain not in DOMAINS:
        raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
    sub = subdomain.strip().lower()
    if not _SUBDOMAIN.match(sub):
        raise ValueError(f"not an account subdomain: {subdomain!r}")
    return f"https://{sub}.{domain}"


def check_base_url(url: str) -> str:
    """``url`` normalised to ``scheme://host[:port]``; HTTPS required except on loopback.

    The token travels in every request, so plain HTTP is refused for anything but a stand-in on
    this machine, and URLs with credentials, paths or queries are refused as likely mistakes.
    """
    parts = urllib.parse.urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"not an http(s) base URL: {url!r}")
    if parts.scheme == "http" and host not in LOOPBACK:
        raise ValueError(f"plain HTTP is allowed only for 127.0.0.1/localhost, not {host!r}")
    if parts.username or parts.password:
        raise ValueError("the base URL must not carry credentials")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"the base URL must be scheme://host[:port] only, got {url!r}")
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return f"{parts.scheme}://{netloc}"


def _encode(params: Mapping[str, Any] | None) -> str:
    """A query string; sequences become ``key[0]=a&key[1]=b`` (PHP's http_build_query form,
    which the official client sends)."""
    if not params:
        return ""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, Sequence) and not isinstance(value, str | bytes):
            pairs.extend((f"{key}[{i}]", _scalar(v)) for i, v in enumerate(value))
        else:
            pairs.append((key, _scalar(value)))
    return urllib.parse.urlencode(pairs, safe="[],")


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def chunked(ids: Iterable[T], size: int = 10) -> Iterator[list[T]]:
    """``ids`` in lists of at most ``size`` (events filters accept at most 10 ids).

    >>> list(chunked(range(5), 2))
    [[0, 1], [2, 3], [4]]
    """
    if size < 1:
        raise ValueError("size must be at least 1")
    batch: list[T] = []
    for item in ids:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# Values ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts per request, exponential backoff with jitter, socket timeout."""

    max_attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0
    timeout: float = 60.0
    #: The longest Retry-After honoured; a server asking for more ends the request.
    max_retry_after: float = 300.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Delay before retry number ``attempt`` (1-based): base·2^(attempt-1), capped, with
        jitter in [50%, 100%] so that parallel workers do not retry in lockstep."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return ceiling * rng.uniform(0.5, 1.0)


@dataclass(frozen=True)
class Response:
    """One HTTP answer. ``path`` is the request path and query (never a secret)."""

    status: int
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    path: str = ""

    def json(self) -> Any:
        """The decoded body; None for 204 or an empty body (which must not be parsed)."""
        if self.status == 204 or not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            raise BadResponse(
                f"{self.path}: HTTP {self.status} with a body that is not JSON: "
                f"{_snippet(self.body)}",
                status=self.status,
                path=self.path,
            ) from None


@dataclass(frozen=True)
class Page:
    """One page of a HAL list: its number, the ``_embedded`` key and its records."""

    number: int
    entity: str
    items: list[dict[str, Any]] = field(repr=False)
    path: str = ""


def _snippet(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    if len(text) > _BODY_SNIPPET:
        text = text[:_BODY_SNIPPET] + "…"
    return scrub(text)


def _is_html(resp: Response) -> bool:
    ctype = resp.headers.get("content-type", "").lower()
    return "html" in ctype or resp.body.lstrip()[:1] == b"<"


def _retry_after(resp: Response) -> float | None:
    value = resp.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))  # delta-seconds (integer in the RFC; accept fractions)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Never follow redirects: urllib would resend our Authorization header to the new host."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# The client ----------------------------------------------------------------------------------


class AmoClient:
    """A thread-safe client for one amoCRM/Kommo account.

    Every request waits for the account's shared rate limiter; 429, 5xx and timeouts are
    retried with exponential backoff (honouring Retry-After); a 401 triggers one token refresh.
    Blocked (403 HTML) and unpaid (402) accounts raise at once: retrying would only extend a
    block.
    """

    def __init__(
        self,
        base_url: str,
        auth: Auth,
        *,
        rate: float = DEFAULT_RATE,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        user_agent: str = "deskkit-amocrm/0.1",
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
    ):
        self._base = check_base_url(base_url)
        self._auth = auth
        self._limiter = limiter or shared_limiter(self._base, rate)
        self._retry = retry or RetryPolicy()
        self._user_agent = user_agent
        self._sleep = sleep
        self._rng = random.Random(seed)
        host = urllib.parse.urlsplit(self._base).hostname or ""
        handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
        if host in LOOPBACK:
            # A stand-in on this machine must not be sent through an HTTP(S)_PROXY.
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)

    @classmethod
    def for_account(
        cls, subdomain: str, auth: Auth, *, domain: str = "amocrm.ru", **kwargs: Any
    ) -> AmoClient:
        """A client for ``https://{subdomain}.{domain}``."""
        return cls(account_url(subdomain, domain), auth, **kwargs)

    @property
    def base_url(self) -> str:
        """``scheme://host[:port]`` of the account."""
        return self._base

    @property
    def limiter(self) -> RateLimiter:
        """The rate limiter this client waits for (shared per account in the process)."""
        return self._limiter

    def __repr__(self) -> str:
        return f"AmoClient({self._base!r}, auth={self._auth!r}, limiter={self._limiter!r})"

    # Requests ----------------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET ``path``; the decoded JSON, or None when the server answers 204 (no content)."""
        return self.request("GET", path, params).json()

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Response:
        """One API call with rate limiting, retries and a single refresh on 401."""
        return self._call(method, self._url(path, params), body, authorize=True)

    def exchange_code(self, code: str | Secret) -> None:
        """Trade an OAuth authorization code for tokens (the auth must be an OAuthSession)."""
        exchange = getattr(self._auth, "exchange_code", None)
        if exchange is None:
            raise TypeError(f"{self._auth!r} does not take authorization codes")
        exchange(self._post_token_endpoint, code)

    def _url(self, path: str, params: Mapping[str, Any] | None) -> str:
        if not path.startswith("/") or "//" in path or "?" in path or "#" in path:
            raise ValueError(f"path must be an absolute path without a query: {path!r}")
        query = _encode(params)
        return self._base + path + (f"?{query}" if query else "")

    def _same_origin(self, href: str) -> str:
        """A ``_links`` URL, accepted only on our own host (the token goes with it)."""
        url = urllib.parse.urljoin(self._base + "/", href)
        parts = urllib.parse.urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}".lower() != self._base.lower():
            raise BadResponse(f"a _links URL points to another host: {parts.netloc!r}")
        return url

    def _post_token_endpoint(self, path: str, payload: Mapping[str, Any]) -> Any:
        # No bearer token (the body carries the grant) and no refresh-on-401 (that would
        # recurse): a 401 here means the grant itself was rejected.
        return self._call("POST", self._base + path, payload, authorize=False).json()

    def _call(
        self, method: str, url: str, body: Mapping[str, Any] | None, *, authorize: bool
    ) -> Response:
        path = url[len(self._base) :]
        data = None if body is None else json.dumps(body).encode()
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            headers = {"User-Agent": self._user_agent, "Accept": "application/json"}
            token = None
            if authorize:
                token = self._auth.token(self._post_token_endpoint)
                headers["Authorization"] = f"Bearer {token.reveal()}"
            if data is not None:
                headers["Content-Type"] = "application/json"
            self._limiter.acquire()
            started = time.monotonic()
            try:
                resp = self._send(method, url, path, headers, data)
            except (OSError, http.client.HTTPException) as exc:
                reason = _transport_reason(exc)
                if reason is None:
                    raise AmoError(f"{method} {path}: {exc}", path=path) from None
                log.debug("%s %s -> %s after %.2fs", method, path, reason, _since(started))
                self._wait_before_retry(attempt, method, path, reason, None)
                continue
            log.debug("%s %s -> %d in %.2fs", method, path, resp.status, _since(started))
            status = resp.status
            if 200 <= status < 300:
                return resp
            if status == 403 and _is_html(resp):
                raise AccountBlocked(
                    f"{method} {path}: HTTP 403 with an HTML page: the account is blocked "
                    "(usually for exceeding 7 requests per second); stop and ask amoCRM support "
                    "to unblock it",
                    status=status,
                    path=path,
                )
            if status == 402:
                raise AccountUnpaid(
                    f"{method} {path}: HTTP 402: the account's subscription is unpaid",
                    status=status,
                    path=path,
                )
            if status == 401:
                if (
                    token is not None
                    and not refreshed
                    and self._auth.refresh(self._post_token_endpoint, token)
                ):
                    refreshed = True
                    log.info("%s %s -> 401; token refreshed, repeating the request", method, path)
                    continue
                raise Unauthorized(
                    f"{method} {path}: HTTP 401 ({_problem_text(resp)})"
                    + (" after a token refresh" if refreshed else ""),
                    status=status,
                    path=path,
                )
            if status in _RETRY_STATUS:
                after = _retry_after(resp)
                if status == 429:
                    # The whole account is over the limit, not just this thread.
                    self._limiter.pause(after if after is not None else self._retry.base_delay)
                self._wait_before_retry(attempt, method, path, f"HTTP {status}", after, resp=resp)
                continue
            raise _error_for(method, path, resp)

    def _wait_before_retry(
        self,
        attempt: int,
        method: str,
        path: str,
        reason: str,
        after: float | None,
        resp: Response | None = None,
    ) -> None:
        """Sleep before the next attempt, or raise when the attempts are used up."""
        status = resp.status if resp is not None else None
        if attempt >= self._retry.max_attempts:
            last = f" (last answer: {_problem_text(resp)})" if resp is not None else ""
            raise RetriesExhausted(
                f"{method} {path}: {reason} on all {attempt} attempts{last}",
                status=status,
                path=path,
            )
        delay = self._retry.backoff(attempt, self._rng)
        if after is not None:
            if after > self._retry.max_retry_after:
                raise RetriesExhausted(
                    f"{method} {path}: {reason} asking to wait {after:.0f}s",
                    status=status,
                    path=path,
                )
            delay = max(delay, after)
        log.warning(
            "%s %s -> %s; retry %d/%d in %.2fs",
            method,
            path,
            reason,
            attempt,
            self._retry.max_attempts - 1,
            delay,
        )
        self._sleep(delay)

    def _send(
        self, method: str, url: str, path: str, headers: dict[str, str], data: bytes | None
    ) -> Response:
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with self._opener.open(req, timeout=self._retry.timeout) as r:
                return Response(r.status, _headers(r.headers), r.read(), path)
        except urllib.error.HTTPError as err:
            with err:
                body = err.read()
            return Response(err.code, _headers(err.headers), body, path)

    # Pagination ----------------------------------------------------------------------------

    def pages(
        self, path: str, params: Mapping[str, Any] | None = None, *, entity: str | None = None
    ) -> Iterator[Page]:
        """The pages of a HAL list, following ``_links.next``.

        Stops on 204 (nothing matches), on an empty ``_embedded`` list, or when there is no
        next link. ``entity`` names the ``_embedded`` key; by default the first list in it.
        Pass ``limit`` in ``params`` (at most 250; 100 for /events).
        """
        url = self._url(path, params)
        seen: set[str] = set()
        number = 0
        while url:
            seen.add(url)
            resp = self._call("GET", url, None, authorize=True)
            data = resp.json()
            if data is None:
                return
            if not isinstance(data, dict):
                raise BadResponse(f"{resp.path}: a list response is not a JSON object")
            key, items = _embedded(data, entity)
            if not items:
                return
            number = data["_page"] if isinstance(data.get("_page"), int) else number + 1
            yield Page(number, key, items, resp.path)
            href = _next_href(data)
            if href is None:
                return
            url = self._same_origin(href)
            if url in seen:
                raise BadResponse(f"{resp.path}: _links.next points back to a page already read")

    def records(
        self, path: str, params: Mapping[str, Any] | None = None, *, entity: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every record of every page of a HAL list."""
        for page in self.pages(path, params, entity=entity):
            yield from page.items


def _since(started: float) -> float:
    return time.monotonic() - started


def _headers(msg: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in msg.items()} if msg is not None else {}


def _transport_reason(exc: BaseException) -> str | None:
    """Why a request failed below HTTP, or None if retrying cannot help (e.g. a bad
    certificate)."""
    inner = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(inner, ssl.SSLCertVerificationError):
        return None
    if isinstance(inner, TimeoutError):
        return "timeout"
    return type(inner).__name__


def _embedded(data: dict[str, Any], entity: str | None) -> tuple[str, list[dict[str, Any]]]:
    emb = data.get("_embedded")
    if not isinstance(emb, dict):
        return entity or "", []
    if entity is not None:
        items = emb.get(entity)
        return entity, items if isinstance(items, list) else []
    for key, items in emb.items():
        if isinstance(items, list):
            return key, items
    return "", []


def _next_href(data: dict[str, Any]) -> str | None:
    links = data.get("_links")
    nxt = links.get("next") if isinstance(links, dict) else None
    href = nxt.get("href") if isinstance(nxt, dict) else None
    return href if isinstance(href, str) and href else None


def _problem(resp: Response) -> dict[str, Any]:
    try:
        data = json.loads(resp.body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _problem_text(resp: Response) -> str:
    problem = _problem(resp)
    parts = [str(problem[k]) for k in ("title", "detail", "hint") if problem.get(k)]
    return scrub("; ".join(parts)) if parts else _snippet(resp.body) or "no details"


def _error_for(method: str, path: str, resp: Response) -> AmoError:
    status = resp.status
    where = f"{method} {path}: HTTP {status}"
    if status in (400, 414):
        problem = _problem(resp)
        errors = problem.get("validation-errors")
        return BadRequest(
            f"{where} ({_problem_text(resp)})"
            + (f": {scrub(json.dumps(errors, ensure_ascii=False))}" if errors else ""),
            status=status,
            path=path,
            errors=errors if isinstance(errors, list) else None,
        )
    if status == 403:
        return Forbidden(f"{where} ({_problem_text(resp)})", status=status, path=path)
    if status == 404:
        return NotFound(f"{where} ({_problem_text(resp)})", status=status, path=path)
    return AmoError(f"{where} ({_problem_text(resp)})", status=status, path=path)
