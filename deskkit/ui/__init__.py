"""ipywidgets components of the desktop: the filter bar, the cards, the custom-widget builder
and the desktop itself."""

from __future__ import annotations

from deskkit._imports import import_at_low_priority, preheating

if preheating():  # a kernel Voilà preheats yields the CPU to the visitors' (see there)
    import_at_low_priority()

from deskkit.ui.builder import CustomWidgetBuilder
from deskkit.ui.card import Card, CardStyle
from deskkit.ui.desktop import Desktop, render
from deskkit.ui.filter_bar import FilterBar, FilterState
from deskkit.ui.layout import LayoutStore
from deskkit.ui.runner import Runner

__all__ = (
    "Card",
    "CardStyle",
    "CustomWidgetBuilder",
    "Desktop",
    "FilterBar",
    "FilterState",
    "LayoutStore",
    "Runner",
    "render",
)
