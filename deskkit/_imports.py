"""Import-time repairs for third-party packages, applied when deskkit is imported."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

__all__ = ["defer_rfc3987_syntax"]

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
