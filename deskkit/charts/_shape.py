"""What a chart's numbers may change in its spec: its rows and its named values, nothing else.

The desktop draws a new result into the chart already on the page when the new spec differs
from the one drawn only in its rows and in the values of its plain params
(:mod:`deskkit.ui._charts`); any other spec is embedded anew, which costs the browser about
25 ms of its main thread per chart. So builders keep numbers taken from the data out of the
spec's structure:

* rows are ordered by a column (:func:`by_order`), not by a list of their values;
* rows are sized by ``alt.Step``, not by a height computed from their count;
* a number the chart is laid out by (the x scale's end, :func:`top`) and a title with numbers
  in it (:func:`title`) are params, whose values the page can set in the drawn view.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import altair as alt
import pandas as pd

__all__ = [
    "ORDER",
    "TOP",
    "at_top",
    "by_order",
    "layer",
    "ordered",
    "recast",
    "title",
    "top",
    "top_scale",
]

#: The column rows are ordered by (added by :func:`ordered`).
ORDER = "row_order"
#: The param holding the x scale's upper end.
TOP = "dk_top"
_TITLE = "dk_title"


def ordered(
    frame: pd.DataFrame, column: str | None = None, values: Sequence[Any] | None = None
) -> pd.DataFrame:
    """``frame`` with :data:`ORDER`: each row's position, or its ``column`` value's position in
    ``values`` (several rows per value, as in a stacked bar)."""
    if column is None:
        return frame.assign(**{ORDER: range(len(frame))})
    position = {v: i for i, v in enumerate(values or ())}
    return frame.assign(**{ORDER: [position.get(v, len(position)) for v in frame[column]]})


def by_order(field: str = ORDER) -> alt.EncodingSortField:
    """A discrete axis in the rows' order (the smallest ``field`` of each value first)."""
    return alt.EncodingSortField(field=field, op="min", order="ascending")


def top(value: float) -> alt.Parameter:
    """The x scale's upper end (room right of the longest bar for its label) as a param."""
    return alt.param(name=TOP, value=float(value))


def top_scale() -> alt.Scale:
    """An x scale from 0 to :func:`top`'s value."""
    return alt.Scale(domainMin=0, domainMax=alt.ExprRef(TOP), nice=False)


def at_top() -> alt.XDatum:
    """The x position of :func:`top`'s value (a column of text at the right edge)."""
    return alt.XDatum(alt.ExprRef(TOP), type="quantitative")


def title(text: str) -> tuple[alt.TitleParams, alt.Parameter]:
    """A chart title whose text is a param: ``(title, param)``, the param for :func:`layer`."""
    return alt.TitleParams(alt.ExprRef(_TITLE)), alt.param(name=_TITLE, value=text)


def layer(*charts: Any, values: Sequence[alt.Parameter] = (), **kwargs: Any) -> alt.LayerChart:
    """``alt.layer(*charts, **kwargs)`` with the plain params ``values`` (:func:`top`,
    :func:`title`) at its top level: the same spec as ``.add_params(*values)``, which copies
    the whole chart twice over (a fifth of the desktop's chart building).

    The layers are taken as made for this chart alone: Altair deep-copies each of them three
    times while lifting their data, params and sizes to the top (it cannot know that no one
    else holds them); here those copies are shallow, which is all the lifting needs (it sets
    top-level fields of the copies only). The chart and its spec are the same."""
    if values:
        kwargs["params"] = [value.param for value in values]
    if not all(
        type(c) is alt.Chart and c._kwds.get("params", alt.Undefined) is alt.Undefined
        for c in charts
    ):
        return alt.layer(*charts, **kwargs)  # selections are named by a hash of their layer
    fresh = _fresh_class()
    made = alt.layer(*(recast(c, fresh) for c in charts), **kwargs)
    # What the user gets holds plain charts again (their own deep copies deep).
    made.layer = [recast(c, alt.Chart) if type(c) is fresh else c for c in made.layer]
    return made


def recast(chart: Any, cls: type) -> Any:
    """``chart``'s fields (its top-level dict copied) in a new object of class ``cls``: a
    shallow copy that does not call ``cls`` (Altair's own calls it, rerunning its checks)."""
    new = object.__new__(cls)
    object.__setattr__(new, "_args", chart._args)
    object.__setattr__(new, "_kwds", dict(chart._kwds))
    return new


@cache
def _fresh_class() -> type:
    # Named as Altair's own: a layer's class name goes into the hash Altair names views by.
    class Chart(alt.Chart):
        """A layer made for one chart: Altair's deep copies of it while layering are shallow."""

        def __deepcopy__(self, memo: Any = None) -> Any:
            return recast(self, type(self))

    return Chart
