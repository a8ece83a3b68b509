"""The small demo store the UI, notebook, browser and backend tests share, and when to look."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

#: The moment the UI, notebook and browser tests look at the demo store (DESKKIT_NOW in Voilà).
AS_OF = dt.date(2026, 11, 27)
NOW = dt.datetime(2026, 11, 27, 15, 0, tzinfo=dt.UTC)
NOW_ISO = "2026-11-27T15:00:00+00:00"


@dataclass(frozen=True)
class StoreInfo:
    """Where the test store is, and the fixed "now" to look at it."""

    path: Path
    now: dt.datetime
    now_iso: str
