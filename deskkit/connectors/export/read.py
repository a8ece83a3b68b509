"""Reading an export file into rows of cells: CSV (UTF-8 with or without BOM, UTF-16, or
Windows-1251; comma, semicolon or tab, sniffed) or XLSX (the first sheet)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

__all__ = ["ExportFileError", "Sheet", "read_sheet"]

_ZIP: Final = b"PK\x03\x04"
_OLE: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the pre-2007 binary .xls
_DELIMITERS: Final = (";", ",", "\t")
_SNIFF_CHARS: Final = 64_000
_SNIFF_ROWS: Final = 20


class ExportFileError(ValueError):
    """A file that cannot be imported at all (unknown format, unreadable text, no header)."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True)
class Sheet:
    """The cells of one file, row by row, as read (no header detection yet).

    CSV cells are strings; XLSX cells are what the workbook stores (str, int, float, datetime,
    bool or None). ``encoding`` and ``delimiter`` are None for XLSX.
    """

    path: Path
    format: Literal["csv", "xlsx"]
    rows: list[list[object]]
    encoding: str | None = None
    delimiter: str | None = None


def read_sheet(path: Path) -> Sheet:
    """Read ``path`` by its content (not its extension); raises :class:`ExportFileError`."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ExportFileError(path, "no such file") from None
    except IsADirectoryError:
        raise ExportFileError(path, "is a folder, not a file") from None
    if data.startswith(_ZIP):
        return _read_xlsx(path)
    if data.startswith(_OLE):
        raise ExportFileError(
            path, "old binary Excel (.xls) is not supported: save it as XLSX or CSV"
        )
    text, encoding = _decode(path, data)
    if "\x00" in text:
        raise ExportFileError(path, "binary content: not a CSV or XLSX file")
    first, _, rest = text.partition("\n")
    if len(first.rstrip("\r")) == 5 and first.lower().startswith("sep="):
        # Excel's hint line ("sep=;") names the delimiter and is not a row.
        delimiter, text = first[4], rest
    else:
        delimiter = _sniff(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[list[object]] = [list(r) for r in reader]
    return Sheet(path, "csv", rows, encoding, delimiter)


def _decode(path: Path, data: bytes) -> tuple[str, str]:
    """The text and the encoding it was in: a BOM decides; else UTF-8 if valid, else cp1251."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    if data.startswith(b"\xef\xbb\xbf"):
        return data.decode("utf-8-sig", errors="strict"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        # Windows-1251 maps every byte but 0x98; amoCRM's "Excel" CSV export uses it.
        return data.decode("cp1251"), "cp1251"
    except UnicodeDecodeError:
        raise ExportFileError(
            path, "unknown text encoding (expected UTF-8 or Windows-1251)"
        ) from None


def _sniff(text: str) -> str:
    """The delimiter that splits the first rows into the most columns, consistently."""
    sample = text[:_SNIFF_CHARS]
    best, best_score = ",", (-1.0, 0)
    for delim in _DELIMITERS:
        rows = list(csv.reader(io.StringIO(sample, newline=""), delimiter=delim))
        if len(text) > _SNIFF_CHARS and len(rows) > 1:
            rows = rows[:-1]  # the sample may cut the last row short
        widths = [len(r) for r in rows[:_SNIFF_ROWS] if any(c.strip() for c in r)]
        if not widths or max(widths) < 2:
            continue
        common = max(set(widths), key=widths.count)
        score = (widths.count(common) / len(widths), common)
        if score > best_score:
            best, best_score = delim, score
    return best


def _read_xlsx(path: Path) -> Sheet:
    try:
        from openpyxl import load_workbook
    except ImportError as exc:  # pragma: no cover - openpyxl is a dependency
        raise ImportError("reading XLSX needs openpyxl: pip install openpyxl") from exc
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken or foreign zip
        raise ExportFileError(path, f"not a readable XLSX workbook ({exc})") from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            raise ExportFileError(path, "the workbook has no sheet")
        rows: list[list[object]] = []
        for values in sheet.iter_rows(values_only=True):
            row = list(values)
            while row and (row[-1] is None or row[-1] == ""):
                row.pop()
            rows.append(row)
    finally:
        book.close()
    return Sheet(path, "xlsx", rows)
