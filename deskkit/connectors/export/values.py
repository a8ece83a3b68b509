"""Cell values as amoCRM writes them: ids, money ("1 500 000,50"), dates ("27.11.2026 15:04"),
tag lists. Each parser returns None for an empty cell and raises ``ValueError`` with a short
reason for a cell it cannot read."""

from __future__ import annotations

import datetime as dt
import math
import re
from zoneinfo import ZoneInfo

__all__ = [
    "format_number",
    "is_empty",
    "parse_id",
    "parse_local_datetime",
    "parse_number",
    "parse_tags",
    "parse_text",
    "to_utc",
]

# Day-first dates as amoCRM writes them: DD.MM.YYYY, optionally with HH:MM or HH:MM:SS (dots,
# or dashes as some exports have). ISO 8601 is accepted besides.
_DATE_HINT = "DD.MM.YYYY[ HH:MM[:SS]] or ISO 8601"
_DAY_FIRST = re.compile(r"(\d{1,2})([.-])(\d{1,2})\2(\d{4})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?)?")
# Thousands separators: spaces of every width (amoCRM writes a no-break space) and apostrophes.
_GROUPING = re.compile(r"[\s\u00a0\u202f\u2009\u2007']+")
_CURRENCY = re.compile(r"₽|руб\.?|р\.|\$|€|£|₸|₴|\b(?:rub|rur|usd|eur|kzt|uah|byn)\b", re.I)
_NUMBER = re.compile(r"[+-]?(?:\d[\d.,]*|[.,]\d+)")
_SPACED = re.compile(r"\d[\s\u00a0\u202f\u2009\u2007']+\d")
_SPACED_GROUPS = re.compile(r"[+-]?\d{1,3}(?:[\s\u00a0\u202f\u2009\u2007']\d{3})+(?:[.,]\d+)?")


def is_empty(value: object) -> bool:
    """A blank cell: None, or only whitespace."""
    return value is None or (type(value) is str and not value.strip())


def parse_text(value: object) -> str | None:
    """Text trimmed at both ends (inner line breaks kept), None when blank; an XLSX whole
    float without its ``.0`` and an XLSX date-time in ISO form."""
    if type(value) is str:
        return value.strip() or None
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value).strip() or None


def parse_id(value: object) -> int | None:
    """A positive whole number (an XLSX float like ``12345.0`` included)."""
    if is_empty(value):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not an id")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        number = value
    else:
        text = _GROUPING.sub("", str(value))
        if not text.isdigit():
            raise ValueError(f"{str(value).strip()!r} is not a whole number")
        number = int(text)
    if number <= 0 or number >= 2**63:
        raise ValueError(f"{number} is not a valid id (must be positive)")
    return number


def parse_number(value: object, decimal_comma: bool = True) -> float | None:
    """A number written with any thousands spacing and a comma or dot decimal.

    With both "," and "." the last one is the decimal mark; several of one kind are thousands
    marks. A lone comma is a decimal mark, except that with ``decimal_comma=False`` (an English
    export) a comma followed by exactly three digits ("1,500") groups thousands.

    >>> parse_number("1 500 000,50")
    1500000.5
    >>> parse_number("1,500", decimal_comma=False), parse_number("1,5")
    (1500.0, 1.5)
    """
    if is_empty(value):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, int | float):
        number = float(value)
    else:
        raw = str(value).strip()
        text = _CURRENCY.sub("", raw).strip().replace("\u2212", "-")
        if _SPACED.search(text) and not _SPACED_GROUPS.fullmatch(text):
            raise ValueError(f"{raw!r} is not a number")
        text = _GROUPING.sub("", text)
        if not _NUMBER.fullmatch(text):
            raise ValueError(f"{raw!r} is not a number")
        number = float(_plain(text, decimal_comma, raw))
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def _plain(text: str, decimal_comma: bool, raw: str) -> str:
    """``text`` (digits, "," and ".") as a Python float literal; thousands marks must group
    digits by three, so "1,2,3" or "27.11.2026" are not numbers."""
    if "," in text and "." in text:
        decimal = "," if text.rfind(",") > text.rfind(".") else "."
        group = "." if decimal == "," else ","
        whole, frac = text.rsplit(decimal, 1)
        if group in whole and not _groups(group).fullmatch(whole):
            raise ValueError(f"{raw!r} is not a number")
        if not frac.isdigit() or group in frac:
            raise ValueError(f"{raw!r} is not a number")
        return whole.replace(group, "") + "." + frac
    for mark in (",", "."):
        if text.count(mark) > 1 or (mark == "," and not decimal_comma and "," in text):
            if _groups(mark).fullmatch(text):
                return text.replace(mark, "")
            if text.count(mark) > 1:
                raise ValueError(f"{raw!r} is not a number")
    return text.replace(",", ".")


def _groups(mark: str) -> re.Pattern[str]:
    return re.compile(rf"[+-]?\d{{1,3}}(?:{re.escape(mark)}\d{{3}})+")


def format_number(number: float) -> str:
    """The text a numeric custom value is stored as: ``1500`` or ``1500.5``."""
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


def parse_local_datetime(value: object) -> tuple[dt.datetime, bool] | None:
    """(moment, has_time) from a date cell; the moment is naive (local) unless the text carries
    an offset. ``has_time`` is False for a date alone."""
    if is_empty(value):
        return None
    if isinstance(value, dt.datetime):
        return value, value.time() != dt.time(0)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(0)), False
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a date (expected {_DATE_HINT})")
    text = " ".join(value.split())
    # Matched by hand: strptime is slow enough to dominate a large import.
    m = _DAY_FIRST.fullmatch(text)
    if m:
        day, month, year, hour, minute, second = m.group(1, 3, 4, 5, 6, 7)
        try:
            moment = dt.datetime(
                int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
            )
        except ValueError:
            raise ValueError(f"{text!r} is not a date (expected {_DATE_HINT})") from None
        return moment, hour is not None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}([ T].+)?", text):
        try:
            return dt.datetime.fromisoformat(text), len(text) > 10
        except ValueError:
            pass
    raise ValueError(f"{text!r} is not a date (expected {_DATE_HINT})")


def to_utc(moment: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """A naive UTC instant: a naive ``moment`` is read as wall time in ``tz``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def parse_tags(value: object) -> tuple[str, ...]:
    """The tags of a comma-separated cell, trimmed, without repeats, in order."""
    text = parse_text(value)
    if text is None:
        return ()
    tags = (t.strip() for t in text.split(","))
    return tuple(dict.fromkeys(t for t in tags if t))
