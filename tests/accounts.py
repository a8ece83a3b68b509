"""Tiny hand-made accounts for rule tests: build the rows in Python, load them into DuckDB."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import ibis
import pandas as pd

from deskkit.store import SCHEMA, open_store

UTC = dt.UTC
_DUCK = {
    "int64": "BIGINT",
    "string": "VARCHAR",
    "float64": "DOUBLE",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP",
}

# Pipeline 1: unsorted 10, open 11 A, 12 B, 13 C, won 142, lost 143.
# Pipeline 2: unsorted 20, open 21 X, 22 Y, won 142, lost 143.
STAGES = [
    (1, 10, "Incoming", 0, "unsorted"),
    (1, 11, "A", 10, "open"),
    (1, 12, "B", 20, "open"),
    (1, 13, "C", 30, "open"),
    (1, 142, "Won", 10000, "won"),
    (1, 143, "Lost", 10001, "lost"),
    (2, 20, "Incoming 2", 0, "unsorted"),
    (2, 21, "X", 10, "open"),
    (2, 22, "Y", 20, "open"),
    (2, 142, "Won", 10000, "won"),
    (2, 143, "Lost", 10001, "lost"),
]
USERS = [
    # user_id, name, group, access, admin
    (1, "Anna", 1, "own", False),
    (2, "Boris", 1, "group", False),
    (3, "Vera", 2, "own", False),
    (9, "Head", 2, "all", True),
]


def ts(text: str) -> dt.datetime:
    """A naive UTC timestamp from 'YYYY-MM-DD[ HH:MM]'."""
    return dt.datetime.fromisoformat(text)


@dataclass
class AccountBuilder:
    """Collects rows; ``deal()`` derives moves' ``from`` and the current stage itself."""

    timezone: str = "UTC"
    stages: list[tuple[Any, ...]] = field(default_factory=lambda: list(STAGES))
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, table: str, **row: Any) -> None:
        self.rows.setdefault(table, []).append(row)

    def deal(
        self,
        deal_id: int,
        created: str,
        stage: int,
        *,
        pipeline: int = 1,
        price: float = 100.0,
        owner: int = 1,
        moves: list[tuple[str, int] | tuple[str, int, int]] = (),
        deleted: bool = False,
    ) -> None:
        """A deal created in (pipeline, stage); ``moves`` are (at, to_stage[, to_pipeline])."""
        cur_p, cur_s = pipeline, stage
        for move in moves:
            at, to_s = move[0], move[1]
            to_p = move[2] if len(move) > 2 else cur_p
            self.add(
                "deal_moves",
                deal_id=deal_id,
                at=ts(at),
                from_pipeline_id=cur_p,
                from_stage_id=cur_s,
                to_pipeline_id=to_p,
                to_stage_id=to_s,
                by_user_id=owner,
            )
            cur_p, cur_s = to_p, to_s
        closed = ts(moves[-1][0]) if moves and cur_s in (142, 143) else None
        self.add(
            "deals",
            deal_id=deal_id,
            name=f"Deal {deal_id}",
            pipeline_id=cur_p,
            stage_id=cur_s,
            price=price,
            responsible_user_id=owner,
            created_by=owner,
            created_at=ts(created),
            updated_at=ts(moves[-1][0]) if moves else ts(created),
            closed_at=closed,
            source_id=None,
            loss_reason_id=None,
            company_id=None,
            main_contact_id=None,
            is_deleted=deleted,
        )

    def frames(self) -> dict[str, pd.DataFrame]:
        base: dict[str, list[dict[str, Any]]] = {
            "account": [
                dict(
                    name="Test",
                    subdomain="test",
                    timezone=self.timezone,
                    currency="RUB",
                    week_start="monday",
                    synced_at=ts("2030-01-01"),
                )
            ],
            "users": [
                dict(
                    user_id=u,
                    name=n,
                    email=f"{n.lower()}@example.com",
                    group_id=g,
                    is_active=True,
                    is_admin=adm,
                    deal_capacity=None,
                    deal_access=acc,
                )
                for u, n, g, acc, adm in USERS
            ],
            "groups": [dict(group_id=1, name="North"), dict(group_id=2, name="South")],
            "pipelines": [
                dict(pipeline_id=1, name="Sales", sort=1, is_main=True, is_archived=False),
                dict(pipeline_id=2, name="Repeat", sort=2, is_main=False, is_archived=False),
            ],
            "stages": [
                dict(pipeline_id=p, stage_id=s, name=n, sort=o, kind=k, color="#ccc")
                for p, s, n, o, k in self.stages
            ],
        }
        out = {}
        for name, schema in SCHEMA.items():
            rows = self.rows.get(name, base.get(name, []))
            frame = pd.DataFrame(rows, columns=list(schema.names))
            out[name] = frame
        return out

    def open(self):
        """Load the rows into an in-memory DuckDB and open it as a store."""
        return open_store(self.write(ibis.duckdb.connect()))

    def write(self, con: Any) -> Any:
        """Create every schema table on an Ibis DuckDB connection and fill it."""
        raw = con.con  # plain DuckDB: 27 CREATE+INSERTs through Ibis would take a second
        for name, frame in self.frames().items():
            cols = ", ".join(f'"{c}" {_DUCK[str(t)]}' for c, t in SCHEMA[name].items())
            raw.execute(f'CREATE OR REPLACE TABLE "{name}" ({cols})')
            if len(frame):
                raw.register("_rows", frame)
                raw.execute(f'INSERT INTO "{name}" SELECT * FROM _rows')
                raw.unregister("_rows")
        return con


_SHARED: dict[str, tuple[Any, Any]] = {}


def shared_store(key: str, builder: AccountBuilder | None = None) -> tuple[Any, Any]:
    """(connection, store) built once per ``key``: property tests replace only the tables they
    vary between examples, since writing all 27 tables per example would dominate their time.
    After replacing tables, call ``store.forget()``: a store remembers some derived results."""
    if key not in _SHARED:
        con = (builder or AccountBuilder()).write(ibis.duckdb.connect())
        _SHARED[key] = (con, open_store(con))
    return _SHARED[key]


def kept_and_inline(store: Any, compute: Any) -> tuple[Any, Any]:
    """``compute()`` twice: with the store's kept derived tables (``Store.derived``), then with
    none (``Store.inline``, the path of a backend that keeps nothing), for tests that compare
    the two paths of a metric."""
    kept = compute()
    with store.inline():
        inline = compute()
    return kept, inline


#: Summer time in Berlin from 2026-03-29 02:00 local (01:00 UTC).
BERLIN = "Europe/Berlin"
#: Nine days before that change: kept per-day counts are tested on three weeks around it.
DST_BASE = dt.datetime(2026, 3, 20)


def dst_periods() -> Any:
    """A hypothesis strategy: periods in Berlin within three weeks around the change to summer
    time (custom ranges, or today / week / month), seen at "now"s on a 15-minute grid, so that
    period edges fall inside days, at midnights and on the lost hour."""
    from hypothesis import strategies as st

    from deskkit.filters import Period

    @st.composite
    def draw(draw: Any) -> Period:
        q = draw(st.integers(0, 21 * 24 * 4))
        now = (DST_BASE + dt.timedelta(minutes=15 * q)).replace(tzinfo=UTC)
        preset = draw(st.sampled_from([None, "today", "week", "month"]))
        if preset is not None:
            return Period.preset(preset, timezone=BERLIN, now=now)
        day = DST_BASE.date() + dt.timedelta(days=draw(st.integers(0, 18)))
        end = day + dt.timedelta(days=draw(st.integers(0, 9)))
        return Period.between(day, end, timezone=BERLIN, now=now)

    return draw()
