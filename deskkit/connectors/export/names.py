"""Names in an export (users, pipelines, stages, sources, loss reasons, custom fields, linked
contacts and companies) resolved to store ids.

An export names things instead of giving their ids. A name already in the store (compared
case-insensitively) keeps its id; a new one gets a *synthetic* id, derived from the name so that
importing the same file again, or into another store, gives the same id. Synthetic ids lie in
``[SYNTHETIC_BASE, SYNTHETIC_BASE + SYNTHETIC_SPAN)``, far above amoCRM's own ids and below
2**53 (so they survive a trip through float64 and JavaScript charts).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from deskkit.connectors.export.headers import normalise

__all__ = [
    "SYNTHETIC_BASE",
    "SYNTHETIC_SPAN",
    "Names",
    "Parties",
    "Pipelines",
    "is_synthetic",
    "key",
    "stage_kind",
    "synthetic_id",
]

SYNTHETIC_BASE: Final = 7 * 10**15
SYNTHETIC_SPAN: Final = 10**15
#: amoCRM's won and lost stage ids, the same in every pipeline.
WON_ID: Final = 142
LOST_ID: Final = 143

StageKind = Literal["unsorted", "open", "won", "lost"]

# amoCRM's and Kommo's fixed names of the closing stages and the incoming-leads stage.
_WON: Final = frozenset(
    normalise(n) for n in ("Успешно реализовано", "Closed - won", "Successfully realized", "Won")
)
_LOST: Final = frozenset(
    normalise(n)
    for n in ("Закрыто и не реализовано", "Closed - lost", "Closed and not realized", "Lost")
)
_UNSORTED: Final = frozenset(
    normalise(n) for n in ("Неразобранное", "Incoming leads", "Unsorted", "Incoming")
)
# The open stages of amoCRM's default pipeline, in order. An export does not say in what order
# a pipeline's stages come; these names at least land in their usual place.
_DEFAULT_ORDER: Final = {
    normalise(n): sort
    for names, sort in (
        (("Первичный контакт", "Initial contact", "Contact established", "First contact"), 10),
        (("Переговоры", "Negotiation", "Negotiations", "Discussions"), 20),
        (("Принимают решение", "Decision making", "Making decision", "Making a decision"), 30),
        (("Согласование договора", "Contract discussion", "Contract negotiation"), 40),
    )
    for n in names
}
# Sort of won, lost and unsorted stages the import creates (after / before every open stage).
_SORT: Final = {"unsorted": 0, "won": 10_000, "lost": 10_001}
_UNKNOWN_ORDER_START: Final = 100


def key(name: str) -> str:
    """The form names are compared in: case, ``ё`` and runs of spaces do not matter."""
    return " ".join(name.casefold().replace("ё", "е").split())


def synthetic_id(kind: str, *names: str) -> int:
    """A stable id for a named ``kind`` of thing (e.g. ``("user", "Анна Петрова")``)."""
    text = "\x1f".join((kind, *(key(n) for n in names)))
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return SYNTHETIC_BASE + int.from_bytes(digest, "big") % SYNTHETIC_SPAN


def is_synthetic(ident: int) -> bool:
    """Whether ``ident`` was made up by an import (see :func:`synthetic_id`)."""
    return SYNTHETIC_BASE <= ident < SYNTHETIC_BASE + SYNTHETIC_SPAN


def stage_kind(name: str) -> StageKind:
    """The kind of a stage amoCRM names by convention; every other stage is open."""
    norm = normalise(name)
    if norm in _WON:
        return "won"
    if norm in _LOST:
        return "lost"
    if norm in _UNSORTED:
        return "unsorted"
    return "open"


def _fresh(wanted: int, taken: set[int]) -> int:
    """``wanted``, or the next free id after it (a hash collision is astronomically rare, but an
    id must never be reused for another name)."""
    while wanted in taken:
        wanted += 1
    return wanted


@dataclass
class Names:
    """Name -> id for one lookup table (users, lead_sources, loss_reasons): the store's rows
    plus those this import adds (``new``)."""

    kind: str
    by_key: dict[str, int] = field(default_factory=dict)
    taken: set[int] = field(default_factory=set)
    new: list[tuple[int, str]] = field(default_factory=list)

    @classmethod
    def of(cls, kind: str, rows: Iterable[tuple[Any, Any]]) -> Names:
        names = cls(kind)
        for ident, name in rows:
            names.taken.add(int(ident))
            if name is not None:
                names.by_key.setdefault(key(str(name)), int(ident))
        return names

    def id_of(self, name: str | None) -> int | None:
        """The id of ``name`` (created when new); None for no name."""
        if name is None:
            return None
        k = key(name)
        if k not in self.by_key:
            ident = _fresh(synthetic_id(self.kind, name), self.taken)
            self.by_key[k] = ident
            self.taken.add(ident)
            self.new.append((ident, name))
        return self.by_key[k]


@dataclass
class Pipelines:
    """Pipelines and their stages by name, with the rows this import adds."""

    pipes: dict[str, int] = field(default_factory=dict)
    main: int | None = None
    sorts: list[int] = field(default_factory=list)
    # (pipeline_id, stage key) -> stage_id; pipeline_id -> {kind: [(sort, stage_id)]}
    stages: dict[tuple[int, str], int] = field(default_factory=dict)
    kinds: dict[int, dict[str, list[tuple[int, int]]]] = field(default_factory=dict)
    taken: set[int] = field(default_factory=set)
    created: set[int] = field(default_factory=set)
    new_pipelines: list[dict[str, Any]] = field(default_factory=list)
    new_stages: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, pipelines: list[dict[str, Any]], stages: list[dict[str, Any]]) -> Pipelines:
        p = cls()
        for row in sorted(pipelines, key=lambda r: (r["sort"] or 0, r["pipeline_id"])):
            pid = int(row["pipeline_id"])
            p.pipes.setdefault(key(str(row["name"])), pid)
            p.sorts.append(int(row["sort"] or 0))
            if row["is_main"] and p.main is None:
                p.main = pid
        if p.main is None and pipelines:
            p.main = p.pipes[next(iter(p.pipes))]
        for row in stages:
            pid, sid = int(row["pipeline_id"]), int(row["stage_id"])
            p.taken.add(sid)
            p.stages.setdefault((pid, key(str(row["name"]))), sid)
            kind = str(row["kind"] or "open")
            p.kinds.setdefault(pid, {}).setdefault(kind, []).append((int(row["sort"] or 0), sid))
        return p

    def pipeline_id(self, name: str | None, default: str) -> int:
        """The pipeline named ``name``; without a name, the main pipeline (created as
        ``default`` in an empty store)."""
        if name is None:
            if self.main is not None:
                return self.main
            name = default
        k = key(name)
        if k not in self.pipes:
            pid = synthetic_id("pipeline", name)
            while pid in self.pipes.values():
                pid += 1
            self.pipes[k] = pid
            self.created.add(pid)
            sort = max(self.sorts, default=0) + 1
            self.sorts.append(sort)
            is_main = self.main is None
            self.main = pid if is_main else self.main
            self.new_pipelines.append(
                dict(pipeline_id=pid, name=name, sort=sort, is_main=is_main, is_archived=False)
            )
        return self.pipes[k]

    def stage_id(self, pipeline_id: int, name: str) -> int:
        """The stage named ``name`` in the pipeline, created (with its kind) when new."""
        k = (pipeline_id, key(name))
        if k in self.stages:
            return self.stages[k]
        kind = stage_kind(name)
        have = self.kinds.setdefault(pipeline_id, {})
        if kind != "open" and have.get(kind):
            # The store names its won/lost/unsorted stage differently: it is still that stage.
            sid = min(have[kind])[1]
        else:
            sid = self._new_stage(pipeline_id, name, kind, have)
        self.stages[k] = sid
        return sid

    def _new_stage(
        self, pid: int, name: str, kind: StageKind, have: dict[str, list[tuple[int, int]]]
    ) -> int:
        if kind in ("won", "lost"):
            sid = WON_ID if kind == "won" else LOST_ID
            sort = _SORT[kind]
        else:
            sid = _fresh(synthetic_id("stage", str(pid), name), self.taken)
            if kind == "unsorted":
                sort = _SORT[kind]
            elif pid in self.created:
                sort = _DEFAULT_ORDER.get(normalise(name), 0)
                if not sort:
                    sort = _UNKNOWN_ORDER_START + 10 * sum(
                        s >= _UNKNOWN_ORDER_START for s, _ in have.get("open", [])
                    )
            else:
                sort = max((s for s, _ in have.get("open", [])), default=0) + 10
        self.taken.add(sid)
        have.setdefault(kind, []).append((sort, sid))
        self.new_stages.append(
            dict(pipeline_id=pid, stage_id=sid, name=name, sort=sort, kind=kind, color=None)
        )
        return sid


@dataclass
class Fields:
    """Custom fields by (entity type, name), with the rows this import adds."""

    by_key: dict[tuple[str, str], int] = field(default_factory=dict)
    taken: set[int] = field(default_factory=set)
    new: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, rows: Iterable[tuple[Any, Any, Any]]) -> Fields:
        f = cls()
        for entity_type, field_id, name in rows:
            f.taken.add(int(field_id))
            f.by_key.setdefault((str(entity_type), key(str(name))), int(field_id))
        return f

    def find(self, entity_type: str, name: str) -> int | None:
        """The id of a field already known, else None."""
        return self.by_key.get((entity_type, key(name)))

    def id_of(self, entity_type: str, name: str, type_: str) -> int:
        """The id of the field (created with ``type_`` when new)."""
        k = (entity_type, key(name))
        if k not in self.by_key:
            fid = _fresh(synthetic_id("field", entity_type, name), self.taken)
            self.by_key[k] = fid
            self.taken.add(fid)
            self.new.append(dict(entity_type=entity_type, field_id=fid, name=name, type=type_))
        return self.by_key[k]


@dataclass
class Parties:
    """Contacts or companies by name, for a deal (or contact) that names its company or main
    contact instead of giving an id. A name that matches exactly one row links to it; any other
    name gets a synthetic row of its own (merged into the real one when that is imported)."""

    kind: Literal["contact", "company"]
    by_key: dict[str, set[int]] = field(default_factory=dict)
    taken: set[int] = field(default_factory=set)
    new: list[tuple[int, str]] = field(default_factory=list)

    @classmethod
    def of(cls, kind: Literal["contact", "company"], rows: Iterable[tuple[Any, Any]]) -> Parties:
        p = cls(kind)
        for ident, name in rows:
            p.add(int(ident), name)
        return p

    def add(self, ident: int, name: object) -> None:
        """Record a row of the store (or of this import)."""
        self.taken.add(ident)
        if name is not None and not is_synthetic(ident):
            self.by_key.setdefault(key(str(name)), set()).add(ident)

    def id_of(self, name: str | None) -> int | None:
        if name is None:
            return None
        real = self.by_key.get(key(name), set())
        if len(real) == 1:
            return next(iter(real))
        ident = synthetic_id(self.kind, name)
        if ident not in self.taken:
            self.taken.add(ident)
            self.new.append((ident, name))
        return ident
