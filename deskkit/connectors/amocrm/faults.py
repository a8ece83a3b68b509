"""Switchable faults of the stand-in server, and its request log (thread-safe, live)."""

from __future__ import annotations

import random
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass
from typing import Any, Final, Literal

__all__ = ["Decision", "Faults", "LoggedRequest"]

#: What the real API allows; the stand-in answers 429 above it by default.
API_RATE_LIMIT: Final = 7.0
WINDOW: Final = 1.0


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the server saw it. ``at`` is its arrival (time.monotonic())."""

    method: str
    path: str
    query: str
    status: int
    at: float
    duration: float


@dataclass(frozen=True)
class Decision:
    """What the fault controller decided for one request before it is served."""

    kind: Literal["serve", "blocked", "rate_limited", "error"] = "serve"
    status: int = 200
    delay: float = 0.0
    retry_after: float | None = None
    echo_headers: bool = False


class Faults:
    """Faults to inject into a running stand-in; every method may be called from any thread.

    >>> faults = Faults()
    >>> faults.burst_429(2)
    >>> [faults.decide("GET", "/api/v4/leads").status for _ in range(3)]
    [429, 429, 200]
    """

    def __init__(self, rate_limit: float | None = API_RATE_LIMIT):
        self._lock = threading.Lock()
        self._log: list[LoggedRequest] = []
        self._default_rate_limit = rate_limit
        self.reset()

    def reset(self) -> None:
        """Back to a healthy server (the log and the rate-limit settings are kept)."""
        with self._lock:
            self._rate_limit = getattr(self, "_rate_limit", self._default_rate_limit)
            self._block_after: int | None = getattr(self, "_block_after", None)
            self._arrivals: deque[float] = deque()
            self._violations = 0
            self._burst = 0
            self._burst_retry_after: float | None = None
            self._fail_next = 0
            self._fail_status = 500
            self._fail_rate = 0.0
            self._fail_rate_status = 503
            self._fail_prefix = "/api/"
            self._rng = random.Random(0)
            self._slow_seconds = 0.0
            self._slow_count: int | None = 0
            self._blocked = False
            self._unpaid = False
            self._expired_before = float("-inf")
            self._expire_long_lived = False
            self._malformed = 0.0
            self._malformed_seed = 0
            self._echo = False

    # Settings -------------------------------------------------------------------------------

    def rate_limit(self, rps: float | None, *, block_after: int | None = None) -> None:
        """Answer 429 when more than ``rps`` requests arrive within one sliding second
        (None: no limit); after ``block_after`` such violations, block the account."""
        with self._lock:
            self._rate_limit = rps
            self._block_after = block_after

    def burst_429(self, count: int, *, retry_after: float | None = None) -> None:
        """Answer the next ``count`` requests with 429 (optionally with Retry-After)."""
        with self._lock:
            self._burst = count
            self._burst_retry_after = retry_after

    def fail_next(self, count: int, status: int = 500, *, prefix: str = "/api/") -> None:
        """Answer the next ``count`` requests whose path starts with ``prefix`` with ``status``."""
        with self._lock:
            self._fail_next = count
            self._fail_status = status
            self._fail_prefix = prefix

    def fail_rate(self, rate: float, status: int = 503, *, seed: int = 0) -> None:
        """Answer a random share ``rate`` of API requests with ``status`` (seeded)."""
        with self._lock:
            self._fail_rate = rate
            self._fail_rate_status = status
            self._rng = random.Random(seed)

    def slow(self, seconds: float, *, count: int | None = None) -> None:
        """Delay API responses by ``seconds``: the next ``count`` ones, or all (None)."""
        with self._lock:
            self._slow_seconds = seconds
            self._slow_count = count

    def expire_tokens(self, *, include_long_lived: bool = False) -> None:
        """Expire every OAuth access token issued so far (and long-lived ones if asked)."""
        with self._lock:
            self._expired_before = time.time()
            self._expire_long_lived = include_long_lived

    def block(self, on: bool = True) -> None:
        """Answer every request 403 with an HTML page, as a blocked account is answered."""
        with self._lock:
            self._blocked = on

    def unpaid(self, on: bool = True) -> None:
        """Answer every authorized API request 402 (the account is not paid)."""
        with self._lock:
            self._unpaid = on

    def malformed(self, share: float, *, seed: int = 0) -> None:
        """Break ``share`` of the records in list responses (chosen by a hash of the id)."""
        with self._lock:
            self._malformed = share
            self._malformed_seed = seed

    def echo_headers(self, on: bool = True) -> None:
        """Make error pages repeat the request headers, as some misconfigured proxies do
        (to test that clients scrub tokens from error text)."""
        with self._lock:
            self._echo = on

    # State read by the server --------------------------------------------------------------

    @property
    def blocked(self) -> bool:
        """Whether the account is blocked (by hand or after repeated rate violations)."""
        with self._lock:
            return self._blocked

    @property
    def is_unpaid(self) -> bool:
        """Whether the account answers 402."""
        with self._lock:
            return self._unpaid

    def token_expired(self, issued_at: float, long_lived: bool) -> bool:
        """Whether a token issued at ``issued_at`` was expired by :meth:`expire_tokens`."""
        with self._lock:
            if long_lived and not self._expire_long_lived:
                return False
            return issued_at <= self._expired_before

    def decide(self, method: str, path: str) -> Decision:
        """Record the arrival of a request and decide which fault (if any) it meets."""
        now = time.monotonic()
        with self._lock:
            arrivals = self._arrivals
            arrivals.append(now)
            while arrivals and arrivals[0] <= now - WINDOW:
                arrivals.popleft()
            if self._blocked:
                return Decision("blocked", 403)
            if self._burst > 0:
                self._burst -= 1
                return Decision("rate_limited", 429, retry_after=self._burst_retry_after)
            if self._rate_limit is not None and len(arrivals) > self._rate_limit:
                self._violations += 1
                if self._block_after is not None and self._violations >= self._block_after:
                    self._blocked = True
                return Decision("rate_limited", 429)
            delay = 0.0
            if path.startswith("/api/") and self._slow_seconds > 0 and self._slow_count != 0:
                delay = self._slow_seconds
                if self._slow_count is not None:
                    self._slow_count -= 1
            if self._fail_next > 0 and path.startswith(self._fail_prefix):
                self._fail_next -= 1
                return Decision("error", self._fail_status, delay=delay, echo_headers=self._echo)
            if (
                self._fail_rate > 0
                and path.startswith("/api/")
                and self._rng.random() < self._fail_rate
            ):
                return Decision(
                    "error", self._fail_rate_status, delay=delay, echo_headers=self._echo
                )
            return Decision("serve", 200, delay=delay, echo_headers=self._echo)

    def break_records(self, entity: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``items`` with the configured share of records broken (a string price, a missing
        id, a text timestamp, ...), chosen deterministically from the record id and seed."""
        with self._lock:
            share, seed = self._malformed, self._malformed_seed
        if share <= 0:
            return items
        out = []
        for item in items:
            h = zlib.crc32(f"{seed}:{entity}:{item.get('id')}".encode())
            out.append(_break(item, h) if (h % 10_000) < share * 10_000 else item)
        return out

    # Log --------------------------------------------------------------------------------------

    def record(self, entry: LoggedRequest) -> None:
        """Append one finished request to the log."""
        with self._lock:
            self._log.append(entry)

    @property
    def log(self) -> list[LoggedRequest]:
        """A copy of the request log, in completion order."""
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        """Forget the requests logged so far."""
        with self._lock:
            self._log.clear()

    def count(self, prefix: str = "", status: int | None = None, method: str | None = None) -> int:
        """Logged requests whose path starts with ``prefix`` (and with that status/method)."""
        return sum(
            1
            for e in self.log
            if e.path.startswith(prefix)
            and (status is None or e.status == status)
            and (method is None or e.method == method)
        )

    def max_in_window(self, window: float = WINDOW) -> int:
        """The most requests that arrived within any ``window`` seconds (sliding)."""
        times = sorted(e.at for e in self.log)
        best, lo = 0, 0
        for hi, t in enumerate(times):
            while t - times[lo] >= window:
                lo += 1
            best = max(best, hi - lo + 1)
        return best


def _break(item: dict[str, Any], h: int) -> dict[str, Any]:
    """One record with one field broken, the breakage chosen by ``h``."""
    out = dict(item)
    kind = (h // 10_000) % 4
    if kind == 0 and "id" in out:
        del out["id"]
    elif kind == 1:
        for key in ("price", "status_id", "responsible_user_id", "entity_id", "created_by"):
            if key in out:
                out[key] = "n/a"
                break
        else:
            out.pop("id", None)
    elif kind == 2:
        out["created_at"] = "2024-13-45T25:61:00"
    else:
        out["updated_at"] = None
        if "custom_fields_values" in out:
            out["custom_fields_values"] = {"broken": True}
    return out
