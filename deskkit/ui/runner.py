"""Computing cards in the background: a thread pool, a result cache and a pinned "now".

A filter change recomputes only what it changes: a widget's result is cached under the filters
it follows (the period only if ``follows_period``, the pipeline only if ``follows_pipeline``),
the scope, the viewer and the desk's "now". The live desktop pins "now" to the minute
(:func:`pinned`), so flipping between periods reuses the "now" widgets (forecast, deals by
manager, ...) instead of recomputing them, and a minute later everything is fresh again.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from deskkit.widgets import Filters, Widget

if TYPE_CHECKING:
    from deskkit.desk import Desk

__all__ = ["Runner", "after", "cache_key", "pinned", "when_all"]

T = TypeVar("T")


def pinned(desk: Desk, clock: dt.datetime | None = None) -> Desk:
    """``desk`` looked at a fixed moment: its own ``now`` if it has one, else the clock's
    current minute (UTC)."""
    if desk.now is not None:
        return desk
    now = clock or dt.datetime.now(dt.UTC)
    return desk.at(now.replace(second=0, microsecond=0))


def cache_key(widget: Widget, desk: Desk, filters: Filters) -> Hashable:
    """What a widget's result depends on: the filters it follows, the viewer and "now"."""
    return (
        widget.id,
        id(widget.compute),  # a re-registered widget never reuses the old one's results
        id(desk.store),
        desk.viewer.user_id,
        desk.now,
        filters.period if widget.follows_period else None,
        filters.pipeline if widget.follows_pipeline else None,
        filters.user,
        filters.department,
    )


def when_all(futures: Sequence[Future[Any]]) -> Future[None]:
    """A future done once every one of ``futures`` is done (however each ended)."""
    gate: Future[None] = Future()
    left = [len(futures)]
    lock = threading.Lock()

    def one(_: Future[Any]) -> None:
        with lock:
            left[0] -= 1
            last = left[0] == 0
        if last:
            gate.set_result(None)

    if not futures:
        gate.set_result(None)
    for future in futures:
        future.add_done_callback(one)
    return gate


def after(gate: Future[Any], start: Callable[[], Future[T] | None]) -> Future[T]:
    """A future with the outcome of the one ``start()`` returns, called once ``gate`` is done
    (on the thread that finished it); it stays pending if ``start()`` returns None."""
    out: Future[T] = Future()

    def copy(src: Future[T]) -> None:
        if src.cancelled():
            out.cancel()
        elif src.exception() is not None:
            out.set_exception(src.exception())
        else:
            out.set_result(src.result())

    def go(_: Future[Any]) -> None:
        try:
            src = start()
        except Exception as exc:
            out.set_exception(exc)
            return
        if src is not None:
            src.add_done_callback(copy)

    gate.add_done_callback(go)
    return out


class Runner:
    """Runs ``widget.compute(desk, filters)`` in worker threads, at most once per cache key.

    ``submit`` returns a Future at once (the caller never waits); the same key asked for again
    while it computes, or after, shares one computation. Failed computations are not cached.
    """

    def __init__(self, *, workers: int | None = None, cache_size: int = 512) -> None:
        self._workers = workers or min(4, (os.cpu_count() or 2) + 1)
        self._pool: ThreadPoolExecutor | None = None
        self._cache: OrderedDict[Hashable, Future[Any]] = OrderedDict()
        self._size = cache_size
        self._lock = threading.Lock()

    def _executor(self, desk: Desk) -> ThreadPoolExecutor:
        if self._pool is None:
            # Stores that cannot be queried from several threads at once get one worker.
            n = self._workers if desk.store.concurrent else 1
            self._pool = ThreadPoolExecutor(n, thread_name_prefix="deskkit-card")
        return self._pool

    def submit(self, widget: Widget, desk: Desk, filters: Filters) -> Future[Any]:
        """The (possibly shared, possibly finished) computation of one card."""
        key = cache_key(widget, desk, filters)
        with self._lock:
            future = self._cache.get(key)
            if future is not None:
                self._cache.move_to_end(key)
                return future
            future = self._executor(desk).submit(widget.compute, desk, filters)
            self._cache[key] = future
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        future.add_done_callback(lambda f: self._forget_failure(key, f))
        return future

    def _forget_failure(self, key: Hashable, future: Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            with self._lock:
                if self._cache.get(key) is future:
                    del self._cache[key]

    def invalidate(self, widget_id: str | None = None) -> None:
        """Forget cached results (of one widget, or all): the next submit recomputes."""
        with self._lock:
            for key in [k for k in self._cache if widget_id is None or k[0] == widget_id]:
                del self._cache[key]

    def compute_all(
        self, widgets: Iterable[Widget], desk: Desk, filters: Filters
    ) -> dict[str, Any]:
        """Every widget's result (or the exception it raised), computed concurrently; blocks."""
        futures = {w.id: self.submit(w, desk, filters) for w in widgets}
        out: dict[str, Any] = {}
        for wid, future in futures.items():
            try:
                out[wid] = future.result()
            except Exception as exc:  # each card's failure is its own
                out[wid] = exc
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
