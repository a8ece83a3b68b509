"""The recent-files card: how many files were attached in the period, the newest of them, and
the files behind every uploader's bar."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from deskkit.metrics.files import ENTITY_TYPES
from deskkit.ui.cards._common import LIMIT, Option, head, label, option, user_name
from deskkit.ui.cards._model import CardModel, Drill, Kpi, register_model

__all__ = ["MODEL"]


def _complete(r: Any) -> bool:
    """Whether ``r.files`` lists every file of the period (then counts from it are exact)."""
    return len(r.files) >= int(r.total)


def _kpis(r: Any, prev: Any = None) -> list[Kpi]:
    previous = None if prev is None else int(prev.total)
    return [Kpi("files", int(r.total), "count", previous, drill="files")]


def _table(r: Any) -> pd.DataFrame:
    """The newest files: name, the record they are attached to, who uploaded them, when."""
    t = r.files.rename(columns={"name": "file", "entity_name": "entity"})
    return head(t, ["file", "entity", "author", "created_at"])


def _files(r: Any, entity_type: str | None = None, **_: Any) -> pd.DataFrame:
    return r.records(entity_type, limit=LIMIT)


def _by_uploader(r: Any, user: int | None = None, **_: Any) -> pd.DataFrame:
    """The period's files uploaded by ``user`` (``records()`` cannot narrow by uploader: from
    the listed files when they are all of them, else from every file of the period)."""
    rows = r.files if _complete(r) else r.records()
    if user is not None:
        rows = rows.loc[rows["created_by"] == int(user)]
    return rows.head(LIMIT).reset_index(drop=True)


def _options(r: Any, lang: str) -> list[Option]:
    out = [option(label("files", lang), int(r.total), lang, "files")]
    exact = _complete(r)
    kinds = r.files["entity_type"].value_counts()
    for kind in ENTITY_TYPES:
        if kind in kinds.index or not exact:
            n = int(kinds.get(kind, 0)) if exact else None
            out.append(option(label(f"files_on_{kind}", lang), n, lang, "files", entity_type=kind))
    # Uploaders by files listed, then name (a few dozen rows: plain Python, not a groupby).
    per: dict[int, list[Any]] = {}  # user id -> [first known name, files]
    for uid, author in zip(r.files["created_by"], r.files["author"], strict=True):
        if pd.isna(uid):
            continue
        entry = per.setdefault(int(uid), [None, 0])
        if entry[0] is None and isinstance(author, str):
            entry[0] = author
        entry[1] += 1
    ranked = sorted(sorted(per.items()), key=lambda e: (-e[1][1], e[1][0] is None, e[1][0] or ""))
    for uid, (author, n) in ranked:
        name = user_name(author, uid)
        out.append(option(name, n if exact else None, lang, "uploader", user=uid))
    return out


def _on_mark(datum: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    uid = datum.get("created_by")
    if uid is None:
        return None
    return ("uploader", {"user": int(uid)})


MODEL = register_model(
    CardModel(
        "recent_files",
        _kpis,
        table=_table,
        drills=(
            Drill("files", "files", _files),
            Drill("uploader", "uploaded_by", _by_uploader),
        ),
        on_mark=_on_mark,
        options=_options,
        compare_previous=True,
    )
)
