"""Import amoCRM / Kommo export files (CSV or XLSX of deals, contacts, companies) into a store.

>>> from deskkit.connectors.export import import_files
>>> result = import_files(["leads.csv"], store="crm.duckdb")  # doctest: +SKIP
>>> result.rows, result.rejected  # doctest: +SKIP
({'deals': 118, 'users': 5, ...}, 2)
"""

from __future__ import annotations

from deskkit.connectors.export.load import DEFAULT_CURRENCY, DEFAULT_TIMEZONE, import_files
from deskkit.connectors.export.read import ExportFileError
from deskkit.connectors.export.result import FileReport, ImportResult, Reject

__all__ = [
    "DEFAULT_CURRENCY",
    "DEFAULT_TIMEZONE",
    "ExportFileError",
    "FileReport",
    "ImportResult",
    "Reject",
    "import_files",
]
