"""One request-rate limiter per account, shared by every thread of the process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final

__all__ = ["DEFAULT_RATE", "RateLimiter", "shared_limiter"]

#: Requests per second the client allows itself: amoCRM answers 429 above 7 (and blocks the
#: account after repeated violations), so stay a little below.
DEFAULT_RATE: Final = 6.5


class RateLimiter:
    """Spaces request starts at least ``1 / rate`` seconds apart, across all threads.

    This is a token bucket holding a single token (GCRA): there is no burst allowance, so any
    one-second window holds at most ``floor(rate) + 1`` starts and the mean stays at ``rate``.
    A bucket with a larger capacity would let a burst plus the steady rate exceed the server's
    sliding-second limit. Slots are reserved under a lock and slept for outside it, so waiting
    threads queue in order without holding the lock.

    >>> limiter = RateLimiter(rate=1000.0)
    >>> limiter.acquire() >= 0.0
    True
    """

    def __init__(
        self,
        rate: float = DEFAULT_RATE,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        self._rate = float(rate)
        self._interval = 1.0 / self._rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = float("-inf")  # the earliest moment the next request may start

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self._rate

    def acquire(self) -> float:
        """Wait for the next free slot; return how long the caller waited (seconds)."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self._interval
        wait = start - now
        if wait > 0:
            self._sleep(wait)
        return wait

    def pause(self, seconds: float) -> None:
        """Hold every thread back for ``seconds`` from now (after a 429: the whole account,
        not only the thread that was told, must slow down)."""
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self._rate:g})"


_registry_lock = threading.Lock()
_registry: dict[tuple[str, float], RateLimiter] = {}


def shared_limiter(key: str, rate: float = DEFAULT_RATE) -> RateLimiter:
    """The process-wide limiter for ``key`` (an account's base URL) at ``rate``.

    Every client of one account in this process gets the same object, so N worker threads
    together stay below the limit. Other processes have their own: run one sync per account.
    """
    with _registry_lock:
        limiter = _registry.get((key, rate))
        if limiter is None:
            limiter = _registry[(key, rate)] = RateLimiter(rate)
        return limiter
