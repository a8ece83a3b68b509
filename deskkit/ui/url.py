"""The filter state in the page URL: a copied link opens the same view, a link can preselect
filters. ``?period=year&pipeline=3&user=5&lang=ru``; a custom range is
``period=2026-11-01..2026-11-30``. Unknown or invalid values are ignored (the default applies),
never an error: a hand-edited link must still open the desktop."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import get_args
from urllib.parse import parse_qsl, urlencode

import anywidget
import traitlets

from deskkit.filters import PresetName
from deskkit.ui.filter_bar import FilterState

__all__ = ["KEYS", "UrlState", "ViewState", "parse_query", "to_query"]

#: The query parameters the desktop owns (others in the URL are left alone).
KEYS = ("period", "user", "department", "pipeline", "lang")
_PRESETS = set(get_args(PresetName)) - {"custom"}


@dataclass(frozen=True)
class ViewState:
    """What a link reproduces: the filters and the language."""

    filters: FilterState = field(default_factory=FilterState)
    lang: str = "en"


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text not in (None, "") else None  # type: ignore[arg-type]
    except ValueError:
        return None


def _period(text: str | None) -> str | tuple[dt.date, dt.date] | None:
    if not text:
        return None
    if text in _PRESETS:
        return text
    first, sep, last = text.partition("..")
    if not sep:
        return None
    try:
        a, b = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    except ValueError:
        return None
    return (a, b) if a <= b else None


def parse_query(
    query: str | None,
    *,
    users: set[int] | None = None,
    departments: set[int] | None = None,
    pipelines: set[int] | None = None,
) -> ViewState:
    """The view a query string asks for (ids not in the given sets are dropped)."""
    params: Mapping[str, str] = dict(parse_qsl((query or "").lstrip("?")))
    period = _period(params.get("period")) or "month"
    user, department = _int(params.get("user")), _int(params.get("department"))
    pipeline = _int(params.get("pipeline"))
    if users is not None and user not in users:
        user = None
    if departments is not None and department not in departments:
        department = None
    if pipelines is not None and pipeline not in pipelines:
        pipeline = None
    if user is not None:
        department = None  # one scope at a time; the narrower wins
    lang = params.get("lang", "en")
    return ViewState(
        FilterState(period=period, user=user, department=department, pipeline=pipeline),  # type: ignore[arg-type]
        lang if lang in ("en", "ru") else "en",
    )


def to_query(view: ViewState) -> str:
    """The query string of a view (defaults left out, so links stay short)."""
    f = view.filters
    params: dict[str, str] = {}
    if isinstance(f.period, tuple):
        params["period"] = f"{f.period[0].isoformat()}..{f.period[1].isoformat()}"
    elif f.period != "month":
        params["period"] = str(f.period)
    for key in ("user", "department", "pipeline"):
        value = getattr(f, key)
        if value is not None:
            params[key] = str(value)
    if view.lang != "en":
        params["lang"] = view.lang
    return urlencode(params)


class UrlState(anywidget.AnyWidget):
    """An invisible widget that mirrors ``query`` into the page URL (``history.replaceState``,
    no reload) and reports the URL's query it found on load as ``initial``."""

    _esm = """
    const KEYS = __KEYS__;
    function render({ model, el }) {
      el.style.display = "none";
      model.set("initial", window.location.search.replace(/^\\?/, ""));
      model.save_changes();
      const apply = () => {
        const url = new URL(window.location.href);
        for (const k of KEYS) url.searchParams.delete(k);
        for (const [k, v] of new URLSearchParams(model.get("query") || "")) {
          if (KEYS.includes(k)) url.searchParams.set(k, v);
        }
        if (url.href !== window.location.href) window.history.replaceState(null, "", url.href);
      };
      model.on("change:query", apply);
      apply();
    }
    export default { render };
    """.replace("__KEYS__", json.dumps(list(KEYS)))
    query = traitlets.Unicode("").tag(sync=True)
    initial = traitlets.Unicode(None, allow_none=True).tag(sync=True)
