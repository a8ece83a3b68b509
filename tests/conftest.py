"""Shared fixtures: the tiny-account builder (tests/accounts.py), one small demo store, and a
desk on it that records the size of every query result (the "no whole table" guard)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).parent))

from stores import AS_OF, NOW, NOW_ISO, StoreInfo

# CI explores the same examples on every run (a red CI blocks landing, so it must be
# reproducible); local runs keep drawing new ones, which is where new edge cases are found.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def test_store(tmp_path_factory: pytest.TempPathFactory) -> StoreInfo:
    """A 2,000-deal demo account (deterministic), built once per session."""
    from deskkit.connectors.demo import generate

    path = tmp_path_factory.mktemp("store") / "desk-test.duckdb"
    generate(path, deals=2000, seed=1, as_of=AS_OF, progress=False)
    return StoreInfo(path, NOW, NOW_ISO)


@pytest.fixture(scope="session")
def desk(test_store: StoreInfo):
    """A Desk on the test store at the fixed "now"."""
    import deskkit

    return deskkit.open(test_store.path, now=test_store.now)


@pytest.fixture
def counted(desk, monkeypatch):
    """The demo desk, with every query's result size recorded."""
    backend = desk.store.backend
    sizes: list[int] = []
    original = backend.execute

    def execute(expr, *args, **kwargs):
        result = original(expr, *args, **kwargs)
        sizes.append(len(result) if hasattr(result, "__len__") else 1)
        return result

    monkeypatch.setattr(backend, "execute", execute)
    return desk, sizes


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``make test`` runs ``--dist loadgroup``) a test module stays on one
    worker, so its module and session fixtures are made once; so do all PostgreSQL tests (one
    throwaway server) and all browser tests (one Chromium, each Voila server once)."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    tests = Path(__file__).parent
    for item in items:
        path = item.path.relative_to(tests)
        group = {"e2e": "browser", "backends": "postgres"}.get(path.parts[0], path.as_posix())
        item.add_marker(pytest.mark.xdist_group(group))
