"""ipywidgets components of the desktop: the filter bar, cards and the desktop itself."""

from __future__ import annotations

from deskkit.ui.desktop import Desktop, render
from deskkit.ui.filter_bar import FilterBar, FilterState
from deskkit.ui.pipeline_flow_card import PipelineFlowCard

__all__ = ("Desktop", "FilterBar", "FilterState", "PipelineFlowCard", "render")
