"""What importing deskkit costs, and which thread pays: ``import deskkit`` loads no engine,
dataframe or chart library until a public name is used; a kernel Voilà preheats imports them
on a thread at the lowest CPU priority."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("pandas", "ibis", "duckdb", "altair", "ipywidgets")


def _run(code: str, **env: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={**os.environ, **env},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_deskkit_loads_the_libraries_only_when_a_public_name_is_used():
    got = _run(
        f"""
import json, sys
import deskkit
before = [m for m in {HEAVY!r} if m in sys.modules]
from deskkit import Period, open, widgets
import deskkit.desk, deskkit.filters
same = [open is deskkit.desk.open, Period is deskkit.filters.Period,
        widgets is sys.modules["deskkit.widgets"], deskkit.store is sys.modules["deskkit.store"]]
try:
    deskkit.no_such_name
    error = None
except AttributeError as exc:
    error = str(exc)
print(json.dumps({{"before": before, "same": same, "error": error, "dir": dir(deskkit)}}))
"""
    )
    assert got["before"] == []
    assert got["same"] == [True, True, True, True]
    assert got["error"] == "module 'deskkit' has no attribute 'no_such_name'"
    assert "open" in got["dir"] and "Desk" in got["dir"]


def test_every_public_name_says_where_it_loads_from():
    """``__all__`` stays a literal (linters and type checkers read it); the lazy table must
    name the same things."""
    import deskkit

    assert set(deskkit.__all__) - {"__version__"} == set(deskkit._PUBLIC)


# Records the thread and its nice value when each heavy library is first imported.
_SPY = """
import json, os, sys, threading
seen = {}

class Spy:
    def find_spec(self, name, path=None, target=None):
        if name in %r and name not in seen:
            seen[name] = [threading.current_thread().name,
                          os.getpriority(os.PRIO_PROCESS, threading.get_native_id())]
        return None

sys.meta_path.insert(0, Spy())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
@pytest.mark.parametrize("preheat", ["True", "False"])
def test_a_preheated_kernel_imports_the_libraries_at_the_lowest_priority(preheat):
    """Only on its own thread: the kernel's main thread keeps its priority (it could not get
    it back), and so do the threads it starts later."""
    got = _run(
        _SPY % (HEAVY,)
        + """
import deskkit.ui
main = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
later = []
t = threading.Thread(target=lambda: later.append(
    os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
t.start(); t.join()
print(json.dumps({"seen": seen, "main": main, "later": later[0]}))
""",
        VOILA_PREHEAT=preheat,
    )
    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert set(got["seen"]) == set(HEAVY)
    if preheat == "True":
        assert all(v == ["deskkit-preheat-imports", 19] for v in got["seen"].values()), got
    else:
        assert all(v == ["MainThread", base] for v in got["seen"].values()), got
    assert got["main"] == got["later"] == base


def test_an_import_that_fails_on_the_low_priority_thread_fails_where_it_is_imported(tmp_path):
    (tmp_path / "broken_mod.py").write_text("raise ImportError('broken on purpose')\n")
    code = """
import json
from deskkit._imports import import_at_low_priority
import_at_low_priority(("json", "broken_mod"))
try:
    import broken_mod
    error = None
except ImportError as exc:
    error = str(exc)
print(json.dumps({"error": error}))
"""
    got = _run(code, PYTHONPATH=str(tmp_path))
    assert got["error"] == "broken on purpose"
