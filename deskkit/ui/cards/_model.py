"""What a card shows, as data: the contract between metric results and the card widget.

A :class:`CardModel` turns one widget's metric result into headline numbers (:class:`Kpi`), a
small summary table and drill-downs to records. It is pure (no ipywidgets), so each family is
tested without a browser; :mod:`deskkit.ui.card` draws it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

__all__ = ["CARD_MODELS", "CardModel", "Drill", "Kpi", "NumberKind", "card_model", "register_model"]

#: How a number is formatted: a count, money (account currency), a percent (0.25 = 25 %),
#: hours, a duration in seconds, a score (NPS, -100..100) or plain text.
NumberKind = Literal["count", "money", "percent", "hours", "seconds", "score", "text"]


@dataclass(frozen=True)
class Kpi:
    """One headline number. ``label`` is a key of :data:`deskkit.ui.i18n.LABELS`.

    ``previous`` is the same number for the previous comparable period (None: no comparison
    shown); ``better`` says which direction of change is good (response time: ``"down"``).
    ``drill`` names the :class:`Drill` opened when the number is clicked.
    """

    label: str
    value: float | int | str | None
    kind: NumberKind = "count"
    previous: float | int | None = None
    better: Literal["up", "down"] = "up"
    drill: str | None = None


@dataclass(frozen=True)
class Drill:
    """A drill-down: ``rows(result, **params)`` returns the records behind a number."""

    key: str
    label: str  # a LABELS key
    rows: Callable[..., pd.DataFrame] = field(repr=False)


@dataclass(frozen=True)
class CardModel:
    """How one widget's result becomes a card.

    ``kpis(result, previous)``: the headline numbers, most important first (the first is the
    headline). ``previous`` is the same widget's result for the previous comparable period when
    ``compare_previous`` is set and it has arrived (else None): models whose metric carries its
    own previous-period numbers leave ``compare_previous`` off and ignore it.
    ``table(result)``: a small summary table (≤ ~20 rows) or None; column names are LABELS
    keys where one exists. It may instead return ``f(style) -> HTML`` for a table drawn in
    the card's language (a :class:`~deskkit.ui.card.CardStyle`).
    ``drills``: the drill-downs, by key; the first is the default.
    ``on_mark(datum)``: a clicked chart mark's datum (field -> value) to ``(drill key,
    params)``, or None when that mark opens nothing.
    ``options(result, lang)``: the drill-down menu, ``(label, drill key, params)`` for every
    number with records behind it (None: one entry per drill, no params, labelled by its
    LABELS key).
    """

    widget_id: str
    kpis: Callable[[Any, Any], list[Kpi]]
    table: Callable[[Any], pd.DataFrame | None] = field(default=lambda result: None, repr=False)
    drills: tuple[Drill, ...] = ()
    on_mark: Callable[[Mapping[str, Any]], tuple[str, dict[str, Any]] | None] = field(
        default=lambda datum: None, repr=False
    )
    options: Callable[[Any, str], list[tuple[str, str, dict[str, Any]]]] | None = field(
        default=None, repr=False
    )
    compare_previous: bool = False

    def choices(self, result: Any, lang: str) -> list[tuple[str, str, dict[str, Any]]]:
        """The drill-down menu for ``result`` in ``lang``."""
        if self.options is not None:
            return self.options(result, lang)
        from deskkit.ui.i18n import t

        return [(t(d.label, lang), d.key, {}) for d in self.drills]

    def drill(self, key: str) -> Drill:
        for d in self.drills:
            if d.key == key:
                return d
        known = ", ".join(d.key for d in self.drills) or "none"
        raise KeyError(f"card {self.widget_id!r} has no drill-down {key!r}; known: {known}")


CARD_MODELS: dict[str, CardModel] = {}


def register_model(model: CardModel) -> CardModel:
    CARD_MODELS[model.widget_id] = model
    return model


def _generic(widget_id: str) -> CardModel:
    """A card for a widget without a model of its own (e.g. a user's widget): its result's
    ``value`` (if any) as the headline and ``records()`` as the drill-down."""

    def kpis(result: Any, previous: Any = None) -> list[Kpi]:
        value = getattr(result, "value", None)
        return [Kpi("value", value)] if isinstance(value, int | float) else []

    def table(result: Any) -> pd.DataFrame | None:
        return result if isinstance(result, pd.DataFrame) else getattr(result, "frame", None)

    def rows(result: Any, **params: Any) -> pd.DataFrame:
        return result.records(**params) if hasattr(result, "records") else pd.DataFrame()

    return CardModel(widget_id, kpis, table, (Drill("records", "records", rows),))


def card_model(widget_id: str) -> CardModel:
    """The model of a widget's card: its own, else its family's (a registered widget whose
    ``family`` is ``"custom"`` gets the custom-widget card), else a generic one."""
    from deskkit.ui import cards  # noqa: F401  (registers the built-in families)

    known = CARD_MODELS.get(widget_id)
    if known is not None:
        return known
    from deskkit import widgets as registry

    try:
        family = registry.get(widget_id).family
    except KeyError:
        family = None
    if family == "custom":
        from deskkit.ui.cards.custom import model_for

        return model_for(widget_id)
    if family is not None and family in CARD_MODELS:
        from dataclasses import replace

        return replace(CARD_MODELS[family], widget_id=widget_id)
    return _generic(widget_id)
