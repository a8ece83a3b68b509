"""What every metric shares: the query context, the scoped and viewer-safe base tables, and
small expression helpers. Metric modules build Ibis expressions only (no SQL text, no pandas
on whole tables); results come back as a few rows."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import ibis
import pandas as pd

from deskkit.filters import Period, Scope, Viewer, owner_filter, visible_owners

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Mapping, Sequence

    import ibis.expr.types as ir

    from deskkit.store import Store

__all__ = [
    "ROBOT",
    "Context",
    "Span",
    "count_if",
    "in_spans",
    "kept_or_inline",
    "label_ids",
    "latest_at",
    "span_rows",
    "tail_start",
    "to_sql",
    "user_names",
    "with_deal_owner",
]

#: Author id of automatic actions (Salesbot, digital pipeline).
ROBOT = 0

#: A half-open stretch of time ``[start, end)``, naive UTC.
Span = tuple[_dt.datetime, _dt.datetime]


@dataclass(frozen=True)
class Context:
    """One metric request: the store and the filters (period, scope, viewer)."""

    store: Store
    period: Period
    scope: Scope = field(default_factory=Scope)
    viewer: Viewer = field(default_factory=Viewer)

    # Period ---------------------------------------------------------------------------------

    @property
    def t0(self) -> _dt.datetime:
        """Start of the period, naive UTC (comparable with store timestamps)."""
        return self.period.start_utc

    @property
    def t1(self) -> _dt.datetime:
        """End of what has happened in the period, ``min(end, now)``, naive UTC."""
        return self.period.until_utc

    @property
    def now(self) -> _dt.datetime:
        """The moment the request looks at, naive UTC ("now" for metrics that ignore P)."""
        return self.period.now_utc

    def during(self, column: ir.TimestampValue) -> ir.BooleanValue:
        """``column`` falls in ``[t0, t1)``."""
        return (column >= self.t0) & (column < self.t1)

    def previous(self) -> Context:
        """The same request for the previous comparable period."""
        return replace(self, period=self.period.previous())

    # Scope and rights -----------------------------------------------------------------------

    @property
    def owners(self) -> frozenset[int] | None:
        """Users whose records are in scope and visible to the viewer (None = everyone)."""
        s = self.store
        # Remembered per store: a change asks this dozens of times, and each answer is a few
        # pandas lookups on the (unchanging) users and groups.
        return s.memo(
            ("owners", self.scope, self.viewer),
            lambda: visible_owners(self.scope, self.viewer, s.users, s.groups),
        )

    @property
    def scope_ids(self) -> frozenset[int] | None:
        """Users in the scope, whatever the viewer may see (None = everyone); an unknown user
        or department name fails here, naming the choices."""
        s = self.store
        return s.memo(("scope users", self.scope), lambda: self.scope.user_ids(s.users, s.groups))

    @property
    def viewer_ids(self) -> frozenset[int] | None:
        """Owners whose deals the viewer may see, whatever the scope (None = all)."""
        s = self.store
        return s.memo(("viewer users", self.viewer), lambda: self.viewer.user_ids(s.users))

    def by_owner(self, column: ir.IntegerValue) -> ir.BooleanValue:
        """Rows whose owner/author ``column`` is in scope and visible to the viewer."""
        return owner_filter(column, self.owners)

    def table(self, name: str) -> ir.Table:
        return self.store.table(name)

    def deals(self) -> ir.Table:
        """Deals that are not deleted, in scope and visible to the viewer.

        The viewer's rights are applied here, inside the query, so no metric can return rows
        the viewer may not see.
        """
        return self.store.built(
            ("deals", self.scope, self.viewer),
            lambda: self.deal_rows(self.store.table("deals")),
        )

    def deal_rows(self, t: ir.Table) -> ir.Table:
        """The rows of ``t`` whose deal :meth:`deals` keeps, where ``t`` carries the deal's
        ``is_deleted`` and ``responsible_user_id`` (a kept table with them beside each row
        then needs no join with the deals)."""
        return t.filter(~t.is_deleted.fill_null(False), self.by_owner(t.responsible_user_id))

    def visible_deals(self) -> ir.Table:
        """Non-deleted deals the viewer may see, whatever the scope (for actions, which are
        scoped by their author, not by the deal's owner)."""
        return replace(self, scope=Scope()).deals()

    def live(self, t: ir.Table) -> ir.Table:
        """Rows of ``t`` (with ``entity_type``/``entity_id``) not attached to a deleted deal."""
        d = self.store.table("deals")
        gone = d.filter(d.is_deleted.fill_null(False)).select("deal_id")
        return t.anti_join(gone, deal_ref(t) == gone.deal_id)


def with_deal_owner(ctx: Context, t: ir.Table) -> ir.Table:
    """``t`` (with ``entity_type``/``entity_id``) with ``live_deal``, whether the row is on a
    deal that is there and not deleted, and that deal's responsible user, ``deal_owner``
    (NULL otherwise): what the viewer's rights on the row are decided on, met once where a
    kept table carries them (a join with the deals at every request hashed all of them)."""
    d = ctx.table("deals")
    live = d.filter(~d.is_deleted.fill_null(False))
    live = live.select(_deal_id="deal_id", deal_owner="responsible_user_id")
    j = t.left_join(live, deal_ref(t) == live._deal_id)
    # A flag besides the owner: an unrestricted viewer sees a live deal without an owner.
    return j.mutate(live_deal=j._deal_id.notnull()).drop("_deal_id")


def latest_at(ctx: Context, table: str, column: str) -> _dt.datetime | None:
    """The latest ``column`` of the store's ``table`` (naive UTC; None if it has no rows),
    asked once per store: a store is a snapshot. Whether it lies after a request's "now"
    tells whether the store holds history later than the moment looked at."""
    latest = ctx.store.memo(
        ("latest", table, column), lambda: ctx.table(table)[column].max().execute()
    )
    return None if latest is None or pd.isna(latest) else pd.Timestamp(latest).to_pydatetime()


def tail_start(ctx: Context, table: str, column: str) -> _dt.datetime | None:
    """The start (UTC midnight) of the last two days of ``column`` in the store's ``table``,
    from which kept tables hold the rows a "now" inside those days needs (a store synced
    today, the demo's rest of the day); None where the store keeps nothing or the column
    has no value."""
    latest = latest_at(ctx, table, column)
    if latest is None or not ctx.store.keeps_derived:
        return None
    return _dt.datetime.combine(latest.date(), _dt.time()) - _dt.timedelta(days=1)


def kept_or_inline(
    ctx: Context, key: Hashable, whole: Callable[[], ir.Table], part: Callable[[], ir.Table]
) -> ir.Table:
    """``whole()`` made once and kept by the store under ``key`` (:meth:`Store.derived`), or,
    where the store keeps nothing (and in ``sql()``), ``part()``: the same rows, or the part
    of them the request needs, built inline."""
    kept = ctx.store.derived(key, whole)
    return kept if kept is not None else part()


def count_if(condition: ir.BooleanValue) -> ir.IntegerScalar:
    """Rows where ``condition`` holds (PostgreSQL cannot cast a boolean to bigint: no cast)."""
    return ibis.ifelse(condition, 1, 0).sum()


def to_sql(ctx: Context, build: Callable[[], Mapping[str, ir.Expr]]) -> dict[str, str]:
    """For a result's ``sql()``: the SQL of the named expressions ``build()`` makes, built
    from the store's own tables (:meth:`Store.inline`), never from tables kept inside this
    process, which no one else can query. The SQL shows how every number is computed."""
    with ctx.store.inline():
        return {name: str(ibis.to_sql(expr)) for name, expr in build().items()}


def user_names(store: Store) -> pd.Series:
    """User names by ``user_id`` (made once per store; do not modify)."""
    return store.memo(("user names",), lambda: store.users.set_index("user_id")["name"])


def label_ids(store: Store, frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with readable names next to user and stage ids (from the small
    cached dimension tables): ``responsible`` / ``user`` / ``author`` and ``stage`` columns."""
    users = user_names(store)
    # Made once per store (a read-only snapshot): a desktop labels about 25 frames.
    stages = store.memo(
        ("stage names",), lambda: store.stages.set_index(["pipeline_id", "stage_id"])["name"]
    )
    out = frame.copy()
    for id_col, name_col in (
        ("responsible_user_id", "responsible"),
        ("user_id", "user"),
        ("created_by", "author"),
    ):
        if id_col in out and name_col not in out:
            names = out[id_col].map(users)
            if id_col == "created_by":
                names = names.where(out[id_col] != ROBOT, "robot")
            out.insert(out.columns.get_loc(id_col) + 1, name_col, names)
    for prefix in ("", "from_", "to_"):
        pcol, scol = f"{prefix}pipeline_id", f"{prefix}stage_id"
        if pcol in out and scol in out:
            keys = pd.MultiIndex.from_arrays([out[pcol], out[scol]])
            out[f"{prefix}stage"] = stages.reindex(keys).to_numpy()
    return out


def deal_ref(t: ir.Table) -> ir.IntegerValue:
    """``t.entity_id`` where the row is attached to a deal, else NULL.

    Join on ``deal_ref(t) == deals.deal_id`` rather than on ``entity_type == 'deal' AND
    entity_id == deal_id``: in a left or anti join that mixed condition makes DuckDB fall back
    to a nested-loop join (about 20 s instead of 50 ms for a month of events at 100k deals),
    while an equality on one expression stays a hash join on every backend.
    """
    return ibis.ifelse(t.entity_type == "deal", t.entity_id, ibis.null("int64"))


def in_spans(col: ir.TimestampValue, spans: list[Span]) -> ir.BooleanValue:
    """``col`` falls in one of the half-open ``spans`` (e.g. a period and its previous one)."""
    within = ibis.or_(*[(col >= s) & (col < e) for s, e in spans])
    if len(spans) == 1:
        return within
    # The spans' hull first: a plain range is pushed into the scan as a cheap table filter
    # (an OR of ranges is not, and cost DuckDB 4x more on the messages' 4M timestamps).
    lo, hi = min(s for s, _ in spans), max(e for _, e in spans)
    return (col >= lo) & (col < hi) & within


def span_rows(
    t: ir.Table,
    column: str,
    spans: Sequence[Span],
    each: Callable[[ir.Table], ir.Table] | None = None,
) -> ir.Table:
    """The rows of ``t`` whose ``column`` falls in one of the half-open ``spans``, each row
    once; ``each`` is applied to every part read separately, before the parts are put
    together.

    Use on a stored table, before any join. Spans far apart (such as the partial days at the
    edges of this year and the last) are read separately, each by its own range filter, which
    the engine pushes into its scan: one filter over their hull read every row group between
    them (a year of messages for two days: 7x slower at 1M deals). Spans close together (the
    stretch between them no longer than they are) are read in one pass over their hull, which
    costs less than a second pass and its joins.
    """
    runs: list[list[Span]] = []
    for start, end in sorted(s for s in spans if s[0] < s[1]):
        if runs:
            lo, hi = runs[-1][0][0], max(e for _, e in runs[-1])
            if start - hi <= (hi - lo) + (end - start):
                runs[-1].append((start, end))
                continue
        runs.append([(start, end)])
    col = t[column]
    parts = [t.filter(in_spans(col, run)) for run in runs]
    if not parts:  # no span: no row, the same columns
        parts = [t.filter(col.isnull() & col.notnull())]
    if each is not None:
        parts = [each(p) for p in parts]
    return ibis.union(*parts) if len(parts) > 1 else parts[0]
