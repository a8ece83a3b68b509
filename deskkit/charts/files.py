"""Charts for the list widgets: recent files (per uploader) and search (matches per kind)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import altair as alt
import pandas as pd

from deskkit.charts import _shape
from deskkit.charts._labels import tr

if TYPE_CHECKING:
    from deskkit.metrics.files import RecentFiles
    from deskkit.metrics.search import SearchResult

__all__ = ["recent_files_chart", "search_chart"]

_ROW_HEIGHT = 26
_WIDTH = 360


def _bars(frame: pd.DataFrame, y: str, y_title: str, x_title: str) -> alt.LayerChart:
    """Horizontal count bars with the count written at the end of each bar."""
    base = alt.Chart().encode(
        y=alt.Y(f"{y}:N", sort="-x", title=None),
        x=alt.X("n:Q", title=x_title),
        tooltip=[alt.Tooltip(f"{y}:N", title=y_title), alt.Tooltip("n:Q", title=x_title)],
    )
    bars = base.mark_bar()
    labels = base.mark_text(align="left", dx=4).encode(text=alt.Text("n:Q"))
    return _shape.layer(bars, labels, data=frame, width=_WIDTH, height=alt.Step(_ROW_HEIGHT))


def recent_files_chart(result: RecentFiles, currency: str = "", lang: str = "en") -> alt.LayerChart:
    """The listed files per uploader (the list itself is the card's table); each row carries
    the uploader's id (``created_by``) for the drill-down."""
    files = result.files
    frame = (
        files.assign(author=files["author"].fillna("unknown").astype(str))
        .groupby(["created_by", "author"], as_index=False, dropna=False)
        .size()
        .rename(columns={"size": "n"})
        .sort_values(["author", "created_by"], ignore_index=True)  # ties: by name
    )
    return _bars(frame, "author", tr("Uploaded by", lang), tr("Files listed", lang))


def search_chart(result: SearchResult, currency: str = "", lang: str = "en") -> alt.LayerChart:
    """Matches per kind of record and field (all matches, not only the listed ones)."""
    counts = result.counts
    frame = pd.DataFrame(
        {
            "kind": counts["entity_type"].astype(str) + " " + counts["field"].astype(str),
            "n": counts["matches"].astype("int64"),
        }
    )
    return _bars(frame, "kind", tr("Matches in", lang), tr("Matches", lang))
