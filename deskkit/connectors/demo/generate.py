"""Orchestration: simulate the demo account chunk by chunk and write it to a DuckDB file."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pyarrow as pa
from tqdm.auto import tqdm

from deskkit.connectors.demo import activity, fields, people
from deskkit.connectors.demo.clock import DAY, Clock
from deskkit.connectors.demo.company import Company, load_company
from deskkit.connectors.demo.deals import NO_TIME, DealChunk, simulate_deals
from deskkit.connectors.demo.events import events
from deskkit.connectors.demo.frames import concat_str, ids, strings, table, ts
from deskkit.store.build import append, copy_clustered, create_tables

__all__ = ["CHUNK_SIZE", "chunk_tables", "generate"]

#: Deals per chunk. Fixed (never derived from N) so a chunk's random streams, and hence the
#: output, do not depend on how the work is split.
CHUNK_SIZE = 25_000
MIN_DEALS = 1
MEMORY_LIMIT = "512MB"


def generate(
    path: str | os.PathLike[str],
    deals: int = 20_000,
    seed: int = 7,
    as_of: dt.date | None = None,
    progress: bool = False,
) -> Path:
    """Write a complete demo account with ``deals`` deals to the DuckDB file ``path``.

    The history runs from about two years before ``as_of`` (default: today in the account time
    zone) to the end of that day. Output depends only on (deals, seed, as_of). The file is built
    next to ``path`` and moved into place when complete, so readers never see a partial file.
    """
    if deals < MIN_DEALS:
        raise ValueError(f"deals must be at least {MIN_DEALS}, got {deals}")
    co = load_company()
    if as_of is None:
        as_of = dt.datetime.now(ZoneInfo(co.timezone)).date()
    clock = Clock.build(
        as_of, co.timezone, int(co.raw["history_days"]), tuple(co.raw["business_hours"])
    )
    target = Path(path)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    staged = target.with_name(f"{target.name}.staged-{os.getpid()}")
    _remove(tmp)
    _remove(staged)
    con = duckdb.connect(str(tmp))
    try:
        # Bound DuckDB's buffer cache so memory stays flat however many deals are written
        # (written blocks are evicted to the file); our own arrays are per chunk.
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        create_tables(con)
        for name, tbl in static_tables(co, clock, seed).items():
            append(con, name, tbl)
        n_chunks = -(-deals // CHUNK_SIZE)
        for chunk in tqdm(range(n_chunks), disable=not progress, unit="chunk", desc="demo"):
            for name, tbl in chunk_tables(co, clock, seed, chunk, deals).items():
                append(con, name, tbl)
        con.close()
        # Rewritten in time order (see CLUSTER_KEYS): chunks are written deal by deal.
        copy_clustered(str(tmp), str(staged), memory_limit=MEMORY_LIMIT)
        os.replace(staged, target)
    except BaseException:
        con.close()
        _remove(staged)
        raise
    finally:
        _remove(tmp)
    return target


def _remove(tmp: Path) -> None:
    for p in (tmp, tmp.with_name(tmp.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def static_tables(co: Company, clock: Clock, seed: int) -> dict[str, pa.Table]:
    """Tables that do not depend on the deals: account, users, lookups, presence, goals."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    out = people.account_tables(co, clock)
    out["users"] = people.users_table(co)
    out.update(fields.lookup_tables(co))
    out["presence"] = people.presence(co, clock, rng)
    return out


def _lifecycle(
    clock: Clock, rng: np.random.Generator, dc: DealChunk, touched: list[tuple[np.ndarray, ...]]
) -> dict[str, np.ndarray]:
    """Per deal: a price edit (~15%), deletion (~2%) and updated_at = its latest change."""
    n = len(dc)
    last = dc.last_move.copy()
    for deal, at in touched:
        np.maximum.at(last, deal, at)
    np.maximum(last, dc.t_reassign, out=last)
    span = np.maximum(dc.life_end - dc.created, 2)
    edit = rng.random(n) < 0.15
    sale_at = np.where(edit, dc.created + 1 + (rng.random(n) * span).astype(np.int64), NO_TIME)
    sale_at = np.where(sale_at > clock.end, NO_TIME, sale_at)
    old_price = np.round(dc.price * rng.uniform(0.6, 1.4, n), -2).astype(np.int64)
    last = np.maximum(last, sale_at)
    # Deleted a little after the last change (at most ~a month later, never past the end).
    delete = rng.random(n) < 0.02
    later = (rng.random(n) * np.minimum(clock.end - last, 30 * DAY)).astype(np.int64)
    deleted_at = np.where(delete, np.minimum(last + 60 + later, clock.end), NO_TIME)
    return {
        "sale_at": sale_at,
        "old_price": old_price,
        "deleted_at": deleted_at,
        "updated_at": np.maximum(last, deleted_at),
    }


def chunk_tables(
    co: Company, clock: Clock, seed: int, chunk: int, n_total: int
) -> dict[str, pa.Table]:
    """Every deal-related table for chunk number ``chunk`` of ``n_total`` deals."""
    streams = np.random.SeedSequence([seed, 1, chunk]).spawn(10)
    r = [np.random.default_rng(s) for s in streams]
    gidx = np.arange(chunk * CHUNK_SIZE, min((chunk + 1) * CHUNK_SIZE, n_total), dtype=np.int64)
    growth = float(co.raw["yearly_growth"])
    dc = simulate_deals(co, clock, r[0], gidx, n_total, growth)
    party = people.parties(co, clock, r[1], dc)
    task, change = activity.tasks(co, clock, r[2], dc)
    msg = activity.messages(co, clock, r[3], dc)
    call = activity.calls(co, clock, r[4], dc)
    note = activity.notes(co, clock, r[5], dc)
    fl = activity.files(co, clock, r[6], dc)
    life = _lifecycle(
        clock,
        r[7],
        dc,
        [
            (task["deal"], task["created_at"]),
            (task["deal"], task["completed_at"]),
            (change["deal"], change["at"]),
            (msg["deal"], msg["created_at"]),
            (call["deal"], call["created_at"]),
            (note["deal"], note["created_at"]),
            (fl["deal"], fl["created_at"]),
        ],
    )
    out = dict(party.tables)
    out["deals"] = _deals_table(co, r[8], dc, party, life)
    out["deal_moves"] = _moves_table(co, dc)
    out.update(_activity_tables(co, dc, task, change, msg, call, note, fl))
    entities = {
        "deal": dc.deal_id,
        "contact": party.tables["contacts"].column("id").to_numpy(),
        "company": party.tables["companies"].column("id").to_numpy(),
    }
    out["custom_values"] = fields.custom_values(co, clock, r[9], dc, entities)
    out["tags"] = fields.tags(co, r[9], dc)
    out["nps"] = fields.nps(co, clock, r[9], dc)
    out["events"] = events(co, dc, life, task, change, msg, call, note)
    return out


def _deals_table(
    co: Company,
    rng: np.random.Generator,
    dc: DealChunk,
    party: people.Parties,
    life: dict[str, np.ndarray],
) -> pa.Table:
    products = [p[:1].upper() + p[1:] for p in co.raw["products"]]
    return table(
        "deals",
        {
            "deal_id": dc.deal_id,
            "name": concat_str(
                strings(products, rng.integers(0, len(products), len(dc))), " #", dc.deal_id
            ),
            "pipeline_id": co.pipeline_ids[dc.pipe],
            "stage_id": co.stage_ids[dc.pipe, dc.pos],
            "price": dc.price,
            "responsible_user_id": co.user_ids[dc.resp1],
            "created_by": dc.created_by,
            "created_at": ts(dc.created),
            "updated_at": ts(life["updated_at"]),
            "closed_at": ts(dc.closed),
            "source_id": dc.source_id,
            "loss_reason_id": ids(dc.loss_reason_id, null=dc.loss_reason_id < 0),
            "company_id": ids(party.company_id, null=party.company_id < 0),
            "main_contact_id": ids(party.contact_id, null=party.contact_id < 0),
            "is_deleted": life["deleted_at"] >= 0,
        },
    )


def _moves_table(co: Company, dc: DealChunk) -> pa.Table:
    return table(
        "deal_moves",
        {
            "deal_id": dc.deal_id[dc.m_deal],
            "at": ts(dc.m_at),
            "from_pipeline_id": co.pipeline_ids[dc.m_from_pipe],
            "from_stage_id": co.stage_ids[dc.m_from_pipe, dc.m_from_pos],
            "to_pipeline_id": co.pipeline_ids[dc.m_to_pipe],
            "to_stage_id": co.stage_ids[dc.m_to_pipe, dc.m_to_pos],
            "by_user_id": dc.m_by,
        },
    )


def _activity_tables(
    co: Company,
    dc: DealChunk,
    task: activity.Cols,
    change: activity.Cols,
    msg: activity.Cols,
    call: activity.Cols,
    note: activity.Cols,
    fl: activity.Cols,
) -> dict[str, pa.Table]:
    did = dc.deal_id
    texts = [text for group in co.task_texts for text in group]
    kinds = co.raw["file_kinds"]
    return {
        "tasks": table(
            "tasks",
            {
                "task_id": task["task_id"],
                "entity_type": "deal",
                "entity_id": did[task["deal"]],
                "responsible_user_id": task["responsible"],
                "created_by": task["created_by"],
                "task_type": strings(co.task_types, task["type_idx"]),
                "text": strings(texts, task["text_idx"]),
                "created_at": ts(task["created_at"]),
                "deadline": ts(task["deadline"]),
                "is_completed": task["is_completed"],
                "completed_at": ts(task["completed_at"]),
            },
        ),
        "task_deadline_changes": table(
            "task_deadline_changes",
            {
                "task_id": change["task_id"],
                "at": ts(change["at"]),
                "old_deadline": ts(change["old_deadline"]),
                "new_deadline": ts(change["new_deadline"]),
            },
        ),
        "messages": table(
            "messages",
            {
                "message_id": concat_str(msg["talk_id"], "-", msg["seq"]),
                "talk_id": msg["talk_id"],
                "entity_type": "deal",
                "entity_id": did[msg["deal"]],
                "direction": strings(["out", "in"], msg["incoming"].astype(np.int64)),
                "channel": strings(co.channels, msg["channel_idx"]),
                "created_at": ts(msg["created_at"]),
                "user_id": ids(msg["user_id"], null=msg["user_id"] < 0),
            },
        ),
        "calls": table(
            "calls",
            {
                "call_id": call["call_id"],
                "direction": strings(["out", "in"], call["incoming"].astype(np.int64)),
                "entity_type": "deal",
                "entity_id": did[call["deal"]],
                "user_id": call["user_id"],
                "created_at": ts(call["created_at"]),
                "duration_s": call["duration_s"],
            },
        ),
        "notes": table(
            "notes",
            {
                "note_id": note["note_id"],
                "entity_type": "deal",
                "entity_id": did[note["deal"]],
                "note_type": "common",
                "text": pa.array(note["text"], type=pa.string()),
                "created_by": note["created_by"],
                "created_at": ts(note["created_at"]),
            },
        ),
        "files": table(
            "files",
            {
                "file_id": concat_str("f", did[fl["deal"]], "-", fl["k"]),
                "entity_type": "deal",
                "entity_id": did[fl["deal"]],
                "name": concat_str(
                    strings([k["prefix"] for k in kinds], fl["kind"]),
                    "_",
                    did[fl["deal"]],
                    strings(["", "_2"], np.minimum(fl["k"], 1)),
                    ".",
                    strings([k["ext"] for k in kinds], fl["kind"]),
                ),
                "size": fl["size"],
                "created_by": fl["created_by"],
                "created_at": ts(fl["created_at"]),
            },
        ),
    }
