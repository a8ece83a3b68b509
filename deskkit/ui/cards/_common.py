"""Small helpers the card families share: the drill-down row cap, plain numbers for KPI tiles,
option texts and user names."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd

__all__ = [
    "LIMIT",
    "LocalTable",
    "Option",
    "count_of",
    "currency_of",
    "head",
    "keys_in",
    "label",
    "number",
    "option",
    "user_name",
]

#: Rows a drill-down asks for: the card shows 200 and says when there are more.
LIMIT = 201

#: One drill-down menu entry: (text, drill key, params).
Option = tuple[str, str, dict[str, Any]]


def number(value: Any) -> float | None:
    """A float for a KPI tile; None for a missing value (None, NaN, NA)."""
    if value is None or value is pd.NA:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def count_of(value: Any) -> int | None:
    """An int for a count tile; None for a missing value."""
    x = number(value)
    return None if x is None else round(x)


def label(key: str, lang: str, fallback: str | None = None) -> str:
    """The label ``key`` in ``lang``; ``fallback`` (else the key) when it is not defined."""
    from deskkit.ui.i18n import LABELS, t

    return t(key, lang) if key in LABELS else (fallback if fallback is not None else key)


def option(text: str, n: float | int | None, lang: str, key: str, **params: Any) -> Option:
    """A menu entry "text: n" (n as a count in ``lang``; no number when None)."""
    from deskkit.ui.i18n import fmt_count

    shown = text if n is None else f"{text}: {fmt_count(n, lang)}"
    return (shown, key, params)


def user_name(name: Any, user_id: Any) -> str:
    """A user's name, or ``user <id>`` when the name is unknown."""
    if isinstance(name, str) and name:
        return name
    return f"user {user_id}"


def head(frame: pd.DataFrame, columns: Iterable[str], rows: int = 20) -> pd.DataFrame:
    """The first ``rows`` rows of ``frame``'s ``columns`` (those it has), index reset."""
    cols = [c for c in columns if c in frame.columns]
    plain = not frame.attrs and frame.columns.name is None and frame.columns.nlevels == 1
    if not cols or not plain or frame.columns.has_duplicates or len(set(cols)) < len(cols):
        return frame.loc[:, cols].head(rows).reset_index(drop=True)
    # Column by column: half the time of .loc's indexing, for a few dozen tables a change.
    return pd.DataFrame({c: frame[c].array[:rows] for c in cols})


def currency_of(result: Any) -> str:
    """The account currency a result was computed in ("" when it cannot be told)."""
    try:
        return str(result._ctx.store.account.currency or "")
    except AttributeError:
        return ""


class LocalTable:
    """A summary table with cells in the card's language.

    ``frame`` holds the values; each column named in ``translate`` is shown through its
    function ``(value, lang) -> text`` (e.g. a group key to its label). The card calls the
    table with its style (language, currency, time zone) and gets the HTML.
    """

    def __init__(
        self, frame: pd.DataFrame, translate: Mapping[str, Callable[[Any, str], str]]
    ) -> None:
        self.frame = frame
        self.translate = dict(translate)

    def localized(self, lang: str) -> pd.DataFrame:
        """``frame`` with the translated columns in ``lang``."""
        out = self.frame.copy()
        for col, fn in self.translate.items():
            if col in out:
                out[col] = [fn(v, lang) for v in out[col]]
        return out

    def __call__(self, style: Any) -> str:
        from deskkit.ui.card import frame_html

        return frame_html(self.localized(style.lang), style, cap=25)


def keys_in(*keys: str) -> Callable[[Any, str], str]:
    """A translator for cells that may be one of ``keys`` (label keys); others stay as they are."""
    known = set(keys)

    def tr(value: Any, lang: str) -> str:
        return label(value, lang) if value in known else ("" if value is None else str(value))

    return tr
