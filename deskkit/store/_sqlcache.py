"""Reuse compiled SQL across filter changes.

Compiling an Ibis expression to SQL costs 10–60 ms of Python (holding the GIL) per metric query,
and a period change recompiles every query with nothing changed but its timestamps (a scope
change, nothing but its list of users). The cache keys an expression by its *shape*: the
expression with each timestamp or date literal replaced by a sentinel, each ``isin`` list of
integers by a one-element list of a sentinel, and each table by an unbound table of the same
name and schema. The shape's SQL is compiled once; later queries of that shape get it with
the sentinels' SQL replaced by their own literals' SQL. A shape is templated the second time
it is seen (a one-off query pays nothing but the lookup), and then only if the substituted SQL
is identical to a normal compile, so the cache can never change a query's meaning (a shape
that fails the check is compiled normally from then on).

With :meth:`CompileCache.persist`, templates are also kept in a file, so that a new process
(each kernel Voilà starts) compiles none of the shapes an earlier one templated. A shape is
found there by a digest of its structure (node types by name, values by repr), under the
Ibis, sqlglot and backend versions that compiled it. The file holds SQL that is run as it is:
it belongs in a folder only the server writes (the desktop puts it beside its saved layouts).
"""

from __future__ import annotations

import atexit
import datetime as _dt
import hashlib
import json
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

import ibis.expr.datatypes as dt
import ibis.expr.operations as ops

__all__ = ["CompileCache"]

_SENTINEL_YEAR = 1111
#: Integer sentinels count down from here (no user, stage or deal has such an id).
_SENTINEL_INT = -7_111_111_100
#: Compiled shapes kept (a desktop uses about 40; custom widgets and drill-downs add more).
_MAX_SHAPES = 512
#: Interned shape nodes kept (a desktop's shapes share most of theirs: a few thousand).
_MAX_INTERNED = 200_000
_UNSEEN, _ONCE = object(), object()
#: Templates kept in a persist file (a desktop uses about 150; the rest are drill-downs).
_MAX_SAVED = 4_000
#: Seconds between a new template and writing the persist file (templates come in bursts).
_SAVE_AFTER = 2.0
#: Bump when the template format (sentinels, substitution) changes.
_FORMAT = 1


class _Ref(int):
    """An interned node's number: an int that says it stands for a node (see _digest)."""

    __slots__ = ()


def _sentinel(i: int, op: ops.Node) -> ops.Literal:
    """The sentinel literal of parameter ``i`` (a temporal literal or an integer list)."""
    if isinstance(op, ops.InValues):
        return ops.Literal(_SENTINEL_INT - i, dt.int64)
    base = _dt.datetime(_SENTINEL_YEAR, 1, 1) + _dt.timedelta(minutes=i + 1)
    value = base.date() + _dt.timedelta(days=i) if op.dtype.is_date() else base
    return ops.Literal(value, op.dtype)


class CompileCache:
    """A drop-in for a SQL backend's ``compile`` (shared by every cursor of one store)."""

    def __init__(self) -> None:
        # shape -> (template SQL, sentinels' SQL), _ONCE (seen once) or None (not templatable)
        self._shapes: dict[Any, Any] = {}
        self._literals: dict[Any, str] = {}
        # (node type, arguments with child nodes as numbers) -> number; see _key
        self._interned: dict[tuple, int] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.errors = 0
        #: Template a shape the first time it is seen (a long-lived desktop, whose queries
        #: recur by nature) instead of the second (ad-hoc analysis, where most do not).
        self.eager = False
        self.loaded = 0  # shapes whose template came from the persist file
        self._dialect = "sql"
        self._path: Any = None  # the persist file (see persist)
        self._disk: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._new: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._keys: list[tuple] = []  # interned number -> its key (for digests)
        self._digests: dict[int, str | None] = {}
        self._timer: threading.Timer | None = None

    def install(self, backend: Any) -> None:
        """Route ``backend.compile`` (a store's backend or one thread's cursor) through the
        cache. The backend is held weakly: a store dropped by its user still closes its
        connection at once (a reference cycle would keep the file open until the next
        garbage collection)."""
        original = type(backend).compile
        ref = weakref.ref(backend)
        self._dialect = str(getattr(backend, "name", type(backend).__name__))

        def compile(expr: Any, /, **kwargs: Any) -> str:
            return original(ref(), expr, **kwargs)

        backend.compile = self.bind(compile)

    def persist(self, path: Any) -> None:
        """Read templates from the file ``path`` (if it holds any made by the same versions)
        and write new ones to it, a few seconds after they are made and at exit."""
        from pathlib import Path

        with self._lock:
            first = self._path is None
            self._path = Path(path)
            self._disk = self._read()
        if first:
            atexit.register(_save_at_exit, weakref.ref(self))

    def save(self) -> None:
        """Write the templates made since the last save into the persist file, merged with
        what other processes wrote there meanwhile (the file is replaced whole, atomically).
        A file that cannot be written is left as it is: the cache works without it."""
        with self._lock:
            self._timer = None
            if self._path is None or not self._new:
                return
            new, self._new = self._new, {}
            path = self._path
            shapes = self._read()
        shapes.update(new)
        while len(shapes) > _MAX_SAVED:
            shapes.pop(next(iter(shapes)))  # the oldest first
        text = json.dumps({"versions": self._versions(), "shapes": shapes})
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)

    def _versions(self) -> str:
        import ibis
        import sqlglot

        return f"{_FORMAT}; {self._dialect}; ibis {ibis.__version__}; sqlglot {sqlglot.__version__}"

    def _read(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        """The persist file's templates; none if it is missing, unreadable or another
        version's."""
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
            if data.get("versions") != self._versions():
                return {}
            return {k: (t, tuple(s)) for k, (t, s) in data["shapes"].items()}
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return {}

    def _later_save(self) -> None:  # with the lock held
        if self._timer is None:
            self._timer = threading.Timer(_SAVE_AFTER, self.save)
            self._timer.daemon = True
            self._timer.start()

    def _digest(self, number: int) -> str | None:
        """A process-independent name of interned node ``number`` (made when first asked,
        then remembered): node types by module and name, child nodes by their digests, other
        values by type and repr. None if a value has no stable repr (an object's address).
        Call with the lock held."""
        if number in self._digests:
            return self._digests[number]
        parts: list[str] = []

        def text(obj: Any) -> bool:
            if isinstance(obj, _Ref):
                digest = self._digest(obj)
                if digest is None:
                    return False
                parts.append("#" + digest)
            elif isinstance(obj, tuple):
                parts.append("(")
                if not all(text(o) for o in obj):
                    return False
                parts.append(")")
            elif isinstance(obj, type):
                parts.append(f"{obj.__module__}.{obj.__qualname__}")
            else:
                r = repr(obj)
                if " at 0x" in r:
                    return False
                parts.append(f"{type(obj).__qualname__}:{r}")
            parts.append(",")
            return True

        ok = text(self._keys[number])
        digest = (
            hashlib.blake2b("".join(parts).encode(), digest_size=20).hexdigest() if ok else None
        )
        self._digests[number] = digest
        return digest

    def _disk_key(self, key: tuple[int, Any]) -> str | None:
        """The persist file's name of shape ``key`` (None without a file). With the lock."""
        digest = self._digest(key[0]) if self._path is not None else None
        return None if digest is None else f"{digest}/{key[1]!r}"

    def bind(self, compile: Callable[..., str]) -> Callable[..., str]:
        """``compile``, going through this cache."""

        def cached(expr: Any, /, *, limit: Any = None, params: Any = None, **kw: Any) -> str:
            if params or kw:
                return compile(expr, limit=limit, params=params, **kw)
            try:
                return self._get(compile, expr, limit)
            except Exception:
                # The cache must never be why a query fails: an expression it cannot take
                # apart is compiled as usual (which raises the query's own error, if any).
                self.errors += 1
                return compile(expr, limit=limit)

        return cached

    def _param_sql(self, compile: Callable[..., str], op: ops.Node) -> str:
        """The SQL that stands for parameter ``op``: a literal's, or an integer list's items."""
        if isinstance(op, ops.InValues):
            return ", ".join(self._literal_sql(compile, o) for o in op.options)
        return self._literal_sql(compile, op)

    def _literal_sql(self, compile: Callable[..., str], op: ops.Literal) -> str:
        key = (op.value, op.dtype)
        sql = self._literals.get(key)
        if sql is None:
            # SELECT <literal> AS "x": the literal's SQL is between SELECT and AS.
            import ibis

            text = compile(ibis.literal(op.value, type=op.dtype).name("x"))
            sql = text[len("SELECT ") : text.rindex(' AS "x"')]
            self._literals[key] = sql
        return sql

    def _key(self, op: ops.Node, literals: dict[ops.Literal, int]) -> int:
        """``op``'s shape (see :func:`_shape`) as a number, built without constructing any
        Ibis node: reconstructing the graph cost more than the rest of a hit. Each node is
        interned as (type, its arguments with child nodes as their numbers), so equal shapes
        get equal numbers and no key is ever hashed deeper than one node. Fills ``literals``
        with the parameters (temporal literals and integer ``isin`` lists), numbered in the
        order met. Call with the lock held."""
        interned = self._interned
        memo: dict[ops.Node, int] = {}
        refs: dict[Any, int] = {}

        def of(obj: Any) -> Any:
            if isinstance(obj, ops.Node):
                got = memo.get(obj)
                if got is None:
                    got = memo[obj] = node_key(obj)
                return got
            if isinstance(obj, tuple | list):
                return tuple(of(o) for o in obj)
            if isinstance(obj, dict):
                return tuple((name, of(value)) for name, value in obj.items())
            return obj

        def node_key(node: ops.Node) -> int:
            if isinstance(node, ops.Literal) and _temporal(node):
                key: tuple = ("literal", literals.setdefault(node, len(literals)), node.dtype)
            elif _int_list(node):
                key = ("in list", of(node.value), literals.setdefault(node, len(literals)))
            elif isinstance(node, ops.DatabaseTable):
                key = ("table", node.name, node.namespace, node.schema)
            else:
                args = tuple(of(a) for a in node.__args__)
                if isinstance(node, ops.JoinReference | ops.SelfReference):
                    # Ibis numbers join references from a global counter: renumber from 0.
                    i = node.__argnames__.index("identifier")
                    number = refs.setdefault(node.identifier, len(refs))
                    args = (*args[:i], number, *args[i + 1 :])
                key = (type(node), args)
            got = interned.get(key)
            if got is None:
                got = interned[key] = _Ref(len(interned))
                self._keys.append(key)
            return got

        try:
            return of(op)
        finally:
            # ``of`` and ``node_key`` refer to each other: a cycle, which must not keep the
            # tables' nodes (and through them the backend) alive until the next collection.
            memo.clear()

    def _get(self, compile: Callable[..., str], expr: Any, limit: Any) -> str:
        op = expr.op()
        literals: dict[ops.Node, int] = {}
        with self._lock:
            if len(self._shapes) >= _MAX_SHAPES or len(self._interned) >= _MAX_INTERNED:
                self._shapes.clear()
                self._interned.clear()
                self._keys.clear()
                self._digests.clear()
            key = (self._key(op, literals), limit)
            if not literals:
                entry = None
            else:
                entry = self._shapes.get(key, _UNSEEN)
                if not isinstance(entry, tuple) and entry is not None and self._disk:
                    name = self._disk_key(key)
                    saved = self._disk.get(name) if name is not None else None
                    if saved is not None:
                        entry = self._shapes[key] = saved
                        self.loaded += 1
                if entry is _UNSEEN:
                    self._shapes[key] = _ONCE
        if not literals:
            return compile(expr, limit=limit)
        if isinstance(entry, tuple):
            self.hits += 1
            template, sentinels = entry
            real = [self._param_sql(compile, lit) for lit in literals]
            return _substitute(template, sentinels, real)
        self.misses += 1
        actual = compile(expr, limit=limit)
        if entry is _ONCE or self.eager:  # the second sighting (or the first, if eager)
            sentinels_of = {lit: _sentinel(i, lit) for lit, i in literals.items()}
            template = compile(_shape(op, sentinels_of).to_expr(), limit=limit)
            sentinels = tuple(self._literal_sql(compile, s) for s in sentinels_of.values())
            real = [self._param_sql(compile, lit) for lit in literals]
            ok = all(s in template for s in sentinels) and (
                _substitute(template, sentinels, real) == actual
            )
            with self._lock:
                self._shapes[key] = (template, sentinels) if ok else None
                name = self._disk_key(key) if ok else None
                if name is not None:
                    self._new[name] = (template, sentinels)
                    self._later_save()
        return actual


def _save_at_exit(ref: weakref.ref[CompileCache]) -> None:
    cache = ref()
    if cache is not None:
        cache.save()


def _temporal(lit: ops.Literal) -> bool:
    return (lit.dtype.is_timestamp() or lit.dtype.is_date()) and lit.value is not None


def _int_list(node: ops.Node) -> bool:
    """``x IN (1, 2, 3)`` with integer literals only (a scope's users, a set of stages)."""
    return (
        isinstance(node, ops.InValues)
        and len(node.options) > 0
        and all(
            isinstance(o, ops.Literal) and o.dtype.is_integer() and o.value is not None
            for o in node.options
        )
    )


def _shape(op: ops.Node, sentinels_of: dict[ops.Node, ops.Literal]) -> ops.Node:
    """``op`` with its parameters replaced by sentinels (an integer list by a list of one),
    its tables by unbound tables and its join references renumbered from 0 (Ibis numbers
    them from a global counter, so two builds of one query would otherwise never have the
    same shape)."""
    refs = sorted({r.identifier for r in op.find((ops.JoinReference, ops.SelfReference))})
    renumber = {ident: i for i, ident in enumerate(refs)}

    def fn(node: ops.Node, kwargs: dict[str, Any] | None) -> ops.Node:
        if isinstance(node, ops.InValues) and node in sentinels_of:
            value = kwargs["value"] if kwargs is not None else node.value
            return ops.InValues(value, (sentinels_of[node],))
        if node in sentinels_of:
            return sentinels_of[node]
        if isinstance(node, ops.DatabaseTable):
            return ops.UnboundTable(name=node.name, schema=node.schema, namespace=node.namespace)
        if isinstance(node, ops.JoinReference | ops.SelfReference):
            args = dict(kwargs or zip(node.__argnames__, node.__args__, strict=True))
            args["identifier"] = renumber[node.identifier]
            return type(node)(**args)
        return type(node)(**kwargs) if kwargs is not None else node

    return op.replace(fn)


def _substitute(template: str, sentinels: tuple[str, ...], real: list[str]) -> str:
    for s, r in zip(sentinels, real, strict=True):
        template = template.replace(s, r)
    return template
