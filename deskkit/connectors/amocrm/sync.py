"""Sync an amoCRM / Kommo account into a deskkit DuckDB store: a full load first, then only
what changed; resumable after a kill at any moment; published atomically.

>>> from deskkit.connectors.amocrm import AmoClient, LongLivedToken
>>> from deskkit.connectors.amocrm.sync import sync
>>> client = AmoClient.for_account("mycompany", LongLivedToken.from_env_or_file())  # doctest: +SKIP
>>> report = sync("crm.duckdb", client)                                           # doctest: +SKIP
>>> deskkit.open("crm.duckdb")                                                     # doctest: +SKIP

One run:

1. **Reference data** (account, users, groups, pipelines and stages, custom fields, loss
   reasons, sources) is fetched whole and replaces the stored tables.
2. **Entity lists** (leads, contacts, companies, customers, each also ``with=only_deleted``;
   tasks; notes of each entity) are read for ``updated_at`` in [watermark − overlap, run start]
   and upserted by id (``paging.py`` explains why by timestamp, not by page offset).
3. **Events** are read for ``created_at`` in [watermark − overlap, run start], newest first,
   and stored once per event id with the rows derived from them (``mapping_events.py``).
4. Entities named by deletion events but not yet stored as deleted are fetched by id from
   their ``with=only_deleted`` list (a deletion need not change ``updated_at``).
5. Columns that need several streams are recomputed (``derive.py``), each stream's watermark
   moves to the newest timestamp it read, and the snapshot is published (``snapshot.py``).

The run start is fixed when a run begins and kept in the snapshot, so a resumed run reads the
same windows; every page commits together with its cursor (``writer.py``).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tqdm.auto import tqdm

from deskkit.connectors.amocrm._parse import ts_from_unix
from deskkit.connectors.amocrm.client import AmoClient, chunked
from deskkit.connectors.amocrm.derive import derive
from deskkit.connectors.amocrm.errors import AmoError, BadRequest, Forbidden, NotFound, scrub
from deskkit.connectors.amocrm.mapping import (
    Batch,
    MapContext,
    map_entities,
    map_notes,
    map_tasks,
)
from deskkit.connectors.amocrm.mapping_events import DELETION_EVENTS, map_events
from deskkit.connectors.amocrm.mapping_reference import (
    Reference,
    add_account,
    add_custom_fields,
    add_named,
    add_pipelines,
    add_users,
)
from deskkit.connectors.amocrm.paging import (
    ENTITY_LIMIT,
    EVENT_LIMIT,
    Cursor,
    page_items,
    read_window,
)
from deskkit.connectors.amocrm.snapshot import Layout, SnapshotError
from deskkit.connectors.amocrm.writer import Writer

__all__ = ["OVERLAP", "StreamReport", "SyncError", "SyncReport", "fill_scores", "sync"]

#: Seconds each window re-reads before the last watermark: changes committed late, or stamped
#: by a server clock a little behind ours, are not missed (re-read rows are deduplicated).
OVERLAP: Final = 300
SOURCE: Final = "amocrm:"
#: Pages written per transaction at most, and seconds between commits at most: a commit per
#: page would cost more than the page when the API answers fast; a kill loses at most this.
FLUSH_PAGES: Final = 20
FLUSH_SECONDS: Final = 1.0
_ID_BATCH: Final = 50
_API: Final = "/api/v4"
_ENTITIES: Final = ("leads", "contacts", "companies", "customers")
_WITH: Final = {"leads": "contacts,source_id"}

Kind = Literal["entities", "deleted", "tasks", "notes", "events"]


@dataclass(frozen=True)
class Stream:
    """One list read by time window, with its own cursor and watermark."""

    name: str
    path: str
    kind: Kind
    entity: str = ""

    def params(self) -> dict[str, Any]:
        if self.kind not in ("entities", "deleted"):
            return {}
        with_ = _WITH.get(self.entity, "")
        if self.kind == "deleted":
            with_ = ",".join(filter(None, ["only_deleted", with_]))
        return {"with": with_} if with_ else {}


def _streams(customers: bool) -> list[Stream]:
    entities = [e for e in _ENTITIES if customers or e != "customers"]
    out = []
    for e in entities:
        out.append(Stream(e, f"{_API}/{e}", "entities", e))
        out.append(Stream(f"{e}_deleted", f"{_API}/{e}", "deleted", e))
    out.append(Stream("tasks", f"{_API}/tasks", "tasks"))
    out += [Stream(f"{e}_notes", f"{_API}/{e}/notes", "notes", e) for e in entities]
    out.append(Stream("events", f"{_API}/events", "events"))
    return out


# Reports -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamReport:
    """One stream of a run: records read, rejected, and the window read."""

    name: str
    fetched: int
    rejected: int
    since: dt.datetime | None  # None: from the beginning (no watermark yet)
    until: dt.datetime


@dataclass(frozen=True)
class SyncReport:
    """What a sync did. ``rows`` counts rows written per table (upserted, replaced or added);
    ``rejected`` the records kept in ``rejects`` instead; ``requests`` the API calls made by
    this attempt (retries of one call not counted)."""

    store: Path
    snapshot: Path
    generation: int
    full: bool
    resumed: bool
    run_start: dt.datetime
    streams: tuple[StreamReport, ...]
    rows: Mapping[str, int]
    rejected: int
    requests: int
    seconds: float
    warnings: tuple[str, ...] = ()

    @property
    def fetched(self) -> int:
        """Records read from the API across the streams of this run."""
        return sum(s.fetched for s in self.streams)

    def summary(self) -> str:
        """A few lines for the command line (no secrets: only counts and paths)."""
        kind = "full" if self.full else "incremental"
        lines = [
            f"{self.store}: {kind} sync{' (resumed)' if self.resumed else ''} published as "
            f"generation {self.generation}; {self.fetched} records read in "
            f"{self.requests} requests, {self.seconds:.1f} s; {self.rejected} rejected",
            "rows written: "
            + (" · ".join(f"{t} {n}" for t, n in sorted(self.rows.items()) if n) or "none"),
        ]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


class SyncError(RuntimeError):
    """A sync stopped before publishing (the published store is unchanged; running the sync
    again resumes). ``cause`` is the API error, if one stopped it."""

    def __init__(self, message: str, cause: BaseException | None = None):
        self.cause = cause
        super().__init__(scrub(message))


# The run ------------------------------------------------------------------------------------


def _unix(now: dt.datetime | None) -> int:
    if now is None:
        return int(time.time())
    if now.tzinfo is None:  # naive = UTC, as everywhere in the store
        now = now.replace(tzinfo=dt.UTC)
    return int(now.timestamp())


class _Run:
    """One attempt at one generation: the writer, the client and the run's fixed window end."""

    def __init__(self, writer: Writer, client: AmoClient, progress: bool, overlap: int) -> None:
        self.w = writer
        self.client = client
        self.progress = progress
        self.overlap = overlap
        self.requests = 0
        self.run: dict[str, Any] = writer.get("run") or {}

    @property
    def hi(self) -> int:
        return int(self.run["run_start"])

    @property
    def at(self) -> dt.datetime:
        return ts_from_unix(self.hi)

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        self.requests += 1
        return self.client.get(path, params)

    def records(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Any]:
        """Every record of a small list (reference data, a few ids), page after page."""
        page = 1
        while True:
            items = page_items(
                self.get(path, {**(params or {}), "limit": ENTITY_LIMIT, "page": page})
            )
            yield from items
            if len(items) < ENTITY_LIMIT:
                return
            page += 1

    def count(self, counts: Mapping[str, int], **more: Any) -> None:
        """Add to the run's rows-written tally and store it with ``more`` state entries
        (inside the transaction of the rows counted)."""
        total = dict(self.w.get("rows", {}))
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v
        self.w.put_many({"rows": total, **more})

    def warn(self, text: str) -> None:
        warnings = list(self.w.get("warnings", []))
        if text not in warnings:
            self.w.put("warnings", [*warnings, text])

    # Steps ---------------------------------------------------------------------------------

    def reference(self) -> None:
        if self.w.get("step:reference"):
            return
        ref = Reference()
        acc = self.get(f"{_API}/account", {"with": "users_groups,task_types,datetime_settings"})
        if not isinstance(acc, Mapping):
            raise SyncError("/api/v4/account did not answer with the account")
        add_account(ref, acc, self.at)
        mode = str(acc.get("customers_mode") or "")
        customers = mode not in ("unavailable", "disabled")
        warnings = []
        try:
            add_users(ref, self.records(f"{_API}/users"))
        except Forbidden:
            # /users is admin-only: a manager's token keeps the users stored before.
            warnings.append("the token may not list users (admin only): users kept as they were")
            ref.tables.pop("users", None)
        add_pipelines(ref, self.records(f"{_API}/leads/pipelines"))
        add_named(
            ref,
            "loss_reasons",
            "/api/v4/leads/loss_reasons",
            self.records(f"{_API}/leads/loss_reasons"),
        )
        add_named(ref, "lead_sources", "/api/v4/sources", self.records(f"{_API}/sources"))
        for entity in _ENTITIES:
            if entity != "customers" or customers:
                add_custom_fields(ref, entity, self.records(f"{_API}/{entity}/custom_fields"))
        for table in (
            "groups",
            "custom_fields",
            "custom_field_enums",
            "loss_reasons",
            "lead_sources",
            "stages",
            "pipelines",
        ):
            ref.rows(table)  # an empty answer empties the table: the account has none
        with self.w.transaction():
            counts = self.w.replace_reference(ref, self.at)
            self.count(counts)
            self.w.put("task_types", {str(k): v for k, v in ref.task_types.items()})
            self.w.put("customers", customers)
            for text in warnings:
                self.warn(text)
            self.w.put("step:reference", True)

    def context(self) -> MapContext:
        tz_name = self.w.scalar("SELECT timezone FROM account LIMIT 1") or "UTC"
        try:
            tz = ZoneInfo(str(tz_name))
        except (ZoneInfoNotFoundError, ValueError):
            tz = ZoneInfo("UTC")
        fields = dict(self.w.rows("SELECT field_id, type FROM custom_fields"))
        types = {int(k): str(v) for k, v in self.w.get("task_types", {}).items()}
        return MapContext(tz, types, fields)

    def window(self, stream: Stream) -> tuple[int, int]:
        mark = self.w.get(f"watermark:{stream.name}")
        lo = 0 if mark is None else max(0, int(mark) - self.overlap)
        return lo, self.hi

    def map_page(self, stream: Stream, items: list[Any], ctx: MapContext) -> Batch:
        if stream.kind in ("entities", "deleted"):
            return map_entities(stream.entity, items, ctx, deleted=stream.kind == "deleted")
        if stream.kind == "tasks":
            return map_tasks(items, ctx)
        if stream.kind == "notes":
            return map_notes(stream.entity, items)
        batch = map_events(items)
        fill_scores(batch, self.get)
        return batch

    def stream(self, stream: Stream, ctx: MapContext) -> StreamReport:
        key = f"stream:{stream.name}"
        lo, hi = self.window(stream)
        state = self.w.get(key)
        desc = stream.kind == "events"
        cursor = Cursor.from_json(state) if state else Cursor(hi if desc else lo)
        rejected = int((state or {}).get("rejected", 0))
        source = SOURCE + stream.path + ("?with=only_deleted" if stream.kind == "deleted" else "")
        bar = tqdm(
            desc=stream.name,
            unit=" rec",
            initial=cursor.read,
            disable=not self.progress,
            leave=True,
            dynamic_ncols=True,
        )
        pending: Batch | None = None
        pages, since = 0, time.monotonic()

        def flush() -> None:
            # Pages are written in groups: the rows of a group and the cursor after its last
            # page commit together, so a kill loses at most the uncommitted group.
            nonlocal pending, pages, since, rejected
            if pending is None:
                return
            with self.w.transaction():
                counts = self.w.write_batch(pending, source, self.at)
                rejected += counts.get("rejects", 0)
                self.count(counts, **{key: {**cursor.to_json(), "rejected": rejected}})
            pending, pages, since = None, 0, time.monotonic()
            if rejected:
                bar.set_postfix(rejected=rejected, refresh=False)

        try:
            window = read_window(
                self.get,
                stream.path,
                stream.params(),
                field="created_at" if desc else "updated_at",
                lo=lo,
                hi=hi,
                cursor=cursor,
                direction="desc" if desc else "asc",
                limit=EVENT_LIMIT if desc else ENTITY_LIMIT,
            )
            try:
                for items, after in _tolerate(window, stream):
                    batch = self.map_page(stream, items, ctx)  # may call the API (talks)
                    cursor = after  # what flush() stores with the pending rows
                    if pending is None:
                        pending = batch
                    else:
                        pending.merge(batch)
                    pages += 1
                    bar.update(len(items))
                    if pages >= FLUSH_PAGES or time.monotonic() - since >= FLUSH_SECONDS:
                        flush()
            except AmoError:
                flush()  # keep what was read: the resumed run goes on from there
                raise
            flush()
            if not cursor.done:  # a tolerated refusal: nothing to read
                with self.w.transaction():
                    self.warn(f"{stream.path} refused with=only_deleted: deletions not synced")
                    self.w.put(key, {**Cursor(lo, done=True).to_json(), "rejected": 0})
        finally:
            bar.close()
        return _stream_report(self.w, stream, self)

    def deletions(self, ctx: MapContext, events_lo: int) -> None:
        """Fetch entities whose deletion event came in this run but are not stored deleted."""
        if self.w.get("step:deletions"):
            return
        tables = {
            "leads": ("deals", "deal_id"),
            "contacts": ("contacts", "id"),
            "companies": ("companies", "id"),
            "customers": ("customers", "customer_id"),
        }
        for etype, entity in DELETION_EVENTS.items():
            if entity == "customers" and not self.w.get("customers", True):
                continue
            table, key = tables[entity]
            ids = [
                r[0]
                for r in self.w.rows(
                    f"SELECT DISTINCT e.entity_id FROM events e WHERE e.type = ? "
                    f"AND e.created_at >= ? AND NOT EXISTS (SELECT 1 FROM {table} t "
                    f"WHERE t.{key} = e.entity_id AND t.is_deleted) ORDER BY 1",
                    [etype, ts_from_unix(events_lo)],
                )
            ]
            stream = Stream(f"{entity}_deleted", f"{_API}/{entity}", "deleted", entity)
            for chunk in chunked(ids, _ID_BATCH):
                try:
                    params = {**stream.params(), "filter[id]": chunk}
                    items = list(self.records(stream.path, params))
                except BadRequest:
                    break  # no with=only_deleted for this entity (warned by its stream)
                batch = map_entities(entity, items, ctx, deleted=True)
                with self.w.transaction():
                    self.count(self.w.write_batch(batch, SOURCE + stream.path, self.at))
        with self.w.transaction():
            self.w.put("step:deletions", True)

    def finish(self, streams: list[Stream]) -> None:
        """Derive, move the watermarks, and mark the snapshot complete (one transaction)."""
        with self.w.transaction():
            derive(self.w.con)
            for s in streams:
                state = self.w.get(f"stream:{s.name}") or {}
                newest = state.get("newest")
                old = self.w.get(f"watermark:{s.name}")
                if newest is not None:
                    self.w.put(f"watermark:{s.name}", max(int(newest), int(old or 0)))
            self.w.put("generation", int(self.run["base"]) + 1)
            self.run = {**self.run, "status": "complete"}
            self.w.put("run", self.run)


def fill_scores(batch: Batch, get: Callable[[str], Any]) -> None:
    """NPS rates missing from their event are read from the talk (``/talks/{id}``); a talk
    without a valid rate turns the response into a reject (the event itself is kept)."""
    for ev, derived in batch.events:
        for row in derived.get("nps", []):
            if row["score"] is not None:
                continue
            try:
                talk = get(f"{_API}/talks/{row['response_id']}")
            except NotFound:
                talk = None
            rate = talk.get("rate") if isinstance(talk, Mapping) else None
            if isinstance(rate, int) and not isinstance(rate, bool) and 0 <= rate <= 10:
                row["score"] = rate
            else:
                derived["nps"] = []
                batch.reject(ev, f"nps_rate.rate: talk {row['response_id']} has no score 0-10")


def _tolerate(
    pages: Iterator[tuple[list[Any], Cursor]], stream: Stream
) -> Iterator[tuple[list[Any], Cursor]]:
    """The pages; a 400 on a ``with=only_deleted`` list other than leads ends it quietly
    (the API documents that view for leads only)."""
    try:
        yield from pages
    except BadRequest:
        if stream.kind != "deleted" or stream.entity == "leads":
            raise


def _begin(writer: Writer, published: int | None, left: bool, now: int) -> str:
    """Decide what the snapshot file holds: ``resume`` a run, ``publish`` a finished one,
    ``new`` (start a run on this copy), or ``stale`` (discard it)."""
    base = published or 0
    run = writer.get("run")
    generation = writer.get("generation")
    if left and run is not None and run.get("base") == base:
        if run.get("status") == "building":
            return "resume"
        if run.get("status") == "complete" and generation == base + 1:
            return "publish"
    untouched = generation == (base or None) and (run is None or run.get("status") == "complete")
    if left and not untouched:
        return "stale"
    full = not any(k.startswith("watermark:") for k in writer.state())
    with writer.transaction():
        writer.drop("stream:")
        writer.drop("step:")
        writer.put("rows", {})
        writer.put("warnings", [])
        writer.put("run", {"status": "building", "base": base, "run_start": now, "full": full})
    return "new"


def sync(
    store_path: str | Path,
    client: AmoClient,
    *,
    progress: bool = True,
    now: dt.datetime | None = None,
    overlap: int = OVERLAP,
) -> SyncReport:
    """Bring the store at ``store_path`` up to date with the account behind ``client``.

    Parameters
    ----------
    store_path
        The store to create or update (a link to the published snapshot; see ``snapshot.py``).
    client
        An :class:`AmoClient` for the account (its rate limiter and retries apply).
    progress
        Show a progress bar per stream (tqdm: terminal or notebook).
    now
        The end of this run's windows (default: the clock). A resumed run keeps the end of the
        run it resumes.
    overlap
        Seconds each window re-reads before the previous run's newest timestamp.

    Raises
    ------
    SyncError
        The API refused (blocked, unpaid, unauthorized, retries exhausted, ...) or the store is
        locked by another sync. The published store is unchanged; the next run resumes.
    """
    layout = Layout.of(store_path)
    started = time.monotonic()
    try:
        with layout.lock():
            return _sync_locked(layout, client, progress, _unix(now), overlap, started)
    except SnapshotError as exc:
        raise SyncError(str(exc)) from None


def _sync_locked(
    layout: Layout, client: AmoClient, progress: bool, now: int, overlap: int, started: float
) -> SyncReport:
    published = layout.published()
    base = published or 0
    path, left = layout.prepare(published)
    writer = Writer(path)
    try:
        action = _begin(writer, published, left, now)
        if action == "stale":  # not a snapshot of the published generation: start again
            writer.con.close()
            layout.discard(base + 1)
            path, left = layout.prepare(published)
            writer = Writer(path)
            action = _begin(writer, published, left, now)
        run = _Run(writer, client, progress, overlap)
        streams = _streams(bool(writer.get("customers", True)))
        if action == "publish":  # a run killed between finishing and publishing
            reports = [_stream_report(writer, s, run) for s in streams]
        else:
            reports = _read_all(run, layout)
            streams = _streams(bool(writer.get("customers", True)))
            run.finish(streams)
        rows = dict(writer.get("rows", {}))
        warnings = tuple(writer.get("warnings", []))
    except BaseException:
        # No CHECKPOINT: the committed pages are safe in the WAL for the resume.
        writer.con.close()
        raise
    writer.close()
    generation = base + 1
    layout.publish(generation)
    return SyncReport(
        store=layout.store,
        snapshot=layout.snapshot(generation),
        generation=generation,
        full=bool(run.run.get("full")),
        resumed=action in ("resume", "publish"),
        run_start=run.at,
        streams=tuple(reports),
        rows=rows,
        rejected=int(rows.get("rejects", 0)),
        requests=run.requests,
        seconds=time.monotonic() - started,
        warnings=warnings,
    )


def _read_all(run: _Run, layout: Layout) -> list[StreamReport]:
    """Reference data, every stream, the deletion follow-up; API errors become SyncError."""
    where = "reference data"
    try:
        run.reference()
        ctx = run.context()
        reports = []
        for stream in _streams(bool(run.w.get("customers", True))):
            where = stream.path
            reports.append(run.stream(stream, ctx))
        where = "deleted entities"
        run.deletions(ctx, run.window(Stream("events", "", "events"))[0])
    except AmoError as exc:
        raise SyncError(
            f"the sync of {layout.store} stopped while reading {where}: {exc} -- the published "
            "store is unchanged; run the sync again to resume from the last stored page",
            exc,
        ) from exc
    return reports


def _stream_report(writer: Writer, stream: Stream, run: _Run) -> StreamReport:
    state = writer.get(f"stream:{stream.name}") or {}
    lo, hi = run.window(stream)
    return StreamReport(
        stream.name,
        int(state.get("read", 0)),
        int(state.get("rejected", 0)),
        None if lo == 0 else ts_from_unix(lo),
        ts_from_unix(hi),
    )
