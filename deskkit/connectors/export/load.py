"""``import_files``: read every file, then write them all into the store in one go.

Every file is read and checked before the store is touched. The writing happens in one
transaction (a new store is built next to its final path and moved into place), so a failed
import leaves the store as it was.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

from deskkit.connectors.export.headers import ENTITIES, FileEntity
from deskkit.connectors.export.parse import ParsedFile, parse_sheet
from deskkit.connectors.export.read import read_sheet
from deskkit.connectors.export.result import FileReport, ImportResult
from deskkit.connectors.export.write import Writer
from deskkit.store.build import create_tables
from deskkit.store.schema import SCHEMA

__all__ = ["DEFAULT_CURRENCY", "DEFAULT_TIMEZONE", "import_files"]

#: The time zone of an amoCRM account unless the store or the caller says otherwise.
DEFAULT_TIMEZONE: Final = "Europe/Moscow"
DEFAULT_CURRENCY: Final = "RUB"

# Files are loaded companies first, deals last, so that names link to rows of the same import.
_ORDER: Final[dict[FileEntity, int]] = {
    "companies": 0,
    "contacts+companies": 1,
    "contacts": 2,
    "deals": 3,
}


def import_files(
    paths: Sequence[str | os.PathLike[str]],
    store: str | os.PathLike[str],
    *,
    entity: str | None = None,
    timezone: str | None = None,
    currency: str | None = None,
    now: dt.datetime | None = None,
) -> ImportResult:
    """Load amoCRM export files (CSV or XLSX) into the DuckDB store ``store``.

    Parameters
    ----------
    paths
        Export files of deals, contacts, companies, or amoCRM's combined contacts-and-companies
        export; what each holds is read from its header.
    store
        A DuckDB file: created when missing, else imported into (upserting by id).
    entity
        ``"deals"``, ``"contacts"`` or ``"companies"`` for every file, when the headers do not
        say.
    timezone
        The IANA zone the file's dates are written in. Default: the store's account time zone,
        else Europe/Moscow.
    currency
        The currency of a new store's account (default: a sign in the budget column title, else
        RUB). An existing store keeps its own.
    now
        The import time (naive UTC) written to ``rejects.at``; default the clock.

    Returns
    -------
    ImportResult
        Rows written per table, per-file reports and the rejected rows.

    Raises
    ------
    ValueError
        A file that cannot be read at all (:class:`ExportFileError`, naming the file and the
        problem), an unknown time zone or entity, or a target that is not a deskkit store.
    """
    files = [Path(p).expanduser() for p in paths]
    if not files:
        raise ValueError("no files to import")
    if entity is not None and entity not in ENTITIES:
        raise ValueError(f"unknown entity {entity!r}; use one of {', '.join(ENTITIES)}")
    stamp = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    target = Path(store).expanduser()
    created = not target.exists()
    tz_name = timezone or (None if created else _stored_timezone(target)) or DEFAULT_TIMEZONE
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz_name!r} (use an IANA name)") from None
    # Read and check every file before the store is touched.
    wanted = cast("FileEntity | None", entity)
    parsed = [parse_sheet(read_sheet(f), tz, wanted) for f in files]
    parsed.sort(key=lambda p: _ORDER[p.columns.entity])
    with _connect(target) as con:
        writer = Writer(con, stamp)
        for pf in parsed:
            writer.write_file(pf)
        writer.finish()
        if not _count(con, "account"):
            money = currency or next(
                (p.columns.currency for p in parsed if p.columns.currency), DEFAULT_CURRENCY
            )
            writer.put("account", [_account_row(tz_name, money.upper(), stamp)])
    order = {name: i for i, name in enumerate(SCHEMA)}
    reports = [_report(pf) for pf in sorted(parsed, key=lambda p: files.index(p.sheet.path))]
    return ImportResult(
        store=target,
        timezone=tz_name,
        created=created,
        files=tuple(reports),
        rows=dict(sorted(writer.counts.items(), key=lambda kv: order[kv[0]])),
        rejects=tuple(r for pf in parsed for r in pf.rejects),
    )


# Store connection -----------------------------------------------------------------------------


@contextlib.contextmanager
def _connect(target: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to write ``target`` in one go: a new store is built in a temporary file
    and moved into place on success; an existing one is written in a transaction."""
    if not target.exists():
        tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
        _remove(tmp)
        con = _quiet(duckdb.connect(str(tmp)))
        try:
            # One transaction: a commit per CREATE/INSERT would sync the file each time.
            con.execute("BEGIN TRANSACTION")
            create_tables(con)
            yield con
            con.execute("COMMIT")
            con.close()
            os.replace(tmp, target)
        except BaseException:
            con.close()
            _remove(tmp)
            raise
        return
    try:
        con = _quiet(duckdb.connect(str(target)))
    except duckdb.Error as exc:
        raise ValueError(f"{target}: cannot open it as a DuckDB store ({exc})") from None
    try:
        tables = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchall()
        }
        if tables and "deals" not in tables:
            raise ValueError(f"{target} is a DuckDB file but not a deskkit store (no deals table)")
        con.execute("BEGIN TRANSACTION")
        create_tables(con)
        yield con
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()


def _quiet(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """No progress bar on the terminal: the import command prints its own summary."""
    con.execute("SET enable_progress_bar = false")
    return con


def _remove(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _stored_timezone(target: Path) -> str | None:
    """The account time zone of the store at ``target`` (None when it has none yet)."""
    try:
        con = duckdb.connect(str(target), read_only=True)
    except duckdb.Error as exc:
        raise ValueError(f"{target}: cannot open it as a DuckDB store ({exc})") from None
    try:
        row = con.execute("SELECT timezone FROM account LIMIT 1").fetchone()
    except duckdb.CatalogException:
        return None  # not a store (yet): _connect says which
    finally:
        con.close()
    return str(row[0]) if row and row[0] else None


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    return int(row[0]) if row else 0


def _account_row(tz: str, currency: str, stamp: dt.datetime) -> dict[str, Any]:
    return dict(
        name="amoCRM export",
        subdomain="",
        timezone=tz,
        currency=currency,
        week_start="monday",
        synced_at=stamp,
    )


def _report(pf: ParsedFile) -> FileReport:
    filled = {name for r in pf.records for name, _ in r.custom}
    return FileReport(
        path=pf.sheet.path,
        entity=pf.columns.entity,
        format=pf.sheet.format,
        encoding=pf.sheet.encoding,
        delimiter=pf.sheet.delimiter,
        rows=pf.rows,
        loaded=len(pf.records),
        rejected=len(pf.rejects),
        duplicates=pf.duplicates,
        custom_fields=tuple(name for _, name in pf.columns.custom if name in filled),
        warnings=pf.warnings,
    )
