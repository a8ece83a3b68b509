"""From the cells of one file to typed records, with every row that cannot be read kept as a
reject (its raw cells and a reason naming the column and the problem)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from deskkit.connectors.export.headers import (
    Columns,
    Entity,
    FileEntity,
    find_header,
    map_columns,
    normalise,
)
from deskkit.connectors.export.read import ExportFileError, Sheet
from deskkit.connectors.export.values import (
    format_number,
    is_empty,
    parse_id,
    parse_local_datetime,
    parse_number,
    parse_tags,
    parse_text,
    to_utc,
)

__all__ = ["ParsedFile", "Record", "Reject", "parse_sheet"]

FieldType = Literal["numeric", "date", "date_time", "text"]

# How each standard key is read; every other key is text.
_IDS: Final = frozenset({"id", "company_id", "main_contact_id"})
_MONEY: Final = frozenset({"price"})
_DATES: Final = frozenset({"created_at", "updated_at", "closed_at"})
_TAGS: Final = frozenset({"tags"})

# The values of a contacts-and-companies export's "Тип"/"Type" column.
_ROW_TYPES: Final[dict[str, Entity]] = {
    normalise(n): e
    for names, e in (
        (("контакт", "contact", "person", "человек"), "contact"),
        (("компания", "company", "organization", "организация"), "company"),
    )
    for n in names
}
_ENTITY_OF: Final[dict[FileEntity, Entity]] = {
    "deals": "deal",
    "contacts": "contact",
    "companies": "company",
    "contacts+companies": "contact",
}


@dataclass(frozen=True)
class Record:
    """One readable row: its entity, id, standard values (``fields``: key -> parsed value,
    None when blank), custom values as stored text, and note texts."""

    row: int
    entity: Entity
    id: int
    fields: dict[str, Any]
    custom: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Reject:
    """A row that was not loaded: the file, its row number (1 = the file's first row), the
    raw cells by column title, and why."""

    file: str
    row: int
    raw: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file} row {self.row}: {self.reason}"


@dataclass(frozen=True)
class ParsedFile:
    """A file read and checked: records to load, rejects, custom field types, notes."""

    sheet: Sheet
    columns: Columns
    records: tuple[Record, ...]
    rejects: tuple[Reject, ...]
    rows: int
    duplicates: int
    field_types: dict[str, FieldType]
    warnings: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.sheet.path.name


def _raw_json(titles: tuple[str, ...], cells: list[object]) -> str:
    """The row as JSON, title -> cell text (a repeated title gets its column number)."""
    out: dict[str, str] = {}
    for i, cell in enumerate(cells):
        title = titles[i] if i < len(titles) and titles[i] else f"column {i + 1}"
        if title in out:
            title = f"{title} (column {i + 1})"
        out[title] = "" if cell is None else parse_text(cell) or str(cell)
    return json.dumps(out, ensure_ascii=False)


def parse_sheet(sheet: Sheet, tz: ZoneInfo, entity: FileEntity | None = None) -> ParsedFile:
    """Find the header, map the columns, read every row; raises :class:`ExportFileError` when
    the file has no recognisable header."""
    head = find_header(sheet.rows)
    if head is None:
        if not any(any(not is_empty(c) for c in r) for r in sheet.rows):
            raise ExportFileError(sheet.path, "the file is empty")
        raise ExportFileError(
            sheet.path,
            "no recognisable header: none of the first rows has an 'ID' column "
            "(is this an amoCRM export of deals, contacts or companies?)",
        )
    titles = [parse_text(c) or "" for c in sheet.rows[head]]
    try:
        columns = map_columns(titles, entity)
    except ValueError as exc:
        raise ExportFileError(sheet.path, str(exc)) from None
    warnings = list(columns.warnings)
    if head:
        warnings.append(f"the header is on row {head + 1}; the {head} row(s) above it were skipped")
    readers = _readers(columns, tz)
    name = sheet.path.name
    id_title = titles[columns.fields["id"]]
    loaded: list[tuple[Record, list[tuple[str, object]]]] = []
    rejects: list[Reject] = []
    first: dict[tuple[Entity, int], tuple[int, tuple[object, ...]]] = {}
    conflicts: dict[tuple[Entity, int], list[int]] = {}
    repeats: dict[tuple[Entity, int], list[int]] = {}
    cells_of: dict[int, list[object]] = {}
    titles_ = columns.titles
    n_rows = 0
    width = len(titles)
    for row, cells in enumerate(sheet.rows[head + 1 :], start=head + 2):
        if _blank(cells):
            continue
        n_rows += 1
        cells_of[row] = cells
        problems: list[str] = []
        if any(not is_empty(c) for c in cells[width:]):
            problems.append(f"the row has {len(cells)} cells but the header has {width}")
        cells = list(cells[:width]) + [None] * (width - len(cells))
        values: dict[str, Any] = {}
        for key, col in columns.fields.items():
            try:
                values[key] = readers[key](cells[col])
            except ValueError as exc:
                problems.append(f"{titles[col]}: {exc}")
        entity_ = _row_entity(columns, values, problems)
        if "id" in values and values["id"] is None:
            problems.append(f"{id_title}: empty (every row needs an id)")
        if entity_ == "deal" and "stage" in values and values["stage"] is None:
            problems.append(f"{titles[columns.fields['stage']]}: empty (a deal needs a stage)")
        if problems or entity_ is None:
            rejects.append(Reject(name, row, _raw_json(titles_, cells), "; ".join(problems)))
            continue
        ident = int(values.pop("id"))
        values.pop("type", None)
        content = tuple(c.strip() if type(c) is str else ("" if c is None else c) for c in cells)
        seen = first.setdefault((entity_, ident), (row, content))
        if seen[0] != row:
            if seen[1] == content:
                repeats.setdefault((entity_, ident), []).append(row)
            else:
                conflicts.setdefault((entity_, ident), [seen[0]]).append(row)
            continue
        notes = tuple(t for c in columns.notes if (t := parse_text(cells[c])) is not None)
        custom = [
            (n, c)
            for i, n in columns.custom
            if (c := cells[i]) is not None and (type(c) is not str or c.strip())
        ]
        loaded.append((Record(row, entity_, ident, values, (), notes), custom))
    if conflicts:
        # Which of the versions is right cannot be known: none is loaded, all are rejected.
        for (ent, ident), versions in conflicts.items():
            every = sorted(versions + repeats.pop((ent, ident), []))
            listed = ", ".join(str(r) for r in every)
            reason = f"{id_title}: {ent} {ident} appears on rows {listed} with different content"
            rejects.extend(Reject(name, r, _raw_json(titles_, cells_of[r]), reason) for r in every)
        bad = {row for versions in conflicts.values() for row in versions}
        loaded = [(r, c) for r, c in loaded if r.row not in bad]
    duplicates = sum(len(rows) for rows in repeats.values())
    if duplicates:
        warnings.append(f"{duplicates} row(s) repeated an earlier row exactly and were loaded once")
    types, texts = _custom_values(columns, [c for _, c in loaded])
    final = [
        Record(r.row, r.entity, r.id, r.fields, tuple((n, texts[n][v]) for n, v in c), r.notes)
        for r, c in loaded
    ]
    rejects.sort(key=lambda r: r.row)
    return ParsedFile(
        sheet=sheet,
        columns=columns,
        records=tuple(final),
        rejects=tuple(rejects),
        rows=n_rows,
        duplicates=duplicates,
        field_types=types,
        warnings=tuple(warnings),
    )


def _blank(cells: list[object] | tuple[object, ...]) -> bool:
    """Whether every cell is empty (None or whitespace); the hot path of a large file."""
    return not any(c is not None and (type(c) is not str or c.strip()) for c in cells)


def _row_entity(columns: Columns, values: dict[str, Any], problems: list[str]) -> Entity | None:
    """The entity of a row: the file's, or in a contacts-and-companies export its "Тип"."""
    if columns.entity != "contacts+companies":
        return _ENTITY_OF[columns.entity]
    title = columns.titles[columns.fields["type"]]
    kind = values.get("type")
    if kind is None:
        problems.append(f"{title}: empty (expected contact or company)")
        return None
    found = _ROW_TYPES.get(normalise(kind))
    if found is None:
        problems.append(f"{title}: {kind!r} is neither a contact nor a company")
    return found


def _readers(columns: Columns, tz: ZoneInfo) -> dict[str, Callable[[object], Any]]:
    def date(cell: object) -> Any:
        got = parse_local_datetime(cell)
        return None if got is None else to_utc(got[0], tz)

    def money(cell: object) -> float | None:
        return parse_number(cell, columns.decimal_comma)

    out: dict[str, Callable[[object], Any]] = {}
    for key in columns.fields:
        if key in _IDS:
            out[key] = parse_id
        elif key in _MONEY:
            out[key] = money
        elif key in _DATES:
            out[key] = date
        elif key in _TAGS:
            out[key] = parse_tags
        else:
            out[key] = parse_text
    return out


def _custom_values(
    columns: Columns, rows: list[list[tuple[str, object]]]
) -> tuple[dict[str, FieldType], dict[str, dict[object, str]]]:
    """Each custom column's type and the stored text of each of its distinct cells.

    The type comes from all the column's values in the loaded rows: numeric when every value
    is a number, date (or date_time) when every value is a date, else text. Stored text:
    numbers plain ("1500.5"), dates ISO ("2026-11-27"), date-times ISO local wall time, text as
    written (a multi-value cell stays one text value). Work is per distinct value, which keeps
    a 100k-row export with dozens of columns fast.
    """
    distinct: dict[str, dict[object, None]] = {name: {} for _, name in columns.custom}
    for cells in rows:
        for name, cell in cells:
            distinct[name][cell] = None
    types: dict[str, FieldType] = {}
    texts: dict[str, dict[object, str]] = {}
    for name, cells in distinct.items():
        types[name], texts[name] = _convert(list(cells), columns.decimal_comma)
    return types, texts


def _convert(cells: list[object], decimal_comma: bool) -> tuple[FieldType, dict[object, str]]:
    numbers = _all_numbers(cells, decimal_comma)
    if numbers is not None:
        return "numeric", {c: format_number(n) for c, n in zip(cells, numbers, strict=True)}
    stamps = _all_dates(cells)
    if stamps is not None:
        moments = dict(zip(cells, stamps, strict=True))
        if any(has_time for _, has_time in stamps):
            return "date_time", {c: m.isoformat(sep=" ") for c, (m, _) in moments.items()}
        return "date", {c: m.date().isoformat() for c, (m, _) in moments.items()}
    return "text", {c: parse_text(c) or "" for c in cells}


def _all_numbers(cells: list[object], decimal_comma: bool) -> list[float] | None:
    """Every cell as a number, or None when one is not a number or only looks like one: a
    phone ("+7…") or a code with leading zeros ("007")."""
    out: list[float] = []
    for cell in cells:
        if isinstance(cell, str):
            text = cell.strip()
            if text.startswith("+") or (len(text) > 1 and text[0] == "0" and text[1].isdigit()):
                return None
        try:
            number = parse_number(cell, decimal_comma)
        except ValueError:
            return None
        if number is None:
            return None
        out.append(number)
    return out or None


def _all_dates(cells: list[object]) -> list[tuple[dt.datetime, bool]] | None:
    """Every cell as a local date(-time), or None (an offset makes it no plain date)."""
    out: list[tuple[dt.datetime, bool]] = []
    for cell in cells:
        try:
            got = parse_local_datetime(cell)
        except ValueError:
            return None
        if got is None or got[0].tzinfo is not None:
            return None
        out.append(got)
    return out or None
