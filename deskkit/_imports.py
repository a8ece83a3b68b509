"""What deskkit's imports cost, and who pays: import-time repairs for third-party packages
(applied when deskkit is imported), and the low-priority imports of a kernel Voilà preheats."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
import types
from typing import Any

__all__ = ["defer_rfc3987_syntax", "import_at_low_priority", "lower_this_thread", "preheating"]

_RFC3987 = "rfc3987_syntax"


def defer_rfc3987_syntax() -> None:
    """Make ``rfc3987_syntax`` load on first use instead of at import.

    Altair imports jsonschema, which imports ``rfc3987_syntax`` when it is installed (Jupyter
    installs it, through ``jsonschema[format-nongpl]``); that module builds some 35 Earley
    parsers as it is imported: 1.6–1.8 s of every kernel, worker and command that draws a
    chart here, for the "iri" formats nothing in deskkit validates
    (python-jsonschema/jsonschema#1428). A stand-in module takes its place in
    ``sys.modules``; the first call of anything in it imports the real module, which then
    replaces the stand-in, so an IRI check gives the same answer, only later.
    """
    if _RFC3987 in sys.modules or "jsonschema" in sys.modules:
        return  # too late (or already done): jsonschema holds the real function
    try:
        if importlib.util.find_spec(_RFC3987) is None:
            return
    except (ImportError, ValueError):
        return
    stand_in = types.ModuleType(_RFC3987, "Loads rfc3987_syntax on first use (deskkit).")

    def real() -> types.ModuleType:
        if sys.modules.get(_RFC3987) is stand_in:
            del sys.modules[_RFC3987]
        return importlib.import_module(_RFC3987)

    def is_valid_syntax(*args: Any, **kwargs: Any) -> Any:
        return real().is_valid_syntax(*args, **kwargs)

    def __getattr__(name: str) -> Any:  # PEP 562: any other name loads the real module
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(real(), name)

    stand_in.is_valid_syntax = is_valid_syntax  # type: ignore[attr-defined]
    stand_in.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[_RFC3987] = stand_in


#: What ``deskkit.ui`` spends its import time on (the engine, dataframes, charts, widgets).
_PRELOAD = ("deskkit.desk", "deskkit.widgets", "deskkit.charts", "ipywidgets")


def preheating() -> bool:
    """Whether this process is a kernel Voilà preheats for a visitor not yet arrived."""
    return os.environ.get("VOILA_PREHEAT") == "True"


def lower_this_thread(nice: int = 19) -> bool:
    """Give the calling thread (only it, and threads it starts) the CPU priority ``nice``.
    Linux keeps a nice value per thread; elsewhere, or if refused, nothing changes (False)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except (AttributeError, OSError):
        return False
    return True


def import_at_low_priority(modules: tuple[str, ...] = _PRELOAD) -> None:
    """Import ``modules`` on a thread of the lowest CPU priority and wait for it.

    A kernel Voilà preheats imports its libraries (some 4 s of a core) while a visitor is using
    the page another kernel serves: at the lowest priority, it takes only the CPU that
    visitor's kernel and browser leave. An unprivileged process cannot raise its priority
    again, and its threads start with their creator's, so only this thread is lowered: the
    kernel's main thread, and the threads it starts later, keep theirs. Only imports, which
    the main thread waits for without needing the interpreter: a low-priority thread working
    beside others holds the interpreter lock they wait for whenever the busy machine leaves
    it no CPU (a normal thread's work took 2.7x longer beside a niced one than beside a
    normal one, on 2 cores kept busy by other processes). An import that fails here fails
    again, with its real error, where the caller imports it.
    """

    def run() -> None:
        lower_this_thread()
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:
                return

    thread = threading.Thread(target=run, name="deskkit-preheat-imports", daemon=True)
    thread.start()
    thread.join()
