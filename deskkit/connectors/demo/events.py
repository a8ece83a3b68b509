"""The event feed, with amoCRM API event type names, built from everything else that happened."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from deskkit.connectors.demo.activity import Cols
from deskkit.connectors.demo.company import Company
from deskkit.connectors.demo.deals import DealChunk
from deskkit.connectors.demo.frames import concat_str, table, ts

__all__ = ["events"]


def _block(
    kind: str,
    event_id: pa.Array,
    entity_type: str,
    entity_id: np.ndarray,
    at: np.ndarray,
    by: np.ndarray,
    before: Any = None,
    after: Any = None,
) -> pa.Table:
    return table(
        "events",
        {
            "event_id": event_id,
            "type": kind,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "created_at": ts(at),
            "created_by": by,
            "value_before": before,
            "value_after": after,
        },
    )


def _status(pipe_ids: np.ndarray, stage_ids: np.ndarray) -> pa.Array:
    return concat_str('[{"lead_status": {"id": ', stage_ids, ', "pipeline_id": ', pipe_ids, "}}]")


def events(
    co: Company,
    dc: DealChunk,
    lifecycle: Cols,
    task: Cols,
    change: Cols,
    msg: Cols,
    call: Cols,
    note: Cols,
) -> pa.Table:
    """All events of a chunk. ``lifecycle`` holds per-deal deletion and price-change columns."""
    did = dc.deal_id
    pid, sid = co.pipeline_ids, co.stage_ids
    # lead_added carries the stage the deal was created in (the first move's "from").
    blocks = [
        _block(
            "lead_added",
            concat_str("la-", did),
            "deal",
            did,
            dc.created,
            dc.created_by,
            None,
            _status(pid[dc.pipe0], sid[dc.pipe0, dc.pos0]),
        )
    ]
    md = did[dc.m_deal]
    blocks.append(
        _block(
            "lead_status_changed",
            concat_str("ls-", md, "-", dc.m_seq),
            "deal",
            md,
            dc.m_at,
            dc.m_by,
            _status(pid[dc.m_from_pipe], sid[dc.m_from_pipe, dc.m_from_pos]),
            _status(pid[dc.m_to_pipe], sid[dc.m_to_pipe, dc.m_to_pos]),
        )
    )
    gone = np.flatnonzero(lifecycle["deleted_at"] >= 0)
    blocks.append(
        _block(
            "lead_deleted",
            concat_str("ld-", did[gone]),
            "deal",
            did[gone],
            lifecycle["deleted_at"][gone],
            co.user_ids[dc.resp1[gone]],
        )
    )
    moved = np.flatnonzero(dc.t_reassign >= 0)
    head = int(co.user_ids[0])  # the head of sales hands deals over
    blocks.append(
        _block(
            "entity_responsible_changed",
            concat_str("rc-", did[moved]),
            "deal",
            did[moved],
            dc.t_reassign[moved],
            np.full(moved.size, head),
            concat_str('[{"responsible_user": {"id": ', co.user_ids[dc.resp0[moved]], "}}]"),
            concat_str('[{"responsible_user": {"id": ', co.user_ids[dc.resp1[moved]], "}}]"),
        )
    )
    sale = np.flatnonzero(lifecycle["sale_at"] >= 0)
    blocks.append(
        _block(
            "sale_field_changed",
            concat_str("sf-", did[sale]),
            "deal",
            did[sale],
            lifecycle["sale_at"][sale],
            co.user_ids[dc.owner_at(sale, lifecycle["sale_at"][sale])],
            concat_str('[{"sale_field_value": {"sale": ', lifecycle["old_price"][sale], "}}]"),
            concat_str('[{"sale_field_value": {"sale": ', dc.price[sale].astype(np.int64), "}}]"),
        )
    )
    tid = task["task_id"]
    blocks.append(
        _block(
            "task_added",
            concat_str("ta-", tid),
            "task",
            tid,
            task["created_at"],
            task["created_by"],
        )
    )
    done = np.flatnonzero(task["is_completed"])
    blocks.append(
        _block(
            "task_completed",
            concat_str("tc-", tid[done]),
            "task",
            tid[done],
            task["completed_at"][done],
            task["responsible"][done],
        )
    )
    blocks.append(
        _block(
            "task_deadline_changed",
            concat_str("td-", change["task_id"], "-", change["seq"]),
            "task",
            change["task_id"],
            change["at"],
            change["by"],
            concat_str('[{"task_deadline": {"timestamp": ', change["old_deadline"], "}}]"),
            concat_str('[{"task_deadline": {"timestamp": ', change["new_deadline"], "}}]"),
        )
    )
    cin = call["incoming"]
    blocks.append(
        _block(
            "incoming_call",
            concat_str("ci-", call["call_id"][cin]),
            "deal",
            did[call["deal"][cin]],
            call["created_at"][cin],
            call["user_id"][cin],
        )
    )
    blocks.append(
        _block(
            "outgoing_call",
            concat_str("co-", call["call_id"][~cin]),
            "deal",
            did[call["deal"][~cin]],
            call["created_at"][~cin],
            call["user_id"][~cin],
        )
    )
    blocks.append(
        _block(
            "common_note_added",
            concat_str("nt-", note["note_id"]),
            "deal",
            did[note["deal"]],
            note["created_at"],
            note["created_by"],
        )
    )
    for kind, mask, prefix in (
        ("incoming_chat_message", msg["incoming"], "mi-"),
        ("outgoing_chat_message", ~msg["incoming"], "mo-"),
    ):
        blocks.append(
            _block(
                kind,
                concat_str(prefix, msg["talk_id"][mask], "-", msg["seq"][mask]),
                "deal",
                did[msg["deal"][mask]],
                msg["created_at"][mask],
                np.maximum(msg["user_id"][mask], 0),  # the client's messages: robot/system (0)
            )
        )
    return pa.concat_tables(blocks)
