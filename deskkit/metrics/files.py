"""Recent files: attachments on deals, contacts and companies uploaded during the period.

Also home of :func:`entity_names`, the viewer-safe names of deals, contacts and companies that
the NPS and search metrics share.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import ibis
import pandas as pd

from deskkit.filters import Scope, Viewer, owner_filter
from deskkit.metrics._base import Context, kept_or_inline, label_ids, to_sql

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from deskkit.filters import Period

__all__ = ["DEFINITION", "ENTITY_TYPES", "RecentFiles", "entity_names", "recent_files"]

DEFINITION = (
    "Recent files: files attached to deals, contacts and companies during the period, uploaded "
    "by a user in the selected scope, newest first, with the name of the record they are "
    "attached to. Files on deleted records, and on records the viewer has no right to see, are "
    "not shown; files on other kinds of records (customers, tasks) are not part of the list."
)

#: The kinds of records whose files, notes and names the desktop lists.
ENTITY_TYPES = ("deal", "contact", "company")


def entity_names(ctx: Context, *, scoped: bool = True) -> ir.Table:
    """Visible, non-deleted deals, contacts and companies as one table.

    Columns ``entity_type, entity_id, name, responsible_user_id, created_at``. ``scoped=True``
    keeps records whose responsible user is in the scope and visible to the viewer; ``False``
    applies the viewer's rights only (for actions whose author carries the scope).
    """
    c = ctx if scoped else replace(ctx, scope=Scope())
    cols = ("name", "responsible_user_id", "created_at")
    d = c.deals()
    parts = [
        d.select(entity_type=ibis.literal("deal"), entity_id=d.deal_id, **{k: d[k] for k in cols})
    ]
    for kind, table in (("contact", "contacts"), ("company", "companies")):
        t = c.table(table)
        t = t.filter(~t.is_deleted.fill_null(False), c.by_owner(t.responsible_user_id))
        parts.append(
            t.select(entity_type=ibis.literal(kind), entity_id=t.id, **{k: t[k] for k in cols})
        )
    return ibis.union(*parts)


def _files(ctx: Context) -> ir.Table:
    """Files uploaded during the period by a user in scope, on records the viewer may see."""
    # Inline (no kept tables), the engine pushes the period and uploader filters below the join.
    on_records = functools.partial(_on_records, ctx)
    f = kept_or_inline(ctx, ("files on records",), on_records, on_records)
    f = f.filter(
        ctx.during(f.created_at),
        ctx.by_owner(f.created_by),
        owner_filter(f.record_owner, ctx.viewer_ids),
    )
    return f.select(*_COLUMNS)


_COLUMNS = (
    "file_id",
    "name",
    "size",
    "entity_type",
    "entity_id",
    "entity_name",
    "created_by",
    "created_at",
)


def _on_records(ctx: Context) -> ir.Table:
    """Every file on a deal, contact or company that is there and not deleted, with the
    record's name and responsible user (``record_owner``), whoever may see it. Kept by the
    store: the files then meet the records once, not at every period change (where DuckDB
    built its join on the records' millions of rows, not on the period's files)."""
    anyone = replace(ctx, scope=Scope(), viewer=Viewer())
    e = entity_names(anyone).select(
        "entity_type", "entity_id", entity_name="name", record_owner="responsible_user_id"
    )
    f = ctx.table("files")
    j = f.join(e, ["entity_type", "entity_id"])
    return j.select(*_COLUMNS, "record_owner")


def _queries(ctx: Context, limit: int | None) -> dict[str, ir.Table]:
    f = _files(ctx)
    newest = f.order_by([ibis.desc("created_at"), "file_id"])
    return {
        "files": newest.limit(limit) if limit else newest,
        "totals": f.aggregate(files=f.count(), size=f.size.fill_null(0).sum().cast("int64")),
    }


@dataclass(frozen=True)
class RecentFiles:
    """Files uploaded during the period, newest first.

    ``files`` has ``file_id, name, size, entity_type, entity_id, entity_name, created_by,
    author, created_at`` (at most ``limit`` rows); ``total`` and ``total_size`` count every
    file of the period, not only the rows listed.
    """

    period: Period
    scope: Scope
    files: pd.DataFrame
    total: int
    total_size: int
    limit: int | None
    _ctx: Context = field(repr=False, compare=False)

    definition = DEFINITION

    def sql(self) -> dict[str, str]:
        """The SQL behind these numbers (query name -> SQL), whole: from the files and the
        records themselves, not from the store's kept copy of the files joined to them."""
        return to_sql(self._ctx, lambda: _queries(self._ctx, self.limit))

    def records(self, entity_type: str | None = None, *, limit: int | None = None) -> pd.DataFrame:
        """Every file behind ``total`` (optionally only those on one kind of record)."""
        if entity_type is not None and entity_type not in ENTITY_TYPES:
            raise ValueError(f"unknown entity type {entity_type!r}; use one of {ENTITY_TYPES}")
        f = _files(self._ctx)
        if entity_type is not None:
            f = f.filter(f.entity_type == entity_type)
        f = f.order_by([ibis.desc("created_at"), "file_id"])
        return label_ids(self._ctx.store, (f.limit(limit) if limit else f).to_pandas())


def recent_files(ctx: Context, limit: int | None = 50) -> RecentFiles:
    """The files uploaded during the period; see :data:`DEFINITION` for the rules."""
    q = _queries(ctx, limit)
    files = label_ids(ctx.store, q["files"].to_pandas())
    totals = q["totals"].to_pandas().iloc[0]
    return RecentFiles(
        period=ctx.period,
        scope=ctx.scope,
        files=files.reset_index(drop=True),
        total=int(totals["files"]),
        total_size=int(totals["size"]) if pd.notna(totals["size"]) else 0,
        limit=limit,
        _ctx=ctx,
    )
