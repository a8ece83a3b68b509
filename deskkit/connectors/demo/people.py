"""Account-wide users, groups, presence and goals; per chunk contacts, companies, customers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from deskkit.connectors.demo.clock import DAY, HOUR, Clock
from deskkit.connectors.demo.company import Company
from deskkit.connectors.demo.deals import NO_TIME, DealChunk
from deskkit.connectors.demo.frames import concat_str, ids, strings, table, ts

__all__ = ["Parties", "account_tables", "parties", "presence", "users_table"]

CONTACT_ID_BASE = 40_000_000
COMPANY_ID_BASE = 60_000_000
CUSTOMER_ID_BASE = 80_000_000


def users_table(co: Company) -> pa.Table:
    """The ``users`` table."""
    us = co.raw["users"]
    sub = co.raw["account"]["subdomain"]
    emails = [u["name"].lower().replace(" ", ".") + f"@{sub}.example" for u in us]
    return table(
        "users",
        {
            "user_id": co.user_ids,
            "name": pa.array([u["name"] for u in us]),
            "email": pa.array(emails),
            "group_id": co.user_group,
            "is_active": co.user_active,
            "is_admin": np.array([u.get("is_admin", False) for u in us]),
            "deal_capacity": pa.array([u["deal_capacity"] for u in us], type=pa.int64()),
            "deal_access": pa.array([u["deal_access"] for u in us]),
        },
    )


def account_tables(co: Company, clock: Clock) -> dict[str, pa.Table]:
    """The one-off tables: account, groups, goals (users/presence/lookups live elsewhere)."""
    acc = co.raw["account"]
    out = {
        "account": table(
            "account",
            {
                "name": pa.array([acc["name"]]),
                "subdomain": pa.array([acc["subdomain"]]),
                "timezone": pa.array([acc["timezone"]]),
                "currency": pa.array([acc["currency"]]),
                "week_start": pa.array([acc["week_start"]]),
                "synced_at": ts(np.array([clock.end])),
            },
        ),
        "groups": table(
            "groups",
            {
                "group_id": pa.array([g["group_id"] for g in co.raw["groups"]], pa.int64()),
                "name": pa.array([g["name"] for g in co.raw["groups"]]),
            },
        ),
    }
    # Goals start at the first local midnight of the history.
    start = clock.start
    active = [u for u in co.raw["users"] if u.get("is_active", True) and not u.get("is_admin")]
    first_group = co.raw["groups"][0]
    rows = [
        ("Monthly revenue", "won_budget", "all", None, "month", 9_000_000.0),
        (
            f"{first_group['name']}: quarterly revenue",
            "won_budget",
            "group",
            first_group["group_id"],
            "quarter",
            12_000_000.0,
        ),
    ]
    rows += [
        (f"{u['name']}: deals won per month", "won_count", "user", u["user_id"], "month", 12.0)
        for u in active[:3]
    ]
    cols = list(zip(*rows, strict=True))
    out["goals"] = table(
        "goals",
        {
            "goal_id": np.arange(1, len(rows) + 1) + 700,
            "name": pa.array(cols[0]),
            "measure": pa.array(cols[1]),
            "scope_kind": pa.array(cols[2]),
            "scope_id": pa.array(cols[3], type=pa.int64()),
            "cadence": pa.array(cols[4]),
            "target": pa.array(cols[5], type=pa.float64()),
            "valid_from": ts(np.full(len(rows), start)),
        },
    )
    return out


def presence(co: Company, clock: Clock, rng: np.random.Generator) -> pa.Table:
    """Online sessions: 1–3 per working day per user, within business hours."""
    left_at = clock.end - co.user_left_days * DAY
    work = np.flatnonzero(clock.weekday < 5)
    u_idx = np.repeat(np.arange(len(co.user_ids)), work.size)
    d_idx = np.tile(work, len(co.user_ids))
    day0 = clock.day_start[d_idx]
    # A day off now and then; a former user only until leaving.
    here = (rng.random(u_idx.size) < 0.93) & (day0 < left_at[u_idx] - DAY)
    u_idx, day0 = u_idx[here], day0[here]
    n_sess = rng.choice([1, 2, 3], size=u_idx.size, p=[0.3, 0.45, 0.25])
    rows = np.repeat(np.arange(u_idx.size), n_sess)
    k = np.arange(rows.size) - np.repeat(np.cumsum(n_sess) - n_sess, n_sess)
    span = (clock.close_hour - clock.open_hour) * HOUR
    slot = span // n_sess[rows]
    slot_start = day0[rows] + clock.open_hour * HOUR + k * slot
    begin = slot_start + (rng.random(rows.size) * 0.3 * slot).astype(np.int64)
    length = (rng.uniform(0.35, 0.95, rows.size) * (slot_start + slot - begin)).astype(np.int64)
    end = np.minimum(begin + np.maximum(length, 300), clock.end)
    return table(
        "presence",
        {"user_id": co.user_ids[u_idx[rows]], "started_at": ts(begin), "ended_at": ts(end)},
    )


@dataclass
class Parties:
    """Per deal of a chunk: its company and main contact (-1 = none), plus their tables."""

    company_id: np.ndarray
    contact_id: np.ndarray
    tables: dict[str, pa.Table]


def _reuse(rng: np.random.Generator, new: np.ndarray, reuse: np.ndarray) -> np.ndarray:
    """Per deal: itself if ``new``, an earlier ``new`` deal of the chunk if ``reuse``, else -1."""
    n = new.size
    new_pos = np.flatnonzero(new)
    before = np.searchsorted(new_pos, np.arange(n))  # new deals strictly before each deal
    pick = (rng.random(n) * before).astype(np.int64)
    owner = np.where(reuse & (before > 0), new_pos[np.minimum(pick, max(new_pos.size - 1, 0))], -1)
    return np.where(new, np.arange(n), owner) if new_pos.size else np.full(n, -1)


def _names(co: Company, rng: np.random.Generator, n: int) -> tuple[pa.Array, pa.Array]:
    first, last = co.raw["first_names"], co.raw["last_names"]
    person = concat_str(
        strings(first, rng.integers(0, len(first), n)),
        " ",
        strings(last, rng.integers(0, len(last), n)),
    )
    words, suffixes = co.raw["company_words"], co.raw["company_suffixes"]
    firm = concat_str(
        strings(words, rng.integers(0, len(words), n)),
        " ",
        strings(suffixes, rng.integers(0, len(suffixes), n)),
    )
    return person, firm


def parties(co: Company, clock: Clock, rng: np.random.Generator, dc: DealChunk) -> Parties:
    """Contacts and companies of a chunk's deals (repeat deals share them) and customers."""
    n = len(dc)
    repeat = dc.pipe0 == 1
    u = rng.random(n)
    comp_new = u < 0.3
    comp_owner = _reuse(rng, comp_new, (u >= 0.3) & (u < np.where(repeat, 0.75, 0.42)))
    v = rng.random(n)
    cont_reuse_p = np.where(repeat, 0.5, 0.1)
    cont_new = v >= cont_reuse_p + 0.03
    cont_owner = _reuse(rng, cont_new, v < cont_reuse_p)
    company_id = np.where(comp_owner >= 0, COMPANY_ID_BASE + dc.gidx[comp_owner], -1)
    contact_id = np.where(cont_owner >= 0, CONTACT_ID_BASE + dc.gidx[cont_owner], -1)
    person, firm = _names(co, rng, n)

    # Each contact/company is created a little before its first deal.
    lead_time = (rng.random(n) * 2 * HOUR).astype(np.int64)
    born = np.maximum(dc.created - lead_time, clock.start)
    touched = np.minimum(
        born + (np.exp(rng.normal(0, 1.5, n)) * 10 * DAY).astype(np.int64), clock.end
    )
    cw = np.flatnonzero(comp_new)
    companies = table(
        "companies",
        {
            "id": COMPANY_ID_BASE + dc.gidx[cw],
            "name": firm.take(pa.array(cw)),
            "responsible_user_id": co.user_ids[dc.resp0[cw]],
            "created_at": ts(born[cw]),
            "updated_at": ts(touched[cw]),
            "is_deleted": rng.random(cw.size) < 0.01,
        },
    )
    ct = np.flatnonzero(cont_new)
    link = (company_id[ct] >= 0) & (rng.random(ct.size) < 0.8)
    contacts = table(
        "contacts",
        {
            "id": CONTACT_ID_BASE + dc.gidx[ct],
            "name": person.take(pa.array(ct)),
            "responsible_user_id": co.user_ids[dc.resp0[ct]],
            "created_at": ts(born[ct]),
            "updated_at": ts(touched[ct]),
            "company_id": ids(company_id[ct], null=~link),
            "is_deleted": rng.random(ct.size) < 0.01,
        },
    )
    # Customers (periodic buyers) come from a share of won deals.
    cu = np.flatnonzero((dc.kind == 2) & (rng.random(n) < 0.12))
    c_created = np.minimum(
        dc.closed[cu] + (rng.random(cu.size) * 72 * HOUR).astype(np.int64), clock.end
    )
    next_date = c_created + (rng.random(cu.size) * (clock.end - c_created)).astype(np.int64)
    statuses = np.array(co.raw["customer_statuses"], dtype=np.int64)
    has_firm = company_id[cu] >= 0
    name = pc.if_else(pa.array(has_firm), firm.take(pa.array(cu)), person.take(pa.array(cu)))
    customers = table(
        "customers",
        {
            "customer_id": CUSTOMER_ID_BASE + dc.gidx[cu],
            "name": name,
            "status_id": statuses[rng.integers(0, statuses.size, cu.size)],
            "next_price": np.round(dc.price[cu] * rng.uniform(0.3, 1.0, cu.size), -2),
            "next_date": ts(np.where(next_date >= 0, next_date, NO_TIME)),
            "responsible_user_id": co.user_ids[dc.resp1[cu]],
            "created_at": ts(c_created),
            "is_deleted": rng.random(cu.size) < 0.02,
        },
    )
    return Parties(
        company_id=company_id,
        contact_id=contact_id,
        tables={"companies": companies, "contacts": contacts, "customers": customers},
    )
