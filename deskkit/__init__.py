"""deskkit: the amoCRM/Kommo sales desktop as an open analytics workbench.

>>> import deskkit
>>> desk = deskkit.open()                      # the demo account   # doctest: +SKIP
>>> desk.pipeline_flow("month").stages         # a pandas DataFrame # doctest: +SKIP

The public names load on first use: ``import deskkit`` alone imports no engine, dataframe or
chart library (the Voilà server imports :mod:`deskkit.serving`, and the command line parses
its arguments, without them).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from deskkit._imports import defer_rfc3987_syntax

defer_rfc3987_syntax()  # before anything imports Altair (and through it jsonschema)

if TYPE_CHECKING:
    from deskkit import custom, widgets
    from deskkit.desk import Desk, open
    from deskkit.filters import Period, Scope, Viewer
    from deskkit.metrics.pipeline_flow import PipelineFlow
    from deskkit.store import SchemaError, Store, open_store

__version__ = "0.1.0"

#: Public name -> the module it comes from (a module itself where the two are the same).
_PUBLIC = {
    "Desk": "deskkit.desk",
    "open": "deskkit.desk",
    "Period": "deskkit.filters",
    "Scope": "deskkit.filters",
    "Viewer": "deskkit.filters",
    "PipelineFlow": "deskkit.metrics.pipeline_flow",
    "SchemaError": "deskkit.store",
    "Store": "deskkit.store",
    "open_store": "deskkit.store",
    "custom": "deskkit.custom",
    "widgets": "deskkit.widgets",
}

__all__ = (
    "Desk",
    "Period",
    "PipelineFlow",
    "SchemaError",
    "Scope",
    "Store",
    "Viewer",
    "__version__",
    "custom",
    "open",
    "open_store",
    "widgets",
)


def __getattr__(name: str) -> Any:
    source = _PUBLIC.get(name)
    if source is None:
        # deskkit.store, deskkit.ui, ... as attributes once imported (as before, when this
        # module imported them all).
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    module = importlib.import_module(source)
    value = module if source == f"{__name__}.{name}" else getattr(module, name)
    globals()[name] = value  # looked up here from now on
    return value


def __dir__() -> list[str]:
    return list(__all__)
