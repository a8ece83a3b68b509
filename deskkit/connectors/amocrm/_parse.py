"""Reading fields of API JSON defensively: every problem names the field and what was wrong.

The API documents types loosely (ids sometimes arrive as digit strings, prices as floats or
strings), so a value is accepted when its meaning is unambiguous and refused otherwise.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "EPOCH",
    "Unmappable",
    "as_bool",
    "as_int",
    "as_number",
    "as_text",
    "as_ts",
    "first_id",
    "raw_json",
    "ts_from_unix",
]

#: The Unix epoch as a naive UTC timestamp (the store keeps naive UTC instants).
EPOCH: Final = dt.datetime(1970, 1, 1)
# Unix seconds outside this range are typos or milliseconds, not dates (1970 .. 2200).
_MAX_UNIX: Final = 7_258_118_400
_SHOWN = 60  # characters of a bad value quoted in a reason


class Unmappable(ValueError):
    """A record (or one field of it) that cannot become a store row; ``str()`` is the reason,
    starting with the field's name."""

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"


def as_int(rec: Mapping[str, Any], key: str, *, required: bool = True) -> int | None:
    """An integer field: ints and digit strings; None/missing only when not ``required``."""
    value = rec.get(key)
    if value is None:
        if required:
            raise Unmappable(key, "missing")
        return None
    if isinstance(value, bool):
        raise Unmappable(key, f"{_show(value)} is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise Unmappable(key, f"{_show(value)} is not an integer")


def as_number(rec: Mapping[str, Any], key: str, *, required: bool = False) -> float | None:
    """A finite number field (ints, floats, numeric strings)."""
    value = rec.get(key)
    if value is None:
        if required:
            raise Unmappable(key, "missing")
        return None
    if isinstance(value, bool):
        raise Unmappable(key, f"{_show(value)} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Unmappable(key, f"{_show(value)} is not a number") from None
    if not math.isfinite(number):
        raise Unmappable(key, f"{_show(value)} is not a finite number")
    return number


def ts_from_unix(seconds: int) -> dt.datetime:
    """Unix seconds as a naive UTC timestamp."""
    return EPOCH + dt.timedelta(seconds=seconds)


def as_ts(rec: Mapping[str, Any], key: str, *, required: bool = True) -> dt.datetime | None:
    """A Unix-seconds field as a naive UTC timestamp (0 counts as "not set" where optional)."""
    value = rec.get(key)
    if value is None or (value == 0 and not required and not isinstance(value, bool)):
        if required:
            raise Unmappable(key, "missing")
        return None
    try:
        seconds = as_int(rec, key)
    except Unmappable:
        raise Unmappable(key, f"{_show(value)} is not a Unix timestamp") from None
    assert seconds is not None
    if not 0 <= seconds <= _MAX_UNIX:
        raise Unmappable(key, f"{seconds} is outside the range of Unix timestamps in seconds")
    return ts_from_unix(seconds)


def as_text(rec: Mapping[str, Any], key: str) -> str | None:
    """A text field; numbers are written as text, other structures refused."""
    value = rec.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise Unmappable(key, f"{_show(value)} is not text")


def as_bool(rec: Mapping[str, Any], key: str, default: bool = False) -> bool:
    """A boolean field (true/false, 0/1); missing means ``default``."""
    value = rec.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if value in (0, 1, "0", "1", "true", "false"):
        return value in (1, "1", "true")
    raise Unmappable(key, f"{_show(value)} is not a boolean")


def first_id(items: Any, key: str, prefer: str | None = None) -> int | None:
    """The id of the first embedded link (``prefer``: a flag such as ``is_main`` that wins)."""
    if items is None:
        return None
    if not isinstance(items, list):
        raise Unmappable(key, "is not a list")
    links = [i for i in items if isinstance(i, Mapping)]
    if prefer is not None:
        links = sorted(links, key=lambda i: not i.get(prefer))
    for link in links:
        found = as_int(link, "id", required=False)
        if found is not None:
            return found
    return None


def raw_json(value: Any) -> str | None:
    """``value`` as JSON text (None stays None): how raw API values are kept in the store."""
    if value is None:
        return None
    # default=str: a row already mapped (with datetimes) may be rejected too, as text.
    return json.dumps(value, ensure_ascii=False, default=str)
