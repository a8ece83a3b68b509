"""Which cards a user's desktop shows, in which order: saved per user in the data folder.

Files live under ``<data dir>/desktops/<account>/``: ``default.json`` (the layout an admin made
the default for everyone) and ``user-<id>.json`` (or ``user-all.json`` for an unrestricted
desktop). They are written atomically, so a reload never reads half a file.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from deskkit import widgets as registry
from deskkit.paths import data_dir

__all__ = ["LayoutStore", "default_layout"]


def default_layout() -> list[str]:
    """deskkit's own default: every built-in widget, in registry order."""
    return [w.id for w in registry.widgets() if w.builtin]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "account"


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_json(path: Path) -> object | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None  # a missing or damaged file falls back to the default


class LayoutStore:
    """Saved layouts (lists of widget ids) and "events seen" marks of one account."""

    def __init__(self, account: str, folder: Path | None = None) -> None:
        self.folder = (folder or data_dir() / "desktops") / _slug(account)

    def _user_file(self, user_id: int | None) -> Path:
        return self.folder / f"user-{'all' if user_id is None else int(user_id)}.json"

    @staticmethod
    def clean(ids: Iterable[str]) -> list[str]:
        """Known widget ids, each once, in order (ids of widgets no longer registered drop out)."""
        known = {w.id for w in registry.widgets()}
        out: list[str] = []
        for wid in ids:
            if isinstance(wid, str) and wid in known and wid not in out:
                out.append(wid)
        return out

    def default(self) -> list[str]:
        """The admin's default layout if one was saved, else deskkit's."""
        saved = _read_json(self.folder / "default.json")
        ids = self.clean(saved.get("cards", [])) if isinstance(saved, dict) else []
        return ids or default_layout()

    def load(self, user_id: int | None) -> list[str]:
        """The user's layout (their saved one, else the default)."""
        saved = _read_json(self._user_file(user_id))
        if isinstance(saved, dict) and isinstance(saved.get("cards"), list):
            return self.clean(saved["cards"])
        return self.default()

    def save(self, user_id: int | None, ids: Sequence[str]) -> list[str]:
        ids = self.clean(ids)
        _write_json(self._user_file(user_id), {"cards": ids})
        return ids

    def save_default(self, ids: Sequence[str]) -> list[str]:
        """Make ``ids`` the layout of everyone who has not saved their own."""
        ids = self.clean(ids)
        _write_json(self.folder / "default.json", {"cards": ids})
        return ids

    def reset(self, user_id: int | None) -> list[str]:
        """Forget the user's own layout."""
        self._user_file(user_id).unlink(missing_ok=True)
        return self.default()

    # The events button: when the user last opened the feed (ISO UTC).

    def events_seen(self, user_id: int | None) -> str | None:
        saved = _read_json(
            self.folder / f"events-seen-{'all' if user_id is None else user_id}.json"
        )
        return saved.get("at") if isinstance(saved, dict) else None

    def mark_events_seen(self, user_id: int | None, at: str) -> None:
        name = f"events-seen-{'all' if user_id is None else user_id}.json"
        _write_json(self.folder / name, {"at": at})
