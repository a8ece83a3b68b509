"""Where deskkit keeps its files (generated demo accounts, saved layouts)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_dir"]


def data_dir() -> Path:
    """``$DESKKIT_DATA``, else ``data/`` of a source checkout, else ``~/.cache/deskkit``."""
    env = os.environ.get("DESKKIT_DATA")
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parents[1] / "data"
    if (checkout / "demo_company.json").exists():
        return checkout
    return Path.home() / ".cache" / "deskkit"
