"""The demo account cached on disk: generated once per day so that "today" always has activity."""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from deskkit.connectors.demo.company import DESCRIPTION_PATH, load_company
from deskkit.connectors.demo.generate import generate
from deskkit.paths import data_dir

__all__ = ["cached_demo", "default_as_of", "demo_path"]


def default_as_of() -> dt.date:
    """Today in the demo account's time zone."""
    return dt.datetime.now(ZoneInfo(load_company().timezone)).date()


def demo_path(deals: int, seed: int, as_of: dt.date | None = None) -> Path:
    """Where the demo account for (deals, seed, day) is cached; the name also carries a digest
    of the company description and the generator, so editing either never serves a stale file."""
    day = as_of or default_as_of()
    return data_dir() / f"demo-{deals}-s{seed}-{day.isoformat()}-{_fingerprint()}.duckdb"


@cache
def _fingerprint() -> str:
    digest = hashlib.sha256(DESCRIPTION_PATH.read_bytes())
    for module in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(module.read_bytes())
    return digest.hexdigest()[:8]


def cached_demo(
    deals: int = 20_000, seed: int = 7, as_of: dt.date | None = None, progress: bool = False
) -> Path:
    """The path of today's demo account, generating it first if it is not cached yet."""
    path = demo_path(deals, seed, as_of)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # generate() builds a temporary file and renames it: concurrent first users are safe.
        generate(path, deals=deals, seed=seed, as_of=as_of, progress=progress)
        # Earlier days of the same demo are stale: drop them.
        for old in path.parent.glob(f"demo-{deals}-s{seed}-*.duckdb"):
            if old != path:
                old.unlink(missing_ok=True)
    return path
