"""Resumable reading of a time window of a list, by its timestamp rather than by page offset.

Offset paging over a list that changes while it is read skips records: when a record before
the current page leaves the window (it was updated again), every later record moves up one
place and one is never served. So each request restarts at the last timestamp seen
(inclusive; the records read twice are deduplicated by id downstream), and only a run of
records sharing one timestamp longer than a page is read by page number. The position after
each page is a :class:`Cursor`, which the sync stores with the page's rows: a killed sync goes
on from exactly there.

Entity lists are read oldest change first (``order[updated_at]=asc``); events newest first,
the order the API lists them in, with the window's upper bound moving down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

__all__ = ["Cursor", "Getter", "page_items", "read_window"]

#: ``client.get``: the decoded JSON of one request, None for 204.
Getter = Callable[[str, Mapping[str, Any]], Any]
Direction = Literal["asc", "desc"]
ENTITY_LIMIT: Final = 250
EVENT_LIMIT: Final = 100


@dataclass(frozen=True)
class Cursor:
    """Where reading a window stands: the moving bound (from for asc, to for desc), the page
    within it, the newest stamp seen, records read, and whether the window is done."""

    bound: int
    page: int = 1
    newest: int | None = None
    read: int = 0
    done: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "bound": self.bound,
            "page": self.page,
            "newest": self.newest,
            "read": self.read,
            "done": self.done,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cursor:
        return cls(
            int(data["bound"]),
            int(data["page"]),
            None if data.get("newest") is None else int(data["newest"]),
            int(data.get("read", 0)),
            bool(data["done"]),
        )


def page_items(data: Any) -> list[Any]:
    """The records of one HAL page (the first list under ``_embedded``; [] for 204)."""
    if not isinstance(data, Mapping):
        return []
    emb = data.get("_embedded")
    if not isinstance(emb, Mapping):
        return []
    for items in emb.values():
        if isinstance(items, list):
            return items
    return []


def _stamps(items: list[Any], key: str) -> list[int]:
    return [
        v
        for i in items
        if isinstance(i, Mapping) and isinstance(v := i.get(key), int) and not isinstance(v, bool)
    ]


def read_window(
    get: Getter,
    path: str,
    params: Mapping[str, Any],
    *,
    field: str,
    lo: int,
    hi: int,
    cursor: Cursor,
    direction: Direction = "asc",
    limit: int = ENTITY_LIMIT,
) -> Iterator[tuple[list[Any], Cursor]]:
    """The pages of ``path`` whose ``field`` lies in [lo, hi], each with the cursor after it.

    Start with ``Cursor(lo)`` (asc) or ``Cursor(hi)`` (desc); pass a stored cursor to resume.
    """
    cur = cursor
    while not cur.done:
        frm, to = (cur.bound, hi) if direction == "asc" else (lo, cur.bound)
        query = {
            **params,
            f"filter[{field}][from]": frm,
            f"filter[{field}][to]": to,
            "limit": limit,
            "page": cur.page,
        }
        if direction == "asc":
            query[f"order[{field}]"] = "asc"
        items = page_items(get(path, query))
        stamps = _stamps(items, field)
        newest = max([*stamps, *([] if cur.newest is None else [cur.newest])], default=None)
        nxt = replace(cur, newest=newest, read=cur.read + len(items))
        if len(items) < limit:
            nxt = replace(nxt, done=True)
        else:
            ordered = stamps == sorted(stamps, reverse=direction == "desc")
            edge = (max if direction == "asc" else min)(stamps) if stamps else cur.bound
            moved = edge > cur.bound if direction == "asc" else edge < cur.bound
            # Restart at the last stamp when the list is in order and the page moved past the
            # bound; otherwise (a page-long run of one stamp, or an unordered answer) go on by
            # page number, which is all that is left.
            nxt = (
                replace(nxt, bound=edge, page=1)
                if ordered and moved
                else replace(nxt, page=cur.page + 1)
            )
        yield items, nxt
        cur = nxt
