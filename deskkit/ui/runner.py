"""Computing cards in the background: a thread pool, a result cache and a pinned "now".

A filter change recomputes only what it changes: a widget's result is cached under the filters
it follows (the period only if ``follows_period``, the pipeline only if ``follows_pipeline``),
the scope, the viewer and the desk's "now". The live desktop pins "now" to the minute
(:func:`pinned`), so flipping between periods reuses the "now" widgets (forecast, deals by
manager, ...) instead of recomputing them, and a minute later everything is fresh again.

With ``processes``, built-in widgets are computed in worker processes (one per worker
thread, see :mod:`deskkit.ui.processes`), so that a change uses every core, not one
interpreter's turns.

What the visitor is waiting for goes first: a computation submitted in the background (a
previous period's comparison, a warm-up) waits in the queue while any other is queued, and one
worker is kept from background ones. A view left quickly therefore does not hold up the
next one behind its comparisons, and asking in the foreground for a result still queued in the
background moves it to the front. Background work starts only while no foreground work runs,
and background work running when foreground work arrives gives way at its next query (on a
DuckDB store): it is put back in the queue, to start again once the foreground work is done.
A visitor's click thus never shares the cores with a prefetch or a comparison begun just
before it.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import logging
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from deskkit.store._execute import before_each_query
from deskkit.ui.processes import Worker, WorkerDied, can_run
from deskkit.widgets import Filters, Widget

if TYPE_CHECKING:
    from deskkit.desk import Desk
    from deskkit.ui.card import CardStyle

__all__ = ["Runner", "after", "cache_key", "call_later", "pinned", "when_all"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Alarms:
    """Calls made a given number of seconds later, all from one daemon thread.

    A ``threading.Timer`` starts a thread per call, and starting a thread waits until the new
    one has taken the GIL: while the cards' workers hold it, 5-10 ms of the caller's time per
    timer. The desktop set one per card on the kernel's main thread, which made a filter
    change's own handling take 60-130 ms instead of a few.
    """

    def __init__(self) -> None:
        self._due: list[tuple[float, int, Callable[..., Any], tuple[Any, ...]]] = []
        self._order = itertools.count()  # equal times in the order asked
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        with self._cv:
            heapq.heappush(self._due, (time.monotonic() + delay, next(self._order), fn, args))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="deskkit-alarms")
                self._thread.daemon = True
                self._thread.start()
            self._cv.notify()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._cv.wait(self._due[0][0] - time.monotonic() if self._due else None)
                _, _, fn, args = heapq.heappop(self._due)
            try:
                fn(*args)
            except Exception:  # one failing call must not stop the others'
                log.exception("deskkit: a delayed call failed")


_ALARMS = _Alarms()


def call_later(delay: float, fn: Callable[..., Any], *args: Any) -> None:
    """Call ``fn(*args)`` in ``delay`` seconds, from a thread shared by every such call."""
    _ALARMS.call_later(delay, fn, *args)


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


@dataclass(eq=False)
class _Task:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    background: bool
    future: Future[Any] = field(default_factory=Future)
    taken: bool = False  # a worker took it (a promoted task is in the queue twice)
    order: int = -1  # its place in the queue, kept when it gives way and goes back


class GaveWay(BaseException):
    """Raised at a query of background work while foreground work waits or runs (a
    BaseException: a widget's ``except Exception`` must not take it for its own failure)."""


#: The worker process of this runner thread (threads of a pool made with ``processes``).
_here = threading.local()


def _remote(widget: Widget, desk: Desk, filters: Filters, style: CardStyle | None) -> Any:
    """``widget.compute(desk, filters)`` in this thread's worker process, or here while it
    starts (or should it die on it: killed, out of memory; a new one starts)."""
    worker: Worker = _here.worker
    if worker.ready():
        try:
            return worker.compute(widget, desk, filters, style)
        except WorkerDied as exc:
            log.warning("%s; computing it in the kernel", exc)
    return widget.compute(desk, filters)


class _Pool:
    """Worker threads taking foreground tasks before background ones (each kind in the order
    submitted), with at most ``background_limit`` background tasks running at once; with
    ``processes``, each thread drives a worker process of its own (``_remote`` tasks)."""

    def __init__(self, workers: int, background_limit: int, *, processes: bool = False) -> None:
        self._processes = processes
        self.children: list[Worker] = []  # the worker processes' handles, with processes
        self._workers = workers
        self._background_limit = background_limit
        self._queue: list[tuple[int, int, _Task]] = []
        self._order = itertools.count()
        self._cv = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._running_background = 0
        self._running_foreground = 0
        self._closed = False

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...], background: bool) -> _Task:
        task = _Task(fn, args, background)
        with self._cv:
            if self._closed:
                raise RuntimeError("the runner is closed")
            self._push(task)
        return task

    def promote(self, task: _Task) -> None:
        """Make background ``task`` a foreground one: queued, it moves to the front; running,
        it no longer gives way (someone waits for it now)."""
        with self._cv:
            if not task.background or self._closed:
                return
            if not task.taken:
                task.background = False
                self._push(task)
            elif not task.future.done():  # running: counted as what is waited for, from now
                task.background = False
                self._running_background -= 1
                self._running_foreground += 1

    def _push(self, task: _Task) -> None:  # with the lock held
        if task.order < 0 or not task.background:
            task.order = next(self._order)
        heapq.heappush(self._queue, (int(task.background), task.order, task))
        if self._idle == 0 and len(self._threads) < self._workers:
            self._add_thread()
        else:
            self._cv.notify_all()  # a waiting background task may not be the one to wake

    def _add_thread(self) -> None:  # with the lock held
        worker = Worker() if self._processes else None
        if worker is not None:
            self.children.append(worker)
        thread = threading.Thread(
            target=self._work, args=(worker,), name=f"deskkit-card_{len(self._threads)}"
        )
        self._threads.append(thread)
        thread.start()

    def start(self) -> None:
        """Start every worker now (their processes take seconds to be ready)."""
        with self._cv:
            while len(self._threads) < self._workers and not self._closed:
                self._add_thread()

    def _next(self) -> _Task | None:  # with the lock held
        while self._queue:
            background, _, task = self._queue[0]
            if task.taken or task.future.cancelled():
                heapq.heappop(self._queue)
                continue
            if background and (
                self._running_background >= self._background_limit or self._running_foreground
            ):
                return None  # only background tasks are queued: enough run, or what is waited for
            heapq.heappop(self._queue)
            task.taken = True
            return task
        return None

    def _work(self, worker: Worker | None) -> None:
        _here.worker = worker
        if worker is not None:
            worker.ready()  # starts it
        try:
            self._serve()
        finally:
            if worker is not None:
                worker.close()

    def _serve(self) -> None:
        while True:
            with self._cv:
                self._idle += 1
                task = self._next()
                while task is None and not self._closed:
                    self._cv.wait()
                    task = self._next()
                self._idle -= 1
                if task is None:  # closed
                    return
                background = task.background  # at its start (a promotion may change it)
                if background:
                    self._running_background += 1
                else:
                    self._running_foreground += 1
            gave_way = False
            try:
                # A task that gave way is already running (its future cannot be cancelled).
                if task.future.running() or task.future.set_running_or_notify_cancel():
                    before_each_query(partial(self._give_way, task) if background else None)
                    try:
                        result = task.fn(*task.args)
                    except GaveWay:
                        gave_way = True
                    except BaseException as exc:
                        task.future.set_exception(exc)
                    else:
                        task.future.set_result(result)
                    finally:
                        before_each_query(None)
            finally:
                with self._cv:
                    if task.background:
                        self._running_background -= 1
                    else:
                        self._running_foreground -= 1
                    if gave_way:
                        if self._closed:
                            task.future.set_exception(RuntimeError("the runner is closed"))
                        else:
                            task.taken = False
                            self._push(task)
                    self._cv.notify_all()
            del task  # not kept alive by an idle worker

    def _give_way(self, task: _Task) -> None:
        """Raise GaveWay if ``task`` is still background work and foreground work is queued
        or running (called before each query of a background task)."""
        with self._cv:
            if not task.background:
                return  # promoted while it ran: a visitor waits for it
            if self._running_foreground or any(
                not t.background and not t.taken and not t.future.cancelled()
                for _, _, t in self._queue
            ):
                raise GaveWay

    def close(self, *, wait: bool = False) -> None:
        """Cancel what is queued; running tasks finish (their threads then end)."""
        with self._cv:
            self._closed = True
            dropped = [task for _, _, task in self._queue]
            self._queue.clear()
            self._cv.notify_all()
        for task in dropped:  # outside the lock: cancelling runs the futures' callbacks
            task.future.cancel()
        if wait:
            for thread in self._threads:
                if thread is not threading.current_thread():
                    thread.join()


#: Every pool alive, closed at interpreter exit before its threads are joined (as
#: concurrent.futures does): queued work is dropped, running queries finish.
_POOLS: weakref.WeakSet[_Pool] = weakref.WeakSet()


def _close_all() -> None:
    # Again until none is left open: closing cancels queued work, whose callbacks may submit
    # to a runner closed earlier, which then makes a new pool (its threads would keep the
    # interpreter from exiting).
    while pools := [pool for pool in list(_POOLS) if not pool._closed]:
        for pool in pools:
            pool.close(wait=True)


threading._register_atexit(_close_all)  # type: ignore[attr-defined]


class Runner:
    """Runs ``widget.compute(desk, filters)`` in worker threads (built-in widgets in worker
    processes with ``processes=n``), at most once per cache key.

    ``submit`` returns a Future at once (the caller never waits); the same key asked for again
    while it computes, or after, shares one computation. Failed computations are not cached.
    ``background=True`` marks a computation nobody waits for yet (see the module docstring).
    """

    def __init__(
        self, *, workers: int | None = None, cache_size: int = 512, processes: int = 0
    ) -> None:
        self._workers = workers or min(4, (os.cpu_count() or 2) + 1)
        self._processes = processes
        self._pool: _Pool | None = None
        self._remote: _Pool | None = None  # the worker processes' pool
        self._cache: OrderedDict[Hashable, Future[Any]] = OrderedDict()
        # Queued or running, with their pool: to promote.
        self._tasks: dict[Future[Any], tuple[_Pool, _Task]] = {}
        self._size = cache_size
        self._lock = threading.Lock()
        #: The style of the charts a worker process builds beside each result (None: none).
        self.style: CardStyle | None = None
        if processes:
            self._process_pool().start()  # ready by the time a visitor asks, if preheated

    @property
    def processes(self) -> int:
        """Worker processes computing built-in widgets (0: threads only)."""
        return self._processes

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Wait until every worker process can take cards; False if one could not in time
        (or there are none)."""
        pool = self._remote
        if pool is None:
            return False
        deadline = time.monotonic() + timeout
        workers = list(pool.children)
        return bool(workers) and all(
            w.ready(max(0.0, deadline - time.monotonic())) for w in workers
        )

    def worker_pids(self) -> list[int]:
        """The process ids of the worker processes running now."""
        pool = self._remote
        return [p for p in (w.pid for w in (pool.children if pool else [])) if p is not None]

    def _executor(self, desk: Desk) -> _Pool:
        if self._pool is None:
            # Stores that cannot be queried from several threads at once get one worker.
            self._pool = self._new_pool(self._workers if desk.store.concurrent else 1)
        return self._pool

    def _process_pool(self) -> _Pool:
        if self._remote is None:
            self._remote = self._new_pool(self._processes, processes=True)
        return self._remote

    def _new_pool(self, n: int, *, processes: bool = False) -> _Pool:
        # One worker is always left to what a visitor waits for.
        pool = _Pool(n, background_limit=max(1, n - 1), processes=processes)
        _POOLS.add(pool)
        # A runner dropped unclosed lets its idle workers end (they hold the pool, not it).
        weakref.finalize(self, pool.close)
        return pool

    def submit(
        self, widget: Widget, desk: Desk, filters: Filters, *, background: bool = False
    ) -> Future[Any]:
        """The (possibly shared, possibly finished) computation of one card."""
        key = cache_key(widget, desk, filters)
        with self._lock:
            future = self._cache.get(key)
            if future is not None:
                self._cache.move_to_end(key)
                queued = self._tasks.get(future)
                if queued is not None and not background:
                    queued[0].promote(queued[1])
                return future
            if self._processes and can_run(widget, desk):
                pool = self._process_pool()
                task = pool.submit(_remote, (widget, desk, filters, self.style), background)
            else:
                pool = self._executor(desk)
                task = pool.submit(widget.compute, (desk, filters), background)
            future = task.future
            self._cache[key] = future
            self._tasks[future] = (pool, task)
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        future.add_done_callback(lambda f: self._settled(key, f))
        return future

    def _settled(self, key: Hashable, future: Future[Any]) -> None:
        with self._lock:
            self._tasks.pop(future, None)
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
        for pool in (self._pool, self._remote):
            if pool is not None:
                pool.close()
        self._pool = self._remote = None
