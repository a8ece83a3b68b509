"""Search: find deals, contacts and companies by name, and notes by their text.

The search text is only ever an Ibis literal compared with ``lower(column)``: it is escaped by
the compiler and matched as plain text (``%`` and ``_`` are not wildcards).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import ibis
import pandas as pd

from deskkit.metrics._base import Context, to_sql
from deskkit.metrics.files import ENTITY_TYPES, entity_names

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from deskkit.filters import Period, Scope

__all__ = ["DEFINITION", "SNIPPET", "SearchResult", "search"]

DEFINITION = (
    "Search: records whose name contains the text, ignoring case \u2014 deals, contacts and "
    "companies \u2014 and notes on them whose text contains it; the text is matched literally. "
    "Only records in the selected scope (by responsible user) that the viewer may see are "
    "searched, and only notes on those records; deleted records are never found. All time, "
    "unless limited to records (or notes) created during the period. Newest first."
)

#: Characters of note text shown either side of the match.
SNIPPET = 40

_COLUMNS = ["entity_type", "entity_id", "name", "field", "text", "note_id", "created_at"]


def _matches(ctx: Context, needle: str, period_only: bool) -> ir.Table:
    """Every match: one row per record whose name matches and per matching note."""
    e = entity_names(ctx, scoped=True)
    named = e.filter(e.name.lower().contains(needle))
    named = named.select(
        "entity_type",
        "entity_id",
        "name",
        field=ibis.literal("name"),
        text=named.name,
        note_id=ibis.null("int64"),
        created_at=named.created_at,
    )
    n = ctx.table("notes")
    n = n.filter(n.entity_type.isin(list(ENTITY_TYPES)), n.text.lower().contains(needle))
    # Inner join with the visible records: notes on records the viewer may not see vanish.
    j = n.join(e.select("entity_type", "entity_id", "name"), ["entity_type", "entity_id"])
    notes = j.select(
        "entity_type",
        "entity_id",
        "name",
        field=ibis.literal("note"),
        text=j.text,
        note_id=j.note_id,
        created_at=j.created_at,
    )
    both = ibis.union(named, notes)
    return both.filter(ctx.during(both.created_at)) if period_only else both


def _snippet(text: str, needle: str) -> str:
    """The text around the first match, with ellipses where it was cut."""
    if not isinstance(text, str):
        return ""
    at = text.lower().find(needle)
    if at < 0:
        return text[: 2 * SNIPPET]
    lo, hi = max(0, at - SNIPPET), min(len(text), at + len(needle) + SNIPPET)
    return ("\u2026" if lo else "") + text[lo:hi] + ("\u2026" if hi < len(text) else "")


def _queries(
    ctx: Context, needle: str, period_only: bool, limit: int | None
) -> dict[str, ir.Table]:
    m = _matches(ctx, needle, period_only)
    newest = m.order_by([ibis.desc("created_at"), "entity_type", "entity_id", "note_id"])
    return {
        "matches": newest.limit(limit) if limit else newest,
        "counts": m.group_by(["entity_type", "field"]).aggregate(matches=m.count()),
    }


@dataclass(frozen=True)
class SearchResult:
    """What matched the search text.

    ``matches``: ``entity_type, entity_id, name, field`` (``name`` or ``note``), ``snippet``,
    ``note_id`` (null for names), ``created_at``, newest first, at most ``limit`` rows.
    ``counts``: every match (not only the listed ones) per ``entity_type`` and ``field``.
    """

    text: str
    period: Period
    scope: Scope
    period_only: bool
    matches: pd.DataFrame
    counts: pd.DataFrame
    limit: int | None
    _ctx: Context = field(repr=False, compare=False)

    definition = DEFINITION

    @property
    def total(self) -> int:
        return int(self.counts["matches"].sum())

    def sql(self) -> dict[str, str]:
        """The SQL the engine ran (query name -> SQL); the text appears only as a literal."""
        text, period_only, limit = self.text.lower(), self.period_only, self.limit
        return to_sql(self._ctx, lambda: _queries(self._ctx, text, period_only, limit))

    def records(self, entity_type: str | None = None, *, limit: int | None = None) -> pd.DataFrame:
        """Every match (of one kind of record, if given), newest first."""
        if entity_type is not None and entity_type not in ENTITY_TYPES:
            raise ValueError(f"unknown entity type {entity_type!r}; use one of {ENTITY_TYPES}")
        if not self.text:
            return _frame(pd.DataFrame(columns=_COLUMNS), "")
        m = _matches(self._ctx, self.text.lower(), self.period_only)
        if entity_type is not None:
            m = m.filter(m.entity_type == entity_type)
        m = m.order_by([ibis.desc("created_at"), "entity_type", "entity_id", "note_id"])
        return _frame((m.limit(limit) if limit else m).to_pandas(), self.text.lower())


def _frame(raw: pd.DataFrame, needle: str) -> pd.DataFrame:
    out = raw.reindex(columns=_COLUMNS).copy()
    out.insert(4, "snippet", [_snippet(t, needle) for t in out["text"]])
    out["note_id"] = out["note_id"].astype("Int64")
    out["entity_id"] = out["entity_id"].astype("int64")
    return out.drop(columns="text").reset_index(drop=True)


def search(
    ctx: Context, text: str, limit: int | None = 50, *, period_only: bool = False
) -> SearchResult:
    """Search names and notes for ``text``; see :data:`DEFINITION` for the rules.

    Blank text finds nothing (rather than everything).
    """
    text = (text or "").strip()
    if not text:
        empty = pd.DataFrame({"entity_type": [], "field": [], "matches": []})
        matches = _frame(pd.DataFrame(columns=_COLUMNS), "")
    else:
        q = _queries(ctx, text.lower(), period_only, limit)
        matches = _frame(q["matches"].to_pandas(), text.lower())
        empty = q["counts"].to_pandas().sort_values(["entity_type", "field"])
    counts = empty.astype({"matches": "int64"}).reset_index(drop=True)
    return SearchResult(
        text=text,
        period=ctx.period,
        scope=ctx.scope,
        period_only=period_only,
        matches=matches,
        counts=counts,
        limit=limit,
        _ctx=ctx,
    )
