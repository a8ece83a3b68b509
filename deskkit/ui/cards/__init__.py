"""Card models, one module per widget family (see :mod:`deskkit.ui.cards._model`).

Importing the package registers every built-in family's model and adds the cards' labels
(:data:`~deskkit.ui.cards._labels.CARD_LABELS`) to :data:`deskkit.ui.i18n.LABELS`.
"""

from __future__ import annotations

from deskkit.ui.cards import (
    activity,
    custom,
    files,
    goals,
    nps,
    payments,
    pipeline_flow,
    sources,
    tasks,
    usage,
    workload,
)
from deskkit.ui.cards._labels import CARD_LABELS
from deskkit.ui.cards._model import CARD_MODELS, CardModel, Drill, Kpi, card_model, register_model

__all__ = [
    "CARD_LABELS",
    "CARD_MODELS",
    "CardModel",
    "Drill",
    "Kpi",
    "activity",
    "card_model",
    "custom",
    "files",
    "goals",
    "nps",
    "payments",
    "pipeline_flow",
    "register_model",
    "sources",
    "tasks",
    "usage",
    "workload",
]


def _merge_labels() -> None:
    """Add the cards' labels to the desktop's. A key the desktop already defines keeps its
    text (tests/ui/test_cards.py checks that the two agree)."""
    from deskkit.ui.i18n import LABELS, merge_labels

    merge_labels({k: v for k, v in CARD_LABELS.items() if k not in LABELS})


_merge_labels()
