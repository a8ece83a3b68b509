"""Lookup tables (pipelines, stages, sources, reasons, custom fields) and per-deal extras:
custom field values, tags and NPS responses."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from deskkit.connectors.demo.clock import DAY, Clock
from deskkit.connectors.demo.company import Company
from deskkit.connectors.demo.deals import DealChunk
from deskkit.connectors.demo.frames import concat_str, strings, table, ts

__all__ = ["custom_values", "enum_id", "lookup_tables", "nps", "tags"]

NPS_ID_BASE = 500_000_000
# Score distribution: most customers are happy, a few detractors.
_NPS_P = np.array([2, 1, 1, 2, 2, 4, 5, 10, 18, 25, 30], dtype=np.float64)


def enum_id(field_id: int, k: int) -> int:
    """Deterministic id of the k-th (0-based) enum value of a field."""
    return field_id * 10 + k + 1


def lookup_tables(co: Company) -> dict[str, pa.Table]:
    """pipelines, stages, lead_sources, loss_reasons, custom_fields, custom_field_enums."""
    raw = co.raw
    pipes = raw["pipelines"]
    stages = co.stage_rows()
    fields = raw["custom_fields"]
    enums = [
        (f["field_id"], enum_id(f["field_id"], k), v, (k + 1) * 10)
        for f in fields
        for k, v in enumerate(f.get("enums", []))
    ]

    def col(rows: list, key: str | int) -> list:
        return [r[key] for r in rows]

    return {
        "pipelines": table(
            "pipelines",
            {k: pa.array(col(pipes, k)) for k in ("pipeline_id", "name", "sort", "is_main")}
            | {"is_archived": pa.array(col(pipes, "is_archived"))},
        ),
        "stages": table("stages", {k: pa.array(col(stages, k)) for k in stages[0]}),
        "lead_sources": table(
            "lead_sources",
            {
                "id": pa.array(col(raw["lead_sources"], "id")),
                "name": col(raw["lead_sources"], "name"),
            },
        ),
        "loss_reasons": table(
            "loss_reasons",
            {
                "id": pa.array(col(raw["loss_reasons"], "id")),
                "name": col(raw["loss_reasons"], "name"),
            },
        ),
        "custom_fields": table(
            "custom_fields",
            {k: pa.array(col(fields, k)) for k in ("entity_type", "field_id", "name", "type")},
        ),
        "custom_field_enums": table(
            "custom_field_enums",
            {
                k: pa.array(col(enums, i))
                for i, k in enumerate(("field_id", "enum_id", "value", "sort"))
            },
        ),
    }


def _values(
    entity_type: str, entity_id: np.ndarray, field_id: int, value: pa.Array, enum: np.ndarray | None
) -> pa.Table:
    return table(
        "custom_values",
        {
            "entity_type": entity_type,
            "entity_id": entity_id,
            "field_id": np.full(entity_id.size, field_id, dtype=np.int64),
            "value": value,
            "enum_id": None if enum is None else enum,
        },
    )


def custom_values(
    co: Company,
    clock: Clock,
    rng: np.random.Generator,
    dc: DealChunk,
    entities: dict[str, np.ndarray],
) -> pa.Table:
    """Values of every custom field for the chunk's deals, contacts and companies.

    ``entities`` maps entity type to the ids of that type created in this chunk ("deal" included).
    """
    out: list[pa.Table] = []
    for f in co.raw["custom_fields"]:
        fid, kind = f["field_id"], f["type"]
        ent = entities[f["entity_type"]]
        n = ent.size
        has = rng.random(n) < f["share"]
        if kind in ("select", "radiobutton"):
            w = np.linspace(2.0, 1.0, len(f["enums"]))  # earlier enums a little more common
            k = rng.choice(len(f["enums"]), size=int(has.sum()), p=w / w.sum())
            out.append(
                _values(
                    f["entity_type"], ent[has], fid, strings(f["enums"], k), enum_id(fid, 0) + k
                )
            )
        elif kind == "multiselect":
            # 1–3 distinct values: the first k of a random permutation of the enums.
            m = len(f["enums"])
            who = np.flatnonzero(has)
            perm = np.argsort(rng.random((who.size, m)), axis=1)
            count = rng.choice([1, 2, 3], size=who.size, p=[0.55, 0.3, 0.15])
            take = np.arange(m)[None, :] < count[:, None]
            rows, cols = np.nonzero(take)
            k = perm[rows, cols]
            out.append(
                _values(
                    f["entity_type"],
                    ent[who[rows]],
                    fid,
                    strings(f["enums"], k),
                    enum_id(fid, 0) + k,
                )
            )
        elif kind == "checkbox":
            out.append(
                _values(
                    f["entity_type"],
                    ent[has],
                    fid,
                    strings(["1"], np.zeros(int(has.sum()), np.int64)),
                    None,
                )
            )
        elif kind == "numeric":
            seats = rng.integers(1, 200, int(has.sum()))
            out.append(_values(f["entity_type"], ent[has], fid, concat_str(seats), None))
        elif kind == "text":
            out.append(_values(f["entity_type"], ent[has], fid, concat_str("ORD-", ent[has]), None))
        elif kind == "date":
            # The contract date of won deals: the local date they were won on.
            won = np.flatnonzero(dc.kind == 2)
            day = clock.day_index(dc.closed[won])
            dates = pa.array(np.array(clock.dates, dtype="datetime64[D]")[day]).cast(pa.string())
            out.append(_values("deal", dc.deal_id[won], fid, dates, None))
    return pa.concat_tables(out)


def tags(co: Company, rng: np.random.Generator, dc: DealChunk) -> pa.Table:
    """Tags on ~20% of deals, 1–2 distinct tags each."""
    names = co.raw["tags"]
    who = np.flatnonzero(rng.random(len(dc)) < 0.2)
    two = rng.random(who.size) < 0.35
    first = rng.integers(0, len(names), who.size)
    second = (first + rng.integers(1, len(names), who.size)) % len(names)
    deal = np.r_[who, who[two]]
    tag = np.r_[first, second[two]]
    return table(
        "tags", {"entity_type": "deal", "entity_id": dc.deal_id[deal], "tag": strings(names, tag)}
    )


def nps(co: Company, clock: Clock, rng: np.random.Generator, dc: DealChunk) -> pa.Table:
    """NPS responses for ~30% of won deals, a few days after the win."""
    won = np.flatnonzero((dc.kind == 2) & (rng.random(len(dc)) < 0.3))
    at = dc.closed[won] + (np.exp(rng.normal(np.log(3 * DAY), 0.7, won.size))).astype(np.int64)
    won, at = won[at <= clock.end], at[at <= clock.end]
    return table(
        "nps",
        {
            "response_id": NPS_ID_BASE + dc.gidx[won],
            "entity_type": "deal",
            "entity_id": dc.deal_id[won],
            "score": rng.choice(11, size=won.size, p=_NPS_P / _NPS_P.sum()),
            "created_at": ts(at),
            "user_id": co.user_ids[dc.resp1[won]],
        },
    )
