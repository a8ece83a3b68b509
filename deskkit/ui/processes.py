"""Computing built-in cards in worker processes: one interpreter per core instead of one.

A desktop's cards spend most of their time in Python (Ibis building and compiling
expressions, pandas, Altair), and threads of one interpreter take turns at it: on a 2-core
machine a filter change used one core. A :class:`Worker` is a child process that opens the
same store file (read-only, as the kernel does), computes a built-in widget for a desk and
filters, builds its chart spec, and sends both back pickled (a few kB). A store is sent as
its source (a pickle "persistent id"): the child uses its own store of that file, and the
result the kernel gets back holds the kernel's store, where its drill-down runs.

The runner's worker threads each drive one process (see :class:`deskkit.ui.runner.Runner`):
its queue order, priorities and cancelling stay as they are. Widgets a notebook registered
(their code may live only in the notebook) stay on threads.
"""

from __future__ import annotations

import importlib
import io
import logging
import os
import pickle
import pkgutil
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deskkit.store import Store, open_store
from deskkit.widgets import Filters, Widget, builtin

if TYPE_CHECKING:
    from deskkit.desk import Desk
    from deskkit.ui.card import CardStyle

__all__ = ["Worker", "WorkerDied", "can_run", "processes_setting"]

log = logging.getLogger(__name__)

#: Environment variable setting the served desktop's worker processes ("off": threads only).
PROCESSES_ENV = "DESKKIT_PROCESSES"


class WorkerDied(RuntimeError):
    """The worker process computing a card ended before answering."""


def can_run(widget: Widget, desk: Desk) -> bool:
    """Whether a worker process can compute ``widget`` on ``desk``: a built-in widget as
    deskkit defines it, on a store another process can open."""
    return builtin(widget.id) is widget and desk.store.reopenable


def processes_setting(text: str | None) -> int:
    """Worker processes from the environment variable's text: none unless asked for ("off"
    or 0 for none, else a number).

    Not on by default: on a 2-core machine they did not pay (bench/README.md, thirteenth
    session), and every kernel of a server starts its own, each with its engine's memory and
    kept tables; shared between a server's kernels they may be worth a default."""
    if text is None or not text.strip():
        return 0
    value = text.strip().lower()
    if value in {"off", "no", "none", "never", "false"}:
        return 0
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 0:
        raise ValueError(
            f"{PROCESSES_ENV}={text!r}: expected a number of worker processes (0 or more) or 'off'"
        )
    return count


class Worker:
    """One child process computing cards, started by :meth:`ready` (and again after it died).

    Used from one thread at a time (a runner thread owns it)."""

    #: Children that may end before saying they are ready before none is started any more
    #: (deskkit cannot be imported there, say): the cards are then computed in the kernel.
    START_ATTEMPTS = 3

    def __init__(self) -> None:
        self._process: Any = None
        self._conn: Connection | None = None
        self._ready = False
        self._failed_starts = 0
        # Its start and stop: another thread may wait for it to be ready (reentrant: a child
        # found dead as it starts is stopped with the lock held).
        self._lock = threading.RLock()
        #: Cards the child computed (its replies, errors included).
        self.answered = 0

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def ready(self, timeout: float = 0.0) -> bool:
        """Whether the child can take a card now (waiting up to ``timeout`` seconds for it);
        starts it if none runs. A child takes a few seconds to import its modules: meanwhile
        the caller computes the card itself."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:  # held briefly: the runner's thread asks too, and must not wait
                if self._ready:
                    return True
                if self._conn is None:
                    if self._failed_starts >= self.START_ATTEMPTS:
                        return False
                    self._start()
                if self._said_ready():
                    self._ready = True
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def _said_ready(self) -> bool:  # with the lock held
        conn = self._conn
        try:
            if conn is None or not conn.poll(0):
                return False
            conn.recv_bytes()  # its "ready"
            return True
        except (EOFError, OSError):
            self._failed_starts += 1
            code = self._stop()
            log.warning("a deskkit worker process ended as it started (exit code %s)", code)
            return False

    def _start(self) -> Connection:
        # A fresh interpreter (not a fork of a kernel whose engine and worker threads run, which
        # may deadlock) running this module's loop: multiprocessing's spawn would also run the
        # parent's main script again in the child, and a script may have no __main__ guard.
        ours, theirs = socket.socketpair()
        with theirs:
            process = subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(theirs.fileno()), str(os.getpid())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                env=_child_environment(),
            )
        self._process, self._conn = process, Connection(ours.detach())
        return self._conn

    def compute(self, widget: Widget, desk: Desk, filters: Filters, style: CardStyle | None) -> Any:
        """``widget.compute(desk, filters)`` in the child (once :meth:`ready`); its chart spec
        in ``style`` is remembered for the card (see :func:`deskkit.ui.card.chart_spec`)."""
        conn = self._conn
        if conn is None or not self._ready:
            raise RuntimeError("the worker process is not ready")
        request = _dumps((widget.id, desk, filters, style))
        try:
            conn.send_bytes(request)
            reply = conn.recv_bytes()
        except (EOFError, OSError) as exc:
            code = self._stop()
            raise WorkerDied(
                f"the worker process computing {widget.id!r} ended (exit code {code})"
            ) from exc
        self.answered += 1
        kind, payload = _loads(reply, lambda source: desk.store)
        if kind == "error":
            raise payload
        result, spec, built = payload
        if style is not None and widget.chart is not None and built:
            from deskkit.ui.card import remember_spec

            remember_spec(widget.chart, result, style, spec)
        return result

    def _stop(self) -> int | None:
        with self._lock:
            process, conn = self._process, self._conn
            self._process = self._conn = None
            self._ready = False
        if conn is not None:
            conn.close()  # the child's next read ends it
        if process is None:
            return None
        try:
            return process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()

    def close(self) -> None:
        """End the child (it exits once its pipe closes)."""
        self._stop()


class _Pickler(pickle.Pickler):
    """Pickles a store as its source: the other process has its own store of the file."""

    def persistent_id(self, obj: Any) -> Any:
        return ("store", obj.source) if isinstance(obj, Store) else None


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, store: Callable[[str], Store]) -> None:
        super().__init__(io.BytesIO(data))
        self._store = store

    def persistent_load(self, pid: Any) -> Any:
        kind, source = pid
        if kind != "store":
            raise pickle.UnpicklingError(f"unknown reference {kind!r}")
        return self._store(source)


def _dumps(obj: Any) -> bytes:
    out = io.BytesIO()
    _Pickler(out, pickle.HIGHEST_PROTOCOL).dump(obj)
    return out.getvalue()


def _loads(data: bytes, store: Callable[[str], Store]) -> Any:
    """Unpickle ``data``, its stores being ``store(source)``."""
    return _Unpickler(data, store).load()


#: The child's stores, by source (one child serves one desktop: one store, in practice).
_STORES: dict[str, Store] = {}


def _store(source: str) -> Store:
    if source not in _STORES:
        store = _STORES[source] = open_store(source)
        if store.compile_cache is not None:
            store.compile_cache.eager = True  # a desktop asks the same queries all day
    return _STORES[source]


def _child_environment() -> dict[str, str]:
    """The kernel's environment, with this deskkit importable (even if not installed)."""
    env = dict(os.environ)
    here = Path(__file__).resolve().parents[2]
    if here.name not in {"site-packages", "dist-packages"}:  # a source checkout
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(here), env.get("PYTHONPATH")) if p)
    return env


#: What the child runs: this module's loop on the socket it was given.
_CHILD = (
    "import sys; from multiprocessing.connection import Connection; "
    "from deskkit.ui.processes import _serve; "
    "_serve(Connection(int(sys.argv[1])), int(sys.argv[2]))"
)


def _serve(conn: Connection, parent: int) -> None:
    """The child's loop: answer requests until the pipe closes (the parent ended)."""
    threading.Thread(target=_watch, args=(parent,), daemon=True).start()
    _setup()
    try:
        conn.send_bytes(b"ready")
    except (EOFError, OSError):
        return
    while True:
        try:
            request = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            reply = ("ok", _answer(*_loads(request, _store)))
        except Exception as exc:  # the card shows it
            exc.add_note(f"(in a deskkit worker process)\n{traceback.format_exc()}")
            reply = ("error", exc)
        try:
            data = _dumps(reply)
        except Exception:  # an exception that does not pickle: its text does
            error = reply[1] if reply[0] == "error" else None
            text = f"{type(error).__name__}: {error}" if error else "a result that did not pickle"
            data = _dumps(("error", RuntimeError(text)))
        try:
            conn.send_bytes(data)
        except (EOFError, OSError):
            return


def _answer(
    widget_id: str, desk: Desk, filters: Filters, style: CardStyle | None
) -> tuple[Any, Any, bool]:
    widget = builtin(widget_id)
    if widget is None:
        raise KeyError(f"no built-in widget {widget_id!r}")
    result = widget.compute(desk, filters)
    spec: Any = None
    if style is not None and widget.chart is not None:
        from deskkit.ui.card import chart_spec

        try:
            spec = chart_spec(widget.chart, result, style)
        except Exception:  # the card builds it again, and shows what failed
            return result, None, False
    return result, spec, True


def _setup() -> None:
    """Import what cards need (before the child says it is ready) and set Altair up."""
    import deskkit.charts
    import deskkit.desk  # the metrics, Ibis and the engine
    from deskkit.ui.card import use_desktop_charts

    for module in pkgutil.iter_modules(deskkit.charts.__path__):
        importlib.import_module(f"deskkit.charts.{module.name}")
    use_desktop_charts()  # the specs the kernel would build


def _watch(parent: int) -> None:
    """End the child once its parent is gone, even in the middle of a computation."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)
