"""Open a deskkit store on any Ibis backend: a DuckDB file, a folder of Parquet files, a
connection URL or a connected backend."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import ibis
from ibis.backends import BaseBackend

from deskkit.store._sqlcache import CompileCache
from deskkit.store.schema import SCHEMA
from deskkit.store.validate import SchemaError, check_schema

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd

__all__ = ["Account", "Store", "open_store"]

T = TypeVar("T")
#: Results kept by :meth:`Store.memo`.
_MEMO_SIZE = 256

# Optional backends and the extra that installs each one.
_EXTRAS = {
    "postgres": "postgres",
    "postgresql": "postgres",
    "clickhouse": "clickhouse",
    "bigquery": "bigquery",
    "pyspark": "pyspark",
    "snowflake": "snowflake",
    "mysql": "mysql",
    "trino": "trino",
}


@dataclass(frozen=True)
class Account:
    """Account settings every metric needs: the time zone makes periods exact."""

    name: str
    subdomain: str
    timezone: str
    currency: str
    week_start: str


class Store:
    """The deskkit tables on one Ibis backend.

    ``table(name)`` returns an Ibis table expression (never a DataFrame); small dimension
    tables (users, groups, pipelines, stages) are also offered as cached DataFrames because every
    filter needs them to resolve names.

    A DuckDB store may be queried from several threads at once (the desktop computes its cards
    concurrently): a DuckDB connection must not run two queries at once, so each other thread
    builds its expressions on a cursor of its own (a cursor shares the database and its views).
    Other backends are used from one thread at a time (``concurrent`` is False).
    """

    def __init__(self, backend: BaseBackend, tables: dict[str, ir.Table], source: str) -> None:
        self.backend = backend
        self.source = source
        self._tables = tables
        self._owner = threading.get_ident()
        self._local = threading.local()
        self._memo: OrderedDict[Hashable, Any] = OrderedDict()
        self._memo_lock = threading.Lock()
        self._building: dict[Hashable, threading.Lock] = {}
        #: Compiled SQL reused across filter changes (see :mod:`deskkit.store._sqlcache`).
        self.compile_cache: CompileCache | None = None
        if callable(getattr(backend, "compile", None)):
            self.compile_cache = CompileCache()
            self.compile_cache.install(backend)

    @property
    def concurrent(self) -> bool:
        """Whether metrics may run on this store from several threads at once."""
        return self.backend.name == "duckdb"

    def __repr__(self) -> str:
        return f"Store({self.source!r}, backend={self.backend.name!r})"

    def table(self, name: str) -> ir.Table:
        """The Ibis table ``name`` of the schema (bound to this thread's cursor)."""
        try:
            table = self._tables[name]
        except KeyError:
            raise KeyError(f"no table {name!r} in the deskkit schema") from None
        if threading.get_ident() == self._owner or not self.concurrent:
            return table
        return self._thread_table(name)

    def _thread_table(self, name: str) -> ir.Table:
        local = self._local.__dict__
        if "backend" not in local:
            local["backend"] = ibis.duckdb.from_connection(self.backend.con.cursor())
            if self.compile_cache is not None:
                self.compile_cache.install(local["backend"])
            local["tables"] = {}
        tables = local["tables"]
        if name not in tables:
            tables[name] = _normalise(local["backend"].table(name))
        return tables[name]

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, remembered under ``key`` for this store (a store is a read-only
        snapshot, so a result that depends only on the data and ``key`` never goes stale).
        For small derived results many requests share, such as the forecast's win rates.
        Threads asking for one key at once share one computation."""
        with self._memo_lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key]
            building = self._building.setdefault(key, threading.Lock())
        with building:
            with self._memo_lock:
                if key in self._memo:  # another thread computed it meanwhile
                    return self._memo[key]
            try:
                value = compute()
            finally:
                with self._memo_lock:
                    self._building.pop(key, None)
            with self._memo_lock:
                self._memo[key] = value
                while len(self._memo) > _MEMO_SIZE:
                    self._memo.popitem(last=False)
        return value

    @property
    def keeps_derived(self) -> bool:
        """Whether :meth:`derived` keeps tables (an engine in this process: DuckDB)."""
        return self.backend.name == "duckdb"

    @contextmanager
    def inline(self) -> Iterator[None]:
        """Within: :meth:`derived` keeps nothing on this thread, so queries are built whole
        from the store's own tables (for a result's ``sql()``, which shows how every number
        is computed, not a scan of a kept table)."""
        before = getattr(self._local, "inline", False)
        self._local.inline = True
        try:
            yield
        finally:
            self._local.inline = before

    def derived(self, key: Hashable, build: Callable[[], ir.Table]) -> ir.Table | None:
        """The table ``build()`` computes, materialised once for this store (and ``key``) and
        kept in memory next to the engine, which then scans it like any table; None where the
        engine is not in this process (a remote server), where a metric runs its query inline.

        For intermediate tables that are costly, the same for every filter and far smaller
        than their sources, such as the exchanges of every chat (one sort of all messages,
        instead of one per period change)."""
        if not self.keeps_derived or getattr(self._local, "inline", False):
            return None
        return self.memo(("derived", key), lambda: ibis.memtable(build().to_pyarrow()))

    def forget(self) -> None:
        """Drop what :meth:`memo` remembered (after rows were written into the backend)."""
        with self._memo_lock:
            self._memo.clear()

    @cached_property
    def account(self) -> Account:
        row = self.table("account").limit(1).to_pandas()
        if row.empty:
            raise SchemaError(self.source, [])  # pragma: no cover - validated on open
        r = row.iloc[0]
        return Account(
            name=str(r["name"]),
            subdomain=str(r["subdomain"]),
            timezone=str(r["timezone"] or "UTC"),
            currency=str(r["currency"] or ""),
            week_start=str(r["week_start"] or "monday"),
        )

    def _small(self, name: str, order: list[str]) -> pd.DataFrame:
        return self.table(name).order_by(order).to_pandas()

    @cached_property
    def users(self) -> pd.DataFrame:
        return self._small("users", ["user_id"])

    @cached_property
    def groups(self) -> pd.DataFrame:
        return self._small("groups", ["group_id"])

    @cached_property
    def pipelines(self) -> pd.DataFrame:
        return self._small("pipelines", ["sort", "pipeline_id"])

    @cached_property
    def stages(self) -> pd.DataFrame:
        return self._small("stages", ["pipeline_id", "sort", "stage_id"])


def _normalise(table: ir.Table) -> ir.Table:
    """Make time-zone-aware timestamps plain UTC timestamps, as the schema declares."""
    casts = {
        name: table[name].cast("timestamp")
        for name, dtype in table.schema().items()
        if dtype.is_timestamp() and dtype.timezone is not None
    }
    return table.mutate(**casts) if casts else table


def _connect(target: Any) -> tuple[BaseBackend, dict[str, ir.Table], str]:
    if isinstance(target, BaseBackend):
        names = set(target.list_tables())
        return target, {t: target.table(t) for t in SCHEMA if t in names}, repr(target)
    text = os.fspath(target)
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        try:
            backend = ibis.connect(text)
        except (ImportError, ModuleNotFoundError, AttributeError) as exc:
            extra = _EXTRAS.get(scheme, scheme)
            raise ImportError(
                f"opening a {scheme!r} store needs the Ibis {scheme} backend: "
                f"pip install 'deskkit[{extra}]' (or 'ibis-framework[{extra}]')"
            ) from exc
        names = set(backend.list_tables())
        # Never echo the URL: it may carry a password.
        return backend, {t: backend.table(t) for t in SCHEMA if t in names}, f"{scheme} store"
    path = Path(text).expanduser()
    if path.is_dir():
        backend = ibis.duckdb.connect()
        tables = {}
        for name in SCHEMA:
            files = [path / f"{name}.parquet", path / name]
            found = next((f for f in files if f.exists()), None)
            if found is not None:
                pattern = str(found / "*.parquet") if found.is_dir() else str(found)
                tables[name] = backend.read_parquet(pattern, table_name=name)
        return backend, tables, str(path)
    if not path.exists():
        raise FileNotFoundError(f"no deskkit store at {path}")
    backend = ibis.duckdb.connect(str(path), read_only=True)
    names = set(backend.list_tables())
    return backend, {t: backend.table(t) for t in SCHEMA if t in names}, str(path)


def open_store(target: Any = None) -> Store:
    """Open and validate a store.

    Parameters
    ----------
    target
        A ``.duckdb`` file, a folder of Parquet files named after the tables, an Ibis connection
        URL (``postgres://…``, ``duckdb://…``) or an already connected Ibis backend.

    Raises
    ------
    SchemaError
        Listing every missing table, missing column and wrong type at once.
    """
    backend, tables, source = _connect(target)
    issues = check_schema({name: t.schema() for name, t in tables.items()})
    if issues:
        raise SchemaError(source, issues)
    return Store(backend, {n: _normalise(t) for n, t in tables.items()}, source)
