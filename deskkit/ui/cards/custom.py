"""The card of a user's custom widget (:mod:`deskkit.custom`): its value now, the change over
the period (the value now minus the value at the period's start, which may be negative), and,
for a split display, one row per value of the split field.

One model serves every custom widget: :func:`model_for` gives it the widget's id, and
:func:`deskkit.ui.cards.card_model` uses it for any registered widget whose ``family`` is
``"custom"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import pandas as pd

from deskkit.ui.cards._common import LIMIT, Option, count_of, label, number, option
from deskkit.ui.cards._model import CardModel, Drill, Kpi, NumberKind

__all__ = ["FAMILY", "kind_of", "model_for"]

#: The ``Widget.family`` of widgets made from custom-widget definitions.
FAMILY = "custom"

#: Fields whose sum or mean is an amount of money (shown in the account currency).
_MONEY_FIELDS = ("price", "next_price", "budget", "amount")


def kind_of(result: Any) -> NumberKind:
    """How the result's numbers are formatted: a count, or money for the sum/mean of an
    amount field (budget, next payment)."""
    display = getattr(getattr(result, "definition", None), "display", None)
    measure = getattr(display, "measure", "count")
    field = str(getattr(display, "field", None) or "")
    if measure == "count" or not field:
        return "count"
    if field in _MONEY_FIELDS or field.endswith(("_price", "_budget")):
        return "money"
    return "count"


def _signed_kind(kind: NumberKind) -> NumberKind:
    """A count's change is shown with its sign (+5, −3); money keeps the currency."""
    return "score" if kind == "count" else kind


def _kpis(r: Any, prev: Any = None) -> list[Kpi]:
    kind = kind_of(r)
    value, start, change = number(r.value), number(r.value_at_start), number(r.change)
    if change is None and value is not None and start is not None:
        change = value - start
    return [
        Kpi("custom_value", value, kind, drill="records"),
        Kpi("custom_change", change, _signed_kind(kind), drill="entered"),
        Kpi("custom_at_start", start, kind, drill="start"),
    ]


def _split(r: Any) -> pd.DataFrame | None:
    split = getattr(r, "split", None)
    return split if isinstance(split, pd.DataFrame) else None


def _table(r: Any) -> Any:
    """The split as a table drawn in the card's language (None for a number display)."""
    split = _split(r)
    if split is None:
        return None
    kind = kind_of(r)

    def draw(style: Any) -> str:
        from deskkit.ui import i18n
        from deskkit.ui.card import frame_html

        lang, cur = style.lang, style.currency
        rows = split.head(25)
        frame = pd.DataFrame(
            {
                "custom_split_value": [_text(v) for v in rows["label"]],
                "custom_value": [i18n.fmt_value(v, kind, lang, cur) for v in rows["value"]],
                "custom_change": [i18n.fmt_signed(v, kind, lang, cur) for v in rows["change"]],
            }
        )
        return frame_html(frame, style, cap=25)

    return draw


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    return str(value)


def _key(r: Any, key: Any) -> Any:
    """The split's own key for ``key``: the key itself, its text (a chart reports keys as
    text: "33010011", "(1, 2)"), or the row's label (what menus and drill titles show)."""
    split = _split(r)
    if key is None or split is None:
        return key
    for k in split["key"]:
        if k == key and type(k) is type(key):
            return k
    for k in split["key"]:
        if str(k) == str(key):
            return k
    hits = [k for k, lab in zip(split["key"], split["label"], strict=False) if lab == key]
    return hits[0] if len(hits) == 1 else key


def _records(r: Any, key: Any = None, **_: Any) -> pd.DataFrame:
    return r.records(key=_key(r, key), at="now", limit=LIMIT)


def _start(r: Any, key: Any = None, **_: Any) -> pd.DataFrame:
    return r.records(key=_key(r, key), at="start", limit=LIMIT)


def _cap(frame: Any) -> pd.DataFrame:
    return frame.head(LIMIT) if isinstance(frame, pd.DataFrame) else pd.DataFrame()


def _entered(r: Any, **_: Any) -> pd.DataFrame:
    return _cap(r.entered(limit=LIMIT))


def _left(r: Any, **_: Any) -> pd.DataFrame:
    return _cap(r.left(limit=LIMIT))


def _options(r: Any, lang: str) -> list[Option]:
    kind = kind_of(r)

    # A count labels its records with the number; a sum/mean would mislead as a row count.
    def n(x: Any) -> int | None:
        return count_of(x) if kind == "count" else None

    out: list[Option] = [
        option(label("custom_records_now", lang), n(r.value), lang, "records"),
        option(label("custom_records_start", lang), n(r.value_at_start), lang, "start"),
        option(label("custom_entered", lang), None, lang, "entered"),
        option(label("custom_left", lang), None, lang, "left"),
    ]
    split = _split(r)
    if split is not None:
        for row in split.head(50).itertuples(index=False):
            # The label is the parameter, so the records' title names the value, not its id.
            text, _, _ = option(_text(row.label), n(row.value), lang, "records")
            out.append((text, "records", {"key": _text(row.label)}))
    return out


def _on_mark(datum: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """A clicked bar of the split chart opens that value's records."""
    if "key" not in datum:
        return None
    key = datum.get("label") or datum.get("key")
    if isinstance(key, float) and key.is_integer():
        key = int(key)
    return ("records", {"key": key})


_DRILLS = (
    Drill("records", "custom_records_now", _records),
    Drill("start", "custom_records_start", _start),
    Drill("entered", "custom_entered", _entered),
    Drill("left", "custom_left", _left),
)


@cache
def model_for(widget_id: str) -> CardModel:
    """The card model of the custom widget ``widget_id``."""
    return CardModel(
        widget_id,
        _kpis,
        table=_table,
        drills=_DRILLS,
        on_mark=_on_mark,
        options=_options,
    )
