"""Data flows one way: connectors -> store -> filters -> metrics -> charts (and the widget
registry) -> ui. A module may import its own layer or an earlier one, never a later one (checked
on the source, statically)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "deskkit"

# Earlier layers have smaller ranks. Connectors write rows of the store schema, so the schema
# and the writer are the one part of the store they may use.
RANK = {
    "_imports": 0,  # repairs to third-party imports, applied before anything else loads
    "paths": 0,
    "store": 1,
    "connectors": 1,
    "filters": 2,
    "metrics": 3,
    "desk": 3,
    "charts": 4,
    "widgets": 4,
    "custom": 4,
    "ui": 5,
    "cli": 6,
    "serving": 6,  # Voilà's kernel manager, in the server process: imports no other layer
}
CONNECTOR_MAY_USE = {"deskkit.store.schema", "deskkit.store.build"}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return [name for name in found if name.startswith("deskkit.")]


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_later_layer(path):
    module = "deskkit." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    own = layer(module)
    if own not in RANK:
        pytest.fail(f"{module}: unknown layer {own!r}; add it to RANK")
    for target in imports(path):
        other = layer(target)
        if own == "connectors" and other == "store":
            assert target in CONNECTOR_MAY_USE, f"{module} imports {target}"
            continue
        if own == "store" and other == "connectors":
            pytest.fail(f"{module} imports {target}: the store must not know its sources")
        assert RANK[other] <= RANK[own], f"{module} ({own}) imports {target} ({other})"


def test_the_check_sees_imports():
    # Guard against a vacuous pass: the UI does import the metrics layer.
    ui = imports(PACKAGE / "ui" / "tables.py")
    assert any(name.startswith("deskkit.metrics") for name in ui)
