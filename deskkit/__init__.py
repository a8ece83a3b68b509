"""deskkit: the amoCRM/Kommo sales desktop as an open analytics workbench.

>>> import deskkit
>>> desk = deskkit.open()                      # the demo account   # doctest: +SKIP
>>> desk.pipeline_flow("month").stages         # a pandas DataFrame # doctest: +SKIP
"""

from __future__ import annotations

from deskkit._imports import defer_rfc3987_syntax

defer_rfc3987_syntax()  # before anything imports Altair (and through it jsonschema)

from deskkit import custom, widgets  # noqa: E402
from deskkit.desk import Desk, open  # noqa: E402
from deskkit.filters import Period, Scope, Viewer  # noqa: E402
from deskkit.metrics.pipeline_flow import PipelineFlow  # noqa: E402
from deskkit.store import SchemaError, Store, open_store  # noqa: E402

__version__ = "0.1.0"

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


def __dir__() -> list[str]:
    return list(__all__)
