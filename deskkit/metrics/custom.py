"""Custom widgets: a validated definition (``deskkit.metrics._custom_spec``) compiled to Ibis.

The value is computed at two moments, the period's start ``t0`` and the end of what has happened
of it ``t1 = min(end, now)``; ``change = value(t1) - value(t0)``. At a moment ``t`` an entity
matches when it existed (created before ``t``, never deleted), is in scope and visible to the
viewer, and every condition holds *as of t*:

- a deal's stage and pipeline at ``t`` come from ``deal_moves`` (the ``from`` of its first move at
  or after ``t``, else its current stage); a date of something that happened (created, updated,
  closed, completed, an event's time) counts only once it is before ``t``;
- a task is open at ``t`` when created before ``t`` and not completed before ``t``; its deadline
  at ``t`` comes from ``task_deadline_changes``; "has an open task" uses tasks open at ``t``;
- an event matches at ``t`` when created before ``t`` (so the change is the matching events
  created during the period);
- custom field values, tags, budget, responsible user and a customer's status have no history
  in the store: their current values stand for both moments.

A split by a multi-value field counts an entity under each of its values; the total, once.
Every number is aggregated in the engine; filter values are Ibis literals, never SQL text.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

import ibis
import pandas as pd

from deskkit.metrics._base import Context, label_ids, to_sql
from deskkit.metrics._custom_spec import (
    ENTITY_TYPE,
    NONE_KEY,
    Condition,
    CustomWidget,
    FieldSpec,
    catalog,
    owners_of_departments,
)
from deskkit.metrics._now import _in_stages
from deskkit.metrics.activity import _visible

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from deskkit.filters import Period

__all__ = ["CustomResult", "custom"]

#: The most rows a drill-down returns.
MAX_RECORDS = 500
_TRUE_TEXT = ["1", "true", "True", "TRUE", "yes", "Y", "y"]

_ID = {
    "deals": "deal_id",
    "contacts": "id",
    "companies": "id",
    "customers": "customer_id",
    "tasks": "task_id",
    "events": "event_id",
}
_OWNER = {"events": "created_by"}
#: Columns holding the time something happened (as opposed to a planned date).
_HAPPENED = frozenset({"created_at", "updated_at", "closed_at", "completed_at"})
_NOUN = {
    "deals": "Deals",
    "contacts": "Contacts",
    "companies": "Companies",
    "customers": "Customers",
    "tasks": "Tasks",
    "events": "Events",
}
_RECORD_COLUMNS = {
    "deals": [
        "deal_id",
        "name",
        "pipeline_id",
        "stage_id",
        "price",
        "responsible_user_id",
        "created_at",
        "closed_at",
    ],
    "contacts": ["id", "name", "responsible_user_id", "created_at", "updated_at"],
    "companies": ["id", "name", "responsible_user_id", "created_at", "updated_at"],
    "customers": [
        "customer_id",
        "name",
        "status_id",
        "next_price",
        "next_date",
        "responsible_user_id",
        "created_at",
    ],
    "tasks": [
        "task_id",
        "task_type",
        "text",
        "entity_type",
        "entity_id",
        "responsible_user_id",
        "created_at",
        "deadline",
        "is_completed",
        "completed_at",
    ],
    "events": ["event_id", "type", "entity_type", "entity_id", "created_by", "created_at"],
}


# The plan: one definition, filters and moments -------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """A validated definition with its request: builds the matching rows at a moment."""

    ctx: Context
    definition: CustomWidget
    specs: dict[str, FieldSpec]
    pipeline: int | None

    @property
    def entity(self) -> str:
        return self.definition.entity

    @property
    def et(self) -> str:
        return ENTITY_TYPE[self.entity]

    @property
    def id_col(self) -> str:
        return _ID[self.entity]

    @property
    def owner_col(self) -> str:
        return _OWNER.get(self.entity, "responsible_user_id")

    # Local days -> naive UTC instants.
    def _midnight(self, day: _dt.date) -> _dt.datetime:
        tz = ZoneInfo(self.ctx.store.account.timezone or "UTC")
        local = _dt.datetime.combine(day, _dt.time(), tzinfo=tz)
        return local.astimezone(_dt.UTC).replace(tzinfo=None)

    def _local_day(self, t: _dt.datetime) -> _dt.date:
        tz = ZoneInfo(self.ctx.store.account.timezone or "UTC")
        return t.replace(tzinfo=_dt.UTC).astimezone(tz).date()

    # Base rows ----------------------------------------------------------------------------------

    def base(self) -> ir.Table:
        """The entity's live rows in scope and visible to the viewer (any moment)."""
        ctx, e = self.ctx, self.entity
        if e == "deals":
            return ctx.deals()
        t = ctx.table(e)
        if e == "events":
            t = _visible(ctx, ctx.live(t)).select(*t.columns)
            return t.filter(ctx.by_owner(t.created_by))
        if e == "tasks":
            t = ctx.live(t)
            return t.filter(ctx.by_owner(t.responsible_user_id))
        return t.filter(~t.is_deleted.fill_null(False), ctx.by_owner(t.responsible_user_id))

    def state(self, t: _dt.datetime) -> ir.Table:
        """Rows existing at ``t`` with their as-of-``t`` columns (``_id``, deals' ``pipeline_id``
        and ``stage_id``, tasks' ``deadline`` and ``_done``)."""
        ctx = self.ctx
        b = self.base()
        b = b.filter(b.created_at.isnull() | (b.created_at < t))
        if self.entity == "deals":
            m = ctx.table("deal_moves")
            later = m.filter(m.at >= t)
            first = later.group_by("deal_id").aggregate(
                _p=later.from_pipeline_id.argmin(later.at), _s=later.from_stage_id.argmin(later.at)
            )
            j = b.left_join(first, b.deal_id == first.deal_id)
            # Closed after t: still open at t (a reopened deal keeps its last closing time).
            closed = ibis.ifelse(j.closed_at < t, j.closed_at, ibis.null("timestamp"))
            b = j.mutate(
                pipeline_id=j._p.coalesce(j.pipeline_id),
                stage_id=j._s.coalesce(j.stage_id),
                closed_at=closed,
            )
            b = b.select(*ctx.table("deals").columns)
        elif self.entity == "tasks":
            ch = ctx.table("task_deadline_changes")
            later = ch.filter(ch.at >= t)
            first = later.group_by("task_id").aggregate(_old=later.old_deadline.argmin(later.at))
            j = b.left_join(first, b.task_id == first.task_id)
            done = j.is_completed.fill_null(False) & ~(j.completed_at >= t).fill_null(False)
            completed = ibis.ifelse(j.completed_at < t, j.completed_at, ibis.null("timestamp"))
            b = j.mutate(
                deadline=j._old.coalesce(j.deadline),
                is_completed=done,
                completed_at=completed,
                _done=done,
            )
            b = b.select(*ctx.table("tasks").columns, "_done")
        return b.mutate(_id=b[self.id_col])

    def matching(self, t: _dt.datetime) -> ir.Table:
        """Rows matching the definition at ``t`` (the deal pipeline filter included)."""
        s = self.state(t)
        conds = [self.condition(s, c, t) for c in self.definition.conditions]
        if self.pipeline is not None and self.entity == "deals":
            conds.append(s.pipeline_id == self.pipeline)
        return s.filter(*[c.fill_null(False) for c in conds]) if conds else s

    # Conditions ---------------------------------------------------------------------------------

    def _ids(self, table: str, *conds: ir.BooleanValue) -> ir.IntegerColumn:
        """Entity ids of attached rows (tags, custom values, tasks) satisfying ``conds``."""
        t = self.ctx.table(table)
        return t.filter(t.entity_type == self.et, t.entity_id.notnull(), *conds).entity_id

    def _cf(self, spec: FieldSpec, *conds: Any) -> ir.IntegerColumn:
        cv = self.ctx.table("custom_values")
        built = [c(cv) for c in conds]
        return self._ids("custom_values", cv.field_id == spec.field_id, *built)

    def condition(self, s: ir.Table, c: Condition, t: _dt.datetime) -> ir.BooleanValue:
        spec = self.specs[c.field]
        op, v = c.op, c.value
        key = s._id
        if spec.field_id is not None:
            return self._cf_condition(s, spec, op, v, t)
        if spec.name == "tag":
            tags = self.ctx.table("tags")
            return _set_op(
                key, op, v, lambda vals: self._ids("tags", tags.tag.isin(vals)), self._ids("tags")
            )
        if spec.name == "has_open_task":
            tk = self.ctx.table("tasks")
            open_t = ~tk.is_completed.fill_null(False) | (tk.completed_at >= t).fill_null(False)
            having = key.isin(self._ids("tasks", tk.created_at < t, open_t))
            return having if v else ~having
        if spec.type == "department":
            owners = owners_of_departments(self.ctx.store, _values(op, v))
            hit = s[self.owner_col].isin(owners)
            return hit if op in ("eq", "in") else ~hit.fill_null(False)
        if spec.type in ("stage", "stage_kind"):
            pairs = _values(op, v)
            if spec.type == "stage_kind":
                st = self.ctx.store.stages
                pairs = [
                    (int(r.pipeline_id), int(r.stage_id))
                    for r in st.loc[st["kind"].isin(list(pairs))].itertuples()
                ]
            hit = _in_stages(s.pipeline_id, s.stage_id, pairs)
            return hit if op in ("eq", "in") else ~hit.fill_null(False)
        if spec.type == "pipeline":
            hit = s.pipeline_id.isin(_values(op, v))
            return hit if op in ("eq", "in") else ~hit.fill_null(False)
        if spec.name == "is_completed":
            return s._done if v else ~s._done
        col = s[spec.column]
        if op == "overdue":  # the task's deadline at t has passed and it is still open at t
            return (col < t) & ~s._done
        if spec.type in ("date", "deadline"):
            return self._date(col, op, v, t, spec)
        return _scalar(col, op, v, text=spec.type == "text")

    def _date(
        self, col: ir.TimestampValue, op: str, v: Any, t: _dt.datetime, spec: FieldSpec
    ) -> ir.BooleanValue:
        """A date condition at ``t``: a past event's date counts once it is before ``t``."""
        ctx = self.ctx
        # The time something happened (created, updated, closed, completed) is not known
        # before it: at t only such times before t count.
        happened = spec.column in _HAPPENED
        known = (col < t) if happened else ibis.literal(True)
        if op == "is_set":
            return col.notnull() & known
        if op == "is_not_set":
            return ~(col.notnull() & known).fill_null(False)
        if op == "in_period":
            cond = (col >= ctx.t0) & (col < ctx.period.end_utc)
        elif op == "before_period":
            cond = col < ctx.t0
        elif op == "last_days":
            cond = (col >= t - _dt.timedelta(days=int(v))) & (col < t)
        else:
            cond = _date_compare(col, op, v, self._midnight)
        return cond & known

    def _cf_condition(
        self, s: ir.Table, spec: FieldSpec, op: str, v: Any, t: _dt.datetime
    ) -> ir.BooleanValue:
        key = s._id
        anyv = self._cf(spec)
        if op == "is_set":
            return key.isin(anyv)
        if op == "is_not_set":
            return ~key.isin(anyv)
        ty = spec.type
        if ty in ("select", "radiobutton", "multiselect"):
            return _set_op(
                key,
                op,
                v,
                lambda vals: self._cf(spec, lambda cv: cv.enum_id.isin(list(vals))),
                anyv,
            )
        if ty == "bool":
            yes = key.isin(self._cf(spec, lambda cv: cv.value.isin(_TRUE_TEXT)))
            return yes if v else ~yes
        negative = op in ("ne", "not_in")
        pos = {"ne": "eq", "not_in": "in"}.get(op, op)
        if ty == "number":
            pred = lambda cv: _scalar(cv.value.try_cast("float64"), pos, v)  # noqa: E731
        elif ty == "text":
            pred = lambda cv: _scalar(cv.value, pos, v, text=True)  # noqa: E731
        else:  # date: the stored text is a local day (YYYY-MM-DD), compared as a date
            pred = lambda cv: self._cf_date(cv.value.substr(0, 10).try_cast("date"), pos, v, t)  # noqa: E731
        hit = key.isin(self._cf(spec, pred))
        return ~hit if negative else hit

    def _cf_date(self, d: ir.DateValue, op: str, v: Any, t: _dt.datetime) -> ir.BooleanValue:
        period = self.ctx.period
        today = self._local_day(t)
        if op == "in_period":
            return (d >= period.first_day) & (d <= period.last_day)
        if op == "before_period":
            return d < period.first_day
        if op == "last_days":
            return (d > today - _dt.timedelta(days=int(v))) & (d <= today)
        days = [_dt.date.fromisoformat(x) for x in (v if isinstance(v, tuple) else (v,))]
        if op == "between":
            return (d >= days[0]) & (d <= days[1])
        day = days[0]
        return {"eq": d == day, "gt": d > day, "ge": d >= day, "lt": d < day, "le": d <= day}[op]

    # Measure and split --------------------------------------------------------------------------

    def measured(self, t: _dt.datetime) -> ir.Table:
        """Matching rows at ``t`` as ``_id``, ``_m`` (the measure) and the split key columns."""
        m = self.matching(t)
        d = self.definition.display
        cols: dict[str, Any] = {"_id": m._id}
        if d.field is None:
            cols["_m"] = ibis.literal(1.0)
        elif (spec := self.specs[d.field]).field_id is not None:
            cv = self.ctx.table("custom_values")
            nums = cv.filter(cv.entity_type == self.et, cv.field_id == spec.field_id)
            nums = nums.group_by(_eid=nums.entity_id).aggregate(
                _num=nums.value.try_cast("float64").max()
            )
            m = m.left_join(nums, m._id == nums._eid)
            cols = {"_id": m._id, "_m": m._num}
        else:
            cols["_m"] = m[spec.column].cast("float64")
        split = self.specs.get(d.split_by) if d.split_by else None
        if split is not None and split.field_id is None:
            if split.type == "stage":
                cols["kp_"], cols["ks_"] = m.pipeline_id, m.stage_id
            elif split.type == "department":
                users = self.ctx.store.users
                mapping = {
                    int(u): int(g)
                    for u, g in zip(users.user_id, users.group_id, strict=True)
                    if pd.notna(g)
                }
                none = ibis.null("int64")
                owner = m[self.owner_col]
                cols["key_"] = owner.substitute(mapping, else_=none) if mapping else none
            else:
                cols["key_"] = m[split.column]
        return m.select(**cols)

    def both(self) -> ir.Table:
        """Matching rows at both moments with ``moment_`` = 1 (now) or 0 (start)."""
        now = self.measured(self.ctx.t1).mutate(moment_=ibis.literal(1))
        start = self.measured(self.ctx.t0).mutate(moment_=ibis.literal(0))
        return now.union(start)

    def totals(self) -> ir.Table:
        b = self.both()
        return b.group_by("moment_").aggregate(**self._agg(b))

    def _agg(self, b: ir.Table) -> dict[str, Any]:
        measure = self.definition.display.measure
        if measure == "count":
            return {"value": b._id.nunique()}
        if measure == "sum":
            return {"value": b._m.sum()}
        return {"value": b._m.mean()}

    def split_query(self) -> ir.Table:
        split = self.specs[self.definition.display.split_by]
        b = self.both()
        if split.field_id is not None:
            cv = self.ctx.table("custom_values")
            vals = cv.filter(cv.entity_type == self.et, cv.field_id == split.field_id)
            vals = vals.select(_eid=vals.entity_id, key_=vals.enum_id).distinct()
            b = b.left_join(vals, b._id == vals._eid).drop("_eid")
            return b.group_by("moment_", "key_").aggregate(**self._agg(b))
        keys = ["kp_", "ks_"] if split.type == "stage" else ["key_"]
        return b.group_by("moment_", *keys).aggregate(**self._agg(b))


def _values(op: str, v: Any) -> list[Any]:
    """The list of values of a condition (one for ``eq``/``ne``, several for ``in``…)."""
    return list(v) if op in ("in", "not_in", "contains") else [v]


def _scalar(col: ir.Value, op: str, v: Any, *, text: bool = False) -> ir.BooleanValue:
    """A comparison of a plain column with literal value(s)."""
    if op == "eq":
        return col == v
    if op == "ne":
        return ~(col == v).fill_null(False)
    if op == "in":
        return col.isin(list(v))
    if op == "not_in":
        return ~col.isin(list(v)).fill_null(False)
    if op == "between":
        return (col >= v[0]) & (col <= v[1])
    if op == "contains":
        return col.lower().contains(str(v).lower())
    if op == "is_set":
        return (col.notnull() & (col != "")) if text else col.notnull()
    if op == "is_not_set":
        return ~((col.notnull() & (col != "")) if text else col.notnull()).fill_null(False)
    return {"gt": col > v, "ge": col >= v, "lt": col < v, "le": col <= v}[op]


def _date_compare(col: ir.TimestampValue, op: str, v: Any, midnight: Any) -> ir.BooleanValue:
    """Timestamp ``col`` against local days (ISO text): ``between`` includes both days."""
    days = [_dt.date.fromisoformat(x) for x in (v if isinstance(v, tuple) else (v,))]
    one = _dt.timedelta(days=1)
    if op == "between":
        return (col >= midnight(days[0])) & (col < midnight(days[1] + one))
    day = days[0]
    if op == "eq":
        return (col >= midnight(day)) & (col < midnight(day + one))
    return {
        "gt": col >= midnight(day + one),
        "ge": col >= midnight(day),
        "lt": col < midnight(day),
        "le": col < midnight(day + one),
    }[op]


def _set_op(
    key: ir.IntegerValue, op: str, v: Any, having: Any, any_value: ir.IntegerColumn
) -> ir.BooleanValue:
    """Conditions on a many-valued attribute (tags, multiselect): ``in`` = has any of the
    values, ``not_in`` = has none, ``contains`` = has all, ``eq``/``ne`` = has / lacks one."""
    vals = v if isinstance(v, tuple) else (v,)
    if op in ("in", "eq"):
        return key.isin(having(vals))
    if op in ("not_in", "ne"):
        return ~key.isin(having(vals))
    if op == "contains":
        return ibis.and_(*[key.isin(having((x,))) for x in vals])
    if op == "is_set":
        return key.isin(any_value)
    return ~key.isin(any_value)


# The result ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomResult:
    """A custom widget computed for one request.

    ``value`` is the number at the end of what has happened of the period (``min(end, now)``),
    ``value_at_start`` the same filter at the period's start, ``change`` their difference
    (negative when fewer entities match now). ``split`` (for a split display) has one row per
    value of the split field: ``key``, ``label``, ``value``, ``value_at_start``, ``change``;
    entities with no value are in the ``"(none)"`` row.
    """

    definition: CustomWidget
    period: Period
    value: float | int
    value_at_start: float | int
    change: float | int
    split: pd.DataFrame | None
    definition_text: str
    _plan: _Plan = field(repr=False, compare=False)

    def rule(self, lang: str = "en") -> str:
        """The rule text in ``lang``: English (``definition_text``) or Russian (``"ru"``)."""
        if not _is_ru(lang):
            return self.definition_text
        plan = self._plan
        return describe(
            self.definition, plan.specs, pipeline=plan.pipeline, store=plan.ctx.store, lang="ru"
        )

    @property
    def title(self) -> str:
        return self.definition.label("en")

    @property
    def entity(self) -> str:
        return self.definition.entity

    def _moment(self, at: Literal["now", "start"]) -> _dt.datetime:
        if at not in ("now", "start"):
            raise ValueError(f"at must be 'now' or 'start', not {at!r}")
        return self._plan.ctx.t1 if at == "now" else self._plan.ctx.t0

    def _rows(self, table: ir.Table, limit: int) -> pd.DataFrame:
        plan = self._plan
        cols = _RECORD_COLUMNS[plan.entity]
        limit = max(0, min(int(limit), MAX_RECORDS))
        q = table.select(*cols).order_by([ibis.desc("created_at"), ibis.desc(plan.id_col)])
        frame = label_ids(plan.ctx.store, q.limit(limit).to_pandas())
        if "pipeline_id" in frame:
            names = plan.ctx.store.pipelines.set_index("pipeline_id")["name"]
            at = frame.columns.get_loc("pipeline_id") + 1
            frame.insert(at, "pipeline", frame.pipeline_id.map(names))
        return frame

    def records(
        self,
        *,
        key: Any = None,
        at: Literal["now", "start"] = "now",
        limit: int = MAX_RECORDS,
    ) -> pd.DataFrame:
        """The matching entities (newest first, at most ``limit``, ≤ 500) at ``at``; with
        ``key``, only those under that split value (``"(none)"``: those with no value)."""
        plan = self._plan
        m = plan.matching(self._moment(at))
        if key is not None:
            m = self._under(m, key)
        return self._rows(m, limit)

    def _under(self, m: ir.Table, key: Any) -> ir.Table:
        plan = self._plan
        split = plan.specs.get(plan.definition.display.split_by or "")
        if split is None:
            raise ValueError("this widget has no split; records(key=…) needs a split display")
        if split.field_id is not None:
            cv = plan.ctx.table("custom_values")
            vals = cv.filter(cv.entity_type == plan.et, cv.field_id == split.field_id)
            if key == NONE_KEY:
                return m.filter(~m._id.isin(vals.entity_id))
            return m.filter(m._id.isin(vals.filter(vals.enum_id == int(key)).entity_id))
        if split.type == "stage":
            p, s = key
            return m.filter(m.pipeline_id == int(p), m.stage_id == int(s))
        if split.type == "department":
            users = plan.ctx.store.users
            if key == NONE_KEY:
                known = [int(u) for u in users.loc[users.group_id.notna(), "user_id"]]
                return m.filter(~m[plan.owner_col].isin(known).fill_null(False))
            return m.filter(m[plan.owner_col].isin(owners_of_departments(plan.ctx.store, [key])))
        col = m[split.column]
        return m.filter(col.isnull()) if key == NONE_KEY else m.filter(col == key)

    def entered(self, limit: int = MAX_RECORDS) -> pd.DataFrame:
        """Entities matching now that did not match at the period's start."""
        plan = self._plan
        now, start = plan.matching(plan.ctx.t1), plan.matching(plan.ctx.t0)
        old = start.select(_sid="_id")
        return self._rows(now.anti_join(old, now._id == old._sid), limit)

    def left(self, limit: int = MAX_RECORDS) -> pd.DataFrame:
        """Entities that matched at the period's start and do not match now (the columns show
        them as they were at the start)."""
        plan = self._plan
        now, start = plan.matching(plan.ctx.t1), plan.matching(plan.ctx.t0)
        new = now.select(_nid="_id")
        return self._rows(start.anti_join(new, start._id == new._nid), limit)

    def sql(self) -> dict[str, str]:
        """The SQL the engine runs for the numbers (compiled by Ibis)."""

        def queries() -> dict[str, Any]:
            out: dict[str, Any] = {"value": self._plan.totals()}
            if self.split is not None:
                out["split"] = self._plan.split_query()
            return out

        return to_sql(self._plan.ctx, queries)

    def table(self) -> pd.DataFrame:
        """The numbers as a small table (the split, or one row)."""
        if self.split is not None:
            return self.split
        return pd.DataFrame(
            [
                {
                    "key": None,
                    "label": self.title,
                    "value": self.value,
                    "value_at_start": self.value_at_start,
                    "change": self.change,
                }
            ]
        )


def _number(value: Any, measure: str) -> float | int:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return 0 if measure != "mean" else float("nan")
    return int(value) if measure == "count" else float(value)


def custom(
    ctx: Context, definition: CustomWidget, pipeline: int | str | None = None
) -> CustomResult:
    """Compute a *validated* definition (see ``_custom_spec.validate``) for ``ctx``.

    ``pipeline`` (id or name) restricts deals to those in that pipeline at each moment; other
    entities ignore it.
    """
    specs = catalog(ctx.store, definition.entity)
    pipe_id = _pipeline_id(ctx, pipeline) if definition.entity == "deals" else None
    plan = _Plan(ctx, definition, specs, pipe_id)
    measure = definition.display.measure
    tot = plan.totals().to_pandas()
    by_at = {int(r.moment_): r.value for r in tot.itertuples()}
    value = _number(by_at.get(1), measure)
    start = _number(by_at.get(0), measure)
    split = (
        _split_frame(plan, plan.split_query().to_pandas()) if definition.display.split_by else None
    )
    return CustomResult(
        definition=definition,
        period=ctx.period,
        value=value,
        value_at_start=start,
        change=value - start,
        split=split,
        definition_text=describe(definition, specs, pipeline=pipe_id, store=ctx.store),
        _plan=plan,
    )


def _pipeline_id(ctx: Context, pipeline: int | str | None) -> int | None:
    if pipeline is None:
        return None
    from deskkit.metrics.pipeline_flow import PipelineLine

    return PipelineLine.of(ctx.store, pipeline).pipeline_id


def _split_frame(plan: _Plan, rows: pd.DataFrame) -> pd.DataFrame:
    """One row per split value in the field's order (zeros included), then unknown values,
    then ``(none)`` when any entity has no value."""
    spec = plan.specs[plan.definition.display.split_by]
    measure = plan.definition.display.measure
    if spec.type == "stage":
        rows = (
            rows.assign(key_=list(zip(rows.kp_, rows.ks_, strict=True)))
            if len(rows)
            else (rows.assign(key_=pd.Series(dtype=object)))
        )
        choices = list(spec.choices or ())
        if plan.pipeline is not None:
            choices = [(k, lab) for k, lab in choices if k[0] == plan.pipeline]
    else:
        choices = list(spec.choices or ())
    values: dict[tuple[int, Any], Any] = {}
    for r in rows.itertuples():
        k = (
            NONE_KEY
            if r.key_ is None or (not isinstance(r.key_, tuple) and pd.isna(r.key_))
            else r.key_
        )
        if isinstance(k, float):
            k = int(k)
        elif hasattr(k, "item"):
            k = k.item()
        values[(int(r.moment_), k)] = r.value
    keys = [k for k, _ in choices]
    labels = dict(choices)
    seen = {k for _, k in values}
    extra = [k for k in seen if k not in labels and k != NONE_KEY]
    out = []
    for k in [*keys, *sorted(extra, key=str), NONE_KEY]:
        if k == NONE_KEY and k not in seen:
            continue
        now = _number(values.get((1, k)), measure)
        start = _number(values.get((0, k)), measure)
        label = labels.get(k, str(k) if k != NONE_KEY else NONE_KEY)
        out.append(
            {"key": k, "label": label, "value": now, "value_at_start": start, "change": now - start}
        )
    return pd.DataFrame(out, columns=["key", "label", "value", "value_at_start", "change"])


# The rule text -----------------------------------------------------------------------------------

_OP_TEXT = {
    "eq": "is",
    "ne": "is not",
    "in": "is one of",
    "not_in": "is none of",
    "gt": "is greater than",
    "ge": "is at least",
    "lt": "is less than",
    "le": "is at most",
    "between": "is between",
    "contains": "contains",
}


def _value_text(spec: FieldSpec, op: str, v: Any) -> str:
    labels = dict(spec.choices or ())
    vals = _values(op, v) if op != "between" else list(v)
    shown = [labels.get(x, x) for x in vals]
    if op == "between":
        return f"{shown[0]} and {shown[1]}"
    return ", ".join(str(x) for x in shown)


def _condition_text(spec: FieldSpec, c: Condition) -> str:
    op, v, name = c.op, c.value, spec.label
    if spec.name == "has_open_task":
        return "that have an open task" if v else "that have no open task"
    if spec.type == "bool":
        return f"whose {name} is {'set' if v else 'not set'}"
    if op == "is_set":
        return f"whose {name} is set"
    if op == "is_not_set":
        return f"whose {name} is empty"
    if op == "in_period":
        return f"whose {name} date falls in the period"
    if op == "before_period":
        return f"whose {name} date is before the period"
    if op == "last_days":
        return f"whose {name} date is within the last {v} days"
    if op == "overdue":
        return "that are overdue (deadline passed, not completed)"
    if spec.type in ("multiselect", "tag"):
        many = {
            "in": "has any of",
            "not_in": "has none of",
            "contains": "has all of",
            "eq": "has",
            "ne": "does not have",
        }[op]
        return f"whose {name} {many} {_value_text(spec, op, v)}"
    return f"whose {name} {_OP_TEXT.get(op, op)} {_value_text(spec, op, v)}"


def describe(
    definition: CustomWidget,
    specs: dict[str, FieldSpec],
    *,
    pipeline: int | None = None,
    store: Any = None,
    lang: str = "en",
) -> str:
    """A plain-language paragraph of what the widget counts (the card's rule text): English,
    or Russian for ``lang="ru"`` (custom field names and values stay as the account has them)."""
    if _is_ru(lang):
        return _describe_ru(definition, specs, pipeline=pipeline, store=store)
    e = definition.entity
    noun = _NOUN[e]
    who = "by author" if e == "events" else "by responsible user"
    parts = [f"{noun} (not deleted, in the selected scope {who})"]
    conds = [_condition_text(specs[c.field], c) for c in definition.conditions]
    if conds:
        parts.append(", ".join(conds))
    if pipeline is not None and e == "deals":
        name = pipeline
        if store is not None:
            pipes = store.pipelines.set_index("pipeline_id")["name"]
            name = pipes.get(pipeline, pipeline)
        parts.append(f"in the pipeline {name}")
    d = definition.display
    if d.measure == "count":
        what = "counted once each"
    else:
        what = f"{'summing' if d.measure == 'sum' else 'averaging'} {specs[d.field].label}"
    text = " ".join(parts[:1]) + (" " + "; ".join(parts[1:]) if len(parts) > 1 else "")
    text += f", {what}"
    if d.split_by:
        split = specs[d.split_by]
        text += f", split by {split.label}"
        if split.type == "multiselect":
            text += " (an entity with several values counts once under each)"
    text += (
        ". The value is taken at the end of the period (or now, if sooner); the change is that "
        "value minus the value at the start of the period."
    )
    history = [specs[c.field].label for c in definition.conditions if specs[c.field].history]
    current = [specs[c.field].label for c in definition.conditions if not specs[c.field].history]
    if e == "events":
        text += " An event counts from the moment it was created."
    if history:
        text += f" {', '.join(dict.fromkeys(history))}: evaluated as of each moment from history."
    if current:
        text += (
            f" {', '.join(dict.fromkeys(current))}: the store keeps no history, so the current "
            "value is used at both moments."
        )
    return text


# The rule text in Russian -----------------------------------------------------------------------


def _is_ru(lang: str) -> bool:
    """Whether ``lang`` (a language or locale name: ``"ru"``, ``"ru_RU"``) is Russian."""
    return str(lang).replace("-", "_").split("_")[0].lower() == "ru"


_NOUN_RU = {
    "deals": "Сделки",
    "contacts": "Контакты",
    "companies": "Компании",
    "customers": "Покупатели",
    "tasks": "Задачи",
    "events": "События",
}
_OP_TEXT_RU = {
    "eq": "равно",
    "ne": "не равно",
    "in": "принимает одно из значений:",
    "not_in": "не принимает ни одного из значений:",
    "gt": "больше",
    "ge": "не меньше",
    "lt": "меньше",
    "le": "не больше",
    "contains": "содержит",
}
#: Date comparisons: "поле «Срок» позже 2026-11-05".
_DATE_OP_RU = {"gt": "позже", "ge": "не раньше", "lt": "раньше", "le": "не позже"}
#: Multiselect conditions: "в поле «X» {text} A, B".
_MANY_RU = {
    "in": "выбрано любое из значений:",
    "not_in": "не выбрано ни одно из значений:",
    "contains": "выбраны все значения:",
    "eq": "выбрано значение",
    "ne": "не выбрано значение",
}
#: Tag conditions: "у которых {text} vip, urgent".
_TAGS_RU = {
    "in": "есть любой из тегов:",
    "not_in": "нет ни одного из тегов:",
    "contains": "есть все теги:",
    "eq": "есть тег",
    "ne": "нет тега",
}
#: Built-in values with English names: stage kinds, the robot author, attached entity types.
_VALUE_RU = {
    "stage_kind": {
        "unsorted": "Неразобранное",
        "open": "в работе",
        "won": "Успешно реализовано",
        "lost": "Закрыто и не реализовано",
    },
    "author": {0: "робот"},
    "entity_type": {
        "deal": "сделка",
        "lead": "сделка",
        "contact": "контакт",
        "company": "компания",
        "customer": "покупатель",
        "task": "задача",
    },
}


def _q(name: str) -> str:
    """A field name in Russian quotes (a name from the account cannot be declined)."""
    return f"«{name}»"


def _days_ru(n: Any) -> str:
    """ "последние 7 дней", "последние 2 дня", "последний день"."""
    k = int(n)
    if k == 1:
        return "последний день"
    if k % 10 == 1 and k % 100 != 11:
        word = "день"
    elif k % 10 in (2, 3, 4) and k % 100 not in (12, 13, 14):
        word = "дня"
    else:
        word = "дней"
    return f"последние {k} {word}"


def _value_text_ru(spec: FieldSpec, op: str, v: Any) -> str:
    labels = dict(spec.choices or ())
    if spec.field_id is None:
        labels.update(_VALUE_RU.get(spec.name, {}))
    vals = _values(op, v) if op != "between" else list(v)
    shown = [labels.get(x, x) for x in vals]
    if op == "between":
        return f"от {shown[0]} до {shown[1]}"
    return ", ".join(str(x) for x in shown)


def _condition_text_ru(spec: FieldSpec, c: Condition) -> str:
    op, v, name = c.op, c.value, _q(spec.label_in("ru"))
    if spec.name == "has_open_task":
        return "у которых есть открытая задача" if v else "у которых нет открытой задачи"
    if spec.name == "is_completed" and spec.field_id is None:
        return "которые выполнены" if v else "которые не выполнены"
    if spec.type == "bool":
        return f"у которых {'отмечено' if v else 'не отмечено'} поле {name}"
    if spec.name == "tag" and spec.field_id is None and op in _TAGS_RU:
        return f"у которых {_TAGS_RU[op]} {_value_text_ru(spec, op, v)}"
    if op == "is_set":
        return f"у которых заполнено поле {name}" if spec.type != "tag" else "у которых есть теги"
    if op == "is_not_set":
        return f"у которых пусто поле {name}" if spec.type != "tag" else "у которых нет тегов"
    if op == "in_period":
        return f"у которых поле {name} попадает в период"
    if op == "before_period":
        return f"у которых поле {name} раньше начала периода"
    if op == "last_days":
        return f"у которых поле {name} попадает в {_days_ru(v)}"
    if op == "overdue":
        return "которые просрочены (срок прошёл, задача не выполнена)"
    if spec.type in ("multiselect", "tag") and op in _MANY_RU:
        return f"у которых в поле {name} {_MANY_RU[op]} {_value_text_ru(spec, op, v)}"
    if op == "between":
        return f"у которых поле {name} в диапазоне {_value_text_ru(spec, op, v)}"
    ops = {**_OP_TEXT_RU, **_DATE_OP_RU} if spec.type in ("date", "deadline") else _OP_TEXT_RU
    return f"у которых поле {name} {ops.get(op, op)} {_value_text_ru(spec, op, v)}"


def _fields_ru(names: list[str]) -> str:
    """ "поля «A»" or "полей «A», «B»" (after "для")."""
    unique = list(dict.fromkeys(names))
    word = "поля" if len(unique) == 1 else "полей"
    return f"{word} {', '.join(_q(n) for n in unique)}"


def _describe_ru(
    definition: CustomWidget,
    specs: dict[str, FieldSpec],
    *,
    pipeline: int | None = None,
    store: Any = None,
) -> str:
    """The Russian counterpart of :func:`describe`."""
    e = definition.entity
    who = "автор" if e == "events" else "ответственный"
    text = f"{_NOUN_RU[e]} (не удалённые; {who} входит в выбранный фильтр «Ответственный»)"
    conds = [_condition_text_ru(specs[c.field], c) for c in definition.conditions]
    if conds:
        text += ", " + " и ".join(conds)
    if pipeline is not None and e == "deals":
        name = pipeline
        if store is not None:
            pipes = store.pipelines.set_index("pipeline_id")["name"]
            name = pipes.get(pipeline, pipeline)
        text += ("; " if conds else ", ") + f"в воронке {_q(str(name))}"
    d = definition.display
    if d.measure == "count":
        what = "каждая запись считается один раз"
    else:
        total = "сумма" if d.measure == "sum" else "среднее"
        what = f"считается {total} поля {_q(specs[d.field].label_in('ru'))}"
    text += f"; {what}"
    if d.split_by:
        split = specs[d.split_by]
        text += f", с разбивкой по полю {_q(split.label_in('ru'))}"
        if split.type == "multiselect":
            text += " (запись с несколькими значениями учитывается один раз под каждым из них)"
    text += (
        ". Значение берётся на конец периода (или на текущий момент, если он раньше); "
        "изменение — это значение минус значение на начало периода."
    )
    labels = [
        (specs[c.field].label_in("ru"), specs[c.field].history) for c in definition.conditions
    ]
    history = [name for name, kept in labels if kept]
    current = [name for name, kept in labels if not kept]
    if e == "events":
        text += " Событие учитывается с момента своего создания."
    if history:
        text += f" Для {_fields_ru(history)} значение берётся на каждый момент по истории."
    if current:
        text += (
            f" Для {_fields_ru(current)} история не хранится, поэтому на оба момента берётся "
            "текущее значение."
        )
    return text
