"""Open a deskkit store on any Ibis backend: a DuckDB file, a folder of Parquet files, a
connection URL or a connected backend."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb
import ibis
from ibis.backends import BaseBackend
from ibis.backends.sql.datatypes import DuckDBType

from deskkit.store._execute import install_lean_execute
from deskkit.store._sqlcache import CompileCache
from deskkit.store.schema import SCHEMA
from deskkit.store.validate import SchemaError, check_schema

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd

__all__ = ["Account", "Store", "open_store"]

T = TypeVar("T")
#: The catalog a DuckDB store file is attached as.
_STORE = "deskkit_store"
#: The in-memory catalog where a DuckDB store keeps derived tables.
_KEPT = "deskkit_kept"
#: Results kept by :meth:`Store.memo`.
_MEMO_SIZE = 256
#: Expressions each thread keeps (see Store.built).
_BUILT_SIZE = 64

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
        self._reopenable = False  # set by open_store for a file or folder
        self._tables = tables
        self._owner = threading.get_ident()
        self._local = threading.local()
        self._memo: OrderedDict[Hashable, Any] = OrderedDict()
        self._memo_lock = threading.Lock()
        self._building: dict[Hashable, threading.Lock] = {}
        self._generation = 0  # bumped by forget(): what threads built is stale
        self._kept: str | None = None  # the kept tables' catalog ("" = none can be kept)
        self._kept_tables: list[str] = []
        self._made = self._compressed = 0  # kept tables made, and compressed by a checkpoint
        # The catalog the store's tables are in, which every cursor must use too.
        self._catalog = (
            backend.con.execute("SELECT current_database()").fetchone()[0]
            if backend.name == "duckdb"
            else None
        )
        #: Compiled SQL reused across filter changes (see :mod:`deskkit.store._sqlcache`).
        self.compile_cache: CompileCache | None = None
        if callable(getattr(backend, "compile", None)):
            self.compile_cache = CompileCache()
            self.compile_cache.install(backend)
        install_lean_execute(backend)

    @property
    def concurrent(self) -> bool:
        """Whether metrics may run on this store from several threads at once."""
        return self.backend.name == "duckdb"

    def __repr__(self) -> str:
        return f"Store({self.source!r}, backend={self.backend.name!r})"

    @property
    def reopenable(self) -> bool:
        """Whether another process can open this store by its ``source`` (a file or folder,
        not a server or a connection handed in)."""
        return self._reopenable

    def __reduce__(self) -> Any:
        raise TypeError(
            "a deskkit Store holds a live connection and cannot be pickled; send its source "
            "(a store file or folder can be opened again elsewhere)"
        )

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
        tables = self._local.__dict__.setdefault("tables", {})
        if name not in tables:
            tables[name] = _normalise(self._backend_here().table(name))
        return tables[name]

    def _backend_here(self) -> BaseBackend:
        """The backend of this thread: the store's own on the thread that opened it, else a
        cursor of its own (made on first use)."""
        if threading.get_ident() == self._owner or not self.concurrent:
            return self.backend
        local = self._local.__dict__
        if "backend" not in local:
            local["backend"] = ibis.duckdb.from_connection(self._cursor())
            if self.compile_cache is not None:
                self.compile_cache.install(local["backend"])
            install_lean_execute(local["backend"])
        return local["backend"]

    def _cursor(self) -> Any:
        """A new DuckDB connection to the store's database, in the store's catalog (a new
        connection starts in the default one)."""
        cursor = self.backend.con.cursor()
        cursor.execute(f"USE {self._catalog}")
        return cursor

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, remembered under ``key`` for this store (a store is a read-only
        snapshot, so a result that depends only on the data and ``key`` never goes stale).
        For small derived results many requests share, such as the forecast's win rates.
        Threads asking for one key at once share one computation. Within :meth:`inline`,
        values are remembered apart: one computed from kept tables is not taken for one
        computed from the store's own (their equality is what the tests check)."""
        if getattr(self._local, "inline", False):
            key = ("inline", key)
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
                evicted = []
                while len(self._memo) > _MEMO_SIZE:
                    evicted.append(self._memo.popitem(last=False))
            # A kept table whose name is forgotten would stay in memory for good: drop it.
            self._drop([name for k, name in evicted if isinstance(k, tuple) and k[0] == "derived"])
        return value

    @property
    def keeps_derived(self) -> bool:
        """Whether :meth:`derived` keeps tables: an engine in this process (DuckDB) that can
        attach an in-memory catalog beside the store."""
        return self.backend.name == "duckdb" and self._kept_catalog() is not None

    def _kept_catalog(self) -> str | None:
        with self._memo_lock:
            if self._kept is None:
                try:
                    # Kept tables are compressed at a checkpoint (see _compress): they then
                    # take a fifth of the memory, and scans of them are about as fast.
                    self.backend.con.execute(f"ATTACH ':memory:' AS {_KEPT} (COMPRESS)")
                    self._kept = _KEPT
                except Exception:  # a database opened read-only cannot attach one
                    self._kept = ""
            return self._kept or None

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
        """The table ``build()`` computes, made once for this store (and ``key``) and kept by
        the engine in an in-memory catalog beside the store, where later queries scan it like
        any table; None where the engine cannot keep one (a remote server, a database opened
        read-only), where a metric runs its query inline.

        For intermediate tables that are costly, the same for every filter and far smaller
        than their sources, such as the exchanges of every chat (one sort of all messages,
        instead of one per period change). The table is created by the engine from the
        query's SQL: no rows pass through Python (a query scanning a Python object while
        other threads query the same database can deadlock DuckDB)."""
        if getattr(self._local, "inline", False) or not self.keeps_derived:
            return None
        name = self.memo(("derived", key), lambda: self._keep(build(), key))
        self._compress()
        kept = self._local.__dict__.setdefault("kept", {})
        if name not in kept:
            kept[name] = self._backend_here().table(name, database=(_KEPT, "main"))
        return kept[name]

    def _keep(self, expr: ir.Table, key: Hashable) -> str:
        sql = ibis.to_sql(expr, dialect="duckdb")
        # Named by what it holds (its key, its query, the data's generation), not by a
        # counter: the queries that scan it then have the same shape in every process, so a
        # new kernel finds their compiled SQL where an earlier one kept it (see _sqlcache).
        digest = hashlib.blake2b(f"{key!r}\0{sql}".encode(), digest_size=10).hexdigest()
        name = f"kept_{self._generation}_{digest}"
        with self._memo_lock:
            if name in self._kept_tables:  # two keys of one repr: each its own table
                name = f"{name}_{len(self._kept_tables)}"
            self._kept_tables.append(name)  # reserved: no other key takes the name
        # Cast to the types Ibis gave the columns: the engine may type some wider (a small
        # int8 literal is an INTEGER to DuckDB), and the kept table must have the query's
        # schema, or a union of it with the query's other rows would not type-check.
        cols = ", ".join(
            f'CAST("{c}" AS {DuckDBType.to_string(t)}) AS "{c}"' for c, t in expr.schema().items()
        )
        try:
            with self._cursor() as cursor:
                # OR REPLACE: a table of this name whose drop failed holds the same rows.
                cursor.execute(
                    f'CREATE OR REPLACE TABLE {_KEPT}.main."{name}" AS SELECT {cols} FROM ({sql})'
                )
        except BaseException:
            with self._memo_lock:
                if name in self._kept_tables:
                    self._kept_tables.remove(name)
            raise
        with self._memo_lock:
            self._made += 1
        return name

    def _compress(self) -> None:
        """Compress the kept tables made since the last time, if no query is running (a
        checkpoint cannot run beside other transactions: then the next call retries)."""
        with self._memo_lock:
            made = self._made
            if made == self._compressed:
                return
        with contextlib.suppress(duckdb.Error), self.backend.con.cursor() as cursor:
            cursor.execute(f"CHECKPOINT {_KEPT}")
            with self._memo_lock:
                self._compressed = max(self._compressed, made)

    def built(self, key: Hashable, build: Callable[[], T]) -> T:
        """``build()`` (an Ibis expression), remembered under ``key`` on this thread: a
        thread's expressions are bound to its own cursor, so each thread builds its own.
        For expressions many metrics of one request share (the deals open now): building
        one is Python work a filter change would otherwise repeat in every widget."""
        local = self._local.__dict__
        cache: OrderedDict[Hashable, Any] = local.setdefault("built", OrderedDict())
        key = (key, self._generation, getattr(self._local, "inline", False))
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        value = cache[key] = build()
        while len(cache) > _BUILT_SIZE:
            cache.popitem(last=False)
        return value

    def forget(self) -> None:
        """Drop what :meth:`memo` remembered and the derived tables kept (after rows were
        written into the backend)."""
        with self._memo_lock:
            self._memo.clear()
            self._generation += 1  # and what every thread built (it may scan a kept table)
            kept = list(self._kept_tables)
        self._drop(kept)

    def _drop(self, names: list[str]) -> None:
        """Drop kept tables (a thread still holding one gets an error naming it)."""
        for name in names:
            with contextlib.suppress(Exception), self.backend.con.cursor() as cursor:
                cursor.execute(f'DROP TABLE IF EXISTS {_KEPT}.main."{name}"')
            with self._memo_lock:
                if name in self._kept_tables:
                    self._kept_tables.remove(name)
            self._local.__dict__.get("kept", {}).pop(name, None)

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


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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
                # A plain view (Ibis's read_parquet makes a temporary one, which the cursors
                # of other threads and the kept tables' queries cannot see).
                backend.con.execute(
                    f'CREATE VIEW "{name}" AS SELECT * FROM read_parquet({_sql_text(pattern)})'
                )
                tables[name] = backend.table(name)
        return backend, tables, str(path)
    if not path.exists():
        raise FileNotFoundError(f"no deskkit store at {path}")
    # An in-memory instance with the file attached read-only (rather than the file opened
    # read-only): other processes may still read the file, and the store can keep derived
    # tables in memory beside it (see Store.derived).
    backend = ibis.duckdb.connect()
    backend.con.execute(f"ATTACH {_sql_text(str(path))} AS {_STORE} (READ_ONLY)")
    backend.con.execute(f"USE {_STORE}")
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
    store = Store(backend, {n: _normalise(t) for n, t in tables.items()}, source)
    store._reopenable = not isinstance(target, BaseBackend) and "://" not in os.fspath(target)
    return store
