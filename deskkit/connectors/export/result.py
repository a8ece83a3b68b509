"""What an import did: per file and per store table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from deskkit.connectors.export.parse import Reject

__all__ = ["FileReport", "ImportResult", "Reject"]


@dataclass(frozen=True)
class FileReport:
    """One file: how it was read and what became of its rows.

    ``rows`` counts the data rows read (blank lines aside); each of them was either ``loaded``,
    ``rejected`` or a ``duplicates`` repeat of an identical earlier row (loaded once).
    """

    path: Path
    entity: str
    format: str
    encoding: str | None
    delimiter: str | None
    rows: int
    loaded: int
    rejected: int
    duplicates: int
    custom_fields: tuple[str, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class ImportResult:
    """The outcome of :func:`~deskkit.connectors.export.import_files`.

    ``rows`` maps a store table to the rows this import wrote to it: every deal, contact and
    company row of the files (new or replacing the stored one with that id), and only the *new*
    users, pipelines, stages, sources, loss reasons and custom fields. ``rejects`` are the rows
    kept in the store's ``rejects`` table instead.
    """

    store: Path
    timezone: str
    created: bool
    files: tuple[FileReport, ...]
    rows: Mapping[str, int]
    rejects: tuple[Reject, ...]

    @property
    def rejected(self) -> int:
        """Rows rejected across all files."""
        return len(self.rejects)

    @property
    def loaded(self) -> int:
        """Deal, contact and company rows loaded across all files."""
        return sum(f.loaded for f in self.files)
